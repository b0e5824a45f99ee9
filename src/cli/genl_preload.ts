/*
 * The environment that puts a program's generic netlink in front of a
 * vdpafs kernel: the preload shim (dist/libvdpafs_genl.so, built by
 * scripts/setup.sh from src/shim/) and the daemon's socket it talks to.
 * `vdpafs exec` and `vdpafs shell` set it.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { runPaths } from '../control/protocol';

const GENL_SHIM = path.resolve(__dirname, '../libvdpafs_genl.so');

/* LD_PRELOAD and VDPAFS_GENL_SOCKET for the kernel mounted at `mnt` (ours first in LD_PRELOAD). */
export function genlPreloadEnv(mnt: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const others = (env.LD_PRELOAD ?? '').split(/[: ]/).filter((p) => p && p !== GENL_SHIM);
  return {
    LD_PRELOAD: [GENL_SHIM, ...others].join(':'),
    VDPAFS_GENL_SOCKET: runPaths(mnt).genl,
  };
}

/* Why the shim cannot be used for `mnt`, in one line, or null if it can. */
export async function genlPreloadProblem(mnt: string): Promise<string | null> {
  if (!fs.existsSync(GENL_SHIM)) return `the generic netlink shim ${GENL_SHIM} is not built (run scripts/setup.sh)`;
  const sock = runPaths(mnt).genl;
  const reachable = await new Promise<boolean>((resolve) => {
    const s = net.createConnection(sock);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  return reachable ? null : `no vdpafs generic netlink at ${sock}: is a vdpafs kernel mounted at ${mnt}?`;
}
