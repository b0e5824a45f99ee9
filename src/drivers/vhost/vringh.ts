/*
 * drivers/vhost/vringh.c: the device side of a split virtqueue, shaped like
 * rust-vmm's virtio-queue (a Queue you pop DescriptorChains from, addUsed,
 * needsNotification, enable/disableNotification).
 *
 * All guest memory goes through an AddressSpace (passthrough, or an IOTLB as
 * vringh_*_iotlb does). The three ring areas are translated once and cached
 * while the address space's generation stays the same; any IOTLB change
 * makes the next verb translate (and check) them again, like vhost's
 * vq_meta_prefetch after vhost_vq_meta_reset. Over memory the model holds
 * the areas are Buffers read and written in place; over a client process's
 * memory (copy-based) every access is a read or a write of just the bytes
 * the verb needs: the avail index, one ring entry, one descriptor, one used
 * element, then the used index -- in that order, so the driver never sees
 * an index before the element it publishes.
 *
 * A malformed ring throws a VringError; the device model catches it and sets
 * NEEDS_RESET. Every walk is bounded: a chain has at most num descriptors, an
 * indirect table at most len/16 (and at most 65536, vhost's limit).
 */
import debug from 'debug';
import { AddressSpace, Access, MemoryFault, Translation, newTranslation } from '../../mm/guest_memory';
import type { UserMm } from '../../mm/user_mm';
import * as uapi from '../../include/uapi/virtio_ring';

/*
 * Module-local copies of the ring layout constants and helpers. A named
 * import compiles to a property load from the other module's exports object
 * at every use, which TurboFan does not constant-fold; a module-level const
 * it does. That matters on the hot path: a littleEndian argument it cannot
 * see is `true` keeps DataView off its fast path (addUsed: ~10 ns -> ~6 ns).
 */
const {
  LE,
  VRING_AVAIL_ALIGN_SIZE,
  VRING_AVAIL_FLAGS,
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
  VRING_USED_ALIGN_SIZE,
  VRING_USED_ELEM_ID,
  VRING_USED_ELEM_LEN,
  VRING_USED_ELEM_SIZE,
  VRING_USED_FLAGS,
  VRING_USED_F_NO_NOTIFY,
  VRING_USED_IDX,
  VRING_USED_RING,
  dataView,
  dvLe64Addr,
  vringNeedEvent,
  vringNumValid,
} = uapi;

const pr = debug('vdpafs:vringh');

export type VringErrorKind =
  | 'InvalidChain' /* a device-readable descriptor after a writable one */
  | 'DescriptorIndexOutOfBounds' /* head or next >= the table size */
  | 'ChainTooLong' /* a loop, or more descriptors than the table holds */
  | 'InvalidAvailIdx' /* avail->idx moved more than num past last_avail_idx */
  | 'InvalidQueueSize' /* num not a power of two in 1..32768 */
  | 'MisalignedRing' /* desc % 16, avail % 2 or used % 4 */
  | 'InvalidIndirect' /* nested, with NEXT, len not a multiple of 16, empty or too big */
  | 'AddressFault' /* IOTLB miss, or outside guest memory */
  | 'PermissionFault'; /* e.g. a device write through a read-only map */

export class VringError extends Error {
  constructor(
    readonly kind: VringErrorKind,
    message: string,
  ) {
    super(`${kind}: ${message}`);
    this.name = 'VringError';
  }
}

/* vringh_bad(): note it on the trace channel and hand back the error to throw. */
function vringhBad(kind: VringErrorKind, message: string): VringError {
  pr('%s', message);
  return new VringError(kind, message);
}

/* get_indirect() in vhost.c refuses tables over USHRT_MAX + 1 entries (E2BIG). */
const VRING_INDIRECT_MAX = 65536;
const EMPTY_VIEW: DataView = new DataView(new ArrayBuffer(0));
/*
 * One ring part (desc table, avail or used). When its whole extent is one
 * contiguous Buffer, fields are read straight from it through a DataView
 * over exactly that extent (offset 0 is the part's start); otherwise (a
 * ring straddling two maps, or copy-based memory) every access goes through
 * the address space.
 */
