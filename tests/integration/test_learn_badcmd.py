#!/usr/bin/env python3
"""Spam training with a [filter] learn_spam that cannot run without a
shell (it passes the config check: an absolute path, printable ASCII,
but "|" needs a shell): the entry is logged and dropped, so the queue
behind it drains (a COPY back out of Spam still runs learn_ham); it is
not retried forever with a log line every two seconds.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import check  # noqa: E402
from filtertest import log_lines, open_dirs, script, wait_log  # noqa: E402
from fstest import FsSite  # noqa: E402
from test_learn import LEARN, U, msg, uid_of, wait_runs  # noqa: E402


def test(site, args):
    if not site.have("smtpd") or not site.have("imapd"):
        raise daemon.Failure("vellum-smtpd and vellum-imapd must be built")
    open_dirs(site)
    learn = script(site, "learn", LEARN)
    site.write_fs_conf(smtp=True, sections={"filter": {
        "user": "daemon", "learn_spam": learn + " spam | tee /tmp/x",
        "learn_ham": learn + " ham"}})
    site.add_user("postmaster@example.test", "pw")
    site.add_user(U, "pw")
    site.ctl("user", "set", U, "unix-user", "nobody")
    site.add_mail(U, msg("one"))
    smtpd = site.start_smtpd()
    site.start_imapd(conf=False)

    m = site.login(U, "pw")
    check(m.select("INBOX")[0] == "OK", "SELECT INBOX", None)
    # COPY: the message stays in Spam, so its entry is not skipped as
    # expunged.
    typ, data = m.uid("COPY", uid_of(m, "one"), "Spam")
    check(typ == "OK", "UID COPY into Spam", data)
    check(m.select("Spam")[0] == "OK", "SELECT Spam", None)
    typ, data = m.uid("COPY", uid_of(m, "one"), "INBOX")
    check(typ == "OK", "UID COPY out of Spam", data)
    r = wait_runs(site, smtpd, 1, "the ham run behind a spam entry that "
                  "cannot run")
    check(len(r) == 1 and r[0][0] == "ham",
          "only learn_ham ran (learn_spam cannot)", [x[:2] for x in r])
    wait_log(smtpd, "learn_spam", "shell")
    bad = log_lines(smtpd, "learn_spam", "shell")
    check(len(bad) == 1, "the spam entry was logged once and dropped",
          bad)
    m.logout()
    return 0


if __name__ == "__main__":
    daemon.Site = FsSite
    daemon.main(test)
