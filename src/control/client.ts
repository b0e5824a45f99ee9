/*
 * The CLIs' side of the control socket.
 */
import * as net from 'node:net';
import { LineReader } from './line_reader';
import { Reply, Request, runPaths as runPathsOf } from './protocol';

export class ControlError extends Error {
  constructor(
    readonly errno: string,
    readonly extack?: string,
  ) {
    super(extack ?? errno);
  }
}

/* The mount point a CLI talks to: --root, else $VDPAFS_ROOT. */
export function resolveRoot(explicit: string | undefined): string | undefined {
  return explicit ?? process.env.VDPAFS_ROOT ?? undefined;
}

/* Replies are as long as a dump of every device; far below this. */
const MAX_REPLY_BYTES = 256 << 20;

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; onEvent?: (e: unknown) => void }>();

  private constructor(private readonly sock: net.Socket) {
    const reader = new LineReader(
      MAX_REPLY_BYTES,
      (line) => this.onLine(line),
      () => this.failAll({ id: null, errno: 'EMSGSIZE', extack: 'reply too long' }),
    );
    /* An error after connect (the daemon died mid-request) ends in 'close' below. */
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
    sock.on('close', () => this.failAll({ id: null, errno: 'ECONNRESET', extack: 'daemon went away' }));
  }

  static connect(mountpoint: string): Promise<ControlClient> {
    const { sock } = runPathsOf(mountpoint);
    return new Promise((resolve, reject) => {
      const s = net.createConnection(sock);
      s.once('connect', () => resolve(new ControlClient(s)));
      s.once('error', (e) =>
        reject(new Error(`no vdpafs kernel at ${mountpoint} (${(e as NodeJS.ErrnoException).code}: ${sock})`)),
      );
    });
  }

  private failAll(reply: Reply): void {
    for (const p of this.pending.values()) p.resolve(reply);
    this.pending.clear();
  }

  private onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      return this.failAll({ id: null, errno: 'EPROTO', extack: 'the daemon sent a line that is not JSON' });
    }
    /* A null id answers a line the daemon could not read: none of ours can be told apart, so all fail. */
    if (reply.id === null) return this.failAll(reply);
    const p = this.pending.get(reply.id);
    if (!p) return;
    if (reply.event !== undefined) {
      p.onEvent?.(reply.event);
      return;
    }
    this.pending.delete(reply.id);
    p.resolve(reply);
  }

  /* One request; rejects with a ControlError carrying the kernel's errno. */
  async call<T = unknown>(method: string, params?: unknown, onEvent?: (e: unknown) => void): Promise<T> {
    const id = this.nextId++;
    const req: Request = { id, method, params };
    const reply = await new Promise<Reply>((resolve) => {
      if (this.sock.destroyed) return resolve({ id, errno: 'ECONNRESET', extack: 'daemon went away' });
      this.pending.set(id, { resolve, onEvent });
      this.sock.write(JSON.stringify(req) + '\n');
    });
    if (reply.errno) throw new ControlError(reply.errno, reply.extack);
    return reply.result as T;
  }

  close(): void {
    this.sock.end();
  }
}
