/*
 * check_store_user.c - accounts: add, find, update, delete, passwords,
 * quotas.
 */
#include <check.h>
#include <crypt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "store/addr.h"
#include "testutil.h"

static Suite	*user_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("user");
	st = tu_open(dir);
	ck_assert_int_eq(tu_domain_add(st, "example.test"), 1);
	ck_assert_int_eq(tu_domain_add(st, "other.test"), 1);
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

struct uop {
	const char		*s;
	struct store_user	*u;
	const struct store_user	*cu;
	uint32_t		 ids[16];
	size_t			 n;
};

static int
find_fn(struct store_txn *txn, void *ctx)
{
	struct uop *o = ctx;

	return store_user_find(txn, o->s, o->u);
}

static int
update_fn(struct store_txn *txn, void *ctx)
{
	struct uop *o = ctx;

	return store_user_update(txn, o->cu);
}

static int
list_one(const struct store_user *u, void *ctx)
{
	struct uop *o = ctx;

	if (o->n < 16)
		o->ids[o->n] = u->id;
	o->n++;
	return 0;
}

static int
list_fn(struct store_txn *txn, void *ctx)
{
	return store_user_list(txn, list_one, ctx);
}

static int
route_fn(struct store_txn *txn, void *ctx)
{
	struct uop *o = ctx;
	struct store_route r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = store_addr_get(txn, o->s, &r);
	if (rc == 1) {
		o->n = r.ntargets;
		o->ids[0] = r.ntargets > 0 &&
		    r.targets[0].type == STORE_TARGET_MAILBOX ?
		    r.targets[0].user_id : 0;
		store_route_clear(&r);
	}
	return rc;
}

static int
user_find(const char *login, struct store_user *u)
{
	struct uop o = { .s = login, .u = u };

	memset(u, 0, sizeof(*u));
	return store_read(st, find_fn, &o);
}

static int
user_update(const struct store_user *u)
{
	struct uop o = { .cu = u };

	return store_write(st, update_fn, &o);
}

START_TEST(test_add_get)
{
	struct store_user u;
	struct store_mailbox mb;
	struct uop o = { .s = "bob@example.test" };
	uint32_t id = 0, id2 = 0;
	int rc;

	rc = tu_user_add(st, "Bob@Example.TEST", NULL, 1000000, 500, &id);
	ck_assert_msg(rc == 1 && id != 0, "user_add returned %d id %u: %s",
	    rc, id, tu_err());
	rc = tu_user_get(st, id, &u);
	ck_assert_msg(rc == 1, "user_get returned %d", rc);
	ck_assert_msg(u.id == id && strcmp(u.address, "bob@example.test") == 0,
	    "stored id %u address \"%s\"", u.id, u.address);
	ck_assert_msg(u.quota_bytes == 1000000 && u.quota_messages == 500,
	    "quotas %" PRIu64 "/%" PRIu64, u.quota_bytes, u.quota_messages);
	ck_assert_msg(u.used_bytes == 0 && u.used_messages == 0 &&
	    !u.disabled && u.over_quota_since == 0 && u.pwhash[0] == '\0',
	    "new user: used %" PRIu64 "/%" PRIu64 " disabled %d over %" PRId64
	    " pwhash \"%s\"", u.used_bytes, u.used_messages, u.disabled,
	    u.over_quota_since, u.pwhash);

	/* Its INBOX exists, and its address routes to it. */
	rc = tu_mailbox_get(st, id, "INBOX", &mb);
	ck_assert_msg(rc == 1 && mb.user_id == id, "INBOX: rc %d user %u",
	    rc, mb.user_id);
	rc = store_read(st, route_fn, &o);
	ck_assert_msg(rc == 1 && o.n == 1 && o.ids[0] == id, "route of "
	    "bob@example.test: rc %d, %zu targets, mailbox of user %u "
	    "(wanted %u)", rc, o.n, o.ids[0], id);

	rc = tu_user_add(st, "alice@example.test", NULL, 0, 0, &id2);
	ck_assert_msg(rc == 1 && id2 != id, "second user: rc %d id %u", rc,
	    id2);
	ck_assert_msg(tu_user_get(st, id + id2 + 100, &u) == 0,
	    "user_get of an unused id did not return 0");
}
END_TEST

START_TEST(test_add_errors)
{
	uint32_t id;

	ck_assert_int_eq(tu_user_add(st, "bob@example.test", NULL, 0, 0, &id),
	    1);
	expect_err(tu_user_add(st, "bob@example.test", NULL, 0, 0, &id),
	    ERR_EXISTS, "second add of bob@example.test");
	expect_err(tu_user_add(st, "BOB#Example.Test", NULL, 0, 0, &id),
	    ERR_EXISTS, "add of BOB#Example.Test after bob@example.test");
	expect_err(tu_user_add(st, "bob@nowhere.test", NULL, 0, 0, &id),
	    ERR_NOTFOUND, "add in a missing domain");
	expect_err(tu_user_add(st, "no-at-sign", NULL, 0, 0, &id),
	    ERR_INVALID, "add of \"no-at-sign\"");
	expect_err(tu_user_add(st, "@example.test", NULL, 0, 0, &id),
	    ERR_INVALID, "add of a catch-all as a user");
	expect_err(tu_user_add(st, "a b@example.test", NULL, 0, 0, &id),
	    ERR_INVALID, "add of \"a b@example.test\"");
	expect_err(tu_user_add(st, "", NULL, 0, 0, &id), ERR_INVALID,
	    "add of \"\"");
	expect_err(tu_user_add(st, "x@", NULL, 0, 0, &id), ERR_INVALID,
	    "add of \"x@\"");
}
END_TEST

