/*
 * vdpafs shell: run a program against the simulated kernel as if it were the
 * host's, in a private mount namespace where
 *
 *   /sys                 is a sysfs mount (libsysfs looks for one in
 *                        /proc/mounts) with each top-level directory of the
 *                        simulation's sys/ bound over sysfs's own;
 *   /dev                 is a dev view served by the daemon (fuse/devview_mounts.ts):
 *                        the simulation's devtmpfs nodes, live, and every
 *                        other host /dev name as a link into /dev/.host,
 *                        where the host's /dev is bound;
 *   /sbin/{modprobe,rmmod,lsmod}
 *                        the simulated kernel's module tools (an overlay on
 *                        /sbin), so driverctl's `/sbin/modprobe` loads into
 *                        the simulation and never into the host kernel.
 *
 * The namespace is made by unshare(1); a small sh script lays the mounts and
 * execs the command, so the command is the namespace's only process and its
 * exit status is ours.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RUN_DIR } from '../control/protocol';
import { connectKernel, UsageError } from './common';
import { genlPreloadEnv } from './genl_preload';
import type { Command } from './vdpafs';

const usage = `Usage: vdpafs shell [--root MOUNTPOINT] [-- COMMAND [ARGS...]]

Run COMMAND (default: an interactive shell) in a private mount namespace
where the simulation behind MOUNTPOINT is the host: its sys/ is at /sys, its
/dev/vhost-vdpa-N nodes are in /dev (live), the rest of /dev is the host's,
/sbin/modprobe, rmmod and lsmod act on the simulated kernel, and the
generic netlink "vdpa" family is the simulation's (Debian's /sbin/vdpa
manages its devices; see vdpafs exec). Nothing
outside the namespace changes; it ends with COMMAND, whose exit status is
returned. Needs root.

Exit status: COMMAND's; 128+N if it was killed by signal N; 125 if the
namespace could not be set up; 127 if COMMAND was not found.
`;

/* Exit status when the namespace itself cannot be made (as env(1), timeout(1)). */
const EXIT_SETUP = 125;

/* The module tools the namespace gets from the simulation (see the overlay below). */
const MODULE_TOOLS = ['modprobe', 'rmmod', 'lsmod'];

/*
 * Runs as `sh -c SETUP vdpafs-shell VIEW SYS SHIMS COMMAND...` right after
 * unshare(CLONE_NEWNS) with private propagation: every mount below exists in
 * the new namespace only. fd 3 tells the caller the mounts are in place and
 * which namespace they are in (the caller then detaches the view from the
 * host's mount table, and later ends that namespace).
 */
const SETUP = `
fail() { echo "vdpafs shell: $*" >&2; exit ${EXIT_SETUP}; }
view=$1 sys=$2 shims=$3
shift 3

# /sys. libsysfs (systool) accepts a tree only where /proc/mounts lists a
# mount of type sysfs, so /sys stays a sysfs and the simulation's directories
# are laid over its own: bus, class, dev, devices, module, kernel, block.
awk '$2 == "/sys" && $3 == "sysfs" { found = 1 } END { exit !found }' /proc/mounts ||
  mount -t sysfs sysfs /sys || fail "cannot mount sysfs on /sys"
for d in "$sys"/*; do
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  name=\${d##*/}
  [ -d "/sys/$name" ] || fail "sysfs has no /sys/$name to lay $d over"
  mount --bind "$d" "/sys/$name" || fail "cannot bind $d on /sys/$name"
done

# /dev. The host's /dev (with pts, shm, mqueue) goes under the view's .host,
# then the view goes over /dev, and its scratch mount point is dropped.
mount --rbind /dev "$view/.host" || fail "cannot bind /dev on $view/.host"
mount --rbind "$view" /dev || fail "cannot bind the dev view on /dev"
umount -l "$view" || fail "cannot drop $view"

# /sbin/modprobe & co: the simulated kernel's, first in an overlay on /sbin.
sbin=$(readlink -f /sbin)
mount -t overlay vdpafs-sbin -o "lowerdir=$shims:$sbin" "$sbin" || fail "cannot lay the module tools over $sbin"

echo "ready $(readlink /proc/self/ns/mnt)" >&3
exec 3>&-
exec "$@"
`;

