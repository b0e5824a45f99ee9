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
import { Eventfd } from '../../src/drivers/vhost/vdpa_file';
import { vhostMsgBuild, VHOST_IOTLB_BATCH_BEGIN, VHOST_IOTLB_BATCH_END, VHOST_IOTLB_INVALIDATE, VHOST_IOTLB_MSG_V2, VHOST_IOTLB_UPDATE } from '../../src/drivers/vhost/vhost_msg';
import { VHOST_MAP_RO, VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import * as uapi from '../../src/include/uapi/vhost';
import {
  BASE_FEATURES,
  netFrame,
  rig,
  STATUS_ACK,
  STATUS_DRIVER,
  STATUS_FEATURES_OK,
  up,
  USER_BASE,
  userMemory,
} from './vhost_testlib';
import { errnoOf } from './sysfs_io';

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const NET_FEATURES = 0x308830028n;
const BLK_FEATURES = 0x308007646n;

function openNet(fds?: Map<number, Eventfd>) {
  const r = rig('net');
  const mem = userMemory();
  const file = r.v.open(mem, fds);
  return { ...r, mem, file };
}

function openBlk() {
  const r = rig('blk');
  const mem = userMemory();
  const file = r.v.open(mem);
  return { ...r, mem, file };
}

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
const ioctlErr = (f: { ioctl(c: number, a?: Buffer): number }, cmd: number, arg?: Buffer): string => errnoOf(() => f.ioctl(cmd, arg));

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
    const { file } = openNet();
    expect(file.ioctl(uapi.VHOST_SET_OWNER)).toBe(0);
    expect(ioctlErr(file, uapi.VHOST_SET_OWNER)).toBe('EBUSY');
    expect(errnoOf(() => file.setOwner())).toBe('EBUSY');
  });

  it('every "Own? yes" ioctl fails EPERM before SET_OWNER, even with a bad index', () => {
    const { file } = openNet();
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
      [uapi.VHOST_VDPA_SET_VRING_ENABLE, state(0, 1)],
      [uapi.VHOST_VDPA_GET_VRING_GROUP, state(0, 0)],
      [uapi.VHOST_VDPA_SET_GROUP_ASID, state(0, 0)],
      [uapi.VHOST_VDPA_GET_VRING_DESC_GROUP, state(0, 0)],
      [uapi.VHOST_VDPA_GET_VRING_SIZE, state(0, 0)],
    ];
    for (const [cmd, arg] of owned) expect(ioctlErr(file, cmd, arg), cmd.toString(16)).toBe('EPERM');
    expect(errnoOf(() => file.setVringNum(7, 256))).toBe('EPERM');
    expect(errnoOf(() => file.getVringGroup(0))).toBe('EPERM');
    expect(errnoOf(() => file.resetOwner())).toBe('EPERM');
  });

  it('"Own? no" ioctls work without an owner', () => {
    const { file } = openNet();
    const out = Buffer.alloc(16);
    expect(file.ioctl(uapi.VHOST_GET_FEATURES, out)).toBe(0);
    expect(out.readBigUInt64LE(0)).toBe(NET_FEATURES);
    expect(file.ioctl(uapi.VHOST_VDPA_GET_DEVICE_ID, out)).toBe(0);
    expect(file.ioctl(uapi.VHOST_VDPA_GET_VQS_COUNT, out)).toBe(0);
    expect(file.ioctl(uapi.VHOST_VDPA_GET_STATUS, out)).toBe(0);
    expect(file.ioctl(uapi.VHOST_VDPA_SET_STATUS, Buffer.from([STATUS_ACK]))).toBe(0);
    expect(file.ioctl(uapi.VHOST_SET_FEATURES, u64arg(BASE_FEATURES))).toBe(0);
    expect(file.ioctl(uapi.VHOST_VDPA_SUSPEND)).toBe(0);
  });

  it('an unknown ioctl is EPERM before SET_OWNER, ENOTTY after (ENOBUFS if its first u32 is a bad index)', () => {
    const { file } = openNet();
    const UNKNOWN = 0x4008af99;
    expect(ioctlErr(file, UNKNOWN, state(0, 0))).toBe('EPERM');
    file.setOwner();
    expect(ioctlErr(file, UNKNOWN, state(0, 0))).toBe('ENOTTY');
    expect(ioctlErr(file, UNKNOWN, state(3, 0))).toBe('ENOBUFS');
  });

  it('RESET_OWNER is not implemented by vhost-vdpa: EPERM without owner, EFAULT with (its NULL argument is read as an index)', () => {
    const { file } = openNet();
    file.setOwner();
    expect(ioctlErr(file, uapi.VHOST_RESET_OWNER)).toBe('EFAULT');
    expect(errnoOf(() => file.resetOwner())).toBe('EFAULT');
  });

  it('copy_from_user/copy_to_user on a short argument is EFAULT', () => {
    const { file } = openNet();
    expect(ioctlErr(file, uapi.VHOST_GET_FEATURES, Buffer.alloc(4))).toBe('EFAULT');
    expect(ioctlErr(file, uapi.VHOST_SET_FEATURES, Buffer.alloc(7))).toBe('EFAULT');
    file.setOwner();
    expect(ioctlErr(file, uapi.VHOST_SET_VRING_NUM, Buffer.alloc(2))).toBe('EFAULT');
  });
});