class RingArea {
  direct = false;
  view: DataView = EMPTY_VIEW;
  private readonly scratch = Buffer.alloc(8);
  private readonly scratchView = dataView(this.scratch);

  constructor(
    private readonly vring: Vring,
    readonly addr: number,
    readonly size: number,
    readonly access: Access,
  ) {}

  /* Translate the whole area, checking every piece is mapped with the right permission. */
  map(): void {
    const t = newTranslation();
    this.vring.xlate(this.addr, this.size, this.access, t);
    this.direct = t.mm === null && t.len === this.size;
    this.view = this.direct ? new DataView(t.buf.buffer, t.buf.byteOffset + t.off, this.size) : EMPTY_VIEW;
    for (let done = t.len; done < this.size; done += t.len) this.vring.xlate(this.addr + done, this.size - done, this.access, t);
  }

  u16(o: number): number {
    if (this.direct) return this.view.getUint16(o, LE);
    this.vring.copyIn(this.addr + o, this.scratch, 0, 2);
    return this.scratchView.getUint16(0, LE);
  }

  setU16(o: number, v: number): void {
    if (this.direct) return this.view.setUint16(o, v, LE);
    this.scratchView.setUint16(0, v, LE);
    this.vring.copyOut(this.addr + o, this.scratch, 0, 2);
  }

  /* A used element {le32 id, le32 len}, in one write. */
  setElem(o: number, id: number, len: number): void {
    if (this.direct) {
      this.view.setUint32(o + VRING_USED_ELEM_ID, id, LE);
      this.view.setUint32(o + VRING_USED_ELEM_LEN, len, LE);
      return;
    }
    this.scratchView.setUint32(VRING_USED_ELEM_ID, id, LE);
    this.scratchView.setUint32(VRING_USED_ELEM_LEN, len, LE);
    this.vring.copyOut(this.addr + o, this.scratch, 0, VRING_USED_ELEM_SIZE);
  }
}

export interface VringConfig {
  num: number;
  /* Ring addresses as the device sees them (guest-physical, or iova). */
  desc: number;
  avail: number;
  used: number;
  /* VIRTIO_RING_F_EVENT_IDX negotiated: used_event / avail_event are live. */
  eventIdx?: boolean;
  /* No INDIRECT_DESC switch: like vringh, indirect tables are followed whether or not it was negotiated. */
}

export interface VringDescriptor {
  addr: number;
  len: number;
  writable: boolean;
}

/*
 * A popped chain: its descriptors (indirect tables flattened, readable ones
 * first) and two cursors, like vringh's riov/wiov: readInto() consumes the
 * device-readable part, writeFrom() fills the device-writable part.
 */
export class DescriptorChain {
  head = 0;
  /* Number of descriptors, and how many of the first are device-readable. */
  count = 0;
  readable = 0;
  readableLength = 0;
  writableLength = 0;
  private addrs: number[] = [];
  private lens: number[] = [];
  private rIdx = 0;
  private rOff = 0;
  private wIdx = 0;
  private wOff = 0;
  private written = 0;

  constructor(readonly vring: Vring) {}

  reset(head: number): void {
    this.head = head;
    this.count = this.readable = this.readableLength = this.writableLength = 0;
    this.rIdx = this.rOff = this.wOff = this.written = 0;
    this.wIdx = 0;
  }

  /* Called by the walk, in chain order. */
  push(addr: number, len: number, writable: boolean): void {
    const n = this.count++;
    this.addrs[n] = addr;
    this.lens[n] = len;
    if (writable) this.writableLength += len;
    else {
      this.readable++;
      this.readableLength += len;
      this.wIdx = this.readable;
    }
  }

  get writable(): number {
    return this.count - this.readable;
  }

  /* Bytes put into the writable part so far: the len for addUsed(). */
  get bytesWritten(): number {
    return this.written;
  }

