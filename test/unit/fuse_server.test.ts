/*
 * The FUSE server fed with request bytes: INIT, node ids and lookup counts,
 * every opcode the mount serves, ioctl and poll, sleeping calls and
 * interrupts, invalidation ordering, and malformed input that must never
 * stop it.
 */
import { describe, expect, it } from 'vitest';
import * as uapi from '../../src/include/uapi/fuse';
import { Completion } from '../../src/kernel/completion';
import { errnoNumber, fail, KernelError } from '../../src/kernel/errno';
import type { Cred } from '../../src/kernel/cred';
import { IoctlRequest, KernDir, KernFile, KernfsRoot, OpenFile, POLLIN } from '../../src/fs/kernfs';
import { attr, roAttr } from '../../src/fs/sysfs';
import { FuseServer } from '../../src/fuse/server';
import { attrOut, CaptureChannel, cstr, entry, fhBody, initBody, request, rwBody, Session } from './fuse_testlib';

const E = (name: Parameters<typeof errnoNumber>[0]): number => -errnoNumber(name);

/* sys/devices/vdpa0/{driver_override (0644), uevent, bind (0200), power/}, sys/bus -> link */
function sampleTree(): { tree: KernfsRoot; vdpa0: KernDir; stores: Array<{ value: string; cred?: Cred }> } {
  const tree = new KernfsRoot();
  const sys = tree.root.mkdir('sys');
  const vdpa0 = sys.mkdir('devices').mkdir('vdpa0');
  const stores: Array<{ value: string; cred?: Cred }> = [];
  let override = '(null)';
  vdpa0.add(
    attr('driver_override', {
      show: () => `${override}\n`,
      store: (buf) => {
        override = buf.toString().trim();
        stores.push({ value: override });
        return buf.length;
      },
    }),
  );
  vdpa0.add(roAttr('uevent', ''));
  vdpa0.add(attr('bind', { store: (buf) => buf.length }));
  vdpa0.mkdir('power');
  sys.mkdir('bus').symlink('vdpa0', vdpa0);
  return { tree, vdpa0, stores };
}

/* A file whose ops record what they were given: ioctl, poll, flush. */
class ProbeFile extends KernFile {
  ioctls: IoctlRequest[] = [];
  ready = 0;
  wake: (() => void) | undefined;
  flushes = 0;
  openCreds: Array<Cred | undefined> = [];
  constructor() {
    super('probe', 0o666);
  }
  size(): number {
    return 0;
  }
  open(flags: { cred?: Cred }): OpenFile {
    this.openCreds.push(flags.cred);
    return {
      read: () => 0,
      write: (src) => src.length,
      ioctl: (req) => {
        this.ioctls.push(req);
        if (req.cmd === 0xdead) fail('ENOTTY');
        return { result: 7, out: Buffer.from('0123456789abcdef') };
      },
      poll: (wake) => {
        this.wake = wake;
        return this.ready;
      },
      flush: () => void this.flushes++,
      release: () => {},
    };
  }
}

describe('INIT', () => {
  it('answers 7.36 with 1 MiB writes, 256 pages and only the flags it wants that the kernel offered', () => {
    const ch = new CaptureChannel();
    const s = new FuseServer(new KernfsRoot(), ch);
    s.handle(request(uapi.FUSE_INIT, 0, initBody(7, 45, uapi.FUSE_ATOMIC_O_TRUNC | uapi.FUSE_DO_READDIRPLUS | (1 << 16)), 9n));
    const r = ch.replies[0];
    expect(r.unique).toBe(9n);
    expect(r.error).toBe(0);
    expect(r.body.length).toBe(uapi.FUSE_INIT_OUT_SIZE);
    expect(r.body.readUInt32LE(0)).toBe(7);
    expect(r.body.readUInt32LE(4)).toBe(36);
    /* writeback cache (1 << 16) was offered but is not wanted: attributes are computed at read */
    expect(r.body.readUInt32LE(12)).toBe(uapi.FUSE_ATOMIC_O_TRUNC | uapi.FUSE_DO_READDIRPLUS);
    expect(r.body.readUInt32LE(20)).toBe(1 << 20);
    expect(r.body.readUInt16LE(28)).toBe(256);
  });

  it('a kernel with another major version is told 7 and nothing else', () => {
    const ch = new CaptureChannel();
    const s = new FuseServer(new KernfsRoot(), ch);
    s.handle(request(uapi.FUSE_INIT, 0, initBody(8, 0), 2n));
    expect(ch.replies[0].body.length).toBe(8);
    expect(ch.replies[0].body.readUInt32LE(0)).toBe(7);
  });

  it('anything before INIT is EIO', () => {
    const ch = new CaptureChannel();
    const s = new FuseServer(new KernfsRoot(), ch);
    s.handle(request(uapi.FUSE_GETATTR, uapi.FUSE_ROOT_ID, Buffer.alloc(16), 3n));
    expect(ch.replies[0].error).toBe(E('EIO'));
  });
});

