/*
 * Registration load generator for `npm run bench` (part 1): sends RFC 5944 Registration
 * Requests (3.3) with a Mobile-Home Authentication Extension (3.5.2, HMAC-MD5, 5.1) to a
 * home agent over UDP and checks every Reply (3.4): type, authenticator, Identification.
 *
 * It must not be the bottleneck, so it is plain C: one non-blocking socket, sendmmsg and
 * recvmmsg batches of up to 64, HMAC-MD5 with the key's inner and outer states computed
 * once, no allocation per request. It reports its own CPU time so the reader can check.
 *
 * Modes (one JSON line on stdout at the end):
 *   --mode closed --in-flight K    keep K requests outstanding; a new one per reply
 *   --mode open --rate R           send R requests/s whatever the replies (paced by the clock)
 *   --count N                      stop after N replies instead of after --duration
 *   --self-test                    check MD5 (RFC 1321 A.5) and HMAC-MD5 (RFC 2104) vectors
 *
 * Request j goes to node (j mod nodes): home address = home-base + (j mod nodes). Its
 * Identification is the NTP timestamp of its sending (5.7.1), made strictly increasing, so
 * every node sees increasing timestamps inside the replay window, also across runs; a Reply
 * is matched to its request by the low half, which comes back unchanged (5.7). A request unanswered after
 * --timeout-ms is counted lost (and, in closed mode, replaced).
 *
 * Build: node-gyp (binding.gyp target reg_loadgen), so `npm ci` builds it from a clean clone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- MD5 (RFC 1321), written from the RFC's description -------------------------------- */

typedef struct {
  uint32_t state[4];
  uint64_t length; /* bytes hashed so far */
  uint8_t block[64];
  size_t used;
} md5_ctx;

static uint32_t md5_k[64];
static const uint8_t md5_shift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                      5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                      4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                      6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

/* RFC 1321 3.4: T[i] is the integer part of 4294967296 * abs(sin(i)), i in radians. */
static void md5_init_table(void) {
  for (int i = 0; i < 64; i++) md5_k[i] = (uint32_t)floor(fabs(sin((double)(i + 1))) * 4294967296.0);
}

static uint32_t rotl(uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

static void md5_block(uint32_t s[4], const uint8_t *p) {
  uint32_t m[16];
  for (int i = 0; i < 16; i++) m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
  uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    uint32_t next = b + rotl(a + f + md5_k[i] + m[g], md5_shift[i]);
    a = d;
    d = c;
    c = b;
    b = next;
  }
  s[0] += a;
  s[1] += b;
  s[2] += c;
  s[3] += d;
}

static void md5_start(md5_ctx *c) {
  c->state[0] = 0x67452301;
  c->state[1] = 0xefcdab89;
  c->state[2] = 0x98badcfe;
  c->state[3] = 0x10325476;
  c->length = 0;
  c->used = 0;
}

static void md5_update(md5_ctx *c, const uint8_t *data, size_t n) {
  c->length += n;
  while (n > 0) {
    size_t take = 64 - c->used;
    if (take > n) take = n;
    memcpy(c->block + c->used, data, take);
    c->used += take;
    data += take;
    n -= take;
    if (c->used == 64) {
      md5_block(c->state, c->block);
      c->used = 0;
    }
  }
}

static void md5_finish(md5_ctx *c, uint8_t out[16]) {
  uint64_t bits = c->length * 8;
  uint8_t pad = 0x80;
  md5_update(c, &pad, 1);
  uint8_t zero = 0;
  while (c->used != 56) md5_update(c, &zero, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (8 * i));
  md5_update(c, len, 8);
  for (int i = 0; i < 4; i++) {
    out[4 * i] = (uint8_t)c->state[i];
    out[4 * i + 1] = (uint8_t)(c->state[i] >> 8);
    out[4 * i + 2] = (uint8_t)(c->state[i] >> 16);
    out[4 * i + 3] = (uint8_t)(c->state[i] >> 24);
  }
}

/* ---- HMAC-MD5 (RFC 2104) with the padded-key states hashed once -------------------------- */