describe('features (GET/SET_FEATURES, GET/SET_BACKEND_FEATURES)', () => {
  it('GET_FEATURES is the device features: net 0x308830028, blk 0x308007646', () => {
    expect(openNet().file.getFeatures()).toBe(NET_FEATURES);
    expect(openBlk().file.getFeatures()).toBe(BLK_FEATURES);
  });

  it('SET_FEATURES without ACCESS_PLATFORM is refused by the device: EINVAL', () => {
    const { file } = openNet();
    expect(errnoOf(() => file.setFeatures(1n << 32n))).toBe('EINVAL');
    expect(ioctlErr(file, uapi.VHOST_SET_FEATURES, u64arg(1n << 32n))).toBe('EINVAL');
  });

  it('SET_FEATURES after FEATURES_OK fails EBUSY (before the argument is even read)', () => {
    const { file, sim } = openNet();
    file.setStatus(STATUS_ACK | STATUS_DRIVER);
    file.setFeatures(BASE_FEATURES | (1n << 5n));
    file.setStatus(STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
    expect(errnoOf(() => file.setFeatures(BASE_FEATURES))).toBe('EBUSY');
    expect(ioctlErr(file, uapi.VHOST_SET_FEATURES, Buffer.alloc(0))).toBe('EBUSY');
    expect(sim.getDriverFeatures()).toBe(BASE_FEATURES | (1n << 5n));
  });

  it('SET_FEATURES stores features & supported', () => {
    const { file, sim } = openNet();
    file.setFeatures(BASE_FEATURES | (1n << 40n));
    expect(sim.getDriverFeatures()).toBe(BASE_FEATURES);
  });

  it('GET_BACKEND_FEATURES is 0x17E (MSG_V2 BATCH ASID SUSPEND RESUME ENABLE_AFTER_DRIVER_OK PERSIST)', () => {
    const { file } = openNet();
    const out = Buffer.alloc(8);
    file.ioctl(uapi.VHOST_GET_BACKEND_FEATURES, out);
    expect(out.readBigUInt64LE()).toBe(0x17en);
    expect(file.getBackendFeatures()).toBe(0x17en);
  });

  it('SET_BACKEND_FEATURES with an unsupported bit fails EOPNOTSUPP; DESC_ASID without IOTLB_ASID is EINVAL', () => {
    const { file } = openNet();
    expect(errnoOf(() => file.setBackendFeatures(1n << 0n))).toBe('EOPNOTSUPP');
    expect(ioctlErr(file, uapi.VHOST_SET_BACKEND_FEATURES, u64arg(1n << 9n))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.setBackendFeatures(1n << 7n))).toBe('EINVAL');
    /* The sim has no descriptor groups. */
    expect(errnoOf(() => file.setBackendFeatures((1n << 7n) | (1n << 3n)))).toBe('EOPNOTSUPP');
    expect(file.ioctl(uapi.VHOST_SET_BACKEND_FEATURES, u64arg(0x17en))).toBe(0);
  });

  it('SET_BACKEND_FEATURES SUSPEND on a parent without suspend fails EOPNOTSUPP', () => {
    const { k, sim } = rig('net');
    const v = noSuspendVhost(k, sim);
    const file = v.open(userMemory());
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
    const { file } = openNet();
    const out = Buffer.alloc(16);
    const u32 = (cmd: number): number => (file.ioctl(cmd, out), out.readUInt32LE(0));
    expect(u32(uapi.VHOST_VDPA_GET_DEVICE_ID)).toBe(1);
    expect(u32(uapi.VHOST_VDPA_GET_VQS_COUNT)).toBe(3);
    expect(u32(uapi.VHOST_VDPA_GET_GROUP_NUM)).toBe(2);
    expect(u32(uapi.VHOST_VDPA_GET_AS_NUM)).toBe(2);
    expect(u32(uapi.VHOST_VDPA_GET_CONFIG_SIZE)).toBe(24);
    out.fill(0xee);
    file.ioctl(uapi.VHOST_VDPA_GET_VRING_NUM, out);
    expect(out.readUInt16LE(0)).toBe(256);
    expect(out[2]).toBe(0xee); /* a u16, nothing more */
    file.ioctl(uapi.VHOST_VDPA_GET_IOVA_RANGE, out);
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
    const { file, sim } = openNet();
    file.setStatus(STATUS_ACK | STATUS_DRIVER);
    expect(errnoOf(() => file.setStatus(STATUS_ACK))).toBe('EINVAL');
    expect(ioctlErr(file, uapi.VHOST_VDPA_SET_STATUS, Buffer.from([STATUS_DRIVER]))).toBe('EINVAL');
    const out = Buffer.alloc(1);
    file.ioctl(uapi.VHOST_VDPA_GET_STATUS, out);
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
});

describe('config space (VDPA_GET_CONFIG / VDPA_SET_CONFIG)', () => {
  it('GET_CONFIG reads {off, len, buf}: the net config with status LINK_UP and mtu 1500', () => {
    const { file } = openNet();
    const arg = Buffer.alloc(8 + 24);
    arg.writeUInt32LE(0, 0);
    arg.writeUInt32LE(24, 4);
    expect(file.ioctl(uapi.VHOST_VDPA_GET_CONFIG, arg)).toBe(0);
    const cfg = arg.subarray(8);
    expect(cfg.readUInt16LE(6)).toBe(1);
    expect(cfg.readUInt16LE(10)).toBe(1500);
    expect(file.getConfig(10, 2).readUInt16LE(0)).toBe(1500);
  });

  it('len 0, an offset past the end, or a range running past it fails EINVAL', () => {
    const { file } = openNet();
    expect(errnoOf(() => file.getConfig(0, 0))).toBe('EINVAL');
    expect(errnoOf(() => file.getConfig(25, 1))).toBe('EINVAL');
    expect(errnoOf(() => file.getConfig(20, 8))).toBe('EINVAL');
    expect(errnoOf(() => file.setConfig(0, Buffer.alloc(0)))).toBe('EINVAL');
    expect(errnoOf(() => file.setConfig(23, Buffer.alloc(2)))).toBe('EINVAL');
    const arg = Buffer.alloc(8);
    arg.writeUInt32LE(24, 0);
    arg.writeUInt32LE(1, 4);
    expect(ioctlErr(file, uapi.VHOST_VDPA_GET_CONFIG, arg)).toBe('EINVAL');
    /* A valid header with no room for the data: copy_to_user faults. */
    arg.writeUInt32LE(0, 0);
    arg.writeUInt32LE(6, 4);
    expect(ioctlErr(file, uapi.VHOST_VDPA_GET_CONFIG, arg)).toBe('EFAULT');
  });

  it('SET_CONFIG writes the config space (the MAC)', () => {
    const { file } = openNet();
    const arg = Buffer.concat([Buffer.alloc(8), Buffer.from([2, 0, 0, 0, 0, 7])]);
    arg.writeUInt32LE(0, 0);
    arg.writeUInt32LE(6, 4);
    expect(file.ioctl(uapi.VHOST_VDPA_SET_CONFIG, arg)).toBe(0);
    expect([...file.getConfig(0, 6)]).toEqual([2, 0, 0, 0, 0, 7]);
  });
});

describe('vrings: index first (ENOBUFS), then each ioctl\'s own rules', () => {
  function owned() {
    const o = openNet();
    o.file.setOwner();
    return o;
  }

  it('every vring ioctl with index >= nvqs fails ENOBUFS', () => {
    const { file } = owned();
    for (const cmd of [
      uapi.VHOST_SET_VRING_NUM,
      uapi.VHOST_SET_VRING_BASE,
      uapi.VHOST_GET_VRING_BASE,
      uapi.VHOST_SET_VRING_KICK,
      uapi.VHOST_SET_VRING_CALL,
      uapi.VHOST_SET_VRING_ERR,
      uapi.VHOST_VDPA_SET_VRING_ENABLE,
      uapi.VHOST_VDPA_GET_VRING_GROUP,
      uapi.VHOST_VDPA_SET_GROUP_ASID,
      uapi.VHOST_VDPA_GET_VRING_DESC_GROUP,
      uapi.VHOST_VDPA_GET_VRING_SIZE,
    ])
      expect(ioctlErr(file, cmd, state(3, 1)), cmd.toString(16)).toBe('ENOBUFS');
    expect(ioctlErr(file, uapi.VHOST_SET_VRING_ADDR, vringAddr(3, {}))).toBe('ENOBUFS');
    expect(errnoOf(() => file.setVringNum(3, 256))).toBe('ENOBUFS');
    expect(errnoOf(() => file.setVringAddr(0xffffffff, { desc: 0, used: 0, avail: 0 }))).toBe('ENOBUFS');
    expect(errnoOf(() => file.setVringEnable(-1, true))).toBe('ENOBUFS');
  });

  it('SET_VRING_NUM: a power of two up to 0xffff, else EINVAL', () => {
    const { file, sim } = owned();
    for (const bad of [0, 3, 100, 0x10000, 0x20000]) expect(errnoOf(() => file.setVringNum(0, bad)), String(bad)).toBe('EINVAL');
    expect(file.ioctl(uapi.VHOST_SET_VRING_NUM, state(1, 128))).toBe(0);
    expect(sim.vqs[1].num).toBe(128);
    file.setVringNum(0, 32768);
    expect(sim.vqs[0].num).toBe(32768);
  });

  it('SET_VRING_ADDR: flags other than LOG fail EOPNOTSUPP; misaligned avail (2) or used (4) fail EINVAL; desc is not checked', () => {
    const { file, sim } = owned();
    expect(ioctlErr(file, uapi.VHOST_SET_VRING_ADDR, vringAddr(0, { flags: 2 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.setVringAddr(0, { flags: 0x100, desc: 0, used: 0, avail: 0 }))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.setVringAddr(0, { desc: 0, used: 0x1000, avail: 0x2001 }))).toBe('EINVAL');
    expect(errnoOf(() => file.setVringAddr(0, { desc: 0, used: 0x1002, avail: 0x2000 }))).toBe('EINVAL');
    expect(errnoOf(() => file.setVringAddr(0, { desc: 0, used: 0x1000, avail: 0x2000, log: 2 }))).toBe('EINVAL');
    expect(file.ioctl(uapi.VHOST_SET_VRING_ADDR, vringAddr(0, { flags: 1, desc: 0x3008n, used: 0x1000n, avail: 0x2000n }))).toBe(0);
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
    const { file, mem } = openNet();
    file.setOwner();
    expect(errnoOf(() => file.setVringBase(1, 0x10000))).toBe('EINVAL');
    expect(file.ioctl(uapi.VHOST_SET_VRING_BASE, state(1, 0xffff))).toBe(0);
    expect(file.getVringBase(1)).toBe(0xffff);
    file.setStatus(0);
    const d = up(file, mem);
    const tx = d.vqs[1];
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'a');
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'b');
    tx.kick();
    const arg = state(1, 0);
    expect(file.ioctl(uapi.VHOST_GET_VRING_BASE, arg)).toBe(0);
    /* Two frames consumed (the rx overrun completes the first and stops). */
    expect(arg.readUInt32LE(0)).toBe(1);
    expect(arg.readUInt32LE(4)).toBe(1);
  });

  it('SET_VRING_KICK: signalling the eventfd kicks the vq; fd -1 unbinds; an fd that is no eventfd is EBADF', () => {
    const kick = new Eventfd();
    const fds = new Map([[7, kick]]);
    const { file, mem, sim } = openNet(fds);
    up(file, mem);
    let kicked = 0;
    const real = sim.kickVq.bind(sim);
    sim.kickVq = (i: number) => {
      kicked++;
      real(i);
    };
    expect(file.ioctl(uapi.VHOST_SET_VRING_KICK, state(1, 7))).toBe(0);
    kick.signal();
    expect(kicked).toBe(1);
    expect(file.ioctl(uapi.VHOST_SET_VRING_KICK, state(1, -1))).toBe(0);
    kick.signal();
    expect(kicked).toBe(1);
    expect(ioctlErr(file, uapi.VHOST_SET_VRING_KICK, state(1, 8))).toBe('EBADF');
    /* vhost_poll_start(): binding an eventfd that is already readable kicks at once. */
    file.setVringKick(1, kick);
    expect(kicked).toBe(2);
  });

  it('SET_VRING_CALL: the device signals the call eventfd; fd -1 unbinds (VHOST_SET_VRING_ERR is stored)', () => {
    const call = new Eventfd();
    const { file, mem } = openNet(new Map([[5, call]]));
    const d = up(file, mem);
    file.ioctl(uapi.VHOST_SET_VRING_CALL, state(1, 5));
    const tx = d.vqs[1];
    tx.addBuf([tx.allocBuf(netFrame('01:00:5e:00:00:01'))], [], 'x');
    tx.kick();
    expect(call.read()).toBe(1);
    file.ioctl(uapi.VHOST_SET_VRING_CALL, state(1, -1));
    tx.addBuf([tx.allocBuf(netFrame('01:00:5e:00:00:01'))], [], 'y');
    tx.kick();
    expect(call.pending).toBe(0);
    expect(file.ioctl(uapi.VHOST_SET_VRING_ERR, state(1, 5))).toBe(0);
    expect(file.ioctl(uapi.VHOST_SET_VRING_ERR, state(1, -1))).toBe(0);
  });

  it('VDPA_SET_VRING_ENABLE is set_vq_ready: any nonzero num enables', () => {
    const { file, sim } = owned();
    file.ioctl(uapi.VHOST_VDPA_SET_VRING_ENABLE, state(2, 7));
    expect(sim.getVqReady(2)).toBe(true);
    file.setVringEnable(2, 0);
    expect(sim.getVqReady(2)).toBe(false);
  });

  it('VDPA_GET_VRING_GROUP: net vq 0 and 1 are group 0, the cvq group 1', () => {
    const { file } = owned();
    const arg = state(2, 0);
    file.ioctl(uapi.VHOST_VDPA_GET_VRING_GROUP, arg);
    expect([arg.readUInt32LE(0), arg.readUInt32LE(4)]).toEqual([2, 1]);
    expect([file.getVringGroup(0), file.getVringGroup(1), file.getVringGroup(2)]).toEqual([0, 0, 1]);
  });

  it('VDPA_SET_GROUP_ASID: asid >= nas fails EINVAL; the group\'s vqs move to the new address space', () => {
    const { file, sim } = owned();
    expect(errnoOf(() => file.setGroupAsid(1, 2))).toBe('EINVAL');
    expect(ioctlErr(file, uapi.VHOST_VDPA_SET_GROUP_ASID, state(0, 5))).toBe('EINVAL');
    file.setGroupAsid(1, 1);
    expect(sim.iotlbForVq(2)).toBe(sim.iotlbs[1]);
    expect(sim.iotlbForVq(0)).toBe(sim.iotlbs[0]);
    /* vdpasim checks group > ngroups: group 2 (== ngroups) passes, and moves nothing. */
    expect(file.ioctl(uapi.VHOST_VDPA_SET_GROUP_ASID, state(2, 1))).toBe(0);
  });

  it('VDPA_GET_VRING_DESC_GROUP: the sim has none, EOPNOTSUPP', () => {
    const { file } = owned();
    expect(ioctlErr(file, uapi.VHOST_VDPA_GET_VRING_DESC_GROUP, state(0, 0))).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.getVringDescGroup(1))).toBe('EOPNOTSUPP');
  });

  it('VDPA_GET_VRING_SIZE: 256 until DRIVER_OK, the ring\'s num after', () => {
    const { file, mem } = openNet();
    file.setOwner();
    expect(file.getVringSize(0)).toBe(256);
    file.setStatus(0);
    up(file, mem, { num: 64 });
    const arg = state(1, 0);
    file.ioctl(uapi.VHOST_VDPA_GET_VRING_SIZE, arg);
    expect(arg.readUInt32LE(4)).toBe(64);
  });
});

