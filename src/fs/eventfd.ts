/*
 * fs/eventfd.c, as vhost uses it.
 *
 * EventfdCtx is what vhost holds once eventfd_ctx_fdget() (or
 * eventfd_fget()) resolved a caller's fd number: a reference to the eventfd
 * it can signal (call, config, err), wait on (kick: vhost_poll), and drop
 * (eventfd_ctx_put / fput). Two implementations:
 *  - Eventfd below: an eventfd the model itself owns (the shell driver's,
 *    a unit test's);
 *  - HostEventfd (src/host/eventfd.ts): a client process's eventfd,
 *    duplicated into the daemon.
 */
import { fail } from '../kernel/errno';

export interface EventfdCtx {
  /* eventfd_signal(): add 1 to the counter and wake its waiters. */
  signal(): void;
  /*
   * vhost_poll_start(): call `wake` on every signal from now on -- and
   * once more if the counter is already nonzero (an eventfd handed over
   * already signalled wakes the poller at once). Returns vhost_poll_stop.
   */
  poll(wake: () => void): () => void;
  /* eventfd_ctx_put(): drop this reference (a duplicate is closed). */
  put(): void;
}

/*
 * An eventfd owned by the model: a counter that signal() adds to, read()
 * drains (EAGAIN when zero, as a non-blocking read), and waiters that run
 * on every signal (poll wakeups).
 */
export class Eventfd implements EventfdCtx {
  private count = 0;
  private readonly waiters = new Set<() => void>();

  /* eventfd_signal(), or a write(2) of n. */
  signal(n = 1): void {
    this.count += n;
    for (const w of this.waiters) w();
  }

  /* read(2) on a non-blocking eventfd: the count, reset to 0. */
  read(): number {
    if (this.count === 0) fail('EAGAIN');
    const c = this.count;
    this.count = 0;
    return c;
  }

  /* What a read would return now (poll's POLLIN when > 0). */
  get pending(): number {
    return this.count;
  }

  poll(wake: () => void): () => void {
    this.waiters.add(wake);
    if (this.count > 0) wake();
    return () => void this.waiters.delete(wake);
  }

  /* The model's own eventfd lives as long as something refers to it. */
  put(): void {}
}
