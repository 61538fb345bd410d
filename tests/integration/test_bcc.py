"""Automatic BCC rules (issue 14): `vellumctl bcc` and the copies made
when vellum-smtpd (port 25, submission, LMTP) and vellum-sendmail accept
a message, as Postfix's sender_bcc_maps, recipient_bcc_maps and
always_bcc would.

Each copy is read back with `vellumctl mail export` and compared byte by
byte with what the real recipient got: both end with the exact bytes the
client sent, after our Return-Path, Delivered-To and Received; only
Delivered-To (the mailbox it reached) differs.  A remote BCC target is
queued and reaches a loopback remote (aiosmtpd); a refused one causes no
DSN to the sender while a refused real recipient does.
"""
import json
import os
import subprocess
import sys
import time

from daemon import check, free_port, main
from mtatest import MtaSite
from smtptest import check_delivery, split_prefix, stored

ALICE, BOB, CAROL = ("alice@example.test", "bob@example.test",
                     "carol@example.test")
DAVE, ERIN = "dave@example.test", "erin@example.test"
SAM = "sam@sales.test"
ARCH, DOMARCH, ALLARCH = ("arch@example.test", "dom-arch@example.test",
                          "all-arch@example.test")
PASSWORD = "secret-pw-1"
RECS = {"remote.test": [("MX", 10, "mx.remote.test")],
        "mx.remote.test": [("A", "127.0.0.3")]}


def msg(subject, sender=ALICE, to=BOB, body=b"hello\r\n"):
    return (b"From: <" + sender.encode() + b">\r\nTo: <" + to.encode() +
            b">\r\nSubject: " + subject.encode() +
            b"\r\nDate: Wed, 02 Dec 2026 21:00:00 +0000\r\nMessage-ID: <" +
            subject.replace(" ", "-").encode() + b"@example.test>\r\n\r\n" +
            body)


def same_copy(site, rcpt, bcc, original, sender, via):
    """The newest message of bcc is the newest of rcpt: the same sent
    bytes after the same Return-Path and Received; Delivered-To names
    each one's own address."""
    a = stored(site, rcpt)[-1]
    b = stored(site, bcc)[-1]
    fa = check_delivery(a, original, sender, [rcpt], via + ": " + rcpt)
    fb = check_delivery(b, original, sender, [bcc], via + ": BCC " + bcc)
    check(a[-len(original):] == b[-len(original):] == original,
          "%s: the BCC copy's message bytes are the recipient's, byte "
          "for byte" % via, (a[-300:], b[-300:]))
    check(fa["return-path"] == fb["return-path"] and
          fa["received"] == fb["received"],
          "%s: the same Return-Path and Received" % via, (fa, fb))
    return a, b


def counts(site, *addrs):
    return [len(stored(site, a)) for a in addrs]


def lmtp_send(port, sender, rcpts, data):
    import smtplib
    s = smtplib.LMTP("127.0.0.1", port, timeout=30)
    try:
        s.ehlo("lmtp.test")
        return s.sendmail(sender, rcpts, data)
    finally:
        s.quit()


def sendmail(ms, sender, rcpts, data):
    argv = [os.path.join(ms.build, "admin", "vellum-sendmail"), "-C",
            ms.site.conf, "-f", sender] + rcpts
    p = subprocess.run(argv, input=data, capture_output=True, timeout=120)
    check(p.returncode == 0, "vellum-sendmail accepts the message",
          (p.returncode, p.stdout, p.stderr))


