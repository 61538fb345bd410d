/*
 * cmd_store.c - vellumctl store stats|check|backup|optimize
 *
 * Ratios in stats: dedup = raw_bytes / blob_bytes (how many times the
 * stored segments are used), compression = stored_bytes / blob_bytes
 * (compressed size over uncompressed size of the distinct segments).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/size.h"
#include "store/check.h"
#include "store/dict.h"

#include "ctl.h"

static void	cmd_store_problem(const char *problem, void *ctx);
static int	cmd_store_stats(struct ctl *);
static int	cmd_store_check(struct ctl *);
static int	cmd_store_optimize(struct ctl *, int retrain);
static double	cmd_store_ratio(uint64_t a, uint64_t b);

static double
cmd_store_ratio(uint64_t a, uint64_t b)
{
	return b == 0 ? 0.0 : (double)a / (double)b;
}

static int
cmd_store_stats(struct ctl *ctl)
{
	struct store_stats s;
	char b[SIZE_FORMAT_MAX], b2[SIZE_FORMAT_MAX];

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_stats(ctl->store, &s) < 0)
		return ctl_fail(NULL, "store stats");
	if (ctl->json) {
		printf("{\"domains\": %" PRIu64 ", \"users\": %" PRIu64
		    ", \"mailboxes\": %" PRIu64 ", \"messages\": %" PRIu64
		    ", \"bodies\": %" PRIu64 ", \"blobs\": %" PRIu64
		    ", \"raw_bytes\": %" PRIu64 ", \"body_bytes\": %" PRIu64
		    ", \"blob_bytes\": %" PRIu64 ", \"stored_bytes\": %" PRIu64
		    ", \"file_bytes\": %" PRIu64 ", \"map_bytes\": %" PRIu64
		    ", \"dicts\": %" PRIu64 ", \"imap_records\": %" PRIu64
		    ", \"imap_raw_bytes\": %" PRIu64
		    ", \"imap_stored_bytes\": %" PRIu64
		    ", \"dedup_ratio\": %.3f"
		    ", \"compression_ratio\": %.3f}\n", s.domains, s.users,
		    s.mailboxes, s.messages, s.bodies, s.blobs, s.raw_bytes,
		    s.body_bytes, s.blob_bytes, s.stored_bytes, s.file_bytes,
		    s.map_bytes, s.dicts, s.imap_records, s.imap_raw_bytes,
		    s.imap_stored_bytes,
		    cmd_store_ratio(s.raw_bytes, s.blob_bytes),
		    cmd_store_ratio(s.stored_bytes, s.blob_bytes));
		return CTL_OK;
	}
	printf("domains:           %" PRIu64 "\n", s.domains);
	printf("users:             %" PRIu64 "\n", s.users);
	printf("mailboxes:         %" PRIu64 "\n", s.mailboxes);
	printf("messages:          %" PRIu64 "\n", s.messages);
	printf("bodies:            %" PRIu64 " (distinct messages)\n",
	    s.bodies);
	printf("blobs:             %" PRIu64 " (distinct segments)\n",
	    s.blobs);
	printf("raw bytes:         %" PRIu64 " (%s)\n", s.raw_bytes,
	    size_format(s.raw_bytes, b, sizeof(b)));
	printf("body bytes:        %" PRIu64 " (%s)\n", s.body_bytes,
	    size_format(s.body_bytes, b, sizeof(b)));
	printf("blob bytes:        %" PRIu64 " (%s)\n", s.blob_bytes,
	    size_format(s.blob_bytes, b, sizeof(b)));
	printf("stored bytes:      %" PRIu64 " (%s, compressed)\n",
	    s.stored_bytes, size_format(s.stored_bytes, b, sizeof(b)));
	printf("file bytes:        %" PRIu64 " (%s)\n", s.file_bytes,
	    size_format(s.file_bytes, b, sizeof(b)));
	printf("map size:          %" PRIu64 " (%s)\n", s.map_bytes,
	    size_format(s.map_bytes, b, sizeof(b)));
	printf("imap records:      %" PRIu64 " (%s stored, %s raw)\n",
	    s.imap_records, size_format(s.imap_stored_bytes, b, sizeof(b)),
	    size_format(s.imap_raw_bytes, b2, sizeof(b2)));
	printf("dedup ratio:       %.3f (raw / blob bytes)\n",
	    cmd_store_ratio(s.raw_bytes, s.blob_bytes));
	printf("compression ratio: %.3f (stored / blob bytes)\n",
	    cmd_store_ratio(s.stored_bytes, s.blob_bytes));
	return CTL_OK;
}

static void
cmd_store_problem(const char *problem, void *ctx)
{
	struct ctl *ctl = ctx;
	static int n;

	if (!ctl->json) {
		printf("problem: %s\n", problem);
		return;
	}
	printf("%s", n++ > 0 ? ", " : "");
	ctl_json_str(stdout, problem);
}

static int
cmd_store_check(struct ctl *ctl)
{
	struct store_stats s;
	int n;

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (ctl->json)
		printf("{\"problems\": [");
	if ((n = store_check(ctl->store, cmd_store_problem, ctl)) < 0) {
		if (ctl->json)
			printf("]}\n");
		return ctl_fail(NULL, "store check could not run");
	}
	if (ctl->json && n > 0)
		printf("], \"ok\": false}\n");
	else if (n > 0)
		printf("store check: %d problem%s\n", n, n == 1 ? "" : "s");
	if (n > 0) {
		fprintf(stderr, "vellumctl: store check found %d problem%s "
		    "(see above; restore from a backup or report a bug)\n", n,
		    n == 1 ? "" : "s");
		return CTL_FAIL;
	}
	if (store_stats(ctl->store, &s) < 0)
		return ctl_fail(NULL, "store stats");
	if (ctl->json)
		printf("], \"ok\": true, \"messages\": %" PRIu64 ", "
		    "\"blobs\": %" PRIu64 "}\n", s.messages, s.blobs);
	else
		printf("store check: ok, %" PRIu64 " messages, %" PRIu64
		    " blobs\n", s.messages, s.blobs);
	return CTL_OK;
}

/*
 * Trains the zstd dictionaries when due (or with --retrain) and
 * compresses again the segments that do not use the current ones.
 */
