"""Outgoing policy (issue 14): per-user limits with domain defaults,
locks that end by themselves and one that does not, the FROM rules, and
`vellumctl user policy|usage|unlock`, `domain policy`.

Every limit is reached through [submission] with AUTH and then reset by
time: vellum-smtpd is restarted under libfaketime, its clock hours or a
day ahead.  The windows are fixed (minute, hour, UTC day).
"""
import json
import smtplib
import subprocess
import time

from daemon import check, main
from mtatest import MtaSite
import smtptest

DOM = "example.test"
ALICE, BOB, CAROL, DAVE = ("alice@example.test", "bob@example.test",
                           "carol@example.test", "dave@example.test")
POSTMASTER = "postmaster@example.test"
ERIN = "erin@example.test"
TRUSTED = "127.0.0.9"
RECS = {"remote.test": [("MX", 10, "mx.remote.test")],
        "mx.remote.test": [("A", "127.0.0.3")]}
PASSWORD = "secret-pw-1"


def msg(subject, sender=ALICE, to=BOB):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Thu, 03 Dec "
            "2026 03:00:00 +0000\r\nMessage-ID: <%s@example.test>\r\n\r\n"
            "hello\r\n" % (sender, to, subject, subject.replace(" ", "-"))
            ).encode()


class Client:
    """One submission session with AUTH (or, with user None, a port 25
    session from source); each step returns (code, text)."""

    def __init__(self, ms, user, password=PASSWORD, source=None):
        if user is None:
            self.s = smtplib.SMTP("127.0.0.1", ms.smtp_port, timeout=30,
                                  source_address=(source, 0))
            self.s.ehlo("client.test")
            return
        self.s = smtplib.SMTP("127.0.0.1", ms.sub_port, timeout=30)
        self.s.ehlo("client.test")
        if self.s.has_extn("starttls"):
            self.s.starttls(context=smtptest.ctx())
            self.s.ehlo("client.test")
        self.s.login(user, password)

    def send(self, sender, rcpts, data):
        """MAIL, RCPTs, DATA: the first reply that is not 250, or the
        DATA reply."""
        code, text = self.s.mail(sender)
        if code != 250:
            self.s.rset()
            return code, text.decode()
        ok = 0
        for r in rcpts:
            code, text = self.s.rcpt(r)
            if code == 250:
                ok += 1
            last = (code, text.decode())
        if ok == 0:
            self.s.rset()
            return last
        code, text = self.s.data(data)
        return code, text.decode()

    def rcpt(self, sender, rcpt):
        self.s.mail(sender)
        code, text = self.s.rcpt(rcpt)
        self.s.rset()
        return code, text.decode()

    def close(self):
        try:
            self.s.quit()
        except Exception:
            pass


def send(ms, user, rcpts, subject, sender=None, data=None, password=PASSWORD,
         source=None):
    c = Client(ms, user, password, source)
    try:
        return c.send(sender or user, rcpts, data or msg(subject, sender or
                                                         user, rcpts[0]))
    finally:
        c.close()


def restart(ms, faketime=None):
    ms.site.stop(ms.procs.pop("smtpd"))
    ms.procs["smtpd"] = ms.site.start("smtpd", faketime=faketime)
    ms.site.wait_port(ms.sub_port, ms.procs["smtpd"])


def usage(ms, addr):
    return json.loads(ms.site.ctl("user", "usage", addr, "--json"))[0]


def policy(ms, *args):
    return {e["setting"]: (e["value"], e["from"]) for e in
            json.loads(ms.site.ctl(*args, "--json"))["settings"]}


def ctl_fails(ms, args, code, says):
    p = subprocess.run([ms.site.binary("vellumctl"), "-d", ms.site.data] +
                       list(args), capture_output=True, text=True)
    check(p.returncode == code and says in p.stderr,
          "%s fails (exit %d) saying %r" % (" ".join(args), code, says),
          (p.returncode, p.stderr))


def wait_minute_start(limit=45):
    """Sleeps until the current minute has room for a few sends."""
    while time.gmtime().tm_sec > limit:
        time.sleep(1)


