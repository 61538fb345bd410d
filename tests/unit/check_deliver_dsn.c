/*
 * check_deliver_dsn.c - delivery status notifications (deliver/dsn.c),
 * parsed back with the project's MIME parser (mail/mime.c): structure,
 * every field, RET=HDRS vs FULL, the size cut, the boundary, ORCPT
 * passed through, hostile reply texts that must not break the structure.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "deliver/dsn.h"
#include "mail/mime.h"

#define T0	((int64_t)1796126400)	/* 2026-12-01 12:00:00 UTC */

static const char orig[] = "From: Alice <alice@origin.test>\r\n"
    "To: bob@remote.test\r\n"
    "Subject: the original\r\n"
    "Message-ID: <orig@origin.test>\r\n"
    "\r\n"
    "Body line one.\r\n"
    "BODY-MARKER\r\n";

struct part {
	const char	*p;
	size_t		 len;
	size_t		 hdrlen;
};

struct notice {
	char		*msg;
	size_t		 len;
	size_t		 hdrlen;
	char		 boundary[100];
	struct part	 parts[8];
	size_t		 nparts;
};

static void
input_init(struct dsn_input *in, struct dsn_rcpt *r, size_t n)
{
	memset(in, 0, sizeof(*in));
	in->hostname = "mx.vellum.test";
	in->sender = "alice@origin.test";
	in->envid = "ENV-42";
	in->ret = DSN_RET_NONE;
	in->queue_id = 0x00ABCDEF01234567ULL;
	in->arrival = T0 - 5 * 86400;
	in->rcpts = r;
	in->nrcpts = n;
	in->msg = orig;
	in->msglen = sizeof(orig) - 1;
	in->now = T0;
	in->notice_id = 0x1111222233334444ULL;
}

static void
rcpt_fail(struct dsn_rcpt *r)
{
	memset(r, 0, sizeof(*r));
	r->addr = "bob@remote.test";
	r->action = DSN_FAILED;
	r->remote_mta = "mx.remote.test";
	r->reply = "550 5.1.1 <bob@remote.test>: Recipient address rejected";
	r->last_attempt = T0 - 60;
}

/* Every line ends in CRLF and is at most 998 octets. */
static void
check_lines(const char *m, size_t len)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (m[i] == '\n')
			ck_assert_msg(i > 0 && m[i - 1] == '\r', "bare LF at "
			    "%zu", i);
		if (m[i] == '\r')
			ck_assert_msg(i + 1 < len && m[i + 1] == '\n',
			    "bare CR at %zu", i);
		if (m[i] == '\r' || m[i] == '\n')
			col = 0;
		else
			ck_assert_msg(++col <= 998, "line too long at %zu", i);
	}
	ck_assert_msg(len >= 2 && m[len - 2] == '\r' && m[len - 1] == '\n',
	    "ends with CRLF");
}

/* Composes and cuts the result into its parts by the top boundary. */
static void
compose(const struct dsn_input *in, struct notice *n)
{
	char ct[200], type[100];
	const char *body, *end, *p, *q;
	size_t dlen;
	char delim[120];

	memset(n, 0, sizeof(*n));
	ck_assert_msg(dsn_compose(in, &n->msg, &n->len) == 0, "compose: %s",
	    err_msg());
	ck_assert_uint_eq(strlen(n->msg), n->len);
	check_lines(n->msg, n->len);
	n->hdrlen = mime_header_end((const uint8_t *)n->msg, n->len);
	ck_assert_msg(mime_header_get((const uint8_t *)n->msg, n->hdrlen,
	    "Content-Type", ct, sizeof(ct)) == 1, "has a Content-Type");
	mime_content_type(ct, type, sizeof(type), n->boundary,
	    sizeof(n->boundary));
	ck_assert_str_eq(type, "multipart/report");
	ck_assert_msg(strstr(ct, "report-type=delivery-status") != NULL,
	    "report-type: %s", ct);
	ck_assert_msg(n->boundary[0] != '\0', "a boundary");
	snprintf(delim, sizeof(delim), "\r\n--%s", n->boundary);
	dlen = strlen(delim);
	body = n->msg + n->hdrlen - 2;	/* from the CRLF before the body */
	end = n->msg + n->len;
	p = memmem(body, (size_t)(end - body), delim, dlen);
	ck_assert_ptr_nonnull(p);
	for (;;) {
		p += dlen;
		if (p + 2 <= end && p[0] == '-' && p[1] == '-')
			break;	/* close delimiter */
		ck_assert_msg(p + 2 <= end && p[0] == '\r' && p[1] == '\n',
		    "delimiter line ends there");
		p += 2;
		q = memmem(p, (size_t)(end - p), delim, dlen);
		ck_assert_msg(q != NULL, "part %zu is closed", n->nparts);
		ck_assert_uint_lt(n->nparts, 8);
		n->parts[n->nparts].p = p;
		n->parts[n->nparts].len = (size_t)(q - p);
		n->parts[n->nparts].hdrlen = mime_header_end(
		    (const uint8_t *)p, (size_t)(q - p));
		n->nparts++;
		p = q;
	}
}

