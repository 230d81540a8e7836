/* A TCP relay on 127.0.0.1 that holds every chunk for a fixed delay in each direction: the
 * stand-in for network round-trip time, since this kernel has no sch_netem
 * (/work/shared/TESTING-NOTES.md "Network conditions"). 500 us each way adds ~1 ms of RTT.
 *
 *   delay_relay --listen-port P --target-port T [--delay-us 500]
 *
 * Prints "listening P" once it accepts (P is the bound port, useful with --listen-port 0).
 * Each connection gets, per direction, a reader thread that stamps each chunk with
 * read time + delay and a writer thread that sends it at that time, so back-to-back chunks
 * are each delayed once, not queued behind each other's delay. Stop it with SIGTERM.
 *
 * It also counts database round trips: on SIGUSR1 (and at exit) it prints
 * "counts connections C answered A", C the connections it relayed to the target and A the
 * request bursts the target answered (server data read after client data that followed the
 * previous server data: pipelined commands written back to back are one burst, one wait).
 * A cycle then costs A + C/2 round trips: a new connection's greeting is one delayed hop. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kChunkMax = 64 * 1024 };

struct Chunk {
  struct Chunk* next;
  struct timespec due;
  size_t len; /* 0: end of stream */
  unsigned char data[];
};

/* One direction: src -> dst through a queue of stamped chunks. */
struct Direction {
  int src, dst;
  long delay_ns;
  atomic_int* request_pending;
  int from_client; /* 1: client -> target (requests), 0: target -> client (answers) */
  pthread_mutex_t lock;
  pthread_cond_t ready;
  struct Chunk *head, *tail;
};

struct Connection {
  int client_fd, target_fd;
  struct Direction up, down;
  atomic_int request_pending; /* client data read since the last server data */
};

static atomic_long g_connections, g_answered;

static long g_delay_ns = 500 * 1000;
static unsigned short g_target_port;

static void add_ns(struct timespec* ts, long ns) {
  ts->tv_nsec += ns;
  while (ts->tv_nsec >= 1000000000L) {
    ts->tv_nsec -= 1000000000L;
    ts->tv_sec++;
  }
}

static void push(struct Direction* d, struct Chunk* c) {
  pthread_mutex_lock(&d->lock);
  if (d->tail)
    d->tail->next = c;
  else
    d->head = c;
  d->tail = c;
  pthread_cond_signal(&d->ready);
  pthread_mutex_unlock(&d->lock);
}

static struct Chunk* pop(struct Direction* d) {
  pthread_mutex_lock(&d->lock);
  while (d->head == NULL) pthread_cond_wait(&d->ready, &d->lock);
  struct Chunk* c = d->head;
  d->head = c->next;
  if (d->head == NULL) d->tail = NULL;
  pthread_mutex_unlock(&d->lock);
  return c;
}

static void* reader_main(void* arg) {
  struct Direction* d = arg;
  for (;;) {
    struct Chunk* c = malloc(sizeof *c + kChunkMax);
    if (c == NULL) break;
    ssize_t n = read(d->src, c->data, kChunkMax);
    if (n < 0 && errno == EINTR) {
      free(c);
      continue;
    }
    clock_gettime(CLOCK_MONOTONIC, &c->due);
    add_ns(&c->due, d->delay_ns);
    if (n > 0 && d->from_client)
      atomic_store(d->request_pending, 1);
    else if (n > 0 && atomic_exchange(d->request_pending, 0))
      atomic_fetch_add(&g_answered, 1);
    c->next = NULL;
    c->len = n > 0 ? (size_t)n : 0;
    push(d, c);
    if (n <= 0) return NULL;
  }
  struct Chunk* eos = calloc(1, sizeof *eos);
  if (eos != NULL) push(d, eos); /* else the writer waits for the connection's teardown */
  return NULL;
}

static int write_all(int fd, const unsigned char* p, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static void* writer_main(void* arg) {
  struct Direction* d = arg;
  int broken = 0;
  for (;;) {
    struct Chunk* c = pop(d);
    size_t len = c->len;
    if (len > 0 && !broken) {
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &c->due, NULL) == EINTR) {
      }
      if (write_all(d->dst, c->data, len) != 0) {
        broken = 1;
        shutdown(d->src, SHUT_RDWR); /* makes the reader see the end too */
      }
    }
    free(c);
    if (len == 0) break;
  }
  shutdown(d->dst, SHUT_WR); /* pass the end of stream on */
  return NULL;
}

