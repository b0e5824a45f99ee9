/*
 * include/uapi/linux/fuse.h: the kernel's FUSE protocol, the part vdpafs
 * speaks.
 *
 * Every structure is little-endian with its offsets named once here and
 * read or written through one small accessor per structure, working on a
 * Buffer plus the structure's offset in it (as the ring layouts in
 * virtio_ring.ts are). Sizes are the 7.36 layouts the server negotiates.
 */

export const FUSE_KERNEL_VERSION = 7;
/* The minor version the server answers with (what its structures follow). */
export const FUSE_KERNEL_MINOR_VERSION = 36;
export const FUSE_ROOT_ID = 1;
export const FUSE_MIN_READ_BUFFER = 8192;

/* enum fuse_opcode */
export const FUSE_LOOKUP = 1;
export const FUSE_FORGET = 2;
export const FUSE_GETATTR = 3;
export const FUSE_SETATTR = 4;
export const FUSE_READLINK = 5;
export const FUSE_SYMLINK = 6;
export const FUSE_MKNOD = 8;
export const FUSE_MKDIR = 9;
export const FUSE_UNLINK = 10;
export const FUSE_RMDIR = 11;
export const FUSE_RENAME = 12;
export const FUSE_LINK = 13;
export const FUSE_OPEN = 14;
export const FUSE_READ = 15;
export const FUSE_WRITE = 16;
export const FUSE_STATFS = 17;
export const FUSE_RELEASE = 18;
export const FUSE_FSYNC = 20;
export const FUSE_SETXATTR = 21;
export const FUSE_GETXATTR = 22;
export const FUSE_LISTXATTR = 23;
export const FUSE_REMOVEXATTR = 24;
export const FUSE_FLUSH = 25;
export const FUSE_INIT = 26;
export const FUSE_OPENDIR = 27;
export const FUSE_READDIR = 28;
export const FUSE_RELEASEDIR = 29;
export const FUSE_FSYNCDIR = 30;
export const FUSE_GETLK = 31;
export const FUSE_SETLK = 32;
export const FUSE_SETLKW = 33;
export const FUSE_ACCESS = 34;
export const FUSE_CREATE = 35;
export const FUSE_INTERRUPT = 36;
export const FUSE_BMAP = 37;
export const FUSE_DESTROY = 38;
export const FUSE_IOCTL = 39;
export const FUSE_POLL = 40;
export const FUSE_NOTIFY_REPLY = 41;
export const FUSE_BATCH_FORGET = 42;
export const FUSE_FALLOCATE = 43;
export const FUSE_READDIRPLUS = 44;
export const FUSE_RENAME2 = 45;
export const FUSE_LSEEK = 46;
export const FUSE_COPY_FILE_RANGE = 47;
export const FUSE_SYNCFS = 50;
export const FUSE_TMPFILE = 51;
export const FUSE_STATX = 52;

/* Opcode names, for traces. */
export const FUSE_OPCODE_NAMES: Readonly<Record<number, string>> = {
  1: 'LOOKUP', 2: 'FORGET', 3: 'GETATTR', 4: 'SETATTR', 5: 'READLINK', 6: 'SYMLINK', 8: 'MKNOD', 9: 'MKDIR',
  10: 'UNLINK', 11: 'RMDIR', 12: 'RENAME', 13: 'LINK', 14: 'OPEN', 15: 'READ', 16: 'WRITE', 17: 'STATFS',
  18: 'RELEASE', 20: 'FSYNC', 21: 'SETXATTR', 22: 'GETXATTR', 23: 'LISTXATTR', 24: 'REMOVEXATTR', 25: 'FLUSH',
  26: 'INIT', 27: 'OPENDIR', 28: 'READDIR', 29: 'RELEASEDIR', 30: 'FSYNCDIR', 31: 'GETLK', 32: 'SETLK',
  33: 'SETLKW', 34: 'ACCESS', 35: 'CREATE', 36: 'INTERRUPT', 37: 'BMAP', 38: 'DESTROY', 39: 'IOCTL', 40: 'POLL',
  41: 'NOTIFY_REPLY', 42: 'BATCH_FORGET', 43: 'FALLOCATE', 44: 'READDIRPLUS', 45: 'RENAME2', 46: 'LSEEK',
  47: 'COPY_FILE_RANGE', 50: 'SYNCFS', 51: 'TMPFILE', 52: 'STATX',
};

