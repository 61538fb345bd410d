/*
 * fuzz_config.c - config_parse() (common/config.c) on any text.
 *
 * Never crashes; 0 exactly when no error list comes back; every error is
 * one "FILE:LINE: message" line (or "FILE: message" for what concerns the
 * whole file) with a line number inside the text; an accepted
 * configuration is sane (ports 1-65535, networks with their host bits
 * clear, strings terminated); the same text with CRLF line ends gives the
 * same configuration and the same errors.
 */
#include <arpa/inet.h>
#include <string.h>

#include "common/config.h"

#include "fuzz.h"

#define FUZZ_PATH	"fuzz.conf"
#define FUZZ_DUMP_MAX	(64 * 1024)

static char	*fuzz_dump(const struct config *);
static void	fuzz_errors(const char *, size_t);
static void	fuzz_sane(const struct config *);
static int	fuzz_terminated(const char *, size_t);

static int
fuzz_terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* The configuration as text, to compare two parses. */
static char *
fuzz_dump(const struct config *c)
{
	char *d = malloc(FUZZ_DUMP_MAX);
	size_t n = 0, s, i;

	FUZZ_CHECK(d != NULL, "out of memory");
#define OUT(...) (n += (size_t)snprintf(d + n, FUZZ_DUMP_MAX - n, __VA_ARGS__))
	OUT("%s|%s|%s|%d|%d|%s|%s|%s|%d|%u|%u|%u|%u|%u|", c->path,
	    c->data_dir, c->hostname, c->log_syslog, c->log_verbose, c->user,
	    c->tls_cert, c->tls_key, c->auth_plaintext, c->auth_fail_delay_ms,
	    c->auth_fail_max, c->auth_fail_window, c->auth_lockout,
	    c->pop_before_smtp);
	OUT("%u|%u|%u|%u|%d|%s|%u|%s|%u|%u|%u|%u|%u|", c->max_conn_per_ip,
	    c->max_conn, c->idle_timeout, c->shutdown_grace, c->fs_enabled,
	    c->fs_mountpoint, c->quota_grace_days, c->smtpd_banner,
	    c->smtpd_max_message_size, c->smtpd_max_recipients,
	    c->smtpd_max_hops, c->smtpd_max_bad_commands,
	    c->smtpd_memory_limit);
	for (s = 0; s < SVC_COUNT; s++) {
		OUT("[%d %zu", c->svc[s].enabled, c->svc[s].nlisten);
		for (i = 0; i < c->svc[s].nlisten && i < CONFIG_LISTEN_MAX; i++)
			OUT(" %s:%s", c->svc[s].listen[i].host,
			    c->svc[s].listen[i].port);
		OUT("]");
	}
	for (i = 0; i < c->smtpd_ntrusted && i < CONFIG_NETS_MAX; i++) {
		OUT(" %d/%u/", c->smtpd_trusted[i].family,
		    c->smtpd_trusted[i].prefix);
		for (s = 0; s < 16; s++)
			OUT("%02x", c->smtpd_trusted[i].addr[s]);
	}
#undef OUT
	FUZZ_CHECK(n < FUZZ_DUMP_MAX, "dump too long");
	return d;
}

static void
fuzz_sane(const struct config *c)
{
	const struct config_net *nt;
	unsigned long port;
	size_t s, i;
	unsigned b, max;
	char *end;

	FUZZ_CHECK(fuzz_terminated(c->data_dir, sizeof(c->data_dir)) &&
	    c->data_dir[0] != '\0', "data_dir");
	FUZZ_CHECK(fuzz_terminated(c->hostname, sizeof(c->hostname)) &&
	    fuzz_terminated(c->user, sizeof(c->user)) &&
	    fuzz_terminated(c->tls_cert, sizeof(c->tls_cert)) &&
	    fuzz_terminated(c->tls_key, sizeof(c->tls_key)) &&
	    fuzz_terminated(c->fs_mountpoint, sizeof(c->fs_mountpoint)) &&
	    fuzz_terminated(c->smtpd_banner, sizeof(c->smtpd_banner)),
	    "a string is not terminated");
	FUZZ_CHECK((c->tls_cert[0] == '\0') == (c->tls_key[0] == '\0'),
	    "cert without key");
	FUZZ_CHECK(!c->fs_enabled || c->fs_mountpoint[0] != '\0', "[fs] "
	    "without mountpoint");
	FUZZ_CHECK(c->log_verbose == 1 || c->log_verbose == 2, "log_level");
	for (s = 0; s < SVC_COUNT; s++) {
		FUZZ_CHECK(c->svc[s].nlisten <= CONFIG_LISTEN_MAX, "nlisten");
		FUZZ_CHECK(!c->svc[s].enabled || c->svc[s].nlisten > 0,
		    "[%s] runs without an address", config_svc_name(s));
		FUZZ_CHECK(c->svc[s].enabled || c->svc[s].nlisten == 0,
		    "[%s] has addresses but does not run", config_svc_name(s));
		for (i = 0; i < c->svc[s].nlisten; i++) {
			FUZZ_CHECK(fuzz_terminated(c->svc[s].listen[i].host,
			    sizeof(c->svc[s].listen[i].host)) &&
			    c->svc[s].listen[i].host[0] != '\0', "host");
			port = strtoul(c->svc[s].listen[i].port, &end, 10);
			FUZZ_CHECK(*end == '\0' && port >= 1 && port <= 65535,
			    "port \"%s\"", c->svc[s].listen[i].port);
		}
	}
	FUZZ_CHECK(c->smtpd_ntrusted <= CONFIG_NETS_MAX, "ntrusted");
	for (i = 0; i < c->smtpd_ntrusted; i++) {
		nt = &c->smtpd_trusted[i];
		FUZZ_CHECK(nt->family == AF_INET || nt->family == AF_INET6,
		    "family %d", nt->family);
		max = nt->family == AF_INET ? 32 : 128;
		FUZZ_CHECK(nt->prefix <= max, "prefix %u", nt->prefix);
		for (b = nt->prefix; b < 128; b++)
			FUZZ_CHECK((nt->addr[b / 8] & (0x80u >> (b % 8))) == 0,
			    "network %zu has host bit %u set", i, b);
	}
}

