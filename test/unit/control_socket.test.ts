/*
 * The control socket's checks, without a daemon: the bounded line reader,
 * the genl family's policy and admin ops (drivers/vdpa/vdpa.c's
 * vdpa_nl_policy and GENL_ADMIN_PERM), and the order a call is judged in
 * (permission, then schema, then the method).
 */
import { describe, expect, it } from 'vitest';
import { LineReader } from '../../src/control/line_reader';
import { genlParams, genlPermission } from '../../src/control/genl_policy';
import { invoke, method } from '../../src/control/server';
import { object, str } from '../../src/control/schema';
import { KernelError } from '../../src/kernel/errno';
import { ROOT_CRED } from '../../src/kernel/cred';
import { VdpaCmd } from '../../src/include/uapi/vdpa';

function reader(max: number) {
  const out: string[] = [];
  const r = new LineReader(max, (l) => out.push(l), () => out.push('<too long>'));
  return { r, out };
}

function failure(f: () => unknown): { errno: string; extack?: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return { errno: e.errno, extack: e.extack };
    throw e;
  }
  throw new Error('did not fail');
}

const USER = { uid: 1000, gid: 1000, pid: 4242 };
const ctx = (cred = ROOT_CRED) => ({ cred, emit: () => {}, onClose: () => () => {} });

describe('LineReader', () => {
  it('joins a line split across chunks, multibyte characters included', () => {
    const { r, out } = reader(100);
    const bytes = Buffer.from('{"name":"ü€"}\nsecond\n');
    for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
    expect(out).toEqual(['{"name":"ü€"}', 'second']);
  });

  it('a line of exactly the limit passes; one byte more is reported once, and the next line is read', () => {
    const { r, out } = reader(8);
    r.push(Buffer.from('12345678\n123456789\nok\n'));
    expect(out).toEqual(['12345678', '<too long>', 'ok']);
  });

  it('an endless line is reported once, never held, and the stream recovers at its newline', () => {
    const { r, out } = reader(1024);
    for (let i = 0; i < 1000; i++) r.push(Buffer.alloc(4096, 0x61));
    expect(out).toEqual(['<too long>']);
    r.push(Buffer.from('aaa\nnext\n'));
    expect(out).toEqual(['<too long>', 'next']);
  });
});

