/*
 * The vhost-vdpa device API (linux-vdpa.md §5): every row of the §5.3
 * ioctl table, through the methods of an open VhostVdpaFile and through
 * ioctl(cmd, arg) with the numeric commands, as userspace issues them; the
 * §5.4 IOTLB write() channel at the file level; open, close, and unbind or
 * delete while open (§5.1–5.2, §5.6).
 */
import { describe, expect, it } from 'vitest';
import { settle } from '../../src/kernel/completion';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaDevice } from '../../src/drivers/vdpa/vdpa';
import { VhostVdpa } from '../../src/drivers/vhost/vdpa';
import { Eventfd } from '../../src/fs/eventfd';
import { vhostMsgBuild, VHOST_IOTLB_BATCH_BEGIN, VHOST_IOTLB_BATCH_END, VHOST_IOTLB_INVALIDATE, VHOST_IOTLB_MSG_V2, VHOST_IOTLB_UPDATE } from '../../src/drivers/vhost/vhost_msg';
import { VHOST_MAP_RO, VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import * as uapi from '../../src/include/uapi/vhost';
import {
  BASE_FEATURES,
  ARG_REGION,
  eventfdAt,
  ioctlAs,
  netFrame,
  proc,
  Proc,
  rig,
  STATUS_ACK,
  STATUS_DRIVER,
  STATUS_FEATURES_OK,
  up,
  USER_BASE,
} from './vhost_testlib';
import { errnoOf } from './sysfs_io';

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const NET_FEATURES = 0x308830028n;
const BLK_FEATURES = 0x308007646n;

/* A device opened by process 1000 (the test's "QEMU"), with ioctl() as that process issues it through the mount. */
function open(type: 'net' | 'blk') {
  const r = rig(type);
  const p = proc(r);
  const file = r.v.open();
  const io = (cmd: number, arg?: Buffer, argp?: number): number => ioctlAs(p, file, cmd, arg, argp);
  const ioErr = (cmd: number, arg?: Buffer, argp?: number): string => errnoOf(() => io(cmd, arg, argp));
  return { ...r, p, mem: p.mm, file, io, ioErr };
}
const openNet = () => open('net');
const openBlk = () => open('blk');

/* A vhost_vring_state / vhost_vring_file argument. */
function state(index: number, num: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(index >>> 0, 0);
  b.writeInt32LE(num | 0, 4);
  return b;
}
function u64arg(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}
function i32arg(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
function vringAddr(index: number, a: { flags?: number; desc?: bigint; used?: bigint; avail?: bigint; log?: bigint }): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(index, 0);
  b.writeUInt32LE(a.flags ?? 0, 4);
  b.writeBigUInt64LE(a.desc ?? 0n, 8);
  b.writeBigUInt64LE(a.used ?? 0n, 16);
  b.writeBigUInt64LE(a.avail ?? 0n, 24);
  b.writeBigUInt64LE(a.log ?? 0n, 32);
  return b;
}
/* struct vhost_vdpa_config: {u32 off; u32 len; u8 buf[len]}. */
function configArg(off: number, len: number, data?: Buffer): Buffer {
  const b = Buffer.alloc(8 + len);
  b.writeUInt32LE(off, 0);
  b.writeUInt32LE(len, 4);
  data?.copy(b, 8);
  return b;
}

/* An eventfd that counts the references vhost drops (eventfd_ctx_put). */
class CountedEventfd extends Eventfd {
  puts = 0;
  override put(): void {
    this.puts++;
  }
}

describe('vhost-vdpa ioctl numbers (x86-64 _IOC values of §5.3)', () => {
  it('match the reference table', () => {
    expect(
      [
        uapi.VHOST_GET_FEATURES, uapi.VHOST_SET_FEATURES, uapi.VHOST_SET_OWNER, uapi.VHOST_RESET_OWNER, uapi.VHOST_SET_MEM_TABLE,
        uapi.VHOST_SET_LOG_BASE, uapi.VHOST_SET_LOG_FD, uapi.VHOST_SET_VRING_NUM, uapi.VHOST_SET_VRING_ADDR, uapi.VHOST_SET_VRING_BASE,
        uapi.VHOST_GET_VRING_BASE, uapi.VHOST_SET_VRING_KICK, uapi.VHOST_SET_VRING_CALL, uapi.VHOST_SET_VRING_ERR,
        uapi.VHOST_SET_BACKEND_FEATURES, uapi.VHOST_GET_BACKEND_FEATURES, uapi.VHOST_VDPA_GET_DEVICE_ID, uapi.VHOST_VDPA_GET_STATUS,
        uapi.VHOST_VDPA_SET_STATUS, uapi.VHOST_VDPA_GET_CONFIG, uapi.VHOST_VDPA_SET_CONFIG, uapi.VHOST_VDPA_SET_VRING_ENABLE,
        uapi.VHOST_VDPA_GET_VRING_NUM, uapi.VHOST_VDPA_SET_CONFIG_CALL, uapi.VHOST_VDPA_GET_IOVA_RANGE, uapi.VHOST_VDPA_GET_CONFIG_SIZE,
        uapi.VHOST_VDPA_GET_AS_NUM, uapi.VHOST_VDPA_GET_VRING_GROUP, uapi.VHOST_VDPA_SET_GROUP_ASID, uapi.VHOST_VDPA_SUSPEND,
        uapi.VHOST_VDPA_RESUME, uapi.VHOST_VDPA_GET_VRING_DESC_GROUP, uapi.VHOST_VDPA_GET_VQS_COUNT, uapi.VHOST_VDPA_GET_GROUP_NUM,
        uapi.VHOST_VDPA_GET_VRING_SIZE,
      ].map((n) => n.toString(16).toUpperCase()),
    ).toEqual(
      [
        0x8008af00, 0x4008af00, 0xaf01, 0xaf02, 0x4008af03, 0x4008af04, 0x4004af07, 0x4008af10, 0x4028af11, 0x4008af12, 0xc008af12,
        0x4008af20, 0x4008af21, 0x4008af22, 0x4008af25, 0x8008af26, 0x8004af70, 0x8001af71, 0x4001af72, 0x8008af73, 0x4008af74,
        0x4008af75, 0x8002af76, 0x4004af77, 0x8010af78, 0x8004af79, 0x8004af7a, 0xc008af7b, 0x4008af7c, 0xaf7d, 0xaf7e, 0xc008af7f,
        0x8004af80, 0x8004af81, 0xc008af82,
      ].map((n) => n.toString(16).toUpperCase()),
    );
  });
});

describe('ownership: VHOST_SET_OWNER first', () => {
  it('SET_OWNER succeeds once; a second SET_OWNER fails EBUSY', () => {
    const { file, io, ioErr, mem } = openNet();
    expect(io(uapi.VHOST_SET_OWNER)).toBe(0);
    expect(ioErr(uapi.VHOST_SET_OWNER)).toBe('EBUSY');
    expect(errnoOf(() => file.setOwner(mem))).toBe('EBUSY');
  });

  it('every "Own? yes" ioctl fails EPERM before SET_OWNER, even with a bad index', () => {
    const { file, ioErr, mem } = openNet();
    const owned: Array<[number, Buffer]> = [
      [uapi.VHOST_RESET_OWNER, Buffer.alloc(0)],
      [uapi.VHOST_SET_MEM_TABLE, Buffer.alloc(8)],
      [uapi.VHOST_SET_VRING_NUM, state(99, 256)],
      [uapi.VHOST_SET_VRING_ADDR, vringAddr(0, {})],
      [uapi.VHOST_SET_VRING_BASE, state(0, 0)],
      [uapi.VHOST_GET_VRING_BASE, state(0, 0)],
      [uapi.VHOST_SET_VRING_KICK, state(0, -1)],
      [uapi.VHOST_SET_VRING_CALL, state(0, -1)],
      [uapi.VHOST_SET_VRING_ERR, state(0, -1)],
      [uapi.VHOST_SET_VRING_BUSYLOOP_TIMEOUT, state(0, 1)],
      [uapi.VHOST_GET_VRING_BUSYLOOP_TIMEOUT, state(0, 0)],
      [uapi.VHOST_VDPA_SET_VRING_ENABLE, state(0, 1)],
      [uapi.VHOST_VDPA_GET_VRING_GROUP, state(0, 0)],
      [uapi.VHOST_VDPA_SET_GROUP_ASID, state(0, 0)],
      [uapi.VHOST_VDPA_GET_VRING_DESC_GROUP, state(0, 0)],
      [uapi.VHOST_VDPA_GET_VRING_SIZE, state(0, 0)],
    ];
    for (const [cmd, arg] of owned) expect(ioErr(cmd, arg), cmd.toString(16)).toBe('EPERM');
    expect(errnoOf(() => file.setVringNum(7, 256))).toBe('EPERM');
    expect(errnoOf(() => file.getVringGroup(0))).toBe('EPERM');
    expect(errnoOf(() => file.resetOwner())).toBe('EPERM');
    file.setOwner(mem);
    expect(file.getVringGroup(0)).toBe(0);
  });

  it('"Own? no" ioctls work without an owner', () => {
    const { io } = openNet();
    const out = Buffer.alloc(8);
    expect(io(uapi.VHOST_GET_FEATURES, out)).toBe(0);
    expect(out.readBigUInt64LE(0)).toBe(NET_FEATURES);
    expect(io(uapi.VHOST_VDPA_GET_DEVICE_ID, Buffer.alloc(4))).toBe(0);
    expect(io(uapi.VHOST_VDPA_GET_VQS_COUNT, Buffer.alloc(4))).toBe(0);
    expect(io(uapi.VHOST_VDPA_GET_STATUS, Buffer.alloc(1))).toBe(0);
    expect(io(uapi.VHOST_VDPA_SET_STATUS, Buffer.from([STATUS_ACK]))).toBe(0);
    expect(io(uapi.VHOST_SET_FEATURES, u64arg(BASE_FEATURES))).toBe(0);
    expect(io(uapi.VHOST_VDPA_SUSPEND)).toBe(0);
  });

  it('an unknown ioctl is EPERM before SET_OWNER, ENOTTY after (ENOBUFS if its first u32 is a bad index)', () => {
    const { io, ioErr } = openNet();
    const UNKNOWN = 0x4008af99;
    expect(ioErr(UNKNOWN, state(0, 0))).toBe('EPERM');
    io(uapi.VHOST_SET_OWNER);
    expect(ioErr(UNKNOWN, state(0, 0))).toBe('ENOTTY');
    expect(ioErr(UNKNOWN, state(3, 0))).toBe('ENOBUFS');
    /* Cross-endian rings are not configured in: vhost_set_vring_endian() is ENOIOCTLCMD. */
    expect(ioErr(uapi.VHOST_SET_VRING_ENDIAN, state(0, 0))).toBe('ENOTTY');
    expect(ioErr(uapi.VHOST_GET_VRING_ENDIAN, state(0, 0))).toBe('ENOTTY');
  });

  it('RESET_OWNER is not implemented by vhost-vdpa: get_user() of the index at argp -- EFAULT for NULL, ENOTTY or ENOBUFS for a real one', () => {
    const { io, ioErr, file } = openNet();
    io(uapi.VHOST_SET_OWNER);
    expect(ioErr(uapi.VHOST_RESET_OWNER, undefined, 0)).toBe('EFAULT');
    /* _IO: FUSE copies nothing in; the index is read from the caller's memory all the same. */
    expect(ioErr(uapi.VHOST_RESET_OWNER, state(0, 0))).toBe('ENOTTY');
    expect(ioErr(uapi.VHOST_RESET_OWNER, state(5, 0))).toBe('ENOBUFS');
    expect(errnoOf(() => file.resetOwner())).toBe('EFAULT');
  });

  it('an argument that is not in the caller\'s memory is EFAULT (copy_from_user/copy_to_user)', () => {
    const { io, ioErr } = openNet();
    /* The host kernel's own copy of the encoded size fails first. */
    expect(ioErr(uapi.VHOST_GET_FEATURES, Buffer.alloc(4))).toBe('EFAULT');
    expect(ioErr(uapi.VHOST_SET_FEATURES, Buffer.alloc(7))).toBe('EFAULT');
    io(uapi.VHOST_SET_OWNER);
    expect(ioErr(uapi.VHOST_SET_VRING_NUM, Buffer.alloc(2))).toBe('EFAULT');
    /* A NULL argp: nothing FUSE could copy for an _IO command, and vhost's own get_user faults. */
    expect(ioErr(uapi.VHOST_SET_VRING_NUM, undefined, 0)).toBe('EFAULT');
  });

  it('SET_OWNER binds the SET_OWNER caller\'s memory: another process is not the owner; a thread of the owner is', () => {
    const r = rig('net');
    const opener = proc(r, 1000);
    const owner = proc(r, 2000);
    r.tasks.addThread(2000, 2001);
    const thread: Proc = { ...owner, pid: 2001, cred: { uid: 0, gid: 0, pid: 2001 } };
    const file = r.v.open();
    expect(ioctlAs(owner, file, uapi.VHOST_SET_OWNER)).toBe(0);
    expect(r.sim.mm).toBe(owner.mm);
    expect(errnoOf(() => ioctlAs(opener, file, uapi.VHOST_SET_VRING_NUM, state(0, 64)))).toBe('EPERM');
    expect(errnoOf(() => ioctlAs(opener, file, uapi.VHOST_SET_OWNER))).toBe('EBUSY');
    expect(ioctlAs(thread, file, uapi.VHOST_SET_VRING_NUM, state(0, 64))).toBe(0);
    /* The IOTLB channel checks the owner too (vhost_dev_check_owner): the other process's write is EFAULT. */
    const upd = vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0n, size: 0x1000n, uaddr: BigInt(USER_BASE), perm: VHOST_MAP_RW } });
    expect(errnoOf(() => file.write(upd, opener.cred))).toBe('EFAULT');
    expect(file.write(upd, thread.cred)).toBe(72);
  });
});

