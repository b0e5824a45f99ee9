/*
 * The generic driver core (drivers/base/bus.c, dd.c, core.c, driver.c)
 * on a test bus, with drivers whose probe does whatever the test needs.
 * This is where the rows of the binding table that no real vdpa driver can
 * reach from a shell are pinned: a probe error coming back from `bind`,
 * EPROBE_DEFER turning into EAGAIN, and `drivers_probe` failing EINVAL when
 * the attach itself fails.
 */
import { describe, expect, it } from 'vitest';
import { Completion } from '../../src/kernel/completion';
import { Errno, errnoNumber, fail } from '../../src/kernel/errno';
import { Kernel } from '../../src/kernel/kernel';
import { BusType, busRegister } from '../../src/drivers/base/bus';
import { Device, deviceAdd, deviceDel } from '../../src/drivers/base/core';
import { DeviceDriver, driverOverrideShow, driverRegister, driverSetOverride, driverUnregister } from '../../src/drivers/base/driver';
import { attr } from '../../src/fs/sysfs';
import { errnoOf, exists, ls, readlink, sysfsRead, sysfsWrite } from './sysfs_io';

const BUS = '/sys/bus/testbus';

interface TestBus {
  k: Kernel;
  bus: BusType;
  /* What the bus match returns; by default driver_override or 1. */
  match: (dev: Device, drv: DeviceDriver) => number;
  events: string[];
  addDevice(name: string): Device;
  addDriver(name: string, probe?: (dev: Device) => void, remove?: (dev: Device) => Completion<void> | void): DeviceDriver;
}

function testBus(): TestBus {
  const k = new Kernel([]);
  const t: TestBus = {
    k,
    bus: null as unknown as BusType,
    match: (dev, drv) => (dev.driverOverride !== null ? (dev.driverOverride === drv.name ? 1 : 0) : 1),
    events: [],
    addDevice(name) {
      const dev = new Device(k, name);
      dev.bus = t.bus;
      dev.groups.push((d) => [
        attr('driver_override', { show: () => driverOverrideShow(d), store: (buf) => driverSetOverride(d, buf) }),
      ]);
      deviceAdd(dev);
      return dev;
    },
    addDriver(name, probe, remove) {
      const drv = new DeviceDriver(name, null, { probe, remove });
      driverRegister(t.bus, drv);
      return drv;
    },
  };
  t.bus = new BusType(k, 'testbus', { match: (dev, drv) => t.match(dev, drv) });
  busRegister(t.bus);
  k.uevents.subscribe((e) => {
    const get = (n: string) => e.env.find(([key]) => key === n)?.[1];
    t.events.push(`${get('ACTION')} ${get('DEVPATH')}${get('DRIVER') ? ` DRIVER=${get('DRIVER')}` : ''}`);
  });
  return t;
}

/* A probe that fails with `errno`, as a driver returning -errno. */
const failingProbe = (errno: Errno) => () => fail(errno);

const bind = (t: TestBus, drv: string, dev: string) => sysfsWrite(t.k, `${BUS}/drivers/${drv}/bind`, dev);
const unbind = (t: TestBus, drv: string, dev: string) => sysfsWrite(t.k, `${BUS}/drivers/${drv}/unbind`, dev);
const driversProbe = (t: TestBus, dev: string) => sysfsWrite(t.k, `${BUS}/drivers_probe`, dev);

describe('bus_register and bus_add_driver lay out the bus directory', () => {
  it('the bus gets uevent (0200), drivers_autoprobe (0644, "1\\n"), drivers_probe (0200), devices/ and drivers/', () => {
    const t = testBus();
    expect(ls(t.k, BUS)).toEqual(['devices', 'drivers', 'drivers_autoprobe', 'drivers_probe', 'uevent']);
    expect(t.k.fs.lookup(`${BUS}/uevent`)!.mode).toBe(0o200);
    expect(t.k.fs.lookup(`${BUS}/drivers_probe`)!.mode).toBe(0o200);
    expect(t.k.fs.lookup(`${BUS}/drivers_autoprobe`)!.mode).toBe(0o644);
    expect(sysfsRead(t.k, `${BUS}/drivers_autoprobe`)).toBe('1\n');
  });

  it('a driver gets bind, unbind and uevent, all 0200, and no module link without an owner', () => {
    const t = testBus();
    t.addDriver('drv_a');
    expect(ls(t.k, `${BUS}/drivers/drv_a`)).toEqual(['bind', 'uevent', 'unbind']);
    for (const f of ['bind', 'unbind', 'uevent']) expect(t.k.fs.lookup(`${BUS}/drivers/drv_a/${f}`)!.mode).toBe(0o200);
  });

  it('registering a second driver with the same name fails EBUSY', () => {
    const t = testBus();
    t.addDriver('drv_a');
    expect(errnoOf(() => t.addDriver('drv_a'))).toBe('EBUSY');
  });

  it('device_add links the device into the bus and gives it a subsystem link', () => {
    const t = testBus();
    t.addDevice('dev0');
    expect(readlink(t.k, `${BUS}/devices/dev0`)).toBe('../../../devices/dev0');
    expect(readlink(t.k, '/sys/devices/dev0/subsystem')).toBe('../../bus/testbus');
    expect(ls(t.k, '/sys/devices/dev0')).toEqual(['driver_override', 'power', 'subsystem', 'uevent']);
  });
});

