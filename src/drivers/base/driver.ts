/*
 * drivers/base/driver.c: struct device_driver and driver_set_override().
 */
import type { MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import { KernDir, PAGE_SIZE } from '../../fs/kernfs';
import { storeString } from '../../fs/sysfs';
import type { BusType } from './bus';
import { busAddDriver, busRemoveDriver } from './bus';
import { kobjectUeventPlain } from '../../kernel/uevent';
import type { Device } from './core';

export class DeviceDriver {
  bus!: BusType;
  kobj: KernDir | null = null;
  /* Bound devices, in bind order (klist_devices). */
  readonly devices: Device[] = [];

  constructor(
    readonly name: string,
    /* The module that registers it ("owner"), for the module link. */
    readonly owner: string | null,
    readonly ops: {
      probe?: (dev: Device) => void;
      remove?: (dev: Device) => MaybeWait<void>;
    } = {},
  ) {}
}

/*
 * driver_register(): EBUSY for a name already on the bus, then
 * bus_add_driver(), then KOBJ_ADD for the driver's kobject
 * ("add /bus/<bus>/drivers/<drv>", SUBSYSTEM=drivers): after the bind
 * events of the devices it attached, before its module's own add.
 */
export function driverRegister(bus: BusType, drv: DeviceDriver): void {
  if (bus.findDriver(drv.name)) {
    bus.kernel.log.kmsg('err', `Error: Driver '${drv.name}' is already registered, aborting...`);
    fail('EBUSY');
  }
  busAddDriver(bus, drv);
  kobjectUeventPlain(bus.kernel.uevents, drv.kobj!.path(), 'drivers', 'add');
}

/* driver_unregister(): bus_remove_driver(), whose last put announces the removal. */
export function driverUnregister(drv: DeviceDriver): MaybeWait<void> {
  return busRemoveDriver(drv);
}

/*
 * driver_set_override(): store a driver name to force a match.
 * count >= PAGE_SIZE - 1 is EINVAL; the value ends at the first newline (or
 * an embedded NUL); an empty value clears the override. The name is not
 * checked against anything ("none" is a legitimate opt-out).
 */
export function driverSetOverride(dev: Device, buf: Buffer): number {
  const count = buf.length;
  if (count >= PAGE_SIZE - 1) fail('EINVAL');
  let value = storeString(buf);
  const nl = value.indexOf('\n');
  if (nl !== -1) value = value.slice(0, nl);
  dev.driverOverride = value.length ? value : null;
  return count;
}

export function driverOverrideShow(dev: Device): string {
  /* sysfs_emit("%s\n", NULL) prints "(null)". */
  return `${dev.driverOverride ?? '(null)'}\n`;
}