describe('features (GET/SET_FEATURES, GET/SET_BACKEND_FEATURES)', () => {
  it('GET_FEATURES is the device features: net 0x308830028, blk 0x308007646', () => {
    expect(openNet().file.getFeatures()).toBe(NET_FEATURES);
    expect(openBlk().file.getFeatures()).toBe(BLK_FEATURES);
  });

  it('SET_FEATURES without ACCESS_PLATFORM is refused by the device: EINVAL', () => {
    const { file, ioErr } = openNet();
    expect(errnoOf(() => file.setFeatures(1n << 32n))).toBe('EINVAL');
    expect(ioErr(uapi.VHOST_SET_FEATURES, u64arg(1n << 32n))).toBe('EINVAL');
  });

  it('SET_FEATURES after FEATURES_OK fails EBUSY (before the argument is even read)', () => {
    const { file, sim, ioErr } = openNet();
    file.setStatus(STATUS_ACK | STATUS_DRIVER);
    file.setFeatures(BASE_FEATURES | (1n << 5n));
    file.setStatus(STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
    expect(errnoOf(() => file.setFeatures(BASE_FEATURES))).toBe('EBUSY');
    expect(ioErr(uapi.VHOST_SET_FEATURES, u64arg(BASE_FEATURES))).toBe('EBUSY');
    expect(sim.getDriverFeatures()).toBe(BASE_FEATURES | (1n << 5n));
  });

  it('SET_FEATURES stores features & supported', () => {
    const { file, sim } = openNet();
    file.setFeatures(BASE_FEATURES | (1n << 40n));
    expect(sim.getDriverFeatures()).toBe(BASE_FEATURES);
  });

  it('GET_BACKEND_FEATURES is 0x17E (MSG_V2 BATCH ASID SUSPEND RESUME ENABLE_AFTER_DRIVER_OK PERSIST)', () => {
    const { file, io } = openNet();
    const out = Buffer.alloc(8);
    io(uapi.VHOST_GET_BACKEND_FEATURES, out);
    expect(out.readBigUInt64LE()).toBe(0x17en);
    expect(file.getBackendFeatures()).toBe(0x17en);
  });

  it('SET_BACKEND_FEATURES with an unsupported bit fails EOPNOTSUPP; DESC_ASID without IOTLB_ASID is EINVAL', () => {
    const { file, io, ioErr } = openNet();
    expect(errnoOf(() => file.setBackendFeatures(1n << 0n))).toBe('EOPNOTSUPP');
    expect(ioErr(uapi.VHOST_SET_BACKEND_FEATURES, u64arg(1n << 9n))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.setBackendFeatures(1n << 7n))).toBe('EINVAL');
    /* The sim has no descriptor groups. */
    expect(errnoOf(() => file.setBackendFeatures((1n << 7n) | (1n << 3n)))).toBe('EOPNOTSUPP');
    expect(io(uapi.VHOST_SET_BACKEND_FEATURES, u64arg(0x17en))).toBe(0);
  });

  it('SET_BACKEND_FEATURES SUSPEND on a parent without suspend fails EOPNOTSUPP', () => {
    const { k, sim } = rig('net');
    const v = noSuspendVhost(k, sim);
    const file = v.open();
    expect(file.getBackendFeatures() & (3n << 4n)).toBe(0n);
    expect(errnoOf(() => file.setBackendFeatures(1n << 4n))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.setBackendFeatures(1n << 5n))).toBe('EOPNOTSUPP');
  });
});

