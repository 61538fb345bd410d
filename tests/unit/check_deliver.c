/*
 * check_deliver.c - the delivery pipeline (deliver/deliver.c): routing
 * rules, quota and over-quota disablement, per-recipient prefixes that
 * keep the rest deduplicated, group commit, busy delivery locks, a
 * recipient gone between RCPT and the end of data (SMTP 451 4.1.1), BATV
 * senders and recipients.
 */
#include <check.h>
#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "deliver/deliver.h"
#include "deliver/dsn.h"
#include "deliver/srs.h"
#include "store/addr.h"
#include "store/check.h"
#include "store/domain.h"
#include "store/lock.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static struct deliver_config dcf = { .quota_grace_days = 5,
    .hostname = "mx.example.test" };
static time_t fake_now;

static void	srs_off(void);

static const char msg[] = "From: sender@remote.test\r\n"
    "Subject: pipeline\r\n\r\nhello\r\n";

static time_t
fake_clock(void)
{
	return fake_now;
}

struct addop {
	const char	*addr;
	const char	*targets[4];
	size_t		 n;
};

static int
addr_fn(struct store_txn *t, void *ctx)
{
	struct addop *o = ctx;

	return store_addr_add(t, o->addr, o->targets, o->n);
}

static void
route(const char *addr, const char *t1, const char *t2)
{
	struct addop o = { addr, { t1, t2 }, t2 != NULL ? 2 : 1 };
	int rc = store_write(st, addr_fn, &o);

	ck_assert_msg(rc == 1, "addr add %s: %d %s", addr, rc, err_msg());
}

static int
alias_fn(struct store_txn *t, void *ctx)
{
	const char **a = ctx;

	return store_domain_alias(t, a[0], a[1]);
}

static void
setup(void)
{
	const char *alias[2] = { "alias.test", "example.test" };

	fake_now = time(NULL);
	store_set_clock(fake_clock);
	dir = tu_tmpdir("deliver");
	st = tu_open(dir);
	tu_make_user(st, "bob@example.test");
	tu_make_user(st, "carol@example.test");
	tu_make_user(st, "info@other.test");
	ck_assert_int_eq(store_write(st, alias_fn, alias), 1);
}

static void
teardown(void)
{
	srs_off();
	dcf.batv_secret_len = 0;
	store_close(&st);
	store_set_clock(NULL);
}

static void
resolve(const char *addr, uint64_t size, struct deliver_rcpt *r)
{
	int rc = deliver_resolve(st, &dcf, addr, size, r);

	ck_assert_msg(rc == 0, "resolve %s: %d %s", addr, rc, err_msg());
}