describe('autoprobe: device add and driver registration', () => {
  it('a new device goes to the first driver in registration order', () => {
    const t = testBus();
    t.addDriver('first');
    t.addDriver('second');
    const dev = t.addDevice('dev0');
    expect(dev.driver?.name).toBe('first');
  });

  it('a probe error at device add lets the next driver try its luck', () => {
    const t = testBus();
    t.addDriver('broken', failingProbe('EIO'));
    t.addDriver('rejects', failingProbe('ENODEV'));
    t.addDriver('works');
    const dev = t.addDevice('dev0');
    expect(dev.driver?.name).toBe('works');
    expect(exists(t.k, `${BUS}/drivers/broken/dev0`)).toBe(false);
  });

  it('a device no driver takes stays unbound, with no driver link and an empty uevent', () => {
    const t = testBus();
    t.addDriver('broken', failingProbe('EIO'));
    const dev = t.addDevice('dev0');
    expect(dev.driver).toBeNull();
    expect(exists(t.k, '/sys/devices/dev0/driver')).toBe(false);
    expect(sysfsRead(t.k, '/sys/devices/dev0/uevent')).toBe('');
  });

  it('a driver registered later attaches to every unbound matching device', () => {
    const t = testBus();
    const d0 = t.addDevice('dev0');
    const d1 = t.addDevice('dev1');
    const d2 = t.addDevice('dev2');
    d2.driverOverride = 'other';
    t.addDriver('late');
    expect([d0.driver?.name, d1.driver?.name, d2.driver?.name]).toEqual(['late', 'late', undefined]);
  });

  it('drivers_autoprobe 0: device add and driver registration leave devices unbound', () => {
    const t = testBus();
    t.addDriver('first');
    expect(sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0\n')).toBe(2);
    expect(sysfsRead(t.k, `${BUS}/drivers_autoprobe`)).toBe('0\n');
    const dev = t.addDevice('dev0');
    t.addDriver('late');
    expect(dev.driver).toBeNull();
    /* Only future add/register are affected: an explicit probe still binds. */
    expect(driversProbe(t, 'dev0\n')).toBe(5);
    expect(dev.driver?.name).toBe('first');
  });

  it('drivers_autoprobe looks at the first byte only: "0" disables, anything else enables', () => {
    const t = testBus();
    const set = (v: string) => {
      expect(sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, v)).toBe(v.length);
      return sysfsRead(t.k, `${BUS}/drivers_autoprobe`);
    };
    expect(set('0')).toBe('0\n');
    expect(set('1')).toBe('1\n');
    expect(set('0junk')).toBe('0\n');
    expect(set('no')).toBe('1\n');
    expect(set('0')).toBe('0\n');
    expect(set(' 0')).toBe('1\n');
    expect(set('0')).toBe('0\n');
    expect(set('\n')).toBe('1\n');
  });
});

