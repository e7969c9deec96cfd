/*
 * mip4_io: the small native helper behind io/linux.
 *
 * Node has no TUN devices, AF_PACKET sockets or raw IPv4 sockets, and the data plane must
 * move packets in batches (perf-limits.md: one JS call per batch of up to 64 packets makes
 * Node as fast as a batched C tunnel). So this addon does only what JS cannot:
 *
 *   - open the four kinds of descriptor (TUN, AF_PACKET, raw IPv4, UDP), non-blocking;
 *   - watch a descriptor with uv_poll on Node's own event loop and, on each readiness,
 *     drain up to maxPackets packets (recvmmsg for sockets, read() for TUN) into a slab the
 *     caller owns and reuses, then call JS once with the count; per-packet offsets, lengths
 *     and source addresses go into an Int32Array the caller also owns (no allocation per
 *     batch);
 *   - write a batch (sendmmsg for sockets, write() for TUN) without ever blocking;
 *   - optionally take TUN offloads (IFF_VNET_HDR, TUNSETOFFLOAD) and undo them in the reader,
 *     so that callers still see MTU-sized IPv4 packets ("TUN offloads" below);
 *   - set an interface's MTU (SIOCSIFMTU);
 *   - add and remove host routes and bring a device up over rtnetlink (the home agent routes
 *     each away mobile node's home address into its TUN device), one request and its ack per
 *     call: the kernel answers an rtnetlink request inside the sendmsg that carries it.
 *
 * No threads, no blocking calls on the event loop. Errors are JS Errors whose `code` is the
 * errno name and whose message names the operation and the interface.
 */
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

#define MAX_BATCH 1024

/* Descriptor kinds, shared with io/linux/native.ts. */
enum { KIND_TUN = 0, KIND_PACKET = 1, KIND_RAW_IP = 2, KIND_UDP = 3 };

/* Int32 words per packet in a reader's metadata array: offset, length, source, extra,
   destination (UDP only: the address the datagram was sent to, from IP_PKTINFO). */
#define META_WORDS 5

/* ---------------------------------------------------------------- errors */

static const char *errno_name(int error) {
  switch (error) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case EPIPE: return "EPIPE";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case ESRCH: return "ESRCH";
    case ERANGE: return "ERANGE";
    case ENOBUFS: return "ENOBUFS";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EHOSTDOWN: return "EHOSTDOWN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOTSUP: return "ENOTSUP";
    case ENOTTY: return "ENOTTY";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    default: return "EUNKNOWN";
  }
}

/* An Error with `code` = errno name and `errno` = the number. */
static napi_value errno_error(napi_env env, int error, const char *operation, const char *subject) {
  char message[256];
  if (subject != NULL && subject[0] != '\0')
    snprintf(message, sizeof message, "%s %s: %s (%s)", operation, subject, strerror(error), errno_name(error));
  else
    snprintf(message, sizeof message, "%s: %s (%s)", operation, strerror(error), errno_name(error));
  napi_value code, text, err, number;
  napi_create_string_utf8(env, errno_name(error), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &err);
  napi_create_int32(env, error, &number);
  napi_set_named_property(env, err, "errno", number);
  napi_set_named_property(env, err, "syscall", text);
  return err;
}

/* Throws errno_error(...). */
static void throw_errno(napi_env env, int error, const char *operation, const char *subject) {
  napi_throw(env, errno_error(env, error, operation, subject));
}

static void throw_type(napi_env env, const char *message) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message); }

/* ---------------------------------------------------------------- argument helpers */

static int arg_int32(napi_env env, napi_value value, int32_t *out, const char *what) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    throw_type(env, what);
    return 0;
  }
  return 1;
}

/*
 * The interface-name rule of io/interface-name.ts, on the UTF-8 bytes N-API hands over (always
 * well-formed): 1-15 bytes, no NUL inside (`length` is what N-API wrote, a shorter strlen means
 * one), not "." or "..", no C0/DEL/C1 control, no whitespace (ASCII or Unicode), none of
 * # ' " / \ :, no U+FFFD (a lone surrogate's encoding). The kernel checks less ('/', ':',
 * whitespace); names also reach iproute2, sysfs paths and logs.
 */
static bool valid_interface_name(const char *name, size_t length) {
  if (length == 0 || length >= IFNAMSIZ || strlen(name) != length) return false;
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return false;
  const unsigned char *b = (const unsigned char *)name;
  for (size_t i = 0; i < length; i++) {
    unsigned char c = b[i];
    if (c < 0x20 || c == 0x7f || c == ' ' || strchr("#'\"/\\:", c) != NULL) return false;
    size_t left = length - i;
    if (c == 0xc2 && left >= 2 && b[i + 1] >= 0x80 && b[i + 1] <= 0xa0) return false; /* C1, U+00A0 */
    if (left < 3) continue;
    unsigned char d = b[i + 1], e = b[i + 2];
    if (c == 0xe1 && d == 0x9a && e == 0x80) return false;                                       /* U+1680 */
    if (c == 0xe2 && d == 0x80 && ((e >= 0x80 && e <= 0x8a) || e == 0xa8 || e == 0xa9 || e == 0xaf)) return false;
    if (c == 0xe2 && d == 0x81 && e == 0x9f) return false;                                       /* U+205F */
    if (c == 0xe3 && d == 0x80 && e == 0x80) return false;                                       /* U+3000 */
    if (c == 0xef && ((d == 0xbb && e == 0xbf) || (d == 0xbf && e == 0xbd))) return false;      /* U+FEFF, U+FFFD */
  }
  return true;
}

/* Reads a string argument into `buffer` (truncated names are rejected: IFNAMSIZ). */
static int arg_name(napi_env env, napi_value value, char *buffer, size_t size, const char *what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, buffer, size, &length) != napi_ok) {
    throw_type(env, what);
    return 0;
  }
  if (length == 0 || length >= size - 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "interface names are 1 to 15 bytes long");
    return 0;
  }
  if (!valid_interface_name(buffer, length)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "invalid interface name (see io/interface-name.ts for the rule)");
    return 0;
  }
  return 1;
}

/*
 * Gets the bytes of any TypedArray (Uint8Array slab, Int32Array/Uint32Array views). One backed
 * by a SharedArrayBuffer is refused: another thread could change an offset or a length between
 * the check here and its use, or the memory while the kernel writes into it.
 */
static int arg_typed(napi_env env, napi_value value, napi_typedarray_type expected, void **data, size_t *length,
                     const char *what) {
  bool is_typed = false, unshared = false;
  napi_typedarray_type type;
  napi_value buffer;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, data, &buffer, NULL) != napi_ok) {
    throw_type(env, what);
    return 0;
  }
  /* napi_is_arraybuffer is false for a SharedArrayBuffer. */
  if (napi_is_arraybuffer(env, buffer, &unshared) != napi_ok || !unshared) {
    char message[192];
    snprintf(message, sizeof message, "%s (not one backed by a SharedArrayBuffer)", what);
    throw_type(env, message);
    return 0;
  }
  /* Int32 and Uint32 share a layout; Uint8 covers Buffer too. */
  int ok = type == expected || (expected == napi_int32_array && type == napi_uint32_array) ||
           (expected == napi_uint32_array && type == napi_int32_array);
  if (!ok) {
    throw_type(env, what);
    return 0;
  }
  return 1;
}

static napi_value make_int32(napi_env env, int32_t value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

/* Type tags of the two handle kinds: an external alone does not say what it points to, and a
   watch taken for a reader (or the other way round) would be written through as the wrong struct. */
static const napi_type_tag READER_TAG = {0x6d697034696f7264ULL, 0x8c1f0e5a3b7d4c21ULL};
static const napi_type_tag WATCH_TAG = {0x6d697034696f7774ULL, 0x2e94b6d0f15a7c03ULL};

/*
 * An external carrying `data`, tagged; NULL (with a pending exception) on failure. *made says
 * whether the external exists, i.e. whether `finalize` will still run for `data`.
 */
static napi_value make_handle(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag, int *made) {
  napi_value handle;
  *made = 0;
  if (napi_create_external(env, data, finalize, NULL, &handle) != napi_ok) {
    napi_throw_error(env, NULL, "mip4_io: cannot create a handle");
    return NULL;
  }
  *made = 1;
  if (napi_type_tag_object(env, handle, tag) != napi_ok) {
    napi_throw_error(env, NULL, "mip4_io: cannot type-tag a handle");
    return NULL;
  }
  return handle;
}

/* The struct behind a handle made by make_handle with `tag`; NULL and a TypeError otherwise. */
static void *arg_handle(napi_env env, napi_value value, const napi_type_tag *tag, const char *what) {
  napi_valuetype type = napi_undefined;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external ||
      napi_check_object_type_tag(env, value, tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    throw_type(env, what);
    return NULL;
  }
  return data;
}

/* ---------------------------------------------------------------- TUN offloads (IFF_VNET_HDR) */

/*
 * A TUN device opened with IFF_VNET_HDR and TUNSETOFFLOAD lets the kernel hand over what it
 * would otherwise cut up or checksum itself: a forwarded TCP stream arrives as GSO
 * super-packets of up to 64 KiB (one read instead of ~45), and transport checksums may be left
 * partial (CHECKSUM_PARTIAL: the field holds only the pseudo-header sum). Every read then
 * starts with a struct virtio_net_hdr saying which.
 *
 * The data plane must keep seeing ordinary IPv4 datagrams of at most the device MTU (it
 * tunnels each one, RFC 5944 4.1, and the tunnel does not fragment, RFC 2003 5.1), so the
 * reader undoes the offloads here, at the IO edge: a super-packet is cut into gso_size
 * segments with their own IPv4 header (total length, identification + i, header checksum) and
 * transport header (TCP: sequence number + i * gso_size, FIN and PSH on the last segment only,
 * CWR on the first only, as the kernel's own tcp_gso_segment; UDP: length), each with a full
 * transport checksum; a partial checksum is completed (csum_start/csum_offset). Writes carry a
 * zeroed header (no offload asked of the kernel). A super-packet with more segments than the
 * batch has room for is kept and finished in the next callbacks of the same wakeup; when its
 * reader stops first, the rest is dropped (counted), since the next reader's slots may be smaller.
 *
 * Offload state lives per descriptor (opened by openTun, freed by close), so the shared reader
 * and writer only ask offload_for(fd).
 */
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
  offload_counters_t counters;
} tun_offload_t;

static tun_offload_t **offload_by_fd = NULL;
static size_t offload_fd_capacity = 0;

static tun_offload_t *offload_for(int fd) {
  return fd >= 0 && (size_t)fd < offload_fd_capacity ? offload_by_fd[fd] : NULL;
}

static void offload_detach_reader(struct reader *reader);

