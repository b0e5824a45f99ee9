/*
 * net/core/dev.c (with bits of net/ethernet/eth.c, net/core/link_watch.c
 * and net/core/rtnetlink.c): network devices for the host's own drivers.
 *
 * What is modelled: registration (a name from "eth%d", an ifindex, the
 * class `net` device with its sysfs attributes and queue kobjects), the
 * administrative state (IFF_UP through dev_open/dev_close, which call the
 * driver's ndo_open/ndo_stop), the carrier and the operstate it implies,
 * the statistics (the driver's ndo_get_stats64 plus the core's counters),
 * transmit (dev_queue_xmit straight to ndo_start_xmit: no qdisc holds
 * frames) and receive (netif_receive_skb hands frames to the packet taps).
 * NAPI polls run as the NET_RX softirq does: after the interrupt that
 * scheduled them, never nested inside it (here: a microtask).
 *
 * Naming is the kernel's: "eth%d" with the lowest free number. There is no
 * udev here, so nothing renames eth0 to a predictable name (enp0s3,
 * ens3...) as a distribution would. ifindex 1 is the loopback's on every
 * Linux host; lo itself is not modelled, so the first netdev gets 2, and
 * numbers are not reused (dev_index_reserve() allocates cyclically).
 *
 * There is no protocol stack: a received frame goes to the packet taps
 * only. Every netdev keeps the last frames it received in a small queue,
 * as a packet socket bound to it would (`vdpafs net recv` drains it), so
 * no frame counts as rx_dropped for want of a protocol handler.
 */
import createDebug from 'debug';
import { Completion, MaybeWait } from '../../kernel/completion';
import { fail } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import { Device, deviceAdd, deviceDel } from '../../drivers/base/core';
import { classGet, DeviceClass } from '../../drivers/base/class';
import { netdevRegisterKobject, netdevUnregisterKobject, netdevUevent } from './net-sysfs';
import { HZ } from '../../kernel/config';

const trace = createDebug('vdpafs:net');

/* include/uapi/linux/if.h */
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_DEBUG = 0x4;
export const IFF_NOTRAILERS = 0x20;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_ALLMULTI = 0x200;
export const IFF_MULTICAST = 0x1000;
export const IFF_PORTSEL = 0x2000;
export const IFF_AUTOMEDIA = 0x4000;
export const IFF_DYNAMIC = 0x8000;
export const IFF_LOWER_UP = 0x10000;
/* The flags the kernel owns: LOOPBACK POINTOPOINT BROADCAST ECHO MASTER SLAVE RUNNING LOWER_UP DORMANT. */
export const IFF_VOLATILE = 0x8 | 0x10 | IFF_BROADCAST | 0x40000 | 0x400 | 0x800 | IFF_RUNNING | IFF_LOWER_UP | 0x20000;
/* What __dev_change_flags() copies from the caller; UP, PROMISC, ALLMULTI go their own ways. */
const IFF_USER_SETTABLE = IFF_DEBUG | IFF_NOTRAILERS | IFF_NOARP | IFF_DYNAMIC | IFF_MULTICAST | IFF_PORTSEL | IFF_AUTOMEDIA;

/* include/linux/dynamic_queue_limits.h: DQL_MAX_LIMIT = UINT_MAX / 2 - UINT_MAX / 16. */
export const DQL_MAX_LIMIT = 0x7fff_ffff - 0x0fff_ffff;

/* include/uapi/linux/if_arp.h, if_ether.h */
export const ARPHRD_ETHER = 1;
export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
export const ETH_DATA_LEN = 1500;
export const ETH_MIN_MTU = 68;
export const ETH_MAX_MTU = 0xffff;
export const VLAN_HLEN = 4;

/* include/uapi/linux/netdevice.h */
export const NET_NAME_ENUM = 1;
export const NET_ADDR_PERM = 0;
export const NET_ADDR_RANDOM = 1;

/* RFC 2863 operstates (IF_OPER_*), as operstate_show() prints them. */
export const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
export const IF_OPER_DOWN = 2;
export const IF_OPER_UP = 6;

/* struct rtnl_link_stats64, in the order statistics/ lists it. */
export const STATS64_FIELDS = [
  'rx_packets',
  'tx_packets',
  'rx_bytes',
  'tx_bytes',
  'rx_errors',
  'tx_errors',
  'rx_dropped',
  'tx_dropped',
  'multicast',
  'collisions',
  'rx_length_errors',
  'rx_over_errors',
  'rx_crc_errors',
  'rx_frame_errors',
  'rx_fifo_errors',
  'rx_missed_errors',
  'tx_aborted_errors',
  'tx_carrier_errors',
  'tx_fifo_errors',
  'tx_heartbeat_errors',
  'tx_window_errors',
  'rx_compressed',
  'tx_compressed',
  'rx_nohandler',
] as const;
export type Stats64Field = (typeof STATS64_FIELDS)[number];
export type Stats64 = Record<Stats64Field, number>;

