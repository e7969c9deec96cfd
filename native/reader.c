/* The batched reader: one uv_poll per descriptor, a caller-owned slab and meta, one JS call per batch. */

#include "mip4_io.h"

/* ---------------------------------------------------------------- batched reader */

/* The reader handle's type tag: an external alone does not say what it points to, and a watch
   (WATCH_TAG, sockets.c) taken for a reader would be written through as the wrong struct. */
static const napi_type_tag READER_TAG = {0x6d697034696f7264ULL, 0x8c1f0e5a3b7d4c21ULL};

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
void offload_detach_reader(reader_t *reader) { reader->offload = NULL; }

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

/* Fills up to max_packets slots; returns the count, or -errno when nothing could be read. */
static int reader_drain(reader_t *reader) {
  int count = 0;
  if ((reader->kind == KIND_TUN || reader->kind == KIND_PACKET) && reader->offload != NULL)
    return offload_drain(reader->fd, reader->kind, reader->offload, reader->slab, reader->slot_size, reader->max_packets, reader->meta);
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
napi_value start_reader(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 6, "startReader(fd, kind, slab, maxPackets, meta, callback)")) return NULL;
  int32_t fd, kind, max_packets;
  void *slab, *meta;
  size_t slab_length, meta_length;
  if (!arg_int32(env, argv[0], &fd, "startReader: fd must be a number") ||
      !arg_int32(env, argv[1], &kind, "startReader: kind must be a number") ||
      !arg_typed(env, argv[2], napi_uint8_array, &slab, &slab_length, "startReader: slab must be a Uint8Array") ||
      !arg_int32(env, argv[3], &max_packets, "startReader: maxPackets must be a number") ||
      !arg_typed(env, argv[4], napi_int32_array, &meta, &meta_length, "startReader: meta must be an Int32Array"))
    return NULL;
  if (!arg_function(env, argv[5], "startReader: callback must be a function")) return NULL;
  if (kind < KIND_TUN || kind > KIND_UDP) {
    throw_type(env, "startReader: kind must be a DescriptorKind (0 TUN, 1 AF_PACKET, 2 raw IP, 3 UDP)");
    return NULL;
  }
  if (max_packets < 1 || max_packets > MAX_BATCH || slab_length / (size_t)max_packets < 64 ||
      meta_length < (size_t)max_packets * META_WORDS) {
    throw_range(env, "startReader: maxPackets 1..1024, slab >= 64 bytes per packet, meta >= 5 words per packet");
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
  if (kind == KIND_TUN || kind == KIND_PACKET) {
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
    /* AF_PACKET: PACKET_AUXDATA; UDP: IP_PKTINFO (smaller, see udp_drain in sockets.c). */
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
napi_value stop_reader(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "stopReader(handle): handle must come from startReader")) return NULL;
  reader_t *reader = arg_handle(env, argv[0], &READER_TAG, "stopReader(handle): handle must come from startReader");
  if (reader != NULL) reader_stop(reader);
  return NULL;
}

/* setReaderActive(handle, ref: boolean): whether this reader keeps the process alive. */
napi_value ref_reader(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 2, "refReader(handle, ref: boolean)")) return NULL;
  bool ref = true;
  reader_t *reader = arg_handle(env, argv[0], &READER_TAG, "refReader(handle, ref): handle must come from startReader");
  if (reader == NULL) return NULL;
  if (!arg_bool(env, argv[1], &ref, "refReader(handle, ref: boolean)")) return NULL;
  if (!reader->stopped) {
    if (ref)
      uv_ref((uv_handle_t *)&reader->poll);
    else
      uv_unref((uv_handle_t *)&reader->poll);
  }
  return NULL;
}
