#!/usr/bin/env python3
"""Auto-responders and simple lists (issue 11), through vellum-smtpd on
loopback, set up with vellumctl vacation / list, read back with vellumctl.

Auto-replies (`vellumctl vacation set`): a message from a local sender
gets exactly one reply (Auto-Submitted: auto-replied, In-Reply-To: the
original's Message-ID, Return-Path: <>: the null envelope sender), a
second message from that sender within the interval none; none to a list
message (List-Id), to Precedence: bulk, to the null sender, to
Auto-Submitted: auto-generated, to a Bcc (vac not in To/Cc), to mail a
filter filed into Spam or flagged X-Spam-Flag: YES; a failed filter still
replies; a non-ASCII subject is RFC 2047 encoded; a remote sender's reply
is queued with the null sender; none before --start or after --end; a
second reply once the interval is over (smtpd under faketime +8d).

Lists (`vellumctl list`): local and remote members get the list's copy
(List-Id, List-Post, Reply-To with --reply-to-list yes); a members-only
list refuses a non-member at RCPT with 550 5.7.1 and takes a member's
post; a member's own filter sees List-Id; the owner (--owner) is the
envelope sender of copies that leave, with List-Owner and Precedence:
list; a copy sent back to its own list is dropped.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from filtertest import (ctl_rc, log_lines, set_filter, subjects,  # noqa
                        wait_for, wait_log)
from smtptest import (SmtpSite, queue, require_smtpd, send,  # noqa: E402
                      sent_ok, stored)

D = "example.test"


def addr(local):
    return "%s@%s" % (local, D)


def msg(subject, to, extra=b""):
    if isinstance(subject, str):
        subject = subject.encode()
    mid = subject.replace(b" ", b"-")
    return (b"From: someone <x@remote.test>\r\nTo: " + to.encode() +
            b"\r\nSubject: " + subject + b"\r\nMessage-ID: <" + mid +
            b"@test.example>\r\n" + extra + b"\r\nbody\r\n")


def post(srv, sender, rcpt, m, what):
    s = srv.smtp()
    try:
        sent_ok(s, sender, [rcpt], m, what)
    finally:
        s.quit()


def ctl_ok(site, *args):
    rc, o, e = ctl_rc(site, *args)
    check(rc == 0, "vellumctl %s" % " ".join(args), (rc, o, e))
    return o


def replies(site, a):
    """The auto-replies in a's INBOX."""
    return [m for m in stored(site, a) if b"Auto-Submitted: auto-replied"
            in m]


