/*
 * listmatch.c - LIST patterns as a bit-parallel automaton.
 *
 * State j (0 <= j <= m) means "the first j bytes of the pattern have
 * matched a prefix of the name"; state m at the end of the name is a
 * match.  A literal byte at j moves state j to j + 1 when the name byte
 * equals it; '*' at j keeps state j on any byte, '%' on any byte but the
 * separator; a wildcard at j also lets state j + 1 be reached without
 * consuming anything.  All states advance together with a few word
 * operations per name byte, so there is no backtracking at all.  Because
 * runs of wildcards are collapsed, no two wildcards are adjacent and that
 * epsilon step never needs repeating.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "imapd/listmatch.h"
#include "imapd/parse.h"

struct imap_listmatch {
	char		*pat;		/* collapsed, NUL-terminated */
	size_t		 m;		/* its length */
	int		 never;		/* too long: matches nothing */
	char		 sep;
	int		 inboxcase;
	size_t		 words;		/* words in a state set (m + 1 bits) */
	/*
	 * lit[cls[b] * words ...]: the states whose pattern byte is b; class
	 * 0 is "no pattern byte", all zero.
	 */
	uint8_t		 cls[256];
	uint64_t	*lit;
	uint64_t	*star;		/* states at a '*' */
	uint64_t	*pct;		/* states at a '%' */
	uint64_t	*wild;		/* star | pct */
	uint64_t	*cur, *next;	/* scratch for imap_listmatch() */
};

static uint64_t listmatch_steps;

static void	set_bit(uint64_t *, size_t);
static int	get_bit(const uint64_t *, size_t);
static void	shl1_or(uint64_t *dst, const uint64_t *src, size_t words);
static int	is_inbox_level(const char *, size_t, char);
static struct imap_list_item *tree_push(struct imap_list_tree *);
static int	is_inbox_tree(const char *, char);
static int	tree_cmp(const void *, const void *);

static void
set_bit(uint64_t *v, size_t j)
{
	v[j / 64] |= (uint64_t)1 << (j % 64);
}

static int
get_bit(const uint64_t *v, size_t j)
{
	return (v[j / 64] >> (j % 64)) & 1;
}

/* dst |= src << 1 (as one number of words * 64 bits, word 0 lowest). */
static void
shl1_or(uint64_t *dst, const uint64_t *src, size_t words)
{
	uint64_t carry = 0, w;
	size_t i;

	for (i = 0; i < words; i++) {
		w = src[i];
		dst[i] |= (w << 1) | carry;
		carry = w >> 63;
	}
}

struct imap_listmatch *
imap_listmatch_new(const char *pattern, size_t len, char sep, int inboxcase)
{
	struct imap_listmatch *lm;
	size_t i, j, nclass = 1;
	uint64_t *blk;
	char *p;
	int star;

	lm = xcalloc(1, sizeof(*lm));
	lm->sep = sep;
	lm->inboxcase = inboxcase;
	p = lm->pat = xmalloc(len + 1);
	for (i = 0, j = 0; i < len; ) {
		if (pattern[i] != '*' && pattern[i] != '%') {
			p[j++] = pattern[i++];
			continue;
		}
		for (star = 0; i < len && (pattern[i] == '*' ||
		    pattern[i] == '%'); i++)
			star |= pattern[i] == '*';
		p[j++] = star ? '*' : '%';
	}
	p[j] = '\0';
	lm->m = j;
	if (lm->m > IMAP_LISTMATCH_PATTERN_MAX) {
		lm->never = 1;
		lm->pat[0] = '\0';
		lm->m = 0;
	}

	lm->words = (lm->m + 1 + 63) / 64;
	for (i = 0; i < lm->m; i++) {
		uint8_t b = (uint8_t)p[i];

		if (p[i] != '*' && p[i] != '%' && lm->cls[b] == 0)
			lm->cls[b] = (uint8_t)nclass++;
	}
	/* '*' and '%' are never literal: at most 254 byte classes + class 0,
	 * so a class fits in a uint8_t. */
	lm->lit = xcalloc(nclass * lm->words, sizeof(uint64_t));
	blk = xcalloc(6 * lm->words, sizeof(uint64_t));
	lm->star = blk;
	lm->pct = blk + lm->words;
	lm->wild = blk + 2 * lm->words;
	lm->cur = blk + 3 * lm->words;
	lm->next = blk + 4 * lm->words;
	for (i = 0; i < lm->m; i++) {
		if (p[i] == '*') {
			set_bit(lm->star, i);
			set_bit(lm->wild, i);
		} else if (p[i] == '%') {
			set_bit(lm->pct, i);
			set_bit(lm->wild, i);
		} else
			set_bit(lm->lit + lm->cls[(uint8_t)p[i]] * lm->words,
			    i);
	}
	return lm;
}

