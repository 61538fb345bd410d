/*
 * mailauth.c - SPF, DKIM and DMARC of a received message (mailauth.h).
 *
 * One deadline for the whole check: every DNS query is started with
 * ub_resolve_async() on the caller's context and waited for with poll()
 * on its descriptor until what is left of the deadline, then cancelled;
 * libunbound on its own would retry an unanswering server for minutes.
 */
#include <sys/types.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <opendkim/dkim.h>
#include <opendmarc/dmarc.h>
#include <spf2/spf.h>
#include <unbound.h>

#include "common/dns.h"
#include "common/error.h"
#include "common/keymemo.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mail/mime.h"
#include "mail/rfc822.h"

#include "mailauth.h"

#define MAILAUTH_PSL	"/usr/share/publicsuffix/public_suffix_list.dat"
#define MAILAUTH_TXT_MAX 4096	/* longest TXT record kept (DKIM keys) */

/* libopendmarc's, not in its header */
int	opendmarc_get_tld(u_char *domain, u_char *tld, size_t tlen);

struct ma_ctx {
	struct ub_ctx	*ub;
	int64_t		 deadline;	/* monotonic ms */
	int		 spf_temp;	/* an SPF lookup failed for now */
	/*
	 * The DKIM keys whose lookup failed for now: the hook can only say
	 * "not found" without stopping the whole verification, which would
	 * make the signature a permerror; these are temperrors.
	 */
	size_t		 ndkim_temp;
	char		 dkim_temp[MAILAUTH_DKIM_MAX][512];
};

struct ma_wait {
	int		 done;
	int		 err;
	struct ub_result *res;
};

static DKIM_LIB		*ma_dkim_lib;
static OPENDMARC_LIB_T	 ma_dmarc_lib;

static int64_t
ma_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ma_answered(void *arg, int err, struct ub_result *res)
{
	struct ma_wait *w = arg;

	w->done = 1;
	w->err = err;
	w->res = res;
}

/*
 * One query: 1 an answer in *r (NOERROR with or without data), 0 the name
 * does not exist (NXDOMAIN; *r NULL), -1 a temporary failure (SERVFAIL,
 * no answer before the deadline, a DNSSEC-bogus answer).
 */
static int
ma_query(struct ma_ctx *c, const char *name, int type, struct ub_result **r)
{
	struct ma_wait w;
	struct pollfd pfd;
	int64_t left;
	int id;

	*r = NULL;
	memset(&w, 0, sizeof(w));
	if (ub_resolve_async(c->ub, name, type, 1 /* IN */, &w, ma_answered,
	    &id) != 0)
		return -1;
	while (!w.done) {
		if ((left = c->deadline - ma_now_ms()) <= 0) {
			ub_cancel(c->ub, id);
			return -1;
		}
		pfd.fd = ub_fd(c->ub);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) == -1 &&
		    errno != EINTR) {
			ub_cancel(c->ub, id);
			return -1;
		}
		if (ub_process(c->ub) != 0 && !w.done) {
			ub_cancel(c->ub, id);
			return -1;
		}
	}
	if (w.err != 0 || w.res == NULL)
		return -1;
	if (w.res->bogus || (w.res->rcode != 0 && w.res->rcode != 3)) {
		ub_resolve_free(w.res);
		return -1;
	}
	if (w.res->nxdomain) {
		ub_resolve_free(w.res);
		return 0;
	}
	*r = w.res;
	return 1;
}

/* ---- SPF: libspf2 asks, we answer from ma_query() ---- */

