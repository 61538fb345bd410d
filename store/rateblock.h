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
 * blocked today.
 */
#ifndef VELLUM_STORE_RATEBLOCK_H
#define VELLUM_STORE_RATEBLOCK_H

#include <stdint.h>

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

#endif
