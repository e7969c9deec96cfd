/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * What the two encapsulating programs (ha_encap, reverse_encap) share: the outer header's sizes
 * and fields, its checksum, and the size of the largest outer datagram a packet makes.
 */
#ifndef MIP4_ENCAP_H
#define MIP4_ENCAP_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>

#define IPV4_HEADER 20
#define GRE_HEADER 4
#define GRE_PROTOCOL_IPV4 0x0800
#define DEFAULT_OUTER_TTL 64
#define IP_DF 0x4000

/* The one's-complement checksum of a 20-byte IPv4 header (RFC 791 3.1). */
static __always_inline __u16 ipv4_header_checksum(const struct iphdr *header) {
  const __u16 *words = (const __u16 *)header;
  __u32 sum = 0;
#pragma unroll
  for (int i = 0; i < IPV4_HEADER / 2; i++) sum += words[i];
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

/*
 * The L3 length of the largest outer datagram the tunnel will carry for this packet, or 0 when
 * this program cannot size it. A plain packet: itself plus the outer header. A TCP GSO packet:
 * the kernel segments it after the outer header is added, with an MSS smaller by the overhead
 * (bpf_skb_adjust_room without BPF_F_ADJ_ROOM_FIXED_GSO), so each tunnelled segment is no
 * larger than a segment the sender built (headers + gso_size). Other GSO packets (UDP) keep
 * their segment size (FIXED_GSO: datagram boundaries must not move), so the overhead adds.
 */
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

#endif
