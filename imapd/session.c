/*
 * session.c - one IMAP connection: command assembly, the state machine
 * and command table, replies, yield/resume, literals for APPEND, the
 * IDLE fan-out, STARTTLS and COMPRESS hooks.
 *
 * Lines come from the conn one at a time.  A command is assembled in
 * core->buf exactly as parse.h wants it: the line, and for each literal
 * it announces, CRLF, the literal's bytes (read with conn_read_bytes())
 * and the next line.  Every size is checked against its limit before
 * anything is allocated for it: a literal's announced size never is
 * (the buffer grows with the bytes that really come).  Before login,
 * literals are small (IMAP_LITERAL_PREAUTH_MAX) and non-synchronising
 * ones follow LITERAL- (RFC 7888): over IMAP_LITERAL_MINUS_MAX they
 * cannot be skipped, so the connection closes.
 *
 * A command that does not finish inside its handler (a password check,
 * a yield, an APPEND literal on its way) holds the input: the conn is
 * paused, so pipelined commands wait in its buffer, except while the
 * session itself wants input (literal bytes, the line after an APPEND
 * literal, AUTHENTICATE responses, IDLE's DONE).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sessreg.h"
#include "common/xmalloc.h"
#include "imapd/core.h"
#include "imapd/imapd.h"

struct imap_command {
	const char	*verb;
	unsigned	 states;
	imap_cmd_fn	*fn;
	unsigned	 flags;		/* IMAP_CF_* */
};

#define S_N	IMAP_S_NOTAUTH
#define S_A	IMAP_S_AUTH
#define S_S	IMAP_S_SELECTED
#define S_ANY	(S_N | S_A | S_S)
#define S_LOG	(S_A | S_S)
#define CF_U	IMAP_CF_UID
#define CF_S	IMAP_CF_SEQ

/* The autologout after login, IDLE included ([limits] imap_idle_timeout). */
unsigned imap_session_idle_timeout = IMAP_IDLE_TIMEOUT;

static const struct imap_command imap_commands[] = {
	/* any state (cmd_auth.c) */
	{ "CAPABILITY",	S_ANY,	imap_cmd_capability,	0 },
	{ "NOOP",	S_ANY,	imap_cmd_noop,		0 },
	{ "LOGOUT",	S_ANY,	imap_cmd_logout,	0 },
	{ "ID",		S_ANY,	imap_cmd_id,		0 },
	/* not authenticated */
	{ "STARTTLS",	S_N,	imap_cmd_starttls,	0 },
	{ "LOGIN",	S_N,	imap_cmd_login,		0 },
	{ "AUTHENTICATE", S_N,	imap_cmd_authenticate,	0 },
	/* authenticated */
	{ "ENABLE",	S_LOG,	imap_cmd_enable,	0 },
	{ "COMPRESS",	S_LOG,	imap_cmd_compress,	0 },
	{ "IDLE",	S_LOG,	imap_cmd_idle,		0 },
	{ "SELECT",	S_LOG,	imap_cmd_select,	0 },
	{ "EXAMINE",	S_LOG,	imap_cmd_select,	0 },
	{ "LIST",	S_LOG,	imap_cmd_list,		0 },
	{ "LSUB",	S_LOG,	imap_cmd_lsub,		0 },
	{ "CREATE",	S_LOG,	imap_cmd_create,	0 },
	{ "DELETE",	S_LOG,	imap_cmd_delete,	0 },
	{ "RENAME",	S_LOG,	imap_cmd_rename,	0 },
	{ "SUBSCRIBE",	S_LOG,	imap_cmd_subscribe,	0 },
	{ "UNSUBSCRIBE", S_LOG,	imap_cmd_subscribe,	0 },
	{ "STATUS",	S_LOG,	imap_cmd_status,	0 },
	{ "NAMESPACE",	S_LOG,	imap_cmd_namespace,	0 },
	{ "GETQUOTA",	S_LOG,	imap_cmd_getquota,	0 },
	{ "GETQUOTAROOT", S_LOG, imap_cmd_getquotaroot,	0 },
	{ "SETQUOTA",	S_LOG,	imap_cmd_setquota,	0 },
	{ "APPEND",	S_LOG,	imap_cmd_append,	0 },
	/* selected */
	{ "CLOSE",	S_S,	imap_cmd_close,		0 },
	{ "UNSELECT",	S_S,	imap_cmd_unselect,	0 },
	{ "CHECK",	S_S,	imap_cmd_check,		0 },
	{ "EXPUNGE",	S_S,	imap_cmd_expunge,	CF_U },
	{ "FETCH",	S_S,	imap_cmd_fetch,	CF_U | CF_S },
	{ "STORE",	S_S,	imap_cmd_store,	CF_U | CF_S },
	{ "SEARCH",	S_S,	imap_cmd_search,	CF_U | CF_S },
	{ "SORT",	S_S,	imap_cmd_sort,	CF_U | CF_S },
	{ "THREAD",	S_S,	imap_cmd_thread,	CF_U | CF_S },
	{ "COPY",	S_S,	imap_cmd_copy,		CF_U },
	{ "MOVE",	S_S,	imap_cmd_move,		CF_U },
};

