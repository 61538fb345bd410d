/*
 * check_store_mailbox.c - folders, UIDs, modseqs, flags and keywords.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "testutil.h"

static Suite	*mailbox_suite(void);

static char		*dir;
static struct store	*st;
static uint32_t		 user, inbox;

static const char msg1[] = "From: a@example.test\r\nSubject: one\r\n\r\n1\r\n";
static const char msg2[] = "From: b@example.test\r\nSubject: two\r\n\r\n22\r\n";

static void
setup(void)
{
	dir = tu_tmpdir("mailbox");
	st = tu_open(dir);
	user = tu_make_user(st, "box@example.test");
	inbox = tu_inbox(st, user);
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

struct mop {
	const char	*a, *b;
	uint32_t	 n;
	char		 names[32][STORE_MAILBOX_NAME_MAX + 1];
	size_t		 count;
};

static int
rename_fn(struct store_txn *txn, void *ctx)
{
	struct mop *o = ctx;

	return store_mailbox_rename(txn, user, o->a, o->b);
}

static int
delete_fn(struct store_txn *txn, void *ctx)
{
	struct mop *o = ctx;

	return store_mailbox_delete(txn, user, o->a);
}

static int
subscribe_fn(struct store_txn *txn, void *ctx)
{
	struct mop *o = ctx;

	return store_mailbox_subscribe(txn, user, o->a, (int)o->n);
}

static int
special_fn(struct store_txn *txn, void *ctx)
{
	struct mop *o = ctx;

	return store_mailbox_set_special_use(txn, user, o->a, o->n);
}

static int
list_one(const struct store_mailbox *mb, void *ctx)
{
	struct mop *o = ctx;

	if (o->count < 32)
		snprintf(o->names[o->count], sizeof(o->names[0]), "%s",
		    mb->name);
	o->count++;
	return 0;
}

static int
list_fn(struct store_txn *txn, void *ctx)
{
	return store_mailbox_list(txn, user, list_one, ctx);
}

static int
mb_rename(const char *from, const char *to)
{
	struct mop o = { .a = from, .b = to };

	return store_write(st, rename_fn, &o);
}

static int
mb_delete(const char *name)
{
	struct mop o = { .a = name };

	return store_write(st, delete_fn, &o);
}

static uint32_t
mb_create(const char *name)
{
	uint32_t id = 0;
	int rc;

	rc = tu_mailbox_create(st, user, name, 0, &id);
	ck_assert_msg(rc == 1 && id != 0, "create \"%s\" returned %d id %u: %s",
	    name, rc, id, tu_err());
	return id;
}

static struct store_mailbox
mb_get(const char *name)
{
	struct store_mailbox mb;
	int rc;

	memset(&mb, 0, sizeof(mb));
	rc = tu_mailbox_get(st, user, name, &mb);
	ck_assert_msg(rc == 1, "get \"%s\" returned %d: %s", name, rc,
	    tu_err());
	return mb;
}

static struct store_mailbox
mb_by_id(uint32_t id)
{
	struct store_mailbox mb;
	int rc;

	memset(&mb, 0, sizeof(mb));
	rc = tu_mailbox_get_by_id(st, id, &mb);
	ck_assert_msg(rc == 1, "get_by_id %u returned %d: %s", id, rc,
	    tu_err());
	return mb;
}

static int
mb_exists(const char *name)
{
	struct store_mailbox mb;

	return tu_mailbox_get(st, user, name, &mb) == 1;
}

static void
check_clean(void)
{
	int rc = tu_check(st);

	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
}

static uint32_t
append(uint32_t mbox, const char *m, uint32_t flags)
{
	uint32_t uid = 0;
	int rc;

	rc = tu_append(st, mbox, m, strlen(m), flags, NULL, &uid);
	ck_assert_msg(rc == 1 && uid != 0, "append to %u returned %d uid %u: "
	    "%s", mbox, rc, uid, tu_err());
	return uid;
}

static struct store_msg
msg_get(uint32_t mbox, uint32_t uid)
{
	struct store_msg m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = tu_msg_get(st, mbox, uid, &m);
	ck_assert_msg(rc == 1, "msg_get %u/%u returned %d: %s", mbox, uid, rc,
	    tu_err());
	return m;
}

START_TEST(test_create_get_list)
{
	struct store_mailbox mb, mb2;
	struct mop o = { 0 };
	uint32_t id;

	mb = mb_get("INBOX");
	ck_assert_msg(mb.id == inbox && mb.user_id == user && mb.messages == 0
	    && mb.uidvalidity != 0 && mb.uidnext >= 1, "INBOX: id %u user %u "
	    "messages %u uidvalidity %u uidnext %u", mb.id, mb.user_id,
	    mb.messages, mb.uidvalidity, mb.uidnext);
	mb2 = mb_get("inbox");
	ck_assert_msg(mb2.id == inbox, "\"inbox\" found mailbox %u, INBOX is "
	    "%u", mb2.id, inbox);
	mb2 = mb_get("InBoX");
	ck_assert_msg(mb2.id == inbox, "\"InBoX\" found mailbox %u", mb2.id);

	id = mb_create("Notes");
	mb = mb_by_id(id);
	ck_assert_msg(strcmp(mb.name, "Notes") == 0 && mb.user_id == user,
	    "by id: name \"%s\" user %u", mb.name, mb.user_id);
	ck_assert_msg(!mb_exists("notes"), "\"notes\" matched \"Notes\": only "
	    "INBOX is case-insensitive");
	mb_create("notes");
	mb_create("Box");
	mb_create("Box/2024");
	mb_create("\xc3\x9c" "bersicht");

	ck_assert_int_ge(store_read(st, list_fn, &o), 0);
	/* INBOX and the five default folders, then the five made here. */
	ck_assert_msg(o.count == 11, "listed %zu mailboxes, wanted 11",
	    o.count);
	ck_assert_msg(strcmp(o.names[0], "Archive") == 0 &&
	    strcmp(o.names[1], "Box") == 0 &&
	    strcmp(o.names[2], "Box/2024") == 0, "first names \"%s\", "
	    "\"%s\", \"%s\": not in name order", o.names[0], o.names[1],
	    o.names[2]);

	ck_assert_msg(tu_mailbox_get(st, user, "Nope", &mb) == 0,
	    "get of a missing mailbox did not return 0");
	ck_assert_msg(tu_mailbox_get_by_id(st, 999999, &mb) == 0,
	    "get_by_id of a missing id did not return 0");
}
END_TEST