/* A vhost-vdpa instance on the same sim, seen through ops that lack suspend/resume. */
function noSuspendVhost(k: ReturnType<typeof rig>['k'], sim: ReturnType<typeof rig>['sim']): VhostVdpa {
  const ops = Object.create(sim) as typeof sim;
  Object.defineProperty(ops, 'suspend', { value: undefined });
  Object.defineProperty(ops, 'resume', { value: undefined });
  const vdev = new VdpaDevice(k, 'nosuspend', ops, 3, 2, 2);
  return new VhostVdpa(k, vdev, 99, 0);
}

describe('device queries (GET_DEVICE_ID, VQS_COUNT, GROUP_NUM, AS_NUM, CONFIG_SIZE, VRING_NUM, IOVA_RANGE)', () => {
  it('net: id 1, 3 vqs, 2 groups, 2 address spaces, 24-byte config, rings of 256, iova 0..2^64-1', () => {
    const { file, io } = openNet();
    const u32 = (cmd: number): number => {
      const out = Buffer.alloc(4);
      io(cmd, out);
      return out.readUInt32LE(0);
    };
    expect(u32(uapi.VHOST_VDPA_GET_DEVICE_ID)).toBe(1);
    expect(u32(uapi.VHOST_VDPA_GET_VQS_COUNT)).toBe(3);
    expect(u32(uapi.VHOST_VDPA_GET_GROUP_NUM)).toBe(2);
    expect(u32(uapi.VHOST_VDPA_GET_AS_NUM)).toBe(2);
    expect(u32(uapi.VHOST_VDPA_GET_CONFIG_SIZE)).toBe(24);
    const out = Buffer.alloc(16, 0xee);
    io(uapi.VHOST_VDPA_GET_VRING_NUM, out);
    expect(out.readUInt16LE(0)).toBe(256);
    expect(out[2]).toBe(0xee); /* a u16, nothing more */
    io(uapi.VHOST_VDPA_GET_IOVA_RANGE, out);
    expect([out.readBigUInt64LE(0), out.readBigUInt64LE(8)]).toEqual([0n, U64_MAX]);
    expect(file.getIovaRange()).toEqual({ first: 0n, last: U64_MAX });
  });

  it('blk: id 2, 1 vq, 1 group, 1 address space, 96-byte config', () => {
    const { file } = openBlk();
    expect([file.getDeviceId(), file.getVqsCount(), file.getGroupNum(), file.getAsNum(), file.getConfigSize(), file.getVringNum()]).toEqual([
      2, 1, 1, 1, 96, 256,
    ]);
  });
});

describe('status (VDPA_GET_STATUS / VDPA_SET_STATUS)', () => {
  it('a status that clears a set bit fails EINVAL; 0 resets', () => {
    const { file, sim, io, ioErr } = openNet();
    file.setStatus(STATUS_ACK | STATUS_DRIVER);
    expect(errnoOf(() => file.setStatus(STATUS_ACK))).toBe('EINVAL');
    expect(ioErr(uapi.VHOST_VDPA_SET_STATUS, Buffer.from([STATUS_DRIVER]))).toBe('EINVAL');
    const out = Buffer.alloc(1);
    io(uapi.VHOST_VDPA_GET_STATUS, out);
    expect(out[0]).toBe(STATUS_ACK | STATUS_DRIVER);
    const gen = sim.getGeneration();
    file.setStatus(0);
    expect(file.getStatus()).toBe(0);
    expect(sim.getGeneration()).toBe(gen + 1);
  });

  it('reset by status 0 cleans the maps unless IOTLB_PERSIST was acked', () => {
    for (const persist of [false, true]) {
      const { file, mem, sim } = openNet();
      up(file, mem, { backend: persist ? 0x106n : 0x6n });
      expect(sim.iommuPt[0]).toBe(false);
      file.setStatus(0);
      expect(sim.iommuPt[0]).toBe(!persist);
    }
  });

  it('reset keeps each vq\'s num and the vhost side\'s kick: the next kick still reaches the device', () => {
    const { file, mem, sim } = openNet();
    const d = up(file, mem, { num: 64 });
    file.setStatus(0);
    /* vdpasim_vq_reset() leaves vq->num; vhost keeps vq->num and the polled kick. */
    expect(sim.vqs.map((q) => q.num)).toEqual([64, 64, 64]);
    expect(file.getVringSize(0)).toBe(256);
    let kicks = 0;
    const real = sim.kickVq.bind(sim);
    sim.kickVq = (i: number) => {
      kicks++;
      real(i);
    };
    d.kicks[1].signal();
    expect(kicks).toBe(1);
  });

  it('reset keeps a kick left pending by a suspend: the next resume replays it', () => {
    const { file, mem, sim } = openNet();
    const d = up(file, mem);
    file.suspend();
    d.kicks[1].signal();
    expect(sim.pendingKick).toBe(true);
    file.setStatus(0);
    expect(sim.pendingKick).toBe(true);
    /* Set the device up again (its maps are the identity again: no IOTLB), suspend, and resume: the old kick is replayed then. */
    const d2 = up(file, mem, { map: 'none' });
    const [rx, tx] = d2.vqs;
    rx.addBuf([], [rx.allocBuf(64)], 'rx');
    file.suspend();
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'tx');
    file.resume();
    expect(sim.pendingKick).toBe(false);
    expect(rx.getBuf()).toEqual({ token: 'rx', len: 12 + 19 });
  });
});

