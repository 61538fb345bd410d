/*
 * acl.h - inbound black and white lists (`acl` table, issue 15): what
 * port 25 accepts from whom, decided early in the SMTP dialogue
 * (smtpd/acl.c applies them; `vellumctl acl` writes them).
 *
 * An entry is one of five kinds, each keyed by one normalised value:
 *   ip         one client address, "192.0.2.7" or "2001:db8::7"
 *   net        a client network in CIDR form, "192.0.2.0/24",
 *              "2001:db8::/32"; the mask form "192.0.2.0/255.255.255.0"
 *              is taken and kept as CIDR; host bits set are an error
 *   sender     an envelope sender "user@domain", or "user@" (that local
 *              part in any domain, Postfix's form)
 *   domain     the sender's domain "example.com"; it also matches every
 *              subdomain (a.example.com), as Postfix's access(5) does with
 *              its default parent_domain_matches_subdomains
 *   recipient  an envelope recipient "user@domain"
 * and says: white, or black with the action reject or discard, an
 * optional text for the reply (or the log, for discard), and when it was
 * made.
 *
 * Which entry decides (the most specific, as Postfix's lookup order):
 *   client     the exact ip entry, else the net with the longest prefix
 *              that holds the address;
 *   sender     "user+ext@domain", "user@domain", then the domain and its
 *              parents ("a.example.com", "example.com", "com"), then
 *              "user+ext@", "user@";
 *   recipient  "user+ext@domain", then "user@domain".
 * So a white address inside a black domain is let through, and a black
 * host inside a white network is refused.
 *
 * Cost of a client lookup: nets are keyed by (family, prefix length,
 * masked address), and one row per family holds a bitmap of the prefix
 * lengths that have nets; a lookup reads the ip row, that bitmap, and one
 * row per prefix length in use (at most 33 for IPv4, 129 for IPv6; a
 * typical list uses a handful).  No scan, no cache to invalidate.
 *
 * A store made before this table opens as usual: a writable open creates
 * it, read-only opens of such a store see no entries.
 */
#ifndef VELLUM_STORE_ACL_H
#define VELLUM_STORE_ACL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "user.h"

enum store_acl_kind {
	STORE_ACL_IP = 'i',
	STORE_ACL_NET = 'n',
	STORE_ACL_SENDER = 's',
	STORE_ACL_DOMAIN = 'd',
	STORE_ACL_RECIPIENT = 'r',
};

enum store_acl_list {
	STORE_ACL_WHITE = 'w',
	STORE_ACL_BLACK = 'b',
};

enum store_acl_action {
	STORE_ACL_NONE = 0,		/* white entries */
	STORE_ACL_REJECT = 'r',
	STORE_ACL_DISCARD = 'd',
};

#define STORE_ACL_TEXT_MAX	200

struct store_acl {
	enum store_acl_kind	kind;
	char			value[STORE_ADDRESS_MAX + 1];	/* normalised */
	enum store_acl_list	list;
	enum store_acl_action	action;		/* black only */
	unsigned		code;		/* reject: 500-599 of an imported
						   "5XX text"; 0 is 554 */
	char			text[STORE_ACL_TEXT_MAX + 1];	/* "" none */
	int64_t			created;	/* store_now() when made */
};

/*
 * The whitelist skip table (MailPlus's): which later checks of a message
 * a white entry of each kind skips.  Those checks read the mask the
 * session keeps (smtpd/acl.c).
 */
#define ACL_SKIP_DNSBL	0x01u
#define ACL_SKIP_SPF	0x02u
#define ACL_SKIP_AV	0x04u
#define ACL_SKIP_DKIM	0x08u
#define ACL_SKIP_DMARC	0x10u
#define ACL_SKIP_ALL	0x1fu
/* The mask of kind (0 for what is no kind).  Pure. */
unsigned	store_acl_skips(enum store_acl_kind);
/* "DNSBL, SPF, AV" (or "nothing") into buf. */
void		store_acl_skip_names(unsigned mask, char *buf, size_t size);

/* "ip", "net", "sender", "domain", "recipient" ("?" else). */
const char	*store_acl_kind_name(enum store_acl_kind);
/* The kind of a name; 0 unknown. */
enum store_acl_kind store_acl_kind_parse(const char *);
/* "white", "black"; "reject", "discard", "-". */
const char	*store_acl_list_name(enum store_acl_list);
const char	*store_acl_action_name(enum store_acl_action);

/*
 * Normalises the value of an entry of kind into buf (STORE_ADDRESS_MAX +
 * 1): addresses and domains lower case, IPv6 in RFC 5952 form, nets as
 * CIDR with the network address.  0, or -1 INVALID saying why (and what
 * to write instead: a network given as ip, an address given as domain).
 */
