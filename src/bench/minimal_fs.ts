/*
 * The baseline for the through-the-mount benchmark: the smallest useful
 * fuse-native file system, one file `disk` of 128 MiB kept in a Buffer,
 * mounted with the daemon's options (direct_io, big_writes, no caching, no
 * timeouts). Reads and writes copy to and from that Buffer, so a dd through
 * it does what a dd through dev/vhost-vdpa-N does minus the device: the
 * FUSE round trips and one copy.
 *
 *   node dist/bench/minimal_fs.js MOUNTPOINT [SIZE]
 *
 * Prints "ready MOUNTPOINT" once mounted; unmounts on SIGTERM/SIGINT.
 */
import Fuse from 'fuse-native';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ENOENT = -2;
const EBADF = -9;
const ENOSPC = -28;

export const MINIMAL_FS_FILE = 'disk';

function main(): void {
  const mnt = process.argv[2];
  const size = Number(process.argv[3] ?? 128 * 1024 * 1024);
  if (!mnt) {
    process.stderr.write('usage: minimal_fs MOUNTPOINT [SIZE]\n');
    process.exit(2);
  }
  const disk = Buffer.alloc(size);
  const now = new Date();
  const base = { uid: 0, gid: 0, atime: now, mtime: now, ctime: now, nlink: 1, rdev: 0 };
  const path = `/${MINIMAL_FS_FILE}`;
  let nextFh = 1;
  const open = new Set<number>();

  const ops: Record<string, (...args: any[]) => void> = {
    init: (cb) => cb(0),
    getattr: (p: string, cb) => {
      if (p === '/') return cb(0, { ...base, mode: S_IFDIR | 0o755, nlink: 2, size: 0 });
      if (p === path) return cb(0, { ...base, mode: S_IFREG | 0o600, size });
      cb(ENOENT);
    },
    fgetattr: (p: string, _fh: number, cb) => ops.getattr(p, cb),
    readdir: (p: string, cb) => (p === '/' ? cb(0, ['.', '..', MINIMAL_FS_FILE]) : cb(ENOENT)),
    open: (p: string, _flags: number, cb) => {
      if (p !== path) return cb(ENOENT);
      const fh = nextFh++;
      open.add(fh);
      cb(0, fh);
    },
    read: (_p: string, fh: number, buf: Buffer, len: number, pos: number, cb) => {
      if (!open.has(fh)) return cb(EBADF);
      if (pos >= size) return cb(0);
      const n = Math.min(len, size - pos);
      disk.copy(buf, 0, pos, pos + n);
      cb(n);
    },
    write: (_p: string, fh: number, buf: Buffer, len: number, pos: number, cb) => {
      if (!open.has(fh)) return cb(EBADF);
      if (pos >= size) return cb(ENOSPC);
      const n = Math.min(len, size - pos);
      buf.copy(disk, pos, 0, n);
      cb(n);
    },
    release: (_p: string, fh: number, cb) => {
      open.delete(fh);
      cb(0);
    },
    truncate: (_p: string, _size: number, cb) => cb(0),
    ftruncate: (_p: string, _fh: number, _size: number, cb) => cb(0),
    flush: (_p: string, _fh: number, cb) => cb(0),
    fsync: (_p: string, _d: number, _fh: number, cb) => cb(0),
  };

  const fuse = new Fuse(mnt, ops, {
    mkdir: true,
    force: true,
    autoUnmount: true,
    timeout: false,
    fsname: 'minimalfs,direct_io,big_writes,negative_timeout=0',
    entryTimeout: '0',
    attrTimeout: '0',
  });
  const stop = (): void => {
    fuse.unmount(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const saved = process.env.DEBUG;
  delete process.env.DEBUG;
  fuse.mount((err) => {
    if (saved !== undefined) process.env.DEBUG = saved;
    if (err) {
      process.stderr.write(`minimal_fs: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`ready ${mnt}\n`);
  });
}

if (require.main === module) main();
