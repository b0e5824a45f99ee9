/*
 * No torn state under concurrency. The kernel keeps its tree whole with
 * device_lock, kernfs active references and module references; these
 * tests drive the model through interleavings where something sleeps (an
 * unbind or a delete waiting for /dev/vhost-vdpa-N to close) while other
 * writers act, and run the invariant checker (src/kernel/invariants.ts)
 * after every step.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../src/kernel/boot';
import { Completion, MaybeWait } from '../../src/kernel/completion';
import { KernelError } from '../../src/kernel/errno';
import type { Kernel } from '../../src/kernel/kernel';
import type { OpenFile } from '../../src/fs/kernfs';
import { KernFile } from '../../src/fs/kernfs';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { checkKernelInvariants } from '../../src/kernel/invariants';
import { errnoOf, exists, ls, sysfsWrite } from './sysfs_io';

function openNode(k: Kernel, path: string): OpenFile {
  const node = k.fs.lookup(path);
  if (!(node instanceof KernFile)) throw new KernelError('ENOENT', path);
  return node.open({ read: true, write: true, nonblock: false });
}

function devAdd(k: Kernel, name: string, mgmtdev = 'vdpasim_net'): void {
  vdpaGenl(k, VdpaCmd.DEV_NEW, [
    ['VDPA_ATTR_DEV_NAME', name],
    ['VDPA_ATTR_MGMTDEV_DEV_NAME', mgmtdev],
  ]);
}

const pending = (m: MaybeWait<unknown>): m is Completion<unknown> => m instanceof Completion;

describe('module unload against an in-flight bind', () => {
  it('rmmod waits for a bind still waiting behind a pending unbind (kernfs active reference), so the bind completes against a live driver and rmmod then unbinds it', () => {
    const k = bootKernel();
    k.modules.modprobe('virtio_vdpa');
    const fd = openNode(k, '/dev/vhost-vdpa-0');
    const unbind = sysfsWrite(k, '/sys/bus/vdpa/drivers/vhost_vdpa/unbind', 'vdpa0');
    expect(pending(unbind)).toBe(true);
    sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'virtio_vdpa\n');
    const bind = sysfsWrite(k, '/sys/bus/vdpa/drivers/virtio_vdpa/bind', 'vdpa0');
    expect(pending(bind)).toBe(true);
    const rmmod = k.modules.rmmod('virtio_vdpa');
    expect(pending(rmmod)).toBe(true);
    /* The bind files are gone at once; the module is going and stays until the bind returns. */
    expect(exists(k, '/sys/bus/vdpa/drivers/virtio_vdpa/bind')).toBe(false);
    expect(k.modules.get('virtio_vdpa')!.state).toBe('going');
    expect(checkKernelInvariants(k)).toEqual([]);

    const results: unknown[] = [];
    (bind as Completion<number>).toPromise().then((n) => results.push(['bind', n]));
    fd.release();
    expect(checkKernelInvariants(k, { openRefs: {} })).toEqual([]);
    /* The bind attached virtio_vdpa; rmmod then unbound vdpa0 and removed virtio0 with it. */
    expect(k.modules.get('virtio_vdpa')).toBeUndefined();
    expect(exists(k, '/sys/devices/vdpa0/driver')).toBe(false);
    expect(ls(k, '/sys/devices/vdpa0').filter((n) => n.startsWith('virtio'))).toEqual([]);
    expect(ls(k, '/sys/bus/virtio/devices')).toEqual([]);
    /* The virtio bus has nothing on it and unloads cleanly. */
    k.modules.rmmod('virtio');
    k.modules.rmmod('virtio_ring');
    expect(checkKernelInvariants(k, { openRefs: {} })).toEqual([]);
  });

  it('a write to a bind file opened before its driver was removed fails ENODEV (the node is deactivated)', () => {
    const k = bootKernel();
    k.modules.modprobe('virtio_vdpa');
    const node = k.fs.lookup('/sys/bus/vdpa/drivers/virtio_vdpa/bind') as KernFile;
    const f = node.open({ read: false, write: true, nonblock: false });
    k.modules.rmmod('virtio_vdpa');
    sysfsWrite(k, '/sys/bus/vdpa/drivers/vhost_vdpa/unbind', 'vdpa0');
    expect(errnoOf(() => f.write(Buffer.from('vdpa0'), 0))).toBe('ENODEV');
    f.release();
    expect(exists(k, '/sys/devices/vdpa0/driver')).toBe(false);
    expect(checkKernelInvariants(k, { openRefs: {} })).toEqual([]);
  });

  it('modprobe of a module that is still going waits until it is gone, then loads it again', () => {
    const k = bootKernel();
    const fd = openNode(k, '/dev/vhost-vdpa-0');
    /* vdpa_sim_net's exit deletes vdpa0, whose vhost_vdpa remove waits for the close. */
    const rmmod = k.modules.rmmod('vdpa_sim_net');
    expect(pending(rmmod)).toBe(true);
    expect(errnoOf(() => k.modules.modprobe('vdpa_sim_net'))).toBe('EBUSY');
    const again = k.modules.modprobeWait('vdpa_sim_net');
    expect(pending(again)).toBe(true);
    fd.release();
    expect(k.modules.get('vdpa_sim_net')!.state).toBe('live');
    expect(exists(k, '/sys/devices/vdpasim_net')).toBe(true);
    expect(checkKernelInvariants(k, { openRefs: {} })).toEqual([]);
  });
});

