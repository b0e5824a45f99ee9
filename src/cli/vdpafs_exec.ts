/*
 * vdpafs exec: run one command whose generic netlink reaches the simulated
 * kernel, as in `vdpafs shell` but without the namespace: Debian's
 * /sbin/vdpa (or any dynamically linked program) then manages the
 * simulation's vdpa devices. Everything else the command does goes to the
 * host as usual.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from './common';
import { genlPreloadEnv, genlPreloadProblem } from './genl_preload';
import type { Command } from './vdpafs';

const usage = `Usage: vdpafs exec [--root MOUNTPOINT] [--] COMMAND [ARGS...]

Run COMMAND with the vdpafs generic netlink shim preloaded, so its "vdpa"
netlink family is the simulated kernel's behind MOUNTPOINT (--root, or
$VDPAFS_ROOT): \`vdpafs exec -- vdpa dev show\` runs iproute2's own vdpa
against the simulation (vdpafs's bin/ goes last on PATH, as in vdpafs
shell). Other netlink families and protocols, and the rest
of the system, are the host's. Programs that make raw system calls (Go,
static binaries) are not reached.

Exit status: COMMAND's; 128+N if it was killed by signal N; 125 if vdpafs
could not set it up; 126 if COMMAND cannot be run; 127 if it was not found.
`;

const EXIT_SETUP = 125;

/* vdpafs's bin/ last on PATH, as in vdpafs shell: `vdpa` is the system's iproute2 when there is one. */
function binLast(pathVar = '/usr/sbin:/usr/bin:/sbin:/bin'): string {
  const bin = path.resolve(__dirname, '../../bin');
  return [...pathVar.split(':').filter((d) => d && path.resolve(d) !== bin), bin].join(':');
}

export const command: Command = {
  name: 'exec',
  summary: "run a command whose vdpa netlink is the simulation's",
  usage,
  async run(argv, ctx) {
    const cmd = argv[0] === '--' ? argv.slice(1) : argv;
    if (!cmd.length) throw new UsageError('no COMMAND given');
    if (argv[0] !== '--' && cmd[0].startsWith('-')) throw new UsageError(`unknown option ${cmd[0]}`);
    if (!ctx.root) {
      process.stderr.write('vdpafs exec: no vdpafs mount given: pass --root MOUNTPOINT or set VDPAFS_ROOT\n');
      return EXIT_SETUP;
    }
    const mnt = fs.existsSync(ctx.root) ? fs.realpathSync(ctx.root) : ctx.root;
    const problem = await genlPreloadProblem(mnt);
    if (problem) {
      process.stderr.write(`vdpafs exec: ${problem}\n`);
      return EXIT_SETUP;
    }
    const child = spawn(cmd[0], cmd.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, VDPAFS_ROOT: mnt, PATH: binLast(process.env.PATH), ...genlPreloadEnv(mnt) },
    });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, forward);
    return new Promise<number>((resolve) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        process.stderr.write(`vdpafs exec: ${cmd[0]}: ${e.code === 'ENOENT' ? 'command not found' : e.message}\n`);
        resolve(e.code === 'ENOENT' ? 127 : 126);
      });
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
    });
  },
};
