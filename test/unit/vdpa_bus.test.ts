/*
 * The vdpa bus (drivers/vdpa/vdpa.c) with its real drivers, vhost_vdpa and
 * virtio_vdpa, and the simulator's devices: matching, the order drivers are
 * tried in, the override workflow, the vhost-vdpa char devices and what
 * happens to them while open.
 */
import { describe, expect, it } from 'vitest';
import { Completion } from '../../src/kernel/completion';
import { bootKernel } from '../../src/kernel/boot';
import { Kernel } from '../../src/kernel/kernel';
import { MODULES } from '../../src/kernel/modules';
import { VdpaCmd, NlMsg } from '../../src/include/uapi/vdpa';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaDevice, vdpaFindDevice, vdpaRegisterDevice } from '../../src/drivers/vdpa/vdpa';
import type { VdpaConfigOps } from '../../src/drivers/vdpa/vdpa_config';
import { vhostVdpaMajor } from '../../src/drivers/vhost/vdpa';
import { KernFile, OpenFile } from '../../src/fs/kernfs';
import { Ida } from '../../src/kernel/ida';
import { errnoOf, exists, ls, readlink, sysfsRead, sysfsWrite } from './sysfs_io';

const VDPA = '/sys/bus/vdpa';

function kernel(...modules: string[]): Kernel {
  const k = new Kernel(MODULES);
  for (const m of modules) k.modules.modprobe(m);
  return k;
}

function devAdd(k: Kernel, name: string, mgmtdev = 'vdpasim_net'): void {
  const attrs: NlMsg = [
    ['VDPA_ATTR_DEV_NAME', name],
    ['VDPA_ATTR_MGMTDEV_DEV_NAME', mgmtdev],
  ];
  vdpaGenl(k, VdpaCmd.DEV_NEW, attrs);
}

function devDel(k: Kernel, name: string) {
  return vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', name]]);
}

function driverOf(k: Kernel, name: string): string | null {
  return vdpaFindDevice(k, name)?.driver?.name ?? null;
}

function openNode(k: Kernel, name: string): OpenFile {
  const node = k.fs.lookup(`/dev/${name}`);
  if (!(node instanceof KernFile)) throw new Error(`/dev/${name} missing`);
  return node.open({ read: true, write: true, nonblock: false });
}

/* A vdpa device registered by a parent driver itself, with whatever queue limits the test wants. */
function rawVdpaDevice(k: Kernel, name: string, numMax: number, numMin: number): VdpaDevice {
  const config = new Proxy(
    {},
    {
      get: (_t, p) => {
        if (p === 'getVqNumMax') return () => numMax;
        if (p === 'getVqNumMin') return () => numMin;
        if (p === 'getConfig') return (_o: number, len: number) => Buffer.alloc(len);
        return () => 0;
      },
    },
  ) as VdpaConfigOps;
  return new VdpaDevice(k, name, config, 1, 1, 1);
}

