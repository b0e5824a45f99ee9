/*
 * A FUSE mount served by this process: /dev/fuse opened, mount(2) done
 * directly (no fusermount, no libfuse, no shell: no mountpoint name can run
 * anything), and a FuseServer answering what the host kernel sends.
 *
 *   const m = FuseMount.mount(tree, '/tmp/v', { fsname: 'vdpafs' });
 *   ...
 *   m.unmount();            // lazy: the kernel finishes once nothing uses it
 *
 * The device: requests are read on the main thread through libuv's epoll
 * loop (FdReader: no threadpool thread parked per read), one at a time, in
 * the order the kernel queued them, into one buffer of max_write + a page.
 * Replies are written synchronously (a reply never blocks); notifications
 * off the main thread (an invalidation may wait on a lock that a request
 * we have not answered yet holds: see invalidate.ts).
 */
import * as fs from 'node:fs';
import createDebug from 'debug';
import { FdReader } from '../host/fd_reader';
import { HostError, MNT_DETACH, mount as mount2, MS_NODEV, MS_NOSUID, umount2, UMOUNT_NOFOLLOW } from '../host/libc';
import type { KernfsRoot } from '../fs/kernfs';
import { PAGE_SIZE } from '../fs/kernfs';
import { DEFAULT_MAX_WRITE, FuseChannel, FuseServer, FuseServerOptions } from './server';

const trace = createDebug('vdpafs:fuse');

const ENOENT = -2;

export interface FuseMountOptions extends FuseServerOptions {
  /* First field of /proc/mounts; the type is fuse.vdpafs. */
  fsname?: string;
  /* Called once when the host kernel ends the connection (unmounted and unused, or aborted). */
  onClose?: () => void;
}

/* The /dev/fuse side of a FuseServer. */
class FuseDevChannel implements FuseChannel {
  dead = false;
  constructor(private readonly fd: number) {}

  reply(parts: Buffer[]): void {
    if (this.dead) return;
    try {
      fs.writevSync(this.fd, parts);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      /* ENOENT: the request was interrupted or aborted meanwhile; nobody waits for it. */
      if (code === 'ENOENT') return;
      if (code === 'ENODEV') this.dead = true;
      else trace('reply failed: %s', (e as Error).message);
    }
  }

  notify(msg: Buffer): Promise<void> {
    if (this.dead) return Promise.resolve();
    return new Promise((resolve, reject) => fs.write(this.fd, msg, (err) => (err ? reject(err) : resolve())));
  }
}

/* Is `path` a mount point in this mount namespace? (/proc/self/mountinfo, field 5, octal escapes undone) */
export function isMountPoint(path: string): boolean {
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4];
    if (field && field.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))) === path) return true;
  }
  return false;
}

/* A mount whose server is gone: every access fails ENOTCONN (ECONNABORTED had it asked for FUSE_ABORT_ERROR). */
export function isStaleMount(path: string): boolean {
  if (!isMountPoint(path)) return false;
  try {
    fs.statSync(path);
    return false;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOTCONN' || code === 'ECONNABORTED';
  }
}

/* umount2(MNT_DETACH): also what clears a stale mount. */
export function lazyUnmount(path: string): void {
  umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
}

export class FuseMount {
  readonly server: FuseServer;
  private readonly reader: FdReader;
  private readonly channel: FuseDevChannel;
  private ended = false;

  private constructor(
    readonly mountpoint: string,
    private readonly fd: number,
    tree: KernfsRoot,
    private readonly opts: FuseMountOptions,
  ) {
    this.channel = new FuseDevChannel(fd);
    this.server = new FuseServer(tree, this.channel, opts);
    const maxWrite = opts.maxWrite ?? DEFAULT_MAX_WRITE;
    /* The kernel refuses a read into less than max_write + its headers (EINVAL). */
    const buf = Buffer.allocUnsafe(maxWrite + PAGE_SIZE);
    this.reader = new FdReader(fd, buf, (n) => this.server.handle(buf.subarray(0, n)), (err) => this.end(err));
  }

  /*
   * Mount `tree` at `mountpoint` (created if missing). Refuses a mount
   * point that already is one: mounting over it would silently stack.
   */
  static mount(tree: KernfsRoot, mountpoint: string, opts: FuseMountOptions = {}): FuseMount {
    fs.mkdirSync(mountpoint, { recursive: true });
    if (isMountPoint(mountpoint)) throw new Error(`${mountpoint} is already a mount point`);
    const fd = fs.openSync('/dev/fuse', 'r+');
    const maxWrite = opts.maxWrite ?? DEFAULT_MAX_WRITE;
    const data = [
      `fd=${fd}`,
      'rootmode=40000',
      'user_id=0',
      'group_id=0',
      /* Every user may look; the host kernel checks modes and owners for them. */
      'allow_other',
      'default_permissions',
      `max_read=${maxWrite}`,
    ].join(',');
    try {
      mount2(opts.fsname ?? 'vdpafs', mountpoint, 'fuse.vdpafs', MS_NOSUID | MS_NODEV, data);
    } catch (e) {
      fs.closeSync(fd);
      throw e instanceof HostError ? new Error(`mount ${mountpoint}: ${e.code}`) : e;
    }
    /* Reading before mount(2) attached the fd fails EPERM: start only now. INIT is waiting. */
    const m = new FuseMount(mountpoint, fd, tree, opts);
    m.reader.start();
    trace('mounted %s (fd %d)', mountpoint, fd);
    return m;
  }

  /* Lazy unmount from this namespace; the connection ends once no one uses it. */
  unmount(): void {
    try {
      lazyUnmount(this.mountpoint);
    } catch (e) {
      /* Already gone (EINVAL: not a mount point, ENOENT): nothing to do. */
      trace('umount %s: %s', this.mountpoint, (e as Error).message);
    }
  }

  /* Stop serving now: the mount (if any is left) goes stale. For process exit. */
  close(): void {
    this.end(ENOENT);
  }

  private end(err: number): void {
    if (this.ended) return;
    this.ended = true;
    trace('connection of %s ended (%d)', this.mountpoint, err);
    this.channel.dead = true;
    this.server.close();
    this.reader.close();
    this.opts.onClose?.();
  }
}