def test_vacation(site, srv):
    v = addr("vac")
    ctl_ok(site, "vacation", "set", v, "--subject", "Away",
           "--body", "I am away until Monday.", "--interval", "7")
    # Exactly one reply to a local sender.
    s1 = addr("s1")
    post(srv, s1, v, msg("first from s1", v), "s1 writes to vac")
    got = wait_for(lambda: replies(site, s1), "s1 gets an auto-reply",
                   lambda: (stored(site, s1), srv.smtpd.output()[-2000:]))
    r = got[0]
    head = r.split(b"\r\n\r\n", 1)[0]
    check(b"\r\nAuto-Submitted: auto-replied\r\n" in head,
          "Auto-Submitted: auto-replied", head)
    check(b"\r\nIn-Reply-To: <first-from-s1@test.example>\r\n" in head,
          "In-Reply-To: the original's Message-ID", head)
    check(r.startswith(b"Return-Path: <>\r\n"), "the reply's envelope "
          "sender is <> (Return-Path: <>)", head)
    check(b"\r\nSubject: Away\r\n" in head and b"I am away until Monday."
          in r, "the reply has the subject and body set", r)
    check(b"\r\nFrom: " in head and v.encode() in head, "the reply is from "
          "vac", head)
    check(subjects(site, v) == ["first from s1"], "vac got the message",
          subjects(site, v))
    wait_log(srv.smtpd, "auto-reply of " + v, "<%s>" % s1)
    # A second message from s1 within the interval: no reply.
    post(srv, s1, v, msg("second from s1", v), "s1 writes again")
    # Sentinels that must not be answered, each from a new sender.
    cases = [
        ("s2", msg("list mail", v, b"List-Id: Some list <some.list.test>"
                   b"\r\n")),
        ("s3", msg("bulk mail", v, b"Precedence: bulk\r\n")),
        ("s4", msg("robot mail", v, b"Auto-Submitted: auto-generated\r\n")),
    ]
    for local, m in cases:
        post(srv, addr(local), v, m, "%s writes to vac" % local)
    post(srv, "", v, msg("bounce", v), "a bounce (<>) to vac")
    # An answered message after them: once its reply is there, the ones
    # before were handled (deliveries of one daemon, in order).
    s5 = addr("s5")
    post(srv, s5, v, msg("from s5", v), "s5 writes to vac")
    wait_for(lambda: replies(site, s5), "s5 gets an auto-reply",
             lambda: srv.smtpd.output()[-2000:])
    check(len(replies(site, s1)) == 1, "s1 got exactly one auto-reply "
          "(the second message was within the interval)",
          stored(site, s1))
    for local, _ in cases:
        check(stored(site, addr(local)) == [], "no auto-reply to %s" %
              local, stored(site, addr(local)))
    sent = log_lines(srv.smtpd, "auto-reply of " + v)
    check(len(sent) == 2, "two auto-replies were sent (s1 once, s5)", sent)
    check(sorted(subjects(site, v)) == sorted(
        ["first from s1", "second from s1", "list mail", "bulk mail",
         "robot mail", "bounce", "from s5"]),
        "vac got every message", subjects(site, v))

    # Not among the message's To/Cc (a Bcc, a list vac does not answer
    # for): none.
    s7b = addr("s7b")
    post(srv, s7b, v, msg("bcc to vac", addr("someone-else")), "s7b "
         "sends vac a Bcc")
    # A non-ASCII subject: RFC 2047 encoded words in UTF-8.
    u = addr("utf")
    ctl_ok(site, "vacation", "set", u, "--subject",
           "Abwesend \u2013 Urlaub in K\u00f6ln", "--body", "Gr\u00fc\u00dfe")
    post(srv, s7b, u, msg("to utf", u), "s7b writes to utf")
    got = wait_for(lambda: replies(site, s7b), "s7b gets utf's reply",
                   lambda: srv.smtpd.output()[-1500:])
    head = got[0].split(b"\r\n\r\n", 1)[0] if got else b""
    check(len(got) == 1 and b"Subject: Away" not in head and
          b"=?utf-8?" in head.lower(),
          "only utf's reply (none to the Bcc), its subject in RFC 2047 "
          "encoded words", got)

    # A remote sender: the reply is queued for it.
    post(srv, "far@remote.test", v, msg("from afar", v), "a remote sender")
    wait_for(lambda: "far@remote.test" in queue(site),
             "the reply to a remote sender is queued",
             lambda: queue(site))
    import json
    far = [e for e in json.loads(queue(site))
           if "far@remote.test" in json.dumps(e)]
    check(len(far) == 1 and far[0].get("sender") == "",
          "the queued auto-reply has the null sender <>", far)

    # Outside the dates: none.
    w, x = addr("later"), addr("over")
    ctl_ok(site, "vacation", "set", w, "--subject", "Later", "--body",
           "b", "--start", "@%d" % (int(time.time()) + 30 * 86400))
    ctl_ok(site, "vacation", "set", x, "--subject", "Over", "--body", "b",
           "--start", "2020-01-01", "--end", "2020-01-02")
    s6 = addr("s6")
    post(srv, s6, w, msg("before start", w), "s6 to later")
    post(srv, s6, x, msg("after end", x), "s6 to over")
    post(srv, s6, v, msg("s6 to vac", v), "s6 to vac")
    got = wait_for(lambda: replies(site, s6), "s6 gets vac's reply",
                   lambda: srv.smtpd.output()[-2000:])
    check(len(got) == 1 and b"Subject: Away" in got[0],
          "s6 got only vac's reply: none before --start nor after --end",
          got)


def test_lists(site, srv):
    team = addr("team")
    m1, m2 = addr("m1"), addr("m2")
    ctl_ok(site, "list", "add", team, "--name", "The Team",
           "--reply-to-list", "yes")
    ctl_ok(site, "list", "member", "add", team, m1, m2,
           "member@faraway.test")
    original = msg("to the team", team, b"Reply-To: <x@remote.test>\r\n")
    post(srv, "poster@remote.test", team, original, "a post to team")
    for m in (m1, m2):
        got = stored(site, m)
        check(len(got) == 1, "%s got the list's copy" % m, got)
        head = got[0].split(b"\r\n\r\n", 1)[0]
        check(b'\r\nList-Id: "The Team" <team.example.test>\r\n' in head,
              "%s: List-Id of the list" % m, head)
        check(b"\r\nList-Post: <mailto:team@example.test>\r\n" in head,
              "%s: List-Post" % m, head)
        check(b"\r\nReply-To: <team@example.test>\r\n" in head and
              b"Reply-To: <x@remote.test>" not in head,
              "%s: Reply-To the list (--reply-to-list yes), the "
              "original Reply-To gone" % m, head)
        check(got[0].endswith(b"\r\n\r\nbody\r\n"), "the body is "
              "unchanged", got[0][-100:])
    check("member@faraway.test" in queue(site), "the remote member's copy "
          "is queued", queue(site))

    # Members only.
    closed = addr("closed")
    m3 = addr("m3")
    ctl_ok(site, "list", "add", closed, "--members-only", "yes")
    ctl_ok(site, "list", "member", "add", closed, m1, m3)
    s = srv.smtp()
    mr, rr, dr = send(s, "stranger@remote.test", [closed],
                      msg("not a member", closed))
    s.quit()
    code, text = rr.get(closed, (None, b""))
    check(code == 550 and text.startswith(b"5.7.1"), "a non-member is "
          "refused at RCPT with 550 5.7.1", rr)
    check(subjects(site, m3) == [], "nothing reached the members",
          subjects(site, m3))
    # A member's own filter sees the list's header.
    set_filter(site, m3, 'if (/^List-Id:.*<closed\\.example\\.test>/)\n'
               '{\n  to Mail/.Lists/\n}\n')
    post(srv, m1, closed, msg("from a member", closed), "a member posts")
    check(subjects(site, m3, "Lists") == ["from a member"],
          "m3's filter saw List-Id and filed the copy", (
              subjects(site, m3), subjects(site, m3, "Lists")))


