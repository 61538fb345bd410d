"""The DNS checks of port 25 (issue 15, smtpd/dnscheck.c) against
dnsserver.py on loopback, clients from different 127.0.0.x addresses:

- DNSBL ([smtpd] dnsbl_sites, dnsbl_threshold): a client listed in zones
  weighing the threshold gets "554 5.7.1 Service unavailable; client [IP]
  blocked using ZONE" (the heaviest listing zone) and then only QUIT; a
  lighter listing, a filtered-out answer, a clean address, a SERVFAIL and
  a silent zone (after [dns] timeout) pass; an IPv6 client (::1) is
  asked by nibbles; each zone is asked once within the TTL (libunbound's
  cache), TXT only where a client is listed; a white ip or net (vellumctl acl) and a
  trusted_networks client are not looked up; reject_early_talkers does not
  take the wait for early talking from a client that waits for the
  greeting, and does from one that talks before it; a client that leaves
  during the lookups crashes nothing;
- reject_unknown_client: a PTR name that resolves back passes (and is in
  Received:), no PTR or a name that does not resolve back gets the 554
  5.7.25 greeting, a SERVFAIL the 421 4.7.25 one;
- reject_unknown_helo_hostname: A or MX only passes, NXDOMAIN 550 5.7.1,
  SERVFAIL 450 4.7.1, an address literal is not looked up, MAIL needs a
  HELO first;
- reject_unknown_sender_domain: MX first, then A and AAAA only without
  one (none after NXDOMAIN); A or MX passes, NXDOMAIN 550 5.1.8, null
  MX 550 5.7.27, SERVFAIL 450 4.1.8; <> and our own domain are not looked
  up; pipelined commands wait for the answer; a client leaving mid-lookup.
All off: no query at all.

usage: test_smtp_dns.py BUILD_DIR
"""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from smtptest import (Client25 as Raw, SmtpSite, count, log_has,  # noqa
                      require_smtpd, stored)

HOST = "127.0.0.1"
BOB = "bob@example.test"
TIMEOUT = 2             # [dns] timeout, seconds
# A slow answer: under libunbound's first retry (376 ms for a server it
# does not know yet), which asks again from another port and drops the
# answer to the first query.
SLOW = 0.25


def rev(n, zone):
    return "%d.0.0.127.%s" % (n, zone)


RECORDS = {
    # zen (weight 2) lists .2, .3, .17, .12; bl (weight 1) lists .3, .6
    rev(2, "zen.example.test"): [("A", "127.0.0.2"),
                                 ("TXT", "zen says: spam source")],
    rev(3, "zen.example.test"): [("A", "127.0.0.4")],
    rev(12, "zen.example.test"): [("A", "127.0.0.2")],
    rev(17, "zen.example.test"): [("A", "127.0.0.2")],
    rev(3, "bl.example.test"): [("A", "127.0.0.2")],
    rev(6, "bl.example.test"): [("A", "127.0.0.2")],
    # f lists only answers 127.0.0.2-3: .7 answers .9 (not listed)
    rev(7, "f.example.test"): [("A", "127.0.0.9")],
    rev(8, "f.example.test"): [("A", "127.0.0.3")],
    rev(9, "zen.example.test"): [("TIMEOUT",)],
    rev(10, "zen.example.test"): [("SERVFAIL",)],
    rev(11, "zen.example.test"): [("DELAY", SLOW)],
    rev(13, "zen.example.test"): [("TIMEOUT",)],
    rev(14, "zen.example.test"): [("DELAY", SLOW)],
    # reverse DNS
    rev(1, "in-addr.arpa"): [("PTR", "localhost.example.test")],
    "localhost.example.test": [("A", "127.0.0.1")],
    rev(20, "in-addr.arpa"): [("PTR", "good20.example.test")],
    "good20.example.test": [("A", "127.0.0.20")],
    rev(22, "in-addr.arpa"): [("PTR", "liar.example.test")],
    "liar.example.test": [("A", "127.0.0.99")],
    rev(23, "in-addr.arpa"): [("SERVFAIL",)],
    rev(25, "in-addr.arpa"): [("PTR", "bad!name.example.test")],
    rev(24, "in-addr.arpa"): [("PTR", "other.example.test"),
                              ("PTR", "good24.example.test")],
    "good24.example.test": [("A", "127.0.0.24")],
    # HELO names and sender domains
    "good.example.test": [("A", "127.0.0.1")],
    "v6.example.test": [("AAAA", "::1")],
    "mxonly.example.test": [("MX", 10, "good.example.test")],
    "sf.example.test": [("SERVFAIL",)],
    "nullmx.example.test": [("MX", 0, ".")],
    # asked by the sender check alone: which types it asks
    "mx2.example.test": [("MX", 10, "good.example.test"),
                         ("A", "127.0.0.1")],
    "aonly.example.test": [("A", "127.0.0.1")],
    "slowd.example.test": [("DELAY", SLOW), ("A", "127.0.0.1")],
    "silent.example.test": [("TIMEOUT",)],
}

