/*
 * drivers/block/virtio_blk.c: the virtio block driver, giving the host a
 * disk (vda, vdb...) on top of a virtio device.
 *
 * The module registers a dynamic block major ("virtblk"); each disk takes
 * an index from an IDA, which names it (virtblk_name_format("vd", index))
 * and gives it 16 minors (PART_BITS 4). The limits come from the device's
 * config (virtblk_read_limits()), the capacity is announced with the
 * kernel's "[vda] N 512-byte logical blocks (X MB/Y MiB)" line, and every
 * request is the virtio-blk layout on queue req.0: a 16-byte header
 * (type, ioprio, sector), the data in segments of at most size_max bytes,
 * and a status byte the device writes last.
 */
import createDebug from 'debug';
import { after, MaybeWait } from '../../kernel/completion';
import { fail, KernelError } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import { Ida } from '../../kernel/ida';
import { KernfsNode } from '../../fs/kernfs';
import { roAttr } from '../../fs/sysfs';
import {
  registerVirtioDriver,
  unregisterVirtioDriver,
  VIRTIO_DEV_ANY_ID,
  virtioDeviceReady,
  VirtioDevice,
  VirtioDriver,
  virtioFindVqs,
  virtioResetDevice,
  Virtqueue,
} from '../virtio/virtio';
import { VIRTIO_ID_BLOCK } from '../../include/uapi/vdpa';
import { VIRTIO_RING_F_INDIRECT_DESC } from '../../include/uapi/virtio_ring';
import {
  VIRTIO_BLK_CFG,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_CONFIG_WCE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_GEOMETRY,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SECURE_ERASE,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_TOPOLOGY,
  VIRTIO_BLK_F_WRITE_ZEROES,
  VIRTIO_BLK_F_ZONED,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_OUTHDR as OUTHDR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
} from '../../include/uapi/virtio_blk';
import {
  BlkStatus,
  blkExecuteRq,
  blkMqAllocRequest,
  blkMqEndRequest,
  blkMqRunHwQueue,
  defaultQueueLimits,
  QueueLimits,
  Request,
  RequestQueue,
  SECTOR_SHIFT,
  SECTOR_SIZE,
  validateLimits,
} from '../../block/blk-mq';
import { blkMqAllocDisk, delGendisk, deviceAddDisk, diskAccount, Gendisk, registerBlkdev, setCapacityAndNotify, unregisterBlkdev } from '../../block/genhd';

const trace = createDebug('vdpafs:virtio_blk');

const PART_BITS = 4;
const MINORBITS = 20;
/* VIRTIO_BLK_MAX_SG_ELEMS */
const VIRTIO_BLK_MAX_SG_ELEMS = 32768;
const MAX_DISCARD_SEGMENTS = 256;
const UINT_MAX = 0xffffffff;

const VIRTIO_BLK_FEATURES_LEGACY = [
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_GEOMETRY,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_TOPOLOGY,
  VIRTIO_BLK_F_CONFIG_WCE,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_WRITE_ZEROES,
  VIRTIO_BLK_F_SECURE_ERASE,
];
/* ZONED is in the VERSION_1 table only; host-managed zoned devices are not implemented here. */
export const VIRTIO_BLK_FEATURE_TABLE = [...VIRTIO_BLK_FEATURES_LEGACY, VIRTIO_BLK_F_ZONED];

/* What a request has in kernel memory (struct virtblk_req). */
interface VirtblkReq {
  hdr: number;
  status: number;
  data: number | null;
  dataLen: number;
}

/* struct virtio_blk */
export class VirtioBlk {
  vq!: Virtqueue<Request>;
  disk!: Gendisk;
  queue!: RequestQueue;
  queueDepth = 0;
  inflight = 0;

  constructor(
    readonly vdev: VirtioDevice,
    readonly index: number,
  ) {}
}

interface VirtioBlkGlobals {
  driver: VirtioDriver;
  major: number;
  ida: Ida;
}

function globals(k: Kernel): VirtioBlkGlobals {
  return k.peekGlobal<VirtioBlkGlobals>('virtio_blk')!;
}

/*
 * virtblk_name_format(): the legacy scheme, base 26 with no zero digit:
 * vda..vdz, vdaa..vdzz, vdaaa...
 */
export function virtblkNameFormat(prefix: string, index: number): string {
  let s = '';
  do {
    s = String.fromCharCode(0x61 + (index % 26)) + s;
    index = Math.floor(index / 26) - 1;
  } while (index >= 0);
  return prefix + s;
}

