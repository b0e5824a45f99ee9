/*
 * The binding table of linux-vdpa.md §2 and the sysfs write rules, from the
 * shell's point of view, on one mount. Rows no shell can reach (a probe
 * error, EPROBE_DEFER, a failing attach) are in test/unit/driver_core.test.ts.
 */
import { describe, it } from 'vitest';
import { useMount } from './harness';

describe('binding (one mount)', () => {
  const script = useMount();

  it('every errno row a shell can reach: ENODEV, EBUSY, success with links and KOBJ_BIND/UNBIND, drivers_probe, drivers_autoprobe', () =>
    script('errnos.sh'));

  it('write rules: through symlinks, one newline tolerated, echo > truncates, 0-byte writes are no-ops, modes bind root', () =>
    script('writes.sh'));

  it('driver_override: (null), newline and NUL cuts, count 4094 accepted, 4095 and longer EINVAL (never E2BIG)', () =>
    script('override.sh'));

  it('drivers_autoprobe 0 leaves new devices and new drivers unbound; drivers_probe binds by hand', () =>
    script('autoprobe.sh'));

  it('never stale: after a write returns, other processes see no driver link, node or old value', () =>
    script('coherence.sh'));

  it('never stale under load: readers polling in other processes while writers bind, unbind, add and delete devices see no stale state', () =>
    script('coherence_concurrent.sh'));

  it('unbind and vdpa dev del wait while /dev/vhost-vdpa-N is open; the node goes at once; rmmod refuses', () =>
    script('blocking.sh'));
});
