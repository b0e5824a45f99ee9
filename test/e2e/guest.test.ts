/*
 * The QEMU test's guest on its own, with no vdpafs: scripts/guest.sh makes
 * it from Debian packages (cached in /var/cache/vdpafs), and it boots under
 * TCG on an ordinary virtio-net NIC whose backend is a UDP socket sending to
 * itself, so every frame comes back as vdpa_sim's loopback would return it.
 * This is the same kernel, init, command line and console protocol the
 * vhost-vdpa test uses (qemu.test.ts), minus the device.
 */
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, waitFor } from './harness';
import { GuestImage, parseGuestEnv, prepareGuest, qmpSocketPath, QemuRun, startQemu } from './qemu';

const COUNT = 4;
const QEMU_MAC = '52:54:00:12:34:56';
const GUEST_MAC = '02:00:00:00:00:01';

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("the QEMU test's guest on an ordinary NIC", () => {
  let guest: GuestImage;
  let run: QemuRun | undefined;

  beforeAll(() => {
    guest = prepareGuest();
  }, 900_000);
  afterAll(async () => {
    await run?.stop();
  });

  it('scripts/guest.sh is idempotent: a second run uses the cache, says nothing and prints the same guest', () => {
    const r = spawnSync('bash', [path.join(ROOT, 'scripts/guest.sh')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(parseGuestEnv(r.stdout)).toEqual(guest);
    /* Cached outside the checkout: a fresh clone reuses it. */
    expect(guest.kernel.startsWith(ROOT) || guest.initrd.startsWith(ROOT)).toBe(false);
  });

  it("scripts/guest.sh fails with one line naming the cause when it must download and apt cannot reach Debian's archive", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-guest-'));
    try {
      /* An apt that fails as it does offline; an empty cache, so the kernel must be downloaded. */
      fs.mkdirSync(path.join(dir, 'bin'));
      const offline = `#!/bin/sh\necho "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'" >&2\nexit 100\n`;
      for (const tool of ['apt-get', 'apt-cache']) fs.writeFileSync(path.join(dir, 'bin', tool), offline, { mode: 0o755 });
      const r = spawnSync('bash', [path.join(ROOT, 'scripts/guest.sh')], {
        encoding: 'utf8',
        env: { ...process.env, VDPAFS_CACHE: path.join(dir, 'cache'), PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` },
      });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      const last = r.stderr.trim().split('\n').pop();
      expect(last).toMatch(/^guest: cannot reach Debian's package archive \(apt-get update failed: .*Temporary failure resolving 'deb\.debian\.org'\)/);
      expect(fs.existsSync(path.join(dir, 'cache/kernel'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('boots under TCG, loads the virtio modules, sends frames that come back, counts them, waits for the go-ahead and powers off', async () => {
    const port = await freeUdpPort();
    run = startQemu(guest, {
      netdev: `dgram,id=net0,local.type=inet,local.host=127.0.0.1,local.port=${port},remote.type=inet,remote.host=127.0.0.1,remote.port=${port}`,
      qemuMac: QEMU_MAC,
      guestMac: GUEST_MAC,
      count: COUNT,
      waitSeconds: 60,
      qmpSocket: qmpSocketPath(),
    });
    const con = run.console;
    await con.waitFor('VDPAFS-WAIT', 90_000, run.exited);
    const r = con.results;
    const why = con.transcript();
    /* insmod of a module before its dependencies fails (unknown symbols): all loaded means the order held. */
    expect(r.get('modules')?.split(',').sort(), why).toEqual([...guest.modules].sort());
    expect(r.get('virtio_status'), why).toBe('0x0000000f');
    expect(r.get('virtio_driver'), why).toBe('virtio_net');
    expect(r.get('mac_initial'), why).toBe(QEMU_MAC);
    expect([r.get('operstate'), r.get('carrier')], why).toEqual(['up', '1']);
    expect([con.num('bcast_received'), con.num('bcast_intact')], why).toEqual([COUNT, COUNT]);
    expect(r.get('mac'), why).toBe(GUEST_MAC);
    expect([con.num('ucast_received'), con.num('ucast_intact')], why).toEqual([COUNT, COUNT]);
    /* Quiet guest: the counters are the test's frames (100 bytes each) and nothing else. */
    expect([con.num('tx_packets'), con.num('rx_packets')], why).toEqual([2 * COUNT, 2 * COUNT]);
    expect([con.num('tx_bytes'), con.num('rx_bytes')], why).toEqual([200 * COUNT, 200 * COUNT]);

    run.send('go-ahead');
    await con.waitFor('VDPAFS-POWEROFF', 30_000, run.exited);
    expect(r.get('go'), why).toBe('go-ahead');
    /* -no-shutdown: QEMU stays after the guest's poweroff (the kernel's last words) until told to quit. */
    expect(await waitFor(() => con.transcript().includes('reboot: Power down'), 10_000), con.transcript()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(run.exited()).toBe(false);
    expect(await run.quit()).toBe(0);
  }, 150_000);
});
