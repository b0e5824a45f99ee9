/*
 * The modules this kernel can load: modinfo's dependencies and lsmod's
 * sizes (typical x86-64 values, shown only by lsmod), with each module's
 * init and exit. Library modules with no state of their own (vhost_iotlb,
 * vringh, vhost, virtio_ring, failover...) have empty init/exit; they exist
 * so dependencies, refcounts and rmmod refusals behave as on a real host.
 */
import type { ModuleDef } from './module';
import { vdpaExit, vdpaInit } from '../drivers/vdpa/vdpa';
import { vdpasimNetExit, vdpasimNetInit } from '../drivers/vdpa/vdpa_sim/vdpa_sim_net';
import { vdpasimBlkExit, vdpasimBlkInit } from '../drivers/vdpa/vdpa_sim/vdpa_sim_blk';
import { vhostVdpaExit, vhostVdpaInit } from '../drivers/vhost/vdpa';
import { virtioExit, virtioInit } from '../drivers/virtio/virtio';
import { virtioVdpaExit, virtioVdpaInit } from '../drivers/virtio/virtio_vdpa';
import { virtioNetExit, virtioNetInit } from '../drivers/net/virtio_net';
import { virtioBlkExit, virtioBlkInit } from '../drivers/block/virtio_blk';

const library = (name: string, path: string, depends: string[], size: number, extra: Partial<ModuleDef> = {}): ModuleDef => ({
  name,
  path,
  depends,
  size,
  init: () => {},
  exit: () => {},
  ...extra,
});

/*
 * In modules.order (the order the kernel's Makefiles build them), which
 * breaks ties in depmod's sort. `depends` is what each module's exported-
 * symbol references resolve to in 6.12.19, in the order the module first
 * uses each: that is the holder graph. vhost_vdpa selects
 * IRQ_BYPASS_MANAGER and uses irq_bypass_register_producer(), so
 * irqbypass comes with it; virtio.c calls virtio_break_device() of
 * virtio_ring.c, so virtio holds virtio_ring and not the other way round.
 * Selected options that are built in on a distribution kernel (DIMLIB:
 * ETHTOOL_NETLINK selects it; VHOST_TASK, GENERIC_NET_UTILS, SG_POOL are
 * bool) have no module.
 */
export const MODULES: ModuleDef[] = [
  { name: 'virtio', path: 'kernel/drivers/virtio/virtio.ko', depends: ['virtio_ring'], size: 16384, init: virtioInit, exit: virtioExit },
  library('virtio_ring', 'kernel/drivers/virtio/virtio_ring.ko', [], 49152),
  {
    name: 'virtio_vdpa',
    path: 'kernel/drivers/virtio/virtio_vdpa.ko',
    depends: ['vdpa', 'virtio_ring', 'virtio'],
    size: 16384,
    version: '0.1',
    init: virtioVdpaInit,
    exit: virtioVdpaExit,
  },
  { name: 'vdpa', path: 'kernel/drivers/vdpa/vdpa.ko', depends: [], size: 36864, init: vdpaInit, exit: vdpaExit },
  library('vdpa_sim', 'kernel/drivers/vdpa/vdpa_sim/vdpa_sim.ko', ['vringh', 'vhost_iotlb', 'vdpa'], 20480, {
    version: '0.1',
    params: [
      { name: 'batch_mapping', type: 'int', perm: 0o444, value: 1 },
      { name: 'max_iotlb_entries', type: 'int', perm: 0o444, value: 2048 },
      { name: 'use_va', type: 'bool', perm: 0o444, value: true },
    ],
  }),
  {
    name: 'vdpa_sim_net',
    path: 'kernel/drivers/vdpa/vdpa_sim/vdpa_sim_net.ko',
    depends: ['vringh', 'vdpa_sim', 'vdpa'],
    size: 16384,
    version: '0.1',
    init: vdpasimNetInit,
    exit: vdpasimNetExit,
  },
  {
    name: 'vdpa_sim_blk',
    path: 'kernel/drivers/vdpa/vdpa_sim/vdpa_sim_blk.ko',
    depends: ['vringh', 'vdpa_sim', 'vdpa'],
    size: 16384,
    version: '0.1',
    params: [{ name: 'shared_backend', type: 'bool', perm: 0o444, value: false }],
    init: vdpasimBlkInit,
    exit: vdpasimBlkExit,
  },
  {
    name: 'virtio_blk',
    path: 'kernel/drivers/block/virtio_blk.ko',
    depends: ['virtio_ring', 'virtio'],
    size: 28672,
    params: [
      { name: 'num_request_queues', type: 'uint', perm: 0o644, value: 0 },
      { name: 'poll_queues', type: 'uint', perm: 0o644, value: 0 },
      { name: 'queue_depth', type: 'uint', perm: 0o444, value: 0 },
    ],
    init: virtioBlkInit,
    exit: virtioBlkExit,
  },
  {
    name: 'virtio_net',
    path: 'kernel/drivers/net/virtio_net.ko',
    depends: ['virtio_ring', 'virtio', 'net_failover'],
    size: 61440,
    params: [
      { name: 'napi_weight', type: 'int', perm: 0o444, value: 64 },
      { name: 'csum', type: 'bool', perm: 0o444, value: true },
      { name: 'gso', type: 'bool', perm: 0o444, value: true },
      { name: 'napi_tx', type: 'bool', perm: 0o644, value: true },
    ],
    init: virtioNetInit,
    exit: virtioNetExit,
  },
  library('net_failover', 'kernel/drivers/net/net_failover.ko', ['failover'], 20480),
  library('vringh', 'kernel/drivers/vhost/vringh.ko', ['vhost_iotlb'], 32768),
  {
    name: 'vhost_vdpa',
    path: 'kernel/drivers/vhost/vhost_vdpa.ko',
    depends: ['vhost_iotlb', 'irqbypass', 'vdpa', 'vhost'],
    size: 32768,
    version: '0.0.1',
    init: vhostVdpaInit,
    exit: vhostVdpaExit,
  },
  library('vhost', 'kernel/drivers/vhost/vhost.ko', ['vhost_iotlb'], 61440, {
    version: '0.0.1',
    params: [
      { name: 'max_mem_regions', type: 'ushort', perm: 0o444, value: 64 },
      { name: 'max_iotlb_entries', type: 'int', perm: 0o444, value: 2048 },
    ],
  }),
  library('vhost_iotlb', 'kernel/drivers/vhost/vhost_iotlb.ko', [], 16384, { version: '0.1' }),
  library('failover', 'kernel/net/core/failover.ko', [], 16384),
  library('irqbypass', 'kernel/virt/lib/irqbypass.ko', [], 12288),
];
