/*
 * What the tc-BPF programs (the .bpf.c files beside this one) and their loader's users share: the layouts of
 * the maps' values and the indexes of the per-CPU counters. io/linux/bpf.ts mirrors every
 * number here (test/linux/bpf-maps.test.ts reads them back through the maps). Addresses are
 * in network order, as they sit in the packet, so the programs compare without swapping.
 */
#ifndef MIP4_BPF_H
#define MIP4_BPF_H

#include <linux/types.h>

/* home_bindings value: where the home agent tunnels a home address's datagrams. */
struct mip4_home_binding {
  __u32 care_of_address;  /* outer destination */
  __u32 tunnel_source;    /* outer source: the home agent's address */
  __u16 tunnel_mtu;       /* 0: the settings' (or only the route's) MTU */
  __u8 encapsulation;     /* MIP4_ENCAP_* */
  __u8 flags;             /* reserved, 0 */
};

enum { MIP4_ENCAP_IPIP = 1, MIP4_ENCAP_GRE = 2 };

/* settings[0]: what every binding shares. */
struct mip4_settings {
  __u32 tunnel_mtu;  /* largest outer datagram; 0: the route's MTU alone */
  __u32 outer_ttl;   /* 0: 64 */
};

/* care_of_addresses value: what a local care-of address's tunnel exit does. */
enum { MIP4_CARE_OF_FOREIGN_AGENT = 0, MIP4_CARE_OF_CO_LOCATED = 1 };

/* visitors value: the visitor link and both link-layer addresses (RFC 5944 4.2.2). */
struct mip4_visitor {
  __u32 ifindex;
  __u8 visitor_mac[6];
  __u8 own_mac[6];
};

/* Counter indexes of ha_encap's `counters` (per-CPU array). */
enum {
  MIP4_HA_ENCAPSULATED = 0,
  MIP4_HA_PASSED_UNKNOWN = 1,    /* no binding for the destination */
  MIP4_HA_PASSED_TTL = 2,        /* TTL <= 1: the Time Exceeded is userspace's */
  MIP4_HA_PASSED_MTU = 3,        /* too big for the tunnel: PMTU is userspace's (RFC 2003 5.1) */
  MIP4_HA_PASSED_MULTICAST = 4,  /* broadcast or multicast: nested copies are userspace's (4.3) */
  MIP4_HA_PASSED_MALFORMED = 5,  /* version, header or total length that do not hold together */
  MIP4_HA_FIB_FAILED = 6,        /* no route to the care-of address from here */
  MIP4_HA_ADJUST_FAILED = 7,     /* the kernel refused the room: dropped (the packet was changed) */
  MIP4_HA_NOT_IPV4 = 8,          /* not IPv4 at all: the program's business ends there */
  MIP4_HA_PASSED_LOOP_CHECK = 9, /* source the agent or the tunnel exit, or already tunnelled (RFC 2003 3.2, 4.2.3) */
  MIP4_HA_COUNTERS = 10
};

/* Counter indexes of decap's `counters` (per-CPU array). */
enum {
  MIP4_DECAP_DELIVERED_LOCALLY = 0,   /* co-located care-of address: decapsulated, to the stack */
  MIP4_DECAP_DELIVERED_VISITOR = 1,   /* decapsulated and sent to the visitor's MAC */
  MIP4_DECAP_PASSED_NOT_TUNNEL = 2,   /* not IP in IP / GRE to a listed care-of address */
  MIP4_DECAP_PASSED_MALFORMED = 3,    /* lengths, options, fragments, inner checksum */
  MIP4_DECAP_PASSED_TTL = 4,          /* inner TTL 0 (discard) or, for a visitor, 1 (Time Exceeded) */
  MIP4_DECAP_PASSED_UNKNOWN_VISITOR = 5,
  MIP4_DECAP_PASSED_GRE_FLAGS = 6,    /* GRE with checksum, key, sequence or another version */
  MIP4_DECAP_ADJUST_FAILED = 7,       /* the kernel refused to shrink: dropped */
  MIP4_DECAP_PASSED_MULTICAST = 8,    /* inner broadcast/multicast for a visitor: userspace's */
  MIP4_DECAP_PASSED_VISITOR_ENCAPSULATED = 9, /* outer source = inner source: a visitor's own reverse tunnel (RFC 3024 5.3) */
  MIP4_DECAP_COUNTERS = 10
};

