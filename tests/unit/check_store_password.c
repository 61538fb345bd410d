/*
 * check_store_password.c - the password schemes of Dovecot's passdb and
 * crypt(3): each one imports (store_password_import()), a user stored
 * with it logs in with the right password and is refused with a wrong
 * one; {PLAIN} is hashed, never stored; the schemes no login could check
 * (argon2, scrypt, PBKDF2, ...) and malformed hashes are refused with a
 * message that names the scheme and never holds the hash.
 *
 * The hashes are made here, as `doveadm pw` makes them: crypt(3) ones with
 * libxcrypt's crypt_gensalt_ra() + crypt_r() and with `openssl passwd`,
 * the digest ones ({SSHA512}...) with python3's hashlib and base64, an
 * implementation other than the OpenSSL EVP code that checks them.
 */
#include <check.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/store.h"
#include "store/user.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static unsigned nusers;

static void	check_login(const char *what, const char *in, int bare,
		    const char *right);
static char	*run(const char *cmd);
static char	*crypt_make(const char *prefix, unsigned long count,
		    const char *password);
static char	*digest_make(const char *scheme, const char *md, int salted,
		    int hex, const char *password);
static void	check_refused(const char *in, const char *scheme);

static void
setup(void)
{
	dir = tu_tmpdir("password");
	st = tu_open(dir);
	ck_assert_int_ne(tu_domain_add(st, "example.test"), -1);
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* The first line a shell command prints (malloc'd), NULL when none. */
static char *
run(const char *cmd)
{
	FILE *p;
	char buf[1024];
	char *r = NULL;

	if ((p = popen(cmd, "r")) == NULL)
		return NULL;
	if (fgets(buf, sizeof(buf), p) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		r = xstrdup(buf);
	}
	pclose(p);
	return r;
}

/* A crypt(3) hash of password with a new salt of this prefix. */
static char *
crypt_make(const char *prefix, unsigned long count, const char *password)
{
	struct crypt_data cd;
	char *setting, *h;

	setting = crypt_gensalt_ra(prefix, count, NULL, 0);
	ck_assert_msg(setting != NULL, "libxcrypt makes a '%s' salt", prefix);
	memset(&cd, 0, sizeof(cd));
	h = crypt_r(password, setting, &cd);
	free(setting);
	ck_assert_msg(h != NULL && h[0] != '*', "libxcrypt hashes with '%s'",
	    prefix);
	return xstrdup(h);
}

/*
 * "{SCHEME}" + base64 (or hex) of digest(password + salt) + salt, as
 * Dovecot writes it, made by python3.
 */
static char *
digest_make(const char *scheme, const char *md, int salted, int hex,
    const char *password)
{
	char cmd[1024], *r;

	snprintf(cmd, sizeof(cmd), "python3 -c 'import hashlib, base64, os\n"
	    "s = os.urandom(%d)\n"
	    "d = hashlib.new(\"%s\", b\"%s\" + s).digest() + s\n"
	    "print(\"{%s}\" + (d.hex() if %d else "
	    "base64.b64encode(d).decode()))'", salted ? 8 : 0, md, password,
	    scheme, hex);
	r = run(cmd);
	ck_assert_msg(r != NULL && r[0] == '{', "python3 made a %s hash",
	    scheme);
	return r;
}

/*
 * Imports in, stores a new user with it and logs in with right (ok) and
 * with variations of it (refused).
 */
static void
check_login(const char *what, const char *in, int bare, const char *right)
{
	struct store_user u;
	char addr[64], wrong[128], *h = NULL;
	uint32_t id;
	int rc;

	rc = store_password_import(in, bare, &h);
	ck_assert_msg(rc == 0, "%s: imported (%s)", what, tu_err());
	snprintf(addr, sizeof(addr), "u%u@example.test", ++nusers);
	ck_assert_int_eq(tu_user_add(st, addr, h, 0, 0, &id), 1);
	rc = store_user_login(st, addr, right, &u);
	ck_assert_msg(rc == 1, "%s: the right password logs in (%d %s)",
	    what, rc, tu_err());
	snprintf(wrong, sizeof(wrong), "x%s", right);
	rc = store_user_login(st, addr, wrong, &u);
	ck_assert_msg(rc == 0 && err_class() == ERR_PERM, "%s: a longer "
	    "password is refused (%d)", what, rc);
	snprintf(wrong, sizeof(wrong), "%s", right);
	wrong[0] ^= 0x20;
	rc = store_user_login(st, addr, wrong, &u);
	ck_assert_msg(rc == 0, "%s: a password with another case is "
	    "refused", what);
	ck_assert_msg(store_user_login(st, addr, "", &u) == 0, "%s: the "
	    "empty password is refused", what);
	ck_assert_msg(store_password_verify(h, right) == 1 &&
	    store_password_verify(h, "nope") == 0, "%s: verify", what);
	free(h);
}

START_TEST(test_crypt_schemes)
{
	static const struct {
		const char	*dovecot;	/* its {SCHEME} */
		const char	*prefix;	/* crypt_gensalt's */
		unsigned long	 count;
	} c[] = {
		{ "CRYPT", "$y$", 0 },
		{ "CRYPT", "$gy$", 0 },
		{ "CRYPT", "$7$", 0 },
		{ "SHA512-CRYPT", "$6$", 1000 },
		{ "SHA256-CRYPT", "$5$", 1000 },
		{ "BLF-CRYPT", "$2b$", 4 },
		{ "BLF-CRYPT", "$2y$", 4 },
		{ "MD5-CRYPT", "$1$", 0 },
		{ "MD5", "$1$", 0 },
		{ "DES-CRYPT", "", 0 },
		{ "CRYPT", "", 0 },
	};
	char what[64], in[512], *h;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		h = crypt_make(c[i].prefix, c[i].count, "Pass-word 1");
		snprintf(what, sizeof(what), "{%s}%s", c[i].dovecot,
		    c[i].prefix);
		snprintf(in, sizeof(in), "{%s}%s", c[i].dovecot, h);
		check_login(what, in, STORE_PW_BARE_CRYPT, "Pass-word 1");
		/* The scheme's name in any case, as Dovecot reads it. */
		in[1] = (char)(in[1] | 0x20);
		check_login(what, in, STORE_PW_BARE_PLAIN, "Pass-word 1");
		/* Bare: a crypt(3) string is {CRYPT}. */
		snprintf(what, sizeof(what), "bare %s", c[i].prefix);
		check_login(what, h, STORE_PW_BARE_CRYPT, "Pass-word 1");
		/* Truncated: libxcrypt's checksalt accepts it, we do not. */
		h[strlen(h) - 3] = '\0';
		snprintf(in, sizeof(in), "{%s}%s", c[i].dovecot, h);
		check_refused(in, c[i].dovecot);
		free(h);
	}
}
END_TEST

START_TEST(test_openssl_passwd)
{
	static const char *const opt[] = { "-6", "-5", "-1" };
	char cmd[128], *h;
	size_t i;

	for (i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
		snprintf(cmd, sizeof(cmd), "openssl passwd %s 'open sesame'",
		    opt[i]);
		h = run(cmd);
		ck_assert_msg(h != NULL && h[0] == '$', "openssl passwd %s",
		    opt[i]);
		check_login(cmd, h, STORE_PW_BARE_CRYPT, "open sesame");
		free(h);
	}
}
END_TEST

START_TEST(test_digest_schemes)
{
	static const struct {
		const char	*scheme, *md;
		int		 salted, hex;
	} d[] = {
		{ "SSHA512", "sha512", 1, 0 },
		{ "SSHA256", "sha256", 1, 0 },
		{ "SSHA", "sha1", 1, 0 },
		{ "SHA512", "sha512", 0, 0 },
		{ "SHA256", "sha256", 0, 0 },
		{ "SHA", "sha1", 0, 0 },
		{ "SHA1", "sha1", 0, 0 },
		{ "SMD5", "md5", 1, 0 },
		{ "LDAP-MD5", "md5", 0, 0 },
		{ "PLAIN-MD5", "md5", 0, 1 },
		{ "SHA256.HEX", "sha256", 0, 1 },
		{ "SHA512", "sha512", 0, 1 },	/* hex by its length */
		{ "SSHA256.B64", "sha256", 1, 0 },
		{ "ssha512", "sha512", 1, 0 },
	};
	char *h;
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		h = digest_make(d[i].scheme, d[i].md, d[i].salted, d[i].hex,
		    "digest pw");
		check_login(h, h, STORE_PW_BARE_CRYPT, "digest pw");
		free(h);
	}
}
END_TEST

