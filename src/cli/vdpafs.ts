/*
 * vdpafs: the simulated host's own tools. Each command is a file
 * `vdpafs_<name>.ts` exporting `command`; this file only dispatches.
 */
import { takeRootOption, UsageError } from './common';

export interface CommandContext {
  prog: string;
  root: string | undefined;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], ctx: CommandContext): Promise<number>;
}

const COMMANDS = ['modprobe', 'rmmod', 'lsmod', 'dmesg', 'monitor', 'shell', 'exec', 'net'];

function load(name: string): Command | null {
  try {
    return (require(`./vdpafs_${name}`) as { command: Command }).command;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return null;
    throw e;
  }
}

function help(): string {
  const lines = [
    'Usage: vdpafs [--root MOUNTPOINT] COMMAND [ARGS...]',
    '',
    'Tools of the simulated host behind a vdpafs mount (the mount point comes',
    'from --root or $VDPAFS_ROOT).',
    '',
    'Commands:',
  ];
  for (const name of COMMANDS) {
    const c = load(name);
    if (c) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  }
  lines.push('', "Run 'vdpafs COMMAND --help' for a command's options.", '');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let root: string | undefined;
  let rest: string[];
  try {
    ({ root, rest } = takeRootOption(argv));
  } catch (e) {
    process.stderr.write(`vdpafs: ${(e as Error).message}\n`);
    return 2;
  }
  const [name, ...args] = rest;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.includes(name) ? load(name) : null;
  if (!cmd) {
    process.stderr.write(`vdpafs: unknown command '${name}'\n${help()}`);
    return 2;
  }
  /* Arguments after `--` belong to the command a subcommand runs (vdpafs shell -- ls -h). */
  const own = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  if (own.includes('--help') || own.includes('-h')) {
    process.stdout.write(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(args, { prog: `vdpafs ${name}`, root });
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`vdpafs ${name}: ${e.message}\n${cmd.usage}`);
      return 2;
    }
    throw e;
  }
}
