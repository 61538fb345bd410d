/* testutil.c - see testutil.h */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "testutil.h"

static int	rm_one(const char *, const struct stat *, int, struct FTW *);
static int	du_one(const char *, const struct stat *, int, struct FTW *);

static void	cleanup_base(void);

static uint64_t	du_total;
static char	*base;		/* see tu_init() */
static pid_t	 base_pid;
static char	problems[4096];
static size_t	nproblems;

/*
 * A failing Check assertion ends the forked test process without running
 * its teardown, so test dirs live under one base dir made by tu_init() in
 * the runner process, which removes it when the runner exits.  Forked
 * test processes inherit the atexit handler; the pid check keeps them
 * from removing the base.
 */
static void
cleanup_base(void)
{
	if (base != NULL && getpid() == base_pid)
		tu_rmtree(base);
}

void
tu_init(void)
{
	if (base != NULL)
		return;
	base = xstrdup("/tmp/vellum-unit-XXXXXX");
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", base, strerror(errno));
		abort();
	}
	base_pid = getpid();
	atexit(cleanup_base);
}

int
tu_run(Suite *s)
{
	SRunner *sr;
	int failed;

	tu_init();
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

char *
tu_tmpdir(const char *tag)
{
	char *path;

	if (base != NULL)
		path = xasprintf("%s/%s-XXXXXX", base, tag);
	else
		path = xasprintf("/tmp/vellum-%s-XXXXXX", tag);
	if (mkdtemp(path) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", path, strerror(errno));
		abort();
	}
	return path;
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (remove(path) == -1 && errno != ENOENT)
		fprintf(stderr, "remove %s: %s\n", path, strerror(errno));
	return 0;
}

void
tu_rmtree(const char *path)
{
	if (path == NULL)
		return;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
du_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type == FTW_F)
		du_total += (uint64_t)sb->st_blocks * 512;
	return 0;
}

uint64_t
tu_du(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 16, FTW_PHYS);
	return du_total;
}

void
tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
	if (r->s == 0)
		r->s = 1;
}

uint64_t
tu_rng_next(struct tu_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

uint64_t
tu_rng_below(struct tu_rng *r, uint64_t n)
{
	return n == 0 ? 0 : tu_rng_next(r) % n;
}

void
tu_rng_fill(struct tu_rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t v;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = tu_rng_next(r);
		memcpy(p + i, &v, 8);
	}
	if (i < len) {
		v = tu_rng_next(r);
		memcpy(p + i, &v, len - i);
	}
}

const char *
tu_err(void)
{
	static char buf[1200];

	snprintf(buf, sizeof(buf), "%s: %s", err_class_name(err_class()),
	    err_msg());
	return buf;
}

struct store *
tu_open(const char *data_dir)
{
	struct store *st = NULL;
	int rc;

	rc = store_open(data_dir, 0, &st);
	ck_assert_msg(rc >= 0 && st != NULL, "store_open(%s) returned %d: %s",
	    data_dir, rc, tu_err());
	return st;
}

struct store	*tu_st;
char		*tu_st_dir;

void
tu_store_setup(void)
{
	tu_st_dir = tu_tmpdir("store");
	tu_st = tu_open(tu_st_dir);
}

void
tu_store_teardown(void)
{
	store_close(&tu_st);
	tu_rmtree(tu_st_dir);
	free(tu_st_dir);
	tu_st_dir = NULL;
}

/* One context type serves every wrapper below. */
struct op {
	const char		*s1, *s2;
	uint32_t		 a, b, c;
	uint64_t		 q1, q2;
	uint32_t		*id_r;
	void			*out;
	const void		*data;
	size_t			 len;
	uint64_t		 off;
	size_t			*len_r;
	void			**data_r;
	struct store_prepared	*prep;
	enum store_flag_mode	 mode;
};

static int
op_domain_add(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_domain_add(txn, o->s1);
}

int
tu_domain_add(struct store *st, const char *name)
{
	struct op o = { .s1 = name };

	return store_write(st, op_domain_add, &o);
}

static int
op_user_add(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_user_add(txn, o->s1, o->s2, o->q1, o->q2, o->id_r);
}

