/*
 * optimize.h - vellum-mta's background job: the store's zstd dictionaries
 * (store/dict.h) trained and the mail compressed again with them, off
 * every delivery path.
 *
 * Every MTA_OPTIMIZE_CHECK_S the loop asks the store whether there is
 * work (store_dict_due(): one short snapshot); at most every
 * MTA_OPTIMIZE_MIN_S, when there is, it starts a child process that runs
 * store_dict_optimize() in a store handle of its own (vellum-mta itself,
 * executed again with MTA_OPTIMIZE_ARG: LMDB handles are not shared
 * across fork).  The training and the recompression (seconds for a
 * large store) never run on the loop, and the queue goes on meanwhile.
 * The child is reaped by the same timer; it is stopped with SIGTERM when
 * vellum-mta stops (an interrupted optimize leaves a consistent store and
 * the next one goes on).  Tests shorten both intervals with the
 * environment variable VELLUM_TEST_OPTIMIZE_S (seconds).
 */
#ifndef VELLUM_MTA_OPTIMIZE_H
#define VELLUM_MTA_OPTIMIZE_H

struct event_base;
struct store;

#define MTA_OPTIMIZE_CHECK_S	60
#define MTA_OPTIMIZE_MIN_S	600
#define MTA_OPTIMIZE_ARG	"--store-optimize"

/* Starts the timer; 0, or -1 (err set). */
int	mta_optimize_start(struct event_base *, struct store *,
	    const char *data_dir);
/* Stops the timer and a running child (SIGTERM, then waits for it). */
void	mta_optimize_stop(void);
/*
 * The child's side (main() with MTA_OPTIMIZE_ARG DATA_DIR LOG, LOG being
 * "stderr:VERBOSE" or "syslog:VERBOSE"): the exit status.
 */
int	mta_optimize_child(const char *data_dir, const char *logspec);

#endif
