/*
 * private.h - what the store's files share and nobody else sees.
 */
#ifndef VELLUM_STORE_PRIVATE_H
#define VELLUM_STORE_PRIVATE_H

#include <sys/types.h>

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <zstd.h>

#include "store.h"

#define STORE_SCHEMA_VERSION	6
/* The oldest schema store_open() reads (and upgrades when writable). */
#define STORE_SCHEMA_OLDEST	1
#define STORE_REC_VERSION	1

/* The named databases of DESIGN.md, plus two indexes (see store.c). */
enum store_db {
	DB_META,
	DB_DOMAINS,
	DB_USERS,
	DB_LOGINS,	/* primary address -> user id */
	DB_ADDRESSES,
	DB_MAILBOXES,
	DB_MBOX,
	DB_MSGS,
	DB_BODIES,
	DB_BODYHASH,	/* SHA-256 of a message -> body id */
	DB_BLOBS,
	DB_BLOBDATA,	/* fragment id -> compressed bytes of a blob */
	DB_LOCKS,	/* volatile: lock name -> owner (lock.c) */
	DB_QUEUE,
	DB_ACCESS,	/* client IP -> trusted until (POP-before-SMTP) */
	DB_AUTHFAIL,	/* volatile: (client IP, login) -> failed logins
			   (authfail.c) */
	DB_TRANSPORTS,	/* outbound transports, source addresses */
	DB_EXPUNGES,	/* mailbox id -> (modseq, uid, time) dups: the
			   expunge log (message.c) */
	DB_IMAPMETA,	/* (body id, piece) -> IMAP record bytes */
	DB_MAILDIRKW,	/* mailbox id -> its keyword list (maildir.c) */
	DB_USERDATA,	/* (user id, kind, ...) -> per-user settings:
			   filters, auto-responder (userdata.c) */
	DB_LISTS,	/* list address -> list record (list.c) */
	DB_LISTMEMBERS,	/* (list id, member address) -> "" (list.c) */
	DB_LEARN,	/* sequence -> Spam training entry (learn.c) */
	DB_LOCKWAIT,	/* volatile: (lock name, ticket) -> waiter (lock.c) */
	DB_SLOTS,	/* volatile: (name, pid) -> slots held (slot.c) */
	DB_DOMUSERS,	/* (domain, NUL, "local@") -> user id: the users
			   of a domain without a scan of all (user.c) */
	DB_MSGKW,	/* (mailbox id, uid) -> keywords of a message that
			   has any (msgrow.c) */
	DB_DKIM,	/* (domain, NUL, selector) -> DKIM key (dkim.c) */
	DB_BCC,		/* (kind, address) -> automatic BCC target (bcc.c) */
	DB_POLICY,	/* sending policy, counters, locks (policy.c) */
	DB_DISCLAIMER,	/* name -> disclaimer rule (disclaimer.c) */
	DB_ACL,		/* inbound black and white lists (acl.c) */
	DB_RATEBLOCK,	/* volatile: client host -> blocked for a day
			   (rateblock.c) */
	DB_COUNT
};

extern const char *const store_db_names[DB_COUNT];

/* DUPSORT tables; `messages` (DB_MSGS) has fixed-size rows too. */
#define DB_IS_DUP(i)	((i) == DB_MSGS || (i) == DB_EXPUNGES)
#define DB_FLAGS(i)	((i) == DB_MSGS ? MDB_DUPSORT | MDB_DUPFIXED : \
			 DB_IS_DUP(i) ? MDB_DUPSORT : 0)
/* Tables of the volatile environment (volatile.c), not of the store. */
#define DB_IS_VOLATILE(i)	((i) == DB_LOCKS || (i) == DB_AUTHFAIL || \
				 (i) == DB_LOCKWAIT || (i) == DB_SLOTS || \
				 (i) == DB_RATEBLOCK)

struct store_dict;
struct login_cache;

