#!/usr/bin/env python3
"""vellumctl vacation, list and filter against a real store in a temporary
data dir: results, exit codes (0 ok, 1 failed, 2 usage), the --json
outputs, refusals with their messages, filter files stored byte for byte
(CRLF kept) and refused when they do not parse (FILE:LINE:COL), and a
clean store check after a user and a domain with settings are deleted.

Usage: test_vellumctl_filters.py VELLUMCTL"""
import json
import os
import time

from vtest import check, main

GOOD = (b"if ($SIZE < 131072)\r\n{\r\n  exception {\r\n"
        b"    xfilter \"/usr/bin/spamc -u $RECIPIENT\"\r\n  }\r\n}\r\n"
        b"DELETE_THRESHOLD=10.0\r\nif (/^X-Spam-Flag: YES/) {\r\n"
        b"  /X-Spam-Score: (\\d+)/\r\n"
        b"  if ($MATCH1 >= $DELETE_THRESHOLD) {\r\n    to /dev/null\r\n"
        b"  } else {\r\n    to Mail/.Spam/\r\n  }\r\n}\r\n")
USER = b'if ($LOGNAME ne "bill" && /^X-Spam-Flag: YES/) { to /dev/null }\n'
BAD = b"if (/^X-Spam-Flag: YES/\n{\n  to Mail/.Spam/\n}\n"


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_help(ctl):
    out, _ = ctl.run("--help", data=False)
    for cmd in ("vacation set", "vacation get", "vacation off",
                "vacation del", "list add", "list set", "list del",
                "list show", "list ls", "list member", "list members",
                "filter get", "filter set", "filter check", "filter del"):
        check(cmd in out, "--help lists '%s'" % cmd, out)
    for noun in ("vacation", "list", "filter"):
        ctl.run(noun, expect=2)
        ctl.run(noun, "frob", "x", expect=2)
        out, _ = ctl.run("help", noun, data=False)
        check(out.strip().startswith(noun), "help %s" % noun, out)


def test_vacation(ctl):
    a = "bob@example.test"
    _, err = ctl.run("vacation", "get", a, expect=1)
    check("no auto-reply" in err, "get without one says so", err)
    ctl.run("vacation", "get", "nobody@example.test", expect=1)
    # usage errors
    ctl.run("vacation", "set", a, "--body", "x", expect=2)
    ctl.run("vacation", "set", a, "--subject", "s", expect=2)
    ctl.run("vacation", "set", a, "--subject", "s", "--body", "x",
            "--body-file", "-", expect=2)
    ctl.run("vacation", "set", a, "--subject", "s", "--body", "x",
            "--start", "2026-02-30x", expect=2)
    ctl.run("vacation", "set", a, "--subject", "s", "--body", "x",
            "--interval", "0", expect=2)
    ctl.run("vacation", "set", a, "--subject", "s", "--body", "x",
            "--interval", "366", expect=2)
    ctl.run("vacation", "set", "nobody@example.test", "--subject", "s",
            "--body", "x", expect=1)
    _, err = ctl.run("vacation", "set", a, "--subject", "s\nBcc: x@y",
                     "--body", "x", expect=1)
    check("line break" in err, "a subject with a line break is refused",
          err)
    _, err = ctl.run("vacation", "set", a, "--subject", "s", "--body",
                     "x", "--start", "@2000", "--end", "@1000", expect=1)
    check("before the start" in err, "end before start is refused", err)
    ctl.run("vacation", "set", a, "--subject", "s", "--body-file",
            ctl.path("missing"), expect=1)
    write(ctl.path("big"), b"x" * (64 * 1024 + 1))
    ctl.run("vacation", "set", a, "--subject", "s", "--body-file",
            ctl.path("big"), expect=1)
    ctl.run("vacation", "get", a, expect=1)

    # set with every option; dates in local time and @epoch
    body = "I am away until January.\nUrgent: carol@example.test\n"
    write(ctl.path("body"), body.encode())
    out, _ = ctl.run("vacation", "set", a, "--subject", "Away (\u00e9t\u00e9)",
                     "--body-file", ctl.path("body"), "--start",
                     "2026-12-24", "--end", "2027-01-02T08:30",
                     "--interval", "3")
    check("on" in out, "set says the auto-reply is on", out)
    start = int(time.mktime((2026, 12, 24, 0, 0, 0, 0, 0, -1)))
    end = int(time.mktime((2027, 1, 2, 8, 30, 0, 0, 0, -1)))
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    j = ctl.json("vacation", "get", a)
    check(j == {"address": a, "enabled": True, "start": iso(start),
                "end": iso(end), "interval_days": 3,
                "subject": "Away (\u00e9t\u00e9)", "body": body},
          "vacation get --json", j)
    out, _ = ctl.run("vacation", "get", a)
    for want in ("state:     on", "interval:  3 days", iso(end),
                 "I am away until January."):
        check(want in out, "vacation get shows '%s'" % want, out)

    # body from stdin, @epoch, defaults
    ctl.run("vacation", "set", a, "--subject", "Out", "--body-file", "-",
            "--start", "@1700000000", input="from stdin\n")
    j = ctl.json("vacation", "get", a)
    check(j["body"] == "from stdin\n" and j["start"] == iso(1700000000)
          and j["end"] is None and j["interval_days"] == 7,
          "a second set replaces it all (defaults for what is not given)",
          j)

    out, _ = ctl.run("vacation", "off", a)
    j = ctl.json("vacation", "get", a)
    check(j["enabled"] is False and j["subject"] == "Out" and
          j["body"] == "from stdin\n", "off keeps the text", j)
    ctl.run("vacation", "set", a, "--subject", "Back", "--body", "on")
    check(ctl.json("vacation", "get", a)["enabled"] is True,
          "set turns it on again", "")
    ctl.run("vacation", "del", a)
    ctl.run("vacation", "get", a, expect=1)
    _, err = ctl.run("vacation", "del", a, expect=1)
    check("no auto-reply" in err, "del without one says so", err)
    ctl.run("vacation", "off", a, expect=1)


