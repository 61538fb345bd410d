/*
 * client.c - see client.h.
 *
 * One explicit state machine per connection.  The commands of a
 * transaction ([RSET] MAIL RCPT... DATA) are numbered; `sent` counts those
 * written and `answered` those whose reply was handled, so pipelining
 * (write them all, RFC 2920) and lock-step (write the next one after each
 * reply) share every reply handler.  Callbacks are never made from inside
 * an API call: what an API call decides is reported from a deferred event.
 * A client freed inside its callback is only marked; client_emit() frees
 * it when the callback returns and tells its caller to stop.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"

#include "client.h"

/* Bytes of the message converted per refill of the output buffer. */
#define CLIENT_CHUNK		(64 * 1024)
/* Longest AUTH credential (user or password) we encode. */
#define CLIENT_CRED_MAX		512

enum client_state {
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_AUTH_PLAIN,
	ST_AUTH_USER,		/* LOGIN: the 334 asking for the user */
	ST_AUTH_PASS,		/* LOGIN: the 334 asking for the password */
	ST_AUTH_DONE,		/* the 235 */
	ST_READY,		/* idle, between transactions */
	ST_TXN,			/* [RSET] MAIL RCPT... DATA replies */
	ST_BODY,		/* writing the message; then its reply */
	ST_DOT,			/* the reply to a lone "." */
	ST_QUIT,
	ST_CLOSED,
};

static const char *const state_names[] = {
	"connect", "greeting", "ehlo", "helo", "starttls", "handshake",
	"auth-plain", "auth-user", "auth-pass", "auth-done", "ready", "txn",
	"body", "dot", "quit", "closed",
};

/* What the deferred event reports. */
enum client_later {
	LATER_NONE,
	LATER_DONE,
	LATER_CLOSED,
};

enum client_cmd {
	CMD_RSET,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
};

struct mta_client {
	struct event_base	*base;
	mta_client_cb		*cb;
	void			*arg;
	enum client_state	 state;

	/* the cfg, copied */
	char			*helo;
	char			*name;		/* server_name or the address */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	struct sockaddr_storage	 source;
	socklen_t		 sourcelen;
	enum mta_tls		 tls;
	SSL_CTX			*ssl_ctx;
	char			*auth_user;
	char			*auth_pass;
	unsigned		 t_connect, t_greeting, t_command;
	unsigned		 t_data_init, t_data_block, t_data_done;

	char			 host[512];	/* "name[addr]" */
	char			 peer[520];	/* "name[addr]:port" */

	struct bufferevent	*bev;		/* the top: TLS filter or socket */
	struct event		*timer;
	struct event		*later_ev;
	enum client_later	 later;
	const char		*waiting;	/* for timeout texts */
	int			 tls_on;
	int			 incb;
	int			 dead;

	struct mta_reply_reader	 rd;
	struct mta_reply_ehlo	 ehlo;
	struct mta_client_error	 err;

	/* the transaction */
	struct mta_client_txn	*txn;
	unsigned char		*accepted;	/* per rcpt: RCPT got 2xx */
	size_t			 naccepted;
	int			 need_rset;	/* before the next MAIL */
	int			 rset_first;	/* this txn starts with RSET */
	int			 mail_ok;
	size_t			 ncmds, sent, answered;
	uint64_t		 wire_size;
	/* the body writer */
	size_t			 dpos;
	int			 bol;		/* at the start of a line */
	int			 body_queued;	/* every byte and "." queued */
};

static void	client_set_state(struct mta_client *, enum client_state);
static void	client_arm(struct mta_client *, unsigned, const char *);
static int	client_emit(struct mta_client *, enum mta_client_event);
static void	client_later(struct mta_client *, enum client_later);
static void	client_later_cb(evutil_socket_t, short, void *);
static void	client_timeout_cb(evutil_socket_t, short, void *);
static void	client_read_cb(struct bufferevent *, void *);
static void	client_write_cb(struct bufferevent *, void *);
static void	client_event_cb(struct bufferevent *, short, void *);
static void	client_setup_bev(struct mta_client *);
static void	client_close(struct mta_client *);
static void	client_destroy(struct mta_client *);
static int	client_fail(struct mta_client *, int, const char *, int,
		    const char *, ...) __attribute__((format(printf, 5, 6)));
static int	client_fail_reply(struct mta_client *, const struct mta_reply *,
		    const char *, const char *);
static void	client_fail_rcpts(struct mta_client *);
static void	client_printf(struct mta_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	client_reply(struct mta_client *, const struct mta_reply *);
static int	client_after_ehlo(struct mta_client *);
static int	client_start_tls(struct mta_client *);
static int	client_auth(struct mta_client *);
static int	client_ready(struct mta_client *);
static void	client_b64(const char *, size_t, char *, size_t);
static enum client_cmd client_cmd_kind(const struct mta_client *, size_t,
		    size_t *);
static void	client_write_cmd(struct mta_client *, size_t);
static void	client_write_cmds(struct mta_client *);
static int	client_txn_reply(struct mta_client *, const struct mta_reply *);
static int	client_txn_end(struct mta_client *);
static void	client_set_rcpt(struct mta_client_rcpt *, int, const char *,
		    const char *, int, const char *);
static void	client_body_fill(struct mta_client *);
static uint64_t	client_wire_size(const char *, size_t);
static int	client_clean(const char *, int);

static void
client_set_state(struct mta_client *cl, enum client_state st)
{
	if (cl->state != st)
		log_debug("mta client %s: %s -> %s", cl->peer,
		    state_names[cl->state], state_names[st]);
	cl->state = st;
}

/* Waits at most secs for what `waiting` names ("receiving ..."). */
static void
client_arm(struct mta_client *cl, unsigned secs, const char *waiting)
{
	struct timeval tv = { (time_t)secs, 0 };

	cl->waiting = waiting;
	evtimer_add(cl->timer, &tv);
}

/* Calls back; -1: the client was freed inside, touch nothing. */
static int
client_emit(struct mta_client *cl, enum mta_client_event ev)
{
	cl->incb++;
	cl->cb(cl, ev, cl->arg);
	cl->incb--;
	if (cl->dead && cl->incb == 0) {
		client_destroy(cl);
		return -1;
	}
	return 0;
}

static void
client_later(struct mta_client *cl, enum client_later what)
{
	cl->later = what;
	event_active(cl->later_ev, 0, 0);
}

static void
client_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta_client *cl = arg;
	enum client_later l = cl->later;

	(void)fd;
	(void)what;
	cl->later = LATER_NONE;
	if (l == LATER_DONE) {
		cl->txn = NULL;
		client_emit(cl, MTA_CLIENT_DONE);
	} else if (l == LATER_CLOSED)
		client_emit(cl, MTA_CLIENT_CLOSED);
}

