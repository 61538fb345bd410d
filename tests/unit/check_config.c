/*
 * check_config.c - vellum.conf: every key and its default, the embedded
 * default, listen forms (IPv6, "*", lists), every kind of error with its
 * FILE:LINE, several errors reported at once, CRLF files, config_load()
 * on real files.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/xmalloc.h"

#define F	"t.conf"

static Suite	*config_suite(void);
static struct config *parse_ok(const char *text);
static char	*parse_bad(const char *text);
static void	has_error(const char *errs, unsigned line, const char *part);
static unsigned	count_lines(const char *errs);
static void	one_error(const char *text, unsigned line, const char *part);

static struct config cfg;

static struct config *
parse_ok(const char *text)
{
	char *errs = NULL;
	int rc;

	memset(&cfg, 0xa5, sizeof(cfg));
	rc = config_parse(F, text, strlen(text), &cfg, &errs);
	ck_assert_msg(rc == 0, "config_parse of\n%s\nreturned %d:\n%s", text,
	    rc, errs != NULL ? errs : err_msg());
	ck_assert_msg(errs == NULL, "no errors but *errors_r is set");
	return &cfg;
}

/* The errors of text (which must fail with ERR_INVALID); free them. */
static char *
parse_bad(const char *text)
{
	char *errs = NULL;
	int rc;

	err_clear();
	rc = config_parse(F, text, strlen(text), &cfg, &errs);
	ck_assert_msg(rc == -1, "config_parse of\n%s\nreturned %d, wanted -1",
	    text, rc);
	ck_assert_msg(err_class() == ERR_INVALID, "error class %s, wanted "
	    "INVALID", err_class_name(err_class()));
	ck_assert_msg(errs != NULL && errs[0] != '\0', "no error text for\n%s",
	    text);
	ck_assert_msg(errs[strlen(errs) - 1] == '\n', "errors do not end in "
	    "a newline: %s", errs);
	return errs;
}

/* A line "t.conf:LINE: ...part..." (LINE 0: "t.conf: ...part..."). */
static void
has_error(const char *errs, unsigned line, const char *part)
{
	char prefix[64];
	const char *p, *nl;

	if (line > 0)
		snprintf(prefix, sizeof(prefix), F ":%u: ", line);
	else
		snprintf(prefix, sizeof(prefix), F ": ");
	for (p = errs; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "error text without a final newline");
		if (strncmp(p, prefix, strlen(prefix)) != 0)
			continue;
		if (memmem(p, (size_t)(nl - p), part, strlen(part)) != NULL)
			return;
	}
	ck_abort_msg("no error \"%s...%s...\" in:\n%s", prefix, part, errs);
}

static unsigned
count_lines(const char *errs)
{
	unsigned n = 0;

	for (; *errs != '\0'; errs++)
		if (*errs == '\n')
			n++;
	return n;
}

/* text gives exactly one error, on line (0: none), mentioning part. */
static void
one_error(const char *text, unsigned line, const char *part)
{
	char *errs = parse_bad(text);

	has_error(errs, line, part);
	ck_assert_msg(count_lines(errs) == 1, "wanted one error for\n%s\n"
	    "got:\n%s", text, errs);
	free(errs);
}

START_TEST(test_file_defaults)
{
	struct config *c = parse_ok("data_dir = /srv/v\n");
	char host[CONFIG_HOST_MAX + 1] = "";
	int s;

	ck_assert_str_eq(c->path, F);
	ck_assert_str_eq(c->data_dir, "/srv/v");
	gethostname(host, sizeof(host));
	ck_assert_str_eq(c->hostname, host[0] ? host : "localhost");
	ck_assert_int_eq(c->log_syslog, 0);
	ck_assert_int_eq(c->log_verbose, 1);
	ck_assert_str_eq(c->user, "");
	for (s = 0; s < SVC_COUNT; s++) {
		ck_assert_msg(!c->svc[s].enabled, "[%s] runs without its "
		    "section", config_svc_name(s));
		ck_assert_uint_eq(c->svc[s].nlisten, 0);
	}
	ck_assert_str_eq(c->tls_cert, "");
	ck_assert_str_eq(c->tls_key, "");
	ck_assert_int_eq(c->auth_plaintext, 0);
	ck_assert_uint_eq(c->auth_fail_delay_ms, 2000);
	ck_assert_uint_eq(c->auth_fail_max, 10);
	ck_assert_uint_eq(c->auth_fail_window, 600);
	ck_assert_uint_eq(c->auth_lockout, 900);
	ck_assert_uint_eq(c->auth_fail_delay_max_ms, 15000);
	ck_assert_uint_eq(c->auth_fail_max_address, 100);
	ck_assert_uint_eq(c->auth_workers, 2);
	ck_assert_uint_eq(c->auth_queue, 256);
	ck_assert_uint_eq(c->auth_ntrusted, 0);
	ck_assert_uint_eq(c->pop_before_smtp, 0);
	ck_assert_uint_eq(c->max_conn_per_ip, 20);
	ck_assert_uint_eq(c->max_conn, 5000);
	ck_assert_uint_eq(c->idle_timeout, 600);
	ck_assert_uint_eq(c->shutdown_grace, 30);
	ck_assert_uint_eq(c->reload_drain, 3600);
	ck_assert_uint_eq(c->command_timeout, 60);
	ck_assert_uint_eq(c->login_timeout, 180);
	ck_assert_uint_eq(c->transfer_rate, 500);
	ck_assert_uint_eq(c->transfer_grace, 30);
	ck_assert_int_eq(c->fs_enabled, 0);
	ck_assert_str_eq(c->fs_mountpoint, "");
	ck_assert_uint_eq(c->quota_grace_days, 5);
	ck_assert_uint_eq(c->quota_full_mark, 95);
	ck_assert_str_eq(c->smtpd_banner, "ESMTP Vellum");
	ck_assert_uint_eq(c->smtpd_max_message_size, 20480000);
	ck_assert_uint_eq(c->smtpd_max_recipients, 1000);
	ck_assert_uint_eq(c->smtpd_max_hops, 50);
	ck_assert_uint_eq(c->smtpd_max_bad_commands, 20);
	ck_assert_int_eq(c->smtpd_reject_early_talkers, 0);
	ck_assert_uint_eq(c->smtpd_junk_command_limit, 100);
	ck_assert_uint_eq(c->smtpd_client_connection_rate, 0);
	ck_assert_uint_eq(c->smtpd_client_message_rate, 0);
	ck_assert_uint_eq(c->smtpd_unknown_recipient_limit, 0);
	ck_assert_uint_eq(c->smtpd_memory_limit, 512U * 1024 * 1024);
	ck_assert_uint_eq(c->smtpd_spool_threshold, 1024U * 1024);
	ck_assert_uint_eq(c->smtpd_ntrusted, 0);
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_sender, 0);
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_helo, 0);
	ck_assert_int_eq(c->srs_enabled, 1);
	ck_assert_uint_eq(c->srs_max_age, 21);
	ck_assert_str_eq(c->srs_secret_file, "");
}
END_TEST

START_TEST(test_srs)
{
	struct config *c = parse_ok("data_dir = /d\n[srs]\nenabled = no\n"
	    "max_age = 7\nsecret_file = /etc/vellum/srs.key\n");

	ck_assert_int_eq(c->srs_enabled, 0);
	ck_assert_uint_eq(c->srs_max_age, 7);
	ck_assert_str_eq(c->srs_secret_file, "/etc/vellum/srs.key");
	c = parse_ok("data_dir = /d\n[srs]\n");
	ck_assert_int_eq(c->srs_enabled, 1);
	one_error("data_dir = /d\n[srs]\nmax_age = 0\n", 3,
	    "max_age = '0': write a number from 1");
	one_error("data_dir = /d\n[srs]\nmax_age = 1001\n", 3, "max_age");
	one_error("data_dir = /d\n[srs]\nenabled = maybe\n", 3, "enabled");
	one_error("data_dir = /d\n[srs]\nsecret = x\n", 3, "secret");
}
END_TEST

/* [antivirus]: off by default, each key, each bad value. */
START_TEST(test_antivirus)
{
	struct config *c = parse_ok("data_dir = /d\n");

	ck_assert_str_eq(c->antivirus_clamd, "");
	ck_assert_uint_eq(c->antivirus_timeout, 30);
	ck_assert_uint_eq(c->antivirus_max_size, 25 * 1024 * 1024);
	ck_assert_int_eq(c->antivirus_on_error, CONFIG_AV_TEMPFAIL);
	c = parse_ok("data_dir = /d\n[antivirus]\n"
	    "clamd = /run/clamav/clamd.ctl\ntimeout = 2m\nmax_size = 10M\n"
	    "on_error = accept\n");
	ck_assert_str_eq(c->antivirus_clamd, "/run/clamav/clamd.ctl");
	ck_assert_uint_eq(c->antivirus_timeout, 120);
	ck_assert_uint_eq(c->antivirus_max_size, 10 * 1024 * 1024);
	ck_assert_int_eq(c->antivirus_on_error, CONFIG_AV_ACCEPT);
	c = parse_ok("data_dir = /d\n[antivirus]\nclamd = [::1]:3310\n"
	    "on_error = tempfail\n");
	ck_assert_str_eq(c->antivirus_clamd, "[::1]:3310");
	ck_assert_int_eq(c->antivirus_on_error, CONFIG_AV_TEMPFAIL);
	c = parse_ok("data_dir = /d\n[antivirus]\nclamd = localhost\n");
	ck_assert_str_eq(c->antivirus_clamd, "localhost");
	c = parse_ok("data_dir = /d\n[antivirus]\nclamd =\n");
	ck_assert_str_eq(c->antivirus_clamd, "");
	one_error("data_dir = /d\n[antivirus]\nclamd = 127.0.0.1:\n", 3,
	    "clamd = '127.0.0.1:': not host:port");
	one_error("data_dir = /d\n[antivirus]\nclamd = 127.0.0.1:99999\n", 3,
	    "clamd");
	one_error("data_dir = /d\n[antivirus]\nclamd = clamd sock\n", 3,
	    "clamd");
	one_error("data_dir = /d\n[antivirus]\ntimeout = 0\n", 3,
	    "timeout = '0': write a time from 1 to 120");
	one_error("data_dir = /d\n[antivirus]\nmax_size = big\n", 3,
	    "max_size");
	one_error("data_dir = /d\n[antivirus]\non_error = maybe\n", 3,
	    "on_error = 'maybe': write tempfail or accept");
	one_error("data_dir = /d\n[antivirus]\nspamd = x\n", 3, "spamd");
}
END_TEST

