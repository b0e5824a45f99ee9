/*
 * drivers/base/dd.c: matching devices with drivers, probe and release.
 */
import { after, MaybeWait } from '../../kernel/completion';
import { errnoNumber, fail, KernelError } from '../../kernel/errno';
import type { Device } from './core';
import { kobjectUevent } from './core';
import type { DeviceDriver } from './driver';

/* driver_sysfs_add(): drivers/<drv>/<dev> and <dev>/driver. */
function driverSysfsAdd(dev: Device): void {
  const drv = dev.driver!;
  drv.kobj!.symlink(dev.name, dev.kobj!);
  dev.kobj!.symlink('driver', drv.kobj!);
}

function driverSysfsRemove(dev: Device): void {
  const drv = dev.driver!;
  drv.kobj!.remove(dev.name);
  dev.kobj!.remove('driver');
}

/*
 * really_probe(): set dev->driver and the links, call the probe; on error
 * undo both. A probe error is logged and reported to the caller, who
 * decides whether the next driver may try (attach loops) or the error goes
 * to userspace (bind).
 */
function reallyProbe(dev: Device, drv: DeviceDriver): void {
  const log = dev.kernel.log;
  dev.driver = drv;
  driverSysfsAdd(dev);
  try {
    if (dev.bus!.ops.probe) dev.bus!.ops.probe(dev, drv);
    else drv.ops.probe?.(dev);
  } catch (e) {
    driverSysfsRemove(dev);
    dev.driver = null;
    dev.drvdata = null;
    /*
     * call_driver_probe(): deferral and ENODEV/ENXIO are dev_dbg; any other
     * error is a dev_err(), prefixed "<driver> <device>: " because
     * dev->driver is already set while probing.
     */
    if (e instanceof KernelError) {
      if (e.errno === 'EPROBE_DEFER') {
        log.debug('%s: Driver %s requests probe deferral', dev.name, drv.name);
      } else if (e.errno === 'ENODEV' || e.errno === 'ENXIO') {
        log.debug('%s: probe with driver %s rejects match %d', dev.name, drv.name, -errnoNumber(e.errno));
      } else {
        log.kmsg('err', `${drv.name} ${dev.name}: probe with driver ${drv.name} failed with error ${-errnoNumber(e.errno)}`);
      }
    }
    throw e;
  }
  driverBound(dev);
}

function driverBound(dev: Device): void {
  dev.driver!.devices.push(dev);
  dev.kernel.log.debug('bound %s to %s', dev.name, dev.driver!.name);
  kobjectUevent(dev, 'bind');
}

/* __driver_probe_device(): EBUSY if someone already holds the device. */
function driverProbeDevice(drv: DeviceDriver, dev: Device): void {
  if (!dev.registered) fail('ENODEV');
  if (dev.driver) fail('EBUSY');
  reallyProbe(dev, drv);
}

/*
 * device_attach(): try the bus's drivers in registration order; the first
 * probe that succeeds wins and a failing probe lets the next one try.
 * Returns 1 if bound, 0 if no driver took it, < 0 for a hard failure.
 */
export function deviceAttach(dev: Device): number {
  if (dev.driver) return 1;
  for (const drv of [...dev.bus!.drivers]) {
    const m = dev.bus!.ops.match(dev, drv);
    if (m < 0) return m;
    if (m === 0) continue;
    try {
      driverProbeDevice(drv, dev);
      return 1;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      if (e.errno === 'ENODEV' && !dev.registered) return -errnoNumber('ENODEV');
    }
  }
  return 0;
}

/* driver_attach(): a new driver tries every unbound, matching device. */
export function driverAttach(drv: DeviceDriver): void {
  for (const dev of [...drv.bus.devices]) {
    if (dev.driver || drv.bus.ops.match(dev, drv) <= 0) continue;
    try {
      driverProbeDevice(drv, dev);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
    }
  }
}

/*
 * device_driver_attach(), for the bind file: the probe's error goes back to
 * the writer, EPROBE_DEFER as EAGAIN.
 */
export function deviceDriverAttach(drv: DeviceDriver, dev: Device): void {
  try {
    driverProbeDevice(drv, dev);
  } catch (e) {
    if (e instanceof KernelError && e.errno === 'EPROBE_DEFER') fail('EAGAIN');
    throw e;
  }
}

/*
 * __device_release_driver(): links first, then the driver's remove (which
 * may sleep: vhost_vdpa waits for its char device to be closed), then
 * dev->driver = NULL and KOBJ_UNBIND.
 */
export function deviceReleaseDriver(dev: Device): MaybeWait<void> {
  const drv = dev.driver;
  if (!drv || dev.unbinding) return dev.unbinding ?? undefined;
  driverSysfsRemove(dev);
  const removed = dev.bus!.ops.remove ? dev.bus!.ops.remove(dev, drv) : drv.ops.remove?.(dev);
  const done = after(removed, () => {
    dev.unbinding = null;
    dev.driver = null;
    dev.drvdata = null;
    const i = drv.devices.indexOf(dev);
    if (i !== -1) drv.devices.splice(i, 1);
    dev.kernel.log.debug('unbound %s from %s', dev.name, drv.name);
    kobjectUevent(dev, 'unbind');
  });
  if (done !== undefined) dev.unbinding = done;
  return done;
}

export const deviceDriverDetach = deviceReleaseDriver;

/* driver_detach(): unbind every device, last bound first. */
export function driverDetach(drv: DeviceDriver): MaybeWait<void> {
  const next = drv.devices.filter((d) => !d.unbinding).pop();
  if (!next) {
    /* Devices still waiting on a remove: finish when the last one does. */
    const pending = drv.devices.find((d) => d.unbinding)?.unbinding;
    return pending ? after(pending, () => driverDetach(drv)) : undefined;
  }
  return after(deviceReleaseDriver(next), () => driverDetach(drv));
}
