/*
 * An open /dev/vhost-vdpa-N: the kernel's struct file for the vhost-vdpa
 * char device (drivers/vhost/vdpa.c with the parts of vhost.c it uses).
 *
 * Every ioctl of include/uapi/linux/vhost.h that vhost-vdpa answers is a
 * method named after it (getFeatures for VHOST_GET_FEATURES, setVringAddr
 * for VHOST_SET_VRING_ADDR, ...), with the kernel's checks in the kernel's
 * order and its errnos thrown as KernelErrors. ioctl(cmd, arg) is the same
 * API driven the way userspace drives it: the numeric command and the bytes
 * at argp (read for _IOW, written back for _IOR), so a test can replay
 * exactly what QEMU does. write() is the IOTLB message channel
 * (iotlbWrite).
 *
 * Rules that run through all of it:
 *  - owner: VHOST_SET_OWNER first, or the vhost_dev_ioctl() path refuses
 *    with EPERM; a second SET_OWNER is EBUSY;
 *  - vring ioctls read the index first: index >= nvqs is ENOBUFS;
 *  - copy_from_user/copy_to_user on an argument buffer too short is EFAULT.
 *
 * Eventfds are modelled by Eventfd below: a kick eventfd the owner signals
 * runs kick_vq (vhost_poll -> handle_vq_kick), a call eventfd is what the
 * device signals through the vq callback. ioctl() resolves the fd numbers
 * in vhost_vring_file through the opener's fd table.
 *
 * The opener's memory: vdpa_sim asks for use_va, so IOTLB uaddrs are
 * addresses in the address space of the process that did SET_OWNER
 * (vhost_vdpa_bind_mm). The file carries that memory (a GuestMemory) and
 * binds it to the parent on SET_OWNER.
 */
import createDebug from 'debug';
import { fail, KernelError } from '../../kernel/errno';
import type { OpenFile } from '../../fs/kernfs';
import { GuestMemory } from '../../mm/guest_memory';
import { VDPA_RESET_F_CLEAN_MAP, VdpaConfigOps } from '../vdpa/vdpa_config';
import { VhostIotlb } from './iotlb';
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
  VHOST_MAX_MEM_REGIONS,
  VHOST_MEMORY_REGION,
  VHOST_RESET_OWNER,
  VHOST_SET_BACKEND_FEATURES,
  VHOST_SET_FEATURES,
  VHOST_SET_LOG_BASE,
  VHOST_SET_LOG_FD,
  VHOST_SET_MEM_TABLE,
  VHOST_SET_OWNER,
  VHOST_SET_VRING_ADDR,
  VHOST_SET_VRING_BASE,
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

/*
 * fs/eventfd.c, reduced to what vhost needs: a counter that signal() adds
 * to, read() drains (EAGAIN when zero, as a non-blocking read), and
 * waiters that run on every signal (poll wakeups).
 */
export class Eventfd {
  private count = 0;
  private readonly waiters = new Set<() => void>();

  /* eventfd_signal(), or a write(2) of n. */
  signal(n = 1): void {
    this.count += n;
    for (const w of this.waiters) w();
  }

  /* read(2) on a non-blocking eventfd: the count, reset to 0. */
  read(): number {
    if (this.count === 0) fail('EAGAIN');
    const c = this.count;
    this.count = 0;
    return c;
  }

  /* What a read would return now (poll's POLLIN when > 0). */
  get pending(): number {
    return this.count;
  }

  /* Register a wakeup; returns the function that removes it. */
  poll(fn: () => void): () => void {
    this.waiters.add(fn);
    return () => void this.waiters.delete(fn);
  }
}

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
  kick: Eventfd | null = null;
  unpollKick: (() => void) | null = null;
  call: Eventfd | null = null;
  err: Eventfd | null = null;
}

/* Little-endian argument access with copy_{from,to}_user's EFAULT on a short buffer. */
function argNeed(arg: Buffer, n: number): void {
  if (arg.length < n) fail('EFAULT');
}
const getU32 = (arg: Buffer, o: number): number => (argNeed(arg, o + 4), arg.readUInt32LE(o));
const getI32 = (arg: Buffer, o: number): number => (argNeed(arg, o + 4), arg.readInt32LE(o));
const getU64 = (arg: Buffer, o: number): bigint => (argNeed(arg, o + 8), arg.readBigUInt64LE(o));
const putU8 = (arg: Buffer, o: number, v: number): void => (argNeed(arg, o + 1), void arg.writeUInt8(v & 0xff, o));
const putU16 = (arg: Buffer, o: number, v: number): void => (argNeed(arg, o + 2), void arg.writeUInt16LE(v & 0xffff, o));
const putU32 = (arg: Buffer, o: number, v: number): void => (argNeed(arg, o + 4), void arg.writeUInt32LE(v >>> 0, o));
const putU64 = (arg: Buffer, o: number, v: bigint): void => (argNeed(arg, o + 8), void arg.writeBigUInt64LE(v, o));