/* [mailauth]: all off by default, each key, each bad value. */
START_TEST(test_mailauth)
{
	struct config *c = parse_ok("data_dir = /d\n");

	ck_assert_int_eq(c->mailauth_spf, 0);
	ck_assert_int_eq(c->mailauth_dkim, 0);
	ck_assert_int_eq(c->mailauth_dmarc, 0);
	ck_assert_int_eq(c->mailauth_spf_fail, CONFIG_MA_TAG);
	ck_assert_int_eq(c->mailauth_dmarc_reject, CONFIG_MA_REJECT);
	ck_assert_int_eq(c->mailauth_dmarc_quarantine, CONFIG_MA_QUARANTINE);
	ck_assert_uint_eq(c->mailauth_timeout, 10);
	c = parse_ok("data_dir = /d\n[mailauth]\nspf = yes\ndkim = yes\n"
	    "dmarc = yes\nspf_fail = reject\ndmarc_reject = quarantine\n"
	    "dmarc_quarantine = tag\ntimeout = 2m\n");
	ck_assert_int_eq(c->mailauth_spf, 1);
	ck_assert_int_eq(c->mailauth_dkim, 1);
	ck_assert_int_eq(c->mailauth_dmarc, 1);
	ck_assert_int_eq(c->mailauth_spf_fail, CONFIG_MA_REJECT);
	ck_assert_int_eq(c->mailauth_dmarc_reject, CONFIG_MA_QUARANTINE);
	ck_assert_int_eq(c->mailauth_dmarc_quarantine, CONFIG_MA_TAG);
	ck_assert_uint_eq(c->mailauth_timeout, 120);
	c = parse_ok("data_dir = /d\n[mailauth]\nspf_fail = quarantine\n"
	    "dmarc_reject = tag\n");
	ck_assert_int_eq(c->mailauth_spf_fail, CONFIG_MA_QUARANTINE);
	ck_assert_int_eq(c->mailauth_dmarc_reject, CONFIG_MA_TAG);
	one_error("data_dir = /d\n[mailauth]\nspf = maybe\n", 3,
	    "spf = 'maybe': write yes or no");
	one_error("data_dir = /d\n[mailauth]\nspf_fail = drop\n", 3,
	    "spf_fail = 'drop': write tag, quarantine or reject");
	one_error("data_dir = /d\n[mailauth]\ndmarc_quarantine = reject\n",
	    3, "dmarc_quarantine = 'reject': write tag or quarantine");
	one_error("data_dir = /d\n[mailauth]\ntimeout = 121\n", 3,
	    "timeout = '121': write a time from 1 to 120");
	one_error("data_dir = /d\n[mailauth]\nclamd = x\n", 3, "clamd");
}
END_TEST

/* [filter]: optional, each key, each bad value. */
START_TEST(test_filter)
{
	struct config *c = parse_ok("data_dir = /d\n");
	struct config d;

	ck_assert_str_eq(c->filter_user, "nobody");
	ck_assert_uint_eq(c->filter_timeout, 60);
	ck_assert_uint_eq(c->filter_output_max, 64 * 1024 * 1024);
	ck_assert_uint_eq(c->filter_max_procs, 8);
	ck_assert_uint_eq(c->filter_workers, 4);
	ck_assert_uint_eq(c->filter_queue, 256);
	ck_assert_str_eq(c->filter_learn_spam, "/usr/bin/sa-learn --spam");
	ck_assert_str_eq(c->filter_learn_ham, "/usr/bin/sa-learn --ham");
	ck_assert_int_eq(c->filter_learn, 1);
	memset(&d, 0xa5, sizeof(d));
	config_default(&d);
	ck_assert_str_eq(d.filter_user, "nobody");
	ck_assert_uint_eq(d.filter_timeout, 60);
	ck_assert_uint_eq(d.filter_output_max, 64 * 1024 * 1024);
	ck_assert_uint_eq(d.filter_max_procs, 8);
	ck_assert_int_eq(d.filter_learn, 1);
	c = parse_ok("data_dir = /d\n[filter]\n");
	ck_assert_uint_eq(c->filter_timeout, 60);
	ck_assert_str_eq(c->filter_user, "nobody");

	c = parse_ok("data_dir = /d\nuser = vellum\n[filter]\n"
	    "user = vmail\ntimeout = 3600\noutput_max = 1G\n"
	    "max_procs = 256\nworkers = 64\nqueue = 100000\n"
	    "learn_spam = /usr/local/bin/learn -s\n"
	    "learn_ham = /usr/local/bin/learn -h\nlearn = no\n");
	ck_assert_str_eq(c->user, "vellum");
	ck_assert_str_eq(c->filter_user, "vmail");
	ck_assert_uint_eq(c->filter_timeout, 3600);
	ck_assert_uint_eq(c->filter_output_max, 1073741824);
	ck_assert_uint_eq(c->filter_max_procs, 256);
	ck_assert_uint_eq(c->filter_workers, 64);
	ck_assert_uint_eq(c->filter_queue, 100000);
	ck_assert_str_eq(c->filter_learn_spam, "/usr/local/bin/learn -s");
	ck_assert_str_eq(c->filter_learn_ham, "/usr/local/bin/learn -h");
	ck_assert_int_eq(c->filter_learn, 0);

	c = parse_ok("data_dir = /d\n[filter]\ntimeout = 1\n"
	    "output_max = 1024\nmax_procs = 1\nworkers = 1\nqueue = 1\n"
	    "learn = yes\n");
	ck_assert_uint_eq(c->filter_timeout, 1);
	ck_assert_uint_eq(c->filter_output_max, 1024);
	ck_assert_uint_eq(c->filter_max_procs, 1);
	ck_assert_uint_eq(c->filter_workers, 1);
	ck_assert_uint_eq(c->filter_queue, 1);
	ck_assert_int_eq(c->filter_learn, 1);
	c = parse_ok("data_dir = /d\n[filter]\noutput_max = 500K\n");
	ck_assert_uint_eq(c->filter_output_max, 500 * 1024);
	c = parse_ok("data_dir = /d\n[filter]\noutput_max = 64MB\n");
	ck_assert_uint_eq(c->filter_output_max, 64 * 1024 * 1024);

	one_error("data_dir = /d\n[filter]\nuser = \n", 3,
	    "user = '': write the name of a system user");
	one_error("data_dir = /d\n[filter]\nuser = a b\n", 3, "user");
	one_error("data_dir = /d\n[filter]\nuser = a:b\n", 3, "user");
	one_error("data_dir = /d\n[filter]\ntimeout = 0\n", 3,
	    "timeout = '0': write a time from 1 to 3600");
	one_error("data_dir = /d\n[filter]\ntimeout = 3601\n", 3,
	    "timeout");
	/* Issue 12: seconds keys take units; 2h is over the range. */
	one_error("data_dir = /d\n[filter]\ntimeout = 2h\n", 3, "timeout");
	one_error("data_dir = /d\n[filter]\noutput_max = 0\n", 3,
	    "output_max = '0': write a size from 1024 to 1073741824");
	one_error("data_dir = /d\n[filter]\noutput_max = 1023\n", 3,
	    "output_max");
	one_error("data_dir = /d\n[filter]\noutput_max = 2G\n", 3,
	    "output_max");
	one_error("data_dir = /d\n[filter]\noutput_max = lots\n", 3,
	    "output_max");
	one_error("data_dir = /d\n[filter]\noutput_max = -1\n", 3,
	    "output_max");
	one_error("data_dir = /d\n[filter]\nmax_procs = 0\n", 3,
	    "max_procs = '0': write a number from 1 to 256");
	one_error("data_dir = /d\n[filter]\nmax_procs = 257\n", 3,
	    "max_procs");
	one_error("data_dir = /d\n[filter]\nworkers = 0\n", 3,
	    "workers = '0': write a number from 1 to 64");
	one_error("data_dir = /d\n[filter]\nworkers = 65\n", 3, "workers");
	one_error("data_dir = /d\n[filter]\nqueue = 0\n", 3,
	    "queue = '0': write a number from 1 to 100000");
	one_error("data_dir = /d\n[filter]\nqueue = 100001\n", 3, "queue");
	one_error("data_dir = /d\n[filter]\nlearn_spam = sa-learn --spam\n",
	    3, "learn_spam = 'sa-learn --spam': write the absolute path");
	one_error("data_dir = /d\n[filter]\nlearn_spam = \n", 3,
	    "learn_spam");
	one_error("data_dir = /d\n[filter]\nlearn_ham = bin/x\n", 3,
	    "learn_ham");
	one_error("data_dir = /d\n[filter]\nlearn_ham = /x\ty\n", 3,
	    "learn_ham");
	one_error("data_dir = /d\n[filter]\nlearn = maybe\n", 3,
	    "learn = 'maybe': write yes or no");
	one_error("data_dir = /d\n[filter]\nshell = /bin/sh\n", 3,
	    "unknown key 'shell' in [filter] (the keys there: user, "
	    "timeout, output_max, max_procs, workers, queue, learn_spam, "
	    "learn_ham, learn)");
	one_error("data_dir = /d\n[filter]\ntimeout = 5\ntimeout = 6\n", 4,
	    "timeout is set again in [filter] (first on line 3)");
	one_error("data_dir = /d\n[smtpd]\nlearn = yes\n", 3,
	    "learn belongs in [filter], not in [smtpd]");
	one_error("data_dir = /d\n[filter]\n[filter]\n", 3,
	    "[filter] appears again");
}
END_TEST

