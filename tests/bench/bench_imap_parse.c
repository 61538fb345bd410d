/*
 * bench_imap_parse.c - what parsing costs imapd per command, and that it
 * grows linearly with the command.
 *
 * usage: bench-imap-parse [seconds-per-figure]
 *
 * Prints one line per figure: commands/s and ns per command for the
 * commands real clients send most (Thunderbird's header FETCH, a STORE,
 * a Roundcube SORT, an ESEARCH, a LIST-EXTENDED), then ns per byte for
 * SEARCH commands of the same keys filling 4 KB, 64 KB and 1 MB
 * (IMAP_CMD_MAX) and for a 64 KB sequence set: equal ns/byte for the
 * three SEARCH sizes means linear time.  Pure code: no
 * store, no sockets.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmalloc.h"
#include "imapd/buf.h"
#include "imapd/parse.h"

static double	now(void);
static int	parse_once(const char *, size_t, char *);
static void	figure(const char *, const char *, size_t, double);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One command through imap_p_command() and its verb's parser. */
static int
parse_once(const char *cmd, size_t len, char *copy)
{
	struct imap_parser p;
	struct imap_seqset set;
	struct imap_fetch f;
	struct imap_store st;
	struct imap_search s;
	struct imap_sort so;
	struct imap_list l;
	char tag[IMAP_TAG_MAX + 1], verb[IMAP_VERB_MAX + 1];
	struct imap_str sub;
	int rc;

	memcpy(copy, cmd, len);
	imap_parser_init(&p, copy, len, 0);
	rc = imap_p_command(&p, tag, verb);
	if (rc == 0 && strcmp(verb, "UID") == 0) {
		rc = imap_p_sp(&p) == 0 && imap_p_atom(&p, &sub) == 0 ? 0 : -1;
		for (size_t i = 0; rc == 0 && i < sub.len && i < IMAP_VERB_MAX;
		    i++)
			verb[i] = (char)toupper((unsigned char)sub.s[i]);
		if (rc == 0)
			verb[sub.len < IMAP_VERB_MAX ? sub.len : IMAP_VERB_MAX] =
			    '\0';
	}
	if (rc == 0) {
		if (strcmp(verb, "FETCH") == 0 || strcmp(verb, "STORE") == 0)
			rc = imap_p_sp(&p) == 0 && imap_p_seqset(&p, &set) == 0 &&
			    (verb[0] == 'F' ? imap_p_fetch(&p, &f) :
			    imap_p_store(&p, &st)) == 0 ? 0 : -1;
		else if (strcmp(verb, "SEARCH") == 0)
			rc = imap_p_search(&p, &s);
		else if (strcmp(verb, "SORT") == 0)
			rc = imap_p_sort(&p, &so);
		else if (strcmp(verb, "LIST") == 0)
			rc = imap_p_list(&p, &l);
	}
	imap_parser_free(&p);
	return rc;
}

static void
figure(const char *name, const char *cmd, size_t len, double secs)
{
	char *copy = xmalloc(len);
	double t0, t;
	unsigned long n = 0;

	if (parse_once(cmd, len, copy) != 0) {
		printf("%-28s does not parse\n", name);
		free(copy);
		return;
	}
	t0 = now();
	do {
		for (int i = 0; i < 64; i++)
			(void)parse_once(cmd, len, copy);
		n += 64;
		t = now() - t0;
	} while (t < secs);
	printf("%-28s %8zu bytes  %12.0f cmds/s  %10.0f ns/cmd  %6.2f "
	    "ns/byte\n", name, len, (double)n / t, t * 1e9 / (double)n,
	    t * 1e9 / (double)n / (double)len);
	free(copy);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char	*name;
		const char	*cmd;
	} typical[] = {
		{ "FETCH headers (Thunderbird)", "12 UID fetch 1:* (UID "
		    "RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc "
		    "Bcc Subject Date Message-ID Priority X-Priority "
		    "References Newsgroups In-Reply-To Content-Type "
		    "Reply-To)])" },
		{ "FETCH flags (CONDSTORE)", "a UID FETCH 1:* (FLAGS) "
		    "(CHANGEDSINCE 12345)" },
		{ "STORE", "a UID STORE 4711 +FLAGS.SILENT (\\Seen $Label1)" },
		{ "SORT (Roundcube)", "A0005 UID SORT (REVERSE ARRIVAL) UTF-8 "
		    "ALL UNDELETED" },
		{ "SEARCH ESEARCH", "a UID SEARCH RETURN (MIN MAX COUNT) "
		    "CHARSET UTF-8 OR FROM \"joe\" SUBJECT \"report\" SINCE "
		    "1-Feb-2024 NOT DELETED" },
		{ "LIST-EXTENDED", "a LIST (SUBSCRIBED) \"\" \"*\" RETURN "
		    "(CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))" },
	};
	static const size_t sizes[] = { 4096, 64 * 1024, IMAP_CMD_MAX };
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	struct imap_buf b;
	size_t i, k;
	char name[64];

	if (secs <= 0)
		secs = 0.5;
	for (i = 0; i < sizeof(typical) / sizeof(typical[0]); i++)
		figure(typical[i].name, typical[i].cmd, strlen(typical[i].cmd),
		    secs);
	imap_buf_init(&b);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		/* SEARCH of keys of one shape (SUBJECT "1,100 bytes"), as
		 * many as fit: 3, 58, 943 (under IMAP_SEARCH_KEYS_MAX). */
		imap_buf_reset(&b);
		imap_buf_adds(&b, "a SEARCH");
		while (b.len + 1111 < sizes[k]) {
			imap_buf_adds(&b, " SUBJECT \"");
			for (i = 0; i < 1100; i++)
				imap_buf_add(&b, "abcdefghijklmnop" + i % 16, 1);
			imap_buf_adds(&b, "\"");
		}
		snprintf(name, sizeof(name), "SEARCH %zu KB", sizes[k] / 1024);
		figure(name, b.p, b.len, secs);
	}
	imap_buf_reset(&b);
	imap_buf_adds(&b, "a FETCH ");
	for (i = 1; b.len + 16 < 64 * 1024; i += 2)
		imap_buf_printf(&b, "%s%zu:%zu", i > 1 ? "," : "", i, i + 1);
	imap_buf_adds(&b, " FLAGS");
	figure("FETCH 64 KB sequence set", b.p, b.len, secs);
	imap_buf_free(&b);
	return 0;
}
