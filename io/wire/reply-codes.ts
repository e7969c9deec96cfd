/**
 * Code values of the Registration Reply (RFC 5944 3.4) and how the code space is divided
 * between successes, foreign-agent denials and home-agent denials (6.4).
 */

export const ReplyCode = {
  // Registration successful (3.4).
  Accepted: 0,
  AcceptedNoSimultaneousBindings: 1,

  // Registration denied by the foreign agent (3.4, 6.4). Meanings shared with a home-agent
  // code carry the Fa prefix.
  FaReasonUnspecified: 64,
  FaAdministrativelyProhibited: 65,
  FaInsufficientResources: 66,
  FaMobileNodeFailedAuthentication: 67,
  HomeAgentFailedAuthentication: 68,
  LifetimeTooLong: 69,
  FaPoorlyFormedRequest: 70,
  PoorlyFormedReply: 71,
  EncapsulationUnavailable: 72,
  ReservedAndUnavailable: 73,
  /** RFC 3024 3.4: the foreign agent's refusals of a reverse tunnel. */
  FaReverseTunnelUnavailable: 74,
  FaReverseTunnelMandatory: 75,
  FaMobileNodeTooDistant: 76,
  FaDeliveryStyleNotSupported: 79,
  InvalidCareOfAddress: 77,
  RegistrationTimeout: 78,
  HomeNetworkUnreachable: 80,
  HomeAgentHostUnreachable: 81,
  HomeAgentPortUnreachable: 82,
  HomeAgentUnreachable: 88,
  InvalidHomeAgentAddress: 194,

  // Registration denied by the home agent (3.4, 6.4).
  HaReasonUnspecified: 128,
  HaAdministrativelyProhibited: 129,
  HaInsufficientResources: 130,
  HaMobileNodeFailedAuthentication: 131,
  ForeignAgentFailedAuthentication: 132,
  IdentificationMismatch: 133,
  HaPoorlyFormedRequest: 134,
  TooManySimultaneousBindings: 135,
  UnknownHomeAgentAddress: 136,
  /** RFC 3024 (reverse tunnelling), which mip4 answers when the 'T' bit cannot be honoured. */
  HaReverseTunnelUnavailable: 137,
  /** RFC 3024 3.4: this home agent requires a reverse tunnel for the node and 'T' is not set. */
  HaReverseTunnelMandatory: 138,
  /** RFC 3024 3.4: 'T' set with an encapsulation (M/G) the home agent cannot take as a reverse tunnel. */
  HaEncapsulationUnavailable: 139,
  /**
   * RFC 3519 3.2, 4.1: the home agent cannot or will not tunnel over UDP for a node that needs
   * it (a NAT is detected, or the node set 'F'), so no usable binding can be made.
   */
  HaUdpEncapsulationUnavailable: 142,
} as const;

export type KnownReplyCode = (typeof ReplyCode)[keyof typeof ReplyCode];

/** The meaning of each code as worded in 3.4, without the FA/HA prefix. */
const MEANINGS: ReadonlyMap<number, string> = new Map([
  [0, 'registration accepted'],
  [1, 'registration accepted, but simultaneous mobility bindings unsupported'],
  [64, 'reason unspecified'],
  [65, 'administratively prohibited'],
  [66, 'insufficient resources'],
  [67, 'mobile node failed authentication'],
  [68, 'home agent failed authentication'],
  [69, 'requested Lifetime too long'],
  [70, 'poorly formed Request'],
  [71, 'poorly formed Reply'],
  [72, 'requested encapsulation unavailable'],
  [73, 'reserved and unavailable'],
  [74, 'requested reverse tunnel unavailable'],
  [75, "reverse tunnel is mandatory and 'T' bit not set"],
  [76, 'mobile node too distant'],
  [79, 'delivery style not supported'],
  [77, 'invalid care-of address'],
  [78, 'registration timeout'],
  [80, 'home network unreachable (ICMP error received)'],
  [81, 'home agent host unreachable (ICMP error received)'],
  [82, 'home agent port unreachable (ICMP error received)'],
  [88, 'home agent unreachable (other ICMP error received)'],
  [194, 'Invalid Home Agent Address'],
  [128, 'reason unspecified'],
  [129, 'administratively prohibited'],
  [130, 'insufficient resources'],
  [131, 'mobile node failed authentication'],
  [132, 'foreign agent failed authentication'],
  [133, 'registration Identification mismatch'],
  [134, 'poorly formed Request'],
  [135, 'too many simultaneous mobility bindings'],
  [136, 'unknown home agent address'],
  [137, 'requested reverse tunnel unavailable'],
  [138, "reverse tunnel is mandatory and 'T' bit not set"],
  [139, 'requested encapsulation unavailable'],
  [142, 'UDP encapsulation unavailable'],
]);

/** Codes 0-8 are success codes (6.4, Table 1). */
export function isAcceptedCode(code: number): boolean {
  return code >= 0 && code <= 8;
}

/**
 * Codes 64-127 are foreign-agent errors, and 193-200 gateway-foreign-agent errors (6.4,
 * Table 1); 194 "Invalid Home Agent Address" is listed among the foreign agent's denials (3.4).
 */
export function isForeignAgentCode(code: number): boolean {
  return (code >= 64 && code <= 127) || (code >= 193 && code <= 200);
}

/** Codes 128-192 are home-agent errors (6.4, Table 1). */
export function isHomeAgentCode(code: number): boolean {
  return code >= 128 && code <= 192;
}

/**
 * A readable text: "registration accepted", "FA: poorly formed Request",
 * "HA: registration Identification mismatch"; "unknown code 99" for codes 3.4 does not list.
 */
export function replyCodeText(code: number): string {
  const meaning = MEANINGS.get(code);
  if (meaning === undefined) return `unknown code ${code}`;
  if (isForeignAgentCode(code)) return `FA: ${meaning}`;
  if (isHomeAgentCode(code)) return `HA: ${meaning}`;
  return meaning;
}
