/*
 * client.h - one outbound SMTP connection on a libevent loop.
 *
 * The scheduler (mta/mta.c) makes a client for one server address; the
 * client connects, reads the greeting, says EHLO (HELO when EHLO gets a
 * 5xx), does STARTTLS as cfg->tls asks, AUTH when credentials are given,
 * and then reports MTA_CLIENT_READY.  The scheduler hands it one
 * transaction at a time (mta_client_send()); when the client has a result
 * for every recipient it reports MTA_CLIENT_DONE and is ready for the next
 * transaction on the same connection.  When the connection fails, is
 * lost, times out, or after mta_client_quit(), it reports
 * MTA_CLIENT_CLOSED exactly once and does nothing more: the scheduler
 * then calls mta_client_free() (also allowed inside the callback).
 *
 * What the client does on its own (RFC 5321, 1870, 2920, 3207, 4954,
 * 6152, 6531, 3461):
 * - PIPELINING when offered: MAIL, every RCPT and DATA in one write;
 *   otherwise one command at a time.
 * - SIZE=n on MAIL when SIZE is offered; a message over the server's
 *   limit gets 552 5.3.4 for every recipient and is not sent.
 * - BODY=8BITMIME when txn->eightbit and 8BITMIME is offered (when it is
 *   not offered the message is sent as it is, as Postfix does).
 * - SMTPUTF8 on MAIL when txn->smtputf8; not offered: 553 5.6.7 for every
 *   recipient, nothing sent.
 * - DSN offered: RET= and ENVID= on MAIL, NOTIFY= and ORCPT= on RCPT.
 *   Not offered: none of them (the scheduler sends "relayed" notices:
 *   mta_client_ehlo()->dsn).
 * - No recipient accepted: no message (the 354 of a pipelined DATA, if
 *   any, is answered with a lone "."), RSET before the next MAIL.
 * - The message is written CRLF and dot-stuffed, chunk by chunk as the
 *   socket drains, straight from txn->data (never copied whole).
 * - Timeouts (RFC 5321 4.5.3.2) from the cfg for every wait; a timeout
 *   or a reply over the reader's limits closes with a 4xx error.  A
 *   server that trickles a reply does not extend the wait.
 * - Whatever the server sent after its 220 to STARTTLS is discarded
 *   (response injection); after TLS, EHLO again.
 * - A recipient's result, once set (a RCPT refusal, the final reply), is
 *   kept when the connection fails later; only recipients without one get
 *   the connection's error.
 *
 * Results use SMTP codes: a recipient's code is the server's reply to it
 * (RCPT, or the final reply after the data for an accepted one), or one
 * the client made (then rcpt->remote is 0): 4xx temporary, 5xx permanent.
 */
#ifndef VELLUM_MTA_CLIENT_H
#define VELLUM_MTA_CLIENT_H

#include <sys/socket.h>

#include <stddef.h>

#include <openssl/ssl.h>

#include "mta/reply.h"

struct event_base;
struct mta_client;

/* Default timeouts in seconds (RFC 5321 4.5.3.2), used for a 0 in cfg. */
#define MTA_CLIENT_CONNECT_TIMEOUT	30	/* TCP connect */
#define MTA_CLIENT_GREETING_TIMEOUT	300	/* the 220 greeting */
#define MTA_CLIENT_COMMAND_TIMEOUT	300	/* EHLO, MAIL, RCPT, RSET,
						   STARTTLS + handshake,
						   AUTH, QUIT */
#define MTA_CLIENT_DATA_INIT_TIMEOUT	120	/* the 354 to DATA */
#define MTA_CLIENT_DATA_BLOCK_TIMEOUT	180	/* each write of the data
						   making progress */
#define MTA_CLIENT_DATA_DONE_TIMEOUT	600	/* the reply after "." */

/* Output of the message is refilled when the socket's buffer is below
   this many bytes. */
#define MTA_CLIENT_WRITE_LOWAT		(64 * 1024)

/* RCPT NOTIFY= bits: the same values as STORE_NOTIFY_* (store/queue.h);
   0: not given */
#define MTA_NOTIFY_NEVER	0x01
#define MTA_NOTIFY_SUCCESS	0x02
#define MTA_NOTIFY_FAILURE	0x04
#define MTA_NOTIFY_DELAY	0x08

