/*
 * vdpasim_blk (linux-vdpa.md §4): requests on a sparse 128 MiB ramdisk,
 * built with the driver side and checked on the raw used ring and the
 * status byte; config space; the negative cases.
 */
import { describe, expect, it } from 'vitest';
import { VirtqueueSplit } from '../../src/drivers/virtio/virtio_ring';
import { VdpasimBlkState, RAMDISK_CHUNK } from '../../src/drivers/vdpa/vdpa_sim/vdpa_sim_blk_datapath';
import { VRING_DESC_F_NEXT } from '../../src/include/uapi/virtio_ring';
import { CopyOnlyMemory, rawUsed, rig, STATUS_NEEDS_RESET, up, usedRing, userMemory } from './vhost_testlib';

const T_IN = 0;
const T_OUT = 1;
const T_FLUSH = 4;
const T_GET_ID = 8;
const T_DISCARD = 11;
const T_WRITE_ZEROES = 13;
const S_OK = 0;
const S_IOERR = 1;
const S_UNSUPP = 2;
const CAPACITY = 0x40000;

/* copy: the owner's memory reached by copying only, as a client process's is. */
function blk(copy = false) {
  const r = rig('blk');
  const mem = userMemory(8 << 20);
  const file = r.v.open();
  const d = up(file, mem, { ownerMm: copy ? new CopyOnlyMemory(mem) : undefined });
  const disk = r.sim.priv as VdpasimBlkState;
  return { ...r, ...d, vq: d.vqs[0], disk };
}

interface Req {
  status: number;
  data?: { addr: number; len: number };
}

function outhdr(type: number, sector: bigint | number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(type, 0);
  h.writeBigUInt64LE(BigInt(sector), 8);
  return h;
}

/* Publish one request: header (+ out data) readable, (in data +) status writable. */
function req(vq: VirtqueueSplit<string>, type: number, sector: bigint | number, opts: { out?: Buffer; inLen?: number } = {}): Req {
  const status = vq.allocBuf(1);
  const outs = [vq.allocBuf(outhdr(type, sector))];
  if (opts.out) outs.push(vq.allocBuf(opts.out));
  const data = opts.inLen ? vq.allocBuf(opts.inLen) : undefined;
  vq.addBuf(outs, data ? [data, status] : [status], `t${type}`);
  return { status: status.addr, data };
}

function statusOf(r: ReturnType<typeof blk>, q: Req): number {
  return r.mem.readU8(r.mem.regions[0].base + q.status);
}

function dwz(sector: number, num: number, flags = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(sector), 0);
  b.writeUInt32LE(num, 8);
  b.writeUInt32LE(flags, 12);
  return b;
}

