/* Socket queues: their sizes (forced where the caller may) and the drops the kernel counted. */

#include "mip4_io.h"

#include <linux/sock_diag.h>

/*
 * One buffer size: SO_RCVBUFFORCE/SO_SNDBUFFORCE first (CAP_NET_ADMIN: beyond net.core.rmem_max
 * and wmem_max, which are 208 KiB by default, about 90 tunnelled full-size datagrams), else the
 * plain option, which the kernel caps at the sysctl. Returns the size the kernel now reports
 * (it doubles what it is given for its own bookkeeping).
 */
static int buffer_set(int fd, int forced, int plain, int32_t bytes, int *was_forced) {
  *was_forced = 0;
  if (bytes > 0) {
    if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) == 0)
      *was_forced = 1;
    else if (setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes) < 0)
      return -errno;
  }
  int size = 0;
  socklen_t length = sizeof size;
  if (getsockopt(fd, SOL_SOCKET, plain, &size, &length) < 0) return -errno;
  return size;
}

/*
 * setSocketBuffers(fd, receiveBytes, sendBytes) → { receive, send, forced }: sets the socket's
 * receive and send buffers (0 leaves one as it is); `receive`/`send` are the sizes now in force,
 * `forced` whether the kernel took them above its sysctl maxima (root). Throws on a bad fd.
 */
napi_value set_socket_buffers(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 3, "setSocketBuffers(fd, receiveBytes, sendBytes)")) return NULL;
  int32_t fd, receive_bytes, send_bytes;
  if (!arg_int32(env, argv[0], &fd, "setSocketBuffers: fd must be a number") ||
      !arg_int32(env, argv[1], &receive_bytes, "setSocketBuffers: receiveBytes must be a number") ||
      !arg_int32(env, argv[2], &send_bytes, "setSocketBuffers: sendBytes must be a number"))
    return NULL;
  if (receive_bytes < 0 || send_bytes < 0) {
    throw_range(env, "setSocketBuffers: sizes must be >= 0 (0 leaves that buffer as it is)");
    return NULL;
  }
  int receive_forced = 0, send_forced = 0;
  int receive = buffer_set(fd, SO_RCVBUFFORCE, SO_RCVBUF, receive_bytes, &receive_forced);
  if (receive < 0) {
    throw_errno(env, -receive, "setSocketBuffers: SO_RCVBUF", NULL);
    return NULL;
  }
  int send = buffer_set(fd, SO_SNDBUFFORCE, SO_SNDBUF, send_bytes, &send_forced);
  if (send < 0) {
    throw_errno(env, -send, "setSocketBuffers: SO_SNDBUF", NULL);
    return NULL;
  }
  napi_value result;
  napi_create_object(env, &result);
  set_number(env, result, "receive", receive);
  set_number(env, result, "send", send);
  napi_value forced;
  napi_get_boolean(env, (receive_bytes == 0 || receive_forced) && (send_bytes == 0 || send_forced), &forced);
  napi_set_named_property(env, result, "forced", forced);
  return result;
}

/*
 * socketDrops(fd) → number: the datagrams the kernel dropped on their way into this socket's
 * receive queue since it was opened (sk_drops, read with SO_MEMINFO: a full queue, and for
 * AF_PACKET also what PACKET_STATISTICS counts as tp_drops, without resetting that counter).
 * The same figure /proc/net/raw shows in its drops column, read by descriptor.
 */
napi_value socket_drops(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "socketDrops(fd)")) return NULL;
  int32_t fd;
  if (!arg_int32(env, argv[0], &fd, "socketDrops: fd must be a number")) return NULL;
  uint32_t memory[SK_MEMINFO_VARS];
  memset(memory, 0, sizeof memory);
  socklen_t length = sizeof memory;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, memory, &length) < 0) {
    throw_errno(env, errno, "socketDrops: SO_MEMINFO", NULL);
    return NULL;
  }
  if (length < (socklen_t)((SK_MEMINFO_DROPS + 1) * sizeof memory[0])) {
    throw_errno(env, EOPNOTSUPP, "socketDrops: SO_MEMINFO without a drop count (Linux < 4.7)", NULL);
    return NULL;
  }
  napi_value result;
  napi_create_double(env, (double)memory[SK_MEMINFO_DROPS], &result);
  return result;
}
