/*
 * vdpa_client: a VMM's view of /dev/vhost-vdpa-N, as checks. Each check
 * prints `ok - WHAT` or `not ok - WHAT: DETAIL`; the exit status is 1 if
 * any failed, 2 on a usage error.
 *
 *   vdpa_client ioctls DEV net|blk   what rust-vmm's vhost crate asserts in
 *                                    test_vdpa_kern_ioctls, plus the owner,
 *                                    index and exclusive-open rules
 *   vdpa_client dma DEV              test_vdpa_kern_dma: IOTLB messages
 *   vdpa_client net DEV              frames through rings in this process's
 *                                    memory: loopback, filter, control queue
 *   vdpa_client blk-write DEV SECTOR FILE        FILE onto the disk (OUT requests)
 *   vdpa_client blk-read DEV SECTOR BYTES FILE   the disk into FILE (IN requests)
 *
 * With VDPA_CLIENT_PAUSE=1, `net` prints "# paused" before it resets the
 * device and waits for a line on stdin, so a test can read the device's
 * vstats while it still runs.
 *
 * Where rust-vmm only asserts "an error", the check names the errno the
 * kernel returns (drivers/vhost/vdpa.c, vhost.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vdpa_user.h"

static int passed, failed;

static void check(bool ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf(ok ? "ok - " : "not ok - ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  if (ok)
    passed++;
  else
    failed++;
  fflush(stdout);
}

static const char *errname(int e) {
  if (e == 0) return "success";
  const char *n = strerrorname_np(e < 0 ? -e : e);
  return n ? n : "?";
}

/* A call that must succeed. */
static int expect_ok(int r, const char *what) {
  check(r == 0, "%s%s%s", what, r ? ": " : "", r ? errname(r) : "");
  return r;
}

/* A call that must fail with `want` (a negative errno); r >= 0 is a success. */
static void expect_err(int r, int want, const char *what) {
  if (r >= 0)
    check(0, "%s: expected %s, but it succeeded", what, errname(want));
  else if (r == want)
    check(1, "%s fails %s", what, errname(want));
  else
    check(0, "%s: expected %s, got %s", what, errname(want), errname(r));
}

static void expect_u64(uint64_t got, uint64_t want, const char *what) {
  if (got == want)
    check(1, "%s is %llu", what, (unsigned long long)want);
  else
    check(0, "%s: expected %llu, got %llu", what, (unsigned long long)want, (unsigned long long)got);
}

