/*
 * folder.c - the texts of to/cc as the store sees them: the folder a
 * mailbox path names (filter_folder) and a command line split into words
 * without a shell (filter_argv_split).  Pure: no I/O.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/eval.h"
#include "mail/maildir.h"
#include "mail/utf7.h"

#define ARGV_MAX	256	/* words of one command line */

static void	normalize(const char *, const char *, char *, size_t);
static int	component_bad(const char *);
static int	store_name(const char *, char *, size_t);
static int	dot_folder(const char *, char *, size_t);
static int	refuse(const char *, const char *);
static const char	*shell_op(const char *, int, char[3]);

/*
 * Drops "$HOME/" (written or substituted), "~/" and "./" prefixes and the
 * trailing '/': "$HOME/Maildir/.A/" -> "Maildir/.A"; "." -> "".
 */
static void
normalize(const char *in, const char *home, char *out, size_t size)
{
	const char *p = in;
	size_t hl = home != NULL ? strlen(home) : 0, len;

	if (strncmp(p, "$HOME/", 6) == 0)
		p += 6;
	else if (strncmp(p, "~/", 2) == 0)
		p += 2;
	else if (hl > 1 && strncmp(p, home, hl) == 0 && p[hl] == '/')
		p += hl + 1;
	for (;;) {
		while (*p == '/' && p != in)
			p++;
		if (p[0] == '.' && p[1] == '/')
			p += 2;
		else
			break;
	}
	len = strlen(p);
	if (len >= size)
		len = size - 1;
	memcpy(out, p, len);
	out[len] = '\0';
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
	if (strcmp(out, ".") == 0)
		out[0] = '\0';
}

/* Whether a path has an empty, "." or ".." component inside. */
static int
component_bad(const char *p)
{
	const char *s, *e;

	for (s = p; *s != '\0'; s = *e ? e + 1 : e) {
		e = strchr(s, '/');
		if (e == NULL)
			e = s + strlen(s);
		if ((e - s == 1 && s[0] == '.') ||
		    (e - s == 2 && s[0] == '.' && s[1] == '.'))
			return 1;
		if (e == s && s != p)
			return 1;
	}
	return 0;
}

static int
refuse(const char *mailbox, const char *why)
{
	err_set(ERR_INVALID, "\"%s\" is not a folder of the store: %s",
	    mailbox, why);
	return 0;
}

/* A store name from its modified UTF-7 (or plain UTF-8) spelling. */
static int
store_name(const char *name, char *out, size_t size)
{
	size_t len = strlen(name);

	if (strcasecmp(name, "INBOX") == 0)
		name = "INBOX";
	if (utf7_decode(name, len, out, size) == 0)
		return 1;
	if (err_class() == ERR_TOOBIG || len >= size) {
		err_set(ERR_LIMIT, "a folder name longer than %zu bytes",
		    size - 1);
		return 0;
	}
	/* Raw UTF-8 (no '&' shift): the name as written. */
	if (utf8_valid(name, len) && strchr(name, '&') == NULL) {
		memcpy(out, name, len + 1);
		return 1;
	}
	err_set(ERR_INVALID, "\"%s\" is neither modified UTF-7 nor UTF-8",
	    name);
	return 0;
}

/* ".A.B" -> "A/B" */
static int
dot_folder(const char *dir, char *out, size_t size)
{
	char name[FILTER_FOLDER_MAX + 1];

	if (maildir_folder_to_name(dir, name, sizeof(name)) != 1)
		return 0;
	return store_name(name, out, size);
}

