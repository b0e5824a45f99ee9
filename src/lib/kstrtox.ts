/*
 * lib/kstrtox.c: how the kernel turns the text written to a sysfs file
 * into a number or a boolean. Every writable attribute of the model parses
 * through here, so `echo 0x10 >`, `echo +5 >`, `echo 12abc >` and
 * `echo 99999999999999999999 >` succeed or fail exactly as on Linux.
 *
 * The rules, all the kernel's:
 *  - the input is a C string: a store's bytes up to the first NUL;
 *  - base 0 picks the base from the prefix: "0x"/"0X" followed by a hex
 *    digit is hex, any other leading "0" is octal, otherwise decimal;
 *    base 16 also skips a "0x" prefix;
 *  - unsigned parsers take one leading '+', signed ones one '+' or '-';
 *  - one trailing newline is allowed, nothing else after the digits;
 *  - no digits, a digit outside the base, or trailing junk is EINVAL;
 *    a value that does not fit the type is ERANGE (even with junk after it:
 *    the overflow is found first).
 */
import { fail } from '../kernel/errno';
import { storeString } from '../fs/sysfs';

const ULLONG_MAX = (1n << 64n) - 1n;
const LLONG_MAX = (1n << 63n) - 1n;
const UINT_MAX = 0xffff_ffffn;
const INT_MAX = 0x7fff_ffffn;
const INT_MIN = -0x8000_0000n;

/* What a store hands to a parser: its bytes, or a string already cut. */
export type KstrInput = Buffer | string;

function cString(s: KstrInput): string {
  return typeof s === 'string' ? cut(s) : storeString(s);
}

function cut(s: string): string {
  const nul = s.indexOf('\0');
  return nul === -1 ? s : s.slice(0, nul);
}

function hexDigit(c: string | undefined): number {
  if (c === undefined) return -1;
  const code = c.charCodeAt(0);
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lc = code | 0x20;
  if (lc >= 0x61 && lc <= 0x66) return lc - 0x61 + 10;
  return -1;
}

/* _parse_integer_fixup_radix() */
function fixupRadix(s: string, base: number): { s: string; base: number } {
  if (base === 0) {
    if (s[0] === '0') base = s[1]?.toLowerCase() === 'x' && hexDigit(s[2]) >= 0 ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && s[0] === '0' && s[1]?.toLowerCase() === 'x') s = s.slice(2);
  return { s, base };
}

/* _kstrtoull(): digits, overflow, then at most a newline. */
function kstrtoullNoSign(input: string, base: number): bigint {
  const { s, base: b } = fixupRadix(input, base);
  let res = 0n;
  let i = 0;
  let overflow = false;
  for (; i < s.length; i++) {
    const v = hexDigit(s[i]);
    if (v < 0 || v >= b) break;
    res = res * BigInt(b) + BigInt(v);
    /* The kernel flags the overflow and goes on with the wrapped value. */
    if (res > ULLONG_MAX) {
      overflow = true;
      res &= ULLONG_MAX;
    }
  }
  if (overflow) fail('ERANGE');
  if (i === 0) fail('EINVAL');
  if (s[i] === '\n') i++;
  if (i !== s.length) fail('EINVAL');
  return res;
}

/* kstrtoull(): an optional '+'. */
export function kstrtoull(input: KstrInput, base: number): bigint {
  let s = cString(input);
  if (s[0] === '+') s = s.slice(1);
  return kstrtoullNoSign(s, base);
}

/* kstrtoll(): '-' or '+', then within the signed 64-bit range. */
export function kstrtoll(input: KstrInput, base: number): bigint {
  const s = cString(input);
  if (s[0] === '-') {
    const v = kstrtoullNoSign(s.slice(1), base);
    if (v > LLONG_MAX + 1n) fail('ERANGE');
    return -v;
  }
  const v = kstrtoull(s, base);
  if (v > LLONG_MAX) fail('ERANGE');
  return v;
}

/* kstrtoul()/kstrtol(): unsigned long is 64 bits on x86-64. */
export const kstrtoul = kstrtoull;
export const kstrtol = kstrtoll;

/* kstrtouint(): a u32. */
export function kstrtouint(input: KstrInput, base: number): number {
  const v = kstrtoull(input, base);
  if (v > UINT_MAX) fail('ERANGE');
  return Number(v);
}

export const kstrtou32 = kstrtouint;

/* kstrtoint(): an s32. */
export function kstrtoint(input: KstrInput, base: number): number {
  const v = kstrtoll(input, base);
  if (v > INT_MAX || v < INT_MIN) fail('ERANGE');
  return Number(v);
}

/* kstrtou16(), kstrtou8() */
export function kstrtou16(input: KstrInput, base: number): number {
  const v = kstrtoull(input, base);
  if (v > 0xffffn) fail('ERANGE');
  return Number(v);
}

export function kstrtou8(input: KstrInput, base: number): number {
  const v = kstrtoull(input, base);
  if (v > 0xffn) fail('ERANGE');
  return Number(v);
}

/*
 * kstrtobool(): only the first character counts ("yes", "1abc" and "nope"
 * all parse), except after 'o', where "on"/"off" decide by the second.
 */
export function kstrtobool(input: KstrInput): boolean {
  const s = cString(input);
  switch (s[0]) {
    case 'y':
    case 'Y':
    case 't':
    case 'T':
    case '1':
      return true;
    case 'n':
    case 'N':
    case 'f':
    case 'F':
    case '0':
      return false;
    case 'o':
    case 'O':
      if (s[1] === 'n' || s[1] === 'N') return true;
      if (s[1] === 'f' || s[1] === 'F') return false;
      break;
  }
  fail('EINVAL');
}

/* isspace() of lib/ctype.c for the ASCII range: space, \t \n \v \f \r. */
export function isspace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

/* strim(): the string without leading and trailing whitespace. */
export function strim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isspace(s[a])) a++;
  while (b > a && isspace(s[b - 1])) b--;
  return s.slice(a, b);
}

/*
 * sysfs_match_string() / __sysfs_match_string(): the index of the entry
 * equal to `s` (one trailing newline tolerated, as sysfs_streq does), or
 * EINVAL.
 */
export function sysfsMatchString(table: readonly string[], input: KstrInput): number {
  let s = cString(input);
  if (s.endsWith('\n')) s = s.slice(0, -1);
  const i = table.indexOf(s);
  if (i === -1) fail('EINVAL');
  return i;
}
