/*
 * disclaimer.c - see disclaimer.h.
 *
 * `disclaimer`: name -> record version 1: sender pattern, recipient
 * pattern (u32 length, bytes each), flags (u8: 1 not when all recipients
 * are local), the sender exceptions and the recipient exceptions (u32
 * count, then each pattern), the text (u32 length, bytes), then whether
 * an HTML form follows (u8) and it (u32 length, bytes).  A later version
 * gets its own number: the reader knows which shape it reads.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "disclaimer.h"
#include "mail/utf7.h"
#include "private.h"

#define DISC_REC_V1	1
#define DISC_NOT_ALL_LOCAL	0x01
/* Postfix's recipient_delimiter as vellum resolves user+ext (DESIGN.md). */
#define DISC_DELIM	'+'

static int	disc_decode(const MDB_val *, const MDB_val *,
		    struct store_disclaimer *);
static int	disc_pats(struct unpack *, store_disclaimer_pat **, size_t *);
static char	*disc_blob(struct unpack *, size_t *);
static int	disc_check_rule(const struct store_disclaimer *);

void
store_disclaimer_clear(struct store_disclaimer *r)
{
	free(r->except_sender);
	free(r->except_recipient);
	free(r->text);
	free(r->html);
	memset(r, 0, sizeof(*r));
}

int
store_disclaimer_name_check(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0)
		return err_set(ERR_INVALID, "a disclaimer rule needs a name");
	if (n > STORE_DISCLAIMER_NAME_MAX)
		return err_set(ERR_INVALID, "disclaimer rule name '%.20s...' "
		    "is longer than %d bytes", name, STORE_DISCLAIMER_NAME_MAX);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return err_set(ERR_INVALID, "disclaimer rule name '%s': "
			    "only letters, digits, '.', '_' and '-'", name);
	if (name[0] == '.' || name[0] == '-')
		return err_set(ERR_INVALID, "disclaimer rule name '%s' starts "
		    "with '%c'", name, name[0]);
	return 0;
}

int
store_disclaimer_pattern_normalize(const char *in, char *buf)
{
	buf[0] = '\0';
	if (in == NULL || in[0] == '\0' || strcmp(in, "*") == 0)
		return 0;
	if (strchr(in, '@') == NULL)
		return err_set(ERR_INVALID, "'%s' is not an address, @domain "
		    "or *", in);
	if (store_address_normalize(in, buf, 1) == -1) {
		buf[0] = '\0';
		return err_set(ERR_INVALID, "'%s' is not an address, @domain "
		    "or *", in);
	}
	if (strchr(buf, '@') != strrchr(buf, '@') ||
	    strrchr(buf, '@')[1] == '\0') {
		buf[0] = '\0';
		return err_set(ERR_INVALID, "'%s' is not an address, @domain "
		    "or *", in);
	}
	return 0;
}

int
store_disclaimer_text_check(const char *what, const char *s, size_t len)
{
	size_t i, line = 1, col = 0;

	if (len == 0)
		return err_set(ERR_INVALID, "the disclaimer %s is empty", what);
	if (len > STORE_DISCLAIMER_TEXT_MAX)
		return err_set(ERR_INVALID, "the disclaimer %s is %zu bytes, "
		    "more than %d", what, len, STORE_DISCLAIMER_TEXT_MAX);
	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			return err_set(ERR_INVALID, "the disclaimer %s holds a "
			    "NUL byte (line %zu)", what, line);
		if (s[i] == '\n') {
			line++;
			col = 0;
			continue;
		}
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		if (++col > STORE_DISCLAIMER_LINE_MAX)
			return err_set(ERR_INVALID, "the disclaimer %s: line %zu "
			    "is longer than %d bytes", what, line,
			    STORE_DISCLAIMER_LINE_MAX);
	}
	if (!utf8_valid(s, len))
		return err_set(ERR_INVALID, "the disclaimer %s is not UTF-8",
		    what);
	return 0;
}

int
store_disclaimer_match(const char *pattern, const char *addr)
{
	char norm[STORE_ADDRESS_MAX + 1];
	const char *at, *plus;
	size_t ll;

	if (pattern[0] == '\0')
		return 1;
	if (addr == NULL || strchr(addr, '@') == NULL ||
	    store_address_normalize(addr, norm, 0) == -1) {
		err_clear();
		return 0;
	}
	at = strrchr(norm, '@');
	if (pattern[0] == '@')
		return strcmp(at, pattern) == 0;
	if (strcmp(norm, pattern) == 0)
		return 1;
	/* user+ext@domain matches user@domain */
	plus = memchr(norm, DISC_DELIM, (size_t)(at - norm));
	if (plus == NULL || plus == norm)
		return 0;
	ll = (size_t)(plus - norm);
	return strncmp(pattern, norm, ll) == 0 && pattern[ll] == '@' &&
	    strcmp(pattern + ll, at) == 0;
}

