/*
 * vdpafs generic netlink preload shim: LD_PRELOAD=libvdpafs_genl.so and set
 * VDPAFS_GENL_SOCKET to a vdpafs daemon's generic netlink socket, and the
 * requests a program sends on its NETLINK_GENERIC sockets to a family the
 * simulated kernel owns (the "vdpa" family, and nlctrl's GETFAMILY for it)
 * are answered by the simulation instead of the host kernel.
 *
 * The program's sockets stay real kernel sockets: poll, dup, fork, close
 * all behave as ever, and every other request (devlink, nl80211, ethtool,
 * ...), every other netlink protocol (NETLINK_ROUTE for ip, uevents) and
 * every non-netlink descriptor go to the kernel untouched. Only sends are
 * looked at: a message for the simulation is handed to the daemon over a
 * Unix socket, and the daemon unicasts the answers to the program's socket
 * from its own netlink socket; on the way in, the shim makes those answers
 * look as if the kernel sent them (sender port id 0).
 *
 * The daemon end and the frame format are in src/control/genl_server.ts.
 * Statically linked programs and Go programs (raw syscalls) are out of reach
 * of any preload library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define ENV_SOCKET "VDPAFS_GENL_SOCKET"

enum { WIRE_HELLO = 1, WIRE_FAMILIES = 2, WIRE_STATUS = 3, WIRE_SEND = 16 };
#define WIRE_VERSION 1
#define SEND_HDR 20
#define MAX_FAMILIES 8
#define FAMILY_ENTRY (4 + GENL_NAMSIZ)

/* What we know of a descriptor number: whether it is a NETLINK_GENERIC socket. */
enum { FD_UNKNOWN = 0, FD_GENL = 1, FD_OTHER = 2 };
#define MAX_TRACKED 65536
static unsigned char fd_state[MAX_TRACKED];
/* The largest read seen per socket: the kernel sizes dump datagrams by it. */
static uint32_t fd_max_read[MAX_TRACKED];

static int (*real_socket)(int, int, int);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static int (*real_close_range)(unsigned int, unsigned int, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_read)(int, void *, size_t);

static void resolve(void)
{
	if (real_sendto)
		return;
	real_socket = dlsym(RTLD_NEXT, "socket");
	real_close = dlsym(RTLD_NEXT, "close");
	real_dup = dlsym(RTLD_NEXT, "dup");
	real_dup2 = dlsym(RTLD_NEXT, "dup2");
	real_dup3 = dlsym(RTLD_NEXT, "dup3");
	real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	real_fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
	real_close_range = dlsym(RTLD_NEXT, "close_range");
	real_send = dlsym(RTLD_NEXT, "send");
	real_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
	real_write = dlsym(RTLD_NEXT, "write");
	real_recv = dlsym(RTLD_NEXT, "recv");
	real_recvfrom = dlsym(RTLD_NEXT, "recvfrom");
	real_recvmsg = dlsym(RTLD_NEXT, "recvmsg");
	real_read = dlsym(RTLD_NEXT, "read");
	real_sendto = dlsym(RTLD_NEXT, "sendto");
}

__attribute__((constructor)) static void shim_init(void)
{
	resolve();
}

/* ------------------------------------------------------------------------ */
/* Which descriptors are generic netlink sockets                            */

static int tracked(int fd)
{
	return fd >= 0 && fd < MAX_TRACKED;
}

static void forget(int fd)
{
	if (tracked(fd)) {
		fd_state[fd] = FD_UNKNOWN;
		fd_max_read[fd] = 0;
	}
}

static void inherit(int newfd, int oldfd)
{
	if (tracked(newfd)) {
		fd_state[newfd] = tracked(oldfd) ? fd_state[oldfd] : FD_UNKNOWN;
		fd_max_read[newfd] = tracked(oldfd) ? fd_max_read[oldfd] : 0;
	}
}

/* Ask the kernel once per descriptor number (errno is left as it was). */
static int is_genl(int fd)
{
	int saved = errno, domain = 0, proto = 0, genl;
	socklen_t len = sizeof(int);

	if (tracked(fd) && fd_state[fd] != FD_UNKNOWN)
		return fd_state[fd] == FD_GENL;
	genl = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_NETLINK &&
	       (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0) &&
	       proto == NETLINK_GENERIC;
	if (tracked(fd))
		fd_state[fd] = genl ? FD_GENL : FD_OTHER;
	errno = saved;
	return genl;
}

