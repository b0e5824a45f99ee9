/*
 * Through the mount: dd in 1 MiB blocks (O_DIRECT: one 1 MiB FUSE request
 * each) to and from a vdpasim_blk device's node, served by the built-in
 * vhost-vdpa driver, against the same dd on the `disk` file of the minimal
 * server on vdpafs's own transport (minimal_fs.ts) started in the same
 * run. Both file systems run as child processes with the same mount
 * options; both are unmounted at the end, whatever happens.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, run, serve, Served, stop } from './served';


export interface DdResult {
  write: number[]; /* bytes/s per run */
  read: number[];
}

export interface MountDdResults {
  node: string;
  mib: number;
  device: DdResult;
  baseline: DdResult;
}

/* dd's own figure: "N bytes (...) copied, S s, ..." -> bytes/s. */
function dd(args: string[]): number {
  const out = run('dd', [...args, 'bs=1M']);
  const m = /(\d+) bytes .* copied, ([0-9.e+-]+) s/.exec(out);
  if (!m) throw new Error(`cannot parse dd output: ${out}`);
  return Number(m[1]) / Number(m[2]);
}

function ddWrite(file: string, mib: number): number {
  return dd(['if=/dev/zero', `of=${file}`, `count=${mib}`, 'oflag=direct', 'conv=notrunc']);
}

function ddRead(file: string, mib: number): number {
  return dd([`if=${file}`, 'of=/dev/null', `count=${mib}`, 'iflag=direct']);
}

/* Add a vdpasim_blk device bound to vhost_vdpa on the daemon's kernel; returns its node. */
function addBlk(mnt: string): string {
  const env = { ...process.env, VDPAFS_ROOT: mnt, PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}` };
  run(path.join(ROOT, 'bin/vdpafs'), ['modprobe', 'vdpa_sim_blk'], env);
  run(path.join(ROOT, 'bin/vdpa'), ['dev', 'add', 'name', 'benchblk', 'mgmtdev', 'vdpasim_blk'], env);
  const dir = path.join(mnt, 'sys/bus/vdpa/devices/benchblk');
  const chr = fs.readdirSync(dir).find((n) => n.startsWith('vhost-vdpa-'));
  if (!chr) throw new Error('benchblk is not bound to vhost_vdpa');
  return path.join(mnt, 'dev', chr);
}

export async function benchMountDd(opts: { mib?: number; rounds?: number } = {}): Promise<MountDdResults> {
  const mib = opts.mib ?? 128;
  const rounds = opts.rounds ?? 5;
  const served: Served[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of served.splice(0)) await stop(s);
  };
  const onSignal = (): void => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const daemon = await serve('dist/daemon.js', [], 'daemon');
    served.push(daemon);
    const minimal = await serve('dist/bench/minimal_fs.js', [], 'minimal');
    served.push(minimal);
    const node = addBlk(daemon.mnt);
    const file = path.join(minimal.mnt, 'disk');
    const res: MountDdResults = { node, mib, device: { write: [], read: [] }, baseline: { write: [], read: [] } };
    /* Warm-up: the first write allocates the ramdisk's chunks (and the minimal file's pages). */
    ddWrite(node, mib);
    ddWrite(file, mib);
    ddRead(node, mib);
    ddRead(file, mib);
    for (let i = 0; i < rounds; i++) {
      /* Alternate who goes first, so neither always runs on a warmer machine. */
      const pair: Array<[string, DdResult]> = [
        [node, res.device],
        [file, res.baseline],
      ];
      if (i % 2) pair.reverse();
      for (const [f, r] of pair) r.write.push(ddWrite(f, mib));
      for (const [f, r] of pair) r.read.push(ddRead(f, mib));
    }
    return res;
  } finally {
    process.removeListener('SIGINT', onSignal);
    await cleanup();
  }
}
