/*
 * mailbox.c - folders: `mailboxes` maps (user id, name) to an id, `mbox`
 * maps the id to its state and counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "mailbox.h"
#include "message.h"
#include "private.h"

static const struct {
	const char	*name;
	uint32_t	 bit;
} special_names[] = {
	{ "\\All", STORE_SPECIAL_ALL },
	{ "\\Archive", STORE_SPECIAL_ARCHIVE },
	{ "\\Drafts", STORE_SPECIAL_DRAFTS },
	{ "\\Flagged", STORE_SPECIAL_FLAGGED },
	{ "\\Junk", STORE_SPECIAL_JUNK },
	{ "\\Sent", STORE_SPECIAL_SENT },
	{ "\\Trash", STORE_SPECIAL_TRASH },
};

/*
 * Checks a name and writes its canonical form: "INBOX" in any case (also
 * as the first level) becomes "INBOX".
 */
static int
mailbox_name(const char *in, char *out)
{
	size_t n = strlen(in), i;

	if (n == 0)
		return err_set(ERR_INVALID, "empty mailbox name");
	if (n > STORE_MAILBOX_NAME_MAX)
		return err_set(ERR_INVALID, "mailbox name longer than %d "
		    "bytes", STORE_MAILBOX_NAME_MAX);
	for (i = 0; i < n; i++) {
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			return err_set(ERR_INVALID, "mailbox name contains a "
			    "control character");
		if (in[i] == STORE_MAILBOX_SEP && (i == 0 || i == n - 1 ||
		    in[i + 1] == STORE_MAILBOX_SEP))
			return err_set(ERR_INVALID, "mailbox name '%s' has an "
			    "empty level", in);
	}
	memcpy(out, in, n + 1);
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == STORE_MAILBOX_SEP))
		memcpy(out, "INBOX", 5);
	return 0;
}

static size_t
mailbox_key(uint8_t *key, uint32_t user_id, const char *name)
{
	size_t n = strlen(name);

	be32enc(key, user_id);
	memcpy(key + 4, name, n);
	return 4 + n;
}

/*
 * The record grew recent_uid and expunge_floor at its end in schema 2;
 * a record without them is read as "nothing recent" and "no expunge
 * logged before now" (what a user expects after an upgrade).
 */
static int
mbox_write(struct store_txn *t, const struct store_mailbox *mb, int notify)
{
	struct pack p;
	uint8_t key[4];
	int rc;

	be32enc(key, mb->id);
	pack_init(&p);
	pack_u32(&p, mb->user_id);
	pack_str(&p, mb->name);
	pack_u32(&p, mb->uidvalidity);
	pack_u32(&p, mb->uidnext);
	pack_u64(&p, mb->highestmodseq);
	pack_u32(&p, mb->messages);
	pack_u32(&p, mb->unseen);
	pack_u64(&p, mb->bytes);
	pack_u32(&p, mb->special_use);
	pack_u8(&p, (uint8_t)mb->subscribed);
	pack_u32(&p, mb->recent_uid);
	pack_u64(&p, mb->expunge_floor);
	/*
	 * pop3_uidl is written only when set, so every other record stays
	 * the same bytes as before it existed.
	 */
	if (mb->pop3_uidl != STORE_UIDL_VELLUM)
		pack_u8(&p, (uint8_t)mb->pop3_uidl);
	rc = sdb_put(t, DB_MBOX, key, 4, p.buf, p.len, 0);
	pack_free(&p);
	if (rc == -1)
		return -1;
	if (notify)
		notify_txn_add(t, mb->id);
	return 0;
}

int
mbox_put(struct store_txn *t, const struct store_mailbox *mb)
{
	return mbox_write(t, mb, 1);
}

int
store_mailbox_get_by_id(struct store_txn *t, uint32_t id,
    struct store_mailbox *r)
{
	struct unpack u;
	uint8_t key[4];
	MDB_val v;
	int rc;

