/*
 * The simulated kernel's generic netlink, for unmodified programs: the
 * daemon end of the preload shim (src/shim/vdpafs_genl_preload.c).
 *
 * A program under the shim keeps its real NETLINK_GENERIC sockets. When it
 * sends a request for a family this kernel owns ("vdpa"), the shim hands
 * the bytes to this server instead of the host kernel, over a Unix stream
 * socket, together with the socket's file descriptor number. The server
 * checks that descriptor in the caller (pidfd_getfd: it must be a
 * NETLINK_GENERIC socket with the port id the shim named), runs the request
 * through net/netlink/ as that socket, and unicasts each answer datagram
 * from its own netlink socket to the caller's port id, where the program
 * reads it as it would the kernel's. Then it tells the shim the send is
 * done, as netlink_sendmsg() returns once the replies are queued.
 *
 * Frames on the stream, little-endian, each starting u32 length, u32 kind:
 *   server -> shim  HELLO     u32 version, u32 server port id, u64 netns inode, table
 *                   FAMILIES  table (sent again whenever a family comes or goes)
 *                   STATUS    i32 result of a SEND (bytes taken, or -errno)
 *   shim -> server  SEND      i32 fd, u32 port id, u32 largest read, netlink bytes
 * where a table is u32 count, then per family u16 id (0: not registered),
 * u16 0, char name[16]: the families whose requests the shim sends here.
 *
 * Credentials: the Unix peer's (SO_PEERCRED), i.e. the process that sent
 * the request, stand for the netlink socket's opener in GENL_ADMIN_PERM.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import createDebug from 'debug';
import type { Cred } from '../kernel/cred';
import { settle } from '../kernel/completion';
import { ERRNO, KernelError } from '../kernel/errno';
import type { Kernel } from '../kernel/kernel';
import { netlinkDumpAll, netlinkSendmsg, NetlinkSock } from '../net/netlink/af_netlink';
import { genlCtrlSubscribe, genlFamilyFindByName } from '../net/netlink/genetlink';
import { NETLINK_GENERIC } from '../include/uapi/netlink';
import { GENL_NAMSIZ } from '../include/uapi/genetlink';
import { VDPA_GENL_NAME } from '../include/uapi/vdpa';
import { HostGenlSocket, inspectGenlSocket } from '../host/netlink_sock';
import { peerCred, pidfdGetfd, pidfdOpen } from '../host/libc';
import { listenForAnyone } from './protocol';

const trace = createDebug('vdpafs:genl-server');

const GENL_WIRE_VERSION = 1;
enum GenlWireKind {
  HELLO = 1,
  FAMILIES = 2,
  STATUS = 3,
  SEND = 16,
}
const SEND_HDR = 20;
/* No request is near this (the kernel's own limit is the socket's sndbuf); a bigger frame is a broken client. */
const MAX_FRAME = 1 << 20;

/* The families this kernel answers for, registered or not: GETFAMILY "vdpa" must get this kernel's ENOENT. */
const OWNED_FAMILIES = [VDPA_GENL_NAME];

/* Retry delays for a client whose receive buffer is full. */
const RETRY_MIN_MS = 1;
const RETRY_MAX_MS = 50;

function frame(kind: GenlWireKind, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(8 + body.length, 0);
  head.writeUInt32LE(kind, 4);
  return Buffer.concat([head, body]);
}

/*
 * One client socket's answers, sent in order, waiting while its buffer is
 * full. What waits is bounded, per socket and in all: beyond that a
 * datagram is dropped, as the kernel drops what a full netlink socket
 * cannot take (the reader sees ENOBUFS), so a client that never reads
 * cannot make the root daemon hold its answers without end. Answers are
 * also held while the request that made them still has invalidations to
 * write (hold/release), so a tool that returns on the ACK finds the mount
 * already showing what it changed.
 */
const OUTBOX_MAX_BYTES = 4 << 20;
const OUTBOXES_MAX_BYTES = 64 << 20;
let outboxesBytes = 0;