describe('config space (VDPA_GET_CONFIG / VDPA_SET_CONFIG, buf[] in the caller\'s memory)', () => {
  it('GET_CONFIG reads {off, len} and writes buf[] at argp + 8: the net config with status LINK_UP and mtu 1500', () => {
    const { file, io } = openNet();
    const arg = configArg(0, 24);
    expect(io(uapi.VHOST_VDPA_GET_CONFIG, arg)).toBe(0);
    const cfg = arg.subarray(8);
    expect(cfg.readUInt16LE(6)).toBe(1);
    expect(cfg.readUInt16LE(10)).toBe(1500);
    expect(file.getConfig(10, 2).readUInt16LE(0)).toBe(1500);
  });

  it('GET_CONFIG: FUSE copies nothing in for an _IOR command and nothing back; the header stays as the caller wrote it', () => {
    const { p, file } = openNet();
    const argp = ARG_REGION;
    ioctlAs(p, file, uapi.VHOST_VDPA_GET_CONFIG, configArg(10, 2)); /* maps the argument region */
    p.mm.write(argp, configArg(10, 2, Buffer.from([0xaa, 0xbb])));
    let seen: { in: number; out: number } | null = null;
    const spy = {
      ioctl: (req: Parameters<typeof file.ioctl>[0]) => {
        const res = file.ioctl(req);
        seen = { in: req.in.length, out: res.out?.length ?? 0 };
        return res;
      },
    };
    expect(ioctlAs(p, spy, uapi.VHOST_VDPA_GET_CONFIG, undefined, argp)).toBe(0);
    expect(seen).toEqual({ in: 0, out: 0 });
    expect(p.mm.read(argp, 10)).toEqual(configArg(10, 2, Buffer.from([0xdc, 0x05])));
  });

  it('len 0, an offset past the end, or a range running past it fails EINVAL; buf[] outside the caller\'s memory is EFAULT', () => {
    const { file, ioErr } = openNet();
    expect(errnoOf(() => file.getConfig(0, 0))).toBe('EINVAL');
    expect(errnoOf(() => file.getConfig(25, 1))).toBe('EINVAL');
    expect(errnoOf(() => file.getConfig(20, 8))).toBe('EINVAL');
    expect(errnoOf(() => file.setConfig(0, Buffer.alloc(0)))).toBe('EINVAL');
    expect(errnoOf(() => file.setConfig(23, Buffer.alloc(2)))).toBe('EINVAL');
    expect(ioErr(uapi.VHOST_VDPA_GET_CONFIG, configArg(24, 1).subarray(0, 8))).toBe('EINVAL');
    /* A valid header with no room for the data after it: copy_to_user faults. */
    expect(ioErr(uapi.VHOST_VDPA_GET_CONFIG, configArg(0, 6).subarray(0, 8))).toBe('EFAULT');
    expect(ioErr(uapi.VHOST_VDPA_SET_CONFIG, configArg(0, 6).subarray(0, 8))).toBe('EFAULT');
  });

  it('SET_CONFIG reads buf[] from argp + 8 and writes the config space (the MAC)', () => {
    const { file, io } = openNet();
    expect(io(uapi.VHOST_VDPA_SET_CONFIG, configArg(0, 6, Buffer.from([2, 0, 0, 0, 0, 7])))).toBe(0);
    expect([...file.getConfig(0, 6)]).toEqual([2, 0, 0, 0, 0, 7]);
  });
});

