/*
 * policy.c - the outgoing policy of sending users (deliver.h, the
 * settings and counters in store/policy.h).
 *
 * What a message costs is counted in the transaction that accepts it
 * (policy_account(), from djob_store()), so that the counters are exact
 * whatever the number of smtpd processes and a crash never loses a count
 * of mail that went.  Windows are fixed (this minute, this hour, this UTC
 * day): each resets by itself when its time is over.  Exceeding a limit
 * refuses the message and, when lock-time is not 0, locks the sender for
 * that long; a lock that ran out counts as an automatic unlock, and once
 * max-unlocks of those were used the next lock stays until `vellumctl
 * user unlock`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "mail/attach.h"
#include "mail/mime.h"
#include "mail/rfc822.h"
#include "store/domain.h"
#include "store/policy.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"
#include "deliver.h"
#include "dsn.h"
#include "spamscore.h"
#include "private.h"

/* Recipient rows of days before dropped per message (pol_roll()). */
#define POL_PURGE_MAX	256

static void	pol_time(int64_t, char *, size_t);
static void	pol_fill(struct deliver_policy *, const struct store_policy *);
static void	pol_lock(struct deliver_policy *, struct store_sendstat *,
		    int64_t, const char *);
static int	pol_invalid_hit(const struct deliver_policy *,
		    const struct store_sendstat *, char *, size_t);
static int	pol_roll(struct store_txn *, const struct store_subject *,
		    struct store_sendstat *, int64_t);
static void	pol_refuse_lock(struct deliver_policy *, int64_t until,
		    const char *reason);

/* "2026-12-03 05:00 UTC" */
static void
pol_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* The reply to a locked sender: 451 until when, or 550 for good. */
static void
pol_refuse_lock(struct deliver_policy *p, int64_t until, const char *reason)
{
	char when[64];

	if (until == STORE_LOCK_FOREVER) {
		p->code = 550;
		snprintf(p->text, sizeof(p->text), "5.7.1 <%.100s>: Sending is "
		    "locked (%.100s) until an administrator unlocks it", p->login,
		    reason);
		return;
	}
	pol_time(until, when, sizeof(when));
	p->code = 451;
	snprintf(p->text, sizeof(p->text), "4.7.1 <%.100s>: Sending is locked "
	    "until %.100s (%.100s)", p->login, when, reason);
}

struct pol_load {
	struct deliver_policy	*p;
	const char		*domain;	/* of the settings ("": none) */
	struct store_policy	 pol;
	struct store_sendstat	 s;
	int			 have_stat;
};

static int
pol_load_txn(struct store_txn *t, void *ctx)
{
	struct pol_load *l = ctx;
	char addr[STORE_DOMAIN_MAX + 2];
	int rc;

	if (l->p->user_id != 0)
		rc = store_policy_effective(t, l->p->user_id, l->p->login,
		    &l->pol);
	else {
		/* a domain login or a host: the domain's defaults */
		snprintf(addr, sizeof(addr), "@%s", l->domain);
		rc = store_policy_effective(t, 0, addr, &l->pol);
	}
	if (rc == -1)
		return -1;
	if ((rc = store_sendstat_get(t, &l->p->subject, &l->s)) == -1)
		return -1;
	l->have_stat = rc;
	return 0;
}

int
deliver_policy_load(struct store *st, enum deliver_sender kind,
    uint32_t user_id, const char *login, const char *domain,
    struct deliver_policy *p)
{
	struct pol_load l;
	int64_t now = (int64_t)store_now();

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->user_id = kind == DELIVER_SENDER_USER ? user_id : 0;
	if (kind == DELIVER_SENDER_HOST)
		snprintf(p->login, sizeof(p->login), "[%s]", login);
	else
		snprintf(p->login, sizeof(p->login), "%s", login);
	if (kind == DELIVER_SENDER_USER)
		store_subject_user(&p->subject, user_id);
	else
		store_subject_named(&p->subject, kind == DELIVER_SENDER_DOMAIN ?
		    STORE_SUBJ_DOMAIN : STORE_SUBJ_HOST, login);
	memset(&l, 0, sizeof(l));
	l.p = p;
	l.domain = kind == DELIVER_SENDER_DOMAIN ? login : domain != NULL ?
	    domain : "";
	if (store_read(st, pol_load_txn, &l) == -1)
		return -1;
	pol_fill(p, &l.pol);
	if (l.have_stat && l.s.day == now / 86400)
		p->invalid_today = l.s.invalid;
	if (l.have_stat && l.s.locked_until != 0 &&
	    (l.s.locked_until == STORE_LOCK_FOREVER ||
	    now < l.s.locked_until)) {
		pol_refuse_lock(p, l.s.locked_until, l.s.reason);
		return 0;
	}
	return 1;
}

