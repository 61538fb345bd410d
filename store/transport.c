/*
 * transport.c - `transports`: "t:" domain -> nexthop, TLS policy,
 * credentials; "s:" domain -> source addresses (see transport.h).
 *
 * Both kinds of row share one table: they are few, read together by the
 * delivery agent, and a store made before either gains one table only.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "domain.h"
#include "private.h"
#include "transport.h"

#define KEY_TRANSPORT	't'
#define KEY_SOURCE	's'
/* "t:" + the longest domain written ".name" */
#define TKEY_MAX	(2 + STORE_DOMAIN_MAX)

struct tkey {
	char	buf[TKEY_MAX + 1];
	size_t	len;
};

static int	tkey_make(char kind, const char *domain, struct tkey *);
static void	tkey_raw(char kind, const char *domain, struct tkey *);
static int	nexthop_port(const char *nexthop, const char *s,
		    uint16_t *port);
static int	nexthop_host(const char *nexthop, const char *s, size_t n,
		    struct store_nexthop *);
static int	transport_decode(const MDB_val *, const MDB_val *,
		    struct store_transport *);
static int	source_decode(const MDB_val *, const MDB_val *,
		    struct store_source *);
static int	row_get(struct store_txn *, const struct tkey *, MDB_val *);
static int	rows_lookup(struct store_txn *, char kind, const char *domain,
		    MDB_val *k_r, MDB_val *v_r);
static int	rows_list(struct store_txn *, char kind,
		    int (*each)(const MDB_val *, const MDB_val *, void *),
		    void *ctx);
static int	addr_norm(int af, const char *in, char *out, size_t outlen);

static const char *const tls_names[] = {
	[STORE_TLS_DEFAULT] = "default",
	[STORE_TLS_NONE] = "none",
	[STORE_TLS_MAY] = "may",
	[STORE_TLS_ENCRYPT] = "encrypt",
	[STORE_TLS_VERIFY] = "verify",
};

const char *
store_tls_name(enum store_tls tls)
{
	if ((unsigned)tls > STORE_TLS_VERIFY)
		return "?";
	return tls_names[tls];
}

int
store_tls_parse(const char *s, enum store_tls *r)
{
	unsigned i;

	for (i = 0; i <= STORE_TLS_VERIFY; i++)
		if (strcasecmp(s, tls_names[i]) == 0) {
			*r = (enum store_tls)i;
			return 0;
		}
	return err_set(ERR_INVALID, "'%s' is not a TLS policy (write none, "
	    "may, encrypt, verify or default)", s);
}

/*
 * The key of a row: "*", ".name" or "name", the name checked and lower
 * cased.
 */
static int
tkey_make(char kind, const char *domain, struct tkey *k)
{
	char name[STORE_DOMAIN_MAX + 1];
	int dot = domain[0] == '.';

	if (strcmp(domain, "*") == 0) {
		tkey_raw(kind, "*", k);
		return 0;
	}
	if (store_domain_normalize(domain + dot, name) == -1)
		return err_set(ERR_INVALID, "'%s' is not a domain (write a "
		    "domain name, .domain for its subdomains, or * for every "
		    "domain)", domain);
	if (dot && strlen(name) + 1 > STORE_DOMAIN_MAX)
		return err_set(ERR_INVALID, "'%s' is too long", domain);
	k->buf[0] = kind;
	k->buf[1] = ':';
	k->len = 2;
	if (dot)
		k->buf[k->len++] = '.';
	memcpy(k->buf + k->len, name, strlen(name) + 1);
	k->len += strlen(name);
	return 0;
}

/* A key from a name already normalized (lookups). */
static void
tkey_raw(char kind, const char *domain, struct tkey *k)
{
	k->len = (size_t)snprintf(k->buf, sizeof(k->buf), "%c:%s", kind,
	    domain);
	if (k->len >= sizeof(k->buf))
		k->len = sizeof(k->buf) - 1;
}