describe('memory table and dirty log', () => {
  it('SET_MEM_TABLE is accepted (and has no effect on vdpa); padding is EOPNOTSUPP, more than 64 regions E2BIG', () => {
    const { file } = openNet();
    file.setOwner();
    const arg = Buffer.alloc(8 + 32);
    arg.writeUInt32LE(1, 0);
    arg.writeBigUInt64LE(0n, 8);
    arg.writeBigUInt64LE(0x1000n, 16);
    arg.writeBigUInt64LE(BigInt(USER_BASE), 24);
    expect(file.ioctl(uapi.VHOST_SET_MEM_TABLE, arg)).toBe(0);
    expect(file.memTable?.nmaps).toBe(1);
    arg.writeUInt32LE(1, 4);
    expect(ioctlErr(file, uapi.VHOST_SET_MEM_TABLE, arg)).toBe('EOPNOTSUPP');
    arg.writeUInt32LE(0, 4);
    arg.writeUInt32LE(65, 0);
    expect(ioctlErr(file, uapi.VHOST_SET_MEM_TABLE, arg)).toBe('E2BIG');
  });

  it('SET_LOG_BASE and SET_LOG_FD fail ENOTTY, with or without an owner', () => {
    const { file } = openNet();
    expect(ioctlErr(file, uapi.VHOST_SET_LOG_BASE, u64arg(0n))).toBe('ENOTTY');
    expect(ioctlErr(file, uapi.VHOST_SET_LOG_FD, Buffer.alloc(4))).toBe('ENOTTY');
    file.setOwner();
    expect(errnoOf(() => file.setLogBase(0n))).toBe('ENOTTY');
    expect(errnoOf(() => file.setLogFd(3))).toBe('ENOTTY');
  });
});

