/*
 * drivers/vdpa/vdpa_sim/vdpa_sim_net.c: the loopback network device and
 * its management device `vdpasim_net`.
 */
import { MaybeWait, after } from '../../../kernel/completion';
import type { Kernel } from '../../../kernel/kernel';
import { Device, deviceRegister, deviceUnregister } from '../../base/core';
import { VIRTIO_ID_NET } from '../../../include/uapi/vdpa';
import {
  VdpaDevice,
  VdpaDevSetConfig,
  VdpaMgmtDev,
  vdpaMgmtdevRegister,
  vdpaMgmtdevUnregister,
  vdpaRegisterDevice,
  vdpaUnregisterDevice,
} from '../vdpa';
import { VDPA_ATTR_DEV_FEATURES, VDPA_ATTR_DEV_NET_CFG_MACADDR, VDPA_ATTR_DEV_NET_CFG_MTU } from '../vdpa_netlink';
import { fail } from '../../../kernel/errno';
import { Vdpasim, VDPASIM_FEATURES, VdpasimDevAttr } from './vdpa_sim';
import { vdpasimNetWork, vdpasimNetStats, VdpasimNetState } from './vdpa_sim_net_datapath';

export const VIRTIO_NET_F_MTU = 3n;
export const VIRTIO_NET_F_MAC = 5n;
export const VIRTIO_NET_F_STATUS = 16n;
export const VIRTIO_NET_F_CTRL_VQ = 17n;
export const VIRTIO_NET_F_CTRL_MAC_ADDR = 23n;
export const VIRTIO_NET_S_LINK_UP = 1;

export const VDPASIM_NET_FEATURES =
  VDPASIM_FEATURES |
  (1n << VIRTIO_NET_F_MTU) |
  (1n << VIRTIO_NET_F_MAC) |
  (1n << VIRTIO_NET_F_STATUS) |
  (1n << VIRTIO_NET_F_CTRL_VQ) |
  (1n << VIRTIO_NET_F_CTRL_MAC_ADDR);

export const VDPASIM_NET_VQ_NUM = 3;
const VDPASIM_NET_AS_NUM = 2;
const VDPASIM_NET_GROUP_NUM = 2;

/* struct virtio_net_config, the 24 bytes the sim exposes. */
export const NET_CFG = { MAC: 0, STATUS: 6, MAX_VQ_PAIRS: 8, MTU: 10, SIZE: 24 } as const;

/* vdpasim_net_get_config(): status is refreshed on every read. */
function netGetConfig(sim: Vdpasim): void {
  sim.config.writeUInt16LE(VIRTIO_NET_S_LINK_UP, NET_CFG.STATUS);
}

/* vdpasim_net_setup_config(): the MAC given, else zeros; the MTU given, else 1500. */
function netSetupConfig(sim: Vdpasim, config: VdpaDevSetConfig): void {
  if (config.mask.has(VDPA_ATTR_DEV_NET_CFG_MACADDR) && config.mac) config.mac.copy(sim.config, NET_CFG.MAC);
  const mtu = config.mask.has(VDPA_ATTR_DEV_NET_CFG_MTU) && config.mtu !== undefined ? config.mtu : 1500;
  sim.config.writeUInt16LE(mtu, NET_CFG.MTU);
}

export function netMac(sim: Vdpasim): Buffer {
  return sim.config.subarray(NET_CFG.MAC, NET_CFG.MAC + 6);
}

function netDevAttr(supportedFeatures: bigint): VdpasimDevAttr {
  return {
    id: VIRTIO_ID_NET,
    supportedFeatures,
    nvqs: VDPASIM_NET_VQ_NUM,
    ngroups: VDPASIM_NET_GROUP_NUM,
    nas: VDPASIM_NET_AS_NUM,
    configSize: NET_CFG.SIZE,
    getConfig: netGetConfig,
    work: vdpasimNetWork,
    getStats: vdpasimNetStats,
    /* The control vq sits in its own group so it can get its own ASID. */
    vqGroup: (idx) => (idx === 2 ? 1 : 0),
  };
}

interface NetMgmt {
  mgmt: VdpaMgmtDev;
}

export function vdpasimNetInit(k: Kernel): void {
  const dev = new Device(k, 'vdpasim_net');
  deviceRegister(dev);
  const mgmt: VdpaMgmtDev = {
    device: dev,
    busName: null,
    classes: [VIRTIO_ID_NET],
    configAttrMask: new Set([VDPA_ATTR_DEV_NET_CFG_MACADDR, VDPA_ATTR_DEV_NET_CFG_MTU, VDPA_ATTR_DEV_FEATURES]),
    maxSupportedVqs: VDPASIM_NET_VQ_NUM,
    supportedFeatures: VDPASIM_NET_FEATURES,
    devAdd: (name, config) => {
      /* vdpasim_create(): device_features must be a subset of what the sim has. */
      let features = VDPASIM_NET_FEATURES;
      if (config.mask.has(VDPA_ATTR_DEV_FEATURES) && config.deviceFeatures !== undefined) {
        if (config.deviceFeatures & ~VDPASIM_NET_FEATURES) fail('EINVAL');
        features = config.deviceFeatures;
      }
      const sim = new Vdpasim(k, name, netDevAttr(features));
      sim.priv = new VdpasimNetState();
      netSetupConfig(sim, config);
      sim.vdev.mdev = mgmt;
      vdpaRegisterDevice(sim.vdev);
    },
    devDel: (vdev: VdpaDevice) => vdpaUnregisterDevice(vdev),
    /* vdpasim_net_set_attr(): the MAC, under the config lock. */
    devSetAttr: (vdev, config) => {
      if (config.mac) config.mac.copy((vdev.config as Vdpasim).config, NET_CFG.MAC);
    },
  };
  vdpaMgmtdevRegister(k, mgmt);
  k.global<NetMgmt>('vdpa_sim_net', () => ({ mgmt }));
}

export function vdpasimNetExit(k: Kernel): MaybeWait<void> {
  const { mgmt } = k.peekGlobal<NetMgmt>('vdpa_sim_net')!;
  return after(vdpaMgmtdevUnregister(k, mgmt), () => {
    k.dropGlobal('vdpa_sim_net');
    return deviceUnregister(mgmt.device);
  });
}
