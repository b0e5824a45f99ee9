/*
 * The block core and virtio_blk over vdpasim_blk: the disk in sysfs and
 * devtmpfs, the data path through the ring into the sim's ramdisk, and the
 * kernel's messages.
 */
import { ROOT_CRED } from '../../src/kernel/cred';
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import { settle } from '../../src/kernel/completion';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import type { DevNode } from '../../src/drivers/base/devtmpfs';
import type { OpenFile } from '../../src/fs/kernfs';
import { stringGetSize, virtblkNameFormat } from '../../src/drivers/block/virtio_blk';
import { errnoOf, exists, ls, readlink, sysfsRead, sysfsWrite } from './sysfs_io';
import { KernelError } from '../../src/kernel/errno';

function blkKernel(n = 1): Kernel {
  const k = bootKernel({ bare: true });
  for (const m of ['vdpa', 'vdpa_sim_blk', 'virtio_vdpa', 'virtio_blk']) k.modules.modprobe(m);
  for (let i = 0; i < n; i++) {
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', `vdpa${i}`],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_blk'],
    ]);
  }
  return k;
}

function openDisk(k: Kernel, name = 'vda'): OpenFile {
  return (k.fs.lookup(`/dev/${name}`) as DevNode).open({ read: true, write: true, nonblock: false });
}

async function rejected(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('naming and sizes as the kernel prints them', () => {
  it('virtblk_name_format(): vda..vdz, vdaa, vdzz, vdaaa', () => {
    expect([0, 1, 25, 26, 27, 701, 702].map((i) => virtblkNameFormat('vd', i))).toEqual(['vda', 'vdb', 'vdz', 'vdaa', 'vdab', 'vdzz', 'vdaaa']);
  });

  it('string_get_size(): "134 MB" and "128 MiB" for the sim disk, three significant digits elsewhere', () => {
    expect(stringGetSize(262144n, 512n, 10)).toBe('134 MB');
    expect(stringGetSize(262144n, 512n, 2)).toBe('128 MiB');
    expect(stringGetSize(2097152n, 512n, 10)).toBe('1.07 GB');
    expect(stringGetSize(2097152n, 512n, 2)).toBe('1.00 GiB');
    expect(stringGetSize(8000n, 512n, 10)).toBe('4.10 MB');
    expect(stringGetSize(8000n, 512n, 2)).toBe('3.91 MiB');
    expect(stringGetSize(976773168n, 512n, 10)).toBe('500 GB');
  });
});

describe('the disk in sysfs', () => {
  it('virtio_blk probes: the capacity notice, queue count, vda under virtio0', () => {
    const k = blkKernel();
    const log = k.log.records.map((r) => r.text);
    expect(log).toContain('virtio_blk virtio0: 1/0/0 default/read/poll queues');
    expect(log).toContain('virtio_blk virtio0: [vda] 262144 512-byte logical blocks (134 MB/128 MiB)');
    expect(readlink(k, '/sys/block/vda')).toBe('../devices/vdpa0/virtio0/block/vda');
    expect(readlink(k, '/sys/class/block/vda')).toBe('../../devices/vdpa0/virtio0/block/vda');
    const major = sysfsRead(k, '/sys/block/vda/dev').trim().split(':')[0];
    expect(Number(major)).toBe(254);
    expect(readlink(k, `/sys/dev/block/${major}:0`)).toBe('../../devices/vdpa0/virtio0/block/vda');
    expect(readlink(k, '/sys/devices/vdpa0/virtio0/block/vda/bdi')).toBe(`../../../../virtual/bdi/${major}:0`);
    expect(readlink(k, '/sys/class/bdi/254:0')).toBe('../../devices/virtual/bdi/254:0');
    expect(readlink(k, '/sys/devices/vdpa0/virtio0/block/vda/device')).toBe('../../../virtio0');
    expect(readlink(k, '/sys/devices/vdpa0/virtio0/block/vda/subsystem')).toBe('../../../../../class/block');
  });

  it('the disk attributes people read', () => {
    const k = blkKernel();
    const a = (n: string) => sysfsRead(k, `/sys/block/vda/${n}`);
    expect(a('size')).toBe('262144\n');
    expect(a('ro')).toBe('0\n');
    expect(a('removable')).toBe('0\n');
    expect(a('range')).toBe('16\n');
    expect(a('ext_range')).toBe('256\n');
    expect(a('dev')).toBe('254:0\n');
    expect(a('diskseq')).toBe('1\n');
    expect(a('uevent')).toBe('MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=1\n');
    /* GET_ID through the ring, printed without a newline as the kernel does */
    expect(a('serial')).toBe('vdpa_blk_sim');
    expect(a('cache_type')).toBe('write back\n');
    const q = (n: string) => a(`queue/${n}`);
    expect(q('logical_block_size')).toBe('512\n');
    expect(q('physical_block_size')).toBe('512\n');
    expect(q('hw_sector_size')).toBe('512\n');
    expect(q('max_segments')).toBe('32\n');
    expect(q('max_segment_size')).toBe('4096\n');
    expect(q('max_hw_sectors_kb')).toBe('2147483647\n');
    expect(q('max_sectors_kb')).toBe('1280\n');
    expect(q('rotational')).toBe('1\n');
    expect(q('write_cache')).toBe('write back\n');
    expect(q('scheduler')).toBe('[none] mq-deadline\n');
    expect(q('discard_granularity')).toBe('262144\n');
    expect(ls(k, '/sys/devices/vdpa0/virtio0/block/vda/holders')).toEqual([]);
    expect(sysfsRead(k, '/sys/devices/virtual/bdi/254:0/read_ahead_kb')).toBe('128\n');
  });

  it('two disks are vda and vdb, 16 minors apart', () => {
    const k = blkKernel(2);
    expect(ls(k, '/sys/block')).toEqual(['vda', 'vdb']);
    expect(sysfsRead(k, '/sys/block/vdb/dev')).toBe('254:16\n');
    expect(sysfsRead(k, '/sys/block/vdb/diskseq')).toBe('2\n');
  });

  it('dev/vda is a node of the disk\'s size; removal takes everything away, the major is freed with the module', () => {
    const k = blkKernel();
    expect((k.fs.lookup('/dev/vda') as DevNode).size()).toBe(128 << 20);
    expect((k.fs.lookup('/dev/vda') as DevNode).devt).toEqual({ type: 'b', major: 254, minor: 0 });
    vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]);
    for (const p of ['/dev/vda', '/sys/block/vda', '/sys/class/block/vda', '/sys/dev/block/254:0', '/sys/devices/virtual/bdi/254:0', '/sys/class/bdi/254:0']) {
      expect(exists(k, p)).toBe(false);
    }
  });
});

