/*
 * The control socket: how the CLIs reach a running kernel, as netlink and
 * syscalls reach a real one. One JSON object per line each way.
 *
 *   request  {"id": 1, "method": "genl", "params": {...}}
 *   reply    {"id": 1, "result": ...}            success
 *            {"id": 1, "errno": "ENODEV", "extack": "device not found"}
 *            {"id": 1, "event": ...}             streamed (monitor, dmesg -w)
 *            {"id": null, "errno": "EINVAL", ...} a line that was not a request
 *
 * Every request that parses gets exactly one reply (after any events); a
 * line that is not JSON, or not a request, gets an error reply with a null
 * id; a line longer than MAX_REQUEST_BYTES gets EMSGSIZE and is dropped.
 *
 * The socket lives outside the mount, keyed by the mount point's real path,
 * so `--root MOUNTPOINT` (or VDPAFS_ROOT) finds it. Anyone may connect, as
 * anyone may open a netlink socket: what a caller may do is decided per
 * request from its SO_PEERCRED.
 */
import { createHash } from 'node:crypto';
import { chmodSync, realpathSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import * as path from 'node:path';

export const RUN_DIR = process.env.VDPAFS_RUN_DIR ?? '/run/vdpafs';

/* The longest request line the daemon reads (a netlink message is at most 64 KiB; this leaves room). */
export const MAX_REQUEST_BYTES = 1 << 20;

/* The most frames one `vdpafs net send` may ask for, and the largest frame (an IP datagram, an Ethernet and a VLAN header). */
export const NET_SEND_MAX_COUNT = 65536;
export const NET_FRAME_MAX = 65535 + 18;

export interface Request {
  id: number;
  method: string;
  params?: unknown;
}

export interface Reply {
  id: number | null;
  result?: unknown;
  errno?: string;
  extack?: string;
  event?: unknown;
}

/*
 * /run/vdpafs/<hash>.{sock,pid,log}: one set per mount point; <hash>.genl.sock
 * is where the preload shim reaches the kernel's generic netlink.
 */
export function runPaths(mountpoint: string): { sock: string; genl: string; pid: string; log: string; dir: string } {
  let real: string;
  try {
    real = realpathSync(mountpoint);
  } catch {
    real = path.resolve(mountpoint);
  }
  const key = createHash('sha256').update(real).digest('hex').slice(0, 16);
  const base = path.join(RUN_DIR, key);
  return { sock: `${base}.sock`, genl: `${base}.genl.sock`, pid: `${base}.pid`, log: `${base}.log`, dir: RUN_DIR };
}

/*
 * Listen on a Unix socket at `path` that every user may connect to, as
 * anyone may open a netlink socket: what a caller may do is decided per
 * request from its credentials (SO_PEERCRED), not by the socket's mode. A
 * file left at `path` by a daemon that died is replaced.
 */
export function listenForAnyone(server: Server, path: string): Promise<void> {
  rmSync(path, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      chmodSync(path, 0o666);
      resolve();
    });
  });
}
