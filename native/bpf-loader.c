/*
 * mip4_bpf: the tc-BPF fast path's loader, a separate addon from mip4_io so that mip4_io never
 * depends on libbpf (libbpf1 may be absent where the userspace data path runs). It opens and
 * loads an object (the shipped native/bpf/dist objects), attaches programs to an interface's tc ingress or
 * egress (libbpf's bpf_tc_* over netlink, in the calling thread's network namespace), pins
 * programs and maps under a bpffs folder, and reads and writes map entries. Policy (which
 * names, which pins, cleanup order) is io/linux/bpf.ts's. Errors are mip4_io's errno errors.
 */
#include "mip4_io.h"

#include <sys/mount.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* The tail of libbpf's log while an object loads: the verifier's words go into the error. */
static char load_log[8192];
static size_t load_log_length;
static bool load_log_on;

static int capture_print(enum libbpf_print_level level, const char *format, va_list args) {
  if (!load_log_on || level == LIBBPF_DEBUG) return 0;
  /* The verifier's log comes as one message: room for it, of which the tail is kept. */
  static char message[65536];
  int n = vsnprintf(message, sizeof message, format, args);
  if (n <= 0) return 0;
  size_t length = strnlen(message, sizeof message);
  const char *line = message;
  if (length >= sizeof load_log) {
    line = message + length - (sizeof load_log - 1);
    length = sizeof load_log - 1;
  }
  if (load_log_length + length >= sizeof load_log) {
    /* Keep the end: the verifier's last lines say why. */
    size_t drop = load_log_length + length - (sizeof load_log - 1);
    memmove(load_log, load_log + drop, load_log_length - drop);
    load_log_length -= drop;
  }
  memcpy(load_log + load_log_length, line, length);
  load_log_length += length;
  load_log[load_log_length] = 0;
  return 0;
}

static const napi_type_tag OBJECT_TAG = {0x6d69703462706631ULL, 0x6f626a6563740001ULL};

typedef struct {
  struct bpf_object *object;
} loaded_object;

static void object_finalize(napi_env env, void *data, void *hint) {
  loaded_object *loaded = data;
  if (loaded->object != NULL) bpf_object__close(loaded->object);
  free(loaded);
}

static void set_int(napi_env env, napi_value object, const char *name, int32_t value) {
  napi_set_named_property(env, object, name, make_int32(env, value));
}

static int arg_path(napi_env env, napi_value value, char *buffer, size_t size, const char *what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, buffer, size, &length) != napi_ok || length == 0) {
    throw_type(env, what);
    return 0;
  }
  if (length >= size - 1) {
    throw_range(env, "paths are shorter than 4096 bytes");
    return 0;
  }
  return 1;
}

/* loadObject(path) → { handle, programs: { name: fd }, maps: { name: fd } } */
static napi_value load_object(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  char path[4096];
  if (!args_read(env, info, argv, 1, "loadObject(path)") || !arg_path(env, argv[0], path, sizeof path, "path must be a string")) return NULL;
  load_log_length = 0;
  load_log[0] = 0;
  load_log_on = true;
  struct bpf_object *object = bpf_object__open_file(path, NULL);
  int error = object == NULL ? errno : 0;
  if (error == 0) {
    int loaded = bpf_object__load(object);
    if (loaded < 0) {
      error = -loaded;
      bpf_object__close(object);
    }
  }
  load_log_on = false;
  if (error != 0) {
    napi_value err = errno_error(env, error, "load", path);
    if (load_log_length > 0) {
      napi_value log;
      napi_create_string_utf8(env, load_log, load_log_length, &log);
      napi_set_named_property(env, err, "log", log);
    }
    napi_throw(env, err);
    return NULL;
  }
  loaded_object *loaded = calloc(1, sizeof *loaded);
  if (loaded == NULL) {
    bpf_object__close(object);
    throw_errno(env, ENOMEM, "load", path);
    return NULL;
  }
  loaded->object = object;
  int made = 0;
  napi_value handle = make_handle(env, loaded, object_finalize, &OBJECT_TAG, &made);
  if (handle == NULL) {
    if (!made) object_finalize(env, loaded, NULL);
    return NULL;
  }
  napi_value result, programs, maps;
  napi_create_object(env, &result);
  napi_create_object(env, &programs);
  napi_create_object(env, &maps);
  struct bpf_program *program;
  bpf_object__for_each_program(program, object) set_int(env, programs, bpf_program__name(program), bpf_program__fd(program));
  struct bpf_map *map;
  bpf_object__for_each_map(map, object) set_int(env, maps, bpf_map__name(map), bpf_map__fd(map));
  napi_set_named_property(env, result, "handle", handle);
  napi_set_named_property(env, result, "programs", programs);
  napi_set_named_property(env, result, "maps", maps);
  return result;
}

