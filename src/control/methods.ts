/*
 * What the CLIs may ask of a kernel: the "syscalls" of the control socket.
 * genl carries the vdpa netlink family; module calls are init_module and
 * delete_module as modprobe/rmmod would issue them; dmesg and monitor read
 * the log buffer and the uevent broadcast.
 */
import { settle } from '../kernel/completion';
import type { Kernel } from '../kernel/kernel';
import { moduleName } from '../kernel/module';
import { vdpaGenl } from '../drivers/vdpa/vdpa_netlink';
import type { NlMsg, VdpaCmd } from '../include/uapi/vdpa';
import type { CallContext, Method } from './server';
import type { DevViewMounts } from '../fuse/devview_mounts';

export function kernelMethods(k: Kernel, info: () => unknown): Record<string, Method> {
  return {
    info: () => info(),

    genl: (p: { cmd: VdpaCmd; attrs: NlMsg }) => settle(vdpaGenl(k, p.cmd, p.attrs ?? [])),

    modprobe: (p: { name: string }) => ({ loaded: k.modules.modprobe(p.name) }),

    /* modprobe's view of the catalogue, to resolve names and order removals. */
    modinfo: (p: { name: string }) => ({ name: moduleName(p.name), known: k.modules.known(p.name), depends: k.modules.known(p.name) ? k.modules.resolve(p.name).slice(0, -1) : [] }),

    rmmod: (p: { name: string }) => settle(k.modules.rmmod(p.name)),

    lsmod: () =>
      k.modules
        .list()
        .reverse()
        .map((m) => ({ name: m.name, size: m.def.size, refcnt: m.refcnt, holders: [...m.holders] })),

    dmesg: (p: { follow?: boolean }, ctx: CallContext) => {
      const records = [...k.log.records];
      if (!p.follow) return records;
      for (const r of records) ctx.emit(r);
      return new Promise<void>((resolve) => {
        const off = k.log.subscribe((r) => ctx.emit(r));
        ctx.onClose(() => {
          off();
          resolve();
        });
      });
    },

    /* The first event says the subscription is live, so callers can start acting. */
    monitor: (_p: unknown, ctx: CallContext) =>
      new Promise<void>((resolve) => {
        const off = k.uevents.subscribe((e) => ctx.emit(e));
        ctx.emit({ subscribed: true });
        ctx.onClose(() => {
          off();
          resolve();
        });
      }),
  };
}

/*
 * vdpafs shell: a /dev for its namespace. `devview_mount` mounts a view and
 * answers where; the shell binds it in its namespace and calls
 * `devview_detach`, which takes it out of the daemon's mount table. A
 * shell that hangs up first gets its views detached all the same.
 */
export function devViewMethods(views: DevViewMounts): Record<string, Method> {
  return {
    devview_mount: async (_p: unknown, ctx: CallContext) => {
      const view = await views.mount();
      ctx.onClose(() => void views.detach(view.id));
      return view;
    },
    devview_detach: (p: { id: number }) => views.detach(p.id),
  };
}
