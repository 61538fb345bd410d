/*
 * check_store_imap.c - what the store keeps for IMAP.
 *
 * Default folders, the IMAP record of each body (stored at delivery,
 * equal to what mail/imapmsg builds from the bytes), the expunge log and
 * its horizon, rows changed since a modseq, \Recent, and the in-place
 * upgrade of a schema 1 store, built here through raw LMDB in the old
 * record formats.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <inttypes.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "mail/imapmsg.h"
#include "testutil.h"

static Suite	*imap_suite(void);

static char		*dir;
static struct store	*st;
static uint32_t		 user, inbox;

static const char msg1[] =
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.test\r\n"
    "Subject: =?UTF-8?Q?caf=C3=A9?= plans\r\n"
    "Date: Tue, 1 Dec 2026 10:00:00 +0100\r\n"
    "Message-ID: <one@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
    "\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    "--b\r\nContent-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
    "--b--\r\n";
static const char msg2[] = "Subject: two\nFrom: c@example.test\n\nbody\n";

static void
setup(void)
{
	dir = tu_tmpdir("imap");
	st = tu_open(dir);
	user = tu_make_user(st, "alice@example.test");
	inbox = tu_inbox(st, user);
}

static void
teardown(void)
{
	store_set_clock(NULL);
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* ---------------------------------------------------------------- */

struct names {
	char		name[16][STORE_MAILBOX_NAME_MAX + 1];
	uint32_t	special[16];
	int		subscribed[16];
	size_t		n;
};

static int
names_one(const struct store_mailbox *mb, void *ctx)
{
	struct names *o = ctx;

	if (o->n < 16) {
		strcpy(o->name[o->n], mb->name);
		o->special[o->n] = mb->special_use;
		o->subscribed[o->n] = mb->subscribed;
	}
	o->n++;
	return 0;
}

static int
names_fn(struct store_txn *t, void *ctx)
{
	return store_mailbox_list(t, user, names_one, ctx);
}

static void
assert_defaults(uint32_t uid_of_user, const char *who)
{
	static const struct {
		const char	*name;
		uint32_t	 special;
	} want[] = { { "Archive", STORE_SPECIAL_ARCHIVE },
	    { "Drafts", STORE_SPECIAL_DRAFTS }, { "INBOX", 0 },
	    { "Sent", STORE_SPECIAL_SENT }, { "Spam", STORE_SPECIAL_JUNK },
	    { "Trash", STORE_SPECIAL_TRASH } };
	struct names o = { 0 };
	size_t i, j;
	uint32_t saved = user;

	user = uid_of_user;
	ck_assert_int_ge(store_read(st, names_fn, &o), 0);
	user = saved;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (j = 0; j < o.n && j < 16; j++)
			if (strcmp(o.name[j], want[i].name) == 0)
				break;
		ck_assert_msg(j < o.n, "%s: no %s folder (%zu folders)", who,
		    want[i].name, o.n);
		ck_assert_msg(o.special[j] == want[i].special, "%s: %s has "
		    "special-use %#x, wanted %#x", who, want[i].name,
		    o.special[j], want[i].special);
		ck_assert_msg(o.subscribed[j], "%s: %s is not subscribed",
		    who, want[i].name);
	}
}

START_TEST(test_default_folders)
{
	struct store_mailbox mb;
	uint32_t id;

	assert_defaults(user, "a new user");
	/* Creating them again keeps what is there (also a renamed one). */
	ck_assert_int_eq(tu_mailbox_create(st, user, "Notes", 0, &id), 1);
	ck_assert_int_eq(tu_mailbox_get(st, user, "Sent", &mb), 1);
	ck_assert_int_eq(tu_check(st), 0);
}
END_TEST

/* ---------------------------------------------------------------- */

struct metaop {
	uint64_t	 body;
	void		*meta;
	size_t		 len;
};

static int
meta_fn(struct store_txn *t, void *ctx)
{
	struct metaop *o = ctx;

	return store_body_meta(t, o->body, &o->meta, &o->len);
}

static void
assert_meta_of(uint32_t box, uint32_t uid, const void *bytes, size_t len)
{
	struct store_msg m;
	struct metaop o = { 0 };
	struct imap_meta im;
	void *want;
	size_t wantlen;

	ck_assert_int_eq(tu_msg_get(st, box, uid, &m), 1);
	o.body = m.body;
	ck_assert_msg(store_read(st, meta_fn, &o) == 1, "store_body_meta: %s",
	    tu_err());
	imap_msg_meta_build(bytes, len, &want, &wantlen);
	ck_assert_msg(o.len == wantlen && memcmp(o.meta, want, wantlen) == 0,
	    "the stored record (%zu bytes) differs from the one built from "
	    "the message (%zu bytes)", o.len, wantlen);
	ck_assert_int_eq(imap_meta_parse(o.meta, o.len, &im), 0);
	free(want);
	free(o.meta);
}

