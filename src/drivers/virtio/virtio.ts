/*
 * drivers/virtio/virtio.c: the virtio bus, virtio devices and the driver
 * probe that negotiates features with the device.
 *
 * virtio_dev_probe() is the kernel's sequence: DRIVER; the device's
 * features; the driver's feature table (the legacy one when the device
 * lacks VERSION_1); transport features kept for the transport to judge;
 * finalize_features (the device may refuse: an error); validate; FEATURES_OK
 * and its re-read; the driver's probe (which sets the queues up and may
 * set DRIVER_OK itself); DRIVER_OK. Any failure adds FAILED and goes back to
 * the caller, who logs it. Like Linux, `features` keeps what was
 * negotiated last, after a failed probe or an unbind too.
 */
import createDebug from 'debug';
import { after, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import { Ida } from '../../kernel/ida';
import { roAttr } from '../../fs/sysfs';
import { Device, deviceAdd, deviceDel } from '../base/core';
import { BusType, busRegister, busUnregister } from '../base/bus';
import { DeviceDriver, driverRegister, driverUnregister } from '../base/driver';
import { VirtqueueSplit, VirtqueueSplitOptions } from './virtio_ring';
import {
  BIT,
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FAILED,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_F_VERSION_1,
  VIRTIO_TRANSPORT_F_END,
  VIRTIO_TRANSPORT_F_START,
} from '../../include/uapi/virtio_config';

const trace = createDebug('vdpafs:virtio');

/*
 * dev->features is a u64 in 6.12: 64 feature bits, and `features` shows
 * 64 characters (VIRTIO_FEATURES_MAX and 128 bits came in 6.18).
 */
export const VIRTIO_FEATURES_MAX = 64;
export const VIRTIO_DEV_ANY_ID = 0xffffffff;

/* What find_vqs is asked for per queue (struct virtqueue_info). A null name skips the slot. */
export interface VirtqueueInfo {
  name: string | null;
  callback: ((vq: Virtqueue) => void) | null;
}

/* struct virtqueue: the split ring plus who it belongs to and its interrupt callback. */
export class Virtqueue<T = unknown> extends VirtqueueSplit<T> {
  constructor(
    opts: VirtqueueSplitOptions,
    readonly name: string,
    readonly vdev: VirtioDevice,
    readonly callback: ((vq: Virtqueue) => void) | null,
  ) {
    super(opts);
  }
}

/*
 * vring_interrupt(): the device used some buffers (or says so). Nothing new
 * is not ours; a broken ring is ignored; otherwise the driver's callback.
 */
export function vringInterrupt(vq: Virtqueue): boolean {
  if (!vq.moreUsed()) return false;
  if (vq.broken) return true;
  vq.callback?.(vq);
  return true;
}

/* struct virtio_config_ops: what a transport (virtio_vdpa) provides. */
export interface VirtioConfigOps {
  get(offset: number, len: number): Buffer;
  set(offset: number, buf: Buffer): void;
  generation(): number;
  getStatus(): number;
  setStatus(status: number): void;
  reset(): void;
  findVqs(vdev: VirtioDevice, infos: VirtqueueInfo[]): Array<Virtqueue | null>;
  delVqs(vdev: VirtioDevice): void;
  getFeatures(): bigint;
  /* Pass vdev.features to the device; throws when the device refuses them. */
  finalizeFeatures(vdev: VirtioDevice): void;
  busName(): string;
}

export class VirtioDevice extends Device {
  index = -1;
  /* dev->features: negotiated, what sysfs `features` shows. */
  features = 0n;
  /* vdev->priv: the driver's state (virtnet_info, virtio_blk). */
  priv: unknown = null;
  /* vdev->vqs, as find_vqs made them. */
  vqs: Virtqueue[] = [];
  configCoreEnabled = false;
  configDriverDisabled = false;
  configChangePending = false;

  constructor(
    kernel: Kernel,
    readonly config: VirtioConfigOps,
    readonly id: { device: number; vendor: number },
  ) {
    super(kernel, '');
  }

  addStatus(status: number): void {
    this.config.setStatus(this.config.getStatus() | status);
  }

  hasFeature(fbit: number): boolean {
    return (this.features & BIT(fbit)) !== 0n;
  }

  clearFeature(fbit: number): void {
    this.features &= ~BIT(fbit);
  }

  /* virtio_cread_bytes(): re-read until the generation is stable. */
  cread(offset: number, len: number): Buffer {
    for (;;) {
      const gen = this.config.generation();
      const b = this.config.get(offset, len);
      if (this.config.generation() === gen) return b;
    }
  }

  cread8(offset: number): number {
    return this.cread(offset, 1).readUInt8(0);
  }
  cread16(offset: number): number {
    return this.cread(offset, 2).readUInt16LE(0);
  }
  cread32(offset: number): number {
    return this.cread(offset, 4).readUInt32LE(0);
  }
  cread64(offset: number): bigint {
    return this.cread(offset, 8).readBigUInt64LE(0);
  }

  /* dev_err()/dev_info() prefix: "<driver or bus> <device>: ". */
  logPrefix(): string {
    return `${this.driver ? this.driver.name : 'virtio'} ${this.name}: `;
  }
}

export interface VirtioDeviceId {
  device: number;
  vendor: number;
}

export interface VirtioDriverOps {
  probe(vdev: VirtioDevice): void;
  remove(vdev: VirtioDevice): MaybeWait<void>;
  validate?(vdev: VirtioDevice): void;
  configChanged?(vdev: VirtioDevice): void;
}

export class VirtioDriver extends DeviceDriver {
  constructor(
    name: string,
    owner: string,
    readonly idTable: VirtioDeviceId[],
    /* Feature bit numbers for VERSION_1 devices, and for legacy ones (defaults to the same). */
    readonly featureTable: number[],
    readonly vops: VirtioDriverOps,
    readonly featureTableLegacy: number[] | null = null,
  ) {
    super(name, owner);
  }
}

interface VirtioGlobals {
  bus: BusType;
  ida: Ida;
}

function virtioGlobals(k: Kernel): VirtioGlobals {
  const g = k.peekGlobal<VirtioGlobals>('virtio');
  if (!g) fail('ENODEV', 'virtio module not loaded');
  return g;
}

function modalias(v: VirtioDevice): string {
  const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `virtio:d${hex8(v.id.device)}v${hex8(v.id.vendor)}`;
}

/* virtio_dev_match() */
function virtioDevMatch(dev: Device, drv: DeviceDriver): number {
  const v = dev as VirtioDevice;
  for (const id of (drv as VirtioDriver).idTable) {
    if (id.device !== v.id.device && id.device !== VIRTIO_DEV_ANY_ID) continue;
    if (id.vendor === VIRTIO_DEV_ANY_ID || id.vendor === v.id.vendor) return 1;
  }
  return 0;
}

function tableMask(table: number[]): bigint {
  let m = 0n;
  for (const f of table) if (f < VIRTIO_FEATURES_MAX) m |= BIT(f);
  return m;
}

/* virtio_features_ok(): FEATURES_OK, then read it back; a device may clear it. */
function virtioFeaturesOk(v: VirtioDevice): void {
  if (!v.hasFeature(VIRTIO_F_VERSION_1)) return;
  v.addStatus(VIRTIO_CONFIG_S_FEATURES_OK);
  const status = v.config.getStatus();
  if (!(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
    v.kernel.log.kmsg('err', `${v.logPrefix()}virtio: device refuses features: ${status.toString(16)}`);
    fail('ENODEV');
  }
}

/* virtio_dev_probe() */
function virtioDevProbe(dev: Device, drv: DeviceDriver): void {
  const v = dev as VirtioDevice;
  const d = drv as VirtioDriver;
  v.addStatus(VIRTIO_CONFIG_S_DRIVER);
  try {
    const deviceFeatures = v.config.getFeatures();
    const driverFeatures = tableMask(d.featureTable);
    const driverFeaturesLegacy = d.featureTableLegacy ? tableMask(d.featureTableLegacy) : driverFeatures & 0xffff_ffff_ffff_ffffn;
    if (deviceFeatures & BIT(VIRTIO_F_VERSION_1)) v.features = driverFeatures & deviceFeatures;
    else v.features = driverFeaturesLegacy & deviceFeatures;
    /* Transport features always preserved to pass to finalize_features. */
    for (let i = VIRTIO_TRANSPORT_F_START; i < VIRTIO_TRANSPORT_F_END; i++) if (deviceFeatures & BIT(i)) v.features |= BIT(i);
    v.config.finalizeFeatures(v);
    if (d.vops.validate) {
      const before = v.features;
      d.vops.validate(v);
      /* Did validation change any features? Then write them again. */
      if (v.features !== before) v.config.finalizeFeatures(v);
    }
    virtioFeaturesOk(v);
    d.vops.probe(v);
    /* If probe didn't do it, mark device DRIVER_OK ourselves. */
    if (!(v.config.getStatus() & VIRTIO_CONFIG_S_DRIVER_OK)) virtioDeviceReady(v);
    virtioConfigCoreEnable(v);
  } catch (e) {
    v.addStatus(VIRTIO_CONFIG_S_FAILED);
    throw e;
  }
}

/* virtio_dev_remove(): the driver lets go (and resets the device), then ACKNOWLEDGE again. */
function virtioDevRemove(dev: Device, drv: DeviceDriver): MaybeWait<void> {
  const v = dev as VirtioDevice;
  virtioConfigCoreDisable(v);
  const r = (drv as VirtioDriver).vops.remove(v);
  return after(r, () => {
    if (v.config.getStatus()) trace('%s: driver did not reset the device', v.name);
    v.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE);
  });
}

/* virtio_device_ready(): DRIVER_OK; the queues are live from here on. */
export function virtioDeviceReady(v: VirtioDevice): void {
  const status = v.config.getStatus();
  if (status & VIRTIO_CONFIG_S_DRIVER_OK) fail('EINVAL', 'DRIVER_OK already set');
  v.config.setStatus(status | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* virtio_reset_device() */
export function virtioResetDevice(v: VirtioDevice): void {
  v.config.reset();
}

/* virtio_find_vqs() */
export function virtioFindVqs(v: VirtioDevice, infos: VirtqueueInfo[]): Array<Virtqueue | null> {
  return v.config.findVqs(v, infos);
}

/* __virtio_config_changed(): held back while the core or the driver has it disabled. */
function virtioConfigChangedLocked(v: VirtioDevice): void {
  const drv = v.driver as VirtioDriver | null;
  if (!v.configCoreEnabled || v.configDriverDisabled) v.configChangePending = true;
  else if (drv?.vops.configChanged) {
    drv.vops.configChanged(v);
    v.configChangePending = false;
  }
}

/* virtio_config_changed(): the device's config interrupt. */
export function virtioConfigChanged(v: VirtioDevice): void {
  virtioConfigChangedLocked(v);
}

export function virtioConfigDriverDisable(v: VirtioDevice): void {
  v.configDriverDisabled = true;
}

export function virtioConfigDriverEnable(v: VirtioDevice): void {
  v.configDriverDisabled = false;
  if (v.configChangePending) virtioConfigChangedLocked(v);
}

function virtioConfigCoreDisable(v: VirtioDevice): void {
  v.configCoreEnabled = false;
}

function virtioConfigCoreEnable(v: VirtioDevice): void {
  v.configCoreEnabled = true;
  if (v.configChangePending) virtioConfigChangedLocked(v);
}

export function virtioInit(k: Kernel): void {
  const bus = new BusType(k, 'virtio', {
    devGroups: [virtioAttrs],
    match: virtioDevMatch,
    probe: virtioDevProbe,
    remove: virtioDevRemove,
    uevent: (dev) => [['MODALIAS', modalias(dev as VirtioDevice)]],
  });
  busRegister(bus);
  k.global<VirtioGlobals>('virtio', () => ({ bus, ida: new Ida() }));
}

export function virtioExit(k: Kernel): void {
  busUnregister(virtioGlobals(k).bus);
  k.dropGlobal('virtio');
}

/* virtio_dev_attrs: the bus's dev_groups. */
function virtioAttrs(dev: Device) {
  const v = dev as VirtioDevice;
  const hex4 = (n: number) => `0x${n.toString(16).padStart(4, '0')}\n`;
  return [
    roAttr('device', hex4(v.id.device)),
    roAttr('vendor', hex4(v.id.vendor)),
    roAttr('status', () => `0x${v.config.getStatus().toString(16).padStart(8, '0')}\n`),
    roAttr('modalias', `${modalias(v)}\n`),
    /* "We actually represent this as a bitstring": bit 0 first. */
    roAttr('features', () => {
      let s = '';
      for (let i = 0; i < VIRTIO_FEATURES_MAX; i++) s += (v.features >> BigInt(i)) & 1n ? '1' : '0';
      return s + '\n';
    }),
  ];
}

/* register_virtio_device(): name from the IDA, reset, ACKNOWLEDGE, add (which probes). */
export function registerVirtioDevice(v: VirtioDevice): void {
  const g = virtioGlobals(v.kernel);
  v.index = g.ida.alloc();
  v.name = `virtio${v.index}`;
  v.bus = g.bus;
  v.configDriverDisabled = false;
  v.configCoreEnabled = false;
  v.configChangePending = false;
  /* We always start by resetting the device, in case a previous driver messed it up. */
  virtioResetDevice(v);
  v.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE);
  trace('register %s', v.name);
  deviceAdd(v);
}

export function unregisterVirtioDevice(v: VirtioDevice): MaybeWait<void> {
  const g = virtioGlobals(v.kernel);
  const index = v.index;
  return after(deviceDel(v), () => g.ida.free(index));
}

/* The registered virtio device called `name` (virtio0...), if any. */
export function virtioFindDevice(k: Kernel, name: string): VirtioDevice | undefined {
  return k.peekGlobal<VirtioGlobals>('virtio')?.bus.devices.find((d) => d.name === name) as VirtioDevice | undefined;
}

export function registerVirtioDriver(k: Kernel, drv: VirtioDriver): void {
  driverRegister(virtioGlobals(k).bus, drv);
}

export function unregisterVirtioDriver(drv: VirtioDriver): MaybeWait<void> {
  return driverUnregister(drv);
}
