/*
 * cmd_reload.c - vellumctl reload
 *
 * Sends SIGHUP to the vellumd of the data dir (its locked pid file) and
 * prints how the reload went, as `vellumd reload` does
 * (daemon_reload_request()).  With -c the data dir is the file's; the
 * file may have errors: vellumd is still asked, lists them in its log
 * and refuses it, and they are printed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/daemon.h"
#include "common/error.h"

#include "ctl.h"

int
cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	static struct config c;
	char *msg = NULL;
	int rc;

	if (argc > 0 && (strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "help") == 0)) {
		printf("usage: vellumctl [-c vellum.conf | -d DATA_DIR] "
		    "reload\n  make the running vellumd read its config "
		    "again (SIGHUP) and print the outcome\n");
		return CTL_OK;
	}
	if (argc > 0) {
		fprintf(stderr, "vellumctl: reload takes no arguments\n");
		return CTL_USAGE;
	}
	memset(&c, 0, sizeof(c));
	if (ctl->conf_path != NULL)
		(void)config_load(ctl->conf_path, &c, NULL);
	if (c.data_dir[0] == '\0')
		snprintf(c.data_dir, sizeof(c.data_dir), "%s", ctl->data_dir);
	rc = daemon_reload_request(&c, &msg);
	if (rc == 0 && ctl->json) {
		/* One JSON object: the message without its last newline. */
		if (msg != NULL && *msg != '\0' &&
		    msg[strlen(msg) - 1] == '\n')
			msg[strlen(msg) - 1] = '\0';
		ctl->verb = "";
		ctl_done(ctl, "%s", msg != NULL ? msg : "reloaded");
	} else if (msg != NULL)
		fputs(msg, rc == 0 ? stdout : stderr);
	free(msg);
	return rc == 0 ? CTL_OK : CTL_FAIL;
}
