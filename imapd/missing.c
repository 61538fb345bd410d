/*
 * missing.c - the command handlers of the other helpers' files, until
 * their branches are merged: each answers NO.  A helper deletes its
 * lines here when it merges the core branch; the lead deletes the file
 * at the final merge.
 */
#include "imapd/imapd.h"

void
imap_cmd_search(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_sort(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_thread(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}
