/*
 * kernfs: the node tree behind sysfs and devtmpfs.
 *
 * As in fs/kernfs/, a node is a directory, a file or a symlink with a parent
 * and a name. Objects that own a directory (kobjects) create and remove their
 * nodes; nobody stores a path. A symlink keeps its *target node*, and the
 * relative path `readlink` shows is computed when asked, the way
 * kernfs_get_target_path() walks up to the common ancestor.
 *
 * This layer knows nothing of FUSE and nothing of vdpa: files are reached
 * through the small OpenFile interface, which an attribute (show/store) or a
 * device node (file_operations) implements.
 */
import { fail } from '../kernel/errno';
import type { MaybeWait } from '../kernel/completion';
import type { Cred } from '../kernel/cred';

export const PAGE_SIZE = 4096;

export type NodeKind = 'dir' | 'file' | 'link';

/*
 * kernfs_node ids: a 32-bit inode number allocated cyclically, and a
 * generation that goes up each time the numbers wrap (kernfs's id_highbits).
 * The pair is unique for the life of the process, so a node that was removed
 * can never be mistaken for a new one that got its number.
 */
const INO_MAX = 0xffff_ffff;
let nextIno = 2; /* 1 is the root's, as in kernfs and FUSE */
let inoGeneration = 1;

function allocIno(): { ino: number; generation: number } {
  const ino = nextIno;
  const generation = inoGeneration;
  if (++nextIno > INO_MAX) {
    nextIno = 2;
    inoGeneration++;
  }
  return { ino, generation };
}

/*
 * Who wants to hear that the tree changed: the FUSE transport, which must
 * drop what the host kernel cached (a dentry, a node's attributes) before
 * the change is visible to anyone. Set on a KernfsRoot; nodes reach it
 * through their parents, so a subtree that is not attached yet is silent.
 */
export interface KernfsWatcher {
  /* `name` appeared in or vanished from `dir`. */
  entryChanged(dir: KernDir, name: string): void;
  /* What stat() shows of `node` changed (its mode, its size, a dir's nlink). */
  attrChanged(node: KernfsNode): void;
}

export abstract class KernfsNode {
  abstract readonly kind: NodeKind;
  parent: KernDir | null = null;
  readonly ino: number;
  readonly generation: number;
  private modeBits: number;

  constructor(
    public name: string,
    mode: number,
  ) {
    this.modeBits = mode;
    ({ ino: this.ino, generation: this.generation } = allocIno());
  }

  /* The permission bits. A change (chmod by root) is announced to the watcher. */
  get mode(): number {
    return this.modeBits;
  }
  set mode(m: number) {
    if (m === this.modeBits) return;
    this.modeBits = m;
    this.watcher()?.attrChanged(this);
  }

  /* The root's watcher, if this node is attached to a watched root. */
  watcher(): KernfsWatcher | null {
    let n: KernfsNode = this;
    while (n.parent) n = n.parent;
    return n instanceof KernDir ? n.rootWatcher : null;
  }

  /* Absolute path inside the mount, e.g. /sys/devices/vdpa0. */
  path(): string {
    const parts: string[] = [];
    for (let n: KernfsNode | null = this; n && n.parent; n = n.parent) parts.push(n.name);
    return '/' + parts.reverse().join('/');
  }

  /* Still reachable from a root (not removed)? */
  get attached(): boolean {
    let n: KernfsNode = this;
    while (n.parent) n = n.parent;
    return n instanceof KernDir && n.isRoot;
  }
}

export interface OpenFlags {
  read: boolean;
  write: boolean;
  nonblock: boolean;
  /* The opener (struct file's f_cred). Absent: the kernel itself. */
  cred?: Cred;
}

/*
 * An ioctl as it reaches a FUSE file: restricted mode, so the host kernel
 * has already copied _IOC_SIZE(cmd) bytes in (for _IOW) and will copy
 * `outSize` bytes back to `arg` (for _IOR). `arg` is the caller's pointer;
 * anything beyond the encoded size is the caller's memory, which only the
 * caller's mm can reach (VHOST_VDPA_GET_CONFIG's buf[]).
 */
export interface IoctlRequest {
  cmd: number;
  arg: bigint;
  in: Buffer;
  outSize: number;
  cred: Cred;
}

export interface IoctlResult {
  /* ioctl(2)'s return value (>= 0; errors are thrown). */
  result: number;
  /* At most outSize bytes, copied to the caller's arg. */
  out?: Buffer;
}

/* poll(2) event bits (include/uapi/asm-generic/poll.h). */
export const POLLIN = 0x001;
export const POLLPRI = 0x002;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLRDNORM = 0x040;
export const POLLWRNORM = 0x100;
/* What a file without a poll op reports (DEFAULT_POLLMASK). */
export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/*
 * An open file: what the kernel's struct file + file_operations are to a
 * node. Results are byte counts, or a Completion when the operation sleeps
 * (a store that waits for a close, a read that waits for data). Errors are
 * thrown KernelErrors. `cred` is the caller of this very operation (stores
 * that check capabilities at write time, as net-sysfs does, need it).
 */
export interface OpenFile {
  read(dst: Buffer, pos: number, cred?: Cred): MaybeWait<number>;
  write(src: Buffer, pos: number, cred?: Cred): MaybeWait<number>;
  /* O_TRUNC / ftruncate. sysfs ignores it; block-like nodes may too. */
  truncate?(size: number): void;
  /* unlocked_ioctl. A file without one answers ENOTTY, as vfs_ioctl does. */
  ioctl?(req: IoctlRequest): MaybeWait<IoctlResult>;
  /*
   * poll: the events ready now; if `wake` is given and nothing asked for is
   * ready, call it once when that may have changed (then poll again).
   * A file without one is always ready (DEFAULT_POLLMASK).
   */
  poll?(wake?: () => void): number;
  /* flush: each close(2) of a descriptor for this file (FUSE's FLUSH). */
  flush?(cred?: Cred): void;
  /* release: the last reference is gone. */
  release(): void;
}