describe('vdpasim_blk: requests', () => {
  it('OUT then IN round-trips data; used len is 1 for OUT (the status) and data + 1 for IN', () => {
    const r = blk();
    const data = Buffer.alloc(4096);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const w = req(r.vq, T_OUT, 8, { out: data });
    const rd = req(r.vq, T_IN, 8, { inLen: 4096 });
    r.vq.kick();
    expect(rawUsed(r.vq, 2)).toEqual(usedRing(0, 2, [[0, 1], [3, 4097]]));
    expect([statusOf(r, w), statusOf(r, rd)]).toEqual([S_OK, S_OK]);
    expect(r.mem.read(r.mem.regions[0].base + rd.data!.addr, 4096)).toEqual(data);
    expect(r.disk.read(8 * 512, 4096)).toEqual(data);
  });

  it('the disk is sparse: nothing allocated until written, holes read as zeros, one 64 KiB chunk per touched chunk', () => {
    const r = blk();
    expect(r.disk.allocatedBytes).toBe(0);
    const rd = req(r.vq, T_IN, CAPACITY - 8, { inLen: 4096 });
    r.vq.kick();
    expect(statusOf(r, rd)).toBe(S_OK);
    expect(r.mem.read(r.mem.regions[0].base + rd.data!.addr, 4096).every((b) => b === 0)).toBe(true);
    expect(r.disk.allocatedBytes).toBe(0);
    req(r.vq, T_OUT, 1000, { out: Buffer.alloc(512, 1) });
    r.vq.kick();
    expect(r.disk.allocatedBytes).toBe(RAMDISK_CHUNK);
  });

  it('a transfer crossing chunk boundaries and spread over many descriptors lands in order', () => {
    const r = blk();
    const data = Buffer.alloc(3 * 65536 + 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i >> 9) & 0xff;
    /* 4 KiB segments, as a driver honouring size_max sends them. */
    const segs = [];
    for (let o = 0; o < data.length; o += 4096) segs.push(r.vq.allocBuf(data.subarray(o, o + 4096)));
    const status = r.vq.allocBuf(1);
    r.vq.addBuf([r.vq.allocBuf(outhdr(T_OUT, 120)), ...segs], [status], 'big');
    r.vq.kick();
    expect(r.vq.getBuf()).toEqual({ token: 'big', len: 1 });
    expect(r.disk.read(120 * 512, data.length)).toEqual(data);
  });

  it('FLUSH is a no-op that succeeds; GET_ID returns "vdpa_blk_sim" in 20 bytes', () => {
    const r = blk();
    const f = req(r.vq, T_FLUSH, 0);
    const id = req(r.vq, T_GET_ID, 0, { inLen: 20 });
    r.vq.kick();
    expect(rawUsed(r.vq, 2)).toEqual(usedRing(0, 2, [[0, 1], [2, 21]]));
    expect(statusOf(r, f)).toBe(S_OK);
    const got = r.mem.read(r.mem.regions[0].base + id.data!.addr, 20);
    expect(got).toEqual(Buffer.concat([Buffer.from('vdpa_blk_sim'), Buffer.alloc(8)]));
  });

  it('WRITE_ZEROES zeroes the range (UNMAP allowed) and frees whole chunks; DISCARD leaves data as it is', () => {
    const r = blk();
    r.disk.write(0, Buffer.alloc(3 * RAMDISK_CHUNK, 0xaa));
    const z = req(r.vq, T_WRITE_ZEROES, 0, { out: dwz(1, 2 + RAMDISK_CHUNK / 512, 1) });
    const d = req(r.vq, T_DISCARD, 0, { out: dwz(300, 4) });
    r.vq.kick();
    expect([statusOf(r, z), statusOf(r, d)]).toEqual([S_OK, S_OK]);
    expect(r.disk.read(0, 512).every((b) => b === 0xaa)).toBe(true);
    expect(r.disk.read(512, 512 * (2 + RAMDISK_CHUNK / 512)).every((b) => b === 0)).toBe(true);
    expect(r.disk.read(512 * (3 + RAMDISK_CHUNK / 512), 512).every((b) => b === 0xaa)).toBe(true);
    expect(r.disk.read(300 * 512, 2048).every((b) => b === 0xaa)).toBe(true);
    const whole = req(r.vq, T_WRITE_ZEROES, 0, { out: dwz(RAMDISK_CHUNK / 512, RAMDISK_CHUNK / 512) });
    r.vq.kick();
    expect(statusOf(r, whole)).toBe(S_OK);
    expect(r.disk.allocatedBytes).toBe(2 * RAMDISK_CHUNK);
  });

  it('DISCARD with flags, or WRITE_ZEROES with flags other than UNMAP, is UNSUPP; a wrong-sized range is IOERR', () => {
    const r = blk();
    const a = req(r.vq, T_DISCARD, 0, { out: dwz(0, 1, 1) });
    const b = req(r.vq, T_WRITE_ZEROES, 0, { out: dwz(0, 1, 2) });
    const c = req(r.vq, T_DISCARD, 0, { out: Buffer.alloc(8) });
    r.vq.kick();
    expect([statusOf(r, a), statusOf(r, b), statusOf(r, c)]).toEqual([S_UNSUPP, S_UNSUPP, S_IOERR]);
  });

  it('any other type is IOERR, and so is a non-IN/OUT request with sector != 0', () => {
    const r = blk();
    const a = req(r.vq, 2, 0);
    const b = req(r.vq, 0x12345, 0);
    const c = req(r.vq, T_FLUSH, 5);
    const d = req(r.vq, T_GET_ID, 1, { inLen: 20 });
    r.vq.kick();
    expect([a, b, c, d].map((q) => statusOf(r, q))).toEqual([S_IOERR, S_IOERR, S_IOERR, S_IOERR]);
    /* The status still lands in the last byte: used len counts only it. */
    expect(rawUsed(r.vq, 4).readUInt32LE(4 + 3 * 8 + 4)).toBe(1);
  });

  it('out-of-range sectors are IOERR: past the end, crossing it, more than size_max * seg_max sectors, or a partial sector past it', () => {
    const r = blk();
    const a = req(r.vq, T_IN, CAPACITY, { inLen: 512 });
    const b = req(r.vq, T_OUT, CAPACITY - 1, { out: Buffer.alloc(1024) });
    const c = req(r.vq, T_IN, 2n ** 63n, { inLen: 512 });
    const d = req(r.vq, T_IN, CAPACITY, { inLen: 100 });
    const e = req(r.vq, T_WRITE_ZEROES, 0, { out: dwz(CAPACITY - 1, 2) });
    r.vq.kick();
    expect([a, b, c, d, e].map((q) => statusOf(r, q))).toEqual([S_IOERR, S_IOERR, S_IOERR, S_IOERR, S_IOERR]);
    expect(r.disk.allocatedBytes).toBe(0);
    const ok = req(r.vq, T_IN, CAPACITY - 1, { inLen: 512 });
    r.vq.kick();
    expect(statusOf(r, ok)).toBe(S_OK);
  });

  it('a request with no writable status byte is completed with len 0 and the run stops', () => {
    const r = blk();
    r.vq.addBuf([r.vq.allocBuf(outhdr(T_FLUSH, 0))], [], 'no-status');
    const later = req(r.vq, T_FLUSH, 0);
    r.vq.kick();
    expect(rawUsed(r.vq, 1)).toEqual(usedRing(0, 1, [[0, 0]]));
    r.vq.kick();
    expect(statusOf(r, later)).toBe(S_OK);
  });

  it('one kick serves every pending request (the work reschedules after 5)', () => {
    const r = blk();
    for (let i = 0; i < 12; i++) req(r.vq, T_FLUSH, 0);
    r.vq.kick();
    expect(r.vq.usedIdx()).toBe(12);
  });
});

