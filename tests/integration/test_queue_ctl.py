#!/usr/bin/env python3
"""vellumctl queue list/show/flush/del/hold/release and vellumctl
transport list/set/del and transport source list/set/del against a real
store: entries in every state are made by store-helper (queue
--sender/--envid/--ret/--notify/--orcpt/--reply/--hold/--message), and
every change is read back through list --json.  Passwords never show.

Usage: test_queue_ctl.py VELLUMCTL STORE_HELPER"""
import re
import subprocess

from vtest import check, main


def helper(ctl, binary, *args):
    p = subprocess.run([binary, ctl.data, "queue"] + list(args),
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and re.match(r"queued [0-9A-F]{16}\n$",
                                         p.stdout),
          "store-helper queues a message", (p.stdout, p.stderr))
    return p.stdout.split()[1]


def entries(ctl):
    return {e["id"]: e for e in ctl.json("queue", "list")}


def test_queue(ctl, helper_bin):
    ctl.run("queue", "list", expect=1)       # no store yet
    ctl.run("domain", "add", "example.test")
    out, _ = ctl.run("queue", "list")
    check("the queue is empty" in out, "an empty queue says so", out)

    msg = ctl.path("msg.eml")
    with open(msg, "wb") as f:
        f.write(b"From: Bob <bob@example.test>\r\nTo: c@x.example\r\n"
                b"Subject: report\x1b[2J\r\n\r\nBODY-NOT-SHOWN\r\n")
    a = helper(ctl, helper_bin, "a@far.example", "b@far.example")
    b = helper(ctl, helper_bin, "--envid", "ENV-1", "--ret", "hdrs",
               "--notify", "6", "--orcpt", "--reply",
               "451 4.7.1 <c@x.example>: greylisted", "--message", msg,
               "c@x.example")
    c = helper(ctl, helper_bin, "--sender", "", "--hold", "d@far.example")
    q = entries(ctl)
    check(sorted(q) == sorted([a, b, c]), "three entries listed", q)
    ea, eb, ec = q[a], q[b], q[c]
    check(ea["sender"] == "helper@example.test" and not ea["hold"] and
          ea["attempts"] == 0 and ea["next_try"] is not None and
          ea["envid"] is None and ea["ret"] is None and
          [r["address"] for r in ea["recipients"]] ==
          ["a@far.example", "b@far.example"] and
          ea["recipients"][0]["last_reply"] is None,
          "list --json: a fresh entry", ea)
    r = eb["recipients"][0]
    check(eb["envid"] == "ENV-1" and eb["ret"] == "hdrs" and
          r["orcpt"] == "rfc822;c@x.example" and
          r["notify"] == ["success", "failure"] and r["last_code"] == 451 and
          r["last_reply"] == "451 4.7.1 <c@x.example>: greylisted",
          "list --json: DSN fields and the last reply", eb)
    check(ec["hold"] and ec["flags"] == ["hold"] and ec["sender"] == "",
          "list --json: a held entry from <>", ec)

    out, _ = ctl.run("queue", "list")
    lines = out.splitlines()
    check(lines[0].startswith("ID ") and "NEXT TRY" in lines[0],
          "queue list prints a table", out)
    held = [ln for ln in lines if ln.startswith(c)]
    check(held and "HOLD" in held[0] and "<>" in held[0],
          "the held entry is marked HOLD", out)
    check("-> c@x.example  (451 4.7.1 <c@x.example>: greylisted)" in out,
          "each recipient with its last reply", out)
    check(lines[-1] == "-- 3 entries, 4 recipients, %s" %
          lines[-1].split(", ")[-1], "a summary line", lines[-1])

    # show: envelope, recipients, then the header block only
    out, _ = ctl.run("queue", "show", b.lower())
    for want in ("id:         " + b, "sender:     <helper@example.test>",
                 "envid:      ENV-1", "ret:        hdrs",
                 "recipient:  c@x.example", "  orcpt:    rfc822;c@x.example",
                 "  notify:   success,failure",
                 "  last:     451 4.7.1 <c@x.example>: greylisted",
                 "\n\nFrom: Bob <bob@example.test>\nTo: c@x.example\n"
                 "Subject: report?[2J\n"):
        check(want in out, "queue show has %r" % want, out)
    check("BODY-NOT-SHOWN" not in out and "\x1b" not in out and
          "\r" not in out, "queue show: headers only, control characters "
          "made harmless", out)
    js = ctl.json("queue", "show", b)
    check(js["id"] == b and js["headers"].startswith("From: Bob") and
          "BODY" not in js["headers"] and js["recipients"][0]["orcpt"],
          "queue show --json: the entry and its headers", js)
    ctl.run("queue", "show", expect=2)
    ctl.run("queue", "show", "xyz", expect=2)
    ctl.run("queue", "show", "0", expect=2)
    ctl.run("queue", "show", "1" * 17, expect=2)
    _, err = ctl.run("queue", "show", "ABC", expect=1)
    check("no queue entry 0000000000000ABC" in err,
          "queue show names a missing ID", err)

    # hold / release: all or none
    out, _ = ctl.run("queue", "hold", a, b.lower())
    check("2 entries held" in out, "queue hold", out)
    check(all(e["hold"] for e in entries(ctl).values()), "all held", "")
    _, err = ctl.run("queue", "release", a, "FEED", expect=1)
    check("000000000000FEED" in err and "nothing changed" in err,
          "release with a missing ID changes nothing", err)
    check(entries(ctl)[a]["hold"], "still held after the failed release",
          "")
    out, _ = ctl.run("queue", "release", a)
    check("1 entry released" in out, "queue release ID", out)
    q = entries(ctl)
    check(not q[a]["hold"] and q[b]["hold"] and q[c]["hold"],
          "only that entry released", q)
    out, _ = ctl.run("queue", "release", "--all")
    check("2 entries released" in out, "queue release --all", out)
    out, _ = ctl.run("queue", "hold", "--all")
    check("3 entries held" in out, "queue hold --all", out)
    ctl.run("queue", "release", "--all")
    ctl.run("queue", "hold", expect=2)
    ctl.run("queue", "hold", a, "--all", expect=2)
    ctl.run("queue", "release", "nothex", expect=2)
    ctl.run("queue", "hold", c)

    # flush: one entry, a recipient domain, or all
    out, _ = ctl.run("queue", "flush", b)
    check("1 entry due now" in out, "queue flush ID", out)
    q = entries(ctl)
    check(q[b]["next_try"] is None and q[a]["next_try"] is not None,
          "flush ID makes only that entry due", q)
    out, _ = ctl.run("queue", "flush", "FAR.example")
    check("2 entries due now (a recipient in far.example)" in out and
          "1 held" in out, "queue flush DOMAIN, held ones named", out)
    q = entries(ctl)
    check(q[a]["next_try"] is None and q[c]["next_try"] is None and
          q[c]["hold"], "flush DOMAIN: entries with a recipient there; "
          "held stays held", q)
    out, _ = ctl.run("queue", "flush", "nowhere.example")
    check("0 entries due now" in out, "a domain nobody is queued for", out)
    out, _ = ctl.run("queue", "flush")
    check("3 entries due now" in out, "queue flush (all)", out)
    _, err = ctl.run("queue", "flush", "BEEF", expect=1)
    check("000000000000BEEF" in err, "flush of a missing ID fails", err)
    ctl.run("queue", "flush", "a", "b", expect=2)
    ctl.run("queue", "flush", "bad domain!", expect=2)

    # del: all or none, then --all
    _, err = ctl.run("queue", "del", a, "999", expect=1)
    check("0000000000000999" in err and "nothing changed" in err,
          "del with a missing ID removes nothing", err)
    check(len(entries(ctl)) == 3, "all three still queued", "")
    out, _ = ctl.run("queue", "del", a, a.lower())
    check("1 entry removed" in out, "queue del ID (named twice)", out)
    out, _ = ctl.run("store", "check")
    check(out.startswith("store check: ok"), "store check counts the "
          "queue's body references", out)
    out, _ = ctl.run("queue", "del", "--all")
    check("2 entries removed" in out, "queue del --all", out)
    check(ctl.json("queue", "list") == [], "the queue is empty again", "")
    out, _ = ctl.run("store", "stats", "--json")
    out, _ = ctl.run("store", "check")
    check(out.startswith("store check: ok"), "store check after del --all",
          out)


