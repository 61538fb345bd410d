/*
 * clamav.h - a message scanned for viruses by clamd (ClamAV), for the
 * inbound antivirus check ([antivirus], deliver/stage.c).
 *
 * Speaks clamd's INSTREAM command (clamd(8)) over a unix socket or TCP:
 *   zINSTREAM NUL
 *   <4-byte big-endian length><that many bytes of the message>  ...
 *   <4 zero bytes>                          the end of the stream
 * and reads one NUL-terminated reply:
 *   stream: OK NUL                          clean
 *   stream: NAME FOUND NUL                  infected by NAME
 *   TEXT ERROR NUL                          not scanned ("INSTREAM size
 *                                           limit exceeded. ERROR" when
 *                                           the message is longer than
 *                                           clamd's StreamMaxLength)
 * Anything else is a malformed reply.  The reply is at most
 * CLAM_REPLY_MAX bytes with its NUL; nothing may follow the NUL.
 *
 * clam_scan() BLOCKS (connect, send, receive) for up to the deadline:
 * call it from a worker thread (common/worker.h), never on an event loop
 * and never inside a store transaction.  It is thread-safe and keeps no
 * state between calls (one connection per message).
 */
#ifndef VELLUM_DELIVER_CLAMAV_H
#define VELLUM_DELIVER_CLAMAV_H

#include <stddef.h>

#define CLAM_PORT_DEFAULT	"3310"	/* clamd's TCPSocket */
#define CLAM_TIMEOUT_DEFAULT	30000	/* ms: connect + the whole exchange */
#define CLAM_CHUNK		65536	/* bytes of the message per chunk */
#define CLAM_REPLY_MAX		1024	/* longest reply, NUL included */
#define CLAM_NAME_MAX		128	/* longest virus name kept */

struct clam_conf {
	/*
	 * Where clamd listens: the absolute path of its LocalSocket, or
	 * "host:port", "[v6addr]:port", "host" (port 3310) for its
	 * TCPSocket (common/dial.h).  Must not be NULL or "".
	 */
	const char	*addr;
	int		 timeout_ms;	/* 0: CLAM_TIMEOUT_DEFAULT */
};

/* A parsed reply (clam_reply_parse()). */
struct clam_reply {
	int	found;				/* 1 infected, 0 clean */
	/* the virus's name, printable ASCII (other bytes are '?'), cut to
	   CLAM_NAME_MAX; "" when clean */
	char	name[CLAM_NAME_MAX + 1];
	size_t	used;				/* bytes of the reply, NUL
						   included */
};

/*
 * Scans msg[len].  1 scanned: *found_r is 1 when clamd found a virus,
 * whose name is then in name (as clam_reply.name, cut to namesize - 1),
 * else 0 and name is "".  0 not scanned: why says why (clamd down,
 * refused, timed out, its ERROR reply, a malformed reply); the caller
 * decides between tempfail and accept.  name and why may be NULL when
 * their size is 0.  Never -1.
 */
int	clam_scan(const struct clam_conf *, const void *msg, size_t len,
	    int *found_r, char *name, size_t namesize, char *why,
	    size_t whysize);

/*
 * Parses a reply held in buf[len] (pure; for clam_scan() and tests).
 * eof: no more bytes will come.  1 a complete, well-formed "stream: OK"
 * or "stream: NAME FOUND" (r filled); 0 need more bytes (never with
 * eof); -1 an error: why says which (clamd's ERROR reply, no NUL before
 * the end or within CLAM_REPLY_MAX bytes, bytes after the NUL, FOUND
 * without a name, anything else).
 */
int	clam_reply_parse(const char *buf, size_t len, int eof,
	    struct clam_reply *r, char *why, size_t whysize);

#endif
