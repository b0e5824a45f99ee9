/*
 * Uevents of the virtio half, in the kernel's order and with the kernel's
 * variables: modules after their init, the bus on bus_register(), a
 * driver's kobject after the binds its registration made, a device's bind
 * after its add, class devices with
 * their class's variables, the disk held back until its bdi is there, and
 * MODALIAS zapped from unbind events.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { parseSynthUevent } from '../../src/kernel/uevent';
import { errnoOf, sysfsRead, sysfsWrite } from './sysfs_io';

/* Record events from now on, as "ACTION DEVPATH (SUBSYSTEM) VAR=... " lines without SEQNUM. */
function record(k: Kernel): { lines: string[]; seqnums: number[] } {
  const out = { lines: [] as string[], seqnums: [] as number[] };
  k.uevents.subscribe((e) => {
    const get = (key: string) => e.env.find(([n]) => n === key)![1];
    const extra = e.env.filter(([n]) => !['ACTION', 'DEVPATH', 'SUBSYSTEM', 'SEQNUM'].includes(n)).map(([n, v]) => `${n}=${v}`);
    out.lines.push([`${get('ACTION')} ${get('DEVPATH')} (${get('SUBSYSTEM')})`, ...extra].join(' '));
    out.seqnums.push(Number(get('SEQNUM')));
  });
  return out;
}

const MODALIAS = 'MODALIAS=virtio:d00000001v00000000';

describe('the classic workflow, virtio half', () => {
  it('override, modprobe virtio_vdpa, unbind, drivers_probe, modprobe virtio_net, vdpa dev del', () => {
    const k = bootKernel();
    const start = k.uevents.seqnum;
    const ev = record(k);
    sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'virtio_vdpa\n');
    k.modules.modprobe('virtio_vdpa');
    sysfsWrite(k, '/sys/bus/vdpa/devices/vdpa0/driver/unbind', 'vdpa0\n');
    sysfsWrite(k, '/sys/bus/vdpa/drivers_probe', 'vdpa0\n');
    k.modules.modprobe('virtio_net');
    vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]);
    expect(ev.lines).toEqual([
      'add /module/virtio_ring (module)',
      'add /bus/virtio (bus)',
      'add /module/virtio (module)',
      'add /bus/vdpa/drivers/virtio_vdpa (drivers)',
      'add /module/virtio_vdpa (module)',
      'unbind /devices/vdpa0 (vdpa)',
      `add /devices/vdpa0/virtio0 (virtio) ${MODALIAS}`,
      'bind /devices/vdpa0 (vdpa) DRIVER=virtio_vdpa',
      'add /module/failover (module)',
      'add /module/net_failover (module)',
      'add /devices/vdpa0/virtio0/net/eth0 (net) INTERFACE=eth0 IFINDEX=2',
      'add /devices/vdpa0/virtio0/net/eth0/queues/rx-0 (queues)',
      'add /devices/vdpa0/virtio0/net/eth0/queues/tx-0 (queues)',
      `bind /devices/vdpa0/virtio0 (virtio) DRIVER=virtio_net ${MODALIAS}`,
      'add /bus/virtio/drivers/virtio_net (drivers)',
      'add /module/virtio_net (module)',
      'remove /devices/vdpa0/virtio0/net/eth0/queues/rx-0 (queues)',
      'remove /devices/vdpa0/virtio0/net/eth0/queues/tx-0 (queues)',
      'remove /devices/vdpa0/virtio0/net/eth0 (net) INTERFACE=eth0 IFINDEX=2',
      'unbind /devices/vdpa0/virtio0 (virtio)',
      `remove /devices/vdpa0/virtio0 (virtio) ${MODALIAS}`,
      'unbind /devices/vdpa0 (vdpa)',
      'remove /devices/vdpa0 (vdpa)',
    ]);
    expect(ev.seqnums).toEqual(ev.seqnums.map((_, i) => start + 1 + i));
    expect(sysfsRead(k, '/sys/kernel/uevent_seqnum')).toBe(`${start + ev.lines.length}\n`);
  });

  it('virtio_blk: the bdi, then the disk (held back until then), then the bind', () => {
    const k = bootKernel({ bare: true });
    for (const m of ['vdpa', 'vdpa_sim_blk', 'virtio_vdpa', 'virtio_blk']) k.modules.modprobe(m);
    const ev = record(k);
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa1'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_blk'],
    ]);
    k.modules.rmmod('virtio_blk');
    expect(ev.lines).toEqual([
      'add /devices/vdpa1 (vdpa)',
      'add /devices/vdpa1/virtio0 (virtio) MODALIAS=virtio:d00000002v00000000',
      'add /devices/virtual/bdi/254:0 (bdi)',
      'add /devices/vdpa1/virtio0/block/vda (block) MAJOR=254 MINOR=0 DEVNAME=vda DEVTYPE=disk DISKSEQ=1',
      'bind /devices/vdpa1/virtio0 (virtio) DRIVER=virtio_blk MODALIAS=virtio:d00000002v00000000',
      'bind /devices/vdpa1 (vdpa) DRIVER=virtio_vdpa',
      'remove /devices/virtual/bdi/254:0 (bdi)',
      'remove /devices/vdpa1/virtio0/block/vda (block) MAJOR=254 MINOR=0 DEVNAME=vda DEVTYPE=disk DISKSEQ=1',
      'unbind /devices/vdpa1/virtio0 (virtio)',
      'remove /bus/virtio/drivers/virtio_blk (drivers)',
      'remove /module/virtio_blk (module)',
    ]);
  });

  it('no event for a device with neither bus nor class (vhost-vdpa-N, the mgmtdev)', () => {
    const k = bootKernel({ bare: true });
    const ev = record(k);
    k.modules.modprobe('vdpa_sim_net');
    k.modules.modprobe('vhost_vdpa');
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
    ]);
    expect(ev.lines.filter((l) => l.includes('vhost-vdpa') || l.includes('vdpasim'))).toEqual([]);
    expect(ev.lines.slice(-2)).toEqual(['add /devices/vdpa0 (vdpa)', 'bind /devices/vdpa0 (vdpa) DRIVER=vhost_vdpa']);
  });
});

