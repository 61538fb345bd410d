#!/usr/bin/env python3
"""Inbound checks benchmark (prints figures; not a test).

    tests/bench/bench_inbound.py BUILD_DIR [--messages 2000] [--sessions 20]
                                 [--size 4096] [--rounds 3] [--no-av]
                                 [--only FAMILY,...]

Port 25 delivery with every inbound check of issue 15 on, against the
loopback DNS server (tests/integration/dnsserver.py), compared with the
same load and no check configured, in one run (issue 15: at least 80% of
the rate without checks).  Each round starts a fresh site for each mode
(the order alternates from round to round): vellum-smtpd with an [smtp]
listener, `trusted_networks = 192.0.2.0/24` (loopback is not trusted, so
the port 25 checks apply), `[limits] connections_per_ip` high, and the
DNS server as its resolver in both modes.  --sessions clients, each from
its own source address 127.0.0.10, .11, ... send --messages messages of
about --size bytes in all, pipelined MAIL/RCPT/DATA, one message at a
time per session, each to one of five local users of example.test; the
envelope sender and From: are at one of four remote domains
(remote0.test ... remote3.test), each with MX and A records, an SPF
record allowing 127.0.0.0/24, a DKIM key (sel._domainkey) and a DMARC
record p=reject.  Every message is DKIM-signed (rsa-2048, python3-dkim)
before the timed part; both modes send the same signed bytes.

  off  no check configured: the defaults (junk_command_limit's default of
       100 is on in both modes; the ACL tables are empty, but looked up).
  on   ACL tables with entries that match nothing of the load (black ip,
       net, sender, domain, recipient; white sender and recipient);
       [smtpd] reject_early_talkers, reject_non_fqdn_helo and _sender,
       client_connection_rate, client_message_rate and
       unknown_recipient_limit at 100000, dnsbl_sites of two zones
       listing none of the clients and dnsbl_threshold 2,
       reject_unknown_client (each client address has a PTR name whose A
       record is that address; the clients say it in EHLO),
       reject_unknown_helo_hostname and reject_unknown_sender_domain;
       [mailauth] spf, dkim and dmarc; [antivirus] clamd: a real clamd
       started here (own clamd.conf in a temporary dir, LocalSocket, a
       database of the EICAR signature alone, Foreground; stopped by its
       pid), unless --no-av or /usr/sbin/clamd is missing (said so).
       --only FAMILY,... turns on only those families of checks:
       acl, limits (early talkers, FQDN, rates), dnsbl, dns (reverse DNS,
       HELO and sender domain), mailauth, av.

A refusal of any command is an error (the load is made to pass every
check).  Printed per mode and round: messages accepted per second (the
clients' clock: first connect to the last 250), the messages stored
(`vellumctl mail export` of every user, which must equal --messages),
CPU per message of vellum-smtpd, clamd and this process (the client and
the DNS server); for "on" what shows that the checks ran: DNS queries
the server answered (by type), the smtpd log lines of the DNSBL verdicts,
reverse DNS, HELO and sender lookups and the mailauth results with
spf=pass dkim=pass(...) dmarc=pass, and the stored copies with
X-Virus-Status: Clean and an Authentication-Results field saying
dmarc=pass.  Then the medians and the on/off ratio.
"""
import argparse
import asyncio
import base64
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from daemon import Site  # noqa: E402
from clamdtest import CLAMD, Clamd, have_clamd  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from bench_smtp import cpu_s, make_message, own_cpu_s, reply  # noqa: E402

sys.path.append("/usr/lib/python3/dist-packages")
import dkim  # noqa: E402

DOM = "example.test"
USERS = ["u%d@%s" % (i, DOM) for i in range(5)]
PASSWORD = "bench-pw-1"
SENDER_DOMAINS = ["remote%d.test" % i for i in range(4)]
FIRST_SRC = 10          # clients are 127.0.0.10, .11, ...
FAMILIES = ("acl", "limits", "dnsbl", "dns", "mailauth", "av")
# Entries that match nothing the load sends: looked up, never decisive.
ACL = [("black", "ip", "198.51.100.7"), ("black", "ip", "203.0.113.9"),
       ("black", "net", "198.51.100.0/24"),
       ("black", "net", "10.0.0.0/8"),
       ("black", "sender", "spammer@bad.test"),
       ("black", "domain", "bad.test"),
       ("black", "domain", "spam.example"),
       ("black", "recipient", "closed@" + DOM),
       ("white", "sender", "partner@friend.test"),
       ("white", "recipient", "postmaster@" + DOM)]
