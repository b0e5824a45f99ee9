/*
 * drivers/vdpa/vdpa_sim/vdpa_sim.c: the common part of the simulators.
 *
 * A simulated device keeps what real hardware keeps: status, negotiated
 * features, config space, and per virtqueue its size, ring addresses,
 * readiness and a vringh (the device side of the ring) that remembers the
 * avail index it has consumed up to. The data path (what net and blk do with
 * a kicked queue) is the device type's `work`.
 *
 * Memory. Every device access goes through an AddressSpace per vq, picked
 * by the vq's group -> ASID:
 *  - an address space in passthrough (iommu_pt: the identity map the sim
 *    starts with, and gets back on reset_map or a CLEAN_MAP reset) sees the
 *    memory directly: PassthroughAddressSpace;
 *  - once vhost-vdpa has set a map (set_map, copied as vdpasim_set_map
 *    does), the IOTLB translates: IotlbAddressSpace.
 * "The memory" is the vhost owner's or, bound to virtio_vdpa, the host
 * kernel's (bindPassthrough). The model runs vdpa_sim as with use_va=0:
 * IOTLB addresses are user addresses of the process that did
 * VHOST_SET_OWNER, whose pages vhost-vdpa pinned when the map was made;
 * bindMm() hands the device that process's memory (a UserMm: the model's
 * own, or a client process's, reached by copying).
 *
 * Reset clears status and features, makes every vq not-ready with zero
 * addresses and an empty vringh, and bumps the generation. It keeps what
 * vdpasim_do_reset() keeps: each vq's num, and a kick left pending by a
 * suspend (replayed by the next resume).
 *
 * `running` is the sim's own flag: DRIVER_OK as last set by set_status,
 * cleared by suspend and reset, set by resume. So a SET_STATUS while
 * suspended that keeps DRIVER_OK runs the device again, whatever vhost-vdpa
 * believes about suspension.
 * set_driver_features refuses a driver that did not accept ACCESS_PLATFORM
 * (EINVAL), as the real sim does.
 *
 * The kthread worker is modelled synchronously: schedule() runs the work
 * now, and a reschedule from inside the work (after 5 packets, as the net
 * and blk work functions do) runs it again before schedule() returns. So a
 * kick returns once the device has consumed everything it can.
 */
import createDebug from 'debug';
import { fail } from '../../../kernel/errno';
import type { Kernel } from '../../../kernel/kernel';
import { AddressSpace, GuestMemory, MemoryFault, PassthroughAddressSpace } from '../../../mm/guest_memory';
import type { UserMm } from '../../../mm/user_mm';
import { VdpaDevice } from '../vdpa';
import { VDPA_RESET_F_CLEAN_MAP, VdpaCallback, VdpaConfigOps, VdpaVqState } from '../vdpa_config';
import { IotlbAddressSpace, VHOST_MAP_RW, VhostIotlb } from '../../vhost/iotlb';
import { Vring, VringError } from '../../vhost/vringh';
import {
  BIT,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_ANY_LAYOUT,
  VIRTIO_F_VERSION_1,
  virtioHasFeature,
} from '../../../include/uapi/virtio_config';
import { VIRTIO_RING_F_EVENT_IDX } from '../../../include/uapi/virtio_ring';

const trace = createDebug('vdpafs:vdpa_sim');

export const VDPASIM_QUEUE_ALIGN = 4096;
export const VDPASIM_QUEUE_MAX = 256;
export const VDPASIM_VENDOR_ID = 0;
/* Module parameter max_iotlb_entries (per address space). */
export const VDPASIM_MAX_IOTLB_ENTRIES = 2048;

export const VDPASIM_FEATURES = BIT(VIRTIO_F_ANY_LAYOUT) | BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM);

/* include/uapi/linux/vhost_types.h: the one backend feature the sim adds. */
const VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK = 6n;

const U64_MAX = 0xffff_ffff_ffff_ffffn;
/* A device with no memory bound yet: every access faults. */
const NO_MEMORY = new GuestMemory();

