/*
 * What both CLIs share: finding the kernel (--root MOUNTPOINT or
 * $VDPAFS_ROOT), connecting to its control socket, and running as a
 * command (exit status, output through pipes, one-line errors).
 */
import { ControlClient, ControlError, resolveRoot } from '../control/client';
import { isErrno, strerror } from '../kernel/errno';

export class UsageError extends Error {}

/* Take `--root X` / `--root=X` out of argv (anywhere before the command's own args). */
export function takeRootOption(argv: string[]): { root: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--root') {
      if (i + 1 >= argv.length) throw new UsageError('--root needs a MOUNTPOINT');
      root = argv[++i];
    } else if (a.startsWith('--root=')) root = a.slice('--root='.length);
    else rest.push(a);
  }
  return { root: resolveRoot(root), rest };
}

/* Connect, or explain in one line how to point the CLI at a mount. */
export async function connectKernel(prog: string, root: string | undefined): Promise<ControlClient | null> {
  if (!root) {
    process.stderr.write(`${prog}: no vdpafs mount given: pass --root MOUNTPOINT or set VDPAFS_ROOT\n`);
    return null;
  }
  try {
    return await ControlClient.connect(root);
  } catch {
    process.stderr.write(`${prog}: no vdpafs kernel is running at ${root} (start one with ./mount.sh ${root})\n`);
    return null;
  }
}

/* One line for an error nobody caught: the kernel's strerror for a ControlError, the message otherwise. */
export function describeError(e: unknown): string {
  if (e instanceof ControlError) {
    const text = isErrno(e.errno) ? strerror(e.errno) : e.errno;
    return e.extack && e.extack !== e.errno ? `${text} (${e.extack})` : text;
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && isErrno(code) && (e as NodeJS.ErrnoException).path) {
    return `${(e as NodeJS.ErrnoException).path}: ${strerror(code)}`;
  }
  return String((e as Error)?.message ?? e);
}

/*
 * Exit once everything written has left: to a pipe, process.stdout is
 * asynchronous, and process.exit() with writes still queued drops them
 * (`vdpa dev show | wc -l` lost lines). An empty write's callback runs
 * after every write queued before it.
 */
function exitWhenFlushed(code: number): void {
  let left = 2;
  const done = () => {
    if (--left === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

/*
 * The body of bin/vdpa and bin/vdpafs: run `main`, exit with its status
 * after the output drained. A reader that went away (`| head -1`) ends us
 * as SIGPIPE would (status 141), silently; an error nobody caught is one
 * line (its stack only with DEBUG set), never a trace.
 */
export function runCli(prog: string, main: (argv: string[]) => Promise<number>): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 141 : 1));
  }
  main(process.argv.slice(2)).then(exitWhenFlushed, (e: unknown) => {
    process.stderr.write(`${prog}: ${describeError(e)}\n`);
    if (process.env.DEBUG) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    exitWhenFlushed(1);
  });
}
