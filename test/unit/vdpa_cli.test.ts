/*
 * vdpa(8) as iproute2 6.1 prints it: the printers fed canned genl replies
 * (the attributes vdpa_netlink.ts sends, in its order), the argument parser,
 * and main() against a fake kernel socket and against a booted kernel in
 * this process. No daemon, no mount. (test/e2e/vdpa_netlink.test.ts runs
 * the same commands through Debian's /sbin/vdpa and compares.)
 */
import { describe, expect, it, vi } from 'vitest';
import { ControlError } from '../../src/control/client';
import { vdpaGenl } from '../../src/drivers/vdpa/vdpa_netlink';
import { bootKernel } from '../../src/kernel/boot';
import { settle } from '../../src/kernel/completion';
import { ROOT_CRED } from '../../src/kernel/cred';
import type { Kernel } from '../../src/kernel/kernel';
import { genlCtrlGetfamily } from '../../src/net/netlink/genetlink';
import { NlMsg, VdpaCmd } from '../../src/include/uapi/vdpa';
import {
  featureName,
  formatConfigShow,
  formatDevShow,
  formatKernelError,
  formatKernelWarning,
  formatMgmtdevShow,
  formatVstatsShow,
  GenlReply,
  IPROUTE2_VERSION,
  main,
  parseDevAdd,
  parseDevSet,
  USAGE,
  VdpaGenlSocket,
} from '../../src/cli/vdpa';

/* 0x308830028: MTU MAC STATUS CTRL_VQ CTRL_MAC_ADDR ANY_LAYOUT VERSION_1 ACCESS_PLATFORM */
const SIM_NET_FEATURES = 0x308830028n;
/* what virtio_net typically keeps of them (no ANY_LAYOUT) */
const NEGOTIATED = 0x300830028n;

const mgmtdevNet: NlMsg = [
  ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
  ['VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES', (1n << 1n).toString()],
  ['VDPA_ATTR_DEV_MGMTDEV_MAX_VQS', 3],
  ['VDPA_ATTR_DEV_SUPPORTED_FEATURES', SIM_NET_FEATURES.toString()],
];

/* vdpasim_blk registers no max_supported_vqs and no supported_features. */
const mgmtdevBlk: NlMsg = [
  ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_blk'],
  ['VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES', (1n << 2n).toString()],
  ['VDPA_ATTR_DEV_MGMTDEV_MAX_VQS', 0],
  ['VDPA_ATTR_DEV_SUPPORTED_FEATURES', '0'],
];

const devNet: NlMsg = [
  ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
  ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
  ['VDPA_ATTR_DEV_ID', 1],
  ['VDPA_ATTR_DEV_VENDOR_ID', 0],
  ['VDPA_ATTR_DEV_MAX_VQS', 3],
  ['VDPA_ATTR_DEV_MAX_VQ_SIZE', 256],
  ['VDPA_ATTR_DEV_MIN_VQ_SIZE', 1],
];

const configNet: NlMsg = [
  ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
  ['VDPA_ATTR_DEV_ID', 1],
  ['VDPA_ATTR_DEV_NEGOTIATED_FEATURES', NEGOTIATED.toString()],
  ['VDPA_ATTR_DEV_FEATURES', SIM_NET_FEATURES.toString()],
  ['VDPA_ATTR_DEV_NET_CFG_MTU', 1500],
  ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [0x00, 0x11, 0x22, 0x33, 0x44, 0x55]],
  ['VDPA_ATTR_DEV_NET_STATUS', 1],
];

const configBlk: NlMsg = [
  ['VDPA_ATTR_DEV_NAME', 'vdpa1'],
  ['VDPA_ATTR_DEV_ID', 2],
];

function vstats(qidx: number, stats: Array<[string, number]>, maxVqp?: number): NlMsg {
  const msg: NlMsg = [
    ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
    ['VDPA_ATTR_DEV_ID', 1],
    ['VDPA_ATTR_DEV_NEGOTIATED_FEATURES', NEGOTIATED.toString()],
  ];
  if (maxVqp !== undefined) msg.push(['VDPA_ATTR_DEV_NET_CFG_MAX_VQP', maxVqp]);
  msg.push(['VDPA_ATTR_DEV_QUEUE_INDEX', qidx]);
  for (const [name, value] of stats) {
    msg.push(['VDPA_ATTR_DEV_VENDOR_ATTR_NAME', name]);
    msg.push(['VDPA_ATTR_DEV_VENDOR_ATTR_VALUE', String(value)]);
  }
  return msg;
}

const RX_STATS: Array<[string, number]> = [
  ['rx packets', 5],
  ['rx bytes', 500],
  ['rx errors', 0],
  ['rx overruns', 1],
  ['rx drops', 2],
];
const TX_STATS: Array<[string, number]> = [
  ['tx packets', 12],
  ['tx bytes', 1200],
  ['tx errors', 0],
  ['tx drops', 0],
];
const CVQ_STATS: Array<[string, number]> = [
  ['cvq requests', 1],
  ['cvq successes', 1],
  ['cvq errors', 0],
];

