/*
 * vdpafsd: one simulated kernel, mounted with FUSE, answering the CLIs on
 * its control socket. Started (detached) by mount.sh, or by the tests as a
 * child process.
 *
 *   node dist/daemon.js [--bare] [--dev-nodes=file|char] [--testing] MOUNTPOINT
 *
 * --testing adds the tests' fault-injection methods to the control socket.
 *
 * Prints "ready <mountpoint>" on stdout once the mount is live and the
 * socket listens; exits after unmounting on SIGINT/SIGTERM or a `shutdown`
 * request.
 */
/*
 * Invalidation notifications are written from libuv's threadpool (they may
 * wait on a host inode lock: src/fuse/invalidate.ts); give it room beside
 * fs work. Read when the pool first starts, so before anything uses it.
 */
process.env.UV_THREADPOOL_SIZE ??= '8';
import { guardProcess } from './process_guard';
import * as fs from 'node:fs';
import * as path from 'node:path';
import createDebug from 'debug';
import { bootKernel } from './kernel/boot';
import { vhostVdpaShellInstall } from './drivers/vhost/vdpa_shell';
import { installHostTasks } from './host/tasks';
import { FuseMount, isStaleMount, lazyUnmount } from './fuse/mount';
import { ControlServer } from './control/server';
import { devViewMethods, faultMethods, kernelMethods } from './control/methods';
import { method } from './control/server';
import { none } from './control/schema';
import { DevViewMounts } from './fuse/devview_mounts';
import { runPaths } from './control/protocol';
import { GenlWireServer, startGenlServer } from './control/genl_server';

guardProcess('vdpafsd');

const trace = createDebug('vdpafs:daemon');

interface Args {
  mountpoint: string;
  bare: boolean;
  devNodes: 'file' | 'char';
  testing: boolean;
}

function usage(): never {
  process.stderr.write('usage: vdpafsd [--bare] [--dev-nodes=file|char] [--testing] MOUNTPOINT\n');
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Partial<Args> = { bare: false, devNodes: 'file', testing: false };
  for (const a of argv) {
    if (a === '--bare') args.bare = true;
    else if (a === '--testing') args.testing = true;
    else if (a === '--dev-nodes=char') args.devNodes = 'char';
    else if (a === '--dev-nodes=file') args.devNodes = 'file';
    else if (a.startsWith('-')) usage();
    else if (!args.mountpoint) args.mountpoint = path.resolve(a);
    else usage();
  }
  if (!args.mountpoint) usage();
  return args as Args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const run = runPaths(args.mountpoint);
  fs.mkdirSync(run.dir, { recursive: true });

  const kernel = bootKernel({ bare: args.bare });
  /* /dev/vhost-vdpa-N opened from the shell gets the built-in userspace driver (README.md, "Using it from a shell"). */
  vhostVdpaShellInstall(kernel);
  /* Ioctls and IOTLB writes reach their callers' memory and eventfds (/proc/<tgid>/mem, pidfd_getfd). */
  installHostTasks(kernel);
  /* `vdpafs shell`'s /dev: views of dev/ mounted per namespace on request. */
  const views = new DevViewMounts(kernel.devtmpfs.root, {
    devNodesAsDevices: args.devNodes === 'char',
    base: run.pid.replace(/\.pid$/, ''),
  });

  let stopping = false;
  let mount: FuseMount | null = null;
  /* Replies on the daemon's sockets wait until the mount shows what their request changed. */
  const settled = (): Promise<void> => mount?.server.settled() ?? Promise.resolve();
  let genl: GenlWireServer | null = null;
  const control = new ControlServer({
    ...kernelMethods(kernel, () => ({ mountpoint: args.mountpoint, pid: process.pid, bare: args.bare, devNodes: args.devNodes })),
    ...devViewMethods(views),
    ...(args.testing ? faultMethods(kernel) : {}),
    shutdown: method({
      perm: 'admin',
      params: none,
      run: () => {
        setImmediate(() => stop('shutdown request'));
        return null;
      },
    }),
  }, settled);

  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    trace('stopping: %s', why);
    control.close();
    genl?.close();
    views.detachAll();
    for (const f of [run.sock, run.genl, run.pid]) fs.rmSync(f, { force: true });
    mount?.unmount();
    mount?.close();
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  process.on('uncaughtException', (e) => {
    process.stderr.write(`vdpafsd: internal error: ${e.stack ?? e}\n`);
    stop('uncaught exception');
  });

  /* A stale mount (ENOTCONN) left by a killed daemon is cleared first. */
  if (isStaleMount(args.mountpoint)) lazyUnmount(args.mountpoint);
  mount = FuseMount.mount(kernel.fs, args.mountpoint, {
    fsname: 'vdpafs',
    devNodesAsDevices: args.devNodes === 'char',
    /* Unmounted from elsewhere (umount -l) and no longer used: nothing left to serve. */
    onClose: () => stop('mount gone'),
  });
  await control.listen(run.sock);
  /* Generic netlink for unmodified programs under the preload shim (control/genl_server.ts). */
  genl = await startGenlServer(kernel, run.genl, settled);
  fs.writeFileSync(run.pid, `${process.pid}\n`);
  trace('mounted %s (bare=%s)', args.mountpoint, args.bare);
  process.stdout.write(`ready ${args.mountpoint}\n`);
}

main().catch((e) => {
  process.stderr.write(`vdpafsd: ${e?.message ?? e}\n`);
  process.exit(1);
});
