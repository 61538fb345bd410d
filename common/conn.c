/*
 * conn.c - see conn.h.
 *
 * Every connection is a bufferevent; with TLS it is an OpenSSL filter
 * (STARTTLS) or an OpenSSL socket bufferevent (implicit TLS).  Input is
 * cut into lines by lineread; a line is copied out of the buffer before
 * the protocol sees it, so the protocol may start TLS or close from its
 * callback.  Closed connections go on a reap list that an event made
 * active runs after the current callbacks: nothing is freed under its
 * own callback.
 *
 * Deadlines (conn.h) share one timer per connection, armed for the
 * earliest of them.  It is not moved on every byte: when it fires, the
 * deadlines are computed again from the progress made, and the timer is
 * armed anew if none has passed yet.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "config.h"
#include "conn.h"
#include "connpriv.h"
#include "sessreg.h"
#include "error.h"
#include "lineread.h"
#include "log.h"
#include "xmalloc.h"

#define CONN_LINGER_MS		50	/* re-check unsent TLS output */
#define CONN_LINGER_MAX		100	/* ... at most this many times */
#define CONN_IPTABLE_SIZE	1021
#define CONN_READ_SLACK		(64 * 1024)	/* input kept beyond a line */
#define CONN_LOG_EVERY_MS	1000	/* repeated warnings: one a second */
#define CONN_FD_SCAN_MAX	65536	/* without /proc: descriptors probed */

/* What the transfer deadline watches. */
enum conn_xfer {
	XFER_NONE,
	XFER_IN,		/* conn_busy() lines, conn_read_bytes() */
	XFER_OUT,		/* conn_sending(), unread replies */
};

/* A warning that may come in floods: logged at most once a second. */
struct ratelog {
	uint64_t	last_ms;	/* 0: never logged */
	unsigned long	skipped;	/* since the last line */
};

struct conn {
	unsigned long		 id;
	struct bufferevent	*bev;
	const struct conn_ops	*ops;
	void			*ctx;
	struct lineread		 lr;
	char			*line;		/* copy handed to on_line */
	char			*line_old;	/* replaced during on_line */
	int			 held;		/* conn_busy(): a command runs
						   across lines */
	int			 out_wait;	/* replies pile up unread: no
						   more commands until they
						   drain */
	size_t			 raw_left;	/* bytes still for on_bytes */
	int			 stream;	/* input goes to on_stream */
	char			 peer[CONN_ADDR_MAX];
	char			 ipkey[CONN_ADDR_MAX];	/* conn_ip_key() */
	char			 lport[16];
	char			 pport[16];	/* the peer's port */
	int			 tls;
	int			 tls_shut;	/* close_notify sent */
	int			 paused;
	int			 busy;		/* inside a command */
	int			 closing;	/* flush, then reap */
	int			 rd_eof;	/* the peer sent all it will
						   (shut down its side): what
						   it sent is still answered */
	int			 dead;		/* on the reap list */
	int			 told_shutdown;
	int			 kicked;	/* conn_kick() */
	int			 linger;
	struct event		*linger_ev;
	/* Deadlines (conn.h). */
	uint64_t		 born_ms;
	int			 authed;	/* conn_authenticated() */
	uint64_t		 line_ms;	/* first byte of a partial
						   command line; 0: none */
	int			 sending;	/* conn_sending() */
	enum conn_xfer		 xfer;
	uint64_t		 xfer_ms;	/* start (moved on by pauses
						   of an input transfer) */
	uint64_t		 xfer_stop_ms;	/* input paused since; 0: not */
	uint64_t		 xfer_base;	/* conn_moved() at the start */
	uint64_t		 in_total;	/* bytes read, ever */
	uint64_t		 out_total;	/* bytes queued to send, ever */
	struct evbuffer_cb_entry *in_cbe, *out_cbe;
	struct event		*dl_ev;
	uint64_t		 dl_at;		/* dl_ev fires then; 0: off */
	const char		*reason;	/* of the last timeout */
	unsigned		 idle_secs;	/* conn_set_idle_timeout(); 0:
						   [limits] idle_timeout */
	int			 deflate;	/* conn_compress() is on */
	struct conn		*prev, *next;	/* all connections */
	struct conn		*reap_next;
	uint32_t		 token;		/* handed by the first process
						   (prefork.c); else NONE */
};

struct listener {
	struct evconnlistener	*evl;
	int			 tls;
	size_t			 line_max;
	int			 bare_lf;
	char			*refuse;
	char			 port[16];
	int			 inherited;	/* the socket is vellumd's */
	conn_accept_fn		*fn;
	void			*arg;
	struct listener		*next;
};

struct ipcount {
	char		 ip[CONN_ADDR_MAX];
	unsigned	 n;
	struct ipcount	*next;
};

static struct event_base	*base;
static const struct config	*cf;
static struct config		 cf_default;	/* when given none */
static SSL_CTX			*tls_ctx;
static struct conn		*conns;
static struct conn		*reap_list;
static struct event		*reap_ev;
static struct event		*sig_term, *sig_int, *sig_drain;
static struct event		*grace_ev;
static struct event		*drain_ev;	/* reload_drain is over */
static struct listener		*listeners;
static struct ipcount		*iptable[CONN_IPTABLE_SIZE];
static unsigned			 nconns;
static unsigned long		 next_id = 1;
static int			 shutting_down;
static int			 draining;	/* conn_drain() */
static unsigned			 holds;		/* conn_hold() */
/* [limits] as applied: connections after the descriptor cap, per IP. */
static unsigned			 lim_total, lim_per_ip;
static int			 limits_set;
static struct event		*accept_ev;	/* ends an accept pause */
static int			 accept_paused;
static struct ratelog		 log_accept, log_refuse;

static void	conn_readcb(struct bufferevent *, void *);
static void	conn_writecb(struct bufferevent *, void *);
static void	conn_eventcb(struct bufferevent *, short, void *);
static void	conn_kill(struct conn *);
static void	conn_eof_end(struct conn *);
static void	conn_maybe_done(struct conn *);
static void	conn_setup_bev(struct conn *);
static void	conn_idle_timeouts(struct conn *);
static void	conn_read_limit(struct conn *);
static uint64_t	conn_now_ms(void);
static void	conn_limits_apply(void);
static void	conn_accept_pause(void);
static void	conn_accept_resume(void);
static void	accept_timer_cb(evutil_socket_t, short, void *);
static void	accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	conn_accept_queued(struct listener *);
static void	conn_listeners_close(void);
static void	conn_maybe_end(void);
static uint64_t	conn_moved(struct conn *, enum conn_xfer);
static uint64_t	conn_deadline(struct conn *, const char **);
static void	conn_deadline_arm(struct conn *);
static void	conn_timeout(struct conn *, const char *);
static void	conn_line_clock(struct conn *);
static void	conn_xfer_update(struct conn *);
static void	conn_lines_feed(struct conn *);
static void	deadline_cb(evutil_socket_t, short, void *);
static void	conn_delay_cb(evutil_socket_t, short, void *);
static void	conn_count_in(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static void	conn_count_out(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);

/* Clocks and rate-limited logging ------------------------------------- */

static uint64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * 1 when a line of this kind may be logged now, with *note_r saying how
 * many were left out since the last one ("" if none).  0: count it and
 * stay quiet.
 */
static int
ratelog_ok(struct ratelog *r, char *note_r, size_t size)
{
	uint64_t now = conn_now_ms();

	if (r->last_ms != 0 && now - r->last_ms < CONN_LOG_EVERY_MS) {
		r->skipped++;
		return 0;
	}
	note_r[0] = '\0';
	if (r->skipped > 0)
		snprintf(note_r, size, " (%lu more not logged since the last "
		    "such line)", r->skipped);
	r->skipped = 0;
	r->last_ms = now;
	return 1;
}

/* Per-IP connection counts ------------------------------------------ */

void
conn_ip_key(const char *ip, char *key, size_t size)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN];

	if (strchr(ip, ':') != NULL && inet_pton(AF_INET6, ip, &a) == 1) {
		/* One host on IPv6 has a /64 to pick addresses from. */
		memset(&a.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a, buf, sizeof(buf)) != NULL) {
			snprintf(key, size, "%s/64", buf);
			return;
		}
	}
	snprintf(key, size, "%s", ip);
}

