// delay-proxy: a TCP proxy that puts a fixed round trip between its clients and one upstream
// server, for Benchmarks/wan.sh (this kernel has no netem). Not part of the mount.
//
//   delay-proxy LISTEN_PORT UPSTREAM_PORT RTT_MS [UPSTREAM_HOST] [--mbit N]
//
// --mbit N: the link carries N megabits a second each way, shared by all connections (a
// token clock per direction, paced in pieces of 16 KiB); without it, as fast as loopback.
//
// Each byte is held for half the round trip in each direction, so a request and its answer
// cost one round trip, and a stream is delayed without being slowed: reading and writing run
// on their own threads, with up to 64 MiB in flight per direction (more than a gigabyte a
// second times 40 ms). A new connection costs one round trip more, as TCP's handshake does:
// the first byte a client sends reaches the server 1.5 round trips after the connect. TCP's
// slow start and loss are not modelled. Prints "bytes_up bytes_down connections" to stderr on
// SIGUSR1 and at exit.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CHUNK = 256 * 1024, LIMIT = 64 * 1024 * 1024 };

struct chunk {
  struct chunk *next;
  uint64_t due_ns; // when it may be written
  ssize_t len;     // 0: end of stream
  char data[];
};

struct direction {
  int src, dst;
  uint64_t delay_ns, floor_ns; // floor: not before this time (the handshake)
  pthread_mutex_t lock;
  pthread_cond_t changed;
  struct chunk *head, *tail;
  size_t queued;
  int failed;
  atomic_ullong *counter;
  struct connection *conn;
  int way; // 0 up, 1 down
};

struct connection {
  struct direction up, down;
  atomic_int alive; // threads still running
};

