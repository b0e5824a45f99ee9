/*
 * The FUSE server: the kernel's FUSE protocol over a kernfs tree.
 *
 * One request in (the bytes read from /dev/fuse), at most one reply out,
 * through a FuseChannel. It knows node ids, open files, errnos and the
 * protocol; it knows nothing of vdpa and nothing of where the bytes come
 * from, so the unit tests feed it requests and read its replies.
 *
 * Rules it keeps:
 *  - a malformed or truncated request is answered EINVAL (EIO for a bug of
 *    ours) and the loop goes on: nothing a client sends can stop it;
 *  - the opener's, writer's and ioctl caller's credentials (uid, gid and
 *    thread id from the request header) reach the model with the call;
 *  - a call that sleeps in the model (a Completion) is answered when it
 *    completes, so only its caller waits; FUSE_INTERRUPT wakes it only if
 *    the sleep is interruptible;
 *  - names and attributes are cached by the host kernel when the tree says
 *    it can be (KernfsRoot.cacheable), and every change is invalidated
 *    before the request that made it is answered (invalidate.ts);
 *  - file contents never are: every open is FOPEN_DIRECT_IO (an attribute
 *    is computed at read; a shared mmap of a device node fails, which is
 *    what makes QEMU fall back from the doorbell page to eventfd kicks).
 */
import createDebug from 'debug';
import * as uapi from '../include/uapi/fuse';
import { Completion, MaybeWait } from '../kernel/completion';
import { errnoNumber, KernelError } from '../kernel/errno';
import type { Cred } from '../kernel/cred';
import {
  DEFAULT_POLLMASK,
  KernDir,
  KernFile,
  KernfsNode,
  KernfsRoot,
  KernLink,
  OpenFile,
  PAGE_SIZE,
} from '../fs/kernfs';
import { AttrPolicy, direntType, NAME_ENCODING, nodeAttr } from './attr';
import { Invalidator } from './invalidate';
import { NodeTable } from './nodes';

const trace = createDebug('vdpafs:fuse');

const {
  FUSE_IN_HEADER_SIZE,
  FUSE_OUT_HEADER_SIZE,
  fuseInHeader,
  writeFuseOutHeader,
} = uapi;

/* Where replies and notifications go: /dev/fuse, or a test's capture. */
export interface FuseChannel {
  /* One reply, written at once (header and body parts as one message). */
  reply(parts: Buffer[]): void;
  /* One notification, written off the main thread; settles when written. */
  notify(msg: Buffer): Promise<void>;
}

export interface FuseServerOptions {
  /* Device nodes stat as S_IFCHR/S_IFBLK (then unusable: the host's char layer opens them). */
  devNodesAsDevices?: boolean;
  /* Largest WRITE the kernel may send (bounded by the reader's buffer). */
  maxWrite?: number;
  /* Seconds names and attributes may be cached, when the tree allows caching. */
  cacheTimeout?: number;
}

export const DEFAULT_MAX_WRITE = 1 << 20;
export const DEFAULT_CACHE_TIMEOUT = 60;
/* The largest READ the server answers (max_pages 256). */
const READ_MAX = 1 << 20;
const NO_TIMEOUT: uapi.FuseTimeout = { sec: 0, nsec: 0 };

/*
 * What the server offers at INIT, and what it needs from the kernel. Not
 * FUSE_ABORT_ERROR: a mount whose daemon died then fails ECONNABORTED, where
 * users and tools know "Transport endpoint is not connected" (ENOTCONN).
 */
const WANTED_INIT_FLAGS =
  uapi.FUSE_ASYNC_READ |
  uapi.FUSE_ATOMIC_O_TRUNC |
  uapi.FUSE_BIG_WRITES |
  uapi.FUSE_DO_READDIRPLUS |
  uapi.FUSE_READDIRPLUS_AUTO |
  uapi.FUSE_PARALLEL_DIROPS |
  uapi.FUSE_MAX_PAGES |
  uapi.FUSE_CACHE_SYMLINKS;

const EINVAL = -errnoNumber('EINVAL');
const NO_REPLY = new Set([uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET, uapi.FUSE_INTERRUPT]);
/* The requests whose replies wait for their invalidations (see send()). */
const HELD_BACK = new Set([uapi.FUSE_WRITE, uapi.FUSE_IOCTL]);
const ENOSYS = -errnoNumber('ENOSYS');

