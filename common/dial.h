/*
 * dial.h - a blocking client connection with one deadline, for the small
 * request/reply services a worker thread asks about a message (spamd:
 * deliver/spamscore.c, clamd: deliver/clamav.c).
 *
 * An address is "host:port", "[v6addr]:port", "host" (the caller's
 * default port) or the absolute path of a unix socket.  A host name is
 * looked up with getaddrinfo() (blocking, before the deadline starts):
 * prefer an address.
 *
 * The socket is non-blocking and every wait is a poll() against one
 * monotonic deadline set when the connection starts, so a peer that
 * accepts and then hangs (or trickles bytes) costs at most timeout_ms,
 * however the time is split between connect, send and receive.
 *
 * Every function that can fail writes why into why[whysize] (may be
 * NULL/0) as "WHAT ADDR: reason" ("clamd /run/clamd.ctl: connect:
 * Connection refused") and returns 0.  Thread-safe; no state outside the
 * struct dial.
 */
#ifndef VELLUM_COMMON_DIAL_H
#define VELLUM_COMMON_DIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dial {
	const char	*what;		/* "spamd": for messages */
	const char	*addr;		/* as given: for messages */
	int		 timeout_ms;
	int64_t		 deadline;	/* monotonic ms */
	int		 fd;		/* -1: not connected */
};

/*
 * Checks that addr has one of the forms above (no lookup): 1 it does, 0
 * not (why says so).  For config checks.
 */
int	dial_addr_check(const char *addr, char *why, size_t whysize);

/*
 * Connects d->fd to d->addr (what, addr and timeout_ms set by the
 * caller; port when addr has none).  1 connected, 0 not (why set, fd -1).
 */
int	dial_connect(struct dial *d, const char *port, char *why,
	    size_t whysize);

/*
 * Sends buf[len] whole.  1 sent; 0 failed (why set).  A peer that closed
 * early may still have sent a reply (an error line): the caller reads
 * on.
 */
int	dial_send(struct dial *d, const void *buf, size_t len, char *why,
	    size_t whysize);

/*
 * Receives at most size bytes into buf.  1 some (*got_r: how many; 0 at
 * end of stream), 0 failed or timed out (why set; doing says what the
 * wait was for in a timeout message: "waiting for the reply").
 */
int	dial_recv(struct dial *d, void *buf, size_t size, size_t *got_r,
	    const char *doing, char *why, size_t whysize);

/*
 * A reply parser for dial_reply(): buf[len] is all of the reply so far,
 * eof says no more will come.  1 whole and well-formed (it fills what arg
 * points at), 0 needs more (never with eof), -1 bad (why set).
 */
typedef int dial_parse_fn(const char *buf, size_t len, int eof, void *arg,
	    char *why, size_t whysize);

/*
 * Reads a reply into buf[size] until parse takes it whole: 1 it did; 0 a
 * bad or cut reply, a reply longer than size, a timeout or a receive
 * error (why set).  perr is what a send before it failed with ("" none):
 * then the reply is no verdict on the request (0), and a reset or a
 * close before any reply is reported as that failure.
 */
int	dial_reply(struct dial *d, char *buf, size_t size,
	    dial_parse_fn *parse, void *arg, const char *perr, char *why,
	    size_t whysize);

/* Closes the connection (fd -1); fine when not connected. */
void	dial_close(struct dial *d);

/* Writes a reason into why (may be NULL/0); returns 0. */
int	dial_why(char *why, size_t whysize, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Bytes from a peer, shown safely: non-printables as '?', cut. */
void	dial_printable(const char *s, size_t len, char *out, size_t outsize);

#endif
