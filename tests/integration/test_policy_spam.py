#!/usr/bin/env python3
"""Outgoing spam (issue 14): a sender's spam-score sends what it submits
to spamd (the real one of spamd.py: loopback, free port, no network
rules); GTUBE is refused (550 5.7.1, the score), locks the sender and
notifies the postmaster; a sender without spam-score is not scanned;
ham goes.  spamd stopped: accepted by default, 451 4.7.1 with
[policy] spam_tempfail = yes.  Skipped (77) only when spamd is not
installed.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import SKIP, Failure, check, main  # noqa: E402
from mtatest import MtaSite  # noqa: E402
import smtptest  # noqa: E402
from test_policy import (DOM, ALICE, BOB, CAROL, POSTMASTER,  # noqa: E402
                         PASSWORD, restart, send, usage)
from test_spamd_fixture import GTUBE, HAM  # noqa: E402


def as_from(m, sender, to):
    """The fixture's message with our From:/To: (the policy checks the
    envelope, spamd the content)."""
    head, body = m.split(b"\r\n\r\n", 1)
    lines = [ln for ln in head.split(b"\r\n")
             if not ln.lower().startswith((b"from:", b"to:"))]
    return b"\r\n".join([b"From: <%s>" % sender.encode(),
                         b"To: <%s>" % to.encode()] + lines) + \
        b"\r\n\r\n" + body


def run(site, args):
    if not os.access("/usr/sbin/spamd", os.X_OK):
        print("SKIP: /usr/sbin/spamd is not installed")
        return SKIP
    import spamd
    sd = spamd.Spamd()
    try:
        sd.start()
    except spamd.SpamdError as e:
        raise Failure(str(e))
    try:
        pol = {"spamd": "%s:%d" % (sd.host, sd.port),
               "spamd_timeout": "60"}
        ms = MtaSite(site.build, extra_sections={"policy": pol})
        with ms:
            for u in (ALICE, BOB, CAROL, POSTMASTER):
                ms.site.add_user(u, PASSWORD)
            ms.site.ctl("user", "policy", ALICE, "spam-score", "5",
                        "lock-time", "1h")
            ms.start(mta=False)
            ms.site.wait_port(ms.sub_port, ms.procs["smtpd"])

            r = send(ms, ALICE, [BOB], "ham", data=as_from(HAM, ALICE, BOB))
            check(r[0] == 250, "alice's ham is scored and goes", r)
            notices = len(smtptest.stored(ms.site, POSTMASTER))
            r = send(ms, ALICE, [BOB], "spam",
                     data=as_from(GTUBE, ALICE, BOB))
            check(r[0] == 550 and "5.7.1" in r[1] and "refused as spam" in
                  r[1] and "limit 5.0" in r[1],
                  "GTUBE from alice is refused as spam (550 5.7.1, score "
                  "and limit)", r)
            got = smtptest.stored(ms.site, BOB)
            check(len(got) == 1 and b"lunch on thursday" in got[0],
                  "bob got the ham only", len(got))
            u = usage(ms, ALICE)
            check(u["locked"] and u["locks"] == 1 and
                  "refused as spam" in u["reason"],
                  "outgoing spam locks alice", u)
            r = send(ms, ALICE, [BOB], "after",
                     data=as_from(HAM, ALICE, BOB))
            check(r[0] == 451 and "Sending is locked until" in r[1],
                  "while locked alice cannot send", r)
            pm = smtptest.stored(ms.site, POSTMASTER)
            check(len(pm) == notices + 1 and ALICE.encode() in pm[-1],
                  "the postmaster got the lock notice", len(pm))
            ms.site.ctl("user", "unlock", ALICE)

            # carol has no spam-score: not sent to spamd at all
            r = send(ms, CAROL, [BOB], "carol spam",
                     data=as_from(GTUBE, CAROL, BOB))
            check(r[0] == 250, "without spam-score GTUBE goes", r)

            # the domain's spam-score applies to carol; 1000 lets GTUBE's
            # 1000 points through only at >= (refused)
            ms.site.ctl("domain", "policy", DOM, "spam-score", "1000",
                        "lock-time", "0")
            r = send(ms, CAROL, [BOB], "carol spam 2",
                     data=as_from(GTUBE, CAROL, BOB))
            check(r[0] == 550 and "refused as spam" in r[1],
                  "the domain's spam-score applies to carol", r)
            check(not usage(ms, CAROL)["locked"],
                  "with lock-time 0 the refusal does not lock", "")

            # spamd gone: accepted (logged), or 451 with spam_tempfail
            sd.stop()
            r = send(ms, ALICE, [BOB], "no spamd",
                     data=as_from(HAM, ALICE, BOB))
            check(r[0] == 250, "spamd down: accepted by default", r)
            out = ms.procs["smtpd"].output()
            check(re.search(r"spam check of mail from <%s> not made "
                            r"\(.*\): accepted$" % re.escape(ALICE), out,
                            re.M) is not None,
                  "the log says it was not scanned and accepted",
                  out[-2000:])
            pol["spam_tempfail"] = "yes"
            ms.write_conf()
            restart(ms)
            r = send(ms, ALICE, [BOB], "no spamd 2",
                     data=as_from(HAM, ALICE, BOB))
            check(r[0] == 451 and "4.7.1" in r[1] and "spam check" in r[1],
                  "spamd down, spam_tempfail = yes: 451 4.7.1", r)
            # over spam_max_size: not sent to spamd, accepted even so
            pol["spam_max_size"] = "1000"
            ms.write_conf()
            restart(ms)
            big = as_from(HAM, ALICE, BOB) + b"padding line\r\n" * 100
            r = send(ms, ALICE, [BOB], "big", data=big)
            check(r[0] == 250, "a message over spam_max_size is accepted "
                  "unscanned whatever spam_tempfail says", r)
            check("not scanned for spam: " in ms.procs["smtpd"].output(),
                  "the log says why it was not scanned", "")
    finally:
        sd.stop()
    return 0


if __name__ == "__main__":
    main(run)
