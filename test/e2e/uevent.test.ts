/*
 * The uevents of the classic workflow's virtio half, exactly as
 * `vdpafs monitor --property` prints them, on a freshly booted kernel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, Mount, mountKernel, runScript } from './harness';

describe('uevents (a fresh classic mount)', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel();
  });
  afterAll(async () => {
    await m?.stop();
  });

  it('override, modprobe virtio_vdpa, unbind, drivers_probe, modprobe virtio_net, a synthesized change, dev del: every event in order', () => {
    const r = runScript(m, 'virtio_uevents.sh');
    expect(r.status, explain(r, m)).toBe(0);
  });
});
