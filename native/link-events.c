/* Link and address events: an rtnetlink subscription read with uv_poll, one JS call per batch. */

#include "mip4_io.h"

/* linux/if.h has it, but clashes with net/if.h: the carrier bit of ifi_flags (RFC 2863 lower layer up). */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

/*
 * watchLinkEvents(callback(events, error?), options?) → handle. A NETLINK_ROUTE socket joined
 * to RTMGRP_LINK, RTMGRP_IPV4_IFADDR and RTMGRP_IPV4_ROUTE; every readiness drains it and calls
 * back once with an array of plain objects:
 *   { kind: 'link', interfaceName, ifindex, up, carrier }          (IFF_UP, IFF_LOWER_UP; a
 *                                                                    deleted link: both false)
 *   { kind: 'address', interfaceName, ifindex, added, address, prefixLength }   (IPv4, host order)
 *   { kind: 'default-route', interfaceName, ifindex, added, gateway }           (main table)
 *   { kind: 'sync', phase: 'begin' | 'end', overrun }
 * A dump (links, then addresses, then routes) between a 'sync' begin and end gives the state at
 * start; the socket's receive queue overflowing (ENOBUFS: events were lost) starts a fresh dump,
 * with overrun true, so whoever keeps the state can drop what the dump did not list again.
 * options: { receiveBuffer } (bytes, SO_RCVBUF; small values let a test provoke an overrun).
 * A failure to read calls back with an empty array and an Error, and stops the watch.
 */

static const napi_type_tag LINK_WATCH_TAG = {0x6d697034696f6c6bULL, 0x2f6a1d0c93e45b17ULL};

enum { DUMP_IDLE = 0, DUMP_LINKS, DUMP_ADDRESSES, DUMP_ROUTES };

