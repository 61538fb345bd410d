/*
 * fuzz_uidlist.c - dovecot-uidlist / courierimapuiddb (mail/uidlist.c):
 * any input parses or is refused; a parsed list keeps its promises
 * (UIDs in range, nextuid above every UID, every entry found again by
 * its own base name and by that name with an info part).
 */
#include <string.h>

#include "common/error.h"
#include "mail/uidlist.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uidlist *ul = NULL;
	char name[UIDLIST_NAME_MAX + 8];
	uint32_t max = 0;
	size_t i;
	int rc;

	rc = uidlist_parse((const char *)data, size, &ul);
	FUZZ_CHECK(rc == 1 || rc == -1, "uidlist_parse returned %d", rc);
	if (rc == -1) {
		FUZZ_CHECK(ul == NULL && err_class() == ERR_INVALID,
		    "refused, but result %p class %d", (void *)ul,
		    (int)err_class());
		return 0;
	}
	FUZZ_CHECK(ul->uidvalidity != 0, "UIDVALIDITY 0 accepted");
	FUZZ_CHECK(ul->version >= 1 && ul->version <= 3, "version %u",
	    ul->version);
	for (i = 0; i < ul->n; i++) {
		const struct uidlist_entry *e = &ul->v[i];

		FUZZ_CHECK(e->uid != 0 && e->uid != UINT32_MAX, "UID %u",
		    e->uid);
		FUZZ_CHECK(e->base[0] != '\0' && strlen(e->base) <=
		    UIDLIST_NAME_MAX && strchr(e->base, '/') == NULL,
		    "base name \"%s\"", e->base);
		if (e->uid > max)
			max = e->uid;
		FUZZ_CHECK(uidlist_find(ul, e->base) == e->uid, "\"%s\" is "
		    "UID %u, found %u", e->base, e->uid,
		    uidlist_find(ul, e->base));
		snprintf(name, sizeof(name), "%s:2,S", e->base);
		FUZZ_CHECK(uidlist_find(ul, name) == e->uid, "\"%s\" not "
		    "found as UID %u", name, e->uid);
	}
	FUZZ_CHECK(max == ul->last_uid, "last UID %u, highest %u",
	    ul->last_uid, max);
	FUZZ_CHECK(ul->nextuid > max, "nextuid %u not above UID %u",
	    ul->nextuid, max);
	uidlist_free(&ul);
	return 0;
}