static int known_genl(int fd)
{
	return tracked(fd) && fd_state[fd] == FD_GENL;
}

/* ------------------------------------------------------------------------ */
/* The channel to the daemon (one per process, reopened after fork or setuid) */

struct family {
	uint16_t id;
	char name[GENL_NAMSIZ];
};

static struct {
	int fd;
	pid_t pid;
	uid_t euid;
	dev_t dev;
	ino_t ino;
	int foreign_netns;
	int nfamilies;
	struct family families[MAX_FAMILIES];
} chan = { .fd = -1 };

/* The daemon's port id, remembered even if the channel goes: its answers read as the kernel's. */
static uint32_t daemon_portid;
static pthread_mutex_t chan_lock = PTHREAD_MUTEX_INITIALIZER;

/* The child has its own descriptors and credentials: it opens its own channel. */
static int chan_ours(void);

static void atfork_child(void)
{
	pthread_mutex_init(&chan_lock, NULL);
	if (chan_ours())
		real_close(chan.fd);
	chan.fd = -1;
}

__attribute__((constructor)) static void shim_atfork(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = real_read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t r = real_write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

static void read_table(const unsigned char *p, size_t len)
{
	uint32_t count;
	int i;

	if (len < 4)
		return;
	memcpy(&count, p, 4);
	if (count > MAX_FAMILIES || len < 4 + count * FAMILY_ENTRY)
		return;
	for (i = 0; i < (int)count; i++) {
		const unsigned char *e = p + 4 + i * FAMILY_ENTRY;
		memcpy(&chan.families[i].id, e, 2);
		memcpy(chan.families[i].name, e + 4, GENL_NAMSIZ);
		chan.families[i].name[GENL_NAMSIZ - 1] = '\0';
	}
	chan.nfamilies = count;
}

/*
 * One frame from the daemon. HELLO and FAMILIES update the table; the kind
 * is returned (a STATUS's value in *status).
 */
static int read_frame(int32_t *status)
{
	uint32_t head[2];
	unsigned char body[256];
	uint32_t len;

	if (read_full(chan.fd, head, sizeof(head)))
		return -1;
	len = head[0] - sizeof(head);
	if (head[0] < sizeof(head) || len > sizeof(body) || read_full(chan.fd, body, len))
		return -1;
	switch (head[1]) {
	case WIRE_HELLO: {
		uint32_t version, portid;
		uint64_t netns;
		struct stat st;

		if (len < 16)
			return -1;
		memcpy(&version, body, 4);
		memcpy(&portid, body + 4, 4);
		memcpy(&netns, body + 8, 8);
		if (version != WIRE_VERSION)
			return -1;
		daemon_portid = portid;
		/* The daemon answers by port id, which only means something in its network namespace. */
		chan.foreign_netns = stat("/proc/self/ns/net", &st) != 0 || st.st_ino != netns;
		read_table(body + 16, len - 16);
		break;
	}
	case WIRE_FAMILIES:
		read_table(body, len);
		break;
	case WIRE_STATUS:
		if (len < 4)
			return -1;
		memcpy(status, body, 4);
		break;
	}
	return head[1];
}

/* Is chan.fd still the socket we connected (the program may have closed it and reused the number)? */
static int chan_ours(void)
{
	struct stat st;

	return chan.fd >= 0 && fstat(chan.fd, &st) == 0 && st.st_dev == chan.dev && st.st_ino == chan.ino;
}

static void chan_drop(void)
{
	if (chan_ours())
		real_close(chan.fd);
	chan.fd = -1;
}

static int chan_valid(void)
{
	return chan.pid == getpid() && chan.euid == geteuid() && chan_ours();
}

/* Connect (or keep) the channel; 0 when requests may go to the daemon. */
static int chan_open(void)
{
	const char *path = getenv(ENV_SOCKET);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, high;

	if (chan_valid())
		return chan.foreign_netns ? -1 : 0;
	if (chan.pid == getpid())
		chan_drop();
	chan.fd = -1;
	if (!path || strlen(path) >= sizeof(addr.sun_path))
		return -1;
	strcpy(addr.sun_path, path);
	fd = real_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		real_close(fd);
		return -1;
	}
	/* Out of the way of programs that reuse low descriptor numbers. */
	high = real_fcntl(fd, F_DUPFD_CLOEXEC, 1000);
	if (high >= 0) {
		real_close(fd);
		fd = high;
	}
	forget(fd);
	fstat(fd, &st);
	chan.fd = fd;
	chan.pid = getpid();
	chan.euid = geteuid();
	chan.dev = st.st_dev;
	chan.ino = st.st_ino;
	chan.nfamilies = 0;
	if (read_frame(NULL) != WIRE_HELLO) {
		chan_drop();
		return -1;
	}
	return chan.foreign_netns ? -1 : 0;
}