describe('I/O through dev/vda', () => {
  it('write and read back at odd offsets and lengths (read-modify-write of partial sectors)', async () => {
    const k = blkKernel();
    const f = openDisk(k);
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) & 0xff));
    expect(await settle(f.write(data, 1234))).toBe(3000);
    const back = Buffer.alloc(3000);
    expect(await settle(f.read(back, 1234))).toBe(3000);
    expect(back.equals(data)).toBe(true);
    /* the bytes around it are still zero */
    const around = Buffer.alloc(5000);
    await settle(f.read(around, 0));
    expect(around.subarray(0, 1234).every((b) => b === 0)).toBe(true);
    expect(around.subarray(4234).every((b) => b === 0)).toBe(true);
    f.release();
  });

  it('a large transfer is split at 128 KiB requests (32 segments of 4 KiB)', async () => {
    const k = blkKernel();
    const f = openDisk(k);
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    expect(await settle(f.write(data, 0))).toBe(data.length);
    const back = Buffer.alloc(1 << 20);
    expect(await settle(f.read(back, 0))).toBe(back.length);
    expect(back.equals(data)).toBe(true);
    const stat = sysfsRead(k, '/sys/block/vda/stat').trim().split(/\s+/).map(Number);
    /* 8 reads and 8 writes of 256 sectors */
    expect([stat[0], stat[2], stat[4], stat[6], stat[8]]).toEqual([8, 2048, 8, 2048, 0]);
    f.release();
  });

  it('reads end at the capacity; a write at the end is ENOSPC, one across it is short', async () => {
    const k = blkKernel();
    const f = openDisk(k);
    const size = 128 << 20;
    expect(await settle(f.read(Buffer.alloc(100), size))).toBe(0);
    expect(await settle(f.read(Buffer.alloc(100), size - 10))).toBe(10);
    expect(errnoOf(() => f.write(Buffer.alloc(10), size))).toBe('ENOSPC');
    expect(await settle(f.write(Buffer.alloc(100, 1), size - 10))).toBe(10);
    f.release();
  });

  it('an open dev/vda pins virtio_blk; after the device is gone, I/O fails EIO and opening ENXIO', async () => {
    const k = blkKernel();
    const f = openDisk(k);
    expect(errnoOf(() => k.modules.rmmod('virtio_blk'))).toBe('EBUSY');
    const node = k.fs.lookup('/dev/vda') as DevNode;
    sysfsWrite(k, '/sys/bus/virtio/drivers/virtio_blk/unbind', 'virtio0\n');
    expect(errnoOf(() => f.read(Buffer.alloc(512), 0))).toBe('EIO');
    expect(errnoOf(() => node.open({ read: true, write: false, nonblock: false }))).toBe('ENXIO');
    f.release();
    k.modules.rmmod('virtio_blk');
    expect(k.modules.isLoaded('virtio_blk')).toBe(false);
  });

  it('a read through the ring that the device fails comes back EIO', async () => {
    const k = blkKernel();
    const f = openDisk(k);
    /* a device that stopped answering: NEEDS_RESET after a malformed ring */
    const { faultMethods } = await import('../../src/control/methods');
    const { invoke } = await import('../../src/control/server');
    invoke(faultMethods(k).fault_vring, { device: 'virtio0', vq: 0 }, { cred: ROOT_CRED, emit: () => {}, onClose: () => () => {} });
    expect(Number(sysfsRead(k, '/sys/devices/vdpa0/virtio0/status')) & 0x40).toBe(0x40);
    const pending = settle(f.read(Buffer.alloc(512), 0));
    /* nothing completes; unbinding fails what is queued */
    sysfsWrite(k, '/sys/bus/virtio/drivers/virtio_blk/unbind', 'virtio0\n');
    expect(await rejected(pending)).toBe('EIO');
    f.release();
  });
});