describe('vrings: index first (ENOBUFS), then each ioctl\'s own rules', () => {
  function owned() {
    const o = openNet();
    o.io(uapi.VHOST_SET_OWNER);
    return o;
  }

  it('every vring ioctl with index >= nvqs fails ENOBUFS', () => {
    const { file, ioErr } = owned();
    for (const cmd of [
      uapi.VHOST_SET_VRING_NUM,
      uapi.VHOST_SET_VRING_BASE,
      uapi.VHOST_GET_VRING_BASE,
      uapi.VHOST_SET_VRING_KICK,
      uapi.VHOST_SET_VRING_CALL,
      uapi.VHOST_SET_VRING_ERR,
      uapi.VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
      uapi.VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
      uapi.VHOST_VDPA_SET_VRING_ENABLE,
      uapi.VHOST_VDPA_GET_VRING_GROUP,
      uapi.VHOST_VDPA_SET_GROUP_ASID,
      uapi.VHOST_VDPA_GET_VRING_DESC_GROUP,
      uapi.VHOST_VDPA_GET_VRING_SIZE,
    ])
      expect(ioErr(cmd, state(3, 1)), cmd.toString(16)).toBe('ENOBUFS');
    expect(ioErr(uapi.VHOST_SET_VRING_ADDR, vringAddr(3, {}))).toBe('ENOBUFS');
    expect(errnoOf(() => file.setVringNum(3, 256))).toBe('ENOBUFS');
    expect(errnoOf(() => file.setVringAddr(0xffffffff, { desc: 0, used: 0, avail: 0 }))).toBe('ENOBUFS');
    expect(errnoOf(() => file.setVringEnable(-1, true))).toBe('ENOBUFS');
  });

  it('SET_VRING_NUM: a power of two up to 0xffff, else EINVAL', () => {
    const { file, sim, io } = owned();
    for (const bad of [0, 3, 100, 0x10000, 0x20000]) expect(errnoOf(() => file.setVringNum(0, bad)), String(bad)).toBe('EINVAL');
    expect(io(uapi.VHOST_SET_VRING_NUM, state(1, 128))).toBe(0);
    expect(sim.vqs[1].num).toBe(128);
    file.setVringNum(0, 32768);
    expect(sim.vqs[0].num).toBe(32768);
  });

  it('SET_VRING_ADDR: flags other than LOG fail EOPNOTSUPP; misaligned avail (2) or used (4) fail EINVAL; desc is not checked', () => {
    const { file, sim, io, ioErr } = owned();
    expect(ioErr(uapi.VHOST_SET_VRING_ADDR, vringAddr(0, { flags: 2 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.setVringAddr(0, { flags: 0x100, desc: 0, used: 0, avail: 0 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.setVringAddr(0, { desc: 0, used: 0x1000, avail: 0x2001 }))).toBe('EINVAL');
    expect(errnoOf(() => file.setVringAddr(0, { desc: 0, used: 0x1002, avail: 0x2000 }))).toBe('EINVAL');
    expect(errnoOf(() => file.setVringAddr(0, { desc: 0, used: 0x1000, avail: 0x2000, log: 2 }))).toBe('EINVAL');
    expect(io(uapi.VHOST_SET_VRING_ADDR, vringAddr(0, { flags: 1, desc: 0x3008n, used: 0x1000n, avail: 0x2000n }))).toBe(0);
    expect([sim.vqs[0].descAddr, sim.vqs[0].driverAddr, sim.vqs[0].deviceAddr]).toEqual([0x3008n, 0x2000n, 0x1000n]);
  });

  it('SET_VRING_ADDR and SET_VRING_BASE after DRIVER_OK fail EINVAL unless the device is suspended', () => {
    const { file, mem, sim } = openNet();
    const d = up(file, mem);
    const ring = d.vqs[0].ringDma;
    expect(errnoOf(() => file.setVringAddr(0, ring))).toBe('EINVAL');
    expect(errnoOf(() => file.setVringBase(0, 5))).toBe('EINVAL');
    file.suspend();
    file.setVringAddr(0, ring);
    file.setVringBase(0, 5);
    expect(sim.vqs[0].lastAvailIdx).toBe(5);
    file.resume();
    expect(errnoOf(() => file.setVringBase(0, 5))).toBe('EINVAL');
  });

  it('SET_VRING_BASE: num > 0xffff fails EINVAL; GET_VRING_BASE returns the device\'s last_avail_idx', () => {
    const { file, mem, io } = openNet();
    io(uapi.VHOST_SET_OWNER);
    expect(errnoOf(() => file.setVringBase(1, 0x10000))).toBe('EINVAL');
    expect(io(uapi.VHOST_SET_VRING_BASE, state(1, 0xffff))).toBe(0);
    expect(file.getVringBase(1)).toBe(0xffff);
    file.setStatus(0);
    const d = up(file, mem);
    const tx = d.vqs[1];
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'a');
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'b');
    tx.kick();
    const arg = state(1, 0);
    expect(io(uapi.VHOST_GET_VRING_BASE, arg)).toBe(0);
    /* One frame consumed (the rx overrun completes it and stops the run). */
    expect([arg.readUInt32LE(0), arg.readUInt32LE(4)]).toEqual([1, 1]);
  });

  it('SET_VRING_KICK: signalling the eventfd kicks the vq; fd -1 unbinds; EBADF for no such fd; an eventfd already signalled kicks at once', () => {
    const { file, mem, sim, p, io, ioErr } = openNet();
    const kick = eventfdAt(p, 7);
    up(file, mem);
    let kicked = 0;
    const real = sim.kickVq.bind(sim);
    sim.kickVq = (i: number) => {
      kicked++;
      real(i);
    };
    expect(io(uapi.VHOST_SET_VRING_KICK, state(1, 7))).toBe(0);
    kick.signal();
    expect(kicked).toBe(1);
    expect(io(uapi.VHOST_SET_VRING_KICK, state(1, -1))).toBe(0);
    kick.signal();
    expect(kicked).toBe(1);
    expect(ioErr(uapi.VHOST_SET_VRING_KICK, state(1, 8))).toBe('EBADF');
    /* vhost_poll_start(): binding an eventfd that is already readable kicks at once (QEMU hands it over so). */
    expect(io(uapi.VHOST_SET_VRING_KICK, state(1, 7))).toBe(0);
    expect(kicked).toBe(2);
  });

  it('SET_VRING_CALL: the device signals the call eventfd; fd -1 unbinds (VHOST_SET_VRING_ERR is stored)', () => {
    const { file, mem, p, io } = openNet();
    const call = eventfdAt(p, 5);
    const d = up(file, mem);
    io(uapi.VHOST_SET_VRING_CALL, state(1, 5));
    const tx = d.vqs[1];
    tx.addBuf([tx.allocBuf(netFrame('01:00:5e:00:00:01'))], [], 'x');
    tx.kick();
    expect(call.read()).toBe(1);
    io(uapi.VHOST_SET_VRING_CALL, state(1, -1));
    tx.addBuf([tx.allocBuf(netFrame('01:00:5e:00:00:01'))], [], 'y');
    tx.kick();
    expect(call.pending).toBe(0);
    expect(io(uapi.VHOST_SET_VRING_ERR, state(1, 5))).toBe(0);
    expect(io(uapi.VHOST_SET_VRING_ERR, state(1, -1))).toBe(0);
  });

  it('the call eventfd is signalled only once the used element and index are in the driver\'s memory', () => {
    const { file, mem } = openNet();
    const d = up(file, mem);
    const [rx, tx] = d.vqs;
    const seen: number[] = [];
    /* What the client would see on wake-up: the used index of tx, read from its own memory. */
    file.setVringCall(1, {
      signal: () => seen.push(mem.readU16(tx.usedAddr + 2)),
      poll: () => () => undefined,
      put: () => undefined,
    });
    rx.addBuf([], [rx.allocBuf(64)], 'rx');
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'tx');
    tx.kick();
    expect(seen).toEqual([1]);
  });

  it('a replaced kick, call or err eventfd is put; the same one again is kept; fd -1 puts it', () => {
    const { file, mem, p, io } = openNet();
    const [k1, k2, c1, c2, e1] = [7, 8, 5, 6, 9].map((fd) => eventfdAt(p, fd, new CountedEventfd()) as CountedEventfd);
    up(file, mem);
    io(uapi.VHOST_SET_VRING_KICK, state(1, 7));
    io(uapi.VHOST_SET_VRING_KICK, state(1, 7));
    expect(k1.puts).toBe(0);
    io(uapi.VHOST_SET_VRING_KICK, state(1, 8));
    expect([k1.puts, k2.puts]).toEqual([1, 0]);
    io(uapi.VHOST_SET_VRING_CALL, state(1, 5));
    io(uapi.VHOST_SET_VRING_CALL, state(1, 6));
    expect([c1.puts, c2.puts]).toEqual([1, 0]);
    io(uapi.VHOST_SET_VRING_CALL, state(1, -1));
    expect(c2.puts).toBe(1);
    io(uapi.VHOST_SET_VRING_ERR, state(1, 9));
    io(uapi.VHOST_SET_VRING_ERR, state(1, -1));
    expect(e1.puts).toBe(1);
    /* The old kick is no longer polled. */
    let kicks = 0;
    const sim = file.v.vdpa.config;
    const real = sim.kickVq.bind(sim);
    sim.kickVq = (i: number) => {
      kicks++;
      real(i);
    };
    k1.signal();
    expect(kicks).toBe(0);
    k2.signal();
    expect(kicks).toBe(1);
  });

  it('VDPA_SET_VRING_ENABLE is set_vq_ready: any nonzero num enables', () => {
    const { file, sim, io } = owned();
    io(uapi.VHOST_VDPA_SET_VRING_ENABLE, state(2, 7));
    expect(sim.getVqReady(2)).toBe(true);
    file.setVringEnable(2, 0);
    expect(sim.getVqReady(2)).toBe(false);
  });

  it('VDPA_GET_VRING_GROUP: net vq 0 and 1 are group 0, the cvq group 1', () => {
    const { file, io } = owned();
    const arg = state(2, 0);
    io(uapi.VHOST_VDPA_GET_VRING_GROUP, arg);
    expect([arg.readUInt32LE(0), arg.readUInt32LE(4)]).toEqual([2, 1]);
    expect([file.getVringGroup(0), file.getVringGroup(1), file.getVringGroup(2)]).toEqual([0, 0, 1]);
  });

  it('VDPA_SET_GROUP_ASID: the group is checked against the groups (EINVAL), after the vring index check (ENOBUFS); asid >= nas is EINVAL', () => {
    const { file, sim, io, ioErr } = owned();
    expect(errnoOf(() => file.setGroupAsid(1, 2))).toBe('EINVAL');
    expect(ioErr(uapi.VHOST_VDPA_SET_GROUP_ASID, state(0, 5))).toBe('EINVAL');
    /* net: 3 vqs, 2 groups. Group 2 is a valid vq index but no group. */
    expect(ioErr(uapi.VHOST_VDPA_SET_GROUP_ASID, state(2, 1))).toBe('EINVAL');
    expect(ioErr(uapi.VHOST_VDPA_SET_GROUP_ASID, state(3, 1))).toBe('ENOBUFS');
    expect(io(uapi.VHOST_VDPA_SET_GROUP_ASID, state(1, 1))).toBe(0);
    expect(sim.iotlbForVq(2)).toBe(sim.iotlbs[1]);
    expect(sim.iotlbForVq(0)).toBe(sim.iotlbs[0]);
    const blk = openBlk();
    blk.io(uapi.VHOST_SET_OWNER);
    expect(blk.ioErr(uapi.VHOST_VDPA_SET_GROUP_ASID, state(1, 0))).toBe('ENOBUFS');
    expect(blk.ioErr(uapi.VHOST_VDPA_SET_GROUP_ASID, state(0, 1))).toBe('EINVAL');
  });

  it('VDPA_GET_VRING_DESC_GROUP: the sim has none, EOPNOTSUPP', () => {
    const { file, ioErr } = owned();
    expect(ioErr(uapi.VHOST_VDPA_GET_VRING_DESC_GROUP, state(0, 0))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.getVringDescGroup(1))).toBe('EOPNOTSUPP');
  });

  it('VDPA_GET_VRING_SIZE: 256 until DRIVER_OK, the ring\'s num after', () => {
    const { file, mem, io } = openNet();
    io(uapi.VHOST_SET_OWNER);
    expect(file.getVringSize(0)).toBe(256);
    file.setStatus(0);
    up(file, mem, { num: 64 });
    const arg = state(1, 0);
    io(uapi.VHOST_VDPA_GET_VRING_SIZE, arg);
    expect(arg.readUInt32LE(4)).toBe(64);
  });

  it('SET/GET_VRING_BUSYLOOP_TIMEOUT are generic vhost: stored per vq, 0 at open; GET (an _IOW) writes its answer to argp itself', () => {
    const { file, io } = owned();
    const arg = state(1, 0);
    expect(io(uapi.VHOST_GET_VRING_BUSYLOOP_TIMEOUT, arg)).toBe(0);
    expect([arg.readUInt32LE(0), arg.readUInt32LE(4)]).toEqual([1, 0]);
    expect(io(uapi.VHOST_SET_VRING_BUSYLOOP_TIMEOUT, state(1, 50))).toBe(0);
    expect(io(uapi.VHOST_GET_VRING_BUSYLOOP_TIMEOUT, arg)).toBe(0);
    expect([arg.readUInt32LE(0), arg.readUInt32LE(4)]).toEqual([1, 50]);
    expect(file.getVringBusyloopTimeout(0)).toBe(0);
  });
});

