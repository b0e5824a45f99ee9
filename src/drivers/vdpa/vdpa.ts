/*
 * drivers/vdpa/vdpa.c: the vdpa bus, vdpa devices, management devices.
 *
 * Matching is trivial: with driver_override set only that driver matches,
 * otherwise every vdpa driver matches every device, and registration order
 * decides who gets a new device. There is no uevent callback, so no
 * MODALIAS and no module autoload.
 */
import createDebug from 'debug';
import { after, Completion, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import { attr } from '../../fs/sysfs';
import { kobjectCheckName, kobjectSetName } from '../../kernel/kobject';
import { Device, deviceAdd, deviceDel } from '../base/core';
import { BusType, busAddDriver, busRegister, busRemoveDriver, busUnregister } from '../base/bus';
import { DeviceDriver, driverOverrideShow, driverSetOverride } from '../base/driver';
import type { VdpaConfigOps } from './vdpa_config';
import { vdpaNlRegister, vdpaNlUnregister } from './vdpa_netlink';

const trace = createDebug('vdpafs:vdpa');

export class VdpaDevice extends Device {
  /* Set by `vdpa dev add`; devices a driver registers itself have none. */
  mdev: VdpaMgmtDev | null = null;
  /* True once the device has been through FEATURES_OK (vdpa_set_features). */
  featuresValid = false;

  constructor(
    kernel: Kernel,
    name: string,
    readonly config: VdpaConfigOps,
    readonly nvqs: number,
    readonly ngroups: number,
    readonly nas: number,
  ) {
    /* __vdpa_alloc_device(): dev_set_name(), so '/' becomes '!'. */
    super(kernel, kobjectSetName(name));
  }
}

/* vdpa_dev_set_config: what `vdpa dev add` asked for. mask holds attribute numbers. */
export interface VdpaDevSetConfig {
  mask: Set<number>;
  mac?: Buffer;
  mtu?: number;
  maxVqPairs?: number;
  deviceFeatures?: bigint;
}

/* struct vdpa_mgmt_dev: a parent that can create vdpa devices on request. */
export interface VdpaMgmtDev {
  device: Device;
  busName: string | null;
  /* virtio ids of the classes it can create (id_table). */
  classes: number[];
  /* Attribute numbers `vdpa dev add` may pass (config_attr_mask). */
  configAttrMask: Set<number>;
  maxSupportedVqs: number;
  supportedFeatures: bigint;
  devAdd(name: string, config: VdpaDevSetConfig): void;
  devDel(vdev: VdpaDevice): MaybeWait<void>;
  devSetAttr?(vdev: VdpaDevice, config: VdpaDevSetConfig): void;
}

export interface VdpaCore {
  bus: BusType;
  mgmtdevs: VdpaMgmtDev[];
  /* bus_find_device(vdpa_name_match) by name, in O(1) (a list walk made adding N devices O(N^2)). */
  byName: Map<string, VdpaDevice>;
}

export function vdpaCore(k: Kernel): VdpaCore {
  const core = k.peekGlobal<VdpaCore>('vdpa');
  if (!core) fail('ENODEV', 'vdpa module not loaded');
  return core;
}

/* vdpa_dev_match(): the override names the one driver; otherwise all match. */
function vdpaDevMatch(dev: Device, drv: DeviceDriver): number {
  if (dev.driverOverride !== null) return dev.driverOverride === drv.name ? 1 : 0;
  return 1;
}

/* vdpa_dev_probe(): refuse a device whose queue limits make no sense. */
function vdpaDevProbe(dev: Device, drv: DeviceDriver): void {
  const vdev = dev as VdpaDevice;
  const max = vdev.config.getVqNumMax();
  const min = vdev.config.getVqNumMin();
  if (max < min) fail('EINVAL');
  drv.ops.probe?.(dev);
}

function vdpaDevRemove(dev: Device, drv: DeviceDriver): MaybeWait<void> {
  return drv.ops.remove?.(dev);
}

/* module_init(vdpa_init) */
export function vdpaInit(k: Kernel): void {
  const bus = new BusType(k, 'vdpa', { match: vdpaDevMatch, probe: vdpaDevProbe, remove: vdpaDevRemove });
  busRegister(bus);
  k.global<VdpaCore>('vdpa', () => ({ bus, mgmtdevs: [], byName: new Map() }));
  vdpaNlRegister(k);
}

export function vdpaExit(k: Kernel): void {
  vdpaNlUnregister(k);
  busUnregister(vdpaCore(k).bus);
  k.dropGlobal('vdpa');
}

/* __vdpa_register_device(): names are unique on the bus (EEXIST), then device_add()'s kobject rules. */
export function vdpaRegisterDevice(vdev: VdpaDevice): void {
  const core = vdpaCore(vdev.kernel);
  if (core.byName.has(vdev.name)) fail('EEXIST');
  kobjectCheckName(vdev.name);
  vdev.bus = core.bus;
  vdev.groups.push((dev) => [
    attr('driver_override', {
      show: () => driverOverrideShow(dev),
      store: (buf) => driverSetOverride(dev, buf),
    }),
  ]);
  trace('register %s', vdev.name);
  deviceAdd(vdev);
  core.byName.set(vdev.name, vdev);
}

export function vdpaUnregisterDevice(vdev: VdpaDevice): MaybeWait<void> {
  trace('unregister %s', vdev.name);
  /* Gone for lookups at once, as device_del() takes it off the bus's list before it waits. */
  const core = vdpaCore(vdev.kernel);
  if (core.byName.get(vdev.name) === vdev) core.byName.delete(vdev.name);
  return deviceDel(vdev);
}

export function vdpaRegisterDriver(k: Kernel, drv: DeviceDriver): void {
  busAddDriver(vdpaCore(k).bus, drv);
}

export function vdpaUnregisterDriver(drv: DeviceDriver): MaybeWait<void> {
  return busRemoveDriver(drv);
}

export function vdpaMgmtdevRegister(k: Kernel, mdev: VdpaMgmtDev): void {
  vdpaCore(k).mgmtdevs.push(mdev);
}

/* vdpa_mgmtdev_unregister(): the mgmtdev goes, and every device it created. */
export function vdpaMgmtdevUnregister(k: Kernel, mdev: VdpaMgmtDev): MaybeWait<void> {
  const core = vdpaCore(k);
  const i = core.mgmtdevs.indexOf(mdev);
  if (i !== -1) core.mgmtdevs.splice(i, 1);
  /* bus_for_each_dev(vdpa_match_remove) over one walk of the bus, not a search per device. */
  const mine = (core.bus.devices as VdpaDevice[]).filter((d) => d.mdev === mdev);
  /* A loop, not a recursion per device: only a deletion that sleeps continues later. */
  const deleteFrom = (first: number): MaybeWait<void> => {
    for (let i = first; i < mine.length; i++) {
      const wait = mdev.devDel(mine[i]);
      if (wait instanceof Completion) return after(wait, () => deleteFrom(i + 1));
    }
  };
  return deleteFrom(0);
}

export function vdpaFindDevice(k: Kernel, name: string): VdpaDevice | undefined {
  return vdpaCore(k).byName.get(name);
}
