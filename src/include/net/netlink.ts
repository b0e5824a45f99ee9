/*
 * include/net/netlink.h: building and reading netlink messages.
 *
 * An SkBuff is the part of struct sk_buff netlink code touches: a buffer
 * with a fixed room (what alloc_skb() gave), filled from the front. Like
 * nlmsg_put() and nla_put(), a put that does not fit fails EMSGSIZE and
 * leaves the buffer as it was; nlmsgCancel()/nlaNestCancel() trim back to
 * a mark, as genlmsg_cancel() does when a fill runs out of room.
 *
 * Integers are host order (little-endian on x86-64), and a u64 needs no
 * pad attribute on x86-64 (CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS).
 */
import { fail } from '../../kernel/errno';
import {
  NLA_ALIGN,
  NLA_F_NESTED,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLMSG_ALIGN,
  NLMSG_HDRLEN,
  nlaTotalSize,
  nlmsgTotalSize,
} from '../uapi/netlink';

/* NLMSG_GOODSIZE: SKB_WITH_OVERHEAD(PAGE_SIZE), 4096 minus a 320-byte skb_shared_info. */
export const NLMSG_GOODSIZE = 4096 - 320;
export const NLMSG_DEFAULT_SIZE = NLMSG_GOODSIZE - NLMSG_HDRLEN;

export class SkBuff {
  readonly data: Buffer;
  len = 0;

  constructor(readonly room: number) {
    this.data = Buffer.alloc(room);
  }

  tailroom(): number {
    return this.room - this.len;
  }

  /* skb_put(): `n` zeroed bytes at the tail, or EMSGSIZE. */
  put(n: number): number {
    if (n > this.tailroom()) fail('EMSGSIZE');
    const off = this.len;
    this.data.fill(0, off, off + n);
    this.len += n;
    return off;
  }

  trim(len: number): void {
    this.len = len;
  }

  /* The bytes written so far (one datagram's worth). */
  bytes(): Buffer {
    return Buffer.from(this.data.subarray(0, this.len));
  }
}

/* struct nlmsghdr, read from or written into a buffer at `off`. */
export interface NlMsgHdr {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export function nlmsghdrRead(buf: Buffer, off = 0): NlMsgHdr {
  return {
    len: buf.readUInt32LE(off),
    type: buf.readUInt16LE(off + 4),
    flags: buf.readUInt16LE(off + 6),
    seq: buf.readUInt32LE(off + 8),
    pid: buf.readUInt32LE(off + 12),
  };
}

function nlmsghdrWrite(buf: Buffer, off: number, h: NlMsgHdr): void {
  buf.writeUInt32LE(h.len >>> 0, off);
  buf.writeUInt16LE(h.type, off + 4);
  buf.writeUInt16LE(h.flags, off + 6);
  buf.writeUInt32LE(h.seq >>> 0, off + 8);
  buf.writeUInt32LE(h.pid >>> 0, off + 12);
}

/* nlmsg_put(): a header and `payload` zeroed bytes; returns the header's offset. */
export function nlmsgPut(skb: SkBuff, portid: number, seq: number, type: number, payload: number, flags: number): number {
  const off = skb.put(nlmsgTotalSize(payload));
  nlmsghdrWrite(skb.data, off, { len: NLMSG_HDRLEN + payload, type, flags, seq, pid: portid });
  return off;
}

/* nlmsg_end(): the message now runs to the tail. */
export function nlmsgEnd(skb: SkBuff, nlh: number): void {
  skb.data.writeUInt32LE(skb.len - nlh, nlh);
}

export function nlmsgCancel(skb: SkBuff, nlh: number): void {
  skb.trim(nlh);
}

/* nla_put(): one attribute, its payload padded to four bytes. */
export function nlaPut(skb: SkBuff, type: number, payload: Buffer): void {
  const off = skb.put(nlaTotalSize(payload.length));
  skb.data.writeUInt16LE(NLA_HDRLEN + payload.length, off);
  skb.data.writeUInt16LE(type, off + 2);
  payload.copy(skb.data, off + NLA_HDRLEN);
}

export function nlaPutU8(skb: SkBuff, type: number, v: number): void {
  nlaPut(skb, type, Buffer.from([v & 0xff]));
}

export function nlaPutU16(skb: SkBuff, type: number, v: number): void {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v & 0xffff);
  nlaPut(skb, type, b);
}

