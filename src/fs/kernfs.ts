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

export const PAGE_SIZE = 4096;

export type NodeKind = 'dir' | 'file' | 'link';

export abstract class KernfsNode {
  abstract readonly kind: NodeKind;
  parent: KernDir | null = null;

  constructor(
    public name: string,
    public mode: number,
  ) {}

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
}

/*
 * An open file: what the kernel's struct file + file_operations are to a
 * node. Results are byte counts, or a Completion when the operation sleeps
 * (a store that waits for a close). Errors are thrown KernelErrors.
 */
export interface OpenFile {
  read(dst: Buffer, pos: number): MaybeWait<number>;
  write(src: Buffer, pos: number): MaybeWait<number>;
  /* O_TRUNC / ftruncate. sysfs ignores it; block-like nodes may too. */
  truncate?(size: number): void;
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

  constructor(name: string, mode = 0o755) {
    super(name, mode);
  }

  add<N extends KernfsNode>(node: N): N {
    /* sysfs_warn_dup(): a duplicate name is a driver bug, EEXIST to the caller. */
    if (this.children.has(node.name)) fail('EEXIST', `duplicate ${this.path()}/${node.name}`);
    node.parent = this;
    this.children.set(node.name, node);
    return node;
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
    node.parent = null;
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
  constructor() {
    this.root.isRoot = true;
  }

  /* lstat-style walk: intermediate components must be directories. */
  lookup(path: string): KernfsNode | undefined {
    let node: KernfsNode = this.root;
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (!(node instanceof KernDir)) return undefined;
      const child = node.children.get(part);
      if (!child) return undefined;
      node = child;
    }
    return node;
  }
}
