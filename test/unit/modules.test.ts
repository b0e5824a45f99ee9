/*
 * The module loader (kernel/module/): dependencies, holders and reference
 * counts, /sys/module/NAME, delete_module's refusals, and what loading and
 * unloading the vdpa modules does to devices.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel';
import { MODULES } from '../../src/kernel/modules';
import { KernelError } from '../../src/kernel/errno';
import type { ModuleDef } from '../../src/kernel/module';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { errnoOf, exists, ls, readlink, sysfsRead, sysfsWrite } from './sysfs_io';

function kernel(...modules: string[]): Kernel {
  const k = new Kernel(MODULES);
  for (const m of modules) k.modules.modprobe(m);
  return k;
}

function devAdd(k: Kernel, name: string): void {
  vdpaGenl(k, VdpaCmd.DEV_NEW, [
    ['VDPA_ATTR_DEV_NAME', name],
    ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
  ]);
}

/* The extack a failing call carries (kmod prints it after "rmmod: ERROR: "). */
function extackOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e.extack;
    throw e;
  }
  throw new Error('expected a KernelError');
}

describe('loading', () => {
  it('modprobe loads the dependencies first, in kmod\'s order (the modules.dep line read backwards), and only what is missing', () => {
    const k = kernel();
    expect(k.modules.modprobe('vhost_vdpa')).toEqual(['vdpa', 'vhost_iotlb', 'irqbypass', 'vhost', 'vhost_vdpa']);
    expect(k.modules.modprobe('vdpa_sim_net')).toEqual(['vringh', 'vdpa_sim', 'vdpa_sim_net']);
    expect(k.modules.modprobe('vdpa_sim_net')).toEqual([]);
  });

  it("module names treat '-' and '_' alike", () => {
    const k = kernel('vhost-vdpa');
    expect(k.modules.isLoaded('vhost_vdpa')).toBe(true);
    expect(exists(k, '/sys/module/vhost_vdpa')).toBe(true);
  });

  it('an unknown module fails ENOENT', () => {
    const k = kernel();
    expect(errnoOf(() => k.modules.modprobe('nosuch'))).toBe('ENOENT');
  });

  it('insmod of a loaded module fails EEXIST; without its dependencies ENOENT (unknown symbol)', () => {
    const k = kernel('vdpa');
    expect(errnoOf(() => k.modules.insmod('vdpa'))).toBe('EEXIST');
    expect(errnoOf(() => k.modules.insmod('vhost_vdpa'))).toBe('ENOENT');
    expect(exists(k, '/sys/module/vhost_vdpa')).toBe(false);
  });

  it('a module whose init fails is not left loaded and leaves no /sys/module entry or holder', () => {
    const defs: ModuleDef[] = [
      { name: 'base', depends: [], size: 4096, init: () => {}, exit: () => {} },
      {
        name: 'broken',
        depends: ['base'],
        size: 4096,
        init: () => {
          throw new KernelError('ENOMEM');
        },
        exit: () => {},
      },
    ];
    const k = new Kernel(defs);
    expect(errnoOf(() => k.modules.modprobe('broken'))).toBe('ENOMEM');
    expect(k.modules.isLoaded('broken')).toBe(false);
    expect(exists(k, '/sys/module/broken')).toBe(false);
    expect(ls(k, '/sys/module/base/holders')).toEqual([]);
    expect(sysfsRead(k, '/sys/module/base/refcnt')).toBe('0\n');
  });
});

describe('/sys/module/NAME', () => {
  it('refcnt counts holders, initstate is "live", holders/ links to each holder', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    expect(sysfsRead(k, '/sys/module/vdpa/initstate')).toBe('live\n');
    expect(sysfsRead(k, '/sys/module/vdpa/refcnt')).toBe('3\n');
    expect(ls(k, '/sys/module/vdpa/holders')).toEqual(['vdpa_sim', 'vdpa_sim_net', 'vhost_vdpa']);
    expect(readlink(k, '/sys/module/vdpa/holders/vhost_vdpa')).toBe('../../vhost_vdpa');
    expect(sysfsRead(k, '/sys/module/vhost_vdpa/refcnt')).toBe('0\n');
    expect(ls(k, '/sys/module/vhost_vdpa/holders')).toEqual([]);
  });

  it('a driver module has drivers/BUS:NAME and the driver has a module link back', () => {
    const k = kernel('vhost_vdpa', 'virtio_vdpa');
    expect(readlink(k, '/sys/bus/vdpa/drivers/vhost_vdpa/module')).toBe('../../../../module/vhost_vdpa');
    expect(readlink(k, '/sys/module/vhost_vdpa/drivers/vdpa:vhost_vdpa')).toBe('../../../bus/vdpa/drivers/vhost_vdpa');
    expect(readlink(k, '/sys/bus/vdpa/drivers/virtio_vdpa/module')).toBe('../../../../module/virtio_vdpa');
  });

  it('the module files are read-only except uevent (0200)', () => {
    const k = kernel('vdpa');
    for (const f of ['refcnt', 'initstate', 'coresize', 'initsize', 'taint']) {
      expect(k.fs.lookup(`/sys/module/vdpa/${f}`)!.mode).toBe(0o444);
    }
    expect(k.fs.lookup('/sys/module/vdpa/uevent')!.mode).toBe(0o200);
  });
});

