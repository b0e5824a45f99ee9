/*
 * net/netlink/policy.c, the part an extended ack uses: describing the
 * policy of the attribute that failed validation (NLMSGERR_ATTR_POLICY),
 * so userspace can say what would have been accepted.
 */
import { nlaNestCancel, nlaNestEnd, nlaNestStart, nlaPutU32, nlaPutU64, SkBuff } from '../../include/net/netlink';
import { NlAttrType, NlPolicyTypeAttr } from '../../include/uapi/netlink';
import { nlaGetRangeUnsigned, NlaPolicy } from '../../lib/nlattr';

const U16_MAX = 0xffffn;

const INT_TYPES: Partial<Record<NlaPolicy['type'], NlAttrType>> = {
  u8: NlAttrType.U8,
  u16: NlAttrType.U16,
  u32: NlAttrType.U32,
  u64: NlAttrType.U64,
};

/*
 * netlink_policy_dump_write_attr(): a nest `nestattr` holding the policy's
 * bounds, then its type. A policy with nothing to say (NLA_UNSPEC, where
 * the kernel returns -ENODATA) writes nothing and returns false.
 */
export function netlinkPolicyDumpWriteAttr(skb: SkBuff, pt: NlaPolicy, nestattr: number): boolean {
  if (pt.type === 'unspec' || pt.type === 'reject') return false;
  const attr = nlaNestStart(skb, nestattr);
  try {
    let type: NlAttrType;
    switch (pt.type) {
      case 'nested':
        type = NlAttrType.NESTED;
        break;
      case 'u8':
      case 'u16':
      case 'u32':
      case 'u64': {
        type = INT_TYPES[pt.type]!;
        const range = nlaGetRangeUnsigned(pt);
        nlaPutU64(skb, NlPolicyTypeAttr.MIN_VALUE_U, range.min);
        nlaPutU64(skb, NlPolicyTypeAttr.MAX_VALUE_U, range.max);
        break;
      }
      case 'string':
      case 'nul_string':
      case 'binary':
        type = pt.type === 'string' ? NlAttrType.STRING : pt.type === 'nul_string' ? NlAttrType.NUL_STRING : NlAttrType.BINARY;
        if (pt.validation === 'range') {
          const range = nlaGetRangeUnsigned(pt);
          if (range.min) nlaPutU32(skb, NlPolicyTypeAttr.MIN_LENGTH, Number(range.min));
          if (range.max < U16_MAX) nlaPutU32(skb, NlPolicyTypeAttr.MAX_LENGTH, Number(range.max));
        } else if (pt.len) {
          nlaPutU32(skb, NlPolicyTypeAttr.MAX_LENGTH, pt.len);
        }
        break;
      case 'flag':
        type = NlAttrType.FLAG;
        break;
    }
    nlaPutU32(skb, NlPolicyTypeAttr.TYPE, type);
    nlaNestEnd(skb, attr);
    return true;
  } catch (e) {
    if (skb.len > attr) nlaNestCancel(skb, attr);
    throw e;
  }
}
