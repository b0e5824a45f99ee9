/*
 * What the CLIs may ask of a kernel: the "syscalls" of the control socket,
 * each with the schema of its params and who may call it -- the rule the
 * real interface has:
 *
 *   genl            per command: queries for anyone, changes with
 *                   GENL_ADMIN_PERM (CAP_NET_ADMIN), see genl_policy.ts
 *   modprobe/rmmod  init_module/delete_module: CAP_SYS_MODULE
 *   modinfo/lsmod   reading modules.dep and /proc/modules: anyone
 *   dmesg           syslog(2) with dmesg_restrict=0 (the upstream default): anyone
 *   monitor         NETLINK_KOBJECT_UEVENT listeners: anyone
 *   net_link        rtnetlink RTM_NEWLINK: CAP_NET_ADMIN
 *   net_send/recv   an AF_PACKET socket: CAP_NET_RAW
 */
import { settle } from '../kernel/completion';
import type { Kernel } from '../kernel/kernel';
import { moduleName } from '../kernel/module';
import { vdpaGenl } from '../drivers/vdpa/vdpa_netlink';
import { genlCtrlGetfamily } from '../net/netlink/genetlink';
import type { VdpaCmd } from '../include/uapi/vdpa';
import { CallContext, method, MethodTable } from './server';
import type { DevViewMounts } from '../fuse/devview_mounts';
import { devChangeFlags, devGetByName, devQueueXmit, IFF_UP, NETDEV_CAPTURE_MAX, NetDevice, netSoftirqSettled } from '../net/core/dev';
import { fail } from '../kernel/errno';
import { virtioFindDevice } from '../drivers/virtio/virtio';
import { VRING_DESC_F_NEXT } from '../include/uapi/virtio_ring';
import { bool, hex, int, none, object, optional, str, u16 } from './schema';
import { genlParams, genlPermission } from './genl_policy';
import { NET_FRAME_MAX, NET_SEND_MAX_COUNT } from './protocol';

/* MODULE_NAME_LEN is 56 with the NUL; IFNAMSIZ is 16 with the NUL. */
const moduleNameParam = str({ maxBytes: 55 });
const ifname = str({ maxBytes: 15 });

/* Frames sent between two turns of the event loop, so the mount keeps answering during a long send. */
const NET_SEND_BATCH = 256;
/* The longest `vdpafs net recv` waits. */
const NET_RECV_MAX_TIMEOUT_MS = 600_000;

