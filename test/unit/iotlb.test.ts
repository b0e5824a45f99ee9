import { describe, it, expect } from 'vitest';
import { KernelError } from '../../src/kernel/errno';
import { GuestMemory, MemoryFault, MemoryFaultKind } from '../../src/mm/guest_memory';
import {
  IotlbAddressSpace,
  VHOST_IOTLB_FLAG_RETIRE,
  VHOST_MAP_RO,
  VHOST_MAP_RW,
  VHOST_MAP_WO,
  VhostIotlb,
} from '../../src/drivers/vhost/iotlb';
import {
  VHOST_IOTLB_ACCESS_FAIL,
  VHOST_IOTLB_BATCH_BEGIN,
  VHOST_IOTLB_BATCH_END,
  VHOST_IOTLB_INVALIDATE,
  VHOST_IOTLB_MISS,
  VHOST_IOTLB_MSG,
  VHOST_IOTLB_MSG_V2,
  VHOST_IOTLB_UPDATE,
  VhostIotlbDev,
  vhostIotlbWrite,
  vhostMsgBuild,
  vhostMsgParse,
} from '../../src/drivers/vhost/vhost_msg';
import { errnoOf } from './sysfs_io';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

function faultOf(f: () => unknown): MemoryFaultKind {
  try {
    f();
  } catch (e) {
    if (e instanceof MemoryFault) return e.kind;
    throw e;
  }
  throw new Error('expected a MemoryFault');
}

const ranges = (iotlb: VhostIotlb): Array<[bigint, bigint]> => iotlb.maps().map((m) => [m.start, m.last]);

describe('vhost iotlb', () => {
  it('addRange of a range overlapping an existing map fails EEXIST', () => {
    const iotlb = new VhostIotlb();
    iotlb.addRange(0x1000, 0x1fff, 0x10000, VHOST_MAP_RW);
    expect(errnoOf(() => iotlb.addRange(0x1fff, 0x2fff, 0, VHOST_MAP_RW))).toBe('EEXIST');
    expect(errnoOf(() => iotlb.addRange(0, 0x1000, 0, VHOST_MAP_RW))).toBe('EEXIST');
    iotlb.addRange(0x2000, 0x2fff, 0, VHOST_MAP_RW);
    expect(iotlb.nmaps).toBe(2);
  });

  it('addRange with last < start fails EFAULT, as vhost_iotlb_add_range_ctx', () => {
    expect(errnoOf(() => new VhostIotlb().addRange(0x2000, 0x1fff, 0, VHOST_MAP_RW))).toBe('EFAULT');
  });

  it('delRange removes every map overlapping the range, whole', () => {
    const iotlb = new VhostIotlb();
    iotlb.addRange(0x0000, 0x0fff, 0, VHOST_MAP_RW);
    iotlb.addRange(0x1000, 0x1fff, 0, VHOST_MAP_RW);
    iotlb.addRange(0x2000, 0x2fff, 0, VHOST_MAP_RW);
    iotlb.addRange(0x3000, 0x3fff, 0, VHOST_MAP_RW);
    iotlb.delRange(0x1fff, 0x2000);
    expect(ranges(iotlb)).toEqual([
      [0x0000n, 0x0fffn],
      [0x3000n, 0x3fffn],
    ]);
    iotlb.reset();
    expect(iotlb.nmaps).toBe(0);
  });

  it('a full IOTLB fails ENOMEM; with RETIRE it drops the oldest map instead', () => {
    const capped = new VhostIotlb(2);
    capped.addRange(0x1000, 0x1fff, 0, VHOST_MAP_RW);
    capped.addRange(0x3000, 0x3fff, 0, VHOST_MAP_RW);
    expect(errnoOf(() => capped.addRange(0x2000, 0x2fff, 0, VHOST_MAP_RW))).toBe('ENOMEM');
    const retiring = new VhostIotlb(2, VHOST_IOTLB_FLAG_RETIRE);
    retiring.addRange(0x3000, 0x3fff, 0, VHOST_MAP_RW);
    retiring.addRange(0x1000, 0x1fff, 0, VHOST_MAP_RW);
    retiring.addRange(0x2000, 0x2fff, 0, VHOST_MAP_RW);
    expect(ranges(retiring)).toEqual([
      [0x1000n, 0x1fffn],
      [0x2000n, 0x2fffn],
    ]);
  });

  it('mapping the whole 64-bit space is split in two maps, as the kernel does', () => {
    const iotlb = new VhostIotlb();
    iotlb.addRange(0n, U64_MAX, 0n, VHOST_MAP_RW);
    expect(ranges(iotlb)).toEqual([
      [0n, U64_MAX / 2n],
      [U64_MAX / 2n + 1n, U64_MAX],
    ]);
    expect(iotlb.maps()[1].addr).toBe(U64_MAX / 2n + 1n);
  });

  it('itreeFirst finds the lowest overlapping map', () => {
    const iotlb = new VhostIotlb();
    iotlb.addRange(0x5000, 0x5fff, 0xa000, VHOST_MAP_RO);
    iotlb.addRange(0x1000, 0x1fff, 0xb000, VHOST_MAP_RO);
    expect(iotlb.itreeFirst(0, 0xffff)?.addr).toBe(0xb000n);
    expect(iotlb.itreeFirst(0x2000, 0x4fff)).toBeUndefined();
  });
});

