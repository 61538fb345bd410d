/* uidlist.c - see uidlist.h */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"

#include "uidlist.h"

static int	uidlist_u32(const char *p, size_t len, uint32_t *r);
static int	uidlist_header(struct uidlist *, const char *p, size_t len);
static int	uidlist_entry(struct uidlist *, size_t lineno, const char *p,
		    size_t len);
static int	uidlist_cmp(const void *, const void *);

/* A decimal number of 1 to 10 digits that fits 32 bits; 0 ok, -1 not. */
static int
uidlist_u32(const char *p, size_t len, uint32_t *r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

/* The first line: "1 V N", "2 V N" or "3 Vv Nn ...". */
static int
uidlist_header(struct uidlist *ul, const char *p, size_t len)
{
	const char *end = p + len, *tok;
	size_t tlen, ntok = 0;
	uint32_t v;

	if (len < 2 || p[1] != ' ' || (p[0] != '1' && p[0] != '2' &&
	    p[0] != '3'))
		return err_set(ERR_INVALID, "line 1: not a UID list header "
		    "(version 1, 2 or 3)");
	ul->version = (unsigned)(p[0] - '0');
	for (p += 2; p < end; p += tlen) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		tok = p;
		if (memchr(tok, ' ', (size_t)(end - tok)) != NULL)
			tlen = (size_t)((const char *)memchr(tok, ' ',
			    (size_t)(end - tok)) - tok);
		else
			tlen = (size_t)(end - tok);
		ntok++;
		if (ul->version < 3) {
			if (ntok > 2 || uidlist_u32(tok, tlen, &v) < 0)
				return err_set(ERR_INVALID, "line 1: the "
				    "header is \"%u <uidvalidity> "
				    "<nextuid>\"", ul->version);
			if (ntok == 1)
				ul->uidvalidity = v;
			else
				ul->nextuid = v;
			continue;
		}
		if (tok[0] == 'V' || tok[0] == 'N') {
			if (uidlist_u32(tok + 1, tlen - 1, &v) < 0)
				return err_set(ERR_INVALID, "line 1: bad %c "
				    "field", tok[0]);
			if (tok[0] == 'V')
				ul->uidvalidity = v;
			else
				ul->nextuid = v;
		}
	}
	if (ul->version < 3 && ntok != 2)
		return err_set(ERR_INVALID, "line 1: the header is \"%u "
		    "<uidvalidity> <nextuid>\"", ul->version);
	if (ul->uidvalidity == 0)
		return err_set(ERR_INVALID, "line 1: no UIDVALIDITY (or 0)");
	return 0;
}

static int
uidlist_entry(struct uidlist *ul, size_t lineno, const char *p, size_t len)
{
	const char *end = p + len, *sp, *name;
	size_t nlen, blen;
	uint32_t uid;
	int pop3 = 0;

	sp = memchr(p, ' ', len);
	if (sp == NULL || uidlist_u32(p, (size_t)(sp - p), &uid) < 0)
		return err_set(ERR_INVALID, "line %zu: no UID", lineno);
	if (uid == 0 || uid == UINT32_MAX)
		return err_set(ERR_INVALID, "line %zu: UID %u is out of range",
		    lineno, uid);
	if (uid <= ul->last_uid)
		return err_set(ERR_INVALID, "line %zu: UID %u is not above "
		    "the UID before it (%u)", lineno, uid, ul->last_uid);
	name = sp + 1;
	if (ul->version == 3) {
		/* Extension fields (no spaces in them), then " :name". */
		while (name < end && *name != ':') {
			sp = memchr(name, ' ', (size_t)(end - name));
			if (sp == NULL)
				return err_set(ERR_INVALID, "line %zu: no "
				    "\":<file name>\"", lineno);
			if (*name == 'P' && sp > name + 1)
				pop3 = 1;
			name = sp + 1;
		}
		ul->npop3_uidl += (size_t)pop3;
		if (name < end)
			name++;
	} else if (ul->version == 2) {
		sp = memchr(name, ' ', (size_t)(end - name));
		if (sp == NULL)
			return err_set(ERR_INVALID, "line %zu: no file name",
			    lineno);
		name = sp + 1;
	}
	nlen = (size_t)(end - name);
	if (nlen == 0 || nlen > UIDLIST_NAME_MAX)
		return err_set(ERR_INVALID, "line %zu: %s file name", lineno,
		    nlen == 0 ? "no" : "too long a");
	if (memchr(name, '/', nlen) != NULL)
		return err_set(ERR_INVALID, "line %zu: a file name with '/'",
		    lineno);
	{
		char tmp[UIDLIST_NAME_MAX + 1];

		memcpy(tmp, name, nlen);
		tmp[nlen] = '\0';
		blen = uidlist_base_len(tmp);
	}
	if (blen == 0)
		return err_set(ERR_INVALID, "line %zu: an empty base name",
		    lineno);
	ul->v = xreallocarray(ul->v, ul->n + 1, sizeof(*ul->v));
	ul->v[ul->n].uid = uid;
	ul->v[ul->n].base = xstrndup(name, blen);
	ul->n++;
	ul->last_uid = uid;
	return 0;
}