  descriptor(i: number): VringDescriptor {
    return { addr: this.addrs[i], len: this.lens[i], writable: i >= this.readable };
  }

  /* descriptor(i).addr and .len without the allocation, for per-packet peeks. */
  descAddr(i: number): number {
    return this.addrs[i];
  }
  descLen(i: number): number {
    return this.lens[i];
  }

  *[Symbol.iterator](): IterableIterator<VringDescriptor> {
    for (let i = 0; i < this.count; i++) yield this.descriptor(i);
  }

  /* Copy up to max readable bytes into dst (vringh_iov_pull_iotlb); returns the count. */
  readInto(dst: Uint8Array, dstOff = 0, max = dst.length - dstOff): number {
    const t = this.vring.tRead;
    let done = 0;
    while (done < max && this.rIdx < this.readable) {
      const rem = this.lens[this.rIdx] - this.rOff;
      if (rem === 0) {
        this.rIdx++;
        this.rOff = 0;
        continue;
      }
      this.vring.xlate(this.addrs[this.rIdx] + this.rOff, Math.min(rem, max - done), 'r', t);
      if (t.mm === null) t.buf.copy(dst, dstOff + done, t.off, t.off + t.len);
      else this.vring.mmRead(t.mm, t.uaddr, dst, dstOff + done, t.len);
      done += t.len;
      this.rOff += t.len;
    }
    return done;
  }

  /* Copy up to len bytes of src into the writable part (vringh_iov_push_iotlb). */
  writeFrom(src: Buffer, srcOff = 0, len = src.length - srcOff): number {
    const t = this.vring.tWrite;
    let done = 0;
    while (done < len && this.wIdx < this.count) {
      const rem = this.lens[this.wIdx] - this.wOff;
      if (rem === 0) {
        this.wIdx++;
        this.wOff = 0;
        continue;
      }
      this.vring.xlate(this.addrs[this.wIdx] + this.wOff, Math.min(rem, len - done), 'w', t);
      if (t.mm === null) src.copy(t.buf, t.off, srcOff + done, srcOff + done + t.len);
      else this.vring.mmWrite(t.mm, t.uaddr, src, srcOff + done, t.len);
      done += t.len;
      this.wOff += t.len;
    }
    this.written += done;
    return done;
  }

  /*
   * Copy from another chain's readable part straight into this chain's
   * writable part, one Buffer.copy per contiguous piece: the loopback of
   * vdpasim_net without the bounce through a kernel buffer.
   */
  writeFromChain(src: DescriptorChain, max = Infinity): number {
    const ts = src.vring.tRead;
    const td = this.vring.tWrite;
    let done = 0;
    while (done < max && src.rIdx < src.readable && this.wIdx < this.count) {
      const srem = src.lens[src.rIdx] - src.rOff;
      if (srem === 0) {
        src.rIdx++;
        src.rOff = 0;
        continue;
      }
      const drem = this.lens[this.wIdx] - this.wOff;
      if (drem === 0) {
        this.wIdx++;
        this.wOff = 0;
        continue;
      }
      let n = srem < drem ? srem : drem;
      if (n > max - done) n = max - done;
      src.vring.xlate(src.addrs[src.rIdx] + src.rOff, n, 'r', ts);
      this.vring.xlate(this.addrs[this.wIdx] + this.wOff, ts.len, 'w', td);
      n = td.len;
      /*
       * Same backing Buffer (one guest memory region): copyWithin is a plain
       * memmove. Node 20's Buffer.copy allocates a Uint8Array view for any
       * partial source range, which costs as much as a 4 KiB memcpy.
       */
      if (ts.mm === null && td.mm === null) {
        if (ts.buf === td.buf) td.buf.copyWithin(td.off, ts.off, ts.off + n);
        else ts.buf.copy(td.buf, td.off, ts.off, ts.off + n);
      } else {
        /* Copy-based memory on either side: through a bounce buffer, as the sim's net->buffer. */
        const b = this.vring.bounce(n);
        if (ts.mm === null) ts.buf.copy(b, 0, ts.off, ts.off + n);
        else src.vring.mmRead(ts.mm, ts.uaddr, b, 0, n);
        if (td.mm === null) b.copy(td.buf, td.off, 0, n);
        else this.vring.mmWrite(td.mm, td.uaddr, b, 0, n);
      }
      done += n;
      src.rOff += n;
      this.wOff += n;
    }
    this.written += done;
    return done;
  }

