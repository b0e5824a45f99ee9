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
    expect(q('scheduler')).toBe('none [mq-deadline] \n');
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

describe('block sysfs of 6.12: the queue, mq/, iosched/, trace/, integrity/ and the bdi', () => {
  const Q = '/sys/devices/vdpa0/virtio0/block/vda/queue';
  const D = '/sys/devices/vdpa0/virtio0/block/vda';
  const BDI = '/sys/devices/virtual/bdi/254:0';
  const r = (k: Kernel, p: string) => sysfsRead(k, p);
  const w = (k: Kernel, p: string, v: string) => sysfsWrite(k, p, v);

  it('a single-hardware-queue disk gets mq-deadline by default: "none [mq-deadline] ", iosched/, nr_requests 256', () => {
    const k = blkKernel();
    expect(r(k, `${Q}/scheduler`)).toBe('none [mq-deadline] \n');
    expect(r(k, `${Q}/nr_requests`)).toBe('256\n');
    expect(ls(k, `${Q}/iosched`)).toEqual(['async_depth', 'fifo_batch', 'front_merges', 'prio_aging_expire', 'read_expire', 'write_expire', 'writes_starved']);
    expect(r(k, `${Q}/iosched/read_expire`)).toBe('500\n');
    expect(r(k, `${Q}/iosched/write_expire`)).toBe('5000\n');
    expect(r(k, `${Q}/iosched/async_depth`)).toBe('256\n');
  });

  it('scheduler: "none" (by prefix) detaches it and nr_requests falls to the tag depth; "deadline" is mq-deadline\'s alias; unknown names EINVAL', () => {
    const k = blkKernel();
    w(k, `${Q}/scheduler`, 'none\n');
    expect(r(k, `${Q}/scheduler`)).toBe('[none] mq-deadline \n');
    expect(r(k, `${Q}/nr_requests`)).toBe('128\n');
    expect(exists(k, `${Q}/iosched`)).toBe(false);
    expect(errnoOf(() => w(k, `${Q}/scheduler`, 'bfq'))).toBe('EINVAL');
    w(k, `${Q}/scheduler`, '  deadline \n');
    expect(r(k, `${Q}/scheduler`)).toBe('none [mq-deadline] \n');
    expect(r(k, `${Q}/nr_requests`)).toBe('256\n');
    w(k, `${Q}/scheduler`, 'nonesense');
    expect(r(k, `${Q}/scheduler`)).toBe('[none] mq-deadline \n');
  });

  it('nr_requests: below 4 is 4; without a scheduler it cannot exceed the tag depth (EINVAL); with one up to 2048', () => {
    const k = blkKernel();
    w(k, `${Q}/nr_requests`, '1');
    expect(r(k, `${Q}/nr_requests`)).toBe('4\n');
    w(k, `${Q}/nr_requests`, '2048');
    expect(errnoOf(() => w(k, `${Q}/nr_requests`, '2049'))).toBe('EINVAL');
    expect(errnoOf(() => w(k, `${Q}/nr_requests`, '0x10'))).toBe('EINVAL');
    w(k, `${Q}/scheduler`, 'none');
    expect(errnoOf(() => w(k, `${Q}/nr_requests`, '129'))).toBe('EINVAL');
    w(k, `${Q}/nr_requests`, '64');
    expect(r(k, `${Q}/nr_requests`)).toBe('64\n');
  });

  it('io_timeout is hidden: virtio_blk has no mq_ops->timeout; max_open_zones and max_active_zones are hidden: not zoned', () => {
    const k = blkKernel();
    for (const f of ['io_timeout', 'max_open_zones', 'max_active_zones']) expect(exists(k, `${Q}/${f}`), f).toBe(false);
    expect(r(k, `${Q}/wbt_lat_usec`)).toBe('75000\n');
    expect(r(k, `${Q}/rq_affinity`)).toBe('1\n');
    expect(r(k, `${Q}/iostats`)).toBe('1\n');
    expect(r(k, `${Q}/io_poll`)).toBe('0\n');
    expect(r(k, `${Q}/io_poll_delay`)).toBe('-1\n');
    expect(r(k, `${Q}/dma_alignment`)).toBe('511\n');
    expect(r(k, `${Q}/read_ahead_kb`)).toBe('128\n');
  });

  it('queue_var_store(): decimal only, every parse failure and anything above UINT_MAX is EINVAL', () => {
    const k = blkKernel();
    for (const v of ['0x10', '-1', '4294967296', '99999999999999999999', 'yes']) {
      expect(errnoOf(() => w(k, `${Q}/rotational`, v)), v).toBe('EINVAL');
    }
    w(k, `${Q}/rotational`, '0\n');
    expect(r(k, `${Q}/rotational`)).toBe('0\n');
    w(k, `${Q}/rotational`, '7');
    expect(r(k, `${Q}/rotational`)).toBe('1\n');
  });

  it('max_sectors_kb: below a page EINVAL, above the hardware clamped, 0 back to the default', () => {
    const k = blkKernel();
    expect(errnoOf(() => w(k, `${Q}/max_sectors_kb`, '3'))).toBe('EINVAL');
    w(k, `${Q}/max_sectors_kb`, '64');
    expect(r(k, `${Q}/max_sectors_kb`)).toBe('64\n');
    w(k, `${Q}/max_sectors_kb`, '0');
    expect(r(k, `${Q}/max_sectors_kb`)).toBe('1280\n');
  });

  it('discard_max_bytes must be a multiple of discard_granularity; read_ahead_kb keeps whole pages', () => {
    const k = blkKernel();
    expect(errnoOf(() => w(k, `${Q}/discard_max_bytes`, '1000'))).toBe('EINVAL');
    w(k, `${Q}/discard_max_bytes`, '524288');
    expect(r(k, `${Q}/discard_max_bytes`)).toBe('524288\n');
    w(k, `${Q}/read_ahead_kb`, '130');
    expect(r(k, `${Q}/read_ahead_kb`)).toBe('128\n');
    expect(r(k, `${BDI}/read_ahead_kb`)).toBe('128\n');
  });

  it('write_cache takes "write back", "write through" or "none" by prefix, else EINVAL; io_poll refuses without polling', () => {
    const k = blkKernel();
    w(k, `${Q}/write_cache`, 'write through\n');
    expect(r(k, `${Q}/write_cache`)).toBe('write through\n');
    w(k, `${Q}/write_cache`, 'write back please');
    expect(r(k, `${Q}/write_cache`)).toBe('write back\n');
    expect(errnoOf(() => w(k, `${Q}/write_cache`, 'writeback'))).toBe('EINVAL');
    expect(errnoOf(() => w(k, `${Q}/io_poll`, '1'))).toBe('EINVAL');
    w(k, `${Q}/io_poll_delay`, 'anything');
    expect(r(k, `${Q}/io_poll_delay`)).toBe('-1\n');
  });

  it('wbt_lat_usec: -1 is the 75 ms rotational default, 0 turns it off, below -1 EINVAL', () => {
    const k = blkKernel();
    w(k, `${Q}/wbt_lat_usec`, '2000');
    expect(r(k, `${Q}/wbt_lat_usec`)).toBe('2000\n');
    w(k, `${Q}/wbt_lat_usec`, '0');
    expect(r(k, `${Q}/wbt_lat_usec`)).toBe('0\n');
    w(k, `${Q}/wbt_lat_usec`, '-1');
    expect(r(k, `${Q}/wbt_lat_usec`)).toBe('75000\n');
    expect(errnoOf(() => w(k, `${Q}/wbt_lat_usec`, '-2'))).toBe('EINVAL');
  });

  it('mq/0/ under the disk: 128 tags (the ring halved without indirect descriptors), every CPU, cpuN/ per software queue', () => {
    const k = blkKernel();
    expect(ls(k, `${D}/mq`)).toEqual(['0']);
    expect(ls(k, `${D}/mq/0`)).toEqual(['cpu0', 'cpu1', 'cpu2', 'cpu3', 'cpu_list', 'nr_reserved_tags', 'nr_tags']);
    expect(r(k, `${D}/mq/0/nr_tags`)).toBe('128\n');
    expect(r(k, `${D}/mq/0/cpu_list`)).toBe('0, 1, 2, 3\n');
  });

  it('mq-deadline tunables: kstrtoint base 0, clamped to their range, times in ms', () => {
    const k = blkKernel();
    w(k, `${Q}/iosched/front_merges`, '5');
    expect(r(k, `${Q}/iosched/front_merges`)).toBe('1\n');
    w(k, `${Q}/iosched/async_depth`, '0');
    expect(r(k, `${Q}/iosched/async_depth`)).toBe('1\n');
    w(k, `${Q}/iosched/read_expire`, '0x100');
    expect(r(k, `${Q}/iosched/read_expire`)).toBe('256\n');
    expect(errnoOf(() => w(k, `${Q}/iosched/fifo_batch`, '2147483648'))).toBe('ERANGE');
  });

  it('disk: events files are empty without check_events; events_poll_msecs is ENODEV for a valid value, EINVAL otherwise', () => {
    const k = blkKernel();
    expect(r(k, `${D}/events`)).toBe('');
    expect(r(k, `${D}/events_async`)).toBe('');
    expect(r(k, `${D}/events_poll_msecs`)).toBe('-1\n');
    expect(errnoOf(() => w(k, `${D}/events_poll_msecs`, '1000'))).toBe('ENODEV');
    expect(errnoOf(() => w(k, `${D}/events_poll_msecs`, '-2'))).toBe('EINVAL');
    expect(errnoOf(() => w(k, `${D}/events_poll_msecs`, 'x'))).toBe('EINVAL');
    expect(exists(k, `${D}/badblocks`)).toBe(false);
  });

  it('trace/: "disabled" until enabled; enabling traces every category over the whole disk', () => {
    const k = blkKernel();
    expect(r(k, `${D}/trace/enable`)).toBe('0\n');
    expect(r(k, `${D}/trace/act_mask`)).toBe('disabled\n');
    w(k, `${D}/trace/enable`, '1');
    expect(r(k, `${D}/trace/act_mask`)).toBe('read,write,flush,sync,queue,requeue,issue,complete,fs,pc,notify,ahead,meta,discard,drv_data,fua\n');
    expect(r(k, `${D}/trace/end_lba`)).toBe('262144\n');
    w(k, `${D}/trace/act_mask`, 'READ,write\n');
    expect(r(k, `${D}/trace/act_mask`)).toBe('read,write\n');
    expect(errnoOf(() => w(k, `${D}/trace/act_mask`, 'bogus'))).toBe('EINVAL');
    expect(errnoOf(() => w(k, `${D}/trace/pid`, 'bogus'))).toBe('EINVAL');
  });

  it('integrity/: no protection information; read_verify and write_generate are 1 and take a decimal number', () => {
    const k = blkKernel();
    expect(r(k, `${D}/integrity/format`)).toBe('none\n');
    expect(r(k, `${D}/integrity/read_verify`)).toBe('1\n');
    w(k, `${D}/integrity/read_verify`, '0');
    expect(r(k, `${D}/integrity/read_verify`)).toBe('0\n');
    expect(errnoOf(() => w(k, `${D}/integrity/write_generate`, '0x1'))).toBe('EINVAL');
  });

  it('bdi: the ratios in percent and millionths, their refusals, min/max_bytes from the dirty threshold', () => {
    const k = blkKernel();
    expect(ls(k, BDI)).toEqual([
      'max_bytes', 'max_ratio', 'max_ratio_fine', 'min_bytes', 'min_ratio', 'min_ratio_fine', 'power',
      'read_ahead_kb', 'stable_pages_required', 'strict_limit', 'subsystem', 'uevent',
    ]);
    expect(r(k, `${BDI}/max_ratio`)).toBe('100\n');
    expect(r(k, `${BDI}/max_ratio_fine`)).toBe('1000000\n');
    expect(r(k, `${BDI}/min_bytes`)).toBe('0\n');
    expect(errnoOf(() => w(k, `${BDI}/max_ratio`, '101'))).toBe('EINVAL');
    w(k, `${BDI}/min_ratio`, '10');
    expect(r(k, `${BDI}/min_ratio_fine`)).toBe('100000\n');
    expect(errnoOf(() => w(k, `${BDI}/max_ratio`, '5'))).toBe('EINVAL');
    expect(errnoOf(() => w(k, `${BDI}/min_ratio`, '100'))).toBe('EINVAL');
    expect(errnoOf(() => w(k, `${BDI}/strict_limit`, '2'))).toBe('EINVAL');
    w(k, `${BDI}/strict_limit`, '1');
    expect(r(k, `${BDI}/strict_limit`)).toBe('1\n');
    expect(errnoOf(() => w(k, `${BDI}/read_ahead_kb`, '0x10'))).toBe('EINVAL');
    w(k, `${BDI}/read_ahead_kb`, '4294967296');
    expect(r(k, `${BDI}/read_ahead_kb`)).toBe('4294967296\n');
    /* 20% of the 2 GiB dirtyable memory, in bytes */
    expect(r(k, `${BDI}/max_bytes`)).toBe('429391872\n');
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
