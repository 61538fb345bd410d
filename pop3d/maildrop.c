/*
 * maildrop.c - a POP3 session's view of the user's INBOX.
 *
 * The snapshot holds no LMDB state: every later access (a chunk of RETR,
 * the expunge at QUIT) runs in a transaction of its own, so no read
 * transaction outlives one event-loop turn.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/store.h"
#include "pop3d/maildrop.h"

struct load_ctx {
	struct pop3_maildrop	*md;
	size_t			 cap;
};

struct read_ctx {
	uint32_t	 mailbox_id;
	uint32_t	 uid;
	uint64_t	 off;
	void		*buf;
	size_t		 len;
	size_t		*len_r;
};

struct expunge_ctx {
	struct pop3_maildrop	*md;
	unsigned		 n;
};

static int	maildrop_load_msg(const struct store_msg *, void *);
static int	maildrop_load_txn(struct store_txn *, void *);
static int	maildrop_read_txn(struct store_txn *, void *);
static int	maildrop_expunge_txn(struct store_txn *, void *);

static int
maildrop_load_msg(const struct store_msg *m, void *arg)
{
	struct load_ctx *lc = arg;
	struct pop3_maildrop *md = lc->md;
	struct pop3_maildrop_msg *pm;

	if (md->count == lc->cap) {
		lc->cap = lc->cap == 0 ? 64 : lc->cap * 2;
		md->msgs = xreallocarray(md->msgs, lc->cap, sizeof(*md->msgs));
	}
	pm = &md->msgs[md->count++];
	pm->uid = m->uid;
	pm->size = m->crlf_size + (m->no_final_newline ? 2 : 0);
	pm->deleted = 0;
	md->total_bytes += pm->size;
	return 0;
}

static int
maildrop_load_txn(struct store_txn *t, void *arg)
{
	struct load_ctx *lc = arg;
	struct pop3_maildrop *md = lc->md;
	struct store_mailbox mb;
	int rc;

	/* The body may run again: start from nothing each time. */
	md->count = 0;
	md->total_bytes = 0;
	if ((rc = store_mailbox_get(t, md->user_id, "INBOX", &mb)) == -1)
		return -1;
	if (rc == 0)
		return err_set(ERR_NOTFOUND, "user %" PRIu32 " has no INBOX",
		    md->user_id);
	md->mailbox_id = mb.id;
	md->uidvalidity = mb.uidvalidity;
	md->uidl_style = mb.pop3_uidl;
	if (store_msg_list(t, mb.id, 1, maildrop_load_msg, lc) == -1)
		return -1;
	return 1;
}

int
pop3_maildrop_load(struct store *st, uint32_t user_id,
    struct pop3_maildrop **r)
{
	struct load_ctx lc;
	struct pop3_maildrop *md;

	md = xcalloc(1, sizeof(*md));
	md->user_id = user_id;
	lc.md = md;
	lc.cap = 0;
	if (store_read(st, maildrop_load_txn, &lc) == -1) {
		pop3_maildrop_free(&md);
		return -1;
	}
	*r = md;
	return 1;
}

void
pop3_maildrop_free(struct pop3_maildrop **p)
{
	if (*p == NULL)
		return;
	free((*p)->msgs);
	free(*p);
	*p = NULL;
}

struct pop3_maildrop_msg *
pop3_maildrop_get(struct pop3_maildrop *md, unsigned long n)
{
	if (n == 0 || n > md->count)
		return NULL;
	return &md->msgs[n - 1];
}

void
pop3_maildrop_stat(const struct pop3_maildrop *md, size_t *count_r,
    uint64_t *bytes_r)
{
	*count_r = md->count - md->ndeleted;
	*bytes_r = md->total_bytes - md->deleted_bytes;
}

int
pop3_maildrop_delete(struct pop3_maildrop *md, unsigned long n)
{
	struct pop3_maildrop_msg *m;

	if ((m = pop3_maildrop_get(md, n)) == NULL || m->deleted)
		return 0;
	m->deleted = 1;
	md->ndeleted++;
	md->deleted_bytes += m->size;
	return 1;
}

void
pop3_maildrop_reset(struct pop3_maildrop *md)
{
	size_t i;

	for (i = 0; i < md->count; i++)
		md->msgs[i].deleted = 0;
	md->ndeleted = 0;
	md->deleted_bytes = 0;
}

void
pop3_maildrop_uidl(const struct pop3_maildrop *md, unsigned long n,
    char *buf, size_t size)
{
	if (n == 0 || n > md->count) {
		snprintf(buf, size, "%s", "");
		return;
	}
	/* Both derive from the UID and UIDVALIDITY, as Dovecot's do. */
	switch (md->uidl_style) {
	case STORE_UIDL_DOVECOT:	/* %08Xu%08Xv */
		snprintf(buf, size, "%08" PRIX32 "%08" PRIX32,
		    md->msgs[n - 1].uid, md->uidvalidity);
		break;
	case STORE_UIDL_COURIER:	/* UID%u-%v */
		snprintf(buf, size, "UID%" PRIu32 "-%" PRIu32,
		    md->msgs[n - 1].uid, md->uidvalidity);
		break;
	default:
		snprintf(buf, size, "%" PRIu32 ".%" PRIu32, md->uidvalidity,
		    md->msgs[n - 1].uid);
		break;
	}
}

static int
maildrop_read_txn(struct store_txn *t, void *arg)
{
	struct read_ctx *rc = arg;

	return store_msg_read_range(t, rc->mailbox_id, rc->uid, rc->off,
	    rc->len, rc->buf, rc->len_r);
}

int
pop3_maildrop_read(struct store *st, const struct pop3_maildrop *md,
    unsigned long n, uint64_t off, void *buf, size_t len, size_t *len_r)
{
	struct read_ctx rc;

	if (n == 0 || n > md->count)
		return 0;
	rc.mailbox_id = md->mailbox_id;
	rc.uid = md->msgs[n - 1].uid;
	rc.off = off;
	rc.buf = buf;
	rc.len = len;
	rc.len_r = len_r;
	*len_r = 0;
	return store_read(st, maildrop_read_txn, &rc);
}

static int
maildrop_expunge_txn(struct store_txn *t, void *arg)
{
	struct expunge_ctx *ec = arg;
	struct pop3_maildrop *md = ec->md;
	size_t i;
	int rc;

	ec->n = 0;
	for (i = 0; i < md->count; i++) {
		if (!md->msgs[i].deleted)
			continue;
		rc = store_msg_expunge(t, md->mailbox_id, md->msgs[i].uid);
		if (rc == -1)
			return -1;
		if (rc == 1)
			ec->n++;
	}
	return 1;
}

int
pop3_maildrop_expunge(struct store *st, struct pop3_maildrop *md,
    unsigned *n_r)
{
	struct expunge_ctx ec;

	*n_r = 0;
	if (md->ndeleted == 0)
		return 1;
	ec.md = md;
	ec.n = 0;
	if (store_write(st, maildrop_expunge_txn, &ec) == -1)
		return -1;
	*n_r = ec.n;
	return 1;
}
