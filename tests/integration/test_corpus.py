#!/usr/bin/env python3
"""Byte-exact round trips of real mail through vellumctl mail import/export.

- spamassassin-public: every file is one message behind an mbox "From "
  line; imported as directories of messages, exported as Maildir, the
  multiset of SHA-256 of the exported files must equal that of the files
  minus their first line.  Exported again as mbox and re-imported, the same
  but for Status:/X-Status: header lines (they become flags).
- mime-torture: the .eml files (CRLF, NUL bytes, 8-bit, huge headers) the
  same way; each .mbox file imported, exported as mbox, re-imported and
  exported again must give the same bytes, with as many messages as the
  file has "From " lines after empty lines.
- store check passes at the end.

Usage: test_corpus.py VELLUMCTL [CORPUS_DIR]   ($VELLUM_CORPUS wins)
Exits 77 (skipped) when the corpus is not there."""
import collections
import hashlib
import os
import re

from vtest import SKIP, check, main


def sha(b):
    return hashlib.sha256(b).hexdigest()


def exported(root):
    """Counter of SHA-256 of the message files of a Maildir tree."""
    c = collections.Counter()
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) not in ("cur", "new"):
            continue
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fp:
                c[sha(fp.read())] += 1
    return c


def without_status(data):
    """data without the Status:/X-Status: lines of its header block (and
    their continuation lines): what an mbox import stores (issue 12)."""
    out, drop, pos = [], False, 0
    for line in data.splitlines(keepends=True):
        if line in (b"\n", b"\r\n"):
            break
        if not line.startswith((b" ", b"\t")):
            drop = line.lower().startswith((b"status:", b"x-status:"))
        if not drop:
            out.append(line)
        pos += len(line)
    return b"".join(out) + data[pos:]


def message_files(d):
    return sorted(f for f in os.listdir(d)
                  if not f.startswith(".") and
                  os.path.isfile(os.path.join(d, f)))


def diff(want, got):
    return {"missing": sum((want - got).values()),
            "unexpected": sum((got - want).values()),
            "want": sum(want.values()), "got": sum(got.values())}


