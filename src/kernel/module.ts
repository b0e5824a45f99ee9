/*
 * Loadable modules (kernel/module/): load with dependencies, the reference
 * count, and /sys/module/<name>/.
 *
 * A module is a name, the modules whose exported symbols it uses (modinfo's
 * "depends", in the order the module first uses each), an init and an
 * exit. Loading resolves those symbols: ref_module() takes a reference on
 * each provider and makes the module a holder there (holders/<name>).
 * Open files of a module's char and block devices take references too.
 * rmmod refuses while any reference is held, as delete_module() does with
 * EBUSY (EWOULDBLOCK without O_TRUNC).
 *
 * modprobe's order is kmod's: depmod sorts all modules topologically
 * (users before what they use, modules.order breaking ties), each
 * modules.dep line lists a module's dependencies in that order, and
 * modprobe loads them last first.
 */
import { createHash } from 'node:crypto';
import createDebug from 'debug';
import { after, Completion, MaybeWait } from './completion';
import { fail } from './errno';
import { KernDir } from '../fs/kernfs';
import { attr, roAttr } from '../fs/sysfs';
import type { Kernel } from './kernel';
import { kobjectSynthUevent, kobjectUeventPlain } from './uevent';
import { kstrtobool, kstrtoint, kstrtou16, kstrtouint } from '../lib/kstrtox';

const trace = createDebug('vdpafs:module');

/* module_param(name, type, perm): a parameter and its value at load. */
export interface ModuleParamDef {
  name: string;
  type: 'int' | 'uint' | 'ushort' | 'bool';
  /* The perm argument: the sysfs mode of parameters/<name> (0: not shown). */
  perm: number;
  value: number | boolean;
}

export interface ModuleDef {
  name: string;
  /* Where depmod found it, below /lib/modules/<release>/ (kernel/drivers/vdpa/vdpa.ko). */
  path?: string;
  depends: string[];
  /* Bytes, as lsmod shows them (the real module's size, rounded to pages). */
  size: number;
  /* MODULE_VERSION(), which also gives the module a srcversion. */
  version?: string;
  params?: ModuleParamDef[];
  init(k: Kernel): void;
  exit(k: Kernel): MaybeWait<void>;
}

export class Module {
  /* References that are not holders: open files, in-flight users. */
  extraRefs = 0;
  readonly holders = new Set<string>();
  state: 'coming' | 'live' | 'going' = 'coming';
  kobj!: KernDir;
  /* The parameters' current values (module_param variables). */
  readonly params = new Map<string, number | boolean>();
  /* Completed when a going module is gone: a new load of the name waits for it. */
  readonly gone = new Completion<void>();

  constructor(readonly def: ModuleDef) {
    for (const p of def.params ?? []) this.params.set(p.name, p.value);
  }

  get name(): string {
    return this.def.name;
  }

  /* module_refcount(): one per holder plus every module_get(). */
  get refcnt(): number {
    return this.holders.size + this.extraRefs;
  }
}

/* Module names: modprobe treats '-' and '_' alike. */
export function moduleName(name: string): string {
  return name.replace(/-/g, '_');
}

export class ModuleLoader {
  private readonly catalog = new Map<string, ModuleDef>();
  /* Load order is kept: lsmod lists the newest first. */
  private readonly loaded = new Map<string, Module>();

  constructor(
    private readonly kernel: Kernel,
    defs: ModuleDef[],
  ) {
    for (const d of defs) this.catalog.set(d.name, d);
  }

  known(name: string): boolean {
    return this.catalog.has(moduleName(name));
  }

  isLoaded(name: string): boolean {
    return this.loaded.get(moduleName(name))?.state === 'live';
  }

  get(name: string): Module | undefined {
    return this.loaded.get(moduleName(name));
  }

  list(): Module[] {
    return [...this.loaded.values()];
  }

  sysfsDir(name: string): KernDir | undefined {
    return this.loaded.get(moduleName(name))?.kobj;
  }

  /*
   * depmod's dep_sort_idx: Kahn's topological sort over the whole catalogue,
   * modules nobody uses first, the roots taken last-in first-out, in
   * modules.order (the catalogue's order).
   */
  private depSortIndex(): Map<string, number> {
    if (this.sortIdx) return this.sortIdx;
    const defs = [...this.catalog.values()];
    const users = new Map<string, number>(defs.map((d) => [d.name, 0]));
    for (const d of defs) for (const dep of d.depends) users.set(dep, (users.get(dep) ?? 0) + 1);
    const roots = defs.filter((d) => users.get(d.name) === 0).map((d) => d.name);
    const idx = new Map<string, number>();
    while (roots.length) {
      const src = roots.pop()!;
      idx.set(src, idx.size);
      for (const dep of this.catalog.get(src)!.depends) {
        const left = users.get(dep)! - 1;
        users.set(dep, left);
        if (left === 0) roots.push(dep);
      }
    }
    this.sortIdx = idx;
    return idx;
  }
  private sortIdx: Map<string, number> | null = null;

