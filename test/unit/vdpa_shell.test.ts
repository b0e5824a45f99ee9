/*
 * The shell's way in (vdpa_shell.ts): a process whose first operation on an
 * open /dev/vhost-vdpa-N is a read or a write becomes the device's vhost
 * user through the built-in driver; one whose first operation is a vhost
 * ioctl gets the device as Linux has it. Driven here through the kernfs
 * node, as the FUSE transport drives it.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Kernel } from '../../src/kernel/kernel';
import type { KernFile, OpenFile } from '../../src/fs/kernfs';
import {
  SHELL_NET_FRAME_MAX,
  SHELL_NET_RX_POOL,
  SHELL_VA_BASE,
  VhostVdpaPersonalityFile,
  VhostVdpaShellBlk,
  VhostVdpaShellNet,
  vhostVdpaShellInstall,
} from '../../src/drivers/vhost/vdpa_shell';
import { vhostMsgBuild, VHOST_IOTLB_UPDATE } from '../../src/drivers/vhost/vhost_msg';
import { VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import * as uapi from '../../src/include/uapi/vhost';
import { vhostVdpaSetFileFactory } from '../../src/drivers/vhost/vdpa';
import { VdpasimBlkState } from '../../src/drivers/vdpa/vdpa_sim/vdpa_sim_blk_datapath';
import { ioctlAs, proc, rig, USER_BASE, vstats } from './vhost_testlib';
import { errnoOf } from './sysfs_io';

const RW = { read: true, write: true, nonblock: false };
const BCAST_FRAME = Buffer.from('ffffffffffff00112233445508004869', 'hex');

function node(k: Kernel, name: string): KernFile {
  return k.fs.lookup(`/dev/${name}`) as KernFile;
}

function shellRig(type: 'net' | 'blk') {
  const r = rig(type);
  vhostVdpaShellInstall(r.k);
  const name = type === 'net' ? 'vhost-vdpa-0' : 'vhost-vdpa-1';
  const open = (): OpenFile => node(r.k, name).open(RW);
  /* Open, and make the first operation a read (of nothing): the shell's driver comes up. */
  const openShell = (): VhostVdpaPersonalityFile => {
    const f = open() as VhostVdpaPersonalityFile;
    f.read(Buffer.alloc(0), 0);
    return f;
  };
  return { ...r, name, open, openShell };
}

describe('shell: the QEMU-style bring-up', () => {
  it('a first read leaves the device DRIVER_OK with features negotiated, the driver\'s memory mapped and every vq ready', () => {
    const r = shellRig('net');
    const f = r.openShell().shell as VhostVdpaShellNet;
    expect(f).toBeInstanceOf(VhostVdpaShellNet);
    expect(r.sim.getStatus()).toBe(0xf);
    expect(r.sim.getDriverFeatures()).toBe(0x308830028n & ~(1n << 27n));
    expect(r.sim.mm).toBe(f.mem);
    expect(r.sim.iotlbs[0].maps().map((m) => [m.start, m.addr])).toEqual([[0n, BigInt(SHELL_VA_BASE)]]);
    expect(r.sim.vqs.map((q) => q.ready)).toEqual([true, true, true]);
    expect(r.sim.vqs[0].num).toBe(256);
    f.release();
    expect(r.sim.getStatus()).toBe(0);
    expect(r.sim.mm).toBeNull();
  });

  it('a second open fails EBUSY; after close it opens again', () => {
    const r = shellRig('net');
    const f = r.open();
    expect(errnoOf(() => r.open())).toBe('EBUSY');
    f.release();
    r.open().release();
  });

  it('without the shell installed (or with it removed) the node is the raw API', () => {
    const r = shellRig('net');
    vhostVdpaSetFileFactory(r.k, null);
    const f = r.open();
    expect(errnoOf(() => f.read(Buffer.alloc(10), 0))).toBe('EINVAL');
    f.release();
  });
});

