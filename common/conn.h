/*
 * conn.h - the event loop, listeners and connections (libevent 2).
 *
 * One loop per process.  A connection is a bufferevent (an OpenSSL
 * filter once TLS is on) with a bounded line reader: the protocol gets
 * one callback per line and writes replies with conn_printf(), and never
 * sees a socket.  Connections are freed only after the callback that
 * closed them returns (deferred free).
 */
#ifndef VELLUM_CONN_H
#define VELLUM_CONN_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct conn;
struct config;

/* Output above this is "full": producers wait for on_drain. */
#define CONN_OUT_HIGH	(256 * 1024)
#define CONN_OUT_LOW	(64 * 1024)
#define CONN_ADDR_MAX	64
/* Largest piece given to on_bytes / on_stream. */
#define CONN_RAW_PIECE	(64 * 1024)

struct conn_ops {
	/* A complete line (without CRLF/LF; NUL bytes possible). */
	void	(*on_line)(struct conn *, const char *line, size_t len);
	/* A line over the limit was skipped. */
	void	(*on_toolong)(struct conn *);
	/* Output fell below CONN_OUT_LOW (may be NULL). */
	void	(*on_drain)(struct conn *);
	/* Idle timeout: the protocol may say goodbye; then the conn closes. */
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

/* Creates the loop; installs SIGTERM/SIGINT (graceful stop) and SIGPIPE. */
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
void	conn_loop_free(void);

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
 * refuse_msg is written and the socket closed) becomes a conn with the
 * given line limits, TLS from the first byte when tls is set, and is
 * passed to fn, which must call conn_set_ops().  Returns 0, -1 (err).
 */
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
const char *conn_local_port(struct conn *);
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
/* Stops/resumes line callbacks (e.g. while a reply is streamed). */
void	conn_pause(struct conn *);
void	conn_resume(struct conn *);
/*
 * Starts TLS on a plaintext connection: everything the peer sent after
 * the current line is discarded (never executed after the handshake),
 * queued output is flushed in plaintext first.  Returns 0, -1 (err).
 */
int	conn_starttls(struct conn *);
/*
 * A command goes on across the following lines (SMTP DATA): the conn is
 * not idle between them, so a shutdown waits for it, until conn_idle().
 */
void	conn_busy(struct conn *);
/* Marks the command finished: under shutdown, the conn is told so. */
void	conn_idle(struct conn *);
/* Closes after queued output is sent; on_close follows. */
void	conn_close(struct conn *);

#endif
