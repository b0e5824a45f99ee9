/*
 * copy_from_user / copy_to_user at an ioctl's argp.
 *
 * An ioctl reaches a file the way FUSE hands it over in restricted mode
 * (IoctlRequest): the host kernel already copied the _IOC_SIZE(cmd) bytes
 * at argp in (for _IOW), and copies what we answer back to argp (at most
 * outSize bytes, for _IOR). A driver that reaches past the encoded size --
 * VHOST_VDPA_GET_CONFIG's buf[] after its 8-byte header, SET_MEM_TABLE's
 * regions[], the vring index vhost reads even for _IO commands -- reads and
 * writes the caller's memory itself, as copy_{from,to}_user would.
 *
 * UserArg gives a driver one view of argp: a read inside the copied-in
 * bytes is served from them, anything else from the caller's mm; a write
 * inside the copy-back area goes into the answer, anything else to the
 * caller's mm. A fault is EFAULT, as in the kernel.
 */
import type { IoctlRequest, IoctlResult } from '../fs/kernfs';
import { fail } from './errno';
import type { Task } from './task';
import type { UserMm } from '../mm/user_mm';

export class UserArg {
  private readonly out: Buffer;
  /* How much of `out` was written: only that goes back. */
  private outLen = 0;
  private mm: UserMm | null = null;

  constructor(
    private readonly req: IoctlRequest,
    private readonly task: Task,
  ) {
    this.out = Buffer.alloc(req.outSize);
  }

  /* copy_from_user(): len bytes at argp + off. */
  read(off: number, len: number): Buffer {
    const inb = this.req.in;
    if (off + len <= inb.length) return inb.subarray(off, off + len);
    const b = Buffer.alloc(len);
    const mm = this.userMm();
    const addr = this.addr(off, len);
    this.checkAccess(mm, addr, len, false);
    mm.readInto(addr, b, 0, len);
    return b;
  }

  u8(off: number): number {
    return this.read(off, 1)[0];
  }
  u32(off: number): number {
    return this.read(off, 4).readUInt32LE(0);
  }
  i32(off: number): number {
    return this.read(off, 4).readInt32LE(0);
  }
  u64(off: number): bigint {
    return this.read(off, 8).readBigUInt64LE(0);
  }

  /* copy_to_user(): src at argp + off. */
  write(off: number, src: Buffer): void {
    if (off + src.length <= this.out.length) {
      src.copy(this.out, off);
      if (off + src.length > this.outLen) this.outLen = off + src.length;
      return;
    }
    const mm = this.userMm();
    const addr = this.addr(off, src.length);
    this.checkAccess(mm, addr, src.length, true);
    mm.write(addr, src, 0, src.length);
  }

  /*
   * access_ok() and the fault the copy would take, checked first: memory
   * the caller cannot hand over safely (see UserMm.pinnable) is EFAULT
   * before any byte is touched.
   */
  private checkAccess(mm: UserMm, addr: number, len: number, write: boolean): void {
    if (len > 0 && !mm.pinnable(BigInt(addr), BigInt(len), write)) fail('EFAULT');
  }

  putU8(off: number, v: number): void {
    this.write(off, Buffer.of(v & 0xff));
  }
  putU16(off: number, v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff);
    this.write(off, b);
  }
  putU32(off: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.write(off, b);
  }
  putU64(off: number, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    this.write(off, b);
  }

  /* The answer: ioctl's return value and what the host copies back to argp. */
  result(ret: number): IoctlResult {
    return this.outLen > 0 ? { result: ret, out: this.out.subarray(0, this.outLen) } : { result: ret };
  }

  /* The request is over: drop the reference to the caller's memory, if one was taken. */
  done(): void {
    this.mm?.mmput();
    this.mm = null;
  }

  private userMm(): UserMm {
    if (this.mm === null) this.mm = this.task.mmGet();
    return this.mm;
  }

  /* argp + off as an address; a pointer that cannot be one faults. */
  private addr(off: number, len: number): number {
    const a = this.req.arg + BigInt(off);
    if (a + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) fail('EFAULT');
    return Number(a);
  }
}
