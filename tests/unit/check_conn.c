/*
 * check_conn.c - the connection plumbing's limits, on a real loop with
 * loopback sockets: the descriptor cap arithmetic, accept() out of
 * descriptors (the listener pauses, logs a few lines, and resumes by
 * itself: no spin), and the deadlines (command line, login, transfer:
 * one that keeps up is not cut, one that stalls is; a peer reading a long
 * transfer is not idle).
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/conn.h"
#include "common/log.h"

#define DUPS_MAX	65536

static Suite	*conn_suite(void);
static void	t_on_line(struct conn *, const char *, size_t);
static void	t_on_timeout(struct conn *);
static void	t_on_close(struct conn *);
static void	t_on_drain(struct conn *);
static void	t_accept(struct conn *, void *);
static void	writer_cb(evutil_socket_t, short, void *);

static struct config cfg;
static int accepted, closed, lines, timeouts;
static char reason[32];

static const struct conn_ops t_ops = {
	.on_line = t_on_line,
	.on_drain = t_on_drain,
	.on_timeout = t_on_timeout,
	.on_close = t_on_close,
};

/* A client that writes `chunk` every `ms` milliseconds, `times` times. */
struct writer {
	int		 fd;
	const char	*chunk;
	int		 ms;
	int		 times;
	const char	*last;		/* written after the last chunk */
	struct event	*ev;
};

#define SEND_SIZE	(12 * 1024 * 1024)
static int sent_all;

/*
 * "DATA" starts an input transfer, "." ends it, "LOGIN" logs in, "SEND"
 * writes SEND_SIZE bytes as a transfer.
 */
static void
t_on_line(struct conn *c, const char *line, size_t len)
{
	static char big[SEND_SIZE];

	lines++;
	if (len == 4 && memcmp(line, "SEND", 4) == 0) {
		memset(big, 'z', sizeof(big));
		conn_sending(c);
		conn_write(c, big, sizeof(big));
		conn_pause(c);
		sent_all = 1;
		return;
	}
	if (len == 4 && memcmp(line, "DATA", 4) == 0)
		conn_busy(c);
	else if (len == 1 && line[0] == '.')
		conn_idle(c);
	else if (len == 5 && memcmp(line, "LOGIN", 5) == 0)
		conn_authenticated(c);
}

/* The transfer is out (but for the last watermark's worth). */
static void
t_on_drain(struct conn *c)
{
	if (sent_all) {
		sent_all = 0;
		conn_resume(c);
	}
}

static void
t_on_timeout(struct conn *c)
{
	timeouts++;
	snprintf(reason, sizeof(reason), "%s", conn_timeout_reason(c));
	conn_printf(c, "bye\r\n");
}

static void
t_on_close(struct conn *c)
{
	(void)c;
	closed++;
}

static void
t_accept(struct conn *c, void *arg)
{
	(void)arg;
	accepted++;
	conn_set_ops(c, &t_ops, NULL);
}

static void
writer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	struct timeval tv = { w->ms / 1000, (w->ms % 1000) * 1000 };
	const char *s;
	ssize_t n;

	(void)fd;
	(void)what;
	if (w->times < 0)
		return;
	s = w->times > 0 ? w->chunk : w->last;
	if (s != NULL) {
		n = write(w->fd, s, strlen(s));
		(void)n;
	}
	if (w->times-- > 0)
		evtimer_add(w->ev, &tv);
}

static void
writer_start(struct writer *w, int fd, const char *chunk, int ms, int times,
    const char *last)
{
	struct timeval tv = { 0, 0 };

	w->fd = fd;
	w->chunk = chunk;
	w->ms = ms;
	w->times = times;
	w->last = last;
	w->ev = evtimer_new(conn_base(), writer_cb, w);
	ck_assert_ptr_nonnull(w->ev);
	evtimer_add(w->ev, &tv);
}

/* A free loopback port (bound, read, closed). */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
client(int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "connect: %s", strerror(errno));
	return fd;
}

/* The loop with limits from cfg and one listener; returns its port. */
static int
start(void)
{
	char port[16];
	int p = free_port();

	accepted = closed = lines = timeouts = 0;
	reason[0] = '\0';
	ck_assert_int_eq(conn_loop_init(&cfg), 0);
	snprintf(port, sizeof(port), "%d", p);
	ck_assert_msg(conn_listen("127.0.0.1", port, 0, 512, 0, "busy\r\n",
	    t_accept, NULL) == 0, "listen on %s", port);
	return p;
}

static void
run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(conn_base(), &tv);
	ck_assert_int_eq(conn_loop_run(), 0);
}

/* Runs the loop until *flag reaches want (or ms pass). */
static void
run_until(const int *flag, int want, int ms)
{
	int waited;

	for (waited = 0; *flag < want && waited < ms; waited += 100)
		run_for(100);
}

static void
setup(void)
{
	config_default(&cfg);
	cfg.idle_timeout = 600;
	cfg.login_timeout = 600;
	cfg.command_timeout = 600;
	cfg.transfer_rate = 100;
	cfg.transfer_grace = 1;
	log_init("check_conn", LOG_TO_STDERR, 0);
}

