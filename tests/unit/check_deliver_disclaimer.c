/*
 * check_deliver_disclaimer.c - disclaimer rules applied by the delivery
 * pipeline (deliver/disclaimer.c): the stored copies carry the text,
 * BCC copies too; the caller gets its own bytes back when the job ends;
 * deliver_begin() says there is work when a rule applies; the first rule
 * in name order wins; exceptions, "not when all recipients are local" and
 * jobs that did not ask for client rules leave the message alone.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "deliver/deliver.h"
#include "store/bcc.h"
#include "store/disclaimer.h"
#include "store/store.h"
#include "store/user.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static struct deliver_config dcf = { .quota_grace_days = 5,
    .hostname = "mx.example.test" };

static const char msg[] = "From: alice@example.test\r\n"
    "Subject: disclaimer\r\n\r\nhello\r\n";

struct rule_args {
	struct store_disclaimer	 d;
	store_disclaimer_pat	 es[1];
};

static int
rule_fn(struct store_txn *t, void *ctx)
{
	return store_disclaimer_put(t, &((struct rule_args *)ctx)->d, 0);
}

static void
rule(const char *name, const char *sender, const char *except_sender,
    int not_all_local, const char *text)
{
	struct rule_args a;

	memset(&a, 0, sizeof(a));
	snprintf(a.d.name, sizeof(a.d.name), "%s", name);
	snprintf(a.d.sender, sizeof(a.d.sender), "%s", sender);
	if (except_sender != NULL) {
		snprintf(a.es[0], sizeof(a.es[0]), "%s", except_sender);
		a.d.except_sender = a.es;
		a.d.nexcept_sender = 1;
	}
	a.d.not_all_local = not_all_local;
	a.d.text = (char *)text;
	a.d.textlen = strlen(text);
	ck_assert_msg(store_write(st, rule_fn, &a) == 1, "disclaimer add: %s",
	    err_msg());
}

static int
bcc_fn(struct store_txn *t, void *ctx)
{
	return store_bcc_add(t, ctx);
}

static void
setup(void)
{
	dir = tu_tmpdir("deliver-disclaimer");
	st = tu_open(dir);
	tu_make_user(st, "alice@example.test");
	tu_make_user(st, "bob@example.test");
	tu_make_user(st, "arch@example.test");
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

struct uinfo {
	const char		*login;
	struct store_user	 u;
};

static int
find_fn(struct store_txn *t, void *ctx)
{
	struct uinfo *i = ctx;

	return store_user_find(t, i->login, &i->u);
}

/* The newest message of login, whole (malloc'd), or NULL. */
static char *
newest(const char *login, size_t *len_r)
{
	struct uinfo i = { login, { 0 } };
	void *data;
	size_t len;

	ck_assert_msg(store_read(st, find_fn, &i) == 1, "no user %s", login);
	if (i.u.used_messages == 0)
		return NULL;
	ck_assert_int_eq(tu_read(st, tu_inbox(st, i.u.id),
	    (uint32_t)i.u.used_messages, &data, &len), 1);
	*len_r = len;
	return data;
}

static void
job_init(struct deliver_job *job, const char *sender,
    struct deliver_rcpt *rcpts, const char *const *to, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ck_assert_msg(deliver_resolve(st, &dcf, to[i], 0, &rcpts[i]) ==
		    0, "resolve %s: %s", to[i], err_msg());
		if (rcpts[i].kind == DELIVER_NOTLOCAL)
			rcpts[i].relay = 1;	/* as an AUTH client's */
	}
	memset(job, 0, sizeof(*job));
	job->sender = sender;
	job->data = msg;
	job->len = sizeof(msg) - 1;
	job->rcpts = rcpts;
	job->nrcpts = n;
	job->all_or_nothing = 1;
	job->bcc = 1;
}

/* login's newest message ends with the sent bytes + tail exactly. */
static void
ends_with(const char *login, const char *tail)
{
	char want[1024], *m;
	size_t len, wl;

	wl = (size_t)snprintf(want, sizeof(want), "%s%s", msg, tail);
	m = newest(login, &len);
	ck_assert_msg(m != NULL && len > wl &&
	    memcmp(m + len - wl, want, wl) == 0,
	    "%s: wanted the message to end\n%s\ngot\n%.*s", login, want,
	    m != NULL ? (int)len : 0, m != NULL ? m : "");
	free(m);
}