static int finish(void) {
  printf("# %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

static int open_or_die(const char *path) {
  int fd = vdpa_open(path);
  if (fd < 0) {
    check(0, "open %s: %s", path, errname(fd));
    exit(finish());
  }
  check(1, "open %s O_RDWR|O_CLOEXEC|O_NONBLOCK", path);
  return fd;
}

/* ---------------- ioctls: rust-vmm's test_vdpa_kern_ioctls ---------------- */

struct expected_device {
  uint32_t id, config_size, vqs, groups, address_spaces, group_of_vq0;
};
/*
 * rust-vmm's table: net (24, 3, 2, 2, 0), blk (60, 1, 1, 1, 0). Its blk
 * config size is from a kernel before 6.3; since then struct
 * virtio_blk_config has the secure-erase and zoned fields and vdpa_sim_blk
 * reports sizeof() = 96.
 */
static const struct expected_device NET = {VIRTIO_ID_NET, 24, 3, 2, 2, 0};
static const struct expected_device BLK = {VIRTIO_ID_BLOCK, 96, 1, 1, 1, 0};

static int cmd_ioctls(const char *path, const char *kind) {
  const struct expected_device *want = !strcmp(kind, "net") ? &NET : !strcmp(kind, "blk") ? &BLK : NULL;
  if (!want) {
    fprintf(stderr, "vdpa_client ioctls: the kind is net or blk\n");
    return 2;
  }
  int fd = open_or_die(path);
  int second = vdpa_open(path);
  expect_err(second, -EBUSY, "a second open while the first is held");
  if (second >= 0) close(second);

  uint64_t features = 0;
  expect_ok(vdpa_ioctl(fd, VHOST_GET_FEATURES, &features), "VHOST_GET_FEATURES");
  check(features & (1ULL << VIRTIO_F_VERSION_1), "features 0x%llx include VIRTIO_F_VERSION_1 (bit 32)",
        (unsigned long long)features);
  expect_ok(vdpa_ioctl(fd, VHOST_SET_FEATURES, &features), "VHOST_SET_FEATURES with every offered feature");

  /* vhost_dev_ioctl() checks the owner before anything else: EPERM. */
  struct vhost_vring_state s32 = {.index = 0, .num = 32};
  expect_err(vdpa_ioctl(fd, VHOST_SET_VRING_NUM, &s32), -EPERM, "VHOST_SET_VRING_NUM before VHOST_SET_OWNER");
  expect_ok(vdpa_ioctl(fd, VHOST_SET_OWNER, NULL), "VHOST_SET_OWNER");
  expect_err(vdpa_ioctl(fd, VHOST_SET_OWNER, NULL), -EBUSY, "a second VHOST_SET_OWNER");

  /* rust-vmm's set_mem_table(&[]) fails in rust-vmm itself; one region goes to the kernel. */
  void *mem = mmap(NULL, 0x100000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct {
    struct vhost_memory m;
    struct vhost_memory_region r;
  } table = {.m = {.nregions = 1}, .r = {.guest_phys_addr = 0, .memory_size = 0x100000, .userspace_addr = (uintptr_t)mem}};
  expect_ok(vdpa_ioctl(fd, VHOST_SET_MEM_TABLE, &table), "VHOST_SET_MEM_TABLE with one 1 MiB region");

  uint32_t id = 0;
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_DEVICE_ID, &id), "VHOST_VDPA_GET_DEVICE_ID");
  expect_u64(id, want->id, "the device id");

  uint8_t status = 0xff;
  expect_ok(vdpa_get_status(fd, &status), "VHOST_VDPA_GET_STATUS");
  expect_u64(status, 0, "the status after open");
  expect_ok(vdpa_set_status(fd, VIRTIO_CONFIG_S_ACKNOWLEDGE), "VHOST_VDPA_SET_STATUS(ACKNOWLEDGE)");
  expect_ok(vdpa_get_status(fd, &status), "VHOST_VDPA_GET_STATUS again");
  expect_u64(status, VIRTIO_CONFIG_S_ACKNOWLEDGE, "the status read back");

  uint8_t cfg[8];
  expect_ok(vdpa_get_config(fd, 0, cfg, sizeof cfg), "VHOST_VDPA_GET_CONFIG of 8 bytes at 0");
  expect_ok(vdpa_set_config(fd, 0, cfg, sizeof cfg), "VHOST_VDPA_SET_CONFIG of the same 8 bytes");

  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  /* vhost-vdpa answers both with -ENOIOCTLCMD: no dirty log. */
  uint64_t log_base = 0x4000;
  expect_err(vdpa_ioctl(fd, VHOST_SET_LOG_BASE, &log_base), -ENOTTY, "VHOST_SET_LOG_BASE");
  expect_err(vdpa_ioctl(fd, VHOST_SET_LOG_FD, &efd), -ENOTTY, "VHOST_SET_LOG_FD");

  uint16_t max = 0;
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_VRING_NUM, &max), "VHOST_VDPA_GET_VRING_NUM");
  check(max >= 32, "the largest ring (%u) takes 32 entries", max);
  struct vhost_vring_state too_big = {.index = 0, .num = (unsigned)max + 1};
  expect_err(vdpa_ioctl(fd, VHOST_SET_VRING_NUM, &too_big), -EINVAL, "VHOST_SET_VRING_NUM of the largest + 1");
  expect_ok(vdpa_ioctl(fd, VHOST_SET_VRING_NUM, &s32), "VHOST_SET_VRING_NUM 32");

  struct vhost_vring_addr addr = {.index = 0, .desc_user_addr = 0x1000, .used_user_addr = 0x2000, .avail_user_addr = 0x3000};
  expect_ok(vdpa_ioctl(fd, VHOST_SET_VRING_ADDR, &addr), "VHOST_SET_VRING_ADDR desc 0x1000 used 0x2000 avail 0x3000");
  struct vhost_vring_state base1 = {.index = 0, .num = 1};
  expect_ok(vdpa_ioctl(fd, VHOST_SET_VRING_BASE, &base1), "VHOST_SET_VRING_BASE 1");
  struct vhost_vring_file f = {.index = 0, .fd = efd};
  expect_ok(vdpa_ioctl(fd, VHOST_SET_VRING_CALL, &f), "VHOST_SET_VRING_CALL");
  expect_ok(vdpa_ioctl(fd, VHOST_SET_VRING_KICK, &f), "VHOST_SET_VRING_KICK");
  expect_ok(vdpa_ioctl(fd, VHOST_SET_VRING_ERR, &f), "VHOST_SET_VRING_ERR");
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_SET_CONFIG_CALL, &efd), "VHOST_VDPA_SET_CONFIG_CALL");

  struct vhost_vdpa_iova_range range = {1, 1};
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_IOVA_RANGE, &range), "VHOST_VDPA_GET_IOVA_RANGE");
  expect_u64(range.first, 0, "iova range first");
  expect_u64(range.last, UINT64_MAX, "iova range last");

  uint32_t v = 0;
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_CONFIG_SIZE, &v), "VHOST_VDPA_GET_CONFIG_SIZE");
  expect_u64(v, want->config_size, "the config size");
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_VQS_COUNT, &v), "VHOST_VDPA_GET_VQS_COUNT");
  expect_u64(v, want->vqs, "the number of virtqueues");
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_GROUP_NUM, &v), "VHOST_VDPA_GET_GROUP_NUM");
  expect_u64(v, want->groups, "the number of virtqueue groups");
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_AS_NUM, &v), "VHOST_VDPA_GET_AS_NUM");
  expect_u64(v, want->address_spaces, "the number of address spaces");
  struct vhost_vring_state group = {.index = 0, .num = 0xffff};
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_GET_VRING_GROUP, &group), "VHOST_VDPA_GET_VRING_GROUP of vq 0");
  expect_u64(group.num, want->group_of_vq0, "the group of vq 0");
  /*
   * rust-vmm's set_group_asid(0, 12345) really issues GET_VRING_GROUP (its
   * request number is wrong), so it passes; the real SET_GROUP_ASID refuses
   * an address space the device does not have.
   */
  struct vhost_vring_state asid = {.index = 0, .num = 12345};
  expect_err(vdpa_ioctl(fd, VHOST_VDPA_SET_GROUP_ASID, &asid), -EINVAL, "VHOST_VDPA_SET_GROUP_ASID of asid 12345");

  uint64_t backend = 0;
  expect_ok(vdpa_ioctl(fd, VHOST_GET_BACKEND_FEATURES, &backend), "VHOST_GET_BACKEND_FEATURES");
  if (backend & (1ULL << VHOST_BACKEND_F_SUSPEND))
    expect_ok(vdpa_ioctl(fd, VHOST_VDPA_SUSPEND, NULL), "VHOST_VDPA_SUSPEND (offered; before DRIVER_OK a no-op)");

  struct vhost_vring_state b = {.index = 0, .num = 0xffff};
  expect_ok(vdpa_ioctl(fd, VHOST_GET_VRING_BASE, &b), "VHOST_GET_VRING_BASE");
  expect_u64(b.num, 1, "the vring base read back");
  struct vhost_vring_state past = {.index = want->vqs, .num = 0};
  expect_err(vdpa_ioctl(fd, VHOST_GET_VRING_BASE, &past), -ENOBUFS, "VHOST_GET_VRING_BASE of a queue past the last");

  struct vhost_vring_state on = {.index = 0, .num = 1}, off = {.index = 0, .num = 0};
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_SET_VRING_ENABLE, &on), "VHOST_VDPA_SET_VRING_ENABLE on");
  expect_ok(vdpa_ioctl(fd, VHOST_VDPA_SET_VRING_ENABLE, &off), "VHOST_VDPA_SET_VRING_ENABLE off");

  close(fd);
  close(efd);
  munmap(mem, 0x100000);
  /* vhost_vdpa_release() reset the device: the next opener finds status 0. */
  fd = open_or_die(path);
  status = 0xff;
  expect_ok(vdpa_get_status(fd, &status), "VHOST_VDPA_GET_STATUS after reopening");
  expect_u64(status, 0, "the status after the previous owner closed");
  close(fd);
  return finish();
}

