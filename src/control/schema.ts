/*
 * Validation of what arrives on the control socket, before any of it
 * reaches the model: the part of netlink's nla_policy and of a syscall's
 * copy_from_user() that checks shapes. Every schema takes an unknown value
 * and returns it typed, or throws EINVAL (ERANGE for a number or a length
 * outside its policy range, as lib/nlattr.c answers) with an extack that
 * names the offending field.
 */
import { KernelError } from '../kernel/errno';

export type Schema<T> = (value: unknown, where: string) => T;

function bad(where: string, what: string): never {
  throw new KernelError('EINVAL', `${where}: ${what}`);
}

export function str(opts: { maxBytes: number; nul?: boolean }): Schema<string> {
  return (v, where) => {
    if (typeof v !== 'string') bad(where, 'expected a string');
    if (Buffer.byteLength(v) > opts.maxBytes) throw new KernelError('ERANGE', `${where}: longer than ${opts.maxBytes} bytes`);
    /* A C string ends at its first NUL: a name with one inside is not the name it looks like. */
    if (!opts.nul && v.includes('\0')) bad(where, 'contains a NUL character');
    return v;
  };
}

/* An integer in [min, max]; out of range is ERANGE "integer out of range", as nla_validate_int_range(). */
export function int(min: number, max: number): Schema<number> {
  return (v, where) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(where, 'expected an integer');
    if (v < min || v > max) throw new KernelError('ERANGE', `${where}: integer out of range`);
    return v;
  };
}

export const u8 = int(0, 0xff);
export const u16 = int(0, 0xffff);
export const u32 = int(0, 0xffffffff);

/* A u64 as the control protocol carries it: a decimal string (JSON numbers lose bits past 2^53). */
export const u64: Schema<string> = (v, where) => {
  if (typeof v !== 'string' || !/^[0-9]{1,20}$/.test(v)) bad(where, 'expected a decimal u64 string');
  if (BigInt(v) > 0xffffffffffffffffn) throw new KernelError('ERANGE', `${where}: integer out of range`);
  return v;
};

export const bool: Schema<boolean> = (v, where) => {
  if (typeof v !== 'boolean') bad(where, 'expected true or false');
  return v;
};

/* Bytes as an array of numbers 0..255, of a length in [min, max] (ERANGE "binary attribute size out of range"). */
export function bytes(min: number, max: number): Schema<number[]> {
  return (v, where) => {
    if (!Array.isArray(v)) bad(where, 'expected an array of bytes');
    if (v.length < min || v.length > max) throw new KernelError('ERANGE', `${where}: binary attribute size out of range`);
    v.forEach((b, i) => u8(b, `${where}[${i}]`));
    return v as number[];
  };
}

/* Bytes as a hex string of at most `maxBytes` bytes. */
export function hex(maxBytes: number): Schema<string> {
  return (v, where) => {
    if (typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(v)) bad(where, 'expected a hex string');
    if (v.length / 2 > maxBytes) throw new KernelError('ERANGE', `${where}: longer than ${maxBytes} bytes`);
    return v;
  };
}

export function optional<T>(s: Schema<T>): Schema<T | undefined> {
  const opt: Schema<T | undefined> = (v, where) => (v === undefined ? undefined : s(v, where));
  (opt as { optional?: true }).optional = true;
  return opt;
}

export function array<T>(item: Schema<T>, maxLength: number): Schema<T[]> {
  return (v, where) => {
    if (!Array.isArray(v)) bad(where, 'expected an array');
    if (v.length > maxLength) throw new KernelError('ERANGE', `${where}: more than ${maxLength} elements`);
    return v.map((x, i) => item(x, `${where}[${i}]`));
  };
}

type Fields = Record<string, Schema<unknown>>;
type FieldsOut<F extends Fields> = { [K in keyof F]: F[K] extends Schema<infer T> ? T : never };

/*
 * A plain object with exactly these fields (optional ones may be absent);
 * an unknown field is refused, as strict netlink validation refuses an
 * attribute it has no policy for.
 */
export function object<F extends Fields>(fields: F): Schema<FieldsOut<F>> {
  return (v, where) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(where, 'expected an object');
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      if (!Object.prototype.hasOwnProperty.call(fields, key)) bad(where, `unknown field "${key}"`);
    }
    for (const [key, schema] of Object.entries(fields)) {
      const value = (v as Record<string, unknown>)[key];
      if (value === undefined && !(schema as { optional?: true }).optional) bad(where, `missing field "${key}"`);
      out[key] = schema(value, `${where}.${key}`);
    }
    return out as FieldsOut<F>;
  };
}

/* No parameters at all: absent, or an empty object. */
export const none = object({});
