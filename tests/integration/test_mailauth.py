#!/usr/bin/env python3
"""mailauth_check() (deliver/mailauth.c) through mailauth-probe, against
a loopback DNS server (dnsserver.py) with SPF records, DKIM keys and
DMARC policies; the signed messages come from python3-dkim.  The client
addresses are TEST-NET ones (192.0.2.x), only ever given to the probe:
libspf2 passes every loopback client whatever the record says.

    test_mailauth.py MAILAUTH_PROBE
"""
import os
import subprocess
import sys
import tempfile
import time

from daemon import Failure, check
from dkimtest import key_record, rsa_key, sign
from dnsserver import DNSServer

ID = "mx.vellum.test"


def message(frm, subject="results", body=b"The figures, as promised.\r\n",
            extra=b""):
    return (b"From: " + frm.encode() + b"\r\nTo: bob@vellum.test\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
            b"Message-ID: <m1@x.test>\r\n" + extra + b"\r\n" + body)


def probe(prog, conf, ip, helo, sender, checks, msg, timeout=None,
          rounds=1):
    args = [prog, conf, ip, helo, sender, checks]
    if timeout is not None:
        args.append(str(timeout))
    env = dict(os.environ, PROBE_ROUNDS=str(rounds))
    r = subprocess.run(args, input=msg, capture_output=True, timeout=60,
                       env=env)
    check(r.returncode == 0, "mailauth-probe ran", r.stderr)
    lines = r.stdout.decode().split("\n")
    res = {"dkim": []}
    hdr = []
    for ln in lines:
        f = ln.split()
        if not f:
            continue
        if f[0] == "spf":
            res["spf"] = f[1]
        elif f[0] == "dkim":
            res["dkim"].append((f[2], f[3], f[4]))
        elif f[0] == "dmarc":
            res["dmarc"] = (f[1], f[2], f[3])
        elif f[0] == "keymemo":
            res["keymemo"] = dict(zip(("bound", "hits", "misses",
                                       "passed"), map(int, f[1:])))
        else:
            hdr.append(ln)
    res["header"] = "\n".join(hdr)
    return res


