/*
 * Generic netlink as the kernel puts it on the wire (net/netlink/ and the
 * vdpa family): requests built byte by byte as libmnl builds them, answers
 * checked byte by byte against what af_netlink.c, genetlink.c, nlattr.c
 * and drivers/vdpa/vdpa.c (Linux 6.12) write.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../src/kernel/boot';
import { settle } from '../../src/kernel/completion';
import type { Cred } from '../../src/kernel/cred';
import { ROOT_CRED } from '../../src/kernel/cred';
import type { Kernel } from '../../src/kernel/kernel';
import { netlinkDump, netlinkSendmsg, NetlinkSock } from '../../src/net/netlink/af_netlink';
import { genlCtrlGetfamily, GENL_VDPAFS_START_ALLOC } from '../../src/net/netlink/genetlink';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { rig, userMemory } from './vhost_testlib';

const NLM_F_REQUEST = 1;
const NLM_F_MULTI = 2;
const NLM_F_ACK = 4;
const NLM_F_DUMP = 0x300;
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_CMD_NEWFAMILY = 1;
const PORTID = 4242;
const SEQ = 0x1234;

/* One attribute: header, payload, zero padding to four bytes (mnl_attr_put). */
function attr(type: number, payload: Buffer): Buffer {
  const pad = (4 - (payload.length % 4)) % 4;
  const h = Buffer.alloc(4);
  h.writeUInt16LE(4 + payload.length, 0);
  h.writeUInt16LE(type, 2);
  return Buffer.concat([h, payload, Buffer.alloc(pad)]);
}
const strz = (type: number, s: string) => attr(type, Buffer.from(s + '\0'));
const u16 = (type: number, v: number) => attr(type, Buffer.from([v & 0xff, v >> 8]));
const u32 = (type: number, v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return attr(type, b);
};
const u64 = (type: number, v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return attr(type, b);
};
const nest = (type: number, ...parts: Buffer[]) => attr(type, Buffer.concat(parts));

