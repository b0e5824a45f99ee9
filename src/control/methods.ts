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
import { genlCtrlGetfamily } from '../net/netlink/genetlink';
import { ROOT_CRED } from '../kernel/cred';
import type { NlMsg, VdpaCmd } from '../include/uapi/vdpa';
import type { CallContext, Method } from './server';
import type { DevViewMounts } from '../fuse/devview_mounts';
import { devChangeFlags, devGetByName, devQueueXmit, IFF_UP, NetDevice, netSoftirqSettled } from '../net/core/dev';
import { fail } from '../kernel/errno';
import { virtioFindDevice } from '../drivers/virtio/virtio';
import { VRING_DESC_F_NEXT } from '../include/uapi/virtio_ring';

export function kernelMethods(k: Kernel, info: () => unknown): Record<string, Method> {
  return {
    ...netMethods(k),
    ...faultMethods(k),
    info: () => info(),

    genl: (p: { cmd: VdpaCmd; attrs: NlMsg }) => settle(vdpaGenl(k, p.cmd, p.attrs ?? [])),

    /* The family lookup a genl tool does first (vdpa(8): "Failed to connect to vdpa Netlink"). */
    genl_getfamily: (p: { name: string }) => genlCtrlGetfamily(k, p.name, ROOT_CRED),

    modprobe: (p: { name: string }) => ({ loaded: k.modules.modprobe(p.name) }),

    /* modprobe's view of the catalogue, to resolve names and order removals. */
    modinfo: (p: { name: string }) => {
      const known = k.modules.known(p.name);
      return { name: moduleName(p.name), known, depends: known ? k.modules.resolve(p.name).slice(0, -1) : [] };
    },

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

/*
 * vdpafs net: what a raw packet socket and `ip link set` do to a netdev of
 * the simulated host. Frames travel as hex strings.
 */
export function netMethods(k: Kernel): Record<string, Method> {
  const netdev = (ifname: string): NetDevice => devGetByName(k, ifname) ?? fail('ENODEV', `Cannot find device "${ifname}"`);
  return {
    /* ip link set dev IFNAME up|down: dev_change_flags() with IFF_UP set or cleared. */
    net_link: (p: { ifname: string; up: boolean }) => {
      const dev = netdev(p.ifname);
      devChangeFlags(dev, p.up ? dev.flags | IFF_UP : dev.flags & ~IFF_UP);
      return null;
    },

    /* sendto() on a packet socket bound to IFNAME, once per frame; returns once the softirqs ran. */
    net_send: async (p: { ifname: string; frames: string[] }) => {
      const dev = netdev(p.ifname);
      let sent = 0;
      for (const hex of p.frames) {
        if (devQueueXmit(dev, Buffer.from(hex, 'hex')) === 'ok') sent++;
      }
      await netSoftirqSettled();
      return { sent, dropped: p.frames.length - sent };
    },

    /*
     * recvfrom() on the netdev's packet tap: the frames received so far,
     * oldest first, taken off the queue; with `count`, wait up to
     * `timeoutMs` for that many.
     */
    net_recv: async (p: { ifname: string; count?: number; timeoutMs?: number }) => {
      const dev = netdev(p.ifname);
      const want = p.count ?? 0;
      if (want > dev.captured.length) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, p.timeoutMs ?? 2000);
          const off = dev.onCapture(() => {
            if (dev.captured.length >= want) done();
          });
          function done(): void {
            clearTimeout(timer);
            off();
            resolve();
          }
        });
      }
      const n = want ? Math.min(want, dev.captured.length) : dev.captured.length;
      return dev.captured.splice(0, n).map((f) => ({ ifname: dev.name, usec: f.usec, len: f.data.length, data: f.data.toString('hex') }));
    },
  };
}

/*
 * Fault injection for tests, not a kernel interface: make the driver side
 * of a virtqueue publish a malformed chain (a descriptor whose `next` is
 * past the table) and kick, so the device finds the ring broken, sets
 * NEEDS_RESET and logs it -- what a buggy driver would cause.
 */
export function faultMethods(k: Kernel): Record<string, Method> {
  return {
    fault_vring: (p: { device: string; vq: number }) => {
      const vdev = virtioFindDevice(k, p.device) ?? fail('ENODEV', `no virtio device ${p.device}`);
      const vq = vdev.vqs.find((q) => q.index === p.vq) ?? fail('ENOENT', `${p.device} has no vq ${p.vq}`);
      const head = vq.num - 1;
      vq.writeDesc(head, { addr: 0, len: 0, flags: VRING_DESC_F_NEXT, next: vq.num });
      vq.publishAvail(head);
      vq.kick();
      return { device: vdev.name, vq: vq.index, head };
    },
  };
}