  /*
   * The modules `name` needs and itself, in the order modprobe loads them:
   * the modules.dep line (every dependency, by dep_sort_idx) read backwards.
   */
  resolve(name: string): string[] {
    const n = moduleName(name);
    const def = this.catalog.get(n);
    if (!def) fail('ENOENT', `Module ${n} not found`);
    const all = new Set<string>();
    const visit = (d: ModuleDef) => {
      for (const dep of d.depends) {
        if (all.has(dep)) continue;
        const dd = this.catalog.get(dep);
        if (!dd) fail('ENOENT', `Module ${dep} not found`);
        all.add(dep);
        visit(dd);
      }
    };
    visit(def);
    const idx = this.depSortIndex();
    const depline = [...all].sort((a, b) => idx.get(a)! - idx.get(b)!);
    return [...depline.reverse(), n];
  }

  /* The modules.dep path of a module (kernel/drivers/vdpa/vdpa.ko). */
  path(name: string): string | undefined {
    const def = this.catalog.get(moduleName(name));
    return def ? (def.path ?? `kernel/${def.name}.ko`) : undefined;
  }

  /*
   * modprobe NAME: load what is missing, dependencies first. A module on
   * its way out is not loaded: init_module() waits for it to be gone and
   * loads it again (modprobeWait); this synchronous form refuses with
   * EBUSY instead.
   */
  modprobe(name: string): string[] {
    const going = this.resolve(name).find((n) => this.loaded.get(n)?.state === 'going');
    if (going) fail('EBUSY', `Module ${going} is being removed`);
    return this.modprobeWait(name) as string[];
  }

  /* modprobe NAME as kmod does it, waiting for a going module to be gone first. */
  modprobeWait(name: string): MaybeWait<string[]> {
    const loadedNow: string[] = [];
    const order = this.resolve(name);
    const step = (i: number): MaybeWait<string[]> => {
      for (; i < order.length; i++) {
        const n = order[i];
        const mod = this.loaded.get(n);
        if (mod?.state === 'going') {
          const next = i;
          return mod.gone.then(() => step(next));
        }
        if (mod) continue;
        this.insmod(n);
        loadedNow.push(n);
      }
      return loadedNow;
    };
    return step(0);
  }

  /*
   * init_module(): EEXIST if loaded (EBUSY while the old one is still
   * going: see modprobeWait), ENOENT for an unknown symbol (missing dep).
   */
  insmod(name: string): void {
    const def = this.catalog.get(moduleName(name));
    if (!def) fail('ENOENT', `Module ${name} not found`);
    const old = this.loaded.get(def.name);
    if (old) fail(old.state === 'going' ? 'EBUSY' : 'EEXIST');
    for (const d of def.depends) if (!this.isLoaded(d)) fail('ENOENT', `Unknown symbol in module (needs ${d})`);
    const mod = new Module(def);
    this.loaded.set(def.name, mod);
    mod.kobj = this.sysfsAdd(mod);
    for (const d of def.depends) this.addHolder(d, mod);
    trace('load %s', def.name);
    try {
      def.init(this.kernel);
    } catch (e) {
      this.unlink(mod);
      mod.gone.complete();
      throw e;
    }
    mod.state = 'live';
    /* do_init_module(): "Delay uevent until module has finished its init routine". */
    kobjectUeventPlain(this.kernel.uevents, mod.kobj.path(), 'module', 'add');
    this.kernel.log.kmsg('info', `vdpafs: module loaded: ${mod.name}`);
  }

  /*
   * delete_module(): ENOENT if not loaded, EBUSY while referenced. The exit
   * may sleep (unregistering a driver waits for open files to close).
   */
  rmmod(name: string): MaybeWait<void> {
    const mod = this.loaded.get(moduleName(name));
    if (!mod || mod.state !== 'live') fail('ENOENT', `Module ${moduleName(name)} is not currently loaded`);
    if (mod.holders.size) fail('EBUSY', `Module ${mod.name} is in use by: ${[...mod.holders].join(' ')}`);
    if (mod.refcnt) fail('EBUSY', `Module ${mod.name} is in use`);
    mod.state = 'going';
    trace('unload %s', mod.name);
    return after(mod.def.exit(this.kernel), () => {
      /* free_module() -> mod_sysfs_teardown(): the kobject's last put sends KOBJ_REMOVE. */
      kobjectUeventPlain(this.kernel.uevents, mod.kobj.path(), 'module', 'remove');
      this.unlink(mod);
      this.kernel.log.kmsg('info', `vdpafs: module unloaded: ${mod.name}`);
      mod.gone.complete();
    });
  }

