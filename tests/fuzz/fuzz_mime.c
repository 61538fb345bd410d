/*
 * fuzz_mime.c - mime_segments() must cover any input exactly, and the
 * header helpers must stay inside their buffers.
 */
#include <string.h>

#include "mail/mime.h"

#include "fuzz.h"

static void	fuzz_segments(const uint8_t *, size_t, size_t);
static void	fuzz_header(const uint8_t *, size_t);

static void
fuzz_segments(const uint8_t *data, size_t size, size_t min_part)
{
	struct mime_segment *segs;
	size_t n, i, pos = 0;

	mime_segments(data, size, min_part, &segs, &n);
	if (size == 0) {
		FUZZ_CHECK(n == 0 && segs == NULL, "%zu segments", n);
		return;
	}
	FUZZ_CHECK(n > 0 && segs[0].kind == MIME_SEG_HEADER &&
	    segs[0].len == mime_header_end(data, size), "first segment "
	    "kind %d len %zu", n > 0 ? (int)segs[0].kind : 0,
	    n > 0 ? segs[0].len : 0);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(segs[i].off == pos && segs[i].len > 0 &&
		    segs[i].len <= size - pos, "min_part %zu: segment %zu "
		    "[%zu,+%zu), wanted it at %zu, non-empty, inside %zu",
		    min_part, i, segs[i].off, segs[i].len, pos, size);
		FUZZ_CHECK(i == 0 || segs[i].kind == MIME_SEG_REST ||
		    (segs[i].kind == MIME_SEG_PART &&
		    segs[i].len >= min_part), "segment %zu kind %d len %zu",
		    i, (int)segs[i].kind, segs[i].len);
		pos += segs[i].len;
	}
	FUZZ_CHECK(pos == size, "segments end at %zu of %zu", pos, size);
	free(segs);
}

static void
fuzz_header(const uint8_t *data, size_t size)
{
	char ct[512], type[128], b[256], small[4], tiny[1];
	size_t hend = mime_header_end(data, size);

	FUZZ_CHECK(hend <= size, "header end %zu past %zu", hend, size);
	if (mime_header_get(data, hend, "Content-Type", ct, sizeof(ct))) {
		FUZZ_CHECK(memchr(ct, '\0', sizeof(ct)) != NULL,
		    "value not terminated");
		mime_content_type(ct, type, sizeof(type), b, sizeof(b));
		FUZZ_CHECK(memchr(type, '\0', sizeof(type)) != NULL &&
		    memchr(b, '\0', sizeof(b)) != NULL, "type or boundary "
		    "not terminated");
		mime_content_type(ct, small, sizeof(small), tiny,
		    sizeof(tiny));
		FUZZ_CHECK(strlen(small) < sizeof(small) && tiny[0] == '\0',
		    "small buffers overrun");
	}
	if (mime_header_get(data, hend, "subject", small, sizeof(small)))
		FUZZ_CHECK(strlen(small) < sizeof(small), "value overruns");
	mime_header_get(data, size, "X", tiny, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_header(data, size);
	fuzz_segments(data, size, MIME_PART_MIN);
	fuzz_segments(data, size, 64);
	fuzz_segments(data, size, 1);
	return 0;
}
