/*
 * search.c - evaluating SEARCH criteria on one message (search.h).
 *
 * Pure: the caller hands in what it has read; the text builder reads
 * through a callback.  Three-valued logic (yes, no, maybe) lets the
 * caller load a message's header or text only when the cheap keys have
 * not decided already.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "mail/decode.h"
#include "mail/mime.h"
#include "mail/rfc822.h"
#include "store/message.h"
#include "imapd/fold.h"
#include "imapd/search.h"

#define DAY	86400
/* Encoded bytes decoded per step of imap_search_decode_cte(). */
#define SEARCH_DECODE_CHUNK	4096

/* A compiled key: the parsed one with its needle folded, its sets
 * resolved. */
struct snode {
	enum imap_skey		 type;
	struct snode		*child;
	struct snode		*next;
	uint64_t		 num;
	int64_t			 date;
	uint32_t		 flags;
	char			*name;		/* HEADER field name */
	size_t			 namelen;
	char			*needle;	/* folded (KEYWORD: as given) */
	size_t			 needlelen;
	struct imap_seq_range	*r;		/* sorted, merged */
	size_t			 nr;
	int			 by_uid;	/* r holds uids */
};

struct imap_search_prog {
	struct snode	*root;
	unsigned	 needs;
};

/* A growable scratch buffer for reads. */
struct scratch {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static struct snode *compile_key(const struct imap_search_key *,
	    const struct imap_search_env *, unsigned *);
static void	resolve_set(struct snode *, const struct imap_seqset *,
	    const struct imap_search_env *, int);
static int	range_cmp(const void *, const void *);
static int	in_ranges(const struct snode *, uint32_t);
static void	free_node(struct snode *);
static int	eval(const struct snode *, const struct imap_search_msg *);
static int	eval_date(enum imap_skey, int64_t, int64_t);
static int	has_keyword(const char *, const char *, size_t);
static int	match_header(const struct snode *, const char *, size_t);
static int	contains(const char *, size_t, const char *, size_t);
static size_t	field_end(const char *, size_t, size_t);
static void	fold_value(const char *, size_t, struct imap_buf *);
static int	is_address_field(const char *, size_t);
static void	fold_addresses(const char *, size_t, struct imap_buf *);
static void	fold_field(const char *, size_t, size_t, struct imap_buf *);
static int	read_range(imap_search_read_fn *, void *, uint64_t, uint64_t,
	    struct scratch *);
static void	header_fields_text(const char *, size_t, struct imap_buf *);
static void	part_type(const char *, size_t, char *, size_t, char *,
	    size_t, char *, size_t);
static void	param_get(const char *, const char *, char *, size_t);

/* Compiling ------------------------------------------------------------ */

struct imap_search_prog *
imap_search_compile(const struct imap_search_key *root,
    const struct imap_search_env *env)
{
	struct imap_search_prog *p;

	p = xcalloc(1, sizeof(*p));
	p->root = compile_key(root, env, &p->needs);
	return p;
}

void
imap_search_prog_free(struct imap_search_prog **pp)
{
	if (*pp == NULL)
		return;
	free_node((*pp)->root);
	free(*pp);
	*pp = NULL;
}

unsigned
imap_search_prog_needs(const struct imap_search_prog *p)
{
	return p->needs;
}

static struct snode *
compile_key(const struct imap_search_key *k, const struct imap_search_env *env,
    unsigned *needs)
{
	struct snode *n, **tail;
	const struct imap_search_key *c;
	struct imap_buf b;

	n = xcalloc(1, sizeof(*n));
	n->type = k->type;
	n->num = k->num;
	n->date = k->date;
	n->flags = k->flags;
	switch (k->type) {
	case IMAP_SK_AND:
	case IMAP_SK_OR:
	case IMAP_SK_NOT:
		tail = &n->child;
		for (c = k->child; c != NULL; c = c->next) {
			*tail = compile_key(c, env, needs);
			tail = &(*tail)->next;
		}
		break;
	case IMAP_SK_SEQSET:
	case IMAP_SK_UIDSET:
		resolve_set(n, &k->set, env, k->type == IMAP_SK_UIDSET);
		break;
	case IMAP_SK_OLDER:
	case IMAP_SK_YOUNGER:
		/* the moment the interval is counted from: now */
		n->date = env->now - (int64_t)k->num;
		break;
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD:
		n->needle = xstrndup(k->str.s != NULL ? k->str.s : "",
		    k->str.len);
		n->needlelen = k->str.len;
		break;
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		*needs |= IMAP_SN_DATE;
		break;
	case IMAP_SK_HEADER:
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		imap_buf_init(&b);
		if (k->str.s != NULL)
			imap_fold(k->str.s, k->str.len, &b);
		n->needle = xmalloc(b.len + 1);
		if (b.len > 0)
			memcpy(n->needle, b.p, b.len);
		n->needle[b.len] = '\0';
		n->needlelen = b.len;
		imap_buf_free(&b);
		if (k->type == IMAP_SK_HEADER) {
			n->name = xstrndup(k->name.s != NULL ? k->name.s : "",
			    k->name.len);
			n->namelen = strlen(n->name);
			*needs |= IMAP_SN_HEADER;
		} else if (n->needlelen > 0)
			*needs |= k->type == IMAP_SK_BODY ? IMAP_SN_BODY :
			    IMAP_SN_TEXT | IMAP_SN_BODY;
		break;
	default:
		break;
	}
	return n;
}

/*
 * A sequence set becomes sorted, merged ranges: '*' is the last message
 * (or the highest UID) and "$" the saved UIDs, so that a key is a binary
 * search per message.
 */
static void
resolve_set(struct snode *n, const struct imap_seqset *set,
    const struct imap_search_env *env, int uid)
{
	/* "$" is always UIDs (RFC 5182) */
	n->by_uid = set->saved ? 1 : uid;
	imap_seqset_ranges(set, uid ? env->max_uid : env->nmsgs, env->saved,
	    env->nsaved, &n->r, &n->nr);
}

void
imap_seqset_ranges(const struct imap_seqset *set, uint32_t star,
    const uint32_t *saved, size_t nsaved, struct imap_seq_range **r_r,
    size_t *n_r)
{
	struct imap_seq_range *r;
	uint32_t lo, hi;
	size_t i, m;

	if (set->saved) {
		r = xreallocarray(NULL, nsaved + 1, sizeof(*r));
		m = 0;
		for (i = 0; i < nsaved; i++) {
			if (m > 0 && r[m - 1].hi != UINT32_MAX &&
			    r[m - 1].hi + 1 == saved[i]) {
				r[m - 1].hi = saved[i];
				continue;
			}
			r[m].lo = r[m].hi = saved[i];
			m++;
		}
		*r_r = r;
		*n_r = m;
		return;
	}
	r = xreallocarray(NULL, set->n + 1, sizeof(*r));
	for (i = 0; i < set->n; i++) {
		lo = set->r[i].lo == IMAP_SEQ_STAR ? star : set->r[i].lo;
		hi = set->r[i].hi == IMAP_SEQ_STAR ? star : set->r[i].hi;
		r[i].lo = lo < hi ? lo : hi;
		r[i].hi = lo < hi ? hi : lo;
	}
	if (set->n > 1)
		qsort(r, set->n, sizeof(*r), range_cmp);
	m = 0;
	for (i = 0; i < set->n; i++) {
		if (m > 0 && (r[i].lo <= r[m - 1].hi ||
		    (r[i].lo > 0 && r[i].lo - 1 == r[m - 1].hi))) {
			if (r[i].hi > r[m - 1].hi)
				r[m - 1].hi = r[i].hi;
			continue;
		}
		r[m++] = r[i];
	}
	*r_r = r;
	*n_r = m;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

static int
in_ranges(const struct snode *n, uint32_t v)
{
	return imap_ranges_have(n->r, n->nr, v);
}

int
imap_ranges_have(const struct imap_seq_range *r, size_t n, uint32_t v)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v < r[mid].lo)
			hi = mid;
		else if (v > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

static void
free_node(struct snode *n)
{
	struct snode *c, *next;

	if (n == NULL)
		return;
	for (c = n->child; c != NULL; c = next) {
		next = c->next;
		free_node(c);
	}
	free(n->name);
	free(n->needle);
	free(n->r);
	free(n);
}

/* Evaluating ----------------------------------------------------------- */

int
imap_search_match(const struct imap_search_prog *p,
    const struct imap_search_msg *m)
{
	return eval(p->root, m);
}

#define YESNO(c)	((c) ? IMAP_SM_YES : IMAP_SM_NO)

static int
eval(const struct snode *n, const struct imap_search_msg *m)
{
	const struct snode *c;
	int r, res;

	switch (n->type) {
	case IMAP_SK_ALL:
		return IMAP_SM_YES;
	case IMAP_SK_AND:
		res = IMAP_SM_YES;
		for (c = n->child; c != NULL; c = c->next) {
			r = eval(c, m);
			if (r == IMAP_SM_NO)
				return IMAP_SM_NO;
			if (r == IMAP_SM_MAYBE)
				res = IMAP_SM_MAYBE;
		}
		return res;
	case IMAP_SK_OR:
		res = IMAP_SM_NO;
		for (c = n->child; c != NULL; c = c->next) {
			r = eval(c, m);
			if (r == IMAP_SM_YES)
				return IMAP_SM_YES;
			if (r == IMAP_SM_MAYBE)
				res = IMAP_SM_MAYBE;
		}
		return res;
	case IMAP_SK_NOT:
		r = n->child != NULL ? eval(n->child, m) : IMAP_SM_YES;
		return r == IMAP_SM_MAYBE ? r : YESNO(r == IMAP_SM_NO);
	case IMAP_SK_SEQSET:
	case IMAP_SK_UIDSET:
		return YESNO(in_ranges(n, n->by_uid ? m->uid : m->seq));
	case IMAP_SK_FLAG:
		return YESNO((m->flags & n->flags) == n->flags);
	case IMAP_SK_UNFLAG:
		return YESNO((m->flags & n->flags) == 0);
	case IMAP_SK_KEYWORD:
		return YESNO(has_keyword(m->keywords, n->needle,
		    n->needlelen));
	case IMAP_SK_UNKEYWORD:
		return YESNO(!has_keyword(m->keywords, n->needle,
		    n->needlelen));
	case IMAP_SK_NEW:
		return YESNO(m->recent && !(m->flags & STORE_F_SEEN));
	case IMAP_SK_OLD:
		return YESNO(!m->recent);
	case IMAP_SK_RECENT:
		return YESNO(m->recent);
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
		return eval_date(n->type, m->internal_date, n->date);
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		if (!(m->have & IMAP_SN_DATE))
			return IMAP_SM_MAYBE;
		return eval_date(n->type, m->sent_date, n->date);
	case IMAP_SK_LARGER:
		return YESNO(m->size > n->num);
	case IMAP_SK_SMALLER:
		return YESNO(m->size < n->num);
	case IMAP_SK_MODSEQ:
		return YESNO(m->modseq >= n->num);
	case IMAP_SK_OLDER:
		return YESNO(m->internal_date <= n->date);
	case IMAP_SK_YOUNGER:
		return YESNO(m->internal_date >= n->date);
	case IMAP_SK_HEADER:
		if (!(m->have & IMAP_SN_HEADER))
			return IMAP_SM_MAYBE;
		return YESNO(match_header(n, m->header, m->header_len));
	case IMAP_SK_BODY:
		if (n->needlelen == 0)
			return IMAP_SM_YES;
		if (!(m->have & IMAP_SN_BODY))
			return IMAP_SM_MAYBE;
		return YESNO(contains(m->body, m->body_len, n->needle,
		    n->needlelen));
	case IMAP_SK_TEXT:
		if (n->needlelen == 0)
			return IMAP_SM_YES;
		if ((m->have & IMAP_SN_TEXT) && contains(m->text, m->text_len,
		    n->needle, n->needlelen))
			return IMAP_SM_YES;
		if ((m->have & IMAP_SN_BODY) && contains(m->body, m->body_len,
		    n->needle, n->needlelen))
			return IMAP_SM_YES;
		if ((m->have & (IMAP_SN_TEXT | IMAP_SN_BODY)) ==
		    (IMAP_SN_TEXT | IMAP_SN_BODY))
			return IMAP_SM_NO;
		return IMAP_SM_MAYBE;
	}
	return IMAP_SM_NO;
}

/*
 * RFC 3501: the dates of BEFORE, ON, SINCE and the SENT* keys disregard
 * time and timezone: the day of t (UTC) against the day given (midnight
 * UTC from the parser).
 */
static int
eval_date(enum imap_skey type, int64_t t, int64_t day)
{
	switch (type) {
	case IMAP_SK_BEFORE:
	case IMAP_SK_SENTBEFORE:
		return YESNO(t < day);
	case IMAP_SK_ON:
	case IMAP_SK_SENTON:
		return YESNO(t >= day && t < day + DAY);
	default:
		return YESNO(t >= day);
	}
}

/* Keywords compare without regard to ASCII case (Dovecot does so too). */
static int
has_keyword(const char *list, const char *kw, size_t kwlen)
{
	const char *p, *e;

	if (list == NULL || kwlen == 0)
		return 0;
	for (p = list; *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		if ((size_t)(e - p) == kwlen && strncasecmp(p, kw, kwlen) == 0)
			return 1;
	}
	return 0;
}

static int
contains(const char *hay, size_t haylen, const char *needle, size_t len)
{
	if (len == 0)
		return 1;
	if (hay == NULL || haylen < len)
		return 0;
	return memmem(hay, haylen, needle, len) != NULL;
}

/* One past the end of the field starting at off (continuation lines
 * included). */
static size_t
field_end(const char *h, size_t len, size_t off)
{
	const char *nl;

	for (;;) {
		nl = memchr(h + off, '\n', len - off);
		if (nl == NULL)
			return len;
		off = (size_t)(nl - h) + 1;
		if (off >= len || (h[off] != ' ' && h[off] != '\t'))
			return off;
	}
}

/*
 * HEADER name string: some field of that name (any case) whose value,
 * RFC 2047 words decoded and folded, contains the needle.
 */
static int
match_header(const struct snode *n, const char *h, size_t len)
{
	struct imap_buf b;
	size_t off, end, vs;
	int found = 0;

	if (h == NULL)
		return 0;
	imap_buf_init(&b);
	for (off = 0; off < len && !found; off = end) {
		end = field_end(h, len, off);
		if (h[off] == '\r' || h[off] == '\n')
			break;		/* the blank line */
		if (end - off <= n->namelen || h[off + n->namelen] != ':' ||
		    strncasecmp(h + off, n->name, n->namelen) != 0)
			continue;
		if (n->needlelen == 0) {
			found = 1;
			break;
		}
		vs = off + n->namelen + 1;
		imap_buf_reset(&b);
		fold_value(h + vs, end - vs, &b);
		found = contains(b.p, b.len, n->needle, n->needlelen);
		if (!found && is_address_field(n->name, n->namelen)) {
			imap_buf_reset(&b);
			fold_addresses(h + vs, end - vs, &b);
			found = contains(b.p, b.len, n->needle,
			    n->needlelen);
		}
	}
	imap_buf_free(&b);
	return found;
}

/* Decoding ---------------------------------------------------------------- */

/*
 * Decodes a part body for matching (mail/decode.c), a chunk at a time so
 * the scratch stays small.
 */
void
imap_search_decode_cte(const char *cte, const char *s, size_t len,
    struct imap_buf *out)
{
	char chunk[MAIL_DECODE_OUT(SEARCH_DECODE_CHUNK)];
	struct mail_decoder d;
	enum mail_cte c = mail_cte_parse(cte, strlen(cte));
	size_t i, n;

	if (c != MAIL_CTE_BASE64 && c != MAIL_CTE_QP) {
		imap_buf_add(out, s, len);
		return;
	}
	mail_decoder_init(&d, c, 0);
	for (i = 0; i < len; i += n) {
		n = len - i < SEARCH_DECODE_CHUNK ? len - i :
		    SEARCH_DECODE_CHUNK;
		imap_buf_add(out, chunk, mail_decode(&d, s + i, n, chunk));
	}
	imap_buf_add(out, chunk, mail_decode_end(&d, chunk));
}

void
imap_search_fold_charset(const char *charset, const char *s, size_t len,
    struct imap_buf *out)
{
	iconv_t cd;
	char *in, *o, *conv;
	size_t inleft, oleft, cap, used;

	if (charset == NULL || *charset == '\0' ||
	    strcasecmp(charset, "utf-8") == 0 ||
	    strcasecmp(charset, "utf8") == 0 ||
	    strcasecmp(charset, "us-ascii") == 0 ||
	    (cd = iconv_open("UTF-8", charset)) == (iconv_t)-1) {
		imap_fold(s, len, out);
		return;
	}
	cap = len * 2 + 16;
	conv = xmalloc(cap);
	used = 0;
	in = (char *)(uintptr_t)s;
	inleft = len;
	while (inleft > 0) {
		o = conv + used;
		oleft = cap - used;
		if (iconv(cd, &in, &inleft, &o, &oleft) != (size_t)-1) {
			used = (size_t)(o - conv);
			break;
		}
		used = (size_t)(o - conv);
		if (errno == E2BIG) {
			cap *= 2;
			conv = xreallocarray(conv, cap, 1);
		} else if (errno == EILSEQ) {
			in++;		/* an invalid byte: skipped */
			inleft--;
		} else
			break;		/* incomplete at the end */
	}
	iconv_close(cd);
	imap_fold(conv, used, out);
	free(conv);
}

/* The sent date ------------------------------------------------------------- */

/*
 * RFC 3501 compares SENT* dates "disregarding time and timezone": the
 * day is the one written in the Date: header, in its own zone (as
 * Dovecot does), so the zone matters and the record's UTC date is not
 * enough.  The header's value is the ENVELOPE's first field.
 */
int64_t
imap_search_sent_local(const struct imap_meta *m, int64_t internal_date)
{
	const char *p, *end;
	char buf[256];
	size_t n = 0, len = 0;
	int64_t utc;
	int tz;

	if (m->envelope == NULL)
		goto fallback;
	p = m->envelope;
	end = m->envelope + m->envelope_len;
	if (p >= end || *p++ != '(' || p >= end)
		goto fallback;
	if (*p == '"') {
		for (p++; p < end && *p != '"' && n < sizeof(buf); p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			buf[n++] = *p;
		}
	} else if (*p == '{') {
		for (p++; p < end && *p >= '0' && *p <= '9' && len < 100000;
		    p++)
			len = len * 10 + (size_t)(*p - '0');
		if (end - p < 3 || memcmp(p, "}\r\n", 3) != 0)
			goto fallback;
		p += 3;
		for (; p < end && n < len && n < sizeof(buf); p++)
			buf[n++] = *p;
	} else
		goto fallback;
	if (imap_date_parse(buf, n, &utc, &tz) == 1)
		return utc + (int64_t)tz * 60;
fallback:
	/* RFC 5256's sent date: the internal date without a Date: */
	return m->date != 0 ? m->date : internal_date;
}

/* The text of a message -------------------------------------------------- */

static int
read_range(imap_search_read_fn *read, void *ctx, uint64_t off, uint64_t end,
    struct scratch *s)
{
	size_t len, got;
	int r;

	s->len = 0;
	if (end <= off)
		return 1;
	len = (size_t)(end - off);
	if (len > s->cap) {
		s->p = xreallocarray(s->p, len, 1);
		s->cap = len;
	}
	if ((r = read(ctx, off, len, s->p, &got)) != 1)
		return r;
	s->len = got;
	return 1;
}

/*
 * A header value unfolded (line ends dropped), its RFC 2047 words
 * decoded, folded.  Most values have no encoded word: those skip the
 * decoder's copy.
 */
static void
fold_value(const char *v, size_t len, struct imap_buf *out)
{
	const char *p, *e, *end = v + len;
	char *dec;
	size_t declen;

	if (len >= 2 && memmem(v, len, "=?", 2) != NULL) {
		imap_header_decode(v, len, &dec, &declen);
		imap_fold(dec, declen, out);
		free(dec);
		return;
	}
	for (p = v; p < end; p = e) {
		for (e = p; e < end && *e != '\r' && *e != '\n'; e++)
			;
		imap_fold(p, (size_t)(e - p), out);
		while (e < end && (*e == '\r' || *e == '\n'))
			e++;
	}
}

/* From, To, Cc and Bcc: the keys of RFC 3501 that name addresses. */
static int
is_address_field(const char *name, size_t len)
{
	return (len == 4 && strncasecmp(name, "From", 4) == 0) ||
	    (len == 2 && strncasecmp(name, "To", 2) == 0) ||
	    (len == 2 && strncasecmp(name, "Cc", 2) == 0) ||
	    (len == 3 && strncasecmp(name, "Bcc", 3) == 0);
}

/*
 * An address list as Dovecot searches it: parsed, then written back as
 * "Name <mailbox@domain>" (or "mailbox@domain"), groups as
 * "group: a, b;", so that comments and spaces inside an address do not
 * hide it ("<user (x)@ (y) example.org>" is found as user@example.org)
 * and a comment after an address counts as its name.  Folded.
 */
static void
fold_addresses(const char *v, size_t len, struct imap_buf *out)
{
	struct rfc822_addr *a;
	struct imap_buf w;
	char *flat, *dec;
	size_t i, n, m = 0, declen;
	int sep = 0;

	/* the parser wants the value unfolded */
	flat = xmalloc(len + 1);
	for (i = 0; i < len; i++)
		if (v[i] != '\r' && v[i] != '\n')
			flat[m++] = v[i];
	rfc822_addr_parse(flat, m, &a, &n);
	imap_buf_init(&w);
	for (i = 0; i < n; i++) {
		if (a[i].mailbox.p == NULL && a[i].domain.p == NULL) {
			imap_buf_add(&w, ";", 1);	/* end of a group */
			sep = 1;
			continue;
		}
		if (sep)
			imap_buf_add(&w, ", ", 2);
		sep = 0;
		if (a[i].domain.p == NULL) {		/* a group's name */
			imap_buf_add(&w, a[i].mailbox.p, a[i].mailbox.len);
			imap_buf_add(&w, ": ", 2);
			continue;
		}
		sep = 1;
		if (a[i].name.p != NULL && a[i].name.len > 0) {
			imap_header_decode(a[i].name.p, a[i].name.len, &dec,
			    &declen);
			imap_buf_add(&w, dec, declen);
			free(dec);
			imap_buf_add(&w, " <", 2);
		}
		if (a[i].route.p != NULL && a[i].route.len > 0) {
			imap_buf_add(&w, a[i].route.p, a[i].route.len);
			imap_buf_add(&w, ":", 1);
		}
		imap_buf_add(&w, a[i].mailbox.p, a[i].mailbox.len);
		imap_buf_add(&w, "@", 1);
		imap_buf_add(&w, a[i].domain.p, a[i].domain.len);
		if (a[i].name.p != NULL && a[i].name.len > 0)
			imap_buf_add(&w, ">", 1);
	}
	imap_fold(w.p != NULL ? w.p : "", w.len, out);
	imap_buf_free(&w);
	rfc822_addr_free(a, n);
	free(flat);
}

/* name: value, the value's RFC 2047 words decoded, folded, one line. */
static void
fold_field(const char *f, size_t len, size_t colon, struct imap_buf *out)
{
	imap_fold(f, colon + 1, out);
	fold_value(f + colon + 1, len - colon - 1, out);
	imap_buf_add(out, "\n", 1);
}

static void
header_fields_text(const char *h, size_t len, struct imap_buf *out)
{
	size_t off, end;
	const char *colon;

	for (off = 0; off < len; off = end) {
		end = field_end(h, len, off);
		if (h[off] == '\r' || h[off] == '\n')
			break;
		colon = memchr(h + off, ':', end - off);
		if (colon == NULL)
			continue;
		fold_field(h + off, end - off, (size_t)(colon - (h + off)),
		    out);
	}
}

/* A Content-Type parameter (token or quoted string), "" when absent. */
static void
param_get(const char *v, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name), n;
	const char *p;

	out[0] = '\0';
	for (p = strchr(v, ';'); p != NULL; p = strchr(p, ';')) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nlen) != 0)
			continue;
		p += nlen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		n = 0;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"' && n + 1 < size; p++)
				out[n++] = *p == '\\' && p[1] != '\0' ? *++p : *p;
		} else {
			for (; *p != '\0' && *p != ';' && *p != ' ' &&
			    *p != '\t' && n + 1 < size; p++)
				out[n++] = *p;
		}
		out[n] = '\0';
		return;
	}
}

