/*
 * smtpclient-helper.c - sends messages through mta/client.c from the
 * command line, for tests/integration/test_mta_client.py.
 *
 * Usage: smtpclient-helper [options] ADDRESS PORT SENDER RCPT...
 *   -n NAME    the server's name (SNI, VERIFY, texts)
 *   -t MODE    none (default), may, encrypt, verify
 *   -c FILE    CA file for verify
 *   -a USER -p PASS   AUTH credentials
 *   -T SECS    every timeout
 *   -S ADDR    source address to bind
 *   -m FILE    the message, mapped (default: stdin, read)
 *   -k N       send the transaction N times over the connection (reuse)
 *   -8         the message is 8-bit;  -U  it needs SMTPUTF8
 *   -e ENVID   -r full|hdrs   -N notify-bits   -o ORCPT (every rcpt)
 *   -F         free the client inside the DONE callback (prints FREED,
 *              no CLOSED)
 * Prints one line per event and per recipient result:
 *   READY tls=0|1 esmtp= pipelining= size= 8bitmime= smtputf8= dsn= auth=
 *   RCPT <addr> <code> <enhanced|-> remote=0|1 stage=<stage|-> <reply>
 *       (the stage with '-' for spaces: "end-of-DATA")
 *   DONE
 *   CLOSED code=<code> enhanced=<e|-> greeting= tls_failed= auth_failed=
 *       timed_out= remote= <text>
 * (reply and text with newlines as " | ").  With HELPER_VMHWM set in the
 * environment, the peak resident memory goes to stderr at the end.  Exit 0 when the events came in
 * a legal order, 1 on a usage or contract error.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mta/client.h"

struct helper {
	struct event_base	*base;
	struct mta_client	*cl;
	struct mta_client_txn	 txn;
	int			 left;		/* transactions to send */
	int			 ready;		/* READY seen */
	int			 inflight;	/* a transaction was sent */
	int			 free_on_done;	/* -F */
	int			 bad;		/* contract broken */
};

static void	helper_cb(struct mta_client *, enum mta_client_event, void *);
static void	helper_print(const char *, const char *);
static void	helper_results(struct helper *);
static int	helper_addr(const char *, int, struct sockaddr_storage *,
		    socklen_t *);
static char	*helper_read(const char *, size_t *, int *);
static void	helper_vmhwm(void);

static void
helper_print(const char *prefix, const char *s)
{
	fputs(prefix, stdout);
	for (; *s != '\0'; s++)
		if (*s == '\n')
			fputs(" | ", stdout);
		else
			putchar(*s);
	putchar('\n');
}

static void
helper_results(struct helper *h)
{
	const struct mta_client_rcpt *r;
	char line[1024];
	size_t i;

	char stage[64], *p;

	for (i = 0; i < h->txn.nrcpts; i++) {
		r = &h->txn.rcpts[i];
		snprintf(stage, sizeof(stage), "%s", r->stage ? r->stage : "-");
		for (p = stage; *p != '\0'; p++)
			if (*p == ' ')
				*p = '-';
		snprintf(line, sizeof(line), "RCPT %s %d %s remote=%d stage=%s ",
		    r->addr, r->code, r->enhanced[0] ? r->enhanced : "-",
		    r->remote, stage);
		helper_print(line, r->reply);
	}
}

static void
helper_cb(struct mta_client *cl, enum mta_client_event ev, void *arg)
{
	struct helper *h = arg;
	const struct mta_reply_ehlo *e = mta_client_ehlo(cl);
	const struct mta_client_error *err;
	char line[512];

	switch (ev) {
	case MTA_CLIENT_READY:
		if (h->ready)
			h->bad = 1;
		h->ready = 1;
		printf("READY tls=%d esmtp=%d pipelining=%d size=%llu "
		    "8bitmime=%d smtputf8=%d dsn=%d auth=%u\n",
		    mta_client_tls(cl), e->esmtp, e->pipelining,
		    (unsigned long long)e->size_max, e->eightbitmime,
		    e->smtputf8, e->dsn, e->auth);
		break;
	case MTA_CLIENT_DONE:
		if (!h->ready || !h->inflight)
			h->bad = 1;
		h->inflight = 0;
		helper_results(h);
		printf("DONE\n");
		if (h->free_on_done) {
			/* inside the callback, with the reply loop running */
			printf("FREED\n");
			fflush(stdout);
			mta_client_free(&h->cl);
			event_base_loopexit(h->base, NULL);
			return;
		}
		break;
	case MTA_CLIENT_CLOSED:
		if (h->inflight)
			helper_results(h);
		err = mta_client_error(cl);
		snprintf(line, sizeof(line), "CLOSED code=%d enhanced=%s "
		    "greeting=%d tls_failed=%d auth_failed=%d timed_out=%d "
		    "remote=%d ", err->code, err->enhanced[0] ?
		    err->enhanced : "-", err->reached_greeting,
		    err->tls_failed, err->auth_failed, err->timed_out,
		    err->remote);
		helper_print(line, err->text);
		fflush(stdout);
		/* freed inside the callback: deferred by the client */
		mta_client_free(&h->cl);
		event_base_loopexit(h->base, NULL);
		return;
	}
	fflush(stdout);
	if (h->left > 0) {
		h->left--;
		if (mta_client_send(cl, &h->txn) < 0) {
			printf("SEND-FAILED %s\n", err_msg());
			h->bad = 1;
			mta_client_quit(cl);
		} else
			h->inflight = 1;
	} else
		mta_client_quit(cl);
}

