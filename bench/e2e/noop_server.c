/* A MySQL server that does no work: the ceiling for any server or relay on this machine.
 *
 *   noop_server --listen-port P
 *
 * Prints "listening P" once it accepts (P is the bound port, useful with --listen-port 0).
 * It greets with mysql_native_password as MariaDB does, takes any login without checking it,
 * answers every COM_QUERY with the one-row result of SELECT 1, COM_PING, COM_INIT_DB and
 * COM_RESET_CONNECTION with OK, anything else with ERR 1047, and closes on COM_QUIT. One
 * thread, epoll. connect_loop against it measures what an iteration costs the client and the
 * kernel alone (docs/benchmarks.md, the "no-op" column). A packet over kPacketMax, or a client
 * that does not read its answers, gets its connection closed. Stop it with SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kPacketMax = 4096, kHeader = 4, kEvents = 64 };

/* Capabilities advertised: PROTOCOL_41 with SECURE_CONNECTION and PLUGIN_AUTH, no SSL and no
 * DEPRECATE_EOF (so a result set ends with EOF packets, as built below). */
enum {
  kCaps = 0x00000001 /* LONG_PASSWORD */ | 0x00000002 /* FOUND_ROWS */ | 0x00000004 /* LONG_FLAG */ |
          0x00000008 /* CONNECT_WITH_DB */ | 0x00000200 /* PROTOCOL_41 */ | 0x00002000 /* TRANSACTIONS */ |
          0x00008000 /* SECURE_CONNECTION */ | 0x00080000 /* PLUGIN_AUTH */ | 0x00100000 /* CONNECT_ATTRS */ |
          0x00200000 /* PLUGIN_AUTH_LENENC_CLIENT_DATA */
};

struct Connection {
  int fd;
  int logged_in;
  size_t used;
  unsigned char in[kPacketMax + kHeader];
};

static unsigned char g_greeting[128];
static size_t g_greeting_len;

/* OK with SERVER_STATUS_AUTOCOMMIT, sequence id filled in by the caller. */
static const unsigned char kOk[] = {7, 0, 0, 0, 0x00, 0, 0, 0x02, 0, 0, 0};
static const unsigned char kUnknownCommand[] = {24,  0,   0,   1,   0xff, 0x17, 0x04, '#', '0', '8',
                                                'S', '0', '1', 'U', 'n',  'k',  'n',  'o', 'w', 'n',
                                                ' ', 'c', 'o', 'm', 'm',  'a',  'n',  'd'};
/* SELECT 1: column count, column definition (BIGINT "1"), EOF, row "1", EOF; seq 1..5. */
static const unsigned char kSelectOne[] = {
    1, 0, 0, 1, 1, 23, 0, 0, 2,    3, 'd', 'e',  'f', 0, 0, 0, 1, '1', 0,   0x0c, 0x3f, 0, 1, 0,    0, 0, 0x08, 0x81,
    0, 0, 0, 0, 5, 0,  0, 3, 0xfe, 0, 0,   0x02, 0,   2, 0, 0, 4, 1,   '1', 5,    0,    0, 5, 0xfe, 0, 0, 0x02, 0};

static unsigned char* put(unsigned char* p, const void* data, size_t len) {
  memcpy(p, data, len);
  return p + len;
}

/* HandshakeV10 (protocol version 10), sequence id 0. The nonce is fixed: no password is checked. */
static void build_greeting(void) {
  static const char kVersion[] = "5.5.5-10.11.0-noop";
  static const char kPlugin[] = "mysql_native_password";
  unsigned char* p = g_greeting + kHeader;
  *p++ = 10;
  p = put(p, kVersion, sizeof kVersion);
  p = put(p, "\x01\x00\x00\x00", 4); /* connection id */
  p = put(p, "noopnonc", 8);         /* nonce, first 8 bytes */
  *p++ = 0;
  *p++ = kCaps & 0xff;
  *p++ = (kCaps >> 8) & 0xff;
  *p++ = 8;                  /* latin1_swedish_ci */
  p = put(p, "\x02\x00", 2); /* SERVER_STATUS_AUTOCOMMIT */
  *p++ = (kCaps >> 16) & 0xff;
  *p++ = (kCaps >> 24) & 0xff;
  *p++ = 21;                              /* nonce length + 1 */
  p = put(p, "\0\0\0\0\0\0\0\0\0\0", 10); /* reserved */
  p = put(p, "e-noop-nonce", 12);         /* nonce, last 12 bytes */
  *p++ = 0;
  p = put(p, kPlugin, sizeof kPlugin);
  g_greeting_len = (size_t)(p - g_greeting);
  size_t payload = g_greeting_len - kHeader;
  g_greeting[0] = payload & 0xff;
  g_greeting[1] = (payload >> 8) & 0xff;
  g_greeting[2] = 0;
  g_greeting[3] = 0;
}