def case_ctl(ms):
    """add/del/list, errors, import/export round trip, a bad line."""
    s = ms.site
    out = s.ctl("bcc", "add", "--sender", "Alice@Example.TEST", ARCH)
    check("mail from alice@example.test is copied to " + ARCH in out,
          "add says what it did (normalised)", out)
    s.ctl("bcc", "add", "--recipient", "@sales.test", DOMARCH)
    s.ctl("bcc", "add", "--all", ALLARCH)
    lst = json.loads(s.ctl("bcc", "list", "--json"))
    check(lst == [{"kind": "all", "address": None, "bcc": ALLARCH},
                  {"kind": "recipient", "address": "@sales.test",
                   "bcc": DOMARCH},
                  {"kind": "sender", "address": ALICE, "bcc": ARCH}],
          "list --json", lst)
    for args, code, says in [
            (("add", "--sender", "nodomain", ARCH), 1, "user@domain"),
            (("add", "--sender", ALICE, "not-an-address"), 1,
             "not an address"),
            (("add", "--sender", ALICE, "other@example.test"), 1,
             "already copies to " + ARCH),
            (("add", ARCH), 2, "give one of"),
            (("add", "--all", "--sender", ALICE, ARCH), 2, "give one of"),
            (("del", "--recipient", "nobody@example.test"), 1,
             "no recipient BCC rule for nobody@example.test"),
            (("import", "x.map"), 2, "--sender"),
    ]:
        p = subprocess.run([s.binary("vellumctl"), "-d", s.data, "bcc"] +
                           list(args), capture_output=True, text=True)
        check(p.returncode == code and says in p.stderr,
              "bcc %s fails (exit %d) saying %r" % (" ".join(args), code,
                                                    says),
              (p.returncode, p.stderr))
    s.ctl("bcc", "del", "--all")
    s.ctl("bcc", "del", "--recipient", "@SALES.test")
    # A Postfix recipient_bcc_maps file, continuation and comment lines.
    mp = os.path.join(s.tmp, "rbcc")
    with open(mp, "w") as f:
        f.write("# recipient_bcc_maps\n\n%s\t%s\n@sales.test\n"
                "    %s\n%s %s\n" % (CAROL, ARCH, DOMARCH, DAVE,
                                     "keep@remote.test"))
    out = s.ctl("bcc", "import", "--recipient", mp)
    check("3 recipient rules set" in out, "import sets 3 rules", out)
    exp = s.ctl("bcc", "export", "--recipient")
    check(exp.splitlines()[1:] == [
        "@sales.test\t" + DOMARCH, CAROL + "\t" + ARCH,
        DAVE + "\tkeep@remote.test"], "export writes the map", exp)
    # Round trip: the export imported with --replace changes nothing.
    with open(mp + ".2", "w") as f:
        f.write(exp)
    before = s.ctl("bcc", "list")
    s.ctl("bcc", "import", "--recipient", "--replace", mp + ".2")
    check(s.ctl("bcc", "list") == before and
          s.ctl("bcc", "export", "--recipient") == exp,
          "import(export) round-trips", (before, exp))
    # One bad line: named with its line, nothing changed.
    with open(mp + ".bad", "w") as f:
        f.write("new@example.test %s\n# fine so far\n\nbroken@example.test"
                " a@x.test b@x.test\n" % ARCH)
    p = subprocess.run([s.binary("vellumctl"), "-d", s.data, "bcc",
                        "import", "--recipient", "--replace",
                        mp + ".bad"], capture_output=True, text=True)
    check(p.returncode == 1 and (mp + ".bad:4: broken@example.test: one "
                                 "BCC address") in p.stderr,
          "a bad import names file:line and the fault", p.stderr)
    check(s.ctl("bcc", "list") == before, "a failed import changes "
          "nothing (not even --replace)", s.ctl("bcc", "list"))
    # export to a file, and store check is happy with the table
    s.ctl("bcc", "export", "--sender", mp + ".s")
    with open(mp + ".s") as f:
        check(f.read().splitlines()[1:] == [ALICE + "\t" + ARCH],
              "export --sender FILE", mp)
    check("ok" in s.ctl("store", "check"), "store check passes", "")


