/*
 * An open /dev/vhost-vdpa-N: the kernel's struct file for the vhost-vdpa
 * char device (drivers/vhost/vdpa.c with the parts of vhost.c it uses).
 *
 * Every ioctl of include/uapi/linux/vhost.h that vhost-vdpa answers is a
 * method named after it (getFeatures for VHOST_GET_FEATURES, setVringAddr
 * for VHOST_SET_VRING_ADDR, ...), with the kernel's checks in the kernel's
 * order and its errnos thrown as KernelErrors: the API the model's own
 * users (the shell driver, tests) call. ioctl(req) is the same device
 * driven the way a process drives it through the mount: the numeric
 * command, the argument bytes FUSE copied in, and the caller -- whose
 * memory (copy_from_user past the encoded size, GET_CONFIG's buf[]) and
 * eventfd numbers are reached through the kernel's `tasks` hook
 * (kernel/task.ts). write() is the IOTLB message channel (iotlbWrite);
 * read() is EINVAL (vhost_vdpa_fops has no read).
 *
 * Rules that run through all of it:
 *  - owner: VHOST_SET_OWNER first, or the vhost_dev_ioctl() path refuses
 *    with EPERM; a second SET_OWNER is EBUSY; a caller from another
 *    process than the owner's is not the owner (EPERM), as
 *    vhost_dev_check_owner() compares mms;
 *  - vring ioctls read the index first: index >= nvqs is ENOBUFS;
 *  - copy_from_user/copy_to_user on memory that is not there is EFAULT.
 *
 * Eventfds are EventfdCtx references (fs/eventfd.ts): a kick eventfd the
 * owner signals runs kick_vq (vhost_poll -> handle_vq_kick), a call eventfd
 * is what the device signals through the vq callback. A reference replaced
 * by a later SET_VRING_KICK/CALL/ERR or SET_CONFIG_CALL, or still held at
 * release, is put (a duplicated host fd is closed).
 *
 * Memory: the owner's memory is taken at SET_OWNER from the SET_OWNER
 * caller (vhost_dev_set_owner binds current->mm). vdpa_sim is modelled with
 * use_va=0: an IOTLB update pins the pages behind [uaddr, uaddr+size) in
 * that memory (vhost_vdpa_pa_map), so anonymous memory maps and a range
 * that is not mapped (a NULL uaddr) fails. The model stands the pinned
 * pages in by handing the owner's memory to the parent (bind_mm), through
 * which the device reads and writes the rings at the IOTLB's addresses.
 */
import createDebug from 'debug';
import { fail, KernelError } from '../../kernel/errno';
import type { Cred } from '../../kernel/cred';
import type { Task } from '../../kernel/task';
import { UserArg } from '../../kernel/uaccess';
import type { IoctlRequest, IoctlResult, OpenFile } from '../../fs/kernfs';
import type { EventfdCtx } from '../../fs/eventfd';
import type { LogLevel } from '../../kernel/printk';
import type { UserMm } from '../../mm/user_mm';
import { VDPA_RESET_F_CLEAN_MAP, VdpaConfigOps } from '../vdpa/vdpa_config';
import { VHOST_ACCESS_WO, VhostIotlb } from './iotlb';
import { VhostIotlbDev, vhostIotlbWrite } from './vhost_msg';
import type { VhostVdpa } from './vdpa';
import {
  SIZEOF_VHOST_MEMORY,
  SIZEOF_VHOST_MEMORY_REGION,
  SIZEOF_VHOST_VDPA_CONFIG,
  SIZEOF_VHOST_VRING_ADDR,
  VHOST_BACKEND_BIT,
  VHOST_BACKEND_F_DESC_ASID,
  VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK,
  VHOST_BACKEND_F_IOTLB_ASID,
  VHOST_BACKEND_F_IOTLB_BATCH,
  VHOST_BACKEND_F_IOTLB_MSG_V2,
  VHOST_BACKEND_F_IOTLB_PERSIST,
  VHOST_BACKEND_F_RESUME,
  VHOST_BACKEND_F_SUSPEND,
  VHOST_FILE_UNBIND,
  VHOST_GET_BACKEND_FEATURES,
  VHOST_GET_FEATURES,
  VHOST_GET_VRING_BASE,
  VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
  VHOST_MAX_MEM_REGIONS,
  VHOST_MEMORY_REGION,
  VHOST_SET_BACKEND_FEATURES,
  VHOST_SET_FEATURES,
  VHOST_SET_LOG_BASE,
  VHOST_SET_LOG_FD,
  VHOST_SET_MEM_TABLE,
  VHOST_SET_OWNER,
  VHOST_SET_VRING_ADDR,
  VHOST_SET_VRING_BASE,
  VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
  VHOST_SET_VRING_CALL,
  VHOST_SET_VRING_ERR,
  VHOST_SET_VRING_KICK,
  VHOST_SET_VRING_NUM,
  VHOST_VDPA_GET_AS_NUM,
  VHOST_VDPA_GET_CONFIG,
  VHOST_VDPA_GET_CONFIG_SIZE,
  VHOST_VDPA_GET_DEVICE_ID,
  VHOST_VDPA_GET_GROUP_NUM,
  VHOST_VDPA_GET_IOVA_RANGE,
  VHOST_VDPA_GET_STATUS,
  VHOST_VDPA_GET_VQS_COUNT,
  VHOST_VDPA_GET_VRING_DESC_GROUP,
  VHOST_VDPA_GET_VRING_GROUP,
  VHOST_VDPA_GET_VRING_NUM,
  VHOST_VDPA_GET_VRING_SIZE,
  VHOST_VDPA_RESUME,
  VHOST_VDPA_SET_CONFIG,
  VHOST_VDPA_SET_CONFIG_CALL,
  VHOST_VDPA_SET_GROUP_ASID,
  VHOST_VDPA_SET_STATUS,
  VHOST_VDPA_SET_VRING_ENABLE,
  VHOST_VDPA_SUSPEND,
  VHOST_VRING_ADDR,
  VHOST_VRING_F_LOG,
} from '../../include/uapi/vhost';
import { VRING_AVAIL_ALIGN_SIZE, VRING_USED_ALIGN_SIZE } from '../../include/uapi/virtio_ring';
import { VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK } from '../../include/uapi/virtio_config';

