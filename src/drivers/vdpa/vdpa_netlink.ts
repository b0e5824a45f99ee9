/*
 * drivers/vdpa/vdpa.c (Linux 6.12), netlink half: the "vdpa" generic
 * netlink family. Its policy, its ops with their GENL_ADMIN_PERM flags, and
 * handlers that read attributes and write replies as the kernel does, with
 * the kernel's errnos and extack messages (NL_SET_ERR_MSG_MOD prefixes
 * "vdpa: "), since userspace prints them verbatim.
 *
 * Everything that asks this family something comes through
 * net/netlink/genetlink.ts: the wire (the daemon's netlink server, for the
 * real iproute2) and vdpaGenl() below (vdpafs's own tools and the tests),
 * which only translates a typed request to bytes and the answer back.
 */
import { after, MaybeWait } from '../../kernel/completion';
import { capable, Cred, ROOT_CRED } from '../../kernel/cred';
import { errnoName, fail, KernelError } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import {
  Nlattr,
  nlaGetString,
  nlaGetU16,
  nlaGetU32,
  nlaGetU64,
  nlaPut,
  nlaPutString,
  nlaPutU16,
  nlaPutU32,
  nlaPutU64,
  nlaPutU8,
  nlaWalk,
  nlmsgEnd,
  nlmsgPut,
  nlmsgWalk,
  SkBuff,
} from '../../include/net/netlink';
import { NETLINK_GENERIC, NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSGERR_SIZE, NlmsgerrAttr } from '../../include/uapi/netlink';
import { GENL_ADMIN_PERM, GENL_HDRLEN } from '../../include/uapi/genetlink';
import {
  NlMsg,
  NlValue,
  VDPA_ATTR_MAX,
  VDPA_ATTR_WIRE,
  VDPA_GENL_NAME,
  VDPA_GENL_VERSION,
  vdpaAttr,
  vdpaAttrName,
  VdpaCmd,
  VIRTIO_ID_BLOCK,
  VIRTIO_ID_NET,
} from '../../include/uapi/vdpa';
import { BIT, VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_TRANSPORT_F_END, VIRTIO_TRANSPORT_F_START, virtioHasFeature } from '../../include/uapi/virtio_config';
import {
  VIRTIO_NET_CFG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_STATUS,
} from '../../include/uapi/virtio_net';
import {
  VIRTIO_BLK_CFG,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_TOPOLOGY,
  VIRTIO_BLK_F_WRITE_ZEROES,
} from '../../include/uapi/virtio_blk';
import { NLA_POLICY_ETH_ADDR, NLA_POLICY_MIN, Policy } from '../../lib/nlattr';
import { NetlinkCallback, netlinkDumpAll, netlinkSendmsg, NetlinkSock } from '../../net/netlink/af_netlink';
import {
  genlDumpitInfo,
  GenlFamily,
  GenlFamilyDef,
  genlFamilyFindByName,
  GenlInfo,
  genlmsgFill,
  genlmsgNew,
  genlmsgReply,
  genlRegisterFamily,
  genlUnregisterFamily,
} from '../../net/netlink/genetlink';
import { VdpaDevice, VdpaDevSetConfig, vdpaCore, vdpaFindDevice, VdpaMgmtDev } from './vdpa';

