/*
 * include/linux/vdpa.h: struct vdpa_config_ops, the interface every vdpa
 * parent driver (here vdpa_sim) implements and every bus driver (vhost_vdpa,
 * virtio_vdpa) calls. Features are bigints (virtio has more than 53 bits).
 */
import type { VhostIotlb } from '../vhost/iotlb';

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
  /* virtio_vdpa: the device reaches kernel memory directly (no IOTLB). */
  bindPassthrough?(mem: unknown): void;
}
