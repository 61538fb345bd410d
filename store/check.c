/*
 * check.c - store check, stats and backup.
 *
 * The check reads everything in one snapshot and recomputes every counter
 * and refcount from the rows below it: message rows give mailbox counters,
 * user usage and body refcounts; bodies give blob refcounts; blobs are
 * decompressed and their SHA-256 compared with their key.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "check.h"
#include "common/error.h"
#include "common/xmalloc.h"
#include "mail/imapmsg.h"
#include "mailbox.h"
#include "maildir.h"
#include "message.h"
#include "private.h"
#include "queue.h"
#include "user.h"

struct usage {
	uint32_t	user_id;
	uint64_t	bytes, messages;
};

struct check {
	store_problem_fn	*fn;
	void			*ctx;
	int			 problems;
	uint64_t		*bodyrefs;	/* body id of every row */
	size_t			 nbodyrefs;
	uint8_t			*blobrefs;	/* one per body segment */
	size_t			 nblobrefs;
	struct usage		*usage;
	size_t			 nusage;
	uint64_t		 frags;
	uint64_t		 metapieces;	/* imapmeta values bodies use */
};

static void	problem(struct check *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
problem(struct check *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->fn != NULL)
		c->fn(buf, c->ctx);
}

static void
hex(const uint8_t *h, char *out)
{
	int i;

	for (i = 0; i < 8; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static void
keys_add(uint8_t **v, size_t *n, const uint8_t *key)
{
	if ((*n & (*n - 1)) == 0 || *n == 0)
		*v = xreallocarray(*v, *n == 0 ? 1 : *n * 2, 32);
	memcpy(*v + *n * 32, key, 32);
	(*n)++;
}

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
usage_cmp(const void *a, const void *b)
{
	const struct usage *x = a, *y = b;

	return x->user_id < y->user_id ? -1 : x->user_id > y->user_id;
}

/* How many times key occurs from position *pos of a sorted array. */
static size_t
keys_count(const uint8_t *v, size_t n, size_t *pos, const uint8_t *key)
{
	size_t count = 0;

	while (*pos < n && memcmp(v + *pos * 32, key, 32) < 0)
		(*pos)++;
	while (*pos < n && memcmp(v + *pos * 32, key, 32) == 0) {
		(*pos)++;
		count++;
	}
	return count;
}

static void
check_body_ref(struct check *c, uint64_t body)
{
	if ((c->nbodyrefs & (c->nbodyrefs - 1)) == 0)
		c->bodyrefs = xreallocarray(c->bodyrefs, c->nbodyrefs == 0 ?
		    1 : c->nbodyrefs * 2, sizeof(uint64_t));
	c->bodyrefs[c->nbodyrefs++] = body;
}

struct mb_sum {
	struct check		*c;
	struct store_mailbox	*mb;
	uint64_t		 bytes;
	uint32_t		 messages, unseen;
	/* the keyword list (NULL: not checked), full, names reported */
	char			*kwlist;
	int			 kwfull;
	char			*kwmissing;
	size_t			 nmissing;
};

/*
 * Every keyword of a row (but $Forwarded, which is P) is on the mailbox's
 * keyword list, unless the list is full: each missing name is reported
 * once per mailbox.
 */
static void
check_msg_keywords(struct mb_sum *s, const struct store_msg *m)
{
	const char *p = m->keywords;
	size_t n;

	for (; *p != '\0'; p += n + (p[n] == ' ')) {
		n = strcspn(p, " ");
		if (n == 0 || (n == 10 && strncasecmp(p, "$Forwarded", 10) ==
		    0) || maildir_kw_index(s->kwlist, strlen(s->kwlist), p,
		    n) >= 0 || (s->kwmissing != NULL &&
		    maildir_kw_index(s->kwmissing, s->nmissing, p, n) >= 0))
			continue;
		problem(s->c, "mailbox %u (%s): keyword '%.*s' of uid %u is "
		    "not on the mailbox's keyword list, which has room",
		    s->mb->id, s->mb->name, (int)n, p, m->uid);
		s->kwmissing = xreallocarray(s->kwmissing, s->nmissing + n + 2,
		    1);
		if (s->nmissing > 0)
			s->kwmissing[s->nmissing++] = ' ';
		memcpy(s->kwmissing + s->nmissing, p, n);
		s->nmissing += n;
	}
}

/*
 * The list itself: at most STORE_MAILDIR_KW_MAX names, each a keyword
 * atom, none twice, no $Forwarded.  *full_r: it has the most names.
 */
static void
check_kwlist(struct check *c, const struct store_mailbox *mb,
    const char *list, int *full_r)
{
	const char *p = list;
	size_t n, count = 0, i;

	*full_r = 0;
	if (*p == ' ' || (*p != '\0' && p[strlen(p) - 1] == ' ') ||
	    strstr(p, "  ") != NULL) {
		problem(c, "mailbox %u (%s): keyword list has an empty name",
		    mb->id, mb->name);
		return;
	}
	for (; *p != '\0'; p += n + (p[n] == ' ')) {
		n = strcspn(p, " ");
		for (i = 0; i < n; i++)
			if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f ||
			    strchr("(){%*\"\\]", p[i]) != NULL)
				break;
		if (i < n || (n == 10 && strncasecmp(p, "$Forwarded", 10) ==
		    0) || maildir_kw_index(list, (size_t)(p - list), p,
		    n) >= 0)
			problem(c, "mailbox %u (%s): keyword list names '%.*s'"
			    ", which cannot be on it (invalid, $Forwarded or "
			    "twice)", mb->id, mb->name, (int)n, p);
		count++;
	}
	if (count > STORE_MAILDIR_KW_MAX)
		problem(c, "mailbox %u (%s): keyword list has %zu names, more "
		    "than %d", mb->id, mb->name, count, STORE_MAILDIR_KW_MAX);
	*full_r = count >= STORE_MAILDIR_KW_MAX;
}

/* Keyword lists of mailboxes that no longer exist. */
static int
check_orphan_kwlists(struct store_txn *t, struct check *c)
{
	struct store_mailbox mb;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (t->st->no_maildirkw)
		return 0;
	if (sdb_cursor(t, DB_MAILDIRKW, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4) {
			problem(c, "keyword list with a bad key");
			continue;
		}
		if (store_mailbox_get_by_id(t, be32dec(k.mv_data), &mb) != 1)
			problem(c, "keyword list of missing mailbox %u",
			    be32dec(k.mv_data));
	}
	mdb_cursor_close(cur);
	return 0;
}

static int
check_msg(const struct store_msg *m, void *ctx)
{
	struct mb_sum *s = ctx;

	s->messages++;
	s->bytes += m->size;
	if (!(m->flags & STORE_F_SEEN))
		s->unseen++;
	if (m->uid >= s->mb->uidnext)
		problem(s->c, "mailbox %u (%s): uid %u is not below uidnext "
		    "%u", s->mb->id, s->mb->name, m->uid, s->mb->uidnext);
	if (m->modseq > s->mb->highestmodseq)
		problem(s->c, "mailbox %u (%s): uid %u has modseq %" PRIu64
		    " above the mailbox's %" PRIu64, s->mb->id, s->mb->name,
		    m->uid, m->modseq, s->mb->highestmodseq);
	if (s->kwlist != NULL && !s->kwfull && m->keywords[0] != '\0')
		check_msg_keywords(s, m);
	check_body_ref(s->c, m->body);
	return 0;
}

/*
 * The IMAP state of a mailbox: \Recent within the UIDs given, the
 * expunge log in strictly increasing modseq order between expunge_floor
 * and highestmodseq, with UIDs below uidnext.
 */
static void
check_mailbox_imap(struct store_txn *t, struct check *c,
    const struct store_mailbox *mb)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t key[4];
	uint64_t last, modseq;
	uint32_t uid;
	int rc;

	if (mb->recent_uid > mb->uidnext || mb->recent_uid == 0)
		problem(c, "mailbox %u (%s): recent_uid %u outside 1..uidnext "
		    "%u", mb->id, mb->name, mb->recent_uid, mb->uidnext);
	if (mb->expunge_floor > mb->highestmodseq)
		problem(c, "mailbox %u (%s): expunge floor %" PRIu64 " above "
		    "its modseq %" PRIu64, mb->id, mb->name, mb->expunge_floor,
		    mb->highestmodseq);
	if (t->st->no_imap || sdb_cursor(t, DB_EXPUNGES, &cur) == -1)
		return;
	be32enc(key, mb->id);
	k.mv_size = 4;
	k.mv_data = key;
	last = mb->expunge_floor;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != 20) {
			problem(c, "mailbox %u (%s): damaged expunge log entry",
			    mb->id, mb->name);
			continue;
		}
		modseq = be64dec(v.mv_data);
		uid = be32dec((uint8_t *)v.mv_data + 8);
		if (modseq <= last || modseq > mb->highestmodseq)
			problem(c, "mailbox %u (%s): expunge of uid %u logged "
			    "with modseq %" PRIu64 " out of order (after %"
			    PRIu64 ", mailbox at %" PRIu64 ")", mb->id,
			    mb->name, uid, modseq, last, mb->highestmodseq);
		if (uid >= mb->uidnext || uid == 0)
			problem(c, "mailbox %u (%s): expunge log names uid %u, "
			    "uidnext is %u", mb->id, mb->name, uid,
			    mb->uidnext);
		last = modseq;
	}
	mdb_cursor_close(cur);
}