/* Attribute numbers (include/uapi/linux/vdpa.h), for handlers and config masks. */
const A = {
  MGMTDEV_BUS_NAME: vdpaAttr('VDPA_ATTR_MGMTDEV_BUS_NAME'),
  MGMTDEV_DEV_NAME: vdpaAttr('VDPA_ATTR_MGMTDEV_DEV_NAME'),
  MGMTDEV_SUPPORTED_CLASSES: vdpaAttr('VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES'),
  DEV_NAME: vdpaAttr('VDPA_ATTR_DEV_NAME'),
  DEV_ID: vdpaAttr('VDPA_ATTR_DEV_ID'),
  DEV_VENDOR_ID: vdpaAttr('VDPA_ATTR_DEV_VENDOR_ID'),
  DEV_MAX_VQS: vdpaAttr('VDPA_ATTR_DEV_MAX_VQS'),
  DEV_MAX_VQ_SIZE: vdpaAttr('VDPA_ATTR_DEV_MAX_VQ_SIZE'),
  DEV_MIN_VQ_SIZE: vdpaAttr('VDPA_ATTR_DEV_MIN_VQ_SIZE'),
  NET_CFG_MACADDR: vdpaAttr('VDPA_ATTR_DEV_NET_CFG_MACADDR'),
  NET_STATUS: vdpaAttr('VDPA_ATTR_DEV_NET_STATUS'),
  NET_CFG_MAX_VQP: vdpaAttr('VDPA_ATTR_DEV_NET_CFG_MAX_VQP'),
  NET_CFG_MTU: vdpaAttr('VDPA_ATTR_DEV_NET_CFG_MTU'),
  NEGOTIATED_FEATURES: vdpaAttr('VDPA_ATTR_DEV_NEGOTIATED_FEATURES'),
  MGMTDEV_MAX_VQS: vdpaAttr('VDPA_ATTR_DEV_MGMTDEV_MAX_VQS'),
  SUPPORTED_FEATURES: vdpaAttr('VDPA_ATTR_DEV_SUPPORTED_FEATURES'),
  QUEUE_INDEX: vdpaAttr('VDPA_ATTR_DEV_QUEUE_INDEX'),
  VENDOR_ATTR_NAME: vdpaAttr('VDPA_ATTR_DEV_VENDOR_ATTR_NAME'),
  VENDOR_ATTR_VALUE: vdpaAttr('VDPA_ATTR_DEV_VENDOR_ATTR_VALUE'),
  DEV_FEATURES: vdpaAttr('VDPA_ATTR_DEV_FEATURES'),
  BLK_CFG_CAPACITY: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_CAPACITY'),
  BLK_CFG_SIZE_MAX: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_SIZE_MAX'),
  BLK_CFG_BLK_SIZE: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_BLK_SIZE'),
  BLK_CFG_SEG_MAX: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_SEG_MAX'),
  BLK_CFG_NUM_QUEUES: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_NUM_QUEUES'),
  BLK_CFG_PHY_BLK_EXP: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_PHY_BLK_EXP'),
  BLK_CFG_ALIGN_OFFSET: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_ALIGN_OFFSET'),
  BLK_CFG_MIN_IO_SIZE: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_MIN_IO_SIZE'),
  BLK_CFG_OPT_IO_SIZE: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_OPT_IO_SIZE'),
  BLK_CFG_MAX_DISCARD_SEC: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_MAX_DISCARD_SEC'),
  BLK_CFG_MAX_DISCARD_SEG: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_MAX_DISCARD_SEG'),
  BLK_CFG_DISCARD_SEC_ALIGN: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_DISCARD_SEC_ALIGN'),
  BLK_CFG_MAX_WRITE_ZEROES_SEC: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_MAX_WRITE_ZEROES_SEC'),
  BLK_CFG_MAX_WRITE_ZEROES_SEG: vdpaAttr('VDPA_ATTR_DEV_BLK_CFG_MAX_WRITE_ZEROES_SEG'),
  BLK_READ_ONLY: vdpaAttr('VDPA_ATTR_DEV_BLK_READ_ONLY'),
  BLK_FLUSH: vdpaAttr('VDPA_ATTR_DEV_BLK_FLUSH'),
} as const;

/* For config masks (BIT_ULL(VDPA_ATTR_...)) in the parent drivers. */
export const VDPA_ATTR_DEV_NET_CFG_MACADDR = A.NET_CFG_MACADDR;
export const VDPA_ATTR_DEV_NET_CFG_MAX_VQP = A.NET_CFG_MAX_VQP;
export const VDPA_ATTR_DEV_NET_CFG_MTU = A.NET_CFG_MTU;
export const VDPA_ATTR_DEV_FEATURES = A.DEV_FEATURES;
const VDPA_DEV_NET_ATTRS = [A.NET_CFG_MACADDR, A.NET_CFG_MTU, A.NET_CFG_MAX_VQP];

/* NL_SET_ERR_MSG_MOD(): the message carries KBUILD_MODNAME. */
const MOD = (msg: string) => `vdpa: ${msg}`;

/* Every feature bit outside VIRTIO_TRANSPORT_F_START..END (VIRTIO_DEVICE_F_MASK). */
const VIRTIO_DEVICE_F_MASK = (~0n << BigInt(VIRTIO_TRANSPORT_F_END + 1)) & ((1n << 64n) - 1n) | ((1n << BigInt(VIRTIO_TRANSPORT_F_START)) - 1n);

const hex = (v: bigint) => '0x' + v.toString(16);
const maskOf = (attrs: Iterable<number>) => [...attrs].reduce((m, a) => m | (1n << BigInt(a)), 0n);

/* ------------------------------------------------------------------------ */
/* Management devices                                                       */

/* mgmtdev_handle_match(): a bus name must match a bus, no bus name no bus. */
function mgmtdevHandleMatch(mdev: VdpaMgmtDev, busname: string | null, devname: string): boolean {
  if ((busname !== null) !== (mdev.busName !== null)) return false;
  return mdev.device.name === devname && (busname === null || mdev.busName === busname);
}

/* vdpa_mgmtdev_get_from_attr(): EINVAL without a device name, ENODEV if none matches. */
function vdpaMgmtdevGetFromAttr(k: Kernel, attrs: Array<Nlattr | undefined>): VdpaMgmtDev {
  const dev = attrs[A.MGMTDEV_DEV_NAME];
  if (!dev) fail('EINVAL');
  const bus = attrs[A.MGMTDEV_BUS_NAME];
  const devname = nlaGetString(dev);
  const busname = bus ? nlaGetString(bus) : null;
  return vdpaCore(k).mgmtdevs.find((m) => mgmtdevHandleMatch(m, busname, devname)) ?? fail('ENODEV');
}

/* vdpa_nl_mgmtdev_handle_fill() */
function vdpaNlMgmtdevHandleFill(skb: SkBuff, mdev: VdpaMgmtDev): void {
  if (mdev.busName !== null) nlaPutString(skb, A.MGMTDEV_BUS_NAME, mdev.busName);
  nlaPutString(skb, A.MGMTDEV_DEV_NAME, mdev.device.name);
}

