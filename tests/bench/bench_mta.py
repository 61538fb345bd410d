#!/usr/bin/env python3
"""Outbound delivery benchmark (prints figures; not a test).

    tests/bench/bench_mta.py BUILD_DIR [--messages 10000] [--rcpts 100]
                             [--connections 20] [--size 4096]
                             [--no-postfix]
                             [--dkim none|rsa|ed25519|both]

The same run for vellum-mta and, when Postfix is installed, Postfix's
qmgr + smtp client:

1. the queue is filled through the server's own SMTP listener (a trusted
   loopback client relays; 20 pipelining sessions) with --messages
   messages of --size bytes, each to one of --rcpts recipients (round
   robin) at one remote domain, while nothing is delivered (vellum-mta
   not started; Postfix with defer_transports = smtp);
2. delivery starts (vellum-mta started; Postfix: defer_transports
   cleared, reload, postqueue -f) towards smtp-sink (tests/bench/
   smtp-sink.c, a C server on loopback that takes everything), with at
   most --connections connections to the destination;
3. the clock stops when the sink has counted every message.

--dkim (vellum only) sends the messages From: bench@example.test with
DKIM keys for example.test (an rsa-2048 key, an ed25519 key, or both:
two signatures per message), so vellum-mta signs each on its signing
threads; none (the default) is the run without keys.

Printed: messages delivered per second, CPU time of the delivering side
per message (vellum-mta; Postfix: its master and every child that ran,
minus what they had used before step 2), and what the sink counted.

Vellum finds the sink through the test DNS server (MX lookup); Postfix
through relayhost = [127.0.0.1]:port (it uses the system's resolver).
Both commit their queue to disk (fsync) as they go.  Postfix runs as a
private instance in a temporary directory (its own main.cf, master.cf,
queue and data directories); the system's Postfix is not touched.
"""
import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from daemon import Site, free_port, port_open  # noqa: E402
from bench_smtp import cpu_s, load, make_message, status_kb  # noqa: E402
from dnsserver import DNSServer  # noqa: E402


class Sink:
    """smtp-sink on 127.0.0.1:port; count() asks it what it got."""

    def __init__(self, build):
        self.port = free_port()
        self.p = subprocess.Popen(
            [os.path.join(build, "tests", "bench", "smtp-sink"),
             "127.0.0.1", str(self.port)], stdout=subprocess.PIPE, text=True)
        self.p.stdout.readline()

    def count(self):
        self.p.send_signal(signal.SIGUSR1)
        return [int(x) for x in self.p.stdout.readline().split()[1::2]]

    def stop(self):
        self.p.terminate()
        last = self.p.stdout.read().strip()
        self.p.wait(10)
        return last


def wait_count(sink, want, proc_alive, limit=900.0):
    """Seconds until the sink has want more messages than now."""
    base = sink.count()[0]
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if sink.count()[0] - base >= want:
            return time.monotonic() - t0
        if not proc_alive():
            raise RuntimeError("the delivering side stopped")
        time.sleep(0.02)
    raise RuntimeError("not delivered within %.0f s" % limit)


def jobs_for(a, rng):
    msgs = [make_message(rng, i, a.size) for i in range(a.messages)]
    if a.dkim != "none":
        # a local sender domain, which has the keys
        msgs = [m.replace(b"From: Bench <bench@remote.test>",
                          b"From: Bench <bench@example.test>", 1)
                for m in msgs]
    per = [[] for _ in range(20)]
    for i, m in enumerate(msgs):
        per[i % 20].append((["user%d@remote.test" % (i % a.rcpts)], m))
    return per


def report(name, n, dt, cpu, sink_line, extra=""):
    print("%s: %d messages delivered in %.2f s, %s" % (name, n, dt, extra))
    print("  messages/s:  %.0f" % (n / dt))
    print("  CPU:         %.2f s (%.0f%% of one core), %.0f us per message"
          % (cpu, 100 * cpu / dt, 1e6 * cpu / max(n, 1)))
    print("  sink:        %s" % sink_line)


def run_vellum(a, build, per):
    with Site(build, prefix="vellum-bench-mta-") as site:
        sink = Sink(build)
        dns = DNSServer({"remote.test": [("MX", 10, "mx.remote.test")],
                         "mx.remote.test": [("A", "127.0.0.1")]})
        smtp = site.port()
        site.write_conf({
            "smtp": {"listen": "127.0.0.1:%d" % smtp},
            "smtpd": {"trusted_networks": "127.0.0.1/32"},
            "mta": {"port": str(sink.port),
                    "destination_concurrency": str(a.connections),
                    "connections": str(a.connections),
                    "reuse_time": "5"},
            "dns": {"resolver": "127.0.0.1:%d" % dns.port},
        })
        site.ctl("domain", "add", "example.test")
        for alg in (("rsa", "ed25519") if a.dkim == "both" else
                    () if a.dkim == "none" else (a.dkim,)):
            site.ctl("dkim", "keygen", "example.test", "s" + alg,
                     "--algorithm", alg)
        smtpd = site.start("smtpd")
        site.wait_port(smtp, smtpd)
        t0 = time.monotonic()
        asyncio.run(load(smtp, per))
        fill = time.monotonic() - t0
        print("vellum: queue filled with %d messages in %.1f s"
              % (a.messages, fill))
        mta = site.start("mta")
        try:
            dt = wait_count(sink, a.messages, mta.running)
        except RuntimeError as e:
            print("vellum-mta: %s\n%s" % (e, mta.output()[-2000:]))
            return
        cpu = cpu_s(mta.pid)
        hwm = status_kb(mta.pid, "VmHWM")
        site.stop(mta)
        line = sink.stop()
        dns.stop()
        signed = mta.output().count("DKIM-signed")
        report("vellum-mta", a.messages, dt, cpu, line,
               "%d connections, DKIM %s (%d messages signed)"
               % (a.connections, a.dkim, signed))
        print("  peak memory: %.1f MB (VmHWM)" % (hwm / 1024))