def case_local_rules(ms):
    """Sender (submission), recipient (port 25), @domain (LMTP) and all
    (sendmail) rules each put a byte-identical copy in an archive."""
    s = ms.site
    m = msg("sender rule")
    n = counts(s, BOB, ARCH)
    ms.submit(ALICE, PASSWORD, [BOB], m)
    check(counts(s, BOB, ARCH) == [n[0] + 1, n[1] + 1],
          "the sender rule copies alice's mail to arch", counts(s, BOB,
                                                              ARCH))
    same_copy(s, BOB, ARCH, m, ALICE, "sender rule")

    m = msg("recipient rule", sender="x@remote.test", to=CAROL)
    n = counts(s, CAROL, ARCH)
    refused = ms.smtp("x@remote.test", [CAROL], m)
    check(refused == {}, "port 25 accepts mail for carol", refused)
    check(counts(s, CAROL, ARCH) == [n[0] + 1, n[1] + 1],
          "the recipient rule copies carol's mail to arch",
          counts(s, CAROL, ARCH))
    same_copy(s, CAROL, ARCH, m, "x@remote.test", "recipient rule")

    m = msg("domain rule", sender="x@remote.test", to=SAM)
    n = counts(s, SAM, DOMARCH, ARCH)
    refused = lmtp_send(ms.lmtp_port, "x@remote.test", [SAM], m)
    check(refused == {}, "LMTP accepts mail for sam", refused)
    check(counts(s, SAM, DOMARCH, ARCH) == [n[0] + 1, n[1] + 1, n[2]],
          "the @sales.test rule copies sam's mail to dom-arch (only)",
          counts(s, SAM, DOMARCH, ARCH))
    same_copy(s, SAM, DOMARCH, m, "x@remote.test", "@domain rule (LMTP)")

    s.ctl("bcc", "add", "--all", ALLARCH)
    m = msg("all rule", sender=BOB, to=DAVE).replace(b"\r\n", b"\n")
    n = counts(s, ERIN, ALLARCH)
    sendmail(ms, BOB, [ERIN], m)
    check(counts(s, ERIN, ALLARCH) == [n[0] + 1, n[1] + 1],
          "the all rule copies sendmail's message", counts(s, ERIN,
                                                          ALLARCH))
    a, b = stored(s, ERIN)[-1], stored(s, ALLARCH)[-1]
    body = m.split(b"\n\n", 1)[1]
    check(a.endswith(body) and b.endswith(body) and
          a.split(b"Delivered-To:", 1)[0] ==
          b.split(b"Delivered-To:", 1)[0],
          "sendmail: the copies differ in Delivered-To only",
          (a[:400], b[:400]))
    check([x for x in a.split(b"\n") if not x.startswith(b"Delivered-To")]
          == [x for x in b.split(b"\n")
              if not x.startswith(b"Delivered-To")],
          "sendmail: the rest of the copies is byte for byte the same",
          (a[:400], b[:400]))
    s.ctl("bcc", "del", "--all")


def case_no_duplicate(ms):
    """A BCC target that is a recipient already gets one copy; two
    rules with the same target, one copy."""
    s = ms.site
    n = counts(s, ARCH, CAROL)
    m = msg("arch is a recipient", to=ARCH)
    ms.submit(ALICE, PASSWORD, [ARCH, CAROL], m)
    check(counts(s, ARCH, CAROL) == [n[0] + 1, n[1] + 1],
          "arch (recipient, sender rule and carol's rule) has one copy",
          counts(s, ARCH, CAROL))
    fields = dict(split_prefix(stored(s, ARCH)[-1], m))
    check(fields["delivered-to"].lower().endswith(ARCH.encode()),
          "that copy is the recipient's", fields)


def case_remote_and_dsn(ms, sink):
    """A remote BCC target is queued and delivered; a refused remote BCC
    target sends the sender no DSN, a refused recipient does."""
    s = ms.site
    m = msg("remote bcc", sender="x@remote.test", to=DAVE)
    ms.smtp("x@remote.test", [DAVE], m)
    got = sink.wait(1)
    check(got[0]["to"] == ["keep@remote.test"] and
          got[0]["from"] == "x@remote.test",
          "the remote BCC target got the message from the sender",
          got[0])
    check(got[0]["data"].endswith(m) and
          stored(s, DAVE)[-1].endswith(m),
          "the remote copy carries the same sent bytes",
          got[0]["data"][:500])
    ms.wait_queue_empty()

    s.ctl("bcc", "add", "--recipient", ERIN, "gone@remote.test")
    sink.handler.rcpt["gone@remote.test"] = ["550 5.1.1 no such user"]
    sink.handler.rcpt["fail@remote.test"] = ["550 5.1.1 no such user"]
    n = counts(s, ALICE)[0]
    ms.submit(ALICE, PASSWORD, [ERIN, "fail@remote.test"],
              msg("refused bcc", to=ERIN))
    ms.wait_queue_empty()
    time.sleep(0.5)
    inbox = stored(s, ALICE)
    check(len(inbox) == n + 1, "alice gets one DSN (for fail@, the "
          "recipient she named)", [x[:300] for x in inbox[n:]])
    check(b"fail@remote.test" in inbox[-1] and
          b"gone@remote.test" not in inbox[-1],
          "the DSN is about fail@remote.test, never the BCC target",
          inbox[-1][:2000])


