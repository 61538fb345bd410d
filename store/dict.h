/*
 * dict.h - zstd dictionaries trained on the store's own messages.
 *
 * Small messages compress poorly on their own; their header blocks share
 * most of their text with every other message, and their bodies share
 * boilerplate (HTML skeletons, list footers, quoting), so dictionaries
 * trained on a sample of stored segments shrink them a lot.  There is one
 * dictionary per kind of segment: header blocks, and everything else.
 * Dictionaries live in `meta` ("dict:<id>", never deleted: old blobs keep
 * the id they were compressed with); "dict_current:<kind>" names the one
 * used for new segments.  A store trains its first dictionaries by itself
 * once it holds STORE_DICT_TRAIN_AFTER messages, and compresses the
 * segments it already has again with them.
 */
#ifndef VELLUM_STORE_DICT_H
#define VELLUM_STORE_DICT_H

#include "store.h"

#define DICT_HEADER		0
#define DICT_BODY		1
#define DICT_KINDS		2

#define STORE_DICT_TRAIN_AFTER	1000
#define STORE_DICT_SAMPLES	8000
#define STORE_DICT_SIZE		(112 * 1024)

/*
 * Trains new dictionaries (one per kind) from up to STORE_DICT_SAMPLES
 * stored segments each and makes them current; with recompress, existing
 * segments without a dictionary are compressed again (in short
 * transactions).  1 trained, 0 too few samples.
 */
int	store_dict_train(struct store *, int recompress);

/* Current dictionary id of a kind: 1 and *id_r, 0 none yet. */
int	dict_current(struct store_txn *, int kind, uint32_t *id_r);
/* Dictionary bytes (malloc'd): 1 found, 0 not. */
int	dict_load(struct store_txn *, uint32_t id, void **data_r,
	    size_t *len_r);

#endif