START_TEST(test_find_forms)
{
	static const char *forms[] = { "bob@example.test", "BOB@EXAMPLE.TEST",
	    "Bob@Example.Test", "bob#example.test", "BOB#Example.TEST" };
	struct store_user u;
	uint32_t id, id2;
	size_t i;
	int rc;

	ck_assert_int_eq(tu_user_add(st, "bob@example.test", NULL, 0, 0, &id),
	    1);
	ck_assert_int_eq(tu_user_add(st, "bob@other.test", NULL, 0, 0, &id2),
	    1);
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		rc = user_find(forms[i], &u);
		ck_assert_msg(rc == 1 && u.id == id, "find(\"%s\"): rc %d "
		    "id %u, wanted user %u", forms[i], rc, u.id, id);
	}
	/* Same local part in another domain is another user. */
	rc = user_find("Bob#Other.Test", &u);
	ck_assert_msg(rc == 1 && u.id == id2, "find(Bob#Other.Test): rc %d "
	    "id %u, wanted %u", rc, u.id, id2);
	ck_assert_msg(user_find("nobody@example.test", &u) == 0,
	    "find of a missing user did not return 0");
	ck_assert_msg(user_find("bob@missing.test", &u) == 0,
	    "find in a missing domain did not return 0");
	rc = user_find("bob", &u);
	ck_assert_msg(rc != 1, "find(\"bob\") without a domain found user %u",
	    u.id);
}
END_TEST

START_TEST(test_password)
{
	struct store_user u;
	char *hash = NULL;
	char *hash2 = NULL;
	const char *sha512;
	struct crypt_data cd;
	uint32_t id;
	int rc;

	rc = store_password_hash("correct horse", &hash);
	ck_assert_msg(rc >= 0 && hash != NULL, "password_hash returned %d: %s",
	    rc, tu_err());
	ck_assert_msg(strncmp(hash, "$y$", 3) == 0, "hash \"%s\" is not "
	    "yescrypt ($y$)", hash);
	rc = store_password_hash("correct horse", &hash2);
	ck_assert_msg(rc >= 0 && strcmp(hash, hash2) != 0, "two hashes of the"
	    " same password are identical (no salt): %s", hash);
	ck_assert_msg(store_password_verify(hash, "correct horse") == 1,
	    "good password rejected by %s", hash);
	ck_assert_msg(store_password_verify(hash2, "correct horse") == 1,
	    "good password rejected by the second hash");
	ck_assert_msg(store_password_verify(hash, "correct horsE") == 0,
	    "bad password accepted");
	ck_assert_msg(store_password_verify(hash, "") == 0,
	    "empty password accepted");
	ck_assert_msg(store_password_verify("", "") == 0,
	    "empty hash accepted an empty password");
	ck_assert_msg(store_password_verify("", "x") == 0,
	    "empty hash accepted a password");
	ck_assert_msg(store_password_verify("*", "*") == 0,
	    "hash \"*\" accepted \"*\"");
	ck_assert_msg(store_password_verify("not-a-hash", "not-a-hash") == 0,
	    "a non-crypt string accepted itself as password");

	/* A SHA-512-crypt hash from an imported password file. */
	memset(&cd, 0, sizeof(cd));
	sha512 = crypt_r("imported pw", "$6$saltsaltsalt$", &cd);
	ck_assert_msg(sha512 != NULL && strncmp(sha512, "$6$", 3) == 0,
	    "crypt_r gave no SHA-512 hash");
	ck_assert_msg(store_password_verify(sha512, "imported pw") == 1,
	    "SHA-512-crypt hash rejected the right password");
	ck_assert_msg(store_password_verify(sha512, "imported pW") == 0,
	    "SHA-512-crypt hash accepted a wrong password");

	/* Stored with the user, read back as it was. */
	rc = tu_user_add(st, "bob@example.test", hash, 0, 0, &id);
	ck_assert_msg(rc == 1, "user_add with hash returned %d: %s", rc,
	    tu_err());
	ck_assert_int_eq(user_find("bob#example.test", &u), 1);
	ck_assert_msg(strcmp(u.pwhash, hash) == 0, "stored hash \"%s\", gave "
	    "\"%s\"", u.pwhash, hash);
	ck_assert_msg(store_password_verify(u.pwhash, "correct horse") == 1,
	    "stored hash rejects the password");
	free(hash);
	free(hash2);
}
END_TEST

