/*
 * A client process's memory, as the daemon reaches it: /proc/<tgid>/mem.
 *
 * Reading and writing at position = user address is what the kernel does
 * for ptrace (access_remote_vm): it works as root on any process, per page,
 * and an address that is not mapped fails EIO (a partly mapped range comes
 * back short). Both become MemoryFault (EFAULT), so a bad ring address in a
 * client is the device's error path, never a crash of the daemon.
 *
 * Writes through /proc/<pid>/mem are forced (FOLL_FORCE): they would reach
 * a page the client mapped read-only. The model never asks for that: the
 * IOTLB's permissions are checked before any access, and an IOTLB update
 * checks the mapping's protection first (pinnable, from /proc/<tgid>/maps),
 * and that its pages do not live on a file system that needs a server to
 * answer (UNSAFE_FS). A process that maps such a file over checked memory
 * afterwards can still make a ring access wait for that server.
 *
 * The file is opened once per reference (mmGet) and closed by mmput().
 */
import * as fs from 'node:fs';
import createDebug from 'debug';
import { MemoryFault } from '../mm/guest_memory';
import type { UserMm } from '../mm/user_mm';

const trace = createDebug('vdpafs:host:mm');

/*
 * File systems whose pages the daemon must not fault in: a read of
 * /proc/<tgid>/mem at such a mapping waits for that file system's server --
 * possibly this very daemon, whose main thread is the one reading (a FUSE
 * mount), or a network peer that may never answer. pin_user_pages() would
 * take such pages; here an IOTLB map of them, and an ioctl argument in
 * them, is refused (EFAULT): a listed departure.
 */
const UNSAFE_FS = /^(fuse|fuseblk|nfs|nfs4|cifs|smb3|9p|ceph|virtiofs|afs)(\.|$)/;

/*
 * A file mapping whose pages need no one to answer: on a block device
 * (major != 0), or on a memory file system (tmpfs, hugetlbfs, a memfd, SysV
 * shm, /dev/zero), or on any local file system not in UNSAFE_FS.
 */
export function memoryBackedByAnyone(major: number, minor: number, path: string, types: Map<string, string>): boolean {
  if (major !== 0) return true;
  if (/^\/(memfd:|SYSV|dev\/zero)/.test(path)) return true;
  const type = types.get(`${major}:${minor}`);
  /* An anonymous-device mount the client cannot see any more (lazily unmounted): unknown, refused. */
  return type !== undefined && !UNSAFE_FS.test(type);
}

export class ProcMem implements UserMm {
  readonly generation = 0;
  private fd: number | null;

  constructor(readonly tgid: number) {
    this.fd = fs.openSync(`/proc/${tgid}/mem`, 'r+');
    trace('open /proc/%d/mem as fd %d', tgid, this.fd);
  }

  readInto(addr: number, dst: Uint8Array, dstOff: number, len: number): void {
    const fd = this.liveFd(addr, len, 'r');
    let done = 0;
    while (done < len) {
      let n: number;
      try {
        n = fs.readSync(fd, dst, dstOff + done, len - done, addr + done);
      } catch {
        n = 0;
      }
      if (n <= 0) throw new MemoryFault('AddressFault', addr + done, len - done, 'r');
      done += n;
    }
  }

  write(addr: number, src: Uint8Array, srcOff: number, len: number): void {
    const fd = this.liveFd(addr, len, 'w');
    let done = 0;
    while (done < len) {
      let n: number;
      try {
        n = fs.writeSync(fd, src, srcOff + done, len - done, addr + done);
      } catch {
        n = 0;
      }
      if (n <= 0) throw new MemoryFault('AddressFault', addr + done, len - done, 'w');
      done += n;
    }
  }

  /*
   * pin_user_pages() would succeed: every page of the range lies in a
   * mapping of the process (/proc/<tgid>/maps), readable, and writable
   * when asked. A process that is gone has no pages.
   */
  pinnable(addr: bigint, size: bigint, write: boolean): boolean {
    if (size <= 0n) return false;
    let maps: string;
    try {
      maps = fs.readFileSync(`/proc/${this.tgid}/maps`, 'latin1');
    } catch {
      return false;
    }
    const end = addr + size;
    let at = addr;
    let fsTypes: Map<string, string> | null = null;
    /* The maps are sorted by address and do not overlap: walk them once. */
    for (const line of maps.split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ ([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
      if (m === null) continue;
      const start = BigInt(`0x${m[1]}`);
      const stop = BigInt(`0x${m[2]}`);
      if (stop <= at) continue;
      if (start > at) return false;
      const perms = m[3];
      if (perms[0] !== 'r' || (write && perms[1] !== 'w')) return false;
      if (m[6] !== '0') {
        fsTypes ??= this.fsTypes();
        if (!memoryBackedByAnyone(parseInt(m[4], 16), parseInt(m[5], 16), m[7], fsTypes)) return false;
      }
      at = stop;
      if (at >= end) return true;
    }
    return false;
  }

  /* The client's mounts: "major:minor" (decimal) -> file system type. */
  private fsTypes(): Map<string, string> {
    const types = new Map<string, string>();
    try {
      for (const line of fs.readFileSync(`/proc/${this.tgid}/mountinfo`, 'latin1').split('\n')) {
        const f = line.split(' ');
        const sep = f.indexOf('-');
        if (sep > 0 && f[2]) types.set(f[2], f[sep + 1]);
      }
    } catch {
      /* gone: nothing maps */
    }
    return types;
  }

  mmput(): void {
    if (this.fd === null) return;
    trace('close /proc/%d/mem (fd %d)', this.tgid, this.fd);
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private liveFd(addr: number, len: number, access: 'r' | 'w'): number {
    if (this.fd === null || !(addr >= 0 && addr + len <= Number.MAX_SAFE_INTEGER))
      throw new MemoryFault('AddressFault', addr, len, access);
    return this.fd;
  }
}
