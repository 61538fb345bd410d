/* size.c - see size.h */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "size.h"

static const char units[] = "KMGTP";

int
size_parse(const char *text, uint64_t *bytes_r)
{
	const char *p = text;
	char *end;
	unsigned long long v;
	uint64_t mult = 1;
	int i;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return err_set(ERR_INVALID, "'%s' is not a size: write a "
		    "number with an optional K, M, G or T suffix, e.g. 500M",
		    text);
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno != 0)
		return err_set(ERR_INVALID, "size '%s' is too large", text);
	if (*end != '\0') {
		for (i = 0; units[i] != '\0'; i++) {
			mult *= 1024;
			if (toupper((unsigned char)*end) == units[i])
				break;
		}
		if (units[i] == '\0')
			return err_set(ERR_INVALID, "'%s': unknown size "
			    "suffix '%c' (use K, M, G or T)", text, *end);
		end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
		while (isspace((unsigned char)*end))
			end++;
		if (*end != '\0')
			return err_set(ERR_INVALID, "'%s' is not a size: "
			    "unexpected '%s'", text, end);
	}
	if (v != 0 && mult > UINT64_MAX / v)
		return err_set(ERR_INVALID, "size '%s' is too large", text);
	*bytes_r = v * mult;
	return 0;
}

char *
size_format(uint64_t bytes, char *buf, size_t bufsize)
{
	uint64_t unit = 1;
	int i = -1;

	while (i + 1 < (int)sizeof(units) - 1 && bytes >= unit * 1024) {
		unit *= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, bufsize, "%" PRIu64, bytes);
	else if (bytes % unit == 0)
		snprintf(buf, bufsize, "%" PRIu64 "%c", bytes / unit,
		    units[i]);
	else
		snprintf(buf, bufsize, "%.1f%c", (double)bytes / (double)unit,
		    units[i]);
	return buf;
}
