#!/usr/bin/env python3
"""The issue's global recipe against the real SpamAssassin (issue 11):
spamd started by the fixture tests/integration/spamd.py on 127.0.0.1 on a
free port, the recipe stored with `vellumctl filter set --global` exactly
as the issue gives it, except that spamc gets `-d 127.0.0.1 -p PORT`:
spamc has no other way to find a spamd on a test port (its default is
localhost:783, and a test never uses a fixed port).

  - GTUBE (score 1000) is discarded: 250 to the client, nothing stored,
    "discarded" in vellum-smtpd's log;
  - a ham message lands in INBOX as spamd wrote it (its X-Spam-Status:
    No, ... header; no X-Spam-Flag: YES).

The recipe reads `X-Spam-Score:`, a header SpamAssassin adds only when its
configuration says `add_header all Score _SCORE_` (the stock rules add
X-Spam-Flag and X-Spam-Status, not X-Spam-Score): sites running the
issue's recipe have that line, and so does the spamd the fixture starts
here (the test adds the line to the local.cf of the fixture's spamd:
without it the recipe files GTUBE into Spam instead of discarding it).

Skipped (77) only when spamd or spamc are not installed.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import SKIP, Failure, check, main  # noqa: E402
from filtertest import open_dirs, set_filter, subjects, wait_log  # noqa
from smtptest import SmtpSite, require_smtpd, sent_ok, stored  # noqa: E402

RECIPE = """if ($SIZE < 131072)
{
  exception {
    xfilter "/usr/bin/spamc -d 127.0.0.1 -p @PORT@ -u $RECIPIENT"
  }
}
DELETE_THRESHOLD=10.0
if (/^X-Spam-Flag: YES/)
{
  /X-Spam-Score: (\\d+)/
  if ($MATCH1 >= $DELETE_THRESHOLD)
  {
    to /dev/null
  }
  else
  {
    to Mail/.Spam/
  }
}
"""

GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C"
         ".34X")

SCORE_CF = "add_header all Score _SCORE_\n"


def msg(subject, body):
    return ("From: Sender <sender@remote.test>\r\nTo: a@example.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@remote.test>\r\n"
            "Date: Wed, 02 Dec 2026 01:00:00 +0000\r\n\r\n%s\r\n" % (
                subject, subject.replace(" ", "-"), body)).encode()


def start_spamd(site):
    """The fixture's spamd, its local.cf with the Score header added."""
    try:
        import spamd
    except ImportError:
        raise Failure("tests/integration/spamd.py (the spamd fixture) is "
                      "missing")

    class ScoredSpamd(spamd.Spamd):
        def _setup(self):
            super()._setup()
            with open(os.path.join(self.site, "local.cf"), "a") as f:
                f.write(SCORE_CF)

    sd = ScoredSpamd()
    try:
        sd.start()
    except spamd.SpamdError as e:
        raise Failure(str(e))
    return sd, sd.port


def test(site, args):
    for prog in ("/usr/sbin/spamd", "/usr/bin/spamc"):
        if not os.access(prog, os.X_OK):
            print("SKIP: %s is not installed" % prog)
            return SKIP
    rc = require_smtpd(site)
    if rc:
        return rc
    open_dirs(site)
    sd, port = start_spamd(site)
    try:
        srv = SmtpSite(site, more={"filter": {"user": "nobody"}})
        a = "a@example.test"
        site.add_user("postmaster@example.test", "pw")
        site.add_user(a, "pw")
        set_filter(site, "--global", RECIPE.replace("@PORT@", str(port)))
        srv.start(pop3=False)
        s = srv.smtp()
        sent_ok(s, "sender@remote.test", [a], msg(
            "gtube", "This is the GTUBE, the\r\n" + GTUBE + "\r\n"),
            "GTUBE to a")
        sent_ok(s, "sender@remote.test", [a], msg(
            "lunch on friday", "Hi,\r\n\r\nare we still on for lunch on "
            "Friday at noon? The usual place.\r\n\r\nCheers,\r\nSam"),
            "a ham message to a")
        s.quit()
        inbox = stored(site, a)
        check(len(inbox) == 1 and b"Subject: lunch on friday" in inbox[0],
              "only the ham message is in INBOX", subjects(site, a))
        head = inbox[0].split(b"\r\n\r\n", 1)[0]
        check(b"\r\nX-Spam-Status: No, score=" in head and
              b"X-Spam-Flag: YES" not in head,
              "the ham is stored as spamd wrote it (X-Spam-Status: No)",
              head)
        check(subjects(site, a, "Spam") == [], "GTUBE is not in Spam "
              "(score 1000 >= 10: discarded)", subjects(site, a, "Spam"))
        wait_log(srv.smtpd, "filter " + a + ":", "discarded")
        srv.alive("the spamd deliveries")
        check(srv.stop() == 0, "vellum-smtpd exits 0 on SIGTERM",
              srv.smtpd.output()[-2000:])
    finally:
        sd.stop()
    return 0


if __name__ == "__main__":
    main(test)
