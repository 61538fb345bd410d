"""vellumd supervises the daemons: it starts vellum-pop3d for a [pop3]
section, restarts it within 2 s after a kill -9, stops every child and
exits 0 on SIGTERM, exits 1 with FILE:LINE lines on a bad config, and
warns once about a daemon whose binary is missing while the rest runs.

With a second argument it tests vellumd and the file view instead:
  fuse-off  in a private mount namespace with /dev/null bind-mounted over
            /dev/fuse (`unshare -m`), vellumd logs "file view off: WHY"
            once, never starts vellum-fs, and IMAP and POP3 answer; with
            a usable /dev/fuse also: vellum-fs (a stand-in) runs, the
            device is hidden, vellum-fs is killed, and vellumd says the
            file view is off instead of restarting it; and vellumd run
            as nobody says vellum-fs needs root.  Skipped (77) when
            unshare or the bind mount is not allowed.
  fs        with a usable /dev/fuse, vellumd starts vellum-fs (a stand-in
            that notes its arguments); then the real build/fs/vellum-fs
            mounts [fs] mountpoint under vellumd, is restarted after a
            kill -9 and mounts again, and a ^C (SIGINT to the process
            group, as `make run` gets it) unmounts it.  Skipped
            (77) without a usable /dev/fuse, or after the stand-in part
            when build/fs/vellum-fs is not built.
Usage: test_vellumd.py BUILD_DIR [fuse-off|fs]"""
import imaplib
import os
import poplib
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import Failure, check  # noqa: E402

RESTART_LIMIT = 2.0     # seconds from kill -9 to a served greeting


# A line vellumd itself logged: "2026-12-02T04:20:54.123Z vellumd[42]: ..."
# on stderr (time stamps since issue 12), "vellumd: ..." without them.
VELLUMD_LINE = re.compile(r"^(\S+Z )?vellumd(\[\d+\])?: ")
# vellum-fs's line once its mount is up, one per mount.
FS_MOUNTED = re.compile(r"^(?:\S+Z )?vellum-fs(?:\[\d+\])?: mounted at ",
                        re.M)


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


def test_held_sockets(site):
    """vellumd binds the listeners and keeps them: a client that connects
    while the daemon is dead waits in the queue and is served by the next
    one; an address in use is a start-up error, or refuses a reload."""
    import socket
    p = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "limits": {"shutdown_grace": "3"}})
    vd = site.start("vellumd")
    vd.wait_for(r"ready: \d+ daemon")
    child = only_child(vd, "held sockets")
    os.kill(child, signal.SIGKILL)
    # Connected before any new child exists: refused before vellumd
    # held the socket, greeted now once the restart is done.
    s = socket.create_connection(("127.0.0.1", p), timeout=15)
    try:
        g = s.makefile("rb").readline().decode()
    finally:
        s.close()
    check(g.startswith("+OK"), "a client that came while vellum-pop3d was "
          "dead is greeted by the restarted one", (g, vd.output()))

    # A reload that adds an address in use is refused; pop3 goes on.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    bport = busy.getsockname()[1]
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "pop3s": {"listen": "127.0.0.1:%d" % bport},
                     "limits": {"shutdown_grace": "3"}})
    r = subprocess.run([site.binary("vellumd"), "-c", site.conf, "reload"],
                       capture_output=True, timeout=60, text=True)
    check(r.returncode != 0 and "127.0.0.1:%d" % bport in r.stdout +
          r.stderr and "in use" in r.stdout + r.stderr,
          "a reload with an address in use is refused and names it",
          (r.returncode, r.stdout, r.stderr))
    check(daemon.greeting(p).startswith("+OK"),
          "pop3 still serves after the refused reload", vd.output())
    site.stop(vd)

    # At start: exit 1 naming the address, no daemon started.
    vd = site.start("vellumd")
    rc = vd.wait(10)
    out = vd.output()
    busy.close()
    check(rc == 1 and "127.0.0.1:%d" % bport in out and "in use" in out,
          "vellumd exits 1 naming an address in use", (rc, out))
    check("started vellum-pop3d" not in out, "no daemon was started", out)
    print("held sockets: restart served a waiting client; address in use "
          "refused the reload and the start")


