/*
 * cmd_transport.c - vellumctl transport list|set|del and
 * transport source list|set|del
 *
 * A transport says how mail to a recipient domain leaves (nexthop, TLS,
 * AUTH credentials); a source says which local addresses mail from a
 * sending domain leaves from.  vellum-mta reads both on every attempt,
 * so a change applies to the next delivery.  Passwords are never printed:
 * give them with password-file=F (or password-file=- for stdin) rather
 * than password=P, which other users may see in the process list.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/transport.h"

#include "ctl.h"

/* A listed transport: the password itself is not kept. */
struct transport_row {
	struct store_transport	t;
	int			has_password;
};

struct transport_args {
	struct transport_row	*list;
	size_t			 n;
	struct store_source	*src;
	size_t			 nsrc;
	struct store_transport	 t;
	struct store_source	 s;
	const char		*domain;
	int			 source;	/* del: a source row */
};

static int	cmd_transport_one(const struct store_transport *, void *);
static int	cmd_transport_src_one(const struct store_source *, void *);
static int	cmd_transport_list_txn(struct store_txn *, void *);
static int	cmd_transport_load(struct ctl *, struct transport_args *);
static void	cmd_transport_free(struct transport_args *);
static int	cmd_transport_list(struct ctl *);
static int	cmd_transport_set_txn(struct store_txn *, void *);
static int	cmd_transport_del_txn(struct store_txn *, void *);
static int	cmd_transport_password(struct ctl *, const char *file,
		    char *buf, size_t size);
static int	cmd_transport_set(struct ctl *, int argc, char **argv);
static int	cmd_transport_del(struct ctl *, const char *domain, int source);
static int	cmd_transport_source_list(struct ctl *);
static int	cmd_transport_source_set_txn(struct store_txn *, void *);
static int	cmd_transport_source_set(struct ctl *, int argc, char **argv);
static int	cmd_transport_source(struct ctl *, int argc, char **argv);

static int
cmd_transport_one(const struct store_transport *t, void *arg)
{
	struct transport_args *a = arg;

	struct transport_row *r;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	r = &a->list[a->n++];
	r->t = *t;
	explicit_bzero(r->t.password, sizeof(r->t.password));
	r->has_password = t->password[0] != '\0';
	return 0;
}

static int
cmd_transport_src_one(const struct store_source *s, void *arg)
{
	struct transport_args *a = arg;

	a->src = xreallocarray(a->src, a->nsrc + 1, sizeof(*a->src));
	a->src[a->nsrc++] = *s;
	return 0;
}

static void
cmd_transport_free(struct transport_args *a)
{
	free(a->list);
	free(a->src);
	a->list = NULL;
	a->src = NULL;
	a->n = a->nsrc = 0;
}

static int
cmd_transport_list_txn(struct store_txn *txn, void *arg)
{
	struct transport_args *a = arg;

	cmd_transport_free(a);
	if (store_transport_list(txn, cmd_transport_one, a) == -1)
		return -1;
	return store_source_list(txn, cmd_transport_src_one, a);
}

