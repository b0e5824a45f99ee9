/*
 * The shell's way in: a built-in userspace driver behind /dev/vhost-vdpa-N.
 *
 * A shell cannot issue ioctls, so it cannot drive a vhost-vdpa device
 * itself. Instead, a process whose first operation on the open node is a
 * read() or a write() becomes the device's vhost user through this driver
 * (a process whose first operation is a vhost ioctl gets the device as
 * Linux has it: VhostVdpaPersonalityFile below decides). The driver does
 * what QEMU does at start-up -- and only through the VhostVdpaFile methods
 * a test or any other program uses:
 *
 *   open (exclusive, reset) -> SET_OWNER -> GET/SET_BACKEND_FEATURES ->
 *   GET_DEVICE_ID, GET_FEATURES, GET_VQS_COUNT, GET_VRING_NUM,
 *   GET_CONFIG_SIZE, GET_IOVA_RANGE -> SET_STATUS ACK|DRIVER ->
 *   SET_FEATURES -> SET_STATUS FEATURES_OK (checked) -> IOTLB batch mapping
 *   its memory -> per vq SET_VRING_NUM/ADDR/BASE/KICK/CALL/ENABLE ->
 *   SET_STATUS DRIVER_OK.
 *
 * The driver is a userspace program in the model: it has its own memory (a
 * GuestMemory at a user-space-looking address), maps it for the device
 * with IOTLB messages (iova 0.. -> that address, as QEMU maps guest RAM),
 * lays its rings out there with the driver-side VirtqueueSplit, kicks
 * through kick eventfds and gets interrupts on call eventfds. The device
 * runs when kicked, so every request is complete when the kick returns.
 *
 * What the open file then does (README.md, "Using it from a shell", has the user's view):
 *  - net: write() sends one Ethernet frame on tx (the driver prepends a
 *    zeroed 12-byte virtio_net_hdr_v1) and returns once the device has
 *    looped it back or dropped it; read() returns one received frame
 *    without its header, or 0 when none is waiting (never blocks).
 *  - blk: st_size is the capacity; read() and write() at any offset become
 *    virtio-blk IN/OUT requests of at most size_max * seg_max bytes, with a
 *    read-modify-write for the sectors a transfer covers only in part.
 */
import createDebug from 'debug';
import { fail } from '../../kernel/errno';
import type { MaybeWait } from '../../kernel/completion';
import type { Kernel } from '../../kernel/kernel';
import type { IoctlRequest, IoctlResult, OpenFile, OpenFlags } from '../../fs/kernfs';
import type { Cred } from '../../kernel/cred';
import { Eventfd } from '../../fs/eventfd';
import { GuestMemory, GuestRegion } from '../../mm/guest_memory';
import { VirtqueueSg, VirtqueueSplit } from '../virtio/virtio_ring';
import {
  BIT,
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FAILED,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_VERSION_1,
} from '../../include/uapi/virtio_config';
import { vringSize } from '../../include/uapi/virtio_ring';
import {
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_HDR_V1_LEN,
} from '../../include/uapi/virtio_net';
import {
  VIRTIO_BLK_CFG,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_TOPOLOGY,
  VIRTIO_BLK_F_WRITE_ZEROES,
  VIRTIO_BLK_OUTHDR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
} from '../../include/uapi/virtio_blk';
import { VIRTIO_ID_BLOCK, VIRTIO_ID_NET } from '../../include/uapi/vdpa';
import {
  _IOC_TYPE,
  VHOST_BACKEND_BIT,
  VHOST_BACKEND_F_IOTLB_BATCH,
  VHOST_BACKEND_F_IOTLB_MSG_V2,
  VHOST_VIRTIO,
} from '../../include/uapi/vhost';
import { VHOST_MAP_RW } from './iotlb';
import { vhostMsgBuild, VHOST_IOTLB_BATCH_BEGIN, VHOST_IOTLB_BATCH_END, VHOST_IOTLB_UPDATE } from './vhost_msg';
import { VhostVdpaFile } from './vdpa_file';
import { VhostVdpa, VhostVdpaFileFactory, vhostVdpaSetFileFactory } from './vdpa';

const trace = createDebug('vdpafs:vhost_vdpa_shell');

/* Where the shell process keeps its memory, and the iova it maps it at (QEMU: GPA 0 -> HVA). */
export const SHELL_VA_BASE = 0x7f00_0000_0000;
export const SHELL_IOVA_BASE = 0;

