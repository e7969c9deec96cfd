/* TUN devices: openTun and the offloads its reader undoes (IFF_VNET_HDR). */

#include "mip4_io.h"

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

static tun_offload_t **offload_by_fd = NULL;
static size_t offload_fd_capacity = 0;

tun_offload_t *offload_for(int fd) {
  return fd >= 0 && (size_t)fd < offload_fd_capacity ? offload_by_fd[fd] : NULL;
}

void offload_forget(int fd) {
  tun_offload_t *offload = offload_for(fd);
  if (offload == NULL) return;
  offload_by_fd[fd] = NULL;
  /* Closed under a running reader (stopReader should come first): the reader must not keep a
     pointer into the state freed here. */
  if (offload->reader != NULL) offload_detach_reader(offload->reader);
  free(offload->scratch);
  free(offload);
}

tun_offload_t *offload_create(size_t scratch_size) {
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
int offload_remember(int fd, tun_offload_t *offload) {
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
 * The IPv4 header of a frame whose link header is link_length bytes long (0 on a TUN, 14 for
 * Ethernet on an AF_PACKET socket), or NULL when the frame carries something else or is too short.
 */
static const uint8_t *frame_ipv4(const uint8_t *frame, size_t length, size_t link_length) {
  if (length < link_length + 20) return NULL;
  if (link_length == ETH_HLEN && get16(frame + 12) != ETH_P_IP) return NULL;
  const uint8_t *ip = frame + link_length;
  return (ip[0] >> 4) == 4 ? ip : NULL;
}

/*
 * Completes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the ones' complement sum from
 * csum_start to the end, the field included (it holds the pseudo-header sum), stored at
 * csum_start + csum_offset (both counted from the frame's start, link header included). Returns
 * 0 when the offsets lie outside the frame.
 */
static int offload_complete_checksum(uint8_t *frame, size_t length, const struct virtio_net_hdr *header, size_t link_length) {
  size_t start = header->csum_start, at = (size_t)header->csum_start + header->csum_offset;
  if (start >= length || at + 2 > length) return 0;
  uint16_t checksum = checksum_fold(checksum_add(0, frame + start, length - start));
  const uint8_t *ip = frame_ipv4(frame, length, link_length);
  int udp = ip != NULL && ip[9] == IPPROTO_UDP && at == link_length + (size_t)(ip[0] & 0x0f) * 4 + 6;
  if (checksum == 0 && udp) checksum = 0xffff;
  memcpy(frame + at, &checksum, 2);
  return 1;
}

/*
 * Checks the super-packet in offload->scratch (`length` bytes, header in offload->header) and
 * makes it pending. Returns 0 when it cannot be segmented here (counted as dropped by the caller).
 */
static int offload_prepare(tun_offload_t *offload, size_t length, size_t slot_size) {
  size_t link_length = offload->link_length;
  const uint8_t *ip = frame_ipv4(offload->scratch, length, link_length); /* USO may bring IPv6: not ours */
  unsigned int type = offload->header.gso_type & (unsigned int)~VIRTIO_NET_HDR_GSO_ECN;
  int tcp = type == VIRTIO_NET_HDR_GSO_TCPV4;
  if (!tcp && type != VIRTIO_NET_HDR_GSO_UDP_L4) return 0; /* TCPv6, UFO: never asked for */
  if (ip == NULL) return 0;
  size_t ip_length = (size_t)(ip[0] & 0x0f) * 4;
  if (ip_length < 20 || (get16(ip + 6) & 0x3fff) != 0) return 0; /* a fragment cannot be a GSO packet */
  if (ip[9] != (tcp ? IPPROTO_TCP : IPPROTO_UDP)) return 0;
  size_t transport_at = link_length + ip_length;
  size_t transport_length = tcp ? (transport_at + 13 <= length ? (size_t)(ip[ip_length + 12] >> 4) * 4 : 0) : 8;
  if (transport_length < 8 || (tcp && transport_length < 20)) return 0;
  size_t header_length = transport_at + transport_length;
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
  size_t link_length = offload->link_length;
  size_t header_length = offload->pending_header_length, ip_length = (size_t)(packet[link_length] & 0x0f) * 4;
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
    size_t segment_length = header_length + payload, datagram_length = segment_length - link_length;
    uint8_t *ip = segment + link_length;
    put16(ip + 2, (uint16_t)datagram_length);
    put16(ip + 4, (uint16_t)(get16(packet + link_length + 4) + index));
    ipv4_header_checksum(ip, ip_length);
    uint8_t *transport = ip + ip_length;
    if (offload->pending_tcp) {
      uint32_t sequence;
      memcpy(&sequence, packet + link_length + ip_length + 4, 4);
      sequence = htonl(ntohl(sequence) + (uint32_t)(offset - header_length));
      memcpy(transport + 4, &sequence, 4);
      if (!last) transport[13] &= (uint8_t)~(0x01 | 0x08); /* FIN, PSH: the last segment's */
      if (index > 0) transport[13] &= (uint8_t)~0x80;      /* CWR: the first segment's */
      transport_checksum(ip, transport, datagram_length - ip_length, IPPROTO_TCP, 16);
    } else {
      put16(transport + 4, (uint16_t)(datagram_length - ip_length));
      transport_checksum(ip, transport, datagram_length - ip_length, IPPROTO_UDP, 6);
    }
    int32_t *m = meta + (size_t)count * META_WORDS;
    m[0] = (int32_t)((size_t)count * slot_size);
    m[1] = (int32_t)segment_length;
    m[2] = offload->pending_source;
    m[3] = offload->pending_extra;
    count++;
    offload->counters.segments++;
    offload->pending_index++;
    offload->pending_next_offset = offset + payload;
    if (last) offload->pending_length = 0;
  }
  return count;
}

/*
 * One read from an offload descriptor: the virtio_net_hdr in offload->header, `length` bytes
 * of frame in slot `count` of the slab, spilling into the scratch after slot_size. Completes a
 * partial checksum or segments a GSO frame; returns the new count. Every packet it yields gets
 * source and extra as meta words 2 and 3. A partial checksum whose offsets lie outside the
 * frame is dropped when unfinished_extra is 0, else passed on as it is with that bit in extra.
 */
static int offload_take(tun_offload_t *offload, uint8_t *slab, size_t slot_size, int max_packets, int32_t *meta, int count,
                        size_t length, int32_t source, int32_t extra, int32_t unfinished_extra) {
  uint8_t *slot = slab + (size_t)count * slot_size;
  if (offload->header.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    if (length > slot_size) {
      offload->counters.dropped++;
      return count;
    }
    if (offload->header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      if (offload_complete_checksum(slot, length, &offload->header, offload->link_length)) {
        offload->counters.checksums_completed++;
      } else if (unfinished_extra != 0) {
        extra |= unfinished_extra;
      } else {
        offload->counters.dropped++;
        return count;
      }
    }
    int32_t *m = meta + (size_t)count * META_WORDS;
    m[0] = (int32_t)((size_t)count * slot_size);
    m[1] = (int32_t)length;
    m[2] = source;
    m[3] = extra;
    return count + 1;
  }
  memcpy(offload->scratch, slot, length < slot_size ? length : slot_size);
  if (!offload_prepare(offload, length, slot_size)) {
    offload->counters.dropped++;
    return count;
  }
  offload->pending_source = source;
  offload->pending_extra = extra;
  return offload_emit(offload, slab, slot_size, max_packets, meta, count);
}

/*
 * The reader's branch for a descriptor with offloads (a TUN opened with IFF_VNET_HDR, an
 * AF_PACKET socket with PACKET_VNET_HDR): finishes a pending super-packet, then reads until
 * EAGAIN or the batch is full. Each read lands in the next slot (the common, small case: no
 * copy) and spills into the scratch buffer when larger; a super-packet is then made contiguous
 * in the scratch and segmented into the slots. One read per frame (no recvmmsg): a frame may be
 * 64 KiB, and only one scratch buffer exists. Returns the count or -errno.
 */
int offload_drain(int fd, int kind, tun_offload_t *offload, uint8_t *slab, size_t slot_size, int max_packets, int32_t *meta) {
  int count = offload_emit(offload, slab, slot_size, max_packets, meta, 0);
  while (count < max_packets && offload->pending_length == 0) {
    uint8_t *slot = slab + (size_t)count * slot_size;
    struct iovec parts[3] = {
        {&offload->header, VNET_HEADER_SIZE},
        {slot, slot_size},
        {offload->scratch + slot_size, offload->scratch_size - slot_size},
    };
    struct sockaddr_ll from;
    memset(&from, 0, sizeof from);
    struct msghdr message = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = parts, .msg_iovlen = 3};
    ssize_t n = kind == KIND_PACKET ? recvmsg(fd, &message, MSG_DONTWAIT) : readv(fd, parts, 3);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      /* AF_PACKET: a frame whose offload the kernel cannot describe in a virtio_net_hdr is
         dropped by recvmsg with EINVAL (packet_rcv_vnet); the socket itself is fine. */
      if (kind == KIND_PACKET && errno == EINVAL) {
        offload->counters.dropped++;
        continue;
      }
      return count > 0 ? count : -errno;
    }
    if ((size_t)n <= VNET_HEADER_SIZE || (size_t)n >= VNET_HEADER_SIZE + offload->scratch_size ||
        (message.msg_flags & MSG_TRUNC)) {
      offload->counters.dropped++; /* empty, or possibly cut short */
      continue;
    }
    size_t length = (size_t)n - VNET_HEADER_SIZE;
    if (kind != KIND_PACKET) {
      count = offload_take(offload, slab, slot_size, max_packets, meta, count, length, 0, 0, 0);
      continue;
    }
    /* This host's own sends (PACKET_OUTGOING) are never handed to a handler: not worth cutting up. */
    if (from.sll_pkttype == PACKET_OUTGOING && offload->header.gso_type != VIRTIO_NET_HDR_GSO_NONE) continue;
    count = offload_take(offload, slab, slot_size, max_packets, meta, count, length, from.sll_ifindex, from.sll_pkttype,
                         EXTRA_CHECKSUM_NOT_READY);
  }
  return count;
}

