/*
 * runner.h - the queue runner of vellum-mta: reads the `queue` table,
 * routes each recipient to a destination (a transport's nexthop, the
 * relayhost, or the MX of its domain), keeps per-destination connections
 * (mta/client.h) within the concurrency limits, and writes each outcome
 * back to the queue: delivered recipients leave it, permanent failures
 * and expired mail bounce (deliver_notice()), temporary failures are
 * retried with back-off.
 *
 * Durability: a recipient leaves the queue only in a commit made after
 * the remote's 2xx (or after its bounce was delivered).  A kill -9 at
 * any moment therefore re-sends at most the transactions in flight.
 * No write transaction ever spans network I/O: outcomes are gathered and
 * committed together (a group commit, MTA_COMMIT_MS).
 */
#ifndef VELLUM_MTA_RUNNER_H
#define VELLUM_MTA_RUNNER_H

struct config;
struct event_base;
struct store;

/* Queue entries held in memory at once (the rest wait in the store). */
#define MTA_ACTIVE_MAX		20000
/* ... and recipients of theirs (each takes about 1.5 KB). */
#define MTA_ACTIVE_RCPTS_MAX	50000
/*
 * Outcomes are committed together: at most this long after the first
 * one (ms), or at once when this many are waiting.  A 2xx not yet
 * committed when the agent is killed is sent again after the restart.
 */
#define MTA_COMMIT_MS		10
#define MTA_COMMIT_OPS		512
/* How often the queue generation is polled (ms). */
#define MTA_POLL_MS		200
/* A full rescan at least this often (s), for entries coming due. */
#define MTA_RESCAN_S		30
/* A destination's addresses are looked up again after this (s). */
#define MTA_DNS_CACHE_S		60
/* ... and after this when the lookup failed (s). */
#define MTA_DNS_FAIL_CACHE_S	5
/* An address that refused a connection is skipped this long (s). */
#define MTA_ADDR_DOWN_S		60
/* Addresses tried for one connection before its destination is given
   up for this round. */
#define MTA_ADDRS_MAX		32

/*
 * Sets up the scheduler on base: the store, the config, DNS, TLS.
 * 0 done, -1 error (err set).
 */
int	mta_runner_start(struct event_base *, struct store *,
	    const struct config *);
void	mta_runner_stop(void);

/* The back-off after attempts failed attempts (1, 2, ...): retry_min
   doubling up to retry_max (seconds). */
unsigned mta_runner_backoff(const struct config *, unsigned attempts);

#endif
