/*
 * check_store_blob.c - messages read back byte-exact.
 *
 * Awkward bytes (NUL, all 256 values, bare CR/LF, no final newline, header
 * only, huge, multipart) go in through store_msg_append() and must come
 * back identical through store_msg_read(), store_body_read() and
 * store_msg_read_range() at many offsets and lengths.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "testutil.h"

static Suite	*blob_suite(void);

static char		*dir;
static struct store	*st;
static uint32_t		 inbox;

static void
setup(void)
{
	uint32_t uid;

	dir = tu_tmpdir("blob");
	st = tu_open(dir);
	uid = tu_make_user(st, "blob@example.test");
	inbox = tu_inbox(st, uid);
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* A growable byte buffer for building messages. */
struct buf {
	uint8_t	*p;
	size_t	 len, cap;
};

static void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		while (b->len + len > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_base64(struct buf *b, const uint8_t *data, size_t len, size_t linelen)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[4];
	size_t i, col = 0;
	uint32_t v;

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		out[0] = tab[(v >> 18) & 63];
		out[1] = tab[(v >> 12) & 63];
		out[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[3] = i + 2 < len ? tab[v & 63] : '=';
		buf_add(b, out, 4);
		col += 4;
		if (col >= linelen) {
			buf_str(b, "\r\n");
			col = 0;
		}
	}
	if (col > 0)
		buf_str(b, "\r\n");
}

struct body_ctx {
	uint64_t	 key;
	void		**data_r;
	size_t		*len_r;
};

static int
body_read_fn(struct store_txn *txn, void *ctx)
{
	struct body_ctx *b = ctx;

	return store_body_read(txn, b->key, b->data_r, b->len_r);
}

static int
body_read(uint64_t key, void **data_r, size_t *len_r)
{
	struct body_ctx b = { key, data_r, len_r };

	return store_read(st, body_read_fn, &b);
}

/* Where two buffers first differ, for assertion messages. */
static size_t
first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return i;
	return len;
}

static void
check_range(uint32_t uid, const uint8_t *want, size_t wlen, uint64_t off,
    size_t len, const char *label)
{
	uint8_t *got;
	size_t got_len = 999999, expect;
	int rc;

	got = xmalloc(len + 16);
	rc = tu_read_range(st, inbox, uid, off, len, got, &got_len);
	if (off > wlen) {
		/* Past the end: nothing may be returned. */
		ck_assert_msg(rc != 1 || got_len == 0, "%s: read_range(off "
		    "%" PRIu64 " > size %zu) returned %zu bytes", label, off,
		    wlen, got_len);
		free(got);
		return;
	}
	expect = wlen - off < len ? wlen - off : len;
	ck_assert_msg(rc == 1, "%s: read_range(off %" PRIu64 ", len %zu) of "
	    "%zu-byte message returned %d: %s", label, off, len, wlen, rc,
	    tu_err());
	ck_assert_msg(got_len == expect, "%s: read_range(off %" PRIu64
	    ", len %zu) of %zu-byte message read %zu bytes, wanted %zu",
	    label, off, len, wlen, got_len, expect);
	ck_assert_msg(memcmp(got, want + off, expect) == 0, "%s: read_range"
	    "(off %" PRIu64 ", len %zu) differs at byte %zu of the range",
	    label, off, len, first_diff(got, want + off, expect));
	free(got);
}

/*
 * Appends data, then reads it back every way there is.  Small messages
 * are read at every offset; large ones at edges and random offsets.
 */
