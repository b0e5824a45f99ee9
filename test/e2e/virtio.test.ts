/*
 * The virtio half through a real mount: virtio_net and virtio_blk on top
 * of virtio_vdpa, data moving between the halves, the kernel log, and the
 * README's walkthrough on a fresh mount.
 */
import { describe, it } from 'vitest';
import { useMount } from './harness';

describe('virtio half (one mount, state reset per script)', () => {
  const script = useMount();

  it('virtio_net: status 0x0000000f and the negotiated features; the netdev\'s attributes; counters after traffic agree with vdpa dev vstats', () =>
    script('virtio_net.sh'));

  it('virtio_blk: sys/block/vdX and its attributes; dd, cmp and sha256sum round-trip through dev/vdX', () => script('virtio_blk.sh'));

  it('a blk device keeps its data moving vhost_vdpa -> virtio_vdpa -> vhost_vdpa -> virtio_vdpa', () => script('virtio_move.sh'));

  it('dmesg: module loads (dmesg -w too), virtio_blk\'s lines, a probe failure, NEEDS_RESET from a malformed ring', () =>
    script('virtio_dmesg.sh'));
});

describe('the walkthrough, second half (a fresh mount)', () => {
  const script = useMount();

  it('the README\'s second half as written: virtio_vdpa, virtio_net, eth0 and traffic, a disk moved from the vhost half', () =>
    script('virtio_walkthrough.sh'));
});