describe('config interrupt (VDPA_SET_CONFIG_CALL)', () => {
  it('the config eventfd fires when the device needs a reset; fd -1 unbinds', () => {
    const cfg = new Eventfd();
    const { file, mem, sim } = openNet(new Map([[3, cfg]]));
    up(file, mem);
    expect(file.ioctl(uapi.VHOST_VDPA_SET_CONFIG_CALL, Buffer.from([3, 0, 0, 0]))).toBe(0);
    sim.vqError(0, 'test');
    expect(cfg.read()).toBe(1);
    file.ioctl(uapi.VHOST_VDPA_SET_CONFIG_CALL, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    sim.vqError(1, 'test');
    expect(cfg.pending).toBe(0);
    expect(ioctlErr(file, uapi.VHOST_VDPA_SET_CONFIG_CALL, Buffer.from([9, 0, 0, 0]))).toBe('EBADF');
  });
});

describe('suspend and resume (VDPA_SUSPEND / VDPA_RESUME)', () => {
  it('before DRIVER_OK both are no-ops; after, a kick while suspended is held and replayed on resume', () => {
    const { file, mem, sim } = openNet();
    file.suspend();
    expect(sim.suspended).toBe(false);
    const d = up(file, mem);
    const [rx, tx] = d.vqs;
    rx.addBuf([], [rx.allocBuf(64)], 'rx');
    expect(file.ioctl(uapi.VHOST_VDPA_SUSPEND)).toBe(0);
    expect(sim.suspended).toBe(true);
    tx.addBuf([tx.allocBuf(netFrame('ff:ff:ff:ff:ff:ff'))], [], 'tx');
    tx.kick();
    expect(rx.getBuf()).toBeNull();
    expect(file.ioctl(uapi.VHOST_VDPA_RESUME)).toBe(0);
    expect(rx.getBuf()).toEqual({ token: 'rx', len: 12 + 19 });
  });

  it('a parent without suspend/resume: EOPNOTSUPP after DRIVER_OK', () => {
    const { k, sim } = rig('net');
    const v = noSuspendVhost(k, sim);
    const file = v.open(userMemory());
    file.suspend();
    up(file, file.mem);
    expect(errnoOf(() => file.suspend())).toBe('EOPNOTSUPP');
    expect(errnoOf(() => file.resume())).toBe('EOPNOTSUPP');
  });
});

describe('IOTLB messages through write() (§5.4)', () => {
  const update = (iova: bigint, size: bigint, uaddr: bigint, perm = VHOST_MAP_RW, asid = 0) =>
    vhostMsgBuild({ type: VHOST_IOTLB_MSG_V2, asid, iotlb: { type: VHOST_IOTLB_UPDATE, iova, size, uaddr, perm } });

  it('an UPDATE returns 72 and reaches the sim as a copy (vdpasim_set_map), not as the file\'s IOTLB', () => {
    const { file, sim } = openNet();
    file.setOwner();
    expect(file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE)))).toBe(72);
    expect(sim.iommuPt[0]).toBe(false);
    expect(sim.iotlbs[0].maps().map((m) => [m.start, m.last, m.addr])).toEqual([[0n, 0xfffn, BigInt(USER_BASE)]]);
    const fileIotlb = file.asIotlb(0, false)!;
    expect(fileIotlb).not.toBe(sim.iotlbs[0]);
    fileIotlb.addRange(0x10000, 0x10fff, USER_BASE, VHOST_MAP_RW);
    expect(sim.iotlbs[0].nmaps).toBe(1);
  });

  it('not owner, an overlap, or a user address outside the opener\'s memory: EFAULT', () => {
    const { file } = openNet();
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE))))).toBe('EFAULT');
    file.setOwner();
    file.iotlbWrite(update(0n, 0x1000n, BigInt(USER_BASE)));
    expect(errnoOf(() => file.iotlbWrite(update(0x800n, 0x1000n, BigInt(USER_BASE))))).toBe('EFAULT');
    expect(errnoOf(() => file.iotlbWrite(update(0x10000n, 0x1000n, 0x1000n)))).toBe('EFAULT');
    expect(errnoOf(() => file.iotlbWrite(update(0x10000n, 0x1000n, BigInt(USER_BASE + (4 << 20) - 0x800))))).toBe('EFAULT');
  });

  it('a short write or a bad type is EINVAL; UPDATE of size 0 is EINVAL', () => {
    const { file } = openNet();
    file.setOwner();
    expect(errnoOf(() => file.iotlbWrite(Buffer.alloc(39)))).toBe('EINVAL');
    const bad = update(0n, 0x1000n, BigInt(USER_BASE));
    bad.writeUInt32LE(3, 0);
    expect(errnoOf(() => file.iotlbWrite(bad))).toBe('EINVAL');
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0n, BigInt(USER_BASE))))).toBe('EINVAL');
  });

  it('with IOTLB_ASID acked the v2 asid is honoured: asid 1 maps the cvq\'s group once it is moved there; asid >= nas is EFAULT', () => {
    const { file, sim } = openNet();
    file.setOwner();
    file.setBackendFeatures((1n << 1n) | (1n << 3n));
    file.iotlbWrite(update(0n, 0x2000n, BigInt(USER_BASE), VHOST_MAP_RO, 1));
    expect(sim.iotlbs[1].nmaps).toBe(1);
    expect(sim.iommuPt).toEqual([true, false]);
    expect(errnoOf(() => file.iotlbWrite(update(0n, 0x2000n, BigInt(USER_BASE), VHOST_MAP_RO, 2)))).toBe('EFAULT');
  });

  it('a batch reaches the sim once, at BATCH_END; INVALIDATE unmaps', () => {
    const { file, sim } = openNet();
    file.setOwner();
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
    file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_INVALIDATE, iova: 0n, size: 0x1000n } }));
    expect(sim.iotlbs[0].nmaps).toBe(1);
  });

  it('the raw node: write() is the IOTLB channel, read() is EINVAL', () => {
    const { file } = openNet();
    const raw = file.asOpenFile();
    file.setOwner();
    expect(raw.write(update(0n, 0x1000n, BigInt(USER_BASE)), 0)).toBe(72);
    expect(errnoOf(() => raw.read(Buffer.alloc(72), 0))).toBe('EINVAL');
  });
});

