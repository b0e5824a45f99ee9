/*
 * Keeping the host kernel's caches true: the tree's watcher.
 *
 * With entry and attribute caching on, the host kernel remembers names
 * (positive and negative dentries) and attributes for a while. Whenever the
 * tree changes, the transport tells it to forget:
 *   - a name appeared or vanished in a directory the kernel holds:
 *     FUSE_NOTIFY_INVAL_ENTRY(dir, name), which drops the dentry (a
 *     negative one too), and FUSE_NOTIFY_INVAL_INODE(dir, off 0), which
 *     drops the directory's attributes and its readdir cache (the kernel
 *     caches listings: see the server's zero-message opendir). INVAL_ENTRY
 *     alone would not do: for a name never looked up it finds no dentry
 *     and touches nothing else;
 *   - a node's stat() changed (a chmod, a directory's nlink):
 *     FUSE_NOTIFY_INVAL_INODE(node, off -1), attributes only.
 * Directories the kernel does not hold have nothing cached below them.
 *
 * Ordering is the point. INVAL_ENTRY takes the directory's inode lock in the
 * host kernel, which a LOOKUP waiting for *our* answer may hold, so a
 * notification is never written from the request loop: it is written off
 * the main thread (FuseChannel.notify), one after another, while the loop
 * keeps answering. A write(2) whose store changed the tree is answered only
 * after the notifications are written (after()), and so are the control
 * socket's and the generic netlink server's replies, so when a write, a
 * `vdpa dev add` or a module load returns, no cache can show the old tree
 * to the very next stat, ls or readlink of any process. Only requests whose
 * caller holds no directory lock may be held back like that (the server
 * decides: see FuseServer.send), or a notification and a reply could wait
 * for each other.
 */
import createDebug from 'debug';
import {
  FUSE_NOTIFY_INVAL_ENTRY,
  FUSE_NOTIFY_INVAL_ENTRY_OUT_SIZE,
  FUSE_NOTIFY_INVAL_INODE,
  FUSE_NOTIFY_INVAL_INODE_OUT_SIZE,
  FUSE_OUT_HEADER_SIZE,
  writeFuseNotifyInvalEntry,
  writeFuseNotifyInvalInode,
  writeFuseOutHeader,
} from '../include/uapi/fuse';
import type { KernDir, KernfsNode, KernfsWatcher } from '../fs/kernfs';
import type { NodeTable } from './nodes';
import { NAME_ENCODING } from './attr';

const trace = createDebug('vdpafs:fuse');

/* Where notifications go: written to /dev/fuse off the main thread, in order. */
export type NotifySink = (msg: Buffer) => Promise<void>;

/*
 * FUSE_NOTIFY_INVAL_INODE: the node's attributes, and from byte `off` on its
 * page cache (a directory's is its cached listing); off < 0: attributes only.
 * A page invalidation waits for page locks, which the host kernel holds only
 * briefly while copying, never across a request to us.
 */
function invalInode(nodeid: number, off: bigint): Buffer {
  const msg = Buffer.allocUnsafe(FUSE_OUT_HEADER_SIZE + FUSE_NOTIFY_INVAL_INODE_OUT_SIZE);
  writeFuseOutHeader(msg, msg.length, FUSE_NOTIFY_INVAL_INODE, 0n);
  writeFuseNotifyInvalInode(msg, FUSE_OUT_HEADER_SIZE, nodeid, off, 0n);
  return msg;
}

export class Invalidator implements KernfsWatcher {
  private readonly queue: Array<{ key: string; msg: Buffer }> = [];
  private writing = false;
  /* Notifications queued and written so far: a mark is a value of `queued`. */
  private queued = 0;
  private written = 0;
  private readonly waiters: Array<{ mark: number; fn: () => void }> = [];

  constructor(
    private readonly nodes: NodeTable,
    private readonly sink: NotifySink,
  ) {}

  entryChanged(dir: KernDir, name: string): void {
    if (!this.nodes.known(dir)) return;
    const parent = this.nodes.nodeid(dir);
    const bytes = Buffer.from(name, NAME_ENCODING);
    const msg = Buffer.allocUnsafe(FUSE_OUT_HEADER_SIZE + FUSE_NOTIFY_INVAL_ENTRY_OUT_SIZE + bytes.length + 1);
    writeFuseOutHeader(msg, msg.length, FUSE_NOTIFY_INVAL_ENTRY, 0n);
    writeFuseNotifyInvalEntry(msg, FUSE_OUT_HEADER_SIZE, parent, bytes);
    this.push(`e${parent}/${name}`, msg);
    this.push(`d${parent}`, invalInode(parent, 0n));
  }

  attrChanged(node: KernfsNode): void {
    if (!this.nodes.known(node)) return;
    const id = this.nodes.nodeid(node);
    this.push(`a${id}`, invalInode(id, -1n));
  }

  /* Everything queued so far; pass it to after(). */
  get mark(): number {
    return this.queued;
  }

  /* Run fn once every notification queued up to `mark` has been written. */
  after(mark: number, fn: () => void): void {
    if (this.written >= mark) fn();
    else this.waiters.push({ mark, fn });
  }

  /* A promise for after(mark), for the async edges (the control socket). */
  settled(mark = this.queued): Promise<void> {
    return new Promise((resolve) => this.after(mark, resolve));
  }

  /*
   * Queue one notification. Nothing is merged: each push is written in the
   * order it came and counts in the mark, so after(mark) means exactly
   * "every notification queued so far is written".
   */
  private push(key: string, msg: Buffer): void {
    this.queue.push({ key, msg });
    this.queued++;
    this.pump();
  }

  private pump(): void {
    if (this.writing) return;
    const next = this.queue.shift();
    if (!next) return;
    this.writing = true;
    const done = (err?: unknown) => {
      /* ENOENT: the kernel forgot that node or name meanwhile; nothing was cached. */
      if (err) trace('notification %s: %s', next.key, (err as Error).message ?? err);
      this.writing = false;
      this.written++;
      this.wake();
      this.pump();
    };
    this.sink(next.msg).then(() => done(), done);
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.mark <= this.written);
    if (ready.length === 0) return;
    for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i].mark <= this.written) this.waiters.splice(i, 1);
    for (const w of ready) w.fn();
  }
}