/* ---------------- dma: rust-vmm's test_vdpa_kern_dma ---------------- */

static int cmd_dma(const char *path) {
  int fd = open_or_die(path);
  uint64_t features = 0, backend = 0;
  expect_ok(vdpa_ioctl(fd, VHOST_GET_FEATURES, &features), "VHOST_GET_FEATURES");
  check(features & (1ULL << VIRTIO_F_VERSION_1), "features include VIRTIO_F_VERSION_1");
  expect_ok(vdpa_ioctl(fd, VHOST_SET_FEATURES, &features), "VHOST_SET_FEATURES");
  expect_ok(vdpa_ioctl(fd, VHOST_GET_BACKEND_FEATURES, &backend), "VHOST_GET_BACKEND_FEATURES");
  check(backend & (1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2), "backend features 0x%llx include IOTLB_MSG_V2",
        (unsigned long long)backend);
  expect_ok(vdpa_ioctl(fd, VHOST_SET_BACKEND_FEATURES, &backend), "VHOST_SET_BACKEND_FEATURES with every offered one");

  uint8_t *buf = malloc(0xFFFF);
  /* vhost_chr_write_iter() turns every failure of the message handler into EFAULT. */
  expect_err(iotlb_update(fd, 0xFFFF0000, 0xFFFF, buf, VHOST_ACCESS_RW), -EFAULT, "an IOTLB update before VHOST_SET_OWNER");
  expect_ok(vdpa_ioctl(fd, VHOST_SET_OWNER, NULL), "VHOST_SET_OWNER");
  expect_err(iotlb_update(fd, 0xFFFF0000, 0xFFFF, NULL, VHOST_ACCESS_RW), -EFAULT, "an IOTLB update of a NULL uaddr");
  expect_ok(iotlb_update(fd, 0xFFFF0000, 0xFFFF, buf, VHOST_ACCESS_RW), "an IOTLB update at 0xFFFF0000 of 0xFFFF bytes");
  expect_err(iotlb_update(fd, 0xFFFF0000, 0x1000, buf, VHOST_ACCESS_RW), -EFAULT, "an IOTLB update overlapping a mapping");
  expect_ok(iotlb_invalidate(fd, 0xFFFF0000, 0xFFFF), "an IOTLB invalidate of it");
  expect_ok(iotlb_update(fd, 0xFFFF0000, 0x1000, buf, VHOST_ACCESS_RO), "the range maps again once invalidated");
  /* Refused before the handler. (An INVALIDATE of size 0 is let through since Linux 6.6.) */
  expect_err(iotlb_update(fd, 0x10000000, 0, buf, VHOST_ACCESS_RW), -EINVAL, "an IOTLB update of size 0");
  close(fd);
  free(buf);
  return finish();
}

