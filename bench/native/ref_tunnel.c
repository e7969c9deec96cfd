/*
 * Reference IP-in-IP tunnel for `npm run bench` (part 3): what a small batched C program gets
 * through a TUN device and a raw socket on this machine, so mip4's tunnel is compared with it
 * in the same run. Not part of mip4.
 *
 *   ref_tunnel encap --tun NAME --remote ADDR   read packets routed into the TUN, send each
 *                                               inside an outer IPv4 header (protocol 4, RFC
 *                                               2003) to ADDR through a raw socket
 *   ref_tunnel decap --tun NAME                 receive protocol-4 packets on a raw socket,
 *                                               strip the outer header, write the inner one
 *                                               to the TUN
 *
 * Batched like mip4's native helper: each wakeup drains up to 64 packets (read() on the TUN,
 * recvmmsg on the raw socket) and sends them with one sendmmsg. The kernel writes the outer
 * header (no IP_HDRINCL). On SIGTERM it prints {"packets":N,"dropped":N} and exits.
 * Build: node-gyp (binding.gyp target ref_tunnel).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BATCH = 64, MAX_PACKET = 65536 };

static volatile sig_atomic_t stopping = 0;
static void on_signal(int signal) { (void)signal; stopping = 1; }

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(request.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void fail(const char *what) {
  fprintf(stderr, "ref_tunnel: %s: %s\n", what, strerror(errno));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: ref_tunnel encap --tun NAME --remote ADDR | ref_tunnel decap --tun NAME\n");
    return 2;
  }
  int encap = strcmp(argv[1], "encap") == 0;
  const char *tun_name = NULL, *remote = NULL;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--tun") == 0) tun_name = argv[i + 1];
    else if (strcmp(argv[i], "--remote") == 0) remote = argv[i + 1];
  }
  struct sockaddr_in to = {.sin_family = AF_INET};
  if (!tun_name || (encap && (!remote || inet_pton(AF_INET, remote, &to.sin_addr) != 1))) {
    fprintf(stderr, "ref_tunnel: --tun NAME (and for encap --remote ADDR) required\n");
    return 2;
  }
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);

  int tun = open_tun(tun_name);
  if (tun < 0) fail("TUN");
  int raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_IPIP);
  if (raw < 0) fail("raw socket");
  int buffer = 8 << 20;
  setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  setsockopt(raw, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);

  static unsigned char slab[BATCH][MAX_PACKET];
  struct mmsghdr messages[BATCH];
  struct iovec vectors[BATCH];
  unsigned long long packets = 0, dropped = 0;
  struct pollfd wait = {.fd = encap ? tun : raw, .events = POLLIN};

  while (!stopping) {
    if (poll(&wait, 1, 200) <= 0) continue;
    if (encap) {
      int n = 0;
      while (n < BATCH) {
        ssize_t length = read(tun, slab[n], MAX_PACKET);
        if (length <= 0) break;
        vectors[n] = (struct iovec){slab[n], (size_t)length};
        messages[n] = (struct mmsghdr){.msg_hdr = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &vectors[n], .msg_iovlen = 1}};
        n++;
      }
      int sent = 0;
      while (sent < n) {
        int done = sendmmsg(raw, messages + sent, (unsigned)(n - sent), 0);
        if (done <= 0) {
          dropped++; /* e.g. the socket buffer is full: drop this packet, send the rest */
          sent++;
          continue;
        }
        sent += done;
        packets += (unsigned long long)done;
      }
    } else {
      for (int i = 0; i < BATCH; i++) {
        vectors[i] = (struct iovec){slab[i], MAX_PACKET};
        messages[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &vectors[i], .msg_iovlen = 1}};
      }
      int n = recvmmsg(raw, messages, BATCH, MSG_DONTWAIT, NULL);
      for (int i = 0; i < n; i++) {
        unsigned length = messages[i].msg_len;
        unsigned header = (slab[i][0] & 0x0f) * 4u; /* raw sockets deliver the outer header */
        if (length <= header || (slab[i][0] >> 4) != 4) {
          dropped++;
          continue;
        }
        if (write(tun, slab[i] + header, length - header) < 0) dropped++;
        else packets++;
      }
    }
  }
  printf("{\"packets\":%llu,\"dropped\":%llu}\n", packets, dropped);
  return 0;
}