describe('the module graph', () => {
  it('holders are the modules that use a module\'s exported symbols (ref_module)', () => {
    const k = kernel('vhost_vdpa', 'vdpa_sim_net', 'virtio_vdpa', 'virtio_net', 'virtio_blk');
    const holders = (m: string) => ls(k, `/sys/module/${m}/holders`);
    expect(holders('vdpa')).toEqual(['vdpa_sim', 'vdpa_sim_net', 'vhost_vdpa', 'virtio_vdpa']);
    expect(holders('vhost_iotlb')).toEqual(['vdpa_sim', 'vhost', 'vhost_vdpa', 'vringh']);
    expect(holders('vringh')).toEqual(['vdpa_sim', 'vdpa_sim_net']);
    expect(holders('vdpa_sim')).toEqual(['vdpa_sim_net']);
    expect(holders('vhost')).toEqual(['vhost_vdpa']);
    /* virtio.c calls virtio_break_device() of virtio_ring.c: virtio holds virtio_ring. */
    expect(holders('virtio_ring')).toEqual(['virtio', 'virtio_blk', 'virtio_net', 'virtio_vdpa']);
    expect(holders('virtio')).toEqual(['virtio_blk', 'virtio_net', 'virtio_vdpa']);
    expect(holders('net_failover')).toEqual(['virtio_net']);
    expect(holders('failover')).toEqual(['net_failover']);
    expect(sysfsRead(k, '/sys/module/virtio_ring/refcnt')).toBe('4\n');
  });

  it('vhost_vdpa selects IRQ_BYPASS_MANAGER: irqbypass is loaded with it and held by it', () => {
    const k = kernel('vhost_vdpa');
    expect(ls(k, '/sys/module/irqbypass/holders')).toEqual(['vhost_vdpa']);
    expect(sysfsRead(k, '/sys/module/irqbypass/refcnt')).toBe('1\n');
    expect(errnoOf(() => k.modules.rmmod('irqbypass'))).toBe('EBUSY');
  });

  it('sys/module/<m>/version and srcversion exist for modules that declare MODULE_VERSION, and only those', () => {
    const k = kernel('vhost_vdpa', 'vdpa_sim_blk', 'virtio_vdpa', 'virtio_net');
    const versions: Record<string, string> = {
      vdpa_sim: '0.1',
      vdpa_sim_blk: '0.1',
      vhost_vdpa: '0.0.1',
      vhost: '0.0.1',
      vhost_iotlb: '0.1',
      virtio_vdpa: '0.1',
    };
    for (const m of k.modules.list().map((x) => x.name)) {
      if (versions[m]) {
        expect(sysfsRead(k, `/sys/module/${m}/version`)).toBe(`${versions[m]}\n`);
        expect(sysfsRead(k, `/sys/module/${m}/srcversion`)).toMatch(/^[0-9A-F]{23}\n$/);
      } else {
        expect(exists(k, `/sys/module/${m}/version`), m).toBe(false);
        expect(exists(k, `/sys/module/${m}/srcversion`), m).toBe(false);
      }
    }
  });

  it('module parameters show as their param_ops print them, and only 0644 ones take writes, parsed by type', () => {
    const k = kernel('vdpa_sim', 'virtio_net', 'virtio_blk', 'vhost');
    expect(ls(k, '/sys/module/vdpa_sim/parameters')).toEqual(['batch_mapping', 'max_iotlb_entries', 'use_va']);
    expect(sysfsRead(k, '/sys/module/vdpa_sim/parameters/use_va')).toBe('Y\n');
    expect(sysfsRead(k, '/sys/module/vdpa_sim/parameters/max_iotlb_entries')).toBe('2048\n');
    expect(sysfsRead(k, '/sys/module/vhost/parameters/max_mem_regions')).toBe('64\n');
    expect(k.fs.lookup('/sys/module/vdpa_sim/parameters/use_va')!.mode).toBe(0o444);
    expect(errnoOf(() => sysfsWrite(k, '/sys/module/vdpa_sim/parameters/use_va', 'N'))).toBe('EACCES');
    sysfsWrite(k, '/sys/module/virtio_net/parameters/napi_tx', 'off\n');
    expect(sysfsRead(k, '/sys/module/virtio_net/parameters/napi_tx')).toBe('N\n');
    expect(errnoOf(() => sysfsWrite(k, '/sys/module/virtio_net/parameters/napi_tx', 'maybe'))).toBe('EINVAL');
    sysfsWrite(k, '/sys/module/virtio_blk/parameters/poll_queues', '0x2\n');
    expect(sysfsRead(k, '/sys/module/virtio_blk/parameters/poll_queues')).toBe('2\n');
    expect(errnoOf(() => sysfsWrite(k, '/sys/module/virtio_blk/parameters/poll_queues', '-1'))).toBe('EINVAL');
    expect(errnoOf(() => sysfsWrite(k, '/sys/module/virtio_blk/parameters/num_request_queues', '4294967296'))).toBe('ERANGE');
  });

  it('a module with no visible parameter has no parameters/ directory', () => {
    const k = kernel('vdpa', 'vhost_vdpa');
    expect(exists(k, '/sys/module/vdpa/parameters')).toBe(false);
    expect(exists(k, '/sys/module/vhost_vdpa/parameters')).toBe(false);
  });
});

