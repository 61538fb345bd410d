/*
 * imapdate.c - RFC 5322 dates for imapmsg.h (the SORT key, SEARCH
 * SENTBEFORE/SENTON/SENTSINCE).  Accepts the obsolete forms: no day name,
 * two- and three-digit years, named and military zones, missing seconds,
 * comments, '-' between the date fields.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "imapmsg.h"

struct dlex {
	const char	*s, *e;
};

static void	dl_skip(struct dlex *);
static int	dl_num(struct dlex *, int, int, int *);
static int	dl_word(struct dlex *, const char **, size_t *);

/* Skips white space, commas, dashes and comments. */
static void
dl_skip(struct dlex *l)
{
	int depth;

	while (l->s < l->e) {
		if (*l->s == ' ' || *l->s == '\t' || *l->s == '\r' ||
		    *l->s == '\n' || *l->s == ',') {
			l->s++;
			continue;
		}
		if (*l->s != '(')
			return;
		for (depth = 0; l->s < l->e; l->s++) {
			if (*l->s == '\\' && l->s + 1 < l->e)
				l->s++;
			else if (*l->s == '(')
				depth++;
			else if (*l->s == ')' && --depth == 0) {
				l->s++;
				break;
			}
		}
	}
}

/* min..max digits as a number. */
static int
dl_num(struct dlex *l, int min, int max, int *v_r)
{
	int n = 0, v = 0;

	while (l->s < l->e && *l->s >= '0' && *l->s <= '9' && n < max) {
		v = v * 10 + (*l->s - '0');
		l->s++;
		n++;
	}
	if (n < min || (l->s < l->e && *l->s >= '0' && *l->s <= '9'))
		return 0;
	*v_r = v;
	return 1;
}

static int
dl_word(struct dlex *l, const char **w_r, size_t *n_r)
{
	const char *start = l->s;

	while (l->s < l->e && ((*l->s >= 'a' && *l->s <= 'z') ||
	    (*l->s >= 'A' && *l->s <= 'Z')))
		l->s++;
	*w_r = start;
	*n_r = (size_t)(l->s - start);
	return *n_r > 0;
}

int
imap_date_month(const char *s)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int i;

	for (i = 0; i < 12; i++)
		if (strncasecmp(s, months + 3 * i, 3) == 0)
			return i;
	return -1;
}

int64_t
imap_date_days(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
imap_date_parse(const char *s, size_t len, int64_t *utc_r, int *tz_r)
{
	static const struct {
		const char	*name;
		int		 min;
	} zones[] = {
		{ "ut", 0 }, { "gmt", 0 }, { "utc", 0 }, { "z", 0 },
		{ "edt", -4 * 60 }, { "est", -5 * 60 }, { "cdt", -5 * 60 },
		{ "cst", -6 * 60 }, { "mdt", -6 * 60 }, { "mst", -7 * 60 },
		{ "pdt", -7 * 60 }, { "pst", -8 * 60 },
	};
	struct dlex l = { s, s + len };
	const char *w, *ys;
	size_t wn, i;
	int day, mon = -1, year, hh, mm, ss = 0, tz = 0, sign, z;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	dl_skip(&l);
	/* an optional day name */
	if (dl_word(&l, &w, &wn))
		dl_skip(&l);
	if (!dl_num(&l, 1, 2, &day))
		return 0;
	dl_skip(&l);
	while (l.s < l.e && *l.s == '-')
		l.s++;
	if (!dl_word(&l, &w, &wn) || wn < 3)
		return 0;
	if ((mon = imap_date_month(w)) < 0)
		return 0;
	while (l.s < l.e && *l.s == '-')
		l.s++;
	dl_skip(&l);
	ys = l.s;
	if (!dl_num(&l, 2, 4, &year))
		return 0;
	if (l.s - ys == 2)
		year += year < 50 ? 2000 : 1900;
	else if (l.s - ys == 3)
		year += 1900;
	dl_skip(&l);
	if (!dl_num(&l, 1, 2, &hh) || l.s >= l.e || *l.s != ':')
		return 0;
	l.s++;
	if (!dl_num(&l, 2, 2, &mm))
		return 0;
	if (l.s < l.e && *l.s == ':') {
		l.s++;
		if (!dl_num(&l, 2, 2, &ss))
			return 0;
	}
	dl_skip(&l);
	if (l.s < l.e && (*l.s == '+' || *l.s == '-')) {
		sign = *l.s == '-' ? -1 : 1;
		l.s++;
		if (!dl_num(&l, 4, 4, &z) || z % 100 >= 60)
			return 0;
		tz = sign * ((z / 100) * 60 + z % 100);
	} else if (dl_word(&l, &w, &wn)) {
		for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
			if (strlen(zones[i].name) == wn &&
			    strncasecmp(w, zones[i].name, wn) == 0)
				tz = zones[i].min;
		/* military and unknown zones: -0000, per RFC 5322 */
	}
	if (day < 1 || day > mdays[mon] || hh > 23 || mm > 59 || ss > 60)
		return 0;
	*utc_r = imap_date_days(year, (unsigned)mon + 1, (unsigned)day) *
	    86400 + hh * 3600 + mm * 60 + ss - (int64_t)tz * 60;
	if (tz_r != NULL)
		*tz_r = tz;
	return 1;
}
