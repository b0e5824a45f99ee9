/*
 * drivers/vdpa/vdpa.c, netlink half: the "vdpa" genl family's handlers.
 * Attribute order, error codes and extack messages follow the kernel, since
 * iproute2 prints them verbatim.
 */
import { after, MaybeWait } from '../../kernel/completion';
import { fail, KernelError } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import { NlMsg, NlValue, nlGet, nlU64, VdpaAttrName, VdpaCmd, VIRTIO_ID_NET } from '../../include/uapi/vdpa';
import { BIT, VIRTIO_CONFIG_S_FEATURES_OK, virtioHasFeature } from '../../include/uapi/virtio_config';
import {
  VIRTIO_NET_CFG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_STATUS,
} from '../../include/uapi/virtio_net';
import { VdpaDevice, VdpaDevSetConfig, vdpaCore, vdpaFindDevice, VdpaMgmtDev } from './vdpa';

/* Attribute numbers, for config masks (BIT_ULL(VDPA_ATTR_...)). */
export const VDPA_ATTR_DEV_NET_CFG_MACADDR = 10;
export const VDPA_ATTR_DEV_NET_CFG_MAX_VQP = 12;
export const VDPA_ATTR_DEV_NET_CFG_MTU = 13;
export const VDPA_ATTR_DEV_FEATURES = 20;
const NET_ATTRS = [VDPA_ATTR_DEV_NET_CFG_MACADDR, VDPA_ATTR_DEV_NET_CFG_MAX_VQP, VDPA_ATTR_DEV_NET_CFG_MTU];


export interface GenlReply {
  msgs: NlMsg[];
  /* An extack message on success is a warning (iproute2: "Warning: ..."). */
  warning?: string;
}

const str = (m: NlMsg, a: VdpaAttrName) => nlGet(m, a) as string | undefined;
const num = (m: NlMsg, a: VdpaAttrName) => nlGet(m, a) as number | undefined;
const hexMask = (bits: Iterable<number>) => '0x' + [...bits].reduce((m, b) => m | (1n << BigInt(b)), 0n).toString(16);

/* The family's dispatcher: doit for a named object, dumpit otherwise. */
export function vdpaGenl(k: Kernel, cmd: VdpaCmd, attrs: NlMsg): MaybeWait<GenlReply> {
  switch (cmd) {
    case VdpaCmd.MGMTDEV_GET:
      return { msgs: mgmtdevGet(k, attrs) };
    case VdpaCmd.DEV_NEW:
      return devAdd(k, attrs);
    case VdpaCmd.DEV_DEL:
      return after(devDel(k, attrs), (): GenlReply => ({ msgs: [] }));
    case VdpaCmd.DEV_GET:
      return { msgs: devGet(k, attrs) };
    case VdpaCmd.DEV_CONFIG_GET:
      return { msgs: devConfigGet(k, attrs) };
    case VdpaCmd.DEV_VSTATS_GET:
      return { msgs: [devVstatsGet(k, attrs)] };
    case VdpaCmd.DEV_ATTR_SET:
      return devAttrSet(k, attrs);
    default:
      fail('EOPNOTSUPP');
  }
}

/* vdpa_mgmtdev_get_from_attr(): bus name optional, device name required. */
function findMgmtdev(k: Kernel, attrs: NlMsg): VdpaMgmtDev {
  const devName = str(attrs, 'VDPA_ATTR_MGMTDEV_DEV_NAME');
  if (devName === undefined) fail('EINVAL');
  const busName = str(attrs, 'VDPA_ATTR_MGMTDEV_BUS_NAME') ?? null;
  const mdev = vdpaCore(k).mgmtdevs.find((m) => m.device.name === devName && m.busName === busName);
  if (!mdev) fail('ENODEV');
  return mdev;
}