def test(ctl, args):
    corpus = os.environ.get("VELLUM_CORPUS") or (args[0] if args else "")
    sa = os.path.join(corpus, "spamassassin-public")
    mt = os.path.join(corpus, "mime-torture")
    if not corpus or not os.path.isdir(sa) or not os.path.isdir(mt):
        print("SKIP: no mail corpus at %r (set VELLUM_CORPUS to a "
              "directory with spamassassin-public/ and mime-torture/)"
              % corpus)
        return SKIP
    ctl.run("domain", "add", "corpus.test")
    for u in ("sa", "sa2", "mt", "mt2", "mb", "mb2"):
        ctl.run("user", "add", u + "@corpus.test")

    # --- spamassassin-public ---------------------------------------------
    want = collections.Counter()
    # Through an mbox, Status:/X-Status: lines become flags and leave.
    want_mb = collections.Counter()
    folders = sorted(d for d in os.listdir(sa)
                     if os.path.isdir(os.path.join(sa, d)))
    check(len(folders) >= 5, "spamassassin-public has its folders", folders)
    for d in folders:
        path = os.path.join(sa, d)
        n = 0
        for f in message_files(path):
            with open(os.path.join(path, f), "rb") as fp:
                data = fp.read()
            if data.startswith(b"From "):
                nl = data.find(b"\n")
                data = data[nl + 1:] if nl >= 0 else b""
            want[sha(data)] += 1
            want_mb[sha(without_status(data))] += 1
            n += 1
        out, _ = ctl.run("mail", "import", "sa@corpus.test", path,
                         "--folder", d)
        check("%d messages imported" % n in out and " 0 failed" in out,
              "import of spamassassin %s: all %d files" % (d, n), out)
    md = ctl.path("sa-maildir")
    ctl.run("mail", "export", "sa@corpus.test", md)
    got = exported(md)
    check(got == want, "spamassassin Maildir export equals the files "
          "minus their From line", diff(want, got))
    # mbox per folder, re-imported into sa2, exported as Maildir.
    for d in folders:
        mb = ctl.path("sa-%s.mbox" % d)
        ctl.run("mail", "export", "sa@corpus.test", mb, "--format", "mbox",
                "--folder", d)
        ctl.run("mail", "import", "sa2@corpus.test", mb, "--folder", d)
    md2 = ctl.path("sa2-maildir")
    ctl.run("mail", "export", "sa2@corpus.test", md2)
    got2 = exported(md2)
    check(got2 == want_mb, "spamassassin through mbox and back is "
          "byte-exact but for Status:/X-Status: lines", diff(want_mb, got2))

    # --- mime-torture .eml -------------------------------------------------
    want = collections.Counter()
    want_mb = collections.Counter()
    mboxes = []
    for d in sorted(os.listdir(mt)):
        path = os.path.join(mt, d)
        if not os.path.isdir(path):
            continue
        emls = [f for f in message_files(path) if f.endswith(".eml")]
        mboxes += [os.path.join(path, f) for f in message_files(path)
                   if f.endswith(".mbox")]
        if not emls:
            continue
        # Copy the .eml files alone: the folders also hold other files.
        tmpd = ctl.path("mt-in", d)
        os.makedirs(tmpd)
        for f in emls:
            with open(os.path.join(path, f), "rb") as fp:
                data = fp.read()
            with open(os.path.join(tmpd, f), "wb") as fp:
                fp.write(data)
            if data.startswith(b"From "):
                nl = data.find(b"\n")
                data = data[nl + 1:] if nl >= 0 else b""
            want[sha(data)] += 1
            want_mb[sha(without_status(data))] += 1
        out, _ = ctl.run("mail", "import", "mt@corpus.test", tmpd,
                         "--folder", d)
        check("%d messages imported" % len(emls) in out and
              " 0 failed" in out, "import of mime-torture %s" % d, out)
    md = ctl.path("mt-maildir")
    ctl.run("mail", "export", "mt@corpus.test", md)
    got = exported(md)
    check(got == want, "mime-torture Maildir export equals the .eml files",
          diff(want, got))
    out, _ = ctl.run("mail", "list", "mt@corpus.test", "--folder",
                     "stalwart-malformed", "--json")
    check(out.startswith("["), "mail list --json on odd headers", out[:200])
    # The same messages through mbox.
    for d in os.listdir(md):
        if not d.startswith("."):
            continue
        # The default folders (Sent, Trash, ...) are empty: skip those.
        if not any(os.listdir(os.path.join(md, d, sub))
                   for sub in ("cur", "new")
                   if os.path.isdir(os.path.join(md, d, sub))):
            continue
        name = d[1:]
        mb = ctl.path("mt-%s.mbox" % name)
        ctl.run("mail", "export", "mt@corpus.test", mb, "--format", "mbox",
                "--folder", name)
        ctl.run("mail", "import", "mt2@corpus.test", mb, "--folder", name)
    md2 = ctl.path("mt2-maildir")
    ctl.run("mail", "export", "mt2@corpus.test", md2)
    got2 = exported(md2)
    check(got2 == want_mb, "mime-torture through mbox and back is "
          "byte-exact but for Status:/X-Status: lines", diff(want_mb, got2))

    # --- mime-torture .mbox: import, export, re-import, export ----------
    check(len(mboxes) >= 5, "mime-torture has .mbox files", mboxes)
    for i, path in enumerate(mboxes):
        with open(path, "rb") as fp:
            data = fp.read()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        n = 1 + len(re.findall(rb"(?:^|\n)\r?\n(?=From )", data[1:]))
        folder = "m%d" % i
        out, _ = ctl.run("mail", "import", "mb@corpus.test", path,
                         "--folder", folder)
        check("%d messages imported" % n in out and " 0 failed" in out,
              "%s: one message per From line after an empty line (%d)"
              % (path, n), out)
        e1 = ctl.path("mb-%d-1.mbox" % i)
        ctl.run("mail", "export", "mb@corpus.test", e1, "--format", "mbox",
                "--folder", folder)
        ctl.run("mail", "import", "mb2@corpus.test", e1, "--folder", folder)
        e2 = ctl.path("mb-%d-2.mbox" % i)
        ctl.run("mail", "export", "mb2@corpus.test", e2, "--format", "mbox",
                "--folder", folder)
        with open(e1, "rb") as f1, open(e2, "rb") as f2:
            b1, b2 = f1.read(), f2.read()
        check(b1 == b2, "%s: mbox export -> import -> export is stable"
              % path, (len(b1), len(b2)))

    out, _ = ctl.run("store", "check")
    check(out.startswith("store check: ok"), "store check after the corpus",
          out)
    st = ctl.json("store", "stats")
    check(st["dedup_ratio"] > 1.5, "re-imported copies are deduplicated",
          st)
    print("corpus: %d messages in the store, dedup %.2f, compression %.2f"
          % (st["messages"], st["dedup_ratio"], st["compression_ratio"]))
    return 0


if __name__ == "__main__":
    main(test)
