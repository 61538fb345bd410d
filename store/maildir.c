/*
 * maildir.c - the keyword letters of a Maildir view (maildir.h): table
 * `maildirkw` and the schema 3 upgrade that fills it for older stores.
 *
 * A record is the mailbox id (big-endian 32) -> its keyword names, space
 * separated, in the order they were first used (no NUL).  Keywords
 * compare without regard to case, as the message rows do: the list keeps
 * the spelling first seen.  The hot paths (append, copy, flag changes)
 * read the record only when the message has keywords, and write it only
 * when one of them is new to the mailbox, which is rare: a mailbox uses a
 * handful of keywords for all its life.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "maildir.h"
#include "mailbox.h"
#include "message.h"
#include "private.h"

/* The keyword that has a letter of its own (P), never on a list. */
#define MAILDIR_KW_FORWARDED	"$Forwarded"
/* Message rows looked at per transaction of the upgrade. */
#define UPGRADE_ROWS_PER_TXN	1024

static int	kw_is_forwarded(const char *, size_t);
static size_t	kw_count(const char *list, size_t len);
static int	kw_register(struct store_txn *, uint32_t, const char *,
		    int *);

static int
kw_is_forwarded(const char *word, size_t n)
{
	return n == sizeof(MAILDIR_KW_FORWARDED) - 1 &&
	    strncasecmp(word, MAILDIR_KW_FORWARDED, n) == 0;
}

int
maildir_kw_index(const char *list, size_t len, const char *word, size_t n)
{
	size_t off = 0, m;
	int i = 0;

	while (off < len) {
		for (m = 0; off + m < len && list[off + m] != ' '; m++)
			;
		if (m == n && m > 0 && strncasecmp(list + off, word, n) == 0)
			return i;
		if (m > 0)
			i++;
		off += m + 1;
	}
	return -1;
}

static size_t
kw_count(const char *list, size_t len)
{
	size_t off = 0, m, n = 0;

	while (off < len) {
		for (m = 0; off + m < len && list[off + m] != ' '; m++)
			;
		if (m > 0)
			n++;
		off += m + 1;
	}
	return n;
}

/*
 * Adds the keywords of a message that mailbox_id's list lacks.  *full_r
 * (may be NULL) is set when the list has STORE_MAILDIR_KW_MAX names (no
 * keyword can be added any more).  0, or -1 (err set).
 */
static int
kw_register(struct store_txn *t, uint32_t mailbox_id, const char *keywords,
    int *full_r)
{
	const char *p, *w;
	char *out = NULL;
	uint8_t key[4];
	MDB_val v;
	size_t n, len, count, olen = 0;
	int rc, any = 0;

	if (full_r != NULL)
		*full_r = 0;
	if (keywords == NULL || t->st->no_maildirkw)
		return 0;
	/* Nothing to look up for none, or for $Forwarded alone. */
	for (p = keywords; *p != '\0'; p += n) {
		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n > 0 && !kw_is_forwarded(p, n))
			any = 1;
	}
	if (!any)
		return 0;
	be32enc(key, mailbox_id);
	if ((rc = sdb_get(t, DB_MAILDIRKW, key, 4, &v)) == -1)
		return -1;
	len = rc == 1 ? v.mv_size : 0;
	count = rc == 1 ? kw_count(v.mv_data, len) : 0;
	for (p = keywords; *p != '\0' && count < STORE_MAILDIR_KW_MAX;
	    p += n) {
		while (*p == ' ')
			p++;
		w = p;
		if ((n = strcspn(p, " ")) == 0 || kw_is_forwarded(w, n))
			continue;
		if ((out == NULL && rc == 1 &&
		    maildir_kw_index(v.mv_data, len, w, n) >= 0) ||
		    (out != NULL && maildir_kw_index(out, olen, w, n) >= 0))
			continue;
		if (out == NULL) {
			/* The record lives in the map: copy before growing. */
			out = xmalloc(len + STORE_MAILDIR_KW_MAX *
			    (STORE_KEYWORDS_MAX + 1) + 1);
			if (len > 0)
				memcpy(out, v.mv_data, len);
			olen = len;
		}
		if (olen > 0)
			out[olen++] = ' ';
		memcpy(out + olen, w, n);
		olen += n;
		count++;
	}
	if (full_r != NULL)
		*full_r = count >= STORE_MAILDIR_KW_MAX;
	if (out == NULL)
		return 0;
	rc = sdb_put(t, DB_MAILDIRKW, key, 4, out, olen, 0);
	free(out);
	return rc == -1 ? -1 : 0;
}

