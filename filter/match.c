/*
 * match.c - patterns (PCRE2) against the message and against text.
 *
 * The message is seen as lines without their line ends (CRLF or LF): the
 * header lines, folded ones unfolded (the line break goes, the leading
 * white space of the continuation stays), up to the first empty line,
 * then the body lines.  The index is built on the first pattern and
 * rebuilt after an xfilter replaced the message.
 *
 * A pattern is compiled twice: in UTF mode (when its text is valid UTF-8)
 * for the subjects that are valid UTF-8, and byte-wise for the others, so
 * that a Latin-1 line neither fails the match nor reaches PCRE2's UTF mode
 * unchecked.  A pattern whose text is a constant keeps its compiled form
 * in node->cache (set once with an atomic compare-and-swap: programs are
 * shared by the worker threads); others are compiled at each evaluation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "filter/evalpriv.h"
#include "mail/utf7.h"

struct fe_rx {
	pcre2_code	*byte;
	pcre2_code	*utf;	/* NULL: the pattern is not UTF-8 */
	uint32_t	 ncap;
};

/* One match found by foreach. */
struct hit {
	char	*p;
	size_t	 len;
};

static struct fe_rx	*rx_compile(const char *, size_t, int caseless,
			    char *err, size_t errsize);
static struct fe_rx	*rx_get(struct fe_state *, const struct filter_node *,
			    int *owned);
static int	rx_exec(struct fe_state *, const struct filter_node *,
		    const struct fe_rx *, const char *, size_t, int utf8,
		    size_t start);
static int	set_matches(struct fe_state *, const struct filter_node *,
		    const struct fe_rx *, const char *, int rc);
static void	lines_range(struct fe_state *, unsigned, size_t *, size_t *);
static size_t	header_len(const char *, size_t);
static int	collect(struct fe_state *, const struct filter_node *,
		    const struct fe_rx *, const char *, size_t, int utf8,
		    int all, struct hit **, size_t *, size_t *);
static size_t	after_match(const struct fe_rx *, const char *, size_t,
		    int utf8, const PCRE2_SIZE *);

void
fe_rx_free(void *p)
{
	struct fe_rx *rx = p;

	if (rx == NULL)
		return;
	pcre2_code_free(rx->byte);
	pcre2_code_free(rx->utf);
	free(rx);
}

static struct fe_rx *
rx_compile(const char *re, size_t len, int caseless, char *err,
    size_t errsize)
{
	struct fe_rx *rx;
	uint32_t opts = caseless ? PCRE2_CASELESS : 0;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	rx = xcalloc(1, sizeof(*rx));
	rx->byte = pcre2_compile((PCRE2_SPTR)re, len, opts, &code, &off,
	    NULL);
	if (rx->byte == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errsize, "bad pattern /%.*s/: %s at offset %zu",
		    len > 200 ? 200 : (int)len, re, (char *)msg, (size_t)off);
		free(rx);
		return NULL;
	}
	if (utf8_valid(re, len))
		rx->utf = pcre2_compile((PCRE2_SPTR)re, len,
		    opts | PCRE2_UTF, &code, &off, NULL);
	pcre2_pattern_info(rx->byte, PCRE2_INFO_CAPTURECOUNT, &rx->ncap);
	if (rx->ncap > FE_OVEC_PAIRS - 1)
		rx->ncap = FE_OVEC_PAIRS - 1;
	return rx;
}

