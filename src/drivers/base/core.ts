/*
 * drivers/base/core.c: struct device, device_add() and device_del().
 *
 * A device owns its sysfs directory. device_add() lays it out (uevent,
 * power/, subsystem, dev, the bus link, the devtmpfs node), announces it
 * with KOBJ_ADD and lets the bus probe it; device_del() undoes all of it in
 * the kernel's order, releasing the driver first, which may sleep.
 */
import { after, Completion, MaybeWait } from '../../kernel/completion';
import { KernDir, KernFile, KernfsNode } from '../../fs/kernfs';
import { attr, roAttr } from '../../fs/sysfs';
import type { Kernel } from '../../kernel/kernel';
import type { BusType } from './bus';
import type { DeviceDriver } from './driver';
import { busAddDevice, busProbeDevice, busRemoveDevice } from './bus';
import { addPowerGroup } from './power';
import type { DevNodeFactory } from './devtmpfs';
import type { DeviceClass } from './class';
import { classAddDevice, classDeviceParentDir, classRemoveDevice, cleanupGlueDir } from './class';
import { KobjAction, kobjectSynthUevent } from '../../kernel/uevent';

export type { KobjAction } from '../../kernel/uevent';

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
  /* What device_add_attrs() and the bus's dev_groups created, for device_del() to take away. */
  attrNodes: KernfsNode[] = [];
  busAttrNodes: KernfsNode[] = [];
  kobj: KernDir | null = null;
  registered = false;
  /* Per-driver private state (dev_set_drvdata). */
  drvdata: unknown = null;
  /* Set while the driver's remove() sleeps (device_lock held in Linux). */
  unbinding: Completion<void> | null = null;
  /* Block devices go under /sys/dev/block and devtmpfs makes a 'b' node. */
  isBlock = false;
  /* dev->class: net, block, bdi... (drivers/base/class.ts). */
  class: DeviceClass | null = null;
  /* dev_set_uevent_suppress(): add_disk() holds the disk's KOBJ_ADD back. */
  ueventSuppress = false;

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
  if (dev.class) return classDeviceParentDir(dev);
  if (dev.parent) return dev.parent.kobj!;
  return dev.kernel.sysfs.devices;
}

export function deviceAdd(dev: Device): void {
  const k = dev.kernel;
  const dir = parentDir(dev).mkdir(dev.name);
  dev.kobj = dir;
  dev.registered = true;

  dir.add(ueventAttr(dev));
  if (dev.class) classAddDevice(dev);
  addPowerGroup(dir);
  if (dev.devt) {
    const devt = dev.devt;
    dir.add(roAttr('dev', `${devt.major}:${devt.minor}\n`));
    k.sysfs.devDir(dev).symlink(`${devt.major}:${devt.minor}`, dir);
    k.devtmpfs.createNode(dev);
  }
  for (const group of dev.groups) for (const node of group(dev)) dev.attrNodes.push(dir.add(node));
  if (dev.bus) busAddDevice(dev);

  k.log.debug('device_add %s', dev.devpath());
  if (!ueventFiltered(dev)) k.log.kmsg('info', `vdpafs: device added: ${dev.name} (${subsystemOf(dev)})`);
  kobjectUevent(dev, 'add');
  if (dev.bus) busProbeDevice(dev);
}

/*
 * device_del(), in the kernel's order: power/, the devtmpfs node, the
 * /sys/dev entry and `dev`, the class links, `uevent`, the attribute
 * groups; then the bus drops the device (its `subsystem` link, the bus's
 * link to it and the bus's attributes) and releases its driver, which may
 * sleep -- so while an unbind waits for /dev/vhost-vdpa-N to close, the
 * device's directory is already empty. Then KOBJ_REMOVE and the directory.
 */
export function deviceDel(dev: Device): MaybeWait<void> {
  const k = dev.kernel;
  const dir = dev.kobj!;
  dev.registered = false;
  dir.remove('power');
  if (dev.devt) {
    k.devtmpfs.deleteNode(dev);
    k.sysfs.devDir(dev).remove(`${dev.devt.major}:${dev.devt.minor}`);
    dir.remove('dev');
  }
  if (dev.class) classRemoveDevice(dev);
  dir.remove('uevent');
  for (const node of dev.attrNodes.splice(0)) dir.removeNode(node);
  const released = dev.bus ? busRemoveDevice(dev) : undefined;
  return after(released, () => {
    k.log.debug('device_del %s', dev.devpath());
    kobjectUevent(dev, 'remove');
    if (!ueventFiltered(dev)) k.log.kmsg('info', `vdpafs: device removed: ${dev.name} (${subsystemOf(dev)})`);
    const glue = dev.kobj!.parent;
    glue!.removeNode(dev.kobj!);
    cleanupGlueDir(dev, glue);
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
  return !dev.bus && !dev.class;
}

/* SUBSYSTEM=: the bus, else the class (dev_uevent_name()). */
function subsystemOf(dev: Device): string {
  return dev.bus ? dev.bus.name : dev.class!.name;
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
  if (dev.class?.ops.devUevent) env.push(...dev.class.ops.devUevent(dev));
  return env;
}

/*
 * kobject_uevent_env(): ACTION, DEVPATH, SUBSYSTEM, the caller's, the
 * device's own, SEQNUM. A suppressed kobject sends nothing; an unbind event
 * loses MODALIAS (zap_modalias_env), so udev does not load a module for it.
 */
export function kobjectUevent(dev: Device, action: KobjAction, extra: UeventEnv = []): void {
  if (dev.ueventSuppress || ueventFiltered(dev)) return;
  let own = devUevent(dev);
  if (action === 'unbind') own = own.filter(([key]) => key !== 'MODALIAS');
  const env: UeventEnv = [['ACTION', action], ['DEVPATH', dev.devpath()], ['SUBSYSTEM', subsystemOf(dev)], ...extra, ...own];
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
      try {
        return kobjectSynthUevent(dev.kernel.log, dev.kobj!.path(), buf, (action, extra) => kobjectUevent(dev, action, extra));
      } catch (e) {
        /* uevent_store(): dev_err() names the driver, else the bus or class. */
        const who = dev.driver?.name ?? (ueventFiltered(dev) ? '' : subsystemOf(dev));
        dev.kernel.log.kmsg('err', `${who ? `${who} ` : ''}${dev.name}: uevent: failed to send synthetic uevent: -22`);
        throw e;
      }
    },
  });
}
