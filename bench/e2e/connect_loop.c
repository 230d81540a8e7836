/* Connect-per-request load with libmariadb: N times connect, SELECT 1, close, one after the
 * other; prints the rate, the latency percentiles of one whole iteration and the medians of its
 * login (mysql_init to a logged-in connection) and of its SELECT 1 (query to freed result).
 *
 *   connect_loop --port P --user U --password PW [--host H] [--database D]
 *                (--count N [--seconds S] [--json] | --hold N)
 *
 * --seconds S stops after S seconds (or N iterations, whichever comes first): the rate of a
 * fixed time span, such as the first second after a proxy started.
 * --hold N opens N logged-in connections, prints "held N", keeps them open until stdin reaches
 * EOF (the caller measures memory meanwhile), then closes them.
 * Exit status 1 on the first failure, with the server's message on stderr. */
#include <errno.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct Options {
  const char* host;
  unsigned int port;
  const char* user;
  const char* password;
  const char* database;
  long count;
  double seconds; /* 0: no time limit */
  long hold;
  int json;
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void) {
  fprintf(stderr,
          "usage: connect_loop --port P --user U --password PW [--host H] [--database D]\n"
          "                    (--count N [--seconds S] [--json] | --hold N)\n");
  return 2;
}

static long parse_count(const char* s) {
  char* end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > 1000000) return -1;
  return v;
}

static int parse_args(int argc, char** argv, struct Options* o) {
  o->host = "127.0.0.1";
  for (int i = 1; i < argc; i++) {
    const char* flag = argv[i];
    if (strcmp(flag, "--json") == 0) {
      o->json = 1;
      continue;
    }
    if (i + 1 >= argc) return -1;
    const char* value = argv[++i];
    if (strcmp(flag, "--host") == 0) {
      o->host = value;
    } else if (strcmp(flag, "--port") == 0) {
      long port = parse_count(value);
      if (port < 0 || port > 65535) return -1;
      o->port = (unsigned int)port;
    } else if (strcmp(flag, "--user") == 0) {
      o->user = value;
    } else if (strcmp(flag, "--password") == 0) {
      o->password = value;
    } else if (strcmp(flag, "--database") == 0) {
      o->database = value;
    } else if (strcmp(flag, "--count") == 0) {
      o->count = parse_count(value);
      if (o->count < 0) return -1;
    } else if (strcmp(flag, "--seconds") == 0) {
      char* end = NULL;
      o->seconds = strtod(value, &end);
      if (end == value || *end != '\0' || !(o->seconds > 0)) return -1;
    } else if (strcmp(flag, "--hold") == 0) {
      o->hold = parse_count(value);
      if (o->hold < 0) return -1;
    } else {
      return -1;
    }
  }
  if (o->port == 0 || o->user == NULL || o->password == NULL) return -1;
  if ((o->count > 0) == (o->hold > 0)) return -1;
  return 0;
}