/* vdpa_mgmtdev_get_classes(): a bit per virtio id of the id table (ids up to 63). */
function vdpaMgmtdevGetClasses(mdev: VdpaMgmtDev): { classes: bigint; ncls: number } {
  let classes = 0n;
  let ncls = 0;
  for (const id of mdev.classes) {
    if (id > 63) continue;
    classes |= 1n << BigInt(id);
    ncls++;
  }
  return { classes, ncls };
}

function vdpaMgmtdevFill(skb: SkBuff, family: GenlFamily, mdev: VdpaMgmtDev, portid: number, seq: number, flags: number): void {
  genlmsgFill(skb, portid, seq, family, flags, VdpaCmd.MGMTDEV_NEW, () => {
    vdpaNlMgmtdevHandleFill(skb, mdev);
    nlaPutU64(skb, A.MGMTDEV_SUPPORTED_CLASSES, vdpaMgmtdevGetClasses(mdev).classes);
    nlaPutU32(skb, A.MGMTDEV_MAX_VQS, mdev.maxSupportedVqs);
    nlaPutU64(skb, A.SUPPORTED_FEATURES, mdev.supportedFeatures);
  });
}

function vdpaNlCmdMgmtdevGetDoit(info: GenlInfo): void {
  const k = info.sk.kernel;
  const msg = genlmsgNew();
  let mdev: VdpaMgmtDev;
  try {
    mdev = vdpaMgmtdevGetFromAttr(k, info.attrs);
  } catch (e) {
    info.extack.msg = MOD('Fail to find the specified mgmt device');
    throw e;
  }
  vdpaMgmtdevFill(msg, info.family, mdev, info.sndPortid, info.sndSeq, 0);
  genlmsgReply(msg, info);
}

function vdpaNlCmdMgmtdevGetDumpit(skb: SkBuff, cb: NetlinkCallback): number {
  const { family } = genlDumpitInfo(cb);
  const start = cb.args[0];
  let idx = 0;
  for (const mdev of vdpaCore(cb.sk.kernel).mgmtdevs) {
    if (idx < start) {
      idx++;
      continue;
    }
    if (!fillFits(() => vdpaMgmtdevFill(skb, family, mdev, cb.portid, cb.hdr.seq, NLM_F_MULTI))) break;
    idx++;
  }
  cb.args[0] = idx;
  return skb.len;
}

/* A dump's fill: false once the datagram is full (-EMSGSIZE), so the dump resumes there next time. */
function fillFits(fill: () => void): boolean {
  try {
    fill();
    return true;
  } catch (e) {
    if (e instanceof KernelError && e.errno === 'EMSGSIZE') return false;
    throw e;
  }
}

/* ------------------------------------------------------------------------ */
/* Adding and deleting devices                                              */

/* vdpa_nl_cmd_dev_add_set_doit() */
function vdpaNlCmdDevAddSetDoit(info: GenlInfo): void {
  const k = info.sk.kernel;
  const nlAttrs = info.attrs;
  const nameAttr = nlAttrs[A.DEV_NAME];
  if (!nameAttr) fail('EINVAL');
  const name = nlaGetString(nameAttr);
  const config: VdpaDevSetConfig = { mask: new Set() };

  const mac = nlAttrs[A.NET_CFG_MACADDR];
  if (mac) {
    config.mac = Buffer.from(mac.payload.subarray(0, 6));
    config.mask.add(A.NET_CFG_MACADDR);
  }
  const mtu = nlAttrs[A.NET_CFG_MTU];
  if (mtu) {
    config.mtu = nlaGetU16(mtu);
    config.mask.add(A.NET_CFG_MTU);
  }
  const maxVqp = nlAttrs[A.NET_CFG_MAX_VQP];
  if (maxVqp) {
    config.maxVqPairs = nlaGetU16(maxVqp);
    if (!config.maxVqPairs) {
      info.extack.msg = MOD('At least one pair of VQs is required');
      fail('EINVAL');
    }
    config.mask.add(A.NET_CFG_MAX_VQP);
  }
  const features = nlAttrs[A.DEV_FEATURES];
  if (features) {
    const f = nlaGetU64(features);
    config.deviceFeatures = f;
    let missing = 0n;
    if (mac && !virtioHasFeature(f, VIRTIO_NET_F_MAC)) missing |= BIT(VIRTIO_NET_F_MAC);
    if (mtu && !virtioHasFeature(f, VIRTIO_NET_F_MTU)) missing |= BIT(VIRTIO_NET_F_MTU);
    if (maxVqp && config.maxVqPairs! > 1 && !virtioHasFeature(f, VIRTIO_NET_F_MQ)) missing |= BIT(VIRTIO_NET_F_MQ);
    if (missing) {
      info.extack.msg = MOD(`Missing features ${hex(missing)} for provided attributes`);
      fail('EINVAL');
    }
    config.mask.add(A.DEV_FEATURES);
  }

  const netAttrs = VDPA_DEV_NET_ATTRS.some((a) => config.mask.has(a));
  /* Only reachable without GENL_ADMIN_PERM, which DEV_NEW has: kept as the kernel has it. */
  if (netAttrs && !capable(info.sk.cred)) fail('EPERM');

  let mdev: VdpaMgmtDev;
  try {
    mdev = vdpaMgmtdevGetFromAttr(k, info.attrs);
  } catch (e) {
    info.extack.msg = MOD('Fail to find the specified management device');
    throw e;
  }
  const unsupported = [...config.mask].filter((a) => !mdev.configAttrMask.has(a));
  if (unsupported.length) {
    info.extack.msg = MOD(`Some provided attributes are not supported: ${hex(maskOf(unsupported))}`);
    fail('EOPNOTSUPP');
  }
  const { classes, ncls } = vdpaMgmtdevGetClasses(mdev);
  if (netAttrs && !(classes & (1n << BigInt(VIRTIO_ID_NET)))) {
    info.extack.msg = MOD('Network class attributes provided on unsupported management device');
    fail('EINVAL');
  }
  if (
    !netAttrs &&
    config.mask.has(A.DEV_FEATURES) &&
    classes & (1n << BigInt(VIRTIO_ID_NET)) &&
    ncls > 1 &&
    config.deviceFeatures! & VIRTIO_DEVICE_F_MASK
  ) {
    info.extack.msg = MOD('Management device supports multi-class while device features specified are ambiguous');
    fail('EINVAL');
  }
  mdev.devAdd(name, config);
}

