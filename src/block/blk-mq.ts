/*
 * block/blk-mq.c, reduced to what one driver with one hardware queue
 * needs: requests, queue limits, dispatch to the driver's queue_rq, a
 * software queue for what the driver cannot take yet (its ring is full),
 * and completion.
 *
 * blk_mq_end_request() is called from the driver's interrupt; the waiter
 * is woken from the BLOCK softirq (a microtask here), never inside the
 * interrupt, so a completion that submits more I/O does not re-enter the
 * device while it is completing.
 */
import { Completion } from '../kernel/completion';
import { fail } from '../kernel/errno';

export const SECTOR_SHIFT = 9;
export const SECTOR_SIZE = 512;

export type ReqOp = 'read' | 'write' | 'flush' | 'drv_in';
export type BlkStatus = 'ok' | 'ioerr' | 'notsupp' | 'resource';

export interface Request {
  op: ReqOp;
  sector: number;
  /* Bytes moved: what is written for a write, where a read lands. */
  data: Buffer;
  /* REQ_OP_DRV_IN: the driver's own command (virtio_blk's GET_ID). */
  drvType?: number;
  status?: BlkStatus;
  /* Set in the interrupt, before the waiter is woken. */
  completed: boolean;
  readonly done: Completion<BlkStatus>;
  /* The driver's per-request data (blk_mq_rq_to_pdu). */
  pdu?: unknown;
}

/* struct queue_limits, with the values the sysfs queue/ directory shows. */
export interface QueueLimits {
  logicalBlockSize: number;
  physicalBlockSize: number;
  ioMin: number;
  ioOpt: number;
  maxHwSectors: number;
  /* What the user asked for through max_sectors_kb (0: no choice made). */
  maxUserSectors: number;
  maxSectors: number;
  maxSegments: number;
  maxSegmentSize: number;
  maxDiscardSegments: number;
  maxHwDiscardSectors: number;
  /* discard_max_bytes' choice; UINT_MAX until someone writes it. */
  maxUserDiscardSectors: number;
  maxDiscardSectors: number;
  maxWriteZeroesSectors: number;
  discardGranularity: number;
  alignmentOffset: number;
  dmaAlignment: number;
  /* BLK_FEAT_*: what the device can do (some of them sysfs toggles). */
  features: {
    rotational: boolean;
    writeCache: boolean;
    fua: boolean;
    ioStat: boolean;
    addRandom: boolean;
    stableWrites: boolean;
    dax: boolean;
    poll: boolean;
  };
  /* BLK_FLAG_WRITE_CACHE_DISABLED: write_cache set to "write through" by the user. */
  writeCacheDisabled: boolean;
}

/* BLK_DEF_MAX_SECTORS_CAP: the soft limit a new queue starts with (1280 KiB). */
export const BLK_DEF_MAX_SECTORS_CAP = 2560;
const UINT_MAX = 0xffff_ffff;
const PAGE_SECTORS = 8;

export function defaultQueueLimits(): QueueLimits {
  return {
    logicalBlockSize: SECTOR_SIZE,
    physicalBlockSize: SECTOR_SIZE,
    ioMin: SECTOR_SIZE,
    ioOpt: 0,
    maxHwSectors: BLK_DEF_MAX_SECTORS_CAP,
    maxUserSectors: 0,
    maxSectors: BLK_DEF_MAX_SECTORS_CAP,
    maxSegments: 128,
    maxSegmentSize: 65536,
    maxDiscardSegments: 1,
    maxHwDiscardSectors: 0,
    maxUserDiscardSectors: UINT_MAX,
    maxDiscardSectors: 0,
    maxWriteZeroesSectors: 0,
    discardGranularity: 0,
    alignmentOffset: 0,
    dmaAlignment: 0,
    features: {
      rotational: false,
      writeCache: false,
      fua: false,
      /* blk_mq_alloc_queue(): every blk-mq queue keeps I/O statistics. */
      ioStat: true,
      addRandom: false,
      stableWrites: false,
      dax: false,
      poll: false,
    },
    writeCacheDisabled: false,
  };
}

/*
 * blk_validate_limits(): derive what the driver and the user did not set.
 * max_sectors comes from the user's choice (at least a page, EINVAL
 * below) or BLK_DEF_MAX_SECTORS_CAP, never above the hardware's; the
 * discard limit is the smaller of the hardware's and the user's.
 */
export function validateLimits(l: QueueLimits): void {
  const lbs = l.logicalBlockSize >> SECTOR_SHIFT;
  if (l.physicalBlockSize < l.logicalBlockSize) l.physicalBlockSize = l.logicalBlockSize;
  if (l.ioMin < l.physicalBlockSize) l.ioMin = l.physicalBlockSize;
  l.ioOpt = Math.floor(l.ioOpt / l.physicalBlockSize) * l.physicalBlockSize;
  l.maxHwSectors = Math.floor(l.maxHwSectors / lbs) * lbs;
  let maxSectors: number;
  if (l.maxUserSectors) {
    if (l.maxUserSectors < PAGE_SECTORS) fail('EINVAL');
    maxSectors = Math.min(l.maxHwSectors, l.maxUserSectors);
  } else if (l.ioOpt > BLK_DEF_MAX_SECTORS_CAP << SECTOR_SHIFT) maxSectors = Math.min(l.maxHwSectors, l.ioOpt >> SECTOR_SHIFT);
  else if (l.ioMin > BLK_DEF_MAX_SECTORS_CAP << SECTOR_SHIFT) maxSectors = Math.min(l.maxHwSectors, l.ioMin >> SECTOR_SHIFT);
  else maxSectors = Math.min(l.maxHwSectors, BLK_DEF_MAX_SECTORS_CAP);
  l.maxSectors = Math.floor(maxSectors / lbs) * lbs;
  l.maxDiscardSectors = Math.min(l.maxHwDiscardSectors, l.maxUserDiscardSectors);
  if (!l.maxDiscardSegments) l.maxDiscardSegments = 1;
  if (l.discardGranularity < l.physicalBlockSize) l.discardGranularity = l.physicalBlockSize;
  if (!l.dmaAlignment) l.dmaAlignment = SECTOR_SIZE - 1;
  if (l.alignmentOffset) l.alignmentOffset &= l.physicalBlockSize - 1;
  if (!l.features.writeCache) l.features.fua = false;
}

