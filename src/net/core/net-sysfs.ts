/*
 * net/core/net-sysfs.c: what /sys/class/net/<ifname>/ shows, the
 * statistics/ group, the queues/ kobjects and netdev_uevent().
 *
 * Every attribute is the kernel's, with its show format, its parser and
 * its refusals: netdev_store() parses with kstrtoul() base 0 and then
 * applies the value with the device's own rules (dev_set_mtu() EINVAL out
 * of range, tx_queue_len ERANGE above u32, proto_down EOPNOTSUPP where the
 * driver cannot, carrier EOPNOTSUPP without ndo_change_carrier even while
 * down); attributes that only mean something on a running device
 * (carrier, dormant, testing, speed, duplex) fail EINVAL while it is down.
 * The queue directories follow CONFIG_RPS, CONFIG_XPS and CONFIG_BQL: a
 * single-queue device has no traffic class, so traffic_class and xps_cpus
 * fail ENOENT; byte_queue_limits/ takes "max" or a decimal u32, and keeps
 * hold_time and stall_thrs in jiffies (CONFIG_HZ, src/kernel/config.ts).
 */
import { fail } from '../../kernel/errno';
import { KernDir, KernfsNode } from '../../fs/kernfs';
import { attr, roAttr, storeString } from '../../fs/sysfs';
import { kobjectUeventPlain } from '../../kernel/uevent';
import type { MaybeWait } from '../../kernel/completion';
import type { UeventEnv } from '../../drivers/base/core';
import { kstrtoul, kstrtouint } from '../../lib/kstrtox';
import { bitmapParse, bitmapString } from '../../lib/bitmap';
import { jiffiesToMsecs, msecsToJiffies, NR_CPU_IDS } from '../../kernel/config';
import {
  devChangeFlags,
  devGetStats,
  devSetMtu,
  DQL_MAX_LIMIT,
  NetDevice,
  netdevOperstate,
  NetdevQueue,
  NetdevRxQueue,
  STATS64_FIELDS,
} from './dev';

const IFALIASZ = 256;
const S32_MAX = 0x7fff_ffff;
const U32_MAX = 0xffff_ffffn;

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

/* (int) of an unsigned long, as the setters cast it. */
const toInt = (v: bigint) => Number(BigInt.asIntN(32, v));

/* dev_isalive(): registered and not yet unregistering. */
const alive = (dev: NetDevice) => dev.netRegistered;

/* netdev_show(): EINVAL once the device is going away. */
function netdevShow(dev: NetDevice, format: () => string): () => string {
  return () => {
    if (!alive(dev)) fail('EINVAL');
    return format();
  };
}

/*
 * netdev_store(): kstrtoul(buf, 0), then the setter on a live device; the
 * count on success, 0 if the device is going away.
 */
function netdevStore(dev: NetDevice, set: (v: bigint) => void) {
  return (buf: Buffer): number => {
    const v = kstrtoul(buf, 0);
    if (!alive(dev)) return 0;
    set(v);
    return buf.length;
  };
}

function whenRunning(dev: NetDevice, show: () => string): () => string {
  return () => {
    if (!dev.running) fail('EINVAL');
    return show();
  };
}