/* Expunge logs of mailboxes that no longer exist. */
static int
check_orphan_expunges(struct store_txn *t, struct check *c)
{
	struct store_mailbox mb;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (t->st->no_imap)
		return 0;
	if (sdb_cursor(t, DB_EXPUNGES, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP)) {
		if (k.mv_size != 4) {
			problem(c, "expunge log with a bad key");
			continue;
		}
		if (store_mailbox_get_by_id(t, be32dec(k.mv_data), &mb) != 1)
			problem(c, "expunge log of missing mailbox %u",
			    be32dec(k.mv_data));
	}
	mdb_cursor_close(cur);
	return 0;
}

/* Every body of a schema 2 store has a readable IMAP record. */
static void
check_body_meta(struct store_txn *t, struct check *c, uint64_t id,
    const struct body_rec *b)
{
	struct imap_meta im;
	void *meta;
	size_t len;

	if (!b->has_meta) {
		if (t->st->schema >= 2)
			problem(c, "body %" PRIu64 " has no IMAP record", id);
		return;
	}
	c->metapieces += (b->meta_stored + BLOB_FRAG_MAX - 1) / BLOB_FRAG_MAX;
	if (meta_read(t, id, b, &meta, &len) == -1) {
		problem(c, "body %" PRIu64 ": IMAP record: %s", id, err_msg());
		return;
	}
	if (imap_meta_parse(meta, len, &im) == -1)
		problem(c, "body %" PRIu64 ": IMAP record does not parse: %s",
		    id, err_msg());
	free(meta);
}

