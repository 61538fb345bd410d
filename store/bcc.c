/*
 * bcc.c - see bcc.h.
 *
 * `bcc`: (kind byte, normalised address or "@domain"; only the byte for
 * "all") -> record: version 1, the target address (u32 length, bytes).
 * Rules of one kind are neighbours, so a list of one kind is one range.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "bcc.h"
#include "maptext.h"
#include "private.h"

#define BCC_KEY_MAX	(1 + STORE_ADDRESS_MAX)
/* Postfix's recipient_delimiter as vellum resolves user+ext (DESIGN.md). */
#define BCC_DELIM	'+'

static int	bcc_kind_ok(enum store_bcc_kind);
static size_t	bcc_key_make(enum store_bcc_kind, const char *norm,
		    char *buf);
static int	bcc_decode(const MDB_val *, const MDB_val *,
		    struct store_bcc *);
static int	bcc_put(struct store_txn *, const struct store_bcc *,
		    int replace);
static int	bcc_get_norm(struct store_txn *, enum store_bcc_kind,
		    const char *norm, struct store_bcc *);
static int	bcc_err_prefix(const char *);
static int	bcc_one_at(const char *, const char *);
static int	bcc_target_normalize(const char *, char *);
static int	bcc_map_line(enum store_bcc_kind, char *line,
		    struct store_bcc_entry *);
static int	bcc_map_add(char *, unsigned, void *);

/* "PREFIX: " before the current error's message; -1 INVALID. */
static int
bcc_err_prefix(const char *prefix)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", err_msg());
	return err_set(ERR_INVALID, "%s: %s", prefix, msg);
}

const char *
store_bcc_kind_name(enum store_bcc_kind kind)
{
	switch (kind) {
	case STORE_BCC_SENDER:
		return "sender";
	case STORE_BCC_RECIPIENT:
		return "recipient";
	case STORE_BCC_ALL:
		return "all";
	}
	return "?";
}

static int
bcc_kind_ok(enum store_bcc_kind kind)
{
	return kind == STORE_BCC_SENDER || kind == STORE_BCC_RECIPIENT ||
	    kind == STORE_BCC_ALL;
}

int
store_bcc_key_normalize(enum store_bcc_kind kind, const char *in, char *buf)
{
	if (!bcc_kind_ok(kind))
		return err_set(ERR_INVALID, "unknown BCC rule kind %d",
		    (int)kind);
	if (kind == STORE_BCC_ALL) {
		if (in != NULL && in[0] != '\0')
			return err_set(ERR_INVALID, "a BCC rule for all mail "
			    "has no address ('%s')", in);
		buf[0] = '\0';
		return 0;
	}
	if (in == NULL || in[0] == '\0')
		return err_set(ERR_INVALID, "a %s BCC rule needs an address "
		    "or @domain", store_bcc_kind_name(kind));
	if (strchr(in, '@') == NULL)
		return err_set(ERR_INVALID, "'%s' is not an address or "
		    "@domain (a bare local part is Postfix's form for its own "
		    "domains: write user@domain)", in);
	if (store_address_normalize(in, buf, 1) == -1)
		return -1;
	return bcc_one_at(in, buf);
}

/*
 * store_address_normalize() splits at the last '@' and lets an unquoted
 * local part hold another: "a@b@c" is no mail address a map means.
 */
static int
bcc_one_at(const char *in, const char *norm)
{
	if (strchr(norm, '@') != strrchr(norm, '@'))
		return err_set(ERR_INVALID, "'%s' is not an address (more "
		    "than one '@')", in);
	return 0;
}

static int
bcc_target_normalize(const char *in, char *buf)
{
	if (store_address_normalize(in, buf, 0) == -1)
		return -1;
	return bcc_one_at(in, buf);
}

/* The table key for an already normalised address: its length. */
static size_t
bcc_key_make(enum store_bcc_kind kind, const char *norm, char *buf)
{
	size_t n = strlen(norm);

	buf[0] = (char)kind;
	memcpy(buf + 1, norm, n);
	return 1 + n;
}

static int
bcc_decode(const MDB_val *k, const MDB_val *v, struct store_bcc *r)
{
	const char *kp = k->mv_data;
	struct unpack u;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (k->mv_size < 1 || k->mv_size > BCC_KEY_MAX ||
	    !bcc_kind_ok((enum store_bcc_kind)kp[0]) ||
	    memchr(kp, '\0', k->mv_size) != NULL)
		return err_set(ERR_CORRUPT, "BCC rule with a damaged key "
		    "(run vellumctl store check)");
	r->kind = (enum store_bcc_kind)kp[0];
	n = k->mv_size - 1;
	if ((r->kind == STORE_BCC_ALL) != (n == 0) ||
	    (n > 0 && memchr(kp + 1, '@', n) == NULL))
		return err_set(ERR_CORRUPT, "BCC rule with a damaged key "
		    "(run vellumctl store check)");
	memcpy(r->key, kp + 1, n);
	r->key[n] = '\0';
	unpack_init(&u, v);
	unpack_str(&u, r->target, sizeof(r->target));
	if (!u.bad && (u.left != 0 || strchr(r->target, '@') == NULL ||
	    r->target[0] == '@' ||
	    strchr(r->target, '@') != strrchr(r->target, '@')))
		u.bad = 1;
	return unpack_done(&u, "BCC rule") == -1 ? -1 : 1;
}

