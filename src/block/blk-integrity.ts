/*
 * block/blk-integrity.c, its sysfs half: <disk>/integrity/
 * (CONFIG_BLK_DEV_INTEGRITY). virtio_blk has no protection information:
 * format "none", no tag, no interval; read_verify and write_generate are
 * the inverted NOVERIFY/NOGENERATE flags (1 by default), kstrtoul base 10.
 */
import { KernDir } from '../fs/kernfs';
import { attr, roAttr } from '../fs/sysfs';
import { kstrtoul } from '../lib/kstrtox';
import type { Gendisk } from './genhd';

export function blkIntegrityGroup(_disk: Gendisk): KernDir {
  const flags = { noVerify: false, noGenerate: false };
  const dir = new KernDir('integrity');
  dir.add(roAttr('format', 'none\n'));
  dir.add(roAttr('tag_size', '0\n'));
  dir.add(roAttr('protection_interval_bytes', '0\n'));
  const flag = (name: string, key: 'noVerify' | 'noGenerate') =>
    dir.add(
      attr(name, {
        show: () => `${flags[key] ? 0 : 1}\n`,
        store: (buf) => {
          flags[key] = kstrtoul(buf, 10) === 0n;
          return buf.length;
        },
      }),
    );
  flag('read_verify', 'noVerify');
  flag('write_generate', 'noGenerate');
  dir.add(roAttr('device_is_integrity_capable', '0\n'));
  return dir;
}