/* The compiled form of pattern node n (owned: free it after use). */
static struct fe_rx *
rx_get(struct fe_state *st, const struct filter_node *n, int *owned)
{
	struct filter_node *pn = (struct filter_node *)n;
	struct fe_rx *rx, *expected = NULL;
	struct fe_val re;
	char err[512];
	int caseless = !(n->pat_flags & FILTER_PAT_CASE);

	*owned = 0;
	rx = __atomic_load_n(&pn->cache, __ATOMIC_ACQUIRE);
	if (rx != NULL)
		return rx;
	if (fe_expr(st, n->kids[0], &re) == -1)
		return NULL;
	rx = rx_compile(re.p, re.len, caseless, err, sizeof(err));
	fe_val_free(&re);
	if (rx == NULL) {
		fe_error(st, n, "%s", err);
		return NULL;
	}
	if (n->kids[0]->kind != FK_TEXT || st->prog == NULL) {
		*owned = 1;
		return rx;
	}
	/* A constant pattern: keep it in the node for the next runs. */
	__atomic_store_n(&st->prog->cache_free, fe_rx_free,
	    __ATOMIC_RELEASE);
	if (!__atomic_compare_exchange_n(&pn->cache, (void **)&expected, rx,
	    0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		fe_rx_free(rx);
		rx = expected;
	}
	return rx;
}

/* pcre2_match(): >= 0 matched, 0 no match... as PCRE2; -1 error set. */
static int
rx_exec(struct fe_state *st, const struct filter_node *n,
    const struct fe_rx *rx, const char *s, size_t len, int utf8,
    size_t start)
{
	PCRE2_UCHAR msg[256];
	int rc;

	if (utf8 && rx->utf != NULL)
		rc = pcre2_match(rx->utf, (PCRE2_SPTR)s, len, start,
		    PCRE2_NO_UTF_CHECK, st->md, st->mctx);
	else
		rc = pcre2_match(rx->byte, (PCRE2_SPTR)s, len, start, 0,
		    st->md, st->mctx);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0) {
		pcre2_get_error_message(rc, msg, sizeof(msg));
		return fe_error(st, n, "pattern: %s", (char *)msg);
	}
	return 1;
}

/* MATCH and MATCH1..n from the last match of s. */
static int
set_matches(struct fe_state *st, const struct filter_node *n,
    const struct fe_rx *rx, const char *s, int subpatterns)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
	uint32_t pairs = pcre2_get_ovector_count(st->md);
	char name[32];
	uint32_t i;

	if (fe_var_set(st, n, "MATCH", s + ov[0], ov[1] - ov[0]) == -1)
		return -1;
	if (!subpatterns)
		return 0;
	for (i = 1; i <= rx->ncap; i++) {
		snprintf(name, sizeof(name), "MATCH%u", (unsigned)i);
		if (i < pairs && ov[2 * i] != PCRE2_UNSET) {
			if (fe_var_set(st, n, name, s + ov[2 * i],
			    ov[2 * i + 1] - ov[2 * i]) == -1)
				return -1;
		} else if (fe_var_set(st, n, name, "", 0) == -1)
			return -1;
	}
	return 0;
}

void
fe_msg_clear(struct fe_msg *m)
{
	free(m->hbuf);
	free(m->lines);
	m->hbuf = NULL;
	m->lines = NULL;
	m->nhdr = m->nbody = 0;
	m->indexed = 0;
}

void
fe_msg_set(struct fe_state *st, const char *p, size_t len)
{
	fe_msg_clear(&st->msg);
	st->msg.p = p != NULL ? p : "";
	st->msg.len = p != NULL ? len : 0;
}

/* The length of the header: up to the first empty line (or all). */
static size_t
header_len(const char *p, size_t len)
{
	const char *s = p, *end = p + len, *nl;

	while (s < end) {
		if (*s == '\n' || (*s == '\r' && s + 1 < end && s[1] == '\n'))
			return (size_t)(s - p);
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			break;
		s = nl + 1;
	}
	return len;
}

int
fe_msg_index(struct fe_state *st)
{
	struct fe_msg *m = &st->msg;
	const char *p = m->p, *end = m->p + m->len, *hend, *nl;
	size_t max = 1, i, hlen = 0, llen;

	if (m->indexed)
		return 0;
	for (i = 0; i < m->len; i++)
		if (p[i] == '\n')
			max++;
	m->lines = xcalloc(max, sizeof(*m->lines));
	/* Unfolded header lines only get shorter: hbuf never grows. */
	hend = p + header_len(p, m->len);
	m->hbuf = xmalloc((size_t)(hend - p) + 1);
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		llen = (nl != NULL ? (size_t)(nl - p) : (size_t)(end - p));
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		if (p < hend && (p[0] == ' ' || p[0] == '\t') && m->nhdr > 0) {
			m->lines[m->nhdr - 1].len += llen;
			memcpy(m->hbuf + hlen, p, llen);
			hlen += llen;
		} else if (p < hend) {
			m->lines[m->nhdr].p = m->hbuf + hlen;
			m->lines[m->nhdr].len = llen;
			m->nhdr++;
			memcpy(m->hbuf + hlen, p, llen);
			hlen += llen;
		} else if (p > hend) {	/* the empty line is neither */
			m->lines[m->nhdr + m->nbody].p = p;
			m->lines[m->nhdr + m->nbody].len = llen;
			m->nbody++;
		}
		if (nl == NULL)
			break;
	}
	for (i = 0; i < m->nhdr + m->nbody; i++)
		m->lines[i].utf8 = utf8_valid(m->lines[i].p, m->lines[i].len);
	m->indexed = 1;
	return 0;
}