START_TEST(test_record_stored_with_body)
{
	struct store_prepared *base, *pre;
	struct store_stats s;
	const char prefix[] = "Return-Path: <x@example.test>\r\n"
	    "Delivered-To: alice@example.test\r\n";
	char joined[sizeof(prefix) + sizeof(msg1)];
	uint32_t u1, u2, u3;
	struct metaop o = { .body = 999999 };

	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0, NULL,
	    &u1), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0, NULL,
	    &u2), 1);
	assert_meta_of(inbox, u1, msg1, sizeof(msg1) - 1);
	assert_meta_of(inbox, u2, msg2, sizeof(msg2) - 1);
	/* A record of many pieces: 200 parts with different names. */
	{
		char *big = NULL;
		size_t biglen = 0;
		FILE *fp = open_memstream(&big, &biglen);
		uint32_t ub;
		int i;

		fprintf(fp, "Subject: parts\r\nContent-Type: multipart/mixed; "
		    "boundary=zz\r\n\r\n");
		for (i = 0; i < 200; i++)
			fprintf(fp, "--zz\r\nContent-Type: text/plain; name="
			    "\"file-%d-%x.txt\"\r\n\r\npart %d\r\n", i,
			    i * 7919, i);
		fprintf(fp, "--zz--\r\n");
		fclose(fp);
		ck_assert_int_eq(tu_append(st, inbox, big, biglen, 0, NULL,
		    &ub), 1);
		assert_meta_of(inbox, ub, big, biglen);
		tu_stats(st, &s);
		ck_assert_msg(s.imap_stored_bytes > 3 * 492, "records hold %"
		    PRIu64 " bytes: the big one is not several pieces",
		    s.imap_stored_bytes);
		ck_assert_msg(tu_check(st) == 0, "check: %s",
		    tu_check_problems());
		ck_assert_int_eq(tu_expunge(st, inbox, ub), 1);
		free(big);
	}
	/* A per-recipient prefix: the record covers prefix + message. */
	ck_assert_int_eq(store_msg_prepare(st, msg1, sizeof(msg1) - 1,
	    &base), 0);
	ck_assert_int_eq(store_msg_prepare_prefix(st, base, prefix,
	    sizeof(prefix) - 1, &pre), 0);
	ck_assert_int_eq(tu_append_prepared(st, inbox, pre, 0, &u3), 1);
	memcpy(joined, prefix, sizeof(prefix) - 1);
	memcpy(joined + sizeof(prefix) - 1, msg1, sizeof(msg1));
	assert_meta_of(inbox, u3, joined, sizeof(prefix) - 1 +
	    sizeof(msg1) - 1);
	store_prepared_free(&pre);
	store_prepared_free(&base);
	/* store check counts every record piece against the bodies. */
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
	/* The last reference gone, the record goes with the body. */
	ck_assert_int_eq(tu_expunge(st, inbox, u1), 1);
	ck_assert_int_eq(tu_expunge(st, inbox, u2), 1);
	ck_assert_int_eq(tu_expunge(st, inbox, u3), 1);
	tu_stats(st, &s);
	ck_assert_uint_eq(s.bodies, 0);
	ck_assert_msg(tu_check(st) == 0, "check after expunges: %s",
	    tu_check_problems());
	ck_assert_int_eq(store_read(st, meta_fn, &o), 0);
}
END_TEST

/* ---------------------------------------------------------------- */

struct exlog {
	uint32_t	uid[64];
	uint64_t	modseq[64];
	size_t		n;
};

static int
exlog_one(uint32_t uid, uint64_t modseq, void *ctx)
{
	struct exlog *l = ctx;

	if (l->n < 64) {
		l->uid[l->n] = uid;
		l->modseq[l->n] = modseq;
	}
	l->n++;
	return 0;
}

struct exop {
	uint32_t	box;
	uint64_t	since;
	struct exlog	log;
};

static int
exlog_fn(struct store_txn *t, void *ctx)
{
	struct exop *o = ctx;

	return store_msg_expunged_since(t, o->box, o->since, exlog_one,
	    &o->log);
}

static int
expunged_since(uint32_t box, uint64_t since, struct exlog *l)
{
	struct exop o = { .box = box, .since = since };
	int rc;

	rc = store_read(st, exlog_fn, &o);
	*l = o.log;
	return rc;
}

/*
 * A body that existed when the message was prepared (so no record was
 * built) but was expunged before the append: the append stores the body
 * anew, and its record with it.
 */
START_TEST(test_record_when_body_vanished)
{
	struct store_prepared *p;
	uint32_t u1, u2;

	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0, NULL,
	    &u1), 1);
	ck_assert_int_eq(store_msg_prepare(st, msg2, sizeof(msg2) - 1, &p), 0);
	ck_assert_int_eq(tu_expunge(st, inbox, u1), 1);
	ck_assert_int_eq(tu_append_prepared(st, inbox, p, 0, &u2), 1);
	store_prepared_free(&p);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
	assert_meta_of(inbox, u2, msg2, sizeof(msg2) - 1);
}
END_TEST

START_TEST(test_expunge_log)
{
	struct store_mailbox mb0, mb;
	struct exlog l;
	uint32_t uid[5], other, moved;
	int i;

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1,
		    0, NULL, &uid[i]), 1);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb0), 1);
	ck_assert_msg(mb0.expunge_floor == 0, "a new mailbox has floor %"
	    PRIu64, mb0.expunge_floor);
	ck_assert_int_eq(tu_expunge(st, inbox, uid[3]), 1);
	ck_assert_int_eq(tu_expunge(st, inbox, uid[1]), 1);
	ck_assert_int_eq(tu_mailbox_create(st, user, "Other", 0, &other), 1);
	ck_assert_int_eq(tu_move(st, inbox, uid[4], other, &moved), 1);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);

	ck_assert_int_eq(expunged_since(inbox, mb0.highestmodseq, &l), 1);
	ck_assert_msg(l.n == 3 && l.uid[0] == uid[3] && l.uid[1] == uid[1] &&
	    l.uid[2] == uid[4], "log since the appends: %zu entries (%u %u "
	    "%u), wanted uids %u %u %u (the move too)", l.n, l.uid[0],
	    l.uid[1], l.uid[2], uid[3], uid[1], uid[4]);
	ck_assert_msg(l.modseq[0] < l.modseq[1] && l.modseq[1] < l.modseq[2] &&
	    l.modseq[2] <= mb.highestmodseq && l.modseq[0] >
	    mb0.highestmodseq, "modseqs %" PRIu64 " %" PRIu64 " %" PRIu64
	    " not increasing within (%" PRIu64 ", %" PRIu64 "]", l.modseq[0],
	    l.modseq[1], l.modseq[2], mb0.highestmodseq, mb.highestmodseq);
	ck_assert_int_eq(expunged_since(inbox, l.modseq[0], &l), 1);
	ck_assert_msg(l.n == 2, "since the first expunge: %zu entries", l.n);
	ck_assert_int_eq(expunged_since(inbox, mb.highestmodseq, &l), 1);
	ck_assert_msg(l.n == 0, "since now: %zu entries", l.n);
	ck_assert_int_eq(expunged_since(other, 0, &l), 1);
	ck_assert_msg(l.n == 0, "the move's target logged %zu expunges", l.n);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());

	/* Deleting a mailbox drops its log (store check would name it). */
	ck_assert_int_eq(tu_expunge(st, other, moved), 1);
	ck_assert_int_eq(expunged_since(other, 0, &l), 1);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

static int
delete_fn(struct store_txn *t, void *ctx)
{
	return store_mailbox_delete(t, user, ctx);
}

