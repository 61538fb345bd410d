"""mbsync (isync) from the file view to a plain Maildir on disk
(MaildirStore to MaildirStore, Sync Pull, Create Near): every folder comes
over, and each message's bytes (but for the X-TUID line mbsync may add)
and flags are what `vellumctl mail export` writes.  mbsync keeps its UID map in the far Maildir (AltMap: a
.isyncuidmap.db per folder), as it does on any Maildir it reads.  A second
run after an IMAP change brings the change over.

usage: test_fs_mbsync.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py), or when
mbsync is not installed.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fstest import (SKIP, Failure, check, export, run,  # noqa: E402,F401
                    write_maildir)

A = "alice@example.test"
PW = "fs-mbsync-pw"
D2021, D2024 = 1622548800, 1709294400


def mail(tag, body=b"text\r\n", nl=b"\r\n"):
    return nl.join([b"From: s@remote.test", b"Subject: " + tag.encode(),
                    b"Message-ID: <" + tag.encode() + b"@fs-mbsync.test>",
                    b"", b""]) + body


def near_folder(path):
    """{Message-ID tag: (flag letters, bytes)} of a near Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(path, sub)):
            with open(os.path.join(path, sub, name), "rb") as f:
                # mbsync may add its own X-TUID line to what it stores
                # (test_imap_clients.py's no_tuid()): not the source's.
                data = re.sub(rb"X-TUID: [^\r\n]*\r?\n", b"", f.read(),
                              count=1)
            tag = data.split(b"Message-ID: <", 1)[1].split(b"@", 1)[0]
            letters = name.split(":2,", 1)[1] if ":2," in name else ""
            out[tag.decode()] = ("".join(sorted(letters)), data)
    return out


def mbsync(site, rc):
    p = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True,
                       timeout=120)
    check(p.returncode == 0, "mbsync -a exits 0", (
        p.returncode, p.stdout.decode("utf-8", "replace")[-3000:],
        p.stderr.decode("utf-8", "replace")[-3000:]))


def compare(site, near):
    """The near Maildir against vellumctl mail export, folder by folder."""
    exp = export(site, A)
    folders = {"": "INBOX"}
    for rel in exp:
        if rel:
            folders[rel] = rel[1:].replace(".", "/")
    n = 0
    for rel, box in exp.items():
        path = os.path.join(near, folders[rel])
        check(os.path.isdir(path), "mbsync made the near folder %s" %
              folders[rel], os.listdir(near))
        got = near_folder(path)
        want = {}
        for uid, e in box.items():
            tag = e["data"].split(b"Message-ID: <", 1)[1].split(b"@")[0]
            want[tag.decode()] = (e["flags"], e["data"])
        check(sorted(got) == sorted(want), "%s: the same messages as the "
              "export" % folders[rel], (sorted(got), sorted(want)))
        for tag in want:
            check(got[tag][1] == want[tag][1], "%s %s: byte-exact" % (
                folders[rel], tag), (got[tag][1][:200], want[tag][1][:200]))
            check(got[tag][0] == "".join(sorted(c for c in want[tag][0]
                                                if c in "DFRST")),
                  "%s %s: the flags came over" % (folders[rel], tag),
                  (got[tag][0], want[tag][0]))
            n += 1
    return n


def test(site, args):
    if not shutil.which("mbsync"):
        print("SKIP: mbsync is not installed")
        return SKIP
    site.write_fs_conf()
    site.add_user(A, PW)
    src = site.path("import")
    write_maildir(src, [(mail("in-new"), D2024, None),
                        (mail("in-seen", b"lf only\n", nl=b"\n"), D2021, "S"),
                        (mail("in-flagged", b"x" * 70000 + b"\r\n"), D2024,
                         "FS"),
                        (mail("in-replied"), D2024, "RS")],
                  {".Work": [(mail("work-1"), D2024, "S")],
                   ".Work.Reports": [(mail("report-1"), D2021, None)]})
    site.ctl("mail", "import", A, src)
    site.start_imapd(conf=False)
    site.start_fs()
    near = site.path("near")
    os.makedirs(near)
    rc = site.path("mbsyncrc")
    with open(rc, "w") as f:
        f.write("""MaildirStore far
Inbox %s
SubFolders Maildir++
AltMap yes

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel ch
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
Expunge Near
SyncState *
""" % (site.maildir(A), near, near))
    mbsync(site, rc)
    n = compare(site, near)
    check(n == 6, "all six messages were compared", n)
    print("  %d messages synced byte-exact" % n)

    # A change over IMAP comes over on the next run.
    m = site.login(A, PW)
    m.select("INBOX")
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", "in-new@")
    m.uid("STORE", data[0].split()[0].decode(), "+FLAGS", "(\\Flagged)")
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", "in-replied@")
    m.uid("STORE", data[0].split()[0].decode(), "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    time.sleep(1.5)		# the file view follows within 1 s
    mbsync(site, rc)
    compare(site, near)
    got = near_folder(os.path.join(near, "INBOX"))
    check("in-replied" not in got and "F" in got["in-new"][0],
          "the second run brought the IMAP changes", {
              k: v[0] for k, v in got.items()})
    return True


if __name__ == "__main__":
    run(test)
