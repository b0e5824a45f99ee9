/*
 * `current` for requests from real processes: the kernel's `tasks` hook
 * (kernel/task.ts) on the host.
 *
 * A request carries the calling *thread*'s id (FUSE's in.pid; a VMM's
 * vCPU threads issue most of its ioctls). From it:
 *  - the memory is the thread group's: /proc/<tgid>/mem, with the tgid
 *    read from /proc/<tid>/status (one mm per thread group);
 *  - an fd number names an entry of the thread's file table: pidfd_open()
 *    of the thread itself (PIDFD_THREAD, Linux >= 6.9; pidfd_open() of a
 *    non-leader thread without it fails ENOENT), or of its thread group on
 *    older kernels, then pidfd_getfd(). The pidfd is closed at once; the
 *    duplicate is the EventfdCtx's to close.
 *
 * The errnos are eventfd_ctx_fdget()'s: EBADF for no such descriptor (or a
 * caller that is gone), EINVAL for a descriptor that is not an eventfd.
 */
import * as fs from 'node:fs';
import createDebug from 'debug';
import type { Cred } from '../kernel/cred';
import { fail } from '../kernel/errno';
import type { Kernel } from '../kernel/kernel';
import type { Task, Tasks } from '../kernel/task';
import { GuestMemory } from '../mm/guest_memory';
import type { UserMm } from '../mm/user_mm';
import type { EventfdCtx } from '../fs/eventfd';
import { HostError, PIDFD_THREAD, pidfdGetfd, pidfdOpen } from './libc';
import { HostEventfd } from './eventfd';
import { ProcMem } from './user_mm';

const trace = createDebug('vdpafs:host:tasks');

/* What readlink(/proc/self/fd/N) shows for an eventfd. */
const EVENTFD_LINK = 'anon_inode:[eventfd]';

/* The thread group of a thread: Tgid in /proc/<tid>/status; ESRCH if it is gone. */
export function tgidOf(tid: number): number {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${tid}/status`, 'latin1');
  } catch {
    fail('ESRCH');
  }
  const m = /^Tgid:\s*(\d+)$/m.exec(status);
  if (m === null) fail('ESRCH');
  return Number(m[1]);
}

/* pidfd_open() of the thread itself, or of its thread group where PIDFD_THREAD is unknown. */
function pidfdOfThread(tid: number): number {
  try {
    return pidfdOpen(tid, PIDFD_THREAD);
  } catch (e) {
    if (!(e instanceof HostError) || e.code !== 'EINVAL') throw e;
  }
  return pidfdOpen(tgidOf(tid), 0);
}

/* Memory nobody can reach: for a caller that is gone before its request is served. */
const GONE: UserMm = new GuestMemory();

class HostTask implements Task {
  private tgidCache: number | null = null;

  constructor(readonly tid: number) {}

  get tgid(): number {
    if (this.tgidCache === null) {
      try {
        this.tgidCache = tgidOf(this.tid);
      } catch {
        this.tgidCache = -1;
      }
    }
    return this.tgidCache;
  }

  mmGet(): UserMm {
    const tgid = this.tgid;
    if (tgid <= 0) return GONE;
    try {
      return new ProcMem(tgid);
    } catch (e) {
      trace('no memory for %d: %s', tgid, (e as Error).message);
      return GONE;
    }
  }

  eventfdCtxFdget(fd: number): EventfdCtx {
    if (!Number.isInteger(fd) || fd < 0) fail('EBADF');
    let pidfd: number;
    try {
      pidfd = pidfdOfThread(this.tid);
    } catch {
      /* The caller is gone: its file table with it. */
      fail('EBADF');
    }
    let dup: number;
    try {
      dup = pidfdGetfd(pidfd, fd);
    } catch (e) {
      trace('pidfd_getfd(%d, %d): %s', this.tid, fd, (e as Error).message);
      fail(e instanceof HostError && e.code === 'EPERM' ? 'EPERM' : 'EBADF');
    } finally {
      fs.closeSync(pidfd);
    }
    let link = '';
    try {
      link = fs.readlinkSync(`/proc/self/fd/${dup}`);
    } catch {
      /* unreadable: not an eventfd */
    }
    if (link !== EVENTFD_LINK) {
      fs.closeSync(dup);
      fail('EINVAL');
    }
    trace('thread %d fd %d -> our fd %d', this.tid, fd, dup);
    return new HostEventfd(dup);
  }
}

export class HostTasks implements Tasks {
  current(cred: Readonly<Cred>): Task {
    return new HostTask(cred.pid);
  }
}

/*
 * What the daemon calls once, after booting the kernel: requests through
 * the mount reach their callers' memory and eventfds.
 */
export function installHostTasks(k: Kernel): void {
  k.tasks = new HostTasks();
}
