/*
 * drivers/vdpa/vdpa_sim/vdpa_sim.c: the common part of the simulators.
 *
 * A simulated device keeps what real hardware keeps: status, negotiated
 * features, config space, and per virtqueue its size, ring addresses,
 * readiness and the avail index it has consumed up to. The data path (what
 * net and blk do with a kicked queue) is the device type's `work`.
 *
 * Reset clears status and features, makes every vq not-ready with zero
 * addresses and bumps the generation. set_driver_features refuses a driver
 * that did not accept ACCESS_PLATFORM (EINVAL), as the real sim does.
 */
import createDebug from 'debug';
import { fail } from '../../../kernel/errno';
import type { Kernel } from '../../../kernel/kernel';
import { VdpaDevice } from '../vdpa';
import type { VdpaCallback, VdpaConfigOps, VdpaVqState } from '../vdpa_config';
import { VhostIotlb } from '../../vhost/iotlb';

const trace = createDebug('vdpafs:vdpa_sim');

export const VDPASIM_QUEUE_ALIGN = 4096;
export const VDPASIM_QUEUE_MAX = 256;
export const VDPASIM_VENDOR_ID = 0;

export const VIRTIO_F_ANY_LAYOUT = 27n;
export const VIRTIO_F_VERSION_1 = 32n;
export const VIRTIO_F_ACCESS_PLATFORM = 33n;
export const VDPASIM_FEATURES = (1n << VIRTIO_F_ANY_LAYOUT) | (1n << VIRTIO_F_VERSION_1) | (1n << VIRTIO_F_ACCESS_PLATFORM);

export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;

export class VdpasimVirtqueue {
  num = 0;
  descAddr = 0n;
  driverAddr = 0n;
  deviceAddr = 0n;
  ready = false;
  cb: VdpaCallback = null;
  /* vringh's last_avail_idx, what GET_VRING_BASE reports. */
  lastAvailIdx = 0;
  /* Set when the data path found the ring malformed: the queue stops. */
  broken = false;

  reset(): void {
    this.num = 0;
    this.descAddr = this.driverAddr = this.deviceAddr = 0n;
    this.ready = false;
    this.cb = null;
    this.lastAvailIdx = 0;
    this.broken = false;
  }
}

/* struct vdpasim_dev_attr: what a device type contributes. */
export interface VdpasimDevAttr {
  id: number;
  supportedFeatures: bigint;
  nvqs: number;
  ngroups: number;
  nas: number;
  configSize: number;
  /* Fill/refresh config space before a read (net refreshes status). */
  getConfig(sim: Vdpasim): void;
  setConfig?(sim: Vdpasim): void;
  /* The data path, run when a queue is kicked (vdpasim->work). */
  work(sim: Vdpasim): void;
  getStats?(sim: Vdpasim, idx: number): Array<[string, bigint]>;
  /* vq index → group (net: the cvq is group 1). */
  vqGroup?(idx: number): number;
}

export class Vdpasim implements VdpaConfigOps {
  readonly vdev: VdpaDevice;
  readonly vqs: VdpasimVirtqueue[];
  readonly config: Buffer;
  status = 0;
  features = 0n;
  generation = 0;
  suspended = false;
  /* A kick while suspended is replayed on resume. */
  private pendingKick = false;
  /* One IOTLB per address space; group → ASID mapping. */
  readonly iotlbs: VhostIotlb[];
  readonly groupAsid: number[];
  configCb: VdpaCallback = null;
  /* Device-type state (vdpasim_net's stats, vdpasim_blk's disk). */
  priv: unknown = null;
  /* For virtio_vdpa: device memory accesses go straight to kernel memory. */
  passthrough: unknown = null;

  constructor(
    kernel: Kernel,
    name: string,
    readonly devAttr: VdpasimDevAttr,
  ) {
    this.vdev = new VdpaDevice(kernel, name, this, devAttr.nvqs, devAttr.ngroups, devAttr.nas);
    this.vqs = Array.from({ length: devAttr.nvqs }, () => new VdpasimVirtqueue());
    this.config = Buffer.alloc(devAttr.configSize);
    this.iotlbs = Array.from({ length: devAttr.nas }, () => new VhostIotlb());
    this.groupAsid = Array.from({ length: devAttr.ngroups }, () => 0);
  }

  get running(): boolean {
    return (this.status & VIRTIO_CONFIG_S_DRIVER_OK) !== 0 && !this.suspended;
  }

  /* Run the device's work, unless stopped; the sim does it from a kthread. */
  schedule(): void {
    if (this.suspended) {
      this.pendingKick = true;
      return;
    }
    if (!(this.status & VIRTIO_CONFIG_S_DRIVER_OK)) return;
    this.devAttr.work(this);
  }

  /* A malformed ring: stop that queue and tell the driver to reset. */
  vqError(idx: number, why: string): void {
    const vq = this.vqs[idx];
    if (vq.broken) return;
    vq.broken = true;
    this.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    this.vdev.kernel.log.kmsg('err', `vdpa_sim ${this.vdev.name}: vq ${idx}: ${why}, device needs reset`);
    this.configCb?.();
  }