static uint32_t
round_trip(const void *data, size_t len, const char *label)
{
	static const size_t lens[] = { 0, 1, 2, 3, 17, 255, 4096 };
	struct store_msg m;
	struct tu_rng rng;
	void *got = NULL, *body = NULL;
	size_t got_len = 0, body_len = 0, i, j;
	uint64_t off;
	uint32_t uid = 0;
	int rc;

	rc = tu_append(st, inbox, data, len, 0, NULL, &uid);
	ck_assert_msg(rc == 1, "%s: append of %zu bytes returned %d: %s",
	    label, len, rc, tu_err());
	ck_assert_msg(uid != 0, "%s: append gave uid 0", label);

	rc = tu_msg_get(st, inbox, uid, &m);
	ck_assert_msg(rc == 1, "%s: msg_get uid %u returned %d: %s", label,
	    uid, rc, tu_err());
	ck_assert_msg(m.size == len, "%s: stored size %" PRIu64 ", appended "
	    "%zu bytes", label, m.size, len);

	rc = tu_read(st, inbox, uid, &got, &got_len);
	ck_assert_msg(rc == 1, "%s: msg_read returned %d: %s", label, rc,
	    tu_err());
	ck_assert_msg(got_len == len, "%s: msg_read gave %zu bytes, appended "
	    "%zu", label, got_len, len);
	ck_assert_msg(len == 0 || memcmp(got, data, len) == 0, "%s: msg_read "
	    "bytes differ from appended bytes at offset %zu", label,
	    first_diff(got, data, len));
	free(got);

	/* store_body_read() by the body id gives the same bytes. */
	rc = body_read(m.body, &body, &body_len);
	ck_assert_msg(rc == 1, "%s: body_read returned %d: %s", label, rc,
	    tu_err());
	ck_assert_msg(body_len == len && (len == 0 ||
	    memcmp(body, data, len) == 0), "%s: body_read gave %zu bytes "
	    "(first difference at %zu), appended %zu", label, body_len,
	    first_diff(body, data, body_len < len ? body_len : len), len);
	free(body);

	if (len <= 3000) {
		for (off = 0; off <= len; off++)
			for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
				check_range(uid, data, len, off, lens[j],
				    label);
	} else {
		check_range(uid, data, len, 0, len, label);
		check_range(uid, data, len, 0, 1, label);
		check_range(uid, data, len, len - 1, 1, label);
		check_range(uid, data, len, len - 1, 100, label);
		check_range(uid, data, len, len, 10, label);
		tu_rng_seed(&rng, len);
		for (i = 0; i < 200; i++) {
			off = tu_rng_below(&rng, len);
			check_range(uid, data, len, off,
			    1 + tu_rng_below(&rng, 70000), label);
		}
	}
	check_range(uid, data, len, (uint64_t)len + 1, 10, label);
	return uid;
}

START_TEST(test_empty)
{
	round_trip("", 0, "empty message");
}
END_TEST

START_TEST(test_nul_bytes)
{
	static const char msg[] = "Subject: nul\r\nX-Nul: a\0b\r\n\r\n"
	    "\0\0\0start\0middle\0\0end\0\r\n\0";

	round_trip(msg, sizeof(msg) - 1, "NUL bytes");
	round_trip("\0", 1, "a single NUL");
}
END_TEST

START_TEST(test_all_byte_values)
{
	struct buf b = { 0 };
	uint8_t c[256];
	int i;

	for (i = 0; i < 256; i++)
		c[i] = (uint8_t)i;
	buf_str(&b, "Subject: every byte\r\n\r\n");
	for (i = 0; i < 4; i++)
		buf_add(&b, c, sizeof(c));
	round_trip(b.p, b.len, "all 256 byte values in the body");
	b.len = 0;
	/* Every byte value in a header line too, and no blank line. */
	buf_str(&b, "X-Bytes: ");
	buf_add(&b, c, sizeof(c));
	buf_str(&b, "\r\n");
	round_trip(b.p, b.len, "all 256 byte values in a header");
	free(b.p);
}
END_TEST

START_TEST(test_8bit)
{
	static const char msg[] =
	    "From: =?utf-8?q?J=C3=BCrgen?= <j\xc3\xbcrgen@example.test>\r\n"
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x93\xa7\r\n"
	    "X-Latin1: caf\xe9 na\xefve\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
	    "\xe4\xb8\x96\xe7\x95\x8c \xff\xfe\x80\x81\r\n";

	round_trip(msg, sizeof(msg) - 1, "8-bit headers and body");
}
END_TEST

START_TEST(test_line_endings)
{
	static const char lf[] = "From: a@example.test\nSubject: lf\n\n"
	    "line one\nline two\n\n\nlast\n";
	static const char cr[] = "From: a@example.test\rSubject: cr\r\r"
	    "line one\rline two\r";
	static const char crlf[] = "From: a@example.test\r\nSubject: crlf"
	    "\r\n\r\nline one\r\nline two\r\n.\r\n..\r\n";
	static const char mixed[] = "From: a@example.test\r\nSubject: mix\n"
	    "\r\nbody\r\r\n\n\r\rend\n\r";
	static const char lf_only[] = "\n\n\n";
	static const char crlf_only[] = "\r\n";

	round_trip(lf, sizeof(lf) - 1, "bare LF");
	round_trip(cr, sizeof(cr) - 1, "bare CR");
	round_trip(crlf, sizeof(crlf) - 1, "CRLF");
	round_trip(mixed, sizeof(mixed) - 1, "mixed line ends");
	round_trip(lf_only, sizeof(lf_only) - 1, "only LFs");
	round_trip(crlf_only, sizeof(crlf_only) - 1, "one CRLF");
}
END_TEST