/* The lines a pattern's h/b options select. */
static void
lines_range(struct fe_state *st, unsigned flags, size_t *from, size_t *to)
{
	fe_msg_index(st);
	*from = 0;
	*to = st->msg.nhdr;
	if (flags & FILTER_PAT_BODY) {
		*to = st->msg.nhdr + st->msg.nbody;
		if (!(flags & FILTER_PAT_HEADER))
			*from = st->msg.nhdr;
	}
}

int
fe_pattern(struct fe_state *st, const struct filter_node *n,
    struct fe_val *out)
{
	struct fe_rx *rx;
	const struct fe_line *l;
	size_t i, from, to;
	double score = 0, w = n->pat_w1;
	int owned, rc, found = 0;

	if ((rx = rx_get(st, n, &owned)) == NULL)
		return -1;
	lines_range(st, n->pat_flags, &from, &to);
	for (i = from; i < to; i++) {
		l = &st->msg.lines[i];
		if ((rc = rx_exec(st, n, rx, l->p, l->len, l->utf8, 0)) == -1)
			goto fail;
		if (rc == 0)
			continue;
		if (!found && set_matches(st, n, rx, l->p, 1) == -1)
			goto fail;
		found++;
		if (!(n->pat_flags & FILTER_PAT_WEIGHTED))
			break;
		score += w;
		w *= n->pat_w2;
	}
	if (owned)
		fe_rx_free(rx);
	if (n->pat_flags & FILTER_PAT_WEIGHTED)
		fe_val_num(out, score);
	else
		fe_val_set(out, found ? "1" : "0", 1);
	return 0;
fail:
	if (owned)
		fe_rx_free(rx);
	return -1;
}

int
fe_match_text(struct fe_state *st, const struct filter_node *n,
    const char *text, size_t len, int negate, struct fe_val *out)
{
	struct fe_rx *rx;
	double score = 0, w;
	size_t start;
	int owned, rc, more, utf8;

	if (n->kind != FK_PATTERN)
		return fe_error(st, n, "=~ needs a /pattern/");
	if ((rx = rx_get(st, n, &owned)) == NULL)
		return -1;
	utf8 = utf8_valid(text, len);
	rc = rx_exec(st, n, rx, text, len, utf8, 0);
	if (rc == 1 && set_matches(st, n, rx, text, 1) == -1)
		rc = -1;
	/* Weighted over text: every occurrence counts (as maildrop). */
	if (rc == 1 && !negate && (n->pat_flags & FILTER_PAT_WEIGHTED)) {
		score = w = n->pat_w1;
		for (;;) {
			start = after_match(rx, text, len, utf8,
			    pcre2_get_ovector_pointer(st->md));
			if (start > len ||
			    (more = rx_exec(st, n, rx, text, len, utf8,
			    start)) == 0)
				break;
			if (more == -1) {
				rc = -1;
				break;
			}
			w *= n->pat_w2;
			score += w;
		}
	}
	if (owned)
		fe_rx_free(rx);
	if (rc == -1)
		return -1;
	if (negate)
		fe_val_set(out, rc ? "0" : "1", 1);
	else if (n->pat_flags & FILTER_PAT_WEIGHTED)
		fe_val_num(out, score);
	else
		fe_val_set(out, rc ? "1" : "0", 1);
	return 0;
}

