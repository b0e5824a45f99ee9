/*
 * vdpa(8): iproute2's vDPA management tool, talking to the simulated kernel
 * over the vdpafs control socket; the kernel side is the same "vdpa" genl
 * family (drivers/vdpa/vdpa_netlink.ts) the real tool reaches on the wire.
 *
 * This is a port of iproute2 6.1.0's vdpa/vdpa.c (Debian bookworm's
 * /sbin/vdpa, which the end-to-end tests run side by side with this one),
 * together with the pieces of lib/ whose behaviour shows: getopt_long,
 * matches(), get_u16/u32/u64(), ll_addr_a2n()/ll_addr_n2a(), json_writer.c +
 * json_print.c (-j, -p), and mnl_utils.c/libnetlink.c's family lookup and
 * error printing. Usage texts, parse errors and output bytes are iproute2
 * 6.1's, quirks included (see the comments marked "iproute2:"). Where this
 * differs from that tool:
 *   - `--root MOUNTPOINT` is an extra long option, and with no kernel to
 *     talk to at all it says which mount it tried instead of "Failed to
 *     connect to vdpa Netlink" (which it prints, as 6.1 does, when the
 *     kernel is there but has no vdpa family: the vdpa module not loaded);
 *   - two commands of later releases are accepted as those releases do
 *     them: `dev add ... device_features HEX` (iproute2 6.2) and
 *     `dev set name DEV mac MAC` (6.13). 6.1 rejects both; its help texts,
 *     kept here, do not mention them.
 */
import { ControlClient, ControlError, resolveRoot } from '../control/client';
import { NlMsg, NlValue, VDPA_GENL_NAME, VdpaAttrName, VdpaCmd, VIRTIO_ID_BLOCK, VIRTIO_ID_NET } from '../include/uapi/vdpa';
import { VIRTIO_TRANSPORT_F_END, VIRTIO_TRANSPORT_F_START, virtioHasFeature } from '../include/uapi/virtio_config';
import { VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_S_ANNOUNCE, VIRTIO_NET_S_LINK_UP } from '../include/uapi/virtio_net';
import { ERRNO, isErrno, strerror } from '../kernel/errno';

/* The iproute2 release this is a port of, and what `vdpa -V` says. */
export const IPROUTE2_VERSION = '6.1.0';

const U64_MASK = (1n << 64n) - 1n;
const EINVAL = ERRNO.EINVAL;
const ENOENT = ERRNO.ENOENT;

/* ------------------------------------------------------------------------ */
/* lib/utils.c and libc behaviour the command line depends on               */

/* iproute2 matches(): `cmd` is a prefix of `pattern`; an empty word matches nothing. */
export function matches(cmd: string, pattern: string): boolean {
  return cmd.length > 0 && cmd.length <= pattern.length && pattern.startsWith(cmd);
}

const isCSpace = (c: string) => c === ' ' || (c >= '\t' && c <= '\r');

function digitValue(c: string): number {
  if (c >= '0' && c <= '9') return c.charCodeAt(0) - 48;
  if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 87;
  if (c >= 'A' && c <= 'Z') return c.charCodeAt(0) - 55;
  return 99;
}

/*
 * strtoul()/strtoull() on a 64-bit libc: leading blanks, a sign (a minus
 * negates modulo 2^64), a 0x prefix in base 16 or 0, octal with base 0.
 * `end` is where parsing stopped; `end === start` means no digits.
 */