/* ---------------- net: frames through this process's memory ---------------- */

#define RXQ 0
#define TXQ 1
#define CVQ 2
#define RING 256
#define BUF 2048
#define RX_POSTED 16
#define HDR sizeof(struct virtio_net_hdr_v1) /* 12: VERSION_1 always has num_buffers */
#define WAIT_MS 5000

struct net {
  int fd;
  struct dma_region mem;
  struct vq vq[3];
  uint8_t *rx[RING]; /* rx buffer per descriptor head */
  uint8_t *tx;
  uint8_t mac[6];
};

static void post_rx(struct net *n, uint8_t *buf) {
  struct vq_buf b = {dma_iova(&n->mem, buf), BUF, true};
  int head = vq_add(&n->vq[RXQ], &b, 1);
  if (head >= 0) n->rx[head] = buf;
}

static void make_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], size_t len, unsigned seed) {
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (size_t i = 14; i < len; i++) f[i] = (uint8_t)(seed * 7 + i);
}

/* Send one frame; true if the tx queue gave it back (used, len 0 as vdpa_sim completes tx). */
static bool send_frame(struct net *n, const uint8_t *frame, size_t len, const char *what) {
  memset(n->tx, 0, HDR);
  memcpy(n->tx + HDR, frame, len);
  struct vq_buf b = {dma_iova(&n->mem, n->tx), (uint32_t)(HDR + len), false};
  int head = vq_add(&n->vq[TXQ], &b, 1);
  vq_kick(&n->vq[TXQ]);
  int w = vq_wait_call(&n->vq[TXQ], WAIT_MS);
  uint32_t id = 0, used_len = 0xffffffff;
  bool used = vq_get_used(&n->vq[TXQ], &id, &used_len);
  check(w == 1 && used && id == (uint32_t)head && used_len == 0,
        "%s: the tx call fired and tx used the chain (head %d, id %u, len %u)", what, head, id, used_len);
  return used;
}