/* Resolves addr and checks the user addresses it reaches. */
static void
expect_users(const char *addr, const char *u1, const char *u2)
{
	struct deliver_rcpt r;
	size_t i, n = 0;

	resolve(addr, 0, &r);
	ck_assert_msg(r.kind == DELIVER_LOCAL, "%s: kind %d (%d %s)", addr,
	    r.kind, r.code, r.text);
	for (i = 0; i < r.ntargets; i++) {
		const char *a = r.targets[i].addr;

		ck_assert_msg(strcmp(a, u1) == 0 || (u2 != NULL &&
		    strcmp(a, u2) == 0), "%s reached %s, wanted %s/%s", addr,
		    a, u1, u2 ? u2 : "-");
		n++;
	}
	ck_assert_msg(n == (u2 != NULL ? 2u : 1u), "%s: %zu targets", addr,
	    n);
	deliver_rcpt_clear(&r);
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
deliver(const char *sender, const char *const *addrs, size_t n,
    int all_or_nothing, struct deliver_rcpt *rcpts)
{
	struct deliver_job job, *jobs[1] = { &job };
	size_t i;

	for (i = 0; i < n; i++)
		resolve(addrs[i], 0, &rcpts[i]);
	memset(&job, 0, sizeof(job));
	job.sender = sender;
	job.data = msg;
	job.len = sizeof(msg) - 1;
	job.rcpts = rcpts;
	job.nrcpts = n;
	job.all_or_nothing = all_or_nothing;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_msg(!job.busy, "job busy");
	return job.delivered;
}

START_TEST(test_routing_rules)
{
	struct deliver_rcpt r;

	route("sales@example.test", "bob@example.test", "carol@example.test");
	route("@other.test", "carol@example.test", NULL);
	route("list@example.test", "sales@example.test", NULL);

	expect_users("bob@example.test", "bob@example.test", NULL);
	expect_users("BOB@Example.TEST", "bob@example.test", NULL);
	expect_users("bob+news@example.test", "bob@example.test", NULL);
	expect_users("bob@alias.test", "bob@example.test", NULL);
	expect_users("sales@example.test", "bob@example.test",
	    "carol@example.test");
	expect_users("list@example.test", "bob@example.test",
	    "carol@example.test");
	/* info@other.test exists; anything else there hits the catch-all */
	expect_users("info@other.test", "info@other.test", NULL);
	expect_users("nobody@other.test", "carol@example.test", NULL);

	/* info@example.test and info@other.test never meet */
	resolve("info@example.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 550 &&
	    strcmp(r.text, "5.1.1 <info@example.test>: Recipient address "
	    "rejected: User unknown in virtual mailbox table") == 0,
	    "unknown: kind %d %d %s", r.kind, r.code, r.text);
	deliver_rcpt_clear(&r);

	resolve("someone@remote.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_NOTLOCAL, "remote: kind %d", r.kind);
	deliver_rcpt_clear(&r);
	resolve("not an address", 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 501,
	    "syntax: kind %d code %d", r.kind, r.code);
}
END_TEST

START_TEST(test_postmaster)
{
	struct deliver_rcpt r;

	/* The host name is no local domain: a local domain's postmaster. */
	ck_assert_int_eq(deliver_resolve_postmaster(st, &dcf, &r), 0);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 550,
	    "no postmaster anywhere: kind %d %d %s", r.kind, r.code, r.text);
	deliver_rcpt_clear(&r);
	route("postmaster@other.test", "carol@example.test", NULL);
	ck_assert_int_eq(deliver_resolve_postmaster(st, &dcf, &r), 0);
	ck_assert_msg(r.kind == DELIVER_LOCAL && r.ntargets == 1 &&
	    strcmp(r.targets[0].addr, "carol@example.test") == 0,
	    "<Postmaster>: the first local domain with a postmaster: kind "
	    "%d %d %s", r.kind, r.code, r.text);
	deliver_rcpt_clear(&r);
}
END_TEST

START_TEST(test_alias_loop_and_forward)
{
	struct deliver_rcpt r;

	route("a@example.test", "b@example.test", NULL);
	route("b@example.test", "a@example.test", NULL);
	resolve("a@example.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 550 &&
	    strstr(r.text, "loop") != NULL, "loop: kind %d %d %s", r.kind,
	    r.code, r.text);
	deliver_rcpt_clear(&r);

	route("fwd@example.test", "someone@remote.test", "bob@example.test");
	resolve("fwd@example.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_LOCAL && r.ntargets == 2,
	    "forward + local: kind %d targets %zu", r.kind, r.ntargets);
	deliver_rcpt_clear(&r);
}
END_TEST

static int
count_queue(const struct store_queue_entry *e, void *ctx)
{
	(*(int *)ctx) += (int)e->nrcpts;
	return 0;
}

static int
queue_fn(struct store_txn *t, void *ctx)
{
	return store_queue_list(t, count_queue, ctx);
}

START_TEST(test_delivery_prefix_dedup_and_queue)
{
	static const char *const to[] = { "bob@example.test",
	    "carol@example.test", "fwd@example.test" };
	static const char prefix[] = "Return-Path: <sender@remote.test>\r\n"
	    "Delivered-To: bob@example.test\r\n";
	struct deliver_rcpt rcpts[3];
	struct store_stats s;
	void *data;
	size_t len, i;
	int n, queued = 0;

	route("fwd@example.test", "someone@remote.test", NULL);
	n = deliver("sender@remote.test", to, 3, 1, rcpts);
	ck_assert_msg(n == 3, "delivered to %d of 3: %d %s / %d %s / %d %s",
	    n, rcpts[0].code, rcpts[0].text, rcpts[1].code, rcpts[1].text,
	    rcpts[2].code, rcpts[2].text);
	for (i = 0; i < 3; i++)
		ck_assert_msg(rcpts[i].code == 250, "rcpt %zu: %d", i,
		    rcpts[i].code);
	ck_assert_int_eq(tu_read(st, tu_inbox(st, user("bob@example.test").id),
	    1, &data, &len), 1);
	ck_assert_msg(len == sizeof(msg) - 1 + strlen(prefix) &&
	    memcmp(data, prefix, strlen(prefix)) == 0 &&
	    memcmp((char *)data + len - (sizeof(msg) - 1), msg,
	    sizeof(msg) - 1) == 0, "bob's copy: %.*s", (int)len,
	    (char *)data);
	free(data);
	/* Two bodies (one per prefix), the message's own segments once. */
	ck_assert_int_eq(store_stats(st, &s), 0);
	ck_assert_msg(s.bodies == 3 && s.blobs == 2 + 2,
	    "bodies %llu (bob, carol, queued), blobs %llu (2 prefixes + the "
	    "message's header and body)", (unsigned long long)s.bodies,
	    (unsigned long long)s.blobs);
	ck_assert_int_eq(store_read(st, queue_fn, &queued), 0);
	ck_assert_msg(queued == 1, "queued recipients: %d", queued);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
	for (i = 0; i < 3; i++)
		deliver_rcpt_clear(&rcpts[i]);
}
END_TEST

static int
gone_fn(struct store_txn *t, void *ctx)
{
	struct store_user *u = ctx;

	if (u->disabled)
		return store_user_update(t, u);
	return store_user_del(t, u->id);
}

/*
 * bob, carol and a forward resolved (RCPT answered 250), then carol
 * deleted (how 0) or disabled (how 1) before the message is delivered.
 */
static void
gone_case(int how, int all_or_nothing)
{
	static const char *const to[] = { "bob@example.test",
	    "carol@example.test", "fwd@example.test" };
	struct deliver_rcpt rcpts[3];
	struct deliver_job job, *jobs[1] = { &job };
	struct store_user carol;
	void *data;
	size_t len, i;
	int queued = 0, rc;

	route("fwd@example.test", "someone@remote.test", NULL);
	for (i = 0; i < 3; i++)
		resolve(to[i], 0, &rcpts[i]);
	carol = user("carol@example.test");
	carol.disabled = how;
	ck_assert_int_ne(store_write(st, gone_fn, &carol), -1);
	memset(&job, 0, sizeof(job));
	job.sender = "sender@remote.test";
	job.data = msg;
	job.len = sizeof(msg) - 1;
	job.rcpts = rcpts;
	job.nrcpts = 3;
	job.all_or_nothing = all_or_nothing;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	rc = tu_read(st, tu_inbox(st, user("bob@example.test").id), 1, &data,
	    &len);
	if (rc == 1)
		free(data);
	ck_assert_int_eq(store_read(st, queue_fn, &queued), 0);
	if (all_or_nothing) {
		/* SMTP: one reply for all, and it must not be a bounce. */
		for (i = 0; i < 3; i++)
			ck_assert_msg(rcpts[i].code == 451 &&
			    strncmp(rcpts[i].text, "4.1.1 <carol@example.test>",
			    26) == 0, "%s: %d %s", to[i], rcpts[i].code,
			    rcpts[i].text);
		ck_assert_int_eq(job.delivered, 0);
		ck_assert_msg(rc == 0, "bob got a copy after the 451");
		ck_assert_msg(queued == 0, "forward queued after the 451: %d",
		    queued);
	} else {
		/* LMTP: per recipient. */
		ck_assert_msg(rcpts[0].code == 250 && rcpts[1].code == 550 &&
		    rcpts[2].code == 250, "LMTP replies %d %d %d",
		    rcpts[0].code, rcpts[1].code, rcpts[2].code);
		ck_assert_int_eq(job.delivered, 2);
		ck_assert_msg(rc == 1, "bob has no copy");
		ck_assert_int_eq(queued, 1);
	}
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
	for (i = 0; i < 3; i++)
		deliver_rcpt_clear(&rcpts[i]);
}

START_TEST(test_rcpt_gone_smtp_deleted)
{
	gone_case(0, 1);
}
END_TEST

START_TEST(test_rcpt_gone_smtp_disabled)
{
	gone_case(1, 1);
}
END_TEST

START_TEST(test_rcpt_gone_lmtp)
{
	gone_case(0, 0);
}
END_TEST

START_TEST(test_one_copy_per_user)
{
	static const char *const to[] = { "sales@example.test",
	    "bob@example.test", "BOB+x@example.test" };
	struct deliver_rcpt rcpts[3];
	size_t i;
	int n;

	route("sales@example.test", "bob@example.test", "carol@example.test");
	n = deliver("s@remote.test", to, 3, 1, rcpts);
	ck_assert_msg(n == 3, "every recipient accepted: %d (%d %d %d)", n,
	    rcpts[0].code, rcpts[1].code, rcpts[2].code);
	ck_assert_msg(user("bob@example.test").used_messages == 1,
	    "bob reached three ways got %llu copies, wanted 1",
	    (unsigned long long)user("bob@example.test").used_messages);
	ck_assert_msg(user("carol@example.test").used_messages == 1,
	    "carol got %llu copies",
	    (unsigned long long)user("carol@example.test").used_messages);
	for (i = 0; i < 3; i++)
		deliver_rcpt_clear(&rcpts[i]);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

static int
quota_fn(struct store_txn *t, void *ctx)
{
	struct store_user *u = ctx;

	return store_user_update(t, u);
}

START_TEST(test_quota_all_or_nothing_and_grace)
{
	static const char *const to[] = { "bob@example.test",
	    "carol@example.test" };
	struct deliver_rcpt rcpts[2], r;
	struct store_user u = user("carol@example.test");
	int n;

	u.quota_bytes = 10;	/* carol cannot take anything */
	ck_assert_int_eq(store_write(st, quota_fn, &u), 1);
	n = deliver("s@remote.test", to, 2, 1, rcpts);
	ck_assert_msg(n == 0 && rcpts[0].code == 452 && rcpts[1].code == 452,
	    "SMTP all-or-nothing: delivered %d, codes %d %d", n,
	    rcpts[0].code, rcpts[1].code);
	ck_assert_msg(user("bob@example.test").used_messages == 0,
	    "nothing stored for bob");
	ck_assert_msg(user("carol@example.test").over_quota_since ==
	    fake_now, "carol marked over quota");
	deliver_rcpt_clear(&rcpts[0]);
	deliver_rcpt_clear(&rcpts[1]);
	n = deliver("s@remote.test", to, 2, 0, rcpts);
	ck_assert_msg(n == 1 && rcpts[0].code == 250 && rcpts[1].code == 452,
	    "LMTP per recipient: delivered %d, codes %d %d", n,
	    rcpts[0].code, rcpts[1].code);
	deliver_rcpt_clear(&rcpts[0]);
	deliver_rcpt_clear(&rcpts[1]);

	/* At RCPT with SIZE: 452 Mailbox full. */
	resolve("carol@example.test", 100, &r);
	ck_assert_msg(r.code == 452 && strstr(r.text, "4.2.2") != NULL,
	    "RCPT with SIZE: %d %s", r.code, r.text);
	deliver_rcpt_clear(&r);

	/*
	 * Full for longer than the grace period: disabled, 550.  (Usage
	 * over the limit, as after an import: full, whatever the mark.)
	 */
	ck_assert_int_eq(tu_append(st, tu_inbox(st, u.id), msg,
	    sizeof(msg) - 1, 0, NULL, NULL), 1);
	fake_now += 6 * 86400;
	resolve("carol@example.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 550,
	    "after the grace period: %d %s", r.code, r.text);
	deliver_rcpt_clear(&r);
	u = user("carol@example.test");
	ck_assert_msg(u.disabled && strstr(u.disabled_reason, "quota"),
	    "carol disabled: %d '%s'", u.disabled, u.disabled_reason);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

/* Appends an unchecked message of size bytes (an import) to login. */
static void
fill(const char *login, size_t size)
{
	char *m = malloc(size);

	ck_assert_ptr_nonnull(m);
	memset(m, 'f', size);
	memcpy(m, "Subject: fill\r\n\r\n", 17);
	ck_assert_int_eq(tu_append(st, tu_inbox(st, user(login).id), m, size,
	    0, NULL, NULL), 1);
	free(m);
}

/*
 * Issue 7: at 88.7% of its quota one 4.3 KB message was refused with 452
 * and six days later the account was disabled.  A refusal may start the
 * grace clock, but only an account still full (at or above the full mark)
 * when the grace period ends is disabled; any successful delivery stops
 * the clock.
 */
START_TEST(test_grace_needs_full)
{
	static const char *const to[] = { "carol@example.test" };
	struct deliver_rcpt r, rcpts[1];
	struct store_user u = user("carol@example.test");
	time_t t0 = fake_now;

	u.quota_bytes = 10000;
	ck_assert_int_eq(store_write(st, quota_fn, &u), 1);
	fill("carol@example.test", 8870);
	resolve("carol@example.test", 4300, &r);
	ck_assert_msg(r.code == 452, "4300 bytes into 1130 left: %d %s",
	    r.code, r.text);
	deliver_rcpt_clear(&r);
	ck_assert_msg(user("carol@example.test").over_quota_since == t0,
	    "the refusal starts the grace clock");

	/* Six days later, still at 88.7%: mail flows, the clock stops. */
	fake_now = t0 + 6 * 86400;
	resolve("carol@example.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_LOCAL && r.ntargets == 1,
	    "88.7%% full after the grace period: kind %d, %d %s", r.kind,
	    r.code, r.text);
	deliver_rcpt_clear(&r);
	u = user("carol@example.test");
	ck_assert_msg(!u.disabled && u.over_quota_since == 0,
	    "an account with room was disabled (%d '%s') or kept its clock "
	    "(%" PRId64 ")", u.disabled, u.disabled_reason,
	    u.over_quota_since);

	/* 96% full and refused: the clock runs; a delivery that fits ... */
	fill("carol@example.test", 730);
	resolve("carol@example.test", 1000, &r);
	ck_assert_int_eq(r.code, 452);
	deliver_rcpt_clear(&r);
	ck_assert_int_eq(user("carol@example.test").over_quota_since, fake_now);
	fake_now += 86400;
	ck_assert_int_eq(deliver("s@remote.test", to, 1, 1, rcpts), 1);
	deliver_rcpt_clear(&rcpts[0]);
	/* ... stops it, even above the mark. */
	u = user("carol@example.test");
	ck_assert_msg(u.over_quota_since == 0 && store_user_quota_full(&u),
	    "a successful delivery left the clock at %" PRId64,
	    u.over_quota_since);
	fake_now += 6 * 86400;
	resolve("carol@example.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_LOCAL, "clock stopped by a delivery: "
	    "%d %s", r.code, r.text);
	deliver_rcpt_clear(&r);

	/* Refused again and still full at the end: disabled, 550. */
	resolve("carol@example.test", 1000, &r);
	ck_assert_int_eq(r.code, 452);
	deliver_rcpt_clear(&r);
	fake_now += 5 * 86400 + 1;
	resolve("carol@example.test", 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 550,
	    "full past the grace period: %d %s", r.code, r.text);
	deliver_rcpt_clear(&r);
	u = user("carol@example.test");
	ck_assert_msg(u.disabled && strstr(u.disabled_reason, "95%") != NULL,
	    "disabled, the reason names the mark: %d '%s'", u.disabled,
	    u.disabled_reason);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

START_TEST(test_group_commit_and_busy)
{
	struct deliver_rcpt r1[1], r2[1];
	struct deliver_job j1, j2, *jobs[2] = { &j1, &j2 };
	const char *lock = "deliver:carol@example.test";
	int p[2];
	pid_t pid;
	char c;

	resolve("bob@example.test", 0, &r1[0]);
	resolve("carol@example.test", 0, &r2[0]);
	memset(&j1, 0, sizeof(j1));
	j1.sender = "";
	j1.data = msg;
	j1.len = sizeof(msg) - 1;
	j1.rcpts = r1;
	j1.nrcpts = 1;
	j2 = j1;
	j2.rcpts = r2;

	/* Another process holds carol's delivery lock. */
	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		struct store *cst;

		if (store_open(dir, 0, &cst) == -1 ||
		    store_lock_take(cst, lock, 60) != 1)
			_exit(1);
		(void)!write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 2), 0);
	ck_assert_msg(!j1.busy && j1.delivered == 1, "bob's job ran: busy %d "
	    "delivered %d", j1.busy, j1.delivered);
	ck_assert_msg(j2.busy && j2.delivered == 0, "carol's job waits: busy "
	    "%d delivered %d", j2.busy, j2.delivered);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* The holder died: its lock is stale, the job runs now. */
	ck_assert_int_eq(deliver_run(st, &dcf, jobs + 1, 1), 0);
	ck_assert_msg(!j2.busy && j2.delivered == 1, "carol's job ran: busy "
	    "%d delivered %d", j2.busy, j2.delivered);
	close(p[0]);
	close(p[1]);
	deliver_rcpt_clear(&r1[0]);
	deliver_rcpt_clear(&r2[0]);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST


/* SRS and notices ------------------------------------------------------ */

#define QMAX	8

struct qseen {
	size_t		n;
	uint64_t	id[QMAX];
	char		sender[QMAX][STORE_ADDRESS_MAX + 1];
	uint32_t	flags[QMAX];
	size_t		nrcpts[QMAX];
	char		rcpt[QMAX][STORE_ADDRESS_MAX + 1];
	char		orcpt[QMAX][STORE_QUEUE_ORCPT_MAX + 1];
	uint8_t		notify[QMAX];
	char		envid[QMAX][STORE_QUEUE_ENVID_MAX + 1];
	int		ret[QMAX];
};

static int
qseen_fn(const struct store_queue_entry *e, void *ctx)
{
	struct qseen *q = ctx;

	if (q->n >= QMAX)
		return 0;
	q->id[q->n] = e->id;
	snprintf(q->sender[q->n], sizeof(q->sender[0]), "%s", e->sender);
	q->flags[q->n] = e->flags;
	q->nrcpts[q->n] = e->nrcpts;
	snprintf(q->rcpt[q->n], sizeof(q->rcpt[0]), "%s", e->rcpts[0].addr);
	snprintf(q->orcpt[q->n], sizeof(q->orcpt[0]), "%s", e->rcpts[0].orcpt);
	q->notify[q->n] = e->rcpts[0].notify;
	snprintf(q->envid[q->n], sizeof(q->envid[0]), "%s", e->envid);
	q->ret[q->n] = (int)e->ret;
	q->n++;
	return 0;
}

static int
qlist_fn(struct store_txn *t, void *ctx)
{
	return store_queue_list(t, qseen_fn, ctx);
}

static int
qclear_one(const struct store_queue_entry *e, void *ctx)
{
	struct qseen *q = ctx;

	if (q->n < QMAX)
		q->id[q->n++] = e->id;
	return 0;
}

static int
qclear_fn(struct store_txn *t, void *ctx)
{
	struct qseen *q = ctx;
	size_t i;

	q->n = 0;
	if (store_queue_list(t, qclear_one, q) == -1)
		return -1;
	for (i = 0; i < q->n; i++)
		if (store_queue_del(t, q->id[i]) == -1)
			return -1;
	return 0;
}

static void
queue_seen(struct qseen *q)
{
	memset(q, 0, sizeof(*q));
	ck_assert_int_eq(store_read(st, qlist_fn, q), 0);
}

static void
queue_empty(void)
{
	struct qseen q;

	ck_assert_int_eq(store_write(st, qclear_fn, &q), 0);
}

static void
srs_on(void)
{
	dcf.srs_enabled = 1;
	dcf.srs_max_age = 21;
	ck_assert_msg(deliver_srs_load(st, &dcf, NULL) == 0, "srs load: %s",
	    err_msg());
	ck_assert_uint_eq(dcf.srs_secret_len, 32);
}

static void
srs_off(void)
{
	dcf.srs_enabled = 0;
	dcf.srs_secret_len = 0;
	memset(dcf.srs_secret, 0, sizeof(dcf.srs_secret));
}

/* One job from sender to addrs; returns the job's queue id. */
static uint64_t
deliver_id(const char *sender, const char *const *addrs, size_t n,
    uint64_t id, struct deliver_rcpt *rcpts)
{
	struct deliver_job job, *jobs[1] = { &job };
	size_t i;

	for (i = 0; i < n; i++) {
		resolve(addrs[i], 0, &rcpts[i]);
		rcpts[i].notify = STORE_NOTIFY_FAILURE | STORE_NOTIFY_DELAY;
	}
	memset(&job, 0, sizeof(job));
	job.sender = sender;
	job.data = msg;
	job.len = sizeof(msg) - 1;
	job.rcpts = rcpts;
	job.nrcpts = n;
	job.all_or_nothing = 1;
	job.queue_id = id;
	job.envid = "ENV1";
	job.ret = STORE_RET_HDRS;
	job.qflags = STORE_QF_8BITMIME;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	for (i = 0; i < n; i++) {
		ck_assert_msg(rcpts[i].code == 250, "%s: %d %s", addrs[i],
		    rcpts[i].code, rcpts[i].text);
		deliver_rcpt_clear(&rcpts[i]);
	}
	return job.queue_id;
}

START_TEST(test_srs_forwards_two_domains)
{
	static const char *const to[] = { "fwd@example.test",
	    "fwd@other.test", "bob@example.test" };
	struct deliver_rcpt rcpts[3];
	struct qseen q;
	size_t i, a, b;

	route("fwd@example.test", "someone@remote.test", NULL);
	route("fwd@other.test", "else@remote.test", NULL);
	srs_on();
	ck_assert_uint_eq(deliver_id("Sender@Remote.test", to, 3, 0x4242,
	    rcpts), 0x4242);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 2);
	/* one entry per forwarding domain, each sender rewritten for it */
	a = strcmp(q.rcpt[0], "someone@remote.test") == 0 ? 0 : 1;
	b = 1 - a;
	ck_assert_str_eq(q.rcpt[a], "someone@remote.test");
	ck_assert_str_eq(q.rcpt[b], "else@remote.test");
	ck_assert_msg(strncmp(q.sender[a], "SRS0=", 5) == 0 && strstr(
	    q.sender[a], "=Remote.test=Sender@example.test") != NULL,
	    "sender of the example.test forward: %s", q.sender[a]);
	ck_assert_msg(strncmp(q.sender[b], "SRS0=", 5) == 0 && strstr(
	    q.sender[b], "=Remote.test=Sender@other.test") != NULL,
	    "sender of the other.test forward: %s", q.sender[b]);
	/* the first keeps the job's id, the other has one of its own */
	ck_assert_msg(q.id[0] == 0x4242 || q.id[1] == 0x4242, "ids %" PRIX64
	    " %" PRIX64, q.id[0], q.id[1]);
	ck_assert_uint_ne(q.id[0], q.id[1]);
	/* the envelope's DSN fields went along */
	for (i = 0; i < 2; i++) {
		ck_assert_str_eq(q.envid[i], "ENV1");
		ck_assert_int_eq(q.ret[i], STORE_RET_HDRS);
		ck_assert_uint_eq(q.flags[i], STORE_QF_8BITMIME);
		ck_assert_uint_eq(q.notify[i], STORE_NOTIFY_FAILURE |
		    STORE_NOTIFY_DELAY);
	}
	ck_assert_str_eq(q.orcpt[a], "rfc822;fwd@example.test");
	ck_assert_str_eq(q.orcpt[b], "rfc822;fwd@other.test");
}
END_TEST

START_TEST(test_srs_not_rewritten)
{
	static const char *const to[] = { "fwd@example.test",
	    "someone@remote.test" };
	struct deliver_rcpt rcpts[2];
	struct qseen q;

	route("fwd@example.test", "else@remote.test", NULL);
	srs_on();
	/* a local sender */
	deliver_id("carol@example.test", to, 1, 0, rcpts);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_str_eq(q.sender[0], "carol@example.test");
	queue_empty();
	/* a sender in an alias domain of ours */
	deliver_id("carol@alias.test", to, 1, 0, rcpts);
	queue_seen(&q);
	ck_assert_str_eq(q.sender[0], "carol@alias.test");
	queue_empty();
	/* the null sender */
	deliver_id("", to, 1, 0, rcpts);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_str_eq(q.sender[0], "");
	queue_empty();
	/* a relayed recipient keeps the sender as it is */
	resolve("someone@remote.test", 0, &rcpts[1]);
	ck_assert_int_eq(rcpts[1].kind, DELIVER_NOTLOCAL);
	{
		struct deliver_job job, *jobs[1] = { &job };

		rcpts[1].relay = 1;
		memset(&job, 0, sizeof(job));
		job.sender = "user@remote.test";
		job.data = msg;
		job.len = sizeof(msg) - 1;
		job.rcpts = &rcpts[1];
		job.nrcpts = 1;
		job.all_or_nothing = 1;
		ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
		ck_assert_uint_ne(job.queue_id, 0);
	}
	queue_seen(&q);
	ck_assert_str_eq(q.sender[0], "user@remote.test");
	ck_assert_str_eq(q.orcpt[0], "");
	queue_empty();
	/* SRS turned off */
	srs_off();
	deliver_id("user@remote.test", to, 1, 0, rcpts);
	queue_seen(&q);
	ck_assert_str_eq(q.sender[0], "user@remote.test");
}
END_TEST

START_TEST(test_srs_bounce_round_trip)
{
	static const char *const to[] = { "fwd@example.test" };
	struct deliver_rcpt rcpts[1], r;
	char srs[STORE_ADDRESS_MAX + 1], bad[STORE_ADDRESS_MAX + 1];
	struct qseen q;
	const char *bto[1];

	route("fwd@example.test", "someone@remote.test", NULL);
	srs_on();
	deliver_id("Orig.Sender@far.test", to, 1, 0, rcpts);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 1);
	snprintf(srs, sizeof(srs), "%s", q.sender[0]);
	queue_empty();

	/* the bounce to the SRS address goes back to the original sender */
	resolve(srs, 0, &r);
	ck_assert_msg(r.kind == DELIVER_LOCAL && r.ntargets == 1 &&
	    r.targets[0].user_id == 0 && strcmp(r.targets[0].addr,
	    "Orig.Sender@far.test") == 0, "%s: kind %d %d %s", srs, r.kind,
	    r.code, r.text);
	deliver_rcpt_clear(&r);
	bto[0] = srs;
	deliver_id("", bto, 1, 0, rcpts);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_str_eq(q.sender[0], "");
	ck_assert_str_eq(q.rcpt[0], "Orig.Sender@far.test");
	queue_empty();
	/* case changed in transit: still fine */
	{
		char low[STORE_ADDRESS_MAX + 1];
		size_t i;

		for (i = 0; srs[i] != '\0'; i++)
			low[i] = (char)tolower((unsigned char)srs[i]);
		low[i] = '\0';
		resolve(low, 0, &r);
		ck_assert_msg(r.kind == DELIVER_LOCAL, "lower case: %d %s",
		    r.code, r.text);
		deliver_rcpt_clear(&r);
	}
	/* a tampered hash is refused, saying why */
	snprintf(bad, sizeof(bad), "%s", srs);
	/* Not only its case: hashes compare case-insensitively. */
	bad[5] = toupper((unsigned char)bad[5]) == 'Q' ? 'R' : 'Q';
	resolve(bad, 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 550 &&
	    strncmp(r.text, "5.1.1 ", 6) == 0 && strstr(r.text, "hash") !=
	    NULL, "tampered: %d %d %s", r.kind, r.code, r.text);
	deliver_rcpt_clear(&r);
	/* too old */
	fake_now += 30 * 86400;
	resolve(srs, 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && r.code == 550 &&
	    strstr(r.text, "too old") != NULL, "expired: %d %d %s", r.kind,
	    r.code, r.text);
	deliver_rcpt_clear(&r);
	/* an SRS address reversing to a local user reaches the mailbox */
	fake_now -= 30 * 86400;
	ck_assert_int_eq(srs_forward(dcf.srs_secret, dcf.srs_secret_len,
	    "bob@example.test", "other.test", fake_now, srs, sizeof(srs)), 1);
	expect_users(srs, "bob@example.test", NULL);
	/* without a secret, SRS-looking addresses are ordinary ones */
	srs_off();
	resolve(srs, 0, &r);
	ck_assert_msg(r.kind == DELIVER_REFUSED && strstr(r.text,
	    "User unknown") != NULL, "no secret: %d %s", r.code, r.text);
	deliver_rcpt_clear(&r);
}
END_TEST

START_TEST(test_srs_secret_kept)
{
	struct deliver_config c2 = dcf;
	unsigned char first[32];
	char path[512];
	FILE *f;

	srs_on();
	memcpy(first, dcf.srs_secret, 32);
	/* the same secret again, from the store */
	ck_assert_int_eq(deliver_srs_load(st, &c2, NULL), 0);
	ck_assert(memcmp(first, c2.srs_secret, 32) == 0);
	store_close(&st);
	st = tu_open(dir);
	ck_assert_int_eq(deliver_srs_load(st, &c2, NULL), 0);
	ck_assert(memcmp(first, c2.srs_secret, 32) == 0);
	/* or from a file */
	snprintf(path, sizeof(path), "%s/srs.key", dir);
	f = fopen(path, "w");
	fputs("a secret of more than sixteen bytes\n", f);
	fclose(f);
	ck_assert_int_eq(deliver_srs_load(st, &c2, path), 0);
	ck_assert_uint_eq(c2.srs_secret_len, 35);
	ck_assert(memcmp(c2.srs_secret, "a secret of", 11) == 0);
	f = fopen(path, "w");
	fputs("short\n", f);
	fclose(f);
	ck_assert_int_eq(deliver_srs_load(st, &c2, path), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	snprintf(path, sizeof(path), "%s/none", dir);
	ck_assert_int_eq(deliver_srs_load(st, &c2, path), -1);
	ck_assert_int_eq(err_class(), ERR_NOTFOUND);
}
END_TEST

static void
notice_input(struct dsn_input *in, struct dsn_rcpt *r, const char *sender)
{
	memset(r, 0, sizeof(*r));
	r->addr = "someone@remote.test";
	r->action = DSN_FAILED;
	r->reply = "550 5.1.1 no such user";
	r->remote_mta = "mx.remote.test";
	memset(in, 0, sizeof(*in));
	in->hostname = "mx.example.test";
	in->sender = sender;
	in->queue_id = 0x77;
	in->arrival = fake_now - 60;
	in->rcpts = r;
	in->nrcpts = 1;
	in->msg = msg;
	in->msglen = sizeof(msg) - 1;
}

START_TEST(test_notice_local_and_remote)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct qseen q;
	uint64_t id = 0;
	void *data;
	size_t len;

	/* a local sender: in INBOX, from <> */
	notice_input(&in, &r, "bob@example.test");
	ck_assert_msg(deliver_notice(st, &dcf, &in, &id) == 1, "notice: %s",
	    err_msg());
	ck_assert_uint_ne(id, 0);
	ck_assert_int_eq(tu_read(st, tu_inbox(st, user("bob@example.test").id),
	    1, &data, &len), 1);
	ck_assert_msg(memmem(data, len, "Return-Path: <>\r\n", 17) != NULL &&
	    memmem(data, len, "Subject: Undelivered Mail Returned to Sender",
	    44) != NULL && memmem(data, len, "Status: 5.1.1", 13) != NULL,
	    "notice delivered: %.*s", (int)(len < 400 ? len : 400),
	    (char *)data);
	free(data);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 0);

	/* a remote sender: queued with <> and STORE_QF_NOTICE */
	notice_input(&in, &r, "alice@far.test");
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 1);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_uint_eq(q.id[0], id);
	ck_assert_str_eq(q.sender[0], "");
	ck_assert_str_eq(q.rcpt[0], "alice@far.test");
	ck_assert_msg(q.flags[0] & STORE_QF_NOTICE, "flags %x", q.flags[0]);
	ck_assert_uint_eq(q.notify[0], STORE_NOTIFY_NEVER);

	/* an unknown local sender: refused, nothing stored */
	notice_input(&in, &r, "nobody@example.test");
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), -1);
	ck_assert_int_eq(err_class(), ERR_PERM);
}
END_TEST