START_TEST(test_create_errors)
{
	static const char *bad[] = { "", "a//b", "/lead", "trail/",
	    "ctl\x01", "tab\there", "nl\n" };
	char longname[STORE_MAILBOX_NAME_MAX + 10];
	char what[128];
	uint32_t id;
	size_t i;

	mb_create("Work");
	expect_err(tu_mailbox_create(st, user, "Work", 0, &id), ERR_EXISTS,
	    "second create of Work");
	expect_err(tu_mailbox_create(st, user, "inbox", 0, &id), ERR_EXISTS,
	    "create of \"inbox\"");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(what, sizeof(what), "create of bad name #%zu", i);
		expect_err(tu_mailbox_create(st, user, bad[i], 0, &id),
		    ERR_INVALID, what);
	}
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_err(tu_mailbox_create(st, user, longname, 0, &id), ERR_INVALID,
	    "create of a 521-byte name");
}
END_TEST

START_TEST(test_rename_with_children)
{
	struct store_mailbox mb;
	uint32_t a, ab, abc, other, uid;

	a = mb_create("A");
	ab = mb_create("A/B");
	abc = mb_create("A/B/C");
	other = mb_create("AB");	/* a prefix but not a child */
	uid = append(ab, msg1, 0);

	ck_assert_msg(mb_rename("A", "X") >= 0, "rename A -> X failed: %s",
	    tu_err());
	ck_assert_msg(!mb_exists("A") && !mb_exists("A/B") &&
	    !mb_exists("A/B/C"), "old names still there after rename");
	mb = mb_get("X");
	ck_assert_msg(mb.id == a, "X has id %u, A had %u", mb.id, a);
	mb = mb_get("X/B");
	ck_assert_msg(mb.id == ab && mb.messages == 1, "X/B: id %u (A/B was "
	    "%u), %u messages", mb.id, ab, mb.messages);
	mb = mb_get("X/B/C");
	ck_assert_msg(mb.id == abc, "X/B/C has id %u, A/B/C had %u", mb.id,
	    abc);
	mb = mb_get("AB");
	ck_assert_msg(mb.id == other, "\"AB\" was renamed along with \"A\"");
	ck_assert_msg(tu_msg_get(st, ab, uid, &(struct store_msg){ 0 }) == 1,
	    "message of A/B gone after rename");

	/* Into a new hierarchy level, then errors. */
	ck_assert_msg(mb_rename("X/B", "Y") >= 0, "rename X/B -> Y failed: %s",
	    tu_err());
	ck_assert_msg(mb_exists("Y") && mb_exists("Y/C") && !mb_exists("X/B")
	    && mb_exists("X"), "after X/B -> Y: Y %d, Y/C %d, X/B %d, X %d",
	    mb_exists("Y"), mb_exists("Y/C"), mb_exists("X/B"),
	    mb_exists("X"));
	expect_err(mb_rename("Missing", "Z"), ERR_NOTFOUND,
	    "rename of a missing mailbox");
	expect_err(mb_rename("Y", "AB"), ERR_EXISTS,
	    "rename onto an existing mailbox");
	expect_err(mb_rename("Y", ""), ERR_INVALID, "rename to \"\"");
	expect_err(mb_rename("Y", "bad//name"), ERR_INVALID,
	    "rename to \"bad//name\"");
	ck_assert_msg(mb_exists("Y"), "failed renames lost Y");
	check_clean();
}
END_TEST

