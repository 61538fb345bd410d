/*
 * fuzz_lineread.c - the bounded line reader (common/lineread.c), which
 * every daemon puts between the socket and its parser.
 *
 * The first two bytes choose the limit (0-1023) and whether LF alone ends
 * a line; the rest is the stream.  A reference split written here (lines
 * end at LF, or only at CRLF; a CR before the LF is not content; a line
 * over the limit is one LINE_TOOLONG) says which lines and refusals must
 * come out; lineread_next() must give exactly those however the stream is
 * cut into reads (whole, byte by byte, random pieces), and the caller
 * never has to keep more than limit + 1 bytes between reads.
 */
#include <string.h>

#include "common/lineread.h"

#include "fuzz.h"

/* One result: a line (off, len into the stream) or a refusal. */
struct fuzz_ev {
	int	 toolong;
	size_t	 off, len;
};

static size_t	fuzz_reference(const char *, size_t, size_t, int,
		    struct fuzz_ev *);
static void	fuzz_reader(const char *, size_t, size_t, int, int, uint64_t,
		    const struct fuzz_ev *, size_t);
static uint64_t	fuzz_rand(uint64_t *);

static uint64_t
fuzz_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static size_t
fuzz_reference(const char *in, size_t len, size_t max, int bare_lf,
    struct fuzz_ev *ev)
{
	size_t i, start = 0, n = 0, l;

	for (i = 0; i < len; i++) {
		if (in[i] != '\n')
			continue;
		if (!bare_lf && (i == start || in[i - 1] != '\r'))
			continue;
		l = i - start;
		if (l > 0 && in[i - 1] == '\r')
			l--;
		ev[n].toolong = l > max;
		ev[n].off = start;
		ev[n].len = ev[n].toolong ? 0 : l;
		n++;
		start = i + 1;
	}
	return n;
}

/* mode 0: whole; 1: byte by byte; 2: pieces of 1-8; 3: any size. */
static void
fuzz_reader(const char *in, size_t len, size_t max, int bare_lf, int mode,
    uint64_t seed, const struct fuzz_ev *want, size_t nwant)
{
	struct lineread lr;
	enum lineread_result r;
	char *buf;
	size_t have = 0, pos = 0, n, consumed, linelen, got = 0;

	buf = malloc(len + 1);
	FUZZ_CHECK(buf != NULL, "out of memory");
	lineread_init(&lr, max, bare_lf);
	while (pos < len) {
		n = mode == 0 ? len : mode == 1 ? 1 : mode == 2 ?
		    1 + fuzz_rand(&seed) % 8 : 1 + fuzz_rand(&seed) % len;
		if (n > len - pos)
			n = len - pos;
		memcpy(buf + have, in + pos, n);
		have += n;
		pos += n;
		for (;;) {
			r = lineread_next(&lr, buf, have, &consumed, &linelen);
			FUZZ_CHECK(r == LINE_OK || r == LINE_TOOLONG ||
			    r == LINE_NEED_MORE, "result %d", (int)r);
			FUZZ_CHECK(consumed <= have, "consumed %zu of %zu",
			    consumed, have);
			if (r == LINE_NEED_MORE) {
				memmove(buf, buf + consumed, have - consumed);
				have -= consumed;
				break;
			}
			FUZZ_CHECK(got < nwant, "mode %d, max %zu, bare_lf %d: "
			    "result %zu (%s) is one too many", mode, max,
			    bare_lf, got, r == LINE_OK ? "a line" : "too long");
			FUZZ_CHECK((r == LINE_TOOLONG) == want[got].toolong,
			    "mode %d, max %zu, bare_lf %d: result %zu is %s, "
			    "the reference says %s", mode, max, bare_lf, got,
			    r == LINE_OK ? "a line" : "too long",
			    want[got].toolong ? "too long" : "a line");
			if (r == LINE_OK) {
				FUZZ_CHECK(linelen == want[got].len &&
				    linelen < consumed && memcmp(buf,
				    in + want[got].off, linelen) == 0,
				    "mode %d, max %zu, bare_lf %d: line %zu of "
				    "%zu bytes, the reference %zu", mode, max,
				    bare_lf, got, linelen, want[got].len);
			}
			memmove(buf, buf + consumed, have - consumed);
			have -= consumed;
			got++;
		}
		FUZZ_CHECK(have <= max + 1, "mode %d, max %zu: %zu bytes held "
		    "between reads", mode, max, have);
	}
	FUZZ_CHECK(got == nwant, "mode %d, max %zu, bare_lf %d: %zu results, "
	    "the reference %zu", mode, max, bare_lf, got, nwant);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ev *want;
	uint64_t seed = 0xcbf29ce484222325ULL;
	size_t max, n, i;
	int bare_lf, mode;

	if (size < 2)
		return 0;
	max = ((size_t)(data[0] & 3) << 8 | data[1]);
	bare_lf = (data[0] & 4) != 0;
	data += 2;
	size -= 2;
	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3ULL;
	want = malloc((size + 1) * sizeof(*want));
	FUZZ_CHECK(want != NULL, "out of memory");
	n = fuzz_reference((const char *)data, size, max, bare_lf, want);
	for (mode = 0; mode < 4; mode++)
		fuzz_reader((const char *)data, size, max, bare_lf, mode,
		    seed | 1, want, n);
	free(want);
	return 0;
}
