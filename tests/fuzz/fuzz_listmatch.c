/*
 * fuzz_listmatch.c - LIST patterns and the tree of names
 * (imapd/listmatch.c) on any bytes.  The first line is a pattern, every
 * other line a name.  Each name must match exactly when a plain dynamic
 * programming matcher (no bit sets, no collapsing) says so, with and
 * without INBOX's case rule; the names that are valid store names then
 * go into a tree, whose order, parents, missing levels and children are
 * checked against the names themselves, and a selection over it must
 * emit exactly the matching names.
 */
#include <string.h>
#include <strings.h>

#include "imapd/listmatch.h"
#include "imapd/parse.h"

#include "fuzz.h"

#define FUZZ_NAMES_MAX	64
#define FUZZ_LEN_MAX	600

static int	ref_match(const char *, size_t, const char *, size_t, int);
static int	valid_name(const char *, size_t);

/*
 * m[i][j]: the first i pattern bytes match the first j name bytes.
 * O(pattern x name), with no shared code with the matcher under test.
 */
static int
ref_match(const char *p, size_t pl, const char *s, size_t sl, int inboxcase)
{
	static unsigned char m[FUZZ_LEN_MAX + 1][FUZZ_LEN_MAX + 1];
	int fold = inboxcase && sl >= 5 && strncasecmp(s, "INBOX", 5) == 0 &&
	    (sl == 5 || s[5] == '/');
	size_t i, j;

	m[0][0] = 1;
	for (j = 1; j <= sl; j++)
		m[0][j] = 0;
	for (i = 1; i <= pl; i++) {
		char c = p[i - 1];

		m[i][0] = (c == '*' || c == '%') && m[i - 1][0];
		for (j = 1; j <= sl; j++) {
			char d = s[j - 1];

			if (c == '*')
				m[i][j] = m[i - 1][j] || m[i][j - 1];
			else if (c == '%')
				m[i][j] = m[i - 1][j] ||
				    (d != '/' && m[i][j - 1]);
			else if (fold && j <= 5)
				m[i][j] = m[i - 1][j - 1] &&
				    (c | 0x20) == (d | 0x20) &&
				    ((c >= 'a' && c <= 'z') ||
				    (c >= 'A' && c <= 'Z') || c == d);
			else
				m[i][j] = m[i - 1][j - 1] && c == d;
		}
	}
	return m[pl][sl];
}

/* What the store accepts: no empty level, no control bytes, <= 512. */
static int
valid_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > IMAP_LISTMATCH_NAME_MAX || s[0] == '/' ||
	    s[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
		if (s[i] == '/' && s[i + 1] == '/')
			return 0;
	}
	/* INBOX is only ever stored as "INBOX" */
	if (n >= 5 && strncasecmp(s, "INBOX", 5) == 0 &&
	    (n == 5 || s[5] == '/') && strncmp(s, "INBOX", 5) != 0)
		return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl, *names[FUZZ_NAMES_MAX];
	size_t lens[FUZZ_NAMES_MAX], n = 0, pl, i, k, off;
	struct imap_listmatch *lm, *lmi;
	struct imap_list_tree t;
	char buf[FUZZ_LEN_MAX + 1];

	nl = memchr(in, '\n', size);
	pl = nl != NULL ? (size_t)(nl - in) : size;
	if (pl > FUZZ_LEN_MAX)
		return 0;
	for (off = pl + 1; nl != NULL && off <= size && n < FUZZ_NAMES_MAX;
	    off += lens[n++] + 1) {
		nl = memchr(in + off, '\n', size - off);
		names[n] = in + off;
		lens[n] = nl != NULL ? (size_t)(nl - (in + off)) : size - off;
		if (lens[n] > FUZZ_LEN_MAX)
			return 0;
	}

	lm = imap_listmatch_new(in, pl, '/', 0);
	lmi = imap_listmatch_new(in, pl, '/', 1);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(imap_listmatch(lm, names[i], lens[i]) ==
		    ref_match(in, pl, names[i], lens[i], 0), "name %zu", i);
		FUZZ_CHECK(imap_listmatch(lmi, names[i], lens[i]) ==
		    ref_match(in, pl, names[i], lens[i], 1), "name %zu, "
		    "inboxcase", i);
	}

	imap_list_tree_init(&t);
	for (i = 0; i < n; i++) {
		if (!valid_name(names[i], lens[i]))
			continue;
		memcpy(buf, names[i], lens[i]);
		buf[lens[i]] = '\0';
		for (k = 0; k < t.n; k++)
			if (strcmp(t.v[k].name, buf) == 0)
				break;
		if (k == t.n)
			imap_list_tree_add(&t, buf, (uint32_t)i + 1, 0, i % 2);
	}
	imap_list_tree_build(&t, '/');
	for (i = 0; i < t.n; i++) {
		const struct imap_list_item *it = &t.v[i], *up;
		int has_child = 0;

		FUZZ_CHECK(it->len == strlen(it->name), "item %zu", i);
		if (it->parent != 0) {
			FUZZ_CHECK(it->parent <= i, "parent after child %zu", i);
			up = &t.v[it->parent - 1];
			FUZZ_CHECK(up->len < it->len && memcmp(up->name,
			    it->name, up->len) == 0 &&
			    it->name[up->len] == '/' &&
			    memchr(it->name + up->len + 1, '/', it->len -
			    up->len - 1) == NULL, "'%s' under '%s'", it->name,
			    up->name);
		} else
			FUZZ_CHECK(memchr(it->name, '/', it->len) == NULL,
			    "'%s' at the top", it->name);
		for (k = i + 1; k < t.n && !has_child; k++)
			has_child = t.v[k].parent == i + 1;
		FUZZ_CHECK(it->children == has_child, "children of '%s'",
		    it->name);
		FUZZ_CHECK(it->id != 0 || it->children, "missing level '%s' "
		    "without children", it->name);
		for (k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(t.v[k].name, it->name) != 0,
			    "'%s' twice", it->name);
	}
	imap_list_tree_select(&t, &lmi, 1, 0, 0);
	for (i = 0; i < t.n; i++)
		FUZZ_CHECK(t.v[i].emit == (unsigned)ref_match(in, pl,
		    t.v[i].name, t.v[i].len, 1), "emit '%s'", t.v[i].name);
	imap_list_tree_select(&t, &lmi, 1, IMAP_LS_SUBSCRIBED |
	    IMAP_LS_RECURSIVEMATCH, 0);
	for (i = 0; i < t.n; i++)
		if (t.v[i].emit)
			FUZZ_CHECK(t.v[i].matched && (t.v[i].selected ||
			    t.v[i].childsel), "emit '%s'", t.v[i].name);
	imap_list_tree_free(&t);
	imap_listmatch_free(&lm);
	imap_listmatch_free(&lmi);
	return 0;
}
