#!/usr/bin/env python3
"""vellumctl never follows a symbolic link inside a tree it imports from or
exports to (vellum issue 7): a user-supplied Maildir with links to files
only root can read must not put those files into the mailbox.

Each link (a message file, cur/ and new/ themselves, a .Folder directory,
dovecot-keywords, a file of a plain directory) is skipped with a warning
that names it; everything else is imported.  Export into a destination
with planted links fails instead of writing through them.

Usage: test_import_symlinks.py VELLUMCTL
"""
import os

from vtest import check, main

SECRET = b"root:SECRET-MARKER:0:0:only root may read this\n"
GOOD = b"Subject: good\n\nan ordinary message\n"
KEPT = b"Subject: kept\n\nin a real folder\n"


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def stored_bytes(ctl, address):
    """Every stored message of address, through a Maildir export."""
    dest = ctl.path("export-" + address.split("@")[0])
    ctl.run("mail", "export", address, dest)
    out = []
    for dirpath, _, files in os.walk(dest):
        if os.path.basename(dirpath) not in ("cur", "new"):
            continue
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fp:
                out.append((os.path.relpath(os.path.join(dirpath, f), dest),
                            fp.read()))
    return out


def test(ctl, args):
    ctl.run("domain", "add", "example.test")
    for u in ("bob", "carol", "dave"):
        ctl.run("user", "add", u + "@example.test")

    # Files the "admin" can read but the mailbox owner must not get.
    secret = ctl.path("root-only", "passwd")
    write(secret, SECRET)
    secret_md = ctl.path("root-only", "md")
    write(os.path.join(secret_md, "cur", "1600000000.M1.h:2,S"), SECRET)
    write(ctl.path("root-only", "kw"), b"0 SECRET-MARKER\n")

    # --- a Maildir full of links -----------------------------------------
    md = ctl.path("user-Maildir")
    write(os.path.join(md, "cur", "1700000001.M1.h:2,S"), GOOD)
    os.makedirs(os.path.join(md, "new"))
    os.symlink(secret, os.path.join(md, "new", "1700000002.M2.h"))
    os.symlink(secret, os.path.join(md, "cur", "1700000003.M3.h:2,a"))
    os.symlink(ctl.path("root-only", "kw"),
               os.path.join(md, "dovecot-keywords"))
    write(os.path.join(md, ".Real", "cur", "1700000004.M4.h:2,"), KEPT)
    os.makedirs(os.path.join(md, ".Evil"))
    os.symlink(os.path.join(secret_md, "cur"),
               os.path.join(md, ".Evil", "cur"))
    os.symlink(secret_md, os.path.join(md, ".Linked"))
    out, err = ctl.run("mail", "import", "bob@example.test", md)
    check("2 messages imported" in out and " 0 failed" in out and
          "5 symbolic links skipped" in out,
          "two real messages imported, five links counted", (out, err))
    for name in ("new/1700000002.M2.h", "cur/1700000003.M3.h:2,a",
                 "dovecot-keywords", ".Evil/cur", ".Linked"):
        check("%s/%s is a symbolic link" % (md, name) in err,
              "the warning names the link %s" % name, err)
    got = stored_bytes(ctl, "bob@example.test")
    check(all(b"SECRET-MARKER" not in data for _, data in got),
          "no linked file reached the mailbox", got)
    check(sorted(d for _, d in got if d in (GOOD, KEPT)) ==
          sorted([GOOD, KEPT]), "the real messages are there", got)
    # Every user has the default folders; none other may come from links.
    defaults = {".Sent", ".Drafts", ".Trash", ".Spam", ".Archive"}
    folders = [f for f in os.listdir(ctl.path("export-bob"))
               if f.startswith(".") and f not in defaults]
    check(sorted(folders) == [".Real"],
          "no folder made from a linked directory", folders)

    # new/ and cur/ themselves are links: the Maildir gives nothing.
    md2 = ctl.path("linked-subdirs")
    os.makedirs(md2)
    os.symlink(os.path.join(secret_md, "cur"), os.path.join(md2, "cur"))
    os.symlink(os.path.join(secret_md, "cur"), os.path.join(md2, "new"))
    out, err = ctl.run("mail", "import", "carol@example.test", md2)
    check("0 messages imported" in out and
          "2 symbolic links skipped" in out and
          "%s/cur is a symbolic link" % md2 in err and
          "%s/new is a symbolic link" % md2 in err,
          "linked cur/ and new/ are skipped and named", (out, err))

    # A plain directory of message files with a link among them.
    plain = ctl.path("plain")
    write(os.path.join(plain, "a.eml"), GOOD)
    os.symlink(secret, os.path.join(plain, "b.eml"))
    os.symlink(secret, os.path.join(plain, "c.mbox"))
    out, err = ctl.run("mail", "import", "carol@example.test", plain,
                       "--folder", "Plain")
    check("1 messages imported" in out and
          "2 symbolic links skipped" in out and
          "%s/b.eml is a symbolic link" % plain in err,
          "a linked file of a plain directory is skipped", (out, err))
    got = stored_bytes(ctl, "carol@example.test")
    check(all(b"SECRET-MARKER" not in data for _, data in got) and
          [d for _, d in got] == [GOOD], "carol got only a.eml", got)

    # The path given on the command line is the admin's choice: followed.
    link = ctl.path("admin-link.eml")
    os.symlink(os.path.join(plain, "a.eml"), link)
    out, _ = ctl.run("mail", "import", "dave@example.test", link)
    check("1 messages imported" in out, "PATH itself may be a link", out)

    # --- export writes through no planted link ------------------------------
    victim_dir = ctl.path("victim-dir")
    os.makedirs(victim_dir)
    dest = ctl.path("export-into")
    os.makedirs(dest)
    os.symlink(victim_dir, os.path.join(dest, "cur"))
    _, err = ctl.run("mail", "export", "dave@example.test", dest, expect=1)
    check(os.listdir(victim_dir) == [] and "symbolic link" in err,
          "export refuses a linked cur/", (os.listdir(victim_dir), err))
    victim = ctl.path("victim-file")
    write(victim, b"precious\n")
    ctl.run("user", "add", "erin@example.test")
    mdk = ctl.path("kw-Maildir")
    write(os.path.join(mdk, "cur", "1700000005.M5.h:2,Sa"), GOOD)
    write(os.path.join(mdk, "dovecot-keywords"), b"0 Work\n")
    ctl.run("mail", "import", "erin@example.test", mdk)
    dest2 = ctl.path("export-kw")
    os.makedirs(dest2)
    os.symlink(victim, os.path.join(dest2, "dovecot-keywords"))
    ctl.run("mail", "export", "erin@example.test", dest2, expect=1)
    with open(victim, "rb") as f:
        check(f.read() == b"precious\n",
              "export does not write dovecot-keywords through a link", "")


if __name__ == "__main__":
    main(test)
