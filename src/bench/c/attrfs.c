/*
 * The C baseline for the attribute cycle: a libfuse 2 (high-level API) file
 * system serving the one path the benchmark reads,
 * /sys/devices/vdpa0/driver_override = "(null)\n", with the settings that
 * keep a FUSE file system never stale without invalidation: entry, negative
 * and attribute timeouts of 0, and direct I/O. libfuse's default
 * multi-threaded loop.
 *
 *   attrfs MOUNTPOINT      (foreground; unmounts on SIGTERM/SIGINT)
 */
#define FUSE_USE_VERSION 26
#include <errno.h>
#include <fuse.h>
#include <string.h>
#include <sys/stat.h>

static const char *FILE_PATH = "/sys/devices/vdpa0/driver_override";
static const char CONTENT[] = "(null)\n";

static int is_dir(const char *p)
{
	return !strcmp(p, "/") || !strcmp(p, "/sys") || !strcmp(p, "/sys/devices") || !strcmp(p, "/sys/devices/vdpa0");
}

static int attrfs_getattr(const char *p, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	if (is_dir(p)) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (!strcmp(p, FILE_PATH)) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = 4096;
		return 0;
	}
	return -ENOENT;
}

static int attrfs_open(const char *p, struct fuse_file_info *fi)
{
	if (strcmp(p, FILE_PATH))
		return -ENOENT;
	fi->direct_io = 1;
	return 0;
}

static int attrfs_read(const char *p, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)p;
	(void)fi;
	if (off >= (off_t)sizeof(CONTENT) - 1)
		return 0;
	size_t n = sizeof(CONTENT) - 1 - off;
	if (n > size)
		n = size;
	memcpy(buf, CONTENT + off, n);
	return n;
}

static struct fuse_operations ops = {
	.getattr = attrfs_getattr,
	.open = attrfs_open,
	.read = attrfs_read,
};

int main(int argc, char **argv)
{
	return fuse_main(argc, argv, &ops, NULL);
}
