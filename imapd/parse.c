/*
 * parse.c - IMAP command syntax: a recursive-descent parser over one
 * assembled command (parse.h).  Only SEARCH keys recurse, bounded by
 * IMAP_SEARCH_DEPTH_MAX (and their parentheses by IMAP_NEST_MAX); every
 * list is bounded by a named limit, so time and memory stay linear in
 * the command's length.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "imapd/buf.h"
#include "imapd/parse.h"
#include "mail/imapmsg.h"
#include "mail/utf7.h"
#include "store/message.h"

/* One allocation of the arena (imap_p_alloc). */
struct arena_blk {
	struct arena_blk	*next;
	max_align_t		 data[];
};

/* Longest keyword of the grammar (FETCH items, search keys, options). */
#define WORD_MAX	32

/* FETCH being parsed. */
struct fetch_ctx {
	struct imap_fetch	*f;
	size_t			 nfields;	/* header field names so far */
	struct imap_buf		 name;		/* reply_name being built */
};

/* SEARCH being parsed. */
struct search_ctx {
	struct imap_search	*s;
	size_t			 nkeys;
	int			 nest;		/* parentheses open */
};

static int	fail(struct imap_parser *, const char *);
static int	is_atom_char(int);
static int	is_astring_char(int);
static int	is_list_char(int);
static int	is_tag_char(int);
static int	p_chars(struct imap_parser *, int (*)(int), size_t,
		    struct imap_str *, const char *);
static int	p_quoted(struct imap_parser *, struct imap_str *);
static int	p_literal(struct imap_parser *, struct imap_str *);
static int	p_digits64(struct imap_parser *, uint64_t, uint64_t *,
		    const char *);
static int	p_seq_number(struct imap_parser *, uint32_t *);
static int	kw_add(struct imap_parser *, struct imap_flags *,
		    const struct imap_str *);
static int	p_flag(struct imap_parser *, struct imap_flags *, int);
static unsigned	date_mdays(unsigned, unsigned);
static int	p_fixed(struct imap_parser *, size_t, unsigned *);
static int	p_date_text(struct imap_parser *, int, int64_t *);
static int	p_word(struct imap_parser *, char *, const char *);
static int	p_header_list(struct imap_parser *, struct fetch_ctx *,
		    struct imap_section *);
static int	p_section(struct imap_parser *, struct fetch_ctx *,
		    struct imap_section *, int);
static int	p_fetch_att(struct imap_parser *, struct fetch_ctx *);
static int	p_fetch_modifiers(struct imap_parser *, struct imap_fetch *);
static struct imap_search_key *key_new(struct imap_parser *,
		    struct search_ctx *, enum imap_skey);
static int	p_search_modseq(struct imap_parser *, struct imap_search_key *);
static int	p_search_key(struct imap_parser *, struct search_ctx *, int,
		    struct imap_search_key **);
static int	p_search_keys(struct imap_parser *, struct imap_search *);
static int	p_search_return(struct imap_parser *, struct imap_search *);
static int	p_keyword_sp(struct imap_parser *, const char *);
static int	p_status_list(struct imap_parser *, unsigned *);
static int	p_list_select(struct imap_parser *, struct imap_list *);
static int	p_list_return(struct imap_parser *, struct imap_list *);
static int	p_known_set(struct imap_parser *, struct imap_seqset *);
static int	p_qresync(struct imap_parser *, struct imap_select *);

static int
fail(struct imap_parser *p, const char *what)
{
	p->err = what;
	return -1;
}

void
imap_parser_init(struct imap_parser *p, char *buf, size_t len, int utf8)
{
	memset(p, 0, sizeof(*p));
	p->buf = buf;
	p->len = len;
	p->utf8 = utf8;
}

void
imap_parser_free(struct imap_parser *p)
{
	struct arena_blk *b, *next;

	for (b = p->arena; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	p->arena = NULL;
}

void *
imap_p_alloc(struct imap_parser *p, size_t n)
{
	struct arena_blk *b;

	b = xcalloc(1, sizeof(*b) + (n == 0 ? 1 : n));
	b->next = p->arena;
	p->arena = b;
	return b->data;
}

/*
 * A literal announcement ends the line: [~]{digits[+]}.  Anything else
 * ending in '}' (a quoted "}" or a word) is no announcement.
 */
int
imap_line_literal(const char *line, size_t len, uint64_t *n_r,
    int *nonsync_r, int *binary_r)
{
	size_t end, i;
	uint64_t n = 0;
	int nonsync = 0;

	if (len < 3 || line[len - 1] != '}')
		return 0;
	end = len - 1;
	if (line[end - 1] == '+') {
		nonsync = 1;
		end--;
	}
	i = end;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == end || i == 0 || line[i - 1] != '{')
		return 0;
	for (; i < end; i++) {
		if (n > (UINT64_MAX >> 1) / 10 ||
		    n * 10 + (uint64_t)(line[i] - '0') > (UINT64_MAX >> 1))
			return err_set(ERR_INVALID, "literal size too large");
		n = n * 10 + (uint64_t)(line[i] - '0');
	}
	i = end;
	while (line[i - 1] != '{')
		i--;
	if (n_r != NULL)
		*n_r = n;
	if (nonsync_r != NULL)
		*nonsync_r = nonsync;
	if (binary_r != NULL)
		*binary_r = i >= 2 && line[i - 2] == '~';
	return 1;
}

/* Tokens ------------------------------------------------------------ */

/*
 * ATOM-CHAR: any CHAR except atom-specials ( "(" ")" "{" SP CTL "%" "*"
 * DQUOTE "\" "]" ).
 */
static int
is_atom_char(int c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	return strchr("(){%*\"\\]", c) == NULL;
}

static int
is_astring_char(int c)
{
	return is_atom_char(c) || c == ']';
}

static int
is_list_char(int c)
{
	return is_atom_char(c) || c == ']' || c == '%' || c == '*';
}

int
imap_p_at_end(const struct imap_parser *p)
{
	return p->pos >= p->len;
}

int
imap_p_peek(const struct imap_parser *p)
{
	return p->pos < p->len ? (unsigned char)p->buf[p->pos] : -1;
}

int
imap_p_sp(struct imap_parser *p)
{
	if (p->pos >= p->len || p->buf[p->pos] != ' ')
		return fail(p, p->pos >= p->len ? "Missing arguments" :
		    "Expected a single space");
	p->pos++;
	return 0;
}

int
imap_p_end(struct imap_parser *p)
{
	if (p->pos < p->len)
		return fail(p, "Unexpected text after the command's "
		    "arguments");
	return 0;
}

int
imap_p_char(struct imap_parser *p, char c)
{
	if (p->pos >= p->len || p->buf[p->pos] != c) {
		switch (c) {
		case '(': return fail(p, "Expected '('");
		case ')': return fail(p, "Expected ')'");
		case '[': return fail(p, "Expected '['");
		case ']': return fail(p, "Expected ']'");
		case '<': return fail(p, "Expected '<'");
		case '>': return fail(p, "Expected '>'");
		case '.': return fail(p, "Expected '.'");
		case '"': return fail(p, "Expected '\"'");
		default: return fail(p, "Unexpected character");
		}
	}
	p->pos++;
	return 0;
}

static int
p_chars(struct imap_parser *p, int (*ok)(int), size_t max,
    struct imap_str *r, const char *what)
{
	size_t start = p->pos;

	while (p->pos < p->len && ok((unsigned char)p->buf[p->pos]))
		p->pos++;
	if (p->pos == start)
		return fail(p, what);
	if (max != 0 && p->pos - start > max) {
		p->pos = start;
		return fail(p, "Word too long");
	}
	r->s = p->buf + start;
	r->len = p->pos - start;
	return 0;
}

int
imap_p_atom(struct imap_parser *p, struct imap_str *r)
{
	return p_chars(p, is_atom_char, 0, r, "Expected an atom");
}

static int
is_tag_char(int c)
{
	return is_astring_char(c) && c != '+';
}

int
imap_p_tag(struct imap_parser *p, struct imap_str *r)
{
	if (p_chars(p, is_tag_char, IMAP_TAG_MAX, r, "Expected a tag") == -1)
		return -1;
	return 0;
}

