/*
 * net/netlink/genetlink.c: generic netlink families, the path from a
 * request to a family's doit or dumpit (header checks, GENL_ADMIN_PERM,
 * attribute policies, all before the handler runs), and the controller
 * family "nlctrl" that answers CTRL_CMD_GETFAMILY.
 *
 * Requests are serialized as genl_mutex serializes them: a handler that
 * sleeps (vdpa dev del waiting for /dev/vhost-vdpa-N to close) holds back
 * every later generic netlink request of this kernel until it is done.
 */
import createDebug from 'debug';
import { Completion, MaybeWait } from '../../kernel/completion';
import { capable, Cred } from '../../kernel/cred';
import { errnoName, fail, KernelError } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import {
  ExtAck,
  NLMSG_GOODSIZE,
  Nlattr,
  nlaGetString,
  nlaGetU16,
  nlaGetU32,
  nlaNestEnd,
  nlaNestStart,
  nlaPutString,
  nlaPutU16,
  nlaPutU32,
  nlmsgCancel,
  nlmsgEnd,
  nlmsghdrRead,
  NlMsgHdr,
  nlmsgPut,
  nlmsgWalk,
  nlSetErrMsg,
  SkBuff,
} from '../../include/net/netlink';
import { NETLINK_GENERIC, NLM_F_ACK, NLM_F_DUMP, NLM_F_ECHO, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_ERROR, NLMSG_HDRLEN } from '../../include/uapi/netlink';
import {
  CtrlAttr,
  CtrlAttrMcastGrp,
  CtrlAttrOp,
  CtrlCmd,
  GENL_ADMIN_PERM,
  GENL_CMD_CAP_DO,
  GENL_CMD_CAP_DUMP,
  GENL_CMD_CAP_HASPOL,
  GENL_HDRLEN,
  GENL_ID_CTRL,
  GENL_MAX_ID,
  GENL_NAMSIZ,
  GENL_UNS_ADMIN_PERM,
} from '../../include/uapi/genetlink';
import { nlaParse, NL_VALIDATE_LIBERAL, NL_VALIDATE_STRICT, Policy } from '../../lib/nlattr';
import { NetlinkCallback, netlinkDumpStart, netlinkKernelCreate, NetlinkRcvResult, netlinkRcvSkb, NetlinkSock } from './af_netlink';

const trace = createDebug('vdpafs:genetlink');

/* enum genl_validate_flags */
const GENL_DONT_VALIDATE_STRICT = 1 << 0;
const GENL_DONT_VALIDATE_DUMP = 1 << 1;
const GENL_DONT_VALIDATE_DUMP_STRICT = 1 << 2;

/*
 * vdpafs departs from the kernel here: family ids are handed out from 0x100,
 * not GENL_START_ALLOC (0x13). The preload shim sends a process's generic
 * netlink requests either to this kernel or to the host's by family id, and
 * the host's own families take ids upward from 0x13.
 */
export const GENL_VDPAFS_START_ALLOC = 0x100;

/* struct genl_info: what a doit gets. */
export interface GenlInfo {
  family: GenlFamily;
  sk: NetlinkSock;
  sndSeq: number;
  sndPortid: number;
  nlh: Buffer;
  nlhdr: NlMsgHdr;
  genlhdr: { cmd: number; version: number };
  /* Parsed and validated by the op's policy, indexed by attribute type. */
  attrs: Array<Nlattr | undefined>;
  extack: ExtAck;
}

/* struct genl_ops (the "full" form: a doit and/or a dumpit per command). */
export interface GenlOps {
  cmd: number;
  flags?: number;
  validate?: number;
  /* Defaults to the family's. */
  policy?: Policy;
  maxattr?: number;
  doit?(info: GenlInfo): MaybeWait<void>;
  start?(cb: NetlinkCallback): void;
  dumpit?(skb: SkBuff, cb: NetlinkCallback): number;
  done?(cb: NetlinkCallback): void;
}