/* All of it or nothing: answers are small, so a short write means a client that stopped reading. */
static int send_all(int fd, const unsigned char* data, size_t len) {
  ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
  return n == (ssize_t)len ? 0 : -1;
}

static int send_ok(int fd, unsigned char seq) {
  unsigned char ok[sizeof kOk];
  memcpy(ok, kOk, sizeof ok);
  ok[3] = seq;
  return send_all(fd, ok, sizeof ok);
}

/* One whole packet from the client; -1 closes the connection. */
static int answer(struct Connection* c, const unsigned char* packet, size_t len) {
  if (!c->logged_in) { /* the HandshakeResponse, seq 1: any login is good */
    c->logged_in = 1;
    return send_ok(c->fd, (unsigned char)(packet[3] + 1));
  }
  if (len == 0) return -1;
  switch (packet[kHeader]) {
    case 0x01: return -1; /* COM_QUIT */
    case 0x03: return send_all(c->fd, kSelectOne, sizeof kSelectOne);
    case 0x02:
    case 0x0e:
    case 0x1f: return send_ok(c->fd, 1); /* INIT_DB, PING, RESET_CONNECTION */
    default: return send_all(c->fd, kUnknownCommand, sizeof kUnknownCommand);
  }
}

/* Reads what is there and answers every whole packet; -1 closes the connection. */
static int on_readable(struct Connection* c) {
  ssize_t n = read(c->fd, c->in + c->used, sizeof c->in - c->used);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return -1;
  if (n < 0) return 0;
  c->used += (size_t)n;
  size_t off = 0;
  while (c->used - off >= kHeader) {
    const unsigned char* p = c->in + off;
    size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16;
    if (len > kPacketMax) return -1;
    if (c->used - off < kHeader + len) break;
    if (answer(c, p, len) != 0) return -1;
    off += kHeader + len;
  }
  memmove(c->in, c->in + off, c->used - off);
  c->used -= off;
  return 0;
}

static void close_connection(int epfd, struct Connection* c) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

static void accept_all(int epfd, int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or a failure the next wake-up retries */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct Connection* c = calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (send_all(fd, g_greeting, g_greeting_len) != 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      free(c);
    }
  }
}

static long parse_port(const char* s) {
  char* end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535) return -1;
  return v;
}

int main(int argc, char** argv) {
  if (argc != 3 || strcmp(argv[1], "--listen-port") != 0 || parse_port(argv[2]) < 0) {
    fprintf(stderr, "usage: noop_server --listen-port P\n");
    return 2;
  }
  build_greeting();
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_port = htons((unsigned short)parse_port(argv[2])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t addr_len = sizeof addr;
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (lfd < 0 || epfd < 0 || bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0 ||
      getsockname(lfd, (struct sockaddr*)&addr, &addr_len) != 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) != 0) {
    perror("noop_server: listen");
    return 1;
  }
  printf("listening %u\n", ntohs(addr.sin_port));
  fflush(stdout);

  struct epoll_event events[kEvents];
  for (;;) {
    int n = epoll_wait(epfd, events, kEvents, -1);
    if (n < 0 && errno != EINTR) {
      perror("noop_server: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct Connection* c = events[i].data.ptr;
      if (c == NULL)
        accept_all(epfd, lfd);
      else if (on_readable(c) != 0)
        close_connection(epfd, c);
    }
  }
}
