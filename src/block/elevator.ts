/*
 * block/elevator.c: choosing a queue's I/O scheduler, and queue/scheduler.
 *
 * The elevators registered are the built-in ones of the modelled
 * configuration: mq-deadline only (kyber and bfq are not modelled, so
 * asking for them is EINVAL, as for any name no module provides). A queue
 * with one hardware queue gets mq-deadline by default (elevator_get_default());
 * attaching a scheduler sets nr_requests to twice the tag depth, capped at
 * 2 * BLKDEV_DEFAULT_RQ, and detaching it sets it back to the depth.
 */
import { fail } from '../kernel/errno';
import { KernDir } from '../fs/kernfs';
import { isspace } from '../lib/kstrtox';
import { storeString } from '../fs/sysfs';
import type { ElevatorQueue, RequestQueue } from './blk-mq';
import { DeadlineData, deadlineAttrs } from './mq-deadline';

/* include/linux/blk-mq.h */
export const BLKDEV_MIN_RQ = 4;
export const BLKDEV_DEFAULT_RQ = 128;
/* block/blk-mq-sched.h */
export const MAX_SCHED_RQ = 16 * BLKDEV_DEFAULT_RQ;
/* ELV_NAME_MAX: what strscpy() keeps of a written name, NUL included. */
const ELV_NAME_MAX = 16;

interface ElevatorType {
  name: string;
  alias: string | null;
}

/* elv_list, in registration order. */
const ELV_LIST: ElevatorType[] = [{ name: 'mq-deadline', alias: 'deadline' }];

export class DeadlineElevator implements ElevatorQueue {
  readonly type = ELV_LIST[0];
  readonly data: DeadlineData;
  /* The iosched/ directory while registered. */
  kobj: KernDir | null = null;

  constructor(public schedTags: number) {
    this.data = new DeadlineData(schedTags);
  }
}

/* elevator_match(): the name or its alias. */
function elevatorFind(name: string): ElevatorType | undefined {
  return ELV_LIST.find((e) => e.name === name || e.alias === name);
}

/* blk_mq_init_sched(): sched tags and nr_requests of 2 * min(depth, BLKDEV_DEFAULT_RQ). */
function blkMqInitSched(q: RequestQueue): void {
  q.nrRequests = 2 * Math.min(q.tagSet.queueDepth, BLKDEV_DEFAULT_RQ);
  q.elevator = new DeadlineElevator(q.nrRequests);
}

/* elevator_init_mq(): a single hardware queue gets mq-deadline. */
export function elevatorInitMq(q: RequestQueue): void {
  if (q.elevator || q.tagSet.nrHwQueues !== 1) return;
  blkMqInitSched(q);
}

/* elv_register_queue(): queue/iosched/ with the scheduler's attributes. */
export function elvRegisterQueue(q: RequestQueue, queueDir: KernDir): void {
  const e = q.elevator as DeadlineElevator | null;
  if (!e) return;
  const dir = queueDir.mkdir('iosched');
  for (const node of deadlineAttrs(e.data)) dir.add(node);
  e.kobj = dir;
}

export function elvUnregisterQueue(q: RequestQueue): void {
  const e = q.elevator as DeadlineElevator | null;
  if (!e?.kobj) return;
  e.kobj.parent?.removeNode(e.kobj);
  e.kobj = null;
}

/* elv_iosched_show(): "none", then the registered ones, the current in brackets, each followed by a space. */
export function elvIoschedShow(q: RequestQueue): string {
  let s = q.elevator ? 'none ' : '[none] ';
  for (const e of ELV_LIST) s += q.elevator?.type === e ? `[${e.name}] ` : `${e.name} `;
  return `${s}\n`;
}

/* strstrip(): without leading and trailing whitespace. */
function strstrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (b > 0 && isspace(s[b - 1])) b--;
  while (a < b && isspace(s[a])) a++;
  return s.slice(a, b);
}

/*
 * elv_iosched_store() -> elevator_change(): ENOENT while the queue is not
 * registered; anything starting with "none" detaches the scheduler; the
 * current one (or its alias) is a no-op; an unknown name is EINVAL.
 */
export function elvIoschedStore(q: RequestQueue, queueDir: KernDir, buf: Buffer): number {
  const name = strstrip(storeString(buf).slice(0, ELV_NAME_MAX - 1));
  if (!q.registered) fail('ENOENT');
  if (name.startsWith('none')) {
    if (q.elevator) {
      elvUnregisterQueue(q);
      q.elevator = null;
      q.nrRequests = q.tagSet.queueDepth;
    }
    return buf.length;
  }
  const e = elevatorFind(name);
  if (q.elevator && e && q.elevator.type === e) return buf.length;
  if (!e) fail('EINVAL');
  blkMqInitSched(q);
  elvRegisterQueue(q, queueDir);
  return buf.length;
}

/*
 * blk_mq_update_nr_requests() for queue/nr_requests: with a scheduler the
 * sched tags may grow up to MAX_SCHED_RQ; without one, never past the tag
 * set's depth (EINVAL). mq-deadline's depth_updated hook runs before
 * q->nr_requests takes the new value, so its async_depth gets the old one.
 */
export function blkMqUpdateNrRequests(q: RequestQueue, nr: number): void {
  if (nr === q.nrRequests) return;
  const e = q.elevator as DeadlineElevator | null;
  if (e) {
    if (nr > e.schedTags) {
      if (nr > MAX_SCHED_RQ) fail('EINVAL');
      e.schedTags = nr;
    }
    e.data.asyncDepth = q.nrRequests;
  } else if (nr > q.tagSet.queueDepth) fail('EINVAL');
  q.nrRequests = nr;
}
