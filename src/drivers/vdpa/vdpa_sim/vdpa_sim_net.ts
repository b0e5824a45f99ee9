/*
 * drivers/vdpa/vdpa_sim/vdpa_sim_net.c: the loopback network device and
 * its management device `vdpasim_net`.
 */
import { MaybeWait, after } from '../../../kernel/completion';
import type { Kernel } from '../../../kernel/kernel';
import { Device, deviceRegister, deviceUnregister } from '../../base/core';
import { VIRTIO_ID_NET } from '../../../include/uapi/vdpa';
import { BIT } from '../../../include/uapi/virtio_config';
import {
  VIRTIO_NET_CFG,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_S_LINK_UP,
} from '../../../include/uapi/virtio_net';
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

export const VDPASIM_NET_FEATURES =
  VDPASIM_FEATURES |
  BIT(VIRTIO_NET_F_MTU) |
  BIT(VIRTIO_NET_F_MAC) |
  BIT(VIRTIO_NET_F_STATUS) |
  BIT(VIRTIO_NET_F_CTRL_VQ) |
  BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);

export const VDPASIM_NET_VQ_NUM = 3;
const VDPASIM_NET_AS_NUM = 2;
const VDPASIM_NET_GROUP_NUM = 2;

/* The first 24 bytes of struct virtio_net_config are what the sim exposes. */
const VDPASIM_NET_CONFIG_SIZE = 24;

/* vdpasim_net_get_config(): status is refreshed on every read. */
function netGetConfig(sim: Vdpasim): void {
  sim.config.writeUInt16LE(VIRTIO_NET_S_LINK_UP, VIRTIO_NET_CFG.STATUS);
}

/* vdpasim_net_setup_config(): the MAC given, else zeros; the MTU given, else 1500. */
function netSetupConfig(sim: Vdpasim, config: VdpaDevSetConfig): void {
  if (config.mask.has(VDPA_ATTR_DEV_NET_CFG_MACADDR) && config.mac) config.mac.copy(sim.config, VIRTIO_NET_CFG.MAC);
  const mtu = config.mask.has(VDPA_ATTR_DEV_NET_CFG_MTU) && config.mtu !== undefined ? config.mtu : 1500;
  sim.config.writeUInt16LE(mtu, VIRTIO_NET_CFG.MTU);
}

function netDevAttr(supportedFeatures: bigint): VdpasimDevAttr {
  return {
    id: VIRTIO_ID_NET,
    supportedFeatures,
    nvqs: VDPASIM_NET_VQ_NUM,
    ngroups: VDPASIM_NET_GROUP_NUM,
    nas: VDPASIM_NET_AS_NUM,
    configSize: VDPASIM_NET_CONFIG_SIZE,
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
      if (config.mac) config.mac.copy((vdev.config as Vdpasim).config, VIRTIO_NET_CFG.MAC);
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
