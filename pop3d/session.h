/*
 * session.h - one POP3 conversation (RFC 1939, 2449, 5034, 2595).
 *
 * A state machine AUTHORIZATION -> TRANSACTION -> UPDATE (plus SASL while
 * an AUTH exchange waits for the client) driven by a command table
 * {verb, states allowed, handler}.  The session lives on a conn (conn.h)
 * and is freed only in the conn's on_close callback.
 */
#ifndef VELLUM_POP3_SESSION_H
#define VELLUM_POP3_SESSION_H

struct conn;
struct config;
struct store;

/* Failed or unknown commands before login, then the session is closed. */
#define POP3_BAD_CMDS_MAX	20
/* "-ERR [AUTH] account disabled: REASON": the reply's room. */
#define POP3_DISABLED_REPLY_MAX	512
/* Maildrop lock lease (s); renewed on activity after POP3_LOCK_RENEW. */
#define POP3_LOCK_LEASE		(30 * 60)
#define POP3_LOCK_RENEW		(5 * 60)
/*
 * Bytes of a message read from the store at a time by RETR and TOP (one
 * read transaction each).  store_msg_read_range() decompresses every
 * segment it touches whole, so fewer, larger reads cost less.
 */
#define POP3_CHUNK		(256 * 1024)

/* What every session of the process shares. */
struct pop3_server {
	struct store		*store;
	const struct config	*config;
	int			 tls_ok;	/* STLS can be offered */
};

/* conn_accept_fn: arg is the struct pop3_server. */
void	pop3_session_accept(struct conn *, void *arg);

#endif