describe('unloading', () => {
  it('rmmod of a module with holders fails EBUSY "Module X is in use by: ..."', () => {
    const k = kernel('vdpa', 'vhost_vdpa');
    expect(errnoOf(() => k.modules.rmmod('vdpa'))).toBe('EBUSY');
    expect(extackOf(() => k.modules.rmmod('vdpa'))).toBe('Module vdpa is in use by: vhost_vdpa');
    expect(k.modules.isLoaded('vdpa')).toBe(true);
  });

  it('rmmod of a module that is not loaded fails ENOENT "Module X is not currently loaded"', () => {
    const k = kernel();
    expect(errnoOf(() => k.modules.rmmod('vhost-vdpa'))).toBe('ENOENT');
    expect(extackOf(() => k.modules.rmmod('vhost-vdpa'))).toBe('Module vhost_vdpa is not currently loaded');
  });

  it('rmmod removes /sys/module/NAME and the holder link in each dependency', () => {
    const k = kernel('vhost_vdpa');
    k.modules.rmmod('vhost_vdpa');
    expect(exists(k, '/sys/module/vhost_vdpa')).toBe(false);
    expect(ls(k, '/sys/module/vdpa/holders')).toEqual([]);
    expect(sysfsRead(k, '/sys/module/vhost/refcnt')).toBe('0\n');
  });

  it('loading a driver module attaches it to the unbound devices; unloading it unbinds them', () => {
    const k = kernel('vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    devAdd(k, 'vdpa1');
    expect(exists(k, '/sys/devices/vdpa0/driver')).toBe(false);
    k.modules.modprobe('vhost_vdpa');
    expect(readlink(k, '/sys/devices/vdpa0/driver')).toBe('../../bus/vdpa/drivers/vhost_vdpa');
    expect(ls(k, '/dev')).toEqual(['vhost-vdpa-0', 'vhost-vdpa-1']);
    k.modules.rmmod('vhost_vdpa');
    expect(exists(k, '/sys/devices/vdpa0/driver')).toBe(false);
    expect(exists(k, '/sys/bus/vdpa/drivers/vhost_vdpa')).toBe(false);
    expect(ls(k, '/dev')).toEqual([]);
    expect(sysfsRead(k, '/sys/devices/vdpa1/uevent')).toBe('');
  });

  it('with drivers_autoprobe 0, loading a driver module attaches it to nothing', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    k.modules.rmmod('vhost_vdpa');
    sysfsWrite(k, '/sys/bus/vdpa/drivers_autoprobe', '0');
    k.modules.modprobe('vhost_vdpa');
    expect(exists(k, '/sys/devices/vdpa0/driver')).toBe(false);
  });

  it('unloading vdpa_sim_net deletes the devices it created and its management device', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    devAdd(k, 'vdpa1');
    k.modules.rmmod('vdpa_sim_net');
    expect(ls(k, '/sys/bus/vdpa/devices')).toEqual([]);
    expect(exists(k, '/sys/devices/vdpa0')).toBe(false);
    expect(exists(k, '/sys/devices/vdpasim_net')).toBe(false);
    expect(ls(k, '/sys/bus/vdpa/drivers/vhost_vdpa')).toEqual(['bind', 'module', 'uevent', 'unbind']);
    expect(ls(k, '/dev')).toEqual([]);
  });

  it('unloading everything in reverse order leaves no bus, no module and no device behind', () => {
    const k = kernel('vdpa', 'vhost_vdpa', 'virtio_vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    for (const m of ['vdpa_sim_net', 'vdpa_sim', 'virtio_vdpa', 'virtio', 'virtio_ring', 'vhost_vdpa', 'irqbypass', 'vhost', 'vringh', 'vhost_iotlb', 'vdpa']) {
      k.modules.rmmod(m);
    }
    expect(ls(k, '/sys/bus')).toEqual([]);
    expect(ls(k, '/sys/module')).toEqual([]);
    expect(ls(k, '/sys/devices')).toEqual([]);
    expect(ls(k, '/sys/dev/char')).toEqual([]);
    expect(ls(k, '/dev')).toEqual([]);
  });

  it('the char major is released with vhost_vdpa and allocated again on reload', () => {
    const k = kernel('vhost_vdpa', 'vdpa_sim_net');
    devAdd(k, 'vdpa0');
    const dev = sysfsRead(k, '/sys/devices/vdpa0/vhost-vdpa-0/dev');
    k.modules.rmmod('vhost_vdpa');
    k.modules.modprobe('vhost_vdpa');
    expect(sysfsRead(k, '/sys/devices/vdpa0/vhost-vdpa-0/dev')).toBe(dev);
  });
});