def case_ctl(ms):
    """Defaults, domain defaults, user settings, '-', errors."""
    p = policy(ms, "user", "policy", ALICE)
    check(p["per-minute"] == ("0", "default") and
          p["lock-time"] == ("1h", "default") and
          p["max-unlocks"] == ("3", "default") and
          p["sender-domain"] == ("none", "default"),
          "user policy shows the built-in defaults", p)
    ms.site.ctl("domain", "policy", DOM, "per-hour", "100", "lock-time",
                "30m", "bytes-per-day", "10M")
    ms.site.ctl("user", "policy", ALICE, "per-hour", "50", "spam-score",
                "6.5")
    p = policy(ms, "user", "policy", ALICE)
    check(p["per-hour"] == ("50", "user") and
          p["lock-time"] == ("30m", "domain") and
          p["bytes-per-day"] == ("10M", "domain") and
          p["spam-score"] == ("6.5", "user"),
          "a user setting wins over the domain's, which wins over the "
          "default", p)
    ms.site.ctl("user", "policy", ALICE, "per-hour", "-", "spam-score", "-")
    p = policy(ms, "user", "policy", ALICE)
    check(p["per-hour"] == ("100", "domain"), "'-' inherits again", p)
    ms.site.ctl("domain", "policy", DOM, "per-hour", "-", "lock-time", "-",
                "bytes-per-day", "-")
    check(policy(ms, "domain", "policy", DOM)["per-hour"] ==
          ("0", "default"), "domain policy '-' too", "")
    for args, code, says in [
            (("user", "policy", ALICE, "per-minuet", "3"), 2,
             "unknown setting 'per-minuet'"),
            (("user", "policy", ALICE, "per-minute", "many"), 2,
             "per-minute 'many': write a whole number"),
            (("user", "policy", ALICE, "lock-time", "1y"), 2,
             "lock-time '1y': write a time"),
            (("user", "policy", ALICE, "per-minute"), 2,
             "'per-minute' has no value"),
            (("user", "policy", "nobody@example.test"), 1,
             "no user nobody@example.test"),
            (("domain", "policy", "nowhere.test", "per-day", "1"), 1,
             "no domain nowhere.test"),
            (("user", "usage"), 2, "give an ADDRESS"),
            (("user", "unlock", "nobody@example.test"), 1, "no user"),
            (("user", "usage", "nowhere.test"), 1,
             "no user, domain or IP address nowhere.test"),
            (("domain", "passwd", "nowhere.test", "--clear"), 1,
             "no domain nowhere.test"),
    ]:
        ctl_fails(ms, args, code, says)
    u = usage(ms, ALICE)
    check(u["sent_today"] == 0 and not u["locked"],
          "usage of a user who sent nothing", u)


def case_rate_no_lock(ms):
    """per-minute with lock-time 0: 451 until the next minute, then ok."""
    ms.site.ctl("user", "policy", BOB, "per-minute", "2", "lock-time", "0")
    wait_minute_start()
    for i in range(2):
        r = send(ms, BOB, [CAROL], "bob rate %d" % i)
        check(r[0] == 250, "message %d within the rate" % i, r)
    r = send(ms, BOB, [CAROL], "bob rate 2")
    check(r[0] == 451 and "4.7.1" in r[1] and
          "more than 2 messages in a minute; try again after" in r[1],
          "the third message in a minute gets 451 with when", r)
    u = usage(ms, BOB)
    check(u["sent_today"] == 2 and u["this_minute"] == 2 and
          not u["locked"], "usage: 2 sent, not locked", u)
    restart(ms, faketime="+2m")
    r = send(ms, BOB, [CAROL], "bob rate 3")
    check(r[0] == 250, "a minute later the rate allows it again", r)
    restart(ms)


