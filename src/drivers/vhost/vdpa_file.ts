/*
 * An open /dev/vhost-vdpa-N: the vhost-vdpa device API (the ioctls and the
 * IOTLB write() of drivers/vhost/vdpa.c and vhost.c) as methods.
 */
import { fail } from '../../kernel/errno';
import type { OpenFile } from '../../fs/kernfs';
import type { VhostVdpa } from './vdpa';

export class VhostVdpaFile {
  constructor(readonly v: VhostVdpa) {}

  /* vhost_vdpa_reset(): vdpa_reset() on the parent. */
  resetDevice(): void {
    this.v.vdpa.config.reset();
  }

  cleanup(): void {}

  /* The raw node: no read (the kernel has no read op), write() carries IOTLB messages. */
  asOpenFile(): OpenFile {
    return {
      read: () => fail('EINVAL'),
      write: () => fail('EINVAL'),
      release: () => this.v.release(),
    };
  }
}
