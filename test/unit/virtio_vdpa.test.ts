/*
 * The virtio core and virtio_vdpa: negotiation against a vdpa device
 * through the vdpa config ops, as virtio_dev_probe() and
 * virtio_vdpa_setup_vq() do it, checked against a tiny recording device
 * and against vdpa_sim.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import { fail } from '../../src/kernel/errno';
import { VdpaDevice, vdpaRegisterDevice, vdpaUnregisterDevice } from '../../src/drivers/vdpa/vdpa';
import type { VdpaCallback, VdpaConfigOps, VdpaVqState } from '../../src/drivers/vdpa/vdpa_config';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { GuestMemory } from '../../src/mm/guest_memory';
import { kernelMemory } from '../../src/mm/kmem';
import { virtioFindDevice, VirtioDevice } from '../../src/drivers/virtio/virtio';
import { exists, ls, readlink, sysfsRead, sysfsWrite } from './sysfs_io';

/* The bitstring `features` shows, bit 0 first, 64 characters (a u64 in 6.12). */
function featureBits(...bits: number[]): string {
  const a = Array.from({ length: 64 }, () => '0');
  for (const b of bits) a[b] = '1';
  return a.join('') + '\n';
}

/* A vdpa parent that records every op the virtio side calls, and can refuse FEATURES_OK. */
class RecordingDevice implements VdpaConfigOps {
  readonly log: string[] = [];
  status = 0;
  driverFeatures = 0n;
  passthrough: unknown = null;
  readonly ready = [false, false];
  refuseFeaturesOk = false;
  readonly config = Buffer.alloc(24);

  constructor(
    readonly deviceFeatures: bigint,
    readonly deviceId = 1,
  ) {}

  setVqAddress(idx: number, desc: bigint, driver: bigint, device: bigint): void {
    this.log.push(`set_vq_address ${idx} ${desc % 16n === 0n} ${driver % 2n === 0n} ${device % 4n === 0n}`);
  }
  setVqNum(idx: number, num: number): void {
    this.log.push(`set_vq_num ${idx} ${num}`);
  }
  kickVq(idx: number): void {
    this.log.push(`kick_vq ${idx}`);
  }
  setVqCb(idx: number, cb: VdpaCallback): void {
    this.log.push(`set_vq_cb ${idx} ${cb ? 'cb' : 'null'}`);
  }
  setVqReady(idx: number, ready: boolean): void {
    this.ready[idx] = ready;
    this.log.push(`set_vq_ready ${idx} ${ready ? 1 : 0}`);
  }
  getVqReady(idx: number): boolean {
    return this.ready[idx];
  }
  setVqState(idx: number, state: VdpaVqState): void {
    this.log.push(`set_vq_state ${idx} ${state.availIndex}`);
  }
  getVqState(): VdpaVqState {
    return { availIndex: 0 };
  }
  getVqGroup(): number {
    return 0;
  }
  getVqAlign(): number {
    return 4096;
  }
  getDeviceFeatures(): bigint {
    this.log.push('get_device_features');
    return this.deviceFeatures;
  }
  setDriverFeatures(f: bigint): void {
    this.log.push(`set_driver_features 0x${f.toString(16)}`);
    this.driverFeatures = f;
  }
  getDriverFeatures(): bigint {
    return this.driverFeatures;
  }
  setConfigCb(cb: VdpaCallback): void {
    this.log.push(`set_config_cb ${cb ? 'cb' : 'null'}`);
  }
  getVqNumMax(): number {
    return 64;
  }
  getVqNumMin(): number {
    return 1;
  }
  getDeviceId(): number {
    return this.deviceId;
  }
  getVendorId(): number {
    return 0;
  }
  getStatus(): number {
    return this.status;
  }
  setStatus(s: number): void {
    /* A device that does not accept the features clears FEATURES_OK again. */
    if (this.refuseFeaturesOk) s &= ~8;
    this.log.push(`set_status 0x${s.toString(16)}`);
    this.status = s;
  }
  reset(): void {
    this.log.push('reset');
    this.status = 0;
    this.ready.fill(false);
  }
  getConfigSize(): number {
    return this.config.length;
  }
  getConfig(offset: number, len: number): Buffer {
    return Buffer.from(this.config.subarray(offset, offset + len));
  }
  setConfig(): void {}
  getGeneration(): number {
    return 0;
  }
  getIovaRange() {
    return { first: 0n, last: 0xffff_ffff_ffff_ffffn };
  }
  setGroupAsid(): void {}
  setMap(): void {
    fail('EOPNOTSUPP');
  }
  bindPassthrough(mem: unknown): void {
    this.log.push(`bind_passthrough ${mem ? 'kmem' : 'null'}`);
    this.passthrough = mem;
  }
}

