/*
 * fuzz_sasl.c - SASL responses through auth_start()/auth_step() (PLAIN
 * and LOGIN, libsasl2) with a stub checker: nothing crashes, every result
 * is one of the documented ones, and credentials that complete an
 * exchange reach the (threaded) check intact.
 *
 * Input: byte 0 holds flags, the rest is lines split at '\n' (at most
 * FUZZ_SASL_LINES):
 *   bit 0  mechanism LOGIN (else PLAIN)
 *   bit 1  the harness base64-encodes each line (else sent as given)
 *   bit 2  the first line is the initial response of AUTH
 *   bit 3  "*" is sent after the lines (a cancel, when still going)
 * The stub accepts exactly u@example.test / secret.
 */
#include <ctype.h>
#include <string.h>

#include <event2/event.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"

#include "fuzz.h"

#define FUZZ_SASL_LINES		8
#define FUZZ_SASL_LINE_MAX	4096

struct stub {
	char	login[AUTH_LOGIN_MAX + 1];
	char	password[FUZZ_SASL_LINE_MAX + 1];
	int	ok;
};

struct verdict {
	int	called;
	int	rc;
};

static struct stub	stub_state;
static int		stub_busy;

static void *
stub_begin(void *ctx, const char *login, const char *password)
{
	FUZZ_CHECK(!stub_busy, "two checks at once");
	stub_busy = 1;
	memset(&stub_state, 0, sizeof(stub_state));
	FUZZ_CHECK(strlen(login) <= AUTH_LOGIN_MAX, "login of %zu bytes",
	    strlen(login));
	snprintf(stub_state.login, sizeof(stub_state.login), "%s", login);
	snprintf(stub_state.password, sizeof(stub_state.password), "%s",
	    password);
	return &stub_state;
}

static void
stub_verify(void *state)
{
	struct stub *s = state;

	s->ok = strcmp(s->login, "u@example.test") == 0 &&
	    strcmp(s->password, "secret") == 0;
}

static int
stub_end(void *ctx, void *state, uint32_t *user_id_r, char *addr_r,
    size_t size)
{
	struct stub *s = state;

	if (!s->ok)
		return err_set(ERR_PERM, "wrong password") + 1;
	*user_id_r = 1;
	snprintf(addr_r, size, "%s", s->login);
	return 1;
}

static void
stub_free(void *state)
{
	stub_busy = 0;
}

static const struct auth_backend stub = {
	NULL, stub_begin, stub_verify, stub_end, stub_free, NULL, NULL, NULL,
	NULL,
};

static void
fuzz_init(void)
{
	static const char conf[] = "data_dir = /nonexistent\n[auth]\n"
	    "plaintext = yes\nworkers = 1\nqueue = 4\n";
	static struct config cfg;
	static int done;

	if (done)
		return;
	done = 1;
	if (config_parse("fuzz.conf", conf, sizeof(conf) - 1, &cfg, NULL) ==
	    -1 || conn_loop_init(&cfg) == -1 ||
	    auth_init("smtp", &stub, &cfg) == -1) {
		fprintf(stderr, "fuzz_sasl: init: %s\n", err_msg());
		abort();
	}
}

static void
on_verdict(const struct auth_verdict *v, void *arg)
{
	struct verdict *r = arg;

	r->called = 1;
	r->rc = v->rc;
}

/*
 * The authcid of a PLAIN message "authzid\0authcid\0password", or NULL,
 * with white space at either end taken off as libsasl2's user name
 * canonicalisation does.
 */
