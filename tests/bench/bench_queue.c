/*
 * bench_queue.c - what the outbound queue costs the delivery agent.
 *
 * usage: bench-queue [entries]
 *
 * Queues N entries (default 20,000) of a 4 KB message with 2 recipients
 * each, 100 per durable transaction; then prints one line per figure:
 * adds/s, the time of one full scan (store_queue_list(), which
 * vellum-mta runs whenever the queue generation moved), puts/s of
 * after-attempt rewrites (one durable transaction each, recipients with
 * a last reply), and the data dir's allocated size per entry.  The store
 * lives in its own temporary dir, removed at the end.
 */
#include <sys/resource.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/message.h"
#include "store/queue.h"
#include "store/store.h"

#define NDEFAULT	20000U
#define BATCH		100U
#define NPUT		2000U
#define MSG_SIZE	4096

static uint64_t	du_total;

struct add_args {
	struct store_queue_entry	*e;
	struct store_prepared		*prep;
	unsigned			 n;
	uint64_t			*ids;
	unsigned			 done;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
du_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)path;
	(void)flag;
	(void)f;
	du_total += (uint64_t)sb->st_blocks * 512;
	return 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
add_fn(struct store_txn *t, void *ctx)
{
	struct add_args *a = ctx;
	unsigned i;

	for (i = 0; i < a->n; i++)
		if (store_queue_add(t, a->e, a->prep,
		    &a->ids[a->done + i]) != 1)
			return -1;
	return 1;
}

static int
scan_one(const struct store_queue_entry *e, void *ctx)
{
	uint64_t *due = ctx;

	if (!(e->flags & STORE_QF_HOLD) && e->next_try <= store_now())
		(*due)++;
	return 0;
}

static int
scan_fn(struct store_txn *t, void *ctx)
{
	return store_queue_list(t, scan_one, ctx);
}

static int
put_fn(struct store_txn *t, void *ctx)
{
	struct store_queue_entry *e = ctx, old;
	int rc;

	if ((rc = store_queue_get(t, e->id, &old)) != 1)
		return rc == 0 ? err_set(ERR_NOTFOUND, "entry gone") : -1;
	old.attempts++;
	old.next_try = store_now() + 600;
	old.rcpts[0].last_code = 451;
	snprintf(old.rcpts[0].last_reply, sizeof(old.rcpts[0].last_reply),
	    "451 4.7.1 <%s>: greylisted, come back later", old.rcpts[0].addr);
	rc = store_queue_put(t, &old);
	store_queue_entry_clear(&old);
	return rc;
}

int
main(int argc, char **argv)
{
	struct store_queue_entry e;
	struct add_args a;
	struct store *st;
	struct rusage ru;
	char dir[] = "/tmp/vellum-bench-queue-XXXXXX", *msg;
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : NDEFAULT, i;
	uint64_t due = 0;
	double t0, t1;
	size_t k;

	if (n == 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: bench-queue [entries]\n");
		return 2;
	}
	if (store_open(dir, 0, &st) == -1) {
		fprintf(stderr, "bench-queue: %s\n", err_msg());
		return 1;
	}
	msg = xmalloc(MSG_SIZE);
	k = (size_t)snprintf(msg, MSG_SIZE, "From: bench@example.test\n"
	    "To: someone@far.example\nSubject: queued\n\n");
	for (; k < MSG_SIZE - 1; k++)
		msg[k] = k % 64 == 63 ? '\n' : 'a' + (char)(k % 26);
	msg[MSG_SIZE - 1] = '\n';

	memset(&e, 0, sizeof(e));
	snprintf(e.sender, sizeof(e.sender), "bench@example.test");
	e.nrcpts = 2;
	e.rcpts = xcalloc(2, sizeof(*e.rcpts));
	snprintf(e.rcpts[0].addr, sizeof(e.rcpts[0].addr), "a@far.example");
	snprintf(e.rcpts[1].addr, sizeof(e.rcpts[1].addr), "b@other.example");
	memset(&a, 0, sizeof(a));
	a.e = &e;
	a.ids = xcalloc(n, sizeof(*a.ids));
	if (store_msg_prepare(st, msg, MSG_SIZE, &a.prep) == -1)
		goto fail;
	t0 = now_s();
	for (a.done = 0; a.done < n; a.done += a.n) {
		a.n = n - a.done < BATCH ? n - a.done : BATCH;
		if (store_write(st, add_fn, &a) == -1)
			goto fail;
	}
	t1 = now_s();
	printf("queue add (%u per txn):  %u entries in %.2f s, %.0f adds/s\n",
	    BATCH, n, t1 - t0, n / (t1 - t0));

	t0 = now_s();
	if (store_read(st, scan_fn, &due) == -1)
		goto fail;
	t1 = now_s();
	printf("queue scan:              %u entries in %.1f ms (%.2f us per "
	    "entry), %" PRIu64 " due\n", n, (t1 - t0) * 1e3,
	    (t1 - t0) * 1e6 / n, due);

	t0 = now_s();
	for (i = 0; i < NPUT && i < n; i++) {
		e.id = a.ids[(i * 7919U) % n];
		if (store_write(st, put_fn, &e) == -1)
			goto fail;
	}
	t1 = now_s();
	printf("queue put (1 per txn):   %u in %.2f s, %.0f puts/s\n", i,
	    t1 - t0, i / (t1 - t0));

	store_close(&st);
	nftw(dir, du_one, 16, FTW_PHYS);
	printf("data dir:                %.1f MB, %.0f bytes per entry (one "
	    "shared 4 KB body)\n", du_total / 1e6, (double)du_total / n);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak RSS:                %.1f MB\n", ru.ru_maxrss / 1024.0);
	store_prepared_free(&a.prep);
	store_queue_entry_clear(&e);
	free(a.ids);
	free(msg);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
fail:
	fprintf(stderr, "bench-queue: %s\n", err_msg());
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 1;
}
