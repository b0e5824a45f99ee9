/*
 * The host side of /dev/vhost-vdpa-N (src/host/{user_mm,eventfd,tasks}.ts)
 * against a real client process: its memory through /proc/<tgid>/mem, its
 * eventfds through pidfd_getfd (from a non-main thread too), kicks seen from
 * the event loop without a thread per eventfd, calls waking the client's
 * poll(), and nothing left open in the daemon after teardown -- also when
 * the client dies. Needs root (ptrace access to the child) and gcc.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import type { Cred } from '../../src/kernel/cred';
import { vdpaFindDevice } from '../../src/drivers/vdpa/vdpa';
import type { Vdpasim } from '../../src/drivers/vdpa/vdpa_sim/vdpa_sim';
import type { VhostVdpa } from '../../src/drivers/vhost/vdpa';
import type { VhostVdpaFile } from '../../src/drivers/vhost/vdpa_file';
import { vhostMsgBuild, VHOST_IOTLB_UPDATE } from '../../src/drivers/vhost/vhost_msg';
import { VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import * as uapi from '../../src/include/uapi/vhost';
import type { IoctlResult } from '../../src/fs/kernfs';
import { MemoryFault } from '../../src/mm/guest_memory';
import { memoryBackedByAnyone, ProcMem } from '../../src/host/user_mm';
import { HostEventfd } from '../../src/host/eventfd';
import { HostTasks, installHostTasks, tgidOf } from '../../src/host/tasks';
import { buildClient, Client, openFds, removeClientBuild, threads, vhostFds } from './host_client';
import { errnoOf } from './sysfs_io';
import { netFrame } from './vhost_testlib';

let bin = '';
const clients: Client[] = [];

beforeAll(() => {
  bin = buildClient();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.kill()));
});
afterAll(() => removeClientBuild());

function client(): Client {
  const c = new Client(bin);
  clients.push(c);
  return c;
}

const cred = (pid: number): Cred => ({ uid: 0, gid: 0, pid });

/* Resolves when fn() holds, polling the event loop (kicks arrive through it). */
async function until(fn: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('/proc/<tgid>/mem: the client\'s memory', () => {
  it('reads and writes at the client\'s own addresses; an unmapped address is EFAULT (a MemoryFault), never a crash', async () => {
    const c = client();
    const addr = await c.map(12288);
    /* A hole right after the two pages. */
    expect(await c.cmd(`unmap ${(addr + 8192).toString(16)} 4096`)).toBe('ok');
    const mem = new ProcMem(c.pid);
    try {
      mem.write(addr + 4090, Buffer.from('hello, world'), 0, 12);
      const back = Buffer.alloc(12);
      new ProcMem(c.pid).readInto(addr + 4090, back, 0, 12);
      expect(back.toString()).toBe('hello, world');
      expect(errnoOf(() => mem.readInto(0, Buffer.alloc(8), 0, 8))).toBe('EFAULT');
      expect(() => mem.readInto(addr + 8190, Buffer.alloc(8), 0, 8)).toThrow(MemoryFault);
      expect(errnoOf(() => mem.write(addr + 8192, Buffer.alloc(1), 0, 1))).toBe('EFAULT');
    } finally {
      mem.mmput();
    }
  });

  it('pinnable: anonymous read-write pages are, a read-only map is for reading only, a NULL or unmapped range is not', async () => {
    const c = client();
    const ro = await c.map(4096, true);
    const rw = await c.map(20480);
    /* A hole after the four read-write pages (made last: a later mmap could fill it). */
    expect(await c.cmd(`unmap ${(rw + 16384).toString(16)} 4096`)).toBe('ok');
    const mem = new ProcMem(c.pid);
    try {
      expect(mem.pinnable(BigInt(rw), 16384n, true)).toBe(true);
      expect(mem.pinnable(BigInt(rw), 16385n, false)).toBe(false);
      expect(mem.pinnable(BigInt(ro), 4096n, false)).toBe(true);
      expect(mem.pinnable(BigInt(ro), 4096n, true)).toBe(false);
      expect(mem.pinnable(0n, 0xffffn, false)).toBe(false);
    } finally {
      mem.mmput();
    }
  });
});

describe('pidfd_getfd: the client\'s eventfds', () => {
  it('duplicates an eventfd named by a non-main thread; EBADF for no such fd, EINVAL for one that is not an eventfd', async () => {
    const c = client();
    const efd = await c.num('efd');
    const pipe = await c.num('pipe');
    const tid = await c.num('thread');
    expect(tid).not.toBe(c.pid);
    expect(tgidOf(tid)).toBe(c.pid);
    const before = openFds();
    const task = new HostTasks().current(cred(tid));
    expect(task.tgid).toBe(c.pid);
    const ctx = task.eventfdCtxFdget(efd) as HostEventfd;
    expect(openFds()).toBe(before + 1);
    expect(errnoOf(() => task.eventfdCtxFdget(999))).toBe('EBADF');
    expect(errnoOf(() => task.eventfdCtxFdget(pipe))).toBe('EINVAL');
    expect(openFds()).toBe(before + 1);
    ctx.put();
    expect(openFds()).toBe(before);
  });

  it('a kick the client writes wakes the poller from the event loop, with no thread per eventfd; an eventfd already signalled wakes it at once', async () => {
    const c = client();
    const tasks = new HostTasks();
    const fds: number[] = [];
    for (let i = 0; i < 16; i++) fds.push(await c.num('efd'));
    await c.cmd(`signal ${fds[15]}`);
    const threadsBefore = threads();
    const wakes = fds.map(() => 0);
    const ctxs = fds.map((fd, i) => {
      const ctx = tasks.current(cred(c.pid)).eventfdCtxFdget(fd);
      ctx.poll(() => wakes[i]++);
      return ctx;
    });
    await until(() => wakes[15] === 1, 'the pre-signalled eventfd');
    expect(await c.cmd(`signal ${fds[3]}`)).toBe('ok');
    await until(() => wakes[3] === 1, 'the kick');
    expect(wakes.reduce((a, b) => a + b)).toBe(2);
    expect(threads()).toBe(threadsBefore);
    for (const ctx of ctxs) ctx.put();
  });

  it('a call the daemon signals wakes the client\'s poll()', async () => {
    const c = client();
    const efd = await c.num('efd');
    const ctx = new HostTasks().current(cred(c.pid)).eventfdCtxFdget(efd);
    const answer = c.cmd(`wait ${efd} 5000`);
    await new Promise((r) => setTimeout(r, 20));
    ctx.signal();
    expect(await answer).toBe('1');
    ctx.put();
  });
});

/*
 * The whole path: a client process is the VMM. It owns the device by
 * ioctl (SET_OWNER from its main thread, everything else from a "vCPU"
 * thread), maps its memory with an IOTLB write, has its rings and buffers
 * in its own memory (laid out here through /proc/<pid>/mem, as its driver
 * would), kicks with its eventfd, and is woken on its call eventfd.
 */
describe('a client process driving vdpasim_net through ioctl(), write() and its eventfds', () => {
  const NUM = 8;
  const RING = { desc: 0, avail: 0x200, used: 0x400 };
  const RX_RING = 0x0000;
  const TX_RING = 0x1000;
  const RX_BUF = 0x2000;
  const TX_BUF = 0x3000;
  const ARG = 0x4000;
  const SIZE = 0x10000;

  interface Vmm {
    k: Kernel;
    sim: Vdpasim;
    v: VhostVdpa;
    file: VhostVdpaFile;
    c: Client;
    base: number;
    mem: ProcMem;
    vcpu: number;
    kick: number;
    call: number;
    io(cmd: number, arg?: Buffer, tid?: number): number;
  }

  /* What FUSE's restricted ioctl does: the argument sits in the client's memory; _IOC_SIZE bytes in, the answer back. */
  function fuseIoctl(file: VhostVdpaFile, mem: ProcMem, argp: number, tid: number, cmd: number, arg = Buffer.alloc(0)): number {
    cmd >>>= 0;
    mem.write(argp, arg, 0, arg.length);
    const size = (cmd >>> 16) & 0x3fff;
    const dir = cmd >>> 30;
    const inb = Buffer.alloc(dir & 1 ? size : 0);
    mem.readInto(argp, inb, 0, inb.length);
    const res: IoctlResult = file.ioctl({ cmd, arg: BigInt(argp), in: inb, outSize: dir & 2 ? size : 0, cred: cred(tid) });
    if (res.out) mem.write(argp, res.out, 0, res.out.length);
    mem.readInto(argp, arg, 0, arg.length);
    return res.result;
  }

  const state = (index: number, num: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(index, 0);
    b.writeInt32LE(num, 4);
    return b;
  };

  async function vmm(): Promise<Vmm> {
    const k = bootKernel();
    installHostTasks(k);
    const vdev = vdpaFindDevice(k, 'vdpa0')!;
    const v = vdev.drvdata as VhostVdpa;
    const c = client();
    const base = await c.map(SIZE);
    const vcpu = await c.num('thread');
    const kick = await c.num('efd');
    const call = await c.num('efd');
    const mem = new ProcMem(c.pid);
    const file = v.open();
    const io = (cmd: number, arg?: Buffer, tid = vcpu): number => fuseIoctl(file, mem, base + ARG, tid, cmd, arg);
    return { k, sim: vdev.config as Vdpasim, v, file, c, base, mem, vcpu, kick, call, io };
  }

  /* QEMU's order, trimmed to the two data queues: owner, features, status, IOTLB, rings, DRIVER_OK. */
  function bringUp(m: Vmm): void {
    const { io, base, c, file } = m;
    expect(io(uapi.VHOST_SET_OWNER, undefined, c.pid)).toBe(0);
    expect(m.sim.mm).toBeInstanceOf(ProcMem);
    io(uapi.VHOST_SET_BACKEND_FEATURES, Buffer.from([6, 0, 0, 0, 0, 0, 0, 0]));
    io(uapi.VHOST_VDPA_SET_STATUS, Buffer.from([3]));
    const features = Buffer.alloc(8);
    features.writeBigUInt64LE((1n << 32n) | (1n << 33n));
    io(uapi.VHOST_SET_FEATURES, features);
    io(uapi.VHOST_VDPA_SET_STATUS, Buffer.from([0xb]));
    const upd = vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0n, size: BigInt(SIZE), uaddr: BigInt(base), perm: VHOST_MAP_RW } });
    expect(file.write(upd, cred(m.vcpu))).toBe(72);
    for (const [q, ring] of [
      [0, RX_RING],
      [1, TX_RING],
    ]) {
      io(uapi.VHOST_SET_VRING_NUM, state(q, NUM));
      const addr = Buffer.alloc(40);
      addr.writeUInt32LE(q, 0);
      addr.writeBigUInt64LE(BigInt(ring + RING.desc), 8);
      addr.writeBigUInt64LE(BigInt(ring + RING.used), 16);
      addr.writeBigUInt64LE(BigInt(ring + RING.avail), 24);
      io(uapi.VHOST_SET_VRING_ADDR, addr);
      io(uapi.VHOST_SET_VRING_BASE, state(q, 0));
      io(uapi.VHOST_SET_VRING_KICK, state(q, m.kick));
      io(uapi.VHOST_SET_VRING_CALL, state(q, m.call));
      io(uapi.VHOST_VDPA_SET_VRING_ENABLE, state(q, 1));
    }
    io(uapi.VHOST_VDPA_SET_STATUS, Buffer.from([0xf]));
    expect(m.sim.getStatus()).toBe(0xf);
  }

  /* The client's driver publishes one descriptor on a ring (iova = offset in its map). */
  function publish(m: Vmm, ring: number, buf: number, len: number, writable: boolean): void {
    const d = Buffer.alloc(16);
    d.writeBigUInt64LE(BigInt(buf), 0);
    d.writeUInt32LE(len, 8);
    d.writeUInt16LE(writable ? 2 : 0, 12);
    m.mem.write(m.base + ring + RING.desc, d, 0, 16);
    const avail = Buffer.alloc(6);
    avail.writeUInt16LE(1, 2); /* idx */
    avail.writeUInt16LE(0, 4); /* ring[0] = head 0 */
    m.mem.write(m.base + ring + RING.avail, avail, 0, 6);
  }

  function used(m: Vmm, ring: number): { idx: number; id: number; len: number } {
    const b = Buffer.alloc(12);
    m.mem.readInto(m.base + ring + RING.used, b, 0, 12);
    return { idx: b.readUInt16LE(2), id: b.readUInt32LE(4), len: b.readUInt32LE(8) };
  }

  it('GET_CONFIG writes buf[] into the client\'s memory at argp + 8', async () => {
    const m = await vmm();
    const arg = Buffer.alloc(8 + 6);
    arg.writeUInt32LE(10, 0);
    arg.writeUInt32LE(2, 4);
    expect(m.io(uapi.VHOST_VDPA_GET_CONFIG, arg)).toBe(0);
    expect(arg.readUInt16LE(8)).toBe(1500);
    m.file.release();
    m.mem.mmput();
  });

  it('a frame the client kicks is looped back into its rx buffer, and its call eventfd wakes it after the used rings are written', async () => {
    const m = await vmm();
    bringUp(m);
    const frame = netFrame('ff:ff:ff:ff:ff:ff', 'from the client');
    m.mem.write(m.base + TX_BUF, frame, 0, frame.length);
    publish(m, RX_RING, RX_BUF, 2048, true);
    publish(m, TX_RING, TX_BUF, frame.length, false);
    /* The client kicks, then sleeps in poll() on its call eventfd: the device runs in the daemon's event loop meanwhile. */
    expect(Number(await m.c.cmd(`kickwait ${m.kick} ${m.call} 5000`))).toBeGreaterThanOrEqual(1);
    expect(used(m, TX_RING)).toEqual({ idx: 1, id: 0, len: 0 });
    expect(used(m, RX_RING)).toEqual({ idx: 1, id: 0, len: frame.length });
    const back = Buffer.alloc(frame.length);
    m.mem.readInto(m.base + RX_BUF, back, 0, back.length);
    expect(back).toEqual(frame);
    m.file.release();
    m.mem.mmput();
  });

  it('a driver in the client publishing in its own memory: 200 kicks, 200 completions, each seen on the call eventfd', async () => {
    const m = await vmm();
    bringUp(m);
    /* A frame to another MAC: the filter drops it and tx completes (len 0) with an interrupt. */
    const frame = netFrame('02:00:00:00:00:99');
    m.mem.write(m.base + TX_BUF, frame, 0, frame.length);
    const answer = await m.c.cmd(`txloop ${m.kick} ${m.call} ${(m.base + TX_RING).toString(16)} ${TX_BUF.toString(16)} ${frame.length} 200`);
    expect(answer).toMatch(/^\d+$/);
    expect(used(m, TX_RING).idx).toBe(200);
    m.file.release();
    m.mem.mmput();
  });

  it('a ring the client unmapped behind the device\'s back faults: the device\'s error path (NEEDS_RESET), never a crash', async () => {
    const m = await vmm();
    bringUp(m);
    expect(await m.c.cmd(`unmap ${(m.base + TX_RING).toString(16)} 4096`)).toBe('ok');
    await m.c.cmd(`signal ${m.kick}`);
    await until(() => (m.sim.getStatus() & 0x40) !== 0, 'NEEDS_RESET');
    expect(m.k.log.records.at(-1)?.text).toMatch(/vq 1: AddressFault/);
    m.file.release();
    m.mem.mmput();
  });

  it('release closes every duplicate and the client\'s memory: the daemon holds no more fds than before', async () => {
    const before = vhostFds();
    const m = await vmm();
    bringUp(m);
    /* QEMU swaps call fds on every mask/unmask: each swap closes the old duplicate. */
    for (let i = 0; i < 5; i++) m.io(uapi.VHOST_SET_VRING_CALL, state(0, m.call));
    m.io(uapi.VHOST_VDPA_SET_CONFIG_CALL, Buffer.from([m.call, 0, 0, 0]));
    m.io(uapi.VHOST_SET_VRING_ERR, state(1, m.kick));
    /* The owner's /proc/<pid>/mem, the test's own, kick x2, call x2, config, err. */
    expect(vhostFds()).toBe(before + 8);
    m.file.release();
    m.mem.mmput();
    expect(vhostFds()).toBe(before);
    expect(m.sim.mm).toBeNull();
  });

  it('a client that dies leaves nothing behind once its file is released (FUSE releases it at exit)', async () => {
    const before = vhostFds();
    const m = await vmm();
    bringUp(m);
    m.mem.mmput();
    await m.c.kill();
    /* Its memory is gone: a kick can no longer come, an access faults. */
    expect(() => m.sim.mm!.readInto(m.base, Buffer.alloc(1), 0, 1)).toThrow(MemoryFault);
    m.file.release();
    expect(vhostFds()).toBe(before);
    const again = m.v.open();
    expect(again.getStatus()).toBe(0);
    again.release();
  });
});

