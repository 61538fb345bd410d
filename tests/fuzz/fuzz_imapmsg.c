/*
 * fuzz_imapmsg.c - the IMAP record of any input (mail/imapmsg.c and its
 * helpers), and imap_meta_parse() of damaged records.
 *
 * For the input as a message: the record parses; the part table is a tree
 * of ranges inside the message whose CRLF lengths are at least the raw
 * ones; ENVELOPE, BODY and BODYSTRUCTURE are well-formed IMAP (balanced
 * lists of NIL, numbers, quoted strings without CR/LF/8-bit and literals
 * of the announced length); sections named by the input's bytes resolve
 * inside the message.  Without CR in the input, the same message with
 * CRLF line ends gives the same answers and section lengths.  The input
 * itself and the record with a byte changed go through imap_meta_parse(),
 * which may refuse them but must not read outside them.
 */
#include <string.h>

#include "mail/imapmsg.h"

#include "fuzz.h"

static void	check_imap(const char *, size_t, const char *);
static void	check_record(const struct imap_meta *, size_t);
static void	check_sections(const struct imap_meta *, size_t,
		    const uint8_t *, size_t, int);
static void	field_cb(const char *, size_t, void *);

/* A parenthesised IMAP answer. */
static void
check_imap(const char *s, size_t n, const char *what)
{
	size_t i = 0, lit;
	int depth = 0;

	FUZZ_CHECK(n >= 2 && s[0] == '(' && s[n - 1] == ')', "%s: %.*s",
	    what, (int)n, s);
	while (i < n) {
		char ch = s[i];

		if (ch == '(') {
			depth++;
			i++;
		} else if (ch == ')') {
			FUZZ_CHECK(--depth >= 0, "%s: unbalanced at %zu", what,
			    i);
			i++;
		} else if (ch == ' ') {
			i++;
		} else if (ch == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				FUZZ_CHECK(s[i] != '\r' && s[i] != '\n' &&
				    s[i] != 0 && (s[i] & 0x80) == 0,
				    "%s: byte %02x in a quoted string", what,
				    (unsigned char)s[i]);
				if (s[i] == '\\')
					i++;
			}
			FUZZ_CHECK(i < n, "%s: quoted string open", what);
			i++;
		} else if (ch == '{') {
			for (lit = 0, i++; i < n && s[i] >= '0' && s[i] <= '9';
			    i++)
				lit = lit * 10 + (size_t)(s[i] - '0');
			FUZZ_CHECK(i + 3 <= n && s[i] == '}' &&
			    s[i + 1] == '\r' && s[i + 2] == '\n' &&
			    lit <= n - i - 3, "%s: bad literal", what);
			FUZZ_CHECK(memchr(s + i + 3, 0, lit) == NULL,
			    "%s: NUL in a literal", what);
			i += 3 + lit;
		} else if (ch >= '0' && ch <= '9') {
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
		} else {
			FUZZ_CHECK(n - i >= 3 && memcmp(s + i, "NIL", 3) == 0,
			    "%s: unexpected %c at %zu", what, ch, i);
			i += 3;
		}
	}
	FUZZ_CHECK(depth == 0, "%s: %d lists open", what, depth);
}

static void
check_record(const struct imap_meta *m, size_t len)
{
	struct imap_part p, ch;
	size_t i, n;
	uint32_t k;

	FUZZ_CHECK(m->nparts >= 1 && m->nparts <= IMAP_MSG_PARTS_MAX,
	    "%zu parts", m->nparts);
	for (i = 0; i < m->nparts; i++) {
		imap_meta_part(m, i, &p);
		FUZZ_CHECK(p.hdr_off <= p.body_off && p.body_off <= p.end &&
		    p.end <= len, "part %zu outside the message", i);
		FUZZ_CHECK(p.hdr_crlf >= p.body_off - p.hdr_off &&
		    p.body_crlf >= p.end - p.body_off &&
		    p.hdr_crlf <= 2 * (p.body_off - p.hdr_off) &&
		    p.body_crlf <= 2 * (p.end - p.body_off),
		    "part %zu: CRLF lengths", i);
		n = 0;
		for (k = p.first_child; k != 0 && n <= p.nchildren;
		    k = ch.next, n++) {
			imap_meta_part(m, k, &ch);
			FUZZ_CHECK(ch.parent == i && ch.hdr_off >= p.body_off &&
			    ch.end <= p.end, "child %u of %zu outside", k, i);
		}
		FUZZ_CHECK(n == p.nchildren, "part %zu: %zu of %u children",
		    i, n, p.nchildren);
	}
	imap_meta_part(m, 0, &p);
	FUZZ_CHECK(p.hdr_off == 0 && p.end == len, "part 0 is not all");
}

