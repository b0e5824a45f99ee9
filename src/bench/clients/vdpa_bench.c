/*
 * vdpa_bench: what a VMM pays per operation on /dev/vhost-vdpa-N, timed in
 * C with CLOCK_MONOTONIC. One JSON object on stdout per run; errors on
 * stderr, exit 1.
 *
 *   vdpa_bench status DEV ITERATIONS
 *       one ioctl round trip: VHOST_VDPA_GET_STATUS, each call timed alone;
 *       the median, 10th and 90th percentiles in µs. Needs no owner, so it
 *       runs against any server that answers the ioctl (the comparison
 *       server as well as vdpafs).
 *   vdpa_bench kick DEV ITERATIONS
 *       kick -> used -> call for one 64-byte broadcast frame on a vdpasim_net
 *       device: from the write to tx's kick eventfd until rx's call eventfd
 *       is readable (poll) and the looped-back frame is in the used ring.
 *   vdpa_bench fps DEV SECONDS FRAME_BYTES IN_FLIGHT
 *       frames per second of FRAME_BYTES-byte broadcast frames with up to
 *       IN_FLIGHT on the tx ring at once, counted as they come back on rx.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdpa_user.h"

static void die(const char *what, int e) {
  fprintf(stderr, "vdpa_bench: %s: %s\n", what, strerror(e < 0 ? -e : e));
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts `t` and prints the percentiles. */
static void print_latency(const char *name, double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  printf("{\"bench\":\"%s\",\"iterations\":%d,\"median_us\":%.3f,\"p10_us\":%.3f,\"p90_us\":%.3f,\"min_us\":%.3f}\n", name,
         n, t[n / 2], t[n / 10], t[n * 9 / 10], t[0]);
}

static int open_dev(const char *path) {
  int fd = vdpa_open(path);
  if (fd < 0) die(path, fd);
  return fd;
}

static int bench_status(const char *path, int iterations) {
  int fd = open_dev(path);
  double *t = malloc(sizeof *t * (size_t)iterations);
  uint8_t status;
  int e;
  for (int i = 0; i < iterations / 10 + 10; i++) /* warm-up */
    if ((e = vdpa_get_status(fd, &status)) < 0) die("VHOST_VDPA_GET_STATUS", e);
  for (int i = 0; i < iterations; i++) {
    double t0 = now_us();
    vdpa_get_status(fd, &status);
    t[i] = now_us() - t0;
  }
  print_latency("status", t, iterations);
  close(fd);
  free(t);
  return 0;
}

/* ---- a net device brought up in this process's memory ---- */

#define RXQ 0
#define TXQ 1
#define RING 256
#define BUF 2048
#define HDR sizeof(struct virtio_net_hdr_v1)

struct net {
  int fd;
  struct dma_region mem;
  struct vq vq[2];
  uint8_t *rx[RING];
  uint8_t *tx[RING];
};

static void net_start(struct net *n, const char *path) {
  n->fd = open_dev(path);
  int e = dma_region_create(&n->mem, 8 << 20, 0x40000000);
  if (e < 0) die("mmap", e);
  for (unsigned i = 0; i < 2; i++)
    if ((e = vq_init(&n->vq[i], i, RING, &n->mem)) < 0) die("vq_init", e);
  uint32_t id = 0;
  if ((e = vdpa_ioctl(n->fd, VHOST_VDPA_GET_DEVICE_ID, &id)) < 0) die("VHOST_VDPA_GET_DEVICE_ID", e);
  if (id != VIRTIO_ID_NET) die("the device is not a net device", EINVAL);
  /* Queues 0 and 1 only: the control queue stays disabled, as it may. */
  if ((e = vdpa_driver_start(n->fd, 1ULL << VIRTIO_NET_F_MAC, NULL, &n->mem, n->vq, 2)) < 0) die("driver start", e);
  for (int i = 0; i < RING; i++) {
    n->tx[i] = dma_alloc(&n->mem, BUF, 64, NULL);
    memset(n->tx[i] + HDR, 0xff, 6); /* broadcast: passes vdpa_sim's filter */
    memset(n->tx[i] + HDR + 6, 0x02, 6);
    n->tx[i][HDR + 12] = 0x88;
    n->tx[i][HDR + 13] = 0xb5;
  }
}

static void post_rx(struct net *n, uint8_t *buf) {
  struct vq_buf b = {dma_iova(&n->mem, buf), BUF, true};
  int head = vq_add(&n->vq[RXQ], &b, 1);
  if (head < 0) die("rx ring full", -head);
  n->rx[head] = buf;
}

/* Post a tx frame of `len` bytes (header excluded) from tx buffer slot `slot`. */
static int post_tx(struct net *n, int slot, size_t len) {
  struct vq_buf b = {dma_iova(&n->mem, n->tx[slot]), (uint32_t)(HDR + len), false};
  return vq_add(&n->vq[TXQ], &b, 1);
}

