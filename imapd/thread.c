/*
 * thread.c - SORT orders and the THREAD algorithms of RFC 5256 (thread.h).
 *
 * REFERENCES follows the RFC's steps: containers per Message-ID linked
 * from the References (loops refused by walking up the parent chain),
 * dummies pruned, roots sorted, roots grouped by base subject, siblings
 * sorted by sent date.  Trees are first-child/next-sibling lists of node
 * indexes; every walk is iterative.
 *
 * The Message-ID and subject tables are open-addressed and hashed with
 * SipHash-1-3 under a key drawn once per process (getrandom(2)): the ids
 * and subjects come from strangers' mail, and with an unkeyed hash one
 * message's References could be chosen to fall into one cluster of the
 * table, making each lookup a walk through all of them.
 */
#include <sys/random.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "imapd/fold.h"
#include "imapd/thread.h"

#define NONE	UINT32_MAX

/* Links followed by find_root() and Message-ID table slots looked at, in
 * this process (imap_thread_steps()). */
static uint64_t thread_steps;

struct tnode {
	uint32_t	 parent;
	uint32_t	 child;		/* first child */
	uint32_t	 next;		/* next sibling */
	uint32_t	 msg;		/* index into msgs, NONE: dummy */
	uint32_t	 key;		/* the message it sorts by */
	uint32_t	 rpos;		/* index in roots while a root */
	const char	*id;		/* Message-ID (in the table) */
	size_t		 idlen;
	uint32_t	 rgen;		/* rroot is valid in this generation */
	uint32_t	 rroot;		/* an ancestor (or the root) */
};

struct tctx {
	const struct imap_thread_msg	*msgs;
	struct tnode			*nodes;
	size_t				 nnodes;
	uint32_t			*tab;		/* Message-ID table */
	size_t				 mask;
	uint32_t			*roots;
	size_t				 nroots;
	uint32_t			*tmp;		/* sibling sorting */
	uint32_t			 gen;		/* of the rroot cache */
};

struct sort_ctx {
	const struct imap_thread_msg	*msgs;
	const struct imap_sort		*keys;
};

static int	str_cmp(const char *, size_t, const char *, size_t);
static int	sort_cmp(const void *, const void *, void *);
static int	run_cmp(const void *, const void *, void *);
static int	node_cmp(const void *, const void *, void *);
static void	build(struct tctx *, size_t);
static int	node_is_reply(const struct tctx *, uint32_t);
static void	unroot(struct tctx *, uint32_t);
static int	date_cmp(const void *, const void *, void *);
static int	subject_cmp(const void *, const void *, void *);
static uint64_t	hash_bytes(const char *, size_t);
static uint64_t	hash_folded(const char *, size_t);
static uint32_t	new_node(struct tctx *, uint32_t);
static uint32_t	id_lookup(struct tctx *, const char *, size_t, int);
static uint32_t	find_root(struct tctx *, uint32_t);
static int	is_ancestor(struct tctx *, uint32_t, uint32_t);
static void	link_child(struct tctx *, uint32_t, uint32_t);
static void	unlink_node(struct tctx *, uint32_t);
static size_t	preorder(const struct tctx *, uint32_t *);
static void	prune(struct tctx *, uint32_t);
static void	sort_siblings(struct tctx *, uint32_t *, size_t);
static void	sort_children(struct tctx *, uint32_t);
static void	sort_roots(struct tctx *);
static void	group_subjects(struct tctx *);
static void	write_thread(const struct tctx *, uint32_t, struct imap_buf *,
	    uint32_t *);

/* SORT --------------------------------------------------------------------- */

static int
str_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	return imap_fold_cmp(a != NULL ? a : "", a != NULL ? alen : 0,
	    b != NULL ? b : "", b != NULL ? blen : 0);
}

#define NUM_CMP(x, y)	((x) < (y) ? -1 : (x) > (y) ? 1 : 0)

