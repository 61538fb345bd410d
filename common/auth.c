/*
 * auth.c - see auth.h.
 *
 * libsasl2 runs the mechanisms (PLAIN, LOGIN) with no configuration file:
 * a SASL_CB_GETOPT callback answers mech_list, and a per-exchange
 * SASL_CB_SERVER_USERDB_CHECKPASS callback only captures the credentials
 * (libsasl2 calls it synchronously, and a hash must not run on the loop)
 * and lets the mechanism finish; the exchange then reports AUTH_VERIFY
 * and the daemon has the credentials checked on the worker pool.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <sasl/saslutil.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "error.h"
#include "log.h"
#include "worker.h"
#include "xmalloc.h"

#define AUTH_MECHS		"PLAIN LOGIN"
/* libsasl2 takes every callback as int (*)(void). */
#define AUTH_CB(fn)		((int (*)(void))(void (*)(void))(fn))
#define AUTH_B64_MAX		8192	/* longest response we decode */

struct auth {
	sasl_conn_t	*conn;
	sasl_callback_t	 cb[3];
	int		 captured;	/* login and password are set */
	int		 plain;		/* the mechanism is PLAIN */
	int		 names_next;	/* the next response holds the user
					   name(s): auth_names_ok() */
	char		 login[AUTH_LOGIN_MAX + 1];
	char		 tried[AUTH_LOGIN_MAX + 1];	/* auth_note_tried() */
	char		*password;	/* wiped and freed */
	char		 why[256];
};

struct auth_check {
	void			*state;		/* the backend's */
	auth_verdict_fn		*fn;
	void			*ctx;
	struct worker_job	*job;
	char			 login[AUTH_LOGIN_MAX + 1];
};

static const struct config	*cf;
static const char		*service_name;
static struct auth_backend	 backend;
static struct auth_policy	 policy;
static char			 out64[AUTH_B64_MAX];
static struct worker_pool	*auth_pool;	/* password checks, made on first use */

static void	auth_check_work(void *);
static void	auth_check_done(void *, int);
static int	auth_name_ok(const char *, size_t, int);
static int	auth_names_ok(int, const char *, unsigned);
static void	auth_note_tried(struct auth *, const char *, unsigned);

static int
auth_getopt(void *ctx, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	(void)ctx;
	(void)plugin;
	if (strcmp(option, "mech_list") == 0) {
		*result = AUTH_MECHS;
		if (len != NULL)
			*len = (unsigned)strlen(AUTH_MECHS);
		return SASL_OK;
	}
	return SASL_FAIL;
}

/*
 * Only captures the credentials: the mechanism goes on as if they were
 * good, and auth_result() turns its success into AUTH_VERIFY.
 */
static int
auth_checkpass(sasl_conn_t *conn, void *ctx, const char *user,
    const char *pass, unsigned passlen, struct propctx *props)
{
	struct auth *a = ctx;

	(void)conn;
	(void)props;
	if (strlen(user) > AUTH_LOGIN_MAX) {
		snprintf(a->why, sizeof(a->why), "login too long");
		return SASL_BADAUTH;
	}
	snprintf(a->login, sizeof(a->login), "%s", user);
	if (memchr(pass, '\0', passlen) != NULL) {
		snprintf(a->why, sizeof(a->why), "NUL byte in the password");
		return SASL_BADAUTH;
	}
	if (a->password != NULL) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	a->password = xstrndup(pass, passlen);
	a->captured = 1;
	return SASL_OK;
}

