/*
 * secret.h - named secrets kept in the store's `meta` table (the SRS
 * key, ...): random bytes made on first use, the same for every process
 * and every restart, so what one process signs another can check.
 */
#ifndef VELLUM_STORE_SECRET_H
#define VELLUM_STORE_SECRET_H

#include <stddef.h>

#include "store.h"

#define STORE_SECRET_NAME_MAX	32
#define STORE_SECRET_MAX	64	/* bytes */

/*
 * Copies the secret called name (1..STORE_SECRET_NAME_MAX characters)
 * into buf[len] (1 <= len <= STORE_SECRET_MAX).  When the store has none
 * of that name, len random bytes (OpenSSL RAND_bytes) are stored first in
 * a write transaction of its own (two processes racing both get the one
 * that committed first).  A stored secret shorter than len is CORRUPT.
 * Returns 0, or -1: INVALID (name or len), TEMP (store, RNG), CORRUPT.
 * Must not be called inside a transaction.
 */
int	store_secret_get(struct store *, const char *name, void *buf,
	    size_t len);

#endif
