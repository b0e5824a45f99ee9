/*
 * `current`: the task a request comes from, as far as a driver reaches it --
 * its memory (current->mm, for copy_from_user/copy_to_user and for the
 * pages vhost pins) and its file table (current->files, for the eventfd
 * numbers an ioctl names).
 *
 * The model never talks to processes itself. A Kernel has a `tasks` hook
 * that turns the Cred of a request (whose pid is the calling *thread*) into
 * a Task:
 *  - by default there are none: every access faults (EFAULT) and every fd
 *    number is EBADF, as for a caller whose memory the model cannot see;
 *  - LocalTasks below: tasks the model holds itself (unit tests, with a
 *    GuestMemory and a table of Eventfds);
 *  - the daemon installs the host's (src/host/tasks.ts): /proc/<tgid>/mem
 *    and pidfd_getfd() on the real calling process.
 */
import type { Cred } from './cred';
import { fail } from './errno';
import type { EventfdCtx } from '../fs/eventfd';
import type { UserMm } from '../mm/user_mm';
import { GuestMemory } from '../mm/guest_memory';

export interface Task {
  /* The thread group (process) id. */
  readonly tgid: number;
  /*
   * get_task_mm(): a reference to the task's memory, which the holder
   * drops with mmput(). A dead task, or one without memory, faults.
   */
  mmGet(): UserMm;
  /*
   * eventfd_ctx_fdget(fd): the eventfd behind the task's descriptor `fd`,
   * as a reference of our own. EBADF if there is no such descriptor,
   * EINVAL if it is not an eventfd.
   */
  eventfdCtxFdget(fd: number): EventfdCtx;
}

export interface Tasks {
  /* The task behind a request's credentials (cred.pid is a thread id). */
  current(cred: Readonly<Cred>): Task;
}

/* Memory nobody can reach: every access faults, no range can be pinned. */
const NO_MM = new GuestMemory();

const noTask: Task = {
  tgid: 0,
  mmGet: () => NO_MM,
  eventfdCtxFdget: () => fail('EBADF'),
};

/* The default hook: callers the model cannot see into. */
export const NO_TASKS: Tasks = { current: () => noTask };

/*
 * Tasks the model holds itself: a pid (thread or process id) maps to a
 * process with a GuestMemory and an fd table of model eventfds. Threads of
 * one process share both, as on Linux.
 */
export interface LocalProcess {
  mm: UserMm;
  fds: Map<number, EventfdCtx>;
}

export class LocalTasks implements Tasks {
  private readonly byPid = new Map<number, { tgid: number; proc: LocalProcess }>();

  /* A process whose thread group id is `tgid`; more thread ids with addThread(). */
  addProcess(tgid: number, proc: LocalProcess): LocalProcess {
    this.byPid.set(tgid, { tgid, proc });
    return proc;
  }

  addThread(tgid: number, tid: number): void {
    const p = this.byPid.get(tgid);
    if (p === undefined) fail('ESRCH');
    this.byPid.set(tid, p);
  }

  current(cred: Readonly<Cred>): Task {
    const p = this.byPid.get(cred.pid);
    if (p === undefined) return noTask;
    const { tgid, proc } = p;
    return {
      tgid,
      mmGet: () => proc.mm,
      eventfdCtxFdget: (fd: number) => {
        const ctx = proc.fds.get(fd);
        if (ctx === undefined) fail('EBADF');
        return ctx;
      },
    };
  }
}