/* Take in table updates the daemon pushed since the last request. */
static void chan_drain(void)
{
	uint32_t head[2];
	int32_t status;

	while (real_recv(chan.fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT) == sizeof(head)) {
		if (read_frame(&status) < 0) {
			chan_drop();
			return;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Which requests the simulation answers                                    */

static const struct family *owned_by_name(const char *name)
{
	int i;

	for (i = 0; i < chan.nfamilies; i++)
		if (!strcmp(chan.families[i].name, name))
			return &chan.families[i];
	return NULL;
}

static int owned_id(uint16_t id)
{
	int i;

	for (i = 0; i < chan.nfamilies; i++)
		if (chan.families[i].id && chan.families[i].id == id)
			return 1;
	return 0;
}

/* CTRL_CMD_GETFAMILY (not a dump) naming a family of the simulation, by name or by id. */
static int ctrl_for_daemon(const struct nlmsghdr *nlh)
{
	const struct genlmsghdr *genl = NLMSG_DATA(nlh);
	const unsigned char *p = (const unsigned char *)genl + GENL_HDRLEN;
	const unsigned char *end = (const unsigned char *)nlh + nlh->nlmsg_len;
	int by_id = 0, named = -1;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN || genl->cmd != CTRL_CMD_GETFAMILY ||
	    (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP)
		return 0;
	while (end - p >= NLA_HDRLEN) {
		const struct nlattr *nla = (const void *)p;
		int plen;

		if (nla->nla_len < NLA_HDRLEN || nla->nla_len > end - p)
			break;
		plen = nla->nla_len - NLA_HDRLEN;
		if ((nla->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID && plen >= 2) {
			uint16_t id;
			memcpy(&id, p + NLA_HDRLEN, 2);
			by_id = owned_id(id);
		} else if ((nla->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_NAME && plen > 0) {
			char name[GENL_NAMSIZ + 1] = "";
			memcpy(name, p + NLA_HDRLEN, plen < GENL_NAMSIZ ? plen : GENL_NAMSIZ);
			named = owned_by_name(name) != NULL;
		}
		p += NLA_ALIGN(nla->nla_len);
	}
	/* ctrl_getfamily() looks a name up after an id: the name decides. */
	return named >= 0 ? named : by_id;
}

static int for_daemon(const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type == GENL_ID_CTRL)
		return ctrl_for_daemon(nlh);
	return owned_id(nlh->nlmsg_type);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */

/* The socket's port id, binding it first as netlink_sendmsg() would (autobind). */
static uint32_t portid_of(int fd)
{
	struct sockaddr_nl nl = { 0 };
	socklen_t len = sizeof(nl);

	if (getsockname(fd, (struct sockaddr *)&nl, &len) || nl.nl_family != AF_NETLINK)
		return 0;
	if (!nl.nl_pid) {
		struct sockaddr_nl any = { .nl_family = AF_NETLINK };

		bind(fd, (struct sockaddr *)&any, sizeof(any));
		len = sizeof(nl);
		if (getsockname(fd, (struct sockaddr *)&nl, &len))
			return 0;
	}
	return nl.nl_pid;
}

/* One SEND to the daemon and its STATUS: what the daemon's netlink_sendmsg() returned. */
static ssize_t daemon_send(int fd, const void *buf, size_t len)
{
	unsigned char head[SEND_HDR];
	uint32_t v;
	int32_t status = -EIO;
	uint32_t portid = portid_of(fd);
	int kind;

	if (!portid)
		return -ENOTCONN;
	v = SEND_HDR + len;
	memcpy(head, &v, 4);
	v = WIRE_SEND;
	memcpy(head + 4, &v, 4);
	memcpy(head + 8, &fd, 4);
	memcpy(head + 12, &portid, 4);
	v = tracked(fd) ? fd_max_read[fd] : 0;
	memcpy(head + 16, &v, 4);
	if (write_full(chan.fd, head, sizeof(head)) || write_full(chan.fd, buf, len)) {
		chan_drop();
		return -EIO;
	}
	do
		kind = read_frame(&status);
	while (kind == WIRE_HELLO || kind == WIRE_FAMILIES);
	if (kind != WIRE_STATUS) {
		chan_drop();
		return -EIO;
	}
	return status;
}

/*
 * A send of `len` bytes on generic netlink socket `fd` to the kernel. Runs
 * of messages for the simulation go to the daemon, the rest through
 * `to_kernel`; a buffer with nothing for the daemon is sent as it came.
 * Returns -2 (no errno) when the caller should make the original call.
 */
#define PASS_THROUGH (-2)

static ssize_t route(int fd, const unsigned char *buf, size_t len, int flags)
{
	size_t off = 0, run_start = 0;
	int run_daemon = -1, any = 0;
	ssize_t r = PASS_THROUGH;

	pthread_mutex_lock(&chan_lock);
	if (chan_open())
		goto out;
	chan_drain();
	if (chan.fd < 0)
		goto out;

	/* First pass: is anything for the daemon? */
	while (len - off >= NLMSG_HDRLEN) {
		const struct nlmsghdr *nlh = (const void *)(buf + off);

		if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > len - off)
			break;
		if ((nlh->nlmsg_flags & NLM_F_REQUEST) && for_daemon(nlh))
			any = 1;
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	if (!any)
		goto out;

	/* Second pass: each run to its side, in order. */
	off = 0;
	while (off < len) {
		const struct nlmsghdr *nlh = (const void *)(buf + off);
		size_t step = len - off;
		int d = 0;

		if (len - off >= NLMSG_HDRLEN && nlh->nlmsg_len >= NLMSG_HDRLEN && nlh->nlmsg_len <= len - off) {
			d = (nlh->nlmsg_flags & NLM_F_REQUEST) && for_daemon(nlh);
			step = NLMSG_ALIGN(nlh->nlmsg_len);
			if (step > len - off)
				step = len - off;
		}
		if (run_daemon >= 0 && d != run_daemon) {
			ssize_t s = run_daemon ? daemon_send(fd, buf + run_start, off - run_start)
					       : real_sendto(fd, buf + run_start, off - run_start, flags, NULL, 0);
			if (s < 0) {
				r = run_daemon ? s : -errno;
				goto out;
			}
			run_start = off;
		}
		run_daemon = d;
		off += step;
	}
	if (run_daemon >= 0) {
		ssize_t s = run_daemon ? daemon_send(fd, buf + run_start, len - run_start)
				       : real_sendto(fd, buf + run_start, len - run_start, flags, NULL, 0);
		if (s < 0) {
			r = run_daemon ? s : -errno;
			goto out;
		}
	}
	r = len;
out:
	pthread_mutex_unlock(&chan_lock);
	return r;
}

/* Addressed to the kernel (no address, or nl_pid 0 and no groups)? */
static int to_kernel(const struct sockaddr *addr, socklen_t alen)
{
	const struct sockaddr_nl *nl = (const void *)addr;

	if (!addr)
		return 1;
	return alen >= sizeof(*nl) && nl->nl_family == AF_NETLINK && nl->nl_pid == 0 && nl->nl_groups == 0;
}

static ssize_t finish(ssize_t r)
{
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen)
{
	resolve();
	if (getenv(ENV_SOCKET) && to_kernel(addr, alen) && is_genl(fd)) {
		ssize_t r = route(fd, buf, len, flags);
		if (r != PASS_THROUGH)
			return finish(r);
	}
	return real_sendto(fd, buf, len, flags, addr, alen);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	resolve();
	if (getenv(ENV_SOCKET) && is_genl(fd)) {
		ssize_t r = route(fd, buf, len, flags);
		if (r != PASS_THROUGH)
			return finish(r);
	}
	return real_send(fd, buf, len, flags);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	resolve();
	/* Only sockets already known to be generic netlink: write() is everybody's hot path. */
	if (known_genl(fd) && getenv(ENV_SOCKET)) {
		ssize_t r = route(fd, buf, len, 0);
		if (r != PASS_THROUGH)
			return finish(r);
	}
	return real_write(fd, buf, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	resolve();
	if (getenv(ENV_SOCKET) && msg && to_kernel(msg->msg_name, msg->msg_namelen) && is_genl(fd)) {
		size_t len = 0, off = 0;
		unsigned char *buf;
		ssize_t r;
		size_t i;

		for (i = 0; i < msg->msg_iovlen; i++)
			len += msg->msg_iov[i].iov_len;
		buf = malloc(len ? len : 1);
		if (buf) {
			for (i = 0; i < msg->msg_iovlen; i++) {
				memcpy(buf + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
				off += msg->msg_iov[i].iov_len;
			}
			r = route(fd, buf, len, flags);
			free(buf);
			if (r != PASS_THROUGH)
				return finish(r);
		}
	}
	return real_sendmsg(fd, msg, flags);
}

/* ------------------------------------------------------------------------ */
/* Receiving: the daemon's answers come from port id 0, as the kernel's do   */

static void note_read(int fd, size_t len)
{
	if (known_genl(fd) && len > fd_max_read[fd])
		fd_max_read[fd] = len > UINT32_MAX ? UINT32_MAX : len;
}

static void as_from_kernel(int fd, void *name, socklen_t namelen)
{
	struct sockaddr_nl *nl = name;

	if (known_genl(fd) && daemon_portid && nl && namelen >= sizeof(*nl) && nl->nl_family == AF_NETLINK &&
	    nl->nl_pid == daemon_portid)
		nl->nl_pid = 0;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t r;

	resolve();
	if (known_genl(fd) && msg) {
		size_t len = 0, i;
		for (i = 0; i < msg->msg_iovlen; i++)
			len += msg->msg_iov[i].iov_len;
		note_read(fd, len);
	}
	r = real_recvmsg(fd, msg, flags);
	if (r >= 0 && msg)
		as_from_kernel(fd, msg->msg_name, msg->msg_namelen);
	return r;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
	ssize_t r;

	resolve();
	note_read(fd, len);
	r = real_recvfrom(fd, buf, len, flags, addr, alen);
	if (r >= 0 && addr && alen)
		as_from_kernel(fd, addr, *alen);
	return r;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	resolve();
	note_read(fd, len);
	return real_recv(fd, buf, len, flags);
}

ssize_t read(int fd, void *buf, size_t len)
{
	resolve();
	note_read(fd, len);
	return real_read(fd, buf, len);
}

/* ------------------------------------------------------------------------ */
/* Keeping track of descriptors                                             */

int socket(int domain, int type, int protocol)
{
	int fd;

	resolve();
	fd = real_socket(domain, type, protocol);
	if (tracked(fd)) {
		fd_state[fd] = domain == AF_NETLINK && protocol == NETLINK_GENERIC ? FD_GENL : FD_OTHER;
		fd_max_read[fd] = 0;
	}
	return fd;
}

int close(int fd)
{
	resolve();
	forget(fd);
	return real_close(fd);
}

int dup(int oldfd)
{
	int fd;

	resolve();
	fd = real_dup(oldfd);
	if (fd >= 0)
		inherit(fd, oldfd);
	return fd;
}

int dup2(int oldfd, int newfd)
{
	int fd;

	resolve();
	fd = real_dup2(oldfd, newfd);
	if (fd >= 0)
		inherit(fd, oldfd);
	return fd;
}

int dup3(int oldfd, int newfd, int flags)
{
	int fd;

	resolve();
	fd = real_dup3(oldfd, newfd, flags);
	if (fd >= 0)
		inherit(fd, oldfd);
	return fd;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	int r = real(fd, cmd, arg);

	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		inherit(r, fd);
	return r;
}

/* The third argument is an int or a pointer; both travel in a register on x86-64. */
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	resolve();
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(real_fcntl, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	resolve();
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(real_fcntl64 ? real_fcntl64 : real_fcntl, fd, cmd, arg);
}

int close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int fd;

	resolve();
	if (!(flags & 4 /* CLOSE_RANGE_CLOEXEC */))
		for (fd = first; fd <= last && fd < MAX_TRACKED; fd++)
			forget(fd);
	if (!real_close_range) {
		errno = ENOSYS;
		return -1;
	}
	return real_close_range(first, last, flags);
}
