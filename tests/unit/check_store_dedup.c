/*
 * check_store_dedup.c - the same bytes are stored once.
 *
 * One message delivered to many users keeps one body; a large attachment
 * forwarded inside a different message keeps one blob.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "testutil.h"

static Suite	*dedup_suite(void);

#define NUSERS	6

static char		*dir;
static struct store	*st;
static uint32_t		 users[NUSERS], inboxes[NUSERS];

static void
setup(void)
{
	char addr[64];
	int i;

	dir = tu_tmpdir("dedup");
	st = tu_open(dir);
	for (i = 0; i < NUSERS; i++) {
		snprintf(addr, sizeof(addr), "user%d@example.test", i);
		users[i] = tu_make_user(st, addr);
		inboxes[i] = tu_inbox(st, users[i]);
	}
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static char *
text_message(size_t *len_r)
{
	char *m;
	size_t cap = 64 * 1024, len = 0;
	int i;

	m = xmalloc(cap);
	len += (size_t)snprintf(m, cap, "From: list@example.test\r\n"
	    "To: everyone@example.test\r\nSubject: weekly news\r\n"
	    "Message-ID: <news-1@example.test>\r\n\r\n");
	for (i = 0; len + 100 < cap; i++)
		len += (size_t)snprintf(m + len, cap - len, "Item %d: the "
		    "quick brown fox %d jumps over %d lazy dogs.\r\n", i,
		    i * 7, i % 13);
	*len_r = len;
	return m;
}

static void
append_ok(uint32_t mbox, const void *data, size_t len, uint32_t *uid_r,
    const char *what)
{
	int rc;

	rc = tu_append(st, mbox, data, len, 0, NULL, uid_r);
	ck_assert_msg(rc == 1, "%s: append of %zu bytes to mailbox %u "
	    "returned %d: %s", what, len, mbox, rc, tu_err());
}

/* Prepared once, appended to every user's INBOX. */
START_TEST(test_same_message_many_users_prepared_once)
{
	struct store_prepared *prep = NULL;
	struct store_stats s0, s1, s;
	size_t len;
	char *msg;
	uint32_t uid;
	int i, rc;

	msg = text_message(&len);
	tu_stats(st, &s0);
	rc = store_msg_prepare(st, msg, len, &prep);
	ck_assert_msg(rc >= 0 && prep != NULL, "prepare returned %d: %s", rc,
	    tu_err());
	rc = tu_append_prepared(st, inboxes[0], prep, 0, &uid);
	ck_assert_msg(rc == 1, "first append returned %d: %s", rc, tu_err());
	tu_stats(st, &s1);
	ck_assert_msg(s1.bodies == s0.bodies + 1, "bodies %" PRIu64 " -> %"
	    PRIu64 " after the first delivery, wanted +1", s0.bodies,
	    s1.bodies);
	ck_assert_msg(s1.blobs > s0.blobs, "blobs %" PRIu64 " -> %" PRIu64
	    " after the first delivery, wanted growth", s0.blobs, s1.blobs);

	for (i = 1; i < NUSERS; i++) {
		rc = tu_append_prepared(st, inboxes[i], prep, 0, &uid);
		ck_assert_msg(rc == 1, "append to user %d returned %d: %s",
		    i, rc, tu_err());
	}
	store_prepared_free(&prep);
	ck_assert_msg(prep == NULL, "store_prepared_free left the pointer");

	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 1, "bodies %" PRIu64 " after %d deliveries "
	    "of one message, wanted 1", s.bodies, NUSERS);
	ck_assert_msg(s.blobs == s1.blobs, "blobs %" PRIu64 " after %d "
	    "deliveries, %" PRIu64 " after the first", s.blobs, NUSERS,
	    s1.blobs);
	ck_assert_msg(s.messages == NUSERS, "messages %" PRIu64 ", wanted %d",
	    s.messages, NUSERS);
	ck_assert_msg(s.raw_bytes == (uint64_t)NUSERS * len, "raw_bytes %"
	    PRIu64 ", wanted %d x %zu = %" PRIu64, s.raw_bytes, NUSERS, len,
	    (uint64_t)NUSERS * len);
	ck_assert_msg(s.body_bytes == len, "body_bytes %" PRIu64 ", wanted "
	    "%zu (one copy)", s.body_bytes, len);
	ck_assert_msg(s.blob_bytes == s1.blob_bytes && s.stored_bytes ==
	    s1.stored_bytes, "blob/stored bytes %" PRIu64 "/%" PRIu64
	    " after %d deliveries, %" PRIu64 "/%" PRIu64 " after one",
	    s.blob_bytes, s.stored_bytes, NUSERS, s1.blob_bytes,
	    s1.stored_bytes);
	ck_assert_msg(s.stored_bytes < len, "stored_bytes %" PRIu64 " not "
	    "below the %zu raw bytes of a repetitive text", s.stored_bytes,
	    len);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
	free(msg);
}
END_TEST