export function emptyStats64(): Stats64 {
  const s = {} as Stats64;
  for (const f of STATS64_FIELDS) s[f] = 0;
  return s;
}

/* netdev_tx_t */
export type NetdevTx = 'ok' | 'busy';

/* struct net_device_ops: what a driver implements. */
export interface NetDeviceOps {
  ndoOpen(dev: NetDevice): void;
  ndoStop(dev: NetDevice): void;
  ndoStartXmit(frame: Buffer, dev: NetDevice): NetdevTx;
  ndoGetStats64(dev: NetDevice, stats: Stats64): void;
  /* ndo_validate_addr: refuse to open with an unusable address (eth_validate_addr). */
  ndoValidateAddr?(dev: NetDevice): void;
  /* Drivers that can fake a carrier (dummy); virtio_net has none. */
  ndoChangeCarrier?(dev: NetDevice, up: boolean): void;
  /* Per-queue rate limits; virtio_net has none. */
  ndoSetTxMaxrate?(dev: NetDevice, queue: number, rate: number): void;
  /* ethtool's get_link_ksettings: speed (Mb/s, -1 unknown) and duplex. */
  getLinkKsettings?(dev: NetDevice): { speed: number; duplex: 'half' | 'full' | 'unknown' };
}

/* A frame a packet tap saw. */
export interface CapturedFrame {
  /* Microseconds since boot. */
  usec: number;
  data: Buffer;
}

/* The per-netdev receive queue (a packet socket's sk_receive_queue). */
export const NETDEV_CAPTURE_MAX = 1024;

/* struct dql (lib/dynamic_queue_limits.c): what byte_queue_limits/ shows; dql_init(dql, HZ). */
export class Dql {
  limit = 0;
  maxLimit = DQL_MAX_LIMIT;
  minLimit = 0;
  /* In jiffies. */
  slackHoldTime = HZ;
  stallThrs = 0;
  stallMax = 0;
  stallCnt = 0;
  numQueued = 0;
  numCompleted = 0;
}

/* struct netdev_rx_queue: rx-N/ (RPS). */
export class NetdevRxQueue {
  /* The CPUs of the rps_map. */
  rpsMap = 0n;
  /* rps_flow_table->mask + 1, or 0 without a table. */
  rpsFlowCnt = 0n;
}

/* struct netdev_queue: tx-N/ (XPS, the rate limit, BQL). */
export class NetdevQueue {
  transTimeout = 0;
  txMaxrate = 0;
  /* The CPUs and receive queues mapped to this one (xps_cpus, xps_rxqs). */
  xpsCpus = 0n;
  xpsRxqs = 0n;
  readonly dql = new Dql();
}

export class NetDevice extends Device {
  ifindex = 0;
  mtu = ETH_DATA_LEN;
  minMtu = ETH_MIN_MTU;
  maxMtu = ETH_DATA_LEN;
  type = ARPHRD_ETHER;
  addrLen = ETH_ALEN;
  devAddr = Buffer.alloc(ETH_ALEN);
  broadcast = Buffer.alloc(ETH_ALEN, 0xff);
  addrAssignType = NET_ADDR_PERM;
  nameAssignType = NET_NAME_ENUM;
  flags = IFF_BROADCAST | IFF_MULTICAST;
  /* The flags userspace asked for (PROMISC, ALLMULTI), and the counts behind IFF_PROMISC/IFF_ALLMULTI. */
  gflags = 0;
  promiscuity = 0;
  allmulti = 0;
  txQueueLen = 1000;
  /* dev->ifalias: the bytes written, shown up to the first NUL. */
  ifalias = Buffer.alloc(0);
  group = 0;
  groFlushTimeout = 0n;
  napiDeferHardIrqs = 0;
  threaded = false;
  protoDown = false;
  /* dev->change_proto_down: only drivers that support it (macvlan, vxlan...). */
  changeProtoDown = false;
  /* dev->napi_list is not empty (`threaded` is EOPNOTSUPP without NAPI). */
  napiCount = 0;
  numTxQueues: number;
  numRxQueues: number;
  rx: NetdevRxQueue[];
  tx: NetdevQueue[];
  /* __LINK_STATE_START: netif_running(). */
  running = false;
  /* !__LINK_STATE_NOCARRIER: a new netdev has carrier until a driver says otherwise. */
  carrierOk = true;
  carrierUpCount = 0;
  carrierDownCount = 0;
  operstate = 0;
  /* dev->reg_state == NETREG_REGISTERED */
  netRegistered = false;
  /* dev->core_stats and the legacy dev->stats the core itself counts. */
  readonly coreStats = emptyStats64();
  /* Frames received, oldest first, for the packet tap. */
  readonly captured: CapturedFrame[] = [];
  private readonly captureWaiters = new Set<() => void>();
  priv: unknown = null;