START_TEST(test_plain_is_hashed)
{
	static const char *const in[] = {
		"{PLAIN}plain pw", "{CLEARTEXT}plain pw", "{CLEAR}plain pw",
		"{plain}plain pw",
	};
	char *h;
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		ck_assert_int_eq(store_password_import(in[i],
		    STORE_PW_BARE_CRYPT, &h), 0);
		ck_assert_msg(strncmp(h, "$y$", 3) == 0 &&
		    strstr(h, "plain") == NULL, "%s is stored as a yescrypt "
		    "hash, not as it is: '%s'", in[i], h);
		free(h);
		check_login(in[i], in[i], STORE_PW_BARE_CRYPT, "plain pw");
	}
	/* The old import format: a bare word is a password. */
	check_login("bare plain", "plainpw", STORE_PW_BARE_PLAIN, "plainpw");
	check_login("bare plain {", "{plainpw", STORE_PW_BARE_PLAIN,
	    "{plainpw");
	ck_assert_int_eq(store_password_import("{PLAIN}",
	    STORE_PW_BARE_CRYPT, &h), -1);
}
END_TEST

/* in is refused, the message names scheme and holds none of the hash. */
static void
check_refused(const char *in, const char *scheme)
{
	char *h = (char *)"untouched";
	const char *body;
	int rc;

	rc = store_password_import(in, STORE_PW_BARE_CRYPT, &h);
	ck_assert_msg(rc == -1 && err_class() == ERR_INVALID, "'%s' is "
	    "refused (%d)", scheme, rc);
	ck_assert_msg(h == NULL, "nothing is returned for '%s'", scheme);
	ck_assert_msg(strcasestr(err_msg(), scheme) != NULL, "the message "
	    "names %s: %s", scheme, err_msg());
	body = strchr(in, '}') != NULL ? strchr(in, '}') + 1 : in;
	if (strlen(body) > 8) {
		char tail[9];

		snprintf(tail, sizeof(tail), "%s", body + strlen(body) - 8);
		ck_assert_msg(strstr(err_msg(), tail) == NULL, "the message "
		    "holds no part of the hash: %s", err_msg());
	}
}