# ::1 reversed by nibbles (RFC 3596 2.5), as DNSBLs list IPv6
V6_LOOPBACK = ".".join(["1"] + ["0"] * 31)
RECORDS[V6_LOOPBACK + ".zen.example.test"] = [("A", "127.0.0.2")]

SITES = ("zen.example.test*2, bl.example.test*1, "
         "f.example.test=127.0.0.[2..3]*2")


def asked(dns, name, qtype=None):
    """How many times the server was asked name (of qtype)."""
    return sum(1 for q in list(dns.queries)
               if q[1] == name and (qtype is None or q[2] == qtype))


def blocked(ip, zone):
    return ("554 5.7.1 Service unavailable; client [%s] blocked using %s"
            % (ip, zone))


def case_off(srv, dns):
    """Every check off: greeted at once, no query."""
    n = len(dns.queries)
    c = Raw(srv, 2)
    check(c.greeting.startswith("220 "), "off: a listed client is greeted",
          c.greeting)
    c.expect("EHLO nx.example.test", 250, "off: HELO not looked up")
    c.expect("MAIL FROM:<a@nx.example.test>", 250, "off: sender not looked "
             "up")
    c.close()
    check(len(dns.queries) == n, "off: no DNS query at all",
          dns.queries[n:])


def case_dnsbl(srv, dns):
    """Weights, threshold, the reply naming the list, only QUIT after."""
    c = Raw(srv, 2)
    check(c.greeting == blocked("127.0.0.2", "zen.example.test"),
          "127.0.0.2 (zen, weight 2): 554 naming zen", c.greeting)
    c.expect("EHLO good.example.test", 503, "blocked: EHLO refused")
    c.expect("MAIL FROM:<a@good.example.test>", 503, "blocked: MAIL")
    c.expect("QUIT", 221, "blocked: QUIT")
    c.s.close()
    log_has(srv, r"dnsbl: client 127\.0\.0\.2 listed by zen\.example\.test "
            r"\(127\.0\.0\.2: zen says: spam source\), weight 2",
            "the listing is logged with the list's TXT reason")
    log_has(srv, r"dnsbl: client 127\.0\.0\.2 rejected: score 2, threshold "
            r"2, blocked using zen\.example\.test", "the decision is logged")
    c = Raw(srv, 3)
    check(c.greeting == blocked("127.0.0.3", "zen.example.test"),
          "127.0.0.3 (zen 2 + bl 1): 554 naming the heaviest, zen",
          c.greeting)
    c.close()
    log_has(srv, r"client 127\.0\.0\.3 rejected: score 3", "score 3")
    for ip, what in ((4, "clean"), (6, "bl only, weight 1 < 2"),
                     (7, "f answers 127.0.0.9, outside its filter"),
                     (10, "zen SERVFAIL: not listed")):
        c = Raw(srv, ip)
        check(c.greeting.startswith("220 "), "127.0.0.%d (%s) is greeted"
              % (ip, what), c.greeting)
        c.expect("EHLO good.example.test", 250, what)
        c.close()
    log_has(srv, r"dnsbl: client 127\.0\.0\.6 passes: score 1, threshold 2",
            "a pass is logged with its score")
    check(asked(dns, rev(4, "zen.example.test"), "A") == 1 and
          asked(dns, rev(4, "zen.example.test"), "TXT") == 0 and
          asked(dns, rev(2, "zen.example.test"), "TXT") == 1,
          "one A query per zone; TXT only where the client is listed",
          dns.queries)
    log_has(srv, r"dnsbl: zen\.example\.test lookup for 127\.0\.0\.10 "
            r"failed, counted as not listed", "a failed lookup is logged")
    c = Raw(srv, 8)
    check(c.greeting == blocked("127.0.0.8", "f.example.test"),
          "127.0.0.8 (f answers 127.0.0.3, inside its filter): 554 naming "
          "f", c.greeting)
    c.close()


def case_ipv6(srv, dns):
    """An IPv6 client is looked up by the nibbles of its address."""
    c = Raw(srv, src=None, host="::1")
    check(c.greeting == blocked("::1", "zen.example.test"), "::1, listed in "
          "zen by nibbles: 554", c.greeting)
    c.close()
    check(asked(dns, V6_LOOPBACK + ".zen.example.test", "A") == 1,
          "the nibble name was asked", dns.queries)


