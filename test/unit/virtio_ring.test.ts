import { describe, it, expect } from 'vitest';
import { GuestMemory, MemoryFault, PassthroughAddressSpace } from '../../src/mm/guest_memory';
import { VirtqueueSplit } from '../../src/drivers/virtio/virtio_ring';
import { Vring } from '../../src/drivers/vhost/vringh';
import {
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_USED_F_NO_NOTIFY,
  vringDesc,
  vringInit,
  vringNeedEvent,
  vringSize,
} from '../../src/include/uapi/virtio_ring';
import { BIT, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1, virtioHasFeature } from '../../src/include/uapi/virtio_config';
import { errnoOf } from './sysfs_io';

/* A raw 16-byte descriptor, as the device would read it. */
function desc(addr: number, len: number, flags: number, next: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(addr), 0);
  b.writeUInt32LE(len, 8);
  b.writeUInt16LE(flags, 12);
  b.writeUInt16LE(next, 14);
  return b;
}

/* The device half, to complete what the driver publishes. */
function withDevice(opts: { num?: number; eventIdx?: boolean; indirect?: boolean } = {}) {
  const num = opts.num ?? 8;
  const mem = new GuestMemory(1 << 20);
  const vq = new VirtqueueSplit<string>({ mem, num, ...opts });
  const vring = new Vring(new PassthroughAddressSpace(mem), { num, ...vq.ringDma, eventIdx: opts.eventIdx });
  const complete = (len = 0): void => {
    const c = vring.popDescriptorChain()!;
    vring.addUsed(c.head, len);
  };
  return { mem, vq, vring, complete };
}

describe('virtio_ring: layout', () => {
  it('vring_size and vring_init give the legacy contiguous layout (256 entries, 4 KiB align: 10246 B)', () => {
    expect(vringSize(256, 4096)).toBe(10246);
    expect(vringInit(0x10000, 256, 4096)).toEqual({ desc: 0x10000, avail: 0x11000, used: 0x12000 });
  });

  it('an allocated queue places desc, avail and used with their alignment', () => {
    const mem = new GuestMemory(1 << 20);
    const vq = new VirtqueueSplit({ mem, num: 16, align: 64 });
    expect(vq.descAddr % 16).toBe(0);
    expect(vq.availAddr).toBe(vq.descAddr + 16 * 16);
    expect(vq.usedAddr % 64).toBe(0);
    expect(vq.usedAddr).toBeGreaterThanOrEqual(vq.availAddr + 6 + 2 * 16);
    expect(vq.numFree).toBe(16);
  });

  it('a queue size that is not a power of two is EINVAL', () => {
    expect(errnoOf(() => new VirtqueueSplit({ mem: new GuestMemory(4096), num: 6 }))).toBe('EINVAL');
  });

  it('vring_need_event compares in 16-bit arithmetic', () => {
    expect(vringNeedEvent(5, 6, 5)).toBe(true);
    expect(vringNeedEvent(6, 6, 5)).toBe(false);
    expect(vringNeedEvent(0xffff, 1, 0xfffe)).toBe(true);
    expect(vringNeedEvent(2, 1, 0xfffe)).toBe(false);
  });

  it('feature masks are 64-bit: VERSION_1 | ACCESS_PLATFORM = 0x300000000', () => {
    const f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM);
    expect(f).toBe(0x3_0000_0000n);
    expect(virtioHasFeature(f, 33)).toBe(true);
    expect(virtioHasFeature(f, 1)).toBe(false);
  });
});