def test_ctrl_c(site):
    """^C in a terminal: SIGINT reaches vellumd and every daemon at once,
    then vellumd's SIGTERM follows; no daemon dies of the second signal
    half way through closing, also after a reload replaced them."""
    ports = {k: site.port() for k in ("pop3", "imap", "smtp")}
    site.write_conf({k: {"listen": "127.0.0.1:%d" % v}
                     for k, v in ports.items()} |
                    {"limits": {"shutdown_grace": "3"}})
    wrapper = script(site, "vellumd-setsid-c", "exec setsid %s \"$@\"\n"
                     % site.binary("vellumd"))
    for round_ in range(3):
        vd = site.start(wrapper)
        # vellumd holds the ports before its daemons run: ^C comes after
        # they are up (a daemon still starting dies of it, as any would).
        vd.wait_for(r"ready: \d+ daemon")
        if round_ > 0:
            rc = subprocess.run([site.binary("vellumd"), "-c", site.conf,
                                 "reload"], capture_output=True,
                                timeout=60).returncode
            check(rc == 0, "vellumd reload", vd.output())
        os.killpg(vd.pid, signal.SIGINT)
        rc = vd.wait(15)
        out = vd.output()
        check(rc == 0 and "killed by signal" not in out,
              "round %d: ^C stops every daemon cleanly (exit 0, none "
              "killed by a signal)" % round_, (rc, out[-3000:]))


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
            if VELLUMD_LINE.match(ln) and "vellum-imapd" in ln]
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


FUSE_DEV = "/dev/fuse"
FUSE_RDEV = (10, 229)   # the misc character device of FUSE
MOUNT_LIMIT = 15.0      # seconds for vellum-fs to say it mounted


def fuse_usable():
    """None when /dev/fuse is the FUSE device and opens read-write here,
    else what is wrong (found without asking vellumd)."""
    try:
        st = os.stat(FUSE_DEV)
    except OSError as e:
        return "stat %s: %s" % (FUSE_DEV, e.strerror)
    if not stat.S_ISCHR(st.st_mode) or \
            (os.major(st.st_rdev), os.minor(st.st_rdev)) != FUSE_RDEV:
        return "%s is not char %d:%d" % ((FUSE_DEV,) + FUSE_RDEV)
    try:
        os.close(os.open(FUSE_DEV, os.O_RDWR | os.O_CLOEXEC))
    except OSError as e:
        return "open %s: %s" % (FUSE_DEV, e.strerror)
    return None


def script(site, name, text):
    path = site.path(name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, 0o755)
    return path


def stand_in_fs(libexec):
    """A vellum-fs in libexec that writes its arguments to libexec/fs-ran
    and waits for its signal (sleep ends on SIGTERM)."""
    marker = os.path.join(libexec, "fs-ran")
    path = os.path.join(libexec, "vellum-fs")
    with open(path, "w") as f:
        f.write('#!/bin/sh\necho "$@" >> %s\nexec sleep 600\n' % marker)
    os.chmod(path, 0o755)
    return marker


def libexec_with(site, dirname, *names):
    """A $VELLUM_LIBEXEC holding the named binaries of the build."""
    libexec = site.path(dirname)
    os.mkdir(libexec)
    for name in names:
        os.symlink(site.binary(name), os.path.join(
            libexec, os.path.basename(site.binary(name))))
    return libexec


def mount_count(path):
    """How many mounts /proc/self/mountinfo shows at path."""
    path = os.path.realpath(path)
    n = 0
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            n += point == path
    return n


def mounted(path):
    """Whether path is a mount point now."""
    return mount_count(path) > 0


def lazy_unmount(path):
    """Leaves no mount behind a failed test (never rmtree into one)."""
    for argv in (["fusermount3", "-uz", path], ["umount", "-l", path]):
        if not mounted(path):
            return
        subprocess.run(argv, capture_output=True, timeout=30)


def file_view_off_lines(out):
    return [ln for ln in out.splitlines()
            if VELLUMD_LINE.match(ln) and "file view off" in ln]


