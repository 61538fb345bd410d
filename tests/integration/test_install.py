"""`meson install --destdir TMP` lays out an installed system, and the
installed vellumd runs the installed daemons.

Checks, under TMP + prefix: the daemons (vellumd, vellum-smtpd,
vellum-imapd, vellum-pop3d, vellum-fs, vellum-mta), vellum-sendmail and
vellum-setup executable in sbin, vellumctl in bin and no daemon there, no
file named sendmail anywhere (Postfix's /usr/sbin/sendmail stays its
own), every man page of man/ in man5 or man8, the sample vellum.conf in
SYSCONFDIR/vellum equal to the build's dist/vellum.conf (whose settings
tests/unit/check_config_sample.c compares with the embedded default),
vellumd.service (Restart=on-failure, ExecReload running `vellumd reload`,
After=network-online.target, ExecStart on the installed vellumd and
sample) and `systemd-analyze verify` clean on it (that part skipped when
systemd-analyze is missing), the sysusers.d and tmpfiles.d files, which
systemd-sysusers and systemd-tmpfiles --root=TMP turn into the vellum user
and its 0750 data dir (skipped without them; the data dir as root only), and vellum-setup -n saying
what it would do.

Then the INSTALLED vellumd, started on a test config with [smtp], [imap]
and [pop3] on free loopback ports and VELLUM_LIBEXEC unset, starts the
installed daemons (their /proc/PID/exe is under TMP): a message sent over
SMTP is read over IMAP and POP3 with the installed vellumctl's user.
The unit's ExecReload command (on the test config) exits 0 when vellumd
reloaded and 1 when it refused a config with errors, so that `systemctl
reload` does not say a refused reload went well.
Usage: test_install.py BUILD_DIR"""
import filecmp
import imaplib
import json
import os
import poplib
import shutil
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import Failure, check  # noqa: E402

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DAEMONS = ["vellumd", "vellum-smtpd", "vellum-imapd", "vellum-pop3d",
           "vellum-fs", "vellum-mta"]
SBIN = DAEMONS + ["vellum-sendmail", "vellum-setup"]
USER, PASSWORD = "inst@example.test", "install-pw"


def run(argv, what, **kw):
    p = subprocess.run(argv, capture_output=True, timeout=600, **kw)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    check(p.returncode == 0, "%s exits 0" % what, out)
    return out


def options(build):
    """{name: value} of the build's meson options."""
    out = subprocess.run(["meson", "introspect", "--buildoptions", build],
                         capture_output=True, timeout=120, check=True)
    return {o["name"]: o["value"] for o in json.loads(out.stdout)}


def under(root, opts, name):
    """The installed path of a directory option (absolute or relative to
    the prefix), inside the destdir root."""
    d = opts[name]
    if not os.path.isabs(d):
        d = os.path.join(opts["prefix"], d)
    return root + d


def check_tree(site, root, opts):
    sbin, bindir = under(root, opts, "sbindir"), under(root, opts, "bindir")
    for name in SBIN:
        p = os.path.join(sbin, name)
        check(os.path.isfile(p) and os.access(p, os.X_OK),
              "%s is installed executable in sbin" % name,
              sorted(os.listdir(sbin)) if os.path.isdir(sbin) else
              "no %s" % sbin)
    p = os.path.join(bindir, "vellumctl")
    check(os.path.isfile(p) and os.access(p, os.X_OK),
          "vellumctl is installed executable in bin",
          sorted(os.listdir(bindir)) if os.path.isdir(bindir) else
          "no %s" % bindir)
    inbin = [n for n in SBIN if os.path.exists(os.path.join(bindir, n))]
    check(not inbin, "no daemon is installed in bin", inbin)
    sendmails = [os.path.join(d, f) for d, _, fs in os.walk(root)
                 for f in fs if f == "sendmail"]
    check(not sendmails, "nothing is installed as sendmail (Postfix's "
          "/usr/sbin/sendmail stays its own)", sendmails)

    mandir = under(root, opts, "mandir")
    for page in sorted(os.listdir(os.path.join(SOURCE, "man"))):
        sect = page.rsplit(".", 1)[1]
        p = os.path.join(mandir, "man" + sect, page)
        check(os.path.isfile(p), "man page %s is installed in man%s"
              % (page, sect), p)

    sysconf = under(root, opts, "sysconfdir")
    sample = os.path.join(sysconf, "vellum", "vellum.conf")
    check(os.path.isfile(sample), "the sample vellum.conf is installed in "
          "SYSCONFDIR/vellum", sample)
    check(filecmp.cmp(sample, os.path.join(site.build, "dist",
                                           "vellum.conf"), shallow=False),
          "the installed sample is the build's dist/vellum.conf", sample)
    text = open(sample).read()
    check("data_dir = %s" % opts["vellum_data_dir"] in text and
          "user = vellum" in text,
          "the sample names the data dir and the vellum user", text)

    prefix = opts["prefix"]
    unitdir = opts["systemdunitdir"] or (
        "/lib/systemd/system" if prefix == "/usr" else
        os.path.join(prefix, "lib/systemd/system"))
    unit = root + os.path.join(unitdir, "vellumd.service")
    check(os.path.isfile(unit), "vellumd.service is installed", unit)
    u = open(unit).read().splitlines()
    sbin_real = sbin[len(root):]
    sysconf_real = sysconf[len(root):]
    reload = "ExecReload=%s/vellumd -c %s/vellum/vellum.conf reload" % (
        sbin_real, sysconf_real)
    for want in ("Restart=on-failure", reload,
                 "After=network-online.target",
                 "Wants=network-online.target",
                 "ExecStart=%s/vellumd -c %s/vellum/vellum.conf"
                 % (sbin_real, sysconf_real),
                 "WantedBy=multi-user.target"):
        check(want in u, "vellumd.service has the line %s" % want, u)
    # Nothing that would hide vellum-fs's mount or /dev/fuse.
    bad = [ln for ln in u if ln.split("=", 1)[0] in (
        "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
        "DevicePolicy", "ReadWritePaths", "ReadOnlyPaths",
        "InaccessiblePaths", "PrivateMounts", "User", "DynamicUser")]
    check(not bad, "vellumd.service keeps the host's mounts, /dev/fuse "
          "and root (the daemons drop privileges themselves)", bad)
    verify_unit(root, unit, mandir, sbin_real)

    for opt, sub in (("sysusersdir", "sysusers.d"),
                     ("tmpfilesdir", "tmpfiles.d")):
        d = opts[opt] or os.path.join(prefix, "lib", sub)
        p = root + os.path.join(d, "vellum.conf")
        check(os.path.isfile(p), "%s/vellum.conf is installed" % sub, p)
        t = open(p).read()
        check(opts["vellum_data_dir"] in t and "vellum" in t,
              "%s/vellum.conf names the vellum user's data dir" % sub, t)

    apply_sysusers(root, opts, prefix)

    out = run(["sh", os.path.join(sbin, "vellum-setup"), "-n"],
              "vellum-setup -n")
    check("vellum" in out and opts["vellum_data_dir"] in out,
          "vellum-setup -n says what it would make", out)