typedef struct {
  md5_ctx inner, outer; /* each has absorbed one 64-byte block: key ^ ipad, key ^ opad */
} hmac_key;

static void hmac_prepare(hmac_key *h, const uint8_t *key, size_t key_length) {
  uint8_t k[64] = {0};
  if (key_length > 64) {
    md5_ctx c;
    md5_start(&c);
    md5_update(&c, key, key_length);
    md5_finish(&c, k);
  } else {
    memcpy(k, key, key_length);
  }
  uint8_t pad[64];
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  md5_start(&h->inner);
  md5_update(&h->inner, pad, 64);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  md5_start(&h->outer);
  md5_update(&h->outer, pad, 64);
}

static void hmac_md5(const hmac_key *h, const uint8_t *data, size_t n, uint8_t out[16]) {
  md5_ctx c = h->inner;
  uint8_t inner[16];
  md5_update(&c, data, n);
  md5_finish(&c, inner);
  c = h->outer;
  md5_update(&c, inner, 16);
  md5_finish(&c, out);
}

static int self_test(void) {
  static const struct { const char *text, *md5; } vectors[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"},
  };
  char hex[33];
  uint8_t out[16];
  int failures = 0;
  for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
    md5_ctx c;
    md5_start(&c);
    md5_update(&c, (const uint8_t *)vectors[v].text, strlen(vectors[v].text));
    md5_finish(&c, out);
    for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", out[i]);
    if (strcmp(hex, vectors[v].md5) != 0) failures++;
  }
  /* RFC 2104 test case 1: key 0x0b x 16, "Hi There". */
  uint8_t key[16];
  memset(key, 0x0b, sizeof key);
  hmac_key h;
  hmac_prepare(&h, key, sizeof key);
  hmac_md5(&h, (const uint8_t *)"Hi There", 8, out);
  for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", out[i]);
  if (strcmp(hex, "9294727a3638bb1c13f48ef8158bfc9d") != 0) failures++;
  printf("{\"selfTest\":%s}\n", failures == 0 ? "\"ok\"" : "\"failed\"");
  return failures == 0 ? 0 : 1;
}

/* ---- the generator --------------------------------------------------------------------------- */

enum { BATCH = 64, REQUEST_LENGTH = 46, MHAE_OFFSET = 24, REPLY_MIN = 20, RING_BITS = 21 };
#define RING_SIZE (1u << RING_BITS)
#define RING_MASK (RING_SIZE - 1)
#define NTP_UNIX_OFFSET 2208988800u