/*
 * string_get_size(): "134 MB" / "128 MiB", Napier's algorithm as
 * lib/string_helpers.c does it (three significant digits, rounded).
 */
export function stringGetSize(size: bigint, blkSize: bigint, units: 10 | 2): string {
  const divisor = units === 10 ? 1000n : 1024n;
  const names = units === 10 ? ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'] : ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi'];
  const rounding = [500n, 50n, 5n];
  let i = 0;
  let remainder = 0n;
  let tmp = '';
  if (blkSize === 0n) size = 0n;
  if (size !== 0n) {
    while (blkSize >> 32n) {
      blkSize /= divisor;
      i++;
    }
    while (size >> 32n) {
      size /= divisor;
      i++;
    }
    size *= blkSize;
    while (size >= divisor) {
      remainder = size % divisor;
      size /= divisor;
      i++;
    }
    let sfCap = size;
    let j = 0;
    for (; sfCap * 10n < 1000n; j++) sfCap *= 10n;
    if (units === 2) remainder = (remainder * 1000n) >> 10n;
    remainder += rounding[j];
    if (remainder >= 1000n) {
      remainder -= 1000n;
      size += 1n;
    }
    if (j) tmp = `.${String(remainder).padStart(3, '0')}`.slice(0, j + 1);
  }
  const unit = i < names.length ? names[i] : 'UNK';
  return `${size}${tmp} ${unit}B`;
}

function virtblkResult(status: number): BlkStatus {
  if (status === VIRTIO_BLK_S_OK) return 'ok';
  if (status === VIRTIO_BLK_S_UNSUPP) return 'notsupp';
  return 'ioerr';
}

/*
 * virtblk_setup_cmd() + virtblk_map_data() + virtblk_add_req(): header
 * out, data out (write) or in (read, GET_ID) in max_segment_size pieces,
 * status in.
 */
function virtblkAddReq(vblk: VirtioBlk, rq: Request): void {
  const vq = vblk.vq;
  const mem = vq.mem;
  const l = vblk.queue.limits;
  let type: number;
  let sector = 0;
  switch (rq.op) {
    case 'read':
      type = VIRTIO_BLK_T_IN;
      sector = rq.sector;
      break;
    case 'write':
      type = VIRTIO_BLK_T_OUT;
      sector = rq.sector;
      break;
    case 'flush':
      type = VIRTIO_BLK_T_FLUSH;
      break;
    case 'drv_in':
      type = rq.drvType!;
      break;
  }
  const r: VirtblkReq = { hdr: mem.alloc(OUTHDR.SIZE, 16), status: mem.alloc(1), data: null, dataLen: rq.data.length };
  const hdr = Buffer.alloc(OUTHDR.SIZE);
  hdr.writeUInt32LE(type, OUTHDR.TYPE);
  hdr.writeUInt32LE(0, OUTHDR.IOPRIO);
  hdr.writeBigUInt64LE(BigInt(sector), OUTHDR.SECTOR);
  mem.write(r.hdr, hdr);
  mem.writeU8(r.status, 0xff);
  const segs: Array<{ addr: number; len: number }> = [];
  if (rq.data.length) {
    r.data = mem.alloc(rq.data.length, 4096);
    if (rq.op === 'write') mem.write(r.data, rq.data);
    for (let off = 0; off < rq.data.length; off += l.maxSegmentSize) {
      segs.push({ addr: vq.dmaAddr(r.data + off), len: Math.min(l.maxSegmentSize, rq.data.length - off) });
    }
  }
  const hdrSg = { addr: vq.dmaAddr(r.hdr), len: OUTHDR.SIZE };
  const statusSg = { addr: vq.dmaAddr(r.status), len: 1 };
  rq.pdu = r;
  try {
    if (rq.op === 'write') vq.addBuf([hdrSg, ...segs], [statusSg], rq);
    else vq.addBuf([hdrSg], [...segs, statusSg], rq);
  } catch (e) {
    virtblkFreeReq(vblk, r);
    throw e;
  }
}

function virtblkFreeReq(vblk: VirtioBlk, r: VirtblkReq): void {
  const mem = vblk.vq.mem;
  mem.free(r.hdr);
  mem.free(r.status);
  if (r.data !== null) mem.free(r.data);
}

/*
 * virtio_queue_rq(): onto the ring and kick. A full ring (ENOSPC) kicks
 * what is there and stops the queue: the request waits for a completion.
 */