int	store_acl_normalize(enum store_acl_kind, const char *in, char *buf);

/*
 * Adds or replaces the entry of e->kind and e->value (normalised here;
 * created set to now unless the same entry was there, which keeps its
 * time).  replace 0: an entry of that value that says something else is
 * EXISTS (naming it).  1 written, 0 the same entry was there.  Errors:
 * INVALID (value, text, action, code), EXISTS, PERM (read-only store).
 */
int	store_acl_put(struct store_txn *, const struct store_acl *e,
	    int replace);
/* 1 deleted, 0 none.  Errors: INVALID. */
int	store_acl_del(struct store_txn *, enum store_acl_kind,
	    const char *value);
/* The entry of exactly that value: 1 (r filled), 0 none.  INVALID. */
int	store_acl_get(struct store_txn *, enum store_acl_kind,
	    const char *value, struct store_acl *r);
/*
 * Calls fn for every entry of kind (0: every kind, in the order domain,
 * ip, net, recipient, sender), in key order (nets and ips by family,
 * then address); stops when fn returns -1 (the result then).  0, or -1.
 */
typedef int store_acl_fn(const struct store_acl *, void *ctx);
int	store_acl_list(struct store_txn *, enum store_acl_kind,
	    store_acl_fn *fn, void *ctx);
/* Deletes every entry of kind (import --replace).  The count, or -1. */
long	store_acl_clear(struct store_txn *, enum store_acl_kind);

/*
 * The entry that decides for a client address (text, v4, v6 or
 * v4-mapped v6), a sender address, a recipient address, in the orders
 * above: 1 found (r filled: r->kind and r->value say which), 0 none
 * (also for "" or <> and what does not parse: the envelope never makes a
 * lookup fail), -1 store error.  Exact-key reads only.
 */
int	store_acl_client(struct store_txn *, const char *ip,
	    struct store_acl *r);
int	store_acl_sender(struct store_txn *, const char *addr,
	    struct store_acl *r);
int	store_acl_recipient(struct store_txn *, const char *addr,
	    struct store_acl *r);

/*
 * A Postfix access(5) table as text (postmap(1) input; maptext.h for the
 * lines): "key action" per line.  Actions: OK (white); REJECT [text] and
 * "5XX text" (black, reject); DISCARD [text] (black, discard); an
 * all-numerical action is OK, as in Postfix.  Any other action (DUNNO,
 * HOLD, FILTER, PREPEND, DEFER, 4XX, restriction names...) is an error:
 * vellum would not do what the file says.  Keys per table:
 *   client     an IPv4/IPv6 address, "net/len" (cidr_table, [v6]/len
 *              too), "net/mask", and Postfix's octet prefixes ("192.0.2"
 *              is 192.0.2.0/24); no host names (no reverse DNS here)
 *   sender     "user@domain", "domain", "user@" ("@domain" is read as
 *              "domain")
 *   recipient  "user@domain"
 * An enhanced status code at the start of a 5XX text is dropped (the
 * reply says 5.7.1).  Pure: no store.
 */
enum store_acl_map_kind {
	STORE_ACL_MAP_CLIENT = 1,
	STORE_ACL_MAP_SENDER,
	STORE_ACL_MAP_RECIPIENT,
};
struct store_acl_entry {
	unsigned		lineno;		/* where the entry starts */
	unsigned		dup_of;		/* 0, or the line of the same
						   key earlier: postmap keeps
						   the first, this one is
						   skipped */
	struct store_acl	acl;		/* created 0 */
};
struct store_acl_map {
	struct store_acl_entry	*e;
	size_t			 n;
};
/* "client", "sender", "recipient". */
const char	*store_acl_map_name(enum store_acl_map_kind);
/* 1 when an entry of kind belongs in a table of map kind. */
int		 store_acl_map_has(enum store_acl_map_kind,
		    enum store_acl_kind);
/*
 * Parses text[0..len).  0 done; -1 INVALID at the first bad line, the
 * message "LINE: what is wrong (what to do)", *line_r (may be NULL) that
 * line, and nothing in map.  Free with store_acl_map_free().
 */
int	store_acl_map_parse(enum store_acl_map_kind, const char *text,
	    size_t len, struct store_acl_map *map, unsigned *line_r);
void	store_acl_map_free(struct store_acl_map *);
/*
 * The line of an entry in that text, "key\taction[ text]" (no newline;
 * a reply code is written "5XX 5.7.1 text"), into buf: what
 * store_acl_map_parse() reads back as the same entry.
 */
void	store_acl_map_format(const struct store_acl *, char *buf,
	    size_t size);

#endif
