/*
 * The mount itself: ./mount.sh and ./mount.sh -u (stale mounts included),
 * a daemon killed with SIGKILL, --dev-nodes=char, two mounts at once, and
 * DEBUG=vdpafs:* tracing. Every mount is torn down even when a test fails.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupMountSh, explain, isMounted, Mount, mountKernel, runScript, runScriptAt, sh, waitFor } from './harness';

describe('./mount.sh on a real temporary mount point', () => {
  let mnt = '';
  afterEach(() => {
    if (mnt) cleanupMountSh(mnt);
    if (mnt && !isMounted(mnt)) fs.rmSync(mnt, { recursive: true, force: true });
  });

  it('mounts, refuses a second mount, -u unmounts and stops the daemon, --bare, and stale mounts are cleared by both forms', () => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-mountsh-'));
    const r = runScriptAt(mnt, 'mount_sh.sh');
    expect(r.status, explain(r)).toBe(0);
    expect(isMounted(mnt)).toBe(false);
  });
});

describe('a daemon killed with SIGKILL', () => {
  let m: Mount | undefined;
  afterEach(async () => {
    await m?.stop();
  });

  it('leaves a stale mount (ENOTCONN), which the harness detects and clears', async () => {
    m = await mountKernel();
    expect(isMounted(m.mnt)).toBe(true);
    m.daemon.kill('SIGKILL');
    const stale = () => {
      try {
        fs.statSync(m!.mnt);
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'ENOTCONN';
      }
    };
    expect(await waitFor(stale, 5000)).toBe(true);
    const mnt = m.mnt;
    await m.stop();
    m = undefined;
    expect(isMounted(mnt)).toBe(false);
  });
});

describe('--dev-nodes=char', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel({ devNodes: 'char' });
  });
  afterAll(async () => {
    await m?.stop();
  });

  it('/dev/vhost-vdpa-N stats as a character device whose rdev matches sysfs, and cannot be opened', () => {
    const r = runScript(m, 'devnodes_char.sh');
    expect(r.status, explain(r, m)).toBe(0);
  });
});

describe('two mounts at once', () => {
  let a: Mount;
  let b: Mount;
  beforeAll(async () => {
    [a, b] = await Promise.all([mountKernel(), mountKernel()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('are two independent kernels: bindings, modules, devices and bus settings do not cross', () => {
    const r = runScript(a, 'two_mounts.sh', { MNT2: b.mnt });
    expect(r.status, explain(r, a)).toBe(0);
  });
});

describe('DEBUG=vdpafs:*', () => {
  let traced: Mount;
  let quiet: Mount;
  beforeAll(async () => {
    [traced, quiet] = await Promise.all([mountKernel({ env: { DEBUG: 'vdpafs:*' } }), mountKernel({ env: { DEBUG: '' } })]);
  });
  afterAll(async () => {
    await Promise.all([traced?.stop(), quiet?.stop()]);
  });

  const unbindAndProbe = `
    set -e
    cat "$MNT/sys/devices/vdpa0/uevent" > /dev/null
    echo vdpa0 > "$MNT/sys/devices/vdpa0/driver/unbind"
    echo vdpa0 > "$MNT/sys/bus/vdpa/drivers_probe"
    vdpafs lsmod > /dev/null
  `;

  it('traces FUSE operations and kernel events in the daemon output', async () => {
    const r = sh(traced, unbindAndProbe);
    expect(r.status, explain(r, traced)).toBe(0);
    await new Promise((res) => setTimeout(res, 200));
    const log = traced.log();
    expect(log).toMatch(/vdpafs:fuse OPEN \/sys\/devices\/vdpa0\/uevent \(pid \d+ uid 0\)/);
    expect(log).toMatch(/vdpafs:fuse WRITE \/sys\/bus\/vdpa\/drivers\/vhost_vdpa\/unbind 6 bytes/);
    expect(log).toMatch(/vdpafs:uevent unbind \/devices\/vdpa0/);
    expect(log).toMatch(/vdpafs:uevent bind \/devices\/vdpa0/);
    expect(log).toMatch(/vdpafs:kmsg .*bound vdpa0 to vhost_vdpa|vdpafs:kmsg unbound vdpa0 from vhost_vdpa/);
    expect(log).toMatch(/vdpafs:control call lsmod/);
  });

  it('without DEBUG the daemon prints only its ready line', () => {
    const r = sh(quiet, unbindAndProbe);
    expect(r.status, explain(r, quiet)).toBe(0);
    expect(quiet.log().trim()).toBe(`ready ${quiet.mnt}`);
  });
});
