/*
 * UDP prober for the real-guest tests: sends one probe every 1e6/rate microseconds to
 * ADDRESS:PORT (each 16 bytes: sequence number and CLOCK_REALTIME send time in ns), until
 * stdin reaches end of file; then waits DRAIN_MS for late replies and prints one JSON line
 * with what came back. Prints "READY" once the first reply has arrived.
 *
 *   prober ADDRESS PORT RATE_HZ DRAIN_MS
 *
 * Replies are the guest's echo (the probe's 16 bytes and the guest's reply counter).
 * lost: probes never answered; duplicates: answers beyond the first for a probe; reordered:
 * answers for a probe older than one already answered; longest gap: the longest time between
 * two consecutive answers (receive times), with its start and end (epoch ms).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROBES (20u * 60u * 1000u * 10u)

static int sock;
static volatile int stopping;
static uint64_t sent;
static uint8_t *answers;

static double realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static void *watch_stdin(void *unused) {
  (void)unused;
  char buffer[64];
  while (read(0, buffer, sizeof buffer) > 0) {
  }
  stopping = 1;
  return NULL;
}

struct stats {
  uint64_t received, duplicates, reordered, highest;
  int any;
  double last_ms, gap_ms, gap_start_ms, gap_end_ms;
  /* Round trips: the longest, and that of the reply that opened the longest gap. */
  double max_rtt_ms, last_rtt_ms, gap_start_rtt_ms;
};

/* Waits up to timeout_ns for replies and takes all that are there. */
static void receive(struct stats *s, long timeout_ns) {
  struct pollfd p = {.fd = sock, .events = POLLIN};
  struct timespec timeout = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
  if (ppoll(&p, 1, &timeout, NULL) <= 0) return;
  for (;;) {
    unsigned char reply[64];
    ssize_t n = recv(sock, reply, sizeof reply, MSG_DONTWAIT);
    if (n < 0) return;
    double now = realtime_ms();
    if (n < 16) continue;
    uint64_t seq, stamp_ns;
    memcpy(&seq, reply, 8);
    memcpy(&stamp_ns, reply + 8, 8);
    double rtt = now - (double)stamp_ns / 1e6;
    if (seq >= MAX_PROBES) continue;
    if (answers[seq]) {
      s->duplicates++;
      continue;
    }
    answers[seq] = 1;
    s->received++;
    if (s->any && seq < s->highest) s->reordered++;
    if (!s->any || seq > s->highest) s->highest = seq;
    if (s->any && now - s->last_ms > s->gap_ms) {
      s->gap_ms = now - s->last_ms;
      s->gap_start_ms = s->last_ms;
      s->gap_end_ms = now;
      s->gap_start_rtt_ms = s->last_rtt_ms;
    }
    if (rtt > s->max_rtt_ms) s->max_rtt_ms = rtt;
    s->last_rtt_ms = rtt;
    if (!s->any) {
      printf("READY\n");
      fflush(stdout);
    }
    s->any = 1;
    s->last_ms = now;
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: prober ADDRESS PORT RATE_HZ DRAIN_MS\n");
    return 2;
  }
  struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1) {
    fprintf(stderr, "prober: not an IPv4 address: %s\n", argv[1]);
    return 2;
  }
  long rate = atol(argv[3]), drain = atol(argv[4]);
  if (rate <= 0 || rate > 100000) {
    fprintf(stderr, "prober: rate must be 1..100000 Hz\n");
    return 2;
  }
  answers = calloc(MAX_PROBES, 1);
  sock = socket(AF_INET, SOCK_DGRAM, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&target, sizeof target) != 0) {
    perror("prober: socket");
    return 1;
  }
  pthread_t thread;
  pthread_create(&thread, NULL, watch_stdin, NULL);

  struct stats s = {0};
  long interval_ns = 1000000000L / rate;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  double started_ms = realtime_ms();
  while (!stopping && sent < MAX_PROBES) {
    unsigned char probe[16];
    uint64_t seq = sent, stamp;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    stamp = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    memcpy(probe, &seq, 8);
    memcpy(probe + 8, &stamp, 8);
    /* ECONNREFUSED from an ICMP error, or no ARP answer yet: the probe still counts as sent. */
    if (send(sock, probe, sizeof probe, 0) < 0 && errno != ECONNREFUSED && errno != EHOSTUNREACH) perror("prober: send");
    sent++;
    next.tv_nsec += interval_ns;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    /* Receive until the next probe is due. */
    for (;;) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long left_ns = (next.tv_sec - now.tv_sec) * 1000000000L + (next.tv_nsec - now.tv_nsec);
      if (left_ns <= 0) break;
      receive(&s, left_ns);
    }
  }
  double stopped_ms = realtime_ms();
  while (realtime_ms() < stopped_ms + (double)drain) receive(&s, 10000000L);

  /* Lost: probes after the first answered one that never got an answer. */
  uint64_t first = 0, lost = 0, longest_run = 0, run = 0;
  /* Where the losses were: the first 16 runs, as [first lost sequence number, length]. */
  char runs[16 * 48] = "";
  int runs_listed = 0;
  while (first < sent && !answers[first]) first++;
  for (uint64_t i = first; i <= sent; i++) {
    if (i < sent && !answers[i]) {
      lost++;
      if (++run > longest_run) longest_run = run;
      continue;
    }
    if (run > 0 && runs_listed < 16) {
      size_t used = strlen(runs);
      snprintf(runs + used, sizeof runs - used, "%s[%" PRIu64 ",%" PRIu64 "]", runs_listed ? "," : "", i - run, run);
      runs_listed++;
    }
    run = 0;
  }
  printf("{\"sent\":%" PRIu64 ",\"firstAnswered\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"longestLossRun\":%" PRIu64
         ",\"duplicates\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"longestGapMs\":%.3f,\"gapStartMs\":%.3f,\"gapEndMs\":%.3f,\"startedMs\":%.3f,\"stoppedMs\":%.3f,\"intervalMs\":%.3f,\"maxRttMs\":%.3f,\"gapStartRttMs\":%.3f,\"lossRuns\":[%s]}\n",
         sent, first, s.received, lost, longest_run, s.duplicates, s.reordered, s.gap_ms, s.gap_start_ms, s.gap_end_ms, started_ms, stopped_ms, 1000.0 / (double)rate, s.max_rtt_ms, s.gap_start_rtt_ms, runs);
  return 0;
}
