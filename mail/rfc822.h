/*
 * rfc822.h - the structured header values IMAP shows: Content-Type and
 * Content-Disposition with their (RFC 2231) parameters, Content-Language,
 * address lists (RFC 5322, with groups and the obsolete forms) and
 * message-id lists.
 *
 * Pure functions over an unfolded value (CR and LF already removed).
 * Malformed input never fails: it yields what Dovecot 2.3 makes of it
 * (missing parts of an address become "MISSING_MAILBOX"/"MISSING_DOMAIN",
 * a broken parameter ends the parameter list, ...).  Every result is
 * malloc'd; the _free functions release it.  Strings are not
 * NUL-terminated unless said; a NULL string is IMAP's NIL.
 */
#ifndef VELLUM_MAIL_RFC822_H
#define VELLUM_MAIL_RFC822_H

#include <stddef.h>

/* Most addresses taken from one header (the rest are ignored). */
#define RFC822_ADDR_MAX		10000
/* Most parameters taken from one Content-Type/Disposition. */
#define RFC822_PARAMS_MAX	256

struct rfc822_str {
	char	*p;		/* NULL: absent */
	size_t	 len;
};

struct rfc822_param {
	struct rfc822_str	name;
	struct rfc822_str	value;
};

struct rfc822_params {
	struct rfc822_param	*v;
	size_t			 n;
};

/* "type/subtype; params" (Content-Disposition: only type and params) */
struct rfc822_ctype {
	struct rfc822_str	type;
	struct rfc822_str	sub;		/* NULL when missing */
	struct rfc822_params	params;
	struct rfc822_str	boundary;	/* NULL when none; NUL-
						   terminated */
};

/*
 * Content-Type: 1 when a type token was found (the parameters that
 * parse, RFC 2231 continuations joined: "name*" keeps its charset'lang'
 * prefix and %-encoding, as Dovecot shows it), 0 when the value is not a
 * content type (then nothing to free).
 */
int	rfc822_ctype_parse(const char *, size_t, struct rfc822_ctype *);
/* Content-Disposition: the same, without a subtype. */
int	rfc822_disp_parse(const char *, size_t, struct rfc822_ctype *);
void	rfc822_ctype_free(struct rfc822_ctype *);

/* Content-Language: the tags, in order, as names (values NULL). */
void	rfc822_lang_parse(const char *, size_t, struct rfc822_params *);
void	rfc822_params_free(struct rfc822_params *);

/*
 * A value that is one token and nothing else (Content-Transfer-Encoding):
 * 1 with the token (pointing into the input), else 0.
 */
int	rfc822_token_only(const char *, size_t, const char **, size_t *);

/*
 * One address of a list.  A group is a start entry (mailbox = its name,
 * domain NULL) and an end entry (all NULL).
 */
struct rfc822_addr {
	struct rfc822_str	name;	/* display name or comment, raw
					   (RFC 2047 words not decoded) */
	struct rfc822_str	route;
	struct rfc822_str	mailbox;
	struct rfc822_str	domain;
};

/* The addresses of a list, in order, at most RFC822_ADDR_MAX entries. */
void	rfc822_addr_parse(const char *, size_t, struct rfc822_addr **,
	    size_t *);
/*
 * The same, stopping after `want' mailboxes (group markers not counted;
 * the sort keys need only the first).
 */
void	rfc822_addr_parse_n(const char *, size_t, size_t want,
	    struct rfc822_addr **, size_t *);
void	rfc822_addr_free(struct rfc822_addr *, size_t);

/*
 * The msg-ids ("<...>") of a value, without the brackets, joined by one
 * space (only the first when first_only).  NUL-terminated; "" when none.
 */
void	rfc822_msgids(const char *, size_t, int first_only, char **,
	    size_t *);

#endif