describe('memory table and dirty log', () => {
  it('SET_MEM_TABLE is accepted (and has no effect on vdpa), its regions read from the caller\'s memory; padding is EOPNOTSUPP, more than 64 regions E2BIG', () => {
    const { file, io, ioErr } = openNet();
    io(uapi.VHOST_SET_OWNER);
    const arg = Buffer.alloc(8 + 32);
    arg.writeUInt32LE(1, 0);
    arg.writeBigUInt64LE(0n, 8);
    arg.writeBigUInt64LE(0x1000n, 16);
    arg.writeBigUInt64LE(BigInt(USER_BASE), 24);
    expect(io(uapi.VHOST_SET_MEM_TABLE, arg)).toBe(0);
    expect(file.memTable?.nmaps).toBe(1);
    /* A region count the caller's memory does not hold: copy_from_user faults. */
    arg.writeUInt32LE(2, 0);
    expect(ioErr(uapi.VHOST_SET_MEM_TABLE, arg)).toBe('EFAULT');
    arg.writeUInt32LE(1, 0);
    arg.writeUInt32LE(1, 4);
    expect(ioErr(uapi.VHOST_SET_MEM_TABLE, arg)).toBe('EOPNOTSUPP');
    arg.writeUInt32LE(0, 4);
    arg.writeUInt32LE(65, 0);
    expect(ioErr(uapi.VHOST_SET_MEM_TABLE, arg)).toBe('E2BIG');
  });

  it('SET_LOG_BASE and SET_LOG_FD fail ENOTTY, with or without an owner', () => {
    const { file, ioErr, mem } = openNet();
    expect(ioErr(uapi.VHOST_SET_LOG_BASE, u64arg(0n))).toBe('ENOTTY');
    expect(ioErr(uapi.VHOST_SET_LOG_FD, Buffer.alloc(4))).toBe('ENOTTY');
    file.setOwner(mem);
    expect(errnoOf(() => file.setLogBase(0n))).toBe('ENOTTY');
    expect(errnoOf(() => file.setLogFd(3))).toBe('ENOTTY');
  });
});

describe('config interrupt (VDPA_SET_CONFIG_CALL)', () => {
  it('the config eventfd fires when the device needs a reset; fd -1 unbinds', () => {
    const { file, mem, sim, p, io } = openNet();
    const cfg = eventfdAt(p, 3);
    up(file, mem);
    expect(io(uapi.VHOST_VDPA_SET_CONFIG_CALL, i32arg(3))).toBe(0);
    sim.vqError(0, 'test');
    expect(cfg.read()).toBe(1);
    io(uapi.VHOST_VDPA_SET_CONFIG_CALL, i32arg(-1));
    sim.vqError(1, 'test');
    expect(cfg.pending).toBe(0);
  });

  it('a bad fd is EBADF, and drops the eventfd bound before (the kernel puts the old one first)', () => {
    const { file, mem, sim, p, io, ioErr } = openNet();
    const cfg = eventfdAt(p, 3, new CountedEventfd()) as CountedEventfd;
    up(file, mem);
    io(uapi.VHOST_VDPA_SET_CONFIG_CALL, i32arg(3));
    expect(ioErr(uapi.VHOST_VDPA_SET_CONFIG_CALL, i32arg(9))).toBe('EBADF');
    expect(cfg.puts).toBe(1);
    sim.vqError(0, 'test');
    expect(cfg.pending).toBe(0);
  });
});

describe('suspend and resume (VDPA_SUSPEND / VDPA_RESUME)', () => {
  it('before DRIVER_OK both are no-ops; after, a kick while suspended is held and replayed on resume', () => {
    const { file, mem, sim, io } = openNet();
    file.suspend();
    expect(sim.suspended).toBe(false);
    const d = up(file, mem);
    const [rx, tx] = d.vqs;
    rx.addBuf([], [rx.allocBuf(64)], 'rx');
    expect(io(uapi.VHOST_VDPA_SUSPEND)).toBe(0);
    expect(sim.suspended).toBe(true);
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'tx');
    tx.kick();
    expect(rx.getBuf()).toBeNull();
    expect(io(uapi.VHOST_VDPA_RESUME)).toBe(0);
    expect(rx.getBuf()).toEqual({ token: 'rx', len: 12 + 19 });
  });

  it('SET_STATUS while suspended sets the sim running again (vdpasim_set_status), though vhost still counts it suspended', () => {
    const { file, mem, sim } = openNet();
    const d = up(file, mem);
    const [rx, tx] = d.vqs;
    rx.addBuf([], [rx.allocBuf(64)], 'rx');
    file.suspend();
    file.setStatus(file.getStatus());
    expect(sim.running).toBe(true);
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'tx');
    tx.kick();
    expect(rx.getBuf()).toEqual({ token: 'rx', len: 12 + 19 });
    /* v->suspended is still set: ring addresses may still change after DRIVER_OK. */
    file.setVringBase(0, rx.lastUsedIdx);
  });

  it('a parent without suspend/resume: EOPNOTSUPP after DRIVER_OK', () => {
    const { k, sim } = rig('net');
    const v = noSuspendVhost(k, sim);
    const file = v.open();
    file.suspend();
    up(file, proc({ k, sim, v, tasks: k.tasks as never }, 1001).mm);
    expect(errnoOf(() => file.suspend())).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.resume())).toBe('EOPNOTSUPP');
  });
});