def case_lock(ms):
    """per-hour with a lock: temporary lock, automatic unlock, then a
    permanent one, the notices, and vellumctl user unlock."""
    ms.site.ctl("user", "policy", ALICE, "per-hour", "2", "lock-time",
                "1h", "max-unlocks", "1", "notify-user", "yes")
    notices = len(smtptest.stored(ms.site, POSTMASTER))
    for i in range(2):
        r = send(ms, ALICE, [BOB], "alice %d" % i)
        check(r[0] == 250, "alice's message %d" % i, r)
    r = send(ms, ALICE, [BOB], "alice 2")
    check(r[0] == 451 and "Sending is locked until" in r[1] and
          "more than 2 messages in an hour" in r[1],
          "exceeding per-hour locks alice (451, until when, why)", r)
    r = send(ms, ALICE, [BOB], "alice 3")
    check(r[0] == 451 and "Sending is locked until" in r[1],
          "while locked, MAIL FROM is refused", r)
    u = usage(ms, ALICE)
    check(u["locked"] and u["locks"] == 1 and u["locked_until"] and
          "more than 2 messages in an hour" in u["reason"],
          "usage shows the lock", u)
    pm = smtptest.stored(ms.site, POSTMASTER)
    check(len(pm) == notices + 1 and b"Subject: Outgoing mail of a user "
          b"locked" in pm[-1] and ALICE.encode() in pm[-1] and
          b"vellumctl user unlock" in pm[-1],
          "the postmaster got a notice", pm[-1:])
    al = smtptest.stored(ms.site, ALICE)
    check(any(b"Your outgoing mail is locked" in m for m in al),
          "notify-user: alice got one too", len(al))
    # Two hours later the lock has run out: an automatic unlock.
    restart(ms, faketime="+2h")
    for i in range(2):
        r = send(ms, ALICE, [BOB], "alice later %d" % i)
        check(r[0] == 250, "after the lock, message %d" % i, r)
    r = send(ms, ALICE, [BOB], "alice later 2")
    check(r[0] == 550 and "5.7.1" in r[1] and
          "until an administrator unlocks it" in r[1],
          "after max-unlocks automatic unlocks the lock is permanent "
          "(550)", r)
    restart(ms, faketime="+3d")
    r = send(ms, ALICE, [BOB], "alice days later")
    check(r[0] == 550, "days later still locked", r)
    restart(ms)
    out = ms.site.ctl("user", "unlock", ALICE)
    check("unlocked" in out, "user unlock", out)
    u = usage(ms, ALICE)
    check(not u["locked"] and u["automatic_unlocks"] == 0 and
          u["sent_today"] == 0, "usage after unlock", u)
    r = send(ms, ALICE, [BOB], "alice unlocked")
    check(r[0] == 250, "alice sends again after unlock", r)
    out = ms.site.ctl("user", "unlock", ALICE)
    check("was not locked" in out, "unlock of an unlocked user says so",
          out)


def case_daily(ms):
    """recipients-per-day (distinct), per-day, bytes-per-day; reset the
    next day."""
    ms.site.ctl("user", "policy", CAROL, "recipients-per-day", "3",
                "lock-time", "0")
    r = send(ms, CAROL, [ALICE, BOB], "carol 1")
    check(r[0] == 250, "2 recipients", r)
    r = send(ms, CAROL, [ALICE, BOB, DAVE], "carol 2")
    check(r[0] == 250, "the same 2 and a third: 3 distinct", r)
    r = send(ms, CAROL, [POSTMASTER], "carol 3")
    check(r[0] == 451 and "more than 3 recipients today" in r[1],
          "a fourth distinct recipient is refused", r)
    r = send(ms, CAROL, [BOB], "carol 4")
    check(r[0] == 250, "one already counted still goes", r)
    u = usage(ms, CAROL)
    check(u["recipients_today"] == 3 and u["sent_today"] == 3,
          "usage counts 3 recipients, 3 messages", u)
    restart(ms, faketime="+1d")
    r = send(ms, CAROL, [POSTMASTER], "carol tomorrow")
    check(r[0] == 250, "the next day the count starts again", r)
    restart(ms)
    ms.site.ctl("user", "policy", CAROL, "recipients-per-day", "-",
                "per-day", "1", "bytes-per-day", "1K")
    ms.site.ctl("user", "unlock", CAROL)
    r = send(ms, CAROL, [BOB], "carol big", data=msg("carol big", CAROL, BOB)
             + b"x" * 2000 + b"\r\n")
    check(r[0] == 451 and "more than 1K bytes today" in r[1],
          "bytes-per-day", r)
    r = send(ms, CAROL, [BOB], "carol small")
    check(r[0] == 250, "a small one fits", r)
    r = send(ms, CAROL, [BOB], "carol second")
    check(r[0] == 451 and "more than 1 messages today" in r[1],
          "per-day", r)
    restart(ms, faketime="+1d")
    r = send(ms, CAROL, [BOB], "carol next day")
    check(r[0] == 250, "per-day and bytes-per-day start again the next "
          "day", r)
    restart(ms)
    ms.site.ctl("user", "policy", CAROL, "per-day", "-", "bytes-per-day",
                "-")


