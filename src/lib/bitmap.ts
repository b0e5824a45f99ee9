/*
 * lib/bitmap-str.c and the %*pb / %*pbl printers of lib/vsprintf.c: CPU
 * masks and queue masks as sysfs reads and writes them (rps_cpus,
 * xps_rxqs...). A bitmap is a bigint, bit 0 first.
 */
import { fail } from '../kernel/errno';
import { storeString } from '../fs/sysfs';
import { isspace } from './kstrtox';

function hexDigit(c: string | undefined): number {
  if (c === undefined) return -1;
  const v = parseInt(c, 16);
  return Number.isNaN(v) ? -1 : v;
}

function endOfRegion(c: string | undefined): boolean {
  return isspace(c) || c === ',';
}

/*
 * bitmap_parse(): hex, in 32-bit chunks separated by commas, read from
 * the end; whitespace and empty chunks are allowed. The text ends at the
 * first newline or NUL. A chunk wider than 32 bits or a bit at or beyond
 * `nbits` is EOVERFLOW; anything that is not a hex digit is EINVAL.
 */
export function bitmapParse(buf: Buffer | string, nbits: number): bigint {
  let s = typeof buf === 'string' ? buf : storeString(buf);
  const nl = s.indexOf('\n');
  if (nl !== -1) s = s.slice(0, nl);
  let chunks = Math.ceil(nbits / 32);
  const total = chunks;
  let mask = 0n;
  let end = s.length - 1;
  for (let chunk = 0; ; chunk++) {
    while (end >= 0 && endOfRegion(s[end])) end--;
    if (end < 0) break;
    if (!chunks--) fail('EOVERFLOW');
    let val = 0;
    let more = true;
    for (let i = 0; i < 32 && more; i += 4) {
      const c = hexDigit(s[end--]);
      if (c < 0) fail('EINVAL');
      val |= c << i;
      if (end < 0 || endOfRegion(s[end])) more = false;
    }
    if (more && hexDigit(s[end--]) >= 0) fail('EOVERFLOW');
    mask |= BigInt(val >>> 0) << BigInt(32 * chunk);
  }
  const unsetBit = (total - chunks) * 32;
  if (unsetBit > nbits && mask >> BigInt(nbits) !== 0n) fail('EOVERFLOW');
  return mask & ((1n << BigInt(nbits)) - 1n);
}

/* "%*pb": hex in 32-bit chunks, most significant first, comma-separated, zero-padded. */
export function bitmapString(mask: bigint, nbits: number): string {
  const parts: string[] = [];
  let chunksz = nbits % 32 || 32;
  for (let i = Math.ceil(nbits / 32) * 32 - 32; i >= 0; i -= 32) {
    const val = (mask >> BigInt(i)) & ((1n << BigInt(chunksz)) - 1n);
    parts.push(val.toString(16).padStart(Math.ceil(chunksz / 4), '0'));
    chunksz = 32;
  }
  return parts.join(',');
}

/* "%*pbl": ranges of set bits, "0-3,8". */
export function bitmapListString(mask: bigint, nbits: number): string {
  const parts: string[] = [];
  for (let bit = 0; bit < nbits; bit++) {
    if (!((mask >> BigInt(bit)) & 1n)) continue;
    let top = bit;
    while (top + 1 < nbits && (mask >> BigInt(top + 1)) & 1n) top++;
    parts.push(top === bit ? `${bit}` : `${bit}-${top}`);
    bit = top;
  }
  return parts.join(',');
}
