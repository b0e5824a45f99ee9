/*
 * Dev views on request: one FUSE mount of a DevView (../fs/devview.ts) per
 * `vdpafs shell`, served by the daemon that owns the kernfs tree, so reads,
 * writes and ioctls of /dev/vhost-vdpa-N inside the namespace go straight
 * to the device as they do through the main mount.
 *
 * A view is mounted at a scratch directory next to the control socket, the
 * shell's namespace binds it over its /dev, and then the view is detached
 * from this (the host's) mount table. From there on only the namespace
 * holds the mount: the host never sees it for longer than the setup takes,
 * and when the namespace's last process exits the kernel drops the
 * superblock, which ends the view's connection (FuseMount's onClose).
 */
import * as fs from 'node:fs';
import createDebug from 'debug';
import { DevView } from '../fs/devview';
import type { KernDir } from '../fs/kernfs';
import { FuseMount } from './mount';

const trace = createDebug('vdpafs:devview');

export interface DevViewOptions {
  /* As the main mount's --dev-nodes=char: device nodes stat as S_IFCHR. */
  devNodesAsDevices: boolean;
  /* Scratch mount points are `${base}.dev-<id>`. */
  base: string;
}

interface View {
  path: string;
  mount: FuseMount;
}

export class DevViewMounts {
  private nextId = 1;
  private readonly views = new Map<number, View>();
  /* Views whose connection has not ended yet (detached or not), and who waits for that. */
  private readonly live = new Map<number, Array<() => void>>();

  constructor(
    private readonly devtmpfs: KernDir,
    private readonly opts: DevViewOptions,
  ) {}

  /* Mount a fresh view; it stays in this mount table until detach(). */
  async mount(): Promise<{ id: number; path: string }> {
    const id = this.nextId++;
    const path = `${this.opts.base}.dev-${id}`;
    let mount: FuseMount;
    try {
      mount = FuseMount.mount(new DevView(this.devtmpfs), path, {
        fsname: 'vdpafs-dev',
        devNodesAsDevices: this.opts.devNodesAsDevices,
        onClose: () => this.ended(id),
      });
    } catch (e) {
      removeDir(path);
      throw e;
    }
    this.views.set(id, { path, mount });
    this.live.set(id, []);
    trace('view %d mounted at %s', id, path);
    return { id, path };
  }

  /*
   * Lazily unmount the view from this mount table. The namespaces that
   * bound it keep it, and it lives until the last one ends.
   */
  async detach(id: number): Promise<void> {
    const view = this.views.get(id);
    if (!view) return;
    this.views.delete(id);
    view.mount.unmount();
    removeDir(view.path);
    trace('view %d detached', id);
  }

  /*
   * Resolves once view `id`'s connection has ended: its namespace is gone
   * and every file opened through it released (or after `ms`, false).
   */
  whenEnded(id: number, ms: number): Promise<boolean> {
    const waiters = this.live.get(id);
    if (!waiters) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private ended(id: number): void {
    trace('view %d: connection ended', id);
    const waiters = this.live.get(id) ?? [];
    this.live.delete(id);
    for (const w of waiters) w();
  }

  /* At shutdown: leave no view mounted in this mount table. */
  detachAll(): void {
    for (const id of [...this.views.keys()]) void this.detach(id);
  }
}

function removeDir(p: string): void {
  try {
    fs.rmdirSync(p);
  } catch (e) {
    trace('rmdir %s: %s', p, (e as Error).message);
  }
}
