/*
 * Exercises the preload shim the way a careful netlink program might:
 * GETFAMILY "vdpa" sent on a dup() of the socket and read on the original,
 * GETFAMILY "nlctrl" sent on an fcntl(F_DUPFD) copy (that one is the host
 * kernel's to answer), and a second socket with its own port id. Prints
 * one "key value" line per fact for test/e2e/vdpa_netlink.test.ts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int getfamily(int send_fd, int recv_fd, const char *name, unsigned *sender)
{
	struct {
		struct nlmsghdr n;
		struct genlmsghdr g;
		char buf[64];
	} req = { 0 };
	char buf[4096];
	struct nlattr *a = (void *)req.buf;
	struct sockaddr_nl from;
	socklen_t fromlen = sizeof(from);
	int len = strlen(name) + 1, r, off;

	a->nla_type = CTRL_ATTR_FAMILY_NAME;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, name, len);
	req.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN) + NLA_ALIGN(a->nla_len);
	req.n.nlmsg_type = GENL_ID_CTRL;
	req.n.nlmsg_flags = NLM_F_REQUEST;
	req.n.nlmsg_seq = 7;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	if (send(send_fd, &req, req.n.nlmsg_len, 0) < 0)
		return -1;
	r = recvfrom(recv_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
	if (r < (int)NLMSG_HDRLEN)
		return -1;
	*sender = from.nl_pid;
	if (((struct nlmsghdr *)buf)->nlmsg_type == NLMSG_ERROR)
		return -2;
	for (off = NLMSG_HDRLEN + GENL_HDRLEN; off + NLA_HDRLEN <= r;) {
		struct nlattr *x = (void *)(buf + off);
		if (x->nla_type == CTRL_ATTR_FAMILY_ID)
			return *(unsigned short *)((char *)x + NLA_HDRLEN);
		off += NLA_ALIGN(x->nla_len);
	}
	return -1;
}

static unsigned portid(int fd)
{
	struct sockaddr_nl nl = { 0 };
	socklen_t len = sizeof(nl);

	getsockname(fd, (struct sockaddr *)&nl, &len);
	return nl.nl_pid;
}

int main(void)
{
	struct sockaddr_nl any = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
	int other = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
	int d, f;
	unsigned sender = 99;

	bind(fd, (struct sockaddr *)&any, sizeof(any));
	bind(other, (struct sockaddr *)&any, sizeof(any));
	d = dup(fd);
	f = fcntl(fd, F_DUPFD, 100);
	printf("vdpa_via_dup %d\n", getfamily(d, fd, "vdpa", &sender));
	printf("vdpa_sender %u\n", sender);
	printf("nlctrl_via_f_dupfd %d\n", getfamily(f, fd, "nlctrl", &sender));
	printf("vdpa_via_second_socket %d\n", getfamily(other, other, "vdpa", &sender));
	printf("distinct_portids %d\n", portid(fd) != portid(other) && portid(fd) && portid(other));
	close(d);
	printf("vdpa_after_close_of_dup %d\n", getfamily(f, fd, "vdpa", &sender));
	return 0;
}
