/*
 * The "vdpa" genl family as the control socket admits it: which commands
 * need CAP_NET_ADMIN (the ops' GENL_ADMIN_PERM flags in drivers/vdpa/vdpa.c)
 * and vdpa_nl_policy, checked strictly as the family's ops are since the
 * kernel turned on strict validation:
 *
 *   MGMTDEV_BUS_NAME  NLA_NUL_STRING      DEV_NET_CFG_MACADDR  NLA_POLICY_ETH_ADDR (6 bytes)
 *   MGMTDEV_DEV_NAME  NLA_STRING          DEV_NET_CFG_MAX_VQP  NLA_U16
 *   DEV_NAME          NLA_STRING          DEV_NET_CFG_MTU      NLA_POLICY_MIN(NLA_U16, 68)
 *   DEV_QUEUE_INDEX   NLA_U32             DEV_FEATURES         NLA_U64
 *
 * Any other attribute has no policy entry and is refused ("Unsupported
 * attribute", EINVAL), as NL_VALIDATE_UNSPEC refuses it. Errnos and extack
 * messages are lib/nlattr.c's, since iproute2 prints them.
 */
import { KernelError } from '../kernel/errno';
import { NlAttr, NlMsg, NlValue, VdpaAttrName, VdpaCmd } from '../include/uapi/vdpa';
import { bytes, int, object, optional, Schema, str, u16, u32, u64, u8 } from './schema';
import type { Permission } from './server';

/* An nlattr's payload is at most 65535 - 4 bytes. */
const NLA_MAX_PAYLOAD = 65531;
/* More attributes than any vdpa request carries, by far. */
const MAX_ATTRS = 64;

const nlString = str({ maxBytes: NLA_MAX_PAYLOAD - 1 });

const VDPA_NL_POLICY: Partial<Record<VdpaAttrName, Schema<NlValue>>> = {
  VDPA_ATTR_MGMTDEV_BUS_NAME: nlString,
  VDPA_ATTR_MGMTDEV_DEV_NAME: nlString,
  VDPA_ATTR_DEV_NAME: nlString,
  VDPA_ATTR_DEV_NET_CFG_MACADDR: bytes(6, 6),
  VDPA_ATTR_DEV_NET_CFG_MAX_VQP: u16,
  /* virtio spec 1.1, 5.1.4.1: the smallest valid MTU. */
  VDPA_ATTR_DEV_NET_CFG_MTU: int(68, 0xffff),
  VDPA_ATTR_DEV_QUEUE_INDEX: u32,
  VDPA_ATTR_DEV_FEATURES: u64,
};

/* The ops with GENL_ADMIN_PERM: genl answers EPERM to a caller without CAP_NET_ADMIN. */
const ADMIN_CMDS: ReadonlySet<number> = new Set([VdpaCmd.DEV_NEW, VdpaCmd.DEV_DEL, VdpaCmd.DEV_VSTATS_GET, VdpaCmd.DEV_ATTR_SET]);

export function genlPermission(raw: unknown): Permission {
  const cmd = typeof raw === 'object' && raw !== null ? (raw as { cmd?: unknown }).cmd : undefined;
  return typeof cmd === 'number' && ADMIN_CMDS.has(cmd) ? 'admin' : 'anyone';
}

/* The kernel's extack for a failed policy check, which iproute2 prints as "Error: ...". */
function policyError(e: unknown, binary: boolean): never {
  if (!(e instanceof KernelError)) throw e;
  if (e.errno === 'ERANGE') throw new KernelError('ERANGE', binary ? 'binary attribute size out of range' : 'integer out of range');
  throw new KernelError('EINVAL', 'Attribute failed policy validation');
}

const nlAttrs: Schema<NlMsg> = (v, where) => {
  if (!Array.isArray(v)) throw new KernelError('EINVAL', `${where}: expected an array of [name, value] attributes`);
  if (v.length > MAX_ATTRS) throw new KernelError('EINVAL', `${where}: more than ${MAX_ATTRS} attributes`);
  return v.map((a, i): NlAttr => {
    if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string') {
      throw new KernelError('EINVAL', `${where}[${i}]: expected [name, value]`);
    }
    const [name, value] = a as [string, unknown];
    const policy = Object.prototype.hasOwnProperty.call(VDPA_NL_POLICY, name) ? VDPA_NL_POLICY[name as VdpaAttrName] : undefined;
    if (!policy) throw new KernelError('EINVAL', 'Unsupported attribute');
    try {
      return [name as VdpaAttrName, policy(value, `${where}[${i}]`)];
    } catch (e) {
      policyError(e, name === 'VDPA_ATTR_DEV_NET_CFG_MACADDR');
    }
  });
};

/* The genl method's params: a command number (genlmsghdr.cmd is a u8) and its attributes. */
export const genlParams = object({ cmd: u8, attrs: optional(nlAttrs) });