/* Prepared separately for every recipient (as separate SMTP sessions). */
START_TEST(test_same_message_prepared_each_time)
{
	struct store_stats s1, s;
	struct store_user u;
	size_t len;
	char *msg;
	uint32_t uid, uids[NUSERS];
	int i, rc;

	msg = text_message(&len);
	append_ok(inboxes[0], msg, len, &uids[0], "first");
	tu_stats(st, &s1);
	for (i = 1; i < NUSERS; i++)
		append_ok(inboxes[i], msg, len, &uids[i], "again");
	/* Twice in the same mailbox too. */
	append_ok(inboxes[0], msg, len, &uid, "same mailbox");
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 1 && s.blobs == s1.blobs, "after %d "
	    "appends of the same bytes: bodies %" PRIu64 " (wanted 1), "
	    "blobs %" PRIu64 " (wanted %" PRIu64 ")", NUSERS + 1, s.bodies,
	    s.blobs, s1.blobs);
	ck_assert_msg(s.raw_bytes == (uint64_t)(NUSERS + 1) * len,
	    "raw_bytes %" PRIu64 ", wanted %" PRIu64, s.raw_bytes,
	    (uint64_t)(NUSERS + 1) * len);
	ck_assert_msg(s.stored_bytes == s1.stored_bytes, "stored_bytes %"
	    PRIu64 " grew from %" PRIu64, s.stored_bytes, s1.stored_bytes);
	rc = tu_user_get(st, users[0], &u);
	ck_assert_msg(rc == 1 && u.used_messages == 2 &&
	    u.used_bytes == 2 * len, "user 0 usage %" PRIu64 " msgs / %"
	    PRIu64 " bytes, wanted 2 / %zu (each copy counts)",
	    u.used_messages, u.used_bytes, 2 * len);

	/* Expunging all but one keeps the body; the last one frees it. */
	rc = tu_expunge(st, inboxes[0], uid);
	ck_assert_msg(rc == 1, "expunge returned %d: %s", rc, tu_err());
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 1 && s.blobs == s1.blobs, "after one "
	    "expunge: bodies %" PRIu64 " blobs %" PRIu64, s.bodies, s.blobs);
	for (i = 0; i < NUSERS; i++) {
		rc = tu_expunge(st, inboxes[i], uids[i]);
		ck_assert_msg(rc == 1, "expunge uid %u of user %d returned "
		    "%d: %s", uids[i], i, rc, tu_err());
	}
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 0 && s.blobs == 0 && s.blob_bytes == 0 &&
	    s.stored_bytes == 0 && s.raw_bytes == 0, "after expunging every"
	    " copy: bodies %" PRIu64 " blobs %" PRIu64 " blob_bytes %" PRIu64
	    " stored %" PRIu64 " raw %" PRIu64, s.bodies, s.blobs,
	    s.blob_bytes, s.stored_bytes, s.raw_bytes);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
	free(msg);
}
END_TEST

