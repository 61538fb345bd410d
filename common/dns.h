/*
 * dns.h - asynchronous DNS queries on a daemon's libevent loop, with
 * libunbound: the one resolver of every daemon that looks names up
 * (vellum-mta's mail exchangers, mta/dns.h; vellum-smtpd's DNSBL,
 * reverse DNS, HELO and sender checks, smtpd/dnscheck.c), and the small
 * parsers of the record data it hands out.
 *
 * One struct dns per process holds one libunbound context (its own
 * cache, a resolver thread of its own) and watches the context's
 * descriptor on the loop.  dns_query() asks one question (a name, a
 * record type) and ends in exactly one call of its callback, on the
 * loop, always later than the call that started it and never inside
 * libunbound; or in no call at all once cancelled (dns_cancel(),
 * dns_free()).  A query takes at most its timeout (by default [dns]
 * timeout seconds), then it counts as a temporary failure (libunbound
 * alone would keep retrying for minutes).
 *
 * Where the queries go ([dns] in vellum.conf, config.h):
 *   resolver = ADDR[:PORT], ...  forward every query to these; absent:
 *                                the servers of /etc/resolv.conf;
 *   dnssec = yes                 validate against trust_anchor (a
 *                                read-only file: DS or DNSKEY records);
 *                                bogus answers are DNS_TEMP, and answers
 *                                say whether they were secure.
 * Queries go over UDP, over TCP when an answer is truncated.  Answers
 * are cached by libunbound for their TTL (at most a day), so a second
 * question within the TTL of an answer is not sent again.
 */
#ifndef VELLUM_DNS_H
#define VELLUM_DNS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct dns;

/* Record types asked for (RFC 1035, RFC 3596). */
#define DNS_T_A		1
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28

#define DNS_NAME_MAX	253	/* a domain name in text, no final dot */
/*
 * Queries pending at once in one process, all sessions together; past
 * it dns_query() fails with ERR_TEMP (each caller's temporary failure),
 * so clients pointing at slow zones cannot grow memory without bound.
 */
#define DNS_PENDING_MAX	8192
#define DNS_ERROR_MAX	512
/* "1.2.3.4.in-addr.arpa", or 32 nibbles and "ip6.arpa", plus a zone. */
#define DNS_REVERSE_MAX	(64 + 9 + DNS_NAME_MAX)

enum dns_status {
	DNS_DATA = 0,		/* records of the type: data[0..count) */
	DNS_NODATA,		/* the name exists, no such records */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_TEMP,		/* SERVFAIL, REFUSED, timeout, DNSSEC
				   bogus, libunbound failed: try later */
};

struct dns_answer {
	enum dns_status	 status;
	const char	*name;		/* as asked, no final dot */
	int		 rrtype;
	int		 secure;	/* DNSSEC-secure (0 without dnssec) */
	unsigned	 ttl;		/* of the records (DATA), seconds */
	/*
	 * DATA: the rdata of each record in wire format, uncompressed
	 * (libunbound's), count >= 1; else count 0.  Read names with
	 * dns_wire_name(), TXT with dns_txt_text().
	 */
	size_t		 count;
	const unsigned char *const *data;
	const int	*len;
	/*
	 * Not DATA: in words, for logs and bounces, Postfix's wording:
	 * "Host or domain name not found. Name service error for
	 * name=x.test type=MX: Host not found"; "" for DATA.
	 */
	const char	*error;
};

/*
 * The callback of a query.  The answer and everything it points to
 * belong to dns and live until the callback returns.  The callback may
 * start and cancel queries and may call dns_free().
 */
typedef void dns_cb(const struct dns_answer *, void *arg);

/*
 * A resolver on base configured by c's [dns] keys.  0, or -1 with
 * ERR_TEMP (libunbound or libevent failed; /etc/resolv.conf unreadable)
 * or ERR_NOTFOUND (dnssec = yes and the trust anchor cannot be read).
 */
int	dns_new(struct event_base *base, const struct config *c,
	    struct dns **r);

/*
 * The libunbound context dns_new() puts on the loop, alone: for a worker
 * thread that waits for its own answers (deliver/mailauth.c, under a
 * deadline of its own; a context serves one thread).  0, or -1 as
 * dns_new().  Free with ub_ctx_delete().
 */
struct ub_ctx;
int	dns_ub_new(const struct config *c, struct ub_ctx **r);

/* Cancels every pending query (no callback runs after) and frees;
   *dnsp = NULL.  NULL is fine. */
void	dns_free(struct dns **dnsp);

/*
 * Asks for the records of type rrtype (DNS_T_*) of name (ASCII, A-labels;
 * a final dot is allowed; dns_name_ok()).  timeout_ms 0: [dns] timeout.
 * 0 and *qid_r (never 0; qid_r may be NULL) for dns_cancel(); -1 with
 * ERR_INVALID when name is not a domain name (no callback), or ERR_TEMP
 * when libunbound or libevent cannot take the query or DNS_PENDING_MAX
 * queries are pending.
 */
int	dns_query(struct dns *dns, const char *name, int rrtype,
	    unsigned timeout_ms, dns_cb *cb, void *arg, uint64_t *qid_r);

/* Its callback will not run.  An unknown or finished qid is ignored. */
void	dns_cancel(struct dns *, uint64_t qid);

/* Queries started and not yet called back (for tests and stats). */
size_t	dns_pending(const struct dns *);

/* [dns] timeout, seconds. */
unsigned dns_timeout(const struct dns *);

/*
 * Parsers of record data and builders of names: pure, bounded, never
 * read past len.
 */

/*
 * name (letters, digits, '-', '_', labels of 1..63, at most
 * DNS_NAME_MAX, one final dot allowed) into out without the final dot:
 * 1, or 0 when it is not such a name or does not fit outsz.
 */
int	dns_name_ok(const char *name, char *out, size_t outsz);

/*
 * An uncompressed wire-format name (PTR, MX after its preference, CNAME
 * rdata) into text without the final dot ("" for the root).  Only
 * host-name bytes (no '.', '\\', space, control or 8-bit inside a
 * label).  0, or -1 when malformed, too long or not fitting outsz;
 * *used_r (may be NULL) the bytes of d the name took.
 */
int	dns_wire_name(const unsigned char *d, size_t len, char *out,
	    size_t outsz, size_t *used_r);

/*
 * TXT rdata (RFC 1035 3.3.14: one or more <character-string>s) into
 * text, the strings joined without a separator (RFC 7208 3.3), bytes
 * outside printable ASCII as '?': 0, or -1 when malformed.  Text that
 * does not fit outsz is cut (always NUL-terminated, outsz >= 1).
 */
int	dns_txt_text(const unsigned char *d, size_t len, char *out,
	    size_t outsz);

/*
 * The reverse name of ip (IPv4 text, or IPv6 text; ::ffff:a.b.c.d as
 * IPv4) under zone: "4.3.2.1.zone" / nibbles then "zone"; zone NULL:
 * in-addr.arpa or ip6.arpa (the PTR name).  1, or 0 when ip is not an
 * address or the name does not fit outsz.
 */
int	dns_reverse_name(const char *ip, const char *zone, char *out,
	    size_t outsz);

#endif
