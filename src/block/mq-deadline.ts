/*
 * block/mq-deadline.c: the deadline I/O scheduler, as far as sysfs sees
 * it -- its tunables under queue/iosched/. Requests are not reordered here
 * (the simulated device completes each as it is queued); the scheduler
 * exists so the queue has the scheduler, the depth and the files a
 * single-queue disk has on Linux.
 */
import { attr } from '../fs/sysfs';
import type { KernfsNode } from '../fs/kernfs';
import { kstrtoint } from '../lib/kstrtox';
import { HZ, jiffiesToMsecs, msecsToJiffies } from '../kernel/config';

const INT_MAX = 0x7fff_ffff;
const INT_MIN = -0x8000_0000;

/* struct deadline_data: the tunables, times in jiffies. */
export class DeadlineData {
  readExpire = HZ / 2;
  writeExpire = 5 * HZ;
  prioAgingExpire = 10 * HZ;
  writesStarved = 2;
  frontMerges = 1;
  fifoBatch = 16;
  /* dd_depth_updated(): the queue's nr_requests. */
  asyncDepth: number;

  constructor(nrRequests: number) {
    this.asyncDepth = nrRequests;
  }
}

/*
 * deadline_attrs: SHOW_INT/SHOW_JIFFIES ("%d", times in ms) and
 * STORE_FUNCTION: kstrtoint base 0, then clamped to the attribute's range
 * (never refused for being out of it).
 */
export function deadlineAttrs(dd: DeadlineData): KernfsNode[] {
  const entry = (name: string, get: () => number, set: (v: number) => void, min: number, max: number, jiffies = false) =>
    attr(name, {
      show: () => `${jiffies ? jiffiesToMsecs(get()) : get()}\n`,
      store: (buf) => {
        const v = Math.min(Math.max(kstrtoint(buf, 0), min), max);
        set(jiffies ? msecsToJiffies(v) : v);
        return buf.length;
      },
    });
  return [
    entry('read_expire', () => dd.readExpire, (v) => (dd.readExpire = v), 0, INT_MAX, true),
    entry('write_expire', () => dd.writeExpire, (v) => (dd.writeExpire = v), 0, INT_MAX, true),
    entry('writes_starved', () => dd.writesStarved, (v) => (dd.writesStarved = v), INT_MIN, INT_MAX),
    entry('front_merges', () => dd.frontMerges, (v) => (dd.frontMerges = v), 0, 1),
    entry('async_depth', () => dd.asyncDepth, (v) => (dd.asyncDepth = v), 1, INT_MAX),
    entry('fifo_batch', () => dd.fifoBatch, (v) => (dd.fifoBatch = v), 0, INT_MAX),
    entry('prio_aging_expire', () => dd.prioAgingExpire, (v) => (dd.prioAgingExpire = v), 0, INT_MAX, true),
  ];
}
