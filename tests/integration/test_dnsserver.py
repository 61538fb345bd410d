#!/usr/bin/env python3
"""dnsserver.py, the loopback DNS server of the tests, answers as its
header says: records of every type it knows, authoritative NXDOMAIN and
no-data answers with the zone's SOA, REFUSED outside its zones, CNAMEs
followed, SERVFAIL / silence / TCP-only per name and type, UDP answers
cut with TC and whole over TCP, zone text, and the command that prints
its port and ends on SIGTERM.  Other tests (mta-dns, later SPF and DKIM)
rely on all of it.

Usage: test_dnsserver.py
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check  # noqa: E402
import dnsserver  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord  # noqa: E402

ZONE = """
# a comment
example.test   MX 10 mx1.example.test   ; another
example.test   MX 20 mx2.example.test
mx1.example.test A 127.0.0.1
mx2.example.test AAAA ::1
txt.test       TXT "v=spf1 -all" "second string"
www.example.test CNAME mx1.example.test
1.0.0.127.in-addr.arpa PTR mx1.example.test
sub.example.test NS ns.example.test
fail.test      SERVFAIL MX
quiet.test     TIMEOUT AAAA
quiet.test     A 127.0.0.9
tcp.test       TCPONLY
tcp.test       A 127.0.0.10
ZONE empty.zone
"""


def ask(srv, name, qtype, tcp=False, edns=None, timeout=3.0):
    q = DNSRecord.question(name, qtype)
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    try:
        data = q.send(srv.host, srv.port, tcp=tcp, timeout=timeout,
                      ipv6=":" in srv.host)
    except socket.timeout:
        return None
    r = DNSRecord.parse(data)
    check(r.header.id == q.header.id, "the reply has the query's id",
          (r.header.id, q.header.id))
    return r


def data_of(r, qtype=None):
    return [str(rr.rdata) for rr in r.rr
            if qtype is None or QTYPE.get(rr.rtype) == qtype]


def test_answers(srv):
    r = ask(srv, "example.test", "MX")
    check(r.header.rcode == RCODE.NOERROR and r.header.aa == 1 and
          data_of(r) == ["10 mx1.example.test.", "20 mx2.example.test."],
          "MX records, authoritative", r)
    r = ask(srv, "MX1.Example.Test.", "A")
    check(data_of(r) == ["127.0.0.1"], "names are case-insensitive", r)
    r = ask(srv, "mx2.example.test", "AAAA")
    check(data_of(r) == ["::1"], "AAAA", r)
    r = ask(srv, "txt.test", "TXT")
    check(data_of(r) == ['"v=spf1 -all","second string"'],
          "TXT with two strings from zone text", r)
    r = ask(srv, "1.0.0.127.in-addr.arpa", "PTR")
    check(data_of(r) == ["mx1.example.test."], "PTR", r)
    r = ask(srv, "sub.example.test", "NS")
    check(data_of(r) == ["ns.example.test."], "NS", r)
    r = ask(srv, "www.example.test", "A")
    check(data_of(r, "CNAME") == ["mx1.example.test."] and
          data_of(r, "A") == ["127.0.0.1"],
          "a CNAME answered and followed", r)
    r = ask(srv, "www.example.test", "CNAME")
    check(data_of(r) == ["mx1.example.test."], "the CNAME itself", r)

    r = ask(srv, "nothere.example.test", "A")
    check(r.header.rcode == RCODE.NXDOMAIN and r.header.aa == 1 and
          [QTYPE.get(a.rtype) for a in r.auth] == ["SOA"],
          "an unknown name in a zone: NXDOMAIN with the SOA", r)
    r = ask(srv, "example.test", "A")
    check(r.header.rcode == RCODE.NOERROR and r.rr == [] and
          [QTYPE.get(a.rtype) for a in r.auth] == ["SOA"],
          "a known name without the type: no data with the SOA", r)
    r = ask(srv, "example.test", "DNSKEY")
    check(r.header.rcode == RCODE.NOERROR and r.rr == [],
          "a type it does not serve: no data", r)
    r = ask(srv, "in-addr.arpa", "A")
    check(r.header.rcode == RCODE.NOERROR and r.rr == [],
          "a name with names below it exists (no data)", r)
    r = ask(srv, "x.empty.zone", "A")
    check(r.header.rcode == RCODE.NXDOMAIN,
          "a ZONE without records: NXDOMAIN inside", r)
    r = ask(srv, "www.example.com", "A")
    check(r.header.rcode == RCODE.REFUSED and r.rr == [],
          "a name outside every zone is REFUSED, never forwarded", r)


def test_behaviours(srv):
    r = ask(srv, "fail.test", "MX")
    check(r.header.rcode == RCODE.SERVFAIL, "SERVFAIL for MX", r)
    r = ask(srv, "fail.test", "A")
    check(r.header.rcode == RCODE.NOERROR,
          "SERVFAIL only for the type named", r)
    check(ask(srv, "quiet.test", "AAAA", timeout=1.0) is None,
          "TIMEOUT: no answer at all", "an answer")
    r = ask(srv, "quiet.test", "A")
    check(data_of(r) == ["127.0.0.9"], "TIMEOUT only for the type named",
          r)
    r = ask(srv, "tcp.test", "A")
    check(r.header.tc == 1 and r.rr == [], "TCPONLY: TC over UDP", r)
    r = ask(srv, "tcp.test", "A", tcp=True)
    check(r.header.tc == 0 and data_of(r) == ["127.0.0.10"],
          "TCPONLY: the answer over TCP", r)
    check(srv.queried("tcp.test", "A", "tcp") == 1 and
          srv.queried("tcp.test", "A", "udp") == 1,
          "queries are recorded by protocol", srv.queries)


def test_truncation():
    records = {"big.test": [("A", "127.1.%d.%d" % (i // 250, i % 250))
                            for i in range(100)],
               "slow.test": [("DELAY", 0.3), ("A", "127.0.0.1")]}
    with DNSServer(records) as srv:
        r = ask(srv, "big.test", "A")
        check(r.header.tc == 1 and r.rr == [],
              "over 512 bytes without EDNS: cut, TC", r)
        r = ask(srv, "big.test", "A", edns=4096)
        check(r.header.tc == 0 and len(r.rr) == 100,
              "EDNS 4096: the whole answer over UDP", len(r.rr))
        r = ask(srv, "big.test", "A", edns=1232)
        check(r.header.tc == 1, "EDNS 1232: cut, TC", r.header)
        r = ask(srv, "big.test", "A", tcp=True)
        check(r.header.tc == 0 and len(r.rr) == 100,
              "over TCP: the whole answer", len(r.rr))
        r = ask(srv, "slow.test", "A")
        check(data_of(r) == ["127.0.0.1"], "DELAY: answered", r)


def test_bad_input():
    for bad, what in (({"x.test": [("BOGUS", "1")]}, "unknown type"),
                      ({"x.test": [("MX", "mx.test")]}, "MX without a "
                       "preference"),
                      ({"x.test": [("SERVFAIL", "NOPE")]}, "unknown type "
                       "of a behaviour"),
                      ("x.test MX 10\n", "zone line MX without a host")):
        try:
            DNSServer(bad).stop()
        except ValueError:
            continue
        raise Failure("records with %s are refused" % what)
    try:
        DNSServer({"x.test": [("A", "127.0.0.1")]}, host="192.0.2.1")
        raise Failure("a non-loopback address is refused")
    except ValueError:
        pass
    # Garbage to the UDP port gets nothing and breaks nothing.
    with DNSServer({"x.test": [("A", "127.0.0.1")]}) as srv:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x00garbage", ("127.0.0.1", srv.port))
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"\x00\x05hello")
        r = ask(srv, "x.test", "A")
        check(data_of(r) == ["127.0.0.1"], "still answers after garbage",
              r)


def test_command(tmp):
    zone = os.path.join(tmp, "zone")
    with open(zone, "w") as f:
        f.write("cmd.test A 127.0.0.77\n")
    p = subprocess.Popen([sys.executable, dnsserver.__file__, zone],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        check(line.strip().isdigit(), "the command prints its port", line)

        class Srv:
            host = "127.0.0.1"
            port = int(line)
        r = ask(Srv, "cmd.test", "A")
        check(data_of(r) == ["127.0.0.77"], "the command serves the zone",
              r)
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=30) == 0, "SIGTERM ends it, status 0",
              p.returncode)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="vellum-dnsserver-test-")
    try:
        with DNSServer(ZONE) as srv:
            test_answers(srv)
            test_behaviours(srv)
        test_truncation()
        test_bad_input()
        test_command(tmp)
        try:
            with DNSServer(ZONE, host="::1") as srv6:
                r = ask(srv6, "example.test", "MX", tcp=True)
                check(len(r.rr) == 2, "on ::1, over TCP too", r)
        except OSError:
            print("no IPv6 on the loopback: ::1 not tried")
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    print("ok")


if __name__ == "__main__":
    main()
