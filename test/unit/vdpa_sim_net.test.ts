/*
 * vdpasim_net (linux-vdpa.md §4): the loopback with its receive filter,
 * overruns, the control queue, vstats and config -- built the rust-vmm way:
 * chains published with the driver side, the device run by a kick, the raw
 * used ring asserted. Then the device-level negative cases: a malformed
 * ring or a memory fault sets NEEDS_RESET and stops that queue only.
 */
import { describe, expect, it } from 'vitest';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { GuestMemory, PassthroughAddressSpace } from '../../src/mm/guest_memory';
import { VirtqueueSplit } from '../../src/drivers/virtio/virtio_ring';
import { vhostMsgBuild, VHOST_IOTLB_BATCH_BEGIN, VHOST_IOTLB_BATCH_END, VHOST_IOTLB_INVALIDATE, VHOST_IOTLB_UPDATE } from '../../src/drivers/vhost/vhost_msg';
import { VHOST_MAP_RO, VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import { VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT } from '../../src/include/uapi/virtio_ring';
import type { VhostVdpaFile } from '../../src/drivers/vhost/vdpa_file';
import {
  BASE_FEATURES,
  netFrame,
  rawUsed,
  rig,
  STATUS_NEEDS_RESET,
  up,
  usedRing,
  userMemory,
  vstats,
  CopyOnlyMemory,
} from './vhost_testlib';
import { errnoOf } from './sysfs_io';

const RX = 0;
const TX = 1;
const BCAST = 'ff:ff:ff:ff:ff:ff';

/* opts.copy: the owner's memory reached by copying only, as a client process's is. */
function net(opts: { features?: bigint; attrs?: Array<[string, unknown]>; copy?: boolean } = {}) {
  const r = rig('net', opts.attrs);
  const mem = userMemory();
  const file = r.v.open();
  const copy = opts.copy ? new CopyOnlyMemory(mem) : null;
  const d = up(file, mem, { features: opts.features, ownerMm: copy ?? undefined });
  const [rx, tx, cvq] = d.vqs;
  return { ...r, ...d, rx, tx, cvq, copy };
}

/* Post n rx buffers of len bytes. */
function postRx(rx: VirtqueueSplit<string>, n: number, len = 2048): Array<{ addr: number; len: number }> {
  const bufs = [];
  for (let i = 0; i < n; i++) {
    const b = rx.allocBuf(len);
    rx.addBuf([], [b], `rx${i}`);
    bufs.push(b);
  }
  rx.kick();
  return bufs;
}

function send(tx: VirtqueueSplit<string>, frame: Buffer, token = 'tx'): void {
  tx.addBuf([tx.allocBuf(frame)], [], token);
  tx.kick();
}

/* Replace the owner's one RW map by pieces [iova, size, perm] (one batch). */
function remap(file: VhostVdpaFile, mem: GuestMemory, pieces: Array<[number, number, number]>): void {
  const base = mem.regions[0].base;
  file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_BATCH_BEGIN } }));
  file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_INVALIDATE, iova: 0n, size: BigInt(mem.regions[0].size) } }));
  for (const [iova, size, perm] of pieces)
    file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: BigInt(iova), size: BigInt(size), uaddr: BigInt(base + iova), perm } }));
  file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_BATCH_END } }));
}

function lastKmsg(k: ReturnType<typeof rig>['k']): string {
  return k.log.records[k.log.records.length - 1].text;
}

