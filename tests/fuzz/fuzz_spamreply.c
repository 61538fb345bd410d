/*
 * fuzz_spamreply.c - spam_reply_parse() (deliver/spamscore.c) on any
 * bytes from spamd: results are documented ones, an error is final (more
 * bytes never repair it), a complete reply is complete at exactly the
 * bytes it used, its symbols lie inside the input, and fed a byte at a
 * time the parse reaches the same end as fed whole.
 */
#include <string.h>

#include "deliver/spamscore.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct spam_reply whole, r;
	char why[128];
	size_t i;
	int rw, re, ri;

	why[0] = '\0';
	rw = spam_reply_parse(buf, size, 0, &whole, why, sizeof(why));
	FUZZ_CHECK(rw >= -1 && rw <= 1, "result %d", rw);
	FUZZ_CHECK(rw != -1 || why[0] != '\0', "an error without a reason");
	re = spam_reply_parse(buf, size, 1, &r, why, sizeof(why));
	FUZZ_CHECK(re == 1 || re == -1, "at EOF: %d", re);
	FUZZ_CHECK(rw == 0 || re == rw, "%d without EOF, %d with", rw, re);
	if (rw == 1) {
		FUZZ_CHECK(whole.code == 0 && whole.used == size,
		    "complete: code %d, used %zu of %zu", whole.code,
		    whole.used, size);
		FUZZ_CHECK(whole.symbols == NULL || (whole.symbols >= buf &&
		    whole.symbols + whole.symbols_len <= buf + size),
		    "symbols outside the input");
		FUZZ_CHECK(whole.score == whole.score &&
		    whole.threshold == whole.threshold, "NaN score");
	}
	/* a byte at a time, as the socket may deliver it */
	for (i = 0; i < size; i++) {
		ri = spam_reply_parse(buf, i, 0, &r, why, sizeof(why));
		if (ri == 0)
			continue;
		FUZZ_CHECK(ri != -1 || rw == -1, "error after %zu bytes, "
		    "%d with all %zu: %s", i, rw, size, why);
		FUZZ_CHECK(ri != 1 || (r.used == i && rw == -1),
		    "complete at %zu (used %zu), %d with all %zu", i, r.used,
		    rw, size);
		break;
	}
	return 0;
}
