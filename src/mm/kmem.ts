/*
 * The host kernel's own memory: what kmalloc() and dma_alloc_coherent()
 * hand the in-kernel virtio drivers for their rings and buffers.
 *
 * It is a GuestMemory like any other (the driver side lays rings out in
 * it; vdpa_sim bound to virtio_vdpa reaches it through a
 * PassthroughAddressSpace), one per Kernel, starting empty and growing by
 * 16 MiB regions as allocations need them. Addresses start at 4 GiB so
 * they never look like small offsets.
 */
import { GuestMemory } from './guest_memory';
import { KernelError } from '../kernel/errno';
import type { Kernel } from '../kernel/kernel';

const KMEM_BASE = 0x1_0000_0000;
const KMEM_CHUNK = 16 << 20;

export class KernelMemory extends GuestMemory {
  /* Allocate, adding a region when none has room (the page allocator never says no here). */
  override alloc(size: number, align = 8): number {
    try {
      return super.alloc(size, align);
    } catch (e) {
      if (!(e instanceof KernelError) || e.errno !== 'ENOMEM') throw e;
    }
    const last = this.regions[this.regions.length - 1];
    const base = last ? last.base + last.size : KMEM_BASE;
    this.addRegion(base, Math.max(KMEM_CHUNK, size + align));
    return super.alloc(size, align);
  }
}

/* The kernel's memory, made on first use. */
export function kernelMemory(k: Kernel): KernelMemory {
  return k.global<KernelMemory>('kmem', () => new KernelMemory());
}