/* The limits of a deliver_policy from the settings that apply. */
static void
pol_fill(struct deliver_policy *p, const struct store_policy *pol)
{
	p->per_minute = pol->v[STORE_POL_PER_MINUTE];
	p->per_hour = pol->v[STORE_POL_PER_HOUR];
	p->per_day = pol->v[STORE_POL_PER_DAY];
	p->bytes_per_day = pol->v[STORE_POL_BYTES_PER_DAY];
	p->rcpts_per_day = pol->v[STORE_POL_RCPTS_PER_DAY];
	p->invalid_per_day = pol->v[STORE_POL_INVALID_PER_DAY];
	p->lock_time = pol->v[STORE_POL_LOCK_TIME];
	p->max_unlocks = pol->v[STORE_POL_MAX_UNLOCKS];
	p->notify_user = pol->v[STORE_POL_NOTIFY_USER] != 0;
	p->attachment_size = pol->v[STORE_POL_ATTACHMENT_SIZE];
	p->spam_score = pol->v[STORE_POL_SPAM_SCORE];
	p->valid_sender = pol->v[STORE_POL_VALID_SENDER] != 0;
	snprintf(p->sender_domain, sizeof(p->sender_domain), "%s",
	    pol->domain);
}

/* addr's domain is dom: 1, else 0. */
static int
pol_in_domain(const char *addr, const char *dom)
{
	char norm[STORE_DOMAIN_MAX + 1];
	const char *at = strrchr(addr, '@');

	return at != NULL && store_domain_normalize(at + 1, norm) == 0 &&
	    strcmp(norm, dom) == 0;
}

int
deliver_policy_sender(struct store *st, const struct deliver_config *cf,
    struct deliver_policy *p, const char *sender)
{
	struct deliver_rcpt r;
	int ok;

	if (p->sender_domain[0] != '\0' && !pol_in_domain(sender,
	    p->sender_domain)) {
		p->code = 553;
		snprintf(p->text, sizeof(p->text), "5.7.1 <%.100s>: Sender address "
		    "rejected: user %.100s may only send as an address of %.100s",
		    sender, p->login, p->sender_domain);
		return 0;
	}
	if (!p->valid_sender)
		return 1;
	if (sender[0] == '\0')
		ok = 0;
	else {
		if (deliver_resolve(st, cf, sender, 0, &r) == -1) {
			deliver_rcpt_clear(&r);
			return -1;
		}
		ok = r.kind == DELIVER_LOCAL;
		deliver_rcpt_clear(&r);
	}
	if (!ok) {
		p->code = 553;
		snprintf(p->text, sizeof(p->text), "5.7.1 <%.100s>: Sender address "
		    "rejected: not an existing address of this server", sender);
		return 0;
	}
	return 1;
}

int
deliver_policy_header(struct deliver_policy *p, const void *msg, size_t len)
{
	char value[1024], addr[DELIVER_ADDR_MAX + 1];
	struct rfc822_addr *v = NULL;
	size_t hlen, n = 0, i, found = 0;
	int ok = 1;

	if (p->sender_domain[0] == '\0')
		return 1;
	hlen = mime_header_end(msg, len);
	if (mime_header_get(msg, hlen, "From", value, sizeof(value)))
		rfc822_addr_parse(value, strlen(value), &v, &n);
	for (i = 0; i < n && ok; i++) {
		if (v[i].mailbox.p == NULL || v[i].domain.p == NULL)
			continue;
		found++;
		snprintf(addr, sizeof(addr), "%.*s@%.*s",
		    (int)v[i].mailbox.len, v[i].mailbox.p,
		    (int)v[i].domain.len, v[i].domain.p);
		ok = pol_in_domain(addr, p->sender_domain);
	}
	rfc822_addr_free(v, n);
	if (ok && found > 0)
		return 1;
	p->code = 550;
	snprintf(p->text, sizeof(p->text), "5.7.1 Message refused: its From: "
	    "header must name %.100s address%.100s of %.100s (user %.100s)", found > 1 ?
	    "only" : "an", found > 1 ? "es" : "", p->sender_domain, p->login);
	return 0;
}

