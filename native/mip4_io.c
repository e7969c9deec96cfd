/*
 * mip4_io: the small native helper behind io/linux.
 *
 * Node has no TUN devices, AF_PACKET sockets or raw IPv4 sockets, and the data plane must
 * move packets in batches (docs/performance.md: one JS call per batch of up to 64 packets makes
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
 *     so that callers still see MTU-sized IPv4 packets ("TUN offloads" in tun.c);
 *   - set an interface's MTU (SIOCSIFMTU);
 *   - subscribe to the kernel's link, address and default-route events (rtnetlink groups),
 *     with a dump of the state at start and again after an overrun (link-events.c);
 *   - add and remove host routes and bring a device up over rtnetlink (the home agent routes
 *     each away mobile node's home address into its TUN device), one request and its ack per
 *     call: the kernel answers an rtnetlink request inside the sendmsg that carries it.
 *
 * No threads, no blocking calls on the event loop. Errors are JS Errors whose `code` is the
 * errno name and whose message names the operation and the interface.
 *
 * Sources (mip4_io.h is what they share): args.c, the one family of argument helpers every
 * exported function reads its arguments with, and the errors; tun.c, TUN devices and their
 * offloads; reader.c, the batched reader; sockets.c, the socket openers, batched writers and
 * the writability watch; links.c, rtnetlink routes and links, MTU, interface index; link-events.c, the
 * rtnetlink subscription behind io/linux/link-events.ts; socket-buffers.c, socket queue sizes and
 * the kernel's drop counts. This file
 * holds only the module's function table.
 */

#include "mip4_io.h"

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
      {"sendUdpSegmented", NULL, send_udp_segmented, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSegmentSupported", NULL, udp_segment_supported, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchWritable", NULL, watch_writable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"armWritable", NULL, arm_writable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopWritable", NULL, stop_writable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunOffloadCounters", NULL, tun_offload_counters, NULL, NULL, NULL, napi_enumerable, NULL},
      {"segmentOffloaded", NULL, segment_offloaded, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchLinkEvents", NULL, watch_link_events, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopLinkEvents", NULL, stop_link_events, NULL, NULL, NULL, napi_enumerable, NULL},
      {"refLinkEvents", NULL, ref_link_events, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setSocketBuffers", NULL, set_socket_buffers, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketDrops", NULL, socket_drops, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
