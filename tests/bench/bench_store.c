/*
 * bench_store.c - store throughput and space figures.
 *
 * usage: bench-store [corpus-dir]
 *
 * Prints one line per figure: durable appends/s of 4 KB messages (one and
 * 100 per transaction), fetch MB/s, then for a corpus of real messages
 * (default ../shared/corpus/spamassassin-public; each file starts with an
 * mbox "From " line, which is stripped) the allocated size of the data dir
 * for one recipient and for ten, and the store's dedup and compression
 * ratios.  Every store lives in its own temporary dir, removed at the end.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/check.h"
#include "store/domain.h"
#include "store/mailbox.h"
#include "store/dict.h"
#include "store/message.h"
#include "store/store.h"
#include "store/user.h"

#define NAPPEND		3000U
#define BATCH		100
#define NUSERS		10
#define MSG_TARGET	4096

struct msgbuf {
	char	*p;
	size_t	 len;
};

struct corpus {
	struct msgbuf	*msgs;
	size_t		 n, cap;
	uint64_t	 bytes;
};

static uint64_t	rng_state = 88172645463325252ULL;
static uint64_t	du_total;
static struct corpus corpus;

static const char *words[] = {
	"the", "meeting", "report", "quarterly", "budget", "please", "review",
	"attached", "thanks", "regards", "schedule", "project", "deadline",
	"update", "server", "mail", "delivery", "customer", "invoice", "order",
	"shipping", "tomorrow", "morning", "afternoon", "discuss", "proposal",
	"team", "release", "version", "bug", "fixed", "test", "results", "and",
	"of", "to", "in", "for", "on", "with", "as", "we", "you", "they", "it",
	"is", "was", "will", "be", "have", "not", "this", "that", "from", "at",
	"our", "your", "their", "about", "which", "would", "could", "should",
	"database", "backup", "network", "office", "holiday", "travel",
	"conference", "agenda", "minutes", "action", "items", "follow", "up",
	"question", "answer", "problem", "solution", "price", "market",
	"sales", "contract", "legal", "draft", "final", "approve", "sign",
};

static const char *names[] = {
	"Alice Martin", "Bob Chen", "Carol Diaz", "Dave Okafor", "Erin Novak",
	"Frank Weber", "Grace Kim", "Heidi Larsen", "Ivan Petrov", "Judy Ito",
};

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench-store: %s: %s: %s\n", what,
	    err_class_name(err_class()), err_msg());
	exit(1);
}

static int
du_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type == FTW_F)
		du_total += (uint64_t)sb->st_blocks * 512;
	return 0;
}

/* Allocated bytes of every file under path, as du -s --block-size=1. */
static uint64_t
du(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 16, FTW_PHYS);
	return du_total;
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void
rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A plausible 4 KB message, different every time. */
static void
make_message(unsigned i, struct msgbuf *m)
{
	size_t cap = MSG_TARGET + 1024, len = 0, col = 0;
	const char *w, *from, *to;
	char *p;

	p = xmalloc(cap);
	from = names[rnd() % 10];
	to = names[rnd() % 10];
	len += (size_t)snprintf(p + len, cap - len,
	    "Return-Path: <%c%u@sender.example>\r\n"
	    "Received: from mx%u.sender.example (mx%u.sender.example "
	    "[192.0.2.%u])\r\n\tby mail.example.test with ESMTPS id %08" PRIx64
	    "\r\n\tfor <user@example.test>; Mon, 3 Jun 2024 %02u:%02u:%02u "
	    "+0000\r\n"
	    "Date: Mon, 3 Jun 2024 %02u:%02u:%02u +0000\r\n"
	    "From: %s <%c%u@sender.example>\r\nTo: %s <user@example.test>\r\n"
	    "Subject: %s %s %s #%u\r\n"
	    "Message-ID: <%u.%08" PRIx64 "@sender.example>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n",
	    from[0] | 0x20, i, i % 7, i % 7, i % 250, rnd(), i / 3600 % 24,
	    i / 60 % 60, i % 60, i / 3600 % 24, i / 60 % 60, i % 60, from,
	    from[0] | 0x20, i, to, words[rnd() % 90], words[rnd() % 90],
	    words[rnd() % 90], i, i, rnd());
	while (len < MSG_TARGET - 20) {
		w = words[rnd() % (sizeof(words) / sizeof(words[0]))];
		if (col + strlen(w) + 1 > 72) {
			memcpy(p + len, "\r\n", 2);
			len += 2;
			col = 0;
		} else if (col > 0) {
			p[len++] = ' ';
			col++;
		}
		memcpy(p + len, w, strlen(w));
		len += strlen(w);
		col += strlen(w);
		if (rnd() % 12 == 0) {
			p[len++] = '.';
			col++;
		}
	}
	memcpy(p + len, "\r\n", 2);
	len += 2;
	m->p = p;
	m->len = len;
}