/* quoted: the escapes are removed in place. */
static int
p_quoted(struct imap_parser *p, struct imap_str *r)
{
	size_t start, out;
	int eight = 0;
	unsigned char c;

	if (imap_p_char(p, '"') == -1)
		return -1;
	start = out = p->pos;
	for (;;) {
		if (p->pos >= p->len)
			return fail(p, "Unterminated quoted string");
		c = (unsigned char)p->buf[p->pos++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (p->pos >= p->len)
				return fail(p, "Unterminated quoted string");
			c = (unsigned char)p->buf[p->pos++];
			if (c != '"' && c != '\\')
				return fail(p, "Invalid escape in a quoted "
				    "string (only \\\" and \\\\)");
		} else if (c == '\0' || c == '\r' || c == '\n') {
			return fail(p, "Invalid character (CR, LF or NUL) "
			    "in a quoted string");
		} else if (c >= 0x80) {
			if (!p->utf8)
				return fail(p, "8-bit data in a quoted string "
				    "(use a literal, or ENABLE UTF8=ACCEPT)");
			eight = 1;
		}
		p->buf[out++] = (char)c;
	}
	if (eight && !utf8_valid(p->buf + start, out - start))
		return fail(p, "Invalid UTF-8 in a quoted string");
	r->s = p->buf + start;
	r->len = out - start;
	return 0;
}

/* literal: "{" number64 ["+"] "}" CRLF octets */
static int
p_literal(struct imap_parser *p, struct imap_str *r)
{
	uint64_t n;

	if (imap_p_char(p, '{') == -1)
		return -1;
	if (++p->nliterals > IMAP_LITERALS_MAX)
		return fail(p, "Too many literals in one command");
	if (p_digits64(p, UINT64_MAX >> 1, &n, "Expected a literal size")
	    == -1)
		return -1;
	if (p->pos < p->len && p->buf[p->pos] == '+')
		p->pos++;
	if (p->pos >= p->len || p->buf[p->pos] != '}')
		return fail(p, "Expected '}' after the literal size");
	p->pos++;
	if (p->len - p->pos < 2 || p->buf[p->pos] != '\r' ||
	    p->buf[p->pos + 1] != '\n')
		return fail(p, "Expected the end of the line after a literal "
		    "announcement");
	p->pos += 2;
	if (n > p->len - p->pos)
		return fail(p, "Literal shorter than announced");
	r->s = p->buf + p->pos;
	r->len = (size_t)n;
	p->pos += (size_t)n;
	return 0;
}

int
imap_p_string(struct imap_parser *p, struct imap_str *r)
{
	switch (imap_p_peek(p)) {
	case '"':
		return p_quoted(p, r);
	case '{':
		return p_literal(p, r);
	default:
		return fail(p, p->pos >= p->len ? "Missing arguments" :
		    "Expected a string");
	}
}

int
imap_p_astring(struct imap_parser *p, struct imap_str *r)
{
	int c = imap_p_peek(p);

	if (c == '"' || c == '{')
		return imap_p_string(p, r);
	return p_chars(p, is_astring_char, 0, r, p->pos >= p->len ?
	    "Missing arguments" : "Expected an astring");
}

int
imap_p_nstring(struct imap_parser *p, struct imap_str *r)
{
	int c = imap_p_peek(p);

	if (c == '"' || c == '{')
		return imap_p_string(p, r);
	if (p->len - p->pos >= 3 && strncasecmp(p->buf + p->pos, "NIL", 3)
	    == 0 && (p->len - p->pos == 3 ||
	    !is_atom_char((unsigned char)p->buf[p->pos + 3]))) {
		p->pos += 3;
		r->s = NULL;
		r->len = 0;
		return 0;
	}
	return fail(p, "Expected a string or NIL");
}

int
imap_p_list_mailbox(struct imap_parser *p, struct imap_str *r)
{
	int c = imap_p_peek(p);

	if (c == '"' || c == '{')
		return imap_p_string(p, r);
	return p_chars(p, is_list_char, 0, r, p->pos >= p->len ?
	    "Missing arguments" : "Expected a mailbox pattern");
}

/* 1*DIGIT with a value of at most max. */
static int
p_digits64(struct imap_parser *p, uint64_t max, uint64_t *r,
    const char *what)
{
	uint64_t n = 0, lim = max / 10;
	size_t start = p->pos;
	unsigned d, lastd = (unsigned)(max % 10);

	while (p->pos < p->len && p->buf[p->pos] >= '0' &&
	    p->buf[p->pos] <= '9') {
		d = (unsigned)(p->buf[p->pos] - '0');
		if (n > lim || (n == lim && d > lastd)) {
			p->pos = start;
			return fail(p, "Number too large");
		}
		n = n * 10 + d;
		p->pos++;
	}
	if (p->pos == start)
		return fail(p, what);
	*r = n;
	return 0;
}

int
imap_p_number(struct imap_parser *p, uint32_t *r)
{
	uint64_t n;

	if (p_digits64(p, UINT32_MAX, &n, "Expected a number") == -1)
		return -1;
	*r = (uint32_t)n;
	return 0;
}

int
imap_p_nz_number(struct imap_parser *p, uint32_t *r)
{
	size_t start = p->pos;

	if (imap_p_number(p, r) == -1)
		return -1;
	if (*r == 0) {
		p->pos = start;
		return fail(p, "Expected a non-zero number");
	}
	return 0;
}

int
imap_p_number64(struct imap_parser *p, uint64_t *r)
{
	return p_digits64(p, UINT64_MAX >> 1, r, "Expected a number");
}

int
imap_str_copy(char *dst, size_t size, const struct imap_str *s)
{
	if (size == 0)
		return -1;
	dst[0] = '\0';
	if (s->s == NULL)
		return 0;
	if (s->len >= size || memchr(s->s, '\0', s->len) != NULL)
		return -1;
	memcpy(dst, s->s, s->len);
	dst[s->len] = '\0';
	return 0;
}

int
imap_str_eq(const struct imap_str *s, const char *c)
{
	size_t n = strlen(c);

	return s->s != NULL && s->len == n && strncasecmp(s->s, c, n) == 0;
}

int
imap_p_command(struct imap_parser *p, char tag[IMAP_TAG_MAX + 1],
    char verb[IMAP_VERB_MAX + 1])
{
	struct imap_str t, v;
	size_t i;

	tag[0] = verb[0] = '\0';
	if (imap_p_tag(p, &t) == -1) {
		if (p->pos < p->len && p->buf[p->pos] != ' ' &&
		    is_astring_char((unsigned char)p->buf[p->pos]) &&
		    p->buf[p->pos] != '+')
			return fail(p, "Tag too long");
		return fail(p, "Expected a tag");
	}
	memcpy(tag, t.s, t.len);
	tag[t.len] = '\0';
	if (imap_p_sp(p) == -1)
		return fail(p, "Expected a command after the tag");
	if (imap_p_atom(p, &v) == -1)
		return fail(p, "Expected a command after the tag");
	if (v.len > IMAP_VERB_MAX || (p->pos < p->len && p->buf[p->pos] !=
	    ' '))
		return fail(p, "Unknown command");
	for (i = 0; i < v.len; i++)
		verb[i] = (char)toupper((unsigned char)v.s[i]);
	verb[v.len] = '\0';
	return 0;
}

/* Sequence sets -------------------------------------------------------- */

/* seq-number: nz-number / "*" */
static int
p_seq_number(struct imap_parser *p, uint32_t *r)
{
	if (imap_p_peek(p) == '*') {
		p->pos++;
		*r = IMAP_SEQ_STAR;
		return 0;
	}
	if (imap_p_peek(p) < '0' || imap_p_peek(p) > '9')
		return fail(p, "Expected a sequence set");
	return imap_p_nz_number(p, r);
}

int
imap_p_seqset(struct imap_parser *p, struct imap_seqset *set)
{
	size_t i, n = 1;
	uint32_t a, b;

	memset(set, 0, sizeof(*set));
	if (imap_p_peek(p) == '$') {
		p->pos++;
		set->saved = 1;
		return 0;
	}
	/* Count the ranges first, to allocate once. */
	for (i = p->pos; i < p->len; i++) {
		if (p->buf[i] == ',')
			n++;
		else if ((p->buf[i] < '0' || p->buf[i] > '9') &&
		    p->buf[i] != ':' && p->buf[i] != '*')
			break;
	}
	if (n > IMAP_SEQSET_MAX)
		return fail(p, "Sequence set has too many ranges");
	set->r = imap_p_alloc(p, n * sizeof(*set->r));
	for (i = 0; i < n; i++) {
		if (i > 0 && imap_p_char(p, ',') == -1)
			return fail(p, "Expected a sequence set");
		if (p_seq_number(p, &a) == -1)
			return -1;
		b = a;
		if (imap_p_peek(p) == ':') {
			p->pos++;
			if (p_seq_number(p, &b) == -1)
				return -1;
		}
		set->r[i].lo = a < b ? a : b;
		set->r[i].hi = a < b ? b : a;
	}
	set->n = n;
	return 0;
}