def case_invalid(ms):
    """Unknown local recipients count per day and lock at the limit."""
    ms.site.ctl("user", "policy", DAVE, "invalid-per-day", "2")
    c = Client(ms, DAVE)
    try:
        r = c.send(DAVE, ["nobody1@example.test", BOB], msg("dave 1", DAVE))
        check(r[0] == 250, "one unknown, one known recipient", r)
        r = c.rcpt(DAVE, "nobody2@example.test")
        check(r[0] == 550, "another unknown", r)
        r = c.rcpt(DAVE, BOB)
        check(r[0] == 550 and "too many unknown recipients today" in r[1],
              "at the limit further recipients are refused", r)
    finally:
        c.close()
    # The session's last unknown recipient is counted when it ends.
    end = time.time() + 10
    while usage(ms, DAVE)["invalid_today"] < 2 and time.time() < end:
        time.sleep(0.05)
    r = send(ms, DAVE, [BOB], "dave 2")
    check(r[0] == 451 and "Sending is locked" in r[1] and
          "unknown recipients today" in r[1],
          "the next message locks dave", r)
    check(usage(ms, DAVE)["invalid_today"] == 2, "usage: 2 invalid",
          usage(ms, DAVE))
    ms.site.ctl("user", "unlock", DAVE)
    ms.site.ctl("user", "policy", DAVE, "invalid-per-day", "-")


def case_from_rules(ms):
    """sender-domain (envelope and From:) and valid-sender."""
    ms.site.ctl("domain", "policy", DOM, "sender-domain", DOM)
    r = send(ms, BOB, [CAROL], "bob other", sender="bob@elsewhere.test")
    check(r[0] == 553 and "may only send as an address of example.test"
          in r[1], "an envelope sender of another domain is refused", r)
    r = send(ms, BOB, [CAROL], "bob hdr",
             data=msg("bob hdr", sender="bob@elsewhere.test", to=CAROL))
    check(r[0] == 550 and "From: header must name an address of "
          "example.test" in r[1], "a From: of another domain is refused",
          r)
    r = send(ms, BOB, [CAROL], "bob fine")
    check(r[0] == 250, "sender and From: in the domain go", r)
    ms.site.ctl("user", "policy", BOB, "valid-sender", "yes")
    r = send(ms, BOB, [CAROL], "bob ghost", sender="ghost@example.test",
             data=msg("bob ghost", sender="ghost@example.test", to=CAROL))
    check(r[0] == 553 and "not an existing address" in r[1],
          "valid-sender: an address that does not exist is refused", r)
    ms.site.ctl("domain", "policy", DOM, "sender-domain", "-")
    ms.site.ctl("user", "policy", BOB, "valid-sender", "-")
    u = json.loads(ms.site.ctl("user", "usage", "--domain", DOM, "--json"))
    check(sorted(x["sender"] for x in u) ==
          sorted([ALICE, BOB, CAROL, DAVE, ERIN, POSTMASTER]),
          "usage --domain lists the domain's users", u)
    check("ok" in ms.site.ctl("store", "check"), "store check passes", "")


