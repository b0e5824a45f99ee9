/*
 * IOTLB updates written to the vhost char device: the vhost_msg layouts
 * (include/uapi/linux/vhost_types.h), vhost_chr_write_iter() from
 * drivers/vhost/vhost.c and the vhost-vdpa message handler
 * (vhost_vdpa_process_iotlb_msg in drivers/vhost/vdpa.c).
 *
 *   struct vhost_msg    { int type = 1; (4 B hole); union { vhost_iotlb_msg; u8 padding[64]; } }  72 B
 *   struct vhost_msg_v2 { u32 type = 2; u32 asid;   union { vhost_iotlb_msg; u8 padding[64]; } }  72 B
 *   struct vhost_iotlb_msg { u64 iova; u64 size; u64 uaddr; u8 perm; u8 type; }  (32 B with padding)
 */
import debug from 'debug';
import { KernelError, fail } from '../../kernel/errno';
import type { LogLevel } from '../../kernel/printk';
import { VhostIotlb } from './iotlb';

const pr = debug('vdpafs:vhost');

export const VHOST_IOTLB_MSG = 0x1;
export const VHOST_IOTLB_MSG_V2 = 0x2;

export const VHOST_IOTLB_MISS = 1;
export const VHOST_IOTLB_UPDATE = 2;
export const VHOST_IOTLB_INVALIDATE = 3;
export const VHOST_IOTLB_ACCESS_FAIL = 4;
export const VHOST_IOTLB_BATCH_BEGIN = 5;
export const VHOST_IOTLB_BATCH_END = 6;

/* sizeof(struct vhost_msg) == sizeof(struct vhost_msg_v2): what a good write returns. */
export const VHOST_MSG_SIZE = 72;
/* Offset of the union in both layouts. */
export const VHOST_MSG_IOTLB = 8;
/* sizeof(struct vhost_iotlb_msg): all the kernel copies out of the 64-B union. */
export const VHOST_IOTLB_MSG_SIZE = 32;

export const VHOST_IOTLB_MSG_IOVA = 0;
export const VHOST_IOTLB_MSG_SIZE_OFF = 8;
export const VHOST_IOTLB_MSG_UADDR = 16;
export const VHOST_IOTLB_MSG_PERM = 24;
export const VHOST_IOTLB_MSG_TYPE = 25;

export interface VhostIotlbMsg {
  iova: bigint;
  size: bigint;
  uaddr: bigint;
  perm: number;
  type: number;
}

export interface VhostMsg {
  /* VHOST_IOTLB_MSG or VHOST_IOTLB_MSG_V2 */
  type: number;
  /* Only v2 carries one, and only with VHOST_BACKEND_F_IOTLB_ASID is it read. */
  asid: number;
  iotlb: VhostIotlbMsg;
}

/* Lay a message out as userspace would write it (72 B, zero padding). */
export function vhostMsgBuild(msg: {
  type?: number;
  asid?: number;
  iotlb: Partial<VhostIotlbMsg> & { type: number };
}): Buffer {
  const b = Buffer.alloc(VHOST_MSG_SIZE);
  const type = msg.type ?? VHOST_IOTLB_MSG_V2;
  b.writeUInt32LE(type >>> 0, 0);
  if (type === VHOST_IOTLB_MSG_V2) b.writeUInt32LE((msg.asid ?? 0) >>> 0, 4);
  const o = VHOST_MSG_IOTLB;
  b.writeBigUInt64LE(BigInt(msg.iotlb.iova ?? 0n), o + VHOST_IOTLB_MSG_IOVA);
  b.writeBigUInt64LE(BigInt(msg.iotlb.size ?? 0n), o + VHOST_IOTLB_MSG_SIZE_OFF);
  b.writeBigUInt64LE(BigInt(msg.iotlb.uaddr ?? 0n), o + VHOST_IOTLB_MSG_UADDR);
  b.writeUInt8((msg.iotlb.perm ?? 0) & 0xff, o + VHOST_IOTLB_MSG_PERM);
  b.writeUInt8(msg.iotlb.type & 0xff, o + VHOST_IOTLB_MSG_TYPE);
  return b;
}

