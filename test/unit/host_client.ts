/*
 * A real client process for the host tests: test/fixtures/host/vhost_client.c,
 * compiled with gcc into a temporary directory once per test file, run as a
 * child and driven one command per line (see the C file for the commands).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SOURCE = path.join(__dirname, '../fixtures/host/vhost_client.c');

let built: { dir: string; bin: string } | null = null;

/* Compile the client (once); the directory goes with removeClientBuild(). */
export function buildClient(): string {
  if (built === null) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vdpafs-client-'));
    const bin = path.join(dir, 'vhost_client');
    execFileSync('gcc', ['-O1', '-pthread', '-o', bin, SOURCE], { stdio: ['ignore', 'ignore', 'inherit'] });
    built = { dir, bin };
  }
  return built.bin;
}

export function removeClientBuild(): void {
  if (built !== null) fs.rmSync(built.dir, { recursive: true, force: true });
  built = null;
}

export class Client {
  private readonly child: ChildProcess;
  private buffered = '';
  private readonly waiting: Array<(line: string) => void> = [];
  private exited: Promise<void>;

  constructor(bin: string) {
    this.child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.setEncoding('latin1');
    this.child.stdout!.on('data', (d: string) => {
      this.buffered += d;
      for (let i = this.buffered.indexOf('\n'); i >= 0; i = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /* One command, its one-line answer. */
  cmd(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client: no answer to "${line}"`)), 10_000);
      this.waiting.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.stdin!.write(`${line}\n`);
    });
  }

  async map(size: number, ro = false): Promise<number> {
    return parseInt(await this.cmd(`${ro ? 'mapro' : 'map'} ${size}`), 16);
  }

  async num(line: string): Promise<number> {
    return Number(await this.cmd(line));
  }

  /* SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/* The daemon's open file descriptors (this process's). */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/*
 * The descriptors this process holds on what the vhost path opens: eventfd
 * duplicates and /proc/<pid>/mem files (libuv's own loop eventfds are
 * counted too, and stay put).
 */
export function vhostFds(): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let link = '';
    try {
      link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (link === 'anon_inode:[eventfd]' || /^\/proc\/\d+\/mem$/.test(link)) n++;
  }
  return n;
}

/* The daemon's threads. */
export function threads(): number {
  return fs.readdirSync('/proc/self/task').length;
}