describe('iotlb address space', () => {
  function space() {
    const mem = new GuestMemory([{ base: 0x10_0000, size: 0x4000 }]);
    const iotlb = new VhostIotlb();
    iotlb.addRange(0x1000, 0x1fff, 0x10_0000, VHOST_MAP_RW);
    iotlb.addRange(0x2000, 0x2fff, 0x10_2000, VHOST_MAP_RO);
    iotlb.addRange(0x3000, 0x3fff, 0x10_1000, VHOST_MAP_WO);
    iotlb.addRange(0x8000, 0x8fff, 0x20_0000, VHOST_MAP_RW); /* points outside the process memory */
    return { mem, iotlb, as: new IotlbAddressSpace(iotlb, mem) };
  }

  it('translates iova to the user address and stops the piece at the end of the map', () => {
    const { mem, as } = space();
    mem.writeU32(0x10_0ffc, 0xcafef00d);
    const t = as.translate(0x1ffc, 16, 'r');
    expect(t.len).toBe(4);
    expect(t.buf.readUInt32LE(t.off)).toBe(0xcafef00d);
  });

  it('an unmapped iova is an AddressFault (IOTLB miss)', () => {
    const { as } = space();
    expect(faultOf(() => as.translate(0x4000, 1, 'r'))).toBe('AddressFault');
    expect(faultOf(() => as.translate(2 ** 60, 1, 'r'))).toBe('AddressFault');
  });

  it('a device write through a read-only map, or a read through a write-only one, is a PermissionFault', () => {
    const { as } = space();
    expect(faultOf(() => as.translate(0x2000, 1, 'w'))).toBe('PermissionFault');
    expect(faultOf(() => as.translate(0x3000, 1, 'r'))).toBe('PermissionFault');
    expect(as.translate(0x2000, 1, 'r').len).toBe(1);
    expect(as.translate(0x3000, 1, 'w').len).toBe(1);
  });

  it('a map whose user address is outside the memory is an AddressFault', () => {
    const { as } = space();
    expect(faultOf(() => as.translate(0x8000, 1, 'r'))).toBe('AddressFault');
  });

  it('any IOTLB change bumps the generation and the last-hit cache forgets removed maps', () => {
    const { iotlb, as } = space();
    as.translate(0x1000, 1, 'r');
    const before = as.generation;
    iotlb.delRange(0x1000, 0x1000);
    expect(as.generation).not.toBe(before);
    expect(faultOf(() => as.translate(0x1000, 1, 'r'))).toBe('AddressFault');
  });
});

