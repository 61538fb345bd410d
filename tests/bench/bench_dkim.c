/*
 * bench_dkim.c - DKIM signatures per second through mta_dkim_sign(), the
 * function vellum-mta's signing threads run (mta/dkim.h): rsa-2048,
 * ed25519, and both keys on one message (dual signing).  One thread;
 * vellum-mta runs MTA_DKIM_THREADS of them.  Prints figures, asserts
 * nothing.
 *
 *	build/tests/bench/bench-dkim [seconds per figure] [message bytes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/error.h"
#include "mta/dkim.h"

static double
now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
pem_key(const char *alg)
{
	EVP_PKEY *pk;
	BIO *b;
	char *p, *out;
	long n;

	pk = strcmp(alg, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)2048) : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL || (b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		fprintf(stderr, "bench-dkim: cannot make a %s key\n", alg);
		exit(1);
	}
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	EVP_PKEY_free(pk);
	return out;
}

/* A message like the ones submitted: headers, then text to size. */
static char *
make_message(size_t size, size_t *len_r)
{
	static const char head[] =
	    "From: Alice <alice@example.test>\r\n"
	    "To: Bob <bob@remote.test>\r\n"
	    "Subject: the quarterly figures\r\n"
	    "Date: Wed, 02 Dec 2026 20:00:00 +0000\r\n"
	    "Message-ID: <bench.1@example.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n";
	static const char line[] = "The figures for the quarter are in the "
	    "attached table, as discussed.\r\n";
	char *m = malloc(size + sizeof(head) + sizeof(line));
	size_t n = strlen(head);

	memcpy(m, head, n);
	while (n < size) {
		memcpy(m + n, line, strlen(line));
		n += strlen(line);
	}
	*len_r = n;
	return m;
}

static void
run(const char *what, struct mta_dkim_keys *k, const char *msg, size_t len,
    double secs)
{
	double w0, c0, w, c;
	unsigned long n = 0;
	char *hdr;
	size_t hlen;

	w0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	do {
		if (mta_dkim_sign(k, msg, len, &hdr, &hlen) == -1) {
			fprintf(stderr, "bench-dkim: %s: %s\n", what,
			    err_msg());
			exit(1);
		}
		free(hdr);
		n++;
	} while (now(CLOCK_MONOTONIC) - w0 < secs);
	w = now(CLOCK_MONOTONIC) - w0;
	c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("%-22s %8.0f messages/s  %8.0f signatures/s  %7.1f us CPU "
	    "per message  (%lu in %.1f s)\n", what, (double)n / w,
	    (double)(n * k->n) / w, c / (double)n * 1e6, n, w);
}

int
main(int argc, char **argv)
{
	struct mta_dkim_key rsa = { "rsa1", STORE_DKIM_RSA, NULL };
	struct mta_dkim_key ed = { "ed1", STORE_DKIM_ED25519, NULL };
	struct mta_dkim_key both[2];
	struct mta_dkim_keys k;
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 4096, len;
	double load[3] = { 0, 0, 0 };
	char *msg;

	if (mta_dkim_init() == -1) {
		fprintf(stderr, "bench-dkim: %s\n", err_msg());
		return 1;
	}
	rsa.pem = pem_key("RSA");
	ed.pem = pem_key("ED25519");
	both[0] = rsa;
	both[1] = ed;
	msg = make_message(size, &len);
	if (getloadavg(load, 3) == -1)
		load[0] = -1;
	printf("DKIM signing through mta_dkim_sign(), one thread, %zu-byte "
	    "message, load average %.2f\n", len, load[0]);
	memset(&k, 0, sizeof(k));
	snprintf(k.domain, sizeof(k.domain), "example.test");
	k.n = 1;
	k.v = &rsa;
	run("rsa-2048", &k, msg, len, secs);
	k.v = &ed;
	run("ed25519", &k, msg, len, secs);
	k.n = 2;
	k.v = both;
	run("rsa-2048 + ed25519", &k, msg, len, secs);
	free(rsa.pem);
	free(ed.pem);
	free(msg);
	mta_dkim_shutdown();
	return 0;
}