	be32enc(key, id);
	if ((rc = sdb_get(t, DB_MBOX, key, 4, &v)) != 1)
		return rc;
	memset(r, 0, sizeof(*r));
	r->id = id;
	unpack_init(&u, &v);
	r->user_id = unpack_u32(&u);
	unpack_str(&u, r->name, sizeof(r->name));
	r->uidvalidity = unpack_u32(&u);
	r->uidnext = unpack_u32(&u);
	r->highestmodseq = unpack_u64(&u);
	r->messages = unpack_u32(&u);
	r->unseen = unpack_u32(&u);
	r->bytes = unpack_u64(&u);
	r->special_use = unpack_u32(&u);
	r->subscribed = unpack_u8(&u);
	if (u.left == 0) {
		r->recent_uid = r->uidnext;
		r->expunge_floor = r->highestmodseq;
	} else {
		r->recent_uid = unpack_u32(&u);
		r->expunge_floor = unpack_u64(&u);
		if (u.left > 0)
			r->pop3_uidl = unpack_u8(&u);
	}
	if (unpack_done(&u, "mailbox") == -1)
		return -1;
	return 1;
}

int
store_mailbox_get(struct store_txn *t, uint32_t user_id, const char *name,
    struct store_mailbox *r)
{
	uint8_t key[4 + STORE_MAILBOX_NAME_MAX];
	char canon[STORE_MAILBOX_NAME_MAX + 1];
	MDB_val v;
	int rc;

	if (mailbox_name(name, canon) == -1)
		return 0;
	rc = sdb_get(t, DB_MAILBOXES, key, mailbox_key(key, user_id, canon),
	    &v);
	if (rc != 1)
		return rc;
	if (v.mv_size != 4)
		return err_set(ERR_CORRUPT, "mailbox index entry damaged");
	if ((rc = store_mailbox_get_by_id(t, be32dec(v.mv_data), r)) == 0)
		return err_set(ERR_CORRUPT, "mailbox '%s' has no state record",
		    canon);
	return rc;
}

/* Like store_mailbox_get(), but a missing mailbox is a NOTFOUND error. */
static int
mailbox_find(struct store_txn *t, uint32_t user_id, const char *name,
    struct store_mailbox *mb)
{
	int rc;

	if ((rc = store_mailbox_get(t, user_id, name, mb)) == 0)
		return err_set(ERR_NOTFOUND, "no mailbox '%s'", name);
	return rc;
}

/* A new UIDVALIDITY: the time, but always above every earlier one. */
static int
mailbox_uidvalidity(struct store_txn *t, uint32_t *r)
{
	uint8_t b[4];
	MDB_val v;
	uint32_t last = 0, now = (uint32_t)store_now();
	int rc;

	if ((rc = sdb_get(t, DB_META, "last_uidvalidity", 16, &v)) == -1)
		return -1;
	if (rc == 1 && v.mv_size == 4)
		last = be32dec(v.mv_data);
	*r = now > last ? now : last + 1;
	/* 0 is no UIDVALIDITY (a store from before the import limit). */
	if (*r == 0)
		*r = now;
	be32enc(b, *r);
	return sdb_put(t, DB_META, "last_uidvalidity", 16, b, 4, 0) == -1 ?
	    -1 : 0;
}

