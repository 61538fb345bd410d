/*
 * conn.h - the event loop, listeners and connections (libevent 2).
 *
 * One loop per process.  A connection is a bufferevent (an OpenSSL
 * filter once TLS is on) with a bounded line reader: the protocol gets
 * one callback per line and writes replies with conn_printf(), and never
 * sees a socket.  Connections are freed only after the callback that
 * closed them returns (deferred free).
 *
 * Descriptors.  When the loop starts (conn_loop_run()), the number of
 * connections is capped by what RLIMIT_NOFILE leaves:
 *
 *	cap = (RLIMIT_NOFILE - open - CONN_FD_SPARE) / CONN_FD_PER_CONN
 *
 * where `open` is the descriptors open at that moment (stdio, the store,
 * listeners, the loop's own, TLS and log files), CONN_FD_SPARE is kept for
 * files the process opens later for other work, and each connection
 * counts its socket plus one file it may hold while it works (an SMTP
 * message spooled to disk).  [limits] connections above the cap is
 * lowered to it with a warning that names both numbers; the per-address
 * limit (IPv6: per /64, conn_ip_key()) is then at most half of the
 * connections, so that one address cannot take every slot.  If accept() still fails for lack of
 * descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), the listeners
 * pause for CONN_ACCEPT_PAUSE_MS or until a connection closes, and the
 * failure is logged at most once a second: the loop never spins.
 *
 * Deadlines.  Besides the idle timeout, each connection has:
 * - login_timeout: from connect until the daemon calls
 *   conn_authenticated();
 * - command_timeout: for one command line, from its first byte to its
 *   line end (pipelined input that waits for a running command does not
 *   count);
 * - a transfer deadline: while the peer sends a counted transfer (the
 *   lines after conn_busy(), the bytes of conn_read_bytes()) or must read
 *   one (conn_sending(), or replies piled up unread), it must move at
 *   least transfer_rate bytes a second on average: the transfer times out
 *   once it is older than transfer_grace + bytes moved / transfer_rate
 *   seconds.  An input transfer's clock stops while the conn is paused
 *   (the server is busy, not the peer).  While the peer reads a transfer
 *   the idle timeout does not count its silence.
 * A missed deadline calls on_timeout (the protocol's goodbye;
 * conn_timeout_reason() says which deadline), logs one line and closes.
 * After a send timeout the goodbye is dropped with the unsent output: it
 * would land inside the transfer.
 */
#ifndef VELLUM_CONN_H
#define VELLUM_CONN_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct conn;
struct config;

/* Output above this is "full": producers wait for on_drain. */
#define CONN_OUT_HIGH	(256 * 1024)
#define CONN_OUT_LOW	(64 * 1024)
#define CONN_ADDR_MAX	64
/* Longest refusal text of a listener (conn_listen()). */
#define CONN_REFUSE_MAX	256
/* Largest piece given to on_bytes / on_stream. */
#define CONN_RAW_PIECE	(64 * 1024)

/* Descriptor budget (see the top of this file). */
#define CONN_FD_SPARE		16
#define CONN_FD_PER_CONN	2
/* accept() out of descriptors or memory: pause the listeners this long. */
#define CONN_ACCEPT_PAUSE_MS	1000

