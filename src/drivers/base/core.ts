/*
 * drivers/base/core.c: struct device, device_add() and device_del().
 *
 * A device owns its sysfs directory. device_add() lays it out (uevent,
 * power/, subsystem, dev, the bus link, the devtmpfs node), announces it
 * with KOBJ_ADD and lets the bus probe it; device_del() undoes all of it in
 * the kernel's order, releasing the driver first, which may sleep.
 */
import { after, Completion, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import { KernDir, KernFile, KernfsNode } from '../../fs/kernfs';
import { attr, roAttr, storeString } from '../../fs/sysfs';
import type { Kernel } from '../../kernel/kernel';
import type { BusType } from './bus';
import type { DeviceDriver } from './driver';
import { busAddDevice, busProbeDevice, busRemoveDevice } from './bus';
import { addPowerGroup } from './power';
import type { DevNodeFactory } from './devtmpfs';

export interface Devt {
  major: number;
  minor: number;
}

export type UeventEnv = Array<[string, string]>;

export class Device {
  parent: Device | null = null;
  bus: BusType | null = null;
  driver: DeviceDriver | null = null;
  driverOverride: string | null = null;
  /* Set for char devices (cdev_device_add); gives dev, /sys/dev/char and /dev. */
  devt: Devt | null = null;
  /* For devtmpfs: how opening /dev/<name> behaves. */
  devnode: DevNodeFactory | null = null;
  /* DEVTYPE= in uevents, when the device type has a name. */
  devtype: string | null = null;
  /* Extra attributes laid out with the directory (dev->groups). */
  groups: Array<(dev: Device) => KernfsNode[]> = [];
  kobj: KernDir | null = null;
  registered = false;
  /* Per-driver private state (dev_set_drvdata). */
  drvdata: unknown = null;
  /* Set while the driver's remove() sleeps (device_lock held in Linux). */
  unbinding: Completion<void> | null = null;
  /* Block devices go under /sys/dev/block and devtmpfs makes a 'b' node. */
  isBlock = false;

  constructor(
    readonly kernel: Kernel,
    public name: string,
  ) {}

  /* DEVPATH in uevents: the sysfs path below /sys. */
  devpath(): string {
    return this.kobj!.path().replace(/^\/sys/, '');
  }

  toString(): string {
    return this.name;
  }
}

/* get_device_parent(): where the directory goes. */
function parentDir(dev: Device): KernDir {
  if (dev.parent) return dev.parent.kobj!;
  return dev.kernel.sysfs.devices;
}

export function deviceAdd(dev: Device): void {
  const k = dev.kernel;
  const dir = parentDir(dev).mkdir(dev.name);
  dev.kobj = dir;
  dev.registered = true;

  dir.add(ueventAttr(dev));
  addPowerGroup(dir);
  if (dev.devt) {
    const devt = dev.devt;
    dir.add(roAttr('dev', `${devt.major}:${devt.minor}\n`));
    k.sysfs.devDir(dev).symlink(`${devt.major}:${devt.minor}`, dir);
    k.devtmpfs.createNode(dev);
  }
  for (const group of dev.groups) for (const node of group(dev)) dir.add(node);
  if (dev.bus) busAddDevice(dev);

  k.log.debug('device_add %s', dev.devpath());
  kobjectUevent(dev, 'add');
  if (dev.bus) busProbeDevice(dev);
}

/*
 * device_del(): the devtmpfs node and dev entries go first, then the bus
 * drops the device (unbinding its driver, which may wait), then KOBJ_REMOVE
 * and the directory.
 */
export function deviceDel(dev: Device): MaybeWait<void> {
  const k = dev.kernel;
  dev.registered = false;
  if (dev.devt) {
    k.devtmpfs.deleteNode(dev);
    k.sysfs.devDir(dev).remove(`${dev.devt.major}:${dev.devt.minor}`);
  }
  const released = dev.bus ? busRemoveDevice(dev) : undefined;
  return after(released, () => {
    k.log.debug('device_del %s', dev.devpath());
    kobjectUevent(dev, 'remove');
    dev.kobj!.parent!.removeNode(dev.kobj!);
  });
}

/* device_register()/device_unregister(): plain devices such as mgmtdevs. */
export const deviceRegister = deviceAdd;
export const deviceUnregister = deviceDel;

/*
 * dev_uevent_filter(): only devices with a bus or a class are announced. A
 * vhost-vdpa-N char device has neither, so udev never hears of it and its
 * uevent file reads empty.
 */
function ueventFiltered(dev: Device): boolean {
  return !dev.bus;
}

/* dev_uevent(): the variables a device adds (and what its `uevent` file shows). */
export function devUevent(dev: Device): UeventEnv {
  const env: UeventEnv = [];
  if (dev.devt) {
    env.push(['MAJOR', String(dev.devt.major)], ['MINOR', String(dev.devt.minor)]);
    env.push(['DEVNAME', dev.name]);
  }
  if (dev.devtype) env.push(['DEVTYPE', dev.devtype]);
  if (dev.driver) env.push(['DRIVER', dev.driver.name]);
  if (dev.bus?.uevent) env.push(...dev.bus.uevent(dev));
  return env;
}

export type KobjAction = 'add' | 'remove' | 'change' | 'move' | 'online' | 'offline' | 'bind' | 'unbind';
const KOBJ_ACTIONS: KobjAction[] = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'];

/* kobject_uevent_env(): ACTION, DEVPATH, SUBSYSTEM, the device's own, SEQNUM. */
export function kobjectUevent(dev: Device, action: KobjAction, extra: UeventEnv = []): void {
  if (ueventFiltered(dev)) return;
  const env: UeventEnv = [
    ['ACTION', action],
    ['DEVPATH', dev.devpath()],
    ['SUBSYSTEM', dev.bus!.name],
    ...extra,
    ...devUevent(dev),
  ];
  dev.kernel.uevents.broadcast(env);
}

/*
 * The `uevent` attribute: reading shows dev_uevent()'s variables (nothing
 * for a filtered device); writing an action name synthesizes that event
 * (kobject_synth_uevent), anything else is EINVAL.
 */
function ueventAttr(dev: Device): KernFile {
  return attr('uevent', {
    show: () => (ueventFiltered(dev) ? '' : devUevent(dev).map(([k, v]) => `${k}=${v}\n`).join('')),
    store: (buf) => {
      const words = storeString(buf).trim().split(/\s+/);
      const action = words[0] as KobjAction;
      if (!KOBJ_ACTIONS.includes(action)) fail('EINVAL');
      const extra: UeventEnv = [];
      if (words[1]) extra.push(['SYNTH_UUID', words[1]]);
      else extra.push(['SYNTH_UUID', '0']);
      kobjectUevent(dev, action, extra);
      return buf.length;
    },
  });
}
