/*
 * drivers/net/virtio_net.c: the virtio network driver, giving the host a
 * netdev (eth%d) on top of a virtio device.
 *
 * One queue pair (the simulator offers no MQ): input.0 (vq 0), output.0
 * (vq 1), and control (vq 2) when CTRL_VQ is negotiated. Every frame goes
 * out as one buffer, the 12-byte virtio_net_hdr_v1 (10 bytes for a legacy
 * device) followed by the frame; receive buffers are "small" ones, header
 * plus GOOD_PACKET_LEN (or the MTU's worth when the device's MTU is larger),
 * posted when the interface comes up. Completions are reaped by NAPI polls
 * that the queues' interrupts schedule. The statistics are the driver's:
 * packets and bytes of frames, the virtio header not included (the
 * device's vstats count bytes with the header).
 *
 * The link: carrier is off after probe; with VIRTIO_NET_F_STATUS the
 * config change that reports LINK_UP is held back until ndo_open, as in
 * the kernel, so a netdev that was never brought up reads operstate
 * "down" and its carrier file fails EINVAL.
 */
import createDebug from 'debug';
import { MaybeWait } from '../../kernel/completion';
import { errnoNumber, fail, KernelError } from '../../kernel/errno';
import type { Kernel } from '../../kernel/kernel';
import {
  registerVirtioDriver,
  unregisterVirtioDriver,
  VIRTIO_DEV_ANY_ID,
  virtioConfigChanged,
  virtioConfigDriverDisable,
  virtioConfigDriverEnable,
  virtioDeviceReady,
  VirtioDevice,
  VirtioDriver,
  virtioFindVqs,
  virtioResetDevice,
  Virtqueue,
} from '../virtio/virtio';
import { VIRTIO_ID_NET } from '../../include/uapi/vdpa';
import { VIRTIO_F_ANY_LAYOUT, VIRTIO_F_VERSION_1 } from '../../include/uapi/virtio_config';
import {
  VIRTIO_NET_CFG,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_ADDR_SET,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_DEVICE_STATS,
  VIRTIO_NET_F_GSO,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_ECN,
  VIRTIO_NET_F_GUEST_HDRLEN,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_GUEST_USO4,
  VIRTIO_NET_F_GUEST_USO6,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_HOST_UFO,
  VIRTIO_NET_F_HOST_USO,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_NOTF_COAL,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_SPEED_DUPLEX,
  VIRTIO_NET_F_STANDBY,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_F_VQ_NOTF_COAL,
  VIRTIO_NET_HDR_LEN,
  VIRTIO_NET_HDR_V1_LEN,
  VIRTIO_NET_OK,
  VIRTIO_NET_S_LINK_UP,
} from '../../include/uapi/virtio_net';
import {
  allocEtherdev,
  ETH_ALEN,
  ETH_DATA_LEN,
  ETH_HLEN,
  ETH_MAX_MTU,
  ETH_MIN_MTU,
  ethValidateAddr,
  Napi,
  napiSchedule,
  NET_ADDR_RANDOM,
  NetDevice,
  NetdevTx,
  netifCarrierOff,
  netifCarrierOn,
  netifReceiveSkb,
  registerNetdevice,
  Stats64,
  unregisterNetdevice,
  VLAN_HLEN,
} from '../../net/core/dev';
import { formatMac } from '../../net/core/net-sysfs';

const trace = createDebug('vdpafs:virtio_net');

/* ETH_HLEN + VLAN_HLEN + ETH_DATA_LEN */
const GOOD_PACKET_LEN = ETH_HLEN + VLAN_HLEN + ETH_DATA_LEN;
const NAPI_POLL_WEIGHT = 64;

/* VIRTNET_FEATURES, then the VERSION_1-only and the legacy extras. */
const VIRTNET_FEATURES = [
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_UFO,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_GUEST_ECN,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_HOST_USO,
  VIRTIO_NET_F_GUEST_USO4,
  VIRTIO_NET_F_GUEST_USO6,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_SPEED_DUPLEX,
  VIRTIO_NET_F_STANDBY,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_NOTF_COAL,
  VIRTIO_NET_F_VQ_NOTF_COAL,
  VIRTIO_NET_F_GUEST_HDRLEN,
  VIRTIO_NET_F_DEVICE_STATS,
];
export const VIRTIO_NET_FEATURE_TABLE = [...VIRTNET_FEATURES];
const VIRTIO_NET_FEATURE_TABLE_LEGACY = [...VIRTNET_FEATURES, VIRTIO_NET_F_GSO, VIRTIO_F_ANY_LAYOUT];