static void offload_forget(int fd) {
  tun_offload_t *offload = offload_for(fd);
  if (offload == NULL) return;
  offload_by_fd[fd] = NULL;
  /* Closed under a running reader (stopReader should come first): the reader must not keep a
     pointer into the state freed here. */
  if (offload->reader != NULL) offload_detach_reader(offload->reader);
  free(offload->scratch);
  free(offload);
}

static tun_offload_t *offload_create(size_t scratch_size) {
  tun_offload_t *offload = calloc(1, sizeof *offload);
  if (offload == NULL) return NULL;
  offload->scratch = malloc(scratch_size);
  if (offload->scratch == NULL) {
    free(offload);
    return NULL;
  }
  offload->scratch_size = scratch_size;
  return offload;
}

/* Registers fd's offload state; returns 0 or an errno. */
static int offload_remember(int fd, tun_offload_t *offload) {
  if ((size_t)fd >= offload_fd_capacity) {
    size_t capacity = offload_fd_capacity == 0 ? 64 : offload_fd_capacity;
    while (capacity <= (size_t)fd) capacity *= 2;
    tun_offload_t **grown = realloc(offload_by_fd, capacity * sizeof *grown);
    if (grown == NULL) return ENOMEM;
    memset(grown + offload_fd_capacity, 0, (capacity - offload_fd_capacity) * sizeof *grown);
    offload_by_fd = grown;
    offload_fd_capacity = capacity;
  }
  offload_by_fd[fd] = offload;
  return 0;
}

/*
 * Asks the kernel for checksum and TCP/UDP segmentation offload on a TUN opened with
 * IFF_VNET_HDR; returns the accepted TUN_F_* flags or -errno. IPv6 TSO is not asked for (the
 * home agent routes only IPv4 into its device); USO exists only as USO4 + USO6 together, and
 * older kernels refuse it (EINVAL), so it is tried first and dropped when refused.
 */
static int offload_enable(int fd) {
  unsigned int with_uso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6;
  unsigned int without_uso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN;
  if (ioctl(fd, TUNSETOFFLOAD, with_uso) == 0) return (int)with_uso;
  if (errno != EINVAL) return -errno;
  if (ioctl(fd, TUNSETOFFLOAD, without_uso) == 0) return (int)without_uso;
  return -errno;
}

/* Ones' complement sum of bytes (RFC 1071), in native order: fold and store natively. */
static uint64_t checksum_add(uint64_t sum, const uint8_t *data, size_t length) {
  while (length >= 4) {
    uint32_t word;
    memcpy(&word, data, 4);
    sum += word;
    data += 4;
    length -= 4;
  }
  if (length >= 2) {
    uint16_t half;
    memcpy(&half, data, 2);
    sum += half;
    data += 2;
    length -= 2;
  }
  if (length == 1) {
    uint8_t last[2] = {data[0], 0};
    uint16_t half;
    memcpy(&half, last, 2);
    sum += half;
  }
  return sum;
}

static uint16_t checksum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t *at, uint16_t value) {
  at[0] = (uint8_t)(value >> 8);
  at[1] = (uint8_t)value;
}

static uint16_t get16(const uint8_t *at) { return (uint16_t)((at[0] << 8) | at[1]); }

/* The IPv4 header checksum (RFC 791) of the header at `ip`. */
static void ipv4_header_checksum(uint8_t *ip, size_t header_length) {
  ip[10] = ip[11] = 0;
  uint16_t checksum = checksum_fold(checksum_add(0, ip, header_length));
  memcpy(ip + 10, &checksum, 2);
}

/* The TCP or UDP checksum over the IPv4 pseudo-header and `transport` (RFC 793 3.1, RFC 768). */
static void transport_checksum(const uint8_t *ip, uint8_t *transport, size_t length, uint8_t protocol,
                               size_t checksum_at) {
  uint8_t pseudo[12];
  memcpy(pseudo, ip + 12, 8);
  pseudo[8] = 0;
  pseudo[9] = protocol;
  put16(pseudo + 10, (uint16_t)length);
  transport[checksum_at] = transport[checksum_at + 1] = 0;
  uint16_t checksum = checksum_fold(checksum_add(checksum_add(0, pseudo, sizeof pseudo), transport, length));
  /* UDP sends a computed zero as all ones: zero means "no checksum" (RFC 768). */
  if (checksum == 0 && protocol == IPPROTO_UDP) checksum = 0xffff;
  memcpy(transport + checksum_at, &checksum, 2);
}

/*
 * Completes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the ones' complement sum from
 * csum_start to the end, the field included (it holds the pseudo-header sum), stored at
 * csum_start + csum_offset. Returns 0 when the offsets lie outside the packet.
 */
static int offload_complete_checksum(uint8_t *packet, size_t length, const struct virtio_net_hdr *header) {
  size_t start = header->csum_start, at = (size_t)header->csum_start + header->csum_offset;
  if (start >= length || at + 2 > length) return 0;
  uint16_t checksum = checksum_fold(checksum_add(0, packet + start, length - start));
  int udp = length >= 20 && (packet[0] >> 4) == 4 && packet[9] == IPPROTO_UDP && at == (size_t)(packet[0] & 0x0f) * 4 + 6;
  if (checksum == 0 && udp) checksum = 0xffff;
  memcpy(packet + at, &checksum, 2);
  return 1;
}

/*
 * Checks the super-packet in offload->scratch (`length` bytes, header in offload->header) and
 * makes it pending. Returns 0 when it cannot be segmented here (counted as dropped by the caller).
 */
static int offload_prepare(tun_offload_t *offload, size_t length, size_t slot_size) {
  const uint8_t *ip = offload->scratch;
  unsigned int type = offload->header.gso_type & (unsigned int)~VIRTIO_NET_HDR_GSO_ECN;
  int tcp = type == VIRTIO_NET_HDR_GSO_TCPV4;
  if (!tcp && type != VIRTIO_NET_HDR_GSO_UDP_L4) return 0; /* TCPv6, UFO: never asked for */
  if (length < 20 || (ip[0] >> 4) != 4) return 0;          /* USO may bring IPv6: not ours */
  size_t ip_length = (size_t)(ip[0] & 0x0f) * 4;
  if (ip_length < 20 || (get16(ip + 6) & 0x3fff) != 0) return 0; /* a fragment cannot be a GSO packet */
  if (ip[9] != (tcp ? IPPROTO_TCP : IPPROTO_UDP)) return 0;
  size_t transport_length = tcp ? (ip_length + 13 <= length ? (size_t)(ip[ip_length + 12] >> 4) * 4 : 0) : 8;
  if (transport_length < 8 || (tcp && transport_length < 20)) return 0;
  size_t header_length = ip_length + transport_length;
  uint16_t gso_size = offload->header.gso_size;
  if (header_length > length || gso_size == 0 || header_length + gso_size > slot_size) return 0;
  offload->pending_length = length;
  offload->pending_header_length = header_length;
  offload->pending_next_offset = header_length;
  offload->pending_index = 0;
  offload->pending_gso_size = gso_size;
  offload->pending_tcp = (uint8_t)tcp;
  offload->counters.super_packets++;
  return 1;
}

/* Writes the pending super-packet's next segments into slots count.. of the slab; returns the new count. */
static int offload_emit(tun_offload_t *offload, uint8_t *slab, size_t slot_size, int max_packets, int32_t *meta, int count) {
  const uint8_t *packet = offload->scratch;
  size_t header_length = offload->pending_header_length, ip_length = (size_t)(packet[0] & 0x0f) * 4;
  /* offload_prepare checked the segments against the slots of the reader it ran for; another
     reader's slots may be smaller. A segment that does not fit is never written: drop the rest. */
  if (offload->pending_length != 0 && header_length + offload->pending_gso_size > slot_size) {
    offload->pending_length = 0;
    offload->counters.dropped++;
  }
  while (offload->pending_length != 0 && count < max_packets) {
    size_t offset = offload->pending_next_offset, remaining = offload->pending_length - offset;
    size_t payload = remaining < offload->pending_gso_size ? remaining : offload->pending_gso_size;
    int last = offset + payload >= offload->pending_length;
    uint32_t index = offload->pending_index;
    uint8_t *segment = slab + (size_t)count * slot_size;
    memcpy(segment, packet, header_length);
    memcpy(segment + header_length, packet + offset, payload);
    size_t segment_length = header_length + payload;
    put16(segment + 2, (uint16_t)segment_length);
    put16(segment + 4, (uint16_t)(get16(packet + 4) + index));
    ipv4_header_checksum(segment, ip_length);
    uint8_t *transport = segment + ip_length;
    if (offload->pending_tcp) {
      uint32_t sequence;
      memcpy(&sequence, packet + ip_length + 4, 4);
      sequence = htonl(ntohl(sequence) + (uint32_t)(offset - header_length));
      memcpy(transport + 4, &sequence, 4);
      if (!last) transport[13] &= (uint8_t)~(0x01 | 0x08); /* FIN, PSH: the last segment's */
      if (index > 0) transport[13] &= (uint8_t)~0x80;      /* CWR: the first segment's */
      transport_checksum(segment, transport, segment_length - ip_length, IPPROTO_TCP, 16);
    } else {
      put16(transport + 4, (uint16_t)(segment_length - ip_length));
      transport_checksum(segment, transport, segment_length - ip_length, IPPROTO_UDP, 6);
    }
    int32_t *m = meta + (size_t)count * META_WORDS;
    m[0] = (int32_t)((size_t)count * slot_size);
    m[1] = (int32_t)segment_length;
    m[2] = 0;
    m[3] = 0;
    count++;
    offload->counters.segments++;
    offload->pending_index++;
    offload->pending_next_offset = offset + payload;
    if (last) offload->pending_length = 0;
  }
  return count;
}

/*
 * The TUN branch of the reader when offloads are on: finishes a pending super-packet, then reads
 * until EAGAIN or the batch is full. Each read lands in the next slot (the common, small case:
 * no copy) and spills into the scratch buffer when larger; a super-packet is then made
 * contiguous in the scratch and segmented into the slots. Returns the count or -errno.
 */