describe('vdpa bus matching', () => {
  it('with no override every vdpa driver matches: a new device goes to the first driver loaded', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'virtio_vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    expect(driverOf(k, 'vdpa0')).toBe('vhost_vdpa');
    const k2 = kernel('vdpa', 'virtio_vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    devAdd(k2, 'vdpa0');
    expect(driverOf(k2, 'vdpa0')).toBe('virtio_vdpa');
  });

  it('with an override only the driver of that exact name matches ("vhost-vdpa" matches nothing)', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    sysfsWrite(k, `${VDPA}/drivers_autoprobe`, '0');
    devAdd(k, 'vdpa0');
    sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'vhost-vdpa\n');
    expect(errnoOf(() => sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/bind`, 'vdpa0'))).toBe('ENODEV');
    expect(sysfsWrite(k, `${VDPA}/drivers_probe`, 'vdpa0')).toBe(5);
    expect(driverOf(k, 'vdpa0')).toBeNull();
    sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'vhost_vdpa\n');
    expect(sysfsWrite(k, `${VDPA}/drivers_probe`, 'vdpa0')).toBe(5);
    expect(driverOf(k, 'vdpa0')).toBe('vhost_vdpa');
  });

  it('with no driver module loaded the device stays unbound and nothing is autoloaded', () => {
    const k = kernel('vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    expect(driverOf(k, 'vdpa0')).toBeNull();
    expect(k.modules.isLoaded('vhost_vdpa')).toBe(false);
    expect(k.modules.isLoaded('virtio_vdpa')).toBe(false);
    expect(sysfsRead(k, '/sys/devices/vdpa0/uevent')).toBe('');
  });

  it('a bound vdpa device announces DRIVER= only: the bus has no uevent callback, so no MODALIAS', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    const env: string[][] = [];
    k.uevents.subscribe((e) => env.push(e.env.map(([n]) => n)));
    devAdd(k, 'vdpa0');
    expect(sysfsRead(k, '/sys/devices/vdpa0/uevent')).toBe('DRIVER=vhost_vdpa\n');
    for (const e of env) expect(e).not.toContain('MODALIAS');
  });

  it('probe refuses a device whose vq_num_max < vq_num_min with EINVAL, so no driver binds it', () => {
    const k = kernel('vdpa', 'vhost_vdpa');
    const bad = rawVdpaDevice(k, 'bad0', 0, 1);
    vdpaRegisterDevice(bad);
    expect(bad.driver).toBeNull();
    expect(errnoOf(() => sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/bind`, 'bad0'))).toBe('EINVAL');
    expect(k.log.records.map((r) => r.text)).toContain('vhost_vdpa bad0: probe with driver vhost_vdpa failed with error -22');
    const good = rawVdpaDevice(k, 'good0', 256, 256);
    vdpaRegisterDevice(good);
    expect(good.driver?.name).toBe('vhost_vdpa');
  });

  it('a second device with the same name fails EEXIST', () => {
    const k = kernel('vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    expect(errnoOf(() => devAdd(k, 'vdpa0'))).toBe('EEXIST');
    expect(ls(k, `${VDPA}/devices`)).toEqual(['vdpa0']);
  });

  it('the device is named by `vdpa dev add`, not vdpa%u, and lives at /sys/devices/NAME (no parent)', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    devAdd(k, 'mynet');
    expect(readlink(k, `${VDPA}/devices/mynet`)).toBe('../../../devices/mynet');
    expect(exists(k, '/sys/devices/vdpasim_net/mynet')).toBe(false);
  });

  it("kobject names: a '/' becomes '!' (kobject_set_name_vargs), and the device answers to that name only", () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    devAdd(k, 'a/b');
    expect(ls(k, `${VDPA}/devices`)).toEqual(['a!b']);
    expect(sysfsRead(k, '/sys/devices/a!b/driver_override')).toBe('(null)\n');
    expect(vdpaFindDevice(k, 'a/b')).toBeUndefined();
    expect(errnoOf(() => devDel(k, 'a/b'))).toBe('ENODEV');
    devDel(k, 'a!b');
    expect(ls(k, `${VDPA}/devices`)).toEqual([]);
  });

  it('kobject names: empty, "." and ".." fail EINVAL, over NAME_MAX fails ENAMETOOLONG; nothing is left behind', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    expect(errnoOf(() => devAdd(k, ''))).toBe('EINVAL');
    expect(errnoOf(() => devAdd(k, '.'))).toBe('EINVAL');
    expect(errnoOf(() => devAdd(k, '..'))).toBe('EINVAL');
    expect(errnoOf(() => devAdd(k, 'n'.repeat(256)))).toBe('ENAMETOOLONG');
    expect(ls(k, `${VDPA}/devices`)).toEqual([]);
    expect(ls(k, '/dev')).toEqual([]);
    devAdd(k, 'n'.repeat(255));
    devAdd(k, 'vdpa0');
    /* the minors the refused ones did not take: vhost-vdpa-0 and -1 */
    expect(ls(k, '/dev')).toEqual(['vhost-vdpa-0', 'vhost-vdpa-1']);
  });

  it('lookup by name follows add and del: a deleted name is free again at once', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    for (let i = 0; i < 100; i++) devAdd(k, `d${i}`);
    expect(vdpaFindDevice(k, 'd57')?.name).toBe('d57');
    devDel(k, 'd57');
    expect(vdpaFindDevice(k, 'd57')).toBeUndefined();
    devAdd(k, 'd57');
    expect(vdpaFindDevice(k, 'd57')?.name).toBe('d57');
    expect(ls(k, `${VDPA}/devices`)).toHaveLength(100);
  });
});

