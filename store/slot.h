/*
 * slot.h - counted slots shared by every process of this host: at most
 * max holders of a name at once (smtpd's filter jobs, whatever the number
 * of its processes).  Kept per process in the volatile environment
 * (store/volatile.c): the slots of a process that ended are free again.
 */
#ifndef VELLUM_STORE_SLOT_H
#define VELLUM_STORE_SLOT_H

#include "store.h"

#define STORE_SLOT_NAME_MAX	64

/* Takes one slot of name: 1 taken, 0 max are held already, -1 error. */
int	store_slot_take(struct store *, const char *name, unsigned max);
/* Gives one slot of name back that this process holds. */
int	store_slot_release(struct store *, const char *name);

#endif