START_TEST(test_refused_schemes)
{
	char *h;

	check_refused("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ"
	    "$aGFzaGhhc2hoYXNoaGFzaA", "ARGON2ID");
	check_refused("$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ"
	    "$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$");
	check_refused("{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$c2FsdHNhbHQ"
	    "$aGFzaGhhc2hoYXNoaGFzaA", "ARGON2I");
	check_refused("{PBKDF2}$1$c2FsdHNhbHQ$5000$aGFzaGhhc2hoYXNo",
	    "PBKDF2");
	check_refused("{SCRAM-SHA-256}4096,c2FsdA==,aGFzaA==,aGFzaA==",
	    "SCRAM-SHA-256");
	check_refused("{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777d"
	    "ccd376f332bee68d2cf6", "CRAM-MD5");
	check_refused("{SCRYPT}$7$notreallyascryptsaltorhash", "SCRYPT");
	check_refused("{NOSUCH}whatever-hash-text", "NOSUCH");
	/* A crypt scheme's name on another method's hash. */
	h = crypt_make("$5$", 1000, "x");
	{
		char in[512];

		snprintf(in, sizeof(in), "{SHA512-CRYPT}%s", h);
		check_refused(in, "SHA512-CRYPT");
		snprintf(in, sizeof(in), "{BLF-CRYPT}%s", h);
		check_refused(in, "BLF-CRYPT");
	}
	free(h);
	/* Digests of the wrong size or not base64. */
	check_refused("{SHA256}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	    "SHA256");
	check_refused("{SSHA512}not base64 at all!", "SSHA512");
	check_refused("{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=extra", "SHA");
	/* Bare text that is no crypt(3) hash (passwd-file reads CRYPT). */
	check_refused("a plain secret99", "unknown scheme");
	check_refused("{SHA512-CRYPT no brace", "'{'");
}
END_TEST

/*
 * The old format ("address password", STORE_PW_BARE_PLAIN) takes text
 * that starts '{' or '$' as a hash: when it is none, it may be a
 * password, and the message names no piece of it (a known scheme is
 * still named).
 */
static void
check_refused_plain(const char *in, const char *secret, const char *named)
{
	char *h = (char *)"untouched";
	int rc;

	rc = store_password_import(in, STORE_PW_BARE_PLAIN, &h);
	ck_assert_msg(rc == -1 && err_class() == ERR_INVALID, "'%s' is "
	    "refused (%d)", in, rc);
	ck_assert_msg(h == NULL, "nothing is returned for '%s'", in);
	if (secret != NULL)
		ck_assert_msg(strstr(err_msg(), secret) == NULL, "the message "
		    "holds no piece of a password: %s", err_msg());
	if (named != NULL)
		ck_assert_msg(strstr(err_msg(), named) != NULL, "the message "
		    "names %s: %s", named, err_msg());
}

START_TEST(test_refused_plain_no_echo)
{
	check_refused_plain("{Tr0ub4dor}&3", "Tr0ub4dor", "{PLAIN}");
	check_refused_plain("$ecret$Passw0rd", "ecret", "{PLAIN}");
	check_refused_plain("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2Fsd"
	    "HNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "c2FsdHNhbHQ", "{ARGON2ID}");
	check_refused_plain("$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ"
	    "$aGFzaGhhc2hoYXNoaGFzaA", "c2FsdHNhbHQ", "$argon2id$");
	check_refused_plain("{SSHA512}not base64!", "base64!", "{SSHA512}");
}
END_TEST

static Suite *
password_suite(void)
{
	Suite *s = suite_create("store_password");
	TCase *tc = tcase_create("schemes");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_crypt_schemes);
	tcase_add_test(tc, test_openssl_passwd);
	tcase_add_test(tc, test_digest_schemes);
	tcase_add_test(tc, test_plain_is_hashed);
	tcase_add_test(tc, test_refused_schemes);
	tcase_add_test(tc, test_refused_plain_no_echo);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(password_suite());
}
