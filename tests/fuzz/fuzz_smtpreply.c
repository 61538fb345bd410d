/*
 * fuzz_smtpreply.c - the SMTP reply reader and EHLO parser (mta/reply.c)
 * on anything a remote server may send.
 *
 * Properties: the reader never consumes more than it was offered, asks for
 * more only while it holds less than a line's limit, and every reply it
 * returns is well-formed (code 200..599, NUL-terminated text of textlen
 * bytes under MTA_REPLY_MAX, at most MTA_REPLY_LINES_MAX lines, an
 * enhanced code of the reply's class or none).  The replies (and where an
 * error comes) must not depend on how the input is cut into reads: whole,
 * byte by byte and in pseudo-random pieces give the same results.
 */
#include <string.h>

#include "mta/reply.h"

#include "fuzz.h"

#define FUZZ_HOLD	(MTA_REPLY_LINE_MAX + 2)

struct fuzz_feed {
	struct mta_reply_reader	rd;
	char			*held;
	size_t			len;
	int			failed;
	uint64_t		digest;	/* of every result, in order */
	size_t			nreplies;
};

static void	fuzz_feed(struct fuzz_feed *, const uint8_t *, size_t);
static void	fuzz_run(const uint8_t *, size_t, int, uint64_t,
		    struct fuzz_feed *);
static uint64_t	fuzz_mix(uint64_t, const void *, size_t);
static uint64_t	fuzz_rand(uint64_t *);

static uint64_t
fuzz_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint64_t
fuzz_mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static void
fuzz_feed(struct fuzz_feed *f, const uint8_t *p, size_t n)
{
	const struct mta_reply *r;
	struct mta_reply_ehlo e;
	size_t want, used;
	int rc;

	if (f->failed)
		return;
	f->held = realloc(f->held, f->len + n + 1);
	FUZZ_CHECK(f->held != NULL, "out of memory");
	memcpy(f->held + f->len, p, n);
	f->len += n;
	for (;;) {
		want = f->len < FUZZ_HOLD ? f->len : FUZZ_HOLD;
		rc = mta_reply_read(&f->rd, f->held, want, &used);
		FUZZ_CHECK(used <= want, "consumed %zu of %zu", used, want);
		memmove(f->held, f->held + used, f->len - used);
		f->len -= used;
		if (rc < 0) {
			f->failed = 1;
			f->digest = fuzz_mix(f->digest, "ERR", 3);
			return;
		}
		if (rc == 0 && used > 0)
			continue;
		if (rc == 0) {
			FUZZ_CHECK(f->len < FUZZ_HOLD, "need more with %zu "
			    "bytes held", f->len);
			return;
		}
		FUZZ_CHECK(rc == 1, "rc %d", rc);
		r = &f->rd.reply;
		FUZZ_CHECK(r->code >= 200 && r->code <= 599, "code %d",
		    r->code);
		FUZZ_CHECK(r->textlen < MTA_REPLY_MAX &&
		    strlen(r->text) == r->textlen, "textlen %zu", r->textlen);
		FUZZ_CHECK(r->nlines >= 1 && r->nlines <= MTA_REPLY_LINES_MAX,
		    "%zu lines", r->nlines);
		FUZZ_CHECK(r->enhanced[0] == '\0' ||
		    r->enhanced[0] == '0' + r->code / 100, "enhanced %s for "
		    "%d", r->enhanced, r->code);
		FUZZ_CHECK(r->truncated || r->textlen < MTA_REPLY_MAX - 1 ||
		    r->textlen == MTA_REPLY_MAX - 1, "truncated flag");
		mta_reply_ehlo_parse(r, &e);
		FUZZ_CHECK(e.esmtp == 1 && (e.size || e.size_max == 0),
		    "ehlo");
		f->nreplies++;
		f->digest = fuzz_mix(f->digest, &r->code, sizeof(r->code));
		f->digest = fuzz_mix(f->digest, r->enhanced,
		    strlen(r->enhanced) + 1);
		f->digest = fuzz_mix(f->digest, r->text, r->textlen + 1);
		f->digest = fuzz_mix(f->digest, &r->nlines,
		    sizeof(r->nlines));
		f->digest = fuzz_mix(f->digest, &e, sizeof(e));
	}
}

/* mode 0 whole, 1 byte by byte, 2 random pieces */
static void
fuzz_run(const uint8_t *data, size_t size, int mode, uint64_t seed,
    struct fuzz_feed *f)
{
	size_t pos = 0, n;

	memset(f, 0, sizeof(*f));
	mta_reply_init(&f->rd);
	while (pos < size) {
		n = mode == 0 ? size : mode == 1 ? 1 :
		    1 + fuzz_rand(&seed) % 64;
		if (n > size - pos)
			n = size - pos;
		fuzz_feed(f, data + pos, n);
		pos += n;
	}
	free(f->held);
	f->held = NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_feed whole, other;
	uint64_t seed = fuzz_mix(0x84222325cbf29ce4ULL, data, size) | 1;
	int mode;

	fuzz_run(data, size, 0, seed, &whole);
	for (mode = 1; mode < 3; mode++) {
		fuzz_run(data, size, mode, seed, &other);
		FUZZ_CHECK(other.nreplies == whole.nreplies &&
		    other.failed == whole.failed &&
		    other.digest == whole.digest, "mode %d: %zu replies%s, "
		    "whole %zu%s (or different ones)", mode, other.nreplies,
		    other.failed ? " then an error" : "", whole.nreplies,
		    whole.failed ? " then an error" : "");
	}
	return 0;
}