static int
sort_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *sc = arg;
	size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb, k;
	const struct imap_thread_msg *a = &sc->msgs[ia], *b = &sc->msgs[ib];
	int c = 0;

	for (k = 0; k < sc->keys->nkeys && c == 0; k++) {
		switch (sc->keys->keys[k].key) {
		case IMAP_SORT_ARRIVAL:
			c = NUM_CMP(a->arrival, b->arrival);
			break;
		case IMAP_SORT_CC:
			c = str_cmp(a->cc, a->cc_len, b->cc, b->cc_len);
			break;
		case IMAP_SORT_DATE:
			c = NUM_CMP(a->date, b->date);
			break;
		case IMAP_SORT_FROM:
			c = str_cmp(a->from, a->from_len, b->from, b->from_len);
			break;
		case IMAP_SORT_SIZE:
			c = NUM_CMP(a->size, b->size);
			break;
		case IMAP_SORT_SUBJECT:
			c = str_cmp(a->subject, a->subject_len, b->subject,
			    b->subject_len);
			break;
		case IMAP_SORT_TO:
			c = str_cmp(a->to, a->to_len, b->to, b->to_len);
			break;
		case IMAP_SORT_DISPLAYFROM:
			c = str_cmp(a->display_from, a->display_from_len,
			    b->display_from, b->display_from_len);
			break;
		case IMAP_SORT_DISPLAYTO:
			c = str_cmp(a->display_to, a->display_to_len,
			    b->display_to, b->display_to_len);
			break;
		}
		if (sc->keys->keys[k].reverse)
			c = -c;
	}
	return c != 0 ? c : NUM_CMP(ia, ib);
}

void
imap_thread_sort(const struct imap_thread_msg *msgs, size_t n,
    const struct imap_sort *keys, size_t *order)
{
	struct sort_ctx sc = { msgs, keys };
	size_t i;

	for (i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), sort_cmp, &sc);
}

/* ORDEREDSUBJECT --------------------------------------------------------- */

/* By sent date, then mailbox order (indexes into msgs). */
static int
date_cmp(const void *pa, const void *pb, void *arg)
{
	const struct imap_thread_msg *msgs = arg;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	if (msgs[a].date != msgs[b].date)
		return msgs[a].date < msgs[b].date ? -1 : 1;
	return NUM_CMP(a, b);
}

static int
subject_cmp(const void *pa, const void *pb, void *arg)
{
	const struct imap_thread_msg *msgs = arg;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	int c;

	c = str_cmp(msgs[a].subject, msgs[a].subject_len, msgs[b].subject,
	    msgs[b].subject_len);
	return c != 0 ? c : date_cmp(pa, pb, arg);
}

struct run_ctx {
	const struct imap_thread_msg	*msgs;
	const uint32_t			*order;
};

/* Runs (their start in order[]) by the date of their first message. */
static int
run_cmp(const void *pa, const void *pb, void *arg)
{
	const struct run_ctx *rc = arg;
	uint32_t a = rc->order[*(const size_t *)pa];
	uint32_t b = rc->order[*(const size_t *)pb];

	return date_cmp(&a, &b, (void *)rc->msgs);
}

/*
 * RFC 5256: sort by base subject and sent date; each run of one subject
 * is a thread whose first message is the parent of all the others; the
 * threads go in the order of their first messages' sent dates.
 */
void
imap_thread_orderedsubject(const struct imap_thread_msg *msgs, size_t n,
    struct imap_buf *out)
{
	struct run_ctx rc;
	uint32_t *order, f;
	size_t *runs, *end, i, j, nruns = 0, len;

	if (n == 0)
		return;
	order = xreallocarray(NULL, n, sizeof(*order));
	for (i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, n, sizeof(*order), subject_cmp, (void *)msgs);
	runs = xreallocarray(NULL, n, sizeof(*runs));
	end = xreallocarray(NULL, n, sizeof(*end));
	for (i = 0; i < n; i++) {
		if (i > 0 && str_cmp(msgs[order[i]].subject,
		    msgs[order[i]].subject_len, msgs[order[i - 1]].subject,
		    msgs[order[i - 1]].subject_len) == 0)
			continue;
		runs[nruns++] = i;
	}
	/* where each run ends, indexed by its start */
	for (i = 0; i < nruns; i++)
		end[runs[i]] = i + 1 < nruns ? runs[i + 1] : n;
	rc.msgs = msgs;
	rc.order = order;
	qsort_r(runs, nruns, sizeof(*runs), run_cmp, &rc);
	for (i = 0; i < nruns; i++) {
		f = order[runs[i]];
		len = end[runs[i]] - runs[i];
		imap_buf_printf(out, "(%u", msgs[f].id);
		if (len == 2)
			imap_buf_printf(out, " %u", msgs[order[runs[i] + 1]].id);
		else if (len > 2) {
			imap_buf_add(out, " ", 1);
			for (j = runs[i] + 1; j < end[runs[i]]; j++)
				imap_buf_printf(out, "(%u)",
				    msgs[order[j]].id);
		}
		imap_buf_add(out, ")", 1);
	}
	free(order);
	free(runs);
	free(end);
}