describe('node ids and lookup counts', () => {
  it('LOOKUP hands out a stable id with the node generation; FORGET takes the references back', () => {
    const { tree, vdpa0 } = sampleTree();
    const s = new Session(tree);
    const devices = s.walk('sys/devices');
    const a = s.call(uapi.FUSE_LOOKUP, devices, cstr('vdpa0'));
    const b = s.call(uapi.FUSE_LOOKUP, devices, cstr('vdpa0'));
    expect(entry(a.body).nodeid).toBe(entry(b.body).nodeid);
    expect(entry(a.body).generation).toBe(vdpa0.generation);
    expect(entry(a.body).ino).toBe(vdpa0.ino);
    expect(s.server.nodes.lookupCount(vdpa0)).toBe(2);
    const id = entry(a.body).nodeid;
    const forget = Buffer.alloc(8);
    forget.writeBigUInt64LE(2n);
    expect(s.send(uapi.FUSE_FORGET, id, forget)).toBeUndefined(); /* never answered */
    expect(s.server.nodes.lookupCount(vdpa0)).toBe(0);
    expect(s.call(uapi.FUSE_GETATTR, id, Buffer.alloc(16)).error).toBe(E('ENOENT'));
  });

  it('BATCH_FORGET forgets several ids at once, and a count beyond the body is clipped', () => {
    const { tree, vdpa0 } = sampleTree();
    const s = new Session(tree);
    const id = s.walk('sys/devices/vdpa0');
    const power = s.lookup(id, 'power');
    const body = Buffer.alloc(8 + 3 * 16);
    body.writeUInt32LE(99, 0); /* claims 99 entries, carries 3 */
    body.writeBigUInt64LE(BigInt(id), 8);
    body.writeBigUInt64LE(1n, 16);
    body.writeBigUInt64LE(BigInt(power), 24);
    body.writeBigUInt64LE(1n, 32);
    body.writeBigUInt64LE(12345n, 40); /* an id never handed out: ignored */
    body.writeBigUInt64LE(1n, 48);
    expect(s.send(uapi.FUSE_BATCH_FORGET, 0, body)).toBeUndefined();
    expect(s.server.nodes.lookupCount(vdpa0)).toBe(0);
  });

  it('a removed node keeps answering by id (fstat of an open file), and a new node of the same name gets a new id', () => {
    const { tree, vdpa0 } = sampleTree();
    const s = new Session(tree);
    const devices = s.walk('sys/devices');
    const oldId = s.lookup(devices, 'vdpa0');
    const fileId = s.lookup(oldId, 'driver_override');
    const parent = vdpa0.parent!;
    parent.remove('vdpa0');
    parent.mkdir('vdpa0');
    const newId = s.lookup(devices, 'vdpa0');
    expect(newId).not.toBe(oldId);
    expect(attrOut(s.call(uapi.FUSE_GETATTR, fileId, Buffer.alloc(16)).body).mode).toBe(uapi.S_IFREG | 0o644);
    /* the removed directory has no entries any more */
    expect(s.call(uapi.FUSE_LOOKUP, oldId, cstr('driver_override')).error).toBe(E('ENOENT'));
  });
});

