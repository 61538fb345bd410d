/*
 * parse.h - SMTP and LMTP input, no I/O: command lines, the MAIL and
 * RCPT arguments (RFC 5321 4.1.2, 1870, 6152, 6531, 4954, 3461), and the DATA
 * stream (RFC 5321 4.5.2, strict CRLF.CRLF end).
 *
 * Everything here is pure: bytes in, a result out, so each function is
 * unit-tested byte by byte (tests/unit/check_smtp_parse.c).
 */
#ifndef VELLUM_SMTP_PARSE_H
#define VELLUM_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest verb (STARTTLS). */
#define SMTP_VERB_MAX		8
/*
 * Longest command line without CRLF.  RFC 5321 says 512 for commands;
 * RFC 4954 lets an AUTH line be longer, so be generous but bounded.
 */
#define SMTP_LINE_MAX		4096
/* Longest line inside DATA (RFC 5321 says 1000; real mail is sloppier). */
#define SMTP_DATA_LINE_MAX	(1024 * 1024)
/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets. */
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256
/* Longest AUTH= value kept from MAIL FROM. */
#define SMTP_AUTHPARAM_MAX	512
/* RFC 3461 4.4 and 4.2: the longest ENVID= and ORCPT= values. */
#define SMTP_ENVID_MAX		100
#define SMTP_ORCPT_MAX		500

/* RCPT NOTIFY= (RFC 3461 4.1): the same bits as STORE_NOTIFY_* */
#define SMTP_NOTIFY_NEVER	0x01
#define SMTP_NOTIFY_SUCCESS	0x02
#define SMTP_NOTIFY_FAILURE	0x04
#define SMTP_NOTIFY_DELAY	0x08

/* MAIL RET= (RFC 3461 4.3): the same values as enum store_queue_ret */
enum smtp_ret {
	SMTP_RET_NONE = 0,
	SMTP_RET_FULL = 1,
	SMTP_RET_HDRS = 2,
};

struct smtp_cmd {
	char		 verb[SMTP_VERB_MAX + 1];	/* upper case */
	/* After the verb and the spaces that follow it ("" when none). */
	const char	*args;
	char		 line[SMTP_LINE_MAX + 1];	/* args points here */
};

/*
 * Splits a command line (without its CRLF) into verb and arguments.
 * 0 done.  Errors (ERR_INVALID, the message says what was wrong): a NUL
 * byte, an empty line, a verb that is not 1-8 letters, a line over
 * SMTP_LINE_MAX.
 */
int	smtp_parse_line(const char *line, size_t len, struct smtp_cmd *r);

/* What was wrong with a MAIL or RCPT argument (smtp_path_args.perr). */
enum smtp_perr {
	SMTP_PERR_NONE = 0,
	SMTP_PERR_SYNTAX,	/* not "FROM:<...>" / "TO:<...>": 501 5.5.4 */
	SMTP_PERR_PATH,		/* the address: 501 5.1.7 / 501 5.1.3 */
	SMTP_PERR_PARAM,	/* unknown or bad parameter: 555 5.5.4 */
	SMTP_PERR_VALUE,	/* a bad DSN value (RFC 3461): 501 5.5.4 */
	/*
	 * MAIL only: the local part is fine, the domain is missing or not
	 * a domain ("<user>", "<user@bad..test>"); r->addr holds what was
	 * between the brackets.  501 5.1.7 as SMTP_PERR_PATH, but [smtpd]
	 * reject_non_fqdn_sender answers it 504 5.5.2 instead.
	 */
	SMTP_PERR_DOMAIN,
};

