/*
 * bench_imapmsg.c - how long imap_msg_meta_build() takes per message and
 * how big its records are (it runs at delivery, on smtpd's hot path).
 *
 * usage: bench-imapmsg [corpus-dir] [rounds]
 *
 * Every *.eml file under corpus-dir (default
 * ../shared/corpus/spamassassin-public) is one message; a first line
 * starting with "From " (mbox envelope) is stripped.  All messages are
 * read into memory first, then built `rounds` times (default 5): the
 * figures are from the fastest round.  Prints messages, raw MB, µs per
 * message (mean and the 99th percentile of the fastest round), MB/s,
 * record bytes per message (mean, max) and as a share of the raw size,
 * the 5 slowest messages, and imap_meta_parse() ns per record.  Then one
 * synthetic worst case: a 2.8 MiB message of 3,000 parts (every tenth a
 * message/rfc822 with its own multipart inside), built `rounds` times.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmalloc.h"
#include "mail/imapmsg.h"

struct msg {
	char	*p;
	size_t	 len;
	char	*path;
	double	 us;
};

static struct msg	*msgs;
static size_t		 nmsgs, capmsgs;

static void	load(const char *);
static double	now_us(void);
static int	cmp_double(const void *, const void *);
static int	cmp_slow(const void *, const void *);
static void	bench_big(int);

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
load(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[4096];
	FILE *f;
	char *buf, *nl;
	size_t off;

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
		if (!S_ISREG(st.st_mode) || strlen(de->d_name) < 4 ||
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".eml") != 0 ||
		    (f = fopen(path, "rb")) == NULL)
			continue;
		buf = xmalloc((size_t)st.st_size + 1);
		off = fread(buf, 1, (size_t)st.st_size, f);
		fclose(f);
		buf[off] = '\0';
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
		msgs[nmsgs].path = xstrdup(path);
		nmsgs++;
	}
	closedir(d);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_slow(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	return x->us > y->us ? -1 : x->us < y->us;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] :
	    "../shared/corpus/spamassassin-public";
	int rounds = argc > 2 ? atoi(argv[2]) : 5, r;
	double best = 0, t0, t1, *lat, total, pt;
	uint64_t raw = 0, recbytes = 0, recmax = 0;
	struct imap_meta m;
	void *rec;
	size_t len, i;

	load(dir);
	if (nmsgs == 0) {
		fprintf(stderr, "bench-imapmsg: no messages under %s\n", dir);
		return 1;
	}
	lat = xcalloc(nmsgs, sizeof(*lat));
	for (i = 0; i < nmsgs; i++)
		raw += msgs[i].len;
	for (r = 0; r < (rounds < 1 ? 1 : rounds); r++) {
		total = 0;
		for (i = 0; i < nmsgs; i++) {
			t0 = now_us();
			imap_msg_meta_build(msgs[i].p, msgs[i].len, &rec, &len);
			t1 = now_us();
			free(rec);
			total += t1 - t0;
			if (r == 0 || t1 - t0 < msgs[i].us)
				msgs[i].us = t1 - t0;
			if (r == 0) {
				recbytes += len;
				if (len > recmax)
					recmax = len;
			}
		}
		if (r == 0 || total < best)
			best = total;
	}
	for (i = 0; i < nmsgs; i++)
		lat[i] = msgs[i].us;
	qsort(lat, nmsgs, sizeof(*lat), cmp_double);

	/* parsing a record (what FETCH does per message) */
	imap_msg_meta_build(msgs[0].p, msgs[0].len, &rec, &len);
	t0 = now_us();
	for (i = 0; i < 100000; i++)
		(void)imap_meta_parse(rec, len, &m);
	pt = (now_us() - t0) * 1000 / 100000;
	free(rec);

	printf("corpus: %s\n", dir);
	printf("messages: %zu, %.1f MB raw (%.0f bytes mean)\n", nmsgs,
	    (double)raw / 1e6, (double)raw / (double)nmsgs);
	printf("build: %.1f us/message mean (fastest of %d rounds), p50 "
	    "%.1f us, p99 %.1f us, max %.1f us; %.0f MB/s\n",
	    best / (double)nmsgs, rounds, lat[nmsgs / 2],
	    lat[nmsgs * 99 / 100], lat[nmsgs - 1], (double)raw / best);
	printf("record: %.0f bytes/message mean, %llu max, %.1f%% of raw\n",
	    (double)recbytes / (double)nmsgs, (unsigned long long)recmax,
	    100.0 * (double)recbytes / (double)raw);
	printf("parse: %.0f ns/record (imap_meta_parse, first message)\n",
	    pt);
	qsort(msgs, nmsgs, sizeof(*msgs), cmp_slow);
	for (i = 0; i < 5 && i < nmsgs; i++)
		printf("slowest %zu: %.1f us, %zu bytes: %s\n", i + 1,
		    msgs[i].us, msgs[i].len, msgs[i].path);
	bench_big(rounds < 1 ? 1 : rounds);
	return 0;
}

static void
bench_big(int rounds)
{
	size_t cap = 3 * 1024 * 1024, len = 0, i, j, rlen;
	char *m = xmalloc(cap);
	struct imap_meta im;
	double best = 0, t0, t;
	void *rec;
	int r;

#define ADD(...) (len += (size_t)snprintf(m + len, cap - len, __VA_ARGS__))
	ADD("From: a@b.c\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_outer\"\r\n\r\n");
	for (i = 0; i < 3000 && len < cap - 4096; i++) {
		if (i % 10 == 9) {
			ADD("--=_outer\r\nContent-Type: message/rfc822\r\n\r\n"
			    "Subject: inner %zu\r\nContent-Type: multipart/"
			    "alternative; boundary=in%zu\r\n\r\n--in%zu\r\n"
			    "\r\n", i, i, i);
			for (j = 0; j < 10; j++)
				ADD("inner text line %zu of part %zu, some words "
				    "to fill the line up to eighty bytes\r\n", j,
				    i);
			ADD("--in%zu--\r\n", i);
			continue;
		}
		ADD("--=_outer\r\nContent-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		for (j = 0; j < 11; j++)
			ADD("line %zu of part %zu, some words to fill the line up "
			    "to about eighty bytes long.\r\n", j, i);
	}
	ADD("--=_outer--\r\n");
#undef ADD
	for (r = 0; r < rounds; r++) {
		t0 = now_us();
		imap_msg_meta_build(m, len, &rec, &rlen);
		t = now_us() - t0;
		if (r == 0 || t < best)
			best = t;
		if (r + 1 < rounds)
			free(rec);
	}
	(void)imap_meta_parse(rec, rlen, &im);
	printf("big: %.2f MiB, %zu parts: %.0f us (%.0f MB/s), record %zu "
	    "bytes (BODYSTRUCTURE %zu)\n", (double)len / 1048576, im.nparts,
	    best, (double)len / best, rlen, im.bodystructure_len);
	free(rec);
	free(m);
}
