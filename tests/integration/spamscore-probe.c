/*
 * spamscore-probe - runs spam_score() (deliver/spamscore.c) on a file, for
 * the real-spamd test (test_spamscore_spamd.py) and for timing it.
 *
 *   spamscore-probe [-n COUNT] [-s MAX_SIZE] [-t TIMEOUT_MS] [-u USER]
 *       ADDR FILE
 *
 * Prints "scored SCORE THRESHOLD SYMBOLS" (exit 0) or "not scored: WHY"
 * (exit 1); with -n, scores COUNT times and adds a line
 * "rtt_ms min MIN median MED max MAX" (wall time per call).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliver/spamscore.h"

static int	cmp_double(const void *, const void *);
static double	now_ms(void);

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	struct spam_conf conf = { 0 };
	char why[1024], *msg = NULL;
	double score, threshold, *rtt, t0;
	size_t len = 0, cap = 0;
	long count = 1, i;
	FILE *f;
	int c, r = 0;

	while ((c = getopt(argc, argv, "n:s:t:u:")) != -1) {
		switch (c) {
		case 's':
			conf.max_size = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 't':
			conf.timeout_ms = atoi(optarg);
			break;
		case 'u':
			conf.user = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2 || count < 1)
		goto usage;
	conf.addr = argv[optind];
	if ((f = fopen(argv[optind + 1], "rb")) == NULL) {
		perror(argv[optind + 1]);
		return 2;
	}
	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			if ((msg = realloc(msg, cap)) == NULL)
				abort();
		}
		if ((c = (int)fread(msg + len, 1, cap - len, f)) <= 0)
			break;
		len += (size_t)c;
	}
	fclose(f);
	if ((rtt = calloc((size_t)count, sizeof(*rtt))) == NULL)
		abort();
	for (i = 0; i < count; i++) {
		t0 = now_ms();
		r = spam_score(&conf, msg, len, &score, &threshold, why,
		    sizeof(why));
		rtt[i] = now_ms() - t0;
		if (r != 1)
			break;
	}
	if (r == 1)
		printf("scored %.1f %.1f %s\n", score, threshold, why);
	else
		printf("not scored: %s\n", why);
	if (r == 1 && count > 1) {
		qsort(rtt, (size_t)count, sizeof(*rtt), cmp_double);
		printf("rtt_ms min %.2f median %.2f max %.2f (%ld calls, %zu "
		    "bytes)\n", rtt[0], rtt[count / 2], rtt[count - 1], count,
		    len);
	}
	free(rtt);
	free(msg);
	return r == 1 ? 0 : 1;
 usage:
	fprintf(stderr, "usage: spamscore-probe [-n COUNT] [-s MAX_SIZE] "
	    "[-t TIMEOUT_MS] [-u USER] ADDR FILE\n");
	return 2;
}