static SPF_dns_rr_t *
ma_spf_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
    int should_cache)
{
	struct ma_ctx *c = srv->hook;
	struct ub_result *r;
	SPF_dns_rr_t *rr;
	char text[MAILAUTH_TXT_MAX];
	size_t i, need;
	int n = 0, got;

	(void)should_cache;
	if ((got = ma_query(c, domain, type, &r)) == -1) {
		c->spf_temp = 1;
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	if (got == 0)
		return SPF_dns_rr_new_nxdomain(srv, domain);
	if (!r->havedata) {
		ub_resolve_free(r);
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	}
	if ((rr = SPF_dns_rr_new_init(srv, domain, type, r->ttl,
	    NETDB_SUCCESS)) == NULL) {
		ub_resolve_free(r);
		return NULL;
	}
	for (i = 0; r->data[i] != NULL; i++) {
		const unsigned char *d = (const unsigned char *)r->data[i];
		size_t len = (size_t)r->len[i];

		switch (type) {
		case ns_t_a:
			if (len != 4)
				continue;
			need = sizeof(struct in_addr);
			break;
		case ns_t_aaaa:
			if (len != 16)
				continue;
			need = sizeof(struct in6_addr);
			break;
		case ns_t_txt:
		case ns_t_spf:
			if (dns_txt_text(d, len, text, sizeof(text)) == -1)
				continue;
			need = strlen(text) + 1;
			break;
		case ns_t_mx:
			if (len < 3 || dns_wire_name(d + 2, len - 2, text,
			    sizeof(text), NULL) == -1)
				continue;
			need = strlen(text) + 1;
			break;
		case ns_t_ptr:
			if (dns_wire_name(d, len, text, sizeof(text), NULL) ==
			    -1)
				continue;
			need = strlen(text) + 1;
			break;
		default:
			continue;
		}
		if (SPF_dns_rr_buf_realloc(rr, n, need) != SPF_E_SUCCESS)
			break;
		if (type == ns_t_a || type == ns_t_aaaa)
			memcpy(rr->rr[n], d, len);
		else
			memcpy(rr->rr[n], text, need);
		n++;
	}
	rr->num_rr = n;
	if (n == 0)
		rr->herrno = NO_DATA;
	ub_resolve_free(r);
	return rr;
}

static enum mailauth_res
ma_spf_res(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return MAILAUTH_PASS;
	case SPF_RESULT_FAIL:
		return MAILAUTH_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return MAILAUTH_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return MAILAUTH_NEUTRAL;
	case SPF_RESULT_NONE:
		return MAILAUTH_NONE;
	case SPF_RESULT_TEMPERROR:
		return MAILAUTH_TEMPERROR;
	default:
		return MAILAUTH_PERMERROR;
	}
}

/* The helo name as SPF may use it: not an address literal, not empty. */
static int
ma_helo_ok(const char *helo)
{
	return helo != NULL && helo[0] != '\0' && helo[0] != '[';
}

static void
ma_spf(struct ma_ctx *c, const struct mailauth_in *in,
    struct mailauth_out *out)
{
	SPF_dns_server_t dns;
	SPF_server_t *srv;
	SPF_request_t *req = NULL;
	SPF_response_t *resp = NULL;
	const char *at, *why;
	int bad;

	out->spf = MAILAUTH_TEMPERROR;
	if (in->sender[0] != '\0' && (at = strrchr(in->sender, '@')) != NULL)
		snprintf(out->spf_domain, sizeof(out->spf_domain), "%s",
		    at + 1);
	else if (ma_helo_ok(in->helo))
		snprintf(out->spf_domain, sizeof(out->spf_domain), "%s",
		    in->helo);
	else {
		/* nothing SPF could check: no sender domain, no helo name */
		out->spf = MAILAUTH_NONE;
		return;
	}
	/* our layer: no destroy (it is ours to free, on the stack) */
	memset(&dns, 0, sizeof(dns));
	dns.lookup = ma_spf_lookup;
	dns.name = "vellum";
	dns.hook = c;
	if ((srv = SPF_server_new_dns(&dns, 0)) == NULL)
		return;
	SPF_server_set_rec_dom(srv, in->authserv_id);
	req = SPF_request_new(srv);
	bad = strchr(in->ip, ':') != NULL ?
	    SPF_request_set_ipv6_str(req, in->ip) :
	    SPF_request_set_ipv4_str(req, in->ip);
	if (ma_helo_ok(in->helo))
		bad |= SPF_request_set_helo_dom(req, in->helo);
	/* <>: libspf2 checks postmaster@helo, as RFC 7208 2.4 says */
	if (in->sender[0] != '\0')
		bad |= SPF_request_set_env_from(req, in->sender);
	if (bad != 0) {
		out->spf = MAILAUTH_PERMERROR;
		snprintf(out->spf_why, sizeof(out->spf_why), "bad request");
	} else {
		c->spf_temp = 0;
		SPF_request_query_mailfrom(req, &resp);
		if (resp != NULL) {
			out->spf = ma_spf_res(SPF_response_result(resp));
			/*
			 * libspf2 calls a failed lookup a permerror; RFC 7208
			 * 2.6.6 makes a DNS error temporary.
			 */
			if (out->spf == MAILAUTH_PERMERROR && c->spf_temp)
				out->spf = MAILAUTH_TEMPERROR;
			if ((why = SPF_response_get_smtp_comment(resp)) ==
			    NULL)
				why = SPF_strresult(
				    SPF_response_result(resp));
			snprintf(out->spf_why, sizeof(out->spf_why), "%s",
			    why);
		}
	}
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(srv);
}

