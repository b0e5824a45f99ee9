/*
 * The net core and virtio_net over vdpasim_net's loopback: the netdev in
 * sysfs, its administrative and link state, traffic through the real
 * rings and the counters on both sides.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { devGetByName, devGetStats, devQueueXmit, netSoftirqSettled, NetDevice } from '../../src/net/core/dev';
import { faultMethods, kernelMethods } from '../../src/control/methods';
import { invoke, MethodTable } from '../../src/control/server';
import { ROOT_CRED } from '../../src/kernel/cred';
import { errnoOf, exists, ls, readlink, sysfsRead, sysfsWrite } from './sysfs_io';

/* vdpa0 (mgmtdev vdpasim_net, optional mac) bound to virtio_vdpa with virtio_net loaded. */
function netKernel(mac?: string): Kernel {
  const k = bootKernel({ bare: true });
  for (const m of ['vdpa', 'vdpa_sim_net', 'virtio_vdpa', 'virtio_net']) k.modules.modprobe(m);
  const attrs: Array<[string, unknown]> = [
    ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
    ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
  ];
  if (mac) attrs.push(['VDPA_ATTR_DEV_NET_CFG_MACADDR', mac.split(':').map((h) => parseInt(h, 16))]);
  vdpaGenl(k, VdpaCmd.DEV_NEW, attrs as never);
  return k;
}

function eth0(k: Kernel): NetDevice {
  return devGetByName(k, 'eth0')!;
}

function frame(dst: string, payload = 'hello, loopback'): Buffer {
  const mac = (s: string) => Buffer.from(s.replace(/:/g, ''), 'hex');
  return Buffer.concat([mac(dst), mac('02:00:00:00:00:01'), Buffer.from([0x88, 0xb5]), Buffer.from(payload)]);
}

async function send(k: Kernel, f: Buffer): Promise<void> {
  devQueueXmit(eth0(k), f);
  await netSoftirqSettled();
}

function vstats(k: Kernel, qidx: number): Record<string, string> {
  const r = vdpaGenl(k, VdpaCmd.DEV_VSTATS_GET, [
    ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
    ['VDPA_ATTR_DEV_QUEUE_INDEX', qidx],
  ]) as { msgs: Array<Array<[string, unknown]>> };
  const out: Record<string, string> = {};
  let name = '';
  for (const [k2, v] of r.msgs[0]) {
    if (k2 === 'VDPA_ATTR_DEV_VENDOR_ATTR_NAME') name = v as string;
    if (k2 === 'VDPA_ATTR_DEV_VENDOR_ATTR_VALUE') out[name] = String(v);
  }
  return out;
}

const stat = (k: Kernel, f: string) => sysfsRead(k, `/sys/class/net/eth0/statistics/${f}`).trim();