/*
 * The parsing half of vhost_chr_write_iter(). The kernel copies the 4-byte
 * type, skips (v1 hole, or v2 without the ASID feature) or reads (v2 with
 * it) the next 4 bytes, then copies sizeof(vhost_iotlb_msg) = 32 bytes. So
 * any write of at least 40 bytes parses, and anything shorter is EINVAL.
 */
export function vhostMsgParse(buf: Buffer, asidFeature: boolean): VhostMsg {
  if (buf.length < 4) fail('EINVAL');
  const type = buf.readInt32LE(0);
  if (type !== VHOST_IOTLB_MSG && type !== VHOST_IOTLB_MSG_V2) fail('EINVAL');
  if (buf.length < VHOST_MSG_IOTLB + VHOST_IOTLB_MSG_SIZE) fail('EINVAL');
  const asid = type === VHOST_IOTLB_MSG_V2 && asidFeature ? buf.readUInt32LE(4) : 0;
  const o = VHOST_MSG_IOTLB;
  return {
    type,
    asid,
    iotlb: {
      iova: buf.readBigUInt64LE(o + VHOST_IOTLB_MSG_IOVA),
      size: buf.readBigUInt64LE(o + VHOST_IOTLB_MSG_SIZE_OFF),
      uaddr: buf.readBigUInt64LE(o + VHOST_IOTLB_MSG_UADDR),
      perm: buf.readUInt8(o + VHOST_IOTLB_MSG_PERM),
      type: buf.readUInt8(o + VHOST_IOTLB_MSG_TYPE),
    },
  };
}

/*
 * What the message handler needs from a vhost-vdpa device: the part of
 * struct vhost_vdpa / vhost_dev it touches. vhost_vdpa.ts implements it.
 */