static void
part_type(const struct notice *n, size_t i, const char *want)
{
	char ct[200], type[100], b[100];

	ck_assert_uint_lt(i, n->nparts);
	ck_assert_msg(mime_header_get((const uint8_t *)n->parts[i].p,
	    n->parts[i].hdrlen, "Content-Type", ct, sizeof(ct)) == 1,
	    "part %zu has a Content-Type", i);
	mime_content_type(ct, type, sizeof(type), b, sizeof(b));
	ck_assert_msg(strcmp(type, want) == 0, "part %zu is %s, wanted %s", i,
	    type, want);
}

static void
top_field(const struct notice *n, const char *name, const char *want)
{
	char v[400];

	ck_assert_msg(mime_header_get((const uint8_t *)n->msg, n->hdrlen,
	    name, v, sizeof(v)) == 1, "has %s", name);
	ck_assert_msg(strcmp(v, want) == 0, "%s: \"%s\", wanted \"%s\"", name,
	    v, want);
}

/*
 * The field of group g (0: per-message, 1..: recipients) of the
 * delivery-status part into v; 1 found, 0 not.
 */
static int
status_field(const struct notice *n, size_t g, const char *name, char *v,
    size_t vsize)
{
	const struct part *pt = &n->parts[1];
	const char *p = pt->p + pt->hdrlen, *end = pt->p + pt->len, *q;
	size_t i;

	for (i = 0; i < g; i++) {
		q = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (q == NULL)
			return 0;
		p = q + 4;
	}
	q = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
	return mime_header_get((const uint8_t *)p, (size_t)((q != NULL ? q + 4 :
	    end) - p), name, v, vsize);
}

static void
sfield(const struct notice *n, size_t g, const char *name, const char *want)
{
	char v[1200];

	ck_assert_msg(status_field(n, g, name, v, sizeof(v)) == 1,
	    "group %zu has %s", g, name);
	ck_assert_msg(strcmp(v, want) == 0, "group %zu %s: \"%s\", wanted "
	    "\"%s\"", g, name, v, want);
}

static int
part_has(const struct notice *n, size_t i, const char *s)
{
	return memmem(n->parts[i].p, n->parts[i].len, s, strlen(s)) != NULL;
}