/* net_class_attrs */
function netClassAttrs(dev: NetDevice): KernfsNode[] {
  const dec = (n: number | bigint) => `${n}\n`;
  const ro = (name: string, show: () => string) => roAttr(name, netdevShow(dev, show));
  return [
    attr('netdev_group', {
      show: netdevShow(dev, () => dec(dev.group)),
      store: netdevStore(dev, (v) => (dev.group = toInt(v))),
    }),
    ro('type', () => dec(dev.type)),
    ro('dev_id', () => '0x0\n'),
    ro('dev_port', () => '0\n'),
    roAttr('iflink', () => dec(dev.ifindex)),
    ro('ifindex', () => dec(dev.ifindex)),
    ro('name_assign_type', () => dec(dev.nameAssignType)),
    ro('addr_assign_type', () => dec(dev.addrAssignType)),
    ro('addr_len', () => dec(dev.addrLen)),
    ro('link_mode', () => '0\n'),
    ro('address', () => `${formatMac(dev.devAddr)}\n`),
    ro('broadcast', () => `${formatMac(dev.broadcast)}\n`),
    roAttr(
      'speed',
      whenRunning(dev, () => dec(dev.netdevOps.getLinkKsettings?.(dev).speed ?? fail('EINVAL'))),
    ),
    roAttr(
      'duplex',
      whenRunning(dev, () => `${dev.netdevOps.getLinkKsettings?.(dev).duplex ?? fail('EINVAL')}\n`),
    ),
    roAttr('dormant', whenRunning(dev, () => '0\n')),
    roAttr('testing', whenRunning(dev, () => '0\n')),
    roAttr('operstate', () => `${netdevOperstate(dev)}\n`),
    roAttr('carrier_changes', () => dec(dev.carrierUpCount + dev.carrierDownCount)),
    attr('ifalias', {
      show: () => {
        const nul = dev.ifalias.indexOf(0);
        const s = dev.ifalias.toString('latin1', 0, nul === -1 ? dev.ifalias.length : nul);
        return s ? `${s}\n` : '';
      },
      /* ifalias_store(): one trailing newline is not part of it; IFALIASZ - 1 bytes at most. */
      store: (buf) => {
        const count = buf.length && buf[buf.length - 1] === 0x0a ? buf.length - 1 : buf.length;
        if (!alive(dev)) return 0;
        if (count >= IFALIASZ) fail('EINVAL');
        dev.ifalias = Buffer.from(buf.subarray(0, count));
        return buf.length;
      },
    }),
    attr('carrier', {
      show: whenRunning(dev, () => `${dev.carrierOk ? 1 : 0}\n`),
      /* carrier_store(): EOPNOTSUPP before anything else without ndo_change_carrier. */
      store: (buf) => {
        const change = dev.netdevOps.ndoChangeCarrier;
        if (!change) fail('EOPNOTSUPP');
        return netdevStore(dev, (v) => {
          if (!dev.running) fail('EINVAL');
          change(dev, v !== 0n);
        })(buf);
      },
    }),
    attr('mtu', { show: netdevShow(dev, () => dec(dev.mtu)), store: netdevStore(dev, (v) => devSetMtu(dev, toInt(v))) }),
    attr('flags', {
      show: netdevShow(dev, () => `0x${dev.flags.toString(16)}\n`),
      store: netdevStore(dev, (v) => devChangeFlags(dev, Number(BigInt.asUintN(32, v)))),
    }),
    attr('tx_queue_len', {
      /* An unsigned int shown with "%d". */
      show: netdevShow(dev, () => dec(dev.txQueueLen | 0)),
      store: netdevStore(dev, (v) => {
        if (v > U32_MAX) fail('ERANGE');
        dev.txQueueLen = Number(v);
      }),
    }),
    attr('gro_flush_timeout', {
      show: netdevShow(dev, () => dec(dev.groFlushTimeout)),
      store: netdevStore(dev, (v) => (dev.groFlushTimeout = v)),
    }),
    attr('napi_defer_hard_irqs', {
      show: netdevShow(dev, () => dec(dev.napiDeferHardIrqs)),
      store: netdevStore(dev, (v) => {
        if (v > BigInt(S32_MAX)) fail('ERANGE');
        dev.napiDeferHardIrqs = Number(v);
      }),
    }),
    /* No ndo_get_phys_port_id & co.: the files exist and reading them fails. */
    roAttr('phys_port_id', () => fail('EOPNOTSUPP')),
    roAttr('phys_port_name', () => fail('EOPNOTSUPP')),
    roAttr('phys_switch_id', () => fail('EOPNOTSUPP')),
    attr('proto_down', {
      show: netdevShow(dev, () => dec(dev.protoDown ? 1 : 0)),
      /* dev_change_proto_down(): only drivers that set change_proto_down. */
      store: netdevStore(dev, (v) => {
        if (!dev.changeProtoDown) fail('EOPNOTSUPP');
        dev.protoDown = v !== 0n;
      }),
    }),
    roAttr('carrier_up_count', () => dec(dev.carrierUpCount)),
    roAttr('carrier_down_count', () => dec(dev.carrierDownCount)),
    attr('threaded', {
      show: netdevShow(dev, () => dec(dev.threaded ? 1 : 0)),
      /* modify_napi_threaded(): NAPI needed, and only 0 or 1. */
      store: netdevStore(dev, (v) => {
        if (!dev.napiCount) fail('EOPNOTSUPP');
        if (v !== 0n && v !== 1n) fail('EOPNOTSUPP');
        dev.threaded = v === 1n;
      }),
    }),
    statisticsGroup(dev),
  ];
}

/* netstat_group: statistics/<field>, each dev_get_stats() at read time. */
function statisticsGroup(dev: NetDevice): KernDir {
  const dir = new KernDir('statistics');
  for (const f of STATS64_FIELDS) dir.add(roAttr(f, netdevShow(dev, () => `${devGetStats(dev)[f]}\n`)));
  return dir;
}

/* netif_is_multiqueue(): more than one tx queue. */
const multiqueue = (dev: NetDevice) => dev.numTxQueues > 1;

/* rx_queue_default_attrs (CONFIG_RPS): rps_cpus, rps_flow_cnt. */
function rxQueueDir(dev: NetDevice, q: NetdevRxQueue, i: number): KernDir {
  const dir = new KernDir(`rx-${i}`);
  dir.add(
    attr('rps_cpus', {
      show: () => `${bitmapString(q.rpsMap, NR_CPU_IDS)}\n`,
      /* store_rps_map(): a CPU mask; CPUs that are not online are dropped (all are here). */
      store: (buf) => {
        q.rpsMap = bitmapParse(buf, NR_CPU_IDS);
        return buf.length;
      },
    }),
  );
  dir.add(
    attr('rps_flow_cnt', {
      show: () => `${q.rpsFlowCnt}\n`,
      /* store_rps_dev_flow_table_cnt(): rounded up to a power of two, the mask must fit a u32. */
      store: (buf) => {
        const count = kstrtoul(buf, 0);
        if (count === 0n) q.rpsFlowCnt = 0n;
        else {
          let mask = count - 1n;
          while ((mask | (mask >> 1n)) !== mask) mask |= mask >> 1n;
          if (mask > U32_MAX) fail('EINVAL');
          q.rpsFlowCnt = mask + 1n;
        }
        return buf.length;
      },
    }),
  );
  return dir;
}