export abstract class KernFile extends KernfsNode {
  readonly kind = 'file' as const;
  /* st_size: sysfs reports PAGE_SIZE for every attribute. */
  abstract size(): number;
  /* Permission checks (kernfs-style: mode bits apply even to root) then open. */
  abstract open(flags: OpenFlags): OpenFile;
  /* Set for device nodes, so a stat can present them as such. */
  devt?: { type: 'c' | 'b'; major: number; minor: number };
}

export class KernLink extends KernfsNode {
  readonly kind = 'link' as const;
  constructor(
    name: string,
    public readonly target: KernfsNode,
  ) {
    super(name, 0o777);
  }

  /*
   * kernfs_get_target_path(): "../" up to the common ancestor, then down.
   * The base is an ancestor of the target's parent, never the target
   * itself, so a link to an ancestor (a class device's `device`) climbs
   * past it and names it: net/eth0/device -> ../../../virtio0.
   */
  readlink(): string {
    const from = ancestry(this.parent!);
    const to = ancestry(this.target);
    let common = 0;
    while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++;
    const up = '../'.repeat(from.length - common);
    const down = to.slice(common).map((n) => n.name).join('/');
    return up + down;
  }
}

/* The chain of nodes from the root (exclusive) down to `node` (inclusive). */
function ancestry(node: KernfsNode): KernfsNode[] {
  const chain: KernfsNode[] = [];
  for (let n: KernfsNode | null = node; n && n.parent; n = n.parent) chain.push(n);
  return chain.reverse();
}

export class KernDir extends KernfsNode {
  readonly kind = 'dir' as const;
  readonly children = new Map<string, KernfsNode>();
  isRoot = false;
  /* Set on a root only: who hears about changes below it. */
  rootWatcher: KernfsWatcher | null = null;
  /* How many children are directories: st_nlink is that + 2. */
  subdirs = 0;

  constructor(name: string, mode = 0o755) {
    super(name, mode);
  }

  add<N extends KernfsNode>(node: N): N {
    /* sysfs_warn_dup(): a duplicate name is a driver bug, EEXIST to the caller. */
    if (this.children.has(node.name)) fail('EEXIST', `duplicate ${this.path()}/${node.name}`);
    node.parent = this;
    this.children.set(node.name, node);
    if (node instanceof KernDir) this.subdirs++;
    this.changed(node.name, node instanceof KernDir);
    return node;
  }

  /* Tell the watcher a name came or went (and, for a subdir, that nlink moved). */
  private changed(name: string, isDir: boolean): void {
    const w = this.watcher();
    if (!w) return;
    w.entryChanged(this, name);
    if (isDir) w.attrChanged(this);
  }

  mkdir(name: string, mode = 0o755): KernDir {
    return this.add(new KernDir(name, mode));
  }

  /* The directory `name`, created if missing (for shared dirs like /sys/bus). */
  dir(name: string): KernDir {
    const existing = this.children.get(name);
    if (existing instanceof KernDir) return existing;
    return this.mkdir(name);
  }

  symlink(name: string, target: KernfsNode): KernLink {
    return this.add(new KernLink(name, target));
  }

  get(name: string): KernfsNode | undefined {
    return this.children.get(name);
  }

  /* kernfs_remove(): the node and everything below it disappear at once. */
  remove(name: string): void {
    const node = this.children.get(name);
    if (!node) return;
    this.children.delete(name);
    if (node instanceof KernDir) this.subdirs--;
    node.parent = null;
    this.changed(name, node instanceof KernDir);
  }

  removeNode(node: KernfsNode): void {
    if (node.parent === this && this.children.get(node.name) === node) this.remove(node.name);
  }
}

/*
 * The root of one mount: `sys/` (sysfs) and `dev/` (devtmpfs) side by side,
 * so links such as /sys/dev/char/M:m stay relative and inside the tree.
 */
export class KernfsRoot {
  readonly root = new KernDir('');
  /*
   * May the host kernel cache names and attributes of this tree? Yes when
   * every change goes through KernDir.add/remove and mode (the watcher hears
   * it); a tree computed on lookup (the shell's dev view) says no.
   */
  readonly cacheable: boolean = true;
  constructor() {
    this.root.isRoot = true;
  }

  set watcher(w: KernfsWatcher | null) {
    this.root.rootWatcher = w;
  }
  get watcher(): KernfsWatcher | null {
    return this.root.rootWatcher;
  }

  /*
   * One name in a directory, and a directory's entries: how the transport
   * walks the tree. A tree computed on demand (the shell's dev view)
   * overrides them; everyone else reads the children.
   */
  lookupChild(dir: KernDir, name: string): KernfsNode | undefined {
    return dir.children.get(name);
  }

  entries(dir: KernDir): Iterable<[string, KernfsNode]> {
    return dir.children;
  }

  /* lstat-style walk: intermediate components must be directories. */
  lookup(path: string): KernfsNode | undefined {
    let node: KernfsNode = this.root;
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (!(node instanceof KernDir)) return undefined;
      const child = this.lookupChild(node, part);
      if (!child) return undefined;
      node = child;
    }
    return node;
  }
}