/* Writes one packet to an offload TUN: a zeroed virtio_net_hdr (no offload asked) then the packet. */
ssize_t offload_write(int fd, const uint8_t *packet, size_t length) {
  static const struct virtio_net_hdr none;
  struct iovec parts[2] = {{(void *)&none, VNET_HEADER_SIZE}, {(void *)packet, length}};
  ssize_t n = writev(fd, parts, 2);
  return n < 0 ? n : n - (ssize_t)VNET_HEADER_SIZE;
}

/* Sizes fd's scratch buffer for a reader with slots of slot_size; returns the state, NULL when none or no memory. */
tun_offload_t *offload_for_reader(int fd, size_t slot_size, int *failed) {
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

/* tunOffloadCounters(fd) → { superPackets, segments, checksumsCompleted, dropped } or undefined. */
napi_value tun_offload_counters(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "tunOffloadCounters(fd)")) return NULL;
  int32_t fd;
  if (!arg_int32(env, argv[0], &fd, "tunOffloadCounters(fd): fd must be a number")) return NULL;
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
 * segmentOffloaded(input, slab, slotSize, meta, linkLength = 0) → count: what the reader does
 * (offload_take) with one read from an offload TUN (input = virtio_net_hdr + packet), or with
 * linkLength 14 from an AF_PACKET socket of an Ethernet interface (virtio_net_hdr + frame; a
 * partial checksum it cannot complete is then passed on with 0x200 in meta word 3), for tests: the packets it yields lie in
 * slab slots of slotSize bytes, [offset, length, 0, 0] per packet in meta. 0 when it would be
 * dropped; a RangeError when the slab has too few slots.
 */
