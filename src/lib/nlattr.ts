/*
 * lib/nlattr.c: attribute policies and the validating parser
 * (__nla_validate_parse, validate_nla), with the kernel's extack messages,
 * which userspace prints verbatim ("Error: integer out of range.").
 */
import { fail } from '../kernel/errno';
import { ExtAck, Nlattr, nlaWalk } from '../include/net/netlink';
import { NLA_F_NESTED, NLA_HDRLEN } from '../include/uapi/netlink';

export type NlaPolicyType = 'unspec' | 'u8' | 'u16' | 'u32' | 'u64' | 'string' | 'flag' | 'nested' | 'nul_string' | 'binary' | 'reject';

/* struct nla_policy, reduced to the types and validations the families here use. */
export interface NlaPolicy {
  type: NlaPolicyType;
  /* .len: a string's maximum length, a binary's maximum size. */
  len?: number;
  /* .validation_type with .min/.max (NLA_POLICY_RANGE/MIN/MAX). */
  validation?: 'range' | 'min' | 'max';
  min?: number;
  max?: number;
}

/* Indexed by attribute type; a hole is NLA_UNSPEC. */
export type Policy = ReadonlyArray<NlaPolicy | undefined>;

export const NLA_POLICY_MIN = (type: NlaPolicyType, min: number): NlaPolicy => ({ type, validation: 'min', min });
export const NLA_POLICY_EXACT_LEN = (len: number): NlaPolicy => ({ type: 'binary', validation: 'range', min: len, max: len });
export const NLA_POLICY_ETH_ADDR = NLA_POLICY_EXACT_LEN(6);

/* enum netlink_validation */
export const NL_VALIDATE_LIBERAL = 0;
const NL_VALIDATE_TRAILING = 1 << 0;
const NL_VALIDATE_MAXTYPE = 1 << 1;
const NL_VALIDATE_UNSPEC = 1 << 2;
const NL_VALIDATE_STRICT_ATTRS = 1 << 3;
const NL_VALIDATE_NESTED = 1 << 4;
export const NL_VALIDATE_STRICT =
  NL_VALIDATE_TRAILING | NL_VALIDATE_MAXTYPE | NL_VALIDATE_UNSPEC | NL_VALIDATE_STRICT_ATTRS | NL_VALIDATE_NESTED;

/* nla_attr_len[]: fixed-size types; a different length is only a warning unless strict. */
const NLA_ATTR_LEN: Partial<Record<NlaPolicyType, number>> = { u8: 1, u16: 2, u32: 4, u64: 8 };
/* nla_attr_minlen[] */
const NLA_ATTR_MINLEN: Partial<Record<NlaPolicyType, number>> = { u8: 1, u16: 2, u32: 4, u64: 8, nested: NLA_HDRLEN };

const TYPE_MAX: Partial<Record<NlaPolicyType, bigint>> = { u8: 0xffn, u16: 0xffffn, binary: 0xffffn, u32: 0xffffffffn, u64: (1n << 64n) - 1n };

/* nla_get_range_unsigned() */
export function nlaGetRangeUnsigned(pt: NlaPolicy): { min: bigint; max: bigint } {
  let min = 0n;
  let max = TYPE_MAX[pt.type] ?? 0n;
  if (pt.validation === 'range') {
    min = BigInt(pt.min ?? 0);
    max = BigInt(pt.max ?? 0);
  } else if (pt.validation === 'min') min = BigInt(pt.min ?? 0);
  else if (pt.validation === 'max') max = BigInt(pt.max ?? 0);
  return { min, max };
}

function unsignedValue(pt: NlaPolicy, nla: Nlattr): bigint {
  switch (pt.type) {
    case 'u8':
      return BigInt(nla.payload.readUInt8(0));
    case 'u16':
      return BigInt(nla.payload.readUInt16LE(0));
    case 'u32':
      return BigInt(nla.payload.readUInt32LE(0));
    case 'u64':
      return nla.payload.readBigUInt64LE(0);
    case 'binary':
      return BigInt(nla.len);
    default:
      return fail('EINVAL');
  }
}

/* NL_SET_ERR_MSG_ATTR_POL() then return -err */
function reject(extack: ExtAck | undefined, nla: Nlattr, pt: NlaPolicy | undefined, msg: string, errno: 'EINVAL' | 'ERANGE'): never {
  if (extack) {
    extack.msg = msg;
    extack.badAttr = nla.off;
    extack.policy = pt;
  }
  return fail(errno);
}