static void
client_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta_client *cl = arg;

	(void)fd;
	(void)what;
	if (cl->state == ST_CONNECT) {
		client_fail(cl, 421, "4.4.1", 0, "connect to %s: Connection "
		    "timed out", cl->peer);
		return;
	}
	if (cl->state == ST_QUIT) {
		client_close(cl);
		client_emit(cl, MTA_CLIENT_CLOSED);
		return;
	}
	cl->err.timed_out = 1;
	if (cl->state == ST_HANDSHAKE)
		cl->err.tls_failed = 1;
	client_fail(cl, 421, "4.4.2", 0, "conversation with %s timed out "
	    "while %s%s", cl->host, cl->waiting,
	    cl->state == ST_BODY && cl->body_queued ?
	    " -- message may be sent more than once" : "");
}

static void
client_b64(const char *s, size_t len, char *out, size_t outsize)
{
	if (4 * ((len + 2) / 3) + 1 > outsize)
		fatalx("mta client: base64 buffer too small");
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s,
	    (int)len);
}

static void
client_printf(struct mta_client *cl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(cl->bev), fmt, ap);
	va_end(ap);
}

static void
client_setup_bev(struct mta_client *cl)
{
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb,
	    client_event_cb, cl);
	bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

/* Drops the connection (no callback). */
static void
client_close(struct mta_client *cl)
{
	if (cl->bev != NULL) {
		bufferevent_free(cl->bev);
		cl->bev = NULL;
	}
	if (cl->timer != NULL)
		evtimer_del(cl->timer);
	/* a DONE not yet reported: its results stand, CLOSED follows */
	if (cl->later == LATER_DONE) {
		event_del(cl->later_ev);
		cl->later = LATER_NONE;
	}
	client_set_state(cl, ST_CLOSED);
}

static void
client_destroy(struct mta_client *cl)
{
	client_close(cl);
	if (cl->timer != NULL)
		event_free(cl->timer);
	if (cl->later_ev != NULL)
		event_free(cl->later_ev);
	free(cl->accepted);
	free(cl->helo);
	free(cl->name);
	if (cl->auth_user != NULL)
		free(cl->auth_user);
	if (cl->auth_pass != NULL) {
		explicit_bzero(cl->auth_pass, strlen(cl->auth_pass));
		free(cl->auth_pass);
	}
	free(cl);
}

static void
client_set_rcpt(struct mta_client_rcpt *r, int code, const char *enh,
    const char *text, int remote, const char *stage)
{
	r->code = code;
	/* RFC 3464 needs a status: "c.0.0" when the server gave none */
	if (enh[0] != '\0')
		snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
	else
		snprintf(r->enhanced, sizeof(r->enhanced), "%d.0.0",
		    code / 100);
	snprintf(r->reply, sizeof(r->reply), "%.*s",
	    (int)sizeof(r->reply) - 1, text);
	r->remote = remote;
	r->stage = stage;
}

/* The connection's failure to every recipient of the txn without one. */
static void
client_fail_rcpts(struct mta_client *cl)
{
	size_t i;

	if (cl->txn == NULL)
		return;
	for (i = 0; i < cl->txn->nrcpts; i++)
		if (cl->txn->rcpts[i].code == 0)
			client_set_rcpt(&cl->txn->rcpts[i], cl->err.code,
			    cl->err.enhanced, cl->err.text, 0, NULL);
}

/*
 * Closes with an error and reports CLOSED; returns -1 so that reply
 * handlers can "return client_fail(...)" and stop reading.
 */
static int
client_fail(struct mta_client *cl, int code, const char *enh,
    int remote_code, const char *fmt, ...)
{
	va_list ap;

	cl->err.code = code;
	snprintf(cl->err.enhanced, sizeof(cl->err.enhanced), "%s", enh);
	cl->err.remote_code = remote_code;
	va_start(ap, fmt);
	vsnprintf(cl->err.text, sizeof(cl->err.text), fmt, ap);
	va_end(ap);
	log_info("mta client %s: %d %s %s", cl->peer, code, enh,
	    cl->err.text);
	client_fail_rcpts(cl);
	cl->txn = NULL;
	client_close(cl);
	client_emit(cl, MTA_CLIENT_CLOSED);
	return -1;
}