const trace = createDebug('vdpafs:vhost_vdpa');

/* VHOST_VDPA_BACKEND_FEATURES: what vhost-vdpa itself always offers. */
const VHOST_VDPA_BACKEND_FEATURES =
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_MSG_V2) |
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_BATCH) |
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_ASID);
/* What SET_BACKEND_FEATURES accepts at all. */
const VHOST_VDPA_BACKEND_ACCEPTED =
  VHOST_VDPA_BACKEND_FEATURES |
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_DESC_ASID) |
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_PERSIST) |
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_SUSPEND) |
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_RESUME) |
  VHOST_BACKEND_BIT(VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK);

const U16_MAX = 0xffff;

export interface VhostVringAddr {
  flags?: number;
  desc: bigint | number;
  used: bigint | number;
  avail: bigint | number;
  log?: bigint | number;
}

export interface VhostMemoryRegion {
  guestPhysAddr: bigint | number;
  memorySize: bigint | number;
  userspaceAddr: bigint | number;
}

/* struct vhost_virtqueue: what vhost keeps per ring on the file's side. */
class VhostVdpaVq {
  num = 0;
  desc = 0n;
  avail = 0n;
  used = 0n;
  log = 0n;
  logUsed = false;
  lastAvailIdx = 0;
  ackedFeatures = 0n;
  busyloopTimeout = 0;
  kick: EventfdCtx | null = null;
  unpollKick: (() => void) | null = null;
  call: EventfdCtx | null = null;
  err: EventfdCtx | null = null;
}

export class VhostVdpaFile implements VhostIotlbDev {
  /* VhostIotlbDev: v->in_batch, v->batch_asid. */
  inBatch = false;
  batchAsid = 0;

  private readonly ops: VdpaConfigOps;
  private readonly nvqs: number;
  private readonly vqs: VhostVdpaVq[];
  /* vhost_dev.mm != NULL: VHOST_SET_OWNER was done. */
  private hasOwner = false;
  /* vhost_dev.mm: the SET_OWNER caller's memory, and its process (null: the model's own caller). */
  private ownerMm: UserMm | null = null;
  private ownerTgid: number | null = null;
  /* `current` of the ioctl or write being served (null: a direct method call). */
  private caller: Task | null = null;
  private ackedBackendFeatures = 0n;
  /* v->as: IOTLB per address space, allocated by the first UPDATE (or BATCH_BEGIN). */
  private readonly asids = new Map<number, VhostIotlb>();
  /* v->range */
  private range = { first: 0n, last: 0n };
  /* v->suspended */
  private suspended = false;
  private configCtx: EventfdCtx | null = null;
  /* vhost_dev.umem: VHOST_SET_MEM_TABLE is stored and otherwise ignored by vhost-vdpa. */
  private umem: VhostIotlb | null = null;
  private closed = false;

  constructor(readonly v: VhostVdpa) {
    this.ops = v.vdpa.config;
    this.nvqs = v.vdpa.nvqs;
    this.vqs = Array.from({ length: this.nvqs }, () => new VhostVdpaVq());
  }

  /* The second half of vhost_vdpa_open(): reset (no maps cleaned: no vqs yet), then the iova range. */
  openDevice(): void {
    this.compatReset(false);
    this.range = this.ops.getIovaRange();
  }

