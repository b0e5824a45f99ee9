/*
 * The uevents of the classic workflow's virtio half, exactly as
 * `vdpafs monitor --property` prints them, on a freshly booted kernel.
 */
import { describe, it } from 'vitest';
import { useMount } from './harness';

describe('uevents (a fresh classic mount)', () => {
  const script = useMount();

  it('override, modprobe virtio_vdpa, unbind, drivers_probe, modprobe virtio_net, a synthesized change, dev del: every event in order', () =>
    script('virtio_uevents.sh'));
});