/* enum fuse_notify_code */
export const FUSE_NOTIFY_POLL = 1;
export const FUSE_NOTIFY_INVAL_INODE = 2;
export const FUSE_NOTIFY_INVAL_ENTRY = 3;

/* INIT flags (fuse_init_in/out.flags; bits 32.. are flags2) */
export const FUSE_ASYNC_READ = 1 << 0;
export const FUSE_ATOMIC_O_TRUNC = 1 << 3;
export const FUSE_BIG_WRITES = 1 << 5;
export const FUSE_DO_READDIRPLUS = 1 << 13;
export const FUSE_READDIRPLUS_AUTO = 1 << 14;
export const FUSE_PARALLEL_DIROPS = 1 << 18;
export const FUSE_MAX_PAGES = 1 << 22;
export const FUSE_CACHE_SYMLINKS = 1 << 23;
export const FUSE_INIT_EXT = 1 << 30;

/* fuse_open_out.open_flags */
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_NONSEEKABLE = 1 << 2;
export const FOPEN_NOFLUSH = 1 << 5;

/* fuse_setattr_in.valid */
export const FATTR_MODE = 1 << 0;
export const FATTR_UID = 1 << 1;
export const FATTR_GID = 1 << 2;
export const FATTR_SIZE = 1 << 3;
export const FATTR_ATIME = 1 << 4;
export const FATTR_MTIME = 1 << 5;
export const FATTR_FH = 1 << 6;

/* fuse_ioctl_in.flags */
export const FUSE_IOCTL_UNRESTRICTED = 1 << 1;
export const FUSE_IOCTL_DIR = 1 << 4;

/* fuse_poll_in.flags */
export const FUSE_POLL_SCHEDULE_NOTIFY = 1 << 0;

/* fuse_getattr_in.getattr_flags */
export const FUSE_GETATTR_FH = 1 << 0;

/* ---------------------------------------------------------------- */

const u32 = (b: Buffer, o: number): number => b.readUInt32LE(o);
const u64 = (b: Buffer, o: number): bigint => b.readBigUInt64LE(o);
/* A u64 that must be an exact JS number (node ids, offsets, sizes < 2^53). */
const u64n = (b: Buffer, o: number): number => {
  const v = b.readBigUInt64LE(o);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Infinity;
};

/* struct fuse_in_header: 40 bytes before every request. */
export const FUSE_IN_HEADER_SIZE = 40;
export const fuseInHeader = {
  len: (b: Buffer, o = 0) => u32(b, o + 0),
  opcode: (b: Buffer, o = 0) => u32(b, o + 4),
  unique: (b: Buffer, o = 0) => u64(b, o + 8),
  nodeid: (b: Buffer, o = 0) => u64n(b, o + 16),
  uid: (b: Buffer, o = 0) => u32(b, o + 24),
  gid: (b: Buffer, o = 0) => u32(b, o + 28),
  pid: (b: Buffer, o = 0) => u32(b, o + 32),
};

/* struct fuse_out_header: 16 bytes before every reply and notification. */
export const FUSE_OUT_HEADER_SIZE = 16;
export function writeFuseOutHeader(b: Buffer, len: number, error: number, unique: bigint, o = 0): void {
  b.writeUInt32LE(len, o + 0);
  b.writeInt32LE(error, o + 4);
  b.writeBigUInt64LE(unique, o + 8);
}

/* struct fuse_init_in (the fields the server reads; the kernel sends 64 bytes since 7.36). */
export const FUSE_INIT_IN_MIN_SIZE = 16;
export const fuseInitIn = {
  major: (b: Buffer, o = 0) => u32(b, o + 0),
  minor: (b: Buffer, o = 0) => u32(b, o + 4),
  maxReadahead: (b: Buffer, o = 0) => u32(b, o + 8),
  flags: (b: Buffer, o = 0) => u32(b, o + 12),
  /* Only meaningful when flags has FUSE_INIT_EXT. */
  flags2: (b: Buffer, o = 0) => (b.length >= o + 20 ? u32(b, o + 16) : 0),
};

