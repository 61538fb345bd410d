/*
 * dkim.h - DKIM signatures for mail that leaves (RFC 6376, RFC 8463),
 * made by libopendkim: never our own canonicalisation or crypto.
 *
 * The delivery agent signs a queued message with every key of the domain
 * of its From: header (store/dkim.h), one DKIM-Signature each, so an rsa
 * and an ed25519 key both sign (RFC 8463 dual signing); c=relaxed/relaxed.
 * Signing runs once per message, at send time, after every other change.
 * mta_dkim_sign() is what a worker thread runs (an RSA-2048 signature
 * costs about a millisecond: never on the event loop); the rest is
 * cheap and runs on the loop.
 */
#ifndef VELLUM_MTA_DKIM_H
#define VELLUM_MTA_DKIM_H

#include <stddef.h>

#include "store/dkim.h"

struct store;

/* Signing threads of vellum-mta, and signing jobs waiting for one. */
#define MTA_DKIM_THREADS	2
#define MTA_DKIM_QUEUE		64
/*
 * ... and how much nicer than the agent's loop they run.  An RSA
 * signature costs about a millisecond of CPU: when the CPU is short,
 * clients submitting mail (smtpd, at nice 0) go first and the queue
 * drains after; the signatures still come, in the CPU left over.
 */
#define MTA_DKIM_NICE		10

/*
 * The header fields signed when present: From (oversigned: signed once
 * more than it occurs, so no From: can be added after signing), To, Cc,
 * Subject, Date, Message-ID, Reply-To, In-Reply-To, References,
 * MIME-Version, Content-Type, Content-Transfer-Encoding, Sender, List-*
 * (dkim.c's list).
 */

/* The keys of one domain (PEM copies: a worker thread owns them). */
struct mta_dkim_keys {
	char			 domain[STORE_DOMAIN_MAX + 1];
	size_t			 n;
	struct mta_dkim_key {
		char			 selector[STORE_DKIM_SELECTOR_MAX + 1];
		enum store_dkim_alg	 alg;
		char			*pem;
	}			*v;
};

/*
 * Sets libopendkim up (once per process; the library handle is then
 * shared, read-only, by every thread).  0, -1 TEMP.
 */
int	mta_dkim_init(void);
void	mta_dkim_shutdown(void);

/*
 * The domain of the first address of the message's From: header, lower
 * case, into dom (STORE_DOMAIN_MAX + 1): 1, or 0 when there is none
 * (no From:, no domain, not a domain name).
 */
int	mta_dkim_from_domain(const void *msg, size_t len, char *dom);

/*
 * Reads the keys of domain in a read transaction of its own: 1 with keys
 * (k filled), 0 none, -1 error (err set).  mta_dkim_keys_clear() after.
 */
int	mta_dkim_keys_load(struct store *, const char *domain,
	    struct mta_dkim_keys *k);
void	mta_dkim_keys_clear(struct mta_dkim_keys *);
/*
 * "selector:alg selector:alg ..." of a key set, to tell whether a cached
 * signature was made with the keys the store has now (malloc'd).
 */
char	*mta_dkim_keys_id(const struct mta_dkim_keys *);

/*
 * Signs msg (len bytes, LF or CRLF lines, as the SMTP client sends it:
 * bare LFs are signed as the CRLFs the client writes) with every key:
 * *hdr_r gets the DKIM-Signature header lines, CRLF-ended, to put in
 * front of the message (malloc'd, *len_r bytes).  Safe on any thread.
 * 0, or -1 (INVALID: a key libopendkim refuses; TEMP) with err set.
 */
int	mta_dkim_sign(const struct mta_dkim_keys *, const void *msg,
	    size_t len, char **hdr_r, size_t *len_r);

#endif