/* nlmsghdr + genlmsghdr + attributes, as mnlu_gen_socket_cmd_prepare() and mnl_attr_put*() build them. */
function genlMsg(type: number, flags: number, cmd: number, attrs: Buffer[], opts: { version?: number; reserved?: number; trailing?: Buffer } = {}): Buffer {
  const body = Buffer.concat([Buffer.from([cmd, opts.version ?? 0]), u16le(opts.reserved ?? 0), ...attrs, opts.trailing ?? Buffer.alloc(0)]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(SEQ, 8);
  h.writeUInt32LE(PORTID, 12);
  return Buffer.concat([h, body]);
}
function u16le(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function hdr(len: number, type: number, flags: number, seq = SEQ, pid = PORTID): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(len, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(pid, 12);
  return h;
}
function s32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

/* A socket as iproute2 opens it (CAP_ACK and EXT_ACK on), and what it receives. */
function socket(k: Kernel, opts: { cred?: Cred; capAck?: boolean; extAck?: boolean; maxRead?: number } = {}) {
  const datagrams: Buffer[] = [];
  const sk = new NetlinkSock(k, 16, PORTID, opts.cred ?? ROOT_CRED, (d) => datagrams.push(d));
  sk.capAck = opts.capAck ?? true;
  sk.extAck = opts.extAck ?? true;
  if (opts.maxRead) sk.noteRecvmsgLen(opts.maxRead);
  return { sk, datagrams };
}

/* Send, then read until the dump (if any) is over, as a reader looping on recvmsg() does. */
async function exchange(k: Kernel, req: Buffer, opts: Parameters<typeof socket>[1] = {}): Promise<Buffer[]> {
  const { sk, datagrams } = socket(k, opts);
  await settle(netlinkSendmsg(sk, req));
  while (sk.cb) netlinkDump(sk);
  return datagrams;
}

const vdpaId = (k: Kernel) => genlCtrlGetfamily(k, 'vdpa', ROOT_CRED).id;
const A = { MGMTDEV_DEV_NAME: 2, DEV_NAME: 4, MACADDR: 10, MTU: 13, QUEUE_INDEX: 17, DEV_ID: 5 };
const nobody: Cred = { uid: 1001, gid: 1001, pid: 77 };

describe('the controller: CTRL_CMD_GETFAMILY', () => {
  it('answers NEWFAMILY with name, id, version, hdrsize, maxattr and the ops with their flags, then the ack', async () => {
    const k = bootKernel();
    const req = genlMsg(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, CTRL_CMD_GETFAMILY, [strz(2, 'vdpa')], { version: 1 });
    const [reply, ack] = await exchange(k, req);
    /* GENL_ADMIN_PERM 0x1, CAP_DO 0x2, CAP_DUMP 0x4, HASPOL 0x8 */
    const op = (i: number, cmd: number, flags: number) => nest(i, u32(1, cmd), u32(2, flags));
    const body = Buffer.concat([
      Buffer.from([CTRL_CMD_NEWFAMILY, 2, 0, 0]),
      strz(2, 'vdpa'),
      u16(1, GENL_VDPAFS_START_ALLOC),
      u32(3, 1),
      u32(4, 0),
      u32(5, 37),
      nest(6, op(1, 2, 0x0e), op(2, 3, 0x0b), op(3, 4, 0x0b), op(4, 5, 0x0e), op(5, 6, 0x0e), op(6, 7, 0x0b), op(7, 8, 0x0b)),
    ]);
    expect(reply).toEqual(Buffer.concat([hdr(16 + body.length, GENL_ID_CTRL, 0), body]));
    expect(ack).toEqual(Buffer.concat([hdr(36, NLMSG_ERROR, NLM_F_CAPPED), s32(0), req.subarray(0, 16)]));
  });

  it('the vdpa family exists while the vdpa module is loaded: ENOENT before modprobe and after rmmod', async () => {
    const k = bootKernel({ bare: true });
    expect(() => genlCtrlGetfamily(k, 'vdpa', ROOT_CRED)).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
    k.modules.modprobe('vdpa');
    expect(vdpaId(k)).toBe(GENL_VDPAFS_START_ALLOC);
    await settle(k.modules.rmmod('vdpa'));
    expect(() => genlCtrlGetfamily(k, 'vdpa', ROOT_CRED)).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
    /* idr_alloc_cyclic(): a reloaded family gets the next id. */
    k.modules.modprobe('vdpa');
    expect(vdpaId(k)).toBe(GENL_VDPAFS_START_ALLOC + 1);
  });

  it('a dump lists every family in id order, nlctrl (0x10, version 2, group "notify") first, then DONE', async () => {
    const k = bootKernel();
    const datagrams = await exchange(k, genlMsg(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, CTRL_CMD_GETFAMILY, []));
    expect(datagrams).toHaveLength(2);
    const nlctrl = Buffer.concat([
      Buffer.from([CTRL_CMD_NEWFAMILY, 2, 0, 0]),
      strz(2, 'nlctrl'),
      u16(1, 0x10),
      u32(3, 2),
      u32(4, 0),
      u32(5, 0),
      nest(6, nest(1, u32(1, 3), u32(2, 0x0e))),
      nest(7, nest(1, u32(2, 0x10), strz(1, 'notify'))),
    ]);
    expect(datagrams[0].subarray(0, 16 + nlctrl.length)).toEqual(Buffer.concat([hdr(16 + nlctrl.length, GENL_ID_CTRL, NLM_F_MULTI), nlctrl]));
    expect(datagrams[0].indexOf('vdpa\0')).toBeGreaterThan(16 + nlctrl.length);
    expect(datagrams[1]).toEqual(Buffer.concat([hdr(20, NLMSG_DONE, NLM_F_MULTI), s32(0)]));
  });
});

describe('doit: reply, then the ack', () => {
  const devGet = (k: Kernel, flags = NLM_F_REQUEST | NLM_F_ACK, name = 'vdpa0') => genlMsg(vdpaId(k), flags, VdpaCmd.DEV_GET, [strz(A.DEV_NAME, name)]);

  it('DEV_GET writes the mgmtdev handle first, then name, id, vendor, max_vqs, max and min vq size (vdpa_dev_fill)', async () => {
    const k = bootKernel();
    const [reply, ack] = await exchange(k, devGet(k));
    const body = Buffer.concat([
      Buffer.from([VdpaCmd.DEV_NEW, 1, 0, 0]),
      strz(2, 'vdpasim_net'),
      strz(4, 'vdpa0'),
      u32(5, 1),
      u32(6, 0),
      u32(7, 3),
      u16(8, 256),
      u16(9, 1),
    ]);
    expect(reply).toEqual(Buffer.concat([hdr(16 + body.length, vdpaId(k), 0), body]));
    expect(ack.readInt32LE(16)).toBe(0);
  });

  it('without NLM_F_ACK a successful doit is answered by the reply alone', async () => {
    const k = bootKernel();
    const datagrams = await exchange(k, devGet(k, NLM_F_REQUEST));
    expect(datagrams).toHaveLength(1);
    expect(datagrams[0].readUInt16LE(4)).toBe(vdpaId(k));
  });

  it('an error ack carries the whole request without NETLINK_CAP_ACK, and no TLVs without NETLINK_EXT_ACK', async () => {
    const k = bootKernel();
    const req = devGet(k, NLM_F_REQUEST | NLM_F_ACK, 'nope');
    const [ack] = await exchange(k, req, { capAck: false, extAck: false });
    expect(ack).toEqual(Buffer.concat([hdr(20 + req.length, NLMSG_ERROR, 0), s32(-19), req]));
  });

  it('with NETLINK_EXT_ACK the handler\'s message comes as NLMSGERR_ATTR_MSG, "vdpa: " first (NL_SET_ERR_MSG_MOD)', async () => {
    const k = bootKernel();
    const req = devGet(k, NLM_F_REQUEST | NLM_F_ACK, 'nope');
    const [ack] = await exchange(k, req);
    const tlv = strz(1, 'vdpa: device not found');
    expect(ack).toEqual(Buffer.concat([hdr(36 + tlv.length, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS), s32(-19), req.subarray(0, 16), tlv]));
  });

  it('an unknown family id is ENOENT, a command the family lacks EOPNOTSUPP, a dump of a doit-only command too', async () => {
    const k = bootKernel();
    const err = async (req: Buffer) => (await exchange(k, req))[0].readInt32LE(16);
    expect(await err(genlMsg(0x3ff, NLM_F_REQUEST | NLM_F_ACK, 1, []))).toBe(-2);
    expect(await err(genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK, 42, []))).toBe(-95);
    expect(await err(genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, VdpaCmd.DEV_NEW, []))).toBe(-95);
  });
});