describe('vdpa mgmtdev show', () => {
  it('prints the reference vdpasim_net block, header with a trailing space', () => {
    expect(formatMgmtdevShow([mgmtdevNet])).toBe(
      'vdpasim_net: \n' +
        '  supported_classes net\n' +
        '  max_supported_vqs 3\n' +
        '  dev_features MTU MAC STATUS CTRL_VQ CTRL_MAC_ADDR ANY_LAYOUT VERSION_1 ACCESS_PLATFORM\n',
    );
  });

  it('prints vdpasim_blk with max_supported_vqs 0 and an empty dev_features', () => {
    expect(formatMgmtdevShow([mgmtdevBlk])).toBe(
      'vdpasim_blk: \n  supported_classes block\n  max_supported_vqs 0\n  dev_features\n',
    );
  });

  it('dumps every management device, one block each', () => {
    expect(formatMgmtdevShow([mgmtdevNet, mgmtdevBlk]).split('\n').filter((l) => l.endsWith(': '))).toEqual([
      'vdpasim_net: ',
      'vdpasim_blk: ',
    ]);
  });

  it('names a mgmtdev with a bus as bus/dev', () => {
    const pci: NlMsg = [
      ['VDPA_ATTR_MGMTDEV_BUS_NAME', 'pci'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', '0000:01:00.0'],
      ['VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES', '2'],
    ];
    expect(formatMgmtdevShow([pci])).toBe('pci/0000:01:00.0: \n  supported_classes net\n');
  });

  it('-j prints one compact object with classes and features as arrays', () => {
    expect(formatMgmtdevShow([mgmtdevNet], { json: true })).toBe(
      '{"mgmtdev":{"vdpasim_net":{"supported_classes":["net"],"max_supported_vqs":3,' +
        '"dev_features":["MTU","MAC","STATUS","CTRL_VQ","CTRL_MAC_ADDR","ANY_LAYOUT","VERSION_1","ACCESS_PLATFORM"]}}}\n',
    );
  });

  it('-jp indents by four and keeps arrays on one line', () => {
    expect(formatMgmtdevShow([mgmtdevNet, mgmtdevBlk], { json: true, pretty: true })).toBe(
      [
        '{',
        '    "mgmtdev": {',
        '        "vdpasim_net": {',
        '            "supported_classes": [ "net" ],',
        '            "max_supported_vqs": 3,',
        '            "dev_features": [ "MTU","MAC","STATUS","CTRL_VQ","CTRL_MAC_ADDR","ANY_LAYOUT","VERSION_1","ACCESS_PLATFORM" ]',
        '        },',
        '        "vdpasim_blk": {',
        '            "supported_classes": [ "block" ],',
        '            "max_supported_vqs": 0,',
        '            "dev_features": [ ]',
        '        }',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('-p without -j changes nothing', () => {
    expect(formatMgmtdevShow([mgmtdevNet], { pretty: true })).toBe(formatMgmtdevShow([mgmtdevNet]));
  });

  it('an empty dump prints nothing as text and an empty section as JSON', () => {
    expect(formatMgmtdevShow([])).toBe('');
    expect(formatMgmtdevShow([], { json: true })).toBe('{"mgmtdev":{}}\n');
    expect(formatMgmtdevShow([], { json: true, pretty: true })).toBe('{\n    "mgmtdev": {}\n}\n');
  });
});

describe('feature names', () => {
  it('net bits 0-27 and 43-63 come from the net table, 28-42 from the transport table', () => {
    expect(featureName(0, 1)).toBe('CSUM');
    expect(featureName(24, 1)).toBe('NOTIFY_ON_EMPTY');
    expect(featureName(60, 1)).toBe('RSS');
    expect(featureName(63, 1)).toBe('SPEED_DUPLEX');
    expect(featureName(28, 1)).toBe('RING_INDIRECT_DESC');
    expect(featureName(38, 1)).toBe('NOTIFICATION_DATA');
    expect(featureName(28, 2)).toBe('RING_INDIRECT_DESC');
  });

  it('bits without a name, and device bits of non-net devices, print as bit_N', () => {
    expect(featureName(4, 1)).toBeNull();
    expect(featureName(39, 1)).toBeNull();
    expect(featureName(54, 1)).toBeNull();
    expect(featureName(1, 2)).toBeNull();
  });

  it('bit_N is text, but a bare number in JSON', () => {
    const msg: NlMsg = [
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'odd'],
      ['VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES', '2'],
      ['VDPA_ATTR_DEV_SUPPORTED_FEATURES', ((1n << 4n) | (1n << 32n) | (1n << 40n)).toString()],
    ];
    expect(formatMgmtdevShow([msg])).toBe('odd: \n  supported_classes net\n  dev_features bit_4 VERSION_1 bit_40\n');
    expect(formatMgmtdevShow([msg], { json: true })).toBe(
      '{"mgmtdev":{"odd":{"supported_classes":["net"],"dev_features":[4,"VERSION_1",40]}}}\n',
    );
  });

  it('a mgmtdev without the net class names only the transport bits (ANY_LAYOUT is bit_27)', () => {
    const msg: NlMsg = [
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'blkish'],
      ['VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES', '4'],
      ['VDPA_ATTR_DEV_SUPPORTED_FEATURES', 0x308007646n.toString()],
    ];
    expect(formatMgmtdevShow([msg])).toContain(
      '  dev_features bit_1 bit_2 bit_6 bit_9 bit_10 bit_12 bit_13 bit_14 bit_27 VERSION_1 ACCESS_PLATFORM\n',
    );
  });

  it('unknown classes print as "< unknown class >"', () => {
    const msg: NlMsg = [
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'm'],
      ['VDPA_ATTR_MGMTDEV_SUPPORTED_CLASSES', ((1n << 1n) | (1n << 5n)).toString()],
    ];
    expect(formatMgmtdevShow([msg])).toBe('m: \n  supported_classes net < unknown class >\n');
  });
});

describe('vdpa dev show', () => {
  it('prints the reference one-liner (no min_vq_size)', () => {
    expect(formatDevShow([devNet])).toBe('vdpa0: type network mgmtdev vdpasim_net vendor_id 0 max_vqs 3 max_vq_size 256\n');
  });

  it('names types network, block and <unknown type>', () => {
    const withId = (name: string, id: number): NlMsg => [
      ['VDPA_ATTR_DEV_NAME', name],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'm'],
      ['VDPA_ATTR_DEV_ID', id],
    ];
    expect(formatDevShow([withId('a', 1), withId('b', 2), withId('c', 9)])).toBe(
      'a: type network mgmtdev m\nb: type block mgmtdev m\nc: type <unknown type> mgmtdev m\n',
    );
  });

  it('shows a bus-qualified mgmtdev as bus/dev', () => {
    const msg: NlMsg = [
      ['VDPA_ATTR_DEV_NAME', 'vdpa2'],
      ['VDPA_ATTR_MGMTDEV_BUS_NAME', 'auxiliary'],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'mlx5_core.sf.1'],
      ['VDPA_ATTR_DEV_ID', 1],
    ];
    expect(formatDevShow([msg])).toBe('vdpa2: type network mgmtdev auxiliary/mlx5_core.sf.1\n');
  });

  it('-j and -jp', () => {
    expect(formatDevShow([devNet], { json: true })).toBe(
      '{"dev":{"vdpa0":{"type":"network","mgmtdev":"vdpasim_net","vendor_id":0,"max_vqs":3,"max_vq_size":256}}}\n',
    );
    expect(formatDevShow([devNet], { json: true, pretty: true })).toBe(
      [
        '{',
        '    "dev": {',
        '        "vdpa0": {',
        '            "type": "network",',
        '            "mgmtdev": "vdpasim_net",',
        '            "vendor_id": 0,',
        '            "max_vqs": 3,',
        '            "max_vq_size": 256',
        '        }',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
  });
});

describe('vdpa dev config show', () => {
  it('prints the reference net config, negotiated features on an indented line', () => {
    expect(formatConfigShow([configNet])).toBe(
      'vdpa0: mac 00:11:22:33:44:55 link up link_announce false mtu 1500 \n' +
        '  negotiated_features MTU MAC STATUS CTRL_VQ CTRL_MAC_ADDR VERSION_1 ACCESS_PLATFORM\n',
    );
  });

  it('before FEATURES_OK there is no negotiated_features line', () => {
    const early = configNet.filter(([a]) => a !== 'VDPA_ATTR_DEV_NEGOTIATED_FEATURES');
    expect(formatConfigShow([early])).toBe('vdpa0: mac 00:11:22:33:44:55 link up link_announce false mtu 1500 \n');
  });

  it('prints max_vq_pairs between status and mtu, link down and announce from the status bits', () => {
    const msg: NlMsg = [
      ['VDPA_ATTR_DEV_NAME', 'vdpa3'],
      ['VDPA_ATTR_DEV_ID', 1],
      ['VDPA_ATTR_DEV_NET_CFG_MTU', 9000],
      ['VDPA_ATTR_DEV_NET_STATUS', 2],
      ['VDPA_ATTR_DEV_NET_CFG_MAX_VQP', 4],
    ];
    expect(formatConfigShow([msg])).toBe('vdpa3: link down link_announce true max_vq_pairs 4 mtu 9000 \n');
  });

  it('a block device prints just its name', () => {
    expect(formatConfigShow([configBlk])).toBe('vdpa1: \n');
    expect(formatConfigShow([configBlk], { json: true })).toBe('{"config":{"vdpa1":{}}}\n');
  });

  it('JSON keeps iproute2\'s "link " and "link_announce " keys with a trailing space', () => {
    expect(formatConfigShow([configNet], { json: true })).toBe(
      '{"config":{"vdpa0":{"mac":"00:11:22:33:44:55","link ":"up","link_announce ":false,"mtu":1500,' +
        '"negotiated_features":["MTU","MAC","STATUS","CTRL_VQ","CTRL_MAC_ADDR","VERSION_1","ACCESS_PLATFORM"]}}}\n',
    );
    const parsed = JSON.parse(formatConfigShow([configNet], { json: true, pretty: true })) as {
      config: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(parsed.config.vdpa0)).toEqual(['mac', 'link ', 'link_announce ', 'mtu', 'negotiated_features']);
  });
});

describe('vdpa dev vstats show', () => {
  it('qidx 1 is tx, vendor names with spaces, trailing space', () => {
    expect(formatVstatsShow([vstats(1, TX_STATS)])).toBe(
      'vdpa0: queue_type tx tx packets 12 tx bytes 1200 tx errors 0 tx drops 0 \n',
    );
  });

  it('vdpasim_net sends no max_vqp, so with CTRL_VQ qidx 0 reads control_vq', () => {
    expect(formatVstatsShow([vstats(0, RX_STATS)])).toBe(
      'vdpa0: queue_type control_vq rx packets 5 rx bytes 500 rx errors 0 rx overruns 1 rx drops 2 \n',
    );
  });

  it('... and the real control vq, qidx 2, reads rx', () => {
    expect(formatVstatsShow([vstats(2, CVQ_STATS)])).toBe(
      'vdpa0: queue_type rx cvq requests 1 cvq successes 1 cvq errors 0 \n',
    );
  });

  it('with max_vqp sent, qidx == 2 * max_vqp is the control vq', () => {
    expect(formatVstatsShow([vstats(2, CVQ_STATS, 1)])).toContain('queue_type control_vq ');
    expect(formatVstatsShow([vstats(0, RX_STATS, 1)])).toContain('queue_type rx ');
  });

  it('JSON keys are the vendor names, spaces and all', () => {
    expect(formatVstatsShow([vstats(1, TX_STATS)], { json: true })).toBe(
      '{"vstats":{"vdpa0":{"queue_type":"tx","tx packets":12,"tx bytes":1200,"tx errors":0,"tx drops":0}}}\n',
    );
  });

  it('u64 counters print in full', () => {
    const big = vstats(1, []);
    big.push(['VDPA_ATTR_DEV_VENDOR_ATTR_NAME', 'tx bytes'], ['VDPA_ATTR_DEV_VENDOR_ATTR_VALUE', '18446744073709551615']);
    expect(formatVstatsShow([big])).toBe('vdpa0: queue_type tx tx bytes 18446744073709551615 \n');
  });
});

describe('vdpa dev add argument parsing', () => {
  it('builds DEV_NEW in iproute2 attribute order', () => {
    const r = parseDevAdd(
      'name vdpa0 mgmtdev vdpasim_net device_features 308830028 mac 00:11:22:33:44:55 mtu 9000 max_vqp 2'.split(' '),
    );
    expect(r).toEqual({
      ok: true,
      attrs: [
        ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
        ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
        ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [0x00, 0x11, 0x22, 0x33, 0x44, 0x55]],
        ['VDPA_ATTR_DEV_NET_CFG_MTU', 9000],
        ['VDPA_ATTR_DEV_NET_CFG_MAX_VQP', 2],
        ['VDPA_ATTR_DEV_FEATURES', SIM_NET_FEATURES.toString()],
      ],
    });
  });

  it('splits bus/dev mgmtdev handles; a bare name has no bus attribute', () => {
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'pci/0000:01:00.0'])).toEqual({
      ok: true,
      attrs: [
        ['VDPA_ATTR_MGMTDEV_BUS_NAME', 'pci'],
        ['VDPA_ATTR_MGMTDEV_DEV_NAME', '0000:01:00.0'],
        ['VDPA_ATTR_DEV_NAME', 'v'],
      ],
    });
  });

  it('device_features is hex with or without 0x', () => {
    const r = parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'device_features', '0x308830028']);
    expect(r.ok && r.attrs.at(-1)).toEqual(['VDPA_ATTR_DEV_FEATURES', SIM_NET_FEATURES.toString()]);
  });

  it('keywords name, mgmtdev and max_vqp may be abbreviated; mac and mtu may not', () => {
    expect(parseDevAdd(['n', 'v', 'mg', 'm', 'max', '1']).ok).toBe(true);
    expect(parseDevAdd(['n', 'v', 'mg', 'm', 'mt', '1500'])).toEqual({ ok: false, stderr: 'Unknown option "mt"\n' });
  });

  it('missing name or mgmtdev', () => {
    expect(parseDevAdd(['mgmtdev', 'vdpasim_net'])).toEqual({ ok: false, stderr: 'device name is not set.\n' });
    expect(parseDevAdd(['name', 'vdpa0'])).toEqual({ ok: false, stderr: 'management device handle not set.\n' });
    expect(parseDevAdd([])).toEqual({ ok: false, stderr: 'management device handle not set.\n' });
  });

  it('a single trailing word is ignored (iproute2 NEXT_ARG_OK)', () => {
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'mac'])).toEqual(parseDevAdd(['name', 'v', 'mgmtdev', 'm']));
    expect(parseDevAdd(['name', 'v', 'mgmtdev'])).toEqual({ ok: false, stderr: 'management device handle not set.\n' });
  });

  it('a bad MAC byte is reported as invalid lladdr', () => {
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'mac', '00:11:zz:33:44:55'])).toEqual({
      ok: false,
      stderr: '"zz" is invalid lladdr.\n',
    });
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'mac', '00:11:122:33:44:55'])).toEqual({
      ok: false,
      stderr: '"122" is invalid lladdr.\n',
    });
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'mac', '1.2.3.x'])).toEqual({
      ok: false,
      stderr: '"1.2.3.x" is invalid lladdr.\n',
    });
  });

  it('MACs are parsed like ll_addr_a2n: short ones zero-filled, a dotted quad is four bytes', () => {
    const mac = (s: string) => {
      const r = parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'mac', s]);
      return r.ok ? r.attrs.find(([a]) => a === 'VDPA_ATTR_DEV_NET_CFG_MACADDR')?.[1] : r.stderr;
    };
    expect(mac('0:1:2:a:B:ff')).toEqual([0, 1, 2, 0xa, 0xb, 0xff]);
    expect(mac('2:3')).toEqual([2, 3, 0, 0, 0, 0]);
    expect(mac('10.0.0.1')).toEqual([10, 0, 0, 1, 0, 0]);
  });

  it('bad numbers fail silently, as get_u16 does', () => {
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'mtu', 'abc'])).toEqual({ ok: false, stderr: '' });
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'mtu', '65536'])).toEqual({ ok: false, stderr: '' });
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'm', 'device_features', 'xyz'])).toEqual({ ok: false, stderr: '' });
  });

  it('a mgmtdev with two slashes is refused', () => {
    expect(parseDevAdd(['name', 'v', 'mgmtdev', 'a/b/c'])).toEqual({
      ok: false,
      stderr:
        'Wrong vdpa mgmtdev identification string format\n' +
        'Expected "mgmtdev_bus_name/mgmtdev_name"\n' +
        'Expected "mgmtdev_name"\n',
    });
  });

  it('dev set takes name and mac only', () => {
    expect(parseDevSet(['name', 'vdpa0', 'mac', '00:11:22:33:44:66'])).toEqual({
      ok: true,
      attrs: [
        ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
        ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [0, 0x11, 0x22, 0x33, 0x44, 0x66]],
      ],
    });
    expect(parseDevSet(['name', 'vdpa0', 'mtu', '1'])).toEqual({ ok: false, stderr: 'Unknown option "mtu"\n' });
  });
});