static struct ipcount **
ip_slot(const char *ip)
{
	unsigned h = 5381;
	const char *p;
	struct ipcount **pp;

	for (p = ip; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	for (pp = &iptable[h % CONN_IPTABLE_SIZE]; *pp != NULL;
	    pp = &(*pp)->next)
		if (strcmp((*pp)->ip, ip) == 0)
			break;
	return pp;
}

static unsigned
ip_count(const char *ip)
{
	struct ipcount **pp = ip_slot(ip);

	return *pp == NULL ? 0 : (*pp)->n;
}

void
conn_ip_add(const char *ip, int delta)
{
	struct ipcount **pp = ip_slot(ip), *e;

	if (*pp == NULL) {
		if (delta < 0)
			return;
		e = xcalloc(1, sizeof(*e));
		snprintf(e->ip, sizeof(e->ip), "%s", ip);
		*pp = e;
	}
	e = *pp;
	if (delta < 0 && e->n > 0)
		e->n--;
	else if (delta > 0)
		e->n++;
	if (e->n == 0) {
		*pp = e->next;
		free(e);
	}
}

/* Loop ------------------------------------------------------------------ */

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;

	(void)fd;
	(void)what;
	(void)arg;
	while ((c = reap_list) != NULL) {
		reap_list = c->reap_next;
		if (c->ops != NULL && c->ops->on_close != NULL)
			c->ops->on_close(c);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (c->linger_ev != NULL)
			event_free(c->linger_ev);
		if (c->dl_ev != NULL)
			event_free(c->dl_ev);
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		conn_ip_add(c->ipkey, -1);
		nconns--;
		if (c->token != CONN_TOKEN_NONE)
			workers_closed(c->token);
		free(c->line);
		free(c->line_old);
		free(c);
		/* A descriptor is free again: try accepting now. */
		conn_accept_resume();
	}
	conn_maybe_end();
}

/* Under shutdown or drain, the loop ends once nothing is left. */
static void
conn_maybe_end(void)
{
	if ((shutting_down || draining) && nconns == 0 && holds == 0)
		event_base_loopbreak(base);
}

int
conn_stopping(void)
{
	return shutting_down || draining;
}

void
conn_hold(int delta)
{
	if (delta < 0 && (unsigned)-delta > holds)
		holds = 0;
	else
		holds += (unsigned)delta;
	conn_maybe_end();
}

static void
drain_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (shutting_down || draining)
		return;
	log_info("signal %d: draining: no new connections, %u open one(s) "
	    "end on their own (at most %u s, [limits] reload_drain)",
	    (int)sig, nconns, cf->reload_drain);
	workers_signal((int)sig);
	conn_drain();
}

static void
drain_over_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_info("reload_drain (%u s) is over: shutting down %u "
	    "connection(s)", cf->reload_drain, nconns);
	conn_shutdown();
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("signal %d: shutting down", (int)sig);
	workers_signal((int)sig);
	conn_shutdown();
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("shutdown grace period over: closing %u connection(s)",
	    nconns);
	event_base_loopbreak(base);
}

int
conn_loop_init(const struct config *config)
{
	struct rlimit rl;

	if (config == NULL) {
		config_default(&cf_default);
		config = &cf_default;
	}
	cf = config;
	limits_set = 0;
	accept_paused = 0;
	shutting_down = 0;
	draining = 0;
	holds = 0;
	memset(&log_accept, 0, sizeof(log_accept));
	memset(&log_refuse, 0, sizeof(log_refuse));
	signal(SIGPIPE, SIG_IGN);
	/* Thousands of connections need as many descriptors as allowed. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((base = event_base_new()) == NULL)
		return err_set(ERR_TEMP, "cannot create the event loop");
	inherit_read();
	/* SIGUSR2: `vellumctl kick` (sessreg.h); not fatal without it. */
	if (sessreg_setup(config->data_dir) == -1)
		log_warnx("vellumctl kick: %s", err_msg());
	reap_ev = event_new(base, -1, 0, reap_cb, NULL);
	accept_ev = evtimer_new(base, accept_timer_cb, NULL);
	sig_term = evsignal_new(base, SIGTERM, signal_cb, NULL);
	sig_int = evsignal_new(base, SIGINT, signal_cb, NULL);
	sig_drain = evsignal_new(base, CONN_DRAIN_SIGNAL, drain_signal_cb,
	    NULL);
	drain_ev = evtimer_new(base, drain_over_cb, NULL);
	/*
	 * The loop's stop signals put back, when freed, the handler they
	 * found: make that "ignore", so that once the loop has ended a
	 * second stop signal (^C reaches the whole process group as well as
	 * vellumd's SIGTERM) cannot kill the process half way through
	 * closing.  While the loop lives they are caught, so a program
	 * started meanwhile still gets the default handlers at exec.
	 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (reap_ev == NULL || accept_ev == NULL || sig_term == NULL ||
	    sig_int == NULL || sig_drain == NULL || drain_ev == NULL ||
	    evsignal_add(sig_term, NULL) == -1 ||
	    evsignal_add(sig_int, NULL) == -1 ||
	    evsignal_add(sig_drain, NULL) == -1)
		return err_set(ERR_TEMP, "cannot set up the event loop");
	return 0;
}

struct event_base *
conn_base(void)
{
	return base;
}

int
conn_loop_run(void)
{
	if (!limits_set)
		conn_limits_apply();
	inherit_close_untaken();
	if (event_base_dispatch(base) == -1)
		return err_set(ERR_TEMP, "event loop failed");
	return 0;
}


/*
 * Closes the listeners at once.  A socket vellumd bound stays open in
 * vellumd and in our successor, which takes what waits in its queue; one
 * of our own would reset the connections queued on it, so those are
 * taken first.
 */
static void
conn_listeners_close(void)
{
	struct listener *l;

	for (l = listeners; l != NULL; l = l->next) {
		if (l->evl == NULL)
			continue;
		if (!l->inherited)
			conn_accept_queued(l);
		evconnlistener_free(l->evl);
		l->evl = NULL;
	}
	accept_paused = 0;
	evtimer_del(accept_ev);
}

void
conn_drain(void)
{
	struct timeval tv = { 0, 0 };

	if (shutting_down || draining)
		return;
	conn_listeners_close();
	draining = 1;
	if (cf->reload_drain == 0) {
		conn_shutdown();
		return;
	}
	tv.tv_sec = (time_t)cf->reload_drain;
	evtimer_add(drain_ev, &tv);
	conn_maybe_end();
}

void
conn_shutdown(void)
{
	struct conn *c, *next;
	struct timeval tv = { 0, 0 };

	if (shutting_down)
		return;
	conn_listeners_close();
	shutting_down = 1;
	evtimer_del(drain_ev);
	tv.tv_sec = (time_t)cf->shutdown_grace;
	grace_ev = evtimer_new(base, grace_cb, NULL);
	evtimer_add(grace_ev, &tv);
	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (!c->busy && !c->closing)
			conn_idle(c);
	}
	conn_maybe_end();
}

