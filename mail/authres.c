/*
 * authres.c - the Authentication-Results header field (authres.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"

#include "authres.h"

static const char authres_name[] = "Authentication-Results";

/* RFC 2045 token characters: printable ASCII but space and tspecials. */
static int
authres_tokenc(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Past white space, folding and (nested) comments, from p up to end. */
static const char *
authres_cfws(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		if (*p == '\\' && depth > 0 && p + 1 < end)
			p += 2;
		else if (*p == '(') {
			depth++;
			p++;
		} else if (*p == ')' && depth > 0) {
			depth--;
			p++;
		} else if (depth > 0 || *p == ' ' || *p == '\t' ||
		    *p == '\r' || *p == '\n')
			p++;
		else
			break;
	}
	return p;
}

int
authres_id(const char *v, size_t len, char id[AUTHRES_ID_MAX + 1])
{
	const char *p, *end = v + len;
	size_t n = 0;

	p = authres_cfws(v, end);
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (*p == '\r' || *p == '\n')
				continue;
			/* an id is text: no NUL or control byte inside */
			if ((unsigned char)*p < 0x20 || *p == 0x7f ||
			    n == AUTHRES_ID_MAX)
				return 0;
			id[n++] = *p;
		}
		if (p == end)
			return 0;
	} else
		for (; p < end && authres_tokenc((unsigned char)*p); p++) {
			if (n == AUTHRES_ID_MAX)
				return 0;
			id[n++] = *p;
		}
	id[n] = '\0';
	return n > 0;
}

/* The end of the field starting at p: past its last line's end. */
static const char *
authres_field_end(const char *p, const char *end)
{
	const char *nl;

	for (;;) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return end;
		p = nl + 1;
		if (p == end || (*p != ' ' && *p != '\t'))
			return p;
	}
}

/* Whether the field [f, fend) is an Authentication-Results of id. */
static int
authres_ours(const char *f, const char *fend, const char *id)
{
	size_t nlen = sizeof(authres_name) - 1;
	char got[AUTHRES_ID_MAX + 1];
	const char *p;

	if ((size_t)(fend - f) <= nlen || strncasecmp(f, authres_name,
	    nlen) != 0)
		return 0;
	/* RFC 5322 3.6.8 allows white space before the colon */
	for (p = f + nlen; p < fend && (*p == ' ' || *p == '\t'); p++)
		;
	if (p == fend || *p != ':')
		return 0;
	p++;
	return authres_id(p, (size_t)(fend - p), got) &&
	    strcasecmp(got, id) == 0;
}

int
authres_strip(const void *msg, size_t len, const char *id, char **out,
    size_t *outlen)
{
	const char *m = msg, *end = m + len, *p, *fend;
	char *o = NULL;
	size_t n = 0;
	int removed = 0;

	*out = NULL;
	*outlen = 0;
	for (p = m; p < end; p = fend) {
		/* the blank line ends the header */
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;
		fend = authres_field_end(p, end);
		removed += authres_ours(p, fend, id);
	}
	if (removed == 0)
		return 0;
	/* copy every field but ours, then the rest */
	o = xmalloc(len);
	for (p = m; p < end; p = fend) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;
		fend = authres_field_end(p, end);
		if (authres_ours(p, fend, id))
			continue;
		memcpy(o + n, p, (size_t)(fend - p));
		n += (size_t)(fend - p);
	}
	memcpy(o + n, p, (size_t)(end - p));
	n += (size_t)(end - p);
	*out = o;
	*outlen = n;
	return removed;
}

void
authres_value(const char *s, char *buf, size_t size)
{
	size_t i, n = 0;
	int token = s[0] != '\0';

	if (size == 0)
		return;
	/* RFC 8601 2.2 pvalue: a value, or [local-part "@"] domain */
	for (i = 0; s[i] != '\0' && token; i++)
		token = authres_tokenc((unsigned char)s[i]) ||
		    (s[i] == '@' && i > 0 && s[i + 1] != '\0' &&
		    strchr(s + i + 1, '@') == NULL);
	if (token) {
		for (i = 0; s[i] != '\0' && n + 1 < size; i++)
			buf[n++] = s[i];
		buf[n] = '\0';
		return;
	}
	if (n + 1 < size)
		buf[n++] = '"';
	for (i = 0; s[i] != '\0' && n + 3 < size; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			continue;
		if (s[i] == '"' || s[i] == '\\')
			buf[n++] = '\\';
		buf[n++] = s[i];
	}
	if (n + 1 < size)
		buf[n++] = '"';
	buf[n] = '\0';
}