describe('kernel errors and warnings', () => {
  it('the extack is printed as the kernel sent it, with a final dot added', () => {
    expect(formatKernelError('ENODEV', 'vdpa: device not found')).toBe(
      'Error: vdpa: device not found.\nkernel answers: No such device\n',
    );
  });

  it('a message from the netlink core has no module prefix (policy errors)', () => {
    expect(formatKernelError('ERANGE', 'integer out of range')).toBe(
      'Error: integer out of range.\nkernel answers: Numerical result out of range\n',
    );
  });

  it('no dot is added to a message that already has one', () => {
    expect(formatKernelError('EOPNOTSUPP', 'vdpa: Operation not supported by the device.')).toBe(
      'Error: vdpa: Operation not supported by the device.\nkernel answers: Operation not supported\n',
    );
  });

  it('without extack only the errno is printed', () => {
    expect(formatKernelError('EINVAL')).toBe('kernel answers: Invalid argument\n');
  });

  it('success with a message is a warning', () => {
    expect(formatKernelWarning('vdpa: blk0 device not supported')).toBe('Warning: vdpa: blk0 device not supported.\n');
  });
});

/* A kernel that answers from a table and records what it was sent. */
class FakeKernel implements VdpaGenlSocket {
  readonly sent: Array<{ cmd: VdpaCmd; attrs: NlMsg }> = [];
  closed = false;
  families = ['vdpa'];

