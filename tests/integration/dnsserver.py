#!/usr/bin/env python3
"""A loopback authoritative DNS server for tests (python3-dnslib).

It answers from the records it is given and nothing else: it never
forwards, never recurses, never contacts any address.  UDP and TCP are
served on the same port by one thread.

Imported:

    from dnsserver import DNSServer
    srv = DNSServer({
        "example.test": [("MX", 10, "mx1.example.test"),
                         ("MX", 20, "mx2.example.test")],
        "mx1.example.test": [("A", "127.0.0.1")],
        "mx2.example.test": [("AAAA", "::1")],
        "nullmx.test": [("MX", 0, ".")],
        "txt.test": [("TXT", "v=spf1 -all")],
        "fail.test": [("SERVFAIL",)],
    }, host="127.0.0.1")
    conf = "resolver = 127.0.0.1:%d" % srv.port
    ...
    srv.stop()                 # also by `with DNSServer(...) as srv:`

As a command: `dnsserver.py [--host H] [--port P] ZONEFILE` prints the
port on a line of its own, then serves until SIGTERM or SIGINT.

Records, per name (names are case-insensitive, a trailing dot optional):
    ("A", "192.0.2.1")            ("AAAA", "2001:db8::1")
    ("MX", 10, "mx.example.test") ("MX", 0, ".")   (RFC 7505 null MX)
    ("TXT", "text")               ("TXT", ["part one", "part two"])
    ("CNAME", "target.test")      ("PTR", "host.example.test")
    ("NS", "ns.example.test")     ("SOA",)  (made up; one is given anyway)
Behaviours, for every type or only for the types named after them:
    ("SERVFAIL",) ("SERVFAIL", "MX")   answer SERVFAIL
    ("REFUSED",)                       answer REFUSED
    ("TIMEOUT",)  ("TIMEOUT", "AAAA")  do not answer at all
    ("DELAY", 2.5) ("DELAY", 2.5, "A") answer after 2.5 seconds
    ("TCPONLY",)                       over UDP answer empty with TC set,
                                       so the client must ask over TCP
A name may carry behaviours and no records: it then exists (no data).

Zone text, one record a line, "#" or ";" starts a comment, TXT strings
quoted as in a shell:
    example.test      MX 10 mx1.example.test
    mx1.example.test  A 127.0.0.1
    txt.test          TXT "v=spf1 -all"
    fail.test         SERVFAIL
    slow.test         DELAY 3 MX
    ZONE other.test             (declares a zone; see below)

Answers are authoritative (AA).  The zones are the last label of every
name ("test") and the names given with zones= or ZONE lines: a
name inside a zone that has no records and nothing below it answers
NXDOMAIN; a name with records but not of the type asked (or with
records only below it) answers NOERROR with no data; both with the
zone's SOA in the authority section.  A name outside every zone is
REFUSED.  A CNAME is answered for every type and followed inside the
data.  UDP answers longer than the client's EDNS size (512 without
EDNS) are cut with TC set; TCP answers are whole.

Every query is recorded in srv.queries as (proto, name, type), proto
"udp" or "tcp", name lower-case without the final dot.

On machines where `python3` is not Debian's (pyenv), dnslib is taken
from Debian's dist-packages: it is pure Python.
"""
import heapq
import os
import selectors
import shlex
import signal
import socket
import struct
import sys
import threading
import time

try:
    import dnslib
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import dnslib

from dnslib import (AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, SOA, TXT,
                    A, DNSRecord, EDNS0)

BEHAVIOURS = ("SERVFAIL", "REFUSED", "TIMEOUT", "DELAY", "TCPONLY")
TYPES = ("A", "AAAA", "MX", "TXT", "CNAME", "PTR", "NS", "SOA")
# Largest UDP answer without EDNS (RFC 1035 4.2.1).
UDP_PLAIN_MAX = 512
# Largest UDP answer we send whatever EDNS size the client offers.
UDP_EDNS_MAX = 4096


def _norm(name):
    name = str(name).strip().lower()
    return name[:-1] if name.endswith(".") and name != "." else name


def _dotted(name):
    return "." if name in (".", "") else name + "."