int
tu_user_add(struct store *st, const char *address, const char *pwhash,
    uint64_t quota_bytes, uint64_t quota_messages, uint32_t *id_r)
{
	struct op o = { .s1 = address, .s2 = pwhash, .q1 = quota_bytes,
	    .q2 = quota_messages, .id_r = id_r };

	return store_write(st, op_user_add, &o);
}

static int
op_user_get(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_user_get(txn, o->a, o->out);
}

int
tu_user_get(struct store *st, uint32_t id, struct store_user *r)
{
	struct op o = { .a = id, .out = r };

	return store_read(st, op_user_get, &o);
}

static int
op_user_del(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_user_del(txn, o->a);
}

int
tu_user_del(struct store *st, uint32_t id)
{
	struct op o = { .a = id };

	return store_write(st, op_user_del, &o);
}

static int
op_mailbox_create(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_mailbox_create(txn, o->a, o->s1, o->b, o->id_r);
}

int
tu_mailbox_create(struct store *st, uint32_t user_id, const char *name,
    uint32_t special_use, uint32_t *id_r)
{
	struct op o = { .a = user_id, .s1 = name, .b = special_use,
	    .id_r = id_r };

	return store_write(st, op_mailbox_create, &o);
}

static int
op_mailbox_get(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_mailbox_get(txn, o->a, o->s1, o->out);
}

int
tu_mailbox_get(struct store *st, uint32_t user_id, const char *name,
    struct store_mailbox *r)
{
	struct op o = { .a = user_id, .s1 = name, .out = r };

	return store_read(st, op_mailbox_get, &o);
}

static int
op_mailbox_get_by_id(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_mailbox_get_by_id(txn, o->a, o->out);
}

int
tu_mailbox_get_by_id(struct store *st, uint32_t id, struct store_mailbox *r)
{
	struct op o = { .a = id, .out = r };

	return store_read(st, op_mailbox_get_by_id, &o);
}

uint32_t
tu_make_user(struct store *st, const char *address)
{
	const char *at;
	uint32_t id = 0;
	int rc;

	at = strchr(address, '@');
	ck_assert_msg(at != NULL, "tu_make_user: '%s' has no @", address);
	rc = tu_domain_add(st, at + 1);
	ck_assert_msg(rc == 1 || (rc == -1 && err_class() == ERR_EXISTS),
	    "store_domain_add(%s) returned %d: %s", at + 1, rc, tu_err());
	rc = tu_user_add(st, address, NULL, 0, 0, &id);
	ck_assert_msg(rc == 1 && id != 0, "store_user_add(%s) returned %d "
	    "(id %u): %s", address, rc, id, tu_err());
	return id;
}

uint32_t
tu_inbox(struct store *st, uint32_t user_id)
{
	struct store_mailbox mb;
	int rc;

	rc = tu_mailbox_get(st, user_id, "INBOX", &mb);
	ck_assert_msg(rc == 1, "INBOX of user %u: store_mailbox_get "
	    "returned %d: %s", user_id, rc, tu_err());
	return mb.id;
}

static int
op_append(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_append(txn, o->a, o->prep, 0, o->b, o->s1, 0,
	    o->id_r);
}

int
tu_append_prepared(struct store *st, uint32_t mailbox_id,
    struct store_prepared *prep, uint32_t flags, uint32_t *uid_r)
{
	struct op o = { .a = mailbox_id, .prep = prep, .b = flags,
	    .id_r = uid_r };

	return store_write(st, op_append, &o);
}

int
tu_append(struct store *st, uint32_t mailbox_id, const void *data,
    size_t len, uint32_t flags, const char *keywords, uint32_t *uid_r)
{
	struct op o = { .a = mailbox_id, .b = flags, .s1 = keywords,
	    .id_r = uid_r };
	int rc;

	rc = store_msg_prepare(st, data, len, &o.prep);
	if (rc < 0)
		return rc;
	rc = store_write(st, op_append, &o);
	store_prepared_free(&o.prep);
	return rc;
}

static int
op_msg_get(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_get(txn, o->a, o->b, o->out);
}