function virtioQueueRq(vblk: VirtioBlk, rq: Request): 'ok' | 'busy' {
  if (vblk.inflight >= vblk.queueDepth) return 'busy';
  try {
    virtblkAddReq(vblk, rq);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    vblk.vq.kick();
    if (e.errno === 'ENOSPC') return 'busy';
    blkMqEndRequest(vblk.queue, rq, 'ioerr');
    return 'ok';
  }
  vblk.inflight++;
  if (vblk.vq.kickPrepare()) vblk.vq.kick();
  return 'ok';
}

/* virtblk_request_done(): the status byte decides; a read's data comes back. */
function virtblkRequestDone(vblk: VirtioBlk, rq: Request): void {
  const r = rq.pdu as VirtblkReq;
  const mem = vblk.vq.mem;
  const status = virtblkResult(mem.readU8(r.status));
  if (status === 'ok' && rq.op !== 'write' && r.data !== null) mem.readInto(r.data, rq.data, 0, r.dataLen);
  virtblkFreeReq(vblk, r);
  vblk.inflight--;
  blkMqEndRequest(vblk.queue, rq, status);
}

/* virtblk_done(): the queue's interrupt. Reap everything, re-arm, restart a stopped queue. */
function virtblkDone(vq: Virtqueue): void {
  const vblk = vq.vdev.priv as VirtioBlk;
  let reqDone = false;
  do {
    vq.disableCb();
    for (let used = vblk.vq.getBuf(); used; used = vblk.vq.getBuf()) {
      virtblkRequestDone(vblk, used.token);
      reqDone = true;
    }
  } while (!vq.enableCb());
  if (reqDone) blkMqRunHwQueue(vblk.queue);
}

/*
 * virtblk_get_id() for `serial`. The kernel sleeps in blk_execute_rq();
 * a sysfs show cannot, so this reads the answer if the device gave it
 * during the kick (the simulator always does).
 */
function virtblkGetId(vblk: VirtioBlk): Buffer | null {
  const rq = blkMqAllocRequest('drv_in', 0, Buffer.alloc(VIRTIO_BLK_ID_BYTES));
  rq.drvType = VIRTIO_BLK_T_GET_ID;
  blkExecuteRq(vblk.queue, rq);
  if (!rq.completed || rq.status !== 'ok') return null;
  return rq.data;
}

/* virtblk_attr_group: serial (the GET_ID string, no newline) and cache_type. */
function virtblkAttrs(vblk: VirtioBlk): KernfsNode[] {
  return [
    roAttr('serial', () => {
      const id = virtblkGetId(vblk);
      if (!id) return '';
      const nul = id.indexOf(0);
      return id.toString('latin1', 0, nul === -1 ? id.length : nul);
    }),
    /* 0444 without CONFIG_WCE: the cache mode cannot be changed. */
    roAttr('cache_type', () => (virtblkGetCacheMode(vblk.vdev) ? 'write back\n' : 'write through\n')),
  ];
}

/* virtblk_get_cache_mode(): without CONFIG_WCE, a FLUSH-capable device has a write-back cache. */
function virtblkGetCacheMode(vdev: VirtioDevice): boolean {
  if (vdev.hasFeature(VIRTIO_BLK_F_CONFIG_WCE)) return vdev.cread8(VIRTIO_BLK_CFG.WCE) !== 0;
  return vdev.hasFeature(VIRTIO_BLK_F_FLUSH);
}

