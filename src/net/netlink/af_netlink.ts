/*
 * net/netlink/af_netlink.c: a userspace netlink socket as the kernel sees
 * it, the loop that feeds a request's messages to a kernel protocol
 * (netlink_rcv_skb), acknowledgments (netlink_ack) and dumps
 * (netlink_dump), byte for byte.
 *
 * A NetlinkSock here is the kernel half of one userspace socket: its port
 * id, the options that shape acks (NETLINK_CAP_ACK, NETLINK_EXT_ACK), the
 * largest read it has seen (which sizes dump datagrams) and the dump in
 * progress. What the kernel would queue on the socket goes to `deliver`,
 * one datagram at a time: the daemon forwards it to the real socket, the
 * control socket and the tests collect it.
 */
import createDebug from 'debug';
import { Completion, MaybeWait } from '../../kernel/completion';
import type { Cred } from '../../kernel/cred';
import { ERRNO, fail, KernelError } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import {
  ExtAck,
  NLMSG_GOODSIZE,
  nlaPutString,
  nlaPutU32,
  nlmsgEnd,
  nlmsghdrRead,
  NlMsgHdr,
  nlmsgPut,
  SkBuff,
} from '../../include/net/netlink';
import {
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_ALIGN,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_MIN_TYPE,
  NLMSGERR_SIZE,
  NlmsgerrAttr,
  nlmsgTotalSize,
} from '../../include/uapi/netlink';
import { netlinkPolicyDumpWriteAttr } from './policy';

const trace = createDebug('vdpafs:netlink');

/* SKB_WITH_OVERHEAD(32768): netlink_recvmsg() caps the recorded read size here. */
const MAX_RECVMSG_LEN = 32768 - 320;

/* struct netlink_callback: a dump in progress. */
export interface NetlinkCallback {
  /* The socket dumped to (NETLINK_CB(cb->skb).sk). */
  sk: NetlinkSock;
  /* The request that started the dump (cb->nlh) and its header. */
  nlh: Buffer;
  hdr: NlMsgHdr;
  /* NETLINK_CB(cb->skb).portid: whom the dump answers. */
  portid: number;
  /* Where the dump function left off (cb->args[]). */
  args: number[];
  /* The extack of the current dump call. */
  extack: ExtAck;
  /* Protocol-private state (genetlink's genl_dumpit_info). */
  data: unknown;
  dump(skb: SkBuff, cb: NetlinkCallback): number;
  done?(cb: NetlinkCallback): void;
  minDumpAlloc: number;
}

/* struct netlink_dump_control */
export interface NetlinkDumpControl {
  start?(cb: NetlinkCallback): void;
  dump(skb: SkBuff, cb: NetlinkCallback): number;
  done?(cb: NetlinkCallback): void;
  data?: unknown;
}

export class NetlinkSock {
  /* NETLINK_CAP_ACK: error acks carry only the request's header. */
  capAck = false;
  /* NETLINK_EXT_ACK: acks carry the message, offset and policy TLVs. */
  extAck = false;
  /* The largest recvmsg() buffer seen, which sizes dump datagrams. */
  maxRecvmsgLen = 0;
  cb: NetlinkCallback | null = null;
  dumpDoneErrno = 0;

  constructor(
    readonly kernel: Kernel,
    readonly protocol: number,
    readonly portid: number,
    /* Who opened the socket: netlink_capable() asks this. */
    readonly cred: Readonly<Cred>,
    private readonly deliver: (datagram: Buffer) => void,
  ) {}

  /* __netlink_sendskb(): one datagram onto the receive queue. */
  sendskb(skb: SkBuff): void {
    this.deliver(skb.bytes());
  }

  /* netlink_recvmsg() records the size of each read for the next dump datagram. */
  noteRecvmsgLen(len: number): void {
    this.maxRecvmsgLen = Math.min(Math.max(this.maxRecvmsgLen, len), MAX_RECVMSG_LEN);
  }
}

/* What a protocol's input returns when it started a dump: no ack (-EINTR in the kernel). */
export const NETLINK_DUMP_STARTED = 'dump-started';
export type NetlinkRcvResult = void | typeof NETLINK_DUMP_STARTED;
export type NetlinkRcvMsg = (sk: NetlinkSock, nlh: Buffer, extack: ExtAck) => MaybeWait<NetlinkRcvResult>;

/* netlink_kernel_create(): the kernel end of a protocol, whose input takes each request. */
interface NetlinkTable {
  input: Map<number, (sk: NetlinkSock, data: Buffer) => MaybeWait<void>>;
}

