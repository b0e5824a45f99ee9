/*
 * vdpasim_net_work() and vdpasim_handle_cvq(): the loopback.
 *
 * Every frame the driver puts on tx (queue 1) comes back on rx (queue 0)
 * with its virtio-net header, if the receive filter lets it through:
 * broadcast, multicast, or the device's own MAC (config.mac). Anything else
 * is dropped and counted (`rx drops`); a frame with no rx buffer posted is
 * an overrun (`rx overruns`) and ends the run. Up to 4096 bytes (PAGE_SIZE,
 * header included) of a tx chain are looped back. The control queue
 * (queue 2) knows MAC_ADDR_SET only.
 *
 * Kernel behaviour kept on purpose: tx completes with len 0 whatever
 * happens to the frame; `tx drops` is never incremented; a control request
 * shorter than its 2-byte header is counted as an error and not completed.
 *
 * Added for a careful device: a malformed ring (VringError) or a fault on
 * guest memory stops the queue it happened on (sim.vqError: NEEDS_RESET and
 * a kmsg line) instead of being skipped; a tx chain with device-writable
 * descriptors or an rx chain with device-readable ones counts as malformed.
 * Counters are plain numbers while the work runs and become u64 in vstats.
 */
import type { Vdpasim, VdpasimVirtqueue } from './vdpa_sim';
import { fail } from '../../../kernel/errno';
import { MemoryFault, newTranslation } from '../../../mm/guest_memory';
import { DescriptorChain, Vring, VringError } from '../../vhost/vringh';
import * as virtioNet from '../../../include/uapi/virtio_net';
import { VIRTIO_F_VERSION_1 as VIRTIO_F_VERSION_1_BIT } from '../../../include/uapi/virtio_config';

const RXQ = 0;
const TXQ = 1;
const CVQ = 2;

/*
 * include/uapi/linux/virtio_net.h, copied into module-level consts: V8 does
 * not fold a constant read through another module's exports object on the
 * per-packet path (see vringh.ts).
 */
const { VIRTIO_NET_HDR_LEN, VIRTIO_NET_HDR_V1_LEN, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, VIRTIO_NET_OK, VIRTIO_NET_ERR } =
  virtioNet;
const NET_CFG_MAC = virtioNet.VIRTIO_NET_CFG.MAC;
const VIRTIO_NET_F_CTRL_VQ = BigInt(virtioNet.VIRTIO_NET_F_CTRL_VQ);
const VIRTIO_F_VERSION_1 = BigInt(VIRTIO_F_VERSION_1_BIT);
/* struct virtio_net_ctrl_hdr { u8 class; u8 cmd; } */
const CTRL_HDR_LEN = 2;

const ETH_ALEN = 6;
/* net->buffer: the loopback copies at most one page of a tx chain. */
const VDPASIM_NET_BUF = 4096;
/* vdpasim_net_work(): "if (tx_pkts > 4)" reschedule. */
const VDPASIM_NET_BUDGET = 5;

export class VdpasimNetState {
  rx = { pkts: 0, bytes: 0, errors: 0, overruns: 0, drops: 0 };
  tx = { pkts: 0, bytes: 0, errors: 0, drops: 0 };
  cq = { requests: 0, successes: 0, errors: 0 };
  /* Reused per run: the chains, the filter's peek and the control header. */
  readonly txChain = new Map<Vring, DescriptorChain>();
  readonly scratch = Buffer.alloc(32);
  readonly peek = newTranslation();
  /*
   * What the work needs from the negotiated features, derived once per
   * features value: testing a bigint bit allocates, and the work runs every
   * 5 packets. Comparing two bigints does not.
   */
  private featuresSeen: bigint | null = null;
  private ctrlVq = false;
  private hdrLen = VIRTIO_NET_HDR_LEN;