int
deliver_policy_invalid_full(struct deliver_policy *p)
{
	if (p->invalid_per_day == 0 ||
	    p->invalid_today + p->invalid < p->invalid_per_day)
		return 0;
	p->code = 550;
	snprintf(p->text, sizeof(p->text), "5.7.1 <%.100s>: too many unknown "
	    "recipients today (%" PRIu64 ")", p->login, p->invalid_per_day);
	return 1;
}

/* Today's counters of s as of now (a new day, hour, minute: from 0). */
/*
 * Today's counters of s as of now (a new day, hour, minute: from 0).  The
 * recipient rows of days before go POL_PURGE_MAX per message.
 */
static int
pol_roll(struct store_txn *t, const struct store_subject *sj,
    struct store_sendstat *s, int64_t now)
{
	int64_t today = now / 86400;
	int rc;

	if (s->day != today) {
		s->purge = s->day != 0;
		s->day = today;
		s->msgs = s->rcpts = s->invalid = 0;
		s->bytes = 0;
	}
	if (s->purge) {
		if ((rc = store_sendstat_newday(t, sj, today,
		    POL_PURGE_MAX)) == -1)
			return -1;
		s->purge = rc;
	}
	if (s->minute != now / 60) {
		s->minute = now / 60;
		s->per_minute = 0;
	}
	if (s->hour != now / 3600) {
		s->hour = now / 3600;
		s->per_hour = 0;
	}
	return 0;
}

/*
 * Locks the sender (s, in the transaction; p for the reply and the
 * notices): for lock-time, or for good once max-unlocks automatic
 * unlocks were used.
 */
static void
pol_lock(struct deliver_policy *p, struct store_sendstat *s, int64_t now,
    const char *reason)
{
	int64_t until = s->unlocks >= p->max_unlocks ? STORE_LOCK_FOREVER :
	    now + (int64_t)p->lock_time;

	s->locked_until = until;
	s->locked_at = now;
	s->locks++;
	snprintf(s->reason, sizeof(s->reason), "%.200s", reason);
	p->locked = 1;
	p->locked_until = until;
	snprintf(p->reason, sizeof(p->reason), "%.200s", reason);
}

/* The unknown recipients of today reached the limit: 1 (reason set). */
static int
pol_invalid_hit(const struct deliver_policy *p,
    const struct store_sendstat *s, char *reason, size_t size)
{
	if (p->invalid_per_day == 0 || s->invalid < p->invalid_per_day)
		return 0;
	snprintf(reason, size, "%" PRIu32 " unknown recipients today (limit "
	    "%" PRIu64 ")", s->invalid, p->invalid_per_day);
	return 1;
}

static int
pol_invalid_txn(struct store_txn *t, void *ctx)
{
	struct deliver_policy *p = ctx;
	struct store_sendstat s;
	int64_t now = (int64_t)store_now();
	char reason[DELIVER_TEXT_MAX];

	p->locked = 0;
	if (store_sendstat_get(t, &p->subject, &s) == -1 ||
	    pol_roll(t, &p->subject, &s, now) == -1)
		return -1;
	s.invalid += p->invalid;
	if (s.locked_until != 0 && s.locked_until != STORE_LOCK_FOREVER &&
	    now >= s.locked_until) {
		s.locked_until = 0;	/* ran out: an automatic unlock */
		s.unlocks++;
	}
	if (s.locked_until == 0 && p->lock_time > 0 &&
	    pol_invalid_hit(p, &s, reason, sizeof(reason)))
		pol_lock(p, &s, now, reason);
	return store_sendstat_put(t, &p->subject, &s);
}