int
auth_init(const char *service, const struct auth_backend *be,
    const struct config *config)
{
	static sasl_callback_t global[] = {
		{ SASL_CB_GETOPT, AUTH_CB(auth_getopt), NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	int rc;

	cf = config;
	service_name = service;
	backend = *be;
	auth_policy_from_config(config, &policy);
	if ((rc = sasl_server_init(global, "vellum")) != SASL_OK)
		return err_set(ERR_TEMP, "SASL: %s (are the mechanism "
		    "plugins of libsasl2-modules installed?)",
		    sasl_errstring(rc, NULL, NULL));
	return 0;
}

void
auth_done(void)
{
	worker_pool_free(&auth_pool);
	sasl_done();
}

unsigned
auth_pending(void)
{
	return auth_pool != NULL ? worker_pending(auth_pool) : 0;
}

int
auth_allowed(int tls)
{
	return tls || (cf != NULL && cf->auth_plaintext);
}

const char *
auth_mechs(int tls)
{
	return auth_allowed(tls) ? AUTH_MECHS : "";
}

/* Base64 in, bytes out; "=" is an empty response.  -1 on bad input. */
static int
auth_decode(const char *in, char **out_r, unsigned *len_r)
{
	size_t n = strlen(in);
	char *out;
	unsigned len;

	if (strcmp(in, "=") == 0) {
		*out_r = xstrdup("");
		*len_r = 0;
		return 0;
	}
	if (n > AUTH_B64_MAX)
		return err_set(ERR_LIMIT, "SASL response too long");
	out = xmalloc(n + 1);
	if (sasl_decode64(in, (unsigned)n, out, (unsigned)n + 1, &len) !=
	    SASL_OK) {
		free(out);
		return err_set(ERR_INVALID, "SASL response is not base64");
	}
	*out_r = out;
	*len_r = len;
	return 0;
}

static enum auth_result
auth_result(struct auth *a, int rc, const char *out, unsigned outlen,
    const char **challenge_r)
{
	unsigned n;

	*challenge_r = NULL;
	if (rc == SASL_OK && a->captured)
		return AUTH_VERIFY;
	if (rc == SASL_CONTINUE) {
		if (sasl_encode64(out, outlen, out64, sizeof(out64), &n) !=
		    SASL_OK) {
			err_set(ERR_TEMP, "SASL challenge too long");
			return AUTH_FAIL;
		}
		*challenge_r = out64;
		return AUTH_CONTINUE;
	}
	if (a->why[0] != '\0')
		err_set(ERR_PERM, "%s", a->why);
	else
		err_set(rc == SASL_NOMECH ? ERR_INVALID : ERR_PERM, "%s",
		    sasl_errstring(rc, NULL, NULL));
	return AUTH_FAIL;
}

struct auth *
auth_start(const char *mech, const char *initial, int tls,
    enum auth_result *res_r, const char **challenge_r)
{
	sasl_security_properties_t sec;
	struct auth *a;
	const char *out = NULL;
	char *in = NULL, m[32];
	unsigned inlen = 0, outlen = 0;
	size_t i;
	int rc;

	*res_r = AUTH_FAIL;
	*challenge_r = NULL;
	if (!auth_allowed(tls)) {
		err_set(ERR_PERM, "plaintext authentication is not allowed: "
		    "start TLS first");
		return NULL;
	}
	for (i = 0; mech[i] != '\0' && i + 1 < sizeof(m); i++)
		m[i] = (char)toupper((unsigned char)mech[i]);
	m[i] = '\0';
	if (strcmp(m, "PLAIN") != 0 && strcmp(m, "LOGIN") != 0) {
		err_set(ERR_INVALID, "unknown mechanism %s (use %s)", mech,
		    AUTH_MECHS);
		return NULL;
	}
	if (initial != NULL && auth_decode(initial, &in, &inlen) == -1)
		return NULL;
	if (initial != NULL &&
	    !auth_names_ok(strcmp(m, "PLAIN") == 0, in, inlen)) {
		free(in);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->plain = strcmp(m, "PLAIN") == 0;
	a->names_next = initial == NULL;
	if (initial != NULL)
		auth_note_tried(a, in, inlen);
	a->cb[0] = (sasl_callback_t){ SASL_CB_SERVER_USERDB_CHECKPASS,
	    AUTH_CB(auth_checkpass), a };
	a->cb[1] = (sasl_callback_t){ SASL_CB_GETOPT,
	    AUTH_CB(auth_getopt), a };
	a->cb[2] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	rc = sasl_server_new(service_name, cf != NULL ? cf->hostname : NULL,
	    NULL, NULL, NULL, a->cb, 0, &a->conn);
	if (rc != SASL_OK) {
		err_set(ERR_TEMP, "SASL: %s", sasl_errstring(rc, NULL, NULL));
		free(in);
		free(a);
		return NULL;
	}
	/* Whether plaintext is acceptable is decided above, not by SASL. */
	memset(&sec, 0, sizeof(sec));
	sec.maxbufsize = 0;
	sasl_setprop(a->conn, SASL_SEC_PROPS, &sec);
	rc = sasl_server_start(a->conn, m, in, inlen, &out, &outlen);
	free(in);
	*res_r = auth_result(a, rc, out, outlen, challenge_r);
	return a;
}

/*
 * Whether the names a client sent may go to libsasl2.  Its PLAIN code
 * (2.1.28) leaks memory on every exchange whose authcid is over 1 KiB,
 * and its LOGIN plugin on every user name that is empty or begins with
 * white space (found by tests/fuzz/fuzz_sasl.c): a client could grow a
 * daemon's memory one AUTH at a time.  No login of the store looks like
 * that, so such names are refused here.  plain: in is a PLAIN message
 * "authzid NUL authcid NUL password" (else a LOGIN user name).  1 ok,
 * 0 with ERR_INVALID.
 */
static int
auth_names_ok(int plain, const char *in, unsigned len)
{
	const char *cid, *end;

	if (!plain)
		return auth_name_ok(in, len, 0);
	/* Without two NULs it is not PLAIN: libsasl2 says so itself. */
	if ((cid = memchr(in, '\0', len)) == NULL ||
	    (end = memchr(cid + 1, '\0', len - (size_t)(cid + 1 - in))) ==
	    NULL)
		return 1;
	return auth_name_ok(in, (size_t)(cid - in), 1) &&
	    auth_name_ok(cid + 1, (size_t)(end - cid - 1), 0);
}

/*
 * The user name a client's names response tried, for the log of a
 * failure that comes before the mechanism reached the credentials (a
 * malformed PLAIN message): LOGIN's user name; PLAIN's authcid, or its
 * first field when there is only one NUL.  Never a password: PLAIN's
 * last field is not taken, nor a message without a NUL.  Only printable
 * ASCII and UTF-8 bytes are kept.
 */
static void
auth_note_tried(struct auth *a, const char *in, unsigned len)
{
	const char *p = in, *nul, *end = in + len;
	size_t n, i;

	if (a->plain) {
		if ((nul = memchr(in, '\0', len)) == NULL)
			return;
		if (memchr(nul + 1, '\0', (size_t)(end - nul - 1)) != NULL) {
			p = nul + 1;
			end = memchr(p, '\0', (size_t)(end - p));
		} else
			end = nul;
	}
	n = (size_t)(end - p);
	if (n == 0 || n > AUTH_LOGIN_MAX)
		return;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x21 || p[i] == 0x7f)
			return;
	memcpy(a->tried, p, n);
	a->tried[n] = '\0';
}

/* A user name: at most AUTH_LOGIN_MAX bytes, no white space at its ends. */
static int
auth_name_ok(const char *name, size_t len, int may_be_empty)
{
	if ((len == 0 && !may_be_empty) || len > AUTH_LOGIN_MAX ||
	    (len > 0 && (isspace((unsigned char)name[0]) ||
	    isspace((unsigned char)name[len - 1])))) {
		err_set(ERR_INVALID, "invalid user name");
		return 0;
	}
	return 1;
}

enum auth_result
auth_step(struct auth *a, const char *line, size_t len,
    const char **challenge_r)
{
	const char *out = NULL;
	char *copy, *in;
	unsigned inlen, outlen = 0;
	int rc;

	*challenge_r = NULL;
	if (len == 1 && line[0] == '*') {
		err_set(ERR_PERM, "authentication cancelled by the client");
		return AUTH_CANCELLED;
	}
	if (len > AUTH_B64_MAX || memchr(line, '\0', len) != NULL) {
		err_set(ERR_INVALID, "invalid authentication response");
		return AUTH_FAIL;
	}
	copy = xstrndup(line, len);
	rc = auth_decode(copy, &in, &inlen);
	explicit_bzero(copy, len);
	free(copy);
	if (rc == -1)
		return AUTH_FAIL;
	if (a->names_next && !auth_names_ok(a->plain, in, inlen)) {
		free(in);
		return AUTH_FAIL;
	}
	if (a->names_next)
		auth_note_tried(a, in, inlen);
	a->names_next = 0;
	rc = sasl_server_step(a->conn, in, inlen, &out, &outlen);
	explicit_bzero(in, inlen);
	free(in);
	return auth_result(a, rc, out, outlen, challenge_r);
}

int
auth_mech_offered(const char *mech, int tls)
{
	const char *p = auth_mechs(tls);
	size_t n = strlen(mech), w;

	while (*p != '\0') {
		w = strcspn(p, " ");
		if (w == n && strncasecmp(p, mech, n) == 0)
			return 1;
		p += w;
		while (*p == ' ')
			p++;
	}
	return 0;
}

const char *
auth_login(struct auth *a)
{
	return a->login[0] != '\0' ? a->login : a->tried;
}

void
auth_free(struct auth **ap)
{
	struct auth *a = *ap;

	if (a == NULL)
		return;
	if (a->conn != NULL)
		sasl_dispose(&a->conn);
	if (a->password != NULL) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	explicit_bzero(a->login, sizeof(a->login));
	explicit_bzero(a->tried, sizeof(a->tried));
	free(a);
	*ap = NULL;
}

/* Checks off the loop ------------------------------------------------- */

/* On a worker thread. */
static void
auth_check_work(void *arg)
{
	struct auth_check *c = arg;

	backend.verify(c->state);
}

/* On the loop. */
static void
auth_check_done(void *arg, int cancelled)
{
	struct auth_check *c = arg;
	struct auth_verdict v;
	char addr[AUTH_LOGIN_MAX + 1] = "", why[256];

	if (!cancelled) {
		memset(&v, 0, sizeof(v));
		err_clear();
		v.rc = backend.end(backend.ctx, c->state, &v.user_id, addr,
		    sizeof(addr));
		v.err = v.rc == 1 ? ERR_NONE : err_class();
		v.disabled = v.rc == 0 && backend.disabled != NULL &&
		    backend.disabled(c->state);
		/* A copy: the daemon's own calls may set the error again. */
		snprintf(why, sizeof(why), "%s", v.rc == 1 ? "ok" :
		    err_class() != ERR_NONE ? err_msg() :
		    "wrong user or password");
		v.why = why;
		v.user = addr;
		v.login = c->login;
		c->job = NULL;
		c->fn(&v, c->ctx);
	}
	backend.free(c->state);
	explicit_bzero(c->login, sizeof(c->login));
	free(c);
}

static struct auth_check *
auth_check_submit(const char *login, const char *password,
    auth_verdict_fn *fn, void *ctx)
{
	struct auth_check *c;

	if (auth_pool == NULL && worker_pool_new(conn_base(), cf->auth_workers,
	    cf->auth_queue, &auth_pool) == -1)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	snprintf(c->login, sizeof(c->login), "%s", login);
	c->fn = fn;
	c->ctx = ctx;
	c->state = backend.begin(backend.ctx, login, password);
	if ((c->job = worker_submit(auth_pool, auth_check_work,
	    auth_check_done, c)) ==
	    NULL) {
		backend.free(c->state);
		free(c);
		return NULL;
	}
	return c;
}

struct auth_check *
auth_check_start(const char *login, const char *password,
    auth_verdict_fn *fn, void *ctx)
{
	return auth_check_submit(login, password, fn, ctx);
}

struct auth_check *
auth_verify(struct auth *a, auth_verdict_fn *fn, void *ctx)
{
	struct auth_check *c;

	if (!a->captured) {
		err_set(ERR_INVALID, "auth_verify: the exchange has no "
		    "credentials");
		return NULL;
	}
	c = auth_check_submit(a->login, a->password, fn, ctx);
	explicit_bzero(a->password, strlen(a->password));
	free(a->password);
	a->password = NULL;
	a->captured = 0;
	return c;
}

void
auth_check_cancel(struct auth_check **cp)
{
	struct auth_check *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	/* auth_check_done(c, 1) frees c, now or when the hash is done. */
	worker_cancel(&c->job);
}

/* Failed logins -------------------------------------------------------- */

void
auth_policy_from_config(const struct config *config, struct auth_policy *p)
{
	p->delay_ms = config->auth_fail_delay_ms;
	p->delay_max_ms = config->auth_fail_delay_max_ms;
	p->fail_max = config->auth_fail_max;
	p->fail_window = config->auth_fail_window;
	p->lockout = config->auth_lockout;
	p->fail_max_address = config->auth_fail_max_address;
}

unsigned
auth_delay_ms(const struct auth_policy *p, unsigned recent)
{
	unsigned cap = p->delay_max_ms > p->delay_ms ? p->delay_max_ms :
	    p->delay_ms;
	uint64_t ms = p->delay_ms;
	unsigned i;

	for (i = 1; i < recent && ms < cap; i++)
		ms *= 2;
	return ms > cap ? cap : (unsigned)ms;
}

int
auth_trusted(const char *ip)
{
	return cf != NULL && config_net_match(cf->auth_trusted,
	    cf->auth_ntrusted, ip);
}

int
auth_blocked(const char *ip, const char *login, unsigned *secs_r)
{
	unsigned secs = 0;
	int rc;

	if (secs_r != NULL)
		*secs_r = 0;
	if (cf == NULL || backend.blocked == NULL || auth_trusted(ip))
		return AUTH_BLOCK_NONE;
	rc = backend.blocked(backend.ctx, &policy, ip, login, &secs);
	if (rc == -1) {
		log_warnx("login failures of %s: %s", ip, err_msg());
		return AUTH_BLOCK_NONE;
	}
	if (secs_r != NULL)
		*secs_r = secs;
	return rc;
}

unsigned
auth_failed(const char *ip, const char *login)
{
	unsigned recent = 1;
	int rc;

	if (cf == NULL || backend.failed == NULL || auth_trusted(ip))
		return 0;
	rc = backend.failed(backend.ctx, &policy, ip, login, &recent);
	if (rc == -1)
		log_warnx("counting a failed login of %s: %s", ip, err_msg());
	else if (rc == 1)
		log_warnx("%s: %s locked out for %u s after too many failed "
		    "logins", ip, login != NULL && login[0] != '\0' ? login :
		    "every login", policy.lockout);
	return auth_delay_ms(&policy, recent);
}

void
auth_succeeded(const char *ip, const char *login)
{
	if (cf == NULL || backend.succeeded == NULL || auth_trusted(ip))
		return;
	if (backend.succeeded(backend.ctx, ip, login) == -1)
		log_warnx("clearing the failures of %s from %s: %s", login, ip,
		    err_msg());
}