/* Single-quote for sh. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function parseCommand(argv: string[]): string[] {
  if (argv[0] === '--') return argv.slice(1);
  if (argv.length && argv[0].startsWith('-')) throw new UsageError(`unknown option ${argv[0]}`);
  return argv;
}

function defaultShell(): string[] {
  for (const sh of [process.env.SHELL, '/bin/bash', '/bin/sh']) if (sh && fs.existsSync(sh)) return [sh];
  return ['/bin/sh'];
}

/* The mount namespace of a process, as /proc/PID/ns/mnt names it ("mnt:[4026532...]"). */
function mountNamespaceOf(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/*
 * The namespace ends with the command: whatever it left running in there
 * (a background job, a daemon) is killed, as the kernel kills a PID
 * namespace's processes when its init exits. Only processes of that very
 * namespace are touched; new ones may fork while we look, so look again.
 */
function endNamespace(ns: string): void {
  for (let round = 0; round < 10; round++) {
    let found = 0;
    for (const entry of fs.readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      if (mountNamespaceOf(pid) !== ns) continue;
      found++;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (!found) return;
  }
}

/* One script per module tool, each handing over to `vdpafs TOOL` for this mount. */
function writeModuleTools(mnt: string): string {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  const dir = fs.mkdtempSync(path.join(RUN_DIR, 'shell-sbin-'));
  const vdpafs = path.resolve(__dirname, '../../bin/vdpafs');
  for (const tool of MODULE_TOOLS) {
    const script =
      `#!/bin/sh\n# ${tool} of the simulated kernel at ${mnt} (vdpafs shell)\n` +
      `exec ${shq(process.execPath)} ${shq(vdpafs)} --root ${shq(mnt)} ${tool} "$@"\n`;
    fs.writeFileSync(path.join(dir, tool), script, { mode: 0o755 });
  }
  return dir;
}

export const command: Command = {
  name: 'shell',
  summary: 'run a command (or a shell) with the simulation at /sys and /dev',
  usage,
  async run(argv, ctx) {
    const cmd = parseCommand(argv);
    if (process.geteuid?.() !== 0) {
      process.stderr.write('vdpafs shell: must run as root: a mount namespace and its mounts need CAP_SYS_ADMIN\n');
      return EXIT_SETUP;
    }
    const client = await connectKernel('vdpafs shell', ctx.root);
    if (!client) return EXIT_SETUP;
    const mnt = fs.realpathSync(ctx.root!);
    let view: { id: number; path: string } | null = null;
    let shims: string | null = null;
    const detach = async () => {
      if (!view) return;
      const id = view.id;
      view = null;
      await client.call('devview_detach', { id }).catch(() => undefined);
    };
    try {
      if (!fs.statSync(path.join(mnt, 'sys'), { throwIfNoEntry: false })?.isDirectory()) {
        process.stderr.write(`vdpafs shell: ${mnt}/sys is not there: is ${mnt} a vdpafs mount?\n`);
        return EXIT_SETUP;
      }
      view = await client.call<{ id: number; path: string }>('devview_mount');
      shims = writeModuleTools(mnt);

      const program = cmd.length ? cmd : defaultShell();
      if (!cmd.length && process.stdin.isTTY) {
        process.stderr.write(`vdpafs shell: /sys and /dev/vhost-vdpa-N are the simulation at ${mnt}; 'exit' leaves\n`);
      }
      const child = spawn(
        'unshare',
        ['-m', '--propagation', 'private', '--', '/bin/sh', '-c', SETUP, 'vdpafs-shell', view.path, path.join(mnt, 'sys'), shims, ...program],
        {
          stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
          env: {
            ...process.env,
            VDPAFS_ROOT: mnt,
            VDPAFS_SHELL: mnt,
            /* Generic netlink is the simulation's too: Debian's /sbin/vdpa manages its devices. */
            ...genlPreloadEnv(mnt),
            PATH: `${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}:${path.resolve(__dirname, '../../bin')}`,
          },
        },
      );

      /* Once the namespace holds the view, the host's mount table lets it go. */
      let detached: Promise<void> = Promise.resolve();
      let ns: string | null = null;
      let said = '';
      child.stdio[3]!.on('data', (d: Buffer) => {
        said += d.toString();
        const ready = /^ready (\S+)\n/.exec(said);
        if (!ready || ns) return;
        ns = ready[1];
        detached = detach();
      });

      /* A shell waiting for its foreground job: the terminal's signals are the job's. */
      const ignore = () => undefined;
      const forward = (sig: NodeJS.Signals) => child.kill(sig);
      process.on('SIGINT', ignore);
      process.on('SIGQUIT', ignore);
      process.on('SIGTERM', forward);
      process.on('SIGHUP', forward);
      const status = await new Promise<number>((resolve) => {
        child.once('error', (e) => {
          process.stderr.write(`vdpafs shell: cannot run unshare: ${e.message}\n`);
          resolve(EXIT_SETUP);
        });
        /* 'close', not 'exit': by then fd 3 has said all it had to say. */
        child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
      });
      process.off('SIGINT', ignore);
      process.off('SIGQUIT', ignore);
      process.off('SIGTERM', forward);
      process.off('SIGHUP', forward);
      if (ns && ns !== mountNamespaceOf(process.pid)) endNamespace(ns);
      await detached;
      return status;
    } finally {
      await detach();
      client.close();
      if (shims) fs.rmSync(shims, { recursive: true, force: true });
    }
  },
};