static uint64_t
expunge_entries(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat ms;
	char *path;
	uint64_t n = 0;

	ck_assert(asprintf(&path, "%s/store", dir) > 0);
	ck_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, store_mapsize(st));
	ck_assert(mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0600) == 0);
	ck_assert(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
	if (mdb_dbi_open(txn, "expunges", MDB_DUPSORT, &dbi) == 0 &&
	    mdb_stat(txn, dbi, &ms) == 0)
		n = ms.ms_entries;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	free(path);
	return n;
}

START_TEST(test_delete_drops_log)
{
	uint32_t box, uid;

	ck_assert_int_eq(tu_mailbox_create(st, user, "Gone", 0, &box), 1);
	ck_assert_int_eq(tu_append(st, box, msg2, sizeof(msg2) - 1, 0, NULL,
	    &uid), 1);
	ck_assert_int_eq(tu_append(st, box, msg1, sizeof(msg1) - 1, 0, NULL,
	    &uid), 1);
	ck_assert_int_eq(tu_expunge(st, box, uid), 1);
	ck_assert_uint_eq(expunge_entries(), 1);
	ck_assert_int_eq(store_write(st, delete_fn, "Gone"), 1);
	ck_assert_msg(expunge_entries() == 0, "%" PRIu64 " expunge log "
	    "entries left after the mailbox was deleted", expunge_entries());
	/* A deleted user's mailboxes leave no log either. */
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0, NULL,
	    &uid), 1);
	ck_assert_int_eq(tu_expunge(st, inbox, uid), 1);
	ck_assert_uint_eq(expunge_entries(), 1);
	ck_assert_int_eq(tu_user_del(st, user), 1);
	ck_assert_uint_eq(expunge_entries(), 0);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

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

START_TEST(test_expunge_log_horizon)
{
	struct store_mailbox mb;
	struct bulk b = { 0 };
	struct exlog l;
	uint32_t n = STORE_EXPUNGE_LOG_MIN + 20;

	store_set_clock(shifted_clock);
	b.box = inbox;
	ck_assert_int_eq(store_msg_prepare(st, msg2, sizeof(msg2) - 1,
	    &b.prep), 0);
	b.n = n;
	ck_assert_msg(store_write(st, bulk_fn, &b) == 0, "appends: %s",
	    tu_err());
	store_prepared_free(&b.prep);
	/* The first STORE_EXPUNGE_LOG_MIN expunges happen long ago... */
	b.expunge = 1;
	b.first = 1;
	b.n = STORE_EXPUNGE_LOG_MIN;
	clock_offset = -(STORE_EXPUNGE_LOG_DAYS + 2) * 86400;
	ck_assert_msg(store_write(st, bulk_fn, &b) == 0, "expunges: %s",
	    tu_err());
	ck_assert_int_eq(expunged_since(inbox, 0, &l), 1);
	ck_assert_msg(l.n == STORE_EXPUNGE_LOG_MIN, "%zu logged", l.n);
	/* ...the last 20 now: as many old ones go past the minimum. */
	clock_offset = 0;
	b.first = STORE_EXPUNGE_LOG_MIN + 1;
	b.n = 20;
	ck_assert_int_eq(store_write(st, bulk_fn, &b), 0);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);
	ck_assert_msg(mb.expunge_floor > 0, "nothing was pruned");
	ck_assert_msg(expunged_since(inbox, 0, &l) == 0, "the log claims to "
	    "reach back to modseq 0 after pruning (floor %" PRIu64 ")",
	    mb.expunge_floor);
	ck_assert_int_eq(expunged_since(inbox, mb.expunge_floor, &l), 1);
	ck_assert_msg(l.n == STORE_EXPUNGE_LOG_MIN, "%zu entries kept, wanted "
	    "the minimum %d", l.n, STORE_EXPUNGE_LOG_MIN);
	ck_assert_msg(l.uid[0] == 21, "the oldest kept is uid %u, wanted 21",
	    l.uid[0]);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

/* ---------------------------------------------------------------- */

struct chop {
	uint32_t	box;
	uint64_t	since;
	uint32_t	uids[16];
	size_t		n;
};

static int
changed_one(const struct store_msg *m, void *ctx)
{
	struct chop *o = ctx;

	if (o->n < 16)
		o->uids[o->n] = m->uid;
	o->n++;
	return 0;
}

static int
changed_fn(struct store_txn *t, void *ctx)
{
	struct chop *o = ctx;

	return store_msg_changed_since(t, o->box, o->since, changed_one, o);
}

START_TEST(test_changed_since)
{
	struct store_mailbox mb;
	struct chop o = { .box = inbox };
	uint32_t u[4];
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1,
		    0, NULL, &u[i]), 1);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);
	o.since = mb.highestmodseq;
	ck_assert_int_ge(store_read(st, changed_fn, &o), 0);
	ck_assert_msg(o.n == 0, "%zu rows changed since now", o.n);
	ck_assert_int_eq(tu_set_flags(st, inbox, u[2], STORE_FLAGS_ADD,
	    STORE_F_FLAGGED, NULL), 1);
	ck_assert_int_eq(tu_set_flags(st, inbox, u[0], STORE_FLAGS_ADD, 0,
	    "$Label1"), 1);
	ck_assert_int_ge(store_read(st, changed_fn, &o), 0);
	ck_assert_msg(o.n == 2 && o.uids[0] == u[0] && o.uids[1] == u[2],
	    "changed rows: %zu (%u, %u), wanted uids %u and %u in uid order",
	    o.n, o.uids[0], o.uids[1], u[0], u[2]);
	o.n = 0;
	o.since = 0;
	ck_assert_int_ge(store_read(st, changed_fn, &o), 0);
	ck_assert_uint_eq(o.n, 4);
}
END_TEST

/* ---------------------------------------------------------------- */

struct recop {
	uint32_t	box, first, uidnext;
};

static int
recent_fn(struct store_txn *t, void *ctx)
{
	struct recop *o = ctx;

	return store_mailbox_take_recent(t, o->box, &o->first, &o->uidnext);
}