/* The next looped-back frame, if any arrived: copies it (header included) and reposts the buffer. */
static bool recv_frame(struct net *n, uint8_t *out, uint32_t *len) {
  uint32_t id;
  if (!vq_get_used(&n->vq[RXQ], &id, len)) return false;
  memcpy(out, n->rx[id], *len < BUF ? *len : BUF);
  post_rx(n, n->rx[id]);
  return true;
}

static void expect_loopback(struct net *n, const uint8_t *frame, size_t len, const char *what) {
  int w = vq_wait_call(&n->vq[RXQ], WAIT_MS);
  uint8_t got[BUF];
  uint32_t got_len = 0;
  bool ok = recv_frame(n, got, &got_len);
  static const uint8_t zero_hdr[HDR];
  check(w == 1 && ok && got_len == HDR + len && !memcmp(got, zero_hdr, HDR) && !memcmp(got + HDR, frame, len),
        "%s: looped back byte for byte on rx (call %d, used %d, len %u)", what, w, ok, got_len);
}

static int cmd_net(const char *path) {
  struct net n = {0};
  n.fd = open_or_die(path);
  if (expect_ok(dma_region_create(&n.mem, 4 << 20, 0x40000000), "4 MiB of anonymous memory for rings and buffers"))
    return finish();
  for (unsigned i = 0; i < 3; i++)
    if (expect_ok(vq_init(&n.vq[i], i, RING, &n.mem), "rings and eventfds of a queue")) return finish();
  n.tx = dma_alloc(&n.mem, BUF, 64, NULL);
  uint64_t want = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_MTU) | (1ULL << VIRTIO_NET_F_STATUS) |
                  (1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR);
  uint64_t negotiated = 0;
  if (expect_ok(vdpa_driver_start(n.fd, want, &negotiated, &n.mem, n.vq, 3),
                "driver start: owner, features, backend features, IOTLB map, 3 rings, DRIVER_OK"))
    return finish();
  check((negotiated & want) == want, "negotiated 0x%llx has MAC, MTU, STATUS, CTRL_VQ, CTRL_MAC_ADDR",
        (unsigned long long)negotiated);
  uint8_t status = 0;
  vdpa_get_status(n.fd, &status);
  expect_u64(status, 0xf, "the status after DRIVER_OK");
  expect_ok(vdpa_get_config(n.fd, 0, n.mac, 6), "VHOST_VDPA_GET_CONFIG of the MAC");
  printf("# device mac %02x:%02x:%02x:%02x:%02x:%02x\n", n.mac[0], n.mac[1], n.mac[2], n.mac[3], n.mac[4], n.mac[5]);

  for (int i = 0; i < RX_POSTED; i++) post_rx(&n, dma_alloc(&n.mem, BUF, 64, NULL));
  vq_kick(&n.vq[RXQ]);

  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  /*
   * A unicast MAC that is not the device's (which may be anything: a MAC set
   * here stays in the config space across resets, as vdpa_sim keeps it).
   */
  uint8_t other[6];
  memcpy(other, n.mac, 6);
  other[0] = 0x02;
  other[5] ^= 0x5a;
  char other_s[18];
  snprintf(other_s, sizeof other_s, "%02x:%02x:%02x:%02x:%02x:%02x", other[0], other[1], other[2], other[3], other[4], other[5]);
  const uint8_t src[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  uint8_t frame[64];

  make_frame(frame, bcast, src, sizeof frame, 1);
  send_frame(&n, frame, sizeof frame, "a 64-byte broadcast frame");
  expect_loopback(&n, frame, sizeof frame, "the broadcast frame");

  make_frame(frame, other, src, sizeof frame, 2);
  send_frame(&n, frame, sizeof frame, "a frame to another unicast MAC");
  uint8_t got[BUF];
  uint32_t got_len;
  /* vdpa_sim completes tx before rx: give a late rx completion a moment to show. */
  int late = vq_wait_call(&n.vq[RXQ], 200);
  check(late == 0 && !recv_frame(&n, got, &got_len), "the receive filter dropped the frame to %s: nothing on rx", other_s);

  /* VIRTIO_NET_CTRL_MAC_ADDR_SET: class, command, the MAC; the device writes one ack byte. */
  uint8_t *ctrl = dma_alloc(&n.mem, 16, 16, NULL);
  struct virtio_net_ctrl_hdr *h = (struct virtio_net_ctrl_hdr *)ctrl;
  h->class = VIRTIO_NET_CTRL_MAC;
  h->cmd = VIRTIO_NET_CTRL_MAC_ADDR_SET;
  memcpy(ctrl + 2, other, 6);
  ctrl[8] = 0xff;
  struct vq_buf cb[3] = {
      {dma_iova(&n.mem, ctrl), 2, false}, {dma_iova(&n.mem, ctrl + 2), 6, false}, {dma_iova(&n.mem, ctrl + 8), 1, true}};
  int head = vq_add(&n.vq[CVQ], cb, 3);
  vq_kick(&n.vq[CVQ]);
  int w = vq_wait_call(&n.vq[CVQ], WAIT_MS);
  uint32_t id = 0, len = 0;
  bool used = vq_get_used(&n.vq[CVQ], &id, &len);
  check(w == 1 && used && id == (uint32_t)head && len == 1 && ctrl[8] == VIRTIO_NET_OK,
        "MAC_ADDR_SET on the control queue is acked VIRTIO_NET_OK (call %d, len %u, ack %d)", w, len, ctrl[8]);
  uint8_t mac[6] = {0};
  vdpa_get_config(n.fd, 0, mac, 6);
  check(!memcmp(mac, other, 6), "the config space has the new MAC %s", other_s);

  make_frame(frame, other, src, sizeof frame, 3);
  send_frame(&n, frame, sizeof frame, "a frame to the new MAC");
  expect_loopback(&n, frame, sizeof frame, "the frame to the new MAC");

  if (getenv("VDPA_CLIENT_PAUSE")) {
    printf("# paused\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) { /* stdin closed: carry on */
    }
  }

  expect_ok(vdpa_set_status(n.fd, 0), "VHOST_VDPA_SET_STATUS(0) resets the device");
  status = 0xff;
  vdpa_get_status(n.fd, &status);
  expect_u64(status, 0, "the status after the reset");
  close(n.fd);
  for (unsigned i = 0; i < 3; i++) vq_fini(&n.vq[i]);
  dma_region_destroy(&n.mem);
  return finish();
}

