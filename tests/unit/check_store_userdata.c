/*
 * check_store_userdata.c - the schema 4 tables: filter files
 * (store/filter.h), auto-responders (store/vacation.h), mailing lists
 * (store/list.h) and the Spam training queue (store/learn.h); their end
 * with the user or the domain, store check, and the upgrade of a
 * schema 3 store.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/addr.h"
#include "store/domain.h"
#include "store/filter.h"
#include "store/learn.h"
#include "store/list.h"
#include "store/private.h"
#include "store/vacation.h"
#include "testutil.h"

static Suite	*userdata_suite(void);

static char		*dir;
static struct store	*st;
static uint32_t		 bob, carol;

/* One call of a store function in its own transaction. */
struct call {
	uint32_t		 user;
	const char		*s1, *s2;
	const void		*data;
	size_t			 len;
	int64_t			 now;
	uint32_t		 n;
	int			 flag;
	char			*text;
	struct store_vacation	 vac;
	struct store_list	 list;
	struct store_learn	 learn;
	uint64_t		 u1, u2;
	size_t			 count;
};

#define TXN(name, body)							\
	static int							\
	name##_fn(struct store_txn *t, void *ctx)			\
	{								\
		struct call *c = ctx;					\
		(void)c;						\
		body							\
	}

TXN(filter_set, return store_filter_set(t, c->user, c->data, c->len);)
TXN(filter_get, return store_filter_get(t, c->user, &c->text, &c->len);)
TXN(vac_set, return store_vacation_set(t, c->user, &c->vac);)
TXN(vac_get, return store_vacation_get(t, c->user, &c->vac);)
TXN(vac_del, return store_vacation_delete(t, c->user);)
TXN(vac_note, return store_vacation_note(t, c->user, c->s1, c->now,
    c->n);)
TXN(list_put, return store_list_put(t, &c->list);)
TXN(list_get, return store_list_get(t, c->s1, &c->list);)
TXN(list_del, return store_list_delete(t, c->s1);)
TXN(list_member, return store_list_member(t, c->s1, c->s2, c->flag);)
TXN(learn_first, return store_learn_first(t, &c->learn);)
TXN(learn_del, return store_learn_delete(t, c->u1);)
TXN(learn_stats, return store_learn_stats(t, &c->u1, &c->u2);)
TXN(learn_add, return store_learn_add(t, c->user, 1, 1, c->flag);)
TXN(domain_del, return store_domain_del(t, c->s1);)
TXN(domain_alias, return store_domain_alias(t, c->s1, c->s2);)
TXN(addr_add, return store_addr_add(t, c->s1, &c->s2, 1);)

static int
write_call(store_txn_fn *fn, struct call *c)
{
	return store_write(st, fn, c);
}

static int
read_call(store_txn_fn *fn, struct call *c)
{
	return store_read(st, fn, c);
}