/* bus_find_device(&vdpa_bus, NULL, name, vdpa_name_match): managed or not. */
function findDevice(info: GenlInfo, name: Nlattr): VdpaDevice {
  const vdev = vdpaFindDevice(info.sk.kernel, nlaGetString(name));
  if (!vdev) {
    info.extack.msg = MOD('device not found');
    fail('ENODEV');
  }
  return vdev;
}

/* vdpa_nl_cmd_dev_del_set_doit(): may sleep until /dev/vhost-vdpa-N is closed. */
function vdpaNlCmdDevDelSetDoit(info: GenlInfo): MaybeWait<void> {
  const name = info.attrs[A.DEV_NAME];
  if (!name) fail('EINVAL');
  const vdev = findDevice(info, name);
  if (!vdev.mdev) {
    info.extack.msg = MOD('Only user created device can be deleted by user');
    fail('EINVAL');
  }
  return vdev.mdev.devDel(vdev);
}

/* ------------------------------------------------------------------------ */
/* Showing devices                                                          */

/* vdpa_dev_fill(): the mgmtdev handle first, then the device. */
function vdpaDevFill(skb: SkBuff, family: GenlFamily, vdev: VdpaDevice, portid: number, seq: number, flags: number): void {
  genlmsgFill(skb, portid, seq, family, flags, VdpaCmd.DEV_NEW, () => {
    const c = vdev.config;
    vdpaNlMgmtdevHandleFill(skb, vdev.mdev!);
    nlaPutString(skb, A.DEV_NAME, vdev.name);
    nlaPutU32(skb, A.DEV_ID, c.getDeviceId());
    nlaPutU32(skb, A.DEV_VENDOR_ID, c.getVendorId());
    nlaPutU32(skb, A.DEV_MAX_VQS, vdev.nvqs);
    nlaPutU16(skb, A.DEV_MAX_VQ_SIZE, c.getVqNumMax());
    nlaPutU16(skb, A.DEV_MIN_VQ_SIZE, c.getVqNumMin());
  });
}

function vdpaNlCmdDevGetDoit(info: GenlInfo): void {
  const name = info.attrs[A.DEV_NAME];
  if (!name) fail('EINVAL');
  const msg = genlmsgNew();
  const vdev = findDevice(info, name);
  if (!vdev.mdev) fail('EINVAL');
  vdpaDevFill(msg, info.family, vdev, info.sndPortid, info.sndSeq, 0);
  genlmsgReply(msg, info);
}

/*
 * The dumps' walk (vdpa_dev_dump with bus_for_each_dev): managed devices in
 * bus order, skipping the ones sent already; a full datagram stops it there.
 */
function dumpDevices(skb: SkBuff, cb: NetlinkCallback, fill: (vdev: VdpaDevice) => void): number {
  const startIdx = cb.args[0];
  let idx = 0;
  for (const dev of vdpaCore(cb.sk.kernel).bus.devices as VdpaDevice[]) {
    if (!dev.mdev) continue;
    if (idx < startIdx) {
      idx++;
      continue;
    }
    if (!fillFits(() => fill(dev))) break;
    idx++;
  }
  cb.args[0] = idx;
  return skb.len;
}

function vdpaNlCmdDevGetDumpit(skb: SkBuff, cb: NetlinkCallback): number {
  const { family } = genlDumpitInfo(cb);
  return dumpDevices(skb, cb, (vdev) => vdpaDevFill(skb, family, vdev, cb.portid, cb.hdr.seq, NLM_F_MULTI));
}

/* ------------------------------------------------------------------------ */
/* Device configuration                                                     */

