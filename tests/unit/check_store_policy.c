/*
 * check_store_policy.c - the outgoing policy rows (store/policy.h):
 * parsing and printing of each kind of setting, user and domain rows,
 * what applies (defaults < domain < user), counters and the recipients
 * of a day, rows that go with their user and domain, damaged rows found
 * by store check, and a store made before the table.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/domain.h"
#include "store/policy.h"
#include "store/private.h"
#include "testutil.h"

static Suite	*policy_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("policy");
	st = tu_open(dir);
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* The value of key in p as vellumctl prints it. */
static const char *
fmt(const struct store_policy *p, enum store_pol_key k)
{
	static char buf[300];

	store_policy_format(p, k, buf, sizeof(buf));
	return buf;
}

START_TEST(test_parse_format)
{
	static const struct {
		const char	*name, *in, *out;
		uint64_t	 v;
	} ok[] = {
		{ "per-minute", "10", "10", 10 },
		{ "per-day", "0", "0", 0 },
		{ "bytes-per-day", "10M", "10M", 10 << 20 },
		{ "bytes-per-day", "1536", "1536", 1536 },
		{ "attachment-size", "1.5M", "1536K", 1536 << 10 },
		{ "lock-time", "90m", "90m", 5400 },
		{ "lock-time", "3600", "1h", 3600 },
		{ "lock-time", "2d", "2d", 172800 },
		{ "notify-user", "yes", "yes", 1 },
		{ "valid-sender", "no", "no", 0 },
		{ "spam-score", "5", "5", 50 },
		{ "spam-score", "6.5", "6.5", 65 },
		{ "sender-domain", "Example.TEST", "example.test", 0 },
	};
	static const struct {
		const char	*name, *in, *says;
	} bad[] = {
		{ "per-minute", "-1", "whole number" },
		{ "per-minute", "ten", "whole number" },
		{ "per-minute", "99999999999", "whole number" },
		{ "bytes-per-day", "lots", "size" },
		{ "lock-time", "1y", "time" },
		{ "lock-time", "", "time" },
		{ "notify-user", "true", "yes, no" },
		{ "spam-score", "5.55", "score" },
		{ "spam-score", "-3", "score" },
		{ "sender-domain", "not a domain", "domain" },
	};
	struct store_policy p;
	size_t i;
	int k;

	ck_assert_int_eq(store_policy_key("nonsense"), -1);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(&p, 0, sizeof(p));
		k = store_policy_key(ok[i].name);
		ck_assert_int_ge(k, 0);
		ck_assert_msg(store_policy_parse(k, ok[i].in, &p) == 0,
		    "%s %s: %s", ok[i].name, ok[i].in, err_msg());
		ck_assert_uint_eq(p.set, 1u << k);
		if (k != STORE_POL_SENDER_DOMAIN)
			ck_assert_uint_eq(p.v[k], ok[i].v);
		ck_assert_str_eq(fmt(&p, k), ok[i].out);
		/* what is printed reads back to the same */
		{
			struct store_policy q;
			char again[300];

			memset(&q, 0, sizeof(q));
			snprintf(again, sizeof(again), "%s", fmt(&p, k));
			ck_assert_int_eq(store_policy_parse(k, again, &q), 0);
			ck_assert_uint_eq(q.v[k], p.v[k]);
		}
		ck_assert_int_eq(store_policy_parse(k, "-", &p), 0);
		ck_assert_uint_eq(p.set, 0);
		ck_assert_str_eq(fmt(&p, k), "-");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&p, 0, sizeof(p));
		k = store_policy_key(bad[i].name);
		ck_assert_int_eq(store_policy_parse(k, bad[i].in, &p), -1);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		ck_assert_msg(strstr(err_msg(), bad[i].name) != NULL &&
		    strstr(err_msg(), bad[i].says) != NULL, "%s %s: %s",
		    bad[i].name, bad[i].in, err_msg());
		ck_assert_uint_eq(p.set, 0);
	}
}
END_TEST

struct args {
	uint32_t		 user_id;
	const char		*domain, *address;
	int			 key;
	const char		*value;
	struct store_subject	 sj;
	struct store_policy	 p;
	struct store_sendstat	 s;
	int			 rc;
};

