/*
 * drivers/virtio/virtio_ring.c, split rings only: the driver side of a
 * virtqueue. It lays desc/avail/used out in a GuestMemory, keeps the free
 * descriptor list, publishes chains (addBuf), decides whether to kick
 * (kickPrepare), reaps used buffers (getBuf) and turns device interrupts
 * on and off (enableCb/disableCb). It is also rust-vmm's MockSplitQueue:
 * the raw helpers at the end let tests write malformed rings.
 *
 * Addresses: descriptors carry whatever addresses the caller's scatterlist
 * gives (device-visible DMA addresses). The rings and the indirect tables
 * are allocated in `mem`; the device sees them at dmaAddr(cpuAddr), identity
 * unless the caller maps them elsewhere (an IOTLB with iova != uaddr).
 */
import debug from 'debug';
import { fail } from '../../kernel/errno';
import { GuestMemory } from '../../mm/guest_memory';
import * as uapi from '../../include/uapi/virtio_ring';
import type { VringDesc } from '../../include/uapi/virtio_ring';

/*
 * Module-local copies of the ring layout constants and helpers. A named
 * import compiles to a property load from the other module's exports object
 * at every use, which TurboFan does not constant-fold; a module-level const
 * it does. That matters on the hot path: a littleEndian argument it cannot
 * see is `true` keeps DataView off its fast path (addUsed: ~10 ns -> ~6 ns).
 */
const {
  LE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_AVAIL_IDX,
  VRING_AVAIL_RING,
  VRING_DESC_ADDR,
  VRING_DESC_ALIGN_SIZE,
  VRING_DESC_FLAGS,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_DESC_LEN,
  VRING_DESC_NEXT,
  VRING_DESC_SIZE,
  VRING_USED_ELEM_ID,
  VRING_USED_ELEM_LEN,
  VRING_USED_ELEM_SIZE,
  VRING_USED_FLAGS,
  VRING_USED_F_NO_NOTIFY,
  VRING_USED_IDX,
  VRING_USED_RING,
  dataView,
  dvSetLe64,
  vringAvail,
  vringAvailSize,
  vringDesc,
  vringInit,
  vringNeedEvent,
  vringNumValid,
  vringSize,
  vringUsed,
  vringUsedSize,
} = uapi;

const pr = debug('vdpafs:virtio_ring');

/* One scatterlist entry, already a DMA address. */
export interface VirtqueueSg {
  addr: number;
  len: number;
}

export interface VirtqueueSplitOptions {
  mem: GuestMemory;
  num: number;
  /* Negotiated VIRTIO_RING_F_EVENT_IDX / VIRTIO_RING_F_INDIRECT_DESC. */
  eventIdx?: boolean;
  indirect?: boolean;
  /* Use rings already placed at these CPU addresses instead of allocating. */
  ring?: { desc: number; avail: number; used: number };
  /* vring_align for the allocated contiguous layout (virtio_vdpa asks get_vq_align: PAGE_SIZE). */
  align?: number;
  /* vq->notify: the kick (a doorbell write, a kick eventfd). */
  notify?: (vq: VirtqueueSplit<unknown>) => void;
  /* CPU address in mem -> address the device uses. Identity by default. */
  dmaAddr?: (cpuAddr: number) => number;
  index?: number;
}

/* What getBufInto() fills in: the token given to addBuf, and the length the device wrote. */
export interface UsedBuf<T> {
  token: T;
  len: number;
}

/* vringDesc.set() through a DataView, for number addresses: addBuf's descriptor store. */
function descSet(v: DataView, o: number, addr: number, len: number, flags: number, next: number): void {
  dvSetLe64(v, o + VRING_DESC_ADDR, addr);
  v.setUint32(o + VRING_DESC_LEN, len, LE);
  v.setUint16(o + VRING_DESC_FLAGS, flags, LE);
  v.setUint16(o + VRING_DESC_NEXT, next, LE);
}

/* Entry k of a chain: outs first (device-readable), then ins (WRITE); NEXT on all but the last. */
function chainFlags(k: number, nOut: number, total: number): number {
  return (k < nOut ? 0 : VRING_DESC_F_WRITE) | (k < total - 1 ? VRING_DESC_F_NEXT : 0);
}

export class VirtqueueSplit<T = unknown> {
  readonly mem: GuestMemory;
  readonly num: number;
  readonly index: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /* Where the parts are, in mem (CPU) and as the device must be told (DMA). */
  readonly descAddr: number;
  readonly availAddr: number;
  readonly usedAddr: number;
  readonly dmaAddr: (cpuAddr: number) => number;
  /* BAD_RING() sets this; a broken queue adds nothing and reaps nothing. */
  broken = false;