struct store {
	MDB_env			*env;
	MDB_env			*venv;		/* volatile.c; NULL: none */
	MDB_dbi			 dbi[DB_COUNT];	/* DB_IS_VOLATILE: of venv */
	char			*path;
	unsigned		 flags;
	uint64_t		 mapsize;
	unsigned		 access_grants;	/* access.c */
	int			 no_transports;	/* the same for transports */
	int			 no_dkim;	/* ... and for dkim keys */
	int			 no_bcc;	/* ... and for BCC rules */
	int			 no_policy;	/* ... and for `policy` */
	int			 no_disclaimer;	/* ... and for disclaimers */
	int			 no_acl;	/* ... and for `acl` */
	int			 no_imap;	/* ... for expunges, imapmeta
						   (a schema 1 store) */
	int			 no_maildirkw;	/* ... for maildirkw (schema
						   1 or 2): empty lists */
	int			 no_userdata;	/* ... for userdata, lists,
						   listmembers and learn
						   (schema 1 to 3): empty */
	int			 learn_on;	/* store_learn_enable() */
	int			 old_rows;	/* read-only open of a schema 5
						   store: DB_MSGS is `msgs`
						   (msgrow.c) */
	uint32_t		 schema;	/* version found at open */
	/*
	 * Threads (store.c): a process may write from one thread while
	 * others read (smtpd's store writer and its loop).  Every
	 * transaction holds map_lock shared; a map resize takes it alone
	 * (mdb_env_set_mapsize() wants no transaction open in the process).
	 * write_mu: one write transaction of the process at a time, with
	 * the env flags its commit sets and the notify_* state it uses.
	 * cctx_mu, dctx_mu, dict_mu: cctx, dctx and the dicts list (blob.c,
	 * imapmeta.c), apart so that a reader's decompression never waits
	 * for the writer's compression.  A loaded dictionary stays until
	 * store_close().  The segment cache (cache_*) is the reading
	 * thread's (message.c's ranges): a writer never reads through it.
	 */
	pthread_rwlock_t	 map_lock;
	pthread_mutex_t		 write_mu;
	pthread_mutex_t		 cctx_mu, dctx_mu, dict_mu;
	/* group commit */
	struct store_txn	*batch;
	int			 batch_failed;
	/* compression */
	ZSTD_CCtx		*cctx;
	ZSTD_DCtx		*dctx;
	struct store_dict	*dicts;	/* loaded dictionaries */
	/* the last segment read by ranges: blobs never change */
	uint8_t			 cache_hash[32];
	uint8_t			*cache_buf;
	size_t			 cache_len;
	/* recent successful logins (user.c): skips crypt(3) on repeats */
	struct login_cache	*logins;
	/* change notification (notify.c) */
	char			*notify_dir;
	int			 notify_dirfd;	/* O_PATH, for long paths */
	int			 notify_fd;	/* unbound sending socket */
	struct notify_peer	*notify_peers;	/* cached listener list */
	size_t			 notify_npeers;
	struct timespec		 notify_mtime;	/* of the dir when listed */
	int			 notify_scanned;
	int			 notify_via_fd;	/* the path is not reachable */
	dev_t			 notify_dev;	/* of the dir notify_dirfd is */
	ino_t			 notify_ino;
};

struct store_txn {
	struct store	*st;
	MDB_txn		*txn;
	int		 write;
	int		 mapfull;	/* a put hit MDB_MAP_FULL */
	/* mailboxes whose mbox record this transaction wrote (notify.c) */
	uint32_t	*notify;
	size_t		 nnotify, notify_cap;
};

/* store.c */
void	store_owner(const char *data_dir, const char *path);
int	store_volatile_read(struct store *, store_txn_fn *, void *);
int	store_volatile_write(struct store *, store_txn_fn *, void *);
int	volatile_dbi_open(struct store *, int);

/* volatile.c */
int	volatile_open(struct store *, const char *data_dir);
void	volatile_close(struct store *);

/* notify.c */
struct notify_peer;
/* Remembers that the transaction changed mailbox_id. */
void	notify_txn_add(struct store_txn *, uint32_t mailbox_id);
/* After a successful commit: tells every listener, then forgets. */
void	notify_txn_commit(struct store_txn *);
/* After an abort (or before a retry): forgets. */
void	notify_txn_clear(struct store_txn *);
void	notify_store_free(struct store *);
/*
 * Makes and opens DATA_DIR/notify (store_open(), writable): a process
 * that drops privileges later keeps it (notify.c).
 */
