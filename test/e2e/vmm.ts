/*
 * What the tests with real vhost-vdpa clients (a C client, QEMU) share: a
 * census of the daemon's open files to show that a client left nothing
 * behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

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