describe('bind', () => {
  it('bind of an unknown device name fails ENODEV', () => {
    const t = testBus();
    t.addDriver('drv');
    expect(errnoOf(() => bind(t, 'drv', 'nosuch'))).toBe('ENODEV');
  });

  it('bind to a driver the device does not match (override names another) fails ENODEV', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('drv');
    t.addDevice('dev0').driverOverride = 'other';
    expect(errnoOf(() => bind(t, 'drv', 'dev0'))).toBe('ENODEV');
  });

  it('bind of an already-bound device fails EBUSY, whichever driver holds it', () => {
    const t = testBus();
    t.addDriver('a');
    t.addDriver('b');
    t.addDevice('dev0');
    expect(errnoOf(() => bind(t, 'a', 'dev0'))).toBe('EBUSY');
    expect(errnoOf(() => bind(t, 'b', 'dev0'))).toBe('EBUSY');
  });

  it.each<[Errno]>([['EIO'], ['EINVAL'], ['ENOMEM'], ['ENODEV'], ['ENXIO'], ['EBUSY']])(
    'bind returns the probe error -%s to the writer (device_driver_attach)',
    (errno) => {
      const t = testBus();
      sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
      t.addDriver('drv', failingProbe(errno));
      const dev = t.addDevice('dev0');
      expect(errnoOf(() => bind(t, 'drv', 'dev0'))).toBe(errno);
      expect(dev.driver).toBeNull();
      expect(exists(t.k, '/sys/devices/dev0/driver')).toBe(false);
      expect(exists(t.k, `${BUS}/drivers/drv/dev0`)).toBe(false);
    },
  );

  it('bind of a driver whose probe defers fails EAGAIN (EPROBE_DEFER never reaches userspace)', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('drv', failingProbe('EPROBE_DEFER'));
    t.addDevice('dev0');
    expect(errnoOf(() => bind(t, 'drv', 'dev0'))).toBe('EAGAIN');
  });

  it('bind success returns count and makes drivers/X/NAME and NAME/driver, then KOBJ_BIND', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('drv');
    const dev = t.addDevice('dev0');
    t.events.length = 0;
    expect(bind(t, 'drv', 'dev0\n')).toBe(5);
    expect(dev.driver?.name).toBe('drv');
    expect(readlink(t.k, `${BUS}/drivers/drv/dev0`)).toBe('../../../../devices/dev0');
    expect(readlink(t.k, '/sys/devices/dev0/driver')).toBe('../../bus/testbus/drivers/drv');
    expect(sysfsRead(t.k, '/sys/devices/dev0/uevent')).toBe('DRIVER=drv\n');
    expect(t.events).toEqual(['bind /devices/dev0 DRIVER=drv']);
  });

  it('bind names are compared with sysfs_streq: one trailing newline, no more, no spaces', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('drv');
    t.addDevice('dev0');
    expect(errnoOf(() => bind(t, 'drv', 'dev0\n\n'))).toBe('ENODEV');
    expect(errnoOf(() => bind(t, 'drv', 'dev0 '))).toBe('ENODEV');
    expect(errnoOf(() => bind(t, 'drv', 'dev'))).toBe('ENODEV');
    expect(bind(t, 'drv', 'dev0')).toBe(4);
  });

  it('bind reads the name as a C string: bytes after a NUL are ignored', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('drv');
    t.addDevice('dev0');
    expect(bind(t, 'drv', 'dev0\0junk')).toBe(9);
  });

  it('bind goes on to probe when the bus match fails with an error (only 0 means no match)', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('drv');
    const dev = t.addDevice('dev0');
    t.match = () => -errnoNumber('EPROBE_DEFER');
    expect(bind(t, 'drv', 'dev0')).toBe(4);
    expect(dev.driver?.name).toBe('drv');
  });

  it('a failed probe logs "probe with driver X failed with error -N" at err; ENODEV only at debug', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('broken', failingProbe('EIO'));
    t.addDriver('rejects', failingProbe('ENODEV'));
    t.addDevice('dev0');
    errnoOf(() => bind(t, 'broken', 'dev0'));
    errnoOf(() => bind(t, 'rejects', 'dev0'));
    const msgs = t.k.log.records.filter((r) => r.text.includes('probe')).map((r) => `${r.level} ${r.text}`);
    expect(msgs).toEqual(['err broken dev0: probe with driver broken failed with error -5']);
  });
});