/* Closes because of the server's reply to `cmd`, with its code. */
static int
client_fail_reply(struct mta_client *cl, const struct mta_reply *rep,
    const char *how, const char *cmd)
{
	cl->err.remote = 1;
	return client_fail(cl, rep->code, rep->enhanced[0] != '\0' ?
	    rep->enhanced : rep->code >= 500 ? "5.0.0" : "4.0.0", rep->code,
	    "host %s %s: %d %s%s%s (in reply to %s)", cl->host, how,
	    rep->code, rep->enhanced, rep->enhanced[0] != '\0' ? " " : "",
	    rep->text, cmd);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mta_client *cl = arg;
	unsigned long e;
	const char *rs;
	char buf[256];
	SSL *ssl;
	long v;
	const char *stage;
	int saved;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (cl->state == ST_CONNECT) {
			client_set_state(cl, ST_GREETING);
			client_arm(cl, cl->t_greeting,
			    "receiving the initial server greeting");
			return;
		}
		if (cl->state == ST_HANDSHAKE) {
			cl->tls_on = 1;
			mta_reply_init(&cl->rd);
			client_set_state(cl, ST_EHLO);
			client_printf(cl, "EHLO %s\r\n", cl->helo);
			client_arm(cl, cl->t_command,
			    "performing the EHLO handshake");
			return;
		}
		return;
	}
	saved = EVUTIL_SOCKET_ERROR();
	if (cl->state == ST_CONNECT) {
		client_fail(cl, 421, "4.4.1", 0, "connect to %s: %s", cl->peer,
		    saved != 0 ? evutil_socket_error_to_string(saved) :
		    "Connection failed");
		return;
	}
	if (cl->state == ST_HANDSHAKE) {
		buf[0] = '\0';
		while ((e = bufferevent_get_openssl_error(cl->bev)) != 0)
			if ((rs = ERR_reason_error_string(e)) != NULL)
				snprintf(buf, sizeof(buf), "%s", rs);
		ssl = bufferevent_openssl_get_ssl(cl->bev);
		if (cl->tls == MTA_TLS_VERIFY && ssl != NULL &&
		    (v = SSL_get_verify_result(ssl)) != X509_V_OK)
			snprintf(buf, sizeof(buf), "certificate verification "
			    "failed: %s", X509_verify_cert_error_string(v));
		if (buf[0] == '\0')
			snprintf(buf, sizeof(buf), "%s", (what & BEV_EVENT_EOF) ?
			    "the server closed the connection" :
			    saved != 0 ? evutil_socket_error_to_string(saved) :
			    "handshake failure");
		cl->err.tls_failed = 1;
		if (cl->tls == MTA_TLS_MAY)
			client_fail(cl, 421, "4.7.5", 0, "Cannot start TLS: "
			    "handshake with %s failed: %s", cl->host, buf);
		else
			client_fail(cl, 421, "4.7.5", 0, "TLS is required, but "
			    "the handshake with %s failed: %s", cl->host, buf);
		return;
	}
	if (cl->state == ST_QUIT) {
		client_close(cl);
		client_emit(cl, MTA_CLIENT_CLOSED);
		return;
	}
	stage = cl->waiting != NULL ? cl->waiting : "talking to it";
	client_fail(cl, 421, "4.4.2", 0, "lost connection with %s while %s%s",
	    cl->host, stage, cl->state == ST_BODY && cl->body_queued ?
	    " -- message may be sent more than once" : "");
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct mta_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len, want, used;
	const char *p;
	int rc;

	while (cl->state != ST_CLOSED && cl->state != ST_HANDSHAKE &&
	    (len = evbuffer_get_length(in)) > 0) {
		want = len < MTA_REPLY_LINE_MAX + 2 ? len :
		    MTA_REPLY_LINE_MAX + 2;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
		rc = mta_reply_read(&cl->rd, p, want, &used);
		evbuffer_drain(in, used);
		if (rc < 0) {
			client_fail(cl, 421, "4.5.0", 0, "host %s sent a "
			    "malformed reply while %s: %s", cl->host,
			    cl->waiting != NULL ? cl->waiting :
			    "idle", err_msg());
			return;
		}
		if (rc == 0 && used == 0)
			return;
		if (rc == 0)
			continue;
		if (client_reply(cl, &cl->rd.reply) < 0)
			return;
	}
}

/* The output drained below the watermark: more of the message. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct mta_client *cl = arg;

	(void)bev;
	if (cl->state != ST_BODY)
		return;
	if (!cl->body_queued) {
		client_body_fill(cl);
		return;
	}
	/* Everything is out of our buffer: wait for the final reply. */
	if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
		client_arm(cl, cl->t_data_done,
		    "sending end of data");
}

