/*
 * rate.c - what one client host may do on port 25 in a minute and in a
 * day ([smtpd] client_connection_rate, client_message_rate,
 * unknown_recipient_limit), each decision one log line with the client's
 * address:
 *   connect  past client_connection_rate connections this minute: the
 *            greeting is "421 4.7.0 Too many connections from IP; try
 *            again after HH:MM:SS" (the next minute) and the close; a
 *            host blocked for unknown recipients: the 554 greeting, then
 *            only QUIT (as a black client of acl.c)
 *   MAIL     past client_message_rate MAIL commands this minute: 450
 *            4.7.0 until the next minute; the session stays open
 *   RCPT     a blocked host: 554 5.7.1 until the next day; each RCPT
 *            answered 550 5.1.1 (an unknown local recipient) is counted,
 *            and the unknown_recipient_limit-th blocks the host until
 *            00:00 of the next day, local time of the server
 *
 * Hosts, not addresses: counted by conn_ip_key() (an IPv6 client by its
 * /64), as [limits] connections_per_ip counts.  That key, which the first
 * process applies to every worker together at accept (prefork.c), is
 * what limits concurrent connections per host; it is not repeated here.
 *
 * Who: clients of session_port25_untrusted() (not LMTP, not trusted
 * networks, not logged in) whose address has no white entry (acl.c):
 * the white list names hosts the administrator vouches for, and a rate
 * limit is about the host.  A white sender or recipient does not exempt
 * (an envelope can be forged).
 *
 * The counts are in a table shared by the daemon's processes
 * (common/ratecount.h), made by the first process before it forks its
 * workers, SMTP_RATE_SLOTS hosts at most (the one seen least recently
 * makes room); minute and day are windows of that table, so they roll
 * over without a timer.  The table ends with the daemon: a restart or a
 * reload of vellum-smtpd starts the counts again.  A block, once made,
 * is also written to the volatile store (store/rateblock.h: one write
 * per blocked host and day, no sync) and read back at connect by a
 * daemon whose table does not know it, so it holds across a restart or
 * a reload until its midnight; not across a reboot.
 *
 * Lifting: `vellumctl rate unblock` removes the store's record, the only
 * copy it can reach (the table is in the daemon's memory).  So a connect
 * the table refuses asks the store too (rate_lifted()): no record, and
 * the host's count starts again at 0 for every process.  Blocked hosts
 * are few and they connect rarely, so the read costs little; sessions
 * already open keep their block until the host connects again.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/ratecount.h"
#include "store/rateblock.h"
#include "smtpd/sessionpriv.h"

/* Hosts remembered at once (about 140 bytes each). */
#define SMTP_RATE_SLOTS		8192

/* The counters of a host (ratecount kinds). */
enum rate_kind {
	RATE_CONN,		/* connections, this minute */
	RATE_MSG,		/* MAIL commands, this minute */
	RATE_UNKNOWN,		/* 550 5.1.1 recipients, today */
};

struct rate_now {
	time_t		 now;
	int64_t		 minute;	/* window: minutes since the epoch */
	int64_t		 day;		/* window: local date, YYYYMMDD */
	char		 next_minute[16];	/* "HH:MM:SS", local */
	char		 next_day[16];		/* "YYYY-MM-DD", local */
};

static int	rate_applies(struct smtp_session *);
static void	rate_now(struct rate_now *);
static int	rate_blocked(struct smtp_session *, const struct rate_now *,
		    const char *, char *, size_t);
static int	rate_in_store(struct smtp_session *, const struct rate_now *,
		    const char *);
static int	rate_stored(struct smtp_session *, const struct rate_now *,
		    const char *);
static int	rate_lifted(struct smtp_session *, const struct rate_now *,
		    const char *);
static void	rate_host(struct smtp_session *, char *, struct rate_now *);
static uint32_t	rate_minute(struct smtp_session *, enum rate_kind, unsigned,
		    const char *, struct rate_now *);

int
smtp_rate_init(struct smtp_server *srv)
{
	const struct config *cf = srv->config;

	srv->rate = NULL;
	if (cf->smtpd_client_connection_rate == 0 &&
	    cf->smtpd_client_message_rate == 0 &&
	    cf->smtpd_unknown_recipient_limit == 0)
		return 0;
	return ratecount_new(SMTP_RATE_SLOTS, &srv->rate);
}