START_TEST(test_update_keeps_usage)
{
	static const char msg[] = "Subject: hi\r\n\r\nhello\r\n";
	struct store_user u, v;
	uint32_t id, uid;
	int rc;

	ck_assert_int_eq(tu_user_add(st, "bob@example.test", NULL, 0, 0, &id),
	    1);
	rc = tu_append(st, tu_inbox(st, id), msg, sizeof(msg) - 1, 0, NULL,
	    &uid);
	ck_assert_msg(rc == 1, "append returned %d: %s", rc, tu_err());
	ck_assert_int_eq(tu_user_get(st, id, &u), 1);
	ck_assert_msg(u.used_messages == 1 && u.used_bytes == sizeof(msg) - 1,
	    "usage %" PRIu64 "/%" PRIu64 " after one append", u.used_messages,
	    u.used_bytes);

	/* Try to change everything, the counters and address included. */
	u.quota_bytes = 4096;
	u.quota_messages = 7;
	u.disabled = 1;
	u.disabled_since = 1234;
	snprintf(u.disabled_reason, sizeof(u.disabled_reason), "abuse");
	u.fs_uid = 5001;
	u.fs_gid = 5002;
	u.used_bytes = 999999;
	u.used_messages = 999;
	snprintf(u.address, sizeof(u.address), "mallory@example.test");
	rc = user_update(&u);
	ck_assert_msg(rc >= 0, "user_update returned %d: %s", rc, tu_err());
	ck_assert_int_eq(tu_user_get(st, id, &v), 1);
	ck_assert_msg(v.quota_bytes == 4096 && v.quota_messages == 7 &&
	    v.disabled == 1 && strcmp(v.disabled_reason, "abuse") == 0 &&
	    v.fs_uid == 5001 && v.fs_gid == 5002, "update not kept: quota %"
	    PRIu64 "/%" PRIu64 " disabled %d (%s) fs %u:%u", v.quota_bytes,
	    v.quota_messages, v.disabled, v.disabled_reason, v.fs_uid,
	    v.fs_gid);
	ck_assert_msg(v.used_messages == 1 && v.used_bytes == sizeof(msg) - 1,
	    "update changed usage to %" PRIu64 "/%" PRIu64, v.used_messages,
	    v.used_bytes);
	ck_assert_msg(strcmp(v.address, "bob@example.test") == 0,
	    "update changed the address to \"%s\"", v.address);
}
END_TEST

START_TEST(test_delete)
{
	static const char msg[] = "Subject: bye\r\n\r\nbye\r\n";
	struct store_user u;
	struct store_mailbox mb;
	struct store_stats s;
	struct uop o = { .s = "bob@example.test" };
	uint32_t id, id2, mbox, uid;
	int rc;

	ck_assert_int_eq(tu_user_add(st, "bob@example.test", NULL, 0, 0, &id),
	    1);
	ck_assert_int_eq(tu_user_add(st, "eve@example.test", NULL, 0, 0, &id2),
	    1);
	rc = tu_mailbox_create(st, id, "Old", 0, &mbox);
	ck_assert_msg(rc == 1, "mailbox_create returned %d: %s", rc,
	    tu_err());
	ck_assert_int_eq(tu_append(st, mbox, msg, sizeof(msg) - 1, 0, NULL,
	    &uid), 1);
	ck_assert_int_eq(tu_append(st, tu_inbox(st, id), msg, sizeof(msg) - 1,
	    0, NULL, &uid), 1);

	rc = tu_user_del(st, id);
	ck_assert_msg(rc == 1, "user_del returned %d: %s", rc, tu_err());
	ck_assert_msg(tu_user_get(st, id, &u) == 0, "deleted user still there");
	ck_assert_msg(user_find("bob@example.test", &u) == 0,
	    "deleted user still found by login");
	ck_assert_msg(tu_mailbox_get(st, id, "Old", &mb) == 0 &&
	    tu_mailbox_get_by_id(st, mbox, &mb) == 0,
	    "deleted user's mailbox still there");
	ck_assert_msg(store_read(st, route_fn, &o) == 0,
	    "deleted user's route still there");
	tu_stats(st, &s);
	ck_assert_msg(s.messages == 0 && s.bodies == 0 && s.blobs == 0 &&
	    s.users == 1, "after deleting the only user with mail: users %"
	    PRIu64 " messages %" PRIu64 " bodies %" PRIu64 " blobs %" PRIu64,
	    s.users, s.messages, s.bodies, s.blobs);
	ck_assert_msg(tu_user_get(st, id2, &u) == 1, "the other user is gone");

	rc = tu_user_del(st, id);
	ck_assert_msg(rc == 0 || (rc == -1 && err_class() == ERR_NOTFOUND),
	    "second delete returned %d (%s)", rc, tu_err());

	/* The address is free again. */
	rc = tu_user_add(st, "bob@example.test", NULL, 0, 0, &id);
	ck_assert_msg(rc == 1, "re-adding a deleted address returned %d: %s",
	    rc, tu_err());
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
}
END_TEST

START_TEST(test_list)
{
	struct uop o = { 0 };
	uint32_t ids[3];
	size_t i, j;
	int rc, found;

	ck_assert_int_eq(tu_user_add(st, "c@example.test", NULL, 0, 0,
	    &ids[0]), 1);
	ck_assert_int_eq(tu_user_add(st, "a@example.test", NULL, 0, 0,
	    &ids[1]), 1);
	ck_assert_int_eq(tu_user_add(st, "b@other.test", NULL, 0, 0, &ids[2]),
	    1);
	rc = store_read(st, list_fn, &o);
	ck_assert_msg(rc >= 0 && o.n == 3, "user_list: rc %d, %zu users", rc,
	    o.n);
	for (i = 0; i < 3; i++) {
		found = 0;
		for (j = 0; j < 3; j++)
			found += o.ids[j] == ids[i];
		ck_assert_msg(found == 1, "user %u listed %d times", ids[i],
		    found);
	}
}
END_TEST

