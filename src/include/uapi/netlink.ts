/*
 * include/uapi/linux/netlink.h: message and attribute headers, flags, the
 * extended-ack attributes and the policy description carried in acks.
 */

/* Protocols (the third argument of socket(AF_NETLINK, ...)). */
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

/* struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; } */
export const AF_NETLINK = 16;
export const SOCKADDR_NL_SIZE = 12;

/* struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32. */
export const NLMSG_HDRLEN = 16;
export const NLMSG_ALIGNTO = 4;
export const NLMSG_ALIGN = (len: number): number => (len + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
export const nlmsgTotalSize = (payload: number): number => NLMSG_ALIGN(NLMSG_HDRLEN + payload);

export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/* Flags of an NLMSG_ERROR acknowledgment. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

export const NLMSG_NOOP = 0x1;
export const NLMSG_ERROR = 0x2;
export const NLMSG_DONE = 0x3;
export const NLMSG_OVERRUN = 0x4;
export const NLMSG_MIN_TYPE = 0x10;

/* struct nlmsgerr: int error, then the request's nlmsghdr (and maybe its payload). */
export const NLMSGERR_SIZE = 4 + NLMSG_HDRLEN;

export enum NlmsgerrAttr {
  UNUSED = 0,
  MSG = 1,
  OFFS = 2,
  COOKIE = 3,
  POLICY = 4,
  MISS_TYPE = 5,
  MISS_NEST = 6,
}

/* SOL_NETLINK socket options. */
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

/* struct nlattr: len u16, type u16; the two top type bits are flags. */
export const NLA_HDRLEN = 4;
export const NLA_ALIGN = NLMSG_ALIGN;
export const NLA_F_NESTED = 1 << 15;
export const NLA_F_NET_BYTEORDER = 1 << 14;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;
export const nlaTotalSize = (payload: number): number => NLA_ALIGN(NLA_HDRLEN + payload);

/* enum netlink_attribute_type: what a policy dump says an attribute is. */
export enum NlAttrType {
  INVALID = 0,
  FLAG = 1,
  U8 = 2,
  U16 = 3,
  U32 = 4,
  U64 = 5,
  S8 = 6,
  S16 = 7,
  S32 = 8,
  S64 = 9,
  BINARY = 10,
  STRING = 11,
  NUL_STRING = 12,
  NESTED = 13,
  NESTED_ARRAY = 14,
  BITFIELD32 = 15,
}

/* enum netlink_policy_type_attr */
export enum NlPolicyTypeAttr {
  UNSPEC = 0,
  TYPE = 1,
  MIN_VALUE_S = 2,
  MAX_VALUE_S = 3,
  MIN_VALUE_U = 4,
  MAX_VALUE_U = 5,
  MIN_LENGTH = 6,
  MAX_LENGTH = 7,
  POLICY_IDX = 8,
  POLICY_MAXTYPE = 9,
  BITFIELD32_MASK = 10,
  PAD = 11,
  MASK = 12,
}
