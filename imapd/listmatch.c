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
