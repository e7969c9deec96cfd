/* Routes and links: rtnetlink requests, MTU and interface index. */

#include "mip4_io.h"

/* ---------------------------------------------------------------- rtnetlink: routes, link up */

/*
 * openNetlink() → fd: a NETLINK_ROUTE socket for routeChange/routeList/setLinkUp. The kernel
 * handles an rtnetlink request synchronously inside sendmsg and queues its answer before
 * sendmsg returns, so reading the answer does not wait; a 1 s receive timeout bounds the
 * impossible case rather than leaving the event loop stuck.
 */
napi_value open_netlink(napi_env env, napi_callback_info info) {
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
napi_value route_change(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 7, "routeChange(fd, operation, destination, prefixLength, ifindex, table, protocol)")) return NULL;
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
    throw_range(env, "routeChange: operation 0..2, prefixLength 0..32, ifindex >= 1, table >= 1, protocol 0..255");
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
napi_value route_list(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 3, "routeList(fd, table, protocol)")) return NULL;
  int32_t fd, table_signed, protocol;
  if (!arg_int32(env, argv[0], &fd, "routeList: fd must be a number") ||
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
napi_value set_link_up(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 3, "setLinkUp(fd, ifindex, up: boolean)")) return NULL;
  int32_t fd, ifindex;
  bool up = true;
  if (!arg_int32(env, argv[0], &fd, "setLinkUp: fd must be a number") ||
      !arg_int32(env, argv[1], &ifindex, "setLinkUp: ifindex must be a number") ||
      !arg_bool(env, argv[2], &up, "setLinkUp(fd, ifindex, up: boolean)"))
    return NULL;
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
napi_value set_mtu(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 2, "setMtu(name, mtu)")) return NULL;
  char name[IFNAMSIZ + 1];
  int32_t mtu;
  if (!arg_name(env, argv[0], name, sizeof name, "setMtu(name, mtu): name must be a string") ||
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
napi_value interface_index(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "interfaceIndex(name)")) return NULL;
  char name[IFNAMSIZ + 1];
  if (!arg_name(env, argv[0], name, sizeof name, "interfaceIndex(name): name must be a string")) return NULL;
  return make_int32(env, (int32_t)if_nametoindex(name));
}
