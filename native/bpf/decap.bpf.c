// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * decap: the tunnel exit in the kernel (tc ingress where tunnel packets to a care-of address
 * arrive: the foreign agent's interface toward the home agent, or the co-located mobile node's
 * own interface). An IP-in-IP packet (RFC 2003), or GRE with the bare 4-byte header (RFC 2784
 * 2.1), to an address in `care_of_addresses` is stripped of its outer header; then
 *   - co-located care-of address: the inner datagram goes to the local stack (RFC 5944 3.1.1);
 *   - foreign agent: the inner destination is looked up in `visitors` and the datagram is sent
 *     on the visitor link to the visitor's link-layer address, never by ARP (RFC 5944 4.2.2),
 *     its TTL decremented as a router's (RFC 1812 5.3.1).
 * Anything else goes on unchanged to the stack and the userspace data plane (raw socket for
 * protocols 4 and 47), counted per reason: inner TTL 0 (RFC 2003 3.1: discard), a visitor's
 * TTL 1 (Time Exceeded), malformed lengths, options or fragments, GRE with checksum, key or
 * sequence (RFC 2784 2.5, RFC 2890), an unknown visitor, inner broadcast or multicast, a
 * visitor's own encapsulation toward the reverse tunnel (RFC 3024 5.3).
 *   - home agent (role 2, the agent's own address): a reverse tunnel (RFC 3024 5.5) whose inner
 *     source and outer source are a current binding (`reverse_sources`, kept by the agent from
 *     its forwarding table) is stripped and its datagram enters the stack on the TUN device's
 *     ingress, as the userspace plane writes it there: the kernel routes it (one TTL decrement,
 *     RFC 2003 3.1) and reverse-path filtering sees the device the home address is routed to.
 *     Inner TTL <= 1, IGMP, broadcast/multicast, GRE the agent does not offer and pairs that are
 *     not a binding go on unchanged to the userspace plane, counted.
 * Passes return TC_ACT_UNSPEC, so a filter after this one on the hook (the home agent's
 * ha_encap) still sees them; with none after it the packet goes on as with TC_ACT_OK.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mip4_bpf.h"

#define IPV4_HEADER 20
#define GRE_HEADER 4
#define GRE_PROTOCOL_IPV4 0x0800
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define IPPROTO_IGMP_NUMBER 2
/* Unchanged, on to the next filter of the hook (or the stack when there is none). */
#define PASS TC_ACT_UNSPEC

/* Debian 12's linux/bpf.h (6.1) predates the decapsulation flag (kernel 6.3): its value. It
   tells the kernel the removed header was a tunnel's (GSO and encapsulation marks cleared); the
   kernel has no L4 counterpart, so GRE is removed with the same flag and its 24 bytes. */
#define MIP4_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u32);
} care_of_addresses SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 16);
  __type(key, __u32);
  __type(value, struct mip4_visitor);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} visitors SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 20);
  __type(key, struct mip4_binding_pair);
  __type(value, __u8);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} reverse_sources SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mip4_ha_decap_settings);
} ha_decap_settings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, MIP4_DECAP_ALL_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 reason) {
  __u64 *value = bpf_map_lookup_elem(&counters, &reason);
  if (value) *value += 1;
}

