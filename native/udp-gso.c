/*
 * UDP generic segmentation offload for the batched UDP writer (issue 16: the RFC 3519 tunnel
 * sends runs of same-size tunnel data messages to one NAT address and port).
 *
 * sendUdpSegmented has sendUdpBatch's arguments and result, but sends each run of consecutive
 * datagrams to the same destination (and source) whose lengths are equal, the last one
 * possibly shorter, as ONE message with a UDP_SEGMENT control message (Linux 4.18): the stack
 * is walked once per run and the datagrams are cut at the end (by the NIC, or in software at the
 * latest point). The receiver sees the same datagrams as with sendUdpBatch. A run holds at
 * most UDP_SEGMENT_MAX_RUN datagrams and 65,000 bytes (the kernel's limits are 64 segments
 * before Linux 6.1's 128, and one IP datagram's payload).
 *
 * udpSegmentSupported(fd) → boolean: getsockopt(SOL_UDP, UDP_SEGMENT) works on this kernel.
 */

#include "mip4_io.h"

#include <netinet/udp.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

enum { UDP_SEGMENT_MAX_RUN = 64, UDP_SEGMENT_MAX_BYTES = 65000, MESSAGES = 64, VECTORS = 1024 };

napi_value udp_segment_supported(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "udpSegmentSupported(fd)")) return NULL;
  int32_t fd;
  if (!arg_int32(env, argv[0], &fd, "udpSegmentSupported: fd must be a number")) return NULL;
  int size = 0;
  socklen_t length = sizeof size;
  napi_value result;
  napi_get_boolean(env, getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &length) == 0, &result);
  return result;
}

napi_value send_udp_segmented(napi_env env, napi_callback_info info) {
  udp_batch_args_t args;
  if (!udp_batch_args_read(env, info, "sendUdpSegmented", &args)) return NULL;
  const int32_t fd = args.fd, first = args.first, count = args.count;
  const uint8_t *slab = args.slab;
  const int32_t *lengths = args.lengths, *offsets = args.offsets, *ports = args.ports;
  const uint32_t *addresses = args.addresses, *sources = args.sources;

  struct mmsghdr messages[MESSAGES];
  struct iovec vectors[VECTORS];
  struct sockaddr_in destinations[MESSAGES];
  int32_t runs[MESSAGES]; /* datagrams per message */
  union {
    char buffer[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
  } controls[MESSAGES];
  int32_t sent = 0;
  while (first + sent < count) {
    int built = 0, used = 0;
    int32_t next = first + sent;
    while (built < MESSAGES && next < count && used < VECTORS) {
      /* One run: same destination and source, every length equal to the first, the last <= it. */
      int32_t size = lengths[next];
      uint32_t source = sources != NULL ? sources[next] : 0;
      int32_t run = 0, bytes = 0;
      while (next + run < count && run < UDP_SEGMENT_MAX_RUN && used + run < VECTORS) {
        int32_t i = next + run;
        if (run > 0 && (addresses[i] != addresses[next] || ports[i] != ports[next] || (sources != NULL ? sources[i] : 0) != source ||
                        lengths[i] > size || lengths[i - 1] != size || size == 0 || bytes + lengths[i] > UDP_SEGMENT_MAX_BYTES))
          break;
        vectors[used + run].iov_base = (void *)(slab + offsets[i]);
        vectors[used + run].iov_len = (size_t)lengths[i];
        bytes += lengths[i];
        run++;
      }
      memset(&destinations[built], 0, sizeof destinations[built]);
      destinations[built].sin_family = AF_INET;
      destinations[built].sin_addr.s_addr = htonl(addresses[next]);
      destinations[built].sin_port = htons((uint16_t)ports[next]);
      struct msghdr *header = &messages[built].msg_hdr;
      memset(&messages[built], 0, sizeof messages[built]);
      header->msg_iov = &vectors[used];
      header->msg_iovlen = (size_t)run;
      header->msg_name = &destinations[built];
      header->msg_namelen = sizeof destinations[built];
      size_t control_length = 0;
      memset(&controls[built], 0, sizeof controls[built]);
      header->msg_control = controls[built].buffer;
      header->msg_controllen = sizeof controls[built].buffer;
      struct cmsghdr *control = CMSG_FIRSTHDR(header);
      if (run > 1) {
        control->cmsg_level = SOL_UDP;
        control->cmsg_type = UDP_SEGMENT;
        control->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t segment = (uint16_t)size;
        memcpy(CMSG_DATA(control), &segment, sizeof segment);
        control_length += CMSG_SPACE(sizeof(uint16_t));
        control = CMSG_NXTHDR(header, control);
      }
      if (source != 0) {
        control->cmsg_level = IPPROTO_IP;
        control->cmsg_type = IP_PKTINFO;
        control->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo *pktinfo = (struct in_pktinfo *)CMSG_DATA(control);
        pktinfo->ipi_spec_dst.s_addr = htonl(source);
        control_length += CMSG_SPACE(sizeof(struct in_pktinfo));
      }
      header->msg_controllen = control_length;
      if (control_length == 0) header->msg_control = NULL;
      runs[built] = run;
      used += run;
      next += run;
      built++;
    }
    int n = sendmmsg(fd, messages, (unsigned int)built, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || sent > 0) break;
      return make_int32(env, -errno);
    }
    for (int m = 0; m < n; m++) sent += runs[m];
    if (n < built) break; /* the buffer is full or the next message fails: the next call says which */
  }
  return make_int32(env, sent);
}
