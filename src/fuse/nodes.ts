/*
 * What the host kernel knows of the tree: node ids and their lookup counts.
 *
 * FUSE names an inode by a 64-bit node id the server chose in a LOOKUP (or
 * READDIRPLUS) reply, and counts how many times it was handed out; FORGET
 * gives counts back, and at zero the id is dead. A kernfs node's id is its
 * (generation, ino) pair folded into one number, so it never changes while
 * the node lives, and a removed node's id is never handed to a new node
 * (see kernfs.ts allocIno). The root is always FUSE_ROOT_ID.
 *
 * Only nodes the kernel holds are in the table, so it also answers "does the
 * kernel cache anything of this directory?" for invalidation.
 */
import { FUSE_ROOT_ID } from '../include/uapi/fuse';
import type { KernfsNode } from '../fs/kernfs';

const INO_SPAN = 0x1_0000_0000;

interface Held {
  node: KernfsNode;
  nlookup: number;
}

export class NodeTable {
  private readonly held = new Map<number, Held>();

  constructor(private readonly root: KernfsNode) {}

  /* The node id FUSE uses for `node` (the same every time). */
  nodeid(node: KernfsNode): number {
    return node === this.root ? FUSE_ROOT_ID : node.generation * INO_SPAN + node.ino;
  }

  /* The node behind an id the kernel sent, or undefined if it is not one we handed out. */
  get(nodeid: number): KernfsNode | undefined {
    if (nodeid === FUSE_ROOT_ID) return this.root;
    return this.held.get(nodeid)?.node;
  }

  /* A LOOKUP or READDIRPLUS reply hands `node` out once more. */
  ref(node: KernfsNode): number {
    const id = this.nodeid(node);
    if (id === FUSE_ROOT_ID) return id;
    const h = this.held.get(id);
    if (h) h.nlookup++;
    else this.held.set(id, { node, nlookup: 1 });
    return id;
  }

  /* FORGET: the kernel drops n references; at zero the id is forgotten. */
  forget(nodeid: number, n: number): void {
    const h = this.held.get(nodeid);
    if (!h) return;
    h.nlookup -= n;
    if (!(h.nlookup > 0)) this.held.delete(nodeid);
  }

  /* Does the kernel hold this node (so it may cache its attributes or its entries)? */
  known(node: KernfsNode): boolean {
    const id = this.nodeid(node);
    return id === FUSE_ROOT_ID || this.held.has(id);
  }

  lookupCount(node: KernfsNode): number {
    return this.held.get(this.nodeid(node))?.nlookup ?? 0;
  }
}