describe('memory the daemon may reach through /proc/<tgid>/mem', () => {
  const types = new Map([
    ['0:45', 'fuse.vdpafs'],
    ['0:46', 'tmpfs'],
    ['0:47', 'nfs4'],
    ['0:48', 'btrfs'],
  ]);
  it('file mappings on a FUSE or network file system are refused (a read there waits for their server, maybe this daemon)', () => {
    expect(memoryBackedByAnyone(0, 45, '/tmp/v/sys/devices/vdpa0/uevent', types)).toBe(false);
    expect(memoryBackedByAnyone(0, 47, '/net/home/f', types)).toBe(false);
    expect(memoryBackedByAnyone(0, 99, '/gone/mount/f (deleted)', types)).toBe(false);
  });
  it('memory file systems, memfds, SysV shm and local disks are fine', () => {
    expect(memoryBackedByAnyone(0, 46, '/dev/shm/qemu-ram', types)).toBe(true);
    expect(memoryBackedByAnyone(0, 1, '/memfd:pc.ram (deleted)', types)).toBe(true);
    expect(memoryBackedByAnyone(0, 1, '/SYSV00000000 (deleted)', types)).toBe(true);
    expect(memoryBackedByAnyone(0, 48, '/home/x/disk.img', types)).toBe(true);
    expect(memoryBackedByAnyone(8, 1, '/usr/lib/x86_64-linux-gnu/libc.so.6', types)).toBe(true);
  });
});
