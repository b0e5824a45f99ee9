/*
 * include/uapi/linux/vdpa.h (Linux 6.12): the "vdpa" generic netlink family.
 *
 * On the wire (net/netlink/) attributes are numbers and bytes. The control
 * socket and the tests also use a typed form, NlMsg: a command's attributes
 * as an ordered list of [name, value] (repeats allowed, as for vendor
 * stats), u64 values as decimal strings so JSON loses nothing, the MAC
 * address as an array of six bytes. VDPA_ATTR_WIRE converts between them.
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
  | 'VDPA_ATTR_DEV_BLK_READ_ONLY'
  | 'VDPA_ATTR_DEV_BLK_FLUSH';

/* enum vdpa_attr, with each attribute's type on the wire. */
export type VdpaWireType = 'string' | 'u8' | 'u16' | 'u32' | 'u64' | 'binary';

export const VDPA_ATTR_WIRE: Readonly<Record<VdpaAttrName, { id: number; type: VdpaWireType }>> = {
  VDPA_ATTR_MGMTDEV_BUS_NAME: { id: 1, type: 'string' },
  VDPA_ATTR_MGMTDEV_DEV_NAME: { id: 2, type: 'string' },
  VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES: { id: 3, type: 'u64' },
  VDPA_ATTR_DEV_NAME: { id: 4, type: 'string' },
  VDPA_ATTR_DEV_ID: { id: 5, type: 'u32' },
  VDPA_ATTR_DEV_VENDOR_ID: { id: 6, type: 'u32' },
  VDPA_ATTR_DEV_MAX_VQS: { id: 7, type: 'u32' },
  VDPA_ATTR_DEV_MAX_VQ_SIZE: { id: 8, type: 'u16' },
  VDPA_ATTR_DEV_MIN_VQ_SIZE: { id: 9, type: 'u16' },
  VDPA_ATTR_DEV_NET_CFG_MACADDR: { id: 10, type: 'binary' },
  /* The header says u8; vdpa_dev_net_status_config_fill() puts a u16. */
  VDPA_ATTR_DEV_NET_STATUS: { id: 11, type: 'u16' },
  VDPA_ATTR_DEV_NET_CFG_MAX_VQP: { id: 12, type: 'u16' },
  VDPA_ATTR_DEV_NET_CFG_MTU: { id: 13, type: 'u16' },
  VDPA_ATTR_DEV_NEGOTIATED_FEATURES: { id: 14, type: 'u64' },
  VDPA_ATTR_DEV_MGMTDEV_MAX_VQS: { id: 15, type: 'u32' },
  VDPA_ATTR_DEV_SUPPORTED_FEATURES: { id: 16, type: 'u64' },
  VDPA_ATTR_DEV_QUEUE_INDEX: { id: 17, type: 'u32' },
  VDPA_ATTR_DEV_VENDOR_ATTR_NAME: { id: 18, type: 'string' },
  VDPA_ATTR_DEV_VENDOR_ATTR_VALUE: { id: 19, type: 'u64' },
  VDPA_ATTR_DEV_FEATURES: { id: 20, type: 'u64' },
  VDPA_ATTR_DEV_BLK_CFG_CAPACITY: { id: 21, type: 'u64' },
  VDPA_ATTR_DEV_BLK_CFG_SIZE_MAX: { id: 22, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_BLK_SIZE: { id: 23, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_SEG_MAX: { id: 24, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_NUM_QUEUES: { id: 25, type: 'u16' },
  VDPA_ATTR_DEV_BLK_CFG_PHY_BLK_EXP: { id: 26, type: 'u8' },
  VDPA_ATTR_DEV_BLK_CFG_ALIGN_OFFSET: { id: 27, type: 'u8' },
  VDPA_ATTR_DEV_BLK_CFG_MIN_IO_SIZE: { id: 28, type: 'u16' },
  VDPA_ATTR_DEV_BLK_CFG_OPT_IO_SIZE: { id: 29, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_MAX_DISCARD_SEC: { id: 30, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_MAX_DISCARD_SEG: { id: 31, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_DISCARD_SEC_ALIGN: { id: 32, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_MAX_WRITE_ZEROES_SEC: { id: 33, type: 'u32' },
  VDPA_ATTR_DEV_BLK_CFG_MAX_WRITE_ZEROES_SEG: { id: 34, type: 'u32' },
  VDPA_ATTR_DEV_BLK_READ_ONLY: { id: 35, type: 'u8' },
  VDPA_ATTR_DEV_BLK_FLUSH: { id: 36, type: 'u8' },
};

/* VDPA_ATTR_MAX: one past the last attribute (the header has no __VDPA_ATTR_MAX). */
export const VDPA_ATTR_MAX = 37;

const VDPA_ATTR_BY_ID = new Map(Object.entries(VDPA_ATTR_WIRE).map(([name, w]) => [w.id, name as VdpaAttrName]));

export function vdpaAttrName(id: number): VdpaAttrName | undefined {
  return VDPA_ATTR_BY_ID.get(id);
}

/* The attribute number, for handlers reading info->attrs[VDPA_ATTR_...]. */
export function vdpaAttr(name: VdpaAttrName): number {
  return VDPA_ATTR_WIRE[name].id;
}

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
