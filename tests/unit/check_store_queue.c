/*
 * check_store_queue.c - the outbound queue (store/queue.h): every field
 * survives add/get/put, a put without recipients removes the entry and
 * its body reference, records of the first version still decode, taken
 * ids give way to the next free one, the generation moves with every
 * change, limits hold, and store check sees queue entries.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/private.h"
#include "store/queue.h"
#include "testutil.h"

static Suite	*queue_suite(void);

#define FAKE_NOW	1700000000

static char		*dir;
static struct store	*st;
static time_t		 fake_now;

static const char msg1[] = "From: a@example.test\r\nTo: x@far.example\r\n"
    "Subject: queued\r\n\r\nhello\r\n";

static time_t
fake_clock(void)
{
	return fake_now;
}

static void
setup(void)
{
	fake_now = FAKE_NOW;
	store_set_clock(fake_clock);
	dir = tu_tmpdir("queue");
	st = tu_open(dir);
}

static void
teardown(void)
{
	store_close(&st);
	store_set_clock(NULL);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* An entry with n recipients rcpt0@far.example... and DSN fields set. */
static void
entry_make(struct store_queue_entry *e, size_t n)
{
	size_t i;

	memset(e, 0, sizeof(*e));
	snprintf(e->sender, sizeof(e->sender), "a@example.test");
	snprintf(e->envid, sizeof(e->envid), "env+2Bid-1");
	e->ret = STORE_RET_HDRS;
	e->flags = STORE_QF_8BITMIME | STORE_QF_SMTPUTF8;
	e->nrcpts = n;
	e->rcpts = xcalloc(n == 0 ? 1 : n, sizeof(*e->rcpts));
	for (i = 0; i < n; i++) {
		snprintf(e->rcpts[i].addr, sizeof(e->rcpts[i].addr),
		    "rcpt%zu@far.example", i);
		snprintf(e->rcpts[i].orcpt, sizeof(e->rcpts[i].orcpt),
		    "rfc822;Rcpt%zu@far.example", i);
		e->rcpts[i].notify = i % 2 ? STORE_NOTIFY_NEVER :
		    STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE;
	}
}

struct add_args {
	const struct store_queue_entry	*e;
	struct store_prepared		*prep;
	uint64_t			 id;
};

static int
add_fn(struct store_txn *t, void *ctx)
{
	struct add_args *a = ctx;

	return store_queue_add(t, a->e, a->prep, &a->id);
}

/* store_queue_add() of msg1 in its own transaction; *id_r the id. */
static int
queue_add(const struct store_queue_entry *e, uint64_t *id_r)
{
	struct add_args a = { e, NULL, 0 };
	int rc;

	ck_assert_int_eq(store_msg_prepare(st, msg1, sizeof(msg1) - 1,
	    &a.prep), 0);
	rc = store_write(st, add_fn, &a);
	store_prepared_free(&a.prep);
	if (id_r != NULL)
		*id_r = a.id;
	return rc;
}

struct get_args {
	uint64_t			 id;
	struct store_queue_entry	*e;
};

static int
get_fn(struct store_txn *t, void *ctx)
{
	struct get_args *g = ctx;

	return store_queue_get(t, g->id, g->e);
}

static int
queue_get(uint64_t id, struct store_queue_entry *e)
{
	struct get_args g = { id, e };

	return store_read(st, get_fn, &g);
}

static int
put_fn(struct store_txn *t, void *ctx)
{
	return store_queue_put(t, ctx);
}

static int
queue_put(const struct store_queue_entry *e)
{
	return store_write(st, put_fn, (void *)e);
}

static int
del_fn(struct store_txn *t, void *ctx)
{
	return store_queue_del(t, *(uint64_t *)ctx);
}

static int
queue_del(uint64_t id)
{
	return store_write(st, del_fn, &id);
}

static int
gen_fn(struct store_txn *t, void *ctx)
{
	return store_queue_generation(t, ctx);
}

static uint64_t
queue_gen(void)
{
	uint64_t gen = 99;

	ck_assert_int_eq(store_read(st, gen_fn, &gen), 0);
	return gen;
}

static int
count_fn(const struct store_queue_entry *e, void *ctx)
{
	uint64_t **ids = ctx;

	*(*ids)++ = e->id;
	return 0;
}

