/*
 * drivers/vdpa/vdpa_sim/vdpa_sim_blk.c: a 128 MiB ramdisk behind one
 * virtqueue, and its management device `vdpasim_blk`.
 */
import { MaybeWait, after } from '../../../kernel/completion';
import type { Kernel } from '../../../kernel/kernel';
import { Device, deviceRegister, deviceUnregister } from '../../base/core';
import { VIRTIO_ID_BLOCK } from '../../../include/uapi/vdpa';
import { BIT } from '../../../include/uapi/virtio_config';
import {
  VIRTIO_BLK_CFG,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_TOPOLOGY,
  VIRTIO_BLK_F_WRITE_ZEROES,
} from '../../../include/uapi/virtio_blk';
import {
  VdpaDevice,
  VdpaMgmtDev,
  vdpaMgmtdevRegister,
  vdpaMgmtdevUnregister,
  vdpaRegisterDevice,
  vdpaUnregisterDevice,
} from '../vdpa';
import { Vdpasim, VDPASIM_FEATURES, VdpasimDevAttr } from './vdpa_sim';
import { vdpasimBlkWork, VdpasimBlkState } from './vdpa_sim_blk_datapath';

export const VDPASIM_BLK_FEATURES =
  VDPASIM_FEATURES |
  BIT(VIRTIO_BLK_F_SIZE_MAX) |
  BIT(VIRTIO_BLK_F_SEG_MAX) |
  BIT(VIRTIO_BLK_F_BLK_SIZE) |
  BIT(VIRTIO_BLK_F_FLUSH) |
  BIT(VIRTIO_BLK_F_TOPOLOGY) |
  BIT(VIRTIO_BLK_F_MQ) |
  BIT(VIRTIO_BLK_F_DISCARD) |
  BIT(VIRTIO_BLK_F_WRITE_ZEROES);

export const VDPASIM_BLK_CAPACITY = 0x40000; /* sectors: 128 MiB */
export const VDPASIM_BLK_SIZE_MAX = 0x1000;
export const VDPASIM_BLK_SEG_MAX = 32;
export const VDPASIM_BLK_DWZ_MAX_SECTORS = 0xffffffff;
export const SECTOR_SIZE = 512;
const VDPASIM_BLK_VQ_NUM = 1;

/* vdpasim_blk_get_config() */
function blkGetConfig(sim: Vdpasim): void {
  const c = sim.config;
  c.writeBigUInt64LE(BigInt(VDPASIM_BLK_CAPACITY), VIRTIO_BLK_CFG.CAPACITY);
  c.writeUInt32LE(VDPASIM_BLK_SIZE_MAX, VIRTIO_BLK_CFG.SIZE_MAX);
  c.writeUInt32LE(VDPASIM_BLK_SEG_MAX, VIRTIO_BLK_CFG.SEG_MAX);
  c.writeUInt32LE(SECTOR_SIZE, VIRTIO_BLK_CFG.BLK_SIZE);
  c.writeUInt16LE(1, VIRTIO_BLK_CFG.MIN_IO_SIZE);
  c.writeUInt32LE(1, VIRTIO_BLK_CFG.OPT_IO_SIZE);
  c.writeUInt16LE(VDPASIM_BLK_VQ_NUM, VIRTIO_BLK_CFG.NUM_QUEUES);
  c.writeUInt32LE(VDPASIM_BLK_DWZ_MAX_SECTORS, VIRTIO_BLK_CFG.MAX_DISCARD_SECTORS);
  c.writeUInt32LE(1, VIRTIO_BLK_CFG.MAX_DISCARD_SEG);
  c.writeUInt32LE(SECTOR_SIZE, VIRTIO_BLK_CFG.DISCARD_SECTOR_ALIGNMENT);
  c.writeUInt32LE(VDPASIM_BLK_DWZ_MAX_SECTORS, VIRTIO_BLK_CFG.MAX_WRITE_ZEROES_SECTORS);
  c.writeUInt32LE(1, VIRTIO_BLK_CFG.MAX_WRITE_ZEROES_SEG);
}

const blkDevAttr: VdpasimDevAttr = {
  id: VIRTIO_ID_BLOCK,
  supportedFeatures: VDPASIM_BLK_FEATURES,
  nvqs: VDPASIM_BLK_VQ_NUM,
  ngroups: 1,
  nas: 1,
  configSize: VIRTIO_BLK_CFG.SIZE,
  getConfig: blkGetConfig,
  work: vdpasimBlkWork,
};

interface BlkMgmt {
  mgmt: VdpaMgmtDev;
}

export function vdpasimBlkInit(k: Kernel): void {
  const dev = new Device(k, 'vdpasim_blk');
  deviceRegister(dev);
  const mgmt: VdpaMgmtDev = {
    device: dev,
    busName: null,
    classes: [VIRTIO_ID_BLOCK],
    configAttrMask: new Set(),
    maxSupportedVqs: 0,
    supportedFeatures: 0n,
    devAdd: (name) => {
      const sim = new Vdpasim(k, name, blkDevAttr);
      sim.priv = new VdpasimBlkState(VDPASIM_BLK_CAPACITY * SECTOR_SIZE);
      sim.vdev.mdev = mgmt;
      vdpaRegisterDevice(sim.vdev);
    },
    devDel: (vdev: VdpaDevice) => vdpaUnregisterDevice(vdev),
  };
  vdpaMgmtdevRegister(k, mgmt);
  k.global<BlkMgmt>('vdpa_sim_blk', () => ({ mgmt }));
}

export function vdpasimBlkExit(k: Kernel): MaybeWait<void> {
  const { mgmt } = k.peekGlobal<BlkMgmt>('vdpa_sim_blk')!;
  return after(vdpaMgmtdevUnregister(k, mgmt), () => {
    k.dropGlobal('vdpa_sim_blk');
    return deviceUnregister(mgmt.device);
  });
}
