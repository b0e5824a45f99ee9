/*
 * Metadata through the mount, side by side in one run:
 *
 *  - the attribute cycle (stat + open + read 16 B + close of
 *    sys/devices/vdpa0/driver_override, in C: c/attr_cycle.c) on the
 *    daemon, on the minimal server on vdpafs's own transport
 *    (minimal_fs.ts), and on a C libfuse 2 file system serving the same
 *    path with timeouts 0 and direct_io (c/attrfs.c: never stale by
 *    construction), in cycles per second;
 *  - `find sys` over a daemon holding 1024 vdpa devices, against the same
 *    tree copied to a tmpfs (directories, empty files with the same modes,
 *    the same symlinks), in seconds.
 *
 * Rounds are interleaved so no server always runs on a warmer machine; the
 * figures are medians. Everything started is stopped and unmounted, also on
 * failure. The C pieces are built here with gcc (libfuse-dev comes from apt
 * when missing and we are root; without it the libfuse column is skipped).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ControlClient } from '../control/client';
import { isMounted, ROOT, run, serve, Served, startServer, stop } from './served';

const CSRC = path.join(ROOT, 'src/bench/c');
const BIN = path.join(ROOT, 'dist/bench/bin');
export const ATTR_PATH = 'sys/devices/vdpa0/driver_override';

/* gcc, once per source change. */
function build(name: string, extra: string[] = []): string {
  const src = path.join(CSRC, `${name}.c`);
  const out = path.join(BIN, name);
  fs.mkdirSync(BIN, { recursive: true });
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs) run('gcc', ['-O2', '-Wall', '-o', out, src, ...extra]);
  return out;
}

/* libfuse 2's headers and library, from apt if missing; null when that cannot be done here. */
function libfuseFlags(): string[] | null {
  const probe = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse'], { encoding: 'utf8' });
  if (probe.status === 0) return probe.stdout.trim().split(/\s+/);
  if (process.getuid?.() !== 0) return null;
  process.stderr.write('bench: installing libfuse-dev and pkg-config (apt-get) for the C baseline\n');
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'libfuse-dev', 'pkg-config'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
  });
  if (r.status !== 0) return null;
  const again = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse'], { encoding: 'utf8' });
  return again.status === 0 ? again.stdout.trim().split(/\s+/) : null;
}

export interface CycleResults {
  daemon: number[];
  minimal: number[];
  /* null: the C libfuse baseline could not be built here. */
  libfuse: number[] | null;
}

export async function benchAttrCycle(opts: { rounds?: number; seconds?: number } = {}): Promise<CycleResults> {
  const rounds = opts.rounds ?? 7;
  const seconds = opts.seconds ?? 1;
  const cycle = build('attr_cycle');
  const fuseFlags = libfuseFlags();
  const attrfs = fuseFlags ? build('attrfs', fuseFlags) : null;
  const served: Served[] = [];
  try {
    const daemon = await serve('dist/daemon.js', [], 'daemon');
    served.push(daemon);
    const minimal = await serve('dist/bench/minimal_fs.js', [], 'minimal');
    served.push(minimal);
    let cfs: Served | null = null;
    if (attrfs) {
      cfs = await startServer(
        attrfs,
        (m) => [m, '-f', '-o', 'entry_timeout=0,attr_timeout=0,negative_timeout=0,direct_io,allow_other,default_permissions,fsname=attrfs'],
        'attrfs',
        'mounted',
      );
      served.push(cfs);
    }
    const res: CycleResults = { daemon: [], minimal: [], libfuse: cfs ? [] : null };
    const targets: Array<[string, number[]]> = [
      [daemon.mnt, res.daemon],
      [minimal.mnt, res.minimal],
    ];
    if (cfs) targets.push([cfs.mnt, res.libfuse!]);
    /* Warm-up, then interleaved rounds, starting with a different server each time. */
    for (const [mnt] of targets) run(cycle, [path.join(mnt, ATTR_PATH), '0.2']);
    for (let i = 0; i < rounds; i++) {
      const order = [...targets.slice(i % targets.length), ...targets.slice(0, i % targets.length)];
      for (const [mnt, out] of order) out.push(Number(run(cycle, [path.join(mnt, ATTR_PATH), String(seconds)]).trim()));
    }
    return res;
  } finally {
    for (const s of served.reverse()) await stop(s);
  }
}

export interface FindResults {
  devices: number;
  entries: number;
  vdpafs: number[]; /* seconds */
  tmpfs: number[];
}

/* Copy the structure of `src` into `dst`: directories, empty files with their modes, symlinks. */
function copyTree(src: string, dst: string): number {
  let n = 0;
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, ent.name);
    const d = path.join(dst, ent.name);
    const st = fs.lstatSync(s);
    n++;
    if (ent.isDirectory()) {
      fs.mkdirSync(d, { mode: st.mode & 0o7777 });
      n += copyTree(s, d);
    } else if (ent.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(s), d);
    else fs.writeFileSync(d, '', { mode: st.mode & 0o7777 });
  }
  return n;
}

export async function benchFind(opts: { devices?: number; rounds?: number } = {}): Promise<FindResults> {
  const devices = opts.devices ?? 1024;
  const rounds = opts.rounds ?? 7;
  const served: Served[] = [];
  const tmpfs = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-bench-tmpfs-'));
  try {
    const daemon = await serve('dist/daemon.js', [], 'daemon');
    served.push(daemon);
    const client = await ControlClient.connect(daemon.mnt);
    try {
      for (let i = 1; i < devices; i++)
        await client.call('genl', {
          cmd: 3,
          attrs: [
            ['VDPA_ATTR_DEV_NAME', `vdpa${i}`],
            ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
          ],
        });
    } finally {
      client.close();
    }
    run('mount', ['-t', 'tmpfs', 'vdpafs-bench', tmpfs]);
    fs.mkdirSync(path.join(tmpfs, 'sys'));
    const entries = copyTree(path.join(daemon.mnt, 'sys'), path.join(tmpfs, 'sys'));
    const res: FindResults = { devices, entries, vdpafs: [], tmpfs: [] };
    const find = (dir: string): number => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync('find', ['sys'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`find sys in ${dir} failed: ${r.stderr}`);
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    find(daemon.mnt);
    find(tmpfs);
    for (let i = 0; i < rounds; i++) {
      if (i % 2) {
        res.tmpfs.push(find(tmpfs));
        res.vdpafs.push(find(daemon.mnt));
      } else {
        res.vdpafs.push(find(daemon.mnt));
        res.tmpfs.push(find(tmpfs));
      }
    }
    return res;
  } finally {
    if (isMounted(tmpfs)) spawnSync('umount', ['-l', tmpfs]);
    fs.rmSync(tmpfs, { recursive: true, force: true });
    for (const s of served.reverse()) await stop(s);
  }
}
