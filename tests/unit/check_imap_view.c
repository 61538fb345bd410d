/*
 * check_imap_view.c - the pure parts of the selected-mailbox view
 * (imapd/view.c): sequence sets and UID sets resolved against a view
 * (ranges in any order, '*', an empty view, UIDs not in the view, "$"),
 * uid <-> sequence number maps, \Recent and gone lookups, FLAGS
 * formatting, and mailbox names as the store gets them (modified UTF-7
 * or UTF-8, INBOX in any case, empty / "." / ".." levels, separators at
 * the ends, control characters).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "imapd/imapd.h"
#include "store/message.h"

#define EXPECT(cond, ...) do {			\
	if (!(cond))				\
		ck_abort_msg(__VA_ARGS__);	\
} while (0)

/* A view of uids[n] (copied). */
static struct imap_view *
view_of(const uint32_t *uids, size_t n)
{
	struct imap_view *v = calloc(1, sizeof(*v));

	v->uids = calloc(n + 1, sizeof(*v->uids));
	if (n > 0)
		memcpy(v->uids, uids, n * sizeof(*uids));
	v->count = v->cap = n;
	v->uidnext = n > 0 ? uids[n - 1] + 1 : 1;
	return v;
}

/* Resolves text (a sequence set) and writes the uids as "1,2,3". */
static int
resolve(const struct imap_view *v, const char *text, int uid, char *out,
    size_t size)
{
	struct imap_parser p;
	struct imap_seqset set;
	char *buf = strdup(text);
	uint32_t *u;
	size_t n, i, o = 0;
	int rc;

	imap_parser_init(&p, buf, strlen(buf), 0);
	ck_assert_int_eq(imap_p_seqset(&p, &set), 0);
	rc = imap_view_resolve(v, &set, uid, &u, &n);
	out[0] = '\0';
	if (rc == 0) {
		for (i = 0; i < n; i++)
			o += (size_t)snprintf(out + o, size - o, "%s%u",
			    i > 0 ? "," : "", u[i]);
		free(u);
	}
	imap_parser_free(&p);
	free(buf);
	return rc;
}

