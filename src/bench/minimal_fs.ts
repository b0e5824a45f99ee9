/*
 * The baseline server for the through-the-mount benchmarks: vdpafs's own
 * FUSE transport (src/fuse/) serving the smallest tree that answers what
 * the benchmarks ask, with no kernel model behind it:
 *
 *   sys/devices/vdpa0/driver_override   a sysfs attribute reading "(null)\n"
 *   disk                                a 128 MiB file kept in a Buffer
 *   dev/vhost-vdpa-0                    answers VHOST_VDPA_GET_STATUS with 0
 *
 * Same mount options and cache policy as the daemon's main mount, so the
 * difference to the daemon is the model's work.
 *
 *   node dist/bench/minimal_fs.js MOUNTPOINT [SIZE]
 *
 * Prints "ready MOUNTPOINT" once mounted; unmounts on SIGTERM/SIGINT.
 */
import { fail } from '../kernel/errno';
import { IoctlRequest, IoctlResult, KernFile, KernfsRoot, OpenFile } from '../fs/kernfs';
import { roAttr } from '../fs/sysfs';
import { FuseMount } from '../fuse/mount';

export const MINIMAL_FS_FILE = 'disk';
const VHOST_VDPA_GET_STATUS = 0x8001af71;

/* A regular file over a Buffer: reads and writes copy, ENOSPC past the end. */
class BufferFile extends KernFile {
  constructor(
    name: string,
    private readonly data: Buffer,
  ) {
    super(name, 0o600);
  }

  size(): number {
    return this.data.length;
  }

  open(): OpenFile {
    const data = this.data;
    return {
      read: (dst, pos) => (pos >= data.length ? 0 : data.copy(dst, 0, pos, Math.min(data.length, pos + dst.length))),
      write: (src, pos) => {
        if (pos >= data.length) fail('ENOSPC');
        return src.copy(data, pos, 0, Math.min(src.length, data.length - pos));
      },
      truncate: () => {},
      release: () => {},
    };
  }
}

/* A node that answers one ioctl without any model: the transport's own cost. */
class StatusNode extends KernFile {
  constructor() {
    super('vhost-vdpa-0', 0o600);
  }

  size(): number {
    return 0;
  }

  open(): OpenFile {
    return {
      read: () => fail('EINVAL'),
      write: () => fail('EINVAL'),
      ioctl: (req: IoctlRequest): IoctlResult => {
        if (req.cmd !== VHOST_VDPA_GET_STATUS) fail('ENOTTY');
        return { result: 0, out: Buffer.alloc(1) };
      },
      release: () => {},
    };
  }
}

export function minimalTree(size: number): KernfsRoot {
  const tree = new KernfsRoot();
  const vdpa0 = tree.root.mkdir('sys').mkdir('devices').mkdir('vdpa0');
  vdpa0.add(roAttr('driver_override', '(null)\n'));
  vdpa0.get('driver_override')!.mode = 0o644;
  tree.root.add(new BufferFile(MINIMAL_FS_FILE, Buffer.alloc(size)));
  tree.root.mkdir('dev').add(new StatusNode());
  return tree;
}

function main(): void {
  const mnt = process.argv[2];
  const size = Number(process.argv[3] ?? 128 * 1024 * 1024);
  if (!mnt) {
    process.stderr.write('usage: minimal_fs MOUNTPOINT [SIZE]\n');
    process.exit(2);
  }
  let mount: FuseMount;
  try {
    mount = FuseMount.mount(minimalTree(size), mnt, { fsname: 'minimalfs' });
  } catch (e) {
    process.stderr.write(`minimal_fs: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const stop = (): void => {
    mount.unmount();
    mount.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`ready ${mnt}\n`);
}

if (require.main === module) main();