static int
check_mailboxes(struct store_txn *t, struct check *c)
{
	struct store_mailbox mb, byname;
	struct store_user u;
	struct mb_sum s;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, r;

	if (sdb_cursor(t, DB_MBOX, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4 ||
		    store_mailbox_get_by_id(t, be32dec(k.mv_data), &mb) != 1) {
			problem(c, "damaged mailbox record: %s", err_msg());
			continue;
		}
		if (store_user_get(t, mb.user_id, &u) != 1)
			problem(c, "mailbox %u (%s) belongs to missing user %u",
			    mb.id, mb.name, mb.user_id);
		if (store_mailbox_get(t, mb.user_id, mb.name, &byname) != 1 ||
		    byname.id != mb.id)
			problem(c, "mailbox %u (%s) is missing from the name "
			    "index", mb.id, mb.name);
		memset(&s, 0, sizeof(s));
		s.c = c;
		s.mb = &mb;
		/* Lists are complete from schema 3 (a read-only open of an
		   older store has none). */
		if (t->st->schema >= 3 && !t->st->no_maildirkw) {
			if (store_maildir_keywords(t, mb.id, &s.kwlist) == -1) {
				problem(c, "mailbox %u (%s): keyword list: %s",
				    mb.id, mb.name, err_msg());
				s.kwlist = NULL;
			} else if (s.kwlist != NULL)
				check_kwlist(c, &mb, s.kwlist, &s.kwfull);
		}
		r = store_msg_list(t, mb.id, 0, check_msg, &s);
		free(s.kwlist);
		free(s.kwmissing);
		if (r == -1) {
			problem(c, "mailbox %u (%s): %s", mb.id, mb.name,
			    err_msg());
			continue;
		}
		if (s.messages != mb.messages || s.bytes != mb.bytes ||
		    s.unseen != mb.unseen)
			problem(c, "mailbox %u (%s): counters say %u messages, "
			    "%" PRIu64 " bytes, %u unseen; rows say %u, %"
			    PRIu64 ", %u", mb.id, mb.name, mb.messages,
			    mb.bytes, mb.unseen, s.messages, s.bytes,
			    s.unseen);
		check_mailbox_imap(t, c, &mb);
		/* Doubling: one realloc per mailbox was ~600,000 of them. */
		if ((c->nusage & (c->nusage - 1)) == 0)
			c->usage = xreallocarray(c->usage, c->nusage == 0 ? 1 :
			    c->nusage * 2, sizeof(*c->usage));
		c->usage[c->nusage++] = (struct usage){ mb.user_id, s.bytes,
		    s.messages };
	}
	mdb_cursor_close(cur);
	return 0;
}