  private derive(features: bigint): void {
    if (features === this.featuresSeen) return;
    this.ctrlVq = (features & (1n << VIRTIO_NET_F_CTRL_VQ)) !== 0n;
    this.hdrLen = features & (1n << VIRTIO_F_VERSION_1) ? VIRTIO_NET_HDR_V1_LEN : VIRTIO_NET_HDR_LEN;
    this.featuresSeen = features;
  }

  /* VIRTIO_NET_F_CTRL_VQ negotiated. */
  hasCtrlVq(features: bigint): boolean {
    this.derive(features);
    return this.ctrlVq;
  }

  /* The virtio-net header length: struct virtio_net_hdr_v1 with VERSION_1, else the legacy one. */
  netHdrLen(features: bigint): number {
    this.derive(features);
    return this.hdrLen;
  }
}

/* A VringError, or a MemoryFault that escaped the vring (both mean: this queue is broken). */
function ringFault(e: unknown): e is VringError | MemoryFault {
  return e instanceof VringError || e instanceof MemoryFault;
}

function chainFor(s: VdpasimNetState, vring: Vring): DescriptorChain {
  let c = s.txChain.get(vring);
  if (c === undefined) {
    /* One per live vring; a remapped queue gets a new vring, so drop the old ones. */
    if (s.txChain.size > 8) s.txChain.clear();
    c = new DescriptorChain(vring);
    s.txChain.set(vring, c);
  }
  return c;
}

/* vringh_complete_iotlb() then vringh_need_notify_iotlb() -> vringh_notify(). */
function netComplete(sim: Vdpasim, idx: number, vring: Vring, head: number, len: number): void {
  vring.addUsed(head, len);
  if (vring.needsNotification()) sim.vqNotify(idx);
}

/*
 * receive_filter(): the destination MAC follows the virtio-net header.
 * Reads the 6 bytes in place when the first descriptor holds them.
 */
function receiveFilter(sim: Vdpasim, s: VdpasimNetState, t: DescriptorChain, len: number, hdrLen: number): boolean {
  if (len < ETH_ALEN + hdrLen) return false;
  let b: Buffer;
  let o: number;
  /* descAddr/descLen rather than descriptor(0): no object per packet. */
  if (t.count > 0 && t.readable > 0 && t.descLen(0) >= hdrLen + ETH_ALEN) {
    const p = t.vring.xlate(t.descAddr(0) + hdrLen, ETH_ALEN, 'r', s.peek);
    if (p.len < ETH_ALEN) return receiveFilterSlow(sim, s, t, hdrLen);
    if (p.mm === null) {
      b = p.buf;
      o = p.off;
    } else {
      t.vring.mmRead(p.mm, p.uaddr, s.scratch, 0, ETH_ALEN);
      b = s.scratch;
      o = 0;
    }
  } else {
    return receiveFilterSlow(sim, s, t, hdrLen);
  }
  return macAccepted(sim, b, o);
}

function receiveFilterSlow(sim: Vdpasim, s: VdpasimNetState, t: DescriptorChain, hdrLen: number): boolean {
  /* Walk the descriptors without moving the chain's read cursor. */
  let skip = hdrLen;
  let got = 0;
  for (let i = 0; i < t.readable && got < ETH_ALEN; i++) {
    const d = t.descriptor(i);
    let addr = d.addr;
    let len = d.len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    addr += skip;
    len -= skip;
    skip = 0;
    while (len > 0 && got < ETH_ALEN) {
      const p = t.vring.xlate(addr, Math.min(len, ETH_ALEN - got), 'r', s.peek);
      if (p.mm === null) p.buf.copy(s.scratch, got, p.off, p.off + p.len);
      else t.vring.mmRead(p.mm, p.uaddr, s.scratch, got, p.len);
      got += p.len;
      addr += p.len;
      len -= p.len;
    }
  }
  return macAccepted(sim, s.scratch, 0);
}

