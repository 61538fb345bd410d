/*
 * check_filter_listmsg.c - the members' copy of a list message
 * (filter/listmsg.c): the original bytes exactly, after the added List-*
 * fields, in the message's own line ends; Reply-To fields (folded ones
 * too) removed on request; a copy that comes back is a mail loop.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "filter/listmsg.h"
#include "mail/imapmsg.h"

static Suite	*listmsg_suite(void);
static char	*copy(const char *, const char *, const char *, int,
		    const char *, size_t, size_t *);

/* Not inlined: GCC 12 at -O3 takes &out for a dangling pointer. */
__attribute__((noinline)) static char *
copy(const char *list, const char *name, const char *owner, int reply_to,
    const char *msg, size_t len, size_t *len_r)
{
	struct filter_list_in in = { .list = list, .name = name,
	    .owner = owner, .reply_to = reply_to, .msg = msg, .len = len };
	char *out = NULL;

	ck_assert_int_eq(filter_list_copy(&in, &out, len_r), 1);
	return out;
}

#define MSG	"From: Bob <bob@remote.test>\n" \
		"To: team@example.com\n" \
		"Subject: hi\n" \
		"\n" \
		"Reply-To: stays in the body\n" \
		"List-Id: <team.example.com> (in the body too)\n"

START_TEST(copy_fields_byte_exact)
{
	static const char want[] =
	    "List-Id: \"The Team\" <team.example.com>\n"
	    "List-Post: <mailto:team@example.com>\n"
	    "List-Owner: <mailto:boss@example.com>\n"
	    "Precedence: list\n" MSG;
	size_t len;
	char *out;

	out = copy("team@example.com", "The Team", "boss@example.com", 0,
	    MSG, strlen(MSG), &len);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_str_eq(out, want);
	free(out);
	/* No name, no owner. */
	out = copy("team@example.com", "", "", 0, MSG, strlen(MSG), &len);
	ck_assert_str_eq(out, "List-Id: <team.example.com>\n"
	    "List-Post: <mailto:team@example.com>\n"
	    "Precedence: list\n" MSG);
	free(out);
	/* NULL name and owner are "". */
	out = copy("team@example.com", NULL, NULL, 0, MSG, strlen(MSG), &len);
	ck_assert_str_eq(out, "List-Id: <team.example.com>\n"
	    "List-Post: <mailto:team@example.com>\n"
	    "Precedence: list\n" MSG);
	free(out);
}
END_TEST

START_TEST(copy_crlf_binary)
{
	static const char msg[] = "Subject: x\r\nTo: a@b\r\n\r\n\x00\xff"
	    "body\nlone LF\r\n";
	static const char add[] = "List-Id: <l.d.test>\r\n"
	    "List-Post: <mailto:l@d.test>\r\n"
	    "Precedence: list\r\n";
	size_t len;
	char *out;

	out = copy("l@d.test", "", "", 0, msg, sizeof(msg) - 1, &len);
	ck_assert_uint_eq(len, strlen(add) + sizeof(msg) - 1);
	ck_assert_int_eq(memcmp(out, add, strlen(add)), 0);
	ck_assert_int_eq(memcmp(out + strlen(add), msg, sizeof(msg) - 1), 0);
	free(out);
	/* No line end at all: CRLF; an empty message: the fields alone. */
	out = copy("l@d.test", "", "", 0, "Subject: x", 10, &len);
	ck_assert_str_eq(out, "List-Id: <l.d.test>\r\n"
	    "List-Post: <mailto:l@d.test>\r\nPrecedence: list\r\nSubject: x");
	free(out);
	out = copy("l@d.test", "", "", 0, "", 0, &len);
	ck_assert_uint_eq(len, strlen(add));
	free(out);
}
END_TEST