static void	session_enter_state(struct imap_session *,
		    enum imap_state);
static const char *session_state_name(enum imap_state);
static void	session_cmd_line(struct imap_session *, const char *,
		    size_t);
static void	session_dispatch(struct imap_session *);
static int	session_is_append(struct imap_session *);
static void	session_reset_cmd(struct imap_session *);
static void	session_buf_add(struct imap_core *, const void *, size_t);
static void	session_guess_tag(const char *, size_t, char *, size_t);
static void	session_refuse_literal(struct imap_session *, const char *,
		    uint64_t, int, const char *);
static void	session_finish(struct imap_session *);
static void	session_abort_cmd(struct imap_session *, const char *);
static void	session_hold(struct imap_session *);
static void	session_tagged(struct imap_session *, const char *,
		    const char *, const char *, const char *, va_list)
		    __attribute__((format(printf, 5, 0)));
static void	session_count_bad(struct imap_session *);
static void	session_done(struct imap_session *, const char *, const char *,
		    const char *, const char *, va_list)
		    __attribute__((format(printf, 5, 0)));
static void	session_free_states(struct imap_session *);
static void	session_yield_cb(evutil_socket_t, short, void *);
static void	session_resume(struct imap_session *);

static void	session_on_line(struct conn *, const char *, size_t);
static void	session_on_toolong(struct conn *);
static void	session_on_drain(struct conn *);
static void	session_on_timeout(struct conn *);
static void	session_on_shutdown(struct conn *);
static void	session_on_close(struct conn *);
static void	session_on_bytes(struct conn *, const char *, size_t, int);

static const struct conn_ops session_ops = {
	.on_line = session_on_line,
	.on_toolong = session_on_toolong,
	.on_drain = session_on_drain,
	.on_timeout = session_on_timeout,
	.on_shutdown = session_on_shutdown,
	.on_close = session_on_close,
	.on_bytes = session_on_bytes,
};

/* States ---------------------------------------------------------------- */

static const char *
session_state_name(enum imap_state st)
{
	switch (st) {
	case IMAP_NOTAUTH:
		return "NOTAUTH";
	case IMAP_AUTH:
		return "AUTH";
	case IMAP_SELECTED:
		return "SELECTED";
	case IMAP_LOGOUT:
		return "LOGOUT";
	}
	return "?";
}

static void
session_enter_state(struct imap_session *s, enum imap_state st)
{
	if (s->state == st)
		return;
	log_debug("conn %lu: %s -> %s", s->id, session_state_name(s->state),
	    session_state_name(st));
	s->state = st;
}

/* The view (view.c) moves between AUTH and SELECTED through this. */
void
imap_session_set_selected(struct imap_session *s, int selected)
{
	if (s->state == IMAP_AUTH || s->state == IMAP_SELECTED)
		session_enter_state(s, selected ? IMAP_SELECTED : IMAP_AUTH);
}

void
imap_session_logged_in(struct imap_session *s)
{
	session_enter_state(s, IMAP_AUTH);
	imap_core(s)->bad_cmds = 0;
	conn_authenticated(s->conn);
	/* RFC 3501 5.4: the autologout timer is at least 30 minutes. */
	conn_set_idle_timeout(s->conn, imap_session_idle_timeout);
	s->reg = sessreg_add(s->conn, "imap", s->user);
}

void
imap_session_close(struct imap_session *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	conn_close(s->conn);
}

/* Output ---------------------------------------------------------------- */

void
imap_write(struct imap_session *s, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (conn_write(s->conn, data, len) == -1)
		log_debug("conn %lu: write: %s", s->id, err_msg());
}

void
imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	char small[512], *big = NULL, *p = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small + 2, sizeof(small) - 4, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small) - 4) {
		big = xmalloc((size_t)n + 5);
		va_start(ap, fmt);
		vsnprintf(big + 2, (size_t)n + 1, fmt, ap);
		va_end(ap);
		p = big;
	}
	p[0] = '*';
	p[1] = ' ';
	p[n + 2] = '\r';
	p[n + 3] = '\n';
	imap_write(s, p, (size_t)n + 4);
	free(big);
}

size_t
imap_pending(struct imap_session *s)
{
	return conn_out_pending(s->conn);
}