def test_fuse_off(site):
    """/dev/null over /dev/fuse: the file view is off, the rest runs."""
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         "mount --bind /dev/null %s" % FUSE_DEV],
        capture_output=True, timeout=30)
    if probe.returncode != 0:
        print("SKIP: unshare -m cannot bind-mount /dev/null over %s: %s"
              % (FUSE_DEV, probe.stderr.decode("utf-8", "replace").strip()))
        return daemon.SKIP
    for name in ("pop3d", "imapd"):
        if not site.have(name):
            print("SKIP: %s not built" % site.binary(name))
            return daemon.SKIP
    libexec = libexec_with(site, "libexec-off", "pop3d", "imapd")
    marker = stand_in_fs(libexec)
    p, i = site.port(), site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "imap": {"listen": "127.0.0.1:%d" % i},
                     "fs": {"mountpoint": site.path("mnt")},
                     "limits": {"shutdown_grace": "3"}})
    # The exec chain keeps one pid: sh -> unshare -> sh -> vellumd.
    wrapper = script(site, "vellumd-nofuse",
                     "exec unshare -m --propagation private sh -c "
                     "'mount --bind /dev/null %s && exec \"$0\" \"$@\"' "
                     "%s \"$@\"\n" % (FUSE_DEV, site.binary("vellumd")))
    vd = site.start(wrapper, env={"VELLUM_LIBEXEC": libexec})
    site.wait_port(p, vd)
    site.wait_port(i, vd)
    pop = poplib.POP3("127.0.0.1", p, timeout=10)
    pop.user("demo@example.test")
    check(pop.pass_("demo").startswith(b"+OK"), "POP3 login works", "")
    pop.quit()
    imap = imaplib.IMAP4("127.0.0.1", i, timeout=10)
    typ, _ = imap.login("demo@example.test", "demo")
    check(typ == "OK", "IMAP login works", typ)
    imap.logout()
    time.sleep(0.5)     # a wrongly started vellum-fs would have run now
    out = vd.output()
    off = file_view_off_lines(out)
    check(len(off) == 1, "one 'file view off' warning", out)
    want = "file view off: %s is not the FUSE device (char 1:3)" % FUSE_DEV
    check(want in off[0], "the warning says why: %r" % want, off[0])
    check(not os.path.exists(marker), "vellum-fs was not started",
          open(marker).read() if os.path.exists(marker) else "")
    check("vellum-fs" not in out.replace(off[0], ""),
          "nothing else about vellum-fs in the log", out)
    kids = daemon.children_of(vd.pid)
    check(len(kids) == 2, "vellumd runs two children (imapd, pop3d)",
          [daemon.cmdline_of(k) for k in kids])
    rc = site.stop(vd)
    check(rc == 0, "vellumd exits 0 on SIGTERM", (rc, vd.output()))
    check(not mounted(FUSE_DEV),
          "the bind mount stayed in the private namespace", FUSE_DEV)
    print("fuse off: %s" % off[0])
    return 0


def test_fuse_gone(site):
    """/dev/fuse goes away while vellum-fs runs: once it ends, vellumd
    says the file view is off instead of restarting it."""
    libexec = libexec_with(site, "libexec-gone", "pop3d")
    marker = stand_in_fs(libexec)
    p = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "fs": {"mountpoint": site.path("mnt")},
                     "limits": {"shutdown_grace": "3"}})
    wrapper = script(site, "vellumd-ns", "exec unshare -m --propagation "
                     "private %s \"$@\"\n" % site.binary("vellumd"))
    vd = site.start(wrapper, env={"VELLUM_LIBEXEC": libexec})
    site.wait_port(p, vd)
    t0 = time.monotonic()
    while not os.path.exists(marker) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    check(os.path.exists(marker), "vellumd started vellum-fs",
          vd.output())
    # The marker is written before the script execs sleep: wait for it.
    while time.monotonic() - t0 < 10:
        fs = [k for k in daemon.children_of(vd.pid)
              if "sleep" in daemon.cmdline_of(k)]
        if fs:
            break
        time.sleep(0.05)
    check(len(fs) == 1, "one vellum-fs (stand-in) child",
          [daemon.cmdline_of(k) for k in daemon.children_of(vd.pid)])
    b = subprocess.run(["nsenter", "--mount=/proc/%d/ns/mnt" % vd.pid,
                        "mount", "--bind", "/dev/null", FUSE_DEV],
                       capture_output=True, timeout=30)
    check(b.returncode == 0, "bind-mount in vellumd's namespace",
          b.stderr)
    os.kill(fs[0], signal.SIGKILL)
    t0 = time.monotonic()
    while not file_view_off_lines(vd.output()) and \
            time.monotonic() - t0 < 10:
        time.sleep(0.05)
    time.sleep(1.0)     # past the back-off of a restart (0.2 s)
    out = vd.output()
    check(len(file_view_off_lines(out)) == 1,
          "one 'file view off' warning after vellum-fs ended", out)
    with open(marker) as f:
        runs = f.read().splitlines()
    check(len(runs) == 1, "vellum-fs was not restarted", runs)
    check(daemon.greeting(p).startswith("+OK"), "pop3 still answers", out)
    rc = site.stop(vd)
    check(rc == 0, "vellumd exits 0 on SIGTERM", (rc, vd.output()))
    print("fuse gone: %s" % file_view_off_lines(out)[0])


