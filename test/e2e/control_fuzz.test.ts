/*
 * The control socket as an untrusted input, against a real daemon: random
 * bytes, random JSON, requests with wrong types, prototype method names,
 * genl with random attributes, lines far over the limit, and many clients
 * at once. The daemon must stay up, keep serving the mount, and answer
 * every non-blank line exactly once (an unparsable one with a null id).
 *
 * The fuzz is seeded (VDPAFS_FUZZ_SEED to replay one; the seed is in every
 * failure message).
 */
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonEnv, explain, isMounted, Mount, mountKernel, ROOT, sh, waitFor } from './harness';
import { MAX_REQUEST_BYTES, runPaths } from '../../src/control/protocol';
import { ControlClient } from '../../src/control/client';

const SEED = Number(process.env.VDPAFS_FUZZ_SEED ?? Date.now() % 2 ** 31);

/* xorshift32: reproducible from SEED. */
function prng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

interface Raw {
  sock: net.Socket;
  replies: string[];
  closed: boolean;
}

function connectRaw(mnt: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(runPaths(mnt).sock);
    const raw: Raw = { sock: s, replies: [], closed: false };
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        raw.replies.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    s.on('close', () => (raw.closed = true));
    s.once('connect', () => resolve(raw));
    s.once('error', reject);
  });
}

/* How many replies the daemon owes for these bytes: one per non-blank line, one per over-long line. */
function owedReplies(data: Buffer): number {
  let owed = 0;
  let start = 0;
  for (;;) {
    const nl = data.indexOf(0x0a, start);
    const end = nl === -1 ? data.length : nl;
    const len = end - start;
    if (len > MAX_REQUEST_BYTES) owed++;
    else if (nl !== -1 && data.subarray(start, end).toString('utf8').trim()) owed++;
    if (nl === -1) return owed;
    start = nl + 1;
  }
}

const METHODS = [
  'info', 'genl', 'modprobe', 'modinfo', 'rmmod', 'lsmod', 'dmesg', 'net_link', 'net_send', 'net_recv',
  'devview_detach', 'fault_vring', 'nosuch', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '',
];
const ATTRS = [
  'VDPA_ATTR_DEV_NAME', 'VDPA_ATTR_MGMTDEV_DEV_NAME', 'VDPA_ATTR_MGMTDEV_BUS_NAME', 'VDPA_ATTR_DEV_NET_CFG_MACADDR',
  'VDPA_ATTR_DEV_NET_CFG_MTU', 'VDPA_ATTR_DEV_NET_CFG_MAX_VQP', 'VDPA_ATTR_DEV_QUEUE_INDEX', 'VDPA_ATTR_DEV_FEATURES',
  'VDPA_ATTR_DEV_ID', 'constructor', '__proto__', 'x',
];

function fuzzer(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const int = (n: number) => Math.floor(rand() * n);
  const value = (depth = 0): unknown => {
    switch (int(depth > 2 ? 7 : 10)) {
      case 0: return null;
      case 1: return rand() < 0.5;
      case 2: return pick([0, -1, 1.5, 2 ** 53, -(2 ** 31), 68, 65535, 65536, 1e308, 4294967296]);
      case 3: return pick(['', 'vdpa0', 'vdpasim_net', 'eth0', 'virtio0', 'a/b', '.', '..', 'x'.repeat(300), '\u0000', 'ü']);
      case 4: return int(256);
      case 5: return String(int(1e6));
      case 6: return 'z'.repeat(int(40));
      case 7: return Array.from({ length: int(8) }, () => value(depth + 1));
      case 8: return Object.fromEntries(Array.from({ length: int(5) }, () => [pick(['name', 'cmd', 'attrs', 'ifname', 'id', '__proto__', 'frame', 'count']), value(depth + 1)]));
      default: return [pick(ATTRS), value(depth + 1)];
    }
  };
  const genl = () => ({
    cmd: rand() < 0.8 ? pick([1, 2, 3, 4, 5, 6, 7, 8]) : value(),
    attrs: rand() < 0.9 ? Array.from({ length: int(6) }, () => (rand() < 0.8 ? [pick(ATTRS), value(1)] : value(1))) : value(),
  });
  const line = (): Buffer => {
    switch (int(6)) {
      case 0: /* random bytes, newlines included */
        return Buffer.from(Array.from({ length: int(300) }, () => int(256)));
      case 1: /* random JSON */
        return Buffer.from(JSON.stringify(value()) + '\n');
      case 2: /* a request with any method and any params */
        return Buffer.from(JSON.stringify({ id: int(1000), method: pick(METHODS), params: value() }) + '\n');
      case 3: /* genl, the family's commands with random attributes */
        return Buffer.from(JSON.stringify({ id: int(1000), method: 'genl', params: genl() }) + '\n');
      case 4: /* broken request envelopes */
        return Buffer.from(JSON.stringify(pick([{ id: 'x', method: 'info' }, { id: -1, method: 'info' }, { id: 1, method: 7 }, { id: 1 }, { id: 1, method: 'info', extra: 1 }, [1, 'info']])) + '\n');
      default: /* truncated JSON */
        return Buffer.from(JSON.stringify({ id: int(1000), method: 'genl', params: genl() }).slice(0, int(40)) + '\n');
    }
  };
  return { line };
}

