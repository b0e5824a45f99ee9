/*
 * Micro-benchmark of the data path: one frame through a tx and an rx
 * virtqueue, the way vdpasim_net loops a packet back. Per iteration the
 * driver publishes a tx chain (the frame) and an rx chain (an empty buffer
 * of the same size), the device pops both, copies tx into rx, completes
 * both, and the driver reaps both. benchBufferCopy is the floor to compare
 * with: the one Buffer.copy of the frame that the loopback cannot avoid.
 */
import { GuestMemory, PassthroughAddressSpace, AddressSpace } from '../mm/guest_memory';
import { IotlbAddressSpace, VhostIotlb, VHOST_MAP_RW } from '../drivers/vhost/iotlb';
import { DescriptorChain, Vring } from '../drivers/vhost/vringh';
import { VirtqueueSplit } from '../drivers/virtio/virtio_ring';

export interface BenchResult {
  packetsPerSec: number;
  bytesPerSec: number;
}

export interface RingLoopbackOptions {
  /* Device sees memory through a vhost IOTLB (vhost-vdpa) instead of directly (virtio_vdpa). */
  iotlb?: boolean;
  eventIdx?: boolean;
  num?: number;
}

/* Run `step` in batches until durationMs has passed; returns iterations per second. */
function timeLoop(durationMs: number, step: () => void): number {
  const BATCH = 256;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(durationMs * 1e6));
  let iters = 0;
  let elapsed = 0n;
  do {
    for (let k = 0; k < BATCH; k++) step();
    iters += BATCH;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return iters / (Number(elapsed) / 1e9);
}

export function benchRingLoopback(sizeBytes: number, durationMs: number, opts: RingLoopbackOptions = {}): BenchResult {
  const num = opts.num ?? 256;
  const eventIdx = opts.eventIdx ?? true;
  const mem = new GuestMemory(4 * 1024 * 1024 + 2 * sizeBytes);
  let as: AddressSpace = new PassthroughAddressSpace(mem);
  if (opts.iotlb) {
    /* Identity iova == uaddr over the whole memory, as a simple vhost-vdpa user would map. */
    const iotlb = new VhostIotlb(2048);
    for (const r of mem.regions) iotlb.addRange(r.base, r.base + r.size - 1, r.base, VHOST_MAP_RW);
    as = new IotlbAddressSpace(iotlb, mem);
  }

  const txq = new VirtqueueSplit<number>({ mem, num, eventIdx });
  const rxq = new VirtqueueSplit<number>({ mem, num, eventIdx });
  const txr = new Vring(as, { num, ...txq.ringDma, eventIdx });
  const rxr = new Vring(as, { num, ...rxq.ringDma, eventIdx });
  const frame = Buffer.alloc(sizeBytes, 0xab);
  const tx = [txq.allocBuf(frame, 4096)];
  const rx = [rxq.allocBuf(sizeBytes, 4096)];
  const none: never[] = [];
  const txChain = new DescriptorChain(txr);
  const rxChain = new DescriptorChain(rxr);

  const step = (): void => {
    txq.addBuf(tx, none, 1);
    rxq.addBuf(none, rx, 2);
    txq.kickPrepare();
    rxq.kickPrepare();

    const t = txr.popDescriptorChain(txChain);
    const r = rxr.popDescriptorChain(rxChain);
    if (t === null || r === null) throw new Error('loopback lost a chain');
    const n = r.writeFromChain(t);
    txr.addUsed(t.head, 0);
    rxr.addUsed(r.head, n);
    txr.needsNotification();
    rxr.needsNotification();

    if (txq.getBuf() === null || rxq.getBuf()?.len !== sizeBytes) throw new Error('loopback lost a buffer');
  };

  step(); /* check it works, and warm up */
  const pps = timeLoop(durationMs, step);
  return { packetsPerSec: pps, bytesPerSec: pps * sizeBytes };
}

export function benchBufferCopy(sizeBytes: number, durationMs: number): BenchResult {
  const src = Buffer.alloc(sizeBytes, 0xab);
  const dst = Buffer.alloc(sizeBytes);
  const pps = timeLoop(durationMs, () => {
    src.copy(dst, 0, 0, sizeBytes);
  });
  return { packetsPerSec: pps, bytesPerSec: pps * sizeBytes };
}