static int
helper_addr(const char *s, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

/* The message: a file is mapped (held once, as the queue holds it),
   stdin read into memory. */
static char *
helper_read(const char *path, size_t *len_r, int *mapped_r)
{
	FILE *f = path != NULL ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	struct stat st;
	void *m;

	*mapped_r = 0;
	if (f == NULL)
		return NULL;
	if (path != NULL && fstat(fileno(f), &st) == 0 && st.st_size > 0) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
		    fileno(f), 0);
		fclose(f);
		if (m == MAP_FAILED)
			return NULL;
		*mapped_r = 1;
		*len_r = (size_t)st.st_size;
		return m;
	}
	for (;;) {
		if (cap - len < 65536) {
			cap = cap * 2 + 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (path != NULL)
		fclose(f);
	*len_r = len;
	return buf;
}

/* Peak resident memory of this program (for tests/bench), to stderr. */
static void
helper_vmhwm(void)
{
	char line[256];
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			fputs(line, stderr);
	fclose(f);
}

int
main(int argc, char **argv)
{
	struct helper h;
	struct mta_client_cfg cfg;
	struct sockaddr_storage addr, src;
	const char *msgpath = NULL, *ca = NULL, *orcpt = NULL;
	unsigned notify = 0;
	unsigned timeout = 0;
	int c, i, repeat = 1, mapped;

	memset(&h, 0, sizeof(h));
	memset(&cfg, 0, sizeof(cfg));
	cfg.helo = "client.example.test";
	log_init("smtpclient-helper", 0, getenv("HELPER_DEBUG") != NULL);
	while ((c = getopt(argc, argv, "n:t:c:a:p:T:S:m:k:8Ue:r:N:o:F")) != -1)
		switch (c) {
		case 'n':
			cfg.server_name = optarg;
			break;
		case 't':
			cfg.tls = strcmp(optarg, "may") == 0 ? MTA_TLS_MAY :
			    strcmp(optarg, "encrypt") == 0 ? MTA_TLS_ENCRYPT :
			    strcmp(optarg, "verify") == 0 ? MTA_TLS_VERIFY :
			    MTA_TLS_NONE;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'a':
			cfg.auth_user = optarg;
			break;
		case 'p':
			cfg.auth_pass = optarg;
			break;
		case 'T':
			timeout = (unsigned)atoi(optarg);
			break;
		case 'S':
			if (helper_addr(optarg, 0, &src, &cfg.sourcelen) < 0)
				return 1;
			cfg.source = (struct sockaddr *)&src;
			break;
		case 'm':
			msgpath = optarg;
			break;
		case 'k':
			repeat = atoi(optarg);
			break;
		case '8':
			h.txn.eightbit = 1;
			break;
		case 'U':
			h.txn.smtputf8 = 1;
			break;
		case 'e':
			h.txn.envid = optarg;
			break;
		case 'r':
			h.txn.ret = strcmp(optarg, "full") == 0 ? MTA_RET_FULL :
			    MTA_RET_HDRS;
			break;
		case 'N':
			notify = (unsigned)atoi(optarg);
			break;
		case 'o':
			orcpt = optarg;
			break;
		case 'F':
			h.free_on_done = 1;
			break;
		default:
			return 1;
		}
	argc -= optind;
	argv += optind;
	if (argc < 4) {
		fprintf(stderr, "usage: smtpclient-helper [options] ADDRESS "
		    "PORT SENDER RCPT...\n");
		return 1;
	}
	if (helper_addr(argv[0], atoi(argv[1]), &addr, &cfg.addrlen) < 0)
		return 1;
	cfg.addr = (struct sockaddr *)&addr;
	cfg.connect_timeout = cfg.greeting_timeout = cfg.command_timeout =
	    cfg.data_init_timeout = cfg.data_block_timeout =
	    cfg.data_done_timeout = timeout;
	if (cfg.tls != MTA_TLS_NONE &&
	    (cfg.ssl_ctx = mta_client_ssl_ctx(ca)) == NULL) {
		fprintf(stderr, "%s\n", err_msg());
		return 1;
	}
	h.txn.sender = argv[2];
	h.txn.nrcpts = (size_t)(argc - 3);
	h.txn.rcpts = xcalloc(h.txn.nrcpts, sizeof(*h.txn.rcpts));
	for (i = 0; i < argc - 3; i++) {
		h.txn.rcpts[i].addr = argv[3 + i];
		h.txn.rcpts[i].notify = notify;
		h.txn.rcpts[i].orcpt = orcpt;
	}
	if ((h.txn.data = helper_read(msgpath, &h.txn.len, &mapped)) ==
	    NULL) {
		perror("message");
		return 1;
	}
	h.left = repeat;
	h.base = event_base_new();
	if (mta_client_new(h.base, &cfg, helper_cb, &h, &h.cl) < 0) {
		fprintf(stderr, "mta_client_new: %s\n", err_msg());
		return 1;
	}
	event_base_dispatch(h.base);
	if (h.cl != NULL && !h.free_on_done) {
		printf("NO-CLOSED\n");
		h.bad = 1;
		mta_client_free(&h.cl);
	}
	event_base_free(h.base);
	if (cfg.ssl_ctx != NULL)
		SSL_CTX_free(cfg.ssl_ctx);
	if (getenv("HELPER_VMHWM") != NULL)
		helper_vmhwm();
	if (mapped)
		munmap((void *)h.txn.data, h.txn.len);
	else
		free((void *)h.txn.data);
	free(h.txn.rcpts);
	return h.bad;
}