struct conn_ops {
	/* A complete line (without CRLF/LF; NUL bytes possible). */
	void	(*on_line)(struct conn *, const char *line, size_t len);
	/* A line over the limit was skipped. */
	void	(*on_toolong)(struct conn *);
	/* Output fell below CONN_OUT_LOW (may be NULL). */
	void	(*on_drain)(struct conn *);
	/*
	 * A deadline passed (idle, login, command, transfer:
	 * conn_timeout_reason()): the protocol may say goodbye; then the
	 * conn closes.
	 */
	void	(*on_timeout)(struct conn *);
	/* The server is shutting down and this conn is between commands. */
	void	(*on_shutdown)(struct conn *);
	/* The connection is gone (peer closed, error, conn_close done):
	 * free the session here. */
	void	(*on_close)(struct conn *);
	/*
	 * Raw bytes asked for with conn_read_bytes() (SMTP BDAT): called
	 * with consecutive pieces until the count is reached; `last` is set
	 * on the final piece, after which line mode resumes.
	 */
	void	(*on_bytes)(struct conn *, const char *data, size_t len,
		    int last);
	/*
	 * Raw input while conn_read_stream() is on (SMTP DATA): pieces of
	 * at most CONN_RAW_PIECE bytes as they arrive; returns how many it
	 * took.  Taking fewer is only allowed after turning the stream off
	 * (the rest is then cut into lines again).
	 */
	size_t	(*on_stream)(struct conn *, const char *data, size_t len);
};

/* Loop ------------------------------------------------------------------ */

/*
 * The drain signal (conn_drain()): vellumd sends it to a daemon its
 * reload replaced.  Not SIGUSR2 (the kick of sessreg.h), and not one a
 * terminal sends (SIGWINCH, SIGQUIT) to a vellumd run in the foreground.
 */
#define CONN_DRAIN_SIGNAL	SIGUSR1

/*
 * Creates the loop; installs SIGTERM/SIGINT (graceful stop),
 * CONN_DRAIN_SIGNAL (conn_drain()) and SIGPIPE.  Once the loop is freed,
 * SIGTERM and SIGINT are ignored: the process is on its way out.
 */
int	conn_loop_init(const struct config *);
struct event_base *conn_base(void);
/* Runs until conn_loop_stop() or graceful shutdown completes. */
int	conn_loop_run(void);
/*
 * Graceful shutdown (SIGTERM does this): stop accepting, tell idle
 * connections (on_shutdown), let busy ones finish their command; the loop
 * ends when none is left or after config shutdown_grace seconds.
 */
void	conn_shutdown(void);
/*
 * Drain (CONN_DRAIN_SIGNAL does this; a reload replaced us): the
 * listeners close at once, as under conn_shutdown(), but the connections
 * are told nothing and go on until they end on their own (an IMAP IDLE
 * too); the loop ends with the last one.  After [limits] reload_drain
 * seconds (0: at once) the drain becomes conn_shutdown(); a SIGTERM or
 * conn_shutdown() during a drain stops it the same way.
 */
void	conn_drain(void);
/*
 * Something besides connections that a shutdown or drain must wait for
 * (imapd's worker processes): +1 takes a hold, -1 gives one back; the
 * loop ends only when no connection and no hold is left (or when the
 * shutdown grace is over).
 */
void	conn_hold(int delta);
void	conn_loop_free(void);
/*
 * The connection cap for a descriptor limit of nofile with open
 * descriptors in use (formula at the top); at least 1.
 */
unsigned conn_fd_cap(unsigned long nofile, unsigned long open);
/*
 * wanted, or fewer when the descriptor limit has room for fewer
 * connections now (conn_fd_cap(), with a warning that names what).  For
 * a daemon that opens connections rather than accepting them.
 */
unsigned conn_fd_limit(const char *what, unsigned wanted);
/* The per-address limit: per_ip, but at most half of total (at least 1). */
unsigned conn_ip_cap(unsigned per_ip, unsigned total);
/*
 * What connections_per_ip counts by, for a peer address in text form:
 * the IPv4 address itself, or the /64 network of an IPv6 address (one
 * host can use any address in its /64), as "2001:db8:1:2::/64".
 */
void	conn_ip_key(const char *ip, char *key, size_t size);

/* TLS ------------------------------------------------------------------- */

/*
 * Loads the certificate and key of the config (or, when none is set, the
 * self-signed pair in data_dir, made on first use: tls_selfsigned()).
 * TLS 1.2 and above only.
 */
int	conn_tls_init(const struct config *);
/* Makes DATA_DIR/tls/{cert,key}.pem when missing (hostname as CN). */
int	tls_selfsigned(const char *data_dir, const char *hostname,
	    char *cert_r, char *key_r, size_t size);