void	notify_store_open(struct store *);

/* Database access: 1 found/done, 0 not found, -1 error (err set). */
int	sdb_get(struct store_txn *, enum store_db, const void *, size_t,
	    MDB_val *);
int	sdb_put(struct store_txn *, enum store_db, const void *, size_t,
	    const void *, size_t, unsigned);
int	sdb_del(struct store_txn *, enum store_db, const void *, size_t);
int	sdb_cursor(struct store_txn *, enum store_db, MDB_cursor **);
int	sdb_error(struct store_txn *, int rc, const char *what);
/*
 * Deletes every row of db whose key begins with the len bytes of prefix:
 * the number deleted, or -1 (err set, what naming the table).
 */
long	sdb_del_prefix(struct store_txn *, enum store_db, const void *prefix,
	    size_t len, const char *what);
/*
 * The id after the highest key of a table keyed by 8-byte big-endian ids
 * (1 when empty).  Used instead of a meta counter where ids may be reused
 * once nothing refers to them, so that an append dirties no meta page.
 */
int	sdb_next_id(struct store_txn *, enum store_db, uint64_t *next_r);
/* The same for keys of keylen bytes that begin with the big-endian id. */
int	sdb_next_id_key(struct store_txn *, enum store_db, size_t keylen,
	    uint64_t *next_r);
/* Reserves n values of a meta counter (starting at 1); the first in *r. */
int	sdb_counter_add(struct store_txn *, const char *name, uint64_t n,
	    uint64_t *first_r);

/* Big-endian integers for keys. */
void		be32enc(uint8_t *, uint32_t);
uint32_t	be32dec(const uint8_t *);
void		be64enc(uint8_t *, uint64_t);
uint64_t	be64dec(const uint8_t *);

/* Record encoding: a version byte then fields; see codec.c. */
struct pack {
	uint8_t	*buf;
	size_t	 len, cap;
};
void	pack_init(struct pack *);
/* A record of its own version (a table whose records changed shape). */
void	pack_init_version(struct pack *, uint8_t version);
void	pack_free(struct pack *);
void	pack_u8(struct pack *, uint8_t);
void	pack_u32(struct pack *, uint32_t);
void	pack_u64(struct pack *, uint64_t);
void	pack_bytes(struct pack *, const void *, size_t);
void	pack_str(struct pack *, const char *);
/* An unsigned varint (LEB128): 1 byte below 128, at most 10. */
void	pack_uv(struct pack *, uint64_t);

struct unpack {
	const uint8_t	*p;
	size_t		 left;
	int		 bad;
};
void		unpack_init(struct unpack *, const MDB_val *);
/* Any version: returns the version byte (0 and bad when empty). */
uint8_t		unpack_init_version(struct unpack *, const MDB_val *);
uint8_t		unpack_u8(struct unpack *);
uint32_t	unpack_u32(struct unpack *);
uint64_t	unpack_u64(struct unpack *);
uint64_t	unpack_uv(struct unpack *);
void		unpack_bytes(struct unpack *, void *, size_t);
void		unpack_str(struct unpack *, char *, size_t);
/* -1 CORRUPT when the record was short or malformed. */
int		unpack_done(struct unpack *, const char *what);

/* Records used across files. */
struct body_seg {
	uint8_t		hash[32];
	uint64_t	len;
};
struct body_rec {
	uint32_t	 refcount;
	uint64_t	 size;
	uint8_t		 hash[32];	/* SHA-256 of the whole message */
	size_t		 nsegs;
	struct body_seg	*segs;
	/*
	 * The IMAP record (record version 2 on; imapmeta.c): compressed with
	 * zstd, with the IMAP dictionary (DICT_IMAP) once there is one, kept
	 * in `imapmeta` as pieces of at most BLOB_FRAG_MAX bytes under
	 * (meta_id, piece number).  has_meta 0: none stored yet (a body
	 * from schema 1 the upgrade has not reached).
	 */
	uint8_t		 has_meta;
	uint8_t		 meta_codec;
	uint32_t	 meta_dict;
	uint32_t	 meta_len;	/* raw */
	uint32_t	 meta_stored;	/* compressed */
	/*
	 * Version 3: an id of its own, increasing (a record compressed again
	 * is appended, as blob fragments are, so pages fill); versions 1
	 * and 2 keep the record under the body id.
	 */
	uint64_t	 meta_id;
	uint8_t		 version;	/* as read (body_get()) */
	/*
	 * Version 5: the size with bare LFs as CRLF and whether the last
	 * byte is not a LF (message rows carried them until schema 5).
	 * eol_known 0: a record of version 4 or older, written back as
	 * version 4 until the schema 6 upgrade gives it the sizes.
	 */
	uint64_t	 crlf_size;
	uint8_t		 noeol;
	uint8_t		 eol_known;
};
/*
 * Body record versions: 1 without the IMAP record fields, 2 with, 3 the
 * same with varints and meta_id, 4 without the size (the sum of the
 * segments' lengths).
 */