START_TEST(test_smtpd)
{
	struct config *c = parse_ok("data_dir = /d\n[smtpd]\n"
	    "banner = ESMTP ready (no UCE)\nmax_message_size = 1000\n"
	    "max_recipients = 5\nmax_hops = 7\nmax_bad_commands = 3\n"
	    "memory_limit = 4096\nspool_threshold = 0\n"
	    "reject_early_talkers = yes\njunk_command_limit = 0\n"
	    "client_connection_rate = 60\nclient_message_rate = 1\n"
	    "unknown_recipient_limit = 1000000\n"
	    "trusted_networks = 192.0.2.0/24, 10.1.2.3 ,2001:db8::/32,"
	    "::1\n");
	char *errs;

	ck_assert_str_eq(c->smtpd_banner, "ESMTP ready (no UCE)");
	ck_assert_uint_eq(c->smtpd_max_message_size, 1000);
	ck_assert_uint_eq(c->smtpd_max_recipients, 5);
	ck_assert_uint_eq(c->smtpd_max_hops, 7);
	ck_assert_uint_eq(c->smtpd_max_bad_commands, 3);
	ck_assert_int_eq(c->smtpd_reject_early_talkers, 1);
	ck_assert_uint_eq(c->smtpd_junk_command_limit, 0);
	ck_assert_uint_eq(c->smtpd_client_connection_rate, 60);
	ck_assert_uint_eq(c->smtpd_client_message_rate, 1);
	ck_assert_uint_eq(c->smtpd_unknown_recipient_limit, 1000000);
	ck_assert_uint_eq(c->smtpd_memory_limit, 4096);
	ck_assert_uint_eq(c->smtpd_spool_threshold, 0);
	ck_assert_uint_eq(c->smtpd_ntrusted, 4);
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_sender, 0);
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_helo, 0);
	/* [smtpd] is settings, not a service. */
	ck_assert_int_eq(c->svc[SVC_SMTP].enabled, 0);

	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "192.0.2.77"), 1);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "::ffff:192.0.2.1"), 1);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "192.0.3.1"), 0);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "10.1.2.3"), 1);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "10.1.2.4"), 0);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "2001:db8:ffff::5"), 1);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "2001:db9::5"), 0);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "::1"), 1);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted,
	    c->smtpd_ntrusted, "not an address"), 0);

	/* Host bits are cleared; odd prefixes compare bit by bit. */
	c = parse_ok("data_dir = /d\n[smtpd]\n"
	    "trusted_networks = 198.51.100.77/25, 0.0.0.0/0\n");
	ck_assert_int_eq(config_net_match(c->smtpd_trusted, 1,
	    "198.51.100.1"), 1);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted, 1,
	    "198.51.100.128"), 0);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted, 2,
	    "203.0.113.9"), 1);
	ck_assert_int_eq(config_net_match(c->smtpd_trusted, 2, "::2"), 0);
	c = parse_ok("data_dir = /d\n[smtpd]\ntrusted_networks =\n");
	ck_assert_uint_eq(c->smtpd_ntrusted, 0);

	/* The name policies of port 25 (issue 15). */
	c = parse_ok("data_dir = /d\n[smtpd]\nreject_non_fqdn_sender = yes\n"
	    "reject_non_fqdn_helo = yes\n");
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_sender, 1);
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_helo, 1);
	c = parse_ok("data_dir = /d\n[smtpd]\nreject_non_fqdn_sender = no\n"
	    "reject_non_fqdn_helo = no\n");
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_sender, 0);
	ck_assert_int_eq(c->smtpd_reject_non_fqdn_helo, 0);
	one_error("data_dir = /d\n[smtpd]\nreject_non_fqdn_sender = maybe\n",
	    3, "reject_non_fqdn_sender = 'maybe': write yes or no");
	one_error("data_dir = /d\n[smtpd]\nreject_non_fqdn_helo =\n", 3,
	    "reject_non_fqdn_helo");
	one_error("data_dir = /d\n[imap]\nlisten = 127.0.0.1:1143\n"
	    "reject_non_fqdn_helo = yes\n", 4,
	    "reject_non_fqdn_helo belongs in [smtpd], not in [imap]");
	one_error("data_dir = /d\n[smtpd]\n"
	    "reject_non_fqdn_helo_hostname = yes\n", 3,
	    "reject_non_fqdn_helo");

	/* The DNS checks of port 25: all off by default. */
	c = parse_ok("data_dir = /d\n");
	ck_assert_uint_eq(c->smtpd_ndnsbl, 0);
	ck_assert_uint_eq(c->smtpd_dnsbl_threshold, 1);
	ck_assert_int_eq(c->smtpd_reject_unknown_client, 0);
	ck_assert_int_eq(c->smtpd_reject_unknown_helo, 0);
	ck_assert_int_eq(c->smtpd_reject_unknown_sender, 0);
	c = parse_ok("data_dir = /d\n[smtpd]\ndnsbl_sites = zen.example.test*2,"
	    " bl.example.test=127.0.[0;1].[2..11] , a.test*-1\n"
	    "dnsbl_threshold = 3\nreject_unknown_client = yes\n"
	    "reject_unknown_helo_hostname = yes\n"
	    "reject_unknown_sender_domain = yes\n");
	ck_assert_uint_eq(c->smtpd_ndnsbl, 3);
	ck_assert_str_eq(c->smtpd_dnsbl[0].zone, "zen.example.test");
	ck_assert_int_eq(c->smtpd_dnsbl[0].weight, 2);
	ck_assert_int_eq(c->smtpd_dnsbl[0].filtered, 0);
	ck_assert_str_eq(c->smtpd_dnsbl[1].zone, "bl.example.test");
	ck_assert_int_eq(c->smtpd_dnsbl[1].weight, 1);
	ck_assert_int_eq(c->smtpd_dnsbl[1].filtered, 1);
	ck_assert_str_eq(c->smtpd_dnsbl[1].filter, "127.0.[0;1].[2..11]");
	/* bit sets: 127 / 0 / 0 and 1 / 2 to 11 */
	ck_assert_int_eq(c->smtpd_dnsbl[1].octets[0][127 / 8], 0x80);
	ck_assert_int_eq(c->smtpd_dnsbl[1].octets[2][0], 0x03);
	ck_assert_int_eq(c->smtpd_dnsbl[1].octets[3][0], 0xfc);
	ck_assert_int_eq(c->smtpd_dnsbl[1].octets[3][1], 0x0f);
	ck_assert_int_eq(c->smtpd_dnsbl[1].octets[3][2], 0);
	ck_assert_int_eq(c->smtpd_dnsbl[2].weight, -1);
	ck_assert_uint_eq(c->smtpd_dnsbl_threshold, 3);
	ck_assert_int_eq(c->smtpd_reject_unknown_client, 1);
	ck_assert_int_eq(c->smtpd_reject_unknown_helo, 1);
	ck_assert_int_eq(c->smtpd_reject_unknown_sender, 1);
	one_error("data_dir = /d\n[smtpd]\ndnsbl_sites = a.test*0\n", 3,
	    "weight '0' is not a number");
	one_error("data_dir = /d\n[smtpd]\ndnsbl_sites = a.test*x\n", 3,
	    "weight 'x' is not a number");
	one_error("data_dir = /d\n[smtpd]\ndnsbl_sites = a.test=127.0.0\n",
	    3, "filter '127.0.0' is not an address pattern");
	one_error("data_dir = /d\n[smtpd]\n"
	    "dnsbl_sites = a.test=127.0.0.[3..2]\n", 3,
	    "filter '127.0.0.[3..2]' is not");
	one_error("data_dir = /d\n[smtpd]\n"
	    "dnsbl_sites = a.test=127.0.0.256\n", 3, "is not an address");
	one_error("data_dir = /d\n[smtpd]\ndnsbl_sites = a test\n", 3,
	    "'a test' is not a zone");
	one_error("data_dir = /d\n[smtpd]\ndnsbl_sites = a.test,,b.test\n",
	    3, "an empty entry");
	one_error("data_dir = /d\n[smtpd]\ndnsbl_threshold = 0\n", 3,
	    "dnsbl_threshold");
	one_error("data_dir = /d\n[smtpd]\npostscreen_dnsbl_sites = a.test\n",
	    3, "dnsbl_sites");

	one_error("data_dir = /d\n[smtpd]\ntrusted_networks = 10.0.0.0/33\n",
	    3, "'10.0.0.0/33' is not a network");
	one_error("data_dir = /d\n[smtpd]\ntrusted_networks = a.b.c.d\n", 3,
	    "not a network");
	one_error("data_dir = /d\n[smtpd]\ntrusted_networks = ::1/x\n", 3,
	    "not a network");
	one_error("data_dir = /d\n[smtpd]\ntrusted_networks = ::1,,::2\n",
	    3, "empty entry");
	one_error("data_dir = /d\n[smtpd]\nmax_message_size = 0\n", 3,
	    "max_message_size = '0': write a number from 1");
	one_error("data_dir = /d\n[smtpd]\njunk_command_limit = 100001\n",
	    3, "junk_command_limit = '100001': write a number from 0");
	one_error("data_dir = /d\n[smtpd]\nclient_connection_rate = -1\n",
	    3, "client_connection_rate = '-1': write a number from 0");
	one_error("data_dir = /d\n[smtpd]\nclient_message_rate = 1000001\n",
	    3, "client_message_rate = '1000001': write a number from 0");
	one_error("data_dir = /d\n[smtpd]\nunknown_recipient_limit = ten\n",
	    3, "unknown_recipient_limit = 'ten'");
	one_error("data_dir = /d\n[smtpd]\nreject_early_talkers = maybe\n",
	    3, "reject_early_talkers");
	one_error("data_dir = /d\n[smtpd]\nbanner = \x01x\n", 3,
	    "banner = ");
	one_error("data_dir = /d\n[smtpd]\nlisten = *:25\n", 3,
	    "listen belongs in a service section");
	one_error("data_dir = /d\n[quota]\nmax_hops = 3\n", 3,
	    "max_hops belongs in [smtpd], not in [quota]");
	errs = parse_bad("data_dir = /d\n[smtpd]\nbanner = x\n[smtpd]\n");
	has_error(errs, 4, "[smtpd] appears again");
	free(errs);
}
END_TEST