/* A buffer in kernel memory handed to a queue. */
interface RxBuf {
  addr: number;
  len: number;
}

interface TxBuf {
  addr: number;
  frameLen: number;
}

class ReceiveQueue {
  vq!: Virtqueue<RxBuf>;
  napi!: Napi;
  enabled = false;
  readonly stats = { packets: 0, bytes: 0, drops: 0, kicks: 0 };
}

class SendQueue {
  vq!: Virtqueue<TxBuf>;
  napi!: Napi;
  enabled = false;
  readonly stats = { packets: 0, bytes: 0, kicks: 0 };
}

/* struct virtnet_info */
export class VirtnetInfo {
  readonly rq = new ReceiveQueue();
  readonly sq = new SendQueue();
  cvq: Virtqueue | null = null;
  hdrLen = VIRTIO_NET_HDR_V1_LEN;
  /* Receive buffer payload size (after the header). */
  rxBufLen = GOOD_PACKET_LEN;
  /* Last link status read from config (vi->status). */
  status = 0;
  hasCvq = false;

  constructor(
    readonly vdev: VirtioDevice,
    readonly dev: NetDevice,
  ) {}

  get kernel(): Kernel {
    return this.vdev.kernel;
  }
}

function vi(dev: NetDevice): VirtnetInfo {
  return dev.priv as VirtnetInfo;
}

/* add_recvbuf_small(): one device-writable buffer, header + payload. */
function addRecvbufSmall(v: VirtnetInfo): void {
  const vq = v.rq.vq;
  const len = v.hdrLen + v.rxBufLen;
  const addr = vq.mem.alloc(len, 64);
  try {
    vq.addBuf([], [{ addr: vq.dmaAddr(addr), len }], { addr, len });
  } catch (e) {
    vq.mem.free(addr);
    throw e;
  }
}

/* try_fill_recv(): post buffers until the ring is full, then kick once. */
function tryFillRecv(v: VirtnetInfo): boolean {
  const vq = v.rq.vq;
  let ok = true;
  while (vq.numFree > 0) {
    try {
      addRecvbufSmall(v);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      ok = false;
      break;
    }
  }
  if (vq.kickPrepare()) {
    vq.kick();
    v.rq.stats.kicks++;
  }
  return ok;
}

/* receive_buf(): a used rx buffer becomes a frame for the stack. */
function receiveBuf(v: VirtnetInfo, buf: RxBuf, len: number): void {
  const vq = v.rq.vq;
  try {
    if (len < v.hdrLen + ETH_HLEN) {
      trace('%s: short packet %d', v.dev.name, len);
      v.dev.coreStats.rx_length_errors++;
      return;
    }
    const frame = vq.mem.read(buf.addr + v.hdrLen, Math.min(len, buf.len) - v.hdrLen);
    v.rq.stats.packets++;
    v.rq.stats.bytes += frame.length;
    netifReceiveSkb(v.dev, frame);
  } finally {
    vq.mem.free(buf.addr);
  }
}

/* virtnet_poll(): receive up to the budget, refill, and re-arm the interrupt. */
function virtnetPoll(v: VirtnetInfo, budget: number): number {
  const rq = v.rq;
  let received = 0;
  while (received < budget) {
    const used = rq.vq.getBuf();
    if (!used) break;
    receiveBuf(v, used.token, used.len);
    received++;
  }
  if (rq.vq.numFree > Math.min(budget, rq.vq.num) / 2 && v.dev.running) tryFillRecv(v);
  /* virtqueue_napi_complete(): if more came in meanwhile, poll again. */
  if (received < budget && !rq.vq.enableCb()) {
    rq.vq.disableCb();
    napiSchedule(rq.napi);
  }
  return received;
}

/* free_old_xmit(): reap what the device has sent. */
function freeOldXmit(v: VirtnetInfo): number {
  const sq = v.sq;
  let n = 0;
  for (;;) {
    const used = sq.vq.getBuf();
    if (!used) break;
    sq.stats.packets++;
    sq.stats.bytes += used.token.frameLen;
    sq.vq.mem.free(used.token.addr);
    n++;
  }
  return n;
}

/* virtnet_poll_tx(): tx completions do not count against the budget. */
function virtnetPollTx(v: VirtnetInfo): number {
  freeOldXmit(v);
  if (!v.sq.vq.enableCb()) {
    v.sq.vq.disableCb();
    napiSchedule(v.sq.napi);
  }
  return 0;
}

