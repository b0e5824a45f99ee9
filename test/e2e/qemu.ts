/*
 * QEMU for the end-to-end test: the guest scripts/guest.sh makes, the
 * command line, and the guest's console, which speaks in lines:
 *
 *   VDPAFS-RESULT key=value key=value   what the guest saw (test/guest/init)
 *   VDPAFS-WAIT                          it waits for one line from the host
 *   VDPAFS-POWEROFF                      it is powering off
 *   VDPAFS-FAIL why                      it gave up (then powers off)
 *
 * Kernel messages and the tty's echo of what the host sends are mixed in;
 * only lines starting with a marker count.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN, ROOT } from './harness';

export interface GuestImage {
  kernel: string; /* vmlinux, booted through PVH */
  initrd: string;
  krelease: string;
  modules: string[];
  qemu: string;
}

/* scripts/guest.sh's KEY=VALUE lines. */
export function parseGuestEnv(stdout: string): GuestImage {
  const env = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env.set(m[1], m[2]);
  }
  const need = (k: string): string => {
    const v = env.get(k);
    if (!v) throw new Error(`scripts/guest.sh printed no ${k}:\n${stdout}`);
    return v;
  };
  return {
    kernel: need('GUEST_KERNEL'),
    initrd: need('GUEST_INITRD'),
    krelease: need('GUEST_KRELEASE'),
    modules: need('GUEST_MODULES').split(','),
    qemu: need('QEMU'),
  };
}

/* Make (first time: download and build, a minute or so) or find the cached guest. */
export function prepareGuest(): GuestImage {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/guest.sh')], { encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`scripts/guest.sh failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return parseGuestEnv(r.stdout);
}

export const MARKERS = ['VDPAFS-WAIT', 'VDPAFS-POWEROFF', 'VDPAFS-FAIL'] as const;
export type Marker = (typeof MARKERS)[number];

/* The guest's console as it arrives: lines (CR LF from the serial port), results and markers. */
export class GuestConsole {
  readonly results = new Map<string, string>();
  readonly markers: string[] = [];
  private text = '';
  private partial = '';
  private readonly waiters: Array<() => void> = [];