/* is_broadcast_ether_addr() || is_multicast_ether_addr() || the device's own MAC. */
function macAccepted(sim: Vdpasim, b: Buffer, o: number): boolean {
  /* Broadcast (ff:ff:ff:ff:ff:ff) has the group bit too. */
  if (b[o] & 1) return true;
  const c = sim.config;
  for (let k = 0; k < ETH_ALEN; k++) if (b[o + k] !== c[NET_CFG_MAC + k]) return false;
  return true;
}

/*
 * Which side of a tx -> rx copy faulted: read the tx bytes the copy would
 * have read; if they all read, it was the rx side. Only run on the error
 * path.
 */
function copyFaultedOn(t: DescriptorChain, max: number): number {
  const tr = newTranslation();
  const sink = Buffer.alloc(256);
  let left = max;
  for (let i = 0; i < t.readable && left > 0; i++) {
    const d = t.descriptor(i);
    let addr = d.addr;
    let len = Math.min(d.len, left);
    left -= len;
    while (len > 0) {
      try {
        t.vring.xlate(addr, Math.min(len, sink.length), 'r', tr);
        if (tr.mm !== null) t.vring.mmRead(tr.mm, tr.uaddr, sink, 0, tr.len);
      } catch {
        return TXQ;
      }
      addr += tr.len;
      len -= tr.len;
    }
  }
  return RXQ;
}