START_TEST(copy_name_phrase)
{
	char name[200];
	const char *p, *end;
	size_t len, i;
	char *out, *out2, *out3, *dec, *v;

	out = copy("l@d.test", "say \"hi\" \\o/", "", 0, MSG, strlen(MSG),
	    &len);
	ck_assert_ptr_nonnull(strstr(out,
	    "List-Id: \"say \\\"hi\\\" \\\\o/\" <l.d.test>\n"));
	free(out);
	out2 = copy("l@d.test", "Bücherfreunde", "", 0, MSG, strlen(MSG),
	    &len);
	ck_assert_msg(strncmp(out2, "List-Id: =?UTF-8?B?", 19) == 0, "%s",
	    out2);
	v = strndup(out2 + 9, (size_t)(strchr(out2, '\n') - out2 - 9));
	imap_header_decode(v, strlen(v), &dec, &len);
	ck_assert_str_eq(dec, "Bücherfreunde <l.d.test>");
	free(dec);
	free(v);
	free(out2);
	/* A long one: words on lines of their own, none over 76. */
	for (i = 0; i < 60; i++)
		memcpy(name + 2 * i, "ü", 2);
	name[120] = '\0';
	out3 = copy("l@d.test", name, "", 0, MSG, strlen(MSG), &len);
	end = strstr(out3, "\nList-Post");
	ck_assert_ptr_nonnull(end);
	for (p = out3; p < end; p = strchr(p, '\n') + 1)
		ck_assert_msg(strchr(p, '\n') - p <= 76, "a line of %d",
		    (int)(strchr(p, '\n') - p));
	v = strndup(out3 + 9, (size_t)(end - out3 - 9));
	imap_header_decode(v, strlen(v), &dec, &len);
	ck_assert_str_eq(dec + strlen(dec) - 11, " <l.d.test>");
	dec[strlen(dec) - 11] = '\0';
	ck_assert_str_eq(dec, name);
	free(dec);
	free(v);
	free(out3);
	/* An empty first line (no header): its LF is the line end. */
	out3 = copy("l@d.test", "", "", 0, "\nbody\r\n", 8, &len);
	ck_assert_str_eq(out3, "List-Id: <l.d.test>\n"
	    "List-Post: <mailto:l@d.test>\nPrecedence: list\n\nbody\r\n");
	free(out3);
}
END_TEST

START_TEST(copy_reply_to)
{
	static const char msg[] =
	    "From: Bob <bob@remote.test>\r\n"
	    "Reply-To: bob@remote.test\r\n"
	    "Subject: hi\r\n"
	    "reply-to : other@remote.test,\r\n"
	    "\tthird@remote.test\r\n"
	    "  (a comment)\r\n"
	    "REPLY-TO:x@y\r\n"
	    "Reply-Top: not a reply-to\r\n"
	    "To: team@example.com\r\n"
	    "\r\n"
	    "Reply-To: kept in the body\r\n";
	static const char want[] =
	    "List-Id: <team.example.com>\r\n"
	    "List-Post: <mailto:team@example.com>\r\n"
	    "Precedence: list\r\n"
	    "Reply-To: <team@example.com>\r\n"
	    "From: Bob <bob@remote.test>\r\n"
	    "Subject: hi\r\n"
	    "Reply-Top: not a reply-to\r\n"
	    "To: team@example.com\r\n"
	    "\r\n"
	    "Reply-To: kept in the body\r\n";
	size_t len;
	char *out;

	out = copy("team@example.com", "", "", 1, msg, strlen(msg), &len);
	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(len, strlen(want));
	free(out);
	/* Without reply_to, the Reply-To fields stay. */
	out = copy("team@example.com", "", "", 0, msg, strlen(msg), &len);
	ck_assert_str_eq(out + strlen(out) - strlen(msg), msg);
	free(out);
}
END_TEST

START_TEST(copy_loop)
{
	struct filter_list_in in = { .list = "team@example.com", .name = "",
	    .owner = "", .msg = NULL };
	static const char *const loops[] = {
	    "List-Id: <team.example.com>\n\nbody\n",
	    "Subject: x\nlist-id: The Team <TEAM.Example.COM>\n\nbody\n",
	    "List-Id: \"a <b>\"\n <team.example.com>\n\n",
	    NULL };
	static const char *const fine[] = {
	    "List-Id: <other.example.com>\n\nbody\n",
	    "List-Id: <team.example.com.evil>\n\n",
	    "Subject: x\n\nList-Id: <team.example.com>\n",
	    "X-List-Id: <team.example.com>\n\n",
	    NULL };
	char *out = NULL;
	size_t len, i;

	for (i = 0; loops[i] != NULL; i++) {
		in.msg = loops[i];
		in.len = strlen(loops[i]);
		err_clear();
		ck_assert_msg(filter_list_copy(&in, &out, &len) == 0,
		    "no loop seen in %s", loops[i]);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		ck_assert_ptr_nonnull(strstr(err_msg(), "mail loop"));
		ck_assert_ptr_null(out);
	}
	for (i = 0; fine[i] != NULL; i++) {
		in.msg = fine[i];
		in.len = strlen(fine[i]);
		ck_assert_msg(filter_list_copy(&in, &out, &len) == 1,
		    "a loop seen in %s", fine[i]);
		free(out);
		out = NULL;
	}
}
END_TEST

