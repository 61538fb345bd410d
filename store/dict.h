/*
 * dict.h - zstd dictionaries trained on the store's own messages.
 *
 * Small messages compress poorly on their own; their header blocks share
 * most of their text with every other message, and their bodies share
 * boilerplate (HTML skeletons, list footers, quoting), so dictionaries
 * trained on a sample of stored segments shrink them a lot.  There is one
 * dictionary per kind of segment: header blocks, and everything else; and
 * one for the IMAP records of bodies (ENVELOPE, BODYSTRUCTURE...: the
 * same field names and MIME words in every record, so a dictionary
 * halves them, and its entropy tables make them quicker to decode).
 * Dictionaries live in `meta` ("dict:<id>", ids never reused: a segment
 * keeps the id it was compressed with); "dict_current:<kind>" names the
 * one used for new segments.
 *
 * Delivery never trains: store_dict_optimize() does, off the delivery
 * path (`vellumctl store optimize`, `vellumctl mail import` between its
 * batches, and vellum-mta's periodic job in a child process).  It trains
 * the first dictionaries once the store holds STORE_DICT_TRAIN_AFTER
 * messages, trains again when the number of segments has doubled since
 * (until STORE_DICT_RETRAIN_UNTIL segments; later only when asked; a
 * store trained before IMAP records had one gets that one alone), and
 * then compresses every segment (and IMAP record) that does not use the
 * current dictionary of its kind again: in fragment order, STORE_DICT_OPT_BATCH segments per
 * short write transaction, so that each transaction frees whole pages of
 * `blobdata` and the next ones append into them (the file does not grow).
 * Every such segment takes the current dictionary, even in the rare case
 * where its frame grows a little (an old dictionary of 112 KiB kept for a
 * few segments would cost more); until a pass has reached a segment, it
 * stays readable with the dictionary it was compressed with.  At the end
 * of a pass, dictionaries that are not current and that no segment uses
 * any more are deleted (a segment that could not be read keeps its own).  A segment compressed for a
 * delivery with a dictionary that is no longer current when its
 * transaction runs is compressed again there (message.c), so no segment
 * ever refers to a deleted dictionary.
 */
#ifndef VELLUM_STORE_DICT_H
#define VELLUM_STORE_DICT_H

#include "store.h"

#define DICT_HEADER		0
#define DICT_BODY		1
#define DICT_IMAP		2	/* IMAP records (imapmeta.c) */
#define DICT_KINDS		3

/*
 * zstd levels with a dictionary: delivery's, and store optimize's for the
 * mail it compresses again (old mail, compressed once more at most when
 * the dictionaries are trained again).  Over the spamassassin corpus with
 * 112 KiB dictionaries: level 6 header blocks 16.7% of raw, other
 * segments 31.4%; level 15 15.0% and 29.7% (19: the same, 3x slower),
 * about 20x slower to compress than level 6 and as fast to decompress.
 */
#define STORE_ZSTD_LEVEL	6
#define STORE_ZSTD_COLD_LEVEL	15

#define STORE_DICT_TRAIN_AFTER	1000
#define STORE_DICT_RETRAIN_UNTIL	65536	/* segments */
#define STORE_DICT_OPT_BATCH	64
#define STORE_DICT_SAMPLES	8000
#define STORE_DICT_SIZE		(256 * 1024)

struct store_optimize {
	/* in */
	int		retrain;	/* train new dictionaries even when
					   not due */
	int		train_only;	/* stop after training (what an
					   interrupted run leaves: tests) */
	/* out */
	int		trained;	/* dictionaries made (0 to 2) */
	uint32_t	dict_ids[DICT_KINDS];	/* current ones, 0 none */
	size_t		segments;	/* looked at */
	size_t		recompressed;	/* compressed again */
	size_t		records;	/* IMAP records compressed again */
	uint64_t	bytes_before;	/* their stored bytes before (segments
					   and records) */
	uint64_t	bytes_after;	/* ... and after */
	size_t		batches;	/* write transactions */
	size_t		dicts_deleted;	/* unused old dictionaries */
};

/*
 * Trains when due (or asked) and compresses the segments again that do
 * not use the current dictionaries (see above).  Nothing to do is quick:
 * a pass that completed with the current dictionaries is not run again.
 * The scan holds 40 bytes per segment to compress again.  0, or -1:
 * INUSE (another optimize runs), PERM (read-only), TEMP, CORRUPT.
 */
int	store_dict_optimize(struct store *, struct store_optimize *);
/*
 * Whether store_dict_optimize() has work (training due or a pass not
 * completed): one short snapshot.  1 yes, 0 no, -1 error.
 */
int	store_dict_due(struct store *);

/* Current dictionary id of a kind: 1 and *id_r, 0 none yet. */
int	dict_current(struct store_txn *, int kind, uint32_t *id_r);
/* Dictionary bytes (malloc'd): 1 found, 0 not. */
int	dict_load(struct store_txn *, uint32_t id, void **data_r,
	    size_t *len_r);

#endif