struct list_args {
	uint64_t	ids[16];
	size_t		n;
};

static int
list_fn(struct store_txn *t, void *ctx)
{
	struct list_args *l = ctx;
	uint64_t *p = l->ids;
	int rc;

	rc = store_queue_list(t, count_fn, &p);
	l->n = (size_t)(p - l->ids);
	return rc;
}

static void
rcpt_eq(const struct store_queue_rcpt *a, const struct store_queue_rcpt *b)
{
	ck_assert_str_eq(a->addr, b->addr);
	ck_assert_str_eq(a->orcpt, b->orcpt);
	ck_assert_uint_eq(a->notify, b->notify);
	ck_assert_uint_eq(a->last_code, b->last_code);
	ck_assert_str_eq(a->last_reply, b->last_reply);
}

START_TEST(test_round_trip)
{
	struct store_queue_entry e, g, p;
	struct store_stats s;
	uint64_t id, body;
	size_t i;

	entry_make(&e, 3);
	snprintf(e.rcpts[2].last_reply, sizeof(e.rcpts[2].last_reply),
	    "kept as given");
	e.rcpts[2].last_code = 421;
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id != 0, "add gives an id");
	ck_assert_int_eq(queue_get(id, &g), 1);
	ck_assert_msg(g.id == id, "get: id %" PRIX64 " wanted %" PRIX64,
	    g.id, id);
	ck_assert_str_eq(g.sender, "a@example.test");
	ck_assert_str_eq(g.envid, "env+2Bid-1");
	ck_assert_int_eq(g.ret, STORE_RET_HDRS);
	ck_assert_uint_eq(g.flags, STORE_QF_8BITMIME | STORE_QF_SMTPUTF8);
	ck_assert_uint_eq(g.nrcpts, 3);
	for (i = 0; i < 3; i++)
		rcpt_eq(&g.rcpts[i], &e.rcpts[i]);
	ck_assert_uint_eq(g.size, sizeof(msg1) - 1);
	ck_assert_int_eq(g.queued, FAKE_NOW);
	ck_assert_int_eq(g.next_try, FAKE_NOW);
	ck_assert_uint_eq(g.attempts, 0);
	ck_assert_msg(g.body != 0, "a body id");
	body = g.body;

	/* put: flags, rcpts, attempts, next_try change; the rest is kept */
	p = g;
	snprintf(p.sender, sizeof(p.sender), "changed@example.test");
	snprintf(p.envid, sizeof(p.envid), "changed");
	p.ret = STORE_RET_FULL;
	p.size = 1;
	p.queued = 5;
	p.body = body + 100;
	p.flags = STORE_QF_HOLD | STORE_QF_WARNED;
	p.attempts = 4;
	p.next_try = FAKE_NOW + 3600;
	p.nrcpts = 2;
	p.rcpts = &g.rcpts[1];
	g.rcpts[1].last_code = 450;
	snprintf(g.rcpts[1].last_reply, sizeof(g.rcpts[1].last_reply),
	    "450 4.2.0 <rcpt1@far.example>: greylisted");
	g.rcpts[2].last_code = 0;
	g.rcpts[2].last_reply[0] = '\0';
	fake_now += 10;
	ck_assert_int_eq(queue_put(&p), 1);
	store_queue_entry_clear(&e);
	ck_assert_int_eq(queue_get(id, &e), 1);
	ck_assert_str_eq(e.sender, "a@example.test");
	ck_assert_str_eq(e.envid, "env+2Bid-1");
	ck_assert_int_eq(e.ret, STORE_RET_HDRS);
	ck_assert_uint_eq(e.size, sizeof(msg1) - 1);
	ck_assert_int_eq(e.queued, FAKE_NOW);
	ck_assert_msg(e.body == body, "put keeps the body");
	ck_assert_uint_eq(e.flags, STORE_QF_HOLD | STORE_QF_WARNED);
	ck_assert_uint_eq(e.attempts, 4);
	ck_assert_int_eq(e.next_try, FAKE_NOW + 3600);
	ck_assert_uint_eq(e.nrcpts, 2);
	rcpt_eq(&e.rcpts[0], &g.rcpts[1]);
	rcpt_eq(&e.rcpts[1], &g.rcpts[2]);
	store_queue_entry_clear(&e);
	ck_assert_int_eq(tu_check(st), 0);

	ck_assert_int_eq(queue_del(id), 1);
	ck_assert_int_eq(queue_get(id, &e), 0);
	ck_assert_int_eq(queue_del(id), 0);
	ck_assert_int_eq(queue_put(&p), 0);	/* removed meanwhile */
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 0 && s.blobs == 0, "del drops the body "
	    "(%" PRIu64 " bodies, %" PRIu64 " blobs left)", s.bodies, s.blobs);
	ck_assert_int_eq(tu_check(st), 0);
	store_queue_entry_clear(&g);
}
END_TEST