describe('vdpasim_net: the loopback', () => {
  it('a broadcast frame comes back on rx byte for byte, header included; tx completes with len 0', () => {
    const { rx, tx, mem } = net();
    const [buf] = postRx(rx, 1);
    const frame = netFrame(BCAST, 'ping');
    send(tx, frame);
    expect(rawUsed(tx, 1)).toEqual(usedRing(0, 1, [[0, 0]]));
    expect(rawUsed(rx, 1)).toEqual(usedRing(0, 1, [[0, frame.length]]));
    expect(rx.getBuf()).toEqual({ token: 'rx0', len: frame.length });
    expect(mem.read(buf.addr + mem.regions[0].base, frame.length)).toEqual(frame);
  });

  it('the receive filter accepts broadcast, multicast and the device\'s own MAC; drops other unicast and counts it', () => {
    const { k, rx, tx } = net({ attrs: [['VDPA_ATTR_DEV_NET_CFG_MACADDR', [0x52, 0x54, 0, 0x12, 0x34, 0x56]]] });
    postRx(rx, 8);
    send(tx, netFrame(BCAST));
    send(tx, netFrame('01:00:5e:00:00:fb'));
    send(tx, netFrame('52:54:00:12:34:56'));
    send(tx, netFrame('52:54:00:12:34:57'));
    send(tx, netFrame('33:33:00:00:00:01'));
    const got: string[] = [];
    for (let u = rx.getBuf(); u; u = rx.getBuf()) got.push(u.token);
    expect(got).toEqual(['rx0', 'rx1', 'rx2', 'rx3']);
    /* The dropped frame was completed too, with len 0. */
    expect(rawUsed(tx, 5).readUInt16LE(2)).toBe(5);
    expect(rawUsed(tx, 5).readUInt32LE(4 + 8 * 3 + 4)).toBe(0);
    expect(vstats(k, 'vdpa0', 0)).toEqual({ 'rx packets': 4, 'rx bytes': 4 * 31, 'rx errors': 0, 'rx overruns': 0, 'rx drops': 1 });
    expect(vstats(k, 'vdpa0', 1)).toEqual({ 'tx packets': 5, 'tx bytes': 5 * 31, 'tx errors': 0, 'tx drops': 0 });
  });

  it('a frame shorter than the header plus 6 bytes is dropped', () => {
    const { k, rx, tx } = net();
    postRx(rx, 1);
    send(tx, Buffer.concat([Buffer.alloc(12), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])]));
    expect(rx.getBuf()).toBeNull();
    expect(vstats(k, 'vdpa0', 0)['rx drops']).toBe(1);
  });

  it('without VERSION_1 the destination follows a 10-byte header', () => {
    const { rx, tx } = net({ features: 1n << 33n });
    postRx(rx, 2);
    /* With a 10-byte header the 12-byte one puts two zero bytes first: unicast 00:00:ff:ff:ff:ff, dropped. */
    send(tx, netFrame(BCAST));
    expect(rx.getBuf()).toBeNull();
    send(tx, Buffer.concat([Buffer.alloc(10), Buffer.from('ffffffffffff0011223344550800', 'hex')]));
    expect(rx.getBuf()?.len).toBe(24);
  });

  it('no rx buffer: an overrun, the tx completes with len 0, and the run stops there', () => {
    const { k, rx, tx } = net();
    tx.addBuf([tx.allocBuf(netFrame(BCAST, 'a'))], [], 'a');
    tx.addBuf([tx.allocBuf(netFrame(BCAST, 'b'))], [], 'b');
    tx.kick();
    expect(rawUsed(tx, 2)).toEqual(usedRing(0, 1, [[0, 0], [0, 0]]));
    expect(vstats(k, 'vdpa0', 0)['rx overruns']).toBe(1);
    /* The second frame is still available; an rx buffer and a kick deliver it. */
    postRx(rx, 1);
    tx.kick();
    expect(rx.getBuf()?.len).toBe(12 + 15);
  });

  it('at most 4096 bytes (header included) are looped back; a short rx buffer truncates', () => {
    const { k, rx, tx } = net();
    postRx(rx, 1, 8192);
    send(tx, netFrame(BCAST, 'x'.repeat(5000)));
    expect(rx.getBuf()?.len).toBe(4096);
    expect(vstats(k, 'vdpa0', 1)['tx bytes']).toBe(4096);
    postRx(rx, 1, 100);
    send(tx, netFrame(BCAST, 'y'.repeat(500)));
    expect(rx.getBuf()?.len).toBe(100);
  });

  it('a frame spread over several descriptors is gathered, and scattered into several rx descriptors', () => {
    const { rx, tx, mem } = net();
    const frame = netFrame(BCAST, 'scatter-gather');
    const r1 = rx.allocBuf(20);
    const r2 = rx.allocBuf(100);
    rx.addBuf([], [r1, r2], 'rx');
    tx.addBuf([tx.allocBuf(frame.subarray(0, 5)), tx.allocBuf(frame.subarray(5, 15)), tx.allocBuf(frame.subarray(15))], [], 'tx');
    tx.kick();
    expect(rx.getBuf()).toEqual({ token: 'rx', len: frame.length });
    const base = mem.regions[0].base;
    expect(Buffer.concat([mem.read(base + r1.addr, 20), mem.read(base + r2.addr, frame.length - 20)])).toEqual(frame);
  });

  it('one kick loops back every pending frame (the work reschedules itself after 5)', () => {
    const { k, rx, tx } = net();
    postRx(rx, 20);
    for (let i = 0; i < 12; i++) tx.addBuf([tx.allocBuf(netFrame(BCAST, `f${i}`))], [], `t${i}`);
    tx.kick();
    expect(vstats(k, 'vdpa0', 0)['rx packets']).toBe(12);
    expect(tx.usedIdx()).toBe(12);
  });

  it('every used element raises the vq\'s call eventfd (no EVENT_IDX, no NO_INTERRUPT)', () => {
    const { rx, tx, calls } = net();
    postRx(rx, 2);
    send(tx, netFrame(BCAST));
    send(tx, netFrame(BCAST));
    expect([calls[RX].read(), calls[TX].read()]).toEqual([2, 2]);
  });
});

