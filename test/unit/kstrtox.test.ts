/*
 * lib/kstrtox.c and lib/bitmap-str.c as the model parses sysfs writes.
 */
import { describe, expect, it } from 'vitest';
import { kstrtobool, kstrtoint, kstrtoll, kstrtou16, kstrtouint, kstrtoull, sysfsMatchString } from '../../src/lib/kstrtox';
import { bitmapListString, bitmapParse, bitmapString } from '../../src/lib/bitmap';
import { errnoOf } from './sysfs_io';

describe('kstrtoull', () => {
  it('base 0 reads 0x as hex, a leading 0 as octal, the rest as decimal', () => {
    expect(kstrtoull('0x1f', 0)).toBe(31n);
    expect(kstrtoull('0X1F', 0)).toBe(31n);
    expect(kstrtoull('017', 0)).toBe(15n);
    expect(kstrtoull('0', 0)).toBe(0n);
    expect(kstrtoull('17', 0)).toBe(17n);
  });

  it('base 0 with "0x" and no hex digit after it is octal 0 followed by junk: EINVAL', () => {
    expect(errnoOf(() => kstrtoull('0x', 0))).toBe('EINVAL');
    expect(errnoOf(() => kstrtoull('0xg', 0))).toBe('EINVAL');
  });

  it('an octal digit out of range is junk after the number: EINVAL', () => {
    expect(errnoOf(() => kstrtoull('08', 0))).toBe('EINVAL');
  });

  it('one trailing newline is accepted, two are not, nor spaces', () => {
    expect(kstrtoull('42\n', 10)).toBe(42n);
    expect(errnoOf(() => kstrtoull('42\n\n', 10))).toBe('EINVAL');
    expect(errnoOf(() => kstrtoull('42 ', 10))).toBe('EINVAL');
    expect(errnoOf(() => kstrtoull(' 42', 10))).toBe('EINVAL');
  });

  it('a leading + is accepted by the unsigned parser, a - is EINVAL', () => {
    expect(kstrtoull('+7', 10)).toBe(7n);
    expect(errnoOf(() => kstrtoull('-7', 10))).toBe('EINVAL');
    expect(errnoOf(() => kstrtoull('++7', 10))).toBe('EINVAL');
  });

  it('an empty string or a bare newline is EINVAL', () => {
    expect(errnoOf(() => kstrtoull('', 10))).toBe('EINVAL');
    expect(errnoOf(() => kstrtoull('\n', 10))).toBe('EINVAL');
  });

  it('2^64 is ERANGE, 2^64-1 is not; overflow wins over trailing junk', () => {
    expect(kstrtoull('18446744073709551615', 10)).toBe(18446744073709551615n);
    expect(errnoOf(() => kstrtoull('18446744073709551616', 10))).toBe('ERANGE');
    expect(errnoOf(() => kstrtoull('99999999999999999999x', 10))).toBe('ERANGE');
  });

  it('an embedded NUL ends the string, as for the C string sysfs hands to a store', () => {
    expect(kstrtoull(Buffer.from('12\0junk'), 10)).toBe(12n);
  });

  it('base 16 skips an optional 0x prefix', () => {
    expect(kstrtoull('0xff', 16)).toBe(255n);
    expect(kstrtoull('ff', 16)).toBe(255n);
  });
});

describe('signed and narrower parsers', () => {
  it('kstrtoll takes a sign and stops at the signed 64-bit range', () => {
    expect(kstrtoll('-9223372036854775808', 10)).toBe(-9223372036854775808n);
    expect(errnoOf(() => kstrtoll('-9223372036854775809', 10))).toBe('ERANGE');
    expect(errnoOf(() => kstrtoll('9223372036854775808', 10))).toBe('ERANGE');
    expect(errnoOf(() => kstrtoll('--1', 10))).toBe('EINVAL');
  });

  it('kstrtouint is ERANGE above 4294967295', () => {
    expect(kstrtouint('4294967295', 10)).toBe(4294967295);
    expect(errnoOf(() => kstrtouint('4294967296', 10))).toBe('ERANGE');
  });

  it('kstrtoint takes -2147483648 and refuses 2147483648 with ERANGE', () => {
    expect(kstrtoint('-2147483648', 0)).toBe(-2147483648);
    expect(errnoOf(() => kstrtoint('2147483648', 0))).toBe('ERANGE');
  });

  it('kstrtou16 is ERANGE above 65535', () => {
    expect(kstrtou16('65535', 0)).toBe(65535);
    expect(errnoOf(() => kstrtou16('65536', 0))).toBe('ERANGE');
  });
});

describe('kstrtobool', () => {
  it('decides on the first character: y Y t T 1 are true, n N f F 0 false', () => {
    for (const s of ['y', 'Yes', 't', 'True', '1', '1abc']) expect(kstrtobool(s)).toBe(true);
    for (const s of ['n', 'No', 'f', 'False', '0', '0xyz']) expect(kstrtobool(s)).toBe(false);
  });

  it('"on" and "off" decide by the second character; "o" alone is EINVAL', () => {
    expect(kstrtobool('on')).toBe(true);
    expect(kstrtobool('OFF')).toBe(false);
    expect(errnoOf(() => kstrtobool('o'))).toBe('EINVAL');
    expect(errnoOf(() => kstrtobool('2'))).toBe('EINVAL');
    expect(errnoOf(() => kstrtobool(''))).toBe('EINVAL');
  });
});

describe('sysfs_match_string', () => {
  it('matches a table entry exactly, tolerating one trailing newline', () => {
    expect(sysfsMatchString(['auto', 'on'], 'on\n')).toBe(1);
    expect(errnoOf(() => sysfsMatchString(['auto', 'on'], 'on \n'))).toBe('EINVAL');
  });
});

describe('bitmap_parse and %*pb', () => {
  it('parses hex chunks of 32 bits from the end, commas between them', () => {
    expect(bitmapParse('f\n', 4)).toBe(0xfn);
    expect(bitmapParse('1,00000000', 64)).toBe(1n << 32n);
    expect(bitmapParse(' 3 ', 8)).toBe(3n);
    expect(bitmapParse('', 8)).toBe(0n);
  });

  it('a bit beyond the mask is EOVERFLOW, a non-hex character EINVAL', () => {
    expect(errnoOf(() => bitmapParse('10', 4))).toBe('EOVERFLOW');
    expect(errnoOf(() => bitmapParse('1,0', 32))).toBe('EOVERFLOW');
    expect(errnoOf(() => bitmapParse('x', 4))).toBe('EINVAL');
    expect(errnoOf(() => bitmapParse('123456789', 64))).toBe('EOVERFLOW');
  });

  it('prints zero-padded hex per 32-bit chunk, and ranges for the list form', () => {
    expect(bitmapString(0n, 4)).toBe('0');
    expect(bitmapString(0x5n, 8)).toBe('05');
    expect(bitmapString(1n << 32n, 40)).toBe('01,00000000');
    expect(bitmapListString(0b1011n, 4)).toBe('0-1,3');
    expect(bitmapListString(0n, 4)).toBe('');
  });
});
