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
  maxSectors: number;
  maxSegments: number;
  maxSegmentSize: number;
  maxDiscardSegments: number;
  maxHwDiscardSectors: number;
  maxWriteZeroesSectors: number;
  discardGranularity: number;
  alignmentOffset: number;
  rotational: boolean;
  writeCache: boolean;
  readAheadKb: number;
}

/* BLK_DEF_MAX_SECTORS_CAP: the soft limit a new queue starts with (1280 KiB). */
export const BLK_DEF_MAX_SECTORS_CAP = 2560;

export function defaultQueueLimits(): QueueLimits {
  return {
    logicalBlockSize: SECTOR_SIZE,
    physicalBlockSize: SECTOR_SIZE,
    ioMin: SECTOR_SIZE,
    ioOpt: 0,
    maxHwSectors: BLK_DEF_MAX_SECTORS_CAP,
    maxSectors: BLK_DEF_MAX_SECTORS_CAP,
    maxSegments: 128,
    maxSegmentSize: 65536,
    maxDiscardSegments: 1,
    maxHwDiscardSectors: 0,
    maxWriteZeroesSectors: 0,
    discardGranularity: 0,
    alignmentOffset: 0,
    rotational: true,
    writeCache: false,
    readAheadKb: 128,
  };
}

/* blk_validate_limits(): the soft limit never exceeds the hard one nor the cap. */
export function validateLimits(l: QueueLimits): void {
  l.maxHwSectors = Math.floor(l.maxHwSectors / (l.logicalBlockSize >> SECTOR_SHIFT)) * (l.logicalBlockSize >> SECTOR_SHIFT);
  l.maxSectors = Math.min(l.maxHwSectors, BLK_DEF_MAX_SECTORS_CAP);
  if (l.physicalBlockSize < l.logicalBlockSize) l.physicalBlockSize = l.logicalBlockSize;
  if (l.ioMin < l.physicalBlockSize) l.ioMin = l.physicalBlockSize;
}

/* The most one request carries: the sector limit and what its segments can hold. */
export function maxRequestBytes(l: QueueLimits): number {
  return Math.min(l.maxSectors << SECTOR_SHIFT, l.maxSegments * l.maxSegmentSize);
}

export interface BlkMqOps {
  /* Take the request onto the hardware queue, or say busy (ring full). */
  queueRq(rq: Request): 'ok' | 'busy';
}

export class RequestQueue {
  readonly waiting: Request[] = [];
  dying = false;
  dispatching = false;
  rerun = false;
  inflight = { read: 0, write: 0 };

  constructor(
    readonly ops: BlkMqOps,
    readonly limits: QueueLimits,
    /* Accounting for the disk's `stat` file, when the request is done. */
    readonly account: (rq: Request) => void = () => {},
  ) {}
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