void
imap_tagged_raw(struct imap_session *s, const char *tag, const char *fmt,
    ...)
{
	struct imap_buf b;
	va_list ap;

	imap_buf_init(&b);
	imap_buf_adds(&b, tag);
	imap_buf_adds(&b, " ");
	va_start(ap, fmt);
	imap_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	imap_buf_adds(&b, "\r\n");
	imap_write(s, b.p, b.len);
	imap_buf_free(&b);
}

/*
 * "tag WHAT [code] text": text is written without control characters
 * (error messages may quote what a client or an admin wrote).
 */
static void
session_tagged(struct imap_session *s, const char *tag, const char *what,
    const char *code, const char *fmt, va_list ap)
{
	struct imap_buf b;
	size_t start, i;

	imap_buf_init(&b);
	imap_buf_printf(&b, "%s %s ", tag, what);
	if (code != NULL && code[0] != '\0')
		imap_buf_printf(&b, "[%s] ", code);
	start = b.len;
	imap_buf_vprintf(&b, fmt, ap);
	for (i = start; i < b.len; i++)
		if ((unsigned char)b.p[i] < 0x20 || b.p[i] == 0x7f)
			b.p[i] = ' ';
	imap_buf_adds(&b, "\r\n");
	imap_write(s, b.p, b.len);
	imap_buf_free(&b);
}

/* Finishing a command ----------------------------------------------------- */

static const char *
session_tag(struct imap_session *s)
{
	return imap_core(s)->cmd.tag[0] != '\0' ? imap_core(s)->cmd.tag : "*";
}

/* Brings the view up to date at the end of a command (RFC 3501 7.4.1). */
static int
session_sync(struct imap_session *s)
{
	struct imap_core *core = s->core;
	int expunges;

	if (s->view == NULL || s->state != IMAP_SELECTED)
		return 0;
	expunges = !(core->cmd_flags & IMAP_CF_SEQ) || core->cmd.uid;
	if (imap_view_sync(s, expunges) == -1) {
		log_info("conn %lu: user %s mailbox %s: %s", s->id, s->user,
		    s->view->name, err_msg());
		if (err_class() == ERR_NOTFOUND)
			imap_untagged(s, "BYE Selected mailbox was deleted, "
			    "have to disconnect.");
		else
			imap_untagged(s, "BYE Internal error occurred. "
			    "Refer to server log for more information.");
		return -1;
	}
	return 0;
}

/*
 * The tagged OK or NO (status) that ends the running command, after the
 * view is synced; fn names the caller in the log when there is none.
 */
static void
session_done(struct imap_session *s, const char *fn, const char *status,
    const char *code, const char *fmt, va_list ap)
{
	if (!imap_core(s)->running) {
		log_warnx("conn %lu: %s without a command", s->id, fn);
		return;
	}
	if (session_sync(s) == -1) {
		session_finish(s);
		imap_session_close(s);
		return;
	}
	session_tagged(s, session_tag(s), status, code, fmt, ap);
	imap_core(s)->bad_cmds = 0;
	session_finish(s);
}

void
imap_ok(struct imap_session *s, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_done(s, "imap_ok", "OK", code, fmt, ap);
	va_end(ap);
}

void
imap_no(struct imap_session *s, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_done(s, "imap_no", "NO", code, fmt, ap);
	va_end(ap);
}

void
imap_bad(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	if (!imap_core(s)->running) {
		log_warnx("conn %lu: imap_bad without a command", s->id);
		return;
	}
	va_start(ap, fmt);
	session_tagged(s, session_tag(s), "BAD", NULL, fmt, ap);
	va_end(ap);
	session_finish(s);
	session_count_bad(s);
}

void
imap_no_err(struct imap_session *s)
{
	enum err_class ec = err_class();

	imap_no(s, imap_err_code(ec), "%s", ec == ERR_NONE ?
	    "Internal error" : err_msg());
}

/* The one place where error classes become IMAP response codes. */
const char *
imap_err_code(enum err_class ec)
{
	switch (ec) {
	case ERR_NOQUOTA:
		return "OVERQUOTA";
	case ERR_TOOBIG:
		return "TOOBIG";
	case ERR_NOTFOUND:
		return "NONEXISTENT";
	case ERR_EXISTS:
		return "ALREADYEXISTS";
	case ERR_LIMIT:
		return "LIMIT";
	case ERR_INUSE:
		return "INUSE";
	case ERR_PERM:
		return "NOPERM";
	case ERR_INVALID:
		return "CANNOT";
	case ERR_CORRUPT:
		return "CORRUPTION";
	case ERR_TEMP:
	case ERR_NONE:
		break;
	}
	return "UNAVAILABLE";
}

/* A BAD reply: too many in a row end the session. */
static void
session_count_bad(struct imap_session *s)
{
	if (++imap_core(s)->bad_cmds < IMAP_BAD_CMDS_MAX || s->closing)
		return;
	log_info("conn %lu: %u bad commands in a row, closing", s->id,
	    imap_core(s)->bad_cmds);
	imap_untagged(s, "BYE Too many invalid IMAP commands.");
	imap_session_close(s);
}

