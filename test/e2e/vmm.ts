/*
 * What the tests with real vhost-vdpa clients (a C client, QEMU) share:
 * whether the mount can carry their ioctls at all, and a census of the
 * daemon's open files to show that a client left nothing behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './harness';

/*
 * A VMM drives /dev/vhost-vdpa-N with ioctls, eventfds and its own memory.
 * fuse-native has no ioctl (every one fails ENOTTY), so while the daemon is
 * served by it these tests are skipped, saying why; once vdpafs's own FUSE
 * server replaces it, they run.
 */
export const NODE_TAKES_IOCTLS = !/from 'fuse-native'/.test(fs.readFileSync(path.join(ROOT, 'src/daemon.ts'), 'utf8'));
export const NO_IOCTLS_REASON = 'the daemon is served by fuse-native, which cannot carry ioctls';

/*
 * The daemon's open files by kind: what /proc/PID/fd/N links to, with
 * numbers that vary taken out (/proc/123/mem -> /proc/N/mem,
 * socket:[4711] -> socket:). Sorted, so two censuses compare with toEqual.
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
