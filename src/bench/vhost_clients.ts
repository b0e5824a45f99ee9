/*
 * The C vhost-vdpa clients (src/bench/clients/): built with gcc when used,
 * and the benchmarks that run them against a daemon's /dev/vhost-vdpa-0.
 *
 *  - vdpa_client: the end-to-end checks (test/e2e/vhost_client.test.ts);
 *  - vdpa_bench: one ioctl round trip (VHOST_VDPA_GET_STATUS), kick -> used
 *    -> call for one 64-byte frame, and frames per second of 1500-byte
 *    frames with 32 in flight, all timed in C.
 *
 * A VMM reaches the node with ioctls, which only a transport that carries
 * them can serve. Against one that cannot (fuse-native), the first ioctl
 * fails ENOTTY: the benchmarks then report that instead of a number.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { serve, stop, Served } from './served';

const ROOT = path.resolve(__dirname, '../..');
/* The sources stay in src/ (tsc ignores them); dist/ has none. */
export const CLIENTS_DIR = path.join(ROOT, 'src/bench/clients');

export interface ClientBinaries {
  dir: string;
  client: string;
  bench: string;
  /* Remove the build directory. */
  remove(): void;
}

/* gcc the two programs into a fresh temporary directory; throws with gcc's output on failure. */
export function buildClients(): ClientBinaries {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-clients-'));
  const lib = path.join(CLIENTS_DIR, 'vdpa_user.c');
  const build = (name: string): string => {
    const out = path.join(dir, name);
    const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, path.join(CLIENTS_DIR, `${name}.c`), lib], {
      encoding: 'utf8',
    });
    if (r.error) throw new Error(`cannot run gcc (apt-get install gcc libc6-dev): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`gcc ${name}.c failed:\n${r.stderr}`);
    return out;
  };
  try {
    return { dir, client: build('vdpa_client'), bench: build('vdpa_bench'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface Latency {
  median_us: number;
  p10_us: number;
  p90_us: number;
  min_us: number;
  iterations: number;
}

export interface Fps {
  frames_per_sec: number;
  sent: number;
  received: number;
  seconds: number;
}

/* One vdpa_bench run: its JSON line, or the reason it could not run (its stderr). */
export type BenchOutcome<T> = { ok: true; value: T } | { ok: false; reason: string };

export function runBench<T>(bench: string, args: string[], timeoutMs = 120_000): BenchOutcome<T> {
  const r = spawnSync(bench, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) return { ok: false, reason: (r.stderr || r.stdout || `exit ${r.status ?? r.signal}`).trim() };
  return { ok: true, value: JSON.parse(r.stdout.trim().split('\n').pop()!) as T };
}

export interface VhostClientResults {
  node: string;
  status: BenchOutcome<Latency>;
  /* The same ioctl against the minimal server's node: the transport's own cost. */
  statusBaseline: BenchOutcome<Latency>;
  kick: BenchOutcome<Latency>;
  fps: BenchOutcome<Fps>;
}

/*
 * Start a daemon (default boot: vdpa0 from vdpasim_net bound to vhost_vdpa)
 * and the minimal server on the same transport (minimal_fs.ts, whose
 * dev/vhost-vdpa-0 answers VHOST_VDPA_GET_STATUS without a model), and run
 * the C benchmarks against their nodes.
 */
export async function benchVhostClients(opts: { quick?: boolean } = {}): Promise<VhostClientResults> {
  const bins = buildClients();
  const served: Served[] = [];
  try {
    const daemon = await serve('dist/daemon.js', [], 'daemon');
    served.push(daemon);
    const minimal = await serve('dist/bench/minimal_fs.js', [], 'minimal');
    served.push(minimal);
    const node = path.join(daemon.mnt, 'dev/vhost-vdpa-0');
    const iterations = opts.quick ? '2000' : '20000';
    const status = runBench<Latency>(bins.bench, ['status', node, iterations]);
    const statusBaseline = runBench<Latency>(bins.bench, ['status', path.join(minimal.mnt, 'dev/vhost-vdpa-0'), iterations]);
    const kick = runBench<Latency>(bins.bench, ['kick', node, opts.quick ? '200' : '2000']);
    const fps = runBench<Fps>(bins.bench, ['fps', node, opts.quick ? '1' : '3', '1500', '32']);
    return { node, status, statusBaseline, kick, fps };
  } finally {
    for (const s of served) await stop(s);
    bins.remove();
  }
}