START_TEST(test_resolve_seq)
{
	static const uint32_t uids[] = { 3, 5, 9, 10, 42 };
	struct imap_view *v = view_of(uids, 5);
	char out[256];

	ck_assert_int_eq(resolve(v, "1", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "3");
	ck_assert_int_eq(resolve(v, "2:4", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "5,9,10");
	ck_assert_int_eq(resolve(v, "4:2", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "5,9,10");
	ck_assert_int_eq(resolve(v, "*", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "42");
	ck_assert_int_eq(resolve(v, "*:4", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "10,42");
	/* overlapping ranges name each message once, in order */
	ck_assert_int_eq(resolve(v, "5,1:2,2,1", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "3,5,42");
	ck_assert_int_eq(resolve(v, "1:*", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "3,5,9,10,42");
	/* a number past the view is an error */
	ck_assert_int_eq(resolve(v, "6", 0, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(resolve(v, "1,3:7", 0, out, sizeof(out)), -1);
	imap_view_free(&v);
	ck_assert_ptr_null(v);
}
END_TEST

START_TEST(test_resolve_uid)
{
	static const uint32_t uids[] = { 3, 5, 9, 10, 42 };
	struct imap_view *v = view_of(uids, 5);
	char out[256];

	/* UIDs not in the view are skipped, never an error */
	ck_assert_int_eq(resolve(v, "1:4", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "3");
	ck_assert_int_eq(resolve(v, "6:8", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(resolve(v, "100", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	/* n:* with n above every uid still names the last one */
	ck_assert_int_eq(resolve(v, "100:*", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "42");
	ck_assert_int_eq(resolve(v, "*", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "42");
	ck_assert_int_eq(resolve(v, "9:10,3", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "3,9,10");
	ck_assert_int_eq(resolve(v, "1:4294967295", 1, out, sizeof(out)),
	    0);
	ck_assert_str_eq(out, "3,5,9,10,42");
	imap_view_free(&v);
}
END_TEST

START_TEST(test_resolve_empty_and_saved)
{
	static const uint32_t uids[] = { 2, 4, 6 };
	struct imap_view *v = view_of(NULL, 0), *w;
	char out[256];

	/* an empty mailbox: "*" names nothing, numbers are errors */
	ck_assert_int_eq(resolve(v, "1:*", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(resolve(v, "1", 0, out, sizeof(out)), -1);
	ck_assert_int_eq(resolve(v, "1:5", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	imap_view_free(&v);
	/* "$": the saved uids still in the view */
	w = view_of(uids, 3);
	w->saved = calloc(3, sizeof(uint32_t));
	w->saved[0] = 2;
	w->saved[1] = 3;
	w->saved[2] = 6;
	w->nsaved = 3;
	ck_assert_int_eq(resolve(w, "$", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "2,6");
	imap_view_free(&w);
}
END_TEST

START_TEST(test_maps)
{
	static const uint32_t uids[] = { 3, 5, 9, 10, 42 };
	struct imap_view *v = view_of(uids, 5);

	ck_assert_uint_eq(imap_view_uid(v, 1), 3);
	ck_assert_uint_eq(imap_view_uid(v, 5), 42);
	ck_assert_uint_eq(imap_view_uid(v, 0), 0);
	ck_assert_uint_eq(imap_view_uid(v, 6), 0);
	ck_assert_uint_eq(imap_view_seq(v, 9), 3);
	ck_assert_uint_eq(imap_view_seq(v, 42), 5);
	ck_assert_uint_eq(imap_view_seq(v, 4), 0);
	ck_assert_uint_eq(imap_view_seq(v, 43), 0);
	ck_assert_uint_eq(imap_view_seq(NULL, 3), 0);
	v->recent_lo = 9;
	v->recent_hi = 11;
	ck_assert(!imap_view_is_recent(v, 5));
	ck_assert(imap_view_is_recent(v, 9));
	ck_assert(imap_view_is_recent(v, 10));
	ck_assert(!imap_view_is_recent(v, 11));
	v->gone = calloc(2, sizeof(uint32_t));
	v->gone[0] = 5;
	v->gone[1] = 42;
	v->ngone = 2;
	ck_assert(imap_view_is_gone(v, 5));
	ck_assert(imap_view_is_gone(v, 42));
	ck_assert(!imap_view_is_gone(v, 9));
	/* a gone message keeps its number until announced */
	ck_assert_uint_eq(imap_view_seq(v, 42), 5);
	imap_view_note_own(v, 7);
	imap_view_note_own(v, 8);
	ck_assert_uint_eq(v->nown, 2);
	imap_view_free(&v);
}
END_TEST

START_TEST(test_flags_format)
{
	struct imap_buf b;

	imap_buf_init(&b);
	imap_flags_format(&b, 0, NULL, 0);
	imap_buf_add(&b, "", 1);
	ck_assert_str_eq(b.p, "()");
	imap_buf_reset(&b);
	imap_flags_format(&b, STORE_F_ALL, "$Label1 work", 1);
	imap_buf_add(&b, "", 1);
	ck_assert_str_eq(b.p, "(\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft \\Recent $Label1 work)");
	imap_buf_reset(&b);
	imap_flags_format(&b, STORE_F_SEEN, "", 0);
	imap_buf_add(&b, "", 1);
	ck_assert_str_eq(b.p, "(\\Seen)");
	imap_buf_reset(&b);
	imap_flags_format(&b, 0, "kw", 1);
	imap_buf_add(&b, "", 1);
	ck_assert_str_eq(b.p, "(\\Recent kw)");
	imap_buf_free(&b);
}
END_TEST

/* imap_mailbox_name() of text; 0 with out, or -1. */
static int
name(int utf8, const char *text, size_t len, char *out, size_t size)
{
	struct imap_session s;
	struct imap_str in = { text, len };

	memset(&s, 0, sizeof(s));
	s.enabled = utf8 ? IMAP_EN_UTF8 : 0;
	return imap_mailbox_name(&s, &in, out, size);
}

#define NAME_OK(utf8, text, want) do {					\
	char o_[1100];							\
	EXPECT(name(utf8, text, strlen(text), o_, sizeof(o_)) == 0,	\
	    "%s: refused: %s", text, err_msg());			\
	EXPECT(strcmp(o_, want) == 0, "%s: got %s, want %s", text, o_,	\
	    want);							\
} while (0)
#define NAME_BAD(utf8, text) do {					\
	char o_[1100];							\
	EXPECT(name(utf8, text, strlen(text), o_, sizeof(o_)) == -1,	\
	    "%s: accepted as %s", text, o_);				\
	EXPECT(err_class() == ERR_INVALID, "%s: class %d", text,	\
	    (int)err_class());						\
} while (0)

START_TEST(test_mailbox_names)
{
	char big[700], out[1100];

	NAME_OK(0, "INBOX", "INBOX");
	NAME_OK(0, "inbox", "INBOX");
	NAME_OK(0, "InBoX/Sub", "INBOX/Sub");
	NAME_OK(0, "Inboxes", "Inboxes");
	NAME_OK(0, "Work/2026", "Work/2026");
	/* modified UTF-7 decoded; "&-" is "&" */
	NAME_OK(0, "Entw&APw-rfe", "Entw\xc3\xbc" "rfe");
	NAME_OK(0, "A&-B", "A&B");
	/* UTF8=ACCEPT: UTF-8 as it is, "&" literal */
	NAME_OK(1, "Entw\xc3\xbc" "rfe", "Entw\xc3\xbc" "rfe");
	NAME_OK(1, "A&B", "A&B");
	NAME_BAD(0, "Entw\xc3\xbc" "rfe");	/* 8-bit without UTF8 */
	NAME_BAD(1, "bad\xff");			/* not UTF-8 */
	NAME_BAD(0, "&Jjo");			/* unclosed shift */
	NAME_BAD(0, "");
	NAME_BAD(0, "/Work");
	NAME_BAD(0, "Work/");
	NAME_BAD(0, "Work//Sub");
	NAME_BAD(0, "Work/../x");
	NAME_BAD(0, "..");
	NAME_BAD(0, "./x");
	NAME_BAD(0, "Work/.");
	NAME_BAD(0, "tab\there");
	NAME_BAD(0, "del\x7f");
	NAME_OK(0, "...", "...");
	NAME_OK(0, ".hidden", ".hidden");
	/* a NUL inside (a literal may carry one) */
	ck_assert_int_eq(name(0, "a\0b", 3, out, sizeof(out)), -1);
	/* longer than the store allows */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	NAME_BAD(0, big);
	big[STORE_MAILBOX_NAME_MAX] = '\0';
	ck_assert_int_eq(name(0, big, strlen(big), out, sizeof(out)), 0);
}
END_TEST

static Suite *
view_suite(void)
{
	Suite *s = suite_create("imap_view");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_resolve_seq);
	tcase_add_test(tc, test_resolve_uid);
	tcase_add_test(tc, test_resolve_empty_and_saved);
	tcase_add_test(tc, test_maps);
	tcase_add_test(tc, test_flags_format);
	tcase_add_test(tc, test_mailbox_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(view_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
