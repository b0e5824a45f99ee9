/*
 * A client's eventfd, duplicated into the daemon (pidfd_getfd), as the
 * model's EventfdCtx.
 *
 *  - signal(): write(2) of a u64 1, as eventfd_signal() adds 1. The
 *    duplicate shares the client's open file description, which is made
 *    O_NONBLOCK (QEMU's already are): a counter at its maximum answers
 *    EAGAIN, which is dropped -- the reader has a wake-up pending anyway.
 *  - poll(): waiting for the client's kicks without a thread per eventfd.
 *    Node has no API to watch an arbitrary fd, and a threadpool read would
 *    hold a pool thread per eventfd (and only get EAGAIN on an O_NONBLOCK
 *    description). An FdReader (libuv's pipe handle, fd_reader.ts) reads
 *    it from the event loop instead, epoll-driven: each read drains
 *    the counter (8 bytes) and is one wake-up. uv_pipe_open() sets
 *    O_NONBLOCK on the description, the client's included; an eventfd
 *    handed over already signalled is readable at once, so it wakes the
 *    poller on the next turn of the loop, as vhost_poll_start() does.
 *  - put(): closes the duplicate (through the pipe handle when one was
 *    opened on it: the handle owns the fd then).
 *
 * An exception thrown by the woken device code would otherwise escape into
 * the event loop; it is reported on stderr and the next kick is served.
 */
import * as fs from 'node:fs';
import createDebug from 'debug';
import type { EventfdCtx } from '../fs/eventfd';
import { FdReader } from './fd_reader';
import { setNonblocking } from './libc';

const trace = createDebug('vdpafs:host:eventfd');

const ONE = (() => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(1n);
  return b;
})();

export class HostEventfd implements EventfdCtx {
  private fd: number | null;
  private reader: FdReader | null = null;
  private wake: (() => void) | null = null;

  constructor(fd: number) {
    this.fd = fd;
    /*
     * eventfd_signal() never blocks; a write(2) to a full counter on a
     * blocking description would, on the daemon's main thread. So the
     * description (the client's too) is made non-blocking, as the kick
     * side's FdReader makes it anyway.
     */
    setNonblocking(fd);
  }

  /* The duplicate's fd number in the daemon (null once put). */
  get hostFd(): number | null {
    return this.fd;
  }

  signal(): void {
    if (this.fd === null) return;
    try {
      fs.writeSync(this.fd, ONE);
    } catch (e) {
      /* EAGAIN: the counter is full, a wake-up is pending already. */
      trace('signal fd %d: %s', this.fd, (e as NodeJS.ErrnoException).code);
    }
  }

  poll(wake: () => void): () => void {
    if (this.fd === null) return () => undefined;
    this.wake = wake;
    this.reader ??= new FdReader(this.fd, Buffer.alloc(8), () => this.onRead(), (err) => {
      /* EOF or an error: an eventfd gives neither while it is open; stop watching. */
      trace('fd %s: read error %d', this.fd, err);
    });
    this.reader.start();
    return () => {
      this.wake = null;
      this.reader?.stop();
    };
  }

  put(): void {
    if (this.fd === null) return;
    trace('put fd %d', this.fd);
    const fd = this.fd;
    this.fd = null;
    this.wake = null;
    /* A reader owns the fd: closing it closes the duplicate. */
    if (this.reader !== null) this.reader.close();
    else fs.closeSync(fd);
    this.reader = null;
  }

  private onRead(): void {
    if (this.wake === null) return;
    try {
      this.wake();
    } catch (e) {
      process.stderr.write(`vdpafsd: kick handler failed: ${(e as Error).stack ?? e}\n`);
    }
  }
}