enum smtp_body {
	SMTP_BODY_NONE = 0,	/* not given */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_path_args {
	/* The mailbox without brackets or source route; "" for <>. */
	char		 addr[SMTP_PATH_MAX + 1];
	int		 utf8;		/* addr holds octets >= 0x80 */
	int		 postmaster;	/* RCPT TO:<Postmaster> (no domain) */
	/* MAIL parameters */
	int		 has_size;
	uint64_t	 size;		/* SIZE= */
	enum smtp_body	 body;		/* BODY= */
	int		 smtputf8;	/* SMTPUTF8 */
	char		 auth[SMTP_AUTHPARAM_MAX + 1];	/* AUTH=, raw */
	enum smtp_ret	 ret;		/* RET= */
	char		 envid[SMTP_ENVID_MAX + 1];	/* ENVID=, xtext */
	/* RCPT parameters */
	uint8_t		 notify;	/* NOTIFY=: SMTP_NOTIFY_*, 0 none */
	char		 orcpt[SMTP_ORCPT_MAX + 1];	/* ORCPT=, as given */
	int		 dsn;		/* a DSN parameter was given */
	enum smtp_perr	 perr;		/* after -1 */
};

/*
 * The reply code and enhanced code for a MAIL (rcpt 0) or RCPT (rcpt 1)
 * argument error: "501 5.1.7" / "501 5.1.3" for the address, "555 5.5.4"
 * for a parameter, "501 5.5.4" for syntax and bad values.
 */
const char *smtp_perr_reply(enum smtp_perr, int rcpt);

/*
 * The arguments of MAIL ("FROM:<addr> [SIZE=n] [BODY=7BIT|8BITMIME]
 * [SMTPUTF8] [AUTH=x] [RET=FULL|HDRS] [ENVID=xtext]"), any case, spaces
 * after the colon tolerated.  0 done.  Errors: ERR_INVALID with r->perr
 * and a message that can follow the reply code (a duplicate parameter
 * counts as a bad one: SMTP_PERR_PARAM; a bad RET or ENVID value, or an
 * ENVID over SMTP_ENVID_MAX or not xtext: SMTP_PERR_VALUE).
 */
int	smtp_parse_mail(const char *args, struct smtp_path_args *r);
/*
 * The arguments of RCPT ("TO:<addr> [NOTIFY=NEVER|list] [ORCPT=type;xtext]";
 * "<Postmaster>" without a domain is allowed and sets r->postmaster).
 * NOTIFY is NEVER alone or a comma list of SUCCESS, FAILURE, DELAY (each
 * once); ORCPT an atom, ';' and xtext, at most SMTP_ORCPT_MAX.  0 done.
 * Errors as smtp_parse_mail().
 */
int	smtp_parse_rcpt(const char *args, struct smtp_path_args *r);

/*
 * A path (RFC 5321 4.1.2 Path / Reverse-path): "<>" (when allow_null),
 * "<local@domain>", "<@route,@route:local@domain>"; the local part a
 * Dot-string or a Quoted-string, the domain a name or an address literal
 * ("[192.0.2.1]", "[IPv6:...]").  Octets >= 0x80 are taken as UTF-8
 * (RFC 6531) and flagged in *utf8_r.  *end_r is the first byte after '>'.
 * 0 done.  Errors: ERR_INVALID.
 */
int	smtp_parse_path(const char *s, int allow_null, char *addr_r,
	    size_t size, int *utf8_r, const char **end_r);

/*
 * Whether s[0..len) is a fully-qualified domain name (RFC 5321 Domain
 * with at least one dot: labels of letters, digits, hyphens (UTF-8
 * allowed), none empty, none starting or ending with '-', 255 octets at
 * most) or an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
 * 1 yes, 0 no.
 */
int	smtp_fqdn(const char *s, size_t len);

/*
 * Whether s[0..len) is xtext (RFC 3461 4: "!".."~" but "+" and "=",
 * or "+" and two hex digits).  1 yes, 0 no.
 */
int	smtp_xtext_valid(const char *s, size_t len);

/*
 * "BDAT n [LAST]" arguments.  0 done.  Errors: ERR_INVALID (not a
 * number, more than 20 digits, another word than LAST).
 */
int	smtp_parse_bdat(const char *args, uint64_t *n_r, int *last_r);

/* DATA stream --------------------------------------------------------- */

/* Output of smtp_data_feed() for len input bytes is at most this. */
#define SMTP_DATA_OUT_MAX(len)	((len) + 2)

/*
 * Decodes the bytes that follow DATA into the message: removes the dot
 * of dot-stuffed lines and ends at the first CRLF "." CRLF (and only
 * there: "\n.\n", "\r.\r\n", "\n.\r\n" are message text).  A CR not
 * followed by LF, or an LF not preceded by CR, is kept and flagged: the
 * caller refuses such a message (no SMTP smuggling).  Bytes past max
 * are counted, not output, and flag toobig.  A line longer than
 * SMTP_DATA_LINE_MAX (without its CRLF, with a stuffing dot) flags
 * toolong; its bytes are still output (the caller refuses the message).
 */
struct smtp_data {
	uint64_t	 max;		/* largest message accepted */
	uint64_t	 size;		/* message bytes seen (also over max) */
	int		 toobig;	/* size went over max */
	int		 bare_cr;	/* a CR without LF was seen */
	int		 bare_lf;	/* an LF without CR was seen */
	int		 toolong;	/* a line over SMTP_DATA_LINE_MAX */
	int		 done;		/* the end line was seen */
	int		 state;		/* private */
	size_t		 linelen;	/* private: bytes of this line */
};

void	smtp_data_init(struct smtp_data *, uint64_t max);
/*
 * Feeds in[0..len): writes message bytes to out (room for
 * SMTP_DATA_OUT_MAX(len)), *outlen_r how many; *used_r how many input
 * bytes were taken (fewer than len only when the end was reached).
 * Returns 1 when the end line has been seen, else 0.
 */
int	smtp_data_feed(struct smtp_data *, const char *in, size_t len,
	    char *out, size_t *outlen_r, size_t *used_r);

/*
 * The number of "Received:" header fields (any case) in the header of
 * msg (up to the first empty line): the hop count of RFC 5321 6.3.
 */
unsigned smtp_count_received(const char *msg, size_t len);

#endif
