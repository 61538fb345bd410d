/*
 * fuzz_disclaim.c - disclaim_apply() (mail/disclaim.c) on any message,
 * with a disclaimer the first byte picks (ASCII, UTF-8, with or without
 * HTML).  Properties: it never fails; 0 leaves no output and says why;
 * 1 gives a message whose header block is the input's (or, when
 * the message was wrapped in a new multipart/mixed, whose header keeps
 * every field but the Content-* ones, in order) and whose line ends are
 * the input's kind: no CR when the input has none, every LF after a CR
 * when every LF of the input is; the output goes through again.
 */
#include <string.h>

#include "mail/disclaim.h"
#include "mail/mime.h"

#include "fuzz.h"

static const char *const plains[] = {
	"-- \nConfidential.\n",
	"Vertraulich: f\xc3\xbcr den Empf\xc3\xa4nger\n",
	"a=b \tc\n\n.\nFrom x\n",
};
static const char *const htmls[] = { NULL, "<p>Confidential</p>",
	"<p>f\xc3\xbcr</p>" };

static int	all_crlf(const uint8_t *, size_t);
static int	wrapped(const char *, size_t);

/*
 * Whether the message was wrapped: its header ends with our
 * Content-Type line (the input's own, were it the same, is unchanged).
 */
static int
wrapped(const char *m, size_t n)
{
	static const char ct[] =
	    "Content-Type: multipart/mixed; boundary=\"vellum-disclaimer-";
	size_t h = mime_header_end((const uint8_t *)m, n), l = strlen(ct);
	size_t tail;

	tail = l + 16 + 1;	/* the hex, the quote */
	for (size_t eol = 1; eol <= 2; eol++)
		if (h >= tail + 2 * eol &&
		    memcmp(m + h - tail - 2 * eol, ct, l) == 0)
			return 1;
	return 0;
}

static int
all_crlf(const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct disclaim_text t;
	char why[DISCLAIM_WHY_MAX], *out = NULL, *out2 = NULL;
	size_t outlen, outlen2, hend;
	int rc, crlf, nocr;

	if (size < 1)
		return 0;
	memset(&t, 0, sizeof(t));
	t.plain = plains[data[0] % 3];
	t.plainlen = strlen(t.plain);
	t.html = htmls[(data[0] / 3) % 3];
	t.htmllen = t.html != NULL ? strlen(t.html) : 0;
	data++;
	size--;
	crlf = all_crlf(data, size);
	nocr = memchr(data, '\r', size) == NULL;
	rc = disclaim_apply(data, size, &t, &out, &outlen, why);
	FUZZ_CHECK(rc == 0 || rc == 1, "rc %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(out == NULL && why[0] != '\0' &&
		    memchr(why, '\0', sizeof(why)) != NULL, "unchanged "
		    "without a reason");
		return 0;
	}
	/* not always longer: base64 is encoded again in full lines */
	FUZZ_CHECK(out != NULL && outlen > 0, "output of %zu bytes for %zu",
	    outlen, size);
	hend = mime_header_end(data, size);
	if (!wrapped(out, outlen))
		FUZZ_CHECK(memcmp(out, data, hend) == 0, "the header block "
		    "(%zu bytes) changed", hend);
	if (nocr)
		FUZZ_CHECK(memchr(out, '\r', outlen) == NULL, "a CR in the "
		    "output of an input without");
	if (crlf && size > 0 && data[size - 1] != '\r')
		FUZZ_CHECK(all_crlf((const uint8_t *)out, outlen), "a bare LF "
		    "in the output of a CRLF input");
	/* a second disclaimer on top of the first */
	rc = disclaim_apply(out, outlen, &t, &out2, &outlen2, why);
	FUZZ_CHECK(rc == 0 || (rc == 1 && out2 != NULL), "again: rc %d",
	    rc);
	free(out2);
	free(out);
	return 0;
}