static int
nexthop_port(const char *nexthop, const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	*port = 25;
	if (*s == '\0')
		return 0;
	if (*s != ':' || s[1] == '\0')
		goto bad;
	for (i = 1; s[i] != '\0'; i++) {
		if (!isdigit((unsigned char)s[i]) || i > 5)
			goto bad;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		goto bad;
	*port = (uint16_t)v;
	return 0;
bad:
	return err_set(ERR_INVALID, "nexthop '%s': after the host comes "
	    "nothing or :PORT (1-65535)", nexthop);
}

/* s[0..n) is a host name or (family set) an address. */
static int
nexthop_host(const char *nexthop, const char *s, size_t n,
    struct store_nexthop *r)
{
	char in[STORE_NEXTHOP_MAX + 1];

	memcpy(in, s, n);
	in[n] = '\0';
	if (r->family == 6) {
		if (addr_norm(6, in, r->host, sizeof(r->host)) == -1)
			return err_set(ERR_INVALID, "nexthop '%s': '%s' is not "
			    "an IPv6 address", nexthop, in);
		return 0;
	}
	if (strchr(in, ':') != NULL)
		return err_set(ERR_INVALID, "nexthop '%s': write an IPv6 "
		    "address as [IPv6:%s]:PORT", nexthop, in);
	if (addr_norm(4, in, r->host, sizeof(r->host)) == 0) {
		if (r->mx)
			return err_set(ERR_INVALID, "nexthop '%s': an address "
			    "has no MX; write [%s] to send to it", nexthop,
			    in);
		r->family = 4;
		return 0;
	}
	if (n > 0 && strspn(in, "0123456789.") == n)
		return err_set(ERR_INVALID, "nexthop '%s': '%s' is not an "
		    "IPv4 address", nexthop, in);
	if (n == 0 || store_domain_normalize(in, r->host) == -1)
		return err_set(ERR_INVALID, "nexthop '%s': '%s' is not a host "
		    "name (write host, host:port, [host]:port, "
		    "[192.0.2.1]:port or [IPv6:2001:db8::1]:port)", nexthop,
		    in);
	return 0;
}

int
store_nexthop_parse(const char *nexthop, struct store_nexthop *r)
{
	const char *close, *in, *end;

	memset(r, 0, sizeof(*r));
	r->port = 25;
	if (nexthop[0] == '\0') {
		r->mx = 1;
		return 0;
	}
	if (strlen(nexthop) > STORE_NEXTHOP_MAX)
		return err_set(ERR_INVALID, "nexthop longer than %d bytes",
		    STORE_NEXTHOP_MAX);
	if (nexthop[0] == '[') {
		if ((close = strchr(nexthop, ']')) == NULL)
			return err_set(ERR_INVALID, "nexthop '%s': '[' "
			    "without ']' (write [host] or [host]:port)",
			    nexthop);
		in = nexthop + 1;
		if (strncasecmp(in, "IPv6:", 5) == 0) {
			in += 5;
			r->family = 6;
		}
		if (nexthop_host(nexthop, in, (size_t)(close - in), r) == -1)
			return -1;
		return nexthop_port(nexthop, close + 1, &r->port);
	}
	r->mx = 1;
	if ((end = strchr(nexthop, ':')) == NULL)
		end = nexthop + strlen(nexthop);
	else if (strchr(end + 1, ':') != NULL)
		return err_set(ERR_INVALID, "nexthop '%s': write an IPv6 "
		    "address as [IPv6:%s] or [IPv6:%s]:PORT", nexthop, nexthop,
		    nexthop);
	if (nexthop_host(nexthop, nexthop, (size_t)(end - nexthop), r) == -1)
		return -1;
	return nexthop_port(nexthop, end, &r->port);
}

/* The usual text form of an address of family af (4 or 6). */
static int
addr_norm(int af, const char *in, char *out, size_t outlen)
{
	unsigned char a[16];
	int fam = af == 6 ? AF_INET6 : AF_INET;

	if (inet_pton(fam, in, a) != 1 ||
	    inet_ntop(fam, a, out, (socklen_t)outlen) == NULL)
		return -1;
	return 0;
}

static int
row_get(struct store_txn *t, const struct tkey *k, MDB_val *v)
{
	if (t->st->no_transports)
		return 0;
	return sdb_get(t, DB_TRANSPORTS, k->buf, k->len, v);
}

/* Exact, ".parent"s from the nearest, "*". */
static int
rows_lookup(struct store_txn *t, char kind, const char *domain,
    MDB_val *k_r, MDB_val *v_r)
{
	char name[STORE_DOMAIN_MAX + 1];
	struct tkey k;
	const char *p;
	int rc;

	if (domain[0] != '\0' && store_domain_normalize(domain, name) == 0) {
		tkey_raw(kind, name, &k);
		if ((rc = row_get(t, &k, v_r)) != 0)
			goto found;
		for (p = strchr(name, '.'); p != NULL; p = strchr(p + 1, '.')) {
			tkey_raw(kind, p, &k);
			if ((rc = row_get(t, &k, v_r)) != 0)
				goto found;
		}
	}
	tkey_raw(kind, "*", &k);
	if ((rc = row_get(t, &k, v_r)) == 0)
		return 0;
found:
	if (rc == 1) {
		/* k is on the stack: the caller decodes from a copy */
		memcpy(k_r->mv_data, k.buf, k.len);
		k_r->mv_size = k.len;
	}
	return rc;
}

static int
rows_list(struct store_txn *t, char kind,
    int (*each)(const MDB_val *, const MDB_val *, void *), void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	char prefix[2] = { kind, ':' };
	int rc, r = 0;

	if (t->st->no_transports)
		return 0;
	if (sdb_cursor(t, DB_TRANSPORTS, &c) == -1)
		return -1;
	k.mv_size = 2;
	k.mv_data = prefix;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 2 || memcmp(k.mv_data, prefix, 2) != 0)
			break;
		if (each(&k, &v, ctx) == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	return r;
}

static int
transport_decode(const MDB_val *k, const MDB_val *v,
    struct store_transport *r)
{
	struct unpack u;
	uint8_t tls;

	memset(r, 0, sizeof(*r));
	if (k->mv_size < 3 || k->mv_size - 2 >= sizeof(r->domain))
		return err_set(ERR_CORRUPT, "transport key damaged");
	memcpy(r->domain, (const char *)k->mv_data + 2, k->mv_size - 2);
	unpack_init(&u, v);
	unpack_str(&u, r->nexthop, sizeof(r->nexthop));
	tls = unpack_u8(&u);
	unpack_str(&u, r->user, sizeof(r->user));
	unpack_str(&u, r->password, sizeof(r->password));
	if (tls > STORE_TLS_VERIFY)
		u.bad = 1;
	r->tls = (enum store_tls)tls;
	return unpack_done(&u, "transport") == -1 ? -1 : 1;
}

static int
source_decode(const MDB_val *k, const MDB_val *v, struct store_source *r)
{
	struct unpack u;

	memset(r, 0, sizeof(*r));
	if (k->mv_size < 3 || k->mv_size - 2 >= sizeof(r->domain))
		return err_set(ERR_CORRUPT, "source key damaged");
	memcpy(r->domain, (const char *)k->mv_data + 2, k->mv_size - 2);
	unpack_init(&u, v);
	unpack_str(&u, r->addr4, sizeof(r->addr4));
	unpack_str(&u, r->addr6, sizeof(r->addr6));
	return unpack_done(&u, "source") == -1 ? -1 : 1;
}

int
store_transport_set(struct store_txn *t, const struct store_transport *tr)
{
	struct store_nexthop nh;
	struct tkey k;
	struct pack p;
	size_t i, nu, np;
	int rc;

	if (tkey_make(KEY_TRANSPORT, tr->domain, &k) == -1 ||
	    store_nexthop_parse(tr->nexthop, &nh) == -1)
		return -1;
	if ((unsigned)tr->tls > STORE_TLS_VERIFY)
		return err_set(ERR_INVALID, "unknown TLS policy %d (write "
		    "none, may, encrypt or verify)", (int)tr->tls);
	nu = strnlen(tr->user, sizeof(tr->user));
	np = strnlen(tr->password, sizeof(tr->password));
	if (nu > STORE_TRANSPORT_USER_MAX)
		return err_set(ERR_INVALID, "user longer than %d bytes",
		    STORE_TRANSPORT_USER_MAX);
	if (np > STORE_TRANSPORT_PASSWORD_MAX)
		return err_set(ERR_INVALID, "password longer than %d bytes",
		    STORE_TRANSPORT_PASSWORD_MAX);
	for (i = 0; i < nu; i++)
		if ((unsigned char)tr->user[i] < 0x20 || tr->user[i] == 0x7f)
			return err_set(ERR_INVALID, "the user name has a "
			    "control character");
	if (nu > 0 && np == 0)
		return err_set(ERR_INVALID, "user '%s' needs a password "
		    "(password=P or password-file=F)", tr->user);
	if (nu == 0 && np > 0)
		return err_set(ERR_INVALID, "a password needs a user "
		    "(user=U)");
	if (nu > 0 && tr->nexthop[0] == '\0')
		return err_set(ERR_INVALID, "credentials need a nexthop (the "
		    "host that asks for them, e.g. [smtp.example.com]:587): "
		    "they are never sent to a recipient domain's MX");
	pack_init(&p);
	pack_str(&p, tr->nexthop);
	pack_u8(&p, (uint8_t)tr->tls);
	pack_str(&p, tr->user);
	pack_str(&p, tr->password);
	rc = sdb_put(t, DB_TRANSPORTS, k.buf, k.len, p.buf, p.len, 0);
	pack_free(&p);
	return rc == -1 ? -1 : 1;
}

int
store_transport_del(struct store_txn *t, const char *domain)
{
	struct tkey k;

	if (tkey_make(KEY_TRANSPORT, domain, &k) == -1)
		return -1;
	return sdb_del(t, DB_TRANSPORTS, k.buf, k.len);
}

int
store_transport_get(struct store_txn *t, const char *domain,
    struct store_transport *r)
{
	struct tkey k;
	MDB_val kv, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (tkey_make(KEY_TRANSPORT, domain, &k) == -1)
		return -1;
	if ((rc = row_get(t, &k, &v)) != 1)
		return rc;
	kv.mv_size = k.len;
	kv.mv_data = k.buf;
	return transport_decode(&kv, &v, r);
}

int
store_transport_lookup(struct store_txn *t, const char *rcpt_domain,
    struct store_transport *r)
{
	char kbuf[TKEY_MAX + 1];
	MDB_val k = { 0, kbuf }, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = rows_lookup(t, KEY_TRANSPORT, rcpt_domain, &k, &v)) != 1)
		return rc;
	return transport_decode(&k, &v, r);
}

