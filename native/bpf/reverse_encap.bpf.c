// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * reverse_encap: reverse tunnelling (RFC 3024) in the kernel, at tc ingress of a foreign agent's
 * visitor link. A datagram whose SOURCE is in `reverse_tunnels` (a visitor granted 'T' with the
 * direct delivery style, RFC 3024 5.2.1) is encapsulated from the care-of address to the home
 * agent (IP in IP, RFC 2003; or GRE, RFC 2784 2.1) and redirected out of the interface
 * bpf_fib_lookup names. With MIP4_REVERSE_FORWARDS the inner TTL is decremented (the agent
 * forwards, RFC 2003 3.1). Everything else goes on unchanged to the stack and the userspace
 * plane, counted per reason, as ha_encap does: broadcast and multicast, UDP 434 (Mobile IP
 * control), datagrams to this host or to the link they came from, already tunnelled ones (the
 * encapsulating delivery style, RFC 3024 5.2.2), TTL <= 1, oversize, ARP, unknown sources.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mip4_bpf.h"

#ifndef AF_INET
#define AF_INET 2
#endif

#define IPV4_HEADER 20
#define GRE_HEADER 4
#define GRE_PROTOCOL_IPV4 0x0800
#define DEFAULT_OUTER_TTL 64
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define MOBILE_IP_PORT 434

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 16);
  __type(key, __u32);
  __type(value, struct mip4_reverse_tunnel);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} reverse_tunnels SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, MIP4_REV_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 reason) {
  __u64 *value = bpf_map_lookup_elem(&counters, &reason);
  if (value) *value += 1;
}

