/*
 * cmd_map.c - what the import and export verbs of the Postfix map
 * commands (bcc, acl) share: reading the file, the notes and errors of an
 * import, and where an export goes.  The parsing and the lines written
 * stay with each command: each map has its own entries.  addr import
 * reads its map a line at a time but gives the same duplicate note.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"

#include "ctl.h"

#define MAP_FILE_MAX	(64 * 1024 * 1024)	/* an import's text */

char *
cmd_map_slurp(const char *path, size_t *len_r)
{
	FILE *fp = stdin;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (strcmp(path, "-") != 0 && (fp = fopen(path, "r")) == NULL) {
		ctl_failx("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		n = fread(buf + len, 1, cap - len - 1, fp);
		len += n;
		if (n == 0 || len > MAP_FILE_MAX)
			break;
	}
	if (ferror(fp) || len > MAP_FILE_MAX) {
		ctl_failx("cannot read %s: %s", path, ferror(fp) ?
		    strerror(errno) : "larger than 64 MB");
		if (fp != stdin)
			fclose(fp);
		free(buf);
		return NULL;
	}
	if (fp != stdin)
		fclose(fp);
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

int
cmd_map_bad(struct ctl *ctl, const char *path)
{
	/* a map parser's err_msg() starts with the line number */
	fprintf(stderr, "%s:%s\n", path, err_msg());
	return ctl_failx("%s import %s: nothing imported (fix the line "
	    "above)", ctl->noun, path);
}

void
cmd_map_dup(const char *path, unsigned lineno, const char *key,
    unsigned dup_of)
{
	fprintf(stderr, "%s:%u: skipped: duplicate entry %s (line %u is the "
	    "one Postfix uses)\n", path, lineno, key, dup_of);
}

FILE *
cmd_map_open(const char *path)
{
	FILE *fp;

	if (strcmp(path, "-") == 0)
		return stdout;
	if ((fp = fopen(path, "w")) == NULL)
		ctl_failx("cannot write %s: %s", path, strerror(errno));
	return fp;
}

int
cmd_map_close(struct ctl *ctl, FILE *fp, const char *path, size_t lines,
    const char *what)
{
	if (fp == stdout) {
		if (fflush(stdout) != 0)
			return ctl_failx("cannot write the %s: %s", what,
			    strerror(errno));
		return CTL_OK;
	}
	if (fclose(fp) != 0)
		return ctl_failx("cannot write %s: %s", path, strerror(errno));
	if (ctl->json)
		ctl_done(ctl, "%s export: %zu lines written to %s", ctl->noun,
		    lines, path);
	else
		fprintf(stderr, "%s export: %zu lines written to %s\n",
		    ctl->noun, lines, path);
	return CTL_OK;
}
