/*
 * npm run bench [-- --json] [--quick] [--no-mount]
 *
 * In process:
 *  - ring_loopback_*: the ring library alone (benchRingLoopback): driver-side
 *    VirtqueueSplit, device-side vringh through a vhost IOTLB, one copy from
 *    the tx chain into the rx chain; 32 frames per kick, and 1 (unbatched);
 *  - vdpasim_net_loopback_*: the same through the real device: a vdpasim_net
 *    opened through the vhost-vdpa API, the sim's work function doing the
 *    filter, the loopback, the stats and the notifications; 32 frames per
 *    kick. At most 4096 bytes (header included) go through it, so no 64 KiB.
 * The baseline is one Buffer.copy of the same size, in the same run.
 *
 * Through the mount:
 *  - mount_dd.ts: dd of 1 MiB blocks to and from a vdpasim_blk node,
 *    against the same dd on a file of the minimal server on vdpafs's own
 *    transport (minimal_fs.ts), in the same run;
 *  - mount_meta.ts: the attribute cycle on sys/devices/vdpa0/driver_override
 *    against a C libfuse file system serving the same path, and `find sys`
 *    over 1024 devices against a tmpfs copy of the tree.
 *
 * Scale (vdpa_scale.ts): the cost of `vdpa dev add` with 1 Ki and 16 Ki
 * devices present (baseline: the 1 Ki figure), name lookup and delete at
 * 16 Ki, and a daemon's RSS per device over 16 Ki adds (with the mount).
 * `--scale` runs only these.
 *
 * A VMM's costs (vhost_clients.ts, timed in C by src/bench/clients/vdpa_bench.c
 * against a daemon's dev/vhost-vdpa-0): one VHOST_VDPA_GET_STATUS round trip,
 * kick -> used -> call for one 64-byte frame, frames per second of 1500-byte
 * frames with 32 in flight. The ioctl's baseline is the same ioctl answered
 * by the minimal server (minimal_fs.ts) on the same transport.
 *
 * Prints a table; with --json, one {"name","value","unit","baseline","ratio"}
 * object per line instead. For times (unit "s") the ratio is value/baseline
 * (lower is better); for rates it is value/baseline (higher is better).
 */
import { benchBufferCopy, benchRingLoopback, BenchResult } from './ring_loopback';
import { benchSimNetLoopback } from './vdpasim_net_loopback';
import { benchMountDd } from './mount_dd';
import { BenchOutcome, benchVhostClients, Latency } from './vhost_clients';
import { serve, stop } from './served';
import { benchAttrCycle, benchFind } from './mount_meta';
import { benchDaemonRssPerDevice, benchVdpaAddScale } from './vdpa_scale';

interface Row {
  name: string;
  value: number;
  unit: 'packets/s' | 'bytes/s' | 'cycles/s' | 's';
  baseline: number;
  ratio: number;
  note: string;
}

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const quick = argv.includes('--quick');
const noMount = argv.includes('--no-mount');
const scaleOnly = argv.includes('--scale');
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    'Usage: npm run bench [-- [--json] [--quick] [--no-mount] [--scale]]\n\n' +
      'Run the benchmarks and print a table (--json: one object per line).\n' +
      '  --quick     shorter runs\n' +
      '  --no-mount  only the in-process ones (no FUSE mount)\n' +
      '  --scale     only the device-count ones (vdpa dev add at 1 Ki and 16 Ki, RSS per device)\n',
  );
  process.exit(0);
}
const MS = quick ? 150 : 300;
const REPEAT = quick ? 1 : 3;
const BATCH = 32;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/* The median of REPEAT short runs: the dev VM is noisy (±20 %), medians are steadier. */
function measure(f: () => BenchResult): BenchResult {
  const runs = Array.from({ length: REPEAT }, f);
  return { packetsPerSec: median(runs.map((r) => r.packetsPerSec)), bytesPerSec: median(runs.map((r) => r.bytesPerSec)) };
}