/* struct genl_family as a driver declares it. */
export interface GenlFamilyDef {
  name: string;
  version: number;
  hdrsize?: number;
  maxattr: number;
  policy?: Policy;
  ops: GenlOps[];
  /* Commands from here on get strict header checks (genl_header_check). */
  resvStartOp: number;
  netnsok: boolean;
  mcgrps?: string[];
}

/* A family registered with one kernel: its id is that kernel's. */
export interface GenlFamily extends GenlFamilyDef {
  id: number;
  mcgrpOffset: number;
}

/* struct genl_split_ops: one op, as a doit or as a dumpit. */
interface GenlSplitOps {
  cmd: number;
  flags: number;
  validate: number;
  policy: Policy | null;
  maxattr: number;
  op: GenlOps;
}

/* genl_dumpit_info(cb) */
export interface GenlDumpitInfo {
  family: GenlFamily;
  op: GenlSplitOps;
  attrs: Array<Nlattr | undefined> | null;
}

export function genlDumpitInfo(cb: NetlinkCallback): GenlDumpitInfo {
  return cb.data as GenlDumpitInfo;
}

/* ------------------------------------------------------------------------ */
/* The family table and genl_mutex                                          */

/* genl_mutex as a queue: while a request sleeps, the next waits for it. */
class GenlMutex {
  private tail: Completion<void> | null = null;

  run<T>(fn: () => MaybeWait<T>): MaybeWait<T> {
    if (!this.tail) {
      const r = fn();
      if (r instanceof Completion) this.hold(r);
      return r;
    }
    const r = this.tail.then(fn);
    this.hold(r);
    return r;
  }

  private hold<T>(c: Completion<T>): void {
    const held = c.whenSettled<void>(() => undefined);
    this.tail = held;
    held.then(() => {
      if (this.tail === held) this.tail = null;
    });
  }
}

interface Genl {
  /* genl_fam_idr */
  families: Map<number, GenlFamily>;
  idrNext: number;
  mutex: GenlMutex;
  /* Listeners on nlctrl's "notify" group. */
  notify: Set<(cmd: CtrlCmd, family: GenlFamily) => void>;
}

/* genl_init(): the controller is there from boot, and so is the protocol's input. */
function genl(k: Kernel): Genl {
  let created = false;
  const g = k.global<Genl>('genetlink', () => {
    created = true;
    return { families: new Map(), idrNext: 0, mutex: new GenlMutex(), notify: new Set() };
  });
  if (created) {
    netlinkKernelCreate(k, NETLINK_GENERIC, genlRcv);
    genlRegisterFamily(k, GENL_CTRL);
  }
  return g;
}

export function genlFamilyFindById(k: Kernel, id: number): GenlFamily | undefined {
  return genl(k).families.get(id);
}

export function genlFamilyFindByName(k: Kernel, name: string): GenlFamily | undefined {
  for (const f of genlFamilies(k)) if (f.name === name) return f;
  return undefined;
}

/* idr_for_each_entry(): in id order. */
function genlFamilies(k: Kernel): GenlFamily[] {
  return [...genl(k).families.values()].sort((a, b) => a.id - b.id);
}

/* idr_alloc_cyclic(): the next free id from the cursor, wrapping to `start`. */
function idrAllocCyclic(g: Genl, start: number, end: number): number {
  const scan = (from: number) => {
    for (let id = from; id <= end; id++) if (!g.families.has(id)) return id;
    return -1;
  };
  let id = scan(Math.max(g.idrNext, start));
  if (id < 0) id = scan(start);
  if (id < 0) fail('ENOSPC');
  g.idrNext = id + 1;
  return id;
}

/* genl_register_family(): names are unique (EEXIST); nlctrl keeps its fixed id. */
export function genlRegisterFamily(k: Kernel, def: GenlFamilyDef): GenlFamily {
  const g = genl(k);
  if (genlFamilyFindByName(k, def.name)) fail('EEXIST');
  const fixed = def === GENL_CTRL;
  const id = fixed ? idrAllocCyclic(g, GENL_ID_CTRL, GENL_ID_CTRL) : idrAllocCyclic(g, GENL_VDPAFS_START_ALLOC, GENL_MAX_ID);
  const family: GenlFamily = { ...def, id, mcgrpOffset: fixed ? GENL_ID_CTRL : 0 };
  g.families.set(id, family);
  trace('registered family %s id %d', def.name, id);
  genlCtrlEvent(g, CtrlCmd.NEWFAMILY, family);
  return family;
}