static int
check_orphan_rows(struct store_txn *t, struct check *c)
{
	struct store_mailbox mb;
	MDB_cursor *cur;
	MDB_val k, v;
	uint32_t last = 0;
	int rc, exists = 0;

	if (sdb_cursor(t, DB_MSGS, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP)) {
		if (k.mv_size != 4) {
			problem(c, "message rows with a bad key");
			continue;
		}
		last = be32dec(k.mv_data);
		exists = store_mailbox_get_by_id(t, last, &mb) == 1;
		if (!exists)
			problem(c, "message rows of missing mailbox %u", last);
	}
	mdb_cursor_close(cur);
	return 0;
}

/* Every keyword entry belongs to a row that says it has keywords. */
static int
check_orphan_msgkw(struct store_txn *t, struct check *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, owned;

	if (t->st->old_rows)
		return 0;
	if (sdb_cursor(t, DB_MSGKW, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			problem(c, "message keywords with a bad key");
			continue;
		}
		if ((owned = msg_kw_owned(t, be32dec(k.mv_data),
		    be32dec((uint8_t *)k.mv_data + 4))) == -1) {
			mdb_cursor_close(cur);
			return -1;
		}
		if (!owned)
			problem(c, "keywords of uid %u in mailbox %u belong to "
			    "no message row", be32dec((uint8_t *)k.mv_data + 4),
			    be32dec(k.mv_data));
	}
	mdb_cursor_close(cur);
	return 0;
}

static int
check_users(struct store_txn *t, struct check *c)
{
	struct store_user u, byname;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t pos = 0;
	uint64_t bytes, messages;
	uint32_t id;
	int rc;

	if (c->nusage > 0)
		qsort(c->usage, c->nusage, sizeof(*c->usage), usage_cmp);
	if (sdb_cursor(t, DB_USERS, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4 ||
		    store_user_get(t, be32dec(k.mv_data), &u) != 1) {
			problem(c, "damaged user record");
			continue;
		}
		bytes = messages = 0;
		while (pos < c->nusage && c->usage[pos].user_id < u.id)
			pos++;
		for (; pos < c->nusage && c->usage[pos].user_id == u.id;
		    pos++) {
			bytes += c->usage[pos].bytes;
			messages += c->usage[pos].messages;
		}
		if (bytes != u.used_bytes || messages != u.used_messages)
			problem(c, "user %s: usage says %" PRIu64 " bytes in %"
			    PRIu64 " messages; mailboxes hold %" PRIu64
			    " bytes in %" PRIu64, u.address, u.used_bytes,
			    u.used_messages, bytes, messages);
		if (store_user_find(t, u.address, &byname) != 1 ||
		    byname.id != u.id)
			problem(c, "user %s is missing from the login index",
			    u.address);
		if (t->st->schema >= 5 && (user_domindex_get(t, u.address,
		    &id) != 1 || id != u.id))
			problem(c, "user %s is missing from the domain index",
			    u.address);
	}
	mdb_cursor_close(cur);
	return 0;
}