#define BODY_REC_V1		1
#define BODY_REC_V2		2
#define BODY_REC_V3		3
#define BODY_REC_V4		4
#define BODY_REC_V5		5
#define BODY_REC_CUR		BODY_REC_V5
/* body.c */
int	body_get(struct store_txn *, uint64_t id, struct body_rec *r);
/* The body id of a message's SHA-256: 1 found, 0 not. */
int	body_find(struct store_txn *, const uint8_t *hash, uint64_t *id_r);
/* Writes a body record (always version 4); flags as mdb_put(). */
int	body_put(struct store_txn *, uint64_t id, const struct body_rec *r,
	    unsigned flags);
void	body_rec_clear(struct body_rec *);
/* refcount - 1; deletes the body and unrefs its blobs at 0. */
int	body_unref(struct store_txn *, uint64_t id);
int	body_ref(struct store_txn *, uint64_t id);
/* References a prepared message's body (storing it when new): *id_r. */
struct store_prepared;
int	body_insert(struct store_txn *, struct store_prepared *,
	    uint64_t *id_r);
/* Indexes body id under hash (body.c says how the key is chosen). */
int	bodyhash_put(struct store_txn *, const uint8_t *hash, uint64_t id);
/* Removes body id's index entry. */
int	bodyhash_del(struct store_txn *, const uint8_t *hash, uint64_t id);
/*
 * Moves body id's entry from its whole hash (an older store's key) to
 * the short key when that is free: 1 moved, 0 not (-1 error).
 */
int	bodyhash_rekey(struct store_txn *, const uint8_t *hash, uint64_t id);
/* A bodyhash value (the body id, 1 to 8 bytes) into out: its length. */
size_t	bodyhash_enc(uint8_t *out, uint64_t id);
/* Decodes one: 0, or -1 when malformed. */
int	bodyhash_dec(const MDB_val *, uint64_t *id_r);
struct store_msg;
/* m's size, CRLF size and final line end from its body record. */
int	body_sizes(struct store_txn *, struct store_msg *m);
/* The schema 6 upgrade: m's body gets the sizes of m's old row. */
int	body_set_sizes(struct store_txn *, const struct store_msg *m);

/* msgrow.c: message rows (`messages`, `msgkw`). */
/* Decodes a row (uid first) into m, with its sizes and keywords. */
int	msg_decode(struct store_txn *, const MDB_val *, uint32_t mailbox_id,
	    struct store_msg *);
/* The same without the sizes (0): no body record read. */
int	msg_decode_row(struct store_txn *, const MDB_val *,
	    uint32_t mailbox_id, struct store_msg *);
/* Decodes a row of schema 5 and older (`msgs`), which had them all. */
int	msg_decode_old(const MDB_val *, uint32_t mailbox_id,
	    struct store_msg *);
/* Cursor c on row (mailbox_id, uid), v its value: 1 found, 0 not. */
int	msg_seek(struct store_txn *, MDB_cursor *c, uint32_t mailbox_id,
	    uint32_t uid, MDB_val *v);
/* The row (mailbox_id, uid): 1 found, 0 not. */
int	msg_get(struct store_txn *, uint32_t mailbox_id, uint32_t uid,
	    struct store_msg *);