def case_unknown_target(ms):
    """A BCC target that is no mailbox is logged and skipped."""
    s = ms.site
    s.ctl("bcc", "add", "--recipient", BOB, "ghost@example.test")
    n = counts(s, BOB)[0]
    refused = ms.smtp("x@remote.test", [BOB],
                      msg("ghost", sender="x@remote.test"))
    check(refused == {} and counts(s, BOB)[0] == n + 1,
          "the message is delivered to bob all the same", refused)
    log = ms.procs["smtpd"].output()
    check("BCC to <ghost@example.test> (recipient bob@example.test rule) "
          "skipped: 550" in log,
          "the skipped BCC target is logged", log[-2000:])
    s.ctl("bcc", "del", "--recipient", BOB)


def case_quiet_copies(ms, sink):
    """A full archive is skipped without failing the message; an archive
    with an auto-responder never answers a blind copy (even one whose
    To: names it)."""
    s = ms.site
    s.add_user("tiny@example.test", PASSWORD, quota="2K")
    s.ctl("bcc", "add", "--recipient", ERIN, "tiny@example.test")
    n = counts(s, ERIN)[0]
    big = msg("too big for tiny", sender="x@remote.test", to=ERIN,
              body=(b"x" * 70 + b"\r\n") * 60)
    refused = ms.smtp("x@remote.test", [ERIN], big)
    check(refused == {} and counts(s, ERIN)[0] == n + 1 and
          counts(s, "tiny@example.test")[0] == 0,
          "a full BCC mailbox does not fail the message for erin",
          (refused, counts(s, ERIN, "tiny@example.test")))
    s.ctl("bcc", "del", "--recipient", ERIN)

    body = os.path.join(s.tmp, "away.txt")
    with open(body, "w") as f:
        f.write("I am away.\n")
    s.ctl("vacation", "set", ARCH, "--subject", "Away", "--body-file", body)
    m = msg("names arch in To", sender="y@remote.test", to=ARCH)
    n = counts(s, CAROL, ARCH)
    ms.smtp("y@remote.test", [CAROL], m)
    check(counts(s, CAROL, ARCH) == [n[0] + 1, n[1] + 1],
          "carol's rule copied it to arch", counts(s, CAROL, ARCH))
    time.sleep(1.0)
    check(not ms.queue() and not sink.got,
          "arch's auto-responder did not answer the blind copy",
          (ms.queue(), sink.got))
    s.ctl("vacation", "off", ARCH)


def run(site, args):
    ms = MtaSite(site.build)
    ms.lmtp_port = free_port()
    ms.extra = {"lmtp": {"listen": "127.0.0.1:%d" % ms.lmtp_port}}
    with ms:
        ms.dns(RECS)
        sink = ms.sink("127.0.0.3")
        for u in (ALICE, BOB, CAROL, DAVE, ERIN, SAM, ARCH, DOMARCH,
                  ALLARCH):
            ms.site.add_user(u, PASSWORD)
        case_ctl(ms)
        ms.start()
        ms.site.wait_port(ms.lmtp_port, ms.procs["smtpd"])
        for c in (case_local_rules, case_no_duplicate, case_unknown_target):
            t0 = time.time()
            c(ms)
            print("ok %s (%.1f s)" % (c.__name__, time.time() - t0))
        t0 = time.time()
        case_quiet_copies(ms, sink)
        print("ok case_quiet_copies (%.1f s)" % (time.time() - t0))
        t0 = time.time()
        case_remote_and_dsn(ms, sink)
        print("ok case_remote_and_dsn (%.1f s)" % (time.time() - t0))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    main(run)