/* Listeners --------------------------------------------------------- */

typedef void conn_accept_fn(struct conn *, void *arg);

/*
 * Listens on host:port ("*" or "" = every address, IPv4 and IPv6).
 * Each accepted connection (after per-IP and total limits: over them,
 * refuse_msg is written and the socket closed; its first "%s" becomes
 * " from ADDRESS" when the per-IP limit refused it, "" otherwise, so the
 * client learns which limit it met) becomes a conn with the
 * given line limits, TLS from the first byte when tls is set, and is
 * passed to fn, which must call conn_set_ops().  Returns 0, -1 (err).
 */
/*
 * Worker processes (prefork.c): called once the listeners are set up and
 * before anything that must not cross a fork (the store, threads,
 * auth_init()), forks n - 1 workers (at most CONN_WORKERS_MAX in all).
 * The first process accepts every connection, applies [limits]
 * connections and connections_per_ip to all the processes together, and
 * hands each connection to the one with the fewest open; it passes
 * SIGTERM, SIGINT and the drain signal on and, in conn_loop_free(),
 * waits for the workers.  1 in a worker, 0 in the first process.
 */
#define CONN_WORKERS_MAX	CONFIG_WORKERS_MAX
int	conn_workers(unsigned n);
/*
 * The workers of the daemon of svcs (a mask of 1 << SVC_*): the largest
 * `workers` of their sections; when none is set, dflt (0: one per core).
 */
unsigned conn_workers_wanted(const struct config *, unsigned svcs,
	    unsigned dflt);

/*
 * Sockets a supervisor bound: VELLUM_LISTEN_FDS, "FD PORT HOST" entries
 * separated by ';'.  conn_listen() takes the ones of its address instead
 * of binding (vellumd binds every listener, so a reload or a restart never
 * closes a socket with connections waiting); the rest are closed when the
 * loop starts.  conn_inherit_entry() appends one entry to buf.
 */
#define CONN_INHERIT_ENV	"VELLUM_LISTEN_FDS"
#define CONN_INHERIT_MAX	64
#define CONN_BIND_MAX		8	/* sockets for one host:port */
int	conn_inherit_entry(char *buf, size_t size, int fd, const char *host,
	    const char *port);
/* Binds and listens on every address of host:port; the count of fds. */
int	conn_bind(const char *host, const char *port, int *fds, size_t max);
int	conn_listen(const char *host, const char *port, int tls,
	    size_t line_max, int bare_lf, const char *refuse_msg,
	    conn_accept_fn *fn, void *arg);
/* Listeners of a service from the config (every listen address). */
int	conn_listen_service(const struct config *, int svc, size_t line_max,
	    int bare_lf, const char *refuse_msg, conn_accept_fn *fn,
	    void *arg);

/* Connections ------------------------------------------------------- */

void	conn_set_ops(struct conn *, const struct conn_ops *, void *ctx);
void	*conn_ctx(struct conn *);
const char *conn_peer(struct conn *);	/* "192.0.2.1" / "2001:db8::1" */
const char *conn_local_port(struct conn *);	/* ours: "25" */
const char *conn_peer_port(struct conn *);	/* the client's: "51234" */
int	conn_is_tls(struct conn *);
unsigned long conn_id(struct conn *);