static int offload_drain(int fd, tun_offload_t *offload, uint8_t *slab, size_t slot_size, int max_packets,
                         int32_t *meta) {
  int count = offload_emit(offload, slab, slot_size, max_packets, meta, 0);
  while (count < max_packets && offload->pending_length == 0) {
    uint8_t *slot = slab + (size_t)count * slot_size;
    struct iovec parts[3] = {
        {&offload->header, VNET_HEADER_SIZE},
        {slot, slot_size},
        {offload->scratch + slot_size, offload->scratch_size - slot_size},
    };
    ssize_t n = readv(fd, parts, 3);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return count > 0 ? count : -errno;
    }
    if ((size_t)n <= VNET_HEADER_SIZE || (size_t)n >= VNET_HEADER_SIZE + offload->scratch_size) {
      offload->counters.dropped++; /* empty, or possibly cut short */
      continue;
    }
    size_t length = (size_t)n - VNET_HEADER_SIZE;
    if (offload->header.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
      if (length > slot_size ||
          ((offload->header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !offload_complete_checksum(slot, length, &offload->header))) {
        offload->counters.dropped++;
        continue;
      }
      if (offload->header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) offload->counters.checksums_completed++;
      int32_t *m = meta + (size_t)count * META_WORDS;
      m[0] = (int32_t)((size_t)count * slot_size);
      m[1] = (int32_t)length;
      m[2] = 0;
      m[3] = 0;
      count++;
      continue;
    }
    memcpy(offload->scratch, slot, length < slot_size ? length : slot_size);
    if (!offload_prepare(offload, length, slot_size)) {
      offload->counters.dropped++;
      continue;
    }
    count = offload_emit(offload, slab, slot_size, max_packets, meta, count);
  }
  return count;
}

/* Writes one packet to an offload TUN: a zeroed virtio_net_hdr (no offload asked) then the packet. */
static ssize_t offload_write(int fd, const uint8_t *packet, size_t length) {
  static const struct virtio_net_hdr none;
  struct iovec parts[2] = {{(void *)&none, VNET_HEADER_SIZE}, {(void *)packet, length}};
  ssize_t n = writev(fd, parts, 2);
  return n < 0 ? n : n - (ssize_t)VNET_HEADER_SIZE;
}

/* Sizes fd's scratch buffer for a reader with slots of slot_size; returns the state, NULL when none or no memory. */
static tun_offload_t *offload_for_reader(int fd, size_t slot_size, int *failed) {
  tun_offload_t *offload = offload_for(fd);
  *failed = 0;
  if (offload == NULL || offload->scratch_size >= slot_size + OFFLOAD_MAX_PACKET) return offload;
  uint8_t *scratch = realloc(offload->scratch, slot_size + OFFLOAD_MAX_PACKET);
  if (scratch == NULL) {
    *failed = 1;
    return NULL;
  }
  offload->scratch = scratch;
  offload->scratch_size = slot_size + OFFLOAD_MAX_PACKET;
  return offload;
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number;
  napi_create_double(env, value, &number);
  napi_set_named_property(env, object, name, number);
}

/* tunOffloadCounters(fd) → { superPackets, segments, checksumsCompleted, dropped } or undefined. */
static napi_value tun_offload_counters(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || !arg_int32(env, argv[0], &fd, "tunOffloadCounters(fd): fd must be a number")) return NULL;
  tun_offload_t *offload = offload_for(fd);
  if (offload == NULL) return NULL;
  napi_value result;
  napi_create_object(env, &result);
  set_number(env, result, "superPackets", offload->counters.super_packets);
  set_number(env, result, "segments", offload->counters.segments);
  set_number(env, result, "checksumsCompleted", offload->counters.checksums_completed);
  set_number(env, result, "dropped", offload->counters.dropped);
  return result;
}

/*
 * segmentOffloaded(input, slab, slotSize, meta) → count: what the reader does with one read
 * from an offload TUN (input = virtio_net_hdr + packet), for tests: the packets it yields lie in
 * slab slots of slotSize bytes, [offset, length, 0, 0] per packet in meta. 0 when it would be
 * dropped; a RangeError when the slab has too few slots.
 */
static napi_value segment_offloaded(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *input, *slab, *meta;
  size_t input_length, slab_length, meta_length;
  int32_t slot_size;
  if (argc < 4 || !arg_typed(env, argv[0], napi_uint8_array, &input, &input_length, "segmentOffloaded: input must be a Uint8Array") ||
      !arg_typed(env, argv[1], napi_uint8_array, &slab, &slab_length, "segmentOffloaded: slab must be a Uint8Array") ||
      !arg_int32(env, argv[2], &slot_size, "segmentOffloaded: slotSize must be a number") ||
      !arg_typed(env, argv[3], napi_int32_array, &meta, &meta_length, "segmentOffloaded: meta must be an Int32Array"))
    return NULL;
  if (slot_size < 64 || input_length <= VNET_HEADER_SIZE || input_length - VNET_HEADER_SIZE > OFFLOAD_MAX_PACKET) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "segmentOffloaded: slotSize >= 64, input = header + 1..65792 bytes");
    return NULL;
  }
  int max_packets = (int)(slab_length / (size_t)slot_size);
  if ((size_t)max_packets * META_WORDS > meta_length) max_packets = (int)(meta_length / META_WORDS);
  if (max_packets < 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "segmentOffloaded: the slab and meta must hold one packet at least");
    return NULL;
  }
  tun_offload_t *offload = offload_create(OFFLOAD_MAX_PACKET);
  if (offload == NULL) {
    throw_errno(env, ENOMEM, "segmentOffloaded", NULL);
    return NULL;
  }
  memcpy(&offload->header, input, VNET_HEADER_SIZE);
  size_t length = input_length - VNET_HEADER_SIZE;
  int count = 0;
  if (offload->header.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    uint8_t *slot = slab;
    if (length <= (size_t)slot_size) {
      memcpy(slot, (uint8_t *)input + VNET_HEADER_SIZE, length);
      if (!(offload->header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || offload_complete_checksum(slot, length, &offload->header)) {
        int32_t *m = meta;
        m[0] = 0, m[1] = (int32_t)length, m[2] = 0, m[3] = 0;
        count = 1;
      }
    }
  } else {
    memcpy(offload->scratch, (uint8_t *)input + VNET_HEADER_SIZE, length);
    if (offload_prepare(offload, length, (size_t)slot_size))
      count = offload_emit(offload, slab, (size_t)slot_size, max_packets, meta, 0);
  }
  int unfinished = offload->pending_length != 0;
  free(offload->scratch);
  free(offload);
  if (unfinished) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "segmentOffloaded: more segments than slots");
    return NULL;
  }
  return make_int32(env, count);
}

/* ---------------------------------------------------------------- openers */

/*
 * openTun(name: string, options?: { offload?: boolean }) → { fd, name, offloads }: an IFF_TUN |
 * IFF_NO_PI device, non-blocking. With offload, also IFF_VNET_HDR and TUNSETOFFLOAD (see "TUN
 * offloads"): offloads is the TUN_F_* flags the kernel accepted, 0 without.
 */
static napi_value open_tun(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1];
  if (argc < 1 || !arg_name(env, argv[0], name, sizeof name, "openTun(name): name must be a string")) return NULL;
  bool offload = false;
  napi_valuetype options_type = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &options_type);
  if (options_type == napi_object) {
    bool has = false;
    napi_has_named_property(env, argv[1], "offload", &has);
    if (has) {
      napi_value flag;
      napi_get_named_property(env, argv[1], "offload", &flag);
      napi_coerce_to_bool(env, flag, &flag);
      napi_get_value_bool(env, flag, &offload);
    }
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, errno, "openTun: open /dev/net/tun for", name);
    return NULL;
  }
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  memcpy(request.ifr_name, name, strlen(name)); /* arg_name checked < IFNAMSIZ */
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "openTun: TUNSETIFF", name);
    return NULL;
  }
  int offloads = 0;
  if (offload) {
    offloads = offload_enable(fd);
    tun_offload_t *state = offloads < 0 ? NULL : offload_create(0);
    int error = offloads < 0 ? -offloads : state == NULL ? ENOMEM : offload_remember(fd, state);
    if (error != 0) {
      if (state != NULL) free(state);
      close(fd);
      throw_errno(env, error, "openTun: TUNSETOFFLOAD", request.ifr_name);
      return NULL;
    }
    state->flags = (unsigned int)offloads;
  }
  napi_value result, fd_value, name_value;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &fd_value);
  napi_create_string_utf8(env, request.ifr_name, NAPI_AUTO_LENGTH, &name_value);
  napi_set_named_property(env, result, "fd", fd_value);
  napi_set_named_property(env, result, "name", name_value);
  napi_set_named_property(env, result, "offloads", make_int32(env, offloads));
  return result;
}

/*
 * openPacket(ifname: string, ethertype = ETH_P_ALL) → { fd, ifindex }: an AF_PACKET SOCK_RAW
 * socket bound to one interface, non-blocking.
 */
static napi_value open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1];
  if (argc < 1 || !arg_name(env, argv[0], name, sizeof name, "openPacket(ifname): ifname must be a string")) return NULL;
  int32_t ethertype = ETH_P_ALL;
  napi_valuetype type = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &type);
  if (type != napi_undefined && !arg_int32(env, argv[1], &ethertype, "openPacket: ethertype must be a number"))
    return NULL;

  unsigned int ifindex = if_nametoindex(name);
  if (ifindex == 0) {
    throw_errno(env, errno == 0 ? ENODEV : errno, "openPacket: no interface", name);
    return NULL;
  }
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons((uint16_t)ethertype));
  if (fd < 0) {
    throw_errno(env, errno, "openPacket: socket(AF_PACKET) for", name);
    return NULL;
  }
  struct sockaddr_ll address;
  memset(&address, 0, sizeof address);
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons((uint16_t)ethertype);
  address.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "openPacket: bind", name);
    return NULL;
  }
  /* tpacket_auxdata with each frame: its tp_status tells whether the sender's kernel left
     the transport checksum to be filled in later (TP_STATUS_CSUMNOTREADY, see reader_drain). */
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "openPacket: PACKET_AUXDATA", name);
    return NULL;
  }
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "fd", make_int32(env, fd));
  napi_set_named_property(env, result, "ifindex", make_int32(env, (int32_t)ifindex));
  return result;
}

/*
 * openRawIp(protocol: number, options?: { hdrincl?: boolean }) → fd: an AF_INET SOCK_RAW socket
 * for one IP protocol (4 IP-in-IP, 55 minimal, 47 GRE, 1 ICMP), non-blocking. With hdrincl the
 * caller writes the whole IPv4 header itself (IP_HDRINCL).
 */
