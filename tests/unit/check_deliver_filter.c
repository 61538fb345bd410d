/*
 * check_deliver_filter.c - the delivery pipeline with filters
 * (deliver/stage.c and deliver.c): the global filter then the user's,
 * folders made when missing, discards answered 250 with nothing stored,
 * forwards queued, cc keeping a copy, FLAGS, failures kept in INBOX, the
 * begin/filter/run stages and their locks, auto-replies once per sender,
 * lists and their members-only rule.  No program runner here: a filter
 * that wants a program fails (and keeps the message in INBOX).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "deliver/deliver.h"
#include "store/filter.h"
#include "store/list.h"
#include "store/lock.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/vacation.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static struct deliver_config dcf = { .quota_grace_days = 5,
    .hostname = "mx.example.test", .filters = 1 };
static uint32_t bob, carol;

static const char ham[] = "From: sender@remote.test\r\n"
    "To: bob@example.test\r\n"
    "Subject: hello\r\nMessage-ID: <1@remote.test>\r\n\r\nhello\r\n";
static const char spam[] = "From: sender@remote.test\r\n"
    "To: bob@example.test\r\n"
    "Subject: cheap pills\r\nX-Spam-Flag: YES\r\n"
    "X-Spam-Score: 7.5\r\n\r\nbuy\r\n";

struct ftext {
	uint32_t	 user;
	const char	*text;
};

static int
filter_fn(struct store_txn *t, void *ctx)
{
	const struct ftext *f = ctx;

	return store_filter_set(t, f->user, f->text, strlen(f->text));
}

static void
set_filter(uint32_t user, const char *text)
{
	struct ftext f = { user, text };

	ck_assert_msg(store_write(st, filter_fn, &f) != -1, "filter set: %s",
	    err_msg());
}

static void
setup(void)
{
	dir = tu_tmpdir("deliverfilter");
	st = tu_open(dir);
	bob = tu_make_user(st, "bob@example.test");
	carol = tu_make_user(st, "carol@example.test");
}

static void
teardown(void)
{
	ck_assert_msg(tu_check(st) == 0, "store check after the test");
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
}

/* Delivers one message to rcpts; returns the first recipient's code. */
static int
deliver(const char *sender, const char *data, const char *r1,
    const char *r2, struct deliver_rcpt *out)
{
	struct deliver_rcpt r[2];
	struct deliver_job job, *jobs[1] = { &job };
	size_t n = 0, i;
	int code;

	memset(r, 0, sizeof(r));
	ck_assert_int_eq(deliver_resolve_from(st, &dcf, sender, r1, 0, &r[0]),
	    0);
	n++;
	if (r2 != NULL) {
		ck_assert_int_eq(deliver_resolve_from(st, &dcf, sender, r2, 0,
		    &r[1]), 0);
		n++;
	}
	memset(&job, 0, sizeof(job));
	job.sender = sender;
	job.data = data;
	job.len = strlen(data);
	job.rcpts = r;
	job.nrcpts = n;
	job.all_or_nothing = 1;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_int_eq(job.busy, 0);
	code = r[0].code;
	if (out != NULL)
		*out = r[0];
	for (i = 0; i < n; i++)
		deliver_rcpt_clear(&r[i]);
	return code;
}

/* Messages in a user's folder (0 when it does not exist). */
static uint32_t
count(uint32_t user, const char *folder)
{
	struct store_mailbox mb;

	if (tu_mailbox_get(st, user, folder, &mb) != 1)
		return 0;
	return mb.messages;
}

/* The bytes of the last message of a folder (malloc'd). */
static char *
last(uint32_t user, const char *folder)
{
	struct store_mailbox mb;
	struct store_msg *msgs = NULL;
	size_t n = 0, len;
	void *data;
	char *s;

	ck_assert_int_eq(tu_mailbox_get(st, user, folder, &mb), 1);
	ck_assert_int_ne(tu_msg_list(st, mb.id, &msgs, &n), -1);
	ck_assert_msg(n > 0, "%s has messages", folder);
	ck_assert_int_eq(tu_read(st, mb.id, msgs[n - 1].uid, &data, &len), 1);
	free(msgs);
	s = malloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	free(data);
	return s;
}

struct qcount {
	const char	*addr;
	int		 n;
};

static int
queue_fn(const struct store_queue_entry *e, void *ctx)
{
	struct qcount *q = ctx;
	size_t i;

	for (i = 0; i < e->nrcpts; i++)
		q->n += strcmp(e->rcpts[i].addr, q->addr) == 0;
	return 0;
}

