/*
 * What must hold of the tree whatever happened to it: the checks a
 * concurrency test runs after any interleaving of bind, unbind,
 * driver_override, drivers_probe, vdpa dev add/del, modprobe and rmmod.
 * Not a kernel file: the kernel keeps these by locking (device_lock, kernfs
 * active references, module references); this says whether the model does.
 *
 * The checker reads the tree through a small view, so the same checks run
 * on the model's kernfs (unit tests) and on a mounted tree walked with
 * fs calls (end-to-end tests). It sees what a user sees:
 *
 *  - every symlink under sys/ resolves to something inside the tree;
 *  - drivers/<drv>/<dev> links and <dev>/driver links pair up, both ways;
 *  - every device in bus/<bus>/devices has `subsystem` back to that bus;
 *  - /dev/vhost-vdpa-N exists exactly for the vhost-vdpa-N child of a
 *    vdpa device bound to vhost_vdpa, and a virtioN child exists exactly
 *    for a vdpa device bound to virtio_vdpa (no child left behind);
 *  - device numbers are unique, and sys/dev/char|block/M:m names a
 *    device whose `dev` says M:m;
 *  - every module's holders/ entries are loaded modules, refcnt counts at
 *    least its holders (exactly, plus the references the caller says are
 *    held by open files);
 *  - a driver's `module` link and the module's drivers/<bus>:<drv> agree.
 */
import { KernDir, KernfsNode, KernfsRoot, KernLink } from '../fs/kernfs';
import { KernAttr } from '../fs/sysfs';
import type { Kernel } from './kernel';

/* The little a checker needs of a tree: paths are absolute inside it ("/sys/bus"). */
export interface TreeView {
  /* Entry names of a directory, or null if `path` is not a directory. */
  list(path: string): string[] | null;
  /* A symlink's target text, or null if `path` is not a symlink. */
  readlink(path: string): string | null;
  /* An attribute's contents, or null if it cannot be read. */
  read(path: string): string | null;
  /* Whether anything (not following a final symlink) exists at `path`. */
  exists(path: string): boolean;
}

/* The model's tree as a TreeView. */
export function kernfsView(fs: KernfsRoot): TreeView {
  const at = (p: string): KernfsNode | undefined => fs.lookup(p);
  return {
    list: (p) => {
      const n = at(p);
      return n instanceof KernDir ? [...n.children.keys()] : null;
    },
    readlink: (p) => {
      const n = at(p);
      if (!(n instanceof KernLink)) return null;
      /* A link to a removed node: its text names no entry of the tree. */
      return n.target.attached ? n.readlink() : `${n.readlink()}/(removed ${n.target.name})`;
    },
    read: (p) => {
      const n = at(p);
      if (!(n instanceof KernAttr) || !n.ops.show) return null;
      try {
        return n.ops.show();
      } catch {
        return null;
      }
    },
    exists: (p) => at(p) !== undefined,
  };
}

export interface InvariantOptions {
  /*
   * References held by open files, per module (an open /dev/vhost-vdpa-N
   * holds vhost_vdpa). When given, refcnt must be exactly holders + these
   * (modules not named: holders only); otherwise at least the holders.
   */
  openRefs?: Record<string, number>;
}

/* Join and normalize a relative link target against the link's directory. */
function resolveLink(linkPath: string, target: string): string | null {
  const parts = linkPath.split('/').filter(Boolean);
  parts.pop();
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (!parts.length) return null;
      parts.pop();
    } else parts.push(seg);
  }
  return '/' + parts.join('/');
}

/* Follow links (a few hops) to the real path, or null if one dangles or escapes. */
function realpath(view: TreeView, path: string): string | null {
  let p = path;
  for (let hops = 0; hops < 8; hops++) {
    const t = view.readlink(p);
    if (t === null) return view.exists(p) ? p : null;
    const next = resolveLink(p, t);
    if (next === null) return null;
    p = next;
  }
  return null;
}

function walk(view: TreeView, dir: string, fn: (path: string) => void): void {
  for (const name of view.list(dir) ?? []) {
    const p = `${dir}/${name}`;
    fn(p);
    if (view.readlink(p) === null && view.list(p) !== null) walk(view, p, fn);
  }
}

