/*
 * vacation.c - see vacation.h.
 *
 * Rows of `userdata` (userdata.c): the settings are a text of kind
 * UD_VACATION (a record: version, enabled, start, end, interval,
 * subject, body); each answered sender has a row UD_VAC_SENDER (sender
 * -> when) and a row UD_VAC_BYTIME (when, sender) that orders them by
 * age, so that the oldest is found without a scan when the cap is
 * reached; UD_VAC_COUNT keeps how many there are.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "private.h"
#include "user.h"
#include "vacation.h"

static int	vac_user_exists(struct store_txn *, uint32_t);
static int	vac_count(struct store_txn *, uint32_t, uint32_t *);
static int	vac_forget_oldest(struct store_txn *, uint32_t);

void
store_vacation_clear(struct store_vacation *v)
{
	free(v->body);
	v->body = NULL;
}

static int
vac_user_exists(struct store_txn *t, uint32_t user_id)
{
	struct store_user u;
	int rc;

	if (user_id == 0)
		return err_set(ERR_NOTFOUND, "no user with id 0");
	if ((rc = store_user_get(t, user_id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user with "
		    "id %u", user_id);
	return 1;
}

int
store_vacation_get(struct store_txn *t, uint32_t user_id,
    struct store_vacation *v)
{
	struct unpack u;
	MDB_val val;
	char *rec;
	size_t len;
	uint32_t blen;
	int rc;

	memset(v, 0, sizeof(*v));
	/* The record holds the body and a few dozen bytes more. */
	if ((rc = ud_text_get(t, user_id, UD_VACATION,
	    STORE_VACATION_BODY_MAX + STORE_VACATION_SUBJECT_MAX + 64, &rec,
	    &len)) != 1)
		return rc;
	val.mv_data = rec;
	val.mv_size = len;
	unpack_init(&u, &val);
	v->enabled = unpack_u8(&u) != 0;
	v->start = (int64_t)unpack_u64(&u);
	v->end = (int64_t)unpack_u64(&u);
	v->interval_days = unpack_u32(&u);
	unpack_str(&u, v->subject, sizeof(v->subject));
	blen = unpack_u32(&u);
	if (!u.bad && (blen > STORE_VACATION_BODY_MAX || blen != u.left))
		u.bad = 1;
	if (!u.bad) {
		v->body = xmalloc(blen + 1);
		unpack_bytes(&u, v->body, blen);
		v->body[blen] = '\0';
	}
	free(rec);
	if (unpack_done(&u, "auto-reply") == -1) {
		store_vacation_clear(v);
		return -1;
	}
	return 1;
}

int
store_vacation_set(struct store_txn *t, uint32_t user_id,
    const struct store_vacation *v)
{
	struct store_vacation old;
	const unsigned char *p;
	const char *body = v->body != NULL ? v->body : "";
	struct pack pk;
	size_t blen = strlen(body);
	uint32_t interval = v->interval_days;
	int rc, fresh;

	if (memchr(v->subject, '\0', sizeof(v->subject)) == NULL)
		return err_set(ERR_INVALID, "the subject is longer than %d "
		    "bytes", STORE_VACATION_SUBJECT_MAX);
	for (p = (const unsigned char *)v->subject; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return err_set(ERR_INVALID, "the subject holds a line "
			    "break or control character");
	if (blen > STORE_VACATION_BODY_MAX)
		return err_set(ERR_INVALID, "the body has %zu bytes, more than "
		    "%d", blen, STORE_VACATION_BODY_MAX);
	if (interval == 0)
		interval = STORE_VACATION_INTERVAL_DEFAULT;
	if (interval > STORE_VACATION_INTERVAL_MAX)
		return err_set(ERR_INVALID, "an interval of %u days is more "
		    "than %d", interval, STORE_VACATION_INTERVAL_MAX);
	if (v->start < 0 || v->end < 0)
		return err_set(ERR_INVALID, "a start or end before 1970");
	if (v->start != 0 && v->end != 0 && v->end < v->start)
		return err_set(ERR_INVALID, "the end is before the start");
	if (t->st->no_userdata)
		return err_set(ERR_PERM, "the store predates auto-replies: "
		    "open it writable once to upgrade it");
	if (vac_user_exists(t, user_id) == -1)
		return -1;
	if ((rc = store_vacation_get(t, user_id, &old)) == -1)
		return -1;
	fresh = v->enabled && (rc == 0 || !old.enabled);
	if (rc == 1)
		store_vacation_clear(&old);
	if (fresh && (ud_drop(t, user_id, UD_VAC_SENDER) == -1 ||
	    ud_drop(t, user_id, UD_VAC_BYTIME) == -1 ||
	    ud_drop(t, user_id, UD_VAC_COUNT) == -1))
		return -1;
	pack_init(&pk);
	pack_u8(&pk, v->enabled ? 1 : 0);
	pack_u64(&pk, (uint64_t)v->start);
	pack_u64(&pk, (uint64_t)v->end);
	pack_u32(&pk, interval);
	pack_str(&pk, v->subject);
	pack_u32(&pk, (uint32_t)blen);
	pack_bytes(&pk, body, blen);
	rc = ud_text_put(t, user_id, UD_VACATION, pk.buf, pk.len);
	pack_free(&pk);
	return rc == -1 ? -1 : 1;
}

int
store_vacation_delete(struct store_txn *t, uint32_t user_id)
{
	uint8_t key[UD_KEY_MAX], pb[4] = { 0, 0, 0, 0 };
	MDB_val v;
	int rc;

	if (t->st->no_userdata)
		return 0;
	if ((rc = sdb_get(t, DB_USERDATA, key, ud_key(key, user_id,
	    UD_VACATION, pb, 4), &v)) != 1)
		return rc;
	if (ud_drop(t, user_id, UD_VACATION) == -1 ||
	    ud_drop(t, user_id, UD_VAC_SENDER) == -1 ||
	    ud_drop(t, user_id, UD_VAC_BYTIME) == -1 ||
	    ud_drop(t, user_id, UD_VAC_COUNT) == -1)
		return -1;
	return 1;
}

/* The number of senders recorded for user_id. */
static int
vac_count(struct store_txn *t, uint32_t user_id, uint32_t *n_r)
{
	uint8_t key[UD_KEY_MAX];
	MDB_val v;
	int rc;

	*n_r = 0;
	rc = sdb_get(t, DB_USERDATA, key, ud_key(key, user_id, UD_VAC_COUNT,
	    NULL, 0), &v);
	if (rc == 1 && v.mv_size != 4)
		return err_set(ERR_CORRUPT, "user %u: damaged auto-reply "
		    "sender count", user_id);
	if (rc == 1)
		*n_r = be32dec(v.mv_data);
	return rc == -1 ? -1 : 0;
}

/* Forgets the sender answered longest ago. */
static int
vac_forget_oldest(struct store_txn *t, uint32_t user_id)
{
	uint8_t prefix[5], key[UD_KEY_MAX];
	MDB_cursor *c;
	MDB_val k, v;
	size_t klen = 0;
	int rc;

	ud_key(prefix, user_id, UD_VAC_BYTIME, NULL, 0);
	if (sdb_cursor(t, DB_USERDATA, &c) == -1)
		return -1;
	k.mv_size = 5;
	k.mv_data = prefix;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size > 13 && k.mv_size <= UD_KEY_MAX &&
	    memcmp(k.mv_data, prefix, 5) == 0) {
		klen = k.mv_size;
		memcpy(key, k.mv_data, klen);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "userdata");
	if (klen == 0)
		return err_set(ERR_CORRUPT, "user %u: the auto-reply sender "
		    "count is above the senders recorded", user_id);
	if (sdb_del(t, DB_USERDATA, key, klen) == -1)
		return -1;
	/* The sender row: the same sender after kind and time. */
	key[4] = UD_VAC_SENDER;
	memmove(key + 5, key + 13, klen - 13);
	return sdb_del(t, DB_USERDATA, key, klen - 8) == -1 ? -1 : 0;
}