  constructor(
    kernel: Kernel,
    nameTemplate: string,
    readonly netdevOps: NetDeviceOps,
    queues = 1,
  ) {
    super(kernel, nameTemplate);
    this.numTxQueues = queues;
    this.numRxQueues = queues;
    this.rx = Array.from({ length: queues }, () => new NetdevRxQueue());
    this.tx = Array.from({ length: queues }, () => new NetdevQueue());
  }

  /* A new capture wakes whoever waits in `vdpafs net recv`. */
  capture(frame: Buffer): void {
    this.captured.push({ usec: this.kernel.log.uptimeUsec(), data: Buffer.from(frame) });
    if (this.captured.length > NETDEV_CAPTURE_MAX) this.captured.shift();
    for (const w of [...this.captureWaiters]) w();
  }

  onCapture(fn: () => void): () => void {
    this.captureWaiters.add(fn);
    return () => this.captureWaiters.delete(fn);
  }
}

interface NetGlobals {
  cls: DeviceClass;
  /* dev_base_head: registered netdevs, by name. */
  byName: Map<string, NetDevice>;
  /* net->ifindex: the next one to hand out (1 is lo's). */
  nextIfindex: number;
  napiPending: Napi[];
  napiScheduled: boolean;
  inSoftirq: boolean;
}

function netGlobals(k: Kernel): NetGlobals {
  return k.global<NetGlobals>('net', () => ({
    cls: classGet(k, 'net', { devUevent: (d) => netdevUevent(d as NetDevice), namespaced: true }),
    byName: new Map(),
    nextIfindex: 2,
    napiPending: [],
    napiScheduled: false,
    inSoftirq: false,
  }));
}

/* The `net` class exists from the first netdev on (it is built into Linux: see class.ts). */
export function netClass(k: Kernel): DeviceClass {
  return netGlobals(k).cls;
}

/* __dev_get_by_name() */
export function devGetByName(k: Kernel, name: string): NetDevice | undefined {
  return k.peekGlobal<NetGlobals>('net')?.byName.get(name);
}

/* alloc_etherdev_mqs(): "eth%d", ether_setup() values. */
export function allocEtherdev(k: Kernel, ops: NetDeviceOps, queues = 1): NetDevice {
  return new NetDevice(k, 'eth%d', ops, queues);
}

/* dev_alloc_name(): the lowest number not taken by a registered netdev. */
function devAllocName(g: NetGlobals, template: string): string {
  if (!template.includes('%d')) {
    if (g.byName.has(template)) fail('EEXIST');
    return template;
  }
  for (let i = 0; ; i++) {
    const name = template.replace('%d', String(i));
    if (!g.byName.has(name)) return name;
  }
}

/* register_netdevice(): name, ifindex, the class device and its queues, then present. */
export function registerNetdevice(dev: NetDevice): void {
  const k = dev.kernel;
  const g = netGlobals(k);
  dev.name = devAllocName(g, dev.name);
  dev.ifindex = g.nextIfindex++;
  dev.class = g.cls;
  g.byName.set(dev.name, dev);
  netdevRegisterKobject(dev, () => deviceAdd(dev));
  dev.netRegistered = true;
  /* Default initial state at registry is that the device is present. */
  linkwatchFireEvent(dev);
  trace('register %s ifindex %d', dev.name, dev.ifindex);
}

/* unregister_netdevice(): close it, drop the queue kobjects, then the device. */
export function unregisterNetdevice(dev: NetDevice): MaybeWait<void> {
  if (!dev.netRegistered) return;
  if (dev.flags & IFF_UP) devClose(dev);
  dev.netRegistered = false;
  const g = netGlobals(dev.kernel);
  g.byName.delete(dev.name);
  g.napiPending = g.napiPending.filter((n) => n.dev !== dev);
  trace('unregister %s', dev.name);
  return netdevUnregisterKobject(dev, () => deviceDel(dev));
}