typedef struct {
  napi_env env;
  int fd;
  uv_poll_t poll;
  napi_ref callback_ref;
  napi_async_context async_context;
  int stopped, closed, finalized, in_callback;
  int dump_stage;         /* which dump is running, DUMP_IDLE when none */
  uint32_t dump_sequence; /* the running dump's nlmsg_seq */
  int resync_pending;     /* an overrun during a dump: dump again once it ends */
  int overrun;            /* the current dump follows an overrun */
  int begin_pending;      /* the first dump's 'sync' begin is still to be reported */
  uint32_t sequence;
  char buffer[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
} link_watch_t;

static void watch_release(napi_env env, link_watch_t *watch) {
  if (watch->callback_ref) napi_delete_reference(env, watch->callback_ref);
  if (watch->async_context) napi_async_destroy(env, watch->async_context);
  watch->callback_ref = NULL;
  watch->async_context = NULL;
}

static void watch_closed(uv_handle_t *handle) {
  link_watch_t *watch = (link_watch_t *)handle->data;
  watch->closed = 1;
  close(watch->fd);
  if (watch->finalized) free(watch);
}

static void watch_stop(link_watch_t *watch) {
  if (watch->stopped) return;
  watch->stopped = 1;
  uv_poll_stop(&watch->poll);
  if (!watch->in_callback) watch_release(watch->env, watch);
  uv_close((uv_handle_t *)&watch->poll, watch_closed);
}

/* Sends the dump request of `stage`; 0 or an errno. */
static int dump_request(link_watch_t *watch, int stage) {
  union {
    struct nlmsghdr header;
    char bytes[64];
  } request;
  memset(&request, 0, sizeof request);
  struct nlmsghdr *message = &request.header;
  message->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message->nlmsg_seq = ++watch->sequence;
  if (stage == DUMP_LINKS) {
    message->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    message->nlmsg_type = RTM_GETLINK;
    ((struct ifinfomsg *)NLMSG_DATA(message))->ifi_family = AF_UNSPEC;
  } else if (stage == DUMP_ADDRESSES) {
    message->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    message->nlmsg_type = RTM_GETADDR;
    ((struct ifaddrmsg *)NLMSG_DATA(message))->ifa_family = AF_INET;
  } else {
    message->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    message->nlmsg_type = RTM_GETROUTE;
    ((struct rtmsg *)NLMSG_DATA(message))->rtm_family = AF_INET;
  }
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(watch->fd, message, message->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  watch->dump_stage = stage;
  watch->dump_sequence = message->nlmsg_seq;
  return 0;
}

static napi_value sync_event(napi_env env, const char *phase, int overrun) {
  napi_value event, value;
  napi_create_object(env, &event);
  napi_create_string_utf8(env, "sync", NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, event, "kind", value);
  napi_create_string_utf8(env, phase, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, event, "phase", value);
  napi_get_boolean(env, overrun != 0, &value);
  napi_set_named_property(env, event, "overrun", value);
  return event;
}

static void set_string(napi_env env, napi_value object, const char *name, const char *text) {
  napi_value value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, object, name, value);
}

static void set_bool(napi_env env, napi_value object, const char *name, int flag) {
  napi_value value;
  napi_get_boolean(env, flag != 0, &value);
  napi_set_named_property(env, object, name, value);
}

/* The interface's name: the kernel's, else the one the message carried (a link already gone). */
static void interface_name(int ifindex, const char *carried, char *name) {
  name[0] = '\0';
  if (ifindex > 0 && if_indextoname((unsigned int)ifindex, name) != NULL) return;
  if (carried != NULL) {
    size_t length = strnlen(carried, IF_NAMESIZE - 1);
    memcpy(name, carried, length);
    name[length] = '\0';
    char *alias = strchr(name, ':'); /* an address label "eth0:1" names eth0 */
    if (alias != NULL) *alias = '\0';
  }
}

/* One rtnetlink message as an event object, or NULL when it is of no interest. */
static napi_value parse_message(napi_env env, struct nlmsghdr *h) {
  char name[IF_NAMESIZE];
  napi_value event;
  if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) return NULL;
    struct ifinfomsg *link = NLMSG_DATA(h);
    const char *carried = NULL;
    int length = (int)IFLA_PAYLOAD(h);
    for (struct rtattr *a = IFLA_RTA(link); RTA_OK(a, length); a = RTA_NEXT(a, length))
      if (a->rta_type == IFLA_IFNAME && RTA_PAYLOAD(a) > 0) carried = RTA_DATA(a);
    int deleted = h->nlmsg_type == RTM_DELLINK;
    /* A deleted link's name is the one the message carried: the index may already be reused. */
    if (deleted && carried != NULL) interface_name(0, carried, name);
    else interface_name(link->ifi_index, carried, name);
    napi_create_object(env, &event);
    set_string(env, event, "kind", "link");
    set_string(env, event, "interfaceName", name);
    napi_set_named_property(env, event, "ifindex", make_int32(env, link->ifi_index));
    set_bool(env, event, "up", !deleted && (link->ifi_flags & IFF_UP));
    set_bool(env, event, "carrier", !deleted && (link->ifi_flags & IFF_LOWER_UP));
    return event;
  }
  if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR) {
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg))) return NULL;
    struct ifaddrmsg *address = NLMSG_DATA(h);
    if (address->ifa_family != AF_INET) return NULL;
    uint32_t local = 0, peer = 0;
    int has_local = 0, has_peer = 0;
    const char *label = NULL;
    int length = (int)IFA_PAYLOAD(h);
    for (struct rtattr *a = IFA_RTA(address); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
      if (a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == 4) {
        memcpy(&local, RTA_DATA(a), 4);
        has_local = 1;
      } else if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == 4) {
        memcpy(&peer, RTA_DATA(a), 4);
        has_peer = 1;
      } else if (a->rta_type == IFA_LABEL && RTA_PAYLOAD(a) > 0)
        label = RTA_DATA(a);
    }
    /* IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point links. */
    if (!has_local && !has_peer) return NULL;
    interface_name((int)address->ifa_index, label, name);
    napi_value value;
    napi_create_object(env, &event);
    set_string(env, event, "kind", "address");
    set_string(env, event, "interfaceName", name);
    napi_set_named_property(env, event, "ifindex", make_int32(env, (int32_t)address->ifa_index));
    set_bool(env, event, "added", h->nlmsg_type == RTM_NEWADDR);
    napi_create_uint32(env, ntohl(has_local ? local : peer), &value);
    napi_set_named_property(env, event, "address", value);
    napi_set_named_property(env, event, "prefixLength", make_int32(env, address->ifa_prefixlen));
    return event;
  }
  if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) {
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg))) return NULL;
    struct rtmsg *route = NLMSG_DATA(h);
    if (route->rtm_family != AF_INET || route->rtm_dst_len != 0 || route->rtm_type != RTN_UNICAST) return NULL;
    uint32_t table = route->rtm_table, gateway = 0;
    int32_t ifindex = 0;
    int has_gateway = 0;
    int length = (int)RTM_PAYLOAD(h);
    for (struct rtattr *a = RTM_RTA(route); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
      if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == 4) memcpy(&table, RTA_DATA(a), 4);
      else if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == 4) {
        memcpy(&gateway, RTA_DATA(a), 4);
        has_gateway = 1;
      } else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == 4)
        memcpy(&ifindex, RTA_DATA(a), 4);
    }
    /* Only the main table's default route through a gateway says where the link's router is. */
    if (table != RT_TABLE_MAIN || !has_gateway || ifindex <= 0) return NULL;
    interface_name(ifindex, NULL, name);
    napi_value value;
    napi_create_object(env, &event);
    set_string(env, event, "kind", "default-route");
    set_string(env, event, "interfaceName", name);
    napi_set_named_property(env, event, "ifindex", make_int32(env, ifindex));
    set_bool(env, event, "added", h->nlmsg_type == RTM_NEWROUTE);
    napi_create_uint32(env, ntohl(gateway), &value);
    napi_set_named_property(env, event, "gateway", value);
    return event;
  }
  return NULL;
}