async function drain(raw: Raw, owed: number, what: string): Promise<void> {
  const ok = await waitFor(() => raw.replies.length >= owed || raw.closed, 30_000);
  expect(ok && !raw.closed, `${what}: ${raw.replies.length} of ${owed} replies, closed=${raw.closed} (seed ${SEED})`).toBe(true);
  /* Nothing more may come. */
  await new Promise((r) => setTimeout(r, 100));
  expect(raw.replies.length, `${what}: extra replies (seed ${SEED}): ${raw.replies.slice(owed).join('\n')}`).toBe(owed);
  for (const r of raw.replies) {
    const reply = JSON.parse(r) as { id: number | null; errno?: string; result?: unknown };
    expect(reply.id === null || typeof reply.id === 'number', `${what}: reply ${r} (seed ${SEED})`).toBe(true);
    expect('result' in reply || typeof reply.errno === 'string', `${what}: reply ${r} (seed ${SEED})`).toBe(true);
  }
}

function expectServing(m: Mount, what: string): void {
  expect(m.daemon.exitCode, `${what}: daemon exited (seed ${SEED})\n${m.log()}`).toBe(null);
  const r = sh(m, 'ls "$MNT/sys/bus/vdpa/devices" "$MNT/sys/devices" > /dev/null && vdpa dev show > /dev/null && vdpafs lsmod > /dev/null');
  expect(r.status, `${what}: (seed ${SEED}) ${explain(r, m)}`).toBe(0);
}

