/*
 * `vdpafs shell`: unmodified tools (driverctl, systool, coreutils) run in a
 * private mount namespace where the simulation is /sys and /dev, through the
 * real mount. Each test gets a freshly booted kernel, so a failure leaves
 * nothing behind for the next.
 *
 * These tests need root (a mount namespace needs CAP_SYS_ADMIN) and Debian's
 * driverctl and sysfsutils (`npm test` installs them through
 * scripts/setup.sh). Without them every test fails, saying why.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, explain, Mount, mountKernel, runScript, sh, waitFor } from './harness';

function preflight(): void {
  const problems: string[] = [];
  const uid = process.getuid?.();
  if (uid !== 0) {
    problems.push(`not root (uid ${uid}): vdpafs shell makes a mount namespace, which needs CAP_SYS_ADMIN`);
  } else {
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'true'], { encoding: 'utf8' });
    if (r.status !== 0) problems.push(`cannot make a mount namespace: unshare -m: ${r.stderr?.trim() || r.error?.message}`);
  }
  for (const tool of ['driverctl', 'systool']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      problems.push(`${tool} is not installed (npm test installs it: bash scripts/setup.sh)`);
    }
  }
  if (problems.length) throw new Error(`the vdpafs shell tests cannot run here:\n  ${problems.join('\n  ')}`);
}

/* `vdpafs shell -- ARGS` as a bash snippet would run it. */
function inShell(m: Mount, command: string, input?: string) {
  return spawnSync('bash', ['-c', `vdpafs shell -- ${command}`], {
    env: { ...process.env, VDPAFS_ROOT: m.mnt, MNT: m.mnt, PATH: `${BIN}:${process.env.PATH}`, LC_ALL: 'C' },
    encoding: 'utf8',
    input,
    timeout: 60_000,
  });
}

/* The host's mount table, without the other test files' kernels (they come and go meanwhile). */
/*
 * The host's mount table as far as this shell could touch it: our mount,
 * anything under /sys, /dev or /run/vdpafs. Other test files mount and
 * unmount their own kernels meanwhile, elsewhere.
 */
function hostMounts(ours: string): string[] {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => {
      const where = l.split(' ')[1] ?? '';
      return where === ours || where === '/sys' || where.startsWith('/sys/') || where === '/dev' || where.startsWith('/dev/') || where.startsWith('/run/vdpafs/');
    });
}

/* This mount's files under /run/vdpafs (its key prefix), without the pid, socket and log. */
function runDirOf(mnt: string): string[] {
  const key = createHash('sha256').update(mnt).digest('hex').slice(0, 16);
  return fs.readdirSync('/run/vdpafs').filter((f) => f.startsWith(key) && !/\.(log|pid|sock)$/.test(f));
}

beforeAll(preflight);

