/*
 * disclaimer.h - disclaimer rules (`disclaimer` table): text added to
 * the mail a client sends, as Synology MailPlus and Postfix + altermime
 * do (deliver/disclaimer.c applies them with mail/disclaim.c;
 * `vellumctl disclaimer` writes them).
 *
 * A rule has a NAME (its key; rules are tried in name order, the first
 * that matches is applied, once per message) and:
 *   sender      pattern the envelope sender must match
 *   recipient   pattern at least one recipient must match
 *   except_sender[]     no rule applies when the sender matches one
 *   except_recipient[]  recipients matching one do not count
 *   not_all_local       not when every recipient is local
 *   text        the plain text (UTF-8, no NUL)
 *   html        its HTML form, or none (then mail/disclaim.h makes one)
 * A pattern is "" (anyone; vellumctl shows it "*"), "@domain" (every
 * address of that domain) or "user@domain" (that address, and its
 * user+ext forms).  <> matches no pattern but "".
 *
 * A store made before this table opens as usual: a writable open creates
 * it, read-only opens of such a store see no rules.
 */
#ifndef VELLUM_STORE_DISCLAIMER_H
#define VELLUM_STORE_DISCLAIMER_H

#include <stddef.h>

#include "store.h"
#include "user.h"

#define STORE_DISCLAIMER_NAME_MAX	64
/* Largest text or HTML (each), and the most exceptions of each kind. */
#define STORE_DISCLAIMER_TEXT_MAX	(64 * 1024)
#define STORE_DISCLAIMER_EXCEPT_MAX	100
/* Longest line of a text: SMTP's limit (RFC 5321 4.5.3.1.6) less CRLF. */
#define STORE_DISCLAIMER_LINE_MAX	998

typedef char store_disclaimer_pat[STORE_ADDRESS_MAX + 1];

struct store_disclaimer {
	char			 name[STORE_DISCLAIMER_NAME_MAX + 1];
	store_disclaimer_pat	 sender;	/* "" any */
	store_disclaimer_pat	 recipient;	/* "" any */
	store_disclaimer_pat	*except_sender;
	size_t			 nexcept_sender;
	store_disclaimer_pat	*except_recipient;
	size_t			 nexcept_recipient;
	int			 not_all_local;
	char			*text;		/* NUL-terminated too */
	size_t			 textlen;
	char			*html;		/* NULL: none */
	size_t			 htmllen;
};

/* Frees what a rule holds (the struct itself is the caller's). */
void	store_disclaimer_clear(struct store_disclaimer *);

/*
 * Checks a rule's name: 1 to STORE_DISCLAIMER_NAME_MAX of [A-Za-z0-9._-],
 * not starting with '.' or '-'.  0, or -1 INVALID saying why.
 */
int	store_disclaimer_name_check(const char *name);
/*
 * Normalises a pattern into buf (STORE_ADDRESS_MAX + 1): NULL, "" and
 * "*" give ""; "@domain" and "user@domain" lower case.  0, or -1 INVALID
 * naming it.
 */
int	store_disclaimer_pattern_normalize(const char *in, char *buf);
/*
 * Checks a text (what: "text" or "HTML", for the message): not empty,
 * at most STORE_DISCLAIMER_TEXT_MAX bytes, UTF-8 without NUL, lines of at
 * most STORE_DISCLAIMER_LINE_MAX bytes.  0, or -1 INVALID saying where.
 */
int	store_disclaimer_text_check(const char *what, const char *s,
	    size_t len);
/*
 * Whether an address matches a normalised pattern (pure): 1 yes, 0 no.
 * "" matches everything, <> included; other patterns never match "" or
 * what is not an address.
 */
int	store_disclaimer_match(const char *pattern, const char *addr);

/*
 * Adds a rule (everything checked and normalised again).  1 added.
 * Errors: INVALID, EXISTS (that name is taken), PERM (read-only store).
 * With replace, an existing rule of that name is replaced (no EXISTS).
 */
int	store_disclaimer_put(struct store_txn *,
	    const struct store_disclaimer *, int replace);
/* 1 deleted, 0 none.  Errors: INVALID (name). */
int	store_disclaimer_del(struct store_txn *, const char *name);
/* 1 found (r filled; store_disclaimer_clear() it), 0 none. */
int	store_disclaimer_get(struct store_txn *, const char *name,
	    struct store_disclaimer *r);
/*
 * Calls fn for every rule in name order (r is cleared after fn
 * returns); stops when fn returns -1 (the result then).  0, or -1.
 */
typedef int store_disclaimer_fn(const struct store_disclaimer *, void *ctx);
int	store_disclaimer_list(struct store_txn *, store_disclaimer_fn *fn,
	    void *ctx);

#endif