/* struct fuse_init_out: 64 bytes. */
export const FUSE_INIT_OUT_SIZE = 64;
export interface FuseInitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  flags2: number;
}
export function writeFuseInitOut(b: Buffer, o: number, v: FuseInitOut): void {
  b.fill(0, o, o + FUSE_INIT_OUT_SIZE);
  b.writeUInt32LE(v.major, o + 0);
  b.writeUInt32LE(v.minor, o + 4);
  b.writeUInt32LE(v.maxReadahead, o + 8);
  b.writeUInt32LE(v.flags >>> 0, o + 12);
  b.writeUInt16LE(v.maxBackground, o + 16);
  b.writeUInt16LE(v.congestionThreshold, o + 18);
  b.writeUInt32LE(v.maxWrite, o + 20);
  b.writeUInt32LE(v.timeGran, o + 24);
  b.writeUInt16LE(v.maxPages, o + 28);
  /* map_alignment @30 = 0 */
  b.writeUInt32LE(v.flags2 >>> 0, o + 32);
}

/* struct fuse_attr: 88 bytes. */
export const FUSE_ATTR_SIZE = 88;
export interface FuseAttr {
  ino: number;
  size: number;
  blocks: number;
  /* Seconds since the epoch; nanoseconds are 0 for every time vdpafs shows. */
  time: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}
export function writeFuseAttr(b: Buffer, o: number, a: FuseAttr): void {
  b.writeBigUInt64LE(BigInt(a.ino), o + 0);
  b.writeBigUInt64LE(BigInt(a.size), o + 8);
  b.writeBigUInt64LE(BigInt(a.blocks), o + 16);
  b.writeBigUInt64LE(BigInt(a.time), o + 24); /* atime */
  b.writeBigUInt64LE(BigInt(a.time), o + 32); /* mtime */
  b.writeBigUInt64LE(BigInt(a.time), o + 40); /* ctime */
  b.writeUInt32LE(0, o + 48); /* atimensec */
  b.writeUInt32LE(0, o + 52); /* mtimensec */
  b.writeUInt32LE(0, o + 56); /* ctimensec */
  b.writeUInt32LE(a.mode >>> 0, o + 60);
  b.writeUInt32LE(a.nlink, o + 64);
  b.writeUInt32LE(a.uid, o + 68);
  b.writeUInt32LE(a.gid, o + 72);
  b.writeUInt32LE(a.rdev, o + 76);
  b.writeUInt32LE(a.blksize, o + 80);
  b.writeUInt32LE(0, o + 84); /* flags */
}

/* A cache timeout, split as the protocol wants it (seconds, nanoseconds). */
export interface FuseTimeout {
  sec: number;
  nsec: number;
}

/* struct fuse_entry_out: 128 bytes (40 + fuse_attr). */
export const FUSE_ENTRY_OUT_SIZE = 40 + FUSE_ATTR_SIZE;
export function writeFuseEntryOut(
  b: Buffer,
  o: number,
  nodeid: number,
  generation: number,
  entryValid: FuseTimeout,
  attrValid: FuseTimeout,
  attr: FuseAttr | null,
): void {
  b.writeBigUInt64LE(BigInt(nodeid), o + 0);
  b.writeBigUInt64LE(BigInt(generation), o + 8);
  b.writeBigUInt64LE(BigInt(entryValid.sec), o + 16);
  b.writeBigUInt64LE(BigInt(attrValid.sec), o + 24);
  b.writeUInt32LE(entryValid.nsec, o + 32);
  b.writeUInt32LE(attrValid.nsec, o + 36);
  if (attr) writeFuseAttr(b, o + 40, attr);
  else b.fill(0, o + 40, o + 40 + FUSE_ATTR_SIZE);
}

/* struct fuse_attr_out: 104 bytes (16 + fuse_attr). */
export const FUSE_ATTR_OUT_SIZE = 16 + FUSE_ATTR_SIZE;
export function writeFuseAttrOut(b: Buffer, o: number, attrValid: FuseTimeout, attr: FuseAttr): void {
  b.writeBigUInt64LE(BigInt(attrValid.sec), o + 0);
  b.writeUInt32LE(attrValid.nsec, o + 8);
  b.writeUInt32LE(0, o + 12);
  writeFuseAttr(b, o + 16, attr);
}

/* struct fuse_forget_in / fuse_batch_forget_in + fuse_forget_one[] */
export const fuseForgetIn = { nlookup: (b: Buffer, o = 0) => u64n(b, o) };
export const FUSE_BATCH_FORGET_IN_SIZE = 8;
export const FUSE_FORGET_ONE_SIZE = 16;
export const fuseBatchForgetIn = { count: (b: Buffer, o = 0) => u32(b, o) };
export const fuseForgetOne = {
  nodeid: (b: Buffer, o = 0) => u64n(b, o + 0),
  nlookup: (b: Buffer, o = 0) => u64n(b, o + 8),
};