static int
cmd_store_optimize(struct ctl *ctl, int retrain)
{
	struct store_optimize o = { 0 };
	char b[SIZE_FORMAT_MAX], b2[SIZE_FORMAT_MAX];

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	o.retrain = retrain;
	if (store_dict_optimize(ctl->store, &o) < 0)
		return ctl_fail(err_class() == ERR_INUSE ? "try again when it "
		    "has finished" : NULL, "store optimize");
	if (ctl->json) {
		printf("{\"trained\": %d, \"header_dict\": %" PRIu32
		    ", \"body_dict\": %" PRIu32 ", \"imap_dict\": %" PRIu32
		    ", \"segments\": %zu, \"recompressed\": %zu"
		    ", \"imap_records\": %zu, \"bytes_before\": %" PRIu64
		    ", \"bytes_after\": %" PRIu64 ", \"transactions\": %zu"
		    ", \"dicts_deleted\": %zu}\n", o.trained,
		    o.dict_ids[DICT_HEADER], o.dict_ids[DICT_BODY],
		    o.dict_ids[DICT_IMAP], o.segments, o.recompressed,
		    o.records, o.bytes_before, o.bytes_after, o.batches,
		    o.dicts_deleted);
		return CTL_OK;
	}
	if (o.dict_ids[DICT_HEADER] == 0 && o.dict_ids[DICT_BODY] == 0) {
		printf("store optimize: no dictionaries yet (too little mail: "
		    "they are trained from %d messages on)\n",
		    STORE_DICT_TRAIN_AFTER);
		return CTL_OK;
	}
	printf("store optimize: %d new dictionar%s (current: header %" PRIu32
	    ", body %" PRIu32 ", IMAP %" PRIu32 "), %zu segment%s and %zu "
	    "IMAP record%s compressed again", o.trained,
	    o.trained == 1 ? "y" : "ies", o.dict_ids[DICT_HEADER],
	    o.dict_ids[DICT_BODY], o.dict_ids[DICT_IMAP], o.recompressed,
	    o.recompressed == 1 ? "" : "s", o.records,
	    o.records == 1 ? "" : "s");
	if (o.recompressed > 0 || o.records > 0)
		printf(" (%s -> %s) in %zu transaction%s",
		    size_format(o.bytes_before, b, sizeof(b)),
		    size_format(o.bytes_after, b2, sizeof(b2)), o.batches,
		    o.batches == 1 ? "" : "s");
	if (o.dicts_deleted > 0)
		printf(", %zu unused dictionar%s deleted", o.dicts_deleted,
		    o.dicts_deleted == 1 ? "y" : "ies");
	printf("\n");
	return CTL_OK;
}

int
cmd_store(struct ctl *ctl, int argc, char **argv)
{
	int n, rc;

	if (strcmp(ctl->verb, "stats") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_store_stats(ctl);
	}
	if (strcmp(ctl->verb, "check") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_store_check(ctl);
	}
	if (strcmp(ctl->verb, "backup") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_backup(ctl->store, argv[0]) < 0)
			return ctl_fail(err_class() == ERR_EXISTS ?
			    "choose an empty destination" : NULL,
			    "store backup %s", argv[0]);
		ctl_done(ctl, "store backed up to %s/store (open it with "
		    "'vellumctl -d %s')", argv[0], argv[0]);
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "optimize") == 0) {
		struct ctl_opt opts[] = {
			{ "retrain", 0, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};

		if ((rc = ctl_args(ctl, argc, argv, opts, 0, 0, &n)) != 0)
			return rc;
		return cmd_store_optimize(ctl, ctl_opt(opts, "retrain")->seen);
	}
	return ctl_usage(ctl, "unknown command 'store %s'", ctl->verb);
}
