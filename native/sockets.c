/* Sockets: AF_PACKET, raw IPv4 and UDP openers, the batched writers, the writability watch. */

#include "mip4_io.h"

/* ---------------------------------------------------------------- descriptors */

/*
 * openPacket(ifname: string, ethertype = ETH_P_ALL) → { fd, ifindex }: an AF_PACKET SOCK_RAW
 * socket bound to one interface, non-blocking, with PACKET_VNET_HDR.
 *
 * Why PACKET_VNET_HDR: a sender on this same host (a namespace behind a veth, a bridge) leaves
 * its TCP/UDP checksum to offload and hands TCP over as GSO super-frames of up to 64 KiB; a NIC
 * with GRO does the same. An agent that tunnels such a frame (the FA's reverse tunnel, RFC 3024)
 * would send a wrong checksum and a frame larger than the MTU. With a virtio_net_hdr before each
 * frame the reader knows which and undoes it like a TUN's (tun.c "TUN offloads"). The kernel
 * then expects the header before every frame sent on the socket too: sendBatch prepends a
 * zeroed one (no offload asked), rather than a second socket for sending, which would double
 * the descriptors and see our own sends as PACKET_OUTGOING on the first.
 */
napi_value open_packet(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "openPacket(ifname, ethertype?)")) return NULL;
  char name[IFNAMSIZ + 1];
  if (!arg_name(env, argv[0], name, sizeof name, "openPacket(ifname): ifname must be a string")) return NULL;
  int32_t ethertype = ETH_P_ALL;
  if (arg_type(env, argv[1]) != napi_undefined && !arg_int32(env, argv[1], &ethertype, "openPacket: ethertype must be a number"))
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
     the transport checksum to be filled in later (TP_STATUS_CSUMNOTREADY, see reader_drain in reader.c). */
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "openPacket: PACKET_AUXDATA", name);
    return NULL;
  }
  const char *failed = NULL;
  int error = 0;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) {
    failed = "openPacket: PACKET_VNET_HDR";
    error = errno;
  }
  /* csum_start counts the link header: Ethernet (and loopback) frames carry 14 bytes before IPv4. */
  struct ifreq request;
  memset(&request, 0, sizeof request);
  memcpy(request.ifr_name, name, strlen(name)); /* arg_name checked < IFNAMSIZ */
  if (failed == NULL && ioctl(fd, SIOCGIFHWADDR, &request) < 0) {
    failed = "openPacket: SIOCGIFHWADDR";
    error = errno;
  }
  tun_offload_t *offload = failed == NULL ? offload_create(0) : NULL;
  if (failed == NULL && offload == NULL) {
    failed = "openPacket: offload state";
    error = ENOMEM;
  }
  if (offload != NULL) {
    unsigned short type = request.ifr_hwaddr.sa_family;
    offload->link_length = (type == ARPHRD_ETHER || type == ARPHRD_LOOPBACK) ? ETH_HLEN : 0;
    error = offload_remember(fd, offload);
    if (error != 0) {
      free(offload->scratch);
      free(offload);
      failed = "openPacket: offload state";
    }
  }
  if (failed != NULL) {
    close(fd);
    throw_errno(env, error, failed, name);
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
napi_value open_raw_ip(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "openRawIp(protocol, options?)")) return NULL;
  int32_t protocol;
  if (!arg_int32(env, argv[0], &protocol, "openRawIp(protocol): protocol must be a number")) return NULL;
  if (protocol < 1 || protocol > 255) {
    throw_range(env, "openRawIp: protocol must be 1..255");
    return NULL;
  }
  bool hdrincl = option_flag(env, argv[1], "hdrincl");
  char device[IFNAMSIZ + 1] = "";
  if (!option_name(env, argv[1], "device", device, sizeof device, "openRawIp: device must be an interface name"))
    return NULL;
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
napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "close(fd)")) return NULL;
  int32_t fd;
  if (!arg_int32(env, argv[0], &fd, "close(fd): fd must be a number")) return NULL;
  offload_forget(fd);
  if (close(fd) < 0 && errno != EINTR) {
    throw_errno(env, errno, "close", NULL);
    return NULL;
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
napi_value send_batch(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 6, "sendBatch(fd, kind, slab, offsets, lengths, count, destinations?)")) return NULL;
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
  napi_valuetype type = arg_type(env, argv[6]);
  if (type != napi_undefined && type != napi_null &&
      !arg_typed(env, argv[6], napi_uint32_array, &destinations_data, &destinations_length,
                 "sendBatch: destinations must be a Uint32Array"))
    return NULL;
  if (kind < KIND_TUN || kind > KIND_UDP) {
    throw_type(env, "sendBatch: kind must be a DescriptorKind (0 TUN, 1 AF_PACKET, 2 raw IP, 3 UDP)");
    return NULL;
  }
  if (count < 0 || count > MAX_BATCH || (size_t)count > offsets_length || (size_t)count > lengths_length) {
    throw_range(env, "sendBatch: count must be 0..1024 and <= offsets/lengths");
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
      throw_range(env, "sendBatch: a packet lies outside the slab");
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
  struct iovec vectors[64][2];
  struct sockaddr_in addresses[64];
  /* An AF_PACKET socket with PACKET_VNET_HDR (openPacket) takes a virtio_net_hdr before each
     frame: a zeroed one asks for no offload. */
  static const struct virtio_net_hdr no_offload;
  int with_header = kind == KIND_PACKET && offload_for(fd) != NULL;
  while (sent < count) {
    int chunk = count - sent > 64 ? 64 : count - sent;
    for (int j = 0; j < chunk; j++) {
      int i = sent + j;
      vectors[j][0].iov_base = (void *)&no_offload;
      vectors[j][0].iov_len = VNET_HEADER_SIZE;
      vectors[j][1].iov_base = (void *)(slab + offsets[i]);
      vectors[j][1].iov_len = (size_t)lengths[i];
      memset(&messages[j], 0, sizeof messages[j]);
      messages[j].msg_hdr.msg_iov = with_header ? &vectors[j][0] : &vectors[j][1];
      messages[j].msg_hdr.msg_iovlen = with_header ? 2 : 1;
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

/*
 * openUdp(address, port, options?: { broadcast?, receiveBufferBytes?, sendBufferBytes? })
 * → { fd, address, port }: an AF_INET SOCK_DGRAM socket bound to address:port (host order;
 * 0.0.0.0 and port 0 as bind(2) reads them), non-blocking, with IP_PKTINFO so that each
 * datagram says which address it was sent to (a home agent bound to 0.0.0.0 or to a broadcast
 * address must know, RFC 5944 3.8.2.1 and 3.8.3.1). The buffer sizes are requests the kernel
 * caps at net.core.rmem_max / wmem_max. Returns the address and port actually bound.
 */
napi_value open_udp(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 2, "openUdp(address, port, options?)")) return NULL;
  int32_t address_signed, port;
  if (!arg_int32(env, argv[0], &address_signed, "openUdp(address, port): address must be a number") ||
      !arg_int32(env, argv[1], &port, "openUdp(address, port): port must be a number"))
    return NULL;
  if (port < 0 || port > 65535) {
    throw_range(env, "openUdp: port must be 0..65535");
    return NULL;
  }
  int32_t broadcast = 0, receive_buffer = 0, send_buffer = 0;
  const char *bad_option = "openUdp: options must be numbers or booleans";
  if (!option_int32(env, argv[2], "broadcast", &broadcast, bad_option) ||
      !option_int32(env, argv[2], "receiveBufferBytes", &receive_buffer, bad_option) ||
      !option_int32(env, argv[2], "sendBufferBytes", &send_buffer, bad_option))
    return NULL;
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
int udp_drain(reader_t *reader) {
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
bool udp_batch_args_read(napi_env env, napi_callback_info info, const char *name, udp_batch_args_t *out) {
  napi_value argv[MAX_ARGS];
  char usage[128], what[128];
  snprintf(usage, sizeof usage, "%s(fd, slab, offsets, lengths, addresses, ports, first, count[, sources])", name);
  if (!args_read(env, info, argv, 8, usage)) return false;
  void *slab_data, *offsets_data, *lengths_data, *addresses_data, *ports_data;
  size_t offsets_length, lengths_length, addresses_length, ports_length;
#define WHAT(text) (snprintf(what, sizeof what, "%s: " text, name), what)
  if (!arg_int32(env, argv[0], &out->fd, WHAT("fd must be a number")) ||
      !arg_typed(env, argv[1], napi_uint8_array, &slab_data, &out->slab_length, WHAT("slab must be a Uint8Array")) ||
      !arg_typed(env, argv[2], napi_int32_array, &offsets_data, &offsets_length, WHAT("offsets must be an Int32Array")) ||
      !arg_typed(env, argv[3], napi_int32_array, &lengths_data, &lengths_length, WHAT("lengths must be an Int32Array")) ||
      !arg_typed(env, argv[4], napi_uint32_array, &addresses_data, &addresses_length, WHAT("addresses must be a Uint32Array")) ||
      !arg_typed(env, argv[5], napi_int32_array, &ports_data, &ports_length, WHAT("ports must be an Int32Array")) ||
      !arg_int32(env, argv[6], &out->first, WHAT("first must be a number")) ||
      !arg_int32(env, argv[7], &out->count, WHAT("count must be a number")))
    return false;
  int32_t first = out->first, count = out->count;
  /* Optional: per datagram the IP source address it must carry (0: the kernel chooses). */
  out->sources = NULL;
  if (arg_type(env, argv[8]) != napi_undefined) {
    void *sources_data;
    size_t sources_length;
    if (!arg_typed(env, argv[8], napi_uint32_array, &sources_data, &sources_length, WHAT("sources must be a Uint32Array")))
      return false;
    if ((size_t)count > sources_length) {
      throw_range(env, WHAT("need count <= the length of sources"));
      return false;
    }
    out->sources = sources_data;
  }
  if (first < 0 || count < first || (size_t)count > offsets_length || (size_t)count > lengths_length ||
      (size_t)count > addresses_length || (size_t)count > ports_length) {
    throw_range(env, WHAT("need 0 <= first <= count <= the length of every array"));
    return false;
  }
  out->slab = slab_data;
  out->offsets = offsets_data;
  out->lengths = lengths_data;
  out->ports = ports_data;
  out->addresses = addresses_data;
  for (int32_t i = first; i < count; i++) {
    if (out->offsets[i] < 0 || out->lengths[i] < 0 || (size_t)out->offsets[i] + (size_t)out->lengths[i] > out->slab_length ||
        out->ports[i] < 0 || out->ports[i] > 65535) {
      throw_range(env, WHAT("a datagram lies outside the slab or has a bad port"));
      return false;
    }
  }
#undef WHAT
  return true;
}

napi_value send_udp_batch(napi_env env, napi_callback_info info) {
  udp_batch_args_t args;
  if (!udp_batch_args_read(env, info, "sendUdpBatch", &args)) return NULL;
  const int32_t fd = args.fd, first = args.first, count = args.count;
  const uint8_t *slab = args.slab;
  const int32_t *offsets = args.offsets, *lengths = args.lengths, *ports = args.ports;
  const uint32_t *addresses = args.addresses, *sources = args.sources;

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

/* The watch handle's type tag (the reader's is READER_TAG in reader.c). */
static const napi_type_tag WATCH_TAG = {0x6d697034696f7774ULL, 0x2e94b6d0f15a7c03ULL};

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
napi_value watch_writable(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 2, "watchWritable(fd, callback)")) return NULL;
  int32_t fd;
  if (!arg_int32(env, argv[0], &fd, "watchWritable(fd, callback): fd must be a number")) return NULL;
  if (!arg_function(env, argv[1], "watchWritable: callback must be a function")) return NULL;
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
napi_value arm_writable(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "armWritable(handle): handle must come from watchWritable")) return NULL;
  writable_watch_t *watch = arg_watch(env, argv[0], "armWritable(handle): handle must come from watchWritable");
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
napi_value stop_writable(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "stopWritable(handle): handle must come from watchWritable")) return NULL;
  writable_watch_t *watch = arg_watch(env, argv[0], "stopWritable(handle): handle must come from watchWritable");
  if (watch != NULL) watch_stop(watch);
  return NULL;
}
