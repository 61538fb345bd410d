"""vellumd supervises the daemons: it starts vellum-pop3d for a [pop3]
section, restarts it within 2 s after a kill -9, stops every child and
exits 0 on SIGTERM, exits 1 with FILE:LINE lines on a bad config, and
warns once about a daemon whose binary is missing while the rest runs.
Usage: test_vellumd.py BUILD_DIR"""
import os
import shutil
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import Failure, check  # noqa: E402

RESTART_LIMIT = 2.0     # seconds from kill -9 to a served greeting


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")[:-1]
    except OSError:
        return []


def only_child(vd, what):
    """The one live child of vellumd, waiting briefly for it."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:
        kids = daemon.children_of(vd.pid)
        if len(kids) == 1:
            return kids[0]
        time.sleep(0.05)
    raise Failure("%s: expected one child of vellumd, saw %r; log:\n%s"
                  % (what, daemon.children_of(vd.pid), vd.output()))


def served_by_new_child(vd, port, old, timeout):
    """Seconds until port greets +OK from a child other than old."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        kids = daemon.children_of(vd.pid)
        if kids and old not in kids and daemon.port_open(port, timeout=0.2):
            try:
                last = daemon.greeting(port, timeout=2)
            except OSError as e:
                last = e
            if isinstance(last, str) and last.startswith("+OK"):
                return time.monotonic() - t0, kids[0]
        time.sleep(0.01)
    raise Failure("no new vellum-pop3d served 127.0.0.1:%d %.1f s after "
                  "kill -9 of pid %d (children %r, last reply %r); "
                  "vellumd log:\n%s" % (port, timeout, old,
                                        daemon.children_of(vd.pid), last,
                                        vd.output()))


def test_supervise(site):
    p = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "limits": {"shutdown_grace": "3"}})
    vd = site.start("vellumd")
    site.wait_port(p, vd)
    g = daemon.greeting(p)
    check(g.startswith("+OK"), "vellum-pop3d under vellumd greets +OK", g)
    child = only_child(vd, "after start")
    argv = cmdline(child)
    # (argv[0] may be an interpreter when the binary is a script)
    at = [n for n, a in enumerate(argv) if a.endswith(b"vellum-pop3d")]
    check(at and argv[at[0] + 1:at[0] + 3] == [b"-c", site.conf.encode()],
          "the child is vellum-pop3d -c %s" % site.conf, argv)

    times = []
    for round_ in (1, 2):
        os.kill(child, signal.SIGKILL)
        took, child = served_by_new_child(vd, p, child, 10)
        print("restart %d: a new vellum-pop3d served %.3f s after kill -9"
              % (round_, took))
        times.append(took)
    check(times[0] < RESTART_LIMIT,
          "the first restart serves within %.1f s" % RESTART_LIMIT, times)
    check(times[1] < RESTART_LIMIT + 1,
          "a second quick restart (back-off 0.4 s) serves within %.1f s"
          % (RESTART_LIMIT + 1), times)
    out = vd.output()
    check("killed by signal 9" in out,
          "vellumd logs how the child ended", out)

    t0 = time.monotonic()
    os.kill(vd.pid, signal.SIGTERM)
    rc = vd.wait(10)
    took = time.monotonic() - t0
    check(rc == 0, "vellumd exits 0 on SIGTERM within 10 s (took %.2f s)"
          % took, (rc, vd.output()))
    print("SIGTERM: vellumd and its children gone in %.3f s" % took)
    check(not daemon.pid_alive(child),
          "vellum-pop3d (pid %d) is gone after vellumd exits" % child,
          open("/proc/%d/stat" % child).read()
          if os.path.exists("/proc/%d" % child) else "")
    check(not daemon.port_open(p), "nothing listens on %d after SIGTERM" % p,
          "port open")


def test_config_error(site):
    p = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p}},
                    extra="no_such_key = 1\n[no_such_section]\n")
    vd = site.start("vellumd")
    rc = vd.wait(10)
    out = vd.output()
    check(rc == 1, "vellumd exits 1 on a bad config", (rc, out))
    lines = [ln for ln in out.splitlines()
             if re.search(re.escape(site.conf) + r":\d+: ", ln)]
    check(len(lines) >= 2, "both errors reported as FILE:LINE: ...", out)
    check(not daemon.port_open(p), "no daemon started on a bad config",
          out)
    print("config errors: %d FILE:LINE lines, exit 1" % len(lines))


def test_missing_binary(site):
    # Only vellum-pop3d in $VELLUM_LIBEXEC: vellum-imapd is missing.
    libexec = site.path("libexec")
    os.mkdir(libexec)
    os.symlink(site.binary("pop3d"), os.path.join(libexec, "vellum-pop3d"))
    p, i = site.port(), site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "imap": {"listen": "127.0.0.1:%d" % i},
                     "limits": {"shutdown_grace": "3"}})
    vd = site.start("vellumd", "-v", env={"VELLUM_LIBEXEC": libexec})
    site.wait_port(p, vd)
    g = daemon.greeting(p)
    check(g.startswith("+OK"), "pop3 runs though imapd is missing", g)
    out = vd.output()
    warn = [ln for ln in out.splitlines()
            if ln.startswith("vellumd:") and "vellum-imapd" in ln]
    check(len(warn) == 1, "one warning line about vellum-imapd", out)
    check(not daemon.port_open(i), "nothing listens on the imap port",
          "port %d open" % i)
    child = only_child(vd, "with imapd missing")
    check(b"-v" in cmdline(child), "vellumd -v passes -v to the child",
          cmdline(child))
    rc = site.stop(vd)
    check(rc == 0, "vellumd exits 0 on SIGTERM", (rc, vd.output()))
    print("missing binary: %s" % warn[0])


def test_first_start_tls(site):
    # No [tls]: every daemon needs the self-signed pair at once; exactly
    # one makes it, none fails on a half-written pair.
    if not site.have("smtpd"):
        raise Failure("vellum-smtpd not built: %s" % site.binary("smtpd"))
    shutil.rmtree(os.path.join(site.data, "tls"), ignore_errors=True)
    p, s = site.port(), site.port()
    site.write_conf({"pop3s": {"listen": "127.0.0.1:%d" % p},
                     "smtps": {"listen": "127.0.0.1:%d" % s}}, tls="self")
    vd = site.start("vellumd")
    site.wait_port(p, vd)
    site.wait_port(s, vd)
    time.sleep(0.5)
    out = vd.output()
    made = out.count("made a self-signed TLS certificate")
    check(made == 1 and "exited" not in out and "mismatch" not in out,
          "one daemon made the pair, none failed", out)
    check(site.stop(vd) == 0, "vellumd exits 0", vd.output())


def run(site, args):
    for name in ("vellumd", "vellumctl"):
        if not site.have(name):
            raise Failure("%s not built: %s" % (name, site.binary(name)))
    if not site.have("pop3d"):
        print("SKIP: %s not built" % site.binary("pop3d"))
        return daemon.SKIP
    site.add_user("demo@example.test", "demo")
    test_supervise(site)
    test_config_error(site)
    test_missing_binary(site)
    test_first_start_tls(site)
    return 0


if __name__ == "__main__":
    daemon.main(run)