/* ---------------- blk: virtio-blk requests through this process's memory ---------------- */

#define SECTOR 512
#define SEG 4096                /* vdpa_sim_blk's size_max */
#define SEGS 32                 /* and seg_max */
#define CHUNK (SEG * SEGS)      /* the largest request: 128 KiB */

struct blk {
  int fd;
  struct dma_region mem;
  struct vq vq;
  struct virtio_blk_outhdr *hdr;
  uint8_t *data;
  uint8_t *status;
  uint64_t capacity; /* sectors */
};

static int blk_start(struct blk *b, const char *path) {
  b->fd = open_or_die(path);
  if (expect_ok(dma_region_create(&b->mem, 1 << 20, 0x80000000), "1 MiB of anonymous memory for the ring and data"))
    return -1;
  if (expect_ok(vq_init(&b->vq, 0, RING, &b->mem), "the ring and its eventfds")) return -1;
  b->hdr = dma_alloc(&b->mem, sizeof *b->hdr, 16, NULL);
  b->status = dma_alloc(&b->mem, 1, 16, NULL);
  b->data = dma_alloc(&b->mem, CHUNK, 4096, NULL);
  uint64_t want = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE);
  if (expect_ok(vdpa_driver_start(b->fd, want, NULL, &b->mem, &b->vq, 1), "driver start: owner, features, IOTLB map, the ring, DRIVER_OK"))
    return -1;
  if (expect_ok(vdpa_get_config(b->fd, 0, &b->capacity, 8), "VHOST_VDPA_GET_CONFIG of the capacity")) return -1;
  printf("# capacity %llu sectors\n", (unsigned long long)b->capacity);
  return 0;
}