int
store_mailbox_set_uidvalidity(struct store_txn *t, uint32_t mailbox_id,
    uint32_t uidvalidity, unsigned pop3_uidl)
{
	struct store_mailbox mb;
	uint8_t b[4];
	MDB_val v;
	uint32_t last = 0;
	int rc;

	if (uidvalidity == 0 || pop3_uidl > STORE_UIDL_MAX)
		return err_set(ERR_INVALID, "UIDVALIDITY 0 or an unknown UIDL "
		    "style");
	/* Else every mailbox created later would wrap to UIDVALIDITY 0. */
	if (uidvalidity > STORE_UIDVALIDITY_KEEP_MAX)
		return err_set(ERR_LIMIT, "UIDVALIDITY %u leaves no room for "
		    "later mailboxes' (at most %u)", uidvalidity,
		    STORE_UIDVALIDITY_KEEP_MAX);
	if ((rc = store_mailbox_get_by_id(t, mailbox_id, &mb)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no mailbox with "
		    "id %u", mailbox_id);
	if (mb.messages > 0)
		return err_set(ERR_EXISTS, "mailbox '%s' holds %u messages; "
		    "its UIDVALIDITY stays", mb.name, mb.messages);
	/* New mailboxes must never meet this value again. */
	if ((rc = sdb_get(t, DB_META, "last_uidvalidity", 16, &v)) == -1)
		return -1;
	if (rc == 1 && v.mv_size == 4)
		last = be32dec(v.mv_data);
	if (uidvalidity > last) {
		be32enc(b, uidvalidity);
		if (sdb_put(t, DB_META, "last_uidvalidity", 16, b, 4, 0) == -1)
			return -1;
	}
	/*
	 * UIDs count again from 1 under the new UIDVALIDITY (RFC 3501 lets
	 * them): the mailbox may have had messages, since expunged.
	 */
	mb.uidvalidity = uidvalidity;
	mb.uidnext = 1;
	mb.recent_uid = 1;
	mb.pop3_uidl = pop3_uidl;
	return mbox_put(t, &mb) == -1 ? -1 : 1;
}

int
store_mailbox_raise_uidnext(struct store_txn *t, uint32_t mailbox_id,
    uint32_t uidnext)
{
	struct store_mailbox mb;
	int rc;

	if ((rc = store_mailbox_get_by_id(t, mailbox_id, &mb)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no mailbox with "
		    "id %u", mailbox_id);
	if (mb.uidnext >= uidnext)
		return 1;
	mb.uidnext = uidnext;
	return mbox_put(t, &mb) == -1 ? -1 : 1;
}

int
store_mailbox_create(struct store_txn *t, uint32_t user_id, const char *name,
    uint32_t special_use, uint32_t *id_r)
{
	struct store_mailbox mb;
	uint8_t key[4 + STORE_MAILBOX_NAME_MAX], idb[4];
	uint64_t id;
	size_t klen;
	int rc;

	memset(&mb, 0, sizeof(mb));
	if (mailbox_name(name, mb.name) == -1)
		return -1;
	klen = mailbox_key(key, user_id, mb.name);
	if ((rc = sdb_get(t, DB_MAILBOXES, key, klen,
	    &(MDB_val){ 0 })) != 0)
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "mailbox '%s' "
		    "already exists", mb.name);
	if (sdb_counter_add(t, "next_mailbox", 1, &id) == -1 ||
	    mailbox_uidvalidity(t, &mb.uidvalidity) == -1)
		return -1;
	mb.id = (uint32_t)id;
	mb.user_id = user_id;
	mb.uidnext = 1;
	mb.highestmodseq = 1;
	mb.recent_uid = 1;
	mb.special_use = special_use;
	mb.subscribed = 1;
	be32enc(idb, mb.id);
	if (sdb_put(t, DB_MAILBOXES, key, klen, idb, 4, 0) == -1 ||
	    mbox_put(t, &mb) == -1)
		return -1;
	if (id_r != NULL)
		*id_r = mb.id;
	return 1;
}

struct collect {
	struct store_mailbox	*v;
	size_t			 n;
};

static int
mailbox_collect(const struct store_mailbox *mb, void *ctx)
{
	struct collect *c = ctx;

	c->v = xreallocarray(c->v, c->n + 1, sizeof(*c->v));
	c->v[c->n++] = *mb;
	return 0;
}

int
store_mailbox_list(struct store_txn *t, uint32_t user_id,
    store_mailbox_fn *fn, void *ctx)
{
	struct store_mailbox mb;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[4];
	int rc, r = 0;

	if (sdb_cursor(t, DB_MAILBOXES, &c) == -1)
		return -1;
	be32enc(key, user_id);
	k.mv_size = 4;
	k.mv_data = key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 4 || be32dec(k.mv_data) != user_id)
			break;
		if (v.mv_size != 4 ||
		    store_mailbox_get_by_id(t, be32dec(v.mv_data), &mb) != 1) {
			r = err_class() == ERR_NONE ? err_set(ERR_CORRUPT,
			    "mailbox index of user %u damaged", user_id) : -1;
			break;
		}
		if (fn(&mb, ctx) == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	return r;
}

static int
mailbox_rename_one(struct store_txn *t, struct store_mailbox *mb,
    const char *newname)
{
	uint8_t key[4 + STORE_MAILBOX_NAME_MAX], idb[4];

	if (sdb_del(t, DB_MAILBOXES, key, mailbox_key(key, mb->user_id,
	    mb->name)) == -1)
		return -1;
	strcpy(mb->name, newname);
	mb->highestmodseq++;
	be32enc(idb, mb->id);
	if (sdb_put(t, DB_MAILBOXES, key, mailbox_key(key, mb->user_id,
	    mb->name), idb, 4, 0) == -1 || mbox_put(t, mb) == -1)
		return -1;
	return 0;
}

struct uid_list {
	uint32_t	*v;
	size_t		 n;
};

static int
uid_collect(const struct store_msg *m, void *ctx)
{
	struct uid_list *l = ctx;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = m->uid;
	return 0;
}

int
store_mailbox_rename(struct store_txn *t, uint32_t user_id,
    const char *oldname, const char *newname)
{
	struct store_mailbox mb, dst;
	struct collect all = { 0 };
	struct uid_list uids = { 0 };
	char from[STORE_MAILBOX_NAME_MAX + 1], to[STORE_MAILBOX_NAME_MAX + 1];
	char name[2 * STORE_MAILBOX_NAME_MAX + 2];
	size_t i, flen, tlen;
	uint32_t id;
	int rc;

	if (mailbox_name(oldname, from) == -1 ||
	    mailbox_name(newname, to) == -1)
		return -1;
	if (mailbox_find(t, user_id, from, &mb) == -1)
		return -1;
	if ((rc = store_mailbox_get(t, user_id, to, &dst)) != 0)
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "mailbox '%s' "
		    "already exists", to);
	flen = strlen(from);
	tlen = strlen(to);
	if (strcmp(from, "INBOX") == 0) {
		/*
		 * RFC 3501: INBOX's messages move, INBOX stays (empty) and
		 * keeps its children, so the new name may be one of them
		 * ("INBOX/old"), as in Dovecot.
		 */
		if (store_mailbox_create(t, user_id, to, 0, &id) == -1 ||
		    store_msg_list_rows(t, mb.id, 1, uid_collect, &uids) == -1)
			goto fail;
		for (i = 0; i < uids.n; i++)
			if (store_msg_move(t, mb.id, uids.v[i], id, NULL) == -1)
				goto fail;
		free(uids.v);
		return 1;
	}
	if (strncmp(to, from, flen) == 0 && to[flen] == STORE_MAILBOX_SEP)
		return err_set(ERR_INVALID, "cannot rename '%s' into its own "
		    "child '%s'", from, to);
	if (store_mailbox_list(t, user_id, mailbox_collect, &all) == -1)
		goto fail;
	for (i = 0; i < all.n; i++) {
		if (strncmp(all.v[i].name, from, flen) != 0 ||
		    all.v[i].name[flen] != STORE_MAILBOX_SEP)
			continue;
		snprintf(name, sizeof(name), "%s%s", to,
		    all.v[i].name + flen);
		if (strlen(name) > STORE_MAILBOX_NAME_MAX) {
			err_set(ERR_INVALID, "renaming would make '%s' too "
			    "long", name);
			goto fail;
		}
		if ((rc = store_mailbox_get(t, user_id, name, &dst)) != 0) {
			if (rc == 1)
				err_set(ERR_EXISTS, "mailbox '%s' already "
				    "exists", name);
			goto fail;
		}
		if (mailbox_rename_one(t, &all.v[i], name) == -1)
			goto fail;
	}
	(void)tlen;
	if (mailbox_rename_one(t, &mb, to) == -1)
		goto fail;
	free(all.v);
	return 1;
fail:
	free(all.v);
	free(uids.v);
	return -1;
}

