/*
 * net/core/net-sysfs.c: what /sys/class/net/<ifname>/ shows, the
 * statistics/ group, the queues/ kobjects and netdev_uevent().
 *
 * Attributes that only mean something on a running device (carrier,
 * dormant, testing, speed, duplex) fail EINVAL while it is down, as the
 * kernel's do. Writable ones parse like netdev_store() (kstrtoul, base 0).
 */
import { fail } from '../../kernel/errno';
import { KernDir, KernfsNode } from '../../fs/kernfs';
import { attr, roAttr, storeString } from '../../fs/sysfs';
import { kobjectUeventPlain } from '../../kernel/uevent';
import type { MaybeWait } from '../../kernel/completion';
import type { UeventEnv } from '../../drivers/base/core';
import {
  devChangeFlags,
  devGetStats,
  devSetMtu,
  NetDevice,
  netdevOperstate,
  STATS64_FIELDS,
} from './dev';

const IFALIASZ = 256;

/* netdev_uevent(): INTERFACE and IFINDEX, for udev's rules. */
export function netdevUevent(dev: NetDevice): UeventEnv {
  return [
    ['INTERFACE', dev.name],
    ['IFINDEX', String(dev.ifindex)],
  ];
}

/* %pM */
export function formatMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/* kstrtoul(buf, 0): decimal, 0x hex or 0 octal, one trailing newline. */
function kstrtoul(buf: Buffer): number {
  let s = storeString(buf);
  if (s.endsWith('\n')) s = s.slice(0, -1);
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
  else if (/^[1-9][0-9]*$/.test(s)) v = parseInt(s, 10);
  else fail('EINVAL');
  if (!Number.isSafeInteger(v)) fail('ERANGE');
  return v;
}

/* netdev_store(): parse, then apply to a live device; the count on success. */
function netdevStore(dev: NetDevice, set: (v: number) => void) {
  return (buf: Buffer): number => {
    const v = kstrtoul(buf);
    if (dev.netRegistered) set(v);
    return buf.length;
  };
}

function whenRunning(dev: NetDevice, show: () => string): () => string {
  return () => {
    if (!dev.running) fail('EINVAL');
    return show();
  };
}

/* A tunable the model keeps but does not act on (rps_cpus, tx_maxrate...). */
function tunable(name: string, initial: string, mode = 0o644): KernfsNode {
  let value = initial;
  return attr(name, {
    mode,
    show: () => `${value}\n`,
    store:
      mode & 0o200
        ? (buf) => {
            value = storeString(buf).replace(/\n$/, '');
            return buf.length;
          }
        : undefined,
  });
}

/* net_class_attrs */
function netClassAttrs(dev: NetDevice): KernfsNode[] {
  const dec = (n: number) => `${n}\n`;
  return [
    tunable('netdev_group', '0'),
    roAttr('type', () => dec(dev.type)),
    roAttr('dev_id', '0x0\n'),
    roAttr('dev_port', '0\n'),
    roAttr('iflink', () => dec(dev.ifindex)),
    roAttr('ifindex', () => dec(dev.ifindex)),
    roAttr('name_assign_type', () => dec(dev.nameAssignType)),
    roAttr('addr_assign_type', () => dec(dev.addrAssignType)),
    roAttr('addr_len', () => dec(dev.addrLen)),
    roAttr('link_mode', '0\n'),
    roAttr('address', () => `${formatMac(dev.devAddr)}\n`),
    roAttr('broadcast', () => `${formatMac(dev.broadcast)}\n`),
    roAttr(
      'speed',
      whenRunning(dev, () => dec(dev.netdevOps.getLinkKsettings?.(dev).speed ?? -1)),
    ),
    roAttr(
      'duplex',
      whenRunning(dev, () => `${dev.netdevOps.getLinkKsettings?.(dev).duplex ?? 'unknown'}\n`),
    ),
    roAttr('dormant', whenRunning(dev, () => '0\n')),
    roAttr('testing', whenRunning(dev, () => '0\n')),
    roAttr('operstate', () => `${netdevOperstate(dev)}\n`),
    roAttr('carrier_changes', () => dec(dev.carrierUpCount + dev.carrierDownCount)),
    roAttr('carrier_up_count', () => dec(dev.carrierUpCount)),
    roAttr('carrier_down_count', () => dec(dev.carrierDownCount)),
    attr('ifalias', {
      show: () => (dev.ifalias ? `${dev.ifalias}\n` : ''),
      store: (buf) => {
        let s = storeString(buf);
        if (s.endsWith('\n')) s = s.slice(0, -1);
        if (s.length >= IFALIASZ) fail('EINVAL');
        dev.ifalias = s;
        return buf.length;
      },
    }),
    attr('carrier', {
      show: whenRunning(dev, () => `${dev.carrierOk ? 1 : 0}\n`),
      /* carrier_store(): only drivers with ndo_change_carrier (dummy) allow it. */
      store: () => {
        if (!dev.running) fail('EINVAL');
        fail('EOPNOTSUPP');
      },
    }),
    attr('mtu', { show: () => dec(dev.mtu), store: netdevStore(dev, (v) => devSetMtu(dev, v)) }),
    attr('flags', { show: () => `0x${dev.flags.toString(16)}\n`, store: netdevStore(dev, (v) => devChangeFlags(dev, v)) }),
    attr('tx_queue_len', {
      show: () => dec(dev.txQueueLen),
      store: netdevStore(dev, (v) => {
        if (v > 0xffffffff) fail('EINVAL');
        dev.txQueueLen = v;
      }),
    }),
    tunable('gro_flush_timeout', '0'),
    tunable('napi_defer_hard_irqs', '0'),
    tunable('threaded', '0'),
    tunable('proto_down', '0'),
    /* No ndo_get_phys_port_id & co.: the files exist and reading them fails. */
    roAttr('phys_port_id', () => fail('EOPNOTSUPP')),
    roAttr('phys_port_name', () => fail('EOPNOTSUPP')),
    roAttr('phys_switch_id', () => fail('EOPNOTSUPP')),
    statisticsGroup(dev),
  ];
}