/* Read, change one setting, write: as vellumctl does. */
static int
set_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	if ((a->domain != NULL ? store_policy_domain_get(t, a->domain,
	    &a->p) : store_policy_user_get(t, a->user_id, &a->p)) == -1 ||
	    store_policy_parse(a->key, a->value, &a->p) == -1)
		return -1;
	return a->domain != NULL ? store_policy_domain_set(t, a->domain,
	    &a->p) : store_policy_user_set(t, a->user_id, &a->p);
}

static int
eff_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_policy_effective(t, a->user_id, a->address, &a->p);
}

static int
own_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	a->rc = store_policy_user_get(t, a->user_id, &a->p);
	return a->rc == -1 ? -1 : 0;
}

static void
set(uint32_t user_id, const char *domain, const char *name, const char *v)
{
	struct args a;
	int k = store_policy_key(name);

	memset(&a, 0, sizeof(a));
	a.user_id = user_id;
	a.domain = domain;
	a.key = k;
	a.value = v;
	ck_assert_msg(store_write(st, set_fn, &a) == 0, "%s", err_msg());
}

START_TEST(test_effective)
{
	uint32_t alice = tu_make_user(st, "alice@example.test");
	uint32_t bob = tu_make_user(st, "bob@example.test");
	struct args a;

	memset(&a, 0, sizeof(a));
	a.user_id = alice;
	a.address = "alice@example.test";
	ck_assert_int_eq(store_read(st, eff_fn, &a), 0);
	ck_assert_str_eq(fmt(&a.p, STORE_POL_LOCK_TIME), "1h");
	ck_assert_str_eq(fmt(&a.p, STORE_POL_MAX_UNLOCKS), "3");
	ck_assert_str_eq(fmt(&a.p, STORE_POL_PER_HOUR), "0");

	set(0, "example.test", "per-hour", "100");
	set(0, "example.test", "lock-time", "30m");
	set(alice, NULL, "per-hour", "50");
	set(alice, NULL, "sender-domain", "example.test");
	ck_assert_int_eq(store_read(st, eff_fn, &a), 0);
	ck_assert_uint_eq(a.p.v[STORE_POL_PER_HOUR], 50);
	ck_assert_uint_eq(a.p.v[STORE_POL_LOCK_TIME], 1800);
	ck_assert_str_eq(a.p.domain, "example.test");
	a.user_id = bob;
	a.address = "bob@example.test";
	ck_assert_int_eq(store_read(st, eff_fn, &a), 0);
	ck_assert_uint_eq(a.p.v[STORE_POL_PER_HOUR], 100);
	ck_assert_str_eq(a.p.domain, "");
	/* a user's row with nothing left in it goes */
	set(alice, NULL, "per-hour", "-");
	set(alice, NULL, "sender-domain", "-");
	a.user_id = alice;
	ck_assert_int_eq(store_read(st, own_fn, &a), 0);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(tu_check(st), 0);
}
END_TEST

static int
stat_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	if (a->rc == 1)
		return store_sendstat_put(t, &a->sj, &a->s);
	return store_sendstat_get(t, &a->sj, &a->s) == -1 ? -1 : 0;
}

static int
rcpt_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	a->rc = store_sendstat_rcpt(t, &a->sj, a->s.day, a->address);
	return a->rc == -1 ? -1 : 0;
}

static int
seen_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	a->rc = store_sendstat_seen(t, &a->sj, a->s.day, a->address);
	return a->rc == -1 ? -1 : 0;
}

static int
newday_max_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	a->rc = store_sendstat_newday(t, &a->sj, a->s.day, 2);
	return a->rc == -1 ? -1 : 0;
}

static int
newday_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_sendstat_newday(t, &a->sj, a->s.day, SIZE_MAX) == -1 ?
	    -1 : 0;
}

static int
rcpt(struct args *a, int64_t day, const char *addr, int seen_only)
{
	a->s.day = day;
	a->address = addr;
	ck_assert_int_eq(seen_only ? store_read(st, seen_fn, a) :
	    store_write(st, rcpt_fn, a), 0);
	return a->rc;
}