START_TEST(test_take_recent)
{
	struct recop o = { .box = inbox };
	uint32_t uid;
	int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1,
		    0, NULL, &uid), 1);
	ck_assert_int_eq(store_write(st, recent_fn, &o), 1);
	ck_assert_msg(o.first == 1 && o.uidnext == 4, "first session: recent "
	    "[%u, %u), wanted [1, 4)", o.first, o.uidnext);
	ck_assert_int_eq(store_write(st, recent_fn, &o), 1);
	ck_assert_msg(o.first == 4 && o.uidnext == 4, "second session: "
	    "recent [%u, %u), wanted none", o.first, o.uidnext);
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0, NULL,
	    &uid), 1);
	ck_assert_int_eq(store_write(st, recent_fn, &o), 1);
	ck_assert_msg(o.first == 4 && o.uidnext == 5, "after new mail: "
	    "recent [%u, %u), wanted [4, 5)", o.first, o.uidnext);
	o.box = 999999;
	ck_assert_int_eq(store_write(st, recent_fn, &o), 0);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

/* The upgrade from schema 1 ------------------------------------------ */

/*
 * Turns the store in dir into what schema 1 wrote: version 1, body
 * records of version 1 (no IMAP fields), no imapmeta and expunges tables,
 * mbox records without recent_uid and expunge_floor, users with INBOX
 * only.  Uses raw LMDB and the old layouts spelled out here.
 */
static uint64_t
uv(const uint8_t **p)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (**p & 0x80) {
		v |= (uint64_t)(**p & 0x7f) << shift;
		shift += 7;
		(*p)++;
	}
	v |= (uint64_t)**p << shift;
	(*p)++;
	return v;
}