static int start_direction(struct Connection* conn, struct Direction* d, int src, int dst, pthread_t threads[2]) {
  d->src = src;
  d->dst = dst;
  d->request_pending = &conn->request_pending;
  d->from_client = d == &conn->up;
  d->delay_ns = g_delay_ns;
  d->head = d->tail = NULL;
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->ready, NULL);
  if (pthread_create(&threads[0], NULL, reader_main, d) != 0) return -1;
  if (pthread_create(&threads[1], NULL, writer_main, d) != 0) {
    shutdown(src, SHUT_RDWR);
    pthread_join(threads[0], NULL);
    return -1;
  }
  return 0;
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static struct sockaddr_in loopback(unsigned short port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* Connects to the target, runs both directions, and cleans up when both have ended. */
static void* connection_main(void* arg) {
  struct Connection* conn = arg;
  conn->target_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in target = loopback(g_target_port);
  if (conn->target_fd >= 0 && connect(conn->target_fd, (struct sockaddr*)&target, sizeof target) == 0) {
    set_nodelay(conn->client_fd);
    set_nodelay(conn->target_fd);
    atomic_fetch_add(&g_connections, 1);
    pthread_t up[2], down[2];
    if (start_direction(conn, &conn->up, conn->client_fd, conn->target_fd, up) == 0) {
      if (start_direction(conn, &conn->down, conn->target_fd, conn->client_fd, down) == 0) {
        pthread_join(down[0], NULL);
        pthread_join(down[1], NULL);
      } else {
        shutdown(conn->client_fd, SHUT_RDWR);
      }
      pthread_join(up[0], NULL);
      pthread_join(up[1], NULL);
    }
  }
  if (conn->target_fd >= 0) close(conn->target_fd);
  close(conn->client_fd);
  free(conn);
  return NULL;
}

static void print_counts(void) {
  printf("counts connections %ld answered %ld\n", atomic_load(&g_connections), atomic_load(&g_answered));
  fflush(stdout);
}

/* SIGUSR1 prints the counts (from this thread: printf is not async-signal-safe); SIGTERM prints
 * them and exits. Every other thread has both blocked. */
static void* signal_main(void* arg) {
  sigset_t* set = arg;
  for (;;) {
    int sig = 0;
    if (sigwait(set, &sig) != 0) continue;
    print_counts();
    if (sig == SIGTERM) exit(0);
  }
  return NULL;
}

static long parse_number(const char* s, long max) {
  char* end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max) return -1;
  return v;
}

int main(int argc, char** argv) {
  long listen_port = -1, target_port = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--listen-port") == 0)
      listen_port = parse_number(argv[i + 1], 65535);
    else if (strcmp(argv[i], "--target-port") == 0)
      target_port = parse_number(argv[i + 1], 65535);
    else if (strcmp(argv[i], "--delay-us") == 0)
      g_delay_ns = parse_number(argv[i + 1], 1000000) * 1000;
    else
      listen_port = -2;
  }
  if (argc % 2 == 0 || listen_port < 0 || target_port <= 0 || g_delay_ns < 0) {
    fprintf(stderr, "usage: delay_relay --listen-port P --target-port T [--delay-us 500]\n");
    return 2;
  }
  g_target_port = (unsigned short)target_port;
  signal(SIGPIPE, SIG_IGN);
  static sigset_t counted;
  sigemptyset(&counted);
  sigaddset(&counted, SIGUSR1);
  sigaddset(&counted, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &counted, NULL); /* inherited by every thread made after this */
  pthread_t signal_thread;
  if (pthread_create(&signal_thread, NULL, signal_main, &counted) != 0) {
    perror("delay_relay: signal thread");
    return 1;
  }
  /* The default 50 us timer slack would add ~10 % to each hold; threads inherit this. */
  prctl(PR_SET_TIMERSLACK, 1000UL);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = loopback((unsigned short)listen_port);
  socklen_t addr_len = sizeof addr;
  if (lfd < 0 || bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0 ||
      getsockname(lfd, (struct sockaddr*)&addr, &addr_len) != 0) {
    perror("delay_relay: listen");
    return 1;
  }
  printf("listening %u\n", ntohs(addr.sin_port));
  fflush(stdout);

  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  for (;;) {
    int cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      perror("delay_relay: accept");
      return 1;
    }
    struct Connection* conn = calloc(1, sizeof *conn);
    pthread_t thread;
    if (conn == NULL) {
      close(cfd);
      continue;
    }
    conn->client_fd = cfd;
    if (pthread_create(&thread, &detached, connection_main, conn) != 0) {
      close(cfd);
      free(conn);
    }
  }
}