/* Calls back with (events) or, with `error` (a positive errno), ([], Error). */
static void watch_call(link_watch_t *watch, napi_value events, int error, const char *operation) {
  napi_env env = watch->env;
  napi_value callback, receiver, argv[2], result;
  napi_get_reference_value(env, watch->callback_ref, &callback);
  napi_get_global(env, &receiver);
  argv[0] = events;
  if (error != 0) argv[1] = errno_error(env, error, operation, NULL);
  watch->in_callback = 1;
  napi_status status = napi_make_callback(env, watch->async_context, receiver, callback, error != 0 ? 2 : 1, argv, &result);
  watch->in_callback = 0;
  if (watch->stopped) watch_release(env, watch);
  if (status == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
}

static void push(napi_env env, napi_value list, uint32_t *count, napi_value event) {
  if (event != NULL) napi_set_element(env, list, (*count)++, event);
}

/* A fresh dump from the links on (at start and after an overrun), announced by 'sync' begin. */
static int dump_start(link_watch_t *watch, napi_value list, uint32_t *count, int overrun) {
  watch->overrun = overrun;
  watch->resync_pending = 0;
  push(watch->env, list, count, sync_event(watch->env, "begin", overrun));
  return dump_request(watch, DUMP_LINKS);
}

static void watch_ready(uv_poll_t *handle, int status, int events_mask) {
  link_watch_t *watch = (link_watch_t *)handle->data;
  (void)events_mask;
  if (watch->stopped) return;
  napi_env env = watch->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value list;
  napi_create_array(env, &list);
  uint32_t count = 0;
  int error = 0;
  const char *operation = NULL;
  int overflowed = 0;
  if (status < 0) {
    /* libuv reports an error queued on the socket (EPOLLERR) as UV_EBADF and stops polling; on
       a netlink socket that error is ENOBUFS, the overrun: clear it, poll again, dump afresh. */
    int pending = 0;
    socklen_t length = sizeof pending;
    if (getsockopt(watch->fd, SOL_SOCKET, SO_ERROR, &pending, &length) == 0 && pending == ENOBUFS &&
        uv_poll_start(&watch->poll, UV_READABLE, watch_ready) == 0)
      overflowed = 1;
    else {
      error = pending != 0 ? pending : -status;
      operation = "link events: poll";
    }
  }
  if (watch->begin_pending) {
    watch->begin_pending = 0;
    push(env, list, &count, sync_event(env, "begin", 0));
  }
  /* Bounded: one wakeup reads at most 64 datagrams, the rest comes with the next. */
  for (int reads = 0; error == 0 && reads < 64; reads++) {
    ssize_t n = overflowed ? -1 : recv(watch->fd, watch->buffer, sizeof watch->buffer, MSG_DONTWAIT);
    if (overflowed) errno = ENOBUFS;
    overflowed = 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        /* Events were dropped: the kernel's state is known again only from a new dump. */
        if (watch->dump_stage != DUMP_IDLE) watch->resync_pending = 1;
        else {
          int failed = dump_start(watch, list, &count, 1);
          if (failed != 0) {
            error = failed;
            operation = "link events: RTM_GETLINK dump";
          }
        }
        continue;
      }
      error = errno;
      operation = "link events: recv";
      break;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)watch->buffer; NLMSG_OK(h, (unsigned int)n); h = NLMSG_NEXT(h, n)) {
      int ours = watch->dump_stage != DUMP_IDLE && h->nlmsg_seq == watch->dump_sequence;
      if (h->nlmsg_type == NLMSG_DONE || (h->nlmsg_type == NLMSG_ERROR && ours)) {
        if (!ours) continue;
        if (h->nlmsg_type == NLMSG_ERROR) {
          struct nlmsgerr *failure = NLMSG_DATA(h);
          if (failure->error != 0) {
            error = -failure->error;
            operation = "link events: dump";
            break;
          }
        }
        if (watch->resync_pending) {
          error = dump_start(watch, list, &count, 1);
          operation = "link events: RTM_GETLINK dump";
        } else if (watch->dump_stage == DUMP_ROUTES) {
          watch->dump_stage = DUMP_IDLE;
          push(env, list, &count, sync_event(env, "end", watch->overrun));
        } else {
          error = dump_request(watch, watch->dump_stage + 1);
          operation = "link events: dump request";
        }
        if (error != 0) break;
        continue;
      }
      push(env, list, &count, parse_message(env, h));
    }
  }
  if (count > 0 || error != 0) watch_call(watch, list, error, operation);
  if (error != 0 && !watch->stopped) watch_stop(watch);
  napi_close_handle_scope(env, scope);
}