/* [dns]: the resolver of vellum-mta. */
START_TEST(test_dns)
{
	struct config *c = parse_ok("data_dir = /d\n");
	char *errs;

	ck_assert_uint_eq(c->dns_nresolvers, 0);
	ck_assert_uint_eq(c->dns_timeout, 10);
	ck_assert_int_eq(c->dns_dnssec, 0);
	ck_assert_str_eq(c->dns_trust_anchor, "/usr/share/dns/root.key");
	ck_assert_int_eq(c->dns_ipv4, 1);
	ck_assert_int_eq(c->dns_ipv6, 1);

	c = parse_ok("data_dir = /d\n[dns]\n"
	    "resolver = 127.0.0.1:5353, ::1 ,[2001:DB8::1]:54,192.0.2.1, "
	    "[::ffff:192.0.2.2]\n"
	    "timeout = 3\ndnssec = yes\ntrust_anchor = /etc/k\n"
	    "ipv4 = no\nipv6 = yes\n");
	ck_assert_uint_eq(c->dns_nresolvers, 5);
	ck_assert_str_eq(c->dns_resolvers[0].addr, "127.0.0.1");
	ck_assert_uint_eq(c->dns_resolvers[0].port, 5353);
	ck_assert_str_eq(c->dns_resolvers[1].addr, "::1");
	ck_assert_uint_eq(c->dns_resolvers[1].port, 53);
	ck_assert_str_eq(c->dns_resolvers[2].addr, "2001:db8::1");
	ck_assert_uint_eq(c->dns_resolvers[2].port, 54);
	ck_assert_str_eq(c->dns_resolvers[3].addr, "192.0.2.1");
	ck_assert_uint_eq(c->dns_resolvers[3].port, 53);
	ck_assert_str_eq(c->dns_resolvers[4].addr, "::ffff:192.0.2.2");
	ck_assert_uint_eq(c->dns_timeout, 3);
	ck_assert_int_eq(c->dns_dnssec, 1);
	ck_assert_str_eq(c->dns_trust_anchor, "/etc/k");
	ck_assert_int_eq(c->dns_ipv4, 0);
	ck_assert_int_eq(c->dns_ipv6, 1);

	one_error("data_dir = /d\n[dns]\nresolver = ns.example.test\n", 3,
	    "'ns.example.test' is not an address");
	one_error("data_dir = /d\n[dns]\nresolver = 127.0.0.1:0\n", 3,
	    "not an address");
	one_error("data_dir = /d\n[dns]\nresolver = 127.0.0.1:70000\n", 3,
	    "not an address");
	one_error("data_dir = /d\n[dns]\nresolver = [127.0.0.1]:53\n", 3,
	    "not an address");
	one_error("data_dir = /d\n[dns]\nresolver = [::1\n", 3,
	    "not an address");
	one_error("data_dir = /d\n[dns]\nresolver = [::1]x\n", 3,
	    "not an address");
	one_error("data_dir = /d\n[dns]\nresolver = ::1,,::2\n", 3,
	    "empty entry");
	one_error("data_dir = /d\n[dns]\nresolver =\n", 3,
	    "resolver needs an address");
	one_error("data_dir = /d\n[dns]\nresolver = 1.1.1.1,1.1.1.2,"
	    "1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9\n", 3,
	    "more than 8 addresses");
	one_error("data_dir = /d\n[dns]\ntimeout = 0\n", 3,
	    "timeout = '0': write a time from 1 to 3600");
	one_error("data_dir = /d\n[dns]\ndnssec = maybe\n", 3,
	    "dnssec = 'maybe': write yes or no");
	one_error("data_dir = /d\n[dns]\nipv4 = no\nipv6 = no\n", 4,
	    "leave no address");
	one_error("data_dir = /d\n[smtpd]\nresolver = ::1\n", 3,
	    "resolver belongs in [dns], not in [smtpd]");
	errs = parse_bad("data_dir = /d\n[dns]\nfoo = 1\n");
	has_error(errs, 3, "unknown key 'foo' in [dns] (the keys there: "
	    "resolver, timeout, dnssec, trust_anchor, ipv4, ipv6)");
	free(errs);
}
END_TEST

START_TEST(test_every_key)
{
	static const char text[] =
	    "# every key\n"
	    "data_dir = /var/lib/vellum\n"
	    "hostname = mail.example.test\n"
	    "log = syslog\n"
	    "log_level = debug\n"
	    "user = vellum\n"
	    "[smtp]\nlisten = 0.0.0.0:25\n"
	    "[submission]\nlisten = 0.0.0.0:587\n"
	    "[smtps]\nlisten = 0.0.0.0:465\n"
	    "[lmtp]\nlisten = 127.0.0.1:24\n"
	    "[imap]\nlisten = 0.0.0.0:143\n"
	    "[imaps]\nlisten = 0.0.0.0:993\n"
	    "[pop3]\nlisten = 0.0.0.0:110\n"
	    "[pop3s]\nlisten = 0.0.0.0:995\n"
	    "[tls]\ncert = /etc/ssl/c.pem\nkey = /etc/ssl/k.pem\n"
	    "[auth]\nplaintext = yes\nfail_delay = 500\nfail_max = 3\n"
	    "fail_window = 60\nlockout = 120\npop_before_smtp = 15\n"
	    "[limits]\nconnections_per_ip = 7\nconnections = 100\n"
	    "idle_timeout = 30\nshutdown_grace = 5\n"
	    "[fs]\nmountpoint = /srv/mail\n"
	    "[quota]\ngrace_days = 9\n";
	static const char *const ports[SVC_COUNT] = {
		"25", "587", "465", "24", "143", "993", "110", "995",
	};
	struct config *c = parse_ok(text);
	int s;

	ck_assert_str_eq(c->data_dir, "/var/lib/vellum");
	ck_assert_str_eq(c->hostname, "mail.example.test");
	ck_assert_int_eq(c->log_syslog, 1);
	ck_assert_int_eq(c->log_verbose, 2);
	ck_assert_str_eq(c->user, "vellum");
	for (s = 0; s < SVC_COUNT; s++) {
		ck_assert_msg(c->svc[s].enabled && c->svc[s].nlisten == 1,
		    "[%s]: enabled %d, %zu listen", config_svc_name(s),
		    c->svc[s].enabled, c->svc[s].nlisten);
		ck_assert_str_eq(c->svc[s].listen[0].host,
		    s == SVC_LMTP ? "127.0.0.1" : "0.0.0.0");
		ck_assert_str_eq(c->svc[s].listen[0].port, ports[s]);
	}
	ck_assert_str_eq(c->tls_cert, "/etc/ssl/c.pem");
	ck_assert_str_eq(c->tls_key, "/etc/ssl/k.pem");
	ck_assert_int_eq(c->auth_plaintext, 1);
	ck_assert_uint_eq(c->auth_fail_delay_ms, 500);
	ck_assert_uint_eq(c->auth_fail_max, 3);
	ck_assert_uint_eq(c->auth_fail_window, 60);
	ck_assert_uint_eq(c->auth_lockout, 120);
	ck_assert_uint_eq(c->pop_before_smtp, 15);
	ck_assert_uint_eq(c->max_conn_per_ip, 7);
	ck_assert_uint_eq(c->max_conn, 100);
	ck_assert_uint_eq(c->idle_timeout, 30);
	ck_assert_uint_eq(c->shutdown_grace, 5);
	ck_assert_int_eq(c->fs_enabled, 1);
	ck_assert_str_eq(c->fs_mountpoint, "/srv/mail");
	ck_assert_uint_eq(c->quota_grace_days, 9);

	c = parse_ok("data_dir=/d\nlog=stderr\nlog_level=info\n[pop3]\n"
	    "listen=*:110\n");
	ck_assert_int_eq(c->log_syslog, 0);
	ck_assert_int_eq(c->log_verbose, 1);
	ck_assert_int_eq(c->svc[SVC_POP3].enabled, 1);
	ck_assert_int_eq(c->svc[SVC_IMAP].enabled, 0);
}
END_TEST

/* [auth]: the failure policy and its own trusted_networks. */
START_TEST(test_auth_keys)
{
	struct config *c;

	c = parse_ok("data_dir = /d\n[auth]\nfail_delay_max = 600000\n"
	    "fail_max_address = 10000000\nworkers = 64\nqueue = 100000\n"
	    "trusted_networks = 192.0.2.0/24, 2001:db8::/32\n"
	    "[smtpd]\ntrusted_networks = 198.51.100.0/24\n");
	ck_assert_uint_eq(c->auth_fail_delay_max_ms, 600000);
	ck_assert_uint_eq(c->auth_fail_max_address, 10000000);
	ck_assert_uint_eq(c->auth_workers, 64);
	ck_assert_uint_eq(c->auth_queue, 100000);
	ck_assert_uint_eq(c->auth_ntrusted, 2);
	ck_assert_uint_eq(c->smtpd_ntrusted, 1);
	ck_assert(config_net_match(c->auth_trusted, c->auth_ntrusted,
	    "192.0.2.9"));
	ck_assert(!config_net_match(c->auth_trusted, c->auth_ntrusted,
	    "198.51.100.1"));
	ck_assert(config_net_match(c->smtpd_trusted, c->smtpd_ntrusted,
	    "198.51.100.1"));
	one_error("data_dir=/d\n[auth]\nworkers = 0\n", 3, "1 to 64");
	one_error("data_dir=/d\n[auth]\nqueue = 0\n", 3, "1 to 100000");
	one_error("data_dir=/d\n[auth]\nfail_delay_max = 600001\n", 3,
	    "0 to 600000");
	one_error("data_dir=/d\n[auth]\nfail_max_address = 0\n", 3,
	    "1 to 10000000");
	one_error("data_dir=/d\n[auth]\ntrusted_networks = 10.0.0.0/33\n",
	    3, "not a network");
}
END_TEST