static int
check_bodies(struct store_txn *t, struct check *c)
{
	struct body_rec b;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t hid;
	size_t pos = 0, refs, i;
	uint64_t sum, id;
	int rc;

	if (c->nbodyrefs > 0)
		qsort(c->bodyrefs, c->nbodyrefs, sizeof(uint64_t), id_cmp);
	if (sdb_cursor(t, DB_BODIES, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 ||
		    body_get(t, (id = be64dec(k.mv_data)), &b) != 1) {
			problem(c, "damaged body record");
			continue;
		}
		/* Rows that refer to ids below this one that do not exist. */
		for (; pos < c->nbodyrefs && c->bodyrefs[pos] < id; pos++)
			if (pos == 0 || c->bodyrefs[pos - 1] != c->bodyrefs[pos])
				problem(c, "messages refer to missing body %"
				    PRIu64, c->bodyrefs[pos]);
		for (refs = 0; pos < c->nbodyrefs && c->bodyrefs[pos] == id;
		    pos++)
			refs++;
		if (refs != b.refcount)
			problem(c, "body %" PRIu64 ": refcount %u, referenced "
			    "by %zu message(s)", id, b.refcount, refs);
		if (body_find(t, b.hash, &hid) != 1 || hid != id)
			problem(c, "body %" PRIu64 " is missing from the hash "
			    "index", id);
		for (i = 0, sum = 0; i < b.nsegs; i++) {
			sum += b.segs[i].len;
			keys_add(&c->blobrefs, &c->nblobrefs, b.segs[i].hash);
		}
		if (sum != b.size)
			problem(c, "body %" PRIu64 ": segments hold %" PRIu64
			    " bytes, size is %" PRIu64, id, sum, b.size);
		body_rec_clear(&b);
		check_body_meta(t, c, id, &b);
	}
	mdb_cursor_close(cur);
	for (; pos < c->nbodyrefs; pos++)
		if (pos == 0 || c->bodyrefs[pos - 1] != c->bodyrefs[pos])
			problem(c, "messages refer to missing body %" PRIu64,
			    c->bodyrefs[pos]);
	return 0;
}

static int
check_blobs(struct store_txn *t, struct check *c)
{
	struct blob_rec b;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t pos, refs;
	uint8_t *buf;
	char h[17];
	int rc;

	if (c->nblobrefs > 0)
		qsort(c->blobrefs, c->nblobrefs, 32, key_cmp);
	for (pos = 0; pos < c->nblobrefs; pos++)
		if ((pos == 0 || memcmp(c->blobrefs + pos * 32,
		    c->blobrefs + (pos - 1) * 32, 32) != 0) &&
		    sdb_get(t, DB_BLOBS, c->blobrefs + pos * 32, 32,
		    &(MDB_val){ 0 }) != 1) {
			hex(c->blobrefs + pos * 32, h);
			problem(c, "bodies refer to missing blob %s", h);
		}
	pos = 0;
	if (sdb_cursor(t, DB_BLOBS, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 32 || blob_get(t, k.mv_data, &b) != 1) {
			problem(c, "damaged blob record");
			continue;
		}
		hex(k.mv_data, h);
		refs = keys_count(c->blobrefs, c->nblobrefs, &pos, k.mv_data);
		if (refs != b.refcount)
			problem(c, "blob %s: refcount %u, referenced %zu "
			    "time(s)", h, b.refcount, refs);
		c->frags += b.nfrags;
		buf = xmalloc(b.raw_len == 0 ? 1 : b.raw_len);
		if (blob_read(t, k.mv_data, buf, b.raw_len, 1) == -1)
			problem(c, "blob %s: %s", h, err_msg());
		free(buf);
	}
	mdb_cursor_close(cur);
	return 0;
}

static int
check_routes(const struct store_route *r, void *ctx)
{
	struct store_txn *t = ((void **)ctx)[0];
	struct check *c = ((void **)ctx)[1];
	struct store_user u;
	size_t i;

	for (i = 0; i < r->ntargets; i++)
		if (r->targets[i].type == STORE_TARGET_MAILBOX &&
		    store_user_get(t, r->targets[i].user_id, &u) != 1)
			problem(c, "address %s delivers to missing user %u",
			    r->address, r->targets[i].user_id);
	return 0;
}

/*
 * Queue entries hold body references too.  Each is read by itself, so a
 * damaged record is reported (and the rest checked) rather than ending
 * the check.
 */