describe('the netdev in sysfs', () => {
  it('eth0 is a class net device under virtio0, linked from /sys/class/net and the virtio device', () => {
    const k = netKernel();
    expect(ls(k, '/sys/class/net')).toEqual(['eth0']);
    expect(readlink(k, '/sys/class/net/eth0')).toBe('../../devices/vdpa0/virtio0/net/eth0');
    expect(readlink(k, '/sys/devices/vdpa0/virtio0/net/eth0/device')).toBe('../../../virtio0');
    expect(readlink(k, '/sys/devices/vdpa0/virtio0/net/eth0/subsystem')).toBe('../../../../../class/net');
    expect(readlink(k, '/sys/bus/virtio/devices/virtio0')).toBe('../../../devices/vdpa0/virtio0');
    expect(ls(k, '/sys/devices/vdpa0/virtio0/net')).toEqual(['eth0']);
    expect(sysfsRead(k, '/sys/class/net/eth0/uevent')).toBe('INTERFACE=eth0\nIFINDEX=2\n');
    expect(ls(k, '/sys/devices/vdpa0/virtio0/net/eth0/queues')).toEqual(['rx-0', 'tx-0']);
  });

  it('the attributes people read, before the interface is up', () => {
    const k = netKernel('00:11:22:33:44:55');
    const a = (n: string) => sysfsRead(k, `/sys/class/net/eth0/${n}`);
    expect(a('address')).toBe('00:11:22:33:44:55\n');
    expect(a('broadcast')).toBe('ff:ff:ff:ff:ff:ff\n');
    expect(a('mtu')).toBe('1500\n');
    expect(a('type')).toBe('1\n');
    expect(a('addr_len')).toBe('6\n');
    expect(a('ifindex')).toBe('2\n');
    expect(a('iflink')).toBe('2\n');
    expect(a('flags')).toBe('0x1002\n');
    expect(a('operstate')).toBe('down\n');
    expect(a('tx_queue_len')).toBe('1000\n');
    expect(a('name_assign_type')).toBe('1\n');
    expect(a('addr_assign_type')).toBe('0\n');
    /* netif_carrier_off() at probe */
    expect(a('carrier_changes')).toBe('1\n');
    /* carrier, speed, duplex, dormant: only on a running device */
    for (const n of ['carrier', 'speed', 'duplex', 'dormant', 'testing']) expect(errnoOf(() => a(n))).toBe('EINVAL');
    expect(errnoOf(() => a('phys_port_id'))).toBe('EOPNOTSUPP');
    expect(a('ifalias')).toBe('');
    for (const f of ['rx_packets', 'tx_packets', 'rx_bytes', 'tx_bytes', 'rx_dropped', 'tx_dropped', 'rx_errors', 'tx_errors']) {
      expect(stat(k, f)).toBe('0');
    }
  });

  it('writing flags 0x1003 brings it up: operstate up, carrier 1, speed -1, duplex unknown', () => {
    const k = netKernel();
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003\n');
    const a = (n: string) => sysfsRead(k, `/sys/class/net/eth0/${n}`);
    expect(a('flags')).toBe('0x1003\n');
    expect(a('operstate')).toBe('up\n');
    expect(a('carrier')).toBe('1\n');
    expect(a('carrier_changes')).toBe('2\n');
    expect(a('speed')).toBe('-1\n');
    expect(a('duplex')).toBe('unknown\n');
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1002');
    expect(a('operstate')).toBe('down\n');
  });

  it('mtu is bounded by the device (VIRTIO_NET_F_MTU: max 1500), tx_queue_len and ifalias store', () => {
    const k = netKernel();
    expect(errnoOf(() => sysfsWrite(k, '/sys/class/net/eth0/mtu', '9000\n'))).toBe('EINVAL');
    expect(errnoOf(() => sysfsWrite(k, '/sys/class/net/eth0/mtu', '67\n'))).toBe('EINVAL');
    expect(errnoOf(() => sysfsWrite(k, '/sys/class/net/eth0/mtu', 'lots\n'))).toBe('EINVAL');
    sysfsWrite(k, '/sys/class/net/eth0/mtu', '1280\n');
    expect(sysfsRead(k, '/sys/class/net/eth0/mtu')).toBe('1280\n');
    sysfsWrite(k, '/sys/class/net/eth0/tx_queue_len', '0x200\n');
    expect(sysfsRead(k, '/sys/class/net/eth0/tx_queue_len')).toBe('512\n');
    sysfsWrite(k, '/sys/class/net/eth0/ifalias', 'loopback via vdpa\n');
    expect(sysfsRead(k, '/sys/class/net/eth0/ifalias')).toBe('loopback via vdpa\n');
    /* no ndo_change_carrier */
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    expect(errnoOf(() => sysfsWrite(k, '/sys/class/net/eth0/carrier', '0\n'))).toBe('EOPNOTSUPP');
  });

  it('names are eth%d, lowest free; ifindex is never reused (1 belongs to lo)', () => {
    const k = netKernel();
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa1'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
    ]);
    expect(ls(k, '/sys/class/net')).toEqual(['eth0', 'eth1']);
    expect(sysfsRead(k, '/sys/class/net/eth1/ifindex')).toBe('3\n');
    vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]);
    expect(ls(k, '/sys/class/net')).toEqual(['eth1']);
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
    ]);
    expect(ls(k, '/sys/class/net')).toEqual(['eth0', 'eth1']);
    expect(sysfsRead(k, '/sys/class/net/eth0/ifindex')).toBe('4\n');
  });

  it('the glue directory virtio0/net goes with the last netdev', () => {
    const k = netKernel();
    k.modules.rmmod('virtio_net');
    expect(exists(k, '/sys/devices/vdpa0/virtio0/net')).toBe(false);
    expect(ls(k, '/sys/class/net')).toEqual([]);
  });
});

