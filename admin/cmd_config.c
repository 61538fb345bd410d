/*
 * cmd_config.c - vellumctl config check|show [--all]
 *
 * Both read the file of -c (without it, the embedded default of `make
 * run`) with the daemons' parser and the daemons' [tls] check, so that
 * what they accept is what vellumd and the daemons accept.  show prints
 * the effective settings as config_print() writes them: what differs
 * from the defaults (like postconf -n), or every key with --all (like
 * doveconf); the output is itself a vellum.conf.  With --json, check says
 * {"ok": true, "message": ...} and show puts the text in "message".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/daemon.h"
#include "common/error.h"

#include "ctl.h"

static int	cmd_config_load(struct ctl *, struct config *);
static int	cmd_config_flags(struct ctl_opt *);

/* Loads the config; prints every error (FILE:LINE: ...) and fails. */
static int
cmd_config_load(struct ctl *ctl, struct config *c)
{
	char *errors = NULL;

	if (ctl->conf_path == NULL) {
		config_default(c);
		return 0;
	}
	if (config_load(ctl->conf_path, c, &errors) != 0) {
		if (errors != NULL)
			fputs(errors, stderr);
		free(errors);
		return ctl_failx("%s", err_msg());
	}
	if (daemon_check_tls(c) != 0)
		return ctl_failx("%s: %s", ctl->conf_path, err_msg());
	return 0;
}

/* config_print()'s flags from --all and --secrets. */
static int
cmd_config_flags(struct ctl_opt *opts)
{
	return (ctl_opt(opts, "all")->seen ? CONFIG_PRINT_ALL : 0) |
	    (ctl_opt(opts, "secrets")->seen ? CONFIG_PRINT_SECRETS : 0);
}

int
cmd_config(struct ctl *ctl, int argc, char **argv)
{
	static struct config c;
	struct ctl_opt opts[] = { { "all", 0, NULL, 0 },
	    { "secrets", 0, NULL, 0 }, { NULL, 0, NULL, 0 } };
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	int npos, rc;

	if (strcmp(ctl->verb, "check") == 0) {
		if (ctl_args(ctl, argc, argv, opts + 1, 0, 0, &npos) != CTL_OK)
			return CTL_USAGE;
		if (cmd_config_load(ctl, &c) != 0)
			return CTL_FAIL;
		ctl_done(ctl, "%s: no errors", ctl->conf_path != NULL ?
		    ctl->conf_path : "the embedded default");
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "show") == 0) {
		if (ctl_args(ctl, argc, argv, opts, 0, 0, &npos) != CTL_OK)
			return CTL_USAGE;
		if (cmd_config_load(ctl, &c) != 0)
			return CTL_FAIL;
		if (!ctl->json) {
			if (config_print(stdout, &c, cmd_config_flags(opts)) != 0)
				return ctl_fail(NULL, "config show");
			return CTL_OK;
		}
		/* --json: {"command": ..., "message": the config text} */
		if ((fp = open_memstream(&text, &len)) == NULL)
			return ctl_failx("config show: out of memory");
		rc = config_print(fp, &c, cmd_config_flags(opts));
		fclose(fp);
		if (rc != 0) {
			free(text);
			return ctl_fail(NULL, "config show");
		}
		if (len > 0 && text[len - 1] == '\n')
			text[len - 1] = '\0';
		ctl_done(ctl, "%s", text);
		free(text);
		return CTL_OK;
	}
	return ctl_usage(ctl, "config: unknown command '%s'", ctl->verb);
}
