/*
 * The kernel configuration and host that vdpafs models, where a value
 * depends on them: a distribution's x86-64 build of 6.12 (CONFIG_HZ=1000,
 * RPS, XPS and BQL on, the vDPA, vhost and virtio drivers as modules) on a
 * host with four CPUs, all online. See "Where vdpafs departs from Linux".
 */

/* CONFIG_HZ: jiffies per second (BQL's hold_time and stall_thrs are kept in jiffies). */
export const HZ = 1000;

/* nr_cpu_ids (possible CPUs), all of them online: the width of rps_cpus, mq/0/cpu_list. */
export const NR_CPU_IDS = 4;

/* jiffies_to_msecs(), msecs_to_jiffies() (rounding up, as the kernel does). */
export function jiffiesToMsecs(j: number): number {
  return Math.floor((j * 1000) / HZ);
}

export function msecsToJiffies(ms: number): number {
  return Math.ceil((ms * HZ) / 1000);
}

/*
 * The memory page-writeback counts as dirtyable (free plus file pages),
 * in 4 KiB pages: 2 GiB. The bdi's min_bytes/max_bytes are ratios of the
 * dirty threshold computed from it.
 */
export const DIRTYABLE_PAGES = 524288;