function netlinkTable(k: Kernel): NetlinkTable {
  return k.global<NetlinkTable>('netlink', () => ({ input: new Map() }));
}

export function netlinkKernelCreate(k: Kernel, protocol: number, input: (sk: NetlinkSock, data: Buffer) => MaybeWait<void>): void {
  netlinkTable(k).input.set(protocol, input);
}

/*
 * netlink_sendmsg() to the kernel (nl_pid 0): the protocol's input runs at
 * once; replies and acks are queued before this returns, unless a handler
 * sleeps (a Completion), in which case the sender sleeps with it.
 */
export function netlinkSendmsg(sk: NetlinkSock, data: Buffer): MaybeWait<void> {
  const input = netlinkTable(sk.kernel).input.get(sk.protocol);
  if (!input) throw new Error(`no kernel netlink socket for protocol ${sk.protocol}`);
  trace('sendmsg portid %d: %d bytes', sk.portid, data.length);
  return input(sk, data);
}

const errnoOf = (e: unknown): number => {
  if (e instanceof KernelError) return -ERRNO[e.errno];
  throw e;
};

/* Run a message handler; a KernelError (now or when it completes) is its negative errno. */
function callRcvMsg(fn: () => MaybeWait<NetlinkRcvResult>): MaybeWait<number | typeof NETLINK_DUMP_STARTED> {
  let r: MaybeWait<NetlinkRcvResult>;
  try {
    r = fn();
  } catch (e) {
    return errnoOf(e);
  }
  if (r instanceof Completion) return r.whenSettled((o) => (o.ok ? (o.value ?? 0) : errnoOf(o.error)));
  return r ?? 0;
}

/*
 * netlink_rcv_skb(): each message of the datagram in turn. Non-requests and
 * control messages are only acked; an error, or NLM_F_ACK, gets an ack; a
 * started dump gets none. A handler that sleeps holds back the rest.
 */
export function netlinkRcvSkb(sk: NetlinkSock, data: Buffer, cb: NetlinkRcvMsg): MaybeWait<void> {
  let off = 0;
  const next = (): MaybeWait<void> => {
    while (data.length - off >= nlmsgTotalSize(0)) {
      const hdr = nlmsghdrRead(data, off);
      if (hdr.len < NLMSG_HDRLEN || data.length - off < hdr.len) return;
      const nlh = data.subarray(off, off + hdr.len);
      const extack: ExtAck = {};
      const finish = (err: number | typeof NETLINK_DUMP_STARTED) => {
        if (err !== NETLINK_DUMP_STARTED && (hdr.flags & NLM_F_ACK || err)) netlinkAck(sk, nlh, err, extack);
        off += Math.min(NLMSG_ALIGN(hdr.len), data.length - off);
      };
      if (!(hdr.flags & NLM_F_REQUEST) || hdr.type < NLMSG_MIN_TYPE) {
        finish(0);
        continue;
      }
      const r = callRcvMsg(() => cb(sk, nlh, extack));
      if (r instanceof Completion) {
        return r.then((err) => {
          finish(err);
          return next();
        });
      }
      finish(r);
    }
  };
  return next();
}

/* netlink_ack_tlv_len() != 0: are there TLVs to append? */
function ackHasTlvs(sk: NetlinkSock, err: number, extack: ExtAck): boolean {
  if (!sk.extAck) return false;
  if (extack.msg !== undefined) return true;
  if (!err) return false;
  return extack.badAttr !== undefined || extack.policy !== undefined || extack.missType !== undefined || extack.missNest !== undefined;
}

/*
 * netlink_ack(): NLMSG_ERROR with the errno (0 for an ack), the request's
 * header, its payload too for an error unless NETLINK_CAP_ACK, then with
 * NETLINK_EXT_ACK the message, and for errors the bad attribute's offset
 * and its policy.
 */