DNSBL = "zen.dnsbl.test*2, bl.dnsbl.test=127.0.0.[2..11]*1"


def src_ip(n):
    return "127.0.0.%d" % (FIRST_SRC + n)


def client_name(n):
    return "c%d.clients.test" % (FIRST_SRC + n)


def rsa_key(tmp):
    key = os.path.join(tmp, "dkim.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    with open(key, "rb") as f:
        return f.read(), base64.b64encode(der).decode()


def records(sessions, pub):
    """The DNS data: clients, sender domains, two DNSBL zones."""
    key = "v=DKIM1; k=rsa; p=" + pub
    key = [key[i:i + 255] for i in range(0, len(key), 255)]
    r = {
        # listed: the RFC 5782 test point and addresses of no client
        "2.0.0.127.zen.dnsbl.test": [("A", "127.0.0.2"),
                                     ("TXT", "test point")],
        "7.100.51.198.zen.dnsbl.test": [("A", "127.0.0.4")],
        "2.0.0.127.bl.dnsbl.test": [("A", "127.0.0.2")],
        "9.113.0.203.bl.dnsbl.test": [("A", "127.0.0.3")],
    }
    for n in range(sessions):
        ip = src_ip(n).split(".")
        r[".".join(reversed(ip)) + ".in-addr.arpa"] = [
            ("PTR", client_name(n))]
        r[client_name(n)] = [("A", src_ip(n))]
    for d in SENDER_DOMAINS:
        r[d] = [("MX", 10, "mx." + d), ("A", "192.0.2.25"),
                ("TXT", "v=spf1 ip4:127.0.0.0/24 -all")]
        r["mx." + d] = [("A", "192.0.2.25")]
        r["sel._domainkey." + d] = [("TXT", key)]
        r["_dmarc." + d] = [("TXT", "v=DMARC1; p=reject")]
    return r


def _sign(args):
    m, domain, pem = args
    sig = dkim.sign(m, b"sel", domain.encode(), pem,
                    include_headers=[b"from", b"to", b"subject", b"date",
                                     b"message-id"])
    return sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + m


def jobs(a, pem):
    """{session: [(sender, rcpt, signed data)]}; signing on every core."""
    rng = random.Random(1)
    plan, todo = [], []
    for i in range(a.messages):
        s = i % a.sessions
        d = SENDER_DOMAINS[i % len(SENDER_DOMAINS)]
        sender = "bench%d@%s" % (s, d)
        rcpt = USERS[i % len(USERS)]
        m = make_message(rng, i, a.size)
        m = m.replace(b"From: Bench <bench@remote.test>",
                      b"From: Bench <" + sender.encode() + b">", 1)
        m = m.replace(b"To: user@bench.test", b"To: " + rcpt.encode(), 1)
        m = m.replace(b"@remote.test>", b"@" + d.encode() + b">", 1)
        # make_message dot-stuffs; sign the message itself
        m = re.sub(rb"(?m)^\.\.", b".", m)
        plan.append((s, sender, rcpt))
        todo.append((m, d, pem))
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        signed = pool.map(_sign, todo, chunksize=50)
    per = {}
    for (s, sender, rcpt), m in zip(plan, signed):
        m = re.sub(rb"(?m)^\.", b"..", m)
        per.setdefault(s, []).append((sender, rcpt, m))
    return per


async def session(port, n, jobs, stats):
    r, w = await asyncio.open_connection("127.0.0.1", port,
                                         local_addr=(src_ip(n), 0))
    code, line = await reply(r)
    if code != 220:
        raise RuntimeError("%s: greeting %r" % (src_ip(n), line))
    w.write(b"EHLO %s\r\n" % client_name(n).encode())
    code, line = await reply(r)
    if code != 250:
        raise RuntimeError("%s: EHLO %r" % (src_ip(n), line))
    for sender, rcpt, data in jobs:
        cmds = [b"MAIL FROM:<%s> SIZE=%d\r\n" % (sender.encode(), len(data)),
                b"RCPT TO:<%s>\r\n" % rcpt.encode(), b"DATA\r\n"]
        w.write(b"".join(cmds))
        for c in cmds:
            code, line = await reply(r)
            if code != (354 if c == b"DATA\r\n" else 250):
                raise RuntimeError("%s: %r: %r" % (src_ip(n), c, line))
        w.write(data + b".\r\n")
        code, line = await reply(r)
        if code != 250:
            raise RuntimeError("%s: end of data: %r" % (src_ip(n), line))
        stats["msgs"] += 1
    w.write(b"QUIT\r\n")
    await reply(r)
    w.close()


async def load(port, per):
    stats = {"msgs": 0}
    await asyncio.gather(*(session(port, n, j, stats)
                           for n, j in per.items()))
    return stats


def on_config(only, clamd):
    """({section: keys} of the checks, [acl entries]) for mode "on"."""
    smtpd, more, acl = {}, {}, []
    if "acl" in only:
        acl = ACL
    if "limits" in only:
        smtpd.update({"junk_command_limit": "100",
                      "reject_early_talkers": "yes",
                      "reject_non_fqdn_helo": "yes",
                      "reject_non_fqdn_sender": "yes",
                      "client_connection_rate": "100000",
                      "client_message_rate": "100000",
                      "unknown_recipient_limit": "100000"})
    if "dnsbl" in only:
        smtpd.update({"dnsbl_sites": DNSBL, "dnsbl_threshold": "2"})
    if "dns" in only:
        smtpd.update({"reject_unknown_client": "yes",
                      "reject_unknown_helo_hostname": "yes",
                      "reject_unknown_sender_domain": "yes"})
    if "mailauth" in only:
        more["mailauth"] = {"spf": "yes", "dkim": "yes", "dmarc": "yes"}
    if "av" in only and clamd is not None:
        more["antivirus"] = {"clamd": clamd.sock}
    return smtpd, more, acl


def exported(site):
    """Every stored copy of every user (`vellumctl mail export`)."""
    out = []
    for u in USERS:
        d = tempfile.mkdtemp(dir=site.tmp, prefix="export-")
        site.ctl("mail", "export", u, os.path.join(d, "md"))
        for part in ("new", "cur"):
            p = os.path.join(d, "md", part)
            for name in os.listdir(p) if os.path.isdir(p) else ():
                with open(os.path.join(p, name), "rb") as f:
                    out.append(f.read().split(b"\r\n\r\n", 1)[0])
        shutil.rmtree(d, ignore_errors=True)
    return out


LOG_CHECKS = [
    ("dnsbl passes", r"dnsbl: client \S+ passes: score 0"),
    ("reverse dns ok", r"reverse dns: client \S+ is c\d+\.clients\.test"),
    ("helo resolves", r"helo dns: \S+ of client \S+ resolves"),
    ("sender resolves", r"sender dns: <[^>]+> of client \S+: \S+ resolves"),
    ("spf/dkim/dmarc pass", r"mailauth: message from <[^>]+> client "
     r"\[[^\]]+\]: spf=pass dkim=pass\(remote\d\.test\) dmarc=pass"),
]


def run(a, build, mode, per, dns, clamd, only):
    with Site(build, prefix="vellum-bench-inbound-") as site:
        smtp = site.port()
        sd = {"trusted_networks": "192.0.2.0/24"}
        more, acl = {}, []
        if mode == "on":
            extra, more, acl = on_config(only, clamd)
            sd.update(extra)
        sections = {
            "smtp": {"listen": "127.0.0.1:%d" % smtp},
            "smtpd": sd,
            # the sessions and wait_port()'s probe
            "limits": {"connections_per_ip": "1000"},
            "dns": {"resolver": "127.0.0.1:%d" % dns.port},
        }
        sections.update(more)
        site.write_conf(sections)
        site.ctl("domain", "add", DOM)
        for u in USERS:
            site.add_user(u, PASSWORD)
        for lst, kind, value in acl:
            site.ctl("acl", "add", lst, kind, value)
        smtpd = site.start("smtpd")
        site.wait_port(smtp, smtpd)
        q0 = len(dns.queries)
        c0, o0 = cpu_s(smtpd.pid), own_cpu_s()
        v0 = cpu_s(clamd.proc.pid) if clamd is not None else 0
        t0 = time.monotonic()
        stats = asyncio.run(load(smtp, per))
        acc = time.monotonic() - t0
        cs, co = cpu_s(smtpd.pid) - c0, own_cpu_s() - o0
        cv = (cpu_s(clamd.proc.pid) - v0) if clamd is not None else 0
        queries = list(dns.queries[q0:])
        load1 = open("/proc/loadavg").read().split()[0]
        if site.stop(smtpd) != 0:
            raise RuntimeError("vellum-smtpd did not stop cleanly:\n%s"
                               % smtpd.output()[-3000:])
        n = stats["msgs"]
        heads = exported(site)
        if len(heads) != a.messages:
            raise RuntimeError("%s: %d messages stored, %d sent"
                               % (mode, len(heads), a.messages))
        print("%-3s accepted %6.0f msgs/s, %d stored; CPU per message: "
              "smtpd %4.0f us, clamd %4.0f us, client+DNS %4.0f us; "
              "load %s" % (mode, n / acc, len(heads), 1e6 * cs / n,
                           1e6 * cv / n, 1e6 * co / n, load1))
        types = {}
        for _, _, t in queries:
            types[t] = types.get(t, 0) + 1
        log = smtpd.output()
        seen = ["DNS queries %d (%s)" % (len(queries), ", ".join(
            "%s %d" % kv for kv in sorted(types.items())) or "none")]
        for what, pat in LOG_CHECKS:
            seen.append("%s %d" % (what, len(re.findall(pat, log))))
        av = sum(1 for h in heads if b"\nX-Virus-Status: Clean" in h)
        auth = sum(1 for h in heads if re.search(
            rb"\nAuthentication-Results: mail\.example\.test;[^\n]*(\n[ \t]"
            rb"[^\n]*)*dmarc=pass", h))
        seen.append("stored with X-Virus-Status: Clean %d, with "
                    "Authentication-Results dmarc=pass %d" % (av, auth))
        # a mode whose checks did not all run measures nothing
        if mode == "on" and "antivirus" in more and av != a.messages:
            raise RuntimeError("only %d of %d copies were scanned" %
                               (av, a.messages))
        if mode == "on" and "mailauth" in more and auth != a.messages:
            raise RuntimeError("only %d of %d copies passed DMARC" %
                               (auth, a.messages))
        print("    checks seen: " + "; ".join(seen))
        sys.stdout.flush()
        return n / acc, 1e6 * cs / n, 1e6 * cv / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-av", action="store_true")
    ap.add_argument("--clamd-tmp", metavar="DIR",
                    help="clamd's TemporaryDirectory (default: clamd's, "
                    "$TMPDIR or /tmp)")
    ap.add_argument("--only", default=",".join(FAMILIES),
                    help="check families of mode on: " + ",".join(FAMILIES))
    a = ap.parse_args()
    only = [f for f in a.only.split(",") if f]
    bad = [f for f in only if f not in FAMILIES]
    if bad or not only:
        ap.error("--only takes some of %s" % ",".join(FAMILIES))
    if not 1 <= a.sessions <= 240:
        ap.error("--sessions: 1 to 240 (127.0.0.10 ... 127.0.0.249)")
    if a.messages < a.sessions:
        ap.error("--messages: at least one per session")
    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="vellum-bench-inbound-key-")
    try:
        pem, pub = rsa_key(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t = time.monotonic()
    per = jobs(a, pem)
    print("bench_inbound: %d messages of %d bytes over %d sessions "
          "(127.0.0.%d-%d), %d rounds; on: %s; load %s"
          % (a.messages, a.size, a.sessions, FIRST_SRC,
             FIRST_SRC + a.sessions - 1, a.rounds, ",".join(only),
             " ".join(open("/proc/loadavg").read().split()[:3])))
    print("signed %d messages (rsa-2048) in %.1f s, before the timed part"
          % (a.messages, time.monotonic() - t))
    clamd = None
    if "av" in only:
        if a.no_av:
            print("antivirus: off (--no-av)")
        elif not have_clamd():
            print("antivirus: off (%s is not installed: Debian "
                  "clamav-daemon)" % CLAMD)
        else:
            clamd = Clamd(tmpdir=a.clamd_tmp)
            clamd.start()
            print("antivirus: clamd pid %d on %s, its temporary files in "
                  "%s" % (clamd.proc.pid, clamd.sock, a.clamd_tmp or
                          os.environ.get("TMPDIR", "/tmp")))
    sys.stdout.flush()
    dns = DNSServer(records(a.sessions, pub))
    try:
        res = {"off": [], "on": []}
        for i in range(a.rounds):
            print("round %d" % (i + 1))
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                res[mode].append(run(a, build, mode, per, dns, clamd,
                                     only))
    finally:
        dns.stop()
        if clamd is not None:
            clamd.cleanup()
    off = [r[0] for r in res["off"]]
    on = [r[0] for r in res["on"]]
    moff, mon = statistics.median(off), statistics.median(on)
    print("median accepted off %6.0f msgs/s, on %6.0f msgs/s: on/off %.0f%%"
          " (rounds: %s)" % (moff, mon, 100 * mon / moff, ", ".join(
              "%.0f%%" % (100 * b / c) for b, c in zip(on, off))))
    print("median smtpd CPU per message off %.0f us, on %.0f us"
          % (statistics.median(r[1] for r in res["off"]),
             statistics.median(r[1] for r in res["on"])))
    print("target >= 80%")


if __name__ == "__main__":
    main()