static int
queue_txn(struct store_txn *t, void *ctx)
{
	return store_queue_list(t, queue_fn, ctx);
}

static int
queued(const char *addr)
{
	struct qcount q = { addr, 0 };

	ck_assert_int_ne(store_read(st, queue_txn, &q), -1);
	return q.n;
}

START_TEST(test_no_filter_inbox)
{
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 1);
}
END_TEST

/* The seeds' global recipe, with the spamc step left out. */
static const char global[] =
    "DELETE_THRESHOLD=10.0\r\n"
    "if (/^X-Spam-Flag: YES/)\r\n"
    "{\r\n"
    "  /X-Spam-Score: (\\d+)/\r\n"
    "  if ($MATCH1 >= $DELETE_THRESHOLD)\r\n"
    "  {\r\n"
    "    to /dev/null\r\n"
    "  }\r\n"
    "  else\r\n"
    "  {\r\n"
    "    to Mail/.Spam/\r\n"
    "  }\r\n"
    "}\r\n";

START_TEST(test_global_spam_folder)
{
	set_filter(0, global);
	ck_assert_int_eq(deliver("sender@remote.test", spam,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "Spam"), 1);
	ck_assert_uint_eq(count(bob, "INBOX"), 1);
}
END_TEST

START_TEST(test_discard_answers_250)
{
	static const char high[] = "From: s@remote.test\r\nX-Spam-Flag: YES"
	    "\r\nX-Spam-Score: 12.1\r\nSubject: x\r\n\r\nbody\r\n";

	set_filter(0, global);
	ck_assert_int_eq(deliver("s@remote.test", high, "bob@example.test",
	    NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 0);
	ck_assert_uint_eq(count(bob, "Spam"), 0);
}
END_TEST

START_TEST(test_user_after_global)
{
	/* The global one files nothing here; bob's own one does. */
	set_filter(0, "X=1\n");
	set_filter(bob, "if ($X == 1 && /^Subject: hello/) {\n"
	    "  to Mail/.Greetings.Hello/\n}\n");
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "Greetings/Hello"), 1);
	ck_assert_uint_eq(count(bob, "INBOX"), 0);
	/* carol has no filter of her own: the global one, then INBOX */
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "carol@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(carol, "INBOX"), 1);
}
END_TEST

START_TEST(test_forward_and_cc)
{
	set_filter(bob, "to \"!away@remote.test\"\n");
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 0);
	ck_assert_int_eq(queued("away@remote.test"), 1);
	set_filter(bob, "cc \"!copy@remote.test\"\n");
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 1);
	ck_assert_int_eq(queued("copy@remote.test"), 1);
}
END_TEST

START_TEST(test_flags)
{
	struct store_mailbox mb;
	struct store_msg *msgs = NULL;
	size_t n = 0;

	set_filter(bob, "FLAGS=\"SF\"\nto $DEFAULT\n");
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_int_eq(tu_mailbox_get(st, bob, "INBOX", &mb), 1);
	ck_assert_int_ne(tu_msg_list(st, mb.id, &msgs, &n), -1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(msgs[0].flags & (STORE_F_SEEN | STORE_F_FLAGGED),
	    STORE_F_SEEN | STORE_F_FLAGGED);
	free(msgs);
}
END_TEST

START_TEST(test_failure_keeps_inbox)
{
	/* No runner: the program cannot run; a cc before it stays. */
	set_filter(bob, "cc Mail/.Kept/\nxfilter \"/bin/cat\"\n"
	    "to /dev/null\n");
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 1);
	ck_assert_uint_eq(count(bob, "Kept"), 1);
	/* inside exception { } the failure is caught: the discard runs */
	set_filter(bob, "exception {\n xfilter \"/bin/cat\"\n}\n"
	    "to /dev/null\n");
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 1);
	/* a steps limit, not a hang */
	set_filter(bob, "while (1) { X=1 }\nto /dev/null\n");
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 2);
}
END_TEST