/* vdpa_dev_net_mq_config_fill(): max_vqp only with MQ or RSS. */
function vdpaDevNetMqConfigFill(skb: SkBuff, features: bigint, config: Buffer): void {
  if (!virtioHasFeature(features, VIRTIO_NET_F_MQ) && !virtioHasFeature(features, VIRTIO_NET_F_RSS)) return;
  nlaPutU16(skb, A.NET_CFG_MAX_VQP, config.readUInt16LE(VIRTIO_NET_CFG.MAX_VQ_PAIRS));
}

/* vdpa_dev_net_config_fill(): each field only if its feature is offered. */
function vdpaDevNetConfigFill(skb: SkBuff, vdev: VdpaDevice): void {
  const config = vdev.config.getConfig(0, VIRTIO_NET_CFG.DUPLEX + 1);
  const f = vdev.config.getDeviceFeatures();
  nlaPutU64(skb, A.DEV_FEATURES, f);
  if (virtioHasFeature(f, VIRTIO_NET_F_MTU)) nlaPutU16(skb, A.NET_CFG_MTU, config.readUInt16LE(VIRTIO_NET_CFG.MTU));
  if (virtioHasFeature(f, VIRTIO_NET_F_MAC)) nlaPut(skb, A.NET_CFG_MACADDR, config.subarray(VIRTIO_NET_CFG.MAC, VIRTIO_NET_CFG.MAC + 6));
  if (virtioHasFeature(f, VIRTIO_NET_F_STATUS)) nlaPutU16(skb, A.NET_STATUS, config.readUInt16LE(VIRTIO_NET_CFG.STATUS));
  vdpaDevNetMqConfigFill(skb, f, config);
}

/* vdpa_dev_blk_config_fill(): capacity always, the rest by feature. */
function vdpaDevBlkConfigFill(skb: SkBuff, vdev: VdpaDevice): void {
  const c = vdev.config.getConfig(0, VIRTIO_BLK_CFG.SIZE);
  const f = vdev.config.getDeviceFeatures();
  const has = (bit: number) => virtioHasFeature(f, bit);
  nlaPutU64(skb, A.DEV_FEATURES, f);
  nlaPutU64(skb, A.BLK_CFG_CAPACITY, c.readBigUInt64LE(VIRTIO_BLK_CFG.CAPACITY));
  if (has(VIRTIO_BLK_F_SIZE_MAX)) nlaPutU32(skb, A.BLK_CFG_SIZE_MAX, c.readUInt32LE(VIRTIO_BLK_CFG.SIZE_MAX));
  if (has(VIRTIO_BLK_F_BLK_SIZE)) nlaPutU32(skb, A.BLK_CFG_BLK_SIZE, c.readUInt32LE(VIRTIO_BLK_CFG.BLK_SIZE));
  if (has(VIRTIO_BLK_F_SEG_MAX)) nlaPutU32(skb, A.BLK_CFG_SEG_MAX, c.readUInt32LE(VIRTIO_BLK_CFG.SEG_MAX));
  if (has(VIRTIO_BLK_F_MQ)) nlaPutU16(skb, A.BLK_CFG_NUM_QUEUES, c.readUInt16LE(VIRTIO_BLK_CFG.NUM_QUEUES));
  if (has(VIRTIO_BLK_F_TOPOLOGY)) {
    nlaPutU8(skb, A.BLK_CFG_PHY_BLK_EXP, c.readUInt8(VIRTIO_BLK_CFG.PHYSICAL_BLOCK_EXP));
    nlaPutU8(skb, A.BLK_CFG_ALIGN_OFFSET, c.readUInt8(VIRTIO_BLK_CFG.ALIGNMENT_OFFSET));
    nlaPutU16(skb, A.BLK_CFG_MIN_IO_SIZE, c.readUInt16LE(VIRTIO_BLK_CFG.MIN_IO_SIZE));
    nlaPutU32(skb, A.BLK_CFG_OPT_IO_SIZE, c.readUInt32LE(VIRTIO_BLK_CFG.OPT_IO_SIZE));
  }
  if (has(VIRTIO_BLK_F_DISCARD)) {
    nlaPutU32(skb, A.BLK_CFG_MAX_DISCARD_SEC, c.readUInt32LE(VIRTIO_BLK_CFG.MAX_DISCARD_SECTORS));
    nlaPutU32(skb, A.BLK_CFG_MAX_DISCARD_SEG, c.readUInt32LE(VIRTIO_BLK_CFG.MAX_DISCARD_SEG));
    nlaPutU32(skb, A.BLK_CFG_DISCARD_SEC_ALIGN, c.readUInt32LE(VIRTIO_BLK_CFG.DISCARD_SECTOR_ALIGNMENT));
  }
  if (has(VIRTIO_BLK_F_WRITE_ZEROES)) {
    nlaPutU32(skb, A.BLK_CFG_MAX_WRITE_ZEROES_SEC, c.readUInt32LE(VIRTIO_BLK_CFG.MAX_WRITE_ZEROES_SECTORS));
    nlaPutU32(skb, A.BLK_CFG_MAX_WRITE_ZEROES_SEG, c.readUInt32LE(VIRTIO_BLK_CFG.MAX_WRITE_ZEROES_SEG));
  }
  nlaPutU8(skb, A.BLK_READ_ONLY, has(VIRTIO_BLK_F_RO) ? 1 : 0);
  nlaPutU8(skb, A.BLK_FLUSH, has(VIRTIO_BLK_F_FLUSH) ? 1 : 0);
}