describe('vdpafs shell on the default mount', () => {
  let m: Mount;
  beforeEach(async () => {
    m = await mountKernel();
  });
  afterEach(async () => {
    await m.stop();
  });

  it('driverctl moves vdpa0 vhost_vdpa → virtio_vdpa → vhost_vdpa alone, leaving Linux state after each step', () => {
    const r = runScript(m, 'shell_driverctl.sh');
    expect(r.status, explain(r, m)).toBe(0);
  });

  it('systool -b vdpa -v prints the device and its attributes', () => {
    const r = inShell(m, 'systool -b vdpa -v');
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toBe(
      [
        'Bus = "vdpa"',
        '',
        '  Device = "vdpa0"',
        '  Device path = "/sys/devices/vdpa0"',
        '    driver_override     = "(null)"',
        '    uevent              = "DRIVER=vhost_vdpa"',
        '',
        '',
      ].join('\n'),
    );
  });

  it('systool -b vdpa -D -v prints the drivers, their store-only attributes and devices', () => {
    const r = inShell(m, 'systool -b vdpa -D -v');
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toBe(
      [
        'Bus = "vdpa"',
        '',
        '  Driver = "vhost_vdpa"',
        '  Driver path = "/sys/bus/vdpa/drivers/vhost_vdpa"',
        '    bind                = <store method only>',
        '    uevent              = <store method only>',
        '    unbind              = <store method only>',
        '',
        '    Devices using "vhost_vdpa" are:',
        '      Device = "vdpa0"',
        '      Device path = "/sys/devices/vdpa0"',
        '        driver_override     = "(null)"',
        '        uevent              = "DRIVER=vhost_vdpa"',
        '',
        '',
        '',
      ].join('\n'),
    );
  });

  it('systool -b vdpa -d -A driver_override follows an override set with driverctl', () => {
    const expected = (value: string) =>
      ['Bus = "vdpa"', '', '  Device = "vdpa0"', `    driver_override     = "${value}"`, '', ''].join('\n');
    let r = inShell(m, 'systool -b vdpa -d -A driver_override');
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toBe(expected('(null)'));

    r = inShell(m, 'driverctl --nosave -b vdpa set-override vdpa0 virtio_vdpa');
    expect(r.status, explain(r, m)).toBe(0);
    r = inShell(m, 'systool -b vdpa -d -A driver_override');
    expect(r.stdout).toBe(expected('virtio_vdpa'));
    expect(fs.readFileSync(path.join(m.mnt, 'sys/devices/vdpa0/driver_override'), 'utf8')).toBe('virtio_vdpa\n');
  });

  it('ls, readlink -f, realpath, find, stat and echo > unbind behave as on Linux', () => {
    const r = runScript(m, 'shell_plain_tools.sh');
    expect(r.status, explain(r, m)).toBe(0);
  });

  it('/dev/vhost-vdpa-N follows bind, unbind, dev add and dev del live, in one namespace', () => {
    const r = runScript(m, 'shell_dev_live.sh');
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toContain('inner-ok');
  });

  it('the rest of /dev is the host’s: null, zero, urandom, tty, pts, fd, stdin', () => {
    const r = runScript(m, 'shell_dev_host.sh');
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toContain('inner-ok');
  });

  it('/sbin/modprobe inside loads into the simulated kernel, not the host’s', () => {
    /* A kernel built without modules has no /proc/modules: then it must stay absent. */
    const modules = () => (fs.existsSync('/proc/modules') ? fs.readFileSync('/proc/modules', 'utf8') : null);
    const hostModules = modules();
    const r = inShell(m, "sh -c '/sbin/modprobe virtio_vdpa && lsmod'");
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toMatch(/^virtio_vdpa +\d+ +0$/m);
    expect(fs.existsSync(path.join(m.mnt, 'sys/module/virtio_vdpa'))).toBe(true);
    expect(fs.existsSync(path.join(m.mnt, 'sys/bus/vdpa/drivers/virtio_vdpa'))).toBe(true);
    expect(modules()).toBe(hostModules);
  });

  it('nothing outside the namespace changes: the host mount table, /sys, /run/vdpafs', () => {
    const before = hostMounts(m.mnt);
    const sysBefore = fs.readdirSync('/sys/bus');
    const runBefore = runDirOf(m.mnt);
    /*
     * Inside: /sys is a sysfs with the simulation laid over it, /dev is the
     * view. Outside ($PPID is vdpafs shell, in the host's namespace): the
     * view leaves the host's table as soon as the namespace holds it.
     */
    const r = inShell(
      m,
      `bash -c '
        grep -q "^sysfs /sys sysfs " /proc/self/mounts || { echo "no sysfs at /sys inside"; exit 1; }
        grep -q "^vdpafs-dev /dev fuse.vdpafs " /proc/self/mounts || { echo "no dev view on /dev inside"; exit 1; }
        for i in $(seq 100); do grep -q "^vdpafs-dev " /proc/$PPID/mounts || { echo host-clean; exit 0; }; sleep 0.05; done
        echo "the dev view stays in the host mount table"; exit 1'`,
    );
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toContain('host-clean');
    expect(hostMounts(m.mnt)).toEqual(before);
    expect(fs.readdirSync('/sys/bus')).toEqual(sysBefore);
    expect(runDirOf(m.mnt)).toEqual(runBefore);
  });

  it('the exit status is the command’s (128+N for a signal, 127 not found)', () => {
    expect(inShell(m, "sh -c 'exit 7'").status).toBe(7);
    expect(inShell(m, "sh -c 'kill -TERM $$'").status).toBe(128 + 15);
    const r = inShell(m, 'no-such-command-here');
    expect(r.status).toBe(127);
    expect(r.stderr).toContain('no-such-command-here: not found');
  });

  it('runs with stdin not a terminal: with no command, a shell reads it', () => {
    const r = spawnSync('bash', ['-c', 'vdpafs shell'], {
      env: { ...process.env, VDPAFS_ROOT: m.mnt, PATH: `${BIN}:${process.env.PATH}` },
      encoding: 'utf8',
      input: 'stat -c "%a %F" /dev/vhost-vdpa-0\nreadlink -f /sys/bus/vdpa/devices/vdpa0\nexit 3\n',
      timeout: 60_000,
    });
    expect(r.status, explain(r, m)).toBe(3);
    expect(r.stdout).toBe('600 regular empty file\n/sys/devices/vdpa0\n');
  });

  it('the namespace ends with the command: what it left running is killed', () => {
    const marker = `vdpafs-shell-test-${process.pid}`;
    const r = inShell(m, `bash -c 'exec -a ${marker} sleep 300 & exec -a ${marker} sleep 300 & echo started'`);
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout).toBe('started\n');
    const left = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
    expect(left.stdout).toBe('');
  });

  it('killed by SIGKILL, it takes its command and what that started with it, and leaves no directory or mount behind', async () => {
    const marker = `vdpafs-shell-kill-${process.pid}`;
    const before = hostMounts(m.mnt);
    const shell = spawn(process.execPath, [path.join(BIN, 'vdpafs'), '--root', m.mnt, 'shell', '--', 'bash', '-c', `exec -a ${marker} sleep 300 & exec -a ${marker} sleep 300`], {
      stdio: 'ignore',
      env: { ...process.env, LC_ALL: 'C' },
    });
    const running = () => spawnSync('pgrep', ['-f', `^${marker} 300$`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
    try {
      expect(await waitFor(() => running() === 2, 10_000), 'the command and its background job should be running').toBe(true);
      expect(fs.readdirSync('/run/vdpafs').filter((f) => f.startsWith(`shell-sbin-${shell.pid}-`))).toEqual([]);
      shell.kill('SIGKILL');
      expect(await waitFor(() => running() === 0, 5000), 'the command outlived vdpafs shell').toBe(true);
      expect(await waitFor(() => JSON.stringify(hostMounts(m.mnt)) === JSON.stringify(before), 5000)).toBe(true);
      expect(fs.readdirSync('/run/vdpafs').filter((f) => f.startsWith(`shell-sbin-${shell.pid}-`))).toEqual([]);
    } finally {
      shell.kill('SIGKILL');
      spawnSync('pkill', ['-KILL', '-f', marker]);
    }
  });

  it('SIGTERM to vdpafs shell reaches its command, whose status (128+15) becomes the shell\'s', async () => {
    const marker = `vdpafs-shell-term-${process.pid}`;
    const shell = spawn(process.execPath, [path.join(BIN, 'vdpafs'), '--root', m.mnt, 'shell', '--', 'bash', '-c', `exec -a ${marker} sleep 300`], {
      stdio: 'ignore',
      env: { ...process.env, LC_ALL: 'C' },
    });
    const running = () => spawnSync('pgrep', ['-f', `^${marker} 300$`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
    try {
      expect(await waitFor(() => running() === 1, 10_000), 'the command should be running').toBe(true);
      const exited = new Promise<number | null>((r) => shell.once('exit', (code) => r(code)));
      shell.kill('SIGTERM');
      expect(await exited).toBe(128 + 15);
      expect(running()).toBe(0);
    } finally {
      shell.kill('SIGKILL');
      spawnSync('pkill', ['-KILL', '-f', marker]);
    }
  });

  it('sweeps the tool directory of a shell killed before its namespace took it over', () => {
    /* A pid that is not running: the highest possible one, never handed out. */
    const stale = path.join('/run/vdpafs', `shell-sbin-${2 ** 22}-x1y2z3`);
    fs.mkdirSync(stale, { recursive: true });
    const r = inShell(m, 'true');
    expect(r.status, explain(r, m)).toBe(0);
    expect(fs.existsSync(stale)).toBe(false);
  });

  it('refuses to start without root, or without a kernel, with exit status 125', () => {
    const asNobody = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(BIN, 'vdpafs'), '--root', m.mnt, 'shell', '--', 'true'],
      { encoding: 'utf8' },
    );
    expect(asNobody.status).toBe(125);
    expect(asNobody.stderr).toContain('vdpafs shell: must run as root');
    const noKernel = sh(m, 'vdpafs --root /nonexistent shell -- true');
    expect(noKernel.status).toBe(125);
    expect(noKernel.stderr).toContain('no vdpafs kernel is running at /nonexistent');
  });
});

describe('vdpafs shell on a --dev-nodes=char mount', () => {
  let m: Mount;
  beforeEach(async () => {
    m = await mountKernel({ devNodes: 'char' });
  });
  afterEach(async () => {
    await m.stop();
  });

  it('stat shows a character device, which cannot be opened (the host char layer refuses it)', () => {
    const r = inShell(
      m,
      `bash -c 'stat -c "%a %F" /dev/vhost-vdpa-0; ls -l /dev/vhost-vdpa-0 | cut -d" " -f1,5,6; cat /dev/vhost-vdpa-0'`,
    );
    expect(r.stdout).toBe('600 character special file\ncrw------- 254, 0\n');
    expect(r.stderr).toContain('cat: /dev/vhost-vdpa-0: Permission denied');
    expect(r.status).toBe(1);
  });
});
