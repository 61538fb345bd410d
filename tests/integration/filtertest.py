"""Helpers shared by the filter tests (issue 11): programs that filters run
as unprivileged accounts, filter files stored with vellumctl, the daemon's
log.

    bindir, outdir = open_dirs(site)      # 0755 scripts, 01777 records
    script(site, "spamc", TEXT)           # bindir/spamc, mode 0755
    set_filter(site, "--global", text)    # vellumctl filter set
    wait_log(proc, "discarded")           # a line in the daemon's output

Programs of filters run as the user's mapped unix account or as the
[filter] user, never as root: the test's temp dir (0700 from mkdtemp) is
opened to 0711 so they can reach the scripts and the record directory
under it, and nothing else of the data dir.
"""
import os
import subprocess
import time

from daemon import Failure, check

# How long an event the test waits for may take on a loaded machine: a
# deadline, never a timing that is asserted.
DEADLINE = 30.0


def open_dirs(site):
    """bin/ (0755) and out/ (01777) in the site's temp dir, reachable by
    every account; returns their paths."""
    os.chmod(site.tmp, 0o711)
    b, o = site.path("bin"), site.path("out")
    for d, mode in ((b, 0o755), (o, 0o1777)):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, mode)
    return b, o


def script(site, name, text):
    """Writes an executable script bin/NAME (text: its lines, with
    @OUT@ and @BIN@ replaced by the record and script directories);
    returns its path."""
    b, o = site.path("bin"), site.path("out")
    p = os.path.join(b, name)
    with open(p, "w") as f:
        f.write(text.replace("@OUT@", o).replace("@BIN@", b))
    os.chmod(p, 0o755)
    return p


def out(site, name):
    return os.path.join(site.path("out"), name)


def read_out(site, name, default=None):
    """The text of out/NAME, default when it is not there."""
    try:
        with open(out(site, name), "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return default


_NFILTERS = [0]


def filter_file(site, text):
    """Writes text (str or bytes, as is) to a new file; returns its path."""
    _NFILTERS[0] += 1
    p = site.path("filter-%d" % _NFILTERS[0])
    with open(p, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    return p


def ctl_rc(site, *args, input=None):
    """vellumctl ARGS: (exit status, stdout, stderr)."""
    argv = [site.binary("vellumctl"), "-d", site.data] + [str(a) for a in
                                                          args]
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run(argv, input=input, capture_output=True, timeout=300)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def set_filter(site, who, text):
    """`vellumctl filter set WHO FILE` (who: an address or "--global");
    Failure when it is refused."""
    p = filter_file(site, text)
    rc, o, e = ctl_rc(site, "filter", "set", who, p)
    check(rc == 0, "vellumctl filter set %s takes the filter %r" % (
        who, text[:300]), (rc, o, e))
    return p


def del_filter(site, who):
    rc, o, e = ctl_rc(site, "filter", "del", who)
    check(rc == 0, "vellumctl filter del %s" % who, (rc, o, e))


def wait_for(fn, what, saw=None, deadline=DEADLINE):
    """Polls fn() until it is true (returns its value); Failure at the
    deadline."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() - t0 > deadline:
            raise Failure("%s (waited %.0f s); saw: %r" % (
                what, deadline, saw() if callable(saw) else saw))
        time.sleep(0.05)


def wait_log(proc, *needles, deadline=DEADLINE):
    """Waits until one line of proc's output has every needle; returns
    that line."""
    def find():
        for line in proc.output().splitlines():
            if all(n in line for n in needles):
                return line
        return None
    return wait_for(find, "%s logs a line with %r" % (proc.name, needles),
                    lambda: proc.output()[-3000:], deadline)


def log_lines(proc, *needles):
    return [line for line in proc.output().splitlines()
            if all(n in line for n in needles)]


def folder(site, address, name="INBOX"):
    """[{uid, flags, subject...}] of the folder (`vellumctl mail list
    --json --folder`), None when the folder does not exist."""
    import json
    rc, o, e = ctl_rc(site, "mail", "list", address, "--json", "--folder",
                      name)
    if rc != 0:
        return None
    try:
        return json.loads(o)
    except ValueError:
        raise Failure("vellumctl mail list --json is not JSON: %r" % o[:500])


def subjects(site, address, name="INBOX"):
    return [m["subject"] for m in (folder(site, address, name) or [])]
