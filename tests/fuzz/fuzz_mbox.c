/*
 * fuzz_mbox.c - whatever mbox_next() splits must survive mbox_format()
 * and a second split byte for byte, and any input taken as one message
 * must survive a format/split round trip; mbox_status_strip() leaves no
 * flag lines.
 */
#include <string.h>

#include "mail/mbox.h"

#include "fuzz.h"

struct fmsg {
	char	*p;
	size_t	 len;
	time_t	 date;
};

static size_t	fuzz_split(const char *, size_t, struct fmsg **);
static void	fuzz_free(struct fmsg *, size_t);

/* Splits buf; returns the number of messages (0 when not an mbox). */
static size_t
fuzz_split(const char *buf, size_t len, struct fmsg **r)
{
	struct mbox_msg m;
	struct fmsg *v = NULL;
	size_t off = 0, prev, n = 0;
	int rc;

	for (;;) {
		prev = off;
		if ((rc = mbox_next(buf, len, &off, &m)) != 1)
			break;
		FUZZ_CHECK(off > prev && off <= len, "mbox_next moved from "
		    "%zu to %zu of %zu", prev, off, len);
		FUZZ_CHECK(m.raw >= buf && m.raw + m.raw_len <= buf + len &&
		    m.envelope >= buf && m.envelope + m.envelope_len <= buf +
		    len, "message %zu outside the buffer", n);
		FUZZ_CHECK(strlen(m.sender) <= MBOX_SENDER_MAX, "sender");
		v = realloc(v, (n + 1) * sizeof(*v));
		FUZZ_CHECK(v != NULL, "out of memory");
		v[n].p = mbox_msg_dup(&m, &v[n].len);
		FUZZ_CHECK(v[n].len <= m.raw_len, "unescaped %zu > raw %zu",
		    v[n].len, m.raw_len);
		v[n].date = m.date;
		n++;
	}
	FUZZ_CHECK(rc == 0 || (rc == -1 && n == 0), "mbox_next returned %d "
	    "after %zu messages", rc, n);
	*r = v;
	return n;
}

static void
fuzz_free(struct fmsg *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].p);
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct fmsg *v, *w;
	char *all = NULL, *one;
	size_t n, m, i, alllen = 0, olen;

	/* The input as one message. */
	one = mbox_format("fuzz@example.org", 1031269358, buf, size, &olen);
	m = fuzz_split(one, olen, &w);
	FUZZ_CHECK(m == 1 && w[0].len == size && memcmp(w[0].p, buf,
	    size) == 0 && w[0].date == 1031269358, "the input as one message "
	    "came back as %zu messages, the first of %zu bytes (not %zu)", m,
	    m > 0 ? w[0].len : 0, size);
	fuzz_free(w, m);
	free(one);

	/* Status lines: stripped, they give no flags; stripping twice is
	 * stripping once; the body is untouched. */
	one = malloc(size + 1);
	FUZZ_CHECK(one != NULL, "out of memory");
	if (size > 0)
		memcpy(one, buf, size);
	olen = mbox_status_strip(one, size);
	FUZZ_CHECK(olen <= size && mbox_status_flags(one, olen) == 0 &&
	    mbox_status_strip(one, olen) == olen, "mbox_status_strip: %zu of "
	    "%zu bytes left, flags %#x", olen, size,
	    mbox_status_flags(one, olen));
	free(one);

	/* The input as an mbox: split, format each, split again. */
	n = fuzz_split(buf, size, &v);
	for (i = 0; i < n; i++) {
		one = mbox_format(NULL, v[i].date, v[i].p, v[i].len, &olen);
		all = realloc(all, alllen + olen);
		FUZZ_CHECK(all != NULL, "out of memory");
		memcpy(all + alllen, one, olen);
		alllen += olen;
		free(one);
	}
	/* (all is NULL when nothing was split: mbox_next() wants a buffer.) */
	m = all != NULL ? fuzz_split(all, alllen, &w) : 0;
	if (all == NULL)
		w = NULL;
	FUZZ_CHECK(m == n, "%zu messages split, %zu after a round trip", n,
	    m);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(w[i].len == v[i].len && memcmp(w[i].p, v[i].p,
		    v[i].len) == 0 && w[i].date == v[i].date, "message %zu: "
		    "%zu bytes, %zu after a round trip (date %lld, %lld)", i,
		    v[i].len, w[i].len, (long long)v[i].date,
		    (long long)w[i].date);
	fuzz_free(v, n);
	fuzz_free(w, m);
	free(all);
	return 0;
}
