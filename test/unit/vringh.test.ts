import { describe, it, expect } from 'vitest';
import { GuestMemory, PassthroughAddressSpace } from '../../src/mm/guest_memory';
import { IotlbAddressSpace, VhostIotlb, VHOST_MAP_RO, VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import { DescriptorChain, Vring, VringError, VringErrorKind } from '../../src/drivers/vhost/vringh';
import { VirtqueueSplit } from '../../src/drivers/virtio/virtio_ring';
import {
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_USED_F_NO_NOTIFY,
} from '../../src/include/uapi/virtio_ring';
import { CopyOnlyMemory, usedRing } from './vhost_testlib';

/* A driver-side queue in guest memory and the device's vring over the same rings. */
function setup(opts: { num?: number; eventIdx?: boolean; indirect?: boolean } = {}) {
  const num = opts.num ?? 8;
  const mem = new GuestMemory(1 << 20);
  const as = new PassthroughAddressSpace(mem);
  const vq = new VirtqueueSplit<string>({ mem, num, eventIdx: opts.eventIdx, indirect: opts.indirect });
  const vring = new Vring(as, { num, ...vq.ringDma, eventIdx: opts.eventIdx });
  return { mem, as, vq, vring, num };
}

function vringErrorKind(f: () => unknown): VringErrorKind {
  try {
    f();
  } catch (e) {
    if (e instanceof VringError) return e.kind;
    throw e;
  }
  throw new Error('expected a VringError');
}

describe('vringh: popping chains', () => {
  it('popDescriptorChain returns null while the driver has published nothing', () => {
    const { vring } = setup();
    expect(vring.popDescriptorChain()).toBeNull();
  });

  it('a chain pops with its descriptors in order, readable ones first', () => {
    const { vq, vring } = setup();
    const a = vq.allocBuf(Buffer.from('hello '));
    const b = vq.allocBuf(Buffer.from('world'));
    const c = vq.allocBuf(16);
    vq.addBuf([a, b], [c], 'req');
    const chain = vring.popDescriptorChain()!;
    expect(chain.head).toBe(0);
    expect([...chain]).toEqual([
      { addr: a.addr, len: 6, writable: false },
      { addr: b.addr, len: 5, writable: false },
      { addr: c.addr, len: 16, writable: true },
    ]);
    expect(chain.readableLength).toBe(11);
    expect(chain.writableLength).toBe(16);
    expect(vring.lastAvailIdx).toBe(1);
    expect(vring.popDescriptorChain()).toBeNull();
  });

  it('readInto gathers the readable part across descriptors and stops at its end', () => {
    const { vq, vring } = setup();
    vq.addBuf([vq.allocBuf(Buffer.from('hello ')), vq.allocBuf(Buffer.from('world'))], [vq.allocBuf(4)], 'x');
    const chain = vring.popDescriptorChain()!;
    const dst = Buffer.alloc(32);
    expect(chain.readInto(dst, 0, 3)).toBe(3);
    expect(chain.readInto(dst, 3)).toBe(8);
    expect(dst.subarray(0, 11).toString()).toBe('hello world');
    expect(chain.readInto(dst)).toBe(0);
  });

  it('writeFrom scatters into the writable part, stops when it is full, and addUsed reports the length', () => {
    const { mem, vq, vring } = setup();
    const w1 = vq.allocBuf(4);
    const w2 = vq.allocBuf(4);
    vq.addBuf([], [w1, w2], 'rx');
    const chain = vring.popDescriptorChain()!;
    expect(chain.writeFrom(Buffer.from('0123456789'))).toBe(8);
    expect(mem.read(w1.addr, 4).toString() + mem.read(w2.addr, 4).toString()).toBe('01234567');
    vring.addUsed(chain.head, chain.bytesWritten);
    expect(mem.read(vq.usedAddr, 12)).toEqual(usedRing(0, 1, [[0, 8]]));
    expect(vq.getBuf()).toEqual({ token: 'rx', len: 8 });
  });

  it('writeFromChain copies a tx chain into an rx chain, as the net loopback does', () => {
    const { mem, vq: txq, vring: tx } = setup();
    const rxq = new VirtqueueSplit<string>({ mem, num: 8 });
    const rx = new Vring(tx.as, { num: 8, ...rxq.ringDma });
    txq.addBuf([txq.allocBuf(Buffer.from('abc')), txq.allocBuf(Buffer.from('defgh'))], [], 'tx');
    const r1 = rxq.allocBuf(5);
    const r2 = rxq.allocBuf(5);
    rxq.addBuf([], [r1, r2], 'rx');
    const t = tx.popDescriptorChain()!;
    const r = rx.popDescriptorChain()!;
    expect(r.writeFromChain(t)).toBe(8);
    expect(Buffer.concat([mem.read(r1.addr, 5), mem.read(r2.addr, 3)]).toString()).toBe('abcdefgh');
    expect(r.bytesWritten).toBe(8);
  });

  it('a reused chain object is refilled by the next pop', () => {
    const { vq, vring } = setup();
    const chain = new DescriptorChain(vring);
    vq.addBuf([vq.allocBuf(3)], [], 'a');
    vq.addBuf([], [vq.allocBuf(7), vq.allocBuf(9)], 'b');
    expect(vring.popDescriptorChain(chain)).toBe(chain);
    expect(chain.count).toBe(1);
    expect(vring.popDescriptorChain(chain)).toBe(chain);
    expect([chain.head, chain.count, chain.readable, chain.writableLength]).toEqual([1, 2, 0, 16]);
  });

  it('an indirect descriptor is followed into its table and flattened', () => {
    const { vq, vring } = setup({ indirect: true });
    const a = vq.allocBuf(Buffer.from('req'));
    const b = vq.allocBuf(64);
    vq.addBuf([a], [b], 'ind');
    expect(vq.readDesc(0).flags).toBe(VRING_DESC_F_INDIRECT);
    const chain = vring.popDescriptorChain()!;
    expect([...chain]).toEqual([
      { addr: a.addr, len: 3, writable: false },
      { addr: b.addr, len: 64, writable: true },
    ]);
  });

  it('SET_VRING_BASE (lastAvailIdx) makes the device resume from that avail slot, across the 16-bit wrap', () => {
    const { vq, vring } = setup({ num: 4 });
    /* Driver and device both resume at 65535; the next add lands in slot 3, the one after in slot 0. */
    vq.setAvailIdx(65535);
    vring.lastAvailIdx = 65535;
    vq.addBuf([vq.allocBuf(1)], [], 'a');
    vq.addBuf([vq.allocBuf(2)], [], 'b');
    expect(vq.availIdx).toBe(1);
    expect(vring.popDescriptorChain()!.head).toBe(0);
    expect(vring.popDescriptorChain()!.head).toBe(1);
    expect(vring.lastAvailIdx).toBe(1);
  });
});

describe('vringh: malformed rings never hang', () => {
  it('a descriptor loop makes popDescriptorChain fail ChainTooLong', () => {
    const { vq, vring } = setup({ num: 4 });
    vq.writeDesc(0, { addr: 0x1000, len: 1, flags: VRING_DESC_F_NEXT, next: 1 });
    vq.writeDesc(1, { addr: 0x1000, len: 1, flags: VRING_DESC_F_NEXT, next: 0 });
    vq.publishAvail(0);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('ChainTooLong');
  });

  it('a chain visiting more descriptors than the queue size fails ChainTooLong', () => {
    const { vq, vring } = setup({ num: 4 });
    for (let i = 0; i < 4; i++) vq.writeDesc(i, { addr: 0x1000, len: 1, flags: VRING_DESC_F_NEXT, next: i === 3 ? 1 : i + 1 });
    vq.publishAvail(0);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('ChainTooLong');
  });

  it('a chain of exactly num descriptors is accepted', () => {
    const { vq, vring } = setup({ num: 4 });
    vq.addBuf([1, 2, 3, 4].map((n) => vq.allocBuf(n)), [], 'full');
    expect(vring.popDescriptorChain()!.count).toBe(4);
  });

  it('a head index >= num fails DescriptorIndexOutOfBounds', () => {
    const { vq, vring } = setup({ num: 4 });
    vq.publishAvail(4);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('DescriptorIndexOutOfBounds');
  });

  it('a next index >= num fails DescriptorIndexOutOfBounds', () => {
    const { vq, vring } = setup({ num: 4 });
    vq.writeDesc(0, { addr: 0x1000, len: 1, flags: VRING_DESC_F_NEXT, next: 9 });
    vq.publishAvail(0);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('DescriptorIndexOutOfBounds');
  });

  it('avail idx moving more than num past last_avail_idx fails InvalidAvailIdx', () => {
    const { vq, vring } = setup({ num: 4 });
    vq.setAvailIdx(5);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('InvalidAvailIdx');
    /* Exactly num ahead is a full ring, not an error. */
    vq.setAvailIdx(4);
    expect(vring.popDescriptorChain()).not.toBeNull();
  });

  it('a device-readable descriptor after a writable one fails InvalidChain', () => {
    const { vq, vring } = setup();
    vq.writeDesc(0, { addr: 0x1000, len: 1, flags: VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, next: 1 });
    vq.writeDesc(1, { addr: 0x1000, len: 1, flags: 0, next: 0 });
    vq.publishAvail(0);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('InvalidChain');
  });

  it('misaligned desc (16), avail (2) or used (4) fail MisalignedRing', () => {
    const { as, vq } = setup();
    const { desc, avail, used } = vq.ringDma;
    for (const bad of [{ desc: desc + 8 }, { avail: avail + 1 }, { used: used + 2 }]) {
      const vring = new Vring(as, { num: 8, desc, avail, used, ...bad });
      expect(vring.isValid()).toBe(false);
      expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('MisalignedRing');
    }
    expect(new Vring(as, { num: 8, desc, avail, used }).isValid()).toBe(true);
  });

  it('a queue size that is not a power of two up to 32768 fails InvalidQueueSize', () => {
    const { as, vq } = setup();
    for (const num of [0, 3, 65536]) {
      const vring = new Vring(as, { num, ...vq.ringDma });
      expect(vring.isValid()).toBe(false);
      expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('InvalidQueueSize');
    }
  });
});

describe('vringh: indirect tables', () => {
  function withTable(entries: Parameters<VirtqueueSplit['writeDescTable']>[1], outer: { len?: number; flags?: number } = {}) {
    const s = setup();
    const table = s.mem.alloc(16 * Math.max(entries.length, 1), 16);
    s.vq.writeDescTable(table, entries);
    s.vq.writeDesc(0, { addr: table, len: outer.len ?? 16 * entries.length, flags: outer.flags ?? VRING_DESC_F_INDIRECT, next: 1 });
    s.vq.publishAvail(0);
    return s;
  }

  it('an indirect len that is not a multiple of 16 fails InvalidIndirect', () => {
    const { vring } = withTable([{ addr: 0x1000, len: 1, flags: 0, next: 0 }], { len: 24 });
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('InvalidIndirect');
  });

  it('an empty indirect table fails InvalidIndirect', () => {
    const { vring } = withTable([], { len: 0 });
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('InvalidIndirect');
  });

  it('an indirect descriptor inside an indirect table (nesting) fails InvalidIndirect', () => {
    const { vring } = withTable([{ addr: 0x1000, len: 16, flags: VRING_DESC_F_INDIRECT, next: 0 }]);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('InvalidIndirect');
  });

  it('an indirect descriptor that also has NEXT fails InvalidIndirect (the spec forbids it; vringh would resume after the table)', () => {
    const { vring } = withTable([{ addr: 0x1000, len: 1, flags: 0, next: 0 }], {
      flags: VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
    });
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('InvalidIndirect');
  });

  it('a loop inside an indirect table fails ChainTooLong', () => {
    const { vring } = withTable([
      { addr: 0x1000, len: 1, flags: VRING_DESC_F_NEXT, next: 1 },
      { addr: 0x1000, len: 1, flags: VRING_DESC_F_NEXT, next: 0 },
    ]);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('ChainTooLong');
  });

  it('a next index past the indirect table fails DescriptorIndexOutOfBounds', () => {
    const { vring } = withTable([{ addr: 0x1000, len: 1, flags: VRING_DESC_F_NEXT, next: 1 }]);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('DescriptorIndexOutOfBounds');
  });

  it('an indirect table outside guest memory fails AddressFault', () => {
    const s = setup();
    s.vq.writeDesc(0, { addr: 0x4000_0000, len: 32, flags: VRING_DESC_F_INDIRECT, next: 0 });
    s.vq.publishAvail(0);
    expect(vringErrorKind(() => s.vring.popDescriptorChain())).toBe('AddressFault');
  });
});

describe('vringh: through an IOTLB', () => {
  /* Rings and buffers in a process memory; the device reaches them at iova = uaddr + 0x1000_0000. */
  const IOVA = 0x1000_0000;
  function iotlbSetup(perm = VHOST_MAP_RW) {
    const mem = new GuestMemory(1 << 20);
    const iotlb = new VhostIotlb(2048);
    iotlb.addRange(IOVA, IOVA + (1 << 20) - 1, 0, perm);
    const as = new IotlbAddressSpace(iotlb, mem);
    const vq = new VirtqueueSplit<string>({ mem, num: 8, dmaAddr: (a) => a + IOVA });
    const vring = new Vring(as, { num: 8, ...vq.ringDma });
    return { mem, iotlb, as, vq, vring };
  }

  it('chains and used entries go through iova -> uaddr', () => {
    const { mem, vq, vring } = iotlbSetup();
    const buf = vq.allocBuf(Buffer.from('via iotlb'));
    vq.addBuf([buf], [], 'x');
    const chain = vring.popDescriptorChain()!;
    const dst = Buffer.alloc(9);
    chain.readInto(dst);
    expect(dst.toString()).toBe('via iotlb');
    vring.addUsed(chain.head, 0);
    expect(mem.read(vq.usedAddr, 12)).toEqual(usedRing(0, 1, [[0, 0]]));
  });

  it('a buffer iova the IOTLB does not map fails AddressFault (an IOTLB miss)', () => {
    const { vq, vring } = iotlbSetup();
    vq.addBuf([{ addr: 0x10, len: 4 }], [], 'x');
    const chain = vring.popDescriptorChain()!;
    expect(vringErrorKind(() => chain.readInto(Buffer.alloc(4)))).toBe('AddressFault');
  });

  it('a device write into a read-only map fails PermissionFault', () => {
    const { iotlb, vq, vring } = iotlbSetup();
    const rx = vq.allocBuf(8);
    vq.addBuf([], [rx], 'rx');
    const chain = vring.popDescriptorChain()!;
    /* Unmap (delRange drops the whole overlapping 1 MiB map), then map the rx page back read-only. */
    const page = rx.addr - (rx.addr % 4096);
    iotlb.delRange(page, page + 4095);
    iotlb.addRange(page, page + 4095, page - IOVA, VHOST_MAP_RO);
    expect(vringErrorKind(() => chain.writeFrom(Buffer.from('x')))).toBe('PermissionFault');
  });

  it('a used ring mapped read-only fails PermissionFault when the rings are checked', () => {
    const { vring } = iotlbSetup(VHOST_MAP_RO);
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('PermissionFault');
  });

  it('an IOTLB invalidate drops the cached ring translation: the next pop faults', () => {
    const { iotlb, vq, vring } = iotlbSetup();
    vq.addBuf([vq.allocBuf(1)], [], 'a');
    expect(vring.popDescriptorChain()).not.toBeNull();
    iotlb.reset();
    expect(vringErrorKind(() => vring.popDescriptorChain())).toBe('AddressFault');
  });

  it('rings split across several maps (even inside a u16 field) still work, piece by piece', () => {
    const mem = new GuestMemory(1 << 20);
    const vq = new VirtqueueSplit<string>({ mem, num: 8, align: 16 });
    /* Cut inside descriptor 2, inside avail->idx, and inside used elem 0's len: identity maps in between. */
    const cuts = [vq.descAddr + 40, vq.availAddr + 3, vq.usedAddr + 9, 1 << 20];
    const iotlb = new VhostIotlb();
    let start = 0;
    for (const cut of cuts) {
      iotlb.addRange(start, cut - 1, start, VHOST_MAP_RW);
      start = cut;
    }
    const vring = new Vring(new IotlbAddressSpace(iotlb, mem), { num: 8, ...vq.ringDma });
    vq.addBuf([vq.allocBuf(1)], [], 'a');
    vq.addBuf([vq.allocBuf(1)], [], 'b');
    const w = vq.allocBuf(4);
    vq.addBuf([vq.allocBuf(Buffer.from('split'))], [w], 'c'); /* head 2 straddles the first cut */
    for (const head of [0, 1]) expect(vring.popDescriptorChain()!.head).toBe(head);
    const chain = vring.popDescriptorChain()!;
    expect([chain.head, chain.count, chain.readableLength, chain.writableLength]).toEqual([2, 2, 5, 4]);
    vring.addUsed(chain.head, 0x01020304);
    expect(vq.usedElem(0)).toEqual({ id: 2, len: 0x01020304 });
    expect(vq.usedIdx()).toBe(1);
  });

  it('a descriptor address at or above 2^53 faults rather than rounding', () => {
    const { vq, vring } = setup();
    vq.writeDesc(0, { addr: 1n << 60n, len: 4, flags: 0, next: 0 });
    vq.publishAvail(0);
    const chain = vring.popDescriptorChain()!;
    expect(vringErrorKind(() => chain.readInto(Buffer.alloc(4)))).toBe('AddressFault');
  });
});

describe('vringh: notifications', () => {
  it('without EVENT_IDX the device interrupts unless the driver set VRING_AVAIL_F_NO_INTERRUPT', () => {
    const { vq, vring } = setup();
    vq.addBuf([vq.allocBuf(1)], [], 'a');
    vring.addUsed(vring.popDescriptorChain()!.head, 0);
    expect(vring.needsNotification()).toBe(true);
    vq.disableCb();
    vq.addBuf([vq.allocBuf(1)], [], 'b');
    vring.addUsed(vring.popDescriptorChain()!.head, 0);
    expect(vring.needsNotification()).toBe(false);
    expect(vq.enableCb()).toBe(false); /* two buffers are waiting: reap them first */
  });

  it('with EVENT_IDX the device interrupts only when used_event lies in the entries just added', () => {
    const { vq, vring } = setup({ eventIdx: true });
    for (let k = 0; k < 3; k++) vq.addBuf([vq.allocBuf(1)], [], `${k}`);
    vq.setUsedEvent(1); /* "interrupt me once entry 1 is used" */
    vring.addUsed(vring.popDescriptorChain()!.head, 0); /* used idx 0 -> 1 */
    expect(vring.needsNotification()).toBe(false);
    vring.addUsed(vring.popDescriptorChain()!.head, 0); /* 1 -> 2: covers entry 1 */
    expect(vring.needsNotification()).toBe(true);
    vring.addUsed(vring.popDescriptorChain()!.head, 0); /* 2 -> 3 */
    expect(vring.needsNotification()).toBe(false);
  });

  it('EVENT_IDX suppression survives the 16-bit wrap of used idx', () => {
    const { vq, vring } = setup({ eventIdx: true, num: 4 });
    vq.setAvailIdx(65534);
    vring.lastAvailIdx = 65534;
    vring.lastUsedIdx = 65534;
    for (let k = 0; k < 3; k++) vq.addBuf([vq.allocBuf(1)], [], `${k}`);
    vq.setUsedEvent(0); /* the entry published as used idx goes 0 -> 1, after the wrap */
    vring.addUsed(vring.popDescriptorChain()!.head, 0); /* 65534 -> 65535 */
    expect(vring.needsNotification()).toBe(false);
    vring.addUsed(vring.popDescriptorChain()!.head, 0); /* 65535 -> 0 */
    vring.addUsed(vring.popDescriptorChain()!.head, 0); /* 0 -> 1 */
    expect(vring.lastUsedIdx).toBe(1);
    expect(vring.needsNotification()).toBe(true);
    expect(vq.usedIdx()).toBe(1);
  });

  it('with EVENT_IDX a batch that jumps over used_event (but includes it) still interrupts once', () => {
    const { vq, vring } = setup({ eventIdx: true });
    for (let k = 0; k < 4; k++) vq.addBuf([vq.allocBuf(1)], [], `${k}`);
    vq.setUsedEvent(2);
    for (let k = 0; k < 4; k++) vring.addUsed(vring.popDescriptorChain()!.head, 0);
    expect(vring.needsNotification()).toBe(true);
    expect(vring.needsNotification()).toBe(false);
  });

  it('disable/enableNotification toggle VRING_USED_F_NO_NOTIFY without EVENT_IDX', () => {
    const { vq, vring } = setup();
    vring.disableNotification();
    expect(vq.usedFlags()).toBe(VRING_USED_F_NO_NOTIFY);
    vq.addBuf([vq.allocBuf(1)], [], 'a');
    expect(vq.kickPrepare()).toBe(false);
    expect(vring.enableNotification()).toBe(true); /* one is already there: poll again */
    expect(vq.usedFlags()).toBe(0);
    vring.popDescriptorChain();
    expect(vring.enableNotification()).toBe(false);
  });

  it('enableNotification with EVENT_IDX publishes avail_event = last_avail_idx', () => {
    const { vq, vring } = setup({ eventIdx: true });
    vq.addBuf([vq.allocBuf(1)], [], 'a');
    vring.popDescriptorChain();
    expect(vring.enableNotification()).toBe(false);
    expect(vq.availEvent()).toBe(1);
    vq.addBuf([vq.allocBuf(1)], [], 'b');
    expect(vq.kickPrepare()).toBe(true);
  });

  it('needsNotification reads avail flags through the ring (NO_INTERRUPT set by hand)', () => {
    const { vq, vring } = setup();
    vq.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
    expect(vring.needsNotification()).toBe(false);
  });

  it('addUsed of an id >= num fails DescriptorIndexOutOfBounds', () => {
    const { vring } = setup();
    expect(vringErrorKind(() => vring.addUsed(8, 0))).toBe('DescriptorIndexOutOfBounds');
  });
});

describe('vringh over copy-based memory (a client process\'s: read and written, never mapped)', () => {
  function copySetup(opts: { indirect?: boolean } = {}) {
    const mem = new GuestMemory(1 << 20);
    const copy = new CopyOnlyMemory(mem);
    const as = new PassthroughAddressSpace(copy);
    const vq = new VirtqueueSplit<string>({ mem, num: 8, indirect: opts.indirect });
    const vring = new Vring(as, { num: 8, ...vq.ringDma });
    return { mem, copy, vq, vring };
  }

  it('a chain with an indirect table pops, reads and writes; the used ring is the same as in place', () => {
    const { mem, vq, vring, copy } = copySetup({ indirect: true });
    const a = vq.allocBuf(Buffer.from('request'));
    const b = vq.allocBuf(16);
    vq.addBuf([a], [b], 'ind');
    const chain = vring.popDescriptorChain()!;
    expect([...chain]).toEqual([
      { addr: a.addr, len: 7, writable: false },
      { addr: b.addr, len: 16, writable: true },
    ]);
    const dst = Buffer.alloc(7);
    expect(chain.readInto(dst)).toBe(7);
    expect(dst.toString()).toBe('request');
    expect(chain.writeFrom(Buffer.from('answer'))).toBe(6);
    vring.addUsed(chain.head, chain.bytesWritten);
    expect(mem.read(b.addr, 6).toString()).toBe('answer');
    expect(mem.read(vq.usedAddr, 12)).toEqual(usedRing(0, 1, [[0, 6]]));
    /* The indirect table was read whole, once (2 descriptors), not descriptor by descriptor. */
    expect(copy.log.filter((x) => x.op === 'r' && x.len === 32)).toHaveLength(1);
  });

  it('memory that is not there faults on the access itself: AddressFault', () => {
    const { vq, vring } = copySetup();
    vq.addBuf([{ addr: 0x200000, len: 4 }], [], 'x');
    const chain = vring.popDescriptorChain()!;
    expect(vringErrorKind(() => chain.readInto(Buffer.alloc(4)))).toBe('AddressFault');
  });
});