/* virtblk_read_limits() */
function virtblkReadLimits(vdev: VirtioDevice, l: QueueLimits): void {
  let sgElems = vdev.hasFeature(VIRTIO_BLK_F_SEG_MAX) ? vdev.cread32(VIRTIO_BLK_CFG.SEG_MAX) : 1;
  /* We need at least one SG element, whatever they say. */
  if (!sgElems) sgElems = 1;
  sgElems = Math.min(sgElems, VIRTIO_BLK_MAX_SG_ELEMS - 2);
  l.maxSegments = sgElems;
  /* No real sector limit. */
  l.maxHwSectors = UINT_MAX;
  l.maxSegmentSize = UINT_MAX;
  if (vdev.hasFeature(VIRTIO_BLK_F_SIZE_MAX)) l.maxSegmentSize = Math.min(l.maxSegmentSize, vdev.cread32(VIRTIO_BLK_CFG.SIZE_MAX));
  if (vdev.hasFeature(VIRTIO_BLK_F_BLK_SIZE)) l.logicalBlockSize = vdev.cread32(VIRTIO_BLK_CFG.BLK_SIZE);
  if (vdev.hasFeature(VIRTIO_BLK_F_TOPOLOGY)) {
    const exp = vdev.cread8(VIRTIO_BLK_CFG.PHYSICAL_BLOCK_EXP);
    if (exp) l.physicalBlockSize = l.logicalBlockSize * (1 << exp);
    const align = vdev.cread8(VIRTIO_BLK_CFG.ALIGNMENT_OFFSET);
    if (align) l.alignmentOffset = l.logicalBlockSize * align;
    const minIo = vdev.cread16(VIRTIO_BLK_CFG.MIN_IO_SIZE);
    if (minIo) l.ioMin = l.logicalBlockSize * minIo;
    const optIo = vdev.cread32(VIRTIO_BLK_CFG.OPT_IO_SIZE);
    if (optIo) l.ioOpt = l.logicalBlockSize * optIo;
  }
  let maxDiscardSegs = 0;
  let discardGranularity = 0;
  if (vdev.hasFeature(VIRTIO_BLK_F_DISCARD)) {
    discardGranularity = vdev.cread32(VIRTIO_BLK_CFG.DISCARD_SECTOR_ALIGNMENT);
    const v = vdev.cread32(VIRTIO_BLK_CFG.MAX_DISCARD_SECTORS);
    l.maxHwDiscardSectors = v ? v : UINT_MAX;
    maxDiscardSegs = vdev.cread32(VIRTIO_BLK_CFG.MAX_DISCARD_SEG);
  }
  if (vdev.hasFeature(VIRTIO_BLK_F_WRITE_ZEROES)) {
    const v = vdev.cread32(VIRTIO_BLK_CFG.MAX_WRITE_ZEROES_SECTORS);
    l.maxWriteZeroesSectors = v ? v : UINT_MAX;
  }
  if (vdev.hasFeature(VIRTIO_BLK_F_DISCARD)) {
    if (!maxDiscardSegs) maxDiscardSegs = sgElems;
    l.maxDiscardSegments = Math.min(maxDiscardSegs, MAX_DISCARD_SEGMENTS);
    /* discard_sector_alignment is in sectors. */
    l.discardGranularity = discardGranularity ? discardGranularity << SECTOR_SHIFT : l.logicalBlockSize;
  }
}

/* virtblk_update_capacity(): the capacity, and the kernel's notice about it. */
function virtblkUpdateCapacity(vblk: VirtioBlk, resize: boolean): void {
  const vdev = vblk.vdev;
  const capacity = vdev.cread64(VIRTIO_BLK_CFG.CAPACITY);
  const lbs = vblk.queue.limits.logicalBlockSize;
  const per = BigInt(lbs >> SECTOR_SHIFT);
  const nblocks = (capacity + per - 1n) / per;
  const cap10 = stringGetSize(nblocks, BigInt(lbs), 10);
  const cap2 = stringGetSize(nblocks, BigInt(lbs), 2);
  vdev.kernel.log.kmsg(
    'notice',
    `${vdev.logPrefix()}[${vblk.disk.diskName}] ${resize ? 'new size: ' : ''}${nblocks} ${lbs}-byte logical blocks (${cap10}/${cap2})`,
  );
  setCapacityAndNotify(vblk.disk, Number(capacity));
}

/* init_vq(): one request queue (MQ says how many the device has; the simulator has one). */
function initVq(vblk: VirtioBlk): void {
  const vdev = vblk.vdev;
  let numVqs = 1;
  if (vdev.hasFeature(VIRTIO_BLK_F_MQ)) {
    numVqs = vdev.cread16(VIRTIO_BLK_CFG.NUM_QUEUES);
    if (!numVqs) {
      vdev.kernel.log.kmsg('err', `${vdev.logPrefix()}MQ advertised but zero queues reported`);
      fail('EINVAL');
    }
  }
  /* blk_mq_num_possible_queues(): no more than one per CPU; one is all this model runs. */
  numVqs = 1;
  vdev.kernel.log.kmsg('info', `${vdev.logPrefix()}${numVqs}/0/0 default/read/poll queues`);
  const vqs = virtioFindVqs(vdev, [{ name: 'req.0', callback: virtblkDone }]);
  vblk.vq = vqs[0] as unknown as Virtqueue<Request>;
}