/* MAIL RET= (the same values as enum store_queue_ret) */
enum mta_ret {
	MTA_RET_NONE = 0,	/* not given */
	MTA_RET_FULL = 1,
	MTA_RET_HDRS = 2,
};

enum mta_tls {
	MTA_TLS_NONE,		/* never STARTTLS */
	MTA_TLS_MAY,		/* STARTTLS when offered, no certificate
				   check; a refused STARTTLS continues in
				   plaintext, a failed handshake closes
				   with error->tls_failed */
	MTA_TLS_ENCRYPT,	/* STARTTLS required, no certificate check */
	MTA_TLS_VERIFY,		/* STARTTLS required, the chain must verify
				   and name server_name */
};

struct mta_client_cfg {
	const char		*helo;		/* our name for EHLO/HELO */
	const struct sockaddr	*addr;		/* the server, port included */
	socklen_t		 addrlen;
	const struct sockaddr	*source;	/* bound before connect, port 0;
						   NULL: the kernel picks */
	socklen_t		 sourcelen;
	/* the server's host name (the MX name or the smarthost): SNI, the
	   name VERIFY checks, and in every error text; NULL: the address */
	const char		*server_name;
	enum mta_tls		 tls;
	SSL_CTX			*ssl_ctx;	/* from mta_client_ssl_ctx(); needed
						   unless tls is NONE; not owned */
	/* AUTH credentials, NULL: no AUTH.  Used only over TLS (a plaintext
	   connection with credentials closes with error->auth_failed);
	   PLAIN when offered, else LOGIN; neither offered: closes with
	   error->auth_failed */
	const char		*auth_user;
	const char		*auth_pass;
	/* seconds; 0: the MTA_CLIENT_*_TIMEOUT default */
	unsigned		 connect_timeout;
	unsigned		 greeting_timeout;
	unsigned		 command_timeout;
	unsigned		 data_init_timeout;
	unsigned		 data_block_timeout;
	unsigned		 data_done_timeout;
};
/* The cfg's strings, addresses and ssl_ctx are copied or referenced:
   strings and addresses are copied by mta_client_new(); ssl_ctx must
   outlive the client. */

struct mta_client_rcpt {
	/* in */
	const char	*addr;		/* the address, without <> */
	const char	*orcpt;		/* ORCPT as given ("rfc822;a@b", xtext),
					   "" or NULL: none */
	unsigned	 notify;	/* MTA_NOTIFY_* bits, 0: not given */
	/* out: set when the transaction ends (DONE or CLOSED) */
	int		 code;		/* 250, 550, 451, ...; 0: not set */
	/* RFC 3463 status: the server's, or "c.0.0" from the code's first
	   digit when it gave none ("2.0.0" for a 250 without one) */
	char		 enhanced[MTA_REPLY_ENH_MAX];
	/* the remote's reply text (lines joined with "\n") when remote is
	   1, else the client's own explanation in words */
	char		 reply[MTA_REPLY_MAX];
	int		 remote;	/* 1: code and reply came from the server */
	/* the command the reply answered (static string): "MAIL FROM",
	   "RCPT TO", "DATA", "end of DATA", or NULL (the client decided
	   or the connection failed) */
	const char	*stage;
};

struct mta_client_txn {
	const char	*sender;	/* "" for <> */
	const char	*envid;		/* ENVID xtext, "" or NULL: none */
	enum mta_ret	 ret;
	int		 smtputf8;	/* needs SMTPUTF8 at the remote */
	int		 eightbit;	/* the message has 8-bit bytes */
	/* the message as stored: LF or CRLF lines (a missing final line end
	   is added); the client writes CRLF and dot-stuffs.  Not copied:
	   must stay valid until DONE or CLOSED. */
	const void	*data;
	size_t		 len;
	/* header lines sent before data as they are (CRLF lines starting
	   with a field name: DKIM-Signature); NULL/0: none.  Not copied. */
	const void	*prefix;
	size_t		 prefixlen;
	struct mta_client_rcpt *rcpts;	/* owned by the caller */
	size_t		 nrcpts;	/* at least 1 */
};

