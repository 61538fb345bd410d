/*
 * testutil.h - helpers shared by the unit suites.
 *
 * Temporary data dirs, a deterministic random generator, and one-call
 * wrappers that run a single store operation inside its own transaction
 * (store_write() or store_read()), so a test reads as a list of steps.
 * Every wrapper returns what the wrapped store function returned; the
 * error class and message stay set for the caller to inspect.
 */
#ifndef VELLUM_TESTUTIL_H
#define VELLUM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "store/check.h"
#include "store/domain.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/store.h"
#include "store/user.h"

/*
 * Call first in main(): makes /tmp/vellum-unit-XXXXXX, under which
 * tu_tmpdir() makes each test's dir, and removes it all when the runner
 * exits (even after failed tests, whose teardown never ran).
 */
void	 tu_init(void);
/* tu_init(), runs the suite (CK_NORMAL), frees it: the exit status. */
int	 tu_run(Suite *);
/* mkdtemp under the base dir (or /tmp); malloc'd.  Aborts on failure. */
char	*tu_tmpdir(const char *tag);
/* rm -rf; tolerates a missing path. */
void	 tu_rmtree(const char *path);
/* Sum of st_blocks * 512 of every file under path (du -s --block-size=1). */
uint64_t tu_du(const char *path);

/* xorshift64* generator: same seed, same sequence. */
struct tu_rng {
	uint64_t	s;
};
void	 tu_rng_seed(struct tu_rng *, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *);
/* Uniform-ish in [0, n). */
uint64_t tu_rng_below(struct tu_rng *, uint64_t n);
void	 tu_rng_fill(struct tu_rng *, void *buf, size_t len);

/* store_open() that fails the test with the error when it fails. */
struct store *tu_open(const char *data_dir);
/*
 * A checked fixture (tcase_add_checked_fixture()) for suites that want a
 * new store per test and nothing else: tu_store_setup() opens tu_st in a
 * new tu_st_dir, tu_store_teardown() closes it and removes the dir.
 */
extern struct store	*tu_st;
extern char		*tu_st_dir;
void	tu_store_setup(void);
void	tu_store_teardown(void);

/* Store operations, each in its own transaction. */
int	tu_domain_add(struct store *, const char *name);
int	tu_user_add(struct store *, const char *address, const char *pwhash,
	    uint64_t quota_bytes, uint64_t quota_messages, uint32_t *id_r);
int	tu_user_get(struct store *, uint32_t id, struct store_user *r);
int	tu_user_del(struct store *, uint32_t id);
int	tu_mailbox_create(struct store *, uint32_t user_id, const char *name,
	    uint32_t special_use, uint32_t *id_r);
int	tu_mailbox_get(struct store *, uint32_t user_id, const char *name,
	    struct store_mailbox *r);
int	tu_mailbox_get_by_id(struct store *, uint32_t id,
	    struct store_mailbox *r);
/* Domain (created when missing) + user; fails the test on error. */
uint32_t tu_make_user(struct store *, const char *address);
/* The id of a user's INBOX; fails the test when missing. */
uint32_t tu_inbox(struct store *, uint32_t user_id);

/* Prepares and appends in one durable transaction. */
int	tu_append(struct store *, uint32_t mailbox_id, const void *data,
	    size_t len, uint32_t flags, const char *keywords, uint32_t *uid_r);
/* Appends an already prepared message. */
int	tu_append_prepared(struct store *, uint32_t mailbox_id,
	    struct store_prepared *, uint32_t flags, uint32_t *uid_r);
int	tu_msg_get(struct store *, uint32_t mailbox_id, uint32_t uid,
	    struct store_msg *r);
int	tu_read(struct store *, uint32_t mailbox_id, uint32_t uid,
	    void **data_r, size_t *len_r);
int	tu_read_range(struct store *, uint32_t mailbox_id, uint32_t uid,
	    uint64_t off, size_t len, void *buf, size_t *len_r);
int	tu_set_flags(struct store *, uint32_t mailbox_id, uint32_t uid,
	    enum store_flag_mode, uint32_t flags, const char *keywords);
int	tu_copy(struct store *, uint32_t src, uint32_t uid, uint32_t dst,
	    uint32_t *uid_r);
int	tu_move(struct store *, uint32_t src, uint32_t uid, uint32_t dst,
	    uint32_t *uid_r);
int	tu_expunge(struct store *, uint32_t mailbox_id, uint32_t uid);

/* Every message of a mailbox; *msgs_r is malloc'd (may be NULL when 0). */
int	tu_msg_list(struct store *, uint32_t mailbox_id,
	    struct store_msg **msgs_r, size_t *n_r);

/*
 * store_check(); the first problems reported are copied into a static
 * buffer that tu_check_problems() returns, for assertion messages.
 */
int	tu_check(struct store *);
const char *tu_check_problems(void);

/* store_stats() that fails the test when it fails. */
void	tu_stats(struct store *, struct store_stats *r);

/* "class: message" of the last error, for assertion messages. */
const char *tu_err(void);

#endif