/* Deletes a mailbox, INBOX included (store_user_del() needs that). */
int
mailbox_delete(struct store_txn *t, const struct store_mailbox *mb)
{
	uint8_t key[4 + STORE_MAILBOX_NAME_MAX], idb[4];

	if (mailbox_delete_messages(t, mb->id) == -1)
		return -1;
	be32enc(idb, mb->id);
	if (sdb_del(t, DB_MAILBOXES, key, mailbox_key(key, mb->user_id,
	    mb->name)) == -1 || sdb_del(t, DB_MBOX, idb, 4) == -1 ||
	    expunge_log_drop(t, mb->id) == -1 ||
	    maildir_kw_drop(t, mb->id) == -1)
		return -1;
	notify_txn_add(t, mb->id);
	return 1;
}

int
store_mailbox_delete(struct store_txn *t, uint32_t user_id, const char *name)
{
	struct store_mailbox mb;

	if (mailbox_find(t, user_id, name, &mb) == -1)
		return -1;
	if (strcmp(mb.name, "INBOX") == 0)
		return err_set(ERR_PERM, "INBOX cannot be deleted");
	return mailbox_delete(t, &mb);
}

int
store_mailbox_create_defaults(struct store_txn *t, uint32_t user_id)
{
	static const struct {
		const char	*name;
		uint32_t	 special_use;
	} defs[] = STORE_DEFAULT_FOLDERS;
	struct store_mailbox mb;
	size_t i;
	int rc;

	if ((rc = store_mailbox_get(t, user_id, "INBOX", &mb)) == -1 ||
	    (rc == 0 && store_mailbox_create(t, user_id, "INBOX", 0,
	    NULL) == -1))
		return -1;
	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		if ((rc = store_mailbox_get(t, user_id, defs[i].name,
		    &mb)) == -1)
			return -1;
		if (rc == 0 && store_mailbox_create(t, user_id, defs[i].name,
		    defs[i].special_use, NULL) == -1)
			return -1;
	}
	return 0;
}

