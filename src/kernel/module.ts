/*
 * Loadable modules (kernel/module/): load with dependencies, the reference
 * count, and /sys/module/<name>/.
 *
 * A module is a name, the modules it depends on (modinfo's "depends"), an
 * init and an exit. A loaded module takes a reference on each dependency,
 * which makes it a holder there; open files of its char devices take
 * references too. rmmod refuses while any reference is held, as
 * delete_module() does with EBUSY (EWOULDBLOCK without O_TRUNC).
 */
import createDebug from 'debug';
import { after, MaybeWait } from './completion';
import { fail } from './errno';
import { KernDir } from '../fs/kernfs';
import { attr, roAttr } from '../fs/sysfs';
import type { Kernel } from './kernel';
import { kobjectSynthUevent, kobjectUeventPlain } from './uevent';

const trace = createDebug('vdpafs:module');

export interface ModuleDef {
  name: string;
  depends: string[];
  /* Bytes, as lsmod shows them (the real module's size, rounded to pages). */
  size: number;
  init(k: Kernel): void;
  exit(k: Kernel): MaybeWait<void>;
}

export class Module {
  /* References that are not holders: open files, in-flight users. */
  extraRefs = 0;
  readonly holders = new Set<string>();
  state: 'coming' | 'live' | 'going' = 'coming';
  kobj!: KernDir;

  constructor(readonly def: ModuleDef) {}

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

  /* The dependency closure of `name`, dependencies first (modules.dep order). */
  resolve(name: string): string[] {
    const order: string[] = [];
    const visit = (n: string) => {
      const def = this.catalog.get(n);
      if (!def) fail('ENOENT', `Module ${n} not found`);
      if (order.includes(n)) return;
      for (const d of def.depends) visit(d);
      order.push(n);
    };
    visit(moduleName(name));
    return order;
  }

  /* modprobe NAME: load what is missing, dependencies first. */
  modprobe(name: string): string[] {
    const loadedNow: string[] = [];
    for (const n of this.resolve(name)) {
      if (this.loaded.has(n)) continue;
      this.insmod(n);
      loadedNow.push(n);
    }
    return loadedNow;
  }

  /* init_module(): EEXIST if loaded, ENOENT for an unknown symbol (missing dep). */
  insmod(name: string): void {
    const def = this.catalog.get(moduleName(name));
    if (!def) fail('ENOENT', `Module ${name} not found`);
    if (this.loaded.has(def.name)) fail('EEXIST');
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

  /* mod_sysfs_setup(): the attributes every loadable module has. */
  private sysfsAdd(mod: Module): KernDir {
    const dir = this.kernel.sysfs.module.mkdir(mod.name);
    dir.mkdir('holders');
    dir.mkdir('notes');
    dir.mkdir('sections');
    dir.add(roAttr('refcnt', () => `${mod.refcnt}\n`));
    dir.add(roAttr('initstate', () => `${mod.state}\n`));
    dir.add(roAttr('coresize', `${mod.def.size}\n`));
    dir.add(roAttr('initsize', '0\n'));
    dir.add(roAttr('taint', '\n'));
    /* module_uevent store: a synthetic event, as for devices. */
    dir.add(
      attr('uevent', {
        store: (buf) =>
          kobjectSynthUevent(this.kernel.log, dir.path(), buf, (action, env) =>
            kobjectUeventPlain(this.kernel.uevents, dir.path(), 'module', action, env),
          ),
      }),
    );
    return dir;
  }
}
