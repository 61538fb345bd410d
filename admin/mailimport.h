/*
 * mailimport.h - "vellumctl mail import" (admin/mailimport.c), called by
 * the "mail" dispatcher in cmd_mail.c.
 */
#ifndef VELLUM_ADMIN_MAILIMPORT_H
#define VELLUM_ADMIN_MAILIMPORT_H

#include "ctl.h"

/*
 * Imports path (a Maildir, a directory of messages, an mbox or one
 * message; see mailimport.c) for the user address into folder (the
 * Maildir's own folder; subfolders go below it).  Prints a summary on
 * stdout and each failure on stderr.  CTL_OK, or CTL_FAIL when anything
 * failed.
 */
int	mailimport_run(struct ctl *, const char *address, const char *path,
	    const char *folder);

#endif