/* ---- DKIM: libopendkim verifies, its key lookup asks ma_query() ---- */

static DKIM_CBSTAT
ma_dkim_key(DKIM *d, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct ma_ctx *c = dkim_get_user_context(d);
	struct ub_result *r;
	char name[512];
	int got, i;

	if (snprintf(name, sizeof(name), "%s._domainkey.%s",
	    (const char *)dkim_sig_getselector(sig),
	    (const char *)dkim_sig_getdomain(sig)) >= (int)sizeof(name))
		return DKIM_CBSTAT_NOTFOUND;
	if ((got = ma_query(c, name, ns_t_txt, &r)) == -1) {
		if (c->ndkim_temp < MAILAUTH_DKIM_MAX)
			snprintf(c->dkim_temp[c->ndkim_temp++],
			    sizeof(c->dkim_temp[0]), "%s", name);
		return DKIM_CBSTAT_NOTFOUND;
	}
	if (got == 0)
		return DKIM_CBSTAT_NOTFOUND;
	/* RFC 6376 3.6.2.2: more than one record is undefined: the first */
	for (i = 0; r->data[i] != NULL; i++)
		if (dns_txt_text((const unsigned char *)r->data[i],
		    (size_t)r->len[i], (char *)buf, buflen) == 0)
			break;
	got = r->data[i] != NULL;
	ub_resolve_free(r);
	return got ? DKIM_CBSTAT_CONTINUE : DKIM_CBSTAT_NOTFOUND;
}

/* Whether the key of sig could not be looked up for now. */
static int
ma_dkim_was_temp(const struct ma_ctx *c, DKIM_SIGINFO *sig)
{
	char name[512];
	size_t i;

	snprintf(name, sizeof(name), "%s._domainkey.%s",
	    (const char *)dkim_sig_getselector(sig),
	    (const char *)dkim_sig_getdomain(sig));
	for (i = 0; i < c->ndkim_temp; i++)
		if (strcasecmp(c->dkim_temp[i], name) == 0)
			return 1;
	return 0;
}

/*
 * Before any key is looked up: signatures past MAILAUTH_DKIM_MAX are not
 * checked, so a message with thousands of them costs what eight do.
 */
