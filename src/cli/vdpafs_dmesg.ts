/*
 * vdpafs dmesg: util-linux dmesg over the simulated kernel's log buffer.
 * "[    1.234567] text" lines; -w follows, -l filters by level, -x
 * decodes facility and level ("kern  :err   : ...").
 */
import { connectKernel, UsageError } from './common';
import type { Command } from './vdpafs';
import { LOG_LEVELS, LogLevel, LogRecord } from '../kernel/printk';

const usage = `Usage: vdpafs dmesg [-w] [-l LEVEL[,LEVEL...]] [-x]

Print the simulated kernel's messages (dmesg).
  -w, --follow          wait for new messages
  -l, --level LIST      only these levels (emerg,alert,crit,err,warn,notice,info,debug)
  -x, --decode          print facility and level
`;

export function formatRecord(r: LogRecord, decode: boolean): string {
  const sec = Math.floor(r.usec / 1e6);
  const usec = String(r.usec % 1e6).padStart(6, '0');
  const prefix = decode ? `${'kern'.padEnd(6)}:${r.level.padEnd(6)}: ` : '';
  return `${prefix}[${String(sec).padStart(5)}.${usec}] ${r.text}\n`;
}

export const command: Command = {
  name: 'dmesg',
  summary: 'print the kernel log (dmesg)',
  usage,
  async run(argv, ctx) {
    let follow = false;
    let decode = false;
    let levels: LogLevel[] | null = null;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a === '-w' || a === '--follow') follow = true;
      else if (a === '-x' || a === '--decode') decode = true;
      else if (a === '-l' || a === '--level' || a.startsWith('--level=')) {
        const list = a.startsWith('--level=') ? a.slice(8) : argv[++i];
        if (!list) throw new UsageError('--level needs a list');
        levels = list.split(',') as LogLevel[];
        for (const l of levels) if (!LOG_LEVELS.includes(l)) throw new UsageError(`unknown level '${l}'`);
      } else throw new UsageError(`unknown option ${a}`);
    }
    const show = (r: LogRecord) => {
      if (!levels || levels.includes(r.level)) process.stdout.write(formatRecord(r, decode));
    };
    const client = await connectKernel('dmesg', ctx.root);
    if (!client) return 1;
    if (!follow) {
      try {
        for (const r of await client.call<LogRecord[]>('dmesg', {})) show(r);
        return 0;
      } finally {
        client.close();
      }
    }
    const stop = () => client.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await client.call('dmesg', { follow: true }, (r) => show(r as LogRecord)).catch(() => undefined);
    return 0;
  },
};