describe('the first operation decides: the shell\'s driver or the device as Linux has it', () => {
  it('the open claims the device (reset, EBUSY for a second opener) before any operation; a close before any releases it', () => {
    const r = shellRig('net');
    r.sim.setStatus(0xf);
    const f = r.open() as VhostVdpaPersonalityFile;
    expect(r.sim.getStatus()).toBe(0);
    expect(f.personality).toBeNull();
    expect(errnoOf(() => r.open())).toBe('EBUSY');
    f.release();
    r.open().release();
  });

  it('a vhost ioctl first: Linux\'s semantics from then on -- write() carries IOTLB messages, read() is EINVAL', () => {
    const r = shellRig('net');
    const p = proc(r);
    const f = r.open() as VhostVdpaPersonalityFile;
    const features = Buffer.alloc(8);
    expect(ioctlAs(p, f, uapi.VHOST_GET_FEATURES, features)).toBe(0);
    expect(features.readBigUInt64LE(0)).toBe(0x308830028n);
    expect(f.personality).toBe('vhost');
    expect(ioctlAs(p, f, uapi.VHOST_SET_OWNER)).toBe(0);
    const upd = vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0n, size: 0x1000n, uaddr: BigInt(USER_BASE), perm: VHOST_MAP_RW } });
    expect(f.write(upd, 0, p.cred)).toBe(72);
    expect(errnoOf(() => f.read(Buffer.alloc(72), 0))).toBe('EINVAL');
    expect(r.sim.mm).toBe(p.mm);
    f.release();
    expect(r.sim.mm).toBeNull();
  });

  it('a write first: the shell\'s driver from then on -- an ioctl is ENOTTY', () => {
    const r = shellRig('net');
    const p = proc(r);
    const f = r.open() as VhostVdpaPersonalityFile;
    expect(f.write(BCAST_FRAME, 0)).toBe(BCAST_FRAME.length);
    expect(f.personality).toBe('shell');
    expect(errnoOf(() => ioctlAs(p, f, uapi.VHOST_GET_FEATURES, Buffer.alloc(8)))).toBe('ENOTTY');
    expect(f.read(Buffer.alloc(64), 0)).toBe(BCAST_FRAME.length);
  });

  it('an ioctl of another type first (isatty\'s TCGETS) is ENOTTY and decides nothing', () => {
    const r = shellRig('net');
    const p = proc(r);
    const f = r.open() as VhostVdpaPersonalityFile;
    const TCGETS = 0x5401;
    expect(errnoOf(() => ioctlAs(p, f, TCGETS, Buffer.alloc(60)))).toBe('ENOTTY');
    expect(f.personality).toBeNull();
    expect(f.write(BCAST_FRAME, 0)).toBe(BCAST_FRAME.length);
    expect(f.personality).toBe('shell');
  });

  it('a driver that cannot come up fails that write and every later operation, until close', () => {
    const r = shellRig('net');
    /* A device that will not set FEATURES_OK. */
    const real = r.sim.setStatus.bind(r.sim);
    r.sim.setStatus = (st: number) => real(st & ~0x8);
    const f = r.open();
    expect(errnoOf(() => f.write(BCAST_FRAME, 0))).toBe('EIO');
    expect(errnoOf(() => f.read(Buffer.alloc(64), 0))).toBe('EIO');
    f.release();
    expect(r.sim.getStatus()).toBe(0);
  });
});

describe('shell: net', () => {
  it('write() sends one frame; it has been looped back when write returns; read() returns it without the header', () => {
    const r = shellRig('net');
    const f = r.open();
    expect(f.write(BCAST_FRAME, 0)).toBe(BCAST_FRAME.length);
    const dst = Buffer.alloc(2048);
    const n = f.read(dst, 0) as number;
    expect(dst.subarray(0, n)).toEqual(BCAST_FRAME);
    expect(f.read(dst, 0)).toBe(0);
    expect(vstats(r.k, 'vdpa0', 0)['rx bytes']).toBe(12 + BCAST_FRAME.length);
  });

  it('a frame the filter drops does not come back, and is counted in vstats', () => {
    const r = shellRig('net');
    const f = r.open();
    const uni = Buffer.from(BCAST_FRAME);
    uni.write('0200000000aa', 0, 'hex');
    expect(f.write(uni, 0)).toBe(uni.length);
    expect(f.read(Buffer.alloc(100), 0)).toBe(0);
    expect(vstats(r.k, 'vdpa0', 0)['rx drops']).toBe(1);
  });

  it('frames wait in the posted rx buffers until read, in order; past the pool they overrun', () => {
    const r = shellRig('net');
    const f = r.openShell().shell as VhostVdpaShellNet;
    for (let i = 0; i < SHELL_NET_RX_POOL + 3; i++) f.write(Buffer.concat([BCAST_FRAME, Buffer.from([i])]), 0);
    expect(f.pending).toBe(SHELL_NET_RX_POOL);
    expect(vstats(r.k, 'vdpa0', 0)['rx overruns']).toBe(3);
    const dst = Buffer.alloc(64);
    for (let i = 0; i < SHELL_NET_RX_POOL; i++) {
      const n = f.read(dst, 0);
      expect(dst[n - 1]).toBe(i);
    }
    expect(f.read(dst, 0)).toBe(0);
    /* Reading reposted the buffers: frames flow again. */
    f.write(BCAST_FRAME, 0);
    expect(f.read(dst, 0)).toBe(BCAST_FRAME.length);
  });

  it('a read buffer shorter than the frame truncates it; a frame over 4084 bytes is EINVAL; an empty write sends nothing', () => {
    const r = shellRig('net');
    const f = r.open();
    f.write(BCAST_FRAME, 0);
    const small = Buffer.alloc(6);
    expect(f.read(small, 0)).toBe(6);
    expect(small).toEqual(Buffer.alloc(6, 0xff));
    expect(f.read(small, 0)).toBe(0);
    expect(errnoOf(() => f.write(Buffer.alloc(SHELL_NET_FRAME_MAX + 1, 0xff), 0))).toBe('EINVAL');
    expect(f.write(Buffer.alloc(SHELL_NET_FRAME_MAX, 0xff), 0)).toBe(SHELL_NET_FRAME_MAX);
    expect(f.read(Buffer.alloc(8192), 0)).toBe(SHELL_NET_FRAME_MAX);
    expect(f.write(Buffer.alloc(0), 0)).toBe(0);
    expect(vstats(r.k, 'vdpa0', 1)['tx packets']).toBe(2);
  });

  it('the control queue: setMac() changes the filter\'s MAC', () => {
    const r = shellRig('net');
    const f = r.openShell().shell as VhostVdpaShellNet;
    expect(f.setMac(Buffer.from([2, 0, 0, 0, 0, 0x77]))).toBe(0);
    const to = Buffer.from(BCAST_FRAME);
    to.write('020000000077', 0, 'hex');
    f.write(to, 0);
    expect(f.read(Buffer.alloc(100), 0)).toBe(to.length);
  });

  it('once the device needs a reset, write() fails EIO', () => {
    const r = shellRig('net');
    const f = r.openShell();
    r.sim.vqError(1, 'test');
    expect(errnoOf(() => f.write(BCAST_FRAME, 0))).toBe('EIO');
  });

  it('st_size of a net node is 0', () => {
    const r = shellRig('net');
    expect(node(r.k, r.name).size()).toBe(0);
  });
});

