/*
 * vdpafs monitor: `udevadm monitor --kernel [--property]` for the simulated
 * kernel's uevents. Lines look like udevadm's:
 *
 *   KERNEL[12.345678] add      /devices/vdpa0 (vdpa)
 *
 * with the time since boot (udevadm prints CLOCK_MONOTONIC) and, with
 * --property, every variable the kernel sent, then a blank line.
 */
import { connectKernel, UsageError } from './common';
import type { Command } from './vdpafs';
import type { Uevent } from '../kernel/uevent';

const usage = `Usage: vdpafs monitor [--property] [--kernel] [--subsystem-match=SUBSYSTEM]

Print the kernel's uevents as they happen (udevadm monitor --kernel).
  -p, --property                 print every variable of each event
  -k, --kernel                   accepted (only kernel events exist here)
  -s, --subsystem-match=SUBSYSTEM[/DEVTYPE]
                                 only events of this subsystem (and devtype);
                                 may be given more than once
Stops on Ctrl-C, or when the kernel goes away.
`;

export function formatUevent(e: Uevent, property: boolean): string {
  const get = (k: string) => e.env.find(([n]) => n === k)?.[1] ?? '';
  const sec = Math.floor(e.usec / 1e6);
  const usec = String(e.usec % 1e6).padStart(6, '0');
  let out = `${'KERNEL'.padEnd(6)}[${sec}.${usec}] ${get('ACTION').padEnd(8)} ${get('DEVPATH')} (${get('SUBSYSTEM')})\n`;
  if (property) out += e.env.map(([k, v]) => `${k}=${v}\n`).join('') + '\n';
  return out;
}

/* udevadm's -s SUBSYSTEM[/DEVTYPE]: the devtype part must match too when given. */
function subsystemMatches(e: Uevent, match: string): boolean {
  const get = (key: string) => e.env.find(([k]) => k === key)?.[1];
  const [subsystem, devtype] = match.split('/', 2);
  if (get('SUBSYSTEM') !== subsystem) return false;
  return devtype === undefined || get('DEVTYPE') === devtype;
}

export const command: Command = {
  name: 'monitor',
  summary: 'print uevents as they happen (udevadm monitor --kernel)',
  usage,
  async run(argv, ctx) {
    let property = false;
    const subsystems: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a === '-p' || a === '--property') property = true;
      else if (a === '-k' || a === '--kernel') continue;
      else if (a === '-s' || a === '--subsystem-match') {
        const v = argv[++i];
        if (v === undefined || v === '') throw new UsageError(`${a} needs a SUBSYSTEM`);
        subsystems.push(v);
      } else if (a.startsWith('--subsystem-match=')) {
        const v = a.slice('--subsystem-match='.length);
        if (!v) throw new UsageError('--subsystem-match needs a SUBSYSTEM');
        subsystems.push(v);
      }
      else throw new UsageError(`unknown option ${a}`);
    }
    const client = await connectKernel('monitor', ctx.root);
    if (!client) return 1;
    const stop = () => client.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await client
      .call('monitor', {}, (ev) => {
        const e = ev as Uevent & { subscribed?: boolean };
        if (e.subscribed) {
          process.stdout.write('monitor will print the received events for:\nKERNEL - the kernel uevent\n\n');
          return;
        }
        if (subsystems.length && !subsystems.some((m) => subsystemMatches(e, m))) return;
        process.stdout.write(formatUevent(e, property));
      })
      .catch(() => undefined);
    return 0;
  },
};
