"""vellum-imapd FETCH BINARY (RFC 3516, RFC 9051 6.4.5): base64,
quoted-printable and 7bit parts decoded; a NUL in the decoded bytes gives
a literal8 ~{n}, none a plain literal; <o.n> counts in the decoded bytes;
BINARY.SIZE is the decoded size; a part streamed (longer than one piece)
comes whole; BINARY[] and BINARY of a multipart decode the parts inside
and mark their headers "binary"; an unknown Content-Transfer-Encoding
ends NO [UNKNOWN-CTE]; BINARY sets \\Seen, BINARY.PEEK and BINARY.SIZE do
not; APPEND of a literal8 with NULs comes back byte-exact; a 12 MB
decoded part to a client that does not read costs the server little
memory (streamed).

usage: test_imap_binary.py BUILD_DIR
"""
import base64
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imaptest import SKIP, Failure, check, run  # noqa: E402

USER, PASS = "alice@example.test", "s3cret-pw"

NULBYTES = bytes(range(256)) * 3 + b"\x00tail"
TEXT64 = ("Grüße aus Köln\r\n" * 20).encode()
QP_BODY = (b"caf=C3=A9 soft=\n"
           b"break   \n"
           b"eq=3D and tab\t=\n"
           b"\n"
           b"last=20line=")
QP_DECODED = b"caf\xc3\xa9 softbreak\r\neq= and tab\t\r\nlast line"


def b64lines(data):
    s = base64.b64encode(data)
    return b"\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + b"\n"


MIXED = (b"From: Ann <ann@example.test>\n"
         b"To: bob@example.test\n"
         b"Subject: binary parts\n"
         b"MIME-Version: 1.0\n"
         b"Content-Type: multipart/mixed; boundary=\"BB\"\n"
         b"\n"
         b"preamble\n"
         b"--BB\n"
         b"Content-Type: text/plain; charset=utf-8\n"
         b"Content-Transfer-Encoding: Quoted-Printable\n"
         b"\n" + QP_BODY + b"\n"
         b"--BB\n"
         b"Content-Type: application/octet-stream\n"
         b"Content-Transfer-Encoding: base64\n"
         b"\n" + b64lines(NULBYTES) +
         b"--BB\n"
         b"Content-Type: text/plain\n"
         b"\n"
         b"plain 7bit\nsecond line\n"
         b"--BB\n"
         b"Content-Type: text/plain; charset=utf-8\n"
         b"Content-Transfer-Encoding: base64 (a comment)\n"
         b"\n" + b64lines(TEXT64) +
         b"--BB--\n")

UNKNOWN = (b"From: c@example.test\nSubject: uue\nMIME-Version: 1.0\n"
           b"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n`\nend\n")