static int
check_queue(struct store_txn *t, struct check *c)
{
	struct store_queue_entry e;
	char id[STORE_QUEUE_ID_LEN + 1];
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_val bk;
	uint8_t bkey[8];
	int rc;

	if (sdb_cursor(t, DB_QUEUE, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			problem(c, "queue record with a bad key");
			continue;
		}
		if (store_queue_get(t, be64dec(k.mv_data), &e) != 1) {
			problem(c, "damaged queue record %s",
			    store_queue_id_format(be64dec(k.mv_data), id));
			continue;
		}
		store_queue_entry_clear(&e);
		be64enc(bkey, e.body);
		if (sdb_get(t, DB_BODIES, bkey, 8, &bk) != 1) {
			problem(c, "queue entry %s refers to missing body %"
			    PRIu64, store_queue_id_format(e.id, id), e.body);
			continue;
		}
		check_body_ref(c, e.body);
	}
	mdb_cursor_close(cur);
	return 0;
}

/* The schema 4 tables report through this (private.h). */
static void
check_report(void *ctx, const char *text)
{
	problem(ctx, "%s", text);
}

static int
check_txn(struct store_txn *t, void *ctx)
{
	struct check *c = ctx;
	void *pair[2] = { t, c };
	MDB_stat ms, bs;

	if (check_mailboxes(t, c) == -1 || check_orphan_rows(t, c) == -1 ||
	    check_orphan_msgkw(t, c) == -1 ||
	    check_orphan_expunges(t, c) == -1 ||
	    check_orphan_kwlists(t, c) == -1 ||
	    check_queue(t, c) == -1 ||
	    check_users(t, c) == -1 || check_bodies(t, c) == -1 ||
	    check_blobs(t, c) == -1 ||
	    store_addr_list(t, check_routes, pair) == -1 ||
	    userdata_check(t, check_report, c) == -1 ||
	    list_check(t, check_report, c) == -1 ||
	    learn_check(t, check_report, c) == -1 ||
	    dkim_check(t, check_report, c) == -1 ||
	    bcc_check(t, check_report, c) == -1 ||
	    policy_check(t, check_report, c) == -1 ||
	    disclaimer_check(t, check_report, c) == -1 ||
	    acl_check(t, check_report, c) == -1)
		return -1;
	/* Every user has its entry (check_users()): equal counts, no more. */
	if (t->st->schema >= 5 &&
	    mdb_stat(t->txn, t->st->dbi[DB_DOMUSERS], &ms) == 0 &&
	    mdb_stat(t->txn, t->st->dbi[DB_USERS], &bs) == 0 &&
	    ms.ms_entries != bs.ms_entries)
		problem(c, "%zu users but %zu domain index entries",
		    bs.ms_entries, ms.ms_entries);
	if (mdb_stat(t->txn, t->st->dbi[DB_BODYHASH], &ms) == 0 &&
	    mdb_stat(t->txn, t->st->dbi[DB_BODIES], &bs) == 0 &&
	    ms.ms_entries != bs.ms_entries)
		problem(c, "%zu bodies but %zu hash index entries",
		    bs.ms_entries, ms.ms_entries);
	if (mdb_stat(t->txn, t->st->dbi[DB_BLOBDATA], &ms) == 0 &&
	    ms.ms_entries != c->frags)
		problem(c, "%zu blob fragments stored, blobs use %" PRIu64,
		    ms.ms_entries, c->frags);
	if (!t->st->no_imap &&
	    mdb_stat(t->txn, t->st->dbi[DB_IMAPMETA], &ms) == 0 &&
	    ms.ms_entries != c->metapieces)
		problem(c, "%zu IMAP record pieces stored, bodies use %" PRIu64,
		    ms.ms_entries, c->metapieces);
	return 0;
}

int
store_check(struct store *st, store_problem_fn *fn, void *ctx)
{
	struct check c = { 0 };
	int rc;

	c.fn = fn;
	c.ctx = ctx;
	store_read_ahead(st, 1);
	rc = store_read(st, check_txn, &c);
	store_read_ahead(st, 0);
	free(c.bodyrefs);
	free(c.blobrefs);
	free(c.usage);
	return rc == -1 ? -1 : c.problems;
}

static int
stats_msg_sizes(struct store_txn *t, struct store_stats *s)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct store_msg m;
	int rc;

	if (sdb_cursor(t, DB_MSGS, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size == 4 && msg_decode(t, &v, be32dec(k.mv_data),
		    &m) == 0)
			s->raw_bytes += m.size;
	mdb_cursor_close(cur);
	return 0;
}

