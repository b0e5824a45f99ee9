/*
 * struct completion, for a synchronous model.
 *
 * Some kernel paths sleep until another task acts: vhost_vdpa_remove() waits
 * for the char device's last close before unbind can finish. The model never
 * blocks; a function that would sleep returns a Completion instead, and the
 * code that would have run after the wake-up is chained onto it. Whoever
 * performs the wake-up (here: release of the open file) calls complete(),
 * which runs the continuations synchronously, as the woken task would.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export class Completion<T = void> {
  private outcome: Outcome<T> | undefined;
  private waiters: Array<(o: Outcome<T>) => void> = [];
  private interruptHandler: (() => void) | null = null;

  get isDone(): boolean {
    return this.outcome !== undefined;
  }

  complete(value: T): void {
    this.settle({ ok: true, value });
  }

  /* The continuation threw (a KernelError): whoever waits gets the error. */
  fail(error: unknown): void {
    this.settle({ ok: false, error });
  }

  private settle(o: Outcome<T>): void {
    if (this.outcome) return;
    this.outcome = o;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(o);
  }

  private onSettled(fn: (o: Outcome<T>) => void): void {
    if (this.outcome) fn(this.outcome);
    else this.waiters.push(fn);
  }

  /* A completion resolved by `fn`'s result once this one completes. */
  then<U>(fn: (v: T) => MaybeWait<U>): Completion<U> {
    const next = new Completion<U>();
    this.onSettled((o) => {
      if (!o.ok) return next.fail(o.error);
      try {
        const r = fn(o.value);
        if (r instanceof Completion) r.onSettled((ro) => next.settle(ro));
        else next.complete(r);
      } catch (e) {
        next.fail(e);
      }
    });
    return next;
  }

  /*
   * A completion resolved by `fn`, which sees the outcome either way: the
   * caller that checks a return code (netlink_rcv_skb() acks an error too).
   */
  whenSettled<U>(fn: (o: Outcome<T>) => MaybeWait<U>): Completion<U> {
    const next = new Completion<U>();
    this.onSettled((o) => {
      try {
        const r = fn(o);
        if (r instanceof Completion) r.onSettled((ro) => next.settle(ro));
        else next.complete(r);
      } catch (e) {
        next.fail(e);
      }
    });
    return next;
  }

  /*
   * An interruptible sleep (wait_event_interruptible): `fn` runs if the
   * waiter is signalled before the completion, and decides what happens
   * (typically: stop waiting and fail with EINTR). Without a handler the
   * sleep is uninterruptible, as wait_for_completion() is.
   */
  onInterrupt(fn: () => void): this {
    this.interruptHandler = fn;
    return this;
  }

  /* The waiting task got a signal (FUSE_INTERRUPT). */
  interrupt(): void {
    if (this.outcome) return;
    const fn = this.interruptHandler;
    this.interruptHandler = null;
    fn?.();
  }

  /* For the async edges (FUSE callbacks, the control socket). */
  toPromise(): Promise<T> {
    return new Promise((resolve, reject) =>
      this.onSettled((o) => (o.ok ? resolve(o.value) : reject(o.error))),
    );
  }
}

/* A value now, or later. */
export type MaybeWait<T> = T | Completion<T>;

/* Run `fn` after `m` resolves; synchronous when `m` is a plain value. */
export function after<T, U>(m: MaybeWait<T>, fn: (v: T) => MaybeWait<U>): MaybeWait<U> {
  if (m instanceof Completion) return m.then(fn);
  return fn(m);
}

export function settle<T>(m: MaybeWait<T>): Promise<T> {
  return m instanceof Completion ? m.toPromise() : Promise.resolve(m);
}