  /* vringh_kiov_advance() on the writable part: leave n bytes unwritten (not counted in bytesWritten). */
  skipWritable(n: number): number {
    let done = 0;
    while (done < n && this.wIdx < this.count) {
      const step = Math.min(this.lens[this.wIdx] - this.wOff, n - done);
      done += step;
      this.wOff += step;
      if (this.wOff === this.lens[this.wIdx]) {
        this.wIdx++;
        this.wOff = 0;
      }
    }
    return done;
  }

  /* vringh_kiov_advance() on the readable part: skip n bytes (e.g. a header). */
  skipReadable(n: number): number {
    let done = 0;
    while (done < n && this.rIdx < this.readable) {
      const step = Math.min(this.lens[this.rIdx] - this.rOff, n - done);
      done += step;
      this.rOff += step;
      if (this.rOff === this.lens[this.rIdx]) {
        this.rIdx++;
        this.rOff = 0;
      }
    }
    return done;
  }
}

export class Vring {
  readonly num: number;
  readonly descAddr: number;
  readonly availAddr: number;
  readonly usedAddr: number;
  readonly eventIdx: boolean;

  /* Reused translation results for the data copies (no allocation per chunk). */
  readonly tRead: Translation = newTranslation();
  readonly tWrite: Translation = newTranslation();

  private lastAvail = 0;
  private lastUsed = 0; /* used idx at the last needsNotification() */
  private completed = 0; /* addUsed() calls since then */
  private readonly desc: RingArea;
  private readonly avail: RingArea;
  private readonly used: RingArea;
  /* Generation the ring areas were translated at; -1 (generations are >= 0): not yet. An integer, so the field stays unboxed. */
  private gen = -1;
  private readonly tTable: Translation = newTranslation();
  private readonly descScratch = Buffer.alloc(VRING_DESC_SIZE);
  private readonly descScratchView = dataView(this.descScratch);
  private tableScratch = Buffer.alloc(0);
  private tableScratchView = EMPTY_VIEW;
  private bounceBuf = Buffer.alloc(0);
  /* The Buffer the last in-place indirect table lived in, and a view over all of it. */
  private tableBuf: Buffer | null = null;
  private tableBufView = EMPTY_VIEW;
  /* Where mapIndirectTable()'s table starts in the view it returned. */
  private tableOff = 0;

  /* vringh_init_iotlb(): no checks here; the first verb validates and translates. */
  constructor(
    readonly as: AddressSpace,
    cfg: VringConfig,
  ) {
    this.num = cfg.num;
    this.descAddr = cfg.desc;
    this.availAddr = cfg.avail;
    this.usedAddr = cfg.used;
    this.eventIdx = cfg.eventIdx ?? false;
    /* vhost_get_{avail,used}_size(): the event fields only count with EVENT_IDX. */
    const event = this.eventIdx ? 2 : 0;
    this.desc = new RingArea(this, cfg.desc, VRING_DESC_SIZE * cfg.num, 'r');
    this.avail = new RingArea(this, cfg.avail, VRING_AVAIL_RING + 2 * cfg.num + event, 'r');
    this.used = new RingArea(this, cfg.used, VRING_USED_RING + VRING_USED_ELEM_SIZE * cfg.num + event, 'w');
  }

  /* What rust-vmm's Queue::is_valid checks, minus memory: size and alignment. */
  isValid(): boolean {
    try {
      this.validate();
      return true;
    } catch (e) {
      if (e instanceof VringError) return false;
      throw e;
    }
  }

