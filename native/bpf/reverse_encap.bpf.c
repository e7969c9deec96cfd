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
 * A pass returns TC_ACT_UNSPEC, so that the next filter on the hook (decap, on the visitor link)
 * still runs. What the headers decide is mip4_reverse.h's predicate, shared with reverse_filter,
 * the socket filter that hides a candidate from the agent's packet socket; a candidate the route
 * lookups turn back is returned to the link's ingress marked, for that socket to see.
 * reverse_encap_l3 is the same program for a device without link-layer header (the co-located
 * mobile node's TUN, at tc egress): it puts an Ethernet header in front before redirecting.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mip4_encap.h"
#include "mip4_reverse.h"

#ifndef AF_INET
#define AF_INET 2
#endif


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

/* A candidate the route lookups turned back: on the visitor link (l2) it goes round the link's
   ingress once more, marked, so that the packet socket (whose filter hid it) and the stack see it
   as if the program had not been there; on a device without link-layer header it just goes on. */
static __always_inline int turned_back(struct __sk_buff *skb, __u32 l2, __u32 reason) {
  count(reason);
  if (l2 == 0) return TC_ACT_UNSPEC;
  skb->mark = MIP4_REVERSE_RETURNED_MARK;
  return bpf_redirect(skb->ingress_ifindex, BPF_F_INGRESS);
}

static __always_inline int reverse_encap_at(struct __sk_buff *skb, __u32 l2) {
  if (l2 != 0 && skb->mark == MIP4_REVERSE_RETURNED_MARK) {
    /* Returned by turned_back and counted then: on to decap and the stack, mark cleared. */
    skb->mark = 0;
    return TC_ACT_UNSPEC;
  }
  struct mip4_reverse_tunnel *tunnel = 0;
  int verdict = mip4_reverse_verdict(skb, l2, &reverse_tunnels, &tunnel);
  if (verdict != MIP4_REVERSE_CANDIDATE || !tunnel) {
    count(verdict == MIP4_REVERSE_CANDIDATE ? MIP4_REV_PASSED_UNKNOWN : (__u32)verdict);
    return TC_ACT_UNSPEC;
  }
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct iphdr *ip = data + l2;
  if ((void *)(ip + 1) > end) return turned_back(skb, l2, MIP4_REV_PASSED_MALFORMED);
  __u8 forwards = (tunnel->flags & MIP4_REVERSE_FORWARDS) != 0;
  __u32 outer_source = tunnel->outer_source;
  __u32 home_agent = tunnel->outer_destination;
  __u8 gre = tunnel->encapsulation == MIP4_ENCAP_GRE;
  /* To this host or to a neighbour on the link it came from (no gateway: the lookup leaves
     ipv4_dst as it was): the main table decides (BPF_FIB_LOOKUP_DIRECT skips the policy
     rules, where the agent's visitor capture blackholes the home source). A destination
     behind a router on the same link (a one-armed agent) is tunnelled. The node's own
     interface (l2 0, egress) has no such neighbours to spare: everything goes. */
  if (l2 != 0) {
    __u32 inner_destination = ip->daddr;
    struct bpf_fib_lookup inner = {};
    inner.family = AF_INET;
    inner.ipv4_src = ip->saddr;
    inner.ipv4_dst = ip->daddr;
    inner.ifindex = skb->ingress_ifindex;
    long inner_route = bpf_fib_lookup(skb, &inner, sizeof inner, BPF_FIB_LOOKUP_DIRECT);
    if (inner_route == BPF_FIB_LKUP_RET_NOT_FWDED ||
        ((inner_route == BPF_FIB_LKUP_RET_SUCCESS || inner_route == BPF_FIB_LKUP_RET_NO_NEIGH) && inner.ifindex == skb->ingress_ifindex && inner.ipv4_dst == inner_destination))
      return turned_back(skb, l2, MIP4_REV_PASSED_LOCAL);
    data = (void *)(long)skb->data;
    end = (void *)(long)skb->data_end;
    ip = data + l2;
    if ((void *)(ip + 1) > end) return turned_back(skb, l2, MIP4_REV_PASSED_MALFORMED);
  }
  __u32 overhead = IPV4_HEADER + (gre ? GRE_HEADER : 0);
  __u32 largest = largest_outer_datagram(skb, ip, end, overhead);
  __u8 fixed_gso = skb->gso_size != 0 && ip->protocol != IPPROTO_TCP;
  if (largest == 0) return turned_back(skb, l2, MIP4_REV_PASSED_MTU);
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.ipv4_src = outer_source;
  fib.ipv4_dst = home_agent;
  fib.tos = ip->tos;
  fib.l4_protocol = gre ? IPPROTO_GRE : IPPROTO_IPIP;
  fib.tot_len = largest;
  fib.ifindex = l2 != 0 ? skb->ingress_ifindex : skb->ifindex;
  long route = bpf_fib_lookup(skb, &fib, sizeof fib, 0);
  if (route == BPF_FIB_LKUP_RET_FRAG_NEEDED) return turned_back(skb, l2, MIP4_REV_PASSED_MTU);
  if (route != BPF_FIB_LKUP_RET_SUCCESS && route != BPF_FIB_LKUP_RET_NO_NEIGH) return turned_back(skb, l2, MIP4_REV_FIB_FAILED);
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  ip = data + l2;
  if ((void *)(ip + 1) > end) return turned_back(skb, l2, MIP4_REV_PASSED_MALFORMED);

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
    __u32 ttl_offset = l2 + __builtin_offsetof(struct iphdr, ttl);
    __u32 check_offset = l2 + __builtin_offsetof(struct iphdr, check);
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
  if (bpf_skb_store_bytes(skb, l2, &outer, sizeof outer, 0) < 0) {
    count(MIP4_REV_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }
  if (gre) {
    __u32 gre_word = bpf_htonl(GRE_PROTOCOL_IPV4);
    if (bpf_skb_store_bytes(skb, l2 + IPV4_HEADER, &gre_word, sizeof gre_word, 0) < 0) {
      count(MIP4_REV_ADJUST_FAILED);
      return TC_ACT_SHOT;
    }
  }
  if (l2 == 0) {
    /* From a device without link-layer header to an Ethernet one: both bpf_redirect and
       bpf_redirect_neigh want an Ethernet header in front (redirect_neigh drops a packet whose
       MAC header is not before its network header, then pulls 14 bytes), so one is made here. */
    if (bpf_skb_change_head(skb, sizeof(struct ethhdr), 0) < 0) {
      count(MIP4_REV_ADJUST_FAILED);
      return TC_ACT_SHOT;
    }
    struct ethhdr made = {.h_proto = bpf_htons(ETH_P_IP)};
    if (bpf_skb_store_bytes(skb, 0, &made, sizeof made, 0) < 0) {
      count(MIP4_REV_ADJUST_FAILED);
      return TC_ACT_SHOT;
    }
  }
  count(MIP4_REV_ENCAPSULATED);
  /* Without a neighbour entry the kernel resolves the next hop and writes the MACs. */
  if (route == BPF_FIB_LKUP_RET_NO_NEIGH) {
    struct bpf_redir_neigh next_hop = {.nh_family = AF_INET, .ipv4_nh = fib.ipv4_dst};
    return bpf_redirect_neigh(fib.ifindex, &next_hop, sizeof next_hop, 0);
  }
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_SHOT;
  __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
  return bpf_redirect(fib.ifindex, 0);
}

/* At tc ingress of a foreign agent's visitor link (Ethernet). */
SEC("tc")
int reverse_encap(struct __sk_buff *skb) {
  return reverse_encap_at(skb, sizeof(struct ethhdr));
}

/* At tc egress of a co-located mobile node's TUN device (no link-layer header): the node
   originates its datagrams, so its entry does not forward (inner TTL kept). The tunnelled
   datagram gets an Ethernet header for the interface the route to the home agent names. */
SEC("tc")
int reverse_encap_l3(struct __sk_buff *skb) {
  return reverse_encap_at(skb, 0);
}

/* On the foreign agent's visitor-link packet socket (SO_ATTACH_BPF): 0 hides the frame from
   userspace, skb->len delivers it whole. It hides exactly the candidates reverse_encap takes;
   frames the agent sends (PACKET_OUTGOING) and those reverse_encap returned are delivered. */
SEC("socket")
int reverse_filter(struct __sk_buff *skb) {
  if (skb->pkt_type == 4 /* PACKET_OUTGOING */ || skb->mark == MIP4_REVERSE_RETURNED_MARK) return skb->len;
  struct mip4_reverse_tunnel *tunnel = 0;
  return mip4_reverse_verdict(skb, sizeof(struct ethhdr), &reverse_tunnels, &tunnel) == MIP4_REVERSE_CANDIDATE ? 0 : skb->len;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