describe('IOTLB messages through write() (§5.4)', () => {
  const update = (iova: bigint, size: bigint, uaddr: bigint, perm = VHOST_MAP_RW, asid = 0) =>
    vhostMsgBuild({ type: VHOST_IOTLB_MSG_V2, asid, iotlb: { type: VHOST_IOTLB_UPDATE, iova, size, uaddr, perm } });
  const invalidate = (iova: bigint, size: bigint, asid = 0) =>
    vhostMsgBuild({ type: VHOST_IOTLB_MSG_V2, asid, iotlb: { type: VHOST_IOTLB_INVALIDATE, iova, size } });

  it('an UPDATE returns 72 and reaches the sim as a copy (vdpasim_set_map), not as the file\'s IOTLB', () => {
    const { file, sim, mem } = openNet();
    file.setOwner(mem);
    expect(file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE)))).toBe(72);
    expect(sim.iommuPt[0]).toBe(false);
    expect(sim.iotlbs[0].maps().map((m) => [m.start, m.last, m.addr])).toEqual([[0n, 0xfffn, BigInt(USER_BASE)]]);
    const fileIotlb = file.asIotlb(0, false)!;
    expect(fileIotlb).not.toBe(sim.iotlbs[0]);
    fileIotlb.addRange(0x10000, 0x10fff, USER_BASE, VHOST_MAP_RW);
    expect(sim.iotlbs[0].nmaps).toBe(1);
  });

  it('not owner, an overlap, or pages the owner does not have (a NULL uaddr, a range past its memory): EFAULT', () => {
    const { file, mem } = openNet();
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE))))).toBe('EFAULT');
    file.setOwner(mem);
    file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE)));
    expect(errnoOf(() => file.iotlbWrite(update(0x800n, 0x1000n, BigInt(USER_BASE))))).toBe('EFAULT');
    expect(errnoOf(() => file.iotlbWrite(update(0x10000n, 0x1000n, 0n)))).toBe('EFAULT');
    /* The pages pinned are counted from iova's offset in its page: two here, the second past the memory. */
    expect(errnoOf(() => file.iotlbWrite(update(0x10800n, 0x1000n, BigInt(USER_BASE + (4 << 20) - 0x1000))))).toBe('EFAULT');
    expect(file.iotlbWrite(update(0x10000n, 0x1000n, BigInt(USER_BASE + (4 << 20) - 0x1000)))).toBe(72);
  });

  it('a map is made of whole pinned pages (use_va=0): 0xFFFF bytes at 0xFFFF0000 map 16 pages, and unmap as one', () => {
    const { file, sim, mem } = openNet();
    file.setOwner(mem);
    expect(file.iotlbWrite(update(0xffff0000n, 0xffffn, BigInt(USER_BASE)))).toBe(72);
    expect(sim.iotlbs[0].maps().map((m) => [m.start, m.last, m.addr])).toEqual([[0xffff0000n, 0xffffffffn, BigInt(USER_BASE)]]);
    expect(file.iotlbWrite(invalidate(0xffff0000n, 0xffffn))).toBe(72);
    expect(sim.iotlbs[0].nmaps).toBe(0);
  });

  it('a short write or a bad type is EINVAL; UPDATE of size 0 is EINVAL', () => {
    const { file, mem } = openNet();
    file.setOwner(mem);
    expect(errnoOf(() => file.iotlbWrite(Buffer.alloc(39)))).toBe('EINVAL');
    const bad = update(0n, 0x1000n, BigInt(USER_BASE));
    bad.writeUInt32LE(3, 0);
    expect(errnoOf(() => file.iotlbWrite(bad))).toBe('EINVAL');
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0n, BigInt(USER_BASE))))).toBe('EINVAL');
  });

  it('INVALIDATE of size 0 is accepted (6.6+): at iova 0 it unmaps everything, elsewhere only a map spanning iova - 1 and iova', () => {
    const { file, sim, mem } = openNet();
    file.setOwner(mem);
    file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE)));
    file.iotlbWrite(update(0x2000n, 0x2000n, BigInt(USER_BASE + 0x2000)));
    expect(file.iotlbWrite(invalidate(0x1000n, 0n))).toBe(72);
    expect(sim.iotlbs[0].nmaps).toBe(2);
    expect(file.iotlbWrite(invalidate(0x3000n, 0n))).toBe(72);
    expect(sim.iotlbs[0].nmaps).toBe(1);
    expect(file.iotlbWrite(invalidate(0n, 0n))).toBe(72);
    expect(sim.iotlbs[0].nmaps).toBe(0);
  });

  it('with IOTLB_ASID acked the v2 asid is honoured: asid 1 maps the cvq\'s group once it is moved there; asid >= nas is EFAULT', () => {
    const { file, sim, mem } = openNet();
    file.setOwner(mem);
    file.setBackendFeatures((1n << 1n) | (1n << 3n));
    file.iotlbWrite(update(0n, 0x2000n, BigInt(USER_BASE), VHOST_MAP_RO, 1));
    expect(sim.iotlbs[1].nmaps).toBe(1);
    expect(sim.iommuPt).toEqual([true, false]);
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0x2000n, BigInt(USER_BASE), VHOST_MAP_RO, 2)))).toBe('EFAULT');
  });

  it('IOTLB failures are logged as the kernel logs them, on the vhost-vdpa device', () => {
    const { k, file, mem } = openNet();
    file.setOwner(mem);
    file.setBackendFeatures((1n << 1n) | (1n << 2n) | (1n << 3n));
    const from = k.log.records.length;
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE), VHOST_MAP_RW, 2)))).toBe('EFAULT');
    expect(errnoOf(() => file.iotlbWrite(invalidate(0n, 0x1000n, 1)))).toBe('EFAULT');
    file.iotlbWrite(vhostMsgBuild({ asid: 0, iotlb: { type: VHOST_IOTLB_BATCH_BEGIN } }));
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE), VHOST_MAP_RW, 1)))).toBe('EFAULT');
    expect(k.log.records.slice(from).map((r) => [r.level, r.text])).toEqual([
      ['err', " vhost-vdpa-0: can't find and alloc asid 2"],
      ['err', ' vhost-vdpa-0: no iotlb for asid 1'],
      ['info', ' vhost-vdpa-0: batch id 0 asid 1'],
    ]);
  });

  it('a batch reaches the sim once, at BATCH_END; INVALIDATE unmaps', () => {
    const { file, sim, mem } = openNet();
    file.setOwner(mem);
    let setMaps = 0;
    const real = sim.setMap.bind(sim);
    sim.setMap = (asid, iotlb) => {
      setMaps++;
      real(asid, iotlb);
    };
    file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_BATCH_BEGIN } }));
    file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE)));
    file.iotlbWrite(update(0x1000n, 0x1000n, BigInt(USER_BASE + 0x1000)));
    expect(setMaps).toBe(0);
    file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_BATCH_END } }));
    expect(setMaps).toBe(1);
    expect(sim.iotlbs[0].nmaps).toBe(2);
    file.iotlbWrite(invalidate(0n, 0x1000n));
    expect(sim.iotlbs[0].nmaps).toBe(1);
  });

  it('the device as Linux has it: write() is the IOTLB channel (vhost_msg v1 too), read() is EINVAL', () => {
    const { file, io, p } = openNet();
    const raw = file.asOpenFile();
    io(uapi.VHOST_SET_OWNER);
    expect(raw.write(update(0n, 0x1000n, BigInt(USER_BASE)), 0, p.cred)).toBe(72);
    const v1 = vhostMsgBuild({ type: 1, iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0x1000n, size: 0x1000n, uaddr: BigInt(USER_BASE + 0x1000), perm: VHOST_MAP_RO } });
    expect(raw.write(v1, 72, p.cred)).toBe(72);
    expect(errnoOf(() => raw.read(Buffer.alloc(72), 0))).toBe('EINVAL');
  });
});