describe('16 384 devices', () => {
  it('take the minors 0..16383 in order, are found by name, and rmmod of their mgmtdev removes them all', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    for (let i = 0; i < 16384; i++) devAdd(k, `d${i}`);
    expect(ls(k, '/dev')).toHaveLength(16384);
    expect(sysfsRead(k, '/sys/devices/d16383/vhost-vdpa-16383/dev')).toBe(`${vhostVdpaMajor(k)}:16383\n`);
    expect(vdpaFindDevice(k, 'd9999')?.name).toBe('d9999');
    expect(k.modules.rmmod('vdpa_sim_net')).toBeUndefined();
    expect(ls(k, `${VDPA}/devices`)).toEqual([]);
    expect(ls(k, '/dev')).toEqual([]);
  });
});

describe('lib/idr.c IDA', () => {
  it('hands out the lowest free id, reusing freed ones smallest first', () => {
    const ida = new Ida();
    expect([ida.alloc(), ida.alloc(), ida.alloc(), ida.alloc(), ida.alloc()]).toEqual([0, 1, 2, 3, 4]);
    ida.free(3);
    ida.free(1);
    ida.free(1);
    expect([ida.alloc(), ida.alloc(), ida.alloc()]).toEqual([1, 3, 5]);
  });

  it('ida_alloc_max: ENOSPC once every id up to max is taken, and a freed one is found again', () => {
    const ida = new Ida(2);
    expect([ida.alloc(), ida.alloc(), ida.alloc()]).toEqual([0, 1, 2]);
    expect(errnoOf(() => ida.alloc())).toBe('ENOSPC');
    ida.free(1);
    expect(ida.alloc()).toBe(1);
  });

  it('agrees with a scan from 0 over 20 000 random allocs and frees', () => {
    const ida = new Ida();
    const used = new Set<number>();
    let x = 12345;
    const rand = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 20000; i++) {
      if (used.size && rand() < 0.45) {
        const victim = [...used][Math.floor(rand() * used.size)];
        ida.free(victim);
        used.delete(victim);
      } else {
        let lowest = 0;
        while (used.has(lowest)) lowest++;
        expect(ida.alloc()).toBe(lowest);
        used.add(lowest);
      }
    }
  });
});

