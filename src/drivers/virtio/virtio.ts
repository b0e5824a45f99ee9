/*
 * drivers/virtio/virtio.c: the virtio bus, virtio devices and the driver
 * probe that negotiates features with the device.
 */
import createDebug from 'debug';
import { after, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import { Ida } from '../../kernel/ida';
import { roAttr } from '../../fs/sysfs';
import { Device, deviceAdd, deviceDel } from '../base/core';
import { BusType, busAddDriver, busRegister, busRemoveDriver, busUnregister } from '../base/bus';
import { DeviceDriver } from '../base/driver';

const trace = createDebug('vdpafs:virtio');

export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
export const VIRTIO_CONFIG_S_DRIVER = 2;
export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;
export const VIRTIO_CONFIG_S_FAILED = 0x80;
export const VIRTIO_F_VERSION_1 = 32n;
export const VIRTIO_F_ACCESS_PLATFORM = 33n;
/* Bits the core itself handles (transport features 28..41). */
export const VIRTIO_TRANSPORT_F_START = 28n;
export const VIRTIO_TRANSPORT_F_END = 42n;
/* Newest kernels show 128 feature bits in sysfs (VIRTIO_FEATURES_MAX). */
export const VIRTIO_FEATURES_MAX = 128;
export const VIRTIO_DEV_ANY_ID = 0xffffffff;

/* struct virtio_config_ops: what a transport (virtio_vdpa) provides. */
export interface VirtioConfigOps {
  getStatus(): number;
  setStatus(status: number): void;
  reset(): void;
  getFeatures(): bigint;
  /* Pass dev.features to the device; may refuse (throw). */
  finalizeFeatures(features: bigint): void;
  getConfig(offset: number, len: number): Buffer;
  setConfig(offset: number, buf: Buffer): void;
  generation(): number;
}

export class VirtioDevice extends Device {
  index = -1;
  /* Negotiated features (dev->features), what sysfs `features` shows. */
  features = 0n;
  /* Per-driver state, e.g. virtio_net's netdev. */
  priv: unknown = null;

  constructor(
    kernel: Kernel,
    readonly config: VirtioConfigOps,
    readonly id: { device: number; vendor: number },
  ) {
    super(kernel, '');
  }

  addStatus(bit: number): void {
    this.config.setStatus(this.config.getStatus() | bit);
  }
}

export interface VirtioDeviceId {
  device: number;
  vendor: number;
}

export class VirtioDriver extends DeviceDriver {
  constructor(
    name: string,
    owner: string,
    readonly idTable: VirtioDeviceId[],
    readonly featureTable: bigint[],
    readonly vops: {
      probe(vdev: VirtioDevice): void;
      remove(vdev: VirtioDevice): MaybeWait<void>;
      validate?(vdev: VirtioDevice): void;
    },
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
    if (id.device === v.id.device && (id.vendor === VIRTIO_DEV_ANY_ID || id.vendor === v.id.vendor)) return 1;
  }
  return 0;
}

/*
 * virtio_dev_probe(): DRIVER, negotiate, FEATURES_OK (and re-read it: a
 * device may refuse), the driver's probe, then DRIVER_OK. On failure the
 * FAILED bit is set and the error goes to the caller.
 */
function virtioDevProbe(dev: Device, drv: DeviceDriver): void {
  const v = dev as VirtioDevice;
  const d = drv as VirtioDriver;
  v.addStatus(VIRTIO_CONFIG_S_DRIVER);
  try {
    const deviceFeatures = v.config.getFeatures();
    let driverFeatures = 0n;
    for (const bit of d.featureTable) driverFeatures |= 1n << bit;
    /* Transport features are the core's business: accept what the device offers. */
    for (let b = VIRTIO_TRANSPORT_F_START; b < VIRTIO_TRANSPORT_F_END; b++) driverFeatures |= 1n << b;
    v.features = deviceFeatures & driverFeatures;
    d.vops.validate?.(v);
    v.config.finalizeFeatures(v.features);
    if (v.features & (1n << VIRTIO_F_VERSION_1)) {
      v.addStatus(VIRTIO_CONFIG_S_FEATURES_OK);
      if (!(v.config.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK)) {
        /* virtio_features_ok(): dev_err() prefixes driver and device names. */
        v.kernel.log.kmsg('err', `${d.name} ${v.name}: virtio: device refuses features: ${v.config.getStatus().toString(16)}`);
        fail('ENODEV');
      }
    }
    d.vops.probe(v);
    if (!(v.config.getStatus() & VIRTIO_CONFIG_S_DRIVER_OK)) v.addStatus(VIRTIO_CONFIG_S_DRIVER_OK);
  } catch (e) {
    v.addStatus(VIRTIO_CONFIG_S_FAILED);
    v.features = 0n;
    throw e;
  }
}

/* virtio_dev_remove(): the driver lets go, the device is reset to ACKNOWLEDGE. */
function virtioDevRemove(dev: Device, drv: DeviceDriver): MaybeWait<void> {
  const v = dev as VirtioDevice;
  const r = (drv as VirtioDriver).vops.remove(v);
  const finish = () => {
    v.config.reset();
    v.features = 0n;
    v.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE);
  };
  return after(r, finish);
}

export function virtioInit(k: Kernel): void {
  const bus = new BusType(k, 'virtio', {
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

function virtioAttrs(dev: Device) {
  const v = dev as VirtioDevice;
  const hex4 = (n: number) => `0x${n.toString(16).padStart(4, '0')}\n`;
  return [
    roAttr('device', hex4(v.id.device)),
    roAttr('vendor', hex4(v.id.vendor)),
    roAttr('status', () => `0x${v.config.getStatus().toString(16).padStart(8, '0')}\n`),
    roAttr('modalias', `${modalias(v)}\n`),
    roAttr('features', () => {
      let s = '';
      for (let i = 0; i < VIRTIO_FEATURES_MAX; i++) s += (v.features >> BigInt(i)) & 1n ? '1' : '0';
      return s + '\n';
    }),
  ];
}

/* register_virtio_device(): name from the IDA, reset, ACKNOWLEDGE, add. */
export function registerVirtioDevice(v: VirtioDevice): void {
  const g = virtioGlobals(v.kernel);
  v.index = g.ida.alloc();
  v.name = `virtio${v.index}`;
  v.bus = g.bus;
  v.groups.push(virtioAttrs);
  v.config.reset();
  v.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE);
  trace('register %s', v.name);
  deviceAdd(v);
}

export function unregisterVirtioDevice(v: VirtioDevice): MaybeWait<void> {
  const g = virtioGlobals(v.kernel);
  const r = deviceDel(v);
  return after(r, () => g.ida.free(v.index));
}

export function registerVirtioDriver(k: Kernel, drv: VirtioDriver): void {
  busAddDriver(virtioGlobals(k).bus, drv);
}

export function unregisterVirtioDriver(drv: VirtioDriver): MaybeWait<void> {
  return busRemoveDriver(drv);
}
