/*
 * mime.h - just enough MIME structure to cut a message into segments.
 *
 * Pure functions over bytes: no I/O, no allocation beyond the result
 * arrays.  Line ends may be CRLF, LF or a mix; malformed structure never
 * fails, it only yields fewer segments.
 */
#ifndef VELLUM_MAIL_MIME_H
#define VELLUM_MAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

/* Deepest multipart / message nesting followed. */
#define MIME_DEPTH_MAX		32
/* Part bodies at least this large get a segment of their own. */
#define MIME_PART_MIN		4096

/*
 * Offset just past the blank line ending the header block starting at
 * data, or len when there is none (the whole buffer is header).
 */
size_t	mime_header_end(const uint8_t *data, size_t len);

/*
 * Finds header field name (case-insensitive) in the header block and
 * copies its unfolded value (leading space trimmed, CR/LF removed) into
 * buf.  1 found, 0 not.  The value is truncated to bufsize - 1.
 */
int	mime_header_get(const uint8_t *hdr, size_t hdrlen, const char *name,
	    char *buf, size_t bufsize);
/*
 * The message without the header fields drop() says to drop: drop gets
 * each whole field (its name, colon, value and continuation lines, line
 * ends included) and arg.  0: none dropped (*out NULL); n > 0: that many,
 * the whole message without them in *out (malloc'd, *outlen bytes).
 * Lines end in CRLF or LF; the header ends at the first empty line.
 */
typedef int mime_field_drop(const char *field, size_t len, void *arg);
int	mime_header_strip(const void *msg, size_t len, mime_field_drop *drop,
	    void *arg, char **out, size_t *outlen);
/* Whether the field [f, f + len) is named name (case-insensitive, white
   space allowed before the colon: RFC 5322 3.6.8); its value's offset. */
int	mime_field_is(const char *f, size_t len, const char *name,
	    size_t *value_r);

/* How many fields named name (case-insensitive) the header block has. */
size_t	mime_header_count(const uint8_t *hdr, size_t hdrlen, const char *name);

/*
 * From a Content-Type value, the lower-cased "type/subtype" into type and
 * the boundary parameter (unquoted) into boundary ("" when absent).
 */
void	mime_content_type(const char *value, char *type, size_t typesize,
	    char *boundary, size_t boundarysize);

enum mime_seg_kind {
	MIME_SEG_HEADER = 1,	/* the message's header block */
	MIME_SEG_PART = 2,	/* a part body of at least MIME_PART_MIN */
	MIME_SEG_REST = 3,	/* everything else, in order */
};

struct mime_segment {
	size_t			off;
	size_t			len;
	enum mime_seg_kind	kind;
};

/*
 * Cuts a message into consecutive segments covering [0, len) exactly:
 * the header block, then the body split around every leaf part body (at
 * any depth, inside multiparts and message/rfc822) of at least min_part
 * bytes.  An empty message yields no segment.  *segs_r is malloc'd.
 */
void	mime_segments(const uint8_t *data, size_t len, size_t min_part,
	    struct mime_segment **segs_r, size_t *nsegs_r);

#endif