/* skb_recv_done() / skb_xmit_done(): the queue's interrupt schedules its NAPI poll. */
function skbRecvDone(vq: Virtqueue): void {
  const v = vq.vdev.priv as VirtnetInfo;
  if (!v.rq.enabled) return;
  vq.disableCb();
  napiSchedule(v.rq.napi);
}

function skbXmitDone(vq: Virtqueue): void {
  const v = vq.vdev.priv as VirtnetInfo;
  vq.disableCb();
  if (v.sq.enabled) napiSchedule(v.sq.napi);
}

/*
 * start_xmit() -> xmit_skb(): header and frame in one buffer
 * (any_header_sg), kick when the device wants it. A full ring stops the
 * queue: the frame comes back busy.
 */
function startXmit(frame: Buffer, dev: NetDevice): NetdevTx {
  const v = vi(dev);
  const sq = v.sq;
  freeOldXmit(v);
  if (sq.vq.numFree < 1) return 'busy';
  const len = v.hdrLen + frame.length;
  const addr = sq.vq.mem.alloc(len, 64);
  /* A zeroed header: no checksum offload, no GSO, num_buffers 0. */
  sq.vq.mem.write(addr + v.hdrLen, frame);
  try {
    sq.vq.addBuf([{ addr: sq.vq.dmaAddr(addr), len }], [], { addr, frameLen: frame.length });
  } catch (e) {
    sq.vq.mem.free(addr);
    /* dev_warn(&dev->dev, ...): a class device with no driver is named by its class. */
    v.kernel.log.kmsg('warn', `net ${dev.name}: Unexpected TXQ (0) queue failure: ${e instanceof KernelError ? -errnoNumber(e.errno) : e}`);
    dev.coreStats.tx_dropped++;
    return 'ok';
  }
  if (sq.vq.kickPrepare()) {
    sq.vq.kick();
    sq.stats.kicks++;
  }
  return 'ok';
}

/* virtnet_open() */
function virtnetOpen(dev: NetDevice): void {
  const v = vi(dev);
  tryFillRecv(v);
  v.rq.enabled = true;
  v.sq.enabled = true;
  v.rq.vq.enableCb();
  v.sq.vq.enableCb();
  if (v.vdev.hasFeature(VIRTIO_NET_F_STATUS)) {
    if (v.status & VIRTIO_NET_S_LINK_UP) netifCarrierOn(dev);
    virtioConfigDriverEnable(v.vdev);
  } else {
    v.status = VIRTIO_NET_S_LINK_UP;
    netifCarrierOn(dev);
  }
  /* Buffers used before NAPI was enabled are picked up now. */
  if (v.rq.vq.moreUsed()) napiSchedule(v.rq.napi);
}

/* virtnet_close(): config changes held back again, NAPI off; rx buffers stay posted. */
function virtnetClose(dev: NetDevice): void {
  const v = vi(dev);
  virtioConfigDriverDisable(v.vdev);
  v.rq.enabled = false;
  v.sq.enabled = false;
}

/* virtnet_stats() */
function virtnetStats(dev: NetDevice, s: Stats64): void {
  const v = vi(dev);
  s.rx_packets += v.rq.stats.packets;
  s.rx_bytes += v.rq.stats.bytes;
  s.rx_dropped += v.rq.stats.drops;
  s.tx_packets += v.sq.stats.packets;
  s.tx_bytes += v.sq.stats.bytes;
}

/* virtnet_config_changed_work(): follow the device's link status. */
function virtnetConfigChangedWork(v: VirtnetInfo): void {
  if (!v.vdev.hasFeature(VIRTIO_NET_F_STATUS)) return;
  const status = v.vdev.cread16(VIRTIO_NET_CFG.STATUS) & VIRTIO_NET_S_LINK_UP;
  if (v.status === status) return;
  v.status = status;
  if (status & VIRTIO_NET_S_LINK_UP) netifCarrierOn(v.dev);
  else netifCarrierOff(v.dev);
}

/*
 * virtnet_send_command(): one request on the control queue, waited for by
 * spinning on the used ring (the kernel busy-waits too).
 */
