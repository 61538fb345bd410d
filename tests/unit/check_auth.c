/*
 * check_auth.c - common/auth.c and common/worker.c with a stub backend:
 * passwords are verified on a worker thread, never on the loop thread;
 * the loop serves other events while checks are in flight; a full queue
 * is refused at once; a cancelled check never calls back; SASL PLAIN
 * credentials reach the check; the delay grows and is capped; trusted
 * networks are exempt.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sasl/saslutil.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/worker.h"

/* Stub backend ----------------------------------------------------------- */

struct stub {
	char	login[64];
	char	password[64];
	int	ok;
};

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed;
static unsigned started, verified;
static pthread_t verify_thread;
static unsigned n_failed_calls, n_blocked_calls;

static void *
stub_begin(void *ctx, const char *login, const char *password)
{
	struct stub *s = calloc(1, sizeof(*s));

	snprintf(s->login, sizeof(s->login), "%s", login);
	snprintf(s->password, sizeof(s->password), "%s", password);
	return s;
}

static void
stub_verify(void *state)
{
	struct stub *s = state;

	pthread_mutex_lock(&gate_mu);
	started++;
	verify_thread = pthread_self();
	pthread_cond_broadcast(&gate_cv);
	while (gate_closed)
		pthread_cond_wait(&gate_cv, &gate_mu);
	verified++;
	pthread_mutex_unlock(&gate_mu);
	s->ok = strcmp(s->login, "u@example.test") == 0 &&
	    strcmp(s->password, "good") == 0;
}

static int
stub_end(void *ctx, void *state, uint32_t *user_id_r, char *addr_r,
    size_t size)
{
	struct stub *s = state;

	if (!s->ok) {
		err_set(ERR_PERM, "wrong password");
		return 0;
	}
	*user_id_r = 7;
	snprintf(addr_r, size, "%s", s->login);
	return 1;
}

static void
stub_free(void *state)
{
	free(state);
}

static int
stub_blocked(void *ctx, const struct auth_policy *p, const char *ip,
    const char *login, unsigned *secs_r)
{
	n_blocked_calls++;
	*secs_r = 60;
	return AUTH_BLOCK_USER;
}

static int
stub_failed(void *ctx, const struct auth_policy *p, const char *ip,
    const char *login, unsigned *recent_r)
{
	n_failed_calls++;
	*recent_r = 3;
	return 0;
}

static const struct auth_backend stub = {
	NULL, stub_begin, stub_verify, stub_end, stub_free,
	stub_blocked, stub_failed, NULL, NULL,
};

/* Fixture ------------------------------------------------------------------ */

static struct config cfg;

static void
start(unsigned workers, unsigned queue, const char *extra)
{
	char text[512];
	char *errs = NULL;

	snprintf(text, sizeof(text), "data_dir = /nonexistent\n[auth]\n"
	    "plaintext = yes\nfail_delay = 100\nfail_delay_max = 1000\n"
	    "workers = %u\nqueue = %u\n%s", workers, queue, extra);
	ck_assert_msg(config_parse("test.conf", text, strlen(text), &cfg,
	    &errs) == 0, "config: %s", errs != NULL ? errs : err_msg());
	ck_assert_int_eq(conn_loop_init(&cfg), 0);
	ck_assert_msg(auth_init("smtp", &stub, &cfg) == 0, "auth_init: %s",
	    err_msg());
	gate_closed = 0;
	started = verified = 0;
}

static void
stop(void)
{
	auth_done();
	conn_loop_free();
}