int
deliver_policy_remote_failed(struct store_txn *t, const char *sender,
    unsigned n, struct deliver_policy *p)
{
	struct store_policy pol;
	struct store_user u;
	int rc;

	memset(p, 0, sizeof(*p));
	if (sender[0] == '\0' || n == 0)
		return 0;
	if ((rc = store_user_find(t, sender, &u)) != 1)
		return rc;
	p->kind = DELIVER_SENDER_USER;
	p->user_id = u.id;
	store_subject_user(&p->subject, u.id);
	snprintf(p->login, sizeof(p->login), "%s", u.address);
	if (store_policy_effective(t, u.id, u.address, &pol) == -1)
		return -1;
	pol_fill(p, &pol);
	p->invalid = n;
	if (pol_invalid_txn(t, p) == -1)
		return -1;
	return p->locked;
}

void
deliver_policy_notify(struct store *st, const struct deliver_config *cf,
    const struct deliver_policy *p)
{
	policy_notices(st, cf, p, 0, NULL);
}

int
deliver_policy_add_invalid(struct store *st, const struct deliver_config *cf,
    struct deliver_policy *p)
{
	if (store_write(st, pol_invalid_txn, p) == -1)
		return -1;
	if (p->locked)
		policy_notices(st, cf, p, 0, NULL);
	return 0;
}

/* The commit ---------------------------------------------------------------- */

/*
 * In the transaction that delivers job: counts the message against the
 * sender's limits.  1 counted (deliver it), 0 refused (every recipient
 * has the reply; counters and any new lock are written), -1 error.
 */
int
policy_account(struct store_txn *t, struct deliver_job *job)
{
	struct deliver_policy *p = job->policy;
	struct store_sendstat s;
	int64_t now = (int64_t)store_now(), today = now / 86400;
	uint64_t newr = 0;
	char reason[DELIVER_TEXT_MAX], when[64];
	size_t i, j;
	int rc, window = 0;

	if (store_sendstat_get(t, &p->subject, &s) == -1 ||
	    pol_roll(t, &p->subject, &s, now) == -1)
		return -1;
	if (s.locked_until != 0) {
		if (s.locked_until == STORE_LOCK_FOREVER ||
		    now < s.locked_until) {
			pol_refuse_lock(p, s.locked_until, s.reason);
			goto refuse;
		}
		/* ran out: an automatic unlock */
		s.locked_until = 0;
		s.unlocks++;
	}
	/* (p->invalid is zeroed once the commit is done: this may run
	   again after the map grew) */
	s.invalid += p->invalid;
	/* the distinct recipients this message adds today */
	for (i = 0; i < job->nrcpts; i++) {
		const struct deliver_rcpt *r = &job->rcpts[i];

		if (!deliver_rcpt_wanted(r) || r->bcc)
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(job->rcpts[j].addr, r->addr) == 0)
				break;
		if (j < i)
			continue;
		if ((rc = store_sendstat_seen(t, &p->subject, today,
		    r->addr)) == -1)
			return -1;
		newr += rc == 0;
	}
	reason[0] = '\0';
	if (p->code != 0) {
		/* refused before the commit (outgoing spam) */
		if (p->lock)
			snprintf(reason, sizeof(reason), "%.200s", p->text);
	} else if (p->per_minute != 0 && s.per_minute + 1 > p->per_minute) {
		snprintf(reason, sizeof(reason), "more than %" PRIu64
		    " messages in a minute", p->per_minute);
		window = 60;
	} else if (p->per_hour != 0 && s.per_hour + 1 > p->per_hour) {
		snprintf(reason, sizeof(reason), "more than %" PRIu64
		    " messages in an hour", p->per_hour);
		window = 3600;
	} else if (p->per_day != 0 && s.msgs + 1 > p->per_day) {
		snprintf(reason, sizeof(reason), "more than %" PRIu64
		    " messages today", p->per_day);
		window = 86400;
	} else if (p->bytes_per_day != 0 && s.bytes + job->len >
	    p->bytes_per_day) {
		char sz[SIZE_FORMAT_MAX];

		snprintf(reason, sizeof(reason), "more than %s bytes today",
		    size_format(p->bytes_per_day, sz, sizeof(sz)));
		window = 86400;
	} else if (p->rcpts_per_day != 0 && s.rcpts + newr >
	    p->rcpts_per_day) {
		snprintf(reason, sizeof(reason), "more than %" PRIu64
		    " recipients today", p->rcpts_per_day);
		window = 86400;
	} else if (pol_invalid_hit(p, &s, reason, sizeof(reason)))
		window = 86400;
	if (reason[0] == '\0' && p->code == 0) {
		/* within every limit: count it */
		for (i = 0; i < job->nrcpts; i++) {
			const struct deliver_rcpt *r = &job->rcpts[i];

			if (!deliver_rcpt_wanted(r) || r->bcc)
				continue;
			if (store_sendstat_rcpt(t, &p->subject, today,
			    r->addr) == -1)
				return -1;
		}
		s.per_minute++;
		s.per_hour++;
		s.msgs++;
		s.bytes += job->len;
		s.rcpts += (uint32_t)newr;
		return store_sendstat_put(t, &p->subject, &s) == -1 ? -1 : 1;
	}
	if (reason[0] != '\0' && p->lock_time > 0) {
		pol_lock(p, &s, now, reason);
		if (p->code == 0)
			pol_refuse_lock(p, s.locked_until, reason);
	} else if (p->code == 0) {
		/* no lock: the window ends by itself */
		pol_time((now / window + 1) * window, when, sizeof(when));
		p->code = 451;
		snprintf(p->text, sizeof(p->text), "4.7.1 <%.100s>: %.100s; try "
		    "again after %.100s", p->login, reason, when);
	}
