/*
 * The real-guest kit's program inside the guest (static, started by /init). Three jobs:
 *  - a UDP echo service (port from nicmig.udp=, default 7): each reply is the request's bytes
 *    followed by the guest's own reply counter (u64, little endian);
 *  - a memory workload: a buffer of nicmig.wss= MiB whose pages are rewritten at nicmig.dirty=
 *    MiB/s, generation g writing page g % pages with words mix(g, i); a running checksum (sum
 *    of all words) is kept as pages change, so that after a migration the checksum can be
 *    recomputed from the memory and from g alone and compared;
 *  - the serial console (/dev/ttyS0): commands `status` and `verify`, answered with one line
 *    each starting with "NICMIG ".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define WORDS (PAGE / 8)

static uint64_t *buffer;
static uint64_t pages;
static uint64_t *page_sum;
static uint64_t running_sum;
static uint64_t generation;
static double dirty_mib_per_s;
static uint64_t udp_replies;
static char boot_id[64] = "unknown";
static pthread_mutex_t workload_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mix(uint64_t g, uint64_t i) {
  uint64_t z = g * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double now_s(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *cmdline_value(const char *cmdline, const char *key, char *out, size_t size) {
  const char *at = strstr(cmdline, key);
  if (!at) return NULL;
  at += strlen(key);
  size_t n = strcspn(at, " \n");
  if (n >= size) n = size - 1;
  memcpy(out, at, n);
  out[n] = 0;
  return out;
}

/* Writes generation g's page; the caller holds workload_lock. */
static void write_generation(uint64_t g) {
  uint64_t page = g % pages, sum = 0;
  uint64_t *words = buffer + page * WORDS;
  for (uint64_t i = 0; i < WORDS; i++) {
    words[i] = mix(g, i);
    sum += words[i];
  }
  running_sum += sum - page_sum[page];
  page_sum[page] = sum;
}

static void *workload(void *unused) {
  (void)unused;
  double start = now_s(CLOCK_MONOTONIC);
  double pages_per_s = dirty_mib_per_s * 1024 * 1024 / PAGE;
  for (;;) {
    uint64_t due = (uint64_t)((now_s(CLOCK_MONOTONIC) - start) * pages_per_s);
    pthread_mutex_lock(&workload_lock);
    /* At most a second's worth at once: after a long pause, catch up gradually. */
    for (uint64_t n = 0; generation < due && n < (uint64_t)pages_per_s + 1; n++) write_generation(generation++);
    if (generation < due) start += (double)(due - generation) / pages_per_s;
    pthread_mutex_unlock(&workload_lock);
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
  }
  return NULL;
}

static void *udp_echo(void *arg) {
  int port = *(int *)arg;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_ANY)}};
  if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    perror("nicmig-guest: udp bind");
    return NULL;
  }
  for (;;) {
    unsigned char packet[1500];
    struct sockaddr_in peer;
    socklen_t peer_size = sizeof peer;
    ssize_t n = recvfrom(fd, packet, sizeof packet - 8, 0, (struct sockaddr *)&peer, &peer_size);
    if (n < 0) continue;
    uint64_t count = __atomic_add_fetch(&udp_replies, 1, __ATOMIC_RELAXED);
    memcpy(packet + n, &count, 8);
    sendto(fd, packet, (size_t)n + 8, 0, (struct sockaddr *)&peer, peer_size);
  }
  return NULL;
}

static void answer(int tty, const char *command) {
  char line[512];
  if (strcmp(command, "status") == 0) {
    pthread_mutex_lock(&workload_lock);
    uint64_t g = generation, sum = running_sum;
    pthread_mutex_unlock(&workload_lock);
    snprintf(line, sizeof line, "NICMIG status boot=%s uptime_ms=%.3f gen=%" PRIu64 " sum=%016" PRIx64 " udp=%" PRIu64 "\n", boot_id,
             now_s(CLOCK_MONOTONIC) * 1000, g, sum, __atomic_load_n(&udp_replies, __ATOMIC_RELAXED));
  } else if (strcmp(command, "verify") == 0) {
    /* The workload holds still while the buffer is summed twice: as it is in memory, and as
     * generation g says it must be (page p last written by the largest g' < g with g' % pages == p). */
    pthread_mutex_lock(&workload_lock);
    uint64_t g = generation, sum = running_sum, memory = 0, expected = 0;
    for (uint64_t i = 0; i < pages * WORDS; i++) memory += buffer[i];
    for (uint64_t p = 0; p < pages; p++) {
      if (g <= p) continue;
      uint64_t last = p + (g - 1 - p) / pages * pages;
      for (uint64_t i = 0; i < WORDS; i++) expected += mix(last, i);
    }
    pthread_mutex_unlock(&workload_lock);
    snprintf(line, sizeof line, "NICMIG verify boot=%s uptime_ms=%.3f gen=%" PRIu64 " sum=%016" PRIx64 " memory=%016" PRIx64 " expected=%016" PRIx64 "\n",
             boot_id, now_s(CLOCK_MONOTONIC) * 1000, g, sum, memory, expected);
  } else {
    snprintf(line, sizeof line, "NICMIG error unknown-command=%s\n", command);
  }
  (void)!write(tty, line, strlen(line));
}

int main(void) {
  char cmdline[4096] = "", value[64];
  FILE *file = fopen("/proc/cmdline", "r");
  if (file) {
    (void)!fread(cmdline, 1, sizeof cmdline - 1, file);
    fclose(file);
  }
  file = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (file) {
    if (fgets(boot_id, sizeof boot_id, file)) boot_id[strcspn(boot_id, "\n")] = 0;
    fclose(file);
  }
  uint64_t wss_mib = cmdline_value(cmdline, "nicmig.wss=", value, sizeof value) ? strtoull(value, NULL, 10) : 16;
  dirty_mib_per_s = cmdline_value(cmdline, "nicmig.dirty=", value, sizeof value) ? strtod(value, NULL) : 0;
  int port = cmdline_value(cmdline, "nicmig.udp=", value, sizeof value) ? atoi(value) : 7;

  pages = wss_mib * 1024 * 1024 / PAGE;
  if (pages == 0) pages = 1;
  buffer = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  page_sum = calloc(pages, sizeof *page_sum);
  if (buffer == MAP_FAILED || !page_sum) {
    perror("nicmig-guest: workload buffer");
    return 1;
  }

  int tty = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
  if (tty < 0) {
    perror("nicmig-guest: /dev/ttyS0");
    return 1;
  }
  struct termios mode;
  tcgetattr(tty, &mode);
  cfmakeraw(&mode);
  tcsetattr(tty, TCSANOW, &mode);

  pthread_t thread;
  pthread_create(&thread, NULL, udp_echo, &port);
  if (dirty_mib_per_s > 0) pthread_create(&thread, NULL, workload, NULL);

  char ready[256];
  snprintf(ready, sizeof ready, "NICMIG ready boot=%s uptime_ms=%.3f wss_mib=%" PRIu64 " dirty_mib_s=%g udp=%d\n", boot_id, now_s(CLOCK_MONOTONIC) * 1000, wss_mib,
           dirty_mib_per_s, port);
  (void)!write(tty, ready, strlen(ready));

  char command[256];
  size_t used = 0;
  for (;;) {
    char c;
    ssize_t n = read(tty, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      struct timespec pause = {0, 10000000};
      nanosleep(&pause, NULL);
      continue;
    }
    if (c == '\n' || c == '\r') {
      command[used] = 0;
      if (used > 0) answer(tty, command);
      used = 0;
    } else if (used < sizeof command - 1) {
      command[used++] = c;
    }
  }
}