static int
cmd_transport_load(struct ctl *ctl, struct transport_args *a)
{
	memset(a, 0, sizeof(*a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return -1;
	if (store_read(ctl->store, cmd_transport_list_txn, a) < 0) {
		cmd_transport_free(a);
		ctl_fail(NULL, "transport list");
		return -1;
	}
	return 0;
}

static int
cmd_transport_list(struct ctl *ctl)
{
	struct transport_args a;
	const struct store_transport *t;
	char auth[STORE_TRANSPORT_USER_MAX + 40];
	int haspw;
	size_t i;

	if (cmd_transport_load(ctl, &a) < 0)
		return CTL_FAIL;
	if (ctl->json) {
		printf("[");
		for (i = 0; i < a.n; i++) {
			t = &a.list[i].t;
			haspw = a.list[i].has_password;
			printf("%s\n  {\"domain\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, t->domain);
			printf(", \"nexthop\": ");
			ctl_json_str(stdout, t->nexthop);
			printf(", \"tls\": \"%s\", \"user\": ",
			    store_tls_name(t->tls));
			if (t->user[0] != '\0')
				ctl_json_str(stdout, t->user);
			else
				printf("null");
			printf(", \"password\": %s}", haspw ? "true" :
			    "false");
		}
		printf("%s]\n", a.n > 0 ? "\n" : "");
		cmd_transport_free(&a);
		return CTL_OK;
	}
	if (a.n == 0)
		printf("no transports: mail goes to each domain's MX\n");
	else
		printf("%-30s  %-30s  %-8s  %s\n", "DOMAIN", "NEXTHOP", "TLS",
		    "AUTH");
	for (i = 0; i < a.n; i++) {
		t = &a.list[i].t;
		haspw = a.list[i].has_password;
		if (t->user[0] != '\0')
			snprintf(auth, sizeof(auth), "user=%s password=%s",
			    t->user, haspw ? "(set)" : "(none)");
		else
			snprintf(auth, sizeof(auth), "-");
		printf("%-30s  %-30s  %-8s  %s\n", t->domain,
		    t->nexthop[0] != '\0' ? t->nexthop : "(MX)",
		    store_tls_name(t->tls), auth);
	}
	cmd_transport_free(&a);
	return CTL_OK;
}

static int
cmd_transport_set_txn(struct store_txn *txn, void *arg)
{
	return store_transport_set(txn, &((struct transport_args *)arg)->t);
}

/* The first line of file ("-": stdin), without its line end. */
static int
cmd_transport_password(struct ctl *ctl, const char *file, char *buf,
    size_t size)
{
	FILE *fp = stdin;
	char *line;

	if (strcmp(file, "-") != 0 && (fp = fopen(file, "r")) == NULL) {
		err_set(ERR_NOTFOUND, "%s: %s", file, strerror(errno));
		return ctl_fail(NULL, "transport set: password-file");
	}
	line = ctl_read_line(fp);
	if (fp != stdin)
		fclose(fp);
	if (line == NULL || line[0] == '\0') {
		free(line);
		return ctl_failx("transport set: no password in %s",
		    strcmp(file, "-") == 0 ? "the standard input" : file);
	}
	if (strlen(line) >= size) {
		free(line);
		return ctl_failx("transport set: the password is longer than "
		    "%zu bytes", size - 1);
	}
	memcpy(buf, line, strlen(line) + 1);
	explicit_bzero(line, strlen(line));
	free(line);
	return CTL_OK;
}

/* set DOMAIN NEXTHOP [tls=T] [user=U] [password=P|password-file=F] */
static int
cmd_transport_set(struct ctl *ctl, int argc, char **argv)
{
	struct transport_args a;
	struct store_transport *t = &a.t;
	const char *pwfile = NULL;
	int i, n, rc, havepw = 0;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 2, 5, &n)) != CTL_OK)
		return rc;
	memset(&a, 0, sizeof(a));
	if (strlen(argv[0]) >= sizeof(t->domain))
		return ctl_usage(ctl, "'%s' is not a domain", argv[0]);
	strcpy(t->domain, argv[0]);
	if (strcmp(argv[1], "-") != 0) {
		if (strlen(argv[1]) >= sizeof(t->nexthop))
			return ctl_usage(ctl, "the nexthop is longer than %d "
			    "bytes", STORE_NEXTHOP_MAX);
		strcpy(t->nexthop, argv[1]);
	}
	for (i = 2; i < n; i++) {
		if (strncmp(argv[i], "tls=", 4) == 0) {
			if (store_tls_parse(argv[i] + 4, &t->tls) == -1)
				return ctl_usage(ctl, "%s", err_msg());
		} else if (strncmp(argv[i], "user=", 5) == 0) {
			if (strlen(argv[i] + 5) >= sizeof(t->user))
				return ctl_usage(ctl, "the user is longer than "
				    "%d bytes", STORE_TRANSPORT_USER_MAX);
			strcpy(t->user, argv[i] + 5);
		} else if (strncmp(argv[i], "password=", 9) == 0 && !havepw) {
			if (strlen(argv[i] + 9) >= sizeof(t->password))
				return ctl_usage(ctl, "the password is longer "
				    "than %d bytes",
				    STORE_TRANSPORT_PASSWORD_MAX);
			strcpy(t->password, argv[i] + 9);
			havepw = 1;
		} else if (strncmp(argv[i], "password-file=", 14) == 0 &&
		    !havepw) {
			pwfile = argv[i] + 14;
			havepw = 1;
		} else
			return ctl_usage(ctl, "'%s': expected tls=none|may|"
			    "encrypt|verify, user=U, and password=P or "
			    "password-file=F (once)", argv[i]);
	}
	if (pwfile != NULL && (rc = cmd_transport_password(ctl, pwfile,
	    t->password, sizeof(t->password))) != CTL_OK)
		return rc;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	rc = store_write(ctl->store, cmd_transport_set_txn, &a);
	explicit_bzero(t->password, sizeof(t->password));
	if (rc < 0)
		return ctl_fail(NULL, "transport set %s", t->domain);
	ctl_done(ctl, "transport %s: %s, tls=%s%s%s", t->domain,
	    t->nexthop[0] != '\0' ? t->nexthop : "the MX of the recipient "
	    "domain", store_tls_name(t->tls), t->user[0] != '\0' ?
	    ", AUTH as " : "", t->user);
	return CTL_OK;
}

static int
cmd_transport_del_txn(struct store_txn *txn, void *arg)
{
	struct transport_args *a = arg;
	int rc;

	rc = a->source ? store_source_del(txn, a->domain) :
	    store_transport_del(txn, a->domain);
	if (rc == 0)
		return err_set(ERR_NOTFOUND, "no %s for '%s'", a->source ?
		    "source addresses" : "transport", a->domain);
	return rc;
}