START_TEST(test_notice_never_twice)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct qseen q;
	uint64_t id = 0;

	notice_input(&in, &r, "");
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 0);
	notice_input(&in, &r, "alice@far.test");
	in.is_notice = 1;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 0);
	/* NOTIFY */
	notice_input(&in, &r, "alice@far.test");
	r.notify = STORE_NOTIFY_NEVER;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 0);
	r.notify = STORE_NOTIFY_SUCCESS | STORE_NOTIFY_DELAY;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 0);
	r.action = DSN_DELAYED;
	r.notify = STORE_NOTIFY_FAILURE;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 0);
	r.action = DSN_DELIVERED;
	r.notify = 0;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 0);
	r.action = DSN_RELAYED;
	r.notify = STORE_NOTIFY_FAILURE | STORE_NOTIFY_DELAY;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 0);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 0);
	/* the ones that do go */
	r.notify = STORE_NOTIFY_SUCCESS;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 1);
	r.action = DSN_DELAYED;
	r.notify = 0;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 1);
	r.action = DSN_FAILED;
	r.notify = STORE_NOTIFY_FAILURE;
	ck_assert_int_eq(deliver_notice(st, &dcf, &in, &id), 1);
	queue_seen(&q);
	ck_assert_uint_eq(q.n, 3);
}
END_TEST