export class VhostVdpaFile implements VhostIotlbDev {
  /* VhostIotlbDev: v->in_batch, v->batch_asid. */
  inBatch = false;
  batchAsid = 0;

  private readonly ops: VdpaConfigOps;
  private readonly nvqs: number;
  private readonly vqs: VhostVdpaVq[];
  /* vhost_dev.mm != NULL: VHOST_SET_OWNER was done. */
  private hasOwner = false;
  private ackedBackendFeatures = 0n;
  /* v->as: IOTLB per address space, allocated by the first UPDATE (or BATCH_BEGIN). */
  private readonly asids = new Map<number, VhostIotlb>();
  /* v->range */
  private range = { first: 0n, last: 0n };
  /* v->suspended */
  private suspended = false;
  private configCtx: Eventfd | null = null;
  /* vhost_dev.umem: VHOST_SET_MEM_TABLE is stored and otherwise ignored by vhost-vdpa. */
  private umem: VhostIotlb | null = null;
  private closed = false;

  constructor(
    readonly v: VhostVdpa,
    /* The opener's memory: what use_va IOTLB uaddrs point into. */
    readonly mem: GuestMemory,
    /* The opener's fd table, for ioctl()'s fd numbers (eventfd_fget). */
    readonly fds: ReadonlyMap<number, Eventfd> = new Map(),
  ) {
    this.ops = v.vdpa.config;
    this.nvqs = v.vdpa.nvqs;
    this.vqs = Array.from({ length: this.nvqs }, () => new VhostVdpaVq());
  }

  /* The second half of vhost_vdpa_open(): reset (no maps cleaned: no vqs yet), then the iova range. */
  openDevice(): void {
    this.compatReset(false);
    this.range = this.ops.getIovaRange();
  }