def test_vacation_filtered(site, srv):
    """No auto-reply for mail a filter filed into Spam or that carries
    X-Spam-Flag: YES; a filter that fails still lets the reply go."""
    v, f = addr("vspam"), addr("vfail")
    for who in (v, f):
        ctl_ok(site, "vacation", "set", who, "--subject", "Away", "--body",
               "b")
    set_filter(site, v, "if (/^Subject: junk/)\n{\n  to Mail/.Spam/\n}\n")
    set_filter(site, f, 'xfilter "/bin/false"\n')
    s7, s8, s9 = addr("s7"), addr("s8"), addr("s9")
    post(srv, s7, v, msg("junk offer", v), "s7: junk to vspam")
    post(srv, s8, v, msg("flagged", v, b"X-Spam-Flag: YES\r\n"),
         "s8: a flagged message to vspam")
    post(srv, s9, f, msg("to vfail", f), "s9 to vfail")
    wait_for(lambda: replies(site, s9), "a failed filter still lets the "
             "auto-reply go (s9)", lambda: srv.smtpd.output()[-2000:])
    check(subjects(site, v, "Spam") == ["junk offer"] and
          subjects(site, v) == ["flagged"], "vspam's filter filed them",
          (subjects(site, v), subjects(site, v, "Spam")))
    check(stored(site, s7) == [], "no auto-reply for mail filed into Spam",
          stored(site, s7))
    check(stored(site, s8) == [], "no auto-reply to X-Spam-Flag: YES",
          stored(site, s8))


def test_list_more(site, srv):
    """The owner is the envelope sender of copies that leave; a copy that
    comes back to its own list is dropped."""
    ann = addr("ann")
    ctl_ok(site, "list", "add", ann, "--name", "News", "--owner",
           addr("boss"))
    ctl_ok(site, "list", "member", "add", ann, addr("m4"),
           "far-member@faraway.test")
    post(srv, "poster@remote.test", ann, msg("news one", ann),
         "a post to ann")
    import json
    entries = json.loads(queue(site))
    mine = [e for e in entries if "far-member@faraway.test" in
            json.dumps(e)]
    check(len(mine) == 1 and mine[0].get("sender") == addr("boss"),
          "the remote member's copy is queued with the owner as envelope "
          "sender", mine)
    head = stored(site, addr("m4"))[0].split(b"\r\n\r\n", 1)[0]
    check(head.startswith(b"Return-Path: <boss@example.test>\r\n"),
          "a local member's copy has the owner as its envelope sender "
          "too (RFC 5321 3.9.2: Return-Path)", head[:200])
    check(b"\r\nList-Owner: <mailto:boss@example.test>\r\n" in head and
          b"\r\nPrecedence: list\r\n" in head,
          "List-Owner and Precedence: list", head)
    # The members' copy sent back to the list: a loop, dropped.
    back = stored(site, addr("m4"))[0]
    back = back[back.index(b"List-Id:"):]
    post(srv, addr("m4"), ann, back, "the copy sent back to ann")
    wait_log(srv.smtpd, "list " + ann, "not sent again")
    check(len(stored(site, addr("m4"))) == 1, "the looping copy reached "
          "no member", [m[:200] for m in stored(site, addr("m4"))])