/* Flags ------------------------------------------------------------- */

static int
kw_add(struct imap_parser *p, struct imap_flags *f,
    const struct imap_str *kw)
{
	size_t have = strlen(f->keywords), i, wlen;
	const char *w = f->keywords;

	/* Already there?  (Keywords compare as given, like the store.) */
	while (*w != '\0') {
		wlen = strcspn(w, " ");
		if (wlen == kw->len && memcmp(w, kw->s, wlen) == 0)
			return 0;
		w += wlen;
		if (*w == ' ')
			w++;
	}
	if (have + (have > 0) + kw->len > sizeof(f->keywords) - 1)
		return fail(p, "Too many keywords");
	i = have;
	if (have > 0)
		f->keywords[i++] = ' ';
	memcpy(f->keywords + i, kw->s, kw->len);
	f->keywords[i + kw->len] = '\0';
	return 0;
}

/* flag: "\Answered" ... / keyword (atom).  recent_ok for FETCH-ish uses. */
static int
p_flag(struct imap_parser *p, struct imap_flags *f, int recent_ok)
{
	static const struct {
		const char	*name;
		uint32_t	 bit;
	} sys[] = {
		{ "\\Seen", STORE_F_SEEN }, { "\\Answered", STORE_F_ANSWERED },
		{ "\\Flagged", STORE_F_FLAGGED }, { "\\Deleted",
		STORE_F_DELETED }, { "\\Draft", STORE_F_DRAFT },
	};
	struct imap_str a;
	size_t i;

	if (imap_p_peek(p) == '\\') {
		p->pos++;
		if (imap_p_atom(p, &a) == -1)
			return fail(p, "Expected a flag");
		a.s--;
		a.len++;
		for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (imap_str_eq(&a, sys[i].name)) {
				f->flags |= sys[i].bit;
				return 0;
			}
		if (imap_str_eq(&a, "\\Recent") && recent_ok) {
			f->recent = 1;
			return 0;
		}
		return fail(p, imap_str_eq(&a, "\\Recent") ? "\\Recent cannot "
		    "be set" : "Invalid system flag");
	}
	if (imap_p_atom(p, &a) == -1)
		return fail(p, "Expected a flag");
	return kw_add(p, f, &a);
}

int
imap_p_flag_list(struct imap_parser *p, struct imap_flags *f)
{
	memset(f, 0, sizeof(*f));
	if (imap_p_char(p, '(') == -1)
		return fail(p, "Expected a flag list");
	if (imap_p_peek(p) == ')') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (p_flag(p, f, 0) == -1)
			return -1;
		if (imap_p_peek(p) == ')') {
			p->pos++;
			return 0;
		}
		if (imap_p_sp(p) == -1)
			return fail(p, "Expected ')' or a space in the flag "
			    "list");
	}
}

/* Dates -------------------------------------------------------------- */