/* 1: row (mailbox_id, uid) exists and has keywords in `msgkw`; 0 not. */
int	msg_kw_owned(struct store_txn *, uint32_t mailbox_id, uint32_t uid);
/* Deletes a row and its keywords: 1 deleted, 0 none. */
int	msg_del(struct store_txn *, uint32_t mailbox_id, uint32_t uid);
/* Writes m's row (isnew: appended with the highest uid) and keywords. */
int	msg_put(struct store_txn *, const struct store_msg *m, int isnew);
/* Schema 6: moves every row of `msgs` to `messages`, in batches. */
int	msgrow_upgrade(struct store *);

/* blob.c */
struct blob_rec {
	uint32_t	refcount;
	uint64_t	raw_len;
	uint8_t		codec;		/* BLOB_CODEC_* */
	uint32_t	dict_id;	/* raw codec: the one tried, or 0 */
	uint64_t	stored_len;
	uint64_t	first_frag;
	uint32_t	nfrags;
	uint8_t		kind;		/* DICT_HEADER or DICT_BODY */
	uint8_t		version;	/* as read (blob_get()) */
};
/*
 * Blob record versions: 1 fixed-width (39 bytes), 2 varints (about 12:
 * there is one record per segment, in a table whose hash keys fill pages
 * only ~70%, so its size is most of the table's), 3 the same without the
 * number of fragments (the stored length says it).
 */
#define BLOB_REC_V1		1
#define BLOB_REC_V2		2
#define BLOB_REC_V3		3
#define BLOB_REC_CUR		BLOB_REC_V3
#define BLOB_CODEC_RAW		0
#define BLOB_CODEC_ZSTD		1
/* Compressed data is kept in values that stay inside one leaf page. */
#define BLOB_FRAG_MAX		492

int	blob_get(struct store_txn *, const uint8_t *hash, struct blob_rec *r);
int	blob_put_rec(struct store_txn *, const uint8_t *hash,
	    const struct blob_rec *);
/* Stores compressed bytes as fragments; fills first_frag/nfrags. */
int	blob_write_data(struct store_txn *, struct blob_rec *,
	    const void *, size_t);
int	blob_unref(struct store_txn *, const uint8_t *hash);
/*
 * Decompresses a blob into out (raw_len bytes).  Verifies the SHA-256
 * when verify is set.  -1 CORRUPT when missing or damaged.
 */
int	blob_read(struct store_txn *, const uint8_t *hash, uint8_t *out,
	    size_t outlen, int verify);
/*
 * A segment's bytes through a one-entry cache (content-addressed, so it
 * is never stale): valid until the next call.  NULL with CORRUPT.
 */
const uint8_t *blob_cached(struct store_txn *, const uint8_t *hash,
	    size_t len);
/*
 * Compresses raw bytes with the current dictionary of their kind
 * (DICT_HEADER for a header block, DICT_BODY for anything else).
 */
int	blob_compress(struct store *, struct store_txn *, int kind,
	    const void *, size_t,
	    void **out_r, size_t *outlen_r, uint8_t *codec_r,
	    uint32_t *dict_id_r);
/*
 * Compresses len bytes into out (cap bytes) at a zstd level, with
 * dictionary dict_id (0: none; its compression side is made at that
 * level).  The frame's size, or 0 when it would not be smaller than the
 * input or the dictionary is missing.
 */
size_t	blob_zstd(struct store *, struct store_txn *, uint32_t dict_id,
	    int level, const void *, size_t len, void *out, size_t cap);
void	blob_sha256(const void *, size_t, uint8_t *out);
/*
 * Whether a segment of raw_len bytes stored with dict_id (what
 * blob_compress() gave: for a raw result, the dictionary tried) would be
 * compressed differently with the current dictionary of its kind.
 */
int	blob_dict_stale(uint64_t raw_len, uint32_t dict_id, uint32_t current);
/* The same at a zstd level (store optimize's: STORE_ZSTD_COLD_LEVEL). */
int	blob_compress_level(struct store *, struct store_txn *, int kind,
	    int level, const void *, size_t, void **out_r, size_t *outlen_r,
	    uint8_t *codec_r, uint32_t *dict_id_r);
/* Decompresses what blob_compress() made (the size must be known). */
int	blob_decompress(struct store_txn *, uint8_t codec, uint32_t dict_id,
	    const void *src, size_t srclen, void *out, size_t outlen);