static int
bcc_put(struct store_txn *t, const struct store_bcc *b, int replace)
{
	char norm[STORE_ADDRESS_MAX + 1], target[STORE_ADDRESS_MAX + 1];
	char key[BCC_KEY_MAX];
	struct store_bcc old;
	struct pack p;
	size_t kl;
	int rc;

	if (store_bcc_key_normalize(b->kind, b->key, norm) == -1)
		return -1;
	if (bcc_target_normalize(b->target, target) == -1)
		return bcc_err_prefix("BCC target");
	if (t->st->no_bcc)
		return err_set(ERR_PERM, "the store is read-only");
	if ((rc = bcc_get_norm(t, b->kind, norm, &old)) == -1)
		return -1;
	if (rc == 1 && strcmp(old.target, target) == 0)
		return replace ? 1 : 0;
	if (rc == 1 && !replace)
		return err_set(ERR_EXISTS, "the %s BCC rule%s%s already copies "
		    "to %s (delete that rule first)",
		    store_bcc_kind_name(b->kind), norm[0] != '\0' ? " for " :
		    "", norm, old.target);
	kl = bcc_key_make(b->kind, norm, key);
	pack_init(&p);
	pack_str(&p, target);
	rc = sdb_put(t, DB_BCC, key, kl, p.buf, p.len, 0);
	pack_free(&p);
	return rc == -1 ? -1 : 1;
}

int
store_bcc_add(struct store_txn *t, const struct store_bcc *b)
{
	return bcc_put(t, b, 0);
}

int
store_bcc_set(struct store_txn *t, const struct store_bcc *b)
{
	return bcc_put(t, b, 1);
}

int
store_bcc_del(struct store_txn *t, enum store_bcc_kind kind, const char *key)
{
	char norm[STORE_ADDRESS_MAX + 1], k[BCC_KEY_MAX];
	size_t kl;

	if (store_bcc_key_normalize(kind, key, norm) == -1)
		return -1;
	if (t->st->no_bcc)
		return 0;
	kl = bcc_key_make(kind, norm, k);
	return sdb_del(t, DB_BCC, k, kl);
}

static int
bcc_get_norm(struct store_txn *t, enum store_bcc_kind kind, const char *norm,
    struct store_bcc *r)
{
	char k[BCC_KEY_MAX];
	MDB_val kv, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (t->st->no_bcc)
		return 0;
	kv.mv_size = bcc_key_make(kind, norm, k);
	kv.mv_data = k;
	if ((rc = sdb_get(t, DB_BCC, k, kv.mv_size, &v)) != 1)
		return rc;
	return bcc_decode(&kv, &v, r);
}

int
store_bcc_get(struct store_txn *t, enum store_bcc_kind kind, const char *key,
    struct store_bcc *r)
{
	char norm[STORE_ADDRESS_MAX + 1];

	memset(r, 0, sizeof(*r));
	if (store_bcc_key_normalize(kind, key, norm) == -1)
		return -1;
	return bcc_get_norm(t, kind, norm, r);
}

