/*
 * imapd.h - what the files of vellum-imapd share: the server, a session,
 * the command interface, replies, and the view of a selected mailbox.
 *
 * Files and who owns what:
 *   imapd.c        main: config, store, listeners, notification listener
 *   session.c      a connection: command assembly (literals, limits),
 *                  the state machine and command table, replies, yield/
 *                  resume, IDLE, STARTTLS, COMPRESS, fan-out of store
 *                  notifications to idling sessions
 *   cmd_auth.c     CAPABILITY NOOP LOGOUT ID ENABLE STARTTLS LOGIN
 *                  AUTHENTICATE COMPRESS
 *   view.c         the selected mailbox (below) and SELECT EXAMINE CLOSE
 *                  UNSELECT EXPUNGE CHECK
 *   cmd_mailbox.c  LIST LSUB CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE
 *                  STATUS NAMESPACE GETQUOTA GETQUOTAROOT SETQUOTA
 *   cmd_fetch.c    FETCH (streamed), STORE; fetchconv.c (CRLF and
 *                  <o.n> windows), fetchbinary.c (BINARY[], BINARY.SIZE)
 *   cmd_append.c   APPEND (MULTIAPPEND), COPY, MOVE
 *   cmd_search.c   SEARCH (ESEARCH, SEARCHRES), SORT, THREAD
 *   parse.c buf.c  syntax (parse.h, buf.h); search.c thread.c fold.c
 *                  listmatch.c: the pure parts of SEARCH, SORT/THREAD
 *                  and LIST
 *
 * The protocol never opens LMDB cursors: it calls the store API in short
 * transactions (no read transaction lives past one event-loop turn).
 */
#ifndef VELLUM_IMAPD_H
#define VELLUM_IMAPD_H

#include <stddef.h>
#include <stdint.h>

#include "common/conn.h"
#include "common/error.h"
#include "store/mailbox.h"
#include "store/user.h"
#include "imapd/buf.h"
#include "imapd/parse.h"

struct config;
struct store;
struct store_notify;
struct imap_view;

/* Commands a client may send before it is logged in, and bad commands
 * in a row, before it is disconnected. */
#define IMAP_PREAUTH_CMDS_MAX	20
#define IMAP_BAD_CMDS_MAX	20
/* IDLE without DONE ends after this (RFC 3501 5.4: at least 30 min). */
#define IMAP_IDLE_TIMEOUT	(30 * 60)

struct imap_server {
	struct store		*store;
	const struct config	*config;
	int			 tls_ok;	/* STARTTLS can be offered */
	struct store_notify	*notify;
	struct event		*notify_ev;
	/* sessions in IDLE, for the fan-out of notifications (session.c) */
	struct imap_session	*idlers;
};

enum imap_state {
	IMAP_NOTAUTH,
	IMAP_AUTH,
	IMAP_SELECTED,
	IMAP_LOGOUT,
};
#define IMAP_S_NOTAUTH	(1u << IMAP_NOTAUTH)
#define IMAP_S_AUTH	(1u << IMAP_AUTH)
#define IMAP_S_SELECTED	(1u << IMAP_SELECTED)

/* ENABLE'd extensions (RFC 5161) and implicit enables */
#define IMAP_EN_CONDSTORE	0x01	/* also by a CONDSTORE-using command */
#define IMAP_EN_QRESYNC		0x02
#define IMAP_EN_UTF8		0x04	/* UTF8=ACCEPT */
#define IMAP_EN_REV2		0x08	/* IMAP4rev2 */

/* One command as the handler gets it. */
struct imap_cmd {
	char			 tag[IMAP_TAG_MAX + 1];
	char			 verb[IMAP_VERB_MAX + 1];	/* upper case */
	int			 uid;		/* "UID FETCH" etc. */
	/*
	 * Positioned after the verb: arguments start with the SP that
	 * separates them.  Owned by the session; valid until the command
	 * finishes (also across a yield).
	 */
	struct imap_parser	 p;
};

struct imap_session;
typedef void imap_cmd_fn(struct imap_session *, struct imap_cmd *);
/* A yielded command goes on (output drained, or a timer). */
typedef void imap_resume_fn(struct imap_session *, void *state);

struct sessreg_entry;

struct imap_session {
	struct conn		*conn;
	struct sessreg_entry	*reg;		/* logged in: `vellumctl who` */
	struct imap_server	*srv;
	unsigned long		 id;
	char			 ip[CONN_ADDR_MAX];
	enum imap_state		 state;
	int			 closing;
	unsigned		 enabled;	/* IMAP_EN_* */
	int			 compress;	/* COMPRESS=DEFLATE is on */

