"""vellumctl addr import/export as Postfix virtual(5) maps, and the checks
of addr add.

A map with every form (a domain alias line "@alias @real", a catch-all,
routes with commas and white space, continuation lines, '#' comments, a
"domain anything" line) imports in one transaction and resolves: addr
list --json shows the routes, domain list --json the alias domain, and a
message sent over SMTP to an alias of the alias domain reaches the
alias's users.  A map with bad lines reports each as FILE:LINE and
imports nothing; --replace DOMAIN (and --replace alone) removes routes
that are not in the file and keeps the users' own mailboxes; export ->
import into a second store -> export is identical, alias domains
included.  addr add refuses invalid names and targets that reach
nothing, says "external forward" and "already there", and warns for '+'
in the route's local part, each with its exact text.

usage: test_addr_maps.py BUILD_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, main  # noqa: E402
from smtptest import (SmtpSite, count, message, require_smtpd,  # noqa: E402
                      sent_ok)

ALICE = "alice@real.test"
BOB = "bob@real.test"
CAROL = "carol@other.test"

MAP = b"""# a control panel's virtual map
@alias.test @real.test
sales@real.test   alice@real.test, bob@real.test
team@real.test alice@real.test
\tcarol@other.test,
    far@remote.test
@other.test carol@other.test
real.test anything
stale@real.test bob@real.test
alice@real.test alice@real.test, alice@remote.test
"""

BAD = b"""ok@real.test alice@real.test
bad@nowhere.test alice@real.test
lonely@real.test
@new-alias.test @missing.test
@x.test @real.test, y@real.test
also-ok@real.test bob@real.test
"""

# The same map as the panel regenerates it: stale@ is gone, sales changed.
REPLACE = b"""@alias.test @real.test
sales@real.test bob@real.test
team@real.test alice@real.test, carol@other.test
"""


def ctl(site, *args, data=None, expect=0):
    """vellumctl on the site's store (or data): (stdout, stderr)."""
    argv = [site.binary("vellumctl"), "-d", data or site.data] + list(args)
    p = subprocess.run(argv, capture_output=True, timeout=300)
    out, err = p.stdout.decode(), p.stderr.decode()
    if p.returncode != expect:
        raise Failure("vellumctl %s: exit %d, expected %d: %s%s" % (
            " ".join(args), p.returncode, expect, out, err))
    return out, err


def routes(site, data=None):
    out, _ = ctl(site, "--json", "addr", "list", data=data)
    return {r["address"]: sorted((t["type"], t["target"])
                                 for t in r["targets"])
            for r in json.loads(out)}


