/*
 * lib/kobject.c, the naming rules: what a kobject may be called, so that
 * no name can break a sysfs listing or a path walk.
 */
import { fail } from './errno';

/* include/uapi/linux/limits.h: the longest name a path walk accepts. */
export const NAME_MAX = 255;

/*
 * kobject_set_name_vargs(): a '/' cannot be in a sysfs name, so it becomes
 * '!' ("ewww... some of these buggers have '/' in the name"). A kernel name
 * is a C string: it ends at a NUL, wherever the name came from.
 */
export function kobjectSetName(name: string): string {
  const nul = name.indexOf('\0');
  if (nul !== -1) name = name.slice(0, nul);
  return name.includes('/') ? name.replace(/\//g, '!') : name;
}

/*
 * kobject_add_internal(): an empty name is EINVAL. vdpafs adds two rules
 * the kernel leaves to luck (README, departures): '.' and '..' are EINVAL,
 * since no lookup can ever reach them, and a name over NAME_MAX bytes is
 * ENAMETOOLONG, since no path walk can.
 */
export function kobjectCheckName(name: string): void {
  if (!name) fail('EINVAL', 'kobject: attempted to be registered with empty name');
  if (name === '.' || name === '..') fail('EINVAL', `kobject: '${name}' cannot be a sysfs name`);
  if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG');
}
