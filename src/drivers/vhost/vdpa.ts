/*
 * drivers/vhost/vdpa.c: the vhost_vdpa bus driver.
 *
 * Probe gives each vdpa device a char device `vhost-vdpa-N` (N from an IDA,
 * lowest free first; the major from one dynamic region allocated at module
 * load). The char device has no class and no bus: it sits directly under
 * the vdpa device, and devtmpfs makes /dev/vhost-vdpa-N.
 *
 * Open is exclusive (EBUSY for a second opener) and resets the device, as
 * does the last close. Remove deletes the char device at once, then waits
 * until the open file, if any, is closed; the unbind or `vdpa dev del`
 * that caused it waits with it.
 *
 * Nothing about the opener is bound at open: the owner's memory is taken
 * at VHOST_SET_OWNER from its caller, eventfds by number from the caller of
 * each ioctl (vdpa_file.ts). What an open of the node through the mount
 * gets is the file factory's choice: the device as Linux has it
 * (VhostVdpaFile.asOpenFile(), the default), or the daemon's, which lets
 * the first operation decide between that and the shell's built-in driver
 * (vdpa_shell.ts).
 */
import createDebug from 'debug';
import { after, Completion, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import { Ida } from '../../kernel/ida';
import type { OpenFile, OpenFlags } from '../../fs/kernfs';
import { Device, deviceAdd, deviceDel } from '../base/core';
import { DeviceDriver } from '../base/driver';
import { VdpaDevice, vdpaRegisterDriver, vdpaUnregisterDriver } from '../vdpa/vdpa';
import { VhostVdpaFile } from './vdpa_file';

const trace = createDebug('vdpafs:vhost_vdpa');

export const VHOST_VDPA_DEV_MAX = 1 << 20;

interface VhostVdpaGlobals {
  major: number;
  ida: Ida;
  driver: DeviceDriver;
}

/*
 * How an open of the node is served: the raw device API (the default), or a
 * userspace driver on top of it (the shell, installed by the daemon). Kept
 * outside the module's globals so it survives an rmmod/modprobe.
 */
export interface VhostVdpaFileFactory {
  open(v: VhostVdpa, flags: OpenFlags): OpenFile;
  /* st_size of the node; 0 when absent. */
  nodeSize?(v: VhostVdpa): number;
}
const FILE_FACTORY = 'vhost_vdpa:file_factory';

/* struct vhost_vdpa: one per bound vdpa device. */
export class VhostVdpa {
  opened = false;
  /* Completed on release, for a remove() waiting on the open file. */
  completion = new Completion<void>();
  readonly dev: Device;
  file: VhostVdpaFile | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly vdpa: VdpaDevice,
    readonly minor: number,
    major: number,
  ) {
    this.dev = new Device(kernel, `vhost-vdpa-${minor}`);
    this.dev.parent = vdpa;
    this.dev.devt = { major, minor };
  }

  /* st_size of /dev/vhost-vdpa-N: what the installed file factory says (a disk's capacity), else 0. */
  nodeSize(): number {
    return fileFactory(this.kernel).nodeSize?.(this) ?? 0;
  }

  /* vhost_vdpa_open(): exclusive (EBUSY), resets the device, pins the module. */
  open(): VhostVdpaFile {
    if (this.opened) fail('EBUSY');
    this.opened = true;
    this.completion = new Completion<void>();
    this.kernel.modules.moduleGet('vhost_vdpa');
    const file = new VhostVdpaFile(this);
    this.file = file;
    file.openDevice();
    trace('open %s', this.dev.name);
    return file;
  }

  /* vhost_vdpa_release(): reset again, drop the maps, wake a waiting remove. */
  release(file: VhostVdpaFile | null = this.file): void {
    if (!this.opened || file === null || file !== this.file) return;
    file.releaseDevice();
    this.file = null;
    this.opened = false;
    this.kernel.modules.modulePut('vhost_vdpa');
    trace('release %s', this.dev.name);
    this.completion.complete();
  }
}

function globals(k: Kernel): VhostVdpaGlobals {
  return k.peekGlobal<VhostVdpaGlobals>('vhost_vdpa')!;
}

/* vhost_vdpa_probe() */
function vhostVdpaProbe(dev: Device): void {
  const k = dev.kernel;
  const g = globals(k);
  const minor = g.ida.alloc();
  if (minor >= VHOST_VDPA_DEV_MAX) {
    g.ida.free(minor);
    fail('ENOSPC');
  }
  const v = new VhostVdpa(k, dev as VdpaDevice, minor, g.major);
  v.dev.devnode = {
    open: (flags) => fileFactory(k).open(v, flags),
    size: () => v.nodeSize(),
  };
  dev.drvdata = v;
  deviceAdd(v.dev);
  trace('probe %s -> %s', dev.name, v.dev.name);
}

/* vhost_vdpa_remove(): the node goes now; the rest waits for the last close. */
function vhostVdpaRemove(dev: Device): MaybeWait<void> {
  const v = dev.drvdata as VhostVdpa;
  const g = globals(dev.kernel);
  deviceDel(v.dev);
  const finish = () => {
    /* opened stays set: nobody may open a removed device again. */
    v.opened = true;
    g.ida.free(v.minor);
  };
  if (!v.opened) {
    finish();
    return;
  }
  dev.kernel.log.debug('%s: remove waits for the open file to close', v.dev.name);
  return v.completion.then(finish);
}

export function vhostVdpaInit(k: Kernel): void {
  const major = k.allocChrdevMajor('vhost-vdpa');
  const driver = new DeviceDriver('vhost_vdpa', 'vhost_vdpa', { probe: vhostVdpaProbe, remove: vhostVdpaRemove });
  k.global<VhostVdpaGlobals>('vhost_vdpa', () => ({
    major,
    ida: new Ida(VHOST_VDPA_DEV_MAX - 1),
    driver,
  }));
  vdpaRegisterDriver(k, driver);
}

export function vhostVdpaExit(k: Kernel): MaybeWait<void> {
  const g = globals(k);
  const done = vdpaUnregisterDriver(g.driver);
  const finish = () => {
    k.freeChrdevMajor(g.major);
    k.dropGlobal('vhost_vdpa');
  };
  return after(done, finish);
}

/* The open file is the device as Linux has it (see vdpa_file.ts). */
const defaultFileFactory: VhostVdpaFileFactory = {
  open: (v) => v.open().asOpenFile(),
};

function fileFactory(k: Kernel): VhostVdpaFileFactory {
  return k.peekGlobal<{ factory: VhostVdpaFileFactory }>(FILE_FACTORY)?.factory ?? defaultFileFactory;
}

/* Let a higher layer (the built-in userspace driver) serve opens of the node; null restores the raw API. */
export function vhostVdpaSetFileFactory(k: Kernel, factory: VhostVdpaFileFactory | null): void {
  k.global(FILE_FACTORY, () => ({ factory: defaultFileFactory })).factory = factory ?? defaultFileFactory;
}

export function vhostVdpaMajor(k: Kernel): number | undefined {
  return k.peekGlobal<VhostVdpaGlobals>('vhost_vdpa')?.major;
}
