/*
 * include/uapi/linux/genetlink.h: the generic netlink header and the
 * controller family ("nlctrl") that maps family names to ids.
 */

/* struct genlmsghdr: cmd u8, version u8, reserved u16. */
export const GENL_HDRLEN = 4;
export const GENL_NAMSIZ = 16;

export const GENL_ID_CTRL = 0x10;
export const GENL_ID_VFS_DQUOT = 0x11;
export const GENL_ID_PMCRAID = 0x12;
/* The first id genl_register_family() hands out, and the last. */
export const GENL_START_ALLOC = GENL_ID_PMCRAID + 1;
export const GENL_MAX_ID = 1023;

/* genl_ops.flags, and the capability bits the controller reports per op. */
export const GENL_ADMIN_PERM = 0x01;
export const GENL_CMD_CAP_DO = 0x02;
export const GENL_CMD_CAP_DUMP = 0x04;
export const GENL_CMD_CAP_HASPOL = 0x08;
export const GENL_UNS_ADMIN_PERM = 0x10;

export enum CtrlCmd {
  UNSPEC = 0,
  NEWFAMILY = 1,
  DELFAMILY = 2,
  GETFAMILY = 3,
  NEWOPS = 4,
  DELOPS = 5,
  GETOPS = 6,
  NEWMCAST_GRP = 7,
  DELMCAST_GRP = 8,
  GETMCAST_GRP = 9,
  GETPOLICY = 10,
}

export enum CtrlAttr {
  UNSPEC = 0,
  FAMILY_ID = 1,
  FAMILY_NAME = 2,
  VERSION = 3,
  HDRSIZE = 4,
  MAXATTR = 5,
  OPS = 6,
  MCAST_GROUPS = 7,
  POLICY = 8,
  OP_POLICY = 9,
  OP = 10,
}

export enum CtrlAttrOp {
  UNSPEC = 0,
  ID = 1,
  FLAGS = 2,
}

export enum CtrlAttrMcastGrp {
  UNSPEC = 0,
  NAME = 1,
  ID = 2,
}
