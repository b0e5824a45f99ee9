/*
 * No torn state under concurrency, on a real mount: several shells bind,
 * unbind, override, probe, add and delete devices and load and unload
 * modules at once while another holds /dev/vhost-vdpa-N open now and then.
 * Afterwards the invariant checker of the model (src/kernel/invariants.ts)
 * walks the mounted tree with plain fs calls and must find nothing.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, Mount, mountKernel, runScript, scriptEnv, SCRIPTS, sh } from './harness';
import { checkInvariants, TreeView } from '../../src/kernel/invariants';

/* The mounted tree as the checker's view: lstat/readdir/readlink/read, nothing followed. */
function mountView(mnt: string): TreeView {
  const at = (p: string) => path.join(mnt, p);
  return {
    list: (p) => {
      try {
        return fs.lstatSync(at(p)).isDirectory() ? fs.readdirSync(at(p)) : null;
      } catch {
        return null;
      }
    },
    readlink: (p) => {
      try {
        return fs.readlinkSync(at(p));
      } catch {
        return null;
      }
    },
    read: (p) => {
      try {
        return fs.readFileSync(at(p), 'latin1');
      } catch {
        return null;
      }
    },
    exists: (p) => {
      try {
        fs.lstatSync(at(p));
        return true;
      } catch {
        return false;
      }
    },
  };
}

function runWorker(m: Mount, seed: number, cycles: number, role?: 'holder'): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(SCRIPTS, 'concurrency_worker.sh')], {
      env: scriptEnv(m, { SEED: String(seed), CYCLES: String(cycles), ...(role ? { WORKER: role } : {}) }),
      stdio: 'ignore',
    });
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

const WORKERS = 4;
const CYCLES = 25;

describe('concurrency (one classic mount)', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel();
  });
  afterAll(async () => {
    await m?.stop();
  });

  it(`${WORKERS} shells × ${CYCLES} random operations on vdpa0/vdpa1 while a node is held open: the tree is whole afterwards`, async () => {
    const setup = sh(m, 'vdpafs modprobe virtio_vdpa vdpa_sim_blk && vdpa dev add name vdpa1 mgmtdev vdpasim_blk');
    expect(setup.status, explain(setup, m)).toBe(0);
    const codes = await Promise.all([
      ...Array.from({ length: WORKERS }, (_, i) => runWorker(m, 1000 + i, CYCLES)),
      runWorker(m, 2000, CYCLES, 'holder'),
    ]);
    expect(codes).toEqual(Array(WORKERS + 1).fill(0));
    /* Every node is closed now; nothing may still be asleep, and the refcounts are the holders'. */
    expect(checkInvariants(mountView(m.mnt), { openRefs: {} })).toEqual([]);
    const alive = sh(m, 'cat "$MNT/sys/kernel/uevent_seqnum" && vdpa dev show > /dev/null');
    expect(alive.status, explain(alive, m)).toBe(0);
  });

  it('rmmod of a driver waits for a bind on it that waits behind a pending unbind; then the bind completes and rmmod unbinds it', () => {
    const r = runScript(m, 'unload_race.sh');
    expect(r.status, explain(r, m)).toBe(0);
    expect(checkInvariants(mountView(m.mnt), { openRefs: {} })).toEqual([]);
  });
});