/* virtblk_probe() */
function virtblkProbe(vdev: VirtioDevice): void {
  const k = vdev.kernel;
  const g = globals(k);
  const index = g.ida.alloc();
  if (index > (1 << MINORBITS) / (1 << PART_BITS) - 1) {
    g.ida.free(index);
    fail('ENOSPC');
  }
  const vblk = new VirtioBlk(vdev, index);
  vdev.priv = vblk;
  try {
    initVq(vblk);
    /* Default queue sizing is to fill the ring, two descriptors a request without indirect ones. */
    vblk.queueDepth = vdev.hasFeature(VIRTIO_RING_F_INDIRECT_DESC) ? vblk.vq.numFree : Math.floor(vblk.vq.numFree / 2);
    /* struct queue_limits lim = { .features = BLK_FEAT_ROTATIONAL, .logical_block_size = SECTOR_SIZE }; */
    const limits = defaultQueueLimits();
    limits.features.rotational = true;
    limits.logicalBlockSize = SECTOR_SIZE;
    virtblkReadLimits(vdev, limits);
    if (virtblkGetCacheMode(vdev)) limits.features.writeCache = true;
    validateLimits(limits);
    /* The tag set: one hardware queue of queue_depth tags; virtio_mq_ops has no .timeout. */
    const tagSet = { queueDepth: vblk.queueDepth, nrHwQueues: 1, hasTimeout: false };
    vblk.queue = new RequestQueue({ queueRq: (rq) => virtioQueueRq(vblk, rq) }, limits, (rq) => diskAccount(vblk.disk, rq), tagSet);
    const disk = blkMqAllocDisk(k, vblk.queue);
    vblk.disk = disk;
    disk.diskName = virtblkNameFormat('vd', index);
    disk.major = g.major;
    disk.firstMinor = index << PART_BITS;
    disk.minors = 1 << PART_BITS;
    disk.privateData = vblk;
    disk.owner = 'virtio_blk';
    /* If disk is read-only in the host, the guest should obey. */
    if (vdev.hasFeature(VIRTIO_BLK_F_RO)) disk.readOnly = true;
    virtblkUpdateCapacity(vblk, false);
    virtioDeviceReady(vdev);
    deviceAddDisk(vdev, disk, [() => virtblkAttrs(vblk)]);
  } catch (e) {
    if (vblk.vq) vdev.config.delVqs(vdev);
    g.ida.free(index);
    vdev.priv = null;
    throw e;
  }
  trace('probe %s -> %s', vdev.name, vblk.disk.diskName);
}

/* virtblk_remove(): the disk goes, then the device is reset and the queue freed. */
function virtblkRemove(vdev: VirtioDevice): MaybeWait<void> {
  const vblk = vdev.priv as VirtioBlk;
  const g = globals(vdev.kernel);
  return after(delGendisk(vblk.disk), () => {
    /* Stop all the virtqueues. */
    virtioResetDevice(vdev);
    for (let rq = vblk.vq.detachUnusedBuf(); rq; rq = vblk.vq.detachUnusedBuf()) {
      virtblkFreeReq(vblk, rq.pdu as VirtblkReq);
      blkMqEndRequest(vblk.queue, rq, 'ioerr');
    }
    vdev.config.delVqs(vdev);
    g.ida.free(vblk.index);
    vdev.priv = null;
  });
}

/* virtblk_config_changed(): a new capacity. */
function virtblkConfigChanged(vdev: VirtioDevice): void {
  const vblk = vdev.priv as VirtioBlk | null;
  if (!vblk) return;
  const before = vblk.disk.capacity;
  if (Number(vdev.cread64(VIRTIO_BLK_CFG.CAPACITY)) !== before) virtblkUpdateCapacity(vblk, true);
}

export function virtioBlkInit(k: Kernel): void {
  const major = registerBlkdev(k, 0, 'virtblk');
  const driver = new VirtioDriver(
    'virtio_blk',
    'virtio_blk',
    [{ device: VIRTIO_ID_BLOCK, vendor: VIRTIO_DEV_ANY_ID }],
    VIRTIO_BLK_FEATURE_TABLE,
    { probe: virtblkProbe, remove: virtblkRemove, configChanged: virtblkConfigChanged },
    VIRTIO_BLK_FEATURES_LEGACY,
  );
  k.global<VirtioBlkGlobals>('virtio_blk', () => ({ driver, major, ida: new Ida() }));
  try {
    registerVirtioDriver(k, driver);
  } catch (e) {
    unregisterBlkdev(k, major, 'virtblk');
    k.dropGlobal('virtio_blk');
    throw e;
  }
}

export function virtioBlkExit(k: Kernel): MaybeWait<void> {
  const g = globals(k);
  return after(unregisterVirtioDriver(g.driver), () => {
    unregisterBlkdev(k, g.major, 'virtblk');
    k.dropGlobal('virtio_blk');
  });
}