static DKIM_CBSTAT
ma_dkim_prescreen(DKIM *d, DKIM_SIGINFO **sigs, int nsigs)
{
	int i;

	(void)d;
	for (i = MAILAUTH_DKIM_MAX; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

static enum mailauth_res
ma_dkim_sigres(const struct ma_ctx *c, DKIM_SIGINFO *sig)
{
	if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_PASSED) != 0 &&
	    dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH)
		return MAILAUTH_PASS;
	switch (dkim_sig_geterror(sig)) {
	case DKIM_SIGERROR_KEYFAIL:
		return MAILAUTH_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
		return ma_dkim_was_temp(c, sig) ? MAILAUTH_TEMPERROR :
		    MAILAUTH_PERMERROR;
	case DKIM_SIGERROR_DNSSYNTAX:
	case DKIM_SIGERROR_MULTIREPLY:
	case DKIM_SIGERROR_VERSION:
	case DKIM_SIGERROR_MISSING_A:
	case DKIM_SIGERROR_INVALID_A:
	case DKIM_SIGERROR_MISSING_H:
	case DKIM_SIGERROR_MISSING_D:
	case DKIM_SIGERROR_EMPTY_D:
	case DKIM_SIGERROR_MISSING_S:
	case DKIM_SIGERROR_EMPTY_S:
	case DKIM_SIGERROR_MISSING_B:
	case DKIM_SIGERROR_EMPTY_B:
	case DKIM_SIGERROR_CORRUPT_B:
	case DKIM_SIGERROR_MISSING_BH:
	case DKIM_SIGERROR_EMPTY_BH:
	case DKIM_SIGERROR_CORRUPT_BH:
	case DKIM_SIGERROR_DOMAIN:
	case DKIM_SIGERROR_SUBDOMAIN:
	case DKIM_SIGERROR_INVALID_HC:
	case DKIM_SIGERROR_INVALID_BC:
	case DKIM_SIGERROR_EMPTY_H:
	case DKIM_SIGERROR_INVALID_H:
	case DKIM_SIGERROR_MISSING_V:
	case DKIM_SIGERROR_EMPTY_V:
	case DKIM_SIGERROR_INVALID_L:
	case DKIM_SIGERROR_INVALID_Q:
	case DKIM_SIGERROR_INVALID_QO:
	case DKIM_SIGERROR_TIMESTAMPS:
	/* a key record that is not one (RFC 6376 3.6.1: PERMFAIL) */
	case DKIM_SIGERROR_KEYVERSION:
	case DKIM_SIGERROR_KEYUNKNOWNHASH:
	case DKIM_SIGERROR_KEYHASHMISMATCH:
	case DKIM_SIGERROR_NOTEMAILKEY:
	case DKIM_SIGERROR_KEYTYPEMISSING:
	case DKIM_SIGERROR_KEYTYPEUNKNOWN:
	case DKIM_SIGERROR_KEYREVOKED:
	case DKIM_SIGERROR_KEYDECODE:
	case DKIM_SIGERROR_KEYTOOSMALL:
		return MAILAUTH_PERMERROR;
	default:
		return MAILAUTH_FAIL;
	}
}

static void
ma_dkim(struct ma_ctx *c, const struct mailauth_in *in,
    struct mailauth_out *out)
{
	DKIM_SIGINFO **sigs;
	DKIM_STAT st;
	DKIM *d;
	int nsigs, i;
	size_t blen;
	u_char b[64];