describe('switching a device from vhost_vdpa to virtio_vdpa (override, unbind, drivers_probe)', () => {
  it('the classic sequence moves vdpa0 to virtio_vdpa: vhost-vdpa-0 goes, virtio0 comes', () => {
    const k = bootKernel();
    expect(driverOf(k, 'vdpa0')).toBe('vhost_vdpa');
    expect(sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'virtio_vdpa\n')).toBe(12);
    expect(driverOf(k, 'vdpa0')).toBe('vhost_vdpa');
    k.modules.modprobe('virtio_vdpa');
    expect(driverOf(k, 'vdpa0')).toBe('vhost_vdpa');
    expect(sysfsWrite(k, '/sys/devices/vdpa0/driver/unbind', 'vdpa0\n')).toBe(6);
    expect(exists(k, '/dev/vhost-vdpa-0')).toBe(false);
    expect(exists(k, '/sys/devices/vdpa0/vhost-vdpa-0')).toBe(false);
    expect(sysfsWrite(k, `${VDPA}/drivers_probe`, 'vdpa0\n')).toBe(6);
    expect(driverOf(k, 'vdpa0')).toBe('virtio_vdpa');
    expect(readlink(k, '/sys/devices/vdpa0/driver')).toBe('../../bus/vdpa/drivers/virtio_vdpa');
    expect(readlink(k, '/sys/bus/virtio/devices/virtio0')).toBe('../../../devices/vdpa0/virtio0');
    expect(readlink(k, '/sys/devices/vdpa0/virtio0/subsystem')).toBe('../../../bus/virtio');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/device')).toBe('0x0001\n');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/vendor')).toBe('0x0000\n');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/modalias')).toBe('virtio:d00000001v00000000\n');
    expect(sysfsRead(k, '/sys/devices/vdpa0/virtio0/uevent')).toBe('MODALIAS=virtio:d00000001v00000000\n');
  });

  it('bind of a device to the driver its override does not name fails ENODEV; the named one binds', () => {
    const k = bootKernel();
    k.modules.modprobe('virtio_vdpa');
    sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'virtio_vdpa');
    sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/unbind`, 'vdpa0');
    expect(errnoOf(() => sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/bind`, 'vdpa0'))).toBe('ENODEV');
    expect(sysfsWrite(k, `${VDPA}/drivers/virtio_vdpa/bind`, 'vdpa0')).toBe(5);
    expect(errnoOf(() => sysfsWrite(k, `${VDPA}/drivers/virtio_vdpa/bind`, 'vdpa0'))).toBe('EBUSY');
  });

  it('virtio devices take the lowest free virtio%u', () => {
    const k = kernel('vdpa', 'virtio_vdpa', 'vdpa_sim_net');
    devAdd(k, 'a');
    devAdd(k, 'b');
    expect(ls(k, '/sys/bus/virtio/devices')).toEqual(['virtio0', 'virtio1']);
    sysfsWrite(k, `${VDPA}/drivers/virtio_vdpa/unbind`, 'a');
    devAdd(k, 'c');
    expect(exists(k, '/sys/devices/c/virtio0')).toBe(true);
  });
});

