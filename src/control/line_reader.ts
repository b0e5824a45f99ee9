/*
 * Newline-delimited lines out of a byte stream, with a bound: a line longer
 * than `maxBytes` is reported once as too long and dropped up to its
 * newline, without ever being held in memory. Each chunk is scanned once,
 * so a megabyte that trickles in a byte at a time costs what it costs in
 * one piece (a string that is appended to and re-searched would be
 * quadratic).
 */
export class LineReader {
  private parts: Buffer[] = [];
  private held = 0;
  private dropping = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.hold(chunk.subarray(start));
        return;
      }
      const tail = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.dropping) {
        this.dropping = false;
        continue;
      }
      if (this.held + tail.length > this.maxBytes) {
        this.reset();
        this.onTooLong();
        continue;
      }
      const line = this.held ? Buffer.concat([...this.parts, tail]).toString('utf8') : tail.toString('utf8');
      this.reset();
      this.onLine(line);
    }
  }

  private hold(part: Buffer): void {
    if (this.dropping || !part.length) return;
    if (this.held + part.length > this.maxBytes) {
      this.reset();
      this.dropping = true;
      this.onTooLong();
      return;
    }
    /* A copy: the socket may reuse the chunk's memory. */
    this.parts.push(Buffer.from(part));
    this.held += part.length;
  }

  private reset(): void {
    this.parts = [];
    this.held = 0;
  }
}