static void
run(const char *sender, const char *const *to, size_t n, int bcc)
{
	struct deliver_rcpt rcpts[4];
	struct deliver_job job, *jobs[1] = { &job };
	size_t i;

	job_init(&job, sender, rcpts, to, n);
	job.bcc = bcc;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_msg(job.data == msg && job.len == sizeof(msg) - 1,
	    "the caller's bytes are its own again");
	for (i = 0; i < n; i++) {
		ck_assert_msg(rcpts[i].code == 250, "%s: %d %s", to[i],
		    rcpts[i].code, rcpts[i].text);
		deliver_rcpt_clear(&rcpts[i]);
	}
}

START_TEST(test_stored_with_text)
{
	static const char *const to[] = { "bob@example.test" };
	struct store_bcc b;

	rule("10", "@example.test", NULL, 0, "-- \nConfidential\n");
	memset(&b, 0, sizeof(b));
	b.kind = STORE_BCC_ALL;
	snprintf(b.target, sizeof(b.target), "arch@example.test");
	ck_assert_int_eq(store_write(st, bcc_fn, &b), 1);
	run("alice@example.test", to, 1, 1);
	ends_with("bob@example.test", "\r\n-- \r\nConfidential\r\n");
	ends_with("arch@example.test", "\r\n-- \r\nConfidential\r\n");
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

/* deliver_begin() hands the rewrite to the filter step; the end undoes. */
START_TEST(test_begin_says_work)
{
	static const char *const to[] = { "bob@example.test" };
	struct deliver_rcpt rcpts[1];
	struct deliver_job job;

	job_init(&job, "alice@example.test", rcpts, to, 1);
	ck_assert_int_eq(deliver_begin(st, &dcf, &job), 2);
	deliver_end(st, &job);
	rule("10", "", NULL, 0, "D");
	ck_assert_int_eq(deliver_begin(st, &dcf, &job), 1);
	ck_assert_msg(job.data == msg, "not rewritten on the loop");
	deliver_filter_job(&job);
	ck_assert_msg(job.data != msg && job.len == sizeof(msg) - 1 + 5 &&
	    memcmp((const char *)job.data + sizeof(msg) - 1, "\r\nD\r\n", 5) ==
	    0, "rewritten by the filter step: %.*s", (int)job.len,
	    (const char *)job.data);
	/* begun again: the same answer, no second rewrite */
	ck_assert_int_eq(deliver_begin(st, &dcf, &job), 2);
	deliver_filter_job(&job);
	ck_assert_int_eq(job.len, sizeof(msg) - 1 + 5);
	deliver_end(st, &job);
	ck_assert_msg(job.data == msg && job.len == sizeof(msg) - 1,
	    "deliver_end() gives the caller its bytes back");
	deliver_rcpt_clear(&rcpts[0]);
}
END_TEST

START_TEST(test_first_rule_and_exception)
{
	static const char *const to[] = { "bob@example.test" };

	rule("a", "", "alice@example.test", 0, "A");
	rule("b", "@example.test", NULL, 0, "B");
	rule("c", "", NULL, 0, "C");
	run("alice@example.test", to, 1, 1);
	ends_with("bob@example.test", "\r\nB\r\n");
	run("x@remote.test", to, 1, 1);
	ends_with("bob@example.test", "\r\nA\r\n");
	run("", to, 1, 1);	/* <> matches "" patterns only */
	ends_with("bob@example.test", "\r\nA\r\n");
}
END_TEST

START_TEST(test_not_all_local)
{
	static const char *const local[] = { "bob@example.test" };
	static const char *const mixed[] = { "bob@example.test",
	    "carl@far.test" };

	rule("10", "", NULL, 1, "D");
	run("alice@example.test", local, 1, 1);
	ends_with("bob@example.test", "");
	run("alice@example.test", mixed, 2, 1);
	ends_with("bob@example.test", "\r\nD\r\n");
}
END_TEST

/* A job that does not ask (a notice, an import): left alone. */
START_TEST(test_only_when_asked)
{
	static const char *const to[] = { "bob@example.test" };

	rule("10", "", NULL, 0, "D");
	run("alice@example.test", to, 1, 0);
	ends_with("bob@example.test", "");
}
END_TEST

static Suite *
disc_suite(void)
{
	Suite *s = suite_create("deliver_disclaimer");
	TCase *tc = tcase_create("disclaimer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stored_with_text);
	tcase_add_test(tc, test_begin_says_work);
	tcase_add_test(tc, test_first_rule_and_exception);
	tcase_add_test(tc, test_not_all_local);
	tcase_add_test(tc, test_only_when_asked);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(disc_suite());
}
