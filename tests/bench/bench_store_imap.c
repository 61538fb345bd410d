/*
 * bench_store_imap.c - the store's IMAP figures.
 *
 * usage: bench-store-imap [corpus-dir]
 *
 * Prints, one line each (see README.md):
 * - the cost of a durable commit (a one-message flag change) with 0, 1
 *   and 8 change-notification listeners, and the same without fsync, so
 *   the notification's own cost is visible: median and mean microseconds;
 * - for a corpus of real messages (default
 *   ../shared/corpus/spamassassin-public, *.eml, the mbox "From " line
 *   stripped): the IMAP record's average raw and stored size, and the
 *   time to read every message's record (what FETCH ENVELOPE /
 *   BODYSTRUCTURE needs) in one snapshot, scaled to 37,000 messages.
 */
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
#include "mail/imapmsg.h"
#include "store/check.h"
#include "store/domain.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/notify.h"
#include "store/store.h"
#include "store/user.h"

/* Durable commits cost an fdatasync each: fewer of them. */
#define COMMITS_DURABLE	300
#define COMMITS_NOSYNC	1000
#define LISTENERS_MAX	8
#define READ_PASSES	(getenv("BENCH_READ_PASSES") ? \
	(size_t)atoi(getenv("BENCH_READ_PASSES")) : 5)

struct msgbuf {
	char	*p;
	size_t	 len;
};

static struct msgbuf	*msgs;
static size_t		 nmsgs, capmsgs;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench-store-imap: %s: %s\n", what, err_msg());
	exit(1);
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static char *
tmpdir(const char *tag)
{
	char *p = xasprintf("/tmp/vellum-bench-%s-XXXXXX", tag);

	if (mkdtemp(p) == NULL) {
		fprintf(stderr, "bench-store-imap: mkdtemp: %s\n",
		    strerror(errno));
		exit(1);
	}
	return p;
}

struct setup {
	uint32_t	user, inbox;
};

static int
setup_fn(struct store_txn *t, void *ctx)
{
	struct setup *s = ctx;
	struct store_mailbox mb;

	if (store_domain_add(t, "example.test") == -1 ||
	    store_user_add(t, "bench@example.test", NULL, 0, 0,
	    &s->user) == -1 ||
	    store_mailbox_get(t, s->user, "INBOX", &mb) != 1)
		return -1;
	s->inbox = mb.id;
	return 1;
}

struct append {
	uint32_t		 box;
	struct store_prepared	**prep;
	size_t			 n;
};

static int
append_fn(struct store_txn *t, void *ctx)
{
	struct append *a = ctx;
	size_t i;

	for (i = 0; i < a->n; i++)
		if (store_msg_append(t, a->box, a->prep[i], 0, 0, NULL, 0,
		    NULL) != 1)
			return -1;
	return 1;
}

struct flip {
	uint32_t	box;
	int		on;
};

