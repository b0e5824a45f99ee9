/*
 * The daemon runs as root and serves every user: nothing may turn it into
 * a way to run code. Node has three doors to close:
 *
 *  - SIGUSR1 starts the inspector (a debugger on 127.0.0.1:9229 that takes
 *    any local connection and evaluates what it is sent) unless the process
 *    handles the signal itself; so it does, and ignores it.
 *  - --inspect* on the command line, or in NODE_OPTIONS, opens it at start;
 *    NODE_OPTIONS can also --require or --import arbitrary code. A daemon
 *    started so refuses to run (mount.sh and the tests' harness start it
 *    with a clean environment, so this only stops a tampered start).
 *  - An inspector already open by any other way is closed.
 *
 * And nothing the daemon spawns inherits NODE_OPTIONS.
 */
import * as inspector from 'node:inspector';

/* Flags that open the inspector or load code before the daemon's own. */
const UNSAFE_NODE_FLAG = /^(--inspect|--debug|--require|--import|--experimental-loader|--loader|--experimental-policy|--eval|--print|-[rep]$)/;

function unsafeFlags(args: readonly string[]): string[] {
  return args.filter((a) => UNSAFE_NODE_FLAG.test(a));
}

export function guardProcess(prog: string): void {
  process.on('SIGUSR1', () => process.stderr.write(`${prog}: SIGUSR1 ignored (no inspector in this daemon)\n`));

  const fromEnv = (process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  const unsafe = [...unsafeFlags(process.execArgv), ...unsafeFlags(fromEnv)];
  if (unsafe.length) {
    process.stderr.write(`${prog}: refusing to run with ${unsafe.join(' ')}: the daemon runs as root and takes no debugger or preloaded code\n`);
    process.exit(1);
  }
  delete process.env.NODE_OPTIONS;

  if (inspector.url() !== undefined) inspector.close();
}