def apply_sysusers(root, opts, prefix):
    """systemd-sysusers and systemd-tmpfiles with the destdir as their
    root (its own empty /etc/passwd and /etc/group) make the vellum user
    and give it the data dir, mode 0750.  Skipped without the tools."""
    sysusers = shutil.which("systemd-sysusers")
    tmpfiles = shutil.which("systemd-tmpfiles")
    if sysusers is None or tmpfiles is None:
        print("systemd-sysusers/systemd-tmpfiles not found: the files are "
              "not applied")
        return
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        open(os.path.join(root, "etc", name), "a").close()
    su = root + os.path.join(opts["sysusersdir"] or os.path.join(
        prefix, "lib", "sysusers.d"), "vellum.conf")
    tf = root + os.path.join(opts["tmpfilesdir"] or os.path.join(
        prefix, "lib", "tmpfiles.d"), "vellum.conf")
    run([sysusers, "--root=" + root, su], "systemd-sysusers --root")
    users = [ln.split(":") for ln in
             open(os.path.join(root, "etc", "passwd")).read().splitlines()]
    me = [u for u in users if u[0] == "vellum"]
    check(len(me) == 1 and me[0][5] == opts["vellum_data_dir"],
          "sysusers.d/vellum.conf makes the user vellum with the data dir "
          "as home", users)
    if os.geteuid() != 0:
        print("not root: systemd-tmpfiles cannot give the data dir to "
              "vellum here; not applied")
        return
    run([tmpfiles, "--root=" + root, "--create", tf],
        "systemd-tmpfiles --root --create")
    st = os.stat(root + opts["vellum_data_dir"])
    check(st.st_uid == int(me[0][2]) and st.st_gid == int(me[0][3]) and
          (st.st_mode & 0o7777) == 0o750,
          "tmpfiles.d/vellum.conf makes the data dir, vellum's, mode 0750",
          (st.st_uid, st.st_gid, oct(st.st_mode), me))
    print("sysusers.d and tmpfiles.d: user vellum, %s 0750"
          % opts["vellum_data_dir"])


def verify_unit(root, unit, mandir, sbin_real):
    """systemd-analyze verify on the installed unit.  It checks that
    ExecStart= names an executable and that the man pages of
    Documentation= exist, on this host: so it reads a copy whose ExecStart=
    (and ExecReload=) points into the destdir, with MANPATH on the installed man pages.  It
    exits 0 even on unknown keys and bad values ("ignoring"): any line
    about the unit fails the test."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        print("systemd-analyze not found: the unit is not verified")
        return
    d = os.path.join(os.path.dirname(root), "verify")
    os.makedirs(d, exist_ok=True)
    copy = os.path.join(d, "vellumd.service")
    with open(unit) as f, open(copy, "w") as out:
        for ln in f:
            for key in ("ExecStart=", "ExecReload="):
                if ln.startswith(key + sbin_real + "/"):
                    ln = key + root + ln[len(key):]
            out.write(ln)
    env = dict(os.environ, MANPATH=mandir)
    p = subprocess.run([tool, "verify", copy], capture_output=True,
                       timeout=120, env=env)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    mine = [ln for ln in out.splitlines() if "vellumd.service" in ln]
    check(p.returncode == 0 and not mine,
          "systemd-analyze verify accepts vellumd.service", out)
    print("systemd-analyze verify: vellumd.service ok")


def exec_reload(root, opts):
    """The command of the installed vellumd.service's ExecReload=."""
    prefix = opts["prefix"]
    unitdir = opts["systemdunitdir"] or (
        "/lib/systemd/system" if prefix == "/usr" else
        os.path.join(prefix, "lib/systemd/system"))
    for ln in open(root + os.path.join(unitdir, "vellumd.service")):
        if ln.startswith("ExecReload="):
            return ln.strip().split("=", 1)[1]
    raise Failure("vellumd.service has no ExecReload")


