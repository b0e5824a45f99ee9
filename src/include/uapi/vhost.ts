/*
 * include/uapi/linux/vhost.h and vhost_types.h: the vhost and vhost-vdpa
 * ioctls (x86-64 _IOC numbers: dir << 30 | size << 16 | 0xAF << 8 | nr),
 * their argument layouts, and the backend feature bits.
 */

export const VHOST_VIRTIO = 0xaf;

/* _IOC(dir, 0xAF, nr, size) */
const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;

/* include/uapi/asm-generic/ioctl.h: the fields of a command number. */
export const _IOC_DIR = (cmd: number): number => (cmd >>> 30) & 0x3;
export const _IOC_SIZE = (cmd: number): number => (cmd >>> 16) & 0x3fff;
export const _IOC_TYPE = (cmd: number): number => (cmd >>> 8) & 0xff;
function ioc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (VHOST_VIRTIO << 8) | nr) >>> 0;
}
const _IO = (nr: number): number => ioc(_IOC_NONE, nr, 0);
const _IOR = (nr: number, size: number): number => ioc(_IOC_READ, nr, size);
const _IOW = (nr: number, size: number): number => ioc(_IOC_WRITE, nr, size);
const _IOWR = (nr: number, size: number): number => ioc(_IOC_READ | _IOC_WRITE, nr, size);

/* Argument sizes. */
export const SIZEOF_U64 = 8;
export const SIZEOF_VHOST_VRING_STATE = 8; /* { unsigned int index; unsigned int num; } */
export const SIZEOF_VHOST_VRING_FILE = 8; /* { unsigned int index; int fd; } */
export const SIZEOF_VHOST_VRING_ADDR = 40;
export const SIZEOF_VHOST_MEMORY = 8; /* { u32 nregions; u32 padding; regions[] } */
export const SIZEOF_VHOST_MEMORY_REGION = 32;
export const SIZEOF_VHOST_VDPA_CONFIG = 8; /* { u32 off; u32 len; u8 buf[]; } */
export const SIZEOF_VHOST_VDPA_IOVA_RANGE = 16;

export const VHOST_GET_FEATURES = _IOR(0x00, SIZEOF_U64);
export const VHOST_SET_FEATURES = _IOW(0x00, SIZEOF_U64);
export const VHOST_SET_OWNER = _IO(0x01);
export const VHOST_RESET_OWNER = _IO(0x02);
export const VHOST_SET_MEM_TABLE = _IOW(0x03, SIZEOF_VHOST_MEMORY);
export const VHOST_SET_LOG_BASE = _IOW(0x04, 8);
export const VHOST_SET_LOG_FD = _IOW(0x07, 4);
export const VHOST_SET_VRING_NUM = _IOW(0x10, SIZEOF_VHOST_VRING_STATE);
export const VHOST_SET_VRING_ADDR = _IOW(0x11, SIZEOF_VHOST_VRING_ADDR);
export const VHOST_SET_VRING_BASE = _IOW(0x12, SIZEOF_VHOST_VRING_STATE);
export const VHOST_GET_VRING_BASE = _IOWR(0x12, SIZEOF_VHOST_VRING_STATE);
/* Both _IOW, the GET one included: an old mistake kept for ABI's sake (nothing is copied back by the encoding). */
export const VHOST_SET_VRING_ENDIAN = _IOW(0x13, SIZEOF_VHOST_VRING_STATE);
export const VHOST_GET_VRING_ENDIAN = _IOW(0x14, SIZEOF_VHOST_VRING_STATE);
export const VHOST_SET_VRING_KICK = _IOW(0x20, SIZEOF_VHOST_VRING_FILE);
export const VHOST_SET_VRING_CALL = _IOW(0x21, SIZEOF_VHOST_VRING_FILE);
export const VHOST_SET_VRING_ERR = _IOW(0x22, SIZEOF_VHOST_VRING_FILE);
/* Also both _IOW (the GET one writes its answer to argp itself). */
export const VHOST_SET_VRING_BUSYLOOP_TIMEOUT = _IOW(0x23, SIZEOF_VHOST_VRING_STATE);
export const VHOST_GET_VRING_BUSYLOOP_TIMEOUT = _IOW(0x24, SIZEOF_VHOST_VRING_STATE);
export const VHOST_SET_BACKEND_FEATURES = _IOW(0x25, SIZEOF_U64);
export const VHOST_GET_BACKEND_FEATURES = _IOR(0x26, SIZEOF_U64);

