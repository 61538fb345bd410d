/*
 * check_store_refcount.c - counters and refcounts under a long random run.
 *
 * Thousands of seeded append/copy/move/expunge/flag operations across
 * several users and mailboxes, drawn from a small pool of messages so that
 * bodies and segments are shared.  The test keeps its own model of every
 * mailbox and compares it with the store every few hundred steps: the
 * store's check, the per-user and per-mailbox counters, the listed rows,
 * and the number of distinct bodies and blobs.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "testutil.h"

static Suite	*refcount_suite(void);

#define NUSERS		3
#define NBOXES		3	/* per user: INBOX, A, B */
#define NMBOX		(NUSERS * NBOXES)
#define NPOOL		8
#define NSTEPS		8000
#define CHECK_EVERY	400

struct mrow {
	uint32_t	uid;
	int		content;	/* index into the pool */
	uint32_t	flags;
};

struct mbox_model {
	uint32_t	 id;
	int		 user;	/* index into users[] */
	struct mrow	*rows;
	size_t		 n, cap;
};

static char		*dir;
static struct store	*st;
static uint32_t		 users[NUSERS];
static struct mbox_model boxes[NMBOX];
static uint8_t		*pool[NPOOL];
static size_t		 pool_len[NPOOL];
/* blobs seen for each set of live contents (-1: not seen yet) */
static int64_t		 blobs_for_set[1 << NPOOL];

static void
buf_cat(uint8_t **p, size_t *len, const void *data, size_t n)
{
	*p = xreallocarray(*p, *len + n + 1, 1);
	memcpy(*p + *len, data, n);
	*len += n;
}

/*
 * The pool: plain texts of several sizes, and multipart messages of which
 * some pairs share an attachment, so blobs are shared across bodies.
 */
static void
make_pool(void)
{
	struct tu_rng rng;
	uint8_t raw[60000];
	char *att, line[200];
	size_t attlen = 0, i, k;
	int j;

	tu_rng_seed(&rng, 77);
	tu_rng_fill(&rng, raw, sizeof(raw));
	/* A "base64-looking" attachment of printable text lines. */
	att = xmalloc(sizeof(raw) * 2);
	for (i = 0; i < sizeof(raw); i += 57) {
		for (k = 0; k < 57 && i + k < sizeof(raw); k++)
			att[attlen++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
			    "opqrstuvwxyz0123456789+/"[raw[i + k] & 63];
		att[attlen++] = '\r';
		att[attlen++] = '\n';
	}
	for (j = 0; j < NPOOL; j++) {
		pool[j] = NULL;
		pool_len[j] = 0;
		snprintf(line, sizeof(line), "From: sender%d@example.test\r\n"
		    "Subject: pool message %d\r\nMessage-ID: <%d@pool>\r\n",
		    j, j, j);
		buf_cat(&pool[j], &pool_len[j], line, strlen(line));
		if (j % 2 == 0) {
			buf_cat(&pool[j], &pool_len[j], "\r\n", 2);
			for (k = 0; k < (size_t)(1 + j * 300); k++) {
				snprintf(line, sizeof(line), "text %d line %zu "
				    "of the pool\r\n", j, k);
				buf_cat(&pool[j], &pool_len[j], line,
				    strlen(line));
			}
		} else {
			snprintf(line, sizeof(line), "MIME-Version: 1.0\r\n"
			    "Content-Type: multipart/mixed; boundary=\"b%d\""
			    "\r\n\r\n--b%d\r\nContent-Type: text/plain\r\n\r\n"
			    "note %d\r\n--b%d\r\nContent-Type: application/"
			    "octet-stream\r\nContent-Transfer-Encoding: base64"
			    "\r\n\r\n", j, j, j, j);
			buf_cat(&pool[j], &pool_len[j], line, strlen(line));
			/* 1 and 3 share one attachment; 5 and 7 another. */
			buf_cat(&pool[j], &pool_len[j], att + (j >= 5 ?
			    10 * 59 : 0), 1000 * 59);
			snprintf(line, sizeof(line), "--b%d--\r\n", j);
			buf_cat(&pool[j], &pool_len[j], line, strlen(line));
		}
	}
	free(att);
}

static void
setup(void)
{
	static const char *names[NBOXES] = { "INBOX", "A", "B" };
	char addr[64];
	int u, b;

	dir = tu_tmpdir("refcount");
	st = tu_open(dir);
	make_pool();
	memset(boxes, 0, sizeof(boxes));
	memset(blobs_for_set, 0xff, sizeof(blobs_for_set));
	for (u = 0; u < NUSERS; u++) {
		snprintf(addr, sizeof(addr), "u%d@example.test", u);
		users[u] = tu_make_user(st, addr);
		for (b = 0; b < NBOXES; b++) {
			struct mbox_model *m = &boxes[u * NBOXES + b];

			m->user = u;
			if (b == 0)
				m->id = tu_inbox(st, users[u]);
			else
				ck_assert_int_eq(tu_mailbox_create(st, users[u],
				    names[b], 0, &m->id), 1);
		}
	}
}

static void
teardown(void)
{
	int i;

	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
	for (i = 0; i < NPOOL; i++)
		free(pool[i]);
	for (i = 0; i < NMBOX; i++)
		free(boxes[i].rows);
}

static void
model_add(struct mbox_model *m, uint32_t uid, int content, uint32_t flags)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 32;
		m->rows = xreallocarray(m->rows, m->cap, sizeof(*m->rows));
	}
	m->rows[m->n].uid = uid;
	m->rows[m->n].content = content;
	m->rows[m->n].flags = flags;
	m->n++;
}

