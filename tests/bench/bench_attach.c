/*
 * bench_attach.c - what mail_attach_walk() (mail/attach.c) costs per
 * message: the outgoing policy runs it on every submitted message.
 *
 * usage: bench-attach [rounds] [corpus-dir...]
 *
 * Every *.eml file under the corpus dirs (default
 * ../shared/corpus/spamassassin-public and ../shared/corpus/mime-torture)
 * is one message; a first line starting with "From " (mbox envelope) is
 * stripped.  All messages are read into memory, then walked `rounds`
 * times (default 5).  Prints, per corpus and for the fastest round:
 * messages, MB, attachments found (and messages with one), CPU ms, MB/s
 * of CPU time, µs per message; then mime_segments() (what the store
 * already runs on every message) on the same bytes, as a yardstick.
 * Then synthetic cases: one 10 MiB base64 attachment, one 10 MiB
 * quoted-printable one, and 1,000 nested multiparts around 1 MiB.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmalloc.h"
#include "mail/attach.h"
#include "mail/mime.h"

struct msg {
	char	*p;
	size_t	 len;
};

static struct msg	*msgs;
static size_t		 nmsgs, capmsgs;

static void	load(const char *);
static double	cpu_ms(void);
static void	count_one(const struct mail_attachment *, void *);
static void	bench_set(const char *, size_t, size_t, int);
static void	bench_one(const char *, const char *, size_t, int);

static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
load(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[4096], *buf, *nl;
	size_t off, n;
	FILE *f;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			load(path);
			continue;
		}
		n = strlen(de->d_name);
		if (!S_ISREG(st.st_mode) || n < 4 ||
		    strcmp(de->d_name + n - 4, ".eml") != 0 ||
		    (f = fopen(path, "rb")) == NULL)
			continue;
		buf = xmalloc((size_t)st.st_size + 1);
		off = fread(buf, 1, (size_t)st.st_size, f);
		fclose(f);
		if (nmsgs == capmsgs) {
			capmsgs = capmsgs == 0 ? 1024 : capmsgs * 2;
			msgs = xreallocarray(msgs, capmsgs, sizeof(*msgs));
		}
		msgs[nmsgs].p = buf;
		msgs[nmsgs].len = off;
		if (off > 5 && memcmp(buf, "From ", 5) == 0 &&
		    (nl = memchr(buf, '\n', off)) != NULL) {
			msgs[nmsgs].p = nl + 1;
			msgs[nmsgs].len = off - (size_t)(nl + 1 - buf);
		}
		nmsgs++;
	}
	closedir(d);
}

struct tally {
	size_t		n;
	uint64_t	bytes;
};

static void
count_one(const struct mail_attachment *a, void *ctx)
{
	struct tally *t = ctx;

	t->n++;
	t->bytes += a->size;
}

/* Messages [from, to) of msgs, walked rounds times. */
static void
bench_set(const char *name, size_t from, size_t to, int rounds)
{
	struct tally t;
	struct mime_segment *segs;
	double best = 1e300, bestseg = 1e300, t0, ms;
	uint64_t bytes = 0;
	size_t i, nseg, withatt = 0, natt = 0;
	int r;

	for (i = from; i < to; i++)
		bytes += msgs[i].len;
	for (r = 0; r < rounds; r++) {
		natt = withatt = 0;
		t0 = cpu_ms();
		for (i = from; i < to; i++) {
			t = (struct tally){ 0, 0 };
			mail_attach_walk((const uint8_t *)msgs[i].p,
			    msgs[i].len, count_one, &t);
			natt += t.n;
			withatt += t.n > 0;
		}
		if ((ms = cpu_ms() - t0) < best)
			best = ms;
		t0 = cpu_ms();
		for (i = from; i < to; i++) {
			mime_segments((const uint8_t *)msgs[i].p, msgs[i].len,
			    MIME_PART_MIN, &segs, &nseg);
			free(segs);
		}
		if ((ms = cpu_ms() - t0) < bestseg)
			bestseg = ms;
	}
	printf("%s: %zu messages, %.1f MB, %zu attachments in %zu "
	    "messages\n", name, to - from, bytes / 1e6, natt, withatt);
	printf("  mail_attach_walk: %.1f ms CPU, %.0f MB/s, %.1f us/message"
	    "\n", best, bytes / 1e3 / best, best * 1e3 / (double)(to -
	    from));
	printf("  mime_segments (yardstick): %.1f ms CPU, %.0f MB/s\n",
	    bestseg, bytes / 1e3 / bestseg);
}