static napi_value open_raw_ip(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t protocol;
  if (argc < 1 || !arg_int32(env, argv[0], &protocol, "openRawIp(protocol): protocol must be a number")) return NULL;
  if (protocol < 1 || protocol > 255) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "openRawIp: protocol must be 1..255");
    return NULL;
  }
  bool hdrincl = false;
  char device[IFNAMSIZ + 1] = "";
  if (argc >= 2) {
    napi_valuetype type;
    napi_typeof(env, argv[1], &type);
    if (type == napi_object) {
      napi_value flag;
      bool has = false;
      napi_has_named_property(env, argv[1], "hdrincl", &has);
      if (has) {
        napi_get_named_property(env, argv[1], "hdrincl", &flag);
        napi_coerce_to_bool(env, flag, &flag);
        napi_get_value_bool(env, flag, &hdrincl);
      }
      has = false;
      napi_has_named_property(env, argv[1], "device", &has);
      if (has) {
        napi_value name;
        napi_valuetype name_type;
        napi_get_named_property(env, argv[1], "device", &name);
        napi_typeof(env, name, &name_type);
        if (name_type != napi_undefined &&
            !arg_name(env, name, device, sizeof device, "openRawIp: device must be an interface name"))
          return NULL;
      }
    }
  }
  char subject[32];
  snprintf(subject, sizeof subject, "protocol %d", protocol);
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    throw_errno(env, errno, "openRawIp: socket(AF_INET, SOCK_RAW) for", subject);
    return NULL;
  }
  if (hdrincl) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0) {
      int error = errno;
      close(fd);
      throw_errno(env, error, "openRawIp: IP_HDRINCL for", subject);
      return NULL;
    }
  }
  if (device[0] != '\0') {
    /* Bound to one interface: what it sends leaves there, whatever host routes say. */
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)) < 0) {
      int error = errno;
      close(fd);
      throw_errno(env, error, "openRawIp: SO_BINDTODEVICE", device);
      return NULL;
    }
  }
  return make_int32(env, fd);
}

/* close(fd): closes a descriptor opened here (stop its reader first). */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || !arg_int32(env, argv[0], &fd, "close(fd): fd must be a number")) return NULL;
  offload_forget(fd);
  if (close(fd) < 0 && errno != EINTR) {
    throw_errno(env, errno, "close", NULL);
    return NULL;
  }
  return NULL;
}

/* ---------------------------------------------------------------- batched reader */

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
  /* TUN opened with offloads only (owned by the descriptor, see "TUN offloads"). */
  tun_offload_t *offload;
} reader_t;

/* Room for one tpacket_auxdata cmsg (the only one PACKET_AUXDATA adds). */
#define AUX_CONTROL_SIZE CMSG_SPACE(sizeof(struct tpacket_auxdata))
/* Bits of an AF_PACKET packet's extra word above sll_pkttype (shared with io/linux/native.ts). */
#define EXTRA_TRUNCATED 0x100
#define EXTRA_CHECKSUM_NOT_READY 0x200

static void reader_release(napi_env env, reader_t *reader) {
  if (reader->slab_ref) napi_delete_reference(env, reader->slab_ref);
  if (reader->meta_ref) napi_delete_reference(env, reader->meta_ref);
  if (reader->callback_ref) napi_delete_reference(env, reader->callback_ref);
  if (reader->async_context) napi_async_destroy(env, reader->async_context);
  reader->slab_ref = reader->meta_ref = reader->callback_ref = NULL;
  reader->async_context = NULL;
}

static void reader_free_scratch(reader_t *reader) {
  free(reader->messages);
  free(reader->vectors);
  free(reader->addresses);
  free(reader->controls);
  reader->controls = NULL;
  reader->messages = NULL;
  reader->vectors = NULL;
  reader->addresses = NULL;
}

/*
 * The struct outlives both the libuv handle and the JS handle object: it is freed only when
 * uv_close has finished AND the external has been garbage-collected, so a late stopReader or
 * refReader on a stopped handle stays safe.
 */
static void reader_closed(uv_handle_t *handle) {
  reader_t *reader = (reader_t *)handle->data;
  reader->closed = 1;
  reader_free_scratch(reader);
  if (reader->finalized) free(reader);
}

/* offload_forget: the descriptor's offload state is freed under this reader. */
static void offload_detach_reader(reader_t *reader) { reader->offload = NULL; }

/* Stops polling and schedules the close; JS references go as soon as no callback is running. */
static void reader_stop(reader_t *reader) {
  if (reader->stopped) return;
  reader->stopped = 1;
  if (reader->offload != NULL) {
    /* The rest of a super-packet this reader was handing over goes with it (counted): the next
       reader on the descriptor may have smaller slots than the segments were checked against. */
    if (reader->offload->pending_length != 0) {
      reader->offload->pending_length = 0;
      reader->offload->counters.dropped++;
    }
    if (reader->offload->reader == reader) reader->offload->reader = NULL;
    reader->offload = NULL;
  }
  uv_poll_stop(&reader->poll);
  if (!reader->in_callback) reader_release(reader->env, reader);
  uv_close((uv_handle_t *)&reader->poll, reader_closed);
}

static int udp_drain(reader_t *reader);

/* Fills up to max_packets slots; returns the count, or -errno when nothing could be read. */
static int reader_drain(reader_t *reader) {
  int count = 0;
  if (reader->kind == KIND_TUN && reader->offload != NULL)
    return offload_drain(reader->fd, reader->offload, reader->slab, reader->slot_size, reader->max_packets, reader->meta);
  if (reader->kind == KIND_TUN) {
    /* A TUN descriptor yields one packet per read(): loop until EAGAIN or the batch is full. */
    while (count < reader->max_packets) {
      uint8_t *slot = reader->slab + (size_t)count * reader->slot_size;
      ssize_t n = read(reader->fd, slot, reader->slot_size);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return count > 0 ? count : -errno;
      }
      int32_t *m = reader->meta + (size_t)count * META_WORDS;
      m[0] = (int32_t)((size_t)count * reader->slot_size);
      m[1] = (int32_t)n;
      m[2] = 0;
      m[3] = 0;
      count++;
    }
    return count;
  }
  if (reader->kind == KIND_UDP) return udp_drain(reader);

  for (int i = 0; i < reader->max_packets; i++) {
    reader->vectors[i].iov_base = reader->slab + (size_t)i * reader->slot_size;
    reader->vectors[i].iov_len = reader->slot_size;
    memset(&reader->messages[i], 0, sizeof reader->messages[i]);
    reader->messages[i].msg_hdr.msg_iov = &reader->vectors[i];
    reader->messages[i].msg_hdr.msg_iovlen = 1;
    reader->messages[i].msg_hdr.msg_name = &reader->addresses[i];
    reader->messages[i].msg_hdr.msg_namelen = sizeof reader->addresses[i];
    if (reader->controls != NULL) {
      reader->messages[i].msg_hdr.msg_control = reader->controls + (size_t)i * AUX_CONTROL_SIZE;
      reader->messages[i].msg_hdr.msg_controllen = AUX_CONTROL_SIZE;
    }
  }
  int n;
  do {
    n = recvmmsg(reader->fd, reader->messages, (unsigned int)reader->max_packets, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    int32_t *m = reader->meta + (size_t)i * META_WORDS;
    size_t length = reader->messages[i].msg_len;
    if (length > reader->slot_size) length = reader->slot_size; /* truncated (MSG_TRUNC) */
    m[0] = (int32_t)((size_t)i * reader->slot_size);
    m[1] = (int32_t)length;
    if (reader->kind == KIND_RAW_IP) {
      /* The source IPv4 address in host order (JS reads it back with `>>> 0`). */
      m[2] = (int32_t)ntohl(reader->addresses[i].in.sin_addr.s_addr);
      m[3] = (reader->messages[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    } else {
      /* AF_PACKET: the interface index and the packet type (PACKET_OUTGOING = our own sends). */
      m[2] = reader->addresses[i].ll.sll_ifindex;
      int extra = reader->addresses[i].ll.sll_pkttype;
      if (reader->messages[i].msg_hdr.msg_flags & MSG_TRUNC) extra |= EXTRA_TRUNCATED;
      /* A datagram sent by a socket of this same kernel (another namespace over a veth) can
         arrive with its UDP/TCP checksum still to be computed (CHECKSUM_PARTIAL): the field
         holds only the pseudo-header sum, and the kernel says so in tp_status. */
      struct msghdr *header = &reader->messages[i].msg_hdr;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c != NULL; c = CMSG_NXTHDR(header, c)) {
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(c), sizeof aux);
        if (aux.tp_status & TP_STATUS_CSUMNOTREADY) extra |= EXTRA_CHECKSUM_NOT_READY;
      }
      m[3] = extra;
    }
  }
  return n;
}

