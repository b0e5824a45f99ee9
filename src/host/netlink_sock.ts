/*
 * The host's AF_NETLINK sockets, for the daemon's generic netlink server
 * (control/genl_server.ts), through koffi: Node has no netlink sockets.
 *
 *   HostGenlSocket      the daemon's own NETLINK_GENERIC socket; as root it
 *                       may unicast to any port id (netlink_sendmsg() allows
 *                       that with CAP_NET_ADMIN), which is how an answer of
 *                       the simulated kernel lands on a client's real socket
 *   inspectGenlSocket() a client's socket, duplicated with pidfd_getfd():
 *                       is it NETLINK_GENERIC, which port id, which options
 *
 * These are the host's syscalls: the daemon's edge, never imported by the
 * model. Failures throw a HostError with the host errno name.
 */
import koffi from 'koffi';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { HostError } from './libc';
import { AF_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GENERIC, SOCKADDR_NL_SIZE, SOL_NETLINK } from '../include/uapi/netlink';

const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PROTOCOL = 38;
const SO_DOMAIN = 39;
const MSG_DONTWAIT = 0x40;

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

interface NetlinkLibc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  getsockname: (fd: number, addr: Buffer, len: number[]) => number;
  getsockopt: (fd: number, level: number, name: number, val: Buffer, len: number[]) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number) => number;
}

let libc: NetlinkLibc | null = null;

function load(): NetlinkLibc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const uint8_t *addr, uint32_t len)'),
    getsockname: lib.func('int getsockname(int fd, _Out_ uint8_t *addr, _Inout_ uint32_t *len)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)'),
    sendto: lib.func('long sendto(int fd, const uint8_t *buf, size_t len, int flags, const uint8_t *addr, uint32_t alen)'),
  };
  return libc;
}

function check(syscall: string, r: number): number {
  if (r >= 0) return r;
  const errno = koffi.errno();
  throw new HostError(syscall, errno, ERRNO_NAMES.get(errno) ?? `errno ${errno}`);
}

/* struct sockaddr_nl */
function sockaddrNl(pid: number): Buffer {
  const b = Buffer.alloc(SOCKADDR_NL_SIZE);
  b.writeUInt16LE(AF_NETLINK, 0);
  b.writeUInt32LE(pid >>> 0, 4);
  return b;
}

function getsockoptInt(fd: number, level: number, name: number): number {
  const val = Buffer.alloc(4);
  check('getsockopt', load().getsockopt(fd, level, name, val, [4]));
  return val.readInt32LE(0);
}

function netlinkPortid(fd: number): { family: number; pid: number } {
  const addr = Buffer.alloc(SOCKADDR_NL_SIZE);
  check('getsockname', load().getsockname(fd, addr, [SOCKADDR_NL_SIZE]));
  return { family: addr.readUInt16LE(0), pid: addr.readUInt32LE(4) };
}

export type SendResult = 'sent' | 'again' | 'gone';

export class HostGenlSocket {
  private constructor(
    readonly fd: number,
    readonly portid: number,
  ) {}

  /* socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC), bound: the kernel picks the port id. */
  static open(): HostGenlSocket {
    const c = load();
    const fd = check('socket', c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_GENERIC));
    try {
      check('bind', c.bind(fd, sockaddrNl(0), SOCKADDR_NL_SIZE));
      return new HostGenlSocket(fd, netlinkPortid(fd).pid);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /*
   * One datagram to the socket with port id `portid`, without blocking:
   * 'again' when its receive buffer is full, 'gone' when no such socket
   * (or one that refuses us) exists any more.
   */
  sendTo(portid: number, datagram: Buffer): SendResult {
    const r = load().sendto(this.fd, datagram, datagram.length, MSG_DONTWAIT, sockaddrNl(portid), SOCKADDR_NL_SIZE);
    if (r >= 0) return 'sent';
    const errno = ERRNO_NAMES.get(koffi.errno());
    if (errno === 'EAGAIN' || errno === 'EWOULDBLOCK' || errno === 'ENOBUFS') return 'again';
    return 'gone';
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export interface GenlSocketInfo {
  portid: number;
  capAck: boolean;
  extAck: boolean;
}

/* What the kernel knows of a (duplicated) client socket, or null if it is no NETLINK_GENERIC socket. */
export function inspectGenlSocket(fd: number): GenlSocketInfo | null {
  try {
    if (getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN) !== AF_NETLINK) return null;
    if (getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL) !== NETLINK_GENERIC) return null;
    return {
      portid: netlinkPortid(fd).pid,
      capAck: getsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK) !== 0,
      extAck: getsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK) !== 0,
    };
  } catch (e) {
    if (e instanceof HostError) return null;
    throw e;
  }
}