describe('what stat shows', () => {
  it('directories count subdirectories + 2, attributes are 4096 bytes, symlinks 0 bytes and 0777', () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    const devices = s.walk('sys/devices');
    const vdpa0 = entry(s.call(uapi.FUSE_LOOKUP, devices, cstr('vdpa0')).body);
    expect(vdpa0.mode).toBe(uapi.S_IFDIR | 0o755);
    expect(vdpa0.nlink).toBe(3);
    const ovr = entry(s.call(uapi.FUSE_LOOKUP, vdpa0.nodeid, cstr('driver_override')).body);
    expect([ovr.mode, ovr.size, ovr.nlink]).toEqual([uapi.S_IFREG | 0o644, 4096, 1]);
    const bind = entry(s.call(uapi.FUSE_LOOKUP, vdpa0.nodeid, cstr('bind')).body);
    expect(bind.mode).toBe(uapi.S_IFREG | 0o200);
    const link = entry(s.call(uapi.FUSE_LOOKUP, s.walk('sys/bus'), cstr('vdpa0')).body);
    expect([link.mode, link.size]).toEqual([uapi.S_IFLNK | 0o777, 0]);
  });

  it('an absent name is a cacheable negative entry on a cacheable tree, ENOENT on one that is not', () => {
    const { tree } = sampleTree();
    const s = new Session(tree, { cacheTimeout: 60 });
    const r = s.call(uapi.FUSE_LOOKUP, s.walk('sys/devices'), cstr('vdpa9'));
    expect(r.error).toBe(0);
    expect(entry(r.body).nodeid).toBe(0);
    expect(entry(r.body).entryValid).toBe(60);
    class Uncached extends KernfsRoot {
      override readonly cacheable = false;
    }
    const u = new Uncached();
    u.root.mkdir('sys');
    const s2 = new Session(u);
    expect(s2.call(uapi.FUSE_LOOKUP, uapi.FUSE_ROOT_ID, cstr('nope')).error).toBe(E('ENOENT'));
    expect(entry(s2.call(uapi.FUSE_LOOKUP, uapi.FUSE_ROOT_ID, cstr('sys')).body).entryValid).toBe(0);
  });

  it('READLINK gives the relative target; on anything else EINVAL', () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    const link = s.walk('sys/bus/vdpa0');
    expect(s.call(uapi.FUSE_READLINK, link).body.toString()).toBe('../devices/vdpa0');
    expect(s.call(uapi.FUSE_READLINK, s.walk('sys')).error).toBe(E('EINVAL'));
  });

  it('STATFS: 4 KiB blocks, nothing used, 255-byte names', () => {
    const s = new Session(sampleTree().tree);
    const r = s.call(uapi.FUSE_STATFS, uapi.FUSE_ROOT_ID);
    expect(r.body.length).toBe(80);
    expect([r.body.readUInt32LE(40), r.body.readUInt32LE(44)]).toEqual([4096, 255]);
  });
});