typedef struct {
  const char *target;
  uint32_t home_agent, home_base, care_of, spi;
  uint32_t nodes;
  uint16_t lifetime;
  uint8_t key[64];
  size_t key_length;
  int closed;
  uint32_t in_flight;
  double rate, duration;
  uint64_t count;
  double timeout_ms;
} options;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int parse_hex(const char *text, uint8_t *out, size_t max, size_t *length) {
  size_t n = strlen(text);
  if (n % 2 != 0 || n / 2 > max) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(text + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  *length = n / 2;
  return 0;
}

static uint32_t parse_address(const char *text, const char *option) {
  struct in_addr a;
  if (inet_pton(AF_INET, text, &a) != 1) {
    fprintf(stderr, "reg_loadgen: %s %s: not an IPv4 address\n", option, text);
    exit(2);
  }
  return ntohl(a.s_addr);
}

/* Registration Request (3.3) for request number j, sealed with the MHAE (3.5.2). */
static void build_request(uint8_t *p, const options *o, const hmac_key *h, uint64_t j, uint64_t timestamp) {
  p[0] = 1;    /* Type: Registration Request */
  p[1] = 0;    /* flags: none (no S, B, D, M, G, r, T, x) */
  p[2] = (uint8_t)(o->lifetime >> 8);
  p[3] = (uint8_t)o->lifetime;
  put32(p + 4, o->home_base + (uint32_t)(j % o->nodes));
  put32(p + 8, o->home_agent);
  put32(p + 12, o->care_of);
  put32(p + 16, (uint32_t)(timestamp >> 32));
  put32(p + 20, (uint32_t)timestamp);
  p[24] = 32; /* Mobile-Home Authentication Extension */
  p[25] = 20; /* SPI (4) + authenticator (16) */
  put32(p + 26, o->spi);
  hmac_md5(h, p, MHAE_OFFSET + 6, p + 30); /* covers the message through the SPI (3.5.1) */
}

typedef struct {
  uint64_t sent, replies, accepted, rejected, bad, lost, late;
  uint64_t codes[256];
  uint32_t *latency_us;
  uint64_t latency_count, latency_capacity;
} tally;

static void usage(void) {
  fprintf(stderr,
          "usage: reg_loadgen --target ADDR:PORT --home-agent A --home-base A --nodes N --spi S --key HEX\n"
          "                   [--care-of A] [--lifetime S] (--mode closed --in-flight K | --mode open --rate R)\n"
          "                   [--duration S | --count N] [--timeout-ms MS]\n"
          "       reg_loadgen --self-test\n");
  exit(2);
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  md5_init_table();
  options o = {.care_of = 0xcb007101, .lifetime = 3600, .in_flight = 32, .duration = 2, .timeout_ms = 500, .closed = 1};
  int have_key = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--self-test") == 0) return self_test();
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (strcmp(a, "--target") == 0) o.target = v;
    else if (strcmp(a, "--home-agent") == 0) o.home_agent = parse_address(v, a);
    else if (strcmp(a, "--home-base") == 0) o.home_base = parse_address(v, a);
    else if (strcmp(a, "--care-of") == 0) o.care_of = parse_address(v, a);
    else if (strcmp(a, "--nodes") == 0) o.nodes = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--spi") == 0) o.spi = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--lifetime") == 0) o.lifetime = (uint16_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--key") == 0) have_key = parse_hex(v, o.key, sizeof o.key, &o.key_length) == 0;
    else if (strcmp(a, "--mode") == 0) o.closed = strcmp(v, "open") != 0;
    else if (strcmp(a, "--in-flight") == 0) o.in_flight = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--rate") == 0) o.rate = strtod(v, NULL);
    else if (strcmp(a, "--duration") == 0) o.duration = strtod(v, NULL);
    else if (strcmp(a, "--count") == 0) o.count = strtoull(v, NULL, 10);
    else if (strcmp(a, "--timeout-ms") == 0) o.timeout_ms = strtod(v, NULL);
    else usage();
  }
  if (!o.target || !have_key || o.nodes == 0 || (!o.closed && o.rate <= 0) || (o.closed && o.in_flight == 0)) usage();
  if (o.in_flight > RING_SIZE / 2) o.in_flight = RING_SIZE / 2;

  char host[64];
  const char *colon = strrchr(o.target, ':');
  if (!colon || (size_t)(colon - o.target) >= sizeof host) usage();
  memcpy(host, o.target, (size_t)(colon - o.target));
  host[colon - o.target] = 0;
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  to.sin_addr.s_addr = htonl(parse_address(host, "--target"));

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int buffer = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
    fprintf(stderr, "reg_loadgen: socket/connect %s: %s\n", o.target, strerror(errno));
    return 1;
  }

  hmac_key h;
  hmac_prepare(&h, o.key, o.key_length);
  /* Send time per outstanding request, indexed by the low Identification bits; 0 = none. */
  uint64_t *sent_at = calloc(RING_SIZE, sizeof *sent_at);
  /* The low Identification half sent with request j, to match replies (see below). */
  uint32_t *low_of = calloc(RING_SIZE, sizeof *low_of);
  tally t = {0};
  t.latency_capacity = 1u << 24;
  t.latency_us = malloc(t.latency_capacity * sizeof *t.latency_us);
  if (!sent_at || !low_of || !t.latency_us) return 1;

  static uint8_t out[BATCH][REQUEST_LENGTH], in[BATCH][128];
  struct mmsghdr out_msgs[BATCH], in_msgs[BATCH];
  struct iovec out_iov[BATCH], in_iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    out_iov[i] = (struct iovec){out[i], REQUEST_LENGTH};
    out_msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &out_iov[i], .msg_iovlen = 1}};
    in_iov[i] = (struct iovec){in[i], sizeof in[i]};
    in_msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &in_iov[i], .msg_iovlen = 1}};
  }

  const uint64_t timeout_ns = (uint64_t)(o.timeout_ms * 1e6);
  const uint64_t start = now_ns();
  const uint64_t end = o.count ? UINT64_MAX : start + (uint64_t)(o.duration * 1e9);
  const double cpu_start = cpu_seconds();
  uint64_t next = 0;        /* the next request number j */
  uint64_t oldest = 0;      /* every j below this is answered or counted lost */
  uint64_t last_timestamp = 0;
  uint64_t outstanding = 0; /* sent, neither answered nor lost */
  uint64_t replies_in_window = 0;
  uint64_t stop_at = 0;     /* when sending stopped (end of the window) */
  uint64_t last_reply = start;

  for (;;) {
    uint64_t now = now_ns();
    int sending = now < end && (!o.count || next < o.count);
    if (!sending && stop_at == 0) stop_at = now;
    /* Done: window over, and every request answered or past its timeout. */
    if (!sending && (outstanding == 0 || now > stop_at + timeout_ns)) break;

    if (sending) {
      uint64_t due;
      if (o.closed) {
        due = outstanding < o.in_flight ? o.in_flight - outstanding : 0;
      } else {
        uint64_t target = (uint64_t)((double)(now - start) / 1e9 * o.rate) + 1;
        due = target > next ? target - (next) : 0;
      }
      if (o.count && next + due > o.count) due = o.count - (next);
      /* Never reuse a ring slot still waiting for its reply. */
      if (next + due - oldest > RING_SIZE) due = oldest + RING_SIZE - next;
      struct timespec wall;
      clock_gettime(CLOCK_REALTIME, &wall);
      /* A real NTP timestamp (5.7.1), strictly increasing from request to request. */
      uint64_t now_ntp = ((uint64_t)((uint32_t)wall.tv_sec + NTP_UNIX_OFFSET) << 32) | (uint64_t)(((double)wall.tv_nsec / 1e9) * 4294967296.0);
      while (due > 0) {
        int n = due > BATCH ? BATCH : (int)due;
        for (int i = 0; i < n; i++) {
          last_timestamp = now_ntp > last_timestamp ? now_ntp : last_timestamp + 1;
          low_of[(next + (uint64_t)i) & RING_MASK] = (uint32_t)last_timestamp;
          build_request(out[i], &o, &h, next + (uint64_t)i, last_timestamp);
        }
        uint64_t stamp = now_ns();
        int done = sendmmsg(fd, out_msgs, (unsigned)n, 0);
        if (done <= 0) break; /* socket buffer full: try again after the next poll */
        for (int i = 0; i < done; i++) sent_at[(next + (uint64_t)i) & RING_MASK] = stamp;
        next += (uint64_t)done;
        outstanding += (uint64_t)done;
        t.sent += (uint64_t)done;
        due -= (uint64_t)done;
        if (done < n) break;
      }
    }

    /* Wait for replies: in open mode until the next request is due. */
    struct timespec wait = {0, 1000000};
    if (!o.closed && sending) {
      double next_due = start + (double)(next) / o.rate * 1e9;
      double left = next_due - (double)now_ns();
      wait.tv_nsec = left > 0 ? (long)(left < 1e6 ? left : 1e6) : 0;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ppoll(&p, 1, &wait, NULL);

    for (;;) {
      int n = recvmmsg(fd, in_msgs, BATCH, MSG_DONTWAIT, NULL);
      if (n <= 0) break;
      uint64_t arrived = now_ns();
      for (int i = 0; i < n; i++) {
        const uint8_t *r = in[i];
        unsigned length = in_msgs[i].msg_len;
        uint8_t mac[16];
        /* A Reply (3.4): type 3, 20 fixed bytes, then the MHAE over [0, 26). */
        if (length < REPLY_MIN + 22 || r[0] != 3 || r[20] != 32 || r[21] != 20 || get32(r + 22) != o.spi) {
          t.bad++;
          continue;
        }
        hmac_md5(&h, r, REPLY_MIN + 6, mac);
        if (memcmp(mac, r + 26, 16) != 0) {
          t.bad++;
          continue;
        }
        /* The low Identification bits come back unchanged (5.7); find which request it is. The
         * outstanding requests' low halves increase with j and span less than a second (less
         * than 2^32 fractions), so counted from the oldest one's they are sorted: bisect. */
        uint32_t key = get32(r + 16) - low_of[oldest & RING_MASK];
        uint64_t lo = oldest, hi = next;
        while (lo < hi) {
          uint64_t mid = lo + (hi - lo) / 2;
          if (low_of[mid & RING_MASK] - low_of[oldest & RING_MASK] < key) lo = mid + 1;
          else hi = mid;
        }
        uint64_t j = lo;
        uint64_t *slot = &sent_at[j & RING_MASK];
        if (j >= next || low_of[j & RING_MASK] - low_of[oldest & RING_MASK] != key || *slot == 0 || get32(r + 4) != o.home_base + (uint32_t)(j % o.nodes)) {
          t.late++; /* answered after its timeout, or a duplicate */
          continue;
        }
        uint64_t latency = arrived - *slot;
        last_reply = arrived;
        *slot = 0;
        outstanding--;
        t.replies++;
        if (stop_at == 0) replies_in_window++;
        t.codes[r[1]]++;
        if (r[1] <= 1) t.accepted++;
        else t.rejected++;
        if (t.latency_count < t.latency_capacity) t.latency_us[t.latency_count++] = (uint32_t)(latency / 1000 > UINT32_MAX ? UINT32_MAX : latency / 1000);
      }
    }

    /* Requests past their timeout are lost; in closed mode their place is taken by new ones. */
    uint64_t now2 = now_ns();
    while (oldest < next) {
      uint64_t at = sent_at[oldest & RING_MASK];
      if (at != 0) {
        if (now2 - at < timeout_ns) break;
        sent_at[oldest & RING_MASK] = 0;
        outstanding--;
        t.lost++;
      }
      oldest++;
    }
  }
  const uint64_t finished = now_ns();
  const double cpu = cpu_seconds() - cpu_start;
  t.lost += outstanding;

  double window = (double)((stop_at ? stop_at : finished) - start) / 1e9;
  qsort(t.latency_us, t.latency_count, sizeof *t.latency_us, compare_u32);
  uint64_t c = t.latency_count;
#define PCT(q) (c ? t.latency_us[(uint64_t)((q) * (double)(c - 1))] : 0)
  printf("{\"mode\":\"%s\",\"inFlight\":%u,\"rate\":%.0f,\"seconds\":%.3f,\"sent\":%lu,\"replies\":%lu,"
         "\"repliesPerSecond\":%.0f,\"accepted\":%lu,\"rejected\":%lu,\"bad\":%lu,\"lost\":%lu,\"late\":%lu,"
         "\"lastReplySeconds\":%.3f,\"latencyUs\":{\"p50\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u},\"generatorCpu\":%.3f,\"codes\":{",
         o.closed ? "closed" : "open", o.closed ? o.in_flight : 0, o.closed ? 0 : o.rate, window, t.sent, t.replies,
         window > 0 ? replies_in_window / window : 0, t.accepted, t.rejected, t.bad, t.lost, t.late, (double)(last_reply - start) / 1e9, PCT(0.5), PCT(0.99),
         PCT(0.999), c ? t.latency_us[c - 1] : 0, cpu / ((double)(finished - start) / 1e9));
  int first_code = 1;
  for (int code = 0; code < 256; code++) {
    if (!t.codes[code]) continue;
    printf("%s\"%d\":%lu", first_code ? "" : ",", code, t.codes[code]);
    first_code = 0;
  }
  printf("}}\n");
  close(fd);
  return 0;
}