/* Every violation found, one sentence each; empty when all holds. */
export function checkInvariants(view: TreeView, opts: InvariantOptions = {}): string[] {
  const bad: string[] = [];
  const ls = (p: string) => view.list(p) ?? [];

  /* Symlinks resolve, inside the tree. */
  walk(view, '/sys', (p) => {
    const t = view.readlink(p);
    if (t !== null && realpath(view, p) === null) bad.push(`dangling link ${p} -> ${t}`);
  });

  /* Drivers and devices pair up. */
  for (const bus of ls('/sys/bus')) {
    const busPath = `/sys/bus/${bus}`;
    for (const drv of ls(`${busPath}/drivers`)) {
      const drvPath = `${busPath}/drivers/${drv}`;
      for (const name of ls(drvPath)) {
        const p = `${drvPath}/${name}`;
        if (name === 'module' || view.readlink(p) === null) continue;
        const dev = realpath(view, p);
        if (!dev) continue;
        if (realpath(view, `${dev}/driver`) !== drvPath) bad.push(`${p} is bound, but ${dev}/driver does not point back`);
        if (realpath(view, `${busPath}/devices/${name}`) !== dev) bad.push(`${p}: ${name} is not on bus ${bus}`);
      }
      const mod = view.readlink(`${drvPath}/module`) !== null ? realpath(view, `${drvPath}/module`) : null;
      if (mod && realpath(view, `${mod}/drivers/${bus}:${drv}`) !== drvPath) bad.push(`${drvPath}/module and ${mod}/drivers disagree`);
    }
    for (const name of ls(`${busPath}/devices`)) {
      const dev = realpath(view, `${busPath}/devices/${name}`);
      if (!dev) continue;
      if (realpath(view, `${dev}/subsystem`) !== busPath && view.exists(`${dev}/uevent`)) bad.push(`${dev}/subsystem is not ${busPath}`);
      if (view.readlink(`${dev}/driver`) === null) continue;
      const drv = realpath(view, `${dev}/driver`);
      if (!drv || !drv.startsWith(`${busPath}/drivers/`)) bad.push(`${dev}/driver is not a driver of ${bus}`);
      else if (realpath(view, `${drv}/${name}`) !== dev) bad.push(`${dev}/driver -> ${drv}, which has no ${name}`);
    }
  }

  /* vdpa devices and what their driver made of them. */
  const vhostNodes = new Set(ls('/dev').filter((n) => /^vhost-vdpa-\d+$/.test(n)));
  const expectNodes = new Set<string>();
  for (const name of ls('/sys/bus/vdpa/devices')) {
    const dev = realpath(view, `/sys/bus/vdpa/devices/${name}`);
    if (!dev) continue;
    const drv = view.readlink(`${dev}/driver`) !== null ? realpath(view, `${dev}/driver`) : null;
    const children = ls(dev);
    const vhost = children.filter((c) => /^vhost-vdpa-\d+$/.test(c));
    const virtio = children.filter((c) => /^virtio\d+$/.test(c));
    const boundTo = drv?.split('/').pop() ?? null;
    if (boundTo === 'vhost_vdpa') {
      if (vhost.length !== 1) bad.push(`${dev} is bound to vhost_vdpa with ${vhost.length} vhost-vdpa children`);
      for (const c of vhost) expectNodes.add(c);
    } else if (vhost.length) bad.push(`${dev} has ${vhost.join(' ')} but is not bound to vhost_vdpa`);
    if (boundTo === 'virtio_vdpa') {
      if (virtio.length !== 1) bad.push(`${dev} is bound to virtio_vdpa with ${virtio.length} virtio children`);
    } else if (virtio.length) bad.push(`${dev} has ${virtio.join(' ')} but is not bound to virtio_vdpa`);
    for (const c of virtio) {
      if (realpath(view, `/sys/bus/virtio/devices/${c}`) !== `${dev}/${c}`) bad.push(`${dev}/${c} is not on the virtio bus`);
    }
  }
  for (const n of expectNodes) if (!vhostNodes.has(n)) bad.push(`/dev/${n} is missing for a device bound to vhost_vdpa`);
  for (const n of vhostNodes) if (!expectNodes.has(n)) bad.push(`/dev/${n} exists, but no device bound to vhost_vdpa has it`);

  /* Every virtio device has a vdpa parent on the vdpa bus (no orphan left behind). */
  for (const name of ls('/sys/bus/virtio/devices')) {
    const dev = realpath(view, `/sys/bus/virtio/devices/${name}`);
    if (!dev) continue;
    const parent = dev.slice(0, dev.lastIndexOf('/'));
    const parentName = parent.split('/').pop()!;
    if (realpath(view, `/sys/bus/vdpa/devices/${parentName}`) !== parent) bad.push(`${dev}: its parent is not a vdpa device on the bus`);
  }

  /* Device numbers. */
  for (const kind of ['char', 'block']) {
    for (const mm of ls(`/sys/dev/${kind}`)) {
      const dev = realpath(view, `/sys/dev/${kind}/${mm}`);
      if (!dev) continue;
      const own = view.read(`${dev}/dev`);
      if (own !== null && own !== `${mm}\n`) bad.push(`/sys/dev/${kind}/${mm} -> ${dev}, whose dev is ${JSON.stringify(own)}`);
    }
  }
  const seen = new Map<string, string>();
  walk(view, '/sys/devices', (p) => {
    if (!p.endsWith('/dev') || view.readlink(p) !== null) return;
    const v = view.read(p);
    if (v === null || !/^\d+:\d+\n$/.test(v)) return;
    const dir = p.slice(0, -4);
    const kind = view.exists(`${dir}/subsystem`) && realpath(view, `${dir}/subsystem`) === '/sys/class/block' ? 'block' : 'char';
    const key = `${kind} ${v.trim()}`;
    if (seen.has(key)) bad.push(`${dir} and ${seen.get(key)} have the same device number ${v.trim()}`);
    seen.set(key, dir);
  });

  /* Modules: holders are loaded modules; refcnt covers them. */
  for (const m of ls('/sys/module')) {
    const holders = ls(`/sys/module/${m}/holders`);
    for (const h of holders) {
      if (realpath(view, `/sys/module/${m}/holders/${h}`) !== `/sys/module/${h}`) bad.push(`/sys/module/${m}/holders/${h} is not a loaded module`);
    }
    const refcnt = Number(view.read(`/sys/module/${m}/refcnt`));
    const extra = opts.openRefs ? (opts.openRefs[m] ?? 0) : null;
    if (extra !== null && refcnt !== holders.length + extra) bad.push(`${m}: refcnt ${refcnt}, but ${holders.length} holders and ${extra} open files`);
    if (extra === null && refcnt < holders.length) bad.push(`${m}: refcnt ${refcnt} is below its ${holders.length} holders`);
  }

  return bad;
}