/* Accepts every connection already queued on l's socket. */
static void
conn_accept_queued(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	for (;;) {
		len = sizeof(ss);
		fd = accept4(evconnlistener_get_fd(l->evl),
		    (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;
		accept_cb(l->evl, fd, (struct sockaddr *)&ss, (int)len, l);
	}
}

void
conn_loop_free(void)
{
	struct listener *l, *ln;
	struct conn *c;

	while ((c = conns) != NULL) {
		conn_kill(c);
		reap_cb(-1, 0, NULL);
	}
	workers_end(cf->shutdown_grace);
	sessreg_cleanup();
	for (l = listeners; l != NULL; l = ln) {
		ln = l->next;
		if (l->evl != NULL)
			evconnlistener_free(l->evl);
		free(l->refuse);
		free(l);
	}
	listeners = NULL;
	if (grace_ev != NULL)
		event_free(grace_ev);
	grace_ev = NULL;
	event_free(accept_ev);
	accept_ev = NULL;
	event_free(reap_ev);
	event_free(sig_term);
	event_free(sig_int);
	event_free(sig_drain);
	sig_drain = NULL;
	event_free(drain_ev);
	drain_ev = NULL;
	event_base_free(base);
	base = NULL;
	if (tls_ctx != NULL)
		SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
}

/* Descriptor and connection limits ---------------------------------- */

unsigned
conn_fd_cap(unsigned long nofile, unsigned long open)
{
	unsigned long n;

	if (nofile <= open + CONN_FD_SPARE + CONN_FD_PER_CONN)
		return 1;
	n = (nofile - open - CONN_FD_SPARE) / CONN_FD_PER_CONN;
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

unsigned
conn_ip_cap(unsigned per_ip, unsigned total)
{
	unsigned half = total / 2 > 0 ? total / 2 : 1;

	return per_ip < half ? per_ip : half;
}

/* The descriptors open now. */
static unsigned long
conn_fds_open(unsigned long nofile)
{
	DIR *d;
	struct dirent *e;
	unsigned long n = 0;
	int fd, max;

	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		return n > 0 ? n - 1 : 0;	/* without the directory's */
	}
	max = nofile < CONN_FD_SCAN_MAX ? (int)nofile : CONN_FD_SCAN_MAX;
	for (fd = 0; fd < max; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/*
 * Caps [limits] connections by the descriptor limit and the per-address
 * limit by the connections (conn.h), once the listeners are open.
 */
unsigned
conn_fd_limit(const char *what, unsigned wanted)
{
	struct rlimit rl;
	unsigned long nofile, open;
	unsigned cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return wanted;
	nofile = rl.rlim_cur > ULONG_MAX ? ULONG_MAX :
	    (unsigned long)rl.rlim_cur;
	open = conn_fds_open(nofile);
	cap = conn_fd_cap(nofile, open);
	if (cap < wanted) {
		log_warnx("%s = %u is more than the descriptor limit allows "
		    "(RLIMIT_NOFILE %lu, %lu open now, %d spare, %d per "
		    "connection): at most %u connections", what, wanted,
		    nofile, open, CONN_FD_SPARE, CONN_FD_PER_CONN, cap);
		return cap;
	}
	log_debug("descriptors: RLIMIT_NOFILE %lu, %lu open, room for %u "
	    "connections", nofile, open, cap);
	return wanted;
}

static void
conn_limits_apply(void)
{
	limits_set = 1;
	lim_total = conn_fd_limit("[limits] connections", cf->max_conn);
	lim_per_ip = conn_ip_cap(cf->max_conn_per_ip, lim_total);
	if (lim_per_ip < cf->max_conn_per_ip)
		log_warnx("[limits] connections_per_ip = %u would let one "
		    "address take all %u connections: at most %u per address",
		    cf->max_conn_per_ip, lim_total, lim_per_ip);
}

/* accept() failed for lack of descriptors (or memory): wait a little. */
static void
conn_accept_pause(void)
{
	struct listener *l;
	struct timeval tv = { CONN_ACCEPT_PAUSE_MS / 1000,
	    (CONN_ACCEPT_PAUSE_MS % 1000) * 1000 };

	if (accept_paused || shutting_down || draining)
		return;
	accept_paused = 1;
	for (l = listeners; l != NULL; l = l->next)
		evconnlistener_disable(l->evl);
	evtimer_add(accept_ev, &tv);
}

/* After the pause, or as soon as a connection closed. */
static void
conn_accept_resume(void)
{
	struct listener *l;

	if (!accept_paused || shutting_down || draining)
		return;
	accept_paused = 0;
	evtimer_del(accept_ev);
	for (l = listeners; l != NULL; l = l->next)
		evconnlistener_enable(l->evl);
}

static void
accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	conn_accept_resume();
}

/* TLS ------------------------------------------------------------------- */

static const char *
tls_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown TLS error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

int
conn_tls_init(const struct config *c)
{
	char cert[PATH_MAX], key[PATH_MAX];

	if (c->tls_cert[0] != '\0') {
		snprintf(cert, sizeof(cert), "%s", c->tls_cert);
		snprintf(key, sizeof(key), "%s", c->tls_key);
	} else if (tls_selfsigned(c->data_dir, c->hostname, cert, key,
	    sizeof(cert)) == -1)
		return -1;
	if ((tls_ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return err_set(ERR_TEMP, "TLS: %s", tls_error());
	SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(tls_ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Nothing is lost by a partial write: libevent keeps the buffer. */
	SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1)
		return err_set(ERR_INVALID, "TLS certificate %s: %s", cert,
		    tls_error());
	if (SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1)
		return err_set(ERR_INVALID, "TLS key %s: %s", key,
		    tls_error());
	if (SSL_CTX_check_private_key(tls_ctx) != 1)
		return err_set(ERR_INVALID, "TLS key %s does not match "
		    "certificate %s", key, cert);
	return 0;
}

/* Connections ------------------------------------------------------- */

/* The text form of a peer address; IPv4-mapped IPv6 as plain IPv4. */
static void
conn_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, size);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, buf, size);
}

/* The port of a peer address, in decimal. */
static void
conn_addr_port(const struct sockaddr *sa, char *buf, size_t size)
{
	unsigned port;

	if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_port);
	else
		port = ntohs(((const struct sockaddr_in *)(const void *)sa)->
		    sin_port);
	snprintf(buf, size, "%u", port);
}

static struct conn *
conn_new(int fd, const char *peer, const char *pport, struct listener *l)
{
	struct conn *c;
	SSL *ssl;
	int flags = BEV_OPT_CLOSE_ON_FREE;

	c = xcalloc(1, sizeof(*c));
	if ((c->dl_ev = evtimer_new(base, deadline_cb, c)) == NULL) {
		free(c);
		return NULL;
	}
	c->id = next_id++;
	c->token = CONN_TOKEN_NONE;
	snprintf(c->lport, sizeof(c->lport), "%s", l->port);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->pport, sizeof(c->pport), "%s", pport);
	conn_ip_key(peer, c->ipkey, sizeof(c->ipkey));
	lineread_init(&c->lr, l->line_max, l->bare_lf);
	c->line = xmalloc(l->line_max + 1);
	if (l->tls) {
		if (tls_ctx == NULL || (ssl = SSL_new(tls_ctx)) == NULL) {
			event_free(c->dl_ev);
			free(c->line);
			free(c);
			return NULL;
		}
		c->bev = bufferevent_openssl_socket_new(base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, flags);
		c->tls = 1;
	} else
		c->bev = bufferevent_socket_new(base, fd, flags);
	if (c->bev == NULL) {
		event_free(c->dl_ev);
		free(c->line);
		free(c);
		return NULL;
	}
	c->born_ms = conn_now_ms();
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	conn_ip_add(c->ipkey, 1);
	conn_setup_bev(c);
	conn_deadline_arm(c);
	return c;
}

