/*
 * cmd_append.c - APPEND (MULTIAPPEND), COPY and MOVE.
 *
 * APPEND: every message of the command is spooled as it arrives (in
 * memory up to IMAP_APPEND_MEMORY, and while the process holds less than
 * IMAP_APPEND_MEMORY_ALL in all; then the whole command goes on in an
 * unlinked file in data_dir, as smtpd spools DATA), prepared (cut,
 * hashed, compressed) outside any write transaction, then appended in
 * one durable write transaction: all of them or none (RFC 3502).  A
 * message over APPENDLIMIT (RFC 7889: the SMTP max_message_size of
 * [smtpd]), an empty one, or an APPEND to a mailbox that does not exist
 * is refused before "+" for a synchronising literal; a non-synchronising
 * literal is read and thrown away first.
 *
 * COPY and MOVE change rows only (store_msg_copy(): no bytes are
 * copied), all messages in one write transaction.  A message of the set
 * that another session expunged makes the whole COPY fail with
 * NO [EXPUNGEISSUED] (RFC 2180 4.4.1).  MOVE into the selected mailbox
 * itself is refused (NO [CANNOT]): the store has no such move.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/tmpfile.h"
#include "common/xmalloc.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/store.h"
#include "imapd/imapd.h"

/* Bytes of one APPEND kept in memory; past this they go to a file. */
#define IMAP_APPEND_MEMORY	(1024 * 1024)
/*
 * Bytes of all APPENDs of this process kept in memory: past this a new
 * piece goes to a file too, so many clients appending at once cannot
 * exhaust memory.
 */
#define IMAP_APPEND_MEMORY_ALL	(64 * 1024 * 1024)
/* Messages in one MULTIAPPEND. */
#define IMAP_APPEND_MSGS_MAX	1000
/*
 * Bytes in one MULTIAPPEND (the prepared messages are held in memory
 * until the commit): at least one message of APPENDLIMIT always fits.
 */
#define IMAP_APPEND_TOTAL_MAX	(256ULL * 1024 * 1024)

struct append_msg {
	uint64_t	off, len;
	uint32_t	flags;
	char		keywords[STORE_KEYWORDS_MAX + 1];
	int64_t		date;
};

struct append_state {
	char			 name[STORE_MAILBOX_NAME_MAX + 1];
	uint32_t		 mailbox_id;
	struct append_msg	*msgs;
	size_t			 nmsgs, cap;
	/* the spool: memory, then a file */
	char			*mem;
	size_t			 memlen, memcap;
	int			 fd;
	uint64_t		 total;
	/* the last message came as UTF8 (~{N}): its line starts ")" */
	int			 utf8_open;
	/* the refusal, once one is due: code and text of the NO */
	int			 failed;
	char			 fcode[32];
	char			 ftext[200];
};

static void	append_free(void *);
static void	append_mem_free(struct append_state *);
static void	append_line(struct imap_session *, char *, size_t, void *);

/* Memory held by the spools of this process (IMAP_APPEND_MEMORY_ALL). */
static size_t append_inflight;

/* The APPENDLIMIT: what SMTP accepts (RFC 7889 advises the same). */
static uint64_t
append_limit(struct imap_session *s)
{
	uint64_t lim = s->srv->config->smtpd_max_message_size;

	return lim < STORE_MSG_MAX ? lim : STORE_MSG_MAX;
}

static void
append_free(void *arg)
{
	struct append_state *st = arg;

	if (st == NULL)
		return;
	free(st->msgs);
	append_mem_free(st);
	if (st->fd != -1)
		close(st->fd);
	free(st);
}

static void
append_mem_free(struct append_state *st)
{
	free(st->mem);
	append_inflight -= st->memcap;
	st->mem = NULL;
	st->memlen = st->memcap = 0;
}

static void
append_fail(struct append_state *st, const char *code, const char *text)
{
	if (st->failed)
		return;
	st->failed = 1;
	snprintf(st->fcode, sizeof(st->fcode), "%s", code != NULL ? code : "");
	snprintf(st->ftext, sizeof(st->ftext), "%s", text);
}

/* Ends the command with the refusal (the state is freed). */
static void
append_answer_fail(struct imap_session *s, struct append_state *st)
{
	imap_no(s, st->fcode[0] != '\0' ? st->fcode : NULL, "%s", st->ftext);
	append_free(st);
}

