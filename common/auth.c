/*
 * auth.c - see auth.h.
 *
 * libsasl2 runs the mechanisms (PLAIN, LOGIN) with no configuration file:
 * a SASL_CB_GETOPT callback answers mech_list, and a per-exchange
 * SASL_CB_SERVER_USERDB_CHECKPASS callback hands the credentials to the
 * daemon's checker, which remembers who logged in.  Failed logins are
 * counted per client address in memory (per daemon).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <sasl/saslutil.h>

#include "auth.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "xmalloc.h"

#define AUTH_MECHS		"PLAIN LOGIN"
/* libsasl2 takes every callback as int (*)(void). */
#define AUTH_CB(fn)		((int (*)(void))(void (*)(void))(fn))
#define AUTH_ADDR_MAX		320
#define AUTH_B64_MAX		8192	/* longest response we decode */
#define AUTH_FAIL_TABLE		1021
#define AUTH_FAIL_ENTRIES_MAX	100000	/* memory bound of the table */

struct auth {
	sasl_conn_t	*conn;
	sasl_callback_t	 cb[3];
	uint32_t	 user_id;
	char		 user[AUTH_ADDR_MAX + 1];
	int		 ok;
	int		 temp;		/* the checker could not check */
	char		 why[256];
};

struct failure {
	char		 ip[64];
	unsigned	 count;
	time_t		 first;
	time_t		 locked_until;
	struct failure	*next;
};

static const struct config	*cf;
static const char		*service_name;
static auth_check_fn		*checker;
static void			*checker_ctx;
static struct failure		*failures[AUTH_FAIL_TABLE];
static unsigned			 nfailures;
static char			 out64[AUTH_B64_MAX];

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

static int
auth_checkpass(sasl_conn_t *conn, void *ctx, const char *user,
    const char *pass, unsigned passlen, struct propctx *props)
{
	struct auth *a = ctx;
	char *pw;
	int rc;

	(void)conn;
	(void)props;
	pw = xmalloc(passlen + 1);
	memcpy(pw, pass, passlen);
	pw[passlen] = '\0';
	rc = strlen(pw) == passlen ? checker(user, pw, &a->user_id, a->user,
	    sizeof(a->user), checker_ctx) : 0;
	if (strlen(pw) != passlen)
		err_set(ERR_INVALID, "NUL byte in the password");
	explicit_bzero(pw, passlen);
	free(pw);
	if (rc == 1) {
		a->ok = 1;
		return SASL_OK;
	}
	snprintf(a->why, sizeof(a->why), "%s", err_msg());
	a->temp = rc == -1;
	return rc == 0 ? SASL_BADAUTH : SASL_FAIL;
}

int
auth_init(const char *service, auth_check_fn *check, void *ctx,
    const struct config *config)
{
	static sasl_callback_t global[] = {
		{ SASL_CB_GETOPT, AUTH_CB(auth_getopt), NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	int rc;

	cf = config;
	service_name = service;
	checker = check;
	checker_ctx = ctx;
	if ((rc = sasl_server_init(global, "vellum")) != SASL_OK)
		return err_set(ERR_TEMP, "SASL: %s (are the mechanism "
		    "plugins of libsasl2-modules installed?)",
		    sasl_errstring(rc, NULL, NULL));
	return 0;
}

void
auth_done(void)
{
	struct failure *f, *next;
	size_t i;

	sasl_done();
	for (i = 0; i < AUTH_FAIL_TABLE; i++) {
		for (f = failures[i]; f != NULL; f = next) {
			next = f->next;
			free(f);
		}
		failures[i] = NULL;
	}
	nfailures = 0;
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
	if (rc == SASL_OK && a->ok)
		return AUTH_OK;
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
		err_set(a->temp ? ERR_TEMP : ERR_PERM, "%s", a->why);
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
	a = xcalloc(1, sizeof(*a));
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

uint32_t
auth_user_id(struct auth *a)
{
	return a->user_id;
}

const char *
auth_user(struct auth *a)
{
	return a->user;
}

void
auth_free(struct auth **ap)
{
	struct auth *a = *ap;

	if (a == NULL)
		return;
	if (a->conn != NULL)
		sasl_dispose(&a->conn);
	free(a);
	*ap = NULL;
}

int
auth_password(const char *login, const char *password, uint32_t *user_id_r,
    char *addr_r, size_t addrsize)
{
	return checker(login, password, user_id_r, addr_r, addrsize,
	    checker_ctx);
}

/* Failures per address ------------------------------------------------- */

static struct failure **
failure_slot(const char *ip)
{
	unsigned h = 5381;
	const char *p;
	struct failure **pp;

	for (p = ip; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	for (pp = &failures[h % AUTH_FAIL_TABLE]; *pp != NULL;
	    pp = &(*pp)->next)
		if (strcmp((*pp)->ip, ip) == 0)
			break;
	return pp;
}

/* Drops entries that neither count nor lock any more. */
static void
failure_expire(time_t now)
{
	struct failure **pp, *f;
	size_t i;

	for (i = 0; i < AUTH_FAIL_TABLE; i++)
		for (pp = &failures[i]; (f = *pp) != NULL;) {
			if (f->locked_until <= now &&
			    now - f->first > (time_t)cf->auth_fail_window) {
				*pp = f->next;
				free(f);
				nfailures--;
			} else
				pp = &f->next;
		}
}

int
auth_blocked(const char *ip, unsigned *secs_r)
{
	struct failure *f = *failure_slot(ip);
	time_t now = time(NULL);

	if (f == NULL || f->locked_until <= now)
		return 0;
	if (secs_r != NULL)
		*secs_r = (unsigned)(f->locked_until - now);
	return 1;
}

unsigned
auth_failed(const char *ip)
{
	struct failure **pp, *f;
	time_t now = time(NULL);

	if (cf == NULL)
		return 0;
	if (nfailures >= AUTH_FAIL_ENTRIES_MAX)
		failure_expire(now);
	pp = failure_slot(ip);
	if ((f = *pp) == NULL) {
		if (nfailures >= AUTH_FAIL_ENTRIES_MAX)
			return cf->auth_fail_delay_ms;	/* table full */
		f = xcalloc(1, sizeof(*f));
		snprintf(f->ip, sizeof(f->ip), "%s", ip);
		f->first = now;
		*pp = f;
		nfailures++;
	}
	if (now - f->first > (time_t)cf->auth_fail_window) {
		f->first = now;
		f->count = 0;
	}
	if (++f->count >= cf->auth_fail_max && cf->auth_fail_max > 0) {
		f->locked_until = now + (time_t)cf->auth_lockout;
		log_warnx("%s locked out for %u s after %u failed logins", ip,
		    cf->auth_lockout, f->count);
		f->count = 0;
		f->first = now;
	}
	return cf->auth_fail_delay_ms;
}

void
auth_succeeded(const char *ip)
{
	struct failure **pp = failure_slot(ip), *f;

	if ((f = *pp) == NULL)
		return;
	*pp = f->next;
	free(f);
	nfailures--;
}