static int
disc_check_rule(const struct store_disclaimer *d)
{
	size_t i;

	if (store_disclaimer_name_check(d->name) == -1)
		return -1;
	if (d->nexcept_sender > STORE_DISCLAIMER_EXCEPT_MAX ||
	    d->nexcept_recipient > STORE_DISCLAIMER_EXCEPT_MAX)
		return err_set(ERR_INVALID, "more than %d exceptions of a "
		    "kind", STORE_DISCLAIMER_EXCEPT_MAX);
	for (i = 0; i < d->nexcept_sender; i++)
		if (d->except_sender[i][0] == '\0')
			return err_set(ERR_INVALID, "an exception for every "
			    "sender would never let the rule apply");
	for (i = 0; i < d->nexcept_recipient; i++)
		if (d->except_recipient[i][0] == '\0')
			return err_set(ERR_INVALID, "an exception for every "
			    "recipient would never let the rule apply");
	if (d->text == NULL ||
	    store_disclaimer_text_check("text", d->text, d->textlen) == -1)
		return d->text == NULL ? err_set(ERR_INVALID, "the disclaimer "
		    "has no text") : -1;
	if (d->html != NULL &&
	    store_disclaimer_text_check("HTML", d->html, d->htmllen) == -1)
		return -1;
	return 0;
}

int
store_disclaimer_put(struct store_txn *t, const struct store_disclaimer *d,
    int replace)
{
	store_disclaimer_pat p;
	struct pack pk;
	MDB_val v;
	size_t i;
	int rc;

	if (disc_check_rule(d) == -1)
		return -1;
	if (t->st->no_disclaimer)
		return err_set(ERR_PERM, "the store is read-only");
	if (!replace) {
		if ((rc = sdb_get(t, DB_DISCLAIMER, d->name, strlen(d->name),
		    &v)) == -1)
			return -1;
		if (rc == 1)
			return err_set(ERR_EXISTS, "disclaimer rule '%s' exists",
			    d->name);
	}
	pack_init_version(&pk, DISC_REC_V1);
	if (store_disclaimer_pattern_normalize(d->sender, p) == -1)
		goto bad;
	pack_str(&pk, p);
	if (store_disclaimer_pattern_normalize(d->recipient, p) == -1)
		goto bad;
	pack_str(&pk, p);
	pack_u8(&pk, d->not_all_local ? DISC_NOT_ALL_LOCAL : 0);
	pack_u32(&pk, (uint32_t)d->nexcept_sender);
	for (i = 0; i < d->nexcept_sender; i++) {
		if (store_disclaimer_pattern_normalize(d->except_sender[i],
		    p) == -1)
			goto bad;
		pack_str(&pk, p);
	}
	pack_u32(&pk, (uint32_t)d->nexcept_recipient);
	for (i = 0; i < d->nexcept_recipient; i++) {
		if (store_disclaimer_pattern_normalize(d->except_recipient[i],
		    p) == -1)
			goto bad;
		pack_str(&pk, p);
	}
	pack_u32(&pk, (uint32_t)d->textlen);
	pack_bytes(&pk, d->text, d->textlen);
	pack_u8(&pk, d->html != NULL);
	if (d->html != NULL) {
		pack_u32(&pk, (uint32_t)d->htmllen);
		pack_bytes(&pk, d->html, d->htmllen);
	}
	rc = sdb_put(t, DB_DISCLAIMER, d->name, strlen(d->name), pk.buf,
	    pk.len, 0);
	pack_free(&pk);
	return rc == -1 ? -1 : 1;
bad:
	pack_free(&pk);
	return -1;
}

int
store_disclaimer_del(struct store_txn *t, const char *name)
{
	if (store_disclaimer_name_check(name) == -1)
		return -1;
	if (t->st->no_disclaimer)
		return 0;
	return sdb_del(t, DB_DISCLAIMER, name, strlen(name));
}

static int
disc_pats(struct unpack *u, store_disclaimer_pat **v, size_t *n)
{
	uint32_t i, k = unpack_u32(u);

	if (u->bad || k > STORE_DISCLAIMER_EXCEPT_MAX) {
		u->bad = 1;
		return -1;
	}
	*v = k > 0 ? xcalloc(k, sizeof(**v)) : NULL;
	*n = k;
	for (i = 0; i < k; i++) {
		unpack_str(u, (*v)[i], sizeof((*v)[i]));
		if ((*v)[i][0] == '\0' || strchr((*v)[i], '@') == NULL)
			u->bad = 1;
	}
	return u->bad ? -1 : 0;
}