static int
flip_fn(struct store_txn *t, void *ctx)
{
	struct flip *f = ctx;

	f->on = !f->on;
	return store_msg_set_flags(t, f->box, 1, f->on ? STORE_FLAGS_ADD :
	    STORE_FLAGS_REMOVE, STORE_F_FLAGGED, NULL);
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
count_id(uint32_t id, void *ctx)
{
	(void)id;
	(*(uint64_t *)ctx)++;
}

static void
bench_commits(void)
{
	static const int nlisten[] = { 0, 1, 8 };
	struct store_notify *ln[LISTENERS_MAX];
	struct setup s;
	struct store *st;
	struct flip f;
	struct append a;
	struct store_prepared *prep;
	static const char m[] = "Subject: x\r\n\r\nbody\r\n";
	double *t, t0, sum;
	uint64_t heard;
	char *dir;
	int i, k, fd, sync;

	dir = tmpdir("notify");
	if (store_open(dir, 0, &st) == -1 || store_write(st, setup_fn,
	    &s) == -1 || store_msg_prepare(st, m, sizeof(m) - 1, &prep) == -1)
		die("setup");
	a.box = s.inbox;
	a.prep = &prep;
	a.n = 1;
	if (store_write(st, append_fn, &a) == -1)
		die("append");
	store_prepared_free(&prep);
	f.box = s.inbox;
	f.on = 0;
	t = xcalloc(COMMITS_NOSYNC, sizeof(*t));
	for (k = 0; k < 3; k++) {
		for (i = 0; i < nlisten[k]; i++)
			if (store_notify_listen(st, &ln[i], &fd) == -1)
				die("listen");
		for (sync = 1; sync >= 0; sync--) {
			int n = sync ? COMMITS_DURABLE : COMMITS_NOSYNC;

			heard = 0;
			for (i = 0, sum = 0; i < n; i++) {
				t0 = now_us();
				if ((sync ? store_write(st, flip_fn, &f) :
				    store_write_metanosync(st, flip_fn, &f)) != 1)
					die("commit");
				t[i] = now_us() - t0;
				sum += t[i];
				/* Listeners read, as a daemon's loop would. */
				for (int j = 0; j < nlisten[k]; j++)
					store_notify_drain(ln[j], count_id,
					    &heard);
			}
			qsort(t, (size_t)n, sizeof(*t), dbl_cmp);
			printf("commit %-11s %d listener%s %d commits: median "
			    "%.1f us, mean %.1f us, p99 %.1f us (%" PRIu64
			    " ids heard)\n", sync ? "durable," : "metanosync,",
			    nlisten[k], nlisten[k] == 1 ? ": " : "s:", n,
			    t[n / 2], sum / n, t[n * 99 / 100], heard);
		}
		for (i = 0; i < nlisten[k]; i++)
			store_notify_close(&ln[i]);
	}
	free(t);
	store_close(&st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static void
corpus_add(const char *path)
{
	FILE *fp;
	struct stat sb;
	char *data, *nl;
	size_t len, skip = 0;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &sb) == -1) {
		if (fp != NULL)
			fclose(fp);
		return;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	len = fread(data, 1, (size_t)sb.st_size, fp);
	fclose(fp);
	if (len >= 5 && memcmp(data, "From ", 5) == 0 &&
	    (nl = memchr(data, '\n', len)) != NULL)
		skip = (size_t)(nl - data) + 1;
	memmove(data, data + skip, len - skip);
	if (nmsgs == capmsgs) {
		capmsgs = capmsgs ? capmsgs * 2 : 1024;
		msgs = xreallocarray(msgs, capmsgs, sizeof(*msgs));
	}
	msgs[nmsgs].p = data;
	msgs[nmsgs].len = len - skip;
	nmsgs++;
}

static void
corpus_load(const char *dir)
{
	DIR *d;
	struct dirent *de;
	struct stat sb;
	char *path;
	size_t l;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		l = strlen(de->d_name);
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			corpus_load(path);
		else if (l > 4 && strcmp(de->d_name + l - 4, ".eml") == 0)
			corpus_add(path);
		free(path);
	}
	closedir(d);
}

struct fetch {
	uint32_t	box;
	uint64_t	n, raw, bad;
	int		headers;	/* read the header block too */
	uint64_t	hdr_bytes;
	char		buf[256 * 1024];
};

static int
fetch_one(const struct store_msg *m, void *ctx)
{
	struct fetch *f = ((void **)ctx)[0];
	struct store_txn *t = ((void **)ctx)[1];
	struct imap_meta im;
	void *meta;
	size_t len;

	if (store_body_meta(t, m->body, &meta, &len) != 1)
		return -1;
	if (imap_meta_parse(meta, len, &im) == -1 || im.envelope_len == 0)
		f->bad++;
	else if (f->headers) {
		/* What BODY.PEEK[HEADER.FIELDS (...)] reads. */
		struct imap_part p0;
		size_t got;

		imap_meta_part(&im, 0, &p0);
		if (store_msg_read_range(t, m->mailbox_id, m->uid, 0,
		    p0.body_off < sizeof(f->buf) ? p0.body_off :
		    sizeof(f->buf), f->buf, &got) != 1)
			f->bad++;
		f->hdr_bytes += got;
	}
	f->n++;
	f->raw += len;
	free(meta);
	return 0;
}

static int
fetch_fn(struct store_txn *t, void *ctx)
{
	struct fetch *f = ctx;
	void *pair[2] = { f, t };

	return store_msg_list(t, f->box, 1, fetch_one, pair);
}

static void
bench_records(const char *corpus_dir)
{
	struct store_prepared **prep;
	struct store_stats s0;
	struct store *st;
	struct setup su;
	struct append a;
	static struct fetch f, fh;
	double t0, tprep, tread, thdr;
	size_t i;
	char *dir;

	corpus_load(corpus_dir);
	if (nmsgs == 0) {
		printf("corpus: no *.eml files under %s, skipped\n",
		    corpus_dir);
		return;
	}
	dir = tmpdir("imapmeta");
	if (store_open(dir, 0, &st) == -1 || store_write(st, setup_fn,
	    &su) == -1)
		die("setup");
	/*
	 * Prepared and delivered 100 at a time, as mail arrives (delivery
	 * never trains dictionaries, and IMAP records use none).
	 */
	prep = xcalloc(100, sizeof(*prep));
	a.box = su.inbox;
	for (i = 0, tprep = 0; i < nmsgs; i += a.n) {
		a.n = nmsgs - i > 100 ? 100 : nmsgs - i;
		t0 = now_us();
		for (size_t j = 0; j < a.n; j++)
			if (store_msg_prepare(st, msgs[i + j].p,
			    msgs[i + j].len, &prep[j]) == -1)
				die("prepare");
		tprep += now_us() - t0;
		a.prep = prep;
		if (store_write(st, append_fn, &a) == -1)
			die("append");
		for (size_t j = 0; j < a.n; j++)
			store_prepared_free(&prep[j]);
	}
	free(prep);
	if (store_stats(st, &s0) == -1)
		die("stats");
	/* The best of a few passes: the figure of a warm store. */
	for (i = 0, tread = 0; i < READ_PASSES; i++) {
		memset(&f, 0, sizeof(f));
		f.box = su.inbox;
		t0 = now_us();
		if (store_read(st, fetch_fn, &f) == -1)
			die("fetch");
		t0 = now_us() - t0;
		if (i == 0 || t0 < tread)
			tread = t0;
	}
	/* The same with each message's header block read too. */
	for (i = 0, thdr = 0; i < READ_PASSES; i++) {
		memset(&fh, 0, sizeof(fh));
		fh.box = su.inbox;
		fh.headers = 1;
		t0 = now_us();
		if (store_read(st, fetch_fn, &fh) == -1)
			die("fetch headers");
		t0 = now_us() - t0;
		if (i == 0 || t0 < thdr)
			thdr = t0;
	}
	printf("imap records:        %" PRIu64 " of %zu msgs, raw %.0f B "
	    "avg, stored %.0f B avg (%" PRIu64 " B in all), %" PRIu64
	    " bad\n", s0.imap_records, nmsgs, s0.imap_records ?
	    (double)s0.imap_raw_bytes / (double)s0.imap_records : 0.0,
	    s0.imap_records ? (double)s0.imap_stored_bytes /
	    (double)s0.imap_records : 0.0, s0.imap_stored_bytes, f.bad);
	printf("prepare (with record): %zu msgs in %.2f s = %.0f us/msg\n",
	    nmsgs, tprep / 1e6, tprep / (double)nmsgs);
	printf("read every record:   %" PRIu64 " msgs in %.1f ms = %.2f us/msg"
	    " (37,000 msgs: %.0f ms)\n", f.n, tread / 1e3, tread /
	    (double)f.n, tread / (double)f.n * 37000 / 1e3);
	printf("record + header:     %" PRIu64 " msgs in %.1f ms = %.2f us/msg"
	    " (%.0f B header avg; 37,000 msgs: %.0f ms)\n", fh.n, thdr / 1e3,
	    thdr / (double)fh.n, (double)fh.hdr_bytes / (double)fh.n,
	    thdr / (double)fh.n * 37000 / 1e3);
	store_close(&st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

int
main(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "usage: bench-store-imap [corpus-dir]\n");
		return 2;
	}
	if (getenv("BENCH_NO_COMMITS") == NULL)
		bench_commits();
	bench_records(argc == 2 ? argv[1] :
	    "../shared/corpus/spamassassin-public");
	return 0;
}
