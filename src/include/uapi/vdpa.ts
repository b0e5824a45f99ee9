/*
 * include/uapi/linux/vdpa.h: the "vdpa" generic netlink family.
 *
 * The control socket carries these messages the way netlink does: a command
 * and an ordered list of attributes (repeats allowed, as for vendor stats).
 * u64 values travel as decimal strings so JSON loses nothing; the MAC address
 * as an array of six bytes.
 */
export const VDPA_GENL_NAME = 'vdpa';
export const VDPA_GENL_VERSION = 1;

export enum VdpaCmd {
  MGMTDEV_NEW = 1,
  MGMTDEV_GET = 2,
  DEV_NEW = 3,
  DEV_DEL = 4,
  DEV_GET = 5,
  DEV_CONFIG_GET = 6,
  DEV_VSTATS_GET = 7,
  DEV_ATTR_SET = 8,
}

export type VdpaAttrName =
  | 'VDPA_ATTR_MGMTDEV_BUS_NAME'
  | 'VDPA_ATTR_MGMTDEV_DEV_NAME'
  | 'VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES'
  | 'VDPA_ATTR_DEV_NAME'
  | 'VDPA_ATTR_DEV_ID'
  | 'VDPA_ATTR_DEV_VENDOR_ID'
  | 'VDPA_ATTR_DEV_MAX_VQS'
  | 'VDPA_ATTR_DEV_MAX_VQ_SIZE'
  | 'VDPA_ATTR_DEV_MIN_VQ_SIZE'
  | 'VDPA_ATTR_DEV_NET_CFG_MACADDR'
  | 'VDPA_ATTR_DEV_NET_STATUS'
  | 'VDPA_ATTR_DEV_NET_CFG_MAX_VQP'
  | 'VDPA_ATTR_DEV_NET_CFG_MTU'
  | 'VDPA_ATTR_DEV_NEGOTIATED_FEATURES'
  | 'VDPA_ATTR_DEV_MGMTDEV_MAX_VQS'
  | 'VDPA_ATTR_DEV_SUPPORTED_FEATURES'
  | 'VDPA_ATTR_DEV_QUEUE_INDEX'
  | 'VDPA_ATTR_DEV_VENDOR_ATTR_NAME'
  | 'VDPA_ATTR_DEV_VENDOR_ATTR_VALUE'
  | 'VDPA_ATTR_DEV_FEATURES'
  | 'VDPA_ATTR_DEV_BLK_CFG_CAPACITY'
  | 'VDPA_ATTR_DEV_BLK_CFG_SIZE_MAX'
  | 'VDPA_ATTR_DEV_BLK_CFG_BLK_SIZE'
  | 'VDPA_ATTR_DEV_BLK_CFG_SEG_MAX'
  | 'VDPA_ATTR_DEV_BLK_CFG_NUM_QUEUES'
  | 'VDPA_ATTR_DEV_BLK_CFG_PHY_BLK_EXP'
  | 'VDPA_ATTR_DEV_BLK_CFG_ALIGN_OFFSET'
  | 'VDPA_ATTR_DEV_BLK_CFG_MIN_IO_SIZE'
  | 'VDPA_ATTR_DEV_BLK_CFG_OPT_IO_SIZE'
  | 'VDPA_ATTR_DEV_BLK_CFG_MAX_DISCARD_SEC'
  | 'VDPA_ATTR_DEV_BLK_CFG_MAX_DISCARD_SEG'
  | 'VDPA_ATTR_DEV_BLK_CFG_DISCARD_SEC_ALIGN'
  | 'VDPA_ATTR_DEV_BLK_CFG_MAX_WRITE_ZEROES_SEC'
  | 'VDPA_ATTR_DEV_BLK_CFG_MAX_WRITE_ZEROES_SEG'
  | 'VDPA_ATTR_DEV_BLK_CFG_READ_ONLY'
  | 'VDPA_ATTR_DEV_BLK_CFG_FLUSH';

export type NlValue = string | number | number[];
export type NlAttr = [VdpaAttrName, NlValue];
export type NlMsg = NlAttr[];

export function nlGet(msg: NlMsg, name: VdpaAttrName): NlValue | undefined {
  return msg.find(([n]) => n === name)?.[1];
}

export function nlU64(v: bigint): string {
  return v.toString(10);
}

/* virtio device ids (include/uapi/linux/virtio_ids.h) used as vdpa classes. */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