START_TEST(test_rename_inbox)
{
	struct store_mailbox old, in, in2;
	uint32_t u1, u2, u3;

	u1 = append(inbox, msg1, 0);
	u2 = append(inbox, msg2, STORE_F_SEEN);
	in = mb_get("INBOX");
	ck_assert_msg(mb_rename("INBOX", "Old Mail") >= 0, "rename INBOX "
	    "failed: %s", tu_err());
	old = mb_get("Old Mail");
	in2 = mb_get("INBOX");
	ck_assert_msg(old.messages == 2 && old.unseen == 1, "renamed INBOX "
	    "has %u messages, %u unseen; wanted 2, 1", old.messages,
	    old.unseen);
	ck_assert_msg(in2.messages == 0 && in2.bytes == 0 && in2.unseen == 0,
	    "INBOX after rename has %u messages, %" PRIu64 " bytes",
	    in2.messages, in2.bytes);
	ck_assert_msg(old.id != in2.id, "INBOX and Old Mail share id %u",
	    old.id);
	/* The moved messages keep their bytes. */
	{
		void *d = NULL;
		size_t l = 0;
		struct store_msg *msgs = NULL;
		size_t n = 0;

		ck_assert_int_ge(tu_msg_list(st, old.id, &msgs, &n), 0);
		ck_assert_msg(n == 2, "Old Mail lists %zu messages", n);
		ck_assert_msg(tu_read(st, old.id, msgs[1].uid, &d, &l) == 1 &&
		    l == strlen(msg2) && memcmp(d, msg2, l) == 0,
		    "second message of Old Mail does not read back");
		free(d);
		free(msgs);
	}
	/*
	 * New messages in INBOX must not reuse a UID with the same
	 * UIDVALIDITY as messages that were in INBOX before.
	 */
	u3 = append(in2.id, msg1, 0);
	in2 = mb_get("INBOX");
	ck_assert_msg(in2.uidvalidity != in.uidvalidity || u3 > u2,
	    "INBOX reuses uid %u under uidvalidity %u (old uids %u, %u)", u3,
	    in2.uidvalidity, u1, u2);
	check_clean();
}
END_TEST