/* A u32 length and bytes, malloc'd and NUL-terminated. */
static char *
disc_blob(struct unpack *u, size_t *len_r)
{
	uint32_t n = unpack_u32(u);
	char *s;

	*len_r = 0;
	if (u->bad || n > u->left || n > STORE_DISCLAIMER_TEXT_MAX) {
		u->bad = 1;
		return NULL;
	}
	s = xmalloc((size_t)n + 1);
	unpack_bytes(u, s, n);
	s[n] = '\0';
	*len_r = n;
	return s;
}

static int
disc_decode(const MDB_val *k, const MDB_val *v, struct store_disclaimer *r)
{
	struct unpack u;
	uint8_t flags;

	memset(r, 0, sizeof(*r));
	if (k->mv_size == 0 || k->mv_size > STORE_DISCLAIMER_NAME_MAX)
		return err_set(ERR_CORRUPT, "disclaimer rule with a damaged "
		    "name (run vellumctl store check)");
	memcpy(r->name, k->mv_data, k->mv_size);
	r->name[k->mv_size] = '\0';
	if (store_disclaimer_name_check(r->name) == -1)
		return err_set(ERR_CORRUPT, "disclaimer rule with a damaged "
		    "name (run vellumctl store check)");
	if (unpack_init_version(&u, v) != DISC_REC_V1)
		u.bad = 1;
	unpack_str(&u, r->sender, sizeof(r->sender));
	unpack_str(&u, r->recipient, sizeof(r->recipient));
	flags = unpack_u8(&u);
	if (flags & ~DISC_NOT_ALL_LOCAL)
		u.bad = 1;
	r->not_all_local = (flags & DISC_NOT_ALL_LOCAL) != 0;
	if (!u.bad)
		disc_pats(&u, &r->except_sender, &r->nexcept_sender);
	if (!u.bad)
		disc_pats(&u, &r->except_recipient, &r->nexcept_recipient);
	if (!u.bad)
		r->text = disc_blob(&u, &r->textlen);
	if (!u.bad && unpack_u8(&u) == 1)
		r->html = disc_blob(&u, &r->htmllen);
	if (!u.bad && (u.left != 0 || r->textlen == 0 ||
	    (r->sender[0] != '\0' && strchr(r->sender, '@') == NULL) ||
	    (r->recipient[0] != '\0' && strchr(r->recipient, '@') == NULL)))
		u.bad = 1;
	if (unpack_done(&u, "disclaimer rule") == -1) {
		char name[STORE_DISCLAIMER_NAME_MAX + 1];

		memcpy(name, r->name, sizeof(name));
		store_disclaimer_clear(r);
		memcpy(r->name, name, sizeof(name));
		return -1;
	}
	return 1;
}

int
store_disclaimer_get(struct store_txn *t, const char *name,
    struct store_disclaimer *r)
{
	MDB_val k, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (store_disclaimer_name_check(name) == -1)
		return -1;
	if (t->st->no_disclaimer)
		return 0;
	if ((rc = sdb_get(t, DB_DISCLAIMER, name, strlen(name), &v)) != 1)
		return rc;
	k.mv_data = (void *)name;
	k.mv_size = strlen(name);
	return disc_decode(&k, &v, r);
}

int
store_disclaimer_list(struct store_txn *t, store_disclaimer_fn *fn,
    void *ctx)
{
	struct store_disclaimer r;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (t->st->no_disclaimer)
		return 0;
	if (sdb_cursor(t, DB_DISCLAIMER, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (disc_decode(&k, &v, &r) == -1) {
			ret = -1;
			break;
		}
		ret = fn(&r, ctx);
		store_disclaimer_clear(&r);
		if (ret == -1)
			break;
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = sdb_error(t, rc, "disclaimer");
	mdb_cursor_close(c);
	return ret;
}

/* The check: every row decodes. */
int
disclaimer_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	struct store_disclaimer r;
	char buf[600];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (t->st->no_disclaimer)
		return 0;
	if (sdb_cursor(t, DB_DISCLAIMER, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (disc_decode(&k, &v, &r) == -1) {
			snprintf(buf, sizeof(buf), "disclaimer %s: %s",
			    r.name[0] != '\0' ? r.name : "(bad name)",
			    err_msg());
			report(ctx, buf);
		}
		store_disclaimer_clear(&r);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "disclaimer");
	return 0;
}