struct append_ctx {
	uint32_t		 mbox;
	struct store_prepared	*prep;
};

static int
append_fn(struct store_txn *txn, void *ctx)
{
	struct append_ctx *a = ctx;
	uint32_t uid;

	return store_msg_append(txn, a->mbox, a->prep, 0, 0, NULL, 0, &uid);
}

static void
append_one(struct store *st, uint32_t mbox, struct store_prepared *prep)
{
	struct append_ctx a = { mbox, prep };

	if (store_write(st, append_fn, &a) != 1)
		die("append");
}

struct setup_ctx {
	const char	*addr;
	uint32_t	 user;
	uint32_t	 inbox;
	const char	*mailbox;
	uint32_t	 mbox;
};

static int
setup_fn(struct store_txn *txn, void *ctx)
{
	struct setup_ctx *s = ctx;
	struct store_mailbox mb;
	const char *domain = strchr(s->addr, '@') + 1;
	struct store_domain d;

	if (store_domain_get(txn, domain, &d) == 0 &&
	    store_domain_add(txn, domain) != 1)
		return -1;
	if (store_user_add(txn, s->addr, NULL, 0, 0, &s->user) != 1)
		return -1;
	if (store_mailbox_get(txn, s->user, "INBOX", &mb) != 1)
		return err_set(ERR_NOTFOUND, "no INBOX");
	s->inbox = mb.id;
	if (s->mailbox != NULL && store_mailbox_create(txn, s->user,
	    s->mailbox, 0, &s->mbox) != 1)
		return -1;
	return 1;
}

static struct setup_ctx
make_user(struct store *st, const char *addr, const char *mailbox)
{
	struct setup_ctx s = { addr, 0, 0, mailbox, 0 };

	if (store_write(st, setup_fn, &s) != 1)
		die("user setup");
	return s;
}

struct uid_list {
	uint32_t	*uids;
	size_t		 n, cap;
};

static int
collect_fn(const struct store_msg *m, void *ctx)
{
	struct uid_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->uids = xreallocarray(l->uids, l->cap, sizeof(*l->uids));
	}
	l->uids[l->n++] = m->uid;
	return 0;
}

struct list_ctx {
	uint32_t	 mbox;
	struct uid_list	*l;
};

static int
list_fn(struct store_txn *txn, void *ctx)
{
	struct list_ctx *c = ctx;

	return store_msg_list(txn, c->mbox, 1, collect_fn, c->l);
}

#define FETCH_ROUNDS	5

struct fetch_ctx {
	uint32_t	mbox, uid;
	uint64_t	bytes;
};

static int
fetch_fn(struct store_txn *txn, void *ctx)
{
	struct fetch_ctx *f = ctx;
	void *data = NULL;
	size_t len = 0;
	int rc;

	rc = store_msg_read(txn, f->mbox, f->uid, &data, &len);
	if (rc == 1)
		f->bytes += len;
	free(data);
	return rc;
}

/* Reads every message of mbox; returns bytes read. */
static uint64_t
fetch_all(struct store *st, uint32_t mbox, uint64_t *n_r)
{
	struct uid_list l = { NULL, 0, 0 };
	struct list_ctx c = { mbox, &l };
	struct fetch_ctx f = { mbox, 0, 0 };
	size_t i;

	if (store_read(st, list_fn, &c) < 0)
		die("list");
	for (i = 0; i < l.n; i++) {
		f.uid = l.uids[i];
		if (store_read(st, fetch_fn, &f) != 1)
			die("read");
	}
	*n_r = l.n;
	free(l.uids);
	return f.bytes;
}