function virtnetSendCommand(v: VirtnetInfo, cls: number, cmd: number, data: Buffer): boolean {
  const cvq = v.cvq;
  if (!cvq) return false;
  const mem = cvq.mem;
  const hdr = mem.alloc(2);
  const out = mem.alloc(Math.max(data.length, 1));
  const ack = mem.alloc(1);
  try {
    mem.write(hdr, Buffer.from([cls, cmd]));
    mem.write(out, data);
    mem.writeU8(ack, 0xff);
    cvq.addBuf(
      [
        { addr: cvq.dmaAddr(hdr), len: 2 },
        { addr: cvq.dmaAddr(out), len: data.length },
      ],
      [{ addr: cvq.dmaAddr(ack), len: 1 }],
      null,
    );
    if (!cvq.kick()) return false;
    for (let spins = 0; spins < 1000 && !cvq.broken; spins++) if (cvq.getBuf()) return mem.readU8(ack) === VIRTIO_NET_OK;
    return false;
  } finally {
    for (const a of [hdr, out, ack]) mem.free(a);
  }
}

/* virtnet_validate(): config access, feature dependencies, a usable MTU. */
function virtnetValidate(vdev: VirtioDevice): void {
  if (!vdev.hasFeature(VIRTIO_NET_F_CTRL_VQ)) {
    const needsCvq: Array<[number, string]> = [
      [VIRTIO_NET_F_CTRL_RX, 'VIRTIO_NET_F_CTRL_RX'],
      [VIRTIO_NET_F_CTRL_VLAN, 'VIRTIO_NET_F_CTRL_VLAN'],
      [VIRTIO_NET_F_GUEST_ANNOUNCE, 'VIRTIO_NET_F_GUEST_ANNOUNCE'],
      [VIRTIO_NET_F_MQ, 'VIRTIO_NET_F_MQ'],
      [VIRTIO_NET_F_CTRL_MAC_ADDR, 'VIRTIO_NET_F_CTRL_MAC_ADDR'],
      [VIRTIO_NET_F_RSS, 'VIRTIO_NET_F_RSS'],
    ];
    for (const [fbit, fname] of needsCvq) {
      if (vdev.hasFeature(fbit)) {
        /* virtnet_fail_on_feature(): the message has no newline in the kernel either. */
        vdev.kernel.log.kmsg('err', `${vdev.logPrefix()}device advertises feature ${fname} but not VIRTIO_NET_F_CTRL_VQ`);
        fail('EINVAL');
      }
    }
  }
  if (vdev.hasFeature(VIRTIO_NET_F_MTU) && vdev.cread16(VIRTIO_NET_CFG.MTU) < ETH_MIN_MTU) vdev.clearFeature(VIRTIO_NET_F_MTU);
}

/* eth_hw_addr_random(): a locally administered unicast address. */
function randomEtherAddr(): Buffer {
  const b = Buffer.alloc(ETH_ALEN);
  for (let i = 0; i < ETH_ALEN; i++) b[i] = Math.floor(Math.random() * 256);
  b[0] = (b[0] & 0xfe) | 0x02;
  return b;
}