static __always_inline __u16 ipv4_header_checksum(const struct iphdr *header) {
  const __u16 *words = (const __u16 *)header;
  __u32 sum = 0;
#pragma unroll
  for (int i = 0; i < IPV4_HEADER / 2; i++) sum += words[i];
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

static __always_inline int multicast_or_broadcast(__u32 destination_be) {
  __u32 destination = bpf_ntohl(destination_be);
  return (destination >> 28) == 0xe || destination == 0xffffffff || (destination & 0xff) == 0xff;
}

/* As ha_encap's: the largest outer datagram for this packet (GSO included), 0 when unknown. */
static __always_inline __u32 largest_outer_datagram(struct __sk_buff *skb, const struct iphdr *ip, void *end, __u32 overhead) {
  if (skb->gso_size == 0) return bpf_ntohs(ip->tot_len) + overhead;
  __u32 header = ip->ihl * 4;
  void *l4 = (void *)ip + header;
  if (ip->protocol == IPPROTO_TCP) {
    __u8 *offset_byte = l4 + 12;
    if ((void *)(offset_byte + 1) > end) return 0;
    return header + (*offset_byte >> 4) * 4 + skb->gso_size;
  }
  if (ip->protocol == IPPROTO_UDP) return header + 8 + skb->gso_size + overhead;
  return 0;
}

SEC("tc")
int reverse_encap(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_OK;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) {
    count(MIP4_REV_NOT_IPV4);
    return TC_ACT_OK;
  }
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return TC_ACT_OK;
  __u32 home = ip->saddr;
  struct mip4_reverse_tunnel *tunnel = bpf_map_lookup_elem(&reverse_tunnels, &home);
  if (!tunnel) {
    count(MIP4_REV_PASSED_UNKNOWN);
    return TC_ACT_OK;
  }
  if (multicast_or_broadcast(ip->daddr) || skb->pkt_type == 1 /* PACKET_BROADCAST */ || skb->pkt_type == 2 /* PACKET_MULTICAST */) {
    count(MIP4_REV_PASSED_MULTICAST);
    return TC_ACT_OK;
  }
  if (ip->version != 4 || ip->ihl < 5 || bpf_ntohs(ip->tot_len) < ip->ihl * 4 ||
      bpf_ntohs(ip->tot_len) > skb->len - sizeof(struct ethhdr)) {
    count(MIP4_REV_PASSED_MALFORMED);
    return TC_ACT_OK;
  }
  if (ip->protocol == IPPROTO_IPIP || ip->protocol == IPPROTO_GRE || ip->protocol == 55 /* minimal, RFC 2004 */) {
    count(MIP4_REV_PASSED_TUNNELLED);
    return TC_ACT_OK;
  }
  /* UDP 434 either way is registration traffic (RFC 5944 3.7): the agent's, never tunnelled here.
     Only a first fragment has the ports; later fragments are userspace's too. */
  if (ip->protocol == IPPROTO_UDP) {
    if ((ip->frag_off & bpf_htons(IP_OFFSET)) != 0) {
      count(MIP4_REV_PASSED_MALFORMED);
      return TC_ACT_OK;
    }
    struct udphdr *udp = (void *)ip + ip->ihl * 4;
    if ((void *)(udp + 1) > end) {
      count(MIP4_REV_PASSED_MALFORMED);
      return TC_ACT_OK;
    }
    if (udp->dest == bpf_htons(MOBILE_IP_PORT) || udp->source == bpf_htons(MOBILE_IP_PORT)) {
      count(MIP4_REV_PASSED_CONTROL);
      return TC_ACT_OK;
    }
  }
  __u8 forwards = (tunnel->flags & MIP4_REVERSE_FORWARDS) != 0;
  if (ip->ttl <= (forwards ? 1 : 0)) {
    count(MIP4_REV_PASSED_TTL);
    return TC_ACT_OK;
  }
  __u32 outer_source = tunnel->outer_source;
  __u32 home_agent = tunnel->outer_destination;
  __u8 gre = tunnel->encapsulation == MIP4_ENCAP_GRE;
  if (ip->daddr == outer_source || ip->daddr == home_agent) {
    /* To the agent itself, or to the home agent already (its own exchange): not tunnelled. */
    count(MIP4_REV_PASSED_LOCAL);
    return TC_ACT_OK;
  }
  /* To this host or to a neighbour on the link it came from (no gateway: the lookup leaves
     ipv4_dst as it was): the main table decides (BPF_FIB_LOOKUP_DIRECT skips the policy
     rules, where the agent's visitor capture blackholes the home source). A destination
     behind a router on the same link (a one-armed agent) is tunnelled. */
  __u32 inner_destination = ip->daddr;
  struct bpf_fib_lookup inner = {};
  inner.family = AF_INET;
  inner.ipv4_src = ip->saddr;
  inner.ipv4_dst = ip->daddr;
  inner.ifindex = skb->ingress_ifindex;
  long inner_route = bpf_fib_lookup(skb, &inner, sizeof inner, BPF_FIB_LOOKUP_DIRECT);
  if (inner_route == BPF_FIB_LKUP_RET_NOT_FWDED ||
      ((inner_route == BPF_FIB_LKUP_RET_SUCCESS || inner_route == BPF_FIB_LKUP_RET_NO_NEIGH) && inner.ifindex == skb->ingress_ifindex && inner.ipv4_dst == inner_destination)) {
    count(MIP4_REV_PASSED_LOCAL);
    return TC_ACT_OK;
  }
  __u32 overhead = IPV4_HEADER + (gre ? GRE_HEADER : 0);
  __u32 largest = largest_outer_datagram(skb, ip, end, overhead);
  __u8 fixed_gso = skb->gso_size != 0 && ip->protocol != IPPROTO_TCP;
  if (largest == 0) {
    count(MIP4_REV_PASSED_MTU);
    return TC_ACT_OK;
  }
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.ipv4_src = outer_source;
  fib.ipv4_dst = home_agent;
  fib.tos = ip->tos;
  fib.l4_protocol = gre ? IPPROTO_GRE : IPPROTO_IPIP;
  fib.tot_len = largest;
  fib.ifindex = skb->ingress_ifindex;
  long route = bpf_fib_lookup(skb, &fib, sizeof fib, 0);
  if (route == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
    count(MIP4_REV_PASSED_MTU);
    return TC_ACT_OK;
  }
  if (route != BPF_FIB_LKUP_RET_SUCCESS && route != BPF_FIB_LKUP_RET_NO_NEIGH) {
    count(MIP4_REV_FIB_FAILED);
    return TC_ACT_OK;
  }

  struct iphdr outer = {};
  outer.version = 4;
  outer.ihl = 5;
  outer.tos = ip->tos;
  outer.tot_len = bpf_htons(bpf_ntohs(ip->tot_len) + overhead);
  outer.id = (__u16)bpf_get_prandom_u32();
  outer.frag_off = ip->frag_off & bpf_htons(IP_DF);
  outer.ttl = DEFAULT_OUTER_TTL;
  outer.protocol = gre ? IPPROTO_GRE : IPPROTO_IPIP;
  outer.saddr = outer_source;
  outer.daddr = home_agent;
  outer.check = ipv4_header_checksum(&outer);

  if (forwards) {
    /* RFC 2003 3.1: the agent forwards into the tunnel, so the inner TTL goes down by one (RFC 1624 update). */
    __u16 old_word = *(__u16 *)&ip->ttl;
    __u8 new_ttl = ip->ttl - 1;
    __u16 new_word = old_word;
    *(__u8 *)&new_word = new_ttl;
    __u32 ttl_offset = sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, ttl);
    __u32 check_offset = sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, check);
    if (bpf_l3_csum_replace(skb, check_offset, old_word, new_word, 2) < 0 ||
        bpf_skb_store_bytes(skb, ttl_offset, &new_ttl, 1, 0) < 0) {
      count(MIP4_REV_ADJUST_FAILED);
      return TC_ACT_SHOT;
    }
  }

  __u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | (gre ? BPF_F_ADJ_ROOM_ENCAP_L4_GRE : 0);
  if (fixed_gso) flags |= BPF_F_ADJ_ROOM_FIXED_GSO;
  if (bpf_skb_adjust_room(skb, overhead, BPF_ADJ_ROOM_MAC, flags) < 0) {
    count(MIP4_REV_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }
  if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &outer, sizeof outer, 0) < 0) {
    count(MIP4_REV_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }
  if (gre) {
    __u32 gre_word = bpf_htonl(GRE_PROTOCOL_IPV4);
    if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + IPV4_HEADER, &gre_word, sizeof gre_word, 0) < 0) {
      count(MIP4_REV_ADJUST_FAILED);
      return TC_ACT_SHOT;
    }
  }
  count(MIP4_REV_ENCAPSULATED);
  if (route == BPF_FIB_LKUP_RET_NO_NEIGH) {
    struct bpf_redir_neigh next_hop = {.nh_family = AF_INET, .ipv4_nh = fib.ipv4_dst};
    return bpf_redirect_neigh(fib.ifindex, &next_hop, sizeof next_hop, 0);
  }
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_SHOT;
  __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
  return bpf_redirect(fib.ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