static void
corpus_add(const char *path)
{
	FILE *fp;
	struct stat sb;
	char *data, *nl;
	size_t len, skip = 0;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &sb) == -1) {
		fprintf(stderr, "bench-store: %s: %s\n", path,
		    strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	len = fread(data, 1, (size_t)sb.st_size, fp);
	fclose(fp);
	/* Strip the mbox "From " envelope line. */
	if (len >= 5 && memcmp(data, "From ", 5) == 0 &&
	    (nl = memchr(data, '\n', len)) != NULL)
		skip = (size_t)(nl - data) + 1;
	memmove(data, data + skip, len - skip);
	len -= skip;
	if (corpus.n == corpus.cap) {
		corpus.cap = corpus.cap ? corpus.cap * 2 : 1024;
		corpus.msgs = xreallocarray(corpus.msgs, corpus.cap,
		    sizeof(*corpus.msgs));
	}
	corpus.msgs[corpus.n].p = data;
	corpus.msgs[corpus.n].len = len;
	corpus.n++;
	corpus.bytes += len;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.eml file under dir, in name order, recursively. */
static void
corpus_load(const char *dir)
{
	DIR *d;
	struct dirent *de;
	struct stat sb;
	char **names_v = NULL, *path;
	size_t n = 0, cap = 0, i, l;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "bench-store: %s: %s\n", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			names_v = xreallocarray(names_v, cap, sizeof(*names_v));
		}
		names_v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names_v, n, sizeof(*names_v), name_cmp);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names_v[i]);
		l = strlen(names_v[i]);
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			corpus_load(path);
		else if (l > 4 && strcmp(names_v[i] + l - 4, ".eml") == 0)
			corpus_add(path);
		free(path);
		free(names_v[i]);
	}
	free(names_v);
}