/* A request being served: its header fields and the body after the header. */
export interface FuseRequest {
  unique: bigint;
  opcode: number;
  nodeid: number;
  cred: Cred;
  body: Buffer;
  /* The invalidation queue's mark when the request arrived (see send()). */
  mark: number;
}

/* A request that failed to parse (a short body): EINVAL for the sender. */
class Malformed extends Error {}

function need(body: Buffer, size: number): void {
  if (body.length < size) throw new Malformed(`body of ${body.length} bytes, need ${size}`);
}

function errnoOf(e: unknown): number {
  if (e instanceof KernelError) return -errnoNumber(e.errno);
  if (e instanceof Malformed) return EINVAL;
  trace('internal error: %O', e);
  return -errnoNumber('EIO');
}

/* A NUL-terminated name at `off` in the body. */
function cString(body: Buffer, off = 0): string {
  const end = body.indexOf(0, off);
  if (end < 0) throw new Malformed('name without NUL');
  return body.toString(NAME_ENCODING, off, end);
}

interface FileHandle {
  node: KernFile;
  file: OpenFile;
}

type Handler = (req: FuseRequest) => void;

export class FuseServer {
  readonly nodes: NodeTable;
  readonly invalidator: Invalidator;
  private readonly policy: AttrPolicy;
  private readonly timeout: uapi.FuseTimeout;
  private readonly maxWrite: number;
  private readonly files = new Map<number, FileHandle>();
  private nextFh = 1;
  /* Requests answered later (sleeping calls), by unique, for FUSE_INTERRUPT. */
  private readonly sleeping = new Map<bigint, Completion<unknown>>();
  private initialized = false;
  private readScratch: Buffer | null = null;
  private closed = false;
  private readonly handlers: Record<number, Handler>;

  constructor(
    readonly tree: KernfsRoot,
    private readonly channel: FuseChannel,
    opts: FuseServerOptions = {},
  ) {
    this.nodes = new NodeTable(tree.root);
    this.invalidator = new Invalidator(this.nodes, (msg) => channel.notify(msg));
    this.policy = { devNodesAsDevices: opts.devNodesAsDevices ?? false, time: Math.floor(Date.now() / 1000) };
    const t = tree.cacheable ? (opts.cacheTimeout ?? DEFAULT_CACHE_TIMEOUT) : 0;
    this.timeout = { sec: Math.floor(t), nsec: 0 };
    this.maxWrite = opts.maxWrite ?? DEFAULT_MAX_WRITE;
    if (tree.cacheable) tree.watcher = this.invalidator;
    this.handlers = {
      [uapi.FUSE_INIT]: (r) => this.init(r),
      [uapi.FUSE_DESTROY]: (r) => this.replyEmpty(r),
      [uapi.FUSE_LOOKUP]: (r) => this.lookup(r),
      [uapi.FUSE_FORGET]: (r) => this.forget(r),
      [uapi.FUSE_BATCH_FORGET]: (r) => this.batchForget(r),
      [uapi.FUSE_GETATTR]: (r) => this.getattr(r),
      [uapi.FUSE_SETATTR]: (r) => this.setattr(r),
      [uapi.FUSE_READLINK]: (r) => this.readlink(r),
      [uapi.FUSE_OPEN]: (r) => this.open(r),
      [uapi.FUSE_READ]: (r) => this.read(r),
      [uapi.FUSE_WRITE]: (r) => this.write(r),
      [uapi.FUSE_FLUSH]: (r) => this.flush(r),
      [uapi.FUSE_RELEASE]: (r) => this.release(r),
      [uapi.FUSE_FSYNC]: (r) => this.replyEmpty(r),
      [uapi.FUSE_OPENDIR]: (r) => this.opendir(r),
      [uapi.FUSE_READDIR]: (r) => this.readdir(r, false),
      [uapi.FUSE_READDIRPLUS]: (r) => this.readdir(r, true),
      [uapi.FUSE_RELEASEDIR]: (r) => this.replyEmpty(r),
      [uapi.FUSE_FSYNCDIR]: (r) => this.replyEmpty(r),
      [uapi.FUSE_STATFS]: (r) => this.statfs(r),
      [uapi.FUSE_IOCTL]: (r) => this.ioctl(r),
      [uapi.FUSE_POLL]: (r) => this.poll(r),
      [uapi.FUSE_INTERRUPT]: (r) => this.interrupt(r),
      [uapi.FUSE_GETXATTR]: (r) => this.getxattr(r),
      [uapi.FUSE_LISTXATTR]: (r) => this.listxattr(r),
      /* kernfs keeps only security.* and trusted.* xattrs, which vdpafs does not model. */
      [uapi.FUSE_SETXATTR]: (r) => this.replyError(r, 'EOPNOTSUPP'),
      [uapi.FUSE_REMOVEXATTR]: (r) => this.replyError(r, 'EOPNOTSUPP'),
      /* sysfs refuses to create or remove anything: no ->create (EACCES), no ->mkdir etc. (EPERM). */
      [uapi.FUSE_CREATE]: (r) => this.replyError(r, 'EACCES'),
      [uapi.FUSE_TMPFILE]: (r) => this.replyError(r, 'EOPNOTSUPP'),
      [uapi.FUSE_MKNOD]: (r) => this.replyError(r, 'EPERM'),
      [uapi.FUSE_MKDIR]: (r) => this.replyError(r, 'EPERM'),
      [uapi.FUSE_UNLINK]: (r) => this.replyError(r, 'EPERM'),
      [uapi.FUSE_RMDIR]: (r) => this.replyError(r, 'EPERM'),
      [uapi.FUSE_SYMLINK]: (r) => this.replyError(r, 'EPERM'),
      [uapi.FUSE_RENAME]: (r) => this.replyError(r, 'EPERM'),
      [uapi.FUSE_RENAME2]: (r) => this.replyError(r, 'EPERM'),
      [uapi.FUSE_LINK]: (r) => this.replyError(r, 'EPERM'),
    };
  }