static int
rate_applies(struct smtp_session *s)
{
	return s->srv->rate != NULL && !s->acl.white &&
	    session_port25_untrusted(s);
}

static void
rate_now(struct rate_now *rn)
{
	/* The next day's date, made once a day (mktime() reads the zone). */
	static int64_t day;
	static char next_day[sizeof(rn->next_day)];
	struct tm tm;
	time_t t;

	rn->now = time(NULL);
	rn->minute = (int64_t)rn->now / 60;
	t = (time_t)(rn->minute + 1) * 60;
	localtime_r(&t, &tm);
	strftime(rn->next_minute, sizeof(rn->next_minute), "%H:%M:%S", &tm);
	/* The day of the store's blocks (vellumctl rate list reckons alike). */
	rn->day = store_rateblock_day(rn->now, NULL, 0);
	if (rn->day != day)
		day = store_rateblock_day(rn->now, next_day, sizeof(next_day));
	memcpy(rn->next_day, next_day, sizeof(rn->next_day));
}

/*
 * 1 when the host of key has had unknown_recipient_limit unknown
 * recipients today: reply (size bytes) is the 554 for it.
 */
static int
rate_blocked(struct smtp_session *s, const struct rate_now *rn,
    const char *key, char *reply, size_t size)
{
	unsigned limit = s->srv->config->smtpd_unknown_recipient_limit;

	if (limit == 0 || ratecount_get(s->srv->rate, key, RATE_UNKNOWN,
	    rn->day, rn->now) < limit)
		return 0;
	snprintf(reply, size, "554 5.7.1 %s blocked until %s 00:00 after %u "
	    "unknown recipients", s->ip, rn->next_day, limit);
	return 1;
}

/*
 * Whether the volatile store holds a block of the host of key today: 1,
 * 0, or -1 logged (the callers keep what the shared table says).
 */
static int
rate_in_store(struct smtp_session *s, const struct rate_now *rn,
    const char *key)
{
	uint32_t n;
	int rc;

	rc = store_rateblock_get(s->srv->store, key, (uint32_t)rn->day, &n);
	if (rc == -1)
		log_warnx("conn %lu: rate: cannot read the blocked hosts for "
		    "%s (the shared counts decide): %s", s->id, s->ip,
		    err_msg());
	return rc;
}

/*
 * At connect, when the shared table knows no block: whether the volatile
 * store has one for today (made before a restart or reload of the
 * daemon).  Found, it goes into the table, so the session's RCPTs and
 * the host's next connections need no store read.  A store error is
 * logged and lets the client on (the block is a defence, not a record).
 */
static int
rate_stored(struct smtp_session *s, const struct rate_now *rn,
    const char *key)
{
	unsigned limit = s->srv->config->smtpd_unknown_recipient_limit;

	if (limit == 0 || rate_in_store(s, rn, key) != 1)
		return 0;
	ratecount_add(s->srv->rate, key, RATE_UNKNOWN, rn->day, limit,
	    rn->now);
	return 1;
}

/*
 * At connect, when the shared table says the host is blocked: whether an
 * administrator lifted the block since (vellumctl rate unblock removed
 * the store's record).  Lifted: the host's count of unknown recipients
 * starts again at 0, one log line, 1.
 *
 * A store error keeps the block (0), the mirror of rate_stored(), which
 * lets the client on for one: either way the shared table's word stands
 * when the store cannot be read.  The table is sure of this block; the store is asked
 * only whether someone lifted it, and a failed read is no sign of that.
 *
 * A connection of the host in another process in the moment between the
 * count reaching the limit and the store's record being written (one
 * write transaction) is taken for a lift: that one client is let on, and
 * the next connection finds the record (rate_stored()) and is refused.
 */
static int
rate_lifted(struct smtp_session *s, const struct rate_now *rn,
    const char *key)
{
	if (rate_in_store(s, rn, key) != 0)
		return 0;
	ratecount_reset(s->srv->rate, key, RATE_UNKNOWN);
	log_info("conn %lu: rate: client %s let on: the block of %s was "
	    "lifted (no longer in the store: vellumctl rate unblock)", s->id,
	    s->ip, key);
	return 1;
}

/* The client's host (conn_ip_key(), key_r of CONN_ADDR_MAX) and now. */
static void
rate_host(struct smtp_session *s, char *key_r, struct rate_now *rn)
{
	conn_ip_key(s->ip, key_r, CONN_ADDR_MAX);
	rate_now(rn);
}