/*
 * Issue 8: [smtp] auth (default no), [submission]/[smtps] require_auth
 * (default yes), keys that belong to some service sections only, and
 * [sendmail] users/trusted/domain.
 */
START_TEST(test_service_auth_keys)
{
	struct config *c;
	char *errs;
	int s;

	c = parse_ok("data_dir = /d\n[smtp]\nlisten = 127.0.0.1:25\n"
	    "[submission]\nlisten = 127.0.0.1:587\n");
	ck_assert_int_eq(c->svc[SVC_SMTP].auth, 0);
	ck_assert_int_eq(c->svc[SVC_SMTP].require_auth, 0);
	ck_assert_int_eq(c->svc[SVC_SUBMISSION].auth, 1);
	ck_assert_int_eq(c->svc[SVC_SUBMISSION].require_auth, 1);
	ck_assert_int_eq(c->svc[SVC_SMTPS].require_auth, 1);
	ck_assert_int_eq(c->svc[SVC_LMTP].require_auth, 0);
	ck_assert_str_eq(c->sendmail_users, "*");
	ck_assert_str_eq(c->sendmail_trusted, "root");
	ck_assert_str_eq(c->sendmail_domain, "");

	c = parse_ok("data_dir = /d\n[smtp]\nlisten = 127.0.0.1:25\n"
	    "auth = yes\n[submission]\nlisten = 127.0.0.1:587\n"
	    "require_auth = no\n[smtps]\nlisten = 127.0.0.1:465\n"
	    "require_auth = yes\n[sendmail]\nusers = root , @mail,www-data\n"
	    "trusted =\ndomain = example.test\n");
	ck_assert_int_eq(c->svc[SVC_SMTP].auth, 1);
	ck_assert_int_eq(c->svc[SVC_SUBMISSION].require_auth, 0);
	ck_assert_int_eq(c->svc[SVC_SMTPS].require_auth, 1);
	ck_assert_str_eq(c->sendmail_users, "root,@mail,www-data");
	ck_assert_str_eq(c->sendmail_trusted, "");
	ck_assert_str_eq(c->sendmail_domain, "example.test");

	errs = parse_bad("data_dir = /d\n"
	    "[submission]\nlisten = 127.0.0.1:587\nauth = yes\n"
	    "[imap]\nlisten = 127.0.0.1:143\nrequire_auth = yes\n"
	    "[smtp]\nlisten = 127.0.0.1:25\nrequire_auth = no\n"
	    "auth = maybe\n"
	    "[quota]\nauth = yes\n"
	    "[sendmail]\nusers = a b\ntrusted = x:y\ndomain = -bad\n"
	    "[sendmail]\n");
	has_error(errs, 4, "auth belongs in [smtp], not in [submission]");
	has_error(errs, 7, "require_auth belongs in [submission] or [smtps], "
	    "not in [imap]");
	has_error(errs, 10, "require_auth belongs in [submission] or "
	    "[smtps], not in [smtp]");
	has_error(errs, 11, "auth = 'maybe': write yes or no");
	has_error(errs, 13, "auth belongs in [smtp], not in [quota]");
	has_error(errs, 15, "users: 'a b' is not a user name");
	has_error(errs, 16, "trusted: 'x:y' is not a user name");
	has_error(errs, 17, "domain = '-bad'");
	has_error(errs, 18, "[sendmail] appears again");
	ck_assert_uint_eq(count_lines(errs), 9);
	free(errs);
	one_error("data_dir = /d\n[sendmail]\nusers = x*\n", 3,
	    "'x*' is not a user name");

	/* The embedded default says the same. */
	config_default(c);
	ck_assert_int_eq(c->svc[SVC_SMTP].auth, 0);
	for (s = 0; s < SVC_COUNT; s++)
		ck_assert_int_eq(c->svc[s].require_auth,
		    s == SVC_SUBMISSION || s == SVC_SMTPS);
}
END_TEST

START_TEST(test_embedded_default)
{
	static const char *const ports[SVC_COUNT] = {
		"2525", "2587", "2465", "2424", "1143", "1993", "1110", "1995",
	};
	struct config c;
	int s;

	memset(&c, 0xa5, sizeof(c));
	config_default(&c);
	ck_assert_str_eq(c.path, "");
	ck_assert_str_eq(c.data_dir, "./var");
	ck_assert_msg(c.hostname[0] != '\0', "no hostname");
	ck_assert_int_eq(c.auth_plaintext, 1);
	for (s = 0; s < SVC_COUNT; s++) {
		ck_assert_msg(c.svc[s].enabled && c.svc[s].nlisten == 1,
		    "[%s] in the embedded default", config_svc_name(s));
		ck_assert_str_eq(c.svc[s].listen[0].host, "127.0.0.1");
		ck_assert_str_eq(c.svc[s].listen[0].port, ports[s]);
	}
	ck_assert_int_eq(c.fs_enabled, 1);
	ck_assert_str_eq(c.fs_mountpoint, "./var/mail");
	ck_assert_str_eq(c.tls_cert, "");
	ck_assert_str_eq(c.user, "");
	ck_assert_int_eq(c.log_syslog, 0);
	ck_assert_int_eq(c.log_verbose, 1);
	ck_assert_uint_eq(c.auth_fail_delay_ms, 2000);
	ck_assert_uint_eq(c.max_conn, 5000);
	ck_assert_uint_eq(c.quota_grace_days, 5);
}
END_TEST

START_TEST(test_svc_names)
{
	static const char *const names[SVC_COUNT] = {
		"smtp", "submission", "smtps", "lmtp", "imap", "imaps",
		"pop3", "pop3s",
	};
	int s;

	for (s = 0; s < SVC_COUNT; s++) {
		ck_assert_str_eq(config_svc_name(s), names[s]);
		ck_assert_int_eq(config_svc_implicit_tls(s),
		    s == SVC_SMTPS || s == SVC_IMAPS || s == SVC_POP3S);
	}
}
END_TEST

START_TEST(test_listen_forms)
{
	struct config *c;
	struct config_service *sv;

	c = parse_ok("data_dir = /d\n[pop3]\nlisten = [::1]:110\n"
	    "[pop3s]\nlisten = *:995, 127.0.0.1:1995 ,[::]:995,"
	    "localhost:2995,mail.example.test:3995, [2001:db8::1]:995\n"
	    "[imap]\nlisten = 192.0.2.1:0143\n");
	sv = &c->svc[SVC_POP3];
	ck_assert_uint_eq(sv->nlisten, 1);
	ck_assert_str_eq(sv->listen[0].host, "::1");
	ck_assert_str_eq(sv->listen[0].port, "110");
	sv = &c->svc[SVC_POP3S];
	ck_assert_uint_eq(sv->nlisten, 6);
	ck_assert_str_eq(sv->listen[0].host, "*");
	ck_assert_str_eq(sv->listen[0].port, "995");
	ck_assert_str_eq(sv->listen[1].host, "127.0.0.1");
	ck_assert_str_eq(sv->listen[1].port, "1995");
	ck_assert_str_eq(sv->listen[2].host, "::");
	ck_assert_str_eq(sv->listen[3].host, "localhost");
	ck_assert_str_eq(sv->listen[4].host, "mail.example.test");
	ck_assert_str_eq(sv->listen[5].host, "2001:db8::1");
	/* Ports are written in their plain decimal form. */
	ck_assert_str_eq(c->svc[SVC_IMAP].listen[0].port, "143");

	/* CONFIG_LISTEN_MAX addresses fit, one more does not. */
	c = parse_ok("data_dir = /d\n[smtp]\nlisten = *:1, *:2, *:3, *:4, "
	    "*:5, *:6, *:7, *:8\n");
	ck_assert_uint_eq(c->svc[SVC_SMTP].nlisten, CONFIG_LISTEN_MAX);
	one_error("data_dir = /d\n[smtp]\nlisten = *:1, *:2, *:3, *:4, *:5, "
	    "*:6, *:7, *:8, *:9\n", 3, "more than 8");
}
END_TEST

START_TEST(test_listen_errors)
{
	one_error("data_dir = /d\n[pop3]\nlisten = ::1:110\n", 3,
	    "[::1]:110");
	one_error("data_dir = /d\n[pop3]\nlisten = localhost\n", 3,
	    "no port");
	one_error("data_dir = /d\n[pop3]\nlisten = :110\n", 3, "*:PORT");
	one_error("data_dir = /d\n[pop3]\nlisten = [::1]110\n", 3, "port");
	one_error("data_dir = /d\n[pop3]\nlisten = [::1:110\n", 3, "]");
	one_error("data_dir = /d\n[pop3]\nlisten = [zz]:110\n", 3,
	    "not an IPv6 address");
	one_error("data_dir = /d\n[pop3]\nlisten = 1.2.3.400:110\n", 3,
	    "not an IPv4 address");
	one_error("data_dir = /d\n[pop3]\nlisten = b@d:110\n", 3,
	    "not an address");
	one_error("data_dir = /d\n[pop3]\nlisten = *:0\n", 3, "1 to 65535");
	one_error("data_dir = /d\n[pop3]\nlisten = *:65536\n", 3,
	    "1 to 65535");
	one_error("data_dir = /d\n[pop3]\nlisten = *:pop3\n", 3,
	    "1 to 65535");
	one_error("data_dir = /d\n[pop3]\nlisten = *:-1\n", 3, "1 to 65535");
	one_error("data_dir = /d\n[pop3]\nlisten = *:110,,*:111\n", 3,
	    "empty address");
	one_error("data_dir = /d\n[pop3]\nlisten =\n", 3, "needs an address");
	one_error("data_dir = /d\n[pop3]\nlisten = *:110, *:110\n", 3,
	    "listed twice");
	one_error("data_dir = /d\n[pop3]\nlisten = *:110\n[imap]\n"
	    "listen = 127.0.0.1:143, *:110\n", 5, "[pop3] (line 3)");
	/* IPv6 :: and 0.0.0.0 are different sockets: no clash. */
	parse_ok("data_dir = /d\n[pop3]\nlisten = [::]:110, 0.0.0.0:110\n");
}
END_TEST

