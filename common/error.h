/*
 * error.h - error classes and the last error of this thread.
 *
 * A function that fails returns -1 after err_set(): the class tells callers
 * what kind of failure it was (each daemon maps classes to its protocol's
 * replies in one place), the message tells a human what happened and, where
 * possible, what to do.  The last error stays until the next err_set().
 */
#ifndef VELLUM_ERROR_H
#define VELLUM_ERROR_H

enum err_class {
	ERR_NONE = 0,
	ERR_TEMP,	/* try again later: I/O, map full, lock busy */
	ERR_NOTFOUND,	/* no such domain, user, mailbox, message */
	ERR_EXISTS,	/* already there */
	ERR_NOQUOTA,	/* over quota */
	ERR_TOOBIG,	/* larger than a limit on size */
	ERR_LIMIT,	/* some other limit reached */
	ERR_INUSE,	/* held by someone else (a lock) */
	ERR_PERM,	/* not allowed */
	ERR_INVALID,	/* malformed input */
	ERR_CORRUPT,	/* stored data failed a check */
};

/* Returns -1 so that callers may write "return err_set(...);". */
int		 err_set(enum err_class, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
enum err_class	 err_class(void);
const char	*err_msg(void);
const char	*err_class_name(enum err_class);
void		 err_clear(void);

#endif