describe('vdpasim_net: the control queue', () => {
  function ctrl(cvq: VirtqueueSplit<string>, cls: number, cmd: number, data: Buffer, token = 'c'): { ack: { addr: number } } {
    const ack = cvq.allocBuf(1);
    cvq.addBuf([cvq.allocBuf(Buffer.from([cls, cmd])), cvq.allocBuf(data)], [ack], token);
    cvq.kick();
    return { ack };
  }

  it('MAC_ADDR_SET writes config.mac and is acked OK; frames to the new MAC pass the filter', () => {
    const { k, cvq, rx, tx, file, mem } = net();
    const { ack } = ctrl(cvq, 1, 1, Buffer.from([0x02, 0, 0, 0, 0, 0x42]));
    expect(rawUsed(cvq, 1)).toEqual(usedRing(0, 1, [[0, 1]]));
    expect(mem.readU8(mem.regions[0].base + ack.addr)).toBe(0);
    expect([...file.getConfig(0, 6)]).toEqual([2, 0, 0, 0, 0, 0x42]);
    postRx(rx, 1);
    send(tx, netFrame('02:00:00:00:00:42'));
    expect(rx.getBuf()).not.toBeNull();
    expect(vstats(k, 'vdpa0', 2)).toEqual({ 'cvq requests': 1, 'cvq successes': 1, 'cvq errors': 0 });
  });

  it('any other class or command is acked VIRTIO_NET_ERR; a short MAC is an error', () => {
    const { k, cvq, mem } = net();
    const a = ctrl(cvq, 0 /* RX */, 0, Buffer.from([1]), 'rx-mode');
    const b = ctrl(cvq, 1, 0 /* MAC_TABLE_SET */, Buffer.alloc(8), 'table');
    const c = ctrl(cvq, 1, 1, Buffer.from([2, 0, 0]), 'short');
    const base = mem.regions[0].base;
    expect([a, b, c].map((x) => mem.readU8(base + x.ack.addr))).toEqual([1, 1, 1]);
    expect(vstats(k, 'vdpa0', 2)).toEqual({ 'cvq requests': 3, 'cvq successes': 0, 'cvq errors': 3 });
  });

  it('a request shorter than its header is counted and, as in the kernel, never completed', () => {
    const { k, cvq } = net();
    cvq.addBuf([cvq.allocBuf(Buffer.from([1]))], [cvq.allocBuf(1)], 'short');
    cvq.kick();
    expect(cvq.usedIdx()).toBe(0);
    expect(vstats(k, 'vdpa0', 2)).toEqual({ 'cvq requests': 1, 'cvq successes': 0, 'cvq errors': 1 });
  });

  it('without CTRL_VQ negotiated the control queue is not served', () => {
    const { cvq } = net({ features: BASE_FEATURES });
    ctrl(cvq, 1, 1, Buffer.from([2, 0, 0, 0, 0, 1]));
    expect(cvq.usedIdx()).toBe(0);
  });
});

