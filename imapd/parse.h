/*
 * parse.h - IMAP command syntax (RFC 3501 / RFC 9051 and the extensions
 * imapd offers), no I/O.
 *
 * The session assembles one command in a buffer exactly as it came over
 * the wire without the final CRLF: a line, and for each literal the line
 * ends with, "\r\n", the literal's bytes, and the next line.  (APPEND's
 * message literals are not assembled: the session spools them, see
 * imap_p_append_msg().)  A parser walks that buffer; every function
 * returns 0 with the value parsed, or -1 with p->err set to a short
 * English text naming what was expected (the session answers "BAD" with
 * it).  Quoted strings are unescaped in place, so the buffer is
 * modified; strings are (pointer, length) into it, not NUL-terminated,
 * and may contain NUL bytes when they came as literals.
 *
 * Token functions (imap_p_atom() ... imap_p_seqset(), imap_p_flag_list(),
 * imap_p_date*) read exactly their token and nothing around it.
 * imap_p_command() stops at the SP after the verb (or at the end).  The
 * argument parsers (imap_p_fetch, _store, _search, _sort, _thread, _list,
 * _status_items, _select_params, _id, _append_msg) start at the SP that
 * precedes their first argument and read through the end of the command:
 * they call imap_p_end() themselves, so text left over is their BAD.
 *
 * Everything a parser allocates (search trees, sequence sets, section
 * lists) belongs to the parser and goes with imap_parser_free().  Every
 * limit below is checked while parsing, so a command costs memory in
 * proportion to its length and time in proportion to its length.
 */
#ifndef VELLUM_IMAP_PARSE_H
#define VELLUM_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "mail/imapmsg.h"

/* Longest line (without CRLF) of a command. */
#define IMAP_LINE_MAX		(64 * 1024)
/* Longest assembled command with its literals (not APPEND's messages). */
#define IMAP_CMD_MAX		(1024 * 1024)
/* Largest literal before login (LOGIN, AUTHENTICATE arguments). */
#define IMAP_LITERAL_PREAUTH_MAX	1024
/* Literals in one command. */
#define IMAP_LITERALS_MAX	64
/* Deepest parenthesis nesting. */
#define IMAP_NEST_MAX		16
/* Ranges in one sequence set. */
#define IMAP_SEQSET_MAX		10000
/* Deepest SEARCH key nesting (parentheses, NOT, OR) and keys in all. */
#define IMAP_SEARCH_DEPTH_MAX	32
#define IMAP_SEARCH_KEYS_MAX	1000
/* Body sections and header field names in one FETCH. */
#define IMAP_FETCH_SECTIONS_MAX	64
#define IMAP_FETCH_FIELDS_MAX	256
/* Longest tag, verb, atom kept. */
#define IMAP_TAG_MAX		64
#define IMAP_VERB_MAX		32
/* Patterns in one LIST, mailboxes in one ENABLE/ID list entry etc. */
#define IMAP_LIST_PATTERNS_MAX	64
#define IMAP_ID_PAIRS_MAX	30

/* Text pointing into the command buffer. */
struct imap_str {
	const char	*s;	/* NULL for NIL (imap_p_nstring) */
	size_t		 len;
};

struct imap_parser {
	char		*buf;
	size_t		 len;
	size_t		 pos;
	int		 utf8;		/* UTF8=ACCEPT: 8-bit quoted strings */
	const char	*err;		/* set by a failing function */
	void		*arena;		/* allocations (private) */
};

void	imap_parser_init(struct imap_parser *, char *buf, size_t len,
	    int utf8);
void	imap_parser_free(struct imap_parser *);
/* Memory owned by the parser (zeroed). */
void	*imap_p_alloc(struct imap_parser *, size_t);

/*
 * Whether a line (without CRLF) ends with a literal announcement "{N}",
 * "{N+}" (LITERAL+ / LITERAL-: no continuation wanted) or "~{N}"
 * (literal8).  1 yes (*n_r, *nonsync_r, *binary_r may be NULL), 0 no,
 * -1 a malformed or oversized count (ERR_INVALID).
 */
int	imap_line_literal(const char *line, size_t len, uint64_t *n_r,
	    int *nonsync_r, int *binary_r);

/* Tokens ------------------------------------------------------------ */

