/*
 * parse.c - POP3 command lines.
 */
#include <string.h>

#include "common/error.h"
#include "pop3d/parse.h"

int
pop3_parse_line(const char *line, size_t len, struct pop3_cmd *r)
{
	char *p;
	size_t i, vlen;

	r->verb[0] = '\0';
	r->nargs = 0;
	r->rest = "";
	if (len > POP3_LINE_MAX)
		return err_set(ERR_INVALID, "line too long");
	if (memchr(line, '\0', len) != NULL)
		return err_set(ERR_INVALID, "NUL byte in command");
	if (len == 0)
		return err_set(ERR_INVALID, "empty command");
	memcpy(r->line, line, len);
	r->line[len] = '\0';
	memcpy(r->split, line, len);
	r->split[len] = '\0';

	vlen = strcspn(r->line, " ");
	if (vlen < 3 || vlen > POP3_VERB_MAX)
		return err_set(ERR_INVALID, "unknown command");
	for (i = 0; i < vlen; i++) {
		char c = r->line[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return err_set(ERR_INVALID, "unknown command");
		r->verb[i] = c;
	}
	r->verb[vlen] = '\0';
	if (r->line[vlen] == '\0')
		return 0;

	/* rest stays whole (PASS); the arguments are cut out of split. */
	r->rest = r->line + vlen + 1;
	for (p = r->split + vlen + 1; *p != '\0';) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (r->nargs < POP3_ARGS_MAX)
			r->args[r->nargs] = p;
		r->nargs++;
		p += strcspn(p, " ");
	}
	return 0;
}

int
pop3_parse_number(const char *s, unsigned long max, unsigned long *r)
{
	unsigned long n = 0, d;

	if (*s == '\0')
		return err_set(ERR_INVALID, "number expected");
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return err_set(ERR_INVALID, "invalid number");
		d = (unsigned long)(*s - '0');
		if (d > max || n > max / 10 || n * 10 > max - d)
			return err_set(ERR_INVALID, "number too large");
		n = n * 10 + d;
	}
	*r = n;
	return 0;
}
