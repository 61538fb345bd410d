"""vellum-smtpd and quotas: 452 4.2.2 when SIZE= at RCPT does not fit and
when the real size at DATA does not fit (nothing stored, the account
marked over quota); a message that fits still gets through; over quota
for longer than the grace period (the daemon run under `faketime -f
+6d`) the account is disabled and answers 550 5.1.1; `vellumctl user
enable` refuses while usage is over the limit; after `vellumctl mail
delete` it works and mail flows again; mail sent while disabled was not
kept.  The same over-quota reply through LMTP for one of two recipients.

The grace clock (issue 7): an account at 88.7% of its quota that refused
one 4.3 KB message is NOT disabled six days later (it is not full: usage
under [quota] full_mark, 95%); the delivery then is accepted and stops the
clock; `vellumctl user show` says whether the clock runs, since when, when
it ends and whether usage is above the mark.

usage: test_smtp_quota.py BUILD_DIR
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, faketime_env, main  # noqa: E402
from smtptest import (UNKNOWN, SmtpSite, count, message, readback,  # noqa
                      require_smtpd, send, sent_ok, user_info)

SENDER = "sender@remote.test"
Q, Q_PW = "quinn@example.test", "quinn-pw"	# quota 20K
OK, OK_PW = "olly@example.test", "olly-pw"	# no quota
R, R_PW = "rita@example.test", "rita-pw"	# quota 30K, 88.7% used
R_QUOTA = 30 * 1024


def is_full(reply):
    return reply is not None and reply[0] == 452 and \
        reply[1].startswith(b"4.2.2")


def test_452(srv):
    site = srv.site
    s = srv.smtp()
    for i in range(3):
        sent_ok(s, SENDER, [Q], message("fill %d" % i, size=4000),
                "4 KB message %d into a 20K quota" % i)
    used = user_info(site, Q)["used_bytes"]
    check(12000 < used < 14000, "usage counts the three messages", used)
    check(user_info(site, Q)["over_quota_since"] is None, "not over quota "
          "yet", user_info(site, Q))

    # SIZE= at RCPT: 452 for the full mailbox, the other recipient is fine
    n = count(site, Q)
    big = message("does not fit", size=12000)
    mr, rr, dr = send(s, SENDER, [Q, OK], big,
                      mail_options=["SIZE=%d" % len(big)])
    check(mr[0] == 250 and is_full(rr[Q]), "MAIL SIZE=12000, RCPT to a "
          "mailbox with 8K left: 452 4.2.2", (mr, rr))
    check(rr[OK][0] == 250 and dr and dr[0] == 250, "the other "
          "recipient is accepted and gets the message", (rr, dr))
    check(count(site, Q) == n, "nothing stored for the full mailbox",
          count(site, Q))
    info = user_info(site, Q)
    check(info["over_quota_since"] is not None, "a 452 marks the account "
          "over quota", info)
    check(info["disabled"] is False, "within the grace period the "
          "account stays enabled", info)

    # the real size at DATA (no SIZE=): 452 after the data, nothing kept
    mr, rr, dr = send(s, SENDER, [Q], big)
    check(rr[Q][0] == 250 and is_full(dr), "RCPT without SIZE= is "
          "accepted; DATA of 12K into 8K left: 452 4.2.2", (rr, dr))
    check(count(site, Q) == n, "nothing stored after the 452 at DATA",
          count(site, Q))
    check(user_info(site, Q)["used_bytes"] == used, "usage unchanged",
          user_info(site, Q))

    # a small message still fits: 452 is about this message only
    m = message("still fits", size=2000)
    sent_ok(s, SENDER, [Q], m, "a 2 KB message into 8K left")
    readback(srv, Q, Q_PW, m, SENDER, [Q], "small message after a 452")

    # LMTP: one recipient over quota, one fine
    import smtplib
    lm = smtplib.LMTP("127.0.0.1", srv.ports["lmtp"], timeout=30)
    lm.ehlo("client.example.test")
    check(lm.mail(SENDER)[0] == 250, "LMTP MAIL", "")
    check(lm.rcpt(OK)[0] == 250 and lm.rcpt(Q)[0] == 250, "LMTP RCPTs", "")
    lm.docmd("DATA")
    lm.send(big + b".\r\n")
    got = [lm.getreply() for _ in range(2)]
    check(got[0][0] == 250 and is_full(got[1]), "LMTP: 250 for olly, "
          "452 4.2.2 for quinn, in RCPT order", got)
    lm.quit()
    s.quit()


def faketime_ctl(site, offset, *args):
    """vellumctl with its clock moved by offset: stdout."""
    env = dict(os.environ)
    env.update(faketime_env(offset))
    p = subprocess.run([site.binary("vellumctl"), "-d", site.data] +
                       list(args), capture_output=True, timeout=60, env=env)
    check(p.returncode == 0, "vellumctl %s under faketime" % " ".join(args),
          (p.stdout, p.stderr))
    return p.stdout.decode("utf-8", "replace")


def test_grace_with_room(srv):
    site = srv.site
    used = -(-R_QUOTA * 887 // 1000)	# 88.7%, rounded up
    site.add_mail(R, message("most of the quota", size=used))
    info = user_info(site, R)
    check(info["used_bytes"] == used and info["grace_clock"] == "off" and
          info["full"] is False and info["full_mark"] == 95,
          "88.7%% used (%d of %d bytes): not full, no clock" % (
              used, R_QUOTA), info)

    # one 4.3 KB message does not fit: 452, and the clock starts
    s = srv.smtp()
    big = message("4.3 KB", size=4400)
    mr, rr, dr = send(s, SENDER, [R], big)
    check(is_full(dr) or is_full(rr.get(R)), "4.3 KB into %d bytes left: "
          "452 4.2.2" % (R_QUOTA - used), (mr, rr, dr))
    s.quit()
    info = user_info(site, R)
    check(info["over_quota_since"] is not None and
          info["grace_clock"] == "running" and info["full"] is False and
          info["grace_ends"] is not None and not info["disabled"],
          "the refusal starts the grace clock; usage stays under the mark",
          info)
    out = site.ctl("user", "show", R)
    check("grace clock:    running since %s" % info["over_quota_since"]
          in out and "ends %s" % info["grace_ends"] in out and
          "below the mark" in out and "88.7% of the byte quota" in out,
          "user show says the clock runs, since when, when it ends and "
          "that usage is below the 95% mark", out)
    out = faketime_ctl(site, "+6d", "user", "show", R, "--json")
    check('"grace_clock": "ended_not_full"' in out, "six days on, user "
          "show says the period is over with room: no disabling", out)

    # six days later: a small message is accepted, nothing is disabled
    srv.stop()
    srv.start(faketime="+6d", pop3=False)
    s = srv.smtp()
    m = message("six days later", size=1000)
    sent_ok(s, SENDER, [R], m, "mail to an account at 88.7% six days "
            "after one refusal")
    s.quit()
    info = user_info(site, R)
    check(info["disabled"] is False and info["over_quota_since"] is None
          and info["grace_clock"] == "off",
          "an account with room is not disabled after the grace period; "
          "the delivery stopped the clock", info)
    check(count(site, R) == 2, "the message was stored", count(site, R))
    # back to the real clock for the next test
    srv.stop()
    srv.start(pop3=False)


def test_grace(srv):
    site = srv.site
    # usage over the limit: lower the quota under what is stored
    site.ctl("quota", "set", Q, "10K")
    s = srv.smtp()
    mr, rr, dr = send(s, SENDER, [Q], message("over", size=1000))
    check(is_full(rr.get(Q)) or is_full(dr), "usage over the limit: 452 "
          "4.2.2", (rr, dr))
    s.quit()
    info = user_info(site, Q)
    check(info["over_quota_since"] is not None and not info["disabled"],
          "over quota, still enabled within the grace period", info)
    kept = count(site, Q)

    # six days later (grace_days = 5): disabled, 550 like an unknown user
    srv.stop()
    srv.start(faketime="+6d", pop3=False)
    s = srv.smtp()
    want = (UNKNOWN % Q).encode()
    for i in range(2):
        mr, rr, dr = send(s, SENDER, [Q], message("while disabled %d" % i))
        check(rr.get(Q) == (550, want), "over quota past the grace "
              "period: RCPT gets 550 %s" % want.decode(), (mr, rr, dr))
    s.quit()
    info = user_info(site, Q)
    check(info["disabled"] is True, "the account is now disabled", info)

    # user enable refuses while usage is over the limit, and says so
    p = subprocess.run([site.binary("vellumctl"), "-d", site.data, "user",
                        "enable", Q], capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    check(p.returncode == 1 and "over" in out.lower() and
          ("quota" in out.lower() or "limit" in out.lower()),
          "vellumctl user enable: exit 1, says usage is over the limit",
          (p.returncode, out))
    check(user_info(site, Q)["disabled"] is True, "still disabled", "")

    # delete the mail, then enable works and mail flows
    out = site.ctl("mail", "delete", Q, "--all")
    check(user_info(site, Q)["used_bytes"] == 0 and count(site, Q) == 0,
          "mail delete --all emptied the mailbox", (out, user_info(site, Q)))
    out = site.ctl("user", "enable", Q)
    info = user_info(site, Q)
    check(info["disabled"] is False and info["over_quota_since"] is None,
          "user enable works once usage is under the limit; the over-"
          "quota mark is gone", (out, info))
    s = srv.smtp()	# the daemon still runs six days ahead
    m = message("flows again", size=3000)
    sent_ok(s, SENDER, [Q], m, "after re-enabling")
    s.quit()
    check(count(site, Q) == 1, "only the new message is there: mail "
          "sent while disabled was not kept (had %d before)" % kept,
          count(site, Q))
    check(not user_info(site, Q)["disabled"], "a delivery after enable "
          "does not disable the account again", user_info(site, Q))


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    site.add_user(Q, Q_PW, quota="20K")
    site.add_user(OK, OK_PW)
    site.add_user(R, R_PW, quota="30K")
    srv.start()
    test_452(srv)
    test_grace_with_room(srv)
    test_grace(srv)
    srv.alive("the quota tests")
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes", out)
    return 0


if __name__ == "__main__":
    main(run)
