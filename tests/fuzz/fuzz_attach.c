/*
 * fuzz_attach.c - mail_attach_walk() on any bytes: every attachment lies
 * inside the message, has a sane type, a valid UTF-8 file name and a size
 * its encoding allows; the three entry points agree; without CR in the
 * input, the CRLF version finds the same attachments.
 */
#include <string.h>

#include "mail/attach.h"
#include "mail/mime.h"

#include "fuzz.h"

#define FUZZ_ATT_MAX	256

struct seen {
	const uint8_t		*msg;
	size_t			 len;
	struct mail_attachment	*v;
	size_t			 n;
};

static void	check_one(const struct mail_attachment *, void *);
static void	check_utf8(const char *);

static struct mail_attachment lf[FUZZ_ATT_MAX], crlf[FUZZ_ATT_MAX];

/* Valid UTF-8, no controls (attach.h's promise for file names). */
static void
check_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k, j;

	while (u[i] != '\0') {
		FUZZ_CHECK(u[i] >= 0x20 && u[i] != 0x7f, "control 0x%02x in "
		    "file name at %zu", u[i], i);
		k = u[i] < 0x80 ? 1 : u[i] < 0xe0 ? 2 : u[i] < 0xf0 ? 3 : 4;
		FUZZ_CHECK(u[i] < 0x80 || (u[i] >= 0xc2 && u[i] <= 0xf4),
		    "bad UTF-8 lead 0x%02x at %zu", u[i], i);
		for (j = 1; j < k; j++)
			FUZZ_CHECK((u[i + j] & 0xc0) == 0x80, "bad UTF-8 "
			    "continuation at %zu", i + j);
		i += k;
	}
}

static void
check_one(const struct mail_attachment *a, void *ctx)
{
	struct seen *s = ctx;
	const char *slash;
	size_t i;

	FUZZ_CHECK(a->off <= s->len && a->len <= s->len - a->off,
	    "attachment [%llu,+%llu) outside %zu bytes",
	    (unsigned long long)a->off, (unsigned long long)a->len, s->len);
	FUZZ_CHECK(memchr(a->filename, '\0', sizeof(a->filename)) != NULL &&
	    memchr(a->type, '\0', sizeof(a->type)) != NULL,
	    "unterminated name or type");
	check_utf8(a->filename);
	slash = strchr(a->type, '/');
	FUZZ_CHECK(slash != NULL, "type \"%s\" without a slash", a->type);
	for (i = 0; a->type[i] != '\0'; i++)
		FUZZ_CHECK(a->type[i] < 'A' || a->type[i] > 'Z',
		    "type \"%s\" not lower case", a->type);
	FUZZ_CHECK(a->depth <= MIME_DEPTH_MAX, "depth %u", a->depth);
	FUZZ_CHECK(a->filename[0] != '\0' || (a->flags & (MAIL_ATTACH_OPAQUE |
	    MAIL_ATTACH_DISPOSITION)) || (strncmp(a->type, "text/", 5) != 0 &&
	    strncmp(a->type, "message/", 8) != 0 &&
	    !(a->flags & MAIL_ATTACH_INLINE)), "type %s flags %#x without a "
	    "name is no attachment", a->type, a->flags);
	/* an opaque multipart counts raw, whatever its (illegal) encoding */
	switch ((a->flags & MAIL_ATTACH_OPAQUE) &&
	    strncmp(a->type, "multipart/", 10) == 0 ? MAIL_CTE_IDENTITY :
	    a->cte) {
	case MAIL_CTE_BASE64:
		FUZZ_CHECK(a->size <= a->len * 3 / 4, "base64 %llu from %llu",
		    (unsigned long long)a->size, (unsigned long long)a->len);
		break;
	case MAIL_CTE_QP:
		FUZZ_CHECK(a->size <= a->len, "qp %llu from %llu",
		    (unsigned long long)a->size, (unsigned long long)a->len);
		break;
	default:
		FUZZ_CHECK(a->size == a->len, "identity %llu from %llu",
		    (unsigned long long)a->size, (unsigned long long)a->len);
	}
	if (s->n < FUZZ_ATT_MAX)
		s->v[s->n] = *a;
	s->n++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = { data, size, lf, 0 }, t;
	struct mail_attachment big;
	uint8_t *c;
	size_t n, i, j, cl;
	int found;

	n = mail_attach_walk(data, size, check_one, &s);
	FUZZ_CHECK(n == s.n, "walk says %zu, called %zu times", n, s.n);
	FUZZ_CHECK(mail_attachments(data, size, crlf, FUZZ_ATT_MAX, &j) ==
	    (n <= FUZZ_ATT_MAX) && j == n, "mail_attachments: %zu of %zu",
	    j, n);
	for (i = 0; i < n && i < FUZZ_ATT_MAX; i++)
		FUZZ_CHECK(strcmp(crlf[i].filename, lf[i].filename) == 0 &&
		    strcmp(crlf[i].type, lf[i].type) == 0 &&
		    crlf[i].size == lf[i].size && crlf[i].off == lf[i].off &&
		    crlf[i].len == lf[i].len && crlf[i].flags == lf[i].flags,
		    "attachment %zu differs between calls", i);
	found = mail_attachment_largest(data, size, &big);
	FUZZ_CHECK(found == (n > 0), "largest: %d with %zu", found, n);
	for (i = 0; i < n && i < FUZZ_ATT_MAX; i++)
		FUZZ_CHECK(lf[i].size <= big.size, "attachment %zu larger "
		    "(%llu) than the largest (%llu)", i,
		    (unsigned long long)lf[i].size,
		    (unsigned long long)big.size);

	if (memchr(data, '\r', size) != NULL)
		return 0;
	c = malloc(2 * size + 1);
	if (c == NULL)
		abort();
	for (i = 0, cl = 0; i < size; i++) {
		if (data[i] == '\n')
			c[cl++] = '\r';
		c[cl++] = data[i];
	}
	t = (struct seen){ c, cl, crlf, 0 };
	mail_attach_walk(c, cl, check_one, &t);
	FUZZ_CHECK(t.n == n, "%zu attachments with LF, %zu with CRLF", n,
	    t.n);
	for (i = 0; i < n && i < FUZZ_ATT_MAX; i++) {
		FUZZ_CHECK(strcmp(lf[i].filename, crlf[i].filename) == 0 &&
		    strcmp(lf[i].type, crlf[i].type) == 0 &&
		    lf[i].flags == crlf[i].flags &&
		    lf[i].depth == crlf[i].depth && lf[i].cte == crlf[i].cte,
		    "attachment %zu: \"%s\" %s %#x %u with LF, \"%s\" %s %#x "
		    "%u with CRLF", i, lf[i].filename, lf[i].type,
		    lf[i].flags, lf[i].depth, crlf[i].filename, crlf[i].type,
		    crlf[i].flags, crlf[i].depth);
		if (lf[i].cte == MAIL_CTE_BASE64 &&
		    strncmp(lf[i].type, "multipart/", 10) != 0)
			FUZZ_CHECK(lf[i].size == crlf[i].size, "attachment "
			    "%zu: base64 size %llu with LF, %llu with CRLF",
			    i, (unsigned long long)lf[i].size,
			    (unsigned long long)crlf[i].size);
	}
	free(c);
	return 0;
}
