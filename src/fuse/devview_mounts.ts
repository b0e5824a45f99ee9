/*
 * Dev views on request: one FUSE mount of a DevView (../fs/devview.ts) per
 * `vdpafs shell`, served by the daemon that owns the kernfs tree, so reads
 * and writes of /dev/vhost-vdpa-N inside the namespace go straight to the
 * device as they do through the main mount.
 *
 * A view is mounted at a scratch directory next to the control socket, the
 * shell's namespace binds it over its /dev, and then the view is detached
 * from this (the host's) mount table. From there on only the namespace
 * holds the mount: the host never sees it for longer than the setup takes,
 * and when the namespace's last process exits the kernel drops the
 * superblock, which ends libfuse's loop for that view. Nothing to clean up.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import createDebug from 'debug';
import Fuse from 'fuse-native';
import { DevView } from '../fs/devview';
import type { KernDir } from '../fs/kernfs';
import { fuseOps, mountQuietly } from './adapter';

const trace = createDebug('vdpafs:devview');

export interface DevViewOptions {
  /* As the main mount's --dev-nodes=char: device nodes stat as S_IFCHR. */
  devNodesAsDevices: boolean;
  /* Scratch mount points are `${base}.dev-<id>`. */
  base: string;
}

interface View {
  path: string;
  /* Held until detached; libfuse's thread holds it after that. */
  fuse: Fuse;
}

export class DevViewMounts {
  private nextId = 1;
  private readonly views = new Map<number, View>();

  constructor(
    private readonly devtmpfs: KernDir,
    private readonly opts: DevViewOptions,
  ) {}

  /* Mount a fresh view; it stays in this mount table until detach(). */
  async mount(): Promise<{ id: number; path: string }> {
    const id = this.nextId++;
    const path = `${this.opts.base}.dev-${id}`;
    fs.mkdirSync(path, { recursive: true });
    const fuse = new Fuse(path, fuseOps(new DevView(this.devtmpfs), { devNodesAsDevices: this.opts.devNodesAsDevices }), {
      allowOther: true,
      /* A store may sleep (unbind while a node is open): never time out. */
      timeout: false,
      subtype: 'vdpafs',
      fsname: 'vdpafs-dev,direct_io,big_writes,negative_timeout=0',
      /* Nodes come and go with bind/unbind: nothing cached. */
      entryTimeout: '0',
      attrTimeout: '0',
    });
    try {
      await mountQuietly(fuse);
    } catch (e) {
      removeDir(path);
      throw e;
    }
    this.views.set(id, { path, fuse });
    trace('view %d mounted at %s', id, path);
    return { id, path };
  }

  /*
   * Lazily unmount the view from this mount table (fusermount -uz). The
   * namespaces that bound it keep it, and it lives until the last one ends.
   */
  async detach(id: number): Promise<void> {
    const view = this.views.get(id);
    if (!view) return;
    this.views.delete(id);
    await new Promise<void>((resolve) =>
      execFile('fusermount', ['-uz', view.path], (err) => {
        if (err) trace('fusermount -uz %s: %s', view.path, err.message);
        resolve();
      }),
    );
    removeDir(view.path);
    trace('view %d detached', id);
  }

  /* At shutdown: leave no view mounted in this mount table. */
  detachAllSync(): void {
    for (const view of this.views.values()) {
      try {
        execFileSync('fusermount', ['-uz', view.path], { stdio: 'ignore' });
      } catch {
        /* best effort: the process is exiting */
      }
      removeDir(view.path);
    }
    this.views.clear();
  }
}

function removeDir(p: string): void {
  try {
    fs.rmdirSync(p);
  } catch (e) {
    trace('rmdir %s: %s', p, (e as Error).message);
  }
}