def write(site, name, data):
    path = os.path.join(site.tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_add(site):
    _, err = ctl(site, "addr", "add", "info@-x.test", ALICE, expect=1)
    check(err == "vellumctl: addr add info@-x.test: 'info@-x.test' is not "
          "a valid address: domain label '-x' starts or ends with '-'\n",
          "a domain label starting with '-' is refused", err)
    _, err = ctl(site, "addr", "add", 'a"b@real.test', ALICE, expect=1)
    check(err == "vellumctl: addr add a\"b@real.test: 'a\"b@real.test' "
          "is not a valid address: '\"' is not allowed in a local part "
          "(RFC 5321 dot-atom)\n", "a quote in a local part is refused", err)
    _, err = ctl(site, "addr", "add", "info@real.test", "x..y@real.test",
                 expect=1)
    check(err == "vellumctl: addr add info@real.test: 'x..y@real.test' is "
          "not a valid address: a '.' starts or ends the local part or "
          "follows another\n", "an invalid target name is refused", err)
    _, err = ctl(site, "addr", "add", "info@real.test", "nobody@real.test",
                 expect=1)
    check(err == "vellumctl: addr add info@real.test: target "
          "nobody@real.test does not exist (no user, address, list or "
          "catch-all) (add it first, or give --force to route to it "
          "anyway)\n", "a local target that does not exist is refused", err)
    check("info@real.test" not in routes(site),
          "the refused route was not added", routes(site))
    out, err = ctl(site, "addr", "add", "info@real.test", ALICE,
                   "far@remote.test")
    check(out == "info@real.test: far@remote.test is an external forward\n"
          "info@real.test -> 2 targets added\n" and err == "",
          "addr add says which target is an external forward", out + err)
    out, _ = ctl(site, "addr", "add", "info@real.test", ALICE, BOB)
    check(out == "info@real.test: alice@real.test was already there\n"
          "info@real.test -> 1 target added\n",
          "addr add says which target was already there", out)
    # A target in an alias domain exists when its real address does.
    ctl(site, "domain", "alias", "alias.test", "real.test")
    ctl(site, "addr", "add", "via-alias@real.test", "alice@alias.test")
    out, err = ctl(site, "addr", "add", "sales+eu@real.test", BOB)
    check(err == "vellumctl: warning: sales+eu@real.test: '+' is the "
          "extension separator: mail to sales+eu@real.test takes this "
          "route, other sales+...@real.test mail goes to sales@real.test\n"
          and out == "sales+eu@real.test -> 1 target added\n",
          "'+' in a local part is added with a warning", out + err)
    ctl(site, "addr", "add", "later@real.test", "notyet@real.test",
        "--force")
    check(routes(site).get("later@real.test") ==
          [("alias", "notyet@real.test")],
          "--force adds a target that does not exist yet", routes(site))
    for a in ("info@real.test", "via-alias@real.test", "sales+eu@real.test",
              "later@real.test"):
        ctl(site, "addr", "del", a)
    ctl(site, "domain", "del", "alias.test")


def test_import(srv):
    site = srv.site
    path = write(site, "virtual", MAP)
    out, err = ctl(site, "addr", "import", path)
    check(out.startswith("addr import %s: 5 routes added, 1 domain "
                         "aliases, 0 failed" % path),
          "the map imports", out + err)
    r = routes(site)
    check(r.get("sales@real.test") == [("alias", ALICE), ("alias", BOB)] and
          r.get("team@real.test") == [("alias", ALICE), ("alias", CAROL),
                                      ("forward", "far@remote.test")] and
          r.get("@other.test") == [("alias", CAROL)] and
          r.get("stale@real.test") == [("alias", BOB)] and
          r.get(ALICE) == [("forward", "alice@remote.test"),
                           ("mailbox", ALICE)],
          "addr list shows every route of the map", r)
    doms = {d["name"]: d["alias_of"] for d in
            json.loads(ctl(site, "--json", "domain", "list")[0])}
    check(doms.get("alias.test") == "real.test",
          "@alias.test @real.test made an alias domain", doms)
    # A line repeated is not an error (already an alias of that domain).
    ctl(site, "addr", "import", write(site, "again", MAP.splitlines(
        True)[1]))
    # Mail to an alias of the alias domain reaches the alias's users.
    before = (count(site, ALICE), count(site, BOB))
    s = srv.smtp()
    sent_ok(s, "someone@remote.test", ["sales@alias.test"],
            message("to sales@alias.test"), "RCPT sales@alias.test")
    s.quit()
    after = (count(site, ALICE), count(site, BOB))
    check(after == (before[0] + 1, before[1] + 1), "sales@alias.test "
          "reaches alice and bob through the alias domain", (before, after))

    # A map with bad lines: each reported, nothing imported.
    bad = write(site, "bad", BAD)
    out, err = ctl(site, "addr", "import", bad, expect=1)
    check(err == "%s:2: domain nowhere.test is not local: add it first "
          "(vellumctl domain add nowhere.test)\n"
          "%s:3: lonely@real.test has no target\n"
          "%s:4: domain missing.test is not local: add it first (vellumctl "
          "domain add missing.test)\n"
          "%s:5: @x.test: a domain alias line (@alias @domain) has one "
          "target\n" % (bad, bad, bad, bad),
          "every bad line is reported as FILE:LINE", err)
    check(out == "addr import %s: nothing imported, 4 failed\n" % bad,
          "a map with bad lines imports nothing", out)
    check(routes(site) == r, "no route of the bad map was added",
          routes(site))

    # Export, then import into a second store: the same export.
    exp, _ = ctl(site, "addr", "export")
    check("@alias.test\t@real.test\n" in exp,
          "export writes the alias domain", exp)
    other = os.path.join(site.tmp, "data2")
    for d in ("real.test", "other.test"):
        ctl(site, "domain", "add", d, data=other)
    for u in (ALICE, BOB, CAROL):
        ctl(site, "user", "add", u, data=other)
    ctl(site, "addr", "import", write(site, "exported", exp.encode()),
        data=other)
    exp2, _ = ctl(site, "addr", "export", data=other)
    check(exp2 == exp, "export -> import -> export is identical", exp2)

    # --replace real.test: stale@ goes, sales@ becomes exactly bob,
    # alice keeps her mailbox (user add's route), other.test is kept.
    rep = write(site, "replace", REPLACE)
    out, _ = ctl(site, "addr", "import", "--replace", "real.test", rep)
    check(out == "addr import %s: 2 routes added, 1 domain aliases, 2 "
          "stale routes removed, 0 failed\n" % rep,
          "--replace says how many stale routes it removed", out)
    r = routes(site)
    check("stale@real.test" not in r and
          r.get("sales@real.test") == [("alias", BOB)] and
          r.get(ALICE) == [("mailbox", ALICE)] and
          r.get(BOB) == [("mailbox", BOB)] and
          r.get("@other.test") == [("alias", CAROL)],
          "--replace: the domain's routes are exactly the file's", r)
    # --replace alone: every domain of the file (here real.test).
    ctl(site, "addr", "add", "stale2@real.test", BOB)
    ctl(site, "addr", "import", "--replace", rep)
    check("stale2@real.test" not in routes(site),
          "--replace without a domain replaces the file's domains",
          routes(site))
    ctl(site, "addr", "add", "stale3@real.test", BOB)
    ctl(site, "addr", "import", rep, "--replace")
    check("stale3@real.test" not in routes(site),
          "a trailing --replace does the same", routes(site))

    # An address given twice: postmap warns "duplicate entry" and Postfix
    # uses the first line; the later one's targets must not be added
    # (alice would get mail that only went to bob).
    dup = write(site, "dup", b"dup@real.test bob@real.test\n"
                b"Dup@Real.Test alice@real.test\n")
    out, err = ctl(site, "addr", "import", dup)
    check(routes(site).get("dup@real.test") == [("alias", BOB)],
          "a duplicate entry: the first line wins, as in Postfix",
          routes(site))
    check(err == "%s:2: skipped: duplicate entry dup@real.test (line 1 is "
          "the one Postfix uses)\n" % dup, "the skipped line is named",
          err)
    out, _ = ctl(site, "store", "check")
    check("ok" in out, "store check passes", out)


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    for u in (ALICE, BOB, CAROL):
        site.add_user(u, "pw-" + u.split("@")[0])
    test_add(site)
    srv.start()
    test_import(srv)
    return 0


if __name__ == "__main__":
    main(run)
