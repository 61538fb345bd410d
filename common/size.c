/*
 * size.c - see size.h.
 *
 * The number is read digit by digit, with its fraction as an integer
 * numerator over a power of ten, so that "1.5G" is exact without
 * floating point: whole * unit + fraction * unit / 10^digits, rounded
 * down to a whole byte.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "size.h"

/* Digits of a fraction that count ("1.0000000000009G" is 1G). */
#define SIZE_FRACTION_DIGITS	12

static const char units[] = "KMGTP";

static int	size_bad(const char *text);

static int
size_bad(const char *text)
{
	return err_set(ERR_INVALID, "'%s' is not a size: write a number "
	    "with an optional K, M, G or T (powers of 1024, an optional B "
	    "or iB after it), e.g. 500M, 1.5G or 64KiB", text);
}

int
size_parse(const char *text, uint64_t *bytes_r)
{
	const char *p = text;
	uint64_t whole = 0, frac = 0, scale = 1, mult = 1, v;
	int i, ndigits = 0, fdigits = 0;

	while (isspace((unsigned char)*p))
		p++;
	for (; isdigit((unsigned char)*p); p++, ndigits++) {
		if (whole > UINT64_MAX / 10 ||
		    whole * 10 > UINT64_MAX - (uint64_t)(*p - '0'))
			return err_set(ERR_INVALID, "size '%s' is too large",
			    text);
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (ndigits == 0)
		return size_bad(text);
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, fdigits++) {
			if (fdigits >= SIZE_FRACTION_DIGITS)
				continue;
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
		if (fdigits == 0)
			return size_bad(text);
	}
	if (*p != '\0') {
		for (i = 0; units[i] != '\0'; i++) {
			mult *= 1024;
			if (toupper((unsigned char)*p) == units[i])
				break;
		}
		if (units[i] == '\0')
			return err_set(ERR_INVALID, "'%s': unknown size "
			    "suffix '%c' (use K, M, G or T)", text, *p);
		p++;
		if (toupper((unsigned char)*p) == 'I' &&
		    toupper((unsigned char)p[1]) == 'B')
			p += 2;
		else if (toupper((unsigned char)*p) == 'B')
			p++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			return err_set(ERR_INVALID, "'%s' is not a size: "
			    "unexpected '%s'", text, p);
	}
	if (fdigits > 0 && mult == 1)
		return err_set(ERR_INVALID, "'%s': a size in bytes is a whole "
		    "number (a fraction needs K, M, G or T after it)", text);
	if (whole != 0 && mult > UINT64_MAX / whole)
		return err_set(ERR_INVALID, "size '%s' is too large", text);
	v = whole * mult;
	if (frac != 0) {
		unsigned __int128 add = (unsigned __int128)frac * mult / scale;

		if (add > UINT64_MAX - v)
			return err_set(ERR_INVALID, "size '%s' is too large",
			    text);
		v += (uint64_t)add;
	}
	/* "0.0001K" is not 0, which means "no limit" to a quota. */
	if (v == 0 && frac != 0)
		return err_set(ERR_INVALID, "size '%s' is less than one byte",
		    text);
	*bytes_r = v;
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

char *
size_format_exact(uint64_t bytes, char *buf, size_t bufsize)
{
	uint64_t unit = 1;
	int i = -1;

	while (i + 1 < (int)sizeof(units) - 1 && bytes != 0 &&
	    bytes % (unit * 1024) == 0) {
		unit *= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, bufsize, "%" PRIu64, bytes);
	else
		snprintf(buf, bufsize, "%" PRIu64 "%c", bytes / unit,
		    units[i]);
	return buf;
}

int
duration_parse(const char *text, uint64_t *secs_r)
{
	const char *p = text;
	uint64_t n = 0, mult = 1;

	if (!isdigit((unsigned char)*p))
		goto bad;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - 9) / 10)
			goto bad;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0') {
		switch (*p) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: goto bad;
		}
		if (p[1] != '\0' || n > UINT32_MAX)
			goto bad;
	}
	*secs_r = n * mult;
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not a time: write seconds, or "
	    "a number with s, m, h or d after it (90s, 30m, 4h, 5d)", text);
}

char *
duration_format(uint64_t secs, char *buf, size_t bufsize)
{
	if (secs != 0 && secs % 86400 == 0)
		snprintf(buf, bufsize, "%" PRIu64 "d", secs / 86400);
	else if (secs != 0 && secs % 3600 == 0)
		snprintf(buf, bufsize, "%" PRIu64 "h", secs / 3600);
	else if (secs != 0 && secs % 60 == 0)
		snprintf(buf, bufsize, "%" PRIu64 "m", secs / 60);
	else if (secs != 0)
		snprintf(buf, bufsize, "%" PRIu64 "s", secs);
	else
		snprintf(buf, bufsize, "0");
	return buf;
}
