/*
 * daemon.h - what every daemon does at start: parse `-c FILE` (and -d
 * for debug logging), load the config, set up logging, open the store,
 * and drop root after binding its ports.
 */
#ifndef VELLUM_DAEMON_H
#define VELLUM_DAEMON_H

#include <stddef.h>

struct config;

/*
 * Parses argv ("-c FILE", "-v" more logging, "-h"), loads the config
 * (the embedded default without -c) into c, starts logging under name.
 * Exits 2 with usage on bad arguments, 1 with the config errors printed.
 */
void	daemon_setup(const char *name, int argc, char **argv,
	    struct config *c);
/* Drops root to the config's user (if set and we are root). */
int	daemon_drop_privileges(const struct config *);
/*
 * After the listeners are set up: drops root, runs the event loop until
 * shutdown, then frees the loop and the SASL library.  Exits 1 when root
 * cannot be dropped.
 */
void	daemon_serve(const struct config *);

/*
 * 1 when /dev/fuse is a usable FUSE device (it exists, is the FUSE
 * character device, opens read-write); else 0 with why (may be NULL)
 * saying what is wrong and what to do.  vellumd asks before starting
 * vellum-fs; vellum-fs before mounting.
 */
int	daemon_fuse_available(char *why, size_t whysize);
/*
 * daemon_fuse_available() on the device node at path instead of
 * /dev/fuse (the messages name path): for tests.
 */
int	daemon_fuse_check(const char *path, char *why, size_t whysize);

#endif