int
tu_msg_get(struct store *st, uint32_t mailbox_id, uint32_t uid,
    struct store_msg *r)
{
	struct op o = { .a = mailbox_id, .b = uid, .out = r };

	return store_read(st, op_msg_get, &o);
}

static int
op_read(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_read(txn, o->a, o->b, o->data_r, o->len_r);
}

int
tu_read(struct store *st, uint32_t mailbox_id, uint32_t uid, void **data_r,
    size_t *len_r)
{
	struct op o = { .a = mailbox_id, .b = uid, .data_r = data_r,
	    .len_r = len_r };

	return store_read(st, op_read, &o);
}

static int
op_read_range(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_read_range(txn, o->a, o->b, o->off, o->len, o->out,
	    o->len_r);
}

int
tu_read_range(struct store *st, uint32_t mailbox_id, uint32_t uid,
    uint64_t off, size_t len, void *buf, size_t *len_r)
{
	struct op o = { .a = mailbox_id, .b = uid, .off = off, .len = len,
	    .out = buf, .len_r = len_r };

	return store_read(st, op_read_range, &o);
}

static int
op_set_flags(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_set_flags(txn, o->a, o->b, o->mode, o->c, o->s1);
}

int
tu_set_flags(struct store *st, uint32_t mailbox_id, uint32_t uid,
    enum store_flag_mode mode, uint32_t flags, const char *keywords)
{
	struct op o = { .a = mailbox_id, .b = uid, .mode = mode, .c = flags,
	    .s1 = keywords };

	return store_write(st, op_set_flags, &o);
}

static int
op_copy(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_copy(txn, o->a, o->b, o->c, 0, o->id_r);
}

int
tu_copy(struct store *st, uint32_t src, uint32_t uid, uint32_t dst,
    uint32_t *uid_r)
{
	struct op o = { .a = src, .b = uid, .c = dst, .id_r = uid_r };

	return store_write(st, op_copy, &o);
}

static int
op_move(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_move(txn, o->a, o->b, o->c, o->id_r);
}

int
tu_move(struct store *st, uint32_t src, uint32_t uid, uint32_t dst,
    uint32_t *uid_r)
{
	struct op o = { .a = src, .b = uid, .c = dst, .id_r = uid_r };

	return store_write(st, op_move, &o);
}

static int
op_expunge(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_expunge(txn, o->a, o->b);
}

int
tu_expunge(struct store *st, uint32_t mailbox_id, uint32_t uid)
{
	struct op o = { .a = mailbox_id, .b = uid };

	return store_write(st, op_expunge, &o);
}

struct list_ctx {
	struct store_msg	*msgs;
	size_t			 n, cap;
};

static int
list_one(const struct store_msg *m, void *ctx)
{
	struct list_ctx *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->msgs = xreallocarray(l->msgs, l->cap, sizeof(*l->msgs));
	}
	l->msgs[l->n++] = *m;
	return 0;
}

static int
op_msg_list(struct store_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return store_msg_list(txn, o->a, 1, list_one, o->out);
}

int
tu_msg_list(struct store *st, uint32_t mailbox_id, struct store_msg **msgs_r,
    size_t *n_r)
{
	struct list_ctx l = { NULL, 0, 0 };
	struct op o = { .a = mailbox_id, .out = &l };
	int rc;

	rc = store_read(st, op_msg_list, &o);
	*msgs_r = l.msgs;
	*n_r = l.n;
	return rc;
}

static void
problem_one(const char *problem, void *ctx)
{
	size_t used = strlen(problems);

	nproblems++;
	if (nproblems <= 8 && used + 4 < sizeof(problems))
		snprintf(problems + used, sizeof(problems) - used, "%s%s",
		    used ? "; " : "", problem);
}

int
tu_check(struct store *st)
{
	problems[0] = '\0';
	nproblems = 0;
	return store_check(st, problem_one, NULL);
}

const char *
tu_check_problems(void)
{
	return problems[0] ? problems : "(none reported)";
}

void
tu_stats(struct store *st, struct store_stats *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = store_stats(st, r);
	ck_assert_msg(rc >= 0, "store_stats returned %d: %s", rc, tu_err());
}