/* REFERENCES: the containers ----------------------------------------------- */

/* SipHash-1-3, fed a byte at a time. */
struct sip {
	uint64_t	 v0, v1, v2, v3;
	uint64_t	 m;		/* bytes not compressed yet */
	unsigned	 n;
	uint64_t	 len;
};

static uint64_t	sip_key[2];
static int	sip_keyed;

#define ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

static void
sip_round(struct sip *h)
{
	h->v0 += h->v1;
	h->v1 = ROTL(h->v1, 13);
	h->v1 ^= h->v0;
	h->v0 = ROTL(h->v0, 32);
	h->v2 += h->v3;
	h->v3 = ROTL(h->v3, 16);
	h->v3 ^= h->v2;
	h->v0 += h->v3;
	h->v3 = ROTL(h->v3, 21);
	h->v3 ^= h->v0;
	h->v2 += h->v1;
	h->v1 = ROTL(h->v1, 17);
	h->v1 ^= h->v2;
	h->v2 = ROTL(h->v2, 32);
}

static void
sip_init(struct sip *h)
{
	struct timespec ts;

	if (!sip_keyed) {
		if (getrandom(sip_key, sizeof(sip_key), 0) !=
		    (ssize_t)sizeof(sip_key)) {
			/* no entropy: still differs per process and start */
			clock_gettime(CLOCK_REALTIME, &ts);
			sip_key[0] = (uint64_t)ts.tv_nsec << 32 ^
			    (uint64_t)ts.tv_sec;
			sip_key[1] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
		}
		sip_keyed = 1;
	}
	h->v0 = sip_key[0] ^ 0x736f6d6570736575ULL;
	h->v1 = sip_key[1] ^ 0x646f72616e646f6dULL;
	h->v2 = sip_key[0] ^ 0x6c7967656e657261ULL;
	h->v3 = sip_key[1] ^ 0x7465646279746573ULL;
	h->m = 0;
	h->n = 0;
	h->len = 0;
}

static void
sip_byte(struct sip *h, unsigned char c)
{
	h->m |= (uint64_t)c << (8 * h->n);
	h->len++;
	if (++h->n < 8)
		return;
	h->v3 ^= h->m;
	sip_round(h);
	h->v0 ^= h->m;
	h->m = 0;
	h->n = 0;
}

static uint64_t
sip_final(struct sip *h)
{
	uint64_t b = h->m | h->len << 56;

	h->v3 ^= b;
	sip_round(h);
	h->v0 ^= b;
	h->v2 ^= 0xff;
	sip_round(h);
	sip_round(h);
	sip_round(h);
	return h->v0 ^ h->v1 ^ h->v2 ^ h->v3;
}

static uint64_t
hash_bytes(const char *s, size_t len)
{
	struct sip h;
	size_t i;

	sip_init(&h);
	for (i = 0; i < len; i++)
		sip_byte(&h, (unsigned char)s[i]);
	return sip_final(&h);
}

/* The case-folded code points, so that subjects equal to str_cmp()
 * hash alike. */
static uint64_t
hash_folded(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	struct sip h;
	uint32_t c;

	sip_init(&h);
	while (p < end) {
		c = imap_fold_next(&p, end);
		sip_byte(&h, (unsigned char)c);
		sip_byte(&h, (unsigned char)(c >> 8));
		sip_byte(&h, (unsigned char)(c >> 16));
	}
	return sip_final(&h);
}

static uint32_t
new_node(struct tctx *t, uint32_t msg)
{
	struct tnode *n = &t->nodes[t->nnodes];

	n->parent = n->child = n->next = NONE;
	n->msg = n->key = msg;
	n->rpos = NONE;
	n->id = NULL;
	n->idlen = 0;
	n->rgen = 0;
	n->rroot = NONE;
	return (uint32_t)t->nnodes++;
}

