/*
 * private.h - what deliver.c (the commit) and stage.c (locks and
 * filters before it) share.  Not a public header.
 */
#ifndef VELLUM_DELIVER_PRIVATE_H
#define VELLUM_DELIVER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "deliver.h"
#include "mailauth.h"
#include "mail/mime.h"
#include "filter/eval.h"
#include "store/vacation.h"

/* The reply to an unknown (or disabled) recipient, as Postfix words it. */
#define DELIVER_UNKNOWN_FMT	"5.1.1 <%s>: Recipient address rejected: " \
				"User unknown in virtual mailbox table"

/* A local user the job reaches (through the first recipient that does). */
struct deliver_fuser {
	uint32_t		 user_id;
	size_t			 rcpt;		/* index in job->rcpts */
	size_t			 target;	/* index in rcpt->targets */
	char			 address[DELIVER_ADDR_MAX + 1]; /* primary */
	uint32_t		 fs_uid, fs_gid;	/* 0: not mapped */
	char			*text;		/* the user's filter, or NULL */
	size_t			 len;
	struct store_vacation	 vac;
	int			 has_vac;
	/* set by deliver_filter_job() */
	int			 ran;		/* res is the filters' result */
	struct filter_result	 res;
	char			*log;		/* lines for the loop's log */
	char			*reply;		/* an auto-reply to send */
	size_t			 replylen;
	int			 reply_ok;	/* noted in the commit: send */
};

struct deliver_fjob {
	const struct deliver_config	*cf;
	char				**locks;
	size_t				 nlocks;
	char				*global;	/* the global filter */
	size_t				 globallen;
	struct deliver_fuser		*users;
	size_t				 nusers;
	int				 filtered;	/* nothing left to run */
	/* per recipient: a list's copy (NULL: the message as it came) */
	char				**lcopy;
	size_t				*lcopylen;
	int				*lloop;		/* the copy came back */
	/* automatic BCC (bcc.c): the caller's recipients while job->rcpts
	   is the array with the BCC recipients after them; NULL: none */
	struct deliver_rcpt		*orcpts;
	size_t				 norcpts;
	/* the disclaimer rule (disclaimer.c) that applies; "" none */
	char				 disc_name[64 + 1];
	char				*disc_text, *disc_html;
	size_t				 disc_textlen, disc_htmllen;
	int				 disc_pending;	/* not applied yet */
	/* the content checks (policy_scan(), antivirus_scan()): not run
	   yet; what they say for the log */
	int				 scan_pending;
	char				 scan_note[256];
	char				 av_note[512];
	/*
	 * A refusal of the message by a content check that counts for
	 * nothing in the store (a virus): every recipient gets it and the
	 * job is not committed.  0: none.
	 */
	int				 refuse_code;
	char				 refuse_text[DELIVER_TEXT_MAX];
	/* what the virus scan adds to each local copy, with the message's
	   line ends ("X-Virus-Status: Clean"; "" nothing) */
	char				 av_header[256];
	/*
	 * The inbound SPF, DKIM and DMARC checks (inauth.c): the field
	 * each local copy gets ("" none), the log line, and whether the
	 * results send it to the quarantine folder.
	 */
	char				 auth_header[MAILAUTH_HEADER_MAX];
	char				 auth_note[768];
	int				 quarantine;
	/*
	 * The message without the header fields the inbound checks write
	 * themselves (forged ones: deliver_strip()) while the stage runs;
	 * the caller's bytes are kept in strip_odata.
	 */
	char				*strip_data;
	const void			*strip_odata;
	size_t				 strip_olen;
	char				 disc_why[160];	/* why not added */
	/* the message rewritten: job->data is disc_data until the stage
	   ends, the caller's bytes are kept here */
	char				*disc_data;
	const void			*disc_odata;
	size_t				 disc_olen;
};

/* policy.c: the policy's part of the commit, and its notices after. */
int	policy_account(struct store_txn *, struct deliver_job *);
/*
 * The content checks of job->policy (a filter thread: spamd blocks):
 * the largest attachment against attachment-size (552 5.3.4), the spam
 * score against spam-score (550 5.7.1, counts toward the lock).  A
 * refusal is left in the policy's code/text for policy_account(); note
 * gets what is worth a log line ("" none).  policy_scan_wanted(): the
 * policy has such a check.
 */
