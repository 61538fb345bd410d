"""Checks at start and config check/show (issue 12):

  - `vellumd -n` and `vellumctl config show` print what differs from the
    defaults (with units), `vellumd -a` / `config show --all` every
    key; what they print parses back (show -> parse -> show is the same
    text), `vellumctl config check` says there is no error.
  - a config with errors: both exit 1 with FILE:LINE lines, unknown keys
    with "did you mean" (mynetworks -> trusted_networks).
  - units reach the daemons: max_message_size = 1.5M is SIZE 1572864 in
    vellum-smtpd's EHLO; vellumctl quota set takes 1.5G and 512KiB.
  - a [tls] cert or key that is missing, not a certificate, or not the
    cert's key: vellumd exits 1 naming the file and starts nothing;
    vellum-smtpd and vellum-pop3d run alone exit 1 naming it too.
  - a second vellumd on the same data dir exits 1 naming the first's pid.
  - --help on every program and every vellumctl noun: usage on stdout,
    exit 0.
Usage: test_config_check.py BUILD_DIR"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import Failure, check  # noqa: E402
import smtptest  # noqa: E402

NOUNS = ("domain", "user", "addr", "mail", "quota", "queue", "transport",
         "lock", "auth", "store", "vacation", "list", "filter", "config",
         "reload")
PROGRAMS = ("vellumd", "smtpd", "imapd", "pop3d", "mta", "vellumctl")


def run(*args, timeout=60):
    p = subprocess.run([str(a) for a in args], capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def show_round_trip(site):
    vd, ctl = site.binary("vellumd"), site.binary("vellumctl")
    smtp = site.port()
    site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % smtp},
                     "smtpd": {"max_message_size": "50M",
                               "memory_limit": "1.5G",
                               "trusted_networks": "192.0.2.0/24"},
                     "limits": {"idle_timeout": "5m",
                                "shutdown_grace": "30s"},
                     "quota": {"full_mark": "90%"},
                     "filter": {"output_max": "512k"}})
    rc, out, err = run(vd, "-c", site.conf, "-n")
    check(rc == 0, "vellumd -n exits 0", (rc, out, err))
    for line in ("max_message_size = 50M", "memory_limit = 1536M",
                 "idle_timeout = 5m", "full_mark = 90%",
                 "output_max = 512K", "data_dir = %s" % site.data,
                 "trusted_networks = 192.0.2.0/24"):
        check(line in out.split("\n"), "vellumd -n prints %r" % line, out)
    check("shutdown_grace" not in out and "max_hops" not in out,
          "vellumd -n leaves out defaults (shutdown_grace = 30s)", out)
    rc2, out2, err2 = run(ctl, "-c", site.conf, "config", "show")
    check(rc2 == 0 and out2 == out, "vellumctl config show prints what "
          "vellumd -n does", (rc2, out2, err2))
    for flag in ("-n", "-a"):
        rc, one, err = run(vd, "-c", site.conf, flag)
        check(rc == 0, "vellumd %s" % flag, err)
        again = site.path("again%s.conf" % flag)
        with open(again, "w") as f:
            f.write(one)
        rc, two, err = run(vd, "-c", again, flag)
        check(rc == 0 and two == one, "vellumd %s output parses back to "
              "the same settings" % flag, (rc, err, one, two))
    rc, full, err = run(ctl, "-c", site.conf, "config", "show", "--all")
    check(rc == 0 and "shutdown_grace = 30s" in full and
          "max_hops = 50" in full and "[queue]" in full,
          "config show --all prints every key", full)
    rc, out, err = run(ctl, "-c", site.conf, "config", "check")
    check(rc == 0 and "no errors" in out, "config check on a good file",
          (rc, out, err))
    rc, out, err = run(ctl, "-c", site.conf, "--json", "config", "check")
    check(rc == 0 and json.loads(out).get("ok") is True,
          "config check --json", (rc, out, err))
    rc, out, err = run(ctl, "-c", site.conf, "config", "show", "--json")
    check(rc == 0 and json.loads(out).get("message") + "\n" == out2,
          "config show --json has the text in message", (rc, out, err))


def errors_named(site):
    vd, ctl = site.binary("vellumd"), site.binary("vellumctl")
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % site.port()}},
                    extra="[smtpd]\nmynetworks = 10.0.0.0/8\n"
                    "message_size_limit = 1\n[limits]\nidle_timout = 5\n")
    lines = open(site.conf).read().split("\n")
    n = lines.index("mynetworks = 10.0.0.0/8") + 1
    want = ["%s:%d: unknown key 'mynetworks' in [smtpd]: did you mean "
            "trusted_networks?" % (site.conf, n),
            "%s:%d: unknown key 'message_size_limit' in [smtpd]: did you "
            "mean max_message_size?" % (site.conf, n + 1),
            "%s:%d: unknown key 'idle_timout' in [limits]: did you mean "
            "idle_timeout?" % (site.conf, n + 3)]
    for argv in ([vd, "-c", site.conf, "-n"],
                 [ctl, "-c", site.conf, "config", "check"],
                 [ctl, "-c", site.conf, "config", "show"]):
        rc, out, err = run(*argv)
        check(rc == 1, "%s exits 1 on errors" % " ".join(argv[1:]),
              (rc, out, err))
        for w in want:
            check(w in err.split("\n"), "%s says %r" % (
                os.path.basename(argv[0]), w), err)


def units_reach_smtpd(site):
    smtp = site.port()
    site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % smtp},
                     "smtpd": {"max_message_size": "1.5M"}})
    p = site.start("smtpd")
    site.wait_port(smtp, p)
    r = smtptest.Raw(smtp)
    ext = r.ehlo()
    r.close()
    check("SIZE 1572864" in ext, "max_message_size = 1.5M is SIZE "
          "1572864", ext)
    site.stop(p)


def quota_units(site):
    """vellumctl quota set reads sizes with the config's parser."""
    site.add_user("q@example.test", "pw-quota-1")
    site.ctl("quota", "set", "q@example.test", "1.5G")
    info = smtptest.user_info(site, "q@example.test")
    check(info.get("quota_bytes") == 1610612736, "quota 1.5G is "
          "1610612736 bytes", info)
    site.ctl("quota", "set", "q@example.test", "512KiB")
    info = smtptest.user_info(site, "q@example.test")
    check(info.get("quota_bytes") == 524288, "quota 512KiB", info)