static void
put_be(uint8_t *out, uint64_t v, int n)
{
	while (n-- > 0) {
		out[n] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * A body record as store/body.c writes it (version 5: varints, no size,
 * the CRLF size and final line end, then the IMAP record fields) in
 * version 1's layout: 1, refcount (4),
 * size (8), hash (32), nsegs (4), then hash (32) and length (8) a
 * segment.
 */
static size_t
body_v4_to_v1(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	const uint8_t *p = in + 1;
	uint64_t nsegs, i, seglen, size = 0;
	size_t n;

	ck_assert_msg(len > 0 && in[0] == 5, "body record version %u, "
	    "not 5", len > 0 ? in[0] : 0);
	out[0] = 1;
	put_be(out + 1, uv(&p), 4);
	(void)uv(&p);	/* CRLF size - size, final line end: not in v1 */
	p++;
	memcpy(out + 13, p, 32);
	p += 32;
	nsegs = uv(&p);
	put_be(out + 45, nsegs, 4);
	n = 49;
	for (i = 0; i < nsegs; i++) {
		ck_assert(n + 40 <= cap);
		memcpy(out + n, p, 32);
		p += 32;
		seglen = uv(&p);
		size += seglen;
		put_be(out + n + 32, seglen, 8);
		n += 40;
	}
	put_be(out + 5, size, 8);
	ck_assert((size_t)(p - in) < len);
	return n;
}

/* What make_v1() keeps of each body for the rows of version 1. */
struct v1_body {
	uint64_t	id, size, crlf;
	uint8_t		noeol;
};

static uint64_t
get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * Moves the rows of `messages` (20 bytes: uid, flags, body, date, modseq
 * of 40 bits each) into `msgs` as version 1 rows (40 fixed bytes, then
 * the keywords from `msgkw`), as schema 1 kept them.
 */
static void
rows_to_v1(MDB_txn *txn, const struct v1_body *b, size_t nb)
{
	MDB_dbi rows, kws, old;
	MDB_cursor *c;
	MDB_val k, v, kk, kv;
	static struct {
		uint8_t	key[4];
		uint8_t	val[40 + STORE_KEYWORDS_MAX];
		size_t	len;
	} out[512];
	uint8_t kwkey[8], *r;
	uint64_t body, date;
	size_t n = 0, i, j, kw;

	ck_assert(mdb_dbi_open(txn, "messages", MDB_DUPSORT | MDB_DUPFIXED,
	    &rows) == 0);
	ck_assert(mdb_dbi_open(txn, "msgkw", 0, &kws) == 0);
	ck_assert(mdb_cursor_open(txn, rows, &c) == 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		ck_assert(v.mv_size == 20 && k.mv_size == 4 && n < 512);
		r = v.mv_data;
		body = get_be(r + 5, 5);
		date = get_be(r + 10, 5);
		for (j = 0; j < nb && b[j].id != body; j++)
			;
		ck_assert(j < nb);
		memcpy(out[n].key, k.mv_data, 4);
		memset(out[n].val, 0, 40);
		memcpy(out[n].val, r, 4);		/* uid */
		out[n].val[4] = 1;
		put_be(out[n].val + 5, body, 8);
		put_be(out[n].val + 13, date, 8);	/* after 1970 */
		put_be(out[n].val + 21, b[j].size, 4);
		out[n].val[25] = (uint8_t)((r[4] & 0x7f) |
		    (b[j].noeol ? 0x80 : 0));
		put_be(out[n].val + 26, get_be(r + 15, 5), 8);
		put_be(out[n].val + 36, b[j].crlf, 4);
		kw = 0;
		if (r[4] & 0x80) {
			memcpy(kwkey, k.mv_data, 4);
			memcpy(kwkey + 4, r, 4);
			kk.mv_size = 8;
			kk.mv_data = kwkey;
			ck_assert(mdb_get(txn, kws, &kk, &kv) == 0);
			kw = kv.mv_size;
			memcpy(out[n].val + 40, kv.mv_data, kw);
		}
		out[n].val[34] = (uint8_t)(kw >> 8);
		out[n].val[35] = (uint8_t)kw;
		out[n].len = 40 + kw;
		n++;
	}
	mdb_cursor_close(c);
	ck_assert(mdb_drop(txn, rows, 1) == 0);
	ck_assert(mdb_drop(txn, kws, 1) == 0);
	ck_assert(mdb_dbi_open(txn, "msgs", MDB_CREATE | MDB_DUPSORT,
	    &old) == 0);
	for (i = 0; i < n; i++) {
		k.mv_size = 4;
		k.mv_data = out[i].key;
		v.mv_size = out[i].len;
		v.mv_data = out[i].val;
		ck_assert(mdb_put(txn, old, &k, &v, 0) == 0);
	}
}

static void
make_v1(uint32_t keep_user)
{
	static struct v1_body vb[512];
	const uint8_t *q;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, bodies, mbox, mailboxes, imapmeta, expunges;
	MDB_cursor *c;
	MDB_val k, v;
	char *path;
	uint8_t ver[4] = { 0, 0, 0, 1 }, *p;
	static struct {
		uint8_t	key[8];
		uint8_t	val[2048];
		size_t	len;
	} recs[512];
	size_t nsegs, nrec, i;

	ck_assert(asprintf(&path, "%s/store", dir) > 0);
	ck_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, 1ULL << 30);
	ck_assert(mdb_env_open(env, path, MDB_NOTLS, 0600) == 0);
	ck_assert(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	ck_assert(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
	ck_assert(mdb_dbi_open(txn, "bodies", 0, &bodies) == 0);
	ck_assert(mdb_dbi_open(txn, "mbox", 0, &mbox) == 0);
	ck_assert(mdb_dbi_open(txn, "mailboxes", 0, &mailboxes) == 0);
	ck_assert(mdb_dbi_open(txn, "imapmeta", 0, &imapmeta) == 0);
	ck_assert(mdb_dbi_open(txn, "expunges", MDB_DUPSORT, &expunges) == 0);
	k.mv_size = 7;
	k.mv_data = "version";
	v.mv_size = 4;
	v.mv_data = ver;
	ck_assert(mdb_put(txn, meta, &k, &v, 0) == 0);
	ck_assert(mdb_drop(txn, imapmeta, 1) == 0);
	ck_assert(mdb_drop(txn, expunges, 1) == 0);
	/* bodies v1: 1, refcount 4, size 8, hash 32, nsegs 4, segs 40 each */
	ck_assert(mdb_cursor_open(txn, bodies, &c) == 0);
	nrec = 0;
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		ck_assert(v.mv_size >= 49 && v.mv_size <= sizeof(recs[0].val) &&
		    k.mv_size == 8 && nrec < 512);
		memcpy(recs[nrec].key, k.mv_data, 8);
		/* Written as version 5 (varints): rewritten as version 1. */
		recs[nrec].len = body_v4_to_v1(v.mv_data, v.mv_size,
		    recs[nrec].val, sizeof(recs[nrec].val));
		p = recs[nrec].val;
		/* Version 5: refcount, CRLF size - size, final line end. */
		q = (const uint8_t *)v.mv_data + 1;
		(void)uv(&q);
		vb[nrec].id = get_be(k.mv_data, 8);
		vb[nrec].size = get_be(p + 5, 8);
		vb[nrec].crlf = vb[nrec].size + uv(&q);
		vb[nrec].noeol = *q;
		nsegs = (size_t)p[45] << 24 | (size_t)p[46] << 16 |
		    (size_t)p[47] << 8 | p[48];
		ck_assert(recs[nrec].len == 49 + 40 * nsegs);
		nrec++;
	}
	mdb_cursor_close(c);
	rows_to_v1(txn, vb, nrec);
	for (i = 0; i < nrec; i++) {
		k.mv_size = 8;
		k.mv_data = recs[i].key;
		v.mv_size = recs[i].len;
		v.mv_data = recs[i].val;
		ck_assert(mdb_put(txn, bodies, &k, &v, 0) == 0);
	}
	/* mbox v1 ends at subscribed: recent_uid (4), expunge_floor (8) go */
	ck_assert(mdb_cursor_open(txn, mbox, &c) == 0);
	nrec = 0;
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		ck_assert(v.mv_size > 12 && v.mv_size <= sizeof(recs[0].val) &&
		    k.mv_size == 4 && nrec < 512);
		memcpy(recs[nrec].key, k.mv_data, 4);
		memcpy(recs[nrec].val, v.mv_data, v.mv_size);
		recs[nrec].len = v.mv_size - 12;
		nrec++;
	}
	mdb_cursor_close(c);
	for (i = 0; i < nrec; i++) {
		k.mv_size = 4;
		k.mv_data = recs[i].key;
		v.mv_size = recs[i].len;
		v.mv_data = recs[i].val;
		ck_assert(mdb_put(txn, mbox, &k, &v, 0) == 0);
	}
	/* Schema 1 users had INBOX only: drop the empty default folders. */
	ck_assert(mdb_cursor_open(txn, mailboxes, &c) == 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		static const char *const defs[] = { "Sent", "Drafts", "Trash",
		    "Spam", "Archive" };

		for (i = 0; i < 5; i++)
			if (k.mv_size == 4 + strlen(defs[i]) &&
			    memcmp((char *)k.mv_data + 4, defs[i],
			    strlen(defs[i])) == 0)
				break;
		if (i == 5 || (keep_user != 0 && i == 0 &&
		    ((uint8_t *)k.mv_data)[3] == keep_user &&
		    ((uint8_t *)k.mv_data)[2] == 0))
			continue;
		{
			uint8_t id[4];
			MDB_val ik = { 4, id };
			int rc;

			ck_assert(v.mv_size == 4);
			memcpy(id, v.mv_data, 4);
			ck_assert(mdb_cursor_del(c, 0) == 0);
			rc = mdb_del(txn, mbox, &ik, NULL);
			ck_assert_msg(rc == 0, "mbox del %02x%02x%02x%02x (%.*s): %s",
			    id[0], id[1], id[2], id[3], (int)k.mv_size - 4,
			    (char *)k.mv_data + 4, mdb_strerror(rc));
		}
	}
	mdb_cursor_close(c);
	ck_assert(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	free(path);
}

static uint32_t
schema_version(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_val k = { 7, "version" }, v;
	char *path;
	uint32_t ver = 0;
	const uint8_t *p;

	ck_assert(asprintf(&path, "%s/store", dir) > 0);
	ck_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	ck_assert(mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0600) == 0);
	ck_assert(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
	ck_assert(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
	if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 4) {
		p = v.mv_data;
		ver = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	free(path);
	return ver;
}

/* Two users with mail, one of them with a "Sent" of their own. */
static int
plain_sent_fn(struct store_txn *t, void *ctx)
{
	return store_mailbox_set_special_use(t, *(uint32_t *)ctx, "Sent", 0);
}

/*
 * Alice and bob with mail, as schema 1 had them.  keep_bob_sent: bob
 * made a "Sent" of his own (no special-use) before the upgrade.
 */
static void
v1_content(uint32_t *bob_r, uint32_t *u1_r, uint32_t *u2_r,
    int keep_bob_sent)
{
	uint32_t bob, uid;

	bob = tu_make_user(st, "bob@example.test");
	ck_assert(bob < 256);
	if (keep_bob_sent)
		ck_assert_int_eq(store_write(st, plain_sent_fn, &bob), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg1, sizeof(msg1) - 1, 0, NULL,
	    u1_r), 1);
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0, NULL,
	    u2_r), 1);
	ck_assert_int_eq(tu_append(st, tu_inbox(st, bob), msg2,
	    sizeof(msg2) - 1, 0, NULL, &uid), 1);
	store_close(&st);
	make_v1(keep_bob_sent ? bob : 0);
	*bob_r = bob;
}

