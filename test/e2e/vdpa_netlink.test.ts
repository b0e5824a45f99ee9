/*
 * Debian's own /sbin/vdpa (iproute2 6.1.0) against the simulation, through
 * the preload shim and the daemon's generic netlink server, side by side
 * with vdpafs's vdpa: the same commands, in the same order, on two kernels
 * booted alike (ours on one, Debian's on the other), must print the same
 * bytes on stdout and stderr and exit the same.
 *
 * Needs root, iproute2 and the shim (`npm test` installs and builds them
 * through scripts/setup.sh). Set VDPAFS_COMPARISON_TABLE=FILE to get the
 * table of commands and outcomes as Markdown.
 */
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, explain, Mount, mountKernel, ROOT } from './harness';

const SHIM = path.join(ROOT, 'dist/libvdpafs_genl.so');
const VDPAFS = path.join(BIN, 'vdpafs');
const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
/* Our tools are Node scripts (#!/usr/bin/env node): Node's directory, then the system's, never bin/. */
const NODE_PATH = `${path.dirname(process.execPath)}:${SYSTEM_PATH}`;
const RUN_ENV: Record<string, string> = process.env.VDPAFS_RUN_DIR ? { VDPAFS_RUN_DIR: process.env.VDPAFS_RUN_DIR } : {};

function runDir(): string {
  return process.env.VDPAFS_RUN_DIR ?? '/run/vdpafs';
}

/* Debian's vdpa, not ours (bin/ is not on this PATH). */
function debianVdpa(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v vdpa'], { env: { PATH: SYSTEM_PATH }, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function preflight(): string {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not root: the daemon mounts FUSE');
  const vdpa = debianVdpa();
  if (!vdpa) problems.push('iproute2 is not installed (npm test installs it: bash scripts/setup.sh)');
  if (!fs.existsSync(SHIM)) problems.push(`${SHIM} is not built (bash scripts/setup.sh builds it)`);
  if (problems.length) throw new Error(`the iproute2 comparison cannot run here:\n  ${problems.join('\n  ')}`);
  return vdpa!;
}

/* The genl socket of a harness mount (same key as control/protocol.ts runPaths). */
function genlSocket(m: Mount): string {
  const key = require('node:crypto').createHash('sha256').update(fs.realpathSync(m.mnt)).digest('hex').slice(0, 16);
  return path.join(runDir(), `${key}.genl.sock`);
}

type Run = Pick<SpawnSyncReturns<string>, 'stdout' | 'stderr' | 'status'>;

interface Step {
  argv: string[];
  /* Run while /dev/vhost-vdpa-0 is open (the shell driver negotiates features). */
  vhostOpen?: boolean;
}

let realVdpa: string;
let ours: Mount;
let debian: Mount;
const table: Array<{ argv: string[]; same: boolean; status: number | null }> = [];

/* vdpafs's vdpa against `ours`. */
function runOurs(step: Step): Run {
  return wrap(step, ours, [path.join(BIN, 'vdpa')], { VDPAFS_ROOT: ours.mnt });
}

/* Debian's vdpa against `debian`, preloaded with the shim (what `vdpafs exec` sets). */
function runDebian(step: Step, extra: Record<string, string> = {}): Run {
  return wrap(step, debian, [realVdpa], { LD_PRELOAD: SHIM, VDPAFS_GENL_SOCKET: genlSocket(debian), ...extra });
}

