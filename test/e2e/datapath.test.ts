/*
 * The virtqueue data path through the real mount (issue 3): the built-in
 * userspace driver behind dev/vhost-vdpa-N, driven by bash, dd, cmp and
 * sha256sum, with vdpa's config and vstats checked against it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, Mount, mountKernel, runScript } from './harness';

describe('data path (one mount)', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await mountKernel();
  });
  afterAll(async () => {
    await m?.stop();
  });

  const script = (name: string) => {
    const r = runScript(m, name);
    expect(r.status, explain(r, m)).toBe(0);
  };

  it('net: a frame round trip, a dropped frame counted in vstats, EBUSY for a second open, config show and dev set mac', () =>
    script('datapath_net.sh'));

  it('blk: st_size is the capacity; random data round-trips through dd and checks with sha256sum and cmp; unaligned I/O; ENOSPC at the end', () =>
    script('datapath_blk.sh'));

  it('unbind and vdpa dev del while the node is open wait for the close; the open file keeps working meanwhile', () =>
    script('datapath_unbind.sh'));
});