/* The container of a Message-ID; create: make a dummy when there is
 * none (else NONE). */
static uint32_t
id_lookup(struct tctx *t, const char *id, size_t len, int create)
{
	size_t h = (size_t)hash_bytes(id, len) & t->mask;
	uint32_t x;

	for (; (x = t->tab[h]) != NONE; h = (h + 1) & t->mask) {
		thread_steps++;
		if (t->nodes[x].idlen == len &&
		    memcmp(t->nodes[x].id, id, len) == 0)
			return x;
	}
	if (!create)
		return NONE;
	x = new_node(t, NONE);
	t->nodes[x].id = id;
	t->nodes[x].idlen = len;
	t->tab[h] = x;
	return x;
}

uint64_t
imap_thread_steps(void)
{
	return thread_steps;
}

/*
 * The root of x's tree.  Each node remembers an ancestor it found (rroot,
 * valid for one generation) and the walk jumps through those, then
 * points every node it passed at the root: a later walk from the same
 * chain costs almost nothing.  That holds while trees only merge (a root
 * linked under another node keeps every ancestor an ancestor); build()
 * starts a new generation wherever a node is unlinked.
 */
static uint32_t
find_root(struct tctx *t, uint32_t x)
{
	struct tnode *n;
	uint32_t y, r, next;

	for (y = x;; y = next) {
		thread_steps++;
		n = &t->nodes[y];
		if (n->rgen == t->gen && n->rroot != y)
			next = n->rroot;
		else if (n->parent != NONE)
			next = n->parent;
		else
			break;
	}
	r = y;
	for (y = x; y != r; y = next) {
		n = &t->nodes[y];
		next = n->rgen == t->gen && n->rroot != y ? n->rroot :
		    n->parent;
		n->rgen = t->gen;
		n->rroot = r;
	}
	return r;
}

/*
 * Whether a, which has no parent, is b or an ancestor of b: whether it
 * is the root of b's tree.  A node without children is an ancestor of
 * nothing, which answers without a walk (a References list of new ids
 * builds one long chain: walking it for every link was quadratic in the
 * length of one header).
 */
static int
is_ancestor(struct tctx *t, uint32_t a, uint32_t b)
{
	if (t->nodes[a].child == NONE)
		return a == b;
	return find_root(t, b) == a;
}

/* c (without a parent) becomes the first child of p. */
static void
link_child(struct tctx *t, uint32_t p, uint32_t c)
{
	t->nodes[c].parent = p;
	t->nodes[c].next = t->nodes[p].child;
	t->nodes[p].child = c;
}

static void
unlink_node(struct tctx *t, uint32_t c)
{
	uint32_t p = t->nodes[c].parent, *pp;

	if (p == NONE)
		return;
	for (pp = &t->nodes[p].child; *pp != c; pp = &t->nodes[*pp].next)
		;
	*pp = t->nodes[c].next;
	t->nodes[c].parent = t->nodes[c].next = NONE;
}

/*
 * Step 1: a container per message and per referenced Message-ID, linked
 * as the References say.
 */
static void
build(struct tctx *t, size_t n)
{
	const struct imap_thread_msg *m;
	const char *p, *e, *end;
	uint32_t self, prev, r;
	size_t i;

	for (i = 0; i < n; i++) {
		m = &t->msgs[i];
		t->gen++;	/* step C of the last message unlinked */
		/* A: the message's container; a missing or duplicate
		 * Message-ID makes it unique */
		self = NONE;
		if (m->message_id_len > 0) {
			self = id_lookup(t, m->message_id, m->message_id_len,
			    1);
			if (t->nodes[self].msg != NONE)
				self = NONE;
		}
		if (self == NONE)
			self = new_node(t, (uint32_t)i);
		t->nodes[self].msg = t->nodes[self].key = (uint32_t)i;
		/* B: link the references in order, parent to child, unless
		 * the child has a parent already or a loop would result */
		prev = NONE;
		p = m->references != NULL ? m->references : "";
		end = p + (m->references != NULL ? m->references_len : 0);
		while (p < end) {
			while (p < end && *p == ' ')
				p++;
			for (e = p; e < end && *e != ' '; e++)
				;
			if (e == p)
				break;
			r = id_lookup(t, p, (size_t)(e - p), 1);
			p = e;
			if (r == self)
				continue;	/* refers to itself */
			if (prev != NONE && prev != r &&
			    t->nodes[r].parent == NONE &&
			    !is_ancestor(t, r, prev))
				link_child(t, prev, r);
			prev = r;
		}
		/* C: the last reference is the parent, whatever was
		 * presumed before */
		if (t->nodes[self].parent != NONE) {
			unlink_node(t, self);
			t->gen++;
		}
		if (prev != NONE && !is_ancestor(t, self, prev))
			link_child(t, prev, self);
	}
}