int	imap_p_at_end(const struct imap_parser *);	/* 1 at the end */
int	imap_p_peek(const struct imap_parser *);	/* next byte, -1 end */
int	imap_p_sp(struct imap_parser *);		/* exactly one SP */
int	imap_p_end(struct imap_parser *);		/* nothing left */
int	imap_p_char(struct imap_parser *, char c);	/* this byte */
/* An atom (ATOM-CHAR+). */
int	imap_p_atom(struct imap_parser *, struct imap_str *);
/* tag: ASTRING-CHAR except '+'; at most IMAP_TAG_MAX bytes. */
int	imap_p_tag(struct imap_parser *, struct imap_str *);
/* Quoted string or literal. */
int	imap_p_string(struct imap_parser *, struct imap_str *);
/* atom (with ']'), quoted string or literal. */
int	imap_p_astring(struct imap_parser *, struct imap_str *);
/* NIL (s = NULL) or string. */
int	imap_p_nstring(struct imap_parser *, struct imap_str *);
/* list-mailbox: atom with '%' '*' ']', or string. */
int	imap_p_list_mailbox(struct imap_parser *, struct imap_str *);
int	imap_p_number(struct imap_parser *, uint32_t *);	/* 0..2^32-1 */
int	imap_p_nz_number(struct imap_parser *, uint32_t *);
int	imap_p_number64(struct imap_parser *, uint64_t *);	/* mod-sequence */
/* Copies s into dst (NUL-terminated); -1 when too long or it has a NUL. */
int	imap_str_copy(char *dst, size_t size, const struct imap_str *);
/* Case-insensitive comparison with a C string. */
int	imap_str_eq(const struct imap_str *, const char *);

/* Command head: tag SP verb (upper-cased into verb). */
int	imap_p_command(struct imap_parser *, char tag[IMAP_TAG_MAX + 1],
	    char verb[IMAP_VERB_MAX + 1]);

/* Sequence sets -------------------------------------------------------- */

/* '*' is IMAP_SEQ_STAR; ranges are stored with lo <= hi. */
#define IMAP_SEQ_STAR	UINT32_MAX
struct imap_seq_range {
	uint32_t	lo, hi;
};
struct imap_seqset {
	struct imap_seq_range	*r;
	size_t			 n;
	int			 saved;		/* "$" (SEARCHRES) */
};
/* sequence-set or "$". */
int	imap_p_seqset(struct imap_parser *, struct imap_seqset *);

/* Flags ------------------------------------------------------------- */

/*
 * System flags as store/message.h bits (STORE_F_*); keywords as a
 * space-separated list (at most STORE_KEYWORDS_MAX bytes).
 */
struct imap_flags {
	uint32_t	flags;
	char		keywords[401];
	int		recent;		/* \Recent was given */
};
/* "(" [flag *(SP flag)] ")"; \Recent and unknown \X are errors. */
int	imap_p_flag_list(struct imap_parser *, struct imap_flags *);

/* Dates -------------------------------------------------------------- */

/* date ("1-Feb-1994" or quoted): midnight UTC of that day. */
int	imap_p_date(struct imap_parser *, int64_t *);
/* date-time ("17-Jul-1996 02:44:25 -0700", quoted): UTC seconds. */
int	imap_p_date_time(struct imap_parser *, int64_t *utc_r, int *tz_r);

/* FETCH -------------------------------------------------------------- */

#define IMAP_FI_FLAGS		0x0001
#define IMAP_FI_UID		0x0002
#define IMAP_FI_INTERNALDATE	0x0004
#define IMAP_FI_RFC822_SIZE	0x0008
#define IMAP_FI_ENVELOPE	0x0010
#define IMAP_FI_BODY		0x0020	/* BODY (structure, no extensions) */
#define IMAP_FI_BODYSTRUCTURE	0x0040
#define IMAP_FI_RFC822		0x0080	/* == BODY[] (sets \Seen) */
#define IMAP_FI_RFC822_HEADER	0x0100	/* == BODY.PEEK[HEADER] */
#define IMAP_FI_RFC822_TEXT	0x0200	/* == BODY[TEXT] (sets \Seen) */
#define IMAP_FI_MODSEQ		0x0400	/* CONDSTORE */
#define IMAP_FI_SAVEDATE	0x0800	/* reserved, not offered */

struct imap_section {
	int			 peek;		/* BODY.PEEK / BINARY.PEEK */
	int			 binary;	/* BINARY[...] */
	int			 binary_size;	/* BINARY.SIZE[...] */
	uint32_t		 path[IMAP_SECTION_DEPTH_MAX];
	size_t			 depth;
	enum imap_section_kind	 kind;
	int			 fields;	/* HEADER.FIELDS */
	int			 fields_not;	/* HEADER.FIELDS.NOT */
	struct imap_str		*names;
	size_t			 nnames;
	int			 partial;
	uint64_t		 partial_off, partial_len;
	/* "BODY[1.HEADER.FIELDS (FROM)]" as the reply names it */
	const char		*reply_name;
};