describe('vdpasim_net: vstats and config through netlink', () => {
  it('vstats needs FEATURES_OK (EAGAIN); qidx > 2 is EINVAL; names per queue as the sim sends them', () => {
    const r = rig('net');
    expect(errnoOf(() => vstats(r.k, 'vdpa0', 0))).toBe('EAGAIN');
    const mem = userMemory();
    const file = r.v.open();
    up(file, mem);
    expect(errnoOf(() => vstats(r.k, 'vdpa0', 3))).toBe('EINVAL');
    expect(Object.keys(vstats(r.k, 'vdpa0', 2))).toEqual(['cvq requests', 'cvq successes', 'cvq errors']);
  });

  it('config: mac as added, status LINK_UP, mtu 1500 by default; negotiated features once FEATURES_OK', () => {
    const r = rig('net', [
      ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [0, 0x11, 0x22, 0x33, 0x44, 0x55]],
      ['VDPA_ATTR_DEV_NET_CFG_MTU', 9000],
    ]);
    const get = () => (vdpaGenl(r.k, VdpaCmd.DEV_CONFIG_GET, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]) as { msgs: Array<Array<[string, unknown]>> }).msgs[0];
    const before = Object.fromEntries(get());
    expect(before.VDPA_ATTR_DEV_NET_CFG_MACADDR).toEqual([0, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(before.VDPA_ATTR_DEV_NET_CFG_MTU).toBe(9000);
    expect(before.VDPA_ATTR_DEV_NET_STATUS).toBe(1);
    expect(before.VDPA_ATTR_DEV_NEGOTIATED_FEATURES).toBeUndefined();
    const mem = userMemory();
    const file = r.v.open();
    up(file, mem);
    expect(BigInt(Object.fromEntries(get()).VDPA_ATTR_DEV_NEGOTIATED_FEATURES as string)).toBe(0x308830028n);
    vdpaGenl(r.k, VdpaCmd.DEV_ATTR_SET, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [2, 1, 1, 1, 1, 1]],
    ]);
    expect([...file.getConfig(0, 6)]).toEqual([2, 1, 1, 1, 1, 1]);
  });
});