/* One request of `len` bytes at `sector`: header, data in 4 KiB segments, status. The status byte, or -1. */
static int blk_request(struct blk *b, uint32_t type, uint64_t sector, uint32_t len) {
  struct vq_buf bufs[SEGS + 2];
  unsigned n = 0;
  b->hdr->type = type;
  b->hdr->ioprio = 0;
  b->hdr->sector = sector;
  *b->status = 0xff;
  bufs[n++] = (struct vq_buf){dma_iova(&b->mem, b->hdr), sizeof *b->hdr, false};
  for (uint32_t off = 0; off < len; off += SEG)
    bufs[n++] = (struct vq_buf){dma_iova(&b->mem, b->data + off), len - off < SEG ? len - off : SEG, type == VIRTIO_BLK_T_IN};
  bufs[n++] = (struct vq_buf){dma_iova(&b->mem, b->status), 1, true};
  int head = vq_add(&b->vq, bufs, n);
  vq_kick(&b->vq);
  if (vq_wait_call(&b->vq, WAIT_MS) != 1) return -1;
  uint32_t id, used_len;
  if (!vq_get_used(&b->vq, &id, &used_len) || id != (uint32_t)head) return -1;
  return *b->status;
}

static void blk_stop(struct blk *b) {
  expect_ok(vdpa_set_status(b->fd, 0), "VHOST_VDPA_SET_STATUS(0) resets the device");
  close(b->fd);
  vq_fini(&b->vq);
  dma_region_destroy(&b->mem);
}

static int cmd_blk_write(const char *path, uint64_t sector, const char *file) {
  int in = open(file, O_RDONLY);
  struct stat st;
  if (in < 0 || fstat(in, &st) < 0 || st.st_size % SECTOR) {
    fprintf(stderr, "vdpa_client blk-write: %s: cannot read it, or its size is not a multiple of 512\n", file);
    return 2;
  }
  struct blk b = {0};
  if (blk_start(&b, path) < 0) return finish();
  uint64_t done = 0, requests = 0;
  int st_byte = 0;
  while (done < (uint64_t)st.st_size) {
    uint32_t len = st.st_size - done < CHUNK ? (uint32_t)(st.st_size - done) : CHUNK;
    if (pread(in, b.data, len, (off_t)done) != (ssize_t)len) break;
    st_byte = blk_request(&b, VIRTIO_BLK_T_OUT, sector + done / SECTOR, len);
    if (st_byte != VIRTIO_BLK_S_OK) break;
    done += len;
    requests++;
  }
  check(done == (uint64_t)st.st_size, "%llu bytes written at sector %llu in %llu OUT requests (last status %d)",
        (unsigned long long)done, (unsigned long long)sector, (unsigned long long)requests, st_byte);
  blk_stop(&b);
  close(in);
  return finish();
}

static int cmd_blk_read(const char *path, uint64_t sector, uint64_t bytes, const char *file) {
  int out = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0 || bytes % SECTOR) {
    fprintf(stderr, "vdpa_client blk-read: cannot write %s, or the size is not a multiple of 512\n", file);
    return 2;
  }
  struct blk b = {0};
  if (blk_start(&b, path) < 0) return finish();
  uint64_t done = 0, requests = 0;
  int st_byte = 0;
  while (done < bytes) {
    uint32_t len = bytes - done < CHUNK ? (uint32_t)(bytes - done) : CHUNK;
    st_byte = blk_request(&b, VIRTIO_BLK_T_IN, sector + done / SECTOR, len);
    if (st_byte != VIRTIO_BLK_S_OK || pwrite(out, b.data, len, (off_t)done) != (ssize_t)len) break;
    done += len;
    requests++;
  }
  check(done == bytes, "%llu bytes read at sector %llu in %llu IN requests (last status %d)", (unsigned long long)done,
        (unsigned long long)sector, (unsigned long long)requests, st_byte);
  blk_stop(&b);
  close(out);
  return finish();
}

static int usage(void) {
  fprintf(stderr,
          "usage: vdpa_client ioctls DEV net|blk\n"
          "       vdpa_client dma DEV\n"
          "       vdpa_client net DEV\n"
          "       vdpa_client blk-write DEV SECTOR FILE\n"
          "       vdpa_client blk-read DEV SECTOR BYTES FILE\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--help")) {
    usage();
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "ioctls")) return cmd_ioctls(argv[2], argv[3]);
  if (argc == 3 && !strcmp(argv[1], "dma")) return cmd_dma(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "net")) return cmd_net(argv[2]);
  if (argc == 5 && !strcmp(argv[1], "blk-write")) return cmd_blk_write(argv[2], strtoull(argv[3], NULL, 0), argv[4]);
  if (argc == 6 && !strcmp(argv[1], "blk-read"))
    return cmd_blk_read(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0), argv[5]);
  return usage();
}