/* A put with no recipients left removes the entry and one reference. */
START_TEST(test_put_empty_removes)
{
	struct store_queue_entry e, g;
	struct store_stats s;
	uint64_t id, id2;
	uint32_t uid, user;
	void *data;
	size_t len;

	user = tu_make_user(st, "bob@example.test");
	ck_assert_int_eq(tu_append(st, tu_inbox(st, user), msg1,
	    sizeof(msg1) - 1, 0, NULL, &uid), 1);
	entry_make(&e, 2);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_int_eq(queue_add(&e, &id2), 1);
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 1, "one body shared by the mailbox and two "
	    "queue entries, %" PRIu64 " seen", s.bodies);
	ck_assert_int_eq(tu_check(st), 0);

	ck_assert_int_eq(queue_get(id, &g), 1);
	store_queue_entry_clear(&g);	/* nrcpts 0 */
	ck_assert_int_eq(queue_put(&g), 1);
	ck_assert_int_eq(queue_get(id, &g), 0);
	ck_assert_msg(tu_check(st) == 0, "refcount after the put: %s",
	    tu_check_problems());

	ck_assert_int_eq(queue_get(id2, &g), 1);
	store_queue_entry_clear(&g);
	ck_assert_int_eq(queue_put(&g), 1);
	ck_assert_msg(tu_check(st) == 0, "refcount after the second put: %s",
	    tu_check_problems());
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 1, "the mailbox keeps the body");
	ck_assert_int_eq(tu_read(st, tu_inbox(st, user), uid, &data, &len), 1);
	ck_assert_uint_eq(len, sizeof(msg1) - 1);
	free(data);
	ck_assert_int_eq(tu_expunge(st, tu_inbox(st, user), uid), 1);
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 0, "no reference left, no body");
	store_queue_entry_clear(&e);
}
END_TEST

struct raw_args {
	uint64_t	 id;
	const void	*val;
	size_t		 len;
	MDB_val		 got;
	uint8_t		 version;
};

static int
raw_put_fn(struct store_txn *t, void *ctx)
{
	struct raw_args *r = ctx;
	uint8_t key[8];

	be64enc(key, r->id);
	return sdb_put(t, DB_QUEUE, key, 8, r->val, r->len, 0);
}

static int
raw_version_fn(struct store_txn *t, void *ctx)
{
	struct raw_args *r = ctx;
	uint8_t key[8];
	int rc;

	be64enc(key, r->id);
	if ((rc = sdb_get(t, DB_QUEUE, key, 8, &r->got)) == 1)
		r->version = ((uint8_t *)r->got.mv_data)[0];
	return rc;
}