def test_list_nested(site, srv):
    """A list that is a member of another list, and an alias that names
    a list, reach that list's members (each once, even when the lists
    name each other); a members-only list stays closed behind an alias."""
    outer, inner, staff = addr("outer"), addr("inner"), addr("staff")
    ctl_ok(site, "list", "add", outer, "--name", "Outer")
    ctl_ok(site, "list", "add", inner, "--name", "Inner")
    ctl_ok(site, "list", "member", "add", outer, addr("n1"), inner)
    ctl_ok(site, "list", "member", "add", inner, addr("n2"), outer)
    ctl_ok(site, "addr", "add", staff, inner)
    post(srv, "poster@remote.test", outer, msg("to outer", outer),
         "a post to outer")
    for m in ("n1", "n2"):
        check(subjects(site, addr(m)) == ["to outer"], "%s (of outer, and "
              "of inner, a member of outer) got the post once" % m,
              subjects(site, addr(m)))
    post(srv, "poster@remote.test", staff, msg("to staff", staff),
         "a post to the alias staff -> inner")
    check(subjects(site, addr("n2")) == ["to outer", "to staff"],
          "the alias of a list reaches its members",
          subjects(site, addr("n2")))
    check(subjects(site, addr("n1")) == ["to outer", "to staff"],
          "and, through inner, outer's", subjects(site, addr("n1")))
    head = stored(site, addr("n2"))[1].split(b"\r\n\r\n", 1)[0]
    check(b'\r\nList-Id: "Inner" <inner.example.test>\r\n' in head,
          "the alias's post is inner's copy (List-Id of inner)", head)
    priv, back = addr("priv"), addr("backdoor")
    ctl_ok(site, "list", "add", priv, "--members-only", "yes")
    ctl_ok(site, "list", "member", "add", priv, addr("n3"))
    ctl_ok(site, "addr", "add", back, priv)
    s = srv.smtp()
    mr, rr, dr = send(s, "stranger@remote.test", [back],
                      msg("through the back door", back))
    s.quit()
    check(rr.get(back, (None,))[0] == 550, "an alias does not open a "
          "members-only list to a stranger", rr)
    check(subjects(site, addr("n3")) == [], "nothing reached its member",
          subjects(site, addr("n3")))


def test_vacation_odd_sender(site, srv):
    """A sender that SMTP takes but that is no mailbox address of the
    store (a quoted local part with a space) gets no auto-reply, and the
    message is delivered, not refused with 451 (the reply's record of
    answered senders cannot hold it)."""
    v = addr("vodd")
    ctl_ok(site, "vacation", "set", v, "--subject", "Away", "--body", "b")
    s = srv.smtp()
    try:
        sent_ok(s, '"john doe"@remote.test', [v], msg("odd sender", v),
                "a quoted sender with a space writes to vodd")
    finally:
        s.quit()
    check(subjects(site, v) == ["odd sender"], "vodd got it",
          subjects(site, v))


def test_list_big(site, srv):
    """A list may have thousands of members (STORE_LIST_MEMBERS_MAX):
    one of 1100 remote members takes a post (250) and queues a copy for
    each member, across queue entries of at most 1000 recipients."""
    big = addr("big")
    ctl_ok(site, "list", "add", big, "--name", "Big")
    members = ["bm%d@faraway.test" % i for i in range(1100)]
    ctl_ok(site, "list", "member", "add", big, *members)
    post(srv, "poster@remote.test", big, msg("to the big list", big),
         "a post to a list of 1100 members")
    import json
    q = json.loads(queue(site))
    got = set()
    for e in q:
        for r in e.get("recipients", []):
            if r["address"].startswith("bm"):
                got.add(r["address"])
    check(got == set(members), "every member's copy is queued",
          (len(got), sorted(set(members) - got)[:5]))


def test(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    site.add_user(addr("postmaster"), "pw")
    for local in ("vac", "later", "over", "s1", "s2", "s3", "s4", "s5",
                  "s6", "s7", "s7b", "s8", "s9", "utf", "m1", "m2", "m3",
                  "m4", "boss", "vspam", "vfail", "n1", "n2", "n3", "vodd"):
        site.add_user(addr(local), "pw")
    srv.start(pop3=False)
    test_vacation(site, srv)
    test_lists(site, srv)
    test_vacation_filtered(site, srv)
    test_list_more(site, srv)
    # Past the interval (7 days; the daemon's clock moved 8 days on): s1
    # gets a second reply.
    srv.restart(faketime="+8d")
    post(srv, addr("s1"), addr("vac"), msg("s1 a week later", addr("vac")),
         "s1 writes again 8 days later")
    wait_for(lambda: len(replies(site, addr("s1"))) == 2, "s1 gets a "
             "second auto-reply after the interval",
             lambda: (len(replies(site, addr("s1"))),
                      srv.smtpd.output()[-1500:]))
    test_list_nested(site, srv)
    test_vacation_odd_sender(site, srv)
    test_list_big(site, srv)
    srv.alive("the auto-replies and lists")
    rc = srv.stop()
    check(rc == 0, "vellum-smtpd exits 0 on SIGTERM",
          (rc, srv.smtpd.output()[-2000:]))
    return 0


if __name__ == "__main__":
    main(test)