/* ---- virtio-net ---- */
/* The sim loops back at most one page of a tx chain, header included. */
export const SHELL_NET_BUF = 4096;
export const SHELL_NET_FRAME_MAX = SHELL_NET_BUF - VIRTIO_NET_HDR_V1_LEN;
/* rx buffers kept posted. */
export const SHELL_NET_RX_POOL = 128;
const NET_RXQ = 0;
const NET_TXQ = 1;
const NET_CVQ = 2;

/* ---- virtio-blk ---- */
const SECTOR_SIZE = 512;
/* Defaults when the device offers no SIZE_MAX / SEG_MAX. */
const BLK_DEFAULT_SIZE_MAX = 4096;
const BLK_DEFAULT_SEG_MAX = 32;
/* Requests never need to be larger than what FUSE sends at once (128 KiB with direct_io). */
const BLK_REQUEST_MAX = 128 * 1024;

/* Transport bits a driver of ours understands. ANY_LAYOUT is implied by VERSION_1, so not acked. */
const TRANSPORT_FEATURES = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM);
const NET_FEATURES =
  TRANSPORT_FEATURES |
  BIT(VIRTIO_NET_F_MTU) |
  BIT(VIRTIO_NET_F_MAC) |
  BIT(VIRTIO_NET_F_STATUS) |
  BIT(VIRTIO_NET_F_CTRL_VQ) |
  BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);
const BLK_FEATURES =
  TRANSPORT_FEATURES |
  BIT(VIRTIO_BLK_F_SIZE_MAX) |
  BIT(VIRTIO_BLK_F_SEG_MAX) |
  BIT(VIRTIO_BLK_F_BLK_SIZE) |
  BIT(VIRTIO_BLK_F_FLUSH) |
  BIT(VIRTIO_BLK_F_TOPOLOGY) |
  BIT(VIRTIO_BLK_F_MQ) |
  BIT(VIRTIO_BLK_F_DISCARD) |
  BIT(VIRTIO_BLK_F_WRITE_ZEROES);

const NONE: VirtqueueSg[] = [];

/*
 * The common part: a vhost-vdpa user with its own memory, brought up the
 * QEMU way. Subclasses say which features they want and use the queues.
 */
export abstract class VhostVdpaShell implements OpenFile {
  readonly mem: GuestMemory;
  readonly region: GuestRegion;
  readonly vqs: Array<VirtqueueSplit<number>> = [];
  /* One kick and one call eventfd per vq (what QEMU passes with SET_VRING_KICK/CALL). */
  readonly kicks: Eventfd[] = [];
  readonly calls: Eventfd[] = [];
  readonly configCall = new Eventfd();
  features = 0n;
  private released = false;

  protected constructor(
    readonly file: VhostVdpaFile,
    mem: GuestMemory,
  ) {
    this.mem = mem;
    this.region = mem.regions[0];
  }

  /* The iova the device uses for an address in our memory. */
  dma(cpu: number): number {
    return cpu - SHELL_VA_BASE + SHELL_IOVA_BASE;
  }

  /* Our address for an iova the device was given. */
  cpu(dma: number): number {
    return dma - SHELL_IOVA_BASE + SHELL_VA_BASE;
  }

  /* Offset of an address in our one region's Buffer. */
  off(cpu: number): number {
    return cpu - this.region.base;
  }

  /* QEMU's vhost_vdpa_init + vhost_dev_start, condensed. */
  protected bringUp(wanted: bigint, nvqsUsed?: number): void {
    const f = this.file;
    /* The driver is the owner, with its own memory. */
    f.setOwner(this.mem);
    const backend = f.getBackendFeatures();
    f.setBackendFeatures(backend & (VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_MSG_V2) | VHOST_BACKEND_BIT(VHOST_BACKEND_F_IOTLB_BATCH)));
    f.getDeviceId();
    const deviceFeatures = f.getFeatures();
    const nvqs = nvqsUsed ?? f.getVqsCount();
    const num = f.getVringNum();
    f.getConfigSize();
    f.getIovaRange();

    f.setStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    f.setStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    this.features = deviceFeatures & wanted;
    f.setFeatures(this.features);
    const fok = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    f.setStatus(fok);
    if (!(f.getStatus() & VIRTIO_CONFIG_S_FEATURES_OK)) {
      f.setStatus(fok | VIRTIO_CONFIG_S_FAILED);
      fail('EIO');
    }