describe('files', () => {
  it('open, read and write an attribute: direct I/O, no flush, the store gets the bytes', () => {
    const { tree, stores } = sampleTree();
    const s = new Session(tree);
    const id = s.walk('sys/devices/vdpa0/driver_override');
    const r = s.call(uapi.FUSE_OPEN, id, Buffer.from([uapi.O_RDWR, 0, 0, 0, 0, 0, 0, 0]));
    const fh = Number(r.body.readBigUInt64LE(0));
    expect(r.body.readUInt32LE(8)).toBe(uapi.FOPEN_DIRECT_IO | uapi.FOPEN_NOFLUSH);
    expect(s.call(uapi.FUSE_READ, id, rwBody(fh, 0, 4096)).body.toString()).toBe('(null)\n');
    const w = s.call(uapi.FUSE_WRITE, id, rwBody(fh, 0, 12, Buffer.from('virtio_vdpa\n')));
    expect(w.body.readUInt32LE(0)).toBe(12);
    expect(stores).toEqual([{ value: 'virtio_vdpa' }]);
    expect(s.call(uapi.FUSE_RELEASE, id, fhBody(fh)).error).toBe(0);
    expect(s.call(uapi.FUSE_READ, id, rwBody(fh, 0, 16)).error).toBe(E('EBADF'));
  });

  it('a 0200 attribute cannot be opened for reading, even by root; O_TRUNC on open is accepted', () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    const bind = s.walk('sys/devices/vdpa0/bind');
    expect(() => s.open(bind, 0)).toThrow(/open: -13/);
    expect(s.open(bind, uapi.O_WRONLY | uapi.O_TRUNC)).toBeGreaterThan(0);
  });

  it('the opener and the writer are the callers of the request header', () => {
    const tree = new KernfsRoot();
    const probe = tree.root.add(new ProbeFile());
    const s = new Session(tree);
    const id = s.lookup(uapi.FUSE_ROOT_ID, 'probe');
    s.open(id, uapi.O_RDWR, { uid: 1000, gid: 100, pid: 777 });
    expect(probe.openCreds).toEqual([{ uid: 1000, gid: 100, pid: 777 }]);
  });

  it('a write longer than its body is EINVAL, and so is a read body cut short', () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    const id = s.walk('sys/devices/vdpa0/driver_override');
    const fh = s.open(id, uapi.O_RDWR);
    expect(s.call(uapi.FUSE_WRITE, id, rwBody(fh, 0, 100, Buffer.from('x'))).error).toBe(E('EINVAL'));
    expect(s.call(uapi.FUSE_READ, id, Buffer.alloc(10)).error).toBe(E('EINVAL'));
  });

  it('SETATTR: root may chmod (and the new mode is announced), ownership only to root, a directory cannot be truncated', async () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    const id = s.walk('sys/devices/vdpa0/driver_override');
    const body = Buffer.alloc(uapi.FUSE_SETATTR_IN_SIZE);
    body.writeUInt32LE(uapi.FATTR_MODE, 0);
    body.writeUInt32LE(0o100600, 68);
    expect(attrOut((await s.callAsync(uapi.FUSE_SETATTR, id, body)).body).mode).toBe(uapi.S_IFREG | 0o600);
    expect(s.channel.notifications.some((n) => n.readInt32LE(4) === uapi.FUSE_NOTIFY_INVAL_INODE)).toBe(true);
    body.writeUInt32LE(uapi.FATTR_UID, 0);
    body.writeUInt32LE(1000, 76);
    expect(s.call(uapi.FUSE_SETATTR, id, body).error).toBe(E('EPERM'));
    body.writeUInt32LE(uapi.FATTR_SIZE, 0);
    expect(s.call(uapi.FUSE_SETATTR, s.walk('sys'), body).error).toBe(E('EISDIR'));
  });

  it('sysfs refuses to create or remove: mkdir, mknod, unlink, rmdir, symlink, rename, link EPERM, create EACCES', () => {
    const s = new Session(sampleTree().tree);
    const root = uapi.FUSE_ROOT_ID;
    for (const op of [uapi.FUSE_MKDIR, uapi.FUSE_MKNOD, uapi.FUSE_UNLINK, uapi.FUSE_RMDIR, uapi.FUSE_SYMLINK, uapi.FUSE_RENAME, uapi.FUSE_LINK])
      expect(s.call(op, root, cstr('x')).error).toBe(E('EPERM'));
    expect(s.call(uapi.FUSE_CREATE, root, Buffer.alloc(24)).error).toBe(E('EACCES'));
  });

  it('xattrs as sysfs answers them: every name ENODATA, an empty list; unknown opcodes ENOSYS', () => {
    const s = new Session(sampleTree().tree);
    expect(s.call(uapi.FUSE_GETXATTR, uapi.FUSE_ROOT_ID, Buffer.concat([Buffer.alloc(8), cstr('user.x')])).error).toBe(E('ENODATA'));
    const list = s.call(uapi.FUSE_LISTXATTR, uapi.FUSE_ROOT_ID, Buffer.alloc(8));
    expect([list.error, list.body.readUInt32LE(0)]).toEqual([0, 0]);
    expect(s.call(uapi.FUSE_STATX, uapi.FUSE_ROOT_ID, Buffer.alloc(24)).error).toBe(E('ENOSYS'));
    expect(s.call(9999, uapi.FUSE_ROOT_ID).error).toBe(E('ENOSYS'));
  });
});

