#!/usr/bin/env python3
"""The filter runner under load and abuse (issue 11, review):
  - 50 messages at once to 50 users, each through a slow xfilter, with
    [filter] max_procs = 2, workers = 4: every message gets its 250 and
    is stored once, filtered; never more than 2 programs run at once
    (each run counts the runs alive, by their marker directories); no
    program is left running afterwards;
  - the helper is killed (kill -9, as the OOM killer would): later
    messages are still accepted and kept in INBOX, each logging why, the
    death itself is logged once (killed by signal 9), and the daemon
    lives.
"""
import os
import re
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main, workers_of  # noqa: E402
from filtertest import (del_filter, log_lines, open_dirs,  # noqa: E402
                        read_out, script, set_filter, subjects,
                        wait_log)
from smtptest import SmtpSite, message, require_smtpd, sent_ok  # noqa

D = "example.test"
N = 50

# A slow xfilter: marks itself running (a directory), counts the runs
# alive, adds a header, lingers a little, unmarks itself.
SLOW = r"""#!/bin/sh
mkdir @OUT@/run-$$ || exit 75
ls @OUT@ | grep -c '^run-' >> @OUT@/alive.log
printf 'X-Slow: %s\r\n' "$$"
cat
sleep 0.2
rmdir @OUT@/run-$$
"""


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
    slow = script(site, "slow", SLOW)
    site.workers = 2    # max_procs holds for both processes together
    srv = SmtpSite(site, more={"filter": {"user": "daemon",
                                          "max_procs": "2",
                                          "workers": "4"},
                                 "limits": {"connections_per_ip": "200"}})
    a = "una@" + D
    site.add_user("postmaster@" + D, "pw")
    site.add_user(a, "pw")
    users = ["p%d@%s" % (i, D) for i in range(N)]
    for u in users:
        site.add_user(u, "pw")
    srv.start(pop3=False)

    set_filter(site, "--global", 'xfilter "%s"\n' % slow)
    errors = []

    def one(u):
        try:
            send_ok(srv, u, message("load " + u), "a message to " + u)
        except Exception as e:  # noqa: B902 (reported below)
            errors.append("%s: %s" % (u, e))
    threads = [threading.Thread(target=one, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "%d messages at once all get their 250" % N, errors)
    for u in users:
        got = subjects(site, u)
        check(got == ["load " + u], "%s: stored once" % u, got)
    alive = [int(x) for x in (read_out(site, "alive.log", "") or
                              "").split()]
    check(len(alive) == N, "the slow xfilter ran once per message",
          alive)
    check(max(alive) <= 2, "at most max_procs = 2 programs at once",
          max(alive))
    print("programs alive at once, at most: %d" % max(alive))
    # smtpd's children: the program runner's helper, its workers and their
    # spawner (none of which runs programs itself).
    helpers = children(srv.smtpd.pid)
    check(helpers and all(children(h) == [] for h in helpers),
          "no program is left running", (helpers, [children(h) for h
                                                   in helpers]))
    del_filter(site, "--global")
    set_filter(site, a, 'xfilter "/bin/cat"\nto Mail/.Done/\n')
    send_ok(srv, a, message("before"), "a message before")
    check(subjects(site, a, "Done") == ["before"], "the filter ran",
          (subjects(site, a), srv.smtpd.output()[-2000:]))
    # The helper is the child that is neither a worker nor the spawner.
    workers = set(int(p) for p in re.findall(
        r"worker \d+ \(pid (\d+)\) started", srv.smtpd.output()))
    helpers = [k for k in workers_of(srv.smtpd.pid) if k not in workers]
    check(len(helpers) == 1, "vellum-smtpd has one program runner "
          "helper for all its processes", (helpers, workers))
    os.kill(helpers[0], signal.SIGKILL)
    for i in range(3):
        send_ok(srv, a, message("after %d" % i), "a message after")
    check(subjects(site, a) == ["after 0", "after 1", "after 2"],
          "with the helper gone the messages are kept in INBOX",
          (subjects(site, a), srv.smtpd.output()[-2000:]))
    wait_log(srv.smtpd, "filter " + a + ":", "kept in INBOX")
    print("\n".join(log_lines(srv.smtpd, "helper")))
    died = log_lines(srv.smtpd, "helper", "died")
    pids = [re.search(r"\[(\d+)\]", line).group(1) for line in died]
    # The first process, its parent, knows how it died; a worker sees
    # its socket close.
    check(died and len(pids) == len(set(pids)) and
          all(("killed by signal 9" if p == str(srv.smtpd.pid) else
               "its socket closed") in line for p, line in zip(pids, died)),
          "the helper's death is logged once by each process that used "
          "it, with how it died", died)
    srv.alive("after the helper died")
    return 0


if __name__ == "__main__":
    main(test)
