"""vellum-smtpd and RFC 3461 (DSN) and SRS, with smtplib on loopback:
DSN advertised on [smtp] and [submission] but not in LHLO; RET, ENVID,
NOTIFY and ORCPT accepted, bad values 501 5.5.4 and repeats 555 5.5.4;
the id in "queued as" names the queue entry, which keeps ENVID, RET,
ORCPT, NOTIFY and the 8BITMIME/SMTPUTF8 flags; a forward is queued with
its sender rewritten by SRS for the forwarding domain, a bounce to that
address is queued back to the original sender, and a forged one is
refused 550 5.1.1.

usage: test_smtp_dsn.py BUILD_DIR
"""
import json
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import (HOST, SmtpSite, message, require_smtpd,  # noqa: E402
                      sent_ok)

SENDER = "Sender@Remote.test"
ALICE = "alice@example.test"


def entries(site):
    return json.loads(site.ctl("queue", "list", "--json"))


def addrs(e):
    """The recipient addresses of a `queue list --json` entry."""
    return [r["address"] if isinstance(r, dict) else r
            for r in e["recipients"]]


def queued_id(reply):
    m = re.search(rb"queued as ([0-9A-F]{16})", reply[1])
    check(m is not None, "the end of data says \"queued as ID\"", reply)
    return m.group(1).decode()


def test_ehlo(srv):
    s = srv.smtp()
    check(s.has_extn("dsn"), "EHLO on [smtp] offers DSN", s.esmtp_features)
    s.quit()
    s = srv.submission(ALICE, "pw-alice")
    check(s.has_extn("dsn"), "EHLO on [submission] offers DSN",
          s.esmtp_features)
    s.quit()
    lm = smtplib.LMTP(HOST, srv.ports["lmtp"], timeout=30)
    code, _ = lm.ehlo("client.example.test")	# sends LHLO
    check(code == 250, "LHLO answers 250", code)
    check(not lm.has_extn("dsn"), "LHLO does not offer DSN",
          lm.esmtp_features)
    r = lm.mail(SENDER, ["RET=HDRS"])
    check(r[0] == 555, "LMTP: MAIL RET= is refused 555", r)
    lm.quit()


def test_params(srv):
    s = srv.smtp()
    bad_mail = [("RET=ALL", 501), ("ENVID=a=b", 501), ("ENVID=" + "e" * 101,
                501), ("RET=FULL RET=HDRS", 555)]
    for opts, code in bad_mail:
        r = s.mail(SENDER, opts.split())
        check(r[0] == code and r[1].startswith(b"5.5.4"),
              "MAIL %s answers %d 5.5.4" % (opts[:30], code), r)
        s.rset()
    check(s.mail(SENDER, ["RET=HDRS", "ENVID=QQ314159+2B1"])[0] == 250,
          "MAIL with RET and ENVID answers 250", "")
    bad_rcpt = [("NOTIFY=NEVER,SUCCESS", 501), ("NOTIFY=SOMETIMES", 501),
                ("ORCPT=alice@example.test", 501),
                ("ORCPT=rfc822;a=b", 501),
                ("NOTIFY=DELAY NOTIFY=DELAY", 555)]
    for opts, code in bad_rcpt:
        r = s.rcpt(ALICE, opts.split())
        check(r[0] == code and r[1].startswith(b"5.5.4"),
              "RCPT %s answers %d 5.5.4" % (opts, code), r)
    r = s.rcpt(ALICE, ["NOTIFY=SUCCESS,FAILURE",
                       "ORCPT=rfc822;alice+2Bold@example.test"])
    check(r[0] == 250, "RCPT with NOTIFY and ORCPT answers 250", r)
    r = s.data(message("dsn params"))
    check(r[0] == 250, "the message is delivered", r)
    s.quit()
    # HELO, not EHLO: no parameters
    s = srv.smtp(ehlo=False)
    s.helo("client.example.test")
    check(s.mail(SENDER)[0] == 250, "MAIL after HELO", "")
    # (smtplib drops options without EHLO: send the line as it is)
    r = s.docmd("RCPT", "TO:<%s> NOTIFY=NEVER" % ALICE)
    check(r[0] == 555, "RCPT NOTIFY= after HELO answers 555", r)
    s.quit()


