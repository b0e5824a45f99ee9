/*
 * The loopback through the real device: a vdpasim_net device opened through
 * /dev/vhost-vdpa-N's API (VhostVdpaFile, the shell's QEMU-style bring-up:
 * owner, features, IOTLB, rings, DRIVER_OK), the driver side a
 * VirtqueueSplit per queue in the owner's memory, the device side the sim's
 * work function behind an IOTLB. Per round the driver publishes `batch`
 * frames on tx (already in its memory, with their virtio-net header) and
 * kicks once; the kick returns when the device has looped them all back
 * into posted rx buffers; the driver reaps both rings and reposts rx.
 */
import { bootKernel } from '../kernel/boot';
import type { Kernel } from '../kernel/kernel';
import { GuestMemory } from '../mm/guest_memory';
import { UsedBuf, VirtqueueSg } from '../drivers/virtio/virtio_ring';
import type { VhostVdpa } from '../drivers/vhost/vdpa';
import { vdpaFindDevice } from '../drivers/vdpa/vdpa';
import { SHELL_VA_BASE, VhostVdpaShellNet } from '../drivers/vhost/vdpa_shell';
import { timeLoop, BenchResult } from './ring_loopback';

const HDR = 12;
const RXQ = 0;
const TXQ = 1;

export interface SimLoopbackOptions {
  /* Frames per kick. */
  batch?: number;
}

/* A kernel with vdpa0 (vdpasim_net) on vhost_vdpa, as the daemon boots. */
export function netKernel(): { k: Kernel; v: VhostVdpa } {
  const k = bootKernel();
  const vdpa = vdpaFindDevice(k, 'vdpa0');
  if (vdpa === undefined) throw new Error('no vdpa0');
  return { k, v: vdpa.drvdata as VhostVdpa };
}

/*
 * sizeBytes is what the device copies per packet: the 12-byte header and
 * the frame (at most 4096, the most the sim loops back).
 */
export function benchSimNetLoopback(sizeBytes: number, durationMs: number, opts: SimLoopbackOptions = {}): BenchResult {
  const batch = opts.batch ?? 32;
  const { v } = netKernel();
  const frameLen = Math.min(sizeBytes, 4096) - HDR;
  const mem = new GuestMemory([{ base: SHELL_VA_BASE, size: 8 * 1024 * 1024 }]);
  /* The shell's bring-up, then its rings, driven directly. */
  const shell = new VhostVdpaShellNet(v.open(), mem);
  const txq = shell.vqs[TXQ];
  const rxq = shell.vqs[RXQ];
  /* Drain the rx pool the shell posted: this bench posts its own. */
  while (rxq.detachUnusedBuf() !== null);

  const frame = Buffer.alloc(HDR + frameLen, 0xab);
  frame.fill(0, 0, HDR);
  frame.fill(0xff, HDR, HDR + 6); /* broadcast: passes the filter */
  const tx: VirtqueueSg[][] = [];
  const rx: VirtqueueSg[][] = [];
  for (let i = 0; i < batch; i++) {
    const t = mem.alloc(frame.length, 64);
    mem.write(t, frame);
    tx.push([{ addr: shell.dma(t), len: frame.length }]);
    rx.push([{ addr: shell.dma(mem.alloc(4096, 64)), len: 4096 }]);
  }
  const none: VirtqueueSg[] = [];
  /* One result object for every reap: getBuf() would allocate one per buffer. */
  const u: UsedBuf<number> = { token: 0, len: 0 };
  for (let i = 0; i < batch; i++) rxq.addBuf(none, rx[i], i);
  rxq.kick();

  const step = (): void => {
    for (let i = 0; i < batch; i++) txq.addBuf(tx[i], none, i);
    txq.kick();
    let got = 0;
    while (txq.getBufInto(u)) got++;
    while (rxq.getBufInto(u)) {
      if (u.len !== frame.length) throw new Error(`loopback returned ${u.len} bytes`);
      rxq.addBuf(none, rx[u.token], u.token);
      got++;
    }
    if (got !== 2 * batch) throw new Error(`loopback lost frames (${got} of ${2 * batch} buffers back)`);
    rxq.kick();
  };

  step();
  const rounds = timeLoop(durationMs, step, 1);
  shell.release();
  const pps = rounds * batch;
  return { packetsPerSec: pps, bytesPerSec: pps * (HDR + frameLen) };
}