def with_attachment(subject, name, size, sender=ALICE, to=BOB):
    """A multipart/mixed message with a base64 attachment of size bytes."""
    import base64
    body = base64.encodebytes(bytes(range(256)) * (size // 256) +
                              bytes(size % 256)).replace(b"\n", b"\r\n")
    return (("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Thu, 03 "
             "Dec 2026 03:00:00 +0000\r\nMessage-ID: <%s@example.test>\r\n"
             "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
             "boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n"
             "\r\nsee attached\r\n--b1\r\nContent-Type: application/pdf; "
             "name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\""
             "\r\nContent-Transfer-Encoding: base64\r\n\r\n" %
             (sender, to, subject, subject.replace(" ", "-"), name, name)
             ).encode() + body + b"--b1--\r\n")


def case_attachment(ms):
    """attachment-size: the decoded size of each attachment, not the
    message's; the refusal names the file and is not a lock."""
    ms.site.ctl("domain", "policy", DOM, "attachment-size", "100K")
    before = usage(ms, CAROL)
    r = send(ms, CAROL, [BOB], "carol big",
             data=with_attachment("carol big", "report.pdf", 100 * 1024 + 1,
                                  sender=CAROL))
    check(r[0] == 552 and "5.3.4" in r[1] and "report.pdf" in r[1] and
          "102401 bytes" in r[1] and "100K" in r[1],
          "an attachment one byte over the limit is refused (552 5.3.4, "
          "named)", r)
    # base64 of exactly 100K is about 137K on the wire: the decoded size
    # counts, so it goes.
    r = send(ms, CAROL, [BOB], "carol exact",
             data=with_attachment("carol exact", "fits.pdf", 100 * 1024,
                                  sender=CAROL))
    check(r[0] == 250, "an attachment of exactly the limit goes", r)
    got = smtptest.stored(ms.site, BOB)
    check(any(b"carol exact" in m for m in got) and
          not any(b"carol big" in m for m in got),
          "only the message within the limit was delivered", len(got))
    u = usage(ms, CAROL)
    check(not u["locked"] and u["sent_today"] == before["sent_today"] + 1,
          "the refusal neither locks nor counts as sent", u)
    ms.site.ctl("user", "policy", CAROL, "attachment-size", "0")
    r = send(ms, CAROL, [BOB], "carol unlimited",
             data=with_attachment("carol unlimited", "big.bin", 300 * 1024,
                                  sender=CAROL))
    check(r[0] == 250, "the user's 0 (no limit) overrides the domain's", r)
    ms.site.ctl("user", "policy", CAROL, "attachment-size", "-")
    ms.site.ctl("domain", "policy", DOM, "attachment-size", "-")


def case_remote_5xx(ms, sink):
    """Recipients a remote server refuses for good (5xx) count toward
    invalid-per-day: the second locks the sender."""
    ms.site.ctl("user", "policy", ERIN, "invalid-per-day", "2")
    for a in ("x1@remote.test", "x2@remote.test"):
        sink.handler.rcpt[a] = ["550 5.1.1 <%s>: no such user here" % a]
    notices = len(smtptest.stored(ms.site, POSTMASTER))
    r = send(ms, ERIN, ["x1@remote.test", "x2@remote.test",
                        "ok@remote.test"], "erin remote")
    check(r[0] == 250, "the message is accepted for the queue", r)
    sink.wait(1)
    ms.wait_queue_empty()
    end = time.time() + 10
    while not usage(ms, ERIN)["locked"] and time.time() < end:
        time.sleep(0.1)
    u = usage(ms, ERIN)
    check(u["locked"] and u["invalid_today"] == 2 and
          "2 unknown recipients today" in u["reason"],
          "two remote 5xx lock erin", u)
    end = time.time() + 10
    while len(smtptest.stored(ms.site, POSTMASTER)) == notices and \
            time.time() < end:
        time.sleep(0.1)
    pm = smtptest.stored(ms.site, POSTMASTER)
    check(len(pm) == notices + 1 and ERIN.encode() in pm[-1],
          "the postmaster got a notice from the agent", len(pm))
    r = send(ms, ERIN, [BOB], "erin locked")
    check(r[0] == 451 and "Sending is locked" in r[1],
          "erin's next message is refused", r)
    ms.site.ctl("user", "unlock", ERIN)


def case_domain_login(ms):
    """A domain login (domain + password) sends as any address of the
    domain, only those, under the domain's policy and counters."""
    p = subprocess.run([ms.site.binary("vellumctl"), "-d", ms.site.data,
                        "domain", "passwd", DOM], input="dom-pw-9\n",
                       capture_output=True, text=True)
    check(p.returncode == 0 and "domain login password set" in p.stdout,
          "domain passwd", (p.returncode, p.stdout, p.stderr))
    r = send(ms, DOM, [BOB], "dom 1", sender="newsletter@example.test",
             password="dom-pw-9")
    check(r[0] == 250, "a domain login sends as any address of it", r)
    r = send(ms, DOM, [BOB], "dom 2", sender="x@remote.test",
             password="dom-pw-9")
    check(r[0] == 553 and "not owned by user example.test" in r[1],
          "but not as another domain's", r)
    ms.site.ctl("domain", "policy", DOM, "per-hour", "1", "lock-time", "0")
    r = send(ms, DOM, [BOB], "dom 3", sender="info@example.test",
             password="dom-pw-9")
    check(r[0] == 451 and "more than 1 messages in an hour" in r[1] and
          "<example.test>" in r[1],
          "the domain's own policy and counters apply", r)
    u = usage(ms, DOM)
    check(u["kind"] == "domain" and u["sent_today"] == 1,
          "usage of the domain login", u)
    try:
        send(ms, DOM, [BOB], "dom 4", password="wrong")
        check(False, "a wrong domain password is refused", "")
    except smtplib.SMTPAuthenticationError:
        pass
    ms.site.ctl("domain", "policy", DOM, "per-hour", "-", "lock-time", "-")
    ms.site.ctl("domain", "passwd", DOM, "--clear")
    try:
        send(ms, DOM, [BOB], "dom 5", password="dom-pw-9")
        check(False, "no domain login after --clear", "")
    except smtplib.SMTPAuthenticationError:
        pass


def case_trusted_host(ms):
    """A client of trusted_networks, without a login: counted by its
    address, with the defaults of its sender's domain."""
    ms.site.ctl("domain", "policy", DOM, "per-day", "1", "lock-time", "0")
    r = send(ms, None, [BOB], "host 1", sender="web@example.test",
             source=TRUSTED)
    check(r[0] == 250, "the trusted host's first message", r)
    r = send(ms, None, ["someone@remote.test"], "host 2",
             sender="web@example.test", source=TRUSTED)
    check(r[0] == 451 and "more than 1 messages today" in r[1] and
          "[%s]" % TRUSTED in r[1], "its second is over per-day", r)
    u = usage(ms, TRUSTED)
    check(u["kind"] == "host" and u["sender"] == "[%s]" % TRUSTED and
          u["sent_today"] == 1, "usage of the host", u)
    r = send(ms, None, [BOB], "other 1", sender="x@remote.test",
             source="127.0.0.1")
    check(r[0] == 250, "an untrusted client is not counted", r)
    ms.site.ctl("domain", "policy", DOM, "per-day", "-", "lock-time", "-")
    out = ms.site.ctl("user", "unlock", TRUSTED)
    check("[%s] was not locked" % TRUSTED in out, "unlock by address", out)


def run(site, args):
    ms = MtaSite(site.build, extra_sections={
        "smtpd": {"trusted_networks": TRUSTED + "/32"}})
    with ms:
        ms.dns(RECS)
        sink = ms.sink("127.0.0.3")
        for u in (ALICE, BOB, CAROL, DAVE, ERIN, POSTMASTER):
            ms.site.add_user(u, PASSWORD)
        case_ctl(ms)
        ms.start()
        ms.site.wait_port(ms.sub_port, ms.procs["smtpd"])
        for c in (case_rate_no_lock, case_lock, case_daily, case_invalid,
                  case_from_rules, case_attachment, case_domain_login,
                  case_trusted_host):
            t0 = time.time()
            c(ms)
            print("ok %s (%.1f s)" % (c.__name__, time.time() - t0))
        t0 = time.time()
        case_remote_5xx(ms, sink)
        print("ok case_remote_5xx (%.1f s)" % (time.time() - t0))
    return 0


if __name__ == "__main__":
    main(run)
