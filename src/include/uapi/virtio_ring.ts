/*
 * include/uapi/linux/virtio_ring.h: the split virtqueue layout.
 *
 * Everything is little-endian (VERSION_1). Offsets are named once here and
 * read through one small accessor object per structure (vringDesc,
 * vringAvail, vringUsed), each working on a Buffer plus the offset of the
 * structure inside it, so the driver side (virtio_ring.ts) and the device
 * side (vringh.ts) agree on the bytes without repeating numbers.
 */

/* struct vring_desc flags */
export const VRING_DESC_F_NEXT = 1; /* continues via the next field */
export const VRING_DESC_F_WRITE = 2; /* device-writable (otherwise device-readable) */
export const VRING_DESC_F_INDIRECT = 4; /* the buffer is a table of descriptors */

/* avail->flags: the driver asks the device not to interrupt (without EVENT_IDX). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/* used->flags: the device asks the driver not to kick (without EVENT_IDX). */
export const VRING_USED_F_NO_NOTIFY = 1;

/* Feature bits defined by virtio_ring.h (bit numbers, see BIT() in virtio_config). */
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;

/* Alignment each part needs (virtio spec 2.7 "Virtqueue alignment"). */
export const VRING_DESC_ALIGN_SIZE = 16;
export const VRING_AVAIL_ALIGN_SIZE = 2;
export const VRING_USED_ALIGN_SIZE = 4;

/* Split rings are at most 32768 entries; 15 bits of the 16-bit idx are the slot. */
export const VRING_MAX_NUM = 32768;

/*
 * Little-endian loads and stores used by every accessor below. They index
 * the bytes directly (Buffer's readUInt16LE and friends validate every
 * argument, which costs more than the ring work itself) but still refuse an
 * out-of-range offset instead of reading undefined or dropping a write.
 */
function outOfRange(b: Uint8Array, i: number, n: number): never {
  throw new RangeError(`ring access ${n}@${i} outside ${b.length} bytes`);
}
export function le16(b: Uint8Array, i: number): number {
  if (!(i >= 0 && i + 2 <= b.length)) outOfRange(b, i, 2);
  return b[i] | (b[i + 1] << 8);
}
export function le32(b: Uint8Array, i: number): number {
  if (!(i >= 0 && i + 4 <= b.length)) outOfRange(b, i, 4);
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) + b[i + 3] * 0x100_0000;
}
export function setLe16(b: Uint8Array, i: number, v: number): void {
  if (!(i >= 0 && i + 2 <= b.length)) outOfRange(b, i, 2);
  b[i] = v;
  b[i + 1] = v >>> 8;
}
export function setLe32(b: Uint8Array, i: number, v: number): void {
  if (!(i >= 0 && i + 4 <= b.length)) outOfRange(b, i, 4);
  b[i] = v;
  b[i + 1] = v >>> 8;
  b[i + 2] = v >>> 16;
  b[i + 3] = v >>> 24;
}

/*
 * A le64 address as a JS number. The data path keeps addresses exact below
 * 2^53; one at or above reads as Infinity, which every AddressSpace faults
 * on, rather than as a rounded (wrong) address.
 */
const TWO_POW_32 = 0x1_0000_0000;
const MAX_EXACT_HI = 0x1f_ffff; /* hi word of Number.MAX_SAFE_INTEGER */
export function le64Addr(b: Uint8Array, i: number): number {
  const hi = le32(b, i + 4);
  return hi > MAX_EXACT_HI ? Infinity : hi * TWO_POW_32 + le32(b, i);
}
export function setLe64(b: Uint8Array, i: number, v: number | bigint): void {
  if (typeof v === 'bigint') {
    setLe32(b, i, Number(v & 0xffff_ffffn));
    setLe32(b, i + 4, Number((v >> 32n) & 0xffff_ffffn));
  } else {
    /* >>> 0 is ToUint32: the low word of any integer, exactly. */
    setLe32(b, i, v >>> 0);
    setLe32(b, i + 4, (v / TWO_POW_32) >>> 0);
  }
}

/*
 * The data path's accessors: a DataView per ring part (or per backing
 * Buffer), read with explicit little-endian loads. TurboFan inlines
 * DataView get/set into single (unaligned-capable, byte-swapping where the
 * host needs it) loads and stores with one bounds check each, several times
 * cheaper than the byte-wise helpers above, and with no alignment or host
 * endianness requirement (Uint16Array/Uint32Array would need both). An
 * out-of-range offset still throws a RangeError instead of reading garbage.
 */
