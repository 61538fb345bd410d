#!/usr/bin/env python3
"""Spam training (issue 11): [filter] learn_spam / learn_ham pointed at a
recorder script; vellum-imapd (and vellum-fs) queue the training when a
message goes into or out of Spam, vellum-smtpd drains the queue through
the filter runner.

  - IMAP MOVE into Spam runs learn_spam once, with the exact stored
    message on stdin, as the user's mapped account (unix-user nobody:
    uid 65534); COPY into Spam does too;
  - MOVE from Spam back to INBOX runs learn_ham;
  - MOVE between two ordinary folders runs nothing, nor does a MOVE from
    Spam into Trash (seen by order: the queue is drained oldest first, so
    once a later move into Spam is recorded, the earlier one would have
    been);
  - an unmapped user's training runs as the [filter] user (daemon: uid 1);
  - a rename in the file view (vellum-fs) from .Archive into .Spam runs
    learn_spam too; that part is skipped (said so) without a usable
    /dev/fuse or vellum-fs.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import check  # noqa: E402
from filtertest import open_dirs, script, wait_for, wait_log  # noqa
from fstest import FsSite, fuse_usable  # noqa: E402
from smtptest import stored  # noqa: E402

U = "learner@example.test"
U2 = "unmapped@example.test"

LEARN = r"""#!/bin/sh
# Records one training run in files of its own (runs are made by several
# accounts): the message it got, then its kind and uid.
f=@OUT@/learn-$(date +%s%N)-$$
cat > "$f.msg"
echo "$1|$(id -u)" > "$f.part"
mv "$f.part" "$f.run"
"""


def msg(subject):
    return ("From: a@remote.test\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\nbody of %s\r\n" % (
                U, subject, subject.replace(" ", "-"), subject)).encode()


def runs(site):
    """[(kind, uid, message bytes)] of the recorded runs, in order."""
    out = []
    d = site.path("out")
    for name in sorted(n for n in os.listdir(d) if n.endswith(".run")):
        with open(os.path.join(d, name)) as f:
            kind, uid = f.read().strip().split("|")
        with open(os.path.join(d, name[:-4] + ".msg"), "rb") as f:
            out.append((kind, uid, f.read()))
    return out


def wait_runs(site, smtpd, n, what):
    return wait_for(lambda: len(runs(site)) >= n and runs(site),
                    "%s: %d training runs recorded" % (what, n),
                    lambda: ([r[:2] for r in runs(site)],
                             smtpd.output()[-2000:]))


def uid_of(m, subject):
    typ, data = m.uid("SEARCH", "HEADER", "Subject", subject)
    check(typ == "OK" and data[0].split(), "SEARCH finds %r" % subject,
          data)
    return data[0].split()[0].decode()


def in_folder(site, folder, subject):
    got = [m for m in stored(site, U, folder) if
           b"\r\nSubject: %s\r\n" % subject.encode() in m]
    check(len(got) == 1, "%r is in %s once" % (subject, folder),
          [m[:200] for m in stored(site, U, folder)])
    return got[0]


def test(site, args):
    if not site.have("smtpd") or not site.have("imapd"):
        raise daemon.Failure("vellum-smtpd and vellum-imapd must be built")
    bindir, _ = open_dirs(site)
    learn = script(site, "learn", LEARN)
    site.write_fs_conf(smtp=True, sections={"filter": {
        "user": "daemon", "learn_spam": learn + " spam",
        "learn_ham": learn + " ham"}})
    site.add_user("postmaster@example.test", "pw")
    site.add_user(U, "pw")
    site.ctl("user", "set", U, "unix-user", "nobody")
    site.add_mail(U, msg("one"), msg("two"), msg("three"), msg("four"),
                  msg("five"))
    site.add_user(U2, "pw")
    site.add_mail(U2, msg("other"))
    smtpd = site.start_smtpd()
    site.start_imapd(conf=False)

    m = site.login(U, "pw")
    check(m.select("INBOX")[0] == "OK", "SELECT INBOX", None)
    typ, data = m.uid("MOVE", uid_of(m, "one"), "Spam")
    check(typ == "OK", "UID MOVE into Spam", data)
    r = wait_runs(site, smtpd, 1, "MOVE into Spam")
    check(r[0][0] == "spam" and r[0][1] == "65534",
          "learn_spam ran as the mapped account (nobody)", r[0][:2])
    check(r[0][2] == in_folder(site, "Spam", "one"),
          "learn_spam got the exact stored message on stdin", r[0][2][:300])
    wait_log(smtpd, "learn spam for " + U, "done")

    typ, data = m.uid("COPY", uid_of(m, "two"), "Spam")
    check(typ == "OK", "UID COPY into Spam", data)
    r = wait_runs(site, smtpd, 2, "COPY into Spam")
    check(r[1][0] == "spam" and r[1][2] == in_folder(site, "Spam", "two"),
          "COPY into Spam runs learn_spam with the copy", r[1][:2])

    check(m.select("Spam")[0] == "OK", "SELECT Spam", None)
    typ, data = m.uid("MOVE", uid_of(m, "one"), "INBOX")
    check(typ == "OK", "UID MOVE out of Spam", data)
    r = wait_runs(site, smtpd, 3, "MOVE back to INBOX")
    check(r[2][0] == "ham" and r[2][1] == "65534" and
          r[2][2] == in_folder(site, "INBOX", "one"),
          "moving it back to INBOX runs learn_ham with it", r[2][:2])

    check(m.select("INBOX")[0] == "OK", "SELECT INBOX", None)
    typ, data = m.uid("MOVE", uid_of(m, "three"), "Archive")
    check(typ == "OK", "UID MOVE INBOX -> Archive", data)
    typ, data = m.uid("MOVE", uid_of(m, "four"), "Spam")
    check(typ == "OK", "UID MOVE into Spam (after the ordinary move)", data)
    r = wait_runs(site, smtpd, 4, "the move after an ordinary one")
    check(len(r) == 4 and r[3][0] == "spam" and
          r[3][2] == in_folder(site, "Spam", "four"),
          "the move between two ordinary folders ran nothing: the next "
          "run is the later move into Spam", [x[:2] for x in r])

    # Out of Spam into Trash: nothing (neither Junk nor Trash is learned
    # as ham).  The marker after it: an unmapped user's move into Spam,
    # run as the [filter] user (daemon: uid 1).
    check(m.select("Spam")[0] == "OK", "SELECT Spam", None)
    typ, data = m.uid("MOVE", uid_of(m, "two"), "Trash")
    check(typ == "OK", "UID MOVE Spam -> Trash", data)
    m.logout()
    m2 = site.login(U2, "pw")
    check(m2.select("INBOX")[0] == "OK", "SELECT INBOX", None)
    typ, data = m2.uid("MOVE", uid_of(m2, "other"), "Spam")
    check(typ == "OK", "UID MOVE into Spam for an unmapped user", data)
    m2.logout()
    r = wait_runs(site, smtpd, 5, "an unmapped user's move into Spam")
    check(len(r) == 5 and r[4][0] == "spam" and r[4][1] == "1" and
          b"Subject: other" in r[4][2],
          "the move into Trash ran nothing; the unmapped user's training "
          "ran as the [filter] user (uid 1)", [x[:2] for x in r])

    ok, why = fuse_usable()
    if not ok or not site.have("fs"):
        print("SKIP (file view part): %s" % (why if not ok else
                                              "vellum-fs is not built"))
        return 0
    site.start_fs()
    # The message is unseen: in new/ (cur/ with \\Seen); it moves to the
    # same part of .Spam.
    def files():
        return [(part, n) for part in ("new", "cur") for n in os.listdir(
            site.maildir(U, ".Archive", part))]
    names = wait_for(files, "the file view lists the message in .Archive")
    check(len(names) == 1, "one message in .Archive", names)
    part, name = names[0]
    os.rename(site.maildir(U, ".Archive", part, name),
              site.maildir(U, ".Spam", part, name))
    r = wait_runs(site, smtpd, 6, "a rename into .Spam in the file view")
    check(len(r) == 6 and r[5][0] == "spam" and r[5][1] == "65534" and
          r[5][2] == in_folder(site, "Spam", "three"),
          "the rename into .Spam runs learn_spam with the message",
          [x[:2] for x in r])
    return 0


if __name__ == "__main__":
    daemon.Site = FsSite
    daemon.main(test)
