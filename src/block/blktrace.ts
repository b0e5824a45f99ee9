/*
 * kernel/trace/blktrace.c, its sysfs half: <disk>/trace/ (CONFIG_BLK_DEV_IO_TRACE).
 * Writing `enable` sets a trace up or tears it down; writing any other
 * file sets one up if needed and changes it. Without a trace, every file
 * but `enable` reads "disabled". No events are recorded: there is no
 * debugfs relay here to read them from.
 */
import { KernDir } from '../fs/kernfs';
import { attr } from '../fs/sysfs';
import { fail } from '../kernel/errno';
import { kstrtoull } from '../lib/kstrtox';
import { storeString } from '../fs/sysfs';
import type { Gendisk } from './genhd';

/* mask_maps[]: BLK_TC_* bit i is named MASK_NAMES[i]. */
const MASK_NAMES = ['read', 'write', 'flush', 'sync', 'queue', 'requeue', 'issue', 'complete', 'fs', 'pc', 'notify', 'ahead', 'meta', 'discard', 'drv_data', 'fua'];

interface BlkTrace {
  actMask: number;
  pid: number;
  startLba: bigint;
  endLba: bigint;
}

/* blk_trace_str2mask(): comma-separated category names, any case; an unknown one is EINVAL. */
function str2mask(s: string): number {
  let mask = 0;
  for (const token of s.trim().split(',')) {
    if (!token) continue;
    const i = MASK_NAMES.indexOf(token.toLowerCase());
    if (i === -1) fail('EINVAL');
    mask |= 1 << i;
  }
  return mask;
}

/* blk_trace_mask2str() */
function mask2str(mask: number): string {
  return `${MASK_NAMES.filter((_, i) => mask & (1 << i)).join(',')}\n`;
}

export function blkTraceGroup(disk: Gendisk): KernDir {
  let bt: BlkTrace | null = null;
  /* blk_trace_setup_queue(): every category, the whole disk. */
  const setup = (): BlkTrace => ({ actMask: 0xffff, pid: 0, startLba: 0n, endLba: BigInt(disk.capacity) });
  const dir = new KernDir('trace');
  const file = (name: string, show: (t: BlkTrace) => string, set: (t: BlkTrace, v: bigint) => void) =>
    dir.add(
      attr(name, {
        mode: 0o644,
        show: () => (bt ? show(bt) : 'disabled\n'),
        /* sysfs_blk_trace_attr_store(): kstrtoull base 0 (act_mask also takes names). */
        store: (buf) => {
          let v: bigint;
          try {
            v = kstrtoull(buf, 0);
          } catch {
            if (name !== 'act_mask') fail('EINVAL');
            v = BigInt(str2mask(storeString(buf)));
          }
          bt ??= setup();
          set(bt, v);
          return buf.length;
        },
      }),
    );
  dir.add(
    attr('enable', {
      mode: 0o644,
      show: () => `${bt ? 1 : 0}\n`,
      store: (buf) => {
        let v: bigint;
        try {
          v = kstrtoull(buf, 0);
        } catch {
          fail('EINVAL');
        }
        bt = v ? (bt ?? setup()) : null;
        return buf.length;
      },
    }),
  );
  file('act_mask', (t) => mask2str(t.actMask), (t, v) => (t.actMask = Number(v & 0xffffn)));
  file('pid', (t) => `${t.pid}\n`, (t, v) => (t.pid = Number(v & 0xffff_ffffn)));
  file('start_lba', (t) => `${t.startLba}\n`, (t, v) => (t.startLba = v));
  file('end_lba', (t) => `${t.endLba}\n`, (t, v) => (t.endLba = v));
  return dir;
}
