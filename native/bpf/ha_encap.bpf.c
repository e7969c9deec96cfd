// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * ha_encap: the home agent's tunnel entry point in the kernel (tc ingress of the interface where
 * datagrams for home addresses arrive). A datagram whose destination is in `home_bindings` is
 * encapsulated (IP in IP, RFC 2003; or GRE, RFC 2784, the 4-byte header without checksum or
 * key) to the care-of address and redirected out, as RFC 5944 4.2.3 has the home agent do.
 * Everything this program does not handle goes on unchanged to the stack, where the home agent's
 * userspace data plane takes it (a /32 route into its TUN device), counted per reason:
 *   - TTL <= 1: the Time Exceeded is the userspace plane's (RFC 2003 3.1, RFC 1812 5.3.1);
 *   - larger than the tunnel MTU: userspace answers Fragmentation Needed or fragments (RFC 2003
 *     5.1); this program never fragments;
 *   - broadcast and multicast: copies to B-bit bindings are nested (RFC 5944 4.3, 4.4);
 *   - no binding, no route to the care-of address;
 *   - the loop checks: source the agent or the tunnel exit (RFC 2003 3.2), already tunnelled
 *     datagrams for the home address (RFC 5944 4.2.3).
 * Simultaneous bindings (several care-of addresses) are not in the map: the wiring step leaves
 * such homes out so userspace sends the copies.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mip4_bpf.h"
#include "mip4_encap.h"

#ifndef AF_INET
#define AF_INET 2
#endif


struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 20);
  __type(key, __u32);
  __type(value, struct mip4_home_binding);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} home_bindings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mip4_settings);
} settings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, MIP4_HA_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 reason) {
  __u64 *value = bpf_map_lookup_elem(&counters, &reason);
  if (value) *value += 1;
}

static __always_inline int multicast_or_broadcast(__u32 destination_be) {
  __u32 destination = bpf_ntohl(destination_be);
  return (destination >> 28) == 0xe || destination == 0xffffffff;
}