def run_installed(site, root, opts):
    sbin, bindir = under(root, opts, "sbindir"), under(root, opts, "bindir")
    ctl = os.path.join(bindir, "vellumctl")
    ports = {s: site.port() for s in ("smtp", "imap", "pop3")}
    site.write_conf({s: {"listen": "127.0.0.1:%d" % p}
                     for s, p in ports.items()})
    run([ctl, "-d", site.data, "domain", "add", "example.test"],
        "installed vellumctl domain add")
    run([ctl, "-d", site.data, "user", "add", USER, "--password-stdin"],
        "installed vellumctl user add", input=(PASSWORD + "\n").encode())

    env = {k: v for k, v in os.environ.items() if k != "VELLUM_LIBEXEC"}
    vd = site.start(os.path.join(sbin, "vellumd"), env=env)
    for p in ports.values():
        site.wait_port(p, vd)
    # vellumd holds the ports before its daemons run: wait until they are.
    vd.wait_for(r"ready: \d+ daemon")
    exes = []
    for pid in daemon.children_of(vd.pid):
        try:
            exes.append(os.readlink("/proc/%d/exe" % pid))
        except OSError:
            pass
    want = sorted(os.path.join(sbin, n) for n in
                  ("vellum-smtpd", "vellum-imapd", "vellum-pop3d"))
    check(sorted(exes) == want, "the installed vellumd runs the installed "
          "daemons", (exes, vd.output()))

    msg = (b"From: a@example.net\r\nTo: %s\r\nSubject: installed\r\n\r\n"
           b"from the installed smtpd\r\n" % USER.encode())
    s = smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30)
    try:
        s.ehlo("client.example.net")
        refused = s.sendmail("a@example.net", [USER], msg)
        check(not refused, "the installed vellum-smtpd takes the message",
              refused)
    finally:
        s.quit()

    im = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30)
    try:
        im.login(USER, PASSWORD)
        typ, data = im.select("INBOX")
        check(typ == "OK" and data[0] == b"1",
              "the installed vellum-imapd shows the message", (typ, data))
        typ, data = im.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        check(typ == "OK" and b"installed" in data[0][1],
              "IMAP fetches its Subject", data)
    finally:
        im.logout()

    pop = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
    try:
        pop.user(USER)
        pop.pass_(PASSWORD)
        count, _ = pop.stat()
        check(count == 1, "the installed vellum-pop3d lists the message",
              count)
    finally:
        pop.quit()

    # The unit's ExecReload, on this config instead of SYSCONFDIR's.
    sysconf_real = under(root, opts, "sysconfdir")[len(root):]
    argv = [root + a if a.endswith("/vellumd") else a for a in
            exec_reload(root, opts).split()]
    argv = [site.conf if a == sysconf_real + "/vellum/vellum.conf" else a
            for a in argv]
    argv = [str(vd.pid) if a == "$MAINPID" else a for a in argv]
    p = subprocess.run(argv, capture_output=True, timeout=300)
    check(p.returncode == 0, "ExecReload exits 0 when vellumd reloaded",
          (argv, p.stdout, p.stderr, vd.output()[-2000:]))
    with open(site.conf, "a") as f:
        f.write("[limits]\nno_such_key = 1\n")
    p = subprocess.run(argv, capture_output=True, timeout=300)
    check(p.returncode != 0 and b"no_such_key" in p.stderr,
          "ExecReload fails, naming the error, when vellumd refused the "
          "config (systemctl reload then says so)",
          (argv, p.returncode, p.stdout, p.stderr))

    rc = site.stop(vd)
    check(rc == 0, "the installed vellumd exits 0 on SIGTERM",
          (rc, vd.output()))
    print("installed vellumd ran %s and they answered SMTP, IMAP and POP3"
          % ", ".join(os.path.basename(e) for e in want))


def test(site, args):
    opts = options(site.build)
    dest = site.path("root")
    run(["meson", "install", "-C", site.build, "--no-rebuild", "--quiet",
         "--destdir", dest], "meson install --destdir")
    check_tree(site, dest, opts)
    print("installed tree under %s%s checked" % (dest, opts["prefix"]))
    run_installed(site, dest, opts)


if __name__ == "__main__":
    daemon.main(test)
