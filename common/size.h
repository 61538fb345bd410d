/*
 * size.h - byte sizes as people write them: "500M", "60K", "2G", "1234".
 *
 * Suffixes K, M, G, T (and P) are powers of 1024, upper or lower case,
 * with an optional trailing "B" or "iB" ("500MB", "64KiB").  A number
 * with a suffix may have a decimal fraction ("1.5G"); the result is
 * rounded down to a whole byte, and must not round down to 0 ("0.0001K"
 * is an error: 0 means "no limit" to a quota).  Without a suffix the number is bytes
 * and must be whole.  vellum.conf(5) and vellumctl quota share this.
 */
#ifndef VELLUM_SIZE_H
#define VELLUM_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* 0 and *bytes_r set; -1 with ERR_INVALID when the text is not a size. */
int	size_parse(const char *text, uint64_t *bytes_r);
/*
 * Writes the shortest exact form ("500M", "60K", "1000") when the value is a
 * whole multiple of its unit, else one decimal ("1.5K" for 1536).  Returns
 * buf.
 */
char	*size_format(uint64_t bytes, char *buf, size_t bufsize);

/*
 * The largest unit that divides bytes exactly ("1536K" for 1.5M, "512"
 * for 512): size_parse() reads it back to the same value.  Returns buf.
 */
char	*size_format_exact(uint64_t bytes, char *buf, size_t bufsize);

#define SIZE_FORMAT_MAX	24

/*
 * Durations as vellum.conf(5) writes them: seconds, or a whole number
 * with s, m, h or d after it ("90s", "30m", "4h", "5d").  0 and *secs_r
 * set; -1 with ERR_INVALID.
 */
int	duration_parse(const char *text, uint64_t *secs_r);
/* Seconds in the largest unit that divides them ("5m", "4h", "0"). */
char	*duration_format(uint64_t secs, char *buf, size_t bufsize);

#endif