/* closeObject(handle): closes the object's programs and maps (pinned ones live on in bpffs). */
static napi_value close_object(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  if (!args_read(env, info, argv, 1, "closeObject(handle)")) return NULL;
  loaded_object *loaded = arg_handle(env, argv[0], &OBJECT_TAG, "handle must come from loadObject");
  if (loaded == NULL) return NULL;
  if (loaded->object != NULL) bpf_object__close(loaded->object);
  loaded->object = NULL;
  return NULL;
}

static int tc_arguments(napi_env env, napi_value *argv, struct bpf_tc_hook *hook, struct bpf_tc_opts *opts) {
  int32_t ifindex, handle, priority;
  bool ingress;
  if (!arg_int32(env, argv[0], &ifindex, "ifindex must be an int32") || !arg_bool(env, argv[1], &ingress, "ingress must be a boolean") ||
      !arg_int32(env, argv[2], &handle, "handle must be an int32") || !arg_int32(env, argv[3], &priority, "priority must be an int32"))
    return 0;
  if (ifindex <= 0 || handle <= 0 || priority <= 0 || priority > 0xffff) {
    throw_range(env, "ifindex and handle are positive, priority 1 to 65535");
    return 0;
  }
  memset(hook, 0, sizeof *hook);
  hook->sz = sizeof *hook;
  hook->ifindex = ifindex;
  hook->attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  memset(opts, 0, sizeof *opts);
  opts->sz = sizeof *opts;
  opts->handle = (uint32_t)handle;
  opts->priority = (uint32_t)priority;
  return 1;
}

static const char *tc_subject(const struct bpf_tc_hook *hook, char *buffer, size_t size) {
  char name[IF_NAMESIZE] = "?";
  if (if_indextoname((unsigned)hook->ifindex, name) == NULL) snprintf(name, sizeof name, "#%d", hook->ifindex);
  snprintf(buffer, size, "tc %s of %s", hook->attach_point == BPF_TC_INGRESS ? "ingress" : "egress", name);
  return buffer;
}

/* tcAttach(ifindex, ingress, handle, priority, programFd) → program id. Creates the clsact qdisc
   when absent; replaces a filter of the same handle and priority. */
static napi_value tc_attach(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  struct bpf_tc_hook hook;
  struct bpf_tc_opts opts;
  int32_t program;
  char subject[64];
  if (!args_read(env, info, argv, 5, "tcAttach(ifindex, ingress, handle, priority, programFd)") || !tc_arguments(env, argv, &hook, &opts) ||
      !arg_int32(env, argv[4], &program, "programFd must be an int32"))
    return NULL;
  int rc = bpf_tc_hook_create(&hook);
  if (rc < 0 && rc != -EEXIST) {
    throw_errno(env, -rc, "create clsact for", tc_subject(&hook, subject, sizeof subject));
    return NULL;
  }
  opts.prog_fd = program;
  opts.flags = BPF_TC_F_REPLACE;
  rc = bpf_tc_attach(&hook, &opts);
  if (rc < 0) {
    throw_errno(env, -rc, "attach to", tc_subject(&hook, subject, sizeof subject));
    return NULL;
  }
  return make_int32(env, (int32_t)opts.prog_id);
}

/* tcQuery(ifindex, ingress, handle, priority) → id of the program there, 0 when none. */
static napi_value tc_query(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  struct bpf_tc_hook hook;
  struct bpf_tc_opts opts;
  char subject[64];
  if (!args_read(env, info, argv, 4, "tcQuery(ifindex, ingress, handle, priority)") || !tc_arguments(env, argv, &hook, &opts)) return NULL;
  int rc = bpf_tc_query(&hook, &opts);
  /* No clsact qdisc (EINVAL from the kernel), no such filter (ENOENT) or interface: none there. */
  if (rc == -ENOENT || rc == -EINVAL || rc == -ENODEV) return make_int32(env, 0);
  if (rc < 0) {
    throw_errno(env, -rc, "query", tc_subject(&hook, subject, sizeof subject));
    return NULL;
  }
  return make_int32(env, (int32_t)opts.prog_id);
}

/* tcDetach(ifindex, ingress, handle, priority) → whether a filter was removed. The clsact qdisc
   stays (other filters may hang on it; it costs nothing empty). */
static napi_value tc_detach(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  struct bpf_tc_hook hook;
  struct bpf_tc_opts opts;
  char subject[64];
  if (!args_read(env, info, argv, 4, "tcDetach(ifindex, ingress, handle, priority)") || !tc_arguments(env, argv, &hook, &opts)) return NULL;
  int rc = bpf_tc_detach(&hook, &opts);
  napi_value result;
  if (rc == -ENOENT || rc == -EINVAL || rc == -ENODEV) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  if (rc < 0) {
    throw_errno(env, -rc, "detach from", tc_subject(&hook, subject, sizeof subject));
    return NULL;
  }
  napi_get_boolean(env, true, &result);
  return result;
}

