/*
 * fold.h - case folding of UTF-8 text for SEARCH (substring matches) and
 * SORT/THREAD (comparisons, subject grouping), pure.
 *
 * Simple one-to-one folding of the scripts mail mostly comes in: the
 * capitals of ASCII, Latin-1, Latin Extended-A and -B (Romanian), Latin
 * Extended Additional (Vietnamese), Greek (with tonos), Cyrillic (with
 * its extensions), Armenian and fullwidth Latin become their small
 * letters (final sigma becomes sigma, capital I with dot above becomes
 * i).  Other characters are left as they are.  Bytes that do not
 * form UTF-8 are taken as Latin-1 characters, so undeclared 8-bit text
 * still compares sensibly.  No normalisation or decomposition: "e" does
 * not match "é" (Dovecot's i;unicode-casemap would).
 */
#ifndef VELLUM_IMAP_FOLD_H
#define VELLUM_IMAP_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "imapd/buf.h"

/* Appends s folded, as UTF-8, to out. */
void	imap_fold(const char *s, size_t len, struct imap_buf *out);
/* The next character of [*p, end) folded; *p moves past it. */
uint32_t imap_fold_next(const char **p, const char *end);
/* Compares two strings as folded, character by character: <0, 0, >0. */
int	imap_fold_cmp(const char *a, size_t alen, const char *b,
	    size_t blen);

#endif
