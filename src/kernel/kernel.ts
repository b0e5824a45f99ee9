/*
 * One simulated kernel: its sysfs and devtmpfs trees, modules, uevents,
 * log buffer and the small global registries drivers share (char majors,
 * per-subsystem state). Two mounts are two Kernel objects; nothing is global.
 */
import { KernDir, KernfsRoot } from '../fs/kernfs';
import { roAttr } from '../fs/sysfs';
import { Devtmpfs } from '../drivers/base/devtmpfs';
import type { Device } from '../drivers/base/core';
import { ModuleDef, ModuleLoader } from './module';
import { Printk } from './printk';
import { UeventBroadcaster } from './uevent';
import { fail } from './errno';
import { NO_TASKS, Tasks } from './task';

export const KERNEL_RELEASE = '6.18.0-vdpafs';

export class Sysfs {
  readonly root: KernDir;
  readonly bus: KernDir;
  readonly devices: KernDir;
  readonly devChar: KernDir;
  readonly devBlock: KernDir;
  readonly module: KernDir;
  readonly kernel: KernDir;
  readonly class: KernDir;
  readonly block: KernDir;

  constructor(top: KernDir) {
    this.root = top.mkdir('sys');
    this.bus = this.root.mkdir('bus');
    this.class = this.root.mkdir('class');
    this.devices = this.root.mkdir('devices');
    const dev = this.root.mkdir('dev');
    this.devChar = dev.mkdir('char');
    this.devBlock = dev.mkdir('block');
    this.block = this.root.mkdir('block');
    this.module = this.root.mkdir('module');
    this.kernel = this.root.mkdir('kernel');
  }

  devDir(dev: Device): KernDir {
    return dev.isBlock ? this.devBlock : this.devChar;
  }
}

export class Kernel {
  readonly fs = new KernfsRoot();
  readonly sysfs: Sysfs;
  readonly devtmpfs: Devtmpfs;
  readonly log = new Printk();
  readonly uevents = new UeventBroadcaster(() => this.log.uptimeUsec());
  readonly modules: ModuleLoader;
  /*
   * `current` of a request: the calling task's memory and file table
   * (task.ts). None by default; the daemon installs the host's.
   */
  tasks: Tasks = NO_TASKS;
  /* Per-subsystem globals (the vdpa bus, the virtio IDA...), keyed by owner. */
  private readonly globals = new Map<string, unknown>();
  private readonly chrdevMajors = new Map<number, string>();

  constructor(modules: ModuleDef[]) {
    this.sysfs = new Sysfs(this.fs.root);
    this.devtmpfs = new Devtmpfs(this.fs.root.mkdir('dev'));
    this.sysfs.kernel.add(roAttr('uevent_seqnum', () => `${this.uevents.seqnum}\n`));
    this.modules = new ModuleLoader(this, modules);
  }

  /* A subsystem's global state, created on first use (its module's statics). */
  global<T>(key: string, create: () => T): T {
    let v = this.globals.get(key) as T | undefined;
    if (v === undefined) {
      v = create();
      this.globals.set(key, v);
    }
    return v;
  }

  peekGlobal<T>(key: string): T | undefined {
    return this.globals.get(key) as T | undefined;
  }

  dropGlobal(key: string): void {
    this.globals.delete(key);
  }

  /*
   * alloc_chrdev_region() with a dynamic major: the highest free one in
   * 234..254 first, as find_dynamic_major() does. Freed on unregister.
   */
  allocChrdevMajor(name: string): number {
    for (let major = 254; major >= 234; major--) {
      if (!this.chrdevMajors.has(major)) {
        this.chrdevMajors.set(major, name);
        return major;
      }
    }
    fail('EBUSY');
  }

  freeChrdevMajor(major: number): void {
    this.chrdevMajors.delete(major);
  }
}