/* queue_limits_commit_update(): apply a changed copy only if it validates. */
export function queueLimitsCommitUpdate(q: RequestQueue, change: (l: QueueLimits) => void): void {
  const l = structuredClone(q.limits);
  change(l);
  validateLimits(l);
  Object.assign(q.limits, l);
}

/* blk_queue_write_cache(): a volatile cache the user has not turned off. */
export function blkQueueWriteCache(q: RequestQueue): boolean {
  return q.limits.features.writeCache && !q.limits.writeCacheDisabled;
}

/* The most one request carries: the sector limit and what its segments can hold. */
export function maxRequestBytes(l: QueueLimits): number {
  return Math.min(l.maxSectors << SECTOR_SHIFT, l.maxSegments * l.maxSegmentSize);
}

export interface BlkMqOps {
  /* Take the request onto the hardware queue, or say busy (ring full). */
  queueRq(rq: Request): 'ok' | 'busy';
}

/* blk_mq_tag_set: what the driver's hardware queues can hold. */
export interface BlkMqTagSet {
  /* Tags per hardware queue (virtio_blk: the ring's descriptors, halved without indirect ones). */
  queueDepth: number;
  nrHwQueues: number;
  /* mq_ops->timeout: io_timeout exists only for drivers that handle timeouts. */
  hasTimeout: boolean;
}

/* What an I/O scheduler attached to a queue is (elevator.ts). */
export interface ElevatorQueue {
  type: { name: string };
  /* The scheduler's own request tags (sched_tags->nr_tags), which nr_requests may grow to. */
  schedTags: number;
}

export class RequestQueue {
  readonly waiting: Request[] = [];
  dying = false;
  dispatching = false;
  rerun = false;
  inflight = { read: 0, write: 0 };
  /* q->nr_requests: the tag set's depth, or twice it (capped) with a scheduler. */
  nrRequests: number;
  elevator: ElevatorQueue | null = null;
  /* QUEUE_FLAG_REGISTERED: between blk_register_queue() and blk_unregister_queue(). */
  registered = false;
  /* QUEUE_FLAG_NOMERGES, NOXMERGES; SAME_COMP is set on every blk-mq queue. */
  flags = { noMerges: false, noxMerges: false, sameComp: true, sameForce: false };
  /* Writeback throttling (blk-wbt): the target latency in ns, and whether the user switched it. */
  wbt: { minLatNsec: bigint; state: 'on_default' | 'on_manual' | 'off_manual' } | null = null;

  constructor(
    readonly ops: BlkMqOps,
    readonly limits: QueueLimits,
    /* Accounting for the disk's `stat` file, when the request is done. */
    readonly account: (rq: Request) => void = () => {},
    readonly tagSet: BlkMqTagSet = { queueDepth: 128, nrHwQueues: 1, hasTimeout: false },
  ) {
    this.nrRequests = tagSet.queueDepth;
  }
}

export function blkMqAllocRequest(op: ReqOp, sector: number, data: Buffer): Request {
  return { op, sector, data, completed: false, done: new Completion<BlkStatus>() };
}

/* blk_execute_rq_nowait(): queue it and dispatch what the driver can take. */
export function blkExecuteRq(q: RequestQueue, rq: Request): Completion<BlkStatus> {
  if (q.dying) {
    rq.completed = true;
    rq.status = 'ioerr';
    queueMicrotask(() => rq.done.complete('ioerr'));
    return rq.done;
  }
  if (rq.op === 'read') q.inflight.read++;
  else if (rq.op === 'write') q.inflight.write++;
  q.waiting.push(rq);
  blkMqRunHwQueue(q);
  return rq.done;
}

/*
 * blk_mq_run_hw_queue(): dispatch in order until the driver is full. A
 * completion inside queue_rq (the device answers during the kick) may run
 * the queue again: that inner run only notes it, and the outer loop goes on.
 */
export function blkMqRunHwQueue(q: RequestQueue): void {
  if (q.dispatching) {
    q.rerun = true;
    return;
  }
  q.dispatching = true;
  try {
    do {
      q.rerun = false;
      while (q.waiting.length) {
        const rq = q.waiting.shift()!;
        if (q.ops.queueRq(rq) === 'busy') {
          q.waiting.unshift(rq);
          break;
        }
      }
      /* Completions that came in while dispatching may have made room. */
    } while (q.rerun && q.waiting.length);
  } finally {
    q.dispatching = false;
  }
}

/* blk_mq_end_request(): record the result now, wake the waiter from the softirq. */
export function blkMqEndRequest(q: RequestQueue, rq: Request, status: BlkStatus): void {
  rq.completed = true;
  rq.status = status;
  if (rq.op === 'read') q.inflight.read--;
  else if (rq.op === 'write') q.inflight.write--;
  q.account(rq);
  queueMicrotask(() => rq.done.complete(status));
}

/* blk_mark_disk_dead() for the queue: what waits fails, new I/O fails. */
export function blkQueueDying(q: RequestQueue): void {
  q.dying = true;
  for (const rq of q.waiting.splice(0)) blkMqEndRequest(q, rq, 'ioerr');
}