/* Every error line: "FILE:LINE: message" with 1 <= LINE <= nlines. */
static void
fuzz_errors(const char *errs, size_t nlines)
{
	const char *p = errs, *nl;
	size_t plen = strlen(FUZZ_PATH);
	unsigned long line;
	char *end;

	FUZZ_CHECK(*p != '\0', "an empty error list");
	while (*p != '\0') {
		nl = strchr(p, '\n');
		FUZZ_CHECK(nl != NULL, "the last error line has no newline");
		FUZZ_CHECK(strncmp(p, FUZZ_PATH ":", plen + 1) == 0, "error "
		    "line \"%.*s\" does not start with the file name",
		    (int)(nl - p), p);
		p += plen + 1;
		if (*p != ' ') {
			line = strtoul(p, &end, 10);
			FUZZ_CHECK(end > p && *end == ':' && end[1] == ' ' &&
			    line >= 1 && line <= nlines, "error line \"%.*s\": "
			    "line %lu of %zu", (int)(nl - p), p, line, nlines);
			p = end + 1;
		}
		FUZZ_CHECK(p[0] == ' ' && p + 1 < nl, "error line without a "
		    "message");
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c1, *c2;
	char *e1 = NULL, *e2 = NULL, *d1, *d2, *crlf;
	size_t i, n, nlines = 0;
	int rc1, rc2;

	c1 = malloc(sizeof(*c1));
	c2 = malloc(sizeof(*c2));
	FUZZ_CHECK(c1 != NULL && c2 != NULL, "out of memory");
	rc1 = config_parse(FUZZ_PATH, (const char *)data, size, c1, &e1);
	FUZZ_CHECK((rc1 == 0 && e1 == NULL) || (rc1 == -1 && e1 != NULL),
	    "rc %d with%s an error list", rc1, e1 != NULL ? "" : "out");
	for (i = 0; i < size; i++)
		nlines += data[i] == '\n';
	if (size > 0 && data[size - 1] != '\n')
		nlines++;
	if (rc1 == 0)
		fuzz_sane(c1);
	else
		fuzz_errors(e1, nlines);
	FUZZ_CHECK(strcmp(c1->path, FUZZ_PATH) == 0, "path \"%s\"", c1->path);

	/* Without a CR anywhere, CRLF line ends change nothing. */
	if (memchr(data, '\r', size) == NULL) {
		crlf = malloc(2 * size + 1);
		FUZZ_CHECK(crlf != NULL, "out of memory");
		for (i = 0, n = 0; i < size; i++) {
			if (data[i] == '\n')
				crlf[n++] = '\r';
			crlf[n++] = (char)data[i];
		}
		rc2 = config_parse(FUZZ_PATH, crlf, n, c2, &e2);
		d1 = fuzz_dump(c1);
		d2 = fuzz_dump(c2);
		FUZZ_CHECK(rc2 == rc1 && strcmp(d1, d2) == 0 && (e1 == NULL ?
		    e2 == NULL : e2 != NULL && strcmp(e1, e2) == 0),
		    "with CRLF: rc %d (not %d); errors\n%s\nnot\n%s", rc2, rc1,
		    e2 != NULL ? e2 : "", e1 != NULL ? e1 : "");
		free(d1);
		free(d2);
		free(e2);
		free(crlf);
	}
	free(e1);
	free(c1);
	free(c2);
	return 0;
}
