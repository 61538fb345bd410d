/*
 * listmsg.c - the members' copy of a list message: List-* fields added,
 * Reply-To replaced on request, every other byte kept.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/listmsg.h"
#include "filter/textbuf.h"

static int	addr_ok(const char *, int);
static size_t	line_end(const char *, size_t, size_t);
static size_t	field_end(const char *, size_t, size_t);
static int	name_is(const char *, size_t, const char *);
static int	has_list_id(const char *, size_t, size_t, const char *);
static void	phrase_add(struct textbuf *, const char *, const char *);

/* local@domain, printable ASCII without blanks, quotes, <, >, (, ). */
static int
addr_ok(const char *s, int need)
{
	const char *at;

	if (s == NULL || s[0] == '\0')
		return !need;
	for (at = s; *at != '\0'; at++)
		if ((unsigned char)*at <= ' ' || (unsigned char)*at >= 0x7f ||
		    strchr("<>()\",;\\", *at) != NULL)
			return 0;
	at = strrchr(s, '@');
	return at != NULL && at != s && at[1] != '\0' && strchr(s, '@') == at;
}

/* The offset just past the line end of the line starting at i. */
static size_t
line_end(const char *m, size_t len, size_t i)
{
	const char *nl = memchr(m + i, '\n', len - i);

	return nl != NULL ? (size_t)(nl - m) + 1 : len;
}

/* The offset just past the field starting at i (its continuation lines). */
static size_t
field_end(const char *m, size_t len, size_t i)
{
	i = line_end(m, len, i);
	while (i < len && (m[i] == ' ' || m[i] == '\t'))
		i = line_end(m, len, i);
	return i;
}

/* The field at m[] (up to end) is called name (blanks before ':' too). */
static int
name_is(const char *m, size_t end, const char *name)
{
	size_t n = strlen(name), i;

	if (end < n || strncasecmp(m, name, n) != 0)
		return 0;
	for (i = n; i < end && (m[i] == ' ' || m[i] == '\t'); i++)
		;
	return i < end && m[i] == ':';
}

/* The header (up to hend) has a List-Id field whose <id> is id. */
static int
has_list_id(const char *m, size_t hend, size_t start, const char *id)
{
	size_t i = start;

	while (i < hend) {
		size_t e = field_end(m, hend, i);

		if (name_is(m + i, e - i, "List-Id")) {
			const char *lt = memchr(m + i, '<', e - i), *gt;

			/* Every <...> of the field (a phrase may hold '<'). */
			while (lt != NULL) {
				gt = memchr(lt, '>', (size_t)(m + e - lt));
				if (gt == NULL)
					break;
				if ((size_t)(gt - lt - 1) == strlen(id) &&
				    strncasecmp(lt + 1, id, strlen(id)) == 0)
					return 1;
				lt = memchr(gt, '<', (size_t)(m + e - gt));
			}
		}
		i = e;
	}
	return 0;
}

/*
 * The List-Id phrase and a blank: "..." or UTF-8 base64 words of at most
 * 39 bytes (64 characters), one a line (eol and a blank between them).
 */