static char *
b64(const uint8_t *data, size_t len, size_t *outlen_r)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out, *o;
	size_t i, col = 0;
	uint32_t v;

	out = o = xmalloc(len * 2 + 16);
	for (i = 0; i < len; i += 3) {
		v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
		if ((col += 4) >= 76) {
			*o++ = '\r';
			*o++ = '\n';
			col = 0;
		}
	}
	if (col > 0) {
		*o++ = '\r';
		*o++ = '\n';
	}
	*outlen_r = (size_t)(o - out);
	return out;
}

/*
 * message A carries a 200 KB attachment; message B (a forward: other
 * headers, other text, other boundary) carries the same part bytes.
 */
static char *
attach_message(const char *headers, const char *boundary, const char *text,
    const char *part, size_t partlen, size_t *len_r)
{
	char *m, *head;
	size_t hlen, len;

	head = xasprintf("%sMIME-Version: 1.0\r\nContent-Type: multipart/mixed;"
	    " boundary=\"%s\"\r\n\r\nThis is a multi-part message in MIME "
	    "format.\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "\r\n%s\r\n--%s\r\nContent-Type: application/pdf; name=\"q3.pdf\""
	    "\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: "
	    "attachment; filename=\"q3.pdf\"\r\n\r\n", headers, boundary,
	    boundary, text, boundary);
	hlen = strlen(head);
	len = hlen + partlen + strlen(boundary) + 8;
	m = xmalloc(len + 1);
	memcpy(m, head, hlen);
	memcpy(m + hlen, part, partlen);
	snprintf(m + hlen + partlen, len + 1 - hlen - partlen, "--%s--\r\n",
	    boundary);
	*len_r = hlen + partlen + strlen(boundary) + 6;
	free(head);
	return m;
}

START_TEST(test_forwarded_attachment)
{
	struct store_stats s0, sa, sb, sc;
	struct tu_rng rng;
	uint8_t *raw;
	char *part, *a, *b, *c;
	size_t rawlen = 150 * 1024, partlen, alen, blen, clen;
	uint64_t grow_b, grow_c;
	uint32_t uid, uid_a, uid_b;
	void *got;
	size_t got_len;
	int rc;

	raw = xmalloc(rawlen);
	tu_rng_seed(&rng, 200);
	tu_rng_fill(&rng, raw, rawlen);
	part = b64(raw, rawlen, &partlen);
	free(raw);

	a = attach_message("From: alice@example.test\r\nTo: bob@example.test"
	    "\r\nSubject: Q3 figures\r\nMessage-ID: <a1@example.test>\r\n",
	    "=_alice_1", "Hi Bob, the figures are attached.\r\nAlice",
	    part, partlen, &alen);
	b = attach_message("From: bob@example.test\r\nTo: carol@example.test"
	    "\r\nSubject: Fwd: Q3 figures\r\nMessage-ID: <b7@example.test>"
	    "\r\nIn-Reply-To: <a1@example.test>\r\n", "----=_Part_99_fwd",
	    "Carol, see below.  Forwarded from Alice, who wrote that the "
	    "figures were attached.\r\n-- \r\nBob", part, partlen, &blen);
	/* Control: a different attachment of the same size. */
	part[100] = part[100] == 'A' ? 'B' : 'A';
	c = attach_message("From: dave@example.test\r\nSubject: other\r\n",
	    "x", "Something else.", part, partlen, &clen);

	tu_stats(st, &s0);
	append_ok(inboxes[0], a, alen, &uid_a, "message A");
	tu_stats(st, &sa);
	append_ok(inboxes[1], b, blen, &uid_b, "message B");
	tu_stats(st, &sb);

	rc = tu_read(st, inboxes[1], uid_b, &got, &got_len);
	ck_assert_msg(rc == 1 && got_len == blen && memcmp(got, b, blen) == 0,
	    "message B does not read back (rc %d, %zu of %zu bytes)", rc,
	    got_len, blen);
	free(got);

	ck_assert_msg(sb.bodies == sa.bodies + 1, "bodies %" PRIu64 " -> %"
	    PRIu64 ": B is a different message", sa.bodies, sb.bodies);
	grow_b = sb.blob_bytes - sa.blob_bytes;
	ck_assert_msg(sa.blob_bytes - s0.blob_bytes >= partlen,
	    "message A (%zu bytes) added only %" PRIu64 " blob bytes", alen,
	    sa.blob_bytes - s0.blob_bytes);
	ck_assert_msg(grow_b < blen / 10, "message B (%zu bytes, attachment"
	    " part %zu bytes shared with A) grew blob_bytes by %" PRIu64
	    " (%" PRIu64 " -> %" PRIu64 "): the attachment was stored twice",
	    blen, partlen, grow_b, sa.blob_bytes, sb.blob_bytes);
	ck_assert_msg(sb.stored_bytes - sa.stored_bytes < blen / 10,
	    "message B grew stored_bytes by %" PRIu64 " of its %zu bytes",
	    sb.stored_bytes - sa.stored_bytes, blen);

	/* The control message's attachment differs by one byte: stored. */
	append_ok(inboxes[2], c, clen, &uid, "message C");
	tu_stats(st, &sc);
	grow_c = sc.blob_bytes - sb.blob_bytes;
	ck_assert_msg(grow_c >= partlen, "message C (a different attachment)"
	    " grew blob_bytes by only %" PRIu64 " (< %zu): stats do not "
	    "count distinct segments", grow_c, partlen);

	/* Dropping A keeps B whole; its shared segment must survive. */
	rc = tu_expunge(st, inboxes[0], uid_a);
	ck_assert_msg(rc == 1, "expunge A returned %d: %s", rc, tu_err());
	rc = tu_read(st, inboxes[1], uid_b, &got, &got_len);
	ck_assert_msg(rc == 1 && got_len == blen && memcmp(got, b, blen) == 0,
	    "after expunging A, message B reads back rc %d, %zu of %zu",
	    rc, got_len, blen);
	free(got);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
	free(a);
	free(b);
	free(c);
	free(part);
}
END_TEST