/* pin(fd, path) */
static napi_value pin(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  char path[4096];
  if (!args_read(env, info, argv, 2, "pin(fd, path)") || !arg_int32(env, argv[0], &fd, "fd must be an int32") ||
      !arg_path(env, argv[1], path, sizeof path, "path must be a string"))
    return NULL;
  if (bpf_obj_pin(fd, path) < 0) throw_errno(env, errno, "pin", path);
  return NULL;
}

/* openPinned(path) → fd of the pinned program or map (close it with mip4_io's close). */
static napi_value open_pinned(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  char path[4096];
  if (!args_read(env, info, argv, 1, "openPinned(path)") || !arg_path(env, argv[0], path, sizeof path, "path must be a string")) return NULL;
  int fd = bpf_obj_get(path);
  if (fd < 0) {
    throw_errno(env, errno, "open pinned", path);
    return NULL;
  }
  return make_int32(env, fd);
}

/* objectId(fd) → the kernel's id of a program or map (both infos start with type, id). */
static napi_value object_id(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  if (!args_read(env, info, argv, 1, "objectId(fd)") || !arg_int32(env, argv[0], &fd, "fd must be an int32")) return NULL;
  struct bpf_prog_info prog_info;
  memset(&prog_info, 0, sizeof prog_info);
  __u32 length = sizeof prog_info;
  if (bpf_obj_get_info_by_fd(fd, &prog_info, &length) < 0) {
    throw_errno(env, errno, "read the id of", "a BPF object");
    return NULL;
  }
  return make_int32(env, (int32_t)prog_info.id);
}

static int map_arguments(napi_env env, napi_value *argv, int32_t *fd, void **key, size_t *key_length) {
  return arg_int32(env, argv[0], fd, "fd must be an int32") && arg_typed(env, argv[1], napi_uint8_array, key, key_length, "key must be a Uint8Array");
}

/* mapUpdate(fd, key, value, flags): flags BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2. */
static napi_value map_update(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd, flags;
  void *key, *value;
  size_t key_length, value_length;
  if (!args_read(env, info, argv, 4, "mapUpdate(fd, key, value, flags)") || !map_arguments(env, argv, &fd, &key, &key_length) ||
      !arg_typed(env, argv[2], napi_uint8_array, &value, &value_length, "value must be a Uint8Array") ||
      !arg_int32(env, argv[3], &flags, "flags must be an int32"))
    return NULL;
  if (bpf_map_update_elem(fd, key, value, (__u64)flags) < 0) throw_errno(env, errno, "update", "a map entry");
  return NULL;
}

/* mapDelete(fd, key) → whether an entry was there. */
static napi_value map_delete(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  void *key;
  size_t key_length;
  if (!args_read(env, info, argv, 2, "mapDelete(fd, key)") || !map_arguments(env, argv, &fd, &key, &key_length)) return NULL;
  napi_value result;
  if (bpf_map_delete_elem(fd, key) < 0) {
    if (errno != ENOENT) {
      throw_errno(env, errno, "delete", "a map entry");
      return NULL;
    }
    napi_get_boolean(env, false, &result);
    return result;
  }
  napi_get_boolean(env, true, &result);
  return result;
}

/* mapLookup(fd, key, value) → whether an entry was found (then written into value). */
static napi_value map_lookup(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  void *key, *value;
  size_t key_length, value_length;
  if (!args_read(env, info, argv, 3, "mapLookup(fd, key, value)") || !map_arguments(env, argv, &fd, &key, &key_length) ||
      !arg_typed(env, argv[2], napi_uint8_array, &value, &value_length, "value must be a Uint8Array"))
    return NULL;
  napi_value result;
  if (bpf_map_lookup_elem(fd, key, value) < 0) {
    if (errno != ENOENT) {
      throw_errno(env, errno, "look up", "a map entry");
      return NULL;
    }
    napi_get_boolean(env, false, &result);
    return result;
  }
  napi_get_boolean(env, true, &result);
  return result;
}

/* mapKeys(fd, keys) → how many keys were written into `keys` (consecutive, keys.length / count
   bytes each, the caller gives the key size through the array: keySize * capacity). */
