/*
 * fuzz_dns.c - the record parsers of the resolver (common/dns.c) on
 * whatever a DNS server may put in rdata: PTR/MX/CNAME names in wire
 * format and TXT strings; and dns_reverse_name() on any text.
 *
 * Byte 0 picks the output size (0-255, and a full DNS_NAME_MAX + 1 when
 * its top bit is set), the rest is the rdata, given in a heap buffer of
 * exactly its size.  Properties:
 * - dns_wire_name(): 0 only with a NUL-terminated name under the output
 *   size and DNS_NAME_MAX, of host-name bytes, labels of 1-63 separated
 *   by single dots, using at most the input; the name written back in
 *   wire format is exactly the bytes used;
 * - dns_txt_text(): 0 exactly when the strings tile the input; the text
 *   (printable ASCII) is the reference join cut to the output size;
 * - dns_reverse_name(): 1 only with a name that fits, ending in the zone.
 */
#include <string.h>

#include "common/dns.h"

#include "fuzz.h"

static void	fuzz_wire(const uint8_t *, size_t, size_t);
static void	fuzz_txt(const uint8_t *, size_t, size_t);
static void	fuzz_reverse(const uint8_t *, size_t);

static void
fuzz_wire(const uint8_t *d, size_t len, size_t outsz)
{
	char out[512], back[512];
	size_t used = 0, i, o = 0, label = 0, n;
	int rc;

	memset(out, 'x', sizeof(out));
	rc = dns_wire_name(d, len, out, outsz, &used);
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (rc == -1)
		return;
	n = strnlen(out, outsz);
	FUZZ_CHECK(n < outsz && n <= DNS_NAME_MAX, "length %zu, outsz %zu",
	    n, outsz);
	FUZZ_CHECK(used >= 1 && used <= len, "used %zu of %zu", used, len);
	/* The name back in wire format is the bytes used. */
	for (i = 0; i <= n; i++) {
		if (i == n || out[i] == '.') {
			FUZZ_CHECK((label >= 1 && label <= 63) || n == 0,
			    "label of %zu in '%s'", label, out);
			if (n == 0)
				break;
			back[o] = (char)label;
			o += label + 1;
			label = 0;
			continue;
		}
		FUZZ_CHECK(out[i] > ' ' && out[i] < 127 && out[i] != '\\',
		    "byte %02x in the name", (unsigned char)out[i]);
		back[o + 1 + label++] = out[i];
	}
	back[o++] = '\0';
	FUZZ_CHECK(o == used && memcmp(back, d, used) == 0, "'%s' is not "
	    "the %zu bytes used", out, used);
}

static void
fuzz_txt(const uint8_t *d, size_t len, size_t outsz)
{
	char out[512], want[512];
	size_t i = 0, o = 0, k;
	int rc, ok = len > 0;

	while (ok && i < len) {
		k = d[i++];
		if (i + k > len) {
			ok = 0;
			break;
		}
		for (; k > 0; k--, i++)
			if (o + 1 < outsz)
				want[o++] = d[i] >= ' ' && d[i] < 127 ?
				    (char)d[i] : '?';
	}
	if (outsz > 0)
		want[o] = '\0';
	memset(out, 'x', sizeof(out));
	rc = dns_txt_text(d, len, out, outsz);
	if (outsz == 0) {
		FUZZ_CHECK(rc == -1, "outsz 0 gave %d", rc);
		return;
	}
	FUZZ_CHECK(rc == (ok ? 0 : -1), "rc %d, the strings %s the input",
	    rc, ok ? "tile" : "do not tile");
	if (rc == 0)
		FUZZ_CHECK(strcmp(out, want) == 0, "'%s', not '%s'", out,
		    want);
}

static void
fuzz_reverse(const uint8_t *d, size_t len)
{
	char ip[128], out[DNS_REVERSE_MAX + 1];
	const char *zone = "bl.example.test";
	size_t n = len < sizeof(ip) - 1 ? len : sizeof(ip) - 1, k;

	memcpy(ip, d, n);
	ip[n] = '\0';
	if (dns_reverse_name(ip, zone, out, sizeof(out)) != 1)
		return;
	k = strlen(out);
	FUZZ_CHECK(k > strlen(zone) && strcmp(out + k - strlen(zone), zone) ==
	    0, "'%s' for '%s'", out, ip);
	FUZZ_CHECK(dns_reverse_name(ip, NULL, out, sizeof(out)) == 1,
	    "no PTR name for '%s'", ip);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *d;
	size_t outsz, len;

	if (size == 0)
		return 0;
	outsz = data[0] & 0x80 ? DNS_NAME_MAX + 1 : data[0];
	len = size - 1;
	/* exactly the rdata: a read past it is the sanitizer's */
	d = malloc(len > 0 ? len : 1);
	if (d == NULL)
		abort();
	memcpy(d, data + 1, len);
	fuzz_wire(d, len, outsz);
	fuzz_txt(d, len, outsz);
	fuzz_reverse(d, len);
	free(d);
	return 0;
}