def parse_zone(text):
    """Zone text -> (records dict, zones list)."""
    records = {}
    zones = []
    for lineno, line in enumerate(text.splitlines(), 1):
        lex = shlex.shlex(line, posix=True)
        lex.whitespace_split = True
        lex.commenters = "#;"
        try:
            words = list(lex)
        except ValueError as e:
            raise ValueError("line %d: %s" % (lineno, e))
        if not words:
            continue
        if words[0].upper() == "ZONE":
            if len(words) != 2:
                raise ValueError("line %d: ZONE takes one name" % lineno)
            zones.append(words[1])
            continue
        if len(words) < 2:
            raise ValueError("line %d: name and type expected" % lineno)
        name, kind, args = words[0], words[1].upper(), words[2:]
        if kind == "MX":
            if len(args) != 2:
                raise ValueError("line %d: MX PREF HOST" % lineno)
            rec = ("MX", int(args[0]), args[1])
        elif kind == "TXT":
            rec = ("TXT", args)
        elif kind == "DELAY":
            if not args:
                raise ValueError("line %d: DELAY SECONDS [TYPE...]" % lineno)
            rec = ("DELAY", float(args[0])) + tuple(args[1:])
        else:
            rec = (kind,) + tuple(args)
        records.setdefault(name, []).append(rec)
    return records, zones


def _check_record(name, rec):
    if not rec or not isinstance(rec, (tuple, list)):
        raise ValueError("%s: a record is a tuple, not %r" % (name, rec))
    kind = str(rec[0]).upper()
    if kind in BEHAVIOURS:
        types = rec[2:] if kind == "DELAY" else rec[1:]
        if kind == "DELAY" and (len(rec) < 2 or float(rec[1]) < 0):
            raise ValueError("%s: (\"DELAY\", SECONDS, [TYPE...])" % name)
        for t in types:
            if str(t).upper() not in TYPES:
                raise ValueError("%s: unknown type %r" % (name, t))
    elif kind not in TYPES:
        raise ValueError("%s: unknown record type %r" % (name, rec[0]))
    elif kind == "MX":
        if len(rec) != 3:
            raise ValueError("%s: (\"MX\", PREF, HOST)" % name)
    elif kind != "SOA" and len(rec) != 2:
        raise ValueError("%s: (%r, DATA)" % (name, kind))
    return (kind,) + tuple(rec[1:])