describe('the control socket under fuzz (a fresh mount)', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel();
  });
  afterAll(async () => {
    await m?.stop();
  });

  it('8 connections × 500 random lines (bytes, JSON, wrong types, prototype names, genl attributes): one reply per non-blank line, daemon and mount up', async () => {
    const rand = prng(SEED);
    const { line } = fuzzer(rand);
    const conns = await Promise.all(Array.from({ length: 8 }, () => connectRaw(m.mnt)));
    const kinds = new Map<string, number>();
    await Promise.all(
      conns.map(async (raw, i) => {
        const lines = Array.from({ length: 500 }, line);
        /* End on a newline, so a trailing random-bytes line is complete and owed its reply. */
        const data = Buffer.concat([...lines, Buffer.from('\n')]);
        raw.sock.write(data);
        await drain(raw, owedReplies(data), `connection ${i}`);
        for (const r of raw.replies) {
          const reply = JSON.parse(r);
          const kind = 'result' in reply ? 'result' : `${reply.id === null ? 'null:' : ''}${reply.errno}`;
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        }
        raw.sock.destroy();
      }),
    );
    /* The fuzz reached every layer: envelopes refused, methods unknown, schemas and policies refused, the model answering. */
    const seen = [...kinds.keys()].join(' ');
    for (const kind of ['null:EINVAL', 'EOPNOTSUPP', 'EINVAL', 'result']) expect(kinds.get(kind), `${kind} in ${seen} (seed ${SEED})`).toBeGreaterThan(0);
    expectServing(m, 'after the fuzz');
  });

  it('a device name that is not a string, an empty one, /, ., .. and one over NAME_MAX: refused or renamed, and every listing still works', async () => {
    const c = await ControlClient.connect(m.mnt);
    const add = (name: unknown) =>
      c.call('genl', { cmd: 3, attrs: [['VDPA_ATTR_DEV_NAME', name], ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net']] }).then(
        () => 'ok',
        (e: { errno: string }) => e.errno,
      );
    try {
      expect(await add(7)).toBe('EINVAL');
      expect(await add({ toString: 1 })).toBe('EINVAL');
      expect(await add(['a'])).toBe('EINVAL');
      expect(await add('')).toBe('EINVAL');
      expect(await add('.')).toBe('EINVAL');
      expect(await add('..')).toBe('EINVAL');
      expect(await add('n'.repeat(256))).toBe('ENAMETOOLONG');
      expect(await add('a/b')).toBe('ok');
      expectServing(m, 'after the names');
      const r = sh(m, 'ls "$MNT/sys/bus/vdpa/devices"; cat "$MNT/sys/bus/vdpa/devices/a!b/driver_override"; vdpa dev del a!b');
      expect(r.status, explain(r, m)).toBe(0);
      expect(r.stdout).toContain('a!b\n');
      expect(r.stdout).toContain('(null)');
    } finally {
      c.close();
    }
  });

  it('lines over the limit: 3 MiB at once, 4 MiB in 1-byte-to-64-KiB pieces with no newline: EMSGSIZE once each, then the connection serves again', async () => {
    const raw = await connectRaw(m.mnt);
    raw.sock.write(Buffer.alloc(3 << 20, 0x61));
    raw.sock.write('\n{"id":1,"method":"info"}\n');
    const rand = prng(SEED);
    let sent = 0;
    while (sent < 4 << 20) {
      const n = 1 + Math.floor(rand() * 65536);
      raw.sock.write(Buffer.alloc(n, 0x7b));
      sent += n;
    }
    raw.sock.write('\n{"id":2,"method":"lsmod"}\n');
    await drain(raw, 4, 'over-long lines');
    const replies = raw.replies.map((r) => JSON.parse(r));
    expect(replies.filter((r) => r.errno === 'EMSGSIZE' && r.id === null)).toHaveLength(2);
    expect(replies.find((r) => r.id === 1)?.result).toMatchObject({ mountpoint: m.mnt });
    expect(Array.isArray(replies.find((r) => r.id === 2)?.result)).toBe(true);
    raw.sock.destroy();
    expectServing(m, 'after the long lines');
  });

  it('8 clients × 25 cycles of dev add, dev show, dev del, with the mount listed meanwhile: every call answered, no device left over', async () => {
    const before = sh(m, 'ls "$MNT/sys/bus/vdpa/devices"').stdout;
    const lister = (async () => {
      let n = 0;
      for (let i = 0; i < 40; i++) {
        n += sh(m, 'ls "$MNT/sys/bus/vdpa/devices" "$MNT/dev" > /dev/null').status === 0 ? 1 : 0;
        await new Promise((r) => setTimeout(r, 10));
      }
      return n;
    })();
    const workers = Array.from({ length: 8 }, async (_, w) => {
      const c = await ControlClient.connect(m.mnt);
      try {
        for (let i = 0; i < 25; i++) {
          const name = `w${w}c${i}`;
          await c.call('genl', { cmd: 3, attrs: [['VDPA_ATTR_DEV_NAME', name], ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net']] });
          const shown = await c.call<{ msgs: Array<Array<[string, unknown]>> }>('genl', { cmd: 5, attrs: [['VDPA_ATTR_DEV_NAME', name]] });
          expect(shown.msgs[0]).toContainEqual(['VDPA_ATTR_DEV_NAME', name]);
          await c.call('genl', { cmd: 4, attrs: [['VDPA_ATTR_DEV_NAME', name]] });
        }
      } finally {
        c.close();
      }
    });
    await Promise.all(workers);
    expect(await lister).toBe(40);
    expect(sh(m, 'ls "$MNT/sys/bus/vdpa/devices"').stdout).toBe(before);
    expectServing(m, 'after the concurrent clients');
  });
});

describe('no debugger in the daemon', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel();
  });
  afterAll(async () => {
    await m?.stop();
  });

  it('kill -USR1 opens no inspector: nothing of the daemon listens, and it still serves', async () => {
    const pid = m.daemon.pid!;
    process.kill(pid, 'SIGUSR1');
    expect(await waitFor(() => /SIGUSR1 ignored/.test(m.log()), 5000), m.log()).toBe(true);
    const ss = spawnSync('ss', ['-ltnpH'], { encoding: 'utf8' });
    expect(ss.status, ss.stderr).toBe(0);
    expect(ss.stdout.split('\n').filter((l) => l.includes(`pid=${pid},`))).toEqual([]);
    expect(m.log()).not.toMatch(/Debugger listening/);
    expectServing(m, 'after SIGUSR1');
  });

  it('a daemon started with --inspect in NODE_OPTIONS refuses to run and mounts nothing', () => {
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-e2e-'));
    try {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/daemon.js'), mnt], {
        env: daemonEnv({ NODE_OPTIONS: '--inspect=127.0.0.1:0' }),
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/vdpafsd: refusing to run with --inspect=127\.0\.0\.1:0/);
      expect(isMounted(mnt)).toBe(false);
    } finally {
      if (isMounted(mnt)) spawnSync('umount', ['-l', mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });
});
