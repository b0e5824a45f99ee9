/*
 * What both CLIs share: finding the kernel (--root MOUNTPOINT or
 * $VDPAFS_ROOT) and connecting to its control socket.
 */
import { ControlClient, resolveRoot } from '../control/client';

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