function netlinkAck(sk: NetlinkSock, nlh: Buffer, err: number, extack: ExtAck): void {
  const hdr = nlmsghdrRead(nlh);
  let flags = 0;
  let payload = NLMSGERR_SIZE;
  if (err && !sk.capAck) payload += hdr.len - NLMSG_HDRLEN;
  else flags |= NLM_F_CAPPED;
  const tlvs = ackHasTlvs(sk, err, extack);
  if (tlvs) flags |= NLM_F_ACK_TLVS;

  const skb = new SkBuff(nlmsgTotalSize(payload) + 1024 + (extack.msg?.length ?? 0));
  const rep = nlmsgPut(skb, sk.portid, hdr.seq, NLMSG_ERROR, NLMSGERR_SIZE, flags);
  skb.data.writeInt32LE(err, rep + NLMSG_HDRLEN);
  nlh.copy(skb.data, rep + NLMSG_HDRLEN + 4, 0, NLMSG_HDRLEN);
  if (!(flags & NLM_F_CAPPED)) {
    const body = nlh.subarray(NLMSG_HDRLEN, hdr.len);
    const at = skb.put(NLMSG_ALIGN(body.length));
    body.copy(skb.data, at);
  }
  if (tlvs) {
    if (extack.msg !== undefined) nlaPutString(skb, NlmsgerrAttr.MSG, extack.msg);
    if (err) {
      if (extack.badAttr !== undefined && extack.badAttr < hdr.len) nlaPutU32(skb, NlmsgerrAttr.OFFS, extack.badAttr);
      if (extack.policy) netlinkPolicyDumpWriteAttr(skb, extack.policy, NlmsgerrAttr.POLICY);
      if (extack.missType !== undefined) nlaPutU32(skb, NlmsgerrAttr.MISS_TYPE, extack.missType);
      if (extack.missNest !== undefined) nlaPutU32(skb, NlmsgerrAttr.MISS_NEST, extack.missNest);
    }
  }
  nlmsgEnd(skb, rep);
  trace('ack portid %d seq %d: %d%s', sk.portid, hdr.seq, err, extack.msg ? ` "${extack.msg}"` : '');
  sk.sendskb(skb);
}

/*
 * __netlink_dump_start(): one dump per socket at a time (EBUSY); start()
 * may refuse (its error is acked); then the first datagram goes out at once.
 */
export function netlinkDumpStart(sk: NetlinkSock, nlh: Buffer, control: NetlinkDumpControl, extack: ExtAck): typeof NETLINK_DUMP_STARTED {
  if (sk.cb) fail('EBUSY');
  const hdr = nlmsghdrRead(nlh);
  const cb: NetlinkCallback = {
    sk,
    nlh: Buffer.from(nlh),
    hdr,
    portid: sk.portid,
    args: [0, 0, 0, 0, 0, 0],
    extack,
    data: control.data,
    dump: control.dump,
    done: control.done,
    minDumpAlloc: 0,
  };
  control.start?.(cb);
  sk.cb = cb;
  sk.dumpDoneErrno = Number.MAX_SAFE_INTEGER;
  netlinkDump(sk);
  return NETLINK_DUMP_STARTED;
}

/*
 * netlink_dump(): the next datagram of the running dump, as large as the
 * reader's biggest read (at least NLMSG_GOODSIZE). When the dump function
 * adds nothing, NLMSG_DONE carries its final status (0, or an error).
 */
export function netlinkDump(sk: NetlinkSock): void {
  const cb = sk.cb;
  if (!cb) return;
  let allocSize = Math.max(cb.minDumpAlloc, NLMSG_GOODSIZE);
  if (allocSize < sk.maxRecvmsgLen) allocSize = sk.maxRecvmsgLen;
  const skb = new SkBuff(allocSize);
  const extack: ExtAck = {};

  if (sk.dumpDoneErrno > 0) {
    cb.extack = extack;
    let r: number;
    try {
      r = cb.dump(skb, cb);
    } catch (e) {
      r = errnoOf(e);
    }
    /* EMSGSIZE with something in the skb: more to come, this one is full. */
    if (r === -ERRNO.EMSGSIZE && skb.len) r = skb.len;
    sk.dumpDoneErrno = r;
  }

  if (sk.dumpDoneErrno > 0 || skb.tailroom() < nlmsgTotalSize(4)) {
    sk.sendskb(skb);
    return;
  }

  /* netlink_dump_done() */
  const done = nlmsgPut(skb, cb.portid, cb.hdr.seq, NLMSG_DONE, 4, NLM_F_MULTI);
  skb.data.writeInt32LE(sk.dumpDoneErrno, done + NLMSG_HDRLEN);
  if (extack.msg !== undefined && sk.extAck) {
    skb.data.writeUInt16LE(NLM_F_MULTI | NLM_F_ACK_TLVS, done + 6);
    nlaPutString(skb, NlmsgerrAttr.MSG, extack.msg);
    nlmsgEnd(skb, done);
  }
  sk.cb = null;
  trace('dump done portid %d: %d', sk.portid, sk.dumpDoneErrno);
  sk.sendskb(skb);
  cb.done?.(cb);
}

/* A whole dump at once, for callers that read everything (the control socket, tests). */
export function netlinkDumpAll(sk: NetlinkSock): void {
  while (sk.cb) netlinkDump(sk);
}