describe('synthetic uevents (writing to a uevent file)', () => {
  it('"add" and "change" on a device resend its variables with SYNTH_UUID=0', () => {
    const k = bootKernel();
    k.modules.modprobe('virtio_vdpa');
    sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'virtio_vdpa\n');
    sysfsWrite(k, '/sys/devices/vdpa0/driver/unbind', 'vdpa0');
    sysfsWrite(k, '/sys/bus/vdpa/drivers_probe', 'vdpa0');
    k.modules.modprobe('virtio_net');
    const ev = record(k);
    sysfsWrite(k, '/sys/class/net/eth0/uevent', 'change\n');
    sysfsWrite(k, '/sys/devices/vdpa0/virtio0/uevent', 'add');
    sysfsWrite(k, '/sys/module/virtio_net/uevent', 'add\n');
    sysfsWrite(k, '/sys/bus/virtio/uevent', 'change\n');
    sysfsWrite(k, '/sys/bus/virtio/drivers/virtio_net/uevent', 'add 8b2f8bb0-34c2-4a4b-9a62-93bd2bc9f00b A=1 b2=xyz\n');
    expect(ev.lines).toEqual([
      'change /devices/vdpa0/virtio0/net/eth0 (net) SYNTH_UUID=0 INTERFACE=eth0 IFINDEX=2',
      `add /devices/vdpa0/virtio0 (virtio) SYNTH_UUID=0 DRIVER=virtio_net ${MODALIAS}`,
      'add /module/virtio_net (module) SYNTH_UUID=0',
      'change /bus/virtio (bus) SYNTH_UUID=0',
      'add /bus/virtio/drivers/virtio_net (drivers) SYNTH_UUID=8b2f8bb0-34c2-4a4b-9a62-93bd2bc9f00b SYNTH_ARG_A=1 SYNTH_ARG_b2=xyz',
    ]);
  });

  it('an unknown action or bad arguments is EINVAL, with the kernel\'s warnings', () => {
    const k = bootKernel();
    expect(errnoOf(() => sysfsWrite(k, '/sys/devices/vdpa0/uevent', 'poke\n'))).toBe('EINVAL');
    expect(errnoOf(() => sysfsWrite(k, '/sys/devices/vdpa0/uevent', 'add not-a-uuid\n'))).toBe('EINVAL');
    const log = k.log.records.map((r) => r.text);
    expect(log).toContain('synth uevent: /devices/vdpa0: unknown uevent action string');
    expect(log).toContain('synth uevent: /devices/vdpa0: incorrect uevent action arguments');
    expect(log).toContain('vhost_vdpa vdpa0: uevent: failed to send synthetic uevent: -22');
  });

  it('parseSynthUevent(): exact action words, one trailing newline, KEY=VALUE of alphanumerics', () => {
    expect(parseSynthUevent(Buffer.from('online'))).toEqual({ action: 'online', env: [['SYNTH_UUID', '0']] });
    expect(parseSynthUevent(Buffer.from('adds\n'))).toEqual({ error: 'unknown uevent action string' });
    expect(parseSynthUevent(Buffer.from(''))).toEqual({ error: 'unknown uevent action string' });
    const uuid = '00000000-0000-0000-0000-000000000000';
    expect(parseSynthUevent(Buffer.from(`add ${uuid} K=v-1`))).toEqual({ error: 'incorrect uevent action arguments' });
    expect(parseSynthUevent(Buffer.from(`add ${uuid}  K=v`))).toEqual({ error: 'incorrect uevent action arguments' });
    expect(parseSynthUevent(Buffer.from(`remove ${uuid}\n`))).toEqual({ action: 'remove', env: [['SYNTH_UUID', uuid]] });
  });
});

describe('driver kobjects', () => {
  it('driver_register announces "add /bus/<bus>/drivers/<drv> (drivers)" after the binds it made and before the module\'s add', () => {
    const k = bootKernel({ bare: true });
    k.modules.modprobe('vdpa');
    k.modules.modprobe('vdpa_sim_net');
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
    ]);
    const ev = record(k);
    k.modules.modprobe('vhost_vdpa');
    expect(ev.lines.slice(-3)).toEqual([
      'bind /devices/vdpa0 (vdpa) DRIVER=vhost_vdpa',
      'add /bus/vdpa/drivers/vhost_vdpa (drivers)',
      'add /module/vhost_vdpa (module)',
    ]);
  });

  it('removing a driver unbinds its devices, then announces "remove ... (drivers)", then the module goes', () => {
    const k = bootKernel();
    const ev = record(k);
    k.modules.rmmod('vhost_vdpa');
    expect(ev.lines).toEqual([
      'unbind /devices/vdpa0 (vdpa)',
      'remove /bus/vdpa/drivers/vhost_vdpa (drivers)',
      'remove /module/vhost_vdpa (module)',
    ]);
  });
});