/* Calls back with count; with `failure` (count = -errno) also an Error saying what happened. */
static void reader_call(reader_t *reader, int count, const char *failure) {
  napi_env env = reader->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argv[2], result;
  napi_get_reference_value(env, reader->callback_ref, &callback);
  napi_get_global(env, &receiver); /* make_callback needs an object receiver */
  argv[0] = make_int32(env, count);
  if (failure != NULL) argv[1] = errno_error(env, -count, failure, NULL);
  reader->in_callback = 1;
  /* make_callback runs the microtask and nextTick queues afterwards, like any libuv callback. */
  napi_status status =
      napi_make_callback(env, reader->async_context, receiver, callback, failure != NULL ? 2 : 1, argv, &result);
  reader->in_callback = 0;
  if (reader->stopped) reader_release(env, reader); /* stopped from inside the callback */
  if (status == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

/* Whether the typed array behind `ref` still covers `needed` elements at `data`. */
static int reader_view_intact(napi_env env, napi_ref ref, const void *data, size_t needed) {
  napi_value view, buffer;
  napi_typedarray_type type;
  size_t length = 0;
  void *now = NULL;
  bool detached = true;
  return napi_get_reference_value(env, ref, &view) == napi_ok && view != NULL &&
         napi_get_typedarray_info(env, view, &type, &length, &now, &buffer, NULL) == napi_ok &&
         napi_is_detached_arraybuffer(env, buffer, &detached) == napi_ok && !detached && now == data &&
         length >= needed;
}

/*
 * Whether the slab and meta still are the memory startReader was given. Transferring their
 * ArrayBuffer (postMessage, structuredClone) detaches it and hands the memory to a new owner
 * that may free it; a resizable one may have shrunk. JS runs between reads, so every read
 * checks first.
 */
static int reader_buffers_intact(reader_t *reader) {
  napi_env env = reader->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  int intact = reader_view_intact(env, reader->slab_ref, reader->slab, (size_t)reader->max_packets * reader->slot_size) &&
               reader_view_intact(env, reader->meta_ref, reader->meta, (size_t)reader->max_packets * META_WORDS);
  napi_close_handle_scope(env, scope);
  return intact;
}

/* Stops a reader whose buffers are gone, telling its callback why (-EFAULT and an Error). */
static void reader_fail_detached(reader_t *reader) {
  reader_call(reader, -EFAULT,
              "reader stopped: its slab or meta ArrayBuffer was detached (transferred) or shrunk, nothing was read into it");
  if (!reader->stopped) reader_stop(reader);
}

static void reader_ready(uv_poll_t *handle, int status, int events) {
  reader_t *reader = (reader_t *)handle->data;
  (void)events;
  if (reader->stopped) return;
  if (status < 0) {
    reader_call(reader, status, NULL); /* libuv statuses are -errno on Unix */
    if (!reader->stopped) reader_stop(reader);
    return;
  }
  if (!reader_buffers_intact(reader)) {
    reader_fail_detached(reader);
    return;
  }
  int count = reader_drain(reader);
  if (count == 0) return;
  reader_call(reader, count, NULL);
  /* A TUN super-packet with more segments than one batch holds: its rest, now (no new wakeup comes for it). */
  while (count > 0 && !reader->stopped && reader->offload != NULL && reader->offload->pending_length != 0) {
    if (!reader_buffers_intact(reader)) {
      reader_fail_detached(reader);
      return;
    }
    count = reader_drain(reader);
    if (count > 0) reader_call(reader, count, NULL);
  }
  /* A failing descriptor (e.g. ENETDOWN, EBADFD on a removed TUN) would wake us forever. */
  if (count < 0 && count != -ENETDOWN && count != -ENOBUFS && !reader->stopped) reader_stop(reader);
}

static void reader_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_t *reader = data;
  /* A reader whose handle was dropped without stopReader keeps running (its callback is
     referenced); it is freed once something stops it and libuv has closed it. */
  reader->finalized = 1;
  if (reader->closed) free(reader);
}

/*
 * startReader(fd, kind, slab: Uint8Array, maxPackets, meta: Int32Array, callback(count)) → handle.
 * The slab is cut into maxPackets equal slots; packet i of a batch lies in slot i. For each
 * packet meta holds [offset, length, source, extra, destination]: source is the IPv4 source
 * (raw IP, UDP) or the ifindex (AF_PACKET); extra is the truncation flag (raw IP), the source
 * port | 0x10000 when truncated (UDP) or, for AF_PACKET, sll_pkttype | 0x100 when truncated
 * | 0x200 when the transport checksum is not yet computed (TP_STATUS_CSUMNOTREADY; the socket
 * must have PACKET_AUXDATA, as openPacket sets); destination is the address a UDP datagram was
 * sent to (IP_PKTINFO, as openUdp sets) and is left unwritten for the other kinds.
 * callback(count) runs once per batch; a negative count is -errno. When the slab or meta has been
 * detached or shrunk, the reader stops and calls callback(-EFAULT, error) without reading.
 */
static napi_value start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    throw_type(env, "startReader(fd, kind, slab, maxPackets, meta, callback)");
    return NULL;
  }
  int32_t fd, kind, max_packets;
  void *slab, *meta;
  size_t slab_length, meta_length;
  if (!arg_int32(env, argv[0], &fd, "startReader: fd must be a number") ||
      !arg_int32(env, argv[1], &kind, "startReader: kind must be a number") ||
      !arg_typed(env, argv[2], napi_uint8_array, &slab, &slab_length, "startReader: slab must be a Uint8Array") ||
      !arg_int32(env, argv[3], &max_packets, "startReader: maxPackets must be a number") ||
      !arg_typed(env, argv[4], napi_int32_array, &meta, &meta_length, "startReader: meta must be an Int32Array"))
    return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[5], &type);
  if (type != napi_function) {
    throw_type(env, "startReader: callback must be a function");
    return NULL;
  }
  if (kind < KIND_TUN || kind > KIND_UDP) {
    throw_type(env, "startReader: kind must be a DescriptorKind (0 TUN, 1 AF_PACKET, 2 raw IP, 3 UDP)");
    return NULL;
  }
  if (max_packets < 1 || max_packets > MAX_BATCH || slab_length / (size_t)max_packets < 64 ||
      meta_length < (size_t)max_packets * META_WORDS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "startReader: maxPackets 1..1024, slab >= 64 bytes per packet, meta >= 5 words per packet");
    return NULL;
  }

  reader_t *reader = calloc(1, sizeof *reader);
  if (reader == NULL) {
    throw_errno(env, ENOMEM, "startReader", NULL);
    return NULL;
  }
  reader->env = env;
  reader->fd = fd;
  reader->kind = kind;
  reader->max_packets = max_packets;
  reader->slot_size = slab_length / (size_t)max_packets;
  reader->slab = slab;
  reader->meta = meta;
  if (kind == KIND_TUN) {
    int failed = 0;
    reader->offload = offload_for_reader(fd, reader->slot_size, &failed);
    if (failed) {
      free(reader);
      throw_errno(env, ENOMEM, "startReader: offload buffer", NULL);
      return NULL;
    }
  }
  if (kind != KIND_TUN) {
    reader->messages = calloc((size_t)max_packets, sizeof *reader->messages);
    reader->vectors = calloc((size_t)max_packets, sizeof *reader->vectors);
    reader->addresses = calloc((size_t)max_packets, sizeof *reader->addresses);
    /* AF_PACKET: PACKET_AUXDATA; UDP: IP_PKTINFO (smaller, see udp_drain). */
    if (kind == KIND_PACKET || kind == KIND_UDP) reader->controls = calloc((size_t)max_packets, AUX_CONTROL_SIZE);
    if (!reader->messages || !reader->vectors || !reader->addresses || (kind != KIND_RAW_IP && !reader->controls)) {
      reader_free_scratch(reader);
      free(reader);
      throw_errno(env, ENOMEM, "startReader", NULL);
      return NULL;
    }
  }

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    reader_free_scratch(reader);
    free(reader);
    napi_throw_error(env, NULL, "startReader: no event loop");
    return NULL;
  }
  int status = uv_poll_init(loop, &reader->poll, fd);
  if (status < 0) {
    reader_free_scratch(reader);
    free(reader);
    throw_errno(env, -status, "startReader: uv_poll_init", NULL);
    return NULL;
  }
  reader->poll.data = reader;
  napi_value resource_name;
  napi_create_string_utf8(env, "mip4:reader", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &reader->async_context);
  napi_create_reference(env, argv[2], 1, &reader->slab_ref);
  napi_create_reference(env, argv[4], 1, &reader->meta_ref);
  napi_create_reference(env, argv[5], 1, &reader->callback_ref);
  status = uv_poll_start(&reader->poll, UV_READABLE, reader_ready);
  if (status < 0) {
    reader->finalized = 1; /* no JS handle will ever exist: free once closed */
    reader_stop(reader);
    throw_errno(env, -status, "startReader: uv_poll_start", NULL);
    return NULL;
  }
  if (reader->offload != NULL) reader->offload->reader = reader;
  int made;
  napi_value handle = make_handle(env, reader, reader_finalize, &READER_TAG, &made);
  if (handle == NULL) {
    if (!made) reader->finalized = 1; /* no finalizer will run: free once closed */
    reader_stop(reader);
  }
  return handle;
}

/* stopReader(handle): stops the reader; safe to call twice and from inside its callback. */
static napi_value stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  reader_t *reader = arg_handle(env, argc < 1 ? NULL : argv[0], &READER_TAG, "stopReader(handle): handle must come from startReader");
  if (reader != NULL) reader_stop(reader);
  return NULL;
}

/* setReaderActive(handle, ref: boolean): whether this reader keeps the process alive. */
static napi_value ref_reader(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool ref = true;
  if (argc < 2) {
    throw_type(env, "refReader(handle, ref: boolean)");
    return NULL;
  }
  reader_t *reader = arg_handle(env, argv[0], &READER_TAG, "refReader(handle, ref): handle must come from startReader");
  if (reader == NULL) return NULL;
  if (napi_get_value_bool(env, argv[1], &ref) != napi_ok) {
    throw_type(env, "refReader(handle, ref: boolean)");
    return NULL;
  }
  if (!reader->stopped) {
    if (ref)
      uv_ref((uv_handle_t *)&reader->poll);
    else
      uv_unref((uv_handle_t *)&reader->poll);
  }
  return NULL;
}

/* ---------------------------------------------------------------- batched writer */

/*
 * sendBatch(fd, kind, slab, offsets: Int32Array, lengths: Int32Array, count, destinations?)
 * → number sent. Packet i is slab[offsets[i] .. offsets[i] + lengths[i]). For raw IP sockets
 * destinations[i] is the IPv4 destination in host order (Uint32Array or Int32Array); AF_PACKET
 * sockets send on their bound interface and TUN writes need none. Never blocks: when the
 * kernel queue is full (EAGAIN) it returns how many went. Any other error on the first packet
 * is thrown; after a partial batch the count is returned and the next call reports it.
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    throw_type(env, "sendBatch(fd, kind, slab, offsets, lengths, count, destinations?)");
    return NULL;
  }
  int32_t fd, kind, count;
  void *slab_data, *offsets_data, *lengths_data, *destinations_data = NULL;
  size_t slab_length, offsets_length, lengths_length, destinations_length = 0;
  if (!arg_int32(env, argv[0], &fd, "sendBatch: fd must be a number") ||
      !arg_int32(env, argv[1], &kind, "sendBatch: kind must be a number") ||
      !arg_typed(env, argv[2], napi_uint8_array, &slab_data, &slab_length, "sendBatch: slab must be a Uint8Array") ||
      !arg_typed(env, argv[3], napi_int32_array, &offsets_data, &offsets_length,
                 "sendBatch: offsets must be an Int32Array") ||
      !arg_typed(env, argv[4], napi_int32_array, &lengths_data, &lengths_length,
                 "sendBatch: lengths must be an Int32Array") ||
      !arg_int32(env, argv[5], &count, "sendBatch: count must be a number"))
    return NULL;
  napi_valuetype type = napi_undefined;
  if (argc >= 7) napi_typeof(env, argv[6], &type);
  if (type != napi_undefined && type != napi_null &&
      !arg_typed(env, argv[6], napi_uint32_array, &destinations_data, &destinations_length,
                 "sendBatch: destinations must be a Uint32Array"))
    return NULL;
  if (kind < KIND_TUN || kind > KIND_UDP) {
    throw_type(env, "sendBatch: kind must be a DescriptorKind (0 TUN, 1 AF_PACKET, 2 raw IP, 3 UDP)");
    return NULL;
  }
  if (count < 0 || count > MAX_BATCH || (size_t)count > offsets_length || (size_t)count > lengths_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sendBatch: count must be 0..1024 and <= offsets/lengths");
    return NULL;
  }
  if (kind == KIND_RAW_IP && (destinations_data == NULL || destinations_length < (size_t)count)) {
    throw_type(env, "sendBatch: raw IP sockets need one destination per packet");
    return NULL;
  }
  const uint8_t *slab = slab_data;
  const int32_t *offsets = offsets_data, *lengths = lengths_data;
  const uint32_t *destinations = destinations_data;
  for (int32_t i = 0; i < count; i++) {
    if (offsets[i] < 0 || lengths[i] < 0 || (size_t)offsets[i] + (size_t)lengths[i] > slab_length) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sendBatch: a packet lies outside the slab");
      return NULL;
    }
  }

  int32_t sent = 0;
  if (kind == KIND_TUN) {
    tun_offload_t *offload = offload_for(fd);
    while (sent < count) {
      ssize_t n = offload != NULL ? offload_write(fd, slab + offsets[sent], (size_t)lengths[sent])
                                  : write(fd, slab + offsets[sent], (size_t)lengths[sent]);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || sent > 0) break;
        throw_errno(env, errno, "sendBatch: write to TUN", NULL);
        return NULL;
      }
      sent++;
    }
    return make_int32(env, sent);
  }

  struct mmsghdr messages[64];
  struct iovec vectors[64];
  struct sockaddr_in addresses[64];
  while (sent < count) {
    int chunk = count - sent > 64 ? 64 : count - sent;
    for (int j = 0; j < chunk; j++) {
      int i = sent + j;
      vectors[j].iov_base = (void *)(slab + offsets[i]);
      vectors[j].iov_len = (size_t)lengths[i];
      memset(&messages[j], 0, sizeof messages[j]);
      messages[j].msg_hdr.msg_iov = &vectors[j];
      messages[j].msg_hdr.msg_iovlen = 1;
      if (kind == KIND_RAW_IP) {
        memset(&addresses[j], 0, sizeof addresses[j]);
        addresses[j].sin_family = AF_INET;
        addresses[j].sin_addr.s_addr = htonl(destinations[i]);
        messages[j].msg_hdr.msg_name = &addresses[j];
        messages[j].msg_hdr.msg_namelen = sizeof addresses[j];
      }
    }
    int n = sendmmsg(fd, messages, (unsigned int)chunk, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || sent > 0) break;
      throw_errno(env, errno, kind == KIND_RAW_IP ? "sendBatch: sendmmsg on raw IP socket" : "sendBatch: sendmmsg on AF_PACKET socket", NULL);
      return NULL;
    }
    sent += n;
    if (n < chunk) break; /* the kernel stopped early: the queue is full or the next one fails */
  }
  return make_int32(env, sent);
}

