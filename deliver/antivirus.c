/*
 * antivirus.c - the inbound virus scan (private.h; [antivirus] in
 * vellum.conf(5)).
 *
 * Which mail: what an untrusted client sends on port 25 (job->inbound:
 * smtpd/acl.c decides, as for the other port 25 checks), unless its
 * whitelist entries exempt it from AV (job->acl_skip; the table is
 * store/acl.c's: a white ip, sender, domain or every recipient's entry
 * does, a white net does not).  Submission, LMTP (the MTA in front
 * scans), trusted networks and logged-in clients are not scanned: they
 * are the server's own users and hosts.
 *
 * Where: on the filter thread (deliver_filter_job()), before the
 * disclaimer and the filters, so clamd sees the message as the client
 * sent it and no user's program ever gets a virus; never on the loop and
 * never inside a transaction.  The verdict stays in the stage: a refused
 * job is answered without a commit (deliver_group_commit()), so nothing
 * of it is stored for any recipient.
 *
 * Nothing is silent: a virus is a 554 and a log line; clamd down, too
 * slow or in error is a 451 (on_error = tempfail: the client tries again
 * later, mail is not lost) or, with on_error = accept, delivery with
 * "X-Virus-Status: Unchecked (...)" and a log line; a message over
 * max_size is delivered unscanned with that header and a log line (a
 * 451 would refuse it on every retry until it bounced).  A scanned clean
 * message gets "X-Virus-Scanned" and "X-Virus-Status: Clean", as
 * clamav-milter writes them, so recipes written for it work, and a log
 * line too.
 *
 * The fields a scanned message came with under those names are taken
 * out first (deliver_strip()): only ours are there to believe.
 *
 * The headers go into each local copy's own prefix, after Return-Path
 * and Delivered-To (deliver.c, djob_target()): no copy of the message is
 * made, so a spooled message of megabytes stays out of memory, the rest
 * still dedups, and the stored size and quota count them as they count
 * Return-Path.  Forwarded and relayed copies leave as they came: the
 * headers say what happened here, to the mailboxes here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/acl.h"
#include "store/queue.h"
#include "clamav.h"
#include "private.h"

static void	av_header(const struct deliver_config *,
		    const struct deliver_job *, struct deliver_fjob *,
		    const char *);

/*
 * mime_field_drop: the fields this scan writes.  A sender's own
 * "X-Virus-Status: Clean" must not reach a filter or a reader next to
 * (or instead of) ours, as clamav-milter's "AddHeader Replace" does.
 */
static int
av_field(const char *f, size_t len, void *arg)
{
	(void)arg;
	return mime_field_is(f, len, "X-Virus-Status", NULL) ||
	    mime_field_is(f, len, "X-Virus-Scanned", NULL);
}

int
antivirus_wanted(const struct deliver_config *cf,
    const struct deliver_job *job)
{
	return cf != NULL && cf->clamd[0] != '\0' && job->inbound &&
	    !job->no_filter && (job->acl_skip & ACL_SKIP_AV) == 0;
}

/*
 * The header lines of each local copy: "X-Virus-Status: status" (and,
 * for "Clean", X-Virus-Scanned), with the message's own line ends.
 */
static void
av_header(const struct deliver_config *cf, const struct deliver_job *job,
    struct deliver_fjob *fj, const char *status)
{
	const char *eol = deliver_msg_eol(job->data, job->len);

	if (strcmp(status, "Clean") == 0)
		snprintf(fj->av_header, sizeof(fj->av_header),
		    "X-Virus-Scanned: ClamAV at %.100s%s"
		    "X-Virus-Status: Clean%s", cf->hostname != NULL ?
		    cf->hostname : "localhost", eol, eol);
	else
		snprintf(fj->av_header, sizeof(fj->av_header),
		    "X-Virus-Status: %s%s", status, eol);
}

void
antivirus_scan(const struct deliver_config *cf, struct deliver_job *job,
    struct deliver_fjob *fj)
{
	struct clam_conf cc;
	char id[STORE_QUEUE_ID_LEN + 1], name[CLAM_NAME_MAX + 1], why[256];
	const char *client = job->client != NULL ? job->client : "unknown";
	int found;

	fj->av_note[0] = fj->av_header[0] = '\0';
	if (!antivirus_wanted(cf, job))
		return;
	(void)deliver_strip(job, fj, av_field, NULL);
	store_queue_id_format(job->queue_id, id);
	if (job->len > cf->av_max_size) {
		snprintf(fj->av_note, sizeof(fj->av_note), "%s: antivirus: "
		    "message from <%s> client [%s] not scanned: %zu bytes, "
		    "over max_size (%zu); accepted with X-Virus-Status: "
		    "Unchecked", id, job->sender, client, job->len,
		    cf->av_max_size);
		av_header(cf, job, fj, "Unchecked (too large to scan)");
		return;
	}
	memset(&cc, 0, sizeof(cc));
	cc.addr = cf->clamd;
	cc.timeout_ms = (int)cf->clamd_timeout_ms;
	if (clam_scan(&cc, job->data, job->len, &found, name, sizeof(name),
	    why, sizeof(why)) != 1) {
		snprintf(fj->av_note, sizeof(fj->av_note), "%s: antivirus: "
		    "message from <%s> client [%s] not scanned (%s): %s", id,
		    job->sender, client, why, cf->av_accept ? "accepted with "
		    "X-Virus-Status: Unchecked (on_error = accept)" : "451 "
		    "(on_error = tempfail)");
		if (cf->av_accept) {
			av_header(cf, job, fj, "Unchecked (virus scanner not "
			    "available)");
			return;
		}
		fj->refuse_code = 451;
		snprintf(fj->refuse_text, sizeof(fj->refuse_text), "4.7.1 "
		    "Virus scan not available; try again later");
		return;
	}
	if (!found) {
		/* every verdict is logged: a clean one too */
		snprintf(fj->av_note, sizeof(fj->av_note), "%s: antivirus: "
		    "message from <%s> client [%s] scanned: clean", id,
		    job->sender, client);
		av_header(cf, job, fj, "Clean");
		return;
	}
	fj->refuse_code = 554;
	snprintf(fj->refuse_text, sizeof(fj->refuse_text), "5.7.1 Message "
	    "refused: virus found (%s)", name);
	snprintf(fj->av_note, sizeof(fj->av_note), "%s: antivirus: virus %s "
	    "found in message from <%s> client [%s]: refused (554)", id, name,
	    job->sender, client);
}