	out->ndkim = 0;
	if ((d = dkim_verify(ma_dkim_lib, (const u_char *)"vellum", NULL,
	    &st)) == NULL)
		return;
	dkim_set_user_context(d, c);
	st = dkim_chunk(d, (u_char *)(uintptr_t)in->msg, in->len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	if (st == DKIM_STAT_NOSIG ||
	    dkim_getsiglist(d, &sigs, &nsigs) != DKIM_STAT_OK) {
		dkim_free(d);
		return;
	}
	for (i = 0; i < nsigs && out->ndkim < MAILAUTH_DKIM_MAX; i++) {
		struct mailauth_dkim *k = &out->dkim[out->ndkim++];
		const char *dom = (const char *)dkim_sig_getdomain(sigs[i]);
		const char *sel = (const char *)dkim_sig_getselector(sigs[i]);
		int e = dkim_sig_geterror(sigs[i]);

		k->res = ma_dkim_sigres(c, sigs[i]);
		snprintf(k->domain, sizeof(k->domain), "%s",
		    dom != NULL ? dom : "");
		snprintf(k->selector, sizeof(k->selector), "%s",
		    sel != NULL ? sel : "");
		blen = sizeof(b);
		if (dkim_get_sigsubstring(d, sigs[i], (char *)b, &blen) ==
		    DKIM_STAT_OK) {
			blen = blen < sizeof(k->b) - 1 ? blen :
			    sizeof(k->b) - 1;
			memcpy(k->b, b, blen);
			k->b[blen] = '\0';
		}
		if (k->res == MAILAUTH_TEMPERROR)
			snprintf(k->why, sizeof(k->why), "key lookup failed");
		else if (k->res != MAILAUTH_PASS)
			snprintf(k->why, sizeof(k->why), "%s",
			    e != DKIM_SIGERROR_UNKNOWN && e != DKIM_SIGERROR_OK
			    ? dkim_sig_geterrorstr(e) : "signature mismatch");
	}
	dkim_free(d);
}

/* ---- DMARC: the record fetched here, judged by libopendmarc ---- */

/* The first "v=DMARC1" TXT record of _dmarc.domain: 1, 0 none, -1 TEMP. */
static int
ma_dmarc_record(struct ma_ctx *c, const char *domain, char *rec,
    size_t size)
{
	struct ub_result *r;
	char name[300];
	int got, i, found = 0;

	if (snprintf(name, sizeof(name), "_dmarc.%s", domain) >=
	    (int)sizeof(name))
		return 0;
	if ((got = ma_query(c, name, ns_t_txt, &r)) <= 0)
		return got;
	for (i = 0; r->data[i] != NULL && !found; i++)
		if (dns_txt_text((const unsigned char *)r->data[i],
		    (size_t)r->len[i], rec, size) == 0 &&
		    strncasecmp(rec, "v=DMARC1", 8) == 0 &&
		    (rec[8] == ';' || rec[8] == ' ' || rec[8] == '\0'))
			found = 1;
	ub_resolve_free(r);
	return found;
}

/*
 * The domain of the From: address (RFC 7489 6.6.1): 1, or 0 when the
 * field is missing, appears more than once (a second From: is how a
 * sender shows readers another domain than the one judged) or names no
 * address or more than one.
 */
static int
ma_from_domain(const void *msg, size_t len, char *out, size_t size)
{
	struct rfc822_addr *a = NULL;
	size_t hlen, n = 0, i, found = 0;
	char *value;

	hlen = mime_header_end(msg, len);
	if (mime_header_count(msg, hlen, "From") != 1)
		return 0;
	value = xmalloc(MAILAUTH_TXT_MAX);
	if (mime_header_get(msg, hlen, "From", value, MAILAUTH_TXT_MAX) == 1)
		rfc822_addr_parse(value, strlen(value), &a, &n);
	for (i = 0; i < n; i++) {
		if (a[i].mailbox.p == NULL || a[i].domain.p == NULL)
			continue;	/* a group marker */
		if (found++ == 0)
			snprintf(out, size, "%.*s", (int)a[i].domain.len,
			    a[i].domain.p);
	}
	rfc822_addr_free(a, n);
	free(value);
	return found == 1 && out[0] != '\0';
}

/*
 * The organizational domain (RFC 7489 3.2) from the public suffix list
 * libopendmarc loaded.  A name under no listed suffix gets the list's
 * default rule "*" (one label is the suffix), which libopendmarc does not
 * apply: it leaves the buffer as it was.
 */
static void
ma_org_domain(const char *domain, char *org, size_t size)
{
	const char *p, *last = NULL, *prev = NULL;

	org[0] = '\0';
	if (opendmarc_get_tld((u_char *)domain, (u_char *)org, size) == 0 &&
	    org[0] != '\0')
		return;
	for (p = domain; *p != '\0'; p++)
		if (*p == '.') {
			prev = last;
			last = p;
		}
	snprintf(org, size, "%s", prev != NULL ? prev + 1 : domain);
}

static int
ma_dmarc_spf(enum mailauth_res r)
{
	switch (r) {
	case MAILAUTH_PASS:
		return DMARC_POLICY_SPF_OUTCOME_PASS;
	case MAILAUTH_TEMPERROR:
		return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
	case MAILAUTH_NONE:
		return DMARC_POLICY_SPF_OUTCOME_NONE;
	default:
		return DMARC_POLICY_SPF_OUTCOME_FAIL;
	}
}

static void
ma_dmarc(struct ma_ctx *c, const struct mailauth_in *in,
    struct mailauth_out *out)
{
	DMARC_POLICY_T *p;
	char rec[MAILAUTH_TXT_MAX], org[256];
	int got, pol, pct = 100;
	size_t i;