  /* ------------------------------------------------------------ loop */

  /*
   * Serve one request. `msg` is only lent for this call (the reader reuses
   * its buffer): a handler that answers later copies what it keeps.
   */
  handle(msg: Buffer): void {
    if (msg.length < FUSE_IN_HEADER_SIZE) {
      trace('short request (%d bytes) dropped', msg.length);
      return;
    }
    const len = fuseInHeader.len(msg);
    const req: FuseRequest = {
      unique: fuseInHeader.unique(msg),
      opcode: fuseInHeader.opcode(msg),
      nodeid: fuseInHeader.nodeid(msg),
      cred: { uid: fuseInHeader.uid(msg), gid: fuseInHeader.gid(msg), pid: fuseInHeader.pid(msg) },
      body: msg.subarray(FUSE_IN_HEADER_SIZE, Math.min(len, msg.length)),
      mark: this.invalidator.mark,
    };
    if (len < FUSE_IN_HEADER_SIZE || len > msg.length) return this.replyErrno(req, EINVAL);
    if (trace.enabled) this.traceRequest(req);
    if (!this.initialized && req.opcode !== uapi.FUSE_INIT) return this.replyErrno(req, -errnoNumber('EIO'));
    const handler = this.handlers[req.opcode];
    if (!handler) return this.replyErrno(req, ENOSYS);
    try {
      handler(req);
    } catch (e) {
      /* FORGET, BATCH_FORGET and INTERRUPT are never answered, not even with an error. */
      if (NO_REPLY.has(req.opcode)) trace('%s failed: %O', uapi.FUSE_OPCODE_NAMES[req.opcode], e);
      else this.replyErrno(req, errnoOf(e));
    }
  }

  /* `LOOKUP /sys/devices "vdpa0"`, `WRITE /sys/bus/vdpa/drivers_probe 6 bytes`: what and where, for DEBUG=vdpafs:fuse. */
  private traceRequest(req: FuseRequest): void {
    const op = uapi.FUSE_OPCODE_NAMES[req.opcode] ?? String(req.opcode);
    const where = this.nodes.get(req.nodeid)?.path() ?? `node ${req.nodeid}`;
    let detail = '';
    if (req.opcode === uapi.FUSE_LOOKUP) detail = ` "${req.body.toString(NAME_ENCODING, 0, Math.max(0, req.body.indexOf(0)))}"`;
    else if (req.opcode === uapi.FUSE_WRITE && req.body.length >= uapi.FUSE_WRITE_IN_SIZE) detail = ` ${uapi.fuseWriteIn.size(req.body)} bytes`;
    else if (req.opcode === uapi.FUSE_IOCTL && req.body.length >= uapi.FUSE_IOCTL_IN_SIZE) detail = ` cmd 0x${uapi.fuseIoctlIn.cmd(req.body).toString(16)}`;
    trace('%s %s%s (pid %d uid %d)', op, where, detail, req.cred.pid, req.cred.uid);
  }