void
imap_listmatch_free(struct imap_listmatch **lmp)
{
	struct imap_listmatch *lm = *lmp;

	if (lm == NULL)
		return;
	free(lm->pat);
	free(lm->lit);
	free(lm->star);		/* the block of star, pct, wild, cur, next */
	free(lm);
	*lmp = NULL;
}

const char *
imap_listmatch_pattern(const struct imap_listmatch *lm, size_t *len_r)
{
	if (len_r != NULL)
		*len_r = lm->m;
	return lm->pat;
}

uint64_t
imap_listmatch_steps(void)
{
	return listmatch_steps;
}

/* Whether the first level of name is INBOX in any case. */
static int
is_inbox_level(const char *name, size_t len, char sep)
{
	return len >= 5 && strncasecmp(name, "INBOX", 5) == 0 &&
	    (len == 5 || name[5] == sep);
}

int
imap_listmatch(const struct imap_listmatch *lm, const char *name, size_t len)
{
	/* cur and next are scratch inside the compiled matcher: a matcher
	 * serves one command at a time. */
	uint64_t *cur = lm->cur, *next = lm->next, *tmp, any, carry, v;
	const uint64_t *l, *l2;
	size_t i, w, words = lm->words;
	uint8_t c, other;
	int fold;

	if (lm->never)
		return 0;
	fold = lm->inboxcase && is_inbox_level(name, len, lm->sep);
	memset(cur, 0, words * sizeof(*cur));
	cur[0] = 1;
	if (lm->m > 0 && (lm->pat[0] == '*' || lm->pat[0] == '%'))
		cur[0] |= 2;
	for (i = 0; i < len; i++) {
		c = (uint8_t)name[i];
		l = l2 = lm->lit + lm->cls[c] * words;
		if (fold && i < 5) {
			other = (uint8_t)(isupper(c) ? tolower(c) :
			    toupper(c));
			l2 = lm->lit + lm->cls[other] * words;
		}
		/* literal bytes: state j -> j + 1 */
		carry = 0;
		for (w = 0; w < words; w++) {
			v = cur[w] & (l[w] | l2[w]);
			next[w] = (v << 1) | carry;
			carry = v >> 63;
		}
		/* wildcards keep their state */
		for (w = 0; w < words; w++)
			next[w] |= cur[w] & (lm->star[w] |
			    (c != (uint8_t)lm->sep ? lm->pct[w] : 0));
		/* a wildcard state also stands one further (no two wildcards
		 * are adjacent, so one step is the whole closure) */
		for (w = 0; w < words; w++)
			cur[w] = next[w] & lm->wild[w];
		shl1_or(next, cur, words);
		tmp = cur;
		cur = next;
		next = tmp;
		any = 0;
		for (w = 0; w < words; w++)
			any |= cur[w];
		listmatch_steps += words;
		if (any == 0)
			return 0;
	}
	return get_bit(cur, lm->m);
}

/* The tree of names ------------------------------------------------------ */

void
imap_list_tree_init(struct imap_list_tree *t)
{
	memset(t, 0, sizeof(*t));
}

void
imap_list_tree_free(struct imap_list_tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static struct imap_list_item *
tree_push(struct imap_list_tree *t)
{
	struct imap_list_item *it;

	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 64 : t->cap * 2;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	it = &t->v[t->n++];
	memset(it, 0, sizeof(*it));
	return it;
}

void
imap_list_tree_add(struct imap_list_tree *t, const char *name, uint32_t id,
    uint32_t special_use, int subscribed)
{
	struct imap_list_item *it = tree_push(t);

	it->name = xstrdup(name);
	it->len = strlen(name);
	it->id = id;
	it->special_use = special_use;
	it->subscribed = subscribed != 0;
}

/* qsort() has no context argument: the separator of the sort running. */
static char tree_sep;

static int
is_inbox_tree(const char *name, char sep)
{
	return strncmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == sep);
}

/*
 * INBOX and its children first, then byte order with the separator below
 * every other byte, so each name is followed directly by its descendants.
 * (Store names have no control bytes, so byte 1 is free for it.)
 */
