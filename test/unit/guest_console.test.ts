/*
 * The QEMU test reads its guest through the serial console: these pin how
 * the console's lines become results and markers, and how scripts/guest.sh's
 * output becomes the paths QEMU boots.
 */
import { describe, expect, it } from 'vitest';
import { GuestConsole, parseGuestEnv } from '../e2e/qemu';

describe('GuestConsole', () => {
  it('joins lines split across chunks and drops the serial port CR', () => {
    const c = new GuestConsole();
    c.feed('VDPAFS-RES');
    c.feed('ULT rx_packets=10 mac=02:00:00:00:00:01\r\nVDPAFS-RE');
    expect(c.results.get('rx_packets')).toBe('10');
    expect(c.results.get('mac')).toBe('02:00:00:00:00:01');
    expect(c.has('VDPAFS-WAIT')).toBe(false);
    c.feed('SULT tx_packets=10\r\nVDPAFS-WAIT\r\n');
    expect(c.num('tx_packets')).toBe(10);
    expect(c.has('VDPAFS-WAIT')).toBe(true);
  });

  it('counts only lines that start with a marker: kernel messages and the tty echo are ignored', () => {
    const c = new GuestConsole();
    c.feed('[    4.206807] reboot: Power down\r\ngo-ahead\r\n echo VDPAFS-WAIT\r\nVDPAFS-WAITING\r\nVDPAFS-NOTE x=1\r\n');
    expect(c.markers).toEqual([]);
    expect(c.results.size).toBe(0);
    expect(c.num('x')).toBeNaN();
  });

  it('a later result of the same key replaces the earlier one; a word without = is not a result', () => {
    const c = new GuestConsole();
    c.feed('VDPAFS-RESULT a=1 junk b=\nVDPAFS-RESULT a=2\n');
    expect([...c.results]).toEqual([
      ['a', '2'],
      ['b', ''],
    ]);
  });

  it('waitFor resolves on its marker, also one seen before the call', async () => {
    const c = new GuestConsole();
    c.feed('VDPAFS-WAIT\n');
    await expect(c.waitFor('VDPAFS-WAIT', 1000, () => false)).resolves.toBeUndefined();
    const later = c.waitFor('VDPAFS-POWEROFF', 1000, () => false);
    c.feed('VDPAFS-POWEROFF\n');
    await expect(later).resolves.toBeUndefined();
  });

  it('waitFor rejects with the transcript when the guest fails, when QEMU exits, or on timeout', async () => {
    const failing = new GuestConsole();
    const p = failing.waitFor('VDPAFS-WAIT', 1000, () => false);
    failing.feed('VDPAFS-FAIL insmod virtio_net\n');
    await expect(p).rejects.toThrow(/the guest failed.*\n.*insmod virtio_net/);

    let exited = false;
    const gone = new GuestConsole();
    const q = gone.waitFor('VDPAFS-WAIT', 1000, () => exited);
    gone.feed('Kernel panic\n');
    exited = true;
    gone.poke();
    await expect(q).rejects.toThrow(/QEMU exited before VDPAFS-WAIT.*\n.*Kernel panic/);

    await expect(new GuestConsole().waitFor('VDPAFS-WAIT', 20, () => false)).rejects.toThrow(/no VDPAFS-WAIT within/);
  });
});

describe('parseGuestEnv', () => {
  const out = [
    'GUEST_KERNEL=/var/cache/vdpafs/kernel/6.1.0-56-amd64/vmlinux',
    'GUEST_INITRD=/var/cache/vdpafs/guest/0123456789abcdef/initramfs.cpio',
    'GUEST_KRELEASE=6.1.0-56-amd64',
    'GUEST_MODULES=virtio_ring,virtio,virtio_net',
    'QEMU=/usr/bin/qemu-system-x86_64',
  ].join('\n');

  it("reads scripts/guest.sh's KEY=VALUE lines", () => {
    expect(parseGuestEnv(`${out}\n`)).toEqual({
      kernel: '/var/cache/vdpafs/kernel/6.1.0-56-amd64/vmlinux',
      initrd: '/var/cache/vdpafs/guest/0123456789abcdef/initramfs.cpio',
      krelease: '6.1.0-56-amd64',
      modules: ['virtio_ring', 'virtio', 'virtio_net'],
      qemu: '/usr/bin/qemu-system-x86_64',
    });
  });

  it('names the key that is missing', () => {
    expect(() => parseGuestEnv(out.replace(/^QEMU=.*$/m, ''))).toThrow(/printed no QEMU/);
  });
});
