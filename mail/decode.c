/*
 * decode.c - Content-Transfer-Encoding decoding (see decode.h).
 *
 * quoted-printable is a byte-at-a-time state machine, so a piece may end
 * anywhere (inside "=X", between CR and LF, in a run of blanks) and the
 * next piece goes on from there: the output does not depend on the cuts.
 */
#include <string.h>
#include <strings.h>

#include "decode.h"

enum {
	QP_TEXT,	/* blanks may be held */
	QP_CR,		/* a CR: a line end if LF follows */
	QP_EQ,		/* "=" */
	QP_HEX,		/* "=X", X a hex digit (in d->hex) */
	QP_EQ_BLANK,	/* "=" and blanks (held): soft break if a line end
			   follows */
	QP_EQ_CR,	/* "=", blanks, CR */
};

/* base64 alphabet values, -1 outside it */
static const int8_t dec_b64[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static int	dec_hexval(int);
static size_t	dec_blanks_flush(struct mail_decoder *, char *);
static size_t	dec_qp_byte(struct mail_decoder *, int, char *);

static int
dec_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

enum mail_cte
mail_cte_parse(const char *v, size_t len)
{
	static const struct {
		const char	*name;
		enum mail_cte	 cte;
	} known[] = {
		{ "7bit", MAIL_CTE_IDENTITY },
		{ "8bit", MAIL_CTE_IDENTITY },
		{ "binary", MAIL_CTE_IDENTITY },
		{ "base64", MAIL_CTE_BASE64 },
		{ "quoted-printable", MAIL_CTE_QP },
	};
	size_t i = 0, start, n, k;
	int depth;

	/* blanks, line folds and (nested) comments before the token */
	for (;;) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' ||
		    v[i] == '\r' || v[i] == '\n'))
			i++;
		if (i >= len || v[i] != '(')
			break;
		for (depth = 0; i < len; i++) {
			if (v[i] == '\\' && i + 1 < len)
				i++;
			else if (v[i] == '(')
				depth++;
			else if (v[i] == ')' && --depth == 0) {
				i++;
				break;
			}
		}
	}
	start = i;
	while (i < len && (unsigned char)v[i] > ' ' &&
	    (unsigned char)v[i] < 0x7f &&
	    strchr("()<>@,;:\\\"/[]?=", v[i]) == NULL)
		i++;
	n = i - start;
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strlen(known[k].name) == n &&
		    strncasecmp(v + start, known[k].name, n) == 0)
			return known[k].cte;
	return MAIL_CTE_UNKNOWN;
}

void
mail_decoder_init(struct mail_decoder *d, enum mail_cte cte, int flags)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
	d->flags = flags;
	d->state = QP_TEXT;
}

static size_t
dec_blanks_flush(struct mail_decoder *d, char *out)
{
	size_t n = d->nblanks;

	memcpy(out, d->blanks, n);
	d->nblanks = 0;
	return n;
}