int
maildir_kw_register(struct store_txn *t, uint32_t mailbox_id,
    const char *keywords)
{
	if (keywords == NULL || keywords[0] == '\0')
		return 0;
	return kw_register(t, mailbox_id, keywords, NULL);
}

int
maildir_kw_drop(struct store_txn *t, uint32_t mailbox_id)
{
	uint8_t key[4];

	if (t->st->no_maildirkw)
		return 0;
	be32enc(key, mailbox_id);
	return sdb_del(t, DB_MAILDIRKW, key, 4) == -1 ? -1 : 0;
}

int
store_maildir_keywords(struct store_txn *t, uint32_t mailbox_id,
    char **list_r)
{
	uint8_t key[4];
	MDB_val v;
	int rc;

	*list_r = NULL;
	be32enc(key, mailbox_id);
	if ((rc = sdb_get(t, DB_MBOX, key, 4, &v)) != 1)
		return rc;
	/* A read-only store made before the table: no list yet. */
	if (t->st->no_maildirkw)
		rc = 0;
	else if ((rc = sdb_get(t, DB_MAILDIRKW, key, 4, &v)) == -1)
		return -1;
	if (rc == 0) {
		*list_r = xstrdup("");
		return 1;
	}
	*list_r = xmalloc(v.mv_size + 1);
	memcpy(*list_r, v.mv_data, v.mv_size);
	(*list_r)[v.mv_size] = '\0';
	return 1;
}

char *
store_maildir_info(uint32_t flags, const char *keywords, const char *kwlist,
    char buf[STORE_MAILDIR_INFO_MAX])
{
	const char *p;
	uint32_t letters = 0;
	size_t n, o = 0, len = kwlist != NULL ? strlen(kwlist) : 0;
	int fwd = 0, i;

	for (p = keywords != NULL ? keywords : ""; *p != '\0'; p += n) {
		while (*p == ' ')
			p++;
		if ((n = strcspn(p, " ")) == 0)
			continue;
		if (kw_is_forwarded(p, n))
			fwd = 1;
		else if ((i = maildir_kw_index(kwlist != NULL ? kwlist : "",
		    len, p, n)) >= 0 && i < STORE_MAILDIR_KW_MAX)
			letters |= 1u << i;
	}
	/* ASCII order: the capitals, then a-z. */
	if (flags & STORE_F_DRAFT)
		buf[o++] = 'D';
	if (flags & STORE_F_FLAGGED)
		buf[o++] = 'F';
	if (fwd)
		buf[o++] = 'P';
	if (flags & STORE_F_ANSWERED)
		buf[o++] = 'R';
	if (flags & STORE_F_SEEN)
		buf[o++] = 'S';
	if (flags & STORE_F_DELETED)
		buf[o++] = 'T';
	for (i = 0; i < STORE_MAILDIR_KW_MAX; i++)
		if (letters & (1u << i))
			buf[o++] = (char)('a' + i);
	buf[o] = '\0';
	return buf;
}

/* Appends name (n bytes) to a keyword string unless it would not fit. */
static void
kw_append(char *out, size_t *o, const char *name, size_t n)
{
	if (*o + (*o > 0) + n > STORE_KEYWORDS_MAX)
		return;
	if (*o > 0)
		out[(*o)++] = ' ';
	memcpy(out + *o, name, n);
	*o += n;
	out[*o] = '\0';
}

void
store_maildir_info_parse(const char *letters, const char *kwlist,
    uint32_t *flags_r, char keywords_r[STORE_KEYWORDS_MAX + 1])
{
	const char *p, *w;
	uint32_t seen = 0;
	size_t o = 0, n, off, len = kwlist != NULL ? strlen(kwlist) : 0;
	int fwd = 0, i, idx;

	*flags_r = 0;
	keywords_r[0] = '\0';
	for (p = letters != NULL ? letters : ""; *p != '\0'; p++) {
		switch (*p) {
		case 'D':
			*flags_r |= STORE_F_DRAFT;
			break;
		case 'F':
			*flags_r |= STORE_F_FLAGGED;
			break;
		case 'P':
			if (!fwd)
				kw_append(keywords_r, &o, MAILDIR_KW_FORWARDED,
				    sizeof(MAILDIR_KW_FORWARDED) - 1);
			fwd = 1;
			break;
		case 'R':
			*flags_r |= STORE_F_ANSWERED;
			break;
		case 'S':
			*flags_r |= STORE_F_SEEN;
			break;
		case 'T':
			*flags_r |= STORE_F_DELETED;
			break;
		default:
			if (*p < 'a' || *p > 'z')
				break;	/* means nothing: ignored */
			idx = *p - 'a';
			if (seen & (1u << idx))
				break;
			seen |= 1u << idx;
			/* The idx-th name of the list, when there is one. */
			for (off = 0, i = 0; off < len; off += n + 1) {
				w = kwlist + off;
				n = strcspn(w, " ");
				if (n == 0)
					continue;
				if (i++ == idx) {
					kw_append(keywords_r, &o, w, n);
					break;
				}
			}
			break;
		}
	}
}