static char *
tmpdir(const char *tag)
{
	char *p = xasprintf("/tmp/vellum-bench-%s-XXXXXX", tag);

	if (mkdtemp(p) == NULL) {
		fprintf(stderr, "bench-store: mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	return p;
}

static void
bench_appends(void)
{
	struct store *st = NULL;
	struct store_prepared *preps[BATCH];
	struct setup_ctx u;
	struct msgbuf m;
	struct store_stats s;
	double t0, t, tprep = 0, tp;
	uint64_t bytes = 0, n, n2, rbytes;
	char *dir;
	unsigned i, j;

	dir = tmpdir("append");
	if (store_open(dir, 0, &st) < 0)
		die("store_open");
	u = make_user(st, "bench@example.test", "Batched");

	/*
	 * Warm-up: STORE_DICT_TRAIN_AFTER messages, so that (a) measures a
	 * store that has trained its zstd dictionaries (store optimize, a
	 * one-time cost off the delivery path, timed on its own here).
	 */
	for (i = 0; i < STORE_DICT_TRAIN_AFTER; i += BATCH) {
		struct msgbuf wm[BATCH];

		for (j = 0; j < BATCH; j++) {
			make_message(10 * NAPPEND + i + j, &wm[j]);
			if (store_msg_prepare(st, wm[j].p, wm[j].len,
			    &preps[j]) < 0)
				die("prepare");
		}
		if (store_batch_begin(st) < 0)
			die("batch_begin");
		for (j = 0; j < BATCH; j++)
			append_one(st, u.mbox, preps[j]);
		if (store_batch_commit(st) < 0)
			die("batch_commit");
		for (j = 0; j < BATCH; j++) {
			store_prepared_free(&preps[j]);
			free(wm[j].p);
		}
	}
	t0 = now_s();
	{
		struct store_optimize o = { 0 };

		if (store_dict_optimize(st, &o) < 0 || o.trained == 0)
			die("store_dict_optimize");
		printf("dictionary training (store optimize): %.2f s, once, "
		    "after %d messages, %zu segments compressed again in %zu "
		    "transactions\n", now_s() - t0, STORE_DICT_TRAIN_AFTER,
		    o.recompressed, o.batches);
	}

	/* (a) one durable transaction per message */
	t0 = now_s();
	for (i = 0; i < NAPPEND; i++) {
		make_message(i, &m);
		bytes += m.len;
		tp = now_s();
		if (store_msg_prepare(st, m.p, m.len, &preps[0]) < 0)
			die("prepare");
		tprep += now_s() - tp;
		append_one(st, u.inbox, preps[0]);
		store_prepared_free(&preps[0]);
		free(m.p);
	}
	t = now_s() - t0;
	printf("append 1 msg/txn:    %u msgs (avg %.0f B) in %.2f s = "
	    "%.0f msgs/s (prepare %.0f%% of the time)\n", NAPPEND,
	    (double)bytes / NAPPEND, t, NAPPEND / t, 100 * tprep / t);

	/* (b) 100 messages per durable transaction (group commit) */
	t0 = now_s();
	for (i = 0; i < NAPPEND; i += BATCH) {
		struct msgbuf bm[BATCH];

		for (j = 0; j < BATCH; j++) {
			make_message(NAPPEND + i + j, &bm[j]);
			if (store_msg_prepare(st, bm[j].p, bm[j].len,
			    &preps[j]) < 0)
				die("prepare");
		}
		if (store_batch_begin(st) < 0)
			die("batch_begin");
		for (j = 0; j < BATCH; j++)
			append_one(st, u.mbox, preps[j]);
		if (store_batch_commit(st) < 0)
			die("batch_commit");
		/* prepared messages point into the data until freed */
		for (j = 0; j < BATCH; j++) {
			store_prepared_free(&preps[j]);
			free(bm[j].p);
		}
	}
	t = now_s() - t0;
	printf("append %d msgs/txn:  %u msgs in %.2f s = %.0f msgs/s\n", BATCH,
	    NAPPEND, t, NAPPEND / t);

	/* (c) read everything back, one read snapshot per message */
	t0 = now_s();
	rbytes = fetch_all(st, u.inbox, &n);
	rbytes += fetch_all(st, u.mbox, &n2);
	t = now_s() - t0;
	printf("fetch (msg_read):    %" PRIu64 " msgs, %.1f MB in %.2f s = "
	    "%.1f MB/s, %.0f msgs/s\n", n + n2, (double)rbytes / 1e6, t,
	    (double)rbytes / 1e6 / t, (double)(n + n2) / t);
	/* The same, best of FETCH_ROUNDS (one run is short and noisy). */
	{
		double best = t;
		int r;

		for (r = 1; r < FETCH_ROUNDS; r++) {
			t0 = now_s();
			rbytes = fetch_all(st, u.inbox, &n);
			rbytes += fetch_all(st, u.mbox, &n2);
			t = now_s() - t0;
			if (t < best)
				best = t;
		}
		printf("fetch best of %d:     %.1f MB/s, %.0f msgs/s\n",
		    FETCH_ROUNDS, (double)rbytes / 1e6 / best,
		    (double)(n + n2) / best);
	}
	if (store_stats(st, &s) < 0)
		die("stats");
	printf("4 KB store:          %" PRIu64 " raw bytes, %" PRIu64
	    " stored (compressed) bytes, data dir %" PRIu64 " bytes "
	    "allocated\n", s.raw_bytes, s.stored_bytes, du(dir));
	store_close(&st);
	rmtree(dir);
	free(dir);
}

static void
print_stats(const char *label, const struct store_stats *s)
{
	printf("%s store_stats: %" PRIu64 " messages, %" PRIu64 " bodies, %"
	    PRIu64 " blobs; raw %" PRIu64 ", distinct bodies %" PRIu64
	    ", distinct segments %" PRIu64 ", stored %" PRIu64 " bytes\n",
	    label, s->messages, s->bodies, s->blobs, s->raw_bytes,
	    s->body_bytes, s->blob_bytes, s->stored_bytes);
	printf("%s ratios: dedup %.2fx (raw / distinct segments), "
	    "compression %.2fx (distinct segments / stored), overall %.2fx "
	    "(raw / stored); LMDB pages in use %" PRIu64 " bytes, map %"
	    PRIu64 ", %" PRIu64 " zstd dictionaries\n", label,
	    s->blob_bytes ? (double)s->raw_bytes / (double)s->blob_bytes : 0,
	    s->stored_bytes ? (double)s->blob_bytes /
	    (double)s->stored_bytes : 0, s->stored_bytes ?
	    (double)s->raw_bytes / (double)s->stored_bytes : 0, s->file_bytes,
	    s->map_bytes, s->dicts);
}

static void
bench_corpus(const char *path)
{
	struct store *st = NULL;
	struct store_prepared **preps;
	struct setup_ctx users[NUSERS];
	struct store_stats s;
	char addr[64], *dir;
	uint64_t du1, du10;
	double t0, t, topt0, topt = 0;
	size_t i, j, end;
	int u, nopt = 0;

	corpus_load(path);
	if (corpus.n == 0) {
		printf("corpus: no *.eml files under %s, skipped\n", path);
		return;
	}
	dir = tmpdir("corpus");
	if (store_open(dir, 0, &st) < 0)
		die("store_open");
	for (u = 0; u < NUSERS; u++) {
		snprintf(addr, sizeof(addr), "user%d@example.test", u);
		users[u] = make_user(st, addr, NULL);
	}
	preps = xcalloc(corpus.n, sizeof(*preps));

	/* One recipient: prepare each message, deliver in groups of 100. */
	t0 = now_s();
	for (i = 0; i < corpus.n; i += BATCH) {
		end = i + BATCH < corpus.n ? i + BATCH : corpus.n;
		/* Prepared outside the write transaction, as smtpd does. */
		for (j = i; j < end; j++)
			if (store_msg_prepare(st, corpus.msgs[j].p,
			    corpus.msgs[j].len, &preps[j]) < 0)
				die("prepare");
		if (store_batch_begin(st) < 0)
			die("batch_begin");
		for (j = i; j < end; j++)
			append_one(st, users[0].inbox, preps[j]);
		if (store_batch_commit(st) < 0)
			die("batch_commit");
		/*
		 * Delivery never trains: the dictionaries come from store
		 * optimize when due, as vellum-mta's job or an import would
		 * run it (timed apart).
		 */
		topt0 = now_s();
		if (store_dict_due(st) == 1) {
			struct store_optimize o = { 0 };

			if (store_dict_optimize(st, &o) < 0)
				die("store_dict_optimize");
			nopt++;
		}
		topt += now_s() - topt0;
	}
	t = now_s() - t0 - topt;
	du1 = du(dir);
	printf("corpus 1 user:       %zu msgs, %" PRIu64 " raw bytes, "
	    "delivered in %.2f s (%.0f msgs/s, %d per txn)\n", corpus.n,
	    corpus.bytes, t, (double)corpus.n / t, BATCH);
	printf("corpus 1 user:       store optimize ran %d times when due, "
	    "%.2f s in all (not counted above)\n", nopt, topt);
	printf("corpus 1 user:       data dir %" PRIu64 " bytes allocated = "
	    "%.1f%% of raw\n", du1, 100.0 * (double)du1 /
	    (double)corpus.bytes);
	if (store_stats(st, &s) < 0)
		die("stats");
	print_stats("corpus 1 user:      ", &s);
	/* Reading the real mail back (its dictionaries, its levels). */
	{
		uint64_t rb = 0, n = 0;
		double best = 0;
		int r;

		for (r = 0; r < FETCH_ROUNDS; r++) {
			t0 = now_s();
			rb = fetch_all(st, users[0].inbox, &n);
			t = now_s() - t0;
			if (r == 0 || t < best)
				best = t;
		}
		printf("corpus 1 user:       fetch best of %d: %" PRIu64
		    " msgs, %.1f MB/s, %.0f msgs/s\n", FETCH_ROUNDS, n,
		    (double)rb / 1e6 / best, (double)n / best);
	}

	/* Nine more recipients of the same prepared messages. */
	t0 = now_s();
	for (i = 0; i < corpus.n; i++) {
		if (i % (BATCH / 10) == 0 && store_batch_begin(st) < 0)
			die("batch_begin");
		for (u = 1; u < NUSERS; u++)
			append_one(st, users[u].inbox, preps[i]);
		if ((i % (BATCH / 10) == BATCH / 10 - 1 ||
		    i + 1 == corpus.n) && store_batch_commit(st) < 0)
			die("batch_commit");
		store_prepared_free(&preps[i]);
	}
	t = now_s() - t0;
	du10 = du(dir);
	printf("corpus %d users:     %zu deliveries, %" PRIu64 " raw bytes "
	    "in all, in %.2f s (%.0f deliveries/s)\n", NUSERS,
	    corpus.n * NUSERS, corpus.bytes * NUSERS, t,
	    (double)corpus.n * (NUSERS - 1) / t);
	printf("corpus %d users:     data dir %" PRIu64 " bytes allocated, "
	    "+%" PRIu64 " bytes = +%.1f%% of the 1-user figure\n", NUSERS,
	    du10, du10 - du1, 100.0 * (double)(du10 - du1) / (double)du1);
	if (store_stats(st, &s) < 0)
		die("stats");
	print_stats("corpus 10 users:    ", &s);

	free(preps);
	store_close(&st);
	rmtree(dir);
	free(dir);
	for (i = 0; i < corpus.n; i++)
		free(corpus.msgs[i].p);
	free(corpus.msgs);
}

int
main(int argc, char **argv)
{
	const char *path = "../shared/corpus/spamassassin-public";
	struct rusage ru;

	if (argc > 2) {
		fprintf(stderr, "usage: bench-store [corpus-dir]\n");
		return 2;
	}
	if (argc == 2)
		path = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_appends();
	bench_corpus(path);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak RSS:            %ld KiB\n", ru.ru_maxrss);
	return 0;
}
