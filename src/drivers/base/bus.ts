/*
 * drivers/base/bus.c: buses, their sysfs directory and the user-facing
 * attributes that drive binding: bind, unbind, drivers_probe,
 * drivers_autoprobe.
 */
import { after, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import { KernDir, KernfsNode } from '../../fs/kernfs';
import { attr, kernfsRemoveAndDrain, storeString, sysfsStreq } from '../../fs/sysfs';
import type { Kernel } from '../../kernel/kernel';
import type { Device, UeventEnv } from './core';
import type { DeviceDriver } from './driver';
import { kobjectSynthUevent, kobjectUeventPlain } from '../../kernel/uevent';
import { deviceAttach, deviceDriverAttach, deviceDriverDetach, deviceReleaseDriver, driverAttach, driverDetach } from './dd';

export interface BusOps {
  /* bus->dev_groups: attributes every device on the bus gets. */
  devGroups?: Array<(dev: Device) => KernfsNode[]>;
  /* > 0 match, 0 no match, < 0 an error (-errno). */
  match(dev: Device, drv: DeviceDriver): number;
  /* Calls the driver's probe; throws a KernelError to refuse. */
  probe?(dev: Device, drv: DeviceDriver): void;
  remove?(dev: Device, drv: DeviceDriver): MaybeWait<void>;
  uevent?(dev: Device): UeventEnv;
}

export class BusType {
  kobj!: KernDir;
  devicesDir!: KernDir;
  driversDir!: KernDir;
  /* Registration order matters: device_attach() tries drivers in it. */
  readonly drivers: DeviceDriver[] = [];
  readonly devices: Device[] = [];
  autoprobe = true;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    readonly ops: BusOps,
  ) {}

  get uevent() {
    return this.ops.uevent;
  }

  findDeviceByName(buf: Buffer): Device | undefined {
    const name = storeString(buf);
    return this.devices.find((d) => sysfsStreq(d.name, name));
  }

  findDriver(name: string): DeviceDriver | undefined {
    return this.drivers.find((d) => d.name === name);
  }
}

export function busRegister(bus: BusType): void {
  const dir = bus.kernel.sysfs.bus.mkdir(bus.name);
  bus.kobj = dir;
  bus.devicesDir = dir.mkdir('devices');
  bus.driversDir = dir.mkdir('drivers');
  dir.add(attr('uevent', { store: (buf) => synthUevent(bus.kernel, dir, 'bus', buf) }));
  dir.add(
    attr('drivers_autoprobe', {
      show: () => `${bus.autoprobe ? 1 : 0}\n`,
      /* Only the first byte counts: '0' disables, anything else enables. */
      store: (buf) => {
        bus.autoprobe = buf[0] !== 0x30;
        return buf.length;
      },
    }),
  );
  dir.add(attr('drivers_probe', { store: (buf) => driversProbeStore(bus, buf) }));
  bus.kernel.log.debug('bus_register %s', bus.name);
  /* kset_register(): bus_uevent_filter() lets bus kobjects through (not devices/, drivers/). */
  kobjectUeventPlain(bus.kernel.uevents, dir.path(), 'bus', 'add');
}

export function busUnregister(bus: BusType): void {
  kobjectUeventPlain(bus.kernel.uevents, bus.kobj.path(), 'bus', 'remove');
  bus.kernel.sysfs.bus.removeNode(bus.kobj);
}

/*
 * bus_uevent_store(), driver_uevent_store(): a synthetic event for the bus
 * or driver kobject (SUBSYSTEM "bus" or "drivers", the kset's name).
 */
function synthUevent(k: Kernel, dir: KernDir, subsystem: string, buf: Buffer): number {
  return kobjectSynthUevent(k.log, dir.path(), buf, (action, env) => kobjectUeventPlain(k.uevents, dir.path(), subsystem, action, env));
}

/* drivers_probe: attach an unbound device; EINVAL only if attach fails hard. */
function driversProbeStore(bus: BusType, buf: Buffer): number {
  const dev = bus.findDeviceByName(buf);
  if (!dev) fail('ENODEV');
  /* bus_rescan_devices_helper(): bound devices are left alone. */
  const ret = dev.driver ? 0 : deviceAttach(dev);
  if (ret < 0) fail('EINVAL');
  return buf.length;
}

/* bus_add_device(): the bus's attributes, its link to the device, `subsystem`. */
export function busAddDevice(dev: Device): void {
  const bus = dev.bus!;
  for (const group of bus.ops.devGroups ?? []) for (const node of group(dev)) dev.busAttrNodes.push(dev.kobj!.add(node));
  dev.kobj!.symlink('subsystem', bus.kobj);
  bus.devicesDir.symlink(dev.name, dev.kobj!);
  bus.devices.push(dev);
}

