/*
 * vdpafs modprobe: kmod's modprobe against the simulated kernel. Every NAME
 * is a module (as with `modprobe -a`); '-' and '_' are the same. With -r,
 * remove each and then its dependencies that nothing else uses.
 */
import { ControlError } from '../control/client';
import { KERNEL_RELEASE } from '../kernel/kernel';
import { connectKernel, describeError, UsageError } from './common';
import type { Command } from './vdpafs';

const usage = `Usage: vdpafs modprobe [-r] [-v] [-q] [-a] MODULE...

Load each MODULE and the modules it depends on (like modprobe -a).
  -r, --remove   remove the modules, then their unused dependencies
  -v, --verbose  print the insmod/rmmod steps
  -q, --quiet    do not print an error for a module that is not found
  -a, --all      accepted; every argument is a module name anyway
`;

export const command: Command = {
  name: 'modprobe',
  summary: 'load modules with their dependencies (-r to remove)',
  usage,
  async run(argv, ctx) {
    let remove = false;
    let verbose = false;
    let quiet = false;
    const names: string[] = [];
    for (const a of argv) {
      if (a === '-r' || a === '--remove') remove = true;
      else if (a === '-v' || a === '--verbose') verbose = true;
      else if (a === '-q' || a === '--quiet') quiet = true;
      else if (a === '-a' || a === '--all') continue;
      else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
      else names.push(a);
    }
    if (!names.length) throw new UsageError('missing module name');
    const client = await connectKernel('modprobe', ctx.root);
    if (!client) return 1;
    try {
      for (const name of names) {
        const info = await client.call<{ name: string; known: boolean; depends: string[] }>('modinfo', { name });
        if (!info.known) {
          if (!quiet) process.stderr.write(`modprobe: FATAL: Module ${info.name} not found in directory /lib/modules/${KERNEL_RELEASE}\n`);
          return 1;
        }
        if (!remove) {
          /* kmod loads nothing (and needs no privilege) when the module and its dependencies are in already. */
          const present = new Set((await client.call<Array<{ name: string }>>('lsmod')).map((m) => m.name));
          if ([...info.depends, info.name].every((m) => present.has(m))) continue;
          let loaded: string[];
          try {
            ({ loaded } = await client.call<{ loaded: string[] }>('modprobe', { name }));
          } catch (e) {
            if (!(e instanceof ControlError)) throw e;
            /* kmod: what finit_module() said. */
            process.stderr.write(`modprobe: ERROR: could not insert '${info.name}': ${describeError(e)}\n`);
            return 1;
          }
          if (verbose) for (const m of loaded) process.stdout.write(`insmod /lib/modules/${KERNEL_RELEASE}/kernel/${m}.ko\n`);
          continue;
        }
        if (!(await removeWithDeps(client, info, verbose))) return 1;
      }
      return 0;
    } finally {
      client.close();
    }
  },
};

type Client = NonNullable<Awaited<ReturnType<typeof connectKernel>>>;

/* modprobe -r: the module must go; dependencies go only if nobody uses them. */
async function removeWithDeps(client: Client, info: { name: string; depends: string[] }, verbose: boolean): Promise<boolean> {
  const lsmod = await client.call<Array<{ name: string }>>('lsmod');
  if (!lsmod.some((m) => m.name === info.name)) return true;
  try {
    await client.call('rmmod', { name: info.name });
    if (verbose) process.stdout.write(`rmmod ${info.name}\n`);
  } catch (e) {
    if (e instanceof ControlError && e.errno === 'EBUSY') {
      process.stderr.write(`modprobe: FATAL: Module ${info.name} is in use.\n`);
      return false;
    }
    if (!(e instanceof ControlError)) throw e;
    process.stderr.write(`modprobe: ERROR: could not remove '${info.name}': ${describeError(e)}\n`);
    return false;
  }
  for (const dep of [...info.depends].reverse()) {
    try {
      await client.call('rmmod', { name: dep });
      if (verbose) process.stdout.write(`rmmod ${dep}\n`);
    } catch (e) {
      if (!(e instanceof ControlError)) throw e;
    }
  }
  return true;
}