/* Appended for the home agent's reverse-tunnel exit (issue 17, RFC 3024 at the HA). */

/* care_of_addresses role: the home agent's own address, where reverse tunnels end (RFC 3024 5.5). */
enum { MIP4_CARE_OF_HOME_AGENT = 2 };

/* reverse_sources key: a current binding, home address and care-of address (the outer source
   the home agent accepts for that home, RFC 3024 5.5 / ha-plane.ts decapsulateBatch). */
struct mip4_binding_pair {
  __u32 home_address;
  __u32 care_of_address;
};

/* ha_decap_settings[0]: what the home-agent role needs. */
struct mip4_ha_decap_settings {
  __u32 tunnel_device_ifindex; /* the TUN device: inner datagrams enter the stack there; 0: where they arrived */
  __u32 flags;                 /* MIP4_REVERSE_* */
};

#define MIP4_REVERSE_GRE_OFFERED 1

/* decap counter indexes appended after MIP4_DECAP_PASSED_VISITOR_ENCAPSULATED (9): the
   home-agent role. MIP4_DECAP_COUNTERS above stays the count of the first ten. */
enum {
  MIP4_DECAP_DELIVERED_HOME_AGENT = 10, /* reverse tunnel decapsulated, inner datagram into the TUN device's ingress */
  MIP4_DECAP_PASSED_NOT_BOUND = 11,     /* inner source / outer source not a current binding: userspace counts and drops */
  MIP4_DECAP_PASSED_IGMP = 12,          /* IGMP through the tunnel: the agent's multicast router is userspace's (4.4) */
  MIP4_DECAP_PASSED_GRE_NOT_OFFERED = 13
};
#define MIP4_DECAP_ALL_COUNTERS 14

/* reverse_tunnels value (RFC 3024): keyed by the inner SOURCE, the mobile node's home address. */
struct mip4_reverse_tunnel {
  __u32 outer_source;       /* the care-of address */
  __u32 outer_destination;  /* the home agent */
  __u8 encapsulation;       /* MIP4_ENCAP_* */
  __u8 flags;               /* MIP4_REVERSE_* */
  __u16 reserved;           /* 0 */
};

/* The tunnel entry forwards (a foreign agent: inner TTL decremented, RFC 2003 3.1); without it the
   node originates the datagram (a co-located mobile node: TTL kept). */
enum { MIP4_REVERSE_FORWARDS = 1 };

/* Counter indexes of reverse_encap's `counters` (per-CPU array). */
enum {
  MIP4_REV_ENCAPSULATED = 0,
  MIP4_REV_PASSED_UNKNOWN = 1,    /* no reverse tunnel for the source */
  MIP4_REV_PASSED_TTL = 2,        /* TTL <= 1 when forwarding (0 when originating): userspace's */
  MIP4_REV_PASSED_MTU = 3,        /* too big for the tunnel: userspace's (RFC 2003 5.1) */
  MIP4_REV_PASSED_MULTICAST = 4,  /* broadcast or multicast: userspace's rules (RFC 3024 5.1, 5.4) */
  MIP4_REV_PASSED_MALFORMED = 5,
  MIP4_REV_FIB_FAILED = 6,        /* no route to the home agent */
  MIP4_REV_ADJUST_FAILED = 7,     /* the kernel refused the room: dropped */
  MIP4_REV_NOT_IPV4 = 8,          /* ARP and the rest */
  MIP4_REV_PASSED_CONTROL = 9,    /* UDP 434: Mobile IP control messages are the agent's */
  MIP4_REV_PASSED_LOCAL = 10,     /* to this host, or on the link it came from */
  MIP4_REV_PASSED_TUNNELLED = 11, /* already encapsulated (protocol 4, 47, 55): the encapsulating style's */
  MIP4_REV_COUNTERS = 12
};

/* skb->mark of a datagram reverse_encap returned to the visitor link's ingress after a route
   lookup turned it back (MTU, no route, a neighbour on the link): the packet socket's filter
   lets it through to userspace this time, and reverse_encap passes it on unchanged (clearing the mark). */
#define MIP4_REVERSE_RETURNED_MARK 0x6d697034

#endif
