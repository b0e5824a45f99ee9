/*
 * A user address space as the kernel reaches it from outside the task:
 * struct mm_struct seen through copy_from_user/copy_to_user (or, for a
 * device that pinned the pages, through those pages).
 *
 * Two kinds exist:
 *  - memory the model holds itself (GuestMemory: a test's "process", the
 *    shell driver's buffers). It can hand out Buffers over its bytes, so
 *    the data path reads and writes it in place (translate());
 *  - another process's memory (src/host/user_mm.ts, /proc/<tgid>/mem). It
 *    is copy-based: every access is a read or a write at an address, and
 *    there is no translate().
 *
 * Accesses throw MemoryFault (an EFAULT KernelError) where the address is
 * not mapped, or not mapped with the access asked for; never a crash.
 */
import type { Access, Translation } from './guest_memory';

export interface UserMm {
  /* copy_from_user(): len bytes at addr into dst[dstOff...]. */
  readInto(addr: number, dst: Uint8Array, dstOff: number, len: number): void;
  /* copy_to_user(): len bytes of src[srcOff...] to addr. */
  write(addr: number, src: Uint8Array, srcOff: number, len: number): void;
  /*
   * The zero-copy path: the contiguous piece at addr as a Buffer (see
   * AddressSpace.translate). Absent for copy-based memory.
   */
  translate?(addr: number, len: number, access: Access, out?: Translation): Translation;
  /*
   * pin_user_pages() of [addr, addr+size): would every page be there, and
   * writable if `write`? What vhost_vdpa_pa_map() checks when an IOTLB
   * update arrives (vdpa_sim with use_va=0).
   */
  pinnable(addr: bigint, size: bigint, write: boolean): boolean;
  /* Bumped when a Buffer handed out by translate() may have gone stale. */
  readonly generation: number;
  /* mmput(): the holder of this reference is done with it. */
  mmput(): void;
}