const label = (size: number): string => (size % 1024 === 0 ? `${size / 1024}KiB` : `${size}B`);
const useBytes = (size: number): boolean => size >= 4096;

function row(name: string, size: number, r: BenchResult, base: BenchResult, note: string): Row {
  const bytes = useBytes(size);
  const value = bytes ? r.bytesPerSec : r.packetsPerSec;
  const baseline = bytes ? base.bytesPerSec : base.packetsPerSec;
  return { name, value, unit: bytes ? 'bytes/s' : 'packets/s', baseline, ratio: value / baseline, note };
}

function fmt(v: number, unit: string): string {
  if (unit === 'bytes/s') return `${(v / 1e6).toFixed(1)} MB/s`;
  if (unit === 'cycles/s') return `${v.toFixed(0)} /s`;
  if (unit === 's') return `${(v * 1000).toFixed(1)} ms`;
  return `${(v / 1e6).toFixed(3)} Mpps`;
}

function print(rows: Row[]): void {
  if (json) {
    for (const r of rows) process.stdout.write(JSON.stringify({ name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio }) + '\n');
    return;
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`${'benchmark'.padEnd(w)}  ${'value'.padStart(14)}  ${'baseline'.padStart(14)}  ratio  baseline is\n`);
  for (const r of rows)
    process.stdout.write(
      `${r.name.padEnd(w)}  ${fmt(r.value, r.unit).padStart(14)}  ${fmt(r.baseline, r.unit).padStart(14)}  ${r.ratio.toFixed(2).padStart(5)}  ${r.note}\n`,
    );
}

/* Scale figures have no throughput baseline: printed as their own rows. */
function printScale(rows: Array<{ name: string; value: number; unit: string; baseline: number | null; note: string }>): void {
  if (json) {
    for (const r of rows)
      process.stdout.write(JSON.stringify({ name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.baseline ? r.value / r.baseline : null }) + '\n');
    return;
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const ratio = r.baseline ? (r.value / r.baseline).toFixed(2) : '-';
    process.stdout.write(`${r.name.padEnd(w)}  ${`${r.value.toFixed(1)} ${r.unit}`.padStart(16)}  ${ratio.padStart(5)}  ${r.note}\n`);
  }
}

async function scale(): Promise<void> {
  const N = 16384;
  const s = await benchVdpaAddScale([1024, N]);
  const at1k = s.addUs.get(1024)!;
  const at16k = s.addUs.get(N)!;
  const rows = [
    { name: 'vdpa_dev_add_1k', value: at1k.median, unit: 'us/add', baseline: null, note: `median of 256 adds before 1024 devices (mean ${at1k.mean.toFixed(1)})` },
    {
      name: 'vdpa_dev_add_16k',
      value: at16k.median,
      unit: 'us/add',
      baseline: at1k.median,
      note: `median of 256 adds before 16384 devices (mean ${at16k.mean.toFixed(1)}); ratio to 1k`,
    },
    { name: 'vdpa_dev_lookup_16k', value: s.lookupUs, unit: 'us', baseline: null, note: 'vdpa device by name, 16384 present' },
    { name: 'vdpa_dev_del_16k', value: s.delUs, unit: 'us/del', baseline: null, note: 'dev del, 16384 present' },
  ];
  if (!noMount) {
    const daemon = await serve('dist/daemon.js', [], 'daemon');
    try {
      const r = await benchDaemonRssPerDevice(daemon.mnt, daemon.child.pid!, N);
      rows.push({
        name: 'daemon_rss_per_device',
        value: r.perDevice / 1024,
        unit: 'KiB',
        baseline: null,
        note: `VmRSS ${(r.before / 2 ** 20).toFixed(0)} -> ${(r.after / 2 ** 20).toFixed(0)} MiB over ${N} vdpasim_net adds`,
      });
    } finally {
      await stop(daemon);
    }
  }
  printScale(rows);
}