describe('a capacity change from the device', () => {
  it('virtblk_config_changed(): "new size" notice, "detected capacity change", KOBJ_CHANGE with RESIZE=1', async () => {
    const { VdpaDevice, vdpaRegisterDevice } = await import('../../src/drivers/vdpa/vdpa');
    const k = bootKernel({ bare: true });
    for (const m of ['vdpa', 'virtio_vdpa', 'virtio_blk']) k.modules.modprobe(m);
    const config = Buffer.alloc(96);
    config.writeBigUInt64LE(1000n, 0);
    let status = 0;
    let configCb: (() => void) | null = null;
    const ready = [false];
    /* Just enough of a vdpa parent for virtio_blk's probe: config, status, features, one queue. */
    const ops = {
      setVqAddress() {},
      setVqNum() {},
      kickVq() {},
      setVqCb() {},
      setVqReady: (i: number, r: boolean) => void (ready[i] = r),
      getVqReady: (i: number) => ready[i],
      setVqState() {},
      getVqState: () => ({ availIndex: 0 }),
      getVqGroup: () => 0,
      getVqAlign: () => 4096,
      getDeviceFeatures: () => (1n << 32n) | (1n << 33n),
      setDriverFeatures() {},
      getDriverFeatures: () => 0n,
      setConfigCb: (cb: (() => void) | null) => void (configCb = cb),
      getVqNumMax: () => 16,
      getVqNumMin: () => 1,
      getDeviceId: () => 2,
      getVendorId: () => 0,
      getStatus: () => status,
      setStatus: (s: number) => void (status = s),
      reset: () => void (status = 0),
      getConfigSize: () => config.length,
      getConfig: (o: number, l: number) => Buffer.from(config.subarray(o, o + l)),
      setConfig() {},
      getGeneration: () => 0,
      getIovaRange: () => ({ first: 0n, last: 0n }),
      setGroupAsid() {},
      setMap() {},
    };
    vdpaRegisterDevice(new VdpaDevice(k, 'vdpa9', ops, 1, 1, 1));
    expect(sysfsRead(k, '/sys/block/vda/size')).toBe('1000\n');
    const events: string[] = [];
    k.uevents.subscribe((e) => events.push(e.env.map(([n, v]) => `${n}=${v}`).join(' ')));
    config.writeBigUInt64LE(2000n, 0);
    configCb!();
    expect(sysfsRead(k, '/sys/block/vda/size')).toBe('2000\n');
    const log = k.log.records.map((r) => r.text);
    expect(log).toContain('virtio_blk virtio0: [vda] new size: 2000 512-byte logical blocks (1.02 MB/1000 KiB)');
    expect(log).toContain('vda: detected capacity change from 1000 to 2000');
    expect(events).toEqual([
      `ACTION=change DEVPATH=/devices/vdpa9/virtio0/block/vda SUBSYSTEM=block RESIZE=1 MAJOR=254 MINOR=0 DEVNAME=vda DEVTYPE=disk DISKSEQ=1 SEQNUM=${k.uevents.seqnum}`,
    ]);
  });
});