static void watch_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  link_watch_t *watch = data;
  watch->finalized = 1;
  if (watch->closed) free(watch);
}

napi_value watch_link_events(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "watchLinkEvents(callback(events, error?), options?)")) return NULL;
  if (!arg_function(env, argv[0], "watchLinkEvents: callback must be a function")) return NULL;
  int32_t receive_buffer = 0;
  if (!option_int32(env, argv[1], "receiveBuffer", &receive_buffer, "watchLinkEvents: options.receiveBuffer must be a number"))
    return NULL;
  if (receive_buffer < 0) {
    throw_range(env, "watchLinkEvents: options.receiveBuffer must be >= 0 (0: the kernel's default)");
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) {
    throw_errno(env, errno, "watchLinkEvents: socket(AF_NETLINK, NETLINK_ROUTE)", NULL);
    return NULL;
  }
  if (receive_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE;
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, error, "watchLinkEvents: bind (RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE)", NULL);
    return NULL;
  }
  link_watch_t *watch = calloc(1, sizeof *watch);
  if (watch == NULL) {
    close(fd);
    throw_errno(env, ENOMEM, "watchLinkEvents", NULL);
    return NULL;
  }
  watch->env = env;
  watch->fd = fd;
  uv_loop_t *loop;
  int status = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &watch->poll, fd) : -EINVAL;
  if (status < 0) {
    close(fd);
    free(watch);
    throw_errno(env, -status, "watchLinkEvents: uv_poll_init", NULL);
    return NULL;
  }
  watch->poll.data = watch;
  napi_value resource_name;
  napi_create_string_utf8(env, "mip4:link-events", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &watch->async_context);
  napi_create_reference(env, argv[0], 1, &watch->callback_ref);
  /* The state at start: its 'sync' begin goes with the first batch, the answers follow. */
  watch->begin_pending = 1;
  int error = dump_request(watch, DUMP_LINKS);
  status = error != 0 ? -error : uv_poll_start(&watch->poll, UV_READABLE, watch_ready);
  if (status < 0) {
    watch->finalized = 1;
    watch_stop(watch);
    throw_errno(env, -status, error != 0 ? "watchLinkEvents: RTM_GETLINK dump" : "watchLinkEvents: uv_poll_start", NULL);
    return NULL;
  }
  int made;
  napi_value handle = make_handle(env, watch, watch_finalize, &LINK_WATCH_TAG, &made);
  if (handle == NULL) {
    if (!made) watch->finalized = 1;
    watch_stop(watch);
  }
  return handle;
}

/* stopLinkEvents(handle): stops the watch and closes its socket; safe twice and from its callback. */
napi_value stop_link_events(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "stopLinkEvents(handle): handle must come from watchLinkEvents")) return NULL;
  link_watch_t *watch = arg_handle(env, argv[0], &LINK_WATCH_TAG, "stopLinkEvents(handle): handle must come from watchLinkEvents");
  if (watch != NULL) watch_stop(watch);
  return NULL;
}

/* refLinkEvents(handle, ref: boolean): whether the watch keeps the process alive. */
napi_value ref_link_events(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 2, "refLinkEvents(handle, ref: boolean)")) return NULL;
  bool ref = true;
  link_watch_t *watch = arg_handle(env, argv[0], &LINK_WATCH_TAG, "refLinkEvents(handle, ref): handle must come from watchLinkEvents");
  if (watch == NULL || !arg_bool(env, argv[1], &ref, "refLinkEvents(handle, ref: boolean)")) return NULL;
  if (!watch->stopped) {
    if (ref) uv_ref((uv_handle_t *)&watch->poll);
    else uv_unref((uv_handle_t *)&watch->poll);
  }
  return NULL;
}