describe('directories', () => {
  it('OPENDIR is ENOSYS on a cacheable tree (zero-message opendir, cached listings), an ordinary open on one that is not', () => {
    class Uncached extends KernfsRoot {
      override readonly cacheable = false;
    }
    const u = new Session(new Uncached());
    const r = u.call(uapi.FUSE_OPENDIR, uapi.FUSE_ROOT_ID, Buffer.alloc(8));
    expect([r.error, r.body.readUInt32LE(8)]).toEqual([0, 0]);
    const s = new Session(sampleTree().tree);
    expect(s.call(uapi.FUSE_OPENDIR, uapi.FUSE_ROOT_ID, Buffer.alloc(8)).error).toBe(E('ENOSYS'));
    expect(s.call(uapi.FUSE_READDIR, uapi.FUSE_ROOT_ID, rwBody(0, 0, 4096)).body.length).toBeGreaterThan(0);
    expect(s.call(uapi.FUSE_READDIR, s.walk('sys/devices/vdpa0/uevent'), rwBody(0, 0, 4096)).error).toBe(E('ENOTDIR'));
  });

  it('READDIR lists . and .. first, then the children, resuming at the offset', () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    const id = s.walk('sys/devices/vdpa0');
    const fh = 0;
    const names = (body: Buffer): Array<[string, number]> => {
      const out: Array<[string, number]> = [];
      for (let o = 0; o < body.length; ) {
        const len = body.readUInt32LE(o + 16);
        out.push([body.toString('latin1', o + 24, o + 24 + len), Number(body.readBigUInt64LE(o + 8))]);
        o += uapi.fuseDirentAlign(24 + len);
      }
      return out;
    };
    const all = names(s.call(uapi.FUSE_READDIR, id, rwBody(fh, 0, 4096)).body);
    expect(all.map(([n]) => n)).toEqual(['.', '..', 'driver_override', 'uevent', 'bind', 'power']);
    expect(all.map(([, off]) => off)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(names(s.call(uapi.FUSE_READDIR, id, rwBody(fh, 4, 4096)).body).map(([n]) => n)).toEqual(['bind', 'power']);
    /* a buffer too small for even one entry gets none */
    expect(s.call(uapi.FUSE_READDIR, id, rwBody(fh, 0, 10)).body.length).toBe(0);
  });

  it('READDIRPLUS hands out each child once (not . and ..), with its attributes', () => {
    const { tree, vdpa0 } = sampleTree();
    const s = new Session(tree);
    const id = s.walk('sys/devices/vdpa0');
    const fh = 0;
    const body = s.call(uapi.FUSE_READDIRPLUS, id, rwBody(fh, 0, 65536)).body;
    const ids: number[] = [];
    for (let o = 0; o < body.length; ) {
      ids.push(Number(body.readBigUInt64LE(o)));
      const len = body.readUInt32LE(o + uapi.FUSE_ENTRY_OUT_SIZE + 16);
      o += uapi.FUSE_ENTRY_OUT_SIZE + uapi.fuseDirentAlign(24 + len);
    }
    expect(ids.slice(0, 2)).toEqual([0, 0]);
    expect(ids.slice(2).every((n) => n > 1)).toBe(true);
    expect(s.server.nodes.lookupCount(vdpa0.get('power')!)).toBe(1);
  });
});

