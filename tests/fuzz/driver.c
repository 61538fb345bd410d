/*
 * driver.c - main() for the fuzz harnesses when not built with libFuzzer:
 * runs LLVMFuzzerTestOneInput() over every file given on the command
 * line or found (recursively) under a directory given there.
 *
 * Exit status: 0 when every input ran, 77 (skipped, for meson) when no
 * input was found because a named path does not exist (the shared
 * corpus is absent), 1 on a usage or read error.  A broken property
 * aborts; the SIGABRT handler names the input first.
 */
#ifndef VELLUM_LIBFUZZER

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

static void	driver_on_abort(int);
static int	driver_path(const char *);
static int	driver_file(const char *);

static char	driver_current[4096];
static size_t	driver_files, driver_bytes;

static void
driver_on_abort(int sig)
{
	static const char pre[] = "fuzz driver: failing input: ";

	(void)!write(2, pre, sizeof(pre) - 1);
	(void)!write(2, driver_current, strlen(driver_current));
	(void)!write(2, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
driver_file(const char *path)
{
	FILE *f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, got;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "fuzz driver: %s: cannot open\n", path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			if ((buf = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "fuzz driver: out of memory\n");
				exit(1);
			}
		}
		if ((got = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += got;
	}
	fclose(f);
	snprintf(driver_current, sizeof(driver_current), "%s", path);
	/* An exact-size copy, so that reads past the end are caught. */
	{
		uint8_t *exact = malloc(len > 0 ? len : 1);

		if (exact == NULL) {
			fprintf(stderr, "fuzz driver: out of memory\n");
			exit(1);
		}
		if (len > 0)
			memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	driver_files++;
	driver_bytes += len;
	return 0;
}

static int
driver_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	char sub[4096];
	DIR *d;
	int rc = 0;

	if (stat(path, &st) != 0)
		return 1;
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? driver_file(path) : 0;
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "fuzz driver: %s: cannot open\n", path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (driver_path(sub) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	int i, rc, missing = 0, errors = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s file-or-dir...\n", argv[0]);
		return 1;
	}
	signal(SIGABRT, driver_on_abort);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i < argc; i++) {
		rc = driver_path(argv[i]);
		if (rc > 0) {
			fprintf(stderr, "fuzz driver: %s: absent\n", argv[i]);
			missing++;
		} else if (rc < 0)
			errors++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%zu inputs, %zu bytes in %.2f s\n", driver_files,
	    driver_bytes, (double)(t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (errors > 0)
		return 1;
	if (driver_files == 0 && missing > 0)
		return 77;
	return 0;
}

#else
typedef int fuzz_driver_unused;
#endif
