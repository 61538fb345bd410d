"""BATV round trip (issue 14): vellum-mta signs the envelope sender of a
domain with `vellumctl domain set D batv yes` (MAIL FROM:<prvs=...>), a
bounce to that tagged address is taken and delivered to the user, and
bounces (MAIL FROM:<>) to untagged, forged or expired addresses of that
domain are refused with 553 5.7.1.  Forwards keep their SRS sender; the
agent's own notices reach the untagged sender.  With BATV off untagged
bounces are taken as before.  Expiry is proved with the smtpd's clock
moved by libfaketime (the tag itself comes from the real agent: the
test never sees the secret).
"""
import json
import re
import smtplib
import subprocess
import time

from daemon import Failure, check, main
from mtatest import MtaSite, run_cases
import smtptest

USER = "alice@example.test"
PASSWORD = "secret-pw-1"
TAG_RE = re.compile(r"^prvs=0(\d{3})([0-9a-f]{6})=alice@example\.test$")


def msg(subject, sender=USER, to="bob@remote.test"):
    return (b"From: <" + sender.encode() + b">\r\nTo: <" + to.encode() +
            b">\r\nSubject: " + subject.encode() +
            b"\r\nMessage-ID: <" + subject.replace(" ", "-").encode() +
            b"@example.test>\r\n\r\nhello\r\n")


def bounce(subject):
    return (b"From: MAILER-DAEMON@remote.test\r\nTo: <" + USER.encode() +
            b">\r\nSubject: " + subject.encode() +
            b"\r\n\r\nUndelivered mail returned to sender\r\n")


def rcpt(ms, sender, addr):
    """(code, text) of RCPT TO:<addr> after MAIL FROM:<sender> on port
    25; nothing is sent."""
    s = smtplib.SMTP("127.0.0.1", ms.smtp_port, timeout=30)
    try:
        s.ehlo("remote.test")
        code, text = s.mail(sender)
        check(code == 250, "MAIL FROM:<%s> taken" % sender, (code, text))
        code, text = s.rcpt(addr)
        s.rset()
        return code, text.decode("utf-8", "replace")
    finally:
        s.quit()


def refused(ms, sender, addr, want):
    code, text = rcpt(ms, sender, addr)
    check(code == 553 and text.startswith("5.7.1") and want in text,
          "a bounce to <%s> is refused: 553 5.7.1 ...%s" % (addr, want),
          (code, text))
    return text


def subjects(ms, address=USER):
    out = []
    for raw in smtptest.stored(ms.site, address):
        m = re.search(rb"(?mi)^Subject: (.*?)\r?$", raw)
        out.append(m.group(1).decode() if m else "")
    return out


def wait_subject(ms, subject, address=USER, timeout=20.0):
    end = time.time() + timeout
    got = []
    while time.time() < end:
        got = subjects(ms, address)
        if any(subject in s for s in got):
            return got
        time.sleep(0.1)
    raise Failure("no message '%s' in %s's INBOX: %r" % (subject, address,
                                                         got))


def site(build):
    ms = MtaSite(build)
    ms.dns({"remote.test": [("MX", 10, "mx.remote.test")],
            "mx.remote.test": [("A", "127.0.0.3")],
            "origin.test": [("MX", 10, "mx.origin.test")],
            "mx.origin.test": [("A", "127.0.0.4")]})
    ms.site.add_user(USER, PASSWORD)
    return ms


def restart_smtpd(ms, faketime=None):
    ms.site.stop(ms.procs.pop("smtpd"))
    ms.procs["smtpd"] = ms.site.start("smtpd", faketime=faketime)
    ms.site.wait_port(ms.smtp_port, ms.procs["smtpd"])