static unsigned
date_mdays(unsigned y, unsigned m)
{
	static const unsigned char n[12] = { 31, 28, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return n[m - 1];
}

/* exactly n digits */
static int
p_fixed(struct imap_parser *p, size_t n, unsigned *r)
{
	size_t i;

	if (p->len - p->pos < n)
		return -1;
	*r = 0;
	for (i = 0; i < n; i++) {
		if (p->buf[p->pos + i] < '0' || p->buf[p->pos + i] > '9')
			return -1;
		*r = *r * 10 + (unsigned)(p->buf[p->pos + i] - '0');
	}
	p->pos += n;
	return 0;
}

/* date-text (day 1-2 digits, or SP DIGIT when fixed): days since 1970 */
static int
p_date_text(struct imap_parser *p, int fixed, int64_t *days_r)
{
	unsigned d, m, y;
	int mon;

	if (fixed && imap_p_peek(p) == ' ')
		p->pos++;
	if (p_fixed(p, 1, &d) == -1)
		return fail(p, "Expected a date (like 1-Feb-1994)");
	if (imap_p_peek(p) >= '0' && imap_p_peek(p) <= '9') {
		d = d * 10 + (unsigned)(p->buf[p->pos] - '0');
		p->pos++;
	}
	if (imap_p_peek(p) != '-' || p->len - p->pos < 5)
		return fail(p, "Expected a date (like 1-Feb-1994)");
	p->pos++;
	if ((mon = imap_date_month(p->buf + p->pos)) < 0)
		return fail(p, "Invalid month in a date");
	m = (unsigned)mon;
	p->pos += 3;
	if (imap_p_peek(p) != '-')
		return fail(p, "Expected a date (like 1-Feb-1994)");
	p->pos++;
	if (p_fixed(p, 4, &y) == -1)
		return fail(p, "Expected a 4-digit year in a date");
	if (d < 1 || d > date_mdays(y, m + 1))
		return fail(p, "Invalid day in a date");
	*days_r = imap_date_days(y, m + 1, d);
	return 0;
}

int
imap_p_date(struct imap_parser *p, int64_t *r)
{
	int64_t days;
	int quoted = imap_p_peek(p) == '"';

	if (quoted)
		p->pos++;
	if (p_date_text(p, 0, &days) == -1)
		return -1;
	if (quoted && imap_p_char(p, '"') == -1)
		return fail(p, "Expected '\"' after the date");
	*r = days * 86400;
	return 0;
}

int
imap_p_date_time(struct imap_parser *p, int64_t *utc_r, int *tz_r)
{
	int64_t days;
	unsigned hh, mm, ss, zh, zm;
	int sign;

	if (imap_p_char(p, '"') == -1)
		return fail(p, "Expected a quoted date-time");
	if (p_date_text(p, 1, &days) == -1)
		return -1;
	if (imap_p_peek(p) != ' ')
		return fail(p, "Expected a time in the date-time");
	p->pos++;
	if (p_fixed(p, 2, &hh) == -1 || imap_p_char(p, ':') == -1 ||
	    p_fixed(p, 2, &mm) == -1 || imap_p_char(p, ':') == -1 ||
	    p_fixed(p, 2, &ss) == -1 || hh > 23 || mm > 59 || ss > 60)
		return fail(p, "Invalid time in the date-time (hh:mm:ss)");
	if (imap_p_peek(p) != ' ')
		return fail(p, "Expected a zone in the date-time");
	p->pos++;
	if (imap_p_peek(p) != '+' && imap_p_peek(p) != '-')
		return fail(p, "Invalid zone in the date-time (+hhmm)");
	sign = p->buf[p->pos++] == '-' ? -1 : 1;
	if (p_fixed(p, 2, &zh) == -1 || p_fixed(p, 2, &zm) == -1 || zm > 59)
		return fail(p, "Invalid zone in the date-time (+hhmm)");
	if (imap_p_char(p, '"') == -1)
		return fail(p, "Expected '\"' after the date-time");
	*utc_r = days * 86400 + hh * 3600 + mm * 60 + ss -
	    sign * (int64_t)(zh * 3600 + zm * 60);
	if (tz_r != NULL)
		*tz_r = sign * (int)(zh * 60 + zm);
	return 0;
}

/*
 * A keyword of the grammar (fetch-att, search key, option): atom
 * characters up to '[', upper-cased into w (WORD_MAX + 1 bytes).  -1 when there is none or
 * it is longer than any keyword (what names the error).
 */
static int
p_word(struct imap_parser *p, char *w, const char *what)
{
	size_t n = 0;
	int c;

	while ((c = imap_p_peek(p)) != -1 && is_atom_char(c) && c != '[') {
		if (n == WORD_MAX)
			return fail(p, what);
		w[n++] = (char)toupper(c);
		p->pos++;
	}
	w[n] = '\0';
	if (n == 0)
		return fail(p, p->pos >= p->len ? "Missing arguments" : what);
	return 0;
}

/* FETCH -------------------------------------------------------------- */

/* header-list: "(" header-fld-name *(SP header-fld-name) ")" */
static int
p_header_list(struct imap_parser *p, struct fetch_ctx *c,
    struct imap_section *sec)
{
	struct imap_str tmp[IMAP_FETCH_FIELDS_MAX];
	size_t n = 0, i, k;

	if (imap_p_sp(p) == -1 || imap_p_char(p, '(') == -1)
		return fail(p, "Expected a list of header field names");
	for (;;) {
		if (c->nfields + n >= IMAP_FETCH_FIELDS_MAX)
			return fail(p, "Too many header field names");
		if (imap_p_astring(p, &tmp[n]) == -1)
			return fail(p, "Expected a header field name");
		if (tmp[n].len == 0)
			return fail(p, "Empty header field name");
		n++;
		if (imap_p_peek(p) == ')')
			break;
		if (imap_p_sp(p) == -1)
			return fail(p, "Expected ')' after the header field "
			    "names");
	}
	p->pos++;
	c->nfields += n;
	sec->names = imap_p_alloc(p, n * sizeof(*sec->names));
	memcpy(sec->names, tmp, n * sizeof(*sec->names));
	sec->nnames = n;
	imap_buf_adds(&c->name, " (");
	for (i = 0; i < n; i++) {
		size_t start;

		if (i > 0)
			imap_buf_adds(&c->name, " ");
		start = c->name.len;
		imap_buf_astring(&c->name, tmp[i].s, tmp[i].len, 0);
		/* Dovecot upper-cases the names it echoes. */
		for (k = start; k < c->name.len; k++)
			c->name.p[k] = (char)toupper((unsigned char)
			    c->name.p[k]);
	}
	imap_buf_adds(&c->name, ")");
	return 0;
}

/*
 * "[" section-spec "]" [partial] after BODY[.PEEK] / BINARY[.PEEK|.SIZE];
 * c->name holds "BODY[" etc.
 */
static int
p_section(struct imap_parser *p, struct fetch_ctx *c,
    struct imap_section *sec, int partial_ok)
{
	char w[WORD_MAX + 1];
	uint32_t n;
	uint64_t off, len;

	if (imap_p_char(p, '[') == -1)
		return -1;
	sec->kind = IMAP_SECTION_ALL;
	while (imap_p_peek(p) >= '0' && imap_p_peek(p) <= '9') {
		if (sec->depth == IMAP_SECTION_DEPTH_MAX)
			return fail(p, "Section part number too deep");
		if (imap_p_nz_number(p, &n) == -1)
			return fail(p, "Invalid section part number");
		sec->path[sec->depth++] = n;
		imap_buf_printf(&c->name, "%s%u", sec->depth > 1 ? "." : "", n);
		if (imap_p_peek(p) != '.')
			break;
		p->pos++;
		if (imap_p_peek(p) < '0' || imap_p_peek(p) > '9')
			goto text;
	}
	if (imap_p_peek(p) == ']')
		goto close;
	if (sec->depth > 0)
		return fail(p, "Expected ']' or '.' after the section part");
text:
	if (sec->binary || sec->binary_size)
		return fail(p, "BINARY takes only a part number as section");
	{
		size_t save = p->pos;
		int c2;

		/* The word runs through '.' (HEADER.FIELDS.NOT). */
		n = 0;
		while ((c2 = imap_p_peek(p)) != -1 && (isalpha(c2) ||
		    c2 == '.') && n < WORD_MAX) {
			w[n++] = (char)toupper(c2);
			p->pos++;
		}
		w[n] = '\0';
		if (n == 0) {
			p->pos = save;
			return fail(p, "Invalid section text");
		}
	}
	if (sec->depth > 0)
		imap_buf_adds(&c->name, ".");
	if (strcmp(w, "HEADER") == 0) {
		sec->kind = IMAP_SECTION_HEADER;
	} else if (strcmp(w, "TEXT") == 0) {
		sec->kind = IMAP_SECTION_TEXT;
	} else if (strcmp(w, "MIME") == 0 && sec->depth > 0) {
		sec->kind = IMAP_SECTION_MIME;
	} else if (strcmp(w, "HEADER.FIELDS") == 0) {
		sec->kind = IMAP_SECTION_HEADER;
		sec->fields = 1;
	} else if (strcmp(w, "HEADER.FIELDS.NOT") == 0) {
		sec->kind = IMAP_SECTION_HEADER;
		sec->fields = 1;
		sec->fields_not = 1;
	} else {
		return fail(p, "Invalid section text (HEADER, HEADER.FIELDS, "
		    "HEADER.FIELDS.NOT, TEXT or MIME)");
	}
	imap_buf_adds(&c->name, w);
	if (sec->fields && p_header_list(p, c, sec) == -1)
		return -1;
close:
	if (imap_p_char(p, ']') == -1)
		return fail(p, "Expected ']' after the section");
	imap_buf_adds(&c->name, "]");
	if (imap_p_peek(p) == '<') {
		if (!partial_ok)
			return fail(p, "BINARY.SIZE takes no partial range");
		p->pos++;
		if (imap_p_number64(p, &off) == -1 || imap_p_char(p, '.') ==
		    -1 || imap_p_number64(p, &len) == -1 || len == 0 ||
		    imap_p_char(p, '>') == -1)
			return fail(p, "Invalid partial range (<offset.length>)");
		sec->partial = 1;
		sec->partial_off = off;
		sec->partial_len = len;
		imap_buf_printf(&c->name, "<%llu>", (unsigned long long)off);
	}
	return 0;
}

/* One fetch-att. */
static int
p_fetch_att(struct imap_parser *p, struct fetch_ctx *c)
{
	static const struct {
		const char	*name;
		unsigned	 items;
	} simple[] = {
		{ "FLAGS", IMAP_FI_FLAGS }, { "UID", IMAP_FI_UID },
		{ "INTERNALDATE", IMAP_FI_INTERNALDATE },
		{ "RFC822.SIZE", IMAP_FI_RFC822_SIZE },
		{ "ENVELOPE", IMAP_FI_ENVELOPE }, { "BODY", IMAP_FI_BODY },
		{ "BODYSTRUCTURE", IMAP_FI_BODYSTRUCTURE },
		{ "RFC822", IMAP_FI_RFC822 },
		{ "RFC822.HEADER", IMAP_FI_RFC822_HEADER },
		{ "RFC822.TEXT", IMAP_FI_RFC822_TEXT },
		{ "MODSEQ", IMAP_FI_MODSEQ },
	};
	struct imap_fetch *f = c->f;
	struct imap_section *sec;
	char w[WORD_MAX + 1];
	size_t i;

	if (p_word(p, w, "Unknown FETCH item") == -1)
		return -1;
	if (imap_p_peek(p) != '[') {
		for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
			if (strcmp(w, simple[i].name) == 0) {
				f->items |= simple[i].items;
				return 0;
			}
		if (strcmp(w, "BINARY") == 0 || strcmp(w, "BINARY.PEEK") == 0 ||
		    strcmp(w, "BINARY.SIZE") == 0 || strcmp(w, "BODY.PEEK") ==
		    0)
			return fail(p, "Expected '[' after the FETCH item");
		return fail(p, "Unknown FETCH item");
	}
	if (f->nsections == IMAP_FETCH_SECTIONS_MAX)
		return fail(p, "Too many body sections in one FETCH");
	if (f->sections == NULL)
		f->sections = imap_p_alloc(p, IMAP_FETCH_SECTIONS_MAX *
		    sizeof(*f->sections));
	sec = &f->sections[f->nsections];
	memset(sec, 0, sizeof(*sec));
	imap_buf_reset(&c->name);
	if (strcmp(w, "BODY") == 0 || strcmp(w, "BODY.PEEK") == 0) {
		sec->peek = w[4] == '.';
		imap_buf_adds(&c->name, "BODY[");
	} else if (strcmp(w, "BINARY") == 0 || strcmp(w, "BINARY.PEEK") ==
	    0) {
		sec->binary = 1;
		sec->peek = w[6] == '.';
		imap_buf_adds(&c->name, "BINARY[");
	} else if (strcmp(w, "BINARY.SIZE") == 0) {
		sec->binary_size = 1;
		sec->peek = 1;
		imap_buf_adds(&c->name, "BINARY.SIZE[");
	} else {
		return fail(p, "Unknown FETCH item");
	}
	if (p_section(p, c, sec, !sec->binary_size) == -1)
		return -1;
	sec->reply_name = imap_p_alloc(p, c->name.len + 1);
	memcpy((char *)sec->reply_name, c->name.p, c->name.len);
	f->nsections++;
	return 0;
}

/* fetch-modifier list: CHANGEDSINCE n, VANISHED (RFC 7162) */
static int
p_fetch_modifiers(struct imap_parser *p, struct imap_fetch *f)
{
	char w[WORD_MAX + 1];

	if (imap_p_char(p, '(') == -1)
		return fail(p, "Expected '(' before the FETCH modifiers");
	for (;;) {
		if (p_word(p, w, "Unknown FETCH modifier") == -1)
			return -1;
		if (strcmp(w, "CHANGEDSINCE") == 0) {
			if (imap_p_sp(p) == -1 || imap_p_number64(p,
			    &f->changedsince) == -1)
				return fail(p, "CHANGEDSINCE needs a "
				    "mod-sequence");
			f->changedsince_set = 1;
			f->items |= IMAP_FI_MODSEQ;
		} else if (strcmp(w, "VANISHED") == 0) {
			f->vanished = 1;
		} else {
			return fail(p, "Unknown FETCH modifier");
		}
		if (imap_p_peek(p) == ')')
			break;
		if (imap_p_sp(p) == -1)
			return fail(p, "Expected ')' after the FETCH "
			    "modifiers");
	}
	p->pos++;
	if (f->vanished && !f->changedsince_set)
		return fail(p, "VANISHED needs CHANGEDSINCE");
	return 0;
}

int
imap_p_fetch(struct imap_parser *p, struct imap_fetch *f)
{
	struct fetch_ctx c;
	char w[WORD_MAX + 1];
	size_t save;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	memset(&c, 0, sizeof(c));
	c.f = f;
	imap_buf_init(&c.name);
	if (imap_p_sp(p) == -1)
		goto out;
	if (imap_p_peek(p) == '(') {
		p->pos++;
		for (;;) {
			if (p_fetch_att(p, &c) == -1)
				goto out;
			if (imap_p_peek(p) == ')')
				break;
			if (imap_p_sp(p) == -1) {
				fail(p, "Expected ')' after the FETCH items");
				goto out;
			}
		}
		p->pos++;
	} else {
		save = p->pos;
		if (p_word(p, w, "Unknown FETCH item") == 0 &&
		    imap_p_peek(p) != '[' && (strcmp(w, "ALL") == 0 ||
		    strcmp(w, "FAST") == 0 || strcmp(w, "FULL") == 0)) {
			f->items = IMAP_FI_FLAGS | IMAP_FI_INTERNALDATE |
			    IMAP_FI_RFC822_SIZE;
			if (w[1] != 'A')	/* ALL, FULL */
				f->items |= IMAP_FI_ENVELOPE;
			if (w[1] == 'U')	/* FULL */
				f->items |= IMAP_FI_BODY;
		} else {
			p->pos = save;
			if (p_fetch_att(p, &c) == -1)
				goto out;
		}
	}
	if (imap_p_peek(p) == ' ') {
		p->pos++;
		if (p_fetch_modifiers(p, f) == -1)
			goto out;
	}
	rc = imap_p_end(p);
out:
	imap_buf_free(&c.name);
	return rc;
}

/* STORE -------------------------------------------------------------- */

int
imap_p_store(struct imap_parser *p, struct imap_store *st)
{
	char w[WORD_MAX + 1];
	int c;

	memset(st, 0, sizeof(*st));
	if (imap_p_sp(p) == -1)
		return -1;
	if (imap_p_peek(p) == '(') {
		p->pos++;
		if (p_word(p, w, "Expected UNCHANGEDSINCE") == -1 ||
		    strcmp(w, "UNCHANGEDSINCE") != 0)
			return fail(p, "Unknown STORE modifier");
		if (imap_p_sp(p) == -1 || imap_p_number64(p,
		    &st->unchangedsince) == -1)
			return fail(p, "UNCHANGEDSINCE needs a mod-sequence");
		if (imap_p_char(p, ')') == -1 || imap_p_sp(p) == -1)
			return fail(p, "Expected ') ' after the STORE "
			    "modifier");
		st->unchangedsince_set = 1;
	}
	st->mode = STORE_FLAGS_SET;
	if ((c = imap_p_peek(p)) == '+' || c == '-') {
		st->mode = c == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		p->pos++;
	}
	if (p_word(p, w, "Expected FLAGS, +FLAGS or -FLAGS") == -1)
		return -1;
	if (strcmp(w, "FLAGS.SILENT") == 0)
		st->silent = 1;
	else if (strcmp(w, "FLAGS") != 0)
		return fail(p, "Expected FLAGS, +FLAGS or -FLAGS");
	if (imap_p_sp(p) == -1)
		return fail(p, "Expected the flags to store");
	if (imap_p_peek(p) == '(') {
		if (imap_p_flag_list(p, &st->flags) == -1)
			return -1;
	} else {
		/* flag *(SP flag) without parentheses */
		for (;;) {
			if (p_flag(p, &st->flags, 0) == -1)
				return -1;
			if (imap_p_at_end(p))
				break;
			if (imap_p_sp(p) == -1)
				return -1;
		}
	}
	return imap_p_end(p);
}

/* SEARCH, SORT, THREAD -------------------------------------------------- */

static struct imap_search_key *
key_new(struct imap_parser *p, struct search_ctx *c, enum imap_skey type)
{
	struct imap_search_key *k;

	if (c->nkeys == IMAP_SEARCH_KEYS_MAX) {
		fail(p, "Too many search keys");
		return NULL;
	}
	c->nkeys++;
	k = imap_p_alloc(p, sizeof(*k));
	k->type = type;
	return k;
}

/* MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer */
static int
p_search_modseq(struct imap_parser *p, struct imap_search_key *k)
{
	struct imap_str name;
	char w[WORD_MAX + 1];

	if (imap_p_sp(p) == -1)
		return -1;
	if (imap_p_peek(p) == '"') {
		if (imap_p_string(p, &name) == -1)
			return -1;
		if (name.len <= 7 || strncasecmp(name.s, "/flags/", 7) != 0)
			return fail(p, "Invalid MODSEQ entry name "
			    "(\"/flags/...\")");
		if (imap_p_sp(p) == -1 || p_word(p, w, "Expected priv, "
		    "shared or all") == -1)
			return -1;
		if (strcmp(w, "PRIV") != 0 && strcmp(w, "SHARED") != 0 &&
		    strcmp(w, "ALL") != 0)
			return fail(p, "Expected priv, shared or all");
		if (imap_p_sp(p) == -1)
			return -1;
	}
	if (imap_p_number64(p, &k->num) == -1)
		return fail(p, "MODSEQ needs a mod-sequence");
	return 0;
}

static int
p_search_key(struct imap_parser *p, struct search_ctx *c, int depth,
    struct imap_search_key **r)
{
	static const struct {
		const char	*name;
		enum imap_skey	 type;
		uint32_t	 flags;
	} flagkeys[] = {
		{ "ALL", IMAP_SK_ALL, 0 },
		{ "ANSWERED", IMAP_SK_FLAG, STORE_F_ANSWERED },
		{ "DELETED", IMAP_SK_FLAG, STORE_F_DELETED },
		{ "DRAFT", IMAP_SK_FLAG, STORE_F_DRAFT },
		{ "FLAGGED", IMAP_SK_FLAG, STORE_F_FLAGGED },
		{ "SEEN", IMAP_SK_FLAG, STORE_F_SEEN },
		{ "UNANSWERED", IMAP_SK_UNFLAG, STORE_F_ANSWERED },
		{ "UNDELETED", IMAP_SK_UNFLAG, STORE_F_DELETED },
		{ "UNDRAFT", IMAP_SK_UNFLAG, STORE_F_DRAFT },
		{ "UNFLAGGED", IMAP_SK_UNFLAG, STORE_F_FLAGGED },
		{ "UNSEEN", IMAP_SK_UNFLAG, STORE_F_SEEN },
		{ "NEW", IMAP_SK_NEW, 0 },
		{ "OLD", IMAP_SK_OLD, 0 },
		{ "RECENT", IMAP_SK_RECENT, 0 },
	}, datekeys[] = {
		{ "BEFORE", IMAP_SK_BEFORE, 0 }, { "ON", IMAP_SK_ON, 0 },
		{ "SINCE", IMAP_SK_SINCE, 0 },
		{ "SENTBEFORE", IMAP_SK_SENTBEFORE, 0 },
		{ "SENTON", IMAP_SK_SENTON, 0 },
		{ "SENTSINCE", IMAP_SK_SENTSINCE, 0 },
	};
	static const char *const hdrkeys[] = { "FROM", "TO", "CC", "BCC",
	    "SUBJECT" };
	struct imap_search_key *k, **tail;
	char w[WORD_MAX + 1];
	uint32_t n32;
	size_t i;
	int ch = imap_p_peek(p);

	*r = NULL;
	if (depth > IMAP_SEARCH_DEPTH_MAX)
		return fail(p, "Search keys nested too deep");
	if (ch == '(') {
		if (c->nest == IMAP_NEST_MAX)
			return fail(p, "Parentheses nested too deep");
		p->pos++;
		c->nest++;
		if ((k = key_new(p, c, IMAP_SK_AND)) == NULL)
			return -1;
		tail = &k->child;
		for (;;) {
			if (p_search_key(p, c, depth + 1, tail) == -1)
				return -1;
			tail = &(*tail)->next;
			if (imap_p_peek(p) == ')')
				break;
			if (imap_p_sp(p) == -1)
				return fail(p, "Expected ')' after the search "
				    "keys");
		}
		p->pos++;
		c->nest--;
		*r = k;
		return 0;
	}
	if (ch == '$' || ch == '*' || (ch >= '0' && ch <= '9')) {
		if ((k = key_new(p, c, IMAP_SK_SEQSET)) == NULL ||
		    imap_p_seqset(p, &k->set) == -1)
			return -1;
		*r = k;
		return 0;
	}
	if (p_word(p, w, "Unknown search key") == -1)
		return -1;
	for (i = 0; i < sizeof(flagkeys) / sizeof(flagkeys[0]); i++)
		if (strcmp(w, flagkeys[i].name) == 0) {
			if ((k = key_new(p, c, flagkeys[i].type)) == NULL)
				return -1;
			k->flags = flagkeys[i].flags;
			*r = k;
			return 0;
		}
	/* Every other key has arguments. */
	for (i = 0; i < sizeof(datekeys) / sizeof(datekeys[0]); i++)
		if (strcmp(w, datekeys[i].name) == 0) {
			if ((k = key_new(p, c, datekeys[i].type)) == NULL ||
			    imap_p_sp(p) == -1 || imap_p_date(p, &k->date) ==
			    -1)
				return -1;
			*r = k;
			return 0;
		}
	for (i = 0; i < sizeof(hdrkeys) / sizeof(hdrkeys[0]); i++)
		if (strcmp(w, hdrkeys[i]) == 0) {
			if ((k = key_new(p, c, IMAP_SK_HEADER)) == NULL)
				return -1;
			k->name.s = hdrkeys[i];
			k->name.len = strlen(hdrkeys[i]);
			if (imap_p_sp(p) == -1 || imap_p_astring(p, &k->str) ==
			    -1)
				return -1;
			*r = k;
			return 0;
		}
	if (strcmp(w, "HEADER") == 0) {
		if ((k = key_new(p, c, IMAP_SK_HEADER)) == NULL ||
		    imap_p_sp(p) == -1 || imap_p_astring(p, &k->name) == -1 ||
		    imap_p_sp(p) == -1 || imap_p_astring(p, &k->str) == -1)
			return -1;
	} else if (strcmp(w, "BODY") == 0 || strcmp(w, "TEXT") == 0) {
		if ((k = key_new(p, c, w[0] == 'B' ? IMAP_SK_BODY :
		    IMAP_SK_TEXT)) == NULL || imap_p_sp(p) == -1 ||
		    imap_p_astring(p, &k->str) == -1)
			return -1;
	} else if (strcmp(w, "KEYWORD") == 0 || strcmp(w, "UNKEYWORD") == 0) {
		if ((k = key_new(p, c, w[0] == 'K' ? IMAP_SK_KEYWORD :
		    IMAP_SK_UNKEYWORD)) == NULL || imap_p_sp(p) == -1)
			return -1;
		if (imap_p_atom(p, &k->str) == -1)
			return fail(p, "Expected a keyword");
	} else if (strcmp(w, "LARGER") == 0 || strcmp(w, "SMALLER") == 0) {
		if ((k = key_new(p, c, w[0] == 'L' ? IMAP_SK_LARGER :
		    IMAP_SK_SMALLER)) == NULL || imap_p_sp(p) == -1 ||
		    imap_p_number64(p, &k->num) == -1)
			return -1;
	} else if (strcmp(w, "OLDER") == 0 || strcmp(w, "YOUNGER") == 0) {
		if ((k = key_new(p, c, w[0] == 'O' ? IMAP_SK_OLDER :
		    IMAP_SK_YOUNGER)) == NULL || imap_p_sp(p) == -1 ||
		    imap_p_nz_number(p, &n32) == -1)
			return -1;
		k->num = n32;
	} else if (strcmp(w, "UID") == 0) {
		if ((k = key_new(p, c, IMAP_SK_UIDSET)) == NULL ||
		    imap_p_sp(p) == -1 || imap_p_seqset(p, &k->set) == -1)
			return -1;
	} else if (strcmp(w, "MODSEQ") == 0) {
		if ((k = key_new(p, c, IMAP_SK_MODSEQ)) == NULL ||
		    p_search_modseq(p, k) == -1)
			return -1;
		c->s->uses_modseq = 1;
	} else if (strcmp(w, "NOT") == 0) {
		if ((k = key_new(p, c, IMAP_SK_NOT)) == NULL ||
		    imap_p_sp(p) == -1 || p_search_key(p, c, depth + 1,
		    &k->child) == -1)
			return -1;
	} else if (strcmp(w, "OR") == 0) {
		if ((k = key_new(p, c, IMAP_SK_OR)) == NULL ||
		    imap_p_sp(p) == -1 || p_search_key(p, c, depth + 1,
		    &k->child) == -1 || imap_p_sp(p) == -1 ||
		    p_search_key(p, c, depth + 1, &k->child->next) == -1)
			return -1;
	} else {
		return fail(p, "Unknown search key");
	}
	*r = k;
	return 0;
}

/* search-key *(SP search-key) through the end, under an AND root. */
static int
p_search_keys(struct imap_parser *p, struct imap_search *s)
{
	struct search_ctx c = { s, 0, 0 };
	struct imap_search_key **tail;

	if ((s->root = key_new(p, &c, IMAP_SK_AND)) == NULL)
		return -1;
	tail = &s->root->child;
	for (;;) {
		if (p_search_key(p, &c, 1, tail) == -1)
			return -1;
		tail = &(*tail)->next;
		if (imap_p_at_end(p))
			return 0;
		if (imap_p_sp(p) == -1)
			return -1;
	}
}

/* RETURN "(" [search-return-opt *(SP search-return-opt)] ")" */
static int
p_search_return(struct imap_parser *p, struct imap_search *s)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} opts[] = {
		{ "MIN", IMAP_SR_MIN }, { "MAX", IMAP_SR_MAX },
		{ "ALL", IMAP_SR_ALL }, { "COUNT", IMAP_SR_COUNT },
		{ "SAVE", IMAP_SR_SAVE },
	};
	char w[WORD_MAX + 1];
	size_t i;

	if (imap_p_char(p, '(') == -1)
		return fail(p, "Expected '(' after RETURN");
	s->ret_given = 1;
	if (imap_p_peek(p) != ')') {
		for (;;) {
			if (p_word(p, w, "Unknown SEARCH return option") == -1)
				return -1;
			for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
				if (strcmp(w, opts[i].name) == 0)
					break;
			if (i == sizeof(opts) / sizeof(opts[0]))
				return fail(p, "Unknown SEARCH return option");
			s->ret |= opts[i].bit;
			if (imap_p_peek(p) == ')')
				break;
			if (imap_p_sp(p) == -1)
				return fail(p, "Expected ')' after the return "
				    "options");
		}
	}
	p->pos++;
	if (s->ret == 0)
		s->ret = IMAP_SR_ALL;
	return 0;
}

