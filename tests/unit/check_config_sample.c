/*
 * check_config_sample.c - the sample vellum.conf that `meson install`
 * puts in SYSCONFDIR/vellum (dist/vellum.conf.in, paths substituted in
 * the build dir) is the embedded default of common/config.c with the
 * places of an installed system, and the defaults its comments show are
 * the real ones.  So the sample cannot drift from the code: a change to
 * the embedded default fails here until the sample follows.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "common/xmalloc.h"

#ifndef VELLUM_SAMPLE_CONF
#error "VELLUM_SAMPLE_CONF: the configured sample (tests/unit/meson.build)"
#endif
#ifndef VELLUM_SAMPLE_DATA_DIR
#error "VELLUM_SAMPLE_DATA_DIR: its data_dir (tests/unit/meson.build)"
#endif

/* What the sample sets beyond the embedded default. */
#define SAMPLE_USER		"vellum"
#define SAMPLE_MOUNTPOINT	VELLUM_SAMPLE_DATA_DIR "/mail"
/* The line that starts the commented knobs, each with its default. */
#define SAMPLE_KNOBS_MARK	"# More knobs"

static Suite	*sample_suite(void);
static char	*read_sample(size_t *len_r);
static void	 parse_text(const char *what, const char *text, size_t len,
		    struct config *c);
static void	 same_config(const struct config *want,
		    const struct config *got, const char *what);
static char	*uncomment_knobs(const char *text);
static void	 zero_tail(char *s, size_t size);
static void	 canonical(struct config *c);