START_TEST(test_values)
{
	static const char *const yes[] = { "yes", "YES", "true", "On", "1" };
	static const char *const no[] = { "no", "No", "false", "OFF", "0" };
	char text[256];
	size_t i;

	for (i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "data_dir = /d\n[auth]\n"
		    "plaintext = %s\n", yes[i]);
		ck_assert_msg(parse_ok(text)->auth_plaintext == 1, "%s",
		    yes[i]);
		snprintf(text, sizeof(text), "data_dir = /d\n[auth]\n"
		    "plaintext = %s\n", no[i]);
		ck_assert_msg(parse_ok(text)->auth_plaintext == 0, "%s",
		    no[i]);
	}
	one_error("data_dir = /d\n[auth]\nplaintext = maybe\n", 3,
	    "plaintext = 'maybe': write yes or no");

	/* Integer ranges: both ends accepted, one past them not. */
	parse_ok("data_dir=/d\n[auth]\nfail_delay = 0\nfail_max = 1\n"
	    "fail_window = 1\nlockout = 0\npop_before_smtp = 0\n[limits]\n"
	    "connections_per_ip = 1\nconnections = 1\nidle_timeout = 1\n"
	    "shutdown_grace = 0\n[quota]\ngrace_days = 0\n");
	parse_ok("data_dir=/d\n[auth]\nfail_delay = 60000\n"
	    "fail_max = 100000\nfail_window = 86400\nlockout = 604800\n"
	    "pop_before_smtp = 10080\n[limits]\n"
	    "connections_per_ip = 1000000\nconnections = 1000000\n"
	    "idle_timeout = 86400\nshutdown_grace = 3600\n[quota]\n"
	    "grace_days = 36500\n");
	one_error("data_dir=/d\n[auth]\nfail_delay = 60001\n", 3,
	    "fail_delay = '60001': write a number from 0 to 60000 "
	    "(milliseconds)");
	one_error("data_dir=/d\n[auth]\nfail_max = 0\n", 3, "1 to 100000");
	one_error("data_dir=/d\n[auth]\nfail_window = 0\n", 3, "1 to 86400");
	one_error("data_dir=/d\n[auth]\nlockout = 604801\n", 3, "seconds");
	one_error("data_dir=/d\n[auth]\npop_before_smtp = 10081\n", 3,
	    "minutes");
	one_error("data_dir=/d\n[limits]\nconnections_per_ip = 0\n", 3,
	    "1 to 1000000");
	one_error("data_dir=/d\n[limits]\nconnections = 0\n", 3, "1 to");
	one_error("data_dir=/d\n[limits]\nidle_timeout = 0\n", 3, "1 to");
	one_error("data_dir=/d\n[limits]\nreload_drain = 8d\n", 3,
	    "0 to 604800");
	one_error("data_dir=/d\n[limits]\nshutdown_grace = 3601\n", 3,
	    "0 to 3600");
	/* The deadlines and the transfer rate. */
	parse_ok("data_dir=/d\n[limits]\ncommand_timeout = 1\n"
	    "login_timeout = 1\ntransfer_rate = 0\ntransfer_grace = 1\n");
	parse_ok("data_dir=/d\n[limits]\ncommand_timeout = 86400\n"
	    "login_timeout = 86400\ntransfer_rate = 1073741824\n"
	    "transfer_grace = 86400\n");
	one_error("data_dir=/d\n[limits]\ncommand_timeout = 0\n", 3,
	    "1 to 86400");
	one_error("data_dir=/d\n[limits]\nlogin_timeout = 86401\n", 3,
	    "1 to 86400");
	one_error("data_dir=/d\n[limits]\ntransfer_rate = 1073741825\n", 3,
	    "0 to 1073741824 (bytes per second, 0 = off)");
	one_error("data_dir=/d\n[limits]\ntransfer_grace = 0\n", 3,
	    "1 to 86400");
	one_error("data_dir=/d\n[quota]\ngrace_days = many\n", 3,
	    "grace_days = 'many'");
	one_error("data_dir=/d\n[quota]\ngrace_days = -1\n", 3, "0 to 36500");
	one_error("data_dir=/d\n[quota]\ngrace_days = +5\n", 3, "0 to 36500");
	one_error("data_dir=/d\n[quota]\ngrace_days = 5d\n", 3, "0 to 36500");
	one_error("data_dir=/d\n[quota]\ngrace_days = 1e3\n", 3, "number");
	one_error("data_dir=/d\n[quota]\ngrace_days =\n", 3, "number");
	one_error("data_dir=/d\n[quota]\ngrace_days = "
	    "99999999999999999999999\n", 3, "number");
	ck_assert_uint_eq(parse_ok("data_dir=/d\n[quota]\ngrace_days = "
	    "007\n")->quota_grace_days, 7);
	/* [quota] full_mark: a percentage, the '%' optional. */
	ck_assert_uint_eq(parse_ok("data_dir=/d\n[quota]\nfull_mark = "
	    "90%\n")->quota_full_mark, 90);
	ck_assert_uint_eq(parse_ok("data_dir=/d\n[quota]\nfull_mark = "
	    "100\n")->quota_full_mark, 100);
	ck_assert_uint_eq(parse_ok("data_dir=/d\n[quota]\nfull_mark = "
	    "1%\n")->quota_full_mark, 1);
	one_error("data_dir=/d\n[quota]\nfull_mark = 0%\n", 3,
	    "full_mark = '0%': write a percentage from 1% to 100%");
	one_error("data_dir=/d\n[quota]\nfull_mark = 101%\n", 3,
	    "1% to 100%");
	one_error("data_dir=/d\n[quota]\nfull_mark = 95%%\n", 3,
	    "percentage");
	one_error("data_dir=/d\n[quota]\nfull_mark = %\n", 3,
	    "percentage");
	one_error("data_dir=/d\n[quota]\nfull_mark = 95 %\n", 3,
	    "percentage");
	one_error("data_dir=/d\n[quota]\ngrace_days = 5%\n", 3,
	    "0 to 36500");
	one_error("data_dir=/d\n[smtpd]\nfull_mark = 95%\n", 3,
	    "full_mark belongs in [quota]");

	/* Strings. */
	one_error("data_dir =\n", 1, "data_dir needs a path");
	one_error("data_dir = /d\nhostname = a b\n", 2, "host name");
	one_error("data_dir = /d\nhostname = -x\n", 2, "host name");
	one_error("data_dir = /d\nhostname =\n", 2, "host name");
	one_error("data_dir = /d\nlog = file\n", 2, "stderr or syslog");
	one_error("data_dir = /d\nlog_level = trace\n", 2, "info or debug");
	one_error("data_dir = /d\nuser = a:b\n", 2, "system user");
	one_error("data_dir = /d\nuser =\n", 2, "system user");
	one_error("data_dir = /d\n[tls]\ncert =\nkey = /k\n", 3,
	    "cert needs a path");
	ck_assert_str_eq(parse_ok("data_dir = /path with spaces/v\n")->data_dir,
	    "/path with spaces/v");
}
END_TEST

START_TEST(test_long_values)
{
	char *text, *big;

	big = xmalloc(PATH_MAX + 1);
	memset(big, 'p', PATH_MAX);
	big[PATH_MAX] = '\0';
	text = xasprintf("data_dir = /d\nhostname = %.*s\n", 256, big + 1);
	one_error(text, 2, "at most 255");
	free(text);
	text = xasprintf("data_dir = /d\nuser = %.*s\n", 64, big + 1);
	one_error(text, 2, "at most 63");
	free(text);
	free(big);
}
END_TEST