START_TEST(test_counters)
{
	uint32_t alice = tu_make_user(st, "alice@example.test");
	struct args a;

	memset(&a, 0, sizeof(a));
	a.user_id = alice;
	store_subject_user(&a.sj, alice);
	ck_assert_int_eq(store_read(st, stat_fn, &a), 0);
	ck_assert_int_eq(a.s.msgs, 0);
	a.s.day = 20000;
	a.s.msgs = 7;
	a.s.bytes = 123456789012ULL;
	a.s.locked_until = STORE_LOCK_FOREVER;
	a.s.unlocks = 2;
	snprintf(a.s.reason, sizeof(a.s.reason), "more than 7 messages");
	a.rc = 1;
	ck_assert_int_eq(store_write(st, stat_fn, &a), 0);
	memset(&a.s, 0, sizeof(a.s));
	a.rc = 0;
	ck_assert_int_eq(store_read(st, stat_fn, &a), 0);
	ck_assert_int_eq(a.s.msgs, 7);
	ck_assert_uint_eq(a.s.bytes, 123456789012ULL);
	ck_assert(a.s.locked_until == STORE_LOCK_FOREVER);
	ck_assert_int_eq(a.s.unlocks, 2);
	ck_assert_str_eq(a.s.reason, "more than 7 messages");

	/* distinct recipients per day */
	ck_assert_int_eq(rcpt(&a, 20000, "bob@example.test", 1), 0);
	ck_assert_int_eq(rcpt(&a, 20000, "bob@example.test", 0), 1);
	ck_assert_int_eq(rcpt(&a, 20000, "bob@example.test", 0), 0);
	ck_assert_int_eq(rcpt(&a, 20000, "bob@example.test", 1), 1);
	ck_assert_int_eq(rcpt(&a, 20001, "bob@example.test", 1), 0);
	ck_assert_int_eq(rcpt(&a, 20001, "carol@example.test", 0), 1);
	/* a new day drops the days before it, not itself */
	a.s.day = 20001;
	ck_assert_int_eq(store_write(st, newday_fn, &a), 0);
	ck_assert_int_eq(rcpt(&a, 20000, "bob@example.test", 1), 0);
	ck_assert_int_eq(rcpt(&a, 20001, "carol@example.test", 1), 1);
	ck_assert_int_eq(tu_check(st), 0);

	/* at most max rows go per call */
	ck_assert_int_eq(rcpt(&a, 19990, "x1@example.test", 0), 1);
	ck_assert_int_eq(rcpt(&a, 19990, "x2@example.test", 0), 1);
	ck_assert_int_eq(rcpt(&a, 19991, "x3@example.test", 0), 1);
	a.s.day = 20001;
	ck_assert_int_eq(store_write(st, newday_max_fn, &a), 0);
	ck_assert_int_eq(a.rc, 1);
	ck_assert_int_eq(rcpt(&a, 19991, "x3@example.test", 1), 1);
	a.s.day = 20001;
	ck_assert_int_eq(store_write(st, newday_max_fn, &a), 0);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(rcpt(&a, 19991, "x3@example.test", 1), 0);
	ck_assert_int_eq(rcpt(&a, 20001, "carol@example.test", 1), 1);

	/* a domain login's and a host's counters are their own */
	{
		struct args d;

		memset(&d, 0, sizeof(d));
		store_subject_named(&d.sj, STORE_SUBJ_DOMAIN, "example.test");
		d.s.day = 20001;
		d.s.msgs = 3;
		d.rc = 1;
		ck_assert_int_eq(store_write(st, stat_fn, &d), 0);
		ck_assert_int_eq(rcpt(&d, 20001, "carol@example.test", 1), 0);
		store_subject_named(&d.sj, STORE_SUBJ_HOST, "192.0.2.7");
		d.rc = 0;
		ck_assert_int_eq(store_read(st, stat_fn, &d), 0);
		ck_assert_int_eq(d.s.msgs, 0);
		d.rc = 1;
		d.s.msgs = 4;
		ck_assert_int_eq(store_write(st, stat_fn, &d), 0);
		ck_assert_int_eq(rcpt(&d, 20001, "dave@example.test", 0), 1);
		ck_assert_int_eq(tu_check(st), 0);
		ck_assert_uint_eq(store_subject_user_id(&a.sj), alice);
		ck_assert_uint_eq(store_subject_user_id(&d.sj), 0);
	}

	/* everything of the user goes with it */
	set(alice, NULL, "per-day", "5");
	ck_assert_int_eq(tu_user_del(st, alice), 1);
	ck_assert_int_eq(tu_check(st), 0);
	a.rc = 0;
	ck_assert_int_eq(store_read(st, stat_fn, &a), 0);
	ck_assert_int_eq(a.s.msgs, 0);
	ck_assert_int_eq(rcpt(&a, 20001, "carol@example.test", 1), 0);
}
END_TEST

