/*
 * fuzz_smtp.c - the SMTP input parsers (smtpd/parse.c) on any bytes.
 *
 * Commands: each line of the input goes through smtp_parse_line(), and
 * its arguments (or the whole line) through the MAIL, RCPT, BDAT and path
 * parsers; what they accept must be well formed and parse back the same.
 *
 * DATA: the input as the stream after DATA.  A reference decoder written
 * here from RFC 5321 4.5.2 (the end is the first CRLF "." CRLF and nothing
 * else; a dot that starts a line is dropped; CR without LF and LF without
 * CR are flagged) says what the message, the flags and the bytes used must
 * be; smtp_data_feed() must give exactly that whether the stream comes in
 * one piece, a byte at a time, in random-sized pieces, or line by line
 * through the session's line reader (common/lineread.c, CRLF only), with
 * an unlimited and a small size limit.
 */
#include <string.h>
#include <strings.h>

#include "common/lineread.h"
#include "smtpd/parse.h"

#include "fuzz.h"

/* Lines of the input tried as commands. */
#define FUZZ_LINES_MAX	64

struct fuzz_data {
	char		*out;		/* message bytes written */
	size_t		 outlen;
	uint64_t	 size;
	int		 toobig, bare_cr, bare_lf, done;
	size_t		 used;		/* input bytes taken */
};

static void	fuzz_args(const char *);
static void	fuzz_addr(const char *, int, const char *);
static void	fuzz_line(const char *, size_t);
static void	fuzz_reference(const char *, size_t, uint64_t,
		    struct fuzz_data *);
static void	fuzz_feed(const char *, size_t, uint64_t, int, uint64_t,
		    struct fuzz_data *);
static void	fuzz_session(const char *, size_t, uint64_t, uint64_t);
static void	fuzz_compare(const struct fuzz_data *,
		    const struct fuzz_data *, const char *, uint64_t);
static uint64_t	fuzz_rand(uint64_t *);

/* xorshift64*: chunk sizes that depend on the input only. */
static uint64_t
fuzz_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* An address a parser accepted: shape, UTF-8 flag, parses back the same. */
static void
fuzz_addr(const char *addr, int utf8, const char *prefix)
{
	struct smtp_path_args b;
	char line[SMTP_PATH_MAX + 16];
	const unsigned char *p;
	int rc;

	FUZZ_CHECK(strlen(addr) <= SMTP_PATH_MAX, "address of %zu octets",
	    strlen(addr));
	for (p = (const unsigned char *)addr; *p != '\0'; p++)
		FUZZ_CHECK(*p < 0x80 || utf8, "\"%s\": 8-bit, not flagged",
		    addr);
	FUZZ_CHECK(addr[0] == '\0' || strchr(addr, '@') != NULL,
	    "\"%s\" has no @", addr);
	snprintf(line, sizeof(line), "%s<%s>", prefix, addr);
	if (strcmp(prefix, "FROM:") == 0)
		rc = smtp_parse_mail(line, &b);
	else
		rc = smtp_parse_rcpt(line, &b);
	FUZZ_CHECK(rc == 0 && strcmp(b.addr, addr) == 0 && b.utf8 == utf8,
	    "\"%s\" parsed as rc %d \"%s\" utf8 %d", line, rc, b.addr,
	    b.utf8);
}