/* BATV ------------------------------------------------------------------ */

struct batvop {
	const char	*domain;
	uint32_t	 flags;
	const char	*sender;
	char		 out[DELIVER_ADDR_MAX + 1];
	int		 rc;
};

static int
batv_flags_fn(struct store_txn *t, void *ctx)
{
	struct batvop *o = ctx;

	return store_domain_set_flags(t, o->domain, o->flags);
}

static int
batv_sender_fn(struct store_txn *t, void *ctx)
{
	struct batvop *o = ctx;

	o->out[0] = '\0';
	o->rc = deliver_batv_sender(t, &dcf, o->sender, o->out,
	    sizeof(o->out));
	return o->rc == -1 ? -1 : 0;
}

/* deliver_batv_sender(): 1 and the tagged form, or 0 (kept). */
static int
batv_sender(const char *sender, char *out)
{
	struct batvop o = { .sender = sender };

	ck_assert_msg(store_read(st, batv_sender_fn, &o) == 0, "batv sender "
	    "%s: %s", sender, err_msg());
	if (out != NULL)
		snprintf(out, DELIVER_ADDR_MAX + 1, "%s", o.out);
	return o.rc;
}

/* deliver_resolve_from(sender, addr): its code, and r->addr in addr_r. */
static int
batv_resolve(const char *sender, const char *addr, char *addr_r)
{
	struct deliver_rcpt r;
	int code;

	ck_assert_int_eq(deliver_resolve_from(st, &dcf, sender, addr, 0, &r),
	    0);
	code = r.kind == DELIVER_LOCAL ? 250 : r.code;
	ck_assert_msg(code != 250 || r.kind == DELIVER_LOCAL, "%s", r.text);
	if (code == 553)
		ck_assert_msg(strstr(r.text, "5.7.1") != NULL &&
		    strstr(r.text, "BATV") != NULL, "553 says BATV: %s",
		    r.text);
	if (addr_r != NULL)
		snprintf(addr_r, DELIVER_ADDR_MAX + 1, "%s", r.addr);
	ck_assert_int_eq(r.batv, code == 250 && strncasecmp(addr, "prvs=",
	    5) == 0);
	deliver_rcpt_clear(&r);
	return code;
}

