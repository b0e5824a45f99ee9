/*
 * kernfs nodes and the sysfs open-file rules (fs/kernfs/, fs/sysfs/file.c),
 * with no kernel around them.
 */
import { describe, expect, it, vi } from 'vitest';
import { KernDir, KernfsRoot, KernLink, PAGE_SIZE } from '../../src/fs/kernfs';
import { fail } from '../../src/kernel/errno';
import { attr, roAttr, storeString, sysfsStreq } from '../../src/fs/sysfs';
import { errnoOf, sysfsRead, sysfsWrite } from './sysfs_io';

function tree() {
  const fs = new KernfsRoot();
  const sys = fs.root.mkdir('sys');
  const devices = sys.mkdir('devices');
  const bus = sys.mkdir('bus').mkdir('vdpa');
  return { fs, sys, devices, bus };
}

describe('kernfs nodes', () => {
  it('a path is computed from the parents, never stored', () => {
    const { devices } = tree();
    const d = devices.mkdir('vdpa0');
    expect(d.path()).toBe('/sys/devices/vdpa0');
    const p = d.mkdir('power');
    expect(p.path()).toBe('/sys/devices/vdpa0/power');
  });

  it('adding a duplicate name fails EEXIST (sysfs_warn_dup)', () => {
    const { devices } = tree();
    devices.mkdir('vdpa0');
    expect(errnoOf(() => devices.mkdir('vdpa0'))).toBe('EEXIST');
  });

  it('removing a directory removes everything below it at once (kernfs_remove)', () => {
    const { fs, devices } = tree();
    const d = devices.mkdir('vdpa0');
    const leaf = d.mkdir('vhost-vdpa-0').add(roAttr('dev', '254:0\n'));
    expect(leaf.attached).toBe(true);
    devices.remove('vdpa0');
    expect(fs.lookup('/sys/devices/vdpa0')).toBeUndefined();
    expect(fs.lookup('/sys/devices/vdpa0/vhost-vdpa-0/dev')).toBeUndefined();
    expect(leaf.attached).toBe(false);
  });

  it('removeNode leaves a same-named successor alone', () => {
    const { devices } = tree();
    const old = devices.mkdir('vdpa0');
    devices.remove('vdpa0');
    const fresh = devices.mkdir('vdpa0');
    devices.removeNode(old);
    expect(devices.get('vdpa0')).toBe(fresh);
  });

  it('dir() returns the existing shared directory instead of failing', () => {
    const { sys } = tree();
    const a = sys.dir('class');
    expect(sys.dir('class')).toBe(a);
  });

  it('symlinks read relative to the common ancestor, as sysfs makes them', () => {
    const { sys, devices, bus } = tree();
    const vdpa0 = devices.mkdir('vdpa0');
    const drv = bus.mkdir('drivers').mkdir('vhost_vdpa');
    expect(bus.mkdir('devices').symlink('vdpa0', vdpa0).readlink()).toBe('../../../devices/vdpa0');
    expect(vdpa0.symlink('driver', drv).readlink()).toBe('../../bus/vdpa/drivers/vhost_vdpa');
    expect(vdpa0.symlink('subsystem', bus).readlink()).toBe('../../bus/vdpa');
    expect(drv.symlink('vdpa0', vdpa0).readlink()).toBe('../../../../devices/vdpa0');
    const chr = sys.mkdir('dev').mkdir('char');
    const cdev = vdpa0.mkdir('vhost-vdpa-0');
    expect(chr.symlink('254:0', cdev).readlink()).toBe('../../devices/vdpa0/vhost-vdpa-0');
  });

  it('lookup does not follow symlinks (lstat semantics)', () => {
    const { fs, devices, bus } = tree();
    const vdpa0 = devices.mkdir('vdpa0');
    vdpa0.add(roAttr('uevent', ''));
    bus.symlink('vdpa0', vdpa0);
    expect(fs.lookup('/sys/bus/vdpa/vdpa0')).toBeInstanceOf(KernLink);
    expect(fs.lookup('/sys/bus/vdpa/vdpa0/uevent')).toBeUndefined();
    expect(fs.lookup('/sys/devices/vdpa0/uevent/x')).toBeUndefined();
    expect(fs.lookup('/')).toBe(fs.root);
    expect(fs.lookup('/sys/./devices')).toBeInstanceOf(KernDir);
  });
});

