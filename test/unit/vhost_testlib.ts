/*
 * Shared by the vhost-vdpa and vdpa_sim data-path tests: a kernel with a
 * simulated device bound to vhost_vdpa, an opener with its own memory, and
 * a small QEMU-style driver that brings the device up through the
 * VhostVdpaFile API and hands back driver-side queues (rust-vmm's mock
 * queue: build chains, let the device run, read the raw used ring).
 */
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import { GuestMemory } from '../../src/mm/guest_memory';
import type { UserMm } from '../../src/mm/user_mm';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { vdpaFindDevice } from '../../src/drivers/vdpa/vdpa';
import type { Vdpasim } from '../../src/drivers/vdpa/vdpa_sim/vdpa_sim';
import type { VhostVdpa } from '../../src/drivers/vhost/vdpa';
import type { VhostVdpaFile } from '../../src/drivers/vhost/vdpa_file';
import { Eventfd, EventfdCtx } from '../../src/fs/eventfd';
import { LocalProcess, LocalTasks } from '../../src/kernel/task';
import type { Cred } from '../../src/kernel/cred';
import type { IoctlRequest, IoctlResult } from '../../src/fs/kernfs';
import { _IOC_DIR, _IOC_READ, _IOC_SIZE, _IOC_WRITE } from '../../src/include/uapi/vhost';
import { VirtqueueSplit } from '../../src/drivers/virtio/virtio_ring';
import { vhostMsgBuild, VHOST_IOTLB_UPDATE } from '../../src/drivers/vhost/vhost_msg';
import { VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import {
  BIT,
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_VERSION_1,
} from '../../src/include/uapi/virtio_config';

/* A process's memory sits at a user-space-looking address; iova = uaddr - USER_BASE. */
export const USER_BASE = 0x7f00_0000_0000;

/* Short names for the status bits the tests step through. */
export const STATUS_ACK = VIRTIO_CONFIG_S_ACKNOWLEDGE;
export const STATUS_DRIVER = VIRTIO_CONFIG_S_DRIVER;
export const STATUS_DRIVER_OK = VIRTIO_CONFIG_S_DRIVER_OK;
export const STATUS_FEATURES_OK = VIRTIO_CONFIG_S_FEATURES_OK;
export const STATUS_NEEDS_RESET = VIRTIO_CONFIG_S_NEEDS_RESET;

export const BASE_FEATURES = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM);

export interface Rig {
  k: Kernel;
  sim: Vdpasim;
  v: VhostVdpa;
  /* The kernel's `tasks`: processes the test holds (kernel/task.ts). */
  tasks: LocalTasks;
}

/* vdpa0 (vdpasim_net) bound to vhost_vdpa, as the daemon boots; or a vdpasim_blk device. */
export function rig(type: 'net' | 'blk' = 'net', attrs: Array<[string, unknown]> = []): Rig {
  const k = bootKernel();
  let name = 'vdpa0';
  if (type === 'blk') {
    k.modules.modprobe('vdpa_sim_blk');
    name = 'blk0';
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', name],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_blk'],
    ]);
  } else if (attrs.length > 0) {
    vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]);
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', name],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
      ...(attrs as Array<[never, never]>),
    ]);
  }
  const vdev = vdpaFindDevice(k, name)!;
  const tasks = new LocalTasks();
  k.tasks = tasks;
  return { k, sim: vdev.config as Vdpasim, v: vdev.drvdata as VhostVdpa, tasks };
}

/*
 * A user process of the test: its memory (the userMemory() layout) and a
 * table of eventfds, known to the kernel's tasks as `pid`; `cred` is what a
 * request from its main thread carries.
 */
export interface Proc extends LocalProcess {
  mm: GuestMemory;
  pid: number;
  cred: Cred;
}

export function proc(r: Rig, pid = 1000, mem: GuestMemory = userMemory()): Proc {
  const p: Proc = { mm: mem, fds: new Map<number, EventfdCtx>(), pid, cred: { uid: 0, gid: 0, pid } };
  r.tasks.addProcess(pid, p);
  return p;
}