describe('vhost-vdpa char devices', () => {
  it('vhost_vdpa_probe makes vhost-vdpa-N under the vdpa device with dev "MAJ:MIN\\n", /sys/dev/char and /dev', () => {
    const k = bootKernel();
    const major = vhostVdpaMajor(k)!;
    expect(sysfsRead(k, '/sys/devices/vdpa0/vhost-vdpa-0/dev')).toBe(`${major}:0\n`);
    expect(readlink(k, `/sys/dev/char/${major}:0`)).toBe('../../devices/vdpa0/vhost-vdpa-0');
    expect(sysfsRead(k, '/sys/devices/vdpa0/vhost-vdpa-0/uevent')).toBe('');
    expect(ls(k, '/sys/devices/vdpa0/vhost-vdpa-0')).toEqual(['dev', 'power', 'uevent']);
    const node = k.fs.lookup('/dev/vhost-vdpa-0') as KernFile;
    expect(node.devt).toEqual({ type: 'c', major, minor: 0 });
    expect(node.mode).toBe(0o600);
    expect(exists(k, '/sys/class/vhost-vdpa')).toBe(false);
  });

  it('minors are the lowest free; a rebind gets its old number back', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    devAdd(k, 'vdpa1');
    devAdd(k, 'vdpa2');
    expect(ls(k, '/dev')).toEqual(['vhost-vdpa-0', 'vhost-vdpa-1', 'vhost-vdpa-2']);
    sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/unbind`, 'vdpa1');
    expect(ls(k, '/dev')).toEqual(['vhost-vdpa-0', 'vhost-vdpa-2']);
    sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/bind`, 'vdpa1');
    expect(exists(k, '/sys/devices/vdpa1/vhost-vdpa-1')).toBe(true);
    /* No fixed relation to the vdpa name: a new device takes the hole. */
    sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/unbind`, 'vdpa0');
    devAdd(k, 'vdpa3');
    expect(exists(k, '/sys/devices/vdpa3/vhost-vdpa-0')).toBe(true);
    sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/bind`, 'vdpa0');
    expect(exists(k, '/sys/devices/vdpa0/vhost-vdpa-3')).toBe(true);
  });

  it('a second open of /dev/vhost-vdpa-N fails EBUSY; after close it opens again', () => {
    const k = bootKernel();
    const f = openNode(k, 'vhost-vdpa-0');
    expect(errnoOf(() => openNode(k, 'vhost-vdpa-0'))).toBe('EBUSY');
    f.release();
    openNode(k, 'vhost-vdpa-0').release();
  });

  it('unbind while the node is open: node and links go at once, the write waits for the close', async () => {
    const k = bootKernel();
    const major = vhostVdpaMajor(k)!;
    const f = openNode(k, 'vhost-vdpa-0');
    const w = sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/unbind`, 'vdpa0');
    expect(w).toBeInstanceOf(Completion);
    const done = w as Completion<number>;
    expect(exists(k, '/dev/vhost-vdpa-0')).toBe(false);
    expect(exists(k, `/sys/dev/char/${major}:0`)).toBe(false);
    expect(exists(k, '/sys/devices/vdpa0/driver')).toBe(false);
    /* The minor is still held: a device added meanwhile gets the next one. */
    devAdd(k, 'vdpa1');
    expect(exists(k, '/sys/devices/vdpa1/vhost-vdpa-1')).toBe(true);
    expect(done.isDone).toBe(false);
    f.release();
    expect(await done.toPromise()).toBe(5);
    expect(driverOf(k, 'vdpa0')).toBeNull();
    sysfsWrite(k, `${VDPA}/drivers/vhost_vdpa/bind`, 'vdpa0');
    expect(exists(k, '/sys/devices/vdpa0/vhost-vdpa-0')).toBe(true);
  });

  it('vdpa dev del while the node is open waits for the close, then the device is gone', async () => {
    const k = bootKernel();
    const f = openNode(k, 'vhost-vdpa-0');
    const del = devDel(k, 'vdpa0');
    expect(del).toBeInstanceOf(Completion);
    expect(exists(k, '/dev/vhost-vdpa-0')).toBe(false);
    f.release();
    await (del as Completion<unknown>).toPromise();
    expect(exists(k, '/sys/devices/vdpa0')).toBe(false);
    expect(exists(k, `${VDPA}/devices/vdpa0`)).toBe(false);
  });

  it('rmmod vdpa_sim_net while a node is open waits for the close (device_unregister → vhost_vdpa_remove)', async () => {
    const k = bootKernel();
    const f = openNode(k, 'vhost-vdpa-0');
    const r = k.modules.rmmod('vdpa_sim_net');
    expect(r).toBeInstanceOf(Completion);
    expect(exists(k, '/dev/vhost-vdpa-0')).toBe(false);
    expect(k.modules.isLoaded('vdpa_sim_net')).toBe(false);
    expect(sysfsRead(k, '/sys/module/vdpa_sim_net/initstate')).toBe('going\n');
    f.release();
    await (r as Completion<void>).toPromise();
    expect(exists(k, '/sys/module/vdpa_sim_net')).toBe(false);
    expect(exists(k, '/sys/devices/vdpa0')).toBe(false);
    expect(exists(k, '/sys/devices/vdpasim_net')).toBe(false);
  });

  it('rmmod vhost_vdpa fails EBUSY while a node is open (the open file pins the module)', () => {
    const k = bootKernel();
    const f = openNode(k, 'vhost-vdpa-0');
    expect(sysfsRead(k, '/sys/module/vhost_vdpa/refcnt')).toBe('1\n');
    expect(errnoOf(() => k.modules.rmmod('vhost_vdpa'))).toBe('EBUSY');
    f.release();
    expect(sysfsRead(k, '/sys/module/vhost_vdpa/refcnt')).toBe('0\n');
    expect(k.modules.rmmod('vhost_vdpa')).toBeUndefined();
    expect(exists(k, '/dev/vhost-vdpa-0')).toBe(false);
  });
});
