/*
 * vdpasim_blk_work(): placeholder until the data path lands.
 */
import type { Vdpasim } from './vdpa_sim';

export class VdpasimBlkState {
  constructor(readonly capacityBytes: number) {}
}

export function vdpasimBlkWork(_sim: Vdpasim): void {}