napi_value segment_offloaded(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 4, "segmentOffloaded(input, slab, slotSize, meta)")) return NULL;
  void *input, *slab, *meta;
  size_t input_length, slab_length, meta_length;
  int32_t slot_size;
  if (!arg_typed(env, argv[0], napi_uint8_array, &input, &input_length, "segmentOffloaded: input must be a Uint8Array") ||
      !arg_typed(env, argv[1], napi_uint8_array, &slab, &slab_length, "segmentOffloaded: slab must be a Uint8Array") ||
      !arg_int32(env, argv[2], &slot_size, "segmentOffloaded: slotSize must be a number") ||
      !arg_typed(env, argv[3], napi_int32_array, &meta, &meta_length, "segmentOffloaded: meta must be an Int32Array"))
    return NULL;
  int32_t link_length = 0;
  if (arg_type(env, argv[4]) != napi_undefined &&
      !arg_int32(env, argv[4], &link_length, "segmentOffloaded: linkLength must be a number"))
    return NULL;
  if (link_length != 0 && link_length != ETH_HLEN) {
    throw_range(env, "segmentOffloaded: linkLength must be 0 (TUN) or 14 (Ethernet)");
    return NULL;
  }
  if (slot_size < 64 || input_length <= VNET_HEADER_SIZE || input_length - VNET_HEADER_SIZE > OFFLOAD_MAX_PACKET) {
    throw_range(env, "segmentOffloaded: slotSize >= 64, input = header + 1..65792 bytes");
    return NULL;
  }
  int max_packets = (int)(slab_length / (size_t)slot_size);
  if ((size_t)max_packets * META_WORDS > meta_length) max_packets = (int)(meta_length / META_WORDS);
  if (max_packets < 1) {
    throw_range(env, "segmentOffloaded: the slab and meta must hold one packet at least");
    return NULL;
  }
  tun_offload_t *offload = offload_create((size_t)slot_size + OFFLOAD_MAX_PACKET);
  if (offload == NULL) {
    throw_errno(env, ENOMEM, "segmentOffloaded", NULL);
    return NULL;
  }
  memcpy(&offload->header, input, VNET_HEADER_SIZE);
  offload->link_length = (size_t)link_length;
  /* Laid out as the reader's read leaves it: the slot first, the rest spilled into the scratch. */
  const uint8_t *frame = (const uint8_t *)input + VNET_HEADER_SIZE;
  size_t length = input_length - VNET_HEADER_SIZE, in_slot = length < (size_t)slot_size ? length : (size_t)slot_size;
  memcpy(slab, frame, in_slot);
  memcpy(offload->scratch + slot_size, frame + in_slot, length - in_slot);
  /* As the AF_PACKET reader does, an unfinishable partial checksum is passed on flagged; a TUN's is dropped. */
  int count = offload_take(offload, slab, (size_t)slot_size, max_packets, meta, 0, length, 0, 0,
                           link_length != 0 ? EXTRA_CHECKSUM_NOT_READY : 0);
  int unfinished = offload->pending_length != 0;
  free(offload->scratch);
  free(offload);
  if (unfinished) {
    throw_range(env, "segmentOffloaded: more segments than slots");
    return NULL;
  }
  return make_int32(env, count);
}

/* ---------------------------------------------------------------- openTun */
/* ---------------------------------------------------------------- openers */

/*
 * openTun(name: string, options?: { offload?: boolean }) → { fd, name, offloads }: an IFF_TUN |
 * IFF_NO_PI device, non-blocking. With offload, also IFF_VNET_HDR and TUNSETOFFLOAD (see "TUN
 * offloads"): offloads is the TUN_F_* flags the kernel accepted, 0 without.
 */
napi_value open_tun(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "openTun(name, options?)")) return NULL;
  char name[IFNAMSIZ + 1];
  if (!arg_name(env, argv[0], name, sizeof name, "openTun(name): name must be a string")) return NULL;
  bool offload = option_flag(env, argv[1], "offload");

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
