/*
 * The virtqueue data path through the real mount (issue 3): the built-in
 * userspace driver behind dev/vhost-vdpa-N, driven by bash, dd, cmp and
 * sha256sum, with vdpa's config and vstats checked against it.
 */
import { describe, it } from 'vitest';
import { useMount } from './harness';

describe('data path (one mount)', () => {
  const script = useMount();

  it('net: a frame round trip, a dropped frame counted in vstats, EBUSY for a second open, config show and dev set mac', () =>
    script('datapath_net.sh'));

  it('blk: st_size is the capacity; random data round-trips through dd and checks with sha256sum and cmp; unaligned I/O; ENOSPC at the end', () =>
    script('datapath_blk.sh'));

  it('unbind and vdpa dev del while the node is open wait for the close; the open file keeps working meanwhile', () =>
    script('datapath_unbind.sh'));
});