/* A bare kernel with vdpa, virtio_vdpa (and whatever else), plus the recording device as vdpa7. */
function withRecordingDevice(ops: RecordingDevice, modules: string[]): { k: Kernel; vdpa: VdpaDevice } {
  const k = bootKernel({ bare: true });
  for (const m of ['vdpa', 'virtio_vdpa', ...modules]) k.modules.modprobe(m);
  const vdpa = new VdpaDevice(k, 'vdpa7', ops, 2, 1, 1);
  vdpaRegisterDevice(vdpa);
  return { k, vdpa };
}

/* The classic walkthrough's vdpa0 moved to virtio_vdpa (the README's second half). */
function movedToVirtio(modules: string[] = ['virtio_net']): Kernel {
  const k = bootKernel();
  for (const m of modules) k.modules.modprobe(m);
  sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'virtio_vdpa\n');
  k.modules.modprobe('virtio_vdpa');
  sysfsWrite(k, '/sys/devices/vdpa0/driver/unbind', 'vdpa0\n');
  sysfsWrite(k, '/sys/bus/vdpa/drivers_probe', 'vdpa0\n');
  return k;
}

const MAC = 5;
const VERSION_1 = 32;
const ACCESS_PLATFORM = 33;
const BIT = (n: number) => 1n << BigInt(n);