describe('virtio_ring: publishing', () => {
  it('addBuf links out then in entries with NEXT and WRITE, and exposes the head in avail', () => {
    const { mem, vq } = withDevice();
    vq.addBuf([{ addr: 0x1000, len: 10 }], [{ addr: 0x2000, len: 20 }, { addr: 0x3000, len: 30 }], 'req');
    expect(mem.read(vq.descAddr, 48)).toEqual(
      Buffer.concat([
        desc(0x1000, 10, VRING_DESC_F_NEXT, 1),
        desc(0x2000, 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2),
        desc(0x3000, 30, VRING_DESC_F_WRITE, 3), /* next is written even on the last, as Linux does */
      ]),
    );
    /* avail: flags 0, idx 1, ring[0] = head 0 */
    expect(mem.read(vq.availAddr, 6)).toEqual(Buffer.from([0, 0, 1, 0, 0, 0]));
    expect(vq.numFree).toBe(5);
  });

  it('the free list hands out descriptors after the ones still in flight', () => {
    const { vq } = withDevice();
    vq.addBuf([{ addr: 0x1000, len: 1 }, { addr: 0x1000, len: 1 }], [], 'a');
    vq.addBuf([{ addr: 0x2000, len: 1 }], [], 'b');
    expect(vq.readDesc(2)).toEqual({ addr: 0x2000n, len: 1, flags: 0, next: 3 });
  });

  it('addBuf fails ENOSPC when fewer descriptors are free than the chain needs', () => {
    const { vq } = withDevice({ num: 2 });
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a');
    expect(errnoOf(() => vq.addBuf([{ addr: 0x1000, len: 1 }, { addr: 0x1000, len: 1 }], [], 'b'))).toBe('ENOSPC');
    expect(errnoOf(() => vq.addBuf([], [], 'c'))).toBe('EINVAL');
  });

  it('with INDIRECT_DESC a multi-entry chain takes one ring descriptor pointing at a table', () => {
    const { mem, vq, complete } = withDevice({ indirect: true });
    vq.addBuf([{ addr: 0x1000, len: 10 }], [{ addr: 0x2000, len: 20 }], 'ind');
    const d = vq.readDesc(0);
    expect([d.len, d.flags]).toEqual([32, VRING_DESC_F_INDIRECT]);
    expect(mem.read(Number(d.addr), 32)).toEqual(
      Buffer.concat([desc(0x1000, 10, VRING_DESC_F_NEXT, 1), desc(0x2000, 20, VRING_DESC_F_WRITE, 2)]),
    );
    expect(vq.numFree).toBe(7);
    /* A single entry goes direct, as virtqueue_add_split does. */
    vq.addBuf([{ addr: 0x3000, len: 1 }], [], 'direct');
    expect(vq.readDesc(1).flags).toBe(0);
    complete();
    expect(vq.getBuf()).toEqual({ token: 'ind', len: 0 });
    expect(vq.numFree).toBe(7);
  });

  it('kickPrepare without EVENT_IDX kicks unless the device set VRING_USED_F_NO_NOTIFY', () => {
    const { vq, vring } = withDevice();
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a');
    expect(vq.kickPrepare()).toBe(true);
    vring.disableNotification();
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'b');
    expect(vq.kickPrepare()).toBe(false);
  });

  it('kickPrepare with EVENT_IDX kicks only when avail_event lies in the newly added window, across the wrap', () => {
    const { vq, vring } = withDevice({ eventIdx: true, num: 4 });
    vq.setAvailIdx(0xfffe);
    vring.lastAvailIdx = 0xfffe;
    vring.enableNotification(); /* avail_event = 0xfffe */
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a'); /* avail idx 0xfffe -> 0xffff */
    expect(vq.kickPrepare()).toBe(true);
    vring.popDescriptorChain();
    vring.enableNotification(); /* avail_event = 0xffff */
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'b'); /* 0xffff -> 0 */
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'c'); /* 0 -> 1 */
    expect(vq.kickPrepare()).toBe(true);
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'd'); /* the device has not re-armed: no kick */
    expect(vq.kickPrepare()).toBe(false);
  });

  it('kick calls notify only when kickPrepare says so', () => {
    const mem = new GuestMemory(1 << 16);
    let kicks = 0;
    const vq = new VirtqueueSplit({ mem, num: 4, notify: () => kicks++ });
    vq.addBuf([{ addr: 0, len: 1 }], [], 'a');
    expect(vq.kick()).toBe(true);
    mem.writeU16(vq.usedAddr, VRING_USED_F_NO_NOTIFY);
    vq.addBuf([{ addr: 0, len: 1 }], [], 'b');
    expect(vq.kick()).toBe(false);
    expect(kicks).toBe(1);
  });
});