    /* Map all of our memory for the device, in one batch (address space 0). */
    f.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_BATCH_BEGIN } }));
    f.iotlbWrite(
      vhostMsgBuild({
        iotlb: {
          type: VHOST_IOTLB_UPDATE,
          iova: BigInt(this.dma(this.region.base)),
          size: BigInt(this.region.size),
          uaddr: BigInt(this.region.base),
          perm: VHOST_MAP_RW,
        },
      }),
    );
    f.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_BATCH_END } }));

    f.setConfigCall(this.configCall);
    for (let i = 0; i < nvqs; i++) {
      const kick = new Eventfd();
      const call = new Eventfd();
      const vq = new VirtqueueSplit<number>({
        mem: this.mem,
        num,
        index: i,
        align: 4096,
        dmaAddr: (cpu) => this.dma(cpu),
        notify: () => kick.signal(),
      });
      const ring = vq.ringDma;
      f.setVringNum(i, num);
      f.setVringAddr(i, { desc: ring.desc, avail: ring.avail, used: ring.used });
      f.setVringBase(i, 0);
      f.setVringKick(i, kick);
      f.setVringCall(i, call);
      f.setVringEnable(i, true);
      this.vqs.push(vq);
      this.kicks.push(kick);
      this.calls.push(call);
    }
    f.setStatus(fok | VIRTIO_CONFIG_S_DRIVER_OK);
    trace('%s up: features 0x%s, %d vqs of %d', f.v.dev.name, this.features.toString(16), nvqs, num);
  }

  /* The device asked to be reset (a malformed ring): nothing more will be served. */
  protected checkDevice(): void {
    if (this.file.getStatus() & VIRTIO_CONFIG_S_NEEDS_RESET) fail('EIO');
  }

  abstract read(dst: Buffer, pos: number): number;
  abstract write(src: Buffer, pos: number): number;

  /* close(2): the file's release resets the device and drops the maps. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.file.release();
  }
}

/* ------------------------------------------------------------------ net */

export class VhostVdpaShellNet extends VhostVdpaShell {
  private readonly txBufs: number[] = [];
  private readonly txFree: number[] = [];
  private readonly rxBufs: number[] = [];
  private readonly txSg: VirtqueueSg = { addr: 0, len: 0 };
  private readonly txOut: VirtqueueSg[] = [this.txSg];

  constructor(file: VhostVdpaFile, mem: GuestMemory) {
    super(file, mem);
    this.bringUp(NET_FEATURES);
    const num = this.vqs[NET_TXQ].num;
    for (let i = 0; i < num; i++) {
      this.txBufs.push(mem.alloc(SHELL_NET_BUF, 64));
      this.txFree.push(i);
    }
    const rxq = this.vqs[NET_RXQ];
    for (let i = 0; i < Math.min(SHELL_NET_RX_POOL, rxq.num); i++) {
      this.rxBufs.push(mem.alloc(SHELL_NET_BUF, 64));
      this.postRx(i);
    }
    rxq.kick();
  }

  static memorySize(num = 256): number {
    return 3 * vringSize(num, 4096) + (num + SHELL_NET_RX_POOL) * SHELL_NET_BUF + 64 * 1024;
  }

  private postRx(slot: number): void {
    this.vqs[NET_RXQ].addBuf(NONE, [{ addr: this.dma(this.rxBufs[slot]), len: SHELL_NET_BUF }], slot);
  }

  private reapTx(): void {
    const txq = this.vqs[NET_TXQ];
    for (let u = txq.getBuf(); u !== null; u = txq.getBuf()) this.txFree.push(u.token);
  }

  /* One frame out: header + frame in one descriptor, kick, and it has been handled. */
  write(src: Buffer, _pos?: number): number {
    const n = src.length;
    if (n === 0) return 0;
    if (n > SHELL_NET_FRAME_MAX) fail('EINVAL');
    this.checkDevice();
    this.reapTx();
    const slot = this.txFree.pop();
    if (slot === undefined) fail('EAGAIN');
    const cpu = this.txBufs[slot];
    const buf = this.region.buf;
    const o = this.off(cpu);
    buf.fill(0, o, o + VIRTIO_NET_HDR_V1_LEN);
    src.copy(buf, o + VIRTIO_NET_HDR_V1_LEN, 0, n);
    this.txSg.addr = this.dma(cpu);
    this.txSg.len = VIRTIO_NET_HDR_V1_LEN + n;
    const txq = this.vqs[NET_TXQ];
    txq.addBuf(this.txOut, NONE, slot);
    txq.kick();
    this.reapTx();
    return n;
  }