/* Whether the next word is kw (any case) followed by SP; consumed. */
static int
p_keyword_sp(struct imap_parser *p, const char *kw)
{
	size_t n = strlen(kw);

	if (p->len - p->pos > n && strncasecmp(p->buf + p->pos, kw, n) == 0 &&
	    p->buf[p->pos + n] == ' ') {
		p->pos += n + 1;
		return 1;
	}
	return 0;
}

int
imap_p_search(struct imap_parser *p, struct imap_search *s)
{
	memset(s, 0, sizeof(*s));
	if (imap_p_sp(p) == -1)
		return -1;
	if (p_keyword_sp(p, "RETURN")) {
		if (p_search_return(p, s) == -1 || imap_p_sp(p) == -1)
			return -1;
	}
	if (p_keyword_sp(p, "CHARSET")) {
		if (imap_p_astring(p, &s->charset) == -1 || imap_p_sp(p) == -1)
			return fail(p, "Expected a charset and search keys");
	}
	return p_search_keys(p, s);
}

int
imap_p_sort(struct imap_parser *p, struct imap_sort *so)
{
	static const struct {
		const char		*name;
		enum imap_sort_key	 key;
	} keys[] = {
		{ "ARRIVAL", IMAP_SORT_ARRIVAL }, { "CC", IMAP_SORT_CC },
		{ "DATE", IMAP_SORT_DATE }, { "FROM", IMAP_SORT_FROM },
		{ "SIZE", IMAP_SORT_SIZE }, { "SUBJECT", IMAP_SORT_SUBJECT },
		{ "TO", IMAP_SORT_TO }, { "DISPLAYFROM", IMAP_SORT_DISPLAYFROM },
		{ "DISPLAYTO", IMAP_SORT_DISPLAYTO },
	};
	char w[WORD_MAX + 1];
	size_t i;
	int reverse;

	memset(so, 0, sizeof(*so));
	if (imap_p_sp(p) == -1)
		return -1;
	if (imap_p_char(p, '(') == -1)
		return fail(p, "Expected '(' and the sort criteria");
	for (;;) {
		reverse = p_keyword_sp(p, "REVERSE");
		if (p_word(p, w, "Unknown sort criterion") == -1)
			return -1;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(w, keys[i].name) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return fail(p, "Unknown sort criterion");
		if (so->nkeys == IMAP_SORT_KEYS_MAX)
			return fail(p, "Too many sort criteria");
		so->keys[so->nkeys].key = keys[i].key;
		so->keys[so->nkeys].reverse = reverse;
		so->nkeys++;
		if (imap_p_peek(p) == ')')
			break;
		if (imap_p_sp(p) == -1)
			return fail(p, "Expected ')' after the sort criteria");
	}
	p->pos++;
	if (imap_p_sp(p) == -1 || imap_p_astring(p, &so->search.charset) ==
	    -1)
		return fail(p, "Expected a charset after the sort criteria");
	if (imap_p_sp(p) == -1)
		return fail(p, "Expected search keys after the charset");
	return p_search_keys(p, &so->search);
}

