/*
 * authres.c - the Authentication-Results header field (authres.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime.h"

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

int
authres_is_ours(const char *f, size_t len, void *id)
{
	char got[AUTHRES_ID_MAX + 1];
	size_t v;

	return mime_field_is(f, len, authres_name, &v) &&
	    authres_id(f + v, len - v, got) &&
	    strcasecmp(got, (const char *)id) == 0;
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