/* Spooling --------------------------------------------------------- */

static int
append_spool_write(struct append_state *st, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(st->fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Moves the spool from memory into an unlinked file in data_dir. */
static int
append_spool_open(struct imap_session *s, struct append_state *st)
{
	const char *dir = s->srv->config->data_dir;
	int fd;

	if ((fd = tmpfile_open(dir, "imapd-append.XXXXXX")) == -1) {
		log_warn("conn %lu: cannot make a spool file in %s", s->id,
		    dir);
		return -1;
	}
	st->fd = fd;
	if (append_spool_write(st, st->mem, st->memlen) == -1) {
		log_warn("conn %lu: writing the APPEND spool file", s->id);
		return -1;
	}
	append_mem_free(st);
	return 0;
}

static void
append_data(struct imap_session *s, const char *p, size_t n, void *arg)
{
	struct append_state *st = arg;
	size_t cap;

	if (st->failed)
		return;
	/* the room memory would need: the buffer doubles */
	for (cap = st->memcap; cap < st->memlen + n; cap = cap < 4096 ? 4096 :
	    cap * 2)
		;
	if (cap > IMAP_APPEND_MEMORY)
		cap = IMAP_APPEND_MEMORY;
	if (st->fd == -1 && (st->memlen + n > IMAP_APPEND_MEMORY ||
	    append_inflight + (cap - st->memcap) > IMAP_APPEND_MEMORY_ALL) &&
	    append_spool_open(s, st) == -1) {
		append_fail(st, "SERVERBUG", "Cannot spool the message.");
		return;
	}
	if (st->fd != -1) {
		if (append_spool_write(st, p, n) == -1) {
			log_warn("conn %lu: writing the APPEND spool file",
			    s->id);
			append_fail(st, "SERVERBUG", "Cannot spool the "
			    "message.");
		}
		return;
	}
	if (cap > st->memcap) {
		st->mem = xreallocarray(st->mem, cap, 1);
		append_inflight += cap - st->memcap;
		st->memcap = cap;
	}
	memcpy(st->mem + st->memlen, p, n);
	st->memlen += n;
}

/* Committing ------------------------------------------------------- */

struct append_txn {
	struct append_state	*st;
	struct store_prepared	**prep;
	uint32_t		*uids;
	uint32_t		 uidvalidity;
	int			 notfound;
};

static int
append_txn(struct store_txn *t, void *arg)
{
	struct append_txn *at = arg;
	struct append_state *st = at->st;
	struct store_mailbox mb;
	size_t i;
	int rc;

	at->notfound = 0;
	if ((rc = store_mailbox_get_by_id(t, st->mailbox_id, &mb)) != 1) {
		if (rc == 0) {
			at->notfound = 1;
			err_set(ERR_NOTFOUND, "Mailbox doesn't exist: %s",
			    st->name);
		}
		return -1;
	}
	at->uidvalidity = mb.uidvalidity;
	for (i = 0; i < st->nmsgs; i++) {
		struct append_msg *m = &st->msgs[i];

		rc = store_msg_append(t, st->mailbox_id, at->prep[i], m->date,
		    m->flags, m->keywords[0] != '\0' ? m->keywords : NULL,
		    STORE_APPEND_QUOTA, &at->uids[i]);
		if (rc != 1)
			/* 0: over quota (NOQUOTA): all or nothing */
			return -1;
	}
	return 0;
}

static void
append_commit(struct imap_session *s, struct append_state *st)
{
	struct append_txn at;
	struct imap_buf code;
	const uint8_t *data;
	void *map = NULL;
	size_t i, maplen = 0;
	int rc = -1;

	memset(&at, 0, sizeof(at));
	at.st = st;
	if (st->fd != -1) {
		maplen = (size_t)st->total;
		map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, st->fd, 0);
		if (map == MAP_FAILED) {
			log_warn("conn %lu: cannot map the APPEND spool",
			    s->id);
			imap_no(s, "SERVERBUG", "Cannot read the spooled "
			    "message.");
			append_free(st);
			return;
		}
		data = map;
	} else
		data = (const uint8_t *)st->mem;
	at.prep = xcalloc(st->nmsgs, sizeof(*at.prep));
	at.uids = xcalloc(st->nmsgs, sizeof(*at.uids));
	/* cut, hash and compress outside the write transaction */
	for (i = 0; i < st->nmsgs; i++)
		if (store_msg_prepare(s->srv->store, data + st->msgs[i].off,
		    (size_t)st->msgs[i].len, &at.prep[i]) == -1)
			break;
	if (i == st->nmsgs)
		rc = store_write(s->srv->store, append_txn, &at);
	if (rc == -1) {
		log_info("conn %lu: APPEND to %s refused: %s", s->id,
		    st->name, err_msg());
		if (at.notfound)
			imap_no(s, "TRYCREATE", "Mailbox doesn't exist: %s",
			    st->name);
		else if (err_class() == ERR_NOQUOTA)
			imap_no(s, "OVERQUOTA", "Quota exceeded (mailbox for "
			    "user is full)");
		else
			imap_no_err(s);
	} else {
		imap_buf_init(&code);
		imap_buf_printf(&code, "APPENDUID %u ", at.uidvalidity);
		imap_buf_uidset(&code, at.uids, st->nmsgs);
		imap_buf_add(&code, "", 1);
		imap_ok(s, code.p, "Append completed.");
		imap_buf_free(&code);
	}
	for (i = 0; i < st->nmsgs; i++)
		store_prepared_free(&at.prep[i]);
	free(at.prep);
	free(at.uids);
	if (map != NULL)
		munmap(map, maplen);
	append_free(st);
}

/* The command ------------------------------------------------------ */

/*
 * One message head parsed: check it, then read its literal (or throw it
 * away, or end the command when a synchronising literal is refused).
 */
static void
append_next(struct imap_session *s, struct append_state *st,
    const struct imap_append_msg *am)
{
	struct append_msg *m;
	uint64_t lim = append_limit(s);
	char text[128];

	st->utf8_open = am->utf8;
	if (!st->failed) {
		if (am->size == 0)
			append_fail(st, NULL, "Can't save a zero byte "
			    "message.");
		else if (am->size > lim) {
			snprintf(text, sizeof(text), "Message size exceeds "
			    "the limit (%" PRIu64 " bytes).", lim);
			append_fail(st, "TOOBIG", text);
		} else if (st->nmsgs >= IMAP_APPEND_MSGS_MAX ||
		    (st->nmsgs > 0 && st->total + am->size >
		    IMAP_APPEND_TOTAL_MAX))
			append_fail(st, "LIMIT", "Too many messages in one "
			    "APPEND.");
	}
	if (st->failed) {
		if (!am->nonsync) {
			/* no "+": the client does not send it */
			append_answer_fail(s, st);
			return;
		}
		imap_read_literal(s, am->size, 1, 1, NULL, append_line,
		    append_free, st);
		return;
	}
	if (st->nmsgs == st->cap) {
		st->cap = st->cap == 0 ? 4 : st->cap * 2;
		st->msgs = xreallocarray(st->msgs, st->cap, sizeof(*st->msgs));
	}
	m = &st->msgs[st->nmsgs++];
	memset(m, 0, sizeof(*m));
	m->off = st->total;
	m->len = am->size;
	st->total += am->size;
	if (am->have_flags) {
		m->flags = am->flags.flags & STORE_F_ALL;
		snprintf(m->keywords, sizeof(m->keywords), "%s",
		    am->flags.keywords);
	}
	m->date = am->have_date ? am->date : 0;
	imap_read_literal(s, am->size, am->nonsync, 0, append_data,
	    append_line, append_free, st);
}

/*
 * The BAD of an APPEND whose line announces a non-synchronising literal
 * (LITERAL+): the client sends that literal whatever the answer (RFC
 * 7888), so it is read and dropped, with any later message of the
 * command, and the BAD goes out once the command is over.  Answering at
 * once would leave the message's bytes to be read as commands.
 */
struct append_skip {
	char	text[200];
};

static void
append_skip_line(struct imap_session *s, char *line, size_t len, void *arg)
{
	struct append_skip *sk = arg;
	uint64_t n;
	int nonsync, binary;

	if (imap_line_literal(line, len, &n, &nonsync, &binary) == 1 &&
	    nonsync) {
		imap_read_literal(s, n, 1, 1, NULL, append_skip_line, free,
		    sk);
		return;
	}
	/* the end, or a synchronising literal: no "+", so nothing follows */
	imap_bad(s, "%s", sk->text);
	free(sk);
}

static void
append_bad(struct imap_session *s, const char *line, size_t len,
    const char *text)
{
	struct append_skip *sk;
	uint64_t n;
	int nonsync, binary;

	if (imap_line_literal(line, len, &n, &nonsync, &binary) != 1 ||
	    !nonsync) {
		imap_bad(s, "%s", text);
		return;
	}
	sk = xcalloc(1, sizeof(*sk));
	snprintf(sk->text, sizeof(sk->text), "%s", text);
	imap_read_literal(s, n, 1, 1, NULL, append_skip_line, free, sk);
}

/* The line after a literal: the next message, or the end. */
static void
append_line(struct imap_session *s, char *line, size_t len, void *arg)
{
	struct append_state *st = arg;
	struct imap_append_msg am;
	struct imap_parser p;
	int rc;

	memset(&am, 0, sizeof(am));
	imap_parser_init(&p, line, len, (s->enabled & IMAP_EN_UTF8) != 0);
	/* RFC 6855 4: "UTF8 (" literal8 ")": the ")" comes first here */
	rc = st->utf8_open ? imap_p_append_utf8_end(&p) : 0;
	st->utf8_open = 0;
	if (rc == 0)
		rc = imap_p_append_msg(&p, &am);
	if (rc == -1) {
		append_free(st);
		append_bad(s, line, len, p.err != NULL ? p.err : "Invalid "
		    "arguments.");
		imap_parser_free(&p);
		return;
	}
	imap_parser_free(&p);
	if (rc == 0) {
		append_next(s, st, &am);
		return;
	}
	if (st->failed)
		append_answer_fail(s, st);
	else
		append_commit(s, st);
}

struct lookup_txn {
	uint32_t	 user_id;
	const char	*name;
	uint32_t	 id;
};

static int
lookup_txn(struct store_txn *t, void *arg)
{
	struct lookup_txn *lt = arg;
	struct store_mailbox mb;
	int rc;

	if ((rc = store_mailbox_get(t, lt->user_id, lt->name, &mb)) != 1)
		return rc;
	lt->id = mb.id;
	return 1;
}

void
imap_cmd_append(struct imap_session *s, struct imap_cmd *cmd)
{
	struct append_state *st;
	struct imap_append_msg am;
	struct imap_str mbox;
	struct lookup_txn lt;
	int rc;

	memset(&am, 0, sizeof(am));
	if (imap_p_sp(&cmd->p) == -1 || imap_p_astring(&cmd->p, &mbox) == -1 ||
	    (rc = imap_p_append_msg(&cmd->p, &am)) == -1) {
		append_bad(s, cmd->p.buf, cmd->p.len, cmd->p.err != NULL ?
		    cmd->p.err : "Invalid arguments.");
		return;
	}
	if (rc == 1) {
		imap_bad(s, "APPEND needs a message.");
		return;
	}
	st = xcalloc(1, sizeof(*st));
	st->fd = -1;
	if (imap_mailbox_name(s, &mbox, st->name, sizeof(st->name)) == -1)
		append_fail(st, imap_err_code(err_class()), err_msg());
	else {
		lt.user_id = s->user_id;
		lt.name = st->name;
		lt.id = 0;
		rc = store_read(s->srv->store, lookup_txn, &lt);
		if (rc == -1) {
			log_warnx("conn %lu: APPEND: %s", s->id, err_msg());
			append_fail(st, imap_err_code(err_class()),
			    err_msg());
		} else if (rc == 0)
			append_fail(st, "TRYCREATE", "Mailbox doesn't "
			    "exist.");
		else
			st->mailbox_id = lt.id;
	}
	append_next(s, st, &am);
}

/* COPY, MOVE ------------------------------------------------------- */

struct copy_ctx {
	struct imap_session	*s;
	const char		*name;
	int			 move;
	const uint32_t		*uids;
	size_t			 n;
	uint32_t		*dst;
	uint32_t		 uidvalidity;
	int			 why;	/* COPY_* */
};
#define COPY_NOTFOUND	1
#define COPY_EXPUNGED	2
#define COPY_SAME	3

static int
copy_txn(struct store_txn *t, void *arg)
{
	struct copy_ctx *cc = arg;
	uint32_t src = cc->s->view->mailbox_id;
	struct store_mailbox mb;
	size_t i;
	int rc;

	cc->why = 0;
	if ((rc = store_mailbox_get(t, cc->s->user_id, cc->name, &mb)) != 1) {
		if (rc == 0)
			cc->why = COPY_NOTFOUND;
		return -1;
	}
	if (cc->move && mb.id == src) {
		cc->why = COPY_SAME;
		return -1;
	}
	cc->uidvalidity = mb.uidvalidity;
	for (i = 0; i < cc->n; i++) {
		if (cc->move)
			rc = store_msg_move(t, src, cc->uids[i], mb.id,
			    &cc->dst[i]);
		else
			rc = store_msg_copy(t, src, cc->uids[i], mb.id,
			    STORE_APPEND_QUOTA, &cc->dst[i]);
		if (rc == 0)
			cc->why = COPY_EXPUNGED;
		if (rc != 1)
			return -1;
	}
	return 0;
}

static void
copy_run(struct imap_session *s, struct imap_cmd *cmd, int move)
{
	struct imap_view *v = s->view;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	struct imap_seqset set;
	struct imap_str mbox;
	struct imap_buf code;
	struct copy_ctx cc;
	uint32_t *uids = NULL;
	size_t i, n = 0;

	if (imap_p_sp(&cmd->p) == -1 || imap_p_seqset(&cmd->p, &set) == -1 ||
	    imap_p_sp(&cmd->p) == -1 || imap_p_astring(&cmd->p, &mbox) == -1 ||
	    imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "%s", cmd->p.err != NULL ? cmd->p.err :
		    "Invalid arguments.");
		return;
	}
	if (move && v->readonly) {
		imap_no(s, NULL, "Mailbox is read-only.");
		return;
	}
	if (imap_mailbox_name(s, &mbox, name, sizeof(name)) == -1) {
		imap_no_err(s);
		return;
	}
	if (imap_view_resolve(v, &set, cmd->uid, &uids, &n) == -1) {
		imap_bad(s, "%s", err_msg());
		return;
	}
	for (i = 0; i < n; i++)
		if (imap_view_is_gone(v, uids[i])) {
			imap_no(s, "EXPUNGEISSUED", "Some of the requested "
			    "messages no longer exist.");
			free(uids);
			return;
		}
	memset(&cc, 0, sizeof(cc));
	cc.s = s;
	cc.name = name;
	cc.move = move;
	cc.uids = uids;
	cc.n = n;
	cc.dst = xcalloc(n + 1, sizeof(*cc.dst));
	if (store_write(s->srv->store, copy_txn, &cc) == -1) {
		log_info("conn %lu: %s to %s refused: %s", s->id,
		    move ? "MOVE" : "COPY", name, cc.why ? "see reply" :
		    err_msg());
		if (cc.why == COPY_NOTFOUND)
			imap_no(s, "TRYCREATE", "Mailbox doesn't exist: %s",
			    name);
		else if (cc.why == COPY_EXPUNGED)
			imap_no(s, "EXPUNGEISSUED", "Some of the requested "
			    "messages no longer exist.");
		else if (cc.why == COPY_SAME)
			imap_no(s, "CANNOT", "Can't move to the same "
			    "mailbox.");
		else if (err_class() == ERR_NOQUOTA)
			imap_no(s, "OVERQUOTA", "Quota exceeded (mailbox for "
			    "user is full)");
		else
			imap_no_err(s);
		goto out;
	}
	if (n == 0) {
		imap_ok(s, NULL, "No messages found.");
		goto out;
	}
	imap_buf_init(&code);
	imap_buf_printf(&code, "COPYUID %u ", cc.uidvalidity);
	imap_buf_uidset(&code, uids, n);
	imap_buf_adds(&code, " ");
	imap_buf_uidset(&code, cc.dst, n);
	if (move) {
		/* RFC 6851 3.3: COPYUID first, then the expunges */
		imap_untagged(s, "OK [%.*s] Moved UIDs.", (int)code.len,
		    code.p);
		imap_ok(s, NULL, "Move completed.");
	} else {
		imap_buf_add(&code, "", 1);
		imap_ok(s, code.p, "Copy completed.");
	}
	imap_buf_free(&code);
out:
	free(uids);
	free(cc.dst);
}

void
imap_cmd_copy(struct imap_session *s, struct imap_cmd *cmd)
{
	copy_run(s, cmd, 0);
}

void
imap_cmd_move(struct imap_session *s, struct imap_cmd *cmd)
{
	copy_run(s, cmd, 1);
}
