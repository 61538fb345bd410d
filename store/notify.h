/*
 * notify.h - change notification between processes.
 *
 * Every write transaction that changes a mailbox (its modseq moves:
 * append, flags, expunge, rename, delete) remembers the mailbox ids it
 * touched; after a successful durable commit, store_write() tells every
 * listening process with one datagram (AF_UNIX, SOCK_DGRAM) to each
 * socket in DATA_DIR/notify/.  A committer never waits: a full socket
 * buffer drops the datagram and the listener is marked overflowed (a
 * flag file beside its socket; its next drain then reports id 0,
 * "something changed", and it rechecks every mailbox it watches); a
 * socket whose process is gone is removed.  Datagrams are big-endian
 * 32-bit mailbox ids.  Sockets are mode 0666 and the dir belongs to the
 * data dir's owner, so root (vellumctl) and daemons that dropped to that
 * owner notify each other.  store_open() (writable) makes and opens the
 * dir, and the store reaches it through that descriptor, so daemons that
 * drop privileges after opening the store keep notifying and listening
 * even in a data dir that only root may enter (the dir is then 0777).
 * Cost to a committer: one stat(2) of the dir plus one sendto(2) per
 * listener (bench-store-imap).
 *
 * A process that wants notifications (imapd for IDLE and for the
 * untagged updates of a selected mailbox, the file view for cache
 * invalidation) opens one listener and fans the events out to its
 * sessions itself: sessions never poll the store.
 */
#ifndef VELLUM_STORE_NOTIFY_H
#define VELLUM_STORE_NOTIFY_H

#include <stdint.h>

#include "store.h"

/* Mailbox ids per datagram; a commit touching more sends several. */
#define STORE_NOTIFY_IDS_MAX	128

struct store_notify;

/*
 * Creates this process's listener (DATA_DIR/notify/<pid>.sock,
 * nonblocking, a large receive buffer).  *fd_r is the descriptor to
 * watch for reading.  Errors: TEMP.
 */
int	store_notify_listen(struct store *, struct store_notify **r,
	    int *fd_r);
/*
 * A mailbox changed: mailbox_id, or 0 for "anything may have changed"
 * (datagrams were lost): recheck everything watched.
 */
typedef void store_notify_fn(uint32_t mailbox_id, void *ctx);
/*
 * Reads every pending datagram (call when the fd is readable) and calls
 * fn once per mailbox id in each (duplicates possible).  0, or -1 on an
 * error other than "nothing more" (err set).
 */
int	store_notify_drain(struct store_notify *, store_notify_fn *fn,
	    void *ctx);
/* Closes and unlinks the listener. */
void	store_notify_close(struct store_notify **);

/*
 * Sends the notification for mailboxes ids[n] to every listener, as
 * store_write() does after a commit (exposed for the unit tests).
 */
void	store_notify_send(struct store *, const uint32_t *ids, size_t n);

#endif
