/*
 * drivers/vdpa/vdpa_sim/vdpa_sim_blk.c: a 128 MiB ramdisk behind one
 * virtqueue, and its management device `vdpasim_blk`.
 */
import { MaybeWait, after } from '../../../kernel/completion';
import type { Kernel } from '../../../kernel/kernel';
import { Device, deviceRegister, deviceUnregister } from '../../base/core';
import { VIRTIO_ID_BLOCK } from '../../../include/uapi/vdpa';
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

const bit = (n: number) => 1n << BigInt(n);
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_TOPOLOGY = 10;
export const VIRTIO_BLK_F_MQ = 12;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

export const VDPASIM_BLK_FEATURES =
  VDPASIM_FEATURES |
  bit(VIRTIO_BLK_F_SIZE_MAX) |
  bit(VIRTIO_BLK_F_SEG_MAX) |
  bit(VIRTIO_BLK_F_BLK_SIZE) |
  bit(VIRTIO_BLK_F_FLUSH) |
  bit(VIRTIO_BLK_F_TOPOLOGY) |
  bit(VIRTIO_BLK_F_MQ) |
  bit(VIRTIO_BLK_F_DISCARD) |
  bit(VIRTIO_BLK_F_WRITE_ZEROES);

export const VDPASIM_BLK_CAPACITY = 0x40000; /* sectors: 128 MiB */
export const VDPASIM_BLK_SIZE_MAX = 0x1000;
export const VDPASIM_BLK_SEG_MAX = 32;
export const VDPASIM_BLK_DWZ_MAX_SECTORS = 0xffffffff;
export const SECTOR_SIZE = 512;
const VDPASIM_BLK_VQ_NUM = 1;

/*
 * struct virtio_blk_config with the secure-erase and zoned fields of
 * current kernels: 96 bytes.
 */
export const BLK_CFG = {
  CAPACITY: 0,
  SIZE_MAX: 8,
  SEG_MAX: 12,
  BLK_SIZE: 20,
  PHYSICAL_BLOCK_EXP: 24,
  ALIGNMENT_OFFSET: 25,
  MIN_IO_SIZE: 26,
  OPT_IO_SIZE: 28,
  NUM_QUEUES: 34,
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  SIZE: 96,
} as const;

/* vdpasim_blk_get_config() */
function blkGetConfig(sim: Vdpasim): void {
  const c = sim.config;
  c.writeBigUInt64LE(BigInt(VDPASIM_BLK_CAPACITY), BLK_CFG.CAPACITY);
  c.writeUInt32LE(VDPASIM_BLK_SIZE_MAX, BLK_CFG.SIZE_MAX);
  c.writeUInt32LE(VDPASIM_BLK_SEG_MAX, BLK_CFG.SEG_MAX);
  c.writeUInt32LE(SECTOR_SIZE, BLK_CFG.BLK_SIZE);
  c.writeUInt16LE(1, BLK_CFG.MIN_IO_SIZE);
  c.writeUInt32LE(1, BLK_CFG.OPT_IO_SIZE);
  c.writeUInt16LE(VDPASIM_BLK_VQ_NUM, BLK_CFG.NUM_QUEUES);
  c.writeUInt32LE(VDPASIM_BLK_DWZ_MAX_SECTORS, BLK_CFG.MAX_DISCARD_SECTORS);
  c.writeUInt32LE(1, BLK_CFG.MAX_DISCARD_SEG);
  c.writeUInt32LE(SECTOR_SIZE, BLK_CFG.DISCARD_SECTOR_ALIGNMENT);
  c.writeUInt32LE(VDPASIM_BLK_DWZ_MAX_SECTORS, BLK_CFG.MAX_WRITE_ZEROES_SECTORS);
  c.writeUInt32LE(1, BLK_CFG.MAX_WRITE_ZEROES_SEG);
}

const blkDevAttr: VdpasimDevAttr = {
  id: VIRTIO_ID_BLOCK,
  supportedFeatures: VDPASIM_BLK_FEATURES,
  nvqs: VDPASIM_BLK_VQ_NUM,
  ngroups: 1,
  nas: 1,
  configSize: BLK_CFG.SIZE,
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