static void net_stop(struct net *n) {
  vdpa_set_status(n->fd, 0);
  close(n->fd);
  for (unsigned i = 0; i < 2; i++) vq_fini(&n->vq[i]);
  dma_region_destroy(&n->mem);
}

static int bench_kick(const char *path, int iterations) {
  struct net n = {0};
  net_start(&n, path);
  for (int i = 0; i < 64; i++) post_rx(&n, dma_alloc(&n.mem, BUF, 64, NULL));
  double *t = malloc(sizeof *t * (size_t)iterations);
  int warm = iterations / 10 + 10;
  for (int i = 0; i < warm + iterations; i++) {
    int head = post_tx(&n, 0, 64);
    double t0 = now_us();
    vq_kick(&n.vq[TXQ]);
    uint32_t id, len;
    for (;;) {
      int w = vq_wait_call(&n.vq[RXQ], 5000);
      if (w == 0) die("no rx call within 5 s", ETIMEDOUT);
      if (w < 0) die("poll", w);
      if (vq_get_used(&n.vq[RXQ], &id, &len)) break;
    }
    double dt = now_us() - t0;
    if (len != HDR + 64) die("the looped-back frame has the wrong length", EIO);
    post_rx(&n, n.rx[id]);
    /* tx is used before rx (vdpa_sim completes tx first); reap it. */
    uint32_t tid, tlen;
    while (!vq_get_used(&n.vq[TXQ], &tid, &tlen)) vq_wait_call(&n.vq[TXQ], 5000);
    if (tid != (uint32_t)head) die("tx used an unexpected chain", EIO);
    vq_wait_call(&n.vq[TXQ], 0);
    if (i >= warm) t[i - warm] = dt;
  }
  print_latency("kick", t, iterations);
  net_stop(&n);
  free(t);
  return 0;
}

static int bench_fps(const char *path, double seconds, size_t frame, int in_flight) {
  if (frame < 14 || HDR + frame > BUF || in_flight < 1 || in_flight > RING / 2) die("bad frame size or in-flight count", EINVAL);
  struct net n = {0};
  net_start(&n, path);
  /* Twice as many rx buffers as frames in flight: the device never lacks one. */
  for (int i = 0; i < 2 * in_flight; i++) post_rx(&n, dma_alloc(&n.mem, BUF, 64, NULL));
  int free_slots[RING], nfree = 0, slot_of_head[RING];
  for (int i = 0; i < in_flight; i++) free_slots[nfree++] = i;
  long sent = 0, received = 0, bad = 0;
  double t0 = now_us(), end = t0 + seconds * 1e6, now = t0;
  while (now < end) {
    bool posted = false;
    while (nfree > 0) {
      int slot = free_slots[--nfree];
      int head = post_tx(&n, slot, frame);
      slot_of_head[head] = slot;
      posted = true;
      sent++;
    }
    if (posted) vq_kick(&n.vq[TXQ]);
    struct pollfd p[2] = {{.fd = n.vq[RXQ].call, .events = POLLIN}, {.fd = n.vq[TXQ].call, .events = POLLIN}};
    if (poll(p, 2, 5000) <= 0) die("no call within 5 s", ETIMEDOUT);
    vq_wait_call(&n.vq[RXQ], 0);
    vq_wait_call(&n.vq[TXQ], 0);
    uint32_t id, len;
    bool reposted = false;
    while (vq_get_used(&n.vq[RXQ], &id, &len)) {
      received++;
      if (len != HDR + frame) bad++;
      post_rx(&n, n.rx[id]);
      reposted = true;
    }
    if (reposted) vq_kick(&n.vq[RXQ]);
    while (vq_get_used(&n.vq[TXQ], &id, &len)) free_slots[nfree++] = slot_of_head[id];
    now = now_us();
  }
  double elapsed = (now - t0) / 1e6;
  printf("{\"bench\":\"fps\",\"frame_bytes\":%zu,\"in_flight\":%d,\"seconds\":%.3f,\"sent\":%ld,\"received\":%ld,"
         "\"bad_length\":%ld,\"frames_per_sec\":%.1f}\n",
         frame, in_flight, elapsed, sent, received, bad, (double)received / elapsed);
  net_stop(&n);
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "status")) return bench_status(argv[2], atoi(argv[3]));
  if (argc == 4 && !strcmp(argv[1], "kick")) return bench_kick(argv[2], atoi(argv[3]));
  if (argc == 6 && !strcmp(argv[1], "fps")) return bench_fps(argv[2], atof(argv[3]), (size_t)atoi(argv[4]), atoi(argv[5]));
  fprintf(stderr,
          "usage: vdpa_bench status DEV ITERATIONS\n"
          "       vdpa_bench kick DEV ITERATIONS\n"
          "       vdpa_bench fps DEV SECONDS FRAME_BYTES IN_FLIGHT\n");
  return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