/* Dispatches one complete reply by state; -1: stop reading. */
static int
client_reply(struct mta_client *cl, const struct mta_reply *rep)
{
	int cls = rep->code / 100;

	evtimer_del(cl->timer);
	switch (cl->state) {
	case ST_GREETING:
		cl->err.reached_greeting = 1;
		if (rep->code != 220)
			return client_fail_reply(cl, rep, "refused to talk to "
			    "me", "the initial server greeting");
		client_set_state(cl, ST_EHLO);
		client_printf(cl, "EHLO %s\r\n", cl->helo);
		client_arm(cl, cl->t_command, "performing the EHLO handshake");
		return 0;
	case ST_EHLO:
		if (cls == 5 && !cl->tls_on) {
			client_set_state(cl, ST_HELO);
			client_printf(cl, "HELO %s\r\n", cl->helo);
			client_arm(cl, cl->t_command,
			    "performing the HELO handshake");
			return 0;
		}
		if (cls != 2)
			return client_fail_reply(cl, rep, "said", "EHLO");
		mta_reply_ehlo_parse(rep, &cl->ehlo);
		return client_after_ehlo(cl);
	case ST_HELO:
		if (cls != 2)
			return client_fail_reply(cl, rep, "said", "HELO");
		memset(&cl->ehlo, 0, sizeof(cl->ehlo));
		return client_after_ehlo(cl);
	case ST_STARTTLS:
		if (rep->code == 220)
			return client_start_tls(cl);
		if (cl->tls == MTA_TLS_MAY)
			return client_auth(cl);
		return client_fail(cl, 454, "4.7.5", rep->code, "TLS is "
		    "required, but host %s refused to start TLS: %d %s",
		    cl->host, rep->code, rep->text);
	case ST_AUTH_PLAIN:
	case ST_AUTH_DONE:
		if (rep->code == 235)
			return client_ready(cl);
		break;
	case ST_AUTH_USER:
	case ST_AUTH_PASS: {
		char b64[4 * ((CLIENT_CRED_MAX + 2) / 3) + 1];
		const char *s;

		if (rep->code == 235 && cl->state == ST_AUTH_PASS)
			return client_ready(cl);
		if (rep->code != 334)
			break;
		s = cl->state == ST_AUTH_USER ? cl->auth_user : cl->auth_pass;
		client_b64(s, strlen(s), b64, sizeof(b64));
		client_printf(cl, "%s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
		client_set_state(cl, cl->state == ST_AUTH_USER ?
		    ST_AUTH_PASS : ST_AUTH_DONE);
		client_arm(cl, cl->t_command, "authenticating");
		return 0;
	}
	case ST_TXN:
	case ST_BODY:
	case ST_DOT:
		return client_txn_reply(cl, rep);
	case ST_QUIT:
		client_close(cl);
		client_emit(cl, MTA_CLIENT_CLOSED);
		return -1;
	case ST_READY:
		/* Unasked: a server shutting down says 421 before it goes. */
		cl->err.remote = 1;
		return client_fail(cl, cls == 4 || cls == 5 ? rep->code : 421,
		    rep->enhanced[0] != '\0' ? rep->enhanced : "4.4.2",
		    rep->code, "host %s said while idle: %d %s", cl->host,
		    rep->code, rep->text);
	default:
		return client_fail(cl, 421, "4.5.0", rep->code, "host %s sent "
		    "a reply nothing asked for: %d %s", cl->host, rep->code,
		    rep->text);
	}
	/* AUTH failed */
	cl->err.auth_failed = 1;
	cl->err.remote = 1;
	return client_fail(cl, 454, "4.7.0", rep->code, "SASL authentication "
	    "failed; server %s said: %d %s%s%s", cl->host, rep->code,
	    rep->enhanced, rep->enhanced[0] != '\0' ? " " : "", rep->text);
}

/* After EHLO or HELO: STARTTLS as cfg->tls wants, else AUTH/READY. */
static int
client_after_ehlo(struct mta_client *cl)
{
	if (cl->tls_on || cl->tls == MTA_TLS_NONE)
		return client_auth(cl);
	if (cl->ehlo.starttls) {
		client_set_state(cl, ST_STARTTLS);
		client_printf(cl, "STARTTLS\r\n");
		client_arm(cl, cl->t_command, "sending STARTTLS");
		return 0;
	}
	if (cl->tls == MTA_TLS_MAY)
		return client_auth(cl);
	return client_fail(cl, 454, "4.7.4", 0, "TLS is required, but was not "
	    "offered by host %s", cl->host);
}

/* The 220 to STARTTLS: drop what followed it, then the handshake. */
static int
client_start_tls(struct mta_client *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	struct bufferevent *bev;
	struct in6_addr a6;
	SSL *ssl;

	/* Plaintext after the 220 may be injected: never read it as TLS. */
	if (evbuffer_get_length(in) > 0) {
		log_info("mta client %s: %zu byte(s) after the STARTTLS reply "
		    "discarded", cl->peer, evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	if ((ssl = SSL_new(cl->ssl_ctx)) == NULL)
		return client_fail(cl, 421, "4.7.5", 0, "Cannot start TLS: "
		    "out of resources");
	/* SNI only for a name, not for an address (RFC 6066 3) */
	if (inet_pton(AF_INET, cl->name, &a6) != 1 &&
	    inet_pton(AF_INET6, cl->name, &a6) != 1)
		SSL_set_tlsext_host_name(ssl, cl->name);
	if (cl->tls == MTA_TLS_VERIFY) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		if (X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), cl->name,
		    0) != 1) {
			SSL_free(ssl);
			return client_fail(cl, 421, "4.7.5", 0, "Cannot start "
			    "TLS: bad server name %s", cl->name);
		}
	} else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	bev = bufferevent_openssl_filter_new(cl->base, cl->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return client_fail(cl, 421, "4.7.5", 0, "Cannot start TLS: "
		    "out of resources");
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	cl->bev = bev;
	client_set_state(cl, ST_HANDSHAKE);
	client_setup_bev(cl);
	client_arm(cl, cl->t_command, "performing the TLS handshake");
	return -1;
}

/* AUTH when credentials are given, else READY. */
static int
client_auth(struct mta_client *cl)
{
	char buf[2 * CLIENT_CRED_MAX + 2];
	char b64[4 * ((sizeof(buf) + 2) / 3) + 1];
	size_t ul, pl;

	if (cl->auth_user == NULL)
		return client_ready(cl);
	cl->err.auth_failed = 1;
	if (!cl->tls_on)
		return client_fail(cl, 454, "4.7.0", 0, "SASL authentication "
		    "needs TLS, but the conversation with %s is not "
		    "encrypted", cl->host);
	if (cl->ehlo.auth & MTA_AUTH_PLAIN) {
		ul = strlen(cl->auth_user);
		pl = strlen(cl->auth_pass);
		buf[0] = '\0';
		memcpy(buf + 1, cl->auth_user, ul);
		buf[1 + ul] = '\0';
		memcpy(buf + 2 + ul, cl->auth_pass, pl);
		client_b64(buf, 2 + ul + pl, b64, sizeof(b64));
		client_printf(cl, "AUTH PLAIN %s\r\n", b64);
		explicit_bzero(buf, sizeof(buf));
		explicit_bzero(b64, sizeof(b64));
		client_set_state(cl, ST_AUTH_PLAIN);
	} else if (cl->ehlo.auth & MTA_AUTH_LOGIN) {
		client_printf(cl, "AUTH LOGIN\r\n");
		client_set_state(cl, ST_AUTH_USER);
	} else
		return client_fail(cl, 454, "4.7.0", 0, "SASL authentication "
		    "failed: host %s offers no mechanism we use (PLAIN, "
		    "LOGIN)", cl->host);
	cl->err.auth_failed = 0;
	client_arm(cl, cl->t_command, "authenticating");
	return 0;
}

static int
client_ready(struct mta_client *cl)
{
	cl->err.auth_failed = 0;
	client_set_state(cl, ST_READY);
	cl->waiting = NULL;
	return client_emit(cl, MTA_CLIENT_READY);
}

/* Command k of the txn; *rcpt_r the recipient index of a RCPT. */
static enum client_cmd
client_cmd_kind(const struct mta_client *cl, size_t k, size_t *rcpt_r)
{
	*rcpt_r = 0;
	if (cl->rset_first) {
		if (k == 0)
			return CMD_RSET;
		k--;
	}
	if (k == 0)
		return CMD_MAIL;
	if (k <= cl->txn->nrcpts) {
		*rcpt_r = k - 1;
		return CMD_RCPT;
	}
	return CMD_DATA;
}

static void
client_write_cmd(struct mta_client *cl, size_t k)
{
	const struct mta_client_txn *t = cl->txn;
	const struct mta_client_rcpt *r;
	const struct mta_reply_ehlo *e = &cl->ehlo;
	size_t i;
	int n;

	switch (client_cmd_kind(cl, k, &i)) {
	case CMD_RSET:
		client_printf(cl, "RSET\r\n");
		break;
	case CMD_MAIL:
		client_printf(cl, "MAIL FROM:<%s>", t->sender);
		if (e->size)
			client_printf(cl, " SIZE=%llu",
			    (unsigned long long)cl->wire_size);
		if (t->eightbit && e->eightbitmime)
			client_printf(cl, " BODY=8BITMIME");
		if (t->smtputf8)
			client_printf(cl, " SMTPUTF8");
		if (e->dsn && t->ret != MTA_RET_NONE)
			client_printf(cl, " RET=%s", t->ret == MTA_RET_FULL ?
			    "FULL" : "HDRS");
		if (e->dsn && t->envid != NULL && t->envid[0] != '\0')
			client_printf(cl, " ENVID=%s", t->envid);
		client_printf(cl, "\r\n");
		break;
	case CMD_RCPT:
		r = &t->rcpts[i];
		client_printf(cl, "RCPT TO:<%s>", r->addr);
		if (e->dsn && r->notify != 0) {
			if (r->notify & MTA_NOTIFY_NEVER)
				client_printf(cl, " NOTIFY=NEVER");
			else {
				n = 0;
				client_printf(cl, " NOTIFY=");
				if (r->notify & MTA_NOTIFY_SUCCESS)
					client_printf(cl, "%sSUCCESS",
					    n++ ? "," : "");
				if (r->notify & MTA_NOTIFY_FAILURE)
					client_printf(cl, "%sFAILURE",
					    n++ ? "," : "");
				if (r->notify & MTA_NOTIFY_DELAY)
					client_printf(cl, "%sDELAY",
					    n++ ? "," : "");
			}
		}
		if (e->dsn && r->orcpt != NULL && r->orcpt[0] != '\0')
			client_printf(cl, " ORCPT=%s", r->orcpt);
		client_printf(cl, "\r\n");
		break;
	case CMD_DATA:
		client_printf(cl, "DATA\r\n");
		break;
	}
	cl->sent = k + 1;
}

/* Pipelining: every command now; else the next one. */
static void
client_write_cmds(struct mta_client *cl)
{
	size_t i;

	if (cl->ehlo.pipelining) {
		while (cl->sent < cl->ncmds)
			client_write_cmd(cl, cl->sent);
	} else if (cl->sent == cl->answered && cl->sent < cl->ncmds)
		client_write_cmd(cl, cl->sent);
	if (client_cmd_kind(cl, cl->answered, &i) == CMD_DATA)
		client_arm(cl, cl->t_data_init, "sending DATA");
	else
		client_arm(cl, cl->t_command,
		    client_cmd_kind(cl, cl->answered, &i) == CMD_RCPT ?
		    "sending RCPT TO" : client_cmd_kind(cl, cl->answered,
		    &i) == CMD_MAIL ? "sending MAIL FROM" : "sending RSET");
}

/* The transaction is over: DONE (from a callback: now). */
static int
client_txn_end(struct mta_client *cl)
{
	evtimer_del(cl->timer);
	cl->waiting = NULL;
	client_set_state(cl, ST_READY);
	cl->txn = NULL;
	return client_emit(cl, MTA_CLIENT_DONE) < 0 ? -1 : 0;
}

static int
client_txn_reply(struct mta_client *cl, const struct mta_reply *rep)
{
	struct mta_client_txn *t = cl->txn;
	enum client_cmd kind;
	size_t i, k;
	int cls = rep->code / 100;

	if (cl->state == ST_DOT) {
		/* the lone "." after a 354 nobody wanted */
		return client_txn_end(cl);
	}
	if (cl->state == ST_BODY) {
		if (!cl->body_queued)
			/* it answered before the end: the stream is lost, and
			   what it said is no answer to the whole message */
			return client_fail(cl, 421, "4.5.0", rep->code, "host "
			    "%s replied before the end of the data: %d %s",
			    cl->host, rep->code, rep->text);
		for (i = 0; i < t->nrcpts; i++)
			if (cl->accepted[i])
				client_set_rcpt(&t->rcpts[i], rep->code,
				    rep->enhanced, rep->text, 1,
				    "end of DATA");
		cl->need_rset = 0;
		return client_txn_end(cl);
	}
	if (cl->answered >= cl->sent) {
		cl->err.remote = 1;
		return client_fail(cl, 421, "4.5.0", rep->code, "host %s sent "
		    "a reply nothing asked for: %d %s", cl->host, rep->code,
		    rep->text);
	}
	k = cl->answered++;
	kind = client_cmd_kind(cl, k, &i);
	switch (kind) {
	case CMD_RSET:
		if (cls != 2) {
			cl->err.remote = 1;
			return client_fail(cl, 421, "4.5.0", rep->code, "host %s "
			    "said: %d %s (in reply to RSET)", cl->host,
			    rep->code, rep->text);
		}
		cl->need_rset = 0;
		break;
	case CMD_MAIL:
		cl->mail_ok = cls == 2;
		if (!cl->mail_ok)
			for (i = 0; i < t->nrcpts; i++)
				client_set_rcpt(&t->rcpts[i], rep->code,
				    rep->enhanced, rep->text, 1, "MAIL FROM");
		else
			cl->need_rset = 1;
		if (!cl->mail_ok && !cl->ehlo.pipelining)
			return client_txn_end(cl);
		break;
	case CMD_RCPT:
		if (!cl->mail_ok)
			break;
		if (cls == 2) {
			cl->accepted[i] = 1;
			cl->naccepted++;
		} else
			client_set_rcpt(&t->rcpts[i], rep->code,
			    rep->enhanced, rep->text, 1, "RCPT TO");
		if (!cl->ehlo.pipelining && i + 1 == t->nrcpts &&
		    cl->naccepted == 0)
			return client_txn_end(cl);
		break;
	case CMD_DATA:
		if (rep->code == 354) {
			if (!cl->mail_ok || cl->naccepted == 0) {
				/* RFC 2920 3.1: end it with no content */
				client_printf(cl, ".\r\n");
				client_set_state(cl, ST_DOT);
				client_arm(cl, cl->t_data_done,
				    "sending end of data");
				return 0;
			}
			cl->dpos = 0;
			cl->bol = 1;
			cl->body_queued = 0;
			client_set_state(cl, ST_BODY);
			if (t->prefixlen > 0)
				evbuffer_add(bufferevent_get_output(cl->bev),
				    t->prefix, t->prefixlen);
			client_body_fill(cl);
			return 0;
		}
		if (cl->mail_ok)
			for (i = 0; i < t->nrcpts; i++)
				if (cl->accepted[i])
					client_set_rcpt(&t->rcpts[i], rep->code,
					    rep->enhanced, rep->text, 1,
					    "DATA");
		return client_txn_end(cl);
	}
	client_write_cmds(cl);
	return 0;
}

/*
 * Converts the next piece of the message into the output buffer: LF
 * becomes CRLF, a line starting with "." gets another; at the end a
 * missing line end and the "." line.  Only a bounded piece at a time,
 * refilled from the write callback when the buffer drained below
 * MTA_CLIENT_WRITE_LOWAT, so a large message is never copied whole.
 */
static void
client_body_fill(struct mta_client *cl)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);
	const char *d = cl->txn->data;
	size_t len = cl->txn->len, stop, n;
	char buf[CLIENT_CHUNK + CLIENT_CHUNK / 2 + 8];
	size_t o = 0;
	const char *lf;

	stop = cl->dpos + CLIENT_CHUNK / 2 < len ? cl->dpos + CLIENT_CHUNK / 2
	    : len;
	while (cl->dpos < stop) {
		if (cl->bol && d[cl->dpos] == '.')
			buf[o++] = '.';
		lf = memchr(d + cl->dpos, '\n', stop - cl->dpos);
		n = lf == NULL ? stop - cl->dpos : (size_t)(lf - (d + cl->dpos));
		memcpy(buf + o, d + cl->dpos, n);
		o += n;
		cl->dpos += n;
		cl->bol = 0;
		if (lf != NULL) {
			if (cl->dpos == 0 || d[cl->dpos - 1] != '\r')
				buf[o++] = '\r';
			buf[o++] = '\n';
			cl->dpos++;
			cl->bol = 1;
		}
	}
	if (cl->dpos == len) {
		if (!cl->bol) {
			buf[o++] = '\r';
			buf[o++] = '\n';
		}
		memcpy(buf + o, ".\r\n", 3);
		o += 3;
		cl->body_queued = 1;
		/* now the write callback fires when the buffer is empty */
		bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
	} else
		bufferevent_setwatermark(cl->bev, EV_WRITE,
		    MTA_CLIENT_WRITE_LOWAT, 0);
	evbuffer_add(out, buf, o);
	client_arm(cl, cl->t_data_block, "sending message body");
}

