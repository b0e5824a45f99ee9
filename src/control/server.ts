/*
 * The daemon's side of the control socket: JSON lines in, JSON lines out.
 *
 * The socket is an untrusted input, as a netlink socket is to the kernel:
 * anyone can connect, and every line is taken apart before anything of it
 * reaches the model. A request is dispatched only through the method
 * table (a Map: no prototype names such as `constructor`), its caller's
 * identity comes from SO_PEERCRED, an admin-only method answers EPERM to
 * anyone but root (as GENL_ADMIN_PERM and capable() do), and its params
 * are checked against the method's schema. Methods return a value, a
 * Promise, or stream events through `emit` until the client hangs up.
 * KernelErrors become {errno, extack} replies; anything else thrown is a
 * bug, logged, and answered EIO -- the daemon never dies of a request.
 */
import * as net from 'node:net';
import createDebug from 'debug';
import { capable, Cred } from '../kernel/cred';
import { KernelError } from '../kernel/errno';
import { peerCred } from '../host/libc';
import { LineReader } from './line_reader';
import { listenForAnyone, MAX_REQUEST_BYTES, Reply } from './protocol';
import type { Schema } from './schema';

const trace = createDebug('vdpafs:control');

/*
 * Replies and events a client has not read yet, beyond which it is
 * disconnected (a stalled monitor), and how many clients may be connected
 * at once: together they bound what unprivileged callers can make the root
 * daemon hold. While a client has replies it has not read, no more of its
 * requests are read either.
 */
const MAX_UNREAD_REPLY_BYTES = 8 << 20;
const MAX_CLIENTS = 256;

export interface CallContext {
  /* Who is calling: the peer's SO_PEERCRED. */
  cred: Readonly<Cred>;
  /* Stream an event to the caller (monitor, dmesg --follow). */
  emit(event: unknown): void;
  /* Called when the client disconnects; streams unsubscribe here. Returns a function that cancels it. */
  onClose(fn: () => void): () => void;
}

/* 'admin' needs capable() (euid 0), as a genl op with GENL_ADMIN_PERM or a syscall that checks a capability. */
export type Permission = 'anyone' | 'admin';

export interface Method<P = any> {
  /*
   * Decided before the params are validated, from the raw params when it
   * is a function: genl looks the op up and checks its flags before it
   * parses the attributes, so an unprivileged caller learns nothing more.
   */
  perm: Permission | ((raw: unknown) => Permission);
  params: Schema<P>;
  run(params: P, ctx: CallContext): unknown;
}

/* Declares a method with its params' type inferred from its schema. */
export function method<P>(m: Method<P>): Method<P> {
  return m;
}

export type MethodTable = Record<string, Method>;

/* One call as the server makes it: the permission, then the params' schema, then the method. */
export function invoke(m: Method, raw: unknown, ctx: CallContext): unknown {
  const perm = typeof m.perm === 'function' ? m.perm(raw) : m.perm;
  if (perm === 'admin' && !capable(ctx.cred)) throw new KernelError('EPERM');
  return m.run(m.params(raw ?? {}, 'params'), ctx);
}

/* What a request line must look like before its method is even looked up. */
function parseRequest(line: string): { id: number; method: string; params: unknown } | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'a request is a JSON object';
  const { id, method, params } = v as Record<string, unknown>;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return 'request id must be a non-negative integer';
  if (typeof method !== 'string') return 'request method must be a string';
  for (const key of Object.keys(v)) if (key !== 'id' && key !== 'method' && key !== 'params') return `unknown request field "${key}"`;
  return { id, method, params };
}

/* SO_PEERCRED of a connected Unix socket; null if it cannot be read (then the caller is nobody). */
function socketCred(sock: net.Socket): Cred | null {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  try {
    return peerCred(fd);
  } catch (e) {
    trace('SO_PEERCRED failed: %s', (e as Error).message);
    return null;
  }
}

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly methods: ReadonlyMap<string, Method>;

  /*
   * `settle`: resolves once every change the model made so far is visible
   * through the mount (the FUSE transport's invalidations are written). A
   * reply waits for it, so when `vdpa dev add` returns, the next stat of
   * sys/devices/NAME from any process finds it.
   */
  constructor(
    methods: MethodTable,
    private readonly settle: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.methods = new Map(Object.entries(methods));
  }

  listen(path: string): Promise<void> {
    this.server = net.createServer((s) => this.serve(s));
    this.server.maxConnections = MAX_CLIENTS;
    return listenForAnyone(this.server, path);
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
  }

  private serve(sock: net.Socket): void {
    const cred = socketCred(sock);
    if (!cred) {
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    const closers = new Set<() => void>();
    /* A method may register after the client already hung up: run it at once. */
    const onClose = (fn: () => void): (() => void) => {
      if (sock.destroyed) {
        fn();
        return () => {};
      }
      closers.add(fn);
      return () => closers.delete(fn);
    };
    sock.on('close', () => {
      this.sockets.delete(sock);
      for (const c of [...closers]) {
        try {
          c();
        } catch (e) {
          trace('a close handler failed: %O', e);
        }
      }
      closers.clear();
    });
    sock.on('error', () => sock.destroy());
    const send = (r: Reply) => {
      if (sock.destroyed || !sock.writable) return;
      /* A reader that stopped reading (a stalled monitor) is dropped, as netlink drops a full socket. */
      if (sock.writableLength > MAX_UNREAD_REPLY_BYTES) {
        trace('dropping a client with %d bytes unread', sock.writableLength);
        sock.destroy();
        return;
      }
      let line: string;
      try {
        line = JSON.stringify(r);
      } catch (e) {
        trace('unserialisable reply: %O', e);
        line = JSON.stringify({ id: r.id, errno: 'EIO', extack: 'internal error: unserialisable reply' });
      }
      /* Back-pressure: read no further requests until this client has taken its replies. */
      if (!sock.write(line + '\n')) {
        sock.pause();
        sock.once('drain', () => sock.resume());
      }
    };
    const reader = new LineReader(
      MAX_REQUEST_BYTES,
      (line) => {
        if (line.trim()) void this.dispatch(line, cred, send, onClose);
      },
      () => send({ id: null, errno: 'EMSGSIZE', extack: `request longer than ${MAX_REQUEST_BYTES} bytes` }),
    );
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
  }

  private async dispatch(line: string, cred: Cred, send: (r: Reply) => void, onClose: CallContext['onClose']): Promise<void> {
    const req = parseRequest(line);
    if (typeof req === 'string') return send({ id: null, errno: 'EINVAL', extack: req });
    const { id } = req;
    const m = this.methods.get(req.method);
    trace('call %s by uid %d', req.method, cred.uid);
    if (!m) return send({ id, errno: 'EOPNOTSUPP', extack: `unknown method ${JSON.stringify(req.method.slice(0, 64))}` });
    const ctx: CallContext = { cred, emit: (event) => send({ id, event }), onClose };
    try {
      const result = await invoke(m, req.params, ctx);
      await this.settle();
      send({ id, result: result ?? null });
    } catch (e) {
      await this.settle();
      if (e instanceof KernelError) send({ id, errno: e.errno, extack: e.extack });
      else {
        trace('method %s failed: %O', req.method, e);
        send({ id, errno: 'EIO', extack: `internal error in ${req.method}` });
      }
    }
  }
}