/*
 * The littleEndian argument of every DataView call. Used here through the
 * module-local name: TS turns uses of an exported const into loads from
 * `exports`, which TurboFan does not fold (see the note in vringh.ts).
 */
const LITTLE_ENDIAN = true;
export const LE = LITTLE_ENDIAN;

/* A DataView over exactly the bytes of b (b may be a subarray of a bigger ArrayBuffer). */
export function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/* le64Addr() through a DataView: Infinity for an address at or above 2^53. */
export function dvLe64Addr(v: DataView, i: number): number {
  const hi = v.getUint32(i + 4, LITTLE_ENDIAN);
  return hi > MAX_EXACT_HI ? Infinity : hi * TWO_POW_32 + v.getUint32(i, LITTLE_ENDIAN);
}

/* setLe64() for a number address (the data path never carries bigints). */
export function dvSetLe64(v: DataView, i: number, addr: number): void {
  v.setUint32(i, addr >>> 0, LITTLE_ENDIAN);
  v.setUint32(i + 4, (addr / TWO_POW_32) >>> 0, LITTLE_ENDIAN);
}

/*
 * struct vring_desc { le64 addr; le32 len; le16 flags; le16 next; }  (16 B)
 */
export const VRING_DESC_SIZE = 16;
export const VRING_DESC_ADDR = 0;
export const VRING_DESC_LEN = 8;
export const VRING_DESC_FLAGS = 12;
export const VRING_DESC_NEXT = 14;

export interface VringDesc {
  addr: number | bigint;
  len: number;
  flags: number;
  next: number;
}

export const vringDesc = {
  addr: (b: Buffer, o: number): number => le64Addr(b, o + VRING_DESC_ADDR),
  addrBig: (b: Buffer, o: number): bigint => b.readBigUInt64LE(o + VRING_DESC_ADDR),
  len: (b: Buffer, o: number): number => le32(b, o + VRING_DESC_LEN),
  flags: (b: Buffer, o: number): number => le16(b, o + VRING_DESC_FLAGS),
  next: (b: Buffer, o: number): number => le16(b, o + VRING_DESC_NEXT),
  setAddr: (b: Buffer, o: number, v: number | bigint): void => setLe64(b, o + VRING_DESC_ADDR, v),
  setLen: (b: Buffer, o: number, v: number): void => setLe32(b, o + VRING_DESC_LEN, v),
  setFlags: (b: Buffer, o: number, v: number): void => setLe16(b, o + VRING_DESC_FLAGS, v),
  setNext: (b: Buffer, o: number, v: number): void => setLe16(b, o + VRING_DESC_NEXT, v),
  /* Read back with the exact u64 address (tests compare raw values). */
  read(b: Buffer, o: number): { addr: bigint; len: number; flags: number; next: number } {
    return { addr: vringDesc.addrBig(b, o), len: vringDesc.len(b, o), flags: vringDesc.flags(b, o), next: vringDesc.next(b, o) };
  },
  write(b: Buffer, o: number, d: VringDesc): void {
    vringDesc.set(b, o, d.addr, d.len, d.flags, d.next);
  },
  set(b: Buffer, o: number, addr: number | bigint, len: number, flags: number, next: number): void {
    setLe64(b, o + VRING_DESC_ADDR, addr);
    setLe32(b, o + VRING_DESC_LEN, len);
    setLe16(b, o + VRING_DESC_FLAGS, flags);
    setLe16(b, o + VRING_DESC_NEXT, next);
  },
};

/*
 * struct vring_avail { le16 flags; le16 idx; le16 ring[num]; le16 used_event; }
 * used_event only means something with VIRTIO_RING_F_EVENT_IDX.
 */
export const VRING_AVAIL_FLAGS = 0;
export const VRING_AVAIL_IDX = 2;
export const VRING_AVAIL_RING = 4;

