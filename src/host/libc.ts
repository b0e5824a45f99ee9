/*
 * The few host system calls Node has no API for, through koffi (a prebuilt
 * FFI: no compiler, no node-gyp). Nothing else in vdpafs calls native code.
 *
 *   mount(2), umount2(2)         the FUSE mount itself, without fusermount
 *   pidfd_open(2), pidfd_getfd(2) a client's eventfds, duplicated into us
 *   getsockopt(SO_PEERCRED)      who is at the other end of a Unix socket
 *   fcntl(F_SETFL, O_NONBLOCK)   a descriptor that must never block a write
 *
 * These are the *host's* syscalls: this module is the daemon's edge, never
 * imported by the kernel model. Failures throw a HostError carrying the
 * host errno name (EPERM, ENOENT, ...), read from koffi.errno() right after
 * the call.
 */
import koffi from 'koffi';
import * as os from 'node:os';

export class HostError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(`${syscall}: ${code} (${errno})`);
    this.name = 'HostError';
  }
}

/* errno number -> name, from Node's own table (os.constants.errno). */
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/* x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;

/* include/uapi/linux/mount.h */
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MNT_DETACH = 0x2;
export const UMOUNT_NOFOLLOW = 0x8;

/* pidfd_open(PIDFD_THREAD): a pidfd for one thread (Linux >= 6.9). */
export const PIDFD_THREAD = 0o200;

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

interface Libc {
  mount: (src: string, target: string, type: string, flags: number, data: string | null) => number;
  umount2: (target: string, flags: number) => number;
  syscall2: (nr: number, a: number, b: number) => number;
  syscall3: (nr: number, a: number, b: number, c: number) => number;
  getsockopt: (fd: number, level: number, name: number, out: Buffer, len: number[]) => number;
  fcntl: (fd: number, cmd: number, arg: number) => number;
}

let libc: Libc | null = null;

function load(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    mount: lib.func('int mount(const char *src, const char *target, const char *type, unsigned long flags, const char *data)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    /* syscall() is variadic in C; one prototype per arity keeps the calls exact. */
    syscall2: lib.func('long syscall(long nr, int a, unsigned int b)'),
    syscall3: lib.func('long syscall(long nr, int a, int b, unsigned int c)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)'),
    /* fcntl() is variadic; F_GETFL/F_SETFL take an int. */
    fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
  };
  return libc;
}

function check(syscall: string, r: number): number {
  if (r >= 0) return r;
  const errno = koffi.errno();
  throw new HostError(syscall, errno, ERRNO_NAMES.get(errno) ?? `errno ${errno}`);
}

/* mount(2). `data` is the file system's option string (for FUSE: fd=N,rootmode=...). */
export function mount(source: string, target: string, type: string, flags: number, data: string): void {
  check('mount', load().mount(source, target, type, flags, data));
}

/* umount2(2): MNT_DETACH for a lazy unmount that also works on a dead FUSE server. */
export function umount2(target: string, flags: number): void {
  check('umount2', load().umount2(target, flags));
}

/* pidfd_open(2): a file descriptor for a process (or, with PIDFD_THREAD, one thread). */
export function pidfdOpen(pid: number, flags = 0): number {
  return check('pidfd_open', load().syscall2(SYS_PIDFD_OPEN, pid, flags));
}

/* pidfd_getfd(2): a duplicate of file descriptor `fd` of the process behind `pidfd`. */
export function pidfdGetfd(pidfd: number, fd: number): number {
  return check('pidfd_getfd', load().syscall3(SYS_PIDFD_GETFD, pidfd, fd, 0));
}

/* getsockopt(SO_PEERCRED) on a connected Unix socket: the peer's pid, uid and gid. */
export function peerCred(fd: number): { pid: number; uid: number; gid: number } {
  const out = Buffer.alloc(12);
  const len = [12];
  check('getsockopt', load().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, out, len));
  return { pid: out.readInt32LE(0), uid: out.readUInt32LE(4), gid: out.readUInt32LE(8) };
}

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/* Set O_NONBLOCK on fd's open file description (shared with every duplicate of it). */
export function setNonblocking(fd: number): void {
  const flags = check('fcntl', load().fcntl(fd, F_GETFL, 0));
  if (!(flags & O_NONBLOCK)) check('fcntl', load().fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}
