/*
 * vdpafs net: frames through a netdev of the simulated host, the way a raw
 * packet socket (AF_PACKET, SOCK_RAW) sees them, and `ip link set` to
 * bring the netdev up or down. There is no protocol stack on the host:
 * these are whole Ethernet frames, destination MAC first, no FCS.
 *
 *   vdpafs net set eth0 up
 *   vdpafs net send eth0 ffffffffffff001122334455 88b5 68656c6c6f
 *   vdpafs net recv eth0 --count 1
 */
import * as fs from 'node:fs';
import { ControlError } from '../control/client';
import { connectKernel, UsageError } from './common';
import type { Command } from './vdpafs';
import { isErrno, strerror } from '../kernel/errno';
import { NET_FRAME_MAX, NET_SEND_MAX_COUNT } from '../control/protocol';
import { NETDEV_CAPTURE_MAX } from '../net/core/dev';

const usage = `Usage: vdpafs net set IFNAME up|down
       vdpafs net send IFNAME [-c COUNT] HEX... | -f FILE
       vdpafs net recv IFNAME [-c COUNT] [-t SECONDS] [-j]

Ethernet frames through a netdev of the simulated host, as a raw packet
socket bound to it would send and receive them (no protocol stack: the
frame starts with the destination MAC and has no FCS).

  set IFNAME up|down   bring the interface up or down (ip link set dev IFNAME up)
  send IFNAME HEX...   transmit one frame: the HEX words are joined, so
                       "ffffffffffff 001122334455 88b5 6869" is one frame
                       (':', '-' and spaces inside a word are ignored too)
    -f, --file FILE    the frame's raw bytes from FILE ('-' for stdin)
    -c, --count N      send the frame N times (at most ${NET_SEND_MAX_COUNT})
  recv IFNAME          print the frames IFNAME received since the last recv,
                       oldest first, one hex line each (the netdev keeps the
                       last 1024)
    -c, --count N      wait until N frames are there, print those N (at most ${NETDEV_CAPTURE_MAX})
    -t, --timeout SEC  how long to wait for them (default 2); fewer is exit 1
    -j, --json         [{"ifname", "usec", "len", "data"}] instead

Errors are the kernel's: "Network is down" (send while down), "Message too
long" (over the MTU), "Invalid argument" (shorter than an Ethernet header),
'Cannot find device "IFNAME"'.
`;

function parseHex(words: string[]): Buffer {
  const hex = words.join('').replace(/[:\s-]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new UsageError(`not a hex frame: ${words.join(' ')}`);
  return Buffer.from(hex, 'hex');
}

function explain(e: unknown, ifname: string): string {
  if (e instanceof ControlError) {
    if (e.errno === 'ENODEV') return `Cannot find device "${ifname}"`;
    return isErrno(e.errno) ? strerror(e.errno) : e.message;
  }
  return String((e as Error)?.message ?? e);
}

export const command: Command = {
  name: 'net',
  summary: 'send and receive frames on a netdev; bring it up or down',
  usage,
  async run(argv, ctx) {
    const [verb, ifname, ...rest] = argv;
    if (!verb) throw new UsageError('missing command (set, send or recv)');
    if (!['set', 'send', 'recv'].includes(verb)) throw new UsageError(`unknown command '${verb}'`);
    if (!ifname) throw new UsageError('missing IFNAME');

    let count: number | undefined;
    let timeout = 2;
    let json = false;
    let file: string | undefined;
    const words: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i];
      const value = (): string => {
        const v = rest[++i];
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        return v;
      };
      if (a === '-c' || a === '--count') {
        const v = value();
        count = /^[0-9]+$/.test(v) ? Number(v) : NaN;
        const max = verb === 'recv' ? NETDEV_CAPTURE_MAX : NET_SEND_MAX_COUNT;
        if (!Number.isInteger(count) || count < 1 || count > max) throw new UsageError(`bad count '${v}' (1 to ${max})`);
      } else if (a === '-t' || a === '--timeout') {
        const v = value();
        timeout = /^[0-9]+(\.[0-9]*)?$/.test(v) ? Number(v) : NaN;
        if (!(timeout >= 0 && timeout <= 600)) throw new UsageError(`bad timeout '${v}' (0 to 600 seconds)`);
      } else if (a === '-j' || a === '--json') json = true;
      else if (a === '-f' || a === '--file') file = value();
      else if (a.startsWith('-') && a.length > 1) throw new UsageError(`unknown option ${a}`);
      else words.push(a);
    }

    let request: { method: string; params: unknown };
    if (verb === 'set') {
      if (words.length !== 1 || !['up', 'down'].includes(words[0])) throw new UsageError('set wants up or down');
      request = { method: 'net_link', params: { ifname, up: words[0] === 'up' } };
    } else if (verb === 'send') {
      let frame: Buffer;
      if (file !== undefined) {
        if (words.length) throw new UsageError('give the frame as HEX or with -f, not both');
        try {
          frame = fs.readFileSync(file === '-' ? 0 : file);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          process.stderr.write(`${ctx.prog}: cannot read ${file}: ${code && isErrno(code) ? strerror(code) : (e as Error).message}\n`);
          return 1;
        }
      } else {
        if (!words.length) throw new UsageError('missing frame (HEX... or -f FILE)');
        frame = parseHex(words);
      }
      if (frame.length > NET_FRAME_MAX) throw new UsageError(`a frame is at most ${NET_FRAME_MAX} bytes (this one is ${frame.length})`);
      request = { method: 'net_send', params: { ifname, frame: frame.toString('hex'), count: count ?? 1 } };
    } else {
      if (words.length) throw new UsageError(`unexpected argument '${words[0]}'`);
      request = { method: 'net_recv', params: { ifname, count, timeoutMs: Math.round(timeout * 1000) } };
    }

    const client = await connectKernel(ctx.prog, ctx.root);
    if (!client) return 1;
    try {
      const result = await client.call(request.method, request.params);
      if (verb === 'recv') {
        const frames = result as Array<{ ifname: string; usec: number; len: number; data: string }>;
        if (json) process.stdout.write(JSON.stringify(frames) + '\n');
        else for (const f of frames) process.stdout.write(`${f.data}\n`);
        if (count !== undefined && frames.length < count) {
          process.stderr.write(`${ctx.prog}: ${frames.length} of ${count} frames received on ${ifname} in ${timeout} s\n`);
          return 1;
        }
      } else if (verb === 'send') {
        const r = result as { sent: number; dropped: number };
        if (r.dropped) {
          process.stderr.write(`${ctx.prog}: ${r.dropped} of ${r.sent + r.dropped} frames dropped (transmit queue full)\n`);
          return 1;
        }
      }
      return 0;
    } catch (e) {
      process.stderr.write(`${ctx.prog}: ${verb} ${ifname}: ${explain(e, ifname)}\n`);
      return 1;
    } finally {
      client.close();
    }
  },
};