/* Lines of the file that contain needle. */
static int
count_lines(FILE *fp, const char *needle)
{
	char buf[4096];
	int n = 0;

	rewind(fp);
	while (fgets(buf, sizeof(buf), fp) != NULL)
		if (strstr(buf, needle) != NULL)
			n++;
	return n;
}

START_TEST(test_fd_cap)
{
	/* (nofile - open - spare) / per connection, at least 1. */
	ck_assert_uint_eq(conn_fd_cap(256, 12),
	    (256 - 12 - CONN_FD_SPARE) / CONN_FD_PER_CONN);
	ck_assert_uint_eq(conn_fd_cap(1024, 10),
	    (1024 - 10 - CONN_FD_SPARE) / CONN_FD_PER_CONN);
	ck_assert_uint_eq(conn_fd_cap(20, 12), 1);
	ck_assert_uint_eq(conn_fd_cap(0, 0), 1);
	ck_assert_uint_ge(conn_fd_cap(1UL << 40, 10), 1000000);
	/* One address gets at most half of the connections. */
	ck_assert_uint_eq(conn_ip_cap(20, 5000), 20);
	ck_assert_uint_eq(conn_ip_cap(20, 30), 15);
	ck_assert_uint_eq(conn_ip_cap(1000, 114), 57);
	ck_assert_uint_eq(conn_ip_cap(5, 1), 1);
	ck_assert_uint_eq(conn_ip_cap(1, 1), 1);
}
END_TEST

/* IPv4 counts per address, IPv6 per /64. */
START_TEST(test_ip_key)
{
	char a[CONN_ADDR_MAX], b[CONN_ADDR_MAX];

	conn_ip_key("192.0.2.1", a, sizeof(a));
	ck_assert_str_eq(a, "192.0.2.1");
	conn_ip_key("192.0.2.2", b, sizeof(b));
	ck_assert_str_ne(a, b);
	conn_ip_key("2001:db8:1:2::1", a, sizeof(a));
	ck_assert_str_eq(a, "2001:db8:1:2::/64");
	conn_ip_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", b, sizeof(b));
	ck_assert_str_eq(a, b);
	conn_ip_key("2001:db8:1:3::1", b, sizeof(b));
	ck_assert_str_eq(b, "2001:db8:1:3::/64");
	conn_ip_key("::1", a, sizeof(a));
	ck_assert_str_eq(a, "::/64");
	conn_ip_key("not an address", a, sizeof(a));
	ck_assert_str_eq(a, "not an address");
}
END_TEST

/*
 * With every descriptor taken, pending connections cannot be accepted:
 * the listener must pause (not spin on EMFILE, logging each time) and
 * accept them by itself once descriptors are free again.
 */
START_TEST(test_accept_emfile)
{
	static int dups[DUPS_MAX];
	FILE *log;
	int port, fds[5], n = 0, i, saved, errs;

	port = start();
	run_for(50);			/* the limits are applied */
	for (i = 0; i < 5; i++)
		fds[i] = client(port);
	log = tmpfile();
	ck_assert_ptr_nonnull(log);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	dup2(fileno(log), 2);
	while (n < DUPS_MAX && (dups[n] = dup(0)) != -1)
		n++;
	ck_assert_int_eq(errno, EMFILE);
	run_for(1500);
	errs = count_lines(log, "accept");
	for (i = 0; i < n; i++)
		close(dups[i]);
	dup2(saved, 2);
	close(saved);
	ck_assert_msg(accepted == 0, "nothing accepted without descriptors "
	    "(%d)", accepted);
	ck_assert_msg(errs >= 1 && errs <= 3, "accept() failures logged at "
	    "most once a second: %d line(s) in 1.5 s", errs);
	/* Descriptors are back: the pending connections get in. */
	run_for(1500);
	ck_assert_msg(accepted == 5, "all 5 pending connections accepted "
	    "after the pause (%d)", accepted);
	for (i = 0; i < 5; i++)
		close(fds[i]);
	fclose(log);
	conn_loop_free();
}
END_TEST

/* A command line that never ends is cut by command_timeout. */
START_TEST(test_command_deadline)
{
	struct writer w;
	int fd;

	cfg.command_timeout = 1;
	fd = client(start());
	writer_start(&w, fd, "x", 100, 100, NULL);	/* 10 s of trickle */
	run_until(&closed, 1, 9000);
	ck_assert_int_eq(timeouts, 1);
	ck_assert_str_eq(reason, "command");
	ck_assert_int_eq(closed, 1);
	event_free(w.ev);
	close(fd);
	conn_loop_free();
}
END_TEST

/* Whole commands, quickly, but never a login: login_timeout. */
START_TEST(test_login_deadline)
{
	struct writer w;
	int fd;

	cfg.login_timeout = 1;
	cfg.command_timeout = 1;
	fd = client(start());
	writer_start(&w, fd, "NOOP\r\n", 100, 100, NULL);
	run_until(&closed, 1, 9000);
	ck_assert_int_eq(timeouts, 1);
	ck_assert_str_eq(reason, "login");
	ck_assert_msg(lines >= 5, "the commands were read (%d)", lines);
	event_free(w.ev);
	close(fd);
	conn_loop_free();
}
END_TEST

