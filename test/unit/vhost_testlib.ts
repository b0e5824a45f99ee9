/*
 * Shared by the vhost-vdpa and vdpa_sim data-path tests: a kernel with a
 * simulated device bound to vhost_vdpa, an opener with its own memory, and
 * a small QEMU-style driver that brings the device up through the
 * VhostVdpaFile API and hands back driver-side queues (rust-vmm's mock
 * queue: build chains, let the device run, read the raw used ring).
 */
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import { GuestMemory } from '../../src/mm/guest_memory';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';
import { vdpaFindDevice } from '../../src/drivers/vdpa/vdpa';
import type { Vdpasim } from '../../src/drivers/vdpa/vdpa_sim/vdpa_sim';
import type { VhostVdpa } from '../../src/drivers/vhost/vdpa';
import { Eventfd, VhostVdpaFile } from '../../src/drivers/vhost/vdpa_file';
import { VirtqueueSplit } from '../../src/drivers/virtio/virtio_ring';
import { vhostMsgBuild, VHOST_IOTLB_UPDATE } from '../../src/drivers/vhost/vhost_msg';
import { VHOST_MAP_RW } from '../../src/drivers/vhost/iotlb';
import {
  BIT,
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_VERSION_1,
} from '../../src/include/uapi/virtio_config';

/* The opener's memory sits at a user-space-looking address; iova = uaddr - USER_BASE. */
export const USER_BASE = 0x7f00_0000_0000;

/* Short names for the status bits the tests step through. */
export const STATUS_ACK = VIRTIO_CONFIG_S_ACKNOWLEDGE;
export const STATUS_DRIVER = VIRTIO_CONFIG_S_DRIVER;
export const STATUS_DRIVER_OK = VIRTIO_CONFIG_S_DRIVER_OK;
export const STATUS_FEATURES_OK = VIRTIO_CONFIG_S_FEATURES_OK;
export const STATUS_NEEDS_RESET = VIRTIO_CONFIG_S_NEEDS_RESET;

export const BASE_FEATURES = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM);

export interface Rig {
  k: Kernel;
  sim: Vdpasim;
  v: VhostVdpa;
}

/* vdpa0 (vdpasim_net) bound to vhost_vdpa, as the daemon boots; or a vdpasim_blk device. */
export function rig(type: 'net' | 'blk' = 'net', attrs: Array<[string, unknown]> = []): Rig {
  const k = bootKernel();
  let name = 'vdpa0';
  if (type === 'blk') {
    k.modules.modprobe('vdpa_sim_blk');
    name = 'blk0';
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', name],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_blk'],
    ]);
  } else if (attrs.length > 0) {
    vdpaGenl(k, VdpaCmd.DEV_DEL, [['VDPA_ATTR_DEV_NAME', 'vdpa0']]);
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', name],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
      ...(attrs as Array<[never, never]>),
    ]);
  }
  const vdev = vdpaFindDevice(k, name)!;
  return { k, sim: vdev.config as Vdpasim, v: vdev.drvdata as VhostVdpa };
}

export function userMemory(size = 4 << 20): GuestMemory {
  return new GuestMemory([{ base: USER_BASE, size }]);
}

export interface Driver {
  file: VhostVdpaFile;
  mem: GuestMemory;
  vqs: Array<VirtqueueSplit<string>>;
  kicks: Eventfd[];
  calls: Eventfd[];
  iova(cpu: number): number;
}

export interface UpOptions {
  features?: bigint;
  /* How the opener's memory is mapped: all of it RW (default), or nothing (identity/passthrough). */
  map?: 'rw' | 'none';
  num?: number;
  /* Stop before DRIVER_OK. */
  noDriverOk?: boolean;
  /* Backend features to ack (default MSG_V2 | BATCH). */
  backend?: bigint;
}

/* The QEMU sequence of linux-vdpa.md §5.5 on an open file. */
export function up(file: VhostVdpaFile, mem: GuestMemory, opts: UpOptions = {}): Driver {
  const map = opts.map ?? 'rw';
  const iova = (cpu: number): number => (map === 'rw' ? cpu - USER_BASE : cpu);
  if (!file.owner) file.setOwner();
  file.setBackendFeatures(file.getBackendFeatures() & (opts.backend ?? 0x6n));
  const features = opts.features ?? file.getFeatures();
  const num = opts.num ?? file.getVringNum();
  const nvqs = file.getVqsCount();
  file.setStatus(STATUS_ACK);
  file.setStatus(STATUS_ACK | STATUS_DRIVER);
  file.setFeatures(features);
  file.setStatus(STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (map === 'rw') {
    const r = mem.regions[0];
    file.iotlbWrite(vhostMsgBuild({ iotlb: { type: VHOST_IOTLB_UPDATE, iova: 0n, size: BigInt(r.size), uaddr: BigInt(r.base), perm: VHOST_MAP_RW } }));
  }
  const vqs: Array<VirtqueueSplit<string>> = [];
  const kicks: Eventfd[] = [];
  const calls: Eventfd[] = [];
  for (let i = 0; i < nvqs; i++) {
    const kick = new Eventfd();
    const call = new Eventfd();
    const vq = new VirtqueueSplit<string>({ mem, num, index: i, dmaAddr: iova, notify: () => kick.signal() });
    file.setVringNum(i, num);
    file.setVringAddr(i, vq.ringDma);
    file.setVringBase(i, 0);
    file.setVringKick(i, kick);
    file.setVringCall(i, call);
    file.setVringEnable(i, true);
    vqs.push(vq);
    kicks.push(kick);
    calls.push(call);
  }
  if (!opts.noDriverOk) file.setStatus(STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  return { file, mem, vqs, kicks, calls, iova };
}

/* The used ring as raw bytes: le16 flags, le16 idx, then {le32 id, le32 len} per element. */
export function usedRing(flags: number, idx: number, elems: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(4 + 8 * elems.length);
  b.writeUInt16LE(flags, 0);
  b.writeUInt16LE(idx, 2);
  elems.forEach(([id, len], k) => {
    b.writeUInt32LE(id, 4 + 8 * k);
    b.writeUInt32LE(len, 8 + 8 * k);
  });
  return b;
}

/* The first n used elements of a driver queue, raw. */
export function rawUsed(vq: VirtqueueSplit<unknown>, n: number): Buffer {
  return vq.mem.read(vq.usedAddr, 4 + 8 * n);
}

/* An Ethernet frame behind a zeroed virtio_net_hdr_v1. */
export function netFrame(dst: string, payload = 'hello', src = '00:11:22:33:44:55'): Buffer {
  const mac = (m: string): Buffer => Buffer.from(m.split(':').map((h) => parseInt(h, 16)));
  return Buffer.concat([Buffer.alloc(12), mac(dst), mac(src), Buffer.from([0x08, 0x00]), Buffer.from(payload)]);
}

export function vstats(k: Kernel, dev: string, qidx: number): Record<string, number> {
  const msg = vdpaGenl(k, VdpaCmd.DEV_VSTATS_GET, [
    ['VDPA_ATTR_DEV_NAME', dev],
    ['VDPA_ATTR_DEV_QUEUE_INDEX', qidx],
  ]) as { msgs: Array<Array<[string, unknown]>> };
  const out: Record<string, number> = {};
  let name = '';
  for (const [a, v] of msg.msgs[0]) {
    if (a === 'VDPA_ATTR_DEV_VENDOR_ATTR_NAME') name = v as string;
    if (a === 'VDPA_ATTR_DEV_VENDOR_ATTR_VALUE') out[name] = Number(v);
  }
  return out;
}
