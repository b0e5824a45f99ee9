/*
 * The CLIs as a careless script uses them: output through slow pipes is
 * complete, a reader that leaves early ends them quietly, user errors are
 * one line and an exit status (never a stack trace), counts and option
 * values are checked; mount.sh clears run files a killed daemon left.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, Mount, mountKernel, ROOT, sh } from './harness';
import { ControlClient } from '../../src/control/client';
import { RUN_DIR } from '../../src/control/protocol';

const DEVICES = 4096;

/* No stack frame ("    at f (file.js:1:2)") and exactly one line. */
function expectOneLine(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
}

describe('the CLIs through pipes, with 4096 devices (a fresh mount)', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel();
    const c = await ControlClient.connect(m.mnt);
    try {
      for (let i = 1; i < DEVICES; i += 256) {
        const batch = [];
        for (let j = i; j < Math.min(DEVICES, i + 256); j++) {
          batch.push(c.call('genl', { cmd: 3, attrs: [['VDPA_ATTR_DEV_NAME', `p${j}`], ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net']] }));
        }
        await Promise.all(batch);
      }
    } finally {
      c.close();
    }
  });
  afterAll(async () => {
    await m?.stop();
  });

  it('vdpa dev show into a pipe read a second late: every line arrives', () => {
    const r = sh(m, 'vdpa dev show | { sleep 1; wc -l; }');
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout.trim()).toBe(String(DEVICES));
  });

  it('vdpa -j dev show into a slow pipe: one complete JSON document, past 64 KiB', () => {
    const r = sh(m, 'vdpa -j dev show | { sleep 1; cat; } > "$OUT"', { OUT: path.join(m.mnt, '..', `cli-json-${process.pid}`) });
    const file = path.join(m.mnt, '..', `cli-json-${process.pid}`);
    try {
      expect(r.status, explain(r, m)).toBe(0);
      const text = fs.readFileSync(file, 'utf8');
      expect(text.length).toBeGreaterThan(65536);
      expect(Object.keys(JSON.parse(text).dev)).toHaveLength(DEVICES);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('vdpafs dmesg into a slow pipe prints what it prints into a file', () => {
    const r = sh(m, 'vdpafs dmesg > "$T"; a=$(wc -l < "$T"); b=$(vdpafs dmesg | { sleep 1; wc -l; }); rm -f "$T"; echo "$a $b"', {
      T: path.join(m.mnt, '..', `cli-dmesg-${process.pid}`),
    });
    expect(r.status, explain(r, m)).toBe(0);
    const [toFile, toPipe] = r.stdout.trim().split(' ').map(Number);
    expect(toFile).toBeGreaterThan(DEVICES);
    expect(toPipe).toBe(toFile);
  });

  it('a reader that leaves early (| head -1) ends vdpa quietly: no error, no trace', () => {
    const r = sh(m, 'vdpa dev show | head -1; echo "status ${PIPESTATUS[0]}"');
    expect(r.stdout).toMatch(/^vdpa0: type network/);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/status (0|141)\n$/);
  });
});

describe('user errors: one line and an exit status (a fresh mount)', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel();
  });
  afterAll(async () => {
    await m?.stop();
  });

  it('vdpafs net send -f /nonexistent: "cannot read", exit 1', () => {
    const r = sh(m, 'vdpafs net send eth0 -f /nonexistent');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vdpafs net: cannot read /nonexistent: No such file or directory\n');
  });

  it('counts are bounded: net send -c 100000000 and recv -c 5000 are usage errors, exit 2', () => {
    for (const cmd of ['vdpafs net send eth0 -c 100000000 ffffffffffff020000000001', 'vdpafs net recv eth0 -c 5000', 'vdpafs net send eth0 -c 1e3 ffff']) {
      const r = sh(m, cmd);
      expect(r.status, `${cmd}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^vdpafs net: bad count '[^']+' \(1 to \d+\)\n/);
    }
  });

  it('a missing option value is an error: monitor -s, net recv -t, dmesg -l', () => {
    for (const [cmd, msg] of [
      ['vdpafs monitor -s', 'vdpafs monitor: -s needs a SUBSYSTEM'],
      ['vdpafs monitor --subsystem-match=', 'vdpafs monitor: --subsystem-match needs a SUBSYSTEM'],
      ['vdpafs net recv eth0 -t', 'vdpafs net: -t needs a value'],
      ['vdpafs dmesg -l', 'vdpafs dmesg: --level needs a list'],
    ]) {
      const r = sh(m, cmd);
      expect(r.status, `${cmd}: ${r.stderr}`).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(msg);
    }
  });

  it('no kernel at --root: one line, exit 1', () => {
    const r = sh(m, 'vdpafs --root /nonexistent lsmod');
    expect(r.status).toBe(1);
    expectOneLine(r.stderr);
  });
});

describe('mount.sh and run files', () => {
  it('sweeps the pid file and socket a killed daemon left, and only those', () => {
    fs.mkdirSync(RUN_DIR, { recursive: true });
    /* A pid that is never handed out: above pid_max's ceiling. */
    const stale = path.join(RUN_DIR, `robusttest${process.pid}`);
    fs.writeFileSync(`${stale}.pid`, `${2 ** 22 + 1}\n`);
    fs.writeFileSync(`${stale}.sock`, '');
    /* A live process that is not a daemon: its files go too (the pid was reused). */
    const reused = path.join(RUN_DIR, `robusttest${process.pid}r`);
    fs.writeFileSync(`${reused}.pid`, `${process.pid}\n`);
    try {
      const r = spawnSync(path.join(ROOT, 'mount.sh'), ['-u', path.join('/tmp', `vdpafs-never-mounted-${process.pid}`)], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(fs.existsSync(`${stale}.pid`)).toBe(false);
      expect(fs.existsSync(`${stale}.sock`)).toBe(false);
      expect(fs.existsSync(`${reused}.pid`)).toBe(false);
    } finally {
      for (const f of [`${stale}.pid`, `${stale}.sock`, `${reused}.pid`]) fs.rmSync(f, { force: true });
    }
  });
});