  /*
   * vhost_vdpa_release(): everything the open file set up goes -- the
   * device is reset, kicks stop being polled, every eventfd reference is
   * put, the owner's memory is let go, the IOTLBs are emptied.
   */
  releaseDevice(): void {
    if (this.closed) return;
    this.vdpaReset();
    /* vhost_dev_stop(), then vhost_dev_cleanup()'s puts. */
    for (const vq of this.vqs) {
      vq.unpollKick?.();
      vq.unpollKick = null;
      for (const ctx of [vq.kick, vq.call, vq.err]) ctx?.put();
      vq.kick = vq.call = vq.err = null;
    }
    /* vhost_vdpa_unbind_mm(), and the owner's mm reference. */
    if (this.hasOwner) this.ops.unbindMm?.();
    this.ownerMm?.mmput();
    this.ownerMm = null;
    this.ownerTgid = null;
    this.hasOwner = false;
    /* vhost_vdpa_config_put() */
    this.configCtx?.put();
    this.configCtx = null;
    /* vhost_vdpa_cleanup(): each address space is unmapped and its parent map reset. */
    for (const [asid, iotlb] of this.asids) {
      iotlb.reset();
      this.ops.resetMap?.(asid);
    }
    this.asids.clear();
    this.closed = true;
  }

  /* close(2) */
  release(): void {
    if (this.closed) return;
    this.v.release(this);
  }

  /*
   * The node as Linux has it: ioctl(), write() of IOTLB messages, and no
   * read op (vfs_read() of a file without one is EINVAL).
   */
  asOpenFile(): OpenFile {
    return {
      read: () => fail('EINVAL'),
      write: (src, _pos, cred) => this.write(src, cred),
      ioctl: (req) => this.ioctl(req),
      release: () => this.release(),
    };
  }

  /* write(2) from a caller (the file offset plays no part). */
  write(src: Buffer, cred?: Readonly<Cred>): number {
    this.live();
    this.caller = cred !== undefined ? this.v.kernel.tasks.current(cred) : null;
    try {
      return this.iotlbWrite(src);
    } finally {
      this.caller = null;
    }
  }

  /* ---------------- VhostIotlbDev (vhost_vdpa_process_iotlb_msg's view) ---------------- */

  /* vhost_dev_check_owner() passes for the caller being served. */
  get owner(): boolean {
    return this.isOwner();
  }

  get iovaRange(): { first: bigint; last: bigint } {
    return this.range;
  }

  get asidFeature(): boolean {
    return this.backendHas(VHOST_BACKEND_F_IOTLB_ASID);
  }

  /* vhost_vdpa_find_alloc_as() / asid_to_iotlb() */
  asIotlb(asid: number, alloc: boolean): VhostIotlb | undefined {
    let iotlb = this.asids.get(asid);
    if (iotlb === undefined && alloc && asid < this.v.vdpa.nas) {
      iotlb = new VhostIotlb(0, 0);
      this.asids.set(asid, iotlb);
    }
    return iotlb;
  }

  setMap(asid: number, iotlb: VhostIotlb): void {
    this.ops.setMap(asid, iotlb);
  }

  /* vhost_vdpa_pa_map(): pin_user_pages() on the owner's memory (FOLL_WRITE for a writable map). */
  pinnable(uaddr: bigint, size: bigint, perm: number): boolean {
    return this.ownerMm !== null && this.ownerMm.pinnable(uaddr, size, (perm & VHOST_ACCESS_WO) !== 0);
  }

  /* dev_err()/dev_info() on the vhost-vdpa device (no driver, bus or class: the prefix is " vhost-vdpa-N: "). */
  log(level: LogLevel, msg: string): void {
    this.v.kernel.log.kmsg(level, ` ${this.v.dev.name}: ${msg}`);
  }

  /* write(2): vhost_chr_write_iter() with vhost-vdpa's message handler. */
  iotlbWrite(buf: Buffer): number {
    this.live();
    return vhostIotlbWrite(this, buf);
  }

  /* ---------------- ioctls that need no owner ---------------- */

  /* VHOST_GET_FEATURES */
  getFeatures(): bigint {
    this.live();
    return this.ops.getDeviceFeatures();
  }

  /* VHOST_SET_FEATURES: frozen once FEATURES_OK is set (EBUSY); a refusal by the device is EINVAL. */
  setFeatures(features: bigint): void {
    this.live();
    if (this.ops.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK) fail('EBUSY');
    try {
      this.vdpaSetFeatures(features);
    } catch (e) {
      if (e instanceof KernelError) fail('EINVAL');
      throw e;
    }
    const actual = this.ops.getDriverFeatures();
    for (const vq of this.vqs) vq.ackedFeatures = actual;
  }