describe('vdpasim_net: a malformed ring stops its queue and sets NEEDS_RESET; the rest keeps working', () => {
  function expectStopped(r: ReturnType<typeof net>, vq: number, why: RegExp): void {
    expect(r.file.getStatus() & STATUS_NEEDS_RESET).toBe(STATUS_NEEDS_RESET);
    expect(r.sim.vqs[vq].broken).toBe(true);
    expect(lastKmsg(r.k)).toMatch(new RegExp(`vdpa_sim vdpa0: vq ${vq}: .*${why.source}.*device needs reset`));
  }

  /* The control queue still answers after tx or rx stopped. */
  function expectCvqServed(r: ReturnType<typeof net>): void {
    const ack = r.cvq.allocBuf(1);
    r.cvq.addBuf([r.cvq.allocBuf(Buffer.from([1, 1])), r.cvq.allocBuf(Buffer.from([2, 0, 0, 0, 0, 9]))], [ack], 'mac');
    r.cvq.kick();
    expect(r.cvq.getBuf()).toEqual({ token: 'mac', len: 1 });
  }

  it('a descriptor loop on tx: ChainTooLong, tx stops, rx buffers stay posted, the cvq answers', () => {
    const r = net();
    postRx(r.rx, 2);
    const b = r.tx.allocBuf(netFrame(BCAST));
    r.tx.writeDesc(0, { addr: b.addr, len: b.len, flags: VRING_DESC_F_NEXT, next: 1 });
    r.tx.writeDesc(1, { addr: b.addr, len: b.len, flags: VRING_DESC_F_NEXT, next: 0 });
    r.tx.publishAvail(0);
    r.tx.kick();
    expectStopped(r, TX, /ChainTooLong/);
    expect(r.tx.usedIdx()).toBe(0);
    expect(r.rx.usedIdx()).toBe(0);
    expect(vstats(r.k, 'vdpa0', 1)['tx errors']).toBe(1);
    expectCvqServed(r);
    /* Kicking the stopped queue again does nothing (and logs nothing more). */
    const n = r.k.log.records.length;
    r.tx.kick();
    expect(r.k.log.records.length).toBe(n);
  });

  it('a next index beyond the ring (8 in an 8-entry ring): DescriptorIndexOutOfBounds', () => {
    const r = rig('net');
    const mem = userMemory();
    const file = r.v.open();
    const d = up(file, mem, { num: 8 });
    const tx = d.vqs[TX];
    const b = tx.allocBuf(netFrame(BCAST));
    tx.writeDesc(0, { addr: b.addr, len: b.len, flags: VRING_DESC_F_NEXT, next: 8 });
    tx.publishAvail(0);
    tx.kick();
    expect(r.sim.vqs[TX].broken).toBe(true);
    expect(lastKmsg(r.k)).toMatch(/vq 1: DescriptorIndexOutOfBounds/);
  });

  it('a head index out of range, or avail idx running more than num ahead: tx stops', () => {
    const r = net();
    r.tx.publishAvail(300);
    r.tx.kick();
    expectStopped(r, TX, /DescriptorIndexOutOfBounds/);
    const r2 = net();
    r2.tx.setAvailIdx(1000);
    r2.tx.kick();
    expectStopped(r2, TX, /InvalidAvailIdx/);
  });

  it('a misaligned ring (desc % 16 != 0; vhost does not check it, the device does): MisalignedRing on the first kick', () => {
    const r = rig('net');
    const mem = userMemory();
    const file = r.v.open();
    const d = up(file, mem, { noDriverOk: true });
    const ring = d.vqs[TX].ringDma;
    file.setVringEnable(TX, false);
    file.setVringAddr(TX, { ...ring, desc: ring.desc + 8 });
    file.setVringEnable(TX, true);
    file.setStatus(file.getStatus() | 4);
    d.vqs[TX].addBuf([d.vqs[TX].allocBuf(netFrame(BCAST))], [], 't');
    d.vqs[TX].kick();
    expect(r.sim.vqs[TX].broken).toBe(true);
    expect(lastKmsg(r.k)).toMatch(/vq 1: MisalignedRing/);
  });

  it('a bad indirect table (len not a multiple of 16): InvalidIndirect', () => {
    const r = net();
    const table = r.tx.allocBuf(48, 16);
    const b = r.tx.allocBuf(netFrame(BCAST));
    r.tx.writeDescTable(r.mem.regions[0].base + table.addr, [{ addr: b.addr, len: b.len, flags: 0, next: 0 }]);
    r.tx.writeDesc(0, { addr: table.addr, len: 20, flags: VRING_DESC_F_INDIRECT, next: 0 });
    r.tx.publishAvail(0);
    r.tx.kick();
    expectStopped(r, TX, /InvalidIndirect/);
  });

  it('a good indirect table is followed', () => {
    const r = net();
    postRx(r.rx, 1);
    const frame = netFrame(BCAST, 'indirect');
    const table = r.tx.allocBuf(32, 16);
    const a = r.tx.allocBuf(frame.subarray(0, 10));
    const b = r.tx.allocBuf(frame.subarray(10));
    r.tx.writeDescTable(r.mem.regions[0].base + table.addr, [
      { addr: a.addr, len: a.len, flags: VRING_DESC_F_NEXT, next: 1 },
      { addr: b.addr, len: b.len, flags: 0, next: 0 },
    ]);
    r.tx.writeDesc(0, { addr: table.addr, len: 32, flags: VRING_DESC_F_INDIRECT, next: 0 });
    r.tx.publishAvail(0);
    r.tx.kick();
    expect(r.rx.getBuf()?.len).toBe(frame.length);
  });

  it('an IOTLB miss on a tx buffer: tx stops, the rx buffer it had taken is given back', () => {
    const r = net();
    postRx(r.rx, 1);
    const frame = netFrame(BCAST);
    /* The first descriptor is mapped (the filter reads it); the rest of the frame is at an unmapped iova. */
    const head = r.tx.allocBuf(frame.subarray(0, 20));
    r.tx.addBuf([head, { addr: 0x4000_0000, len: frame.length - 20 }], [], 'miss');
    r.tx.kick();
    expectStopped(r, TX, /AddressFault/);
    expect(r.rx.usedIdx()).toBe(0);
    expect(r.sim.vqs[RX].lastAvailIdx).toBe(0);
    expect(r.sim.vqs[RX].broken).toBe(false);
  });

  it('a permission fault on an rx buffer (mapped read-only): rx stops, the tx completes and counts an rx error', () => {
    const r = net();
    const size = r.mem.regions[0].size;
    const rxBuf = r.rx.allocBuf(4096, 4096);
    remap(r.file, r.mem, [
      [0, rxBuf.addr, VHOST_MAP_RW],
      [rxBuf.addr, 4096, VHOST_MAP_RO],
      [rxBuf.addr + 4096, size - rxBuf.addr - 4096, VHOST_MAP_RW],
    ]);
    r.rx.addBuf([], [rxBuf], 'ro');
    r.rx.kick();
    send(r.tx, netFrame(BCAST));
    expectStopped(r, RX, /PermissionFault/);
    expect(r.tx.getBuf()).toEqual({ token: 'tx', len: 0 });
    expect(vstats(r.k, 'vdpa0', 0)['rx errors']).toBe(1);
    expectCvqServed(r);
  });

  it('a device-writable descriptor in a tx chain, or a device-readable one in an rx chain: InvalidChain', () => {
    const r = net();
    r.tx.addBuf([r.tx.allocBuf(netFrame(BCAST))], [r.tx.allocBuf(8)], 'bad');
    r.tx.kick();
    expectStopped(r, TX, /InvalidChain/);
    const r2 = net();
    r2.rx.addBuf([r2.rx.allocBuf(8)], [r2.rx.allocBuf(64)], 'bad');
    send(r2.tx, netFrame(BCAST));
    expectStopped(r2, RX, /InvalidChain/);
  });

  it('the kernel keeps working: another device loops back, and a reset (status 0) brings the queue back', () => {
    const r = net();
    r.tx.publishAvail(999);
    r.tx.kick();
    expect(r.sim.vqs[TX].broken).toBe(true);
    /* A second vdpasim_net device is unaffected. */
    vdpaGenl(r.k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa1'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
    ]);
    expect(r.k.fs.lookup('/dev/vhost-vdpa-1')).toBeDefined();
    /* The driver resets and starts over, unmapping first as QEMU's memory listener does. */
    r.file.setStatus(0);
    r.file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_INVALIDATE, iova: 0n, size: BigInt(r.mem.regions[0].size) } }));
    const d = up(r.file, r.mem);
    expect(r.file.getStatus() & STATUS_NEEDS_RESET).toBe(0);
    postRx(d.vqs[RX], 1);
    send(d.vqs[TX], netFrame(BCAST));
    expect(d.vqs[RX].getBuf()).not.toBeNull();
  });
});