export const VHOST_VDPA_GET_DEVICE_ID = _IOR(0x70, 4);
export const VHOST_VDPA_GET_STATUS = _IOR(0x71, 1);
export const VHOST_VDPA_SET_STATUS = _IOW(0x72, 1);
export const VHOST_VDPA_GET_CONFIG = _IOR(0x73, SIZEOF_VHOST_VDPA_CONFIG);
export const VHOST_VDPA_SET_CONFIG = _IOW(0x74, SIZEOF_VHOST_VDPA_CONFIG);
export const VHOST_VDPA_SET_VRING_ENABLE = _IOW(0x75, SIZEOF_VHOST_VRING_STATE);
export const VHOST_VDPA_GET_VRING_NUM = _IOR(0x76, 2);
export const VHOST_VDPA_SET_CONFIG_CALL = _IOW(0x77, 4);
export const VHOST_VDPA_GET_IOVA_RANGE = _IOR(0x78, SIZEOF_VHOST_VDPA_IOVA_RANGE);
export const VHOST_VDPA_GET_CONFIG_SIZE = _IOR(0x79, 4);
export const VHOST_VDPA_GET_AS_NUM = _IOR(0x7a, 4);
export const VHOST_VDPA_GET_VRING_GROUP = _IOWR(0x7b, SIZEOF_VHOST_VRING_STATE);
export const VHOST_VDPA_SET_GROUP_ASID = _IOW(0x7c, SIZEOF_VHOST_VRING_STATE);
export const VHOST_VDPA_SUSPEND = _IO(0x7d);
export const VHOST_VDPA_RESUME = _IO(0x7e);
export const VHOST_VDPA_GET_VRING_DESC_GROUP = _IOWR(0x7f, SIZEOF_VHOST_VRING_STATE);
export const VHOST_VDPA_GET_VQS_COUNT = _IOR(0x80, 4);
export const VHOST_VDPA_GET_GROUP_NUM = _IOR(0x81, 4);
export const VHOST_VDPA_GET_VRING_SIZE = _IOWR(0x82, SIZEOF_VHOST_VRING_STATE);

/* struct vhost_vring_addr */
export const VHOST_VRING_ADDR = { INDEX: 0, FLAGS: 4, DESC: 8, USED: 16, AVAIL: 24, LOG: 32 } as const;
/* vhost_vring_addr.flags: log used ring writes */
export const VHOST_VRING_F_LOG = 0;
/* struct vhost_memory_region */
export const VHOST_MEMORY_REGION = { GUEST_PHYS_ADDR: 0, MEMORY_SIZE: 8, USERSPACE_ADDR: 16, FLAGS_PADDING: 24 } as const;
/* fd -1 in a vhost_vring_file: unbind. */
export const VHOST_FILE_UNBIND = -1;
/* vhost.c: max_mem_regions module parameter default */
export const VHOST_MAX_MEM_REGIONS = 64;

/* Backend feature bits (bit numbers). */
export const VHOST_BACKEND_F_IOTLB_MSG_V2 = 0x1;
export const VHOST_BACKEND_F_IOTLB_BATCH = 0x2;
export const VHOST_BACKEND_F_IOTLB_ASID = 0x3;
export const VHOST_BACKEND_F_SUSPEND = 0x4;
export const VHOST_BACKEND_F_RESUME = 0x5;
export const VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK = 0x6;
export const VHOST_BACKEND_F_DESC_ASID = 0x7;
export const VHOST_BACKEND_F_IOTLB_PERSIST = 0x8;

export const VHOST_BACKEND_BIT = (n: number): bigint => 1n << BigInt(n);