def case_round_trip(build):
    """BATV on: the sender leaves tagged; bounces need a valid tag."""
    with site(build) as ms:
        remote = ms.sink("127.0.0.3")
        origin = ms.sink("127.0.0.4")
        out = ms.site.ctl("domain", "set", "example.test", "batv", "yes")
        check("batv yes" in out, "domain set says what it set", out)
        ms.start()

        ms.submit(USER, PASSWORD, ["bob@remote.test"], msg("first"))
        got = remote.wait(1)
        tag = got[0]["from"]
        m = TAG_RE.match(tag)
        check(m is not None, "the sender left with a prvs= tag", tag)
        today = int(time.time()) // 86400
        check(int(m.group(1)) in ((today + 7) % 1000, (today + 8) % 1000),
              "the tag's day is today + 7 (mod 1000)", (tag, today))
        check(b"Subject: first" in got[0]["data"],
              "the message went as it was", got[0]["data"][:300])

        # The remote's bounce to the tagged address reaches alice.
        ms.smtp("", [tag], bounce("bounce one"))
        wait_subject(ms, "bounce one")
        log = ms.procs["smtpd"].output()
        check(re.search(r"conn \d+: <%s>: valid BATV tag, delivered as "
                        r"<alice@example\.test>" % re.escape(tag), log),
              "the accepted tag is logged with the session", log[-2000:])
        # Case changed in transit: still ours.
        ms.smtp("", [tag.upper()], bounce("bounce upper"))
        wait_subject(ms, "bounce upper")
        # A non-bounce to the tagged address is delivered too.
        ms.smtp("carol@origin.test", [tag], bounce("reply to tag"))
        wait_subject(ms, "reply to tag")

        # Bounces without a good tag.
        text = refused(ms, "", USER, "BATV")
        check("sent no mail" in text, "the untagged refusal says why",
              text)
        forged = tag[:12] + ("0" if tag[12] != "0" else "1") + tag[13:]
        refused(ms, "", forged, "invalid or expired BATV tag")
        # A past day with the hash of today's tag: does not check.
        past = "prvs=0%03d%s=alice@example.test" % ((today - 1) % 1000,
                                                    m.group(2))
        refused(ms, "", past, "invalid or expired BATV tag")
        # another address's tag moved onto alice
        refused(ms, "", "prvs=0%s%s=alice@example.test" % (
            m.group(1), "abcdef" if m.group(2) != "abcdef" else "fedcba"),
            "invalid or expired BATV tag")
        log = ms.procs["smtpd"].output()
        check(re.search(r"conn \d+: failed command from 127\.0\.0\.1: 553 "
                        r"5\.7\.1 <alice@example\.test>: bounce", log),
              "refusals are logged with the session", log[-2000:])
        # Mail from a real sender to the untagged address still works.
        ms.smtp("carol@origin.test", [USER], bounce("plain mail"))
        wait_subject(ms, "plain mail")
        # A forged tag from a real sender: an unknown address.
        code, text = rcpt(ms, "carol@origin.test", forged)
        check(code == 550 and text.startswith("5.1.1"),
              "a bad tag from a real sender is an unknown address",
              (code, text))

        # A forward keeps its SRS sender (no prvs= on top of it).
        ms.site.ctl("addr", "add", "fwd@example.test", "far@remote.test")
        ms.smtp("someone@origin.test", ["fwd@example.test"],
                msg("forward me", sender="someone@origin.test",
                    to="fwd@example.test"))
        got = remote.wait(2)
        check(re.match(r"(?i)^SRS0=[^=]+=[^=]+=origin\.test=someone@"
                       r"example\.test$", got[1]["from"]) is not None,
              "a forward leaves with its SRS sender, untagged",
              got[1]["from"])

        # The agent's own notice of a refused message reaches alice,
        # untagged, from <>.
        remote.handler.rcpt["nope@remote.test"] = ["550 5.1.1 no such user"]
        ms.submit(USER, PASSWORD, ["nope@remote.test"], msg("refused one",
                                                            to="nope@"
                                                            "remote.test"))
        wait_subject(ms, "Undelivered")
        raws = smtptest.stored(ms.site, USER)
        notice = [r for r in raws if b"no such user" in r]
        check(notice and re.search(rb"(?mi)^Return-Path: <>", notice[0]),
              "the agent's notice came from <> into alice's INBOX",
              [r[:300] for r in raws])
        ms.wait_queue_empty()
        check(origin.got == [], "nothing went to origin.test",
              origin.got)

        # Expiry: the smtpd's clock 6 days on takes the tag, 8 days on
        # (past its day) refuses it; 20 days on too.
        restart_smtpd(ms, faketime="+6d")
        ms.smtp("", [tag], bounce("six days later"))
        wait_subject(ms, "six days later")
        restart_smtpd(ms, faketime="+8d")
        text = refused(ms, "", tag, "invalid or expired BATV tag")
        check("expired" in text, "the refusal says expired", text)
        restart_smtpd(ms, faketime="+20d")
        refused(ms, "", tag, "invalid or expired BATV tag")