static int
rp_rename_fn(struct store_txn *t, void *ctx)
{
	int renamed = *(int *)ctx;

	return store_mailbox_rename(t, user, renamed ? "A2" : "A",
	    renamed ? "A" : "A2");
}

static int
rp_delete_fn(struct store_txn *t, void *ctx)
{
	(void)ctx;
	return store_mailbox_delete(t, user, "B");
}

/*
 * Random appends, copies, moves, expunges, flag changes, renames and
 * deletes over two users: after each, every mailbox's modseq has not gone
 * back (and moved on where something changed), the rows are the model's,
 * the expunges since the last modseq are logged, and store check agrees.
 */
#define RP_BOXES	4
struct rp_box {
	uint32_t	id;
	uint64_t	modseq;
	uint32_t	uids[512];
	size_t		n;
};

static void
rp_verify(struct rp_box *b, int changed, const uint32_t *gone, size_t ngone,
    const char *what)
{
	struct store_mailbox mb;
	struct store_msg *m = NULL;
	struct exlog l;
	size_t n = 0, i;

	ck_assert_int_eq(tu_mailbox_get_by_id(st, b->id, &mb), 1);
	ck_assert_msg(changed ? mb.highestmodseq > b->modseq :
	    mb.highestmodseq >= b->modseq, "%s: mailbox %u modseq %" PRIu64
	    " after %" PRIu64, what, b->id, mb.highestmodseq, b->modseq);
	ck_assert_int_eq(expunged_since(b->id, b->modseq, &l), 1);
	ck_assert_msg(l.n == ngone, "%s: %zu expunges logged since %" PRIu64
	    ", %zu made", what, l.n, b->modseq, ngone);
	for (i = 0; i < ngone; i++)
		ck_assert_msg(l.uid[i] == gone[i] && l.modseq[i] > b->modseq &&
		    l.modseq[i] <= mb.highestmodseq, "%s: logged uid %u, "
		    "wanted %u", what, l.uid[i], gone[i]);
	ck_assert_int_eq(tu_msg_list(st, b->id, &m, &n), 0);
	ck_assert_msg(n == b->n && n == mb.messages, "%s: %zu rows, model "
	    "%zu, counter %u", what, n, b->n, mb.messages);
	for (i = 0; i < n; i++)
		ck_assert_msg(m[i].uid == b->uids[i] && m[i].modseq <=
		    mb.highestmodseq && m[i].uid < mb.uidnext, "%s: row %zu",
		    what, i);
	free(m);
	b->modseq = mb.highestmodseq;
}

START_TEST(test_random_paths)
{
	static const char *const bodies[] = { msg1, msg2,
	    "Subject: three\r\n\r\nthree\r\n", "Subject: four\n\nfour\n" };
	struct rp_box box[RP_BOXES];
	struct store_mailbox mb;
	struct tu_rng rng;
	uint32_t bob, uid, gone[1];
	char what[64];
	size_t i, j, k, op, a, b2;
	int renamed = 0;

	bob = tu_make_user(st, "bob@example.test");
	memset(box, 0, sizeof(box));
	box[0].id = inbox;
	ck_assert_int_eq(tu_mailbox_create(st, user, "A", 0, &box[1].id), 1);
	ck_assert_int_eq(tu_mailbox_create(st, user, "B", 0, &box[2].id), 1);
	box[3].id = tu_inbox(st, bob);
	for (i = 0; i < RP_BOXES; i++) {
		ck_assert_int_eq(tu_mailbox_get_by_id(st, box[i].id, &mb), 1);
		box[i].modseq = mb.highestmodseq;
	}
	tu_rng_seed(&rng, 9);
	for (i = 0; i < 400; i++) {
		op = tu_rng_below(&rng, 7);
		a = tu_rng_below(&rng, RP_BOXES);
		snprintf(what, sizeof(what), "op %zu (kind %zu)", i, op);
		if (op == 0 || box[a].n == 0) {
			k = tu_rng_below(&rng, 4);
			ck_assert_int_eq(tu_append(st, box[a].id, bodies[k],
			    strlen(bodies[k]), 0, NULL, &uid), 1);
			ck_assert(box[a].n < 512);
			box[a].uids[box[a].n++] = uid;
			rp_verify(&box[a], 1, NULL, 0, what);
			continue;
		}
		j = tu_rng_below(&rng, box[a].n);
		uid = box[a].uids[j];
		switch (op) {
		case 1:		/* copy, maybe into the same mailbox */
		case 2:		/* move */
			b2 = tu_rng_below(&rng, RP_BOXES);
			if (op == 2 && b2 == a)
				b2 = (a + 1) % RP_BOXES;
			if (box[b2].n >= 512)
				break;
			ck_assert_int_eq(op == 1 ? tu_copy(st, box[a].id, uid,
			    box[b2].id, &gone[0]) : tu_move(st, box[a].id, uid,
			    box[b2].id, &gone[0]), 1);
			box[b2].uids[box[b2].n++] = gone[0];
			if (op == 2) {
				memmove(box[a].uids + j, box[a].uids + j + 1,
				    (box[a].n - j - 1) * sizeof(uint32_t));
				box[a].n--;
				gone[0] = uid;
				rp_verify(&box[a], 1, gone, 1, what);
			}
			rp_verify(&box[b2], 1, NULL, 0, what);
			break;
		case 3:		/* expunge */
			ck_assert_int_eq(tu_expunge(st, box[a].id, uid), 1);
			memmove(box[a].uids + j, box[a].uids + j + 1,
			    (box[a].n - j - 1) * sizeof(uint32_t));
			box[a].n--;
			gone[0] = uid;
			rp_verify(&box[a], 1, gone, 1, what);
			break;
		case 4:		/* flags: each mode, keywords too */
			ck_assert_int_eq(tu_set_flags(st, box[a].id, uid,
			    (enum store_flag_mode)tu_rng_below(&rng, 3),
			    (uint32_t)tu_rng_below(&rng, 32), i % 3 ? "$Junk "
			    "x" : NULL), 1);
			rp_verify(&box[a], 0, NULL, 0, what);
			break;
		case 5:		/* rename A back and forth: the id stays */
			ck_assert_int_eq(store_write(st, rp_rename_fn,
			    &renamed), 1);
			renamed = !renamed;
			rp_verify(&box[1], 1, NULL, 0, what);
			break;
		case 6:		/* delete B and make it again */
			ck_assert_int_eq(store_write(st, rp_delete_fn, NULL), 1);
			ck_assert_int_eq(tu_mailbox_create(st, user, "B", 0,
			    &box[2].id), 1);
			box[2].n = 0;
			box[2].modseq = 0;
			rp_verify(&box[2], 1, NULL, 0, what);
			break;
		}
		for (k = 0; k < RP_BOXES; k++)
			rp_verify(&box[k], 0, NULL, 0, what);
		if (i % 50 == 49)
			ck_assert_msg(tu_check(st) == 0, "%s: check: %s", what,
			    tu_check_problems());
	}
	/* Deleting bob takes his mail; the bodies alice shares stay. */
	ck_assert_int_eq(tu_user_del(st, bob), 1);
	ck_assert_msg(tu_check(st) == 0, "after deleting bob: %s",
	    tu_check_problems());
	for (k = 0; k < 3; k++)
		rp_verify(&box[k], 0, NULL, 0, "after deleting bob");
}
END_TEST