/* Give the process an eventfd at descriptor `fd`. */
export function eventfdAt(p: Proc, fd: number, e = new Eventfd()): Eventfd {
  p.fds.set(fd, e);
  return e;
}

/*
 * Where ioctl arguments are laid out in a process's memory: the end of this
 * region, so a read past them faults. Above userMemory()'s region, so the
 * driver side's allocations (first fit) and up()'s map stay in that one.
 */
export const ARG_REGION = 0x7ff0_0000_0000;
const ARG_REGION_SIZE = 1 << 20;

/*
 * ioctl(fd, cmd, argp) from process p, the way it reaches the file through
 * FUSE (restricted ioctl): `arg` is laid out in p's memory, right at the
 * end of a mapped region; the _IOC_SIZE(cmd) bytes there are copied in for
 * _IOW; the answer's bytes are copied back for _IOR; then `arg` is updated
 * from p's memory (what the process sees after the call). An argument the
 * host kernel cannot copy in or out is EFAULT before or after the file sees
 * it, as FUSE does. `argp` overrides the address (0 for a NULL argument).
 */
export function ioctlAs(p: Proc, file: { ioctl(req: IoctlRequest): unknown }, cmd: number, arg?: Buffer, argp?: number): number {
  cmd >>>= 0;
  const mem = p.mm;
  if (mem.findRegion(ARG_REGION) === null) mem.addRegion(ARG_REGION, ARG_REGION_SIZE);
  const len = arg?.length ?? 0;
  const addr = argp ?? ARG_REGION + ARG_REGION_SIZE - len;
  if (arg !== undefined && argp === undefined) mem.write(addr, arg);
  const size = _IOC_SIZE(cmd);
  const dir = _IOC_DIR(cmd);
  const inb = dir & _IOC_WRITE ? mem.read(addr, size) : Buffer.alloc(0);
  const req: IoctlRequest = { cmd, arg: BigInt(addr), in: inb, outSize: dir & _IOC_READ ? size : 0, cred: p.cred };
  const res = file.ioctl(req) as IoctlResult;
  if (res.out !== undefined && res.out.length > 0) mem.write(addr, res.out);
  if (arg !== undefined && argp === undefined) mem.readInto(addr, arg, 0, len);
  return res.result;
}

export function userMemory(size = 4 << 20): GuestMemory {
  return new GuestMemory([{ base: USER_BASE, size }]);
}

export interface Driver {
  file: VhostVdpaFile;
  mem: GuestMemory;
  vqs: Array<VirtqueueSplit<string>>;
  kicks: Eventfd[];
  calls: Eventfd[];
  iova(cpu: number): number;
}

export interface UpOptions {
  features?: bigint;
  /* How the owner's memory is mapped: all of it RW (default), or nothing (identity/passthrough). */
  map?: 'rw' | 'none';
  num?: number;
  /* Stop before DRIVER_OK. */
  noDriverOk?: boolean;
  /* Backend features to ack (default MSG_V2 | BATCH). */
  backend?: bigint;
  /* The memory the owner hands over at SET_OWNER (default: mem itself; a CopyOnlyMemory over it to take the copy path). */
  ownerMm?: UserMm;
}

