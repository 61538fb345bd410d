#!/usr/bin/env python3
"""Outbound SMTP client benchmark (prints figures; not a test).

    tests/bench/bench_mta_client.py BUILD_DIR [--size 20000000] [--count 3]
        [--crlf]

Sends COUNT copies of one SIZE-byte message (LF lines of 76 bytes, every
seventh starting with a dot, so the client converts line ends and stuffs
dots) over ONE connection through build/tests/integration/smtpclient-helper
(mta/client.c) to a sink on 127.0.0.1 that answers like a pipelining
ESMTP server and throws the data away.  --crlf: the message has CRLF lines.

Prints the bytes the sink read, the seconds from start to the helper's
exit and the rate, the helper's CPU seconds, and its peak resident memory
(VmHWM, which the helper prints itself) next to the message size: the
helper maps the message file once, so what is above SIZE is what the
client needs on top of it; it must not grow with SIZE (the message is
converted chunk by chunk, never copied whole).
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time


def sink(lsock, stats):
    c, _ = lsock.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    c.sendall(b"220 sink ESMTP\r\n")
    buf = b""
    total = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        total += len(d)
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            verb = line[:4].upper()
            if verb == b"EHLO":
                c.sendall(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                          b"250 SIZE 0\r\n")
            elif verb == b"QUIT":
                c.sendall(b"221 bye\r\n")
                stats["read"] = total
                c.close()
                return
            elif verb == b"DATA":
                c.sendall(b"354 go\r\n")
                tail = buf
                while not tail.endswith(b"\r\n.\r\n"):
                    d = c.recv(1 << 20)
                    if not d:
                        return
                    total += len(d)
                    tail = (tail + d)[-5:]
                buf = b""
                c.sendall(b"250 2.0.0 sunk\r\n")
            else:
                c.sendall(b"250 ok\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--size", type=int, default=20000000)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--crlf", action="store_true")
    a = ap.parse_args()
    helper = os.path.join(a.build, "tests", "integration",
                          "smtpclient-helper")
    eol = b"\r\n" if a.crlf else b"\n"
    lines = []
    n = 0
    size = 0
    while size < a.size:
        line = (b"." if n % 7 == 0 else b"x") + b"%074d" % n + eol
        lines.append(line)
        size += len(line)
        n += 1
    msg = b"".join(lines)
    with tempfile.TemporaryDirectory(prefix="bench-mta-client-") as tmp:
        path = os.path.join(tmp, "msg")
        with open(path, "wb") as f:
            f.write(msg)
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        stats = {}
        t = threading.Thread(target=sink, args=(lsock, stats), daemon=True)
        t.start()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        p = subprocess.run([helper, "-m", path, "-k", str(a.count),
                            "127.0.0.1", str(lsock.getsockname()[1]),
                            "bench@example.test", "rcpt@example.org"],
                           capture_output=True, text=True,
                           env=dict(os.environ, HELPER_VMHWM="1"))
        secs = time.monotonic() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t.join(10)
        lsock.close()
    ok = p.stdout.count("250 2.0.0") == a.count and p.returncode == 0
    print("message: %d bytes, %d lines (%s), %d sent over one connection"
          % (len(msg), n, "CRLF" if a.crlf else "LF", a.count))
    print("result: %s" % ("all accepted" if ok else "FAILED: " +
                          p.stdout[-500:] + p.stderr[-500:]))
    read = stats.get("read", 0)
    print("sink read: %d bytes in %.2f s: %.1f MB/s" %
          (read, secs, read / secs / 1e6))
    print("helper CPU: %.2f s user, %.2f s system" %
          (r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
    hwm = 0
    for line in p.stderr.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    print("helper peak RSS (VmHWM): %.1f MiB; message %.1f MiB (mapped); "
          "above it %.1f MiB" % (hwm / 1024, len(msg) / 1048576,
                                 hwm / 1024 - len(msg) / 1048576))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
