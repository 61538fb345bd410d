/*
 * fuzz_pop3dot.c - RETR and TOP output (mail/pop3dot.c) for any message.
 *
 * The message was written by a peer, so it must not be able to end the
 * POP3 response early or change what the client reads.  The output, read
 * back the way a client reads a multi-line response (the SMTP DATA
 * decoder of smtpd/parse.c does exactly that: up to CRLF "." CRLF, dots
 * unstuffed), must be the message with bare LFs made CRLF (and a CRLF
 * added when it lacks a final line end), ending exactly at the end of the
 * output.  The output must not depend on how the message is cut into
 * chunks.  TOP's output must read back as a prefix of RETR's that ends
 * at a line end and holds at most the requested number of body lines.
 */
#include <string.h>

#include "mail/pop3dot.h"
#include "smtpd/parse.h"

#include "fuzz.h"

static char	*fuzz_convert(const char *, size_t, long, int, uint64_t,
		    size_t *);
static char	*fuzz_read_back(const char *, size_t, size_t *);
static uint64_t	fuzz_rand(uint64_t *);

static uint64_t
fuzz_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* pop3dot over msg: mode 0 whole, 1 byte by byte, 2 random pieces. */
static char *
fuzz_convert(const char *msg, size_t len, long lines, int mode,
    uint64_t seed, size_t *outlen_r)
{
	struct pop3dot st;
	char *out, *o;
	size_t pos = 0, n, w;

	out = malloc(POP3DOT_OUT_MAX(len) + POP3DOT_FINISH_MAX);
	FUZZ_CHECK(out != NULL, "out of memory");
	*outlen_r = 0;
	pop3dot_init(&st, lines);
	while (pos < len && !pop3dot_done(&st)) {
		n = mode == 0 ? len : mode == 1 ? 1 :
		    1 + fuzz_rand(&seed) % 32;
		if (n > len - pos)
			n = len - pos;
		/* Exactly the promised room, so that ASan sees more. */
		o = malloc(POP3DOT_OUT_MAX(n) > 0 ? POP3DOT_OUT_MAX(n) : 1);
		FUZZ_CHECK(o != NULL, "out of memory");
		w = pop3dot_feed(&st, msg + pos, n, o);
		FUZZ_CHECK(w <= POP3DOT_OUT_MAX(n), "%zu bytes out of %zu", w,
		    n);
		memcpy(out + *outlen_r, o, w);
		*outlen_r += w;
		free(o);
		pos += n;
	}
	w = pop3dot_finish(&st, out + *outlen_r);
	FUZZ_CHECK(w <= POP3DOT_FINISH_MAX && pop3dot_done(&st), "finish");
	*outlen_r += w;
	return out;
}

/* What a client reads from a multi-line response; aborts if it is cut. */
static char *
fuzz_read_back(const char *resp, size_t len, size_t *msglen_r)
{
	struct smtp_data d;
	char *msg;
	size_t used;
	int rc;

	msg = malloc(SMTP_DATA_OUT_MAX(len));
	FUZZ_CHECK(msg != NULL, "out of memory");
	smtp_data_init(&d, UINT64_MAX);
	rc = smtp_data_feed(&d, resp, len, msg, msglen_r, &used);
	FUZZ_CHECK(rc == 1 && used == len, "the response ends after %zu of "
	    "%zu bytes (rc %d)", used, len, rc);
	FUZZ_CHECK(!d.bare_lf, "a bare LF in the response");
	return msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	char *want, *out, *out2, *got, *top, *topgot;
	const char *p;
	size_t wantlen = 0, outlen, out2len, gotlen, toplen, topgotlen, i;
	size_t hdr, nbody;
	uint64_t seed = 0x84222325cbf29ce4ULL;
	long lines;
	int mode;

	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3ULL;
	seed |= 1;

	/* The message as the client must see it. */
	want = malloc(2 * size + 2);
	FUZZ_CHECK(want != NULL, "out of memory");
	for (i = 0; i < size; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			want[wantlen++] = '\r';
		want[wantlen++] = msg[i];
	}
	if (size > 0 && msg[size - 1] != '\n') {
		want[wantlen++] = '\r';
		want[wantlen++] = '\n';
	}

	/* RETR, in any chunks. */
	out = fuzz_convert(msg, size, POP3DOT_ALL, 0, seed, &outlen);
	for (mode = 1; mode < 3; mode++) {
		out2 = fuzz_convert(msg, size, POP3DOT_ALL, mode, seed,
		    &out2len);
		FUZZ_CHECK(out2len == outlen && memcmp(out, out2, outlen) == 0,
		    "mode %d: %zu bytes, in one piece %zu (or they differ)",
		    mode, out2len, outlen);
		free(out2);
	}
	got = fuzz_read_back(out, outlen, &gotlen);
	FUZZ_CHECK(gotlen == wantlen && memcmp(got, want, wantlen) == 0,
	    "RETR reads back as %zu bytes, not the message's %zu (or "
	    "different ones)", gotlen, wantlen);

	/* TOP: the header, the empty line, at most `lines` body lines. */
	lines = size > 0 ? data[0] % 8 : 0;
	top = fuzz_convert(msg, size, lines, 2, seed, &toplen);
	topgot = fuzz_read_back(top, toplen, &topgotlen);
	FUZZ_CHECK(topgotlen <= gotlen && memcmp(topgot, got, topgotlen) == 0,
	    "TOP %ld: %zu bytes that are not a prefix of RETR's %zu", lines,
	    topgotlen, gotlen);
	FUZZ_CHECK(topgotlen == 0 || (topgotlen >= 2 &&
	    topgot[topgotlen - 2] == '\r' && topgot[topgotlen - 1] == '\n'),
	    "TOP %ld does not end at a line end", lines);
	/* Body lines: the lines after the first empty one. */
	if (topgotlen >= 2 && topgot[0] == '\r' && topgot[1] == '\n')
		hdr = 2;
	else if ((p = memmem(topgot, topgotlen, "\r\n\r\n", 4)) != NULL)
		hdr = (size_t)(p - topgot) + 4;
	else
		hdr = topgotlen;
	for (i = hdr + 1, nbody = 0; i < topgotlen; i++)
		nbody += topgot[i - 1] == '\r' && topgot[i] == '\n';
	FUZZ_CHECK(nbody <= (size_t)lines, "TOP %ld sent %zu body lines",
	    lines, nbody);
	free(want);
	free(out);
	free(got);
	free(top);
	free(topgot);
	return 0;
}
