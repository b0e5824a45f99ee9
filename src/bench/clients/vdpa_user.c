/* vdpa_user.c: see vdpa_user.h. */
#define _GNU_SOURCE
#include "vdpa_user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int vdpa_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg) < 0 ? -errno : 0; }

int vdpa_open(const char *path) {
  int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

int vdpa_get_status(int fd, uint8_t *status) { return vdpa_ioctl(fd, VHOST_VDPA_GET_STATUS, status); }
int vdpa_set_status(int fd, uint8_t status) { return vdpa_ioctl(fd, VHOST_VDPA_SET_STATUS, &status); }

/* struct vhost_vdpa_config is {off, len, buf[]}: the buffer travels after the header. */
int vdpa_get_config(int fd, uint32_t off, void *buf, uint32_t len) {
  struct vhost_vdpa_config *c = calloc(1, sizeof *c + len);
  if (!c) return -ENOMEM;
  c->off = off;
  c->len = len;
  int r = vdpa_ioctl(fd, VHOST_VDPA_GET_CONFIG, c);
  if (r == 0) memcpy(buf, c->buf, len);
  free(c);
  return r;
}

int vdpa_set_config(int fd, uint32_t off, const void *buf, uint32_t len) {
  struct vhost_vdpa_config *c = calloc(1, sizeof *c + len);
  if (!c) return -ENOMEM;
  c->off = off;
  c->len = len;
  memcpy(c->buf, buf, len);
  int r = vdpa_ioctl(fd, VHOST_VDPA_SET_CONFIG, c);
  free(c);
  return r;
}

static int iotlb_write(int fd, uint8_t type, uint64_t iova, uint64_t size, uint64_t uaddr, uint8_t perm) {
  struct vhost_msg_v2 msg;
  memset(&msg, 0, sizeof msg);
  msg.type = VHOST_IOTLB_MSG_V2;
  msg.asid = 0;
  msg.iotlb.iova = iova;
  msg.iotlb.size = size;
  msg.iotlb.uaddr = uaddr;
  msg.iotlb.perm = perm;
  msg.iotlb.type = type;
  ssize_t n = write(fd, &msg, sizeof msg);
  if (n < 0) return -errno;
  return n == (ssize_t)sizeof msg ? 0 : -EIO;
}

int iotlb_update(int fd, uint64_t iova, uint64_t size, const void *uaddr, uint8_t perm) {
  return iotlb_write(fd, VHOST_IOTLB_UPDATE, iova, size, (uint64_t)(uintptr_t)uaddr, perm);
}
int iotlb_invalidate(int fd, uint64_t iova, uint64_t size) { return iotlb_write(fd, VHOST_IOTLB_INVALIDATE, iova, size, 0, 0); }
int iotlb_batch(int fd, bool begin) {
  return iotlb_write(fd, begin ? VHOST_IOTLB_BATCH_BEGIN : VHOST_IOTLB_BATCH_END, 0, 0, 0, 0);
}

int dma_region_create(struct dma_region *r, size_t size, uint64_t iova) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -errno;
  r->base = p;
  r->iova = iova;
  r->size = size;
  r->used = 0;
  return 0;
}

void dma_region_destroy(struct dma_region *r) {
  if (r->base) munmap(r->base, r->size);
  r->base = NULL;
}

void *dma_alloc(struct dma_region *r, size_t size, size_t align, uint64_t *iova) {
  size_t off = (r->used + align - 1) & ~(align - 1);
  if (off + size > r->size) return NULL;
  r->used = off + size;
  memset(r->base + off, 0, size);
  if (iova) *iova = r->iova + off;
  return r->base + off;
}

uint64_t dma_iova(const struct dma_region *r, const void *p) { return r->iova + (uint64_t)((const uint8_t *)p - r->base); }

int vq_init(struct vq *vq, unsigned index, unsigned num, struct dma_region *r) {
  memset(vq, 0, sizeof *vq);
  vq->kick = vq->call = -1;
  vq->index = index;
  vq->num = num;
  /* Alignments of the split ring: desc 16, avail 2, used 4 (a page each here). */
  vq->desc = dma_alloc(r, sizeof(struct vring_desc) * num, 4096, &vq->desc_iova);
  vq->avail = dma_alloc(r, sizeof(struct vring_avail) + sizeof(uint16_t) * (num + 1), 4096, &vq->avail_iova);
  vq->used = dma_alloc(r, sizeof(struct vring_used) + sizeof(struct vring_used_elem) * num + sizeof(uint16_t), 4096,
                       &vq->used_iova);
  if (!vq->desc || !vq->avail || !vq->used) return -ENOMEM;
  for (unsigned i = 0; i < num; i++) vq->desc[i].next = (uint16_t)(i + 1);
  vq->free_head = 0;
  vq->num_free = num;
  /* Non-blocking, as QEMU's are: a device that reads them must not block. */
  vq->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  vq->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (vq->kick < 0 || vq->call < 0) return -errno;
  return 0;
}

void vq_fini(struct vq *vq) {
  if (vq->kick >= 0) close(vq->kick);
  if (vq->call >= 0) close(vq->call);
  vq->kick = vq->call = -1;
}