def case_timeout(srv, dns):
    """A silent zone: the greeting waits [dns] timeout, not longer, and
    the client passes."""
    t0 = time.monotonic()
    c = Raw(srv, 9)
    took = time.monotonic() - t0
    check(c.greeting.startswith("220 "), "a zone that times out counts as "
          "not listing", c.greeting)
    check(TIMEOUT - 0.5 <= took < TIMEOUT + 3, "the greeting waited for "
          "the timeout (%d s), not longer" % TIMEOUT, took)
    c.expect("EHLO good.example.test", 250, "after the timeout")
    c.close()
    log_has(srv, r"zen\.example\.test lookup for 127\.0\.0\.9 failed, "
            r"counted as not listed: .*no answer within", "the timeout is "
            "logged")


def case_cache(srv, dns):
    """A second connection within the TTL asks nothing again."""
    name = rev(2, "zen.example.test")
    n = asked(dns, name, "A")
    check(n == 1, "127.0.0.2 was looked up once in zen", dns.queries)
    c = Raw(srv, 2)
    check(c.greeting.startswith("554 "), "again: 554", c.greeting)
    c.close()
    check(asked(dns, name, "A") == 1, "within the TTL the second "
          "connection used libunbound's cache", dns.queries)


def case_early(srv, dns):
    """reject_early_talkers: the wait for the lookups is no early talk; a
    command sent during it is answered after the greeting, in order."""
    t0 = time.monotonic()
    c = Raw(srv, 11)
    check(c.greeting.startswith("220 ") and time.monotonic() - t0 >= SLOW,
          "a slow zone delays the greeting", (c.greeting,
                                                time.monotonic() - t0))
    c.expect("HELO good.example.test", 250, "a polite client after a slow "
             "greeting")
    c.expect("MAIL FROM:<a@good.example.test>", 250, "and goes on")
    c.close()
    log_has(srv, r"dnsbl: client 127\.0\.0\.11 passes", "the slow answer "
            "came within the timeout")
    # a client that talks before the greeting it waits for is one
    c = Raw(srv, 14, greet=False)
    c.send("EHLO good.example.test\r\n")
    r = c.reply()
    check(r.startswith("554 5.5.0 ") and c.reply() == "(closed)", "a "
          "command sent before the delayed greeting: 554, closed", r)
    c.s.close()
    log_has(srv, r"early talker 127\.0\.0\.14: sent commands before the "
            r"greeting", "the early talker is logged")
    check(not re.search(r"lookup for 127\.0\.0\.11 failed",
                        srv.smtpd.output()), "the slow answer is no "
          "failure", srv.smtpd.output()[-2000:])
    # a client leaving while the zones are asked (.13 times out): a
    # reset ends the session at once, its lookups cancelled
    c = Raw(srv, 13, greet=False)
    time.sleep(0.3)
    c.abort()
    log_has(srv, r"conn \d+: dns: client 127\.0\.0\.13 left during its "
            r"lookups", "a client leaving mid-lookup is logged")
    check(not re.search(r"lookup for 127\.0\.0\.13", srv.smtpd.output()),
          "its lookups were cancelled", srv.smtpd.output()[-2000:])
    # one that only shuts down its side may still read: it is answered
    # when the lookups end, then the session ends
    c = Raw(srv, 13, greet=False)
    c.s.shutdown(socket.SHUT_WR)
    r = c.reply()
    check(r.startswith("220 "), "a half-closed client gets its greeting "
          "after the lookups", r)
    check(c.reply() == "(closed)", "then the session ends", "")
    c.s.close()
    srv.alive("a client left during the connect lookups")


def case_white(srv, dns):
    """A white ip or net skips the DNSBL; a trusted network too."""
    site = srv.site
    site.ctl("acl", "add", "white", "ip", "127.0.0.2")
    site.ctl("acl", "add", "white", "net", "127.0.0.16/30")
    for ip in (2, 17):
        n = asked(dns, rev(ip, "zen.example.test"))
        c = Raw(srv, ip)
        check(c.greeting.startswith("220 "), "white 127.0.0.%d is greeted"
              % ip, c.greeting)
        c.close()
        check(asked(dns, rev(ip, "zen.example.test")) == n, "white: not "
              "looked up", dns.queries)
    log_has(srv, r"dnsbl: client 127\.0\.0\.17 not looked up: whitelisted "
            r"by net 127\.0\.0\.16/30", "the skip is logged")
    site.ctl("acl", "del", "ip", "127.0.0.2")
    c = Raw(srv, 2)
    check(c.greeting.startswith("554 "), "no longer white: 554", c.greeting)
    c.close()
    c = Raw(srv, 12)
    check(c.greeting.startswith("220 "), "127.0.0.12 (trusted_networks) is "
          "greeted", c.greeting)
    c.close()
    check(asked(dns, rev(12, "zen.example.test")) == 0, "trusted: never "
          "looked up", dns.queries)