START_TEST(test_delete)
{
	struct store_mailbox mb, again;
	struct store_user u;
	uint32_t parent, child, uid;

	parent = mb_create("P");
	child = mb_create("P/C");
	append(parent, msg1, 0);
	append(parent, msg2, 0);
	append(child, msg1, 0);
	mb = mb_get("P");
	expect_err(mb_delete("INBOX"), ERR_PERM, "delete of INBOX");
	expect_err(mb_delete("inbox"), ERR_PERM, "delete of inbox");
	expect_err(mb_delete("Missing"), ERR_NOTFOUND,
	    "delete of a missing mailbox");
	ck_assert_msg(mb_delete("P") == 1, "delete of P failed: %s", tu_err());
	ck_assert_msg(!mb_exists("P") && mb_exists("P/C"), "after delete: P "
	    "%d, P/C %d (children stay)", mb_exists("P"), mb_exists("P/C"));
	ck_assert_int_eq(tu_user_get(st, user, &u), 1);
	ck_assert_msg(u.used_messages == 1 && u.used_bytes == strlen(msg1),
	    "usage after deleting P: %" PRIu64 " messages %" PRIu64 " bytes",
	    u.used_messages, u.used_bytes);
	ck_assert_msg(mb_by_id(child).messages == 1, "P/C has %u messages "
	    "after deleting P, wanted 1", mb_by_id(child).messages);

	/* Re-created: UIDs of the old mailbox must not come back. */
	parent = mb_create("P");
	uid = append(parent, msg1, 0);
	again = mb_get("P");
	ck_assert_msg(again.uidvalidity != mb.uidvalidity ||
	    uid >= mb.uidnext, "re-created P: uidvalidity %u (was %u), new "
	    "uid %u (old uidnext %u)", again.uidvalidity, mb.uidvalidity, uid,
	    mb.uidnext);
	check_clean();
}
END_TEST

START_TEST(test_subscribe_special_use)
{
	struct mop o = { .a = "Outgoing", .n = 1 };
	struct store_mailbox mb;
	char buf[128];
	uint32_t id;
	int rc;

	rc = tu_mailbox_create(st, user, "Bin", STORE_SPECIAL_TRASH, &id);
	ck_assert_int_eq(rc, 1);
	mb = mb_get("Bin");
	ck_assert_msg(mb.special_use == STORE_SPECIAL_TRASH, "Bin special "
	    "use %#x", mb.special_use);
	mb_create("Outgoing");
	ck_assert_msg(store_write(st, subscribe_fn, &o) >= 0,
	    "subscribe failed: %s", tu_err());
	ck_assert_msg(mb_get("Outgoing").subscribed, "Sent not subscribed");
	o.n = 0;
	ck_assert_int_ge(store_write(st, subscribe_fn, &o), 0);
	ck_assert_msg(!mb_get("Outgoing").subscribed, "Sent still subscribed");
	o.n = STORE_SPECIAL_SENT | STORE_SPECIAL_ARCHIVE;
	ck_assert_msg(store_write(st, special_fn, &o) >= 0, "set_special_use "
	    "failed: %s", tu_err());
	mb = mb_get("Outgoing");
	ck_assert_msg(mb.special_use == (STORE_SPECIAL_SENT |
	    STORE_SPECIAL_ARCHIVE), "Sent special use %#x", mb.special_use);
	o.a = "Missing";
	expect_err(store_write(st, subscribe_fn, &o), ERR_NOTFOUND,
	    "subscribe of a missing mailbox");

	ck_assert_uint_eq(store_special_use_parse("\\Sent"), STORE_SPECIAL_SENT);
	ck_assert_uint_eq(store_special_use_parse("Junk"), STORE_SPECIAL_JUNK);
	ck_assert_uint_eq(store_special_use_parse("\\Drafts"),
	    STORE_SPECIAL_DRAFTS);
	ck_assert_uint_eq(store_special_use_parse("\\Bogus"), 0);
	store_special_use_format(STORE_SPECIAL_SENT | STORE_SPECIAL_JUNK, buf,
	    sizeof(buf));
	ck_assert_msg(strstr(buf, "\\Sent") && strstr(buf, "\\Junk") &&
	    !strstr(buf, "\\Trash"), "format(Sent|Junk) gave \"%s\"", buf);
}
END_TEST

