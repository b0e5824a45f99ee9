/*
 * A minimal vhost-vdpa driver in userspace, as a VMM is one: the ioctls of
 * <linux/vhost.h>, IOTLB messages written to the device file, split
 * virtqueues laid out in this process's own memory, and eventfds for kicks
 * and calls. Shared by vdpa_client.c (the end-to-end checks) and
 * vdpa_bench.c (the benchmarks); built with gcc at test or bench time.
 *
 * Nothing here knows vdpafs: it drives whatever /dev/vhost-vdpa-N it is
 * given, a kernel's or the mount's.
 */
#ifndef VDPA_USER_H
#define VDPA_USER_H

#include <linux/vhost.h>
#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Newer than Debian 12's linux-libc-dev (6.1): include/uapi/linux/vhost.h of 6.18. */
#ifndef VHOST_VDPA_RESUME
#define VHOST_VDPA_RESUME _IO(VHOST_VIRTIO, 0x7E)
#endif
#ifndef VHOST_BACKEND_F_RESUME
#define VHOST_BACKEND_F_RESUME 0x5
#endif

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2

/* The IOTLB message a VMM writes: struct vhost_msg_v2 is 72 bytes on every arch. */
_Static_assert(sizeof(struct vhost_msg_v2) == 72, "struct vhost_msg_v2 is 72 bytes");

/* ioctl(2) that returns 0 or -errno, so callers can compare with the kernel's errno. */
int vdpa_ioctl(int fd, unsigned long request, void *arg);

/* open(2) as rust-vmm and cloud-hypervisor do: O_RDWR | O_CLOEXEC | O_NONBLOCK. -errno on failure. */
int vdpa_open(const char *path);

/* Device status: GET, then SET to `status`, -errno on failure. */
int vdpa_get_status(int fd, uint8_t *status);
int vdpa_set_status(int fd, uint8_t status);
int vdpa_get_config(int fd, uint32_t off, void *buf, uint32_t len);
int vdpa_set_config(int fd, uint32_t off, const void *buf, uint32_t len);

/* IOTLB messages (type VHOST_IOTLB_MSG_V2, asid 0) written to the device file. */
int iotlb_update(int fd, uint64_t iova, uint64_t size, const void *uaddr, uint8_t perm);
int iotlb_invalidate(int fd, uint64_t iova, uint64_t size);
int iotlb_batch(int fd, bool begin);

/*
 * The driver's memory: one anonymous mapping, mapped in the device's IOTLB
 * at `iova` (chosen unlike the user address, so a device that used one for
 * the other would fault). Allocation is a bump pointer.
 */
struct dma_region {
  uint8_t *base;
  uint64_t iova;
  size_t size;
  size_t used;
};
int dma_region_create(struct dma_region *r, size_t size, uint64_t iova);
void dma_region_destroy(struct dma_region *r);
/* Zeroed memory of `size`, aligned to `align`; its IOVA in *iova. NULL when full. */
void *dma_alloc(struct dma_region *r, size_t size, size_t align, uint64_t *iova);
uint64_t dma_iova(const struct dma_region *r, const void *p);

/*
 * A split virtqueue, driver side (the layout of the virtio spec, 2.7): the
 * descriptor table, the available ring we fill, the used ring the device
 * fills, a kick eventfd we write and a call eventfd the device signals.
 * Descriptors are handed out from a free list threaded through desc.next.
 */
struct vq {
  unsigned index;
  unsigned num;
  struct vring_desc *desc;
  struct vring_avail *avail;
  struct vring_used *used;
  uint64_t desc_iova, avail_iova, used_iova;
  uint16_t avail_idx; /* next avail->idx to publish */
  uint16_t last_used; /* used->idx consumed so far */
  uint16_t free_head;
  unsigned num_free;
  int kick; /* eventfd: we signal it to notify the device */
  int call; /* eventfd: the device signals it when it used buffers */
};

/* Lay the rings out in `r`, make the eventfds; nothing is told to the device yet. */
int vq_init(struct vq *vq, unsigned index, unsigned num, struct dma_region *r);
void vq_fini(struct vq *vq);
/* VHOST_SET_VRING_NUM, _BASE (0), _ADDR, _KICK, _CALL: what QEMU sends per queue. */
int vq_setup_device(int fd, struct vq *vq);

/* One buffer of a chain: its IOVA, length, and whether the device writes it. */
struct vq_buf {
  uint64_t iova;
  uint32_t len;
  bool device_writes;
};
/* Chain `n` buffers and publish the chain in the available ring. The head's id, or -ENOSPC. */
int vq_add(struct vq *vq, const struct vq_buf *bufs, unsigned n);
/* Tell the device (write 1 to the kick eventfd). */
int vq_kick(struct vq *vq);
/* Take one used element, if the device published one: its id and length; frees its chain. */
bool vq_get_used(struct vq *vq, uint32_t *id, uint32_t *len);
/* Wait up to timeout_ms for the call eventfd, then drain it. 1 signalled, 0 timeout, -errno. */
int vq_wait_call(struct vq *vq, int timeout_ms);

/*
 * Bring a device to DRIVER_OK the way a VMM does: SET_OWNER, ACKNOWLEDGE |
 * DRIVER, features (device & wanted; ACCESS_PLATFORM and VERSION_1 are
 * required), FEATURES_OK (re-read), backend features MSG_V2 | BATCH, the
 * IOTLB map of `r`, every queue's setup and enable, DRIVER_OK. -errno and a
 * message on stderr when a step fails.
 */
int vdpa_driver_start(int fd, uint64_t wanted_features, uint64_t *negotiated, struct dma_region *r, struct vq *vqs,
                      unsigned nvqs);

/* Microseconds of CLOCK_MONOTONIC. */
double now_us(void);

#endif