describe('attribute policies are checked before the handler', () => {
  const devNew = (k: Kernel, ...attrs: Buffer[]) =>
    genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK, VdpaCmd.DEV_NEW, [strz(A.DEV_NAME, 'v'), strz(A.MGMTDEV_DEV_NAME, 'vdpasim_net'), ...attrs]);
  /* Where the attribute after the two names starts: nlmsghdr, genlmsghdr, "v\0" (8), "vdpasim_net\0" (16). */
  const THIRD = 16 + 4 + 8 + 16;

  it('mtu 67 (NLA_POLICY_MIN(NLA_U16, 68)) fails ERANGE "integer out of range" with the offset and the policy', async () => {
    const k = bootKernel();
    const req = devNew(k, u16(A.MTU, 67));
    const [ack] = await exchange(k, req);
    const tlvs = Buffer.concat([
      strz(1, 'integer out of range'),
      u32(2, THIRD),
      /* NLMSGERR_ATTR_POLICY, NLA_F_NESTED: MIN_VALUE_U, MAX_VALUE_U, TYPE U16 */
      attr(4 | 0x8000, Buffer.concat([u64(4, 68n), u64(5, 0xffffn), u32(1, 3)])),
    ]);
    expect(ack).toEqual(Buffer.concat([hdr(36 + tlvs.length, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS), s32(-34), req.subarray(0, 16), tlvs]));
    expect(k.fs.lookup('/sys/bus/vdpa/devices/v')).toBeUndefined();
  });

  it('a MAC of five bytes (NLA_POLICY_ETH_ADDR) fails ERANGE "binary attribute size out of range"', async () => {
    const k = bootKernel();
    const [ack] = await exchange(k, devNew(k, attr(A.MACADDR, Buffer.from([0, 1, 2, 3, 4]))));
    expect(ack.readInt32LE(16)).toBe(-34);
    const tlvs = ack.subarray(36);
    expect(tlvs.subarray(0, 40)).toEqual(strz(1, 'binary attribute size out of range'));
    expect(tlvs.subarray(40)).toEqual(Buffer.concat([u32(2, THIRD), attr(4 | 0x8000, Buffer.concat([u32(6, 6), u32(7, 6), u32(1, 10)]))]));
  });

  it('strict validation: no policy is "Unsupported attribute", past VDPA_ATTR_MAX "Unknown attribute type", a u32 for a u16 "invalid attribute length", a tail "bytes leftover"', async () => {
    const k = bootKernel();
    const message = async (req: Buffer) => {
      const [ack] = await exchange(k, req);
      return { err: ack.readInt32LE(16), msg: ack.toString('latin1', 40, ack.indexOf(0, 40)) };
    };
    expect(await message(devNew(k, u32(A.DEV_ID, 1)))).toEqual({ err: -22, msg: 'Unsupported attribute' });
    expect(await message(devNew(k, u32(38, 1)))).toEqual({ err: -22, msg: 'Unknown attribute type' });
    expect(await message(devNew(k, u32(A.MTU, 1500)))).toEqual({ err: -22, msg: 'invalid attribute length' });
    const trailing = genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK, VdpaCmd.DEV_GET, [strz(A.DEV_NAME, 'vdpa0')], { trailing: Buffer.from([1, 0]) });
    expect(await message(trailing)).toEqual({
      err: -22,
      msg: 'bytes leftover after parsing attributes',
    });
  });

  it('genlmsghdr.reserved must be 0 from DEV_ATTR_SET on (resv_start_op), not before', async () => {
    const k = bootKernel();
    const set = genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK, VdpaCmd.DEV_ATTR_SET, [strz(A.DEV_NAME, 'vdpa0')], { reserved: 1 });
    const [ack] = await exchange(k, set);
    expect(ack.readInt32LE(16)).toBe(-22);
    expect(ack.toString('latin1', 40, ack.indexOf(0, 40))).toBe('genlmsghdr.reserved field is not 0');
    const get = genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK, VdpaCmd.DEV_GET, [strz(A.DEV_NAME, 'vdpa0')], { reserved: 1 });
    const [reply] = await exchange(k, get);
    expect(reply.readUInt16LE(4)).toBe(vdpaId(k));
  });
});

