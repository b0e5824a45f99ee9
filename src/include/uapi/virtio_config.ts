/*
 * include/uapi/linux/virtio_config.h: device status bits and the
 * transport-level feature bits.
 *
 * Feature bits are bit numbers (as in the header); BIT(n) turns one into the
 * 64-bit mask the feature words are made of. Masks are bigint because bits
 * 32..63 do not survive JS bitwise operators.
 */

/* Device status (a u8 the driver writes step by step, spec 2.1). */
export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 0x1;
export const VIRTIO_CONFIG_S_DRIVER = 0x2;
export const VIRTIO_CONFIG_S_DRIVER_OK = 0x4;
export const VIRTIO_CONFIG_S_FEATURES_OK = 0x8;
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;
export const VIRTIO_CONFIG_S_FAILED = 0x80;

/* Transport feature bits (bit numbers). */
export const VIRTIO_F_ANY_LAYOUT = 27;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_ACCESS_PLATFORM = 33;
export const VIRTIO_F_RING_PACKED = 34;
export const VIRTIO_F_IN_ORDER = 35;

/* Bits the core passes to the transport whatever the driver says (28..41). */
export const VIRTIO_TRANSPORT_F_START = 28;
export const VIRTIO_TRANSPORT_F_END = 42;

export function BIT(n: number): bigint {
  return 1n << BigInt(n);
}

/* __virtio_test_bit() on a 64-bit feature word. */
export function virtioHasFeature(features: bigint, bit: number): boolean {
  return (features & BIT(bit)) !== 0n;
}