static void
check_sections(const struct imap_meta *m, size_t len, const uint8_t *sel,
    size_t nsel, int strict)
{
	uint32_t path[4];
	uint64_t o, e, l;
	size_t d, i;
	int k;

	for (i = 0; i + 4 <= nsel && i < 64; i += 4) {
		d = sel[i] % 5;
		for (k = 0; k < 4; k++)
			path[k] = (uint32_t)(sel[i + (size_t)k] % 4);
		for (k = 0; k < 4; k++) {
			if (imap_meta_section(m, path, d,
			    (enum imap_section_kind)k, &o, &e, &l) != 1 ||
			    !strict)
				continue;
			FUZZ_CHECK(o <= e && e <= len && l >= e - o &&
			    l <= 2 * (e - o), "section kind %d [%llu,%llu) "
			    "crlf %llu of %zu", k, (unsigned long long)o,
			    (unsigned long long)e, (unsigned long long)l, len);
		}
	}
}

static void
field_cb(const char *f, size_t len, void *ctx)
{
	size_t *total = ctx;

	FUZZ_CHECK(len > 0 && memchr(f, ':', len) != NULL, "field without "
	    "a colon");
	*total += len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *rec, *rec2;
	size_t len, len2, i, o, total = 0;
	struct imap_meta m, m2;
	uint64_t o1, e1, l1, o2, e2, l2;
	char *crlf, *dec;
	int64_t utc;
	const char *names[] = { "subject", "content-type" };
	const size_t lens[] = { 7, 12 };
	int k;

	imap_msg_meta_build(data, size, &rec, &len);
	FUZZ_CHECK(imap_meta_parse(rec, len, &m) == 0, "own record refused");
	check_record(&m, size);
	check_imap(m.envelope, m.envelope_len, "ENVELOPE");
	check_imap(m.body, m.body_len, "BODY");
	check_imap(m.bodystructure, m.bodystructure_len, "BODYSTRUCTURE");
	check_sections(&m, size, data, size, 1);

	/* LF and CRLF give the same answers */
	if (memchr(data, '\r', size) == NULL && size < 65536) {
		crlf = malloc(2 * size + 1);
		for (i = o = 0; i < size; i++) {
			if (data[i] == '\n')
				crlf[o++] = '\r';
			crlf[o++] = (char)data[i];
		}
		imap_msg_meta_build(crlf, o, &rec2, &len2);
		FUZZ_CHECK(imap_meta_parse(rec2, len2, &m2) == 0,
		    "CRLF record refused");
		FUZZ_CHECK(m.bodystructure_len == m2.bodystructure_len &&
		    memcmp(m.bodystructure, m2.bodystructure,
		    m.bodystructure_len) == 0, "BODYSTRUCTURE differs with "
		    "CRLF:\n%.*s\n%.*s", (int)m.bodystructure_len,
		    m.bodystructure, (int)m2.bodystructure_len,
		    m2.bodystructure);
		FUZZ_CHECK(m.envelope_len == m2.envelope_len &&
		    memcmp(m.envelope, m2.envelope, m.envelope_len) == 0,
		    "ENVELOPE differs with CRLF");
		FUZZ_CHECK(m.nparts == m2.nparts, "parts differ with CRLF");
		for (k = 0; k < 3; k++) {
			FUZZ_CHECK(imap_meta_section(&m, NULL, 0,
			    (enum imap_section_kind)k, &o1, &e1, &l1) ==
			    imap_meta_section(&m2, NULL, 0,
			    (enum imap_section_kind)k, &o2, &e2, &l2) &&
			    l1 == l2 && l2 == e2 - o2, "section %d: CRLF "
			    "lengths differ", k);
		}
		free(rec2);
		free(crlf);
	}

	/* damaged records: the input itself, and one changed byte */
	if (imap_meta_parse(data, size, &m2) == 0)
		check_sections(&m2, 0, data, size, 0);
	if (size > 0) {
		i = (data[0] | (size > 1 ? (size_t)data[1] << 8 : 0)) % len;
		((uint8_t *)rec)[i] ^= size > 2 ? data[2] | 1 : 0x55;
		if (imap_meta_parse(rec, len, &m2) == 0)
			check_sections(&m2, 0, data, size, 0);
	}
	free(rec);

	/* the header helpers on the raw bytes */
	imap_header_decode((const char *)data, size, &dec, &len);
	FUZZ_CHECK(dec[len] == '\0' && len <= 4 * size + 16,
	    "decoded %zu from %zu", len, size);
	free(dec);
	(void)imap_date_parse((const char *)data, size, &utc, NULL);
	imap_header_fields((const char *)data, size, names, lens, 2, 0,
	    field_cb, &total);
	imap_header_fields((const char *)data, size, names, lens, 2, 1,
	    field_cb, &total);
	FUZZ_CHECK(total <= size, "fields cover %zu of %zu bytes", total,
	    size);
	return 0;
}