describe('rust-vmm vhost\'s own assertions (vhost-vdpa-clients.md), through ioctl()', () => {
  it('net: VERSION_1, owner, status, config, rings, iova range, sizes, groups, backend features, maps', () => {
    const { io, ioErr, p, mem, file } = openNet();
    const u64 = (cmd: number): bigint => {
      const b = Buffer.alloc(8);
      io(cmd, b);
      return b.readBigUInt64LE(0);
    };
    const u32 = (cmd: number): number => {
      const b = Buffer.alloc(4);
      io(cmd, b);
      return b.readUInt32LE(0);
    };
    expect(u64(uapi.VHOST_GET_FEATURES) & (1n << 32n)).toBe(1n << 32n);
    expect(io(uapi.VHOST_SET_OWNER)).toBe(0);
    const st = Buffer.alloc(1);
    io(uapi.VHOST_VDPA_GET_STATUS, st);
    expect(st[0]).toBe(0);
    io(uapi.VHOST_VDPA_SET_STATUS, Buffer.from([1]));
    io(uapi.VHOST_VDPA_GET_STATUS, st);
    expect(st[0]).toBe(1);
    const cfg = configArg(0, 8);
    expect(io(uapi.VHOST_VDPA_GET_CONFIG, cfg)).toBe(0);
    expect(io(uapi.VHOST_VDPA_SET_CONFIG, cfg)).toBe(0);
    expect(ioErr(uapi.VHOST_SET_LOG_BASE, u64arg(0n))).toBe('ENOTTY');
    expect(ioErr(uapi.VHOST_SET_LOG_FD, i32arg(0))).toBe('ENOTTY');
    const max = Buffer.alloc(2);
    io(uapi.VHOST_VDPA_GET_VRING_NUM, max);
    expect(ioErr(uapi.VHOST_SET_VRING_NUM, state(0, max.readUInt16LE(0) + 1))).toBe('EINVAL');
    expect(io(uapi.VHOST_SET_VRING_NUM, state(0, 32))).toBe(0);
    const ring = mem.alloc(0x1000, 0x1000);
    expect(io(uapi.VHOST_SET_VRING_ADDR, vringAddr(0, { desc: BigInt(ring), avail: BigInt(ring + 0x200), used: BigInt(ring + 0x400) }))).toBe(0);
    expect(io(uapi.VHOST_SET_VRING_BASE, state(0, 1))).toBe(0);
    eventfdAt(p, 10);
    for (const cmd of [uapi.VHOST_SET_VRING_CALL, uapi.VHOST_SET_VRING_KICK, uapi.VHOST_SET_VRING_ERR]) expect(io(cmd, state(0, 10))).toBe(0);
    expect(io(uapi.VHOST_VDPA_SET_CONFIG_CALL, i32arg(10))).toBe(0);
    const range = Buffer.alloc(16);
    io(uapi.VHOST_VDPA_GET_IOVA_RANGE, range);
    expect([range.readBigUInt64LE(0), range.readBigUInt64LE(8)]).toEqual([0n, U64_MAX]);
    expect(u32(uapi.VHOST_VDPA_GET_CONFIG_SIZE)).toBe(24);
    expect(u32(uapi.VHOST_VDPA_GET_VQS_COUNT)).toBe(3);
    expect(u32(uapi.VHOST_VDPA_GET_GROUP_NUM)).toBe(2);
    expect(u32(uapi.VHOST_VDPA_GET_AS_NUM)).toBe(2);
    const group = state(0, 0xff);
    io(uapi.VHOST_VDPA_GET_VRING_GROUP, group);
    expect(group.readUInt32LE(4)).toBe(0);
    const base = state(0, 0);
    io(uapi.VHOST_GET_VRING_BASE, base);
    expect(base.readUInt32LE(4)).toBe(1);
    expect(io(uapi.VHOST_VDPA_SET_VRING_ENABLE, state(0, 1))).toBe(0);
    expect(io(uapi.VHOST_VDPA_SET_VRING_ENABLE, state(0, 0))).toBe(0);
    expect(u64(uapi.VHOST_GET_BACKEND_FEATURES) & (1n << 1n)).toBe(1n << 1n);
    expect(io(uapi.VHOST_VDPA_SUSPEND)).toBe(0);
    /* dma_map (an IOTLB write) of a NULL uaddr fails; 0xFFFF bytes at 0xFFFF0000 map and unmap. */
    expect(errnoOf(() => file.write(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0xffff0000n, size: 0xffffn, uaddr: 0n, perm: VHOST_MAP_RW } }), p.cred))).toBe('EFAULT');
    const buf = mem.alloc(0x10000, 0x1000);
    expect(file.write(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0xffff0000n, size: 0xffffn, uaddr: BigInt(buf), perm: VHOST_MAP_RW } }), p.cred)).toBe(72);
    expect(file.write(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_INVALIDATE, iova: 0xffff0000n, size: 0xffffn } }), p.cred)).toBe(72);
  });

  it('blk: config_size 96 in the kernel modelled (rust-vmm\'s 60 predates secure-erase and zoned fields), 1 vq, 1 group, 1 address space, vq 0 in group 0', () => {
    const { io } = openBlk();
    io(uapi.VHOST_SET_OWNER);
    const u32 = (cmd: number, arg = Buffer.alloc(4)): number => (io(cmd, arg), arg.readUInt32LE(cmd === uapi.VHOST_VDPA_GET_VRING_GROUP ? 4 : 0));
    expect([
      u32(uapi.VHOST_VDPA_GET_CONFIG_SIZE),
      u32(uapi.VHOST_VDPA_GET_VQS_COUNT),
      u32(uapi.VHOST_VDPA_GET_GROUP_NUM),
      u32(uapi.VHOST_VDPA_GET_AS_NUM),
      u32(uapi.VHOST_VDPA_GET_VRING_GROUP, state(0, 0xff)),
    ]).toEqual([96, 1, 1, 1, 0]);
  });
});

describe('open and close (§5.1–5.2)', () => {
  it('a second open fails EBUSY; after close the node opens again', () => {
    const { v } = rig('net');
    const f = v.open();
    expect(errnoOf(() => v.open())).toBe('EBUSY');
    f.release();
    v.open().release();
  });

  it('open resets the device; close resets it again and unbinds the owner\'s memory and maps', () => {
    const r = rig('net');
    const { v, sim } = r;
    sim.setStatus(0xf);
    const gen = sim.getGeneration();
    const file = v.open();
    expect(sim.getStatus()).toBe(0);
    expect(sim.getGeneration()).toBe(gen + 1);
    const p = proc(r);
    up(file, p.mm);
    expect(sim.getStatus()).toBe(0xf);
    expect(sim.mm).toBe(p.mm);
    file.release();
    expect(sim.getStatus()).toBe(0);
    expect(sim.mm).toBeNull();
    expect(sim.iommuPt).toEqual([true, true]);
    expect(sim.vqs.every((q) => !q.ready && q.vring === null)).toBe(true);
  });

  it('release puts every eventfd (kick, call, err, config) and the owner\'s memory; the next opener gets a clean device', () => {
    const { file, p, io, sim, v, mem } = openNet();
    let mmputs = 0;
    mem.mmput = () => void mmputs++;
    io(uapi.VHOST_SET_OWNER);
    const fds = [3, 4, 5, 6].map((fd) => eventfdAt(p, fd, new CountedEventfd()) as CountedEventfd);
    io(uapi.VHOST_SET_VRING_KICK, state(0, 3));
    io(uapi.VHOST_SET_VRING_CALL, state(0, 4));
    io(uapi.VHOST_SET_VRING_ERR, state(0, 5));
    io(uapi.VHOST_VDPA_SET_CONFIG_CALL, i32arg(6));
    file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0n, size: 0x1000n, uaddr: BigInt(USER_BASE), perm: VHOST_MAP_RW } }));
    expect(fds.map((e) => e.puts)).toEqual([0, 0, 0, 0]);
    file.release();
    expect(fds.map((e) => e.puts)).toEqual([1, 1, 1, 1]);
    expect(mmputs).toBe(1);
    expect(sim.mm).toBeNull();
    expect(sim.iotlbs[0].maps().map((m) => [m.start, m.last])).toEqual([
      [0n, U64_MAX / 2n],
      [U64_MAX / 2n + 1n, U64_MAX],
    ]);
    /* A kick on the old eventfd reaches nothing. */
    let kicks = 0;
    sim.kickVq = () => void kicks++;
    fds[0].signal();
    expect(kicks).toBe(0);
    const again = v.open();
    expect([again.getStatus(), again.owner, again.asIotlb(0, false)]).toEqual([0, false, undefined]);
  });

  it('a closed file answers nothing (EBADF)', () => {
    const { file, io } = openNet();
    file.release();
    expect(errnoOf(() => file.getFeatures())).toBe('EBADF');
    expect(errnoOf(() => io(uapi.VHOST_SET_OWNER))).toBe('EBADF');
  });
});

describe('unbind or delete while open (§5.6)', () => {
  it('unbind waits on the Completion until the file is closed', async () => {
    const { k, v } = rig('net');
    const file = v.open();
    const unbind = k.fs.lookup('/sys/bus/vdpa/drivers/vhost_vdpa/unbind') as unknown as {
      open(f: object): { write(b: Buffer, p: number): unknown };
    };
    const r = unbind.open({ read: false, write: true, nonblock: false }).write(Buffer.from('vdpa0\n'), 0);
    let done = false;
    const p = settle(r as never).then(() => (done = true));
    await new Promise((res) => setTimeout(res, 10));
    expect(done).toBe(false);
    expect(k.fs.lookup('/dev/vhost-vdpa-0')).toBeUndefined();
    file.release();
    await p;
    expect(done).toBe(true);
  });

  it('vdpa dev del waits until the file is closed', async () => {
    const { k, v } = rig('net');
    const file = v.open();
    const r = vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]);
    let done = false;
    const p = settle(r).then(() => (done = true));
    await new Promise((res) => setTimeout(res, 10));
    expect(done).toBe(false);
    file.release();
    await p;
    expect(k.fs.lookup('/sys/devices/vdpa0')).toBeUndefined();
  });
});