int
store_mailbox_take_recent(struct store_txn *t, uint32_t mailbox_id,
    uint32_t *first_r, uint32_t *uidnext_r)
{
	struct store_mailbox mb;
	int rc;

	if ((rc = store_mailbox_get_by_id(t, mailbox_id, &mb)) != 1)
		return rc;
	*first_r = mb.recent_uid;
	*uidnext_r = mb.uidnext;
	if (mb.recent_uid == mb.uidnext)
		return 1;
	mb.recent_uid = mb.uidnext;
	/*
	 * No IMAP session shows anything new (\Recent is per session, and
	 * the modseq stays), but the file view moves these messages from
	 * new/ to cur/: it must hear of it.
	 */
	return mbox_write(t, &mb, 1) == -1 ? -1 : 1;
}

int
store_mailbox_subscribe(struct store_txn *t, uint32_t user_id,
    const char *name, int subscribed)
{
	struct store_mailbox mb;

	if (mailbox_find(t, user_id, name, &mb) == -1)
		return -1;
	mb.subscribed = subscribed != 0;
	return mbox_put(t, &mb) == -1 ? -1 : 1;
}

int
store_mailbox_set_special_use(struct store_txn *t, uint32_t user_id,
    const char *name, uint32_t special_use)
{
	struct store_mailbox mb;

	if (mailbox_find(t, user_id, name, &mb) == -1)
		return -1;
	mb.special_use = special_use;
	return mbox_put(t, &mb) == -1 ? -1 : 1;
}

uint32_t
store_special_use_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(special_names) / sizeof(special_names[0]); i++)
		if (strcasecmp(s, special_names[i].name) == 0 ||
		    strcasecmp(s, special_names[i].name + 1) == 0)
			return special_names[i].bit;
	return 0;
}

char *
store_special_use_format(uint32_t bits, char *buf, size_t bufsize)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(special_names) / sizeof(special_names[0]); i++)
		if ((bits & special_names[i].bit) && o < bufsize)
			o += (size_t)snprintf(buf + o, bufsize - o, "%s%s",
			    o > 0 ? " " : "", special_names[i].name);
	return buf;
}