/* After conn_authenticated() the login deadline is gone. */
START_TEST(test_login_done)
{
	struct writer w;
	int fd;

	cfg.login_timeout = 1;
	fd = client(start());
	writer_start(&w, fd, "NOOP\r\n", 200, 12, NULL);
	ck_assert_int_eq(write(fd, "LOGIN\r\n", 7), 7);
	run_for(2500);
	ck_assert_msg(timeouts == 0, "no timeout after login (%s)", reason);
	ck_assert_int_eq(closed, 0);
	event_free(w.ev);
	close(fd);
	conn_loop_free();
}
END_TEST

/*
 * A transfer moving well above the minimum rate goes on past the grace;
 * the deadline moves with the bytes.  The command deadline does not
 * apply to its lines.
 */
START_TEST(test_transfer_keeps_up)
{
	struct writer w;
	int fd;

	cfg.command_timeout = 1;
	cfg.login_timeout = 60;
	fd = client(start());
	ck_assert_int_eq(write(fd, "DATA\r\n", 6), 6);
	/* 600 bytes/s in lines of 60 for 3 s, then the end. */
	writer_start(&w, fd, "0123456789012345678901234567890123456789"
	    "01234567890123456\r\n", 100, 30, ".\r\n");
	run_until(&lines, 32, 20000);
	ck_assert_msg(timeouts == 0, "a transfer above the rate is not cut "
	    "(%s)", reason);
	ck_assert_int_eq(lines, 32);
	event_free(w.ev);
	close(fd);
	conn_loop_free();
}
END_TEST

/* A transfer under the rate is cut after the grace. */
START_TEST(test_transfer_stalls)
{
	struct writer w;
	int fd;

	cfg.login_timeout = 60;
	fd = client(start());
	ck_assert_int_eq(write(fd, "DATA\r\n", 6), 6);
	writer_start(&w, fd, "x", 500, 40, NULL);	/* 2 bytes/s */
	run_until(&closed, 1, 15000);
	ck_assert_int_eq(timeouts, 1);
	ck_assert_str_eq(reason, "transfer");
	event_free(w.ev);
	close(fd);
	conn_loop_free();
}
END_TEST

/*
 * A client that reads `chunk` bytes every `ms` until it has `slow`, then
 * the rest at once (the last of it sits in kernel buffers after the
 * server's transfer is over), until it has `want`.
 */
struct reader {
	int		 fd;
	size_t		 chunk, got, slow, want;
	int		 ms;
	struct event	*ev;
};

static void
reader_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reader *r = arg;
	struct timeval tv = { r->ms / 1000, (r->ms % 1000) * 1000 };
	static char buf[1024 * 1024];
	size_t chunk = r->got < r->slow ? r->chunk : sizeof(buf);
	ssize_t n;

	(void)fd;
	(void)what;
	n = recv(r->fd, buf, chunk < sizeof(buf) ? chunk : sizeof(buf),
	    MSG_DONTWAIT);
	if (n > 0)
		r->got += (size_t)n;
	if (n == 0 || r->got >= r->want)
		return;
	if (r->got >= r->slow)
		tv.tv_usec = 1000;
	evtimer_add(r->ev, &tv);
}

/*
 * A peer reading a long transfer (above the rate) sends nothing for
 * longer than idle_timeout: it is not idle.
 */
START_TEST(test_send_not_idle)
{
	struct reader r;
	struct timeval tv = { 0, 0 };
	int fd;

	cfg.idle_timeout = 1;
	cfg.login_timeout = 60;
	fd = client(start());
	ck_assert_int_eq(write(fd, "SEND\r\n", 6), 6);
	memset(&r, 0, sizeof(r));
	r.fd = fd;
	r.chunk = 64 * 1024;		/* about 1.3 MB/s: 4.5 s for */
	r.ms = 50;
	r.slow = 6 * 1024 * 1024;	/* ... these, the server still
					   holding the rest */
	r.want = SEND_SIZE;
	r.ev = evtimer_new(conn_base(), reader_cb, &r);
	evtimer_add(r.ev, &tv);
	for (int waited = 0; r.got < r.want && timeouts == 0 &&
	    waited < 30000; waited += 100)
		run_for(100);
	ck_assert_msg(timeouts == 0, "a peer reading a transfer is not idle "
	    "(%s timeout after %zu bytes)", reason, r.got);
	ck_assert_uint_eq(r.got, SEND_SIZE);
	event_free(r.ev);
	close(fd);
	conn_loop_free();
}
END_TEST

static Suite *
conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("limits");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fd_cap);
	tcase_add_test(tc, test_ip_key);
	tcase_add_test(tc, test_accept_emfile);
	tcase_add_test(tc, test_command_deadline);
	tcase_add_test(tc, test_login_deadline);
	tcase_add_test(tc, test_login_done);
	tcase_add_test(tc, test_transfer_keeps_up);
	tcase_add_test(tc, test_transfer_stalls);
	tcase_add_test(tc, test_send_not_idle);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