  /* The connection is gone: every open file is released, as at unmount. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.tree.watcher === this.invalidator) this.tree.watcher = null;
    for (const [fh, h] of this.files) {
      this.files.delete(fh);
      this.releaseFile(h);
    }
    this.sleeping.clear();
  }

  /* Resolves once the host kernel has forgotten everything the tree changed so far. */
  settled(): Promise<void> {
    return this.invalidator.settled();
  }

  /* ------------------------------------------------------------ replies */

  /*
   * Send a reply. A WRITE or an IOCTL whose handling changed the tree (a
   * store that bound, unbound or removed something), or that completed late
   * after something did, is answered once the invalidations queued since it
   * arrived are written (invalidate.ts): the writer must not see the old
   * tree once its write(2) returns. Nothing else is ever held back. Their
   * callers may hold a directory's lock while they wait for us (SETATTR
   * on a directory; LOOKUP, READDIR), which an INVAL_ENTRY queued before
   * needs: holding their replies behind it would deadlock. They lose
   * nothing by not waiting: a SETATTR reply carries the new attributes into
   * the shared inode, and a LOOKUP or READDIR answers from the new tree.
   */
  private send(req: FuseRequest, error: number, parts: Buffer[]): void {
    if (this.closed) return;
    let len = FUSE_OUT_HEADER_SIZE;
    for (const p of parts) len += p.length;
    const hdr = Buffer.allocUnsafe(FUSE_OUT_HEADER_SIZE);
    writeFuseOutHeader(hdr, len, error, req.unique);
    const out = [hdr, ...parts];
    const inv = this.invalidator;
    if (inv.mark === req.mark || !HELD_BACK.has(req.opcode)) return this.channel.reply(out);
    /* Held back: the parts may be reused buffers (READ's), so keep copies. */
    const held = out.map((p) => Buffer.from(p));
    inv.after(inv.mark, () => this.closed || this.channel.reply(held));
  }

  private replyOk(req: FuseRequest, ...parts: Buffer[]): void {
    this.send(req, 0, parts);
  }

  private replyEmpty(req: FuseRequest): void {
    this.send(req, 0, []);
  }

  private replyErrno(req: FuseRequest, negErrno: number): void {
    this.send(req, negErrno, []);
  }

  private replyError(req: FuseRequest, errno: Parameters<typeof errnoNumber>[0]): void {
    this.send(req, -errnoNumber(errno), []);
  }

  /*
   * Run a model call that may sleep. Its value becomes the reply through
   * `reply`; a thrown KernelError becomes the errno. A sleeping call is
   * answered when its Completion settles.
   */
  private answer<T>(req: FuseRequest, call: () => MaybeWait<T>, reply: (v: T) => void): void {
    const r = call();
    if (!(r instanceof Completion)) return reply(r);
    this.sleeping.set(req.unique, r as Completion<unknown>);
    r.toPromise().then(
      (v) => {
        this.sleeping.delete(req.unique);
        try {
          reply(v);
        } catch (e) {
          this.replyErrno(req, errnoOf(e));
        }
      },
      (e) => {
        this.sleeping.delete(req.unique);
        this.replyErrno(req, errnoOf(e));
      },
    );
  }

  /* ------------------------------------------------------------ helpers */

  private node(nodeid: number): KernfsNode {
    const node = this.nodes.get(nodeid);
    /* An id the kernel should not hold any more (never handed out, or forgotten). */
    if (!node) throw new KernelError('ENOENT');
    return node;
  }

  /*
   * A directory operations may look into: a removed directory (the cwd of
   * some process, say) has no entries any more, as kernfs deactivates a
   * removed subtree.
   */
  private liveDir(nodeid: number): KernDir {
    const node = this.node(nodeid);
    if (!(node instanceof KernDir)) throw new KernelError('ENOTDIR');
    if (!node.attached) throw new KernelError('ENOENT');
    return node;
  }

  private attrOf(node: KernfsNode): uapi.FuseAttr {
    return nodeAttr(node, this.nodes.nodeid(node), this.policy);
  }

  private fileHandle(fh: number): FileHandle {
    const h = this.files.get(fh);
    if (!h) throw new KernelError('EBADF');
    return h;
  }

  private allocFh(): number {
    const fh = this.nextFh++;
    if (this.nextFh > Number.MAX_SAFE_INTEGER) this.nextFh = 1;
    return fh;
  }

  private releaseFile(h: FileHandle): void {
    try {
      h.file.release();
    } catch (e) {
      trace('release %s: %O', h.node.name, e);
    }
  }

  /* ------------------------------------------------------------ opcodes */