static void
phrase_add(struct textbuf *b, const char *name, const char *eol)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)name;
	size_t n = strlen(name), i, k;
	int ascii = memmem(name, n, "=?", 2) == NULL;

	for (i = 0; i < n; i++)
		if (p[i] >= 0x7f || p[i] < 0x20)
			ascii = 0;
	if (ascii) {
		textbuf_str(b, "\"");
		for (i = 0; i < n; i++) {
			if (name[i] == '"' || name[i] == '\\')
				textbuf_str(b, "\\");
			textbuf_add(b, name + i, 1);
		}
		textbuf_str(b, "\" ");
		return;
	}
	for (i = 0; i < n;) {
		size_t take = n - i > 39 ? 39 : n - i;

		if (i + take < n)
			while (take > 1 && (p[i + take] & 0xc0) == 0x80)
				take--;
		if (i > 0) {
			textbuf_str(b, eol);
			textbuf_str(b, " ");
		}
		textbuf_str(b, "=?UTF-8?B?");
		for (k = 0; k < take; k += 3) {
			const unsigned char *q = p + i + k;
			uint32_t v = (uint32_t)q[0] << 16;
			char o[4];

			if (k + 1 < take)
				v |= (uint32_t)q[1] << 8;
			if (k + 2 < take)
				v |= q[2];
			o[0] = b64[(v >> 18) & 63];
			o[1] = b64[(v >> 12) & 63];
			o[2] = k + 1 < take ? b64[(v >> 6) & 63] : '=';
			o[3] = k + 2 < take ? b64[v & 63] : '=';
			textbuf_add(b, o, 4);
		}
		textbuf_str(b, "?=");
		i += take;
		textbuf_str(b, i < n ? "" : " ");
	}
}

int
filter_list_copy(const struct filter_list_in *in, char **msg_r,
    size_t *len_r)
{
	const char *m = in->msg != NULL ? in->msg : "";
	const char *name = in->name != NULL ? in->name : "";
	const char *owner = in->owner != NULL ? in->owner : "";
	const char *eol;
	struct textbuf b = { 0 };
	char *id;
	size_t len = in->len, hend, i, first;

	if (!addr_ok(in->list, 1) || !addr_ok(owner, 0))
		return err_set(ERR_INVALID, "list copy: the list or owner "
		    "address is not local@domain");
	if (strpbrk(name, "\r\n") != NULL || strlen(name) >
	    FILTER_LIST_NAME_MAX)
		return err_set(ERR_INVALID, "list copy: the list name has a "
		    "line end or is longer than %d bytes",
		    FILTER_LIST_NAME_MAX);

	/* The header block: up to the blank line (or all of it). */
	hend = 0;
	while (hend < len && m[hend] != '\n' && !(m[hend] == '\r' &&
	    hend + 1 < len && m[hend + 1] == '\n'))
		hend = line_end(m, len, hend);
	first = line_end(m, len, 0);
	eol = first >= 1 && m[first - 1] == '\n' &&
	    (first == 1 || m[first - 2] != '\r') ?
	    "\n" : "\r\n";

	id = xstrdup(in->list);
	*strrchr(id, '@') = '.';
	if (has_list_id(m, hend, 0, id)) {
		err_set(ERR_INVALID, "mail loop: the message already has "
		    "List-Id <%s>", id);
		free(id);
		return 0;
	}

	textbuf_str(&b, "List-Id: ");
	if (name[0] != '\0')
		phrase_add(&b, name, eol);
	textbuf_str(&b, "<");
	textbuf_str(&b, id);
	textbuf_str(&b, ">");
	textbuf_str(&b, eol);
	textbuf_str(&b, "List-Post: <mailto:");
	textbuf_str(&b, in->list);
	textbuf_str(&b, ">");
	textbuf_str(&b, eol);
	if (owner[0] != '\0') {
		textbuf_str(&b, "List-Owner: <mailto:");
		textbuf_str(&b, owner);
		textbuf_str(&b, ">");
		textbuf_str(&b, eol);
	}
	textbuf_str(&b, "Precedence: list");
	textbuf_str(&b, eol);
	if (in->reply_to) {
		textbuf_str(&b, "Reply-To: <");
		textbuf_str(&b, in->list);
		textbuf_str(&b, ">");
		textbuf_str(&b, eol);
		/* The header without its Reply-To fields, then the rest. */
		for (i = 0; i < hend;) {
			size_t e = field_end(m, hend, i);

			if (!name_is(m + i, e - i, "Reply-To"))
				textbuf_add(&b, m + i, e - i);
			i = e;
		}
		textbuf_add(&b, m + hend, len - hend);
	} else {
		textbuf_add(&b, m, len);
	}
	free(id);
	*msg_r = b.p;
	*len_r = b.len;
	return 1;
}