  validate(): void {
    if (!vringNumValid(this.num)) throw vringhBad('InvalidQueueSize', `num ${this.num}`);
    const aligned = (a: number, align: number): boolean => Number.isSafeInteger(a) && a >= 0 && a % align === 0;
    if (
      !aligned(this.descAddr, VRING_DESC_ALIGN_SIZE) ||
      !aligned(this.availAddr, VRING_AVAIL_ALIGN_SIZE) ||
      !aligned(this.usedAddr, VRING_USED_ALIGN_SIZE)
    )
      throw vringhBad(
        'MisalignedRing',
        `desc 0x${this.descAddr.toString(16)} avail 0x${this.availAddr.toString(16)} used 0x${this.usedAddr.toString(16)}`,
      );
  }

  /* Forget the cached ring translations (the next verb redoes and rechecks them). */
  invalidateTranslations(): void {
    this.gen = -1;
  }

  /* VHOST_GET/SET_VRING_BASE for a split ring: the next avail entry to take. */
  get lastAvailIdx(): number {
    return this.lastAvail;
  }
  set lastAvailIdx(v: number) {
    this.lastAvail = v & 0xffff;
  }

  /* The used idx the device will write next; vdpa_sim sets it with last_avail_idx. */
  get lastUsedIdx(): number {
    return (this.lastUsed + this.completed) & 0xffff;
  }
  set lastUsedIdx(v: number) {
    this.lastUsed = v & 0xffff;
    this.completed = 0;
  }

  /* __vringh_get_head() + __vringh_iov(): take the next available chain, or null. */
  popDescriptorChain(reuse?: DescriptorChain): DescriptorChain | null {
    this.mapRings();
    const last = this.lastAvail;
    const availIdx = this.avail.u16(VRING_AVAIL_IDX);
    if (availIdx === last) return null;
    /* vhost_get_vq_desc: "Guest moved avail index from %u to %u". */
    if (((availIdx - last) & 0xffff) > this.num)
      throw vringhBad('InvalidAvailIdx', `avail idx moved from ${last} to ${availIdx}`);
    const head = this.avail.u16(VRING_AVAIL_RING + 2 * (last & (this.num - 1)));
    if (head >= this.num) throw vringhBad('DescriptorIndexOutOfBounds', `guest says index ${head} > ${this.num} is available`);
    /* vringh consumes the head before walking it: a bad chain is not offered again. */
    this.lastAvail = (last + 1) & 0xffff;
    const chain = reuse !== undefined && reuse.vring === this ? reuse : new DescriptorChain(this);
    this.walkChain(chain, head);
    return chain;
  }

  private walkChain(chain: DescriptorChain, head: number): void {
    chain.reset(head);
    /* The table walked: the ring's (in place, or else one descriptor at a time), then maybe an indirect one. */
    let table: DataView | null = this.desc.direct ? this.desc.view : null;
    let tableOff = 0;
    let tableMax = this.num;
    let indirect = false;
    let count = 0;
    let i = head;
    for (;;) {
      let v: DataView;
      let o: number;
      if (table !== null) {
        v = table;
        o = tableOff + VRING_DESC_SIZE * i;
      } else {
        this.copyIn(this.descAddr + VRING_DESC_SIZE * i, this.descScratch, 0, VRING_DESC_SIZE);
        v = this.descScratchView;
        o = 0;
      }
      const flags = v.getUint16(o + VRING_DESC_FLAGS, LE);
      const len = v.getUint32(o + VRING_DESC_LEN, LE);
      const addr = dvLe64Addr(v, o + VRING_DESC_ADDR);

      if (flags & VRING_DESC_F_INDIRECT) {
        /* move_to_indirect(): "Indirect tables can't have indirect." */
        if (indirect) throw vringhBad('InvalidIndirect', `multilevel indirect at ${i}`);
        /*
         * The spec forbids INDIRECT together with NEXT. vringh (and vhost)
         * tolerate it and resume the outer chain after the table; we refuse
         * it, so a driver bug shows up here rather than on real hardware.
         */
        if (flags & VRING_DESC_F_NEXT) throw vringhBad('InvalidIndirect', `indirect descriptor ${i} also has NEXT`);
        if (len === 0 || len % VRING_DESC_SIZE !== 0) throw vringhBad('InvalidIndirect', `strange indirect len ${len}`);
        if (len / VRING_DESC_SIZE > VRING_INDIRECT_MAX) throw vringhBad('InvalidIndirect', `indirect len ${len} too big`);
        table = this.mapIndirectTable(addr, len);
        tableOff = this.tableOff;
        tableMax = len / VRING_DESC_SIZE;
        indirect = true;
        count = 0;
        i = 0;
        continue;
      }

      /* "Descriptor loop": a chain can't be longer than the table it lives in. */
      if (++count > tableMax) throw vringhBad('ChainTooLong', `descriptor loop from head ${head}`);
      const writable = (flags & VRING_DESC_F_WRITE) !== 0;
      if (!writable && chain.writable > 0) throw vringhBad('InvalidChain', `readable descriptor ${i} after writable`);
      chain.push(addr, len, writable);

      if (!(flags & VRING_DESC_F_NEXT)) return;
      i = v.getUint16(o + VRING_DESC_NEXT, LE);
      if (i >= tableMax) throw vringhBad('DescriptorIndexOutOfBounds', `chained index ${i} > ${tableMax}`);
    }
  }