/* struct fuse_getattr_in: 16 bytes. */
export const FUSE_GETATTR_IN_SIZE = 16;
export const fuseGetattrIn = {
  flags: (b: Buffer, o = 0) => u32(b, o + 0),
  fh: (b: Buffer, o = 0) => u64n(b, o + 8),
};

/* struct fuse_setattr_in: 88 bytes. */
export const FUSE_SETATTR_IN_SIZE = 88;
export const fuseSetattrIn = {
  valid: (b: Buffer, o = 0) => u32(b, o + 0),
  fh: (b: Buffer, o = 0) => u64n(b, o + 8),
  size: (b: Buffer, o = 0) => u64n(b, o + 16),
  mode: (b: Buffer, o = 0) => u32(b, o + 68),
  uid: (b: Buffer, o = 0) => u32(b, o + 76),
  gid: (b: Buffer, o = 0) => u32(b, o + 80),
};

/* struct fuse_open_in: 8 bytes; struct fuse_open_out: 16 bytes. */
export const FUSE_OPEN_IN_SIZE = 8;
export const fuseOpenIn = { flags: (b: Buffer, o = 0) => u32(b, o + 0) };
export const FUSE_OPEN_OUT_SIZE = 16;
export function writeFuseOpenOut(b: Buffer, o: number, fh: number, openFlags: number): void {
  b.writeBigUInt64LE(BigInt(fh), o + 0);
  b.writeUInt32LE(openFlags, o + 8);
  b.writeInt32LE(0, o + 12); /* backing_id */
}

/* struct fuse_release_in / fuse_flush_in: the handle comes first. */
export const FUSE_RELEASE_IN_SIZE = 24;
export const FUSE_FLUSH_IN_SIZE = 24;
export const fuseFhIn = { fh: (b: Buffer, o = 0) => u64n(b, o + 0) };

/* struct fuse_read_in: 40 bytes. */
export const FUSE_READ_IN_SIZE = 40;
export const fuseReadIn = {
  fh: (b: Buffer, o = 0) => u64n(b, o + 0),
  offset: (b: Buffer, o = 0) => u64n(b, o + 8),
  size: (b: Buffer, o = 0) => u32(b, o + 16),
};

/* struct fuse_write_in: 40 bytes, then the data; struct fuse_write_out: 8 bytes. */
export const FUSE_WRITE_IN_SIZE = 40;
export const fuseWriteIn = {
  fh: (b: Buffer, o = 0) => u64n(b, o + 0),
  offset: (b: Buffer, o = 0) => u64n(b, o + 8),
  size: (b: Buffer, o = 0) => u32(b, o + 16),
};
export const FUSE_WRITE_OUT_SIZE = 8;
export function writeFuseWriteOut(b: Buffer, o: number, size: number): void {
  b.writeUInt32LE(size, o + 0);
  b.writeUInt32LE(0, o + 4);
}

/* struct fuse_kstatfs inside fuse_statfs_out: 80 bytes. */
export const FUSE_STATFS_OUT_SIZE = 80;
export function writeFuseStatfsOut(b: Buffer, o: number, bsize: number, namelen: number): void {
  b.fill(0, o, o + FUSE_STATFS_OUT_SIZE);
  /* blocks, bfree, bavail, files, ffree: all 0, as sysfs reports */
  b.writeUInt32LE(bsize, o + 40);
  b.writeUInt32LE(namelen, o + 44);
  b.writeUInt32LE(bsize, o + 48); /* frsize */
}

/* struct fuse_getxattr_in / fuse_getxattr_out: 8 bytes each. */
export const FUSE_GETXATTR_IN_SIZE = 8;
export const fuseGetxattrIn = { size: (b: Buffer, o = 0) => u32(b, o + 0) };
export const FUSE_GETXATTR_OUT_SIZE = 8;

/* struct fuse_interrupt_in */
export const FUSE_INTERRUPT_IN_SIZE = 8;
export const fuseInterruptIn = { unique: (b: Buffer, o = 0) => u64(b, o + 0) };