START_TEST(test_error_kinds)
{
	static const char nul[] = "data_dir = /d\nhost\0name = x\n";
	char *errs, *text;
	char longline[5000];

	one_error("data_dir = /d\nfrobnicate = 1\n", 2,
	    "unknown key 'frobnicate' at the top of the file (the keys "
	    "there: data_dir, hostname, log, log_level, user)");
	one_error("data_dir = /d\n[pop3]\nlisten = *:1\nportnumber = 2\n", 4,
	    "unknown key 'portnumber' in [pop3] (the keys there: listen, workers)");
	one_error("data_dir = /d\n[pop3]\nlisten = *:1\nport = 2\n", 4,
	    "port belongs in [mta], not in [pop3]");
	one_error("data_dir = /d\n[auth]\nplain = yes\n", 3,
	    "unknown key 'plain' in [auth]");
	one_error("data_dir = /d\n[web]\nlisten = *:80\nport = 1\n", 2,
	    "unknown section [web]");
	one_error("data_dir = /d\n[pop3]\nlisten = *:110\ndata_dir = /e\n", 4,
	    "data_dir belongs at the top of the file");
	one_error("data_dir = /d\nlisten = *:110\n", 2,
	    "listen belongs in a service section");
	one_error("data_dir = /d\n[auth]\ngrace_days = 3\n", 3,
	    "grace_days belongs in [quota], not in [auth]");
	one_error("data_dir = /d\ncert = /c\n", 2,
	    "cert belongs in [tls], not at the top of the file");
	one_error("data_dir = /d\ndata_dir = /e\n", 2,
	    "data_dir is set again at the top of the file (first on line 1)");
	one_error("data_dir = /d\n[pop3]\nlisten = *:1\nlisten = *:2\n", 4,
	    "listen is set again in [pop3] (first on line 3)");
	one_error("data_dir = /d\nthis line is wrong\n", 2,
	    "'this line is wrong' has no '='");
	one_error("data_dir = /d\n= 5\n", 2, "a value without a key");
	one_error("data_dir = /d\n[pop3\nlisten = *:1\n", 2,
	    "a section header reads [name]");
	one_error("data_dir = /d\n[pop3] listen = *:1\n", 2, "text after");
	one_error("data_dir = /d\n[ ]\n", 2, "an empty section name");
	one_error("data_dir = /d\n[pop3]\nlisten = *:1\n[pop3]\n"
	    "listen = *:2\n", 4, "[pop3] appears again (first on line 2)");
	one_error("data_dir = /d\n[pop3]\n[imap]\nlisten = *:143\n", 2,
	    "[pop3] has no listen key");
	one_error("data_dir = /d\n[tls]\ncert = /c\n", 2,
	    "[tls] needs both cert and key");
	one_error("data_dir = /d\n[tls]\nkey = /k\n", 2,
	    "[tls] needs both cert and key");
	one_error("data_dir = /d\n[fs]\n", 2, "[fs] has no mountpoint");
	one_error("hostname = h\n[quota]\ngrace_days = 1\n", 0,
	    "data_dir is required");
	one_error("", 0, "data_dir is required");
	errs = NULL;
	ck_assert_int_eq(config_parse(F, nul, sizeof(nul) - 1, &cfg, &errs),
	    -1);
	has_error(errs, 2, "NUL");
	ck_assert_uint_eq(count_lines(errs), 1);
	free(errs);

	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "hostname = ", 11);
	text = xasprintf("data_dir = /d\n%.*s\n", 4097, longline);
	one_error(text, 2, "longer than 4096 bytes");
	free(text);
	/* 4096 bytes is still a line (its value is then too long). */
	text = xasprintf("data_dir = /d\n%.*s\r\n", 4096, longline);
	errs = parse_bad(text);
	ck_assert_msg(strstr(errs, "longer than") == NULL, "%s", errs);
	free(errs);
	free(text);

	/* An unknown section's keys are not reported again. */
	errs = parse_bad("data_dir = /d\n[nope]\na = 1\nb = 2\n");
	ck_assert_uint_eq(count_lines(errs), 1);
	free(errs);

	/* The whole text also goes without errors_r. */
	ck_assert_int_eq(config_parse(F, "x", 1, &cfg, NULL), -1);
}
END_TEST

START_TEST(test_many_errors_at_once)
{
	static const char text[] =
	    "# line 1\n"
	    "hostname = mail.example.test\n"	/* 2 */
	    "bogus = 1\n"			/* 3: unknown key */
	    "[pop3]\n"				/* 4 */
	    "listen = ::1:110\n"		/* 5: bad value */
	    "[imap\n"				/* 6: malformed section */
	    "[limits]\n"			/* 7 */
	    "connections = lots\n"		/* 8: bad value */
	    "connections = 5\n"			/* 9: duplicate */
	    "no equals here\n"			/* 10: missing = */
	    "[smtp]\n"				/* 11: no listen */
	    "[quota]\n"				/* 12 */
	    "grace_days = 3\n"			/* 13: fine */
	    "plaintext = yes\n"			/* 14: wrong section */
	    "[wat]\n";				/* 15: unknown section */
	char *errs = parse_bad(text);

	has_error(errs, 3, "unknown key 'bogus'");
	has_error(errs, 5, "brackets");
	has_error(errs, 6, "[name]");
	has_error(errs, 8, "connections = 'lots'");
	has_error(errs, 9, "set again");
	has_error(errs, 10, "no '='");
	has_error(errs, 11, "[smtp] has no listen");
	has_error(errs, 14, "plaintext belongs in [auth]");
	has_error(errs, 15, "unknown section [wat]");
	has_error(errs, 0, "data_dir is required");
	ck_assert_msg(count_lines(errs) == 10, "wanted 10 errors, got:\n%s",
	    errs);
	ck_assert_msg(strstr(err_msg(), "10 errors") != NULL, "err_msg: %s",
	    err_msg());
	free(errs);
}
END_TEST

START_TEST(test_error_cap)
{
	char *text = xmalloc(300 * 8 + 1), *errs;
	size_t i;

	text[0] = '\0';
	for (i = 0; i < 300; i++)
		strcat(text, "junk!!\n");
	errs = parse_bad(text);
	ck_assert_msg(count_lines(errs) <= 100, "%u error lines",
	    count_lines(errs));
	ck_assert_msg(strstr(errs, "too many errors") != NULL, "%s", errs);
	free(errs);
	free(text);
}
END_TEST

START_TEST(test_crlf_and_comments)
{
	struct config *c;
	char *errs;

	c = parse_ok("\xef\xbb\xbf# vellum.conf from Windows\r\n"
	    "data_dir = C:/v\r\n"
	    "\r\n"
	    "   # indented comment\r\n"
	    "hostname = h.test    # trailing comment\r\n"
	    "[pop3]   \r\n"
	    "  listen = 127.0.0.1:110 , [::1]:110\t\r\n"
	    "[fs] # the mount\r\n"
	    "mountpoint = /srv/a#b\r\n"
	    "[tls]\r\ncert = /c\r\nkey = /k");
	ck_assert_str_eq(c->data_dir, "C:/v");
	ck_assert_str_eq(c->hostname, "h.test");
	ck_assert_uint_eq(c->svc[SVC_POP3].nlisten, 2);
	ck_assert_str_eq(c->svc[SVC_POP3].listen[0].port, "110");
	ck_assert_str_eq(c->svc[SVC_POP3].listen[1].host, "::1");
	/* '#' inside a word is not a comment. */
	ck_assert_str_eq(c->fs_mountpoint, "/srv/a#b");
	/* The last line needs no line end, and keeps no CR. */
	ck_assert_str_eq(c->tls_key, "/k");

	errs = parse_bad("data_dir = /d\r\n\r\n[pop3]\r\nlisten = x\r\n"
	    "bad\r\n");
	has_error(errs, 4, "listen 'x' has no port");
	has_error(errs, 5, "'bad' has no '='");
	ck_assert_uint_eq(count_lines(errs), 2);
	ck_assert_msg(strchr(errs, '\r') == NULL, "a CR in the errors");
	free(errs);
}
END_TEST