/* The input watermark of the conn (and of the socket under TLS). */
static void
conn_read_limit(struct conn *c)
{
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	size_t high = c->lr.max + CONN_READ_SLACK;

	bufferevent_setwatermark(c->bev, EV_READ, 0, high);
	if (under != NULL)
		bufferevent_setwatermark(under, EV_READ, 0, high);
}

/*
 * The idle timeout on the bufferevent.  While the peer reads a transfer
 * it sends nothing: reading does not time out then (the transfer rate
 * watches it), else a long RETR would end as "idle".
 */
static void
conn_idle_timeouts(struct conn *c)
{
	struct timeval tv = { (time_t)(c->idle_secs != 0 ? c->idle_secs :
	    cf->idle_timeout), 0 };

	bufferevent_set_timeouts(c->bev, c->xfer == XFER_OUT ? NULL : &tv,
	    &tv);
}

static void
conn_setup_bev(struct conn *c)
{
	bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
	/* Progress of transfers: bytes in and out (plaintext under TLS). */
	c->in_cbe = evbuffer_add_cb(bufferevent_get_input(c->bev),
	    conn_count_in, c);
	c->out_cbe = evbuffer_add_cb(bufferevent_get_output(c->bev),
	    conn_count_out, c);
	conn_idle_timeouts(c);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_LOW, 0);
	/*
	 * Bounded input: past a line and some slack, libevent stops reading
	 * the socket until the session takes lines again.
	 */
	conn_read_limit(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Sets up an accepted connection that passed the limits. */
static void
accept_setup(struct listener *l, int fd, const char *ip, const char *pport,
    uint32_t token)
{
	struct conn *c;
	int on;

	evutil_make_socket_nonblocking(fd);
	/*
	 * Replies are written whole from the output buffer: Nagle would only
	 * hold back the last piece of one until the peer's delayed ACK (40
	 * ms per IMAP FETCH or pipelined SMTP batch).
	 */
	on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if ((c = conn_new(fd, ip, pport, l)) == NULL) {
		log_warnx("cannot set up a connection from %s", ip);
		close(fd);
		if (token != CONN_TOKEN_NONE)
			workers_closed(token);
		return;
	}
	c->token = token;
	log_debug("conn %lu: connect from %s port %s to port %s%s", c->id,
	    c->peer, c->pport, c->lport, c->tls ? " (TLS)" : "");
	l->fn(c, l->arg);
}

/*
 * The refusal of a listener: its first "%s" is " from IP" (the per-IP
 * limit; ip NULL: ""), by hand rather than by printf so that a refusal
 * text can hold any other '%'.
 */
static void
conn_refuse_text(const char *msg, const char *ip, char *buf, size_t size)
{
	const char *p = strstr(msg, "%s");

	if (p == NULL) {
		snprintf(buf, size, "%s", msg);
		return;
	}
	snprintf(buf, size, "%.*s%s%s%s", (int)(p - msg), msg,
	    ip != NULL ? " from " : "", ip != NULL ? ip : "", p + 2);
}

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg, *x;
	static const char why_ip[] = "too many connections from this address";
	char ip[CONN_ADDR_MAX], key[CONN_ADDR_MAX], pport[16];
	char reply[CONN_REFUSE_MAX + CONN_ADDR_MAX + 8];
	const char *why = NULL;
	char note[80];
	unsigned open, idx = 0;
	ssize_t w;

	(void)evl;
	conn_addr(sa, ip, sizeof(ip));
	conn_addr_port(sa, pport, sizeof(pport));
	conn_ip_key(ip, key, sizeof(key));
	if (!limits_set)
		conn_limits_apply();
	/* With workers, the limits count their connections too. */
	open = nconns + workers_remote();
	if (shutting_down)
		why = "shutting down";
	else if (open >= lim_total)
		why = "too many connections";
	else if (ip_count(key) >= lim_per_ip)
		why = why_ip;
	if (why != NULL) {
		if (ratelog_ok(&log_refuse, note, sizeof(note)))
			log_warnx("refused connection from %s: %s (%u of %u "
			    "open, %u of %u from it)%s", ip, why, open,
			    lim_total, ip_count(key), lim_per_ip, note);
		if (!l->tls && l->refuse != NULL) {
			conn_refuse_text(l->refuse, why == why_ip ? ip : NULL,
			    reply, sizeof(reply));
			w = write(fd, reply, strlen(reply));
		}
		(void)w;
		close(fd);
		return;
	}
	for (x = listeners; x != NULL && x != l; x = x->next)
		idx++;
	if (workers_handoff(fd, sa, (socklen_t)salen, idx, key, nconns))
		return;
	accept_setup(l, fd, ip, pport, CONN_TOKEN_NONE);
}

void
conn_accept_handed(unsigned listener, int fd, const struct sockaddr *sa,
    socklen_t salen, uint32_t token)
{
	struct listener *l;
	char ip[CONN_ADDR_MAX], pport[16];
	unsigned i;

	(void)salen;
	for (l = listeners, i = 0; l != NULL && i < listener; l = l->next)
		i++;
	if (l == NULL || shutting_down) {
		close(fd);
		workers_closed(token);
		return;
	}
	conn_addr(sa, ip, sizeof(ip));
	conn_addr_port(sa, pport, sizeof(pport));
	accept_setup(l, fd, ip, pport, token);
}

void
conn_forked(void)
{
	struct listener *l;

	for (l = listeners; l != NULL; l = l->next)
		if (l->evl != NULL) {
			evconnlistener_free(l->evl);
			l->evl = NULL;
		}
	accept_paused = 0;
	evtimer_del(accept_ev);
}

/*
 * accept() failed (libevent already retried EINTR, EAGAIN, ECONNABORTED).
 * EMFILE and ENFILE (ENOBUFS, ENOMEM) leave the connection in the
 * backlog, so the listener would be readable again at once and the loop
 * would spin: pause accepting instead (OpenSMTPD does the same).
 */
static void
listener_error_cb(struct evconnlistener *evl, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	char note[80];

	(void)evl;
	(void)arg;
	if (ratelog_ok(&log_accept, note, sizeof(note)))
		log_warnx("accept: %s: not accepting for %d ms or until a "
		    "connection closes (%u open)%s", strerror(e),
		    CONN_ACCEPT_PAUSE_MS, nconns, note);
	conn_accept_pause();
}

