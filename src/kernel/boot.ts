/*
 * Booting a kernel: bare (no vdpa module loaded), or to the state of the
 * classic walkthrough: `modprobe vdpa vhost_vdpa vdpa_sim_net`, then
 * `vdpa dev add name vdpa0 mgmtdev vdpasim_net`, which binds to vhost_vdpa
 * and makes /dev/vhost-vdpa-0.
 */
import { Kernel, KERNEL_RELEASE } from './kernel';
import { MODULES } from './modules';
import { vdpaGenl } from '../drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../include/uapi/vdpa';

export interface BootOptions {
  bare?: boolean;
}

export function bootKernel(opts: BootOptions = {}): Kernel {
  const k = new Kernel(MODULES);
  k.log.kmsg('notice', `Linux version ${KERNEL_RELEASE} (vdpafs simulated kernel)`);
  if (opts.bare) return k;
  for (const m of ['vdpa', 'vhost_vdpa', 'vdpa_sim', 'vdpa_sim_net']) k.modules.modprobe(m);
  vdpaGenl(k, VdpaCmd.DEV_NEW, [
    ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
    ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
  ]);
  return k;
}