/* The argument parsers on one NUL-terminated string. */
static void
fuzz_args(const char *s)
{
	struct smtp_path_args a;
	char addr[SMTP_PATH_MAX + 1], num[32];
	const char *end;
	uint64_t n, n2;
	int rc, last, last2, utf8;

	rc = smtp_parse_mail(s, &a);
	FUZZ_CHECK(rc == 0 || rc == -1, "mail rc %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(a.perr == SMTP_PERR_NONE, "perr %d", a.perr);
		FUZZ_CHECK(a.body == SMTP_BODY_NONE || a.body ==
		    SMTP_BODY_7BIT || a.body == SMTP_BODY_8BITMIME, "body %d",
		    a.body);
		FUZZ_CHECK(strlen(a.auth) <= SMTP_AUTHPARAM_MAX, "auth");
		FUZZ_CHECK(a.ret == SMTP_RET_NONE || a.ret == SMTP_RET_FULL ||
		    a.ret == SMTP_RET_HDRS, "ret %d", a.ret);
		FUZZ_CHECK(strlen(a.envid) <= SMTP_ENVID_MAX &&
		    smtp_xtext_valid(a.envid, strlen(a.envid)),
		    "envid \"%s\"", a.envid);
		FUZZ_CHECK(!a.postmaster, "postmaster from MAIL");
		fuzz_addr(a.addr, a.utf8, "FROM:");
	} else if (a.perr == SMTP_PERR_DOMAIN)
		/* a good local part, no or a bad domain: kept for the reply */
		FUZZ_CHECK(a.addr[0] != '\0' && strcspn(a.addr, "\r\n") ==
		    strlen(a.addr), "mail bad-domain address \"%s\"", a.addr);
	else
		FUZZ_CHECK(a.perr == SMTP_PERR_SYNTAX || a.perr ==
		    SMTP_PERR_PATH || a.perr == SMTP_PERR_PARAM || a.perr ==
		    SMTP_PERR_VALUE, "mail perr %d", a.perr);

	rc = smtp_parse_rcpt(s, &a);
	FUZZ_CHECK(rc == 0 || rc == -1, "rcpt rc %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(a.perr == SMTP_PERR_NONE, "perr %d", a.perr);
		FUZZ_CHECK(a.notify == 0 || a.notify == SMTP_NOTIFY_NEVER ||
		    (a.notify & ~(SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
		    SMTP_NOTIFY_DELAY)) == 0, "notify %#x", a.notify);
		FUZZ_CHECK(strlen(a.orcpt) <= SMTP_ORCPT_MAX && (a.orcpt[0] ==
		    '\0' || (strchr(a.orcpt, ';') != NULL &&
		    smtp_xtext_valid(strchr(a.orcpt, ';') + 1,
		    strlen(strchr(a.orcpt, ';') + 1)))), "orcpt \"%s\"",
		    a.orcpt);
		if (a.postmaster)
			FUZZ_CHECK(strcmp(a.addr, "postmaster") == 0,
			    "postmaster as \"%s\"", a.addr);
		else {
			FUZZ_CHECK(a.addr[0] != '\0', "empty recipient");
			fuzz_addr(a.addr, a.utf8, "TO:");
		}
	} else
		FUZZ_CHECK(a.perr == SMTP_PERR_SYNTAX || a.perr ==
		    SMTP_PERR_PATH || a.perr == SMTP_PERR_PARAM || a.perr ==
		    SMTP_PERR_VALUE, "rcpt perr %d", a.perr);

	rc = smtp_parse_bdat(s, &n, &last);
	FUZZ_CHECK(rc == 0 || rc == -1, "bdat rc %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(last == 0 || last == 1, "last %d", last);
		snprintf(num, sizeof(num), "%llu%s", (unsigned long long)n,
		    last ? " LAST" : "");
		FUZZ_CHECK(smtp_parse_bdat(num, &n2, &last2) == 0 && n2 == n &&
		    last2 == last, "BDAT \"%s\" does not parse back", num);
	}

	rc = smtp_parse_path(s, 1, addr, sizeof(addr), &utf8, &end);
	FUZZ_CHECK(rc == 0 || rc == -1, "path rc %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(s[0] == '<' && end > s && end <= s + strlen(s) &&
		    end[-1] == '>', "path end at %td of \"%s\"", end - s, s);
		FUZZ_CHECK(strlen(addr) <= SMTP_PATH_MAX, "path length");
	}
}

