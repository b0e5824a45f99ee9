/*
 * drivers/base/class.c, and the class half of core.c (get_device_parent(),
 * device_add_class_symlinks()): device classes such as `net`, `block` and
 * `bdi`.
 *
 * A class device lives below its parent in a "glue" directory named after
 * the class (/sys/devices/vdpa0/virtio0/net/eth0), or below
 * /sys/devices/virtual/<class>/ when it has no parent (a bdi). It links
 * `subsystem` to /sys/class/<class>, `device` to its parent, and
 * /sys/class/<class>/<name> to itself. Its uevents say SUBSYSTEM=<class>
 * and carry what the class's dev_uevent adds.
 *
 * The classes here are built into Linux (registered by subsys_initcall,
 * before anyone listens for uevents), so class_register() sends nothing.
 * They are registered on first use, which keeps /sys/class empty on a
 * kernel that never touches the virtio half.
 */
import { KernDir } from '../../fs/kernfs';
import type { Kernel } from '../../kernel/kernel';
import type { Device, UeventEnv } from './core';

export interface ClassOps {
  /* class->dev_uevent: variables after the bus's (INTERFACE/IFINDEX, DISKSEQ). */
  devUevent?(dev: Device): UeventEnv;
  /*
   * class->ns_type: a namespaced class (net) keeps its glue directory even
   * under a parent that has a class itself.
   */
  namespaced?: boolean;
}

export class DeviceClass {
  kobj!: KernDir;
  /* klist_devices, in registration order. */
  readonly devices: Device[] = [];

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    readonly ops: ClassOps = {},
  ) {}
}

/* class_register(): /sys/class/<name>. */
export function classRegister(cls: DeviceClass): void {
  cls.kobj = cls.kernel.sysfs.class.mkdir(cls.name);
}

/* A built-in class, registered the first time a subsystem needs it. */
export function classGet(k: Kernel, name: string, ops: ClassOps = {}): DeviceClass {
  return k.global<DeviceClass>(`class:${name}`, () => {
    const cls = new DeviceClass(k, name, ops);
    classRegister(cls);
    return cls;
  });
}

/* virtual_device_parent(): /sys/devices/virtual, made once and kept. */
function virtualDeviceParent(k: Kernel): KernDir {
  return k.sysfs.devices.dir('virtual');
}

/*
 * get_device_parent() for a class device: the parent's own directory when
 * the parent is a class device of a class that is not namespaced, else the
 * glue directory <parent>/<class> (made on first use, shared by siblings).
 */
export function classDeviceParentDir(dev: Device): KernDir {
  const cls = dev.class!;
  const parent = dev.parent;
  if (parent && parent.class && !cls.ops.namespaced) return parent.kobj!;
  const base = parent ? parent.kobj! : virtualDeviceParent(dev.kernel);
  return base.dir(cls.name);
}

/* device_add_class_symlinks() and klist_add_tail(knode_class). */
export function classAddDevice(dev: Device): void {
  const cls = dev.class!;
  const dir = dev.kobj!;
  dir.symlink('subsystem', cls.kobj);
  /* device_is_not_partition(): only whole devices point at their parent. */
  if (dev.parent) dir.symlink('device', dev.parent.kobj!);
  cls.kobj.symlink(dev.name, dir);
  cls.devices.push(dev);
}

/* device_remove_class_symlinks() and klist_del(knode_class). */
export function classRemoveDevice(dev: Device): void {
  const cls = dev.class!;
  const dir = dev.kobj!;
  dir.remove('subsystem');
  dir.remove('device');
  const link = cls.kobj.get(dev.name);
  if (link && link.kind === 'link') cls.kobj.remove(dev.name);
  const i = cls.devices.indexOf(dev);
  if (i !== -1) cls.devices.splice(i, 1);
}

/*
 * cleanup_glue_dir(): the glue directory goes with its last device.
 * /sys/devices/virtual itself stays.
 */
export function cleanupGlueDir(dev: Device, glue: KernDir | null): void {
  if (!dev.class || !glue || glue === dev.parent?.kobj) return;
  if (glue.children.size === 0) glue.parent?.removeNode(glue);
}