/* Every node under the roots, parents before their descendants. */
static size_t
preorder(const struct tctx *t, uint32_t *out)
{
	uint32_t *stack = t->tmp, x, c;
	size_t sp = 0, n = 0, i;

	for (i = t->nroots; i > 0; i--)
		if (t->roots[i - 1] != NONE)
			stack[sp++] = t->roots[i - 1];
	while (sp > 0) {
		x = stack[--sp];
		out[n++] = x;
		for (c = t->nodes[x].child; c != NONE; c = t->nodes[c].next)
			stack[sp++] = c;
	}
	return n;
}

/*
 * Step 3 for the children of x: a dummy without children goes; a dummy
 * with children is replaced by them (its children have been pruned
 * already, so none of them is a dummy).
 */
static void
prune(struct tctx *t, uint32_t x)
{
	uint32_t c, next, gc, gnext, *pp;

	pp = &t->nodes[x].child;
	for (c = *pp; c != NONE; c = next) {
		next = t->nodes[c].next;
		if (t->nodes[c].msg != NONE) {
			*pp = c;
			pp = &t->nodes[c].next;
			continue;
		}
		for (gc = t->nodes[c].child; gc != NONE; gc = gnext) {
			gnext = t->nodes[gc].next;
			t->nodes[gc].parent = x;
			*pp = gc;
			pp = &t->nodes[gc].next;
		}
		t->nodes[c].child = NONE;
		t->nodes[c].parent = NONE;
	}
	*pp = NONE;
}

static int
node_cmp(const void *pa, const void *pb, void *arg)
{
	const struct tctx *t = arg;
	uint32_t a = t->nodes[*(const uint32_t *)pa].key;
	uint32_t b = t->nodes[*(const uint32_t *)pb].key;

	return date_cmp(&a, &b, (void *)t->msgs);
}

static void
sort_siblings(struct tctx *t, uint32_t *v, size_t n)
{
	qsort_r(v, n, sizeof(*v), node_cmp, t);
}

/* Sorts the children of x by sent date; a dummy then sorts as its
 * first child. */
static void
sort_children(struct tctx *t, uint32_t x)
{
	uint32_t c, *v = t->tmp;
	size_t n = 0, i;

	for (c = t->nodes[x].child; c != NONE; c = t->nodes[c].next)
		v[n++] = c;
	if (n > 1) {
		sort_siblings(t, v, n);
		t->nodes[x].child = v[0];
		for (i = 0; i < n; i++)
			t->nodes[v[i]].next = i + 1 < n ? v[i + 1] : NONE;
	}
	if (t->nodes[x].msg == NONE && n > 0)
		t->nodes[x].key = t->nodes[t->nodes[x].child].key;
}

/* Drops removed roots (NONE), sorts the rest, renumbers rpos. */
static void
sort_roots(struct tctx *t)
{
	size_t i, m = 0;

	for (i = 0; i < t->nroots; i++)
		if (t->roots[i] != NONE)
			t->roots[m++] = t->roots[i];
	t->nroots = m;
	sort_siblings(t, t->roots, m);
	for (i = 0; i < m; i++)
		t->nodes[t->roots[i]].rpos = (uint32_t)i;
}

static int
node_is_reply(const struct tctx *t, uint32_t x)
{
	return t->nodes[x].msg != NONE && t->msgs[t->nodes[x].msg].is_reply;
}

/* c stops being a root */
static void
unroot(struct tctx *t, uint32_t c)
{
	t->roots[t->nodes[c].rpos] = NONE;
	t->nodes[c].rpos = NONE;
}