static uint64_t rtt_ns;
static double ns_per_byte; // 0: no bandwidth limit
static pthread_mutex_t link_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t link_free_ns[2]; // per direction: when the link is next free
static struct sockaddr_in upstream;
static atomic_ullong bytes_up, bytes_down, connections;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t due) {
  struct timespec t = {.tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

static void release(struct connection *c) {
  if (atomic_fetch_sub(&c->alive, 1) != 1) return;
  close(c->up.src);
  close(c->up.dst);
  pthread_mutex_destroy(&c->up.lock);
  pthread_mutex_destroy(&c->down.lock);
  pthread_cond_destroy(&c->up.changed);
  pthread_cond_destroy(&c->down.changed);
  free(c);
}

static void push(struct direction *d, struct chunk *k) {
  pthread_mutex_lock(&d->lock);
  while (d->queued >= LIMIT && !d->failed) pthread_cond_wait(&d->changed, &d->lock);
  k->next = NULL;
  if (d->tail) d->tail->next = k; else d->head = k;
  d->tail = k;
  d->queued += (size_t)k->len;
  pthread_cond_broadcast(&d->changed);
  pthread_mutex_unlock(&d->lock);
}

static void *reader(void *arg) {
  struct direction *d = arg;
  for (;;) {
    struct chunk *k = malloc(sizeof *k + CHUNK);
    if (!k) abort();
    ssize_t n;
    do { n = recv(d->src, k->data, CHUNK, 0); } while (n < 0 && errno == EINTR);
    if (n < 0) n = 0;
    uint64_t due = now_ns() + d->delay_ns;
    k->due_ns = due > d->floor_ns ? due : d->floor_ns;
    k->len = n;
    push(d, k);
    if (n == 0) break;
  }
  release(d->conn);
  return NULL;
}

static void *writer(void *arg) {
  struct direction *d = arg;
  for (;;) {
    pthread_mutex_lock(&d->lock);
    while (!d->head) pthread_cond_wait(&d->changed, &d->lock);
    struct chunk *k = d->head;
    pthread_mutex_unlock(&d->lock);
    if (k->due_ns > now_ns()) sleep_until(k->due_ns);
    int end = k->len == 0;
    if (end) {
      shutdown(d->dst, SHUT_WR);
    } else if (!d->failed) {
      ssize_t off = 0;
      while (off < k->len) {
        size_t len = (size_t)(k->len - off);
        if (ns_per_byte > 0) {
          // The piece leaves once the shared link has carried it.
          if (len > 16384) len = 16384;
          pthread_mutex_lock(&link_lock);
          uint64_t start = now_ns();
          if (link_free_ns[d->way] > start) start = link_free_ns[d->way];
          link_free_ns[d->way] = start + (uint64_t)(ns_per_byte * (double)len);
          uint64_t done = link_free_ns[d->way];
          pthread_mutex_unlock(&link_lock);
          sleep_until(done);
        }
        ssize_t w = send(d->dst, k->data + off, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          d->failed = 1;
          shutdown(d->src, SHUT_RD); // ends the reader of this direction
          break;
        }
        off += w;
      }
      if (!d->failed) atomic_fetch_add(d->counter, (unsigned long long)k->len);
    }
    pthread_mutex_lock(&d->lock);
    d->head = k->next;
    if (!d->head) d->tail = NULL;
    d->queued -= (size_t)k->len;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
    free(k);
    if (end) break;
  }
  release(d->conn);
  return NULL;
}

static void spawn(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  if (pthread_create(&t, &attr, fn, arg) != 0) abort();
  pthread_attr_destroy(&attr);
}

static void setup(struct direction *d, struct connection *c, int src, int dst, uint64_t floor_ns, atomic_ullong *counter,
                  int way) {
  memset(d, 0, sizeof *d);
  d->way = way;
  d->src = src;
  d->dst = dst;
  d->delay_ns = rtt_ns / 2;
  d->floor_ns = floor_ns;
  d->counter = counter;
  d->conn = c;
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->changed, NULL);
}

static void report(int sig) {
  (void)sig;
  char line[128];
  int n = snprintf(line, sizeof line, "%llu %llu %llu\n", (unsigned long long)atomic_load(&bytes_up),
                   (unsigned long long)atomic_load(&bytes_down), (unsigned long long)atomic_load(&connections));
  if (n > 0) { ssize_t ignored = write(2, line, (size_t)n); (void)ignored; }
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--mbit") != 0) continue;
    double mbit = atof(argv[i + 1]);
    if (mbit <= 0) return 2;
    ns_per_byte = 8e3 / mbit; // 8 bits a byte, at mbit * 1e6 bits a second
    for (int j = i; j + 2 < argc + 0; j++) argv[j] = argv[j + 2];
    argc -= 2;
    break;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_PORT RTT_MS [UPSTREAM_HOST] [--mbit N]\n", argv[0]);
    return 2;
  }
  int listen_port = atoi(argv[1]), upstream_port = atoi(argv[2]);
  rtt_ns = (uint64_t)(atof(argv[3]) * 1e6);
  upstream.sin_family = AF_INET;
  upstream.sin_port = htons((uint16_t)upstream_port);
  if (inet_pton(AF_INET, argc > 4 ? argv[4] : "127.0.0.1", &upstream.sin_addr) != 1) return 2;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGUSR1, report);

  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l, 1024) != 0) {
    perror("delay-proxy: listen");
    return 1;
  }
  for (;;) {
    int client = accept(l, NULL, NULL);
    if (client < 0) continue;
    uint64_t accepted = now_ns();
    int server = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(server, (struct sockaddr *)&upstream, sizeof upstream) != 0) {
      close(client);
      close(server);
      continue;
    }
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    atomic_fetch_add(&connections, 1);
    struct connection *c = malloc(sizeof *c);
    if (!c) abort();
    atomic_init(&c->alive, 4);
    // The handshake: the client's first bytes arrive 1.5 round trips after its connect.
    setup(&c->up, c, client, server, accepted + rtt_ns + rtt_ns / 2, &bytes_up, 0);
    setup(&c->down, c, server, client, 0, &bytes_down, 1);
    spawn(reader, &c->up);
    spawn(writer, &c->up);
    spawn(reader, &c->down);
    spawn(writer, &c->down);
  }
}
