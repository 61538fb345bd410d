/*
 * aclmap.c - the black and white lists as Postfix access(5) text (see
 * acl.h): `vellumctl acl import` reads it, `acl export` writes it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "acl.h"
#include "maptext.h"

struct aclmap_ctx {
	enum store_acl_map_kind	 kind;
	struct store_acl_map	*map;
};

static int	aclmap_key(enum store_acl_map_kind, const char *,
		    struct store_acl *);
static int	aclmap_octets(const char *, char *, size_t);
static int	aclmap_action(const char *key, const char *act,
		    const char *text, struct store_acl *);
static int	aclmap_line(char *, unsigned, void *);

const char *
store_acl_map_name(enum store_acl_map_kind kind)
{
	switch (kind) {
	case STORE_ACL_MAP_CLIENT:
		return "client";
	case STORE_ACL_MAP_SENDER:
		return "sender";
	case STORE_ACL_MAP_RECIPIENT:
		return "recipient";
	}
	return "?";
}

int
store_acl_map_has(enum store_acl_map_kind map, enum store_acl_kind kind)
{
	switch (map) {
	case STORE_ACL_MAP_CLIENT:
		return kind == STORE_ACL_IP || kind == STORE_ACL_NET;
	case STORE_ACL_MAP_SENDER:
		return kind == STORE_ACL_SENDER || kind == STORE_ACL_DOMAIN;
	case STORE_ACL_MAP_RECIPIENT:
		return kind == STORE_ACL_RECIPIENT;
	}
	return 0;
}

/*
 * Postfix's "net.work.addr" keys of a client table: one to three decimal
 * octets are the /8, /16 or /24 network.  1 (the CIDR in buf), 0 not
 * that form.
 */
static int
aclmap_octets(const char *s, char *buf, size_t size)
{
	unsigned o[3], n = 0;
	const char *p = s;
	char *end;
	unsigned long v;

	while (n < 3) {
		if (!isdigit((unsigned char)*p))
			return 0;
		v = strtoul(p, &end, 10);
		if (v > 255 || end - p > 3)
			return 0;
		o[n++] = (unsigned)v;
		p = end;
		if (*p == '\0')
			break;
		if (*p++ != '.')
			return 0;
	}
	if (*p != '\0')
		return 0;
	snprintf(buf, size, "%u.%u.%u.0/%u", o[0], n > 1 ? o[1] : 0,
	    n > 2 ? o[2] : 0, 8 * n);
	return 1;
}

/* The entry's kind and value from a key of a map kind.  0, or -1. */
static int
aclmap_key(enum store_acl_map_kind mk, const char *key, struct store_acl *a)
{
	char buf[STORE_ADDRESS_MAX + 1], tmp[64];
	size_t n = strlen(key);
	uint8_t bin[16];

	switch (mk) {
	case STORE_ACL_MAP_CLIENT:
		if (n > 2 && key[0] == '[' && key[n - 1] == ']' &&
		    n - 2 < sizeof(tmp)) {
			memcpy(tmp, key + 1, n - 2);
			tmp[n - 2] = '\0';
			key = tmp;
		}
		if (strchr(key, '/') != NULL)
			a->kind = STORE_ACL_NET;
		else if (inet_pton(AF_INET, key, bin) == 1 ||
		    inet_pton(AF_INET6, key, bin) == 1)
			a->kind = STORE_ACL_IP;
		else if (aclmap_octets(key, buf, sizeof(buf))) {
			a->kind = STORE_ACL_NET;
			key = buf;
		} else
			return err_set(ERR_INVALID, "'%s' is not an IP address "
			    "or network (vellum looks up no host names: write "
			    "an address, ADDRESS/LENGTH or ADDRESS/MASK)", key);
		break;
	case STORE_ACL_MAP_SENDER:
		if (n > 1 && key[n - 1] == '@')
			a->kind = STORE_ACL_SENDER;
		else if (key[0] == '@' || strchr(key, '@') == NULL)
			a->kind = STORE_ACL_DOMAIN;
		else
			a->kind = STORE_ACL_SENDER;
		break;
	case STORE_ACL_MAP_RECIPIENT:
		if (strchr(key, '@') == NULL || key[0] == '@' ||
		    key[n - 1] == '@')
			return err_set(ERR_INVALID, "'%s': a recipient table "
			    "takes whole addresses (user@domain) only", key);
		a->kind = STORE_ACL_RECIPIENT;
		break;
	}
	return store_acl_normalize(a->kind, key, a->value);
}

/* The action (and its text) of a line.  0, or -1. */
static int
aclmap_action(const char *key, const char *act, const char *text,
    struct store_acl *a)
{
	size_t i, n = strlen(act), tl;