struct pageop {
	char		 after[STORE_ADDRESS_MAX + 1];
	char		 last[STORE_ADDRESS_MAX + 1];
	size_t		 max;
	int		 rc;
	uint8_t		*seen;		/* by user id */
	size_t		 nseen;		/* this page */
	char		 prev[STORE_ADDRESS_MAX + 1];
	int		 ordered;
};

static int
page_one(const struct store_user *u, void *ctx)
{
	struct pageop *o = ctx;

	o->seen[u->id]++;
	o->nseen++;
	if (o->prev[0] != '\0' && strcmp(o->prev, u->address) >= 0)
		o->ordered = 0;
	snprintf(o->prev, sizeof(o->prev), "%s", u->address);
	return 0;
}

static int
page_fn(struct store_txn *txn, void *ctx)
{
	struct pageop *o = ctx;

	o->nseen = 0;
	o->rc = store_user_list_page(txn, o->after, o->max, page_one, o,
	    o->last);
	return o->rc == -1 ? -1 : 0;
}

/*
 * Pages of any size list every user once, in login order, each page
 * starting after the last login of the one before; users added between
 * pages after the cursor are listed, those before it are not repeated.
 */
START_TEST(test_list_pages)
{
	static const size_t sizes[] = { 1, 7, 1000, 2500, 5000 };
	struct pageop o;
	char addr[64];
	uint32_t id, maxid = 0;
	size_t i, k, pages, total = 2500;

	for (i = 0; i < total; i++) {
		snprintf(addr, sizeof(addr), "u%zu@%s", i, i % 2 ?
		    "example.test" : "other.test");
		ck_assert_int_eq(tu_user_add(st, addr, NULL, 0, 0, &id), 1);
		if (id > maxid)
			maxid = id;
	}
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(&o, 0, sizeof(o));
		o.max = sizes[k];
		o.ordered = 1;
		o.seen = calloc(maxid + 16, 1);
		ck_assert_ptr_nonnull(o.seen);
		pages = 0;
		for (;;) {
			ck_assert_int_eq(store_read(st, page_fn, &o), 0);
			if (o.rc == 0)
				break;
			ck_assert_msg(o.nseen >= 1 && o.nseen <= o.max,
			    "page of %zu: %zu users", o.max, o.nseen);
			ck_assert_str_eq(o.last, o.prev);
			memcpy(o.after, o.last, sizeof(o.after));
			pages++;
			/* A user that sorts after the cursor, mid-listing. */
			if (pages == 1 && k == 0)
				ck_assert_int_eq(tu_user_add(st,
				    "zz@example.test", NULL, 0, 0, &id), 1);
		}
		ck_assert_msg(o.ordered, "page size %zu: not in login order",
		    o.max);
		ck_assert_msg(pages == (total + 1 + o.max - 1) /
		    o.max, "page size %zu: %zu pages", o.max, pages);
		for (i = 1; i <= maxid; i++)
			ck_assert_msg(o.seen[i] == 1, "page size %zu: user %zu "
			    "listed %d times", o.max, i, o.seen[i]);
		ck_assert_int_eq(o.seen[id], 1);
		free(o.seen);
	}
}
END_TEST

struct domop {
	const char	*domain;
	char		 after[STORE_ADDRESS_MAX + 1];
	char		 last[STORE_ADDRESS_MAX + 1];
	size_t		 max;
	int		 rc;
	char		 got[4096];	/* addresses, space-separated */
};

static int
dom_one(const struct store_user *u, void *ctx)
{
	struct domop *o = ctx;

	snprintf(o->got + strlen(o->got), sizeof(o->got) - strlen(o->got),
	    "%s%s", o->got[0] != '\0' ? " " : "", u->address);
	return 0;
}

static int
dom_fn(struct store_txn *txn, void *ctx)
{
	struct domop *o = ctx;

	o->rc = store_user_list_domain(txn, o->domain, o->after, o->max,
	    dom_one, o, o->last);
	return o->rc == -1 ? -1 : 0;
}

/* Every user of domain, page by page (max each), as one string. */
static const char *
dom_list(const char *domain, size_t max)
{
	static struct domop o;
	char all[sizeof(o.got)] = "";

	memset(&o, 0, sizeof(o));
	o.domain = domain;
	o.max = max;
	for (;;) {
		o.got[0] = '\0';
		ck_assert_int_eq(store_read(st, dom_fn, &o), 0);
		if (o.rc == 0)
			break;
		/* Without the index a page may visit only other domains. */
		if (o.got[0] != '\0')
			snprintf(all + strlen(all), sizeof(all) - strlen(all),
			    "%s%s", all[0] != '\0' ? " " : "", o.got);
		memcpy(o.after, o.last, sizeof(o.after));
	}
	memcpy(o.got, all, sizeof(all));
	return o.got;
}