int
conn_listen(const char *host, const char *port, int tls, size_t line_max,
    int bare_lf, const char *refuse_msg, conn_accept_fn *fn, void *arg)
{
	struct listener *l;
	struct evconnlistener *evl;
	char h[CONFIG_HOST_MAX + 1];
	int fds[CONN_BIND_MAX], n, i;
	int from_vellumd;

	if (tls && tls_ctx == NULL)
		return err_set(ERR_INVALID, "TLS listener on port %s without "
		    "TLS set up", port);
	listen_host(h, sizeof(h), host);
	n = (int)inherit_take(h, port, fds, CONN_BIND_MAX);
	from_vellumd = n > 0;
	if (n == 0 && (n = conn_bind(host, port, fds, CONN_BIND_MAX)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		l = xcalloc(1, sizeof(*l));
		evl = evconnlistener_new(base, accept_cb, l,
		    LEV_OPT_CLOSE_ON_FREE, -1, fds[i]);
		if (evl == NULL) {
			free(l);
			while (i < n)
				close(fds[i++]);
			return err_set(ERR_TEMP, "listen %s:%s: libevent",
			    host, port);
		}
		evconnlistener_set_error_cb(evl, listener_error_cb);
		l->evl = evl;
		l->tls = tls;
		l->line_max = line_max;
		l->bare_lf = bare_lf;
		if (refuse_msg != NULL && strlen(refuse_msg) > CONN_REFUSE_MAX)
			fatalx("conn_listen: a refusal of %zu bytes",
			    strlen(refuse_msg));
		l->refuse = refuse_msg != NULL ? xstrdup(refuse_msg) : NULL;
		snprintf(l->port, sizeof(l->port), "%s", port);
		l->inherited = from_vellumd;
		l->fn = fn;
		l->arg = arg;
		l->next = listeners;
		listeners = l;
	}
	log_info("listening on %s:%s%s%s", host, port, tls ? " (TLS)" : "",
	    from_vellumd ? " (socket from vellumd)" : "");
	return 0;
}

int
conn_listen_service(const struct config *c, int svc, size_t line_max,
    int bare_lf, const char *refuse_msg, conn_accept_fn *fn, void *arg)
{
	const struct config_service *s = &c->svc[svc];
	size_t i;

	for (i = 0; s->enabled && i < s->nlisten; i++)
		if (conn_listen(s->listen[i].host, s->listen[i].port,
		    config_svc_implicit_tls(svc), line_max, bare_lf,
		    refuse_msg, fn, arg) == -1)
			return -1;
	return 0;
}

void
conn_set_ops(struct conn *c, const struct conn_ops *ops, void *ctx)
{
	c->ops = ops;
	c->ctx = ctx;
}

void *
conn_ctx(struct conn *c)
{
	return c->ctx;
}

const char *
conn_peer(struct conn *c)
{
	return c->peer;
}

const char *
conn_local_port(struct conn *c)
{
	return c->lport;
}

const char *
conn_peer_port(struct conn *c)
{
	return c->pport;
}

int
conn_is_tls(struct conn *c)
{
	return c->tls;
}

unsigned long
conn_id(struct conn *c)
{
	return c->id;
}


int
conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->dead || c->bev == NULL)
		return err_set(ERR_TEMP, "connection closed");
	if (bufferevent_write(c->bev, data, len) == -1)
		return err_set(ERR_TEMP, "out of buffer space");
	return 0;
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (c->dead || c->bev == NULL)
		return err_set(ERR_TEMP, "connection closed");
	va_start(ap, fmt);
	rc = evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	return rc < 0 ? err_set(ERR_TEMP, "out of buffer space") : 0;
}

size_t
conn_out_pending(struct conn *c)
{
	struct bufferevent *under;
	size_t n;

	if (c->bev == NULL)
		return 0;
	n = evbuffer_get_length(bufferevent_get_output(c->bev));
	/* TLS and COMPRESS filters: count every level down to the socket */
	for (under = bufferevent_get_underlying(c->bev); under != NULL;
	    under = bufferevent_get_underlying(under))
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

size_t
conn_in_pending(struct conn *c)
{
	if (c->bev == NULL || c->dead)
		return 0;
	return evbuffer_get_length(bufferevent_get_input(c->bev));
}

/* Feeds complete lines to the protocol until paused or closed. */
static void
conn_lines(struct conn *c)
{
	conn_lines_feed(c);
	conn_line_clock(c);
}

static void
conn_lines_feed(struct conn *c)
{
	struct evbuffer *in;
	enum lineread_result r;
	size_t avail, n, consumed, linelen;
	char *p;

	while (!c->paused && !c->closing && !c->dead) {
		free(c->line_old);
		c->line_old = NULL;
		/*
		 * A client that sends commands without reading the replies
		 * (pipelining) waits until they drain: output stays bounded.
		 */
		if (conn_out_pending(c) > CONN_OUT_HIGH) {
			c->out_wait = 1;
			conn_xfer_update(c);
			break;
		}
		in = bufferevent_get_input(c->bev);
		avail = evbuffer_get_length(in);
		if (avail == 0)
			break;
		if (c->stream) {
			/* SMTP DATA: raw pieces, the protocol says how much
			 * it took (the rest follows the end of the data). */
			n = avail < CONN_RAW_PIECE ? avail : CONN_RAW_PIECE;
			p = (char *)evbuffer_pullup(in, (ssize_t)n);
			c->busy = 1;
			consumed = c->ops->on_stream(c, p, n);
			if (!c->dead && c->bev != NULL)
				evbuffer_drain(bufferevent_get_input(c->bev),
				    consumed);
			if (consumed < n && c->stream)
				fatalx("conn %lu: on_stream took %zu of %zu "
				    "bytes and stays on", c->id, consumed, n);
			continue;
		}
		if (c->raw_left > 0) {
			/* BDAT: counted bytes, not lines. */
			n = avail < c->raw_left ? avail : c->raw_left;
			if (n > CONN_RAW_PIECE)
				n = CONN_RAW_PIECE;
			p = (char *)evbuffer_pullup(in, (ssize_t)n);
			c->raw_left -= n;
			c->busy = 1;
			if (c->raw_left == 0)
				conn_xfer_update(c);
			c->ops->on_bytes(c, p, n, c->raw_left == 0);
			if (!c->dead && c->bev != NULL)
				evbuffer_drain(bufferevent_get_input(c->bev),
				    n);
			if (c->raw_left == 0 && !c->paused && !c->held)
				conn_idle(c);
			continue;
		}
		/* A line end within max + 2 bytes, or the line is too long. */
		n = avail < c->lr.max + 2 ? avail : c->lr.max + 2;
		p = (char *)evbuffer_pullup(in, (ssize_t)n);
		r = lineread_next(&c->lr, p, n, &consumed, &linelen);
		if (r == LINE_OK)
			memcpy(c->line, p, linelen);
		evbuffer_drain(in, consumed);
		if (r == LINE_NEED_MORE) {
			if (consumed == 0)
				break;
			continue;
		}
		c->busy = 1;
		c->line_ms = 0;
		if (r == LINE_TOOLONG) {
			if (c->ops->on_toolong != NULL)
				c->ops->on_toolong(c);
		} else {
			c->line[linelen] = '\0';
			c->ops->on_line(c, c->line, linelen);
		}
		if (!c->paused && !c->held)
			conn_idle(c);
	}
	conn_eof_end(c);
}

/*
 * After the peer's EOF, once every whole command it sent has been run
 * and answered (nothing paused), the connection ends: what is left in
 * the input is an unfinished line, message or literal (a held command
 * waits for input that will not come), lost as with a hang-up.
 */
static void
conn_eof_end(struct conn *c)
{
	if (!c->rd_eof || c->paused || c->out_wait ||
	    c->closing || c->dead)
		return;
	conn_close(c);
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->ops == NULL || c->ops->on_line == NULL) {
		/* Nobody listens yet: drop nothing, read later. */
		return;
	}
	conn_lines(c);
}

static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->closing) {
		conn_maybe_done(c);
		return;
	}
	if (c->ops != NULL && c->ops->on_drain != NULL && !c->dead)
		c->ops->on_drain(c);
	if (c->out_wait && !c->dead && conn_out_pending(c) <= CONN_OUT_HIGH) {
		c->out_wait = 0;
		conn_xfer_update(c);
		conn_lines(c);
	}
}

