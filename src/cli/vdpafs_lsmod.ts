/*
 * vdpafs lsmod: kmod's lsmod, newest module first, "Used by" holders
 * comma-separated.
 */
import { connectKernel, UsageError } from './common';
import type { Command } from './vdpafs';

export interface LsmodEntry {
  name: string;
  size: number;
  refcnt: number;
  holders: string[];
}

export function formatLsmod(mods: LsmodEntry[]): string {
  let out = 'Module                  Size  Used by\n';
  for (const m of mods) {
    out += `${m.name.padEnd(19)} ${String(m.size).padStart(8)}  ${m.refcnt}`;
    if (m.holders.length) out += ' ' + m.holders.join(',');
    out += '\n';
  }
  return out;
}

export const command: Command = {
  name: 'lsmod',
  summary: 'list loaded modules',
  usage: 'Usage: vdpafs lsmod\n\nList the loaded modules as lsmod does.\n',
  async run(argv, ctx) {
    if (argv.length) throw new UsageError(`unexpected argument ${argv[0]}`);
    const client = await connectKernel('lsmod', ctx.root);
    if (!client) return 1;
    try {
      process.stdout.write(formatLsmod(await client.call<LsmodEntry[]>('lsmod')));
      return 0;
    } finally {
      client.close();
    }
  },
};