/* The message's size on the wire, CRLF lines (RFC 1870 SIZE). */
static uint64_t
client_wire_size(const char *d, size_t len)
{
	const char *p = d, *end = d + len, *lf;
	uint64_t n = len;

	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (lf == d || lf[-1] != '\r')
			n++;
		p = lf + 1;
	}
	if (len > 0 && d[len - 1] != '\n')
		n += 2;
	return n;
}

/* An envelope string we may put on a command line (no controls). */
static int
client_clean(const char *s, int spaces)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f ||
		    (!spaces && *s == ' '))
			return 0;
	return 1;
}

/*
 * An address for MAIL or RCPT: no controls, and spaces only inside a
 * quoted local part ("john smith"@example.org, RFC 5321 4.1.2).
 */
static int
client_addr_ok(const char *s)
{
	const char *p = s;

	if (!client_clean(s, 1))
		return 0;
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++)
			if (*p == '\\' && p[1] != '\0')
				p++;
		if (*p != '"')
			return 0;
		p++;
	}
	return strchr(p, ' ') == NULL;
}

int
mta_client_txn_check(const struct mta_client_txn *t)
{
	const struct mta_client_rcpt *r;
	size_t i;

	if (t->nrcpts == 0)
		return err_set(ERR_INVALID, "no recipient");
	if (t->sender == NULL || !client_addr_ok(t->sender))
		return err_set(ERR_INVALID, "the sender address <%.200s> "
		    "cannot be written in a MAIL command", t->sender != NULL ?
		    t->sender : "");
	if (t->envid != NULL && !client_clean(t->envid, 0))
		return err_set(ERR_INVALID, "the envelope id cannot be written "
		    "in a MAIL command");
	for (i = 0; i < t->nrcpts; i++) {
		r = &t->rcpts[i];
		if (r->addr == NULL || r->addr[0] == '\0' ||
		    !client_addr_ok(r->addr) ||
		    (r->orcpt != NULL && !client_clean(r->orcpt, 0)))
			return err_set(ERR_INVALID, "the recipient <%.200s> "
			    "cannot be written in a RCPT command",
			    r->addr != NULL ? r->addr : "");
	}
	return 0;
}

