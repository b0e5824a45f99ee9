/*
 * The uevent netlink broadcast (lib/kobject_uevent.c): every event gets the
 * next SEQNUM, also shown by /sys/kernel/uevent_seqnum, and reaches every
 * listener (`vdpafs monitor`) in order.
 */
import createDebug from 'debug';
import type { UeventEnv } from '../drivers/base/core';
import type { Printk } from './printk';
import { fail } from './errno';

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

/* lib/kobject_uevent.c: kobject_actions[], in enum kobject_action order. */
export type KobjAction = 'add' | 'remove' | 'change' | 'move' | 'online' | 'offline' | 'bind' | 'unbind';
export const KOBJ_ACTIONS: readonly KobjAction[] = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'];

/*
 * kobject_uevent_env() for a kobject that is not a struct device: a
 * module, a bus, a driver, a net queue. Their kset decides SUBSYSTEM
 * ("module", "bus", "drivers", "queues") and adds nothing of its own.
 */
export function kobjectUeventPlain(
  uevents: UeventBroadcaster,
  kobjPath: string,
  subsystem: string,
  action: KobjAction,
  extra: UeventEnv = [],
): void {
  uevents.broadcast([['ACTION', action], ['DEVPATH', kobjPath.replace(/^\/sys/, '')], ['SUBSYSTEM', subsystem], ...extra]);
}

/* uuid_is_valid(): 8-4-4-4-12 hex digits. */
function uuidIsValid(s: string): boolean {
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
}

/*
 * kobject_synth_uevent(): what writing to a `uevent` file asks for.
 * "ACTION [UUID [KEY=VALUE ...]]", one trailing newline or NUL tolerated.
 * Without a UUID the event carries SYNTH_UUID=0; with one, SYNTH_UUID=<it>
 * and SYNTH_ARG_KEY=VALUE per pair. Anything malformed is EINVAL, with the
 * kernel's pr_warn. Returns the action and the variables to add.
 */
export function parseSynthUevent(buf: Buffer): { action: KobjAction; env: UeventEnv } | { error: string } {
  let s = buf.toString('latin1');
  if (s.endsWith('\n') || s.endsWith('\0')) s = s.slice(0, -1);
  if (!s.length) return { error: 'unknown uevent action string' };
  const sp = s.indexOf(' ');
  const word = sp === -1 ? s : s.slice(0, sp);
  const action = KOBJ_ACTIONS.find((a) => a === word);
  if (!action) return { error: 'unknown uevent action string' };
  if (sp === -1) return { action, env: [['SYNTH_UUID', '0']] };
  let args = s.slice(sp + 1);
  if (args.endsWith('\n') || args.endsWith('\0')) args = args.slice(0, -1);
  const bad = { error: 'incorrect uevent action arguments' };
  if (args.length < 36 || !uuidIsValid(args.slice(0, 36))) return bad;
  const env: UeventEnv = [['SYNTH_UUID', args.slice(0, 36)]];
  let rest = args.slice(36);
  while (rest.length) {
    if (rest[0] !== ' ') return bad;
    rest = rest.slice(1);
    /* action_arg_word_end(): keys and values are non-empty runs of alphanumerics. */
    const m = /^([A-Za-z0-9]+)=([A-Za-z0-9]+)/.exec(rest);
    if (!m) return bad;
    const [, key, value] = m;
    const end = m[0].length < rest.length ? m[0].length : -1;
    env.push([`SYNTH_ARG_${key}`, value]);
    rest = end === -1 ? '' : rest.slice(end);
  }
  return { action, env };
}

/*
 * kobject_synth_uevent() as a `uevent` store: send the event and return the
 * count, or warn as the kernel does and fail EINVAL.
 */
export function kobjectSynthUevent(
  log: Printk,
  kobjPath: string,
  buf: Buffer,
  send: (action: KobjAction, env: UeventEnv) => void,
): number {
  const r = parseSynthUevent(buf);
  if ('error' in r) {
    log.kmsg('warn', `synth uevent: ${kobjPath.replace(/^\/sys/, '')}: ${r.error}`);
    fail('EINVAL');
  }
  send(r.action, r.env);
  return buf.length;
}
