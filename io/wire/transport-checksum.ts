/**
 * Completing a TCP or UDP checksum a sender on the same host left to offload.
 *
 * A datagram from a socket of this kernel (another namespace over a veth, a bridge) may still
 * be CHECKSUM_PARTIAL when an agent reads it off a link: its checksum field holds only the
 * pseudo-header sum, and the NIC that would have finished it is never reached when the agent
 * tunnels the datagram on (RFC 3024 reverse tunnel, RFC 5944 4.3 broadcast copies). The field
 * is recomputed here over the pseudo-header and the segment (RFC 793 3.1, RFC 768), skipping
 * the field itself, so whatever it held does not matter.
 */
import { finishChecksum, onesComplementSum } from './bytes.js';
import { IpProtocol, IPV4_MIN_HEADER_LENGTH, ipv4HeaderLength, ipv4IsFragment, ipv4Protocol, ipv4TotalLength, ipv4Version } from './ipv4.js';
import { UDP_HEADER_LENGTH, udpLength } from './udp.js';

/** Offset of the Checksum field in a TCP header (RFC 793 3.1). */
const TCP_CHECKSUM_AT = 16;
/** Smallest TCP header. */
const TCP_MIN_HEADER_LENGTH = 20;
/** Offset of the Checksum field in a UDP header (RFC 768). */
const UDP_CHECKSUM_AT = 6;

/**
 * Writes the TCP or UDP checksum of the unfragmented IPv4 datagram at bytes[offset, end).
 * Returns true when written; false, leaving the bytes untouched, for anything else: not IPv4,
 * neither TCP nor UDP, a fragment (its checksum covers bytes it does not hold), or a datagram
 * whose headers or lengths do not fit in [offset, end). Never throws, allocates nothing.
 */
export function completeTransportChecksum(bytes: Uint8Array, offset = 0, end = bytes.length): boolean {
  if (!Number.isInteger(offset) || offset < 0 || end > bytes.length || offset + IPV4_MIN_HEADER_LENGTH > end) return false;
  if (ipv4Version(bytes, offset) !== 4 || ipv4IsFragment(bytes, offset)) return false;
  const headerLength = ipv4HeaderLength(bytes, offset);
  const totalLength = ipv4TotalLength(bytes, offset);
  if (headerLength < IPV4_MIN_HEADER_LENGTH || totalLength < headerLength || offset + totalLength > end) return false;
  const protocol = ipv4Protocol(bytes, offset);
  const start = offset + headerLength;
  let length: number;
  let checksumAt: number;
  if (protocol === IpProtocol.TCP) {
    length = totalLength - headerLength;
    if (length < TCP_MIN_HEADER_LENGTH) return false;
    checksumAt = start + TCP_CHECKSUM_AT;
  } else if (protocol === IpProtocol.UDP) {
    if (totalLength - headerLength < UDP_HEADER_LENGTH) return false;
    length = udpLength(bytes, start);
    if (length < UDP_HEADER_LENGTH || length > totalLength - headerLength) return false;
    checksumAt = start + UDP_CHECKSUM_AT;
  } else {
    return false;
  }
  // Pseudo-header: source, destination (bytes 12..20 of the IPv4 header), zero, protocol, length.
  let sum = onesComplementSum(bytes, offset + 12, offset + 20, protocol + length);
  sum = onesComplementSum(bytes, start, checksumAt, sum);
  sum = onesComplementSum(bytes, checksumAt + 2, start + length, sum);
  let checksum = finishChecksum(sum);
  // UDP sends a computed zero as all ones: zero means "no checksum" (RFC 768).
  if (checksum === 0 && protocol === IpProtocol.UDP) checksum = 0xffff;
  bytes[checksumAt] = checksum >>> 8;
  bytes[checksumAt + 1] = checksum & 0xff;
  return true;
}
