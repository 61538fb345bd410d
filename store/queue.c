/*
 * queue.c - `queue`: id -> envelope, DSN requests, recipients with their
 * last replies, body id, attempts, next try.
 *
 * Records carry their own version byte.  Version 1 (before outbound
 * delivery existed) held the sender, the recipient addresses, the body,
 * size, queued time, attempts and next try; stores made then still have
 * such entries, so they are decoded as they are and rewritten as version
 * 2 the first time they change.  A meta counter (QUEUE_GEN_KEY) moves
 * with every change, so the delivery agent can tell cheaply whether it
 * must scan the table again.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "message.h"
#include "private.h"
#include "queue.h"

#define QUEUE_REC_V1		1
#define QUEUE_REC_V2		2
#define QUEUE_GEN_KEY		"queue_generation"
/*
 * The low 32 bits of a queue id: the process id above a counter of
 * QUEUE_ID_COUNTER_BITS bits, so one process makes 4096 distinct ids a
 * second before it could meet its own (store_queue_add() then takes the
 * next free one).
 */
#define QUEUE_ID_COUNTER_BITS	12
/* The fewest bytes a recipient takes in a record, by version. */
#define QUEUE_RCPT_MIN_V1	4
#define QUEUE_RCPT_MIN_V2	17

static int	queue_decode(const MDB_val *, const MDB_val *,
		    struct store_queue_entry *);
static int	queue_check(const struct store_queue_entry *, int adding);
static void	queue_encode(struct pack *, const struct store_queue_entry *);
static int	queue_write(struct store_txn *, const struct store_queue_entry *,
		    unsigned flags);
static int	queue_free_id(struct store_txn *, uint64_t *id);
static int	queue_bump(struct store_txn *);

static atomic_uint queue_id_counter;

uint64_t
store_queue_id_new(void)
{
	uint32_t lo, n;
	uint64_t id;

	n = atomic_fetch_add(&queue_id_counter, 1);
	lo = (uint32_t)getpid() << QUEUE_ID_COUNTER_BITS |
	    (n & ((1u << QUEUE_ID_COUNTER_BITS) - 1));
	id = (uint64_t)(uint32_t)store_now() << 32 | lo;
	return id == 0 ? 1 : id;
}

char *
store_queue_id_format(uint64_t id, char *buf)
{
	snprintf(buf, STORE_QUEUE_ID_LEN + 1, "%016" PRIX64, id);
	return buf;
}

int
store_queue_id_parse(const char *s, uint64_t *id_r)
{
	uint64_t id = 0;
	size_t i;
	int d;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			break;
		if (i == STORE_QUEUE_ID_LEN)
			break;
		id = id << 4 | (uint64_t)d;
	}
	if (i == 0 || s[i] != '\0' || id == 0)
		return err_set(ERR_INVALID, "'%s' is not a queue id (1 to %d "
		    "hexadecimal digits, not all 0)", s, STORE_QUEUE_ID_LEN);
	*id_r = id;
	return 0;
}

void
store_queue_entry_clear(struct store_queue_entry *e)
{
	free(e->rcpts);
	e->rcpts = NULL;
	e->nrcpts = 0;
}

