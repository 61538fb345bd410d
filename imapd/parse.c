/*
 * parse.c - IMAP command syntax: a recursive-descent parser over one
 * assembled command (parse.h).  Recursion is bounded by IMAP_NEST_MAX and
 * IMAP_SEARCH_DEPTH_MAX; every list is bounded by a named limit, so time
 * and memory stay linear in the command's length.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "imapd/buf.h"
#include "imapd/parse.h"
#include "mail/utf7.h"
#include "store/message.h"

/* One allocation of the arena (imap_p_alloc). */
struct arena_blk {
	struct arena_blk	*next;
	max_align_t		 data[];
};

static int	fail(struct imap_parser *, const char *);
static int	is_atom_char(int);
static int	is_astring_char(int);
static int	is_list_char(int);
static int	p_chars(struct imap_parser *, int (*)(int), size_t,
		    struct imap_str *, const char *);
static int	p_quoted(struct imap_parser *, struct imap_str *);
static int	p_literal(struct imap_parser *, struct imap_str *);
static int	p_digits64(struct imap_parser *, uint64_t, uint64_t *,
		    const char *);
static int	p_seq_number(struct imap_parser *, uint32_t *);
static int	p_flag(struct imap_parser *, struct imap_flags *, int);
static int	kw_add(struct imap_parser *, struct imap_flags *,
		    const struct imap_str *);

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
	uint64_t n = 0;
	size_t start = p->pos;
	unsigned d;

	while (p->pos < p->len && p->buf[p->pos] >= '0' &&
	    p->buf[p->pos] <= '9') {
		d = (unsigned)(p->buf[p->pos] - '0');
		if (n > (max - d) / 10) {
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
	if (v.len > IMAP_VERB_MAX)
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
		else if (strchr("0123456789:*", p->buf[i]) == NULL ||
		    p->buf[i] == '\0')
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