BIGDATA = bytes((i * 7 + i // 251) & 0xff for i in range(3 * 1024 * 1024))
BIG = (b"From: d@example.test\nSubject: big\nMIME-Version: 1.0\n"
       b"Content-Type: application/octet-stream\n"
       b"Content-Transfer-Encoding: base64\n\n" + b64lines(BIGDATA))

SINGLE_QP = (b"From: e@example.test\nSubject: qp\nMIME-Version: 1.0\n"
             b"Content-Transfer-Encoding: quoted-printable\n\n" + QP_BODY)


class Conn:
    """IMAP at the byte level: literals {n} and ~{n} spliced in."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.n = 0
        self.line()

    def fill(self):
        d = self.s.recv(262144)
        if not d:
            raise Failure("connection closed; had %r" % self.buf[:300])
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self):
        out = b""
        while True:
            ln = self.line()
            out += ln
            m = re.search(rb"~?\{(\d+)\}\r\n$", ln)
            if not m:
                return out
            out += self.exact(int(m.group(1)))

    def cmd(self, text):
        self.n += 1
        t = b"t%d" % self.n
        self.s.sendall(t + b" " + text.encode() + b"\r\n")
        untagged = []
        while True:
            r = self.response()
            if r.startswith(t + b" "):
                return untagged, r
            untagged.append(r)

    def ok(self, text):
        u, t = self.cmd(text)
        check(t.split(b" ")[1] == b"OK", "%s answers OK" % text,
              (u[:3], t))
        return u


def items(resp):
    """{item name: (value bytes or None for NIL, literal8?)} of one FETCH
    response; numbers (BINARY.SIZE) as ints."""
    out = {}
    pos = 0
    pat = re.compile(rb"(BINARY(?:\.SIZE)?\[[0-9.]*\](?:<\d+>)?|"
                     rb"BODY\[[^\]]*\](?:<\d+>)?) "
                     rb"(~?)(?:\{(\d+)\}\r\n|(\"\")|(NIL)|(\d+))")
    while True:
        m = pat.search(resp, pos)
        if not m:
            return out
        name = m.group(1).decode()
        if m.group(3) is not None:
            n = int(m.group(3))
            out[name] = (resp[m.end():m.end() + n], m.group(2) == b"~")
            pos = m.end() + n
        else:
            if m.group(4):
                out[name] = (b"", False)
            elif m.group(5):
                out[name] = (None, False)
            else:
                out[name] = int(m.group(6))
            pos = m.end()


def rss_kb(pid):
    """Anonymous resident memory (kB) of the server (the store's mapped
    file does not count)."""
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("RssAnon:"):
                return int(ln.split()[1])
    return 0


def one(u):
    f = [x for x in u if re.match(rb"\* \d+ FETCH", x)]
    check(len(f) == 1, "one FETCH response", u)
    return f[0]


def test(site, args):
    # One process: the memory checks read that process's RSS.
    site.workers = 1
    if not site.have("imapd"):
        print("vellum-imapd is not built: skipped")
        return SKIP
    proc = site.start_imapd()
    site.add_user(USER, PASS)
    site.add_mail(USER, MIXED, UNKNOWN, BIG, SINGLE_QP)
    huge = bytes((i * 13) & 0xff for i in range(12 * 1024 * 1024))
    site.add_mail(USER, BIG.split(b"\n\n", 1)[0] + b"\n\n" +
                  b64lines(huge), folder="Huge")
    c = Conn(site.imap_port)
    c.ok("LOGIN %s %s" % (USER, PASS))
    u = c.ok("CAPABILITY")
    check(any(b" BINARY" in x for x in u), "BINARY is advertised", u)
    c.ok("SELECT INBOX")

    # --- the parts of a multipart, one by one -------------------------
    r = one(c.ok("FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[2] BINARY.PEEK[3] "
                 "BINARY.PEEK[4] BINARY.SIZE[1] BINARY.SIZE[2] "
                 "BINARY.SIZE[3] BINARY.SIZE[4] BODY.PEEK[2])"))
    it = items(r)
    check(it.get("BINARY[1]") == (QP_DECODED, False),
          "BINARY[1]: quoted-printable decoded (soft breaks, =XX, blanks "
          "before a line end dropped, CRLF), a plain literal", it)
    check(it.get("BINARY[2]") == (NULBYTES, True),
          "BINARY[2]: base64 decoded, NULs in it: a literal8 ~{n}", it)
    check(it.get("BINARY[3]") == (b"plain 7bit\r\nsecond line", False),
          "BINARY[3]: 7bit as it is, bare LF sent as CRLF", it)
    check(it.get("BINARY[4]") == (TEXT64, False),
          "BINARY[4]: base64 (a comment after the name) decoded, no NUL: "
          "a plain literal", it)
    for i, want in ((1, QP_DECODED), (2, NULBYTES),
                    (3, b"plain 7bit\r\nsecond line"), (4, TEXT64)):
        check(it.get("BINARY.SIZE[%d]" % i) == len(want),
              "BINARY.SIZE[%d] is the decoded size %d" % (i, len(want)),
              it)
    check(it.get("BODY[2]", (None,))[0] == b64lines(NULBYTES).replace(
        b"\n", b"\r\n")[:-2], "BODY[2] is still the encoded bytes", it)

    # --- partial: counted in decoded bytes ----------------------------
    r = one(c.ok("FETCH 1 (BINARY.PEEK[2]<10.20> BINARY.PEEK[2]<0.5> "
                 "BINARY.PEEK[1]<4.5> BINARY.PEEK[2]<100000.5> "
                 "BINARY.PEEK[2]<766.100000>)"))
    it = items(r)
    check(it.get("BINARY[2]<10>") == (NULBYTES[10:30], False),
          "BINARY[2]<10.20>: 20 decoded bytes from 10, no NUL among them: "
          "a plain literal", it)
    check(it.get("BINARY[2]<0>") == (NULBYTES[:5], True),
          "BINARY[2]<0.5>: a NUL in the window: literal8", it)
    check(it.get("BINARY[1]<4>") == (QP_DECODED[4:9], False),
          "BINARY[1]<4.5> counts in decoded bytes", it)
    check(it.get("BINARY[2]<100000>") == (b"", False),
          "a window past the end is empty", it)
    check(it.get("BINARY[2]<766>") == (NULBYTES[766:], True),
          "BINARY[2]<766.100000>: from 766 to the end, a NUL in it", it)

    # --- multipart and whole message: parts inside decoded ------------
    r = one(c.ok("FETCH 1 (BINARY.PEEK[] BINARY.SIZE[] BODY.PEEK[])"))
    it = items(r)
    whole = it.get("BINARY[]", (b"",))[0]
    check(it.get("BINARY[]", (None, False))[1] is True,
          "BINARY[] with NULs inside is a literal8", it)
    check(it.get("BINARY.SIZE[]") == len(whole),
          "BINARY.SIZE[] is the length of BINARY[]", (len(whole), it))
    check(whole.startswith(b"From: Ann <ann@example.test>\r\n"),
          "BINARY[] starts with the message header", whole[:200])
    check(b"Content-Transfer-Encoding: base64" not in whole and
          b"Quoted-Printable" not in whole,
          "no encoded part is labelled with its old encoding", whole)
    check(b"Content-Type: application/octet-stream\r\n"
          b"Content-Transfer-Encoding: binary\r\n\r\n" + NULBYTES +
          b"\r\n--BB\r\n" in whole,
          "the base64 part: header says binary, body decoded", whole)
    check(b"charset=utf-8\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
          QP_DECODED + b"\r\n--BB\r\n" in whole,
          "the QP part: header says binary, body decoded", whole)
    check(b"preamble\r\n--BB\r\n" in whole and whole.endswith(
        b"--BB--\r\n"), "boundaries and preamble as sent by BODY[]",
        whole[-100:])
    check(b"plain 7bit\r\nsecond line\r\n--BB" in whole,
          "the 7bit part as it is", whole)

    # --- a single-part message --------------------------------------
    r = one(c.ok("FETCH 4 (BINARY.PEEK[1] BINARY.PEEK[] BINARY.SIZE[1] "
                 "BINARY.PEEK[2] BINARY.SIZE[2])"))
    it = items(r)
    check(it.get("BINARY[1]") == (QP_DECODED, False),
          "BINARY[1] of a single-part message is its decoded body", it)
    check(it.get("BINARY[]", (b"",))[0].endswith(
        b"Content-Transfer-Encoding: binary\r\n\r\n" + QP_DECODED),
        "BINARY[] of it: header marked binary, body decoded", it)
    check(it.get("BINARY.SIZE[1]") == len(QP_DECODED),
          "BINARY.SIZE[1] of it", it)
    check(it.get("BINARY[2]") == (None, False) and
          it.get("BINARY.SIZE[2]") == 0,
          "no part 2: BINARY NIL, BINARY.SIZE 0", it)

    # --- a part longer than a piece: streamed --------------------------
    r = one(c.ok("FETCH 3 (BINARY.SIZE[1] BINARY.PEEK[1] "
                 "BINARY.PEEK[1]<1000000.300000>)"))
    it = items(r)
    check(it.get("BINARY.SIZE[1]") == len(BIGDATA),
          "BINARY.SIZE of a 3 MB base64 part", it.get("BINARY.SIZE[1]"))
    got = it.get("BINARY[1]", (b"", False))
    check(got[0] == BIGDATA and got[1] is True,
          "a 3 MB base64 part streamed whole, decoded, literal8",
          (len(got[0]), got[1]))
    got = it.get("BINARY[1]<1000000>", (b"",))[0]
    check(got == BIGDATA[1000000:1300000],
          "a streamed partial window", len(got))

    # --- unknown transfer encoding ----------------------------------
    u, t = c.cmd("FETCH 2 (UID BINARY.PEEK[1])")
    check(t.split(b" ", 2)[1:2] == [b"NO"] and b"[UNKNOWN-CTE]" in t,
          "x-uuencode: NO [UNKNOWN-CTE]", (u, t))
    check(all(b"BINARY[" not in x for x in u),
          "no BINARY item for the undecodable part", u)
    u, t = c.cmd("FETCH 2 (BINARY.SIZE[1])")
    check(b"NO [UNKNOWN-CTE]" in t, "BINARY.SIZE of it too", (u, t))
    u, t = c.cmd("FETCH 1:2 (BINARY.PEEK[1])")
    check(b"NO [UNKNOWN-CTE]" in t and any(b"BINARY[1]" in x for x in u),
          "1:2: message 1 answered, then NO [UNKNOWN-CTE]", (u, t))
    c.ok("FETCH 2 (BODY.PEEK[1])")

    # --- \Seen ------------------------------------------------------
    r = one(c.ok("FETCH 1 (FLAGS)"))
    check(b"\\Seen" not in r, "BINARY.PEEK and BINARY.SIZE leave \\Seen "
          "alone", r)
    r = one(c.ok("FETCH 1 (BINARY[3])"))
    check(re.search(rb"FLAGS \([^)]*\\Seen", r),
          "BINARY[3] sets \\Seen and says so", r)
    r = one(c.ok("FETCH 1 (FLAGS)"))
    check(b"\\Seen" in r, "\\Seen is stored", r)

    # --- APPEND of a literal8 ---------------------------------------
    msg = (b"From: f@example.test\r\nSubject: nul\r\nMIME-Version: 1.0\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n"
           b"a\x00b\r\n\x00\x01\xff binary\r\n")
    c.n += 1
    tag = b"t%d" % c.n
    c.s.sendall(tag + b" APPEND INBOX ~{%d}\r\n" % len(msg))
    ln = c.line()
    check(ln.startswith(b"+"), "APPEND ~{n}: go ahead", ln)
    c.s.sendall(msg + b"\r\n")
    while True:
        r = c.response()
        if r.startswith(tag + b" "):
            break
    check(b" OK" in r, "APPEND of a literal8 with NULs is OK", r)
    m = re.search(rb"APPENDUID \d+ (\d+)", r)
    check(m, "APPENDUID given", r)
    uid = m.group(1).decode()
    r = one(c.ok("UID FETCH %s (BODY.PEEK[] BINARY.PEEK[1] "
                 "BINARY.SIZE[1])" % uid))
    it = items(r)
    check(it.get("BODY[]", (None,))[0] == msg,
          "the appended message comes back byte-exact", it)
    body = msg.split(b"\r\n\r\n", 1)[1]
    check(it.get("BINARY[1]") == (body, True),
          "BINARY[1] of it: the body with its NULs, a literal8", it)
    check(it.get("BINARY.SIZE[1]") == len(body), "BINARY.SIZE of it", it)
    c.ok("LOGOUT")

    # --- a 12 MB decoded part to a client that does not read -----------
    base = rss_kb(proc.pid)
    slow = Conn(site.imap_port)
    slow.ok("LOGIN %s %s" % (USER, PASS))
    slow.ok("SELECT Huge")
    slow.s.sendall(b"h1 FETCH 1 (BINARY.PEEK[1])\r\n")
    time.sleep(1.0)     # the server fills the socket and must wait
    grown = rss_kb(proc.pid) - base
    check(grown < 8 * 1024, "BINARY of a 16 MB base64 part to a client "
          "that does not read grows the server by less than 8 MB (kB)",
          grown)
    u = slow.response()
    check(u.endswith(huge + b")\r\n") and b"BINARY[1] ~{%d}" % len(huge)
          in u, "the 12 MB part arrives decoded and whole", len(u))
    t = slow.response()
    check(t.startswith(b"h1 OK"), "the large BINARY ends OK", t)


run(test)