  /* INIT: 7.36 structures, 1 MiB writes, readdirplus, cached symlinks, atomic O_TRUNC. */
  private init(req: FuseRequest): void {
    need(req.body, uapi.FUSE_INIT_IN_MIN_SIZE);
    const major = uapi.fuseInitIn.major(req.body);
    const minor = uapi.fuseInitIn.minor(req.body);
    const out = Buffer.alloc(uapi.FUSE_INIT_OUT_SIZE);
    if (major !== uapi.FUSE_KERNEL_VERSION) {
      /* A kernel with another major: tell it ours and wait for a new INIT. */
      out.writeUInt32LE(uapi.FUSE_KERNEL_VERSION, 0);
      return this.replyOk(req, out.subarray(0, 8));
    }
    const offered = uapi.fuseInitIn.flags(req.body);
    const maxWrite = Math.min(this.maxWrite, 1 << 20);
    uapi.writeFuseInitOut(out, 0, {
      major: uapi.FUSE_KERNEL_VERSION,
      minor: Math.min(minor, uapi.FUSE_KERNEL_MINOR_VERSION),
      maxReadahead: uapi.fuseInitIn.maxReadahead(req.body),
      flags: offered & WANTED_INIT_FLAGS,
      maxBackground: 64,
      congestionThreshold: 48,
      maxWrite,
      timeGran: 1,
      maxPages: Math.ceil(maxWrite / PAGE_SIZE),
      flags2: 0,
    });
    this.initialized = true;
    trace('INIT %d.%d flags 0x%s -> 0x%s', major, minor, offered.toString(16), (offered & WANTED_INIT_FLAGS).toString(16));
    this.replyOk(req, out);
  }

  private entryOut(node: KernfsNode | null): Buffer {
    const out = Buffer.allocUnsafe(uapi.FUSE_ENTRY_OUT_SIZE);
    if (!node) {
      /* A negative entry: the name is absent, cacheable like any other answer. */
      uapi.writeFuseEntryOut(out, 0, 0, 0, this.timeout, this.timeout, null);
      return out;
    }
    const id = this.nodes.ref(node);
    uapi.writeFuseEntryOut(out, 0, id, node.generation, this.timeout, this.timeout, this.attrOf(node));
    return out;
  }

  private lookup(req: FuseRequest): void {
    const dir = this.liveDir(req.nodeid);
    const name = cString(req.body);
    const node = this.tree.lookupChild(dir, name) ?? null;
    /* With caching on, an absent name is a cacheable negative entry; without, ENOENT. */
    if (!node && this.timeout.sec === 0) return this.replyError(req, 'ENOENT');
    this.replyOk(req, this.entryOut(node));
  }

  /* FORGET and BATCH_FORGET are never answered. */
  private forget(req: FuseRequest): void {
    need(req.body, 8);
    this.nodes.forget(req.nodeid, uapi.fuseForgetIn.nlookup(req.body));
  }

  private batchForget(req: FuseRequest): void {
    need(req.body, uapi.FUSE_BATCH_FORGET_IN_SIZE);
    const count = uapi.fuseBatchForgetIn.count(req.body);
    const n = Math.min(count, Math.floor((req.body.length - uapi.FUSE_BATCH_FORGET_IN_SIZE) / uapi.FUSE_FORGET_ONE_SIZE));
    for (let i = 0; i < n; i++) {
      const o = uapi.FUSE_BATCH_FORGET_IN_SIZE + i * uapi.FUSE_FORGET_ONE_SIZE;
      this.nodes.forget(uapi.fuseForgetOne.nodeid(req.body, o), uapi.fuseForgetOne.nlookup(req.body, o));
    }
  }

  private attrOut(node: KernfsNode): Buffer {
    const out = Buffer.allocUnsafe(uapi.FUSE_ATTR_OUT_SIZE);
    uapi.writeFuseAttrOut(out, 0, this.timeout, this.attrOf(node));
    return out;
  }

  /* GETATTR of a node, or of an open file's node (fstat works on a removed node too). */
  private getattr(req: FuseRequest): void {
    let node: KernfsNode;
    if (req.body.length >= uapi.FUSE_GETATTR_IN_SIZE && uapi.fuseGetattrIn.flags(req.body) & uapi.FUSE_GETATTR_FH) {
      node = this.files.get(uapi.fuseGetattrIn.fh(req.body))?.node ?? this.node(req.nodeid);
    } else node = this.node(req.nodeid);
    this.replyOk(req, this.attrOut(node));
  }