struct imap_fetch {
	unsigned		 items;		/* IMAP_FI_* */
	struct imap_section	*sections;
	size_t			 nsections;
	int			 changedsince_set;
	uint64_t		 changedsince;
	int			 vanished;	/* (VANISHED) with UID FETCH */
};
/* fetch-att list or macro (ALL FAST FULL) and modifiers. */
int	imap_p_fetch(struct imap_parser *, struct imap_fetch *);

/* STORE -------------------------------------------------------------- */

struct imap_store {
	int			 mode;		/* STORE_FLAGS_SET/ADD/REMOVE */
	int			 silent;
	struct imap_flags	 flags;
	int			 unchangedsince_set;
	uint64_t		 unchangedsince;
};
/* [(UNCHANGEDSINCE n)] SP ["+"/"-"] FLAGS[.SILENT] SP (list or flags) */
int	imap_p_store(struct imap_parser *, struct imap_store *);

/* SEARCH, SORT, THREAD -------------------------------------------------- */

enum imap_skey {
	IMAP_SK_ALL,
	IMAP_SK_AND,		/* children (a parenthesised list) */
	IMAP_SK_OR,		/* two children */
	IMAP_SK_NOT,		/* one child */
	IMAP_SK_SEQSET,		/* set (sequence numbers) */
	IMAP_SK_UIDSET,		/* UID set */
	IMAP_SK_FLAG,		/* flags: every bit set (ANSWERED ...) */
	IMAP_SK_UNFLAG,		/* flags: every bit clear (UNANSWERED ...) */
	IMAP_SK_KEYWORD,	/* str */
	IMAP_SK_UNKEYWORD,	/* str */
	IMAP_SK_NEW,		/* RECENT UNSEEN */
	IMAP_SK_OLD,		/* NOT RECENT */
	IMAP_SK_RECENT,
	IMAP_SK_BEFORE,		/* date: internal date */
	IMAP_SK_ON,
	IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE,	/* date: Date: header */
	IMAP_SK_SENTON,
	IMAP_SK_SENTSINCE,
	IMAP_SK_LARGER,		/* num */
	IMAP_SK_SMALLER,	/* num */
	IMAP_SK_HEADER,		/* name, str (FROM TO CC BCC SUBJECT too) */
	IMAP_SK_BODY,		/* str */
	IMAP_SK_TEXT,		/* str */
	IMAP_SK_MODSEQ,		/* num (CONDSTORE; entry-name ignored) */
	IMAP_SK_OLDER,		/* num seconds (WITHIN) */
	IMAP_SK_YOUNGER,
};

struct imap_search_key {
	enum imap_skey		 type;
	struct imap_search_key	*child;		/* AND, OR, NOT */
	struct imap_search_key	*next;		/* sibling */
	uint64_t		 num;
	int64_t			 date;
	uint32_t		 flags;
	struct imap_str		 name;		/* HEADER field name */
	struct imap_str		 str;
	struct imap_seqset	 set;
};

/* ESEARCH RETURN options (RFC 4731, RFC 5182) */
#define IMAP_SR_MIN	0x01
#define IMAP_SR_MAX	0x02
#define IMAP_SR_ALL	0x04
#define IMAP_SR_COUNT	0x08
#define IMAP_SR_SAVE	0x10

struct imap_search {
	int			 ret_given;	/* RETURN (...) present */
	unsigned		 ret;		/* IMAP_SR_*; RETURN () = ALL */
	struct imap_str		 charset;	/* s NULL when not given */
	struct imap_search_key	*root;		/* an AND of the keys */
	int			 uses_modseq;	/* a MODSEQ key appears */
};
/* [RETURN (...)] [CHARSET x] search-key *(SP search-key) */
int	imap_p_search(struct imap_parser *, struct imap_search *);

enum imap_sort_key {
	IMAP_SORT_ARRIVAL, IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM,
	IMAP_SORT_SIZE, IMAP_SORT_SUBJECT, IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM, IMAP_SORT_DISPLAYTO,
};
#define IMAP_SORT_KEYS_MAX	16
struct imap_sort {
	struct {
		enum imap_sort_key	key;
		int			reverse;
	}			 keys[IMAP_SORT_KEYS_MAX];
	size_t			 nkeys;
	struct imap_search	 search;	/* charset is mandatory here */
};
/* (criteria) SP charset SP search-key... */
int	imap_p_sort(struct imap_parser *, struct imap_sort *);

