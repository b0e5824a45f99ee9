/*
 * block/blk-mq-sysfs.c: <disk>/mq/, one directory per hardware queue with
 * its tag counts and the CPUs mapped to it, and an empty cpuN/ per
 * software queue (kobjects without attributes). A single hardware queue
 * serves every CPU. Their kobjects are not devices, so no uevent reaches
 * userspace.
 */
import { KernDir } from '../fs/kernfs';
import { roAttr } from '../fs/sysfs';
import { NR_CPU_IDS } from '../kernel/config';
import type { Gendisk } from './genhd';

/* blk_mq_sysfs_register() */
export function blkMqSysfsRegister(disk: Gendisk): void {
  const q = disk.queue;
  const mq = disk.dev!.kobj!.mkdir('mq');
  const cpus = Array.from({ length: NR_CPU_IDS }, (_, i) => i);
  for (let h = 0; h < q.tagSet.nrHwQueues; h++) {
    const hctx = mq.mkdir(String(h));
    const mine = cpus.filter((c) => c % q.tagSet.nrHwQueues === h);
    hctx.add(roAttr('nr_tags', `${q.tagSet.queueDepth}\n`));
    hctx.add(roAttr('nr_reserved_tags', '0\n'));
    /* blk_mq_hw_sysfs_cpus_show(): "0, 1, 2, 3" */
    hctx.add(roAttr('cpu_list', `${mine.join(', ')}\n`));
    for (const c of mine) hctx.mkdir(`cpu${c}`);
  }
}

/* blk_mq_sysfs_unregister() */
export function blkMqSysfsUnregister(disk: Gendisk): void {
  const dir = disk.dev!.kobj!;
  const mq = dir.get('mq');
  if (mq instanceof KernDir) dir.removeNode(mq);
}
