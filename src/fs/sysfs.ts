/*
 * sysfs attributes on kernfs (fs/sysfs/file.c).
 *
 * An attribute is a name, a mode and one or two small functions, declared
 * next to each other by whoever owns the directory:
 *
 *     dir.add(attr('bind', { store: bindStore }))          // 0200
 *
 * The open-file rules are sysfs's, not a regular file's:
 *  - the mode is enforced even for root (kernfs checks it on open);
 *  - a read at position 0 calls show() and later reads page through that
 *    snapshot, as seq_file does;
 *  - every write() is one store() of at most PAGE_SIZE bytes: a longer write
 *    is cut to one page (sysfs files have no atomic_write_len, so
 *    kernfs_fop_write_iter() clips instead of failing E2BIG) and the writer
 *    sees a short count or the store's error; a 0-byte write never reaches
 *    store();
 *  - O_TRUNC is accepted and does nothing, so `echo x > attr` works;
 *  - a store in progress holds an active reference on the node: removing
 *    the attribute (kernfs_remove()) hides it at once, refuses new reads
 *    and writes through files opened earlier (ENODEV), and waits for the
 *    stores still running (kernfs_drain()) before the remover goes on.
 */
import { fail } from '../kernel/errno';
import { Completion, MaybeWait } from '../kernel/completion';
import { KernFile, KernfsNode, OpenFile, OpenFlags, PAGE_SIZE } from './kernfs';

/* A store gets the bytes written (not NUL-terminated) and returns the count consumed. */
export type StoreFn = (buf: Buffer) => MaybeWait<number>;
export type ShowFn = () => string;

export interface AttrOps {
  show?: ShowFn;
  store?: StoreFn;
  /* Defaults: 0644 with both, 0444 show-only, 0200 store-only. */
  mode?: number;
}

export class KernAttr extends KernFile {
  /* Stores that are still running (sleeping): kernfs active references. */
  private active = 0;
  private drained: Completion<void> | null = null;

  constructor(
    name: string,
    readonly ops: AttrOps,
  ) {
    super(name, ops.mode ?? defaultMode(ops));
  }

  size(): number {
    return PAGE_SIZE;
  }

  open(flags: OpenFlags): OpenFile {
    /* kernfs_fop_open(): the mode bits decide, and root gets no pass. */
    if (flags.read && (!this.ops.show || !(this.mode & 0o444))) fail('EACCES');
    if (flags.write && (!this.ops.store || !(this.mode & 0o222))) fail('EACCES');
    return new AttrFile(this);
  }

  /* kernfs_get_active(): a removed (deactivated) node serves nothing more. */
  getActive(): void {
    if (!this.attached) fail('ENODEV');
  }

  /* A store that sleeps keeps the node active until it is done. */
  holdActive<T>(c: Completion<T>): void {
    this.active++;
    c.whenSettled(() => {
      if (--this.active === 0 && this.drained) {
        const d = this.drained;
        this.drained = null;
        d.complete();
      }
    });
  }

  /* kernfs_drain(): done when no store is running on this node any more. */
  drain(): MaybeWait<void> {
    if (this.active === 0) return undefined;
    return (this.drained ??= new Completion<void>());
  }
}

/*
 * kernfs_remove() of attributes whose stores may sleep: they vanish now;
 * the caller goes on once the stores already running have returned.
 */
export function kernfsRemoveAndDrain(nodes: Array<KernfsNode | undefined>): MaybeWait<void> {
  const waits: Array<Completion<void>> = [];
  for (const n of nodes) {
    if (!n) continue;
    n.parent?.removeNode(n);
    const d = n instanceof KernAttr ? n.drain() : undefined;
    if (d) waits.push(d);
  }
  if (!waits.length) return undefined;
  const all = new Completion<void>();
  let left = waits.length;
  for (const w of waits) w.whenSettled(() => --left === 0 && all.complete());
  return all;
}

class AttrFile implements OpenFile {
  private snapshot: Buffer | null = null;
  private readonly ops: AttrOps;
  constructor(private readonly node: KernAttr) {
    this.ops = node.ops;
  }

  read(dst: Buffer, pos: number): number {
    this.node.getActive();
    if (pos === 0 || !this.snapshot) {
      const text = this.ops.show!();
      /* show() fills one page at most. */
      this.snapshot = Buffer.from(text, 'latin1').subarray(0, PAGE_SIZE);
    }
    if (pos >= this.snapshot.length) return 0;
    return this.snapshot.copy(dst, 0, pos);
  }

  write(src: Buffer): MaybeWait<number> {
    if (src.length === 0) return 0;
    this.node.getActive();
    /*
     * kernfs_fop_write_iter(): len = min(len, PAGE_SIZE) when the file has
     * no atomic_write_len (no sysfs attribute has one; only cgroup files get
     * E2BIG). So driver_override sees count 4096 for any longer write.
     * The caller's buffer is only lent for this call: copy before storing.
     */
    const r = this.ops.store!(Buffer.from(src.subarray(0, PAGE_SIZE)));
    if (r instanceof Completion) this.node.holdActive(r);
    return r;
  }

  truncate(): void {}

  release(): void {}
}

function defaultMode(ops: AttrOps): number {
  if (ops.show && ops.store) return 0o644;
  if (ops.store) return 0o200;
  return 0o444;
}

export function attr(name: string, ops: AttrOps): KernAttr {
  return new KernAttr(name, ops);
}

/* A read-only attribute with a fixed or computed value. */
export function roAttr(name: string, show: ShowFn | string): KernAttr {
  return new KernAttr(name, { show: typeof show === 'string' ? () => show : show });
}

/*
 * sysfs_streq(): equal, tolerating one trailing newline on either side.
 * Name lookups from bind/unbind/drivers_probe go through it.
 */
export function sysfsStreq(a: string, b: string): boolean {
  const strip = (s: string) => (s.endsWith('\n') ? s.slice(0, -1) : s);
  return strip(a) === strip(b);
}

/* The bytes of a store as the C string the kernel sees (cut at a NUL). */
export function storeString(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.toString('latin1', 0, nul === -1 ? buf.length : nul);
}