/* Stores that predate outbound delivery hold version 1 records. */
START_TEST(test_v1_record)
{
	struct store_queue_entry e, g;
	struct raw_args r;
	struct list_args l;
	struct pack p;
	uint64_t id;

	entry_make(&e, 1);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_int_eq(queue_get(id, &g), 1);
	store_queue_entry_clear(&g);

	/* sender, n, rcpts, body, size, queued, attempts, next_try */
	pack_init(&p);
	ck_assert_uint_eq(p.buf[0], 1);
	pack_str(&p, "old@example.test");
	pack_u32(&p, 2);
	pack_str(&p, "one@far.example");
	pack_str(&p, "two@far.example");
	pack_u64(&p, g.body);
	pack_u64(&p, 1234);
	pack_u64(&p, FAKE_NOW - 100);
	pack_u32(&p, 3);
	pack_u64(&p, FAKE_NOW + 50);
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.val = p.buf;
	r.len = p.len;
	ck_assert_int_eq(store_write(st, raw_put_fn, &r), 1);
	pack_free(&p);

	ck_assert_int_eq(queue_get(id, &g), 1);
	ck_assert_str_eq(g.sender, "old@example.test");
	ck_assert_str_eq(g.envid, "");
	ck_assert_int_eq(g.ret, STORE_RET_NONE);
	ck_assert_uint_eq(g.flags, 0);
	ck_assert_uint_eq(g.nrcpts, 2);
	ck_assert_str_eq(g.rcpts[0].addr, "one@far.example");
	ck_assert_str_eq(g.rcpts[1].addr, "two@far.example");
	ck_assert_str_eq(g.rcpts[1].orcpt, "");
	ck_assert_uint_eq(g.rcpts[1].notify, 0);
	ck_assert_uint_eq(g.rcpts[1].last_code, 0);
	ck_assert_uint_eq(g.size, 1234);
	ck_assert_int_eq(g.queued, FAKE_NOW - 100);
	ck_assert_uint_eq(g.attempts, 3);
	ck_assert_int_eq(g.next_try, FAKE_NOW + 50);
	ck_assert_int_eq(store_read(st, list_fn, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_msg(tu_check(st) == 0, "store check reads v1 entries: %s",
	    tu_check_problems());

	/* the first change writes the current version */
	g.attempts = 4;
	ck_assert_int_eq(queue_put(&g), 1);
	ck_assert_int_eq(store_read(st, raw_version_fn, &r), 1);
	ck_assert_uint_eq(r.version, 2);
	store_queue_entry_clear(&g);
	ck_assert_int_eq(queue_get(id, &g), 1);
	ck_assert_str_eq(g.sender, "old@example.test");
	ck_assert_str_eq(g.rcpts[1].addr, "two@far.example");
	ck_assert_uint_eq(g.size, 1234);
	ck_assert_uint_eq(g.attempts, 4);
	store_queue_entry_clear(&g);

	/* an unknown version or a short record is CORRUPT, not a crash */
	r.val = "\x07junk";
	r.len = 5;
	ck_assert_int_eq(store_write(st, raw_put_fn, &r), 1);
	ck_assert_int_eq(queue_get(id, &g), -1);
	ck_assert_int_eq(err_class(), ERR_CORRUPT);
	r.val = "\x02\x00\x00";
	r.len = 3;
	ck_assert_int_eq(store_write(st, raw_put_fn, &r), 1);
	ck_assert_int_eq(queue_get(id, &g), -1);
	ck_assert_int_eq(err_class(), ERR_CORRUPT);
	ck_assert_msg(tu_check(st) > 0 &&
	    strstr(tu_check_problems(), "damaged queue record") != NULL,
	    "store check reports the damaged record: %s",
	    tu_check_problems());
	store_queue_entry_clear(&e);
}
END_TEST

START_TEST(test_id_collision)
{
	struct store_queue_entry e;
	struct list_args l;
	uint64_t id, want = 0x1234ULL << 32 | 0xfffffffeULL;

	entry_make(&e, 1);
	e.id = want;
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id == want, "a free id is kept: %" PRIX64, id);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id == want + 1, "a taken id gives the next: %" PRIX64,
	    id);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id == want + 2, "and the next: %" PRIX64, id);
	e.id = want + 1;
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id == want + 3, "from the middle of a run: %" PRIX64,
	    id);
	/* the largest id taken: go on from the smallest free one */
	e.id = UINT64_MAX;
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id == UINT64_MAX, "the largest id: %" PRIX64, id);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id == 1, "after the largest: %" PRIX64, id);
	/* 0: a new one from the clock */
	e.id = 0;
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_msg(id >> 32 == FAKE_NOW, "a new id starts with the time: "
	    "%" PRIX64, id);
	ck_assert_int_eq(store_read(st, list_fn, &l), 0);
	ck_assert_uint_eq(l.n, 7);
	ck_assert_msg(l.ids[0] == 1 && l.ids[1] == want &&
	    l.ids[4] == want + 3 && l.ids[5] == id && l.ids[6] == UINT64_MAX,
	    "listed in id order");
	ck_assert_int_eq(tu_check(st), 0);
	store_queue_entry_clear(&e);
}
END_TEST

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_id_new_format_parse)
{
	char buf[STORE_QUEUE_ID_LEN + 1];
	uint64_t ids[4096], max = 0, id;
	int i;

	for (i = 0; i < 4096; i++) {
		ids[i] = store_queue_id_new();
		ck_assert_msg(ids[i] >> 32 == FAKE_NOW, "seconds on top: %"
		    PRIX64, ids[i]);
		if (ids[i] > max)
			max = ids[i];
	}
	qsort(ids, 4096, sizeof(ids[0]), id_cmp);
	for (i = 1; i < 4096; i++)
		ck_assert_msg(ids[i] != ids[i - 1], "4096 ids of one process "
		    "in one second differ: %" PRIX64 " twice", ids[i]);
	fake_now++;
	ck_assert_msg(store_queue_id_new() > max, "a later second sorts "
	    "after");
	fake_now = 0;
	for (i = 0; i < 4096; i++)
		ck_assert_msg(store_queue_id_new() != 0, "never 0");

	ck_assert_str_eq(store_queue_id_format(0x1a, buf), "000000000000001A");
	ck_assert_str_eq(store_queue_id_format(UINT64_MAX, buf),
	    "FFFFFFFFFFFFFFFF");
	ck_assert_int_eq(store_queue_id_parse("1a", &id), 0);
	ck_assert_msg(id == 0x1a, "1a");
	ck_assert_int_eq(store_queue_id_parse("00000000DeadBeef", &id), 0);
	ck_assert_msg(id == 0xdeadbeefULL, "any case");
	ck_assert_int_eq(store_queue_id_parse("FFFFFFFFFFFFFFFF", &id), 0);
	ck_assert_msg(id == UINT64_MAX, "16 digits");
	ck_assert_int_eq(store_queue_id_parse("10000000000000000", &id), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(store_queue_id_parse("", &id), -1);
	ck_assert_int_eq(store_queue_id_parse("0", &id), -1);
	ck_assert_int_eq(store_queue_id_parse("12g", &id), -1);
	ck_assert_int_eq(store_queue_id_parse("-1", &id), -1);
	ck_assert_int_eq(store_queue_id_parse(" 1", &id), -1);
	ck_assert_int_eq(store_queue_id_parse("0x1", &id), -1);
}
END_TEST

START_TEST(test_generation)
{
	struct store_queue_entry e, g;
	uint64_t gen, id;

	ck_assert_uint_eq(queue_gen(), 0);
	entry_make(&e, 2);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	gen = queue_gen();
	ck_assert_msg(gen > 0, "add moves the generation");
	ck_assert_int_eq(queue_get(id, &g), 1);
	g.attempts++;
	ck_assert_int_eq(queue_put(&g), 1);
	ck_assert_msg(queue_gen() > gen, "put moves it");
	gen = queue_gen();
	store_queue_entry_clear(&g);
	ck_assert_int_eq(queue_get(id, &g), 1);	/* reads change nothing */
	ck_assert_uint_eq(queue_gen(), gen);
	e.nrcpts = STORE_QUEUE_RCPTS_MAX + 1;
	ck_assert_int_eq(queue_add(&e, NULL), -1);
	ck_assert_uint_eq(queue_gen(), gen);
	ck_assert_int_eq(queue_del(id), 1);
	ck_assert_msg(queue_gen() > gen, "del moves it");
	gen = queue_gen();
	ck_assert_int_eq(queue_del(id), 0);
	ck_assert_int_eq(queue_put(&g), 0);
	ck_assert_uint_eq(queue_gen(), gen);
	store_queue_entry_clear(&g);
	store_queue_entry_clear(&e);
}
END_TEST

START_TEST(test_limits)
{
	struct store_queue_entry e, g;
	struct list_args l;
	uint64_t id;

	entry_make(&e, STORE_QUEUE_RCPTS_MAX + 1);
	ck_assert_int_eq(queue_add(&e, &id), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	e.nrcpts = 0;
	ck_assert_int_eq(queue_add(&e, &id), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	e.nrcpts = STORE_QUEUE_RCPTS_MAX;
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_int_eq(queue_get(id, &g), 1);
	ck_assert_uint_eq(g.nrcpts, STORE_QUEUE_RCPTS_MAX);
	ck_assert_str_eq(g.rcpts[999].addr, "rcpt999@far.example");
	g.nrcpts = STORE_QUEUE_RCPTS_MAX + 1;
	ck_assert_int_eq(queue_put(&g), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	g.nrcpts = STORE_QUEUE_RCPTS_MAX;
	store_queue_entry_clear(&g);

	e.nrcpts = 2;
	e.rcpts[1].addr[0] = '\0';
	ck_assert_int_eq(queue_add(&e, &id), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	memset(e.rcpts[1].addr, 'x', sizeof(e.rcpts[1].addr));
	ck_assert_int_eq(queue_add(&e, &id), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	snprintf(e.rcpts[1].addr, sizeof(e.rcpts[1].addr), "ok@far.example");
	memset(e.envid, 'e', sizeof(e.envid));
	ck_assert_int_eq(queue_add(&e, &id), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	e.envid[0] = '\0';
	e.ret = 7;
	ck_assert_int_eq(queue_add(&e, &id), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	e.ret = STORE_RET_NONE;
	memset(e.rcpts[0].last_reply, 'r', sizeof(e.rcpts[0].last_reply));
	ck_assert_int_eq(queue_add(&e, &id), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	e.rcpts[0].last_reply[STORE_QUEUE_REPLY_MAX] = '\0';
	e.sender[0] = '\0';	/* <> */
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_int_eq(queue_get(id, &g), 1);
	ck_assert_str_eq(g.sender, "");
	ck_assert_uint_eq(strlen(g.rcpts[0].last_reply),
	    STORE_QUEUE_REPLY_MAX);
	store_queue_entry_clear(&g);
	ck_assert_int_eq(store_read(st, list_fn, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(tu_check(st), 0);
	store_queue_entry_clear(&e);
}
END_TEST

static int
body_del_fn(struct store_txn *t, void *ctx)
{
	uint8_t key[8];

	be64enc(key, *(uint64_t *)ctx);
	return sdb_del(t, DB_BODIES, key, 8);
}

/* store check names a queue entry whose body is gone. */
START_TEST(test_check_missing_body)
{
	struct store_queue_entry e, g;
	char idbuf[STORE_QUEUE_ID_LEN + 1], want[100];
	uint64_t id;

	entry_make(&e, 1);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	ck_assert_int_eq(queue_get(id, &g), 1);
	ck_assert_int_eq(tu_check(st), 0);
	ck_assert_int_eq(store_write(st, body_del_fn, &g.body), 1);
	snprintf(want, sizeof(want), "queue entry %s refers to missing body "
	    "%" PRIu64, store_queue_id_format(id, idbuf), g.body);
	ck_assert_msg(tu_check(st) > 0 &&
	    strstr(tu_check_problems(), want) != NULL,
	    "store check says '%s': %s", want, tu_check_problems());
	store_queue_entry_clear(&g);
	store_queue_entry_clear(&e);
}
END_TEST

/*
 * A read-only open (STORE_RDONLY) reads the queue: the tables opened at
 * start stay usable after the open's own transaction ends.
 */
START_TEST(test_readonly_open)
{
	struct store_queue_entry e, g;
	struct list_args l;
	uint64_t id;

	entry_make(&e, 2);
	ck_assert_int_eq(queue_add(&e, &id), 1);
	store_close(&st);
	ck_assert_msg(store_open(dir, STORE_RDONLY | STORE_NOCREATE, &st) ==
	    0, "read-only open: %s", tu_err());
	ck_assert_msg(queue_get(id, &g) == 1, "get in a read-only open: %s",
	    tu_err());
	ck_assert_uint_eq(g.nrcpts, 2);
	store_queue_entry_clear(&g);
	ck_assert_int_eq(store_read(st, list_fn, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_msg(queue_gen() > 0, "generation");
	ck_assert_msg(tu_check(st) == 0, "store check of a read-only open: "
	    "%s %s", tu_err(), tu_check_problems());
	store_queue_entry_clear(&e);
}
END_TEST

static Suite *
queue_suite(void)
{
	Suite *s = suite_create("store_queue");
	TCase *tc = tcase_create("queue");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_put_empty_removes);
	tcase_add_test(tc, test_v1_record);
	tcase_add_test(tc, test_id_collision);
	tcase_add_test(tc, test_id_new_format_parse);
	tcase_add_test(tc, test_generation);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_check_missing_body);
	tcase_add_test(tc, test_readonly_open);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(queue_suite());
}