static int
rename_fn(struct store_txn *txn, void *ctx)
{
	struct uop *o = ctx;

	return store_user_rename(txn, o->ids[0], o->s, NULL);
}

/*
 * The domain index lists a domain's users (and no other's) in address
 * order, in pages, and follows add, delete and rename; store check sees
 * a missing entry; a schema 4 store gets the index when opened writable.
 */
START_TEST(test_list_domain)
{
	/* Login order: "a10@" sorts before "a1@" ('0' < '@'). */
	static const char want[] = "a10@example.test a1@example.test "
	    "a2@example.test b@example.test";
	struct uop o = { 0 };
	uint32_t ids[8];
	uint8_t ver[4] = { 0, 0, 0, 4 };
	MDB_val k = { 7, "version" }, v = { 4, ver };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, dom;
	char *path;
	size_t max;
	int rc;

	ck_assert_int_eq(tu_user_add(st, "b@example.test", NULL, 0, 0,
	    &ids[0]), 1);
	ck_assert_int_eq(tu_user_add(st, "a10@example.test", NULL, 0, 0,
	    &ids[1]), 1);
	ck_assert_int_eq(tu_user_add(st, "a2@example.test", NULL, 0, 0,
	    &ids[2]), 1);
	ck_assert_int_eq(tu_user_add(st, "a1@example.test", NULL, 0, 0,
	    &ids[3]), 1);
	ck_assert_int_eq(tu_user_add(st, "a1@other.test", NULL, 0, 0,
	    &ids[4]), 1);
	ck_assert_int_eq(tu_user_add(st, "gone@example.test", NULL, 0, 0,
	    &ids[5]), 1);
	ck_assert_int_eq(tu_user_del(st, ids[5]), 1);
	for (max = 1; max <= 5; max++)
		ck_assert_str_eq(dom_list("example.test", max), want);
	ck_assert_str_eq(dom_list("other.test", 10), "a1@other.test");
	ck_assert_str_eq(dom_list("example", 10), "");
	ck_assert_str_eq(dom_list("nowhere.test", 10), "");

	/* A rename to the other domain moves the entry. */
	o.ids[0] = ids[0];
	o.s = "b@other.test";
	ck_assert_int_eq(store_write(st, rename_fn, &o), 1);
	ck_assert_str_eq(dom_list("example.test", 2), "a10@example.test "
	    "a1@example.test a2@example.test");
	ck_assert_str_eq(dom_list("other.test", 2),
	    "a1@other.test b@other.test");
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store check: %d problems: %s", rc,
	    tu_check_problems());

	/* What schema 4 wrote: no index (an empty table), version 4. */
	store_close(&st);
	ck_assert(asprintf(&path, "%s/store", dir) > 0);
	ck_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, 1ULL << 30);
	ck_assert(mdb_env_open(env, path, MDB_NOTLS, 0600) == 0);
	ck_assert(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	ck_assert(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
	ck_assert(mdb_put(txn, meta, &k, &v, 0) == 0);
	ck_assert(mdb_dbi_open(txn, "domusers", 0, &dom) == 0);
	ck_assert(mdb_drop(txn, dom, 0) == 0);
	ck_assert(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	free(path);

	/* Read-only, not upgraded: the users are scanned instead. */
	ck_assert_int_eq(store_open(dir, STORE_RDONLY, &st), 0);
	ck_assert_str_eq(dom_list("example.test", 2), "a10@example.test "
	    "a1@example.test a2@example.test");
	store_close(&st);
	/* Writable: upgraded, the index is complete and checks clean. */
	st = tu_open(dir);
	ck_assert_str_eq(dom_list("other.test", 1),
	    "a1@other.test b@other.test");
	ck_assert_str_eq(dom_list("example.test", 3), "a10@example.test "
	    "a1@example.test a2@example.test");
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store check after the upgrade: %d problems: "
	    "%s", rc, tu_check_problems());
}
END_TEST

struct qop {
	uint32_t		 mbox;
	struct store_prepared	*prep;
	int			 rc;
	enum err_class		 cls;
	char			 msg[256];
};

/*
 * A delivery that respects the quota.  On NOQUOTA the body still commits
 * (returns 0) so that the over-quota mark the store set is kept, as a
 * delivery pipeline would.
 */
static int
quota_fn(struct store_txn *txn, void *ctx)
{
	struct qop *o = ctx;
	uint32_t uid;

	o->rc = store_msg_append(txn, o->mbox, o->prep, 0, 0, NULL,
	    STORE_APPEND_QUOTA, &uid);
	o->cls = err_class();
	snprintf(o->msg, sizeof(o->msg), "%s", err_msg());
	/*
	 * message.h lists NOQUOTA among the errors (-1), but a -1 body
	 * aborts the transaction and would lose the over-quota mark; the
	 * store returns 0 with NOQUOTA set instead.  Accept both forms.
	 */
	if (o->rc != 1 && o->cls == ERR_NOQUOTA) {
		o->rc = -1;
		return 0;
	}
	return o->rc;
}

static int
quota_append(uint32_t mbox, struct store_prepared *prep)
{
	struct qop o = { .mbox = mbox, .prep = prep };
	int rc;

	rc = store_write(st, quota_fn, &o);
	if (rc < 0)
		return rc;
	if (o.rc == -1)
		err_set(o.cls, "%s", o.msg);
	return o.rc;
}

START_TEST(test_quota)
{
	char msg[1000];
	struct store_user u;
	struct store_prepared *prep = NULL;
	uint32_t id, inbox, uid;
	int rc, i;

	memset(msg, 'q', sizeof(msg));
	memcpy(msg, "Subject: q\r\n\r\n", 14);
	ck_assert_int_eq(tu_user_add(st, "q@example.test", NULL, 2500, 0,
	    &id), 1);
	inbox = tu_inbox(st, id);
	ck_assert_int_eq(tu_user_get(st, id, &u), 1);
	ck_assert_msg(store_user_quota_fits(&u, 2500, 1) == 1,
	    "2500 bytes do not fit an empty 2500-byte quota");
	ck_assert_msg(store_user_quota_fits(&u, 2501, 1) == 0,
	    "2501 bytes fit a 2500-byte quota");

	rc = store_msg_prepare(st, msg, sizeof(msg), &prep);
	ck_assert_msg(rc >= 0, "prepare returned %d: %s", rc, tu_err());
	for (i = 0; i < 2; i++) {
		rc = tu_append_prepared(st, inbox, prep, 0, &uid);
		ck_assert_msg(rc == 1, "append %d within quota returned %d: %s",
		    i, rc, tu_err());
	}
	ck_assert_int_eq(tu_user_get(st, id, &u), 1);
	ck_assert_msg(u.over_quota_since == 0, "over_quota_since %" PRId64
	    " at 2000 of 2500 bytes", u.over_quota_since);
	ck_assert_msg(store_user_quota_fits(&u, 1000, 1) == 0,
	    "1000 more bytes fit with 2000 of 2500 used");
	store_prepared_free(&prep);

	{
		/* STORE_APPEND_QUOTA refuses the third. */
		struct store_prepared *p2 = NULL;

		rc = store_msg_prepare(st, msg, sizeof(msg), &p2);
		ck_assert_int_ge(rc, 0);
		rc = quota_append(inbox, p2);
		store_prepared_free(&p2);
	}
	expect_err(rc, ERR_NOQUOTA, "append over quota with "
	    "STORE_APPEND_QUOTA");
	ck_assert_int_eq(tu_user_get(st, id, &u), 1);
	ck_assert_msg(u.used_messages == 2 && u.used_bytes == 2000,
	    "refused append changed usage to %" PRIu64 "/%" PRIu64,
	    u.used_messages, u.used_bytes);
	ck_assert_msg(u.over_quota_since != 0, "refused append left "
	    "over_quota_since at 0");

	/* Back under quota: the mark is cleared. */
	rc = tu_expunge(st, inbox, uid);
	ck_assert_msg(rc == 1, "expunge returned %d: %s", rc, tu_err());
	ck_assert_int_eq(tu_user_get(st, id, &u), 1);
	ck_assert_msg(u.used_bytes == 1000 && u.over_quota_since == 0,
	    "after expunge: used %" PRIu64 " over_quota_since %" PRId64,
	    u.used_bytes, u.over_quota_since);
	/* Now it fits again. */
	rc = store_msg_prepare(st, msg, sizeof(msg), &prep);
	ck_assert_int_ge(rc, 0);
	rc = quota_append(inbox, prep);
	store_prepared_free(&prep);
	ck_assert_msg(rc == 1, "append back within quota returned %d: %s", rc,
	    tu_err());
}
END_TEST

START_TEST(test_quota_messages)
{
	static const char msg[] = "Subject: m\r\n\r\nm\r\n";
	struct store_prepared *prep = NULL;
	struct store_user u;
	uint32_t id, inbox, uid;
	int rc, i;

	ck_assert_int_eq(tu_user_add(st, "m@example.test", NULL, 0, 3, &id),
	    1);
	inbox = tu_inbox(st, id);
	rc = store_msg_prepare(st, msg, sizeof(msg) - 1, &prep);
	ck_assert_int_ge(rc, 0);
	for (i = 0; i < 3; i++) {
		rc = quota_append(inbox, prep);
		ck_assert_msg(rc == 1, "append %d of a 3-message quota returned"
		    " %d: %s", i, rc, tu_err());
	}
	rc = quota_append(inbox, prep);
	expect_err(rc, ERR_NOQUOTA, "4th append with a 3-message quota");
	store_prepared_free(&prep);
	ck_assert_int_eq(tu_user_get(st, id, &u), 1);
	ck_assert_msg(u.used_messages == 3, "used_messages %" PRIu64,
	    u.used_messages);
	/* Without STORE_APPEND_QUOTA the store does not refuse. */
	rc = tu_append(st, inbox, msg, sizeof(msg) - 1, 0, NULL, &uid);
	ck_assert_msg(rc == 1, "append without the quota flag returned %d: %s",
	    rc, tu_err());
}
END_TEST

/* The store clock of the grace-clock test. */
static time_t grace_now;

static time_t
grace_clock(void)
{
	return grace_now;
}

/* Appends a message of exactly size bytes; quota-checked when checked. */
static int
sized_append(uint32_t mbox, size_t size, int checked, uint32_t *uid_r)
{
	struct store_prepared *prep = NULL;
	char *msg = malloc(size);
	int rc;

	ck_assert_ptr_nonnull(msg);
	memset(msg, 'g', size);
	memcpy(msg, "Subject: g\r\n\r\n", 14);
	ck_assert_int_ge(store_msg_prepare(st, msg, size, &prep), 0);
	if (checked)
		rc = quota_append(mbox, prep);
	else
		rc = tu_append_prepared(st, mbox, prep, 0, uid_r);
	store_prepared_free(&prep);
	free(msg);
	return rc;
}

static struct store_user
grace_user(uint32_t id)
{
	struct store_user u;

	ck_assert_int_eq(tu_user_get(st, id, &u), 1);
	return u;
}

/*
 * Issue 7: a refused delivery starts the grace clock, but at the end of
 * the grace period the account is disabled only when it is still full
 * (usage at or above the full mark, 95% by default); a successful
 * checked delivery, or usage going down below the mark, stops the clock.
 */
START_TEST(test_grace_clock)
{
	struct store_user u;
	uint32_t id, inbox, uids[12];
	int64_t ends;
	time_t t0;
	int i;

	grace_now = t0 = 1700000000;
	store_set_clock(grace_clock);
	ck_assert_int_eq(tu_user_add(st, "g@example.test", NULL, 10000, 0,
	    &id), 1);
	inbox = tu_inbox(st, id);

	/* 88% full, a 3000-byte message refused: the clock starts. */
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(sized_append(inbox, 1000, 0, &uids[i]), 1);
	ck_assert_int_eq(sized_append(inbox, 800, 0, &uids[8]), 1);
	expect_err(sized_append(inbox, 3000, 1, NULL), ERR_NOQUOTA,
	    "3000 bytes into 1200 left");
	u = grace_user(id);
	ck_assert_msg(u.over_quota_since == t0, "a refusal starts the clock: "
	    "%" PRId64, u.over_quota_since);
	ck_assert_msg(!store_user_quota_full(&u), "8800 of 10000 bytes is "
	    "not full");
	ck_assert_int_eq(store_user_usage_permille(&u, 0), 880);
	ck_assert_int_eq(store_user_usage_permille(&u, 1), -1);
	ck_assert_int_eq(store_user_grace(&u, 5, t0 + 86400, &ends),
	    STORE_GRACE_RUNS);
	ck_assert_msg(ends == t0 + 5 * 86400, "the period ends at %" PRId64,
	    ends);
	ck_assert_int_eq(store_user_grace(&u, 5, t0 + 5 * 86400, NULL),
	    STORE_GRACE_RUNS);
	/* Six days later, with room: the clock stops, no disabling. */
	ck_assert_msg(store_user_grace(&u, 5, t0 + 6 * 86400, NULL) ==
	    STORE_GRACE_CLEAR, "88%% full after the grace period must only "
	    "stop the clock, not disable");

	/* A checked delivery that fits stops the clock. */
	grace_now = t0 + 3600;
	ck_assert_int_eq(sized_append(inbox, 500, 1, NULL), 1);
	u = grace_user(id);
	ck_assert_msg(u.over_quota_since == 0, "a delivery that fitted left "
	    "the clock at %" PRId64, u.over_quota_since);

	/* 97% full (9300 + 400): full; a refusal starts the clock again. */
	ck_assert_int_eq(sized_append(inbox, 400, 0, &uids[9]), 1);
	u = grace_user(id);
	ck_assert_msg(store_user_quota_full(&u) && u.used_bytes == 9700,
	    "9700 of 10000 bytes is full (used %" PRIu64 ")", u.used_bytes);
	ck_assert_int_eq(u.over_quota_since, 0);
	expect_err(sized_append(inbox, 1000, 1, NULL), ERR_NOQUOTA,
	    "1000 bytes into 300 left");
	u = grace_user(id);
	ck_assert_int_eq(u.over_quota_since, t0 + 3600);
	ck_assert_int_eq(store_user_grace(&u, 5, t0 + 7 * 86400, NULL),
	    STORE_GRACE_DISABLE);

	/* Going down but staying at or above the mark: still running. */
	ck_assert_int_eq(sized_append(inbox, 100, 0, &uids[10]), 1);
	ck_assert_int_eq(tu_expunge(st, inbox, uids[10]), 1);
	u = grace_user(id);
	ck_assert_msg(u.over_quota_since == t0 + 3600 && u.used_bytes == 9700,
	    "an expunge that leaves 97%% stopped the clock (%" PRId64 ")",
	    u.over_quota_since);
	/* Down below the mark: the clock stops. */
	ck_assert_int_eq(tu_expunge(st, inbox, uids[9]), 1);
	u = grace_user(id);
	ck_assert_msg(u.over_quota_since == 0 && u.used_bytes == 9300,
	    "93%% after an expunge: clock at %" PRId64, u.over_quota_since);
	ck_assert_int_eq(store_user_grace(&u, 5, t0 + 9 * 86400, NULL),
	    STORE_GRACE_OFF);

	/* A lower full mark (the process setting of [quota] full_mark). */
	store_user_set_full_mark(90);
	ck_assert_msg(store_user_quota_full(&u), "93%% with a 90%% mark");
	store_user_set_full_mark(CONFIG_QUOTA_FULL_MARK);
	ck_assert_msg(!store_user_quota_full(&u), "93%% with the default");
	store_set_clock(NULL);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

/* The full mark at its edges, on the record alone. */
START_TEST(test_full_mark_edges)
{
	struct store_user u;

	memset(&u, 0, sizeof(u));
	ck_assert_uint_eq(store_user_full_mark(), 95);
	ck_assert_msg(!store_user_quota_full(&u), "no quota is never full");
	u.used_bytes = UINT64_MAX;
	ck_assert_msg(!store_user_quota_full(&u), "no quota is never full");
	u.quota_bytes = 100;
	u.used_bytes = 94;
	ck_assert_msg(!store_user_quota_full(&u), "94 of 100");
	u.used_bytes = 95;
	ck_assert_msg(store_user_quota_full(&u), "95 of 100");
	u.quota_bytes = 101;	/* 95.95: 96 is the first full count */
	ck_assert_msg(!store_user_quota_full(&u), "95 of 101");
	u.used_bytes = 96;
	ck_assert_msg(store_user_quota_full(&u), "96 of 101");
	u.quota_bytes = UINT64_MAX;
	u.used_bytes = UINT64_MAX / 100 * 94;
	ck_assert_msg(!store_user_quota_full(&u), "94%% of 2^64");
	u.used_bytes = UINT64_MAX / 100 * 96;
	ck_assert_msg(store_user_quota_full(&u), "96%% of 2^64");
	ck_assert_int_eq(store_user_usage_permille(&u, 0), 960);
	u.quota_bytes = 0;
	u.used_bytes = 0;
	u.quota_messages = 3;
	u.used_messages = 2;
	ck_assert_msg(!store_user_quota_full(&u), "2 of 3 messages");
	u.used_messages = 3;
	ck_assert_msg(store_user_quota_full(&u), "3 of 3 messages");
	ck_assert_int_eq(store_user_usage_permille(&u, 1), 1000);
	store_user_set_full_mark(0);
	ck_assert_uint_eq(store_user_full_mark(), 1);
	store_user_set_full_mark(1000);
	ck_assert_uint_eq(store_user_full_mark(), 100);
	u.used_messages = 2;
	ck_assert_msg(!store_user_quota_full(&u), "2 of 3 at a 100%% mark");
	store_user_set_full_mark(CONFIG_QUOTA_FULL_MARK);
}
END_TEST

/*
 * Logins: a repeat is answered from the login cache without crypt(3),
 * yet a changed password and a disabled account take effect at once.
 */
START_TEST(test_login_cache)
{
	struct store_user u;
	struct uop o;
	char *h1, *h2;
	uint32_t id;
	int rc;

	ck_assert_int_eq(store_password_hash("first", &h1), 0);
	ck_assert_int_eq(store_password_hash("second", &h2), 0);
	ck_assert_int_eq(tu_user_add(st, "login@example.test", h1, 0, 0, &id),
	    1);
	ck_assert_msg(store_user_login(st, "LOGIN#example.test", "first", &u)
	    == 1 && u.id == id, "first login: %s", tu_err());
	ck_assert_msg(store_user_login(st, "login@example.test", "first", &u)
	    == 1, "repeat login (cached): %s", tu_err());
	rc = store_user_login(st, "login@example.test", "wrong", &u);
	ck_assert_msg(rc == 0, "wrong password after a cached login: %d", rc);

	/* A new password hash: the old password no longer works. */
	snprintf(u.pwhash, sizeof(u.pwhash), "%s", h2);
	memset(&o, 0, sizeof(o));
	o.cu = &u;
	ck_assert_int_eq(store_write(st, update_fn, &o), 1);
	rc = store_user_login(st, "login@example.test", "first", &u);
	ck_assert_msg(rc == 0, "old password after passwd: %d", rc);
	ck_assert_msg(store_user_login(st, "login@example.test", "second", &u)
	    == 1, "new password: %s", tu_err());

	/* Disabled while its login is cached: refused. */
	u.disabled = 1;
	snprintf(u.disabled_reason, sizeof(u.disabled_reason), "test");
	o.cu = &u;
	ck_assert_int_eq(store_write(st, update_fn, &o), 1);
	rc = store_user_login(st, "login@example.test", "second", &u);
	ck_assert_msg(rc == 0 && strstr(tu_err(), "disabled") != NULL,
	    "disabled account with a cached login: %d %s", rc, tu_err());
	free(h1);
	free(h2);
}
END_TEST

static Suite *
user_suite(void)
{
	Suite *s = suite_create("store_user");
	TCase *tc;

	tc = tcase_create("user");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_add_get);
	tcase_add_test(tc, test_add_errors);
	tcase_add_test(tc, test_find_forms);
	tcase_add_test(tc, test_password);
	tcase_add_test(tc, test_update_keeps_usage);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_list_pages);
	tcase_add_test(tc, test_list_domain);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_quota_messages);
	tcase_add_test(tc, test_grace_clock);
	tcase_add_test(tc, test_full_mark_edges);
	tcase_add_test(tc, test_login_cache);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(user_suite());
}