def test_fs_not_root(site):
    """vellumd not run as root: vellum-fs cannot mount, so vellumd says
    the file view is off instead of starting it (to fail and restart
    it again and again)."""
    try:
        import pwd
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("(not tested: vellumd as a user, as there is no nobody)")
        return
    libexec = libexec_with(site, "libexec-user")
    marker = stand_in_fs(libexec)
    conf = site.write_conf({"fs": {"mountpoint": site.path("mnt")}})
    for path in (site.tmp, libexec):
        os.chmod(path, 0o755)
    os.chmod(conf, 0o644)
    # vellumd locks its pid file in data_dir (issue 12): nobody's.
    os.makedirs(site.data, exist_ok=True)
    os.chown(site.data, nobody.pw_uid, nobody.pw_gid)
    for name in ("vellumd.pid", "vellumd.status"):
        if os.path.exists(os.path.join(site.data, name)):
            os.unlink(os.path.join(site.data, name))
    vd = site.start(shutil.which("setpriv"), "--reuid=%d" % nobody.pw_uid,
                    "--regid=%d" % nobody.pw_gid, "--clear-groups",
                    site.binary("vellumd"), "-c", site.conf, conf=False,
                    env={"VELLUM_LIBEXEC": libexec})
    rc = vd.wait(10)
    out = vd.output()
    off = file_view_off_lines(out)
    check(len(off) == 1 and "needs root" in off[0],
          "one 'file view off: vellum-fs needs root' warning", out)
    check(not os.path.exists(marker), "vellum-fs was not started", out)
    check(rc == 1, "vellumd exits 1: nothing else to run", (rc, out))
    print("not root: %s" % off[0])


def test_fs_stand_in(site):
    """A usable /dev/fuse: vellumd starts vellum-fs -c CONF."""
    libexec = libexec_with(site, "libexec-fs", "pop3d")
    marker = stand_in_fs(libexec)
    p = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "fs": {"mountpoint": site.path("mnt")},
                     "limits": {"shutdown_grace": "3"}})
    vd = site.start("vellumd", env={"VELLUM_LIBEXEC": libexec})
    site.wait_port(p, vd)
    t0 = time.monotonic()
    while not os.path.exists(marker) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    check(os.path.exists(marker), "vellumd started vellum-fs",
          vd.output())
    with open(marker) as f:
        args = f.read().split()
    check(args == ["-c", site.conf], "vellum-fs got -c %s" % site.conf,
          args)
    out = vd.output()
    check(not file_view_off_lines(out), "no 'file view off' warning", out)
    check(re.search(r"started vellum-fs \(pid \d+\) for fs", out),
          "vellumd logs that it started vellum-fs", out)
    rc = site.stop(vd)
    check(rc == 0, "vellumd exits 0 on SIGTERM", (rc, vd.output()))
    print("fs: vellumd started vellum-fs %s" % " ".join(args))


