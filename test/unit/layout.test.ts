/*
 * The tree as files: render a kernel's kernfs tree into a memfs volume (dirs,
 * attributes with their modes and what reading them gives, relative
 * symlinks, device nodes) and compare it, whole, with the layout fixtures
 * (test/fixtures/layout/*.txt), which were checked entry by entry against
 * Linux 6.12.19's sources.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Volume } from 'memfs';
import { bootKernel } from '../../src/kernel/boot';
import type { Kernel } from '../../src/kernel/kernel';
import { KernDir, KernFile, KernfsNode, KernLink } from '../../src/fs/kernfs';
import { errnoOf, sysfsRead, sysfsWrite } from './sysfs_io';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { VdpaCmd } from '../../src/include/uapi/vdpa';

const FIXTURES = path.resolve(__dirname, '../fixtures/layout');

interface Rendered {
  vol: InstanceType<typeof Volume>;
  /* Device nodes memfs cannot represent: path → "MAJ:MIN". */
  devnodes: Map<string, string>;
  /* Readable attributes whose read fails: path → errno (EINVAL, EOPNOTSUPP, EIO...). */
  readErrors: Map<string, string>;
}

/* Lay the tree out in memfs as `cp -a` of a real sysfs would, reading each readable attribute once. */
function render(k: Kernel): Rendered {
  const vol = new Volume();
  const devnodes = new Map<string, string>();
  const readErrors = new Map<string, string>();
  const walk = (node: KernfsNode) => {
    const p = node.path();
    if (node instanceof KernDir) {
      if (p !== '/') vol.mkdirSync(p, { mode: node.mode });
      for (const child of node.children.values()) walk(child);
    } else if (node instanceof KernLink) {
      vol.symlinkSync(node.readlink(), p);
    } else if (node instanceof KernFile) {
      let content = '';
      if (node.devt) devnodes.set(p, `${node.devt.major}:${node.devt.minor}`);
      else if (node.mode & 0o444) {
        try {
          content = sysfsRead(k, p);
        } catch (e) {
          readErrors.set(p, errnoOf(() => {
            throw e;
          }));
        }
      }
      vol.writeFileSync(p, content, { encoding: 'latin1', mode: 0o600 });
      vol.chmodSync(p, node.mode);
    }
  };
  walk(k.fs.root);
  return { vol, devnodes, readErrors };
}

/* One line per entry, in the fixture's format. */
function describeEntry(r: Rendered, p: string): string {
  const st = r.vol.lstatSync(p);
  const mode = (Number(st.mode) & 0o777).toString(8);
  if (st.isSymbolicLink()) return `l ${p} -> ${r.vol.readlinkSync(p)}`;
  if (st.isDirectory()) return `d ${mode} ${p}`;
  const dev = r.devnodes.get(p);
  if (dev) return `c ${mode} ${p} ${dev}`;
  if (!(Number(st.mode) & 0o400)) return `f ${mode} ${p}`;
  const err = r.readErrors.get(p);
  if (err) return `f ${mode} ${p} ! ${err}`;
  return `f ${mode} ${p} = ${JSON.stringify(r.vol.readFileSync(p, 'latin1'))}`;
}

function allPaths(r: Rendered, top: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    out.push(p);
    if (r.vol.lstatSync(p).isDirectory()) for (const name of r.vol.readdirSync(p) as string[]) walk(`${p}/${name}`);
  };
  if (r.vol.existsSync(top) || isLink(r, top)) walk(top);
  return out;
}

