/*
 * Through the mount: dd in 1 MiB blocks (O_DIRECT, so FUSE sends 128 KiB
 * requests) to and from a vdpasim_blk device's node, served by the
 * built-in vhost-vdpa driver, against the same dd on a minimal fuse-native
 * file (minimal_fs.ts) started in the same run. Both file systems run as
 * child processes with the same mount options; both are unmounted at the
 * end, whatever happens.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface DdResult {
  write: number[]; /* bytes/s per run */
  read: number[];
}

export interface MountDdResults {
  node: string;
  mib: number;
  device: DdResult;
  baseline: DdResult;
}

export interface Served {
  mnt: string;
  child: ChildProcess;
}

function waitReady(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} not ready after 20 s:\n${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/^ready /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

/* Start a file system (a script under dist/) on a fresh temporary mount point; resolves once it printed `ready`. */
export async function serve(script: string, args: string[], what: string): Promise<Served> {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), `vdpafs-bench-${what}-`));
  const child = spawn(process.execPath, [path.join(ROOT, script), ...args, mnt], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBUG: '' },
  });
  try {
    await waitReady(child, what);
  } catch (e) {
    await stop({ mnt, child });
    throw e;
  }
  return { mnt, child };
}

/* Stop it (SIGTERM, then SIGKILL after 5 s), unmount what is left and remove the mount point. */
export async function stop(s: Served): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  }
  const mounted = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === s.mnt);
  if (mounted) spawnSync('fusermount', ['-uz', s.mnt]);
  fs.rmSync(s.mnt, { recursive: true, force: true });
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { env: { ...env, LC_ALL: 'C' }, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stderr + r.stdout;
}

/* dd's own figure: "N bytes (...) copied, S s, ..." -> bytes/s. */
function dd(args: string[]): number {
  const out = run('dd', [...args, 'bs=1M']);
  const m = /(\d+) bytes .* copied, ([0-9.e+-]+) s/.exec(out);
  if (!m) throw new Error(`cannot parse dd output: ${out}`);
  return Number(m[1]) / Number(m[2]);
}

function ddWrite(file: string, mib: number): number {
  return dd(['if=/dev/zero', `of=${file}`, `count=${mib}`, 'oflag=direct', 'conv=notrunc']);
}

function ddRead(file: string, mib: number): number {
  return dd([`if=${file}`, 'of=/dev/null', `count=${mib}`, 'iflag=direct']);
}

/* Add a vdpasim_blk device bound to vhost_vdpa on the daemon's kernel; returns its node. */
function addBlk(mnt: string): string {
  const env = { ...process.env, VDPAFS_ROOT: mnt, PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}` };
  run(path.join(ROOT, 'bin/vdpafs'), ['modprobe', 'vdpa_sim_blk'], env);
  run(path.join(ROOT, 'bin/vdpa'), ['dev', 'add', 'name', 'benchblk', 'mgmtdev', 'vdpasim_blk'], env);
  const dir = path.join(mnt, 'sys/bus/vdpa/devices/benchblk');
  const chr = fs.readdirSync(dir).find((n) => n.startsWith('vhost-vdpa-'));
  if (!chr) throw new Error('benchblk is not bound to vhost_vdpa');
  return path.join(mnt, 'dev', chr);
}

export async function benchMountDd(opts: { mib?: number; rounds?: number } = {}): Promise<MountDdResults> {
  const mib = opts.mib ?? 128;
  const rounds = opts.rounds ?? 5;
  const served: Served[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of served.splice(0)) await stop(s);
  };
  const onSignal = (): void => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const daemon = await serve('dist/daemon.js', [], 'daemon');
    served.push(daemon);
    const minimal = await serve('dist/bench/minimal_fs.js', [], 'minimal');
    served.push(minimal);
    const node = addBlk(daemon.mnt);
    const file = path.join(minimal.mnt, 'disk');
    const res: MountDdResults = { node, mib, device: { write: [], read: [] }, baseline: { write: [], read: [] } };
    /* Warm-up: the first write allocates the ramdisk's chunks (and the minimal file's pages). */
    ddWrite(node, mib);
    ddWrite(file, mib);
    ddRead(node, mib);
    ddRead(file, mib);
    for (let i = 0; i < rounds; i++) {
      /* Alternate who goes first, so neither always runs on a warmer machine. */
      const pair: Array<[string, DdResult]> = [
        [node, res.device],
        [file, res.baseline],
      ];
      if (i % 2) pair.reverse();
      for (const [f, r] of pair) r.write.push(ddWrite(f, mib));
      for (const [f, r] of pair) r.read.push(ddRead(f, mib));
    }
    return res;
  } finally {
    process.removeListener('SIGINT', onSignal);
    await cleanup();
  }
}