/* Whether a 20-byte IPv4 header's checksum verifies (RFC 791 3.1). */
static __always_inline int ipv4_checksum_valid(const struct iphdr *header) {
  const __u16 *words = (const __u16 *)header;
  __u32 sum = 0;
#pragma unroll
  for (int i = 0; i < IPV4_HEADER / 2; i++) sum += words[i];
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

static __always_inline int multicast_or_broadcast(__u32 destination_be) {
  __u32 destination = bpf_ntohl(destination_be);
  return (destination >> 28) == 0xe || destination == 0xffffffff;
}

/*
 * The home agent's reverse-tunnel exit, the rules of ha-plane.ts decapsulateBatch: the inner
 * source must be a home address bound to the outer source (RFC 3024 5.5); what userspace
 * answers itself (Time Exceeded through the tunnel, IGMP for the agent's multicast router,
 * multicast onto the home link, 4.4) stays userspace's. Checked lengths and checksum as above.
 */
static __always_inline int home_agent_exit(struct __sk_buff *skb, struct iphdr *outer, struct iphdr *inner, __u32 overhead, __u64 flags) {
  __u32 zero = 0;
  struct mip4_ha_decap_settings *settings = bpf_map_lookup_elem(&ha_decap_settings, &zero);
  if (!settings) return PASS;
  if (outer->protocol == IPPROTO_GRE && !(settings->flags & MIP4_REVERSE_GRE_OFFERED)) {
    count(MIP4_DECAP_PASSED_GRE_NOT_OFFERED);
    return PASS;
  }
  struct mip4_binding_pair pair = {.home_address = inner->saddr, .care_of_address = outer->saddr};
  if (!bpf_map_lookup_elem(&reverse_sources, &pair)) {
    count(MIP4_DECAP_PASSED_NOT_BOUND);
    return PASS;
  }
  if (inner->protocol == IPPROTO_IGMP_NUMBER) {
    count(MIP4_DECAP_PASSED_IGMP);
    return PASS;
  }
  if (multicast_or_broadcast(inner->daddr)) {
    count(MIP4_DECAP_PASSED_MULTICAST);
    return PASS;
  }
  __u32 device = settings->tunnel_device_ifindex;
  if (bpf_skb_adjust_room(skb, -(__s32)overhead, BPF_ADJ_ROOM_MAC, flags) < 0) {
    count(MIP4_DECAP_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }
  count(MIP4_DECAP_DELIVERED_HOME_AGENT);
  /* Into the TUN device's ingress (an L3 device: the kernel drops the Ethernet header). */
  return device == 0 ? TC_ACT_OK : bpf_redirect(device, BPF_F_INGRESS);
}

SEC("tc")
int decap(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return PASS;
  struct iphdr *outer = (void *)(eth + 1);
  if ((void *)(outer + 1) > end) return PASS;
  if (outer->protocol != IPPROTO_IPIP && outer->protocol != IPPROTO_GRE) return PASS;
  __u32 care_of = outer->daddr;
  __u32 *role = bpf_map_lookup_elem(&care_of_addresses, &care_of);
  if (!role) {
    count(MIP4_DECAP_PASSED_NOT_TUNNEL);
    return PASS;
  }
  __u32 co_located = *role == MIP4_CARE_OF_CO_LOCATED;
  __u32 home_agent = *role == MIP4_CARE_OF_HOME_AGENT;
  /* Options and fragments in the outer header are left to userspace (it reassembles). */
  if (outer->version != 4 || outer->ihl != 5 || (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET))) {
    count(MIP4_DECAP_PASSED_MALFORMED);
    return PASS;
  }
  __u32 overhead = IPV4_HEADER;
  __u64 flags = MIP4_ADJ_ROOM_DECAP_L3_IPV4;
  if (outer->protocol == IPPROTO_GRE) {
    __u32 *gre = (void *)(outer + 1);
    if ((void *)(gre + 1) > end) {
      count(MIP4_DECAP_PASSED_MALFORMED);
      return PASS;
    }
    /* RFC 2784 2.1 with every flag and the version 0, carrying IPv4: anything else (a checksum
       to verify, RFC 2890 key or sequence) is the userspace decoder's. */
    if (*gre != bpf_htonl(GRE_PROTOCOL_IPV4)) {
      count(MIP4_DECAP_PASSED_GRE_FLAGS);
      return PASS;
    }
    overhead += GRE_HEADER;
  }
  struct iphdr *inner = (void *)outer + overhead;
  if ((void *)(inner + 1) > end) {
    count(MIP4_DECAP_PASSED_MALFORMED);
    return PASS;
  }
  __u32 outer_length = bpf_ntohs(outer->tot_len);
  if (inner->version != 4 || inner->ihl != 5 || outer_length > skb->len - sizeof(struct ethhdr) ||
      bpf_ntohs(inner->tot_len) + overhead != outer_length || !ipv4_checksum_valid(inner)) {
    count(MIP4_DECAP_PASSED_MALFORMED);
    return PASS;
  }
  /* RFC 2003 3.1: an inner TTL of 0 after decapsulation is discarded; for a visitor the foreign
     agent forwards as a router, so 1 would expire here (Time Exceeded): both userspace's. */
  if (inner->ttl == 0 || (!co_located && inner->ttl == 1)) {
    count(MIP4_DECAP_PASSED_TTL);
    return PASS;
  }

  if (co_located) {
    if (bpf_skb_adjust_room(skb, -(__s32)overhead, BPF_ADJ_ROOM_MAC, flags) < 0) {
      count(MIP4_DECAP_ADJUST_FAILED);
      return TC_ACT_SHOT;
    }
    count(MIP4_DECAP_DELIVERED_LOCALLY);
    return TC_ACT_OK;
  }

  if (home_agent) return home_agent_exit(skb, outer, inner, overhead, flags);

  /* A datagram a visitor encapsulated itself (RFC 3024 5.3, encapsulating delivery) is for
     the reverse tunnel, which is userspace's (runtime/dataplane/fa-plane.ts). */
  if (inner->saddr == outer->saddr) {
    count(MIP4_DECAP_PASSED_VISITOR_ENCAPSULATED);
    return PASS;
  }
  __u32 home = inner->daddr;
  if (multicast_or_broadcast(home)) {
    count(MIP4_DECAP_PASSED_MULTICAST);
    return PASS;
  }
  struct mip4_visitor *visitor = bpf_map_lookup_elem(&visitors, &home);
  if (!visitor) {
    count(MIP4_DECAP_PASSED_UNKNOWN_VISITOR);
    return PASS;
  }
  __u32 ifindex = visitor->ifindex;
  struct ethhdr link = {.h_proto = bpf_htons(ETH_P_IP)};
  __builtin_memcpy(link.h_dest, visitor->visitor_mac, ETH_ALEN);
  __builtin_memcpy(link.h_source, visitor->own_mac, ETH_ALEN);

  /* The inner TTL decremented (RFC 1812 5.3.1) with the checksum updated (RFC 1624). */
  __u16 old_word = *(__u16 *)&inner->ttl;
  __u8 new_ttl = inner->ttl - 1;
  __u16 new_word = old_word;
  *(__u8 *)&new_word = new_ttl;
  __u32 inner_start = sizeof(struct ethhdr) + overhead;
  if (bpf_l3_csum_replace(skb, inner_start + __builtin_offsetof(struct iphdr, check), old_word, new_word, 2) < 0 ||
      bpf_skb_store_bytes(skb, inner_start + __builtin_offsetof(struct iphdr, ttl), &new_ttl, 1, 0) < 0 ||
      bpf_skb_adjust_room(skb, -(__s32)overhead, BPF_ADJ_ROOM_MAC, flags) < 0 ||
      bpf_skb_store_bytes(skb, 0, &link, sizeof link, 0) < 0) {
    count(MIP4_DECAP_ADJUST_FAILED);
    return TC_ACT_SHOT;
  }
  count(MIP4_DECAP_DELIVERED_VISITOR);
  return bpf_redirect(ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