/* struct fuse_ioctl_in: 32 bytes, then in_size bytes; struct fuse_ioctl_out: 16 bytes. */
export const FUSE_IOCTL_IN_SIZE = 32;
export const fuseIoctlIn = {
  fh: (b: Buffer, o = 0) => u64n(b, o + 0),
  flags: (b: Buffer, o = 0) => u32(b, o + 8),
  cmd: (b: Buffer, o = 0) => u32(b, o + 12),
  arg: (b: Buffer, o = 0) => u64(b, o + 16),
  inSize: (b: Buffer, o = 0) => u32(b, o + 24),
  outSize: (b: Buffer, o = 0) => u32(b, o + 28),
};
export const FUSE_IOCTL_OUT_SIZE = 16;
export function writeFuseIoctlOut(b: Buffer, o: number, result: number): void {
  b.writeInt32LE(result, o + 0);
  b.writeUInt32LE(0, o + 4); /* flags: no RETRY */
  b.writeUInt32LE(0, o + 8); /* in_iovs */
  b.writeUInt32LE(0, o + 12); /* out_iovs */
}

/* struct fuse_poll_in: 24 bytes; struct fuse_poll_out: 8 bytes. */
export const FUSE_POLL_IN_SIZE = 24;
export const fusePollIn = {
  fh: (b: Buffer, o = 0) => u64n(b, o + 0),
  kh: (b: Buffer, o = 0) => u64(b, o + 8),
  flags: (b: Buffer, o = 0) => u32(b, o + 16),
  events: (b: Buffer, o = 0) => u32(b, o + 20),
};
export const FUSE_POLL_OUT_SIZE = 8;
export function writeFusePollOut(b: Buffer, o: number, revents: number): void {
  b.writeUInt32LE(revents, o + 0);
  b.writeUInt32LE(0, o + 4);
}

/* struct fuse_dirent: 24 bytes + name, padded to 8; fuse_direntplus: entry_out first. */
export const FUSE_DIRENT_SIZE = 24;
export const FUSE_DIRENTPLUS_SIZE = FUSE_ENTRY_OUT_SIZE + FUSE_DIRENT_SIZE;
export const fuseDirentAlign = (x: number): number => (x + 7) & ~7;
export function writeFuseDirent(b: Buffer, o: number, ino: number, off: number, type: number, name: Buffer): number {
  b.writeBigUInt64LE(BigInt(ino), o + 0);
  b.writeBigUInt64LE(BigInt(off), o + 8);
  b.writeUInt32LE(name.length, o + 16);
  b.writeUInt32LE(type, o + 20);
  name.copy(b, o + FUSE_DIRENT_SIZE);
  const end = o + fuseDirentAlign(FUSE_DIRENT_SIZE + name.length);
  b.fill(0, o + FUSE_DIRENT_SIZE + name.length, end);
  return end;
}

/* Notifications: struct fuse_notify_inval_inode_out (24), _inval_entry_out (16 + name + NUL), poll wakeup (8). */
export const FUSE_NOTIFY_INVAL_INODE_OUT_SIZE = 24;
export function writeFuseNotifyInvalInode(b: Buffer, o: number, nodeid: number, off: bigint, len: bigint): void {
  b.writeBigUInt64LE(BigInt(nodeid), o + 0);
  b.writeBigInt64LE(off, o + 8);
  b.writeBigInt64LE(len, o + 16);
}
export const FUSE_NOTIFY_INVAL_ENTRY_OUT_SIZE = 16;
export function writeFuseNotifyInvalEntry(b: Buffer, o: number, parent: number, name: Buffer): void {
  b.writeBigUInt64LE(BigInt(parent), o + 0);
  b.writeUInt32LE(name.length, o + 8);
  b.writeUInt32LE(0, o + 12); /* flags */
  name.copy(b, o + 16);
  b[o + 16 + name.length] = 0;
}
export const FUSE_NOTIFY_POLL_WAKEUP_OUT_SIZE = 8;

/* DT_* for fuse_dirent.type (the S_IFMT bits >> 12). */
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;
export const DT_CHR = 2;
export const DT_BLK = 6;

/* include/uapi/linux/stat.h */
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/* open(2) flags the server looks at (include/uapi/asm-generic/fcntl.h) */
export const O_ACCMODE = 0o3;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_TRUNC = 0o1000;
export const O_NONBLOCK = 0o4000;
