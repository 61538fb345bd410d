/*
 * name.c - message file names of the file view (pure functions).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs/fs.h"
#include "mail/maildir.h"
#include "mail/utf7.h"
#include "store/mailbox.h"

struct fs fs;

/* Flag letters in bit order; keywords follow as bits 6.. (a..z). */
static const char fs_flag_letters[] = "DFPRST";

int
fs_msg_in_new(const struct store_msg *m, uint32_t recent_uid)
{
	return m->uid >= recent_uid && !m->maildir_cur && m->flags == 0 &&
	    m->keywords[0] == '\0';
}

int
fs_msg_name(int64_t date, uint32_t uid, uint64_t size, int in_new,
    const char *info, char *buf, size_t bufsize)
{
	char *colon;
	size_t len;

	if (maildir_name_build((time_t)date, uid, fs.hostname, size, 0, buf,
	    bufsize) < 0)
		return -1;
	/* maildir_name_build() ends with ":2," and no flags. */
	if ((colon = strrchr(buf, ':')) == NULL)
		return -1;
	if (in_new) {
		*colon = '\0';
		return 1;
	}
	len = strlen(buf);
	if (len + strlen(info) + 1 > bufsize || len + strlen(info) >
	    FS_NAME_MAX)
		return -1;
	memcpy(buf + len, info, strlen(info) + 1);
	return 1;
}

int
fs_name_uid(const char *name, uint32_t *uid_r)
{
	const char *p = name;
	unsigned long long v;
	char *end;

	/* "<digits>.<digits>." */
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '.' || *p < '1' || *p > '9')
		return 0;
	v = strtoull(p, &end, 10);
	if (*end != '.' || v == 0 || v > UINT32_MAX)
		return 0;
	*uid_r = (uint32_t)v;
	return 1;
}

const char *
fs_name_info(const char *name)
{
	const char *p;

	for (p = name + strlen(name); p > name; p--)
		if ((p[-1] == ':' || p[-1] == '!' || p[-1] == ';') &&
		    p[0] == '2' && p[1] == ',')
			return p + 2;
	return "";
}

uint32_t
fs_info_bits(const char *info)
{
	const char *f;
	uint32_t bits = 0;

	for (; *info != '\0'; info++)
		if (*info >= 'a' && *info <= 'z')
			bits |= 1U << (6 + (*info - 'a'));
		else if ((f = strchr(fs_flag_letters, *info)) != NULL)
			bits |= 1U << (f - fs_flag_letters);
	return bits;
}

char *
fs_info_string(uint32_t bits, char buf[STORE_MAILDIR_INFO_MAX])
{
	size_t i, n = 0;

	for (i = 0; i < 6; i++)
		if (bits & (1U << i))
			buf[n++] = fs_flag_letters[i];
	for (i = 0; i < 26; i++)
		if (bits & (1U << (6 + i)))
			buf[n++] = (char)('a' + i);
	buf[n] = '\0';
	return buf;
}

int
fs_folder_dirname(const char *store_name, char *buf, size_t bufsize)
{
	char u7[STORE_MAILBOX_NAME_MAX * 4 + 1];

	if (utf7_encode(store_name, u7, sizeof(u7)) < 0)
		return -1;
	if (maildir_folder_from_name(u7, buf, bufsize) < 0)
		return -1;
	/* INBOX is the Maildir itself, not a folder directory. */
	return buf[0] == '.' && strlen(buf) <= FS_NAME_MAX ? 1 : -1;
}

int
fs_folder_storename(const char *dirname, char *buf, size_t bufsize)
{
	char u7[STORE_MAILBOX_NAME_MAX * 4 + 1];

	if (maildir_folder_to_name(dirname, u7, sizeof(u7)) < 0)
		return -1;
	if (utf7_decode(u7, strlen(u7), buf, bufsize) < 0)
		return -1;
	return strcasecmp(buf, "INBOX") == 0 ? -1 : 1;
}