  constructor(private readonly answer: (cmd: VdpaCmd, attrs: NlMsg) => GenlReply) {}

  async getfamily(name: string): Promise<void> {
    if (!this.families.includes(name)) throw new ControlError('ENOENT');
  }

  async genl(cmd: VdpaCmd, attrs: NlMsg): Promise<GenlReply> {
    this.sent.push({ cmd, attrs });
    return this.answer(cmd, attrs);
  }

  close(): void {
    this.closed = true;
  }
}

async function run(argv: string[], kernel?: FakeKernel) {
  let stdout = '';
  let stderr = '';
  let connects = 0;
  const code = await main(argv, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    connect: async () => {
      connects++;
      return kernel ?? null;
    },
  });
  return { code, stdout, stderr, connects };
}

const devGetKernel = () =>
  new FakeKernel((cmd, attrs) => {
    if (cmd !== VdpaCmd.DEV_GET) throw new ControlError('EOPNOTSUPP');
    const name = attrs.find(([a]) => a === 'VDPA_ATTR_DEV_NAME')?.[1];
    if (name === undefined || name === 'vdpa0') return { msgs: [devNet] };
    throw new ControlError('ENODEV', 'vdpa: device not found');
  });

describe('vdpa main()', () => {
  it('dev show of an unknown device: extack, strerror, exit 1, nothing on stdout', async () => {
    const r = await run(['dev', 'show', 'nope'], devGetKernel());
    expect(r).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'Error: vdpa: device not found.\nkernel answers: No such device\n',
    });
  });

  it('-j on error still closes the JSON section on stdout', async () => {
    const r = await run(['-j', 'dev', 'show', 'nope'], devGetKernel());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('{"dev":{}}\n');
  });

  it('dev show dumps when no DEV is given and asks for one when it is', async () => {
    const k = devGetKernel();
    expect((await run(['dev'], k)).stdout).toBe(formatDevShow([devNet]));
    expect((await run(['dev', 'list', 'vdpa0'], k)).stdout).toBe(formatDevShow([devNet]));
    expect(k.sent).toEqual([
      { cmd: VdpaCmd.DEV_GET, attrs: [] },
      { cmd: VdpaCmd.DEV_GET, attrs: [['VDPA_ATTR_DEV_NAME', 'vdpa0']] },
    ]);
    expect(k.closed).toBe(true);
  });

  it('options are found anywhere (getopt permutes) and -jp pretty-prints', async () => {
    const r = await run(['dev', 'show', '-jp', 'vdpa0'], devGetKernel());
    expect(r.stdout).toBe(formatDevShow([devNet], { json: true, pretty: true }));
  });

  it('mgmtdev show sends bus and dev name of a handle', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    await run(['mgmtdev', 'show', 'pci/0000:01:00.0'], k);
    expect(k.sent[0]).toEqual({
      cmd: VdpaCmd.MGMTDEV_GET,
      attrs: [
        ['VDPA_ATTR_MGMTDEV_BUS_NAME', 'pci'],
        ['VDPA_ATTR_MGMTDEV_DEV_NAME', '0000:01:00.0'],
      ],
    });
  });

  it('dev add, del, set and vstats send what iproute2 sends', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    await run(['dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpasim_net', 'mac', '00:11:22:33:44:55'], k);
    await run(['dev', 'del', 'vdpa0'], k);
    await run(['dev', 'set', 'name', 'vdpa0', 'mac', '00:11:22:33:44:66'], k);
    await run(['dev', 'vstats', 'show', 'vdpa0', 'qidx', '1'], k);
    expect(k.sent).toEqual([
      {
        cmd: VdpaCmd.DEV_NEW,
        attrs: [
          ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'vdpasim_net'],
          ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
          ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [0, 0x11, 0x22, 0x33, 0x44, 0x55]],
        ],
      },
      { cmd: VdpaCmd.DEV_DEL, attrs: [['VDPA_ATTR_DEV_NAME', 'vdpa0']] },
      {
        cmd: VdpaCmd.DEV_ATTR_SET,
        attrs: [
          ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
          ['VDPA_ATTR_DEV_NET_CFG_MACADDR', [0, 0x11, 0x22, 0x33, 0x44, 0x66]],
        ],
      },
      {
        cmd: VdpaCmd.DEV_VSTATS_GET,
        attrs: [
          ['VDPA_ATTR_DEV_NAME', 'vdpa0'],
          ['VDPA_ATTR_DEV_QUEUE_INDEX', 1],
        ],
      },
    ]);
  });

  it('a successful dev add prints nothing (JSON mode: one empty line)', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    const args = ['dev', 'add', 'name', 'v', 'mgmtdev', 'vdpasim_net'];
    expect(await run(args, k)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await run(['-j', ...args], k)).toMatchObject({ code: 0, stdout: '\n', stderr: '' });
  });

  it('dev set on a non-net mgmtdev succeeds with a warning', async () => {
    const k = new FakeKernel(() => ({ msgs: [], warning: 'vdpa: vdpa1 device not supported' }));
    const r = await run(['dev', 'set', 'name', 'vdpa1', 'mac', '00:11:22:33:44:55'], k);
    expect(r).toMatchObject({ code: 0, stderr: 'Warning: vdpa: vdpa1 device not supported.\n' });
  });

  it('vstats needs DEV, optionally qidx N: other arities print its usage and fail', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    const r = await run(['dev', 'vstats', 'show', 'vdpa0', 'qidx'], k);
    expect(r).toMatchObject({ code: 1, stderr: 'Usage: vdpa dev vstats show DEV [qidx QUEUE_INDEX]\n' });
    expect(k.sent).toEqual([]);
  });

  it('argument errors come after the family lookup, as iproute2 6.1 opens netlink first', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    const r = await run(['dev', 'add', 'name', 'vdpa0'], k);
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'management device handle not set.\n', connects: 1 });
    expect(k.sent).toEqual([]);
    expect(await run(['dev', 'del'], k)).toMatchObject({ code: 1, stderr: 'String parameter expected\n' });
  });

  it('without the vdpa family (module not loaded) every command says Failed to connect to vdpa Netlink', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    k.families = [];
    for (const argv of [['dev', 'show'], ['-j', 'mgmtdev', 'show'], ['help'], ['dev', 'help'], ['dev', 'add', 'name', 'x']]) {
      expect(await run(argv, k)).toMatchObject({ code: 1, stdout: '', stderr: 'Failed to connect to vdpa Netlink\n' });
    }
    expect(k.sent).toEqual([]);
  });

  it('no kernel reachable: exit 1, nothing on stdout even with -j', async () => {
    const r = await run(['-j', 'dev', 'show']);
    expect(r).toMatchObject({ code: 1, stdout: '', connects: 1 });
  });

  it('the default connector names the mount point and how to choose one, in one line', async () => {
    const tryMain = async (argv: string[]) => {
      let stderr = '';
      const code = await main(argv, { stdout: () => {}, stderr: (s) => (stderr += s) });
      return { code, stderr };
    };
    try {
      vi.stubEnv('VDPAFS_ROOT', undefined);
      expect(await tryMain(['dev', 'show'])).toEqual({
        code: 1,
        stderr: 'vdpa: no vdpafs mount given: pass --root MOUNTPOINT or set VDPAFS_ROOT\n',
      });
      const viaFlag = await tryMain(['--root', '/nonexistent/vdpafs-mnt', 'dev', 'show']);
      expect(viaFlag.code).toBe(1);
      expect(viaFlag.stderr).toMatch(/^vdpa: no vdpafs kernel is running at \/nonexistent\/vdpafs-mnt: .*--root MOUNTPOINT or VDPAFS_ROOT\n$/);
      vi.stubEnv('VDPAFS_ROOT', '/nonexistent/from-env');
      const viaEnv = await tryMain(['dev', 'show']);
      expect(viaEnv.stderr).toMatch(/^vdpa: no vdpafs kernel is running at \/nonexistent\/from-env \(from VDPAFS_ROOT\): /);
      expect(viaEnv.stderr.split('\n')).toEqual([expect.any(String), '']);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('-V prints the iproute2 version this is a port of, 6.1.0, with no kernel', async () => {
    const line = 'vdpa utility, iproute2-6.1.0\n';
    expect(IPROUTE2_VERSION).toBe('6.1.0');
    expect(await run(['-V'])).toMatchObject({ code: 0, stdout: line, stderr: '', connects: 0 });
    expect(await run(['--Version'])).toMatchObject({ code: 0, stdout: line });
    expect(await run(['--Ver'])).toMatchObject({ code: 0, stdout: line });
  });

  it('--version is not an option of iproute2 6.1 (getopt_long is case-sensitive)', async () => {
    expect(await run(['--version'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: "vdpa: unrecognized option '--version'\nUnknown option.\n" + USAGE,
    });
  });

  it('help, -h and no arguments print the usage on stderr and exit 0', async () => {
    expect(USAGE).toBe(
      'Usage: vdpa [ OPTIONS ] OBJECT { COMMAND | help }\n' +
        'where  OBJECT := { mgmtdev | dev }\n' +
        '       OPTIONS := { -V[ersion] | -n[o-nice-names] | -j[son] | -p[retty] }\n',
    );
    const k = () => new FakeKernel(() => ({ msgs: [] }));
    for (const argv of [[], ['help']]) {
      expect(await run(argv, k())).toMatchObject({ code: 0, stdout: '', stderr: USAGE });
    }
    for (const argv of [['-h'], ['--help']]) {
      expect(await run(argv)).toMatchObject({ code: 0, stdout: '', stderr: USAGE, connects: 0 });
    }
  });

  it('each level has its help (6.1 texts)', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    expect((await run(['mgmtdev'], k)).stderr).toBe('Usage: vdpa mgmtdev show [ DEV ]\n');
    expect((await run(['mgmtdev', 'help'], k)).stderr).toBe('Usage: vdpa mgmtdev show [ DEV ]\n');
    expect((await run(['dev', 'help'], k)).stderr).toBe(
      'Usage: vdpa dev show [ DEV ]\n' +
        '       vdpa dev add name NAME mgmtdev MANAGEMENTDEV [ mac MACADDR ] [ mtu MTU ]\n' +
        '                                                    [ max_vqp MAX_VQ_PAIRS ]\n' +
        '       vdpa dev del DEV\n' +
        'Usage: vdpa dev config COMMAND [ OPTIONS ]\n' +
        'Usage: vdpa dev vstats COMMAND\n',
    );
    expect((await run(['dev', 'config', 'help'], k)).stderr).toBe('Usage: vdpa dev config show [ DEV ]\n');
    expect(await run(['dev', 'vstats', 'help'], k)).toMatchObject({
      code: 0,
      stderr: 'Usage: vdpa dev vstats show DEV [qidx QUEUE_INDEX]\n',
    });
  });

  it('unknown objects, commands and options', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    expect(await run(['foo'], k)).toMatchObject({ code: 1, stderr: 'Object "foo" not found\n' });
    expect(await run(['dev', 'frob'], k)).toMatchObject({ code: 1, stderr: 'Command "frob" not found\n' });
    expect(await run(['dev', 'vstat'], k)).toMatchObject({ code: 1, stderr: 'Command "vstat" not found\n' });
    expect(await run(['-x', 'dev'])).toMatchObject({
      code: 1,
      stderr: "vdpa: invalid option -- 'x'\nUnknown option.\n" + USAGE,
      connects: 0,
    });
  });

  it('an empty word matches no object, command or keyword (matches())', async () => {
    const k = new FakeKernel(() => ({ msgs: [] }));
    expect(await run([''], k)).toMatchObject({ code: 1, stderr: 'Object "" not found\n' });
    expect(await run(['dev', ''], k)).toMatchObject({ code: 1, stderr: 'Command "" not found\n' });
    expect(await run(['mgmtdev', ''], k)).toMatchObject({ code: 1, stderr: 'Command "" not found\n' });
    expect(await run(['dev', 'add', '', 'x', 'name', 'v', 'mgmtdev', 'm'], k)).toMatchObject({
      code: 1,
      stderr: 'Unknown option ""\n',
    });
    expect(k.sent).toEqual([]);
  });

  it('getopt stops at the first bad option: later ones are never looked at', async () => {
    expect(await run(['-x', '-y', '--nope', 'dev'])).toMatchObject({
      code: 1,
      stderr: "vdpa: invalid option -- 'x'\nUnknown option.\n" + USAGE,
    });
    expect(await run(['-jx', '-V'])).toMatchObject({ code: 1, stdout: '', stderr: "vdpa: invalid option -- 'x'\nUnknown option.\n" + USAGE });
    expect(await run(['-Vx'])).toMatchObject({ code: 0, stdout: 'vdpa utility, iproute2-6.1.0\n', stderr: '' });
  });

  it('-s is in getopt\'s option string but vdpa does not handle it: Unknown option, no getopt message', async () => {
    expect(await run(['-s', 'dev'])).toMatchObject({ code: 1, stderr: 'Unknown option.\n' + USAGE });
  });

  it('vstats show prints the kernel\'s error but exits 0 (iproute2 6.1; 6.4 returns it)', async () => {
    const k = new FakeKernel(() => {
      throw new ControlError('ENODEV', 'vdpa: device not found');
    });
    expect(await run(['dev', 'vstats', 'show', 'nope', 'qidx', '0'], k)).toMatchObject({
      code: 0,
      stdout: '',
      stderr: 'Error: vdpa: device not found.\nkernel answers: No such device\n',
    });
  });

  it('abbreviated objects and verbs work as in iproute2', async () => {
    const k = devGetKernel();
    expect((await run(['d', 's', 'vdpa0'], k)).stdout).toBe(formatDevShow([devNet]));
  });
});