def test_lists(ctl):
    L = "team@example.test"
    out, _ = ctl.run("list", "ls")
    check("no lists" in out, "ls with none", out)
    check(ctl.json("list", "ls") == [], "ls --json with none", "")
    ctl.run("list", "add", expect=2)
    ctl.run("list", "add", L, "--members-only", "maybe", expect=2)
    ctl.run("list", "add", L, "--bogus", expect=2)
    _, err = ctl.run("list", "add", "x@nowhere.test", expect=1)
    check("not local" in err, "a list in a foreign domain", err)
    _, err = ctl.run("list", "add", "bob@example.test", expect=1)
    check("route" in err, "a list over a user's address", err)
    _, err = ctl.run("list", "add", "x@alias.test", expect=1)
    check("alias domain" in err, "a list in an alias domain", err)
    _, err = ctl.run("list", "add", L, "--name", 'say "hi"', expect=1)
    check("may not hold" in err, "a name with a quote", err)

    ctl.run("list", "add", L, "--name", "The Team", "--owner",
            "Bob@Example.Test", "--members-only", "yes")
    _, err = ctl.run("list", "add", L, expect=1)
    check("exists" in err, "add of an existing list", err)
    ctl.run("list", "set", "none@example.test", "--name", "x", expect=1)
    out, _ = ctl.run("list", "member", "add", L, "Amy@Far.Test",
                     "bob@example.test", "amy@far.test")
    check("2 members added, 1 already" in out, "member add counts", out)
    _, err = ctl.run("list", "member", "add", L, "zed@far.test", "no way",
                     expect=1)
    check("no way" in err, "a bad member is named", err)
    check(ctl.json("list", "members", L) == ["amy@far.test",
                                             "bob@example.test"],
          "a bad member changes nothing (all or none)", "")
    ctl.run("list", "member", "frob", L, "a@b.test", expect=2)
    ctl.run("list", "member", "add", L, expect=2)
    ctl.run("list", "member", "add", "none@example.test", "a@b.test",
            expect=1)
    out, _ = ctl.run("list", "member", "del", L, "bob@example.test",
                     "zz@far.test")
    check("1 member removed, 1 not" in out, "member del counts", out)
    out, _ = ctl.run("list", "members", L)
    check(out == "amy@far.test\n", "members, one per line", out)

    j = ctl.json("list", "show", L)
    check(j == {"list": L, "name": "The Team", "owner": "bob@example.test",
                "members_only": True, "reply_to_list": False,
                "members": ["amy@far.test"]}, "show --json", j)
    ctl.run("list", "set", L, "--reply-to-list", "yes", "--members-only",
            "no", "--name", "")
    j = ctl.json("list", "show", L)
    check(j["reply_to_list"] is True and j["members_only"] is False and
          j["name"] == "" and j["owner"] == "bob@example.test" and
          j["members"] == ["amy@far.test"],
          "set changes only what it is given", j)
    out, _ = ctl.run("list", "show", L)
    check("reply-to:  the list" in out and "amy@far.test" in out,
          "show as text", out)
    ctl.run("list", "show", "none@example.test", expect=1)

    # a route may not take a list's address
    _, err = ctl.run("addr", "add", L, "bob@example.test", expect=1)
    check("mailing list" in err, "addr add over a list says why", err)

    ctl.run("domain", "add", "lists.test")
    ctl.run("list", "add", "a@lists.test")
    j = ctl.json("list", "ls")
    check([x["list"] for x in j] == ["a@lists.test", L], "ls --json", j)
    j = ctl.json("list", "ls", "Example.Test")
    check([x["list"] for x in j] == [L], "ls DOMAIN --json", j)
    out, _ = ctl.run("list", "ls")
    check("reply-to-list" in out and "a@lists.test" in out, "ls as text",
          out)
    # the domain goes with its lists
    ctl.run("domain", "del", "lists.test")
    check([x["list"] for x in ctl.json("list", "ls")] == [L],
          "a deleted domain's lists are gone", "")
    ctl.run("list", "del", L)
    _, err = ctl.run("list", "del", L, expect=1)
    check("no list" in err, "del of a missing list", err)


