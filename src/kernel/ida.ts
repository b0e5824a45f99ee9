/*
 * lib/idr.c's IDA: the lowest free id, so a freed number is reused first.
 *
 * The kernel keeps a radix tree of bitmaps; here the ids below the
 * high-water mark that were freed wait in a min-heap, so alloc and free
 * cost O(log N) whatever N is (a scan from 0 made adding the N-th device
 * cost O(N)).
 */
import { fail } from './errno';

export class Ida {
  private readonly used = new Set<number>();
  /* Every id below this has been handed out at least once. */
  private next = 0;
  /* Freed ids below `next`, smallest first. */
  private readonly freed: number[] = [];

  constructor(private readonly max = 0x7fffffff) {}

  /* ida_alloc_max(): -ENOSPC once every id up to max is taken. */
  alloc(): number {
    const id = this.freed.length ? this.popMin() : this.next <= this.max ? this.next++ : fail('ENOSPC');
    this.used.add(id);
    return id;
  }

  free(id: number): void {
    if (!this.used.delete(id)) return;
    this.push(id);
  }

  get size(): number {
    return this.used.size;
  }

  private push(id: number): void {
    const h = this.freed;
    let i = h.push(id) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent] <= h[i]) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private popMin(): number {
    const h = this.freed;
    const min = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l] < h[m]) m = l;
        if (r < h.length && h[r] < h[m]) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return min;
  }
}