export function genlUnregisterFamily(k: Kernel, family: GenlFamily): void {
  const g = genl(k);
  if (g.families.get(family.id) !== family) fail('ENOENT');
  g.families.delete(family.id);
  trace('unregistered family %s', family.name);
  genlCtrlEvent(g, CtrlCmd.DELFAMILY, family);
}

/*
 * genl_ctrl_event(): NEWFAMILY and DELFAMILY go to nlctrl's "notify"
 * group. Here the listeners are the daemon's, which tell the preload shims
 * which family ids to send to this kernel.
 */
function genlCtrlEvent(g: Genl, cmd: CtrlCmd, family: GenlFamily): void {
  for (const fn of g.notify) fn(cmd, family);
}

export function genlCtrlSubscribe(k: Kernel, fn: (cmd: CtrlCmd, family: GenlFamily) => void): () => void {
  const g = genl(k);
  g.notify.add(fn);
  return () => g.notify.delete(fn);
}

/* ------------------------------------------------------------------------ */
/* Building messages                                                        */

/* genlmsg_new(NLMSG_DEFAULT_SIZE): room for one reply. */
export function genlmsgNew(): SkBuff {
  return new SkBuff(NLMSG_GOODSIZE);
}

/* genlmsg_put(): nlmsghdr + genlmsghdr; returns the message's offset for genlmsgEnd/Cancel. */
function genlmsgPut(skb: SkBuff, portid: number, seq: number, family: GenlFamily, flags: number, cmd: number): number {
  const nlh = nlmsgPut(skb, portid, seq, family.id, GENL_HDRLEN + (family.hdrsize ?? 0), flags);
  skb.data.writeUInt8(cmd, nlh + NLMSG_HDRLEN);
  skb.data.writeUInt8(family.version, nlh + NLMSG_HDRLEN + 1);
  return nlh;
}

const genlmsgEnd = nlmsgEnd;
const genlmsgCancel = nlmsgCancel;

/*
 * A fill function in the kernel's shape: genlmsg_put(), the attributes,
 * genlmsg_end(); if an attribute does not fit, the half-written message is
 * cancelled and the EMSGSIZE goes to the caller.
 */
export function genlmsgFill(skb: SkBuff, portid: number, seq: number, family: GenlFamily, flags: number, cmd: number, fill: () => void): void {
  const hdr = genlmsgPut(skb, portid, seq, family, flags, cmd);
  try {
    fill();
  } catch (e) {
    genlmsgCancel(skb, hdr);
    throw e;
  }
  genlmsgEnd(skb, hdr);
}