def test_filters(ctl):
    a = "bob@example.test"
    write(ctl.path("good"), GOOD)
    write(ctl.path("user"), USER)
    write(ctl.path("bad"), BAD)
    _, err = ctl.run("filter", "get", a, expect=1)
    check("no filter" in err, "get without one says so", err)
    ctl.run("filter", "get", "--global", expect=1)
    ctl.run("filter", "get", expect=2)
    ctl.run("filter", "get", a, "extra", expect=2)
    ctl.run("filter", "set", a, expect=2)
    ctl.run("filter", "set", "--global", expect=2)
    ctl.run("filter", "get", "nobody@example.test", expect=1)

    out, _ = ctl.run("filter", "set", "--global", ctl.path("good"))
    check("global filter set" in out, "set --global", out)
    out, _ = ctl.run("filter", "get", "--global", binary_out=True)
    check(out == GOOD, "the global filter comes back byte for byte "
          "(CRLF kept)", out)
    ctl.run("filter", "set", a, "-", input=USER)
    out, _ = ctl.run("filter", "get", a, binary_out=True)
    check(out == USER, "a filter from stdin", out)

    # refused: does not parse, empty, NUL, too large; nothing changes
    _, err = ctl.run("filter", "set", a, ctl.path("bad"), expect=1)
    check(ctl.path("bad") + ":2:1: " in err and "expected" in err,
          "a file that does not parse: FILE:LINE:COL: message", err)
    write(ctl.path("empty"), b"")
    ctl.run("filter", "set", a, ctl.path("empty"), expect=1)
    write(ctl.path("nul"), b"to a\0b\n")
    ctl.run("filter", "set", a, ctl.path("nul"), expect=1)
    write(ctl.path("huge"), b"#" * (256 * 1024 + 1))
    _, err = ctl.run("filter", "set", a, ctl.path("huge"), expect=1)
    check("more than" in err, "a file over the limit", err)
    ctl.run("filter", "set", a, ctl.path("missing"), expect=1)
    out, _ = ctl.run("filter", "get", a, binary_out=True)
    check(out == USER, "refused files changed nothing", out)

    # check: a file, or the stored filter
    out, _ = ctl.run("filter", "check", "--global", ctl.path("good"))
    check("ok" in out, "check of a good file", out)
    out, _ = ctl.run("filter", "check", a, ctl.path("bad"), expect=1)
    check(out.startswith(ctl.path("bad") + ":2:1: "),
          "check prints FILE:LINE:COL", out)
    out, _ = ctl.run("filter", "check", a)
    check("ok" in out, "check of the stored filter", out)
    ctl.run("filter", "check", "--global", "-", input=BAD, expect=1)
    ctl.run("filter", "check", "carol@example.test", expect=1)

    out, _ = ctl.run("filter", "del", a)
    check("deleted" in out, "del", out)
    ctl.run("filter", "get", a, expect=1)
    ctl.run("filter", "del", a, expect=1)
    ctl.run("filter", "del", "--global")
    ctl.run("filter", "get", "--global", expect=1)


def test(ctl, args):
    ctl.run("vacation", "get", "bob@example.test", expect=1)  # no store
    ctl.run("domain", "add", "example.test")
    ctl.run("domain", "alias", "alias.test", "example.test")
    ctl.run("user", "add", "bob@example.test")
    ctl.run("user", "add", "carol@example.test")
    test_help(ctl)
    test_vacation(ctl)
    test_lists(ctl)
    test_filters(ctl)

    # a user's settings go with the user; the store stays consistent
    write(ctl.path("user"), USER)
    ctl.run("filter", "set", "carol@example.test", ctl.path("user"))
    ctl.run("vacation", "set", "carol@example.test", "--subject", "s",
            "--body", "b")
    ctl.run("list", "add", "crew@example.test")
    ctl.run("list", "member", "add", "crew@example.test",
            "carol@example.test")
    out, _ = ctl.run("store", "check")
    check("ok" in out, "store check with settings", out)
    ctl.run("user", "del", "carol@example.test")
    ctl.run("user", "add", "carol@example.test")
    ctl.run("filter", "get", "carol@example.test", expect=1)
    ctl.run("vacation", "get", "carol@example.test", expect=1)
    out, _ = ctl.run("store", "check")
    check("ok" in out, "store check after deleting a user", out)


if __name__ == "__main__":
    main(test)