/* mulberry32: a small seeded PRNG, so a failing interleaving can be replayed by its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface World {
  k: Kernel;
  open: Map<string, OpenFile>;
  inFlight: Set<Completion<unknown>>;
  log: string[];
  /* How many operations slept: the interleavings are only interesting if some did. */
  slept: number;
}

const DRIVERS = ['vhost_vdpa', 'virtio_vdpa'];
const MODULES = ['vhost_vdpa', 'virtio_vdpa', 'vdpa_sim_net', 'vdpa_sim_blk', 'virtio', 'vdpa'];
const NAMES = ['vdpa0', 'vdpa1'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

/* One random operation, as one of several shells would issue it; errors are the kernel's answers. */
function step(w: World, r: () => number): void {
  const k = w.k;
  const dev = pick(r, NAMES);
  const drv = pick(r, DRIVERS);
  const track = (what: string, m: MaybeWait<unknown>) => {
    w.log.push(what + (pending(m) ? ' (sleeps)' : ''));
    if (!pending(m)) return;
    w.slept++;
    w.inFlight.add(m);
    m.whenSettled(() => w.inFlight.delete(m));
  };
  /* [weight, operation]: the sleeping paths (open nodes, unbind, bind, rmmod) come up often. */
  const ops: Array<[number, () => void]> = [
    [3, () => {
      const nodes = (ls(k, '/dev') as string[]).filter((n) => !w.open.has(n));
      if (!nodes.length) return;
      const n = pick(r, nodes);
      w.open.set(n, openNode(k, `/dev/${n}`));
      w.log.push(`open ${n}`);
    }],
    [1, () => {
      const held = [...w.open.keys()];
      if (!held.length) return;
      const n = pick(r, held);
      const f = w.open.get(n)!;
      w.open.delete(n);
      w.log.push(`close ${n}`);
      f.release();
    }],
    [2, () => track(`override ${dev}`, sysfsWrite(k, `/sys/bus/vdpa/devices/${dev}/driver_override`, `${pick(r, [...DRIVERS, '', 'none'])}\n`))],
    [2, () => track(`unbind ${dev} ${drv}`, sysfsWrite(k, `/sys/bus/vdpa/drivers/${drv}/unbind`, dev))],
    [3, () => track(`bind ${dev} ${drv}`, sysfsWrite(k, `/sys/bus/vdpa/drivers/${drv}/bind`, dev))],
    [1, () => track(`drivers_probe ${dev}`, sysfsWrite(k, '/sys/bus/vdpa/drivers_probe', dev))],
    [1, () => {
      w.log.push(`dev add ${dev}`);
      devAdd(k, dev, pick(r, ['vdpasim_net', 'vdpasim_blk']));
    }],
    [1, () => track(`dev del ${dev}`, vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', dev]]))],
    [2, () => {
      const m = pick(r, MODULES);
      track(`modprobe ${m}`, k.modules.modprobeWait(m));
    }],
    [2, () => {
      const m = pick(r, MODULES);
      track(`rmmod ${m}`, k.modules.rmmod(m));
    }],
  ];
  const total = ops.reduce((n, [wgt]) => n + wgt, 0);
  let x = r() * total;
  const op = ops.find(([wgt]) => (x -= wgt) < 0)![1];
  try {
    op();
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    w.log.push(`  -> ${e.errno}`);
  }
}

/* Leave nothing running: close every file (the sleepers wake), then check the whole tree. */
function quiesce(w: World): void {
  for (const [n, f] of w.open) {
    w.log.push(`close ${n}`);
    f.release();
  }
  w.open.clear();
}

describe('randomized interleavings of the model\'s operations', () => {
  const SEEDS = 150;
  const STEPS = 60;

  it(`${SEEDS} seeded runs of ${STEPS} operations (bind, unbind, override, drivers_probe, dev add/del, modprobe, rmmod, open/close of vhost nodes): the invariants hold after every step and at rest`, () => {
    let slept = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = rng(seed);
      const k = bootKernel();
      k.modules.modprobe('virtio_vdpa');
      k.modules.modprobe('vdpa_sim_blk');
      const w: World = { k, open: new Map(), inFlight: new Set(), log: [], slept: 0 };
      for (let i = 0; i < STEPS; i++) {
        step(w, r);
        const bad = checkKernelInvariants(k);
        if (bad.length) throw new Error(`seed ${seed}, step ${i}: ${bad.join('; ')}\n${w.log.join('\n')}`);
      }
      quiesce(w);
      const bad = checkKernelInvariants(k, { openRefs: {} });
      if (bad.length) throw new Error(`seed ${seed}, at rest: ${bad.join('; ')}\n${w.log.join('\n')}`);
      if (w.inFlight.size) throw new Error(`seed ${seed}: ${w.inFlight.size} operations still asleep with every file closed\n${w.log.join('\n')}`);
      slept += w.slept;
    }
    expect(slept).toBeGreaterThan(SEEDS);
  });
});