def bad_certs(site):
    vd = site.binary("vellumd")
    pop3 = site.port()
    good_cert, good_key = site.make_cert()
    junk = site.path("junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    other_key = site.path("other-key.pem")
    p = subprocess.run(["openssl", "genpkey", "-algorithm", "EC",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-out", other_key], capture_output=True,
                       timeout=60)
    check(p.returncode == 0, "openssl genpkey", p.stderr)
    missing = site.path("no-such-cert.pem")
    cases = [((missing, good_key), missing, "No such file"),
             ((good_cert, site.path("no-key.pem")), site.path("no-key.pem"),
              "No such file"),
             ((junk, good_key), junk, "not a certificate"),
             ((good_cert, junk), junk, "not a private key"),
             ((good_cert, other_key), other_key, "does not match")]
    if os.geteuid() != 0:
        unreadable = site.path("unreadable.pem")
        with open(unreadable, "w") as f:
            f.write(open(good_cert).read())
        os.chmod(unreadable, 0)
        cases.append(((unreadable, good_key), unreadable,
                      "Permission denied"))
    for (cert, key), named, why in cases:
        site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % pop3},
                         "smtp": {"listen": "127.0.0.1:%d" % site.port()}},
                        tls=(cert, key))
        proc = site.start("vellumd")
        rc = proc.wait(20)
        out = proc.output()
        check(rc == 1, "vellumd with [tls] %s exits 1" % named, (rc, out))
        check(named in out and why in out, "vellumd names %s (%s)" % (
            named, why), out)
        check("started" not in out and not daemon.port_open(pop3),
              "vellumd started nothing", out)
        rc, _, err = run(vd, "-c", site.conf, "-n")
        check(rc == 1 and named in err, "vellumd -n names %s" % named, err)
        for name in ("smtpd", "pop3d"):
            proc = site.start(name)
            rc = proc.wait(20)
            out = proc.output()
            check(rc == 1 and named in out, "vellum-%s with [tls] %s exits "
                  "1 naming it" % (name, named), (rc, out))
    # No [tls]: the self-signed pair of a fresh install, as before.
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % pop3}}, tls="self")
    proc = site.start("pop3d")
    site.wait_port(pop3, proc)
    site.stop(proc)


