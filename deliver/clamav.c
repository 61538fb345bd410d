/*
 * clamav.c - a message scanned by clamd (see clamav.h).
 *
 * One connection with one deadline (common/dial.h), as the spamd client
 * has: a clamd that accepts and then hangs costs at most timeout_ms.
 * The "z" form of the command is used so the reply ends in a NUL: a
 * virus name cannot then end the reply early with a newline, and the
 * parser knows the reply is whole without waiting for the close.  The
 * message goes in CLAM_CHUNK pieces (clamd reads each into a buffer of
 * its own); clamd answers as soon as the stream passes its
 * StreamMaxLength and closes, so a failed send is followed by a read of
 * that answer before the failure is reported.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dial.h"

#include "clamav.h"

static int	clam_send_chunk(struct dial *, const void *, size_t, char *,
		    size_t);
static int	clam_parse(const char *, size_t, int, void *, char *, size_t);

int
clam_reply_parse(const char *buf, size_t len, int eof, struct clam_reply *r,
    char *why, size_t whysize)
{
	static const char prefix[] = "stream: ", found[] = "FOUND",
	    error[] = " ERROR";
	const char *nul, *name;
	char show[80];
	size_t rlen, nlen, i;

	memset(r, 0, sizeof(*r));
	nul = memchr(buf, '\0', len < CLAM_REPLY_MAX ? len : CLAM_REPLY_MAX);
	if (nul == NULL) {
		if (len >= CLAM_REPLY_MAX)
			return dial_why(why, whysize, "reply longer than %d "
			    "bytes", CLAM_REPLY_MAX - 1) - 1;
		if (!eof)
			return 0;
		if (len == 0)
			return dial_why(why, whysize, "connection closed "
			    "without a reply") - 1;
		dial_printable(buf, len, show, sizeof(show));
		return dial_why(why, whysize, "reply without its NUL: "
		    "\"%s\"", show) - 1;
	}
	rlen = (size_t)(nul - buf);
	dial_printable(buf, rlen, show, sizeof(show));
	if (rlen + 1 < len)
		return dial_why(why, whysize, "%zu bytes after the reply "
		    "\"%s\"", len - rlen - 1, show) - 1;
	r->used = rlen + 1;
	if (rlen >= sizeof(error) - 1 && memcmp(buf + rlen -
	    (sizeof(error) - 1), error, sizeof(error) - 1) == 0)
		return dial_why(why, whysize, "clamd error: \"%s\"", show) - 1;
	if (rlen < sizeof(prefix) - 1 || memcmp(buf, prefix,
	    sizeof(prefix) - 1) != 0)
		return dial_why(why, whysize, "not a clamd reply: \"%s\"",
		    show) - 1;
	name = buf + sizeof(prefix) - 1;
	nlen = rlen - (sizeof(prefix) - 1);
	if (nlen == 2 && memcmp(name, "OK", 2) == 0)
		return 1;
	if (nlen < sizeof(found) - 1 || memcmp(name + nlen -
	    (sizeof(found) - 1), found, sizeof(found) - 1) != 0)
		return dial_why(why, whysize, "not a clamd reply: \"%s\"",
		    show) - 1;
	nlen -= sizeof(found) - 1;
	if (nlen > 0 && name[nlen - 1] != ' ')
		return dial_why(why, whysize, "not a clamd reply: \"%s\"",
		    show) - 1;
	nlen -= nlen > 0;
	/* "stream: FOUND" leaves no name, "stream:   FOUND" blanks */
	for (i = 0; i < nlen && name[i] == ' '; i++)
		;
	if (i == nlen)
		return dial_why(why, whysize, "FOUND without a virus name: "
		    "\"%s\"", show) - 1;
	r->found = 1;
	/* a name a reply and a log line can carry (not blanks, once cut) */
	dial_printable(name + i, nlen - i, r->name, sizeof(r->name));
	return 1;
}

/* clam_reply_parse() as dial_reply() calls it. */
static int
clam_parse(const char *buf, size_t len, int eof, void *rep, char *why,
    size_t whysize)
{
	return clam_reply_parse(buf, len, eof, rep, why, whysize);
}

/* Sends one chunk: its length (4 bytes, big-endian), then its bytes. */
static int
clam_send_chunk(struct dial *d, const void *p, size_t n, char *why,
    size_t whysize)
{
	unsigned char head[4];

	head[0] = (unsigned char)(n >> 24);
	head[1] = (unsigned char)(n >> 16);
	head[2] = (unsigned char)(n >> 8);
	head[3] = (unsigned char)n;
	return dial_send(d, head, sizeof(head), why, whysize) &&
	    (n == 0 || dial_send(d, p, n, why, whysize));
}

int
clam_scan(const struct clam_conf *conf, const void *msg, size_t len,
    int *found_r, char *name, size_t namesize, char *why, size_t whysize)
{
	static const char cmd[] = "zINSTREAM";	/* its NUL is sent too */
	struct dial d;
	struct clam_reply rep;
	const char *p = msg;
	char buf[CLAM_REPLY_MAX], perr[256];
	size_t n, off;
	int r, sent;

	*found_r = 0;
	if (name != NULL && namesize > 0)
		name[0] = '\0';
	if (why != NULL && whysize > 0)
		why[0] = '\0';
	memset(&d, 0, sizeof(d));
	d.what = "clamd";
	d.addr = conf->addr;
	d.timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms :
	    CLAM_TIMEOUT_DEFAULT;
	if (d.addr == NULL || d.addr[0] == '\0')
		return dial_why(why, whysize, "clamd: no address");
	if (!dial_connect(&d, CLAM_PORT_DEFAULT, why, whysize))
		return 0;
	perr[0] = '\0';
	sent = dial_send(&d, cmd, sizeof(cmd), perr, sizeof(perr));
	for (off = 0; sent && off < len; off += n) {
		n = len - off < CLAM_CHUNK ? len - off : CLAM_CHUNK;
		sent = clam_send_chunk(&d, p + off, n, perr, sizeof(perr));
	}
	if (sent)
		(void)clam_send_chunk(&d, NULL, 0, perr, sizeof(perr));
	r = dial_reply(&d, buf, sizeof(buf), clam_parse, &rep, perr, why,
	    whysize);
	dial_close(&d);
	if (r != 1)
		return 0;
	*found_r = rep.found;
	if (rep.found && name != NULL && namesize > 0)
		snprintf(name, namesize, "%s", rep.name);
	return 1;
}