START_TEST(test_uids_and_modseq)
{
	struct store_mailbox m0, m1, m2, m3;
	struct store_msg a, b;
	uint32_t u1, u2, u3;

	m0 = mb_get("INBOX");
	u1 = append(inbox, msg1, 0);
	m1 = mb_get("INBOX");
	ck_assert_msg(u1 == m0.uidnext && m1.uidnext == u1 + 1, "first uid %u"
	    " with uidnext %u before, %u after", u1, m0.uidnext, m1.uidnext);
	ck_assert_msg(m1.highestmodseq > m0.highestmodseq, "append did not "
	    "raise highestmodseq (%" PRIu64 " -> %" PRIu64 ")",
	    m0.highestmodseq, m1.highestmodseq);
	a = msg_get(inbox, u1);
	ck_assert_msg(a.modseq == m1.highestmodseq && a.modseq > 0, "message "
	    "modseq %" PRIu64 ", mailbox highest %" PRIu64, a.modseq,
	    m1.highestmodseq);

	u2 = append(inbox, msg2, 0);
	b = msg_get(inbox, u2);
	m2 = mb_get("INBOX");
	ck_assert_msg(u2 > u1 && b.modseq > a.modseq &&
	    m2.highestmodseq == b.modseq, "second append: uid %u (> %u), "
	    "modseq %" PRIu64 " (> %" PRIu64 "), highest %" PRIu64, u2, u1,
	    b.modseq, a.modseq, m2.highestmodseq);

	/* Flag change bumps; a no-op change does not. */
	ck_assert_int_eq(tu_set_flags(st, inbox, u1, STORE_FLAGS_ADD,
	    STORE_F_SEEN, NULL), 1);
	a = msg_get(inbox, u1);
	m3 = mb_get("INBOX");
	ck_assert_msg(a.modseq > m2.highestmodseq && m3.highestmodseq ==
	    a.modseq, "flag change: message modseq %" PRIu64 ", highest %"
	    PRIu64 " -> %" PRIu64, a.modseq, m2.highestmodseq,
	    m3.highestmodseq);
	ck_assert_int_eq(tu_set_flags(st, inbox, u1, STORE_FLAGS_ADD,
	    STORE_F_SEEN, NULL), 1);
	b = msg_get(inbox, u1);
	ck_assert_msg(b.modseq == a.modseq, "adding a flag already set "
	    "changed modseq %" PRIu64 " -> %" PRIu64, a.modseq, b.modseq);

	/* Expunge keeps uidnext and raises the mailbox modseq. */
	ck_assert_int_eq(tu_expunge(st, inbox, u2), 1);
	m2 = mb_get("INBOX");
	ck_assert_msg(m2.uidnext == u2 + 1 && m2.highestmodseq >
	    m3.highestmodseq && m2.messages == 1, "after expunge: uidnext %u "
	    "(wanted %u), highest %" PRIu64 " (was %" PRIu64 "), %u messages",
	    m2.uidnext, u2 + 1, m2.highestmodseq, m3.highestmodseq,
	    m2.messages);
	u3 = append(inbox, msg2, 0);
	ck_assert_msg(u3 > u2, "uid %u reused after expunging %u", u3, u2);
	ck_assert_int_eq(tu_expunge(st, inbox, u2), 0);
	ck_assert_int_eq(tu_set_flags(st, inbox, u2, STORE_FLAGS_ADD,
	    STORE_F_SEEN, NULL), 0);

	/* Mailboxes have distinct UIDVALIDITY values. */
	m1 = mb_get("INBOX");
	m2 = mb_by_id(mb_create("Other"));
	ck_assert_msg(m1.uidvalidity != m2.uidvalidity, "INBOX and Other "
	    "share uidvalidity %u", m1.uidvalidity);
}
END_TEST