describe('ioctl and poll', () => {
  it('IOCTL passes cmd, arg, the input bytes, the out size and the caller; the reply carries at most out_size bytes', () => {
    const tree = new KernfsRoot();
    const probe = tree.root.add(new ProbeFile());
    const s = new Session(tree);
    const id = s.lookup(uapi.FUSE_ROOT_ID, 'probe');
    const fh = s.open(id, uapi.O_RDWR);
    const body = Buffer.alloc(uapi.FUSE_IOCTL_IN_SIZE + 4);
    body.writeBigUInt64LE(BigInt(fh), 0);
    body.writeUInt32LE(0x4004af77, 12);
    body.writeBigUInt64LE(0x7fff0000n, 16);
    body.writeUInt32LE(4, 24);
    body.writeUInt32LE(8, 28);
    body.writeInt32LE(-1, 32);
    const r = s.call(uapi.FUSE_IOCTL, id, body, { uid: 5, gid: 6, pid: 7 });
    expect(r.body.readInt32LE(0)).toBe(7);
    expect(r.body.subarray(uapi.FUSE_IOCTL_OUT_SIZE).toString()).toBe('01234567');
    expect(probe.ioctls[0]).toMatchObject({ cmd: 0x4004af77, arg: 0x7fff0000n, outSize: 8, cred: { uid: 5, gid: 6, pid: 7 } });
    expect(probe.ioctls[0].in.readInt32LE(0)).toBe(-1);
    body.writeUInt32LE(0xdead, 12);
    expect(s.call(uapi.FUSE_IOCTL, id, body).error).toBe(E('ENOTTY'));
  });

  it('a file without an ioctl op answers ENOTTY, as vfs_ioctl does', () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    const id = s.walk('sys/devices/vdpa0/driver_override');
    const fh = s.open(id, 0);
    const body = Buffer.alloc(uapi.FUSE_IOCTL_IN_SIZE);
    body.writeBigUInt64LE(BigInt(fh), 0);
    body.writeUInt32LE(0x8001af71, 12);
    expect(s.call(uapi.FUSE_IOCTL, id, body).error).toBe(E('ENOTTY'));
  });

  it('POLL: ready events now; when asked, one NOTIFY_POLL with the kernel handle once the file wakes it', () => {
    const tree = new KernfsRoot();
    const probe = tree.root.add(new ProbeFile());
    const s = new Session(tree);
    const id = s.lookup(uapi.FUSE_ROOT_ID, 'probe');
    const fh = s.open(id, uapi.O_RDWR);
    const body = Buffer.alloc(uapi.FUSE_POLL_IN_SIZE);
    body.writeBigUInt64LE(BigInt(fh), 0);
    body.writeBigUInt64LE(0xabcn, 8);
    body.writeUInt32LE(uapi.FUSE_POLL_SCHEDULE_NOTIFY, 16);
    body.writeUInt32LE(POLLIN, 20);
    expect(s.call(uapi.FUSE_POLL, id, body).body.readUInt32LE(0)).toBe(0);
    expect(probe.wake).toBeDefined();
    probe.ready = POLLIN;
    probe.wake!();
    const n = s.channel.notifications.at(-1)!;
    expect(n.readInt32LE(4)).toBe(uapi.FUSE_NOTIFY_POLL);
    expect(n.readBigUInt64LE(16)).toBe(0xabcn);
    expect(s.call(uapi.FUSE_POLL, id, body).body.readUInt32LE(0)).toBe(POLLIN);
  });

  it('FLUSH reaches a file that has a flush op, and such a file is opened without FOPEN_NOFLUSH', () => {
    const tree = new KernfsRoot();
    const probe = tree.root.add(new ProbeFile());
    const s = new Session(tree);
    const id = s.lookup(uapi.FUSE_ROOT_ID, 'probe');
    const r = s.call(uapi.FUSE_OPEN, id, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]));
    expect(r.body.readUInt32LE(8)).toBe(uapi.FOPEN_DIRECT_IO);
    s.call(uapi.FUSE_FLUSH, id, fhBody(Number(r.body.readBigUInt64LE(0))));
    expect(probe.flushes).toBe(1);
  });
});

describe('sleeping calls', () => {
  function sleepyTree(interruptible: boolean): { tree: KernfsRoot; pending: Array<Completion<number>> } {
    const tree = new KernfsRoot();
    const pending: Array<Completion<number>> = [];
    tree.root.add(
      attr('unbind', {
        store: () => {
          const c = new Completion<number>();
          if (interruptible) c.onInterrupt(() => c.fail(new KernelError('EINTR')));
          pending.push(c);
          return c;
        },
      }),
    );
    return { tree, pending };
  }

  it('a store that sleeps is answered when it completes; other requests are served meanwhile', () => {
    const { tree, pending } = sleepyTree(false);
    const s = new Session(tree);
    const id = s.lookup(uapi.FUSE_ROOT_ID, 'unbind');
    const fh = s.open(id, uapi.O_WRONLY);
    expect(s.send(uapi.FUSE_WRITE, id, rwBody(fh, 0, 6, Buffer.from('vdpa0\n')))).toBeUndefined();
    expect(s.call(uapi.FUSE_GETATTR, id, Buffer.alloc(16)).error).toBe(0);
    pending[0].complete(6);
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        const last = s.channel.replies.at(-1)!;
        expect(last.body.readUInt32LE(0)).toBe(6);
        resolve();
      }),
    );
  });

  it('FUSE_INTERRUPT leaves an uninterruptible sleep alone and ends an interruptible one with EINTR', async () => {
    for (const interruptible of [false, true]) {
      const { tree, pending } = sleepyTree(interruptible);
      const s = new Session(tree);
      const id = s.lookup(uapi.FUSE_ROOT_ID, 'unbind');
      const fh = s.open(id, uapi.O_WRONLY);
      const before = s.channel.replies.length;
      s.server.handle(request(uapi.FUSE_WRITE, id, rwBody(fh, 0, 1, Buffer.from('x')), 777n));
      const intr = Buffer.alloc(8);
      intr.writeBigUInt64LE(777n);
      s.server.handle(request(uapi.FUSE_INTERRUPT, 0, intr, 778n));
      await new Promise((r) => setImmediate(r));
      const replies = s.channel.replies.slice(before);
      if (interruptible) expect(replies).toMatchObject([{ unique: 777n, error: E('EINTR') }]);
      else {
        expect(replies).toEqual([]);
        pending[0].complete(1);
        await new Promise((r) => setImmediate(r));
        expect(s.channel.replies.at(-1)!.unique).toBe(777n);
      }
    }
  });
});