START_TEST(test_no_final_newline)
{
	static const char m1[] = "Subject: x\r\n\r\nno newline at the end";
	static const char m2[] = "Subject: header without end";
	static const char m3[] = "x";

	round_trip(m1, sizeof(m1) - 1, "body without final newline");
	round_trip(m2, sizeof(m2) - 1, "one header line, no newline");
	round_trip(m3, sizeof(m3) - 1, "one byte");
}
END_TEST

START_TEST(test_header_only)
{
	static const char m1[] = "From: a@example.test\r\nTo: b@example.test"
	    "\r\nSubject: only headers\r\n";
	static const char m2[] = "From: a@example.test\r\nSubject: header "
	    "and blank line\r\n\r\n";
	static const char m3[] = "Subject: folded\r\n\tcontinued\r\n  again"
	    "\r\n";

	round_trip(m1, sizeof(m1) - 1, "header only, no blank line");
	round_trip(m2, sizeof(m2) - 1, "header and blank line, no body");
	round_trip(m3, sizeof(m3) - 1, "folded header only");
}
END_TEST

/*
 * A multipart message whose large attachment is base64 of random bytes,
 * plus a second copy with different text around the same attachment.
 */
START_TEST(test_multipart_large_attachment)
{
	struct buf b = { 0 };
	struct tu_rng rng;
	uint8_t *att;
	size_t attlen = 3 * 1024 * 1024;
	uint32_t uid1, uid2;
	void *got = NULL;
	size_t got_len = 0;
	int rc;

	att = xmalloc(attlen);
	tu_rng_seed(&rng, 3);
	tu_rng_fill(&rng, att, attlen);
	buf_str(&b, "From: a@example.test\r\nTo: b@example.test\r\n"
	    "Subject: report\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_b1\"\r\n\r\n"
	    "This is a multi-part message in MIME format.\r\n"
	    "--=_b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "See the attachment.\r\n--=_b1\r\n"
	    "Content-Type: application/octet-stream; name=\"r.bin\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"r.bin\"\r\n\r\n");
	buf_base64(&b, att, attlen, 76);
	buf_str(&b, "--=_b1--\r\nepilogue\r\n");
	uid1 = round_trip(b.p, b.len, "multipart with 3 MB attachment");

	/* A boundary string inside the text and no closing delimiter. */
	b.len = 0;
	buf_str(&b, "Subject: unterminated\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
	    "--zz\r\n\r\nnot a boundary: --zzz and x--zz\r\n--zz\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	buf_base64(&b, att, 400000, 76);
	uid2 = round_trip(b.p, b.len, "multipart without closing boundary");
	ck_assert_msg(uid2 > uid1, "second uid %u not above first %u", uid2,
	    uid1);

	/* The first message is still intact after the second shared data. */
	rc = tu_read(st, inbox, uid1, &got, &got_len);
	ck_assert_msg(rc == 1 && got_len > attlen, "re-reading uid %u: rc %d,"
	    " %zu bytes", uid1, rc, got_len);
	free(got);
	free(att);
	free(b.p);
}
END_TEST

START_TEST(test_nested_multipart)
{
	struct buf b = { 0 };
	struct tu_rng rng;
	uint8_t chunk[90000];

	tu_rng_seed(&rng, 5);
	tu_rng_fill(&rng, chunk, sizeof(chunk));
	buf_str(&b, "Subject: nested\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
	    "--outer\r\nContent-Type: multipart/alternative; boundary=inner"
	    "\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
	    "--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
	    "--inner--\r\n--outer\r\nContent-Type: application/x-bin\r\n"
	    "Content-Transfer-Encoding: binary\r\n\r\n");
	buf_add(&b, chunk, sizeof(chunk));
	buf_str(&b, "\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: inner message\r\n\r\nhello\r\n--outer--");
	round_trip(b.p, b.len, "nested multipart with binary part");

	/* The same with bare LF line ends. */
	b.len = 0;
	buf_str(&b, "Subject: lf parts\nContent-Type: multipart/mixed; "
	    "boundary=q\n\n--q\n\ntext\n--q\nContent-Type: x/y\n\n");
	buf_add(&b, chunk, sizeof(chunk));
	buf_str(&b, "\n--q--\n");
	round_trip(b.p, b.len, "multipart with LF line ends");
	free(b.p);
}
END_TEST

/*
 * 50 MB: a compressible text part and an incompressible binary part.
 * Read back whole, then in 1 MiB ranges that must reassemble it.
 */
START_TEST(test_50mb)
{
	struct buf b = { 0 };
	struct tu_rng rng;
	const size_t half = 25 * 1024 * 1024;
	char line[128];
	uint8_t *rnd, *chunk;
	size_t start, got_len, pos;
	uint32_t uid;
	unsigned n = 0;
	int rc;

	b.cap = 2 * half + 4096;
	b.p = xmalloc(b.cap);
	buf_str(&b, "From: big@example.test\r\nSubject: fifty megabytes\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"big-boundary\"\r\n\r\n"
	    "--big-boundary\r\nContent-Type: text/plain\r\n\r\n");
	start = b.len;
	while (b.len - start < half) {
		snprintf(line, sizeof(line), "line %u of a long and boring "
		    "log file, status=%s\r\n", n, n % 7 ? "ok" : "retry");
		buf_str(&b, line);
		n++;
	}
	buf_str(&b, "--big-boundary\r\nContent-Type: application/x-random\r\n"
	    "Content-Transfer-Encoding: binary\r\n\r\n");
	rnd = xmalloc(half);
	tu_rng_seed(&rng, 50);
	tu_rng_fill(&rng, rnd, half);
	buf_add(&b, rnd, half);
	free(rnd);
	buf_str(&b, "\r\n--big-boundary--\r\n");

	uid = round_trip(b.p, b.len, "50 MB message");

	chunk = xmalloc(1024 * 1024);
	for (pos = 0; pos < b.len; pos += got_len) {
		got_len = 0;
		rc = tu_read_range(st, inbox, uid, pos, 1024 * 1024, chunk,
		    &got_len);
		ck_assert_msg(rc == 1 && got_len > 0, "50 MB sequential read "
		    "at %zu: rc %d, %zu bytes: %s", pos, rc, got_len,
		    tu_err());
		ck_assert_msg(memcmp(chunk, b.p + pos, got_len) == 0,
		    "50 MB sequential read at %zu differs at +%zu", pos,
		    first_diff(chunk, b.p + pos, got_len));
	}
	ck_assert_msg(pos == b.len, "sequential reads covered %zu of %zu",
	    pos, b.len);
	free(chunk);
	free(b.p);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check after 50 MB append: %d problems:"
	    " %s", rc, tu_check_problems());
}
END_TEST