/* vdpa_dev_config_fill(): negotiated features only once FEATURES_OK is set. */
function vdpaDevConfigFill(skb: SkBuff, family: GenlFamily, vdev: VdpaDevice, portid: number, seq: number, flags: number): void {
  genlmsgFill(skb, portid, seq, family, flags, VdpaCmd.DEV_CONFIG_GET, () => {
    const c = vdev.config;
    nlaPutString(skb, A.DEV_NAME, vdev.name);
    const deviceId = c.getDeviceId();
    nlaPutU32(skb, A.DEV_ID, deviceId);
    if (c.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK) nlaPutU64(skb, A.NEGOTIATED_FEATURES, c.getDriverFeatures());
    if (deviceId === VIRTIO_ID_NET) vdpaDevNetConfigFill(skb, vdev);
    else if (deviceId === VIRTIO_ID_BLOCK) vdpaDevBlkConfigFill(skb, vdev);
    else fail('EOPNOTSUPP');
  });
}

/* The device a DEV_NAME names, which `vdpa dev add` must have created. */
function findManagedDevice(info: GenlInfo, name: Nlattr): VdpaDevice {
  const vdev = findDevice(info, name);
  if (!vdev.mdev) {
    info.extack.msg = MOD('unmanaged vdpa device');
    fail('EINVAL');
  }
  return vdev;
}

function vdpaNlCmdDevConfigGetDoit(info: GenlInfo): void {
  const name = info.attrs[A.DEV_NAME];
  if (!name) fail('EINVAL');
  const msg = genlmsgNew();
  const vdev = findManagedDevice(info, name);
  vdpaDevConfigFill(msg, info.family, vdev, info.sndPortid, info.sndSeq, 0);
  genlmsgReply(msg, info);
}

function vdpaNlCmdDevConfigGetDumpit(skb: SkBuff, cb: NetlinkCallback): number {
  const { family } = genlDumpitInfo(cb);
  return dumpDevices(skb, cb, (vdev) => vdpaDevConfigFill(skb, family, vdev, cb.portid, cb.hdr.seq, NLM_F_MULTI));
}

/* ------------------------------------------------------------------------ */
/* Vendor statistics                                                        */

/* vdpa_fill_stats_rec(): only after feature negotiation. */
function vdpaFillStatsRec(skb: SkBuff, vdev: VdpaDevice, info: GenlInfo, index: number): void {
  const c = vdev.config;
  if (!(c.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK)) {
    info.extack.msg = MOD('feature negotiation not complete');
    fail('EAGAIN');
  }
  const config = c.getConfig(0, VIRTIO_NET_CFG.DUPLEX + 1);
  const features = c.getDriverFeatures();
  nlaPutU64(skb, A.NEGOTIATED_FEATURES, features);
  vdpaDevNetMqConfigFill(skb, features, config);
  nlaPutU32(skb, A.QUEUE_INDEX, index);
  for (const [name, value] of c.getVendorVqStats!(index)) {
    nlaPutString(skb, A.VENDOR_ATTR_NAME, name);
    nlaPutU64(skb, A.VENDOR_ATTR_VALUE, value);
  }
}

/* vdpa_dev_vendor_stats_fill() */
function vdpaDevVendorStatsFill(skb: SkBuff, vdev: VdpaDevice, info: GenlInfo, index: number): void {
  genlmsgFill(skb, info.sndPortid, info.sndSeq, info.family, 0, VdpaCmd.DEV_VSTATS_GET, () => {
    nlaPutString(skb, A.DEV_NAME, vdev.name);
    const deviceId = vdev.config.getDeviceId();
    nlaPutU32(skb, A.DEV_ID, deviceId);
    if (deviceId !== VIRTIO_ID_NET) fail('EOPNOTSUPP');
    if (index > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX) {
      info.extack.msg = MOD('queue index exceeds max value');
      fail('ERANGE');
    }
    /* vendor_stats_fill() */
    if (!vdev.config.getVendorVqStats) fail('EOPNOTSUPP');
    vdpaFillStatsRec(skb, vdev, info, index);
  });
}

function vdpaNlCmdDevStatsGetDoit(info: GenlInfo): void {
  const name = info.attrs[A.DEV_NAME];
  if (!name) fail('EINVAL');
  const qidx = info.attrs[A.QUEUE_INDEX];
  if (!qidx) fail('EINVAL');
  const msg = genlmsgNew();
  const index = nlaGetU32(qidx);
  const vdev = findManagedDevice(info, name);
  vdpaDevVendorStatsFill(msg, vdev, info, index);
  genlmsgReply(msg, info);
}

/* ------------------------------------------------------------------------ */
/* Changing attributes                                                      */

/* is_valid_ether_addr(): not multicast, not all zeros. */
function isValidEtherAddr(mac: Buffer): boolean {
  return (mac[0] & 1) === 0 && mac.some((b) => b !== 0);
}