async function main(): Promise<void> {
  if (scaleOnly) return scale();
  const rows: Row[] = [];
  let ring4k: BenchResult | null = null;
  for (const size of [64, 1500, 4096, 65536]) {
    const copy = measure(() => benchBufferCopy(size, MS));
    const ring = measure(() => benchRingLoopback(size, MS, { iotlb: true, batch: BATCH }));
    const ring1 = measure(() => benchRingLoopback(size, MS, { iotlb: true, batch: 1 }));
    if (size === 4096) ring4k = ring;
    rows.push(row(`ring_loopback_${label(size)}`, size, ring, copy, `Buffer.copy ${label(size)}`));
    rows.push(row(`ring_loopback_${label(size)}_unbatched`, size, ring1, copy, `Buffer.copy ${label(size)}`));
    if (size <= 4096) {
      const dev = measure(() => benchSimNetLoopback(size, MS, { batch: BATCH }));
      rows.push(row(`vdpasim_net_loopback_${label(size)}`, size, dev, copy, `Buffer.copy ${label(size)}`));
    }
    if (!json) process.stderr.write('.');
  }
  if (!json) process.stderr.write('\n');
  print(rows);
  if (!json && ring4k !== null) {
    /* For comparison with figures taken against two separately allocated Buffers. */
    const sep = measure(() => benchBufferCopy(4096, MS, 'separate'));
    process.stdout.write(
      `(Buffer.copy 4KiB between two separate Buffer.alloc()s: ${fmt(sep.bytesPerSec, 'bytes/s')}; ring_loopback_4KiB against it: ${(ring4k.bytesPerSec / sep.bytesPerSec).toFixed(2)})\n`,
    );
  }

  await scale();
  if (noMount) return;
  await vhostClientRows();
  const m = await benchMountDd({ mib: 128, rounds: quick ? 2 : 7 });
  const w = median(m.device.write);
  const wb = median(m.baseline.write);
  const r = median(m.device.read);
  const rb = median(m.baseline.read);
  const mrows: Row[] = [
    { name: 'mount_dd_write_1MiB', value: w, unit: 'bytes/s', baseline: wb, ratio: w / wb, note: 'minimal server, same transport' },
    { name: 'mount_dd_read_1MiB', value: r, unit: 'bytes/s', baseline: rb, ratio: r / rb, note: 'minimal server, same transport' },
  ];
  print(mrows);
  if (!json)
    process.stdout.write(
      `(dd bs=1M count=${m.mib} O_DIRECT, median of ${m.device.write.length} runs; device ${m.node})\n` +
        `(write MB/s runs: device ${m.device.write.map((x) => (x / 1e6).toFixed(0)).join(' ')}, baseline ${m.baseline.write.map((x) => (x / 1e6).toFixed(0)).join(' ')})\n` +
        `(read MB/s runs: device ${m.device.read.map((x) => (x / 1e6).toFixed(0)).join(' ')}, baseline ${m.baseline.read.map((x) => (x / 1e6).toFixed(0)).join(' ')})\n`,
    );

  const c = await benchAttrCycle({ rounds: quick ? 2 : 7, seconds: quick ? 0.5 : 1 });
  const cd = median(c.daemon);
  const cm = median(c.minimal);
  const crows: Row[] = [];
  if (c.libfuse) {
    const cl = median(c.libfuse);
    crows.push({ name: 'attr_cycle', value: cd, unit: 'cycles/s', baseline: cl, ratio: cd / cl, note: 'C libfuse 2, timeouts 0, direct_io' });
    crows.push({ name: 'attr_cycle_minimal', value: cm, unit: 'cycles/s', baseline: cl, ratio: cm / cl, note: 'C libfuse 2, timeouts 0, direct_io' });
  }
  crows.push({ name: 'attr_cycle_vs_minimal', value: cd, unit: 'cycles/s', baseline: cm, ratio: cd / cm, note: 'minimal server, same transport' });
  const f = await benchFind({ devices: 1024, rounds: quick ? 3 : 7 });
  const fv = median(f.vdpafs);
  const ft = median(f.tmpfs);
  crows.push({ name: `find_sys_${f.devices}_devices`, value: fv, unit: 's', baseline: ft, ratio: fv / ft, note: `tmpfs copy (${f.entries} entries); ratio = time / tmpfs time` });
  print(crows);
  if (!json) {
    const runs = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');
    process.stdout.write(
      `(attribute cycle = stat + open + read 16 B + close of sys/devices/vdpa0/driver_override, from C; cycles/s per run: ` +
        `daemon ${runs(c.daemon)}, minimal ${runs(c.minimal)}${c.libfuse ? `, libfuse ${runs(c.libfuse)}` : ', libfuse: not built (no libfuse-dev)'})\n` +
        `(find sys ms per run: vdpafs ${f.vdpafs.map((x) => (x * 1000).toFixed(0)).join(' ')}, tmpfs ${f.tmpfs.map((x) => (x * 1000).toFixed(0)).join(' ')})\n`,
    );
  }
}