def test_srs_forward_and_bounce(srv):
    site = srv.site
    s = srv.smtp()
    r = sent_ok(s, SENDER, ["fw@example.test"], message("to forward"),
                "a forward", mail_options=["RET=HDRS", "ENVID=E1"],
                rcpt_options=["NOTIFY=FAILURE"])
    qid = queued_id(r)
    q = [e for e in entries(site) if e["id"] == qid]
    check(len(q) == 1, "the queue entry has the id of \"queued as\" (%s)" %
          qid, entries(site))
    e = q[0]
    check(addrs(e) == ["someone@external.test"], "the forward's "
          "recipient is queued", e)
    r0 = e["recipients"][0]
    check(e.get("envid") == "E1" and e.get("ret") == "hdrs" and
          r0.get("orcpt") == "rfc822;fw@example.test" and
          r0.get("notify") == ["failure"], "ENVID, RET, ORCPT (the address "
          "that forwarded) and NOTIFY are in the queue entry", e)
    srs = e["sender"]
    check(re.match(r"^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=Remote\.test="
                   r"Sender@example\.test$", srs) is not None,
          "the forward's sender is rewritten by SRS for example.test", e)
    site.ctl("queue", "del", qid)

    # the bounce from the far end comes back to the SRS address
    r = sent_ok(s, "", [srs], message("bounce"), "a bounce to the SRS "
                "address")
    qid = queued_id(r)
    q = [x for x in entries(site) if x["id"] == qid]
    check(len(q) == 1 and q[0]["sender"] == "" and
          addrs(q[0]) == [SENDER], "the bounce is queued from <> to "
          "the original sender", entries(site))
    site.ctl("queue", "del", qid)

    # the same address lower-cased in transit still works
    r = s.rcpt(srs.lower()) if s.mail("")[0] == 250 else None
    check(r is not None and r[0] == 250, "the SRS address in lower case "
          "is accepted", r)
    s.rset()

    # a forged one is refused
    forged = srs[:5] + ("xxxx" if srs[5:9].lower() != "xxxx" else "yyyy") + \
        srs[9:]
    check(s.mail("")[0] == 250, "MAIL FROM:<>", "")
    r = s.rcpt(forged)
    check(r[0] == 550 and r[1].startswith(b"5.1.1") and b"hash" in r[1],
          "a forged SRS address answers 550 5.1.1 (bad hash)", r)
    s.rset()

    # BODY=8BITMIME and SMTPUTF8 are kept as entry flags
    r = sent_ok(s, SENDER, ["fw@example.test"], message("eight bit"),
                "a forward with BODY=8BITMIME SMTPUTF8",
                mail_options=["BODY=8BITMIME", "SMTPUTF8"])
    qid = queued_id(r)
    q = [x for x in entries(site) if x["id"] == qid]
    check(len(q) == 1 and sorted(q[0].get("flags", [])) ==
          ["8bitmime", "smtputf8"], "the entry is flagged 8bitmime and "
          "smtputf8", q)
    site.ctl("queue", "del", qid)

    # a local sender's forward is not rewritten
    r = sent_ok(s, ALICE, ["fw@example.test"], message("local sender"),
                "a forward of a local sender")
    qid = queued_id(r)
    q = [x for x in entries(site) if x["id"] == qid]
    check(len(q) == 1 and q[0]["sender"] == ALICE, "a local sender is "
          "kept", q)
    site.ctl("queue", "del", qid)
    s.quit()


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    site.add_user(ALICE, "pw-alice")
    site.ctl("addr", "add", "fw@example.test", "someone@external.test")
    srv.start()
    test_ehlo(srv)
    test_params(srv)
    test_srs_forward_and_bounce(srv)
    srv.alive("the DSN and SRS tests")
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes", out)
    return 0


if __name__ == "__main__":
    main(run)