SEC("tc")
int ha_encap(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_OK;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) {
    count(MIP4_HA_NOT_IPV4);
    return TC_ACT_OK;
  }
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return TC_ACT_OK;
  if (multicast_or_broadcast(ip->daddr) || skb->pkt_type == 1 /* PACKET_BROADCAST */ || skb->pkt_type == 2 /* PACKET_MULTICAST */) {
    count(MIP4_HA_PASSED_MULTICAST);
    return TC_ACT_OK;
  }
  __u32 home = ip->daddr;
  struct mip4_home_binding *binding = bpf_map_lookup_elem(&home_bindings, &home);
  if (!binding) {
    count(MIP4_HA_PASSED_UNKNOWN);
    return TC_ACT_OK;
  }
  if (ip->version != 4 || ip->ihl < 5 || bpf_ntohs(ip->tot_len) < ip->ihl * 4 ||
      bpf_ntohs(ip->tot_len) > skb->len - sizeof(struct ethhdr)) {
    count(MIP4_HA_PASSED_MALFORMED);
    return TC_ACT_OK;
  }
  /* RFC 2003 3.1: the home agent forwards the datagram into the tunnel as a router, so the inner
     TTL is decremented; one that would reach 0 gets a Time Exceeded, which is userspace's. */
  if (ip->ttl <= 1) {
    count(MIP4_HA_PASSED_TTL);
    return TC_ACT_OK;
  }
  /* The loop checks are the userspace plane's (ha-plane.ts lookupBatch, encapsulateBatch): a
     source that is the agent itself or the tunnel exit point (RFC 2003 3.2), and a datagram
     already tunnelled to the home address (RFC 5944 4.2.3: discarded or redirected). */
  if (ip->saddr == binding->tunnel_source || ip->saddr == binding->care_of_address || ip->protocol == IPPROTO_IPIP ||
      ip->protocol == IPPROTO_GRE || ip->protocol == 55 /* minimal encapsulation, RFC 2004 */) {
    count(MIP4_HA_PASSED_LOOP_CHECK);
    return TC_ACT_OK;
  }
  __u8 gre = binding->encapsulation == MIP4_ENCAP_GRE;
  __u32 overhead = IPV4_HEADER + (gre ? GRE_HEADER : 0);
  __u32 care_of = binding->care_of_address;
  __u32 source = binding->tunnel_source;
  __u32 mtu = binding->tunnel_mtu;
  __u32 zero = 0;
  struct mip4_settings *shared = bpf_map_lookup_elem(&settings, &zero);
  __u32 outer_ttl = DEFAULT_OUTER_TTL;
  if (shared) {
    if (mtu == 0) mtu = shared->tunnel_mtu;
    if (shared->outer_ttl != 0 && shared->outer_ttl < 256) outer_ttl = shared->outer_ttl;
  }
  __u32 largest = largest_outer_datagram(skb, ip, end, overhead);
  /* Read now: the helpers below that change the packet invalidate `ip`. */
  __u8 fixed_gso = skb->gso_size != 0 && ip->protocol != IPPROTO_TCP;
  if (largest == 0 || (mtu != 0 && largest > mtu)) {
    count(MIP4_HA_PASSED_MTU);
    return TC_ACT_OK;
  }

  /* The route to the care-of address, asked before the packet is touched so that a failure
     leaves it as it came; tot_len makes the lookup check the outgoing device's MTU too. */
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.ipv4_src = source;
  fib.ipv4_dst = care_of;
  fib.tos = ip->tos;
  fib.l4_protocol = gre ? IPPROTO_GRE : IPPROTO_IPIP;
  fib.tot_len = largest;
  fib.ifindex = skb->ingress_ifindex;
  long route = bpf_fib_lookup(skb, &fib, sizeof fib, 0);
  if (route == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
    count(MIP4_HA_PASSED_MTU);
    return TC_ACT_OK;
  }
  if (route != BPF_FIB_LKUP_RET_SUCCESS && route != BPF_FIB_LKUP_RET_NO_NEIGH) {
    count(MIP4_HA_FIB_FAILED);
    return TC_ACT_OK;
  }

  /* The outer header (RFC 2003 3.1): TOS copied, DF copied from the inner header, TTL the
     agent's, protocol 4 (or 47 with the GRE header of RFC 2784 2.1 after it). */
  struct iphdr outer = {};
  outer.version = 4;
  outer.ihl = 5;
  outer.tos = ip->tos;
  outer.tot_len = bpf_htons(bpf_ntohs(ip->tot_len) + overhead);
  outer.id = (__u16)bpf_get_prandom_u32();
  outer.frag_off = ip->frag_off & bpf_htons(IP_DF);
  outer.ttl = outer_ttl;
  outer.protocol = gre ? IPPROTO_GRE : IPPROTO_IPIP;
  outer.saddr = source;
  outer.daddr = care_of;
  outer.check = ipv4_header_checksum(&outer);

  /* Inner TTL decremented with the checksum updated incrementally (RFC 1624). */
  __u16 old_word = *(__u16 *)&ip->ttl;
  __u8 new_ttl = ip->ttl - 1;
  __u16 new_word = old_word;
  *(__u8 *)&new_word = new_ttl;
  __u32 ttl_offset = sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, ttl);
  __u32 check_offset = sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, check);
  if (bpf_l3_csum_replace(skb, check_offset, old_word, new_word, 2) < 0 ||
      bpf_skb_store_bytes(skb, ttl_offset, &new_ttl, 1, 0) < 0) {
    count(MIP4_HA_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }

  __u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | (gre ? BPF_F_ADJ_ROOM_ENCAP_L4_GRE : 0);
  if (fixed_gso) flags |= BPF_F_ADJ_ROOM_FIXED_GSO;
  if (bpf_skb_adjust_room(skb, overhead, BPF_ADJ_ROOM_MAC, flags) < 0) {
    count(MIP4_HA_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }
  if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &outer, sizeof outer, 0) < 0) {
    count(MIP4_HA_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }
  if (gre) {
    /* RFC 2784 2.1: C, reserved and version 0, protocol type 0x0800; no key or sequence (RFC 2890). */
    __u32 gre_word = bpf_htonl(GRE_PROTOCOL_IPV4);
    if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + IPV4_HEADER, &gre_word, sizeof gre_word, 0) < 0) {
      count(MIP4_HA_ADJUST_FAILED);
      return TC_ACT_SHOT;
    }
  }
  count(MIP4_HA_ENCAPSULATED);
  if (route == BPF_FIB_LKUP_RET_NO_NEIGH) {
    /* The next hop's MAC is not known yet: the neighbour subsystem resolves it and sends. */
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