static int
stats_txn(struct store_txn *t, void *ctx)
{
	struct store_stats *s = ctx;
	struct body_rec b;
	struct blob_rec bl;
	MDB_envinfo info;
	MDB_stat ms;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

#define COUNT(db, field) do {						\
	if (mdb_stat(t->txn, t->st->dbi[db], &ms) == 0)			\
		s->field = ms.ms_entries;				\
} while (0)
	COUNT(DB_DOMAINS, domains);
	COUNT(DB_USERS, users);
	COUNT(DB_MBOX, mailboxes);
	COUNT(DB_MSGS, messages);
	COUNT(DB_BODIES, bodies);
	COUNT(DB_BLOBS, blobs);
#undef COUNT
	if (stats_msg_sizes(t, s) == -1 || sdb_cursor(t, DB_BODIES, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size == 8 && body_get(t, be64dec(k.mv_data), &b) ==
		    1) {
			s->body_bytes += b.size;
			if (b.has_meta) {
				s->imap_records++;
				s->imap_raw_bytes += b.meta_len;
				s->imap_stored_bytes += b.meta_stored;
			}
			body_rec_clear(&b);
		}
	mdb_cursor_close(cur);
	if (sdb_cursor(t, DB_BLOBS, &cur) == -1)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size == 32 && blob_get(t, k.mv_data, &bl) == 1) {
			s->blob_bytes += bl.raw_len;
			s->stored_bytes += bl.stored_len;
		}
	mdb_cursor_close(cur);
	/* Dictionaries kept ("dict:<id>"; unused old ones are deleted). */
	if (sdb_cursor(t, DB_META, &cur) == -1)
		return -1;
	k.mv_data = "dict:";
	k.mv_size = 5;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    k.mv_size > 5 && memcmp(k.mv_data, "dict:", 5) == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		s->dicts++;
	mdb_cursor_close(cur);
	mdb_env_info(t->st->env, &info);
	mdb_env_stat(t->st->env, &ms);
	s->file_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	s->map_bytes = info.me_mapsize;
	return 0;
}

int
store_stats(struct store *st, struct store_stats *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	store_read_ahead(st, 1);
	rc = store_read(st, stats_txn, r);
	store_read_ahead(st, 0);
	return rc == -1 ? -1 : 0;
}

int
store_backup(struct store *st, const char *dest_dir)
{
	struct stat sb;
	char *path, *file;
	mode_t mode;
	int rc, fd = -1;

	if (mkdir(dest_dir, 0700) == -1 && errno != EEXIST)
		return err_set(ERR_TEMP, "cannot create %s: %s", dest_dir,
		    strerror(errno));
	path = xasprintf("%s/store", dest_dir);
	file = xasprintf("%s/data.mdb", path);
	rc = stat(file, &sb);
	free(file);
	if (rc == 0) {
		free(path);
		return err_set(ERR_EXISTS, "%s already holds a store: choose "
		    "an empty directory", dest_dir);
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		err_set(ERR_TEMP, "cannot create %s: %s", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	/*
	 * The copy gets the live file's mode, not the umask's (LMDB would
	 * create it 0666 & ~umask): mail is no more readable in a backup
	 * than in the store.  fchmod() because the umask may narrow open().
	 */
	file = xasprintf("%s/data.mdb", st->path);
	mode = stat(file, &sb) == 0 ? (sb.st_mode & 07777) : 0600;
	free(file);
	file = xasprintf("%s/data.mdb", path);
	free(path);
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode)) == -1 || fchmod(fd, mode) == -1) {
		err_set(ERR_TEMP, "cannot create %s: %s", file,
		    strerror(errno));
		if (fd != -1) {
			close(fd);
			unlink(file);
		}
		free(file);
		return -1;
	}
	store_read_ahead(st, 1);
	rc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
	store_read_ahead(st, 0);
	if (rc == 0 && fsync(fd) == -1)
		rc = errno;
	if (close(fd) == -1 && rc == 0)
		rc = errno;
	if (rc != 0) {
		unlink(file);
		free(file);
		return err_set(ERR_TEMP, "backup to %s failed: %s", dest_dir,
		    mdb_strerror(rc));
	}
	free(file);
	return 0;
}
