/*
 * fuzz_clamreply.c - clam_reply_parse() (deliver/clamav.c) on any bytes
 * from clamd: results are documented ones, an error says why and is
 * final (more bytes never repair it), a complete reply used exactly the
 * bytes given (its NUL last), a virus name is printable, bounded and not
 * blank, and fed a byte at a time the parse reaches the same end as fed
 * whole.
 */
#include <string.h>

#include "deliver/clamav.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct clam_reply whole, r;
	char why[128];
	size_t i, n;
	int rw, re, ri;

	why[0] = '\0';
	rw = clam_reply_parse(buf, size, 0, &whole, why, sizeof(why));
	FUZZ_CHECK(rw >= -1 && rw <= 1, "result %d", rw);
	FUZZ_CHECK(rw != -1 || why[0] != '\0', "an error without a reason");
	re = clam_reply_parse(buf, size, 1, &r, why, sizeof(why));
	FUZZ_CHECK(re == 1 || re == -1, "at EOF: %d", re);
	FUZZ_CHECK(rw == 0 || re == rw, "%d without EOF, %d with", rw, re);
	if (rw == 1) {
		FUZZ_CHECK(whole.used == size && size > 0 &&
		    buf[size - 1] == '\0', "complete: used %zu of %zu",
		    whole.used, size);
		n = strlen(whole.name);
		FUZZ_CHECK(n <= CLAM_NAME_MAX, "name of %zu bytes", n);
		FUZZ_CHECK(whole.found == (n > 0), "found %d, name \"%s\"",
		    whole.found, whole.name);
		FUZZ_CHECK(n == 0 || strspn(whole.name, " ") < n,
		    "a blank name");
		for (i = 0; i < n; i++)
			FUZZ_CHECK(whole.name[i] >= 0x20 &&
			    whole.name[i] < 0x7f, "name byte %zu is %#x", i,
			    (unsigned)(unsigned char)whole.name[i]);
	}
	/* a byte at a time, as the socket may deliver it */
	for (i = 0; i < size; i++) {
		ri = clam_reply_parse(buf, i, 0, &r, why, sizeof(why));
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