/* genlmsg_reply(): unicast to the requester. */
export function genlmsgReply(skb: SkBuff, info: GenlInfo): void {
  info.sk.sendskb(skb);
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */

/* A policy that rejects everything, for ops past resv_start_op that have none. */
const GENL_POLICY_REJECT_ALL: Policy = [{ type: 'reject' }, { type: 'reject' }];

/* genl_get_cmd() for a full op: its doit or dumpit as a split op, or null. */
function genlGetCmd(family: GenlFamily, cmd: number, cap: number): GenlSplitOps | null {
  const op = family.ops.find((o) => o.cmd === cmd);
  if (!op) return null;
  return genlCmdFullToSplit(family, op, cap);
}

function genlCmdFullToSplit(family: GenlFamily, op: GenlOps, cap: number): GenlSplitOps | null {
  if ((cap & GENL_CMD_CAP_DO && !op.doit) || (cap & GENL_CMD_CAP_DUMP && !op.dumpit)) return null;
  let policy: Policy | null = op.policy ?? family.policy ?? null;
  let maxattr = op.maxattr || family.maxattr;
  if (!policy && op.cmd >= family.resvStartOp) {
    policy = GENL_POLICY_REJECT_ALL;
    maxattr = 1;
  }
  const validate = op.validate ?? 0;
  if (cap & GENL_CMD_CAP_DUMP && validate & GENL_DONT_VALIDATE_DUMP) {
    policy = null;
    maxattr = 0;
  }
  return { cmd: op.cmd, flags: (op.flags ?? 0) | cap, validate, policy, maxattr, op };
}

/* genl_family_rcv_msg_attrs_parse() */
function genlAttrsParse(
  nlh: Buffer,
  hdrlen: number,
  ops: GenlSplitOps,
  noStrictFlag: number,
  extack: ExtAck,
): Array<Nlattr | undefined> | null {
  if (!ops.maxattr) return null;
  const validate = ops.validate & noStrictFlag ? NL_VALIDATE_LIBERAL : NL_VALIDATE_STRICT;
  const start = NLMSG_HDRLEN + hdrlen;
  return nlaParse(nlh, start, nlh.readUInt32LE(0) - start, ops.maxattr, ops.policy, validate, extack);
}

/* genl_header_check(): only for commands added after validation began. */
function genlHeaderCheck(family: GenlFamily, hdr: NlMsgHdr, cmd: number, reserved: number, extack: ExtAck): void {
  if (cmd < family.resvStartOp) return;
  if (reserved) {
    nlSetErrMsg(extack, 'genlmsghdr.reserved field is not 0');
    fail('EINVAL');
  }
  let flags = hdr.flags;
  if ((flags & NLM_F_DUMP) === NLM_F_DUMP) flags &= ~NLM_F_DUMP;
  if (flags & ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO)) {
    nlSetErrMsg(extack, 'ambiguous or reserved bits set in nlmsg_flags');
    fail('EINVAL');
  }
}

/* genl_family_rcv_msg() */
function genlFamilyRcvMsg(family: GenlFamily, sk: NetlinkSock, nlh: Buffer, extack: ExtAck): MaybeWait<NetlinkRcvResult> {
  const hdr = nlmsghdrRead(nlh);
  const hdrlen = GENL_HDRLEN + (family.hdrsize ?? 0);
  if (hdr.len < NLMSG_HDRLEN + hdrlen) fail('EINVAL');
  const cmd = nlh.readUInt8(NLMSG_HDRLEN);
  const version = nlh.readUInt8(NLMSG_HDRLEN + 1);
  genlHeaderCheck(family, hdr, cmd, nlh.readUInt16LE(NLMSG_HDRLEN + 2), extack);

  const cap = (hdr.flags & NLM_F_DUMP) === NLM_F_DUMP ? GENL_CMD_CAP_DUMP : GENL_CMD_CAP_DO;
  const op = genlGetCmd(family, cmd, cap);
  if (!op) fail('EOPNOTSUPP');
  /* netlink_capable(skb, CAP_NET_ADMIN): the socket's opener. */
  if (op.flags & (GENL_ADMIN_PERM | GENL_UNS_ADMIN_PERM) && !capable(sk.cred)) fail('EPERM');

  if (cap & GENL_CMD_CAP_DUMP) {
    return netlinkDumpStart(
      sk,
      nlh,
      {
        /* genl_start() */
        start: (cb) => {
          if (!(op.validate & GENL_DONT_VALIDATE_DUMP) && hdr.len < NLMSG_HDRLEN + hdrlen) fail('EINVAL');
          const attrs = genlAttrsParse(nlh, hdrlen, op, GENL_DONT_VALIDATE_DUMP_STRICT, extack);
          cb.data = { family, op, attrs } satisfies GenlDumpitInfo;
          op.op.start?.(cb);
        },
        dump: (skb, cb) => op.op.dumpit!(skb, cb),
        done: (cb) => op.op.done?.(cb),
      },
      extack,
    );
  }

  const attrs = genlAttrsParse(nlh, hdrlen, op, GENL_DONT_VALIDATE_STRICT, extack) ?? [];
  const info: GenlInfo = {
    family,
    sk,
    sndSeq: hdr.seq,
    sndPortid: sk.portid,
    nlh,
    nlhdr: hdr,
    genlhdr: { cmd, version },
    attrs,
    extack,
  };
  return op.op.doit!(info) as MaybeWait<NetlinkRcvResult>;
}