static int
uidlist_cmp(const void *a, const void *b)
{
	return strcmp(((const struct uidlist_entry *)a)->base,
	    ((const struct uidlist_entry *)b)->base);
}

int
uidlist_parse(const char *buf, size_t len, struct uidlist **r)
{
	struct uidlist *ul;
	const char *p = buf, *end = buf + len, *nl;
	size_t lineno = 0, llen, i;

	*r = NULL;
	if (len > 0 && memchr(buf, '\0', len) != NULL)
		return err_set(ERR_INVALID, "a NUL byte in the UID list");
	ul = xcalloc(1, sizeof(*ul));
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		llen = (size_t)((nl != NULL ? nl : end) - p);
		lineno++;
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		if (lineno == 1) {
			if (uidlist_header(ul, p, llen) < 0)
				goto fail;
		} else if (llen > 0 && uidlist_entry(ul, lineno, p, llen) < 0)
			goto fail;
		p = nl != NULL ? nl + 1 : end;
	}
	if (lineno == 0) {
		err_set(ERR_INVALID, "an empty UID list");
		goto fail;
	}
	if (ul->n > 1)
		qsort(ul->v, ul->n, sizeof(*ul->v), uidlist_cmp);
	for (i = 1; i < ul->n; i++)
		if (strcmp(ul->v[i - 1].base, ul->v[i].base) == 0) {
			err_set(ERR_INVALID, "file %s is listed twice (UIDs "
			    "%u and %u)", ul->v[i].base, ul->v[i - 1].uid,
			    ul->v[i].uid);
			goto fail;
		}
	if (ul->last_uid != 0 && ul->nextuid <= ul->last_uid)
		ul->nextuid = ul->last_uid + 1;
	if (ul->nextuid == 0)
		ul->nextuid = 1;
	*r = ul;
	return 1;
fail:
	uidlist_free(&ul);
	return -1;
}

size_t
uidlist_base_len(const char *filename)
{
	const char *p;

	/* The first separator of either kind (so a base name's own base
	 * name is itself). */
	for (p = filename; *p != '\0'; p++)
		if (*p == ':' || ((*p == '!' || *p == ';') && p[1] == '2' &&
		    p[2] == ','))
			break;
	return (size_t)(p - filename);
}

uint32_t
uidlist_find(const struct uidlist *ul, const char *filename)
{
	size_t lo = 0, hi, mid, blen = uidlist_base_len(filename);
	int c;

	if (ul == NULL)
		return 0;
	hi = ul->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strncmp(ul->v[mid].base, filename, blen);
		if (c == 0 && ul->v[mid].base[blen] != '\0')
			c = 1;
		if (c == 0)
			return ul->v[mid].uid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

void
uidlist_free(struct uidlist **p)
{
	struct uidlist *ul = *p;
	size_t i;

	if (ul == NULL)
		return;
	for (i = 0; i < ul->n; i++)
		free(ul->v[i].base);
	free(ul->v);
	free(ul);
	*p = NULL;
}