  private readonly desc: Buffer;
  private readonly avail: Buffer;
  private readonly used: Buffer;
  /* The same three parts as DataViews, for the hot path (see LE in uapi/virtio_ring). */
  private readonly descV: DataView;
  private readonly availV: DataView;
  private readonly usedV: DataView;
  /* Offsets of avail->used_event and used->avail_event (after ring[num]). */
  private readonly usedEventOff: number;
  private readonly availEventOff: number;
  /* getBuf()'s scratch result, copied into a fresh object for the caller. */
  private readonly reaped: UsedBuf<T | undefined> = { token: undefined, len: 0 };
  private readonly notify?: (vq: VirtqueueSplit<unknown>) => void;
  /* desc_extra[].next: our own copy of the links, never trusted from memory. */
  private readonly descNext: Uint16Array;
  /* desc_state[head]: the caller's token, and how many ring descriptors the chain holds (1 when indirect). */
  private readonly descToken: Array<T | undefined>;
  private readonly descCount: Uint16Array;
  /* Per-head indirect table, kept for reuse (the kernel kmallocs one per add). */
  private readonly indirTable: Array<{ addr: number; cap: number } | undefined>;
  private freeHead = 0;
  private nFree: number;
  private availIdxShadow = 0;
  private availFlagsShadow = 0;
  private numAdded = 0;
  private lastUsed = 0;

  /* vring_create_virtqueue_split() */
  constructor(opts: VirtqueueSplitOptions) {
    const { mem, num } = opts;
    if (!vringNumValid(num)) fail('EINVAL');
    this.mem = mem;
    this.num = num;
    this.index = opts.index ?? 0;
    this.eventIdx = opts.eventIdx ?? false;
    this.indirect = opts.indirect ?? false;
    this.notify = opts.notify;
    this.dmaAddr = opts.dmaAddr ?? ((a: number): number => a);
    const align = opts.align ?? 4096;
    const ring = opts.ring ?? vringInit(mem.alloc(vringSize(num, align), Math.max(align, VRING_DESC_ALIGN_SIZE)), num, align);
    this.descAddr = ring.desc;
    this.availAddr = ring.avail;
    this.usedAddr = ring.used;
    /* Views stay valid: regions never move. Each part must sit in one region. */
    this.desc = mem.view(ring.desc, VRING_DESC_SIZE * num);
    this.avail = mem.view(ring.avail, vringAvailSize(num));
    this.used = mem.view(ring.used, vringUsedSize(num));
    this.descV = dataView(this.desc);
    this.availV = dataView(this.avail);
    this.usedV = dataView(this.used);
    this.usedEventOff = vringAvail.usedEventOff(num);
    this.availEventOff = vringUsed.availEventOff(num);
    this.descNext = new Uint16Array(num);
    for (let i = 0; i < num; i++) this.descNext[i] = i + 1;
    this.nFree = num;
    this.descToken = new Array<T | undefined>(num).fill(undefined);
    this.descCount = new Uint16Array(num);
    this.indirTable = new Array<{ addr: number; cap: number } | undefined>(num).fill(undefined);
  }

  /* The addresses to hand the device (VHOST_SET_VRING_ADDR, set_vq_address). */
  get ringDma(): { desc: number; avail: number; used: number } {
    return { desc: this.dmaAddr(this.descAddr), avail: this.dmaAddr(this.availAddr), used: this.dmaAddr(this.usedAddr) };
  }

  get numFree(): number {
    return this.nFree;
  }

  /* Allocate a data buffer in mem (zeroed, or holding `data`); returns it as an sg entry. */
  allocBuf(lenOrData: number | Buffer, align = 8): VirtqueueSg {
    const len = typeof lenOrData === 'number' ? lenOrData : lenOrData.length;
    const cpu = this.mem.alloc(len, align);
    if (typeof lenOrData !== 'number') this.mem.write(cpu, lenOrData);
    return { addr: this.dmaAddr(cpu), len };
  }