/* default_operstate() + rfc2863_policy(), run at once rather than from the linkwatch work. */
function linkwatchFireEvent(dev: NetDevice): void {
  dev.operstate = dev.carrierOk ? IF_OPER_UP : IF_OPER_DOWN;
}

/* operstate_show(): a device that is not running is down, whatever linkwatch said. */
export function netdevOperstate(dev: NetDevice): string {
  return OPERSTATES[dev.running ? dev.operstate : IF_OPER_DOWN];
}

export function netifCarrierOn(dev: NetDevice): void {
  if (dev.carrierOk) return;
  dev.carrierOk = true;
  dev.carrierUpCount++;
  linkwatchFireEvent(dev);
}

export function netifCarrierOff(dev: NetDevice): void {
  if (!dev.carrierOk) return;
  dev.carrierOk = false;
  dev.carrierDownCount++;
  linkwatchFireEvent(dev);
}

/* __dev_open(): ndo_validate_addr, ndo_open, then IFF_UP and __LINK_STATE_START. */
export function devOpen(dev: NetDevice): void {
  if (dev.flags & IFF_UP) return;
  if (!dev.netRegistered) fail('ENODEV');
  dev.netdevOps.ndoValidateAddr?.(dev);
  dev.running = true;
  try {
    dev.netdevOps.ndoOpen(dev);
  } catch (e) {
    dev.running = false;
    throw e;
  }
  dev.flags |= IFF_UP;
  linkwatchFireEvent(dev);
  trace('%s up', dev.name);
}

/* __dev_close(): ndo_stop, then down. */
export function devClose(dev: NetDevice): void {
  if (!(dev.flags & IFF_UP)) return;
  dev.netdevOps.ndoStop(dev);
  dev.running = false;
  dev.flags &= ~IFF_UP;
  trace('%s down', dev.name);
}

/*
 * netdev_info(): "<driver> <parent> <ifname>: <message>" for a netdev with
 * a parent device (virtio_net virtio0 eth0: ...).
 */
export function netdevInfo(dev: NetDevice, msg: string): void {
  const parent = dev.parent;
  const prefix = parent ? `${parent.driver?.name ?? parent.bus?.name ?? ''} ${parent.name} ${dev.name}` : dev.name;
  dev.kernel.log.kmsg('info', `${prefix}: ${msg}`);
}

/* __dev_set_promiscuity() / __dev_set_allmulti(): a count behind the flag, and the kernel's line when it flips. */
function devSetFlagCount(dev: NetDevice, flag: number, inc: number): void {
  const count = (flag === IFF_PROMISC ? dev.promiscuity : dev.allmulti) + inc;
  if (flag === IFF_PROMISC) dev.promiscuity = count;
  else dev.allmulti = count;
  const flags = count ? dev.flags | flag : dev.flags & ~flag;
  if (flags === dev.flags) return;
  dev.flags = flags;
  const on = (dev.flags & flag) !== 0;
  netdevInfo(dev, `${on ? 'entered' : 'left'} ${flag === IFF_PROMISC ? 'promiscuous' : 'allmulticast'} mode`);
}

/*
 * dev_change_flags(): the settable flags are copied; IFF_UP opens or
 * closes the device; IFF_PROMISC and IFF_ALLMULTI are the user's requests
 * (gflags), counted like any other user of promiscuous mode. The rest
 * (LOOPBACK, RUNNING, LOWER_UP...) are the kernel's and ignored.
 */
export function devChangeFlags(dev: NetDevice, flags: number): void {
  const old = dev.flags;
  dev.flags = (flags & IFF_USER_SETTABLE) | (dev.flags & (IFF_UP | IFF_VOLATILE | IFF_PROMISC | IFF_ALLMULTI));
  if ((old ^ flags) & IFF_UP) {
    if (old & IFF_UP) devClose(dev);
    else devOpen(dev);
  }
  if ((flags ^ dev.gflags) & IFF_PROMISC) {
    dev.gflags ^= IFF_PROMISC;
    devSetFlagCount(dev, IFF_PROMISC, flags & IFF_PROMISC ? 1 : -1);
  }
  if ((flags ^ dev.gflags) & IFF_ALLMULTI) {
    dev.gflags ^= IFF_ALLMULTI;
    devSetFlagCount(dev, IFF_ALLMULTI, flags & IFF_ALLMULTI ? 1 : -1);
  }
}

/* is_valid_ether_addr(): not multicast (which covers broadcast) and not all zeros. */
export function isValidEtherAddr(addr: Buffer): boolean {
  return (addr[0] & 1) === 0 && addr.some((b) => b !== 0);
}