/* argv[0] is "vdpa" for both, as a shell running `vdpa` passes it (getopt's messages start with it). */
function wrap(step: Step, m: Mount, cmd: string[], env: Record<string, string>): Run {
  const open = step.vhostOpen ? `exec 3<> "${m.mnt}/dev/vhost-vdpa-0" || exit 99; ` : '';
  return spawnSync('bash', ['-c', `${open}exec -a vdpa "$0" "$@"`, ...cmd, ...step.argv], {
    env: { PATH: NODE_PATH, LC_ALL: 'C', HOME: '/root', ...RUN_ENV, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

/* Both sides of one step; the table remembers the outcome. */
function compare(step: Step): { ours: Run; debian: Run } {
  const a = runOurs(step);
  const b = runDebian(step);
  const same = a.stdout === b.stdout && a.stderr === b.stderr && a.status === b.status;
  table.push({ argv: step.argv, same, status: b.status });
  return { ours: a, debian: b };
}

function expectSame(step: Step): Run {
  const { ours: a, debian: b } = compare(step);
  expect({ stdout: a.stdout, stderr: a.stderr, status: a.status }, `vdpa ${step.argv.join(' ')}\n--- Debian's\n${explain(b as SpawnSyncReturns<string>)}`).toEqual({
    stdout: b.stdout,
    stderr: b.stderr,
    status: b.status,
  });
  return b;
}

/* A step both kernels must take but whose output is not compared (setup). */
function onBoth(script: string): void {
  for (const m of [ours, debian]) {
    const r = spawnSync('bash', ['-c', script], {
      env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, VDPAFS_ROOT: m.mnt, MNT: m.mnt, LC_ALL: 'C' },
      encoding: 'utf8',
    });
    expect(r.status, explain(r)).toBe(0);
  }
}

beforeAll(async () => {
  realVdpa = preflight();
  ours = await mountKernel();
  debian = await mountKernel();
});

afterAll(async () => {
  await ours?.stop();
  await debian?.stop();
  const out = process.env.VDPAFS_COMPARISON_TABLE;
  if (out && table.length) {
    const rows = table.map((t) => `| \`vdpa ${t.argv.map((a) => (a === '' ? '""' : a)).join(' ')}\` | ${t.status} | ${t.same ? 'identical' : 'DIFFERENT'} |`);
    fs.writeFileSync(out, ['| command | exit | ours vs Debian |', '|---|---|---|', ...rows, ''].join('\n'));
  }
});

const s = (...argv: string[]): Step => ({ argv });

describe("vdpafs's vdpa and Debian's (iproute2 6.1.0) print the same bytes", () => {
  it('-V names iproute2 6.1.0 on both', () => {
    expect(expectSame(s('-V')).stdout).toBe('vdpa utility, iproute2-6.1.0\n');
  });

  it('shows: mgmtdev, dev and config, as text, -j, -jp and -p', () => {
    for (const argv of [
      ['mgmtdev', 'show'],
      ['mgmtdev', 'list'],
      ['mgmtdev', 'show', 'vdpasim_net'],
      ['-j', 'mgmtdev', 'show'],
      ['-jp', 'mgmtdev', 'show'],
      ['-p', 'mgmtdev', 'show'],
      ['dev'],
      ['dev', 'show'],
      ['dev', 'list', 'vdpa0'],
      ['dev', 'show', '-jp', 'vdpa0'],
      ['-j', 'dev', 'show'],
      ['d', 's', 'vdpa0'],
      ['dev', 'config'],
      ['dev', 'config', 'show'],
      ['-j', 'dev', 'config', 'show', 'vdpa0'],
      ['-jp', 'dev', 'config', 'show'],
    ]) {
      expectSame({ argv });
    }
  });

  it('help texts at every level, and usage errors', () => {
    for (const argv of [
      [],
      ['help'],
      ['-h'],
      ['--help'],
      ['mgmtdev'],
      ['mgmtdev', 'help'],
      ['dev', 'help'],
      ['dev', 'config', 'help'],
      ['dev', 'vstats'],
      ['dev', 'vstats', 'help'],
      ['dev', 'vstats', 'show', 'vdpa0', 'qidx'],
      ['dev', 'vstats', 'show'],
    ]) {
      expectSame({ argv });
    }
  });

  it('unknown objects, commands and options; empty words; getopt stopping at the first bad option', () => {
    for (const argv of [
      ['foo'],
      ['dev', 'frob'],
      ['dev', 'vstat'],
      ['mgmtdev', 'frob'],
      ['-x', 'dev'],
      ['-x', '-y', '--nope', 'dev'],
      ['-s', 'dev'],
      ['--version'],
      ['--json=1', 'dev'],
      ['-jx', '-V'],
      ['-Vx'],
      [''],
      ['dev', ''],
      ['mgmtdev', ''],
      ['dev', 'config', ''],
    ]) {
      expectSame({ argv });
    }
  });

  it('kernel errors: unknown device, unknown mgmtdev, a handle with two slashes', () => {
    for (const argv of [
      ['dev', 'show', 'nope'],
      ['-j', 'dev', 'show', 'nope'],
      ['dev', 'config', 'show', 'nope'],
      ['mgmtdev', 'show', 'nope'],
      ['mgmtdev', 'show', 'pci/0000:01:00.0'],
      ['mgmtdev', 'show', 'a/b/c'],
      ['dev', 'del', 'nope'],
      ['dev', 'del'],
    ]) {
      expectSame({ argv });
    }
  });

  it('dev add: success, duplicate, bad MACs, mtu below 68, bad numbers, max_vqp, missing and trailing words', () => {
    for (const argv of [
      ['dev', 'add', 'name', 'vdpa1', 'mgmtdev', 'vdpasim_net', 'mac', '00:11:22:33:44:55', 'mtu', '9000'],
      ['dev', 'add', 'name', 'vdpa1', 'mgmtdev', 'vdpasim_net'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'mac', '00:11:zz:33:44:55'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'mac', '00:11:122:33:44:55'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'mac', '1.2.3.x'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'mtu', '67'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'mtu', 'abc'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'mtu', '65536'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'max_vqp', '0'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'max_vqp', '2'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'nope'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'pci/0000:01:00.0'],
      ['dev', 'add', 'name', 'v2'],
      ['dev', 'add', 'mgmtdev', 'vdpasim_net'],
      ['dev', 'add'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', 'mt', '1500'],
      ['dev', 'add', 'name', 'v2', 'mgmtdev', 'vdpasim_net', '', '1500'],
      /* iproute2 6.1 ignores one trailing word (NEXT_ARG_OK): this adds v3, without a MAC. */
      ['dev', 'add', 'name', 'v3', 'mgmtdev', 'vdpasim_net', 'mac'],
      ['dev', 'add', 'n', 'v4', 'mg', 'vdpasim_net', 'max', '1'],
      ['dev', 'add', 'name', 'v5', 'mgmtdev', 'vdpasim_net', 'mac', '10.0.0.1'],
      ['dev', 'add', 'name', 'v6', 'mgmtdev', 'vdpasim_net', 'mac', '2:3'],
      ['-j', 'dev', 'add', 'name', 'v7', 'mgmtdev', 'vdpasim_net'],
      ['dev', 'show'],
      ['dev', 'config', 'show'],
      ['-jp', 'dev', 'config', 'show', 'v5'],
      ['dev', 'del', 'v7'],
      ['-j', 'dev', 'del', 'v6'],
      ['dev', 'show'],
    ]) {
      expectSame({ argv });
    }
  });

  it('vstats: EAGAIN before feature negotiation (exit 0, as 6.1), counters and queue types while the node is open', () => {
    expectSame(s('dev', 'vstats', 'show', 'vdpa0', 'qidx', '0'));
    expectSame(s('dev', 'vstats', 'show', 'nope', 'qidx', '0'));
    for (const argv of [
      ['dev', 'vstats', 'show', 'vdpa0', 'qidx', '0'],
      ['dev', 'vstats', 'show', 'vdpa0', 'qidx', '1'],
      ['dev', 'vstats', 'show', 'vdpa0', 'qidx', '2'],
      ['-jp', 'dev', 'vstats', 'show', 'vdpa0', 'qidx', '1'],
      ['dev', 'vstats', 'show', 'vdpa0', 'qidx', '40000'],
      ['dev', 'vstats', 'show', 'vdpa0', 'qidx', '3'],
      ['dev', 'config', 'show', 'vdpa0'],
      ['-j', 'dev', 'config', 'show', 'vdpa0'],
    ]) {
      expectSame({ argv, vhostOpen: true });
    }
  });

  it('block devices: add, config (just the name), attributes a block mgmtdev refuses', () => {
    onBoth('vdpafs modprobe vdpa_sim_blk');
    for (const argv of [
      ['mgmtdev', 'show'],
      ['-jp', 'mgmtdev', 'show', 'vdpasim_blk'],
      ['dev', 'add', 'name', 'blk0', 'mgmtdev', 'vdpasim_blk'],
      ['dev', 'add', 'name', 'blk1', 'mgmtdev', 'vdpasim_blk', 'mac', '00:11:22:33:44:55'],
      ['dev', 'add', 'name', 'blk1', 'mgmtdev', 'vdpasim_blk', 'mtu', '1500'],
      ['dev', 'show', 'blk0'],
      ['dev', 'config', 'show', 'blk0'],
      ['-j', 'dev', 'config', 'show', 'blk0'],
      ['dev', 'vstats', 'show', 'blk0', 'qidx', '0'],
    ]) {
      expectSame({ argv });
    }
  });

  it('a dump of 300 devices (several datagrams) prints the same, text and JSON', () => {
    /* Debian's vdpa adds them on both kernels: 600 of ours would take a minute of Node start-ups. */
    for (const m of [ours, debian]) {
      const r = spawnSync(
        'bash',
        ['-c', 'for i in $(seq 1 300); do "$0" dev add name "d$i" mgmtdev vdpasim_net || exit 1; done', realVdpa],
        { env: { PATH: SYSTEM_PATH, LD_PRELOAD: SHIM, VDPAFS_GENL_SOCKET: genlSocket(m) }, encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, explain(r)).toBe(0);
    }
    const text = expectSame(s('dev', 'show'));
    expect(text.stdout.split('\n').filter(Boolean).length).toBeGreaterThan(300);
    expectSame(s('-j', 'dev', 'show'));
    expectSame(s('dev', 'config', 'show'));
  });

  it('without the vdpa module, every command fails the same way: Failed to connect to vdpa Netlink', () => {
    onBoth('vdpafs rmmod vhost_vdpa vdpa_sim_net vdpa_sim_blk vdpa_sim vdpa');
    for (const argv of [['dev', 'show'], ['-j', 'mgmtdev', 'show'], ['help'], ['dev', 'help'], ['dev', 'add', 'name', 'x'], ['-V']]) {
      expectSame({ argv });
    }
    onBoth('vdpafs modprobe vdpa vhost_vdpa vdpa_sim_net && vdpa dev add name vdpa0 mgmtdev vdpasim_net');
  });
});

describe('extensions of vdpafs\'s vdpa that iproute2 6.1 does not have (not compared)', () => {
  it('dev set (iproute2 6.13) and device_features (6.2): Debian\'s 6.1 rejects both', () => {
    const set = runDebian(s('dev', 'set', 'name', 'vdpa0', 'mac', '02:00:00:00:00:aa'));
    expect(set).toMatchObject({ status: 1, stderr: 'Command "set" not found\n' });
    const features = runDebian(s('dev', 'add', 'name', 'f1', 'mgmtdev', 'vdpasim_net', 'device_features', '0x300000000'));
    expect(features).toMatchObject({ status: 1, stderr: 'Unknown option "device_features"\n' });
    const ourSet = runOurs(s('dev', 'set', 'name', 'vdpa0', 'mac', '02:00:00:00:00:aa'));
    expect(ourSet).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });
});

describe('the shim', () => {
  it('GENL_ADMIN_PERM: a non-root user may show but not add (Operation not permitted)', () => {
    spawnSync('useradd', ['-M', 'vdpatest']);
    const asUser = (argv: string[]) =>
      spawnSync('setpriv', ['--reuid=vdpatest', '--regid=vdpatest', '--clear-groups', realVdpa, ...argv], {
        env: { PATH: SYSTEM_PATH, LD_PRELOAD: SHIM, VDPAFS_GENL_SOCKET: genlSocket(debian), LC_ALL: 'C' },
        encoding: 'utf8',
      });
    const add = asUser(['dev', 'add', 'name', 'u1', 'mgmtdev', 'vdpasim_net']);
    expect(add, explain(add)).toMatchObject({ status: 1, stdout: '', stderr: 'kernel answers: Operation not permitted\n' });
    const show = asUser(['dev', 'show', 'vdpa0']);
    expect(show, explain(show)).toMatchObject({ status: 0, stdout: 'vdpa0: type network mgmtdev vdpasim_net vendor_id 0 max_vqs 3 max_vq_size 256\n' });
  });

  it('dup() and F_DUPFD copies of a socket are served, other families reach the host kernel, each socket has its own port id', () => {
    const exe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-genl-fds-')), 'genl_fds');
    try {
      const cc = spawnSync('gcc', ['-O2', '-o', exe, path.join(__dirname, 'helpers/genl_fds.c')], { encoding: 'utf8' });
      expect(cc.status, explain(cc)).toBe(0);
      const r = spawnSync(exe, [], { env: { LD_PRELOAD: SHIM, VDPAFS_GENL_SOCKET: genlSocket(debian) }, encoding: 'utf8' });
      /* The simulation's vdpa id: 0x100, or the next one once the module was reloaded. */
      const id = /^vdpa_via_dup (\d+)$/m.exec(r.stdout)?.[1];
      expect(Number(id)).toBeGreaterThanOrEqual(0x100);
      expect(r.stdout).toBe(
        [`vdpa_via_dup ${id}`, 'vdpa_sender 0', 'nlctrl_via_f_dupfd 16', `vdpa_via_second_socket ${id}`, 'distinct_portids 1', `vdpa_after_close_of_dup ${id}`, ''].join('\n'),
      );
    } finally {
      fs.rmSync(path.dirname(exe), { recursive: true, force: true });
    }
  });

  it('vdpafs exec runs Debian\'s vdpa against the simulation; without it, the host has no vdpa family', () => {
    const viaExec = spawnSync(VDPAFS, ['--root', debian.mnt, 'exec', '--', realVdpa, 'dev', 'show', 'vdpa0'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    expect(viaExec, explain(viaExec)).toMatchObject({ status: 0, stdout: 'vdpa0: type network mgmtdev vdpasim_net vendor_id 0 max_vqs 3 max_vq_size 256\n' });
    const host = spawnSync(realVdpa, ['dev', 'show'], { encoding: 'utf8', env: { PATH: SYSTEM_PATH } });
    expect(host).toMatchObject({ status: 1, stderr: 'Failed to connect to vdpa Netlink\n' });
    const noKernel = spawnSync(VDPAFS, ['--root', '/nonexistent/vdpafs', 'exec', '--', 'true'], { encoding: 'utf8' });
    expect(noKernel.status).toBe(125);
    expect(noKernel.stderr).toMatch(/^vdpafs exec: no vdpafs generic netlink at .*: is a vdpafs kernel mounted at \/nonexistent\/vdpafs\?\n$/);
  });

  it('in vdpafs shell, vdpa is Debian\'s and shows the simulation, while ip link and genl ctrl reach the host kernel', () => {
    const hostLinks = spawnSync('ip', ['-br', 'link', 'show'], { encoding: 'utf8' }).stdout;
    const hostFamilies = spawnSync('genl', ['ctrl', 'list'], { encoding: 'utf8' }).stdout;
    const r = spawnSync(
      VDPAFS,
      ['--root', debian.mnt, 'shell', '--', 'sh', '-c', 'command -v vdpa; vdpa dev show vdpa0; echo ---; ip -br link show; echo ---; genl ctrl list'],
      { encoding: 'utf8', env: { ...process.env, PATH: NODE_PATH, LC_ALL: 'C' } },
    );
    expect(r.status, explain(r)).toBe(0);
    const [head, links, families] = r.stdout.split('---\n');
    expect(head).toBe(`${realVdpa}\nvdpa0: type network mgmtdev vdpasim_net vendor_id 0 max_vqs 3 max_vq_size 256\n`);
    expect(links).toBe(hostLinks);
    expect(families).toBe(hostFamilies);
  });
});