int
store_bcc_list(struct store_txn *t, enum store_bcc_kind kind,
    store_bcc_fn *fn, void *ctx)
{
	struct store_bcc r;
	MDB_cursor *c;
	MDB_val k, v;
	char first;
	int rc, ret = 0;

	if (kind != 0 && !bcc_kind_ok(kind))
		return err_set(ERR_INVALID, "unknown BCC rule kind %d",
		    (int)kind);
	if (t->st->no_bcc)
		return 0;
	if (sdb_cursor(t, DB_BCC, &c) == -1)
		return -1;
	first = (char)kind;
	k.mv_size = 1;
	k.mv_data = &first;
	for (rc = mdb_cursor_get(c, &k, &v, kind != 0 ? MDB_SET_RANGE :
	    MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (kind != 0 && (k.mv_size < 1 ||
		    ((const char *)k.mv_data)[0] != (char)kind))
			break;
		if (bcc_decode(&k, &v, &r) == -1 || fn(&r, ctx) == -1) {
			ret = -1;
			break;
		}
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = sdb_error(t, rc, "bcc");
	mdb_cursor_close(c);
	return ret;
}

long
store_bcc_clear(struct store_txn *t, enum store_bcc_kind kind)
{
	char first = (char)kind;

	if (!bcc_kind_ok(kind))
		return err_set(ERR_INVALID, "unknown BCC rule kind %d",
		    (int)kind);
	if (t->st->no_bcc)
		return 0;
	return sdb_del_prefix(t, DB_BCC, &first, 1, "bcc");
}

int
store_bcc_lookup(struct store_txn *t, enum store_bcc_kind kind,
    const char *addr, struct store_bcc *r)
{
	char norm[STORE_ADDRESS_MAX + 1], base[STORE_ADDRESS_MAX + 1];
	char *at, *plus;
	int rc;

	memset(r, 0, sizeof(*r));
	if (kind == STORE_BCC_ALL)
		return bcc_get_norm(t, kind, "", r);
	/* <> and what is not an address have no rule: the mail goes on. */
	if (!bcc_kind_ok(kind) || addr == NULL || strchr(addr, '@') == NULL ||
	    store_address_normalize(addr, norm, 0) == -1) {
		err_clear();
		return 0;
	}
	if ((rc = bcc_get_norm(t, kind, norm, r)) != 0)
		return rc;
	at = strrchr(norm, '@');
	/* user+ext@domain: then user@domain (not for "+ext@domain") */
	plus = memchr(norm, BCC_DELIM, (size_t)(at - norm));
	if (plus != NULL && plus > norm) {
		snprintf(base, sizeof(base), "%.*s%s", (int)(plus - norm),
		    norm, at);
		if ((rc = bcc_get_norm(t, kind, base, r)) != 0)
			return rc;
	}
	return bcc_get_norm(t, kind, at, r);
}

/* The map text ---------------------------------------------------------- */

struct bcc_map_ctx {
	enum store_bcc_kind	 kind;
	struct store_bcc_map	*map;
};

/*
 * One logical line: "key value", in place.  0 a rule in e, 1 nothing
 * (blank), -1 INVALID saying what is wrong.
 */
static int
bcc_map_line(enum store_bcc_kind kind, char *line, struct store_bcc_entry *e)
{
	char *words[3];
	size_t n;

	if ((n = store_map_words(line, words, 3)) == 0)
		return 1;
	if (n == 1)
		return err_set(ERR_INVALID, "%s has no BCC address",
		    words[0]);
	if (n > 2 || strchr(words[1], ',') != NULL)
		return err_set(ERR_INVALID, "%s: one BCC address per key "
		    "(Postfix takes the lookup result as one address)",
		    words[0]);
	if (store_bcc_key_normalize(kind, words[0], e->key) == -1)
		return words[0][0] != '\0' && strchr(words[0], '@') != NULL ?
		    bcc_err_prefix(words[0]) : -1;
	if (bcc_target_normalize(words[1], e->target) == -1)
		return bcc_err_prefix(e->key);
	return 0;
}

/* store_map_read()'s callback: the entry, marked when a duplicate. */
static int
bcc_map_add(char *line, unsigned lineno, void *arg)
{
	struct bcc_map_ctx *mc = arg;
	struct store_bcc_map *map = mc->map;
	struct store_bcc_entry e;
	size_t i;
	int rc;

	memset(&e, 0, sizeof(e));
	e.lineno = lineno;
	if ((rc = bcc_map_line(mc->kind, line, &e)) != 0)
		return rc == -1 ? -1 : 0;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->e[i].key, e.key) == 0 &&
		    map->e[i].dup_of == 0) {
			e.dup_of = map->e[i].lineno;
			break;
		}
	map->e = xreallocarray(map->e, map->n + 1, sizeof(*map->e));
	map->e[map->n++] = e;
	return 0;
}

int
store_bcc_map_parse(enum store_bcc_kind kind, const char *text, size_t len,
    struct store_bcc_map *map, unsigned *line_r)
{
	struct bcc_map_ctx mc;

	memset(map, 0, sizeof(*map));
	if (line_r != NULL)
		*line_r = 0;
	if (kind != STORE_BCC_SENDER && kind != STORE_BCC_RECIPIENT)
		return err_set(ERR_INVALID, "a BCC map is of sender or "
		    "recipient rules");
	mc.kind = kind;
	mc.map = map;
	if (store_map_read(text, len, bcc_map_add, &mc, line_r) == -1) {
		store_bcc_map_free(map);
		return -1;
	}
	return 0;
}

void
store_bcc_map_free(struct store_bcc_map *map)
{
	free(map->e);
	map->e = NULL;
	map->n = 0;
}

/* The check: every row decodes. */
int
bcc_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	struct store_bcc r;
	char buf[600];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (t->st->no_bcc)
		return 0;
	if (sdb_cursor(t, DB_BCC, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (bcc_decode(&k, &v, &r) == -1) {
			snprintf(buf, sizeof(buf), "bcc: %s", err_msg());
			report(ctx, buf);
		}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "bcc");
	return 0;
}