  /* try_module_get()/module_put() for files that pin a module. */
  moduleGet(name: string): void {
    const mod = this.loaded.get(name);
    if (mod) mod.extraRefs++;
  }

  modulePut(name: string): void {
    const mod = this.loaded.get(name);
    if (mod && mod.extraRefs > 0) mod.extraRefs--;
  }

  private unlink(mod: Module): void {
    for (const d of mod.def.depends) this.removeHolder(d, mod);
    this.loaded.delete(mod.name);
    this.kernel.sysfs.module.removeNode(mod.kobj);
  }

  private addHolder(depName: string, holder: Module): void {
    const dep = this.loaded.get(depName)!;
    dep.holders.add(holder.name);
    dep.kobj.dir('holders').symlink(holder.name, holder.kobj);
  }

  private removeHolder(depName: string, holder: Module): void {
    const dep = this.loaded.get(depName);
    if (!dep) return;
    dep.holders.delete(holder.name);
    dep.kobj.dir('holders').remove(holder.name);
  }

  /*
   * mod_sysfs_setup(): the kobject, holders/, parameters/, the modinfo
   * attributes (uevent, version and srcversion when MODULE_VERSION() is
   * there, initstate, coresize, initsize, taint, refcnt), then the holder
   * links in what it uses (added by the caller), sections/ and notes/.
   */
  private sysfsAdd(mod: Module): KernDir {
    const dir = this.kernel.sysfs.module.mkdir(mod.name);
    dir.mkdir('holders');
    this.paramSysfsSetup(mod, dir);
    /* module_uevent store: a synthetic event, as for devices. */
    dir.add(
      attr('uevent', {
        store: (buf) =>
          kobjectSynthUevent(this.kernel.log, dir.path(), buf, (action, env) =>
            kobjectUeventPlain(this.kernel.uevents, dir.path(), 'module', action, env),
          ),
      }),
    );
    if (mod.def.version !== undefined) {
      dir.add(roAttr('version', `${mod.def.version}\n`));
      dir.add(roAttr('srcversion', `${srcversion(mod.def)}\n`));
    }
    dir.add(roAttr('initstate', () => `${mod.state}\n`));
    dir.add(roAttr('coresize', `${mod.def.size}\n`));
    /* The init sections are freed once init has run (do_init_module()). */
    dir.add(roAttr('initsize', '0\n'));
    dir.add(roAttr('taint', '\n'));
    dir.add(roAttr('refcnt', () => `${mod.refcnt}\n`));
    dir.mkdir('sections');
    dir.mkdir('notes');
    return dir;
  }

  /*
   * module_param_sysfs_setup(): parameters/<name> for each parameter with
   * a non-zero perm, shown and parsed as the param_ops of its type do
   * (param_get_int "%i", param_get_bool "Y"/"N"; param_set_uint is
   * kstrtouint base 0, param_set_bool kstrtobool). No directory when no
   * parameter is visible.
   */
  private paramSysfsSetup(mod: Module, dir: KernDir): void {
    const visible = (mod.def.params ?? []).filter((p) => p.perm !== 0);
    if (!visible.length) return;
    const params = dir.mkdir('parameters');
    for (const p of visible) {
      const show = () => {
        const v = mod.params.get(p.name)!;
        return p.type === 'bool' ? (v ? 'Y\n' : 'N\n') : `${v}\n`;
      };
      const store = (buf: Buffer) => {
        mod.params.set(p.name, paramSet(p, buf));
        return buf.length;
      };
      params.add(attr(p.name, { mode: p.perm, show, store: p.perm & 0o222 ? store : undefined }));
    }
  }
}

/* The param_ops .set of each type. */
function paramSet(p: ModuleParamDef, buf: Buffer): number | boolean {
  switch (p.type) {
    case 'bool':
      return kstrtobool(buf);
    case 'int':
      return kstrtoint(buf, 0);
    case 'uint':
      return kstrtouint(buf, 0);
    case 'ushort':
      return kstrtou16(buf, 0);
  }
}

/*
 * modpost's srcversion: an MD4 of the module's sources, 23 hex digits.
 * The sources are not here, so this is a stand-in with the same shape,
 * derived from the module's name and version (see the README).
 */
function srcversion(def: ModuleDef): string {
  return createHash('sha1').update(`${def.name}\0${def.version}`).digest('hex').toUpperCase().slice(0, 23);
}