/* Where to look for the next match: past it, or one character on. */
static size_t
after_match(const struct fe_rx *rx, const char *s, size_t len, int utf8,
    const PCRE2_SIZE *ov)
{
	size_t start;

	if (ov[1] > ov[0])
		return ov[1];
	start = ov[1] + 1;
	if (utf8 && rx->utf != NULL)
		while (start < len && ((unsigned char)s[start] & 0xc0) == 0x80)
			start++;
	return start;
}

/* Every match in s (the first only unless all), appended to *hits. */
static int
collect(struct fe_state *st, const struct filter_node *n,
    const struct fe_rx *rx, const char *s, size_t len, int utf8, int all,
    struct hit **hits, size_t *nhits, size_t *cap)
{
	PCRE2_SIZE *ov;
	size_t start = 0;
	int rc;

	while (start <= len) {
		if ((rc = rx_exec(st, n, rx, s, len, utf8, start)) != 1)
			return rc;
		ov = pcre2_get_ovector_pointer(st->md);
		/* Each iteration is a step: bound the list by them. */
		if (st->res->steps + *nhits >= FILTER_STEPS_MAX)
			return fe_error(st, n, "more than %d steps: the "
			    "filter does not end", FILTER_STEPS_MAX);
		if (*nhits == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*hits = xreallocarray(*hits, *cap, sizeof(**hits));
		}
		(*hits)[*nhits].p = xstrndup(s + ov[0], ov[1] - ov[0]);
		(*hits)[*nhits].len = ov[1] - ov[0];
		(*nhits)++;
		if (!all)
			break;
		start = after_match(rx, s, len, utf8, ov);
	}
	return 0;
}

enum fe_flow
fe_foreach(struct fe_state *st, const struct filter_node *n)
{
	const struct filter_node *pat = n->kids[0];
	struct hit *hits = NULL;
	size_t nhits = 0, cap = 0, i, from, to;
	struct fe_val text = { NULL, 0 };
	enum fe_flow flow = FE_NEXT;
	struct fe_rx *rx;
	int owned = 0;

	if (pat->kind == FK_MATCH) {
		if (fe_expr(st, pat->kids[0], &text) == -1)
			return FE_ERR;
		pat = pat->kids[1];
	}
	if (pat->kind != FK_PATTERN) {
		fe_val_free(&text);
		return fe_error(st, n, "foreach needs a /pattern/"), FE_ERR;
	}
	if ((rx = rx_get(st, pat, &owned)) == NULL) {
		fe_val_free(&text);
		return FE_ERR;
	}
	if (text.p != NULL) {
		if (collect(st, pat, rx, text.p, text.len,
		    utf8_valid(text.p, text.len), 1, &hits, &nhits, &cap) ==
		    -1)
			flow = FE_ERR;
	} else {
		lines_range(st, pat->pat_flags, &from, &to);
		for (i = from; i < to && flow == FE_NEXT; i++)
			if (collect(st, pat, rx, st->msg.lines[i].p,
			    st->msg.lines[i].len, st->msg.lines[i].utf8, 0, &hits,
			    &nhits, &cap) == -1)
				flow = FE_ERR;
	}
	if (owned)
		fe_rx_free(rx);
	fe_val_free(&text);
	for (i = 0; i < nhits && flow == FE_NEXT; i++) {
		if (fe_var_set(st, n, "MATCH", hits[i].p, hits[i].len) == -1)
			flow = FE_ERR;
		else
			flow = fe_stmt(st, n->kids[1]);
	}
	for (i = 0; i < nhits; i++)
		free(hits[i].p);
	free(hits);
	return flow;
}

int
fe_regex_find(struct fe_state *st, const struct filter_node *n,
    const char *where, const char *re, int caseless, const char *subj,
    size_t len)
{
	struct fe_rx *rx;
	char err[512];
	int rc;

	if ((rx = rx_compile(re, strlen(re), caseless, err, sizeof(err))) ==
	    NULL)
		return fe_error(st, n, "%s: %s", where, err);
	rc = rx_exec(st, n, rx, subj, len, utf8_valid(subj, len), 0);
	fe_rx_free(rx);
	return rc;
}
