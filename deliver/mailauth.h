/*
 * mailauth.h - the mail authentication checks of mail received on port
 * 25: SPF (RFC 7208, libspf2), DKIM signatures (RFC 6376, RFC 8463,
 * libopendkim) and the DMARC policy of the From: domain (RFC 7489,
 * libopendmarc), summed up in one Authentication-Results field (RFC
 * 8601).  The libraries evaluate; we only give them DNS answers and
 * read their results.
 *
 * DNS: every query goes through the caller's libunbound context (the
 * [dns] settings: the resolver the outbound agent uses), each with what
 * is left of one deadline for the whole check, so a DNS server that does
 * not answer costs the message at most timeout_ms (then: temperror).
 * libspf2 gets the answers through a DNS layer of ours, libopendkim
 * through its key lookup hook; the DMARC record is fetched here and
 * handed to libopendmarc, which then makes no query of its own.
 *
 * mailauth_check() BLOCKS on DNS: call it on a worker thread (the
 * delivery filter threads), never on an event loop and never inside a
 * store transaction.  Each thread passes a context of its own.
 */
#ifndef VELLUM_DELIVER_MAILAUTH_H
#define VELLUM_DELIVER_MAILAUTH_H

#include <stddef.h>

#include "mail/authres.h"

struct ub_ctx;

#define MAILAUTH_DKIM_MAX	8	/* signatures reported (and checked) */
#define MAILAUTH_TIMEOUT_DEFAULT 10000	/* ms, for all of one message */
#define MAILAUTH_HEADER_MAX	2048	/* the field, folded, with CRLF */

enum mailauth_res {
	MAILAUTH_NONE = 0,	/* nothing to check (no record, no signature) */
	MAILAUTH_PASS,
	MAILAUTH_FAIL,
	MAILAUTH_SOFTFAIL,	/* SPF ~all */
	MAILAUTH_NEUTRAL,	/* SPF ?all; DKIM: a signature not checked */
	MAILAUTH_TEMPERROR,
	MAILAUTH_PERMERROR,
};

/* What the DMARC policy asks for a message that failed (RFC 7489 6.3). */
enum mailauth_dmarc_p {
	MAILAUTH_P_NONE = 0,	/* passed, no record, or p=none */
	MAILAUTH_P_QUARANTINE,
	MAILAUTH_P_REJECT,
};

struct mailauth_in {
	const char	*authserv_id;	/* our host name */
	const char	*ip;		/* the client's address, text */
	const char	*helo;		/* as the client said it */
	const char	*sender;	/* envelope, "" for <> */
	const void	*msg;		/* exact bytes, CRLF */
	size_t		 len;
	int		 spf, dkim, dmarc;	/* which checks to make */
	int		 timeout_ms;	/* 0: MAILAUTH_TIMEOUT_DEFAULT */
};

struct mailauth_out {
	enum mailauth_res	 spf;
	char			 spf_domain[256]; /* what SPF checked */
	char			 spf_why[256];	/* libspf2's comment */
	size_t			 ndkim;
	struct mailauth_dkim {
		enum mailauth_res res;
		char		 domain[256];	/* d= */
		char		 selector[64];	/* s= */
		char		 b[9];		/* the first 8 of b= */
		char		 why[128];
	}			 dkim[MAILAUTH_DKIM_MAX];
	enum mailauth_res	 dmarc;
	char			 from_domain[256]; /* "" none found */
	enum mailauth_dmarc_p	 policy;	/* what DMARC asks, pct
						   applied */
	/* "Authentication-Results: ID;\r\n\tspf=... ;\r\n..." CRLF-ended */
	char			 header[MAILAUTH_HEADER_MAX];
};

/*
 * Sets the libraries up: libopendkim's handle and libopendmarc's public
 * suffix list (psl: a path of Mozilla's list, NULL: the Debian package's
 * /usr/share/publicsuffix/public_suffix_list.dat).  Once per process,
 * before any thread checks.  0, -1 (err).
 */
int	mailauth_init(const char *psl);
void	mailauth_shutdown(void);

/*
 * Makes the checks in->spf/dkim/dmarc ask for, with ctx's DNS, and fills
 * out.  DMARC needs SPF and DKIM: when it is asked for, both are made.
 * Always fills out->header (a check not made is left out; none made:
 * "none").  0; -1 (err) only when a library fails to start.
 */
int	mailauth_check(struct ub_ctx *ctx, const struct mailauth_in *in,
	    struct mailauth_out *out);

const char *mailauth_res_name(enum mailauth_res);

#endif