	out->dmarc = MAILAUTH_NONE;
	out->policy = MAILAUTH_P_NONE;
	if (!ma_from_domain(in->msg, in->len, out->from_domain,
	    sizeof(out->from_domain))) {
		out->dmarc = MAILAUTH_PERMERROR;	/* RFC 7489 6.6.1 */
		return;
	}
	ma_org_domain(out->from_domain, org, sizeof(org));
	if ((got = ma_dmarc_record(c, out->from_domain, rec, sizeof(rec)))
	    == 0 && org[0] != '\0' && strcasecmp(org, out->from_domain) != 0)
		got = ma_dmarc_record(c, org, rec, sizeof(rec));
	if (got == -1) {
		out->dmarc = MAILAUTH_TEMPERROR;
		return;
	}
	if (got == 0)
		return;
	if ((p = opendmarc_policy_connect_init((u_char *)in->ip,
	    strchr(in->ip, ':') != NULL ? DMARC_POLICY_IP_TYPE_IPV6 :
	    DMARC_POLICY_IP_TYPE_IPV4)) == NULL) {
		out->dmarc = MAILAUTH_TEMPERROR;
		return;
	}
	opendmarc_policy_store_from_domain(p, (u_char *)out->from_domain);
	if (out->spf_domain[0] != '\0')
		opendmarc_policy_store_spf(p, (u_char *)out->spf_domain,
		    ma_dmarc_spf(out->spf), in->sender[0] != '\0' ?
		    DMARC_POLICY_SPF_ORIGIN_MAILFROM :
		    DMARC_POLICY_SPF_ORIGIN_HELO, NULL);
	for (i = 0; i < out->ndkim; i++)
		opendmarc_policy_store_dkim(p, (u_char *)out->dkim[i].domain,
		    (u_char *)out->dkim[i].selector,
		    out->dkim[i].res == MAILAUTH_PASS ?
		    DMARC_POLICY_DKIM_OUTCOME_PASS :
		    out->dkim[i].res == MAILAUTH_TEMPERROR ?
		    DMARC_POLICY_DKIM_OUTCOME_TMPFAIL :
		    DMARC_POLICY_DKIM_OUTCOME_FAIL, NULL);
	if (opendmarc_policy_store_dmarc(p, (u_char *)rec,
	    (u_char *)out->from_domain, org[0] != '\0' ? (u_char *)org :
	    NULL) != DMARC_PARSE_OKAY) {
		out->dmarc = MAILAUTH_PERMERROR;	/* a broken record */
		opendmarc_policy_connect_shutdown(p);
		return;
	}
	pol = opendmarc_get_policy_to_enforce(p);
	opendmarc_policy_fetch_pct(p, &pct);
	opendmarc_policy_connect_shutdown(p);
	switch (pol) {
	case DMARC_POLICY_PASS:
		out->dmarc = MAILAUTH_PASS;
		return;
	case DMARC_POLICY_REJECT:
		out->policy = MAILAUTH_P_REJECT;
		break;
	case DMARC_POLICY_QUARANTINE:
		out->policy = MAILAUTH_P_QUARANTINE;
		break;
	case DMARC_POLICY_NONE:
		break;
	default:		/* ABSENT: no usable record */
		return;
	}
	out->dmarc = MAILAUTH_FAIL;
	/*
	 * pct= (RFC 7489 6.6.4): the policy applies to that share of the
	 * failing mail; the rest gets the next policy down.
	 */
	if (out->policy != MAILAUTH_P_NONE && pct < 100 &&
	    (int)(arc4random_uniform(100)) >= pct)
		out->policy = out->policy == MAILAUTH_P_REJECT ?
		    MAILAUTH_P_QUARANTINE : MAILAUTH_P_NONE;
}

/* ---- the header ---- */

const char *
mailauth_res_name(enum mailauth_res r)
{
	static const char *names[] = { "none", "pass", "fail", "softfail",
	    "neutral", "temperror", "permerror" };

	return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] :
	    "permerror";
}