/* A vhost-vdpa device as the message handler sees it: one or two address spaces. */
function vdpaDev(opts: Partial<VhostIotlbDev> & { nas?: number } = {}) {
  const spaces = new Map<number, VhostIotlb>();
  const commits: number[] = [];
  const dev: VhostIotlbDev = {
    owner: true,
    iovaRange: { first: 0n, last: U64_MAX },
    asidFeature: true,
    asIotlb(asid, alloc) {
      if (asid >= (opts.nas ?? 2)) return undefined;
      if (!spaces.has(asid) && alloc) spaces.set(asid, new VhostIotlb(2048));
      return spaces.get(asid);
    },
    setMap: (asid) => void commits.push(asid),
    inBatch: false,
    batchAsid: 0,
    ...opts,
  };
  return { dev, spaces, commits };
}

const update = (iova: number, size: number, extra: { asid?: number; perm?: number; uaddr?: number; type?: number } = {}): Buffer =>
  vhostMsgBuild({
    type: extra.type ?? VHOST_IOTLB_MSG_V2,
    asid: extra.asid,
    iotlb: { type: VHOST_IOTLB_UPDATE, iova: BigInt(iova), size: BigInt(size), uaddr: BigInt(extra.uaddr ?? 0x7f00_0000), perm: extra.perm ?? VHOST_MAP_RW },
  });
const msg = (type: number, iova = 0, size = 0, asid = 0): Buffer =>
  vhostMsgBuild({ asid, iotlb: { type, iova: BigInt(iova), size: BigInt(size) } });

