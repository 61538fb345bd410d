/*
 * fuzz_pop3.c - the POP3 command parser (pop3d/parse.c) on any bytes:
 * the whole input and each of its lines through pop3_parse_line(), each
 * argument and line through pop3_parse_number().  What is accepted must
 * put back together into the line it came from; numbers must be the
 * decimal value of their digits and refused exactly when they are not
 * digits or exceed the maximum.
 */
#include <string.h>

#include "pop3d/parse.h"

#include "fuzz.h"

#define FUZZ_LINES_MAX	64

static void	fuzz_number(const char *, unsigned long);
static void	fuzz_line(const char *, size_t, unsigned long);

/* s is NUL-terminated. */
static void
fuzz_number(const char *s, unsigned long max)
{
	unsigned long v = 12345;
	unsigned __int128 want = 0;
	size_t i, n = strlen(s);
	int digits = n > 0, big = 0, rc;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			digits = 0;
			break;
		}
		if (!big)
			want = want * 10 + (unsigned)(s[i] - '0');
		if (want > max)
			big = 1;
	}
	rc = pop3_parse_number(s, max, &v);
	if (digits && !big)
		FUZZ_CHECK(rc == 0 && v == (unsigned long)want, "\"%s\" (max "
		    "%lu): rc %d value %lu", s, max, rc, v);
	else
		FUZZ_CHECK(rc == -1 && v == 12345, "\"%s\" (max %lu) accepted "
		    "as %lu", s, max, v);
}

static void
fuzz_line(const char *line, size_t len, unsigned long max)
{
	static struct pop3_cmd cmd;
	char again[POP3_LINE_MAX + 2], *p;
	size_t vlen, i, n, words;
	const char *w;
	int rc;

	rc = pop3_parse_line(line, len, &cmd);
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (len == 0 || len > POP3_LINE_MAX || memchr(line, '\0', len) !=
	    NULL)
		FUZZ_CHECK(rc == -1, "%zu bytes (NUL, empty or too long) "
		    "accepted", len);
	if (rc == -1)
		return;
	vlen = strlen(cmd.verb);
	FUZZ_CHECK(vlen >= 3 && vlen <= POP3_VERB_MAX && strspn(cmd.verb,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == vlen, "verb \"%s\"", cmd.verb);
	for (i = 0; i < vlen; i++)
		FUZZ_CHECK((line[i] & ~0x20) == cmd.verb[i], "verb \"%s\" of "
		    "\"%.*s\"", cmd.verb, (int)len, line);
	FUZZ_CHECK(vlen == len || line[vlen] == ' ', "verb not followed by "
	    "a space");
	/* rest: the line after the keyword and one space, as it was. */
	if (vlen == len)
		FUZZ_CHECK(cmd.rest[0] == '\0' && cmd.nargs == 0, "rest \"%s\" "
		    "nargs %u after a bare keyword", cmd.rest, cmd.nargs);
	else
		FUZZ_CHECK(strlen(cmd.rest) == len - vlen - 1 &&
		    memcmp(cmd.rest, line + vlen + 1, len - vlen - 1) == 0,
		    "rest \"%s\"", cmd.rest);
	/* The arguments: the words of rest, in order. */
	words = 0;
	for (i = vlen; i < len; i++)
		if (line[i] != ' ' && line[i - 1] == ' ')
			words++;
	FUZZ_CHECK(cmd.nargs == words, "%u arguments, %zu words in \"%.*s\"",
	    cmd.nargs, words, (int)len, line);
	p = again;
	memcpy(p, cmd.verb, vlen);
	p += vlen;
	for (i = 0; i < cmd.nargs && i < POP3_ARGS_MAX; i++) {
		w = cmd.args[i];
		n = strlen(w);
		FUZZ_CHECK(n > 0 && strchr(w, ' ') == NULL && w >= cmd.split &&
		    w + n <= cmd.split + len, "argument %zu \"%s\"", i, w);
		FUZZ_CHECK(memcmp(line + (w - cmd.split), w, n) == 0,
		    "argument %zu \"%s\" is not in the line", i, w);
		*p++ = ' ';
		memcpy(p, w, n);
		p += n;
		fuzz_number(w, max);
	}
	*p = '\0';
	/* Re-joined with single spaces, the first arguments parse alike. */
	rc = pop3_parse_line(again, (size_t)(p - again), &cmd);
	FUZZ_CHECK(rc == 0 && cmd.nargs == (words < POP3_ARGS_MAX ? words :
	    POP3_ARGS_MAX), "\"%s\": rc %d nargs %u", again, rc, cmd.nargs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char num[POP3_LINE_MAX + 1];
	unsigned long maxes[3] = { 0, 9, (unsigned long)-1 };
	size_t i, start, n, lines = 0;

	/* A maximum from the input too, to walk the overflow edges. */
	if (size >= sizeof(unsigned long))
		memcpy(&maxes[0], data, sizeof(unsigned long));
	fuzz_line(in, size, maxes[2]);
	for (i = 0, start = 0; i <= size && lines < FUZZ_LINES_MAX; i++) {
		if (i < size && in[i] != '\n')
			continue;
		n = i - start;
		if (n > 0 && in[start + n - 1] == '\r')
			n--;
		fuzz_line(in + start, n, maxes[lines % 3]);
		if (n <= POP3_LINE_MAX && memchr(in + start, '\0', n) == NULL) {
			memcpy(num, in + start, n);
			num[n] = '\0';
			fuzz_number(num, maxes[0]);
			fuzz_number(num, maxes[1]);
			fuzz_number(num, maxes[2]);
		}
		start = i + 1;
		lines++;
	}
	return 0;
}