/* The type/subtype ("" when there is no Content-Type), the charset and
 * the transfer encoding of a part, from its header block. */
static void
part_type(const char *h, size_t len, char *type, size_t typesize,
    char *charset, size_t csize, char *cte, size_t ctesize)
{
	char v[1024], boundary[8];

	type[0] = charset[0] = cte[0] = '\0';
	if (mime_header_get((const uint8_t *)h, len, "Content-Type", v,
	    sizeof(v)) == 1) {
		mime_content_type(v, type, typesize, boundary,
		    sizeof(boundary));
		param_get(v, "charset", charset, csize);
	}
	if (mime_header_get((const uint8_t *)h, len,
	    "Content-Transfer-Encoding", v, sizeof(v)) == 1) {
		size_t n = strcspn(v, " \t;(");

		if (n >= ctesize)
			n = ctesize - 1;
		memcpy(cte, v, n);
		cte[n] = '\0';
	}
}

int
imap_search_text(const struct imap_meta *meta, unsigned want,
    imap_search_read_fn *read, void *ctx, struct imap_buf *text,
    struct imap_buf *body)
{
	struct imap_part part;
	struct scratch hdr = { 0 }, data = { 0 };
	struct imap_buf dec;
	char type[128], charset[64], cte[64];
	size_t i;
	int r = 1;