START_TEST(test_failure_full)
{
	struct dsn_input in;
	struct dsn_rcpt r[2];
	struct notice n;
	char v[200];

	rcpt_fail(&r[0]);
	r[0].orcpt = "rfc822;bob+2Bold@remote.test";
	memset(&r[1], 0, sizeof(r[1]));
	r[1].addr = "carol@far.test";
	r[1].action = DSN_FAILED;
	r[1].reply = "451 4.4.1 connection timed out";
	r[1].last_attempt = T0 - 30;
	input_init(&in, r, 2);
	compose(&in, &n);

	top_field(&n, "From", "Mail Delivery System <MAILER-DAEMON@"
	    "mx.vellum.test>");
	top_field(&n, "To", "<alice@origin.test>");
	top_field(&n, "Subject", "Undelivered Mail Returned to Sender");
	top_field(&n, "Date", "Tue, 01 Dec 2026 12:00:00 +0000");
	top_field(&n, "Message-ID", "<20261201120000.1111222233334444@"
	    "mx.vellum.test>");
	top_field(&n, "Auto-Submitted", "auto-replied");
	top_field(&n, "MIME-Version", "1.0");

	ck_assert_uint_eq(n.nparts, 3);
	part_type(&n, 0, "text/plain");
	part_type(&n, 1, "message/delivery-status");
	part_type(&n, 2, "message/rfc822");
	/* the text: addresses, plain words, the reply verbatim */
	ck_assert(part_has(&n, 0, "<bob@remote.test>"));
	ck_assert(part_has(&n, 0, "does not exist there (unknown user)"));
	ck_assert(part_has(&n, 0, "The mail server mx.remote.test said:"));
	ck_assert(part_has(&n, 0, "550 5.1.1 <bob@remote.test>: Recipient "
	    "address rejected"));
	ck_assert(part_has(&n, 0, "<carol@far.test>"));
	ck_assert(part_has(&n, 0, "could not be reached"));
	ck_assert(part_has(&n, 0, "gave up after trying for 4 days"));
	/* the report */
	sfield(&n, 0, "Reporting-MTA", "dns; mx.vellum.test");
	sfield(&n, 0, "Original-Envelope-Id", "ENV-42");
	sfield(&n, 0, "X-Vellum-Queue-ID", "00ABCDEF01234567");
	sfield(&n, 0, "Arrival-Date", "Thu, 26 Nov 2026 12:00:00 +0000");
	sfield(&n, 1, "Original-Recipient", "rfc822;bob+old@remote.test");
	sfield(&n, 1, "Final-Recipient", "rfc822; bob@remote.test");
	sfield(&n, 1, "Action", "failed");
	sfield(&n, 1, "Status", "5.1.1");
	sfield(&n, 1, "Remote-MTA", "dns; mx.remote.test");
	sfield(&n, 1, "Diagnostic-Code", "smtp; 550 5.1.1 <bob@remote.test>: "
	    "Recipient address rejected");
	sfield(&n, 1, "Last-Attempt-Date", "Tue, 01 Dec 2026 11:59:00 +0000");
	ck_assert_int_eq(status_field(&n, 1, "Will-Retry-Until", v,
	    sizeof(v)), 0);
	/* the second: a failure after temporary errors is 5.x.x */
	ck_assert_int_eq(status_field(&n, 2, "Original-Recipient", v,
	    sizeof(v)), 0);
	sfield(&n, 2, "Final-Recipient", "rfc822; carol@far.test");
	sfield(&n, 2, "Status", "5.4.1");
	sfield(&n, 2, "Diagnostic-Code", "smtp; 451 4.4.1 connection timed "
	    "out");
	ck_assert_int_eq(status_field(&n, 2, "Remote-MTA", v, sizeof(v)), 0);
	/* the whole original */
	ck_assert(part_has(&n, 2, "Subject: the original\r\n"));
	ck_assert(part_has(&n, 2, "BODY-MARKER\r\n"));
	free(n.msg);
}
END_TEST

START_TEST(test_ret_hdrs_and_success)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n;

	rcpt_fail(&r);
	input_init(&in, &r, 1);
	in.ret = DSN_RET_HDRS;
	compose(&in, &n);
	ck_assert_uint_eq(n.nparts, 3);
	part_type(&n, 2, "text/rfc822-headers");
	ck_assert(part_has(&n, 2, "Subject: the original\r\n"));
	ck_assert(!part_has(&n, 2, "BODY-MARKER"));
	free(n.msg);

	/* RET=FULL: the body is there */
	in.ret = DSN_RET_FULL;
	compose(&in, &n);
	part_type(&n, 2, "message/rfc822");
	ck_assert(part_has(&n, 2, "BODY-MARKER"));
	free(n.msg);

	/* success: headers only, whatever RET says */
	r.action = DSN_DELIVERED;
	r.reply = NULL;
	r.remote_mta = NULL;
	compose(&in, &n);
	top_field(&n, "Subject", "Successful Mail Delivery Report");
	part_type(&n, 2, "text/rfc822-headers");
	ck_assert(!part_has(&n, 2, "BODY-MARKER"));
	sfield(&n, 1, "Action", "delivered");
	sfield(&n, 1, "Status", "2.0.0");
	free(n.msg);

	/* relayed: says where, headers only */
	r.action = DSN_RELAYED;
	r.remote_mta = "old.remote.test";
	r.reply = "250 2.0.0 Ok: queued as 123";
	compose(&in, &n);
	top_field(&n, "Subject", "Successful Mail Delivery Report");
	sfield(&n, 1, "Action", "relayed");
	sfield(&n, 1, "Status", "2.0.0");
	ck_assert(part_has(&n, 0, "handed to old.remote.test"));
	part_type(&n, 2, "text/rfc822-headers");
	free(n.msg);

	/* no original at all: two parts */
	in.msglen = 0;
	compose(&in, &n);
	ck_assert_uint_eq(n.nparts, 2);
	free(n.msg);
}
END_TEST