  /*
   * SETATTR: kernfs lets root chmod anything and take ownership only to
   * root; truncation is what O_TRUNC does (sysfs ignores it, a block-like
   * node may not); times are accepted and not kept.
   */
  private setattr(req: FuseRequest): void {
    need(req.body, uapi.FUSE_SETATTR_IN_SIZE);
    const b = req.body;
    const valid = uapi.fuseSetattrIn.valid(b);
    const handle = valid & uapi.FATTR_FH ? this.files.get(uapi.fuseSetattrIn.fh(b)) : undefined;
    const node = handle?.node ?? this.node(req.nodeid);
    if (valid & (uapi.FATTR_UID | uapi.FATTR_GID)) {
      if ((valid & uapi.FATTR_UID && uapi.fuseSetattrIn.uid(b) !== 0) || (valid & uapi.FATTR_GID && uapi.fuseSetattrIn.gid(b) !== 0))
        return this.replyError(req, 'EPERM');
    }
    if (valid & uapi.FATTR_SIZE) {
      if (!(node instanceof KernFile)) return this.replyError(req, node instanceof KernDir ? 'EISDIR' : 'EINVAL');
      handle?.file.truncate?.(uapi.fuseSetattrIn.size(b));
    }
    if (valid & uapi.FATTR_MODE) node.mode = uapi.fuseSetattrIn.mode(b) & 0o7777;
    this.replyOk(req, this.attrOut(node));
  }

  private readlink(req: FuseRequest): void {
    const node = this.node(req.nodeid);
    if (!(node instanceof KernLink)) return this.replyError(req, 'EINVAL');
    this.replyOk(req, Buffer.from(node.readlink(), NAME_ENCODING));
  }

  private open(req: FuseRequest): void {
    need(req.body, uapi.FUSE_OPEN_IN_SIZE);
    const node = this.node(req.nodeid);
    if (!(node instanceof KernFile)) return this.replyError(req, node instanceof KernDir ? 'EISDIR' : 'ELOOP');
    const flags = uapi.fuseOpenIn.flags(req.body);
    const acc = flags & uapi.O_ACCMODE;
    const file = node.open({
      read: acc !== uapi.O_WRONLY,
      write: acc === uapi.O_WRONLY || acc === uapi.O_RDWR,
      nonblock: (flags & uapi.O_NONBLOCK) !== 0,
      cred: req.cred,
    });
    /* FUSE_ATOMIC_O_TRUNC: `echo x > attr` arrives as one OPEN with O_TRUNC. */
    if (flags & uapi.O_TRUNC) file.truncate?.(0);
    const fh = this.allocFh();
    this.files.set(fh, { node, file });
    /* No flush op: the kernel need not send FLUSH on close (one request less per close). */
    const openFlags = uapi.FOPEN_DIRECT_IO | (file.flush ? 0 : uapi.FOPEN_NOFLUSH);
    const out = Buffer.allocUnsafe(uapi.FUSE_OPEN_OUT_SIZE);
    uapi.writeFuseOpenOut(out, 0, fh, openFlags);
    this.replyOk(req, out);
  }

  /*
   * READ into one reused buffer: a fresh 1 MiB allocation per request costs
   * more than the copy (new pages fault in). A read that sleeps keeps the
   * buffer it was given, so the next read takes a new one.
   */
  private read(req: FuseRequest): void {
    need(req.body, uapi.FUSE_READ_IN_SIZE);
    const h = this.fileHandle(uapi.fuseReadIn.fh(req.body));
    const size = Math.min(uapi.fuseReadIn.size(req.body), READ_MAX);
    const pos = uapi.fuseReadIn.offset(req.body);
    const scratch = (this.readScratch ??= Buffer.allocUnsafe(READ_MAX));
    const dst = scratch.subarray(0, size);
    const r = h.file.read(dst, pos, req.cred);
    if (r instanceof Completion) this.readScratch = null;
    this.answer(req, () => r, (n) => this.replyOk(req, dst.subarray(0, n)));
  }

  private write(req: FuseRequest): void {
    need(req.body, uapi.FUSE_WRITE_IN_SIZE);
    const h = this.fileHandle(uapi.fuseWriteIn.fh(req.body));
    const size = uapi.fuseWriteIn.size(req.body);
    need(req.body, uapi.FUSE_WRITE_IN_SIZE + size);
    const data = req.body.subarray(uapi.FUSE_WRITE_IN_SIZE, uapi.FUSE_WRITE_IN_SIZE + size);
    const pos = uapi.fuseWriteIn.offset(req.body);
    this.answer(req, () => h.file.write(data, pos, req.cred), (n) => {
      const out = Buffer.allocUnsafe(uapi.FUSE_WRITE_OUT_SIZE);
      uapi.writeFuseWriteOut(out, 0, n);
      this.replyOk(req, out);
    });
  }