describe('iproute2 6.1 byte-exactness', () => {
  it('the JSON writer doubles a backslash and leaves a single quote alone (json_writer.c jsonw_puts)', () => {
    const msg: NlMsg = [
      ['VDPA_ATTR_DEV_NAME', `a\\b'c"d`],
      ['VDPA_ATTR_MGMTDEV_DEV_NAME', 'm'],
      ['VDPA_ATTR_DEV_ID', 1],
    ];
    expect(formatDevShow([msg], { json: true })).toBe(`{"dev":{"a\\\\b'c\\"d":{"type":"network","mgmtdev":"m"}}}\n`);
  });
});

/* The socket vdpa(8) gets from the control socket, here straight onto a kernel booted in this process. */
function kernelSocket(k: Kernel): VdpaGenlSocket {
  return {
    getfamily: async (name) => void genlCtrlGetfamily(k, name, ROOT_CRED),
    genl: (cmd, attrs) => settle(vdpaGenl(k, cmd, attrs)),
    close: () => undefined,
  };
}

async function runOn(k: Kernel, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), connect: async () => kernelSocket(k) });
  return { code, stdout, stderr };
}

describe('vdpa main() against the kernel model (the one family behind the wire too)', () => {
  it('mtu 67 is refused by the attribute policy before the handler: "Error: integer out of range."', async () => {
    const k = bootKernel();
    expect(await runOn(k, ['dev', 'add', 'name', 'v1', 'mgmtdev', 'vdpasim_net', 'mtu', '67'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: integer out of range.\nkernel answers: Numerical result out of range\n',
    });
    expect((await runOn(k, ['dev', 'add', 'name', 'v1', 'mgmtdev', 'vdpasim_net', 'mtu', '68'])).code).toBe(0);
  });

  it('a duplicate name is EEXIST with no message; an unknown mgmtdev names what it looked for', async () => {
    const k = bootKernel();
    expect(await runOn(k, ['dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpasim_net'])).toMatchObject({ code: 1, stderr: 'kernel answers: File exists\n' });
    expect(await runOn(k, ['dev', 'add', 'name', 'v9', 'mgmtdev', 'nope'])).toMatchObject({
      code: 1,
      stderr: 'Error: vdpa: Fail to find the specified management device.\nkernel answers: No such device\n',
    });
  });

  it('dev add with a trailing "mac" and no value adds the device without a MAC, as iproute2 6.1 does', async () => {
    const k = bootKernel();
    expect(await runOn(k, ['dev', 'add', 'name', 'v1', 'mgmtdev', 'vdpasim_net', 'mac'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runOn(k, ['dev', 'config', 'show', 'v1'])).stdout).toBe('v1: mac 00:00:00:00:00:00 link up link_announce false mtu 1500 \n');
  });

  it('dev set on a block device warns, naming the device (vdpa_nl_cmd_dev_attr_set_doit)', async () => {
    const k = bootKernel();
    k.modules.modprobe('vdpa_sim_blk');
    await runOn(k, ['dev', 'add', 'name', 'blk0', 'mgmtdev', 'vdpasim_blk']);
    expect(await runOn(k, ['dev', 'set', 'name', 'blk0', 'mac', '02:00:00:00:00:01'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'Warning: vdpa: blk0 device not supported.\n',
    });
  });

  it('with the vdpa module unloaded every command says Failed to connect to vdpa Netlink', async () => {
    const k = bootKernel({ bare: true });
    expect(await runOn(k, ['dev', 'show'])).toEqual({ code: 1, stdout: '', stderr: 'Failed to connect to vdpa Netlink\n' });
    k.modules.modprobe('vdpa');
    expect(await runOn(k, ['dev', 'show'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
