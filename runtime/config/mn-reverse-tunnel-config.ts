/**
 * The mobile node's reverse tunnelling and multicast fields (RFC 3024, RFC 5944 4.4) of
 * `mobileNode` in the configuration file: schema and checks, kept apart from mn-config.ts.
 *
 *   reverseTunnel: true | false          default true: 'T' whenever the foreign agent advertises
 *                                        it, and always when co-located (RFC 3024 5.1)
 *   deliveryStyle: direct | encapsulating   default direct (RFC 3024 5.2.1 / 5.2.2)
 *   multicastGroups: [224.x.y.z, ...]    groups joined through the home agent (4.4)
 */
import { Schema } from 'effect';
import { ipv4ToString, parseIpv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { isMulticast } from '../../io/wire/ipv4-address.js';
import { Ipv4Text, oneOf, optional } from './config-schema.js';

export const ReverseTunnelFields = {
  reverseTunnel: optional(Schema.Boolean),
  deliveryStyle: optional(oneOf('direct', 'encapsulating')),
  multicastGroups: optional(Schema.Array(Ipv4Text)),
};

export interface ReverseTunnelFile {
  readonly reverseTunnel?: boolean;
  readonly deliveryStyle?: 'direct' | 'encapsulating';
  readonly multicastGroups?: readonly string[];
}

export interface ReverseTunnelSettings {
  readonly reverseTunnel: boolean;
  readonly deliveryStyle: 'direct' | 'encapsulating';
  readonly multicastGroups: readonly Ipv4Address[];
}

/** 224.0.0.0/24 is link-local (RFC 5771): never forwarded, so never joined through a home agent. */
function isLinkLocalMulticast(address: Ipv4Address): boolean {
  return address >>> 8 === 0xe00000;
}

/**
 * The settings with their defaults. `requestOptions.reverseTunnel` (the older place of the 'T'
 * wish) is still read; given both ways with different values is an issue naming both.
 */
export function reverseTunnelSettings(
  mn: ReverseTunnelFile,
  requestOptionsReverseTunnel: boolean | undefined,
  issues: Array<{ path: string; message: string }>,
): ReverseTunnelSettings {
  if (mn.reverseTunnel !== undefined && requestOptionsReverseTunnel !== undefined && mn.reverseTunnel !== requestOptionsReverseTunnel) {
    issues.push({
      path: 'mobileNode.reverseTunnel',
      message: `contradicts requestOptions.reverseTunnel (${requestOptionsReverseTunnel}); keep mobileNode.reverseTunnel and remove requestOptions.reverseTunnel`,
    });
  }
  const groups: Ipv4Address[] = [];
  (mn.multicastGroups ?? []).forEach((text, index) => {
    const path = `mobileNode.multicastGroups[${index}]`;
    const group = parseIpv4(text)!;
    if (!isMulticast(group)) {
      issues.push({ path, message: `${text} is not a multicast group; give an address in 224.0.0.0/4, e.g. 239.1.2.3` });
    } else if (isLinkLocalMulticast(group)) {
      issues.push({ path, message: `${text} is link-local (224.0.0.0/24) and never leaves the visited link; remove it` });
    } else if (groups.includes(group)) {
      issues.push({ path, message: `${ipv4ToString(group)} is listed twice; remove one` });
    } else {
      groups.push(group);
    }
  });
  return {
    reverseTunnel: mn.reverseTunnel ?? requestOptionsReverseTunnel ?? true,
    deliveryStyle: mn.deliveryStyle ?? 'direct',
    multicastGroups: groups,
  };
}
