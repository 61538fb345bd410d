/*
 * mailauth-probe - runs mailauth_check() (deliver/mailauth.c) on one
 * message, for test_mailauth.py, against a DNS server the test starts.
 *
 *   mailauth-probe CONF IP HELO SENDER CHECKS [TIMEOUT_MS] < MSG
 *
 * CONF: a vellum.conf whose [dns] names the resolver (dns_ub_new()).
 *
 * CHECKS: any of "spf", "dkim", "dmarc" joined by commas.  Prints the
 * results one per line ("spf pass example.test", "dkim 0 pass d s",
 * "dmarc fail example.test reject"), then the Authentication-Results
 * field as it would be added.  Exit 0, or 1 on a setup error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "common/config.h"
#include "common/dns.h"
#include "common/error.h"
#include "common/keymemo.h"
#include "deliver/mailauth.h"

int
main(int argc, char *argv[])
{
	static const char *pol[] = { "none", "quarantine", "reject" };
	struct mailauth_in in;
	struct mailauth_out out;
	struct ub_ctx *ub;
	struct config c;
	char *errs = NULL, *msg = NULL;
	struct keymemo_stats ks;
	size_t len = 0, cap = 0, n, i;
	int rounds = 1;

	if (argc < 6) {
		fprintf(stderr, "usage: mailauth-probe CONF IP HELO SENDER "
		    "CHECKS [TIMEOUT_MS] < MSG\n");
		return 1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((msg = realloc(msg, cap)) == NULL)
				return 1;
		}
		if ((n = fread(msg + len, 1, cap - len, stdin)) == 0)
			break;
		len += n;
	}
	if (config_load(argv[1], &c, &errs) != 0 ||
	    dns_ub_new(&c, &ub) == -1) {
		fprintf(stderr, "mailauth-probe: %s\n%s", err_msg(),
		    errs != NULL ? errs : "");
		return 1;
	}
	if (mailauth_init(NULL) == -1) {
		fprintf(stderr, "mailauth-probe: %s\n", err_msg());
		return 1;
	}
	memset(&in, 0, sizeof(in));
	in.authserv_id = "mx.vellum.test";
	in.ip = argv[2];
	in.helo = argv[3];
	in.sender = argv[4];
	in.spf = strstr(argv[5], "spf") != NULL;
	in.dkim = strstr(argv[5], "dkim") != NULL;
	in.dmarc = strstr(argv[5], "dmarc") != NULL;
	in.timeout_ms = argc > 6 ? atoi(argv[6]) : 0;
	in.msg = msg;
	in.len = len;
	/* PROBE_ROUNDS=N checks the message N times (the key memo's test) */
	if (getenv("PROBE_ROUNDS") != NULL)
		rounds = atoi(getenv("PROBE_ROUNDS"));
	do {
		if (mailauth_check(ub, &in, &out) == -1) {
			fprintf(stderr, "mailauth-probe: %s\n", err_msg());
			return 1;
		}
	} while (--rounds > 0);
	keymemo_stats(&ks);
	printf("keymemo %d %llu %llu %llu\n", keymemo_bound(),
	    (unsigned long long)ks.hits, (unsigned long long)ks.misses,
	    (unsigned long long)ks.passed);
	printf("spf %s %s\n", mailauth_res_name(out.spf),
	    out.spf_domain[0] ? out.spf_domain : "-");
	for (i = 0; i < out.ndkim; i++)
		printf("dkim %zu %s %s %s\n", i,
		    mailauth_res_name(out.dkim[i].res), out.dkim[i].domain,
		    out.dkim[i].selector);
	printf("dmarc %s %s %s\n", mailauth_res_name(out.dmarc),
	    out.from_domain[0] ? out.from_domain : "-", pol[out.policy]);
	fputs(out.header, stdout);
	mailauth_shutdown();
	ub_ctx_delete(ub);
	free(msg);
	return 0;
}
