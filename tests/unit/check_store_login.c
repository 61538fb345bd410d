/*
 * check_store_login.c - a login of an unknown user costs a real password
 * hash, as a wrong password does, so the two cannot be told apart by
 * their answer time.  crypt_r() is wrapped (-Wl,--wrap=crypt_r) to count
 * the hashes: no timing is measured.
 */
#include <check.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/store.h"
#include "store/user.h"
#include "testutil.h"

char	*__real_crypt_r(const char *, const char *, struct crypt_data *);
char	*__wrap_crypt_r(const char *, const char *, struct crypt_data *);

static unsigned hashes;
static char last_setting[8];

char *
__wrap_crypt_r(const char *phrase, const char *setting,
    struct crypt_data *data)
{
	hashes++;
	snprintf(last_setting, sizeof(last_setting), "%.3s", setting);
	return __real_crypt_r(phrase, setting, data);
}

static char *dir;
static struct store *st;

static void
setup(void)
{
	char *h;
	uint32_t id;

	dir = tu_tmpdir("login");
	st = tu_open(dir);
	ck_assert_int_ne(tu_domain_add(st, "example.test"), -1);
	ck_assert_int_eq(store_password_hash("right", &h), 0);
	ck_assert_int_eq(tu_user_add(st, "known@example.test", h, 0, 0, &id),
	    1);
	free(h);
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

START_TEST(test_unknown_user_is_hashed)
{
	struct store_user u;
	unsigned before;
	int rc;

	/* The first unknown login may make the dummy hash once. */
	rc = store_user_login(st, "first@example.test", "x", &u);
	ck_assert_int_eq(rc, 0);

	before = hashes;
	last_setting[0] = '\0';
	rc = store_user_login(st, "nobody@example.test", "guess", &u);
	ck_assert_msg(rc == 0 && err_class() == ERR_NOTFOUND, "unknown user "
	    "refused as not found: %d %s", rc, tu_err());
	ck_assert_msg(hashes == before + 1, "an unknown user's password went "
	    "through %u hash(es), a wrong password goes through 1",
	    hashes - before);
	ck_assert_msg(strcmp(last_setting, "$y$") == 0, "the dummy hash is "
	    "of the default scheme (yescrypt), not '%s'", last_setting);

	before = hashes;
	rc = store_user_login(st, "known@example.test", "wrong", &u);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(hashes, before + 1);
}
END_TEST

static Suite *
login_suite(void)
{
	Suite *s = suite_create("store_login");
	TCase *tc = tcase_create("login");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unknown_user_is_hashed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(login_suite());
}
