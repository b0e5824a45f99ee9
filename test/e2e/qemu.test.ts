/*
 * QEMU 7.2 (Debian's) boots a Linux guest whose NIC is vdpa_sim behind the
 * mount's /dev/vhost-vdpa-0, run inside `vdpafs shell` as a CI job would:
 *
 *   vdpafs shell -- qemu-system-x86_64 ... \
 *     -netdev vhost-vdpa,id=net0,vhostdev=/dev/vhost-vdpa-0 -device virtio-net-pci,netdev=net0,...
 *
 * The guest (test/guest/init) brings virtio_net up, sends broadcast frames,
 * sets its MAC through the control queue, sends frames to that MAC, prints
 * its counters and waits; the host reads vstats and config meanwhile, then
 * lets it power off. The steps below run in order against one boot.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, Mount, mountKernel, scriptEnv, waitFor } from './harness';
import { GuestImage, prepareGuest, qmpSocketPath, QemuRun, startQemu } from './qemu';
import { daemonFds, settle } from './vmm';

const COUNT = 5;
const QEMU_MAC = '52:54:00:12:34:56';
const GUEST_MAC = '02:00:00:00:00:01';
/* struct virtio_net_hdr_v1: vdpa_sim's byte counts include it, the guest's do not. */
const VNET_HDR = 12;

describe('QEMU boots a Linux guest on vdpa_sim through dev/vhost-vdpa-0', () => {
  let guest: GuestImage;
  let m: Mount;
  let run: QemuRun;
  let fdsBefore: string[];
  const vdpa = (...args: string[]): string => {
    const r = spawnSync(path.join(BIN, 'vdpa'), args, { env: scriptEnv(m), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vdpa ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const vstats = (qidx: number): Record<string, number | string> => JSON.parse(vdpa('-j', 'dev', 'vstats', 'show', 'vdpa0', 'qidx', String(qidx))).vstats.vdpa0;
  const config = (): Record<string, unknown> => JSON.parse(vdpa('-j', 'dev', 'config', 'show', 'vdpa0')).config.vdpa0;
  const node = (): string => path.join(m.mnt, 'dev/vhost-vdpa-0');

  beforeAll(async () => {
    guest = prepareGuest();
    m = await mountKernel();
    fdsBefore = daemonFds(m.daemon.pid!);
    run = startQemu(
      guest,
      { netdev: 'vhost-vdpa,id=net0,vhostdev=/dev/vhost-vdpa-0', qemuMac: QEMU_MAC, guestMac: GUEST_MAC, count: COUNT, waitSeconds: 300, qmpSocket: qmpSocketPath() },
      m.mnt,
    );
    await run.console.waitFor('VDPAFS-WAIT', 240_000, run.exited);
  }, 900_000);

  afterAll(async () => {
    await run?.stop();
    await m?.stop();
  });

  const why = (): string => `${run.console.transcript()}\n--- daemon\n${m.log()}`;

  it('virtio_net binds in the guest with status 0xf and link up, and reads the MAC QEMU wrote into the device', () => {
    const r = run.console.results;
    expect(r.get('virtio_status'), why()).toBe('0x0000000f');
    expect(r.get('virtio_driver'), why()).toBe('virtio_net');
    expect([r.get('operstate'), r.get('carrier')], why()).toEqual(['up', '1']);
    expect(r.get('mac_initial'), why()).toBe(QEMU_MAC);
  });

  it("frames the guest sends come back through vdpa_sim's loopback: broadcast, then unicast to the MAC it set through the control queue", () => {
    const c = run.console;
    expect([c.num('bcast_sent'), c.num('bcast_received'), c.num('bcast_intact')], why()).toEqual([COUNT, COUNT, COUNT]);
    expect(c.results.get('mac'), why()).toBe(GUEST_MAC);
    expect([c.num('ucast_sent'), c.num('ucast_received'), c.num('ucast_intact')], why()).toEqual([COUNT, COUNT, COUNT]);
  });

  it("the guest's RX and TX counters equal vdpa dev vstats (bytes plus the 12-byte header per frame); the control queue counted one MAC change", () => {
    const c = run.console;
    const rx = vstats(0);
    const tx = vstats(1);
    const cvq = vstats(2);
    expect(c.num('tx_packets'), why()).toBe(2 * COUNT);
    expect(c.num('rx_packets'), why()).toBe(2 * COUNT);
    expect({ packets: tx['tx packets'], bytes: tx['tx bytes'], errors: tx['tx errors'] }).toEqual({
      packets: c.num('tx_packets'),
      bytes: c.num('tx_bytes') + VNET_HDR * c.num('tx_packets'),
      errors: 0,
    });
    expect({ packets: rx['rx packets'], bytes: rx['rx bytes'], drops: rx['rx drops'], overruns: rx['rx overruns'] }).toEqual({
      packets: c.num('rx_packets'),
      bytes: c.num('rx_bytes') + VNET_HDR * c.num('rx_packets'),
      drops: 0,
      overruns: 0,
    });
    expect({ requests: cvq['cvq requests'], successes: cvq['cvq successes'], errors: cvq['cvq errors'] }).toEqual({
      requests: 1,
      successes: 1,
      errors: 0,
    });
  });

  it('the host sees the MAC the guest set, in vdpa dev config show', () => {
    expect(config().mac).toBe(GUEST_MAC);
  });

  it('the guest powers off: QEMU resets the device while it still holds the node', async () => {
    run.send('go-ahead');
    await run.console.waitFor('VDPAFS-POWEROFF', 60_000, run.exited);
    /* After a reset no features are negotiated: config show omits them. */
    const reset = await waitFor(() => config().negotiated_features === undefined, 20_000);
    expect(reset, `negotiated_features still shown: ${JSON.stringify(config())}\n${why()}`).toBe(true);
    expect(run.exited()).toBe(false);
    expect(() => fs.closeSync(fs.openSync(node(), 'r+'))).toThrow(/EBUSY/);
  });

  it('once QEMU exits the node reopens at once, and the daemon holds no more files than before (eventfds, memory)', async () => {
    expect(await run.quit()).toBe(0);
    /* vdpafs shell returns once its namespace's files are released: the very first open succeeds. */
    expect(() => fs.closeSync(fs.openSync(node(), 'r+'))).not.toThrow();
    expect(await settle(() => daemonFds(m.daemon.pid!), fdsBefore)).toEqual(fdsBefore);
  });
});