START_TEST(test_stages_and_locks)
{
	struct deliver_rcpt r1, r2;
	struct deliver_job j1, j2, *jobs[1];

	set_filter(bob, "to Mail/.Later/\n");
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	ck_assert_int_eq(deliver_resolve(st, &dcf, "bob@example.test", 0,
	    &r1), 0);
	ck_assert_int_eq(deliver_resolve(st, &dcf, "bob@example.test", 0,
	    &r2), 0);
	memset(&j1, 0, sizeof(j1));
	j1.sender = "a@remote.test";
	j1.data = ham;
	j1.len = strlen(ham);
	j1.rcpts = &r1;
	j1.nrcpts = 1;
	j2 = j1;
	j2.rcpts = &r2;
	ck_assert_int_eq(deliver_begin(st, &dcf, &j1), 1);
	/* bob's lock is held while his filter runs: the second waits */
	ck_assert_int_eq(deliver_begin(st, &dcf, &j2), 0);
	deliver_filter_job(&j1);
	jobs[0] = &j1;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_int_eq(r1.code, 250);
	ck_assert_uint_eq(count(bob, "Later"), 1);
	/* released: the second one goes now; deliver_end() also releases */
	ck_assert_int_eq(deliver_begin(st, &dcf, &j2), 1);
	deliver_end(st, &j2);
	ck_assert_int_eq(deliver_begin(st, &dcf, &j2), 1);
	deliver_filter_job(&j2);
	jobs[0] = &j2;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 1), 0);
	ck_assert_uint_eq(count(bob, "Later"), 2);
	deliver_rcpt_clear(&r1);
	deliver_rcpt_clear(&r2);
}
END_TEST

static int
deliver_lock_fn(const struct store_lock *l, void *ctx)
{
	if (strncmp(l->name, "deliver:", 8) == 0)
		(*(unsigned *)ctx)++;
	return 0;
}

/* Delivery locks in the store. */
static unsigned
deliver_locks(void)
{
	unsigned n = 0;

	ck_assert_int_ne(store_lock_list(st, deliver_lock_fn, &n), -1);
	return n;
}

START_TEST(test_shared_locks)
{
	struct deliver_rcpt r1, r2;
	struct deliver_job j1, j2, *jobs[2];

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	ck_assert_int_eq(deliver_resolve(st, &dcf, "bob@example.test", 0,
	    &r1), 0);
	ck_assert_int_eq(deliver_resolve(st, &dcf, "bob@example.test", 0,
	    &r2), 0);
	memset(&j1, 0, sizeof(j1));
	j1.sender = "a@remote.test";
	j1.data = ham;
	j1.len = strlen(ham);
	j1.rcpts = &r1;
	j1.nrcpts = 1;
	j2 = j1;
	j2.rcpts = &r2;
	/* No filter runs for bob: two jobs share his lock, one commit. */
	ck_assert_int_eq(deliver_begin(st, &dcf, &j1), 2);
	ck_assert_int_eq(deliver_begin(st, &dcf, &j2), 2);
	ck_assert_uint_eq(deliver_locks(), 1);
	jobs[0] = &j1;
	jobs[1] = &j2;
	ck_assert_int_eq(deliver_run(st, &dcf, jobs, 2), 0);
	ck_assert_int_eq(r1.code, 250);
	ck_assert_int_eq(r2.code, 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 2);
	/* the last holder released it */
	ck_assert_uint_eq(deliver_locks(), 0);

	/* A job whose filter runs does not join a shared lock ... */
	ck_assert_int_eq(deliver_begin(st, &dcf, &j1), 2);
	set_filter(bob, "to Mail/.Later/\n");
	ck_assert_int_eq(deliver_begin(st, &dcf, &j2), 0);
	ck_assert_int_eq(j2.busy_here, 1);
	ck_assert_uint_eq(deliver_locks(), 1);
	deliver_end(st, &j1);
	ck_assert_uint_eq(deliver_locks(), 0);
	/* ... and holds it alone, against any other job of the process. */
	ck_assert_int_eq(deliver_begin(st, &dcf, &j2), 1);
	ck_assert_int_eq(deliver_begin(st, &dcf, &j1), 0);
	ck_assert_int_eq(j1.busy_here, 1);
	ck_assert_msg(j1.wait_ticket != 0, "j1 waits without a place");
	deliver_end(st, &j2);
	ck_assert_uint_eq(deliver_locks(), 0);
	/* j1 gives up: its place goes. */
	deliver_end(st, &j1);
	ck_assert_msg(j1.wait_ticket == 0 && j1.wait_names == NULL,
	    "j1 still waits");
	deliver_rcpt_clear(&r1);
	deliver_rcpt_clear(&r2);
}
END_TEST

