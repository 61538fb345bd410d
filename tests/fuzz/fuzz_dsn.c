/*
 * fuzz_dsn.c - delivery status notifications (deliver/dsn.c) and SRS
 * (deliver/srs.c) on any bytes.
 *
 * The input is cut at NUL bytes into the values a remote or a client
 * controls: the reply text, the recipient, its ORCPT, the ENVID, the
 * sender, the remote MTA's name, a status, and the rest is the original
 * message; the first byte picks the action and RET.  Whatever they hold,
 * the notice must keep its structure: CRLF lines of at most 998 octets, a
 * multipart/report whose boundary opens exactly its parts and occurs
 * nowhere else, 7-bit text and report parts with one recipient group.
 * SRS: the sender rewritten and reversed gives it back; any field
 * reversed never crashes and gives 0, 1 or -1.
 */
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "deliver/dsn.h"
#include "deliver/srs.h"
#include "mail/mime.h"

#include "fuzz.h"

#define FUZZ_FIELDS	7

static const unsigned char key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";

/* Occurrences of needle in [p, p+len). */
static size_t
count(const char *p, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	const char *q, *end = p + len;

	while ((q = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
		n++;
		p = q + 1;
	}
	return n;
}

static void
check_notice(const char *m, size_t len, int has_orig)
{
	char ct[300], type[64], boundary[100], delim[110];
	const char *body, *p, *q, *end = m + len;
	size_t i, col = 0, hdrlen, parts;

	for (i = 0; i < len; i++) {
		if (m[i] == '\n')
			FUZZ_CHECK(i > 0 && m[i - 1] == '\r', "bare LF at %zu",
			    i);
		if (m[i] == '\r')
			FUZZ_CHECK(i + 1 < len && m[i + 1] == '\n',
			    "bare CR at %zu", i);
		if (m[i] == '\r' || m[i] == '\n')
			col = 0;
		else
			FUZZ_CHECK(++col <= 998, "line over 998 at %zu", i);
	}
	hdrlen = mime_header_end((const uint8_t *)m, len);
	FUZZ_CHECK(mime_header_get((const uint8_t *)m, hdrlen, "Content-Type",
	    ct, sizeof(ct)) == 1, "no Content-Type");
	mime_content_type(ct, type, sizeof(type), boundary, sizeof(boundary));
	FUZZ_CHECK(strcmp(type, "multipart/report") == 0 &&
	    boundary[0] != '\0', "Content-Type %s", ct);
	/* the boundary: only on its delimiter lines */
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	parts = has_orig ? 3 : 2;
	FUZZ_CHECK(count(m, len, boundary) == parts + 2, "boundary %s seen "
	    "%zu times (header + %zu parts + close)", boundary,
	    count(m, len, boundary), parts);
	FUZZ_CHECK(count(m, len, delim) == parts + 1, "delimiters");
	/* parts 1 and 2: 7-bit, one recipient group */
	body = m + hdrlen - 2;
	p = memmem(body, (size_t)(end - body), delim, strlen(delim));
	FUZZ_CHECK(p != NULL, "first delimiter");
	for (i = 0; i < 2; i++) {
		const char *s;

		p += strlen(delim) + 2;
		q = memmem(p, (size_t)(end - p), delim, strlen(delim));
		FUZZ_CHECK(q != NULL, "part %zu closed", i);
		for (s = p; s < q; s++)
			FUZZ_CHECK((unsigned char)*s < 0x80 && (*s >= 0x20 ||
			    *s == '\r' || *s == '\n' || *s == '\t'),
			    "part %zu byte 0x%02x", i, (unsigned char)*s);
		if (i == 1) {
			FUZZ_CHECK(count(p, (size_t)(q - p),
			    "\r\nFinal-Recipient:") == 1, "one Final-Recipient");
			FUZZ_CHECK(count(p, (size_t)(q - p), "\r\nAction:") == 1,
			    "one Action");
			FUZZ_CHECK(count(p, (size_t)(q - p), "\r\nStatus:") == 1,
			    "one Status");
		}
		p = q;
	}
}

static void
fuzz_srs(const char *sender, const char *other)
{
	char out[SRS_ADDR_MAX + 1], back[SRS_ADDR_MAX + 1];
	int rc;

	rc = srs_reverse(key, sizeof(key), other, 1796126400, 21, out,
	    sizeof(out));
	FUZZ_CHECK(rc >= -1 && rc <= 1, "reverse rc %d", rc);
	if (rc == 1)
		FUZZ_CHECK(strlen(out) < sizeof(out), "reverse length");
	if (srs_forward(key, sizeof(key), sender, "fwd.test", 1796126400, out,
	    sizeof(out)) != 1)
		return;
	FUZZ_CHECK(strchr(out, '@') != NULL && (size_t)(strrchr(out, '@') -
	    out) <= SRS_LOCAL_MAX, "forward \"%s\"", out);
	if (strncmp(out, "SRS0=", 5) != 0 && strncasecmp(sender, "SRS0", 4))
		return;		/* an SRS1 re-forwarded: another first hop */
	rc = srs_reverse(key, sizeof(key), out, 1796126400 + 86400, 21, back,
	    sizeof(back));
	/* the SRS0 tag of a wrapped address comes back as "SRS0" */
	FUZZ_CHECK(rc == 1 && strlen(back) == strlen(sender) &&
	    (strncasecmp(sender, "SRS0", 4) == 0 ? strncasecmp(back, sender,
	    4) == 0 && strcmp(back + 4, sender + 4) == 0 : strcmp(back,
	    sender) == 0), "\"%s\" -> \"%s\" "
	    "-> rc %d \"%s\" (%s)", sender, out, rc, rc == 1 ? back : "",
	    rc == -1 ? err_msg() : "");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	char *buf, *f[FUZZ_FIELDS], *p, *end, *m;
	size_t i, mlen, restlen;
	unsigned sel;

	if (size < 1)
		return 0;
	sel = data[0];
	buf = malloc(size + 1);
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	end = buf + size - 1;
	p = buf;
	for (i = 0; i < FUZZ_FIELDS; i++) {
		f[i] = p;
		p += strlen(p);
		if (p < end)
			p++;
	}
	restlen = (size_t)(end - p);

	memset(&r, 0, sizeof(r));
	r.addr = f[1];
	r.orcpt = f[2];
	r.action = (enum dsn_action)(DSN_FAILED + (sel & 3));
	r.reply = f[0];
	r.remote_mta = f[5];
	r.status = (sel & 0x40) ? f[6] : NULL;
	r.last_attempt = 1796126400;
	r.retry_until = 1796126400 + 86400;
	memset(&in, 0, sizeof(in));
	in.hostname = "mx.fuzz.test";
	in.sender = f[4];
	in.envid = f[3];
	in.ret = (enum dsn_ret)((sel >> 2) % 3);
	in.queue_id = 0x1234;
	in.arrival = 1796126400 - 3600;
	in.rcpts = &r;
	in.nrcpts = 1;
	in.msg = p;
	in.msglen = restlen;
	in.now = 1796126400;
	in.notice_id = 0xABCD;
	FUZZ_CHECK(dsn_compose(&in, &m, &mlen) == 0, "compose: %s",
	    err_msg());
	FUZZ_CHECK(strlen(m) == mlen || memchr(m, '\0', mlen) != NULL,
	    "length");
	check_notice(m, mlen, restlen > 0);
	free(m);

	fuzz_srs(f[4], f[1]);
	free(buf);
	return 0;
}
