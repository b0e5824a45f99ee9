/*
 * What stat() shows of a kernfs node (kernfs_iop_getattr / kernfs_refresh_inode).
 *
 *  - directories: st_nlink is the number of subdirectories + 2, as kernfs
 *    counts it (kernfs_refresh_inode sets nlink from kn->dir.subdirs);
 *  - attributes: st_size is what the file says (PAGE_SIZE for sysfs);
 *  - symlinks: st_size 0 (kernfs never sets i_size on a link), mode 0777;
 *  - device nodes: regular files served by FUSE, or, when the mount asked
 *    for it, S_IFCHR/S_IFBLK with their rdev (the host's char layer then
 *    owns open(), so they cannot be used: for tools that only look);
 *  - owner root:root; every time is the mount's.
 */
import {
  DT_BLK,
  DT_CHR,
  DT_DIR,
  DT_LNK,
  DT_REG,
  FuseAttr,
  FUSE_ROOT_ID,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
} from '../include/uapi/fuse';
import { KernDir, KernFile, KernfsNode } from '../fs/kernfs';

export const BLKSIZE = 4096;

/*
 * How names travel as bytes. The model's names are JS strings that came from
 * UTF-8 everywhere else (netlink attributes, the CLIs' argv, the host's
 * /dev), so the mount speaks UTF-8 too: `vdpa dev add name vdpä` is
 * sys/devices/vdpä for `ls` and for a lookup of those bytes.
 */
export const NAME_ENCODING = 'utf8' as const;

/* new_encode_dev(): the dev_t layout stat() returns. */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

export interface AttrPolicy {
  devNodesAsDevices: boolean;
  /* Seconds since the epoch shown as atime, mtime and ctime. */
  time: number;
}

export function nodeAttr(node: KernfsNode, nodeid: number, policy: AttrPolicy): FuseAttr {
  const ino = nodeid === FUSE_ROOT_ID ? FUSE_ROOT_ID : node.ino;
  const base = { ino, size: 0, blocks: 0, time: policy.time, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: BLKSIZE };
  if (node instanceof KernDir) return { ...base, mode: S_IFDIR | node.mode, nlink: node.subdirs + 2 };
  if (!(node instanceof KernFile)) return { ...base, mode: S_IFLNK | 0o777 };
  if (policy.devNodesAsDevices && node.devt) {
    const type = node.devt.type === 'b' ? S_IFBLK : S_IFCHR;
    return { ...base, mode: type | node.mode, rdev: encodeDev(node.devt.major, node.devt.minor) };
  }
  return { ...base, mode: S_IFREG | node.mode, size: node.size() };
}

/* The d_type readdir reports for a node. */
export function direntType(node: KernfsNode, policy: AttrPolicy): number {
  if (node instanceof KernDir) return DT_DIR;
  if (!(node instanceof KernFile)) return DT_LNK;
  if (policy.devNodesAsDevices && node.devt) return node.devt.type === 'b' ? DT_BLK : DT_CHR;
  return DT_REG;
}
