#!/usr/bin/env python3
"""The filter runner's helper under abuse (issue 11, review): it is killed
(kill -9, as the OOM killer would): later messages are still accepted and
kept in INBOX, the daemon lives.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from filtertest import (log_lines, open_dirs, set_filter,  # noqa: E402
                        subjects, wait_for, wait_log)
from smtptest import SmtpSite, message, require_smtpd, sent_ok  # noqa

D = "example.test"


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def send_ok(srv, rcpt, msg, what):
    s = srv.smtp()
    try:
        sent_ok(s, "sender@remote.test", [rcpt], msg, what)
    finally:
        s.quit()


def test(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    open_dirs(site)
    srv = SmtpSite(site, more={"filter": {"user": "daemon"}})
    a = "una@" + D
    site.add_user("postmaster@" + D, "pw")
    site.add_user(a, "pw")
    srv.start(pop3=False)
    set_filter(site, a, 'xfilter "/bin/cat"\nto Mail/.Done/\n')
    send_ok(srv, a, message("before"), "a message before")
    check(subjects(site, a, "Done") == ["before"], "the filter ran",
          (subjects(site, a), srv.smtpd.output()[-2000:]))
    helpers = children(srv.smtpd.pid)
    check(len(helpers) == 1, "vellum-smtpd has one child, the helper",
          helpers)
    os.kill(helpers[0], signal.SIGKILL)
    for i in range(3):
        send_ok(srv, a, message("after %d" % i), "a message after")
    check(subjects(site, a) == ["after 0", "after 1", "after 2"],
          "with the helper gone the messages are kept in INBOX",
          (subjects(site, a), srv.smtpd.output()[-2000:]))
    wait_log(srv.smtpd, "filter " + a + ":", "kept in INBOX")
    print("\n".join(log_lines(srv.smtpd, "helper")))
    srv.alive("after the helper died")
    return 0


if __name__ == "__main__":
    main(test)