static void
model_del(struct mbox_model *m, size_t i)
{
	memmove(&m->rows[i], &m->rows[i + 1], (m->n - i - 1) *
	    sizeof(*m->rows));
	m->n--;
}

/* Which pool contents are referenced by at least one row. */
static unsigned
live_set(int skip_user)
{
	unsigned set = 0;
	size_t i;
	int b;

	for (b = 0; b < NMBOX; b++) {
		if (boxes[b].user == skip_user)
			continue;
		for (i = 0; i < boxes[b].n; i++)
			set |= 1u << boxes[b].rows[i].content;
	}
	return set;
}

static int
popcount(unsigned v)
{
	int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* Compares the whole store with the model. */
static void
verify(int step)
{
	struct store_stats s;
	struct store_mailbox mb;
	struct store_user u;
	struct store_msg *msgs;
	uint64_t ubytes[NUSERS] = { 0 }, umsgs[NUSERS] = { 0 }, bytes, raw = 0;
	uint32_t unseen;
	size_t n, i, total = 0;
	unsigned set;
	int b, rc;

	rc = tu_check(st);
	ck_assert_msg(rc == 0, "step %d: store_check found %d problems: %s",
	    step, rc, tu_check_problems());
	for (b = 0; b < NMBOX; b++) {
		struct mbox_model *m = &boxes[b];

		rc = tu_msg_list(st, m->id, &msgs, &n);
		ck_assert_msg(rc >= 0, "step %d: msg_list of %u: %s", step,
		    m->id, tu_err());
		ck_assert_msg(n == m->n, "step %d: mailbox %u lists %zu rows, "
		    "model has %zu", step, m->id, n, m->n);
		bytes = 0;
		unseen = 0;
		for (i = 0; i < n; i++) {
			const struct mrow *r = &m->rows[i];

			ck_assert_msg(msgs[i].uid == r->uid &&
			    msgs[i].size == pool_len[r->content] &&
			    msgs[i].flags == r->flags, "step %d: mailbox %u row "
			    "%zu: store uid %u size %" PRIu64 " flags %#x, model"
			    " uid %u size %zu flags %#x", step, m->id, i,
			    msgs[i].uid, msgs[i].size, msgs[i].flags, r->uid,
			    pool_len[r->content], r->flags);
			if (i > 0)
				ck_assert_msg(msgs[i].uid > msgs[i - 1].uid,
				    "step %d: uids out of order", step);
			bytes += msgs[i].size;
			unseen += !(msgs[i].flags & STORE_F_SEEN);
		}
		free(msgs);
		ck_assert_int_eq(tu_mailbox_get_by_id(st, m->id, &mb), 1);
		ck_assert_msg(mb.messages == n && mb.bytes == bytes &&
		    mb.unseen == unseen, "step %d: mailbox %u counters: %u "
		    "messages %" PRIu64 " bytes %u unseen; rows say %zu, %"
		    PRIu64 ", %u", step, m->id, mb.messages, mb.bytes,
		    mb.unseen, n, bytes, unseen);
		if (n > 0)
			ck_assert_msg(mb.uidnext > m->rows[n - 1].uid,
			    "step %d: mailbox %u uidnext %u <= uid %u", step,
			    m->id, mb.uidnext, m->rows[n - 1].uid);
		ubytes[m->user] += bytes;
		umsgs[m->user] += n;
		raw += bytes;
		total += n;
	}
	for (b = 0; b < NUSERS; b++) {
		if (users[b] == 0)
			continue;
		ck_assert_int_eq(tu_user_get(st, users[b], &u), 1);
		ck_assert_msg(u.used_bytes == ubytes[b] && u.used_messages ==
		    umsgs[b], "step %d: user %u usage %" PRIu64 " bytes %"
		    PRIu64 " messages; rows say %" PRIu64 ", %" PRIu64, step,
		    users[b], u.used_bytes, u.used_messages, ubytes[b],
		    umsgs[b]);
	}
	tu_stats(st, &s);
	set = live_set(-1);
	ck_assert_msg(s.messages == total && s.raw_bytes == raw, "step %d: "
	    "stats messages %" PRIu64 " raw %" PRIu64 ", model %zu, %" PRIu64,
	    step, s.messages, s.raw_bytes, total, raw);
	ck_assert_msg(s.bodies == (uint64_t)popcount(set), "step %d: stats "
	    "bodies %" PRIu64 ", model has %d distinct live contents (set "
	    "%#x)", step, s.bodies, popcount(set), set);
	if (set == 0)
		ck_assert_msg(s.blobs == 0 && s.stored_bytes == 0, "step %d: "
		    "no live message but %" PRIu64 " blobs, %" PRIu64
		    " stored bytes", step, s.blobs, s.stored_bytes);
	else if (blobs_for_set[set] >= 0)
		ck_assert_msg(s.blobs == (uint64_t)blobs_for_set[set],
		    "step %d: %" PRIu64 " blobs for live set %#x, which had "
		    "%" PRId64 " blobs before", step, s.blobs, set,
		    blobs_for_set[set]);
	else
		blobs_for_set[set] = (int64_t)s.blobs;
}

static uint32_t
random_flags(struct tu_rng *rng)
{
	return (uint32_t)tu_rng_below(rng, STORE_F_ALL + 1);
}

START_TEST(test_random_operations)
{
	struct tu_rng rng;
	struct store_prepared *prep[NPOOL];
	struct mbox_model *src, *dst;
	struct store_msg before, after;
	uint32_t uid, flags;
	size_t row;
	int step, op, c, rc, mode, b;
	unsigned remaining;

	tu_rng_seed(&rng, 20240601);
	for (c = 0; c < NPOOL; c++) {
		rc = store_msg_prepare(st, pool[c], pool_len[c], &prep[c]);
		ck_assert_msg(rc >= 0, "prepare pool %d: %s", c, tu_err());
	}
	for (step = 1; step <= NSTEPS; step++) {
		op = (int)tu_rng_below(&rng, 100);
		src = &boxes[tu_rng_below(&rng, NMBOX)];
		dst = &boxes[tu_rng_below(&rng, NMBOX)];
		row = src->n ? tu_rng_below(&rng, src->n) : 0;
		if (op < 35 || src->n == 0) {
			/* append: a fresh prepare or a shared one */
			c = (int)tu_rng_below(&rng, NPOOL);
			flags = random_flags(&rng);
			if (tu_rng_below(&rng, 2))
				rc = tu_append_prepared(st, dst->id, prep[c],
				    flags, &uid);
			else
				rc = tu_append(st, dst->id, pool[c],
				    pool_len[c], flags, NULL, &uid);
			ck_assert_msg(rc == 1, "step %d: append pool %d to %u:"
			    " rc %d: %s", step, c, dst->id, rc, tu_err());
			ck_assert_msg(dst->n == 0 ||
			    uid > dst->rows[dst->n - 1].uid, "step %d: append"
			    " uid %u not above %u", step, uid,
			    dst->rows[dst->n - 1].uid);
			model_add(dst, uid, c, flags);
		} else if (op < 55) {
			rc = tu_copy(st, src->id, src->rows[row].uid, dst->id,
			    &uid);
			ck_assert_msg(rc == 1, "step %d: copy %u/%u -> %u: rc "
			    "%d: %s", step, src->id, src->rows[row].uid,
			    dst->id, rc, tu_err());
			model_add(dst, uid, src->rows[row].content,
			    src->rows[row].flags);
		} else if (op < 65) {
			struct mrow r = src->rows[row];

			/* The store refuses a move into the same mailbox. */
			if (dst == src)
				dst = &boxes[(src - boxes + 1) % NMBOX];
			rc = tu_move(st, src->id, r.uid, dst->id, &uid);
			ck_assert_msg(rc == 1, "step %d: move %u/%u -> %u: rc "
			    "%d: %s", step, src->id, r.uid, dst->id, rc,
			    tu_err());
			model_del(src, row);
			model_add(dst, uid, r.content, r.flags);
		} else if (op < 85) {
			rc = tu_expunge(st, src->id, src->rows[row].uid);
			ck_assert_msg(rc == 1, "step %d: expunge %u/%u: rc %d:"
			    " %s", step, src->id, src->rows[row].uid, rc,
			    tu_err());
			model_del(src, row);
		} else {
			struct mrow *r = &src->rows[row];

			mode = (int)tu_rng_below(&rng, 3);
			flags = random_flags(&rng);
			ck_assert_int_eq(tu_msg_get(st, src->id, r->uid,
			    &before), 1);
			rc = tu_set_flags(st, src->id, r->uid,
			    (enum store_flag_mode)mode, flags, NULL);
			ck_assert_msg(rc == 1, "step %d: set_flags: rc %d: %s",
			    step, rc, tu_err());
			if (mode == STORE_FLAGS_SET)
				r->flags = flags;
			else if (mode == STORE_FLAGS_ADD)
				r->flags |= flags;
			else
				r->flags &= ~flags;
			ck_assert_int_eq(tu_msg_get(st, src->id, r->uid,
			    &after), 1);
			if (after.flags != before.flags)
				ck_assert_msg(after.modseq > before.modseq,
				    "step %d: flags %#x -> %#x but modseq %"
				    PRIu64 " -> %" PRIu64, step, before.flags,
				    after.flags, before.modseq, after.modseq);
		}
		if (step % CHECK_EVERY == 0)
			verify(step);
	}
	for (c = 0; c < NPOOL; c++)
		store_prepared_free(&prep[c]);
	verify(NSTEPS);

	/* Deleting users drops exactly what only they referenced. */
	for (b = 0; b < NUSERS; b++) {
		struct store_stats s;

		remaining = live_set(b);
		rc = tu_user_del(st, users[b]);
		ck_assert_msg(rc == 1, "user_del %u: rc %d: %s", users[b], rc,
		    tu_err());
		users[b] = 0;
		for (c = 0; c < NMBOX; c++)
			if (boxes[c].user == b)
				boxes[c].n = 0;
		tu_stats(st, &s);
		ck_assert_msg(s.bodies == (uint64_t)popcount(remaining),
		    "after deleting user %d: %" PRIu64 " bodies, %d contents "
		    "still referenced", b, s.bodies, popcount(remaining));
		rc = tu_check(st);
		ck_assert_msg(rc == 0, "after deleting user %d: store_check "
		    "found %d problems: %s", b, rc, tu_check_problems());
		/* Mark the deleted user's boxes as gone for live_set(). */
		for (c = 0; c < NMBOX; c++)
			if (boxes[c].user == b)
				boxes[c].user = -2;
	}
	{
		struct store_stats s;

		tu_stats(st, &s);
		ck_assert_msg(s.bodies == 0 && s.blobs == 0 && s.messages == 0
		    && s.stored_bytes == 0 && s.blob_bytes == 0, "all users "
		    "deleted: bodies %" PRIu64 " blobs %" PRIu64 " messages %"
		    PRIu64 " stored %" PRIu64 " blob bytes %" PRIu64, s.bodies,
		    s.blobs, s.messages, s.stored_bytes, s.blob_bytes);
	}
}
END_TEST

static Suite *
refcount_suite(void)
{
	Suite *s = suite_create("store_refcount");
	TCase *tc;

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, test_random_operations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(refcount_suite());
}