/* A logged-in connection, or NULL with the reason on stderr. */
static MYSQL* open_connection(const struct Options* o) {
  MYSQL* conn = mysql_init(NULL);
  if (conn == NULL) {
    fprintf(stderr, "connect_loop: mysql_init failed\n");
    return NULL;
  }
  unsigned int timeout = 10;
  unsigned int protocol = MYSQL_PROTOCOL_TCP;
  mysql_options(conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(conn, MYSQL_OPT_READ_TIMEOUT, &timeout);
  mysql_options(conn, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
  mysql_options(conn, MYSQL_OPT_PROTOCOL, &protocol);
  if (mysql_real_connect(conn, o->host, o->user, o->password, o->database, o->port, NULL, 0) == NULL) {
    fprintf(stderr, "connect_loop: connect to %s:%u failed: %s\n", o->host, o->port, mysql_error(conn));
    mysql_close(conn);
    return NULL;
  }
  return conn;
}

static int select_one(MYSQL* conn) {
  if (mysql_query(conn, "SELECT 1") != 0) {
    fprintf(stderr, "connect_loop: SELECT 1 failed: %s\n", mysql_error(conn));
    return -1;
  }
  MYSQL_RES* res = mysql_store_result(conn);
  if (res == NULL) {
    fprintf(stderr, "connect_loop: SELECT 1 returned no result: %s\n", mysql_error(conn));
    return -1;
  }
  mysql_free_result(res);
  return 0;
}

static int compare_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double* sorted, long n, double p) {
  long rank = (long)(p / 100.0 * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

/* Milliseconds per iteration: the whole of it, its login and its SELECT 1. */
struct Latencies {
  double* whole;
  double* login;
  double* select;
};

static void free_latencies(struct Latencies* l) {
  free(l->whole);
  free(l->login);
  free(l->select);
}

static int run_loop(const struct Options* o) {
  const size_t n = (size_t)o->count;
  struct Latencies ms = {calloc(n, sizeof(double)), calloc(n, sizeof(double)), calloc(n, sizeof(double))};
  if (ms.whole == NULL || ms.login == NULL || ms.select == NULL) {
    free_latencies(&ms);
    return 1;
  }
  double start = now_seconds();
  long done = 0; /* iterations completed */
  for (long i = 0; i < o->count; i++) {
    double t0 = now_seconds();
    if (o->seconds > 0 && t0 - start >= o->seconds) break;
    MYSQL* conn = open_connection(o);
    double t1 = now_seconds();
    if (conn == NULL || select_one(conn) != 0) {
      fprintf(stderr, "connect_loop: iteration %ld of %ld failed\n", i + 1, o->count);
      if (conn != NULL) mysql_close(conn);
      free_latencies(&ms);
      return 1;
    }
    double t2 = now_seconds();
    mysql_close(conn);
    ms.whole[i] = (now_seconds() - t0) * 1000.0;
    ms.login[i] = (t1 - t0) * 1000.0;
    ms.select[i] = (t2 - t1) * 1000.0;
    done = i + 1;
  }
  double seconds = now_seconds() - start;
  if (done == 0) {
    fprintf(stderr, "connect_loop: no iteration within %.3f s\n", o->seconds);
    free_latencies(&ms);
    return 1;
  }
  const size_t m = (size_t)done;
  qsort(ms.whole, m, sizeof(double), compare_double);
  qsort(ms.login, m, sizeof(double), compare_double);
  qsort(ms.select, m, sizeof(double), compare_double);
  double rate = (double)done / seconds;
  double p50 = percentile(ms.whole, done, 50), p90 = percentile(ms.whole, done, 90);
  double p99 = percentile(ms.whole, done, 99), max = ms.whole[m - 1];
  double login_p50 = percentile(ms.login, done, 50), select_p50 = percentile(ms.select, done, 50);
  if (o->json) {
    printf(
        "{\"count\": %ld, \"seconds\": %.6f, \"rate\": %.2f, \"p50_ms\": %.4f, \"p90_ms\": %.4f, "
        "\"p99_ms\": %.4f, \"max_ms\": %.4f, \"login_p50_ms\": %.4f, \"select_p50_ms\": %.4f}\n",
        done, seconds, rate, p50, p90, p99, max, login_p50, select_p50);
  } else {
    printf(
        "%ld connect+SELECT 1+close in %.3f s: %.1f/s; latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f; "
        "p50 of the login %.3f, of the SELECT 1 %.3f\n",
        done, seconds, rate, p50, p90, p99, max, login_p50, select_p50);
  }
  free_latencies(&ms);
  return 0;
}

/* Each held connection is one fd here: make room for them. */
static void raise_fd_limit(long wanted) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  rlim_t need = (rlim_t)wanted + 64;
  if (lim.rlim_cur >= need) return;
  lim.rlim_cur = need < lim.rlim_max ? need : lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
}

static int run_hold(const struct Options* o) {
  raise_fd_limit(o->hold);
  MYSQL** conns = calloc((size_t)o->hold, sizeof *conns);
  if (conns == NULL) return 1;
  int status = 0;
  long opened = 0;
  for (; opened < o->hold; opened++) {
    conns[opened] = open_connection(o);
    if (conns[opened] == NULL) {
      fprintf(stderr, "connect_loop: held connection %ld of %ld failed\n", opened + 1, o->hold);
      status = 1;
      break;
    }
  }
  if (status == 0) {
    printf("held %ld\n", opened);
    fflush(stdout);
    char buf[256];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {
    }
  }
  for (long i = 0; i < opened; i++) mysql_close(conns[i]);
  free(conns);
  return status;
}

int main(int argc, char** argv) {
  struct Options o;
  memset(&o, 0, sizeof o);
  if (parse_args(argc, argv, &o) != 0) return usage();
  if (mysql_library_init(0, NULL, NULL) != 0) {
    fprintf(stderr, "connect_loop: mysql_library_init failed\n");
    return 1;
  }
  int status = o.hold > 0 ? run_hold(&o) : run_loop(&o);
  mysql_library_end();
  return status;
}
