"""Inbound black and white lists (issue 15): `vellumctl acl` and what
vellum-smtpd does with them on port 25, each client a different
127.0.0.x source address (the server listens on 127.0.0.1):

- a black client (ip, net in CIDR or mask form) gets the 554 greeting,
  then 503 to anything but QUIT (221); a discarding one has its mail
  accepted and dropped;
- a black sender, sender domain (and its subdomains) or `user@` gets 554
  at MAIL; a black recipient 554 at RCPT; discard accepts and drops;
- a discarded message is not in the store (vellumctl mail list/export);
- white beats black for the same client; the most specific entry wins;
- the skip mask of the whitelist table is logged per kind, and a
  recipient's whitelist counts only when every recipient has one;
- LMTP, [submission] and trusted_networks clients are never checked;
- import/export in Postfix access(5) text round-trips, a bad line names
  FILE:LINE and changes nothing.

usage: test_acl.py BUILD_DIR
"""
import json
import os
import re
import smtplib
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import (SmtpSite, count, log_has, require_smtpd,  # noqa
                      stored)

HOST = "127.0.0.1"
BOB, CAROL, DAVE, ERIN = ("bob@example.test", "carol@example.test",
                          "dave@example.test", "erin@example.test")
USERS = (BOB, CAROL, DAVE, ERIN)


def msg(subject):
    return ("From: <x@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\nhello\r\n" %
            (BOB, subject, subject.replace(" ", "-"))).encode()


def client(srv, src):
    """smtplib from 127.0.0.SRC to port 25, EHLO done."""
    s = smtplib.SMTP(HOST, srv.ports["smtp"], timeout=30,
                     source_address=("127.0.0.%d" % src, 0))
    s.ehlo("client%d.test" % src)
    return s


def send(srv, src, sender, rcpts, subject):
    """One message from 127.0.0.SRC: (refused recipients, the DATA
    reply)."""
    s = client(srv, src)
    try:
        code, m = s.mail(sender)
        if code != 250:
            return "mail", (code, m)
        refused = {}
        for r in rcpts:
            code, m = s.rcpt(r)
            if code != 250:
                refused[r] = (code, m)
        if len(refused) == len(rcpts):
            return refused, None
        return refused, s.data(msg(subject))
    finally:
        s.quit()


def counts(site):
    return [count(site, u) for u in USERS]


