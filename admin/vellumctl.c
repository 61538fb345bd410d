/*
 * vellumctl.c - the administration command: global options and dispatch.
 *
 * vellumctl [-c vellum.conf | -d DATA_DIR] [--json] NOUN VERB ...
 * Each noun lives in admin/cmd_NOUN.c; admin/ctl.c has what they share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "store/store.h"
#include "store/user.h"

#include "ctl.h"

#define CTL_DATA_DIR_DEFAULT	"./var"

struct ctl_noun {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
};

static const struct ctl_noun ctl_nouns[] = {
	{ "domain",	cmd_domain },
	{ "user",	cmd_user },
	{ "addr",	cmd_addr },
	{ "mail",	cmd_mail },
	{ "quota",	cmd_quota },
	{ "queue",	cmd_queue },
	{ "transport",	cmd_transport },
	{ "dkim",	cmd_dkim },
	{ "bcc",	cmd_bcc },
	{ "disclaimer",	cmd_disclaimer },
	{ "acl",	cmd_acl },
	{ "lock",	cmd_lock },
	{ "auth",	cmd_auth },
	{ "rate",	cmd_rate },
	{ "store",	cmd_store },
	{ "vacation",	cmd_vacation },
	{ "list",	cmd_list },
	{ "filter",	cmd_filter },
	{ "config",	cmd_config },
	{ "reload",	cmd_reload },
	{ "mailbox",	cmd_mailbox },
	{ "who",	cmd_who },
	{ "kick",	cmd_who },
	{ NULL,		NULL },
};

static void	vellumctl_usage(FILE *fp);
static int	vellumctl_config(const char *path, struct ctl *);

/* The -c file; its data_dir outlives main()'s use of it. */
static struct config vellumctl_cfg;

static void
vellumctl_usage(FILE *fp)
{
	fprintf(fp, "usage: vellumctl [-c vellum.conf | -d DATA_DIR] [--json] "
	    "NOUN VERB [ARGS...]\n\ncommands:\n");
	ctl_help(fp, NULL);
	fprintf(fp, "\nThe data dir defaults to %s.  --json may also follow "
	    "the verb.\nSizes are written like 500M, 60K, 2G.  Exit status: "
	    "0 ok, 1 failed, 2 usage.\nSee vellumctl(8).\n",
	    CTL_DATA_DIR_DEFAULT);
}

/*
 * Reads vellum.conf with the daemons' parser (common/config.c): all its
 * errors are printed, then vellumctl fails.  Only data_dir and [quota]
 * grace_days and full_mark matter here.
 */
static int
vellumctl_config(const char *path, struct ctl *ctl)
{
	char *errors = NULL;

	if (config_load(path, &vellumctl_cfg, &errors) != 0) {
		if (errors != NULL) {
			fputs(errors, stderr);
			fprintf(stderr, "vellumctl: %s (fix the lines above)\n",
			    err_msg());
			free(errors);
		} else
			fprintf(stderr, "vellumctl: %s, or use -d DATA_DIR\n",
			    err_msg());
		return -1;
	}
	ctl->data_dir = vellumctl_cfg.data_dir;
	ctl->grace_days = (int)vellumctl_cfg.quota_grace_days;
	store_user_set_full_mark(vellumctl_cfg.quota_full_mark);
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	const char *conf = NULL, *dir = NULL;
	int i, j, rc;

	log_init("vellumctl", LOG_TO_STDERR, 0);
	memset(&ctl, 0, sizeof(ctl));
	ctl.grace_days = CTL_GRACE_DAYS_DEFAULT;

	/* --json may stand anywhere before "--": take it out first. */
	for (i = 1, j = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json") == 0)
			ctl.json = 1;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = NULL;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			vellumctl_usage(stdout);
			return CTL_OK;
		} else if (strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "-d") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "vellumctl: %s needs an "
				    "argument\n", argv[i]);
				vellumctl_usage(stderr);
				return CTL_USAGE;
			}
			if (argv[i][1] == 'c')
				conf = argv[++i];
			else
				dir = argv[++i];
		} else {
			fprintf(stderr, "vellumctl: unknown option %s (see "
			    "vellumctl --help)\n", argv[i]);
			return CTL_USAGE;
		}
	}
	if (conf != NULL && dir != NULL) {
		fprintf(stderr, "vellumctl: give -c or -d, not both\n");
		return CTL_USAGE;
	}
	if (i >= argc) {
		vellumctl_usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc) {
			ctl_help(stdout, argv[i + 1]);
			return CTL_OK;
		}
		vellumctl_usage(stdout);
		return CTL_OK;
	}
	ctl.conf_path = conf;
	/* config and reload read the file themselves, errors and all. */
	if (conf != NULL && strcmp(argv[i], "config") != 0 &&
	    strcmp(argv[i], "reload") != 0) {
		if (vellumctl_config(conf, &ctl) < 0)
			return CTL_FAIL;
	} else
		ctl.data_dir = dir != NULL ? dir : CTL_DATA_DIR_DEFAULT;

	ctl.noun = argv[i];
	for (j = 0; ctl_nouns[j].name != NULL; j++)
		if (strcmp(ctl_nouns[j].name, ctl.noun) == 0)
			break;
	if (ctl_nouns[j].name == NULL) {
		fprintf(stderr, "vellumctl: unknown command '%s' (vellumctl "
		    "help lists the commands)\n", ctl.noun);
		return CTL_USAGE;
	}
	if (strcmp(ctl.noun, "reload") == 0)	/* no verb */
		return cmd_reload(&ctl, argc - i - 1, argv + i + 1);
	if (i + 1 >= argc && strcmp(ctl.noun, "who") == 0)
		argv[argc++] = (char *)"list";	/* `who` alone lists */
	if (i + 1 >= argc || strcmp(argv[i + 1], "--help") == 0 ||
	    strcmp(argv[i + 1], "help") == 0) {
		if (i + 1 >= argc) {
			fprintf(stderr, "vellumctl: %s: which one?\n",
			    ctl.noun);
			ctl_help(stderr, ctl.noun);
			return CTL_USAGE;
		}
		ctl_help(stdout, ctl.noun);
		return CTL_OK;
	}
	ctl.verb = argv[i + 1];
	rc = ctl_nouns[j].fn(&ctl, argc - i - 2, argv + i + 2);
	ctl_close(&ctl);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("vellumctl: writing the output");
		return CTL_FAIL;
	}
	return rc;
}