/* bql_set(): "max" or a decimal u32 up to DQL_MAX_LIMIT. */
function bqlSet(buf: Buffer, set: (v: number) => void): number {
  const s = storeString(buf);
  if (s === 'max' || s === 'max\n') set(DQL_MAX_LIMIT);
  else {
    const v = kstrtouint(buf, 10);
    if (v > DQL_MAX_LIMIT) fail('EINVAL');
    set(v);
  }
  return buf.length;
}

/* dql_group: byte_queue_limits/ (CONFIG_BQL). */
function dqlGroup(q: NetdevQueue): KernDir {
  const dql = q.dql;
  const dir = new KernDir('byte_queue_limits');
  const limit = (name: string, get: () => number, set: (v: number) => void) =>
    dir.add(attr(name, { show: () => `${get()}\n`, store: (buf) => bqlSet(buf, set) }));
  limit('limit', () => dql.limit, (v) => (dql.limit = v));
  limit('limit_max', () => dql.maxLimit, (v) => (dql.maxLimit = v));
  limit('limit_min', () => dql.minLimit, (v) => (dql.minLimit = v));
  dir.add(
    attr('hold_time', {
      show: () => `${jiffiesToMsecs(dql.slackHoldTime)}\n`,
      store: (buf) => {
        dql.slackHoldTime = msecsToJiffies(kstrtouint(buf, 10));
        return buf.length;
      },
    }),
  );
  dir.add(roAttr('inflight', () => `${dql.numQueued - dql.numCompleted}\n`));
  dir.add(
    attr('stall_thrs', {
      show: () => `${jiffiesToMsecs(dql.stallThrs)}\n`,
      /* bql_set_stall_thrs(): 0 turns it off; otherwise 4..2*BITS_PER_LONG jiffies, else ERANGE. */
      store: (buf) => {
        const j = msecsToJiffies(kstrtouint(buf, 10));
        if (j && (j < 4 || j > 128)) fail('ERANGE');
        dql.stallThrs = j;
        return buf.length;
      },
    }),
  );
  dir.add(roAttr('stall_cnt', () => `${dql.stallCnt}\n`));
  /* bql_set_stall_max(): any write resets it. */
  dir.add(
    attr('stall_max', {
      show: () => `${dql.stallMax}\n`,
      store: (buf) => {
        dql.stallMax = 0;
        return buf.length;
      },
    }),
  );
  return dir;
}

/* netdev_queue_default_attrs (CONFIG_XPS), with byte_queue_limits/ when the device uses BQL. */
function txQueueDir(dev: NetDevice, q: NetdevQueue, i: number): KernDir {
  const dir = new KernDir(`tx-${i}`);
  dir.add(roAttr('tx_timeout', () => `${q.transTimeout}\n`));
  /* traffic_class_show(): a single-queue device has no traffic classes. */
  dir.add(
    roAttr('traffic_class', () => {
      if (!multiqueue(dev)) fail('ENOENT');
      return '0\n';
    }),
  );
  /* xps_cpus_show()/_store(): ENOENT on a single-queue device, before anything else. */
  dir.add(
    attr('xps_cpus', {
      show: () => {
        if (!multiqueue(dev)) fail('ENOENT');
        return `${bitmapString(q.xpsCpus, NR_CPU_IDS)}\n`;
      },
      store: (buf) => {
        if (!multiqueue(dev)) fail('ENOENT');
        q.xpsCpus = bitmapParse(buf, NR_CPU_IDS);
        return buf.length;
      },
    }),
  );
  dir.add(
    attr('xps_rxqs', {
      show: () => `${bitmapString(q.xpsRxqs, dev.numRxQueues)}\n`,
      store: (buf) => {
        q.xpsRxqs = bitmapParse(buf, dev.numRxQueues);
        return buf.length;
      },
    }),
  );
  dir.add(
    attr('tx_maxrate', {
      show: () => `${q.txMaxrate}\n`,
      /* tx_maxrate_store(): EOPNOTSUPP before parsing without ndo_set_tx_maxrate. */
      store: (buf) => {
        const set = dev.netdevOps.ndoSetTxMaxrate;
        if (!set) fail('EOPNOTSUPP');
        const rate = kstrtouint(buf, 10);
        set(dev, i, rate);
        q.txMaxrate = rate;
        return buf.length;
      },
    }),
  );
  dir.add(dqlGroup(q));
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
    const q = queues.add(rxQueueDir(dev, dev.rx[i], i));
    kobjectUeventPlain(dev.kernel.uevents, q.path(), 'queues', 'add');
  }
  for (let i = 0; i < dev.numTxQueues; i++) {
    const q = queues.add(txQueueDir(dev, dev.tx[i], i));
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