refuse:
	for (i = 0; i < job->nrcpts; i++)
		if (deliver_rcpt_wanted(&job->rcpts[i]))
			deliver_rcpt_reply(&job->rcpts[i], p->code, "%s",
			    p->text);
	return store_sendstat_put(t, &p->subject, &s) == -1 ? -1 : 0;
}

/*
 * After the commit that locked the sender: the notice to the postmaster
 * of its domain (else of the server) and, with notify-user, to it.
 */
void
policy_notices(struct store *st, const struct deliver_config *cf,
    const struct deliver_policy *p, uint64_t queue_id, const char *sender)
{
	char when[64], to[DELIVER_ADDR_MAX + 16], *body, *msg;
	const char *dom = p->kind == DELIVER_SENDER_DOMAIN ? p->login :
	    p->kind == DELIVER_SENDER_USER && strrchr(p->login, '@') != NULL ?
	    strrchr(p->login, '@') + 1 : NULL;
	size_t len;
	int i;

	if (p->locked_until == STORE_LOCK_FOREVER)
		snprintf(when, sizeof(when), "until an administrator unlocks "
		    "it");
	else {
		pol_time(p->locked_until, when + 6, sizeof(when) - 6);
		memcpy(when, "until ", 6);
	}
	if (queue_id != 0)
		log_info("%016" PRIX64 ": policy: sending of %s locked %s: %s",
		    queue_id, p->login, when, p->reason);
	else
		log_info("policy: sending of %s locked %s: %s", p->login, when,
		    p->reason);
	body = xasprintf("Sending mail as %s is locked %s.\n\n"
	    "Reason: %s\n\n"
	    "%s%s%s"
	    "An administrator can see the counters with\n"
	    "    vellumctl user usage %s\n"
	    "and end the lock with\n"
	    "    vellumctl user unlock %s\n", p->login, when, p->reason,
	    sender != NULL ? "The last message (envelope sender <" : "",
	    sender != NULL ? sender : "", sender != NULL ? ">) was "
	    "refused.\n" : "", p->login, p->login);
	for (i = 0; i < 2; i++) {
		if (i == 0)
			snprintf(to, sizeof(to), "postmaster@%s", dom != NULL ?
			    dom : cf->hostname);
		else if (p->notify_user && p->kind == DELIVER_SENDER_USER)
			snprintf(to, sizeof(to), "%s", p->login);
		else
			break;
		if (dsn_notice(cf->hostname, (int64_t)store_now(),
		    store_queue_id_new(), to, i == 0 ? "Outgoing mail of a "
		    "user locked" : "Your outgoing mail is locked", body, &msg,
		    &len) == -1) {
			log_warnx("policy notice: %s", err_msg());
			continue;
		}
		if (deliver_server_message(st, cf, to, msg, len, 0,
		    STORE_QF_NOTICE, NULL) == -1 && i == 0 && dom != NULL) {
			/* no postmaster in that domain: the server's */
			snprintf(to, sizeof(to), "postmaster@%s",
			    cf->hostname);
			if (deliver_server_message(st, cf, to, msg, len, 0,
			    STORE_QF_NOTICE, NULL) == -1)
				log_warnx("policy notice to <%s>: %s", to,
				    err_msg());
		}
		free(msg);
	}
	free(body);
}