  private flush(req: FuseRequest): void {
    need(req.body, uapi.FUSE_FLUSH_IN_SIZE);
    const h = this.files.get(uapi.fuseFhIn.fh(req.body));
    h?.file.flush?.(req.cred);
    this.replyEmpty(req);
  }

  private release(req: FuseRequest): void {
    need(req.body, 8);
    const fh = uapi.fuseFhIn.fh(req.body);
    const h = this.files.get(fh);
    this.files.delete(fh);
    if (h) this.releaseFile(h);
    this.replyEmpty(req);
  }

  /*
   * OPENDIR on a cacheable tree: ENOSYS, once. The kernel then opens
   * directories without asking (zero-message opendir, fc->no_opendir),
   * sends no RELEASEDIR, and caches listings (it sets FOPEN_CACHE_DIR
   * itself), which the invalidator drops on every change: two requests
   * less per directory walked, none for a listing read again. Nothing here
   * depends on a directory handle -- READDIR names the directory by node id.
   * A tree computed on lookup cannot have its listings cached: an ordinary
   * open, without FOPEN_CACHE_DIR.
   */
  private opendir(req: FuseRequest): void {
    if (this.tree.cacheable) return this.replyErrno(req, ENOSYS);
    const out = Buffer.allocUnsafe(uapi.FUSE_OPEN_OUT_SIZE);
    uapi.writeFuseOpenOut(out, 0, 0, 0);
    this.replyOk(req, out);
  }

  /*
   * READDIR / READDIRPLUS: `.` and `..`, then the children in creation
   * order; an entry's offset is its index + 1, so a listing resumes where
   * it stopped (and starts again after rewinddir, at offset 0). The plus
   * form carries each child's entry and attributes and hands its node out
   * once more, as a LOOKUP would; `.` and `..` go without a node id (the
   * kernel takes no reference for them). A removed directory lists only
   * the dots, as kernfs does.
   */
  private readdir(req: FuseRequest, plus: boolean): void {
    need(req.body, uapi.FUSE_READ_IN_SIZE);
    const dir = this.node(req.nodeid);
    if (!(dir instanceof KernDir)) return this.replyError(req, 'ENOTDIR');
    const offset = uapi.fuseReadIn.offset(req.body);
    const out = Buffer.allocUnsafe(Math.min(uapi.fuseReadIn.size(req.body), READ_MAX));
    let pos = 0;
    let i = 0;
    const emit = (name: string, node: KernfsNode, dot: boolean): boolean => {
      if (i++ < offset) return true;
      const nameBytes = Buffer.from(name, NAME_ENCODING);
      const dirent = uapi.fuseDirentAlign(uapi.FUSE_DIRENT_SIZE + nameBytes.length);
      if (pos + (plus ? uapi.FUSE_ENTRY_OUT_SIZE : 0) + dirent > out.length) return false;
      if (plus) {
        if (dot) uapi.writeFuseEntryOut(out, pos, 0, 0, NO_TIMEOUT, NO_TIMEOUT, null);
        else uapi.writeFuseEntryOut(out, pos, this.nodes.ref(node), node.generation, this.timeout, this.timeout, this.attrOf(node));
        pos += uapi.FUSE_ENTRY_OUT_SIZE;
      }
      const ino = node === this.tree.root ? uapi.FUSE_ROOT_ID : node.ino;
      pos = uapi.writeFuseDirent(out, pos, ino, i, direntType(node, this.policy), nameBytes);
      return true;
    };
    if (emit('.', dir, true) && emit('..', dir.parent ?? dir, true) && dir.attached) {
      for (const [name, node] of this.tree.entries(dir)) if (!emit(name, node, false)) break;
    }
    this.replyOk(req, out.subarray(0, pos));
  }

  /* statfs of sysfs: no blocks, no inodes, 4 KiB blocks, 255-byte names. */
  private statfs(req: FuseRequest): void {
    const out = Buffer.allocUnsafe(uapi.FUSE_STATFS_OUT_SIZE);
    uapi.writeFuseStatfsOut(out, 0, PAGE_SIZE, 255);
    this.replyOk(req, out);
  }