int vq_setup_device(int fd, struct vq *vq) {
  struct vhost_vring_state num = {.index = vq->index, .num = vq->num};
  struct vhost_vring_state base = {.index = vq->index, .num = 0};
  struct vhost_vring_addr addr = {
      .index = vq->index,
      .flags = 0,
      .desc_user_addr = vq->desc_iova,
      .used_user_addr = vq->used_iova,
      .avail_user_addr = vq->avail_iova,
      .log_guest_addr = 0,
  };
  struct vhost_vring_file kick = {.index = vq->index, .fd = vq->kick};
  struct vhost_vring_file call = {.index = vq->index, .fd = vq->call};
  int r;
  if ((r = vdpa_ioctl(fd, VHOST_SET_VRING_NUM, &num)) < 0) return r;
  if ((r = vdpa_ioctl(fd, VHOST_SET_VRING_BASE, &base)) < 0) return r;
  if ((r = vdpa_ioctl(fd, VHOST_SET_VRING_ADDR, &addr)) < 0) return r;
  if ((r = vdpa_ioctl(fd, VHOST_SET_VRING_KICK, &kick)) < 0) return r;
  if ((r = vdpa_ioctl(fd, VHOST_SET_VRING_CALL, &call)) < 0) return r;
  return 0;
}

int vq_add(struct vq *vq, const struct vq_buf *bufs, unsigned n) {
  if (n == 0 || n > vq->num_free) return -ENOSPC;
  uint16_t head = vq->free_head, i = head, last = head;
  for (unsigned k = 0; k < n; k++) {
    struct vring_desc *d = &vq->desc[i];
    d->addr = bufs[k].iova;
    d->len = bufs[k].len;
    d->flags = (uint16_t)((bufs[k].device_writes ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0));
    last = i;
    i = d->next;
  }
  vq->free_head = vq->desc[last].next;
  vq->num_free -= n;
  vq->avail->ring[vq->avail_idx % vq->num] = head;
  vq->avail_idx++;
  /* The device must see the ring entry before the index that publishes it. */
  __atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
  return head;
}

int vq_kick(struct vq *vq) {
  uint64_t one = 1;
  return write(vq->kick, &one, sizeof one) == sizeof one ? 0 : -errno;
}

bool vq_get_used(struct vq *vq, uint32_t *id, uint32_t *len) {
  uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
  if (idx == vq->last_used) return false;
  struct vring_used_elem *e = &vq->used->ring[vq->last_used % vq->num];
  *id = e->id;
  *len = e->len;
  vq->last_used++;
  /* Give the chain back to the free list. */
  uint16_t i = (uint16_t)*id, n = 1;
  while (vq->desc[i].flags & VRING_DESC_F_NEXT) {
    i = vq->desc[i].next;
    n++;
  }
  vq->desc[i].next = vq->free_head;
  vq->free_head = (uint16_t)*id;
  vq->num_free += n;
  return true;
}

int vq_wait_call(struct vq *vq, int timeout_ms) {
  struct pollfd p = {.fd = vq->call, .events = POLLIN};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  if (r == 0) return 0;
  uint64_t count;
  if (read(vq->call, &count, sizeof count) < 0 && errno != EAGAIN) return -errno;
  return 1;
}

static int step(const char *what, int r) {
  if (r < 0) fprintf(stderr, "vdpa_driver_start: %s: %s\n", what, strerror(-r));
  return r;
}

int vdpa_driver_start(int fd, uint64_t wanted_features, uint64_t *negotiated, struct dma_region *r, struct vq *vqs,
                      unsigned nvqs) {
  uint64_t features, backend;
  uint8_t status;
  int e;
  if (step("VHOST_SET_OWNER", e = vdpa_ioctl(fd, VHOST_SET_OWNER, NULL)) < 0) return e;
  if (step("VHOST_VDPA_SET_STATUS(ACKNOWLEDGE|DRIVER)",
           e = vdpa_set_status(fd, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)) < 0)
    return e;
  if (step("VHOST_GET_FEATURES", e = vdpa_ioctl(fd, VHOST_GET_FEATURES, &features)) < 0) return e;
  features &= wanted_features | (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_ACCESS_PLATFORM);
  if (step("VHOST_SET_FEATURES", e = vdpa_ioctl(fd, VHOST_SET_FEATURES, &features)) < 0) return e;
  if (step("VHOST_VDPA_SET_STATUS(FEATURES_OK)",
           e = vdpa_set_status(fd, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK)) < 0)
    return e;
  if (step("VHOST_VDPA_GET_STATUS", e = vdpa_get_status(fd, &status)) < 0) return e;
  if (!(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
    fprintf(stderr, "vdpa_driver_start: the device refused the features (status 0x%x)\n", status);
    return -EINVAL;
  }
  if (step("VHOST_GET_BACKEND_FEATURES", e = vdpa_ioctl(fd, VHOST_GET_BACKEND_FEATURES, &backend)) < 0) return e;
  backend &= (1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2) | (1ULL << VHOST_BACKEND_F_IOTLB_BATCH);
  if (step("VHOST_SET_BACKEND_FEATURES", e = vdpa_ioctl(fd, VHOST_SET_BACKEND_FEATURES, &backend)) < 0) return e;
  if (step("IOTLB BATCH_BEGIN", e = iotlb_batch(fd, true)) < 0) return e;
  if (step("IOTLB UPDATE", e = iotlb_update(fd, r->iova, r->size, r->base, VHOST_ACCESS_RW)) < 0) return e;
  if (step("IOTLB BATCH_END", e = iotlb_batch(fd, false)) < 0) return e;
  for (unsigned i = 0; i < nvqs; i++) {
    if (step("vring setup", e = vq_setup_device(fd, &vqs[i])) < 0) return e;
    struct vhost_vring_state on = {.index = vqs[i].index, .num = 1};
    if (step("VHOST_VDPA_SET_VRING_ENABLE", e = vdpa_ioctl(fd, VHOST_VDPA_SET_VRING_ENABLE, &on)) < 0) return e;
  }
  if (step("VHOST_VDPA_SET_STATUS(DRIVER_OK)",
           e = vdpa_set_status(fd, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
                                       VIRTIO_CONFIG_S_DRIVER_OK)) < 0)
    return e;
  if (negotiated) *negotiated = features;
  return 0;
}

double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}