describe('GENL_ADMIN_PERM', () => {
  it('DEV_NEW, DEV_DEL, DEV_VSTATS_GET and DEV_ATTR_SET from a socket a non-root user opened fail EPERM, with no message', async () => {
    const k = bootKernel();
    for (const cmd of [VdpaCmd.DEV_NEW, VdpaCmd.DEV_DEL, VdpaCmd.DEV_VSTATS_GET, VdpaCmd.DEV_ATTR_SET]) {
      const req = genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK, cmd, [strz(A.DEV_NAME, 'vdpa0')]);
      const [ack] = await exchange(k, req, { cred: nobody });
      expect(ack).toEqual(Buffer.concat([hdr(36, NLMSG_ERROR, NLM_F_CAPPED), s32(-1), req.subarray(0, 16)]));
    }
    expect(k.fs.lookup('/sys/bus/vdpa/devices/vdpa0')).toBeDefined();
  });

  it('the show commands are open to every user', async () => {
    const k = bootKernel();
    const r = await settle(vdpaGenl(k, VdpaCmd.DEV_GET, [], nobody));
    expect(r.msgs).toHaveLength(1);
    expect(() => vdpaGenl(k, VdpaCmd.DEV_NEW, [['VDPA_ATTR_DEV_NAME', 'x'], ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net']], nobody)).toThrow(
      expect.objectContaining({ errno: 'EPERM' }),
    );
  });
});

describe('dumps', () => {
  function addDevices(k: Kernel, n: number): void {
    for (let i = 1; i <= n; i++) {
      vdpaGenl(k, VdpaCmd.DEV_NEW, [
        ['VDPA_ATTR_DEV_NAME', `d${i}`],
        ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
      ]);
    }
  }

  it('300 devices: NLM_F_MULTI messages in datagrams no larger than the reader\'s 4096-byte reads, resuming where each stopped, then NLMSG_DONE alone', async () => {
    const k = bootKernel();
    addDevices(k, 300);
    const datagrams = await exchange(k, genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, VdpaCmd.DEV_GET, []), { maxRead: 4096 });
    expect(datagrams.length).toBeGreaterThan(5);
    const names: string[] = [];
    const data = datagrams.slice(0, -1);
    for (const [i, d] of data.entries()) {
      expect(d.length).toBeLessThanOrEqual(4096);
      for (let off = 0; off < d.length; off += d.readUInt32LE(off)) {
        expect(d.readUInt16LE(off + 6)).toBe(NLM_F_MULTI);
        expect(d.readUInt32LE(off + 8)).toBe(SEQ);
        expect(d.readUInt32LE(off + 12)).toBe(PORTID);
        const at = d.indexOf(Buffer.from([4, 0]), off + 20 + 16) - 2;
        names.push(d.toString('latin1', at + 4, d.indexOf(0, at + 4)));
      }
      /* Each full datagram stopped because the next device's message would not have fitted. */
      if (i < data.length - 1) expect(4096 - d.length).toBeLessThan(100);
    }
    expect(names).toEqual(['vdpa0', ...Array.from({ length: 300 }, (_, i) => `d${i + 1}`)]);
    expect(datagrams.at(-1)).toEqual(Buffer.concat([hdr(20, NLMSG_DONE, NLM_F_MULTI), s32(0)]));
  });

  it('before any read the datagrams are NLMSG_GOODSIZE (3776 bytes) at most', async () => {
    const k = bootKernel();
    addDevices(k, 60);
    const datagrams = await exchange(k, genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_DUMP, VdpaCmd.DEV_CONFIG_GET, []));
    expect(datagrams.length).toBeGreaterThan(2);
    for (const d of datagrams) expect(d.length).toBeLessThanOrEqual(3776);
  });

  it('a dump is not acked even with NLM_F_ACK, and an empty one is NLMSG_DONE alone', async () => {
    const k = bootKernel({ bare: true });
    k.modules.modprobe('vdpa');
    const datagrams = await exchange(k, genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, VdpaCmd.MGMTDEV_GET, []));
    expect(datagrams).toEqual([Buffer.concat([hdr(20, NLMSG_DONE, NLM_F_MULTI), s32(0)])]);
  });

  it('a socket runs one dump at a time: a second request before the first is read fails EBUSY', async () => {
    const k = bootKernel();
    addDevices(k, 60);
    const { sk, datagrams } = socket(k);
    const dump = genlMsg(vdpaId(k), NLM_F_REQUEST | NLM_F_DUMP, VdpaCmd.DEV_GET, []);
    await settle(netlinkSendmsg(sk, dump));
    await settle(netlinkSendmsg(sk, dump));
    const ack = datagrams.at(-1)!;
    expect([ack.readUInt16LE(4), ack.readInt32LE(16)]).toEqual([NLMSG_ERROR, -16]);
  });
});

