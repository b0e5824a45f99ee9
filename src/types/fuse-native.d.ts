/*
 * The part of fuse-native 2.2.6 we use. Callbacks take a number: 0 or a
 * negative errno (read/write: the byte count). See
 * ../shared/reference/fuse-native.md §1.2 for the traps.
 */
declare module 'fuse-native' {
  type Cb = (code: number, ...rest: unknown[]) => void;
  interface FuseOptions {
    mkdir?: boolean;
    force?: boolean;
    autoUnmount?: boolean;
    allowOther?: boolean;
    defaultPermissions?: boolean;
    timeout?: number | false | Record<string, number | false>;
    fsname?: string;
    subtype?: string;
    entryTimeout?: string;
    attrTimeout?: string;
    debug?: boolean;
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: any[]) => void>, opts?: FuseOptions);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static isConfigured(cb: (err: Error | null, yes: boolean) => void): void;
  }
  export = Fuse;
}