	if (want & IMAP_SN_TEXT)
		imap_buf_reset(text);
	if (want & IMAP_SN_BODY)
		imap_buf_reset(body);
	imap_buf_init(&dec);
	for (i = 0; i < meta->nparts && r == 1; i++) {
		imap_meta_part(meta, i, &part);
		if ((r = read_range(read, ctx, part.hdr_off, part.body_off,
		    &hdr)) != 1)
			break;
		if (want & IMAP_SN_TEXT)
			header_fields_text(hdr.p, hdr.len, text);
		if (!(want & IMAP_SN_BODY) || part.is_multipart ||
		    part.is_message)
			continue;
		if (hdr.len > 0)
			part_type(hdr.p, hdr.len, type, sizeof(type),
			    charset, sizeof(charset), cte, sizeof(cte));
		else
			type[0] = charset[0] = cte[0] = '\0';
		/* no Content-Type is text/plain (RFC 2045) */
		if (type[0] != '\0' && strncmp(type, "text/", 5) != 0)
			continue;
		if ((r = read_range(read, ctx, part.body_off, part.end,
		    &data)) != 1)
			break;
		imap_buf_reset(&dec);
		imap_search_decode_cte(cte, data.p, data.len, &dec);
		imap_search_fold_charset(charset, dec.p, dec.len, body);
		imap_buf_add(body, "\n", 1);
	}
	imap_buf_free(&dec);
	free(hdr.p);
	free(data.p);
	return r;
}
