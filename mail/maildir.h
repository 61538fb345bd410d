/*
 * maildir.h - Maildir file names and Maildir++ folder names, no I/O.
 *
 * A Maildir file name is "<time>.<unique>.<host>[,S=<size>][,W=<vsize>]
 * [:2,<flags>]".  <time> is the delivery time in seconds; the info part
 * after ":2," lists flag letters in ASCII order: D draft, F flagged,
 * P passed (forwarded), R replied, S seen, T trashed; lower-case letters
 * a-z are Dovecot keyword indexes.  Names written on file systems where ':'
 * is awkward use '!' or ';' instead; both are accepted when read.
 *
 * Maildir++ folders are directories ".Foo" and ".Foo.Bar" next to cur/,
 * new/ and tmp/; the store calls them "Foo" and "Foo/Bar" ('/' separates
 * levels in the store).  A '.' or '\' inside one level of a store name is
 * written as "\2e" / "\5c" (Dovecot's listescape form), so every store name
 * maps to exactly one directory name and back.
 */
#ifndef VELLUM_MAIL_MAILDIR_H
#define VELLUM_MAIL_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAILDIR_F_DRAFT		0x01	/* D */
#define MAILDIR_F_FLAGGED	0x02	/* F */
#define MAILDIR_F_PASSED	0x04	/* P: forwarded, keyword $Forwarded */
#define MAILDIR_F_REPLIED	0x08	/* R: \Answered */
#define MAILDIR_F_SEEN		0x10	/* S */
#define MAILDIR_F_TRASHED	0x20	/* T: \Deleted */
#define MAILDIR_F_ALL		0x3f

/* Longest file name maildir_name_build() writes, with its NUL. */
#define MAILDIR_NAME_MAX	256
/* Flag letters, with NUL: "DFPRST". */
#define MAILDIR_FLAGS_MAX	8

struct maildir_name {
	time_t		date;		/* 0: no leading number */
	uint64_t	size;		/* ,S= value */
	uint64_t	vsize;		/* ,W= value */
	unsigned	flags;		/* MAILDIR_F_* */
	char		keywords[27];	/* a-z found in the info, in order */
	unsigned	has_size:1;
	unsigned	has_vsize:1;
	unsigned	has_info:1;	/* ":2," was present */
};

/*
 * Parses a file name (the last path component).  Unknown info letters are
 * ignored.  Returns 1, or -1 (ERR_INVALID) for an empty name, a name
 * starting with '.' or containing '/'.
 */
int	maildir_name_parse(const char *name, struct maildir_name *r);

/*
 * Writes "<date>.<uid>.<host>,S=<size>:2,<flags>" into buf.  Characters
 * of host that cannot stand in the name ('/', ':', '\', ',', control
 * bytes) are written as "\ooo" octal, as the Maildir specification
 * asks.  Returns 1, or -1 (ERR_LIMIT) when buf is too small.
 */
int	maildir_name_build(time_t date, uint32_t uid, const char *host,
	    uint64_t size, unsigned flags, char *buf, size_t bufsize);

/* Writes the flag letters of flags in ASCII order; returns buf. */
char	*maildir_flags_format(unsigned flags, char buf[MAILDIR_FLAGS_MAX]);
/* The flags of a string of letters ("FS" -> FLAGGED|SEEN). */
unsigned	maildir_flags_parse(const char *letters);

/*
 * ".Foo.Bar" -> "Foo/Bar", with "\2e" and "\5c" decoded to '.' and '\'.
 * Returns 1, or -1: ERR_INVALID when the name does not start with '.',
 * has an empty level, is "." or "..", or escapes any other byte;
 * ERR_LIMIT when buf is too small.
 */
int	maildir_folder_to_name(const char *dirname, char *buf,
	    size_t bufsize);
/*
 * "Foo/Bar" -> ".Foo.Bar".  "INBOX" (any case) gives "" (the Maildir
 * itself).  Returns 1, or -1: ERR_INVALID for an empty level, ERR_LIMIT
 * when buf is too small.
 */
int	maildir_folder_from_name(const char *name, char *buf,
	    size_t bufsize);

#endif