def test_transport(ctl):
    out, _ = ctl.run("transport", "list")
    check("no transports" in out, "no transports at first", out)
    check(ctl.json("transport", "list") == [], "transport list --json", "")
    pwfile = ctl.path("pw")
    with open(pwfile, "w") as f:
        f.write("file-secret-9\nsecond line\n")
    ctl.run("transport", "set", "*", "[smtp.relay.test]:587", "tls=verify",
            "user=relay@example.test", "password-file=" + pwfile)
    ctl.run("transport", "set", "Example.ORG", "-", "tls=encrypt")
    ctl.run("transport", "set", ".lists.example", "mx.example.net:2525",
            "tls=may")
    ctl.run("transport", "set", "v6.example", "[IPv6:2001:db8::1]:25",
            "user=u6", "password=-", "tls=none")
    ctl.run("transport", "set", "stdin.example", "[192.0.2.1]", "user=s",
            "password-file=-", input="stdin-secret-7\n")
    ts = {t["domain"]: t for t in ctl.json("transport", "list")}
    check(sorted(ts) == ["*", ".lists.example", "example.org",
                         "stdin.example", "v6.example"],
          "every transport listed, domains lower case", ts)
    check(ts["*"] == {"domain": "*", "nexthop": "[smtp.relay.test]:587",
                      "tls": "verify", "user": "relay@example.test",
                      "password": True},
          "a smarthost with credentials (password only as true)", ts["*"])
    check(ts["example.org"]["nexthop"] == "" and
          ts["example.org"]["tls"] == "encrypt" and
          ts["example.org"]["user"] is None and
          not ts["example.org"]["password"], "'-': the domain's MX", ts)
    out, _ = ctl.run("transport", "list")
    check("user=relay@example.test password=(set)" in out and
          "(MX)" in out and "[IPv6:2001:db8::1]:25" in out,
          "transport list prints the table", out)
    for where in (out, str(ts)):
        check("secret" not in where, "no password is ever printed", where)
    # the command line output of set does not show it either
    out, _ = ctl.run("transport", "set", "x.example", "[h.example]",
                     "user=x", "password=cmdline-secret")
    check("cmdline-secret" not in out and "AUTH as x" in out,
          "set confirms without the password", out)

    # refused, with what to write
    for args, want in (
            (["a.test", "[relay.test"], "without ']'"),
            (["a.test", "192.0.2.1:25"], "write [192.0.2.1]"),
            (["a.test", "[2001:db8::1]"], "[IPv6:2001:db8::1]"),
            (["a.test", "[relay.test]:99999"], ":PORT"),
            (["a.test", "[relay.test]", "user=u"], "needs a password"),
            (["a.test", "-", "user=u", "password=p"], "need a nexthop"),
            (["bad domain", "[relay.test]"], "not a domain")):
        _, err = ctl.run("transport", "set", *args, expect=1)
        check(want in err, "transport set %s: says %r" % (args, want), err)
    for args in (["a.test"], ["a.test", "[r.test]", "tls=sometimes"],
                 ["a.test", "[r.test]", "port=25"],
                 ["a.test", "[r.test]", "password=a", "password=b"]):
        ctl.run("transport", "set", *args, expect=2)
    ctl.run("transport", "set", "a.test", "[r.test]", "user=u",
            "password-file=" + ctl.path("missing"), expect=1)
    ctl.run("transport", "set", "a.test", "[r.test]", "user=u",
            "password-file=-", input="", expect=1)

    out, _ = ctl.run("transport", "del", "EXAMPLE.org")
    check("removed" in out, "transport del", out)
    _, err = ctl.run("transport", "del", "example.org", expect=1)
    check("no transport for 'example.org'" in err, "del of a missing one",
          err)
    ctl.run("transport", "del", expect=2)
    check("example.org" not in [t["domain"] for t in
                                ctl.json("transport", "list")],
          "gone from the list", "")

    # source addresses
    out, _ = ctl.run("transport", "source", "list")
    check("no source addresses" in out, "no sources at first", out)
    ctl.run("transport", "source", "set", "example.test", "192.0.2.10",
            "2001:DB8:0::10")
    ctl.run("transport", "source", "set", "*", "2001:db8::20")
    ss = {s["domain"]: s for s in ctl.json("transport", "source", "list")}
    check(ss == {"example.test": {"domain": "example.test",
                                  "ipv4": "192.0.2.10",
                                  "ipv6": "2001:db8::10"},
                 "*": {"domain": "*", "ipv4": None,
                       "ipv6": "2001:db8::20"}},
          "transport source list --json", ss)
    out, _ = ctl.run("transport", "source", "list")
    check("192.0.2.10" in out and "2001:db8::20" in out,
          "transport source list", out)
    ctl.run("transport", "source", "set", "a.test", "192.0.2.1",
            "192.0.2.2", expect=2)
    ctl.run("transport", "source", "set", "a.test", "not-an-ip", expect=2)
    ctl.run("transport", "source", "set", "a.test", expect=2)
    ctl.run("transport", "source", "frob", expect=2)
    ctl.run("transport", "source", expect=2)
    ctl.run("transport", "source", "set", "bad domain", "192.0.2.1",
            expect=1)
    ctl.run("transport", "source", "del", "example.test")
    ctl.run("transport", "source", "del", "example.test", expect=1)
    check(list(s["domain"] for s in ctl.json("transport", "source",
                                             "list")) == ["*"],
          "source del", "")
    check(len(ctl.json("transport", "list")) == 5,
          "sources and transports are apart", "")
    ctl.run("transport", "frob", expect=2)
    out, _ = ctl.run("store", "check")
    check(out.startswith("store check: ok"), "store check with transports",
          out)


def test(ctl, args):
    out, _ = ctl.run("--help", data=False)
    for cmd in ("queue show ID", "queue flush [ID|DOMAIN]",
                "queue hold ID...|--all", "queue release ID...|--all",
                "queue del ID...|--all", "transport list", "transport set",
                "transport del DOMAIN", "transport source set DOMAIN IP"):
        check(cmd in out, "--help lists '%s'" % cmd, out)
    test_queue(ctl, args[0])
    test_transport(ctl)
    return 0


if __name__ == "__main__":
    main(test)