function mgmtdevFill(mdev: VdpaMgmtDev): NlMsg {
  const msg: NlMsg = [];
  if (mdev.busName) msg.push(['VDPA_ATTR_MGMTDEV_BUS_NAME', mdev.busName]);
  msg.push(['VDPA_ATTR_MGMTDEV_DEV_NAME', mdev.device.name]);
  const classes = mdev.classes.reduce((m, id) => m | (1n << BigInt(id)), 0n);
  msg.push(['VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES', nlU64(classes)]);
  msg.push(['VDPA_ATTR_DEV_MGMTDEV_MAX_VQS', mdev.maxSupportedVqs]);
  msg.push(['VDPA_ATTR_DEV_SUPPORTED_FEATURES', nlU64(mdev.supportedFeatures)]);
  return msg;
}

function mgmtdevGet(k: Kernel, attrs: NlMsg): NlMsg[] {
  if (str(attrs, 'VDPA_ATTR_MGMTDEV_DEV_NAME') === undefined) return vdpaCore(k).mgmtdevs.map(mgmtdevFill);
  try {
    return [mgmtdevFill(findMgmtdev(k, attrs))];
  } catch (e) {
    if (e instanceof KernelError) throw new KernelError(e.errno, 'Fail to find the specified mgmt device');
    throw e;
  }
}

/* vdpa_nl_cmd_dev_add_set_doit() */
function devAdd(k: Kernel, attrs: NlMsg): GenlReply {
  const name = str(attrs, 'VDPA_ATTR_DEV_NAME');
  if (name === undefined) fail('EINVAL');
  const config: VdpaDevSetConfig = { mask: new Set() };
  const mac = nlGet(attrs, 'VDPA_ATTR_DEV_NET_CFG_MACADDR') as number[] | undefined;
  if (mac) {
    config.mac = Buffer.from(mac);
    config.mask.add(VDPA_ATTR_DEV_NET_CFG_MACADDR);
  }
  const mtu = num(attrs, 'VDPA_ATTR_DEV_NET_CFG_MTU');
  if (mtu !== undefined) {
    config.mtu = mtu;
    config.mask.add(VDPA_ATTR_DEV_NET_CFG_MTU);
  }
  const maxVqp = num(attrs, 'VDPA_ATTR_DEV_NET_CFG_MAX_VQP');
  if (maxVqp !== undefined) {
    if (maxVqp === 0) fail('EINVAL', 'At least one pair of VQs is required');
    config.maxVqPairs = maxVqp;
    config.mask.add(VDPA_ATTR_DEV_NET_CFG_MAX_VQP);
  }
  const features = nlGet(attrs, 'VDPA_ATTR_DEV_FEATURES') as string | undefined;
  if (features !== undefined) {
    const f = BigInt(features);
    config.deviceFeatures = f;
    let missing = 0n;
    const has = (bit: number) => virtioHasFeature(f, bit);
    if (mac && !has(VIRTIO_NET_F_MAC)) missing |= BIT(VIRTIO_NET_F_MAC);
    if (mtu !== undefined && !has(VIRTIO_NET_F_MTU)) missing |= BIT(VIRTIO_NET_F_MTU);
    if (maxVqp !== undefined && maxVqp > 1 && !has(VIRTIO_NET_F_MQ)) missing |= BIT(VIRTIO_NET_F_MQ);
    if (missing) fail('EINVAL', `Missing features 0x${missing.toString(16)} for provided attributes`);
    config.mask.add(VDPA_ATTR_DEV_FEATURES);
  }
  let mdev: VdpaMgmtDev;
  try {
    mdev = findMgmtdev(k, attrs);
  } catch (e) {
    if (e instanceof KernelError) throw new KernelError(e.errno, 'Fail to find the specified management device');
    throw e;
  }
  const unsupported = [...config.mask].filter((b) => !mdev.configAttrMask.has(b));
  if (unsupported.length) fail('EOPNOTSUPP', `Some provided attributes are not supported: ${hexMask(unsupported)}`);
  const netAttrs = [...config.mask].some((b) => NET_ATTRS.includes(b));
  if (netAttrs && !mdev.classes.includes(VIRTIO_ID_NET)) {
    fail('EINVAL', 'Network class attributes provided on unsupported management device');
  }
  mdev.devAdd(name, config);
  return { msgs: [] };
}