def postfix_children(master):
    """Pids of master and its children."""
    pids = [master]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master:
            pids.append(int(d))
    return pids


def cpu_of(pids):
    out = {}
    for p in pids:
        try:
            out[p] = cpu_s(p)
        except OSError:
            pass
    return out


def run_postfix(a, build, per):
    exe = shutil.which("postfix") or "/usr/sbin/postfix"
    if not os.access(exe, os.X_OK):
        print("postfix: not installed (Debian package postfix): no "
              "comparison run")
        return
    if os.getuid() != 0:
        print("postfix: needs root for a private instance: skipped")
        return
    tmp = Site(build, prefix="vellum-bench-postfix-")
    os.chmod(tmp.tmp, 0o755)	# the postfix user works in there
    etc, spool, data = (tmp.path(x) for x in ("etc", "spool", "data"))
    for d in (etc, spool, data):
        os.makedirs(d)
    shutil.chown(data, "postfix", "postfix")
    sink = Sink(build)
    port = free_port()
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write("\n".join([
            "compatibility_level = 3.6",
            "queue_directory = " + spool, "data_directory = " + data,
            "mail_owner = postfix", "setgid_group = postdrop",
            "myhostname = bench.example.test", "mydestination =",
            "alias_maps =", "alias_database =", "local_recipient_maps =",
            "inet_interfaces = 127.0.0.1", "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, reject",
            "relayhost = [127.0.0.1]:%d" % sink.port,
            "default_destination_concurrency_limit = %d" % a.connections,
            "smtp_destination_concurrency_limit = %d" % a.connections,
            "initial_destination_concurrency = %d" % a.connections,
            "default_process_limit = 200",
            "smtp_tls_security_level = none",
            "smtpd_tls_security_level = none",
            "maillog_file = " + tmp.path("maillog"),
            "maillog_file_prefixes = " + tmp.tmp,
            "defer_transports = smtp", "biff = no", ""]))
    with open("/etc/postfix/master.cf") as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        w = line.split()
        if not w or line[0] in "# \t":
            out.append(line)
            continue
        if w[0] == "smtp" and w[1] == "inet":
            w[0] = "127.0.0.1:%d" % port
        if len(w) >= 8:
            w[4] = "n"		# no chroot: the queue is in /tmp
        out.append(" ".join(w))
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write("\n".join(out) + "\n")
    run = lambda *args: subprocess.run(  # noqa: E731
        list(args), capture_output=True, text=True, timeout=120)
    r = run(exe, "-c", etc, "start")
    if r.returncode != 0:
        # postfix(1) says why on a terminal only
        r = run("script", "-qc", "%s -c %s start" % (exe, etc), "/dev/null")
        print("postfix: start failed (exit %d): %s; see %s" % (
            r.returncode, (r.stdout + r.stderr)[-1000:],
            tmp.path("maillog")))
        sink.stop()
        tmp.cleanup()
        return
    try:
        t0 = time.monotonic()
        while not port_open(port) and time.monotonic() - t0 < 20:
            time.sleep(0.1)
        t0 = time.monotonic()
        asyncio.run(load(port, per))
        fill = time.monotonic() - t0
        print("postfix: queue filled with %d messages in %.1f s"
              % (a.messages, fill))
        with open(os.path.join(spool, "pid", "master.pid")) as f:
            master = int(f.read().strip())
        run("postconf", "-c", etc, "-e", "defer_transports =")
        before = cpu_of(postfix_children(master))
        run(exe, "-c", etc, "reload")
        r = run("postqueue", "-c", etc, "-f")
        if r.returncode != 0:
            print("postfix: postqueue -f: %s" % (r.stdout + r.stderr))
        dt = wait_count(sink, a.messages, lambda: os.path.exists(
            "/proc/%d" % master))
        after = cpu_of(postfix_children(master))
        cpu = sum(after.values()) - sum(before.get(p, 0) for p in after)
        report("postfix %s" % run("postconf", "-dh", "mail_version")
               .stdout.strip(), a.messages, dt, cpu, sink.stop(),
               "destination concurrency %d" % a.connections)
    finally:
        run(exe, "-c", etc, "stop")
        if sink.p.poll() is None:
            sink.stop()
        tmp.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--rcpts", type=int, default=100)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--dkim", choices=("none", "rsa", "ed25519", "both"),
                    default="none")
    a = ap.parse_args()
    if a.dkim != "none":
        a.no_postfix = True	# the comparison is vellum with and without
    build = os.path.abspath(a.build)
    per = jobs_for(a, random.Random(1))
    print("%d messages of %d bytes to %d recipients at one domain, %d "
          "connections" % (a.messages, a.size, a.rcpts, a.connections))
    run_vellum(a, build, per)
    if not a.no_postfix:
        run_postfix(a, build, per)
    return 0


if __name__ == "__main__":
    sys.exit(main())