  /* vhost_vdpa_release(): everything the open file set up goes, and the device is reset. */
  releaseDevice(): void {
    if (this.closed) return;
    this.vdpaReset();
    for (const vq of this.vqs) {
      vq.unpollKick?.();
      vq.unpollKick = null;
      vq.kick = vq.call = vq.err = null;
    }
    /* vhost_vdpa_unbind_mm() */
    if (this.hasOwner) this.ops.unbindMm?.();
    this.hasOwner = false;
    /* vhost_vdpa_config_put() */
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

  /* The raw node: no read op (EINVAL), write() carries IOTLB messages. */
  asOpenFile(): OpenFile {
    return {
      read: () => fail('EINVAL'),
      write: (src) => this.iotlbWrite(src),
      release: () => this.release(),
    };
  }

  /* ---------------- VhostIotlbDev (vhost_vdpa_process_iotlb_msg's view) ---------------- */

  get owner(): boolean {
    return this.hasOwner;
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

  /*
   * vhost_vdpa_va_map() finds the VMAs behind the user range (EINVAL when
   * there are none). Here: every byte must lie in the opener's memory.
   */
  uaddrValid(uaddr: bigint, size: bigint): boolean {
    if (uaddr + size - 1n > BigInt(Number.MAX_SAFE_INTEGER)) return false;
    let addr = Number(uaddr);
    const end = Number(uaddr + size);
    while (addr < end) {
      const r = this.mem.findRegion(addr);
      if (r === null) return false;
      addr = r.base + r.size;
    }
    return true;
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

  /* VHOST_VDPA_SET_CONFIG_CALL: an eventfd, or null (fd -1) to unbind. */
  setConfigCall(fd: Eventfd | null): void {
    this.live();
    this.configCtx = fd;
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

  /* VHOST_SET_OWNER: EBUSY if there is one; binds the opener's memory to the parent (use_va). */
  setOwner(): void {
    this.live();
    if (this.hasOwner) fail('EBUSY');
    this.hasOwner = true;
    try {
      this.ops.bindMm?.(this.mem);
    } catch (e) {
      this.hasOwner = false;
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

  /* VHOST_SET_VRING_KICK: signalling the eventfd kicks the vq; null (fd -1) unbinds. */
  setVringKick(index: number, fd: Eventfd | null): void {
    const vq = this.vringVq(index);
    if (fd === vq.kick) return;
    vq.unpollKick?.();
    vq.unpollKick = null;
    vq.kick = fd;
    if (fd === null) return;
    /* handle_vq_kick() */
    const kick = (): void => this.ops.kickVq(index);
    vq.unpollKick = fd.poll(kick);
    /* vhost_poll_start(): an eventfd that is already readable wakes the poller at once. */
    if (fd.pending > 0) kick();
  }

  /* VHOST_SET_VRING_CALL: the eventfd the device's interrupts for this vq signal. */
  setVringCall(index: number, fd: Eventfd | null): void {
    const vq = this.vringVq(index);
    vq.call = fd;
    this.ops.setVqCb(index, fd !== null ? () => vq.call?.signal() : null);
  }

  /* VHOST_SET_VRING_ERR: stored; vhost-vdpa never signals it. */
  setVringErr(index: number, fd: Eventfd | null): void {
    this.vringVq(index).err = fd;
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

  /* VHOST_VDPA_SET_GROUP_ASID: the group travels in the index field (so group >= nvqs is ENOBUFS). */
  setGroupAsid(group: number, asid: number): void {
    this.vringVq(group);
    if (asid >>> 0 >= this.v.vdpa.nas) fail('EINVAL');
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
   * ioctl(fd, cmd, argp) as userspace issues it: `arg` is the memory argp
   * points to. Results are written into it; the return value is ioctl's.
   */
  ioctl(cmd: number, arg: Buffer = Buffer.alloc(0)): number {
    this.live();
    cmd >>>= 0;
    switch (cmd) {
      case VHOST_SET_BACKEND_FEATURES:
        this.setBackendFeatures(getU64(arg, 0));
        return 0;
      case VHOST_VDPA_GET_DEVICE_ID:
        putU32(arg, 0, this.getDeviceId());
        return 0;
      case VHOST_VDPA_GET_STATUS:
        putU8(arg, 0, this.getStatus());
        return 0;
      case VHOST_VDPA_SET_STATUS:
        argNeed(arg, 1);
        this.setStatus(arg[0]);
        return 0;
      case VHOST_VDPA_GET_CONFIG: {
        const off = getU32(arg, 0);
        const len = getU32(arg, 4);
        this.configValidate(off, len);
        argNeed(arg, SIZEOF_VHOST_VDPA_CONFIG + len);
        this.getConfig(off, len).copy(arg, SIZEOF_VHOST_VDPA_CONFIG);
        return 0;
      }
      case VHOST_VDPA_SET_CONFIG: {
        const off = getU32(arg, 0);
        const len = getU32(arg, 4);
        this.configValidate(off, len);
        argNeed(arg, SIZEOF_VHOST_VDPA_CONFIG + len);
        this.setConfig(off, arg.subarray(SIZEOF_VHOST_VDPA_CONFIG, SIZEOF_VHOST_VDPA_CONFIG + len));
        return 0;
      }
      case VHOST_GET_FEATURES:
        putU64(arg, 0, this.getFeatures());
        return 0;
      case VHOST_SET_FEATURES:
        if (this.ops.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK) fail('EBUSY');
        this.setFeatures(getU64(arg, 0));
        return 0;
      case VHOST_VDPA_GET_VRING_NUM:
        putU16(arg, 0, this.getVringNum());
        return 0;
      case VHOST_VDPA_GET_GROUP_NUM:
        putU32(arg, 0, this.getGroupNum());
        return 0;
      case VHOST_VDPA_GET_AS_NUM:
        putU32(arg, 0, this.getAsNum());
        return 0;
      case VHOST_SET_LOG_BASE:
      case VHOST_SET_LOG_FD:
        fail('ENOTTY');
      case VHOST_VDPA_SET_CONFIG_CALL:
        this.setConfigCall(this.eventfdGet(getI32(arg, 0)));
        return 0;
      case VHOST_GET_BACKEND_FEATURES:
        putU64(arg, 0, this.getBackendFeatures());
        return 0;
      case VHOST_VDPA_GET_IOVA_RANGE: {
        const r = this.getIovaRange();
        argNeed(arg, 16);
        putU64(arg, 0, r.first);
        putU64(arg, 8, r.last);
        return 0;
      }
      case VHOST_VDPA_GET_CONFIG_SIZE:
        putU32(arg, 0, this.getConfigSize());
        return 0;
      case VHOST_VDPA_GET_VQS_COUNT:
        putU32(arg, 0, this.getVqsCount());
        return 0;
      case VHOST_VDPA_SUSPEND:
        this.suspend();
        return 0;
      case VHOST_VDPA_RESUME:
        this.resume();
        return 0;
      case VHOST_SET_OWNER:
        this.setOwner();
        return 0;
      default:
        return this.devIoctl(cmd, arg);
    }
  }

  /* vhost_dev_ioctl(), then vhost_vdpa_vring_ioctl() for what it does not know. */
  private devIoctl(cmd: number, arg: Buffer): number {
    this.checkOwner();
    if (cmd === VHOST_SET_MEM_TABLE) {
      const n = getU32(arg, 0);
      const padding = getU32(arg, 4);
      if (padding !== 0) fail('EOPNOTSUPP');
      if (n > VHOST_MAX_MEM_REGIONS) fail('E2BIG');
      argNeed(arg, SIZEOF_VHOST_MEMORY + n * SIZEOF_VHOST_MEMORY_REGION);
      const regions: VhostMemoryRegion[] = [];
      for (let i = 0; i < n; i++) {
        const o = SIZEOF_VHOST_MEMORY + i * SIZEOF_VHOST_MEMORY_REGION;
        regions.push({
          guestPhysAddr: getU64(arg, o + VHOST_MEMORY_REGION.GUEST_PHYS_ADDR),
          memorySize: getU64(arg, o + VHOST_MEMORY_REGION.MEMORY_SIZE),
          userspaceAddr: getU64(arg, o + VHOST_MEMORY_REGION.USERSPACE_ADDR),
        });
      }
      this.setMemTable(regions);
      return 0;
    }
    /* vhost_vdpa_vring_ioctl(): get_user(idx), then the index check. */
    const index = getU32(arg, 0);
    this.vringVq(index);
    switch (cmd) {
      case VHOST_VDPA_SET_VRING_ENABLE:
        this.setVringEnable(index, getU32(arg, 4));
        return 0;
      case VHOST_VDPA_GET_VRING_GROUP:
        argNeed(arg, 8);
        putU32(arg, 4, this.getVringGroup(index));
        return 0;
      case VHOST_VDPA_GET_VRING_DESC_GROUP:
        this.getVringDescGroup(index);
        return 0;
      case VHOST_VDPA_SET_GROUP_ASID:
        this.setGroupAsid(index, getU32(arg, 4));
        return 0;
      case VHOST_VDPA_GET_VRING_SIZE:
        argNeed(arg, 8);
        putU32(arg, 4, this.getVringSize(index));
        return 0;
      case VHOST_SET_VRING_NUM:
        this.setVringNum(index, getU32(arg, 4));
        return 0;
      case VHOST_SET_VRING_ADDR:
        argNeed(arg, SIZEOF_VHOST_VRING_ADDR);
        this.setVringAddr(index, {
          flags: getU32(arg, VHOST_VRING_ADDR.FLAGS),
          desc: getU64(arg, VHOST_VRING_ADDR.DESC),
          used: getU64(arg, VHOST_VRING_ADDR.USED),
          avail: getU64(arg, VHOST_VRING_ADDR.AVAIL),
          log: getU64(arg, VHOST_VRING_ADDR.LOG),
        });
        return 0;
      case VHOST_SET_VRING_BASE:
        this.setVringBase(index, getU32(arg, 4));
        return 0;
      case VHOST_GET_VRING_BASE:
        argNeed(arg, 8);
        putU32(arg, 4, this.getVringBase(index));
        return 0;
      case VHOST_SET_VRING_KICK:
        this.setVringKick(index, this.eventfdGet(getI32(arg, 4)));
        return 0;
      case VHOST_SET_VRING_CALL:
        this.setVringCall(index, this.eventfdGet(getI32(arg, 4)));
        return 0;
      case VHOST_SET_VRING_ERR:
        this.setVringErr(index, this.eventfdGet(getI32(arg, 4)));
        return 0;
      case VHOST_RESET_OWNER:
      default:
        /* vhost_vring_ioctl(): ENOIOCTLCMD, which userspace sees as ENOTTY. */
        fail('ENOTTY');
    }
  }

  /* ---------------- helpers ---------------- */

  /* After close(2) the fd is gone. */
  private live(): void {
    if (this.closed) fail('EBADF');
  }

  /* vhost_dev_check_owner() */
  private checkOwner(): void {
    this.live();
    if (!this.hasOwner) fail('EPERM');
  }

  /* The owner check, then vhost_vdpa_vring_ioctl()'s index check. */
  private vringVq(index: number): VhostVdpaVq {
    this.checkOwner();
    const i = index >>> 0;
    if (i !== index || i >= this.nvqs) fail('ENOBUFS');
    return this.vqs[i];
  }

  /* eventfd_fget(): -1 unbinds; anything not in the fd table is EBADF. */
  private eventfdGet(fd: number): Eventfd | null {
    if (fd === VHOST_FILE_UNBIND) return null;
    const efd = this.fds.get(fd);
    if (efd === undefined) fail('EBADF');
    return efd;
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