  /*
   * The indirect table as one DataView, starting at this.tableOff: in place
   * if contiguous, else copied (slow_copy). The in-place view covers the
   * whole backing Buffer and is kept while tables keep landing in it
   * (regions never move), so a pop allocates nothing.
   */
  private mapIndirectTable(addr: number, len: number): DataView {
    const t = this.xlate(addr, len, 'r', this.tTable);
    if (t.len === len && t.mm === null) {
      if (t.buf !== this.tableBuf) {
        this.tableBuf = t.buf;
        this.tableBufView = dataView(t.buf);
      }
      this.tableOff = t.off;
      return this.tableBufView;
    }
    if (this.tableScratch.length < len) {
      this.tableScratch = Buffer.alloc(len);
      this.tableScratchView = dataView(this.tableScratch);
    }
    this.copyIn(addr, this.tableScratch, 0, len);
    this.tableOff = 0;
    return this.tableScratchView;
  }

  /* vringh_complete_iotlb(): publish one used element and bump used->idx. */
  addUsed(head: number, len: number): void {
    if (!(head >= 0 && head < this.num)) throw vringhBad('DescriptorIndexOutOfBounds', `used id ${head} >= ${this.num}`);
    this.mapRings();
    const idx = (this.lastUsed + this.completed) & 0xffff;
    const e = VRING_USED_RING + VRING_USED_ELEM_SIZE * (idx & (this.num - 1));
    const used = this.used;
    if (used.direct) {
      /* The common case, written straight through the view (one branch instead of three). */
      const v = used.view;
      v.setUint32(e + VRING_USED_ELEM_ID, head, LE);
      v.setUint32(e + VRING_USED_ELEM_LEN, len, LE);
      v.setUint16(VRING_USED_IDX, (idx + 1) & 0xffff, LE);
    } else {
      /* The element first, then the index that publishes it (virtio_wmb in between). */
      used.setElem(e, head, len);
      used.setU16(VRING_USED_IDX, (idx + 1) & 0xffff);
    }
    this.completed++;
  }

  /*
   * vringh_need_notify_iotlb(): should the driver be interrupted for what was
   * added since the last call? With EVENT_IDX, only if used_event lies in the
   * window just published (16-bit wrap-around included); otherwise unless
   * the driver set VRING_AVAIL_F_NO_INTERRUPT.
   */
  needsNotification(): boolean {
    this.mapRings();
    const old = this.lastUsed;
    const newIdx = (old + this.completed) & 0xffff;
    let notify: boolean;
    if (this.eventIdx) {
      const usedEvent = this.avail.u16(VRING_AVAIL_RING + 2 * this.num);
      /* "Just in case we added so many that we wrap." */
      notify = this.completed > 0xffff || vringNeedEvent(usedEvent, newIdx, old);
    } else {
      notify = !(this.avail.u16(VRING_AVAIL_FLAGS) & VRING_AVAIL_F_NO_INTERRUPT);
    }
    this.lastUsed = newIdx;
    this.completed = 0;
    return notify;
  }

