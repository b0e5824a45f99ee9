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
 * The namespaces are made by unshare(1): a mount namespace, and a PID
 * namespace whose init is the small sh script that lays the mounts and
 * runs the command, so the command's exit status is ours and, when the
 * script ends, the kernel kills whatever the command left running. If
 * `vdpafs shell` itself is killed (even by SIGKILL), PR_SET_PDEATHSIG
 * (setpriv --pdeathsig) takes unshare with it, --kill-child takes the
 * namespace's init, and that ends the namespace: the command never
 * outlives us. The module tools live on a tmpfs of the namespace's own;
 * the host directory it is mounted on is removed as soon as the overlay
 * holds it, and directories left by a shell killed before that are
 * swept by the next one.
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
 * Runs as `sh -c SETUP vdpafs-shell VIEW SYS SHIMS LAUNCHER COMMAND...` right
 * after unshare(CLONE_NEWNS|CLONE_NEWPID) with private propagation: every
 * mount below exists in the new namespace only, and sh is the PID
 * namespace's init. fd 3 tells the caller the mounts are in place and which
 * namespace they are in (the caller then detaches the view from the host's
 * mount table). LAUNCHER is the quoted command line that runs `vdpafs` for
 * this mount; SHIMS an empty host directory to mount the tools' tmpfs on.
 */
const SETUP = `
fail() { echo "vdpafs shell: $*" >&2; exit ${EXIT_SETUP}; }
view=$1 sys=$2 shims=$3 launcher=$4
shift 4

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
# They are written to a tmpfs of this namespace; the overlay keeps its own
# reference to it, so its mount point (a host directory) goes at once.
mount -t tmpfs -o mode=0755,size=64k vdpafs-tools "$shims" || fail "cannot mount a tmpfs on $shims"
for tool in ${MODULE_TOOLS.join(' ')}; do
  printf '#!/bin/sh\n# %s of the simulated kernel (vdpafs shell)\nexec %s %s "$@"\n' "$tool" "$launcher" "$tool" > "$shims/$tool" &&
    chmod 755 "$shims/$tool" || fail "cannot write $shims/$tool"
done
sbin=$(readlink -f /sbin)
mount -t overlay vdpafs-sbin -o "lowerdir=$shims:$sbin" "$sbin" || fail "cannot lay the module tools over $sbin"
umount "$shims" && rmdir "$shims" || fail "cannot drop $shims"

echo "ready $(readlink /proc/self/ns/mnt)" >&3
exec 3>&-
# Not exec: this shell is the PID namespace's init, and its end ends everything in it.
"$@"
exit $?
`;

/* The pids /proc lists as the children of `pid` (its main thread's). */
function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/*
 * Pass a signal (SIGTERM, SIGHUP) on to COMMAND. Neither of the processes
 * between us and it would: unshare ignores SIGTERM and SIGINT while it waits
 * for its child, and the namespace's init (the setup sh) receives from
 * outside only the signals it has a handler for. So send it to the init's
 * children -- COMMAND, which sh runs in the foreground -- as a terminal
 * would to its foreground job.
 */
function signalCommand(launcher: number | undefined, sig: NodeJS.Signals): void {
  if (launcher === undefined) return;
  for (const init of childrenOf(launcher)) {
    for (const pid of childrenOf(init)) {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone meanwhile */
      }
    }
  }
}

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

/* The command line the module tools hand over to: `vdpafs --root MNT`, quoted for sh. */
function toolLauncher(mnt: string): string {
  return `${shq(process.execPath)} ${shq(path.resolve(__dirname, '../../bin/vdpafs'))} --root ${shq(mnt)}`;
}

const SHIMS_PREFIX = 'shell-sbin-';

/* An empty directory under RUN_DIR for the tools' tmpfs, named after this process. */
function makeShimsDir(): string {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  return fs.mkdtempSync(path.join(RUN_DIR, `${SHIMS_PREFIX}${process.pid}-`));
}

/* Directories of shells that were killed before their namespace took them over. */
function sweepShimsDirs(): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(RUN_DIR);
  } catch {
    return;
  }
  for (const name of entries) {
    const m = new RegExp(`^${SHIMS_PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid || fs.existsSync(`/proc/${m[1]}`)) continue;
    fs.rmSync(path.join(RUN_DIR, name), { recursive: true, force: true });
  }
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
    let viewId: number | null = null;
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
      sweepShimsDirs();
      view = await client.call<{ id: number; path: string }>('devview_mount');
      viewId = view.id;
      shims = makeShimsDir();

      const program = cmd.length ? cmd : defaultShell();
      if (!cmd.length && process.stdin.isTTY) {
        process.stderr.write(`vdpafs shell: /sys and /dev/vhost-vdpa-N are the simulation at ${mnt}; 'exit' leaves\n`);
      }
      const child = spawn(
        'setpriv',
        [
          '--pdeathsig', 'KILL', '--',
          'unshare', '-m', '-p', '--kill-child', '--propagation', 'private', '--',
          '/bin/sh', '-c', SETUP, 'vdpafs-shell', view.path, path.join(mnt, 'sys'), shims, toolLauncher(mnt), ...program,
        ],
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
      const forward = (sig: NodeJS.Signals) => signalCommand(child.pid, sig);
      process.on('SIGINT', ignore);
      process.on('SIGQUIT', ignore);
      process.on('SIGTERM', forward);
      process.on('SIGHUP', forward);
      const status = await new Promise<number>((resolve) => {
        child.once('error', (e) => {
          process.stderr.write(`vdpafs shell: cannot run setpriv/unshare: ${e.message}\n`);
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
      /*
       * Return only once everything the command held through /dev is
       * released (a VMM's node). A view no namespace took (the setup
       * failed) ends as soon as it leaves the host's mount table.
       */
      await detach();
      if (viewId !== null) await client.call('devview_wait', { id: viewId }).catch(() => undefined);
      return status;
    } finally {
      await detach();
      client.close();
      if (shims) fs.rmSync(shims, { recursive: true, force: true });
    }
  },
};
