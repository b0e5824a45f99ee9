/*
 * drivers/base/devtmpfs.c: /dev nodes follow device_add()/device_del() of
 * every device with a devt. The node is a kernfs file under the mount's
 * dev/ whose open() is the device's file_operations (the cdev's fops).
 */
import { KernDir, KernFile, OpenFile, OpenFlags } from '../../fs/kernfs';
import { fail } from '../../kernel/errno';
import type { Device } from './core';

/* What a char device's cdev provides: open() returning the open file. */
export interface DevNodeFactory {
  open(flags: OpenFlags): OpenFile;
  /* st_size of the node (a disk's capacity; 0 for a char device). */
  size?(): number;
}

export class DevNode extends KernFile {
  constructor(
    name: string,
    mode: number,
    readonly dev: Device,
  ) {
    super(name, mode);
    this.devt = { type: dev.isBlock ? 'b' : 'c', major: dev.devt!.major, minor: dev.devt!.minor };
  }

  size(): number {
    return this.dev.devnode?.size?.() ?? 0;
  }

  open(flags: OpenFlags): OpenFile {
    /* Nothing behind the node any more (the cdev was deleted): ENXIO, as chrdev_open. */
    if (!this.dev.devnode || !this.attached) fail('ENXIO');
    return this.dev.devnode.open(flags);
  }
}

export class Devtmpfs {
  constructor(readonly root: KernDir) {}

  /* devtmpfs_create_node(): mode 0600 root:root unless the device says otherwise. */
  createNode(dev: Device, mode = 0o600): void {
    this.root.add(new DevNode(dev.name, mode, dev));
  }

  deleteNode(dev: Device): void {
    const node = this.root.get(dev.name);
    if (node instanceof DevNode && node.dev === dev) this.root.remove(dev.name);
  }
}
