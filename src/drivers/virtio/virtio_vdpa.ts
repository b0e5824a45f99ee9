/*
 * drivers/virtio/virtio_vdpa.c: a vdpa bus driver that turns a vdpa device
 * into a virtio device, so the host's own virtio drivers can use it. The
 * virtio device's parent is the vdpa device (vdpa_get_dma_dev() is the
 * device itself for the simulator): /sys/devices/vdpa0/virtio0.
 */
import createDebug from 'debug';
import { MaybeWait } from '../../kernel/completion';
import type { Kernel } from '../../kernel/kernel';
import type { Device } from '../base/core';
import { DeviceDriver } from '../base/driver';
import { VdpaDevice, vdpaRegisterDriver, vdpaUnregisterDriver } from '../vdpa/vdpa';
import { registerVirtioDevice, unregisterVirtioDevice, VirtioConfigOps, VirtioDevice } from './virtio';

const trace = createDebug('vdpafs:virtio_vdpa');

export class VirtioVdpaDevice extends VirtioDevice {
  constructor(readonly vdpa: VdpaDevice) {
    super(vdpa.kernel, virtioVdpaConfigOps(vdpa), { device: vdpa.config.getDeviceId(), vendor: vdpa.config.getVendorId() });
    this.parent = vdpa;
  }
}

/* virtio_vdpa_config_ops: each virtio op is the matching vdpa op. */
function virtioVdpaConfigOps(vdpa: VdpaDevice): VirtioConfigOps {
  const ops = vdpa.config;
  return {
    getStatus: () => ops.getStatus(),
    setStatus: (s) => ops.setStatus(s),
    reset: () => ops.reset(),
    getFeatures: () => ops.getDeviceFeatures(),
    finalizeFeatures: (f) => ops.setDriverFeatures(f),
    getConfig: (off, len) => ops.getConfig(off, len),
    setConfig: (off, buf) => ops.setConfig(off, buf),
    generation: () => ops.getGeneration(),
  };
}

function virtioVdpaProbe(dev: Device): void {
  const vd = new VirtioVdpaDevice(dev as VdpaDevice);
  dev.drvdata = vd;
  registerVirtioDevice(vd);
  trace('probe %s -> %s', dev.name, vd.name);
}

function virtioVdpaRemove(dev: Device): MaybeWait<void> {
  return unregisterVirtioDevice(dev.drvdata as VirtioVdpaDevice);
}

interface VirtioVdpaGlobals {
  driver: DeviceDriver;
}

export function virtioVdpaInit(k: Kernel): void {
  const driver = new DeviceDriver('virtio_vdpa', 'virtio_vdpa', { probe: virtioVdpaProbe, remove: virtioVdpaRemove });
  k.global<VirtioVdpaGlobals>('virtio_vdpa', () => ({ driver }));
  vdpaRegisterDriver(k, driver);
}

export function virtioVdpaExit(k: Kernel): MaybeWait<void> {
  const { driver } = k.peekGlobal<VirtioVdpaGlobals>('virtio_vdpa')!;
  k.dropGlobal('virtio_vdpa');
  return vdpaUnregisterDriver(driver);
}
