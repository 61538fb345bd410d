"""DKIM signing of outgoing mail (issue 14): `vellumctl dkim` and
vellum-mta's signatures, checked by an independent verifier.

Keys are made with `vellumctl dkim keygen`; mail submitted through
vellum-smtpd (AUTH on [submission]) leaves through vellum-mta to a
loopback remote (aiosmtpd); python3-dkim (dkimpy) verifies what arrived,
its DNS lookups answered from `vellumctl dkim show --json` (no DNS
traffic).  Both algorithms are checked, and that a verifier notices a
changed body while relaxed canonicalisation survives changed header
whitespace.
"""
import json
import os
import re
import subprocess
import sys
import time

from daemon import check, main
from mtatest import MtaSite
from smtptest import stored

for _p in ("/usr/lib/python3/dist-packages",):
    if os.path.isdir(_p) and _p not in sys.path:
        sys.path.append(_p)

import dkim  # noqa: E402  (python3-dkim; ed25519 needs python3-nacl)

USER = "alice@example.test"
PASSWORD = "secret-pw-1"
OTHER = "olga@other.test"
RECS = {"remote.test": [("MX", 10, "mx.remote.test")],
        "mx.remote.test": [("A", "127.0.0.3")]}


def msg(subject, sender=USER, to="bob@remote.test", body=b"hello\r\n"):
    return (b"From: Alice <" + sender.encode() + b">\r\nTo: <" +
            to.encode() + b">\r\nSubject: " + subject.encode() +
            b"\r\nDate: Wed, 02 Dec 2026 20:00:00 +0000\r\n"
            b"Message-ID: <" + subject.replace(" ", "-").encode() +
            b"@example.test>\r\nList-Id: <team.example.test>\r\n"
            b"X-Not-Signed: yes\r\n\r\n" + body)


def records(site, keys):
    """{dns name: TXT bytes} of (domain, selector) keys, from dkim show."""
    out = {}
    for dom, sel in keys:
        j = json.loads(site.ctl("dkim", "show", dom, sel, "--json"))
        check(j["name"] == "%s._domainkey.%s" % (sel, dom),
              "show names the record", j)
        out[j["name"]] = j["txt"].encode()
    return out


