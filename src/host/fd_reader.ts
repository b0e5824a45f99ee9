/*
 * Reading a file descriptor Node has no stream for (/dev/fuse, a client's
 * eventfd) from the event loop itself, without a thread per descriptor.
 *
 * fs.read() on such an fd parks a libuv threadpool thread until data comes
 * (the pool has 4), and net.Socket refuses them ("Unsupported fd type").
 * libuv's pipe handle, opened on the fd, polls it with epoll on the main
 * thread instead. Node exposes that handle only through the internal
 * binding process.binding('pipe_wrap') (on the documented allow-list of
 * process.binding). With useUserBuffer() every read lands in one buffer of
 * our choosing and size -- /dev/fuse needs max_write + 80 bytes per read --
 * and is handed over before the next read overwrites it.
 *
 * libuv sets O_NONBLOCK on the file description; both users here expect it
 * (FUSE reads return EAGAIN when idle, eventfds are shared with clients that
 * already use non-blocking mode).
 */

interface PipeHandle {
  open(fd: number): number;
  useUserBuffer(buf: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  close(cb?: () => void): void;
  onread: ((arrayBuffer?: ArrayBuffer) => void) | null;
}

interface PipeWrapBinding {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

interface StreamWrapBinding {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

/* The process.binding() modules this file needs; typed here, once. */
const binding = (process as unknown as { binding(name: string): unknown }).binding;
const pipeWrap = binding('pipe_wrap') as PipeWrapBinding;
const streamWrap = binding('stream_wrap') as StreamWrapBinding;

/* libuv's UV_EOF, and the errno of a FUSE connection that went away. */
export const UV_EOF = -4095;

export class FdReader {
  private readonly handle: PipeHandle;
  private closed = false;

  /*
   * onData(n): `buf` holds n fresh bytes, valid until onData returns.
   * onEnd(err): the fd hit EOF (err = UV_EOF) or failed (a negative errno,
   * e.g. -ENODEV when a FUSE mount is gone); reading has stopped.
   */
  constructor(
    readonly fd: number,
    readonly buf: Buffer,
    private readonly onData: (n: number) => void,
    private readonly onEnd: (err: number) => void,
  ) {
    this.handle = new pipeWrap.Pipe(pipeWrap.constants.SOCKET);
    const err = this.handle.open(fd);
    if (err) throw new Error(`cannot poll fd ${fd}: uv error ${err}`);
    this.handle.useUserBuffer(buf);
    this.handle.onread = () => this.onRead();
  }

  start(): void {
    const err = this.handle.readStart();
    if (err) throw new Error(`cannot read fd ${this.fd}: uv error ${err}`);
  }

  /* Stop reading for now (start() resumes); the fd stays open. */
  stop(): void {
    if (!this.closed) this.handle.readStop();
  }

  /* Stop reading and close the fd (the handle owns it from open() on). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.readStop();
    this.handle.close();
  }

  private onRead(): void {
    const n = streamWrap.streamBaseState[streamWrap.kReadBytesOrError];
    if (n > 0) return this.onData(n);
    if (n === 0) return; /* EAGAIN: nothing this time */
    this.handle.readStop();
    this.onEnd(n);
  }
}
