/*
 * runpriv.h - what the two halves of the program runner share (run.c:
 * the requester; runhelper.c: the helper and its runner children): the
 * wire format of a request and its reply, and the helper's state.  Not a
 * public header: see run.h.
 */
#ifndef VELLUM_FILTER_RUNPRIV_H
#define VELLUM_FILTER_RUNPRIV_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "filter/run.h"

#define RUN_MAGIC	0x564c4652u	/* "VLFR" */
#define RUN_MSG_MAX	240		/* bytes of an error message */
#define RUN_PUMP_BUF	65536		/* bytes read from stdout at once */
#define RUN_KIDS_MAX	1024		/* children killed in one round */
#define RUN_SWEEP_ROUNDS 1000		/* rounds of a runner child's sweep */
/* Strings of one request: argv + env, or a path and a logfile text. */
#define RUN_BLOB_MAX	(FILTER_RUN_REQ_MAX + FILTER_RUN_TEXT_MAX + \
			    2 * PATH_MAX)

enum run_kind {
	RUN_EXEC = 1,
	RUN_READ,
	RUN_APPEND,
};

/* The control message (the strings are in the output memfd). */
struct run_wire_req {
	uint32_t	magic;
	uint32_t	kind;		/* enum run_kind */
	uint32_t	uid, gid;
	uint32_t	capture;
	uint32_t	has_input;
	uint32_t	nargv, nenv;
	uint64_t	bloblen;
};

enum run_reply_type {
	RUN_STARTED = 1,	/* the helper gave the request a slot */
	RUN_DONE,
};

/* The replies of the runner child, on the request's own socket. */
struct run_wire_reply {
	uint32_t	type;		/* enum run_reply_type */
	int32_t		rc;		/* as the public function returns */
	int32_t		errclass;	/* enum err_class when rc == -1 */
	int32_t		status;
	int32_t		timed_out;
	int32_t		truncated;
	uint64_t	outlen;
	char		msg[RUN_MSG_MAX];
};

struct filter_runner {
	int		 ctl;		/* SOCK_SEQPACKET to the helper */
	pid_t		 pid;		/* of the helper */
	int		 gone;		/* its death was logged (atomic) */
	unsigned	 timeout;
	size_t		 output_max;
};

/* What the helper knows; filled before the fork. */
/* An account's name and groups, cached by the helper. */
#define RUN_ACCTS	64		/* accounts remembered */
#define RUN_ACCT_TTL	60		/* seconds */
#define RUN_GROUPS_MAX	64		/* supplementary groups kept */

struct run_acct {
	uid_t		 uid;
	gid_t		 gid;
	time_t		 until;
	int		 named;		/* has a passwd entry */
	int		 ngroups;
	gid_t		 groups[RUN_GROUPS_MAX];
};

struct run_helper {
	int		 ctl;
	int		 sigfd;		/* SIGCHLD, SIGTERM */
	pid_t		 self;		/* the helper's pid */
	int		 root;		/* the helper runs as root */
	int		 have_fallback;
	uid_t		 fb_uid;
	gid_t		 fb_gid;
	char		 fb_name[256];
	int		 have_daemon;	/* [daemon] user: never run as it */
	uid_t		 daemon_uid;
	gid_t		 daemon_gid;	/* its group (0: none) */
	unsigned	 timeout;
	size_t		 output_max;
	unsigned	 max_procs;
	pid_t		 slots[FILTER_RUN_PROCS_MAX];
	int64_t		 deadline[FILTER_RUN_PROCS_MAX]; /* of each slot, ms */
	unsigned	 running;
	/*
	 * The accounts programs ran as lately (name, groups), looked up by
	 * the helper before it forks (NSS reads files: once a minute per
	 * account, not once per message), so the child only makes system
	 * calls.  acct is the one of the request being forked.
	 */
	struct run_acct	 accts[RUN_ACCTS];
	size_t		 naccts;
	const struct run_acct *acct;
};

/* One request inside the runner child. */
struct run_job {
	const struct run_helper	*h;
	struct run_wire_req	 req;
	int			 reply, in, out;
	char			*blob;
	char			*home;
	char			**argv;
	char			**envp;
	const char		*path;	/* RUN_READ, RUN_APPEND */
	const char		*text;
	size_t			 textlen;
};

/* runhelper.c: the helper's life, from its fork to its exit. */
void	run_helper_main(struct run_helper *) __attribute__((noreturn));

/* Shared utilities (run.c). */
int	run_reply(int fd, const struct run_wire_reply *);
int64_t	run_now_ms(void);
int	run_write_all(int fd, const void *, size_t);
int	run_pread_all(int fd, void *, size_t, off_t);

#endif
