/*
 * vdpafs rmmod: kmod's rmmod. Refuses (exit 1) a module that is not loaded,
 * is used by another module, or is pinned (an open /dev/vhost-vdpa-N pins
 * vhost_vdpa), with kmod's messages.
 */
import { ControlError } from '../control/client';
import { connectKernel, describeError, UsageError } from './common';
import type { Command } from './vdpafs';

const usage = `Usage: vdpafs rmmod [-v] MODULE...

Unload each MODULE. Fails while another module or an open file uses it.
  -v, --verbose  print each module as it is removed
`;

export const command: Command = {
  name: 'rmmod',
  summary: 'unload modules',
  usage,
  async run(argv, ctx) {
    let verbose = false;
    const names: string[] = [];
    for (const a of argv) {
      if (a === '-v' || a === '--verbose') verbose = true;
      else if (a === '-f' || a === '--force') throw new UsageError('forced removal is not supported');
      else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
      else names.push(a);
    }
    if (!names.length) throw new UsageError('missing module name');
    const client = await connectKernel('rmmod', ctx.root);
    if (!client) return 1;
    let status = 0;
    try {
      for (const name of names) {
        try {
          await client.call('rmmod', { name });
          if (verbose) process.stdout.write(`rmmod ${name}\n`);
        } catch (e) {
          if (!(e instanceof ControlError)) throw e;
          /* The kernel's message is kmod's: "Module X is in use by: Y Z"; otherwise kmod's own. */
          if (e.extack) process.stderr.write(`rmmod: ERROR: ${e.extack}\n`);
          else process.stderr.write(`rmmod: ERROR: could not remove module ${name}: ${describeError(e)}\n`);
          status = 1;
        }
      }
    } finally {
      client.close();
    }
    return status;
  },
};
