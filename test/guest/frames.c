/*
 * frames: the guest's traffic for the QEMU end-to-end test. Runs inside the
 * guest (built static by scripts/guest.sh), as a raw packet socket would.
 *
 *   frames IFNAME DSTMAC COUNT LABEL
 *
 * Sends COUNT Ethernet frames from IFNAME's own MAC to DSTMAC with the
 * local experimental EtherType 0x88b5, each carrying LABEL and its sequence
 * number, then waits (up to 10 s) for them to come back: vdpa_sim's loopback
 * returns every frame its receive filter passes. Prints one line the host
 * parses:
 *
 *   VDPAFS-RESULT LABEL_sent=N LABEL_received=N LABEL_intact=N
 *
 * received counts the frames of ours that came back, intact those that came
 * back byte for byte as sent. The socket is bound to 0x88b5, so it sees only
 * received frames of this EtherType, never its own outgoing copies (those go
 * to ETH_P_ALL taps only). Exit status 0 when every frame came back intact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETHERTYPE_LOCAL_EXP 0x88b5
#define FRAME_LEN 100 /* header 14 + payload 86: above the 60-byte minimum */
#define MAX_COUNT 256
#define WAIT_MS 10000

static int parse_mac(const char *s, unsigned char mac[6]) {
  unsigned int b[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (b[i] > 0xff) return -1;
    mac[i] = (unsigned char)b[i];
  }
  return 0;
}

/* Frame seq of LABEL: dst, src, EtherType, then "LABEL seq" and a pattern derived from seq. */
static void build_frame(unsigned char *f, const unsigned char dst[6], const unsigned char src[6], const char *label,
                        unsigned int seq) {
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  f[12] = ETHERTYPE_LOCAL_EXP >> 8;
  f[13] = ETHERTYPE_LOCAL_EXP & 0xff;
  int n = snprintf((char *)f + 14, FRAME_LEN - 14, "vdpafs %s %u ", label, seq);
  for (int i = 14 + n; i < FRAME_LEN; i++) f[i] = (unsigned char)(seq * 31 + i);
}

static long ms_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: frames IFNAME DSTMAC COUNT LABEL\n");
    return 2;
  }
  const char *ifname = argv[1], *label = argv[4];
  unsigned char dst[6], src[6];
  int count = atoi(argv[3]);
  if (parse_mac(argv[2], dst) < 0 || count < 1 || count > MAX_COUNT) {
    fprintf(stderr, "frames: bad MAC or count\n");
    return 2;
  }

  int s = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_LOCAL_EXP));
  if (s < 0) {
    perror("frames: socket");
    return 1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
    perror("frames: SIOCGIFINDEX");
    return 1;
  }
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
    perror("frames: SIOCGIFHWADDR");
    return 1;
  }
  memcpy(src, ifr.ifr_hwaddr.sa_data, 6);

  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETHERTYPE_LOCAL_EXP);
  sll.sll_ifindex = ifindex;
  if (bind(s, (struct sockaddr *)&sll, sizeof sll) < 0) {
    perror("frames: bind");
    return 1;
  }

  static unsigned char sent[MAX_COUNT][FRAME_LEN];
  static char seen[MAX_COUNT];
  for (int i = 0; i < count; i++) {
    build_frame(sent[i], dst, src, label, (unsigned int)i);
    if (send(s, sent[i], FRAME_LEN, 0) != FRAME_LEN) {
      perror("frames: send");
      return 1;
    }
  }

  int received = 0, intact = 0;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (received < count) {
    long left = WAIT_MS - ms_since(&t0);
    if (left <= 0) break;
    struct pollfd p = {.fd = s, .events = POLLIN};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    unsigned char buf[2048];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 0) {
      perror("frames: recv");
      return 1;
    }
    /* Ours: the label and a sequence number we sent and have not seen yet. */
    unsigned int seq;
    char got_label[64];
    if (n < 14 || sscanf((char *)buf + 14, "vdpafs %63s %u ", got_label, &seq) != 2) continue;
    if (strcmp(got_label, label) != 0 || seq >= (unsigned int)count || seen[seq]) continue;
    seen[seq] = 1;
    received++;
    if (n == FRAME_LEN && memcmp(buf, sent[seq], FRAME_LEN) == 0) intact++;
  }
  printf("VDPAFS-RESULT %s_sent=%d %s_received=%d %s_intact=%d\n", label, count, label, received, label, intact);
  fflush(stdout);
  return intact == count ? 0 : 1;
}