describe('virtio_dev_probe(): the negotiation as the device sees it', () => {
  it('reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK re-read, queue setup, DRIVER_OK, in that order', () => {
    const dev = new RecordingDevice(BIT(MAC) | BIT(VERSION_1) | BIT(ACCESS_PLATFORM) | BIT(40));
    const { k } = withRecordingDevice(dev, []);
    /* virtio_net is loaded after the virtio device exists: the bind happens at driver_attach(). */
    dev.log.length = 0;
    k.modules.modprobe('virtio_net');
    const setup = (i: number) => [`set_vq_cb ${i} cb`, `set_vq_num ${i} 64`, `set_vq_address ${i} true true true`, `set_vq_state ${i} 0`, `set_vq_ready ${i} 1`];
    expect(dev.log).toEqual([
      'set_status 0x3',
      'get_device_features',
      /* bit 40 (a transport bit virtio_ring does not implement) is dropped by vring_transport_features() */
      `set_driver_features 0x${(BIT(MAC) | BIT(VERSION_1) | BIT(ACCESS_PLATFORM)).toString(16)}`,
      'set_status 0xb',
      ...setup(0),
      ...setup(1),
      'set_config_cb cb',
      'set_status 0xf',
    ]);
    expect(sysfsRead(k, '/sys/devices/vdpa7/virtio0/status')).toBe('0x0000000f\n');
    expect(sysfsRead(k, '/sys/devices/vdpa7/virtio0/features')).toBe(featureBits(MAC, VERSION_1, ACCESS_PLATFORM));
  });

  it('register_virtio_device() resets the device and acknowledges it; virtio_vdpa binds kernel memory first', () => {
    const dev = new RecordingDevice(BIT(VERSION_1) | BIT(ACCESS_PLATFORM));
    const { k } = withRecordingDevice(dev, []);
    expect(dev.log).toEqual(['bind_passthrough kmem', 'reset', 'set_status 0x1']);
    expect(dev.passthrough).toBe(kernelMemory(k));
    expect(sysfsRead(k, '/sys/devices/vdpa7/virtio0/status')).toBe('0x00000001\n');
  });

  it('a device that clears FEATURES_OK leaves the driver unbound: "virtio: device refuses features", status FAILED', () => {
    const dev = new RecordingDevice(BIT(MAC) | BIT(VERSION_1) | BIT(ACCESS_PLATFORM));
    dev.refuseFeaturesOk = true;
    const { k } = withRecordingDevice(dev, ['virtio_net']);
    expect(exists(k, '/sys/devices/vdpa7/virtio0/driver')).toBe(false);
    expect(sysfsRead(k, '/sys/devices/vdpa7/virtio0/status')).toBe('0x00000083\n');
    const log = k.log.records.map((r) => r.text);
    expect(log).toContain('virtio_net virtio0: virtio: device refuses features: 3');
    /* ENODEV from the probe is dev_dbg, not a "probe failed" error */
    expect(log.some((t) => t.includes('probe with driver'))).toBe(false);
    expect(dev.log.some((l) => l.startsWith('set_vq'))).toBe(false);
  });

  it('a device id of 0 is refused by virtio_vdpa_probe() (EINVAL)', () => {
    const k = bootKernel({ bare: true });
    for (const m of ['vdpa', 'virtio_vdpa']) k.modules.modprobe(m);
    const vdpa = new VdpaDevice(k, 'vdpa7', new RecordingDevice(0n, 0), 2, 1, 1);
    vdpaRegisterDevice(vdpa);
    expect(exists(k, '/sys/devices/vdpa7/driver')).toBe(false);
    expect(k.log.records.map((r) => r.text)).toContain('virtio_vdpa vdpa7: probe with driver virtio_vdpa failed with error -22');
  });

  it('unbinding the driver resets the device and acknowledges it again; features keep the last negotiation', () => {
    const dev = new RecordingDevice(BIT(MAC) | BIT(VERSION_1) | BIT(ACCESS_PLATFORM));
    const { k } = withRecordingDevice(dev, ['virtio_net']);
    dev.log.length = 0;
    sysfsWrite(k, '/sys/bus/virtio/drivers/virtio_net/unbind', 'virtio0\n');
    expect(dev.log).toContain('reset');
    expect(dev.log.slice(-1)).toEqual(['set_status 0x1']);
    expect(dev.log.filter((l) => l.startsWith('set_vq_ready'))).toEqual(['set_vq_ready 0 0', 'set_vq_ready 1 0']);
    expect(sysfsRead(k, '/sys/devices/vdpa7/virtio0/status')).toBe('0x00000001\n');
    expect(sysfsRead(k, '/sys/devices/vdpa7/virtio0/features')).toBe(featureBits(MAC, VERSION_1, ACCESS_PLATFORM));
  });

  it('removing the vdpa device unregisters virtio0 and unbinds kernel memory', () => {
    const dev = new RecordingDevice(BIT(VERSION_1) | BIT(ACCESS_PLATFORM));
    const { k, vdpa } = withRecordingDevice(dev, []);
    vdpaUnregisterDevice(vdpa);
    expect(dev.passthrough).toBe(null);
    expect(exists(k, '/sys/bus/virtio/devices/virtio0')).toBe(false);
  });
});