def case_off(build):
    """BATV off (the default): senders leave untagged, untagged bounces
    are taken; a tag made while it was on still leads home; a bad tag is
    an unknown address."""
    with site(build) as ms:
        remote = ms.sink("127.0.0.3")
        ms.start()
        ms.submit(USER, PASSWORD, ["bob@remote.test"], msg("untagged"))
        got = remote.wait(1)
        check(got[0]["from"] == USER, "BATV off: the sender is kept",
              got[0]["from"])
        ms.smtp("", [USER], bounce("untagged bounce"))
        wait_subject(ms, "untagged bounce")

        ms.site.ctl("domain", "set", "example.test", "batv", "yes")
        ms.submit(USER, PASSWORD, ["bob@remote.test"], msg("tagged"))
        got = remote.wait(2)
        tag = got[1]["from"]
        check(TAG_RE.match(tag), "turned on: the next message is tagged",
              tag)
        ms.site.ctl("domain", "set", "example.test", "batv", "no")
        ms.smtp("", [tag], bounce("late bounce"))
        wait_subject(ms, "late bounce")
        ms.smtp("", [USER], bounce("untagged again"))
        wait_subject(ms, "untagged again")
        forged = tag[:12] + ("0" if tag[12] != "0" else "1") + tag[13:]
        code, text = rcpt(ms, "", forged)
        check(code == 550 and text.startswith("5.1.1"),
              "BATV off: a bad tag is an unknown address", (code, text))
        ms.wait_queue_empty()


def case_vellumctl(build):
    """domain set ... batv: yes/no, errors; domain list shows it."""
    with site(build) as ms:
        ctl = ms.site.ctl
        ctl("domain", "alias", "alias.test", "example.test")
        doms = {d["name"]: d for d in json.loads(ctl("--json", "domain",
                                                     "list"))}
        check(doms["example.test"]["batv"] is False,
              "batv is off by default", doms)
        ctl("domain", "set", "example.test", "batv", "yes")
        doms = {d["name"]: d for d in json.loads(ctl("--json", "domain",
                                                     "list"))}
        check(doms["example.test"]["batv"] is True and
              doms["alias.test"]["batv"] is False,
              "domain list --json shows batv", doms)
        out = ctl("domain", "list")
        check("example.test\tbatv" in out, "domain list shows batv", out)
        ctl("domain", "set", "example.test", "sender-login-match", "yes")
        out = ctl("domain", "list")
        check("example.test\tsender-login-match batv" in out,
              "domain list shows both settings", out)
        for args, code, want in (
                (("example.test", "batv", "maybe"), 2,
                 "batv takes yes or no"),
                (("example.test", "batv"), 2, "usage"),
                (("missing.test", "batv", "yes"), 1, "no domain"),
                (("alias.test", "batv", "yes"), 1, "alias of"),
                (("example.test", "bat", "yes"), 2, "unknown setting")):
            r = subprocess.run([ms.site.binary("vellumctl"), "-d",
                                ms.site.data, "domain", "set"] +
                               list(args), capture_output=True)
            err = r.stderr.decode()
            check(r.returncode == code and want in err,
                  "domain set %s: exit %d, says '%s'" % (
                      " ".join(args), code, want), (r.returncode, err))
        ctl("domain", "set", "example.test", "batv", "no")
        out = ctl("domain", "list")
        check("batv" not in out, "batv no turns it off", out)
        # vellumctl addr resolve explains a bounce's refusal
        ctl("domain", "set", "example.test", "batv", "yes")
        out = ctl("addr", "resolve", USER, "--from", "")
        check("553 5.7.1" in out and "BATV" in out,
              "addr resolve --from '' tells the BATV refusal", out)


CASES = [case_vellumctl, case_round_trip, case_off]


def run(site, args):
    return run_cases(site.build, CASES, "BATV_CASE")


if __name__ == "__main__":
    main(run)
