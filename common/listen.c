/*
 * listen.c - listening sockets: binding them (conn_bind()) and the ones a
 * supervisor bound and handed down (VELLUM_LISTEN_FDS, conn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "connpriv.h"
#include "error.h"
#include "log.h"

/*
 * Listening sockets vellumd bound and handed down: VELLUM_LISTEN_FDS is
 * "FD PORT HOST" entries separated by ';' (HOST last: it may hold ':').
 * Read once by conn_loop_init(), taken by conn_listen() for the address
 * it was bound to, and closed by conn_loop_run() when nobody took it.
 */
struct inherited {
	int	fd;
	int	taken;
	char	port[CONFIG_PORT_MAX + 1];
	char	host[CONFIG_HOST_MAX + 1];
};
static struct inherited	inherited[CONN_INHERIT_MAX];
static size_t		ninherited;

/* "[::1]" -> "::1": the form both sides compare and bind. */
void
listen_host(char *h, size_t size, const char *host)
{
	size_t n;

	snprintf(h, size, "%s", host);
	n = strlen(h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		memmove(h, h + 1, n - 2);
		h[n - 2] = '\0';
	}
}

/* "FD PORT HOST" into *fd and in's port and host; 0 when malformed. */
static int
inherit_parse(const char *entry, int *fd, struct inherited *in)
{
	const char *port, *host;
	char *end;
	long v;

	errno = 0;
	v = strtol(entry, &end, 10);
	if (errno != 0 || end == entry || *end != ' ' || v < 0 || v > INT_MAX)
		return 0;
	port = end + 1;
	if ((host = strchr(port, ' ')) == NULL || host == port ||
	    (size_t)(host - port) > CONFIG_PORT_MAX ||
	    strlen(host + 1) == 0 || strlen(host + 1) > CONFIG_HOST_MAX)
		return 0;
	memcpy(in->port, port, (size_t)(host - port));
	in->port[host - port] = '\0';
	snprintf(in->host, sizeof(in->host), "%s", host + 1);
	*fd = (int)v;
	return 1;
}

void
inherit_read(void)
{
	const char *env, *p, *end;
	struct inherited *in;
	char entry[CONFIG_HOST_MAX + CONFIG_PORT_MAX + 32];
	int fd, acc;
	socklen_t len;
	size_t n;

	ninherited = 0;
	if ((env = getenv(CONN_INHERIT_ENV)) == NULL)
		return;
	for (p = env; *p != '\0' && ninherited < CONN_INHERIT_MAX; p = end) {
		end = strchr(p, ';');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		end = end != NULL ? end + 1 : p + n;
		if (n == 0 || n >= sizeof(entry))
			continue;
		memcpy(entry, p, n);
		entry[n] = '\0';
		in = &inherited[ninherited];
		if (!inherit_parse(entry, &fd, in)) {
			log_warnx("%s: bad entry \"%s\" ignored",
			    CONN_INHERIT_ENV, entry);
			continue;
		}
		len = sizeof(acc);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0 ||
		    !acc) {
			log_warnx("%s: descriptor %d is not a listening socket",
			    CONN_INHERIT_ENV, fd);
			continue;
		}
		/* Ours now: programs we run (filters) must not get it. */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		in->fd = fd;
		in->taken = 0;
		ninherited++;
	}
	unsetenv(CONN_INHERIT_ENV);
}

/* The inherited sockets of host:port, or 0 when there are none. */
size_t
inherit_take(const char *host, const char *port, int *fds, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < ninherited && n < max; i++)
		if (!inherited[i].taken && strcmp(inherited[i].port,
		    port) == 0 && strcmp(inherited[i].host, host) == 0) {
			inherited[i].taken = 1;
			fds[n++] = inherited[i].fd;
		}
	return n;
}

void
inherit_close_untaken(void)
{
	size_t i;

	for (i = 0; i < ninherited; i++)
		if (!inherited[i].taken) {
			log_warnx("closing the socket for %s:%s that vellumd "
			    "passed: no section of this daemon listens there",
			    inherited[i].host, inherited[i].port);
			close(inherited[i].fd);
			inherited[i].taken = 1;
		}
}

int
conn_inherit_entry(char *buf, size_t size, int fd, const char *host,
    const char *port)
{
	char h[CONFIG_HOST_MAX + 1];
	size_t len = strlen(buf);
	int n;

	listen_host(h, sizeof(h), host);
	n = snprintf(buf + len, size - len, "%s%d %s %s", len > 0 ? ";" : "",
	    fd, port, h);
	if (n < 0 || (size_t)n >= size - len) {
		buf[len] = '\0';
		return err_set(ERR_LIMIT, "too many listening sockets");
	}
	return 0;
}

int
conn_bind(const char *host, const char *port, int *fds, size_t max)
{
	struct addrinfo hints, *res, *ai;
	char h[CONN_ADDR_MAX];
	size_t n = 0;
	int fd, on = 1, rc;

	listen_host(h, sizeof(h), host);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(h[0] == '\0' || strcmp(h, "*") == 0 ? NULL : h,
	    port, &hints, &res);
	if (rc != 0)
		return err_set(ERR_INVALID, "listen %s:%s: %s", host, port,
		    gai_strerror(rc));
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, CONN_BACKLOG) == -1) {
			err_set(ERR_TEMP, "listen %s:%s: %s", host, port,
			    strerror(errno));
			close(fd);
			while (n > 0)
				close(fds[--n]);
			freeaddrinfo(res);
			return -1;
		}
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == 0)
		return err_set(ERR_TEMP, "listen %s:%s: no usable address",
		    host, port);
	return (int)n;
}
