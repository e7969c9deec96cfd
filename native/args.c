/* The one family of N-API argument helpers (and the errors they throw) every exported function uses. */

#include "mip4_io.h"

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
napi_value errno_error(napi_env env, int error, const char *operation, const char *subject) {
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
void throw_errno(napi_env env, int error, const char *operation, const char *subject) {
  napi_throw(env, errno_error(env, error, operation, subject));
}

void throw_type(napi_env env, const char *message) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message); }

void throw_range(napi_env env, const char *message) { napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message); }

/* ---------------------------------------------------------------- argument helpers */

/*
 * Reads a call's arguments into argv[MAX_ARGS]: N-API fills the ones not passed with undefined,
 * so optional arguments are simply undefined. Fewer than `required` throws a TypeError showing
 * `usage`.
 */
int args_read(napi_env env, napi_callback_info info, napi_value *argv, size_t required, const char *usage) {
  size_t argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < required) {
    throw_type(env, usage);
    return 0;
  }
  return 1;
}

/* The JS type of a value (undefined when it cannot be told). */
napi_valuetype arg_type(napi_env env, napi_value value) {
  napi_valuetype type = napi_undefined;
  if (value == NULL || napi_typeof(env, value, &type) != napi_ok) return napi_undefined;
  return type;
}

int arg_int32(napi_env env, napi_value value, int32_t *out, const char *what) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    throw_type(env, what);
    return 0;
  }
  return 1;
}

/* A boolean, strictly (no coercion). */
int arg_bool(napi_env env, napi_value value, bool *out, const char *what) {
  if (napi_get_value_bool(env, value, out) != napi_ok) {
    throw_type(env, what);
    return 0;
  }
  return 1;
}

int arg_function(napi_env env, napi_value value, const char *what) {
  if (arg_type(env, value) != napi_function) {
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
bool valid_interface_name(const char *name, size_t length) {
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
int arg_name(napi_env env, napi_value value, char *buffer, size_t size, const char *what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, buffer, size, &length) != napi_ok) {
    throw_type(env, what);
    return 0;
  }
  if (length == 0 || length >= size - 1) {
    throw_range(env, "interface names are 1 to 15 bytes long");
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
int arg_typed(napi_env env, napi_value value, napi_typedarray_type expected, void **data, size_t *length,
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

napi_value make_int32(napi_env env, int32_t value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

/*
 * An external carrying `data`, tagged; NULL (with a pending exception) on failure. *made says
 * whether the external exists, i.e. whether `finalize` will still run for `data`.
 */
napi_value make_handle(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag, int *made) {
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
void *arg_handle(napi_env env, napi_value value, const napi_type_tag *tag, const char *what) {
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

void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number;
  napi_create_double(env, value, &number);
  napi_set_named_property(env, object, name, number);
}

/* ---------------------------------------------------------------- options objects */

/*
 * An options argument is read only when it is an object (anything else means no options), and
 * each property only when present: property getters run as they would in JS.
 */
static bool option_value(napi_env env, napi_value options, const char *name, napi_value *value) {
  bool has = false;
  if (arg_type(env, options) != napi_object) return false;
  if (napi_has_named_property(env, options, name, &has) != napi_ok || !has) return false;
  return napi_get_named_property(env, options, name, value) == napi_ok;
}

/* A truthy/falsy option (JS truthiness), false when absent. */
bool option_flag(napi_env env, napi_value options, const char *name) {
  napi_value value;
  bool flag = false;
  if (!option_value(env, options, name, &value)) return false;
  if (napi_coerce_to_bool(env, value, &value) == napi_ok) napi_get_value_bool(env, value, &flag);
  return flag;
}

/* A number or boolean option (true 1, false 0), 0 when absent or undefined. */
int option_int32(napi_env env, napi_value options, const char *name, int32_t *out, const char *what) {
  napi_value value;
  *out = 0;
  if (!option_value(env, options, name, &value)) return 1;
  napi_valuetype type = arg_type(env, value);
  if (type == napi_undefined) return 1;
  if (type == napi_boolean) {
    bool flag = false;
    napi_get_value_bool(env, value, &flag);
    *out = flag ? 1 : 0;
    return 1;
  }
  return arg_int32(env, value, out, what);
}

/* An interface-name option (arg_name's rule); `buffer` is left as it is when absent or undefined. */
int option_name(napi_env env, napi_value options, const char *name, char *buffer, size_t size, const char *what) {
  napi_value value;
  if (!option_value(env, options, name, &value) || arg_type(env, value) == napi_undefined) return 1;
  return arg_name(env, value, buffer, size, what);
}