/* ---------------------------------------------------------------- UDP sockets (the registration path) */

/*
 * Mobile IP control traffic (port 434) through the same batched machinery as the data plane:
 * node:dgram costs one send(2) and one libuv callback per datagram (~25-30 µs here), which
 * caps a home agent well below the registration rates a router needs. A KIND_UDP reader
 * drains up to maxPackets datagrams per wake-up with one recvmmsg, and sendUdpBatch sends a
 * queue of replies with one sendmmsg per 64.
 */

/* Bit of a UDP datagram's extra word above the source port: it did not fit its slot. */
#define UDP_EXTRA_TRUNCATED 0x10000
#define PKTINFO_CONTROL_SIZE CMSG_SPACE(sizeof(struct in_pktinfo))
_Static_assert(PKTINFO_CONTROL_SIZE <= AUX_CONTROL_SIZE, "the reader's control slots must hold an in_pktinfo");

/* "192.0.2.1:434" (address in host order) for error messages. */
static void endpoint_text(char *text, size_t size, uint32_t address, int port) {
  snprintf(text, size, "%u.%u.%u.%u:%d", address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff, address & 0xff, port);
}

/* Reads an optional non-negative integer property of an options object (0 when absent). */
static int option_int32(napi_env env, napi_value object, const char *name, int32_t *out) {
  bool has = false;
  *out = 0;
  if (napi_has_named_property(env, object, name, &has) != napi_ok || !has) return 1;
  napi_value value;
  napi_valuetype type;
  napi_get_named_property(env, object, name, &value);
  napi_typeof(env, value, &type);
  if (type == napi_undefined) return 1;
  if (type == napi_boolean) {
    bool flag = false;
    napi_get_value_bool(env, value, &flag);
    *out = flag ? 1 : 0;
    return 1;
  }
  return arg_int32(env, value, out, "openUdp: options must be numbers or booleans");
}

/*
 * openUdp(address, port, options?: { broadcast?, receiveBufferBytes?, sendBufferBytes? })
 * → { fd, address, port }: an AF_INET SOCK_DGRAM socket bound to address:port (host order;
 * 0.0.0.0 and port 0 as bind(2) reads them), non-blocking, with IP_PKTINFO so that each
 * datagram says which address it was sent to (a home agent bound to 0.0.0.0 or to a broadcast
 * address must know, RFC 5944 3.8.2.1 and 3.8.3.1). The buffer sizes are requests the kernel
 * caps at net.core.rmem_max / wmem_max. Returns the address and port actually bound.
 */
static napi_value open_udp(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t address_signed, port;
  if (argc < 2 || !arg_int32(env, argv[0], &address_signed, "openUdp(address, port): address must be a number") ||
      !arg_int32(env, argv[1], &port, "openUdp(address, port): port must be a number"))
    return NULL;
  if (port < 0 || port > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "openUdp: port must be 0..65535");
    return NULL;
  }
  int32_t broadcast = 0, receive_buffer = 0, send_buffer = 0;
  if (argc >= 3) {
    napi_valuetype type;
    napi_typeof(env, argv[2], &type);
    if (type == napi_object &&
        (!option_int32(env, argv[2], "broadcast", &broadcast) ||
         !option_int32(env, argv[2], "receiveBufferBytes", &receive_buffer) ||
         !option_int32(env, argv[2], "sendBufferBytes", &send_buffer)))
      return NULL;
  }
  uint32_t address = (uint32_t)address_signed;
  char subject[32];
  endpoint_text(subject, sizeof subject, address, port);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "openUdp: socket(AF_INET, SOCK_DGRAM) for", subject);
    return NULL;
  }
  int one = 1;
  const char *failed = NULL;
  if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) failed = "openUdp: IP_PKTINFO for";
  else if (broadcast && setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) failed = "openUdp: SO_BROADCAST for";
  if (failed != NULL) {
    int error = errno;
    close(fd);
    throw_errno(env, error, failed, subject);
    return NULL;
  }
  /* Larger buffers absorb a burst (a restart storm); a refusal keeps the default. */
  if (receive_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  if (send_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);

  struct sockaddr_in local;
  memset(&local, 0, sizeof local);
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(address);
  local.sin_port = htons((uint16_t)port);
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "openUdp: bind", subject);
    return NULL;
  }
  socklen_t length = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &length) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "openUdp: getsockname", subject);
    return NULL;
  }
  napi_value result, bound_address;
  napi_create_object(env, &result);
  napi_create_uint32(env, ntohl(local.sin_addr.s_addr), &bound_address);
  napi_set_named_property(env, result, "fd", make_int32(env, fd));
  napi_set_named_property(env, result, "address", bound_address);
  napi_set_named_property(env, result, "port", make_int32(env, ntohs(local.sin_port)));
  return result;
}

/* The KIND_UDP part of reader_drain: one recvmmsg, each datagram's source and destination. */
static int udp_drain(reader_t *reader) {
  for (int i = 0; i < reader->max_packets; i++) {
    reader->vectors[i].iov_base = reader->slab + (size_t)i * reader->slot_size;
    reader->vectors[i].iov_len = reader->slot_size;
    struct msghdr *header = &reader->messages[i].msg_hdr;
    memset(header, 0, sizeof *header);
    header->msg_iov = &reader->vectors[i];
    header->msg_iovlen = 1;
    header->msg_name = &reader->addresses[i].in;
    header->msg_namelen = sizeof reader->addresses[i].in;
    header->msg_control = reader->controls + (size_t)i * AUX_CONTROL_SIZE;
    header->msg_controllen = AUX_CONTROL_SIZE;
  }
  int n;
  do {
    n = recvmmsg(reader->fd, reader->messages, (unsigned int)reader->max_packets, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    struct msghdr *header = &reader->messages[i].msg_hdr;
    int32_t *m = reader->meta + (size_t)i * META_WORDS;
    size_t length = reader->messages[i].msg_len;
    if (length > reader->slot_size) length = reader->slot_size;
    m[0] = (int32_t)((size_t)i * reader->slot_size);
    m[1] = (int32_t)length;
    m[2] = (int32_t)ntohl(reader->addresses[i].in.sin_addr.s_addr);
    m[3] = ntohs(reader->addresses[i].in.sin_port) | ((header->msg_flags & MSG_TRUNC) ? UDP_EXTRA_TRUNCATED : 0);
    m[4] = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c != NULL; c = CMSG_NXTHDR(header, c)) {
      if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO) continue;
      struct in_pktinfo pktinfo;
      memcpy(&pktinfo, CMSG_DATA(c), sizeof pktinfo);
      /* ipi_addr is the IP header's destination (a broadcast stays a broadcast), not the
         local address the kernel would answer from (ipi_spec_dst). */
      m[4] = (int32_t)ntohl(pktinfo.ipi_addr.s_addr);
    }
  }
  return n;
}

/*
 * sendUdpBatch(fd, slab, offsets, lengths, addresses: Uint32Array, ports: Int32Array, first,
 * count[, sources: Uint32Array]) → sent. Datagram i (first <= i < count) is
 * slab[offsets[i] .. + lengths[i]) to addresses[i]:ports[i] (host order), from sources[i] when
 * that is not 0 (IP_PKTINFO; an address not on this host fails that datagram, e.g.
 * ENETUNREACH). Never blocks. Returns how many went from `first` on: fewer than asked when the
 * socket buffer is full (EAGAIN; 0 when the first could not go) or when the next datagram
 * fails; -errno when
 * the datagram at `first` itself failed (the caller reports it and goes on with the next), so
 * no failure costs an exception or stops the datagrams behind it.
 */