describe('unbind', () => {
  it('unbind of an unknown device name fails ENODEV', () => {
    const t = testBus();
    t.addDriver('drv');
    expect(errnoOf(() => unbind(t, 'drv', 'nosuch'))).toBe('ENODEV');
  });

  it('unbind of a device bound to another driver fails ENODEV and leaves it bound', () => {
    const t = testBus();
    t.addDriver('a');
    t.addDriver('b');
    const dev = t.addDevice('dev0');
    expect(errnoOf(() => unbind(t, 'b', 'dev0'))).toBe('ENODEV');
    expect(dev.driver?.name).toBe('a');
  });

  it('unbind of an unbound device fails ENODEV', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('a');
    t.addDevice('dev0');
    expect(errnoOf(() => unbind(t, 'a', 'dev0'))).toBe('ENODEV');
  });

  it('unbind success returns count, removes both links, calls remove() and sends KOBJ_UNBIND', () => {
    const t = testBus();
    const removed: string[] = [];
    t.addDriver('a', undefined, (d) => void removed.push(d.name));
    const dev = t.addDevice('dev0');
    t.events.length = 0;
    expect(unbind(t, 'a', 'dev0\n')).toBe(5);
    expect(dev.driver).toBeNull();
    expect(removed).toEqual(['dev0']);
    expect(exists(t.k, '/sys/devices/dev0/driver')).toBe(false);
    expect(exists(t.k, `${BUS}/drivers/a/dev0`)).toBe(false);
    expect(sysfsRead(t.k, '/sys/devices/dev0/uevent')).toBe('');
    expect(t.events).toEqual(['unbind /devices/dev0']);
  });

  it('unbind through the device\'s own driver link works (a write through a symlink)', () => {
    const t = testBus();
    t.addDriver('a');
    const dev = t.addDevice('dev0');
    expect(sysfsWrite(t.k, '/sys/devices/dev0/driver/unbind', 'dev0')).toBe(4);
    expect(dev.driver).toBeNull();
  });

  it('an unbind whose remove() sleeps: links go at once, the write completes when remove() does', () => {
    const t = testBus();
    const gate = new Completion<void>();
    t.addDriver('a', undefined, () => gate);
    const dev = t.addDevice('dev0');
    const w = unbind(t, 'a', 'dev0');
    expect(w).toBeInstanceOf(Completion);
    expect(exists(t.k, '/sys/devices/dev0/driver')).toBe(false);
    expect((w as Completion<number>).isDone).toBe(false);
    /* A second unbind waits for the same removal (device_lock) and then succeeds. */
    const w2 = unbind(t, 'a', 'dev0');
    expect(w2).toBeInstanceOf(Completion);
    gate.complete();
    expect((w as Completion<number>).isDone).toBe(true);
    expect((w2 as Completion<number>).isDone).toBe(true);
    expect(dev.driver).toBeNull();
    return Promise.all([(w as Completion<number>).toPromise(), (w2 as Completion<number>).toPromise()]).then((r) =>
      expect(r).toEqual([4, 4]),
    );
  });
});

describe('writes that meet a pending unbind (device_lock held across remove())', () => {
  const pending = () => {
    const t = testBus();
    const gate = new Completion<void>();
    t.addDriver('a', undefined, () => gate);
    t.addDriver('b');
    const dev = t.addDevice('dev0');
    const w = unbind(t, 'a', 'dev0') as Completion<number>;
    return { t, gate, dev, w };
  };

  it('bind waits for the unbind to finish, then binds the device', async () => {
    const { t, gate, dev } = pending();
    const b = bind(t, 'b', 'dev0');
    expect(b).toBeInstanceOf(Completion);
    expect((b as Completion<number>).isDone).toBe(false);
    gate.complete();
    expect(await (b as Completion<number>).toPromise()).toBe(4);
    expect(dev.driver?.name).toBe('b');
  });

  it('drivers_probe does not wait: dev->driver is still set, so it returns count and binds nothing', () => {
    const { t, gate, dev } = pending();
    expect(driversProbe(t, 'dev0')).toBe(4);
    gate.complete();
    expect(dev.driver).toBeNull();
  });
});

