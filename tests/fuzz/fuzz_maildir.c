/*
 * fuzz_maildir.c - Maildir names and Maildir++ folder names from any
 * bytes: the whole input (up to a NUL) and each of its first lines.
 */
#include <string.h>
#include <strings.h>

#include "mail/maildir.h"

#include "fuzz.h"

#define FUZZ_NAME_MAX	4096

static void	fuzz_name(const char *);

static void
fuzz_name(const char *name)
{
	static char big[4 * FUZZ_NAME_MAX + 128];
	char dir[2 * 3 * FUZZ_NAME_MAX + 8], back[2 * FUZZ_NAME_MAX + 8];
	struct maildir_name r, p;
	size_t i;
	int rc;

	rc = maildir_name_parse(name, &r);
	if (rc == -1)
		FUZZ_CHECK(name[0] == '\0' || name[0] == '.' ||
		    strchr(name, '/') != NULL, "\"%s\" refused", name);
	else {
		FUZZ_CHECK(rc == 1, "rc %d", rc);
		FUZZ_CHECK((r.flags & ~MAILDIR_F_ALL) == 0, "flags %#x",
		    r.flags);
		for (i = 0; r.keywords[i] != '\0'; i++)
			FUZZ_CHECK(r.keywords[i] >= 'a' && r.keywords[i] <= 'z'
			    && strchr(r.keywords + i + 1, r.keywords[i]) ==
			    NULL, "keywords \"%s\"", r.keywords);
		FUZZ_CHECK(r.has_info || r.flags == 0, "flags without info");
	}

	/* Build with the input as host name, parse back. */
	rc = maildir_name_build(r.date > 0 ? r.date : 1, 7, name, r.size,
	    r.flags, big, sizeof(big));
	FUZZ_CHECK(rc == 1, "build with host \"%s\": rc %d", name, rc);
	rc = maildir_name_parse(big, &p);
	FUZZ_CHECK(rc == 1 && p.date == (r.date > 0 ? r.date : 1) &&
	    p.has_size && p.size == r.size && p.flags == r.flags &&
	    p.has_info, "built \"%s\" parsed as rc %d date %lld flags %#x",
	    big, rc, (long long)p.date, p.flags);

	/* Folder names: store name -> directory -> the same store name. */
	rc = maildir_folder_to_name(name, back, sizeof(back));
	FUZZ_CHECK(rc == 1 || rc == -1, "to_name rc %d", rc);
	rc = maildir_folder_from_name(name, dir, sizeof(dir));
	FUZZ_CHECK(rc == 1 || rc == -1, "from_name rc %d", rc);
	if (rc == 1 && dir[0] != '\0') {
		rc = maildir_folder_to_name(dir, back, sizeof(back));
		FUZZ_CHECK(rc == 1 && strcmp(back, name) == 0, "\"%s\" -> "
		    "\"%s\" -> \"%s\" (rc %d)", name, dir, back, rc);
	} else if (rc == 1)
		FUZZ_CHECK(strcasecmp(name, "INBOX") == 0, "\"%s\" gave the "
		    "Maildir itself", name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[FUZZ_NAME_MAX + 1];
	size_t len = size < FUZZ_NAME_MAX ? size : FUZZ_NAME_MAX, i, start;
	unsigned lines = 0;

	memcpy(name, data, len);
	name[len] = '\0';
	fuzz_name(name);
	/* Each of the first 64 lines on its own. */
	for (i = 0, start = 0; i <= len && lines < 64; i++) {
		if (i < len && name[i] != '\n' && name[i] != '\0')
			continue;
		if (i < len && name[i] == '\0')
			break;
		name[i] = '\0';
		fuzz_name(name + start);
		start = i + 1;
		lines++;
	}
	return 0;
}