static void
gate(int closed)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Waits (on the gate's condition) until n checks have started. */
static void
wait_started(unsigned n)
{
	pthread_mutex_lock(&gate_mu);
	while (started < n)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
}

struct result {
	int		called;
	int		rc;
	uint32_t	user_id;
	char		user[64];
	pthread_t	thread;
};

static void
on_verdict(const struct auth_verdict *v, void *arg)
{
	struct result *r = arg;

	r->called++;
	r->rc = v->rc;
	r->user_id = v->user_id;
	snprintf(r->user, sizeof(r->user), "%s", v->rc == 1 ? v->user : "");
	r->thread = pthread_self();
}

/* Runs the loop until *flag is set (bounded, so a bug cannot hang). */
static void
loop_until(const int *flag)
{
	int i;

	for (i = 0; i < 100000 && !*flag; i++)
		event_base_loop(conn_base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ck_assert_msg(*flag, "the loop never got the event");
}

/* Tests -------------------------------------------------------------------- */

START_TEST(test_verified_on_a_worker_thread)
{
	struct result r = { 0 };
	struct auth_check *c;

	start(2, 8, "");
	c = auth_check_start("u@example.test", "good", on_verdict, &r);
	ck_assert_msg(c != NULL, "queued: %s", err_msg());
	ck_assert_msg(r.called == 0, "the verdict came inside the call");
	loop_until(&r.called);
	ck_assert_int_eq(r.called, 1);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_uint_eq(r.user_id, 7);
	ck_assert_str_eq(r.user, "u@example.test");
	ck_assert_msg(!pthread_equal(verify_thread, pthread_self()),
	    "the password was verified on the loop thread");
	ck_assert_msg(pthread_equal(r.thread, pthread_self()),
	    "the verdict was delivered on another thread than the loop's");
	stop();
}
END_TEST

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	char buf[16];

	if (read(fd, buf, sizeof(buf)) > 0)
		*(int *)arg = 1;
}

START_TEST(test_loop_serves_while_checks_wait)
{
	struct result r1 = { 0 }, r2 = { 0 };
	struct auth_check *c1, *c2;
	struct event *ev;
	int sv[2], served = 0;

	start(2, 8, "");
	gate(1);
	c1 = auth_check_start("u@example.test", "good", on_verdict, &r1);
	c2 = auth_check_start("u@example.test", "bad", on_verdict, &r2);
	ck_assert(c1 != NULL && c2 != NULL);
	wait_started(2);
	/* Another connection sends something: the loop answers it. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ev = event_new(conn_base(), sv[0], EV_READ | EV_PERSIST, on_readable,
	    &served);
	event_add(ev, NULL);
	ck_assert_int_eq(write(sv[1], "NOOP\r\n", 6), 6);
	loop_until(&served);
	ck_assert_msg(r1.called == 0 && r2.called == 0 && verified == 0,
	    "the checks were over before the other connection was served");
	gate(0);
	loop_until(&r1.called);
	loop_until(&r2.called);
	ck_assert_int_eq(r1.rc, 1);
	ck_assert_int_eq(r2.rc, 0);
	event_free(ev);
	close(sv[0]);
	close(sv[1]);
	stop();
}
END_TEST

START_TEST(test_full_queue_is_refused)
{
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct auth_check *c1, *c2, *c3;

	start(1, 1, "");
	gate(1);
	c1 = auth_check_start("u@example.test", "good", on_verdict, &r1);
	ck_assert(c1 != NULL);
	wait_started(1);	/* running: the queue is empty again */
	c2 = auth_check_start("u@example.test", "good", on_verdict, &r2);
	ck_assert(c2 != NULL);
	c3 = auth_check_start("u@example.test", "good", on_verdict, &r3);
	ck_assert_msg(c3 == NULL && err_class() == ERR_LIMIT, "a third check "
	    "with one thread busy and a queue of 1 is refused (LIMIT): %s",
	    err_msg());
	gate(0);
	loop_until(&r1.called);
	loop_until(&r2.called);
	ck_assert_int_eq(r3.called, 0);
	stop();
}
END_TEST

START_TEST(test_cancelled_check_never_calls_back)
{
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct auth_check *c1, *c2, *c3;

	start(1, 4, "");
	gate(1);
	c1 = auth_check_start("u@example.test", "good", on_verdict, &r1);
	wait_started(1);
	c2 = auth_check_start("u@example.test", "good", on_verdict, &r2);
	ck_assert(c1 != NULL && c2 != NULL);
	auth_check_cancel(&c1);		/* running */
	auth_check_cancel(&c2);		/* still queued */
	ck_assert(c1 == NULL && c2 == NULL);
	gate(0);
	/* A later check completes: the cancelled ones were passed over. */
	c3 = auth_check_start("u@example.test", "good", on_verdict, &r3);
	ck_assert(c3 != NULL);
	loop_until(&r3.called);
	ck_assert_int_eq(auth_pending(), 0);
	ck_assert_msg(r1.called == 0 && r2.called == 0, "a cancelled check "
	    "called back (%d, %d)", r1.called, r2.called);
	ck_assert_uint_eq(verified, 2);	/* c1 ran; c2 never did */
	stop();
}
END_TEST

START_TEST(test_sasl_plain_is_verified_off_the_loop)
{
	static const char good[] = "\0u@example.test\0good";
	static const char bad[] = "\0u@example.test\0nope";
	struct result r = { 0 }, r2 = { 0 };
	enum auth_result res;
	const char *ch;
	struct auth *a;
	struct auth_check *c;
	char b64[128];
	unsigned n;

	start(1, 4, "");
	ck_assert_int_eq(sasl_encode64(good, sizeof(good) - 1, b64,
	    sizeof(b64), &n), SASL_OK);
	a = auth_start("PLAIN", b64, 0, &res, &ch);
	ck_assert_msg(a != NULL && res == AUTH_VERIFY, "PLAIN: %d %s", res,
	    err_msg());
	ck_assert_str_eq(auth_login(a), "u@example.test");
	c = auth_verify(a, on_verdict, &r);
	auth_free(&a);
	ck_assert(c != NULL);
	loop_until(&r.called);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_msg(!pthread_equal(verify_thread, pthread_self()),
	    "verified on the loop thread");

	ck_assert_int_eq(sasl_encode64(bad, sizeof(bad) - 1, b64,
	    sizeof(b64), &n), SASL_OK);
	a = auth_start("PLAIN", NULL, 0, &res, &ch);
	ck_assert_int_eq(res, AUTH_CONTINUE);
	res = auth_step(a, b64, strlen(b64), &ch);
	ck_assert_int_eq(res, AUTH_VERIFY);
	c = auth_verify(a, on_verdict, &r2);
	auth_free(&a);
	ck_assert(c != NULL);
	loop_until(&r2.called);
	ck_assert_int_eq(r2.rc, 0);
	stop();
}
END_TEST

START_TEST(test_delay_grows_and_is_capped)
{
	struct auth_policy p = { .delay_ms = 100, .delay_max_ms = 1000 };

	ck_assert_uint_eq(auth_delay_ms(&p, 0), 100);
	ck_assert_uint_eq(auth_delay_ms(&p, 1), 100);
	ck_assert_uint_eq(auth_delay_ms(&p, 2), 200);
	ck_assert_uint_eq(auth_delay_ms(&p, 4), 800);
	ck_assert_uint_eq(auth_delay_ms(&p, 5), 1000);
	ck_assert_uint_eq(auth_delay_ms(&p, 4000000000U), 1000);
	p.delay_ms = 0;
	ck_assert_uint_eq(auth_delay_ms(&p, 9), 0);
}
END_TEST

START_TEST(test_trusted_networks_are_exempt)
{
	unsigned secs = 0;

	start(1, 4, "trusted_networks = 192.0.2.0/24, 2001:db8::/32\n");
	n_blocked_calls = n_failed_calls = 0;
	ck_assert_int_eq(auth_blocked("192.0.2.77", "u@example.test", &secs),
	    AUTH_BLOCK_NONE);
	ck_assert_uint_eq(auth_failed("2001:db8::5", "u@example.test"), 0);
	ck_assert_uint_eq(n_blocked_calls + n_failed_calls, 0);
	/* Others go to the backend: its lock, its count for the delay. */
	ck_assert_int_eq(auth_blocked("198.51.100.1", "u@example.test",
	    &secs), AUTH_BLOCK_USER);
	ck_assert_uint_eq(secs, 60);
	ck_assert_uint_eq(auth_failed("198.51.100.1", "u@example.test"), 400);
	stop();
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");

	tcase_add_test(tc, test_verified_on_a_worker_thread);
	tcase_add_test(tc, test_loop_serves_while_checks_wait);
	tcase_add_test(tc, test_full_queue_is_refused);
	tcase_add_test(tc, test_cancelled_check_never_calls_back);
	tcase_add_test(tc, test_sasl_plain_is_verified_off_the_loop);
	tcase_add_test(tc, test_delay_grows_and_is_capped);
	tcase_add_test(tc, test_trusted_networks_are_exempt);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(auth_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
