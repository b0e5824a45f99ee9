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
import { UsedBuf, VirtqueueSplit } from '../drivers/virtio/virtio_ring';

export interface BenchResult {
  packetsPerSec: number;
  bytesPerSec: number;
}

export interface RingLoopbackOptions {
  /* Device sees memory through a vhost IOTLB (vhost-vdpa) instead of directly (virtio_vdpa). */
  iotlb?: boolean;
  eventIdx?: boolean;
  num?: number;
  /*
   * Frames per kick: the driver publishes `batch` tx and rx chains, then
   * one kick decision per queue; the device loops them all back, then one
   * interrupt decision per queue. 1 is the strict one-frame round trip.
   */
  batch?: number;
}

/* Run `step` in batches until durationMs has passed; returns iterations per second. */
export function timeLoop(durationMs: number, step: () => void, BATCH = 256): number {
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
  const batch = Math.max(1, Math.min(opts.batch ?? 1, num));
  const frame = Buffer.alloc(sizeBytes, 0xab);
  /* One tx and one rx buffer per frame of a batch, each page-aligned. */
  const tx = Array.from({ length: batch }, () => [txq.allocBuf(frame, 4096)]);
  const rx = Array.from({ length: batch }, () => [rxq.allocBuf(sizeBytes, 4096)]);
  const none: never[] = [];
  const txChain = new DescriptorChain(txr);
  const rxChain = new DescriptorChain(rxr);
  /* One result object for every reap: getBuf() would allocate one per buffer. */
  const used: UsedBuf<number> = { token: 0, len: 0 };

  const step = (): void => {
    for (let i = 0; i < batch; i++) {
      txq.addBuf(tx[i], none, i);
      rxq.addBuf(none, rx[i], i);
    }
    txq.kickPrepare();
    rxq.kickPrepare();

    for (let i = 0; i < batch; i++) {
      const t = txr.popDescriptorChain(txChain);
      const r = rxr.popDescriptorChain(rxChain);
      if (t === null || r === null) throw new Error('loopback lost a chain');
      const n = r.writeFromChain(t);
      txr.addUsed(t.head, 0);
      rxr.addUsed(r.head, n);
    }
    txr.needsNotification();
    rxr.needsNotification();

    for (let i = 0; i < batch; i++) {
      if (!txq.getBufInto(used) || !rxq.getBufInto(used) || used.len !== sizeBytes) throw new Error('loopback lost a buffer');
    }
  };

  step(); /* check it works, and warm up */
  const pps = timeLoop(durationMs, step, Math.max(1, Math.floor(256 / batch))) * batch;
  return { packetsPerSec: pps, bytesPerSec: pps * sizeBytes };
}

/*
 * The floor: one Buffer.copy of the frame. `region` (the default) copies
 * between two page-aligned buffers 64 KiB apart in one ArrayBuffer, laid
 * out as the loopback's tx and rx buffers are in guest memory; `separate`
 * copies between two Buffer.alloc()s, whose speed depends on where the
 * allocator happened to put them (2x apart between runs on the dev VM).
 */
export function benchBufferCopy(sizeBytes: number, durationMs: number, layout: 'region' | 'separate' = 'region'): BenchResult {
  let src: Buffer;
  let dst: Buffer;
  if (layout === 'separate') {
    src = Buffer.alloc(sizeBytes, 0xab);
    dst = Buffer.alloc(sizeBytes);
  } else {
    const gap = Math.max(65536, Math.ceil(sizeBytes / 4096) * 4096);
    const ab = new ArrayBuffer(2 * gap);
    src = Buffer.from(ab, 0, sizeBytes).fill(0xab);
    dst = Buffer.from(ab, gap, sizeBytes);
  }
  const pps = timeLoop(durationMs, () => {
    src.copy(dst, 0, 0, sizeBytes);
  });
  return { packetsPerSec: pps, bytesPerSec: pps * sizeBytes };
}