static int
queue_decode(const MDB_val *k, const MDB_val *v, struct store_queue_entry *e)
{
	struct store_queue_rcpt *r;
	struct unpack u;
	uint8_t version;
	size_t i;

	memset(e, 0, sizeof(*e));
	if (k->mv_size != 8)
		return err_set(ERR_CORRUPT, "queue key damaged");
	e->id = be64dec(k->mv_data);
	version = unpack_init_version(&u, v);
	if (version == QUEUE_REC_V1) {
		unpack_str(&u, e->sender, sizeof(e->sender));
		e->nrcpts = unpack_u32(&u);
		if (u.bad || e->nrcpts == 0 ||
		    e->nrcpts > STORE_QUEUE_RCPTS_MAX ||
		    e->nrcpts > u.left / QUEUE_RCPT_MIN_V1)
			goto bad;
		e->rcpts = xcalloc(e->nrcpts, sizeof(*e->rcpts));
		for (i = 0; i < e->nrcpts; i++)
			unpack_str(&u, e->rcpts[i].addr,
			    sizeof(e->rcpts[i].addr));
		e->body = unpack_u64(&u);
		e->size = unpack_u64(&u);
		e->queued = (int64_t)unpack_u64(&u);
		e->attempts = unpack_u32(&u);
		e->next_try = (int64_t)unpack_u64(&u);
	} else if (version == QUEUE_REC_V2) {
		unpack_str(&u, e->sender, sizeof(e->sender));
		unpack_str(&u, e->envid, sizeof(e->envid));
		e->ret = unpack_u8(&u);
		e->flags = unpack_u32(&u);
		e->body = unpack_u64(&u);
		e->size = unpack_u64(&u);
		e->queued = (int64_t)unpack_u64(&u);
		e->attempts = unpack_u32(&u);
		e->next_try = (int64_t)unpack_u64(&u);
		e->nrcpts = unpack_u32(&u);
		if (u.bad || e->nrcpts == 0 ||
		    e->nrcpts > STORE_QUEUE_RCPTS_MAX ||
		    e->nrcpts > u.left / QUEUE_RCPT_MIN_V2 ||
		    e->ret > STORE_RET_HDRS)
			goto bad;
		e->rcpts = xcalloc(e->nrcpts, sizeof(*e->rcpts));
		for (i = 0; i < e->nrcpts; i++) {
			r = &e->rcpts[i];
			unpack_str(&u, r->addr, sizeof(r->addr));
			unpack_str(&u, r->orcpt, sizeof(r->orcpt));
			r->notify = unpack_u8(&u);
			r->last_code = (uint16_t)unpack_u32(&u);
			unpack_str(&u, r->last_reply, sizeof(r->last_reply));
		}
	} else
		goto bad;
	if (unpack_done(&u, "queue") == -1) {
		store_queue_entry_clear(e);
		return -1;
	}
	return 1;
bad:
	e->nrcpts = 0;
	return unpack_done(&u, "queue") == -1 ? -1 : err_set(ERR_CORRUPT,
	    "damaged queue record in the store (run vellumctl store check)");
}

/* Checks what add or put would write: limits, lengths, enum values. */
static int
queue_check(const struct store_queue_entry *e, int adding)
{
	const struct store_queue_rcpt *r;
	size_t i;

	if ((adding && e->nrcpts == 0) || e->nrcpts > STORE_QUEUE_RCPTS_MAX)
		return err_set(ERR_LIMIT, "a queue entry has 1 to %d "
		    "recipients", STORE_QUEUE_RCPTS_MAX);
	if (e->nrcpts > 0 && e->rcpts == NULL)
		fatalx("store_queue: %zu recipients and no array", e->nrcpts);
	if (strnlen(e->sender, sizeof(e->sender)) > STORE_ADDRESS_MAX)
		return err_set(ERR_INVALID, "sender address too long (at most "
		    "%d bytes)", STORE_ADDRESS_MAX);
	if (strnlen(e->envid, sizeof(e->envid)) > STORE_QUEUE_ENVID_MAX)
		return err_set(ERR_INVALID, "ENVID too long (at most %d "
		    "bytes)", STORE_QUEUE_ENVID_MAX);
	if (e->ret > STORE_RET_HDRS)
		return err_set(ERR_INVALID, "unknown RET value %d",
		    (int)e->ret);
	for (i = 0; i < e->nrcpts; i++) {
		r = &e->rcpts[i];
		if (r->addr[0] == '\0')
			return err_set(ERR_INVALID, "empty recipient address "
			    "in a queue entry");
		if (strnlen(r->addr, sizeof(r->addr)) > STORE_ADDRESS_MAX)
			return err_set(ERR_INVALID, "recipient address too "
			    "long (at most %d bytes)", STORE_ADDRESS_MAX);
		if (strnlen(r->orcpt, sizeof(r->orcpt)) >
		    STORE_QUEUE_ORCPT_MAX)
			return err_set(ERR_INVALID, "ORCPT of <%s> too long "
			    "(at most %d bytes)", r->addr,
			    STORE_QUEUE_ORCPT_MAX);
		if (strnlen(r->last_reply, sizeof(r->last_reply)) >
		    STORE_QUEUE_REPLY_MAX)
			return err_set(ERR_INVALID, "last reply of <%s> too "
			    "long (at most %d bytes)", r->addr,
			    STORE_QUEUE_REPLY_MAX);
	}
	return 0;
}

static void
queue_encode(struct pack *p, const struct store_queue_entry *e)
{
	const struct store_queue_rcpt *r;
	size_t i;

	pack_init_version(p, QUEUE_REC_V2);
	pack_str(p, e->sender);
	pack_str(p, e->envid);
	pack_u8(p, (uint8_t)e->ret);
	pack_u32(p, e->flags);
	pack_u64(p, e->body);
	pack_u64(p, e->size);
	pack_u64(p, (uint64_t)e->queued);
	pack_u32(p, e->attempts);
	pack_u64(p, (uint64_t)e->next_try);
	pack_u32(p, (uint32_t)e->nrcpts);
	for (i = 0; i < e->nrcpts; i++) {
		r = &e->rcpts[i];
		pack_str(p, r->addr);
		pack_str(p, r->orcpt);
		pack_u8(p, r->notify);
		pack_u32(p, r->last_code);
		pack_str(p, r->last_reply);
	}
}