/* The C clients' figures: a row each, or the reason it could not run (a transport without ioctls). */
async function vhostClientRows(): Promise<void> {
  const v = await benchVhostClients({ quick });
  const rows: Array<{ name: string; outcome: BenchOutcome<number>; unit: 'us' | 'packets/s'; baseline: number | null; note: string }> = [];
  const lat = (o: BenchOutcome<Latency>): BenchOutcome<number> => (o.ok ? { ok: true, value: o.value.median_us } : o);
  const base = v.statusBaseline.ok ? v.statusBaseline.value.median_us : null;
  rows.push({ name: 'vhost_ioctl_get_status', outcome: lat(v.status), unit: 'us', baseline: base, note: 'median of one ioctl; baseline: the minimal server' });
  rows.push({ name: 'vhost_kick_to_call_64B', outcome: lat(v.kick), unit: 'us', baseline: null, note: 'median, kick eventfd write to rx call seen by poll' });
  rows.push({
    name: 'vhost_fps_1500B_32_in_flight',
    outcome: v.fps.ok ? { ok: true, value: v.fps.value.frames_per_sec } : v.fps,
    unit: 'packets/s',
    baseline: null,
    note: 'frames looped back per second',
  });
  if (json) {
    for (const r of rows)
      if (r.outcome.ok)
        process.stdout.write(
          JSON.stringify({ name: r.name, value: r.outcome.value, unit: r.unit, baseline: r.baseline, ratio: r.baseline ? r.outcome.value / r.baseline : null }) + '\n',
        );
    return;
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`${'benchmark'.padEnd(w)}  ${'value'.padStart(14)}  ${'baseline'.padStart(14)}  ratio  measured\n`);
  for (const r of rows) {
    const show = (x: number): string => (r.unit === 'us' ? `${x.toFixed(1)} µs` : `${(x / 1e3).toFixed(1)} kpps`);
    if (!r.outcome.ok) {
      process.stdout.write(`${r.name.padEnd(w)}  not run: ${r.outcome.reason.split('\n')[0]}\n`);
      continue;
    }
    const baseline = r.baseline === null ? '-' : show(r.baseline);
    const ratio = r.baseline === null ? '-' : (r.outcome.value / r.baseline).toFixed(2);
    process.stdout.write(`${r.name.padEnd(w)}  ${show(r.outcome.value).padStart(14)}  ${baseline.padStart(14)}  ${ratio.padStart(5)}  ${r.note}\n`);
  }
  if (v.status.ok)
    process.stdout.write(
      `(GET_STATUS: p10 ${v.status.value.p10_us.toFixed(1)} µs, p90 ${v.status.value.p90_us.toFixed(1)} µs over ${v.status.value.iterations} calls; device ${v.node})\n`,
    );
}

main().catch((e) => {
  process.stderr.write(`bench: ${e?.stack ?? e}\n`);
  process.exit(1);
});
