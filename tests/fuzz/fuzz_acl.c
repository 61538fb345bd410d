/*
 * fuzz_acl.c - store_acl_map_parse() (store/aclmap.c) on any text: the
 * Postfix access(5) tables `vellumctl acl import` reads (byte 0 picks the
 * client, sender or recipient table).
 *
 * Never crashes; on success every entry is of a kind its table holds,
 * its value is normalised (normalising it again gives it back), white
 * entries have no action, code or text, black ones reject (code 0 or
 * 500-599) or discard, texts are printable ASCII of at most
 * STORE_ACL_TEXT_MAX, lines are within the text and dup_of names an
 * earlier line of the same entry; the entries written back with
 * store_acl_map_format() parse to the same entries (the export/import
 * round trip); on failure the map is empty and the message starts with
 * the line given, within the text; CRLF line ends parse the same.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/acl.h"

#include "fuzz.h"

static void	fuzz_sane(enum store_acl_map_kind, const struct store_acl_map *,
		    unsigned lines);
static void	fuzz_round_trip(enum store_acl_map_kind,
		    const struct store_acl_map *);
static int	fuzz_same(const struct store_acl *, const struct store_acl *);
static char	*fuzz_crlf(const char *, size_t, size_t *);

static int
fuzz_same(const struct store_acl *a, const struct store_acl *b)
{
	return a->kind == b->kind && strcmp(a->value, b->value) == 0 &&
	    a->list == b->list && a->action == b->action &&
	    a->code == b->code && strcmp(a->text, b->text) == 0;
}

static void
fuzz_sane(enum store_acl_map_kind mk, const struct store_acl_map *m,
    unsigned lines)
{
	char norm[STORE_ADDRESS_MAX + 1];
	const struct store_acl *a;
	size_t i, j;

	for (i = 0; i < m->n; i++) {
		a = &m->e[i].acl;
		FUZZ_CHECK(m->e[i].lineno >= 1 && m->e[i].lineno <= lines,
		    "line %u of %u", m->e[i].lineno, lines);
		FUZZ_CHECK(store_acl_map_has(mk, a->kind), "kind %c in %s",
		    a->kind, store_acl_map_name(mk));
		FUZZ_CHECK(store_acl_normalize(a->kind, a->value, norm) == 0 &&
		    strcmp(norm, a->value) == 0, "%s %s -> %s",
		    store_acl_kind_name(a->kind), a->value, norm);
		if (a->list == STORE_ACL_WHITE)
			FUZZ_CHECK(a->action == STORE_ACL_NONE && a->code == 0 &&
			    a->text[0] == '\0', "white %s", a->value);
		else
			FUZZ_CHECK(a->list == STORE_ACL_BLACK &&
			    (a->action == STORE_ACL_DISCARD ? a->code == 0 :
			    a->action == STORE_ACL_REJECT && (a->code == 0 ||
			    (a->code >= 500 && a->code <= 599))), "black %s",
			    a->value);
		FUZZ_CHECK(strlen(a->text) <= STORE_ACL_TEXT_MAX, "text");
		for (j = 0; a->text[j] != '\0'; j++)
			FUZZ_CHECK(a->text[j] >= 0x20 && a->text[j] < 0x7f,
			    "text byte %02x", (unsigned char)a->text[j]);
		if (m->e[i].dup_of != 0) {
			for (j = 0; j < i; j++)
				if (m->e[j].lineno == m->e[i].dup_of)
					break;
			FUZZ_CHECK(j < i && m->e[j].acl.kind == a->kind &&
			    strcmp(m->e[j].acl.value, a->value) == 0,
			    "dup_of %u", m->e[i].dup_of);
		}
	}
}

/* Export, import: the same entries (duplicates left out). */
static void
fuzz_round_trip(enum store_acl_map_kind mk, const struct store_acl_map *m)
{
	struct store_acl_map m2;
	char line[STORE_ADDRESS_MAX + STORE_ACL_TEXT_MAX + 32];
	char *text = NULL;
	size_t i, k, len = 0, n = 0;

	for (i = 0; i < m->n; i++) {
		if (m->e[i].dup_of != 0)
			continue;
		store_acl_map_format(&m->e[i].acl, line, sizeof(line));
		text = realloc(text, len + strlen(line) + 2);
		FUZZ_CHECK(text != NULL, "out of memory");
		memcpy(text + len, line, strlen(line));
		len += strlen(line);
		text[len++] = '\n';
		n++;
	}
	FUZZ_CHECK(store_acl_map_parse(mk, text != NULL ? text : "", len, &m2,
	    NULL) == 0, "export does not parse: %s", err_msg());
	FUZZ_CHECK(m2.n == n, "%zu entries back of %zu", m2.n, n);
	for (i = 0, k = 0; i < m->n; i++) {
		if (m->e[i].dup_of != 0)
			continue;
		FUZZ_CHECK(m2.e[k].dup_of == 0 && fuzz_same(&m->e[i].acl,
		    &m2.e[k].acl), "entry %zu (%s) changed", i,
		    m->e[i].acl.value);
		k++;
	}
	store_acl_map_free(&m2);
	free(text);
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
	static const enum store_acl_map_kind kinds[] = {
	    STORE_ACL_MAP_CLIENT, STORE_ACL_MAP_SENDER,
	    STORE_ACL_MAP_RECIPIENT };
	enum store_acl_map_kind mk;
	struct store_acl_map m, m2;
	const char *s = (const char *)data;
	unsigned line = 0, line2 = 0, lines = 1;
	char *crlf;
	size_t i, clen;
	int rc, rc2;

	if (size > 64 * 1024)
		return 0;
	mk = kinds[size > 0 ? data[0] % 3 : 0];
	for (i = 0; i < size; i++)
		lines += s[i] == '\n';
	rc = store_acl_map_parse(mk, s, size, &m, &line);
	if (rc == 0) {
		fuzz_sane(mk, &m, lines);
		fuzz_round_trip(mk, &m);
	} else {
		FUZZ_CHECK(m.n == 0 && m.e == NULL, "a failed parse keeps %zu",
		    m.n);
		FUZZ_CHECK(line >= 1 && line <= lines, "bad line %u of %u",
		    line, lines);
		FUZZ_CHECK(strtoul(err_msg(), NULL, 10) == line, "%s",
		    err_msg());
	}
	if (memchr(s, '\r', size) == NULL) {
		crlf = fuzz_crlf(s, size, &clen);
		rc2 = store_acl_map_parse(mk, crlf, clen, &m2, &line2);
		FUZZ_CHECK(rc2 == rc && m2.n == m.n, "CRLF: %d %zu, LF: %d %zu",
		    rc2, m2.n, rc, m.n);
		for (i = 0; i < m.n; i++)
			FUZZ_CHECK(fuzz_same(&m.e[i].acl, &m2.e[i].acl) &&
			    m.e[i].lineno == m2.e[i].lineno, "entry %zu", i);
		if (rc != 0)
			FUZZ_CHECK(line2 == line, "CRLF line %u, LF %u", line2,
			    line);
		store_acl_map_free(&m2);
		free(crlf);
	}
	store_acl_map_free(&m);
	return 0;
}