describe('vdpasim_net bound the virtio_vdpa way (passthrough to kernel memory)', () => {
  it('rings set up through the vdpa ops on memory given with bindPassthrough loop a frame back', () => {
    const { sim } = rig('net');
    const kmem = new GuestMemory(1 << 20);
    sim.bindPassthrough(kmem);
    sim.reset();
    sim.setStatus(1 | 2);
    sim.setDriverFeatures(BASE_FEATURES);
    sim.setStatus(1 | 2 | 8);
    const qs = [0, 1].map((i) => {
      const vq = new VirtqueueSplit<string>({ mem: kmem, num: 16, notify: () => sim.kickVq(i) });
      sim.setVqNum(i, 16);
      sim.setVqAddress(i, BigInt(vq.descAddr), BigInt(vq.availAddr), BigInt(vq.usedAddr));
      sim.setVqReady(i, true);
      return vq;
    });
    sim.setStatus(1 | 2 | 8 | 4);
    const [rx, tx] = qs;
    rx.addBuf([], [rx.allocBuf(128)], 'rx');
    tx.addBuf([tx.allocBuf(netFrame(BCAST, 'kernel'))], [], 'tx');
    tx.kick();
    expect(rx.getBuf()).toEqual({ token: 'rx', len: 12 + 14 + 6 });
    expect(sim.vqAddressSpace(0)).toBeInstanceOf(PassthroughAddressSpace);
  });
});

