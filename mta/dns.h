/*
 * dns.h - the DNS lookups of vellum-mta: the mail exchangers of a domain
 * (RFC 5321 section 5.1, RFC 7505) and the addresses of one host, with
 * libunbound on the daemon's libevent loop.
 *
 * One struct mta_dns per process holds one libunbound context (its own
 * cache, a resolver thread of its own) and watches the context's
 * descriptor on the loop.  A lookup is started with mta_dns_mx() or
 * mta_dns_host() and ends in exactly one call of its callback, on the
 * loop, always later than the call that started it; or in no call at
 * all once cancelled (mta_dns_cancel(), mta_dns_free()).  A lookup
 * takes at most [dns] timeout seconds, then what has not answered counts
 * as a temporary failure (libunbound alone would keep retrying for
 * minutes).
 *
 * Where the queries go ([dns] in vellum.conf, config.h):
 *   resolver = ADDR[:PORT], ...  forward every query to these; absent:
 *                                the servers of /etc/resolv.conf;
 *   dnssec = yes                 validate against trust_anchor (a
 *                                read-only file: DS or DNSKEY records);
 *                                bogus answers are TEMP, and results say
 *                                which answers were secure (for DANE);
 *   ipv4 = no / ipv6 = no        A / AAAA records are not looked up.
 * Queries go over UDP, over TCP when an answer is truncated.
 */
#ifndef VELLUM_MTA_DNS_H
#define VELLUM_MTA_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;
struct event_base;
struct mta_dns;

#define MTA_DNS_HOSTS_MAX	16	/* MX hosts kept, the most preferred */
#define MTA_DNS_ADDRS_MAX	16	/* addresses kept per host */
#define MTA_DNS_NAME_MAX	253	/* a domain name in text, no final dot */
#define MTA_DNS_ERROR_MAX	512

enum mta_dns_status {
	MTA_DNS_OK = 0,		/* hosts[0..nhosts), each with addresses */
	MTA_DNS_TEMP,		/* SERVFAIL, timeout, no MX host with an
				   address, DNSSEC bogus: try later */
	MTA_DNS_NOTFOUND,	/* NXDOMAIN, or no MX and no address: the
				   domain (host) cannot take mail */
	MTA_DNS_NULLMX,		/* RFC 7505: the domain takes no mail */
};

struct mta_dns_host {
	char		name[MTA_DNS_NAME_MAX + 3];	/* no final dot */
	unsigned	pref;		/* MX preference; 0 implicit, host */
	int		secure;		/* its address answers were all
					   DNSSEC-secure (0 without dnssec) */
	size_t		naddrs;		/* >= 1 in a result */
	/*
	 * IPv6 first, then IPv4 (RFC 6724's default order); when one
	 * host has more than MTA_DNS_ADDRS_MAX, each family keeps at least
	 * half of the places.  The port is 0: the caller sets it (25, or
	 * a transport's).
	 */
	struct sockaddr_storage addrs[MTA_DNS_ADDRS_MAX];
};

struct mta_dns_result {
	enum mta_dns_status	 status;
	const char		*name;		/* the domain or host asked */
	/*
	 * Not OK: in words, for logs and bounces, Postfix's wording where
	 * it has one: "Host or domain name not found. Name service error
	 * for name=x.test type=MX: Host not found".  "" when OK.
	 */
	char			 error[MTA_DNS_ERROR_MAX];
	/* the MX answer (implicit: the answer that there is no MX;
	   mta_dns_host(): every address answer) was DNSSEC-secure; 0
	   without dnssec */
	int			 secure;
	int			 implicit;	/* no MX: the domain itself */
	size_t			 nhosts;	/* 0 unless OK */
	struct mta_dns_host	*hosts;		/* in the order to try */
};

/*
 * The callback of a lookup.  result and everything it points to belong
 * to mta_dns and live until the callback returns.  The callback may
 * start and cancel lookups and may call mta_dns_free().
 */
typedef void mta_dns_cb(const struct mta_dns_result *, void *arg);

/*
 * A resolver on base configured by c's [dns] keys.  0, or -1 with
 * ERR_TEMP (libunbound or libevent failed; /etc/resolv.conf unreadable)
 * or ERR_NOTFOUND (dnssec = yes and the trust anchor cannot be read).
 */
int	mta_dns_new(struct event_base *base, const struct config *c,
	    struct mta_dns **r);

/* Cancels every pending lookup (no callback runs after) and frees;
   *dnsp = NULL.  NULL is fine. */
void	mta_dns_free(struct mta_dns **dnsp);

/*
 * The mail exchangers of domain (a name in ASCII; A-labels for IDNs; a
 * final dot is allowed), RFC 5321 5.1: its MX records by preference,
 * equal preferences in random order, at most MTA_DNS_HOSTS_MAX; each
 * host's AAAA and A records (CNAMEs followed by libunbound).
 * - no MX records (NOERROR, no data): the domain is its own MX (implicit,
 *   pref 0); no address either: NOTFOUND;
 * - MX records all of target "." : NULLMX (RFC 7505); a "." among other
 *   MX records is left out;
 * - hosts that have no address are left out; none left: TEMP (as
 *   Postfix: a host may be missing for a while, the domain has MX);
 *   hosts whose lookups failed or timed out are left out when others
 *   have addresses;
 * - NXDOMAIN: NOTFOUND; SERVFAIL, timeout of the MX lookup, bogus: TEMP.
 * 0 and *qid_r (never 0; qid_r may be NULL) for mta_dns_cancel(); -1
 * with ERR_INVALID when domain is not a domain name (no callback), or
 * ERR_TEMP when libunbound cannot take the query.
 */
int	mta_dns_mx(struct mta_dns *, const char *domain, mta_dns_cb *,
	    void *arg, uint64_t *qid_r);

/*
 * The addresses of one host (a "[host]" next hop: no MX lookup): one
 * host in the result, pref 0.  An IP address (v4, or v6 with or without
 * brackets) answers itself.  No address: NOTFOUND when the name does
 * not exist or has no A/AAAA; TEMP when a lookup failed.  Returns as
 * mta_dns_mx().
 */
int	mta_dns_host(struct mta_dns *, const char *host, mta_dns_cb *,
	    void *arg, uint64_t *qid_r);

/* Its callback will not run.  An unknown or finished qid is ignored. */
void	mta_dns_cancel(struct mta_dns *, uint64_t qid);

/* Lookups started and not yet called back (for tests and stats). */
size_t	mta_dns_pending(const struct mta_dns *);

#endif
