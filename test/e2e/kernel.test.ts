/*
 * The kernel behind a real mount, driven from bash: the classic workflow
 * from a bare boot, modules as kmod shows them, /dev minors and majors.
 * One daemon for the file; each script starts from a state it sets up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, Mount, mountKernel, runScript } from './harness';

describe('kernel (one bare mount)', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel({ bare: true });
  });
  afterAll(async () => {
    await m?.stop();
  });

  const script = (name: string) => {
    const r = runScript(m, name);
    expect(r.status, explain(r, m)).toBe(0);
  };

  it('the classic workflow: bare boot, modprobe, dev add, override, unbind, drivers_probe, dev del, rmmod', () =>
    script('workflow.sh'));

  it('modules: /sys/module/NAME, rmmod refusals with kmod messages, load attaches, unload unbinds or deletes', () =>
    script('modules.sh'));

  it('vhost-vdpa minors are the lowest free, a rebind gets its number back, dev/sys/dev/char agree on the major', () =>
    script('minors.sh'));
});
