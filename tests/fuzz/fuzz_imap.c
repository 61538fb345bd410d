/*
 * fuzz_imap.c - the IMAP command parser (imapd/parse.c), the response
 * strings (imapd/buf.c) and modified UTF-7 (mail/utf7.c) on any bytes.
 *
 * The input as one assembled command: imap_p_command(), then the
 * argument parser its verb calls for (after a sequence set where the
 * verb has one).  The input also goes straight through every argument
 * parser and the token functions.  What must hold: a parser returns a
 * documented value, sets an error text exactly when it fails, never
 * moves past the end; what it accepts is within the limits of parse.h
 * (ranges lo <= hi, sections, fields, search depth and keys).  Strings
 * written by imap_buf_string()/imap_buf_astring() parse back to the same
 * bytes; modified UTF-7 that decodes encodes back to itself and UTF-8
 * that encodes decodes back to itself.
 */
#include <string.h>

#include "common/xmalloc.h"
#include "imapd/buf.h"
#include "imapd/parse.h"
#include "mail/utf7.h"

#include "fuzz.h"

#define FUZZ_LINES_MAX	32

static void	check_rc(const struct imap_parser *, int, const char *);
static void	check_set(const struct imap_seqset *);
static size_t	check_keys(const struct imap_search_key *, int);
static void	check_search(const struct imap_search *);
static void	check_fetch(const struct imap_fetch *);
static void	fuzz_args(const char *, size_t, int, int);
static void	fuzz_command(const char *, size_t, int);
static void	fuzz_strings(const char *, size_t);
static void	fuzz_utf7(const char *, size_t);

static void
check_rc(const struct imap_parser *p, int rc, const char *what)
{
	FUZZ_CHECK(rc == -1 || rc == 0 || rc == 1, "%s: rc %d", what, rc);
	FUZZ_CHECK(p->pos <= p->len, "%s: pos %zu beyond %zu", what, p->pos,
	    p->len);
	if (rc == -1)
		FUZZ_CHECK(p->err != NULL && p->err[0] != '\0', "%s failed "
		    "without a message", what);
}

static void
check_set(const struct imap_seqset *s)
{
	size_t i;

	if (s->saved) {
		FUZZ_CHECK(s->n == 0, "\"$\" with %zu ranges", s->n);
		return;
	}
	FUZZ_CHECK(s->n >= 1 && s->n <= IMAP_SEQSET_MAX, "%zu ranges", s->n);
	for (i = 0; i < s->n; i++)
		FUZZ_CHECK(s->r[i].lo >= 1 && s->r[i].lo <= s->r[i].hi,
		    "range %u:%u", s->r[i].lo, s->r[i].hi);
}

/* Keys in the tree under k (siblings included); depth checked. */
static size_t
check_keys(const struct imap_search_key *k, int depth)
{
	size_t n = 0, kids;

	FUZZ_CHECK(depth <= IMAP_SEARCH_DEPTH_MAX + 1, "search depth %d",
	    depth);
	for (; k != NULL; k = k->next) {
		n++;
		kids = check_keys(k->child, depth + 1);
		switch (k->type) {
		case IMAP_SK_AND:
			FUZZ_CHECK(kids >= 1, "empty AND");
			break;
		case IMAP_SK_OR:
			FUZZ_CHECK(k->child != NULL && k->child->next != NULL &&
			    k->child->next->next == NULL, "OR without two "
			    "keys");
			break;
		case IMAP_SK_NOT:
			FUZZ_CHECK(k->child != NULL && k->child->next == NULL,
			    "NOT without one key");
			break;
		case IMAP_SK_SEQSET:
		case IMAP_SK_UIDSET:
			check_set(&k->set);
			break;
		case IMAP_SK_HEADER:
			FUZZ_CHECK(k->name.s != NULL && k->str.s != NULL,
			    "HEADER without name or value");
			break;
		default:
			FUZZ_CHECK(k->child == NULL, "key %d with children",
			    (int)k->type);
		}
		n += kids;
	}
	return n;
}