/* The upgrade to schema 3 ---------------------------------------------- */

/*
 * Walks the rows in (mailbox id, uid) order, UPGRADE_ROWS_PER_TXN rows per
 * transaction, registering each row's keywords as an append would have.
 * Registering is idempotent, so a transaction run again (a full map) or
 * an upgrade killed half-way and started again leaves the same lists.
 * Like the schema 2 upgrade, the transaction reads only where the last
 * commit left off (after) and writes its own progress apart (done).
 */
struct up_kw {
	uint32_t	after_box, after_uid;	/* last row committed */
	uint32_t	done_box, done_uid;	/* last row of this txn */
	uint64_t	rows;			/* rows with keywords */
	uint64_t	done_rows;
	int		more;
};

static int
up_kw_fn(struct store_txn *t, void *ctx)
{
	struct up_kw *u = ctx;
	struct store_msg m;
	MDB_cursor *c;
	MDB_val k, v, mv;
	uint8_t key[4], ub[4];
	uint32_t box;
	size_t n = 0;
	int rc, r, full, skip = 0;

	u->done_box = u->after_box;
	u->done_uid = u->after_uid;
	u->done_rows = u->rows;
	u->more = 0;
	if (sdb_cursor(t, DB_MSGS, &c) == -1)
		return -1;
	/* The row after the last one done. */
	be32enc(key, u->after_box);
	k.mv_size = 4;
	k.mv_data = key;
	rc = MDB_NOTFOUND;
	if (u->after_uid < UINT32_MAX) {
		be32enc(ub, u->after_uid + 1);
		v.mv_size = 4;
		v.mv_data = ub;
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
	}
	if (rc == MDB_NOTFOUND && u->after_box < UINT32_MAX) {
		be32enc(key, u->after_box + 1);
		k.mv_size = 4;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v,
	    skip ? MDB_NEXT_NODUP : MDB_NEXT)) {
		/* Here after NEXT_NODUP, this is the next mailbox already. */
		skip = 0;
		if (n == UPGRADE_ROWS_PER_TXN) {
			u->more = 1;
			break;
		}
		n++;
		if (k.mv_size != 4 || v.mv_size < 4)
			continue;
		box = be32dec(k.mv_data);
		u->done_box = box;
		u->done_uid = be32dec(v.mv_data);
		if (msg_decode(t, &v, box, &m) == -1) {
			/* store check reports it; the upgrade goes on. */
			log_warnx("upgrade: %s", err_msg());
			continue;
		}
		if (m.keywords[0] == '\0')
			continue;
		u->done_rows++;
		/* Rows of a mailbox that is gone get no list. */
		if ((r = sdb_get(t, DB_MBOX, k.mv_data, 4, &mv)) == -1 ||
		    kw_register(t, box, r == 1 ? m.keywords : NULL,
		    &full) == -1) {
			mdb_cursor_close(c);
			return -1;
		}
		/* A full list takes no more: on to the next mailbox. */
		if (r == 0 || full) {
			skip = 1;
			u->done_uid = UINT32_MAX;
		}
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "messages");
	return 0;
}

int
maildir_upgrade(struct store *st)
{
	struct up_kw u;

	memset(&u, 0, sizeof(u));
	do {
		if (store_write(st, up_kw_fn, &u) == -1)
			return -1;
		u.after_box = u.done_box;
		u.after_uid = u.done_uid;
		u.rows = u.done_rows;
	} while (u.more);
	log_info("store %s: keyword lists built from %" PRIu64 " messages "
	    "with keywords", st->path, u.rows);
	return 0;
}
