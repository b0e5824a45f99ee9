/*
 * vdpasim_net_work(): the loopback. Placeholder until the data path lands:
 * counters exist so vstats can be read.
 */
import type { Vdpasim } from './vdpa_sim';
import { fail } from '../../../kernel/errno';

export class VdpasimNetState {
  rx = { pkts: 0n, bytes: 0n, errors: 0n, overruns: 0n, drops: 0n };
  tx = { pkts: 0n, bytes: 0n, errors: 0n, drops: 0n };
  cq = { requests: 0n, successes: 0n, errors: 0n };
}

export function vdpasimNetWork(_sim: Vdpasim): void {}

export function vdpasimNetStats(sim: Vdpasim, idx: number): Array<[string, bigint]> {
  const s = sim.priv as VdpasimNetState;
  switch (idx) {
    case 0:
      return [
        ['rx packets', s.rx.pkts],
        ['rx bytes', s.rx.bytes],
        ['rx errors', s.rx.errors],
        ['rx overruns', s.rx.overruns],
        ['rx drops', s.rx.drops],
      ];
    case 1:
      return [
        ['tx packets', s.tx.pkts],
        ['tx bytes', s.tx.bytes],
        ['tx errors', s.tx.errors],
        ['tx drops', s.tx.drops],
      ];
    case 2:
      return [
        ['cvq requests', s.cq.requests],
        ['cvq successes', s.cq.successes],
        ['cvq errors', s.cq.errors],
      ];
    default:
      fail('EINVAL');
  }
}