class Outbox {
  private queue: Buffer[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private delay = RETRY_MIN_MS;
  private held = false;

  constructor(
    private readonly host: HostGenlSocket,
    private readonly portid: number,
  ) {}

  push(datagram: Buffer): void {
    if (this.bytes + datagram.length > OUTBOX_MAX_BYTES || outboxesBytes + datagram.length > OUTBOXES_MAX_BYTES) {
      trace('port %d: answer dropped, %d bytes unread', this.portid, this.bytes);
      return;
    }
    this.queue.push(datagram);
    this.bytes += datagram.length;
    outboxesBytes += datagram.length;
    if (!this.timer && !this.held) this.flush();
  }

  /* Keep what is pushed until release(). */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    if (!this.timer) this.flush();
  }

  private take(): void {
    const d = this.queue.shift()!;
    this.bytes -= d.length;
    outboxesBytes -= d.length;
  }

  private flush(): void {
    this.timer = null;
    while (this.queue.length) {
      const r = this.host.sendTo(this.portid, this.queue[0]);
      if (r === 'again') {
        this.timer = setTimeout(() => this.flush(), this.delay);
        this.delay = Math.min(this.delay * 2, RETRY_MAX_MS);
        return;
      }
      if (r === 'gone') {
        trace('port %d is gone: %d datagrams dropped', this.portid, this.queue.length);
        this.close();
        return;
      }
      this.take();
      this.delay = RETRY_MIN_MS;
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.queue.length) this.take();
  }
}

interface Client {
  cred: Cred;
  pidfd: number;
  /* The kernel side of each of the client's netlink sockets, by port id. */
  socks: Map<number, { sk: NetlinkSock; out: Outbox }>;
}

export class GenlWireServer {
  private server: net.Server | null = null;
  private host: HostGenlSocket | null = null;
  private readonly conns = new Set<net.Socket>();
  private unsubscribe: (() => void) | null = null;
  private readonly netnsIno: bigint;

  constructor(
    private readonly kernel: Kernel,
    /* Resolves once the mount shows every change made so far (the FUSE server's invalidations). */
    private readonly settled: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.netnsIno = BigInt(fs.statSync('/proc/self/ns/net').ino);
  }

  listen(path: string): Promise<void> {
    this.host = HostGenlSocket.open();
    this.unsubscribe = genlCtrlSubscribe(this.kernel, () => {
      const f = frame(GenlWireKind.FAMILIES, this.familyTable());
      for (const c of this.conns) if (!c.destroyed) c.write(f);
    });
    this.server = net.createServer((s) => this.serve(s));
    /* Any user may use netlink; GENL_ADMIN_PERM decides what they may change. */
    return listenForAnyone(this.server, path);
  }

  close(): void {
    this.unsubscribe?.();
    for (const c of this.conns) c.destroy();
    this.server?.close();
    this.host?.close();
    this.host = null;
  }

  /* The table of HELLO and FAMILIES. */
  private familyTable(): Buffer {
    const b = Buffer.alloc(4 + OWNED_FAMILIES.length * (4 + GENL_NAMSIZ));
    b.writeUInt32LE(OWNED_FAMILIES.length, 0);
    OWNED_FAMILIES.forEach((name, i) => {
      const off = 4 + i * (4 + GENL_NAMSIZ);
      b.writeUInt16LE(genlFamilyFindByName(this.kernel, name)?.id ?? 0, off);
      b.write(name, off + 4, GENL_NAMSIZ - 1, 'latin1');
    });
    return b;
  }