int
mta_client_send(struct mta_client *cl, struct mta_client_txn *t)
{
	char size[64];
	size_t i;

	if (cl->state != ST_READY || cl->txn != NULL ||
	    cl->later != LATER_NONE)
		return err_set(ERR_INVALID, "mta client %s: not ready for a "
		    "transaction", cl->peer);
	if (mta_client_txn_check(t) == -1)
		return -1;
	for (i = 0; i < t->nrcpts; i++) {
		t->rcpts[i].code = 0;
		t->rcpts[i].enhanced[0] = '\0';
		t->rcpts[i].reply[0] = '\0';
		t->rcpts[i].remote = 0;
		t->rcpts[i].stage = NULL;
	}
	cl->txn = t;
	cl->wire_size = client_wire_size(t->data, t->len) + t->prefixlen;
	if (t->smtputf8 && !cl->ehlo.smtputf8) {
		for (i = 0; i < t->nrcpts; i++) {
			client_set_rcpt(&t->rcpts[i], 553, "5.6.7", "", 0,
			    NULL);
			snprintf(t->rcpts[i].reply, sizeof(t->rcpts[i].reply),
			    "SMTPUTF8 is required, but was not offered by "
			    "host %s", cl->host);
		}
		client_later(cl, LATER_DONE);
		return 0;
	}
	if (cl->ehlo.size && cl->ehlo.size_max > 0 &&
	    cl->wire_size > cl->ehlo.size_max) {
		snprintf(size, sizeof(size), "%llu",
		    (unsigned long long)cl->ehlo.size_max);
		for (i = 0; i < t->nrcpts; i++)
			snprintf(t->rcpts[i].reply, sizeof(t->rcpts[i].reply),
			    "message size %llu exceeds size limit %s of "
			    "server %s", (unsigned long long)cl->wire_size,
			    size, cl->host);
		for (i = 0; i < t->nrcpts; i++) {
			t->rcpts[i].code = 552;
			snprintf(t->rcpts[i].enhanced,
			    sizeof(t->rcpts[i].enhanced), "5.3.4");
		}
		client_later(cl, LATER_DONE);
		return 0;
	}
	free(cl->accepted);
	cl->accepted = xcalloc(t->nrcpts, 1);
	cl->naccepted = 0;
	cl->mail_ok = 0;
	cl->rset_first = cl->need_rset;
	cl->ncmds = t->nrcpts + 2 + (cl->rset_first ? 1 : 0);
	cl->sent = cl->answered = 0;
	client_set_state(cl, ST_TXN);
	client_write_cmds(cl);
	return 0;
}