START_TEST(test_delay)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n;

	rcpt_fail(&r);
	r.action = DSN_DELAYED;
	r.reply = "452 4.2.2 <bob@remote.test>: Mailbox full";
	r.retry_until = T0 + 2 * 86400;
	input_init(&in, &r, 1);
	compose(&in, &n);
	top_field(&n, "Subject", "Delayed Mail (still being retried)");
	sfield(&n, 1, "Action", "delayed");
	sfield(&n, 1, "Status", "4.2.2");
	sfield(&n, 1, "Will-Retry-Until", "Thu, 03 Dec 2026 12:00:00 +0000");
	ck_assert(part_has(&n, 0, "warning only"));
	ck_assert(part_has(&n, 0, "for 5 days"));
	ck_assert(part_has(&n, 0, "mailbox is full"));
	ck_assert(part_has(&n, 0, "retried until Thu, 03 Dec 2026"));
	free(n.msg);

	/* a failed recipient among delayed ones makes it a bounce */
	{
		struct dsn_rcpt two[2];

		two[0] = r;
		rcpt_fail(&two[1]);
		ck_assert_int_eq(dsn_kind(two, 2), DSN_FAILED);
		ck_assert_int_eq(dsn_kind(two, 1), DSN_DELAYED);
	}
}
END_TEST

START_TEST(test_size_cut)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n;
	size_t big = DSN_RETURN_MAX + 10;
	char *m = malloc(big);

	memcpy(m, orig, sizeof(orig) - 1);
	memset(m + sizeof(orig) - 1, 'x', big - (sizeof(orig) - 1));
	for (size_t i = sizeof(orig) + 98; i + 1 < big; i += 100) {
		m[i] = '\r';
		m[i + 1] = '\n';
	}
	m[big - 2] = '\r';
	m[big - 1] = '\n';
	rcpt_fail(&r);
	input_init(&in, &r, 1);
	in.ret = DSN_RET_FULL;
	in.msg = m;
	in.msglen = big;
	compose(&in, &n);
	part_type(&n, 2, "text/rfc822-headers");
	ck_assert(part_has(&n, 2, "Subject: the original"));
	ck_assert(!part_has(&n, 2, "xxxx"));
	ck_assert(part_has(&n, 0, "larger than 1048576 bytes"));
	ck_assert_uint_lt(n.len, 20000);
	free(n.msg);
	/* exactly at the limit: returned whole */
	in.msglen = DSN_RETURN_MAX;
	m[DSN_RETURN_MAX - 2] = '\r';
	m[DSN_RETURN_MAX - 1] = '\n';
	compose(&in, &n);
	part_type(&n, 2, "message/rfc822");
	ck_assert(part_has(&n, 2, "xxxx"));
	free(n.msg);
	free(m);
}
END_TEST

/* Lines over 998 octets: the body is not returned, a header is folded. */
START_TEST(test_long_lines)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n;
	char *m = malloc(6000);

	snprintf(m, 6000, "Subject: long\r\nX-Long: %02000d\r\n\r\n%03000d"
	    "\r\n", 7, 9);
	rcpt_fail(&r);
	input_init(&in, &r, 1);
	in.msg = m;
	in.msglen = strlen(m);
	compose(&in, &n);	/* checks every line <= 998 */
	part_type(&n, 2, "text/rfc822-headers");
	ck_assert(part_has(&n, 0, "lines longer than mail allows"));
	ck_assert(part_has(&n, 2, "X-Long: 0000"));
	ck_assert(!part_has(&n, 2, "09\r\n"));
	ck_assert(part_has(&n, 2, "07\r\n"));
	free(n.msg);
	free(m);
}
END_TEST