int
imap_p_thread(struct imap_parser *p, struct imap_thread *t)
{
	char w[WORD_MAX + 1];

	memset(t, 0, sizeof(*t));
	if (imap_p_sp(p) == -1)
		return -1;
	if (p_word(p, w, "Unknown threading algorithm") == -1)
		return -1;
	if (strcmp(w, "ORDEREDSUBJECT") == 0)
		t->alg = IMAP_THREAD_ORDEREDSUBJECT;
	else if (strcmp(w, "REFERENCES") == 0)
		t->alg = IMAP_THREAD_REFERENCES;
	else
		return fail(p, "Unknown threading algorithm");
	if (imap_p_sp(p) == -1 || imap_p_astring(p, &t->search.charset) == -1)
		return fail(p, "Expected a charset after the algorithm");
	if (imap_p_sp(p) == -1)
		return fail(p, "Expected search keys after the charset");
	return p_search_keys(p, &t->search);
}

/* LIST, STATUS ---------------------------------------------------------- */

/* "(" status-att *(SP status-att) ")" without the SP before it */
static int
p_status_list(struct imap_parser *p, unsigned *items)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} atts[] = {
		{ "MESSAGES", IMAP_ST_MESSAGES }, { "RECENT", IMAP_ST_RECENT },
		{ "UIDNEXT", IMAP_ST_UIDNEXT },
		{ "UIDVALIDITY", IMAP_ST_UIDVALIDITY },
		{ "UNSEEN", IMAP_ST_UNSEEN },
		{ "HIGHESTMODSEQ", IMAP_ST_HIGHESTMODSEQ },
		{ "SIZE", IMAP_ST_SIZE }, { "DELETED", IMAP_ST_DELETED },
		{ "APPENDLIMIT", IMAP_ST_APPENDLIMIT },
		{ "DELETED-STORAGE", IMAP_ST_DELETED_STORAGE },
	};
	char w[WORD_MAX + 1];
	size_t i;

	*items = 0;
	if (imap_p_char(p, '(') == -1)
		return fail(p, "Expected '(' and STATUS items");
	for (;;) {
		if (p_word(p, w, "Unknown STATUS item") == -1)
			return -1;
		for (i = 0; i < sizeof(atts) / sizeof(atts[0]); i++)
			if (strcmp(w, atts[i].name) == 0)
				break;
		if (i == sizeof(atts) / sizeof(atts[0]))
			return fail(p, "Unknown STATUS item");
		*items |= atts[i].bit;
		if (imap_p_peek(p) == ')')
			break;
		if (imap_p_sp(p) == -1)
			return fail(p, "Expected ')' after the STATUS items");
	}
	p->pos++;
	return 0;
}

