/** `mip4 decode` of RFC 3519 messages: the UDP Tunnel Request/Reply extensions and tunnel data (hex in, fields out). */
import { describe, expect, it } from 'vitest';
import { main } from '../../runtime/cli/main.js';

async function mip4(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

const REQUEST_FIXED = '0120 0708 c633640a c6336401 cb00714d e93c7f0000000001'.replace(/ /g, '');
const REPLY_FIXED = '0300 0708 c633640a c6336401 e93c7f0000000001'.replace(/ /g, '');
/** A 20-byte IPv4 header: 192.0.2.7 → 198.51.100.10, protocol ICMP, TTL 63, total length 28 (plus 8 bytes of echo). */
const INNER = '4500001c00000000' + '3f01' + '0000' + 'c0000207' + 'c633640a' + '0800f7ff00000000';

describe('mip4 decode: RFC 3519', () => {
  it('shows a UDP Tunnel Request extension field by field (F, R, encapsulation, reserved)', async () => {
    const run = await mip4('decode', `${REQUEST_FIXED}90060000c0040000`);
    expect(run.code).toBe(0);
    const json = JSON.parse(run.out[0]!) as { extensions: unknown[] };
    expect(json.extensions[0]).toEqual({
      type: 144,
      name: 'UDP Tunnel Request (RFC 3519)',
      offset: 24,
      length: 6,
      sub_type: 0,
      reserved1: 0,
      force: true,
      registration_through_fa: true,
      reserved2: 0,
      encapsulation: 4,
      reserved3: 0,
    });
  });

  it('shows a UDP Tunnel Reply extension with its code and keepalive interval, and code 142 by name', async () => {
    const accepted = await mip4('decode', `${REPLY_FIXED}2c0600008000006e`);
    expect(accepted.code).toBe(0);
    expect((JSON.parse(accepted.out[0]!) as { extensions: unknown[] }).extensions[0]).toEqual({
      type: 44,
      name: 'UDP Tunnel Reply (RFC 3519)',
      offset: 20,
      length: 6,
      sub_type: 0,
      udp_tunnel_code: 0,
      forced: true,
      reserved: 0,
      keepalive_interval: 110,
    });
    const refused = await mip4('decode', `038e${REPLY_FIXED.slice(4)}2c06004000000000`);
    expect(JSON.parse(refused.out[0]!)).toMatchObject({ code: 142, code_text: 'HA: UDP encapsulation unavailable' });
  });

  it('shows a tunnel data message: Next Header and the tunnelled datagram’s addresses', async () => {
    const run = await mip4('decode', `04040000${INNER}`);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out[0]!)).toEqual({
      type: 4,
      type_name: 'Tunnel Data (RFC 3519)',
      next_header: 4,
      next_header_name: 'IP in IP',
      reserved: 0,
      payload_length: 28,
      inner: { ip_src: '192.0.2.7', ip_dst: '198.51.100.10', ip_protocol: 1, ip_ttl: 63, total_length: 28 },
    });
  });

  it('a tunnel data message too short for its header is an error with exit status 1', async () => {
    const run = await mip4('decode', '0404');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.out[0]!)).toMatchObject({ error: 'truncated', layer: 'tunnel-data', offset: 0 });
  });
});