/* nla_validate_range_unsigned() */
function validateRange(pt: NlaPolicy, nla: Nlattr, extack: ExtAck | undefined): void {
  const value = unsignedValue(pt, nla);
  const range = nlaGetRangeUnsigned(pt);
  if (value < range.min || value > range.max) {
    reject(extack, nla, pt, pt.type === 'binary' ? 'binary attribute size out of range' : 'integer out of range', 'ERANGE');
  }
}

/* validate_nla() */
function validateNla(nla: Nlattr, maxtype: number, policy: Policy, validate: number, extack: ExtAck | undefined): void {
  const type = nla.type;
  if (type <= 0 || type > maxtype) return;
  const pt = policy[type] ?? { type: 'unspec' };
  const attrlen = nla.len;

  const exact = NLA_ATTR_LEN[pt.type];
  if (exact !== undefined && attrlen !== exact && validate & NL_VALIDATE_STRICT_ATTRS) {
    reject(extack, nla, pt, 'invalid attribute length', 'EINVAL');
  }
  if (validate & NL_VALIDATE_NESTED) {
    const nested = (nla.rawType & NLA_F_NESTED) !== 0;
    if (pt.type === 'nested' && !nested) reject(extack, nla, pt, 'NLA_F_NESTED is missing', 'EINVAL');
    if (pt.type !== 'nested' && pt.type !== 'unspec' && nested) reject(extack, nla, pt, 'NLA_F_NESTED not expected', 'EINVAL');
  }

  const policyFailure = (errno: 'EINVAL' | 'ERANGE' = 'ERANGE') => reject(extack, nla, pt, 'Attribute failed policy validation', errno);
  switch (pt.type) {
    case 'reject':
      policyFailure('EINVAL');
      break;
    case 'flag':
      if (attrlen > 0) policyFailure();
      break;
    case 'nul_string':
    case 'string': {
      /* NLA_NUL_STRING: a NUL within len + 1 bytes; then the NLA_STRING checks. */
      if (pt.type === 'nul_string') {
        const minlen = pt.len ? Math.min(attrlen, pt.len + 1) : attrlen;
        if (!minlen || !nla.payload.subarray(0, minlen).includes(0)) policyFailure('EINVAL');
      }
      if (attrlen < 1) policyFailure();
      if (pt.len) {
        const len = nla.payload[attrlen - 1] === 0 ? attrlen - 1 : attrlen;
        if (len > pt.len) policyFailure();
      }
      break;
    }
    case 'binary':
      if (pt.len && attrlen > pt.len) policyFailure();
      break;
    case 'nested':
      if (attrlen !== 0 && attrlen < NLA_HDRLEN) policyFailure();
      break;
    case 'unspec':
      if (validate & NL_VALIDATE_UNSPEC) {
        if (extack) {
          extack.msg = 'Unsupported attribute';
          extack.badAttr = nla.off;
        }
        fail('EINVAL');
      }
      if (attrlen < (pt.len ?? 0)) policyFailure();
      break;
    default: {
      const minlen = pt.len || NLA_ATTR_MINLEN[pt.type] || 0;
      if (attrlen < minlen) policyFailure();
    }
  }

  if (pt.validation) validateRange(pt, nla, extack);
}

/*
 * __nla_parse(): the attributes of `msg` from `start` for `len` bytes,
 * validated against `policy`, into a table indexed by type (the last of a
 * repeated type wins). Offsets in the extack are from the start of `msg`.
 */
export function nlaParse(
  msg: Buffer,
  start: number,
  len: number,
  maxtype: number,
  policy: Policy | null,
  validate: number,
  extack?: ExtAck,
): Array<Nlattr | undefined> {
  const tb: Array<Nlattr | undefined> = new Array(maxtype + 1).fill(undefined);
  const { attrs, rem } = nlaWalk(msg, start, len);
  for (const nla of attrs) {
    if (nla.type === 0 || nla.type > maxtype) {
      if (validate & NL_VALIDATE_MAXTYPE) {
        if (extack) {
          extack.msg = 'Unknown attribute type';
          extack.badAttr = nla.off;
        }
        fail('EINVAL');
      }
      continue;
    }
    if (policy) validateNla(nla, maxtype, policy, validate, extack);
    tb[nla.type] = nla;
  }
  if (rem > 0) {
    /* Set even when liberal parsing goes on: a successful request then carries it as a warning. */
    if (extack) extack.msg = 'bytes leftover after parsing attributes';
    if (validate & NL_VALIDATE_TRAILING) fail('EINVAL');
  }
  return tb;
}
