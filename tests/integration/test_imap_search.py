#!/usr/bin/env python3
"""SEARCH, ESEARCH, SEARCHRES, SORT and THREAD of vellum-imapd against
imaplib and raw lines: what each answer looks like (RFC 3501, RFC 4731,
RFC 5182, RFC 5256, RFC 5957, RFC 7162), decoded text (quoted-printable
Latin-1, base64 UTF-8, RFC 2047 headers), bad charsets and bad input, and
a mailbox bigger than one slice of the search engine searched while
another session of the same process is served.

usage: test_imap_search.py BUILD_DIR
"""
import os
import shutil
import tempfile
import threading

from imaptest import SKIP, check, run


def msg(n, subject, date, frm="alice@example.test", to="bob@example.test",
        msgid=None, refs=None, body="plain body\r\n", extra=""):
    h = "From: %s\r\nTo: %s\r\nSubject: %s\r\n" % (frm, to, subject)
    if date:
        h += "Date: %s\r\n" % date
    if msgid:
        h += "Message-ID: <%s>\r\n" % msgid
    if refs:
        h += "References: %s\r\n" % " ".join("<%s>" % r for r in refs)
    return (h + extra + "\r\n" + body).encode("utf-8")


QP_LATIN1 = (
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n"
    "--zz\r\n"
    "Content-Type: text/plain; charset=ISO-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "Viele Gr=FC=DFe aus K=F6ln\r\n"
    "--zz\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    "SElEREVOV09SRA==\r\n"
    "--zz--\r\n")

B64_HTML = (
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    "PHA+UGFzc3dvcmQ6IMOEUEZFTDwvcD4=\r\n")

# (subject, Date:, from, message-id, references, internal date offset)
MAILS = [
    ("lunch", "Mon, 02 Nov 2026 10:00:00 +0000", "Carol <carol@x.test>",
     "a@x", None, 50),
    ("Re: lunch", "Mon, 02 Nov 2026 11:00:00 +0000", "bob@x.test",
     "b@x", ["a@x"], 10),
    ("Re: lunch", "Mon, 02 Nov 2026 12:00:00 +0000",
     "=?ISO-8859-1?Q?J=F6rg?= <jm@x.test>", "c@x", ["a@x"], 30),
    ("report", "Tue, 03 Nov 2026 09:00:00 +0000", "dave@x.test",
     "d@x", None, 20),
    ("Re: lost thread", "Wed, 04 Nov 2026 09:00:00 +0000", "Amy <amy@x.test>",
     "e@x", ["gone@x"], 40),
    ("Re: lost thread", "Wed, 04 Nov 2026 08:00:00 +0000", "zed@x.test",
     "f@x", ["gone@x"], 60),
    ("encoded", "Thu, 05 Nov 2026 09:00:00 +0000", "erin@x.test",
     "g@x", None, 70),
    ("html", None, "frank@x.test", "h@x", None, 80),
]


def import_mails(site, user, blobs, base=1700000000):
    """Imports messages in order, internal dates base + offset (the
    file's mtime is the internal date of an import)."""
    d = tempfile.mkdtemp(dir=site.tmp, prefix="mail-")
    for i, (data, off) in enumerate(blobs):
        p = os.path.join(d, "%05d.eml" % i)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (base + off, base + off))
    site.ctl("mail", "import", user, d)
    shutil.rmtree(d, ignore_errors=True)


def seqset(nums):
    """1,2,3,5 -> "1:3,5"."""
    out, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else "%d:%d" % (nums[i],
                                                           nums[j]))
        i = j + 1
    return ",".join(out)


def ok(r, what):
    tagged, untagged = r
    check(b" OK " in tagged, what, (tagged, untagged))
    return untagged


def one(untagged, prefix, what):
    got = [u for u in untagged if u.startswith(prefix)]
    check(len(got) == 1, what + ": one %r line" % prefix, untagged)
    return got[0].decode("utf-8", "replace")


