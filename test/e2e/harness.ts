/*
 * End-to-end harness: a real daemon (child process), a real FUSE mount in a
 * fresh temporary directory, and bash scripts driving it. Every mount is
 * torn down after its test file, even when a test fails, and a daemon
 * never outlives the test process.
 */
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';

export const ROOT = path.resolve(__dirname, '../..');
export const BIN = path.join(ROOT, 'bin');
export const SCRIPTS = path.join(__dirname, 'scripts');

export interface Mount {
  mnt: string;
  daemon: ChildProcess;
  /* Everything the daemon printed (DEBUG traces included when enabled). */
  log: () => string;
  stop(): Promise<void>;
}

const live = new Set<Mount>();
process.on('exit', () => {
  for (const m of live) {
    m.daemon.kill('SIGKILL');
    spawnSync('umount', ['-l', m.mnt]);
  }
});

export interface MountOptions {
  bare?: boolean;
  devNodes?: 'file' | 'char';
  env?: Record<string, string>;
}

/*
 * The daemon's environment: the test's, without what would open an
 * inspector or preload code into a root daemon (the daemon refuses to
 * start with either, see src/process_guard.ts).
 */
export function daemonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

export async function mountKernel(opts: MountOptions = {}): Promise<Mount> {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-e2e-'));
  const args = [path.join(ROOT, 'dist/daemon.js')];
  if (opts.bare) args.push('--bare');
  if (opts.devNodes) args.push(`--dev-nodes=${opts.devNodes}`);
  /* The tests' fault injection (fault_vring) exists only in a daemon started for tests. */
  args.push('--testing', mnt);
  const daemon = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: daemonEnv(opts.env) });
  let out = '';
  daemon.stdout!.on('data', (d) => (out += d));
  daemon.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon not ready after 20 s:\n${out}`)), 20_000);
    const check = () => {
      if (/^ready /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    daemon.stdout!.on('data', check);
    daemon.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${code}) before the mount was ready:\n${out}`));
    });
  });
  const m: Mount = {
    mnt,
    daemon,
    log: () => out,
    stop: async () => {
      live.delete(m);
      /* A daemon killed by a signal has signalCode set and exitCode still null. */
      const running = () => daemon.exitCode === null && daemon.signalCode === null;
      if (running()) {
        const exited = new Promise((r) => daemon.once('exit', r));
        daemon.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (running()) daemon.kill('SIGKILL');
      }
      /* A daemon that died leaves a stale mount (ENOTCONN): a lazy unmount clears it. */
      if (isMounted(mnt)) spawnSync('umount', ['-l', mnt]);
      /* A daemon that died by SIGKILL could not remove its pid file and socket. */
      for (const f of runFiles(mnt)) fs.rmSync(f, { force: true });
      fs.rmSync(mnt, { recursive: true, force: true });
    },
  };
  live.add(m);
  return m;
}

export function isMounted(mnt: string): boolean {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mnt);
}

/* The environment a script sees: the mount, and both CLIs on PATH. */
export function scriptEnv(m: Mount, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MNT: m.mnt,
    VDPAFS_ROOT: m.mnt,
    PATH: `${BIN}:${process.env.PATH}`,
    LC_ALL: 'C',
    ...extra,
  };
}

/* Run test/e2e/scripts/NAME with bash; the result carries everything printed. */
export function runScript(m: Mount, name: string, extra: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('bash', [path.join(SCRIPTS, name)], {
    env: scriptEnv(m, extra),
    encoding: 'utf8',
    timeout: 120_000,
  });
}

/* Run a bash snippet against the mount. */
export function sh(m: Mount, script: string, extra: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('bash', ['-c', script], { env: scriptEnv(m, extra), encoding: 'utf8', timeout: 60_000 });
}