def second_vellumd(site):
    pop3 = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % pop3}})
    first = site.start("vellumd")
    site.wait_port(pop3, first)
    second = site.start("vellumd")
    rc = second.wait(20)
    out = second.output()
    check(rc == 1, "a second vellumd on the same data dir exits 1",
          (rc, out))
    check("another vellumd (pid %d)" % first.pid in out, "it names the "
          "first one's pid", out)
    check(first.running() and daemon.greeting(pop3).startswith("+OK"),
          "the first keeps serving", first.output())
    check(site.stop(first) == 0, "the first stops cleanly", first.output())
    # Its lock is gone with it: a new one starts.
    third = site.start("vellumd")
    site.wait_port(pop3, third)
    site.stop(third)


def planted_links(site):
    """data_dir belongs to the daemons' user, vellumd may run as root: a
    link planted there (vellumd.status.tmp as a symlink, vellumd.pid as a
    hard link) never makes vellumd write to another file."""
    pop3 = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % pop3}})
    victim = site.path("victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    tmp = os.path.join(site.data, "vellumd.status.tmp")
    for name in ("vellumd.status", "vellumd.status.tmp", "vellumd.pid"):
        try:
            os.unlink(os.path.join(site.data, name))
        except FileNotFoundError:
            pass
    os.symlink(victim, tmp)
    vd = site.start("vellumd")
    site.wait_port(pop3, vd)
    t0 = time.monotonic()
    while not os.path.exists(os.path.join(site.data, "vellumd.status")):
        check(time.monotonic() - t0 < 30, "vellumd writes its status",
              vd.output())
        time.sleep(0.05)
    check(open(victim).read() == "precious\n", "a symlink planted as "
          "vellumd.status.tmp is not followed", open(victim).read())
    check(site.stop(vd) == 0, "vellumd stops", vd.output())
    # A hard link as the pid file: refused, the other file untouched.
    pid = os.path.join(site.data, "vellumd.pid")
    os.unlink(pid)
    os.link(victim, pid)
    vd = site.start("vellumd")
    rc = vd.wait(20)
    check(open(victim).read() == "precious\n", "a hard link planted as "
          "vellumd.pid is not truncated", open(victim).read())
    check(rc == 1 and "not a regular file with one link" in vd.output(),
          "vellumd refuses it, naming the file", (rc, vd.output()))
    os.unlink(pid)
    # The self-signed pair a daemon makes (as root) in data_dir/tls.
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % pop3}}, tls="self")
    tlsdir = os.path.join(site.data, "tls")
    shutil.rmtree(tlsdir, ignore_errors=True)
    os.makedirs(tlsdir)
    os.symlink(victim, os.path.join(tlsdir, "key.pem.tmp"))
    os.symlink(victim, os.path.join(tlsdir, "cert.pem.tmp"))
    proc = site.start("pop3d")
    site.wait_port(pop3, proc)
    site.stop(proc)
    check(open(victim).read() == "precious\n", "symlinks planted as "
          "data_dir/tls/*.pem.tmp are not followed", open(victim).read())
    check(os.path.isfile(os.path.join(tlsdir, "key.pem")), "the pair is "
          "made all the same", os.listdir(tlsdir))
    aimed_reload(site)