/* One byte of quoted-printable; returns the bytes written to out. */
static size_t
dec_qp_byte(struct mail_decoder *d, int c, char *out)
{
	size_t o = 0;
	int h;

again:
	switch (d->state) {
	case QP_TEXT:
		if (c == ' ' || c == '\t') {
			if (d->nblanks == MAIL_DECODE_BLANKS_MAX)
				o += dec_blanks_flush(d, out + o);
			d->blanks[d->nblanks++] = (char)c;
		} else if (c == '\r')
			d->state = QP_CR;
		else if (c == '\n') {
			d->nblanks = 0;
			if (d->flags & MAIL_DECODE_CRLF)
				out[o++] = '\r';
			out[o++] = '\n';
		} else {
			o += dec_blanks_flush(d, out + o);
			if (c == '=')
				d->state = QP_EQ;
			else
				out[o++] = (char)c;
		}
		return o;
	case QP_CR:
		d->state = QP_TEXT;
		if (c == '\n') {
			d->nblanks = 0;
			out[o++] = '\r';
			out[o++] = '\n';
			return o;
		}
		o += dec_blanks_flush(d, out + o);
		out[o++] = '\r';
		goto again;
	case QP_EQ:
		if (dec_hexval(c) >= 0) {
			d->hex = c;
			d->state = QP_HEX;
		} else if (c == ' ' || c == '\t') {
			d->blanks[d->nblanks++] = (char)c;
			d->state = QP_EQ_BLANK;
		} else if (c == '\r')
			d->state = QP_EQ_CR;
		else if (c == '\n')
			d->state = QP_TEXT;	/* soft line break */
		else {
			out[o++] = '=';
			d->state = QP_TEXT;
			goto again;
		}
		return o;
	case QP_HEX:
		d->state = QP_TEXT;
		if ((h = dec_hexval(c)) >= 0) {
			out[o++] = (char)(dec_hexval(d->hex) << 4 | h);
			return o;
		}
		out[o++] = '=';
		out[o++] = (char)d->hex;
		goto again;
	case QP_EQ_BLANK:
		if ((c == ' ' || c == '\t') &&
		    d->nblanks < MAIL_DECODE_BLANKS_MAX) {
			d->blanks[d->nblanks++] = (char)c;
			return o;
		}
		if (c == '\r') {
			d->state = QP_EQ_CR;
			return o;
		}
		if (c == '\n') {
			d->nblanks = 0;
			d->state = QP_TEXT;
			return o;
		}
		/* not a soft line break: "=" and the blanks are text */
		out[o++] = '=';
		o += dec_blanks_flush(d, out + o);
		d->state = QP_TEXT;
		goto again;
	case QP_EQ_CR:
		if (c == '\n') {
			d->nblanks = 0;
			d->state = QP_TEXT;
			return o;
		}
		out[o++] = '=';
		o += dec_blanks_flush(d, out + o);
		out[o++] = '\r';
		d->state = QP_TEXT;
		goto again;
	}
	return o;
}

size_t
mail_decode(struct mail_decoder *d, const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t i, o = 0;

	switch (d->cte) {
	case MAIL_CTE_BASE64:
		for (i = 0; i < n; i++) {
			int v;

			/* four at a time while they are all in the alphabet */
			while (d->bits == 0 && i + 4 <= n &&
			    (v = dec_b64[p[i]] | dec_b64[p[i + 1]] |
			    dec_b64[p[i + 2]] | dec_b64[p[i + 3]]) >= 0) {
				d->acc = (uint32_t)dec_b64[p[i]] << 18 |
				    (uint32_t)dec_b64[p[i + 1]] << 12 |
				    (uint32_t)dec_b64[p[i + 2]] << 6 |
				    (uint32_t)dec_b64[p[i + 3]];
				out[o++] = (char)(d->acc >> 16);
				out[o++] = (char)(d->acc >> 8);
				out[o++] = (char)d->acc;
				i += 4;
			}
			if (i >= n)
				break;
			if ((v = dec_b64[p[i]]) < 0)
				continue;
			d->acc = (d->acc << 6) | (uint32_t)v;
			d->bits += 6;
			if (d->bits >= 8) {
				d->bits -= 8;
				out[o++] = (char)((d->acc >> d->bits) & 0xff);
			}
		}
		return o;
	case MAIL_CTE_QP:
		for (i = 0; i < n; i++)
			o += dec_qp_byte(d, p[i], out + o);
		return o;
	default:
		memcpy(out, in, n);
		return n;
	}
}

size_t
mail_decode_end(struct mail_decoder *d, char *out)
{
	size_t o = 0;

	if (d->cte == MAIL_CTE_QP) {
		switch (d->state) {
		case QP_TEXT:		/* blanks at the end of the last line */
		case QP_EQ:		/* "=" at the end: a soft break */
		case QP_EQ_BLANK:
			break;
		case QP_CR:
			o += dec_blanks_flush(d, out);
			out[o++] = '\r';
			break;
		case QP_HEX:
			out[o++] = '=';
			out[o++] = (char)d->hex;
			break;
		case QP_EQ_CR:
			out[o++] = '=';
			o += dec_blanks_flush(d, out + o);
			out[o++] = '\r';
			break;
		}
	}
	mail_decoder_init(d, d->cte, d->flags);
	return o;
}