/* bus_probe_device(): autoprobe a newly added device. */
export function busProbeDevice(dev: Device): void {
  if (dev.bus!.autoprobe) deviceAttach(dev);
}

/* bus_remove_device(): off the bus first (links, the bus's attributes), then release its driver (may wait). */
export function busRemoveDevice(dev: Device): MaybeWait<void> {
  const bus = dev.bus!;
  dev.kobj!.remove('subsystem');
  bus.devicesDir.remove(dev.name);
  for (const node of dev.busAttrNodes.splice(0)) dev.kobj!.removeNode(node);
  const i = bus.devices.indexOf(dev);
  if (i !== -1) bus.devices.splice(i, 1);
  return deviceReleaseDriver(dev);
}

/*
 * bus_add_driver(): the driver's kobject (drivers/<drv>/), then, with
 * autoprobe, the attach to waiting devices (their `bind` events come
 * before the driver's own `add`), then the module links, `uevent` and the
 * bind files. driver_register() announces the driver afterwards.
 */
export function busAddDriver(bus: BusType, drv: DeviceDriver): void {
  drv.bus = bus;
  const dir = bus.driversDir.mkdir(drv.name);
  drv.kobj = dir;
  bus.drivers.push(drv);
  bus.kernel.log.debug('bus: \'%s\': add driver %s', bus.name, drv.name);
  if (bus.autoprobe) driverAttach(drv);
  if (drv.owner) {
    const mod = bus.kernel.modules.sysfsDir(drv.owner);
    if (mod) {
      dir.symlink('module', mod);
      mod.dir('drivers').symlink(`${bus.name}:${drv.name}`, dir);
    }
  }
  dir.add(attr('uevent', { store: (buf) => synthUevent(bus.kernel, dir, 'drivers', buf) }));
  dir.add(attr('bind', { store: (buf) => bindStore(drv, buf) }));
  dir.add(attr('unbind', { store: (buf) => unbindStore(drv, buf) }));
}

/*
 * bus_remove_driver(): the bind files and `uevent` go first -- and a
 * `bind` or `unbind` still running on them (waiting for a device a pending
 * unbind holds) is waited for, so it completes against a driver that is
 * still registered --, then the driver leaves the bus, every device is
 * unbound (which may wait), then the module links; the last put of the
 * driver's kobject sends KOBJ_REMOVE and removes the directory.
 */
export function busRemoveDriver(drv: DeviceDriver): MaybeWait<void> {
  const bus = drv.bus;
  const dir = drv.kobj!;
  bus.kernel.log.debug('bus: \'%s\': remove driver %s', bus.name, drv.name);
  const filesGone = kernfsRemoveAndDrain([dir.get('bind'), dir.get('unbind'), dir.get('uevent')]);
  return after(filesGone, () => busDetachDriver(drv));
}

function busDetachDriver(drv: DeviceDriver): MaybeWait<void> {
  const bus = drv.bus;
  const dir = drv.kobj!;
  const i = bus.drivers.indexOf(drv);
  if (i !== -1) bus.drivers.splice(i, 1);
  return after(driverDetach(drv), () => {
    if (drv.owner) {
      dir.remove('module');
      bus.kernel.modules.sysfsDir(drv.owner)?.dir('drivers').remove(`${bus.name}:${drv.name}`);
    }
    kobjectUeventPlain(bus.kernel.uevents, dir.path(), 'drivers', 'remove');
    bus.driversDir.removeNode(dir);
  });
}

/*
 * bind: find the device, check the match, attach; ENODEV for the rest.
 * bind_store() tests driver_match_device() only for non-zero, so a bus
 * match that fails with an error still goes on to the probe.
 */
function bindStore(drv: DeviceDriver, buf: Buffer): MaybeWait<number> {
  const dev = drv.bus.findDeviceByName(buf);
  if (!dev || drv.bus.ops.match(dev, drv) === 0) fail('ENODEV');
  /*
   * device_driver_attach() takes device_lock, which a pending unbind holds
   * across the driver's remove(): bind waits for it, then probes the now
   * unbound device (drivers_probe does not wait: it sees dev->driver still
   * set and leaves the device alone).
   */
  return after(dev.unbinding ?? undefined, () => {
    deviceDriverAttach(drv, dev);
    return buf.length;
  });
}

/* unbind: only a device bound to this very driver. */
function unbindStore(drv: DeviceDriver, buf: Buffer): MaybeWait<number> {
  const dev = drv.bus.findDeviceByName(buf);
  if (!dev || dev.driver !== drv) fail('ENODEV');
  return after(deviceDriverDetach(dev), () => buf.length);
}
