/*
 * fuzz_bccmap.c - store_bcc_map_parse() (store/bcc.c) on any text: the
 * Postfix sender_bcc_maps / recipient_bcc_maps text `vellumctl bcc
 * import` reads.
 *
 * Never crashes; on success every entry has a normalised key (an address
 * or "@domain", lower case) and target (an address), each with one '@',
 * its line within the
 * text, and a dup_of that names an earlier line of the same key; on
 * failure the map is empty and the message starts with the line number
 * given, which is within the text; the same text with CRLF line ends
 * parses the same.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/bcc.h"

#include "fuzz.h"

static void	fuzz_sane(const struct store_bcc_map *, unsigned lines);
static char	*fuzz_crlf(const char *, size_t, size_t *);

static void
fuzz_sane(const struct store_bcc_map *m, unsigned lines)
{
	size_t i, j;

	for (i = 0; i < m->n; i++) {
		const struct store_bcc_entry *e = &m->e[i];

		FUZZ_CHECK(e->lineno >= 1 && e->lineno <= lines, "line %u of %u",
		    e->lineno, lines);
		FUZZ_CHECK(strchr(e->key, '@') != NULL &&
		    strchr(e->key, '@') == strrchr(e->key, '@'), "key %s",
		    e->key);
		FUZZ_CHECK(strchr(e->target, '@') != NULL &&
		    e->target[0] != '@' &&
		    strchr(e->target, '@') == strrchr(e->target, '@'),
		    "target %s", e->target);
		for (j = 0; e->key[j] != '\0'; j++)
			FUZZ_CHECK(!isupper((unsigned char)e->key[j]) &&
			    !isspace((unsigned char)e->key[j]), "key %s",
			    e->key);
		if (e->dup_of != 0) {
			for (j = 0; j < i; j++)
				if (m->e[j].lineno == e->dup_of)
					break;
			FUZZ_CHECK(j < i && strcmp(m->e[j].key, e->key) == 0,
			    "dup_of %u", e->dup_of);
		}
	}
}

/* LF line ends as CRLF (a CR already before an LF stays one). */
static char *
fuzz_crlf(const char *s, size_t size, size_t *len_r)
{
	char *d = malloc(size * 2 + 1);
	size_t i, n = 0;

	FUZZ_CHECK(d != NULL, "out of memory");
	for (i = 0; i < size; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			d[n++] = '\r';
		d[n++] = s[i];
	}
	*len_r = n;
	return d;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_bcc_map m, m2;
	const char *s = (const char *)data;
	unsigned line, line2, lines = 1;
	char *crlf;
	size_t i, clen;
	int rc, rc2;

	if (size > 64 * 1024)
		return 0;
	for (i = 0; i < size; i++)
		lines += s[i] == '\n';
	rc = store_bcc_map_parse(data[0] % 2 == 0 && size > 0 ?
	    STORE_BCC_SENDER : STORE_BCC_RECIPIENT, s, size, &m, &line);
	if (rc == 0)
		fuzz_sane(&m, lines);
	else {
		FUZZ_CHECK(m.n == 0 && m.e == NULL, "a failed parse keeps %zu",
		    m.n);
		FUZZ_CHECK(line >= 1 && line <= lines, "bad line %u of %u",
		    line, lines);
		FUZZ_CHECK(strtoul(err_msg(), NULL, 10) == line, "%s",
		    err_msg());
	}
	/* a CR before a lone CR-less LF only: CRLF text is the same map */
	if (memchr(s, '\r', size) == NULL) {
		crlf = fuzz_crlf(s, size, &clen);
		rc2 = store_bcc_map_parse(data[0] % 2 == 0 && size > 0 ?
		    STORE_BCC_SENDER : STORE_BCC_RECIPIENT, crlf, clen, &m2,
		    &line2);
		FUZZ_CHECK(rc2 == rc && m2.n == m.n, "CRLF: %d %zu, LF: %d %zu",
		    rc2, m2.n, rc, m.n);
		for (i = 0; i < m.n; i++)
			FUZZ_CHECK(strcmp(m.e[i].key, m2.e[i].key) == 0 &&
			    strcmp(m.e[i].target, m2.e[i].target) == 0 &&
			    m.e[i].lineno == m2.e[i].lineno, "entry %zu", i);
		if (rc != 0)
			FUZZ_CHECK(line2 == line, "CRLF line %u, LF %u", line2,
			    line);
		store_bcc_map_free(&m2);
		free(crlf);
	}
	store_bcc_map_free(&m);
	return 0;
}