  /* VHOST_GET_BACKEND_FEATURES */
  getBackendFeatures(): bigint {
    this.live();
    let f = VHOST_VDPA_BACKEND_FEATURES;
    if (this.ops.suspend) f |= VHOST_BACKEND_BIT(VHOST_BACKEND_F_SUSPEND);
    if (this.ops.resume) f |= VHOST_BACKEND_BIT(VHOST_BACKEND_F_RESUME);
    if (this.hasPersistentMap()) f |= VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_PERSIST);
    return f | (this.ops.getBackendFeatures?.() ?? 0n);
  }

  /* VHOST_SET_BACKEND_FEATURES: handled before the owner check, as in vhost_vdpa_unlocked_ioctl(). */
  setBackendFeatures(features: bigint): void {
    this.live();
    const has = (bit: number): boolean => (features & VHOST_BACKEND_BIT(bit)) !== 0n;
    if (features & ~VHOST_VDPA_BACKEND_ACCEPTED) fail('EOPNOTSUPP');
    if (has(VHOST_BACKEND_F_SUSPEND) && !this.ops.suspend) fail('EOPNOTSUPP');
    if (has(VHOST_BACKEND_F_RESUME) && !this.ops.resume) fail('EOPNOTSUPP');
    if (has(VHOST_BACKEND_F_DESC_ASID) && !has(VHOST_BACKEND_F_IOTLB_ASID)) fail('EINVAL');
    /* vdpa_sim has no get_vq_desc_group. */
    if (has(VHOST_BACKEND_F_DESC_ASID)) fail('EOPNOTSUPP');
    if (has(VHOST_BACKEND_F_IOTLB_PERSIST) && !this.hasPersistentMap()) fail('EOPNOTSUPP');
    this.ackedBackendFeatures = features;
  }

  /* VHOST_VDPA_GET_DEVICE_ID */
  getDeviceId(): number {
    this.live();
    return this.ops.getDeviceId();
  }

  /* VHOST_VDPA_GET_STATUS */
  getStatus(): number {
    this.live();
    return this.ops.getStatus() & 0xff;
  }

  /*
   * VHOST_VDPA_SET_STATUS: a status may only add bits (EINVAL if it clears
   * one), except 0, which resets the device (and cleans the maps unless
   * IOTLB_PERSIST was acked).
   */
  setStatus(status: number): void {
    this.live();
    status &= 0xff;
    const old = this.ops.getStatus();
    if (status !== 0 && (old & ~status) !== 0) fail('EINVAL');
    if (status === 0) this.compatReset(true);
    else this.ops.setStatus(status);
  }

  /* VHOST_VDPA_GET_CONFIG: len 0, or a range outside the config space, is EINVAL. */
  getConfig(offset: number, len: number): Buffer {
    this.live();
    this.configValidate(offset, len);
    /* vdpa_get_config(): a config read before features are set assumes a legacy driver. */
    if (!this.v.vdpa.featuresValid) {
      try {
        this.vdpaSetFeatures(0n);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
      }
    }
    return this.ops.getConfig(offset, len);
  }

  /* VHOST_VDPA_SET_CONFIG */
  setConfig(offset: number, buf: Buffer): void {
    this.live();
    this.configValidate(offset, buf.length);
    this.ops.setConfig(offset, Buffer.from(buf));
  }

  /* VHOST_VDPA_GET_VRING_NUM: the largest ring the device takes. */
  getVringNum(): number {
    this.live();
    return this.ops.getVqNumMax() & U16_MAX;
  }

  /* VHOST_VDPA_GET_GROUP_NUM */
  getGroupNum(): number {
    this.live();
    return this.v.vdpa.ngroups;
  }

  /* VHOST_VDPA_GET_AS_NUM */
  getAsNum(): number {
    this.live();
    return this.v.vdpa.nas;
  }

  /* VHOST_VDPA_GET_VQS_COUNT */
  getVqsCount(): number {
    this.live();
    return this.v.vdpa.nvqs;
  }

  /* VHOST_VDPA_GET_CONFIG_SIZE */
  getConfigSize(): number {
    this.live();
    return this.ops.getConfigSize();
  }

  /* VHOST_VDPA_GET_IOVA_RANGE */
  getIovaRange(): { first: bigint; last: bigint } {
    this.live();
    return { first: this.range.first, last: this.range.last };
  }

  /* VHOST_VDPA_SET_CONFIG_CALL: an eventfd, or null (fd -1) to unbind; the one it replaces is put. */
  setConfigCall(ctx: EventfdCtx | null): void {
    this.live();
    const old = this.configCtx;
    this.configCtx = ctx;
    if (old !== null && old !== ctx) old.put();
    this.ops.setConfigCb(() => this.configCtx?.signal());
  }

  /* VHOST_SET_LOG_BASE / VHOST_SET_LOG_FD: vhost-vdpa has no dirty log (ENOIOCTLCMD). */
  setLogBase(_base?: bigint): never {
    this.live();
    fail('ENOTTY');
  }
  setLogFd(_fd?: number): never {
    this.live();
    fail('ENOTTY');
  }

  /* VHOST_VDPA_SUSPEND: a no-op before DRIVER_OK. */
  suspend(): void {
    this.live();
    if (!(this.ops.getStatus() & VIRTIO_CONFIG_S_DRIVER_OK)) return;
    if (!this.ops.suspend) fail('EOPNOTSUPP');
    this.ops.suspend();
    this.suspended = true;
  }

  /* VHOST_VDPA_RESUME */
  resume(): void {
    this.live();
    if (!(this.ops.getStatus() & VIRTIO_CONFIG_S_DRIVER_OK)) return;
    if (!this.ops.resume) fail('EOPNOTSUPP');
    this.ops.resume();
    this.suspended = false;
  }

  /* ---------------- vhost_dev_ioctl(): owner ---------------- */

  /*
   * VHOST_SET_OWNER: EBUSY if there is one. `mm` is the caller's memory
   * (a reference the file now holds until release), `tgid` its process
   * (null when the model calls directly: no caller to compare later).
   */
  setOwner(mm: UserMm, tgid: number | null = null): void {
    this.live();
    if (this.hasOwner) fail('EBUSY');
    this.hasOwner = true;
    this.ownerMm = mm;
    this.ownerTgid = tgid;
    try {
      /* The model's stand-in for the pages pa_map will pin: the parent reaches this memory. */
      this.ops.bindMm?.(mm);
    } catch (e) {
      /* vhost_dev_reset_owner() */
      this.hasOwner = false;
      this.ownerMm = null;
      this.ownerTgid = null;
      mm.mmput();
      throw e;
    }
  }

  /*
   * VHOST_RESET_OWNER: vhost_dev_ioctl() does not know it either, so it
   * falls through to the vring path, whose get_user() of the (NULL)
   * argument faults.
   */
  resetOwner(): never {
    this.checkOwner();
    fail('EFAULT');
  }

  /* VHOST_SET_MEM_TABLE: checked and stored as vhost does; vhost-vdpa's data path ignores it. */
  setMemTable(regions: readonly VhostMemoryRegion[], padding = 0): void {
    this.checkOwner();
    if (padding !== 0) fail('EOPNOTSUPP');
    if (regions.length > VHOST_MAX_MEM_REGIONS) fail('E2BIG');
    const umem = new VhostIotlb(0, 0);
    for (const r of regions) {
      const gpa = BigInt(r.guestPhysAddr);
      try {
        umem.addRange(gpa, gpa + BigInt(r.memorySize) - 1n, BigInt(r.userspaceAddr), 0x3);
      } catch (e) {
        if (e instanceof KernelError) fail('EFAULT');
        throw e;
      }
    }
    this.umem = umem;
  }

  /* ---------------- vring ioctls: owner, then the index (ENOBUFS) ---------------- */

  /* VHOST_SET_VRING_NUM: a power of two up to 0xffff. */
  setVringNum(index: number, num: number): void {
    const vq = this.vringVq(index);
    num >>>= 0;
    if (num === 0 || num > U16_MAX || (num & (num - 1)) !== 0) fail('EINVAL');
    vq.num = num;
    this.ops.setVqNum(index, num);
  }

  /*
   * VHOST_SET_VRING_ADDR: flags other than LOG are EOPNOTSUPP; a misaligned
   * avail (2), used (4) or log (4) address is EINVAL; once DRIVER_OK is set
   * only a suspended device takes new addresses (EINVAL).
   */
  setVringAddr(index: number, addr: VhostVringAddr): void {
    const vq = this.vringVq(index);
    const flags = (addr.flags ?? 0) >>> 0;
    const desc = BigInt(addr.desc);
    const used = BigInt(addr.used);
    const avail = BigInt(addr.avail);
    const log = BigInt(addr.log ?? 0);
    if (flags & ~(1 << VHOST_VRING_F_LOG)) fail('EOPNOTSUPP');
    if (
      avail & BigInt(VRING_AVAIL_ALIGN_SIZE - 1) ||
      used & BigInt(VRING_USED_ALIGN_SIZE - 1) ||
      log & BigInt(VRING_USED_ALIGN_SIZE - 1)
    )
      fail('EINVAL');
    vq.logUsed = (flags & (1 << VHOST_VRING_F_LOG)) !== 0;
    vq.desc = desc;
    vq.avail = avail;
    vq.used = used;
    vq.log = log;
    if (this.ops.getStatus() & VIRTIO_CONFIG_S_DRIVER_OK && !this.suspended) fail('EINVAL');
    this.ops.setVqAddress(index, desc, avail, used);
  }

  /* VHOST_SET_VRING_BASE: the avail index to start from (split: <= 0xffff). */
  setVringBase(index: number, num: number): void {
    const vq = this.vringVq(index);
    num >>>= 0;
    if (num > U16_MAX) fail('EINVAL');
    vq.lastAvailIdx = num;
    if (this.ops.getStatus() & VIRTIO_CONFIG_S_DRIVER_OK && !this.suspended) fail('EINVAL');
    this.ops.setVqState(index, { availIndex: num });
  }

  /* VHOST_GET_VRING_BASE: the device's last_avail_idx. */
  getVringBase(index: number): number {
    const vq = this.vringVq(index);
    vq.lastAvailIdx = this.ops.getVqState(index).availIndex;
    return vq.lastAvailIdx;
  }

  /*
   * VHOST_SET_VRING_KICK: signalling the eventfd kicks the vq; null (fd -1)
   * unbinds. The same eventfd again changes nothing; a new one stops the
   * old poll, puts the old reference and starts polling -- and an eventfd
   * handed over already signalled kicks at once (vhost_poll_start).
   */
  setVringKick(index: number, ctx: EventfdCtx | null): void {
    const vq = this.vringVq(index);
    if (ctx === vq.kick) return;
    const old = vq.kick;
    vq.unpollKick?.();
    vq.unpollKick = null;
    vq.kick = ctx;
    old?.put();
    /* handle_vq_kick() */
    if (ctx !== null) vq.unpollKick = ctx.poll(() => this.ops.kickVq(index));
  }

  /* VHOST_SET_VRING_CALL: the eventfd the device's interrupts for this vq signal; the old one is put. */
  setVringCall(index: number, ctx: EventfdCtx | null): void {
    const vq = this.vringVq(index);
    const old = vq.call;
    vq.call = ctx;
    if (old !== null && old !== ctx) old.put();
    this.ops.setVqCb(index, ctx !== null ? () => vq.call?.signal() : null);
  }

  /* VHOST_SET_VRING_ERR: stored (vhost-vdpa never signals it); the old one is put. */
  setVringErr(index: number, ctx: EventfdCtx | null): void {
    const vq = this.vringVq(index);
    const old = vq.err;
    vq.err = ctx;
    if (old !== null && old !== ctx) old.put();
  }

  /* VHOST_SET_VRING_BUSYLOOP_TIMEOUT: generic vhost stores it; nothing in vhost-vdpa polls by it. */
  setVringBusyloopTimeout(index: number, timeout: number): void {
    this.vringVq(index).busyloopTimeout = timeout >>> 0;
  }

  /* VHOST_GET_VRING_BUSYLOOP_TIMEOUT */
  getVringBusyloopTimeout(index: number): number {
    return this.vringVq(index).busyloopTimeout;
  }

  /* VHOST_VDPA_SET_VRING_ENABLE: set_vq_ready (any nonzero num enables). */
  setVringEnable(index: number, enable: boolean | number): void {
    this.vringVq(index);
    this.ops.setVqReady(index, typeof enable === 'number' ? enable !== 0 : enable);
  }

  /* VHOST_VDPA_GET_VRING_GROUP: a group the device reports out of range is EIO. */
  getVringGroup(index: number): number {
    this.vringVq(index);
    const group = this.ops.getVqGroup(index);
    if (group >= this.v.vdpa.ngroups) fail('EIO');
    return group;
  }

  /* VHOST_VDPA_GET_VRING_DESC_GROUP: vdpa_sim has no separate descriptor group. */
  getVringDescGroup(index: number): number {
    this.vringVq(index);
    fail('EOPNOTSUPP');
  }

  /*
   * VHOST_VDPA_SET_GROUP_ASID: the group travels in the index field, so
   * the vring path's check comes first (group >= nvqs is ENOBUFS); then a
   * group >= ngroups or an asid >= nas is EINVAL (upstream cd025c1e,
   * "vhost: move vdpa group bound check to vhost_vdpa", in the stable trees:
   * before it, vdpa_sim let group == ngroups through).
   */
  setGroupAsid(group: number, asid: number): void {
    this.vringVq(group);
    if (group >= this.v.vdpa.ngroups || asid >>> 0 >= this.v.vdpa.nas) fail('EINVAL');
    this.ops.setGroupAsid(group, asid >>> 0);
  }

  /* VHOST_VDPA_GET_VRING_SIZE */
  getVringSize(index: number): number {
    this.vringVq(index);
    if (!this.ops.getVqSize) fail('EOPNOTSUPP');
    return this.ops.getVqSize(index);
  }

  /* ---------------- the numeric interface ---------------- */

  /*
   * ioctl(fd, cmd, argp) as a process issues it through the mount
   * (vhost_vdpa_unlocked_ioctl). The caller is req.cred's task: its memory
   * serves the argument bytes past the encoded size, its fd table the
   * eventfd numbers.
   */
  ioctl(req: IoctlRequest): IoctlResult {
    this.live();
    const task = this.v.kernel.tasks.current(req.cred);
    const arg = new UserArg(req, task);
    this.caller = task;
    try {
      return arg.result(this.unlockedIoctl(req.cmd >>> 0, arg, task));
    } finally {
      this.caller = null;
      arg.done();
    }
  }

  private unlockedIoctl(cmd: number, arg: UserArg, task: Task): number {
    switch (cmd) {
      case VHOST_SET_BACKEND_FEATURES:
        this.setBackendFeatures(arg.u64(0));
        return 0;
      case VHOST_VDPA_GET_DEVICE_ID:
        arg.putU32(0, this.getDeviceId());
        return 0;
      case VHOST_VDPA_GET_STATUS:
        arg.putU8(0, this.getStatus());
        return 0;
      case VHOST_VDPA_SET_STATUS:
        this.setStatus(arg.u8(0));
        return 0;
      case VHOST_VDPA_GET_CONFIG: {
        /* The header is all FUSE copies (_IOR: nothing in); buf[] goes straight to the caller's memory. */
        const off = arg.u32(0);
        const len = arg.u32(4);
        this.configValidate(off, len);
        arg.write(SIZEOF_VHOST_VDPA_CONFIG, this.getConfig(off, len));
        return 0;
      }
      case VHOST_VDPA_SET_CONFIG: {
        const off = arg.u32(0);
        const len = arg.u32(4);
        this.configValidate(off, len);
        this.setConfig(off, arg.read(SIZEOF_VHOST_VDPA_CONFIG, len));
        return 0;
      }
      case VHOST_GET_FEATURES:
        arg.putU64(0, this.getFeatures());
        return 0;
      case VHOST_SET_FEATURES:
        /* EBUSY before the argument is even read. */
        if (this.ops.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK) fail('EBUSY');
        this.setFeatures(arg.u64(0));
        return 0;
      case VHOST_VDPA_GET_VRING_NUM:
        arg.putU16(0, this.getVringNum());
        return 0;
      case VHOST_VDPA_GET_GROUP_NUM:
        arg.putU32(0, this.getGroupNum());
        return 0;
      case VHOST_VDPA_GET_AS_NUM:
        arg.putU32(0, this.getAsNum());
        return 0;
      case VHOST_SET_LOG_BASE:
      case VHOST_SET_LOG_FD:
        fail('ENOTTY');
      case VHOST_VDPA_SET_CONFIG_CALL:
        this.setConfigCallFd(arg.i32(0), task);
        return 0;
      case VHOST_GET_BACKEND_FEATURES:
        arg.putU64(0, this.getBackendFeatures());
        return 0;
      case VHOST_VDPA_GET_IOVA_RANGE: {
        const r = this.getIovaRange();
        arg.putU64(0, r.first);
        arg.putU64(8, r.last);
        return 0;
      }
      case VHOST_VDPA_GET_CONFIG_SIZE:
        arg.putU32(0, this.getConfigSize());
        return 0;
      case VHOST_VDPA_GET_VQS_COUNT:
        arg.putU32(0, this.getVqsCount());
        return 0;
      case VHOST_VDPA_SUSPEND:
        this.suspend();
        return 0;
      case VHOST_VDPA_RESUME:
        this.resume();
        return 0;
      default:
        return this.devIoctl(cmd, arg, task);
    }
  }

  /*
   * vhost_dev_ioctl(): SET_OWNER for anyone, everything else for the owner
   * only; what it does not know goes to vhost_vdpa_vring_ioctl().
   */
  private devIoctl(cmd: number, arg: UserArg, task: Task): number {
    if (cmd === VHOST_SET_OWNER) {
      if (this.hasOwner) fail('EBUSY');
      this.setOwner(task.mmGet(), task.tgid);
      return 0;
    }
    this.checkOwner();
    if (cmd === VHOST_SET_MEM_TABLE) {
      const n = arg.u32(0);
      const padding = arg.u32(4);
      if (padding !== 0) fail('EOPNOTSUPP');
      if (n > VHOST_MAX_MEM_REGIONS) fail('E2BIG');
      /* regions[] follow the 8-byte header in the caller's memory. */
      const raw = arg.read(SIZEOF_VHOST_MEMORY, n * SIZEOF_VHOST_MEMORY_REGION);
      const regions: VhostMemoryRegion[] = [];
      for (let i = 0; i < n; i++) {
        const o = i * SIZEOF_VHOST_MEMORY_REGION;
        regions.push({
          guestPhysAddr: raw.readBigUInt64LE(o + VHOST_MEMORY_REGION.GUEST_PHYS_ADDR),
          memorySize: raw.readBigUInt64LE(o + VHOST_MEMORY_REGION.MEMORY_SIZE),
          userspaceAddr: raw.readBigUInt64LE(o + VHOST_MEMORY_REGION.USERSPACE_ADDR),
        });
      }
      this.setMemTable(regions);
      return 0;
    }
    return this.vringIoctl(cmd, arg, task);
  }

  /*
   * vhost_vdpa_vring_ioctl() and vhost_vring_ioctl(): get_user() of the
   * index at argp -- for any command that got this far, whatever its
   * encoded size, so an unknown one with a NULL argp faults -- then the
   * index check, then the command.
   */
  private vringIoctl(cmd: number, arg: UserArg, task: Task): number {
    const index = arg.u32(0);
    this.vringVq(index);
    const state = (num: number): void => {
      arg.putU32(0, index);
      arg.putU32(4, num);
    };
    switch (cmd) {
      case VHOST_VDPA_SET_VRING_ENABLE:
        this.setVringEnable(index, arg.u32(4));
        return 0;
      case VHOST_VDPA_GET_VRING_GROUP:
        state(this.getVringGroup(index));
        return 0;
      case VHOST_VDPA_GET_VRING_DESC_GROUP:
        state(this.getVringDescGroup(index));
        return 0;
      case VHOST_VDPA_SET_GROUP_ASID:
        this.setGroupAsid(index, arg.u32(4));
        return 0;
      case VHOST_VDPA_GET_VRING_SIZE:
        state(this.getVringSize(index));
        return 0;
      case VHOST_SET_VRING_NUM:
        this.setVringNum(index, arg.u32(4));
        return 0;
      case VHOST_SET_VRING_ADDR: {
        const a = arg.read(0, SIZEOF_VHOST_VRING_ADDR);
        this.setVringAddr(index, {
          flags: a.readUInt32LE(VHOST_VRING_ADDR.FLAGS),
          desc: a.readBigUInt64LE(VHOST_VRING_ADDR.DESC),
          used: a.readBigUInt64LE(VHOST_VRING_ADDR.USED),
          avail: a.readBigUInt64LE(VHOST_VRING_ADDR.AVAIL),
          log: a.readBigUInt64LE(VHOST_VRING_ADDR.LOG),
        });
        return 0;
      }
      case VHOST_SET_VRING_BASE:
        this.setVringBase(index, arg.u32(4));
        return 0;
      case VHOST_GET_VRING_BASE:
        state(this.getVringBase(index));
        return 0;
      case VHOST_SET_VRING_KICK:
        this.setVringKick(index, this.eventfdGet(arg.i32(4), task));
        return 0;
      case VHOST_SET_VRING_CALL:
        this.setVringCall(index, this.eventfdGet(arg.i32(4), task));
        return 0;
      case VHOST_SET_VRING_ERR:
        this.setVringErr(index, this.eventfdGet(arg.i32(4), task));
        return 0;
      case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
        this.setVringBusyloopTimeout(index, arg.u32(4));
        return 0;
      case VHOST_GET_VRING_BUSYLOOP_TIMEOUT:
        /* Declared _IOW in vhost.h: FUSE copies nothing back, the answer goes to the caller's memory. */
        state(this.getVringBusyloopTimeout(index));
        return 0;
      default:
        /* ENOIOCTLCMD, which userspace sees as ENOTTY (VHOST_RESET_OWNER, SET/GET_VRING_ENDIAN, anything else). */
        fail('ENOTTY');
    }
  }

  /*
   * vhost_vdpa_set_config_call() with its quirk: the old eventfd is put
   * before the new fd is resolved, so a bad fd leaves none bound.
   */
  private setConfigCallFd(fd: number, task: Task): void {
    let ctx: EventfdCtx | null;
    try {
      ctx = this.eventfdGet(fd, task);
    } catch (e) {
      this.configCtx?.put();
      this.configCtx = null;
      throw e;
    }
    this.setConfigCall(ctx);
  }

  /* ---------------- helpers ---------------- */

  /* After close(2) the fd is gone. */
  private live(): void {
    if (this.closed) fail('EBADF');
  }

  /* vhost_dev_check_owner(): there is an owner, and the caller being served shares its mm. */
  private checkOwner(): void {
    this.live();
    if (!this.isOwner()) fail('EPERM');
  }

  private isOwner(): boolean {
    if (!this.hasOwner) return false;
    const caller = this.caller;
    return caller === null || this.ownerTgid === null || caller.tgid === this.ownerTgid;
  }

  /* The owner check, then vhost_vdpa_vring_ioctl()'s index check. */
  private vringVq(index: number): VhostVdpaVq {
    this.checkOwner();
    const i = index >>> 0;
    if (i !== index || i >= this.nvqs) fail('ENOBUFS');
    return this.vqs[i];
  }

  /* eventfd_ctx_fdget() on the caller's fd table: -1 unbinds; EBADF for no such fd, EINVAL for one that is not an eventfd. */
  private eventfdGet(fd: number, task: Task): EventfdCtx | null {
    if (fd === VHOST_FILE_UNBIND) return null;
    return task.eventfdCtxFdget(fd);
  }

  /* vhost_vdpa_config_validate(); the callers turn its E2BIG into EINVAL. */
  private configValidate(offset: number, len: number): void {
    const size = this.ops.getConfigSize();
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len < 0) fail('EINVAL');
    if (len === 0 || offset > size) fail('EINVAL');
    if (len > size - offset) fail('EINVAL');
  }

  private backendHas(bit: number): boolean {
    return (this.ackedBackendFeatures & VHOST_BACKEND_BIT(bit)) !== 0n;
  }

  /* vhost_vdpa_has_persistent_map() */
  private hasPersistentMap(): boolean {
    return (
      this.ops.resetMap !== undefined || ((this.ops.getBackendFeatures?.() ?? 0n) & VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_PERSIST)) !== 0n
    );
  }

  /* vdpa_set_features(): features_valid goes up even if the device refuses. */
  private vdpaSetFeatures(features: bigint): void {
    this.v.vdpa.featuresValid = true;
    this.ops.setDriverFeatures(features);
  }

  /*
   * _compat_vdpa_reset(): vdpa_reset(vdpa, flags), with CLEAN_MAP unless
   * IOTLB_PERSIST was acked -- once the file has vqs (not during open).
   */
  private compatReset(haveVqs: boolean): void {
    this.suspended = false;
    const flags = haveVqs && !this.backendHas(VHOST_BACKEND_F_IOTLB_PERSIST) ? VDPA_RESET_F_CLEAN_MAP : 0;
    this.v.vdpa.featuresValid = false;
    if (flags && this.ops.compatReset) this.ops.compatReset(flags);
    else this.ops.reset();
    trace('%s reset (flags %d)', this.v.dev.name, flags);
  }

  /* vhost_vdpa_reset(): drop a half-done batch, then reset. */
  private vdpaReset(): void {
    this.inBatch = false;
    this.compatReset(true);
  }

  /** @internal for tests: the umem SET_MEM_TABLE stored. */
  get memTable(): VhostIotlb | null {
    return this.umem;
  }
}