struct problems {
	int	n;
	char	last[512];
};

static void
problem(const char *p, void *ctx)
{
	struct problems *pr = ctx;

	pr->n++;
	snprintf(pr->last, sizeof(pr->last), "%s", p);
}

static int
damage_fn(struct store_txn *t, void *ctx)
{
	static const uint8_t key[] = { 'u', 0, 0, 0, 1 };
	static const uint8_t v[] = { 0xff, 0xff, 0xff, 0xff };

	(void)ctx;
	return sdb_put(t, DB_POLICY, key, sizeof(key), v, sizeof(v), 0) ==
	    -1 ? -1 : 0;
}

static int
domain_del_fn(struct store_txn *t, void *ctx)
{
	return store_domain_del(t, ctx) == -1 ? -1 : 0;
}

START_TEST(test_damaged)
{
	struct problems pr = { 0, "" };
	uint32_t alice = tu_make_user(st, "alice@example.test");

	ck_assert_uint_eq(alice, 1);
	ck_assert_int_eq(tu_domain_add(st, "empty.test"), 1);
	set(0, "empty.test", "per-day", "9");
	set(alice, NULL, "per-day", "5");
	ck_assert_int_eq(store_check(st, problem, &pr), 0);
	/* a domain's row goes with the domain */
	ck_assert_int_eq(store_write(st, domain_del_fn, "empty.test"), 0);
	ck_assert_int_eq(store_check(st, problem, &pr), 0);
	/* a set mask with unknown settings */
	ck_assert_int_eq(store_write(st, damage_fn, NULL), 0);
	ck_assert_int_eq(store_check(st, problem, &pr), 1);
	ck_assert_msg(strstr(pr.last, "sending policy") != NULL, "%s",
	    pr.last);
}
END_TEST

static int
drop_fn(struct store_txn *t, void *ctx)
{
	MDB_dbi dbi;

	(void)ctx;
	if (mdb_dbi_open(t->txn, "policy", 0, &dbi) != 0 ||
	    mdb_drop(t->txn, dbi, 1) != 0)
		return err_set(ERR_TEMP, "cannot drop policy");
	return 0;
}

/* A store made before the table: read-only opens see the defaults. */
START_TEST(test_old_store)
{
	struct store *ro = NULL;
	uint32_t alice = tu_make_user(st, "alice@example.test");
	struct args a;

	set(alice, NULL, "per-day", "5");
	ck_assert_int_eq(store_write(st, drop_fn, NULL), 0);
	store_close(&st);
	ck_assert_msg(store_open(dir, STORE_RDONLY | STORE_NOCREATE, &ro) ==
	    0, "read-only open: %s", err_msg());
	memset(&a, 0, sizeof(a));
	a.user_id = alice;
	a.address = "alice@example.test";
	ck_assert_int_eq(store_read(ro, eff_fn, &a), 0);
	ck_assert_uint_eq(a.p.v[STORE_POL_PER_DAY], 0);
	store_close(&ro);
	st = tu_open(dir);
	set(alice, NULL, "per-day", "5");
	ck_assert_int_eq(store_read(st, eff_fn, &a), 0);
	ck_assert_uint_eq(a.p.v[STORE_POL_PER_DAY], 5);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("store_policy");
	TCase *tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_format);
	tcase_add_test(tc, test_effective);
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_damaged);
	tcase_add_test(tc, test_old_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(policy_suite());
}