def dnsfunc(recs):
    def lookup(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return recs.get(name.rstrip("."))
    return lookup


def signatures(data):
    """The DKIM-Signature fields of a message, as tag dicts, in order."""
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    fields = re.findall(r"^DKIM-Signature:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head,
                        re.M | re.I)
    sigs = []
    for f in fields:
        v = re.sub(r"\s+", "", f)
        sigs.append(dict(t.split("=", 1) for t in v.split(";") if t))
    return sigs


def verify_all(data, recs):
    """Each signature's verification result, in order."""
    out = []
    for i in range(len(signatures(data))):
        try:
            out.append(dkim.DKIM(data).verify(idx=i, dnsfunc=dnsfunc(recs)))
        except dkim.DKIMException as e:	# e.g. body hash mismatch
            out.append("fails: %s" % e)
    return out


def site(build):
    ms = MtaSite(build)
    ms.dns(RECS)
    ms.site.add_user(USER, PASSWORD)
    ms.site.add_user(OTHER, PASSWORD)
    return ms


def case_ctl(build):
    """keygen/list/show/delete, their errors, store check, domain del."""
    with site(build) as ms:
        s = ms.site
        out = s.ctl("dkim", "keygen", "example.test", "jan2026")
        check(re.search(r'^jan2026\._domainkey\.example\.test\. IN TXT \( '
                        r'"v=DKIM1; k=rsa; p=', out, re.M),
              "keygen prints the zone file record", out)
        strings = re.findall(r'"([^"]*)"', out)
        check(len(strings) >= 2 and all(len(x) <= 255 for x in strings),
              "an rsa-2048 record is split in strings of <= 255 bytes",
              [len(x) for x in strings])
        show = s.ctl("dkim", "show", "EXAMPLE.test", "JAN2026")
        check(show.strip() == out.split("\n", 1)[1].strip(),
              "show prints the same record again (any case)", (show, out))
        out = s.ctl("dkim", "keygen", "example.test", "ed.2026",
                    "--algorithm", "ed25519")
        check('"v=DKIM1; k=ed25519; p=' in out, "an ed25519 record", out)
        j = json.loads(s.ctl("dkim", "show", "example.test", "ed.2026",
                             "--json"))
        check(len(j["txt"].split("p=", 1)[1]) == 44,
              "ed25519's p= is the 32-byte raw key (RFC 8463)", j)
        s.ctl("dkim", "keygen", "example.test", "big", "--bits", "4096")
        lst = json.loads(s.ctl("dkim", "list", "--json"))
        check([(k["selector"], k["algorithm"], k["bits"]) for k in lst] ==
              [("big", "rsa", 4096), ("ed.2026", "ed25519", 256),
               ("jan2026", "rsa", 2048)], "list --json", lst)
        check(json.loads(s.ctl("dkim", "list", "other.test", "--json"))
              == [], "a domain without keys lists none", "")
        txt = s.ctl("dkim", "list", "example.test")
        check("jan2026\trsa-2048" in txt and "ed.2026\ted25519" in txt,
              "list's text form", txt)
        # errors
        for args, code, what in [
                (("keygen", "example.test", "jan2026"), 1, "already has"),
                (("keygen", "nowhere.test", "s1"), 1, "no domain "
                 "nowhere.test"),
                (("keygen", "example.test", "a..b"), 2, "not a DKIM "
                 "selector"),
                (("keygen", "example.test", "a_b"), 2, "not a DKIM "
                 "selector"),
                (("keygen", "example.test", "s-"), 2, "not a DKIM "
                 "selector"),
                (("keygen", "example.test", "s2", "--bits", "512"), 2,
                 "1024 to 4096"),
                (("keygen", "example.test", "s2", "--bits", "8192"), 2,
                 "1024 to 4096"),
                (("keygen", "example.test", "s2", "--algorithm", "dsa"),
                 2, "rsa or ed25519"),
                (("keygen", "example.test", "s2", "--algorithm",
                  "ed25519", "--bits", "2048"), 2, "--bits is for rsa"),
                (("show", "example.test", "nope"), 1, "no DKIM key"),
                (("delete", "example.test", "nope"), 1, "no DKIM key"),
                (("list", "nowhere.test"), 1, "no domain")]:
            p = subprocess.run([s.binary("vellumctl"), "-d", s.data,
                                "dkim"] + list(args), capture_output=True)
            err = p.stderr.decode()
            check(p.returncode == code and what in err,
                  "dkim %s fails (%d) saying %r" % (" ".join(args), code,
                                                    what),
                  (p.returncode, err))
        s.ctl("dkim", "delete", "example.test", "big")
        check("big" not in s.ctl("dkim", "list"), "delete removes it", "")
        check("ok" in s.ctl("store", "check"), "store check passes", "")
        s.ctl("domain", "add", "gone.test")
        s.ctl("dkim", "keygen", "gone.test", "s1", "--algorithm",
              "ed25519")
        s.ctl("domain", "del", "gone.test")
        check("gone.test" not in s.ctl("dkim", "list"),
              "a deleted domain's keys go with it", "")
        s.ctl("domain", "add", "gone.test")
        check(json.loads(s.ctl("dkim", "list", "gone.test", "--json")) ==
              [], "a domain added again starts without keys", "")


def case_sign_both(build):
    """rsa and ed25519 keys both sign; dkimpy verifies each; a changed
    body fails, changed header whitespace does not (relaxed)."""
    with site(build) as ms:
        s = ms.site
        s.ctl("dkim", "keygen", "example.test", "rsa1")
        s.ctl("dkim", "keygen", "example.test", "ed1", "--algorithm",
              "ed25519")
        recs = records(s, [("example.test", "rsa1"),
                           ("example.test", "ed1")])
        a = ms.sink("127.0.0.3")
        ms.start()
        ms.submit(USER, PASSWORD, ["bob@remote.test"], msg("signed twice"))
        got = a.wait(1)
        data = got[0]["data"]
        sigs = signatures(data)
        check(sorted(x["a"] for x in sigs) == ["ed25519-sha256",
                                               "rsa-sha256"],
              "one signature per key, both algorithms", sigs)
        for x in sigs:
            check(x["c"] == "relaxed/relaxed" and x["d"] == "example.test",
                  "c=relaxed/relaxed, d= the From: domain", x)
            h = x["h"].lower().split(":")
            check(h.count("from") == 2, "From is oversigned", x["h"])
            for f in ("to", "subject", "date", "message-id", "list-id"):
                check(f in h, "%s is signed" % f, x["h"])
            check("x-not-signed" not in h, "other fields are not signed",
                  x["h"])
        res = verify_all(data, recs)
        check(res == [True, True], "dkimpy verifies both signatures", res)
        # a body changed after signing fails both
        bad = data.replace(b"hello\r\n", b"hello, changed\r\n")
        check(bad != data, "the test changed the body", "")
        res = verify_all(bad, recs)
        check(len(res) == 2 and True not in res,
              "a changed body fails verification", res)
        # relaxed: whitespace changes in signed header fields pass
        ws = data.replace(b"Subject: signed twice",
                          b"Subject:   signed    twice  ")
        check(ws != data, "the test changed the Subject's spacing", "")
        check(verify_all(ws, recs) == [True, True],
              "relaxed canonicalisation survives header whitespace",
              verify_all(ws, recs))
        # a changed signed header fails
        subj = data.replace(b"Subject: signed twice",
                            b"Subject: signed thrice")
        res = verify_all(subj, recs)
        check(len(res) == 2 and True not in res,
              "a changed Subject fails verification", res)
        # a From: added after signing fails (oversigning)
        head, body = data.split(b"\r\n\r\n", 1)
        added = head + b"\r\nFrom: mallory@evil.test\r\n\r\n" + body
        res = verify_all(added, recs)
        check(len(res) == 2 and True not in res,
              "a second From: added later fails (oversigned)", res)
        ms.wait_queue_empty()


def case_unsigned_and_deleted(build):
    """A domain without keys sends unsigned; a deleted key stops signing;
    mail to a local mailbox is not signed; a bare-LF message signs as the
    CRLF it is sent as."""
    with site(build) as ms:
        s = ms.site
        s.ctl("dkim", "keygen", "example.test", "ed1", "--algorithm",
              "ed25519")
        recs = records(s, [("example.test", "ed1")])
        a = ms.sink("127.0.0.3")
        ms.start()
        ms.submit(OTHER, PASSWORD, ["bob@remote.test"],
                  msg("from other", sender=OTHER))
        got = a.wait(1)
        check(signatures(got[0]["data"]) == [],
              "a domain without keys sends unsigned", got[0]["data"][:400])
        check(b"From: Alice <olga@other.test>" in got[0]["data"],
              "the message arrived as sent", got[0]["data"][:400])
        # vellum-sendmail stores LF lines; the client sends them as CRLF
        p = subprocess.run([os.path.join(build, "admin", "vellum-sendmail"),
                            "-C", s.conf, "-f", USER, "bob@remote.test"],
                           input=msg("lf lines").replace(b"\r\n", b"\n"),
                           capture_output=True, timeout=60, cwd=s.tmp)
        check(p.returncode == 0, "vellum-sendmail queued it", p.stderr)
        got = a.wait(2)
        check(verify_all(got[1]["data"], recs) == [True],
              "a message with bare LF lines verifies", got[1]["data"][:600])
        ms.submit(USER, PASSWORD, [USER], msg("to myself", to=USER))
        end = time.time() + 20
        mine = []
        while time.time() < end and not mine:
            mine = stored(s, USER)
        check(mine and b"DKIM-Signature" not in mine[0],
              "local delivery is not signed", mine[:1])
        s.ctl("dkim", "delete", "example.test", "ed1")
        ms.submit(USER, PASSWORD, ["bob@remote.test"], msg("after delete"))
        got = a.wait(3)
        check(b"Subject: after delete" in got[2]["data"] and
              signatures(got[2]["data"]) == [],
              "a deleted key no longer signs", got[2]["data"][:600])
        ms.wait_queue_empty()


def case_retry_keeps_signature(build):
    """A deferred message is signed once: its retry sends the same
    signature while the keys are the same."""
    with site(build) as ms:
        s = ms.site
        s.ctl("dkim", "keygen", "example.test", "ed1", "--algorithm",
              "ed25519")
        recs = records(s, [("example.test", "ed1")])
        a = ms.sink("127.0.0.3")
        a.handler.data = ["451 4.3.0 try again"]
        ms.start()
        ms.submit(USER, PASSWORD, ["bob@remote.test"], msg("retry me"))
        got = a.wait(1, timeout=30)
        check(verify_all(got[0]["data"], recs) == [True],
              "the retry verifies", got[0]["data"][:600])
        check(a.handler.in_data >= 2, "the first DATA was refused",
              a.handler.in_data)
        log = ms.mta_log()
        check(log.count("DKIM-signed") == 1,
              "signed once for both attempts", log[-3000:])
        ms.wait_queue_empty()


CASES = [case_ctl, case_sign_both, case_unsigned_and_deleted,
         case_retry_keeps_signature]


def run(site, args):
    only = os.environ.get("DKIM_CASE")
    for c in CASES:
        if only and only not in c.__name__:
            continue
        t0 = time.time()
        c(site.build)
        print("ok %s (%.1f s)" % (c.__name__, time.time() - t0))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    main(run)