  /* One frame in, without its header; 0 when none is waiting. A short dst truncates the frame. */
  read(dst: Buffer, _pos?: number): number {
    const rxq = this.vqs[NET_RXQ];
    const u = rxq.getBuf();
    if (u === null) return 0;
    const slot = u.token;
    const frame = Math.max(0, Math.min(u.len, SHELL_NET_BUF) - VIRTIO_NET_HDR_V1_LEN);
    const n = Math.min(frame, dst.length);
    const o = this.off(this.rxBufs[slot]) + VIRTIO_NET_HDR_V1_LEN;
    this.region.buf.copy(dst, 0, o, o + n);
    this.postRx(slot);
    rxq.kick();
    return n;
  }

  /* Frames waiting to be read. */
  get pending(): number {
    const rxq = this.vqs[NET_RXQ];
    return (rxq.usedIdx() - rxq.lastUsedIdx) & 0xffff;
  }

  /* The control queue, for programs using the shell directly: VIRTIO_NET_CTRL_MAC_ADDR_SET. */
  setMac(mac: Buffer): number {
    this.checkDevice();
    const cvq = this.vqs[NET_CVQ];
    if (cvq === undefined) fail('EOPNOTSUPP');
    const cmd = cvq.allocBuf(Buffer.from([1 /* VIRTIO_NET_CTRL_MAC */, 1 /* MAC_ADDR_SET */]));
    const data = cvq.allocBuf(mac);
    const ack = cvq.allocBuf(1);
    try {
      cvq.addBuf([cmd, data], [ack], 0);
      cvq.kick();
      const u = cvq.getBuf();
      if (u === null) fail('EIO');
      return this.mem.readU8(this.cpu(ack.addr));
    } finally {
      for (const sg of [cmd, data, ack]) this.mem.free(this.cpu(sg.addr));
    }
  }
}

/* ------------------------------------------------------------------ blk */

export class VhostVdpaShellBlk extends VhostVdpaShell {
  readonly capacity: number;
  /* Largest request: size_max * seg_max bytes, in seg_max segments of size_max. */
  readonly sizeMax: number;
  readonly segMax: number;
  readonly maxRequest: number;
  private readonly hdr: number;
  private readonly status: number;
  private readonly data: number;
  private readonly hdrSg: VirtqueueSg;
  private readonly statusSg: VirtqueueSg;
  private readonly sgCache = new Map<number, { out: VirtqueueSg[]; in: VirtqueueSg[] }>();

  constructor(file: VhostVdpaFile, mem: GuestMemory) {
    super(file, mem);
    this.bringUp(BLK_FEATURES);
    const cfg = (off: number, len: number): Buffer => file.getConfig(off, len);
    this.capacity = Number(cfg(VIRTIO_BLK_CFG.CAPACITY, 8).readBigUInt64LE(0)) * SECTOR_SIZE;
    const has = (bit: number): boolean => (this.features & BIT(bit)) !== 0n;
    this.sizeMax = has(VIRTIO_BLK_F_SIZE_MAX) ? cfg(VIRTIO_BLK_CFG.SIZE_MAX, 4).readUInt32LE(0) : BLK_DEFAULT_SIZE_MAX;
    this.segMax = has(VIRTIO_BLK_F_SEG_MAX) ? cfg(VIRTIO_BLK_CFG.SEG_MAX, 4).readUInt32LE(0) : BLK_DEFAULT_SEG_MAX;
    /* Whole sectors, and no more segments than the ring has room for with the header and status. */
    this.segMax = Math.max(1, Math.min(this.segMax, this.vqs[0].num - 2));
    const largest = Math.min(this.sizeMax * this.segMax, BLK_REQUEST_MAX);
    this.maxRequest = Math.max(SECTOR_SIZE, Math.floor(largest / SECTOR_SIZE) * SECTOR_SIZE);
    this.hdr = mem.alloc(VIRTIO_BLK_OUTHDR.SIZE, 16);
    this.status = mem.alloc(1, 1);
    this.data = mem.alloc(this.maxRequest, 4096);
    this.hdrSg = { addr: this.dma(this.hdr), len: VIRTIO_BLK_OUTHDR.SIZE };
    this.statusSg = { addr: this.dma(this.status), len: 1 };
  }

  static memorySize(num = 256): number {
    return vringSize(num, 4096) + BLK_REQUEST_MAX + 64 * 1024;
  }