/* The QEMU sequence of linux-vdpa.md §5.5 on an open file. */
export function up(file: VhostVdpaFile, mem: GuestMemory, opts: UpOptions = {}): Driver {
  const map = opts.map ?? 'rw';
  const iova = (cpu: number): number => (map === 'rw' ? cpu - USER_BASE : cpu);
  if (!file.owner) file.setOwner(opts.ownerMm ?? mem);
  file.setBackendFeatures(file.getBackendFeatures() & (opts.backend ?? 0x6n));
  const features = opts.features ?? file.getFeatures();
  const num = opts.num ?? file.getVringNum();
  const nvqs = file.getVqsCount();
  file.setStatus(STATUS_ACK);
  file.setStatus(STATUS_ACK | STATUS_DRIVER);
  file.setFeatures(features);
  file.setStatus(STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (map === 'rw') {
    const r = mem.regions[0];
    file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0n, size: BigInt(r.size), uaddr: BigInt(r.base), perm: VHOST_MAP_RW } }));
  }
  const vqs: Array<VirtqueueSplit<string>> = [];
  const kicks: Eventfd[] = [];
  const calls: Eventfd[] = [];
  for (let i = 0; i < nvqs; i++) {
    const kick = new Eventfd();
    const call = new Eventfd();
    const vq = new VirtqueueSplit<string>({ mem, num, index: i, dmaAddr: iova, notify: () => kick.signal() });
    file.setVringNum(i, num);
    file.setVringAddr(i, vq.ringDma);
    file.setVringBase(i, 0);
    file.setVringKick(i, kick);
    file.setVringCall(i, call);
    file.setVringEnable(i, true);
    vqs.push(vq);
    kicks.push(kick);
    calls.push(call);
  }
  if (!opts.noDriverOk) file.setStatus(STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  return { file, mem, vqs, kicks, calls, iova };
}

/* The used ring as raw bytes: le16 flags, le16 idx, then {le32 id, le32 len} per element. */
export function usedRing(flags: number, idx: number, elems: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(4 + 8 * elems.length);
  b.writeUInt16LE(flags, 0);
  b.writeUInt16LE(idx, 2);
  elems.forEach(([id, len], k) => {
    b.writeUInt32LE(id, 4 + 8 * k);
    b.writeUInt32LE(len, 8 + 8 * k);
  });
  return b;
}

/* The first n used elements of a driver queue, raw. */
export function rawUsed(vq: VirtqueueSplit<unknown>, n: number): Buffer {
  return vq.mem.read(vq.usedAddr, 4 + 8 * n);
}

/* An Ethernet frame behind a zeroed virtio_net_hdr_v1. */
export function netFrame(dst: string, payload = 'hello', src = '00:11:22:33:44:55'): Buffer {
  const mac = (m: string): Buffer => Buffer.from(m.split(':').map((h) => parseInt(h, 16)));
  return Buffer.concat([Buffer.alloc(12), mac(dst), mac(src), Buffer.from([0x08, 0x00]), Buffer.from(payload)]);
}

export function vstats(k: Kernel, dev: string, qidx: number): Record<string, number> {
  const msg = vdpaGenl(k, VdpaCmd.DEV_VSTATS_GET, [
    ['VDPA_ATTR_DEV_NAME', dev],
    ['VDPA_ATTR_DEV_QUEUE_INDEX', qidx],
  ]) as { msgs: Array<Array<[string, unknown]>> };
  const out: Record<string, number> = {};
  let name = '';
  for (const [a, v] of msg.msgs[0]) {
    if (a === 'VDPA_ATTR_DEV_VENDOR_ATTR_NAME') name = v as string;
    if (a === 'VDPA_ATTR_DEV_VENDOR_ATTR_VALUE') out[name] = Number(v);
  }
  return out;
}

/*
 * The same bytes as a GuestMemory, reached the way a client process's
 * memory is (src/host/user_mm.ts): by copying only, no Buffers handed out.
 * Every access is logged, so a test can see what the device read and wrote,
 * and in which order.
 */
export class CopyOnlyMemory implements UserMm {
  readonly log: Array<{ op: 'r' | 'w'; addr: number; len: number }> = [];
  mmputs = 0;

  constructor(readonly mem: GuestMemory) {}

  get generation(): number {
    return this.mem.generation;
  }

  readInto(addr: number, dst: Uint8Array, dstOff: number, len: number): void {
    this.log.push({ op: 'r', addr, len });
    this.mem.readInto(addr, dst, dstOff, len);
  }

  write(addr: number, src: Uint8Array, srcOff: number, len: number): void {
    this.log.push({ op: 'w', addr, len });
    this.mem.write(addr, src, srcOff, len);
  }

  pinnable(addr: bigint, size: bigint, write: boolean): boolean {
    return this.mem.pinnable(addr, size, write);
  }

  mmput(): void {
    this.mmputs++;
  }
}