describe('open and close (§5.1–5.2)', () => {
  it('a second open fails EBUSY; after close the node opens again', () => {
    const { v } = rig('net');
    const f = v.open(userMemory());
    expect(errnoOf(() => v.open(userMemory()))).toBe('EBUSY');
    f.release();
    v.open(userMemory()).release();
  });

  it('open resets the device; close resets it again and unbinds the opener\'s memory and maps', () => {
    const { v, sim } = rig('net');
    sim.setStatus(0xf);
    const gen = sim.getGeneration();
    const file = v.open(userMemory());
    expect(sim.getStatus()).toBe(0);
    expect(sim.getGeneration()).toBe(gen + 1);
    up(file, file.mem);
    expect(sim.getStatus()).toBe(0xf);
    expect(sim.mm).toBe(file.mem);
    file.release();
    expect(sim.getStatus()).toBe(0);
    expect(sim.mm).toBeNull();
    expect(sim.iommuPt).toEqual([true, true]);
    expect(sim.vqs.every((q) => !q.ready && q.vring === null)).toBe(true);
  });

  it('a closed file answers nothing (EBADF)', () => {
    const { file } = openNet();
    file.release();
    expect(errnoOf(() => file.getFeatures())).toBe('EBADF');
    expect(errnoOf(() => file.ioctl(uapi.VHOST_SET_OWNER))).toBe('EBADF');
  });
});

describe('unbind or delete while open (§5.6)', () => {
  it('unbind waits on the Completion until the file is closed', async () => {
    const { k, v } = rig('net');
    const file = v.open(userMemory());
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
    const file = v.open(userMemory());
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