  /*
   * The scatterlists of a request moving len bytes: header (+ data) out,
   * (data +) status in, the data area cut into segments of at most
   * size_max. Cached per length: dd sends the same sizes over and over.
   */
  private sgLists(type: number, len: number): { out: VirtqueueSg[]; in: VirtqueueSg[] } {
    const key = len * 2 + (type === VIRTIO_BLK_T_OUT ? 1 : 0);
    let lists = this.sgCache.get(key);
    if (lists === undefined) {
      const segs: VirtqueueSg[] = [];
      for (let o = 0; o < len; o += this.sizeMax) segs.push({ addr: this.dma(this.data) + o, len: Math.min(this.sizeMax, len - o) });
      lists = type === VIRTIO_BLK_T_OUT ? { out: [this.hdrSg, ...segs], in: [this.statusSg] } : { out: [this.hdrSg], in: [...segs, this.statusSg] };
      if (this.sgCache.size > 64) this.sgCache.clear();
      this.sgCache.set(key, lists);
    }
    return lists;
  }

  /* One virtio-blk request on the data area; EIO unless the device says OK. */
  private request(type: number, sector: number, len: number): void {
    this.checkDevice();
    const buf = this.region.buf;
    const h = this.off(this.hdr);
    buf.writeUInt32LE(type, h + VIRTIO_BLK_OUTHDR.TYPE);
    buf.writeUInt32LE(0, h + VIRTIO_BLK_OUTHDR.IOPRIO);
    buf.writeBigUInt64LE(BigInt(sector), h + VIRTIO_BLK_OUTHDR.SECTOR);
    buf[this.off(this.status)] = 0xff;
    const sg = this.sgLists(type, len);
    const vq = this.vqs[0];
    vq.addBuf(sg.out, sg.in, 1);
    vq.kick();
    const u = vq.getBuf();
    if (u === null) {
      /* The device did not answer (it stopped the queue): nothing will come back. */
      fail('EIO');
    }
    if (buf[this.off(this.status)] !== VIRTIO_BLK_S_OK) fail('EIO');
  }

  /* Read [pos, pos+len) of the disk (clamped at the end) into dst. */
  read(dst: Buffer, pos: number): number {
    if (pos >= this.capacity) return 0;
    const end = Math.min(pos + dst.length, this.capacity);
    const buf = this.region.buf;
    const d = this.off(this.data);
    let done = 0;
    while (pos + done < end) {
      const at = pos + done;
      const start = at - (at % SECTOR_SIZE);
      const winEnd = Math.min(start + this.maxRequest, roundUp(end, SECTOR_SIZE), this.capacity);
      this.request(VIRTIO_BLK_T_IN, start / SECTOR_SIZE, winEnd - start);
      const n = Math.min(winEnd, end) - at;
      buf.copy(dst, done, d + (at - start), d + (at - start) + n);
      done += n;
    }
    return done;
  }

  /* Write src at pos; sectors covered only in part are read first. Past the end: ENOSPC. */
  write(src: Buffer, pos: number): number {
    if (src.length === 0) return 0;
    if (pos >= this.capacity) fail('ENOSPC');
    const end = Math.min(pos + src.length, this.capacity);
    const buf = this.region.buf;
    const d = this.off(this.data);
    let done = 0;
    while (pos + done < end) {
      const at = pos + done;
      const start = at - (at % SECTOR_SIZE);
      const winEnd = Math.min(start + this.maxRequest, roundUp(end, SECTOR_SIZE), this.capacity);
      const n = Math.min(winEnd, end) - at;
      /* Read-modify-write when the window has a partial sector at either end. */
      if (at !== start || (at + n) % SECTOR_SIZE !== 0) this.request(VIRTIO_BLK_T_IN, start / SECTOR_SIZE, winEnd - start);
      src.copy(buf, d + (at - start), done, done + n);
      this.request(VIRTIO_BLK_T_OUT, start / SECTOR_SIZE, winEnd - start);
      done += n;
    }
    return done;
  }

  /* A size change is not something a disk does; O_TRUNC and ftruncate leave it alone. */
  truncate(): void {}
}

function roundUp(v: number, to: number): number {
  return Math.ceil(v / to) * to;
}

/* ------------------------------------------------------------------ install */

/*
 * Bring the shell's driver up on an open file: a net or blk driver with
 * memory of its own, or, for any other device, the device as Linux has it.
 */