/* Keywords as a set: order and duplicates do not matter. */
static int
has_keyword(const char *list, const char *kw)
{
	size_t n = strlen(kw);
	const char *p = list;

	while ((p = strstr(p, kw)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' ||
		    p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

static int
count_keywords(const char *list)
{
	int n = 0, in = 0;

	for (; *list; list++) {
		if (*list != ' ' && !in)
			n++;
		in = *list != ' ';
	}
	return n;
}

START_TEST(test_flags_keywords)
{
	struct store_mailbox mb;
	struct store_msg m;
	char big[STORE_KEYWORDS_MAX + 50];
	uint32_t uid, uid2;
	size_t i;
	int rc;

	rc = tu_append(st, inbox, msg1, strlen(msg1), STORE_F_FLAGGED,
	    "$Label1 Work", &uid);
	ck_assert_int_eq(rc, 1);
	uid2 = append(inbox, msg2, STORE_F_SEEN);
	m = msg_get(inbox, uid);
	ck_assert_msg(m.flags == STORE_F_FLAGGED && has_keyword(m.keywords,
	    "$Label1") && has_keyword(m.keywords, "Work") &&
	    count_keywords(m.keywords) == 2, "appended flags %#x keywords "
	    "\"%s\"", m.flags, m.keywords);
	mb = mb_get("INBOX");
	ck_assert_msg(mb.unseen == 1 && mb.messages == 2, "unseen %u of %u",
	    mb.unseen, mb.messages);

	ck_assert_int_eq(tu_set_flags(st, inbox, uid, STORE_FLAGS_ADD,
	    STORE_F_SEEN | STORE_F_ANSWERED, "Todo Work"), 1);
	m = msg_get(inbox, uid);
	ck_assert_msg(m.flags == (STORE_F_FLAGGED | STORE_F_SEEN |
	    STORE_F_ANSWERED) && count_keywords(m.keywords) == 3 &&
	    has_keyword(m.keywords, "Todo"), "after ADD: flags %#x keywords "
	    "\"%s\"", m.flags, m.keywords);
	mb = mb_get("INBOX");
	ck_assert_msg(mb.unseen == 0, "unseen %u after \\Seen on both",
	    mb.unseen);

	ck_assert_int_eq(tu_set_flags(st, inbox, uid, STORE_FLAGS_REMOVE,
	    STORE_F_SEEN | STORE_F_DRAFT, "Work Absent"), 1);
	m = msg_get(inbox, uid);
	ck_assert_msg(m.flags == (STORE_F_FLAGGED | STORE_F_ANSWERED) &&
	    !has_keyword(m.keywords, "Work") && has_keyword(m.keywords,
	    "$Label1") && has_keyword(m.keywords, "Todo"), "after REMOVE: "
	    "flags %#x keywords \"%s\"", m.flags, m.keywords);
	ck_assert_msg(mb_get("INBOX").unseen == 1, "unseen not back to 1");

	ck_assert_int_eq(tu_set_flags(st, inbox, uid, STORE_FLAGS_SET,
	    STORE_F_DELETED, NULL), 1);
	m = msg_get(inbox, uid);
	ck_assert_msg(m.flags == STORE_F_DELETED && m.keywords[0] == '\0',
	    "after SET with NULL keywords: flags %#x keywords \"%s\"",
	    m.flags, m.keywords);
	ck_assert_int_eq(tu_set_flags(st, inbox, uid, STORE_FLAGS_SET, 0,
	    "Only"), 1);
	m = msg_get(inbox, uid);
	ck_assert_msg(m.flags == 0 && strcmp(m.keywords, "Only") == 0,
	    "after SET 0 \"Only\": flags %#x keywords \"%s\"", m.flags,
	    m.keywords);

	/* Bad keywords. */
	expect_err(tu_set_flags(st, inbox, uid2, STORE_FLAGS_ADD, 0, "a(b"),
	    ERR_INVALID, "keyword \"a(b\"");
	expect_err(tu_set_flags(st, inbox, uid2, STORE_FLAGS_ADD, 0,
	    "\\Seen"), ERR_INVALID, "keyword \"\\Seen\"");
	/* Distinct keywords, more than STORE_KEYWORDS_MAX bytes in all. */
	big[0] = '\0';
	for (i = 0; strlen(big) + 8 < sizeof(big); i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big),
		    "%skw%04zu", i ? " " : "", i);
	rc = tu_set_flags(st, inbox, uid2, STORE_FLAGS_ADD, 0, big);
	ck_assert_msg(rc == -1 && (err_class() == ERR_LIMIT ||
	    err_class() == ERR_INVALID), "%zu bytes of keywords: rc %d (%s)",
	    strlen(big), rc, tu_err());
	m = msg_get(inbox, uid2);
	ck_assert_msg(m.keywords[0] == '\0' && m.flags == STORE_F_SEEN,
	    "failed keyword changes left flags %#x keywords \"%s\"", m.flags,
	    m.keywords);
	check_clean();
}
END_TEST

/* store_mailbox_set_uidvalidity() and store_msg_append_uid(). */
struct keep {
	uint32_t		 mbox, uidvalidity, uid, uidnext;
	unsigned		 style;
	struct store_prepared	*p;
	int			 what;	/* 0 set, 1 append at uid, 2 raise */
};

static int
keep_fn(struct store_txn *txn, void *ctx)
{
	struct keep *k = ctx;

	if (k->what == 0)
		return store_mailbox_set_uidvalidity(txn, k->mbox,
		    k->uidvalidity, k->style);
	if (k->what == 1)
		return store_msg_append_uid(txn, k->mbox, k->uid, k->p, 0, 0,
		    NULL, 0);
	return store_mailbox_raise_uidnext(txn, k->mbox, k->uidnext);
}

static int
keep_run(struct keep *k, int what, uint32_t v)
{
	k->what = what;
	if (what == 0)
		k->uidvalidity = v;
	else if (what == 1)
		k->uid = v;
	else
		k->uidnext = v;
	return store_write(st, keep_fn, k);
}

/*
 * An import keeps another server's UIDVALIDITY and UIDs: an empty mailbox
 * takes them, messages land at their old UIDs, UIDNEXT follows; no UID
 * is given twice; later mailboxes get UIDVALIDITYs above it.
 */
START_TEST(test_keep_uids)
{
	struct keep k;
	struct store_mailbox mb;
	struct store_msg *msgs = NULL;
	size_t n = 0;
	uint32_t id, future, uid;
	int rc;

	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(tu_mailbox_create(st, user, "Old", 0, &id), 1);
	k.mbox = id;
	k.style = STORE_UIDL_DOVECOT;
	ck_assert_int_eq(store_msg_prepare(st, msg1, strlen(msg1), &k.p), 0);
	rc = keep_run(&k, 0, 1234567890);
	ck_assert_msg(rc == 1, "set_uidvalidity: %d %s", rc, tu_err());
	ck_assert_int_eq(keep_run(&k, 1, 5), 1);
	ck_assert_int_eq(keep_run(&k, 1, 9), 1);
	ck_assert_int_eq(keep_run(&k, 1, 12), 1);
	mb = mb_get("Old");
	ck_assert_msg(mb.uidvalidity == 1234567890 && mb.uidnext == 13 &&
	    mb.messages == 3 && mb.pop3_uidl == STORE_UIDL_DOVECOT,
	    "uidvalidity %u uidnext %u messages %u uidl %u", mb.uidvalidity,
	    mb.uidnext, mb.messages, mb.pop3_uidl);
	ck_assert_int_eq(tu_msg_list(st, id, &msgs, &n), 0);
	ck_assert_msg(n == 3 && msgs[0].uid == 5 && msgs[1].uid == 9 &&
	    msgs[2].uid == 12, "%zu messages", n);
	free(msgs);

	/* Taken, or below UIDNEXT: refused. */
	expect_err(keep_run(&k, 1, 12), ERR_EXISTS, "append at UID 12 again");
	expect_err(keep_run(&k, 1, 7), ERR_EXISTS, "append at UID 7 < 13");
	expect_err(keep_run(&k, 1, 0), ERR_INVALID, "append at UID 0");
	/* A mailbox with messages keeps its UIDVALIDITY. */
	expect_err(keep_run(&k, 0, 42), ERR_EXISTS, "set on a full mailbox");
	expect_err(keep_run(&k, 0, 0), ERR_INVALID, "UIDVALIDITY 0");
	/* Too close to 2^32: later mailboxes would wrap to 0. */
	ck_assert_int_eq(tu_mailbox_create(st, user, "Edge", 0, &k.mbox), 1);
	expect_err(keep_run(&k, 0, UINT32_MAX), ERR_LIMIT,
	    "UIDVALIDITY 2^32-1");
	expect_err(keep_run(&k, 0, STORE_UIDVALIDITY_KEEP_MAX + 1),
	    ERR_LIMIT, "UIDVALIDITY above the headroom");
	k.mbox = id;

	/* UIDNEXT rises, never falls; the next append follows it. */
	ck_assert_int_eq(keep_run(&k, 2, 20), 1);
	ck_assert_int_eq(keep_run(&k, 2, 3), 1);
	mb = mb_get("Old");
	ck_assert_uint_eq(mb.uidnext, 20);
	uid = append(id, msg2, 0);
	ck_assert_uint_eq(uid, 20);

	/* A future UIDVALIDITY on the empty INBOX: new ones go above it. */
	future = (uint32_t)time(NULL) + 1000000;
	k.mbox = inbox;
	/* Its message expunged, the INBOX is empty again: UIDs restart. */
	uid = append(inbox, msg1, 0);
	ck_assert_int_eq(tu_expunge(st, inbox, uid), 1);
	k.uid = 0;
	k.style = STORE_UIDL_COURIER;
	ck_assert_int_eq(keep_run(&k, 0, future), 1);
	ck_assert_int_eq(tu_mailbox_create(st, user, "New", 0, &id), 1);
	mb = mb_get("New");
	ck_assert_msg(mb.uidvalidity > future, "new UIDVALIDITY %u, not "
	    "above %u", mb.uidvalidity, future);
	ck_assert_uint_eq(mb.pop3_uidl, STORE_UIDL_VELLUM);
	mb = mb_get("INBOX");
	ck_assert_uint_eq(mb.pop3_uidl, STORE_UIDL_COURIER);
	ck_assert_msg(mb.uidvalidity == future && mb.uidnext == 1 &&
	    mb.recent_uid == 1, "INBOX: uidvalidity %u uidnext %u recent %u",
	    mb.uidvalidity, mb.uidnext, mb.recent_uid);
	k.mbox = inbox;
	ck_assert_int_eq(keep_run(&k, 1, 3), 1);
	store_prepared_free(&k.p);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

static Suite *
mailbox_suite(void)
{
	Suite *s = suite_create("store_mailbox");
	TCase *tc;

	tc = tcase_create("mailbox");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create_get_list);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_rename_with_children);
	tcase_add_test(tc, test_rename_inbox);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_subscribe_special_use);
	tcase_add_test(tc, test_uids_and_modseq);
	tcase_add_test(tc, test_flags_keywords);
	tcase_add_test(tc, test_keep_uids);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(mailbox_suite());
}