  /* --- vq ops --- */
  setVqAddress(idx: number, desc: bigint, driver: bigint, device: bigint): void {
    const vq = this.vqs[idx];
    vq.descAddr = desc;
    vq.driverAddr = driver;
    vq.deviceAddr = device;
  }
  setVqNum(idx: number, num: number): void {
    this.vqs[idx].num = num;
  }
  kickVq(idx: number): void {
    if (this.vqs[idx].ready) this.schedule();
  }
  setVqCb(idx: number, cb: VdpaCallback): void {
    this.vqs[idx].cb = cb;
  }
  setVqReady(idx: number, ready: boolean): void {
    const vq = this.vqs[idx];
    const old = vq.ready;
    vq.ready = ready;
    /* vdpasim_queue_ready(): (re)start from the avail index the state holds. */
    if (ready && !old) vq.broken = false;
  }
  getVqReady(idx: number): boolean {
    return this.vqs[idx].ready;
  }
  setVqState(idx: number, state: VdpaVqState): void {
    this.vqs[idx].lastAvailIdx = state.availIndex & 0xffff;
  }
  getVqState(idx: number): VdpaVqState {
    return { availIndex: this.vqs[idx].lastAvailIdx };
  }
  getVqGroup(idx: number): number {
    return this.devAttr.vqGroup?.(idx) ?? 0;
  }
  getVqSize(idx: number): number {
    /* vdpasim_get_vq_size(): the negotiated size once running, else the max. */
    return this.status & VIRTIO_CONFIG_S_DRIVER_OK ? this.vqs[idx].num : VDPASIM_QUEUE_MAX;
  }
  getVendorVqStats(idx: number): Array<[string, bigint]> {
    if (!this.devAttr.getStats) fail('EOPNOTSUPP');
    return this.devAttr.getStats(this, idx);
  }

  /* --- device ops --- */
  getVqAlign(): number {
    return VDPASIM_QUEUE_ALIGN;
  }
  getDeviceFeatures(): bigint {
    return this.devAttr.supportedFeatures;
  }
  setDriverFeatures(features: bigint): void {
    /* DMA mapping must be done by the driver. */
    if (!(features & (1n << VIRTIO_F_ACCESS_PLATFORM))) fail('EINVAL');
    this.features = features & this.devAttr.supportedFeatures;
  }
  getDriverFeatures(): bigint {
    return this.features;
  }
  setConfigCb(cb: VdpaCallback): void {
    this.configCb = cb;
  }
  getVqNumMax(): number {
    return VDPASIM_QUEUE_MAX;
  }
  getVqNumMin(): number {
    return 1;
  }
  getDeviceId(): number {
    return this.devAttr.id;
  }
  getVendorId(): number {
    return VDPASIM_VENDOR_ID;
  }
  getStatus(): number {
    return this.status;
  }
  setStatus(status: number): void {
    this.status = status & 0xff;
    trace('%s status 0x%s', this.vdev.name, this.status.toString(16));
  }
  reset(): void {
    for (const vq of this.vqs) vq.reset();
    this.status = 0;
    this.features = 0n;
    this.suspended = false;
    this.pendingKick = false;
    this.generation++;
    for (let g = 0; g < this.groupAsid.length; g++) this.groupAsid[g] = 0;
  }
  suspend(): void {
    this.suspended = true;
  }
  resume(): void {
    this.suspended = false;
    if (this.pendingKick) {
      this.pendingKick = false;
      this.schedule();
    }
  }
  getConfigSize(): number {
    return this.devAttr.configSize;
  }
  getConfig(offset: number, len: number): Buffer {
    this.devAttr.getConfig(this);
    const out = Buffer.alloc(len);
    if (offset < this.config.length) this.config.copy(out, 0, offset, Math.min(this.config.length, offset + len));
    return out;
  }
  setConfig(offset: number, buf: Buffer): void {
    if (offset + buf.length > this.config.length) return;
    buf.copy(this.config, offset);
    this.devAttr.setConfig?.(this);
  }
  getGeneration(): number {
    return this.generation;
  }
  getIovaRange(): { first: bigint; last: bigint } {
    return { first: 0n, last: 0xffffffffffffffffn };
  }
  setGroupAsid(group: number, asid: number): void {
    if (group >= this.groupAsid.length) fail('EINVAL');
    if (asid >= this.iotlbs.length) fail('EINVAL');
    this.groupAsid[group] = asid;
  }
  setMap(asid: number, iotlb: VhostIotlb): void {
    if (asid >= this.iotlbs.length) fail('EINVAL');
    this.iotlbs[asid] = iotlb;
  }
  bindPassthrough(mem: unknown): void {
    this.passthrough = mem;
  }

  /* The IOTLB a vq's accesses go through (its group's address space). */
  iotlbForVq(idx: number): VhostIotlb {
    return this.iotlbs[this.groupAsid[this.getVqGroup(idx)]];
  }
}