export function kernelMethods(k: Kernel, info: () => unknown): MethodTable {
  return {
    ...netMethods(k),
    info: method({ perm: 'anyone', params: none, run: () => info() }),

    /*
     * The genl family. Its attributes are validated here against
     * vdpa_nl_policy; the admin check is the ops' GENL_ADMIN_PERM, taken
     * from the command number (genl_policy.ts).
     */
    genl: method({
      perm: genlPermission,
      params: genlParams,
      run: (p, ctx) => settle(vdpaGenl(k, p.cmd as VdpaCmd, p.attrs ?? [], ctx.cred)),
    }),

    /* The family lookup a genl tool does first (vdpa(8): "Failed to connect to vdpa Netlink"). */
    genl_getfamily: method({
      perm: 'anyone',
      /* GENL_NAMSIZ is 16 with the NUL. */
      params: object({ name: str({ maxBytes: 15 }) }),
      run: (p, ctx) => genlCtrlGetfamily(k, p.name, ctx.cred),
    }),

    modprobe: method({
      perm: 'admin',
      params: object({ name: moduleNameParam }),
      /* A module still being removed is waited for, as modprobe waits in finit_module(). */
      run: async (p) => ({ loaded: await settle(k.modules.modprobeWait(p.name)) }),
    }),

    /* modprobe's view of the catalogue, to resolve names and order removals. */
    modinfo: method({
      perm: 'anyone',
      params: object({ name: moduleNameParam }),
      run: (p) => {
        const known = k.modules.known(p.name);
        return { name: moduleName(p.name), known, depends: known ? k.modules.resolve(p.name).slice(0, -1) : [] };
      },
    }),

    rmmod: method({ perm: 'admin', params: object({ name: moduleNameParam }), run: (p) => settle(k.modules.rmmod(p.name)) }),

    lsmod: method({
      perm: 'anyone',
      params: none,
      run: () =>
        k.modules
          .list()
          .reverse()
          .map((m) => ({ name: m.name, size: m.def.size, refcnt: m.refcnt, holders: [...m.holders] })),
    }),

    dmesg: method({
      perm: 'anyone',
      params: object({ follow: optional(bool) }),
      run: (p, ctx: CallContext) => {
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
    }),

    /* The first event says the subscription is live, so callers can start acting. */
    monitor: method({
      perm: 'anyone',
      params: none,
      run: (_p, ctx: CallContext) =>
        new Promise<void>((resolve) => {
          const off = k.uevents.subscribe((e) => ctx.emit(e));
          ctx.emit({ subscribed: true });
          ctx.onClose(() => {
            off();
            resolve();
          });
        }),
    }),
  };
}

/*
 * vdpafs shell: a /dev for its namespace. `devview_mount` mounts a view and
 * answers where; the shell binds it in its namespace and calls
 * `devview_detach`, which takes it out of the daemon's mount table. A
 * shell that hangs up first gets its views detached all the same. Mounting
 * is CAP_SYS_ADMIN's.
 */
/* How long `vdpafs shell` waits for its namespace's view to go. */
const DEVVIEW_WAIT_MS = 10_000;

export function devViewMethods(views: DevViewMounts): MethodTable {
  return {
    devview_mount: method({
      perm: 'admin',
      params: none,
      run: async (_p, ctx: CallContext) => {
        const view = await views.mount();
        ctx.onClose(() => void views.detach(view.id).catch(() => undefined));
        return view;
      },
    }),
    devview_detach: method({ perm: 'admin', params: object({ id: int(0, 2 ** 31) }), run: (p) => views.detach(p.id) }),
    /*
     * After its command: answered once the namespace's view is gone, so
     * every file the command held through it (a VMM's /dev/vhost-vdpa-N) is
     * released before `vdpafs shell` returns and the node reopens at once.
     */
    devview_wait: method({
      perm: 'admin',
      params: object({ id: int(0, 2 ** 31) }),
      run: (p) => views.whenEnded(p.id, DEVVIEW_WAIT_MS),
    }),
  };
}

/*
 * vdpafs net: what a raw packet socket and `ip link set` do to a netdev of
 * the simulated host. Frames travel as hex strings.
 */
export function netMethods(k: Kernel): MethodTable {
  const netdev = (name: string): NetDevice => devGetByName(k, name) ?? fail('ENODEV', `Cannot find device "${name}"`);
  return {
    /* ip link set dev IFNAME up|down: dev_change_flags() with IFF_UP set or cleared. */
    net_link: method({
      perm: 'admin',
      params: object({ ifname, up: bool }),
      run: (p) => {
        const dev = netdev(p.ifname);
        devChangeFlags(dev, p.up ? dev.flags | IFF_UP : dev.flags & ~IFF_UP);
        return null;
      },
    }),

    /*
     * sendto() on a packet socket bound to IFNAME, `count` times; returns
     * once the softirqs ran. A long send yields between batches, as a
     * sender is preempted, so the mount is never held up by it.
     */
    net_send: method({
      perm: 'admin',
      params: object({ ifname, frame: hex(NET_FRAME_MAX), count: optional(int(1, NET_SEND_MAX_COUNT)) }),
      run: async (p) => {
        const frame = Buffer.from(p.frame, 'hex');
        const count = p.count ?? 1;
        let sent = 0;
        for (let i = 0; i < count; i++) {
          if (devQueueXmit(netdev(p.ifname), frame) === 'ok') sent++;
          if ((i + 1) % NET_SEND_BATCH === 0) await netSoftirqSettled();
        }
        await netSoftirqSettled();
        return { sent, dropped: count - sent };
      },
    }),

    /*
     * recvfrom() on the netdev's packet tap: the frames received so far,
     * oldest first, taken off the queue; with `count`, wait up to
     * `timeoutMs` for that many.
     */
    net_recv: method({
      perm: 'admin',
      params: object({
        ifname,
        count: optional(int(0, NETDEV_CAPTURE_MAX)),
        timeoutMs: optional(int(0, NET_RECV_MAX_TIMEOUT_MS)),
      }),
      run: async (p, ctx: CallContext) => {
        const dev = netdev(p.ifname);
        const want = p.count ?? 0;
        if (want > dev.captured.length) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, p.timeoutMs ?? 2000);
            const off = dev.onCapture(() => {
              if (dev.captured.length >= want) done();
            });
            /* A caller that gave up stops the wait. */
            let forget: (() => void) | undefined;
            forget = ctx.onClose(done);
            function done(): void {
              clearTimeout(timer);
              off();
              forget?.();
              resolve();
            }
          });
        }
        const n = want ? Math.min(want, dev.captured.length) : dev.captured.length;
        return dev.captured.splice(0, n).map((f) => ({ ifname: dev.name, usec: f.usec, len: f.data.length, data: f.data.toString('hex') }));
      },
    }),
  };
}

/*
 * Fault injection for tests, not a kernel interface: make the driver side
 * of a virtqueue publish a malformed chain (a descriptor whose `next` is
 * past the table) and kick, so the device finds the ring broken, sets
 * NEEDS_RESET and logs it -- what a buggy driver would cause. Only a
 * daemon started with --testing has it.
 */
export function faultMethods(k: Kernel): MethodTable {
  return {
    fault_vring: method({
      perm: 'admin',
      params: object({ device: str({ maxBytes: 255 }), vq: u16 }),
      run: (p) => {
        const vdev = virtioFindDevice(k, p.device) ?? fail('ENODEV', `no virtio device ${p.device}`);
        const vq = vdev.vqs.find((q) => q.index === p.vq) ?? fail('ENOENT', `${p.device} has no vq ${p.vq}`);
        const head = vq.num - 1;
        vq.writeDesc(head, { addr: 0, len: 0, flags: VRING_DESC_F_NEXT, next: vq.num });
        vq.publishAvail(head);
        vq.kick();
        return { device: vdev.name, vq: vq.index, head };
      },
    }),
  };
}