/* eth_validate_addr(): EADDRNOTAVAIL for an address no frame could be sent from. */
export function ethValidateAddr(dev: NetDevice): void {
  if (!isValidEtherAddr(dev.devAddr)) fail('EADDRNOTAVAIL');
}

/* dev_set_mtu(): the same MTU is a no-op; out of [min_mtu, max_mtu] EINVAL. */
export function devSetMtu(dev: NetDevice, mtu: number): void {
  if (mtu === dev.mtu) return;
  if (mtu < 0 || mtu < dev.minMtu) fail('EINVAL');
  if (dev.maxMtu > 0 && mtu > dev.maxMtu) fail('EINVAL');
  dev.mtu = mtu;
}

/* dev_get_stats(): the driver's counters plus the core's. */
export function devGetStats(dev: NetDevice): Stats64 {
  const s = emptyStats64();
  dev.netdevOps.ndoGetStats64(dev, s);
  for (const f of STATS64_FIELDS) s[f] += dev.coreStats[f];
  return s;
}

/*
 * packet_snd() -> dev_queue_xmit(): what a raw packet socket does with a
 * frame. ENETDOWN unless up, EINVAL below a link-layer header, EMSGSIZE
 * above the MTU plus header (a VLAN tag allowed for 802.1Q frames). The
 * driver says busy when its ring is full: with no qdisc to hold the frame,
 * it is dropped and counted.
 */
export function devQueueXmit(dev: NetDevice, frame: Buffer): NetdevTx {
  if (!dev.netRegistered) fail('ENODEV');
  if (!(dev.flags & IFF_UP)) fail('ENETDOWN');
  if (frame.length < ETH_HLEN) fail('EINVAL');
  const vlan = frame.length >= ETH_HLEN && frame.readUInt16BE(12) === 0x8100 ? VLAN_HLEN : 0;
  if (frame.length > dev.mtu + ETH_HLEN + vlan) fail('EMSGSIZE');
  const r = dev.netdevOps.ndoStartXmit(frame, dev);
  if (r === 'busy') dev.coreStats.tx_dropped++;
  /* rcu_read_unlock_bh(): softirqs raised meanwhile (the device's interrupts) run now. */
  doSoftirq(dev.kernel);
  return r;
}

/* netif_receive_skb(): no protocol stack; the packet taps take every frame. */
export function netifReceiveSkb(dev: NetDevice, frame: Buffer): void {
  dev.capture(frame);
}

/*
 * NAPI. napi_schedule() queues a poll; the NET_RX softirq (net_rx_action)
 * runs the queued polls after the interrupt returns, until none is left.
 * A poll returns the work it did; below its budget it is complete.
 */
export class Napi {
  scheduled = false;
  /* netif_napi_add(): on the device's napi_list. */
  constructor(
    readonly dev: NetDevice,
    readonly poll: (budget: number) => number,
    readonly weight = 64,
  ) {
    dev.napiCount++;
  }
}

export function napiSchedule(napi: Napi): void {
  if (napi.scheduled) return;
  napi.scheduled = true;
  const g = netGlobals(napi.dev.kernel);
  g.napiPending.push(napi);
  if (!g.napiScheduled && !g.inSoftirq) {
    g.napiScheduled = true;
    queueMicrotask(() => doSoftirq(napi.dev.kernel));
  }
}

/*
 * do_softirq(): run the pending NET_RX work unless already running it (a
 * poll that kicks the device, whose interrupt schedules more, is picked up
 * by the loop below, never nested).
 */
export function doSoftirq(k: Kernel): void {
  const g = k.peekGlobal<NetGlobals>('net');
  if (!g || g.inSoftirq) return;
  g.napiScheduled = false;
  g.inSoftirq = true;
  try {
    netRxAction(g);
  } finally {
    g.inSoftirq = false;
  }
}

/* net_rx_action(): poll until nothing is scheduled; a poll that used its whole budget goes again. */
function netRxAction(g: NetGlobals): void {
  while (g.napiPending.length) {
    const napi = g.napiPending.shift()!;
    napi.scheduled = false;
    if (!napi.dev.netRegistered) continue;
    const done = napi.poll(napi.weight);
    if (done >= napi.weight) napiSchedule(napi);
  }
}

/* For callers that must see the softirq's effects: resolves after pending polls ran. */
export function netSoftirqSettled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/* A Completion for "this frame left the ring", so a sender can wait for it. */
export type TxDone = Completion<void>;