/* vdpasim_handle_ctrl_mac(): MAC_ADDR_SET pulls 6 bytes straight into config.mac. */
function handleCtrlMac(sim: Vdpasim, c: DescriptorChain, cmd: number): number {
  if (cmd !== VIRTIO_NET_CTRL_MAC_ADDR_SET) return VIRTIO_NET_ERR;
  const read = c.readInto(sim.config, NET_CFG_MAC, ETH_ALEN);
  return read === ETH_ALEN ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

/* vdpasim_handle_cvq() */
function handleCvq(sim: Vdpasim, s: VdpasimNetState): void {
  const cvq = sim.vqs[CVQ];
  if (!s.hasCtrlVq(sim.features)) return;
  if (!cvq.usable) return;
  const vring = cvq.vring!;
  let requests = 0;
  let errors = 0;
  let successes = 0;
  try {
    for (;;) {
      const c = vring.popDescriptorChain();
      if (c === null) break;
      ++requests;
      if (c.readInto(s.scratch, 0, CTRL_HDR_LEN) !== CTRL_HDR_LEN) {
        /* As the kernel: counted, never completed, and the run ends. */
        ++errors;
        break;
      }
      const status = s.scratch[0] === VIRTIO_NET_CTRL_MAC ? handleCtrlMac(sim, c, s.scratch[1]) : VIRTIO_NET_ERR;
      if (status === VIRTIO_NET_OK) ++successes;
      else ++errors;
      s.scratch[0] = status;
      const write = c.writeFrom(s.scratch, 0, 1);
      vring.addUsed(c.head, write);
      /* The kernel calls the cvq callback directly, without vringh_need_notify. */
      sim.vqNotify(CVQ);
      vring.needsNotification();
    }
  } catch (e) {
    if (!ringFault(e)) throw e;
    sim.vqError(CVQ, e.message);
  }
  s.cq.requests += requests;
  s.cq.errors += errors;
  s.cq.successes += successes;
}

export function vdpasimNetWork(sim: Vdpasim): void {
  const s = sim.priv as VdpasimNetState;
  const txq: VdpasimVirtqueue = sim.vqs[TXQ];
  const rxq: VdpasimVirtqueue = sim.vqs[RXQ];
  if (!sim.running) return;

  handleCvq(sim, s);

  if (!txq.usable || !rxq.usable) return;
  const txr = txq.vring!;
  const rxr = rxq.vring!;
  const hdrLen = s.netHdrLen(sim.features);
  const txChain = chainFor(s, txr);
  const rxChain = chainFor(s, rxr);
  let txPkts = 0;
  let txBytes = 0;
  let txErrors = 0;
  let rxPkts = 0;
  let rxBytes = 0;
  let rxDrops = 0;
  let rxOverruns = 0;
  let rxErrors = 0;

  for (;;) {
    let t: DescriptorChain | null;
    try {
      t = txr.popDescriptorChain(txChain);
      if (t !== null && t.writable > 0) throw new VringError('InvalidChain', `tx chain ${t.head} has device-writable descriptors`);
    } catch (e) {
      if (!ringFault(e)) throw e;
      ++txErrors;
      sim.vqError(TXQ, e.message);
      break;
    }
    if (t === null) break;

    ++txPkts;
    const read = t.readableLength < VDPASIM_NET_BUF ? t.readableLength : VDPASIM_NET_BUF;
    txBytes += read;

    let accept: boolean;
    try {
      accept = receiveFilter(sim, s, t, read, hdrLen);
    } catch (e) {
      if (!ringFault(e)) throw e;
      sim.vqError(TXQ, e.message);
      break;
    }
    if (!accept) {
      ++rxDrops;
      netComplete(sim, TXQ, txr, t.head, 0);
      continue;
    }

    let r: DescriptorChain | null;
    try {
      r = rxr.popDescriptorChain(rxChain);
      if (r !== null && r.readable > 0) throw new VringError('InvalidChain', `rx chain ${r.head} has device-readable descriptors`);
    } catch (e) {
      if (!ringFault(e)) throw e;
      ++rxOverruns;
      netComplete(sim, TXQ, txr, t.head, 0);
      sim.vqError(RXQ, e.message);
      break;
    }
    if (r === null) {
      ++rxOverruns;
      netComplete(sim, TXQ, txr, t.head, 0);
      break;
    }

    let write: number;
    try {
      write = r.writeFromChain(t, read);
    } catch (e) {
      if (!ringFault(e)) throw e;
      const side = copyFaultedOn(t, read);
      if (side === RXQ) {
        ++rxErrors;
        netComplete(sim, TXQ, txr, t.head, 0);
      } else {
        /* vringh_abandon_iotlb(): the rx buffer goes back, unused. */
        rxr.lastAvailIdx = rxr.lastAvailIdx - 1;
      }
      sim.vqError(side, e.message);
      break;
    }
    if (write <= 0) {
      /* As the kernel: counted, and neither chain is completed. */
      ++rxErrors;
      break;
    }

    ++rxPkts;
    rxBytes += write;
    netComplete(sim, TXQ, txr, t.head, 0);
    netComplete(sim, RXQ, rxr, r.head, write);

    if (txPkts >= VDPASIM_NET_BUDGET) {
      sim.schedule();
      break;
    }
  }

  s.tx.pkts += txPkts;
  s.tx.bytes += txBytes;
  s.tx.errors += txErrors;
  s.rx.pkts += rxPkts;
  s.rx.bytes += rxBytes;
  s.rx.drops += rxDrops;
  s.rx.errors += rxErrors;
  s.rx.overruns += rxOverruns;
}

export function vdpasimNetStats(sim: Vdpasim, idx: number): Array<[string, bigint]> {
  const s = sim.priv as VdpasimNetState;
  const u64 = BigInt;
  switch (idx) {
    case 0:
      return [
        ['rx packets', u64(s.rx.pkts)],
        ['rx bytes', u64(s.rx.bytes)],
        ['rx errors', u64(s.rx.errors)],
        ['rx overruns', u64(s.rx.overruns)],
        ['rx drops', u64(s.rx.drops)],
      ];
    case 1:
      return [
        ['tx packets', u64(s.tx.pkts)],
        ['tx bytes', u64(s.tx.bytes)],
        ['tx errors', u64(s.tx.errors)],
        ['tx drops', u64(s.tx.drops)],
      ];
    case 2:
      return [
        ['cvq requests', u64(s.cq.requests)],
        ['cvq successes', u64(s.cq.successes)],
        ['cvq errors', u64(s.cq.errors)],
      ];
    default:
      fail('EINVAL');
  }
}