describe('drivers_probe', () => {
  it('drivers_probe of an unknown device name fails ENODEV', () => {
    const t = testBus();
    expect(errnoOf(() => driversProbe(t, 'nosuch'))).toBe('ENODEV');
  });

  it('drivers_probe of an already-bound device returns count and changes nothing', () => {
    const t = testBus();
    t.addDriver('a');
    t.addDriver('b');
    const dev = t.addDevice('dev0');
    dev.driverOverride = 'b';
    expect(driversProbe(t, 'dev0')).toBe(4);
    expect(dev.driver?.name).toBe('a');
  });

  it('drivers_probe when no driver binds returns count (no error)', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('broken', failingProbe('EIO'));
    const dev = t.addDevice('dev0');
    expect(driversProbe(t, 'dev0\n')).toBe(5);
    dev.driverOverride = 'nobody';
    expect(driversProbe(t, 'dev0')).toBe(4);
    expect(dev.driver).toBeNull();
  });

  it.each<[Errno]>([['EPROBE_DEFER'], ['EIO']])(
    'drivers_probe fails EINVAL when device_attach returns < 0 (bus match fails -%s)',
    (errno) => {
      const t = testBus();
      sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
      t.addDriver('a');
      const dev = t.addDevice('dev0');
      t.match = () => -errnoNumber(errno);
      expect(errnoOf(() => driversProbe(t, 'dev0'))).toBe('EINVAL');
      expect(dev.driver).toBeNull();
    },
  );

  it('drivers_probe binds an unbound device, trying drivers in registration order', () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    t.addDriver('broken', failingProbe('ENOMEM'));
    t.addDriver('good');
    const dev = t.addDevice('dev0');
    expect(driversProbe(t, 'dev0')).toBe(4);
    expect(dev.driver?.name).toBe('good');
  });
});

describe('driver_override (driver_set_override)', () => {
  const setup = () => {
    const t = testBus();
    sysfsWrite(t.k, `${BUS}/drivers_autoprobe`, '0');
    const dev = t.addDevice('dev0');
    const path = '/sys/devices/dev0/driver_override';
    return { t, dev, path, write: (v: string | Buffer) => sysfsWrite(t.k, path, v), read: () => sysfsRead(t.k, path) };
  };

  it('an unset override reads "(null)\\n"', () => {
    const { read } = setup();
    expect(read()).toBe('(null)\n');
  });

  it('the value ends at the first newline and reads back with one newline', () => {
    const { write, read } = setup();
    expect(write('virtio_vdpa\n')).toBe(12);
    expect(read()).toBe('virtio_vdpa\n');
    expect(write('a\nb')).toBe(3);
    expect(read()).toBe('a\n');
  });

  it('writing "\\n" clears it; so does a value that starts with a NUL', () => {
    const { write, read } = setup();
    write('x');
    expect(write('\n')).toBe(1);
    expect(read()).toBe('(null)\n');
    write('x');
    expect(write('\0junk')).toBe(5);
    expect(read()).toBe('(null)\n');
  });

  it('the name is not validated: "none" is a legitimate opt-out', () => {
    const { t, write, dev } = setup();
    t.addDriver('drv');
    expect(write('none')).toBe(4);
    expect(driversProbe(t, 'dev0')).toBe(4);
    expect(dev.driver).toBeNull();
  });

  it('count 4094 is accepted; 4095 and 4096 fail EINVAL (count >= PAGE_SIZE - 1)', () => {
    const { write, read } = setup();
    expect(write('a'.repeat(4094))).toBe(4094);
    expect(read()).toBe('a'.repeat(4094) + '\n');
    expect(write('b'.repeat(4093) + '\n')).toBe(4094);
    expect(read()).toBe('b'.repeat(4093) + '\n');
    expect(errnoOf(() => write('c'.repeat(4095)))).toBe('EINVAL');
    expect(errnoOf(() => write('c'.repeat(4094) + '\n'))).toBe('EINVAL');
    expect(errnoOf(() => write('c'.repeat(4096)))).toBe('EINVAL');
    expect(read()).toBe('b'.repeat(4093) + '\n');
  });

  it('a write longer than a page reaches the store as 4096 bytes, so it fails EINVAL too', () => {
    const { write } = setup();
    expect(errnoOf(() => write('d'.repeat(4097)))).toBe('EINVAL');
    expect(errnoOf(() => write('d'.repeat(70000)))).toBe('EINVAL');
  });

  it('the count limit is on the bytes written, before the NUL cut: 4095 bytes fail even if short as a string', () => {
    const { write } = setup();
    expect(errnoOf(() => write(Buffer.concat([Buffer.from('x\0'), Buffer.alloc(4093)])))).toBe('EINVAL');
  });

  it('setting an override neither unbinds nor reprobes', () => {
    const { t, dev, write } = setup();
    t.addDriver('a');
    t.addDriver('b');
    driversProbe(t, 'dev0');
    expect(dev.driver?.name).toBe('a');
    write('b');
    expect(dev.driver?.name).toBe('a');
    unbind(t, 'a', 'dev0');
    expect(dev.driver).toBeNull();
    driversProbe(t, 'dev0');
    expect(dev.driver?.name).toBe('b');
  });

  it('driverSetOverride rejects at the same boundary when called directly', () => {
    const { dev } = setup();
    expect(driverSetOverride(dev, Buffer.alloc(4094, 0x61))).toBe(4094);
    expect(errnoOf(() => driverSetOverride(dev, Buffer.alloc(4095, 0x61)))).toBe('EINVAL');
  });
});