/* The tagged reply is out. */
static void
session_finish(struct imap_session *s)
{
	struct imap_core *core = s->core;

	core->running = 0;
	core->mode = IMAP_MODE_CMD;
	/* What a handler kept for later is its own to free by now. */
	core->y_fn = NULL;
	core->y_free = NULL;
	core->y_state = NULL;
	core->al_active = 0;
	core->al_data = NULL;
	core->al_line = NULL;
	core->al_free = NULL;
	core->al_state = NULL;
	s->cmd = NULL;
	imap_parser_free(&core->cmd.p);
	session_reset_cmd(s);
	imap_session_cmd_done(s);
	/* The APPEND is over: a shutdown may end the session now. */
	if (core->held) {
		core->held = 0;
		if (!s->closing)
			conn_idle(s->conn);
	}
}

void
imap_session_cmd_done(struct imap_session *s)
{
	struct imap_core *core = s->core;

	if (core->paused) {
		core->paused = 0;
		conn_resume(s->conn);
	}
}

/* A command the session itself ends (bad input in its middle). */
static void
session_abort_cmd(struct imap_session *s, const char *msg)
{
	session_free_states(s);
	if (imap_core(s)->mode == IMAP_MODE_IDLE)
		imap_session_idle_stop(s);
	imap_bad(s, "%s", msg);
}

/* Calls the free functions of a yield or literal the command holds. */
static void
session_free_states(struct imap_session *s)
{
	struct imap_core *core = s->core;
	void (*fr)(void *);
	void *st;

	if ((fr = core->y_free) != NULL) {
		st = core->y_state;
		core->y_free = NULL;
		core->y_fn = NULL;
		core->y_state = NULL;
		fr(st);
	}
	if ((fr = core->al_free) != NULL) {
		st = core->al_state;
		core->al_free = NULL;
		core->al_state = NULL;
		if (st != NULL)
			fr(st);
	}
	core->y_fn = NULL;
	core->al_data = NULL;
	core->al_line = NULL;
	core->al_active = 0;
}

/* After a handler returned: hold the input unless the session reads. */
static void
session_hold(struct imap_session *s)
{
	struct imap_core *core = s->core;

	if (!core->running || s->closing || core->paused)
		return;
	if (core->mode != IMAP_MODE_CMD || core->al_active)
		return;
	core->paused = 1;
	conn_pause(s->conn);
}

/* Yield and literals ------------------------------------------------------ */

void
imap_yield(struct imap_session *s, imap_resume_fn *fn, void (*fr)(void *),
    void *state)
{
	struct imap_core *core = s->core;
	struct timeval tv = { 0, 0 };

	core->y_fn = fn;
	core->y_free = fr;
	core->y_state = state;
	if (core->y_ev == NULL &&
	    (core->y_ev = evtimer_new(conn_base(), session_yield_cb, s)) ==
	    NULL)
		fatalx("imap: evtimer_new failed");
	if (imap_pending(s) <= CONN_OUT_LOW)
		evtimer_add(core->y_ev, &tv);
	session_hold(s);
}

static void
session_yield_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_resume(arg);
}

static void
session_resume(struct imap_session *s)
{
	struct imap_core *core = s->core;
	imap_resume_fn *fn = core->y_fn;
	void *state = core->y_state;

	if (fn == NULL || s->closing)
		return;
	if (core->y_ev != NULL)
		evtimer_del(core->y_ev);
	core->y_fn = NULL;
	core->y_free = NULL;
	core->y_state = NULL;
	fn(s, state);
	session_hold(s);
}

void
imap_read_literal(struct imap_session *s, uint64_t size, int nonsync,
    int discard, imap_data_fn *on_data, imap_line_fn *on_line,
    void (*fr)(void *), void *state)
{
	struct imap_core *core = s->core;

	core->al_data = on_data;
	core->al_line = on_line;
	core->al_free = fr;
	core->al_state = state;
	core->al_discard = discard;
	if (!nonsync)
		imap_write(s, "+ Ready for literal data\r\n", 26);
	if (size > 0) {
		core->al_active = 1;
		core->mode = IMAP_MODE_CMD;
		conn_read_bytes(s->conn, (size_t)size);
	} else
		core->mode = IMAP_MODE_APPEND;
	if (core->paused) {
		core->paused = 0;
		conn_resume(s->conn);
	}
	/*
	 * Until the command ends, the conn is not idle between the message
	 * bytes and the lines after them: a shutdown waits for the APPEND
	 * instead of cutting it between its literal and its end.
	 */
	core->held = 1;
	conn_busy(s->conn);
}

/* Command assembly -------------------------------------------------------- */