static void
ma_add(char *h, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
ma_add(char *h, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= size)
		return;
	va_start(ap, fmt);
	k = vsnprintf(h + *n, size - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < size ? *n + (size_t)k : size;
}

static void
ma_header(const struct mailauth_in *in, struct mailauth_out *out,
    int spf, int dkim, int dmarc)
{
	char v[300], v2[300];
	char *h = out->header;
	size_t size = sizeof(out->header), n = 0, i;
	int any = 0;

	authres_value(in->authserv_id, v, sizeof(v));
	ma_add(h, size, &n, "Authentication-Results: %s", v);
	if (spf) {
		if (in->sender[0] != '\0') {
			authres_value(in->sender, v, sizeof(v));
			ma_add(h, size, &n, ";\r\n\tspf=%s smtp.mailfrom=%s",
			    mailauth_res_name(out->spf), v);
		} else {
			authres_value(out->spf_domain, v, sizeof(v));
			ma_add(h, size, &n, ";\r\n\tspf=%s smtp.helo=%s",
			    mailauth_res_name(out->spf), v);
		}
		any = 1;
	}
	if (dkim) {
		if (out->ndkim == 0)
			ma_add(h, size, &n, ";\r\n\tdkim=none");
		for (i = 0; i < out->ndkim; i++) {
			authres_value(out->dkim[i].domain, v, sizeof(v));
			authres_value(out->dkim[i].selector, v2, sizeof(v2));
			ma_add(h, size, &n, ";\r\n\tdkim=%s header.d=%s "
			    "header.s=%s",
			    mailauth_res_name(out->dkim[i].res), v, v2);
			if (out->dkim[i].b[0] != '\0') {
				authres_value(out->dkim[i].b, v, sizeof(v));
				ma_add(h, size, &n, " header.b=%s", v);
			}
		}
		any = 1;
	}
	if (dmarc) {
		ma_add(h, size, &n, ";\r\n\tdmarc=%s",
		    mailauth_res_name(out->dmarc));
		if (out->from_domain[0] != '\0') {
			authres_value(out->from_domain, v, sizeof(v));
			ma_add(h, size, &n, " header.from=%s", v);
		}
		any = 1;
	}
	if (!any)
		ma_add(h, size, &n, "; none");
	/* cut short: end it cleanly rather than mid-line without CRLF */
	if (n + 3 > size)
		n = size - 3;
	memcpy(h + n, "\r\n", 3);
}

int
mailauth_init(const char *psl)
{
	unsigned int flags = DKIM_LIBFLAGS_NONE;

	if ((ma_dkim_lib = dkim_init(NULL, NULL)) == NULL)
		return err_set(ERR_TEMP, "libopendkim does not start");
	/* each signer's key decoded once, not per message (keymemo.h) */
	if (!keymemo_bound())
		log_warnx("mailauth: the DKIM key memo is not in effect: "
		    "every message's key is decoded again");
	if (dkim_options(ma_dkim_lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS,
	    &flags, sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_set_key_lookup(ma_dkim_lib, ma_dkim_key) != DKIM_STAT_OK ||
	    dkim_set_prescreen(ma_dkim_lib, ma_dkim_prescreen) !=
	    DKIM_STAT_OK) {
		dkim_close(ma_dkim_lib);
		ma_dkim_lib = NULL;
		return err_set(ERR_TEMP, "libopendkim does not take options");
	}
	memset(&ma_dmarc_lib, 0, sizeof(ma_dmarc_lib));
	ma_dmarc_lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
	snprintf((char *)ma_dmarc_lib.tld_source_file,
	    sizeof(ma_dmarc_lib.tld_source_file), "%s",
	    psl != NULL ? psl : MAILAUTH_PSL);
	if (opendmarc_policy_library_init(&ma_dmarc_lib) != DMARC_PARSE_OKAY) {
		dkim_close(ma_dkim_lib);
		ma_dkim_lib = NULL;
		return err_set(ERR_INVALID, "%s: cannot read the public "
		    "suffix list (Debian package publicsuffix)",
		    ma_dmarc_lib.tld_source_file);
	}
	return 0;
}

void
mailauth_shutdown(void)
{
	if (ma_dkim_lib == NULL)
		return;
	dkim_close(ma_dkim_lib);
	ma_dkim_lib = NULL;
	opendmarc_policy_library_shutdown(&ma_dmarc_lib);
}

int
mailauth_check(struct ub_ctx *ub, const struct mailauth_in *in,
    struct mailauth_out *out)
{
	struct ma_ctx c;
	int spf, dkim, dmarc;

	memset(out, 0, sizeof(*out));
	if (ma_dkim_lib == NULL)
		return err_set(ERR_INVALID, "mailauth_init() not called");
	memset(&c, 0, sizeof(c));
	c.ub = ub;
	c.deadline = ma_now_ms() + (in->timeout_ms > 0 ? in->timeout_ms :
	    MAILAUTH_TIMEOUT_DEFAULT);
	dmarc = in->dmarc;
	spf = in->spf || dmarc;
	dkim = in->dkim || dmarc;
	if (spf)
		ma_spf(&c, in, out);
	if (dkim)
		ma_dkim(&c, in, out);
	if (dmarc)
		ma_dmarc(&c, in, out);
	ma_header(in, out, spf, dkim, dmarc);
	return 0;
}