/*
 * The text of an error libevent's OpenSSL bufferevent reports, into buf;
 * 0 when there is nothing to say.  libevent puts SSL_get_error()'s code
 * itself in that list before the error queue's codes: SSL_ERROR_SYSCALL
 * (the socket failed or the peer went away without a close_notify) and
 * SSL_ERROR_SSL (the reasons follow as their own codes); a reset is
 * said with errno's text, a bare EOF not at all.  Those small
 * numbers have no reason string: ERR_reason_error_string() gives NULL
 * for them (what "TLS error: (null)" was).
 */
static int
conn_tls_errtext(unsigned long e, int sys_errno, short what, char *buf,
    size_t size)
{
	if (e == SSL_ERROR_SSL)
		return 0;
	if (e == SSL_ERROR_SYSCALL) {
		/* A plain EOF: the queue's own code (if any) says it. */
		if (sys_errno == 0 || (what & BEV_EVENT_EOF))
			return 0;
		snprintf(buf, size, "connection failed: %s",
		    strerror(sys_errno));
		return 1;
	}
	if (ERR_GET_LIB(e) == 0 && e < 0x100) {
		snprintf(buf, size, "SSL_get_error() = %lu", e);
		return 1;
	}
	ERR_error_string_n(e, buf, size);
	return 1;
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	unsigned long e;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* With TLS, the handshake is done. */
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		if (ssl != NULL)
			log_info("conn %lu: %s TLS %s %s", c->id, c->peer,
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		/* While closing, the linger timer ends it. */
		if (!c->closing)
			conn_timeout(c, "idle");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int sys_errno = errno;

		while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
			char why[256];

			if (conn_tls_errtext(e, sys_errno, what, why,
			    sizeof(why)))
				log_info("conn %lu: %s TLS error: %s", c->id,
				    c->peer, why);
		}
		errno = sys_errno;
		if (errno != 0 && !(what & BEV_EVENT_EOF))
			log_debug("conn %lu: %s: %s", c->id, c->peer,
			    strerror(errno));
	}
	/*
	 * EOF of reading alone (a client that shut down its side after
	 * its last command, like "nc -N"): it still reads, so what it sent
	 * is run and answered first (a message whose end it sent is
	 * stored and acknowledged).  An error: nothing more can be sent.
	 */
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) &&
	    !(what & BEV_EVENT_ERROR) && !c->closing && !c->dead &&
	    c->ops != NULL && c->ops->on_line != NULL) {
		c->rd_eof = 1;
		bufferevent_disable(c->bev, EV_READ);
		if (!c->paused)
			conn_lines(c);
		return;
	}
	conn_kill(c);
}

void
conn_set_line_max(struct conn *c, size_t max)
{
	if (max == c->lr.max)
		return;
	/* The caller may be inside on_line with the old buffer. */
	free(c->line_old);
	c->line_old = c->line;
	c->line = xmalloc(max + 1);
	c->lr.max = max;
	conn_read_limit(c);
}

void
conn_busy(struct conn *c)
{
	c->held = 1;
	c->busy = 1;
	c->line_ms = 0;
	conn_xfer_update(c);
}

void
conn_sending(struct conn *c)
{
	c->sending = 1;
	conn_xfer_update(c);
}

void
conn_authenticated(struct conn *c)
{
	/* The timer finds nothing due when it fires. */
	c->authed = 1;
}

const char *
conn_timeout_reason(struct conn *c)
{
	return c->reason != NULL ? c->reason : "idle";
}

void
conn_read_stream(struct conn *c, int on)
{
	if (on && (c->ops == NULL || c->ops->on_stream == NULL))
		fatalx("conn_read_stream without an on_stream callback");
	c->stream = on;
}

void
conn_read_bytes(struct conn *c, size_t n)
{
	if (c->ops == NULL || c->ops->on_bytes == NULL)
		fatalx("conn_read_bytes without an on_bytes callback");
	c->raw_left = n;
	conn_xfer_update(c);
}

void
conn_pause(struct conn *c)
{
	c->paused = 1;
	c->busy = 1;
	/* Input waiting now is pipelined: not a slow command line. */
	c->line_ms = 0;
	if (c->xfer == XFER_IN && c->xfer_stop_ms == 0)
		c->xfer_stop_ms = conn_now_ms();
}

struct conn_delay {
	struct event	*ev;
	struct conn	*conn;
	char		*reply;
	int		 close_after;
	conn_delay_fn	*done;
	void		*arg;
};

static void
conn_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_delay *d = arg;
	char *reply = d->reply;

	(void)fd;
	(void)what;
	d->reply = NULL;
	if (reply == NULL)
		return;
	conn_write(d->conn, reply, strlen(reply));
	free(reply);
	/* done may free d (the session closes): nothing of d after it */
	if (d->close_after) {
		d->done(d->arg, 1);
		return;
	}
	conn_resume(d->conn);
	d->done(d->arg, 0);
}

int
conn_delay_reply(struct conn_delay **dp, struct conn *c, unsigned ms,
    const char *reply, int close_after, conn_delay_fn *done, void *arg)
{
	struct conn_delay *d = *dp;
	struct timeval tv;

	if (ms == 0) {
		conn_write(c, reply, strlen(reply));
		if (close_after)
			done(arg, 1);
		return 0;
	}
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		if ((d->ev = evtimer_new(base, conn_delay_cb, d)) == NULL) {
			free(d);
			return -1;
		}
		*dp = d;
	}
	free(d->reply);
	d->reply = xstrdup(reply);
	d->conn = c;
	d->close_after = close_after;
	d->done = done;
	d->arg = arg;
	conn_pause(c);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(d->ev, &tv);
	return 0;
}

int
conn_delay_pending(const struct conn_delay *d)
{
	return d != NULL && d->reply != NULL;
}

void
conn_delay_free(struct conn_delay **dp)
{
	struct conn_delay *d = *dp;

	if (d == NULL)
		return;
	event_free(d->ev);
	free(d->reply);
	free(d);
	*dp = NULL;
}