static void
session_buf_add(struct imap_core *core, const void *data, size_t len)
{
	size_t want = core->len + len + 1;

	if (want > core->cap) {
		size_t cap = core->cap != 0 ? core->cap : 1024;

		while (cap < want)
			cap *= 2;
		core->buf = xreallocarray(core->buf, 1, cap);
		core->cap = cap;
	}
	memcpy(core->buf + core->len, data, len);
	core->len += len;
	core->buf[core->len] = '\0';
}

static void
session_reset_cmd(struct imap_session *s)
{
	struct imap_core *core = s->core;

	/* Before login, commands hold passwords. */
	if ((s->state == IMAP_NOTAUTH || strcmp(core->cmd.verb, "LOGIN") ==
	    0) && core->len > 0)
		explicit_bzero(core->buf, core->len);
	core->len = 0;
	core->nlit = 0;
	core->in_literal = 0;
	core->lit_drop = 0;
	core->lit_drop_close = 0;
	core->drop_msg = NULL;
	/* A big command's memory goes back. */
	if (core->cap > 64 * 1024) {
		free(core->buf);
		core->buf = NULL;
		core->cap = 0;
	}
}

/* The tag of a command that cannot be parsed: its first word, if sane. */
static void
session_guess_tag(const char *p, size_t len, char *tag, size_t size)
{
	size_t i;

	for (i = 0; i < len && i + 1 < size; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\+", ch))
			break;
		tag[i] = (char)ch;
	}
	if (i == 0 || (i < len && p[i] != ' ')) {
		snprintf(tag, size, "*");
		return;
	}
	tag[i] = '\0';
}

/* A command the session answers BAD before any handler runs. */
static void
session_bad_line(struct imap_session *s, const char *tag, const char *msg)
{
	struct imap_core *core = s->core;

	static char empty[1];

	core->running = 1;
	snprintf(core->cmd.tag, sizeof(core->cmd.tag), "%s", tag);
	imap_parser_init(&core->cmd.p, empty, 0, 0);
	imap_bad(s, "%s", msg);
}

/*
 * A literal that cannot be taken (too large, too many).  A synchronising
 * one was not sent yet: refuse the command now.  A non-synchronising one
 * is on its way: drop it (and the rest of the command), then refuse; or,
 * before login past LITERAL-'s limit, refuse and close.
 */
static void
session_refuse_literal(struct imap_session *s, const char *tag, uint64_t n,
    int nonsync, const char *msg)
{
	struct imap_core *core = s->core;

	log_info("conn %lu: literal of %" PRIu64 " bytes refused: %s",
	    s->id, n, msg);
	if (!nonsync) {
		session_bad_line(s, tag, msg);
		return;
	}
	if (s->state == IMAP_NOTAUTH && n > IMAP_LITERAL_MINUS_MAX) {
		session_bad_line(s, tag, msg);
		if (!s->closing) {
			imap_untagged(s, "BYE Non-synchronizing literal too "
			    "large before login.");
			imap_session_close(s);
		}
		return;
	}
	core->lit_drop = 1;
	snprintf(core->drop_tag, sizeof(core->drop_tag), "%s", tag);
	core->drop_msg = msg;
	if (n > 0)
		conn_read_bytes(s->conn, (size_t)n);
}

static void
session_cmd_line(struct imap_session *s, const char *line, size_t len)
{
	struct imap_core *core = s->core;
	char tag[IMAP_TAG_MAX + 1];
	uint64_t n, limit;
	size_t cmd_max;
	int nonsync, binary, r;

	cmd_max = s->state == IMAP_NOTAUTH ? IMAP_PREAUTH_CMD_MAX :
	    IMAP_CMD_MAX;
	r = imap_line_literal(line, len, &n, &nonsync, &binary);
	if (!core->lit_drop && core->len + len > cmd_max) {
		/* A literal this line announces is skipped with it. */
		session_guess_tag(core->len > 0 ? core->buf : line,
		    core->len > 0 ? core->len : len, tag, sizeof(tag));
		session_refuse_literal(s, tag, r == 1 ? n : 0, r == 1 &&
		    nonsync, "[TOOBIG] Command too long.");
		return;
	}
	if (!core->lit_drop)
		session_buf_add(core, line, len);
	if (core->lit_drop) {
		/* The rest of a refused command: skip it, with its
		 * non-synchronising literals. */
		if (r == 1 && nonsync) {
			if (n > 0)
				conn_read_bytes(s->conn, (size_t)n);
			return;
		}
		core->lit_drop = 0;
		session_bad_line(s, core->drop_tag, core->drop_msg);
		return;
	}
	session_guess_tag(core->buf, core->len, tag, sizeof(tag));
	if (r == -1) {
		session_bad_line(s, tag, "Invalid literal size.");
		return;
	}
	if (r == 0) {
		session_dispatch(s);
		return;
	}
	/* APPEND's message literals go to its handler, not in here. */
	if (session_is_append(s)) {
		session_dispatch(s);
		return;
	}
	if (++core->nlit > IMAP_LITERALS_MAX) {
		session_refuse_literal(s, tag, n, nonsync,
		    "[LIMIT] Too many literals in one command.");
		return;
	}
	limit = cmd_max - core->len;
	if (s->state == IMAP_NOTAUTH && limit > IMAP_LITERAL_PREAUTH_MAX)
		limit = IMAP_LITERAL_PREAUTH_MAX;
	if (n > limit) {
		session_refuse_literal(s, tag, n, nonsync, s->state ==
		    IMAP_NOTAUTH ? "[TOOBIG] Literal too large before login." :
		    "[TOOBIG] Literal too large.");
		return;
	}
	session_buf_add(core, "\r\n", 2);
	if (!nonsync)
		imap_write(s, "+ Ready for literal data\r\n", 26);
	if (n > 0) {
		core->in_literal = 1;
		conn_read_bytes(s->conn, (size_t)n);
	}
}

