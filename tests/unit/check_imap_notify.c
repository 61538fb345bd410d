/*
 * check_imap_notify.c - the IDLE fan-out of imapd/view.c
 * (imap_view_notify()) on a real store: several idlers with the same
 * view state share one read of the store, and each still ends with the
 * mailbox as it is, also when the expunge log no longer reaches back to
 * their modseq and the read compared every uid.
 *
 * The sessions have no connection: conn_write() and conn_out_pending()
 * are wrapped (-Wl,--wrap) to count the replies of each session.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/conn.h"
#include "imapd/core.h"
#include "imapd/imapd.h"
#include "testutil.h"

#define IDLERS	3

/* The fake connections: one output counter each. */
struct fake_out {
	char	last[256];
	size_t	expunges;	/* "* N EXPUNGE" lines */
};
static struct fake_out outs[IDLERS];

int	__wrap_conn_write(struct conn *, const void *, size_t);
size_t	__wrap_conn_out_pending(struct conn *);

int
__wrap_conn_write(struct conn *c, const void *data, size_t len)
{
	struct fake_out *o = (struct fake_out *)(void *)c;
	size_t n = len < sizeof(o->last) - 1 ? len : sizeof(o->last) - 1;

	memcpy(o->last, data, n);
	o->last[n] = '\0';
	if (len > 9 && memcmp((const char *)data + len - 9, "EXPUNGE\r\n",
	    9) == 0)
		o->expunges++;
	return 0;
}

size_t
__wrap_conn_out_pending(struct conn *c)
{
	(void)c;
	return 0;
}

static time_t clock_offset;

static time_t
shifted_clock(void)
{
	return time(NULL) + clock_offset;
}

struct bulk {
	uint32_t		 box;
	struct store_prepared	*prep;
	uint32_t		 first, n;
	int			 expunge;
};

static int
bulk_fn(struct store_txn *t, void *ctx)
{
	struct bulk *b = ctx;
	uint32_t i, uid;

	for (i = 0; i < b->n; i++) {
		if (b->expunge) {
			if (store_msg_expunge(t, b->box, b->first + i) != 1)
				return -1;
		} else if (store_msg_append(t, b->box, b->prep, 0, 0, NULL, 0,
		    &uid) != 1)
			return -1;
	}
	return 0;
}

/* An idler with a read-only view of the whole mailbox as it is now. */
static void
idler_init(struct imap_session *s, struct imap_server *srv,
    const struct store_mailbox *mb, uint32_t nmsg, int i)
{
	struct imap_view *v;
	uint32_t u;

	memset(s, 0, sizeof(*s));
	s->conn = (struct conn *)(void *)&outs[i];
	s->srv = srv;
	s->id = (unsigned long)i + 1;
	s->state = IMAP_SELECTED;
	s->core = calloc(1, sizeof(struct imap_core));
	v = calloc(1, sizeof(*v));
	v->mailbox_id = mb->id;
	v->uidvalidity = mb->uidvalidity;
	v->readonly = 1;
	v->uids = calloc(nmsg, sizeof(*v->uids));
	for (u = 0; u < nmsg; u++)
		v->uids[u] = u + 1;
	v->count = v->cap = nmsg;
	v->uidnext = mb->uidnext;
	v->modseq = mb->highestmodseq;
	s->view = v;
	imap_session_idle_start(s);
}

START_TEST(test_shared_full_read)
{
	static const char msg[] = "Subject: n\r\n\r\nbody\r\n";
	struct imap_session sess[IDLERS];
	struct imap_server srv;
	struct store_mailbox mb;
	struct bulk b = { 0 };
	struct store *st;
	char *dir;
	uint32_t user, box, nmsg = STORE_EXPUNGE_LOG_MIN + 30, left;
	int i;

	dir = tu_tmpdir("notify");
	st = tu_open(dir);
	store_set_clock(shifted_clock);
	user = tu_make_user(st, "idle@example.test");
	box = tu_inbox(st, user);
	b.box = box;
	ck_assert_int_eq(store_msg_prepare(st, msg, sizeof(msg) - 1,
	    &b.prep), 0);
	b.n = nmsg;
	ck_assert_int_eq(store_write(st, bulk_fn, &b), 0);
	store_prepared_free(&b.prep);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, box, &mb), 1);

	memset(&srv, 0, sizeof(srv));
	srv.store = st;
	memset(outs, 0, sizeof(outs));
	for (i = 0; i < IDLERS; i++)
		idler_init(&sess[i], &srv, &mb, nmsg, i);

	/* Expunges long ago, then a few now: the log is pruned past the
	 * idlers' modseq (nobody was notified in between). */
	b.expunge = 1;
	b.first = 1;
	b.n = STORE_EXPUNGE_LOG_MIN;
	clock_offset = -(STORE_EXPUNGE_LOG_DAYS + 2) * 86400;
	ck_assert_int_eq(store_write(st, bulk_fn, &b), 0);
	clock_offset = 0;
	b.first = STORE_EXPUNGE_LOG_MIN + 1;
	b.n = 10;
	ck_assert_int_eq(store_write(st, bulk_fn, &b), 0);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, box, &mb), 1);
	ck_assert_msg(mb.expunge_floor > sess[0].view->modseq, "the log "
	    "still reaches back: the test does not test what it should");
	left = nmsg - STORE_EXPUNGE_LOG_MIN - 10;

	imap_view_notify(&srv, box);
	for (i = 0; i < IDLERS; i++) {
		ck_assert_msg(sess[i].view != NULL && !sess[i].closing,
		    "idler %d lost its mailbox", i);
		ck_assert_msg(sess[i].view->count == left, "idler %d (last "
		    "said %s) has %zu messages, the mailbox %u", i,
		    outs[i].last, sess[i].view->count, left);
		ck_assert_msg(sess[i].view->uids[0] ==
		    STORE_EXPUNGE_LOG_MIN + 11, "idler %d: first uid %u", i,
		    sess[i].view->uids[0]);
		ck_assert_msg(outs[i].expunges == STORE_EXPUNGE_LOG_MIN + 10,
		    "idler %d was told %zu expunges", i, outs[i].expunges);
	}
	for (i = 0; i < IDLERS; i++) {
		imap_session_idle_stop(&sess[i]);
		imap_view_free(&sess[i].view);
		free(sess[i].core);
	}
	store_set_clock(NULL);
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("imap_notify");
	TCase *tc = tcase_create("fanout");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_shared_full_read);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