class DNSServer:
    """Serves `records` (a dict, or zone text) on host:port (0: a free
    port, the same for UDP and TCP) in a thread until stop()."""

    def __init__(self, records, host="127.0.0.1", port=0, zones=None,
                 ttl=60):
        if host not in ("127.0.0.1", "::1") and \
                not host.startswith("127."):
            raise ValueError("tests serve on loopback only, not %s" % host)
        if isinstance(records, str):
            records, text_zones = parse_zone(records)
            zones = list(zones or []) + text_zones
        self.ttl = ttl
        self.records = {}
        for name, recs in records.items():
            self.records[_norm(name)] = [_check_record(name, r)
                                         for r in recs]
        self.zones = sorted({_norm(z) for z in zones or ()} |
                            {n.rsplit(".", 1)[-1] for n in self.records})
        self.queries = []
        self.host = host
        self._lock = threading.Lock()
        self._bind(host, port)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="dnsserver")
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _bind(self, host, port):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(100):
            udp = socket.socket(fam, socket.SOCK_DGRAM)
            tcp = socket.socket(fam, socket.SOCK_STREAM)
            try:
                udp.bind((host, port))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, udp.getsockname()[1]))
                tcp.listen(64)
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue
            self.udp, self.tcp = udp, tcp
            self.port = udp.getsockname()[1]
            return
        raise OSError("no port free for both UDP and TCP on %s" % host)

    def stop(self):
        """Stops the thread and closes every socket; idempotent."""
        if self._thread is None:
            return
        os.write(self._stop_w, b"x")
        self._thread.join(10)
        self._thread = None
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)
        self.udp.close()
        self.tcp.close()

    def queried(self, name, qtype=None, proto=None):
        """How many queries for name (and type, and proto) came in."""
        name = _norm(name)
        with self._lock:
            return sum(1 for p, n, t in self.queries
                       if n == name and (qtype is None or t == qtype)
                       and (proto is None or p == proto))

    # -- answering ---------------------------------------------------

    def _zone_of(self, name):
        best = None
        for z in self.zones:
            if name == z or name.endswith("." + z) or z == ".":
                if best is None or len(z) > len(best):
                    best = z
        return best

    def _exists(self, name):
        if name in self.records:
            return True
        suffix = "." + name
        return any(n.endswith(suffix) for n in self.records)

    def _behaviour(self, name, qtype):
        """(kind, seconds) of the behaviour for this query, or None."""
        for rec in self.records.get(name, ()):
            kind = rec[0]
            if kind not in BEHAVIOURS:
                continue
            types = rec[2:] if kind == "DELAY" else rec[1:]
            if types and qtype not in [str(t).upper() for t in types]:
                continue
            return kind, (float(rec[1]) if kind == "DELAY" else 0.0)
        return None

    def _soa(self, zone):
        return RR(_dotted(zone), QTYPE.SOA, ttl=self.ttl,
                  rdata=SOA(_dotted("ns." + zone if zone != "." else "ns"),
                            _dotted("hostmaster." + zone if zone != "."
                                    else "hostmaster"),
                            (1, 3600, 600, 86400, self.ttl)))

    def _rdata(self, name, rec):
        kind = rec[0]
        if kind == "A":
            return A(rec[1])
        if kind == "AAAA":
            return AAAA(rec[1])
        if kind == "MX":
            return MX(_dotted(_norm(rec[2])), int(rec[1]))
        if kind == "TXT":
            parts = rec[1] if isinstance(rec[1], (list, tuple)) \
                else [rec[1]]
            return TXT([p.encode() if isinstance(p, str) else p
                        for p in parts])
        if kind == "CNAME":
            return CNAME(_dotted(_norm(rec[1])))
        if kind == "PTR":
            return PTR(_dotted(_norm(rec[1])))
        if kind == "NS":
            return NS(_dotted(_norm(rec[1])))
        zone = self._zone_of(name) or name
        return self._soa(zone).rdata

    def _records(self, name, qtype):
        return [RR(_dotted(name), getattr(QTYPE, r[0]), ttl=self.ttl,
                   rdata=self._rdata(name, r))
                for r in self.records.get(name, ())
                if r[0] == qtype]

    def answer(self, request, proto):
        """The reply to one parsed request, and the seconds to wait
        before sending it; None: send nothing."""
        reply = request.reply(ra=0, aa=1)
        reply.header.ra = 0
        if request.header.opcode != 0 or len(request.questions) != 1:
            reply.header.rcode = RCODE.NOTIMP
            return reply, 0.0
        q = request.q
        name = _norm(q.qname)
        qtype = QTYPE.get(q.qtype, str(q.qtype))
        with self._lock:
            self.queries.append((proto, name, qtype))
        zone = self._zone_of(name)
        if zone is None:
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply, 0.0
        delay = 0.0
        seen = set()
        while True:
            how = self._behaviour(name, qtype)
            if how:
                kind, secs = how
                if kind == "TIMEOUT":
                    return None, 0.0
                if kind == "SERVFAIL" or kind == "REFUSED":
                    reply.header.aa = 0
                    reply.header.rcode = getattr(RCODE, kind)
                    reply.rr = []
                    return reply, delay
                if kind == "DELAY":
                    delay += secs
                if kind == "TCPONLY" and proto == "udp":
                    reply.header.tc = 1
                    reply.rr = []
                    return reply, delay
            if not self._exists(name):
                reply.header.rcode = RCODE.NXDOMAIN
                reply.add_auth(self._soa(self._zone_of(name) or zone))
                return reply, delay
            cname = self._records(name, "CNAME")
            if cname and qtype != "CNAME":
                reply.add_answer(*cname)
                seen.add(name)
                name = _norm(cname[0].rdata.label)
                if name in seen or len(seen) > 8:
                    return reply, delay
                if self._zone_of(name) is None:
                    return reply, delay
                continue
            rrs = self._records(name, qtype) if qtype != "ANY" else \
                [rr for t in TYPES for rr in self._records(name, t)]
            if qtype == "SOA" and not rrs and name == zone:
                rrs = [self._soa(zone)]
            if rrs:
                reply.add_answer(*rrs)
            else:
                reply.add_auth(self._soa(self._zone_of(name) or zone))
            return reply, delay

    @staticmethod
    def _udp_limit(request):
        for rr in request.ar:
            if rr.rtype == QTYPE.OPT:
                return max(UDP_PLAIN_MAX, min(rr.rclass, UDP_EDNS_MAX))
        return UDP_PLAIN_MAX

    def _pack(self, request, reply, proto):
        edns = any(rr.rtype == QTYPE.OPT for rr in request.ar)
        reply.ar = [rr for rr in reply.ar if rr.rtype != QTYPE.OPT]
        if edns:
            reply.add_ar(EDNS0(udp_len=UDP_EDNS_MAX))
        data = reply.pack()
        if proto == "udp" and len(data) > self._udp_limit(request):
            reply.header.tc = 1
            reply.rr = []
            reply.auth = []
            data = reply.pack()
        return data

    # -- the loop ----------------------------------------------------

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self._stop_r, selectors.EVENT_READ, "stop")
        sel.register(self.udp, selectors.EVENT_READ, "udp")
        sel.register(self.tcp, selectors.EVENT_READ, "accept")
        conns = {}         # socket -> bytearray read so far
        later = []         # heap of (when, seq, sock, addr, bytes)
        seq = 0
        while True:
            timeout = None
            if later:
                timeout = max(0.0, later[0][0] - time.monotonic())
            for key, _ in sel.select(timeout):
                what = key.data
                if what == "stop":
                    for s in conns:
                        sel.unregister(s)
                        s.close()
                    sel.close()
                    return
                if what == "udp":
                    try:
                        data, addr = self.udp.recvfrom(65535)
                    except OSError:
                        continue
                    out = self._handle(data, "udp")
                    if out:
                        seq += 1
                        heapq.heappush(later, (time.monotonic() + out[1],
                                               seq, None, addr, out[0]))
                elif what == "accept":
                    try:
                        s, _ = self.tcp.accept()
                    except OSError:
                        continue
                    conns[s] = bytearray()
                    sel.register(s, selectors.EVENT_READ, "tcp")
                else:
                    s = key.fileobj
                    try:
                        chunk = s.recv(65535)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(s)
                        del conns[s]
                        s.close()
                        continue
                    buf = conns[s]
                    buf += chunk
                    while len(buf) >= 2:
                        n = struct.unpack("!H", buf[:2])[0]
                        if len(buf) < 2 + n:
                            break
                        msg = bytes(buf[2:2 + n])
                        del buf[:2 + n]
                        out = self._handle(msg, "tcp")
                        if out:
                            seq += 1
                            heapq.heappush(later, (
                                time.monotonic() + out[1], seq, s, None,
                                struct.pack("!H", len(out[0])) + out[0]))
            now = time.monotonic()
            while later and later[0][0] <= now:
                _, _, s, addr, data = heapq.heappop(later)
                try:
                    if s is None:
                        self.udp.sendto(data, addr)
                    elif s in conns:
                        s.sendall(data)
                except OSError:
                    pass

    def _handle(self, data, proto):
        """(bytes, delay) to send for one message, or None."""
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        if request.header.qr:
            return None
        try:
            reply, delay = self.answer(request, proto)
        except Exception as e:
            sys.stderr.write("dnsserver: %s\n" % e)
            reply, delay = request.reply(), 0.0
            reply.header.rcode = RCODE.SERVFAIL
        if reply is None:
            return None
        return self._pack(request, reply, proto), delay


def main(argv):
    host, port, path = "127.0.0.1", 0, None
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a == "--host" and args:
            host = args.pop(0)
        elif a == "--port" and args:
            port = int(args.pop(0))
        elif path is None and not a.startswith("-"):
            path = a
        else:
            path = None
            break
    if path is None:
        sys.stderr.write("usage: dnsserver.py [--host H] [--port P] "
                         "ZONEFILE\n")
        return 2
    with open(path) as f:
        text = f.read()
    # Blocked before the server's threads start (they inherit the mask)
    # and taken with sigwait: a Python handler that sets an Event the main
    # thread waits on can deadlock on the Event's own lock.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    srv = DNSServer(text, host=host, port=port)
    print(srv.port, flush=True)
    signal.sigwait(stop)
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