/* virtnet_probe() */
function virtnetProbe(vdev: VirtioDevice): void {
  const k = vdev.kernel;
  const dev = allocEtherdev(k, {
    ndoValidateAddr: ethValidateAddr,
    ndoOpen: virtnetOpen,
    ndoStop: virtnetClose,
    ndoStartXmit: startXmit,
    ndoGetStats64: virtnetStats,
    /* virtnet_init_settings(): no SPEED_DUPLEX, so unknown. */
    getLinkKsettings: () => ({ speed: -1, duplex: 'unknown' }),
  });
  dev.parent = vdev;
  dev.maxMtu = ETH_MAX_MTU;
  const v = new VirtnetInfo(vdev, dev);
  dev.priv = v;
  vdev.priv = v;

  /* Configuration may specify what MAC to use. Otherwise random. */
  if (vdev.hasFeature(VIRTIO_NET_F_MAC)) {
    vdev.cread(VIRTIO_NET_CFG.MAC, ETH_ALEN).copy(dev.devAddr);
  } else {
    randomEtherAddr().copy(dev.devAddr);
    dev.addrAssignType = NET_ADDR_RANDOM;
    k.log.kmsg('info', `${vdev.logPrefix()}Assigned random MAC address ${formatMac(dev.devAddr)}`);
  }
  v.hdrLen = vdev.hasFeature(VIRTIO_NET_F_MRG_RXBUF) || vdev.hasFeature(VIRTIO_F_VERSION_1) ? VIRTIO_NET_HDR_V1_LEN : VIRTIO_NET_HDR_LEN;
  v.hasCvq = vdev.hasFeature(VIRTIO_NET_F_CTRL_VQ);
  if (vdev.hasFeature(VIRTIO_NET_F_MTU)) {
    const mtu = vdev.cread16(VIRTIO_NET_CFG.MTU);
    if (mtu < dev.minMtu) {
      k.log.kmsg('err', `${vdev.logPrefix()}device MTU appears to have changed it is now ${mtu} < ${dev.minMtu}`);
      fail('EINVAL');
    }
    dev.mtu = mtu;
    dev.maxMtu = mtu;
  }
  /* virtnet_set_big_packets(): an MTU above 1500 needs bigger receive buffers. */
  if (dev.mtu > ETH_DATA_LEN) v.rxBufLen = ETH_HLEN + VLAN_HLEN + dev.mtu;

  /* init_vqs(): input.0, output.0, then control. */
  const vqs = virtioFindVqs(vdev, [
    { name: 'input.0', callback: skbRecvDone },
    { name: 'output.0', callback: skbXmitDone },
    { name: v.hasCvq ? 'control' : null, callback: null },
  ]);
  v.rq.vq = vqs[0] as Virtqueue<RxBuf>;
  v.sq.vq = vqs[1] as Virtqueue<TxBuf>;
  v.cvq = vqs[2];
  v.rq.napi = new Napi(dev, (budget) => virtnetPoll(v, budget), NAPI_POLL_WEIGHT);
  v.sq.napi = new Napi(dev, () => virtnetPollTx(v), NAPI_POLL_WEIGHT);

  try {
    registerNetdevice(dev);
  } catch (e) {
    virtioResetDevice(vdev);
    vdev.config.delVqs(vdev);
    throw e;
  }
  /* Disable config change notification until ndo_open. */
  virtioConfigDriverDisable(vdev);
  virtioDeviceReady(vdev);

  /* A random MAC address has been assigned: tell the device. */
  if (!vdev.hasFeature(VIRTIO_NET_F_MAC) && vdev.hasFeature(VIRTIO_NET_F_CTRL_MAC_ADDR)) {
    if (!virtnetSendCommand(v, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, dev.devAddr)) {
      trace('virtio_net: setting MAC address failed');
      unregisterNetdevice(dev);
      virtioResetDevice(vdev);
      vdev.config.delVqs(vdev);
      fail('EINVAL');
    }
  }

  /* Assume link up if device can't report link status, otherwise get link status from config. */
  netifCarrierOff(dev);
  if (vdev.hasFeature(VIRTIO_NET_F_STATUS)) {
    virtioConfigChanged(vdev);
  } else {
    v.status = VIRTIO_NET_S_LINK_UP;
    netifCarrierOn(dev);
  }
  trace('virtnet: registered device %s with 1 RX and TX vq\'s', dev.name);
}

/* free_unused_bufs(): take back what the device never used (after reset). */
function freeUnusedBufs(v: VirtnetInfo): void {
  for (const vq of [v.sq.vq, v.rq.vq] as Array<Virtqueue<RxBuf | TxBuf>>) {
    for (let b = vq.detachUnusedBuf(); b; b = vq.detachUnusedBuf()) vq.mem.free(b.addr);
  }
}

/* virtnet_remove(): the netdev goes, then the device is reset and the queues freed. */
function virtnetRemove(vdev: VirtioDevice): MaybeWait<void> {
  const v = vdev.priv as VirtnetInfo;
  unregisterNetdevice(v.dev);
  /* remove_vq_common() */
  virtioResetDevice(vdev);
  freeUnusedBufs(v);
  vdev.config.delVqs(vdev);
  vdev.priv = null;
}

function virtnetConfigChanged(vdev: VirtioDevice): void {
  virtnetConfigChangedWork(vdev.priv as VirtnetInfo);
}

interface VirtioNetGlobals {
  driver: VirtioDriver;
}

export function virtioNetInit(k: Kernel): void {
  const driver = new VirtioDriver(
    'virtio_net',
    'virtio_net',
    [{ device: VIRTIO_ID_NET, vendor: VIRTIO_DEV_ANY_ID }],
    VIRTIO_NET_FEATURE_TABLE,
    { probe: virtnetProbe, remove: virtnetRemove, validate: virtnetValidate, configChanged: virtnetConfigChanged },
    VIRTIO_NET_FEATURE_TABLE_LEGACY,
  );
  k.global<VirtioNetGlobals>('virtio_net', () => ({ driver }));
  registerVirtioDriver(k, driver);
}

export function virtioNetExit(k: Kernel): MaybeWait<void> {
  const { driver } = k.peekGlobal<VirtioNetGlobals>('virtio_net')!;
  k.dropGlobal('virtio_net');
  return unregisterVirtioDriver(driver);
}