/*
 * Whether the command so far is an APPEND whose mailbox is complete, so
 * that the literal its last line announces is a message (the handler
 * reads it with imap_read_literal()) and not the mailbox name.
 */
static int
session_is_append(struct imap_session *s)
{
	struct imap_core *core = s->core;
	struct imap_parser p;
	struct imap_str mbox;
	char tag[IMAP_TAG_MAX + 1], verb[IMAP_VERB_MAX + 1], *copy;
	int ok;

	const char *sp;

	if (s->state != IMAP_AUTH && s->state != IMAP_SELECTED)
		return 0;
	/* Cheap test first: the second word. */
	sp = memchr(core->buf, ' ', core->len);
	if (sp == NULL || (size_t)(core->buf + core->len - sp) < 8 ||
	    strncasecmp(sp + 1, "APPEND ", 7) != 0)
		return 0;
	/* Parsing unescapes in place: work on a copy. */
	copy = xmemdup(core->buf, core->len + 1);
	imap_parser_init(&p, copy, core->len, 0);
	ok = imap_p_command(&p, tag, verb) == 0 &&
	    strcmp(verb, "APPEND") == 0 && imap_p_sp(&p) == 0 &&
	    imap_p_astring(&p, &mbox) == 0 && !imap_p_at_end(&p);
	imap_parser_free(&p);
	free(copy);
	return ok;
}

static const struct imap_command *
session_lookup(const char *verb)
{
	size_t i;

	for (i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]); i++)
		if (strcmp(imap_commands[i].verb, verb) == 0)
			return &imap_commands[i];
	return NULL;
}

static void
session_dispatch(struct imap_session *s)
{
	struct imap_core *core = s->core;
	struct imap_cmd *cmd = &core->cmd;
	const struct imap_command *c;
	struct imap_str sub;

	memset(cmd->tag, 0, sizeof(cmd->tag));
	memset(cmd->verb, 0, sizeof(cmd->verb));
	cmd->uid = 0;
	core->cmd_flags = 0;
	core->running = 1;
	imap_parser_init(&cmd->p, core->buf, core->len,
	    (s->enabled & IMAP_EN_UTF8) != 0);
	if (imap_p_command(&cmd->p, cmd->tag, cmd->verb) == -1) {
		char tag[IMAP_TAG_MAX + 1];

		session_guess_tag(core->buf, core->len, tag, sizeof(tag));
		snprintf(cmd->tag, sizeof(cmd->tag), "%s", tag);
		if (strcmp(tag, "*") == 0 || cmd->verb[0] == '\0')
			imap_bad(s, "Error in IMAP command received by "
			    "server.");
		else
			imap_bad(s, "Error in IMAP command %s: %s", cmd->verb,
			    cmd->p.err != NULL ? cmd->p.err : "syntax error");
		return;
	}
	if (strcmp(cmd->verb, "UID") == 0) {
		if (imap_p_sp(&cmd->p) == -1 || imap_p_atom(&cmd->p, &sub) ==
		    -1 || sub.len > IMAP_VERB_MAX) {
			imap_bad(s, "Error in IMAP command UID: Missing "
			    "command.");
			return;
		}
		for (size_t i = 0; i < sub.len; i++)
			cmd->verb[i] = (char)toupper((unsigned char)sub.s[i]);
		cmd->verb[sub.len] = '\0';
		cmd->uid = 1;
	}
	c = session_lookup(cmd->verb);
	if (c == NULL || (cmd->uid && !(c->flags & IMAP_CF_UID))) {
		imap_bad(s, "Error in IMAP command %s%s: Unknown command.",
		    cmd->uid ? "UID " : "", cmd->verb);
		return;
	}
	if (s->state == IMAP_NOTAUTH &&
	    ++core->preauth_cmds > IMAP_PREAUTH_CMDS_MAX) {
		log_info("conn %lu: %u commands without login, closing",
		    s->id, core->preauth_cmds);
		imap_bad(s, "Too many commands before login.");
		if (!s->closing) {
			imap_untagged(s, "BYE Too many commands before "
			    "login.");
			imap_session_close(s);
		}
		return;
	}
	if (!(c->states & (1u << s->state))) {
		if (s->state == IMAP_NOTAUTH)
			imap_bad(s, "Error in IMAP command %s: Not logged in.",
			    cmd->verb);
		else if (c->states == S_S)
			imap_bad(s, "No mailbox selected.");
		else
			imap_bad(s, "Error in IMAP command %s: Already logged "
			    "in.", cmd->verb);
		return;
	}
	core->cmd_flags = c->flags;
	s->cmd = cmd;
	c->fn(s, cmd);
	session_hold(s);
}

