/*
 * check_fs_name.c - the file view's names (fs/name.c): message file
 * names, the uid a name claims, info letters as bits, folder directory
 * names in modified UTF-7, and where a message shows (new/ or cur/).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"

static Suite	*fsname_suite(void);

START_TEST(test_msg_name)
{
	char buf[FS_NAME_MAX + 1];

	fs.hostname = "mail.example.test";
	ck_assert_int_eq(fs_msg_name(1700000000, 42, 5155, 0, "FSa", buf,
	    sizeof(buf)), 1);
	ck_assert_str_eq(buf, "1700000000.42.mail.example.test,S=5155:2,FSa");
	ck_assert_int_eq(fs_msg_name(1700000000, 42, 5155, 1, "", buf,
	    sizeof(buf)), 1);
	ck_assert_str_eq(buf, "1700000000.42.mail.example.test,S=5155");
	/* A ':' or '/' in the host name must not reach the file name. */
	fs.hostname = "a:b/c";
	ck_assert_int_eq(fs_msg_name(1, 1, 1, 0, "", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "1.1.a\\072b\\057c,S=1:2,");
	ck_assert_int_eq(fs_msg_name(1, 1, 1, 0, "", buf, 10), -1);
}
END_TEST

START_TEST(test_name_uid)
{
	uint32_t uid = 0;

	ck_assert_int_eq(fs_name_uid("1700000000.42.host,S=1:2,S", &uid), 1);
	ck_assert_uint_eq(uid, 42);
	ck_assert_int_eq(fs_name_uid("1.4294967295.h", &uid), 1);
	ck_assert_uint_eq(uid, 4294967295U);
	ck_assert_int_eq(fs_name_uid("1.4294967296.h", &uid), 0);
	ck_assert_int_eq(fs_name_uid("1.0.h", &uid), 0);
	ck_assert_int_eq(fs_name_uid("1.042.h", &uid), 0);
	ck_assert_int_eq(fs_name_uid("x.42.h", &uid), 0);
	ck_assert_int_eq(fs_name_uid("17.42", &uid), 0);
	ck_assert_int_eq(fs_name_uid("", &uid), 0);
	ck_assert_int_eq(fs_name_uid(".42.", &uid), 0);
}
END_TEST

START_TEST(test_info)
{
	char buf[STORE_MAILDIR_INFO_MAX];

	ck_assert_str_eq(fs_name_info("1.2.h,S=3:2,FS"), "FS");
	ck_assert_str_eq(fs_name_info("1.2.h,S=3!2,RS"), "RS");
	ck_assert_str_eq(fs_name_info("1.2.h,S=3;2,a"), "a");
	ck_assert_str_eq(fs_name_info("1.2.h,S=3"), "");
	ck_assert_str_eq(fs_name_info("1.2.h,S=3:2,"), "");
	ck_assert_str_eq(fs_info_string(fs_info_bits("SFaDz"), buf),
	    "DFSaz");
	ck_assert_str_eq(fs_info_string(fs_info_bits("DFPRST"), buf),
	    "DFPRST");
	ck_assert_uint_eq(fs_info_bits("?X"), 0);
	ck_assert_uint_eq(fs_info_bits(""), 0);
	ck_assert_str_eq(fs_info_string(0xffffffffU, buf),
	    "DFPRSTabcdefghijklmnopqrstuvwxyz");
}
END_TEST

START_TEST(test_folders)
{
	char buf[1024];

	ck_assert_int_eq(fs_folder_dirname("Sent", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, ".Sent");
	ck_assert_int_eq(fs_folder_dirname("A/B", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, ".A.B");
	ck_assert_int_eq(fs_folder_dirname("\xc3\x9cn\xc3\xaf" "code & x",
	    buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, ".&ANw-n&AO8-code &- x");
	ck_assert_int_eq(fs_folder_dirname("v1.2", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, ".v1\\2e2");
	ck_assert_int_eq(fs_folder_dirname("INBOX", buf, sizeof(buf)), -1);

	ck_assert_int_eq(fs_folder_storename(".&ANw-n&AO8-code &- x", buf,
	    sizeof(buf)), 1);
	ck_assert_str_eq(buf, "\xc3\x9cn\xc3\xaf" "code & x");
	ck_assert_int_eq(fs_folder_storename(".A.B", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "A/B");
	ck_assert_int_eq(fs_folder_storename(".v1\\2e2", buf, sizeof(buf)),
	    1);
	ck_assert_str_eq(buf, "v1.2");
	/* Not folder names: no dot, empty levels, INBOX, bad UTF-7, 8-bit */
	ck_assert_int_eq(fs_folder_storename("Sent", buf, sizeof(buf)), -1);
	ck_assert_int_eq(fs_folder_storename(".A..B", buf, sizeof(buf)), -1);
	ck_assert_int_eq(fs_folder_storename(".", buf, sizeof(buf)), -1);
	ck_assert_int_eq(fs_folder_storename("..", buf, sizeof(buf)), -1);
	ck_assert_int_eq(fs_folder_storename(".INBOX", buf, sizeof(buf)),
	    -1);
	ck_assert_int_eq(fs_folder_storename(".&ANw", buf, sizeof(buf)), -1);
	ck_assert_int_eq(fs_folder_storename(".\xc3\x9c", buf, sizeof(buf)),
	    -1);
}
END_TEST

START_TEST(test_in_new)
{
	struct store_msg m;

	memset(&m, 0, sizeof(m));
	m.uid = 10;
	ck_assert_int_eq(fs_msg_in_new(&m, 10), 1);
	ck_assert_int_eq(fs_msg_in_new(&m, 11), 0);	/* taken as \Recent */
	m.flags = STORE_F_SEEN;
	ck_assert_int_eq(fs_msg_in_new(&m, 10), 0);	/* has flags */
	m.flags = 0;
	strcpy(m.keywords, "$Junk");
	ck_assert_int_eq(fs_msg_in_new(&m, 10), 0);	/* has keywords */
	m.keywords[0] = '\0';
	m.maildir_cur = 1;
	ck_assert_int_eq(fs_msg_in_new(&m, 10), 0);	/* moved to cur/ */
}
END_TEST

static Suite *
fsname_suite(void)
{
	Suite *s = suite_create("fs_name");
	TCase *tc = tcase_create("names");

	tcase_add_test(tc, test_msg_name);
	tcase_add_test(tc, test_name_uid);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_folders);
	tcase_add_test(tc, test_in_new);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fsname_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
