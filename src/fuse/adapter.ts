/*
 * The FUSE adapter: fuse-native operations over a kernfs tree.
 *
 * It knows paths, nodes, open files and errnos; it knows nothing of vdpa.
 * Rules it keeps (see ../shared/reference/fuse-native.md):
 *  - every callback gets a number, never an Error, and no handler throws
 *    (a throw or a non-number hangs the client in D state);
 *  - the mount runs with entry/attr timeouts of 0 and direct_io, because
 *    fuse-native cannot invalidate the kernel's caches: a removed `driver`
 *    link or /dev node must be gone for the very next stat;
 *  - the open files do kernfs's permission checks (root included);
 *  - an operation that sleeps in the model (a Completion) answers later,
 *    so only its caller waits.
 */
import createDebug from 'debug';
import type Fuse from 'fuse-native';
import { Completion } from '../kernel/completion';
import { errnoNumber, KernelError } from '../kernel/errno';
import { KernDir, KernFile, KernfsNode, KernfsRoot, KernLink, OpenFile } from '../fs/kernfs';

const trace = createDebug('vdpafs:fuse');

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;

export interface AdapterOptions {
  /*
   * Present device nodes as S_IFCHR/S_IFBLK with their rdev. Opening them
   * then goes to the host kernel's char layer (EACCES on a nodev mount):
   * only for tools that check the node type.
   */
  devNodesAsDevices?: boolean;
}

type Handler = (...args: any[]) => void;

