/*
 * include/uapi/linux/virtio_net.h: feature bits, the config layout and the
 * header/control-queue constants shared by the driver (virtio_net), the
 * device (vdpa_sim_net), the vdpa netlink family and the shell.
 *
 * Feature bits are bit numbers, as in the header; BIT() in virtio_config
 * turns one into a feature-word mask.
 */

/* Feature bits */
export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 2;
export const VIRTIO_NET_F_MTU = 3;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GSO = 6;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_GUEST_TSO6 = 8;
export const VIRTIO_NET_F_GUEST_ECN = 9;
export const VIRTIO_NET_F_GUEST_UFO = 10;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_HOST_TSO6 = 12;
export const VIRTIO_NET_F_HOST_ECN = 13;
export const VIRTIO_NET_F_HOST_UFO = 14;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_F_CTRL_VQ = 17;
export const VIRTIO_NET_F_CTRL_RX = 18;
export const VIRTIO_NET_F_CTRL_VLAN = 19;
export const VIRTIO_NET_F_GUEST_ANNOUNCE = 21;
export const VIRTIO_NET_F_MQ = 22;
export const VIRTIO_NET_F_CTRL_MAC_ADDR = 23;
export const VIRTIO_NET_F_DEVICE_STATS = 50;
export const VIRTIO_NET_F_VQ_NOTF_COAL = 52;
export const VIRTIO_NET_F_NOTF_COAL = 53;
export const VIRTIO_NET_F_GUEST_USO4 = 54;
export const VIRTIO_NET_F_GUEST_USO6 = 55;
export const VIRTIO_NET_F_HOST_USO = 56;
export const VIRTIO_NET_F_HASH_REPORT = 57;
export const VIRTIO_NET_F_GUEST_HDRLEN = 59;
export const VIRTIO_NET_F_RSS = 60;
export const VIRTIO_NET_F_STANDBY = 62;
export const VIRTIO_NET_F_SPEED_DUPLEX = 63;

/* virtio_net_config.status bits */
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;

/* struct virtio_net_config offsets: mac[6], status, max_virtqueue_pairs, mtu, speed, duplex. */
export const VIRTIO_NET_CFG = { MAC: 0, STATUS: 6, MAX_VQ_PAIRS: 8, MTU: 10, SPEED: 12, DUPLEX: 16 } as const;

/* struct virtio_net_hdr_mrg_rxbuf / _v1 is 12 bytes; the legacy one 10. */
export const VIRTIO_NET_HDR_V1_LEN = 12;
export const VIRTIO_NET_HDR_LEN = 10;

/* Control queue: struct virtio_net_ctrl_hdr classes/commands and the ack. */
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
export const VIRTIO_NET_CTRL_MAC = 1;
export const VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;
