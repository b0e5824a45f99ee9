/*
 * Driving a FuseServer with bytes, as the host kernel would: requests built
 * from the protocol's layouts, replies and notifications captured and
 * decoded. No /dev/fuse, no mount, no root.
 */
import * as uapi from '../../src/include/uapi/fuse';
import type { KernfsRoot } from '../../src/fs/kernfs';
import { FuseChannel, FuseServer, FuseServerOptions } from '../../src/fuse/server';

export interface Reply {
  unique: bigint;
  error: number;
  body: Buffer;
}

export interface Caller {
  uid?: number;
  gid?: number;
  pid?: number;
}

/* A channel whose notifications complete only when the test says so (or at once). */
export class CaptureChannel implements FuseChannel {
  readonly replies: Reply[] = [];
  readonly notifications: Buffer[] = [];
  private readonly pending: Array<() => void> = [];
  holdNotifications = false;

  reply(parts: Buffer[]): void {
    const msg = Buffer.concat(parts);
    expectHeader(msg);
    this.replies.push({ unique: msg.readBigUInt64LE(8), error: msg.readInt32LE(4), body: msg.subarray(uapi.FUSE_OUT_HEADER_SIZE) });
  }

  notify(msg: Buffer): Promise<void> {
    this.notifications.push(Buffer.from(msg));
    if (!this.holdNotifications) return Promise.resolve();
    return new Promise((resolve) => this.pending.push(resolve));
  }

  /* Let every held notification complete. */
  releaseNotifications(): void {
    for (const r of this.pending.splice(0)) r();
  }
}

/* Every reply and notification starts with a fuse_out_header whose len is the message's. */
function expectHeader(msg: Buffer): void {
  if (msg.length < uapi.FUSE_OUT_HEADER_SIZE || msg.readUInt32LE(0) !== msg.length) {
    throw new Error(`malformed message: len field ${msg.readUInt32LE(0)} for ${msg.length} bytes`);
  }
}

export function request(opcode: number, nodeid: number, body: Buffer = Buffer.alloc(0), unique = 1n, who: Caller = {}): Buffer {
  const b = Buffer.alloc(uapi.FUSE_IN_HEADER_SIZE + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(unique, 8);
  b.writeBigUInt64LE(BigInt(nodeid), 16);
  b.writeUInt32LE(who.uid ?? 0, 24);
  b.writeUInt32LE(who.gid ?? 0, 28);
  b.writeUInt32LE(who.pid ?? 4242, 32);
  body.copy(b, uapi.FUSE_IN_HEADER_SIZE);
  return b;
}

export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');

export function initBody(major = 7, minor = 45, flags = 0x73fffffb): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(major, 0);
  b.writeUInt32LE(minor, 4);
  b.writeUInt32LE(0x20000, 8);
  b.writeUInt32LE(flags >>> 0, 12);
  return b;
}

export function openBody(flags: number): Buffer {
  const b = Buffer.alloc(uapi.FUSE_OPEN_IN_SIZE);
  b.writeUInt32LE(flags, 0);
  return b;
}

export function rwBody(fh: number, offset: number, size: number, data?: Buffer): Buffer {
  const b = Buffer.alloc(uapi.FUSE_READ_IN_SIZE + (data?.length ?? 0));
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(size, 16);
  data?.copy(b, uapi.FUSE_READ_IN_SIZE);
  return b;
}

export function fhBody(fh: number, size = 24): Buffer {
  const b = Buffer.alloc(size);
  b.writeBigUInt64LE(BigInt(fh), 0);
  return b;
}

/* Decoded fuse_entry_out. */
export function entry(body: Buffer): { nodeid: number; generation: number; entryValid: number; mode: number; nlink: number; size: number; ino: number } {
  return {
    nodeid: Number(body.readBigUInt64LE(0)),
    generation: Number(body.readBigUInt64LE(8)),
    entryValid: Number(body.readBigUInt64LE(16)),
    ino: Number(body.readBigUInt64LE(40)),
    size: Number(body.readBigUInt64LE(48)),
    mode: body.readUInt32LE(40 + 60),
    nlink: body.readUInt32LE(40 + 64),
  };
}

/* Decoded fuse_attr_out. */
export function attrOut(body: Buffer): { mode: number; nlink: number; size: number; uid: number } {
  return {
    size: Number(body.readBigUInt64LE(16 + 8)),
    mode: body.readUInt32LE(16 + 60),
    nlink: body.readUInt32LE(16 + 64),
    uid: body.readUInt32LE(16 + 68),
  };
}

/* A server on `tree` that has done INIT, with a session-like helper. */
export class Session {
  readonly channel = new CaptureChannel();
  readonly server: FuseServer;
  private unique = 100n;

  constructor(tree: KernfsRoot, opts?: FuseServerOptions) {
    this.server = new FuseServer(tree, this.channel, opts);
    this.server.handle(request(uapi.FUSE_INIT, 0, initBody(), 1n));
    const r = this.channel.replies.shift();
    if (!r || r.error !== 0) throw new Error('INIT failed');
  }

  /* Send one request; return its reply if it came synchronously. */
  send(opcode: number, nodeid: number, body?: Buffer, who?: Caller): Reply | undefined {
    const unique = this.unique++;
    const before = this.channel.replies.length;
    this.server.handle(request(opcode, nodeid, body, unique, who));
    return this.channel.replies.slice(before).find((r) => r.unique === unique);
  }

  /* Send one request that must be answered at once; return its reply. */
  call(opcode: number, nodeid: number, body?: Buffer, who?: Caller): Reply {
    const r = this.send(opcode, nodeid, body, who);
    if (!r) throw new Error(`no reply to opcode ${opcode}`);
    return r;
  }

  /* Send one request whose reply may wait for invalidations (it changes the tree); await it. */
  async callAsync(opcode: number, nodeid: number, body?: Buffer, who?: Caller): Promise<Reply> {
    const unique = this.unique++;
    this.server.handle(request(opcode, nodeid, body, unique, who));
    for (let i = 0; i < 100; i++) {
      const r = this.channel.replies.find((x) => x.unique === unique);
      if (r) return r;
      await new Promise((res) => setImmediate(res));
    }
    throw new Error(`no reply to opcode ${opcode}`);
  }

  lookup(parent: number, name: string): number {
    const r = this.call(uapi.FUSE_LOOKUP, parent, cstr(name));
    if (r.error) throw new Error(`lookup ${name}: ${r.error}`);
    return entry(r.body).nodeid;
  }

  /* Walk a path from the root with LOOKUPs. */
  walk(path: string): number {
    let id = uapi.FUSE_ROOT_ID;
    for (const part of path.split('/').filter(Boolean)) id = this.lookup(id, part);
    return id;
  }

  open(nodeid: number, flags: number, who?: Caller): number {
    const r = this.call(uapi.FUSE_OPEN, nodeid, openBody(flags), who);
    if (r.error) throw Object.assign(new Error(`open: ${r.error}`), { errno: r.error });
    return Number(r.body.readBigUInt64LE(0));
  }
}