/* imapmeta.c: the IMAP record of a body */
struct meta_prep {
	void		*z;		/* compressed record */
	size_t		 zlen;
	uint32_t	 len;		/* raw length */
	uint8_t		 codec;
	uint32_t	 dict_id;
};
/*
 * Builds and compresses the IMAP record of a message (no transaction
 * open: reads the store for the dictionary in a snapshot of its own).
 */
int	meta_prepare(struct store *, const void *msg, size_t len,
	    struct meta_prep *r);
/* The same inside a transaction the caller holds. */
int	meta_prepare_txn(struct store_txn *, const void *msg, size_t len,
	    struct meta_prep *r);
void	meta_prep_clear(struct meta_prep *);
/*
 * A record prepared before store optimize made another IMAP dictionary
 * current is compressed again into fresh (the caller clears it; cold:
 * at store optimize's level): 1, or 0 when m is current (fresh
 * untouched), -1.  So no stored record names a
 * dictionary a pass may delete.
 */
int	meta_prep_current(struct store_txn *, const struct meta_prep *m,
	    struct meta_prep *fresh, int cold);
/* The same whether m is current or not: 1, -1. */
int	meta_prep_again(struct store_txn *, const struct meta_prep *m,
	    struct meta_prep *fresh, int cold);
/* Whether a record compressed with dict_id is to be compressed again. */
int	meta_stale(uint32_t dict_id, uint32_t current);
/* Stores a prepared record for body id and fills b's meta fields. */
int	meta_write(struct store_txn *, uint64_t id, struct body_rec *b,
	    const struct meta_prep *);
/* The same, compressed again first when meta_prep_current() says so. */
int	meta_write_current(struct store_txn *, uint64_t id, struct body_rec *b,
	    const struct meta_prep *);
/* Deletes the stored record of body id (b's meta fields). */
int	meta_delete(struct store_txn *, uint64_t id, const struct body_rec *b);
/* Reads and decompresses the stored record; *meta_r malloc'd. */
int	meta_read(struct store_txn *, uint64_t id, const struct body_rec *b,
	    void **meta_r, size_t *len_r);
/*
 * Schema 1, 2 or 3 -> 4 (store.c calls it from store_open(), writable):
 * each step in small idempotent transactions, under STORE/upgrade.lock,
 * the version written last.
 */
int	store_upgrade(struct store *);
void	store_dicts_free(struct store *);

/* maildir.c: the keyword lists of maildir.h */
/*
 * Adds the keywords (normalised, space-separated; $Forwarded skipped)
 * that mailbox_id's list lacks, up to STORE_MAILDIR_KW_MAX names.  Reads
 * nothing when keywords is empty; writes only when a name is new.
 */
int	maildir_kw_register(struct store_txn *, uint32_t mailbox_id,
	    const char *keywords);
/*
 * The position of word (n bytes, any case) in a list of len bytes (not
 * NUL-terminated), or -1.
 */
int	maildir_kw_index(const char *list, size_t len, const char *word,
	    size_t n);
/* Deletes a mailbox's list (mailbox_delete()). */
int	maildir_kw_drop(struct store_txn *, uint32_t mailbox_id);
/* The schema 5 step of store_upgrade(): the domain index (user.c). */
int	user_upgrade_domains(struct store *);
/* The user id the domain index gives address: 1, 0 not there (check.c). */
int	user_domindex_get(struct store_txn *, const char *address,
	    uint32_t *id_r);
/* The schema 3 step of store_upgrade(): lists from the messages. */
int	maildir_upgrade(struct store *);

/*
 * userdata.c: the rows of `userdata`.  A key is the user id (big-endian
 * 32; 0 for the global filter), a kind byte, then what the kind says.
 * A text (filter file, auto-responder record) is kept as pieces of at
 * most UD_PIECE_MAX bytes under (user, kind, piece number big-endian
 * 32), so that no value is a long run of overflow pages.
 */