int	conn_write(struct conn *, const void *, size_t);
int	conn_printf(struct conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * The longest line accepted from now on (SMTP raises it for DATA and
 * lowers it again after).  May be called from on_line: the line given
 * there stays valid until on_line returns.
 */
void	conn_set_line_max(struct conn *, size_t);
/*
 * The next n bytes (n > 0) go to on_bytes instead of being cut into
 * lines (SMTP BDAT).
 */
void	conn_read_bytes(struct conn *, size_t n);
/*
 * on (1): input goes to on_stream instead of being cut into lines, and
 * at most CONN_RAW_PIECE bytes plus the line limit are buffered, so a
 * line without an end costs no memory here; off (0): lines again.  May
 * be called from on_line and on_stream.
 */
void	conn_read_stream(struct conn *, int on);
/* Bytes waiting to be sent. */
size_t	conn_out_pending(struct conn *);
/*
 * Bytes the peer sent that no callback has been given yet; in on_line,
 * what came after that line (SMTP: a client talking ahead of a reply).
 */
size_t	conn_in_pending(struct conn *);
/* Stops/resumes line callbacks (e.g. while a reply is streamed). */
void	conn_pause(struct conn *);
void	conn_resume(struct conn *);
/*
 * A reply written after a delay (a refused login's, auth_failed()), the
 * conn paused meanwhile so that no command runs before it.  The session
 * owns and frees it, as its timer calls back into the session; NULL
 * until first used.
 */
struct conn_delay;
/* After a delayed reply: close_after set, the daemon closes; else resumed. */
typedef void conn_delay_fn(void *arg, int close_after);
/*
 * Writes reply (a string) on c after ms milliseconds, then calls
 * done(arg, close_after).  ms 0: writes it now and calls done only when
 * close_after is set.  0, or -1 when the timer cannot be made (nothing
 * written; the caller says how that ends).
 */
int	conn_delay_reply(struct conn_delay **, struct conn *c, unsigned ms,
	    const char *reply, int close_after, conn_delay_fn *done,
	    void *arg);
/* Whether a delayed reply waits to be written. */
int	conn_delay_pending(const struct conn_delay *);
/* Cancels a waiting reply, frees, sets *dp = NULL. */
void	conn_delay_free(struct conn_delay **dp);
/*
 * Starts TLS on a plaintext connection: everything the peer sent after
 * the current line is discarded (never executed after the handshake),
 * queued output is flushed in plaintext first.  Returns 0, -1 (err).
 */
int	conn_starttls(struct conn *);
/*
 * Turns on COMPRESS=DEFLATE (RFC 4978): from now on input is inflated
 * and output deflated (raw deflate, flushed at every write), above TLS
 * when that is on.  Output queued before the call goes out as it was.
 * Returns 0, -1 (err: INVALID when already on, TEMP).
 */
int	conn_compress(struct conn *);
/*
 * The idle timeout of this conn in seconds from now on (0: [limits]
 * idle_timeout again); IMAP raises it after login (RFC 3501 5.4).
 */
void	conn_set_idle_timeout(struct conn *, unsigned secs);
/*
 * A command goes on across the following lines (SMTP DATA): the conn is
 * not idle between them, so a shutdown waits for it, until conn_idle().
 * Those lines are an input transfer (the transfer deadline applies, the
 * command deadline does not).
 */
void	conn_busy(struct conn *);
/*
 * The reply being written is a transfer (POP3 RETR, IMAP FETCH): until
 * conn_idle(), the peer must read it at the transfer rate.
 */
void	conn_sending(struct conn *);
/*
 * Marks the command finished (ends a transfer): under shutdown, the
 * conn is told so.
 */
void	conn_idle(struct conn *);
/*
 * The peer is past the login stage: the login deadline stops.  For a
 * service without logins the daemon decides what counts (smtpd: a
 * successful AUTH or the first accepted MAIL).
 */
void	conn_authenticated(struct conn *);
/*
 * Which deadline passed, for on_timeout: "idle", "login", "command",
 * "transfer" (also "idle" outside on_timeout).
 */
const char *conn_timeout_reason(struct conn *);
/*
 * The administrator wants this conn gone (`vellumctl kick`, sessreg.h):
 * as under a shutdown, on_shutdown says the protocol's goodbye and the
 * conn closes, at once when it is between commands, else when the
 * command ends (conn_idle()).  on_shutdown tells the two apart with
 * conn_kicked().
 */
void	conn_kick(struct conn *);
int	conn_kicked(struct conn *);
/* Closes after queued output is sent; on_close follows. */
void	conn_close(struct conn *);

#endif