static void
check_search(const struct imap_search *s)
{
	size_t n;

	FUZZ_CHECK(s->root != NULL && s->root->type == IMAP_SK_AND,
	    "no AND root");
	n = check_keys(s->root, 0);
	FUZZ_CHECK(n <= IMAP_SEARCH_KEYS_MAX, "%zu search keys", n);
	if (s->ret_given)
		FUZZ_CHECK(s->ret != 0, "RETURN without options");
}

static void
check_fetch(const struct imap_fetch *f)
{
	const struct imap_section *s;
	size_t i, fields = 0;

	FUZZ_CHECK(f->items != 0 || f->nsections > 0, "FETCH of nothing");
	FUZZ_CHECK(f->nsections <= IMAP_FETCH_SECTIONS_MAX, "%zu sections",
	    f->nsections);
	FUZZ_CHECK(!f->vanished || f->changedsince_set, "VANISHED alone");
	for (i = 0; i < f->nsections; i++) {
		s = &f->sections[i];
		FUZZ_CHECK(s->depth <= IMAP_SECTION_DEPTH_MAX, "depth %zu",
		    s->depth);
		FUZZ_CHECK(s->reply_name != NULL && (strncmp(s->reply_name,
		    "BODY[", 5) == 0 || strncmp(s->reply_name, "BINARY[", 7) ==
		    0 || strncmp(s->reply_name, "BINARY.SIZE[", 12) == 0) &&
		    strchr(s->reply_name, ']') != NULL, "reply name \"%s\"",
		    s->reply_name);
		FUZZ_CHECK(!s->partial || s->partial_len > 0, "empty partial");
		FUZZ_CHECK(s->fields == (s->nnames > 0), "fields %d names %zu",
		    s->fields, s->nnames);
		FUZZ_CHECK(!s->fields_not || s->fields, "NOT without FIELDS");
		fields += s->nnames;
	}
	FUZZ_CHECK(fields <= IMAP_FETCH_FIELDS_MAX, "%zu field names",
	    fields);
}

/*
 * in (len bytes) through argument parser which; a fresh copy each time
 * (quoted strings are unescaped in place).
 */
static void
fuzz_args(const char *in, size_t len, int which, int utf8)
{
	struct imap_parser p;
	struct imap_fetch f;
	struct imap_store st;
	struct imap_search s;
	struct imap_sort so;
	struct imap_thread th;
	struct imap_list l;
	struct imap_select se;
	struct imap_append_msg m;
	struct imap_id id;
	struct imap_seqset set;
	unsigned items;
	char *copy;
	int rc = -1;

	/* An exact copy (len bytes): a read beyond it shows under ASan. */
	copy = xmalloc(len == 0 ? 1 : len);
	memcpy(copy, in, len);
	imap_parser_init(&p, copy, len, utf8);
	switch (which) {
	case 0:
		if ((rc = imap_p_fetch(&p, &f)) == 0)
			check_fetch(&f);
		break;
	case 1:
		if ((rc = imap_p_store(&p, &st)) == 0)
			FUZZ_CHECK(strlen(st.flags.keywords) <= 400, "keywords");
		break;
	case 2:
		if ((rc = imap_p_search(&p, &s)) == 0)
			check_search(&s);
		break;
	case 3:
		if ((rc = imap_p_sort(&p, &so)) == 0) {
			FUZZ_CHECK(so.nkeys >= 1 && so.nkeys <=
			    IMAP_SORT_KEYS_MAX, "%zu sort keys", so.nkeys);
			FUZZ_CHECK(so.search.charset.s != NULL, "no charset");
			check_search(&so.search);
		}
		break;
	case 4:
		if ((rc = imap_p_thread(&p, &th)) == 0)
			check_search(&th.search);
		break;
	case 5:
		if ((rc = imap_p_list(&p, &l)) == 0)
			FUZZ_CHECK(l.npatterns >= 1 && l.npatterns <=
			    IMAP_LIST_PATTERNS_MAX && (l.npatterns == 1 ||
			    l.extended), "%zu patterns", l.npatterns);
		break;
	case 6:
		if ((rc = imap_p_select_params(&p, &se)) == 0 && se.qresync) {
			FUZZ_CHECK(se.q_uidvalidity > 0 && se.q_modseq > 0,
			    "QRESYNC zero");
			FUZZ_CHECK((se.q_seq_match.n == 0) ==
			    (se.q_uid_match.n == 0), "half a match set");
		}
		break;
	case 7:
		rc = imap_p_append_msg(&p, &m);
		if (rc == 0)
			FUZZ_CHECK(m.size <= INT64_MAX, "size");
		break;
	case 8:
		if ((rc = imap_p_id(&p, &id)) == 0)
			FUZZ_CHECK(id.n <= IMAP_ID_PAIRS_MAX, "%zu pairs",
			    id.n);
		break;
	case 9:
		if ((rc = imap_p_status_items(&p, &items)) == 0)
			FUZZ_CHECK(items != 0 && items <= 0x3ff, "items %x",
			    items);
		break;
	case 10:
		if ((rc = imap_p_seqset(&p, &set)) == 0)
			check_set(&set);
		break;
	}
	check_rc(&p, rc, "argument parser");
	/* The argument parsers read through the end when they succeed. */
	if (rc == 0 && which != 10)
		FUZZ_CHECK(p.pos == p.len, "parser %d stopped at %zu of %zu",
		    which, p.pos, p.len);
	if (rc == 1)
		FUZZ_CHECK(which == 7 && len == 0, "rc 1 from parser %d",
		    which);
	imap_parser_free(&p);
	free(copy);
}