int
filter_folder(const char *mailbox, const char *home, const char *deflt,
    char *out, size_t size)
{
	char m[FILTER_FOLDER_MAX + 1], d[FILTER_FOLDER_MAX + 1];
	const char *rest = NULL, *dlast, *slash;
	size_t dl, fl;

	if (strlen(mailbox) > FILTER_FOLDER_MAX) {
		err_set(ERR_LIMIT, "a mailbox name longer than %d bytes",
		    FILTER_FOLDER_MAX);
		return 0;
	}
	normalize(mailbox, home, m, sizeof(m));
	normalize(deflt != NULL ? deflt : "./Maildir", home, d, sizeof(d));
	dl = strlen(d);
	if (dl > 0 && strncmp(m, d, dl) == 0 && (m[dl] == '\0' ||
	    m[dl] == '/'))
		rest = m[dl] == '/' ? m + dl + 1 : m + dl;
	else if (m[0] == '/')
		return refuse(mailbox, "an absolute path outside the Maildir");
	if (component_bad(m))
		return refuse(mailbox, "\".\", \"..\" or an empty part in "
		    "the path");
	if (rest == NULL) {
		dlast = strrchr(d, '/');
		dlast = dlast != NULL ? dlast + 1 : d;
		slash = strchr(m, '/');
		fl = slash != NULL ? (size_t)(slash - m) : strlen(m);
		if ((fl == 7 && strncmp(m, "Maildir", 7) == 0) ||
		    (fl == 4 && strncmp(m, "Mail", 4) == 0) ||
		    (fl > 0 && fl == strlen(dlast) &&
		    strncmp(m, dlast, fl) == 0))
			rest = slash != NULL ? slash + 1 : m + fl;
	}
	if (rest != NULL) {
		if (*rest == '\0')
			return store_name("INBOX", out, size);
		if (strchr(rest, '/') != NULL)
			return refuse(mailbox, "a path inside a Maildir "
			    "folder");
		if (rest[0] != '.')
			return refuse(mailbox, "a mailbox file (Maildir++ "
			    "folders start with '.')");
		return dot_folder(rest, out, size);
	}
	if (m[0] == '\0')
		return store_name("INBOX", out, size);
	if (strchr(m, '/') != NULL)
		return refuse(mailbox, "a mailbox file path");
	if (m[0] == '.')
		return dot_folder(m, out, size);
	return store_name(m, out, size);
}

/* The shell operator at p, if any ("" when none). */
static const char *
shell_op(const char *p, int word_start, char buf[3])
{
	static const char *const two[] = { "||", "&&", ">>", "<<", "$(",
	    ">&", "<&", "${", NULL };
	size_t i;

	for (i = 0; two[i] != NULL; i++)
		if (p[0] == two[i][0] && p[1] == two[i][1])
			return two[i];
	if (strchr("|;&<>`()*?[\n\r", *p) != NULL ||
	    (word_start && (*p == '~' || *p == '#'))) {
		buf[0] = *p;
		buf[1] = '\0';
		return buf;
	}
	return "";
}

int
filter_argv_split(const char *cmdline, char ***argv_r)
{
	char **argv, *cur, buf[3];
	const char *p = cmdline, *op;
	size_t n = 0, len = 0;
	int inword = 0;

	*argv_r = NULL;
	argv = xcalloc(ARGV_MAX + 1, sizeof(*argv));
	cur = xmalloc(strlen(cmdline) + 1);
	for (;;) {
		if (*p == ' ' || *p == '\t' || *p == '\0') {
			if (inword) {
				if (n == ARGV_MAX) {
					err_set(ERR_LIMIT, "more than %d words "
					    "in the command", ARGV_MAX);
					goto fail_limit;
				}
				argv[n++] = xstrndup(cur, len);
				len = 0;
				inword = 0;
			}
			if (*p == '\0')
				break;
			p++;
		} else if (*p == '\'') {
			inword = 1;
			for (p++; *p != '\0' && *p != '\''; p++)
				cur[len++] = *p;
			if (*p == '\0') {
				err_set(ERR_INVALID, "a ' is not closed");
				goto fail;
			}
			p++;
		} else if (*p == '"') {
			inword = 1;
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '`' || (p[0] == '$' && p[1] == '(')) {
					err_set(ERR_INVALID, "the shell "
					    "operator '%s' needs a shell",
					    *p == '`' ? "`" : "$(");
					goto fail;
				}
				if (*p == '\\' && p[1] != '\0' &&
				    strchr("$`\"\\", p[1]) != NULL)
					p++;
				cur[len++] = *p;
			}
			if (*p == '\0') {
				err_set(ERR_INVALID, "a \" is not closed");
				goto fail;
			}
			p++;
		} else if (*p == '\\') {
			if (p[1] == '\0') {
				err_set(ERR_INVALID, "a \\ ends the command");
				goto fail;
			}
			inword = 1;
			cur[len++] = p[1];
			p += 2;
		} else if (*(op = shell_op(p, !inword, buf)) != '\0') {
			err_set(ERR_INVALID, "the shell operator '%s' needs a "
			    "shell", op[0] == '\n' ? "\\n" : op[0] == '\r' ?
			    "\\r" : op);
			goto fail;
		} else {
			inword = 1;
			cur[len++] = *p++;
		}
	}
	free(cur);
	if (n == 0) {
		err_set(ERR_INVALID, "an empty command");
		filter_argv_free(&argv);
		return 0;
	}
	*argv_r = argv;
	return 1;
fail:
	free(cur);
	filter_argv_free(&argv);
	return 0;
fail_limit:
	free(cur);
	filter_argv_free(&argv);
	return -1;
}

void
filter_argv_free(char ***argvp)
{
	char **argv = *argvp;
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
	*argvp = NULL;
}
