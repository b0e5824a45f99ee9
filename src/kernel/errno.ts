/*
 * Kernel errors. The model never signals failure with `false` or a message:
 * it throws a KernelError carrying the errno name, exactly as a kernel
 * function returns -ENODEV. The FUSE adapter and the control socket turn the
 * name into the negative number or the message a user sees.
 */

/* Linux x86-64 numbering (include/uapi/asm-generic/errno{-base,}.h). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ELOOP: 40,
  ENODATA: 61,
  ENOTEMPTY: 39,
  ENOTTY: 25,
  EPROTO: 71,
  EMSGSIZE: 90,
  ENETDOWN: 100,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  /* Kernel-internal, never meant to reach userspace but some paths leak it. */
  ENOTSUPP: 524,
  EPROBE_DEFER: 517,
} as const;

export type Errno = keyof typeof ERRNO;

/* strerror() text, for the CLIs ("kernel answers: No such device"). */
const STRERROR: Record<Errno, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EROFS: 'Read-only file system',
  ERANGE: 'Numerical result out of range',
  ENAMETOOLONG: 'File name too long',
  EPROTO: 'Protocol error',
  ECONNRESET: 'Connection reset by peer',
  ENOSYS: 'Function not implemented',
  ELOOP: 'Too many levels of symbolic links',
  ENODATA: 'No data available',
  ENOTEMPTY: 'Directory not empty',
  ENOTTY: 'Inappropriate ioctl for device',
  EMSGSIZE: 'Message too long',
  ENETDOWN: 'Network is down',
  ENOBUFS: 'No buffer space available',
  EOPNOTSUPP: 'Operation not supported',
  ETIMEDOUT: 'Connection timed out',
  ENOTSUPP: 'Unknown error 524',
  EPROBE_DEFER: 'Unknown error 517',
};

export class KernelError extends Error {
  /*
   * `extack` is a message for the caller: a genl handler's extended-ack
   * message (NL_SET_ERR_MSG_MOD ones carry the module name, "vdpa: device
   * not found"; iproute2 prints "Error: <extack>."), or what a tool prints.
   */
  constructor(
    readonly errno: Errno,
    readonly extack?: string,
  ) {
    super(extack ? `${errno}: ${extack}` : errno);
    this.name = 'KernelError';
  }
}

export function errnoNumber(name: Errno): number {
  return ERRNO[name];
}

export function strerror(name: Errno): string {
  return STRERROR[name];
}

export function isErrno(name: string): name is Errno {
  return Object.prototype.hasOwnProperty.call(ERRNO, name);
}

/* A kernel function that fails returns -errno; this is the throw form. */
export function fail(errno: Errno, extack?: string): never {
  throw new KernelError(errno, extack);
}

/* The errno name for a number (a netlink ack's -error), if the model knows it. */
export function errnoName(n: number): Errno | undefined {
  return (Object.keys(ERRNO) as Errno[]).find((name) => ERRNO[name] === n);
}
