/* maildir.c - see maildir.h */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

#include "maildir.h"

static const char maildir_letters[] = "DFPRST";

static int	maildir_hexval(int c);
static int	maildir_put(char *buf, size_t bufsize, size_t *pos,
		    const char *s, size_t n);

char *
maildir_flags_format(unsigned flags, char buf[MAILDIR_FLAGS_MAX])
{
	size_t i, n = 0;

	for (i = 0; maildir_letters[i] != '\0'; i++)
		if (flags & (1u << i))
			buf[n++] = maildir_letters[i];
	buf[n] = '\0';
	return buf;
}

unsigned
maildir_flags_parse(const char *letters)
{
	const char *p;
	unsigned flags = 0;

	for (; *letters != '\0'; letters++)
		if ((p = strchr(maildir_letters, *letters)) != NULL)
			flags |= 1u << (p - maildir_letters);
	return flags;
}

int
maildir_name_parse(const char *name, struct maildir_name *r)
{
	const char *p, *info = NULL, *base_end;
	unsigned long long v;
	char *end;
	size_t nk = 0;

	memset(r, 0, sizeof(*r));
	if (*name == '\0' || *name == '.' || strchr(name, '/') != NULL)
		return err_set(ERR_INVALID, "'%s' is not a Maildir file name",
		    name);
	/* The info part: the last ":2," (or "!2," / ";2,"). */
	for (p = name; *p != '\0'; p++)
		if ((*p == ':' || *p == '!' || *p == ';') &&
		    strncmp(p + 1, "2,", 2) == 0)
			info = p;
	base_end = info != NULL ? info : name + strlen(name);
	if (info != NULL) {
		r->has_info = 1;
		for (p = info + 3; *p != '\0'; p++) {
			if (*p >= 'a' && *p <= 'z') {
				if (strchr(r->keywords, *p) == NULL &&
				    nk < sizeof(r->keywords) - 1)
					r->keywords[nk++] = *p;
			} else if (strchr(maildir_letters, *p) != NULL)
				r->flags |= 1u << (strchr(maildir_letters, *p) -
				    maildir_letters);
		}
	}
	if (isdigit((unsigned char)name[0])) {
		v = strtoull(name, &end, 10);
		if (*end == '.' || end == base_end)
			r->date = (time_t)v;
	}
	/* ",S=" and ",W=" fields of the base name. */
	for (p = name; p < base_end; p++) {
		if (*p != ',' || base_end - p < 4 || p[2] != '=')
			continue;
		if (!isdigit((unsigned char)p[3]))
			continue;
		v = strtoull(p + 3, &end, 10);
		if (end > base_end || (end != base_end && *end != ','))
			continue;
		if (p[1] == 'S') {
			r->size = v;
			r->has_size = 1;
		} else if (p[1] == 'W') {
			r->vsize = v;
			r->has_vsize = 1;
		}
	}
	return 1;
}

int
maildir_name_build(time_t date, uint32_t uid, const char *host,
    uint64_t size, unsigned flags, char *buf, size_t bufsize)
{
	char tmp[64], fl[MAILDIR_FLAGS_MAX];
	size_t pos = 0;
	const char *h;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%lld.%" PRIu32 ".",
	    (long long)(date > 0 ? date : 0), uid);
	if (maildir_put(buf, bufsize, &pos, tmp, (size_t)n) < 0)
		return -1;
	for (h = host != NULL && *host != '\0' ? host : "localhost";
	    *h != '\0'; h++) {
		unsigned char c = (unsigned char)*h;

		if (c == '/' || c == ':' || c == '\\' || c == ',' ||
		    c < 0x20 || c == 0x7f) {
			n = snprintf(tmp, sizeof(tmp), "\\%03o", c);
			if (maildir_put(buf, bufsize, &pos, tmp,
			    (size_t)n) < 0)
				return -1;
		} else if (maildir_put(buf, bufsize, &pos, h, 1) < 0)
			return -1;
	}
	n = snprintf(tmp, sizeof(tmp), ",S=%" PRIu64 ":2,%s", size,
	    maildir_flags_format(flags, fl));
	if (maildir_put(buf, bufsize, &pos, tmp, (size_t)n + 1) < 0)
		return -1;
	return 1;
}

static int
maildir_put(char *buf, size_t bufsize, size_t *pos, const char *s, size_t n)
{
	if (*pos + n > bufsize)
		return err_set(ERR_LIMIT, "Maildir name longer than %zu bytes",
		    bufsize);
	memcpy(buf + *pos, s, n);
	*pos += n;
	return 0;
}

static int
maildir_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
maildir_folder_to_name(const char *dirname, char *buf, size_t bufsize)
{
	const char *p;
	size_t pos = 0;
	char c;
	int hi, lo;

	if (dirname[0] != '.' || strcmp(dirname, ".") == 0 ||
	    strcmp(dirname, "..") == 0 || strchr(dirname, '/') != NULL)
		return err_set(ERR_INVALID, "'%s' is not a Maildir++ folder",
		    dirname);
	for (p = dirname + 1;; p++) {
		if (*p == '\0' || *p == '.') {
			/* A level ends here; it must not be empty. */
			if (p[-1] == '.')
				return err_set(ERR_INVALID, "Maildir++ folder "
				    "'%s' has an empty level", dirname);
			if (*p == '\0')
				break;
			c = '/';
		} else if (*p == '\\' && (hi = maildir_hexval(p[1])) >= 0 &&
		    (lo = maildir_hexval(p[2])) >= 0) {
			c = (char)(hi * 16 + lo);
			p += 2;
			/* Only what maildir_folder_from_name() escapes: a
			 * decoded '/' would add a level, a NUL cut it. */
			if (c != '.' && c != '\\')
				return err_set(ERR_INVALID, "Maildir++ folder "
				    "'%s': only \\2e and \\5c are escapes",
				    dirname);
		} else
			c = *p;
		if (maildir_put(buf, bufsize, &pos, &c, 1) < 0)
			return -1;
	}
	return maildir_put(buf, bufsize, &pos, "", 1) < 0 ? -1 : 1;
}

int
maildir_folder_from_name(const char *name, char *buf, size_t bufsize)
{
	const char *p;
	size_t pos = 0;
	char esc[4];

	if (strcasecmp(name, "INBOX") == 0)
		return maildir_put(buf, bufsize, &pos, "", 1) < 0 ? -1 : 1;
	if (*name == '\0')
		return err_set(ERR_INVALID, "empty folder name");
	if (maildir_put(buf, bufsize, &pos, ".", 1) < 0)
		return -1;
	for (p = name; *p != '\0'; p++) {
		if (*p == '/') {
			if (p == name || p[1] == '\0' || p[1] == '/')
				return err_set(ERR_INVALID, "folder name '%s' "
				    "has an empty level", name);
			if (maildir_put(buf, bufsize, &pos, ".", 1) < 0)
				return -1;
		} else if (*p == '.' || *p == '\\') {
			snprintf(esc, sizeof(esc), "\\%02x",
			    (unsigned char)*p);
			if (maildir_put(buf, bufsize, &pos, esc, 3) < 0)
				return -1;
		} else if (maildir_put(buf, bufsize, &pos, p, 1) < 0)
			return -1;
	}
	return maildir_put(buf, bufsize, &pos, "", 1) < 0 ? -1 : 1;
}
