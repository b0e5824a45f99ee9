/*
 * The attribute cycle: what a tool reading one sysfs attribute does, in a
 * loop -- stat(), open(), read() 16 bytes, close() -- for SECONDS seconds.
 * Prints the number of cycles per second. Used by npm run bench against the
 * daemon, the minimal server on vdpafs's transport and a C libfuse file
 * system serving the same path.
 *
 *   attr_cycle PATH SECONDS
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: attr_cycle PATH SECONDS\n");
		return 2;
	}
	const char *path = argv[1];
	double seconds = atof(argv[2]);
	char buf[16];
	struct stat st;
	long cycles = 0;
	double start = now(), end = start + seconds, t = start;

	while (t < end) {
		/* Check the clock every 64 cycles: clock_gettime is not free either. */
		for (int i = 0; i < 64; i++) {
			if (stat(path, &st) < 0) { perror("stat"); return 1; }
			int fd = open(path, O_RDONLY);
			if (fd < 0) { perror("open"); return 1; }
			if (read(fd, buf, sizeof(buf)) < 0) { perror("read"); return 1; }
			close(fd);
		}
		cycles += 64;
		t = now();
	}
	printf("%.0f\n", cycles / (t - start));
	return 0;
}
