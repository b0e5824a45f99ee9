/*
 * include/uapi/linux/virtio_blk.h: feature bits, the config layout, request
 * types and status values shared by the driver (virtio_blk), the device
 * (vdpa_sim_blk) and the shell.
 *
 * Feature bits are bit numbers, as in the header; BIT() in virtio_config
 * turns one into a feature-word mask.
 */

/* Feature bits */
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_GEOMETRY = 4;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_TOPOLOGY = 10;
export const VIRTIO_BLK_F_CONFIG_WCE = 11;
export const VIRTIO_BLK_F_MQ = 12;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;
export const VIRTIO_BLK_F_SECURE_ERASE = 16;
export const VIRTIO_BLK_F_ZONED = 17;

/*
 * struct virtio_blk_config offsets. 6.12's has the secure-erase and zoned
 * fields too: 96 bytes in all.
 */
export const VIRTIO_BLK_CFG = {
  CAPACITY: 0,
  SIZE_MAX: 8,
  SEG_MAX: 12,
  BLK_SIZE: 20,
  PHYSICAL_BLOCK_EXP: 24,
  ALIGNMENT_OFFSET: 25,
  MIN_IO_SIZE: 26,
  OPT_IO_SIZE: 28,
  WCE: 32,
  NUM_QUEUES: 34,
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  SIZE: 96,
} as const;

/* Request types */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

/* Status byte the device writes last */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/* GET_ID answers with a 20-byte serial. */
export const VIRTIO_BLK_ID_BYTES = 20;
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 0x1;

/* struct virtio_blk_outhdr {le32 type; le32 ioprio; le64 sector} */
export const VIRTIO_BLK_OUTHDR = { TYPE: 0, IOPRIO: 4, SECTOR: 8, SIZE: 16 } as const;
/* struct virtio_blk_discard_write_zeroes */
export const VIRTIO_BLK_DWZ = { SECTOR: 0, NUM_SECTORS: 8, FLAGS: 12, SIZE: 16 } as const;