export interface VhostIotlbDev {
  /* vhost_dev_check_owner() passes (VHOST_SET_OWNER was done by this file). */
  readonly owner: boolean;
  /* v->range, from get_iova_range (vdpa_sim: 0..U64_MAX). */
  readonly iovaRange: { readonly first: bigint; readonly last: bigint };
  /* VHOST_BACKEND_F_IOTLB_ASID acked: the v2 asid field is honoured. */
  readonly asidFeature: boolean;
  /*
   * The IOTLB of an address space: vhost_vdpa_find_alloc_as() when `alloc`
   * (UPDATE, BATCH_BEGIN), else asid_to_iotlb(). undefined: no such asid.
   */
  asIotlb(asid: number, alloc: boolean): VhostIotlb | undefined;
  /* ops->set_map: hand the whole IOTLB to the parent (vdpa_sim copies it). May throw a KernelError. */
  setMap?(asid: number, iotlb: VhostIotlb): void;
  /*
   * vhost_vdpa_pa_map()'s pin_user_pages() on the owner's memory: are the
   * pages behind the range there (writable, for a map with the WO bit)?
   */
  pinnable?(uaddr: bigint, size: bigint, perm: number): boolean;
  /* dev_err()/dev_info() on the vhost-vdpa device, for what the kernel reports. */
  log?(level: LogLevel, msg: string): void;
  /* v->in_batch, v->batch_asid: state the handler keeps between writes. */
  inBatch: boolean;
  batchAsid: number;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const PAGE_SIZE = 4096n;
const PAGE_MASK = U64_MAX ^ (PAGE_SIZE - 1n);

/* PFN_UP(size + (iova & ~PAGE_MASK)): the pages a pinned map of size bytes at iova covers. */
function pagesFor(iova: bigint, size: bigint): bigint {
  return (size + (iova & (PAGE_SIZE - 1n)) + PAGE_SIZE - 1n) / PAGE_SIZE;
}

/*
 * vhost_chr_write_iter() with vhost-vdpa's handler: returns 72 on success.
 * Parse errors and UPDATE with size 0 are EINVAL; any failure inside the
 * handler (not owner, bad asid, out of the iova range, overlap, pages that
 * cannot be pinned, full IOTLB, set_map failure) comes back as EFAULT, as
 * the kernel maps every handler error to -EFAULT.
 */
export function vhostIotlbWrite(dev: VhostIotlbDev, buf: Buffer): number {
  const msg = vhostMsgParse(buf, dev.asidFeature);
  const m = msg.iotlb;
  /*
   * Only UPDATE: since 6.6 ("vhost: Allow null msg.size on
   * VHOST_IOTLB_INVALIDATE") an INVALIDATE of size 0 is let through, and
   * unmaps [iova, iova - 1] -- everything when iova is 0.
   */
  if (m.type === VHOST_IOTLB_UPDATE && m.size === 0n) fail('EINVAL');
  try {
    vhostVdpaProcessIotlbMsg(dev, msg.asid, m);
  } catch (e) {
    if (e instanceof KernelError) {
      pr('iotlb msg type %d asid %d failed: %s', m.type, msg.asid, e.errno);
      fail('EFAULT');
    }
    throw e;
  }
  return VHOST_MSG_SIZE;
}

/* vhost_vdpa_process_iotlb_msg(): throws the handler's own errno. */
function vhostVdpaProcessIotlbMsg(dev: VhostIotlbDev, asid: number, m: VhostIotlbMsg): void {
  if (!dev.owner) fail('EPERM');
  const alloc = m.type === VHOST_IOTLB_UPDATE || m.type === VHOST_IOTLB_BATCH_BEGIN;
  const iotlb = dev.asIotlb(asid, alloc);
  if (iotlb === undefined && alloc) {
    dev.log?.('err', `can't find and alloc asid ${asid}`);
    fail('EINVAL');
  }
  if ((dev.inBatch && dev.batchAsid !== asid) || iotlb === undefined) {
    if (dev.inBatch && dev.batchAsid !== asid) dev.log?.('info', `batch id ${dev.batchAsid} asid ${asid}`);
    if (iotlb === undefined) dev.log?.('err', `no iotlb for asid ${asid}`);
    fail('EINVAL');
  }

  switch (m.type) {
    case VHOST_IOTLB_UPDATE:
      vhostVdpaProcessIotlbUpdate(dev, asid, iotlb, m);
      return;
    case VHOST_IOTLB_INVALIDATE:
      /* vhost_vdpa_unmap(): [iova, iova + size - 1] in u64 arithmetic, as the interval tree is asked. */
      iotlb.delRange(m.iova, (m.iova + m.size - 1n) & U64_MAX);
      if (!dev.inBatch) dev.setMap?.(asid, iotlb);
      return;
    case VHOST_IOTLB_BATCH_BEGIN:
      dev.batchAsid = asid;
      dev.inBatch = true;
      return;
    case VHOST_IOTLB_BATCH_END:
      /* The maps were added as they came; the parent sees them all at once now. */
      if (dev.inBatch) dev.setMap?.(asid, iotlb);
      dev.inBatch = false;
      return;
    default:
      /* MISS and ACCESS_FAIL go the other way (read()); anything else is unknown. */
      fail('EINVAL');
  }
}

/* vhost_vdpa_process_iotlb_update() + vhost_vdpa_map() */
function vhostVdpaProcessIotlbUpdate(dev: VhostIotlbDev, asid: number, iotlb: VhostIotlb, m: VhostIotlbMsg): void {
  const { first, last } = dev.iovaRange;
  /* The middle test is the u64 overflow check: iova + size - 1 must not wrap. */
  if (m.iova < first || m.size === 0n || m.iova > U64_MAX - m.size + 1n || m.iova + m.size - 1n > last) fail('EINVAL');
  const end = m.iova + m.size - 1n;
  if (iotlb.itreeFirst(m.iova, end) !== undefined) fail('EEXIST');
  /*
   * vhost_vdpa_pa_map(): the pages behind [uaddr, uaddr + size) are pinned
   * (pin_user_pages() of pages that are not there fails EFAULT), and the
   * map is made of whole pages: from the page holding iova, to the page
   * holding uaddr, for PFN_UP(size + (iova & ~PAGE_MASK)) pages.
   */
  if (dev.pinnable && !dev.pinnable(m.uaddr & PAGE_MASK, pagesFor(m.iova, m.size) * PAGE_SIZE, m.perm)) fail('EFAULT');
  const mapStart = m.iova & PAGE_MASK;
  const mapLast = mapStart + pagesFor(m.iova, m.size) * PAGE_SIZE - 1n;
  iotlb.addRange(mapStart, mapLast, m.uaddr & PAGE_MASK, m.perm);
  if (dev.inBatch || !dev.setMap) return;
  try {
    dev.setMap(asid, iotlb);
  } catch (e) {
    /* The parent refused: take the map back out, as vhost_vdpa_map does. */
    iotlb.delRange(mapStart, mapLast);
    throw e;
  }
}