int
store_vacation_note(struct store_txn *t, uint32_t user_id,
    const char *sender, int64_t now, uint32_t interval_days)
{
	char addr[STORE_ADDRESS_MAX + 1];
	uint8_t key[UD_KEY_MAX], tkey[UD_KEY_MAX], when[8], nb[4];
	size_t alen, klen;
	uint32_t n;
	int64_t last;
	MDB_val v;
	int rc;

	if (store_address_normalize(sender, addr, 0) == -1)
		return -1;
	if (t->st->no_userdata)
		return err_set(ERR_PERM, "the store predates auto-replies: "
		    "open it writable once to upgrade it");
	if (vac_user_exists(t, user_id) == -1)
		return -1;
	if (interval_days == 0)
		interval_days = STORE_VACATION_INTERVAL_DEFAULT;
	alen = strlen(addr);
	klen = ud_key(key, user_id, UD_VAC_SENDER, addr, alen);
	if ((rc = sdb_get(t, DB_USERDATA, key, klen, &v)) == -1)
		return -1;
	if (rc == 1) {
		if (v.mv_size != 8)
			return err_set(ERR_CORRUPT, "user %u: damaged "
			    "auto-reply sender row", user_id);
		last = (int64_t)be64dec(v.mv_data);
		if (now - last < (int64_t)interval_days * 86400)
			return 0;
		/* Its place in the time order moves. */
		memcpy(tkey, key, 5);
		tkey[4] = UD_VAC_BYTIME;
		be64enc(tkey + 5, (uint64_t)last);
		memcpy(tkey + 13, addr, alen);
		if (sdb_del(t, DB_USERDATA, tkey, 13 + alen) == -1)
			return -1;
	}
	be64enc(when, (uint64_t)now);
	if (sdb_put(t, DB_USERDATA, key, klen, when, 8, 0) == -1)
		return -1;
	memcpy(tkey, key, 5);
	tkey[4] = UD_VAC_BYTIME;
	memcpy(tkey + 5, when, 8);
	memcpy(tkey + 13, addr, alen);
	if (sdb_put(t, DB_USERDATA, tkey, 13 + alen, "", 0, 0) == -1)
		return -1;
	if (rc == 1)
		return 1;
	if (vac_count(t, user_id, &n) == -1)
		return -1;
	for (n++; n > STORE_VACATION_SENDERS_MAX; n--)
		if (vac_forget_oldest(t, user_id) == -1)
			return -1;
	be32enc(nb, n);
	if (sdb_put(t, DB_USERDATA, key, ud_key(key, user_id, UD_VAC_COUNT,
	    NULL, 0), nb, 4, 0) == -1)
		return -1;
	return 1;
}