START_TEST(test_boundary_not_in_parts)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n, n2;
	char *m;

	rcpt_fail(&r);
	input_init(&in, &r, 1);
	compose(&in, &n);
	/* an original holding the boundary the notice would use */
	m = malloc(sizeof(orig) + 400);
	snprintf(m, sizeof(orig) + 400, "%s--%s\r\n--%s--\r\n"
	    "Content-Type: text/plain\r\n", orig, n.boundary, n.boundary);
	in.msg = m;
	in.msglen = strlen(m);
	compose(&in, &n2);
	ck_assert_msg(strcmp(n.boundary, n2.boundary) != 0, "boundary %s "
	    "changed", n2.boundary);
	ck_assert_uint_eq(n2.nparts, 3);
	ck_assert(part_has(&n2, 2, n.boundary));
	ck_assert(part_has(&n2, 2, "BODY-MARKER"));
	free(n.msg);
	free(n2.msg);
	free(m);
}
END_TEST

START_TEST(test_hostile_reply)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n, plain;
	char v[1200];
	char *longr;
	size_t i;

	rcpt_fail(&r);
	input_init(&in, &r, 1);
	compose(&in, &plain);
	/* CR/LF, a boundary line, header lines, 8-bit bytes, controls */
	r.reply = "550-5.1.1 first\r\n550 5.1.1 second\r\n\r\n--";
	r.remote_mta = "mx\r\nX-Injected: yes";
	r.orcpt = "rfc822;a+0D+0AX-Injected:+20yes";
	r.addr = "bob@remote.test\r\nX-Injected: yes";
	in.envid = "E\r\nX-Injected: yes";
	in.sender = "alice@origin.test>\r\nBcc: <evil@x.test";
	compose(&in, &n);
	ck_assert_uint_eq(n.nparts, 3);
	ck_assert_msg(memmem(n.msg, n.len, "\r\nX-Injected", 12) == NULL,
	    "no injected field");
	ck_assert_msg(memmem(n.msg, n.len, "\r\nBcc", 5) == NULL,
	    "no injected Bcc");
	ck_assert_msg(memmem(n.parts[1].p, n.parts[1].len, "\r\n--\r\n", 6) ==
	    NULL, "no stray delimiter");
	sfield(&n, 1, "Diagnostic-Code", "smtp; 550-5.1.1 first 550 5.1.1 "
	    "second --");
	/* the ORCPT that decodes to a line break stays encoded */
	sfield(&n, 1, "Original-Recipient", "rfc822;a+0D+0AX-Injected:+20yes");
	free(n.msg);

	/* 8-bit and NUL-free controls in the reply: the 7-bit parts stay so */
	r.reply = "550 5.7.1 spam \xff\xfe\x01\x1b[31m blocked";
	r.remote_mta = "mx.remote.test";
	r.addr = "bob@remote.test";
	in.sender = "alice@origin.test";
	in.envid = NULL;
	compose(&in, &n);
	for (i = 0; i < 2; i++) {
		size_t k;

		for (k = 0; k < n.parts[i].len; k++)
			ck_assert_msg((unsigned char)n.parts[i].p[k] < 0x80 &&
			    ((unsigned char)n.parts[i].p[k] >= 0x20 ||
			    n.parts[i].p[k] == '\r' || n.parts[i].p[k] == '\n'),
			    "part %zu byte %zu is 0x%02x", i, k,
			    (unsigned char)n.parts[i].p[k]);
	}
	ck_assert(part_has(&n, 0, "as spam"));
	ck_assert_int_eq(status_field(&n, 0, "Original-Envelope-Id", v,
	    sizeof(v)), 0);
	free(n.msg);

	/* a very long reply without spaces: folded, lines <= 998 */
	longr = malloc(3000);
	memcpy(longr, "550 ", 4);
	memset(longr + 4, 'z', 2995);
	longr[2999] = '\0';
	r.reply = longr;
	compose(&in, &n);
	ck_assert_uint_eq(n.nparts, 3);
	ck_assert_int_eq(status_field(&n, 1, "Diagnostic-Code", v, sizeof(v)),
	    1);
	ck_assert_msg(strncmp(v, "smtp; 550 zzz", 13) == 0, "got %.40s", v);
	sfield(&n, 1, "Status", "5.0.0");
	free(n.msg);
	free(longr);
	free(plain.msg);
}
END_TEST

