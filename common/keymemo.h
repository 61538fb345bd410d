/*
 * keymemo.h - a memo of the public keys libopendkim decodes, so that a
 * signer's key is decoded once, not for every message it signed.
 *
 * libopendkim (DESIGN.md: it verifies DKIM signatures) gives each
 * signature's key to OpenSSL's d2i_PUBKEY_bio() on a memory BIO, once per
 * message.  OpenSSL 3.0 sets up a whole decoder context for every call:
 * 100-400 us, most of a DKIM check, while a handful of keys sign most
 * mail.  Its API takes no decoded key.
 *
 * So keymemo.c defines d2i_PUBKEY_bio() itself.  A function an executable
 * defines comes before a shared library's of the same name when the
 * dynamic linker binds a library's call (the interposition LD_PRELOAD
 * uses), so libopendkim's call lands there:
 *   - on a memory BIO, with no object to reuse, the DER object at the
 *     BIO's read position is looked up in a table of the KEYMEMO_SLOTS
 *     keys decoded last (compared byte for byte).  A hit returns that
 *     EVP_PKEY with one more reference and moves the BIO past the object,
 *     as OpenSSL's function does; a miss decodes with d2i_PUBKEY() and
 *     keeps the key.
 *   - anything else (another BIO type, a reuse object, an object longer
 *     than KEYMEMO_DER_MAX, bytes that do not decode) goes to OpenSSL's own
 *     d2i_PUBKEY_bio(), found with dlvsym(), with its errors.
 * The same bytes give the same key, so a hit answers what a fresh decode
 * would; the caller shares it read-only (libopendkim verifies with it and
 * frees its reference; OpenSSL's key objects are safe to share between
 * threads for that).  Nothing expires: a rotated key has other bytes.
 * Thread-safe (one mutex, held for a lookup, never while decoding).
 */
#ifndef VELLUM_COMMON_KEYMEMO_H
#define VELLUM_COMMON_KEYMEMO_H

#include <stdint.h>

/* Keys kept; the least recently used goes first. */
#define KEYMEMO_SLOTS	128
/* Longest DER kept: an RSA-16384 SubjectPublicKeyInfo is ~2.1 KB. */
#define KEYMEMO_DER_MAX	4096

struct keymemo_stats {
	uint64_t	hits;		/* answered from the table */
	uint64_t	misses;		/* decoded and kept */
	uint64_t	passed;		/* handed to OpenSSL's function */
};

/*
 * 1 when this process's d2i_PUBKEY_bio() is keymemo's (the executable
 * exports it, so libraries bind to it), 0 when libraries would reach
 * OpenSSL's directly (the memo does nothing; a caller logs it).
 */
int	keymemo_bound(void);

/* The counters since the process started. */
void	keymemo_stats(struct keymemo_stats *s_r);

#endif
