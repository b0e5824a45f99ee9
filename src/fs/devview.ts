/*
 * A /dev for a private mount namespace (`vdpafs shell`).
 *
 * Tools that open /dev/vhost-vdpa-N must find the simulation's devtmpfs
 * nodes there, live (a node that device_add() creates or device_del()
 * removes appears or vanishes at once), while /dev/null, /dev/tty,
 * /dev/pts/... keep being the host's real ones. No single file system does
 * both, so this tree is a union by name, computed on every lookup:
 *
 *   NAME      the simulation's devtmpfs node NAME, if it has one: the very
 *             kernfs node, so opening it reaches the device's file_operations;
 *   .host/    an empty directory, on which the namespace mounts the host's
 *             /dev (with its submounts: pts, shm, mqueue);
 *   NAME      otherwise, when the host's /dev has NAME: a relative symlink
 *             `NAME -> .host/NAME`, so the real node is what gets opened.
 *
 * It is a KernfsRoot like any other, so the FUSE adapter serves it
 * unchanged; it knows nothing of FUSE and nothing of vdpa.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KernDir, KernfsNode, KernfsRoot, KernLink } from './kernfs';

/* Where the namespace mounts the host's /dev inside the view. */
export const HOST_DIR = '.host';

/* `NAME -> .host/NAME`: a name the host's /dev has and the simulation does not. */
class HostLink extends KernLink {
  constructor(name: string, hostDir: KernDir) {
    super(name, hostDir);
  }

  override readlink(): string {
    return `${HOST_DIR}/${this.name}`;
  }
}

export class DevView extends KernfsRoot {
  /* Names come and go with the host's /dev, which nobody watches: never cached. */
  override readonly cacheable = false;
  private readonly hostDir = new KernDir(HOST_DIR);
  private readonly links = new Map<string, HostLink>();

  /*
   * devtmpfs: the simulation's dev/ directory (its children are the nodes).
   * hostDev: the directory whose names become links, the host's /dev as the
   * namespace will mount it on .host.
   */
  constructor(
    private readonly devtmpfs: KernDir,
    private readonly hostDev = '/dev',
  ) {
    super();
    this.hostDir.parent = this.root;
  }

  override lookupChild(dir: KernDir, name: string): KernfsNode | undefined {
    return dir === this.root ? this.entry(name) : dir.children.get(name);
  }

  override entries(dir: KernDir): Iterable<[string, KernfsNode]> {
    if (dir === this.root) this.refreshRoot();
    return dir.children;
  }

  /* One name of the root, resolved in priority order. */
  private entry(name: string): KernfsNode | undefined {
    const node = this.devtmpfs.get(name);
    if (node) return node;
    if (name === HOST_DIR) return this.hostDir;
    if (fs.lstatSync(path.join(this.hostDev, name), { throwIfNoEntry: false })) return this.link(name);
    return undefined;
  }

  private link(name: string): HostLink {
    let l = this.links.get(name);
    if (!l) {
      l = new HostLink(name, this.hostDir);
      l.parent = this.root;
      this.links.set(name, l);
    }
    return l;
  }

  /*
   * The root's listing, rebuilt before it is read. The simulation's nodes
   * are listed, not adopted: their parent stays the devtmpfs directory, so a
   * node device_del() removed is still seen as gone (DevNode.attached).
   */
  private refreshRoot(): void {
    let hostNames: string[];
    try {
      hostNames = fs.readdirSync(this.hostDev);
    } catch {
      hostNames = [];
    }
    const children = this.root.children;
    children.clear();
    for (const [name, node] of this.devtmpfs.children) children.set(name, node);
    children.set(HOST_DIR, this.hostDir);
    const seen = new Set<string>();
    for (const name of hostNames) {
      if (children.has(name)) continue;
      children.set(name, this.link(name));
      seen.add(name);
    }
    for (const name of this.links.keys()) if (!seen.has(name)) this.links.delete(name);
  }
}