function isLink(r: Rendered, p: string): boolean {
  try {
    return r.vol.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

interface Fixture {
  exhaustive: string[];
  /* path → expected line; a line ending in " ~" pins everything but the content. */
  entries: Map<string, string>;
}

function loadFixture(name: string, vars: Record<string, string>): Fixture {
  const text = fs.readFileSync(path.join(FIXTURES, name), 'utf8');
  const fx: Fixture = { exhaustive: [], entries: new Map() };
  for (let line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    for (const [k, v] of Object.entries(vars)) line = line.split(`{${k}}`).join(v);
    if (line.startsWith('exhaustive ')) {
      fx.exhaustive.push(line.slice('exhaustive '.length).trim());
      continue;
    }
    const p = line.split(' ')[line.startsWith('l ') ? 1 : 2];
    if (fx.entries.has(p)) throw new Error(`fixture ${name}: ${p} listed twice`);
    fx.entries.set(p, line);
  }
  return fx;
}

function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

/* Every fixture line matches, and nothing unlisted exists below an exhaustive root. */
function expectLayout(r: Rendered, fx: Fixture): void {
  const mismatches: string[] = [];
  for (const [p, want] of fx.entries) {
    let got: string;
    try {
      got = describeEntry(r, p);
    } catch {
      mismatches.push(`missing: ${want}`);
      continue;
    }
    const cmp = want.endsWith(' ~') ? got.replace(/ = ".*"$/, ' ~') : got;
    if (cmp !== want) mismatches.push(`want: ${want}\n   got: ${got}`);
  }
  for (const root of fx.exhaustive) {
    for (const p of allPaths(r, root)) {
      if (!fx.entries.has(p)) mismatches.push(`unexpected: ${describeEntry(r, p)}`);
    }
  }
  expect(mismatches.join('\n')).toBe('');
}

/* Every symlink resolves to something inside the tree (driverctl strips a literal /sys from realpath). */
function expectLinksResolve(r: Rendered): void {
  const dangling: string[] = [];
  for (const p of allPaths(r, '/')) {
    if (!isLink(r, p)) continue;
    try {
      r.vol.statSync(p);
    } catch {
      dangling.push(`${p} -> ${r.vol.readlinkSync(p)}`);
    }
  }
  expect(dangling).toEqual([]);
}

function majorOf(k: Kernel, path = '/sys/devices/vdpa0/vhost-vdpa-0/dev'): string {
  return sysfsRead(k, path).split(':')[0];
}

/* The classic walkthrough's second half up to the override and drivers_probe. */
function moveToVirtio(k: Kernel): void {
  sysfsWrite(k, '/sys/devices/vdpa0/driver_override', 'virtio_vdpa\n');
  k.modules.modprobe('virtio_vdpa');
  sysfsWrite(k, '/sys/devices/vdpa0/driver/unbind', 'vdpa0\n');
  sysfsWrite(k, '/sys/bus/vdpa/drivers_probe', 'vdpa0\n');
}

describe('layout fixtures: the whole tree of each boot state and device kind, entry by entry', () => {
  it('a bare kernel has the sysfs skeleton, no /sys/bus/vdpa and an empty /dev', () => {
    const k = bootKernel({ bare: true });
    const r = render(k);
    expectLayout(r, loadFixture('bare.txt', {}));
  });

  it('net on vhost (the classic walkthrough): vdpa0 at /sys/devices, vhost-vdpa-0 under it, no class, the module graph', () => {
    const k = bootKernel();
    const major = majorOf(k);
    expect(Number(major)).toBeGreaterThanOrEqual(234);
    expect(Number(major)).toBeLessThanOrEqual(254);
    const r = render(k);
    expectLayout(r, loadFixture('classic.txt', { MAJOR: major }));
    expectLinksResolve(r);
  });

  it('after the switch to virtio_vdpa: virtio0 under vdpa0 on bus virtio, unbound, no /dev node, override kept', () => {
    const k = bootKernel();
    const major = majorOf(k);
    moveToVirtio(k);
    const r = render(k);
    expectLayout(r, loadFixture('virtio.txt', { MAJOR: major }));
    expectLinksResolve(r);
  });

  it('net on virtio with virtio_net: eth0 with every net-sysfs attribute, its queues and statistics', () => {
    const k = bootKernel();
    const major = majorOf(k);
    moveToVirtio(k);
    k.modules.modprobe('virtio_net');
    const r = render(k);
    expectLayout(r, loadFixture('virtio_net.txt', { MAJOR: major }));
    expectLinksResolve(r);
  });

  it('blk on virtio with virtio_blk: vda with its queue/, mq/, trace/, integrity/ and the bdi', () => {
    const k = bootKernel({ bare: true });
    for (const m of ['vdpa', 'vdpa_sim_blk', 'virtio_vdpa', 'virtio_blk']) k.modules.modprobe(m);
    vdpaGenl(k, VdpaCmd.DEV_NEW, [
      ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_blk'],
    ]);
    const r = render(k);
    expectLayout(r, loadFixture('virtio_blk.txt', { MAJOR: majorOf(k, '/sys/block/vda/dev') }));
    expectLinksResolve(r);
  });

  it('the rendered store-only attributes stay unreadable, as in the mount', () => {
    const k = bootKernel();
    const r = render(k);
    expect(() => r.vol.readFileSync('/sys/bus/vdpa/drivers/vhost_vdpa/bind')).toThrow(/EACCES/);
    expect(errnoOf(() => sysfsRead(k, '/sys/bus/vdpa/drivers/vhost_vdpa/bind'))).toBe('EACCES');
  });
});