describe('virtio_ring: reaping', () => {
  it('getBuf returns token and used length in completion order and frees the descriptors', () => {
    const { vq, vring } = withDevice();
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a');
    vq.addBuf([{ addr: 0x1000, len: 1 }], [{ addr: 0x2000, len: 8 }], 'b');
    const a = vring.popDescriptorChain()!;
    const b = vring.popDescriptorChain()!;
    vring.addUsed(b.head, 8);
    vring.addUsed(a.head, 0);
    expect(vq.getBuf()).toEqual({ token: 'b', len: 8 });
    expect(vq.getBuf()).toEqual({ token: 'a', len: 0 });
    expect(vq.getBuf()).toBeNull();
    expect(vq.numFree).toBe(8);
  });

  it('getBuf publishes used_event = last_used_idx while callbacks are enabled', () => {
    const { vq, complete } = withDevice({ eventIdx: true });
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a');
    complete();
    vq.getBuf();
    expect(vq.usedEvent()).toBe(1);
    vq.disableCb();
    expect(vq.usedEvent()).toBe(0); /* the kernel's "hack" value */
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'b');
    complete();
    vq.getBuf();
    expect(vq.usedEvent()).toBe(0);
  });

  it('disableCb without EVENT_IDX sets VRING_AVAIL_F_NO_INTERRUPT; enableCb clears it and reports pending buffers', () => {
    const { mem, vq, complete } = withDevice();
    vq.disableCb();
    expect(mem.readU16(vq.availAddr)).toBe(VRING_AVAIL_F_NO_INTERRUPT);
    expect(vq.enableCb()).toBe(true);
    expect(mem.readU16(vq.availAddr)).toBe(0);
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a');
    complete();
    expect(vq.enableCb()).toBe(false);
  });

  it('a used id that is not an outstanding head breaks the queue (BAD_RING)', () => {
    const { vq, vring } = withDevice();
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a');
    vring.popDescriptorChain();
    vring.addUsed(5, 0);
    expect(vq.getBuf()).toBeNull();
    expect(vq.broken).toBe(true);
    expect(errnoOf(() => vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'b'))).toBe('EIO');
  });

  it('detachUnusedBuf hands back buffers the device never took and rewinds avail idx', () => {
    const { vq } = withDevice();
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'a');
    vq.addBuf([{ addr: 0x1000, len: 1 }], [], 'b');
    expect([vq.detachUnusedBuf(), vq.detachUnusedBuf(), vq.detachUnusedBuf()]).toEqual(['a', 'b', null]);
    expect(vq.availIdx).toBe(0);
    expect(vq.numFree).toBe(8);
  });

  it('allocBuf places data in guest memory for the device to read', () => {
    const { vq, vring } = withDevice();
    vq.addBuf([vq.allocBuf(Buffer.from('ping'))], [], 'a');
    const got = Buffer.alloc(4);
    vring.popDescriptorChain()!.readInto(got);
    expect(got.toString()).toBe('ping');
  });

  it('raw helpers write exactly the descriptor asked for', () => {
    const { mem, vq } = withDevice();
    vq.writeDesc(3, { addr: 0xdead_beef_0000n, len: 7, flags: 0xffff, next: 0x1234 });
    expect(mem.read(vq.descAddr + 48, 16)).toEqual(desc(0xdead_beef_0000, 7, 0xffff, 0x1234));
    expect(vringDesc.addr(mem.view(vq.descAddr, 64), 48)).toBe(0xdead_beef_0000);
  });
});

describe('guest memory', () => {
  it('reads and writes little-endian fields, across adjacent regions', () => {
    const mem = new GuestMemory([
      { base: 0x1000, size: 0x1000 },
      { base: 0x2000, size: 0x1000 },
    ]);
    mem.writeU64(0x1ffc, 0x0102030405060708n);
    expect(mem.readU32(0x1ffc)).toBe(0x05060708);
    expect(mem.readU32(0x2000)).toBe(0x01020304);
    expect(mem.readU64(0x1ffc)).toBe(0x0102030405060708n);
    expect(mem.translate(0x1ffc, 8).len).toBe(4);
  });

  it('an access outside every region is an EFAULT MemoryFault (AddressFault)', () => {
    const mem = new GuestMemory([{ base: 0x1000, size: 0x1000 }]);
    expect(() => mem.readU8(0xfff)).toThrow(MemoryFault);
    expect(() => mem.write(0x1ffe, Buffer.alloc(4))).toThrow(MemoryFault);
    expect(errnoOf(() => mem.readU16(0x5000))).toBe('EFAULT');
    expect(() => mem.translate(NaN, 1)).toThrow(MemoryFault);
    expect(() => mem.view(0x1ff0, 0x20)).toThrow(MemoryFault);
  });

  it('overlapping regions are EEXIST', () => {
    const mem = new GuestMemory([{ base: 0x1000, size: 0x1000 }]);
    expect(errnoOf(() => mem.addRegion(0x1800, 0x1000))).toBe('EEXIST');
  });

  it('alloc honours alignment, zeroes, reuses freed space and is ENOMEM when full', () => {
    const mem = new GuestMemory(0x1000);
    const a = mem.alloc(10, 1);
    const b = mem.alloc(16, 256);
    expect(a).toBe(0);
    expect(b).toBe(256);
    mem.fill(b, 16, 0xff);
    mem.free(b);
    const c = mem.alloc(16, 256);
    expect(c).toBe(256);
    expect(mem.read(c, 16)).toEqual(Buffer.alloc(16));
    expect(errnoOf(() => mem.alloc(0x1000))).toBe('ENOMEM');
    expect(errnoOf(() => mem.free(12345))).toBe('EINVAL');
    mem.free(a);
    mem.free(c);
    expect(mem.alloc(0x1000)).toBe(0);
  });
});