int
imap_p_status_items(struct imap_parser *p, unsigned *items)
{
	*items = 0;
	if (imap_p_sp(p) == -1 || p_status_list(p, items) == -1)
		return -1;
	return imap_p_end(p);
}

/* "(" [option *(SP option)] ")" of LIST's selection options */
static int
p_list_select(struct imap_parser *p, struct imap_list *l)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} opts[] = {
		{ "SUBSCRIBED", IMAP_LS_SUBSCRIBED },
		{ "REMOTE", IMAP_LS_REMOTE },
		{ "RECURSIVEMATCH", IMAP_LS_RECURSIVEMATCH },
		{ "SPECIAL-USE", IMAP_LS_SPECIAL_USE },
	};
	char w[WORD_MAX + 1];
	size_t i;

	p->pos++;	/* '(' */
	if (imap_p_peek(p) != ')') {
		for (;;) {
			if (p_word(p, w, "Unknown LIST selection option") ==
			    -1)
				return -1;
			for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
				if (strcmp(w, opts[i].name) == 0)
					break;
			if (i == sizeof(opts) / sizeof(opts[0]))
				return fail(p, "Unknown LIST selection option");
			l->select |= opts[i].bit;
			if (imap_p_peek(p) == ')')
				break;
			if (imap_p_sp(p) == -1)
				return fail(p, "Expected ')' after the LIST "
				    "selection options");
		}
	}
	p->pos++;
	/* RFC 5258 3.1: RECURSIVEMATCH needs an option it modifies. */
	if ((l->select & IMAP_LS_RECURSIVEMATCH) && (l->select &
	    ~(unsigned)(IMAP_LS_RECURSIVEMATCH | IMAP_LS_REMOTE)) == 0)
		return fail(p, "RECURSIVEMATCH needs another selection option");
	return 0;
}

/* "RETURN" SP "(" [option *(SP option)] ")" */
static int
p_list_return(struct imap_parser *p, struct imap_list *l)
{
	char w[WORD_MAX + 1];

	if (imap_p_char(p, '(') == -1)
		return fail(p, "Expected '(' after RETURN");
	if (imap_p_peek(p) != ')') {
		for (;;) {
			if (p_word(p, w, "Unknown LIST return option") == -1)
				return -1;
			if (strcmp(w, "SUBSCRIBED") == 0)
				l->ret |= IMAP_LR_SUBSCRIBED;
			else if (strcmp(w, "CHILDREN") == 0)
				l->ret |= IMAP_LR_CHILDREN;
			else if (strcmp(w, "SPECIAL-USE") == 0)
				l->ret |= IMAP_LR_SPECIAL_USE;
			else if (strcmp(w, "STATUS") == 0) {
				l->ret |= IMAP_LR_STATUS;
				if (imap_p_sp(p) == -1 || p_status_list(p,
				    &l->status) == -1)
					return -1;
			} else
				return fail(p, "Unknown LIST return option");
			if (imap_p_peek(p) == ')')
				break;
			if (imap_p_sp(p) == -1)
				return fail(p, "Expected ')' after the LIST "
				    "return options");
		}
	}
	p->pos++;
	return 0;
}