def store_owner(site):
    """As root with a data dir of the daemons' user (vellum-setup's
    vellum; nobody here) and no store yet, the first daemon makes the
    store that user's: `runuser -u vellum vellumctl` can use it after."""
    if os.geteuid() != 0:
        print("not root: the store owner case is skipped")
        return
    data = site.path("owned-data")
    os.makedirs(data)
    os.chown(data, 65534, 65534)
    pop3 = site.port()
    conf = site.path("owned.conf")
    with open(conf, "w") as f:
        f.write("data_dir = %s\nuser = nobody\n[pop3]\nlisten = "
                "127.0.0.1:%d\n" % (data, pop3))
    proc = subprocess.Popen([site.binary("pop3d"), "-c", conf],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        site.wait_port(pop3)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    store = os.path.join(data, "store")
    owners = {n: os.stat(os.path.join(store, n)).st_uid
              for n in (".", "data.mdb", "lock.mdb")}
    check(all(u == 65534 for u in owners.values()), "the store the daemon "
          "made as root belongs to the data dir's owner", (owners, err))


def aimed_reload(site):
    """As root, a pid file of the daemons' user (nobody here) that names
    a process of root's is not signalled by `vellumd reload` /
    `vellumctl reload` (ExecReload of vellumd.service)."""
    if os.geteuid() != 0:
        print("not root: the planted pid file case is skipped")
        return
    victim = subprocess.Popen(["sleep", "300"])
    pid = os.path.join(site.data, "vellumd.pid")
    status = os.path.join(site.data, "vellumd.status")
    try:
        with open(pid, "w") as f:
            f.write("%d\n" % victim.pid)
        with open(status, "w") as f:
            f.write("%d 7 reloaded\n" % victim.pid)
        os.chown(pid, 65534, 65534)
        os.chown(status, 65534, 65534)
        holder = open(pid)
        fcntl.flock(holder, fcntl.LOCK_EX)
        for argv in ([site.binary("vellumd"), "-c", site.conf, "reload"],
                     [site.binary("vellumctl"), "-c", site.conf, "reload"]):
            try:
                rc, out, err = run(*argv, timeout=30)
            except subprocess.TimeoutExpired:
                rc, out, err = None, "", "(still waiting after 30 s)"
            time.sleep(0.2)
            check(victim.poll() is None, "%s does not signal pid %d named "
                  "by a pid file of another user" % (argv[0], victim.pid),
                  (rc, out, err))
            check(rc == 1 and "not a process of that user" in err,
                  "it says why", (rc, out, err))
        holder.close()
    finally:
        victim.kill()
        victim.wait()
        for f in (pid, status):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass


def help_everywhere(site):
    for name in PROGRAMS:
        rc, out, err = run(site.binary(name), "--help")
        check(rc == 0 and "usage" in out.lower() and err == "",
              "%s --help prints usage on stdout and exits 0" % name,
              (rc, out, err))
        if name != "vellumctl":
            rc, out, err = run(site.binary(name), "-h")
            check(rc == 0 and "usage" in out.lower(), "%s -h" % name,
                  (rc, out, err))
    sendmail = os.path.join(site.build, "admin", "vellum-sendmail")
    rc, out, err = run(sendmail, "--help")
    check(rc == 0 and "usage" in out.lower(), "vellum-sendmail --help",
          (rc, out, err))
    if site.have("fs"):
        rc, out, err = run(site.binary("fs"), "--help")
        check(rc == 0 and "usage" in out.lower(), "vellum-fs --help",
              (rc, out, err))
    # A wrong word is named as it was written.
    for name in ("vellumd", "imapd", "pop3d", "smtpd"):
        rc, out, err = run(site.binary(name), "--bogus")
        check(rc == 2 and "unknown option --bogus" in err, "%s --bogus "
              "names the option" % name, (rc, err))
    rc, out, err = run(site.binary("vellumd"), "reload", "extra")
    check(rc == 2 and "unexpected argument 'extra'" in err, "vellumd "
          "reload extra names the extra word", (rc, err))
    for noun in NOUNS:
        rc, out, err = run(site.binary("vellumctl"), noun, "--help")
        check(rc == 0 and noun in out and err == "", "vellumctl %s --help "
              "exits 0 with its commands" % noun, (rc, out, err))


def main(site, args):
    for name in ("vellumd", "vellumctl", "smtpd", "pop3d"):
        if not site.have(name):
            raise Failure("%s is not built" % name)
    help_everywhere(site)
    show_round_trip(site)
    errors_named(site)
    units_reach_smtpd(site)
    quota_units(site)
    bad_certs(site)
    second_vellumd(site)
    planted_links(site)
    store_owner(site)
    return 0


if __name__ == "__main__":
    daemon.main(main)