/*
 * The same checks on a model kernel, plus what only the model can see:
 * each module's holders are exactly the loaded modules that use it, and
 * its holders/ directory lists them.
 */
export function checkKernelInvariants(k: Kernel, opts: InvariantOptions = {}): string[] {
  const bad = checkInvariants(kernfsView(k.fs), opts);
  const loaded = k.modules.list();
  for (const mod of loaded) {
    const users = loaded.filter((u) => u.def.depends.includes(mod.name)).map((u) => u.name).sort();
    const holders = [...mod.holders].sort();
    if (users.join(' ') !== holders.join(' ')) bad.push(`${mod.name}: holders ${holders.join(',')} but used by ${users.join(',')}`);
    const dir = k.fs.lookup(`/sys/module/${mod.name}/holders`);
    const listed = dir instanceof KernDir ? [...dir.children.keys()].sort() : [];
    if (listed.join(' ') !== holders.join(' ')) bad.push(`/sys/module/${mod.name}/holders lists ${listed.join(',')}, not ${holders.join(',')}`);
    for (const d of mod.def.depends) if (!k.modules.get(d)) bad.push(`${mod.name} is loaded without ${d}`);
    if (mod.extraRefs < 0) bad.push(`${mod.name}: negative module references`);
  }
  return bad;
}