  /*
   * virtqueue_add_split(): publish one chain, device-readable `out` entries
   * then device-writable `in` entries, and make it available. Uses one
   * indirect descriptor when negotiated and the chain has more than one
   * entry (as Linux does). ENOSPC when the ring is full, EIO when broken.
   */
  addBuf(out: readonly VirtqueueSg[], in_: readonly VirtqueueSg[], token: T): void {
    if (this.broken) fail('EIO');
    const total = out.length + in_.length;
    if (total === 0) fail('EINVAL');
    const useIndirect = this.indirect && total > 1 && this.nFree > 0;
    const ndescs = useIndirect ? 1 : total;
    if (this.nFree < ndescs) {
      pr('vq %d: can\'t add buf len %d - avail = %d', this.index, total, this.nFree);
      fail('ENOSPC');
    }
    const head = this.freeHead;
    const nOut = out.length;
    if (useIndirect) {
      const table = this.indirectTableFor(head, total);
      const tb = this.mem.view(table, VRING_DESC_SIZE * total);
      for (let k = 0; k < total; k++) {
        const sg = k < nOut ? out[k] : in_[k - nOut];
        vringDesc.set(tb, VRING_DESC_SIZE * k, sg.addr, sg.len, chainFlags(k, nOut, total), k + 1);
      }
      vringDesc.set(this.desc, VRING_DESC_SIZE * head, this.dmaAddr(table), VRING_DESC_SIZE * total, VRING_DESC_F_INDIRECT, this.descNext[head]);
      this.freeHead = this.descNext[head];
    } else {
      /* virtqueue_add_desc_split(): follow our free list; next is written even on the last. */
      const descV = this.descV;
      const descNext = this.descNext;
      let i = head;
      for (let k = 0; k < total; k++) {
        const sg = k < nOut ? out[k] : in_[k - nOut];
        const next = descNext[i];
        descSet(descV, VRING_DESC_SIZE * i, sg.addr, sg.len, chainFlags(k, nOut, total), next);
        i = next;
      }
      this.freeHead = i;
    }
    this.nFree -= ndescs;
    this.descToken[head] = token;
    this.descCount[head] = ndescs;

    /* Put the head in the next avail slot, then expose it by bumping idx. */
    const availV = this.availV;
    availV.setUint16(VRING_AVAIL_RING + 2 * (this.availIdxShadow & (this.num - 1)), head, LE);
    this.availIdxShadow = (this.availIdxShadow + 1) & 0xffff;
    availV.setUint16(VRING_AVAIL_IDX, this.availIdxShadow, LE);
    this.numAdded++;
  }

  private indirectTableFor(head: number, entries: number): number {
    const cur = this.indirTable[head];
    if (cur !== undefined && cur.cap >= entries) return cur.addr;
    if (cur !== undefined) this.mem.free(cur.addr);
    const addr = this.mem.alloc(VRING_DESC_SIZE * entries, VRING_DESC_ALIGN_SIZE);
    this.indirTable[head] = { addr, cap: entries };
    return addr;
  }

  /*
   * virtqueue_kick_prepare_split(): does the device want a kick for what was
   * added since the last call? With EVENT_IDX, only if avail_event lies in
   * the window just published; otherwise unless it set VRING_USED_F_NO_NOTIFY.
   */
  kickPrepare(): boolean {
    const newIdx = this.availIdxShadow;
    const old = (newIdx - this.numAdded) & 0xffff;
    this.numAdded = 0;
    if (this.eventIdx) return vringNeedEvent(this.availEvent(), newIdx, old);
    return !(this.usedV.getUint16(VRING_USED_FLAGS, LE) & VRING_USED_F_NO_NOTIFY);
  }

  /* virtqueue_kick(): kickPrepare, then notify if wanted. Returns whether it notified. */
  kick(): boolean {
    if (!this.kickPrepare()) return false;
    this.notify?.(this as VirtqueueSplit<unknown>);
    return true;
  }

  /* more_used_split() */
  moreUsed(): boolean {
    return this.lastUsed !== this.usedV.getUint16(VRING_USED_IDX, LE);
  }

  /*
   * virtqueue_get_buf(): the next used buffer's token and the length the
   * device wrote, or null. A used id that is not an outstanding head breaks
   * the queue (BAD_RING) and returns null.
   */
  getBuf(): { token: T; len: number } | null {
    const r = this.reaped as UsedBuf<T>;
    if (!this.getBufInto(r)) return null;
    const used = { token: r.token, len: r.len };
    this.reaped.token = undefined; /* don't keep the caller's token alive */
    return used;
  }

  /*
   * getBuf() without the allocation: fills `out` and returns true, or
   * returns false (nothing used, or BAD_RING) and leaves `out` alone. For
   * hot loops that reuse one result object.
   */
  getBufInto(out: UsedBuf<T>): boolean {
    if (this.broken || !this.moreUsed()) return false;
    const slot = this.lastUsed & (this.num - 1);
    const e = VRING_USED_RING + VRING_USED_ELEM_SIZE * slot;
    const id = this.usedV.getUint32(e + VRING_USED_ELEM_ID, LE);
    const len = this.usedV.getUint32(e + VRING_USED_ELEM_LEN, LE);
    if (id >= this.num) {
      this.badRing(`id ${id} out of range`);
      return false;
    }
    if (this.descCount[id] === 0) {
      this.badRing(`id ${id} is not a head!`);
      return false;
    }
    out.token = this.descToken[id] as T;
    out.len = len;
    this.detachBuf(id);
    this.lastUsed = (this.lastUsed + 1) & 0xffff;
    /* "If we expect an interrupt for the next entry, tell host by writing event index." */
    if (!(this.availFlagsShadow & VRING_AVAIL_F_NO_INTERRUPT)) this.availV.setUint16(this.usedEventOff, this.lastUsed, LE);
    return true;
  }