void
mta_client_quit(struct mta_client *cl)
{
	if (cl->state == ST_CLOSED || cl->state == ST_QUIT)
		return;
	if (cl->state == ST_READY && cl->later == LATER_NONE) {
		client_set_state(cl, ST_QUIT);
		client_printf(cl, "QUIT\r\n");
		client_arm(cl, cl->t_command, "sending QUIT");
		return;
	}
	/* anything else: just close; recipients without a result fail */
	cl->err.code = 0;
	if (cl->txn != NULL && cl->later != LATER_DONE) {
		cl->err.code = 421;
		snprintf(cl->err.enhanced, sizeof(cl->err.enhanced), "4.4.2");
		snprintf(cl->err.text, sizeof(cl->err.text), "the connection "
		    "with %s was closed before the transaction ended",
		    cl->host);
		client_fail_rcpts(cl);
	}
	cl->txn = NULL;
	client_close(cl);
	client_later(cl, LATER_CLOSED);
}

void
mta_client_free(struct mta_client **p)
{
	struct mta_client *cl = *p;

	if (cl == NULL)
		return;
	*p = NULL;
	if (cl->incb > 0) {
		cl->dead = 1;
		client_close(cl);
		return;
	}
	client_destroy(cl);
}

const struct mta_client_error *
mta_client_error(const struct mta_client *cl)
{
	return &cl->err;
}

const struct mta_reply_ehlo *
mta_client_ehlo(const struct mta_client *cl)
{
	return &cl->ehlo;
}

int
mta_client_tls(const struct mta_client *cl)
{
	return cl->tls_on;
}

const char *
mta_client_peer(const struct mta_client *cl)
{
	return cl->peer;
}

