/*
 * parse.h - POP3 command lines, no I/O.
 *
 * A command is a keyword of 3 or 4 letters (any case) and arguments
 * separated by single spaces (RFC 1939 section 3; more spaces are
 * tolerated).  PASS takes the rest of the line as it is, since passwords
 * may contain spaces.
 */
#ifndef VELLUM_POP3_PARSE_H
#define VELLUM_POP3_PARSE_H

#include <stddef.h>

/* Longest keyword (CAPA, STLS ...). */
#define POP3_VERB_MAX		4
/* Most arguments a command takes (TOP n m, AUTH mech initial). */
#define POP3_ARGS_MAX		2
/* Longest command line, without CRLF (RFC 2449 says 255 for commands;
 * SASL responses may be longer). */
#define POP3_LINE_MAX		512

struct pop3_cmd {
	char		 verb[POP3_VERB_MAX + 1];	/* upper case */
	/* Arguments given; only the first POP3_ARGS_MAX are in args. */
	unsigned	 nargs;
	const char	*args[POP3_ARGS_MAX];
	/* Everything after the keyword and one space ("" when none). */
	const char	*rest;
	/* Copies of the line the pointers point into. */
	char		 line[POP3_LINE_MAX + 1];
	char		 split[POP3_LINE_MAX + 1];
};

/*
 * Splits a command line (without its line end).  0 done.  Errors
 * (ERR_INVALID, with the message to send after "-ERR "): a NUL byte, an
 * empty line, a keyword that is not 3-4 letters, a line over
 * POP3_LINE_MAX.  Too many arguments are the handler's business.
 */
int	pop3_parse_line(const char *line, size_t len, struct pop3_cmd *r);

/*
 * A message number or line count: decimal digits only, no sign, at most
 * max.  0 done.  Errors: ERR_INVALID.
 */
int	pop3_parse_number(const char *s, unsigned long max,
	    unsigned long *r);

#endif
