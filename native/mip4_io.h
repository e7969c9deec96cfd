/*
 * mip4_io internal header: what the helper's sources share (see mip4_io.c for the whole and
 * the file map). Nothing here is exported from the addon but the init in mip4_io.c; the
 * functions are hidden so that no other shared object can interpose on them.
 */
#ifndef MIP4_IO_H
#define MIP4_IO_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define MIP4_INTERNAL __attribute__((visibility("hidden")))

#define MAX_BATCH 1024

/* Descriptor kinds, shared with io/linux/native.ts. */
enum { KIND_TUN = 0, KIND_PACKET = 1, KIND_RAW_IP = 2, KIND_UDP = 3 };

/* Int32 words per packet in a reader's metadata array: offset, length, source, extra,
   destination (UDP only: the address the datagram was sent to, from IP_PKTINFO). */
#define META_WORDS 5

/* Bits of an AF_PACKET packet's extra word above sll_pkttype (shared with io/linux/native.ts). */
#define EXTRA_TRUNCATED 0x100
#define EXTRA_CHECKSUM_NOT_READY 0x200

/* ---------------------------------------------------------------- errors and arguments (args.c) */

MIP4_INTERNAL napi_value errno_error(napi_env env, int error, const char *operation, const char *subject);
MIP4_INTERNAL void throw_errno(napi_env env, int error, const char *operation, const char *subject);
MIP4_INTERNAL void throw_type(napi_env env, const char *message);
MIP4_INTERNAL void throw_range(napi_env env, const char *message);

/* Room for every function's arguments (sendUdpBatch has the most). */
#define MAX_ARGS 9
MIP4_INTERNAL int args_read(napi_env env, napi_callback_info info, napi_value *argv, size_t required, const char *usage);
MIP4_INTERNAL napi_valuetype arg_type(napi_env env, napi_value value);
MIP4_INTERNAL int arg_int32(napi_env env, napi_value value, int32_t *out, const char *what);
MIP4_INTERNAL int arg_bool(napi_env env, napi_value value, bool *out, const char *what);
MIP4_INTERNAL int arg_function(napi_env env, napi_value value, const char *what);
MIP4_INTERNAL bool valid_interface_name(const char *name, size_t length);
MIP4_INTERNAL int arg_name(napi_env env, napi_value value, char *buffer, size_t size, const char *what);
MIP4_INTERNAL int arg_typed(napi_env env, napi_value value, napi_typedarray_type expected, void **data, size_t *length,
                            const char *what);
MIP4_INTERNAL bool option_flag(napi_env env, napi_value options, const char *name);
MIP4_INTERNAL int option_int32(napi_env env, napi_value options, const char *name, int32_t *out, const char *what);
MIP4_INTERNAL int option_name(napi_env env, napi_value options, const char *name, char *buffer, size_t size,
                              const char *what);

MIP4_INTERNAL napi_value make_int32(napi_env env, int32_t value);
MIP4_INTERNAL void set_number(napi_env env, napi_value object, const char *name, double value);
MIP4_INTERNAL napi_value make_handle(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag, int *made);
MIP4_INTERNAL void *arg_handle(napi_env env, napi_value value, const napi_type_tag *tag, const char *what);

/* ---------------------------------------------------------------- batched UDP sends (sockets.c, udp-gso.c) */

/* The arguments sendUdpBatch and sendUdpSegmented share: (fd, slab, offsets, lengths, addresses, ports, first,
   count[, sources]); datagram i (first <= i < count) is slab[offsets[i] .. + lengths[i]) to addresses[i]:ports[i]. */
typedef struct {
  int32_t fd, first, count;
  size_t slab_length;
  const uint8_t *slab;
  const int32_t *offsets, *lengths, *ports;
  const uint32_t *addresses;
  const uint32_t *sources; /* NULL when not given */
} udp_batch_args_t;

/* Reads and checks them (every datagram inside the slab, ports 0..65535); on failure throws, naming `name`. */
MIP4_INTERNAL bool udp_batch_args_read(napi_env env, napi_callback_info info, const char *name, udp_batch_args_t *out);

/* ---------------------------------------------------------------- TUN offloads (tun.c) */

/* Newer than some installed kernel headers: UDP segmentation offload (Linux 6.2). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define VNET_HEADER_SIZE sizeof(struct virtio_net_hdr)
/* The largest packet a TUN hands over: a GSO packet of up to 64 KiB (gso_max_size) plus headers. */
#define OFFLOAD_MAX_PACKET (65536 + 256)

typedef struct offload_counters {
  double super_packets;      /* GSO packets read and segmented */
  double segments;           /* segments made from them */
  double checksums_completed; /* non-GSO packets whose partial checksum was completed */
  double dropped;            /* unusable: malformed, unknown GSO type, non-IPv4 GSO, too large; or
                                the rest of a super-packet whose reader stopped */
} offload_counters_t;

