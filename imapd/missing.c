/*
 * missing.c - the command handlers of the other helpers' files, until
 * their branches are merged: each answers NO.  A helper deletes its
 * lines here when it merges the core branch; the lead deletes the file
 * at the final merge.
 */
#include "imapd/imapd.h"

void
imap_cmd_list(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_lsub(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_create(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_delete(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_rename(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_status(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_namespace(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_getquota(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_getquotaroot(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_setquota(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_fetch(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_store(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_append(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_copy(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}

void
imap_cmd_move(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "CANNOT", "%s is not built yet", cmd->verb);
}