/*
 * Step 5: roots with the same base subject are gathered.  The subject
 * table is an open-addressed set of root nodes keyed by the subject of
 * their key message.
 */
static void
group_subjects(struct tctx *t)
{
	const struct imap_thread_msg *ms, *mx;
	uint32_t *tab, x, y, c, next, d;
	size_t size = 16, mask, h, i;

	while (size < t->nroots * 2)
		size *= 2;
	mask = size - 1;
	tab = xreallocarray(NULL, size, sizeof(*tab));
	memset(tab, 0xff, size * sizeof(*tab));
	/* B: the table's entry for each subject */
	for (i = 0; i < t->nroots; i++) {
		x = t->roots[i];
		ms = &t->msgs[t->nodes[x].key];
		if (ms->subject_len == 0)
			continue;
		h = (size_t)hash_folded(ms->subject, ms->subject_len) & mask;
		for (; (y = tab[h]) != NONE; h = (h + 1) & mask) {
			mx = &t->msgs[t->nodes[y].key];
			if (str_cmp(mx->subject, mx->subject_len, ms->subject,
			    ms->subject_len) == 0)
				break;
		}
		if (y == NONE ||
		    (t->nodes[y].msg != NONE && t->nodes[x].msg == NONE) ||
		    (node_is_reply(t, y) && t->nodes[x].msg != NONE &&
		    !node_is_reply(t, x)))
			tab[h] = x;
	}
	/* C: merge each root with the table's entry for its subject */
	for (i = 0; i < t->nroots; i++) {
		if ((x = t->roots[i]) == NONE)
			continue;
		ms = &t->msgs[t->nodes[x].key];
		if (ms->subject_len == 0)
			continue;
		h = (size_t)hash_folded(ms->subject, ms->subject_len) & mask;
		for (; (y = tab[h]) != NONE; h = (h + 1) & mask) {
			mx = &t->msgs[t->nodes[y].key];
			if (str_cmp(mx->subject, mx->subject_len, ms->subject,
			    ms->subject_len) == 0)
				break;
		}
		if (y == NONE || y == x)
			continue;
		if (t->nodes[y].msg == NONE && t->nodes[x].msg == NONE) {
			/* both dummies: x's children join y's */
			for (c = t->nodes[x].child; c != NONE; c = next) {
				next = t->nodes[c].next;
				t->nodes[c].parent = NONE;
				link_child(t, y, c);
			}
			t->nodes[x].child = NONE;
			unroot(t, x);
		} else if (t->nodes[y].msg == NONE) {
			unroot(t, x);
			link_child(t, y, x);
		} else if (t->nodes[x].msg == NONE) {
			unroot(t, y);
			link_child(t, x, y);
			tab[h] = x;
		} else if (!node_is_reply(t, y) && node_is_reply(t, x)) {
			unroot(t, x);
			link_child(t, y, x);
		} else if (node_is_reply(t, y) && !node_is_reply(t, x)) {
			unroot(t, y);
			link_child(t, x, y);
			tab[h] = x;
		} else {
			/* siblings under a new dummy in y's place */
			d = new_node(t, NONE);
			t->nodes[d].key = t->nodes[y].key;
			t->roots[t->nodes[y].rpos] = d;
			t->nodes[d].rpos = t->nodes[y].rpos;
			t->nodes[y].rpos = NONE;
			unroot(t, x);
			link_child(t, d, y);
			link_child(t, d, x);
			tab[h] = d;
		}
	}
	free(tab);
}

/* Output ------------------------------------------------------------------ */

/*
 * One thread as RFC 5256 writes it: a node and a single child follow
 * each other ("1 2"); two or more children are parenthesised each
 * ("1 (2)(3)"); a dummy writes only its children.  stack holds room for
 * three entries a node.
 */
#define W_CLOSE	0x80000000u