describe('virtio_vdpa against vdpa_sim', () => {
  it('vdpasim_net + virtio_net: status 0x0000000f, features MTU MAC STATUS CTRL_VQ CTRL_MAC_ADDR VERSION_1 ACCESS_PLATFORM', () => {
    const k = movedToVirtio();
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/status')).toBe('0x0000000f\n');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/features')).toBe(featureBits(3, 5, 16, 17, 23, 32, 33));
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/uevent')).toBe('DRIVER=virtio_net\nMODALIAS=virtio:d00000001v00000000\n');
    expect(readlink(k, '/sys/devices/vdpa0/virtio0/driver')).toBe('../../../bus/virtio/drivers/virtio_net');
    /* the device agrees: vdpa dev config show's negotiated features */
    const msg = vdpaGenl(k, VdpaCmd.DEV_CONFIG_GET, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]) as { msgs: Array<Array<[string, unknown]>> };
    const negotiated = msg.msgs[0].find(([n]) => n === 'VDPA_ATTR_DEV_NEGOTIATED_FEATURES')?.[1];
    expect(BigInt(negotiated as string)).toBe(0x300830028n);
  });

  it('three queues set up on the device: rx, tx and the control queue, 256 entries each, ready', () => {
    const k = movedToVirtio();
    const vdev = virtioFindDevice(k, 'virtio0') as VirtioDevice;
    expect(vdev.vqs.map((q) => [q.index, q.name, q.num])).toEqual([
      [0, 'input.0', 256],
      [1, 'output.0', 256],
      [2, 'control', 256],
    ]);
    const sim = (vdev.parent as VdpaDevice).config;
    expect([0, 1, 2].map((i) => sim.getVqReady(i))).toEqual([true, true, true]);
    /* the rings live in the host kernel's memory */
    for (const q of vdev.vqs) expect(q.mem).toBe(kernelMemory(k));
  });

  it('a device created without ACCESS_PLATFORM refuses the features: probe failed with error -22, no netdev', () => {
    const k = bootKernel({ bare: true });
    for (const m of ['vdpa', 'vdpa_sim_net', 'virtio_vdpa', 'virtio_net']) k.modules.modprobe(m);
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
      ['VDPA_ATTR_DEV_FEATURES', String(BIT(VERSION_1) | BIT(MAC) | BIT(16))],
    ]);
    expect(readlink(k, '/sys/devices/vdpa0/driver')).toBe('../../bus/vdpa/drivers/virtio_vdpa');
    expect(exists(k, '/sys/devices/vdpa0/virtio0/driver')).toBe(false);
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/status')).toBe('0x00000083\n');
    expect(k.log.records.map((r) => r.text)).toContain('virtio_net virtio0: probe with driver virtio_net failed with error -22');
    expect(exists(k, '/sys/class/net/eth0')).toBe(false);
  });

  it('vdpasim_blk + virtio_blk: features SIZE_MAX SEG_MAX BLK_SIZE FLUSH TOPOLOGY MQ DISCARD WRITE_ZEROES VERSION_1 ACCESS_PLATFORM', () => {
    const k = bootKernel({ bare: true });
    for (const m of ['vdpa', 'vdpa_sim_blk', 'virtio_vdpa', 'virtio_blk']) k.modules.modprobe(m);
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_blk'],
    ]);
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/device')).toBe('0x0002\n');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/status')).toBe('0x0000000f\n');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/features')).toBe(featureBits(1, 2, 6, 9, 10, 12, 13, 14, 32, 33));
    expect(ls(k, '/sys/devices/vdpa0/virtio0/block')).toEqual(['vda']);
  });

  it('rmmod virtio_net unbinds: the netdev goes, status ACKNOWLEDGE, the vqs are not ready', () => {
    const k = movedToVirtio();
    k.modules.rmmod('virtio_net');
    expect(exists(k, '/sys/class/net/eth0')).toBe(false);
    expect(exists(k, '/sys/devices/vdpa0/virtio0/net')).toBe(false);
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/status')).toBe('0x00000001\n');
    const sim = (virtioFindDevice(k, 'virtio0')!.parent as VdpaDevice).config;
    expect([0, 1, 2].map((i) => sim.getVqReady(i))).toEqual([false, false, false]);
    /* and it comes back on the next modprobe */
    k.modules.modprobe('virtio_net');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/status')).toBe('0x0000000f\n');
  });

  it('moving vdpa0 back to vhost_vdpa gives the sim its memory back (no kernel memory bound)', () => {
    const k = movedToVirtio();
    const vdpa = virtioFindDevice(k, 'virtio0')!.parent as VdpaDevice;
    sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'vhost_vdpa\n');
    sysfsWrite(k, '/sys/devices/vdpa0/driver/unbind', 'vdpa0\n');
    expect((vdpa.config as unknown as { passthrough: unknown }).passthrough).toBe(null);
    sysfsWrite(k, '/sys/bus/vdpa/drivers_probe', 'vdpa0\n');
    expect(readlink(k, '/sys/devices/vdpa0/driver')).toBe('../../bus/vdpa/drivers/vhost_vdpa');
    expect(exists(k, '/dev/vhost-vdpa-0')).toBe(true);
  });
});

describe('kernel memory', () => {
  it('grows by regions as allocations need them, and addresses start at 4 GiB', () => {
    const k = bootKernel({ bare: true });
    const mem = kernelMemory(k);
    expect(mem).toBeInstanceOf(GuestMemory);
    const a = mem.alloc(4096, 4096);
    expect(a).toBe(0x1_0000_0000);
    const big = mem.alloc(20 << 20, 4096);
    expect(mem.regions.length).toBe(2);
    mem.write(big + (20 << 20) - 1, Buffer.from([7]));
    expect(mem.readU8(big + (20 << 20) - 1)).toBe(7);
  });
});