/* The input as one command: head, UID, the verb's arguments. */
static void
fuzz_command(const char *in, size_t len, int utf8)
{
	static const struct {
		const char	*verb;
		int		 seqset;	/* a sequence set comes first */
		int		 which;		/* fuzz_args() parser */
	} verbs[] = {
		{ "FETCH", 1, 0 }, { "STORE", 1, 1 }, { "SEARCH", 0, 2 },
		{ "SORT", 0, 3 }, { "THREAD", 0, 4 }, { "LIST", 0, 5 },
		{ "ID", 0, 8 },
	};
	struct imap_parser p;
	struct imap_seqset set;
	struct imap_str s;
	char tag[IMAP_TAG_MAX + 1], verb[IMAP_VERB_MAX + 1], *copy;
	size_t i;
	int rc;

	copy = xmalloc(len == 0 ? 1 : len);
	memcpy(copy, in, len);
	imap_parser_init(&p, copy, len, utf8);
	rc = imap_p_command(&p, tag, verb);
	check_rc(&p, rc, "imap_p_command");
	if (rc == -1)
		goto out;
	FUZZ_CHECK(tag[0] != '\0' && strlen(tag) <= IMAP_TAG_MAX &&
	    strchr(tag, '+') == NULL, "tag \"%s\"", tag);
	for (i = 0; verb[i] != '\0'; i++)
		FUZZ_CHECK(verb[i] < 'a' || verb[i] > 'z', "verb \"%s\" not "
		    "upper-cased", verb);
	FUZZ_CHECK(imap_p_at_end(&p) || imap_p_peek(&p) == ' ', "verb not "
	    "followed by SP");
	if (strcmp(verb, "UID") == 0) {
		if (imap_p_sp(&p) == -1 || imap_p_atom(&p, &s) == -1 ||
		    s.len > IMAP_VERB_MAX)
			goto out;
		for (i = 0; i < s.len; i++)
			verb[i] = (char)(s.s[i] & ~0x20);
		verb[s.len] = '\0';
	}
	if (strcmp(verb, "SELECT") == 0 || strcmp(verb, "EXAMINE") == 0) {
		if (imap_p_sp(&p) == 0 && imap_p_astring(&p, &s) == 0)
			fuzz_args(p.buf + p.pos, p.len - p.pos, 6, utf8);
		goto out;
	}
	if (strcmp(verb, "STATUS") == 0 || strcmp(verb, "APPEND") == 0) {
		if (imap_p_sp(&p) == 0 && imap_p_astring(&p, &s) == 0)
			fuzz_args(p.buf + p.pos, p.len - p.pos, verb[0] == 'S' ?
			    9 : 7, utf8);
		goto out;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verb, verbs[i].verb) != 0)
			continue;
		if (verbs[i].seqset) {
			if (imap_p_sp(&p) == -1)
				break;
			rc = imap_p_seqset(&p, &set);
			check_rc(&p, rc, "imap_p_seqset");
			if (rc == -1)
				break;
			check_set(&set);
		}
		fuzz_args(p.buf + p.pos, p.len - p.pos, verbs[i].which, utf8);
		break;
	}