describe('shell: blk', () => {
  it('st_size is the capacity: 128 MiB', () => {
    const r = shellRig('blk');
    expect(node(r.k, r.name).size()).toBe(128 * 1024 * 1024);
  });

  it('aligned writes and reads round-trip through IN/OUT requests', () => {
    const r = shellRig('blk');
    const f = r.open();
    const data = randomBytes(1 << 20);
    expect(f.write(data, 4096)).toBe(data.length);
    const back = Buffer.alloc(data.length);
    expect(f.read(back, 4096)).toBe(data.length);
    expect(back).toEqual(data);
    expect((r.sim.priv as VdpasimBlkState).read(4096, data.length)).toEqual(data);
  });

  it('requests are at most size_max * seg_max (128 KiB), in segments of at most size_max', () => {
    const r = shellRig('blk');
    const f = r.openShell().shell as VhostVdpaShellBlk;
    expect([f.sizeMax, f.segMax, f.maxRequest]).toEqual([4096, 32, 128 * 1024]);
    const before = f.kicks[0].pending;
    f.write(Buffer.alloc(1 << 20, 1), 0);
    expect(f.kicks[0].pending - before).toBe(8);
    const vq = f.vqs[0];
    /* The last request: header + 32 segments of 4 KiB + status. */
    const head = vq.usedElem((vq.usedIdx() - 1) & 255).id;
    let n = 0;
    for (let i = head, d = vq.readDesc(i); ; d = vq.readDesc((i = d.next))) {
      if (n > 0 && n < 33) expect(d.len).toBe(4096);
      n++;
      if (!(d.flags & 1)) break;
    }
    expect(n).toBe(34);
  });

  it('unaligned offsets and lengths read-modify-write the partial sectors and leave their neighbours intact', () => {
    const r = shellRig('blk');
    const f = r.open();
    const disk = r.sim.priv as VdpasimBlkState;
    disk.write(0, Buffer.alloc(4096, 0xee));
    f.write(Buffer.from('hello, world'), 509);
    const expected = Buffer.alloc(4096, 0xee);
    expected.write('hello, world', 509);
    expect(disk.read(0, 4096)).toEqual(expected);
    const got = Buffer.alloc(20);
    expect(f.read(got, 505)).toBe(20);
    expect(got).toEqual(expected.subarray(505, 525));
    /* A large unaligned write spanning several requests. */
    const data = randomBytes(300_001);
    f.write(data, 777);
    const back = Buffer.alloc(data.length);
    f.read(back, 777);
    expect(back).toEqual(data);
    expect(disk.read(0, 777)).toEqual(expected.subarray(0, 777));
  });

  it('reads stop at the end (short, then 0); a write at the end is ENOSPC, one crossing it is short', () => {
    const r = shellRig('blk');
    const f = r.open();
    const cap = 128 * 1024 * 1024;
    expect(f.read(Buffer.alloc(4096), cap - 1000)).toBe(1000);
    expect(f.read(Buffer.alloc(4096), cap)).toBe(0);
    expect(errnoOf(() => f.write(Buffer.alloc(10), cap))).toBe('ENOSPC');
    expect(f.write(Buffer.alloc(4096, 3), cap - 100)).toBe(100);
  });

  it('once the device needs a reset, reads and writes fail EIO', () => {
    const r = shellRig('blk');
    const f = r.openShell();
    r.sim.vqError(0, 'test');
    expect(errnoOf(() => f.read(Buffer.alloc(512), 0))).toBe('EIO');
  });

  it('close resets the device; the data stays on the disk for the next opener', () => {
    const r = shellRig('blk');
    const f = r.open();
    f.write(Buffer.from('persistent'), 0);
    f.release();
    expect(r.sim.getStatus()).toBe(0);
    const g = r.open();
    const b = Buffer.alloc(10);
    g.read(b, 0);
    expect(b.toString()).toBe('persistent');
  });
});