def case_reverse(srv, dns):
    """reject_unknown_client: forward-confirmed PTR or the greeting
    refuses."""
    site = srv.site
    c = Raw(srv, 20)
    check(c.greeting.startswith("220 "), "127.0.0.20 with a confirmed PTR "
          "is greeted", c.greeting)
    c.expect("EHLO good.example.test", 250, "reverse ok")
    c.expect("MAIL FROM:<a@good.example.test>", 250, "reverse ok")
    c.expect("RCPT TO:<%s>" % BOB, 250, "reverse ok")
    c.expect("DATA", 354, "reverse ok")
    c0 = count(site, BOB)
    c.expect("Subject: rev\r\n\r\nhi\r\n.", 250, "reverse ok")
    c.close()
    check(count(site, BOB) == c0 + 1, "delivered", "")
    log_has(srv, r"reverse dns: client 127\.0\.0\.20 is good20\.example\."
            r"test", "the name is logged")
    log_has(srv, r"client=good20\.example\.test\[127\.0\.0\.20\]",
            "the name is in the message's client= line")
    msg = stored(site, BOB)[-1]
    check(b"Received: from good.example.test (good20.example.test "
          b"[127.0.0.20])" in msg, "Received: names the confirmed client",
          msg[:300])
    c = Raw(srv, 24)
    check(c.greeting.startswith("220 "), "one of two PTR names confirms",
          c.greeting)
    c.close()
    for ip, what in ((21, "no PTR"), (22, "a PTR that does not resolve "
                                      "back"),
                     (25, "a PTR that is no host name")):
        c = Raw(srv, ip)
        check(c.greeting == "554 5.7.25 Client host [127.0.0.%d] rejected: "
              "cannot find your hostname" % ip, "127.0.0.%d (%s): 554" %
              (ip, what), c.greeting)
        c.expect("HELO good.example.test", 503, what)
        c.expect("QUIT", 221, what)
        c.s.close()
    log_has(srv, r"reverse dns: client 127\.0\.0\.22 rejected: no name that "
            r"resolves back to it: liar\.example\.test does not resolve to",
            "the mismatch is logged")
    c = Raw(srv, 23)
    check(c.greeting.startswith("421 4.7.25 ") and "[127.0.0.23]" in
          c.greeting, "127.0.0.23 (PTR SERVFAIL): 421", c.greeting)
    check(c.reply() == "(closed)", "421: the session ends", "")
    c.s.close()


def case_helo(srv, dns):
    """reject_unknown_helo_hostname."""
    c = Raw(srv, 4)
    c.expect("MAIL FROM:<a@good.example.test>", 503, "MAIL before HELO",
             "503 5.5.1 Error: send HELO/EHLO first")
    c.expect("EHLO nx.example.test", 550, "HELO NXDOMAIN",
             "550 5.7.1 <nx.example.test>: Helo command rejected: Host "
             "not found")
    c.expect("MAIL FROM:<a@good.example.test>", 503, "MAIL after a refused "
             "HELO")
    c.expect("EHLO sf.example.test", 450, "HELO SERVFAIL",
             "450 4.7.1 <sf.example.test>: Helo command rejected: Host "
             "not found")
    for name in ("good.example.test", "v6.example.test",
                 "mxonly.example.test"):
        c.expect("EHLO " + name, 250, "HELO %s resolves" % name)
    n = len(dns.queries)
    c.expect("HELO [127.0.0.1]", 250, "an address literal")
    check(len(dns.queries) == n, "an address literal is not looked up",
          dns.queries[n:])
    c.expect("MAIL FROM:<a@good.example.test>", 250, "MAIL after HELO")
    c.close()
    log_has(srv, r"helo dns: nx\.example\.test of client 127\.0\.0\.4 not "
            r"found", "the refusal is logged with the client's address")


