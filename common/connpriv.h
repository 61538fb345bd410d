/*
 * connpriv.h - what conn.c, listen.c and workers.c share; not for the
 * daemons (conn.h is their interface).
 */
#ifndef VELLUM_CONNPRIV_H
#define VELLUM_CONNPRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONN_BACKLOG		128

/* listen.c */
/* "[::1]" -> "::1": the form both sides of VELLUM_LISTEN_FDS compare. */
void	listen_host(char *h, size_t size, const char *host);
/* Reads VELLUM_LISTEN_FDS once (conn_loop_init()) and unsets it. */
void	inherit_read(void);
/* Takes the inherited sockets of host:port into fds; their count. */
size_t	inherit_take(const char *host, const char *port, int *fds,
	    size_t max);
/* Closes the inherited sockets nobody took (conn_loop_run()). */
void	inherit_close_untaken(void);

/* prefork.c: the first process hands connections to workers (conn.h) */
/*
 * 1 when fd went to a worker with fewer open connections than `here`
 * (this process's), counted under key; 0: serve it here.
 */
int	workers_handoff(int fd, const struct sockaddr *sa, socklen_t salen,
	    unsigned listener, const char *key, unsigned here);
unsigned workers_remote(void);	/* connections open in the workers */
int	workers_is_worker(void);
int	conn_stopping(void);		/* shutting down or draining */
void	workers_signal(int sig);	/* passes sig on to the workers */
void	workers_closed(uint32_t token);	/* a handed connection ended */
void	workers_end(unsigned grace);	/* the loop ended: wait, free */

/* conn.c, for prefork.c */
#define CONN_TOKEN_NONE		UINT32_MAX
void	conn_ip_add(const char *key, int delta);
void	conn_forked(void);	/* in a new worker: no listener */
void	conn_accept_handed(unsigned listener, int fd,
	    const struct sockaddr *sa, socklen_t salen, uint32_t token);

#endif