export const vringAvail = {
  ringOff: (i: number): number => VRING_AVAIL_RING + 2 * i,
  usedEventOff: (num: number): number => VRING_AVAIL_RING + 2 * num,
  flags: (b: Buffer, o: number): number => le16(b, o + VRING_AVAIL_FLAGS),
  idx: (b: Buffer, o: number): number => le16(b, o + VRING_AVAIL_IDX),
  ring: (b: Buffer, o: number, i: number): number => le16(b, o + VRING_AVAIL_RING + 2 * i),
  usedEvent: (b: Buffer, o: number, num: number): number => le16(b, o + VRING_AVAIL_RING + 2 * num),
  setFlags: (b: Buffer, o: number, v: number): void => setLe16(b, o + VRING_AVAIL_FLAGS, v),
  setIdx: (b: Buffer, o: number, v: number): void => setLe16(b, o + VRING_AVAIL_IDX, v),
  setRing: (b: Buffer, o: number, i: number, v: number): void =>
    setLe16(b, o + VRING_AVAIL_RING + 2 * i, v),
  setUsedEvent: (b: Buffer, o: number, num: number, v: number): void =>
    setLe16(b, o + VRING_AVAIL_RING + 2 * num, v),
};

/*
 * struct vring_used { le16 flags; le16 idx; struct vring_used_elem ring[num]; le16 avail_event; }
 * struct vring_used_elem { le32 id; le32 len; }  (8 B)
 */
export const VRING_USED_FLAGS = 0;
export const VRING_USED_IDX = 2;
export const VRING_USED_RING = 4;
export const VRING_USED_ELEM_SIZE = 8;
export const VRING_USED_ELEM_ID = 0;
export const VRING_USED_ELEM_LEN = 4;

export const vringUsed = {
  elemOff: (i: number): number => VRING_USED_RING + VRING_USED_ELEM_SIZE * i,
  availEventOff: (num: number): number => VRING_USED_RING + VRING_USED_ELEM_SIZE * num,
  flags: (b: Buffer, o: number): number => le16(b, o + VRING_USED_FLAGS),
  idx: (b: Buffer, o: number): number => le16(b, o + VRING_USED_IDX),
  elemId: (b: Buffer, o: number, i: number): number =>
    le32(b, o + VRING_USED_RING + VRING_USED_ELEM_SIZE * i + VRING_USED_ELEM_ID),
  elemLen: (b: Buffer, o: number, i: number): number =>
    le32(b, o + VRING_USED_RING + VRING_USED_ELEM_SIZE * i + VRING_USED_ELEM_LEN),
  availEvent: (b: Buffer, o: number, num: number): number =>
    le16(b, o + VRING_USED_RING + VRING_USED_ELEM_SIZE * num),
  setFlags: (b: Buffer, o: number, v: number): void => setLe16(b, o + VRING_USED_FLAGS, v),
  setIdx: (b: Buffer, o: number, v: number): void => setLe16(b, o + VRING_USED_IDX, v),
  setElem(b: Buffer, o: number, i: number, id: number, len: number): void {
    const e = o + VRING_USED_RING + VRING_USED_ELEM_SIZE * i;
    setLe32(b, e + VRING_USED_ELEM_ID, id);
    setLe32(b, e + VRING_USED_ELEM_LEN, len);
  },
  setAvailEvent: (b: Buffer, o: number, num: number, v: number): void =>
    setLe16(b, o + VRING_USED_RING + VRING_USED_ELEM_SIZE * num, v),
};

/* Sizes of each part, event fields included (the spec always reserves them). */
export const vringAvailSize = (num: number): number => 6 + 2 * num;
export const vringUsedSize = (num: number): number => 6 + VRING_USED_ELEM_SIZE * num;

function alignUp(v: number, align: number): number {
  return Math.ceil(v / align) * align;
}

/*
 * vring_size(): the legacy contiguous layout, desc then avail, then used at
 * the next `align` boundary. virtio_ring.c still allocates split rings this
 * way (vring_alloc_queue + vring_init).
 */
export function vringSize(num: number, align: number): number {
  return alignUp(VRING_DESC_SIZE * num + 2 * (3 + num), align) + vringUsedSize(num);
}

/* vring_init(): where each part lands inside a vringSize() area at `base`. */
export function vringInit(base: number, num: number, align: number): { desc: number; avail: number; used: number } {
  const desc = base;
  const avail = base + VRING_DESC_SIZE * num;
  const used = alignUp(avail + 2 * (2 + num) + 2, align);
  return { desc, avail, used };
}

/*
 * vring_need_event(): true when `event` lies in the window (old, newIdx],
 * computed in 16-bit arithmetic so the free-running indices may wrap.
 */
export function vringNeedEvent(event: number, newIdx: number, old: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

/* Q must be a power of two, 1..32768 (virtio spec 2.7). */
export function vringNumValid(num: number): boolean {
  return Number.isInteger(num) && num > 0 && num <= VRING_MAX_NUM && (num & (num - 1)) === 0;
}