describe('invalidation', () => {
  it('a name that appears or vanishes in a directory the kernel holds is invalidated, and the request that changed it is answered only after', async () => {
    const tree = new KernfsRoot();
    const devices = tree.root.mkdir('devices');
    tree.root.add(
      attr('add', {
        store: (buf) => {
          devices.mkdir(buf.toString().trim());
          return buf.length;
        },
      }),
    );
    const s = new Session(tree);
    const devId = s.lookup(uapi.FUSE_ROOT_ID, 'devices');
    s.call(uapi.FUSE_LOOKUP, devId, cstr('vdpa1')); /* a negative entry the kernel may cache */
    s.channel.holdNotifications = true;
    const id = s.lookup(uapi.FUSE_ROOT_ID, 'add');
    const fh = s.open(id, uapi.O_WRONLY);
    expect(s.send(uapi.FUSE_WRITE, id, rwBody(fh, 0, 6, Buffer.from('vdpa1\n')))).toBeUndefined();
    const inval = s.channel.notifications.find((n) => n.readInt32LE(4) === uapi.FUSE_NOTIFY_INVAL_ENTRY)!;
    expect(Number(inval.readBigUInt64LE(16))).toBe(devId);
    expect(inval.toString('latin1', 32, 32 + inval.readUInt32LE(24))).toBe('vdpa1');
    /* a request that changed nothing is not held back by the pending invalidation */
    expect(s.call(uapi.FUSE_GETATTR, devId, Buffer.alloc(16)).error).toBe(0);
    /* then the directory itself: its cached listing (off 0) and, for a new subdirectory, its nlink (off -1) */
    s.channel.holdNotifications = false;
    s.channel.releaseNotifications();
    await new Promise((r) => setImmediate(r));
    expect(s.channel.replies.at(-1)!.body.readUInt32LE(0)).toBe(6);
    const inodes = s.channel.notifications.filter((n) => n.readInt32LE(4) === uapi.FUSE_NOTIFY_INVAL_INODE);
    expect(inodes.map((n) => [Number(n.readBigUInt64LE(16)), n.readBigInt64LE(24)])).toEqual([
      [devId, 0n],
      [devId, -1n],
    ]);
  });

  it('a SETATTR (chmod of a directory whose entries are changing) is answered at once, never behind an invalidation that needs that directory\'s lock', () => {
    const tree = new KernfsRoot();
    const devices = tree.root.mkdir('devices');
    const s = new Session(tree);
    const devId = s.lookup(uapi.FUSE_ROOT_ID, 'devices');
    s.channel.holdNotifications = true;
    devices.mkdir('vdpa1'); /* INVAL_ENTRY(devices, vdpa1) now waits: the host would need devices' lock */
    const body = Buffer.alloc(uapi.FUSE_SETATTR_IN_SIZE);
    body.writeUInt32LE(uapi.FATTR_MODE, 0);
    body.writeUInt32LE(0o40700, 68);
    const r = s.send(uapi.FUSE_SETATTR, devId, body);
    expect(r?.error).toBe(0);
    expect(attrOut(r!.body).mode).toBe(uapi.S_IFDIR | 0o700);
  });

  it('every change counts: a write whose invalidations are queued behind identical ones is still answered only after its own', async () => {
    const tree = new KernfsRoot();
    const devices = tree.root.mkdir('devices');
    const store = (fn: (name: string) => void) => ({ store: (buf: Buffer) => (fn(buf.toString().trim()), buf.length) });
    tree.root.add(attr('add', store((n) => void devices.mkdir(n))));
    tree.root.add(attr('del', store((n) => devices.remove(n))));
    const s = new Session(tree);
    s.lookup(uapi.FUSE_ROOT_ID, 'devices');
    s.channel.holdNotifications = true;
    const add = s.lookup(uapi.FUSE_ROOT_ID, 'add');
    const del = s.lookup(uapi.FUSE_ROOT_ID, 'del');
    const fa = s.open(add, uapi.O_WRONLY);
    const fd = s.open(del, uapi.O_WRONLY);
    expect(s.send(uapi.FUSE_WRITE, add, rwBody(fa, 0, 2, Buffer.from('y\n')))).toBeUndefined();
    /* The same name and directory again: its reply must wait too, not go out because the entries look alike. */
    expect(s.send(uapi.FUSE_WRITE, del, rwBody(fd, 0, 2, Buffer.from('y\n')))).toBeUndefined();
    s.channel.holdNotifications = false;
    s.channel.releaseNotifications();
    await new Promise((r) => setImmediate(r));
    expect(s.channel.replies.slice(-2).map((r) => r.body.readUInt32LE(0))).toEqual([2, 2]);
  });

  it('names are UTF-8 on the wire, as every other door into the model speaks them', () => {
    const tree = new KernfsRoot();
    tree.root.mkdir('vdpä');
    const s = new Session(tree);
    expect(s.call(uapi.FUSE_LOOKUP, uapi.FUSE_ROOT_ID, Buffer.from('vdp\xc3\xa4\0', 'latin1')).error).toBe(0);
    const list = s.call(uapi.FUSE_READDIR, uapi.FUSE_ROOT_ID, rwBody(0, 2, 4096)).body;
    expect(list.subarray(24, 24 + list.readUInt32LE(16))).toEqual(Buffer.from('vdpä', 'utf8'));
  });

  it('changes in a directory the kernel never looked at send nothing', () => {
    const tree = new KernfsRoot();
    const s = new Session(tree);
    tree.root.mkdir('a').mkdir('b');
    const before = s.channel.notifications.length;
    (tree.lookup('/a') as KernDir).mkdir('c');
    /* `a` appearing in the root is announced (the root is always known); nothing under `a` is */
    expect(s.channel.notifications.length - before).toBe(0);
  });
});

