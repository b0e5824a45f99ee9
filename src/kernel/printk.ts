/*
 * printk and the kernel log buffer behind `vdpafs dmesg`.
 *
 * Records carry the time since boot in microseconds, as /dev/kmsg does.
 * Every record is also traced on the `vdpafs:kmsg` debug channel; plain
 * tracing (not meant for dmesg) goes through debug() in each file instead.
 */
import createDebug from 'debug';

export type LogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug';
export const LOG_LEVELS: LogLevel[] = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'];

export interface LogRecord {
  seq: number;
  /* Microseconds since boot. */
  usec: number;
  level: LogLevel;
  text: string;
}

const trace = createDebug('vdpafs:kmsg');
/* The log buffer is a ring: keep the newest records (log_buf_len). */
const LOG_BUF_RECORDS = 8192;

export class Printk {
  readonly records: LogRecord[] = [];
  private seq = 0;
  private readonly listeners = new Set<(r: LogRecord) => void>();
  private readonly bootNs = process.hrtime.bigint();

  uptimeUsec(): number {
    return Number((process.hrtime.bigint() - this.bootNs) / 1000n);
  }

  kmsg(level: LogLevel, text: string): void {
    const rec: LogRecord = { seq: this.seq++, usec: this.uptimeUsec(), level, text };
    this.records.push(rec);
    if (this.records.length > LOG_BUF_RECORDS) this.records.shift();
    trace('<%s> %s', level, text);
    for (const l of this.listeners) l(rec);
  }

  /* `debug` stays a trace only: dev_dbg() is compiled out of dmesg by default. */
  debug(fmt: string, ...args: unknown[]): void {
    trace(fmt, ...args);
  }

  subscribe(fn: (r: LogRecord) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
