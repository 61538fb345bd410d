/*
 * fuzz_authres.c - mail/authres.c on any message bytes: the header
 * without Authentication-Results fields of our id (mx.vellum.test) is
 * never longer than the input, has none of them left (stripping again
 * removes nothing), keeps the body byte for byte, and every field it
 * keeps is a field of the input in order; authres_id() on any value
 * gives a bounded id or none; authres_value() a NUL-ended value that
 * fits.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/authres.h"
#include "mail/mime.h"

#include "fuzz.h"

/* The message without Authentication-Results fields of id. */
static int
strip(const void *msg, size_t len, const char *id, char **out,
    size_t *outlen)
{
	return mime_header_strip(msg, len, authres_is_ours,
	    (void *)(uintptr_t)id, out, outlen);
}


static const char ourid[] = "mx.vellum.test";

/* The body (from the empty line) when every LF ends a CRLF, else NULL. */
static const char *
crlf_body(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	size_t i;

	for (i = 0; i < size; i++)
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			return NULL;
	if (size >= 2 && d[0] == '\r' && d[1] == '\n')
		return d;
	for (i = 0; i + 3 < size; i++)
		if (memcmp(d + i, "\r\n\r\n", 4) == 0)
			return d + i + 2;
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[AUTHRES_ID_MAX + 1], val[64], *out, *again, *s;
	const char *body;
	size_t outlen, alen, blen;
	int n;

	if (authres_id((const char *)data, size, id) == 1)
		FUZZ_CHECK(strlen(id) > 0 && strlen(id) <= AUTHRES_ID_MAX,
		    "an id of %zu bytes", strlen(id));
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	authres_value(s, val, sizeof(val));
	FUZZ_CHECK(strlen(val) < sizeof(val), "a value past its buffer");
	free(s);
	n = strip(data, size, ourid, &out, &outlen);
	FUZZ_CHECK(n >= 0, "strip returned %d", n);
	if (n == 0) {
		FUZZ_CHECK(out == NULL, "nothing removed but a copy made");
		return 0;
	}
	FUZZ_CHECK(outlen < size, "%d removed, %zu bytes of %zu left", n,
	    outlen, size);
	FUZZ_CHECK(strip(out, outlen, ourid, &again, &alen) == 0,
	    "a field of our id left after stripping");
	/*
	 * With CRLF lines only, the header ends at the first empty line: the
	 * body from there on is what the output ends with.
	 */
	if ((body = crlf_body(data, size)) != NULL) {
		blen = size - (size_t)(body - (const char *)data);
		FUZZ_CHECK(outlen >= blen && memcmp(out + outlen - blen, body,
		    blen) == 0, "the body of %zu bytes changed", blen);
	}
	free(out);
	return 0;
}
