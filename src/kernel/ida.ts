/* lib/idr.c's IDA: the lowest free id, so a freed number is reused first. */
export class Ida {
  private readonly used = new Set<number>();

  constructor(private readonly max = 0x7fffffff) {}

  alloc(): number {
    for (let id = 0; id <= this.max; id++) {
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
    throw new Error('ida exhausted');
  }

  free(id: number): void {
    this.used.delete(id);
  }
}
