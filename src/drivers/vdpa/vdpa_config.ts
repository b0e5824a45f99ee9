/*
 * include/linux/vdpa.h: struct vdpa_config_ops, the interface every vdpa
 * parent driver (here vdpa_sim) implements and every bus driver (vhost_vdpa,
 * virtio_vdpa) calls. Features are bigints (virtio has more than 53 bits).
 */
import type { VhostIotlb } from '../vhost/iotlb';
import type { UserMm } from '../../mm/user_mm';

/* vdpa_reset() flag: clean the IOTLB maps (include/linux/vdpa.h). */
export const VDPA_RESET_F_CLEAN_MAP = 1;

export interface VdpaVqState {
  /* Split rings: the next avail index the device will read. */
  availIndex: number;
}

/* A vq's interrupt callback (struct vdpa_callback). */
export type VdpaCallback = (() => void) | null;

export interface VdpaConfigOps {
  /* Virtqueue ops */
  setVqAddress(idx: number, descArea: bigint, driverArea: bigint, deviceArea: bigint): void;
  setVqNum(idx: number, num: number): void;
  kickVq(idx: number): void;
  setVqCb(idx: number, cb: VdpaCallback): void;
  setVqReady(idx: number, ready: boolean): void;
  getVqReady(idx: number): boolean;
  setVqState(idx: number, state: VdpaVqState): void;
  getVqState(idx: number): VdpaVqState;
  getVqGroup(idx: number): number;
  getVqSize?(idx: number): number;
  getVendorVqStats?(idx: number): Array<[string, bigint]>;

  /* Device ops */
  getVqAlign(): number;
  getDeviceFeatures(): bigint;
  setDriverFeatures(features: bigint): void;
  getDriverFeatures(): bigint;
  setConfigCb(cb: VdpaCallback): void;
  getVqNumMax(): number;
  getVqNumMin(): number;
  getDeviceId(): number;
  getVendorId(): number;
  getStatus(): number;
  setStatus(status: number): void;
  reset(): void;
  /* vdpa_reset(vdev, flags) with flags: VDPA_RESET_F_CLEAN_MAP also drops the maps. */
  compatReset?(flags: number): void;
  suspend?(): void;
  resume?(): void;
  getConfigSize(): number;
  getConfig(offset: number, len: number): Buffer;
  setConfig(offset: number, buf: Buffer): void;
  getGeneration(): number;
  getIovaRange(): { first: bigint; last: bigint };

  /* DMA ops: the device's view of memory per address space. */
  setGroupAsid(group: number, asid: number): void;
  setMap(asid: number, iotlb: VhostIotlb): void;
  /* Give an address space back its default (identity) map. */
  resetMap?(asid: number): void;
  /*
   * The vhost owner's memory, what IOTLB addresses point into. (Upstream
   * calls bind_mm only with use_va; the model, running vdpa_sim as with
   * use_va=0, uses it to hand the device the pages vhost-vdpa pins.)
   */
  bindMm?(mm: UserMm): void;
  unbindMm?(): void;
  /* Backend features the parent adds (vdpa_sim: ENABLE_AFTER_DRIVER_OK). */
  getBackendFeatures?(): bigint;
  /* virtio_vdpa: the device reaches kernel memory directly (no IOTLB). */
  bindPassthrough?(mem: unknown): void;
}