describe('vhost_msg: IOTLB writes to /dev/vhost-vdpa-N', () => {
  it('a v2 UPDATE returns 72 and maps [iova, iova+size-1] to uaddr', () => {
    const { dev, spaces } = vdpaDev();
    expect(vhostIotlbWrite(dev, update(0x1000, 0x2000, { uaddr: 0x7f00_0000 }))).toBe(72);
    expect(spaces.get(0)!.maps()).toMatchObject([{ start: 0x1000n, last: 0x2fffn, addr: 0x7f00_0000n, perm: VHOST_MAP_RW }]);
  });

  it('a v1 message (int type, 4-byte hole) is accepted too and returns 72', () => {
    const { dev, spaces } = vdpaDev();
    const b = update(0x1000, 0x1000, { type: VHOST_IOTLB_MSG });
    expect(b.readUInt32LE(4)).toBe(0);
    expect(vhostIotlbWrite(dev, b)).toBe(72);
    expect(spaces.get(0)!.nmaps).toBe(1);
  });

  it('a short write is EINVAL; 40 bytes are enough, since the kernel copies only the 32-byte vhost_iotlb_msg', () => {
    const { dev } = vdpaDev();
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0x1000, 0x1000).subarray(0, 39)))).toBe('EINVAL');
    expect(errnoOf(() => vhostIotlbWrite(dev, Buffer.alloc(3)))).toBe('EINVAL');
    expect(vhostIotlbWrite(dev, update(0x1000, 0x1000).subarray(0, 40))).toBe(72);
  });

  it('an outer type other than 1 or 2 is EINVAL', () => {
    const { dev } = vdpaDev();
    const b = update(0x1000, 0x1000);
    b.writeUInt32LE(3, 0);
    expect(errnoOf(() => vhostIotlbWrite(dev, b))).toBe('EINVAL');
  });

  it('UPDATE with size 0 is EINVAL; INVALIDATE with size 0 goes through (6.6+, "vhost: Allow null msg.size on VHOST_IOTLB_INVALIDATE")', () => {
    const { dev } = vdpaDev();
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0x1000, 0)))).toBe('EINVAL');
    vhostIotlbWrite(dev, update(0x1000, 0x1000));
    expect(vhostIotlbWrite(dev, msg(VHOST_IOTLB_INVALIDATE, 0x1000, 0))).toBe(72);
  });

  it('an UPDATE overlapping an existing map (EEXIST in the handler) is EFAULT', () => {
    const { dev } = vdpaDev();
    vhostIotlbWrite(dev, update(0x1000, 0x1000));
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0x1800, 0x1000)))).toBe('EFAULT');
  });

  it('an UPDATE outside the device iova range, or whose iova+size wraps, is EFAULT', () => {
    const { dev } = vdpaDev({ iovaRange: { first: 0x1000n, last: 0xffffn } });
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0, 0x1000)))).toBe('EFAULT');
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0xf000, 0x2000)))).toBe('EFAULT');
    const wide = vdpaDev();
    const wrap = vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: U64_MAX - 0xfffn, size: 0x2000n, perm: VHOST_MAP_RW } });
    expect(errnoOf(() => vhostIotlbWrite(wide.dev, wrap))).toBe('EFAULT');
  });

  it('a write from a file that is not the owner is EFAULT', () => {
    const { dev } = vdpaDev({ owner: false });
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0x1000, 0x1000)))).toBe('EFAULT');
  });

  it('an asid the device does not have is EFAULT; without the ASID feature the field is ignored', () => {
    const { dev } = vdpaDev({ nas: 1 });
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0x1000, 0x1000, { asid: 1 })))).toBe('EFAULT');
    const legacy = vdpaDev({ nas: 1, asidFeature: false });
    expect(vhostIotlbWrite(legacy.dev, update(0x1000, 0x1000, { asid: 1 }))).toBe(72);
    expect(legacy.spaces.get(0)!.nmaps).toBe(1);
    expect(vhostMsgParse(update(0, 1, { asid: 1 }), false).asid).toBe(0);
  });

  it('MISS and ACCESS_FAIL are device-to-user messages: writing them is EFAULT', () => {
    const { dev } = vdpaDev();
    expect(errnoOf(() => vhostIotlbWrite(dev, msg(VHOST_IOTLB_MISS, 0x1000, 1)))).toBe('EFAULT');
    expect(errnoOf(() => vhostIotlbWrite(dev, msg(VHOST_IOTLB_ACCESS_FAIL, 0x1000, 1)))).toBe('EFAULT');
  });

  it('INVALIDATE removes the overlapping maps and commits them (set_map) outside a batch', () => {
    const { dev, spaces, commits } = vdpaDev();
    vhostIotlbWrite(dev, update(0x1000, 0x1000));
    vhostIotlbWrite(dev, update(0x2000, 0x1000));
    expect(vhostIotlbWrite(dev, msg(VHOST_IOTLB_INVALIDATE, 0x1fff, 2))).toBe(72);
    expect(spaces.get(0)!.nmaps).toBe(0);
    expect(commits).toEqual([0, 0, 0]);
  });

  it('inside BATCH_BEGIN/END updates land in the IOTLB at once but set_map runs only at BATCH_END', () => {
    const { dev, spaces, commits } = vdpaDev();
    expect(vhostIotlbWrite(dev, msg(VHOST_IOTLB_BATCH_BEGIN, 0, 0, 1))).toBe(72);
    vhostIotlbWrite(dev, update(0x1000, 0x1000, { asid: 1 }));
    vhostIotlbWrite(dev, update(0x2000, 0x1000, { asid: 1 }));
    expect(spaces.get(1)!.nmaps).toBe(2);
    expect(commits).toEqual([]);
    /* A message for another address space mid-batch is refused. */
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0x1000, 0x1000, { asid: 0 })))).toBe('EFAULT');
    expect(vhostIotlbWrite(dev, msg(VHOST_IOTLB_BATCH_END, 0, 0, 1))).toBe(72);
    expect(commits).toEqual([1]);
    expect(dev.inBatch).toBe(false);
  });

  it('when set_map refuses an update the map is taken back out and the write is EFAULT', () => {
    const { dev, spaces } = vdpaDev({
      setMap: () => {
        throw new KernelError('ENOMEM');
      },
    });
    expect(errnoOf(() => vhostIotlbWrite(dev, update(0x1000, 0x1000)))).toBe('EFAULT');
    expect(spaces.get(0)!.nmaps).toBe(0);
  });
});