  /*
   * vringh_notify_enable_iotlb(): ask for kicks again (clear NO_NOTIFY, or
   * set avail_event to last_avail_idx). Returns true if the driver already
   * published more: the caller must poll again, no kick will come for those.
   * (rust-vmm's meaning; vringh returns the opposite.)
   */
  enableNotification(): boolean {
    this.mapRings();
    if (this.eventIdx) this.used.setU16(VRING_USED_RING + VRING_USED_ELEM_SIZE * this.num, this.lastAvail);
    else this.used.setU16(VRING_USED_FLAGS, 0);
    return this.avail.u16(VRING_AVAIL_IDX) !== this.lastAvail;
  }

  /* vringh_notify_disable_iotlb(): with EVENT_IDX there is nothing to write. */
  disableNotification(): void {
    this.mapRings();
    if (!this.eventIdx) this.used.setU16(VRING_USED_FLAGS, VRING_USED_F_NO_NOTIFY);
  }

  /* Validate and translate the ring areas if the address space changed since. */
  private mapRings(): void {
    const gen = this.as.generation;
    if (gen === this.gen) return;
    this.validate();
    this.desc.map();
    this.avail.map();
    this.used.map();
    this.gen = gen;
  }

  /** @internal The AddressSpace call every access goes through: faults become VringErrors. */
  xlate(addr: number, len: number, access: Access, out: Translation): Translation {
    try {
      this.as.translate(addr, len, access, out);
    } catch (e) {
      if (e instanceof MemoryFault) throw vringhBad(e.kind, e.message);
      throw e;
    }
    /* Every copy loop advances by out.len: an empty piece would never end. */
    if (out.len <= 0 && len > 0) throw vringhBad('AddressFault', `empty translation at 0x${addr.toString(16)}`);
    return out;
  }

  /** @internal */
  copyIn(addr: number, dst: Buffer, dstOff: number, len: number): void {
    const t = newTranslation();
    while (len > 0) {
      this.xlate(addr, len, 'r', t);
      if (t.mm === null) t.buf.copy(dst, dstOff, t.off, t.off + t.len);
      else this.mmRead(t.mm, t.uaddr, dst, dstOff, t.len);
      addr += t.len;
      dstOff += t.len;
      len -= t.len;
    }
  }

  /** @internal */
  copyOut(addr: number, src: Buffer, srcOff: number, len: number): void {
    const t = newTranslation();
    while (len > 0) {
      this.xlate(addr, len, 'w', t);
      if (t.mm === null) src.copy(t.buf, t.off, srcOff, srcOff + t.len);
      else this.mmWrite(t.mm, t.uaddr, src, srcOff, t.len);
      addr += t.len;
      srcOff += t.len;
      len -= t.len;
    }
  }

  /** @internal A read of copy-based memory: its fault is a VringError, as a translation's is. */
  mmRead(mm: UserMm, uaddr: number, dst: Uint8Array, dstOff: number, len: number): void {
    try {
      mm.readInto(uaddr, dst, dstOff, len);
    } catch (e) {
      if (e instanceof MemoryFault) throw vringhBad(e.kind, e.message);
      throw e;
    }
  }

  /** @internal */
  mmWrite(mm: UserMm, uaddr: number, src: Uint8Array, srcOff: number, len: number): void {
    try {
      mm.write(uaddr, src, srcOff, len);
    } catch (e) {
      if (e instanceof MemoryFault) throw vringhBad(e.kind, e.message);
      throw e;
    }
  }

  /** @internal A scratch buffer of at least n bytes, for copies between copy-based pieces. */
  bounce(n: number): Buffer {
    if (this.bounceBuf.length < n) this.bounceBuf = Buffer.alloc(Math.max(n, 4096));
    return this.bounceBuf;
  }
}