/* Stores e under e->id and moves the generation.  0 when the id exists
 * and flags has MDB_NOOVERWRITE. */
static int
queue_write(struct store_txn *t, const struct store_queue_entry *e,
    unsigned flags)
{
	struct pack p;
	uint8_t key[8];
	int rc;

	be64enc(key, e->id);
	queue_encode(&p, e);
	rc = sdb_put(t, DB_QUEUE, key, 8, p.buf, p.len, flags);
	pack_free(&p);
	if (rc == 1 && queue_bump(t) == -1)
		return -1;
	return rc;
}

/* *id, or the first free id after it. */
static int
queue_free_id(struct store_txn *t, uint64_t *id)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[8];
	int rc;

	if (sdb_cursor(t, DB_QUEUE, &c) == -1)
		return -1;
	be64enc(key, *id);
	k.mv_size = 8;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 8 && be64dec(k.mv_data) == *id) {
		if (++*id != 0) {
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		/* past the largest id: go on from the smallest */
		*id = 1;
		be64enc(key, *id);
		k.mv_size = 8;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "queue");
	return 0;
}

static int
queue_bump(struct store_txn *t)
{
	uint64_t gen;

	return sdb_counter_add(t, QUEUE_GEN_KEY, 1, &gen);
}

int
store_queue_add(struct store_txn *t, const struct store_queue_entry *e,
    struct store_prepared *prep, uint64_t *id_r)
{
	struct store_queue_entry n;
	int rc;

	if (queue_check(e, 1) == -1)
		return -1;
	n = *e;
	n.id = e->id != 0 ? e->id : store_queue_id_new();
	n.size = store_prepared_size(prep);
	n.queued = n.next_try = (int64_t)store_now();
	n.attempts = 0;
	if (body_insert(t, prep, &n.body) == -1 ||
	    queue_free_id(t, &n.id) == -1)
		return -1;
	if ((rc = queue_write(t, &n, MDB_NOOVERWRITE)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "queue id %016"
		    PRIX64 " already used", n.id);
	if (id_r != NULL)
		*id_r = n.id;
	return 1;
}

int
store_queue_get(struct store_txn *t, uint64_t id,
    struct store_queue_entry *e_r)
{
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	int rc;

	memset(e_r, 0, sizeof(*e_r));
	be64enc(key, id);
	if ((rc = sdb_get(t, DB_QUEUE, key, 8, &v)) != 1)
		return rc;
	return queue_decode(&k, &v, e_r);
}

int
store_queue_put(struct store_txn *t, const struct store_queue_entry *e)
{
	struct store_queue_entry old, n;
	int rc;

	if (queue_check(e, 0) == -1)
		return -1;
	if (e->nrcpts == 0)
		return store_queue_del(t, e->id);
	if ((rc = store_queue_get(t, e->id, &old)) != 1)
		return rc;
	n = old;
	n.flags = e->flags;
	n.nrcpts = e->nrcpts;
	n.rcpts = e->rcpts;
	n.attempts = e->attempts;
	n.next_try = e->next_try;
	rc = queue_write(t, &n, 0);
	store_queue_entry_clear(&old);
	return rc == -1 ? -1 : 1;
}

int
store_queue_del(struct store_txn *t, uint64_t id)
{
	struct store_queue_entry e;
	uint8_t key[8];
	int rc;

	if ((rc = store_queue_get(t, id, &e)) != 1)
		return rc;
	store_queue_entry_clear(&e);
	be64enc(key, id);
	if (sdb_del(t, DB_QUEUE, key, 8) == -1 ||
	    body_unref(t, e.body) == -1 || queue_bump(t) == -1)
		return -1;
	return 1;
}

int
store_queue_list(struct store_txn *t, store_queue_fn *fn, void *ctx)
{
	struct store_queue_entry e;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (sdb_cursor(t, DB_QUEUE, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (queue_decode(&k, &v, &e) == -1) {
			r = -1;
			break;
		}
		rc = fn(&e, ctx);
		store_queue_entry_clear(&e);
		if (rc == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	return r;
}

int
store_queue_generation(struct store_txn *t, uint64_t *gen_r)
{
	MDB_val v;
	int rc;

	*gen_r = 0;
	if ((rc = sdb_get(t, DB_META, QUEUE_GEN_KEY,
	    strlen(QUEUE_GEN_KEY), &v)) == -1)
		return -1;
	if (rc == 1 && v.mv_size == 8)
		*gen_r = be64dec(v.mv_data);
	return 0;
}