out:
	imap_parser_free(&p);
	free(copy);
}

/* What buf.c writes, parse.c reads back as the same bytes. */
static void
fuzz_strings(const char *in, size_t len)
{
	struct imap_buf b;
	struct imap_parser p;
	struct imap_str s;
	int utf8, astring, rc;

	imap_buf_init(&b);
	for (utf8 = 0; utf8 <= 1; utf8++)
		for (astring = 0; astring <= 1; astring++) {
			imap_buf_reset(&b);
			if (astring)
				imap_buf_astring(&b, in, len, utf8);
			else
				imap_buf_string(&b, in, len, utf8);
			imap_parser_init(&p, b.p, b.len, utf8);
			rc = astring ? imap_p_astring(&p, &s) :
			    imap_p_string(&p, &s);
			FUZZ_CHECK(rc == 0, "%zu bytes written as \"%.*s\" do "
			    "not parse: %s", len, (int)(b.len < 80 ? b.len :
			    80), b.p, p.err);
			FUZZ_CHECK(s.len == len && memcmp(s.s, in, len) == 0,
			    "%zu bytes came back as %zu", len, s.len);
			FUZZ_CHECK(imap_p_at_end(&p), "bytes left after the "
			    "string");
			imap_parser_free(&p);
		}
	imap_buf_free(&b);
}

static void
fuzz_utf7(const char *in, size_t len)
{
	char *out, *back, *z;
	size_t size = 5 * len + 8;

	out = xmalloc(size);
	back = xmalloc(size);
	if (utf7_decode(in, len, out, size) == 0) {
		FUZZ_CHECK(utf8_valid(out, strlen(out)), "decoded to invalid "
		    "UTF-8");
		FUZZ_CHECK(utf7_encode(out, back, size) == 0 && strlen(back) ==
		    len && memcmp(back, in, len) == 0, "\"%.*s\" does not "
		    "encode back", (int)len, in);
	}
	z = xstrndup(in, len);
	if (utf7_encode(z, out, size) == 0) {
		FUZZ_CHECK(utf8_valid(z, strlen(z)), "invalid UTF-8 encoded");
		FUZZ_CHECK(utf7_decode(out, strlen(out), back, size) == 0 &&
		    strcmp(back, z) == 0, "\"%s\" does not decode back to "
		    "\"%s\"", out, z);
	} else {
		FUZZ_CHECK(!utf8_valid(z, strlen(z)), "valid UTF-8 refused");
	}
	free(z);
	free(out);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t i, start, n, lines = 0;
	uint64_t lit;
	int which, rc;

	fuzz_command(in, size, 0);
	fuzz_command(in, size, 1);
	for (which = 0; which <= 10; which++)
		fuzz_args(in, size, which, size > 0 && (data[0] & 1));
	if (size <= 4096) {
		fuzz_strings(in, size);
		fuzz_utf7(in, size);
	}
	for (i = 0, start = 0; i <= size && lines < FUZZ_LINES_MAX; i++) {
		if (i < size && in[i] != '\n')
			continue;
		n = i - start;
		if (n > 0 && in[start + n - 1] == '\r')
			n--;
		rc = imap_line_literal(in + start, n, &lit, NULL, NULL);
		FUZZ_CHECK(rc >= -1 && rc <= 1, "imap_line_literal rc %d", rc);
		if (rc == 1)
			FUZZ_CHECK(in[start + n - 1] == '}' && lit <= INT64_MAX,
			    "literal %llu", (unsigned long long)lit);
		fuzz_command(in + start, n, 0);
		start = i + 1;
		lines++;
	}
	return 0;
}