/* A readable failure: the script's output and the daemon's log. */
export function explain(r: SpawnSyncReturns<string>, m?: Mount): string {
  return `exit ${r.status}${r.signal ? ` (signal ${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}${m ? `\n--- daemon\n${m.log()}` : ''}`;
}

/*
 * One mount for the enclosing describe: mounted in beforeAll, stopped in
 * afterAll even when a test failed. The returned runner runs
 * test/e2e/scripts/NAME against it and expects exit 0; a failure shows the
 * script's output and the daemon's log.
 */
export function useMount(opts: MountOptions = {}): (name: string) => void {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel(opts);
  });
  afterAll(async () => {
    await m?.stop();
  });
  return (name) => {
    const r = runScript(m, name);
    expect(r.status, explain(r, m)).toBe(0);
  };
}

/*
 * Run test/e2e/scripts/NAME with bash against a mount point that is not a
 * harness mount (mount.sh's own): MNT is `mnt`, REPO the checkout.
 */
export function runScriptAt(mnt: string, name: string, extra: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('bash', [path.join(SCRIPTS, name)], {
    env: { ...process.env, MNT: mnt, VDPAFS_ROOT: mnt, REPO: ROOT, PATH: `${BIN}:${process.env.PATH}`, LC_ALL: 'C', ...extra },
    encoding: 'utf8',
    timeout: 120_000,
  });
}

/* Poll `cond` every 50 ms for up to `ms`; true as soon as it holds. */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (cond()) return true;
  }
  return cond();
}

/*
 * Tear down whatever ./mount.sh left at `mnt`, even if a test failed
 * half-way: `./mount.sh -u`, then the daemon named by its pid file (only if
 * that process really is our daemon for `mnt`), then a lazy unmount.
 */
/* The daemon's pid file, socket and log (mount.sh's) for a mount point: /run/vdpafs/<key>.*. */
function runFiles(mnt: string): string[] {
  const key = createHash('sha256').update(mnt).digest('hex').slice(0, 16);
  return ['pid', 'sock', 'log', 'genl.sock'].map((ext) => `${process.env.VDPAFS_RUN_DIR ?? '/run/vdpafs'}/${key}.${ext}`);
}

export function cleanupMountSh(mnt: string): void {
  spawnSync(path.join(ROOT, 'mount.sh'), ['-u', mnt], { encoding: 'utf8', timeout: 15_000 });
  const [pidfile] = runFiles(mnt);
  try {
    const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes('daemon.js') && cmdline.includes(mnt)) process.kill(pid, 'SIGKILL');
  } catch {
    /* no pid file, or the daemon is gone */
  }
  if (isMounted(mnt)) spawnSync('umount', ['-l', mnt]);
  for (const f of runFiles(mnt)) fs.rmSync(f, { force: true });
}

/* The unprivileged user of the permission tests (created once, no home: `useradd -M`). */
export const TEST_USER = 'vdpatest';

export function ensureTestUser(): void {
  if (spawnSync('id', ['-u', TEST_USER]).status === 0) return;
  const r = spawnSync('useradd', ['-M', '-s', '/usr/sbin/nologin', TEST_USER], { encoding: 'utf8' });
  /* Another test process may have created it meanwhile. */
  if (r.status !== 0 && spawnSync('id', ['-u', TEST_USER]).status !== 0) throw new Error(`useradd ${TEST_USER}: ${r.stderr}`);
}

/* Run a command as TEST_USER, groups cleared, as setpriv(1) does. */
export function asTestUser(cmd: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync('setpriv', [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--clear-groups', ...cmd], {
    encoding: 'utf8',
    env: opts.env,
    input: opts.input,
    timeout: 60_000,
  });
}

/*
 * A checkout TEST_USER can run the CLIs from: this one if the user can read
 * it, else a copy of what the CLIs need (bin, dist, the scripts, and their
 * two runtime dependencies) in a world-readable temporary directory -- a
 * CI clone under /root is out of an unprivileged user's reach.
 */
export function userReadableCheckout(): { root: string; cleanup: () => void } {
  if (asTestUser(['test', '-r', path.join(ROOT, 'dist/cli/vdpa.js')]).status === 0) return { root: ROOT, cleanup: () => {} };
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-cli-'));
  fs.chmodSync(copy, 0o755);
  for (const rel of ['bin', 'dist', 'package.json', 'test/e2e/scripts', 'node_modules/debug', 'node_modules/ms']) {
    fs.cpSync(path.join(ROOT, rel), path.join(copy, rel), { recursive: true });
  }
  spawnSync('chmod', ['-R', 'a+rX', copy]);
  return { root: copy, cleanup: () => fs.rmSync(copy, { recursive: true, force: true }) };
}
