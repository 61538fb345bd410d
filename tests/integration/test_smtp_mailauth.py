"""SPF, DKIM and DMARC of inbound mail through vellum-smtpd ([mailauth],
deliver/inauth.c), against dnsserver.py on loopback; signed messages come
from python3-dkim.  libspf2 passes every loopback client whatever the
record says (its localhost rule), so SPF fail and its actions are
covered by test_mailauth.py with TEST-NET addresses; here SPF is the
pass of a loopback client, checked for alignment by DMARC.

- all off (the default): no Authentication-Results, no query;
- on: a signed, aligned message gets one Authentication-Results field
  (authserv-id = hostname) after Delivered-To with spf, dkim (d, s, b)
  and dmarc pass, and its signature still verifies as stored; forged
  fields of our id are removed, another server's kept;
- DMARC fail under p=reject: 550 5.7.1 at the end of DATA, nothing
  stored, one log line; dmarc_reject = quarantine: into Spam with
  dmarc=fail; = tag: INBOX; p=quarantine: Spam, or INBOX with
  dmarc_quarantine = tag; a quarantined message runs no user filter;
- a DMARC record that does not answer: accepted, dmarc=temperror;
- a white ip (skips SPF, DKIM, DMARC): no field, no refusal; a white
  sender (skips SPF): spf is left out, DMARC still refuses; submission
  (logged in) and LMTP are not checked.

usage: test_smtp_mailauth.py BUILD_DIR
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dkimtest  # noqa: E402
from daemon import check, main  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from smtptest import (Client25, SmtpSite, count, log_has,  # noqa: E402
                      require_smtpd, stored)
from dkimtest import dkim, key_record, rsa_key  # noqa: E402

HOST = "127.0.0.1"
BOB = "bob@example.test"
PW = "pw-bob-1"
ID = "mail.example.test"


def message(frm, subject, extra=b""):
    return (b"From: " + frm.encode() + b"\r\nTo: <" + BOB.encode() +
            b">\r\nSubject: " + subject.encode() + b"\r\n"
            b"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n" + extra +
            b"\r\nThe figures, as promised.\r\n")


def sign(msg, domain, pem):
    return dkimtest.sign(msg, domain, "sel", pem)


def send(srv, sender, msg, src=2):
    """One message from 127.0.0.SRC on port 25: the end-of-DATA reply."""
    c = Client25(srv, src=src)
    c.expect("EHLO client.sender.test", 250, "EHLO")
    c.expect("MAIL FROM:<%s>" % sender, 250, "MAIL")
    c.expect("RCPT TO:<%s>" % BOB, 250, "RCPT")
    c.expect("DATA", 354, "DATA")
    body = msg.replace(b"\r\n.", b"\r\n..")
    c.send(body.decode() + ".\r\n")
    r = c.reply()
    c.cmd("QUIT")
    return r


def newest(site, folder=None):
    got = stored(site, BOB, folder)
    check(got, "a message in %s" % (folder or "INBOX"), got)
    return got[-1]


def field(m):
    """The Authentication-Results fields of a stored message, unfolded."""
    head = m.split(b"\r\n\r\n", 1)[0].decode()
    out, cur = [], None
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            cur += " " + line.strip()
            continue
        if cur is not None:
            out.append(cur)
        cur = line
    out.append(cur)
    return [f for f in out if f.lower().startswith("authentication-results")]


def case_off(srv, dns, pem):
    n = len(dns.queries)
    r = send(srv, "alice@sender.test",
             sign(message("alice@sender.test", "off"), "sender.test", pem))
    check(r.startswith("250 "), "all off: accepted", r)
    check(field(newest(srv.site)) == [], "all off: no field", newest(
        srv.site)[:300])
    check(len(dns.queries) == n, "all off: no query", dns.queries[n:])


def case_pass(srv, dns, pem, resolver):
    forged = (b"Authentication-Results: " + ID.encode() +
              b"; dkim=pass header.d=bank.test\r\n"
              b"Authentication-Results: other.example; spf=pass\r\n")
    m = sign(message("Alice <alice@sender.test>", "signed", forged),
             "sender.test", pem)
    r = send(srv, "alice@sender.test", m)
    check(r.startswith("250 "), "a signed aligned message is accepted", r)
    got = newest(srv.site)
    f = field(got)
    check(len(f) == 2 and f[1] == "Authentication-Results: other.example; "
          "spf=pass", "our forged field is gone, another server's kept", f)
    ours = f[0]
    check(ours.startswith("Authentication-Results: %s; spf=pass "
                          "smtp.mailfrom=alice@sender.test; dkim=pass "
                          "header.d=sender.test header.s=sel header.b=" % ID)
          and ours.endswith("; dmarc=pass header.from=sender.test"),
          "the field says spf, dkim and dmarc pass", ours)
    lines = got.split(b"\r\n")
    check(lines[1].startswith(b"Delivered-To:") and
          lines[2].startswith(b"Authentication-Results: " + ID.encode()),
          "the field comes right after Delivered-To", lines[:4])
    # the signature still holds on what was stored
    txt = "".join("".join(t) for _, t in resolver).encode()

    def lookup(name, timeout=5):
        return txt if name == b"sel._domainkey.sender.test." else b""
    check(dkim.verify(got, dnsfunc=lookup), "the stored message verifies",
          got[:400])
    log_has(srv, r"mailauth: message from <alice@sender\.test> client "
            r"\[127\.0\.0\.2\]: spf=pass dkim=pass\(sender\.test\) "
            r"dmarc=pass; forged Authentication-Results removed; tagged",
            "the log line")


def case_dmarc(srv):
    site = srv.site
    n = count(site, BOB)
    r = send(srv, "bounce@other.test", message("ceo@sender.test", "fake"))
    check(r.startswith("550 5.7.1 ") and "DMARC policy of sender.test" in r,
          "p=reject, nothing aligned: 550 5.7.1 naming the domain", r)
    check(count(site, BOB) == n, "nothing stored", count(site, BOB))
    log_has(srv, r"mailauth: message from <bounce@other\.test> client "
            r"\[127\.0\.0\.2\]: spf=pass dkim=none dmarc=fail \(p=reject\); "
            r"refused \(DMARC policy of sender\.test\)", "the refusal's log")
    # bob's own filter would file everything elsewhere: not this
    flt = os.path.join(site.tmp, "filter")
    with open(flt, "w") as f:
        f.write('to "Archive"\n')
    site.ctl("filter", "set", BOB, flt)
    r = send(srv, "bounce@other.test", message("m@quar.test", "quar"))
    check(r.startswith("250 "), "p=quarantine: accepted", r)
    got = newest(site, "Spam")
    check(b"Subject: quar" in got and
          "dmarc=fail header.from=quar.test" in field(got)[0],
          "p=quarantine: into Spam, dmarc=fail", field(got))
    r = send(srv, "alice@sender.test", message("alice@sender.test", "kept"))
    check(r.startswith("250 ") and b"Subject: kept" in newest(site,
          "Archive"), "a message not quarantined runs the filter", r)
    site.ctl("filter", "del", BOB)


def case_dmarc_choices(srv):
    site = srv.site
    srv.reconfigure(more={"mailauth": {"dmarc_reject": "quarantine",
                                       "dmarc_quarantine": "tag"}})
    srv.restart(pop3=False)
    r = send(srv, "bounce@other.test", message("ceo@sender.test", "q2"))
    check(r.startswith("250 "), "dmarc_reject = quarantine: accepted", r)
    check(b"Subject: q2" in newest(site, "Spam"),
          "dmarc_reject = quarantine: into Spam", "")
    r = send(srv, "bounce@other.test", message("m@quar.test", "tagged"))
    got = newest(site)
    check(r.startswith("250 ") and b"Subject: tagged" in got and
          "dmarc=fail" in field(got)[0],
          "dmarc_quarantine = tag: INBOX with dmarc=fail", field(got))
    srv.reconfigure(more={"mailauth": {"dmarc_reject": "tag",
                                       "dmarc_quarantine": "quarantine"}})
    srv.restart(pop3=False)
    r = send(srv, "bounce@other.test", message("ceo@sender.test", "t3"))
    got = newest(site)
    check(r.startswith("250 ") and b"Subject: t3" in got and
          "dmarc=fail" in field(got)[0], "dmarc_reject = tag: INBOX", r)
    srv.reconfigure(more={"mailauth": {"dmarc_reject": "reject"}})
    srv.restart(pop3=False)


def case_temp(srv):
    r = send(srv, "bounce@other.test", message("m@slow.test", "slow"))
    got = newest(srv.site)
    check(r.startswith("250 ") and b"Subject: slow" in got and
          "dmarc=temperror header.from=slow.test" in field(got)[0],
          "a DMARC record that does not answer: accepted, temperror",
          (r, field(got)))


def case_white(srv):
    site = srv.site
    site.ctl("acl", "add", "white", "ip", "127.0.0.5")
    r = send(srv, "bounce@other.test", message("ceo@sender.test", "wip"),
             src=5)
    got = newest(site)
    check(r.startswith("250 ") and b"Subject: wip" in got and
          field(got) == [], "a white ip: no check, no field", field(got))
    site.ctl("acl", "add", "white", "sender", "bounce@other.test")
    r = send(srv, "bounce@other.test", message("ceo@sender.test", "wsnd"))
    check(r.startswith("550 5.7.1 "),
          "a white sender skips SPF only: DMARC still refuses", r)
    site.ctl("acl", "del", "sender", "bounce@other.test")
    n = count(site, BOB)
    s = srv.submission(BOB, PW)
    s.mail(BOB)
    s.rcpt(BOB)
    code, _ = s.data(message("ceo@sender.test", "sub"))
    s.quit()
    check(code == 250 and count(site, BOB) == n + 1 and
          field(newest(site)) == [], "submission is not checked", code)
    lm = smtplib.LMTP(HOST, srv.ports["lmtp"], timeout=30)
    lm.ehlo("lmtp.test")
    lm.sendmail("bounce@other.test", [BOB], message("ceo@sender.test",
                                                     "lmtp"))
    lm.quit()
    check(field(newest(site)) == [], "LMTP is not checked", "")


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    pem, pub = rsa_key(site.tmp)
    key = key_record(pub)
    records = {
        "sender.test": [("TXT", "v=spf1 ip4:127.0.0.0/8 -all")],
        "_dmarc.sender.test": [("TXT", "v=DMARC1; p=reject")],
        "sel._domainkey.sender.test": key,
        "other.test": [("TXT", "v=spf1 ip4:127.0.0.0/8 -all")],
        "quar.test": [("TXT", "v=spf1 -all")],
        "_dmarc.quar.test": [("TXT", "v=DMARC1; p=quarantine")],
        "slow.test": [("TXT", "v=spf1 -all")],
        "_dmarc.slow.test": [("TIMEOUT",)],
    }
    with DNSServer(records, host=HOST) as dns:
        srv = SmtpSite(site, pop3=False)
        site.add_user(BOB, PW)
        srv.reconfigure(more={"dns": {"resolver": "%s:%d" % (HOST,
                                                             dns.port)}})
        srv.start(pop3=False)
        case_off(srv, dns, pem)
        srv.reconfigure(more={"mailauth": {"spf": "yes", "dkim": "yes",
                                           "dmarc": "yes", "timeout": "2"}})
        srv.restart(pop3=False)
        case_pass(srv, dns, pem, key)
        case_dmarc(srv)
        case_dmarc_choices(srv)
        case_temp(srv)
        case_white(srv)
        srv.alive("the tests")
        check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0",
              "")
    return 0


if __name__ == "__main__":
    main(run)
