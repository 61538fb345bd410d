/*
 * bench_acl.c - what a black/white list lookup costs vellum-smtpd on its
 * event loop (store/acl.h): each lookup is one read snapshot, as
 * smtpd/acl.c takes it (store_read() per connect, MAIL, RCPT).
 *
 * usage: bench-acl [entries]
 *
 * Fills a store with N ip entries, N/10 nets spread over NLENS prefix
 * lengths, N sender addresses and N/10 domains (default N 10,000; 1,000
 * per durable transaction); then prints, for an empty table and the full
 * one, the CPU time (user + system, getrusage) per lookup of a client
 * that hits an ip, one that hits a net (every length in use is tried
 * first), one that misses, and of a sender that misses (address, 3
 * domains, user@: 5 reads) and one that hits its domain.  The store
 * lives in its own temporary dir, removed at the end.
 */
#include <sys/resource.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/acl.h"
#include "store/store.h"

#define NDEFAULT	10000U
#define BATCH		1000U
#define ROUNDS		20000U
#define NLENS		8

static const unsigned lens[NLENS] = { 16, 18, 20, 22, 24, 26, 28, 30 };

struct fill_args {
	unsigned	 n, from, count;
};

struct look_args {
	int		 sender;
	const char	*key;
	struct store_acl e;
};

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
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
fill_fn(struct store_txn *t, void *ctx)
{
	struct fill_args *a = ctx;
	struct store_acl e;
	unsigned i, k, len;

	for (i = a->from; i < a->from + a->count; i++) {
		memset(&e, 0, sizeof(e));
		e.list = i % 2 ? STORE_ACL_WHITE : STORE_ACL_BLACK;
		e.action = i % 2 ? STORE_ACL_NONE : STORE_ACL_REJECT;
		e.kind = STORE_ACL_IP;
		snprintf(e.value, sizeof(e.value), "10.%u.%u.%u", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
		if (store_acl_put(t, &e, 1) == -1)
			return -1;
		e.kind = STORE_ACL_SENDER;
		snprintf(e.value, sizeof(e.value), "user%u@sender%u.test", i,
		    i % 97);
		if (store_acl_put(t, &e, 1) == -1)
			return -1;
		if (i % 10 != 0)
			continue;
		k = i / 10;
		len = lens[k % NLENS];
		/* nets in 172.16.0.0/12 and up, host bits clear */
		e.kind = STORE_ACL_NET;
		snprintf(e.value, sizeof(e.value), "%u.%u.0.0/%u",
		    172 + (k >> 8 & 63), k & 255, len);
		if (store_acl_put(t, &e, 1) == -1)
			return -1;
		e.kind = STORE_ACL_DOMAIN;
		snprintf(e.value, sizeof(e.value), "spam%u.example", k);
		if (store_acl_put(t, &e, 1) == -1)
			return -1;
	}
	return 0;
}

static int
look_fn(struct store_txn *t, void *ctx)
{
	struct look_args *l = ctx;

	return l->sender ? store_acl_sender(t, l->key, &l->e) :
	    store_acl_client(t, l->key, &l->e);
}

/* CPU microseconds per lookup of key, and what it found. */
static double
per_lookup(struct store *st, int sender, const char *key, int *found)
{
	struct look_args l;
	unsigned i;
	double t0;
	int rc = 0;

	memset(&l, 0, sizeof(l));
	l.sender = sender;
	l.key = key;
	t0 = cpu_s();
	for (i = 0; i < ROUNDS; i++)
		if ((rc = store_read(st, look_fn, &l)) == -1)
			return -1;
	*found = rc;
	return (cpu_s() - t0) * 1e6 / ROUNDS;
}

static void
report(struct store *st, const char *what)
{
	static const struct {
		int		 sender;
		const char	*key, *name;
	} keys[] = {
		{ 0, "10.0.1.2", "client, ip entry" },
		{ 0, "172.0.10.77", "client, net entry" },
		{ 0, "192.0.2.1", "client, no entry" },
		{ 1, "someone@mail.other.test", "sender, no entry (5 reads)" },
		{ 1, "x@mail.spam1.example", "sender, domain entry" },
	};
	size_t i;
	double us;
	int found;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		us = per_lookup(st, keys[i].sender, keys[i].key, &found);
		printf("%-6s %-30s %6.2f us CPU per lookup (%s)\n", what,
		    keys[i].name, us, found == 1 ? "found" : found == 0 ?
		    "none" : "error");
	}
}

int
main(int argc, char **argv)
{
	struct store *st;
	struct fill_args a;
	char dir[] = "/tmp/vellum-bench-acl-XXXXXX";
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : NDEFAULT;
	double t0;

	if (n < 10 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: bench-acl [entries (10 or more)]\n");
		return 2;
	}
	if (store_open(dir, 0, &st) == -1) {
		fprintf(stderr, "bench-acl: %s\n", err_msg());
		return 1;
	}
	report(st, "empty");
	memset(&a, 0, sizeof(a));
	t0 = cpu_s();
	for (a.from = 0; a.from < n; a.from += a.count) {
		a.count = n - a.from < BATCH ? n - a.from : BATCH;
		if (store_write(st, fill_fn, &a) == -1)
			goto fail;
	}
	printf("fill: %u ip + %u sender + %u net (%d prefix lengths) + %u "
	    "domain entries, %.2f s CPU\n", n, n, (n + 9) / 10, NLENS,
	    (n + 9) / 10, cpu_s() - t0);
	report(st, "full");
	store_close(&st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
fail:
	fprintf(stderr, "bench-acl: %s\n", err_msg());
	store_close(&st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 1;
}