/* genl_rcv_msg(): the family is the message type (ENOENT if there is none). */
function genlRcvMsg(sk: NetlinkSock, nlh: Buffer, extack: ExtAck): MaybeWait<NetlinkRcvResult> {
  const k = sk.kernel;
  const family = genlFamilyFindById(k, nlh.readUInt16LE(4));
  if (!family) fail('ENOENT');
  return genl(k).mutex.run(() => genlFamilyRcvMsg(family, sk, nlh, extack));
}

/* genl_rcv(): the generic netlink protocol's input. */
function genlRcv(sk: NetlinkSock, data: Buffer): MaybeWait<void> {
  return netlinkRcvSkb(sk, data, genlRcvMsg);
}

/* ------------------------------------------------------------------------ */
/* The controller                                                           */

/* ctrl_fill_info(): what CTRL_CMD_GETFAMILY answers about a family. */
function ctrlFillInfo(k: Kernel, family: GenlFamily, portid: number, seq: number, flags: number, skb: SkBuff, cmd: number): void {
  const ctrl = genlFamilyFindById(k, GENL_ID_CTRL)!;
  genlmsgFill(skb, portid, seq, ctrl, flags, cmd, () => {
    nlaPutString(skb, CtrlAttr.FAMILY_NAME, family.name);
    nlaPutU16(skb, CtrlAttr.FAMILY_ID, family.id);
    nlaPutU32(skb, CtrlAttr.VERSION, family.version);
    nlaPutU32(skb, CtrlAttr.HDRSIZE, family.hdrsize ?? 0);
    nlaPutU32(skb, CtrlAttr.MAXATTR, family.maxattr);

    if (family.ops.length) {
      const nlaOps = nlaNestStart(skb, CtrlAttr.OPS, false);
      family.ops.forEach((op, i) => {
        const doit = genlCmdFullToSplit(family, op, GENL_CMD_CAP_DO);
        const dumpit = genlCmdFullToSplit(family, op, GENL_CMD_CAP_DUMP);
        let opFlags = (doit?.flags ?? 0) | (dumpit?.flags ?? 0);
        if (doit?.policy || dumpit?.policy) opFlags |= GENL_CMD_CAP_HASPOL;
        const nest = nlaNestStart(skb, i + 1, false);
        nlaPutU32(skb, CtrlAttrOp.ID, op.cmd);
        nlaPutU32(skb, CtrlAttrOp.FLAGS, opFlags);
        nlaNestEnd(skb, nest);
      });
      nlaNestEnd(skb, nlaOps);
    }

    const groups = family.mcgrps ?? [];
    if (groups.length) {
      const nlaGrps = nlaNestStart(skb, CtrlAttr.MCAST_GROUPS, false);
      groups.forEach((name, i) => {
        const nest = nlaNestStart(skb, i + 1, false);
        nlaPutU32(skb, CtrlAttrMcastGrp.ID, family.mcgrpOffset + i);
        nlaPutString(skb, CtrlAttrMcastGrp.NAME, name);
        nlaNestEnd(skb, nest);
      });
      nlaNestEnd(skb, nlaGrps);
    }
  });
}

/* ctrl_getfamily(): by id or by name; neither given is EINVAL, not found ENOENT. */
function ctrlGetfamily(info: GenlInfo): void {
  const k = info.sk.kernel;
  let res: GenlFamily | undefined;
  let errno: 'EINVAL' | 'ENOENT' = 'EINVAL';
  const id = info.attrs[CtrlAttr.FAMILY_ID];
  if (id) {
    res = genlFamilyFindById(k, nlaGetU16(id));
    errno = 'ENOENT';
  }
  const name = info.attrs[CtrlAttr.FAMILY_NAME];
  if (name) {
    /* No vdpafs module declares MODULE_ALIAS_GENL_FAMILY: nothing to autoload. */
    res = genlFamilyFindByName(k, nlaGetString(name));
    errno = 'ENOENT';
  }
  if (!res) fail(errno);
  const skb = genlmsgNew();
  ctrlFillInfo(k, res, info.sndPortid, info.sndSeq, 0, skb, CtrlCmd.NEWFAMILY);
  genlmsgReply(skb, info);
}