static void
setup(void)
{
	dir = tu_tmpdir("userdata");
	st = tu_open(dir);
	bob = tu_make_user(st, "bob@example.test");
	carol = tu_make_user(st, "carol@example.test");
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static void
expect_err(int rc, enum err_class want, const char *what)
{
	ck_assert_msg(rc == -1, "%s returned %d, wanted -1 (%s)", what, rc,
	    err_class_name(want));
	ck_assert_msg(err_class() == want, "%s failed with %s, wanted %s",
	    what, tu_err(), err_class_name(want));
}

static void
expect_clean(const char *what)
{
	int rc = tu_check(st);

	ck_assert_msg(rc == 0, "store check %s: %d problems: %s", what, rc,
	    tu_check_problems());
}

/* The rows of `userdata` whose key starts with user (raw count). */
struct rows {
	uint32_t	user;
	size_t		n;
};

static int
rows_fn(struct store_txn *t, void *ctx)
{
	struct rows *r = ctx;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	r->n = 0;
	if (sdb_cursor(t, DB_USERDATA, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (k.mv_size >= 4 && be32dec(k.mv_data) == r->user)
			r->n++;
	mdb_cursor_close(c);
	return 0;
}

static size_t
user_rows(uint32_t user)
{
	struct rows r = { user, 0 };

	ck_assert_int_eq(store_read(st, rows_fn, &r), 0);
	return r.n;
}

/* Filter files ----------------------------------------------------- */

static void
filter_set(uint32_t user, const char *text, size_t len, int want)
{
	struct call c = { .user = user, .data = text, .len = len };
	int rc = write_call(filter_set_fn, &c);

	ck_assert_msg(rc == want, "store_filter_set(%u, %zu bytes) returned "
	    "%d: %s", user, len, rc, tu_err());
}

/* The stored filter of user equals text[len] (NULL: none). */
static void
filter_expect(uint32_t user, const char *text, size_t len)
{
	struct call c = { .user = user };
	int rc = read_call(filter_get_fn, &c);

	if (text == NULL) {
		ck_assert_msg(rc == 0 && c.text == NULL, "user %u: a filter "
		    "where none was wanted (rc %d)", user, rc);
		return;
	}
	ck_assert_msg(rc == 1, "store_filter_get(%u) returned %d: %s", user,
	    rc, tu_err());
	ck_assert_msg(c.len == len && memcmp(c.text, text, len) == 0 &&
	    c.text[len] == '\0', "user %u: %zu bytes read, %zu stored", user,
	    c.len, len);
	free(c.text);
}

START_TEST(test_filter_roundtrip)
{
	static const char crlf[] = "if (/^X-Spam-Flag: YES/)\r\n{\r\n"
	    "  to Mail/.Spam/\r\n}\r\n";
	char *big, *small;
	size_t i;

	filter_expect(bob, NULL, 0);
	filter_set(bob, crlf, sizeof(crlf) - 1, 1);
	filter_expect(bob, crlf, sizeof(crlf) - 1);
	filter_expect(carol, NULL, 0);
	/* The global filter (user 0) is a file of its own. */
	filter_set(STORE_FILTER_GLOBAL, "exit\n", 5, 1);
	filter_expect(STORE_FILTER_GLOBAL, "exit\n", 5);
	filter_expect(bob, crlf, sizeof(crlf) - 1);

	/* Several pieces, then a shorter text: no stale piece is left. */
	big = xmalloc(3 * UD_PIECE_MAX + 17);
	for (i = 0; i < 3 * UD_PIECE_MAX + 17; i++)
		big[i] = (char)('a' + i % 26);
	filter_set(bob, big, 3 * UD_PIECE_MAX + 17, 1);
	filter_expect(bob, big, 3 * UD_PIECE_MAX + 17);
	small = "to $DEFAULT\n";
	filter_set(bob, small, strlen(small), 1);
	filter_expect(bob, small, strlen(small));
	ck_assert_uint_eq(user_rows(bob), 1);
	expect_clean("with filters");

	/* Exactly the limit is fine; one byte more is not. */
	big = xreallocarray(big, STORE_FILTER_MAX + 1, 1);
	memset(big, '#', STORE_FILTER_MAX + 1);
	filter_set(carol, big, STORE_FILTER_MAX, 1);
	filter_expect(carol, big, STORE_FILTER_MAX);
	free(big);

	/* len 0 deletes. */
	filter_set(bob, "", 0, 1);
	filter_expect(bob, NULL, 0);
	ck_assert_uint_eq(user_rows(bob), 0);
	expect_clean("after deleting a filter");
}
END_TEST

START_TEST(test_filter_refused)
{
	struct call c = { .user = bob };
	char *big;

	big = xmalloc(STORE_FILTER_MAX + 1);
	memset(big, '#', STORE_FILTER_MAX + 1);
	c.data = big;
	c.len = STORE_FILTER_MAX + 1;
	expect_err(write_call(filter_set_fn, &c), ERR_INVALID,
	    "a filter over STORE_FILTER_MAX");
	free(big);
	c.data = "to a\0b\n";
	c.len = 7;
	expect_err(write_call(filter_set_fn, &c), ERR_INVALID,
	    "a filter with a NUL byte");
	c.user = 9999;
	c.data = "exit\n";
	c.len = 5;
	expect_err(write_call(filter_set_fn, &c), ERR_NOTFOUND,
	    "a filter of a missing user");
	filter_expect(bob, NULL, 0);
}
END_TEST

/* Auto-responders -------------------------------------------------- */

static int
vac_note(uint32_t user, const char *sender, int64_t now, uint32_t days)
{
	struct call c = { .user = user, .s1 = sender, .now = now, .n = days };
	int rc = write_call(vac_note_fn, &c);

	ck_assert_msg(rc != -1, "store_vacation_note(%s) failed: %s", sender,
	    tu_err());
	return rc;
}

static void
vac_set(uint32_t user, int enabled, const char *subject, const char *body,
    uint32_t days)
{
	struct call c = { .user = user };
	int rc;

	c.vac.enabled = enabled;
	snprintf(c.vac.subject, sizeof(c.vac.subject), "%s", subject);
	c.vac.body = (char *)body;
	c.vac.interval_days = days;
	rc = write_call(vac_set_fn, &c);
	ck_assert_msg(rc == 1, "store_vacation_set returned %d: %s", rc,
	    tu_err());
}

START_TEST(test_vacation_roundtrip)
{
	struct call c = { .user = bob };
	char *body;

	ck_assert_int_eq(read_call(vac_get_fn, &c), 0);
	body = xmalloc(STORE_VACATION_BODY_MAX + 1);
	memset(body, 'x', STORE_VACATION_BODY_MAX);
	body[STORE_VACATION_BODY_MAX] = '\0';
	c.vac.enabled = 1;
	c.vac.start = 1700000000;
	c.vac.end = 1700086400;
	snprintf(c.vac.subject, sizeof(c.vac.subject), "Away: =?UTF-8?Q?"
	    "f=C3=A9rias?=");
	c.vac.body = body;
	ck_assert_msg(write_call(vac_set_fn, &c) == 1, "set: %s", tu_err());
	memset(&c.vac, 0, sizeof(c.vac));
	ck_assert_int_eq(read_call(vac_get_fn, &c), 1);
	ck_assert_int_eq(c.vac.enabled, 1);
	ck_assert_int_eq(c.vac.start, 1700000000);
	ck_assert_int_eq(c.vac.end, 1700086400);
	ck_assert_uint_eq(c.vac.interval_days, 7);	/* 0: the default */
	ck_assert_str_eq(c.vac.subject, "Away: =?UTF-8?Q?f=C3=A9rias?=");
	ck_assert_str_eq(c.vac.body, body);
	store_vacation_clear(&c.vac);
	ck_assert_ptr_null(c.vac.body);
	free(body);
	expect_clean("with an auto-reply");

	/* Refused. */
	vac_set(bob, 1, "Away", "back soon", 3);
	c.vac.enabled = 1;
	snprintf(c.vac.subject, sizeof(c.vac.subject), "Away\r\nBcc: x@y");
	c.vac.body = "hi";
	expect_err(write_call(vac_set_fn, &c), ERR_INVALID, "a subject with "
	    "a line break");
	snprintf(c.vac.subject, sizeof(c.vac.subject), "Away");
	c.vac.interval_days = 366;
	expect_err(write_call(vac_set_fn, &c), ERR_INVALID, "366 days");
	c.vac.interval_days = 1;
	c.vac.start = 200;
	c.vac.end = 100;
	expect_err(write_call(vac_set_fn, &c), ERR_INVALID, "end < start");
	c.vac.start = c.vac.end = 0;
	body = xmalloc(STORE_VACATION_BODY_MAX + 2);
	memset(body, 'x', STORE_VACATION_BODY_MAX + 1);
	body[STORE_VACATION_BODY_MAX + 1] = '\0';
	c.vac.body = body;
	expect_err(write_call(vac_set_fn, &c), ERR_INVALID, "a body too big");
	free(body);
	c.vac.body = "hi";
	c.user = 9999;
	expect_err(write_call(vac_set_fn, &c), ERR_NOTFOUND, "a missing user");
	/* Nothing of that changed what was stored. */
	c.user = bob;
	memset(&c.vac, 0, sizeof(c.vac));
	ck_assert_int_eq(read_call(vac_get_fn, &c), 1);
	ck_assert_str_eq(c.vac.subject, "Away");
	ck_assert_str_eq(c.vac.body, "back soon");
	ck_assert_uint_eq(c.vac.interval_days, 3);
	store_vacation_clear(&c.vac);

	/* Delete: 1 then 0, senders gone too. */
	ck_assert_int_eq(vac_note(bob, "x@far.test", 1000, 0), 1);
	ck_assert_int_eq(write_call(vac_del_fn, &c), 1);
	ck_assert_int_eq(write_call(vac_del_fn, &c), 0);
	ck_assert_int_eq(read_call(vac_get_fn, &c), 0);
	ck_assert_uint_eq(user_rows(bob), 0);
}
END_TEST

START_TEST(test_vacation_note)
{
	const int64_t day = 86400, t0 = 1700000000;

	vac_set(bob, 1, "Away", "back soon", 7);
	ck_assert_int_eq(vac_note(bob, "Alice@Far.Test", t0, 7), 1);
	/* The same sender in any case, within the interval: no reply. */
	ck_assert_int_eq(vac_note(bob, "alice@far.test", t0 + 1, 7), 0);
	ck_assert_int_eq(vac_note(bob, "<ALICE@FAR.TEST>", t0 + 7 * day - 1,
	    7), 0);
	/* Other senders and other users are apart. */
	ck_assert_int_eq(vac_note(bob, "dave@far.test", t0 + 2, 7), 1);
	ck_assert_int_eq(vac_note(carol, "alice@far.test", t0 + 3, 7), 1);
	/* Once the interval has passed, one more reply. */
	ck_assert_int_eq(vac_note(bob, "alice@far.test", t0 + 7 * day, 7), 1);
	ck_assert_int_eq(vac_note(bob, "alice@far.test", t0 + 8 * day, 7), 0);
	/* A shorter interval given by the caller counts. */
	ck_assert_int_eq(vac_note(bob, "alice@far.test", t0 + 8 * day, 1), 1);
	expect_clean("after notes");

	/* Disabling and enabling again starts afresh. */
	vac_set(bob, 0, "Away", "back soon", 7);
	ck_assert_int_eq(vac_note(bob, "dave@far.test", t0 + 3, 7), 0);
	vac_set(bob, 1, "Away", "back soon", 7);
	ck_assert_int_eq(vac_note(bob, "dave@far.test", t0 + 4, 7), 1);
	/* A change of text while enabled does not. */
	vac_set(bob, 1, "Away again", "back later", 7);
	ck_assert_int_eq(vac_note(bob, "dave@far.test", t0 + 5, 7), 0);

	{
		struct call c = { .user = bob, .s1 = "not an address",
		    .now = t0 };

		expect_err(write_call(vac_note_fn, &c), ERR_INVALID,
		    "a note of a sender that is no address");
		c.user = 9999;
		c.s1 = "a@b.test";
		expect_err(write_call(vac_note_fn, &c), ERR_NOTFOUND,
		    "a note for a missing user");
	}
}
END_TEST

/* Many notes in one transaction: senders s0..s(n-1) at t0 + i. */
static int
many_notes_fn(struct store_txn *t, void *ctx)
{
	struct call *c = ctx;
	char s[64];
	uint32_t i;

	for (i = 0; i < c->n; i++) {
		snprintf(s, sizeof(s), "s%u@far.test", i);
		if (store_vacation_note(t, c->user, s, c->now + i, 7) != 1)
			return -1;
	}
	return 0;
}

START_TEST(test_vacation_senders_cap)
{
	struct call c = { .user = bob, .now = 1700000000,
	    .n = STORE_VACATION_SENDERS_MAX + 2 };

	ck_assert_msg(write_call(many_notes_fn, &c) == 0, "notes: %s",
	    tu_err());
	/* Two rows per sender and the count: s0 and s1 were forgotten. */
	ck_assert_uint_eq(user_rows(bob), 2 * STORE_VACATION_SENDERS_MAX + 1);
	ck_assert_int_eq(vac_note(bob, "s0@far.test", c.now + 100000, 7), 1);
	ck_assert_int_eq(vac_note(bob, "s3@far.test", c.now + 100000, 7), 0);
	ck_assert_int_eq(vac_note(bob, "s10001@far.test", c.now + 100000, 7),
	    0);
	/* s0 came back and pushed s2 out; s2 coming back pushes s3. */
	ck_assert_int_eq(vac_note(bob, "s2@far.test", c.now + 100000, 7), 1);
	ck_assert_int_eq(vac_note(bob, "s4@far.test", c.now + 100000, 7), 0);
	ck_assert_int_eq(vac_note(bob, "s3@far.test", c.now + 100000, 7), 1);
	ck_assert_uint_eq(user_rows(bob), 2 * STORE_VACATION_SENDERS_MAX + 1);
	expect_clean("at the senders' cap");
}
END_TEST

/* Mailing lists ---------------------------------------------------- */

static void
list_fill(struct store_list *l, const char *addr, const char *const *m,
    size_t n)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->nmembers = n;
	l->members = n > 0 ? xcalloc(n, sizeof(*l->members)) : NULL;
	for (i = 0; i < n; i++)
		snprintf(l->members[i], sizeof(l->members[i]), "%s", m[i]);
}

static int
list_put(struct store_list *l)
{
	struct call c = { 0 };
	int rc;

	c.list = *l;
	rc = write_call(list_put_fn, &c);
	store_list_clear(l);
	return rc;
}

START_TEST(test_list_roundtrip)
{
	static const char *const m[] = { "Zed@Far.Test", "bob@example.test",
	    "zed@far.test", "<amy@far.test>" };
	struct store_list l;
	struct call c = { .s1 = "Team@Example.Test" };

	list_fill(&l, "Team@Example.Test", m, 4);
	l.flags = STORE_LIST_MEMBERS_ONLY;
	snprintf(l.name, sizeof(l.name), "The team");
	snprintf(l.owner, sizeof(l.owner), "Bob@Example.Test");
	ck_assert_msg(list_put(&l) == 1, "list_put: %s", tu_err());
	ck_assert_int_eq(read_call(list_get_fn, &c), 1);
	ck_assert_str_eq(c.list.addr, "team@example.test");
	ck_assert_uint_eq(c.list.flags, STORE_LIST_MEMBERS_ONLY);
	ck_assert_str_eq(c.list.name, "The team");
	ck_assert_str_eq(c.list.owner, "bob@example.test");
	/* Normalised, sorted, each once. */
	ck_assert_uint_eq(c.list.nmembers, 3);
	ck_assert_str_eq(c.list.members[0], "amy@far.test");
	ck_assert_str_eq(c.list.members[1], "bob@example.test");
	ck_assert_str_eq(c.list.members[2], "zed@far.test");
	store_list_clear(&c.list);
	expect_clean("with a list");

	/* Replace: settings and members. */
	list_fill(&l, "team@example.test", m + 1, 1);
	l.flags = STORE_LIST_REPLY_TO;
	ck_assert_int_eq(list_put(&l), 1);
	ck_assert_int_eq(read_call(list_get_fn, &c), 1);
	ck_assert_uint_eq(c.list.flags, STORE_LIST_REPLY_TO);
	ck_assert_str_eq(c.list.name, "");
	ck_assert_str_eq(c.list.owner, "");
	ck_assert_uint_eq(c.list.nmembers, 1);
	store_list_clear(&c.list);

	/* Members one at a time. */
	c.s2 = "New@Far.Test";
	c.flag = 1;
	ck_assert_int_eq(write_call(list_member_fn, &c), 1);
	ck_assert_int_eq(write_call(list_member_fn, &c), 0);
	c.flag = 0;
	c.s2 = "bob@example.test";
	ck_assert_int_eq(write_call(list_member_fn, &c), 1);
	ck_assert_int_eq(write_call(list_member_fn, &c), 0);
	ck_assert_int_eq(read_call(list_get_fn, &c), 1);
	ck_assert_uint_eq(c.list.nmembers, 1);
	ck_assert_str_eq(c.list.members[0], "new@far.test");
	store_list_clear(&c.list);
	c.s1 = "nolist@example.test";
	c.flag = 1;
	expect_err(write_call(list_member_fn, &c), ERR_NOTFOUND,
	    "a member of a missing list");

	/* Delete: 1 then 0, no member rows left. */
	c.s1 = "team@example.test";
	ck_assert_int_eq(write_call(list_del_fn, &c), 1);
	ck_assert_int_eq(write_call(list_del_fn, &c), 0);
	ck_assert_int_eq(read_call(list_get_fn, &c), 0);
	expect_clean("after deleting a list");
}
END_TEST

START_TEST(test_list_refused)
{
	static const char *const bad[] = { "a@far.test", "not an address" };
	struct store_list l;
	struct call c = { 0 };

	list_fill(&l, "team@nowhere.test", NULL, 0);
	expect_err(list_put(&l), ERR_NOTFOUND, "a list in a foreign domain");
	ck_assert_int_eq(tu_domain_add(st, "other.test"), 1);
	c.s1 = "alias.test";
	c.s2 = "example.test";
	ck_assert_int_eq(write_call(domain_alias_fn, &c), 1);
	list_fill(&l, "team@alias.test", NULL, 0);
	expect_err(list_put(&l), ERR_NOTFOUND, "a list in an alias domain");
	/* An address route or a login has the address. */
	c.s1 = "info@example.test";
	c.s2 = "bob@example.test";
	ck_assert_int_eq(write_call(addr_add_fn, &c), 1);
	list_fill(&l, "Info@example.test", NULL, 0);
	expect_err(list_put(&l), ERR_EXISTS, "a list over a route");
	list_fill(&l, "carol@example.test", NULL, 0);
	expect_err(list_put(&l), ERR_EXISTS, "a list over a login");
	list_fill(&l, "team@example.test", bad, 2);
	expect_err(list_put(&l), ERR_INVALID, "a member that is no address");
	list_fill(&l, "team@example.test", NULL, 0);
	snprintf(l.name, sizeof(l.name), "Team\r\nBcc: x@y");
	expect_err(list_put(&l), ERR_INVALID, "a name with a line break");
	list_fill(&l, "team@example.test", NULL, 0);
	l.flags = 0x80;
	expect_err(list_put(&l), ERR_INVALID, "unknown flags");
	list_fill(&l, "team@example.test", NULL, 0);
	l.nmembers = STORE_LIST_MEMBERS_MAX + 1;
	expect_err(list_put(&l), ERR_LIMIT, "too many members");

	/* The other way: no route, no user where a list is. */
	list_fill(&l, "team@example.test", bad, 1);
	ck_assert_int_eq(list_put(&l), 1);
	c.s1 = "TEAM@example.test";
	c.s2 = "bob@example.test";
	expect_err(write_call(addr_add_fn, &c), ERR_EXISTS, "a route over a "
	    "list");
	ck_assert_msg(strstr(err_msg(), "mailing list") != NULL, "the error "
	    "says why: %s", err_msg());
	expect_err(tu_user_add(st, "team@example.test", NULL, 0, 0, &c.n),
	    ERR_EXISTS, "a user over a list");
	/* A list cannot be made an alias domain's list by conversion. */
	ck_assert_int_eq(tu_domain_add(st, "lists.test"), 1);
	list_fill(&l, "x@lists.test", NULL, 0);
	ck_assert_int_eq(list_put(&l), 1);
	c.s1 = "lists.test";
	c.s2 = "example.test";
	expect_err(write_call(domain_alias_fn, &c), ERR_INUSE, "aliasing a "
	    "domain with lists");
	expect_clean("after refusals");
}
END_TEST

static int
full_list_fn(struct store_txn *t, void *ctx)
{
	struct store_list *l = ctx;

	return store_list_put(t, l);
}

START_TEST(test_list_members_cap)
{
	struct store_list l;
	struct call c = { .s1 = "big@example.test", .s2 = "one@more.test",
	    .flag = 1 };
	size_t i;

	list_fill(&l, "big@example.test", NULL, 0);
	l.nmembers = STORE_LIST_MEMBERS_MAX;
	l.members = xcalloc(l.nmembers, sizeof(*l.members));
	for (i = 0; i < l.nmembers; i++)
		snprintf(l.members[i], sizeof(l.members[i]), "m%zu@far.test",
		    i);
	ck_assert_msg(store_write(st, full_list_fn, &l) == 1, "5000: %s",
	    tu_err());
	store_list_clear(&l);
	expect_err(write_call(list_member_fn, &c), ERR_LIMIT, "member 5001");
	c.s2 = "m17@far.test";
	ck_assert_int_eq(write_call(list_member_fn, &c), 0);
	c.flag = 0;
	ck_assert_int_eq(write_call(list_member_fn, &c), 1);
	c.flag = 1;
	c.s2 = "one@more.test";
	ck_assert_int_eq(write_call(list_member_fn, &c), 1);
	ck_assert_int_eq(read_call(list_get_fn, &c), 1);
	ck_assert_uint_eq(c.list.nmembers, STORE_LIST_MEMBERS_MAX);
	store_list_clear(&c.list);
	expect_clean("with a full list");
}
END_TEST

struct each {
	char	seen[512];
	int	stop_after;
	int	n;
};

static int
each_cb(const struct store_list *l, void *ctx)
{
	struct each *e = ctx;
	size_t o = strlen(e->seen);

	snprintf(e->seen + o, sizeof(e->seen) - o, "%s(%zu) ", l->addr,
	    l->nmembers);
	if (++e->n == e->stop_after)
		return -1;
	return 0;
}

struct each_call {
	const char	*domain;
	struct each	 e;
};

static int
each_fn(struct store_txn *t, void *ctx)
{
	struct each_call *ec = ctx;

	return store_list_each(t, ec->domain, each_cb, &ec->e);
}

START_TEST(test_list_each_and_domain_del)
{
	static const char *const m[] = { "a@far.test", "b@far.test" };
	struct each_call ec;
	struct store_list l;
	struct call c = { 0 };

	ck_assert_int_eq(tu_domain_add(st, "lists.test"), 1);
	list_fill(&l, "b@lists.test", m, 2);
	ck_assert_int_eq(list_put(&l), 1);
	list_fill(&l, "a@lists.test", m, 1);
	ck_assert_int_eq(list_put(&l), 1);
	list_fill(&l, "team@example.test", NULL, 0);
	ck_assert_int_eq(list_put(&l), 1);

	memset(&ec, 0, sizeof(ec));
	ck_assert_int_eq(store_read(st, each_fn, &ec), 0);
	ck_assert_str_eq(ec.e.seen, "a@lists.test(1) b@lists.test(2) "
	    "team@example.test(0) ");
	memset(&ec, 0, sizeof(ec));
	ec.domain = "Lists.Test";
	ck_assert_int_eq(store_read(st, each_fn, &ec), 0);
	ck_assert_str_eq(ec.e.seen, "a@lists.test(1) b@lists.test(2) ");
	memset(&ec, 0, sizeof(ec));
	ec.e.stop_after = 1;
	ck_assert_int_eq(store_read(st, each_fn, &ec), -1);
	ck_assert_str_eq(ec.e.seen, "a@lists.test(1) ");

	/* The domain goes with its lists and their members. */
	c.s1 = "lists.test";
	ck_assert_msg(write_call(domain_del_fn, &c) == 1, "domain del: %s",
	    tu_err());
	memset(&ec, 0, sizeof(ec));
	ck_assert_int_eq(store_read(st, each_fn, &ec), 0);
	ck_assert_str_eq(ec.e.seen, "team@example.test(0) ");
	expect_clean("after deleting a domain with lists");
	/* A new domain of that name starts without them. */
	ck_assert_int_eq(tu_domain_add(st, "lists.test"), 1);
	c.s1 = "a@lists.test";
	ck_assert_int_eq(read_call(list_get_fn, &c), 0);
}
END_TEST

/* The Spam training queue ------------------------------------------ */

static uint32_t
box(uint32_t user, const char *name)
{
	struct store_mailbox mb;

	ck_assert_msg(tu_mailbox_get(st, user, name, &mb) == 1, "%s: %s",
	    name, tu_err());
	return mb.id;
}

/* The oldest entry is (mailbox, uid, spam); it is then deleted. */
static void
learn_pop(uint32_t user, uint32_t mailbox, uint32_t uid, int spam)
{
	struct call c = { 0 };

	ck_assert_int_eq(read_call(learn_first_fn, &c), 1);
	ck_assert_msg(c.learn.user_id == user &&
	    c.learn.mailbox_id == mailbox && c.learn.uid == uid &&
	    c.learn.spam == spam, "entry %llu: user %u mailbox %u uid %u "
	    "spam %d, wanted %u %u %u %d", (unsigned long long)c.learn.seq,
	    c.learn.user_id, c.learn.mailbox_id, c.learn.uid, c.learn.spam,
	    user, mailbox, uid, spam);
	ck_assert_int_ne(c.learn.when, 0);
	c.u1 = c.learn.seq;
	ck_assert_int_eq(write_call(learn_del_fn, &c), 1);
	ck_assert_int_eq(write_call(learn_del_fn, &c), 0);
}

static void
learn_empty(const char *what)
{
	struct call c = { 0 };

	ck_assert_msg(read_call(learn_first_fn, &c) == 0, "an entry %s "
	    "(mailbox %u uid %u)", what, c.learn.mailbox_id, c.learn.uid);
}

static const char msg[] = "From: a@far.test\r\nSubject: buy\r\n\r\nnow\r\n";

START_TEST(test_learn_moves)
{
	uint32_t inbox = box(bob, "INBOX"), spam = box(bob, "Spam"),
	    trash = box(bob, "Trash"), arch = box(bob, "Archive"), u, u2, u3;

	ck_assert_int_eq(tu_append(st, inbox, msg, sizeof(msg) - 1, 0, NULL,
	    &u), 1);
	/* Off by default. */
	ck_assert_int_eq(tu_move(st, inbox, u, spam, &u2), 1);
	learn_empty("with learning off");
	ck_assert_int_eq(tu_move(st, spam, u2, inbox, &u), 1);
	learn_empty("with learning off");

	store_learn_enable(st, 1);
	ck_assert_int_eq(tu_move(st, inbox, u, spam, &u2), 1);
	ck_assert_int_eq(tu_move(st, spam, u2, inbox, &u), 1);
	ck_assert_int_eq(tu_copy(st, inbox, u, spam, &u3), 1);
	ck_assert_int_eq(tu_move(st, spam, u3, trash, &u2), 1);
	ck_assert_int_eq(tu_move(st, trash, u2, spam, &u3), 1);
	ck_assert_int_eq(tu_move(st, inbox, u, arch, &u2), 1);
	learn_pop(bob, spam, 2, 1);	/* INBOX -> Spam */
	learn_pop(bob, inbox, u, 0);	/* Spam -> INBOX */
	learn_pop(bob, spam, 3, 1);	/* copy INBOX -> Spam */
	learn_pop(bob, spam, u3, 1);	/* Trash -> Spam */
	learn_empty("for Spam -> Trash or INBOX -> Archive");
	expect_clean("with learning");

	/* The user's entries go with the user. */
	ck_assert_int_eq(tu_move(st, spam, u3, inbox, &u), 1);
	ck_assert_int_eq(tu_user_del(st, bob), 1);
	learn_empty("after the user was deleted");
	store_learn_enable(st, 0);
	expect_clean("after deleting a user with entries");
}
END_TEST

static int
learn_fill_fn(struct store_txn *t, void *ctx)
{
	struct call *c = ctx;
	uint32_t i;

	for (i = 0; i < c->n; i++)
		if (store_learn_add(t, c->user, 7, i + 1, i & 1) != 1)
			return -1;
	return 0;
}

START_TEST(test_learn_cap)
{
	struct call c = { .user = carol, .n = STORE_LEARN_MAX };

	ck_assert_msg(write_call(learn_fill_fn, &c) == 0, "fill: %s",
	    tu_err());
	c.flag = 1;
	ck_assert_int_eq(write_call(learn_add_fn, &c), 0);
	ck_assert_int_eq(write_call(learn_add_fn, &c), 0);
	ck_assert_int_eq(read_call(learn_stats_fn, &c), 0);
	ck_assert_uint_eq(c.u1, STORE_LEARN_MAX);
	ck_assert_uint_eq(c.u2, 2);
	/* In order; room again after one is taken. */
	learn_pop(carol, 7, 1, 0);
	learn_pop(carol, 7, 2, 1);
	ck_assert_int_eq(write_call(learn_add_fn, &c), 1);
	ck_assert_int_eq(read_call(learn_stats_fn, &c), 0);
	ck_assert_uint_eq(c.u1, STORE_LEARN_MAX - 1);
	ck_assert_uint_eq(c.u2, 2);
}
END_TEST

/* Deletion of a user, store check ---------------------------------- */

START_TEST(test_user_del_removes_rows)
{
	struct call c = { .user = bob };

	filter_set(bob, "to $DEFAULT\n", 12, 1);
	vac_set(bob, 1, "Away", "back soon", 7);
	ck_assert_int_eq(vac_note(bob, "a@far.test", 1000, 7), 1);
	filter_set(carol, "exit\n", 5, 1);
	c.flag = 1;
	ck_assert_int_eq(write_call(learn_add_fn, &c), 1);
	ck_assert_uint_eq(user_rows(bob), 5);
	ck_assert_int_eq(tu_user_del(st, bob), 1);
	ck_assert_uint_eq(user_rows(bob), 0);
	filter_expect(bob, NULL, 0);
	ck_assert_int_eq(read_call(vac_get_fn, &c), 0);
	learn_empty("after the user was deleted");
	filter_expect(carol, "exit\n", 5);
	expect_clean("after deleting a user with settings");
}
END_TEST

/* Rows put behind the store's back. */
struct raw {
	enum store_db	 db;
	const void	*k, *v;
	size_t		 klen, vlen;
};

static int
raw_fn(struct store_txn *t, void *ctx)
{
	struct raw *r = ctx;

	return sdb_put(t, r->db, r->k, r->klen, r->v, r->vlen, 0);
}

static void
raw_put(enum store_db db, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct raw r = { db, k, v, klen, vlen };

	ck_assert_int_eq(store_write(st, raw_fn, &r), 1);
}

/* Problems collected by a check. */
static char	seen[8192];

static void
seen_one(const char *p, void *ctx)
{
	size_t o = strlen(seen);

	(void)ctx;
	snprintf(seen + o, sizeof(seen) - o, "%s\n", p);
}

static void
expect_problem(const char *what)
{
	ck_assert_msg(strstr(seen, what) != NULL, "check did not report "
	    "'%s'; it said:\n%s", what, seen);
}

START_TEST(test_check)
{
	static const uint8_t orphan[] = { 0, 0, 0x27, 0x0f, UD_FILTER, 0, 0,
	    0, 0 };
	static const uint8_t gap[] = { 0, 0, 0, 0, UD_FILTER, 0, 0, 0, 2 };
	static const uint8_t member[] = { 0, 0, 0, 77, 'x', '@', 'y' };
	static const uint8_t learnkey[] = { 0, 0, 0, 0, 0, 0, 0, 9 };
	static const uint8_t learnval[] = { 1, 0, 0, 0x27, 0x0f, 0, 0, 0, 1,
	    0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t count[] = { 0, 0, 0, 2, UD_VAC_COUNT };
	uint8_t countkey[5];
	int rc;

	filter_set(STORE_FILTER_GLOBAL, "exit\n", 5, 1);
	vac_set(carol, 1, "Away", "back", 7);
	ck_assert_int_eq(vac_note(carol, "a@far.test", 1000, 7), 1);
	expect_clean("before the damage");
	raw_put(DB_USERDATA, orphan, sizeof(orphan), "exit\n", 5);
	raw_put(DB_USERDATA, gap, sizeof(gap), "x", 1);
	raw_put(DB_LISTMEMBERS, member, sizeof(member), "", 0);
	raw_put(DB_LISTS, "bad@example.test", 16, "\1\0", 2);
	raw_put(DB_LEARN, learnkey, 8, learnval, sizeof(learnval));
	memcpy(countkey, count, 5);
	countkey[3] = (uint8_t)carol;
	raw_put(DB_USERDATA, countkey, 5, "\0\0\0\7", 4);
	seen[0] = '\0';
	rc = store_check(st, seen_one, NULL);
	ck_assert_msg(rc == 6, "check found %d problems:\n%s", rc, seen);
	expect_problem("user data rows of missing user 9999");
	expect_problem("filter piece 2 where 1 was due");
	expect_problem("member rows of missing list 77");
	expect_problem("list bad@example.test: the record does not decode");
	expect_problem("training queue entry 9 of missing user 9999");
	expect_problem("auto-reply sender count 7 but 1 senders");
}
END_TEST

/* The upgrade of a schema 3 store ---------------------------------- */

/*
 * What schema 3 wrote: version 3 and none of the schema 4 tables (with
 * keep set they stay, as an upgrade killed before the version leaves).
 */
static void
make_v3(int keep)
{
	static const char *const tables[] = { "userdata", "lists",
	    "listmembers", "learn" };
	uint8_t ver[4] = { 0, 0, 0, 3 };
	MDB_val k = { 7, "version" }, v = { 4, ver };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	char *path;
	size_t i;

	ck_assert(asprintf(&path, "%s/store", dir) > 0);
	ck_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, 1ULL << 30);
	ck_assert(mdb_env_open(env, path, MDB_NOTLS, 0600) == 0);
	ck_assert(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	ck_assert(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
	ck_assert(mdb_put(txn, dbi, &k, &v, 0) == 0);
	for (i = 0; !keep && i < 4; i++) {
		ck_assert(mdb_dbi_open(txn, tables[i], 0, &dbi) == 0);
		ck_assert(mdb_drop(txn, dbi, 1) == 0);
	}
	ck_assert(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	free(path);
}

static int
version_fn(struct store_txn *t, void *ctx)
{
	MDB_val v;

	if (sdb_get(t, DB_META, "version", 7, &v) != 1 || v.mv_size != 4)
		return -1;
	*(uint32_t *)ctx = be32dec(v.mv_data);
	return 0;
}

static uint32_t
version(void)
{
	uint32_t ver = 0;

	ck_assert_int_eq(store_read(st, version_fn, &ver), 0);
	return ver;
}

START_TEST(test_upgrade_from_3)
{
	struct call c = { .user = bob, .s1 = "team@example.test" };
	struct store_list l;
	uint32_t inbox = box(bob, "INBOX"), spam = box(bob, "Spam"), u, u2;

	ck_assert_int_eq(tu_append(st, inbox, msg, sizeof(msg) - 1, 0,
	    "$label1", &u), 1);
	store_close(&st);
	make_v3(0);

	/* Read-only: the tables are absent and read as empty. */
	ck_assert_msg(store_open(dir, STORE_RDONLY, &st) == 0, "read-only "
	    "open of a schema 3 store: %s", tu_err());
	ck_assert_uint_eq(version(), 3);
	filter_expect(bob, NULL, 0);
	filter_expect(STORE_FILTER_GLOBAL, NULL, 0);
	ck_assert_int_eq(read_call(vac_get_fn, &c), 0);
	ck_assert_int_eq(read_call(list_get_fn, &c), 0);
	learn_empty("in a schema 3 store");
	expect_clean("of the schema 3 store");
	store_close(&st);

	/* Writable: upgraded, and the tables work. */
	st = tu_open(dir);
	ck_assert_uint_eq(version(), STORE_SCHEMA_VERSION);
	filter_set(bob, "exit\n", 5, 1);
	filter_expect(bob, "exit\n", 5);
	list_fill(&l, "team@example.test", NULL, 0);
	ck_assert_int_eq(list_put(&l), 1);
	store_learn_enable(st, 1);
	ck_assert_int_eq(tu_move(st, inbox, u, spam, &u2), 1);
	learn_pop(bob, spam, u2, 1);
	expect_clean("after the upgrade");
	store_close(&st);

	/* An interrupted upgrade (tables made, version 3) finishes. */
	make_v3(1);
	st = tu_open(dir);
	ck_assert_uint_eq(version(), STORE_SCHEMA_VERSION);
	filter_expect(bob, "exit\n", 5);
	expect_clean("after the second upgrade");
}
END_TEST

static Suite *
userdata_suite(void)
{
	Suite *s = suite_create("store_userdata");
	TCase *tc;

	tc = tcase_create("filter");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_filter_roundtrip);
	tcase_add_test(tc, test_filter_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("vacation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_vacation_roundtrip);
	tcase_add_test(tc, test_vacation_note);
	tcase_add_test(tc, test_vacation_senders_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("list");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_list_roundtrip);
	tcase_add_test(tc, test_list_refused);
	tcase_add_test(tc, test_list_members_cap);
	tcase_add_test(tc, test_list_each_and_domain_del);
	suite_add_tcase(s, tc);

	tc = tcase_create("learn");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_learn_moves);
	tcase_add_test(tc, test_learn_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_user_del_removes_rows);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_upgrade_from_3);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(userdata_suite());
}
