/*
 * rateblock.h - client hosts blocked until the end of a day (smtpd's
 * [smtpd] unknown_recipient_limit, smtpd/rate.c), in the volatile
 * environment (store/volatile.c): a block outlives a restart or a reload
 * of vellum-smtpd, not a reboot of the machine.
 *
 * `rateblocks`: host key (conn_ip_key(), at most STORE_RATEBLOCK_KEY_MAX
 * bytes) -> the day it holds for (YYYYMMDD of the server's local time,
 * big-endian 32 bits) and the count that made it (32 bits).  A record of
 * another day means nothing; each new block removes up to
 * STORE_RATEBLOCK_PURGE of those, so the table holds about the hosts
 * blocked today.  vellumctl rate list|unblock reads and removes them
 * (admin/cmd_rate.c); smtpd asks this table at connect whether a block
 * its shared counts know was lifted.
 */
#ifndef VELLUM_STORE_RATEBLOCK_H
#define VELLUM_STORE_RATEBLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

#define STORE_RATEBLOCK_KEY_MAX	63
#define STORE_RATEBLOCK_PURGE	16

/* Blocks host for day (n: the count that did it).  0, -1 (err). */
int	store_rateblock_put(struct store *, const char *host, uint32_t day,
	    uint32_t n);
/*
 * Whether host is blocked for day: 1 (the count in *n_r), 0 not, -1
 * (err).
 */
int	store_rateblock_get(struct store *, const char *host, uint32_t day,
	    uint32_t *n_r);

struct store_rateblock {
	char		host[STORE_RATEBLOCK_KEY_MAX + 1];
	uint32_t	day;
	uint32_t	n;		/* the count that made the block */
};

typedef int store_rateblock_fn(const struct store_rateblock *, void *ctx);
/*
 * Calls fn for each host blocked for day, by host (records of other days
 * are passed over); fn -1 stops the walk and is returned.  0, -1 (err).
 */
int	store_rateblock_list(struct store *, uint32_t day,
	    store_rateblock_fn *fn, void *ctx);
/*
 * Lifts the block of host (NULL: of every host), removing its record
 * whatever its day; *n_r (may be NULL) gets how many blocks of day were
 * lifted (records of other days removed meanwhile are not counted).  0,
 * -1 (err: INVALID for a bad host key).
 */
int	store_rateblock_del(struct store *, const char *host, uint32_t day,
	    unsigned *n_r);

/*
 * The day of a block at t: the server's local date as YYYYMMDD.  With
 * until not NULL, the date the block ends at 00:00 written into it (size
 * bytes, 11 are enough): the next day, "YYYY-MM-DD" ("tomorrow" should
 * mktime() fail).
 */
uint32_t store_rateblock_day(time_t t, char *until, size_t size);

#endif