  feed(chunk: string): void {
    this.text += chunk;
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const raw of lines) this.line(raw.replace(/\r$/, ''));
    for (const w of this.waiters.splice(0)) w();
  }

  private line(l: string): void {
    if (l.startsWith('VDPAFS-RESULT ')) {
      for (const kv of l.slice('VDPAFS-RESULT '.length).trim().split(/\s+/)) {
        const eq = kv.indexOf('=');
        if (eq > 0) this.results.set(kv.slice(0, eq), kv.slice(eq + 1));
      }
    }
    const marker = MARKERS.find((m) => l === m || l.startsWith(`${m} `));
    if (marker) this.markers.push(l);
  }

  has(marker: Marker): boolean {
    return this.markers.some((l) => l === marker || l.startsWith(`${marker} `));
  }

  /* A result as a number (NaN if missing). */
  num(key: string): number {
    const v = this.results.get(key);
    return v === undefined ? NaN : Number(v);
  }

  /* Everything printed so far, for a failure message. */
  transcript(): string {
    return this.text + this.partial;
  }

  /* Resolve when `marker` was seen; reject on VDPAFS-FAIL, when `exited()` turns true, or after ms. */
  waitFor(marker: Marker, ms: number, exited: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${marker} within ${ms / 1000} s; the console:\n${this.transcript()}`)), ms);
      const check = (): void => {
        if (this.has(marker)) {
          clearTimeout(timer);
          resolve();
        } else if (this.has('VDPAFS-FAIL')) {
          clearTimeout(timer);
          reject(new Error(`the guest failed; the console:\n${this.transcript()}`));
        } else if (exited()) {
          clearTimeout(timer);
          reject(new Error(`QEMU exited before ${marker}; the console:\n${this.transcript()}`));
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /* Wake the waiters without new text (QEMU exited). */
  poke(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export interface GuestParams {
  /* -netdev's value; its id must be net0 (e.g. vhost-vdpa,id=net0,vhostdev=/dev/vhost-vdpa-0). */
  netdev: string;
  qemuMac: string; /* what QEMU writes into the device's config (SET_CONFIG) */
  guestMac: string; /* what the guest then sets through the control queue */
  count: number; /* frames of each kind the guest sends */
  waitSeconds: number; /* how long the guest waits for the host's go-ahead */
  qmpSocket: string; /* QEMU's QMP server (a unix socket): how the test tells QEMU to quit */
}

/*
 * The command line: TCG (this machine's /dev/kvm cannot boot Linux), the pc
 * machine with qboot, the uncompressed vmlinux booted through PVH, the
 * serial console on stdio, and a virtio-net-pci NIC on `netdev` (the
 * vhost-vdpa node, or an ordinary backend to check the guest itself). -no-shutdown keeps QEMU (and its open node) alive after
 * the guest powers off, so the test can see the device reset while QEMU
 * still holds it. The test stops QEMU through QMP's `quit`.
 */
export function qemuArgs(g: GuestImage, p: GuestParams): string[] {
  const append = [
    'console=ttyS0',
    'quiet',
    /* No IPv6: no router solicitations or MLD reports, so the counters are exactly the test's frames. */
    'ipv6.disable=1',
    'panic=-1',
    `vdpafs.mac=${p.guestMac}`,
    `vdpafs.count=${p.count}`,
    `vdpafs.wait=${p.waitSeconds}`,
  ].join(' ');
  return [
    '-accel', 'tcg',
    '-M', 'pc',
    '-bios', 'qboot.rom',
    '-m', '256',
    '-smp', '1',
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-chardev', 'stdio,id=con,signal=off',
    '-serial', 'chardev:con',
    '-no-reboot',
    '-no-shutdown',
    '-qmp', `unix:${p.qmpSocket},server=on,wait=off`,
    '-kernel', g.kernel,
    '-initrd', g.initrd,
    '-append', append,
    '-netdev', p.netdev,
    /* romfile= : no iPXE option ROM, nothing boots from the network. */
    '-device', `virtio-net-pci,netdev=net0,mac=${p.qemuMac},romfile=`,
  ];
}

export interface QemuRun {
  child: ChildProcess;
  console: GuestConsole;
  exited(): boolean;
  /* A line on the guest's console (its stdin). */
  send(line: string): void;
  /* QMP `quit`, as a management layer stops QEMU; resolves with the exit status once it is gone. */
  quit(): Promise<number | null>;
  /* Make sure it is gone (cleanup): QMP `quit`, then SIGKILL after 10 s. */
  stop(): Promise<number | null>;
}

/* A fresh path for QEMU's QMP socket (the directory goes with the process). */
export function qmpSocketPath(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-qmp-')), 'qmp.sock');
}

/* The QMP handshake, then `quit`. Resolves when QEMU answered or hung up; rejects if it cannot be reached. */
function qmpQuit(sock: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let buf = '';
    let sent = false;
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      /* The greeting first ({"QMP": ...}), then one answer per command. */
      if (!sent && buf.includes('"QMP"')) {
        sent = true;
        c.write('{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n');
      }
    });
    /* QEMU may drop the connection as it quits (ECONNRESET): that is the answer too. */
    c.on('error', (e) => (sent ? resolve() : reject(e)));
    c.on('close', () => resolve());
  });
}

/*
 * Start QEMU; with `shellRoot`, inside `vdpafs shell --root MNT`, so that
 * /dev/vhost-vdpa-N is the mount's node, as a CI job would run it.
 */
export function startQemu(g: GuestImage, p: GuestParams, shellRoot?: string): QemuRun {
  const qemu = [g.qemu, ...qemuArgs(g, p)];
  const argv = shellRoot ? [process.execPath, path.join(BIN, 'vdpafs'), 'shell', '--root', shellRoot, '--', ...qemu] : qemu;
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C', ...(shellRoot ? { VDPAFS_ROOT: shellRoot } : {}) },
  });
  const con = new GuestConsole();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => con.feed(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => con.feed(d));
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const done = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      con.poke();
      fs.rmSync(path.dirname(p.qmpSocket), { recursive: true, force: true });
      resolve(code);
    }),
  );
  const quit = async (): Promise<number | null> => {
    if (!exited()) {
      await qmpQuit(p.qmpSocket);
      await done;
    }
    return child.exitCode;
  };
  return {
    child,
    console: con,
    exited,
    send: (line) => void child.stdin!.write(`${line}\n`),
    quit,
    stop: async () => {
      if (exited()) return child.exitCode;
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await quit().catch(() => child.kill('SIGKILL'));
      await done;
      clearTimeout(timer);
      return child.exitCode;
    },
  };
}