static int
cmd_transport_del(struct ctl *ctl, const char *domain, int source)
{
	struct transport_args a;

	memset(&a, 0, sizeof(a));
	a.domain = domain;
	a.source = source;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_transport_del_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ? source ?
		    "'vellumctl transport source list' shows them" :
		    "'vellumctl transport list' shows them" : NULL,
		    "transport %sdel", source ? "source " : "");
	ctl_done(ctl, "%s for %s removed", source ? "source addresses" :
	    "transport", domain);
	return CTL_OK;
}

static int
cmd_transport_source_list(struct ctl *ctl)
{
	struct transport_args a;
	const struct store_source *s;
	size_t i;

	if (cmd_transport_load(ctl, &a) < 0)
		return CTL_FAIL;
	if (ctl->json) {
		printf("[");
		for (i = 0; i < a.nsrc; i++) {
			s = &a.src[i];
			printf("%s\n  {\"domain\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, s->domain);
			printf(", \"ipv4\": ");
			if (s->addr4[0] != '\0')
				ctl_json_str(stdout, s->addr4);
			else
				printf("null");
			printf(", \"ipv6\": ");
			if (s->addr6[0] != '\0')
				ctl_json_str(stdout, s->addr6);
			else
				printf("null");
			printf("}");
		}
		printf("%s]\n", a.nsrc > 0 ? "\n" : "");
		cmd_transport_free(&a);
		return CTL_OK;
	}
	if (a.nsrc == 0)
		printf("no source addresses: the system picks them\n");
	else
		printf("%-30s  %-15s  %s\n", "SENDER DOMAIN", "IPV4", "IPV6");
	for (i = 0; i < a.nsrc; i++) {
		s = &a.src[i];
		printf("%-30s  %-15s  %s\n", s->domain,
		    s->addr4[0] != '\0' ? s->addr4 : "-",
		    s->addr6[0] != '\0' ? s->addr6 : "-");
	}
	cmd_transport_free(&a);
	return CTL_OK;
}

static int
cmd_transport_source_set_txn(struct store_txn *txn, void *arg)
{
	return store_source_set(txn, &((struct transport_args *)arg)->s);
}

/* source set DOMAIN IP [IP]: the family of each address picks its slot. */
static int
cmd_transport_source_set(struct ctl *ctl, int argc, char **argv)
{
	struct transport_args a;
	struct store_source *s = &a.s;
	unsigned char bin[16];
	int i;

	memset(&a, 0, sizeof(a));
	if (strlen(argv[0]) >= sizeof(s->domain))
		return ctl_usage(ctl, "'%s' is not a domain", argv[0]);
	strcpy(s->domain, argv[0]);
	for (i = 1; i < argc; i++) {
		if (inet_pton(AF_INET, argv[i], bin) == 1 &&
		    s->addr4[0] == '\0')
			snprintf(s->addr4, sizeof(s->addr4), "%s", argv[i]);
		else if (inet_pton(AF_INET6, argv[i], bin) == 1 &&
		    s->addr6[0] == '\0')
			snprintf(s->addr6, sizeof(s->addr6), "%s", argv[i]);
		else
			return ctl_usage(ctl, "'%s': give one IPv4 address, "
			    "one IPv6 address, or one of each", argv[i]);
	}
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_transport_source_set_txn, &a) < 0)
		return ctl_fail(NULL, "transport source set %s", s->domain);
	ctl_done(ctl, "source addresses for %s: %s%s%s", s->domain, s->addr4,
	    s->addr4[0] != '\0' && s->addr6[0] != '\0' ? " " : "", s->addr6);
	return CTL_OK;
}

/* source list | source set DOMAIN IP [IP] | source del DOMAIN */
static int
cmd_transport_source(struct ctl *ctl, int argc, char **argv)
{
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 4, &n)) != CTL_OK)
		return rc;
	if (strcmp(argv[0], "list") == 0 && n == 1)
		return cmd_transport_source_list(ctl);
	if (strcmp(argv[0], "set") == 0 && (n == 3 || n == 4))
		return cmd_transport_source_set(ctl, n - 1, argv + 1);
	if (strcmp(argv[0], "del") == 0 && n == 2)
		return cmd_transport_del(ctl, argv[1], 1);
	return ctl_usage(ctl, "expected 'source list', 'source set DOMAIN IP "
	    "[IP]' or 'source del DOMAIN'");
}

int
cmd_transport(struct ctl *ctl, int argc, char **argv)
{
	int n, rc;

	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_transport_list(ctl);
	}
	if (strcmp(ctl->verb, "set") == 0)
		return cmd_transport_set(ctl, argc, argv);
	if (strcmp(ctl->verb, "del") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		return cmd_transport_del(ctl, argv[0], 0);
	}
	if (strcmp(ctl->verb, "source") == 0)
		return cmd_transport_source(ctl, argc, argv);
	return ctl_usage(ctl, "unknown command 'transport %s'", ctl->verb);
}
