/*
 * drivers/virtio/virtio_vdpa.c: a vdpa bus driver that turns a vdpa device
 * into a virtio device, so the host's own virtio drivers can use it. The
 * virtio device's parent is the vdpa device (vdpa_get_dma_dev() is the
 * device itself for the simulator): /sys/devices/vdpa0/virtio0.
 *
 * Every virtio op is the matching vdpa op: the virtio core negotiates
 * through the same device API vhost-vdpa uses (reset, status, features,
 * config), and find_vqs sets each queue up the way virtio_vdpa_setup_vq()
 * does: a split ring laid out in the host kernel's memory, then
 * set_vq_cb/num/address/state/ready; a kick is kick_vq, and the device's
 * interrupt is vring_interrupt(). The simulator reaches the kernel's memory
 * directly (bindPassthrough), as vdpa_sim does when bound to virtio_vdpa.
 */
import createDebug from 'debug';
import { after, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import type { Device } from '../base/core';
import { DeviceDriver } from '../base/driver';
import { VdpaDevice, vdpaRegisterDriver, vdpaUnregisterDriver } from '../vdpa/vdpa';
import { kernelMemory } from '../../mm/kmem';
import {
  registerVirtioDevice,
  unregisterVirtioDevice,
  virtioConfigChanged,
  VirtioConfigOps,
  VirtioDevice,
  Virtqueue,
  VirtqueueInfo,
  vringInterrupt,
} from './virtio';
import { VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1, VIRTIO_TRANSPORT_F_END, VIRTIO_TRANSPORT_F_START } from '../../include/uapi/virtio_config';
import { VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC } from '../../include/uapi/virtio_ring';

const trace = createDebug('vdpafs:virtio_vdpa');

export class VirtioVdpaDevice extends VirtioDevice {
  constructor(readonly vdpa: VdpaDevice) {
    super(vdpa.kernel, virtioVdpaConfigOps(vdpa), { device: vdpa.config.getDeviceId(), vendor: vdpa.config.getVendorId() });
    this.parent = vdpa;
  }
}

/*
 * vring_transport_features(): of the transport bits, keep those our split
 * ring implements. Packed rings, IN_ORDER and NOTIFICATION_DATA are not
 * implemented by virtio_ring.ts, so they are cleared like any unknown bit.
 */
const RING_TRANSPORT_FEATURES = new Set([VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX, VIRTIO_F_VERSION_1, VIRTIO_F_ACCESS_PLATFORM]);

function vringTransportFeatures(v: VirtioDevice): void {
  for (let i = VIRTIO_TRANSPORT_F_START; i < VIRTIO_TRANSPORT_F_END; i++) if (!RING_TRANSPORT_FEATURES.has(i)) v.clearFeature(i);
}

/* vdpa_set_features(): the device may refuse (vdpa_sim: EINVAL without ACCESS_PLATFORM). */
function vdpaSetFeatures(vdpa: VdpaDevice, features: bigint): void {
  vdpa.featuresValid = true;
  vdpa.config.setDriverFeatures(features);
}

/* vdpa_reset(vdev, 0) */
function vdpaReset(vdpa: VdpaDevice): void {
  vdpa.featuresValid = false;
  vdpa.config.reset();
}

/* virtio_vdpa_config_ops */
function virtioVdpaConfigOps(vdpa: VdpaDevice): VirtioConfigOps {
  const ops = vdpa.config;
  return {
    get: (offset, len) => {
      /* vdpa_get_config(): config read before features are set means a legacy guest. */
      if (!vdpa.featuresValid) {
        try {
          vdpaSetFeatures(vdpa, 0n);
        } catch {
          /* the return value is ignored there too */
        }
      }
      return ops.getConfig(offset, len);
    },
    set: (offset, buf) => ops.setConfig(offset, buf),
    generation: () => ops.getGeneration(),
    getStatus: () => ops.getStatus(),
    setStatus: (s) => ops.setStatus(s),
    reset: () => vdpaReset(vdpa),
    findVqs: (vdev, infos) => virtioVdpaFindVqs(vdev as VirtioVdpaDevice, infos),
    delVqs: (vdev) => virtioVdpaDelVqs(vdev as VirtioVdpaDevice),
    getFeatures: () => ops.getDeviceFeatures(),
    finalizeFeatures: (vdev) => {
      /* Give virtio_ring a chance to accept features. */
      vringTransportFeatures(vdev);
      vdpaSetFeatures(vdpa, vdev.features);
    },
    busName: () => vdpa.name,
  };
}

/* virtio_vdpa_setup_vq() */
function virtioVdpaSetupVq(vd: VirtioVdpaDevice, index: number, info: VirtqueueInfo): Virtqueue {
  const vdpa = vd.vdpa;
  const ops = vdpa.config;
  if (index >= vdpa.nvqs) fail('ENOENT');
  /* Queue shouldn't already be set up. */
  if (ops.getVqReady(index)) fail('ENOENT');
  const maxNum = ops.getVqSize ? ops.getVqSize(index) : ops.getVqNumMax();
  if (maxNum === 0) fail('ENOENT');
  let vq: Virtqueue;
  try {
    vq = new Virtqueue(
      {
        mem: kernelMemory(vd.kernel),
        num: maxNum,
        align: ops.getVqAlign(),
        index,
        eventIdx: vd.hasFeature(VIRTIO_RING_F_EVENT_IDX),
        indirect: vd.hasFeature(VIRTIO_RING_F_INDIRECT_DESC),
        notify: () => ops.kickVq(index),
      },
      info.name!,
      vd,
      info.callback,
    );
  } catch (e) {
    ops.setVqReady(index, false);
    throw e;
  }
  /* Setup virtqueue callback */
  ops.setVqCb(index, info.callback ? () => void vringInterrupt(vq) : null);
  ops.setVqNum(index, vq.num);
  const ring = vq.ringDma;
  ops.setVqAddress(index, BigInt(ring.desc), BigInt(ring.avail), BigInt(ring.used));
  /* reset virtqueue state index */
  ops.setVqState(index, { availIndex: 0 });
  ops.setVqReady(index, true);
  trace('%s: vq %d (%s) num %d at 0x%s', vd.name, index, vq.name, vq.num, ring.desc.toString(16));
  return vq;
}

/* virtio_vdpa_del_vq(): deactivate, then free the ring. */
function virtioVdpaDelVq(vd: VirtioVdpaDevice, vq: Virtqueue): void {
  vd.vdpa.config.setVqReady(vq.index, false);
  vd.vdpa.config.setVqCb(vq.index, null);
  vq.mem.free(vq.descAddr);
}

function virtioVdpaDelVqs(vd: VirtioVdpaDevice): void {
  for (const vq of vd.vqs) virtioVdpaDelVq(vd, vq);
  vd.vqs = [];
}

/* virtio_vdpa_find_vqs(): queue indices skip unnamed slots; then the config interrupt. */
function virtioVdpaFindVqs(vd: VirtioVdpaDevice, infos: VirtqueueInfo[]): Array<Virtqueue | null> {
  const out: Array<Virtqueue | null> = [];
  let queueIdx = 0;
  try {
    for (const info of infos) {
      if (!info.name) {
        out.push(null);
        continue;
      }
      const vq = virtioVdpaSetupVq(vd, queueIdx++, info);
      vd.vqs.push(vq);
      out.push(vq);
    }
  } catch (e) {
    virtioVdpaDelVqs(vd);
    throw e;
  }
  vd.vdpa.config.setConfigCb(() => virtioConfigChanged(vd));
  return out;
}

/* virtio_vdpa_probe(): a virtio device with the vdpa device's ids, under it. */
function virtioVdpaProbe(dev: Device): void {
  const vdpa = dev as VdpaDevice;
  if (vdpa.config.getDeviceId() === 0) fail('EINVAL');
  const vd = new VirtioVdpaDevice(vdpa);
  /* The sim sees kernel memory through its identity map (vdpa_sim's passthrough). */
  vdpa.config.bindPassthrough?.(kernelMemory(dev.kernel));
  dev.drvdata = vd;
  try {
    registerVirtioDevice(vd);
  } catch (e) {
    vdpa.config.bindPassthrough?.(null);
    throw e;
  }
  trace('probe %s -> %s', dev.name, vd.name);
}

function virtioVdpaRemove(dev: Device): MaybeWait<void> {
  const vdpa = dev as VdpaDevice;
  const vd = dev.drvdata as VirtioVdpaDevice;
  return after(unregisterVirtioDevice(vd), () => {
    vdpa.config.setConfigCb(null);
    vdpa.config.bindPassthrough?.(null);
  });
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