def case_sender(srv, dns):
    """reject_unknown_sender_domain."""
    site = srv.site
    c = Raw(srv, 4)
    c.expect("EHLO good.example.test", 250, "sender")
    for dom, code, text in (
            ("nx.example.test", 550, "550 5.1.8 <a@nx.example.test>: "
             "Sender address rejected: Domain not found"),
            ("sf.example.test", 450, "450 4.1.8 <a@sf.example.test>: "
             "Sender address rejected: Domain not found"),
            ("nullmx.example.test", 550, "550 5.7.27 <a@nullmx.example."
             "test>: Sender address rejected: Domain nullmx.example.test "
             "does not accept mail (nullMX)")):
        c.expect("MAIL FROM:<a@%s>" % dom, code, "sender " + dom, text)
    for dom in ("good.example.test", "mxonly.example.test"):
        c.expect("MAIL FROM:<a@%s>" % dom, 250, "sender " + dom)
        c.expect("RSET", 250, "sender")
    # the MX first; A and AAAA only without one; nothing after NXDOMAIN
    for dom, code, want in (("mx2.example.test", 250, {"MX"}),
                            ("aonly.example.test", 250, {"MX", "A", "AAAA"}),
                            ("nx2.example.test", 550, {"MX"})):
        c.expect("MAIL FROM:<a@%s>" % dom, code, "sender " + dom)
        if code == 250:
            c.expect("RSET", 250, "sender")
        got = {t for t in ("MX", "A", "AAAA") if asked(dns, dom, t)}
        check(got == want, "sender %s: asked %s" % (dom, sorted(want)),
              sorted(got))
    n = len(dns.queries)
    c.expect("MAIL FROM:<>", 250, "the null sender")
    c.expect("RSET", 250, "sender")
    c.expect("MAIL FROM:<boss@example.test>", 250, "our own domain")
    c.expect("RSET", 250, "sender")
    check(len(dns.queries) == n, "<> and our own domain are not looked up",
          dns.queries[n:])
    # pipelined: the RCPT and DATA wait for the slow sender answer
    c0 = count(site, BOB)
    c.send("MAIL FROM:<a@slowd.example.test>\r\nRCPT TO:<%s>\r\nDATA\r\n"
           % BOB)
    for code, what in ((250, "MAIL"), (250, "RCPT"), (354, "DATA")):
        r = c.reply()
        check(r.startswith("%d " % code), "pipelined %s after a slow lookup"
              % what, r)
    c.expect("Subject: slow\r\n\r\nhi\r\n.", 250, "pipelined message")
    c.close()
    check(count(site, BOB) == c0 + 1, "the pipelined message is delivered",
          "")
    log_has(srv, r"sender dns: <a@nx\.example\.test> of client 127\.0\.0\.4: "
            r"nx\.example\.test not found", "logged with the client")
    # a client leaving during the lookup
    c = Raw(srv, 4)
    c.expect("EHLO good.example.test", 250, "leaving")
    c.send("MAIL FROM:<a@silent.example.test>\r\n")
    time.sleep(0.3)
    c.abort()
    log_has(srv, r"client 127\.0\.0\.4 left during its lookups",
            "leaving mid-lookup is logged")
    srv.alive("a client left during a sender lookup")


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    with DNSServer(RECORDS, host=HOST, ttl=300) as dns:
        srv = SmtpSite(site, lmtp=False)
        site.add_user(BOB, "pw-bob")
        srv.reconfigure(more={"dns": {"resolver": "%s:%d" % (HOST, dns.port),
                                      "timeout": str(TIMEOUT)}})
        srv.start(pop3=False)
        case_off(srv, dns)
        port = srv.ports["smtp"]
        srv.reconfigure(smtpd={"dnsbl_sites": SITES, "dnsbl_threshold": "2",
                               "reject_early_talkers": "yes",
                               "trusted_networks": "127.0.0.12/32"},
                        more={"smtp": {"listen": "%s:%d, [::1]:%d"
                                       % (HOST, port, port)}})
        srv.restart(pop3=False)
        case_dnsbl(srv, dns)
        case_cache(srv, dns)
        case_ipv6(srv, dns)
        case_timeout(srv, dns)
        case_early(srv, dns)
        case_white(srv, dns)
        srv.reconfigure(smtpd={"dnsbl_sites": "",
                               "reject_unknown_client": "yes"})
        srv.restart(pop3=False)
        case_reverse(srv, dns)
        srv.reconfigure(smtpd={"reject_unknown_client": "no",
                               "reject_unknown_helo_hostname": "yes",
                               "reject_unknown_sender_domain": "yes"})
        srv.restart(pop3=False)
        case_helo(srv, dns)
        case_sender(srv, dns)
        srv.alive("the tests")
        check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0",
              "")
    return 0


if __name__ == "__main__":
    main(run)
