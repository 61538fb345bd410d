/*
 * keymemo.h - a memo of the keys libopendkim decodes, so that a key is
 * decoded once per process, not for every message signed or verified.
 *
 * libopendkim (DESIGN.md: it signs and verifies DKIM) hands OpenSSL the
 * key of every signature it checks (d2i_PUBKEY_bio() on a memory BIO) and
 * the private key of every signature it makes (PEM_read_bio_PrivateKey()
 * or d2i_PrivateKey_bio()), once per message.  OpenSSL 3.0 sets up a
 * whole decoder context for each call: 100-400 us, most of a DKIM check,
 * while a handful of keys sign most mail.  Its API takes no decoded key.
 *
 * So keymemo.c defines those three functions itself.  A function an
 * executable defines comes before a shared library's of the same name
 * when the dynamic linker binds a library's call (the interposition
 * LD_PRELOAD uses), so libopendkim's calls land there:
 *   - on a memory BIO, with no object to reuse and no passphrase
 *     callback, the bytes OpenSSL would read at the BIO's position (one
 *     DER object; PEM up to its END line) are looked up in a table of the
 *     KEYMEMO_SLOTS keys read last (compared byte for byte, with how they
 *     were read).  A hit returns that EVP_PKEY with one more reference and
 *     moves the BIO past those bytes, as OpenSSL's function does; a miss
 *     has OpenSSL's function read exactly those bytes and keeps the key.
 *   - anything else (another BIO type, a reuse object, a callback, more
 *     than KEYMEMO_BYTES_MAX bytes, bytes that do not decode) goes to
 *     OpenSSL's own function, found with dlvsym(), with its errors.
 * The same bytes give the same key, so a hit answers what a fresh decode
 * would; callers share it read-only (libopendkim signs or verifies with
 * it and frees its reference; OpenSSL's key objects are safe to share
 * between threads for that).  Nothing expires: a rotated key has other
 * bytes.  A private key's bytes are wiped when its slot is reused.
 * Thread-safe (one mutex, held for a lookup, never while decoding).
 */
#ifndef VELLUM_COMMON_KEYMEMO_H
#define VELLUM_COMMON_KEYMEMO_H

#include <stdint.h>

/* Keys kept; the least recently used goes first. */
#define KEYMEMO_SLOTS	128
/* Longest key kept: an RSA-8192 private key in PEM is ~6.4 KB. */
#define KEYMEMO_BYTES_MAX	16384

struct keymemo_stats {
	uint64_t	hits;		/* answered from the table */
	uint64_t	misses;		/* decoded and kept */
	uint64_t	passed;		/* handed to OpenSSL's function */
};

/*
 * 1 when this process's three functions are keymemo's (the executable
 * exports them, so libraries bind to them), 0 when libraries would reach
 * OpenSSL's directly (the memo does nothing; a caller logs it).
 */
int	keymemo_bound(void);

/* The counters since the process started. */
void	keymemo_stats(struct keymemo_stats *s_r);

#endif