enum imap_thread_alg { IMAP_THREAD_ORDEREDSUBJECT, IMAP_THREAD_REFERENCES };
struct imap_thread {
	enum imap_thread_alg	 alg;
	struct imap_search	 search;
};
/* algorithm SP charset SP search-key... */
int	imap_p_thread(struct imap_parser *, struct imap_thread *);

/* LIST, STATUS ---------------------------------------------------------- */

/* LIST-EXTENDED selection options (RFC 5258, RFC 6154) */
#define IMAP_LS_SUBSCRIBED	0x01
#define IMAP_LS_REMOTE		0x02
#define IMAP_LS_RECURSIVEMATCH	0x04
#define IMAP_LS_SPECIAL_USE	0x08
/* return options */
#define IMAP_LR_SUBSCRIBED	0x01
#define IMAP_LR_CHILDREN	0x02
#define IMAP_LR_SPECIAL_USE	0x04
#define IMAP_LR_STATUS		0x08

/* STATUS items */
#define IMAP_ST_MESSAGES	0x01
#define IMAP_ST_RECENT		0x02
#define IMAP_ST_UIDNEXT		0x04
#define IMAP_ST_UIDVALIDITY	0x08
#define IMAP_ST_UNSEEN		0x10
#define IMAP_ST_HIGHESTMODSEQ	0x20
#define IMAP_ST_SIZE		0x40
#define IMAP_ST_DELETED		0x80
#define IMAP_ST_APPENDLIMIT	0x100	/* RFC 7889 */
#define IMAP_ST_DELETED_STORAGE	0x200	/* RFC 9208 (QUOTA=RES-STORAGE) */

struct imap_list {
	int			 extended;	/* selection or return given,
						   or several patterns */
	unsigned		 select;	/* IMAP_LS_* */
	unsigned		 ret;		/* IMAP_LR_* */
	unsigned		 status;	/* IMAP_ST_* with IMAP_LR_STATUS */
	struct imap_str		 reference;
	struct imap_str		 patterns[IMAP_LIST_PATTERNS_MAX];
	size_t			 npatterns;
};
/* [ "(" selection ")" SP ] reference SP patterns [SP RETURN (...)] */
int	imap_p_list(struct imap_parser *, struct imap_list *);
/* "(" status-att *(SP status-att) ")" */
int	imap_p_status_items(struct imap_parser *, unsigned *items);

/* SELECT / EXAMINE parameters (RFC 7162) */
struct imap_select {
	int			 condstore;
	int			 qresync;
	uint32_t		 q_uidvalidity;
	uint64_t		 q_modseq;
	struct imap_seqset	 q_known_uids;	/* n 0 when absent */
	struct imap_seqset	 q_seq_match;	/* known sequence numbers */
	struct imap_seqset	 q_uid_match;	/* ... and their UIDs */
};
/* [SP "(" select-param *(SP select-param) ")"] after the mailbox */
int	imap_p_select_params(struct imap_parser *, struct imap_select *);

/* APPEND -------------------------------------------------------------- */

/*
 * One message of an APPEND (MULTIAPPEND: several).  The session parses
 * the part of the line before the message literal: for the first
 * message, after "APPEND SP mailbox"; for the next ones, the line that
 * follows a literal.  imap_p_append_msg() reads [SP flag-list]
 * [SP date-time] SP literal-announcement up to the end of the line (the
 * announcement itself is the line's last token: imap_line_literal()).
 * An empty rest of line ends the APPEND: imap_p_append_msg() returns 1.
 */
struct imap_append_msg {
	int			 have_flags;
	struct imap_flags	 flags;
	int			 have_date;
	int64_t			 date;
	uint64_t		 size;		/* the literal's size */
	int			 nonsync;
	int			 binary;
};
/* 0 a message follows, 1 the APPEND ends here, -1 BAD. */
int	imap_p_append_msg(struct imap_parser *, struct imap_append_msg *);

/* ENABLE, ID ------------------------------------------------------------ */

/* ID: NIL or ( key value ... ); pairs as strings (values may be NIL). */
struct imap_id {
	struct imap_str	 keys[IMAP_ID_PAIRS_MAX];
	struct imap_str	 values[IMAP_ID_PAIRS_MAX];
	size_t		 n;
};
int	imap_p_id(struct imap_parser *, struct imap_id *);

#endif