describe('genl_mutex', () => {
  it('while vdpa dev del waits for /dev/vhost-vdpa-0 to close, later generic netlink requests wait behind it', async () => {
    const { k, v } = rig('net');
    const file = v.open(userMemory());
    const del = settle(vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]));
    let shown: string[] | null = null;
    const show = settle(vdpaGenl(k, VdpaCmd.DEV_GET, [])).then((r) => (shown = r.msgs.map((m) => String(m.find(([a]) => a === 'VDPA_ATTR_DEV_NAME')?.[1]))));
    await new Promise((r) => setTimeout(r, 20));
    expect(shown).toBeNull();
    file.release();
    await del;
    await show;
    expect(shown).toEqual([]);
  });
});

describe('the typed entry point reads answers as iproute2 does', () => {
  it('a warning (extack on success) comes back as such: dev set on a block device names the device', async () => {
    const { k } = rig('blk');
    const r = await settle(vdpaGenl(k, VdpaCmd.DEV_ATTR_SET, [['VDPA_ATTR_DEV_NAME', 'blk0'], ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [2, 0, 0, 0, 0, 1]]]));
    expect(r).toEqual({ msgs: [], warning: 'vdpa: blk0 device not supported' });
  });

  it('block config carries the capacity and the blk attributes after DEV_FEATURES (vdpa_dev_blk_config_fill)', async () => {
    const { k } = rig('blk');
    const r = await settle(vdpaGenl(k, VdpaCmd.DEV_CONFIG_GET, [['VDPA_ATTR_DEV_NAME', 'blk0']]));
    const names = r.msgs[0].map(([a]) => a);
    expect(names.slice(0, 4)).toEqual(['VDPA_ATTR_DEV_NAME', 'VDPA_ATTR_DEV_ID', 'VDPA_ATTR_DEV_FEATURES', 'VDPA_ATTR_DEV_BLK_CFG_CAPACITY']);
    expect(names.slice(-2)).toEqual(['VDPA_ATTR_DEV_BLK_READ_ONLY', 'VDPA_ATTR_DEV_BLK_FLUSH']);
    expect(r.msgs[0].find(([a]) => a === 'VDPA_ATTR_DEV_BLK_CFG_CAPACITY')?.[1]).toBe(String((128 << 20) / 512));
  });
});
