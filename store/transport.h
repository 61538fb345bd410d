/*
 * transport.h - how outbound mail leaves (`transports` table): per
 * recipient domain, the next hop (the domain's MX, a smarthost, or the MX
 * of another host), the TLS policy and AUTH credentials at that hop; per
 * sending domain, the source addresses to bind.  vellum-mta reads them
 * for every delivery attempt; `vellumctl transport` writes them.
 *
 * Domains are stored lower case and written one of three ways:
 *   "example.com"    that domain only;
 *   ".example.com"   every subdomain of example.com (not example.com);
 *   "*"              every domain without a row of its own.
 * A lookup tries the exact domain, then each parent domain in the
 * ".parent" form from the nearest up (a.b.example.com: ".b.example.com",
 * ".example.com", ".com"), then "*".
 *
 * Passwords are kept in the store as given (the agent must send them);
 * the store's files are readable by its owner only.  Nothing prints them.
 *
 * A store made before this table opens as usual: a writable open creates
 * the table, and read-only opens of such a store see no rows.
 */
#ifndef VELLUM_STORE_TRANSPORT_H
#define VELLUM_STORE_TRANSPORT_H

#include "store.h"

#define STORE_NEXTHOP_MAX	300
#define STORE_TRANSPORT_USER_MAX	320
#define STORE_TRANSPORT_PASSWORD_MAX	256

enum store_tls {
	STORE_TLS_DEFAULT = 0,	/* the config's [mta] tls */
	STORE_TLS_NONE,		/* never STARTTLS */
	STORE_TLS_MAY,		/* opportunistic */
	STORE_TLS_ENCRYPT,	/* required */
	STORE_TLS_VERIFY,	/* required + certificate and name checked */
};

/* By recipient domain. */
struct store_transport {
	char		domain[256];
	/*
	 * ""                   the MX of the recipient domain;
	 * "[host]", "[host]:port"  that host (port 25), no MX lookup: a
	 *                      smarthost; host may be an address literal:
	 *                      "[192.0.2.1]:587", "[IPv6:2001:db8::1]:25";
	 * "host", "host:port"  the MX of host (port 25).
	 */
	char		nexthop[STORE_NEXTHOP_MAX + 1];
	enum store_tls	tls;
	/* AUTH PLAIN/LOGIN credentials at the nexthop; "" none */
	char		user[STORE_TRANSPORT_USER_MAX + 1];
	char		password[STORE_TRANSPORT_PASSWORD_MAX + 1];
};

/* By sending domain (the envelope sender's; "*" for the rest and <>). */
struct store_source {
	char		domain[256];
	char		addr4[46], addr6[46];	/* to bind; "" none */
};

/* A nexthop taken apart (store_nexthop_parse()). */
struct store_nexthop {
	char		host[256];	/* a name, or the bare address */
	uint16_t	port;		/* 25 when not given */
	int		mx;		/* 1: look up the MX of host */
	int		family;		/* 0 a name, 4 or 6 an address */
};

/*
 * Takes a nexthop string apart.  "" gives host "" with mx 1: the MX of
 * the recipient's domain.  0 done.  -1 INVALID, with a message that says
 * what to write.
 */
int	store_nexthop_parse(const char *nexthop, struct store_nexthop *r);
/* "default", "none", "may", "encrypt", "verify". */
const char *store_tls_name(enum store_tls);
/* The reverse (any case).  0 done, -1 INVALID. */
int	store_tls_parse(const char *, enum store_tls *r);

/*
 * Adds or replaces the transport of t->domain.  Checks the domain, the
 * nexthop, tls, and the credentials (a user needs a password and the
 * other way round; credentials need a nexthop: they are never sent to
 * the MX of whichever domain a recipient has).  1 done.  Errors:
 * INVALID (the message says what to write).
 */
int	store_transport_set(struct store_txn *, const struct store_transport *);
/* 1 removed, 0 none.  Errors: INVALID (not a domain). */
int	store_transport_del(struct store_txn *, const char *domain);
/* The row of exactly that domain: 1 found (r filled), 0 none.  Errors:
   INVALID (not a domain). */
int	store_transport_get(struct store_txn *, const char *domain,
	    struct store_transport *r);
/*
 * The transport for mail to rcpt_domain (exact, parents, "*"; see
 * above): 1 found (r->domain says which row), 0 none (deliver to the MX
 * with the default TLS policy).
 */
int	store_transport_lookup(struct store_txn *, const char *rcpt_domain,
	    struct store_transport *r);
typedef int store_transport_fn(const struct store_transport *, void *ctx);
/* Every transport in domain order; stops when fn returns -1. */
int	store_transport_list(struct store_txn *, store_transport_fn *fn,
	    void *ctx);

/*
 * Adds or replaces the source addresses of s->domain.  At least one
 * address; addr4 must be IPv4, addr6 IPv6 (stored in their usual text
 * form).  1 done.  Errors: INVALID.
 */
int	store_source_set(struct store_txn *, const struct store_source *);
/* 1 removed, 0 none.  Errors: INVALID. */
int	store_source_del(struct store_txn *, const char *domain);
/* 1 found, 0 none.  Errors: INVALID. */
int	store_source_get(struct store_txn *, const char *domain,
	    struct store_source *r);
/*
 * The source addresses for mail from sender_domain ("" for <>): exact,
 * parents, "*", as for transports.  1 found, 0 none (the system picks).
 */
int	store_source_lookup(struct store_txn *, const char *sender_domain,
	    struct store_source *r);
typedef int store_source_fn(const struct store_source *, void *ctx);
int	store_source_list(struct store_txn *, store_source_fn *fn, void *ctx);

#endif
