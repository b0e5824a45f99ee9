/*
 * What a process does to a sysfs file, without FUSE: open (with kernfs's
 * permission checks), one write() or a read to EOF, close. Shared by the
 * unit tests; the model returns counts and throws KernelErrors.
 */
import { expect } from 'vitest';
import { Completion, MaybeWait } from '../../src/kernel/completion';
import { Errno, KernelError } from '../../src/kernel/errno';
import { KernDir, KernFile, KernfsNode, KernfsRoot, KernLink } from '../../src/fs/kernfs';
import type { Kernel } from '../../src/kernel/kernel';

function fileAt(root: KernfsRoot, path: string): KernFile {
  const node = resolve(root, path);
  if (!(node instanceof KernFile)) throw new KernelError('ENOENT', path);
  return node;
}

/* Path walk that follows symlinks, as open(2) does (`echo x > dev/driver/unbind`). */
export function resolve(root: KernfsRoot, path: string): KernfsNode | undefined {
  let node: KernfsNode = root.root;
  const parts = path.split('/').filter((p) => p && p !== '.');
  for (let i = 0; i < parts.length; i++) {
    if (!(node instanceof KernDir)) return undefined;
    const part = parts[i];
    if (part === '..') {
      node = node.parent ?? node;
      continue;
    }
    let child = node.children.get(part);
    for (let hops = 0; child instanceof KernLink; hops++) {
      if (hops > 40) throw new KernelError('EIO', 'ELOOP');
      child = child.target;
    }
    if (!child) return undefined;
    node = child;
  }
  return node;
}

/* `printf %s DATA > PATH` as one write(2); the count, or a Completion if the store sleeps. */
export function sysfsWrite(k: Kernel | KernfsRoot, path: string, data: string | Buffer): MaybeWait<number> {
  const root = k instanceof KernfsRoot ? k : k.fs;
  const file = fileAt(root, path).open({ read: false, write: true, nonblock: false });
  try {
    return file.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, 0);
  } finally {
    file.release();
  }
}

/* `cat PATH`: read to EOF in small chunks, as a reader that ignores st_size would. */
export function sysfsRead(k: Kernel | KernfsRoot, path: string): string {
  const root = k instanceof KernfsRoot ? k : k.fs;
  const file = fileAt(root, path).open({ read: true, write: false, nonblock: false });
  const chunks: Buffer[] = [];
  let pos = 0;
  try {
    for (;;) {
      const buf = Buffer.alloc(1000);
      const n = file.read(buf, pos);
      if (n instanceof Completion) throw new Error('read slept');
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    file.release();
  }
  return Buffer.concat(chunks).toString('latin1');
}

/* The errno a call fails with (the test fails if it succeeds or throws something else). */
export function errnoOf(fn: () => unknown): Errno {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  throw new Error('expected a KernelError, but the call succeeded');
}

export function expectErrno(fn: () => unknown, errno: Errno): void {
  expect(errnoOf(fn)).toBe(errno);
}

export function exists(k: Kernel, path: string): boolean {
  return k.fs.lookup(path) !== undefined;
}

export function readlink(k: Kernel, path: string): string {
  const node = k.fs.lookup(path);
  if (!(node instanceof KernLink)) throw new Error(`${path} is not a symlink`);
  return node.readlink();
}

export function ls(k: Kernel, path: string): string[] {
  const node = k.fs.lookup(path);
  if (!(node instanceof KernDir)) throw new Error(`${path} is not a directory`);
  return [...node.children.keys()].sort();
}