START_TEST(test_batv_sender_and_resolve)
{
	struct batvop o = { .domain = "example.test",
	    .flags = STORE_DOMAIN_BATV };
	char tag[DELIVER_ADDR_MAX + 1], t2[DELIVER_ADDR_MAX + 1];
	char a[DELIVER_ADDR_MAX + 1];

	/* no secret loaded: nothing tagged, nothing checked */
	ck_assert_int_eq(store_write(st, batv_flags_fn, &o), 1);
	ck_assert_int_eq(batv_sender("bob@example.test", NULL), 0);
	ck_assert_int_eq(deliver_batv_load(st, &dcf), 0);
	ck_assert_uint_eq(dcf.batv_secret_len, 32);

	ck_assert_int_eq(batv_sender("bob@example.test", tag), 1);
	ck_assert_msg(strncmp(tag, "prvs=0", 6) == 0 && strcmp(tag + 16,
	    "bob@example.test") == 0, "tagged: %s", tag);
	/* an alias domain follows the domain it aliases */
	ck_assert_int_eq(batv_sender("Bob@Alias.test", t2), 1);
	ck_assert_msg(strcmp(t2 + 16, "Bob@Alias.test") == 0, "%s", t2);
	/* kept: <>, SRS, tagged, a domain without BATV, not ours */
	ck_assert_int_eq(batv_sender("", NULL), 0);
	ck_assert_int_eq(batv_sender("SRS0=abcd=TT=remote.test=x@example.test",
	    NULL), 0);
	ck_assert_int_eq(batv_sender(tag, NULL), 0);
	ck_assert_int_eq(batv_sender("info@other.test", NULL), 0);
	ck_assert_int_eq(batv_sender("x@remote.test", NULL), 0);

	/* a valid tag is taken off, whatever the sender */
	ck_assert_int_eq(batv_resolve("", tag, a), 250);
	ck_assert_str_eq(a, "bob@example.test");
	ck_assert_int_eq(batv_resolve("x@remote.test", tag, a), 250);
	ck_assert_int_eq(batv_resolve("", t2, a), 250);
	ck_assert_str_eq(a, "bob@alias.test");
	/* bounces without a tag, to BATV domains (also through the alias) */
	ck_assert_int_eq(batv_resolve("", "bob@example.test", NULL), 553);
	ck_assert_int_eq(batv_resolve("", "bob@alias.test", NULL), 553);
	ck_assert_int_eq(batv_resolve("", "info@other.test", NULL), 250);
	/* postmaster takes bounces (RFC 5321 4.5.1) */
	route("postmaster@example.test", "bob@example.test", NULL);
	ck_assert_int_eq(batv_resolve("", "Postmaster@example.test", NULL),
	    250);
	/* a sender not known (NULL: notices, sender checks) or real */
	ck_assert_int_eq(batv_resolve(NULL, "bob@example.test", NULL), 250);
	ck_assert_int_eq(batv_resolve("x@remote.test", "bob@example.test",
	    NULL), 250);
	/* a tag altered: 553 for a bounce, unknown for others */
	snprintf(a, sizeof(a), "%s", tag);
	a[12] = a[12] == '0' ? '1' : '0';
	ck_assert_int_eq(batv_resolve("", a, NULL), 553);
	ck_assert_int_eq(batv_resolve("x@remote.test", a, NULL), 550);
	/* expired: max_age (7) days on it is taken, 8 not */
	fake_now += 7 * 86400;
	ck_assert_int_eq(batv_resolve("", tag, NULL), 250);
	fake_now += 86400;
	ck_assert_int_eq(batv_resolve("", tag, NULL), 553);
	/* BATV off: untagged bounces taken, bad tags unknown */
	o.flags = 0;
	ck_assert_int_eq(store_write(st, batv_flags_fn, &o), 1);
	ck_assert_int_eq(batv_resolve("", "bob@example.test", NULL), 250);
	ck_assert_int_eq(batv_resolve("", tag, NULL), 550);
	ck_assert_int_eq(batv_sender("bob@example.test", NULL), 0);
}
END_TEST