static napi_value send_udp_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) {
    throw_type(env, "sendUdpBatch(fd, slab, offsets, lengths, addresses, ports, first, count[, sources])");
    return NULL;
  }
  int32_t fd, first, count;
  void *slab_data, *offsets_data, *lengths_data, *addresses_data, *ports_data;
  size_t slab_length, offsets_length, lengths_length, addresses_length, ports_length;
  if (!arg_int32(env, argv[0], &fd, "sendUdpBatch: fd must be a number") ||
      !arg_typed(env, argv[1], napi_uint8_array, &slab_data, &slab_length, "sendUdpBatch: slab must be a Uint8Array") ||
      !arg_typed(env, argv[2], napi_int32_array, &offsets_data, &offsets_length, "sendUdpBatch: offsets must be an Int32Array") ||
      !arg_typed(env, argv[3], napi_int32_array, &lengths_data, &lengths_length, "sendUdpBatch: lengths must be an Int32Array") ||
      !arg_typed(env, argv[4], napi_uint32_array, &addresses_data, &addresses_length, "sendUdpBatch: addresses must be a Uint32Array") ||
      !arg_typed(env, argv[5], napi_int32_array, &ports_data, &ports_length, "sendUdpBatch: ports must be an Int32Array") ||
      !arg_int32(env, argv[6], &first, "sendUdpBatch: first must be a number") ||
      !arg_int32(env, argv[7], &count, "sendUdpBatch: count must be a number"))
    return NULL;
  /* Optional: per datagram the IP source address it must carry (0: the kernel chooses). */
  const uint32_t *sources = NULL;
  if (argc > 8) {
    napi_valuetype type;
    napi_typeof(env, argv[8], &type);
    if (type != napi_undefined) {
      void *sources_data;
      size_t sources_length;
      if (!arg_typed(env, argv[8], napi_uint32_array, &sources_data, &sources_length, "sendUdpBatch: sources must be a Uint32Array"))
        return NULL;
      if ((size_t)count > sources_length) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sendUdpBatch: need count <= the length of sources");
        return NULL;
      }
      sources = sources_data;
    }
  }
  if (first < 0 || count < first || (size_t)count > offsets_length || (size_t)count > lengths_length ||
      (size_t)count > addresses_length || (size_t)count > ports_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sendUdpBatch: need 0 <= first <= count <= the length of every array");
    return NULL;
  }
  const uint8_t *slab = slab_data;
  const int32_t *offsets = offsets_data, *lengths = lengths_data, *ports = ports_data;
  const uint32_t *addresses = addresses_data;
  for (int32_t i = first; i < count; i++) {
    if (offsets[i] < 0 || lengths[i] < 0 || (size_t)offsets[i] + (size_t)lengths[i] > slab_length || ports[i] < 0 ||
        ports[i] > 65535) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sendUdpBatch: a datagram lies outside the slab or has a bad port");
      return NULL;
    }
  }

  enum { CHUNK = 64 };
  struct mmsghdr messages[CHUNK];
  struct iovec vectors[CHUNK];
  struct sockaddr_in destinations[CHUNK];
  /* IP_PKTINFO with ipi_spec_dst: the source address of a datagram sent from a socket bound
   * to 0.0.0.0 (RFC 5944 3.8.3.1: a Reply comes from the address the Request was sent to). */
  union {
    char buffer[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
  } controls[CHUNK];
  int32_t sent = 0;
  while (first + sent < count) {
    int chunk = count - first - sent > CHUNK ? CHUNK : count - first - sent;
    for (int j = 0; j < chunk; j++) {
      int i = first + sent + j;
      vectors[j].iov_base = (void *)(slab + offsets[i]);
      vectors[j].iov_len = (size_t)lengths[i];
      memset(&destinations[j], 0, sizeof destinations[j]);
      destinations[j].sin_family = AF_INET;
      destinations[j].sin_addr.s_addr = htonl(addresses[i]);
      destinations[j].sin_port = htons((uint16_t)ports[i]);
      struct msghdr *header = &messages[j].msg_hdr;
      memset(&messages[j], 0, sizeof messages[j]);
      header->msg_iov = &vectors[j];
      header->msg_iovlen = 1;
      header->msg_name = &destinations[j];
      header->msg_namelen = sizeof destinations[j];
      if (sources != NULL && sources[i] != 0) {
        memset(&controls[j], 0, sizeof controls[j]);
        header->msg_control = controls[j].buffer;
        header->msg_controllen = sizeof controls[j].buffer;
        struct cmsghdr *control = CMSG_FIRSTHDR(header);
        control->cmsg_level = IPPROTO_IP;
        control->cmsg_type = IP_PKTINFO;
        control->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo *info = (struct in_pktinfo *)CMSG_DATA(control);
        info->ipi_spec_dst.s_addr = htonl(sources[i]);
      }
    }
    int n = sendmmsg(fd, messages, (unsigned int)chunk, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || sent > 0) break;
      return make_int32(env, -errno);
    }
    sent += n;
    if (n < chunk) break; /* the buffer is full or the next datagram fails: the next call says which */
  }
  return make_int32(env, sent);
}

/*
 * A one-shot writability watch for a socket whose reader already polls it: libuv allows one
 * poll handle per descriptor number, so the watch polls a dup() of it (the same socket; epoll
 * tells the two apart by number). Armed only while datagrams wait for room in the socket
 * buffer, so it costs nothing otherwise.
 */
typedef struct writable_watch {
  uv_poll_t poll;
  napi_env env;
  int fd; /* the dup, closed when the watch stops */
  napi_ref callback_ref;
  napi_async_context async_context;
  int armed, stopped, closed, finalized, in_callback;
} writable_watch_t;

static void watch_release(napi_env env, writable_watch_t *watch) {
  if (watch->callback_ref) napi_delete_reference(env, watch->callback_ref);
  if (watch->async_context) napi_async_destroy(env, watch->async_context);
  watch->callback_ref = NULL;
  watch->async_context = NULL;
}

static void watch_closed(uv_handle_t *handle) {
  writable_watch_t *watch = (writable_watch_t *)handle->data;
  watch->closed = 1;
  if (watch->finalized) free(watch);
}

static void watch_stop(writable_watch_t *watch) {
  if (watch->stopped) return;
  watch->stopped = 1;
  uv_poll_stop(&watch->poll);
  if (!watch->in_callback) watch_release(watch->env, watch);
  /* uv_close takes the descriptor out of epoll before it returns (only its callback waits for
     the next loop turn), so the dup can go now: the socket must be closed, its port free, when
     the caller's close returns. */
  uv_close((uv_handle_t *)&watch->poll, watch_closed);
  close(watch->fd);
}

static void watch_ready(uv_poll_t *handle, int status, int events) {
  writable_watch_t *watch = (writable_watch_t *)handle->data;
  (void)events;
  if (watch->stopped || !watch->armed) return;
  watch->armed = 0;
  uv_poll_stop(&watch->poll);
  napi_env env = watch->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argv[1], result;
  napi_get_reference_value(env, watch->callback_ref, &callback);
  napi_get_global(env, &receiver);
  argv[0] = make_int32(env, status < 0 ? status : 0); /* libuv statuses are -errno on Unix */
  watch->in_callback = 1;
  napi_status call = napi_make_callback(env, watch->async_context, receiver, callback, 1, argv, &result);
  watch->in_callback = 0;
  if (watch->stopped) watch_release(env, watch);
  if (call == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static void watch_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  writable_watch_t *watch = data;
  watch->finalized = 1;
  /* Collected without stopWritable: stop it now, or its dup stays open as long as the process
     (watch_closed then frees it). */
  if (!watch->stopped) watch_stop(watch);
  else if (watch->closed) free(watch);
}

/* watchWritable(fd, callback(status)) → handle: disarmed; armWritable(handle) arms it once. */
static napi_value watch_writable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 2 || !arg_int32(env, argv[0], &fd, "watchWritable(fd, callback): fd must be a number")) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[1], &type);
  if (type != napi_function) {
    throw_type(env, "watchWritable: callback must be a function");
    return NULL;
  }
  writable_watch_t *watch = calloc(1, sizeof *watch);
  if (watch == NULL) {
    throw_errno(env, ENOMEM, "watchWritable", NULL);
    return NULL;
  }
  watch->env = env;
  watch->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (watch->fd < 0) {
    int error = errno;
    free(watch);
    throw_errno(env, error, "watchWritable: dup", NULL);
    return NULL;
  }
  uv_loop_t *loop;
  int status = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &watch->poll, watch->fd) : -EINVAL;
  if (status < 0) {
    close(watch->fd);
    free(watch);
    throw_errno(env, -status, "watchWritable: uv_poll_init", NULL);
    return NULL;
  }
  watch->poll.data = watch;
  napi_value resource_name;
  napi_create_string_utf8(env, "mip4:writable", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &watch->async_context);
  napi_create_reference(env, argv[1], 1, &watch->callback_ref);
  int made;
  napi_value handle = make_handle(env, watch, watch_finalize, &WATCH_TAG, &made);
  if (handle == NULL) {
    if (!made) watch->finalized = 1; /* no finalizer will run: free once closed */
    watch_stop(watch);
  }
  return handle;
}

static writable_watch_t *arg_watch(napi_env env, napi_value value, const char *what) {
  return arg_handle(env, value, &WATCH_TAG, what);
}

/* armWritable(handle): calls back once, as soon as the socket has room to send. */
static napi_value arm_writable(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  writable_watch_t *watch = arg_watch(env, argc < 1 ? NULL : argv[0], "armWritable(handle): handle must come from watchWritable");
  if (watch == NULL || watch->stopped || watch->armed) return NULL;
  int status = uv_poll_start(&watch->poll, UV_WRITABLE, watch_ready);
  if (status < 0) {
    throw_errno(env, -status, "armWritable: uv_poll_start", NULL);
    return NULL;
  }
  watch->armed = 1;
  return NULL;
}

/* stopWritable(handle): stops the watch and closes its dup; safe twice and from its callback. */
static napi_value stop_writable(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  writable_watch_t *watch = arg_watch(env, argc < 1 ? NULL : argv[0], "stopWritable(handle): handle must come from watchWritable");
  if (watch != NULL) watch_stop(watch);
  return NULL;
}

/* ---------------------------------------------------------------- rtnetlink: routes, link up */

/*
 * openNetlink() → fd: a NETLINK_ROUTE socket for routeChange/routeList/setLinkUp. The kernel
 * handles an rtnetlink request synchronously inside sendmsg and queues its answer before
 * sendmsg returns, so reading the answer does not wait; a 1 s receive timeout bounds the
 * impossible case rather than leaving the event loop stuck.
 */
static napi_value open_netlink(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    throw_errno(env, errno, "openNetlink: socket(AF_NETLINK, NETLINK_ROUTE)", NULL);
    return NULL;
  }
  struct timeval timeout = {.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "openNetlink: bind", NULL);
    return NULL;
  }
  return make_int32(env, fd);
}

static uint32_t netlink_sequence = 1;

static void netlink_attribute(struct nlmsghdr *message, unsigned short type, const void *data, unsigned short length) {
  struct rtattr *attribute = (struct rtattr *)((char *)message + NLMSG_ALIGN(message->nlmsg_len));
  attribute->rta_type = type;
  attribute->rta_len = (unsigned short)RTA_LENGTH(length);
  memcpy(RTA_DATA(attribute), data, length);
  message->nlmsg_len = NLMSG_ALIGN(message->nlmsg_len) + RTA_ALIGN(attribute->rta_len);
}

static int netlink_send(int fd, struct nlmsghdr *message) {
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(fd, message, message->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

/* Reads the ack of request `sequence`: 0 or the positive errno the kernel answered. */
static int netlink_ack(int fd, uint32_t sequence) {
  char buffer[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (unsigned int)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != sequence) continue; /* a late answer to an earlier request */
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *error = NLMSG_DATA(h);
        return -error->error;
      }
    }
  }
}