/*
 * One more of kind, a count per minute, for the client's host: 0 while
 * it is within limit, else the count, logged as what (rn: for the reply).
 */
static uint32_t
rate_minute(struct smtp_session *s, enum rate_kind kind, unsigned limit,
    const char *what, struct rate_now *rn)
{
	char key[CONN_ADDR_MAX];
	uint32_t n;

	rate_host(s, key, rn);
	n = ratecount_add(s->srv->rate, key, kind, rn->minute, 1, rn->now);
	if (n <= limit)
		return 0;
	log_info("conn %lu: rate: client %s refused: %s %u this minute from "
	    "%s (limit %u), until %s", s->id, s->ip, what, n, key, limit,
	    rn->next_minute);
	return n;
}

int
session_rate_connect(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;
	char key[CONN_ADDR_MAX], reply[SMTP_REPLY_MAX];
	struct rate_now rn;
	int blocked;

	if (!rate_applies(s))
		return 0;
	rate_host(s, key, &rn);
	if (rate_blocked(s, &rn, key, reply, sizeof(reply)))
		blocked = !rate_lifted(s, &rn, key);
	else
		blocked = rate_stored(s, &rn, key) &&
		    rate_blocked(s, &rn, key, reply, sizeof(reply));
	if (blocked) {
		log_info("conn %lu: rate: client %s refused: blocked until %s "
		    "00:00 after %u unknown recipients", s->id, s->ip,
		    rn.next_day, cf->smtpd_unknown_recipient_limit);
		conn_printf(s->conn, "%s\r\n", reply);
		s->acl.blocked = 1;
		return 1;
	}
	if (cf->smtpd_client_connection_rate == 0 || rate_minute(s, RATE_CONN,
	    cf->smtpd_client_connection_rate, "connection", &rn) == 0)
		return 0;
	conn_printf(s->conn, "421 4.7.0 Too many connections from %s; try "
	    "again after %s\r\n", s->ip, rn.next_minute);
	session_close(s);
	return 1;
}

int
session_rate_mail(struct smtp_session *s)
{
	unsigned limit = s->srv->config->smtpd_client_message_rate;
	struct rate_now rn;

	if (limit == 0 || !rate_applies(s) ||
	    rate_minute(s, RATE_MSG, limit, "message", &rn) == 0)
		return 1;
	session_fail(s, "450 4.7.0 Too many messages from %s; try again "
	    "after %s", s->ip, rn.next_minute);
	return 0;
}

int
session_rate_rcpt(struct smtp_session *s)
{
	char key[CONN_ADDR_MAX], reply[SMTP_REPLY_MAX];
	struct rate_now rn;

	if (s->srv->config->smtpd_unknown_recipient_limit == 0 ||
	    !rate_applies(s))
		return 1;
	rate_host(s, key, &rn);
	if (!rate_blocked(s, &rn, key, reply, sizeof(reply)))
		return 1;
	log_info("conn %lu: rate: recipient from %s refused: blocked until "
	    "%s 00:00", s->id, s->ip, rn.next_day);
	session_fail(s, "%s", reply);
	return 0;
}

void
session_rate_unknown(struct smtp_session *s)
{
	unsigned limit = s->srv->config->smtpd_unknown_recipient_limit;
	char key[CONN_ADDR_MAX];
	struct rate_now rn;
	uint32_t n;

	if (limit == 0 || !rate_applies(s))
		return;
	rate_host(s, key, &rn);
	n = ratecount_add(s->srv->rate, key, RATE_UNKNOWN, rn.day, 1, rn.now);
	/* Once: sessions of the host running meanwhile may count past. */
	if (n != limit)
		return;
	log_warnx("conn %lu: rate: client %s blocked until %s 00:00: %u "
	    "unknown recipients today from %s", s->id, s->ip, rn.next_day, n,
	    key);
	/*
	 * For a restart or reload of the daemon before then, and as the
	 * record a lift removes (rate_lifted()).
	 */
	if (store_rateblock_put(s->srv->store, key, (uint32_t)rn.day, n) == -1)
		log_warnx("conn %lu: rate: the block of %s is not stored: the "
		    "host's next connection will take it for lifted: %s",
		    s->id, s->ip, err_msg());
}