/* A u64 ring address as the data path's number; one beyond 2^53 can never be mapped. */
function ringAddr(a: bigint): number {
  return a <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(a) : Infinity;
}

export class VdpasimVirtqueue {
  num = 0;
  descAddr = 0n;
  driverAddr = 0n;
  deviceAddr = 0n;
  ready = false;
  cb: VdpaCallback = null;
  /* Set when the data path found the ring malformed: the queue stops. */
  broken = false;
  /* The device side of the ring, built when the queue becomes ready (vdpasim_queue_ready). */
  vring: Vring | null = null;
  /* last_avail_idx while there is no vring yet (set_vq_state before ready). */
  private availIdx = 0;

  /* vringh's last_avail_idx, what GET_VRING_BASE reports. */
  get lastAvailIdx(): number {
    return this.vring !== null ? this.vring.lastAvailIdx : this.availIdx;
  }
  set lastAvailIdx(v: number) {
    this.availIdx = v & 0xffff;
    if (this.vring !== null) this.vring.lastAvailIdx = v;
  }

  /* vdpasim_vq_reset(): vringh_init_iotlb() with no rings, indices 0. num stays. */
  reset(): void {
    this.descAddr = this.driverAddr = this.deviceAddr = 0n;
    this.ready = false;
    this.cb = null;
    this.vring = null;
    this.availIdx = 0;
    this.broken = false;
  }

