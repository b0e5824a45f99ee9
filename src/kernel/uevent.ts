/*
 * The uevent netlink broadcast (lib/kobject_uevent.c): every event gets the
 * next SEQNUM, also shown by /sys/kernel/uevent_seqnum, and reaches every
 * listener (`vdpafs monitor`) in order.
 */
import createDebug from 'debug';
import type { UeventEnv } from '../drivers/base/core';

const trace = createDebug('vdpafs:uevent');

export interface Uevent {
  seqnum: number;
  /* Microseconds since boot, for monitor's timestamps. */
  usec: number;
  env: UeventEnv;
}

export class UeventBroadcaster {
  seqnum = 0;
  /* A short history, so a monitor started late can be tested deterministically. */
  readonly history: Uevent[] = [];
  private readonly listeners = new Set<(e: Uevent) => void>();

  constructor(private readonly clock: () => number) {}

  broadcast(env: UeventEnv): void {
    const seqnum = ++this.seqnum;
    const ev: Uevent = { seqnum, usec: this.clock(), env: [...env, ['SEQNUM', String(seqnum)]] };
    this.history.push(ev);
    if (this.history.length > 1024) this.history.shift();
    trace('%s %s', env[0][1], env[1][1]);
    for (const l of this.listeners) l(ev);
  }

  subscribe(fn: (e: Uevent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