int
imap_p_list(struct imap_parser *p, struct imap_list *l)
{
	memset(l, 0, sizeof(*l));
	if (imap_p_sp(p) == -1)
		return -1;
	if (imap_p_peek(p) == '(') {
		l->extended = 1;
		if (p_list_select(p, l) == -1 || imap_p_sp(p) == -1)
			return -1;
	}
	if (imap_p_astring(p, &l->reference) == -1)
		return fail(p, "Expected a reference name");
	if (imap_p_sp(p) == -1)
		return fail(p, "Expected a mailbox pattern");
	if (imap_p_peek(p) == '(') {
		p->pos++;
		l->extended = 1;
		for (;;) {
			if (l->npatterns == IMAP_LIST_PATTERNS_MAX)
				return fail(p, "Too many LIST patterns");
			if (imap_p_list_mailbox(p,
			    &l->patterns[l->npatterns]) == -1)
				return -1;
			l->npatterns++;
			if (imap_p_peek(p) == ')')
				break;
			if (imap_p_sp(p) == -1)
				return fail(p, "Expected ')' after the LIST "
				    "patterns");
		}
		p->pos++;
	} else {
		if (imap_p_list_mailbox(p, &l->patterns[0]) == -1)
			return -1;
		l->npatterns = 1;
	}
	if (imap_p_peek(p) == ' ') {
		p->pos++;
		if (!p_keyword_sp(p, "RETURN"))
			return fail(p, "Expected RETURN after the patterns");
		l->extended = 1;
		if (p_list_return(p, l) == -1)
			return -1;
	}
	return imap_p_end(p);
}

/* SELECT / EXAMINE parameters ------------------------------------------ */

/* A sequence set without '*' or '$' (QRESYNC's known UIDs and numbers). */
static int
p_known_set(struct imap_parser *p, struct imap_seqset *set)
{
	size_t i;

	if (imap_p_peek(p) == '$' || imap_p_seqset(p, set) == -1)
		return fail(p, "Expected a set of known UIDs");
	for (i = 0; i < set->n; i++)
		if (set->r[i].hi == IMAP_SEQ_STAR)
			return fail(p, "'*' is not allowed in QRESYNC sets");
	return 0;
}

/* QRESYNC SP "(" uidvalidity SP modseq [SP known-uids] [SP seq-match] ")" */
static int
p_qresync(struct imap_parser *p, struct imap_select *s)
{
	if (imap_p_sp(p) == -1 || imap_p_char(p, '(') == -1)
		return fail(p, "Expected '(' after QRESYNC");
	if (imap_p_nz_number(p, &s->q_uidvalidity) == -1 || imap_p_sp(p) ==
	    -1 || imap_p_number64(p, &s->q_modseq) == -1 || s->q_modseq == 0)
		return fail(p, "QRESYNC needs a UIDVALIDITY and a "
		    "mod-sequence");
	if (imap_p_peek(p) == ' ' && p->pos + 1 < p->len &&
	    p->buf[p->pos + 1] != '(') {
		p->pos++;
		if (p_known_set(p, &s->q_known_uids) == -1)
			return -1;
	}
	if (imap_p_peek(p) == ' ') {
		p->pos++;
		if (imap_p_char(p, '(') == -1 || p_known_set(p,
		    &s->q_seq_match) == -1 || imap_p_sp(p) == -1 ||
		    p_known_set(p, &s->q_uid_match) == -1 || imap_p_char(p,
		    ')') == -1)
			return fail(p, "Invalid QRESYNC sequence match data");
	}
	if (imap_p_char(p, ')') == -1)
		return fail(p, "Expected ')' after the QRESYNC parameters");
	s->qresync = 1;
	return 0;
}

int
imap_p_select_params(struct imap_parser *p, struct imap_select *s)
{
	char w[WORD_MAX + 1];

	memset(s, 0, sizeof(*s));
	if (imap_p_at_end(p))
		return 0;
	if (imap_p_sp(p) == -1 || imap_p_char(p, '(') == -1)
		return fail(p, "Expected '(' and SELECT parameters");
	for (;;) {
		if (p_word(p, w, "Unknown SELECT parameter") == -1)
			return -1;
		if (strcmp(w, "CONDSTORE") == 0) {
			s->condstore = 1;
		} else if (strcmp(w, "QRESYNC") == 0) {
			if (s->qresync)
				return fail(p, "QRESYNC given twice");
			if (p_qresync(p, s) == -1)
				return -1;
		} else {
			return fail(p, "Unknown SELECT parameter");
		}
		if (imap_p_peek(p) == ')')
			break;
		if (imap_p_sp(p) == -1)
			return fail(p, "Expected ')' after the SELECT "
			    "parameters");
	}
	p->pos++;
	return imap_p_end(p);
}

/* APPEND -------------------------------------------------------------- */

int
imap_p_append_msg(struct imap_parser *p, struct imap_append_msg *m)
{
	uint64_t n;
	size_t i;
	int nonsync, binary;

	memset(m, 0, sizeof(*m));
	if (imap_p_at_end(p))
		return 1;
	if (imap_p_sp(p) == -1)
		return -1;
	if (imap_p_peek(p) == '(') {
		if (imap_p_flag_list(p, &m->flags) == -1 || imap_p_sp(p) == -1)
			return -1;
		m->have_flags = 1;
	}
	if (imap_p_peek(p) == '"') {
		if (imap_p_date_time(p, &m->date, NULL) == -1 ||
		    imap_p_sp(p) == -1)
			return -1;
		m->have_date = 1;
	}
	/* RFC 6855 4: UTF8 SP "(" literal8, the ")" on the next line */
	if (p_keyword_sp(p, "UTF8")) {
		if (imap_p_char(p, '(') == -1 || imap_p_peek(p) != '~')
			return fail(p, "Expected (~{size} after UTF8");
		m->utf8 = 1;
	}
	/* The announcement is the rest of the line, nothing else. */
	if (imap_p_peek(p) != '{' && imap_p_peek(p) != '~')
		return fail(p, "Expected the message literal");
	switch (imap_line_literal(p->buf + p->pos, p->len - p->pos, &n,
	    &nonsync, &binary)) {
	case -1:
		return fail(p, "Literal size too large");
	case 0:
		return fail(p, "Expected the message literal");
	}
	/* It must start right here: "~{N}" or "{N}", digits only. */
	i = p->pos + (binary ? 1 : 0);
	if (i >= p->len || p->buf[i] != '{')
		return fail(p, "Expected the message literal");
	for (i++; i < p->len - 1 - (nonsync ? 1 : 0); i++)
		if (p->buf[i] < '0' || p->buf[i] > '9')
			return fail(p, "Expected the message literal");
	m->size = n;
	m->nonsync = nonsync;
	m->binary = binary;
	p->pos = p->len;
	return 0;
}

int
imap_p_append_utf8_end(struct imap_parser *p)
{
	if (imap_p_char(p, ')') == -1)
		return fail(p, "Expected ')' after the UTF8 message");
	return 0;
}

/* ENABLE, ID ------------------------------------------------------------ */

int
imap_p_id(struct imap_parser *p, struct imap_id *id)
{
	struct imap_str nil;

	memset(id, 0, sizeof(*id));
	if (imap_p_sp(p) == -1)
		return -1;
	if (imap_p_peek(p) != '(') {
		if (imap_p_nstring(p, &nil) == -1 || nil.s != NULL)
			return fail(p, "Expected NIL or a list of ID "
			    "parameters");
		return imap_p_end(p);
	}
	p->pos++;
	if (imap_p_peek(p) != ')') {
		for (;;) {
			if (id->n == IMAP_ID_PAIRS_MAX)
				return fail(p, "Too many ID parameters");
			if (imap_p_string(p, &id->keys[id->n]) == -1 ||
			    imap_p_sp(p) == -1 || imap_p_nstring(p,
			    &id->values[id->n]) == -1)
				return fail(p, "Expected an ID field and its "
				    "value");
			id->n++;
			if (imap_p_peek(p) == ')')
				break;
			if (imap_p_sp(p) == -1)
				return fail(p, "Expected ')' after the ID "
				    "parameters");
		}
	}
	p->pos++;
	return imap_p_end(p);
}