  /* What the work function may touch: ready, not stopped by an error, with a ring. */
  get usable(): boolean {
    return this.ready && !this.broken && this.vring !== null;
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
  /* vdpasim->running: DRIVER_OK as set_status last saw it, and not suspended since. */
  running = false;
  /* A kick while stopped with DRIVER_OK set (suspended) is replayed on resume; reset leaves it. */
  pendingKick = false;
  /* One IOTLB per address space (the sim's own copy; set_map refills it); group → ASID mapping. */
  readonly iotlbs: VhostIotlb[];
  readonly groupAsid: number[];
  /* iommu_pt[asid]: the address space still has the identity map (no set_map since reset). */
  readonly iommuPt: boolean[];
  configCb: VdpaCallback = null;
  /* Device-type state (vdpasim_net's stats, vdpasim_blk's disk). */
  priv: unknown = null;
  /* For virtio_vdpa: device memory accesses go straight to kernel memory. */
  passthrough: unknown = null;
  /* The vhost owner's memory (bindMm). */
  mm: UserMm | null = null;

  private readonly asCache: Array<AddressSpace | undefined>;
  private working = false;
  private rescheduled = false;

  constructor(
    kernel: Kernel,
    name: string,
    readonly devAttr: VdpasimDevAttr,
  ) {
    this.vdev = new VdpaDevice(kernel, name, this, devAttr.nvqs, devAttr.ngroups, devAttr.nas);
    this.vqs = Array.from({ length: devAttr.nvqs }, () => new VdpasimVirtqueue());
    this.config = Buffer.alloc(devAttr.configSize);
    this.iotlbs = Array.from({ length: devAttr.nas }, () => new VhostIotlb(VDPASIM_MAX_IOTLB_ENTRIES));
    this.iommuPt = Array.from({ length: devAttr.nas }, () => true);
    for (const iotlb of this.iotlbs) iotlb.addRange(0n, U64_MAX, 0n, VHOST_MAP_RW);
    this.groupAsid = Array.from({ length: devAttr.ngroups }, () => 0);
    this.asCache = Array.from({ length: devAttr.nas }, () => undefined);
  }

  /* Stopped by VHOST_VDPA_SUSPEND (or never started): what vstats and the tests look at. */
  get suspended(): boolean {
    return !this.running && (this.status & VIRTIO_CONFIG_S_DRIVER_OK) !== 0;
  }

  /*
   * vdpasim_schedule_work(): run the device's work now. A schedule from
   * inside the work (the 5-packet reschedule, or a driver kicking from its
   * interrupt callback) runs it once more when the current run returns.
   */
  schedule(): void {
    if (this.working) {
      this.rescheduled = true;
      return;
    }
    this.working = true;
    try {
      do {
        this.rescheduled = false;
        this.runWork();
      } while (this.rescheduled);
    } finally {
      this.working = false;
    }
  }

  /* vdpasim_work_fn(). The work functions report ring errors per queue; this is the backstop. */
  private runWork(): void {
    try {
      this.devAttr.work(this);
    } catch (e) {
      if (!(e instanceof VringError || e instanceof MemoryFault)) throw e;
      for (let i = 0; i < this.vqs.length; i++) if (this.vqs[i].ready) this.vqError(i, e.message);
    }
  }

  /*
   * A malformed ring: stop that queue and tell the driver to reset. This is
   * the model's choice, not the kernel's: vdpa_sim counts the error (or
   * not), leaves the bad chain consumed and never completed, and tries the
   * ring again at the next kick (README.md, "Where vdpafs departs").
   */
  vqError(idx: number, why: string): void {
    const vq = this.vqs[idx];
    if (vq.broken) return;
    vq.broken = true;
    this.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    /* The real sim prints nothing here: this is a simulator note, marked as such. */
    this.vdev.kernel.log.kmsg('err', `vdpafs: vdpa_sim ${this.vdev.name}: vq ${idx}: ${why}, device needs reset`);
    this.configCb?.();
  }

  /* Signal the driver for vq idx (vdpasim_vq_notify). */
  vqNotify(idx: number): void {
    this.vqs[idx].cb?.();
  }

  /* --- memory --- */

  /* The device's view of memory for vq idx: its group's address space. */
  vqAddressSpace(idx: number): AddressSpace {
    return this.addressSpace(this.groupAsid[this.getVqGroup(idx)]);
  }

  /* The IOTLB a vq's accesses go through (its group's address space). */
  iotlbForVq(idx: number): VhostIotlb {
    return this.iotlbs[this.groupAsid[this.getVqGroup(idx)]];
  }

  private addressSpace(asid: number): AddressSpace {
    const cached = this.asCache[asid];
    if (cached !== undefined) return cached;
    const mem: UserMm = this.mm ?? (this.passthrough as GuestMemory | null) ?? NO_MEMORY;
    const as = this.iommuPt[asid] ? new PassthroughAddressSpace(mem) : new IotlbAddressSpace(this.iotlbs[asid], mem);
    this.asCache[asid] = as;
    return as;
  }

  /*
   * Which memory, or which kind of translation, an address space uses has
   * changed (vringh_set_iotlb): every live vring moves to its new address
   * space, keeping its indices.
   */
  private remapVqs(): void {
    this.asCache.fill(undefined);
    for (let i = 0; i < this.vqs.length; i++) {
      const old = this.vqs[i].vring;
      if (old === null) continue;
      const vring = new Vring(this.vqAddressSpace(i), {
        num: old.num,
        desc: old.descAddr,
        avail: old.availAddr,
        used: old.usedAddr,
        eventIdx: old.eventIdx,
      });
      vring.lastAvailIdx = old.lastAvailIdx;
      vring.lastUsedIdx = old.lastUsedIdx;
      this.vqs[i].vring = vring;
    }
  }

  /* vdpasim_queue_ready(): a fresh vringh on the current addresses; used idx = avail idx. */
  private queueReady(idx: number): void {
    const vq = this.vqs[idx];
    const last = vq.lastAvailIdx;
    vq.vring = new Vring(this.vqAddressSpace(idx), {
      num: vq.num,
      desc: ringAddr(vq.descAddr),
      avail: ringAddr(vq.driverAddr),
      used: ringAddr(vq.deviceAddr),
      eventIdx: virtioHasFeature(this.features, VIRTIO_RING_F_EVENT_IDX),
    });
    vq.vring.lastAvailIdx = last;
    vq.vring.lastUsedIdx = last;
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
    if (!this.running && this.status & VIRTIO_CONFIG_S_DRIVER_OK) {
      this.pendingKick = true;
      return;
    }
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
    if (ready && !old) {
      vq.broken = false;
      this.queueReady(idx);
    }
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
  getBackendFeatures(): bigint {
    return 1n << VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK;
  }
  setDriverFeatures(features: bigint): void {
    /* DMA mapping must be done by the driver. */
    if (!virtioHasFeature(features, VIRTIO_F_ACCESS_PLATFORM)) fail('EINVAL');
    this.features = features & this.devAttr.supportedFeatures;
  }
  getDriverFeatures(): bigint {
    return this.features;
  }
  /* The real sim ignores it ("We don't support config interrupt"); here vqError() uses it. */
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
    this.running = (this.status & VIRTIO_CONFIG_S_DRIVER_OK) !== 0;
    trace('%s status 0x%s', this.vdev.name, this.status.toString(16));
  }
  reset(): void {
    this.compatReset(0);
  }
  /* vdpasim_compat_reset() -> vdpasim_do_reset() */
  compatReset(flags: number): void {
    for (const vq of this.vqs) vq.reset();
    for (let g = 0; g < this.groupAsid.length; g++) this.groupAsid[g] = 0;
    if (flags & VDPA_RESET_F_CLEAN_MAP) {
      for (let asid = 0; asid < this.iotlbs.length; asid++) this.identityMap(asid);
    }
    this.asCache.fill(undefined);
    this.running = false;
    this.status = 0;
    this.features = 0n;
    this.generation++;
  }
  suspend(): void {
    this.running = false;
  }
  resume(): void {
    this.running = true;
    if (this.pendingKick) {
      /* Process pending descriptors. */
      for (let i = 0; i < this.vqs.length; i++) this.kickVq(i);
      this.pendingKick = false;
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
    return { first: 0n, last: U64_MAX };
  }
  /*
   * vdpasim_set_group_asid(): the vqs of `group` now go through `asid`.
   * The bounds are vhost-vdpa's to check (since upstream cd025c1e); a group
   * no vq belongs to changes nothing.
   */
  setGroupAsid(group: number, asid: number): void {
    if (asid >= this.iotlbs.length) fail('EINVAL');
    if (!(group < this.groupAsid.length) || this.groupAsid[group] === asid) return;
    this.groupAsid[group] = asid;
    this.remapVqs();
  }
  /* vdpasim_set_map(): copy the maps into the sim's own IOTLB; on failure it is left empty. */
  setMap(asid: number, iotlb: VhostIotlb): void {
    if (asid >= this.iotlbs.length) fail('EINVAL');
    const iommu = this.iotlbs[asid];
    const wasPt = this.iommuPt[asid];
    iommu.reset();
    this.iommuPt[asid] = false;
    try {
      for (const m of iotlb.maps()) iommu.addRange(m.start, m.last, m.addr, m.perm);
    } catch (e) {
      iommu.reset();
      throw e;
    } finally {
      if (wasPt) this.remapVqs();
    }
  }
  /* vdpasim_reset_map(): back to the identity map. */
  resetMap(asid: number): void {
    if (asid >= this.iotlbs.length) fail('EINVAL');
    if (this.iommuPt[asid]) return;
    this.identityMap(asid);
    this.remapVqs();
  }
  private identityMap(asid: number): void {
    this.iotlbs[asid].reset();
    this.iotlbs[asid].addRange(0n, U64_MAX, 0n, VHOST_MAP_RW);
    this.iommuPt[asid] = true;
  }
  /* From now on IOTLB addresses are addresses in this memory (the pages vhost-vdpa pins). */
  bindMm(mm: UserMm): void {
    this.mm = mm;
    this.remapVqs();
  }
  unbindMm(): void {
    this.mm = null;
    this.remapVqs();
  }
  /* virtio_vdpa: the device reaches the host kernel's memory (a GuestMemory) directly. */
  bindPassthrough(mem: unknown): void {
    if (mem !== null && !(mem instanceof GuestMemory)) fail('EINVAL');
    this.passthrough = mem;
    this.remapVqs();
  }
}
