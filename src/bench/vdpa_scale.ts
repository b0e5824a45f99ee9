/*
 * How `vdpa dev add` scales with the number of devices already there.
 *
 * In process: a kernel as the daemon boots it, vdpasim_net devices added
 * through the genl family one after the other (yielding to the event loop
 * every few adds, as requests arriving on the socket do). The cost of an
 * add is the mean over the WINDOW adds just before 1 Ki and 16 Ki devices
 * exist: their median (the machine is shared and noisy, and a garbage
 * collection landing in one window would swamp a mean) and their mean. A
 * flat cost has a 16k/1k ratio near 1 (a linear scan for a free minor or a
 * name made it grow with N). Lookup by name and delete are timed at 16 Ki.
 *
 * Through a daemon: its RSS (/proc/PID/status VmRSS) before and after
 * 16 Ki adds over the control socket, per device.
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { bootKernel } from '../kernel/boot';
import { vdpaGenl } from '../drivers/vdpa/vdpa_netlink';
import { vdpaFindDevice } from '../drivers/vdpa/vdpa';
import { VdpaCmd } from '../include/uapi/vdpa';
import { settle } from '../kernel/completion';
import { ControlClient } from '../control/client';

const WINDOW = 256;
const YIELD_EVERY = 64;

export interface ScaleResult {
  /* Microseconds per add with about `at` devices present: median and mean of the window. */
  addUs: Map<number, { median: number; mean: number }>;
  lookupUs: number;
  delUs: number;
}

/* A full collection between warm-up and measurement, so the warm-up's garbage is not billed to the 1 Ki window. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const nowUs = () => Number(process.hrtime.bigint()) / 1000;

function add(k: ReturnType<typeof bootKernel>, name: string): void {
  vdpaGenl(k, VdpaCmd.DEV_NEW, [
    ['VDPA_ATTR_DEV_NAME', name],
    ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
  ]);
}

export async function benchVdpaAddScale(targets: number[]): Promise<ScaleResult> {
  /* Warm-up on a kernel of its own, so the 1 Ki window does not pay for the JIT. */
  const warm = bootKernel();
  for (let i = 1; i < 1024; i++) {
    add(warm, `w${i}`);
    if (i % YIELD_EVERY === 0) await tick();
  }
  collectGarbage();
  const k = bootKernel();
  const addUs = new Map<number, { median: number; mean: number }>();
  const last = Math.max(...targets);
  let window: number[] = [];
  /* vdpa0 is there from boot: device i + 1 is the (i + 2)-th. */
  for (let i = 1; i < last; i++) {
    const t0 = nowUs();
    add(k, `d${i}`);
    const dt = nowUs() - t0;
    const n = i + 1;
    for (const at of targets) if (n > at - WINDOW && n <= at) window.push(dt);
    if (targets.includes(n)) {
      const sorted = [...window].sort((a, b) => a - b);
      addUs.set(n, { median: sorted[sorted.length >> 1], mean: window.reduce((a, b) => a + b, 0) / window.length });
      window = [];
    }
    if (i % YIELD_EVERY === 0) await tick();
  }
  let t0 = nowUs();
  for (let i = 0; i < WINDOW; i++) if (!vdpaFindDevice(k, `d${last - 1 - i}`)) throw new Error('lookup failed');
  const lookupUs = (nowUs() - t0) / WINDOW;
  t0 = nowUs();
  for (let i = 0; i < WINDOW; i++) await settle(vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', `d${last - 1 - i}`]]));
  const delUs = (nowUs() - t0) / WINDOW;
  return { addUs, lookupUs, delUs };
}

function vmRssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/* A daemon's resident memory per vdpasim_net device, over `count` adds through its control socket. */
export async function benchDaemonRssPerDevice(mnt: string, pid: number, count: number): Promise<{ before: number; after: number; perDevice: number }> {
  const c = await ControlClient.connect(mnt);
  try {
    /* Settle first: the boot's garbage is not the devices'. */
    await new Promise((r) => setTimeout(r, 500));
    const before = vmRssBytes(pid);
    const BATCH = 256;
    for (let i = 0; i < count; i += BATCH) {
      const calls = [];
      for (let j = i; j < Math.min(count, i + BATCH); j++) {
        calls.push(
          c.call('genl', {
            cmd: VdpaCmd.DEV_NEW,
            attrs: [
              ['VDPA_ATTR_DEV_NAME', `r${j}`],
              ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
            ],
          }),
        );
      }
      await Promise.all(calls);
    }
    await new Promise((r) => setTimeout(r, 500));
    const after = vmRssBytes(pid);
    return { before, after, perDevice: (after - before) / count };
  } finally {
    c.close();
  }
}