/* vdpa_dev_net_device_attr_set(): only the MAC; without one, EOPNOTSUPP. */
function vdpaDevNetDeviceAttrSet(vdev: VdpaDevice, info: GenlInfo): void {
  const mdev = vdev.mdev!;
  const mac = info.attrs[A.NET_CFG_MACADDR];
  if (!mac) fail('EOPNOTSUPP');
  const addr = Buffer.from(mac.payload.subarray(0, 6));
  if (!isValidEtherAddr(addr)) {
    info.extack.msg = MOD('Invalid MAC address');
    fail('EOPNOTSUPP');
  }
  if (!mdev.devSetAttr) {
    info.extack.msg = MOD('Operation not supported by the device.');
    fail('EOPNOTSUPP');
  }
  mdev.devSetAttr(vdev, { mask: new Set([A.NET_CFG_MACADDR]), mac: addr });
}

/* vdpa_nl_cmd_dev_attr_set_doit(): a non-net device succeeds with a warning naming it. */
function vdpaNlCmdDevAttrSetDoit(info: GenlInfo): void {
  const name = info.attrs[A.DEV_NAME];
  if (!name) fail('EINVAL');
  const vdev = findManagedDevice(info, name);
  if (vdpaMgmtdevGetClasses(vdev.mdev!).classes & (1n << BigInt(VIRTIO_ID_NET))) vdpaDevNetDeviceAttrSet(vdev, info);
  else info.extack.msg = MOD(`${nlaGetString(name)} device not supported`);
}

/* ------------------------------------------------------------------------ */
/* The family                                                               */

/* vdpa_nl_policy */
const VDPA_NL_POLICY: Policy = (() => {
  const p: Policy[number][] = new Array(VDPA_ATTR_MAX + 1).fill(undefined);
  p[A.MGMTDEV_BUS_NAME] = { type: 'nul_string' };
  p[A.MGMTDEV_DEV_NAME] = { type: 'string' };
  p[A.DEV_NAME] = { type: 'string' };
  p[A.NET_CFG_MACADDR] = NLA_POLICY_ETH_ADDR;
  p[A.NET_CFG_MAX_VQP] = { type: 'u16' };
  /* virtio spec 1.1 section 5.1.4.1 for valid MTU range */
  p[A.NET_CFG_MTU] = NLA_POLICY_MIN('u16', 68);
  p[A.QUEUE_INDEX] = { type: 'u32' };
  p[A.DEV_FEATURES] = { type: 'u64' };
  return p;
})();

export const VDPA_NL_FAMILY: GenlFamilyDef = {
  name: VDPA_GENL_NAME,
  version: VDPA_GENL_VERSION,
  maxattr: VDPA_ATTR_MAX,
  policy: VDPA_NL_POLICY,
  netnsok: false,
  resvStartOp: VdpaCmd.DEV_VSTATS_GET + 1,
  ops: [
    { cmd: VdpaCmd.MGMTDEV_GET, doit: vdpaNlCmdMgmtdevGetDoit, dumpit: vdpaNlCmdMgmtdevGetDumpit },
    { cmd: VdpaCmd.DEV_NEW, doit: vdpaNlCmdDevAddSetDoit, flags: GENL_ADMIN_PERM },
    { cmd: VdpaCmd.DEV_DEL, doit: vdpaNlCmdDevDelSetDoit, flags: GENL_ADMIN_PERM },
    { cmd: VdpaCmd.DEV_GET, doit: vdpaNlCmdDevGetDoit, dumpit: vdpaNlCmdDevGetDumpit },
    { cmd: VdpaCmd.DEV_CONFIG_GET, doit: vdpaNlCmdDevConfigGetDoit, dumpit: vdpaNlCmdDevConfigGetDumpit },
    { cmd: VdpaCmd.DEV_VSTATS_GET, doit: vdpaNlCmdDevStatsGetDoit, flags: GENL_ADMIN_PERM },
    { cmd: VdpaCmd.DEV_ATTR_SET, doit: vdpaNlCmdDevAttrSetDoit, flags: GENL_ADMIN_PERM },
  ],
};

/* vdpa_init()/vdpa_exit(): the family exists exactly while the vdpa module is loaded. */
export function vdpaNlRegister(k: Kernel): void {
  genlRegisterFamily(k, VDPA_NL_FAMILY);
}

export function vdpaNlUnregister(k: Kernel): void {
  const family = genlFamilyFindByName(k, VDPA_GENL_NAME);
  if (family) genlUnregisterFamily(k, family);
}

/* ------------------------------------------------------------------------ */
/* The typed entry point                                                    */

export interface GenlReply {
  msgs: NlMsg[];
  /* An extack message on success is a warning (iproute2: "Warning: ..."). */
  warning?: string;
}

/* The commands iproute2 dumps when it names no object. */
const DUMP_KEY: Partial<Record<VdpaCmd, string>> = {
  [VdpaCmd.MGMTDEV_GET]: 'VDPA_ATTR_MGMTDEV_DEV_NAME',
  [VdpaCmd.DEV_GET]: 'VDPA_ATTR_DEV_NAME',
  [VdpaCmd.DEV_CONFIG_GET]: 'VDPA_ATTR_DEV_NAME',
};