function cStrtoul(s: string, start: number, base: number): { value: bigint; end: number; erange: boolean } {
  let i = start;
  while (i < s.length && isCSpace(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') neg = s[i++] === '-';
  const hexPrefix = s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && digitValue(s[i + 2] ?? '') < 16;
  if ((base === 16 || base === 0) && hexPrefix) {
    base = 16;
    i += 2;
  } else if (base === 0) base = s[i] === '0' ? 8 : 10;
  const first = i;
  let value = 0n;
  let erange = false;
  while (i < s.length && digitValue(s[i]) < base) {
    value = value * BigInt(base) + BigInt(digitValue(s[i]));
    if (value > U64_MASK) erange = true;
    i++;
  }
  if (i === first) return { value: 0n, end: start, erange: false };
  if (erange) return { value: U64_MASK, end: i, erange };
  return { value: neg ? -value & U64_MASK : value, end: i, erange };
}

/* get_u16()/get_u32()/get_u64(): the whole string, within range, or null. */
function getUnsigned(arg: string, base: number, max: bigint): bigint | null {
  if (!arg) return null;
  const r = cStrtoul(arg, 0, base);
  if (r.end === 0 || r.end !== arg.length) return null;
  if (r.erange || r.value > max) return null;
  return r.value;
}

/* get_addr_ipv4(): "10.8" is 10.8.0.0, each part strtoul(.., 0) and <= 255. */
function getAddrIpv4(cp: string): number[] | null {
  const ap = [0, 0, 0, 0];
  let pos = 0;
  for (let i = 0; i < 4; i++) {
    const r = cStrtoul(cp, pos, 0);
    if (r.value > 255n) return null;
    if (r.end === pos) return null;
    ap[i] = Number(r.value);
    if (r.end === cp.length) break;
    if (i === 3 || cp[r.end] !== '.') return null;
    pos = r.end + 1;
  }
  return ap;
}

/* sscanf(arg, "%x", &int): leading junk fails, trailing junk is ignored. */
function scanHexInt(arg: string): number | null {
  const r = cStrtoul(arg, 0, 16);
  if (r.end === 0) return null;
  const asInt = Number(r.value & 0xffffffffn) | 0;
  return asInt;
}

/*
 * ll_addr_a2n(): fills `lladdr` in place and returns the length, or -1 after
 * printing `"<part>" is invalid lladdr.`. A dotted quad is taken as four
 * bytes; otherwise up to `lladdr.length` colon-separated hex bytes (fewer is
 * fine, extra ones are ignored).
 */
export function llAddrA2n(lladdr: number[], arg: string, stderr: (s: string) => void): number {
  if (arg.includes('.')) {
    const ip = getAddrIpv4(arg);
    if (!ip || arg.includes(':')) {
      stderr(`"${arg}" is invalid lladdr.\n`);
      return -1;
    }
    if (lladdr.length < 4) return -1;
    for (let i = 0; i < 4; i++) lladdr[i] = ip[i];
    return 4;
  }
  let rest = arg;
  let i: number;
  for (i = 0; i < lladdr.length; i++) {
    const colon = rest.indexOf(':');
    const part = colon >= 0 ? rest.slice(0, colon) : rest;
    const temp = scanHexInt(part);
    if (temp === null || temp < 0 || temp > 255) {
      stderr(`"${part}" is invalid lladdr.\n`);
      return -1;
    }
    lladdr[i] = temp;
    if (colon < 0) break;
    rest = rest.slice(colon + 1);
  }
  return i + 1;
}

/* ll_addr_n2a() for an untyped address: "%02x" joined by ':'. */
export function llAddrN2a(addr: readonly number[]): string {
  return addr.map((b) => (b & 0xff).toString(16).padStart(2, '0')).join(':');
}

/* ------------------------------------------------------------------------ */
/* lib/json_writer.c and lib/json_print.c                                   */

/*
 * The streaming writer iproute2 uses for -j: four-space indents under -p,
 * arrays kept on one line as `[ "a","b" ]`, and its string escaping (C
 * escapes, a backslash doubled, nothing for other control bytes or Unicode).
 */
class JsonWriter {
  private depth = 0;
  private sep = '';
  pretty = false;

  constructor(private readonly emit: (s: string) => void) {}

  private indent(): void {
    this.emit('    '.repeat(this.depth));
  }

  private eol(): void {
    if (!this.pretty) return;
    this.emit('\n');
    this.indent();
  }

  private eor(): void {
    if (this.sep) this.emit(this.sep);
    this.sep = ',';
  }

  private puts(str: string): void {
    let s = '"';
    for (const c of str) {
      switch (c) {
        case '\t': s += '\\t'; break;
        case '\n': s += '\\n'; break;
        case '\r': s += '\\r'; break;
        case '\f': s += '\\f'; break;
        case '\b': s += '\\b'; break;
        case '\\': s += '\\\\'; break;
        case '"': s += '\\"'; break;
        default: s += c;
      }
    }
    this.emit(s + '"');
  }

  destroy(): void {
    this.emit('\n');
  }

  private begin(c: string): void {
    this.eor();
    this.emit(c);
    this.depth++;
    this.sep = '';
  }

  private end(c: string): void {
    this.depth--;
    if (this.sep) this.eol();
    this.emit(c);
    this.sep = ',';
  }

  name(name: string): void {
    this.eor();
    this.eol();
    this.sep = '';
    this.puts(name);
    this.emit(this.pretty ? ': ' : ':');
  }

  private printf(s: string): void {
    this.eor();
    this.emit(s);
  }

  startObject(): void {
    this.begin('{');
  }

  endObject(): void {
    this.end('}');
  }

  startArray(): void {
    this.begin('[');
    if (this.pretty) this.emit(' ');
  }

  endArray(): void {
    if (this.pretty && this.sep) this.emit(' ');
    this.sep = '';
    this.end(']');
  }

  string(value: string): void {
    this.eor();
    this.puts(value);
  }

  bool(value: boolean): void {
    this.printf(value ? 'true' : 'false');
  }

  uint(value: number): void {
    this.printf(String(value >>> 0));
  }

  u64(value: bigint): void {
    this.printf((value & U64_MASK).toString());
  }
}

/* enum output_type */
const PRINT_FP = 1;
const PRINT_JSON = 2;
const PRINT_ANY = 4;
type OutputType = typeof PRINT_FP | typeof PRINT_JSON | typeof PRINT_ANY;

/* printf() with the one conversion iproute2's print_*() formats carry. */
function cFormat(fmt: string, value: string | number | bigint): string {
  let used = false;
  return fmt.replace(/%%|%l{0,2}([dus])/g, (m: string, conv: string | undefined) => {
    if (m === '%%') return '%';
    if (used) return m;
    used = true;
    if (conv === 'd' && typeof value === 'number') return String(value | 0);
    return String(value);
  });
}

/* json_print.c: each print goes to the JSON writer under -j, else as text. */
class JsonPrint {
  private jw: JsonWriter | null = null;

  /* new_json_obj_plain(): no enclosing array, pretty only with -p. */
  constructor(
    private readonly emit: (s: string) => void,
    json: boolean,
    pretty: boolean,
  ) {
    if (json) {
      this.jw = new JsonWriter(emit);
      if (pretty) this.jw.pretty = true;
    }
  }

  /* delete_json_obj_plain() */
  deleteJsonObjPlain(): void {
    if (this.jw) {
      this.jw.destroy();
      this.jw = null;
    }
  }

  private jsonContext(t: OutputType): JsonWriter | null {
    return t & (PRINT_JSON | PRINT_ANY) ? this.jw : null;
  }

  private fpContext(t: OutputType): boolean {
    return !this.jw && (t & (PRINT_FP | PRINT_ANY)) !== 0;
  }

  openJsonObject(name: string | null): void {
    const jw = this.jsonContext(PRINT_JSON);
    if (!jw) return;
    if (name !== null) jw.name(name);
    jw.startObject();
  }

  closeJsonObject(): void {
    this.jsonContext(PRINT_JSON)?.endObject();
  }

  openJsonArray(t: OutputType, name: string): void {
    const jw = this.jsonContext(t);
    if (jw) {
      jw.name(name);
      jw.startArray();
    } else if (this.fpContext(t)) this.emit(name);
  }

  closeJsonArray(t: OutputType, str: string | null): void {
    const jw = this.jsonContext(t);
    if (jw) jw.endArray();
    else if (this.fpContext(t) && str !== null) this.emit(str);
  }

  printString(t: OutputType, key: string | null, fmt: string, value: string): void {
    const jw = this.jsonContext(t);
    if (jw) {
      if (key !== null) jw.name(key);
      jw.string(value);
    } else if (this.fpContext(t)) this.emit(cFormat(fmt, value));
  }

  printUint(t: OutputType, key: string | null, fmt: string, value: number): void {
    const jw = this.jsonContext(t);
    if (jw) {
      if (key !== null) jw.name(key);
      jw.uint(value);
    } else if (this.fpContext(t)) this.emit(cFormat(fmt, value));
  }

  printU64(t: OutputType, key: string | null, fmt: string, value: bigint): void {
    const jw = this.jsonContext(t);
    if (jw) {
      if (key !== null) jw.name(key);
      jw.u64(value);
    } else if (this.fpContext(t)) this.emit(cFormat(fmt, value));
  }

  printBool(t: OutputType, key: string | null, fmt: string, value: boolean): void {
    const jw = this.jsonContext(t);
    if (jw) {
      if (key !== null) jw.name(key);
      jw.bool(value);
    } else if (this.fpContext(t)) this.emit(cFormat(fmt, value ? 'true' : 'false'));
  }

  /* print_nl(): a line break, text output only. */
  printNl(): void {
    if (!this.jw) this.emit('\n');
  }
}

/* struct indent_mem: two spaces a level, for the feature/class lists. */
class IndentMem {
  private level = 0;

  inc(): void {
    if (this.level + 2 <= 32) this.level += 2;
  }

  dec(): void {
    if (this.level - 2 >= 0) this.level -= 2;
  }

  print(emit: (s: string) => void): void {
    if (this.level) emit(' '.repeat(this.level));
  }
}

/* ------------------------------------------------------------------------ */
/* Names: management device classes, device types, feature bits             */

/* class_map[]: VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES bit = virtio device id. */
const CLASS_MAP: ReadonlyMap<number, string> = new Map([
  [VIRTIO_ID_NET, 'net'],
  [VIRTIO_ID_BLOCK, 'block'],
]);

function parseClass(num: number): string {
  return CLASS_MAP.get(num) ?? '< unknown class >';
}

function deviceTypeName(type: number): string {
  switch (type) {
    case VIRTIO_ID_NET:
      return 'network';
    case VIRTIO_ID_BLOCK:
      return 'block';
    default:
      return '<unknown type>';
  }
}

/* net_feature_strs[]: VIRTIO_NET_F_* (and the two device-range VIRTIO_F_*). */
const NET_FEATURE_STRS: ReadonlyMap<number, string> = new Map([
  [0, 'CSUM'],
  [1, 'GUEST_CSUM'],
  [2, 'CTRL_GUEST_OFFLOADS'],
  [3, 'MTU'],
  [5, 'MAC'],
  [7, 'GUEST_TSO4'],
  [8, 'GUEST_TSO6'],
  [9, 'GUEST_ECN'],
  [10, 'GUEST_UFO'],
  [11, 'HOST_TSO4'],
  [12, 'HOST_TSO6'],
  [13, 'HOST_ECN'],
  [14, 'HOST_UFO'],
  [15, 'MRG_RXBUF'],
  [16, 'STATUS'],
  [17, 'CTRL_VQ'],
  [18, 'CTRL_RX'],
  [19, 'CTRL_VLAN'],
  [20, 'CTRL_RX_EXTRA'],
  [21, 'GUEST_ANNOUNCE'],
  [22, 'MQ'],
  [23, 'CTRL_MAC_ADDR'],
  [24, 'NOTIFY_ON_EMPTY'],
  [27, 'ANY_LAYOUT'],
  [57, 'HASH_REPORT'],
  [60, 'RSS'],
  [61, 'RSC_EXT'],
  [62, 'STANDBY'],
  [63, 'SPEED_DUPLEX'],
]);

/* ext_feature_strs[]: the transport bits, VIRTIO_TRANSPORT_F_START..END. */
const EXT_FEATURE_STRS: ReadonlyMap<number, string> = new Map([
  [28, 'RING_INDIRECT_DESC'],
  [29, 'RING_EVENT_IDX'],
  [32, 'VERSION_1'],
  [33, 'ACCESS_PLATFORM'],
  [34, 'RING_PACKED'],
  [35, 'IN_ORDER'],
  [36, 'ORDER_PLATFORM'],
  [37, 'SR_IOV'],
  [38, 'NOTIFICATION_DATA'],
]);

/* dev_to_feature_str[]: only network devices have device-bit names. */
const DEV_TO_FEATURE_STR: ReadonlyMap<number, ReadonlyMap<number, string>> = new Map([[VIRTIO_ID_NET, NET_FEATURE_STRS]]);

/* The name print_features() gives bit `i` of a device of type `devId`. */
export function featureName(bit: number, devId: number): string | null {
  if (bit < VIRTIO_TRANSPORT_F_START || bit > VIRTIO_TRANSPORT_F_END) {
    return DEV_TO_FEATURE_STR.get(devId)?.get(bit) ?? null;
  }
  return EXT_FEATURE_STRS.get(bit) ?? null;
}

/* ------------------------------------------------------------------------ */
/* struct vdpa: options, output, the kernel socket                          */

/* What the tool needs of the kernel: one genl request, one answer. */
export interface GenlReply {
  msgs: NlMsg[];
  warning?: string;
}

export interface VdpaGenlSocket {
  /* CTRL_CMD_GETFAMILY: rejects (ENOENT) when the kernel has no such family. */
  getfamily(name: string): Promise<void>;
  /* Rejects with a ControlError (errno, extack) when the kernel says no. */
  genl(cmd: VdpaCmd, attrs: NlMsg): Promise<GenlReply>;
  close(): void;
}

export interface VdpaIo {
  stdout(s: string): void;
  stderr(s: string): void;
  /* The kernel behind --root (else $VDPAFS_ROOT), or null after saying on stderr why not. */
  connect(root: string | undefined, stderr: (s: string) => void): Promise<VdpaGenlSocket | null>;
}

const VDPA_OPT_MGMTDEV_HANDLE = 1 << 0;
const VDPA_OPT_VDEV_MGMTDEV_HANDLE = 1 << 1;
const VDPA_OPT_VDEV_NAME = 1 << 2;
const VDPA_OPT_VDEV_HANDLE = 1 << 3;
const VDPA_OPT_VDEV_MAC = 1 << 4;
const VDPA_OPT_VDEV_MTU = 1 << 5;
const VDPA_OPT_MAX_VQP = 1 << 6;
const VDPA_OPT_QUEUE_INDEX = 1 << 7;
const VDPA_OPT_VDEV_FEATURES = 1 << 8;

interface VdpaOpts {
  present: number;
  mdevBusName: string | null;
  mdevName: string;
  vdevName: string;
  mac: number[];
  mtu: number;
  maxVqp: number;
  queueIdx: number;
  deviceFeatures: bigint;
}

class Vdpa {
  readonly opts: VdpaOpts = {
    present: 0,
    mdevBusName: null,
    mdevName: '',
    vdevName: '',
    mac: [0, 0, 0, 0, 0, 0],
    mtu: 0,
    maxVqp: 0,
    queueIdx: 0,
    deviceFeatures: 0n,
  };
  readonly indent = new IndentMem();
  readonly pr: JsonPrint;
  out = '';

  constructor(
    readonly jsonOutput: boolean,
    pretty: boolean,
    readonly stderr: (s: string) => void = () => {},
    /* The socket vdpa_init() opened (null only in the pure printers below). */
    readonly nlg: VdpaGenlSocket | null = null,
  ) {
    this.pr = new JsonPrint((s) => (this.out += s), jsonOutput, pretty);
  }

  emit(s: string): void {
    this.out += s;
  }
}

/* ------------------------------------------------------------------------ */
/* Argument parsing and the request builder (vdpa_argv_parse, vdpa_opts_put) */

function vdpaArgvHandle(vdpa: Vdpa, argv: string[], i: number): { bus: string | null; name: string } | null {
  const str = argv[i];
  if (i >= argv.length || str === undefined) {
    vdpa.stderr('vdpa identification ("mgmtdev_bus_name/mgmtdev_name") expected\n');
    return null;
  }
  const slashcount = str.split('/').length - 1;
  if (slashcount > 1) {
    vdpa.stderr('Wrong vdpa mgmtdev identification string format\n');
    vdpa.stderr('Expected "mgmtdev_bus_name/mgmtdev_name"\n');
    vdpa.stderr('Expected "mgmtdev_name"\n');
    return null;
  }
  if (slashcount === 0) return { bus: null, name: str };
  const slash = str.lastIndexOf('/');
  return { bus: str.slice(0, slash), name: str.slice(slash + 1) };
}

function vdpaArgvStr(vdpa: Vdpa, argv: string[], i: number): string | null {
  if (i >= argv.length) {
    vdpa.stderr('String parameter expected\n');
    return null;
  }
  return argv[i];
}

/* iproute2: number parse errors print nothing; the tool just exits 1. */
function vdpaArgvNum(vdpa: Vdpa, argv: string[], i: number, base: number, max: bigint): bigint | null {
  if (i >= argv.length) {
    vdpa.stderr('number expected\n');
    return null;
  }
  return getUnsigned(argv[i], base, max);
}

const VDPA_ARGS_REQUIRED: ReadonlyArray<[number, string]> = [
  [VDPA_OPT_VDEV_MGMTDEV_HANDLE, 'management device handle not set.'],
  [VDPA_OPT_VDEV_NAME, 'device name is not set.'],
  [VDPA_OPT_VDEV_HANDLE, 'device name is not set.'],
  [VDPA_OPT_QUEUE_INDEX, 'queue index is not set.'],
];

function vdpaArgsFindingRequiredValidate(vdpa: Vdpa, oRequired: number, oFound: number): number {
  for (const [flag, msg] of VDPA_ARGS_REQUIRED) {
    if (oRequired & flag && !(oFound & flag)) {
      vdpa.stderr(`${msg}\n`);
      return -EINVAL;
    }
  }
  if (oRequired & ~oFound) {
    vdpa.stderr('BUG: unknown argument required but not found\n');
    return -EINVAL;
  }
  return 0;
}

/*
 * vdpa_argv_parse(). iproute2: the loop runs while at least two words are
 * left (NEXT_ARG_OK), so one trailing word is silently ignored.
 */
function vdpaArgvParse(vdpa: Vdpa, argv: string[], oRequired: number, oOptional: number): number {
  const oAll = oRequired | oOptional;
  const opts = vdpa.opts;
  let oFound = 0;
  let i = 0;
  const nextArgOk = () => argv.length - i - 1 > 0;

  if (oRequired & VDPA_OPT_MGMTDEV_HANDLE) {
    const h = vdpaArgvHandle(vdpa, argv, i);
    if (!h) return -EINVAL;
    opts.mdevBusName = h.bus;
    opts.mdevName = h.name;
    i++;
    oFound |= VDPA_OPT_MGMTDEV_HANDLE;
  } else if (oRequired & VDPA_OPT_VDEV_HANDLE) {
    const s = vdpaArgvStr(vdpa, argv, i);
    if (s === null) return -EINVAL;
    opts.vdevName = s;
    i++;
    oFound |= VDPA_OPT_VDEV_HANDLE;
  }

  while (nextArgOk()) {
    const arg = argv[i];
    if (matches(arg, 'name') && oAll & VDPA_OPT_VDEV_NAME) {
      i++;
      const s = vdpaArgvStr(vdpa, argv, i);
      if (s === null) return -EINVAL;
      opts.vdevName = s;
      i++;
      oFound |= VDPA_OPT_VDEV_NAME;
    } else if (matches(arg, 'mgmtdev') && oAll & VDPA_OPT_VDEV_MGMTDEV_HANDLE) {
      i++;
      const h = vdpaArgvHandle(vdpa, argv, i);
      if (!h) return -EINVAL;
      opts.mdevBusName = h.bus;
      opts.mdevName = h.name;
      i++;
      oFound |= VDPA_OPT_VDEV_MGMTDEV_HANDLE;
    } else if (arg === 'mac' && oAll & VDPA_OPT_VDEV_MAC) {
      i++;
      const s = vdpaArgvStr(vdpa, argv, i);
      if (s === null) return -EINVAL;
      if (llAddrA2n(opts.mac, s, vdpa.stderr) < 0) return -EINVAL;
      i++;
      oFound |= VDPA_OPT_VDEV_MAC;
    } else if (arg === 'mtu' && oAll & VDPA_OPT_VDEV_MTU) {
      i++;
      const v = vdpaArgvNum(vdpa, argv, i, 10, 0xffffn);
      if (v === null) return -1;
      opts.mtu = Number(v);
      i++;
      oFound |= VDPA_OPT_VDEV_MTU;
    } else if (matches(arg, 'max_vqp') && oOptional & VDPA_OPT_MAX_VQP) {
      i++;
      const v = vdpaArgvNum(vdpa, argv, i, 10, 0xffffn);
      if (v === null) return -1;
      opts.maxVqp = Number(v);
      i++;
      oFound |= VDPA_OPT_MAX_VQP;
    } else if (arg === 'qidx' && oOptional & VDPA_OPT_QUEUE_INDEX) {
      i++;
      const v = vdpaArgvNum(vdpa, argv, i, 10, 0xffffffffn);
      if (v === null) return -1;
      opts.queueIdx = Number(v);
      i++;
      oFound |= VDPA_OPT_QUEUE_INDEX;
    } else if (arg === 'device_features' && oOptional & VDPA_OPT_VDEV_FEATURES) {
      i++;
      const v = vdpaArgvNum(vdpa, argv, i, 16, U64_MASK);
      if (v === null) return -1;
      opts.deviceFeatures = v;
      i++;
      oFound |= VDPA_OPT_VDEV_FEATURES;
    } else {
      vdpa.stderr(`Unknown option "${arg}"\n`);
      return -EINVAL;
    }
  }

  opts.present = oFound;
  return vdpaArgsFindingRequiredValidate(vdpa, oRequired, oFound);
}

/* vdpa_opts_put(): attributes in iproute2's order. */
function vdpaOptsPut(nlh: NlMsg, vdpa: Vdpa): void {
  const opts = vdpa.opts;
  if (opts.present & (VDPA_OPT_MGMTDEV_HANDLE | VDPA_OPT_VDEV_MGMTDEV_HANDLE)) {
    if (opts.mdevBusName !== null) nlh.push(['VDPA_ATTR_MGMTDEV_BUS_NAME', opts.mdevBusName]);
    nlh.push(['VDPA_ATTR_MGMTDEV_DEV_NAME', opts.mdevName]);
  }
  if (opts.present & (VDPA_OPT_VDEV_NAME | VDPA_OPT_VDEV_HANDLE)) nlh.push(['VDPA_ATTR_DEV_NAME', opts.vdevName]);
  if (opts.present & VDPA_OPT_VDEV_MAC) nlh.push(['VDPA_ATTR_DEV_NET_CFG_MACADDR', [...opts.mac]]);
  if (opts.present & VDPA_OPT_VDEV_MTU) nlh.push(['VDPA_ATTR_DEV_NET_CFG_MTU', opts.mtu]);
  if (opts.present & VDPA_OPT_MAX_VQP) nlh.push(['VDPA_ATTR_DEV_NET_CFG_MAX_VQP', opts.maxVqp]);
  if (opts.present & VDPA_OPT_QUEUE_INDEX) nlh.push(['VDPA_ATTR_DEV_QUEUE_INDEX', opts.queueIdx]);
  if (opts.present & VDPA_OPT_VDEV_FEATURES) nlh.push(['VDPA_ATTR_DEV_FEATURES', opts.deviceFeatures.toString(10)]);
}

function vdpaArgvParsePut(nlh: NlMsg, vdpa: Vdpa, argv: string[], oRequired: number, oOptional: number): number {
  const err = vdpaArgvParse(vdpa, argv, oRequired, oOptional);
  if (err) return err;
  vdpaOptsPut(nlh, vdpa);
  return 0;
}

export type ParseResult = { ok: true; attrs: NlMsg } | { ok: false; stderr: string };

function parseWith(args: string[], oRequired: number, oOptional: number): ParseResult {
  let stderr = '';
  const vdpa = new Vdpa(false, false, (s) => (stderr += s));
  const attrs: NlMsg = [];
  const err = vdpaArgvParsePut(attrs, vdpa, args, oRequired, oOptional);
  return err ? { ok: false, stderr } : { ok: true, attrs };
}

/* The DEV_NEW request `vdpa dev add ARGS...` sends, or what it prints instead. */
export function parseDevAdd(args: string[]): ParseResult {
  return parseWith(
    args,
    VDPA_OPT_VDEV_MGMTDEV_HANDLE | VDPA_OPT_VDEV_NAME,
    VDPA_OPT_VDEV_MAC | VDPA_OPT_VDEV_MTU | VDPA_OPT_MAX_VQP | VDPA_OPT_VDEV_FEATURES,
  );
}

/* The DEV_ATTR_SET request `vdpa dev set ARGS...` sends. */
export function parseDevSet(args: string[]): ParseResult {
  return parseWith(args, VDPA_OPT_VDEV_NAME, VDPA_OPT_VDEV_MAC);
}

/* ------------------------------------------------------------------------ */
/* Printers (pr_out_*), fed one reply message at a time                     */

/* mnl_attr_parse() into tb[]: a repeated attribute keeps its last value. */
type Tb = Map<VdpaAttrName, NlValue>;

function attrParse(msg: NlMsg): Tb {
  return new Map(msg);
}

const getStr = (v: NlValue | undefined): string => String(v ?? '');
const getU16 = (v: NlValue | undefined): number => Number(v ?? 0) & 0xffff;
const getU32 = (v: NlValue | undefined): number => Number(v ?? 0) >>> 0;
const getU64 = (v: NlValue | undefined): bigint => BigInt(typeof v === 'string' || typeof v === 'number' ? v : 0) & U64_MASK;

function prOutSectionStart(vdpa: Vdpa, name: string): void {
  vdpa.pr.openJsonObject(null);
  vdpa.pr.openJsonObject(name);
}

function prOutSectionEnd(vdpa: Vdpa): void {
  vdpa.pr.closeJsonObject();
  vdpa.pr.closeJsonObject();
}

function prOutArrayStart(vdpa: Vdpa, name: string): void {
  if (!vdpa.jsonOutput) {
    vdpa.pr.printNl();
    vdpa.indent.inc();
    vdpa.indent.print((s) => vdpa.emit(s));
  }
  vdpa.pr.openJsonArray(PRINT_ANY, name);
}

function prOutArrayEnd(vdpa: Vdpa): void {
  vdpa.pr.closeJsonArray(PRINT_JSON, null);
  if (!vdpa.jsonOutput) vdpa.indent.dec();
}

/* "vdpasim_net: " or "pci/0000:01:00.0: " (the trailing space is iproute2's). */
function prOutHandleStart(vdpa: Vdpa, tb: Tb): void {
  const mdevName = getStr(tb.get('VDPA_ATTR_MGMTDEV_DEV_NAME'));
  const bus = tb.get('VDPA_ATTR_MGMTDEV_BUS_NAME');
  const buf = bus !== undefined ? `${getStr(bus)}/${mdevName}` : mdevName;
  if (vdpa.jsonOutput) vdpa.pr.openJsonObject(buf);
  else vdpa.emit(`${buf}: `);
}

function prOutHandleEnd(vdpa: Vdpa): void {
  if (vdpa.jsonOutput) vdpa.pr.closeJsonObject();
  else vdpa.pr.printNl();
}

function prOutVdevHandleStart(vdpa: Vdpa, tb: Tb): void {
  const name = getStr(tb.get('VDPA_ATTR_DEV_NAME'));
  if (vdpa.jsonOutput) vdpa.pr.openJsonObject(name);
  else vdpa.emit(`${name}: `);
}

const prOutVdevHandleEnd = prOutHandleEnd;

/* print_features(): names from the device's table, else bit_N (a number in JSON). */
function printFeatures(vdpa: Vdpa, features: bigint, mgmtdevf: boolean, devId: number): void {
  prOutArrayStart(vdpa, mgmtdevf ? 'dev_features' : 'negotiated_features');
  for (let i = 0; i < 64; i++) {
    if (!(features & (1n << BigInt(i)))) continue;
    const s = featureName(i, devId);
    if (s === null) vdpa.pr.printUint(PRINT_ANY, null, ' bit_%d', i);
    else vdpa.pr.printString(PRINT_ANY, null, ' %s', s);
  }
  prOutArrayEnd(vdpa);
}

function prOutMgmtdevShow(vdpa: Vdpa, tb: Tb): void {
  let classes = 0n;
  prOutHandleStart(vdpa, tb);

  if (tb.has('VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES')) {
    classes = getU64(tb.get('VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES'));
    prOutArrayStart(vdpa, 'supported_classes');
    for (let i = 1; i < 64; i++) {
      if (!(classes & (1n << BigInt(i)))) continue;
      vdpa.pr.printString(PRINT_ANY, null, ' %s', parseClass(i));
    }
    prOutArrayEnd(vdpa);
  }

  if (tb.has('VDPA_ATTR_DEV_MGMTDEV_MAX_VQS')) {
    vdpa.pr.printNl();
    const numVqs = getU32(tb.get('VDPA_ATTR_DEV_MGMTDEV_MAX_VQS'));
    vdpa.pr.printUint(PRINT_ANY, 'max_supported_vqs', '  max_supported_vqs %d', numVqs);
  }

  if (tb.has('VDPA_ATTR_DEV_SUPPORTED_FEATURES')) {
    const features = getU64(tb.get('VDPA_ATTR_DEV_SUPPORTED_FEATURES'));
    printFeatures(vdpa, features, true, classes & (1n << BigInt(VIRTIO_ID_NET)) ? VIRTIO_ID_NET : 0);
  }

  prOutHandleEnd(vdpa);
}

function cmdMgmtdevShowCb(vdpa: Vdpa, msg: NlMsg): boolean {
  const tb = attrParse(msg);
  if (!tb.has('VDPA_ATTR_MGMTDEV_DEV_NAME')) return false;
  prOutMgmtdevShow(vdpa, tb);
  return true;
}

/* One line per device; iproute2 does not print min_vq_size. */
function prOutDev(vdpa: Vdpa, tb: Tb): void {
  const mdevName = getStr(tb.get('VDPA_ATTR_MGMTDEV_DEV_NAME'));
  const deviceId = getU32(tb.get('VDPA_ATTR_DEV_ID'));
  const bus = tb.get('VDPA_ATTR_MGMTDEV_BUS_NAME');
  const mgmtdevBuf = bus !== undefined ? `${getStr(bus)}/${mdevName}` : mdevName;

  prOutVdevHandleStart(vdpa, tb);
  vdpa.pr.printString(PRINT_ANY, 'type', 'type %s', deviceTypeName(deviceId));
  vdpa.pr.printString(PRINT_ANY, 'mgmtdev', ' mgmtdev %s', mgmtdevBuf);
  if (tb.has('VDPA_ATTR_DEV_VENDOR_ID')) {
    vdpa.pr.printUint(PRINT_ANY, 'vendor_id', ' vendor_id %u', getU32(tb.get('VDPA_ATTR_DEV_VENDOR_ID')));
  }
  if (tb.has('VDPA_ATTR_DEV_MAX_VQS')) {
    vdpa.pr.printUint(PRINT_ANY, 'max_vqs', ' max_vqs %u', getU32(tb.get('VDPA_ATTR_DEV_MAX_VQS')));
  }
  if (tb.has('VDPA_ATTR_DEV_MAX_VQ_SIZE')) {
    vdpa.pr.printUint(PRINT_ANY, 'max_vq_size', ' max_vq_size %u', getU16(tb.get('VDPA_ATTR_DEV_MAX_VQ_SIZE')));
  }
  prOutVdevHandleEnd(vdpa);
}

function cmdDevShowCb(vdpa: Vdpa, msg: NlMsg): boolean {
  const tb = attrParse(msg);
  if (!tb.has('VDPA_ATTR_MGMTDEV_DEV_NAME') || !tb.has('VDPA_ATTR_DEV_NAME') || !tb.has('VDPA_ATTR_DEV_ID')) {
    return false;
  }
  prOutDev(vdpa, tb);
  return true;
}

/* iproute2: the JSON keys "link " and "link_announce " keep a trailing space. */
function prOutDevNetConfig(vdpa: Vdpa, tb: Tb): void {
  const mac = tb.get('VDPA_ATTR_DEV_NET_CFG_MACADDR');
  if (mac !== undefined) {
    vdpa.pr.printString(PRINT_ANY, 'mac', 'mac %s ', llAddrN2a(Array.isArray(mac) ? mac : []));
  }
  if (tb.has('VDPA_ATTR_DEV_NET_STATUS')) {
    const status = getU16(tb.get('VDPA_ATTR_DEV_NET_STATUS'));
    vdpa.pr.printString(PRINT_ANY, 'link ', 'link %s ', status & VIRTIO_NET_S_LINK_UP ? 'up' : 'down');
    vdpa.pr.printBool(PRINT_ANY, 'link_announce ', 'link_announce %s ', (status & VIRTIO_NET_S_ANNOUNCE) !== 0);
  }
  if (tb.has('VDPA_ATTR_DEV_NET_CFG_MAX_VQP')) {
    vdpa.pr.printUint(PRINT_ANY, 'max_vq_pairs', 'max_vq_pairs %d ', getU16(tb.get('VDPA_ATTR_DEV_NET_CFG_MAX_VQP')));
  }
  if (tb.has('VDPA_ATTR_DEV_NET_CFG_MTU')) {
    vdpa.pr.printUint(PRINT_ANY, 'mtu', 'mtu %d ', getU16(tb.get('VDPA_ATTR_DEV_NET_CFG_MTU')));
  }
  if (tb.has('VDPA_ATTR_DEV_NEGOTIATED_FEATURES')) {
    const devId = tb.has('VDPA_ATTR_DEV_ID') ? getU32(tb.get('VDPA_ATTR_DEV_ID')) & 0xffff : 0;
    printFeatures(vdpa, getU64(tb.get('VDPA_ATTR_DEV_NEGOTIATED_FEATURES')), false, devId);
  }
}

/* Only network devices have a config printer: a block device is just "vdpa1: ". */
function prOutDevConfig(vdpa: Vdpa, tb: Tb): void {
  prOutVdevHandleStart(vdpa, tb);
  if (getU32(tb.get('VDPA_ATTR_DEV_ID')) === VIRTIO_ID_NET) prOutDevNetConfig(vdpa, tb);
  prOutVdevHandleEnd(vdpa);
}

function cmdDevConfigShowCb(vdpa: Vdpa, msg: NlMsg): boolean {
  const tb = attrParse(msg);
  if (!tb.has('VDPA_ATTR_DEV_NAME') || !tb.has('VDPA_ATTR_DEV_ID')) return false;
  prOutDevConfig(vdpa, tb);
  return true;
}

/*
 * iproute2: control_vq only when CTRL_VQ is negotiated and qidx == 2 * max_vqp,
 * with max_vqp 0 when the kernel sends none (no MQ): so qidx 0 reads
 * "control_vq" and the real cvq (2) reads "rx" on vdpasim_net.
 */
function printQueueType(vdpa: Vdpa, value: NlValue, maxVqp: number, features: bigint): void {
  const qidx = getU16(value);
  const isCtrl = virtioHasFeature(features, VIRTIO_NET_F_CTRL_VQ) && qidx === 2 * maxVqp;
  const type = isCtrl ? 'control_vq' : qidx & 1 ? 'tx' : 'rx';
  vdpa.pr.printString(PRINT_ANY, 'queue_type', 'queue_type %s ', type);
}

/* Walks the attributes in order: vendor names and values come in pairs. */
function prOutDevNetVstats(vdpa: Vdpa, msg: NlMsg): void {
  let name: string | null = null;
  let features = 0n;
  let maxVqp = 0;
  for (const [type, value] of msg) {
    switch (type) {
      case 'VDPA_ATTR_DEV_NET_CFG_MAX_VQP':
        maxVqp = getU16(value);
        break;
      case 'VDPA_ATTR_DEV_NEGOTIATED_FEATURES':
        features = getU64(value);
        break;
      case 'VDPA_ATTR_DEV_QUEUE_INDEX':
        printQueueType(vdpa, value, maxVqp, features);
        break;
      case 'VDPA_ATTR_DEV_VENDOR_ATTR_NAME':
        name = getStr(value);
        if (name.length > 200) return;
        break;
      case 'VDPA_ATTR_DEV_VENDOR_ATTR_VALUE':
        vdpa.pr.printU64(PRINT_ANY, name, `${name ?? ''} %lu `, getU64(value));
        break;
      default:
        break;
    }
  }
}

function prOutDevVstats(vdpa: Vdpa, tb: Tb, msg: NlMsg): void {
  prOutVdevHandleStart(vdpa, tb);
  if (getU32(tb.get('VDPA_ATTR_DEV_ID')) === VIRTIO_ID_NET) prOutDevNetVstats(vdpa, msg);
  prOutVdevHandleEnd(vdpa);
}

function cmdDevVstatsShowCb(vdpa: Vdpa, msg: NlMsg): boolean {
  const tb = attrParse(msg);
  if (!tb.has('VDPA_ATTR_DEV_NAME') || !tb.has('VDPA_ATTR_DEV_ID')) return false;
  prOutDevVstats(vdpa, tb, msg);
  return true;
}

/* ------------------------------------------------------------------------ */
/* The printers as pure functions: reply messages in, stdout bytes out      */

export interface FormatOptions {
  /* -j */
  json?: boolean;
  /* -p (only matters with -j) */
  pretty?: boolean;
}

type ShowCb = (vdpa: Vdpa, msg: NlMsg) => boolean;

function formatSection(section: string, cb: ShowCb, msgs: NlMsg[], opts: FormatOptions): string {
  const vdpa = new Vdpa(opts.json ?? false, opts.pretty ?? false);
  prOutSectionStart(vdpa, section);
  for (const msg of msgs) if (!cb(vdpa, msg)) break;
  prOutSectionEnd(vdpa);
  vdpa.pr.deleteJsonObjPlain();
  return vdpa.out;
}

/* What `vdpa [-j [-p]] mgmtdev show` writes to stdout for these MGMTDEV_GET replies. */
export function formatMgmtdevShow(msgs: NlMsg[], opts: FormatOptions = {}): string {
  return formatSection('mgmtdev', cmdMgmtdevShowCb, msgs, opts);
}

/* ... `vdpa dev show` for DEV_GET replies. */
export function formatDevShow(msgs: NlMsg[], opts: FormatOptions = {}): string {
  return formatSection('dev', cmdDevShowCb, msgs, opts);
}

/* ... `vdpa dev config show` for DEV_CONFIG_GET replies. */
export function formatConfigShow(msgs: NlMsg[], opts: FormatOptions = {}): string {
  return formatSection('config', cmdDevConfigShowCb, msgs, opts);
}

/* ... `vdpa dev vstats show` for a DEV_VSTATS_GET reply. */
export function formatVstatsShow(msgs: NlMsg[], opts: FormatOptions = {}): string {
  return formatSection('vstats', cmdDevVstatsShowCb, msgs, opts);
}

/* ------------------------------------------------------------------------ */
/* Talking to the kernel (mnlu_gen_socket_sndrcv and its error printing)    */

const EXTRA_STRERROR: Readonly<Record<string, string>> = {
  ECONNRESET: 'Connection reset by peer',
};

function errnoText(errno: string): string {
  return isErrno(errno) ? strerror(errno) : (EXTRA_STRERROR[errno] ?? errno);
}

/*
 * print_ext_ack_msg(): the kernel's message as it came (NL_SET_ERR_MSG_MOD
 * ones start with the module name, "vdpa: "), with a final dot added when
 * there is none. An empty message prints nothing.
 */
function extAckText(isErr: boolean, extack: string): string {
  return `${isErr ? 'Error' : 'Warning'}: ${extack}${extack.endsWith('.') ? '' : '.'}\n`;
}

/* What vdpa prints on stderr when the kernel fails a request. */
export function formatKernelError(errno: string, extack?: string): string {
  return (extack ? extAckText(true, extack) : '') + `kernel answers: ${errnoText(errno)}\n`;
}

/* What vdpa prints on stderr when the kernel succeeds with a message. */
export function formatKernelWarning(extack: string): string {
  return extAckText(false, extack);
}

function isKernelAnswer(e: unknown): e is { errno: string; extack?: string } {
  return e instanceof ControlError || (typeof e === 'object' && e !== null && typeof (e as { errno?: unknown }).errno === 'string');
}

async function mnluGenSocketSndrcv(vdpa: Vdpa, cmd: VdpaCmd, nlh: NlMsg, cb: ShowCb | null): Promise<number> {
  let reply: GenlReply;
  try {
    reply = await vdpa.nlg!.genl(cmd, nlh);
  } catch (e) {
    if (!isKernelAnswer(e)) throw e;
    vdpa.stderr(formatKernelError(e.errno, e.extack));
    return -(isErrno(e.errno) ? ERRNO[e.errno] : EINVAL);
  }
  for (const msg of reply.msgs ?? []) {
    if (cb && !cb(vdpa, msg)) {
      /* MNL_CB_ERROR from a callback: errno is still 0. */
      vdpa.stderr('kernel answers: Success\n');
      return -1;
    }
  }
  if (reply.warning) vdpa.stderr(formatKernelWarning(reply.warning));
  return 0;
}

/* A show command: the JSON section is open around the exchange, even on error. */
async function sndrcvSection(vdpa: Vdpa, cmd: VdpaCmd, nlh: NlMsg, section: string, cb: ShowCb): Promise<number> {
  prOutSectionStart(vdpa, section);
  const err = await mnluGenSocketSndrcv(vdpa, cmd, nlh, cb);
  prOutSectionEnd(vdpa);
  return err;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

function cmdMgmtdevHelp(vdpa: Vdpa): void {
  vdpa.stderr('Usage: vdpa mgmtdev show [ DEV ]\n');
}

async function cmdMgmtdevShow(vdpa: Vdpa, argv: string[]): Promise<number> {
  const nlh: NlMsg = [];
  if (argv.length > 0) {
    const err = vdpaArgvParsePut(nlh, vdpa, argv, VDPA_OPT_MGMTDEV_HANDLE, 0);
    if (err) return err;
  }
  return sndrcvSection(vdpa, VdpaCmd.MGMTDEV_GET, nlh, 'mgmtdev', cmdMgmtdevShowCb);
}

async function cmdMgmtdev(vdpa: Vdpa, argv: string[]): Promise<number> {
  if (!argv.length || matches(argv[0], 'help')) {
    cmdMgmtdevHelp(vdpa);
    return 0;
  } else if (matches(argv[0], 'show') || matches(argv[0], 'list')) {
    return cmdMgmtdevShow(vdpa, argv.slice(1));
  }
  vdpa.stderr(`Command "${argv[0]}" not found\n`);
  return -ENOENT;
}

function cmdDevHelp(vdpa: Vdpa): void {
  vdpa.stderr(
    'Usage: vdpa dev show [ DEV ]\n' +
      '       vdpa dev add name NAME mgmtdev MANAGEMENTDEV [ mac MACADDR ] [ mtu MTU ]\n' +
      '                                                    [ max_vqp MAX_VQ_PAIRS ]\n' +
      '       vdpa dev del DEV\n' +
      'Usage: vdpa dev config COMMAND [ OPTIONS ]\n' +
      'Usage: vdpa dev vstats COMMAND\n',
  );
}

async function cmdDevShow(vdpa: Vdpa, argv: string[]): Promise<number> {
  const nlh: NlMsg = [];
  if (argv.length > 0) {
    const err = vdpaArgvParsePut(nlh, vdpa, argv, VDPA_OPT_VDEV_HANDLE, 0);
    if (err) return err;
  }
  return sndrcvSection(vdpa, VdpaCmd.DEV_GET, nlh, 'dev', cmdDevShowCb);
}

async function cmdDevAdd(vdpa: Vdpa, argv: string[]): Promise<number> {
  const nlh: NlMsg = [];
  const err = vdpaArgvParsePut(
    nlh,
    vdpa,
    argv,
    VDPA_OPT_VDEV_MGMTDEV_HANDLE | VDPA_OPT_VDEV_NAME,
    VDPA_OPT_VDEV_MAC | VDPA_OPT_VDEV_MTU | VDPA_OPT_MAX_VQP | VDPA_OPT_VDEV_FEATURES,
  );
  if (err) return err;
  return mnluGenSocketSndrcv(vdpa, VdpaCmd.DEV_NEW, nlh, null);
}

/* The kernel may hold the reply until an open vhost-vdpa fd is closed. */
async function cmdDevDel(vdpa: Vdpa, argv: string[]): Promise<number> {
  const nlh: NlMsg = [];
  const err = vdpaArgvParsePut(nlh, vdpa, argv, VDPA_OPT_VDEV_HANDLE, 0);
  if (err) return err;
  return mnluGenSocketSndrcv(vdpa, VdpaCmd.DEV_DEL, nlh, null);
}

async function cmdDevSet(vdpa: Vdpa, argv: string[]): Promise<number> {
  const nlh: NlMsg = [];
  const err = vdpaArgvParsePut(nlh, vdpa, argv, VDPA_OPT_VDEV_NAME, VDPA_OPT_VDEV_MAC);
  if (err) return err;
  return mnluGenSocketSndrcv(vdpa, VdpaCmd.DEV_ATTR_SET, nlh, null);
}

async function cmdDevConfigShow(vdpa: Vdpa, argv: string[]): Promise<number> {
  const nlh: NlMsg = [];
  if (argv.length > 0) {
    const err = vdpaArgvParsePut(nlh, vdpa, argv, VDPA_OPT_VDEV_HANDLE, 0);
    if (err) return err;
  }
  return sndrcvSection(vdpa, VdpaCmd.DEV_CONFIG_GET, nlh, 'config', cmdDevConfigShowCb);
}

function cmdDevConfigHelp(vdpa: Vdpa): void {
  vdpa.stderr('Usage: vdpa dev config show [ DEV ]\n');
}

async function cmdDevConfig(vdpa: Vdpa, argv: string[]): Promise<number> {
  if (!argv.length) return cmdDevConfigShow(vdpa, []);
  if (matches(argv[0], 'help')) {
    cmdDevConfigHelp(vdpa);
    return 0;
  } else if (matches(argv[0], 'show')) {
    return cmdDevConfigShow(vdpa, argv.slice(1));
  }
  vdpa.stderr(`Command "${argv[0]}" not found\n`);
  return -ENOENT;
}

function cmdDevVstatsHelp(vdpa: Vdpa): void {
  vdpa.stderr('Usage: vdpa dev vstats show DEV [qidx QUEUE_INDEX]\n');
}

async function cmdDevVstatsShow(vdpa: Vdpa, argv: string[]): Promise<number> {
  if (argv.length !== 1 && argv.length !== 3) {
    cmdDevVstatsHelp(vdpa);
    return -EINVAL;
  }
  const nlh: NlMsg = [];
  const err = vdpaArgvParsePut(nlh, vdpa, argv, VDPA_OPT_VDEV_HANDLE, VDPA_OPT_QUEUE_INDEX);
  if (err) return err;
  await sndrcvSection(vdpa, VdpaCmd.DEV_VSTATS_GET, nlh, 'vstats', cmdDevVstatsShowCb);
  /* iproute2 6.1: the kernel's answer is printed but not returned (fixed in 6.4), so the exit status is 0. */
  return 0;
}

/* iproute2: "vstats" and "set" (and their verbs) must be spelled out in full. */
async function cmdDevVstats(vdpa: Vdpa, argv: string[]): Promise<number> {
  if (argv.length < 1) {
    cmdDevVstatsHelp(vdpa);
    return -EINVAL;
  }
  if (argv[0] === 'help') {
    cmdDevVstatsHelp(vdpa);
    return 0;
  } else if (argv[0] === 'show') {
    return cmdDevVstatsShow(vdpa, argv.slice(1));
  }
  vdpa.stderr(`Command "${argv[0]}" not found\n`);
  return -ENOENT;
}

async function cmdDev(vdpa: Vdpa, argv: string[]): Promise<number> {
  if (!argv.length) return cmdDevShow(vdpa, []);
  const [verb, ...rest] = argv;
  if (matches(verb, 'help')) {
    cmdDevHelp(vdpa);
    return 0;
  } else if (matches(verb, 'show') || matches(verb, 'list')) {
    return cmdDevShow(vdpa, rest);
  } else if (matches(verb, 'add')) {
    return cmdDevAdd(vdpa, rest);
  } else if (matches(verb, 'del')) {
    return cmdDevDel(vdpa, rest);
  } else if (matches(verb, 'config')) {
    return cmdDevConfig(vdpa, rest);
  } else if (verb === 'vstats') {
    return cmdDevVstats(vdpa, rest);
  } else if (verb === 'set') {
    /* An extension: iproute2 6.13's `dev set`. */
    return cmdDevSet(vdpa, rest);
  }
  vdpa.stderr(`Command "${verb}" not found\n`);
  return -ENOENT;
}

export const USAGE =
  'Usage: vdpa [ OPTIONS ] OBJECT { COMMAND | help }\n' +
  'where  OBJECT := { mgmtdev | dev }\n' +
  '       OPTIONS := { -V[ersion] | -n[o-nice-names] | -j[son] | -p[retty] }\n';

async function vdpaCmd(vdpa: Vdpa, argv: string[]): Promise<number> {
  if (!argv.length || matches(argv[0], 'help')) {
    vdpa.stderr(USAGE);
    return 0;
  } else if (matches(argv[0], 'mgmtdev')) {
    return cmdMgmtdev(vdpa, argv.slice(1));
  } else if (matches(argv[0], 'dev')) {
    return cmdDev(vdpa, argv.slice(1));
  }
  vdpa.stderr(`Object "${argv[0]}" not found\n`);
  return -ENOENT;
}

/* ------------------------------------------------------------------------ */
/* getopt_long(argc, argv, "Vjpsh", long_options) as glibc does it          */

interface LongOption {
  name: string;
  hasArg: boolean;
  val: string;
}

const SHORT_OPTIONS = 'Vjpsh';
const LONG_OPTIONS: readonly LongOption[] = [
  { name: 'Version', hasArg: false, val: 'V' },
  { name: 'json', hasArg: false, val: 'j' },
  { name: 'pretty', hasArg: false, val: 'p' },
  { name: 'help', hasArg: false, val: 'h' },
  /* vdpafs: which kernel to talk to. */
  { name: 'root', hasArg: true, val: 'r' },
];

type GetoptEvent = { opt: string; arg?: string };

/*
 * GNU getopt_long, one option at a time: options may come anywhere until
 * "--" (the other words, in order, are the operands), and an error message
 * is printed when getopt reaches the bad option, so nothing after the first
 * one the caller gives up on is ever looked at. A long option may be
 * abbreviated to any unambiguous prefix.
 */
class Getopt {
  readonly operands: string[] = [];
  private i = 0;
  private pendingShort: string[] = [];

  constructor(
    private readonly argv: string[],
    private readonly stderr: (s: string) => void,
  ) {}

  next(): GetoptEvent | null {
    if (this.pendingShort.length) return this.short(this.pendingShort.shift()!);
    while (this.i < this.argv.length) {
      const a = this.argv[this.i++];
      if (a === '--') {
        this.operands.push(...this.argv.slice(this.i));
        this.i = this.argv.length;
        return null;
      }
      if (a.startsWith('--')) return this.long(a);
      if (a.startsWith('-') && a.length > 1) {
        this.pendingShort = [...a.slice(1)];
        return this.short(this.pendingShort.shift()!);
      }
      this.operands.push(a);
    }
    return null;
  }

  private short(c: string): GetoptEvent {
    if (SHORT_OPTIONS.includes(c)) return { opt: c };
    this.stderr(`vdpa: invalid option -- '${c}'\n`);
    return { opt: '?' };
  }

  private long(a: string): GetoptEvent {
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const exact = LONG_OPTIONS.find((o) => o.name === name);
    const prefixed = LONG_OPTIONS.filter((o) => o.name.startsWith(name));
    const lo = exact ?? (prefixed.length === 1 ? prefixed[0] : undefined);
    if (!lo) {
      if (prefixed.length > 1) {
        this.stderr(`vdpa: option '${a}' is ambiguous; possibilities:${prefixed.map((o) => ` '--${o.name}'`).join('')}\n`);
      } else this.stderr(`vdpa: unrecognized option '${a}'\n`);
      return { opt: '?' };
    }
    if (eq >= 0 && !lo.hasArg) {
      this.stderr(`vdpa: option '--${lo.name}' doesn't allow an argument\n`);
      return { opt: '?' };
    }
    if (!lo.hasArg) return { opt: lo.val };
    if (eq >= 0) return { opt: lo.val, arg: a.slice(eq + 1) };
    if (this.i < this.argv.length) return { opt: lo.val, arg: this.argv[this.i++] };
    this.stderr(`vdpa: option '--${lo.name}' requires an argument\n`);
    return { opt: '?' };
  }
}

/* ------------------------------------------------------------------------ */

/* With no vdpafs kernel at all, say which mount was tried and how to pick one. */
async function defaultConnect(root: string | undefined, stderr: (s: string) => void): Promise<VdpaGenlSocket | null> {
  const mnt = resolveRoot(root);
  if (!mnt) {
    stderr('vdpa: no vdpafs mount given: pass --root MOUNTPOINT or set VDPAFS_ROOT\n');
    return null;
  }
  let client: ControlClient;
  try {
    client = await ControlClient.connect(mnt);
  } catch {
    const from = root === undefined ? ' (from VDPAFS_ROOT)' : '';
    stderr(
      `vdpa: no vdpafs kernel is running at ${mnt}${from}: start one with ./mount.sh ${mnt}, ` +
        'or name a mounted one with --root MOUNTPOINT or VDPAFS_ROOT\n',
    );
    return null;
  }
  return {
    getfamily: async (name) => void (await client.call('genl_getfamily', { name })),
    genl: (cmd, attrs) => client.call<GenlReply>('genl', { cmd, attrs }),
    close: () => client.close(),
  };
}

const defaultIo: VdpaIo = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  connect: defaultConnect,
};

/*
 * vdpa_init(): the generic netlink socket and the "vdpa" family, before any
 * command is looked at; without the family (the vdpa module not loaded)
 * every command fails the same way.
 */
async function vdpaInit(root: string | undefined, io: VdpaIo): Promise<VdpaGenlSocket | null> {
  const nlg = await io.connect(root, io.stderr);
  if (!nlg) return null;
  try {
    await nlg.getfamily(VDPA_GENL_NAME);
  } catch (e) {
    nlg.close();
    if (!isKernelAnswer(e)) throw e;
    io.stderr('Failed to connect to vdpa Netlink\n');
    return null;
  }
  return nlg;
}

/*
 * vdpa [-V] [-j] [-p] [--root MOUNTPOINT] { mgmtdev | dev } { COMMAND | help }
 * Returns the exit status: 0, or 1 for any failure (as iproute2's EXIT_FAILURE).
 */
export async function main(argv: string[], ioOverrides: Partial<VdpaIo> = {}): Promise<number> {
  const io: VdpaIo = { ...defaultIo, ...ioOverrides };
  let json = false;
  let pretty = false;
  let root: string | undefined;
  const getopt = new Getopt(argv, io.stderr);
  for (let ev = getopt.next(); ev; ev = getopt.next()) {
    switch (ev.opt) {
      case 'V':
        io.stdout(`vdpa utility, iproute2-${IPROUTE2_VERSION}\n`);
        return 0;
      case 'j':
        json = true;
        break;
      case 'p':
        pretty = true;
        break;
      case 'h':
        io.stderr(USAGE);
        return 0;
      case 'r':
        root = ev.arg || undefined;
        break;
      default:
        /* '?', and -s, which getopt accepts but vdpa does not handle. */
        io.stderr('Unknown option.\n');
        io.stderr(USAGE);
        return 1;
    }
  }

  let nlg: VdpaGenlSocket | null;
  try {
    nlg = await vdpaInit(root, io);
  } catch (e) {
    io.stderr(`vdpa: ${(e as Error).message}\n`);
    return 1;
  }
  if (!nlg) return 1;
  const vdpa = new Vdpa(json, pretty, io.stderr, nlg);
  let ret: number;
  try {
    ret = (await vdpaCmd(vdpa, getopt.operands)) ? 1 : 0;
  } catch (e) {
    nlg.close();
    io.stderr(`vdpa: ${(e as Error).message}\n`);
    return 1;
  }
  /* vdpa_fini() */
  vdpa.pr.deleteJsonObjPlain();
  nlg.close();
  if (vdpa.out) io.stdout(vdpa.out);
  return ret;
}