describe('vdpasim_net over copy-based memory (how a client process\'s memory is reached)', () => {
  it('a frame spread over descriptors loops back byte for byte through the accessors alone', () => {
    const { rx, tx, mem, copy } = net({ copy: true });
    const frame = netFrame(BCAST, 'copied, not mapped');
    const r1 = rx.allocBuf(20);
    const r2 = rx.allocBuf(100);
    rx.addBuf([], [r1, r2], 'rx');
    rx.kick();
    tx.addBuf([tx.allocBuf(frame.subarray(0, 5)), tx.allocBuf(frame.subarray(5, 15)), tx.allocBuf(frame.subarray(15))], [], 'tx');
    tx.kick();
    expect(rx.getBuf()).toEqual({ token: 'rx', len: frame.length });
    const base = mem.regions[0].base;
    expect(Buffer.concat([mem.read(base + r1.addr, 20), mem.read(base + r2.addr, frame.length - 20)])).toEqual(frame);
    expect(copy!.log.length).toBeGreaterThan(0);
  });

  it('each used element is written before the used index that publishes it, and only the bytes the ring needs are read', () => {
    const { rx, tx, copy } = net({ copy: true });
    postRx(rx, 1);
    const from = copy!.log.length;
    send(tx, netFrame(BCAST));
    const log = copy!.log.slice(from);
    for (const q of [tx, rx]) {
      /* usedAddr is the driver's (user) address, which the IOTLB maps the ring's iova to. */
      const elem = log.findIndex((a) => a.op === 'w' && a.addr === q.usedAddr + 4 && a.len === 8);
      const idx = log.findIndex((a) => a.op === 'w' && a.addr === q.usedAddr + 2 && a.len === 2);
      expect(elem).toBeGreaterThanOrEqual(0);
      expect(idx).toBeGreaterThan(elem);
    }
    /* Ring accesses are single fields, single descriptors, single used elements: never a whole ring. */
    const inRing = (addr: number): boolean =>
      [tx, rx].some((q) =>
        [
          [q.descAddr, 16 * q.num],
          [q.availAddr, 6 + 2 * q.num],
          [q.usedAddr, 6 + 8 * q.num],
        ].some(([start, size]) => addr >= start && addr < start + size),
      );
    const ringAccesses = log.filter((a) => inRing(a.addr));
    expect(ringAccesses.length).toBeGreaterThan(0);
    expect(Math.max(...ringAccesses.map((a) => a.len))).toBeLessThanOrEqual(16);
  });

  it('an IOTLB miss on a tx buffer is found by the read itself, and stops tx as in place', () => {
    const { k, tx, rx, file, mem } = net({ copy: true });
    postRx(rx, 1);
    remap(file, mem, [[0, 0x100000, VHOST_MAP_RW]]);
    tx.addBuf([{ addr: 0x200000, len: 64 }], [], 'tx');
    tx.kick();
    expect(lastKmsg(k)).toMatch(/vq 1: AddressFault/);
  });
});