static int
vacation_fn(struct store_txn *t, void *ctx)
{
	struct store_vacation v;

	memset(&v, 0, sizeof(v));
	v.enabled = 1;
	v.interval_days = 7;
	snprintf(v.subject, sizeof(v.subject), "Away");
	v.body = (char *)"I am away.\n";
	return store_vacation_set(t, *(uint32_t *)ctx, &v);
}

START_TEST(test_vacation_once)
{
	static const char to_bob[] = "From: carol@example.test\r\n"
	    "To: bob@example.test\r\nSubject: ping\r\n"
	    "Message-ID: <p1@example.test>\r\n\r\nping\r\n";
	static const char bulk[] = "From: carol@example.test\r\n"
	    "To: bob@example.test\r\nSubject: news\r\n"
	    "Precedence: bulk\r\n\r\nnews\r\n";
	char *reply;

	ck_assert_int_ne(store_write(st, vacation_fn, &bob), -1);
	ck_assert_int_eq(deliver("carol@example.test", to_bob,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(carol, "INBOX"), 1);
	reply = last(carol, "INBOX");
	ck_assert_msg(strstr(reply, "Return-Path: <>") != NULL, "%s", reply);
	ck_assert_msg(strstr(reply, "Auto-Submitted: auto-replied") != NULL,
	    "%s", reply);
	ck_assert_msg(strstr(reply, "In-Reply-To: <p1@example.test>") !=
	    NULL, "%s", reply);
	free(reply);
	/* the same sender again: no second reply; bulk: none */
	ck_assert_int_eq(deliver("carol@example.test", to_bob,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_int_eq(deliver("carol@example.test", bulk,
	    "bob@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(carol, "INBOX"), 1);
	ck_assert_uint_eq(count(bob, "INBOX"), 3);
}
END_TEST

static int
list_fn(struct store_txn *t, void *ctx)
{
	struct store_list l;
	char members[2][STORE_ADDRESS_MAX + 1] = { "bob@example.test",
	    "far@remote.test" };

	memset(&l, 0, sizeof(l));
	snprintf(l.addr, sizeof(l.addr), "team@example.test");
	snprintf(l.name, sizeof(l.name), "The team");
	snprintf(l.owner, sizeof(l.owner), "carol@example.test");
	l.flags = *(unsigned *)ctx;
	l.nmembers = 2;
	l.members = members;
	return store_list_put(t, &l);
}

START_TEST(test_list)
{
	struct deliver_rcpt r;
	unsigned flags = STORE_LIST_REPLY_TO;
	char *copy;

	ck_assert_int_ne(store_write(st, list_fn, &flags), -1);
	ck_assert_int_eq(deliver("sender@remote.test", ham,
	    "team@example.test", NULL, NULL), 250);
	copy = last(bob, "INBOX");
	ck_assert_msg(strstr(copy, "List-Id: \"The team\" "
	    "<team.example.test>") != NULL, "%s", copy);
	ck_assert_msg(strstr(copy, "Reply-To: <team@example.test>") != NULL,
	    "%s", copy);
	free(copy);
	ck_assert_int_eq(queued("far@remote.test"), 1);
	/* members only: a stranger is refused at RCPT, a member posts */
	flags = STORE_LIST_MEMBERS_ONLY;
	ck_assert_int_ne(store_write(st, list_fn, &flags), -1);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(deliver_resolve_from(st, &dcf, "sender@remote.test",
	    "team@example.test", 0, &r), 0);
	ck_assert_int_eq(r.kind, DELIVER_REFUSED);
	ck_assert_int_eq(r.code, 550);
	ck_assert_msg(strstr(r.text, "5.7.1") != NULL, "%s", r.text);
	deliver_rcpt_clear(&r);
	ck_assert_int_eq(deliver("far@remote.test", ham,
	    "team@example.test", NULL, NULL), 250);
	ck_assert_uint_eq(count(bob, "INBOX"), 2);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("deliver_filter");
	TCase *tc = tcase_create("filters");

	tu_init();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_no_filter_inbox);
	tcase_add_test(tc, test_global_spam_folder);
	tcase_add_test(tc, test_discard_answers_250);
	tcase_add_test(tc, test_user_after_global);
	tcase_add_test(tc, test_forward_and_cc);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_failure_keeps_inbox);
	tcase_add_test(tc, test_stages_and_locks);
	tcase_add_test(tc, test_shared_locks);
	tcase_add_test(tc, test_vacation_once);
	tcase_add_test(tc, test_list);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