static char *
read_sample(size_t *len_r)
{
	FILE *fp;
	char *buf;
	long n;

	fp = fopen(VELLUM_SAMPLE_CONF, "r");
	ck_assert_msg(fp != NULL, "cannot open the sample %s",
	    VELLUM_SAMPLE_CONF);
	ck_assert(fseek(fp, 0, SEEK_END) == 0);
	n = ftell(fp);
	ck_assert(n > 0);
	rewind(fp);
	buf = xmalloc((size_t)n + 1);
	ck_assert(fread(buf, 1, (size_t)n, fp) == (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len_r = (size_t)n;
	return buf;
}

static void
parse_text(const char *what, const char *text, size_t len, struct config *c)
{
	char *errs = NULL;
	int rc;

	rc = config_parse(VELLUM_SAMPLE_CONF, text, len, c, &errs);
	ck_assert_msg(rc == 0, "%s does not parse:\n%s", what,
	    errs != NULL ? errs : err_msg());
	canonical(c);
}

/* Zeroes the bytes of s[size] after its text. */
static void
zero_tail(char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n < size)
		memset(s + n, 0, size - n);
}

/*
 * What the parser leaves behind the text of a string is no setting (the
 * listen parser fills each entry from a copy on the stack): zeroed, so
 * that the byte comparison sees settings only.
 */
static void
canonical(struct config *c)
{
	size_t i;
	int s;

	memset(c->path, 0, sizeof(c->path));
	for (s = 0; s < SVC_COUNT; s++)
		for (i = 0; i < CONFIG_LISTEN_MAX; i++) {
			zero_tail(c->svc[s].listen[i].host,
			    sizeof(c->svc[s].listen[i].host));
			zero_tail(c->svc[s].listen[i].port,
			    sizeof(c->svc[s].listen[i].port));
		}
}

/* Named fields first, for a readable message; then every byte. */
static void
same_config(const struct config *want, const struct config *got,
    const char *what)
{
	const unsigned char *a = (const void *)want, *b = (const void *)got;
	size_t i;
	int s;

	ck_assert_msg(strcmp(want->data_dir, got->data_dir) == 0,
	    "%s: data_dir is '%s', expected '%s'", what, got->data_dir,
	    want->data_dir);
	ck_assert_msg(strcmp(want->user, got->user) == 0,
	    "%s: user is '%s', expected '%s'", what, got->user, want->user);
	ck_assert_msg(strcmp(want->fs_mountpoint, got->fs_mountpoint) == 0,
	    "%s: [fs] mountpoint is '%s', expected '%s'", what,
	    got->fs_mountpoint, want->fs_mountpoint);
	ck_assert_msg(want->fs_enabled == got->fs_enabled &&
	    want->mta_enabled == got->mta_enabled,
	    "%s: [fs] %d [mta] %d, expected [fs] %d [mta] %d", what,
	    got->fs_enabled, got->mta_enabled, want->fs_enabled,
	    want->mta_enabled);
	for (s = 0; s < SVC_COUNT; s++)
		ck_assert_msg(want->svc[s].enabled == got->svc[s].enabled,
		    "%s: [%s] is %s, expected %s", what,
		    config_svc_name((enum config_svc)s),
		    got->svc[s].enabled ? "on" : "off",
		    want->svc[s].enabled ? "on" : "off");
	for (i = 0; i < sizeof(*want); i++)
		if (a[i] != b[i])
			break;
	ck_assert_msg(i == sizeof(*want), "%s: struct config differs at "
	    "byte %zu of %zu (a key whose value is not the expected one: "
	    "compare dist/vellum.conf.in with config_embedded[] in "
	    "common/config.c)", what, i, sizeof(*want));
}

START_TEST(test_sample_is_embedded_default)
{
	struct config *want, *got;
	char *text;
	size_t len;

	want = xcalloc(1, sizeof(*want));
	got = xcalloc(1, sizeof(*got));
	config_default(want);
	canonical(want);
	/* The places of an installed system, the same way the parser would
	 * write them (the rest of each array stays as config_default left
	 * it: zero past the text, since the sample's values are longer). */
	ck_assert(strlen(VELLUM_SAMPLE_DATA_DIR) >= strlen(want->data_dir));
	snprintf(want->data_dir, sizeof(want->data_dir), "%s",
	    VELLUM_SAMPLE_DATA_DIR);
	snprintf(want->user, sizeof(want->user), "%s", SAMPLE_USER);
	ck_assert(strlen(SAMPLE_MOUNTPOINT) >= strlen(want->fs_mountpoint));
	snprintf(want->fs_mountpoint, sizeof(want->fs_mountpoint), "%s",
	    SAMPLE_MOUNTPOINT);

	text = read_sample(&len);
	parse_text("the sample", text, len, got);
	same_config(want, got, VELLUM_SAMPLE_CONF);
	free(text);
	free(want);
	free(got);
}
END_TEST

/*
 * The sample with the "#key = value" and "#[section]" lines after
 * SAMPLE_KNOBS_MARK made live: a malloc'd copy.
 */
static char *
uncomment_knobs(const char *text)
{
	char *out, *p, *line;
	int n = 0;

	out = xstrdup(text);
	p = strstr(out, "\n" SAMPLE_KNOBS_MARK);
	ck_assert_msg(p != NULL, "the sample has no '%s' line",
	    SAMPLE_KNOBS_MARK);
	for (line = strchr(p + 1, '\n'); line != NULL;
	    line = strchr(line + 1, '\n')) {
		if (line[1] == '#' && (line[2] == '[' ||
		    (line[2] >= 'a' && line[2] <= 'z'))) {
			line[1] = ' ';
			n++;
		}
	}
	ck_assert_msg(n >= 4, "only %d commented knobs after '%s'", n,
	    SAMPLE_KNOBS_MARK);
	return out;
}

START_TEST(test_commented_defaults_are_true)
{
	struct config *plain, *knobs;
	char *text, *live;
	size_t len;

	plain = xcalloc(1, sizeof(*plain));
	knobs = xcalloc(1, sizeof(*knobs));
	text = read_sample(&len);
	live = uncomment_knobs(text);
	parse_text("the sample", text, len, plain);
	parse_text("the sample with its knobs uncommented", live,
	    strlen(live), knobs);
	same_config(plain, knobs, "the sample's commented defaults");
	free(live);
	free(text);
	free(plain);
	free(knobs);
}
END_TEST

static Suite *
sample_suite(void)
{
	Suite *s = suite_create("config_sample");
	TCase *tc = tcase_create("sample");

	tcase_add_test(tc, test_sample_is_embedded_default);
	tcase_add_test(tc, test_commented_defaults_are_true);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sample_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