describe('driver and device removal', () => {
  it('driver_unregister unbinds every device, last bound first, then removes the directory', () => {
    const t = testBus();
    const order: string[] = [];
    const drv = t.addDriver('a', undefined, (d) => void order.push(d.name));
    t.addDevice('dev0');
    t.addDevice('dev1');
    expect(driverUnregister(drv)).toBeUndefined();
    expect(order).toEqual(['dev1', 'dev0']);
    expect(exists(t.k, `${BUS}/drivers/a`)).toBe(false);
    expect(exists(t.k, '/sys/devices/dev0/driver')).toBe(false);
  });

  it('driver_unregister waits for a sleeping remove() before the directory goes', () => {
    const t = testBus();
    const gate = new Completion<void>();
    const drv = t.addDriver('a', undefined, () => gate);
    t.addDevice('dev0');
    const r = driverUnregister(drv);
    expect(r).toBeInstanceOf(Completion);
    expect(exists(t.k, `${BUS}/drivers/a`)).toBe(true);
    gate.complete();
    expect(exists(t.k, `${BUS}/drivers/a`)).toBe(false);
  });

  it('device_del of a bound device: KOBJ_UNBIND before KOBJ_REMOVE, then the directory and bus link go', () => {
    const t = testBus();
    t.addDriver('a');
    const dev = t.addDevice('dev0');
    t.events.length = 0;
    expect(deviceDel(dev)).toBeUndefined();
    expect(t.events).toEqual(['unbind /devices/dev0', 'remove /devices/dev0']);
    expect(exists(t.k, '/sys/devices/dev0')).toBe(false);
    expect(exists(t.k, `${BUS}/devices/dev0`)).toBe(false);
    expect(exists(t.k, `${BUS}/drivers/a/dev0`)).toBe(false);
  });
});

describe('uevents', () => {
  it('device add announces KOBJ_ADD then KOBJ_BIND; SEQNUM counts up and shows in uevent_seqnum', () => {
    const t = testBus();
    t.addDriver('a');
    const seen: string[] = [];
    t.k.uevents.subscribe((e) => seen.push(e.env.map(([k, v]) => `${k}=${v}`).join(' ')));
    const before = t.k.uevents.seqnum;
    t.addDevice('dev0');
    expect(seen).toEqual([
      `ACTION=add DEVPATH=/devices/dev0 SUBSYSTEM=testbus SEQNUM=${before + 1}`,
      `ACTION=bind DEVPATH=/devices/dev0 SUBSYSTEM=testbus DRIVER=a SEQNUM=${before + 2}`,
    ]);
    expect(sysfsRead(t.k, '/sys/kernel/uevent_seqnum')).toBe(`${before + 2}\n`);
  });

  it('writing an action to a device uevent file synthesizes that event; anything else is EINVAL', () => {
    const t = testBus();
    t.addDevice('dev0');
    t.events.length = 0;
    expect(sysfsWrite(t.k, '/sys/devices/dev0/uevent', 'change\n')).toBe(7);
    expect(t.events).toEqual(['change /devices/dev0']);
    expect(errnoOf(() => sysfsWrite(t.k, '/sys/devices/dev0/uevent', 'bogus'))).toBe('EINVAL');
  });

  it('a device with neither bus nor class is never announced and its uevent reads empty', () => {
    const t = testBus();
    const parent = t.addDevice('dev0');
    const child = new Device(t.k, 'child0');
    child.parent = parent;
    child.devt = { major: 250, minor: 3 };
    t.events.length = 0;
    deviceAdd(child);
    expect(t.events).toEqual([]);
    expect(sysfsRead(t.k, '/sys/devices/dev0/child0/uevent')).toBe('');
    expect(sysfsRead(t.k, '/sys/devices/dev0/child0/dev')).toBe('250:3\n');
    expect(readlink(t.k, '/sys/dev/char/250:3')).toBe('../../devices/dev0/child0');
    expect(exists(t.k, '/dev/child0')).toBe(true);
    deviceDel(child);
    expect(exists(t.k, '/sys/dev/char/250:3')).toBe(false);
    expect(exists(t.k, '/dev/child0')).toBe(false);
  });
});