describe('the vdpa genl family on the control socket', () => {
  const devNew = (attrs: unknown) => genlParams({ cmd: VdpaCmd.DEV_NEW, attrs }, 'params');

  it('GENL_ADMIN_PERM: dev add, del, set and vstats need CAP_NET_ADMIN; mgmtdev, dev and config queries do not', () => {
    const perm = (cmd: number) => genlPermission({ cmd });
    expect([VdpaCmd.DEV_NEW, VdpaCmd.DEV_DEL, VdpaCmd.DEV_ATTR_SET, VdpaCmd.DEV_VSTATS_GET].map(perm)).toEqual(['admin', 'admin', 'admin', 'admin']);
    expect([VdpaCmd.MGMTDEV_GET, VdpaCmd.DEV_GET, VdpaCmd.DEV_CONFIG_GET].map(perm)).toEqual(['anyone', 'anyone', 'anyone']);
    expect([null, 'x', { cmd: '3' }].map(genlPermission)).toEqual(['anyone', 'anyone', 'anyone']);
  });

  it('NLA_POLICY_ETH_ADDR: a MAC of 5 or 7 bytes is ERANGE "binary attribute size out of range"', () => {
    for (const mac of [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7]]) {
      expect(failure(() => devNew([['VDPA_ATTR_DEV_NET_CFG_MACADDR', mac]]))).toEqual({ errno: 'ERANGE', extack: 'binary attribute size out of range' });
    }
    expect(failure(() => devNew([['VDPA_ATTR_DEV_NET_CFG_MACADDR', [1, 2, 3, 4, 5, 256]]])).errno).toBe('ERANGE');
    expect(devNew([['VDPA_ATTR_DEV_NET_CFG_MACADDR', [2, 0, 0, 0, 0, 1]]]).attrs).toEqual([['VDPA_ATTR_DEV_NET_CFG_MACADDR', [2, 0, 0, 0, 0, 1]]]);
  });

  it('NLA_POLICY_MIN(NLA_U16, 68): an MTU of 67 or 65536 is ERANGE "integer out of range"; 68 passes', () => {
    for (const mtu of [67, 65536, -1]) {
      expect(failure(() => devNew([['VDPA_ATTR_DEV_NET_CFG_MTU', mtu]]))).toEqual({ errno: 'ERANGE', extack: 'integer out of range' });
    }
    expect(devNew([['VDPA_ATTR_DEV_NET_CFG_MTU', 68]]).attrs).toEqual([['VDPA_ATTR_DEV_NET_CFG_MTU', 68]]);
  });

  it('wrong types fail policy validation (EINVAL): a name that is not a string, a u64 that is not decimal, a NUL in a name', () => {
    for (const attr of [
      ['VDPA_ATTR_DEV_NAME', 7],
      ['VDPA_ATTR_DEV_NAME', ['a']],
      ['VDPA_ATTR_DEV_NAME', 'a\u0000b'],
      ['VDPA_ATTR_DEV_FEATURES', 'abc'],
      ['VDPA_ATTR_DEV_FEATURES', 5],
      ['VDPA_ATTR_DEV_NET_CFG_MTU', '1500'],
    ]) {
      expect(failure(() => devNew([attr])), JSON.stringify(attr)).toEqual({ errno: 'EINVAL', extack: 'Attribute failed policy validation' });
    }
    expect(failure(() => devNew([['VDPA_ATTR_DEV_FEATURES', '18446744073709551616']])).errno).toBe('ERANGE');
  });

  it('strict validation: an attribute with no policy entry is "Unsupported attribute", prototype names included', () => {
    for (const name of ['VDPA_ATTR_DEV_ID', 'VDPA_ATTR_DEV_VENDOR_ATTR_NAME', 'constructor', '__proto__', 'nope']) {
      expect(failure(() => devNew([[name, 1]]))).toEqual({ errno: 'EINVAL', extack: 'Unsupported attribute' });
    }
  });

  it('the envelope: cmd is a u8, attrs a list of pairs, no other field', () => {
    expect(failure(() => genlParams({ cmd: 256 }, 'params')).errno).toBe('ERANGE');
    expect(failure(() => genlParams({ cmd: '3' }, 'params')).errno).toBe('EINVAL');
    expect(failure(() => genlParams({ cmd: 3, attrs: {} }, 'params')).errno).toBe('EINVAL');
    expect(failure(() => genlParams({ cmd: 3, attrs: [['VDPA_ATTR_DEV_NAME']] }, 'params')).errno).toBe('EINVAL');
    expect(failure(() => genlParams({ cmd: 3, extra: 1 }, 'params')).extack).toBe('params: unknown field "extra"');
    expect(failure(() => genlParams(null, 'params')).errno).toBe('EINVAL');
  });
});

describe('judging a call', () => {
  const ran: unknown[] = [];
  const adminOnly = method({ perm: 'admin', params: object({ name: str({ maxBytes: 4 }) }), run: (p) => ran.push(p) });

  it('a caller who is not root gets EPERM before the params are even looked at', () => {
    expect(failure(() => invoke(adminOnly, { name: 12345 }, ctx(USER))).errno).toBe('EPERM');
    expect(failure(() => invoke(adminOnly, 'garbage', ctx(USER))).errno).toBe('EPERM');
    expect(ran).toEqual([]);
  });

  it('root gets the schema: a wrong type is EINVAL, too long is ERANGE, and only a valid call runs', () => {
    expect(failure(() => invoke(adminOnly, { name: 12345 }, ctx())).extack).toBe('params.name: expected a string');
    expect(failure(() => invoke(adminOnly, { name: 'abcde' }, ctx())).errno).toBe('ERANGE');
    invoke(adminOnly, { name: 'abcd' }, ctx());
    expect(ran).toEqual([{ name: 'abcd' }]);
  });
});