static void
write_thread(const struct tctx *t, uint32_t root, struct imap_buf *out,
    uint32_t *stack)
{
	const struct tnode *n;
	size_t sp = 0, k;
	uint32_t e, x, c, wrap;

	/* entries: a node to open (wrap: with parentheses), or W_CLOSE */
	stack[sp++] = root;
	stack[sp++] = 1;
	while (sp > 0) {
		if (stack[sp - 1] == W_CLOSE) {
			sp--;
			imap_buf_add(out, ")", 1);
			continue;
		}
		wrap = stack[--sp];
		x = stack[--sp];
		n = &t->nodes[x];
		if (wrap) {
			imap_buf_add(out, "(", 1);
			stack[sp++] = W_CLOSE;
		}
		if (n->msg != NONE)
			imap_buf_printf(out, wrap ? "%u" : " %u",
			    t->msgs[n->msg].id);
		for (k = 0, c = n->child; c != NONE; c = t->nodes[c].next)
			k++;
		if (k == 0)
			continue;
		if (k == 1 && n->msg != NONE &&
		    t->nodes[n->child].msg != NONE) {
			stack[sp++] = n->child;
			stack[sp++] = 0;
			continue;
		}
		if (n->msg != NONE)
			imap_buf_add(out, " ", 1);
		/* children pushed last first, so the first comes out first */
		e = sp + 2 * (uint32_t)k;
		for (c = n->child; c != NONE; c = t->nodes[c].next) {
			stack[e - 2] = c;
			stack[e - 1] = 1;
			e -= 2;
		}
		sp += 2 * k;
	}
}

/* THREAD=REFERENCES --------------------------------------------------- */

void
imap_thread_references(const struct imap_thread_msg *msgs, size_t n,
    struct imap_buf *out)
{
	struct tctx t = { 0 };
	uint32_t *order, *stack;
	size_t nrefs = 0, cap, size, i, j, norder;

	if (n == 0)
		return;
	t.msgs = msgs;
	for (i = 0; i < n; i++)
		for (j = 0; j < msgs[i].references_len; j++)
			if (msgs[i].references[j] != ' ' && (j == 0 ||
			    msgs[i].references[j - 1] == ' '))
				nrefs++;
	/* messages, referenced ids, and one dummy per root in step 5 */
	cap = 2 * n + nrefs + 1;
	t.nodes = xreallocarray(NULL, cap, sizeof(*t.nodes));
	for (size = 16; size < 2 * (n + nrefs); size *= 2)
		;
	t.mask = size - 1;
	t.tab = xreallocarray(NULL, size, sizeof(*t.tab));
	memset(t.tab, 0xff, size * sizeof(*t.tab));
	t.tmp = xreallocarray(NULL, cap, sizeof(*t.tmp));
	t.roots = xreallocarray(NULL, cap, sizeof(*t.roots));
	order = xreallocarray(NULL, cap, sizeof(*order));
	stack = xreallocarray(NULL, 3 * cap + 4, sizeof(*stack));

	build(&t, n);
	/* 2: the roots, in the order the containers were made */
	for (i = 0; i < t.nnodes; i++)
		if (t.nodes[i].parent == NONE)
			t.roots[t.nroots++] = (uint32_t)i;
	free(t.tab);
	t.tab = NULL;
	/* 3: prune dummies, children before parents; then the roots: a
	 * dummy with one child gives way to it, one with several stays */
	norder = preorder(&t, order);
	for (i = norder; i > 0; i--)
		prune(&t, order[i - 1]);
	for (i = 0; i < t.nroots; i++) {
		uint32_t x = t.roots[i], c;

		if (t.nodes[x].msg != NONE)
			continue;
		c = t.nodes[x].child;
		if (c == NONE)
			t.roots[i] = NONE;
		else if (t.nodes[c].next == NONE) {
			t.nodes[c].parent = NONE;
			t.nodes[x].child = NONE;
			t.roots[i] = c;
		}
	}
	/* 4: sort the roots (a dummy by its first child) */
	for (i = 0; i < t.nroots; i++)
		if (t.roots[i] != NONE && t.nodes[t.roots[i]].msg == NONE)
			sort_children(&t, t.roots[i]);
	sort_roots(&t);
	/* 5: gather roots by base subject */
	group_subjects(&t);
	/* 6: sort every set of siblings, deepest first, then the roots */
	norder = preorder(&t, order);
	for (i = norder; i > 0; i--)
		sort_children(&t, order[i - 1]);
	sort_roots(&t);

	for (i = 0; i < t.nroots; i++)
		write_thread(&t, t.roots[i], out, stack);
	free(t.nodes);
	free(t.tmp);
	free(t.roots);
	free(order);
	free(stack);
}
