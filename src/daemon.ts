/*
 * vdpafsd: one simulated kernel, mounted with FUSE, answering the CLIs on
 * its control socket. Started (detached) by mount.sh, or by the tests as a
 * child process.
 *
 *   node dist/daemon.js [--bare] [--dev-nodes=file|char] MOUNTPOINT
 *
 * Prints "ready <mountpoint>" on stdout once the mount is live and the
 * socket listens; exits after unmounting on SIGINT/SIGTERM or a `shutdown`
 * request.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import createDebug from 'debug';
import Fuse from 'fuse-native';
import { bootKernel } from './kernel/boot';
import { vhostVdpaShellInstall } from './drivers/vhost/vdpa_shell';
import { fuseOps, mountQuietly } from './fuse/adapter';
import { ControlServer } from './control/server';
import { devViewMethods, kernelMethods } from './control/methods';
import { DevViewMounts } from './fuse/devview_mounts';
import { runPaths } from './control/protocol';
import { GenlWireServer, startGenlServer } from './control/genl_server';

const trace = createDebug('vdpafs:daemon');

interface Args {
  mountpoint: string;
  bare: boolean;
  devNodes: 'file' | 'char';
}

function usage(): never {
  process.stderr.write('usage: vdpafsd [--bare] [--dev-nodes=file|char] MOUNTPOINT\n');
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Partial<Args> = { bare: false, devNodes: 'file' };
  for (const a of argv) {
    if (a === '--bare') args.bare = true;
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
  const fuse = new Fuse(args.mountpoint, fuseOps(kernel.fs, { devNodesAsDevices: args.devNodes === 'char' }), {
    mkdir: true,
    /* Clears a stale mount (ENOTCONN) left by a killed daemon before mounting. */
    force: true,
    /* The kernel unmounts if this process dies, even by SIGKILL. */
    autoUnmount: true,
    allowOther: true,
    /* A store may sleep (unbind while /dev/vhost-vdpa-N is open): never time out. */
    timeout: false,
    subtype: 'vdpafs',
    fsname: 'vdpafs,direct_io,big_writes,negative_timeout=0',
    /* Never stale: nothing cached, so a removed node is gone for the next stat. */
    entryTimeout: '0',
    attrTimeout: '0',
  });

  /* `vdpafs shell`'s /dev: views of dev/ mounted per namespace on request. */
  const views = new DevViewMounts(kernel.devtmpfs.root, {
    devNodesAsDevices: args.devNodes === 'char',
    base: run.pid.replace(/\.pid$/, ''),
  });

  let stopping = false;
  let genl: GenlWireServer | null = null;
  const control = new ControlServer({
    ...kernelMethods(kernel, () => ({ mountpoint: args.mountpoint, pid: process.pid, bare: args.bare, devNodes: args.devNodes })),
    ...devViewMethods(views),
    shutdown: () => {
      setImmediate(() => stop('shutdown request'));
      return null;
    },
  });

  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    trace('stopping: %s', why);
    control.close();
    genl?.close();
    views.detachAllSync();
    for (const f of [run.sock, run.genl, run.pid]) fs.rmSync(f, { force: true });
    fuse.unmount(() => process.exit(0));
    /* fusermount may hang on a busy mount; the lazy unmount has been issued. */
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  process.on('uncaughtException', (e) => {
    process.stderr.write(`vdpafsd: internal error: ${e.stack ?? e}\n`);
    stop('uncaught exception');
  });

  await mountQuietly(fuse);
  await control.listen(run.sock);
  /* Generic netlink for unmodified programs under the preload shim (control/genl_server.ts). */
  genl = await startGenlServer(kernel, run.genl);
  fs.writeFileSync(run.pid, `${process.pid}\n`);
  trace('mounted %s (bare=%s)', args.mountpoint, args.bare);
  process.stdout.write(`ready ${args.mountpoint}\n`);
}

main().catch((e) => {
  process.stderr.write(`vdpafsd: ${e?.message ?? e}\n`);
  process.exit(1);
});