describe('sysfs attributes', () => {
  it('default modes: 0644 with show and store, 0444 show-only, 0200 store-only', () => {
    expect(attr('a', { show: () => '', store: (b) => b.length }).mode).toBe(0o644);
    expect(attr('b', { show: () => '' }).mode).toBe(0o444);
    expect(attr('c', { store: (b) => b.length }).mode).toBe(0o200);
    expect(attr('d', { store: (b) => b.length, show: () => '', mode: 0o600 }).mode).toBe(0o600);
  });

  it('sysfs reports st_size 4096 for every attribute', () => {
    expect(roAttr('x', 'a\n').size()).toBe(PAGE_SIZE);
  });

  it('reading a store-only attribute fails EACCES at open, even for root', () => {
    const { fs, bus } = tree();
    bus.add(attr('bind', { store: (b) => b.length }));
    expect(errnoOf(() => sysfsRead(fs, '/sys/bus/vdpa/bind'))).toBe('EACCES');
  });

  it('writing a read-only attribute fails EACCES at open', () => {
    const { fs, bus } = tree();
    bus.add(roAttr('dev', '254:0\n'));
    expect(errnoOf(() => sysfsWrite(fs, '/sys/bus/vdpa/dev', 'x'))).toBe('EACCES');
  });

  it('a chmod to 0444 makes an attribute with a store unwritable (the mode decides)', () => {
    const { fs, bus } = tree();
    const a = bus.add(attr('x', { show: () => '1\n', store: (b) => b.length }));
    a.mode = 0o444;
    expect(errnoOf(() => sysfsWrite(fs, '/sys/bus/vdpa/x', '1'))).toBe('EACCES');
    expect(sysfsRead(fs, '/sys/bus/vdpa/x')).toBe('1\n');
  });

  it('a 0-byte write returns 0 and never reaches store()', () => {
    const { fs, bus } = tree();
    const store = vi.fn((b: Buffer) => b.length);
    bus.add(attr('x', { store }));
    expect(sysfsWrite(fs, '/sys/bus/vdpa/x', '')).toBe(0);
    expect(store).not.toHaveBeenCalled();
  });

  it('a successful store returns count, which is what write() returns', () => {
    const { fs, bus } = tree();
    bus.add(attr('x', { store: (b) => b.length }));
    expect(sysfsWrite(fs, '/sys/bus/vdpa/x', 'vdpa0\n')).toBe(6);
  });

  it('a write longer than a page reaches store() cut to PAGE_SIZE (no atomic_write_len, so no E2BIG)', () => {
    const { fs, bus } = tree();
    const seen: number[] = [];
    bus.add(attr('x', { store: (b) => (seen.push(b.length), b.length) }));
    expect(sysfsWrite(fs, '/sys/bus/vdpa/x', Buffer.alloc(5000, 0x31))).toBe(PAGE_SIZE);
    expect(sysfsWrite(fs, '/sys/bus/vdpa/x', Buffer.alloc(PAGE_SIZE, 0x31))).toBe(PAGE_SIZE);
    expect(seen).toEqual([PAGE_SIZE, PAGE_SIZE]);
  });

  it("a store's error is the write's error", () => {
    const { fs, bus } = tree();
    bus.add(attr('y', { store: () => fail('ENODEV') }));
    expect(errnoOf(() => sysfsWrite(fs, '/sys/bus/vdpa/y', 'x'))).toBe('ENODEV');
  });

  it("store() gets its own copy of the writer's bytes", () => {
    const { fs, bus } = tree();
    let kept: Buffer | null = null;
    bus.add(attr('x', { store: (b) => ((kept = b), b.length) }));
    const src = Buffer.from('vdpa0');
    sysfsWrite(fs, '/sys/bus/vdpa/x', src);
    src.fill(0);
    expect(kept!.toString()).toBe('vdpa0');
  });

  it('show() runs once per read from position 0; later reads page through that snapshot', () => {
    const { bus } = tree();
    let n = 0;
    const a = bus.add(attr('x', { show: () => `${++n}${'.'.repeat(10)}\n` }));
    const f = a.open({ read: true, write: false, nonblock: false });
    const buf = Buffer.alloc(4);
    expect(f.read(buf, 0)).toBe(4);
    expect(buf.toString()).toBe('1...');
    expect(f.read(buf, 4)).toBe(4);
    expect(f.read(buf, 8)).toBe(4);
    expect(f.read(buf, 12)).toBe(0);
    expect(n).toBe(1);
    expect(f.read(buf, 0)).toBe(4);
    expect(buf.toString()).toBe('2...');
  });

  it('show() output is cut to one page', () => {
    const { fs, bus } = tree();
    bus.add(roAttr('big', 'x'.repeat(PAGE_SIZE + 100)));
    expect(sysfsRead(fs, '/sys/bus/vdpa/big').length).toBe(PAGE_SIZE);
  });

  it('a show() that fails makes read() fail with its errno', () => {
    const { fs, bus } = tree();
    bus.add(
      attr('autosuspend_delay_ms', {
        show: () => fail('EIO'),
        store: (b) => b.length,
      }),
    );
    expect(errnoOf(() => sysfsRead(fs, '/sys/bus/vdpa/autosuspend_delay_ms'))).toBe('EIO');
  });

  it('O_TRUNC is accepted and does nothing (echo x > attr)', () => {
    const { bus } = tree();
    const a = bus.add(attr('x', { show: () => 'v\n', store: (b) => b.length }));
    const f = a.open({ read: false, write: true, nonblock: false });
    expect(() => f.truncate?.(0)).not.toThrow();
  });
});

describe('sysfs string helpers', () => {
  it('sysfs_streq tolerates one trailing newline on either side, not two', () => {
    expect(sysfsStreq('vdpa0', 'vdpa0\n')).toBe(true);
    expect(sysfsStreq('vdpa0\n', 'vdpa0')).toBe(true);
    expect(sysfsStreq('vdpa0', 'vdpa0')).toBe(true);
    expect(sysfsStreq('vdpa0', 'vdpa0\n\n')).toBe(false);
    expect(sysfsStreq('vdpa0', ' vdpa0')).toBe(false);
    expect(sysfsStreq('vdpa0', 'vdpa0 ')).toBe(false);
    expect(sysfsStreq('vdpa0', 'vdpa')).toBe(false);
  });

  it('a store sees the bytes as a C string: an embedded NUL ends it', () => {
    expect(storeString(Buffer.from('vdpa0\0garbage'))).toBe('vdpa0');
    expect(storeString(Buffer.from('vdpa0\n'))).toBe('vdpa0\n');
  });
});
