/*
 * dict.h - zstd dictionaries trained on the store's own headers.
 *
 * Small messages compress poorly on their own; their header blocks share
 * most of their text with every other message, so a dictionary trained on
 * a sample of stored headers shrinks them a lot.  Dictionaries live in
 * `meta` ("dict:<id>") and are never deleted while a blob uses them; the
 * newest ("dict_current") is used for new header segments.  A store trains
 * its first dictionary by itself once it holds STORE_DICT_TRAIN_AFTER
 * messages.
 */
#ifndef VELLUM_STORE_DICT_H
#define VELLUM_STORE_DICT_H

#include "store.h"

#define STORE_DICT_TRAIN_AFTER	1000
#define STORE_DICT_SAMPLES	5000
#define STORE_DICT_SIZE		(64 * 1024)

/*
 * Trains a new dictionary from up to STORE_DICT_SAMPLES stored header
 * blocks and makes it current; with recompress, existing header blobs are
 * compressed again with it (in batches of short transactions).  1 trained,
 * 0 too few samples.  *id_r (may be NULL) gets the new dictionary's id.
 */
int	store_dict_train(struct store *, int recompress, uint32_t *id_r);

/* Current dictionary id: 1 and *id_r, 0 none yet. */
int	dict_current(struct store_txn *, uint32_t *id_r);
/* Dictionary bytes (malloc'd): 1 found, 0 not. */
int	dict_load(struct store_txn *, uint32_t id, void **data_r,
	    size_t *len_r);

#endif
