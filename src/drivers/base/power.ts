/*
 * drivers/base/power/sysfs.c: the power/ group every device gets.
 *
 * None of the simulated devices does runtime PM, so the values are those of
 * a device with runtime PM disabled: status "unsupported", control "auto",
 * zero times, and autosuspend_delay_ms failing EIO because autosuspend is
 * not in use (autosuspend_delay_ms_show()).
 */
import { KernDir } from '../../fs/kernfs';
import { attr, roAttr, storeString } from '../../fs/sysfs';
import { fail } from '../../kernel/errno';

export function addPowerGroup(devDir: KernDir): void {
  const power = devDir.mkdir('power');
  let control = 'auto';
  power.add(
    attr('control', {
      show: () => `${control}\n`,
      store: (buf) => {
        /* control_store(): only "auto" and "on" (sysfs_streq). */
        const v = storeString(buf).replace(/\n$/, '');
        if (v !== 'auto' && v !== 'on') fail('EINVAL');
        control = v;
        return buf.length;
      },
    }),
  );
  power.add(roAttr('runtime_status', 'unsupported\n'));
  power.add(roAttr('runtime_active_time', '0\n'));
  power.add(roAttr('runtime_suspended_time', '0\n'));
  power.add(
    attr('autosuspend_delay_ms', {
      show: () => fail('EIO'),
      store: () => fail('EIO'),
    }),
  );
}