START_TEST(test_eightbit_original)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n;
	static const char m8[] = "From: J\xc3\xbcrgen <j@origin.test>\r\n"
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\nbody\n";
	char v[100];

	rcpt_fail(&r);
	input_init(&in, &r, 1);
	in.msg = m8;
	in.msglen = sizeof(m8) - 1;
	compose(&in, &n);
	part_type(&n, 2, "message/rfc822");
	ck_assert_int_eq(mime_header_get((const uint8_t *)n.parts[2].p,
	    n.parts[2].hdrlen, "Content-Transfer-Encoding", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "8bit");
	ck_assert(part_has(&n, 2, "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"));
	/* the bare LF of the original became CRLF (check_lines passed) */
	ck_assert(part_has(&n, 2, "body\r\n"));
	ck_assert(part_has(&n, 0, "8-bit"));
	free(n.msg);
}
END_TEST

START_TEST(test_explain_and_status)
{
	struct dsn_input in;
	struct dsn_rcpt r;
	struct notice n;

	ck_assert(strstr(dsn_explain("5.1.1", NULL), "unknown user"));
	ck_assert(strstr(dsn_explain("5.2.2", NULL), "mailbox is full"));
	ck_assert(strstr(dsn_explain("5.3.4", NULL), "larger"));
	ck_assert(strstr(dsn_explain("5.7.1", "550 5.7.1 spam detected"),
	    "spam"));
	ck_assert(strstr(dsn_explain("5.7.1", "550 5.7.1 not allowed"),
	    "policy"));
	ck_assert(strstr(dsn_explain("5.1.2", NULL), "no mail server"));
	ck_assert(strstr(dsn_explain("5.1.10", NULL), "null MX"));
	ck_assert(strstr(dsn_explain("5.4.1", NULL), "could not be reached"));
	ck_assert(strstr(dsn_explain("5.7.10", NULL), "TLS"));
	ck_assert(strstr(dsn_explain("4.0.0", "421 try later"), "temporary"));
	ck_assert(strstr(dsn_explain("5.0.0", "554 no"), "refused"));
	/* the code wins over words in the reply */
	ck_assert(strstr(dsn_explain("5.4.7", "554 5.4.7 expired; the last "
	    "attempt said: 421 blocked for now"), "time allowed"));
	ck_assert(strstr(dsn_explain("5.0.0", "550 sorry, user unknown"),
	    "unknown user"));
	ck_assert(strstr(dsn_explain("5.7.1", "550 Host not found"),
	    "no mail server"));

	/* a given status wins; a basic reply code gives x.0.0 */
	rcpt_fail(&r);
	r.status = "5.7.10";
	r.reply = "Encryption required but the server did not offer STARTTLS";
	input_init(&in, &r, 1);
	compose(&in, &n);
	sfield(&n, 1, "Status", "5.7.10");
	sfield(&n, 1, "Diagnostic-Code", "X-Vellum; Encryption required but "
	    "the server did not offer STARTTLS");
	ck_assert(part_has(&n, 0, "TLS"));
	free(n.msg);
	r.status = NULL;
	r.reply = "554 go away";
	compose(&in, &n);
	sfield(&n, 1, "Status", "5.0.0");
	free(n.msg);
	/* bad inputs */
	in.nrcpts = 0;
	{
		char *m;
		size_t len;

		ck_assert_int_eq(dsn_compose(&in, &m, &len), -1);
		in.nrcpts = 1;
		in.hostname = "";
		ck_assert_int_eq(dsn_compose(&in, &m, &len), -1);
		ck_assert_int_eq(err_class(), ERR_INVALID);
	}
}
END_TEST

static Suite *
dsn_suite(void)
{
	Suite *s = suite_create("deliver_dsn");
	TCase *tc = tcase_create("dsn");

	tcase_add_test(tc, test_failure_full);
	tcase_add_test(tc, test_ret_hdrs_and_success);
	tcase_add_test(tc, test_delay);
	tcase_add_test(tc, test_size_cut);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_boundary_not_in_parts);
	tcase_add_test(tc, test_hostile_reply);
	tcase_add_test(tc, test_eightbit_original);
	tcase_add_test(tc, test_explain_and_status);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(dsn_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