enum mta_client_event {
	MTA_CLIENT_READY,	/* connected, greeted, TLS/AUTH done: send a
				   transaction or quit */
	MTA_CLIENT_DONE,	/* the transaction ended: each rcpt has its
				   code and reply; ready for another */
	MTA_CLIENT_CLOSED,	/* the connection is gone (failure, loss,
				   timeout, or after quit):
				   mta_client_error() says why; a
				   transaction in flight has every
				   recipient without a result set to that
				   error */
};

typedef void mta_client_cb(struct mta_client *, enum mta_client_event,
    void *arg);

/* Why the connection closed. */
struct mta_client_error {
	/* 0: no failure (closed after mta_client_quit()); else 4xx or 5xx:
	   the server's reply code when remote, else one the client chose:
	   421 connect/lost/timeout/protocol error, 454 TLS or AUTH */
	int	code;
	char	enhanced[MTA_REPLY_ENH_MAX];	/* "4.4.1", "4.7.5", ... */
	/* in words, with host name, address and what was going on:
	   "connect to mx1.example.test[127.0.0.1]:25: Connection refused",
	   "conversation with mx1.example.test[127.0.0.1] timed out while
	   receiving the initial server greeting",
	   "host mx1.example.test[127.0.0.1] said: 554 5.7.1 go away (in
	   reply to EHLO)" */
	char	text[MTA_REPLY_MAX + 256];
	int	remote;		/* code came from the server */
	int	remote_code;	/* the server's code when it caused this */
	int	reached_greeting;	/* the server greeted us */
	int	tls_failed;	/* the TLS handshake failed (MAY: retry
				   the next connection without TLS) */
	int	auth_failed;	/* SASL authentication failed (4.7.0) */
	int	timed_out;	/* a wait timed out */
};

/*
 * Starts connecting to cfg->addr; the callback reports READY or CLOSED
 * later (never inside this call).  Returns 0 with *r set, -1 (ERR_INVALID:
 * a bad cfg; ERR_TEMP: no socket) without a client.
 */
int	mta_client_new(struct event_base *base,
	    const struct mta_client_cfg *cfg, mta_client_cb *cb, void *arg,
	    struct mta_client **r);

/*
 * Starts a transaction; only after READY or DONE (else -1, ERR_INVALID).
 * txn and everything it points to must stay valid until DONE or
 * CLOSED.  Returns 0; the outcome comes through the callback, never
 * inside this call.
 */
int	mta_client_send(struct mta_client *, struct mta_client_txn *);
/*
 * Whether a transaction can be sent at all (addresses without controls,
 * spaces only in a quoted local part, a recipient): 0 yes, -1 no
 * (ERR_INVALID, the message says what).  mta_client_send() checks it too;
 * a caller checks first to tell a bad transaction from a busy client.
 */
int	mta_client_txn_check(const struct mta_client_txn *);

/* After READY or DONE: QUIT politely, then CLOSED with error code 0.
   At any other time it just closes: CLOSED (never inside this call) with
   code 0, or 421 4.4.2 given to every recipient of a transaction in
   flight that has no result yet. */
void	mta_client_quit(struct mta_client *);

/* Closes without any further callback and frees; safe inside the
   callback (the free is deferred until it returns).  *p = NULL. */
void	mta_client_free(struct mta_client **p);

/* Valid after CLOSED (before: code 0). */
const struct mta_client_error *mta_client_error(const struct mta_client *);

/* What the server offered (the last EHLO, after STARTTLS the second);
   all zero before READY. */
const struct mta_reply_ehlo *mta_client_ehlo(const struct mta_client *);

/* 1 when the connection is TLS-encrypted (and verified for VERIFY). */
int	mta_client_tls(const struct mta_client *);

/* "mx1.example.test[192.0.2.1]:25" for logs; valid while the client is. */
const char *mta_client_peer(const struct mta_client *);

/*
 * A client SSL_CTX for every client of a process: TLS 1.2 or later,
 * verification paths from ca_file (a PEM bundle) or, NULL, the system
 * defaults.  Whether a client verifies is its cfg->tls.  Returns NULL
 * (ERR_INVALID: unreadable ca_file) on failure; SSL_CTX_free() it.
 */
SSL_CTX	*mta_client_ssl_ctx(const char *ca_file);

#endif
