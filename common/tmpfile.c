/* tmpfile.c - see tmpfile.h */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tmpfile.h"

int
tmpfile_open(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd = -1;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
	if (fd == -1 && (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	    name) < sizeof(path) && (fd = mkostemp(path, O_CLOEXEC)) != -1)
		unlink(path);
	return fd;
}