START_TEST(copy_invalid)
{
	static const struct {
		const char *list, *name, *owner;
	} bad[] = {
		{ "nolist", "", "" },
		{ "", "", "" },
		{ "@d.test", "", "" },
		{ "l@", "", "" },
		{ "l@d.test\r\nBcc: v@x.test", "", "" },
		{ "l@d.test>", "", "" },
		{ "l@d.test", "a\nBcc: v@x.test", "" },
		{ "l@d.test", "", "o@d.test>\nBcc: v@x.test" },
		{ "l@d.test", "", "o d.test" },
	};
	char name[200];
	char *out = NULL;
	size_t len, i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct filter_list_in in = { .list = bad[i].list,
		    .name = bad[i].name, .owner = bad[i].owner,
		    .msg = MSG, .len = strlen(MSG) };

		ck_assert_msg(filter_list_copy(&in, &out, &len) == -1,
		    "accepted %s / %s / %s", bad[i].list, bad[i].name,
		    bad[i].owner);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		ck_assert_ptr_null(out);
	}
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	{
		struct filter_list_in in = { .list = "l@d.test",
		    .name = name, .owner = "", .msg = MSG, .len = strlen(MSG) };

		ck_assert_int_eq(filter_list_copy(&in, &out, &len), -1);
	}
}
END_TEST

/*
 * Any message: without reply_to the copy is the fields and the message
 * exactly; with it, the body (from the blank line on) is untouched and
 * no Reply-To of the header is left but ours.
 */
START_TEST(copy_random)
{
	static const char *const parts[] = { "Reply-To: a@b", "reply-to :",
	    "List-Id: ", "<l.d.test>", "<", ">", " ", "\t", "\r", "\n",
	    "\r\n", "\n ", "\n\t", "x", "Subject: y", ":", "\n\n",
	    "\r\n\r\n", "\xff", "\0" };
	unsigned long long seed = 99;
	char buf[1024];
	size_t i, n, k, len, blank;
	char *out;
	int r;

	for (i = 0; i < 5000; i++) {
		struct filter_list_in in = { .list = "l@d.test", .name = "",
		    .owner = "", .msg = buf };

		n = 0;
		for (k = seed % 40; k > 0; k--) {
			const char *p;
			size_t l;

			seed = seed * 6364136223846793005ULL +
			    1442695040888963407ULL;
			p = parts[(seed >> 33) % (sizeof(parts) /
			    sizeof(parts[0]))];
			l = p[0] == '\0' ? 1 : strlen(p);
			memcpy(buf + n, p, l);
			n += l;
		}
		in.len = n;
		in.reply_to = (int)(i & 1);
		out = NULL;
		r = filter_list_copy(&in, &out, &len);
		if (r == 0) {
			ck_assert_ptr_nonnull(memmem(buf, n, "<l.d.test>", 10));
			continue;
		}
		ck_assert_int_eq(r, 1);
		/* The body: from the first blank line of the original. */
		for (blank = 0; blank < n; blank = (size_t)((char *)memchr(
		    buf + blank, '\n', n - blank) - buf) + 1) {
			if (buf[blank] == '\n' || (buf[blank] == '\r' &&
			    blank + 1 < n && buf[blank + 1] == '\n'))
				break;
			if (memchr(buf + blank, '\n', n - blank) == NULL) {
				blank = n;
				break;
			}
		}
		ck_assert_uint_ge(len, n - blank);
		ck_assert_msg(memcmp(out + len - (n - blank), buf + blank,
		    n - blank) == 0, "input %zu: the body changed", i);
		if (!in.reply_to) {
			ck_assert_uint_ge(len, n);
			ck_assert_msg(memcmp(out + len - n, buf, n) == 0,
			    "input %zu: the message changed", i);
		}
		free(out);
	}
}
END_TEST

static Suite *
listmsg_suite(void)
{
	Suite *s = suite_create("filter_listmsg");
	TCase *tc = tcase_create("copy");

	tcase_add_test(tc, copy_fields_byte_exact);
	tcase_add_test(tc, copy_crlf_binary);
	tcase_add_test(tc, copy_name_phrase);
	tcase_add_test(tc, copy_reply_to);
	tcase_add_test(tc, copy_loop);
	tcase_add_test(tc, copy_invalid);
	tcase_add_test(tc, copy_random);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(listmsg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