struct list_ctx {
	store_transport_fn	*tfn;
	store_source_fn		*sfn;
	void			*ctx;
};

static int
transport_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct list_ctx *l = arg;
	struct store_transport r;

	if (transport_decode(k, v, &r) == -1)
		return -1;
	return l->tfn(&r, l->ctx);
}

int
store_transport_list(struct store_txn *t, store_transport_fn *fn, void *ctx)
{
	struct list_ctx l = { fn, NULL, ctx };

	return rows_list(t, KEY_TRANSPORT, transport_each, &l);
}

int
store_source_set(struct store_txn *t, const struct store_source *s)
{
	char a4[sizeof(s->addr4)] = "", a6[sizeof(s->addr6)] = "";
	struct tkey k;
	struct pack p;
	int rc;

	if (tkey_make(KEY_SOURCE, s->domain, &k) == -1)
		return -1;
	if (strnlen(s->addr4, sizeof(s->addr4)) == sizeof(s->addr4) ||
	    strnlen(s->addr6, sizeof(s->addr6)) == sizeof(s->addr6))
		return err_set(ERR_INVALID, "source address too long");
	if (s->addr4[0] == '\0' && s->addr6[0] == '\0')
		return err_set(ERR_INVALID, "give an IPv4 address, an IPv6 "
		    "address, or both");
	if (s->addr4[0] != '\0' && addr_norm(4, s->addr4, a4, sizeof(a4)))
		return err_set(ERR_INVALID, "'%s' is not an IPv4 address",
		    s->addr4);
	if (s->addr6[0] != '\0' && addr_norm(6, s->addr6, a6, sizeof(a6)))
		return err_set(ERR_INVALID, "'%s' is not an IPv6 address",
		    s->addr6);
	pack_init(&p);
	pack_str(&p, a4);
	pack_str(&p, a6);
	rc = sdb_put(t, DB_TRANSPORTS, k.buf, k.len, p.buf, p.len, 0);
	pack_free(&p);
	return rc == -1 ? -1 : 1;
}