/* netstat_group: statistics/<field>, each dev_get_stats() at read time. */
function statisticsGroup(dev: NetDevice): KernDir {
  const dir = new KernDir('statistics');
  for (const f of STATS64_FIELDS) dir.add(roAttr(f, () => `${devGetStats(dev)[f]}\n`));
  return dir;
}

/* rx_queue_default_attrs */
function rxQueueDir(i: number): KernDir {
  const dir = new KernDir(`rx-${i}`);
  dir.add(tunable('rps_cpus', '0'));
  dir.add(tunable('rps_flow_cnt', '0'));
  return dir;
}

/* netdev_queue_default_attrs, with byte_queue_limits/ */
function txQueueDir(i: number): KernDir {
  const dir = new KernDir(`tx-${i}`);
  dir.add(tunable('tx_timeout', '0', 0o444));
  dir.add(tunable('tx_maxrate', '0'));
  dir.add(tunable('xps_cpus', '0'));
  dir.add(tunable('xps_rxqs', '0'));
  const bql = dir.mkdir('byte_queue_limits');
  bql.add(tunable('hold_time', '1000'));
  bql.add(tunable('inflight', '0', 0o444));
  bql.add(tunable('limit', '0'));
  bql.add(tunable('limit_max', '1879048192'));
  bql.add(tunable('limit_min', '0'));
  return dir;
}

/*
 * netdev_register_kobject(): the device (KOBJ_ADD for it), then
 * register_queue_kobjects(): the "queues" kset (no event: not a device)
 * and one kobject per rx then tx queue, each announced (SUBSYSTEM=queues).
 */
export function netdevRegisterKobject(dev: NetDevice, deviceAdd: () => void): void {
  dev.groups.push(() => netClassAttrs(dev));
  deviceAdd();
  const queues = dev.kobj!.mkdir('queues');
  for (let i = 0; i < dev.numRxQueues; i++) {
    const q = queues.add(rxQueueDir(i));
    kobjectUeventPlain(dev.kernel.uevents, q.path(), 'queues', 'add');
  }
  for (let i = 0; i < dev.numTxQueues; i++) {
    const q = queues.add(txQueueDir(i));
    kobjectUeventPlain(dev.kernel.uevents, q.path(), 'queues', 'add');
  }
}

/* netdev_unregister_kobject(): the queue kobjects go (rx then tx), then the device. */
export function netdevUnregisterKobject(dev: NetDevice, deviceDel: () => MaybeWait<void>): MaybeWait<void> {
  const queues = dev.kobj!.get('queues') as KernDir | undefined;
  if (queues) {
    for (const prefix of ['rx-', 'tx-']) {
      for (const q of [...queues.children.values()].filter((n) => n.name.startsWith(prefix))) {
        kobjectUeventPlain(dev.kernel.uevents, q.path(), 'queues', 'remove');
        queues.removeNode(q);
      }
    }
  }
  return deviceDel();
}
