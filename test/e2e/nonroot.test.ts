/*
 * Permissions as Linux has them, tried by a real unprivileged user
 * (TEST_USER, setpriv): sysfs reads for anyone, writes/chmod/0600 nodes
 * refused with the kernel's errno, the vdpa family's queries for anyone and
 * its changes EPERM, module loads EPERM, netdev changes and raw frames EPERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestUser, explain, Mount, mountKernel, runScript, TEST_USER, userReadableCheckout } from './harness';

describe('an unprivileged user (a fresh mount)', () => {
  let m: Mount;
  let checkout: { root: string; cleanup: () => void };
  beforeAll(async () => {
    ensureTestUser();
    checkout = userReadableCheckout();
    m = await mountKernel();
  });
  afterAll(async () => {
    await m?.stop();
    checkout?.cleanup();
  });

  it('reads what sysfs lets anyone read; writes, chmod, root-only nodes, vdpa changes, module loads and netdev changes are refused with the kernel errno', () => {
    const r = runScript(m, 'nonroot.sh', { VDPA_USER: TEST_USER, CLI_ROOT: checkout.root });
    expect(r.status, explain(r, m)).toBe(0);
  });
});