export function nlaPutU32(skb: SkBuff, type: number, v: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  nlaPut(skb, type, b);
}

/* nla_put_u64_64bit(): no VDPA_ATTR_PAD on x86-64. */
export function nlaPutU64(skb: SkBuff, type: number, v: bigint): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  nlaPut(skb, type, b);
}

/* nla_put_string(): the string and its NUL. */
export function nlaPutString(skb: SkBuff, type: number, s: string): void {
  nlaPut(skb, type, Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]));
}

/* nla_nest_start() sets NLA_F_NESTED; nla_nest_start_noflag() does not. */
export function nlaNestStart(skb: SkBuff, type: number, flag = true): number {
  const off = skb.put(NLA_HDRLEN);
  skb.data.writeUInt16LE(type | (flag ? NLA_F_NESTED : 0), off + 2);
  return off;
}

export function nlaNestEnd(skb: SkBuff, start: number): void {
  skb.data.writeUInt16LE(skb.len - start, start);
}

export function nlaNestCancel(skb: SkBuff, start: number): void {
  skb.trim(start);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

/* One attribute as nla_for_each_attr() sees it; `off` is where its header starts. */
export interface Nlattr {
  /* nla_type(): the type without the NESTED/BYTEORDER flags. */
  type: number;
  rawType: number;
  off: number;
  /* nla_len(): payload bytes, without header or padding. */
  len: number;
  payload: Buffer;
}

/*
 * nla_for_each_attr() over `len` bytes of `buf` from `start`. `rem` is what
 * was left when the walk stopped: a malformed tail (a header claiming more
 * than is there) stops it, as nla_ok() does.
 */
export function nlaWalk(buf: Buffer, start: number, len: number): { attrs: Nlattr[]; rem: number } {
  const attrs: Nlattr[] = [];
  let off = start;
  let rem = len;
  while (rem >= NLA_HDRLEN) {
    const nlaLen = buf.readUInt16LE(off);
    if (nlaLen < NLA_HDRLEN || nlaLen > rem) break;
    const rawType = buf.readUInt16LE(off + 2);
    attrs.push({ type: rawType & NLA_TYPE_MASK, rawType, off, len: nlaLen - NLA_HDRLEN, payload: buf.subarray(off + NLA_HDRLEN, off + nlaLen) });
    const step = NLA_ALIGN(nlaLen);
    off += step;
    rem -= step;
  }
  return { attrs, rem };
}

export const nlaGetU16 = (a: Nlattr): number => a.payload.readUInt16LE(0);
export const nlaGetU32 = (a: Nlattr): number => a.payload.readUInt32LE(0);
export const nlaGetU64 = (a: Nlattr): bigint => a.payload.readBigUInt64LE(0);

/* nla_data() read as a C string: up to the first NUL. */
export function nlaGetString(a: Nlattr): string {
  const nul = a.payload.indexOf(0);
  return a.payload.subarray(0, nul < 0 ? a.len : nul).toString('utf8');
}

/* The messages of one datagram, as NLMSG_OK()/NLMSG_NEXT() walk them. */
export function nlmsgWalk(buf: Buffer): Array<{ hdr: NlMsgHdr; off: number; msg: Buffer }> {
  const out: Array<{ hdr: NlMsgHdr; off: number; msg: Buffer }> = [];
  let off = 0;
  while (buf.length - off >= NLMSG_HDRLEN) {
    const hdr = nlmsghdrRead(buf, off);
    if (hdr.len < NLMSG_HDRLEN || hdr.len > buf.length - off) break;
    out.push({ hdr, off, msg: buf.subarray(off, off + hdr.len) });
    off += NLMSG_ALIGN(hdr.len);
  }
  return out;
}

/*
 * struct netlink_ext_ack: what a failing (or warning) request reports back.
 * Offsets are from the start of the request's nlmsghdr, as netlink_ack()
 * computes them from the bad attribute's pointer.
 */
export interface ExtAck {
  msg?: string;
  badAttr?: number;
  policy?: import('../../lib/nlattr').NlaPolicy;
  missType?: number;
  missNest?: number;
}

/* NL_SET_ERR_MSG() and friends. */
export function nlSetErrMsg(extack: ExtAck | undefined, msg: string): void {
  if (extack) extack.msg = msg;
}