/* ctrl_dumpfamily(): every family, resuming after the ones already sent. */
function ctrlDumpfamily(skb: SkBuff, cb: NetlinkCallback): number {
  const k = cb.sk.kernel;
  let n = 0;
  const famsToSkip = cb.args[0];
  for (const rt of genlFamilies(k)) {
    if (n++ < famsToSkip) continue;
    try {
      ctrlFillInfo(k, rt, cb.portid, cb.hdr.seq, NLM_F_MULTI, skb, CtrlCmd.NEWFAMILY);
    } catch (e) {
      if (!(e instanceof KernelError) || e.errno !== 'EMSGSIZE') throw e;
      n--;
      break;
    }
  }
  cb.args[0] = n;
  return skb.len;
}

/* ctrl_policy_family */
const CTRL_POLICY_FAMILY: Policy = [
  undefined,
  /* CTRL_ATTR_FAMILY_ID */ { type: 'u16' },
  /* CTRL_ATTR_FAMILY_NAME */ { type: 'nul_string', len: GENL_NAMSIZ - 1 },
];

/*
 * genl_ctrl. The kernel also has CTRL_CMD_GETPOLICY; vdpafs does not
 * (policy dumps of the simulated families are not available).
 */
const GENL_CTRL: GenlFamilyDef = {
  name: 'nlctrl',
  version: 0x2,
  maxattr: 0,
  netnsok: true,
  resvStartOp: CtrlCmd.GETPOLICY + 1,
  mcgrps: ['notify'],
  ops: [
    {
      cmd: CtrlCmd.GETFAMILY,
      validate: GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP,
      policy: CTRL_POLICY_FAMILY,
      maxattr: CTRL_POLICY_FAMILY.length - 1,
      doit: ctrlGetfamily,
      dumpit: ctrlDumpfamily,
    },
  ],
};

/*
 * CTRL_CMD_GETFAMILY by name, as a tool's family lookup sends it
 * (mnlu_gen_socket_open()), for callers outside the wire: the family's id,
 * or the controller's error (ENOENT when there is no such family).
 */
export function genlCtrlGetfamily(k: Kernel, name: string, cred: Readonly<Cred>): { id: number; version: number; maxattr: number } {
  const replies: Buffer[] = [];
  const sk = new NetlinkSock(k, NETLINK_GENERIC, 0, cred, (d) => replies.push(d));
  const req = new SkBuff(NLMSG_GOODSIZE);
  const nlh = nlmsgPut(req, 0, 1, GENL_ID_CTRL, GENL_HDRLEN, NLM_F_REQUEST | NLM_F_ACK);
  req.data.writeUInt8(CtrlCmd.GETFAMILY, nlh + NLMSG_HDRLEN);
  req.data.writeUInt8(1, nlh + NLMSG_HDRLEN + 1);
  nlaPutString(req, CtrlAttr.FAMILY_NAME, name);
  nlmsgEnd(req, nlh);
  /* The controller never sleeps. */
  genlRcv(sk, req.bytes());
  for (const d of replies) {
    for (const { hdr, msg } of nlmsgWalk(d)) {
      if (hdr.type === NLMSG_ERROR) {
        const error = msg.readInt32LE(NLMSG_HDRLEN);
        if (error) fail(errnoName(-error) ?? 'EIO');
      } else if (hdr.type === GENL_ID_CTRL) {
        const tb = nlaParse(msg, NLMSG_HDRLEN + GENL_HDRLEN, hdr.len - NLMSG_HDRLEN - GENL_HDRLEN, CtrlAttr.OP, null, NL_VALIDATE_LIBERAL);
        return { id: nlaGetU16(tb[CtrlAttr.FAMILY_ID]!), version: nlaGetU32(tb[CtrlAttr.VERSION]!), maxattr: nlaGetU32(tb[CtrlAttr.MAXATTR]!) };
      }
    }
  }
  return fail('ENOENT');
}