def test(site, args):
    if not site.have("imapd"):
        return SKIP
    site.start_imapd()
    user = "s@example.test"
    site.add_user(user, "pw")
    blobs = []
    for i, (subj, date, frm, mid, refs, off) in enumerate(MAILS):
        extra, body = "", "plain body number %d\r\n" % (i + 1)
        if subj == "encoded":
            extra, body = QP_LATIN1.split("\r\n\r\n", 1)
            extra += "\r\n"
        if subj == "html":
            extra, body = B64_HTML.split("\r\n\r\n", 1)
            extra += "\r\n"
        blobs.append((msg(i, subj, date, frm=frm, msgid=mid, refs=refs,
                          body=body, extra=extra), off))
    import_mails(site, user, blobs)

    r = site.raw()
    ok(r.cmd("a LOGIN %s pw" % user), "LOGIN")
    caps = ok(r.cmd("c CAPABILITY"), "CAPABILITY")
    ok(r.cmd("s SELECT INBOX"), "SELECT INBOX")

    # SEARCH: the rev1 answer, sequence numbers and UIDs
    u = ok(r.cmd("t1 SEARCH ALL"), "SEARCH ALL")
    check(one(u, b"* SEARCH", "SEARCH ALL") == "* SEARCH 1 2 3 4 5 6 7 8",
          "SEARCH ALL names every message", u)
    u = ok(r.cmd("t2 SEARCH SUBJECT lunch"), "SEARCH SUBJECT")
    check(one(u, b"* SEARCH", "SUBJECT") == "* SEARCH 1 2 3",
          "SUBJECT matches a substring in any case", u)
    u = ok(r.cmd("t3 UID SEARCH NOT SUBJECT lunch 4:*"), "UID SEARCH")
    uids = one(u, b"* SEARCH", "UID SEARCH").split()[2:]
    check(len(uids) == 5, "UID SEARCH NOT ... 4:* finds 5 UIDs", u)
    u = ok(r.cmd("t4 SEARCH 99"), "SEARCH of a number past the end")
    check(one(u, b"* SEARCH", "past the end") == "* SEARCH",
          "a sequence number past the end matches nothing", u)

    # decoded headers and text; 8-bit search strings come as literals
    def lit(tag, pre, s, post=""):
        b = s.encode("utf-8")
        r.send(("%s %s{%d+}\r\n" % (tag, pre, len(b))).encode() + b +
               post.encode() + b"\r\n")
        return r.until_tagged(tag)

    u = ok(lit("t5", "SEARCH CHARSET UTF-8 FROM ", "JÖRG"), "FROM literal")
    check(one(u, b"* SEARCH", "FROM") == "* SEARCH 3",
          "FROM finds an RFC 2047 name, case folded", u)
    u = ok(lit("t6", "SEARCH CHARSET UTF-8 BODY ", "grüße aus köln"),
           "BODY literal")
    check(one(u, b"* SEARCH", "BODY") == "* SEARCH 7",
          "BODY decodes quoted-printable Latin-1", u)
    u = ok(lit("t7", "SEARCH CHARSET UTF-8 TEXT ", "password: äpfel"),
           "TEXT literal")
    check(one(u, b"* SEARCH", "TEXT") == "* SEARCH 8",
          "TEXT decodes base64 UTF-8 and folds Ä", u)
    u = ok(r.cmd("t8 SEARCH BODY HIDDENWORD"), "BODY in an attachment")
    check(one(u, b"* SEARCH", "attachment") == "* SEARCH",
          "a non-text attachment is not searched", u)
    u = ok(r.cmd("t9 SEARCH TEXT carol@x.test"), "TEXT in a header")
    check(one(u, b"* SEARCH", "TEXT header") == "* SEARCH 1",
          "TEXT finds header text", u)
    u = ok(r.cmd("t10 SEARCH HEADER References gone@x"), "HEADER")
    check(one(u, b"* SEARCH", "HEADER") == "* SEARCH 5 6",
          "HEADER name string", u)
    u = ok(r.cmd("t11 SEARCH SENTON 2-Nov-2026 SENTBEFORE 3-Nov-2026"),
           "SENTON")
    check(one(u, b"* SEARCH", "SENTON") == "* SEARCH 1 2 3",
          "SENT* use the Date: header", u)
    u = ok(r.cmd("t12 SEARCH OR SUBJECT report FROM dave NOT FROM erin"),
           "OR/NOT")
    check(one(u, b"* SEARCH", "OR") == "* SEARCH 4", "OR and NOT", u)

    # CHARSET: UTF-8 and US-ASCII only
    t, u = r.cmd("t13 SEARCH CHARSET KOI8-R SUBJECT x")
    check(t.startswith(b"t13 NO [BADCHARSET (UTF-8 US-ASCII)]"),
          "an unknown charset is NO [BADCHARSET (UTF-8 US-ASCII)]", t)
    ok(r.cmd("t14 SEARCH CHARSET US-ASCII SUBJECT report"), "US-ASCII")
    # bad input keeps the session
    t, u = r.cmd("t15 SEARCH")
    check(t.startswith(b"t15 BAD"), "SEARCH without keys is BAD", t)
    t, u = r.cmd("t16 SEARCH " + "(" * 40 + "ALL" + ")" * 40)
    check(t.startswith(b"t16 BAD"), "nesting past the limit is BAD", t)
    t, u = r.cmd("t17 SEARCH FROBNICATE")
    check(t.startswith(b"t17 BAD"), "an unknown key is BAD", t)

    # ESEARCH (RFC 4731)
    u = ok(r.cmd("e1 SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT lunch"),
           "ESEARCH")
    check(one(u, b"* ESEARCH", "ESEARCH") ==
          '* ESEARCH (TAG "e1") MIN 1 MAX 3 ALL 1:3 COUNT 3',
          "ESEARCH MIN MAX ALL COUNT", u)
    u = ok(r.cmd("e2a UID SEARCH SUBJECT lunch"), "UID SEARCH lunch")
    lunch = [int(x) for x in one(u, b"* SEARCH", "lunch").split()[2:]]
    u = ok(r.cmd("e2 UID SEARCH RETURN () SUBJECT lunch"), "RETURN ()")
    check(one(u, b"* ESEARCH", "RETURN ()") ==
          '* ESEARCH (TAG "e2") UID ALL ' + seqset(lunch),
          "RETURN () is ALL, with UID and a sequence set", u)
    u = ok(r.cmd("e3 SEARCH RETURN (COUNT) SUBJECT nothing-like-this"),
           "COUNT 0")
    check(one(u, b"* ESEARCH", "COUNT 0") ==
          '* ESEARCH (TAG "e3") COUNT 0', "an empty COUNT", u)
    u = ok(r.cmd("e4 SEARCH RETURN (MIN) SUBJECT nothing-like-this"),
           "MIN of nothing")
    check(one(u, b"* ESEARCH", "MIN of nothing") == '* ESEARCH (TAG "e4")',
          "MIN of no match is left out", u)

    # SEARCHRES (RFC 5182)
    u = ok(r.cmd("r1 SEARCH RETURN (SAVE) FROM x.test SUBJECT lost"),
           "SAVE")
    check(not [x for x in u if x.startswith(b"* ESEARCH") or
               x.startswith(b"* SEARCH")],
          "SAVE alone answers nothing untagged", u)
    u = ok(r.cmd("r2 SEARCH $"), "SEARCH $")
    check(one(u, b"* SEARCH", "$") == "* SEARCH 5 6", "$ is the result", u)
    u = ok(r.cmd("r3 SEARCH RETURN (SAVE MIN) ALL"), "SAVE MIN")
    u = ok(r.cmd("r4 SEARCH $"), "SEARCH $ after SAVE MIN")
    check(one(u, b"* SEARCH", "SAVE MIN") == "* SEARCH 1",
          "SAVE with MIN keeps only the minimum", u)
    t, u = r.cmd("r5 SEARCH RETURN (SAVE) CHARSET BOGUS ALL")
    check(t.startswith(b"r5 NO"), "the failing SEARCH is NO", t)
    u = ok(r.cmd("r6 SEARCH $"), "SEARCH $ after a failure")
    check(one(u, b"* SEARCH", "empty $") == "* SEARCH",
          "a failed SEARCH RETURN (SAVE) empties $", u)
    ok(r.cmd("r7 SEARCH RETURN (SAVE) SUBJECT report"), "SAVE again")
    t, u = r.cmd("r8 SEARCH CHARSET BOGUS ALL")
    check(t.startswith(b"r8 NO [BADCHARSET"), "a failing SEARCH", t)
    u = ok(r.cmd("r9 SEARCH $"), "SEARCH $ after a failure without SAVE")
    check(one(u, b"* SEARCH", "kept $") == "* SEARCH 4",
          "a failed SEARCH without SAVE keeps $", u)

    # CONDSTORE: MODSEQ enables it and answers the highest modseq
    u = ok(r.cmd("m1 SEARCH MODSEQ 1 SUBJECT report"), "MODSEQ")
    check([x for x in u if x.startswith(b"* OK [HIGHESTMODSEQ ")],
          "the first MODSEQ key announces HIGHESTMODSEQ", u)
    line = one(u, b"* SEARCH", "MODSEQ")
    check(line.startswith("* SEARCH 4 (MODSEQ ") and line.endswith(")"),
          "SEARCH MODSEQ adds (MODSEQ n)", u)

    # SORT (RFC 5256, RFC 5957)
    def sort(tag, crit, keys="ALL", uid=False):
        u = ok(r.cmd("%s %sSORT (%s) UTF-8 %s" % (
            tag, "UID " if uid else "", crit, keys)), "SORT " + crit)
        return one(u, b"* SORT", "SORT " + crit)

    check(sort("o1", "SUBJECT") == "* SORT 7 8 5 6 1 2 3 4",
          "SORT SUBJECT by base subject, ties by sequence",
          sort("o1b", "SUBJECT"))
    check(sort("o2", "REVERSE DATE") == "* SORT 7 5 6 4 3 2 1 8",
          "SORT REVERSE DATE (no Date: sorts by internal date)",
          sort("o2b", "REVERSE DATE"))
    check(sort("o3", "ARRIVAL") == "* SORT 2 4 3 5 1 6 7 8",
          "SORT ARRIVAL", sort("o3b", "ARRIVAL"))
    check(sort("o4", "FROM") == "* SORT 5 2 1 4 7 8 3 6",
          "SORT FROM by addr-mailbox", sort("o4b", "FROM"))
    check(sort("o5", "DISPLAYFROM", "SUBJECT lunch") == "* SORT 2 1 3",
          "SORT DISPLAYFROM: display name, else the address",
          sort("o5b", "DISPLAYFROM", "SUBJECT lunch"))
    check(sort("o6", "SUBJECT REVERSE ARRIVAL", "SUBJECT lunch") ==
          "* SORT 1 3 2", "SORT with a second key",
          sort("o6b", "SUBJECT REVERSE ARRIVAL", "SUBJECT lunch"))
    line = sort("o7", "DATE", "SUBJECT report", uid=True)
    check(line.startswith("* SORT ") and len(line.split()) == 3,
          "UID SORT answers UIDs", line)
    t, u = r.cmd("o8 SORT (SUBJECT) KOI8-R ALL")
    check(t.startswith(b"o8 NO [BADCHARSET"), "SORT's charset checked", t)
    t, u = r.cmd("o9 SORT (NOSUCHKEY) UTF-8 ALL")
    check(t.startswith(b"o9 BAD"), "an unknown sort key is BAD", t)

    # THREAD (RFC 5256)
    u = ok(r.cmd("h1 THREAD REFERENCES UTF-8 ALL"), "THREAD REFERENCES")
    check(one(u, b"* THREAD", "REFERENCES") ==
          "* THREAD (8)(1 (2)(3))(4)((6)(5))(7)",
          "THREAD REFERENCES: replies, a missing parent, dates (no "
          "Date: is the internal date)", u)
    u = ok(r.cmd("h2 THREAD ORDEREDSUBJECT UTF-8 ALL"), "ORDEREDSUBJECT")
    check(one(u, b"* THREAD", "ORDEREDSUBJECT") ==
          "* THREAD (8)(1 (2)(3))(4)(6 5)(7)",
          "THREAD ORDEREDSUBJECT", u)
    u = ok(r.cmd("h3 THREAD REFERENCES UTF-8 SUBJECT nothing-like-this"),
           "THREAD of nothing")
    check(one(u, b"* THREAD", "empty THREAD") == "* THREAD",
          "an empty THREAD", u)
    u = ok(r.cmd("h4 UID THREAD REFERENCES UTF-8 SUBJECT report"),
           "UID THREAD")
    line = one(u, b"* THREAD", "UID THREAD")
    check(line.startswith("* THREAD (") and line.endswith(")"),
          "UID THREAD", u)
    t, u = r.cmd("h5 THREAD NOSUCH UTF-8 ALL")
    check(t.startswith(b"h5 BAD"), "an unknown algorithm is BAD", t)
    # flags set with STORE, then the keys on the msgs row
    ok(r.cmd("f1 STORE 2,4 +FLAGS.SILENT (\\Flagged $Work)"), "STORE")
    ok(r.cmd("f2 STORE 1 +FLAGS.SILENT (\\Seen)"), "STORE Seen")
    for cmd, want in (
            ("FLAGGED", "2 4"),
            ("KEYWORD $work", "2 4"),
            ("UNFLAGGED UNKEYWORD $Work SUBJECT lunch", "1 3"),
            ("SEEN", "1"),
            ("RECENT", "1 2 3 4 5 6 7 8"),
            ("NEW", "2 3 4 5 6 7 8"),
            ("OLD", ""),
            ("NOT KEYWORD nosuch SMALLER 1", "")):
        u = ok(r.cmd("f3 SEARCH " + cmd), "SEARCH " + cmd)
        check(one(u, b"* SEARCH", cmd) == ("* SEARCH " + want).strip(),
              "SEARCH %s is %s" % (cmd, want or "nothing"), u)
    u = ok(r.cmd("f4 FETCH 2 (MODSEQ)"), "FETCH MODSEQ")
    ms = int(one(u, b"* 2 FETCH", "MODSEQ").split("MODSEQ (")[1]
             .split(")")[0])
    u = ok(r.cmd("f5 SEARCH MODSEQ %d" % ms), "SEARCH MODSEQ n")
    line = one(u, b"* SEARCH", "MODSEQ n")
    check(line.startswith("* SEARCH 1 2 4 (MODSEQ ") and
          int(line.split("(MODSEQ ")[1].rstrip(")")) > ms,
          "MODSEQ n finds the messages changed since and names the "
          "highest modseq (message 1's, stored last)", u)

    # a message expunged by another session: not matched, sequence
    # numbers kept, EXPUNGE held back after SEARCH, sent after UID SEARCH
    o = site.raw()
    ok(o.cmd("o1 LOGIN %s pw" % user), "LOGIN other")
    ok(o.cmd("o2 SELECT INBOX"), "SELECT other")
    ok(o.cmd("o3 STORE 8 +FLAGS.SILENT (\\Deleted)"), "STORE Deleted")
    ok(o.cmd("o4 EXPUNGE"), "EXPUNGE other")
    o.cmd("o5 LOGOUT")
    o.close()
    u = ok(r.cmd("g1 SEARCH ALL"), "SEARCH after an expunge elsewhere")
    check(one(u, b"* SEARCH", "gone") == "* SEARCH 1 2 3 4 5 6 7",
          "the expunged message is not matched, numbers unchanged", u)
    check(not [x for x in u if x.endswith(b" EXPUNGE")],
          "SEARCH does not announce the expunge", u)
    u = ok(r.cmd("g2 UID SEARCH SUBJECT html"), "UID SEARCH after it")
    check(one(u, b"* SEARCH", "gone uid") == "* SEARCH",
          "UID SEARCH does not find it either", u)
    check(u and u[-1] == b"* 8 EXPUNGE",
          "UID SEARCH is followed by the EXPUNGE", u)

    for cap in (b"ESEARCH", b"SEARCHRES", b"SORT", b"THREAD=REFERENCES",
                b"THREAD=ORDEREDSUBJECT"):
        check(any(cap in x.split() for x in caps),
              "CAPABILITY lists %s" % cap.decode(), caps)

    # IMAP4rev2 answers ESEARCH without RETURN
    v2 = site.raw()
    ok(v2.cmd("v1 LOGIN %s pw" % user), "LOGIN rev2")
    ok(v2.cmd("v2 ENABLE IMAP4rev2"), "ENABLE IMAP4rev2")
    ok(v2.cmd("v3 SELECT INBOX"), "SELECT rev2")
    u = ok(v2.cmd("v4 SEARCH SUBJECT lunch"), "rev2 SEARCH")
    check(one(u, b"* ESEARCH", "rev2") == '* ESEARCH (TAG "v4") ALL 1:3',
          "IMAP4rev2 SEARCH answers ESEARCH", u)
    v2.cmd("v5 LOGOUT")
    v2.close()

    # a mailbox of several slices, searched while another session of
    # the same process is served: every slice's matches are there
    big = "big@example.test"
    site.add_user(big, "pw")
    n = 1300
    import_mails(site, big, [
        (msg(i, "bulk %d" % i, "Fri, 06 Nov 2026 09:00:00 +0000",
             body="line %d %s\r\n" % (i, "needle" if i % 7 == 0 else
                                      "hay")), i)
        for i in range(n)])
    b = site.raw()
    ok(b.cmd("b1 LOGIN %s pw" % big), "LOGIN big")
    ok(b.cmd("b2 SELECT INBOX"), "SELECT big")
    other = site.raw()
    ok(other.cmd("x1 LOGIN %s pw" % user), "LOGIN other")
    b.send(b"b3 SEARCH RETURN (COUNT MIN MAX) BODY needle\r\n")
    ok(other.cmd("x2 NOOP"), "another session is served")
    u = ok(b.until_tagged("b3"), "SEARCH over several slices")
    want = len([i for i in range(n) if i % 7 == 0])
    check(one(u, b"* ESEARCH", "big") ==
          '* ESEARCH (TAG "b3") MIN 1 MAX %d COUNT %d' % (
              max(i for i in range(n) if i % 7 == 0) + 1, want),
          "the matches of every slice", u)
    u = ok(b.cmd("b4 SEARCH RETURN (COUNT) SUBJECT bulk"), "COUNT big")
    check(one(u, b"* ESEARCH", "big count") ==
          '* ESEARCH (TAG "b4") COUNT %d' % n, "every message", u)
    u = ok(b.cmd("b5 SORT (REVERSE ARRIVAL) UTF-8 1:3"), "SORT big")
    check(one(u, b"* SORT", "big sort") == "* SORT 3 2 1", "SORT", u)
    # SORT and THREAD over every slice
    u = ok(b.cmd("b5s SORT (SUBJECT) UTF-8 ALL"), "SORT SUBJECT big")
    want = sorted(range(n), key=lambda i: "bulk %d" % i)
    check(one(u, b"* SORT", "big subject") == "* SORT " + " ".join(
        str(i + 1) for i in want), "SORT SUBJECT over several slices",
        u[-1][:200])
    u = ok(b.cmd("b5t THREAD ORDEREDSUBJECT UTF-8 ALL"), "THREAD big")
    check(one(u, b"* THREAD", "big thread") == "* THREAD " + "".join(
        "(%d)" % (i + 1) for i in range(n)),
        "THREAD over several slices: one thread a subject, same dates "
        "in mailbox order", u[-1][:200])
    # new mail arriving while a search runs: the answer is about the
    # messages the session had been told of, whenever the mail lands
    more = [(msg(i, "late %d" % i, None, body="needle late\r\n"), 5000 + i)
            for i in range(200)]
    th = threading.Thread(target=import_mails, args=(site, big, more))
    b.send(b"b6 SEARCH BODY needle\r\n")
    th.start()
    t, u = b.until_tagged("b6")
    th.join()
    check(t.startswith(b"b6 OK"), "SEARCH while mail arrives", t)
    line = one(u, b"* SEARCH", "late mail")
    check(line == "* SEARCH " + " ".join(
        str(i + 1) for i in range(n) if i % 7 == 0),
        "only messages the session knew are in the answer", u)
    late = [x for x in u if x.endswith(b" EXISTS")]
    check(all(u.index(x) > u.index(line.encode()) for x in late),
          "EXISTS for new mail comes after the answer", u)
    ok(b.cmd("b6n NOOP"), "NOOP: the new mail is announced")
    u = ok(b.cmd("b7 SEARCH RETURN (COUNT) SUBJECT late"), "late mail")
    check(one(u, b"* ESEARCH", "late count") ==
          '* ESEARCH (TAG "b7") COUNT 200',
          "the new mail is searched once announced", u)
    # a client that goes away in the middle of a long search: the
    # search state is freed with the session, the server goes on
    for i in range(3):
        q = site.raw()
        ok(q.cmd("q1 LOGIN %s pw" % big), "LOGIN quitter")
        ok(q.cmd("q2 SELECT INBOX"), "SELECT quitter")
        q.send(b"q3 UID SEARCH TEXT needle\r\nq4 THREAD REFERENCES "
               b"UTF-8 ALL\r\n")
        q.close()
    u = ok(other.cmd("x3 NOOP"), "the server serves on")
    check(site.imapd.popen.poll() is None, "vellum-imapd still runs",
          site.imapd.output()[-2000:] if hasattr(site.imapd, "output")
          else "")
    for c in (r, b, other):
        c.cmd("z LOGOUT")
        c.close()
    return 0


if __name__ == "__main__":
    run(test)