START_TEST(test_upgrade_from_v1)
{
	struct store_mailbox mb;
	struct recop o = { 0 };
	struct exlog l;
	struct store_msg m;
	struct metaop mo = { 0 };
	uint32_t bob, u1, u2, keep;

	v1_content(&bob, &u1, &u2, 0);
	ck_assert_uint_eq(schema_version(), 1);
	/* A read-only open reads schema 1 as it is, records computed. */
	ck_assert_msg(store_open(dir, STORE_RDONLY, &st) == 0,
	    "read-only open of a schema 1 store: %s", tu_err());
	ck_assert_int_eq(tu_msg_get(st, inbox, u1, &m), 1);
	mo.body = m.body;
	ck_assert_int_eq(store_read(st, meta_fn, &mo), 1);
	free(mo.meta);
	assert_meta_of(inbox, u1, msg1, sizeof(msg1) - 1);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);
	ck_assert_msg(mb.recent_uid == mb.uidnext && mb.expunge_floor ==
	    mb.highestmodseq, "an old mbox record reads as recent_uid %u "
	    "(uidnext %u), floor %" PRIu64 " (modseq %" PRIu64 ")",
	    mb.recent_uid, mb.uidnext, mb.expunge_floor, mb.highestmodseq);
	ck_assert_msg(tu_check(st) == 0, "check of the schema 1 store: %s",
	    tu_check_problems());
	store_close(&st);
	ck_assert_uint_eq(schema_version(), 1);

	/* A writable open upgrades. */
	st = tu_open(dir);
	ck_assert_uint_eq(schema_version(), 6);
	assert_defaults(user, "alice after the upgrade");
	assert_defaults(bob, "bob after the upgrade");
	ck_assert_msg(tu_check(st) == 0, "check after the upgrade (every "
	    "body has its record): %s", tu_check_problems());
	assert_meta_of(inbox, u1, msg1, sizeof(msg1) - 1);
	assert_meta_of(inbox, u2, msg2, sizeof(msg2) - 1);
	/* Nothing is \Recent after an upgrade; the log starts now. */
	o.box = inbox;
	ck_assert_int_eq(store_write(st, recent_fn, &o), 1);
	ck_assert_msg(o.first == o.uidnext, "after the upgrade [%u, %u) is "
	    "recent", o.first, o.uidnext);
	ck_assert_int_eq(tu_mailbox_get_by_id(st, inbox, &mb), 1);
	ck_assert_int_eq(expunged_since(inbox, 0, &l), 0);
	ck_assert_int_eq(expunged_since(inbox, mb.highestmodseq, &l), 1);
	ck_assert_int_eq(tu_expunge(st, inbox, u2), 1);
	ck_assert_int_eq(expunged_since(inbox, mb.highestmodseq, &l), 1);
	ck_assert_msg(l.n == 1 && l.uid[0] == u2, "the first expunge after "
	    "the upgrade: %zu logged", l.n);
	/* New mail is recent again. */
	ck_assert_int_eq(tu_append(st, inbox, msg2, sizeof(msg2) - 1, 0, NULL,
	    &keep), 1);
	ck_assert_int_eq(store_write(st, recent_fn, &o), 1);
	ck_assert_msg(o.first == keep && o.uidnext == keep + 1, "new mail "
	    "after the upgrade: recent [%u, %u)", o.first, o.uidnext);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