/* IDLE -------------------------------------------------------------------- */

void
imap_session_idle_start(struct imap_session *s)
{
	struct imap_core *core = s->core;

	core->mode = IMAP_MODE_IDLE;
	s->idle_next = s->srv->idlers;
	s->srv->idlers = s;
}

void
imap_session_idle_stop(struct imap_session *s)
{
	struct imap_session **pp;

	for (pp = &s->srv->idlers; *pp != NULL; pp = &(*pp)->idle_next)
		if (*pp == s) {
			*pp = s->idle_next;
			break;
		}
	s->idle_next = NULL;
	/* The tagged reply's sync tells what was held back. */
	imap_core(s)->idle_dirty = 0;
	if (imap_core(s)->idle_ev != NULL)
		evtimer_del(imap_core(s)->idle_ev);
	if (imap_core(s)->mode == IMAP_MODE_IDLE)
		imap_core(s)->mode = IMAP_MODE_CMD;
}

/*
 * An idler whose output is past CONN_OUT_HIGH is not told of changes
 * (view.c): it is synced once its output is down again, the changes
 * coalesced.  A timer looks, not on_drain: under STARTTLS the level
 * above the socket may have drained long before the socket has.
 */
static void
session_idle_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;
	struct imap_core *core = s->core;
	struct timeval tv = { 0, IMAP_IDLE_RETRY_MS * 1000 };

	(void)fd;
	(void)what;
	if (!core->idle_dirty || core->mode != IMAP_MODE_IDLE || s->closing)
		return;
	if (imap_pending(s) > CONN_OUT_LOW) {
		evtimer_add(core->idle_ev, &tv);
		return;
	}
	core->idle_dirty = 0;
	if (imap_view_sync(s, 1) == -1) {
		log_info("conn %lu: user %s: %s", s->id, s->user, err_msg());
		imap_untagged(s, "BYE Selected mailbox was deleted, have to "
		    "disconnect.");
		imap_session_idle_stop(s);
		imap_session_close(s);
	}
}

void
imap_session_idle_defer(struct imap_session *s)
{
	struct imap_core *core = s->core;
	struct timeval tv = { 0, IMAP_IDLE_RETRY_MS * 1000 };

	if (core->idle_dirty)
		return;
	core->idle_dirty = 1;
	if (core->idle_ev == NULL && (core->idle_ev = evtimer_new(conn_base(),
	    session_idle_retry_cb, s)) == NULL)
		fatalx("imap: evtimer_new failed");
	evtimer_add(core->idle_ev, &tv);
}

/* A mailbox changed (0: anything may have): idlers are told (view.c). */
void
imap_session_notify(struct imap_server *srv, uint32_t mailbox_id)
{
	imap_view_notify(srv, mailbox_id);
}

/* TLS and compression ----------------------------------------------------- */

int
imap_session_starttls(struct imap_session *s)
{
	session_reset_cmd(s);
	return conn_starttls(s->conn);
}

int
imap_session_compress(struct imap_session *s)
{
	if (conn_compress(s->conn) == -1)
		return -1;
	s->compress = 1;
	return 0;
}

/* conn callbacks ---------------------------------------------------------- */

static void
session_on_line(struct conn *c, const char *line, size_t len)
{
	struct imap_session *s = conn_ctx(c);
	struct imap_core *core = s->core;
	imap_line_fn *fn;

	if (s->closing)
		return;
	switch (core->mode) {
	case IMAP_MODE_SASL:
		imap_auth_sasl_line(s, line, len);
		break;
	case IMAP_MODE_IDLE:
		imap_idle_line(s, line, len);
		break;
	case IMAP_MODE_APPEND:
		core->mode = IMAP_MODE_CMD;
		fn = core->al_line;
		core->al_line = NULL;
		core->al_data = NULL;
		if (fn == NULL)
			fatalx("conn %lu: APPEND line without a handler",
			    s->id);
		/* The conn's copy of the line is ours until we return. */
		fn(s, (char *)(uintptr_t)line, len, core->al_state);
		break;
	case IMAP_MODE_CMD:
		session_cmd_line(s, line, len);
		break;
	}
	session_hold(s);
}

