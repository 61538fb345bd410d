/*
 * syncshim.c - an LD_PRELOAD library for tests that watches and holds
 * back a daemon's syncs (fsync, fdatasync, msync, sync_file_range).
 *
 *   VELLUM_SYNC_LOG=FILE   each sync that returned appends one line
 *                          "NAME main|thread\n" (O_APPEND: one write).
 *   VELLUM_SYNC_GATE=FILE  while FILE exists, a sync waits (polling every
 *                          2 ms) before it runs: the data it would make
 *                          durable is not durable yet.
 *   VELLUM_SYNC_GATE_THREADS=1  the gate holds only syncs made by a
 *                          thread other than the process's first one.
 *
 * So a test can hold every sync and see that no reply that promises
 * durability (SMTP 250) is sent meanwhile, and count the syncs a session
 * costs.  Nothing else changes: each call ends in the real function.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void	*next_fn(const char *);
static void	 gate(void);
static void	 note(const char *);

static void *
next_fn(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (fn == NULL) {
		fprintf(stderr, "syncshim: no %s\n", name);
		abort();
	}
	return fn;
}

static int
main_thread(void)
{
	return (pid_t)syscall(SYS_gettid) == getpid();
}

static void
gate(void)
{
	const char *path = getenv("VELLUM_SYNC_GATE");
	const char *threads = getenv("VELLUM_SYNC_GATE_THREADS");
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	struct stat sb;

	if (path == NULL || *path == '\0')
		return;
	if (threads != NULL && strcmp(threads, "1") == 0 && main_thread())
		return;
	while (stat(path, &sb) == 0)
		nanosleep(&ts, NULL);
}

static void
note(const char *name)
{
	const char *path = getenv("VELLUM_SYNC_LOG");
	char line[64];
	int fd, n;

	if (path == NULL || *path == '\0')
		return;
	n = snprintf(line, sizeof(line), "%s %s\n", name,
	    main_thread() ? "main" : "thread");
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return;
	if (write(fd, line, (size_t)n) != n)
		perror("syncshim: log");
	close(fd);
}

int
fsync(int fd)
{
	static int (*real)(int);
	int r;

	if (real == NULL)
		real = (int (*)(int))next_fn("fsync");
	gate();
	r = real(fd);
	note("fsync");
	return r;
}

int
fdatasync(int fd)
{
	static int (*real)(int);
	int r;

	if (real == NULL)
		real = (int (*)(int))next_fn("fdatasync");
	gate();
	r = real(fd);
	note("fdatasync");
	return r;
}

int
msync(void *addr, size_t len, int flags)
{
	static int (*real)(void *, size_t, int);
	int r;

	if (real == NULL)
		real = (int (*)(void *, size_t, int))next_fn("msync");
	gate();
	r = real(addr, len, flags);
	note("msync");
	return r;
}

int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	static int (*real)(int, off64_t, off64_t, unsigned int);
	int r;

	if (real == NULL)
		real = (int (*)(int, off64_t, off64_t, unsigned int))
		    next_fn("sync_file_range");
	gate();
	r = real(fd, off, n, flags);
	note("sync_file_range");
	return r;
}
