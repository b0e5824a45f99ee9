/*
 * The file systems the mount benchmarks start: each in a fresh temporary
 * directory, as a child process, ready when it says "ready" (our servers)
 * or when its mount appears (a C libfuse file system); stopped with SIGTERM
 * (SIGKILL after 5 s), unmounted and its directory removed, whatever
 * happened.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');

export interface Served {
  mnt: string;
  child: ChildProcess;
}

export function isMounted(mnt: string): boolean {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mnt);
}

/* Start `cmd argv(mnt)`; resolves once it is ready, or stops it and rejects after 20 s. */
export async function startServer(cmd: string, argv: (mnt: string) => string[], what: string, ready: 'line' | 'mounted'): Promise<Served> {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), `vdpafs-bench-${what}-`));
  const child = spawn(cmd, argv(mnt), {
    stdio: ['ignore', 'pipe', 'pipe'],
    /* No NODE_OPTIONS: the daemon refuses to run with an inspector or preloaded code (process_guard.ts). */
    env: { ...process.env, DEBUG: '', NODE_OPTIONS: '' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const s = { mnt, child };
  for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (ready === 'line' ? /^ready /m.test(out) : isMounted(mnt)) return s;
  }
  await stop(s);
  throw new Error(`${what} did not come up:\n${out}`);
}

/* One of our Node servers (the daemon, minimal_fs): `node ROOT/script ...args MNT`. */
export function serve(script: string, args: string[], what: string): Promise<Served> {
  return startServer(process.execPath, (mnt) => [path.join(ROOT, script), ...args, mnt], what, 'line');
}

export async function stop(s: Served): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  }
  if (isMounted(s.mnt)) spawnSync('umount', ['-l', s.mnt]);
  fs.rmSync(s.mnt, { recursive: true, force: true });
}

/* Run a command to completion; its stdout then stderr, or an error saying what it printed. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { env: { ...env, LC_ALL: 'C' }, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  return r.stdout + r.stderr;
}
