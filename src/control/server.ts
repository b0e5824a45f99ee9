/*
 * The daemon's side of the control socket: JSON lines in, JSON lines out.
 * Methods return a value, a Promise, or stream events through `emit` until
 * the client hangs up. KernelErrors become {errno, extack} replies.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import createDebug from 'debug';
import { KernelError } from '../kernel/errno';
import { Reply, Request } from './protocol';

const trace = createDebug('vdpafs:control');

export interface CallContext {
  /* Stream an event to the caller (monitor, dmesg --follow). */
  emit(event: unknown): void;
  /* Called when the client disconnects; streams unsubscribe here. */
  onClose(fn: () => void): void;
}

export type Method = (params: any, ctx: CallContext) => unknown;

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  /*
   * `settle`: resolves once every change the model made so far is visible
   * through the mount (the FUSE transport's invalidations are written). A
   * reply waits for it, so when `vdpa dev add` returns, the next stat of
   * sys/devices/NAME from any process finds it.
   */
  constructor(
    private readonly methods: Record<string, Method>,
    private readonly settle: () => Promise<void> = () => Promise.resolve(),
  ) {}

  listen(path: string): Promise<void> {
    try {
      fs.unlinkSync(path);
    } catch {
      /* not there */
    }
    this.server = net.createServer((s) => this.serve(s));
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(path, () => {
        fs.chmodSync(path, 0o600);
        resolve();
      });
    });
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    const closers: Array<() => void> = [];
    /* A method may register after the client already hung up: run it at once. */
    const onClose = (fn: () => void) => (sock.destroyed ? fn() : closers.push(fn));
    sock.on('close', () => {
      this.sockets.delete(sock);
      for (const c of closers) c();
    });
    sock.on('error', () => sock.destroy());
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line) void this.dispatch(sock, line, onClose);
      }
    });
  }

  private async dispatch(sock: net.Socket, line: string, onClose: (fn: () => void) => void): Promise<void> {
    let req: Request;
    try {
      req = JSON.parse(line);
    } catch {
      return;
    }
    const send = (r: Reply) => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
    };
    const method = this.methods[req.method];
    trace('call %s', req.method);
    if (!method) return send({ id: req.id, errno: 'EOPNOTSUPP', extack: `unknown method ${req.method}` });
    const ctx: CallContext = {
      emit: (event) => send({ id: req.id, event }),
      onClose,
    };
    try {
      const result = await method(req.params ?? {}, ctx);
      await this.settle();
      send({ id: req.id, result: result ?? null });
    } catch (e) {
      await this.settle();
      if (e instanceof KernelError) send({ id: req.id, errno: e.errno, extack: e.extack });
      else {
        trace('method %s failed: %O', req.method, e);
        send({ id: req.id, errno: 'EIO', extack: String((e as Error)?.message ?? e) });
      }
    }
  }
}