  /*
   * IOCTL, restricted (what FUSE allows on a regular file): the input bytes
   * came with the request, the output goes back in the reply, at most
   * out_size of it. A file without an ioctl op answers ENOTTY, as vfs_ioctl.
   */
  private ioctl(req: FuseRequest): void {
    need(req.body, uapi.FUSE_IOCTL_IN_SIZE);
    const b = req.body;
    const flags = uapi.fuseIoctlIn.flags(b);
    if (flags & uapi.FUSE_IOCTL_DIR) return this.replyError(req, 'ENOTTY');
    const h = this.fileHandle(uapi.fuseIoctlIn.fh(b));
    if (!h.file.ioctl) return this.replyError(req, 'ENOTTY');
    const inSize = uapi.fuseIoctlIn.inSize(b);
    need(b, uapi.FUSE_IOCTL_IN_SIZE + inSize);
    const outSize = uapi.fuseIoctlIn.outSize(b);
    const request = {
      cmd: uapi.fuseIoctlIn.cmd(b),
      arg: uapi.fuseIoctlIn.arg(b),
      /* A copy: a sleeping ioctl may read it after the request buffer is reused. */
      in: Buffer.from(b.subarray(uapi.FUSE_IOCTL_IN_SIZE, uapi.FUSE_IOCTL_IN_SIZE + inSize)),
      outSize,
      cred: req.cred,
    };
    const file = h.file;
    this.answer(req, () => file.ioctl!(request), (r) => {
      const head = Buffer.allocUnsafe(uapi.FUSE_IOCTL_OUT_SIZE);
      uapi.writeFuseIoctlOut(head, 0, r.result);
      const data = r.out ? r.out.subarray(0, outSize) : Buffer.alloc(0);
      this.replyOk(req, head, data);
    });
  }

  /*
   * POLL: the file's ready events; when the kernel asks to be told and none
   * it wants is ready, the file calls back once and we send NOTIFY_POLL
   * with the kernel's handle. A file without poll is always ready.
   */
  private poll(req: FuseRequest): void {
    need(req.body, uapi.FUSE_POLL_IN_SIZE);
    const b = req.body;
    const h = this.fileHandle(uapi.fusePollIn.fh(b));
    const kh = uapi.fusePollIn.kh(b);
    const events = uapi.fusePollIn.events(b);
    const schedule = (uapi.fusePollIn.flags(b) & uapi.FUSE_POLL_SCHEDULE_NOTIFY) !== 0;
    let revents = DEFAULT_POLLMASK;
    if (h.file.poll) {
      const wake = schedule ? () => this.notifyPoll(kh) : undefined;
      revents = h.file.poll(wake);
    }
    const out = Buffer.allocUnsafe(uapi.FUSE_POLL_OUT_SIZE);
    uapi.writeFusePollOut(out, 0, revents & (events | 0x18) /* POLLERR|POLLHUP always */);
    this.replyOk(req, out);
  }

  private notifyPoll(kh: bigint): void {
    if (this.closed) return;
    const msg = Buffer.allocUnsafe(FUSE_OUT_HEADER_SIZE + uapi.FUSE_NOTIFY_POLL_WAKEUP_OUT_SIZE);
    writeFuseOutHeader(msg, msg.length, uapi.FUSE_NOTIFY_POLL, 0n);
    msg.writeBigUInt64LE(kh, FUSE_OUT_HEADER_SIZE);
    this.channel.notify(msg).catch((e) => trace('poll wakeup: %s', e?.message ?? e));
  }

  /*
   * INTERRUPT: the caller of a sleeping request got a signal. An
   * interruptible sleep ends (its owner fails it, usually EINTR); an
   * uninterruptible one (unbind waiting for a close) goes on, as in the
   * kernel. Never answered itself.
   */
  private interrupt(req: FuseRequest): void {
    need(req.body, uapi.FUSE_INTERRUPT_IN_SIZE);
    this.sleeping.get(uapi.fuseInterruptIn.unique(req.body))?.interrupt();
  }

  /* sysfs has no user-visible xattrs: every name is ENODATA, the list is empty. */
  private getxattr(req: FuseRequest): void {
    this.node(req.nodeid);
    this.replyError(req, 'ENODATA');
  }

  private listxattr(req: FuseRequest): void {
    need(req.body, uapi.FUSE_GETXATTR_IN_SIZE);
    this.node(req.nodeid);
    if (uapi.fuseGetxattrIn.size(req.body) === 0) {
      const out = Buffer.alloc(uapi.FUSE_GETXATTR_OUT_SIZE);
      return this.replyOk(req, out);
    }
    this.replyOk(req);
  }
}