int	policy_scan_wanted(const struct deliver_job *);
void	policy_scan(const struct deliver_config *, struct deliver_job *,
	    char *note, size_t notesize);
void	policy_notices(struct store *, const struct deliver_config *,
	    const struct deliver_policy *, uint64_t queue_id,
	    const char *sender);

/*
 * antivirus.c: the inbound virus scan ([antivirus], clamav.h) of a job
 * from an untrusted port 25 client (job->inbound) its whitelist entries
 * do not exempt (ACL_SKIP_AV), on a filter thread: a virus leaves a 554
 * in fj->refuse_code/text, clamd failing a 451 (on_error = tempfail);
 * what each local copy gets on top is in fj->av_header, the log line in
 * fj->av_note.  antivirus_wanted(): the job is to be scanned.
 */
int	antivirus_wanted(const struct deliver_config *,
	    const struct deliver_job *);
void	antivirus_scan(const struct deliver_config *, struct deliver_job *,
	    struct deliver_fjob *);

/*
 * inauth.c: SPF, DKIM and DMARC ([mailauth], mailauth.h) of a job from an
 * untrusted port 25 client, each unless its whitelist entries skip it, on
 * a filter thread: the Authentication-Results field in fj->auth_header,
 * a refusal in fj->refuse_code/text, fj->quarantine, the log line in
 * fj->auth_note.
 */
int	inauth_wanted(const struct deliver_config *,
	    const struct deliver_job *);
void	inauth_check(const struct deliver_config *, struct deliver_job *,
	    struct deliver_fjob *);

/*
 * job->data without the header fields drop() names (mail/mime.h), for
 * the rest of the stage; deliver_strip_restore() gives the job its own
 * bytes back.  Returns how many fields were taken out.
 */
int	deliver_strip(struct deliver_job *, struct deliver_fjob *,
	    mime_field_drop *, void *arg);
void	deliver_strip_restore(struct deliver_job *, struct deliver_fjob *);

/* A message's line end: CRLF when its first line ends so, else LF. */
const char *deliver_msg_eol(const void *data, size_t len);

/* The message a recipient's targets get (a list's copy, or the job's). */
const char *deliver_rcpt_msg(const struct deliver_job *, size_t rcpt,
	    size_t *len_r);

/* The fuser of a user in a begun job, or NULL. */
struct deliver_fuser *deliver_fuser_find(struct deliver_fjob *,
	    uint32_t user_id);
/* Releases a begun job's delivery locks (before its replies go out). */
void	deliver_unlock(struct store *, struct deliver_fjob *);
/* The same for several jobs, in one store transaction. */
void	deliver_unlock_many(struct store *, struct deliver_fjob **, size_t);
/* Sets a recipient's reply (code, text). */
void	deliver_rcpt_reply(struct deliver_rcpt *, int code, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
/*
 * bcc.c: adds the recipients the automatic BCC rules give to a job with
 * job->bcc set (deliver_begin(), before anything else); 0, or -1 when
 * the rules could not be read (err set).  deliver_bcc_restore() gives the
 * caller its own recipients back (the stage is freed).
 */
int	deliver_bcc_expand(struct store *, const struct deliver_config *,
	    struct deliver_job *, struct deliver_fjob *);
void	deliver_bcc_restore(struct deliver_job *, struct deliver_fjob *);
/*
 * disclaimer.c: finds the disclaimer rule of a job with job->bcc set
 * (deliver_begin(), after the BCC rules): 1 one applies (fj->disc_pending:
 * the job has work for deliver_filter_job()), 0 none, -1 the rules could
 * not be read (err set).  deliver_disclaimer_apply() rewrites the message
 * (any thread; no store, no log); deliver_disclaimer_restore() gives the
 * caller its bytes back and logs what was done (the stage is freed).
 */
int	deliver_disclaimer_plan(struct store *, struct deliver_job *,
	    struct deliver_fjob *);
void	deliver_disclaimer_apply(struct deliver_job *, struct deliver_fjob *);
void	deliver_disclaimer_restore(struct deliver_job *,
	    struct deliver_fjob *);
/* Whether a recipient is delivered by a job (local, or relayed). */
int	deliver_rcpt_wanted(const struct deliver_rcpt *);

#endif