/* One synthetic message: a header, body of len bytes of unit, a close. */
static void
bench_one(const char *name, const char *head, size_t len, int kind)
{
	struct mail_attachment a;
	char *m;
	size_t hl = strlen(head), i, o;
	double t0, ms, best = 1e300;
	int r;

	m = xmalloc(hl + len + 2 * 1000 * 32 + 64);
	memcpy(m, head, hl);
	o = hl;
	for (i = 0; i < len; i++) {
		if (kind == 0)	/* base64, 76-column lines */
			m[o++] = i % 77 == 76 ? '\n' : "AQID"[i % 4];
		else		/* quoted-printable with escapes */
			m[o++] = i % 77 == 76 ? '\n' : i % 77 == 75 ? '=' :
			    i % 10 == 0 ? '=' : i % 10 == 1 ? '3' :
			    i % 10 == 2 ? 'D' : 'x';
	}
	o += (size_t)snprintf(m + o, 64, "\n--b--\n");
	for (r = 0; r < 5; r++) {
		t0 = cpu_ms();
		mail_attachment_largest((const uint8_t *)m, o, &a);
		if ((ms = cpu_ms() - t0) < best)
			best = ms;
	}
	printf("%s: %.1f MB, %.2f ms CPU, %.0f MB/s (decoded %llu bytes)\n",
	    name, o / 1e6, best, o / 1e3 / best,
	    (unsigned long long)a.size);
	free(m);
}

int
main(int argc, char **argv)
{
	const char *defaults[] = { "../shared/corpus/spamassassin-public",
	    "../shared/corpus/mime-torture" };
	char *m;
	size_t from, i, o;
	double t0, ms, best = 1e300;
	int rounds = 5, a, r, ndirs;
	struct mail_attachment att;

	if (argc > 1)
		rounds = atoi(argv[1]) > 0 ? atoi(argv[1]) : 5;
	ndirs = argc > 2 ? argc - 2 : 2;
	for (a = 0; a < ndirs; a++) {
		const char *dir = argc > 2 ? argv[a + 2] : defaults[a];

		from = nmsgs;
		load(dir);
		if (nmsgs == from) {
			printf("%s: no *.eml files (absent?)\n", dir);
			continue;
		}
		bench_set(dir, from, nmsgs, rounds);
	}
	bench_one("10 MiB base64 attachment", "Content-Type: multipart/mixed;"
	    " boundary=b\n\n--b\nContent-Type: application/pdf\n"
	    "Content-Transfer-Encoding: base64\n\n", 10 << 20, 0);
	bench_one("10 MiB quoted-printable attachment", "Content-Type: "
	    "multipart/mixed; boundary=b\n\n--b\nContent-Type: text/csv; "
	    "name=a.csv\nContent-Transfer-Encoding: quoted-printable\n\n",
	    10 << 20, 1);

	/* 1,000 nested multiparts around 1 MiB: MIME_DEPTH_MAX passes */
	m = xmalloc(2 << 20);
	o = 0;
	for (i = 0; i < 1000; i++)
		o += (size_t)sprintf(m + o, "Content-Type: multipart/mixed; "
		    "boundary=b%04zux\n\n--b%04zux\n", i, i);
	o += (size_t)sprintf(m + o, "Content-Type: application/pdf\n\n");
	memset(m + o, 'x', 1 << 20);
	o += 1 << 20;
	for (i = 1000; i-- > 0;)
		o += (size_t)sprintf(m + o, "\n--b%04zux--", i);
	for (r = 0; r < 5; r++) {
		t0 = cpu_ms();
		mail_attachment_largest((const uint8_t *)m, o, &att);
		if ((ms = cpu_ms() - t0) < best)
			best = ms;
	}
	printf("1,000 nested multiparts, %.1f MB: %.2f ms CPU, %.0f MB/s "
	    "(opaque part at depth %u, %llu bytes)\n", o / 1e6, best,
	    o / 1e3 / best, att.depth, (unsigned long long)att.size);
	free(m);
	return 0;
}