static const char *
plain_authcid(const char *msg, size_t len, char *buf, size_t size)
{
	const char *a = memchr(msg, '\0', len), *b;

	if (a == NULL || (b = memchr(a + 1, '\0', len - (size_t)(a + 1 -
	    msg))) == NULL)
		return NULL;
	for (a++; a < b && isspace((unsigned char)*a); a++)
		;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	if ((size_t)(b - a) >= size)
		return NULL;
	memcpy(buf, a, (size_t)(b - a));
	buf[b - a] = '\0';
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char lines[FUZZ_SASL_LINES][2 * FUZZ_SASL_LINE_MAX + 8];
	size_t lens[FUZZ_SASL_LINES], n = 0, pos = 1, end, i, k;
	char plain[FUZZ_SASL_LINE_MAX + 1], cid[FUZZ_SASL_LINE_MAX + 1];
	const char *ch = NULL, *want = NULL;
	enum auth_result res;
	struct verdict v = { 0, 0 };
	struct auth_check *c;
	struct auth *a;
	unsigned flags, outlen;
	int encode;

	if (size == 0)
		return 0;
	fuzz_init();
	flags = data[0];
	encode = (flags & 2) != 0;
	while (pos <= size && n < FUZZ_SASL_LINES) {
		for (end = pos; end < size && data[end] != '\n'; end++)
			;
		if (end - pos > FUZZ_SASL_LINE_MAX)
			end = pos + FUZZ_SASL_LINE_MAX;
		if (encode) {
			if (sasl_encode64((const char *)data + pos,
			    (unsigned)(end - pos), lines[n], sizeof(lines[n]),
			    &outlen) != SASL_OK)
				return 0;
			lens[n] = outlen;
			if (outlen == 0) {
				strcpy(lines[n], "=");
				lens[n] = 1;
			}
		} else {
			memcpy(lines[n], data + pos, end - pos);
			lines[n][end - pos] = '\0';
			lens[n] = end - pos;
		}
		/* The first PLAIN message, for the check below. */
		if (n == 0 && encode && !(flags & 1)) {
			memcpy(plain, data + pos, end - pos);
			want = plain_authcid(plain, end - pos, cid,
			    sizeof(cid));
		}
		n++;
		pos = end + 1;
	}

	err_clear();
	k = 0;
	a = auth_start(flags & 1 ? "LOGIN" : "PLAIN", (flags & 4) && n > 0 &&
	    memchr(lines[0], '\0', lens[0]) == NULL ? lines[k++] : NULL,
	    flags & 8, &res, &ch);
	if (a == NULL) {
		FUZZ_CHECK(res == AUTH_FAIL, "no exchange but result %d", res);
		return 0;
	}
	for (;;) {
		FUZZ_CHECK(res == AUTH_CONTINUE || res == AUTH_FAIL ||
		    res == AUTH_CANCELLED || res == AUTH_VERIFY,
		    "result %d", res);
		if (res != AUTH_CONTINUE)
			break;
		FUZZ_CHECK(ch != NULL, "AUTH_CONTINUE without a challenge");
		if (k < n) {
			res = auth_step(a, lines[k], lens[k], &ch);
			k++;
		} else if (flags & 8) {
			res = auth_step(a, "*", 1, &ch);
			FUZZ_CHECK(res == AUTH_CANCELLED, "'*' gave %d", res);
		} else
			break;
	}
	if (res == AUTH_VERIFY) {
		FUZZ_CHECK(strlen(auth_login(a)) <= AUTH_LOGIN_MAX,
		    "login of %zu bytes", strlen(auth_login(a)));
		if (want != NULL && k == 1 && !(flags & 4))
			FUZZ_CHECK(strcmp(auth_login(a), want) == 0,
			    "PLAIN login '%s', the message named '%s'",
			    auth_login(a), want);
		c = auth_verify(a, on_verdict, &v);
		auth_free(&a);
		FUZZ_CHECK(c != NULL, "check not queued: %s", err_msg());
		for (i = 0; i < 1000000 && !v.called; i++)
			event_base_loop(conn_base(), EVLOOP_ONCE);
		FUZZ_CHECK(v.called && (v.rc == 1) == (stub_state.ok != 0),
		    "verdict %d for '%s'", v.rc, stub_state.login);
	}
	auth_free(&a);
	return 0;
}