int
mta_client_new(struct event_base *base, const struct mta_client_cfg *cfg,
    mta_client_cb *cb, void *arg, struct mta_client **r)
{
	struct mta_client *cl;
	char ip[INET6_ADDRSTRLEN];
	const void *a;
	int port, fd, saved;

	*r = NULL;
	if (cfg->addr == NULL || cfg->addrlen > sizeof(struct sockaddr_storage)
	    || (cfg->addr->sa_family != AF_INET &&
	    cfg->addr->sa_family != AF_INET6) || cfg->helo == NULL ||
	    !client_clean(cfg->helo, 0) || cfg->helo[0] == '\0')
		return err_set(ERR_INVALID, "mta client: bad address or helo");
	if (cfg->tls != MTA_TLS_NONE && cfg->ssl_ctx == NULL)
		return err_set(ERR_INVALID, "mta client: TLS without an "
		    "SSL_CTX");
	if (cfg->source != NULL && (cfg->sourcelen >
	    sizeof(struct sockaddr_storage) ||
	    cfg->source->sa_family != cfg->addr->sa_family))
		return err_set(ERR_INVALID, "mta client: the source address "
		    "is not of the server's family");
	if (cfg->auth_user != NULL && (cfg->auth_pass == NULL ||
	    strlen(cfg->auth_user) > CLIENT_CRED_MAX ||
	    strlen(cfg->auth_pass) > CLIENT_CRED_MAX))
		return err_set(ERR_INVALID, "mta client: bad credentials");

	cl = xcalloc(1, sizeof(*cl));
	cl->base = base;
	cl->cb = cb;
	cl->arg = arg;
	cl->helo = xstrdup(cfg->helo);
	memcpy(&cl->addr, cfg->addr, cfg->addrlen);
	cl->addrlen = cfg->addrlen;
	if (cfg->source != NULL) {
		memcpy(&cl->source, cfg->source, cfg->sourcelen);
		cl->sourcelen = cfg->sourcelen;
	}
	cl->tls = cfg->tls;
	cl->ssl_ctx = cfg->ssl_ctx;
	if (cfg->auth_user != NULL) {
		cl->auth_user = xstrdup(cfg->auth_user);
		cl->auth_pass = xstrdup(cfg->auth_pass);
	}
#define DEF(v, d) ((v) != 0 ? (v) : (d))
	cl->t_connect = DEF(cfg->connect_timeout, MTA_CLIENT_CONNECT_TIMEOUT);
	cl->t_greeting = DEF(cfg->greeting_timeout,
	    MTA_CLIENT_GREETING_TIMEOUT);
	cl->t_command = DEF(cfg->command_timeout, MTA_CLIENT_COMMAND_TIMEOUT);
	cl->t_data_init = DEF(cfg->data_init_timeout,
	    MTA_CLIENT_DATA_INIT_TIMEOUT);
	cl->t_data_block = DEF(cfg->data_block_timeout,
	    MTA_CLIENT_DATA_BLOCK_TIMEOUT);
	cl->t_data_done = DEF(cfg->data_done_timeout,
	    MTA_CLIENT_DATA_DONE_TIMEOUT);
#undef DEF
	if (cfg->addr->sa_family == AF_INET) {
		a = &((const struct sockaddr_in *)cfg->addr)->sin_addr;
		port = ntohs(((const struct sockaddr_in *)cfg->addr)->sin_port);
	} else {
		a = &((const struct sockaddr_in6 *)cfg->addr)->sin6_addr;
		port = ntohs(
		    ((const struct sockaddr_in6 *)cfg->addr)->sin6_port);
	}
	if (inet_ntop(cfg->addr->sa_family, a, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	cl->name = xstrdup(cfg->server_name != NULL &&
	    cfg->server_name[0] != '\0' ? cfg->server_name : ip);
	snprintf(cl->host, sizeof(cl->host), "%s[%s]", cl->name, ip);
	snprintf(cl->peer, sizeof(cl->peer), "%s:%d", cl->host, port);
	mta_reply_init(&cl->rd);
	cl->timer = evtimer_new(base, client_timeout_cb, cl);
	cl->later_ev = event_new(base, -1, 0, client_later_cb, cl);
	if (cl->timer == NULL || cl->later_ev == NULL)
		fatalx("mta client: event_new failed");
	cl->state = ST_CONNECT;

	fd = socket(cfg->addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0) {
		saved = errno;
		client_destroy(cl);
		return err_set(ERR_TEMP, "mta client: socket: %s",
		    strerror(saved));
	}
	if (cfg->source != NULL && bind(fd, (const struct sockaddr *)
	    &cl->source, cl->sourcelen) < 0) {
		saved = errno;
		close(fd);
		cl->err.code = 421;
		snprintf(cl->err.enhanced, sizeof(cl->err.enhanced), "4.4.1");
		snprintf(cl->err.text, sizeof(cl->err.text), "connect to %s: "
		    "cannot bind the source address: %s", cl->peer,
		    strerror(saved));
		client_set_state(cl, ST_CLOSED);
		client_later(cl, LATER_CLOSED);
		*r = cl;
		return 0;
	}
	cl->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		close(fd);
		client_destroy(cl);
		return err_set(ERR_TEMP, "mta client: out of resources");
	}
	client_setup_bev(cl);
	if (bufferevent_socket_connect(cl->bev, (struct sockaddr *)&cl->addr,
	    (int)cl->addrlen) < 0) {
		saved = errno;
		cl->err.code = 421;
		snprintf(cl->err.enhanced, sizeof(cl->err.enhanced), "4.4.1");
		snprintf(cl->err.text, sizeof(cl->err.text), "connect to %s: %s",
		    cl->peer, strerror(saved != 0 ? saved : ECONNREFUSED));
		client_close(cl);
		client_later(cl, LATER_CLOSED);
		*r = cl;
		return 0;
	}
	client_arm(cl, cl->t_connect, "connecting");
	*r = cl;
	return 0;
}

SSL_CTX *
mta_client_ssl_ctx(const char *ca_file)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		err_set(ERR_TEMP, "TLS is not available");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			SSL_CTX_free(ctx);
			err_set(ERR_INVALID, "cannot read CA file %s", ca_file);
			return NULL;
		}
	} else
		SSL_CTX_set_default_verify_paths(ctx);
	return ctx;
}