def test_fs_real(site):
    """vellumd starts the real vellum-fs; ^C unmounts."""
    mnt = site.path("mnt-real")
    p = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % p},
                     "fs": {"mountpoint": mnt},
                     "limits": {"shutdown_grace": "3"}})
    # Its own process group, so a ^C can be sent as a terminal does.
    wrapper = script(site, "vellumd-setsid", "exec setsid %s \"$@\"\n"
                     % site.binary("vellumd"))
    vd = site.start(wrapper)
    try:
        site.wait_port(p, vd)
        t0 = time.monotonic()
        while time.monotonic() - t0 < MOUNT_LIMIT and \
                "mounted at" not in vd.output():
            if not vd.running():
                break
            time.sleep(0.05)
        out = vd.output()
        check(len(FS_MOUNTED.findall(out)) >= 1,
              "vellum-fs says it mounted within %.0f s" % MOUNT_LIMIT, out)
        check(mounted(mnt), "%s is a mount point" % mnt, out)
        mail = os.path.join(mnt, "example.test", "demo", "Mail")
        check(os.path.isdir(os.path.join(mail, "cur")),
              "%s/cur is there (what make run prints)" % mail,
              os.listdir(mnt))
        # kill -9 of vellum-fs: its serving process dies with it, the
        # mount is left dead, and the vellum-fs vellumd starts again
        # clears it and mounts anew.
        fs = [k for k in daemon.children_of(vd.pid)
              if "vellum-fs" in daemon.cmdline_of(k)]
        check(len(fs) == 1, "one vellum-fs child of vellumd",
              [daemon.cmdline_of(k) for k in daemon.children_of(vd.pid)])
        os.kill(fs[0], signal.SIGKILL)
        t0 = time.monotonic()
        while time.monotonic() - t0 < MOUNT_LIMIT and \
                len(FS_MOUNTED.findall(vd.output())) < 2:
            time.sleep(0.05)
        out = vd.output()
        check(len(FS_MOUNTED.findall(out)) == 2,
              "the restarted vellum-fs mounted again", out)
        check(os.path.isdir(os.path.join(mail, "cur")),
              "the new mount serves %s/cur" % mail, out)
        n = mount_count(mnt)
        check(n == 1, "one mount at %s, the dead one gone" % mnt, n)
        print("fs: kill -9 of vellum-fs: restarted and mounted again")
        check(os.getpgid(vd.pid) == vd.pid, "vellumd leads its group",
              os.getpgid(vd.pid))
        tree = daemon.descendants_of(vd.pid)
        os.killpg(vd.pid, signal.SIGINT)
        rc = vd.wait(20)
        check(rc == 0, "vellumd exits 0 after ^C", (rc, vd.output()))
        check(not mounted(mnt), "^C unmounted %s" % mnt, vd.output())
        left = [(k, daemon.cmdline_of(k)) for k, t in tree
                if t is not None and daemon.proc_start(k) == t and
                daemon.pid_alive(k)]
        check(not left, "no process of vellumd is left", left)
    finally:
        lazy_unmount(mnt)
    print("fs: vellum-fs mounted %s under vellumd; ^C unmounted it" % mnt)


def run_fs(site, mode):
    if mode == "fuse-off":
        rc = test_fuse_off(site)
        if rc == 0 and fuse_usable() is None:
            test_fuse_gone(site)
            if os.geteuid() == 0:
                test_fs_not_root(site)
        elif rc == 0:
            print("(not tested: /dev/fuse going away while vellum-fs "
                  "runs, as /dev/fuse is not usable here)")
        return rc
    why = fuse_usable()
    if why is not None:
        print("SKIP: /dev/fuse is not usable: %s" % why)
        return daemon.SKIP
    if not site.have("pop3d"):
        print("SKIP: %s not built" % site.binary("pop3d"))
        return daemon.SKIP
    test_fs_stand_in(site)
    if not site.have("fs"):
        print("SKIP: %s not built yet" % site.binary("fs"))
        return daemon.SKIP
    test_fs_real(site)
    return 0


def run(site, args):
    for name in ("vellumd", "vellumctl"):
        if not site.have(name):
            raise Failure("%s not built: %s" % (name, site.binary(name)))
    if args:
        if args[0] not in ("fuse-off", "fs"):
            raise Failure("unknown mode %r: fuse-off or fs" % args[0])
        site.add_user("demo@example.test", "demo")
        return run_fs(site, args[0])
    if not site.have("pop3d"):
        print("SKIP: %s not built" % site.binary("pop3d"))
        return daemon.SKIP
    site.add_user("demo@example.test", "demo")
    test_supervise(site)
    test_held_sockets(site)
    test_ctrl_c(site)
    test_config_error(site)
    test_missing_binary(site)
    test_first_start_tls(site)
    return 0


if __name__ == "__main__":
    daemon.main(run)