  private serve(sock: net.Socket): void {
    let client: Client;
    try {
      const cred = peerCred((sock as unknown as { _handle: { fd: number } })._handle.fd);
      client = { cred: { uid: cred.uid, gid: cred.gid, pid: cred.pid }, pidfd: pidfdOpen(cred.pid), socks: new Map() };
    } catch (e) {
      trace('refusing a client: %s', (e as Error).message);
      sock.destroy();
      return;
    }
    this.conns.add(sock);
    trace('client pid %d uid %d', client.cred.pid, client.cred.uid);
    const hello = Buffer.alloc(16);
    hello.writeUInt32LE(GENL_WIRE_VERSION, 0);
    hello.writeUInt32LE(this.host!.portid, 4);
    hello.writeBigUInt64LE(this.netnsIno, 8);
    sock.write(frame(GenlWireKind.HELLO, Buffer.concat([hello, this.familyTable()])));

    /* One request at a time per client: the shim waits for each STATUS. */
    let buf = Buffer.alloc(0);
    let busy = Promise.resolve();
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4 && buf.readUInt32LE(0) > MAX_FRAME) {
        sock.destroy();
        return;
      }
      while (buf.length >= 8 && buf.length >= buf.readUInt32LE(0)) {
        const len = buf.readUInt32LE(0);
        if (len < 8) {
          sock.destroy();
          return;
        }
        const f = buf.subarray(0, len);
        buf = buf.subarray(len);
        busy = busy.then(() => this.request(client, sock, f));
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      this.conns.delete(sock);
      for (const { out } of client.socks.values()) out.close();
      fs.closeSync(client.pidfd);
    });
  }

  private async request(client: Client, sock: net.Socket, f: Buffer): Promise<void> {
    if (f.readUInt32LE(4) !== GenlWireKind.SEND || f.length < SEND_HDR) return;
    const fd = f.readInt32LE(8);
    const portid = f.readUInt32LE(12);
    const maxRead = f.readUInt32LE(16);
    const data = Buffer.from(f.subarray(SEND_HDR));
    let result: number;
    try {
      const sk = this.socketOf(client, fd, portid);
      const out = client.socks.get(portid)?.out;
      if (!sk || !out) result = -ERRNO.EINVAL;
      else {
        if (maxRead) sk.noteRecvmsgLen(maxRead);
        out.hold();
        try {
          await settle(netlinkSendmsg(sk, data));
          netlinkDumpAll(sk);
          /* What the request changed is visible through the mount before its answer arrives. */
          await this.settled();
        } finally {
          out.release();
        }
        result = data.length;
      }
    } catch (e) {
      if (!(e instanceof KernelError)) process.stderr.write(`vdpafsd: generic netlink request failed: ${(e as Error)?.stack ?? e}\n`);
      result = -ERRNO.EIO;
    }
    const status = Buffer.alloc(4);
    status.writeInt32LE(result);
    if (!sock.destroyed) sock.write(frame(GenlWireKind.STATUS, status));
  }

  /*
   * The kernel side of the caller's socket `fd`, which must be a
   * NETLINK_GENERIC socket bound to `portid` in the calling process: the
   * answers go to that port id, so a client may only name its own.
   */
  private socketOf(client: Client, fd: number, portid: number): NetlinkSock | null {
    let dup: number;
    try {
      dup = pidfdGetfd(client.pidfd, fd);
    } catch (e) {
      trace('pidfd_getfd(%d, %d): %s', client.cred.pid, fd, (e as Error).message);
      return null;
    }
    let info;
    try {
      info = inspectGenlSocket(dup);
    } finally {
      fs.closeSync(dup);
    }
    if (!info || info.portid !== portid || portid === 0) {
      trace('fd %d of pid %d is not the generic netlink socket of port %d', fd, client.cred.pid, portid);
      return null;
    }
    let entry = client.socks.get(portid);
    if (!entry) {
      const out = new Outbox(this.host!, portid);
      const sk = new NetlinkSock(this.kernel, NETLINK_GENERIC, portid, client.cred, (d) => out.push(d));
      entry = { sk, out };
      client.socks.set(portid, entry);
    }
    entry.sk.capAck = info.capAck;
    entry.sk.extAck = info.extAck;
    return entry.sk;
  }
}

/*
 * The daemon's one call: serve the kernel's generic netlink at `path` until
 * close(). Without it the mount still works (only the shim has nobody to
 * talk to), so a failure is reported, not fatal.
 */
export async function startGenlServer(kernel: Kernel, path: string, settled?: () => Promise<void>): Promise<GenlWireServer | null> {
  const server = new GenlWireServer(kernel, settled);
  try {
    await server.listen(path);
    return server;
  } catch (e) {
    server.close();
    process.stderr.write(`vdpafsd: no generic netlink for the preload shim (${(e as Error).message})\n`);
    return null;
  }
}