/* The bytes of a typed attribute, as iproute2 puts them (strings with their NUL). */
function putTyped(skb: SkBuff, name: keyof typeof VDPA_ATTR_WIRE, value: NlValue): void {
  const { id, type } = VDPA_ATTR_WIRE[name];
  switch (type) {
    case 'string':
      return nlaPutString(skb, id, String(value));
    case 'u8':
      return nlaPutU8(skb, id, Number(value));
    case 'u16':
      return nlaPutU16(skb, id, Number(value));
    case 'u32':
      return nlaPutU32(skb, id, Number(value));
    case 'u64':
      return nlaPutU64(skb, id, BigInt(value as string | number));
    case 'binary':
      return nlaPut(skb, id, Buffer.from(value as number[]));
  }
}

/* A reply's attributes in typed form; attributes the uapi does not know are left out. */
function decodeTyped(msg: Buffer): NlMsg {
  const out: NlMsg = [];
  const start = NLMSG_HDRLEN + GENL_HDRLEN;
  for (const a of nlaWalk(msg, start, msg.length - start).attrs) {
    const name = vdpaAttrName(a.type);
    if (!name) continue;
    switch (VDPA_ATTR_WIRE[name].type) {
      case 'string':
        out.push([name, nlaGetString(a)]);
        break;
      case 'u8':
        out.push([name, a.payload.readUInt8(0)]);
        break;
      case 'u16':
        out.push([name, nlaGetU16(a)]);
        break;
      case 'u32':
        out.push([name, nlaGetU32(a)]);
        break;
      case 'u64':
        out.push([name, nlaGetU64(a).toString(10)]);
        break;
      case 'binary':
        out.push([name, [...a.payload]]);
        break;
    }
  }
  return out;
}

/* NLMSGERR_ATTR_MSG of an ack or NLMSG_DONE, if any. */
function extackMsg(msg: Buffer, tlvStart: number): string | undefined {
  if (tlvStart > msg.length) return undefined;
  const a = nlaWalk(msg, tlvStart, msg.length - tlvStart).attrs.find((x) => x.type === NlmsgerrAttr.MSG);
  return a ? nlaGetString(a) : undefined;
}

/* The errno a netlink ack carries, as the KernelError the model would have thrown. */
function ackError(error: number, msg: string | undefined): KernelError {
  return new KernelError(errnoName(-error) ?? 'EIO', msg);
}

/* Port ids for the typed path's sockets: autobind's rover, -4097 downward. */
function typedPortid(k: Kernel): number {
  const rover = k.global('vdpa_netlink_typed', () => ({ next: -4097 }));
  return rover.next-- >>> 0;
}

/*
 * The "vdpa" family asked through the wire format, typed: `attrs` become a
 * request as iproute2 6.1 builds it (NLM_F_REQUEST | NLM_F_ACK, NLM_F_DUMP
 * when a show names no object), sent by a socket opened by `cred` with
 * NETLINK_CAP_ACK and NETLINK_EXT_ACK, and the datagrams that come back are
 * read as iproute2 reads them: replies, an ack, or an error with its extack.
 */
export function vdpaGenl(k: Kernel, cmd: VdpaCmd, attrs: NlMsg, cred: Readonly<Cred> = ROOT_CRED): MaybeWait<GenlReply> {
  const family = genlFamilyFindByName(k, VDPA_GENL_NAME);
  if (!family) fail('ENOENT');
  const dumpKey = DUMP_KEY[cmd];
  const dump = dumpKey !== undefined && !attrs.some(([n]) => n === dumpKey);
  const portid = typedPortid(k);
  const seq = 1;

  const req = new SkBuff(NLMSG_HDRLEN + GENL_HDRLEN + 4096);
  const nlh = nlmsgPut(req, portid, seq, family.id, GENL_HDRLEN, NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0));
  req.data.writeUInt8(cmd, nlh + NLMSG_HDRLEN);
  for (const [name, value] of attrs) putTyped(req, name, value);
  nlmsgEnd(req, nlh);

  const datagrams: Buffer[] = [];
  const sk = new NetlinkSock(k, NETLINK_GENERIC, portid, cred, (d) => datagrams.push(d));
  sk.capAck = true;
  sk.extAck = true;
  return after(netlinkSendmsg(sk, req.bytes()), () => {
    netlinkDumpAll(sk);
    const reply: GenlReply = { msgs: [] };
    for (const d of datagrams) {
      for (const { hdr, msg } of nlmsgWalk(d)) {
        if (hdr.type === family.id) reply.msgs.push(decodeTyped(msg));
        else if (hdr.type === NLMSG_ERROR) {
          const error = msg.readInt32LE(NLMSG_HDRLEN);
          const text = extackMsg(msg, NLMSG_HDRLEN + NLMSGERR_SIZE);
          if (error) throw ackError(error, text);
          if (text) reply.warning = text;
        } else if (hdr.type === NLMSG_DONE) {
          const error = msg.readInt32LE(NLMSG_HDRLEN);
          if (error < 0) throw ackError(error, extackMsg(msg, NLMSG_HDRLEN + 4));
        }
      }
    }
    return reply;
  });
}