/* Copy adds a row and a reference, never bytes. */
START_TEST(test_copy_adds_no_bytes)
{
	struct store_stats s1, s;
	size_t len;
	char *msg;
	uint32_t uid, nuid;
	int i, rc;

	msg = text_message(&len);
	append_ok(inboxes[0], msg, len, &uid, "original");
	tu_stats(st, &s1);
	for (i = 1; i < NUSERS; i++) {
		rc = tu_copy(st, inboxes[0], uid, inboxes[i], &nuid);
		ck_assert_msg(rc == 1, "copy to user %d returned %d: %s", i,
		    rc, tu_err());
	}
	tu_stats(st, &s);
	ck_assert_msg(s.bodies == 1 && s.blobs == s1.blobs &&
	    s.stored_bytes == s1.stored_bytes, "after %d copies: bodies %"
	    PRIu64 " blobs %" PRIu64 "/%" PRIu64 " stored %" PRIu64 "/%"
	    PRIu64, NUSERS - 1, s.bodies, s.blobs, s1.blobs,
	    s.stored_bytes, s1.stored_bytes);
	ck_assert_msg(s.raw_bytes == (uint64_t)NUSERS * len, "raw_bytes %"
	    PRIu64 " after copies, wanted %" PRIu64, s.raw_bytes,
	    (uint64_t)NUSERS * len);
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
	free(msg);
}
END_TEST

static Suite *
dedup_suite(void)
{
	Suite *s = suite_create("store_dedup");
	TCase *tc;

	tc = tcase_create("dedup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_same_message_many_users_prepared_once);
	tcase_add_test(tc, test_same_message_prepared_each_time);
	tcase_add_test(tc, test_forwarded_attachment);
	tcase_add_test(tc, test_copy_adds_no_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(dedup_suite());
}