START_TEST(test_load_files)
{
	char dir[] = "/tmp/check-config-XXXXXX", path[64], big[64];
	struct config c;
	char *errs = (char *)1;
	FILE *fp;
	int rc;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vellum.conf", dir);

	rc = config_load(path, &c, &errs);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(err_class() == ERR_NOTFOUND, "missing file: %s",
	    err_class_name(err_class()));
	ck_assert_msg(strstr(err_msg(), path) != NULL, "%s", err_msg());
	ck_assert_ptr_null(errs);

	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("data_dir = /var/v\n[pop3]\nlisten = *:110\n", fp);
	fclose(fp);
	ck_assert_int_eq(config_load(path, &c, &errs), 0);
	ck_assert_ptr_null(errs);
	ck_assert_str_eq(c.path, path);
	ck_assert_str_eq(c.data_dir, "/var/v");
	ck_assert_int_eq(c.svc[SVC_POP3].enabled, 1);

	fp = fopen(path, "w");
	fputs("data_dir = /var/v\nwrong\n[quota]\ngrace_days = x\n", fp);
	fclose(fp);
	ck_assert_int_eq(config_load(path, &c, &errs), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_ptr_nonnull(errs);
	ck_assert_msg(strstr(errs, "/vellum.conf:2: ") != NULL &&
	    strstr(errs, "/vellum.conf:4: ") != NULL, "%s", errs);
	free(errs);
	ck_assert_int_eq(config_load(path, &c, NULL), -1);

	/* A directory, and a file far too big to be a config. */
	ck_assert_int_eq(config_load(dir, &c, &errs), -1);
	ck_assert_ptr_null(errs);
	snprintf(big, sizeof(big), "%s/big", dir);
	fp = fopen(big, "w");
	ck_assert_int_eq(fseek(fp, 2 * 1024 * 1024, SEEK_SET), 0);
	fputc('\n', fp);
	fclose(fp);
	ck_assert_int_eq(config_load(big, &c, &errs), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_msg(errs != NULL && strstr(errs, "larger than") != NULL,
	    "%s", errs ? errs : "(null)");
	free(errs);

	unlink(big);
	unlink(path);
	rmdir(dir);
}
END_TEST

/*
 * Issue 12: sizes take units (one parser, size_parse()) wherever a key
 * is in bytes, seconds keys take s, m, h, d.
 */
START_TEST(test_units)
{
	struct config *c;
	char *errs;

	c = parse_ok("data_dir = /d\n"
	    "[smtpd]\nmax_message_size = 50M\nmemory_limit = 1.5G\n"
	    "spool_threshold = 512k\n"
	    "[limits]\ntransfer_rate = 10KB\nidle_timeout = 5m\n"
	    "shutdown_grace = 30s\ncommand_timeout = 2h\n"
	    "reload_drain = 2d\n"
	    "login_timeout = 1d\nimap_idle_timeout = 30m\n"
	    "transfer_grace = 45\n"
	    "[auth]\nfail_window = 1h\nlockout = 15m\n"
	    "[dns]\ntimeout = 10s\n"
	    "[filter]\ntimeout = 1m\noutput_max = 1GiB\n");
	ck_assert_uint_eq(c->smtpd_max_message_size, 50u * 1024 * 1024);
	ck_assert_uint_eq(c->smtpd_memory_limit, 1536u * 1024 * 1024);
	ck_assert_uint_eq(c->smtpd_spool_threshold, 512u * 1024);
	ck_assert_uint_eq(c->transfer_rate, 10u * 1024);
	ck_assert_uint_eq(c->idle_timeout, 300);
	ck_assert_uint_eq(c->shutdown_grace, 30);
	ck_assert_uint_eq(c->reload_drain, 2 * 86400);
	ck_assert_uint_eq(c->command_timeout, 7200);
	ck_assert_uint_eq(c->login_timeout, 86400);
	ck_assert_uint_eq(c->imap_idle_timeout, 1800);
	ck_assert_uint_eq(c->transfer_grace, 45);
	ck_assert_uint_eq(c->auth_fail_window, 3600);
	ck_assert_uint_eq(c->auth_lockout, 900);
	ck_assert_uint_eq(c->dns_timeout, 10);
	ck_assert_uint_eq(c->filter_timeout, 60);
	ck_assert_uint_eq(c->filter_output_max, 1024u * 1024 * 1024);

	/* Ranges still hold after the unit; bad units say how to write. */
	one_error("data_dir = /d\n[smtpd]\nmax_message_size = 2G\n", 3,
	    "max_message_size = '2G': write a number from 1 to 1073741824");
	one_error("data_dir = /d\n[smtpd]\nmax_message_size = 50X\n", 3,
	    "or a size with K, M or G after it");
	one_error("data_dir = /d\n[smtpd]\nmax_message_size = 1.5\n", 3,
	    "max_message_size = '1.5'");
	one_error("data_dir = /d\n[limits]\nidle_timeout = 2d\n", 3,
	    "idle_timeout = '2d': write a time from 1 to 86400 seconds");
	one_error("data_dir = /d\n[limits]\nidle_timeout = 5x\n", 3,
	    "with s, m, h or d after the number");
	errs = parse_bad("data_dir = /d\n[limits]\nshutdown_grace = 5 m\n");
	has_error(errs, 3, "shutdown_grace");
	free(errs);
}
END_TEST

/* Issue 12: an unknown key says "did you mean"; so does a section. */
START_TEST(test_did_you_mean)
{
	/* Postfix and Dovecot names. */
	one_error("data_dir = /d\n[smtpd]\nmynetworks = 10.0.0.0/8\n", 3,
	    "unknown key 'mynetworks' in [smtpd]: did you mean "
	    "trusted_networks?");
	one_error("data_dir = /d\nmynetworks = 10.0.0.0/8\n", 2,
	    "did you mean trusted_networks (in [auth] or [smtpd])?");
	one_error("data_dir = /d\n[smtpd]\nmessage_size_limit = 1\n", 3,
	    "did you mean max_message_size?");
	one_error("data_dir = /d\nmessage_size_limit = 1\n", 2,
	    "did you mean max_message_size (in [smtpd])?");
	one_error("data_dir = /d\n[tls]\nssl_cert = /c\n", 3,
	    "did you mean cert?");
	one_error("data_dir = /d\nmyhostname = mx.example.test\n", 2,
	    "did you mean hostname?");
	one_error("data_dir = /d\n[queue]\nmaximal_queue_lifetime = 5d\n",
	    3, "did you mean max_age?");
	one_error("data_dir = /d\n[auth]\nDISABLE_PLAINTEXT_AUTH = no\n", 3,
	    "did you mean plaintext?");
	/* Typos: a few edits away. */
	one_error("data_dir = /d\n[limits]\nidle_timout = 5\n", 3,
	    "did you mean idle_timeout?");
	one_error("data_dir = /d\n[smtpd]\nmax_mesage_size = 5\n", 3,
	    "did you mean max_message_size?");
	one_error("data_dir = /d\n[mta]\nrelay_host = [h]:25\n", 3,
	    "did you mean relayhost?");
	one_error("datadir = /d\ndata_dir = /d\n", 1,
	    "did you mean data_dir?");
	one_error("data_dir = /d\n[limits]\nconection = 5\n", 3,
	    "did you mean connections?");
	/* Nothing close: the keys of the section, as before. */
	one_error("data_dir = /d\n[limits]\nfrobnicate = 5\n", 3,
	    "unknown key 'frobnicate' in [limits] (the keys there: "
	    "connections_per_ip");
	one_error("data_dir = /d\n[limits]\nxy = 5\n", 3,
	    "unknown key 'xy' in [limits] (the keys there:");
	/* Sections. */
	one_error("data_dir = /d\n[ssl]\ncert = /c\nkey = /k\n", 2,
	    "unknown section [ssl]: did you mean [tls]?");
	one_error("data_dir = /d\n[limit]\n", 2,
	    "unknown section [limit]: did you mean [limits]?");
	one_error("data_dir = /d\n[submissions]\nlisten = 127.0.0.1:1\n", 2,
	    "did you mean [smtps]?");
}
END_TEST

/*
 * config_print(): the output parses back into the same settings, so
 * print -> parse -> print gives the same text; -n leaves out defaults.
 */
static char *
print_conf(const struct config *c, int flags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(config_print(fp, c, flags), 0);
	fclose(fp);
	return buf;
}

static void
round_trip(const char *text, int flags)
{
	static struct config a, b;
	char *errs = NULL, *one, *two;

	ck_assert_msg(config_parse(F, text, strlen(text), &a, &errs) == 0,
	    "%s", errs);
	one = print_conf(&a, flags);
	ck_assert_msg(config_parse(F, one, strlen(one), &b, &errs) == 0,
	    "printed config does not parse:\n%s\n%s", one, errs);
	two = print_conf(&b, flags);
	ck_assert_msg(strcmp(one, two) == 0, "print, parse, print differs:"
	    "\n%s\n---\n%s", one, two);
	free(one);
	free(two);
}

START_TEST(test_print_round_trip)
{
	static const char rich[] =
	    "data_dir = /var/lib/vellum\nhostname = mx.example.test\n"
	    "log = syslog\nlog_level = debug\nuser = vellum\n"
	    "[smtp]\nlisten = 127.0.0.1:25, [::1]:25\nauth = yes\n"
	    "[submission]\nlisten = *:587\nrequire_auth = no\n"
	    "[imap]\nlisten = 127.0.0.1:143\nworkers = 3\n"
	    "[pop3s]\nlisten = 127.0.0.1:995\n"
	    "[tls]\ncert = /etc/c.pem\nkey = /etc/k.pem\n"
	    "[auth]\nplaintext = yes\nfail_delay = 100\n"
	    "trusted_networks = 192.0.2.0/24, 2001:db8::/32\n"
	    "[limits]\nidle_timeout = 90\nshutdown_grace = 2m\n"
	    "reload_drain = 0\n"
	    "[fs]\nmountpoint = /srv/mail\n"
	    "[quota]\nfull_mark = 90%\n"
	    "[smtpd]\nbanner = ESMTP test\nmax_message_size = 50M\n"
	    "memory_limit = 1000000\ntrusted_networks = 10.0.0.1\n"
	    "dnsbl_sites = zen.example.test*2, b.test=127.0.0.[2..4]*-1\n"
	    "dnsbl_threshold = 2\nreject_unknown_client = yes\n"
	    "[mta]\nrelayhost = [relay.test]:587\nrelay_user = u\n"
	    "relay_password = p w\ntls = verify\nsource = 192.0.2.1, ::1\n"
	    "[queue]\nmax_age = 3d\ndelay_warning = 0\n"
	    "[dns]\nresolver = 127.0.0.1:5353, ::1\ndnssec = yes\n"
	    "[srs]\nenabled = no\n"
	    "[sendmail]\nusers = root, @mail\ndomain = example.test\n"
	    "[filter]\noutput_max = 1.5M\nlearn = no\n";
	static const char secret[] = "data_dir = /d\n[mta]\n"
	    "relayhost = [relay.test]:587\nrelay_user = u\n"
	    "relay_password = s3cr3t\n";
	static struct config c;
	char *out, *errs = NULL;

	round_trip(rich, CONFIG_PRINT_SECRETS);
	round_trip(rich, CONFIG_PRINT_ALL | CONFIG_PRINT_SECRETS);
	round_trip("data_dir = /d\n", 0);
	round_trip("data_dir = /d\n", CONFIG_PRINT_ALL);
	config_default(&c);
	out = print_conf(&c, CONFIG_PRINT_ALL);
	ck_assert_msg(config_parse(F, out, strlen(out), &c, &errs) == 0,
	    "%s", errs);
	free(out);

	/* -n: only what differs, with units; data_dir always. */
	ck_assert_int_eq(config_parse(F, "data_dir = /d\n[smtpd]\n"
	    "max_message_size = 52428800\nmax_hops = 50\n[pop3]\n"
	    "listen = 127.0.0.1:110\n", 94, &c, &errs), 0);
	out = print_conf(&c, 0);
	ck_assert_str_eq(out, "data_dir = /d\n\n[pop3]\n"
	    "listen = 127.0.0.1:110\n\n[smtpd]\nmax_message_size = 50M\n");
	free(out);

	/* A secret is hidden unless asked for (doveconf -P). */
	ck_assert_int_eq(config_parse(F, secret, sizeof(secret) - 1, &c,
	    &errs), 0);
	out = print_conf(&c, 0);
	ck_assert_msg(strstr(out, "s3cr3t") == NULL &&
	    strstr(out, "# relay_password = (hidden)\n") != NULL, "%s", out);
	free(out);
	out = print_conf(&c, CONFIG_PRINT_SECRETS);
	ck_assert_msg(strstr(out, "relay_password = s3cr3t\n") != NULL, "%s",
	    out);
	free(out);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_file_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_smtpd);
	tcase_add_test(tc, test_dns);
	tcase_add_test(tc, test_auth_keys);
	tcase_add_test(tc, test_embedded_default);
	tcase_add_test(tc, test_service_auth_keys);
	tcase_add_test(tc, test_svc_names);
	tcase_add_test(tc, test_listen_forms);
	tcase_add_test(tc, test_listen_errors);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_long_values);
	tcase_add_test(tc, test_error_kinds);
	tcase_add_test(tc, test_many_errors_at_once);
	tcase_add_test(tc, test_error_cap);
	tcase_add_test(tc, test_crlf_and_comments);
	tcase_add_test(tc, test_load_files);
	tcase_add_test(tc, test_srs);
	tcase_add_test(tc, test_antivirus);
	tcase_add_test(tc, test_mailauth);
	tcase_add_test(tc, test_filter);
	tcase_add_test(tc, test_units);
	tcase_add_test(tc, test_did_you_mean);
	tcase_add_test(tc, test_print_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
