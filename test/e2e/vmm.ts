/*
 * What the tests with real vhost-vdpa clients (a C client, QEMU) share:
 * whether the mount can carry their ioctls at all, and a census of the
 * daemon's open files to show that a client left nothing behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './harness';

/*
 * A VMM drives /dev/vhost-vdpa-N with ioctls, IOTLB writes, eventfds and
 * its own memory. That needs two things of the daemon: a FUSE transport
 * that carries ioctls (fuse-native cannot: every ioctl fails ENOTTY), and
 * the node's open file connected to the model's VhostVdpaFile. The first is
 * seen in the source; the second is switched on here by hand when it lands,
 * so that a node that stops answering makes these tests fail, not skip.
 */
const VHOST_NODE_WIRED = false;
const SERVED_BY_FUSE_NATIVE = /from 'fuse-native'/.test(fs.readFileSync(path.join(ROOT, 'src/daemon.ts'), 'utf8'));
export const NODE_TAKES_IOCTLS = VHOST_NODE_WIRED && !SERVED_BY_FUSE_NATIVE;
export const NO_IOCTLS_REASON = SERVED_BY_FUSE_NATIVE
  ? 'the daemon is served by fuse-native, which cannot carry ioctls'
  : "the node's ioctls are not connected to VhostVdpaFile yet (VHOST_NODE_WIRED in test/e2e/vmm.ts)";

/*
 * The daemon's open files by kind: what /proc/PID/fd/N links to, with
 * numbers that vary taken out (/proc/123/mem -> /proc/N/mem,
 * socket:[4711] -> socket). Sorted, so two censuses compare with toEqual.
 */
export function daemonFds(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of fs.readdirSync(dir)) {
    let target: string;
    try {
      target = fs.readlinkSync(path.join(dir, fd));
    } catch {
      continue; /* closed while we looked */
    }
    out.push(target.replace(/^\/proc\/\d+\//, '/proc/N/').replace(/^(socket|pipe):\[\d+\]$/, '$1'));
  }
  return out.sort();
}

/* Poll until `read()` equals `want` (up to ms); the last reading either way. */
export async function settle(read: () => string[], want: string[], ms = 5000): Promise<string[]> {
  let got = read();
  for (const end = Date.now() + ms; Date.now() < end && JSON.stringify(got) !== JSON.stringify(want); ) {
    await new Promise((r) => setTimeout(r, 100));
    got = read();
  }
  return got;
}