def raw_from(srv, src, port=None):
    """A plain socket from 127.0.0.SRC; returns (socket, greeting)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(30)
    s.bind(("127.0.0.%d" % src, 0))
    s.connect((HOST, port or srv.ports["smtp"]))
    return s, s.recv(4096).decode()


def raw_cmd(s, line):
    s.sendall(line.encode() + b"\r\n")
    return s.recv(4096).decode()


def ctl_fails(site, args, code, says, what):
    p = subprocess.run([site.binary("vellumctl"), "-d", site.data, "acl"] +
                       list(args), capture_output=True, text=True)
    check(p.returncode == code and says in p.stderr,
          "%s: acl %s fails (exit %d) saying %r" % (what, " ".join(args),
                                                    code, says),
          (p.returncode, p.stderr))


def case_ctl(srv):
    """add/del/list, normalisation, errors; import/export round trip."""
    site = srv.site
    out = site.ctl("acl", "add", "black", "net", "198.51.100.0/255.255.255.0")
    check("net 198.51.100.0/24 is blacklisted (reject)" in out,
          "the mask form is kept as CIDR", out)
    site.ctl("acl", "add", "white", "sender", "Boss@Example.COM")
    site.ctl("acl", "add", "black", "ip", "2001:DB8:0::7", "--action",
             "discard", "--text", "bye")
    lst = json.loads(site.ctl("acl", "list", "--json"))
    got = [(e["kind"], e["value"], e["list"], e["action"], e["text"],
            e["skips"]) for e in lst]
    check(got == [("ip", "2001:db8::7", "black", "discard", "bye", 0),
                  ("net", "198.51.100.0/24", "black", "reject", "", 0),
                  ("sender", "boss@example.com", "white", None, "", 6)],
          "list --json: normalised values, actions, skips", got)
    for args, code, says in [
            (("add", "black", "net", "198.51.100.1/24"), 1,
             "host bits set (the network is 198.51.100.0/24)"),
            (("add", "black", "net", "10.0.0.0/255.0.255.0"), 1,
             "not an IPv4 netmask"),
            (("add", "black", "ip", "10.0.0.0/8"), 1, "kind net"),
            (("add", "black", "sender", "example.com"), 1, "kind domain"),
            (("add", "white", "sender", "boss@example.com"), 0, ""),
            (("add", "black", "sender", "boss@example.com"), 1,
             "on the white list already"),
            (("add", "white", "ip", "192.0.2.1", "--action", "reject"), 2,
             "no --action"),
            (("add", "grey", "ip", "192.0.2.1"), 2, "white or black"),
            (("add", "black", "host", "x"), 2, "KIND is"),
            (("del", "ip", "192.0.2.99"), 1, "no ip entry 192.0.2.99"),
            (("import", "x"), 2, "--client"),
    ]:
        if code == 0:
            site.ctl("acl", *args)
            continue
        ctl_fails(site, args, code, says, "acl " + args[0])
    site.ctl("acl", "del", "ip", "2001:db8::7")
    site.ctl("acl", "del", "net", "198.51.100.0/24")
    site.ctl("acl", "del", "sender", "boss@example.com")
    check(json.loads(site.ctl("acl", "list", "--json")) == [],
          "del removes each entry", site.ctl("acl", "list"))

    # A Postfix access table of clients: comments, a continuation line,
    # cidr and mask forms, an octet prefix, a duplicate.
    p = os.path.join(site.tmp, "client_access")
    with open(p, "w") as f:
        f.write("# check_client_access\n\n203.0.113.5   REJECT\n"
                "203.0.113.0/255.255.255.0 OK\n10.20\n"
                "   550 5.7.1 no mail from here\n"
                "[2001:db8::]/32 DISCARD spam source\n"
                "203.0.113.5 OK\n")
    pr = subprocess.run([site.binary("vellumctl"), "-d", site.data, "acl",
                         "import", "--client", p], capture_output=True,
                        text=True)
    check(pr.returncode == 0 and "4 client entries set" in pr.stdout and
          p + ":8: skipped: duplicate entry 203.0.113.5 (line 3" in
          pr.stderr, "import --client: 4 entries, the duplicate noted",
          (pr.stdout, pr.stderr))
    exp = site.ctl("acl", "export", "--client")
    check(exp.splitlines()[1:] == [
        "203.0.113.5\tREJECT", "10.20.0.0/16\t550 5.7.1 no mail from here",
        "203.0.113.0/24\tOK", "2001:db8::/32\tDISCARD spam source"],
        "export --client writes the table", exp)
    with open(p + ".2", "w") as f:
        f.write(exp)
    def entries():
        # the creation time is of the row: import --replace makes it anew
        return [{k: v for k, v in e.items() if k != "created"}
                for e in json.loads(site.ctl("acl", "list", "--json"))]
    before = entries()
    site.ctl("acl", "import", "--client", "--replace", p + ".2")
    check(entries() == before and
          site.ctl("acl", "export", "--client") == exp,
          "import(export) round-trips", (before, exp))
    # sender table: address, domain, user@, @domain
    ps = os.path.join(site.tmp, "sender_access")
    with open(ps, "w") as f:
        f.write("friend@remote.test OK\nremote.test REJECT go away\n"
                "@junk.test DISCARD\npostmaster@ ok\n")
    site.ctl("acl", "import", "--sender", ps)
    exps = site.ctl("acl", "export", "--sender")
    check(exps.splitlines()[1:] == [
        "junk.test\tDISCARD", "remote.test\tREJECT go away",
        "friend@remote.test\tOK", "postmaster@\tOK"],
        "export --sender: domains, addresses, user@", exps)
    # Errors: FILE:LINE and what to do; nothing changes (even --replace).
    before = site.ctl("acl", "list")
    for text, line, says in [
            ("1.2.3.4 OK\n5.6.7.8 HOLD\n", 2, "'HOLD' is not an action"),
            ("1.2.3.4 OK\n\n5.6.7.8 FILTER smtp:x\n", 3,
             "'FILTER' is not an action"),
            ("1.2.3.4 DUNNO\n", 1, "'DUNNO' is not an action"),
            ("1.2.3.4 450 later\n", 1, "temporary refusal"),
            ("mx.example.com REJECT\n", 1, "looks up no host names"),
            ("10.0.0.1/8 REJECT\n", 1, "host bits set"),
            ("1.2.3.4\n", 1, "has no action"),
            ("1.2.3.4 OK thanks\n", 1, "OK takes no text"),
            ("  1.2.3.4 OK\n", 1, "continuation line"),
    ]:
        bad = os.path.join(site.tmp, "bad")
        with open(bad, "w") as f:
            f.write(text)
        pr = subprocess.run([site.binary("vellumctl"), "-d", site.data,
                             "acl", "import", "--client", "--replace", bad],
                            capture_output=True, text=True)
        check(pr.returncode == 1 and ("%s:%d: " % (bad, line)) in
              pr.stderr and says in pr.stderr and "nothing imported" in
              pr.stderr, "a bad import names %s:%d and %r" % ("FILE", line,
                                                               says),
              pr.stderr)
    ctl_fails(site, ("import", "--recipient", ps), 1,
              "takes whole addresses", "a recipient table")
    check(site.ctl("acl", "list") == before and
          site.ctl("acl", "export", "--client") == exp,
          "failed imports changed nothing", site.ctl("acl", "list"))
    check("ok" in site.ctl("store", "check"), "store check passes", "")
    # Clean slate for the SMTP cases.
    for kind in ("--client", "--sender", "--recipient"):
        empty = os.path.join(site.tmp, "empty")
        open(empty, "w").close()
        site.ctl("acl", "import", kind, "--replace", empty)
    check(json.loads(site.ctl("acl", "list", "--json")) == [],
          "import --replace of an empty table clears it", "")


def case_client(srv):
    site = srv.site
    site.ctl("acl", "add", "black", "ip", "127.0.0.2")
    site.ctl("acl", "add", "black", "net", "127.0.0.8/255.255.255.248",
             "--action", "discard")
    site.ctl("acl", "add", "white", "ip", "127.0.0.10")
    site.ctl("acl", "add", "black", "ip", "127.0.0.4", "--text",
             "see https://example.test/blocked")
    # 554 greeting; smtplib gives up at once
    try:
        client(srv, 2)
        check(False, "127.0.0.2 is refused at the greeting", "")
    except smtplib.SMTPConnectError as e:
        check(e.smtp_code == 554 and e.smtp_error ==
              b"5.7.1 <127.0.0.2>: Client host rejected: blacklisted",
              "black ip: 554 5.7.1 <ip>: Client host rejected: "
              "blacklisted", (e.smtp_code, e.smtp_error))
    log_has(srv, r"acl: client 127\.0\.0\.2 rejected by ip 127\.0\.0\.2",
            "the refusal is logged")
    s, greet = raw_from(srv, 4)
    check(greet.startswith("554 5.7.1 <127.0.0.4>: Client host rejected: "
                           "see https://example.test/blocked"),
          "the entry's text replaces 'blacklisted'", greet)
    r = raw_cmd(s, "EHLO x.test")
    check(r.startswith("503 "), "after a 554 greeting: EHLO gets 503", r)
    r = raw_cmd(s, "MAIL FROM:<x@remote.test>")
    check(r.startswith("503 "), "... and MAIL too", r)
    r = raw_cmd(s, "QUIT")
    check(r.startswith("221 "), "QUIT gets 221", r)
    s.close()
    # discard: accepted, not stored
    c0 = counts(site)
    refused, reply = send(srv, 9, "x@remote.test", [BOB], "client discard")
    check(refused == {} and reply[0] == 250 and b"queued as" in reply[1],
          "a discarding client's message is answered 250", reply)
    check(counts(site) == c0, "... and not stored", counts(site))
    log_has(srv, r"message id=\w+ from=<x@remote\.test> size=\d+ rcpts=1 "
            r"discarded by net 127\.0\.0\.8/29", "the discard is logged")
    # ... sent with BDAT (CHUNKING) too
    s, greet = raw_from(srv, 11)
    check(greet.startswith("220 "), "127.0.0.11 is greeted", greet)
    raw_cmd(s, "EHLO x.test")
    for line in ("MAIL FROM:<x@remote.test>", "RCPT TO:<%s>" % BOB):
        r = raw_cmd(s, line)
        check(r.startswith("250"), "discarding client: %s" % line, r)
    body = msg("bdat discard")
    s.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
    r = s.recv(4096).decode()
    check(r.startswith("250 2.0.0 Ok: queued as"), "BDAT LAST of a "
          "discarding client: 250", r)
    raw_cmd(s, "QUIT")
    s.close()
    check(counts(site) == c0, "... and not stored either", counts(site))
    # white ip inside the discarding net, and a client not listed
    for src in (10, 1):
        c0 = count(site, BOB)
        refused, reply = send(srv, src, "x@remote.test", [BOB],
                              "client %d" % src)
        check(reply[0] == 250 and count(site, BOB) == c0 + 1,
              "127.0.0.%d: delivered" % src, (reply, count(site, BOB)))
    log_has(srv, r"client 127\.0\.0\.10 whitelisted by ip 127\.0\.0\.10: "
            r"skips DNSBL, SPF, AV, DKIM, DMARC", "white ip: all skipped")
    log_has(srv, r"message id=\w+ whitelisted: skips DNSBL, SPF, AV, DKIM, "
            r"DMARC", "the message carries the ip's skips")


def case_sender_rcpt(srv):
    site = srv.site
    site.ctl("acl", "add", "black", "domain", "spam.test")
    site.ctl("acl", "add", "white", "sender", "ok@spam.test")
    site.ctl("acl", "add", "black", "sender", "bulk@", "--text",
             "no bulk mail")
    site.ctl("acl", "add", "black", "sender", "drop@remote.test",
             "--action", "discard")
    site.ctl("acl", "add", "white", "domain", "friends.test")
    site.ctl("acl", "add", "black", "recipient", CAROL)
    site.ctl("acl", "add", "black", "recipient", DAVE, "--action",
             "discard")
    site.ctl("acl", "add", "white", "recipient", BOB)
    for sender, reply in [
            ("x@spam.test", "<x@spam.test>: Sender address rejected: "
             "blacklisted"),
            ("x@deep.sub.spam.test", "<x@deep.sub.spam.test>: Sender "
             "address rejected: blacklisted"),
            ("bulk@anywhere.test", "<bulk@anywhere.test>: Sender address "
             "rejected: no bulk mail")]:
        s = client(srv, 1)
        code, m = s.mail(sender)
        s.quit()
        check(code == 554 and m == ("5.7.1 " + reply).encode(),
              "black sender %s: 554 at MAIL" % sender, (code, m))
    # the white address inside the black domain passes
    c0 = count(site, ERIN)
    refused, reply = send(srv, 1, "ok@spam.test", [ERIN], "white in black")
    check(reply[0] == 250 and count(site, ERIN) == c0 + 1,
          "a white address in a black domain is delivered", reply)
    log_has(srv, r"sender <ok@spam\.test> whitelisted by sender "
            r"ok@spam\.test: skips SPF, AV", "white sender: SPF, AV")
    # sender discard: 250 and nothing stored, with or without BDAT
    c0 = counts(site)
    refused, reply = send(srv, 1, "drop@remote.test", [BOB, ERIN],
                          "sender discard")
    check(refused == {} and reply[0] == 250, "discarded sender: 250",
          reply)
    check(counts(site) == c0, "discarded sender: nothing stored",
          counts(site))
    log_has(srv, r"rcpts=2 discarded by sender drop@remote\.test",
            "the sender discard is logged")
    # recipients: carol refused, dave dropped, bob and erin delivered
    c0 = counts(site)
    refused, reply = send(srv, 1, "x@remote.test", [BOB, CAROL, DAVE, ERIN],
                          "recipients")
    check(list(refused) == [CAROL] and refused[CAROL] == (
        554, b"5.7.1 <carol@example.test>: Recipient address rejected: "
        b"blacklisted") and reply[0] == 250,
        "black recipient: 554 at RCPT; the discarded one gets 250",
        (refused, reply))
    check(counts(site) == [c0[0] + 1, c0[1], c0[2], c0[3] + 1],
          "bob and erin got it, dave's copy was dropped", counts(site))
    m = stored(site, ERIN)[-1]
    check(b"Subject: recipients" in m, "erin's copy is the message", m[:300])
    # only dave: accepted, nothing stored
    c0 = counts(site)
    refused, reply = send(srv, 1, "x@remote.test", [DAVE], "only dave")
    check(refused == {} and reply[0] == 250 and counts(site) == c0,
          "a message for a discarded recipient only: 250, nothing stored",
          (reply, counts(site)))
    # skips: bob alone (white recipient) -> SPF, AV; bob + erin -> none
    n0 = len(re.findall(r"whitelisted: skips", srv.smtpd.output()))
    send(srv, 1, "x@remote.test", [BOB, ERIN], "mixed")
    send(srv, 1, "x@remote.test", [BOB], "bob only")
    out = log_has(srv, r"message id=\w+ whitelisted: skips SPF, AV\n",
                  "white recipient only: the message skips SPF, AV")
    check(len(re.findall(r"whitelisted: skips", out)) == n0 + 1,
          "a white and a plain recipient: the message skips nothing", "")
    # domain white: SPF, AV, DKIM, DMARC (subdomain too)
    send(srv, 1, "x@mail.friends.test", [ERIN], "friend")
    log_has(srv, r"sender <x@mail\.friends\.test> whitelisted by domain "
            r"friends\.test: skips SPF, AV, DKIM, DMARC",
            "white domain (a subdomain's sender): SPF, AV, DKIM, DMARC")
    # net white: all but AV; and white beats black for the same client
    site.ctl("acl", "add", "white", "net", "127.0.0.16/30")
    c0 = counts(site)
    refused, reply = send(srv, 17, "x@spam.test", [CAROL, DAVE],
                          "white client")
    check(refused == {} and reply[0] == 250 and
          counts(site) == [c0[0], c0[1] + 1, c0[2] + 1, c0[3]],
          "a white client is not checked against sender or recipient "
          "black lists", (refused, reply, counts(site)))
    log_has(srv, r"client 127\.0\.0\.17 whitelisted by net 127\.0\.0\.16/30:"
            r" skips DNSBL, SPF, DKIM, DMARC", "white net: all but AV")


def case_exempt(srv):
    """LMTP, submission and trusted_networks are never checked."""
    site = srv.site
    s, greet = raw_from(srv, 2, srv.ports["submission"])
    check(greet.startswith("220 "), "[submission] greets a black client",
          greet)
    s.close()
    lm = smtplib.LMTP(HOST, srv.ports["lmtp"], timeout=30,
                      source_address=("127.0.0.2", 0))
    lm.ehlo("lmtp.test")
    c0 = count(site, CAROL)
    lm.sendmail("x@spam.test", [CAROL], msg("lmtp"))
    lm.quit()
    check(count(site, CAROL) == c0 + 1, "LMTP: no list applies", "")
    srv.reconfigure(smtpd={"trusted_networks": "127.0.0.2/32"})
    srv.restart(pop3=False)
    c0 = count(site, CAROL)
    refused, reply = send(srv, 2, "x@spam.test", [CAROL], "trusted")
    check(reply[0] == 250 and count(site, CAROL) == c0 + 1,
          "a trusted_networks client: no list applies", (refused, reply))
    check("ok" in site.ctl("store", "check"), "store check passes", "")


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    for u in USERS:
        site.add_user(u, "pw-" + u)
    srv.start()
    case_ctl(srv)
    case_client(srv)
    case_sender_rcpt(srv)
    case_exempt(srv)
    srv.alive("the tests")
    check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0", "")
    return 0


if __name__ == "__main__":
    main(run)