describe('malformed input never stops the server', () => {
  it('short headers are dropped, a len beyond the message and short bodies are EINVAL', () => {
    const s = new Session(sampleTree().tree);
    const n = s.channel.replies.length;
    s.server.handle(Buffer.alloc(10));
    expect(s.channel.replies.length).toBe(n);
    const bad = request(uapi.FUSE_GETATTR, 1, Buffer.alloc(16), 5n);
    bad.writeUInt32LE(bad.length + 100, 0);
    s.server.handle(bad);
    expect(s.channel.replies.at(-1)).toMatchObject({ unique: 5n, error: E('EINVAL') });
    expect(s.call(uapi.FUSE_LOOKUP, 1, Buffer.from('no-nul')).error).toBe(E('EINVAL'));
    expect(s.call(uapi.FUSE_SETATTR, 1, Buffer.alloc(4)).error).toBe(E('EINVAL'));
    expect(s.call(uapi.FUSE_IOCTL, 1, Buffer.alloc(4)).error).toBe(E('EINVAL'));
  });

  it('random requests for every opcode get well-formed replies and leave the server serving', () => {
    const { tree } = sampleTree();
    const s = new Session(tree);
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let i = 0; i < 5000; i++) {
      const body = Buffer.alloc(rand(200));
      for (let j = 0; j < body.length; j++) body[j] = rand(256);
      const opcode = i % 3 === 0 ? rand(60) : [uapi.FUSE_READ, uapi.FUSE_WRITE, uapi.FUSE_IOCTL, uapi.FUSE_READDIRPLUS, uapi.FUSE_LOOKUP][rand(5)];
      /* CaptureChannel.reply throws on a malformed reply */
      s.server.handle(request(opcode, rand(3) === 0 ? rand(1 << 20) : 1, body, BigInt(10000 + i)));
    }
    expect(s.walk('sys/devices/vdpa0/driver_override')).toBeGreaterThan(1);
  });
});
