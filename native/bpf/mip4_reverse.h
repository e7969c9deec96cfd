/*
 * The reverse-tunnel predicate (RFC 3024), one inline function that two programs share so they
 * cannot disagree: reverse_encap (tc) encapsulates what it calls a candidate, and reverse_filter
 * (a socket filter on the foreign agent's visitor-link packet socket, which sees each frame
 * BEFORE tc ingress) hides exactly those frames from the userspace plane. Every datagram is so
 * tunnelled once. Only what the packet's headers and the map decide is here (both program types
 * may read them); the route lookups are tc's alone, and a datagram they turn back is returned
 * to the packet socket by reverse_encap (MIP4_REVERSE_RETURNED_MARK, reverse_encap.bpf.c).
 * Headers are read with bpf_skb_load_bytes: socket filters have no direct packet access.
 */
#ifndef MIP4_REVERSE_H
#define MIP4_REVERSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mip4_bpf.h"

#define MIP4_REVERSE_CANDIDATE (-1)
#define MIP4_MOBILE_IP_PORT 434
#define MIP4_IP_OFFSET_MASK 0x1fff

static __always_inline int mip4_multicast_or_broadcast(__u32 destination_be) {
  __u32 destination = bpf_ntohl(destination_be);
  return (destination >> 28) == 0xe || destination == 0xffffffff || (destination & 0xff) == 0xff;
}

/*
 * MIP4_REVERSE_CANDIDATE when the datagram at `l2` bytes into the skb (14 on Ethernet, 0 on a
 * device without link-layer header) enters the reverse tunnel *tunnel_out, as far as the headers
 * and `tunnels` (the reverse_tunnels map) decide; else the MIP4_REV_* reason it is passed.
 */
static __always_inline int mip4_reverse_verdict(struct __sk_buff *skb, __u32 l2, void *tunnels, struct mip4_reverse_tunnel **tunnel_out) {
  if (l2 != 0) {
    __u16 ethertype;
    if (bpf_skb_load_bytes(skb, 12, &ethertype, sizeof ethertype) < 0 || ethertype != bpf_htons(ETH_P_IP)) return MIP4_REV_NOT_IPV4;
  } else if (skb->protocol != bpf_htons(ETH_P_IP)) {
    return MIP4_REV_NOT_IPV4;
  }
  struct iphdr ip;
  if (bpf_skb_load_bytes(skb, l2, &ip, sizeof ip) < 0) return MIP4_REV_PASSED_MALFORMED;
  __u32 home = ip.saddr;
  struct mip4_reverse_tunnel *tunnel = bpf_map_lookup_elem(tunnels, &home);
  if (!tunnel) return MIP4_REV_PASSED_UNKNOWN;
  if (mip4_multicast_or_broadcast(ip.daddr) || skb->pkt_type == 1 /* PACKET_BROADCAST */ || skb->pkt_type == 2 /* PACKET_MULTICAST */)
    return MIP4_REV_PASSED_MULTICAST;
  __u32 header = ip.ihl * 4;
  if (ip.version != 4 || ip.ihl < 5 || bpf_ntohs(ip.tot_len) < header || bpf_ntohs(ip.tot_len) > skb->len - l2) return MIP4_REV_PASSED_MALFORMED;
  if (ip.protocol == IPPROTO_IPIP || ip.protocol == IPPROTO_GRE || ip.protocol == 55 /* minimal, RFC 2004 */) return MIP4_REV_PASSED_TUNNELLED;
  /* UDP 434 either way is registration traffic (RFC 5944 3.7): the agent's, never tunnelled here.
     Only a first fragment has the ports; later fragments are userspace's too. */
  if (ip.protocol == IPPROTO_UDP) {
    if ((ip.frag_off & bpf_htons(MIP4_IP_OFFSET_MASK)) != 0) return MIP4_REV_PASSED_MALFORMED;
    __u16 ports[2];
    if (bpf_skb_load_bytes(skb, l2 + (header & 0x3c), ports, sizeof ports) < 0) return MIP4_REV_PASSED_MALFORMED;
    if (ports[0] == bpf_htons(MIP4_MOBILE_IP_PORT) || ports[1] == bpf_htons(MIP4_MOBILE_IP_PORT)) return MIP4_REV_PASSED_CONTROL;
  }
  __u8 forwards = (tunnel->flags & MIP4_REVERSE_FORWARDS) != 0;
  if (ip.ttl <= (forwards ? 1 : 0)) return MIP4_REV_PASSED_TTL;
  /* To the agent itself, or to the home agent already (its own exchange): not tunnelled. */
  if (ip.daddr == tunnel->outer_source || ip.daddr == tunnel->outer_destination) return MIP4_REV_PASSED_LOCAL;
  *tunnel_out = tunnel;
  return MIP4_REVERSE_CANDIDATE;
}

#endif