#define UD_FILTER	1	/* piece -> bytes of the filter file */
#define UD_VACATION	2	/* piece -> bytes of the vacation record */
#define UD_VAC_SENDER	3	/* sender -> when replied (u64) */
#define UD_VAC_BYTIME	4	/* when (u64) sender -> "" */
#define UD_VAC_COUNT	5	/* "" -> number of sender rows (u32) */
#define UD_PIECE_MAX	8192
#define UD_KEY_MAX	(4 + 1 + 8 + 320)
/* Builds a key: user, kind, then n bytes of rest.  Its length. */
size_t	ud_key(uint8_t *key, uint32_t user_id, uint8_t kind,
	    const void *rest, size_t n);
/*
 * Reads the pieces of (user, kind) into *buf_r (malloc'd, NUL-ended,
 * max bytes at most: more is CORRUPT).  1, 0 none, -1.
 */
int	ud_text_get(struct store_txn *, uint32_t user_id, uint8_t kind,
	    size_t max, char **buf_r, size_t *len_r);
/* Replaces the pieces of (user, kind) with len bytes (0: deletes). */
int	ud_text_put(struct store_txn *, uint32_t user_id, uint8_t kind,
	    const void *, size_t len);
/* Deletes every row of user_id of one kind. */
int	ud_drop(struct store_txn *, uint32_t user_id, uint8_t kind);
/* Everything of a user that store_user_del() removes (userdata, learn). */
int	userdata_user_del(struct store_txn *, uint32_t user_id);

/* list.c */
/* 1 when a list has the normalised address addr, 0 not, -1. */
int	list_exists(struct store_txn *, const char *addr);
/* Deletes the lists of a domain (store_domain_del()). */
int	list_domain_drop(struct store_txn *, const char *domain);
/* The number of lists in a domain (an alias domain has none). */
int	list_domain_count(struct store_txn *, const char *domain,
	    size_t *n_r);

/* learn.c: deletes the training entries of a user. */
int	learn_drop_user(struct store_txn *, uint32_t user_id);

/*
 * check.c hooks: each verifies its tables in the check's snapshot and
 * passes each problem found to report.  0, or -1 when it cannot read.
 */
typedef void check_report_fn(void *ctx, const char *problem);
int	userdata_check(struct store_txn *, check_report_fn *, void *);
int	list_check(struct store_txn *, check_report_fn *, void *);
int	learn_check(struct store_txn *, check_report_fn *, void *);
/* dkim.c: the check of `dkim`; the keys of a deleted domain go too. */
int	dkim_check(struct store_txn *, check_report_fn *, void *);
/* policy.c: the check of `policy`; the rows of a user or domain deleted. */
int	policy_check(struct store_txn *, check_report_fn *, void *);
int	policy_user_drop(struct store_txn *, uint32_t user_id);
int	policy_domain_drop(struct store_txn *, const char *domain);
int	dkim_domain_drop(struct store_txn *, const char *domain);
/* bcc.c: the check of `bcc` (every rule decodes). */
int	bcc_check(struct store_txn *, check_report_fn *, void *);
/* disclaimer.c: the check of `disclaimer` (every rule decodes). */
int	disclaimer_check(struct store_txn *, check_report_fn *, void *);
/* acl.c: the check of `acl` (rows decode, the network index). */
int	acl_check(struct store_txn *, check_report_fn *, void *);

/* user.c / mailbox.c helpers for counters */
/* Adds to a user's usage and updates its grace clock (how: a
 * STORE_QUOTA_* of store_user_quota_update()) in one read and write. */
int	user_usage_add(struct store_txn *, uint32_t user_id, int64_t bytes,
	    int64_t messages, int how);
struct store_mailbox;
int	mbox_put(struct store_txn *, const struct store_mailbox *);
int	mailbox_delete_messages(struct store_txn *, uint32_t mailbox_id);
/* Removes a mailbox's whole expunge log (message.c). */
int	expunge_log_drop(struct store_txn *, uint32_t mailbox_id);
/* The most entries one expunge prunes (the rest go with later ones). */
#define EXPUNGE_PRUNE_STEP	16
int	mailbox_delete(struct store_txn *, const struct store_mailbox *);
int	addr_del_user_targets(struct store_txn *, uint32_t user_id);

/* Frees the login cache of user.c (store_close()). */
void	store_login_cache_free(struct store *);

/* Host name for locks and logs. */
const char	*store_hostname(void);

#endif