START_TEST(test_upgrade_twice_at_once)
{
	struct store_mailbox mb;
	uint32_t bob, u1, u2;
	pid_t pid[2];
	int i, status;

	v1_content(&bob, &u1, &u2, 1);
	/* Two processes open (and so upgrade) the store at the same time. */
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		ck_assert(pid[i] >= 0);
		if (pid[i] == 0) {
			struct store *cst;

			_exit(store_open(dir, 0, &cst) == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 2; i++) {
		ck_assert(waitpid(pid[i], &status, 0) == pid[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "upgrading process %d failed", i);
	}
	ck_assert_uint_eq(schema_version(), 6);
	st = tu_open(dir);
	ck_assert_msg(tu_check(st) == 0, "check after two upgrades at once: "
	    "%s", tu_check_problems());
	assert_meta_of(inbox, u1, msg1, sizeof(msg1) - 1);
	assert_defaults(user, "alice");
	/* Bob's own Sent was kept as it was, not replaced or doubled. */
	ck_assert_int_eq(tu_mailbox_get(st, bob, "Sent", &mb), 1);
	ck_assert_msg(mb.special_use == 0, "bob's Sent got special-use %#x",
	    mb.special_use);
}
END_TEST

/* Rewrites the store without free pages (a compacting copy). */
static void
compact_store(void)
{
	MDB_env *env;
	char *path, *tmp, *from, *to;

	ck_assert(asprintf(&path, "%s/store", dir) > 0);
	ck_assert(asprintf(&tmp, "%s/compact", dir) > 0);
	ck_assert(asprintf(&from, "%s/data.mdb", tmp) > 0);
	ck_assert(asprintf(&to, "%s/data.mdb", path) > 0);
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	ck_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	ck_assert(mdb_env_open(env, path, MDB_NOTLS, 0600) == 0);
	ck_assert(mdb_env_copy2(env, tmp, MDB_CP_COMPACT) == 0);
	mdb_env_close(env);
	ck_assert_int_eq(rename(from, to), 0);
	ck_assert_int_eq(rmdir(tmp), 0);
	free(path);
	free(tmp);
	free(from);
	free(to);
}

/*
 * The upgrade runs out of map while it adds the default folders: the map
 * grows and the transaction runs again, for the same users (none of the
 * batch may be skipped).
 */
START_TEST(test_upgrade_map_full)
{
	uint32_t ids[60];
	uint64_t before;
	char name[64];
	size_t i;

	for (i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "u%zu@example.test", i);
		ids[i] = tu_make_user(st, name);
	}
	store_close(&st);
	make_v1(0);
	compact_store();
	/* The map is then exactly what the data needs: the first pages the
	 * upgrade adds do not fit. */
	store_set_initial_mapsize(4096);
	st = tu_open(dir);
	store_set_initial_mapsize(STORE_MAPSIZE_DEFAULT);
	before = store_mapsize(st);
	ck_assert_uint_eq(schema_version(), 6);
	assert_defaults(user, "alice");
	for (i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "user %zu of 60 (map %" PRIu64
		    " bytes)", i, before);
		assert_defaults(ids[i], name);
	}
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

/*
 * The records built by upgraders that started together, from their
 * "IMAP records built for N" lines: each body once in all (one upgrades,
 * the other waits and finds it done), not once per process.
 */
START_TEST(test_upgrade_not_doubled)
{
	char body[160], *path[2], line[256];
	uint32_t uid, bob, u1, u2;
	unsigned long n, total = 0;
	pid_t pid[2];
	FILE *fp;
	int i, status;

	ck_assert_int_eq(store_batch_begin(st), 0);
	for (i = 0; i < 480; i++) {
		snprintf(body, sizeof(body), "From: s%d@example.test\r\n"
		    "Subject: message %d\r\nMIME-Version: 1.0\r\n\r\n"
		    "body %d\r\n", i, i, i);
		ck_assert_int_eq(tu_append(st, inbox, body, strlen(body), 0,
		    NULL, &uid), 1);
	}
	ck_assert_int_eq(store_batch_commit(st), 0);
	v1_content(&bob, &u1, &u2, 0);
	for (i = 0; i < 2; i++) {
		ck_assert(asprintf(&path[i], "%s/upgrader%d.log", dir, i) > 0);
		pid[i] = fork();
		ck_assert(pid[i] >= 0);
		if (pid[i] == 0) {
			struct store *cst;

			int rc;

			if (freopen(path[i], "w", stderr) == NULL)
				_exit(2);
			log_init("upgrader", LOG_TO_STDERR, 1);
			rc = store_open(dir, 0, &cst);
			fflush(stderr);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 2; i++) {
		ck_assert(waitpid(pid[i], &status, 0) == pid[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "upgrading process %d failed", i);
		ck_assert((fp = fopen(path[i], "r")) != NULL);
		while (fgets(line, sizeof(line), fp) != NULL) {
			const char *q = strstr(line, "IMAP records built for ");

			if (q != NULL && sscanf(q, "IMAP records built for "
			    "%lu", &n) == 1)
				total += n;
		}
		fclose(fp);
		free(path[i]);
	}
	/* 480 + msg1 + msg2 (bob's msg2 is the same body). */
	ck_assert_msg(total == 482, "two upgraders at once built %lu records "
	    "for 482 bodies", total);
	st = tu_open(dir);
	ck_assert_msg(tu_check(st) == 0, "check: %s", tu_check_problems());
}
END_TEST

START_TEST(test_upgrade_killed_midway)
{
	char body[128];
	uint32_t bob, u1, u2, uid;
	pid_t pid;
	int i, status;

	/* 200 distinct bodies: the upgrade does them 64 per transaction. */
	for (i = 0; i < 200; i++) {
		snprintf(body, sizeof(body), "Subject: m%d\r\n\r\nbody %d\r\n",
		    i, i);
		ck_assert_int_eq(tu_append(st, inbox, body, strlen(body), 0,
		    NULL, &uid), 1);
	}
	v1_content(&bob, &u1, &u2, 0);
	/* kill -9 after the first batch of records is committed. */
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		struct store *cst;

		setenv("VELLUM_TEST_UPGRADE_KILL", "1", 1);
		(void)store_open(dir, 0, &cst);
		_exit(0);
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "the upgrading process was not killed (status %#x)", status);
	ck_assert_msg(schema_version() == 1, "a killed upgrade wrote "
	    "version %u", schema_version());
	/* The next open finishes it. */
	st = tu_open(dir);
	ck_assert_uint_eq(schema_version(), 6);
	ck_assert_msg(tu_check(st) == 0, "check after an interrupted "
	    "upgrade: %s", tu_check_problems());
	assert_defaults(bob, "bob");
	assert_meta_of(inbox, u1, msg1, sizeof(msg1) - 1);
}
END_TEST

static Suite *
imap_suite(void)
{
	Suite *s = suite_create("store_imap");
	TCase *tc = tcase_create("imap");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_default_folders);
	tcase_add_test(tc, test_record_stored_with_body);
	tcase_add_test(tc, test_record_when_body_vanished);
	tcase_add_test(tc, test_expunge_log);
	tcase_add_test(tc, test_delete_drops_log);
	tcase_add_test(tc, test_expunge_log_horizon);
	tcase_add_test(tc, test_changed_since);
	tcase_add_test(tc, test_take_recent);
	tcase_add_test(tc, test_random_paths);
	tcase_add_test(tc, test_upgrade_from_v1);
	tcase_add_test(tc, test_upgrade_twice_at_once);
	tcase_add_test(tc, test_upgrade_killed_midway);
	tcase_add_test(tc, test_upgrade_not_doubled);
	tcase_add_test(tc, test_upgrade_map_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(imap_suite());
}