static Suite *
deliver_suite(void)
{
	Suite *s = suite_create("deliver");
	TCase *tc = tcase_create("deliver");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_routing_rules);
	tcase_add_test(tc, test_alias_loop_and_forward);
	tcase_add_test(tc, test_postmaster);
	tcase_add_test(tc, test_one_copy_per_user);
	tcase_add_test(tc, test_delivery_prefix_dedup_and_queue);
	tcase_add_test(tc, test_quota_all_or_nothing_and_grace);
	tcase_add_test(tc, test_grace_needs_full);
	tcase_add_test(tc, test_group_commit_and_busy);
	tcase_add_test(tc, test_rcpt_gone_smtp_deleted);
	tcase_add_test(tc, test_rcpt_gone_smtp_disabled);
	tcase_add_test(tc, test_rcpt_gone_lmtp);
	tcase_add_test(tc, test_srs_forwards_two_domains);
	tcase_add_test(tc, test_srs_not_rewritten);
	tcase_add_test(tc, test_srs_bounce_round_trip);
	tcase_add_test(tc, test_srs_secret_kept);
	tcase_add_test(tc, test_notice_local_and_remote);
	tcase_add_test(tc, test_notice_never_twice);
	tcase_add_test(tc, test_batv_sender_and_resolve);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(deliver_suite());
}
