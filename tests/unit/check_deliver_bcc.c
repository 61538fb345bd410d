/*
 * check_deliver_bcc.c - automatic BCC rules applied by the delivery
 * pipeline (deliver/bcc.c): the caller's recipients and replies stay its
 * own, the copy is byte-identical after its prefix, a remote target is
 * queued with NOTIFY=NEVER, a target that is a recipient or given by two
 * rules gets one copy, an unknown target is skipped, a full archive in
 * the same group commit fails nobody else, jobs that did not ask for the
 * rules (server-made mail) get none.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "deliver/deliver.h"
#include "store/bcc.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static struct deliver_config dcf = { .quota_grace_days = 5,
    .hostname = "mx.example.test" };

static const char msg[] = "From: sender@remote.test\r\n"
    "Subject: bcc\r\n\r\nhello\r\n";

static int
rule_fn(struct store_txn *t, void *ctx)
{
	return store_bcc_add(t, ctx);
}

static void
rule(enum store_bcc_kind kind, const char *key, const char *target)
{
	struct store_bcc b;

	memset(&b, 0, sizeof(b));
	b.kind = kind;
	snprintf(b.key, sizeof(b.key), "%s", key);
	snprintf(b.target, sizeof(b.target), "%s", target);
	ck_assert_msg(store_write(st, rule_fn, &b) == 1, "bcc add: %s",
	    err_msg());
}

static void
setup(void)
{
	dir = tu_tmpdir("deliver-bcc");
	st = tu_open(dir);
	tu_make_user(st, "bob@example.test");
	tu_make_user(st, "carol@example.test");
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

static struct store_user
user(const char *login)
{
	struct uinfo i = { login, { 0 } };

	ck_assert_msg(store_read(st, find_fn, &i) == 1, "no user %s", login);
	return i.u;
}

static int
update_fn(struct store_txn *t, void *ctx)
{
	return store_user_update(t, ctx);
}

/* Every queued recipient as "addr/notify " (notify in hex). */
static int
queue_one(const struct store_queue_entry *e, void *ctx)
{
	char *buf = ctx;
	size_t i, n;

	for (i = 0; i < e->nrcpts; i++) {
		n = strlen(buf);
		snprintf(buf + n, 1024 - n, "%s/%x ", e->rcpts[i].addr,
		    e->rcpts[i].notify);
	}
	return 0;
}

static int
queue_fn(struct store_txn *t, void *ctx)
{
	((char *)ctx)[0] = '\0';
	return store_queue_list(t, queue_one, ctx);
}

static void
job_init(struct deliver_job *job, const char *sender,
    struct deliver_rcpt *rcpts, const char *const *to, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_assert_msg(deliver_resolve(st, &dcf, to[i], 0, &rcpts[i]) ==
		    0, "resolve %s: %s", to[i], err_msg());
	memset(job, 0, sizeof(*job));
	job->sender = sender;
	job->data = msg;
	job->len = sizeof(msg) - 1;
	job->rcpts = rcpts;
	job->nrcpts = n;
	job->all_or_nothing = 1;
	job->bcc = 1;
}

/* The newest message of login, without its prefix (Return-Path...). */
static char *
newest(const char *login, size_t *len_r, uint32_t *count_r)
{
	struct store_user u = user(login);
	void *data;
	size_t len;

	*count_r = (uint32_t)u.used_messages;
	if (u.used_messages == 0)
		return NULL;
	ck_assert_int_eq(tu_read(st, tu_inbox(st, u.id),
	    (uint32_t)u.used_messages, &data, &len), 1);
	*len_r = len;
	return data;
}

START_TEST(test_copy_and_caller_array)
{
	static const char *const to[] = { "bob@example.test" };
	struct deliver_rcpt rcpts[1];
	struct deliver_job job, *jobs[1] = { &job };
	char *a, *b, q[1024];
	size_t la, lb;
	uint32_t na, nb;

	rule(STORE_BCC_SENDER, "@remote.test", "arch@example.test");
	rule(STORE_BCC_RECIPIENT, "bob@example.test", "keep@far.test");
	rule(STORE_BCC_ALL, "", "arch@example.test");	/* the same target */
	job_init(&job, "sender@remote.test", rcpts, to, 1);
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_msg(job.rcpts == rcpts && job.nrcpts == 1,
	    "the caller's recipients are its own again: %p %zu",
	    (void *)job.rcpts, job.nrcpts);
	ck_assert_msg(rcpts[0].code == 250 && job.delivered == 1,
	    "bob: %d %s, delivered %d", rcpts[0].code, rcpts[0].text,
	    job.delivered);
	a = newest("bob@example.test", &la, &na);
	b = newest("arch@example.test", &lb, &nb);
	ck_assert_msg(na == 1 && nb == 1, "bob %u, arch %u messages (two "
	    "rules naming arch make one copy)", na, nb);
	ck_assert_msg(la >= sizeof(msg) - 1 && lb >= sizeof(msg) - 1 &&
	    memcmp(a + la - (sizeof(msg) - 1), msg, sizeof(msg) - 1) == 0 &&
	    memcmp(b + lb - (sizeof(msg) - 1), msg, sizeof(msg) - 1) == 0,
	    "both end with the message");
	ck_assert_msg(memmem(b, lb, "Delivered-To: arch@example.test\r\n",
	    33) != NULL && la - strlen("bob") == lb - strlen("arch") &&
	    memcmp(a + la - (sizeof(msg) - 1), b + lb - (sizeof(msg) - 1),
	    sizeof(msg) - 1) == 0,
	    "arch's copy differs in Delivered-To only: %.*s", (int)lb, b);
	free(a);
	free(b);
	/* the remote target is queued, NOTIFY=NEVER (0x01) */
	ck_assert_int_eq(store_read(st, queue_fn, q), 0);
	ck_assert_str_eq(q, "keep@far.test/1 ");
	deliver_rcpt_clear(&rcpts[0]);
}
END_TEST