struct reader;

typedef struct tun_offload {
  unsigned int flags;        /* the TUN_F_* flags the kernel accepted */
  struct reader *reader;     /* the reader running on this descriptor, NULL when none */
  struct virtio_net_hdr header;
  uint8_t *scratch;          /* a super-packet being segmented, contiguous */
  size_t scratch_size;
  /* The pending super-packet (length 0: none). */
  size_t pending_length, pending_header_length, pending_next_offset;
  uint32_t pending_index;
  uint16_t pending_gso_size;
  uint8_t pending_tcp;
  int32_t pending_source, pending_extra; /* meta words 2 and 3 of its segments */
  /* Bytes before the IPv4 header in what the descriptor yields: 0 on a TUN, 14 on an AF_PACKET
     socket of an Ethernet interface (csum_start counts them too). */
  size_t link_length;
  offload_counters_t counters;
} tun_offload_t;

MIP4_INTERNAL tun_offload_t *offload_for(int fd);
MIP4_INTERNAL void offload_forget(int fd);
MIP4_INTERNAL tun_offload_t *offload_create(size_t scratch_size);
MIP4_INTERNAL int offload_remember(int fd, tun_offload_t *offload);
MIP4_INTERNAL int offload_drain(int fd, int kind, tun_offload_t *offload, uint8_t *slab, size_t slot_size, int max_packets,
                                int32_t *meta);
MIP4_INTERNAL ssize_t offload_write(int fd, const uint8_t *packet, size_t length);
MIP4_INTERNAL tun_offload_t *offload_for_reader(int fd, size_t slot_size, int *failed);

/* ---------------------------------------------------------------- batched reader (reader.c) */

typedef struct reader {
  uv_poll_t poll;
  napi_env env;
  int fd;
  int kind;
  int max_packets;
  size_t slot_size;
  uint8_t *slab;
  int32_t *meta;
  napi_ref slab_ref;     /* keeps the slab's ArrayBuffer alive while we write into it */
  napi_ref meta_ref;
  napi_ref callback_ref;
  napi_async_context async_context;
  int stopped;     /* stopReader or a fatal error: no more callbacks */
  int closed;      /* uv_close finished */
  int finalized;   /* the JS handle object was collected */
  int in_callback;
  /* Scratch for recvmmsg, sized for max_packets. */
  struct mmsghdr *messages;
  struct iovec *vectors;
  union {
    struct sockaddr_in in;
    struct sockaddr_ll ll;
  } *addresses;
  /* AF_PACKET only: one control buffer per message for the PACKET_AUXDATA cmsg. */
  uint8_t *controls;
  /* TUN opened with offloads only (owned by the descriptor, see "TUN offloads" in tun.c). */
  tun_offload_t *offload;
} reader_t;

/* Room for one tpacket_auxdata cmsg (the only one PACKET_AUXDATA adds). */
#define AUX_CONTROL_SIZE CMSG_SPACE(sizeof(struct tpacket_auxdata))

MIP4_INTERNAL void offload_detach_reader(reader_t *reader);
/* The KIND_UDP part of the reader's drain (sockets.c). */
MIP4_INTERNAL int udp_drain(reader_t *reader);

/* ---------------------------------------------------------------- exported functions */

#define MIP4_FUNCTION(name) MIP4_INTERNAL napi_value name(napi_env env, napi_callback_info info)
/* tun.c */
MIP4_FUNCTION(open_tun);
MIP4_FUNCTION(tun_offload_counters);
MIP4_FUNCTION(segment_offloaded);
/* reader.c */
MIP4_FUNCTION(start_reader);
MIP4_FUNCTION(stop_reader);
MIP4_FUNCTION(ref_reader);
/* sockets.c */
MIP4_FUNCTION(open_packet);
MIP4_FUNCTION(open_raw_ip);
MIP4_FUNCTION(close_fd);
MIP4_FUNCTION(send_batch);
MIP4_FUNCTION(open_udp);
MIP4_FUNCTION(send_udp_batch);
/* socket-buffers.c */
MIP4_FUNCTION(set_socket_buffers);
MIP4_FUNCTION(socket_drops);
/* udp-gso.c */
MIP4_FUNCTION(send_udp_segmented);
MIP4_FUNCTION(udp_segment_supported);
MIP4_FUNCTION(watch_writable);
MIP4_FUNCTION(arm_writable);
MIP4_FUNCTION(stop_writable);
/* links.c */
MIP4_FUNCTION(open_netlink);
MIP4_FUNCTION(route_change);
MIP4_FUNCTION(route_list);
MIP4_FUNCTION(set_link_up);
MIP4_FUNCTION(set_mtu);
MIP4_FUNCTION(interface_index);
/* link-events.c */
MIP4_FUNCTION(watch_link_events);
MIP4_FUNCTION(stop_link_events);
MIP4_FUNCTION(ref_link_events);

#endif
