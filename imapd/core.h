/*
 * core.h - what session.c, cmd_auth.c, view.c and imapd.c share beyond
 * imapd.h: the session's own state (s->core) and the hooks between the
 * connection layer and the login commands.  Not for the command files of
 * other families: they use imapd.h only.
 */
#ifndef VELLUM_IMAPD_CORE_H
#define VELLUM_IMAPD_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "imapd/imapd.h"

struct auth;
struct auth_check;
struct event;

/*
 * A non-synchronising literal before login larger than this cannot be
 * refused by skipping it (RFC 7888 LITERAL-): BAD, and the connection
 * closes.  Smaller ones over IMAP_LITERAL_PREAUTH_MAX are read and
 * dropped, then refused.
 */
#define IMAP_LITERAL_MINUS_MAX	4096
/*
 * A whole command before login (lines and literals): no more than one
 * line may be, so that an unauthenticated connection holds no more than
 * its line buffer (IMAP_CMD_MAX after login).
 */
#define IMAP_PREAUTH_CMD_MAX	IMAP_LINE_MAX
/* How often an idler held back for full output looks again (ms). */
#define IMAP_IDLE_RETRY_MS	200

/* What the next input line is (struct imap_core.mode). */
enum imap_mode {
	IMAP_MODE_CMD,		/* a command (or the rest of one) */
	IMAP_MODE_SASL,		/* an AUTHENTICATE response */
	IMAP_MODE_IDLE,		/* "DONE" */
	IMAP_MODE_APPEND,	/* after an APPEND literal: to lit_line */
};

/* Command table flags */
#define IMAP_CF_UID		0x01	/* may follow "UID" */
/* uses sequence numbers: no EXPUNGE at its end unless a UID command */
#define IMAP_CF_SEQ		0x02

struct imap_core {
	enum imap_mode		 mode;

	/* the command being assembled (parse.h: lines, literals) */
	char			*buf;
	size_t			 len, cap;
	unsigned		 nlit;
	int			 in_literal;	/* bytes go to buf */
	int			 lit_drop;	/* bytes are dropped ... */
	int			 lit_drop_close; /* ... then BYE */
	char			 drop_tag[IMAP_TAG_MAX + 1];
	const char		*drop_msg;

	/* the running command */
	struct imap_cmd		 cmd;
	unsigned		 cmd_flags;	/* IMAP_CF_* */
	int			 running;
	int			 paused;	/* we paused the conn */
	int			 held;		/* conn_busy(): an APPEND's data */

	/* imap_yield() */
	imap_resume_fn		*y_fn;
	void			(*y_free)(void *);
	void			*y_state;
	struct event		*y_ev;

	/* imap_read_literal() (APPEND) */
	int			 al_active;	/* bytes go to al_data */
	int			 al_discard;
	imap_data_fn		*al_data;
	imap_line_fn		*al_line;
	void			(*al_free)(void *);
	void			*al_state;

	/* counters */
	unsigned		 bad_cmds;	/* in a row */
	unsigned		 preauth_cmds;
	unsigned		 auth_failures;

	/* AUTHENTICATE / LOGIN (cmd_auth.c) */
	struct auth		*sasl;
	struct auth_check	*check;
	const char		*check_method;
	struct event		*delay_ev;
	char			*delay_reply;	/* NO after a delay */
	int			 delay_close;

	/* IDLE */
	int			 idle_dirty;	/* a change was held back */
	struct event		*idle_ev;	/* looks when output is down */
};

static inline struct imap_core *
imap_core(struct imap_session *s)
{
	return s->core;
}

/* session.c */
/* conn_accept_fn: arg is the struct imap_server. */
void	imap_session_accept(struct conn *, void *arg);
/* SELECT/EXAMINE moved to SELECTED (1) or back to AUTH (0). */
void	imap_session_set_selected(struct imap_session *, int);
/* The tagged reply is out: the command is over (also for replies sent
 * by cmd_auth.c after a delay). */
void	imap_session_cmd_done(struct imap_session *);
/* The session ends after the queued output ("* BYE" was written). */
void	imap_session_close(struct imap_session *);
/* Logged in: state AUTH, deadlines of an authenticated session. */
void	imap_session_logged_in(struct imap_session *);
/* Starts TLS (STARTTLS); 0 or -1. */
int	imap_session_starttls(struct imap_session *);
/* Starts COMPRESS=DEFLATE after the OK; 0 or -1. */
int	imap_session_compress(struct imap_session *);
/* IDLE: enters/leaves the idling list of the server. */
void	imap_session_idle_start(struct imap_session *);
void	imap_session_idle_stop(struct imap_session *);
/* An idler's output is full: it syncs once the output is down. */
void	imap_session_idle_defer(struct imap_session *);
/* A mailbox changed (store notification, 0: any): idlers sync. */
void	imap_session_notify(struct imap_server *, uint32_t mailbox_id);
/* Writes "tag " + text + CRLF without finishing the command. */
void	imap_tagged_raw(struct imap_session *, const char *tag,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* view.c: the idlers with mailbox_id (0: all) selected sync now. */
void	imap_view_notify(struct imap_server *, uint32_t mailbox_id);

/* cmd_auth.c */
/* An AUTHENTICATE response line (mode SASL). */
void	imap_auth_sasl_line(struct imap_session *, const char *, size_t);
/* Frees what a closing session holds in cmd_auth.c. */
void	imap_auth_free(struct imap_session *);
/* The IDLE "DONE" line (mode IDLE). */
void	imap_idle_line(struct imap_session *, const char *, size_t);

/* session.c: seconds of autologout after login ([limits]
 * imap_idle_timeout, set by imapd.c; IMAP_IDLE_TIMEOUT until then). */
extern unsigned imap_session_idle_timeout;

#endif