function findManagedDevice(k: Kernel, attrs: NlMsg, unmanagedMsg?: string): VdpaDevice {
  const name = str(attrs, 'VDPA_ATTR_DEV_NAME');
  if (name === undefined) fail('EINVAL');
  const vdev = vdpaFindDevice(k, name);
  if (!vdev) fail('ENODEV', 'device not found');
  if (!vdev.mdev) fail('EINVAL', unmanagedMsg);
  return vdev;
}

function devDel(k: Kernel, attrs: NlMsg): MaybeWait<void> {
  const vdev = findManagedDevice(k, attrs, 'Only user created device can be deleted by user');
  return vdev.mdev!.devDel(vdev);
}

function devFill(vdev: VdpaDevice): NlMsg {
  const msg: NlMsg = [['VDPA_ATTR_DEV_NAME', vdev.name]];
  const m = vdev.mdev!;
  if (m.busName) msg.push(['VDPA_ATTR_MGMTDEV_BUS_NAME', m.busName]);
  msg.push(['VDPA_ATTR_MGMTDEV_DEV_NAME', m.device.name]);
  msg.push(['VDPA_ATTR_DEV_ID', vdev.config.getDeviceId()]);
  msg.push(['VDPA_ATTR_DEV_VENDOR_ID', vdev.config.getVendorId()]);
  msg.push(['VDPA_ATTR_DEV_MAX_VQS', vdev.nvqs]);
  msg.push(['VDPA_ATTR_DEV_MAX_VQ_SIZE', vdev.config.getVqNumMax()]);
  msg.push(['VDPA_ATTR_DEV_MIN_VQ_SIZE', vdev.config.getVqNumMin()]);
  return msg;
}

function managedDevices(k: Kernel): VdpaDevice[] {
  return (vdpaCore(k).bus.devices as VdpaDevice[]).filter((d) => d.mdev);
}

function devGet(k: Kernel, attrs: NlMsg): NlMsg[] {
  if (str(attrs, 'VDPA_ATTR_DEV_NAME') === undefined) return managedDevices(k).map(devFill);
  return [devFill(findManagedDevice(k, attrs))];
}

/* Read a little-endian field of the device's config space. */
function cfg(vdev: VdpaDevice, off: number, len: number): Buffer {
  return vdev.config.getConfig(off, len);
}

/* vdpa_dev_net_mq_config_fill(): max_vqp only with MQ or RSS. */
function netMqFill(msg: NlMsg, vdev: VdpaDevice, features: bigint): void {
  if (!virtioHasFeature(features, VIRTIO_NET_F_MQ) && !virtioHasFeature(features, VIRTIO_NET_F_RSS)) return;
  msg.push(['VDPA_ATTR_DEV_NET_CFG_MAX_VQP', cfg(vdev, VIRTIO_NET_CFG.MAX_VQ_PAIRS, 2).readUInt16LE(0)]);
}

/* vdpa_dev_config_fill() + vdpa_dev_net_config_fill() */
function devConfigFill(vdev: VdpaDevice): NlMsg {
  const c = vdev.config;
  const msg: NlMsg = [
    ['VDPA_ATTR_DEV_NAME', vdev.name],
    ['VDPA_ATTR_DEV_ID', c.getDeviceId()],
  ];
  if (c.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK) {
    msg.push(['VDPA_ATTR_DEV_NEGOTIATED_FEATURES', nlU64(c.getDriverFeatures())]);
  }
  if (c.getDeviceId() === VIRTIO_ID_NET) {
    const f = c.getDeviceFeatures();
    msg.push(['VDPA_ATTR_DEV_FEATURES', nlU64(f)]);
    if (virtioHasFeature(f, VIRTIO_NET_F_MTU)) msg.push(['VDPA_ATTR_DEV_NET_CFG_MTU', cfg(vdev, VIRTIO_NET_CFG.MTU, 2).readUInt16LE(0)]);
    if (virtioHasFeature(f, VIRTIO_NET_F_MAC)) msg.push(['VDPA_ATTR_DEV_NET_CFG_MACADDR', [...cfg(vdev, VIRTIO_NET_CFG.MAC, 6)]]);
    if (virtioHasFeature(f, VIRTIO_NET_F_STATUS)) msg.push(['VDPA_ATTR_DEV_NET_STATUS', cfg(vdev, VIRTIO_NET_CFG.STATUS, 2).readUInt16LE(0)]);
    netMqFill(msg, vdev, f);
  }
  return msg;
}