/* "198.51.100.10/32 dev mip4ha0 table 254" for error messages. */
static void route_text(char *text, size_t size, uint32_t destination, int prefix_length, int ifindex, uint32_t table) {
  char device[IF_NAMESIZE] = "?";
  if (ifindex > 0 && if_indextoname((unsigned int)ifindex, device) == NULL) snprintf(device, sizeof device, "#%d", ifindex);
  snprintf(text, size, "%u.%u.%u.%u/%d dev %s table %u", destination >> 24, (destination >> 16) & 0xff,
           (destination >> 8) & 0xff, destination & 0xff, prefix_length, device, table);
}

/*
 * routeChange(fd, operation, destination, prefixLength, ifindex, table, protocol): operation 0
 * adds (fails with EEXIST when the route exists), 1 adds or replaces, 2 deletes (ESRCH when
 * absent). A scope-link unicast route to destination/prefixLength out of ifindex, in `table`,
 * marked with `protocol` (rtm_protocol) so that its owner can find its routes again.
 */
static napi_value route_change(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) {
    throw_type(env, "routeChange(fd, operation, destination, prefixLength, ifindex, table, protocol)");
    return NULL;
  }
  int32_t fd, operation, destination_signed, prefix_length, ifindex, table_signed, protocol;
  if (!arg_int32(env, argv[0], &fd, "routeChange: fd must be a number") ||
      !arg_int32(env, argv[1], &operation, "routeChange: operation must be a number") ||
      !arg_int32(env, argv[2], &destination_signed, "routeChange: destination must be a number") ||
      !arg_int32(env, argv[3], &prefix_length, "routeChange: prefixLength must be a number") ||
      !arg_int32(env, argv[4], &ifindex, "routeChange: ifindex must be a number") ||
      !arg_int32(env, argv[5], &table_signed, "routeChange: table must be a number") ||
      !arg_int32(env, argv[6], &protocol, "routeChange: protocol must be a number"))
    return NULL;
  if (operation < 0 || operation > 2 || prefix_length < 0 || prefix_length > 32 || ifindex < 1 || table_signed < 1 ||
      protocol < 0 || protocol > 255) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "routeChange: operation 0..2, prefixLength 0..32, ifindex >= 1, table >= 1, protocol 0..255");
    return NULL;
  }
  uint32_t destination = (uint32_t)destination_signed, table = (uint32_t)table_signed;
  union {
    struct nlmsghdr header;
    char bytes[256];
  } request;
  memset(&request, 0, sizeof request);
  struct nlmsghdr *message = &request.header;
  message->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  message->nlmsg_type = operation == 2 ? RTM_DELROUTE : RTM_NEWROUTE;
  message->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  if (operation == 0) message->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
  if (operation == 1) message->nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;
  message->nlmsg_seq = ++netlink_sequence;
  struct rtmsg *route = NLMSG_DATA(message);
  route->rtm_family = AF_INET;
  route->rtm_dst_len = (unsigned char)prefix_length;
  route->rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
  route->rtm_protocol = (unsigned char)protocol;
  route->rtm_scope = operation == 2 ? RT_SCOPE_NOWHERE : RT_SCOPE_LINK;
  route->rtm_type = RTN_UNICAST;
  uint32_t network_destination = htonl(destination);
  netlink_attribute(message, RTA_DST, &network_destination, 4);
  netlink_attribute(message, RTA_OIF, &ifindex, 4);
  netlink_attribute(message, RTA_TABLE, &table, 4);

  static const char *const names[] = {"route add", "route replace", "route delete"};
  int error = netlink_send(fd, message);
  if (error == 0) error = netlink_ack(fd, message->nlmsg_seq);
  if (error != 0) {
    char text[96];
    route_text(text, sizeof text, destination, prefix_length, ifindex, table);
    throw_errno(env, error, names[operation], text);
    return NULL;
  }
  return NULL;
}

/*
 * routeList(fd, table, protocol) → [{ destination, prefixLength, ifindex }]: the IPv4 routes of
 * `table` marked with `protocol` (a dump, filtered here).
 */
static napi_value route_list(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, table_signed, protocol;
  if (argc < 3 || !arg_int32(env, argv[0], &fd, "routeList: fd must be a number") ||
      !arg_int32(env, argv[1], &table_signed, "routeList: table must be a number") ||
      !arg_int32(env, argv[2], &protocol, "routeList: protocol must be a number"))
    return NULL;
  union {
    struct nlmsghdr header;
    char bytes[64];
  } request;
  memset(&request, 0, sizeof request);
  struct nlmsghdr *message = &request.header;
  message->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  message->nlmsg_type = RTM_GETROUTE;
  message->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message->nlmsg_seq = ++netlink_sequence;
  ((struct rtmsg *)NLMSG_DATA(message))->rtm_family = AF_INET;
  int error = netlink_send(fd, message);
  if (error != 0) {
    throw_errno(env, error, "routeList: RTM_GETROUTE", NULL);
    return NULL;
  }
  napi_value list;
  napi_create_array(env, &list);
  uint32_t found = 0;
  char buffer[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (int done = 0; !done;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(env, errno, "routeList: reading the route dump", NULL);
      return NULL;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (unsigned int)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != message->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) {
        done = 1;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *failure = NLMSG_DATA(h);
        throw_errno(env, -failure->error, "routeList: RTM_GETROUTE", NULL);
        return NULL;
      }
      if (h->nlmsg_type != RTM_NEWROUTE) continue;
      struct rtmsg *route = NLMSG_DATA(h);
      if (route->rtm_family != AF_INET || route->rtm_protocol != (unsigned char)protocol) continue;
      uint32_t table = route->rtm_table, destination = 0;
      int32_t ifindex = 0;
      int length = (int)RTM_PAYLOAD(h);
      for (struct rtattr *a = RTM_RTA(route); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
        if (a->rta_type == RTA_TABLE) memcpy(&table, RTA_DATA(a), 4);
        else if (a->rta_type == RTA_DST) {
          memcpy(&destination, RTA_DATA(a), 4);
          destination = ntohl(destination);
        } else if (a->rta_type == RTA_OIF)
          memcpy(&ifindex, RTA_DATA(a), 4);
      }
      if (table != (uint32_t)table_signed) continue;
      napi_value entry, value;
      napi_create_object(env, &entry);
      napi_create_uint32(env, destination, &value);
      napi_set_named_property(env, entry, "destination", value);
      napi_set_named_property(env, entry, "prefixLength", make_int32(env, route->rtm_dst_len));
      napi_set_named_property(env, entry, "ifindex", make_int32(env, ifindex));
      napi_set_element(env, list, found++, entry);
    }
  }
  return list;
}

/* setLinkUp(fd, ifindex, up: boolean): sets or clears IFF_UP (RTM_NEWLINK). */
static napi_value set_link_up(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, ifindex;
  bool up = true;
  if (argc < 3 || !arg_int32(env, argv[0], &fd, "setLinkUp: fd must be a number") ||
      !arg_int32(env, argv[1], &ifindex, "setLinkUp: ifindex must be a number") ||
      napi_get_value_bool(env, argv[2], &up) != napi_ok) {
    throw_type(env, "setLinkUp(fd, ifindex, up: boolean)");
    return NULL;
  }
  union {
    struct nlmsghdr header;
    char bytes[64];
  } request;
  memset(&request, 0, sizeof request);
  struct nlmsghdr *message = &request.header;
  message->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  message->nlmsg_type = RTM_NEWLINK;
  message->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  message->nlmsg_seq = ++netlink_sequence;
  struct ifinfomsg *link = NLMSG_DATA(message);
  link->ifi_family = AF_UNSPEC;
  link->ifi_index = ifindex;
  link->ifi_flags = up ? IFF_UP : 0;
  link->ifi_change = IFF_UP;
  int error = netlink_send(fd, message);
  if (error == 0) error = netlink_ack(fd, message->nlmsg_seq);
  if (error != 0) {
    char device[IF_NAMESIZE] = "?";
    if (if_indextoname((unsigned int)ifindex, device) == NULL) snprintf(device, sizeof device, "#%d", ifindex);
    throw_errno(env, error, up ? "link set up" : "link set down", device);
    return NULL;
  }
  return NULL;
}

/*
 * setMtu(name, mtu): sets an interface's MTU (SIOCSIFMTU). The home agent's TUN device must
 * be smaller than the home link by the tunnel header, since its raw socket does not fragment.
 */
static napi_value set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1];
  int32_t mtu;
  if (argc < 2 || !arg_name(env, argv[0], name, sizeof name, "setMtu(name, mtu): name must be a string") ||
      !arg_int32(env, argv[1], &mtu, "setMtu(name, mtu): mtu must be a number"))
    return NULL;
  char subject[IFNAMSIZ + 32];
  snprintf(subject, sizeof subject, "%d on %s", mtu, name);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "setMtu: socket(AF_INET) to set MTU", subject);
    return NULL;
  }
  struct ifreq request;
  memset(&request, 0, sizeof request);
  memcpy(request.ifr_name, name, strlen(name)); /* arg_name checked < IFNAMSIZ */
  request.ifr_mtu = mtu;
  int failed = ioctl(fd, SIOCSIFMTU, &request) < 0;
  int error = errno;
  close(fd);
  if (failed) {
    throw_errno(env, error, "setMtu: SIOCSIFMTU", subject);
    return NULL;
  }
  return NULL;
}

/* interfaceIndex(name) → ifindex, or 0 when there is no such interface. */
static napi_value interface_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1];
  if (argc < 1 || !arg_name(env, argv[0], name, sizeof name, "interfaceIndex(name): name must be a string")) return NULL;
  return make_int32(env, (int32_t)if_nametoindex(name));
}

/* ---------------------------------------------------------------- module */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"openTun", NULL, open_tun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openPacket", NULL, open_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openRawIp", NULL, open_raw_ip, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReader", NULL, start_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReader", NULL, stop_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"refReader", NULL, ref_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openNetlink", NULL, open_netlink, NULL, NULL, NULL, napi_enumerable, NULL},
      {"routeChange", NULL, route_change, NULL, NULL, NULL, napi_enumerable, NULL},
      {"routeList", NULL, route_list, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setLinkUp", NULL, set_link_up, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMtu", NULL, set_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"interfaceIndex", NULL, interface_index, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openUdp", NULL, open_udp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendUdpBatch", NULL, send_udp_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchWritable", NULL, watch_writable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"armWritable", NULL, arm_writable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopWritable", NULL, stop_writable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunOffloadCounters", NULL, tun_offload_counters, NULL, NULL, NULL, napi_enumerable, NULL},
      {"segmentOffloaded", NULL, segment_offloaded, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