/* new_encode_dev(): the dev_t layout stat() returns. */
function encodeDev(major: number, minor: number): number {
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

function errnoOf(e: unknown): number {
  if (e instanceof KernelError) return -errnoNumber(e.errno);
  trace('internal error: %O', e);
  return -errnoNumber('EIO');
}

export function fuseOps(tree: KernfsRoot, opts: AdapterOptions = {}): Record<string, Handler> {
  const mounted = new Date();
  const files = new Map<number, OpenFile>();
  let nextFh = 1;

  /* Answer with a number now, or when a sleeping operation completes. */
  const answer = (cb: (n: number) => void, fn: () => number | Completion<number>) => {
    let r: number | Completion<number>;
    try {
      r = fn();
    } catch (e) {
      return cb(errnoOf(e));
    }
    if (r instanceof Completion) {
      r.toPromise()
        .then(cb, (e) => cb(errnoOf(e)))
        .catch((e) => trace('late answer failed: %O', e));
    }
    else cb(r);
  };

  const lookup = (path: string): KernfsNode => {
    const node = tree.lookup(path);
    if (!node) throw new KernelError('ENOENT');
    return node;
  };

  const stat = (node: KernfsNode) => {
    const base = { uid: 0, gid: 0, atime: mounted, mtime: mounted, ctime: mounted, nlink: 1, size: 0, rdev: 0 };
    if (node instanceof KernDir) return { ...base, mode: S_IFDIR | node.mode, nlink: 2 };
    if (node instanceof KernLink) return { ...base, mode: S_IFLNK | 0o777, size: Buffer.byteLength(node.readlink()) };
    const file = node as KernFile;
    if (opts.devNodesAsDevices && file.devt) {
      const type = file.devt.type === 'b' ? S_IFBLK : S_IFCHR;
      return { ...base, mode: type | file.mode, rdev: encodeDev(file.devt.major, file.devt.minor) };
    }
    return { ...base, mode: S_IFREG | file.mode, size: file.size() };
  };

  const ops: Record<string, Handler> = {
    init: (cb) => cb(0),

    getattr: (path: string, cb) => {
      try {
        cb(0, stat(lookup(path)));
      } catch (e) {
        cb(errnoOf(e));
      }
    },

    /* fuse-native calls getattr for fgetattr anyway; defining it avoids ENOSYS. */
    fgetattr: (path: string, _fd: number, cb) => ops.getattr(path, cb),

    readdir: (path: string, cb) => {
      try {
        const node = lookup(path);
        if (!(node instanceof KernDir)) return cb(-errnoNumber('ENOTDIR'));
        cb(0, ['.', '..', ...node.children.keys()]);
      } catch (e) {
        cb(errnoOf(e));
      }
    },

    readlink: (path: string, cb) => {
      try {
        const node = lookup(path);
        if (!(node instanceof KernLink)) return cb(-errnoNumber('EINVAL'));
        cb(0, node.readlink());
      } catch (e) {
        cb(errnoOf(e));
      }
    },

    open: (path: string, flags: number, cb) => {
      try {
        const node = lookup(path);
        if (!(node instanceof KernFile)) return cb(-errnoNumber('EISDIR'));
        const acc = flags & O_ACCMODE;
        const file = node.open({
          read: acc !== O_WRONLY,
          write: acc === O_WRONLY || acc === O_RDWR,
          nonblock: (flags & O_NONBLOCK) !== 0,
        });
        const fh = nextFh++;
        if (nextFh > 0xfffffff0) nextFh = 1;
        files.set(fh, file);
        trace('open %s flags 0x%s fh %d', path, flags.toString(16), fh);
        cb(0, fh);
      } catch (e) {
        cb(errnoOf(e));
      }
    },

    /* `buf` is libfuse memory, valid only until cb: fill it, never keep it. */
    read: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb) => {
      const file = files.get(fh);
      if (!file) return cb(-errnoNumber('EBADF'));
      answer(cb, () => file.read(buf.subarray(0, len), pos));
    },

    /* Files consume or copy `buf` before returning (see OpenFile). */
    write: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb) => {
      const file = files.get(fh);
      if (!file) return cb(-errnoNumber('EBADF'));
      trace('write %s %d bytes', path, len);
      answer(cb, () => file.write(buf.subarray(0, len), pos));
    },

    release: (path: string, fh: number, cb) => {
      const file = files.get(fh);
      files.delete(fh);
      try {
        file?.release();
      } catch (e) {
        trace('release %s: %O', path, e);
      }
      cb(0);
    },

    /* `echo x > attr` truncates first (libfuse 2.9 sends O_TRUNC as truncate). */
    truncate: (path: string, size: number, cb) => {
      try {
        const node = lookup(path);
        if (!(node instanceof KernFile)) return cb(-errnoNumber('EISDIR'));
        cb(0);
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    ftruncate: (path: string, fh: number, size: number, cb) => {
      try {
        files.get(fh)?.truncate?.(size);
        cb(0);
      } catch (e) {
        cb(errnoOf(e));
      }
    },

    flush: (_path: string, _fh: number, cb) => cb(0),
    fsync: (_path: string, _datasync: number, _fh: number, cb) => cb(0),
    utimens: (_path: string, _atime: unknown, _mtime: unknown, cb) => cb(0),

    /* kernfs lets root chmod an attribute; nothing else about a node can change. */
    chmod: (path: string, mode: number, cb) => {
      try {
        lookup(path).mode = mode & 0o7777;
        cb(0);
      } catch (e) {
        cb(errnoOf(e));
      }
    },
    chown: (_path: string, uid: number, gid: number, cb) => cb(uid === 0 && gid === 0 ? 0 : -errnoNumber('EPERM')),

    /* sysfs refuses to create or remove anything from userspace. */
    create: (_path: string, _mode: number, cb) => cb(-errnoNumber('EACCES')),
    mknod: (_path: string, _mode: number, _dev: number, cb) => cb(-errnoNumber('EPERM')),
    mkdir: (_path: string, _mode: number, cb) => cb(-errnoNumber('EPERM')),
    unlink: (_path: string, cb) => cb(-errnoNumber('EPERM')),
    rmdir: (_path: string, cb) => cb(-errnoNumber('EPERM')),
    symlink: (_target: string, _path: string, cb) => cb(-errnoNumber('EPERM')),
    rename: (_src: string, _dst: string, cb) => cb(-errnoNumber('EPERM')),
    link: (_src: string, _dst: string, cb) => cb(-errnoNumber('EPERM')),

    statfs: (_path: string, cb) =>
      cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 }),
  };

  /* Trace every operation on the vdpafs:fuse channel. */
  if (trace.enabled) {
    for (const [name, fn] of Object.entries(ops)) {
      /* write traces itself, with its byte count. */
      if (name === 'write') continue;
      ops[name] = (...args: any[]) => {
        trace('%s %s', name, typeof args[0] === 'string' ? args[0] : '');
        fn(...args);
      };
    }
  }
  return ops;
}

/*
 * fuse.mount() for the daemon's main mount and the dev views alike.
 * fuse-native turns on libfuse's own debug output whenever $DEBUG holds a
 * '*', which DEBUG=vdpafs:* does: hide it while mounting. The debug module
 * has read it already.
 */
export function mountQuietly(fuse: Fuse): Promise<void> {
  const saved = process.env.DEBUG;
  delete process.env.DEBUG;
  return new Promise((resolve, reject) =>
    fuse.mount((err) => {
      if (saved !== undefined) process.env.DEBUG = saved;
      if (err) reject(err);
      else resolve();
    }),
  );
}