function devConfigGet(k: Kernel, attrs: NlMsg): NlMsg[] {
  if (str(attrs, 'VDPA_ATTR_DEV_NAME') === undefined) return managedDevices(k).map(devConfigFill);
  return [devConfigFill(findManagedDevice(k, attrs))];
}

/* vdpa_nl_cmd_dev_stats_get_doit() + vdpa_dev_vendor_stats_fill() */
function devVstatsGet(k: Kernel, attrs: NlMsg): NlMsg {
  if (str(attrs, 'VDPA_ATTR_DEV_NAME') === undefined) fail('EINVAL');
  const index = num(attrs, 'VDPA_ATTR_DEV_QUEUE_INDEX');
  if (index === undefined) fail('EINVAL');
  const vdev = findManagedDevice(k, attrs, 'unmanaged vdpa device');
  const c = vdev.config;
  const msg: NlMsg = [
    ['VDPA_ATTR_DEV_NAME', vdev.name],
    ['VDPA_ATTR_DEV_ID', c.getDeviceId()],
  ];
  if (c.getDeviceId() !== VIRTIO_ID_NET) fail('EOPNOTSUPP');
  if (index > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX) fail('ERANGE', 'queue index exceeds max value');
  if (!(c.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK)) fail('EAGAIN', 'feature negotiation not complete');
  const features = c.getDriverFeatures();
  msg.push(['VDPA_ATTR_DEV_NEGOTIATED_FEATURES', nlU64(features)]);
  netMqFill(msg, vdev, features);
  msg.push(['VDPA_ATTR_DEV_QUEUE_INDEX', index]);
  if (!c.getVendorVqStats) fail('EOPNOTSUPP');
  for (const [name, value] of c.getVendorVqStats(index)) {
    msg.push(['VDPA_ATTR_DEV_VENDOR_ATTR_NAME', name]);
    msg.push(['VDPA_ATTR_DEV_VENDOR_ATTR_VALUE', nlU64(value)]);
  }
  return msg;
}

/* is_valid_ether_addr(): not multicast, not all zeros. */
function isValidEtherAddr(mac: Buffer): boolean {
  return mac.length === 6 && (mac[0] & 1) === 0 && mac.some((b) => b !== 0);
}

/* vdpa_nl_cmd_dev_attr_set_doit(): only the MAC, only on net mgmtdevs. */
function devAttrSet(k: Kernel, attrs: NlMsg): GenlReply {
  const vdev = findManagedDevice(k, attrs, 'unmanaged vdpa device');
  const mdev = vdev.mdev!;
  if (!mdev.classes.includes(VIRTIO_ID_NET)) {
    /* err stays 0: the message goes back as a warning. */
    return { msgs: [], warning: `${mdev.device.name} device not supported` };
  }
  const mac = nlGet(attrs, 'VDPA_ATTR_DEV_NET_CFG_MACADDR') as NlValue | undefined;
  if (!mac) fail('EOPNOTSUPP');
  const buf = Buffer.from(mac as number[]);
  if (!isValidEtherAddr(buf)) fail('EOPNOTSUPP', 'Invalid MAC address');
  if (!mdev.devSetAttr) fail('EOPNOTSUPP', 'Operation not supported by the device.');
  mdev.devSetAttr(vdev, { mask: new Set([VDPA_ATTR_DEV_NET_CFG_MACADDR]), mac: buf });
  return { msgs: [] };
}