int
policy_scan_wanted(const struct deliver_job *job)
{
	const struct deliver_policy *p = job->policy;

	return p != NULL && p->code == 0 &&
	    (p->attachment_size != 0 || p->spam_score != 0);
}

void
policy_scan(const struct deliver_config *cf, struct deliver_job *job,
    char *note, size_t notesize)
{
	struct deliver_policy *p = job->policy;
	struct mail_attachment a;
	struct spam_conf sc;
	char why[200], lim[SIZE_FORMAT_MAX];
	double score, thr;
	size_t i;

	note[0] = '\0';
	if (!policy_scan_wanted(job))
		return;
	if (p->attachment_size != 0 &&
	    mail_attachment_largest(job->data, job->len, &a) == 1 &&
	    a.size > p->attachment_size) {
		/* a name a reply can carry: printable ASCII */
		for (i = 0; a.filename[i] != '\0'; i++)
			if (a.filename[i] < 0x20 || a.filename[i] > 0x7e)
				a.filename[i] = '?';
		p->code = 552;
		snprintf(p->text, sizeof(p->text), "5.3.4 Attachment \"%.100s\" "
		    "is %" PRIu64 " bytes, over the limit of %s per "
		    "attachment", a.filename[0] != '\0' ? a.filename : a.type,
		    a.size, size_format(p->attachment_size, lim, sizeof(lim)));
		snprintf(note, notesize, "policy: <%s> refused: attachment "
		    "\"%.100s\" of %" PRIu64 " bytes over %s", p->login,
		    a.filename[0] != '\0' ? a.filename : a.type, a.size, lim);
		return;
	}
	if (p->spam_score == 0)
		return;
	/*
	 * Too large to send, as spamc passes such mail: accepted whatever
	 * spam_tempfail says, or a large message would be refused for now
	 * on every retry until it bounced.
	 */
	if (cf->spam_max_size != 0 && job->len > cf->spam_max_size) {
		snprintf(note, notesize, "policy: mail from <%s> not scanned "
		    "for spam: %zu bytes, over spam_max_size", p->login,
		    job->len);
		return;
	}
	memset(&sc, 0, sizeof(sc));
	sc.addr = cf->spamd;
	sc.timeout_ms = (int)cf->spamd_timeout_ms;
	sc.max_size = cf->spam_max_size;
	if (spam_score(&sc, job->data, job->len, &score, &thr, why,
	    sizeof(why)) != 1) {
		if (cf->spam_tempfail) {
			p->code = 451;
			snprintf(p->text, sizeof(p->text), "4.7.1 The spam "
			    "check is not available; try again later");
		}
		snprintf(note, notesize, "policy: spam check of mail from "
		    "<%s> not made (%s): %s", p->login, why,
		    cf->spam_tempfail ? "451" : "accepted");
		return;
	}
	/* spam-score is in tenths of a point */
	if (score * 10 >= (double)p->spam_score) {
		p->code = 550;
		p->lock = 1;
		snprintf(p->text, sizeof(p->text), "5.7.1 <%.100s>: Message "
		    "refused as spam (score %.1f, limit %.1f)", p->login,
		    score, (double)p->spam_score / 10);
		snprintf(note, notesize, "policy: <%s> sent spam: score %.1f "
		    "(limit %.1f) %.150s", p->login, score,
		    (double)p->spam_score / 10, why);
	}
}