export function vhostVdpaShellStart(file: VhostVdpaFile): OpenFile {
  const id = file.v.vdpa.config.getDeviceId();
  if (id !== VIRTIO_ID_NET && id !== VIRTIO_ID_BLOCK) return file.asOpenFile();
  const size = id === VIRTIO_ID_NET ? VhostVdpaShellNet.memorySize() : VhostVdpaShellBlk.memorySize();
  const mem = new GuestMemory([{ base: SHELL_VA_BASE, size: roundUp(size, 4096) }]);
  return id === VIRTIO_ID_NET ? new VhostVdpaShellNet(file, mem) : new VhostVdpaShellBlk(file, mem);
}

/*
 * An open /dev/vhost-vdpa-N whose personality its first operation decides.
 * The open itself claims the device as Linux's does (exclusive: EBUSY for a
 * second opener; reset). Then:
 *  - a vhost ioctl (type 0xAF) first: the device as Linux has it, from
 *    then on (what QEMU, rust-vmm and cloud-hypervisor get);
 *  - a read() or write() first: the shell's driver, brought up on this
 *    file, from then on (what cat, dd and `exec 3<>` get); later ioctls
 *    are ENOTTY, as on a file without an ioctl op.
 * An ioctl of another type before that (isatty()'s TCGETS, from Python's
 * open() for instance) is ENOTTY and decides nothing; truncate and flush
 * decide nothing either. If the driver cannot come up (a device that
 * refuses its features), that write fails, and so does every later
 * operation: the device is left as the failed bring-up left it, until close.
 */
export class VhostVdpaPersonalityFile implements OpenFile {
  private impl: OpenFile | null = null;
  private broken: unknown = null;

  constructor(readonly file: VhostVdpaFile) {}

  /* The personality so far: null until the first read, write or vhost ioctl. */
  get personality(): 'vhost' | 'shell' | null {
    if (this.impl === null) return null;
    return this.impl instanceof VhostVdpaShell ? 'shell' : 'vhost';
  }

  /** @internal the shell driver, once the personality is the shell's (tests, benchmarks). */
  get shell(): VhostVdpaShell | null {
    return this.impl instanceof VhostVdpaShell ? this.impl : null;
  }

  read(dst: Buffer, pos: number, cred?: Cred): MaybeWait<number> {
    return this.byteStream().read(dst, pos, cred);
  }

  write(src: Buffer, pos: number, cred?: Cred): MaybeWait<number> {
    return this.byteStream().write(src, pos, cred);
  }

  truncate(size: number): void {
    this.impl?.truncate?.(size);
  }

  ioctl(req: IoctlRequest): MaybeWait<IoctlResult> {
    if (this.broken !== null) throw this.broken;
    if (this.impl === null) {
      if (_IOC_TYPE(req.cmd >>> 0) !== VHOST_VIRTIO) fail('ENOTTY');
      this.impl = this.file.asOpenFile();
      trace('%s: first operation an ioctl: the vhost-vdpa device', this.file.v.dev.name);
    }
    if (this.impl.ioctl === undefined) fail('ENOTTY');
    return this.impl.ioctl(req);
  }

  release(): void {
    if (this.impl !== null) this.impl.release();
    else this.file.release();
  }

  private byteStream(): OpenFile {
    if (this.broken !== null) throw this.broken;
    if (this.impl === null) {
      try {
        this.impl = vhostVdpaShellStart(this.file);
      } catch (e) {
        this.broken = e;
        throw e;
      }
      trace('%s: first operation a read or write: the shell driver', this.file.v.dev.name);
    }
    return this.impl;
  }
}

/* Open the node the daemon's way: claim the device now, decide the personality at the first operation. */
export function vhostVdpaShellOpen(v: VhostVdpa, _flags?: OpenFlags): VhostVdpaPersonalityFile {
  return new VhostVdpaPersonalityFile(v.open());
}

/* st_size: a block device's capacity, read from its config space as the kernel would. */
function vhostVdpaShellNodeSize(v: VhostVdpa): number {
  const c = v.vdpa.config;
  if (c.getDeviceId() !== VIRTIO_ID_BLOCK) return 0;
  return Number(c.getConfig(VIRTIO_BLK_CFG.CAPACITY, 8).readBigUInt64LE(0)) * SECTOR_SIZE;
}

export const vhostVdpaShellFactory: VhostVdpaFileFactory = {
  open: (v, flags) => vhostVdpaShellOpen(v, flags),
  nodeSize: vhostVdpaShellNodeSize,
};

/* What the daemon calls: every open of a /dev/vhost-vdpa-N lets its first operation choose (VhostVdpaPersonalityFile). */
export function vhostVdpaShellInstall(k: Kernel): void {
  vhostVdpaSetFileFactory(k, vhostVdpaShellFactory);
}
