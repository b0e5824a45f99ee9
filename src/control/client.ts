/*
 * The CLIs' side of the control socket.
 */
import * as net from 'node:net';
import { Reply, Request, runPaths } from './protocol';

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

export class ControlClient {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; onEvent?: (e: unknown) => void }>();

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    /* An error after connect (the daemon died mid-request) ends in 'close' below. */
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('close', () => {
      for (const p of this.pending.values()) p.resolve({ id: 0, errno: 'ECONNRESET', extack: 'daemon went away' });
      this.pending.clear();
    });
  }

  static connect(mountpoint: string): Promise<ControlClient> {
    const { sock } = runPaths(mountpoint);
    return new Promise((resolve, reject) => {
      const s = net.createConnection(sock);
      s.once('connect', () => resolve(new ControlClient(s)));
      s.once('error', (e) =>
        reject(new Error(`no vdpafs kernel at ${mountpoint} (${(e as NodeJS.ErrnoException).code}: ${sock})`)),
      );
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      const reply = JSON.parse(line) as Reply;
      const p = this.pending.get(reply.id);
      if (!p) continue;
      if (reply.event !== undefined) {
        p.onEvent?.(reply.event);
        continue;
      }
      this.pending.delete(reply.id);
      p.resolve(reply);
    }
  }

  /* One request; rejects with a ControlError carrying the kernel's errno. */
  async call<T = unknown>(method: string, params?: unknown, onEvent?: (e: unknown) => void): Promise<T> {
    const id = this.nextId++;
    const req: Request = { id, method, params };
    const reply = await new Promise<Reply>((resolve) => {
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