/* Many small messages, each different, all read back after the fact. */
START_TEST(test_many_then_reread)
{
	struct tu_rng rng;
	uint8_t *msgs[200];
	size_t lens[200], i, got_len;
	uint32_t uids[200];
	void *got;
	int rc;

	tu_rng_seed(&rng, 200);
	for (i = 0; i < 200; i++) {
		lens[i] = 1 + tu_rng_below(&rng, 20000);
		msgs[i] = xmalloc(lens[i]);
		tu_rng_fill(&rng, msgs[i], lens[i]);
		if (i % 2 == 0)	/* half of them compressible */
			memset(msgs[i], 'a' + (int)(i % 26), lens[i] / 2);
		rc = tu_append(st, inbox, msgs[i], lens[i], 0, NULL, &uids[i]);
		ck_assert_msg(rc == 1, "append %zu (%zu bytes) returned %d: "
		    "%s", i, lens[i], rc, tu_err());
	}
	for (i = 0; i < 200; i++) {
		got = NULL;
		got_len = 0;
		rc = tu_read(st, inbox, uids[i], &got, &got_len);
		ck_assert_msg(rc == 1 && got_len == lens[i] &&
		    memcmp(got, msgs[i], lens[i]) == 0, "message %zu uid %u: "
		    "rc %d, %zu bytes of %zu", i, uids[i], rc, got_len,
		    lens[i]);
		free(got);
		free(msgs[i]);
	}
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
}
END_TEST

static Suite *
blob_suite(void)
{
	Suite *s = suite_create("store_blob");
	TCase *tc;

	tc = tcase_create("round_trip");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_all_byte_values);
	tcase_add_test(tc, test_8bit);
	tcase_add_test(tc, test_line_endings);
	tcase_add_test(tc, test_no_final_newline);
	tcase_add_test(tc, test_header_only);
	tcase_add_test(tc, test_multipart_large_attachment);
	tcase_add_test(tc, test_nested_multipart);
	tcase_add_test(tc, test_50mb);
	tcase_add_test(tc, test_many_then_reread);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(blob_suite());
}