	/* logged in */
	uint32_t		 user_id;
	char			 user[STORE_ADDRESS_MAX + 1];

	/* the selected mailbox, NULL when none */
	struct imap_view	*view;

	/* the running command (session.c) */
	struct imap_cmd		*cmd;
	struct imap_buf		 out;		/* response being built */

	/* session.c's own state */
	void			*core;
	struct imap_session	*idle_next;	/* srv->idlers */
};

/* Replies -------------------------------------------------------------- */

/*
 * Output goes through the session (COMPRESS=DEFLATE, counters): never
 * write to the conn directly.
 */
void	imap_write(struct imap_session *, const void *, size_t);
/* "* " fmt CRLF */
void	imap_untagged(struct imap_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Bytes queued but not yet sent (to pace long answers). */
size_t	imap_pending(struct imap_session *);

/*
 * Finishing a command: exactly one of these per command, also after a
 * yield.  imap_ok() first brings the selected mailbox up to date
 * (imap_view_sync(), with expunges unless the command is FETCH, STORE or
 * SEARCH without UID: RFC 3501 7.4.1), then writes "tag OK [code] text".
 * code may be NULL.  imap_no_err() answers NO with the response code of
 * err_class() (imap_err_code()) and err_msg() as text.
 */
void	imap_ok(struct imap_session *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	imap_no(struct imap_session *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	imap_bad(struct imap_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	imap_no_err(struct imap_session *);
/*
 * The response code for an error class: OVERQUOTA, TOOBIG, NONEXISTENT,
 * ALREADYEXISTS, LIMIT, INUSE, NOPERM, CANNOT, CORRUPTION, UNAVAILABLE
 * (RFC 5530).
 */
const char *imap_err_code(enum err_class);

/*
 * A long command (FETCH of many messages, SEARCH TEXT of a big mailbox)
 * stops writing when imap_pending() passes CONN_OUT_HIGH, calls
 * imap_yield() and returns; fn(state) is called when the output has
 * drained (or at once on the next loop turn when it already has).  Input
 * waits meanwhile.  If the session closes, free is called instead
 * (may be NULL).
 */
void	imap_yield(struct imap_session *, imap_resume_fn *fn,
	    void (*free)(void *), void *state);

/*
 * Literals of APPEND (cmd_append.c).  The handler has parsed a message
 * head (imap_p_append_msg()) and calls imap_read_literal(): for a
 * synchronising literal the session sends "+ Ready"; then the literal's
 * bytes come to on_data in pieces, and once they are all read the next
 * command line (the rest of the APPEND) goes to on_line, which parses
 * the next head (and calls imap_read_literal() again) or finishes the
 * command.  discard: the bytes are read and dropped (a refused
 * non-synchronising literal): on_data is not called.
 */
typedef void imap_data_fn(struct imap_session *, const char *, size_t,
	    void *state);
typedef void imap_line_fn(struct imap_session *, char *line, size_t len,
	    void *state);
void	imap_read_literal(struct imap_session *, uint64_t size, int nonsync,
	    int discard, imap_data_fn *on_data, imap_line_fn *on_line,
	    void (*free)(void *), void *state);

/* Mailbox names ---------------------------------------------------------- */

/*
 * Turns a mailbox argument into the store's UTF-8 name: modified UTF-7
 * decoded (unless UTF8=ACCEPT is on), "INBOX" in any case as "INBOX",
 * checked (no empty level, no "." or ".." level, no leading or trailing
 * '/', no control characters, at most STORE_MAILBOX_NAME_MAX bytes).
 * 0 ok; -1 with ERR_INVALID and a message for the NO reply.
 */
int	imap_mailbox_name(struct imap_session *, const struct imap_str *,
	    char *out, size_t outsize);

/* The selected mailbox (view.c) ---------------------------------------- */

/*
 * What this session has told its client about the selected mailbox:
 * message sequence number n is uids[n - 1].  That map (4 bytes a
 * message) is the only per-session copy: flags, sizes and everything
 * else are read from the store when needed.  A message expunged by
 * another session while expunges may not be announced stays in the map
 * marked gone until the next imap_view_sync() that may announce them.
 */
struct imap_view {
	uint32_t		 mailbox_id;
	uint32_t		 uidvalidity;
	char			 name[STORE_MAILBOX_NAME_MAX + 1];
	int			 readonly;	/* EXAMINE */
	uint32_t		*uids;
	size_t			 count;
	size_t			 cap;
	uint32_t		 uidnext;	/* every uid below is known */
	uint64_t		 modseq;	/* changes up to here are known */
	/* \Recent for this session: uids in [recent_lo, recent_hi) (its
	 * latest claim), and in the earlier claims that other sessions'
	 * claims cut off from it: [recent_more[2i], recent_more[2i + 1]),
	 * ascending, all below recent_lo */
	uint32_t		 recent_lo, recent_hi;
	uint32_t		*recent_more;
	size_t			 nrecent_more;	/* ranges */
	/* uids expunged elsewhere, not yet announced (sorted) */
	uint32_t		*gone;
	size_t			 ngone;
	/* modseqs written by this session's own STOREs since the last sync:
	 * the sync does not echo those changes back */
	uint64_t		*own;
	size_t			 nown, owncap;
	/* SEARCHRES "$": uids, sorted */
	uint32_t		*saved;
	size_t			 nsaved;
};

/* The uid of sequence number seq, 0 when out of range. */
uint32_t imap_view_uid(const struct imap_view *, uint32_t seq);
/* The sequence number of uid, 0 when not in the view. */
uint32_t imap_view_seq(const struct imap_view *, uint32_t uid);
int	imap_view_is_recent(const struct imap_view *, uint32_t uid);
int	imap_view_is_gone(const struct imap_view *, uint32_t uid);
/*
 * The uids (ascending, malloc'd) of the view's messages in a sequence
 * set (uid 0) or UID set (uid 1); "$" is the saved result.  '*' is the
 * last message (or the highest uid).  Sequence numbers beyond the view
 * are an error (-1, ERR_INVALID: "BAD invalid sequence number"); UIDs
 * that are not in the view are skipped (RFC 3501).  0 ok.
 */
int	imap_view_resolve(const struct imap_view *, const struct imap_seqset *,
	    int uid, uint32_t **uids_r, size_t *n_r);
/* Remembers a modseq this session's own command produced. */
void	imap_view_note_own(struct imap_view *, uint64_t modseq);
/*
 * Brings the view up to date in one read snapshot and writes the
 * untagged replies: EXISTS (and RECENT) for new messages, FETCH (FLAGS
 * [MODSEQ]) for changes made by others, and when expunges is set,
 * EXPUNGE (or VANISHED with QRESYNC) for messages gone, gone ones
 * included.  0, -1 (err: the mailbox was deleted, or a store error: the
 * caller answers BYE/NO).
 */
int	imap_view_sync(struct imap_session *, int expunges);
/* Leaves the selected mailbox (CLOSE/UNSELECT/SELECT of another). */
void	imap_view_free(struct imap_view **);
/*
 * Moves the session between the Authenticated and Selected states
 * (session.c; also declared in core.h): after imap_view_free() of the
 * selected mailbox by a command other than CLOSE/UNSELECT (DELETE of the
 * selected mailbox, cmd_mailbox.c).
 */
void	imap_session_set_selected(struct imap_session *, int selected);

/* Command handlers ------------------------------------------------------- */

/* cmd_auth.c */
imap_cmd_fn imap_cmd_capability, imap_cmd_noop, imap_cmd_logout,
	    imap_cmd_id, imap_cmd_enable, imap_cmd_starttls, imap_cmd_login,
	    imap_cmd_authenticate, imap_cmd_compress, imap_cmd_idle;
/* view.c */
imap_cmd_fn imap_cmd_select, imap_cmd_close, imap_cmd_unselect,
	    imap_cmd_expunge, imap_cmd_check;
/* cmd_mailbox.c */
imap_cmd_fn imap_cmd_list, imap_cmd_lsub, imap_cmd_create, imap_cmd_delete,
	    imap_cmd_rename, imap_cmd_subscribe, imap_cmd_status,
	    imap_cmd_namespace, imap_cmd_getquota, imap_cmd_getquotaroot,
	    imap_cmd_setquota;
/* cmd_fetch.c */
imap_cmd_fn imap_cmd_fetch, imap_cmd_store;
/* cmd_append.c */
imap_cmd_fn imap_cmd_append, imap_cmd_copy, imap_cmd_move;
/* cmd_search.c */
imap_cmd_fn imap_cmd_search, imap_cmd_sort, imap_cmd_thread;

/*
 * The capabilities to announce in the current state (cmd_auth.c), as
 * one space-separated string without "CAPABILITY".
 */
const char *imap_capabilities(struct imap_session *);

/*
 * Formats the flags of a message for FETCH FLAGS: "(\Seen kw ...)",
 * with \Recent when recent (IMAP4rev1 only).
 */
void	imap_flags_format(struct imap_buf *, uint32_t flags,
	    const char *keywords, int recent);

#endif