  /* virtqueue_detach_unused_buf(): take back a buffer the device never used (after reset). */
  detachUnusedBuf(): T | null {
    for (let i = 0; i < this.num; i++) {
      if (this.descCount[i] === 0) continue;
      const token = this.descToken[i] as T;
      this.detachBuf(i);
      this.availIdxShadow = (this.availIdxShadow - 1) & 0xffff;
      vringAvail.setIdx(this.avail, 0, this.availIdxShadow);
      return token;
    }
    return null;
  }

  /* detach_buf_split(): give the chain's ring descriptors back to the free list. */
  private detachBuf(head: number): void {
    const ndescs = this.descCount[head];
    this.descToken[head] = undefined;
    this.descCount[head] = 0;
    let i = head;
    for (let k = 1; k < ndescs; k++) i = this.descNext[i];
    this.descNext[i] = this.freeHead;
    this.freeHead = head;
    this.nFree += ndescs;
  }

  private badRing(why: string): null {
    pr('vq %d: BAD_RING: %s', this.index, why);
    this.broken = true;
    return null;
  }

  /*
   * virtqueue_disable_cb_split(): ask for no interrupts. With EVENT_IDX the
   * kernel writes used_event = 0 ("a hack": just somewhere unlikely).
   */
  disableCb(): void {
    if (this.availFlagsShadow & VRING_AVAIL_F_NO_INTERRUPT) return;
    this.availFlagsShadow |= VRING_AVAIL_F_NO_INTERRUPT;
    if (this.eventIdx) vringAvail.setUsedEvent(this.avail, 0, this.num, 0);
    else vringAvail.setFlags(this.avail, 0, this.availFlagsShadow);
  }

  /*
   * virtqueue_enable_cb(): ask for an interrupt at the next used entry
   * (used_event = last_used_idx). Returns false if buffers are already
   * pending: the caller must reap them, no interrupt will come for those.
   */
  enableCb(): boolean {
    if (this.availFlagsShadow & VRING_AVAIL_F_NO_INTERRUPT) {
      this.availFlagsShadow &= ~VRING_AVAIL_F_NO_INTERRUPT;
      if (!this.eventIdx) vringAvail.setFlags(this.avail, 0, this.availFlagsShadow);
    }
    vringAvail.setUsedEvent(this.avail, 0, this.num, this.lastUsed);
    return !this.moreUsed();
  }

  /* ---- raw ring access, for tests that build what a correct driver never would ---- */

  readDesc(i: number): { addr: bigint; len: number; flags: number; next: number } {
    return vringDesc.read(this.desc, VRING_DESC_SIZE * i);
  }

  writeDesc(i: number, d: VringDesc): void {
    vringDesc.write(this.desc, VRING_DESC_SIZE * i, d);
  }

  /* Write a raw descriptor table (e.g. an indirect one) anywhere in mem. */
  writeDescTable(cpuAddr: number, descs: readonly VringDesc[]): void {
    const b = Buffer.alloc(VRING_DESC_SIZE * descs.length);
    descs.forEach((d, k) => vringDesc.write(b, VRING_DESC_SIZE * k, d));
    this.mem.write(cpuAddr, b);
  }

  /* Make `head` available without any bookkeeping (getBuf won't know it). */
  publishAvail(head: number): void {
    vringAvail.setRing(this.avail, 0, this.availIdxShadow & (this.num - 1), head);
    this.setAvailIdx(this.availIdxShadow + 1);
  }

  get availIdx(): number {
    return this.availIdxShadow;
  }

  setAvailIdx(idx: number): void {
    this.availIdxShadow = idx & 0xffff;
    vringAvail.setIdx(this.avail, 0, this.availIdxShadow);
  }

  setAvailFlags(flags: number): void {
    this.availFlagsShadow = flags & 0xffff;
    vringAvail.setFlags(this.avail, 0, this.availFlagsShadow);
  }

  setUsedEvent(v: number): void {
    vringAvail.setUsedEvent(this.avail, 0, this.num, v);
  }

  usedEvent(): number {
    return vringAvail.usedEvent(this.avail, 0, this.num);
  }

  /* The device's side of the ring, as the driver reads it. */
  availEvent(): number {
    return this.usedV.getUint16(this.availEventOff, LE);
  }

  usedIdx(): number {
    return vringUsed.idx(this.used, 0);
  }

  usedFlags(): number {
    return vringUsed.flags(this.used, 0);
  }

  usedElem(slot: number): { id: number; len: number } {
    return { id: vringUsed.elemId(this.used, 0, slot), len: vringUsed.elemLen(this.used, 0, slot) };
  }

  /* The last used idx the driver reaped up to. */
  get lastUsedIdx(): number {
    return this.lastUsed;
  }
}