describe('traffic through the rings and the device loopback', () => {
  it('a broadcast frame goes out on tx and comes back on rx, counted by the netdev and by vstats', async () => {
    const k = netKernel('00:11:22:33:44:55');
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    const f = frame('ff:ff:ff:ff:ff:ff');
    await send(k, f);
    await send(k, f);
    expect(eth0(k).captured.map((c) => c.data)).toEqual([f, f]);
    expect(stat(k, 'tx_packets')).toBe('2');
    expect(stat(k, 'tx_bytes')).toBe(String(2 * f.length));
    expect(stat(k, 'rx_packets')).toBe('2');
    expect(stat(k, 'rx_bytes')).toBe(String(2 * f.length));
    /* the device counts the same packets; its bytes include the 12-byte virtio_net_hdr_v1 */
    expect(vstats(k, 1)).toMatchObject({ 'tx packets': '2', 'tx bytes': String(2 * (f.length + 12)) });
    expect(vstats(k, 0)).toMatchObject({ 'rx packets': '2', 'rx bytes': String(2 * (f.length + 12)), 'rx drops': '0' });
  });

  it('a unicast frame to another MAC is dropped by the device filter: tx counts it, rx does not', async () => {
    const k = netKernel('00:11:22:33:44:55');
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    await send(k, frame('00:aa:bb:cc:dd:ee'));
    await send(k, frame('00:11:22:33:44:55'));
    expect(stat(k, 'tx_packets')).toBe('2');
    expect(stat(k, 'rx_packets')).toBe('1');
    expect(vstats(k, 0)).toMatchObject({ 'rx packets': '1', 'rx drops': '1' });
  });

  it('send while down is ENETDOWN; shorter than a header EINVAL; over the MTU EMSGSIZE', () => {
    const k = netKernel();
    expect(errnoOf(() => devQueueXmit(eth0(k), frame('ff:ff:ff:ff:ff:ff')))).toBe('ENETDOWN');
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    expect(errnoOf(() => devQueueXmit(eth0(k), Buffer.alloc(13)))).toBe('EINVAL');
    expect(errnoOf(() => devQueueXmit(eth0(k), Buffer.alloc(1515)))).toBe('EMSGSIZE');
    expect(devQueueXmit(eth0(k), Buffer.alloc(1514, 0xff))).toBe('ok');
  });

  it('many frames: the rx ring is refilled, nothing is lost', async () => {
    const k = netKernel();
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    for (let i = 0; i < 600; i++) devQueueXmit(eth0(k), frame('ff:ff:ff:ff:ff:ff', `frame ${i}`));
    await netSoftirqSettled();
    expect(stat(k, 'tx_packets')).toBe('600');
    expect(stat(k, 'rx_packets')).toBe('600');
    expect(vstats(k, 0)).toMatchObject({ 'rx overruns': '0' });
    expect(eth0(k).captured.length).toBe(600);
  });

  it('the control methods: net_link, net_send, net_recv (waiting for a count)', async () => {
    const k = netKernel();
    const m = kernelMethods(k, () => null);
    const ctx = { cred: ROOT_CRED, emit: () => {}, onClose: () => () => {} };
    const call = (t: MethodTable, name: string, p: unknown) => invoke(t[name], p, ctx);
    await call(m, 'net_link', { ifname: 'eth0', up: true });
    const hex = frame('ff:ff:ff:ff:ff:ff').toString('hex');
    expect(await call(m, 'net_send', { ifname: 'eth0', frame: hex, count: 2 })).toEqual({ sent: 2, dropped: 0 });
    const got = (await call(m, 'net_recv', { ifname: 'eth0', count: 1 })) as Array<{ data: string; len: number }>;
    expect(got.map((g) => g.data)).toEqual([hex]);
    expect(((await call(m, 'net_recv', { ifname: 'eth0' })) as unknown[]).length).toBe(1);
    expect(await call(m, 'net_recv', { ifname: 'eth0', count: 1, timeoutMs: 20 })).toEqual([]);
    expect(errnoOf(() => call(m, 'net_link', { ifname: 'eth9', up: true }))).toBe('ENODEV');
  });

  it('a malformed ring: the device sets NEEDS_RESET and says so in the log', () => {
    const k = netKernel();
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    invoke(faultMethods(k).fault_vring, { device: 'virtio0', vq: 1 }, { cred: ROOT_CRED, emit: () => {}, onClose: () => () => {} });
    expect(Number(sysfsRead(k, '/sys/devices/vdpa0/virtio0/status')) & 0x40).toBe(0x40);
    expect(k.log.records.some((r) => r.level === 'err' && /vdpa0.*vq 1.*needs reset/.test(r.text))).toBe(true);
  });

  it('no MAC feature: a random address, told to the device over the control queue (MAC_ADDR_SET)', async () => {
    const k = bootKernel({ bare: true });
    for (const m of ['vdpa', 'vdpa_sim_net', 'virtio_vdpa', 'virtio_net']) k.modules.modprobe(m);
    /* VERSION_1 | ACCESS_PLATFORM | CTRL_VQ | CTRL_MAC_ADDR | STATUS */
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
      ['VDPA_ATTR_DEV_FEATURES', String(0x300830000n)],
    ]);
    const addr = sysfsRead(k, '/sys/class/net/eth0/address').trim();
    expect(addr).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(parseInt(addr.slice(0, 2), 16) & 3).toBe(2);
    expect(sysfsRead(k, '/sys/class/net/eth0/addr_assign_type')).toBe('1\n');
    expect(k.log.records.map((r) => r.text)).toContain(`virtio_net virtio0: Assigned random MAC address ${addr}`);
    expect(vstats(k, 2)).toMatchObject({ 'cvq requests': '1', 'cvq successes': '1' });
    /* the device's filter now passes frames to that address */
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    await send(k, frame(addr));
    expect(stat(k, 'rx_packets')).toBe('1');
  });

  it('stats survive down/up; the rx buffers stay posted while down', async () => {
    const k = netKernel();
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    await send(k, frame('ff:ff:ff:ff:ff:ff'));
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1002');
    sysfsWrite(k, '/sys/class/net/eth0/flags', '0x1003');
    await send(k, frame('ff:ff:ff:ff:ff:ff'));
    expect(devGetStats(eth0(k))).toMatchObject({ tx_packets: 2, rx_packets: 2 });
    expect(sysfsRead(k, '/sys/class/net/eth0/carrier_changes')).toBe('2\n');
  });
});