int
store_source_del(struct store_txn *t, const char *domain)
{
	struct tkey k;

	if (tkey_make(KEY_SOURCE, domain, &k) == -1)
		return -1;
	return sdb_del(t, DB_TRANSPORTS, k.buf, k.len);
}

int
store_source_get(struct store_txn *t, const char *domain,
    struct store_source *r)
{
	struct tkey k;
	MDB_val kv, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (tkey_make(KEY_SOURCE, domain, &k) == -1)
		return -1;
	if ((rc = row_get(t, &k, &v)) != 1)
		return rc;
	kv.mv_size = k.len;
	kv.mv_data = k.buf;
	return source_decode(&kv, &v, r);
}

int
store_source_lookup(struct store_txn *t, const char *sender_domain,
    struct store_source *r)
{
	char kbuf[TKEY_MAX + 1];
	MDB_val k = { 0, kbuf }, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = rows_lookup(t, KEY_SOURCE, sender_domain, &k, &v)) != 1)
		return rc;
	return source_decode(&k, &v, r);
}

static int
source_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct list_ctx *l = arg;
	struct store_source r;

	if (source_decode(k, v, &r) == -1)
		return -1;
	return l->sfn(&r, l->ctx);
}

int
store_source_list(struct store_txn *t, store_source_fn *fn, void *ctx)
{
	struct list_ctx l = { NULL, fn, ctx };

	return rows_list(t, KEY_SOURCE, source_each, &l);
}