static napi_value map_keys(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd, key_size;
  void *keys;
  size_t capacity_bytes;
  if (!args_read(env, info, argv, 3, "mapKeys(fd, keySize, keys)") || !arg_int32(env, argv[0], &fd, "fd must be an int32") ||
      !arg_int32(env, argv[1], &key_size, "keySize must be an int32") ||
      !arg_typed(env, argv[2], napi_uint8_array, &keys, &capacity_bytes, "keys must be a Uint8Array"))
    return NULL;
  if (key_size <= 0 || key_size > 64) {
    throw_range(env, "keySize is 1 to 64 bytes");
    return NULL;
  }
  size_t capacity = capacity_bytes / (size_t)key_size, count = 0;
  unsigned char *out = keys;
  void *previous = NULL;
  while (count < capacity) {
    if (bpf_map_get_next_key(fd, previous, out + count * (size_t)key_size) < 0) {
      if (errno == ENOENT) break;
      throw_errno(env, errno, "list", "map keys");
      return NULL;
    }
    previous = out + count * (size_t)key_size;
    count++;
  }
  return make_int32(env, (int32_t)count);
}

/* counterSums(fd, count) → number[]: each index of a per-CPU u64 array summed over the CPUs. */
static napi_value counter_sums(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd, count;
  if (!args_read(env, info, argv, 2, "counterSums(fd, count)") || !arg_int32(env, argv[0], &fd, "fd must be an int32") ||
      !arg_int32(env, argv[1], &count, "count must be an int32"))
    return NULL;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) {
    throw_errno(env, cpus < 0 ? -cpus : EINVAL, "count", "the possible CPUs");
    return NULL;
  }
  if (count < 0 || count > 4096) {
    throw_range(env, "count is 0 to 4096");
    return NULL;
  }
  __u64 *values = calloc((size_t)cpus, sizeof *values);
  if (values == NULL) {
    throw_errno(env, ENOMEM, "read", "counters");
    return NULL;
  }
  napi_value result;
  napi_create_array_with_length(env, (size_t)count, &result);
  for (int32_t index = 0; index < count; index++) {
    __u32 key = (__u32)index;
    if (bpf_map_lookup_elem(fd, &key, values) < 0) {
      int error = errno;
      free(values);
      throw_errno(env, error, "read", "counters");
      return NULL;
    }
    double sum = 0;
    for (int cpu = 0; cpu < cpus; cpu++) sum += (double)values[cpu];
    napi_value number;
    napi_create_double(env, sum, &number);
    napi_set_element(env, result, (uint32_t)index, number);
  }
  free(values);
  return result;
}

/* ensureBpffs(path) → true when it mounted a bpffs there, false when one was there already. */
static napi_value ensure_bpffs(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  char path[4096];
  if (!args_read(env, info, argv, 1, "ensureBpffs(path)") || !arg_path(env, argv[0], path, sizeof path, "path must be a string")) return NULL;
  struct statfs fs;
  napi_value result;
  if (statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  if (mount("bpf", path, "bpf", 0, "mode=0700") < 0) {
    throw_errno(env, errno, "mount a bpffs on", path);
    return NULL;
  }
  napi_get_boolean(env, true, &result);
  return result;
}

static napi_value close_descriptor(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  if (!args_read(env, info, argv, 1, "closeFd(fd)") || !arg_int32(env, argv[0], &fd, "fd must be an int32")) return NULL;
  if (fd >= 0) close(fd);
  return NULL;
}

/* attachSocketFilter(socketFd, programFd): SO_ATTACH_BPF, a BPF_PROG_TYPE_SOCKET_FILTER program
   on a socket (the foreign agent's packet socket, opened by mip4_io in this process). */
static napi_value attach_socket_filter(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t socket_fd, program;
  if (!args_read(env, info, argv, 2, "attachSocketFilter(socketFd, programFd)") || !arg_int32(env, argv[0], &socket_fd, "socketFd must be an int32") ||
      !arg_int32(env, argv[1], &program, "programFd must be an int32"))
    return NULL;
  if (setsockopt(socket_fd, SOL_SOCKET, SO_ATTACH_BPF, &program, sizeof program) < 0) throw_errno(env, errno, "attach a socket filter to", "the packet socket");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  libbpf_set_print(capture_print);
  const struct {
    const char *name;
    napi_callback callback;
  } functions[] = {
      {"loadObject", load_object}, {"closeObject", close_object}, {"tcAttach", tc_attach},       {"tcQuery", tc_query},
      {"tcDetach", tc_detach},     {"pin", pin},                  {"openPinned", open_pinned},   {"objectId", object_id},
      {"mapUpdate", map_update},   {"mapDelete", map_delete},     {"mapLookup", map_lookup},     {"mapKeys", map_keys},
      {"counterSums", counter_sums}, {"ensureBpffs", ensure_bpffs}, {"closeFd", close_descriptor},
      {"attachSocketFilter", attach_socket_filter},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].callback, NULL, &fn);
    napi_set_named_property(env, exports, functions[i].name, fn);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