def main():
    prog = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="mailauth.")
    pem, pub = rsa_key(tmp)
    zones = {
        "pass.test": [("TXT", "v=spf1 ip4:192.0.2.2 -all"),
                      ("MX", 10, "mx.pass.test")],
        "mx.pass.test": [("A", "192.0.2.5")],
        "_dmarc.pass.test": [("TXT", "v=DMARC1; p=reject")],
        "sel._domainkey.pass.test": key_record(pub),
        "soft.test": [("TXT", "v=spf1 ~all")],
        "neutral.test": [("TXT", "v=spf1 ?all")],
        "mxonly.test": [("TXT", "v=spf1 mx a:host.mxonly.test -all"),
                        ("MX", 5, "mx.mxonly.test")],
        "mx.mxonly.test": [("A", "192.0.2.7")],
        "host.mxonly.test": [("A", "192.0.2.8")],
        "inc.test": [("TXT", "v=spf1 include:pass.test -all")],
        "broken.test": [("TXT", "v=spf1 frobnicate:x -all")],
        "norecord.test": [("A", "192.0.2.1")],
        "servfail.test": [("SERVFAIL",)],
        "slow.test": [("TIMEOUT",)],
        "quar.test": [("TXT", "v=spf1 -all")],
        "_dmarc.quar.test": [("TXT", "v=DMARC1; p=quarantine")],
        "none.test": [("TXT", "v=spf1 -all")],
        "_dmarc.none.test": [("TXT", "v=DMARC1; p=none")],
        "_dmarc.org.test": [("TXT", "v=DMARC1; p=reject; sp=quarantine")],
        "sub.org.test": [("TXT", "v=spf1 -all")],
        "badkey.test": [("TXT", "v=spf1 -all")],
        "_dmarc.shop.com": [("TXT", "v=DMARC1; p=reject")],
        "sel._domainkey.shop.com": key_record(pub),
        "_dmarc.strict.com": [("TXT", "v=DMARC1; p=reject; adkim=s")],
        "sel._domainkey.strict.com": key_record(pub),
        "_dmarc.sample.test": [("TXT", "v=DMARC1; p=reject; pct=0")],
        "_dmarc.broken.test": [("TXT", "v=DMARC1; p=frobnicate")],
        "sel._domainkey.badkey.test": [("SERVFAIL",)],
        "garbled.test": [("TXT", "v=spf1 -all")],
        "sel._domainkey.garbled.test": key_record("QUJDRA=="),
    }
    with DNSServer(zones, host="127.0.0.1") as dns:
        conf = os.path.join(tmp, "vellum.conf")
        with open(conf, "w") as f:
            f.write("data_dir = %s\n[dns]\nresolver = 127.0.0.1:%d\n" %
                    (tmp, dns.port))

        def run(ip, helo, sender, checks, msg=None, timeout=None,
                rounds=1):
            return probe(prog, conf, ip, helo, sender, checks,
                         msg or message("a@x.test"), timeout, rounds)

        # SPF, each result
        cases = [("192.0.2.2", "a@pass.test", "pass"),
                 ("192.0.2.9", "a@pass.test", "fail"),
                 ("192.0.2.9", "a@soft.test", "softfail"),
                 ("192.0.2.9", "a@neutral.test", "neutral"),
                 ("192.0.2.7", "a@mxonly.test", "pass"),
                 ("192.0.2.8", "a@mxonly.test", "pass"),
                 ("192.0.2.5", "a@mxonly.test", "fail"),
                 ("192.0.2.2", "a@inc.test", "pass"),
                 ("192.0.2.3", "a@inc.test", "fail"),
                 ("192.0.2.2", "a@broken.test", "permerror"),
                 ("192.0.2.2", "a@norecord.test", "none"),
                 ("192.0.2.2", "a@nxdomain.test", "none"),
                 ("192.0.2.2", "a@servfail.test", "temperror")]
        for ip, sender, want in cases:
            r = run(ip, "client.x.test", sender, "spf")
            check(r["spf"] == want, "spf %s from %s is %s" %
                  (sender, ip, want), r)
            check("spf=%s smtp.mailfrom=%s" % (want, sender) in r["header"],
                  "the header says spf=%s" % want, r["header"])
        # <>: the HELO name is checked (RFC 7208 2.3)
        r = run("192.0.2.2", "pass.test", "", "spf")
        check(r["spf"] == "pass" and "smtp.helo=pass.test" in r["header"],
              "a null sender is checked by its HELO name", r)
        # a DNS server that does not answer: temperror within the deadline
        t0 = time.monotonic()
        r = run("192.0.2.2", "h.x.test", "a@slow.test", "spf", timeout=1500)
        took = time.monotonic() - t0
        check(r["spf"] == "temperror", "no answer is temperror", r)
        check(took < 5, "the deadline holds (1.5 s)", took)

        # DKIM
        good = sign(message("Alice <alice@pass.test>"), "pass.test", "sel",
                    pem)
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dkim", good)
        check(r["dkim"] == [("pass", "pass.test", "sel")],
              "a good signature passes", r)
        check("dkim=pass header.d=pass.test header.s=sel header.b=" in
              r["header"], "the header says dkim=pass with d, s and b",
              r["header"])
        bad = good.replace(b"as promised", b"as PROMISED")
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dkim", bad)
        check(r["dkim"] == [("fail", "pass.test", "sel")],
              "an altered body fails", r)
        bad = good.replace(b"Subject: results", b"Subject: Results!")
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dkim", bad)
        check(r["dkim"] == [("fail", "pass.test", "sel")],
              "an altered Subject fails", r)
        # the key memo (common/keymemo.c): libopendkim's key decoding
        # reaches it, a key is decoded once per process, and a key from
        # the memo decides as a fresh one does
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dkim", good,
                rounds=3)
        check(r["dkim"] == [("pass", "pass.test", "sel")],
              "a good signature passes with the key from the memo", r)
        check(r["keymemo"] == {"bound": 1, "hits": 2, "misses": 1,
                               "passed": 0},
              "three checks of one key: decoded once, found twice", r)
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dkim", bad,
                rounds=2)
        check(r["dkim"] == [("fail", "pass.test", "sel")] and
              r["keymemo"]["hits"] == 1,
              "an altered message fails with the key from the memo", r)
        garbled = sign(message("a@garbled.test"), "garbled.test", "sel",
                       pem)
        r = run("192.0.2.2", "h.x.test", "a@garbled.test", "dkim", garbled)
        check(r["dkim"] == [("permerror", "garbled.test", "sel")],
              "a key that does not decode is permerror", r)
        check(r["keymemo"] == {"bound": 1, "hits": 0, "misses": 0,
                               "passed": 1},
              "bytes that do not decode go to OpenSSL's own function", r)
        nokey = sign(message("a@soft.test"), "soft.test", "sel", pem)
        r = run("192.0.2.2", "h.x.test", "a@soft.test", "dkim", nokey)
        check(r["dkim"] == [("permerror", "soft.test", "sel")],
              "a signature without a key is permerror", r)
        tkey = sign(message("a@badkey.test"), "badkey.test", "sel", pem)
        r = run("192.0.2.2", "h.x.test", "a@badkey.test", "dkim", tkey)
        check(r["dkim"] == [("temperror", "badkey.test", "sel")],
              "a key lookup that fails is temperror", r)
        r = run("192.0.2.2", "h.x.test", "a@pass.test", "dkim",
                message("a@pass.test"))
        check(r["dkim"] == [] and "dkim=none" in r["header"],
              "no signature: dkim=none", r)

        # DMARC
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dmarc",
                message("Alice <alice@pass.test>"))
        check(r["dmarc"] == ("pass", "pass.test", "none"),
              "aligned SPF pass: dmarc=pass", r)
        r = run("192.0.2.9", "h.x.test", "alice@other.test", "dmarc", good)
        check(r["dmarc"] == ("pass", "pass.test", "none"),
              "aligned DKIM pass alone: dmarc=pass", r)
        r = run("192.0.2.9", "h.x.test", "alice@pass.test", "dmarc",
                message("Alice <alice@pass.test>"))
        check(r["dmarc"] == ("fail", "pass.test", "reject"),
              "nothing aligned passes under p=reject: reject", r)
        check("dmarc=fail header.from=pass.test" in r["header"],
              "the header says dmarc=fail", r["header"])
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dmarc",
                message("Mallory <m@quar.test>"))
        check(r["dmarc"] == ("fail", "quar.test", "quarantine"),
              "SPF passing for another domain does not align", r)
        r = run("192.0.2.9", "h.x.test", "m@none.test", "dmarc",
                message("m@none.test"))
        check(r["dmarc"] == ("fail", "none.test", "none"),
              "p=none: fail, nothing asked", r)
        r = run("192.0.2.9", "h.x.test", "m@sub.org.test", "dmarc",
                message("m@sub.org.test"))
        check(r["dmarc"] == ("fail", "sub.org.test", "quarantine"),
              "a subdomain takes its organizational domain's sp=", r)
        r = run("192.0.2.9", "h.x.test", "m@soft.test", "dmarc",
                message("m@soft.test"))
        check(r["dmarc"][0] == "none", "no DMARC record: dmarc=none", r)
        r = run("192.0.2.9", "h.x.test", "m@soft.test", "dmarc",
                message("a@soft.test, b@pass.test"))
        check(r["dmarc"][0] == "permerror",
              "a From: of two addresses is permerror", r)
        # a second From: field (readers may see it, DMARC the first)
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dmarc",
                message("alice@pass.test", extra=b"From: ceo@bank.test\r\n"))
        check(r["dmarc"][0] == "permerror",
              "two From: fields are a permerror, not a pass", r)
        # many signatures: eight are checked, the rest never looked up
        many = message("Alice <alice@pass.test>")
        for i in range(12):
            many = sign(many, "pass.test", "s%d" % i, pem)
        n = len(dns.queries)
        r = run("192.0.2.2", "h.x.test", "alice@pass.test", "dkim", many)
        keys = [q for q in dns.queries[n:] if "._domainkey." in q[1]]
        check(len(r["dkim"]) == 8 and
              len(set(q[1] for q in keys)) == 8,
              "12 signatures: 8 reported, 8 keys asked for", (r, keys))
        # relaxed alignment across the organizational domain (the public
        # suffix list: com), strict alignment refusing it
        m = sign(message("a@news.shop.com"), "shop.com", "sel", pem)
        r = run("192.0.2.9", "h.x.test", "a@elsewhere.test", "dmarc", m)
        check(r["dmarc"] == ("pass", "news.shop.com", "none"),
              "d=shop.com aligns with news.shop.com (relaxed)", r)
        m = sign(message("a@news.strict.com"), "strict.com", "sel", pem)
        r = run("192.0.2.9", "h.x.test", "a@elsewhere.test", "dmarc", m)
        check(r["dkim"] == [("pass", "strict.com", "sel")] and
              r["dmarc"] == ("fail", "news.strict.com", "reject"),
              "adkim=s: a passing d=strict.com does not align", r)
        r = run("192.0.2.9", "h.x.test", "a@sample.test", "dmarc",
                message("a@sample.test"))
        check(r["dmarc"] == ("fail", "sample.test", "quarantine"),
              "pct=0 under p=reject: quarantine (RFC 7489 6.6.4)", r)
        r = run("192.0.2.9", "h.x.test", "a@broken.test", "dmarc",
                message("a@broken.test"))
        check(r["dmarc"][0] == "permerror",
              "a broken DMARC record is a permerror", r)
        check(r["header"].startswith("Authentication-Results: " + ID +
                                     ";\r\n\tspf="),
              "the field starts with our authserv-id", r["header"])
    print("ok")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
