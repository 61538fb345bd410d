/*
 * learn.c - see learn.h.
 *
 * `learn`: sequence (big-endian 64) -> record (version, user id, mailbox
 * id, uid, spam, when).  A new entry takes the id after the last key
 * (sdb_next_id()), so entries are appended in order; the meta counter
 * "learn_dropped" counts what a full queue refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "learn.h"
#include "private.h"
#include "user.h"

static int	learn_decode(const MDB_val *, const MDB_val *,
		    struct store_learn *);

void
store_learn_enable(struct store *st, int on)
{
	st->learn_on = on != 0;
}

static int
learn_decode(const MDB_val *k, const MDB_val *v, struct store_learn *r)
{
	struct unpack u;

	memset(r, 0, sizeof(*r));
	if (k->mv_size != 8)
		return err_set(ERR_CORRUPT, "a training entry with a bad key");
	r->seq = be64dec(k->mv_data);
	unpack_init(&u, v);
	r->user_id = unpack_u32(&u);
	r->mailbox_id = unpack_u32(&u);
	r->uid = unpack_u32(&u);
	r->spam = unpack_u8(&u);
	r->when = (int64_t)unpack_u64(&u);
	if (!u.bad && r->spam > 1)
		u.bad = 1;
	return unpack_done(&u, "training queue");
}

int
store_learn_add(struct store_txn *t, uint32_t user_id, uint32_t mailbox_id,
    uint32_t uid, int spam)
{
	uint8_t key[8];
	struct pack p;
	MDB_stat ms;
	uint64_t seq, first;
	int rc;

	if (t->st->no_userdata)
		return err_set(ERR_PERM, "the store predates the training "
		    "queue: open it writable once to upgrade it");
	if ((rc = mdb_stat(t->txn, t->st->dbi[DB_LEARN], &ms)) != 0)
		return sdb_error(t, rc, "learn");
	if (ms.ms_entries >= STORE_LEARN_MAX) {
		if (sdb_counter_add(t, "learn_dropped", 1, &first) == -1)
			return -1;
		/* Once per thousand, not once per message. */
		if (first % 1000 == 1)
			log_warnx("the Spam training queue is full (%d "
			    "entries): %llu dropped so far", STORE_LEARN_MAX,
			    (unsigned long long)first);
		return 0;
	}
	if (sdb_next_id(t, DB_LEARN, &seq) == -1)
		return -1;
	be64enc(key, seq);
	pack_init(&p);
	pack_u32(&p, user_id);
	pack_u32(&p, mailbox_id);
	pack_u32(&p, uid);
	pack_u8(&p, spam ? 1 : 0);
	pack_u64(&p, (uint64_t)store_now());
	rc = sdb_put(t, DB_LEARN, key, 8, p.buf, p.len, MDB_APPEND);
	pack_free(&p);
	return rc == -1 ? -1 : 1;
}

int
store_learn_first(struct store_txn *t, struct store_learn *r)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (t->st->no_userdata)
		return 0;
	if (sdb_cursor(t, DB_LEARN, &c) == -1)
		return -1;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0)
		rc = learn_decode(&k, &v, r) == -1 ? -1 : 1;
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = sdb_error(t, rc, "learn");
	mdb_cursor_close(c);
	return rc;
}

int
store_learn_delete(struct store_txn *t, uint64_t seq)
{
	uint8_t key[8];

	if (t->st->no_userdata)
		return 0;
	be64enc(key, seq);
	return sdb_del(t, DB_LEARN, key, 8);
}

int
store_learn_stats(struct store_txn *t, uint64_t *queued_r,
    uint64_t *dropped_r)
{
	MDB_stat ms;
	MDB_val v;
	int rc;

	*queued_r = *dropped_r = 0;
	if (t->st->no_userdata)
		return 0;
	if ((rc = mdb_stat(t->txn, t->st->dbi[DB_LEARN], &ms)) != 0)
		return sdb_error(t, rc, "learn");
	*queued_r = ms.ms_entries;
	if ((rc = sdb_get(t, DB_META, "learn_dropped", 13, &v)) == -1)
		return -1;
	if (rc == 1 && v.mv_size == 8)
		*dropped_r = be64dec(v.mv_data);
	return 0;
}

int
learn_drop_user(struct store_txn *t, uint32_t user_id)
{
	struct store_learn e;
	uint64_t *seqs = NULL;
	size_t n = 0, i;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (t->st->no_userdata)
		return 0;
	/* Collect first, delete after: no writes under the cursor. */
	if (sdb_cursor(t, DB_LEARN, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		/* A damaged entry is the check's to report: skip it. */
		if (learn_decode(&k, &v, &e) == -1 || e.user_id != user_id)
			continue;
		if ((n & (n - 1)) == 0)
			seqs = xreallocarray(seqs, n == 0 ? 1 : n * 2,
			    sizeof(*seqs));
		seqs[n++] = e.seq;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		ret = sdb_error(t, rc, "learn");
	for (i = 0; ret == 0 && i < n; i++)
		if (store_learn_delete(t, seqs[i]) == -1)
			ret = -1;
	free(seqs);
	return ret;
}

int
learn_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	struct store_learn e;
	struct store_user u;
	char buf[256];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (t->st->no_userdata)
		return 0;
	if (sdb_cursor(t, DB_LEARN, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (learn_decode(&k, &v, &e) == -1) {
			report(ctx, "a training queue entry does not decode");
			continue;
		}
		if (store_user_get(t, e.user_id, &u) != 1) {
			snprintf(buf, sizeof(buf), "training queue entry %llu "
			    "of missing user %u", (unsigned long long)e.seq,
			    e.user_id);
			report(ctx, buf);
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "learn");
	return 0;
}
