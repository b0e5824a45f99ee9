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

const library = (name: string, depends: string[], size: number): ModuleDef => ({
  name,
  depends,
  size,
  init: () => {},
  exit: () => {},
});

export const MODULES: ModuleDef[] = [
  library('vhost_iotlb', [], 16384),
  library('vhost', ['vhost_iotlb'], 61440),
  library('vringh', ['vhost_iotlb'], 32768),
  { name: 'vdpa', depends: [], size: 36864, init: vdpaInit, exit: vdpaExit },
  { name: 'vhost_vdpa', depends: ['vdpa', 'vhost', 'vhost_iotlb'], size: 32768, init: vhostVdpaInit, exit: vhostVdpaExit },
  { name: 'virtio', depends: [], size: 16384, init: virtioInit, exit: virtioExit },
  library('virtio_ring', ['virtio'], 49152),
  { name: 'virtio_vdpa', depends: ['vdpa', 'virtio', 'virtio_ring'], size: 16384, init: virtioVdpaInit, exit: virtioVdpaExit },
  library('failover', [], 16384),
  library('net_failover', ['failover'], 20480),
  { name: 'virtio_net', depends: ['virtio', 'virtio_ring', 'net_failover'], size: 61440, init: virtioNetInit, exit: virtioNetExit },
  { name: 'virtio_blk', depends: ['virtio', 'virtio_ring'], size: 28672, init: virtioBlkInit, exit: virtioBlkExit },
  library('vdpa_sim', ['vdpa', 'vringh', 'vhost_iotlb'], 20480),
  { name: 'vdpa_sim_net', depends: ['vdpa_sim', 'vdpa', 'vringh'], size: 16384, init: vdpasimNetInit, exit: vdpasimNetExit },
  { name: 'vdpa_sim_blk', depends: ['vdpa_sim', 'vdpa', 'vringh'], size: 16384, init: vdpasimBlkInit, exit: vdpasimBlkExit },
];
