#!/usr/bin/env python3
"""mta/dns.c, the resolver of vellum-mta, against dnsserver.py: a DNS
server on the loopback that is the only resolver ([dns] resolver), so
nothing leaves the machine.  dns-helper runs the lookups and prints
them (see its header).

Proves: MX hosts by preference, equal preferences both kept and
shuffled, the implicit MX, null MX, NXDOMAIN -> NOTFOUND, SERVFAIL ->
TEMP, no answer -> TEMP after [dns] timeout, MX hosts without addresses
left out (all -> TEMP), IPv6-only hosts, CNAMEs, answers too long for
UDP fetched over TCP, [dns] ipv6 = no / ipv4 = no, at most 16 hosts and
16 addresses kept, a resolver on ::1, many lookups at once, cancel and
free (no callback after either), refused names, address literals,
DNSSEC: bogus answers are TEMP (no signed zone: a made-up trust anchor
for test.).

Usage: test_mta_dns.py DNS_HELPER
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check  # noqa: E402
from dnsserver import DNSServer  # noqa: E402

# [dns] timeout: short where a server is silent on purpose, else long
# enough that a busy machine never runs into it.
TIMEOUT = 2
TIMEOUT_LONG = 30

RECORDS = {
    "example.test": [("MX", 30, "mx3.example.test"),
                     ("MX", 10, "mx1.example.test"),
                     ("MX", 20, "mx2.example.test")],
    "mx1.example.test": [("A", "127.0.0.1")],
    "mx2.example.test": [("AAAA", "::1")],
    "mx3.example.test": [("A", "127.0.0.3"), ("AAAA", "::3")],
    "equal.test": [("MX", 10, "e1.equal.test"),
                   ("MX", 10, "e2.equal.test")],
    "e1.equal.test": [("A", "127.0.1.1")],
    "e2.equal.test": [("A", "127.0.1.2")],
    "implicit.test": [("A", "127.0.2.1"), ("AAAA", "::21")],
    "nullmx.test": [("MX", 0, ".")],
    "dotamong.test": [("MX", 0, "."), ("MX", 10, "mx1.example.test")],
    "txtonly.test": [("TXT", "v=spf1 -all")],
    "servfail.test": [("SERVFAIL",)],
    "silent.test": [("TIMEOUT",)],
    "slow.test": [("DELAY", 0.5), ("MX", 5, "mx1.example.test")],
    # MX hosts without addresses: one exists with no A/AAAA, one does
    # not exist at all; the third has an address.
    "someaddr.test": [("MX", 10, "noaddr.someaddr.test"),
                      ("MX", 20, "nxhost.someaddr.test"),
                      ("MX", 30, "mx1.example.test")],
    "noaddr.someaddr.test": [("TXT", "no address here")],
    "noneaddr.test": [("MX", 10, "noaddr.someaddr.test"),
                      ("MX", 20, "nxhost.someaddr.test")],
    # One MX host never answers: the other one is used after the timeout.
    "halfsilent.test": [("MX", 10, "quiet.halfsilent.test"),
                        ("MX", 20, "mx1.example.test")],
    "quiet.halfsilent.test": [("TIMEOUT",)],
    "tempaddr.test": [("MX", 10, "sf.tempaddr.test")],
    "sf.tempaddr.test": [("SERVFAIL",)],
    "v6only.test": [("MX", 10, "v6.v6only.test")],
    "v6.v6only.test": [("AAAA", "::1")],
    "v4only.test": [("MX", 10, "mx1.example.test")],
    "both.test": [("A", "127.0.3.1"), ("AAAA", "::31")],
    # CNAMEs: an MX target that is an alias, a domain that is an alias.
    "cnmx.test": [("MX", 10, "alias.cnmx.test")],
    "alias.cnmx.test": [("CNAME", "mx1.example.test")],
    "aliasdomain.test": [("CNAME", "example.test")],
    # Longer than any UDP answer unbound accepts (1232 bytes): TCP.
    "big.test": [("A", "127.0.%d.%d" % (10 + i // 200, i % 200 + 1))
                 for i in range(120)],
    "bigmx.test": [("MX", 100 - i, "host-number-%02d.with-a-long-name."
                    "bigmx.test" % i) for i in range(60)],
    "tcponly.test": [("TCPONLY",), ("A", "127.0.4.1")],
    "cut.test": [("A", "127.0.5.%d" % i) for i in range(1, 13)] +
                [("AAAA", "::5:%x" % i) for i in range(1, 31)],
}
for _i in range(60):
    RECORDS["host-number-%02d.with-a-long-name.bigmx.test" % _i] = \
        [("A", "127.0.6.%d" % (_i + 1))]
for _i in range(100):
    RECORDS["many%d.test" % _i] = [("MX", 10, "mx1.example.test")]


class Lookup:
    def __init__(self, head):
        parts = head.split(" ", 4)
        self.kind, self.name, self.status = parts[1], parts[2], parts[3]
        self.rest = parts[4] if len(parts) > 4 else ""
        self.implicit = "implicit=1" in self.rest
        self.secure = "secure=1" in self.rest
        self.error = ""
        self.addrs = []         # (pref, host, address)

    def hosts(self):
        seen = []
        for _, h, _ in self.addrs:
            if h not in seen:
                seen.append(h)
        return seen

    def __repr__(self):
        return "%s %s %s %r %r" % (self.kind, self.name, self.status,
                                   self.error, self.addrs)


class Env:
    def __init__(self, helper, tmp):
        self.helper = helper
        self.tmp = tmp
        self.n = 0

    def conf(self, port, host="127.0.0.1", extra="", timeout=TIMEOUT_LONG):
        self.n += 1
        path = os.path.join(self.tmp, "c%d.conf" % self.n)
        addr = "[%s]:%d" % (host, port) if ":" in host else \
            "%s:%d" % (host, port)
        with open(path, "w") as f:
            f.write("data_dir = %s\n[dns]\nresolver = %s\ntimeout = %d\n%s"
                    % (self.tmp, addr, timeout, extra))
        return path

    def run(self, conf, *args, opts=(), expect=0):
        """Runs dns-helper; the lookups it printed, in order."""
        cmd = [self.helper, "-c", conf] + list(opts) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=3 * TIMEOUT_LONG + 60)
        check(p.returncode == expect, "dns-helper %s exits %d" %
              (" ".join(args), expect),
              (p.returncode, p.stdout, p.stderr))
        check("ERROR" not in p.stdout and "HUNG" not in p.stdout,
              "dns-helper saw no misbehaviour", p.stdout)
        out = []
        for line in p.stdout.splitlines():
            if line.startswith("= "):
                out.append(Lookup(line))
            elif line.startswith("error "):
                out[-1].error = line[6:]
            elif line.startswith("pending "):
                check(line == "pending 0", "nothing left pending",
                      p.stdout)
            elif out:
                pref, host, addr = line.split(" ")
                out[-1].addrs.append((int(pref), host, addr))
        return out

    def one(self, conf, kind, name):
        r = self.run(conf, kind, name)
        check(len(r) == 1, "one result for %s %s" % (kind, name), r)
        return r[0]


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_mx(env, srv, conf):
    r = env.one(conf, "mx", "example.test")
    check(r.status == "OK" and not r.implicit and r.error == "",
          "example.test has MX hosts", r)
    check(r.addrs == [(10, "mx1.example.test", "127.0.0.1"),
                      (20, "mx2.example.test", "::1"),
                      (30, "mx3.example.test", "::3"),
                      (30, "mx3.example.test", "127.0.0.3")],
          "MX hosts by preference, IPv6 before IPv4 on each", r.addrs)
    # A final dot is the same name.
    r = env.one(conf, "mx", "example.test.")
    check(r.status == "OK" and r.hosts()[0] == "mx1.example.test",
          "example.test. is example.test", r)

    # Equal preferences: both, in either order (40 lookups at once).
    runs = env.run(conf, *(["mx", "equal.test"] * 40))
    orders = set()
    for r in runs:
        check(r.status == "OK" and sorted(r.hosts()) ==
              ["e1.equal.test", "e2.equal.test"],
              "both hosts of equal preference", r)
        orders.add(tuple(r.hosts()))
    check(len(orders) == 2, "equal preferences come in random order",
          orders)

    r = env.one(conf, "mx", "implicit.test")
    check(r.status == "OK" and r.implicit and
          r.addrs == [(0, "implicit.test", "::21"),
                      (0, "implicit.test", "127.0.2.1")],
          "no MX: the domain itself is the MX (RFC 5321 5.1)", r)

    r = env.one(conf, "mx", "nullmx.test")
    check(r.status == "NULLMX" and r.addrs == [] and
          "does not accept mail" in r.error, "null MX (RFC 7505)", r)
    r = env.one(conf, "mx", "dotamong.test")
    check(r.status == "OK" and r.hosts() == ["mx1.example.test"],
          "a '.' among other MX records is left out", r)

    r = env.one(conf, "mx", "nowhere.test")
    check(r.status == "NOTFOUND" and r.error ==
          "Host or domain name not found. Name service error for "
          "name=nowhere.test type=MX: Host not found",
          "NXDOMAIN: NOTFOUND in Postfix's words", r)
    r = env.one(conf, "mx", "txtonly.test")
    check(r.status == "NOTFOUND" and
          "Host found but no data record" in r.error,
          "no MX and no address: NOTFOUND", r)
    r = env.one(conf, "mx", "servfail.test")
    check(r.status == "TEMP" and "try again" in r.error,
          "SERVFAIL: TEMP", r)
    r = env.one(conf, "mx", "slow.test")
    check(r.status == "OK" and r.hosts() == ["mx1.example.test"],
          "a slow answer within the timeout", r)


def test_timeouts(env, srv):
    conf = env.conf(srv.port, timeout=TIMEOUT)
    r = env.one(conf, "mx", "silent.test")
    check(r.status == "TEMP" and
          "no answer within %d seconds" % TIMEOUT in r.error,
          "no answer: TEMP after [dns] timeout", r)
    r = env.one(conf, "host", "silent.test")
    check(r.status == "TEMP" and "no answer" in r.error,
          "no answer to a host lookup: TEMP", r)
    r = env.one(conf, "mx", "halfsilent.test")
    check(r.status == "OK" and r.hosts() == ["mx1.example.test"],
          "a silent MX host is left out when another answers", r)


def test_addresses(env, srv, conf):
    r = env.one(conf, "mx", "someaddr.test")
    check(r.status == "OK" and r.hosts() == ["mx1.example.test"],
          "MX hosts without addresses are left out", r)
    r = env.one(conf, "mx", "noneaddr.test")
    check(r.status == "TEMP" and "No MX host of noneaddr.test has an "
          "address" in r.error, "no MX host with an address: TEMP", r)
    r = env.one(conf, "mx", "tempaddr.test")
    check(r.status == "TEMP" and "try again" in r.error,
          "an MX host whose lookups fail: TEMP", r)
    r = env.one(conf, "mx", "v6only.test")
    check(r.status == "OK" and r.addrs == [(10, "v6.v6only.test", "::1")],
          "an IPv6-only MX host", r)

    r = env.one(conf, "mx", "cnmx.test")
    check(r.status == "OK" and
          r.addrs == [(10, "alias.cnmx.test", "127.0.0.1")],
          "an MX host that is a CNAME", r)
    r = env.one(conf, "mx", "aliasdomain.test")
    check(r.status == "OK" and r.hosts()[:2] ==
          ["mx1.example.test", "mx2.example.test"],
          "a domain that is a CNAME: its target's MX", r)
    r = env.one(conf, "host", "alias.cnmx.test")
    check(r.status == "OK" and r.addrs == [(0, "alias.cnmx.test",
                                            "127.0.0.1")],
          "a host that is a CNAME", r)

    r = env.one(conf, "host", "both.test")
    check(r.status == "OK" and not r.implicit and
          r.addrs == [(0, "both.test", "::31"), (0, "both.test",
                                                  "127.0.3.1")],
          "host: both families, one host, pref 0", r)
    r = env.one(conf, "host", "nowhere.test")
    check(r.status == "NOTFOUND" and "Host not found" in r.error,
          "host: NXDOMAIN is NOTFOUND", r)
    r = env.one(conf, "host", "txtonly.test")
    check(r.status == "NOTFOUND", "host without addresses: NOTFOUND", r)
    r = env.one(conf, "host", "servfail.test")
    check(r.status == "TEMP", "host: SERVFAIL is TEMP", r)
    for lit, addr in (("192.0.2.7", "192.0.2.7"),
                      ("[192.0.2.8]", "192.0.2.8"),
                      ("2001:db8::9", "2001:db8::9"),
                      ("[2001:db8::a]", "2001:db8::a")):
        r = env.one(conf, "host", lit)
        check(r.status == "OK" and r.addrs == [(0, lit, addr)],
              "an address literal answers itself", r)
    r = env.run(conf, "mx", "bad!name", "mx", "a..b", "host",
                "x" * 64 + ".test", "mx", "")
    check([x.status for x in r] == ["REFUSED"] * 4 and
          all("INVALID" in x.rest for x in r),
          "names that are not domain names are refused at once", r)


def test_tcp(env, srv, conf):
    r = env.one(conf, "host", "big.test")
    check(r.status == "OK" and len(r.addrs) == 16,
          "a long answer: 16 addresses kept", r)
    check(srv.queried("big.test", "A", "tcp") >= 1,
          "the truncated answer was asked again over TCP", srv.queries)
    r = env.one(conf, "host", "tcponly.test")
    check(r.status == "OK" and r.addrs == [(0, "tcponly.test",
                                            "127.0.4.1")],
          "an answer given only over TCP", r)
    r = env.one(conf, "mx", "bigmx.test")
    want = ["host-number-%02d.with-a-long-name.bigmx.test" % i
            for i in range(59, 43, -1)]
    check(r.status == "OK" and r.hosts() == want and
          [p for p, _, _ in r.addrs] == list(range(41, 57)),
          "60 MX hosts: the 16 most preferred kept, in order", r)
    r = env.one(conf, "host", "cut.test")
    v6 = [a for _, _, a in r.addrs if ":" in a]
    v4 = [a for _, _, a in r.addrs if ":" not in a]
    check(len(v6) == 8 and len(v4) == 8 and ":" in r.addrs[0][2],
          "12 A and 30 AAAA: each family keeps half of the 16", r)


def test_families(env, srv, port):
    conf = env.conf(port, extra="ipv6 = no\n")
    before = srv.queried("both.test", "AAAA")
    r = env.one(conf, "host", "both.test")
    check(r.status == "OK" and r.addrs == [(0, "both.test", "127.0.3.1")],
          "ipv6 = no: IPv4 only", r)
    check(srv.queried("both.test", "AAAA") == before,
          "ipv6 = no: no AAAA query sent", srv.queries)
    r = env.one(conf, "mx", "v6only.test")
    check(r.status == "TEMP" and r.addrs == [],
          "ipv6 = no: an IPv6-only MX host is no host", r)
    conf = env.conf(port, extra="ipv4 = no\n")
    r = env.one(conf, "mx", "implicit.test")
    check(r.status == "OK" and r.addrs == [(0, "implicit.test", "::21")],
          "ipv4 = no: IPv6 only", r)
    r = env.one(conf, "mx", "v4only.test")
    check(r.status == "TEMP", "ipv4 = no: an IPv4-only MX host is no "
          "host", r)


def test_loop(env, srv, conf):
    # Many lookups on one loop at once.
    args = []
    for i in range(100):
        args += ["mx", "many%d.test" % i]
    r = env.run(conf, *args)
    check(len(r) == 100 and all(x.status == "OK" and x.hosts() ==
                                ["mx1.example.test"] for x in r),
          "100 lookups at once all answered", [x for x in r
                                               if x.status != "OK"])
    # Cancelled: its callback never runs (dns-helper fails if it does),
    # the others are answered.
    r = env.run(conf, "mx", "example.test", "mx", "implicit.test",
                opts=["-x", "1"])
    check([x.status for x in r] == ["CANCELLED", "OK"],
          "a cancelled lookup is never called back", r)
    r = env.run(conf, "mx", "silent.test", "mx", "implicit.test",
                opts=["-x", "1"])
    check([x.status for x in r] == ["CANCELLED", "OK"],
          "a cancelled pending lookup is never called back", r)
    # Freed in the first callback: nothing else is called back.
    r = env.run(conf, "host", "192.0.2.1", "mx", "example.test", "mx",
                "silent.test", "host", "10.0.0.1", opts=["-F"])
    check([x.status for x in r] == ["OK", "FREED", "FREED", "FREED"],
          "after mta_dns_free() in a callback no callback runs", r)
    # A callback cancels itself (nothing) and starts a new lookup.
    r = env.run(conf, "mx", "example.test", opts=["-C"])
    check([x.status for x in r] == ["OK", "OK"] and r[1].kind == "again"
          and r[1].hosts() == r[0].hosts(),
          "a lookup started inside a callback", r)


def test_dnssec(env, srv, tmp):
    """No signed zone here: a trust anchor for test. makes its unsigned
    answers bogus (TEMP); one for another zone leaves them insecure."""
    digest = "ab" * 32
    for zone, status in (("test.", "TEMP"), ("other.", "OK")):
        key = os.path.join(tmp, "anchor-%s" % zone.rstrip("."))
        with open(key, "w") as f:
            f.write("%s IN DS 12345 8 2 %s\n" % (zone, digest))
        conf = env.conf(srv.port, extra="dnssec = yes\ntrust_anchor = "
                        "%s\n" % key)
        r = env.one(conf, "mx", "example.test")
        check(r.status == status and not r.secure,
              "dnssec = yes, anchor %s: %s" % (zone, status), r)
        if status == "TEMP":
            check("DNSSEC validation failed for name=example.test "
                  "type=MX" in r.error, "a bogus answer says so", r)
        else:
            check(r.hosts()[0] == "mx1.example.test",
                  "insecure answers are used", r)
    # dnssec = no (the default) never validates, whatever the anchor.
    conf = env.conf(srv.port, extra="trust_anchor = %s\n" % key)
    r = env.one(conf, "mx", "example.test")
    check(r.status == "OK", "dnssec = no: no validation", r)


def test_setup(env, tmp):
    # A resolver that does not answer (nothing listens): TEMP.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
        r = env.one(env.conf(dead, timeout=TIMEOUT), "mx",
                    "example.test")
    check(r.status == "TEMP", "a resolver that never answers: TEMP", r)
    p = subprocess.run([env.helper, "-c", env.conf(
        dead, extra="dnssec = yes\ntrust_anchor = %s/none.key\n" % tmp),
        "mx", "example.test"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "NEW FAILED NOTFOUND" in p.stdout and
          "none.key" in p.stdout,
          "dnssec = yes without its trust anchor fails at start",
          (p.returncode, p.stdout, p.stderr))


def main():
    if len(sys.argv) != 2:
        print("usage: test_mta_dns.py DNS_HELPER", file=sys.stderr)
        sys.exit(2)
    tmp = tempfile.mkdtemp(prefix="vellum-dns-test-")
    env = Env(os.path.abspath(sys.argv[1]), tmp)
    try:
        with DNSServer(RECORDS) as srv:
            conf = env.conf(srv.port)
            test_mx(env, srv, conf)
            test_timeouts(env, srv)
            test_addresses(env, srv, conf)
            test_tcp(env, srv, conf)
            test_families(env, srv, srv.port)
            test_loop(env, srv, conf)
            test_dnssec(env, srv, tmp)
        test_setup(env, tmp)
        if have_ipv6():
            with DNSServer(RECORDS, host="::1") as srv6:
                r = env.one(env.conf(srv6.port, host="::1"), "mx",
                            "example.test")
                check(r.status == "OK" and r.hosts()[0] ==
                      "mx1.example.test", "a resolver on ::1", r)
                check(srv6.queried("example.test", "MX") >= 1,
                      "the IPv6 server was asked", srv6.queries)
        else:
            print("no IPv6 on the loopback: the ::1 resolver is not tried")
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
