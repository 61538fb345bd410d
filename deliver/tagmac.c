/*
 * tagmac.c - see tagmac.h.
 */
#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/error.h"
#include "tagmac.h"

int
tagmac(const unsigned char *secret, size_t secretlen, const char *in,
    size_t len, unsigned char out[TAGMAC_LEN])
{
	unsigned char buf[TAGMAC_INPUT_MAX], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i;

	if (len > sizeof(buf))
		return err_set(ERR_LIMIT, "address too long to hash");
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)tolower((unsigned char)in[i]);
	if (secretlen > TAGMAC_SECRET_MAX)
		secretlen = TAGMAC_SECRET_MAX;
	if (HMAC(EVP_sha1(), secret, (int)secretlen, buf, len, md, &mdlen) ==
	    NULL || mdlen < TAGMAC_LEN)
		return err_set(ERR_TEMP, "HMAC-SHA1 failed");
	memcpy(out, md, TAGMAC_LEN);
	return 0;
}