/* One command line (without its line end). */
static void
fuzz_line(const char *line, size_t len)
{
	static struct smtp_cmd cmd;
	char copy[SMTP_LINE_MAX + 2];
	size_t vlen, k, sp;
	int rc;

	rc = smtp_parse_line(line, len, &cmd);
	FUZZ_CHECK(rc == 0 || rc == -1, "line rc %d", rc);
	if (len > SMTP_LINE_MAX || memchr(line, '\0', len) != NULL ||
	    len == 0)
		FUZZ_CHECK(rc == -1, "a line of %zu bytes (NUL or too long) "
		    "accepted", len);
	if (rc == 0) {
		vlen = strlen(cmd.verb);
		FUZZ_CHECK(vlen >= 1 && vlen <= SMTP_VERB_MAX &&
		    strspn(cmd.verb, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == vlen,
		    "verb \"%s\"", cmd.verb);
		FUZZ_CHECK(strncasecmp(line, cmd.verb, vlen) == 0 &&
		    (vlen == len || line[vlen] == ' '), "verb \"%s\" of "
		    "\"%.*s\"", cmd.verb, (int)len, line);
		FUZZ_CHECK(cmd.args >= cmd.line + vlen && cmd.args <=
		    cmd.line + len && cmd.args[0] != ' ', "args");
		k = (size_t)(cmd.args - cmd.line);
		for (sp = vlen; sp < len && line[sp] == ' '; sp++)
			;
		FUZZ_CHECK(sp == k && memcmp(cmd.args, line + k, len - k) == 0 &&
		    cmd.args[len - k] == '\0', "args \"%s\"", cmd.args);
		fuzz_args(cmd.args);
	} else if (len <= SMTP_LINE_MAX) {
		memcpy(copy, line, len);
		copy[len] = '\0';
		fuzz_args(copy);
	}
}

/* RFC 5321 4.5.2, over the whole input at once. */
static void
fuzz_reference(const char *in, size_t len, uint64_t max,
    struct fuzz_data *r)
{
	size_t e, end, held, ls, i;
	int bol;
	char c;

	memset(r, 0, sizeof(*r));
	r->out = malloc(len + 1);
	FUZZ_CHECK(r->out != NULL, "out of memory");
	/* The end: "." CRLF at the start or right after a CRLF. */
	for (e = 0; e + 3 <= len; e++)
		if (in[e] == '.' && in[e + 1] == '\r' && in[e + 2] == '\n' &&
		    (e == 0 || (e >= 2 && in[e - 2] == '\r' &&
		    in[e - 1] == '\n')))
			break;
	if (e + 3 <= len) {
		r->done = 1;
		r->used = e + 3;
		end = e;
	} else {
		/* Not over: the bytes that may still become an end wait. */
		r->used = len;
		for (ls = len; ls >= 2 && !(in[ls - 2] == '\r' &&
		    in[ls - 1] == '\n'); ls--)
			;
		if (ls < 2)
			ls = 0;
		held = 0;
		if (len - ls == 1 && in[ls] == '.')
			held = 1;
		else if (len - ls == 2 && in[ls] == '.' && in[ls + 1] == '\r')
			held = 2;
		else if (len > 0 && in[len - 1] == '\r')
			held = 1;
		end = len - held;
	}
	for (i = 0, bol = 1; i < end; i++) {
		c = in[i];
		if (bol && c == '.') {
			bol = 0;
			continue;
		}
		bol = 0;
		if (c == '\r' && i + 1 < end && in[i + 1] == '\n') {
			r->size += 2;
			if (r->size <= max) {
				r->out[r->outlen++] = '\r';
				r->out[r->outlen++] = '\n';
			} else if (r->size == max + 1)
				r->out[r->outlen++] = '\r';
			i++;
			bol = 1;
			continue;
		}
		if (c == '\r')
			r->bare_cr = 1;
		if (c == '\n')
			r->bare_lf = 1;
		r->size++;
		if (r->size <= max)
			r->out[r->outlen++] = c;
	}
	r->toobig = r->size > max;
}

/*
 * smtp_data_feed() over in: mode 0 whole, 1 byte by byte, 2 random
 * pieces of 1-16 bytes, 3 random pieces of any size.
 */
static void
fuzz_feed(const char *in, size_t len, uint64_t max, int mode, uint64_t seed,
    struct fuzz_data *r)
{
	struct smtp_data d;
	size_t pos = 0, n, olen, used;
	char *o;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->out = malloc(len + 1);
	FUZZ_CHECK(r->out != NULL, "out of memory");
	smtp_data_init(&d, max);
	while (pos < len && rc == 0) {
		if (mode == 0)
			n = len;
		else if (mode == 1)
			n = 1;
		else if (mode == 2)
			n = 1 + fuzz_rand(&seed) % 16;
		else
			n = 1 + fuzz_rand(&seed) % len;
		if (n > len - pos)
			n = len - pos;
		/* Exactly the room the contract promises, so ASan sees more. */
		o = malloc(SMTP_DATA_OUT_MAX(n));
		FUZZ_CHECK(o != NULL, "out of memory");
		rc = smtp_data_feed(&d, in + pos, n, o, &olen, &used);
		FUZZ_CHECK(rc == 0 || rc == 1, "feed rc %d", rc);
		FUZZ_CHECK(used <= n && (rc == 1 || used == n), "used %zu of "
		    "%zu, rc %d", used, n, rc);
		FUZZ_CHECK(olen <= SMTP_DATA_OUT_MAX(n) && r->outlen + olen <=
		    len, "output %zu for %zu in", olen, n);
		memcpy(r->out + r->outlen, o, olen);
		free(o);
		r->outlen += olen;
		pos += used;
	}
	FUZZ_CHECK(rc == d.done, "rc %d, done %d", rc, d.done);
	r->done = d.done;
	r->used = pos;
	r->size = d.size;
	r->toobig = d.toobig;
	r->bare_cr = d.bare_cr;
	r->bare_lf = d.bare_lf;
}

static void
fuzz_compare(const struct fuzz_data *want, const struct fuzz_data *got,
    const char *how, uint64_t max)
{
	FUZZ_CHECK(got->done == want->done && got->used == want->used,
	    "%s, max %llu: done %d after %zu bytes; the reference: done %d "
	    "after %zu", how, (unsigned long long)max, got->done, got->used,
	    want->done, want->used);
	FUZZ_CHECK(got->size == want->size && got->toobig == want->toobig,
	    "%s, max %llu: size %llu toobig %d; the reference: %llu %d", how,
	    (unsigned long long)max, (unsigned long long)got->size,
	    got->toobig, (unsigned long long)want->size, want->toobig);
	FUZZ_CHECK(got->bare_cr == want->bare_cr && got->bare_lf ==
	    want->bare_lf, "%s, max %llu: bare CR %d LF %d; the reference: "
	    "%d %d", how, (unsigned long long)max, got->bare_cr, got->bare_lf,
	    want->bare_cr, want->bare_lf);
	FUZZ_CHECK(got->outlen == want->outlen && memcmp(got->out, want->out,
	    want->outlen) == 0, "%s, max %llu: %zu message bytes, the "
	    "reference %zu (or they differ)", how, (unsigned long long)max,
	    got->outlen, want->outlen);
}

/*
 * What the session does: the conn's line reader (CRLF lines) hands over
 * lines; each goes to the decoder followed by CRLF.  The result must be
 * the reference's for the bytes the line reader consumed.
 */
static void
fuzz_session(const char *in, size_t len, uint64_t max, uint64_t seed)
{
	struct lineread lr;
	struct smtp_data d;
	struct fuzz_data want, got;
	char *buf, *o;
	size_t have = 0, pos = 0, took = 0, n, consumed, linelen, olen, used;
	enum lineread_result lrr;
	int rc = 0;

	buf = malloc(len + 1);
	memset(&got, 0, sizeof(got));
	got.out = malloc(len + 1);
	FUZZ_CHECK(buf != NULL && got.out != NULL, "out of memory");
	lineread_init(&lr, SMTP_DATA_LINE_MAX, 0);
	smtp_data_init(&d, max);
	while (pos < len && rc == 0) {
		n = 1 + fuzz_rand(&seed) % 64;
		if (n > len - pos)
			n = len - pos;
		memcpy(buf + have, in + pos, n);
		have += n;
		pos += n;
		while (rc == 0) {
			lrr = lineread_next(&lr, buf, have, &consumed,
			    &linelen);
			FUZZ_CHECK(lrr != LINE_TOOLONG, "a line over %d bytes",
			    SMTP_DATA_LINE_MAX);
			FUZZ_CHECK(consumed <= have && linelen <= consumed,
			    "consumed %zu of %zu, line %zu", consumed, have,
			    linelen);
			if (lrr == LINE_OK) {
				o = malloc(SMTP_DATA_OUT_MAX(linelen) +
				    SMTP_DATA_OUT_MAX(2));
				FUZZ_CHECK(o != NULL, "out of memory");
				/* The line: never the end (no CRLF in it). */
				rc = smtp_data_feed(&d, buf, linelen, o, &olen,
				    &used);
				FUZZ_CHECK(rc == 0 && used == linelen, "the end "
				    "inside a line");
				memcpy(got.out + got.outlen, o, olen);
				got.outlen += olen;
				rc = smtp_data_feed(&d, "\r\n", 2, o, &olen,
				    &used);
				memcpy(got.out + got.outlen, o, olen);
				got.outlen += olen;
				free(o);
			}
			memmove(buf, buf + consumed, have - consumed);
			have -= consumed;
			took += consumed;
			if (lrr == LINE_NEED_MORE)
				break;
		}
	}
	got.done = d.done;
	got.used = took;
	got.size = d.size;
	got.toobig = d.toobig;
	got.bare_cr = d.bare_cr;
	got.bare_lf = d.bare_lf;
	/* The decoder saw in[0..took): the reference on those bytes. */
	fuzz_reference(in, took, max, &want);
	fuzz_compare(&want, &got, "line by line", max);
	free(want.out);
	/* And the end, if any, is the end of the whole input. */
	fuzz_reference(in, len, max, &want);
	FUZZ_CHECK(want.done == got.done && (!got.done || want.used == took),
	    "line by line: done %d after %zu; the whole input: done %d after "
	    "%zu", got.done, took, want.done, want.used);
	free(want.out);
	free(got.out);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct fuzz_data want, got;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, maxes[2];
	size_t i, start, n, lines = 0, nl = 0;
	int m, k;

	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3ULL;
	seed |= 1;

	/* Commands: the whole input as one line, then each line. */
	fuzz_line(in, size);
	for (i = 0, start = 0; i <= size && lines < FUZZ_LINES_MAX; i++) {
		if (i < size && in[i] != '\n')
			continue;
		n = i - start;
		if (n > 0 && in[start + n - 1] == '\r')
			n--;
		fuzz_line(in + start, n);
		start = i + 1;
		lines++;
	}
	for (i = 0; i < size; i++)
		nl += in[i] == '\n';
	FUZZ_CHECK(smtp_count_received(in, size) <= nl + 1, "more Received: "
	    "than lines");

	/* DATA. */
	maxes[0] = UINT64_MAX;
	maxes[1] = fuzz_rand(&seed) % (size + 1);
	for (k = 0; k < 2; k++) {
		fuzz_reference(in, size, maxes[k], &want);
		for (m = 0; m < 4; m++) {
			fuzz_feed(in, size, maxes[k], m, seed + (uint64_t)m,
			    &got);
			fuzz_compare(&want, &got, m == 0 ? "in one piece" :
			    m == 1 ? "byte by byte" : "in random pieces",
			    maxes[k]);
			free(got.out);
		}
		free(want.out);
		/* (Longer, the line reader rightly skips a line.) */
		if (size <= SMTP_DATA_LINE_MAX)
			fuzz_session(in, size, maxes[k], seed);
	}
	return 0;
}