static void
session_on_bytes(struct conn *c, const char *data, size_t len, int last)
{
	struct imap_session *s = conn_ctx(c);
	struct imap_core *core = s->core;

	if (s->closing)
		return;
	if (core->al_active) {
		if (!core->al_discard && core->al_data != NULL)
			core->al_data(s, data, len, core->al_state);
		if (last && core->al_active) {
			core->al_active = 0;
			core->mode = IMAP_MODE_APPEND;
		}
		return;
	}
	if (core->lit_drop)
		return;
	if (core->in_literal) {
		session_buf_add(core, data, len);
		if (last)
			core->in_literal = 0;
	}
}

static void
session_on_toolong(struct conn *c)
{
	struct imap_session *s = conn_ctx(c);
	struct imap_core *core = s->core;
	char tag[IMAP_TAG_MAX + 1];

	if (s->closing)
		return;
	log_info("conn %lu: command line over %u bytes", s->id,
	    (unsigned)IMAP_LINE_MAX);
	if (core->running) {
		if (core->mode == IMAP_MODE_SASL) {
			imap_auth_free(s);
			core->mode = IMAP_MODE_CMD;
		}
		session_abort_cmd(s, "[TOOBIG] Command line too long.");
		return;
	}
	if (core->lit_drop) {
		core->lit_drop = 0;
		session_bad_line(s, core->drop_tag, core->drop_msg);
		return;
	}
	session_guess_tag(core->buf, core->len, tag, sizeof(tag));
	session_bad_line(s, core->len > 0 ? tag : "*",
	    "[TOOBIG] Command line too long.");
}

static void
session_on_drain(struct conn *c)
{
	struct imap_session *s = conn_ctx(c);

	if (imap_core(s)->y_fn != NULL && !s->closing)
		session_resume(s);
}

static void
session_on_timeout(struct conn *c)
{
	struct imap_session *s = conn_ctx(c);
	const char *why = conn_timeout_reason(c);

	if (!s->closing) {
		if (strcmp(why, "transfer") == 0)
			;	/* the output is cut, a line would be text */
		else if (strcmp(why, "login") == 0)
			imap_untagged(s, "BYE Disconnected for inactivity "
			    "during authentication.");
		else if (strcmp(why, "command") == 0)
			imap_untagged(s, "BYE Command line took too long.");
		else
			imap_untagged(s, "BYE Disconnected for inactivity.");
	}
	s->closing = 1;
}

static void
session_on_shutdown(struct conn *c)
{
	struct imap_session *s = conn_ctx(c);

	if (s->closing)
		return;
	if (conn_kicked(c))
		imap_untagged(s, "BYE Session closed by the administrator.");
	else
		imap_untagged(s, "BYE Server shutting down.");
	imap_session_close(s);
}

static void
session_on_close(struct conn *c)
{
	struct imap_session *s = conn_ctx(c);
	struct imap_core *core;

	if (s == NULL)
		return;
	core = s->core;
	log_info("conn %lu: disconnect from %s user=%s", s->id, s->ip,
	    s->user[0] != '\0' ? s->user : "-");
	sessreg_remove(&s->reg);
	imap_session_idle_stop(s);
	session_free_states(s);
	imap_auth_free(s);
	imap_view_free(&s->view);
	if (core->y_ev != NULL)
		event_free(core->y_ev);
	if (core->idle_ev != NULL)
		event_free(core->idle_ev);
	if (core->running)
		imap_parser_free(&core->cmd.p);
	free(core->buf);
	imap_buf_free(&s->out);
	free(core);
	free(s);
}

void
imap_session_accept(struct conn *c, void *arg)
{
	struct imap_server *srv = arg;
	struct imap_session *s;

	s = xcalloc(1, sizeof(*s));
	s->core = xcalloc(1, sizeof(struct imap_core));
	s->conn = c;
	s->srv = srv;
	s->id = conn_id(c);
	snprintf(s->ip, sizeof(s->ip), "%s", conn_peer(c));
	s->state = IMAP_NOTAUTH;
	imap_buf_init(&s->out);
	conn_set_ops(c, &session_ops, s);
	log_info("conn %lu: connect from %s port %s to port %s%s", s->id, s->ip,
	    conn_peer_port(c), conn_local_port(c), conn_is_tls(c) ? " tls" : "");
	imap_untagged(s, "OK [CAPABILITY %s] Vellum ready.",
	    imap_capabilities(s));
}