	for (i = 0; i < n && isdigit((unsigned char)act[i]); i++)
		;
	if (strcasecmp(act, "OK") == 0 || (i == n && !(n == 3 &&
	    (act[0] == '4' || act[0] == '5')))) {
		/* an all-numerical result is OK, as in Postfix */
		if (text[0] != '\0')
			return err_set(ERR_INVALID, "%s: OK takes no text "
			    "('%s')", key, text);
		a->list = STORE_ACL_WHITE;
		return 0;
	}
	a->list = STORE_ACL_BLACK;
	if (strcasecmp(act, "REJECT") == 0)
		a->action = STORE_ACL_REJECT;
	else if (strcasecmp(act, "DISCARD") == 0)
		a->action = STORE_ACL_DISCARD;
	else if (n == 3 && i == 3 && act[0] == '5') {
		a->action = STORE_ACL_REJECT;
		a->code = (unsigned)atoi(act);
		/* our reply has its own 5.7.1: an enhanced code goes */
		if (text[0] == '5' && text[1] == '.' &&
		    isdigit((unsigned char)text[2]) &&
		    (tl = strspn(text + 2, "0123456789.")) > 0 &&
		    (text[2 + tl] == ' ' || text[2 + tl] == '\0'))
			text += 2 + tl + (text[2 + tl] == ' ');
	} else if (n == 3 && i == 3)
		return err_set(ERR_INVALID, "%s: '%s' (a temporary refusal) "
		    "is not supported: use REJECT or 5XX text, or remove the "
		    "line", key, act);
	else
		return err_set(ERR_INVALID, "%s: '%s' is not an action vellum "
		    "takes (OK, REJECT [text], 5XX text, DISCARD [text]): "
		    "change or remove the line", key, act);
	if (strlen(text) > STORE_ACL_TEXT_MAX)
		return err_set(ERR_INVALID, "%s: the text is longer than %d "
		    "characters", key, STORE_ACL_TEXT_MAX);
	snprintf(a->text, sizeof(a->text), "%s", text);
	return 0;
}

/* store_map_read()'s callback: one "key action [text]" line. */
static int
aclmap_line(char *line, unsigned lineno, void *arg)
{
	struct aclmap_ctx *mc = arg;
	struct store_acl_map *map = mc->map;
	struct store_acl_entry e;
	char *w[3];
	size_t n, i;

	if ((n = store_map_words(line, w, 3)) == 0)
		return 0;
	if (n == 1)
		return err_set(ERR_INVALID, "%s has no action (OK, REJECT, "
		    "DISCARD)", w[0]);
	memset(&e, 0, sizeof(e));
	e.lineno = lineno;
	if (aclmap_key(mc->kind, w[0], &e.acl) == -1 ||
	    aclmap_action(w[0], w[1], n > 2 ? w[2] : "", &e.acl) == -1)
		return -1;
	for (i = 0; e.acl.text[i] != '\0'; i++)
		if ((unsigned char)e.acl.text[i] < 0x20 ||
		    (unsigned char)e.acl.text[i] > 0x7e)
			return err_set(ERR_INVALID, "%s: the text is printable "
			    "ASCII only", w[0]);
	for (i = 0; i < map->n; i++)
		if (map->e[i].acl.kind == e.acl.kind && map->e[i].dup_of == 0 &&
		    strcmp(map->e[i].acl.value, e.acl.value) == 0) {
			e.dup_of = map->e[i].lineno;
			break;
		}
	map->e = xreallocarray(map->e, map->n + 1, sizeof(*map->e));
	map->e[map->n++] = e;
	return 0;
}

int
store_acl_map_parse(enum store_acl_map_kind kind, const char *text,
    size_t len, struct store_acl_map *map, unsigned *line_r)
{
	struct aclmap_ctx mc;

	memset(map, 0, sizeof(*map));
	if (line_r != NULL)
		*line_r = 0;
	if (store_acl_map_name(kind)[0] == '?')
		return err_set(ERR_INVALID, "an access table is of clients, "
		    "senders or recipients");
	mc.kind = kind;
	mc.map = map;
	if (store_map_read(text, len, aclmap_line, &mc, line_r) == -1) {
		store_acl_map_free(map);
		return -1;
	}
	return 0;
}

void
store_acl_map_free(struct store_acl_map *map)
{
	free(map->e);
	map->e = NULL;
	map->n = 0;
}

void
store_acl_map_format(const struct store_acl *a, char *buf, size_t size)
{
	const char *sp = a->text[0] != '\0' ? " " : "";

	if (a->list == STORE_ACL_WHITE)
		snprintf(buf, size, "%s\tOK", a->value);
	else if (a->action == STORE_ACL_DISCARD)
		snprintf(buf, size, "%s\tDISCARD%s%s", a->value, sp, a->text);
	else if (a->code != 0)
		/* the enhanced code keeps a text that starts like one */
		snprintf(buf, size, "%s\t%u 5.7.1%s%s", a->value, a->code, sp,
		    a->text);
	else
		snprintf(buf, size, "%s\tREJECT%s%s", a->value, sp, a->text);
}