describe('vdpasim_blk: config space', () => {
  it('capacity 0x40000 sectors, size_max 4096, seg_max 32, blk_size 512, one queue, UINT_MAX discard/write-zeroes sectors', () => {
    const r = rig('blk');
    const file = r.v.open();
    const c = file.getConfig(0, 60);
    expect(c.readBigUInt64LE(0)).toBe(BigInt(CAPACITY));
    expect([c.readUInt32LE(8), c.readUInt32LE(12), c.readUInt32LE(20), c.readUInt16LE(34)]).toEqual([4096, 32, 512, 1]);
    expect([c.readUInt32LE(36), c.readUInt32LE(40), c.readUInt32LE(44), c.readUInt32LE(48), c.readUInt32LE(52)]).toEqual([
      0xffffffff, 1, 512, 0xffffffff, 1,
    ]);
  });
});

describe('vdpasim_blk: a malformed ring stops the queue', () => {
  it('a descriptor loop sets NEEDS_RESET with a kmsg line; the disk and the kernel stay usable', () => {
    const r = blk();
    const h = r.vq.allocBuf(outhdr(T_FLUSH, 0));
    r.vq.writeDesc(0, { addr: h.addr, len: 16, flags: VRING_DESC_F_NEXT, next: 0 });
    r.vq.publishAvail(0);
    r.vq.kick();
    expect(r.file.getStatus() & STATUS_NEEDS_RESET).toBe(STATUS_NEEDS_RESET);
    expect(r.sim.vqs[0].broken).toBe(true);
    expect(r.k.log.records.at(-1)!.text).toMatch(/vdpa_sim blk0: vq 0: ChainTooLong.*device needs reset/);
    r.disk.write(0, Buffer.from('still here'));
    expect(r.disk.read(0, 10).toString()).toBe('still here');
  });

  it('an IOTLB miss on a data buffer stops the queue instead of answering', () => {
    const r = blk();
    const status = r.vq.allocBuf(1);
    r.vq.addBuf([r.vq.allocBuf(outhdr(T_IN, 0))], [{ addr: 0x7000_0000, len: 512 }, status], 'miss');
    r.vq.kick();
    expect(r.sim.vqs[0].broken).toBe(true);
    expect(r.k.log.records.at(-1)!.text).toMatch(/vq 0: AddressFault/);
    expect(r.vq.usedIdx()).toBe(0);
  });
});

describe('vdpasim_blk over copy-based memory (how a client process\'s memory is reached)', () => {
  it('OUT then IN round-trip through the accessors; a transfer over many descriptors lands in order', () => {
    const r = blk(true);
    const data = Buffer.alloc(3 * 65536 + 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i >> 9) & 0xff;
    const segs = [];
    for (let o = 0; o < data.length; o += 4096) segs.push(r.vq.allocBuf(data.subarray(o, o + 4096)));
    const status = r.vq.allocBuf(1);
    r.vq.addBuf([r.vq.allocBuf(outhdr(T_OUT, 120)), ...segs], [status], 'big');
    r.vq.kick();
    expect(r.vq.getBuf()).toEqual({ token: 'big', len: 1 });
    expect(r.disk.read(120 * 512, data.length)).toEqual(data);
    const rd = req(r.vq, T_IN, 120, { inLen: 8192 });
    r.vq.kick();
    expect(statusOf(r, rd)).toBe(S_OK);
    expect(r.mem.read(r.mem.regions[0].base + rd.data!.addr, 8192)).toEqual(data.subarray(0, 8192));
  });
});
