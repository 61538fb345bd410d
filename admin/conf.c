/*
 * conf.c - the little of vellum.conf that vellumctl needs: data_dir and
 * [quota] grace_days.  Lines are "key = value", "# comment" (also after a
 * value) and "[section]".  Other keys are left to the daemons' full
 * configuration module; malformed lines are reported as file:line, all of
 * them, and make the read fail.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

#include "ctl.h"

static char	*conf_trim(char *s);

static char *
conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
conf_read(const char *path, char **data_dir_r, int *grace_days_r)
{
	FILE *fp;
	char *line = NULL, *p, *key, *val, *hash, section[64] = "";
	size_t cap = 0;
	unsigned lineno = 0, errors = 0;
	long v;
	char *end;

	*data_dir_r = NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "vellumctl: cannot read %s: %s (give the "
		    "path of vellum.conf, or -d DATA_DIR)\n", path,
		    strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) >= 0) {
		lineno++;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		p = conf_trim(line);
		if (*p == '\0')
			continue;
		if (*p == '[') {
			if (p[strlen(p) - 1] != ']' || strlen(p) < 3 ||
			    strlen(p) - 2 >= sizeof(section)) {
				fprintf(stderr, "%s:%u: a section line reads "
				    "[name]\n", path, lineno);
				errors++;
				continue;
			}
			p[strlen(p) - 1] = '\0';
			snprintf(section, sizeof(section), "%s",
			    conf_trim(p + 1));
			continue;
		}
		if ((val = strchr(p, '=')) == NULL) {
			fprintf(stderr, "%s:%u: expected \"key = value\"\n",
			    path, lineno);
			errors++;
			continue;
		}
		*val++ = '\0';
		key = conf_trim(p);
		val = conf_trim(val);
		if (*key == '\0') {
			fprintf(stderr, "%s:%u: a value without a key\n",
			    path, lineno);
			errors++;
		} else if (section[0] == '\0' &&
		    strcmp(key, "data_dir") == 0) {
			if (*val == '\0') {
				fprintf(stderr, "%s:%u: data_dir is empty\n",
				    path, lineno);
				errors++;
				continue;
			}
			free(*data_dir_r);
			*data_dir_r = xstrdup(val);
		} else if (strcmp(section, "quota") == 0 &&
		    strcmp(key, "grace_days") == 0) {
			errno = 0;
			v = strtol(val, &end, 10);
			if (errno != 0 || end == val || *end != '\0' ||
			    v < 0 || v > 36500) {
				fprintf(stderr, "%s:%u: grace_days must be a "
				    "number of days (0-36500)\n", path,
				    lineno);
				errors++;
				continue;
			}
			*grace_days_r = (int)v;
		}
	}
	free(line);
	fclose(fp);
	if (errors > 0) {
		fprintf(stderr, "vellumctl: %s: %u error%s (fix the lines "
		    "above)\n", path, errors, errors == 1 ? "" : "s");
		free(*data_dir_r);
		*data_dir_r = NULL;
		return -1;
	}
	return 0;
}
