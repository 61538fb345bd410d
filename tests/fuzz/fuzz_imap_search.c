/*
 * fuzz_imap_search.c - SEARCH on message bytes (imapd/search.c,
 * imapd/fold.c): the input is a message.  Its searchable text is built
 * through a reader that checks every read stays inside the message; a
 * fixed set of text keys evaluates to yes or no once every stage is
 * loaded; folding is idempotent and compares equal to its input; the
 * transfer decoders never grow what they decode past their bound.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/imapmsg.h"
#include "imapd/fold.h"
#include "imapd/parse.h"
#include "imapd/search.h"

#include "fuzz.h"

struct reader {
	const uint8_t	*data;
	size_t		 size;
};

static int	fuzz_read(void *, uint64_t, size_t, void *, size_t *);
static void	fuzz_fold(const char *, size_t);
static void	fuzz_decoders(const char *, size_t);
static void	fuzz_text(const uint8_t *, size_t);

static int
fuzz_read(void *arg, uint64_t off, size_t len, void *buf, size_t *len_r)
{
	struct reader *r = arg;

	FUZZ_CHECK(off <= r->size && len <= r->size - off,
	    "read [%llu,+%zu) of %zu bytes", (unsigned long long)off, len,
	    r->size);
	memcpy(buf, r->data + off, len);
	*len_r = len;
	return 1;
}

static void
fuzz_fold(const char *s, size_t len)
{
	struct imap_buf a, b;

	imap_buf_init(&a);
	imap_buf_init(&b);
	imap_fold(s, len, &a);
	imap_fold(a.p != NULL ? a.p : "", a.len, &b);
	FUZZ_CHECK(a.len == b.len && (a.len == 0 ||
	    memcmp(a.p, b.p, a.len) == 0), "fold not idempotent: %zu/%zu",
	    a.len, b.len);
	FUZZ_CHECK(imap_fold_cmp(s, len, a.p != NULL ? a.p : "", a.len) == 0,
	    "a string and its folding compare unequal");
	imap_buf_free(&a);
	imap_buf_free(&b);
}

static void
fuzz_decoders(const char *s, size_t len)
{
	struct imap_buf b;

	imap_buf_init(&b);
	imap_search_decode_cte("base64", s, len, &b);
	FUZZ_CHECK(b.len <= len / 4 * 3 + 3, "base64 %zu -> %zu", len, b.len);
	imap_buf_reset(&b);
	imap_search_decode_cte("quoted-printable", s, len, &b);
	FUZZ_CHECK(b.len <= len, "quoted-printable %zu -> %zu", len, b.len);
	imap_buf_reset(&b);
	imap_search_fold_charset("koi8-r", s, len, &b);
	imap_buf_reset(&b);
	imap_search_fold_charset("utf-16", s, len, &b);
	imap_buf_reset(&b);
	imap_search_fold_charset("iso-2022-jp", s, len, &b);
	imap_buf_free(&b);
}

static void
fuzz_text(const uint8_t *data, size_t size)
{
	static char keys[] = " OR TEXT \"ab\" OR BODY \"\xc3\xa4x\" OR "
	    "HEADER Subject \"hello\" NOT FROM \"=?\"";
	struct imap_parser p;
	struct imap_search s;
	struct imap_search_env env;
	struct imap_search_prog *prog;
	struct imap_search_msg m;
	struct imap_meta meta;
	struct imap_part p0;
	struct imap_buf text, body;
	struct reader rd = { data, size };
	char *buf;
	void *raw;
	size_t rawlen;
	int r;

	imap_msg_meta_build(data, size, &raw, &rawlen);
	FUZZ_CHECK(imap_meta_parse(raw, rawlen, &meta) == 0,
	    "the record of %zu bytes does not parse", size);
	buf = strdup(keys);
	imap_parser_init(&p, buf, strlen(buf), 1);
	FUZZ_CHECK(imap_p_search(&p, &s) == 0, "keys: %s", p.err);
	memset(&env, 0, sizeof(env));
	prog = imap_search_compile(s.root, &env);
	imap_parser_free(&p);
	free(buf);

	imap_buf_init(&text);
	imap_buf_init(&body);
	memset(&m, 0, sizeof(m));
	m.keywords = "";
	imap_meta_part(&meta, 0, &p0);
	FUZZ_CHECK(p0.hdr_off <= p0.body_off && p0.body_off <= size,
	    "part 0 header [%llu,%llu) of %zu",
	    (unsigned long long)p0.hdr_off, (unsigned long long)p0.body_off,
	    size);
	m.header = (const char *)data + p0.hdr_off;
	m.header_len = (size_t)(p0.body_off - p0.hdr_off);
	m.sent_date = meta.date;
	r = imap_search_text(&meta, IMAP_SN_TEXT | IMAP_SN_BODY, fuzz_read,
	    &rd, &text, &body);
	FUZZ_CHECK(r == 1, "imap_search_text gave %d", r);
	m.text = text.p;
	m.text_len = text.len;
	m.body = body.p;
	m.body_len = body.len;
	m.have = IMAP_SN_DATE | IMAP_SN_HEADER | IMAP_SN_TEXT | IMAP_SN_BODY;
	r = imap_search_match(prog, &m);
	FUZZ_CHECK(r == IMAP_SM_YES || r == IMAP_SM_NO,
	    "every stage loaded, still %d", r);
	imap_buf_free(&text);
	imap_buf_free(&body);
	imap_search_prog_free(&prog);
	free(raw);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_fold((const char *)data, size);
	fuzz_decoders((const char *)data, size);
	fuzz_text(data, size);
	return 0;
}