static int
tree_cmp(const void *pa, const void *pb)
{
	const struct imap_list_item *ea = pa, *eb = pb;
	const unsigned char *a = (const unsigned char *)ea->name;
	const unsigned char *b = (const unsigned char *)eb->name;
	int ia = is_inbox_tree(ea->name, tree_sep);
	int ib = is_inbox_tree(eb->name, tree_sep);
	unsigned ca, cb;

	if (ia != ib)
		return ia ? -1 : 1;
	for (;; a++, b++) {
		ca = *a == (unsigned char)tree_sep ? 1 : *a;
		cb = *b == (unsigned char)tree_sep ? 1 : *b;
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca == 0)
			return 0;
	}
}

/*
 * The ancestors of a name are on the stack when it comes: they sort
 * before it, and every name between an ancestor and it is a descendant of
 * that ancestor.  So the levels missing between the top of the stack and
 * the name are exactly the ones that do not exist.
 */
void
imap_list_tree_build(struct imap_list_tree *t, char sep)
{
	struct imap_list_tree out;
	struct imap_list_item *in = t->v, *top, *it;
	size_t nin = t->n, i, p, start, *stack = NULL, sp = 0, stackcap = 0;

	tree_sep = sep;
	if (nin > 1)	/* qsort() of NULL is undefined, even of 0 items */
		qsort(in, nin, sizeof(*in), tree_cmp);
	imap_list_tree_init(&out);
	for (i = 0; i < nin; i++) {
		const char *name = in[i].name;

		while (sp > 0) {
			top = &out.v[stack[sp - 1]];
			if (top->len < in[i].len &&
			    memcmp(top->name, name, top->len) == 0 &&
			    name[top->len] == sep)
				break;
			sp--;
		}
		start = sp > 0 ? out.v[stack[sp - 1]].len + 1 : 0;
		for (p = start; p <= in[i].len; p++) {
			if (p < in[i].len && name[p] != sep)
				continue;
			it = tree_push(&out);
			if (p == in[i].len)
				*it = in[i];
			else {
				it->name = xmalloc(p + 1);
				memcpy(it->name, name, p);
				it->name[p] = '\0';
				it->len = p;
			}
			if (sp > 0) {
				out.v[stack[sp - 1]].children = 1;
				it->parent = stack[sp - 1] + 1;
			}
			if (sp == stackcap) {
				stackcap = stackcap == 0 ? 16 : stackcap * 2;
				stack = xreallocarray(stack, stackcap,
				    sizeof(*stack));
			}
			stack[sp++] = out.n - 1;
		}
	}
	free(stack);
	free(in);	/* the names moved to out */
	*t = out;
}

void
imap_list_tree_select(struct imap_list_tree *t,
    struct imap_listmatch *const *lm, size_t nlm, unsigned select,
    int no_childonly)
{
	struct imap_list_item *it;
	size_t i, k, up;
	int selopts = (select & (IMAP_LS_SUBSCRIBED |
	    IMAP_LS_SPECIAL_USE)) != 0;

	for (i = 0; i < t->n; i++) {
		it = &t->v[i];
		it->matched = it->childsel = it->emit = 0;
		for (k = 0; k < nlm && !it->matched; k++)
			it->matched = imap_listmatch(lm[k], it->name,
			    it->len) == 1;
		it->selected = it->id != 0 &&
		    (!(select & IMAP_LS_SUBSCRIBED) || it->subscribed) &&
		    (!(select & IMAP_LS_SPECIAL_USE) || it->special_use != 0);
	}
	/* Each selected, unmatched name marks its ancestors; a marked
	 * ancestor's own ancestors are marked already, so stop there. */
	if (select & IMAP_LS_RECURSIVEMATCH) {
		for (i = 0; i < t->n; i++) {
			it = &t->v[i];
			if (!it->selected || it->matched)
				continue;
			for (up = it->parent; up != 0 &&
			    !t->v[up - 1].childsel; up = t->v[up - 1].parent)
				t->v[up - 1].childsel = 1;
		}
	}
	for (i = 0; i < t->n; i++) {
		it = &t->v[i];
		if (!it->matched)
			continue;
		if (!selopts || it->selected)
			it->emit = 1;
		else if ((select & IMAP_LS_RECURSIVEMATCH) && it->childsel &&
		    !no_childonly)
			it->emit = 1;
	}
}
