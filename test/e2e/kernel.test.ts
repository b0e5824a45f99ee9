/*
 * The kernel behind a real mount, driven from bash: the classic workflow
 * from a bare boot, modules as kmod shows them, /dev minors and majors.
 * One daemon for the file; each script starts from a state it sets up.
 */
import { describe, it } from 'vitest';
import { useMount } from './harness';

describe('kernel (one bare mount)', () => {
  const script = useMount({ bare: true });

  it('the classic workflow: bare boot, modprobe, dev add, override, unbind, drivers_probe, dev del, rmmod', () =>
    script('workflow.sh'));

  it('modules: /sys/module/NAME, rmmod refusals with kmod messages, load attaches, unload unbinds or deletes', () =>
    script('modules.sh'));

  it('vhost-vdpa minors are the lowest free, a rebind gets its number back, dev/sys/dev/char agree on the major', () =>
    script('minors.sh'));
});
