/*
 * A VMM's own use of /dev/vhost-vdpa-N, from C (src/bench/clients/,
 * compiled here with gcc): the ioctls with what rust-vmm's vhost crate
 * asserts in its vdpa tests, IOTLB messages written to the node, and data
 * through split rings in the client's own memory with eventfds for kick
 * and call, against the default vdpasim_net device and a vdpasim_blk one.
 */
import { spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClients, ClientBinaries } from '../../src/bench/vhost_clients';
import { explain, Mount, mountKernel, scriptEnv, sh } from './harness';
import { daemonFds, settle } from './vmm';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('a C vhost-vdpa client against the mount', () => {
  let m: Mount;
  let bins: ClientBinaries;
  let tmp: string;
  let net: string;
  let blk: string;
  let fdsBefore: string[];

  beforeAll(async () => {
    bins = buildClients();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-client-'));
    m = await mountKernel();
    const r = sh(m, 'vdpafs modprobe vdpa_sim_blk && vdpa dev add name blk0 mgmtdev vdpasim_blk');
    expect(r.status, explain(r, m)).toBe(0);
    const chr = fs.readdirSync(path.join(m.mnt, 'sys/bus/vdpa/devices/blk0')).find((n) => n.startsWith('vhost-vdpa-'));
    net = path.join(m.mnt, 'dev/vhost-vdpa-0');
    blk = path.join(m.mnt, 'dev', chr!);
    fdsBefore = daemonFds(m.daemon.pid!);
  });

  afterAll(async () => {
    await m?.stop();
    bins?.remove();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const client = (...args: string[]): SpawnSyncReturns<string> =>
    spawnSync(bins.client, args, { encoding: 'utf8', timeout: 60_000, env: scriptEnv(m) });
  /* Every check printed `ok`, none `not ok`, and the client says so with its exit status. */
  const expectPassed = (r: SpawnSyncReturns<string>, minChecks: number): void => {
    const why = explain(r, m);
    expect(r.stdout, why).not.toMatch(/^not ok/m);
    expect(r.status, why).toBe(0);
    expect(r.stdout.match(/^ok - /gm)?.length ?? 0, why).toBeGreaterThanOrEqual(minChecks);
  };

  it("vdpasim_net: every ioctl answers as rust-vmm's test_vdpa_kern_ioctls expects (24-byte config, 3 vqs, 2 groups, 2 address spaces), with the kernel's errnos", () => {
    expectPassed(client('ioctls', net, 'net'), 50);
  });

  it('vdpasim_blk: the same with the blk device: device id 2, a 96-byte config, 1 vq, 1 group, 1 address space', () => {
    expectPassed(client('ioctls', blk, 'blk'), 50);
  });

  it('IOTLB messages written to the node as test_vdpa_kern_dma expects; no owner, NULL, overlap fail EFAULT and an update of size 0 EINVAL', () => {
    expectPassed(client('dma', net), 12);
  });

  it("vdpasim_net: frames through rings in the client's memory loop back, the filter drops another MAC, MAC_ADDR_SET works, and vstats count exactly that", async () => {
    const child = spawn(bins.client, ['net', net], { env: { ...scriptEnv(m), VDPA_CLIENT_PAUSE: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const paused = await Promise.race([
      new Promise<boolean>((resolve) => {
        const check = (): void => void (out.includes('# paused') && resolve(true));
        child.stdout.on('data', check);
        check();
      }),
      exited.then(() => false),
    ]);
    let stats: Record<string, unknown>[] = [];
    if (paused) {
      /* While the device still runs: a reset would make vstats EAGAIN. */
      const vstats = (q: number): Record<string, unknown> => {
        const r = sh(m, `vdpa -j dev vstats show vdpa0 qidx ${q}`);
        return r.status === 0 ? JSON.parse(r.stdout).vstats.vdpa0 : { error: r.stderr };
      };
      stats = [vstats(0), vstats(1), vstats(2)];
      child.stdin.end('\n');
    }
    const code = await exited;
    expect(paused, out).toBe(true);
    expect(out, out).not.toMatch(/^not ok/m);
    expect(code, out).toBe(0);
    /* Three 64-byte frames sent (each with its 12-byte header); two came back, one was filtered. */
    expect(stats[1]).toMatchObject({ 'tx packets': 3, 'tx bytes': 3 * 76, 'tx errors': 0 });
    expect(stats[0]).toMatchObject({ 'rx packets': 2, 'rx bytes': 2 * 76, 'rx drops': 1, 'rx overruns': 0, 'rx errors': 0 });
    expect(stats[2]).toMatchObject({ 'cvq requests': 1, 'cvq successes': 1, 'cvq errors': 0 });
  });

  it('vdpasim_blk: random data the client writes with OUT requests reads back through dd on the node, after the client exited', () => {
    /* 1 MiB and 9 sectors: eight full 128 KiB requests and one with a partial segment. */
    const data = randomBytes((1 << 20) + 9 * 512);
    const file = path.join(tmp, 'from-client');
    fs.writeFileSync(file, data);
    expectPassed(client('blk-write', blk, '2048', file), 4);
    const r = sh(m, `dd if="${blk}" iflag=skip_bytes,count_bytes skip=${2048 * 512} count=${data.length} bs=64K status=none | sha256sum`);
    expect(r.status, explain(r, m)).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(sha256(data));
  });

  it('vdpasim_blk: random data dd writes on the node reads back in the client with IN requests', () => {
    const data = randomBytes(300 * 1024);
    const file = path.join(tmp, 'from-dd');
    const back = path.join(tmp, 'back');
    fs.writeFileSync(file, data);
    const r = sh(m, `dd if="${file}" of="${blk}" oflag=seek_bytes seek=$((8 << 20)) bs=64K conv=notrunc status=none`);
    expect(r.status, explain(r, m)).toBe(0);
    expectPassed(client('blk-read', blk, String((8 << 20) / 512), String(data.length), back), 4);
    expect(sha256(fs.readFileSync(back))).toBe(sha256(data));
  });

  it('the daemon holds no file of the clients once they exited: no eventfd, no memory, no pidfd left', async () => {
    expect(await settle(() => daemonFds(m.daemon.pid!), fdsBefore)).toEqual(fdsBefore);
  });
});