void
conn_resume(struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = 0;
	if (c->xfer_stop_ms != 0) {
		c->xfer_ms += conn_now_ms() - c->xfer_stop_ms;
		c->xfer_stop_ms = 0;
		conn_deadline_arm(c);
	}
	conn_idle(c);
	/*
	 * Lines that arrived meanwhile (pipelining) are waiting: run them
	 * from the loop, not from here, so that pause/resume inside a
	 * command never nests one command in another.
	 */
	if (!c->dead && !c->closing && c->bev != NULL &&
	    (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
	    c->rd_eof))
		bufferevent_trigger(c->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
conn_idle(struct conn *c)
{
	c->busy = 0;
	c->held = 0;
	c->sending = 0;
	conn_xfer_update(c);
	if ((shutting_down || c->kicked) && !c->told_shutdown &&
	    !c->closing && !c->dead) {
		c->told_shutdown = 1;
		if (c->ops != NULL && c->ops->on_shutdown != NULL)
			c->ops->on_shutdown(c);
		conn_close(c);
	}
	/* A command done outside conn_lines(): the rest runs from the
	 * loop, or the connection ends (conn_eof_end()). */
	if (c->rd_eof && !c->paused && !c->closing && !c->dead)
		bufferevent_trigger(c->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
conn_kick(struct conn *c)
{
	if (c->closing || c->dead || c->kicked)
		return;
	c->kicked = 1;
	/* Busy: conn_idle() at the end of the command says it. */
	if (!c->busy)
		conn_idle(c);
}

int
conn_kicked(struct conn *c)
{
	return c->kicked;
}

int
conn_starttls(struct conn *c)
{
	struct bufferevent *bev;
	struct evbuffer *in;
	SSL *ssl;

	if (c->tls)
		return err_set(ERR_INVALID, "TLS is already on");
	if (tls_ctx == NULL || (ssl = SSL_new(tls_ctx)) == NULL)
		return err_set(ERR_TEMP, "TLS is not available");
	/*
	 * Anything the client pipelined after STARTTLS is plaintext an
	 * attacker may have injected: drop it, never run it under TLS.
	 */
	in = bufferevent_get_input(c->bev);
	if (evbuffer_get_length(in) > 0) {
		log_info("conn %lu: %s: %zu byte(s) after STARTTLS discarded",
		    c->id, c->peer, evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	lineread_init(&c->lr, c->lr.max, c->lr.bare_lf);
	c->line_ms = 0;
	bev = bufferevent_openssl_filter_new(base, c->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return err_set(ERR_TEMP, "cannot start TLS");
	}
	/* The socket's buffers now carry TLS records: count above them. */
	evbuffer_remove_cb_entry(in, c->in_cbe);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cbe);
	c->in_cbe = c->out_cbe = NULL;
	c->bev = bev;
	c->tls = 1;
	conn_setup_bev(c);
	return 0;
}

void
conn_set_idle_timeout(struct conn *c, unsigned secs)
{
	c->idle_secs = secs;
	if (c->bev != NULL && !c->dead)
		conn_idle_timeouts(c);
}

/*
 * COMPRESS=DEFLATE (RFC 4978): a filter bufferevent over the current one
 * (over TLS when TLS is on) that inflates what comes in and deflates what
 * goes out, raw deflate (no zlib header) both ways, each write flushed
 * with Z_SYNC_FLUSH so that a reply is never held back in the
 * compressor.
 */
struct conn_z {
	z_stream	in;
	z_stream	out;
	unsigned long	conn_id;
};

#define CONN_Z_CHUNK	(16 * 1024)

static enum bufferevent_filter_result
conn_z_inflate(struct evbuffer *src, struct evbuffer *dst,
    ev_ssize_t limit, enum bufferevent_flush_mode mode, void *arg)
{
	struct conn_z *z = arg;
	struct evbuffer_iovec vin, vout;
	size_t used, made, total = 0;
	int rc;

	(void)mode;
	while (evbuffer_get_length(src) > 0) {
		if (limit > 0 && evbuffer_get_length(dst) >= (size_t)limit)
			break;
		if (evbuffer_peek(src, -1, NULL, &vin, 1) < 1)
			break;
		if (evbuffer_reserve_space(dst, CONN_Z_CHUNK, &vout, 1) < 1)
			return BEV_ERROR;
		z->in.next_in = vin.iov_base;
		z->in.avail_in = (uInt)vin.iov_len;
		z->in.next_out = vout.iov_base;
		z->in.avail_out = (uInt)vout.iov_len;
		rc = inflate(&z->in, Z_SYNC_FLUSH);
		used = vin.iov_len - z->in.avail_in;
		made = vout.iov_len - z->in.avail_out;
		vout.iov_len = made;
		evbuffer_commit_space(dst, &vout, 1);
		evbuffer_drain(src, used);
		total += made;
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			log_info("conn %lu: COMPRESS: bad deflate input (%s)",
			    z->conn_id, z->in.msg != NULL ? z->in.msg :
			    "stream ended");
			return BEV_ERROR;
		}
		if (used == 0 && made == 0)
			break;
	}
	return total > 0 ? BEV_OK : BEV_NEED_MORE;
}

static enum bufferevent_filter_result
conn_z_deflate(struct evbuffer *src, struct evbuffer *dst,
    ev_ssize_t limit, enum bufferevent_flush_mode mode, void *arg)
{
	struct conn_z *z = arg;
	struct evbuffer_iovec vin, vout;
	size_t used, made;
	int rc, flush, last;

	(void)limit;
	(void)mode;
	if (evbuffer_get_length(src) == 0)
		return BEV_NEED_MORE;
	for (;;) {
		last = evbuffer_peek(src, -1, NULL, &vin, 1) < 1;
		if (last) {
			vin.iov_base = NULL;
			vin.iov_len = 0;
		}
		flush = last ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		if (evbuffer_reserve_space(dst, CONN_Z_CHUNK, &vout, 1) < 1)
			return BEV_ERROR;
		z->out.next_in = vin.iov_base;
		z->out.avail_in = (uInt)vin.iov_len;
		z->out.next_out = vout.iov_base;
		z->out.avail_out = (uInt)vout.iov_len;
		rc = deflate(&z->out, flush);
		used = vin.iov_len - z->out.avail_in;
		made = vout.iov_len - z->out.avail_out;
		vout.iov_len = made;
		evbuffer_commit_space(dst, &vout, 1);
		if (used > 0)
			evbuffer_drain(src, used);
		if (rc == Z_STREAM_ERROR)
			return BEV_ERROR;
		/* Flushed when the output had room to spare. */
		if (last && z->out.avail_out > 0)
			break;
	}
	return BEV_OK;
}

static void
conn_z_free(void *arg)
{
	struct conn_z *z = arg;

	inflateEnd(&z->in);
	deflateEnd(&z->out);
	free(z);
}

int
conn_compress(struct conn *c)
{
	struct bufferevent *bev, *under;
	struct conn_z *z;

	if (c->deflate)
		return err_set(ERR_INVALID, "compression is already on");
	z = xcalloc(1, sizeof(*z));
	z->conn_id = c->id;
	if (inflateInit2(&z->in, -MAX_WBITS) != Z_OK) {
		free(z);
		return err_set(ERR_TEMP, "cannot start zlib");
	}
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
	    -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&z->in);
		free(z);
		return err_set(ERR_TEMP, "cannot start zlib");
	}
	under = c->bev;
	bev = bufferevent_filter_new(under, conn_z_inflate, conn_z_deflate,
	    BEV_OPT_CLOSE_ON_FREE, conn_z_free, z);
	if (bev == NULL) {
		conn_z_free(z);
		return err_set(ERR_TEMP, "cannot start compression");
	}
	/* Count plaintext above the compressor. */
	evbuffer_remove_cb_entry(bufferevent_get_input(under), c->in_cbe);
	evbuffer_remove_cb_entry(bufferevent_get_output(under), c->out_cbe);
	c->in_cbe = c->out_cbe = NULL;
	/*
	 * Keep output above the compressor until the level below drains, so
	 * that on_drain follows the socket (the filter moves more down, and
	 * calls the write callback, as the level below empties).
	 */
	bufferevent_setwatermark(under, EV_WRITE, CONN_OUT_LOW / 2,
	    CONN_OUT_LOW);
	c->bev = bev;
	c->deflate = 1;
	conn_setup_bev(c);
	/* Compressed bytes that came pipelined behind the command. */
	if (evbuffer_get_length(bufferevent_get_input(under)) > 0)
		bufferevent_trigger(under, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return 0;
}

/* Frees once every queued byte (also TLS records below) is out. */
static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_maybe_done(arg);
}

/*
 * A TLS conn closing by our choice (QUIT, LOGOUT, a deadline) ends with a
 * close_notify alert (RFC 8446 6.1) once everything else is out, so the
 * peer can tell the end from a cut.  SSL_shutdown() is called once and
 * never waited on: on a socket it writes the alert at once (a full socket
 * buffer drops it, which only makes the end look like a cut); under a
 * STARTTLS filter it lands in the socket's output, which the linger below
 * flushes.  The peer's own close_notify is not waited for (RFC 8446
 * allows that).  Under COMPRESS the TLS level is below the deflate one.
 */
static void
conn_tls_close_notify(struct conn *c)
{
	struct bufferevent *b;
	SSL *ssl = NULL;

	if (!c->tls || c->tls_shut || c->bev == NULL)
		return;
	c->tls_shut = 1;
	for (b = c->bev; b != NULL && ssl == NULL;
	    b = bufferevent_get_underlying(b))
		ssl = bufferevent_openssl_get_ssl(b);
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return;
	if (SSL_shutdown(ssl) < 0)
		ERR_clear_error();
}

static void
conn_maybe_done(struct conn *c)
{
	struct timeval tv = { 0, CONN_LINGER_MS * 1000 };

	if (c->dead)
		return;
	if (conn_out_pending(c) == 0)
		conn_tls_close_notify(c);
	if (conn_out_pending(c) > 0 && c->linger++ < CONN_LINGER_MAX) {
		if (c->linger_ev == NULL)
			c->linger_ev = evtimer_new(base, linger_cb, c);
		evtimer_add(c->linger_ev, &tv);
		return;
	}
	conn_kill(c);
}

void
conn_close(struct conn *c)
{
	if (c->closing || c->dead)
		return;
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	/* The write callback now fires when the output is empty. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	conn_maybe_done(c);
}

/* Puts a connection on the reap list; freed after this loop turn. */
static void
conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	c->closing = 1;
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->linger_ev != NULL)
		evtimer_del(c->linger_ev);
	evtimer_del(c->dl_ev);
	c->reap_next = reap_list;
	reap_list = c;
	event_active(reap_ev, 0, 0);
}

/* Deadlines --------------------------------------------------------- */

static void
conn_count_in(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	(void)buf;
	c->in_total += info->n_added;
}

static void
conn_count_out(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	(void)buf;
	c->out_total += info->n_added;
}

/* Bytes the peer has sent (XFER_IN) or taken from us (XFER_OUT). */
static uint64_t
conn_moved(struct conn *c, enum conn_xfer dir)
{
	uint64_t pending;

	if (dir == XFER_IN)
		return c->in_total;
	pending = conn_out_pending(c);
	return c->out_total > pending ? c->out_total - pending : 0;
}

/* Starts or ends the transfer clock as the conn's state says. */
static void
conn_xfer_update(struct conn *c)
{
	enum conn_xfer want;

	if (c->held || c->raw_left > 0)
		want = XFER_IN;
	else if (c->sending || c->out_wait)
		want = XFER_OUT;
	else
		want = XFER_NONE;
	if (want == c->xfer)
		return;
	if ((want == XFER_OUT || c->xfer == XFER_OUT) && c->bev != NULL &&
	    !c->dead) {
		c->xfer = want;
		conn_idle_timeouts(c);
	}
	c->xfer = want;
	c->xfer_stop_ms = 0;
	if (want == XFER_NONE)
		return;
	c->xfer_ms = conn_now_ms();
	c->xfer_base = conn_moved(c, want);
	if (want == XFER_IN && c->paused)
		c->xfer_stop_ms = c->xfer_ms;
	conn_deadline_arm(c);
}

/* Whether a command line has begun and not ended: start its clock. */
static void
conn_line_clock(struct conn *c)
{
	int partial;

	if (c->dead || c->closing || c->bev == NULL)
		return;
	partial = !c->paused && !c->out_wait && !c->held &&
	    c->raw_left == 0 && (c->lr.skipping ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0);
	if (!partial)
		c->line_ms = 0;
	else if (c->line_ms == 0) {
		c->line_ms = conn_now_ms();
		conn_deadline_arm(c);
	}
}

/* The earliest deadline of the conn (0: none) and its name. */
static uint64_t
conn_deadline(struct conn *c, const char **why_r)
{
	uint64_t at = 0, t, moved;

	*why_r = NULL;
	if (!c->authed) {
		at = c->born_ms + (uint64_t)cf->login_timeout * 1000;
		*why_r = "login";
	}
	if (c->line_ms != 0) {
		t = c->line_ms + (uint64_t)cf->command_timeout * 1000;
		if (at == 0 || t < at) {
			at = t;
			*why_r = "command";
		}
	}
	if (c->xfer != XFER_NONE && c->xfer_stop_ms == 0 &&
	    cf->transfer_rate > 0) {
		moved = conn_moved(c, c->xfer) - c->xfer_base;
		t = c->xfer_ms + (uint64_t)cf->transfer_grace * 1000 +
		    moved * 1000 / cf->transfer_rate;
		if (at == 0 || t < at) {
			at = t;
			*why_r = "transfer";
		}
	}
	return at;
}

/* Makes the timer fire no later than the earliest deadline. */
static void
conn_deadline_arm(struct conn *c)
{
	struct timeval tv;
	const char *why;
	uint64_t at, now, wait;

	if (c->closing || c->dead)
		return;
	if ((at = conn_deadline(c, &why)) == 0)
		return;
	if (c->dl_at != 0 && c->dl_at <= at)
		return;		/* it fires earlier and looks again */
	now = conn_now_ms();
	wait = at > now ? at - now : 0;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	c->dl_at = at;
	evtimer_add(c->dl_ev, &tv);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	const char *why;
	uint64_t at;

	(void)fd;
	(void)what;
	c->dl_at = 0;
	if (c->closing || c->dead)
		return;
	at = conn_deadline(c, &why);
	if (at != 0 && at <= conn_now_ms())
		conn_timeout(c, why);
	else
		conn_deadline_arm(c);
}

/* A deadline passed: one log line, the protocol's goodbye, close. */
static void
conn_timeout(struct conn *c, const char *why)
{
	struct bufferevent *under;
	uint64_t now = conn_now_ms(), moved = 0;
	int send_cut = strcmp(why, "transfer") == 0 && c->xfer == XFER_OUT;
	struct linger lg = { 1, 0 };
	evutil_socket_t fd;

	c->reason = why;
	if (strcmp(why, "login") == 0)
		log_info("conn %lu: %s: login timeout: no login within %u s",
		    c->id, c->peer, cf->login_timeout);
	else if (strcmp(why, "command") == 0)
		log_info("conn %lu: %s: command timeout: a command line took "
		    "over %u s", c->id, c->peer, cf->command_timeout);
	else if (strcmp(why, "transfer") == 0) {
		moved = conn_moved(c, c->xfer) - c->xfer_base;
		log_info("conn %lu: %s: transfer timeout: %" PRIu64 " bytes "
		    "%s in %" PRIu64 " ms, under %u bytes/s after %u s",
		    c->id, c->peer, moved, send_cut ? "read" : "sent",
		    now - c->xfer_ms, cf->transfer_rate, cf->transfer_grace);
	} else
		log_info("conn %lu: %s: idle timeout (%u s)", c->id, c->peer,
		    c->idle_secs != 0 ? c->idle_secs : cf->idle_timeout);
	if (c->ops != NULL && c->ops->on_timeout != NULL)
		c->ops->on_timeout(c);
	if (send_cut && !c->dead) {
		/*
		 * The peer does not read: drop what is queued, here and in
		 * the kernel (a reset, not a FIN behind megabytes it will
		 * not read).
		 */
		evbuffer_drain(bufferevent_get_output(c->bev),
		    evbuffer_get_length(bufferevent_get_output(c->bev)));
		for (under = bufferevent_get_underlying(c->bev);
		    under != NULL; under = bufferevent_get_underlying(under))
			evbuffer_drain(bufferevent_get_output(under),
			    evbuffer_get_length(bufferevent_get_output(under)));
		if ((fd = bufferevent_getfd(c->bev)) != -1)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
			    sizeof(lg));
		conn_kill(c);
		return;
	}
	conn_close(c);
}