START_TEST(test_no_duplicates_and_unknown)
{
	static const char *const to[] = { "bob@example.test",
	    "arch@example.test" };
	struct deliver_rcpt rcpts[2];
	struct deliver_job job, *jobs[1] = { &job };
	char q[1024];

	rule(STORE_BCC_RECIPIENT, "bob@example.test", "arch@example.test");
	rule(STORE_BCC_RECIPIENT, "@example.test", "ghost@example.test");
	job_init(&job, "", rcpts, to, 2);
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_msg(rcpts[0].code == 250 && rcpts[1].code == 250 &&
	    job.nrcpts == 2 && job.delivered == 2, "codes %d %d, %zu, %d",
	    rcpts[0].code, rcpts[1].code, job.nrcpts, job.delivered);
	ck_assert_int_eq(user("arch@example.test").used_messages, 1);
	ck_assert_int_eq(store_read(st, queue_fn, q), 0);
	ck_assert_str_eq(q, "");
	deliver_rcpt_clear(&rcpts[0]);
	deliver_rcpt_clear(&rcpts[1]);
}
END_TEST

/*
 * Two messages in one group commit, each with a copy for an archive
 * that has room for one: the second copy is refused, its message is
 * delivered (SMTP's all or nothing is about the client's recipients).
 */
START_TEST(test_full_archive_fails_nobody)
{
	static const char *const to1[] = { "bob@example.test" };
	static const char *const to2[] = { "carol@example.test" };
	struct deliver_rcpt r1[1], r2[1];
	struct deliver_job j1, j2, *jobs[2] = { &j1, &j2 };
	struct store_user u = user("arch@example.test");

	u.quota_messages = 1;
	ck_assert_int_eq(store_write(st, update_fn, &u), 1);
	rule(STORE_BCC_ALL, "", "arch@example.test");
	job_init(&j1, "s@remote.test", r1, to1, 1);
	job_init(&j2, "s@remote.test", r2, to2, 1);
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 2), 0);
	ck_assert_msg(r1[0].code == 250 && r2[0].code == 250,
	    "bob %d %s, carol %d %s", r1[0].code, r1[0].text, r2[0].code,
	    r2[0].text);
	ck_assert_int_eq(user("bob@example.test").used_messages, 1);
	ck_assert_int_eq(user("carol@example.test").used_messages, 1);
	ck_assert_int_eq(user("arch@example.test").used_messages, 1);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
	deliver_rcpt_clear(&r1[0]);
	deliver_rcpt_clear(&r2[0]);
}
END_TEST

/* A job that does not ask (a notice, an import): no copy. */
START_TEST(test_only_when_asked)
{
	static const char *const to[] = { "bob@example.test" };
	struct deliver_rcpt rcpts[1];
	struct deliver_job job, *jobs[1] = { &job };

	rule(STORE_BCC_ALL, "", "arch@example.test");
	job_init(&job, "s@remote.test", rcpts, to, 1);
	job.bcc = 0;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_int_eq(rcpts[0].code, 250);
	ck_assert_int_eq(user("arch@example.test").used_messages, 0);
	deliver_rcpt_clear(&rcpts[0]);
	ck_assert_int_eq(deliver_server_message(st, &dcf, "bob@example.test",
	    msg, sizeof(msg) - 1, 0, 0, NULL), 1);
	ck_assert_int_eq(user("bob@example.test").used_messages, 2);
	ck_assert_int_eq(user("arch@example.test").used_messages, 0);
}
END_TEST

static Suite *
bcc_suite(void)
{
	Suite *s = suite_create("deliver_bcc");
	TCase *tc = tcase_create("bcc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_copy_and_caller_array);
	tcase_add_test(tc, test_no_duplicates_and_unknown);
	tcase_add_test(tc, test_full_archive_fails_nobody);
	tcase_add_test(tc, test_only_when_asked);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(bcc_suite());
}
