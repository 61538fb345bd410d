#!/usr/bin/env python3
"""Migration keeps what users have (vellum issue 12): `vellumctl mail
import` of a Dovecot or Courier Maildir keeps UIDVALIDITY, every UID and
the next UID, so IMAP clients and POP3 "leave on server" clients fetch
nothing twice; folder names in modified UTF-7 are decoded (and encoded
again on export); an mbox keeps its envelope senders (export writes them
back) and its Status:/X-Status: lines become flags and leave the message.

Checked through the real vellum-imapd (imaplib: SELECT, UID FETCH,
STATUS) and vellum-pop3d (poplib: UIDL):
  - dovecot-uidlist v3, UIDs 5, 9, 12, UIDVALIDITY 1234567890, N13;
    a file not in the list gets UID 13 (the list's next), UIDNEXT 14;
    POP3 UIDLs are Dovecot's default %08Xu%08Xv;
  - a subfolder with a version 1 list and a lagging next UID;
  - Courier's courierimapuiddb: the same, POP3 UIDLs UID%u-%v;
  - a folder that already holds mail cannot keep UIDs: a warning names
    it and the messages are appended as before;
  - an unparsable list is named in a warning; the import goes on;
  - ".&ANw-n&AO8-code &- folder" is "Ünïcode & folder", and a Maildir
    export writes it back in modified UTF-7;
  - mbox: From_ senders round-trip through import and export, flags;
  - a list entry with a POP3 UIDL of its own (P field) is named in a
    warning (those UIDLs are not kept yet);
  - a file in new/ whose name has flags (Dovecot 2.3 writes
    "new/NAME:2,S" when doveadm or a POP3 RETR sets \\Seen before any
    IMAP session moved it to cur/) keeps them;
  - importing the same Maildir again (the final pass of a move) adds
    only the mail that is new since, at its Dovecot UIDs; one whose UID
    a message delivered here after the first pass holds (same size,
    other bytes), or whose UID is free but below UIDNEXT (deleted here,
    or from another folder with the same UIDVALIDITY), is added after
    the listed ones with a new UID: nothing is lost;
  - a list whose UIDVALIDITY or next UID is within 2^24 of 2^32 is not
    kept (a warning says why): it would have left the folder unable to
    take mail, or given every mailbox created later UIDVALIDITY 0.

    test_mail_migrate.py BUILD_DIR [PART ...]
    (dovecot utf7 courier mbox status newflags again huge)
"""
import imaplib
import json
import os
import poplib
import re
import subprocess

from daemon import Failure, check, main

PASS = "migrate-pw"
DOVE, COUR, FULL, MBOX, UTF, STATUS = (
    "dove@example.test", "cour@example.test", "full@example.test",
    "mbox@example.test", "utf@example.test", "status@example.test")
NEWF, AGAIN = "newflags@example.test", "secondpass@example.test"
HUGE, LATER = "huge@example.test", "later@example.test"
UIDV = 1234567890


def write(path, data, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def msg(n):
    return ("From: sender%d@example.org\nSubject: message %d\n\n"
            "body %d\n" % (n, n, n)).encode()


def dovecot_maildir(root):
    """A Dovecot Maildir: INBOX with UIDs 5, 9, 12 (+ one unlisted file),
    .Work with a version 1 list, and a UTF-7 folder."""
    names = ["1180000000.M1P1.oldhost,S=%d" % len(msg(1)),
             "1180000100.M2P1.oldhost,S=%d" % len(msg(2)),
             "1180000200.M3P1.oldhost,S=%d" % len(msg(3))]
    write(os.path.join(root, "cur", names[0] + ":2,S"), msg(1))
    write(os.path.join(root, "cur", names[1] + ":2,RS"), msg(2))
    write(os.path.join(root, "new", names[2]), msg(3))
    # Delivered after Dovecot last wrote its list.
    write(os.path.join(root, "new", "1180000300.M4P1.oldhost"), msg(4))
    write(os.path.join(root, "dovecot-uidlist"),
          "3 V%d N13 G3085f01b7f11094c501100008c4a11c1\n"
          "5 :%s\n9 W1300 :%s\n12 :%s\n" % (UIDV, names[0], names[1],
                                            names[2]))
    # Version 1 (Dovecot 1.0): whole names, next UID behind the last.
    work = os.path.join(root, ".Work")
    write(os.path.join(work, "cur", "1170000000.w1.oldhost:2,S"), msg(11))
    write(os.path.join(work, "cur", "1170000001.w2.oldhost:2,"), msg(12))
    write(os.path.join(work, "dovecot-uidlist"),
          "1 1111111111 3\n7 1170000000.w1.oldhost:2,S\n"
          "40 1170000001.w2.oldhost:2,\n")
    utf = os.path.join(root, ".&ANw-n&AO8-code &- folder")
    write(os.path.join(utf, "cur", "1170000000.u1.oldhost:2,S"), msg(21))
    write(os.path.join(utf, "maildirfolder"), b"")
    # A list that is not one: named in a warning, UIDs not kept.
    bad = os.path.join(root, ".Broken")
    write(os.path.join(bad, "cur", "1170000000.b1.oldhost:2,S"), msg(31))
    write(os.path.join(bad, "dovecot-uidlist"), "3 V77\n5 :a\n4 :b\n")


def imap_state(port, user, folder):
    """(UIDVALIDITY, UIDNEXT, [uids]) of folder through IMAP."""
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login(user, PASS)
    typ, _ = m.select('"%s"' % folder if " " in folder else folder,
                      readonly=True)
    check(typ == "OK", "SELECT %s" % folder, typ)
    uidv = int(m.response("UIDVALIDITY")[1][0])
    uidnext = int(m.response("UIDNEXT")[1][0])
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    uids, flags = [], {}
    for d in data:
        if d is None:
            continue
        text = d.decode() if isinstance(d, bytes) else d[0].decode()
        u = re.search(r"UID (\d+)", text)
        f = re.search(r"FLAGS \(([^)]*)\)", text)
        if u:
            uids.append(int(u.group(1)))
            flags[int(u.group(1))] = f.group(1) if f else ""
    m.logout()
    return uidv, uidnext, sorted(uids), flags


def imap_list(port, user):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login(user, PASS)
    typ, data = m.list()
    m.logout()
    return [d.decode() for d in data]


def imap_bodies(port, user):
    """{uid: message bytes} of the INBOX (CRLF back to LF)."""
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login(user, PASS)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    out = {}
    for d in data:
        if isinstance(d, tuple):
            uid = int(re.search(rb"UID (\d+)", d[0]).group(1))
            out[uid] = d[1].replace(b"\r\n", b"\n")
    m.logout()
    return out


def pop3_uidl(port, user):
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    p.user(user)
    p.pass_(PASS)
    _, lines, _ = p.uidl()
    p.quit()
    return [line.decode().split()[1] for line in lines]


def start(site, imap, pop3):
    """Starts vellum-imapd and vellum-pop3d once (the store is shared)."""
    if getattr(site, "migrate_started", False):
        return
    procs = [site.start("imapd"), site.start("pop3d")]
    site.wait_port(imap, procs[0])
    site.wait_port(pop3, procs[1])
    site.migrate_started = True


def ctl(site, *args):
    """vellumctl with its exit status, stdout and stderr."""
    p = subprocess.run([site.binary("vellumctl"), "-d", site.data] +
                       list(args), capture_output=True, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def part_dovecot(site, imap, pop3):
    md = site.path("dovecot-maildir")
    dovecot_maildir(md)
    rc, out, err = ctl(site, "mail", "import", DOVE, md)
    start(site, imap, pop3)
    uidv, uidnext, uids, flags = imap_state(imap, DOVE, "INBOX")
    check(uidv == UIDV, "IMAP SELECT shows Dovecot's UIDVALIDITY "
          "1234567890", uidv)
    check(uids == [5, 9, 12, 13], "UID FETCH gives the UIDs 5, 9, 12 of "
          "dovecot-uidlist, and the unlisted file the list's next UID 13",
          uids)
    check(uidnext == 14, "UIDNEXT follows the list (13) and the unlisted "
          "message", uidnext)
    check("\\Seen" in flags[5] and "\\Answered" in flags[9] and
          "\\Seen" not in flags[12], "flags still come from the file "
          "names", flags)
    got = pop3_uidl(pop3, DOVE)
    want = ["%08X%08X" % (u, UIDV) for u in (5, 9, 12, 13)]
    check(got == want, "POP3 UIDLs are Dovecot's default %08Xu%08Xv, so "
          "leave-on-server clients fetch nothing twice", (got, want))
    uidv, uidnext, uids, _ = imap_state(imap, DOVE, "Work")
    check((uidv, uidnext, uids) == (1111111111, 41, [7, 40]),
          "a version 1 list: UIDVALIDITY, UIDs, next UID past a lagging "
          "N", (uidv, uidnext, uids))
    uidv, _, uids, _ = imap_state(imap, DOVE, "Broken")
    check(uidv != 77 and uids == [1], "a broken list keeps nothing",
          (uidv, uids))
    check(rc == 0 and "8 messages imported" in out,
          "the Dovecot Maildir imports", (rc, out, err))
    check(re.search(r"Broken/dovecot-uidlist: line 3: UID 4 is not above",
                    err) and "UIDs of folder Broken are not kept" in err,
          "a broken dovecot-uidlist is named in a warning", err)
    check("folder INBOX keeps UIDVALIDITY 1234567890, next UID 13 and "
          "the UIDs of 3 messages" in out, "the import says which UIDs "
          "it kept", out)
    out = site.ctl("store", "check")
    check(out.startswith("store check: ok"), "store check after the "
          "import", out)


def part_utf7(site, imap, pop3):
    md = site.path("dovecot-maildir")
    dovecot_maildir(md)
    site.ctl("mail", "import", UTF, md)
    start(site, imap, pop3)
    names = imap_list(imap, UTF)
    check(any(n.endswith('"&ANw-n&AO8-code &- folder"') for n in names),
          "the UTF-7 folder is listed under its own UTF-7 name", names)
    listing = site.ctl("mail", "list", UTF, "--folder",
                       "\u00dcn\u00efcode & folder")
    check("message 21" in listing, ".&ANw-n&AO8-code &- folder is "
          "\u00dcn\u00efcode & folder in the store", listing)
    exp = site.path("export-dove")
    site.ctl("mail", "export", UTF, exp)
    check(os.path.isdir(os.path.join(exp, ".&ANw-n&AO8-code &- folder",
                                     "cur")),
          "a Maildir export writes the name in modified UTF-7 again",
          sorted(os.listdir(exp)))
    site.ctl("user", "add", "again@example.test", "--password-stdin",
             input=PASS + "\n")
    site.ctl("mail", "import", "again@example.test", exp)
    listing = site.ctl("mail", "list", "again@example.test", "--folder",
                       "\u00dcn\u00efcode & folder")
    check("message 21" in listing, "export -> import keeps the name",
          listing)


def part_courier(site, imap, pop3):
    cm = site.path("courier-maildir")
    write(os.path.join(cm, "cur", "1160000000.c1.oldhost:2,S"), msg(41))
    write(os.path.join(cm, "cur", "1160000001.c2.oldhost:2,"), msg(42))
    write(os.path.join(cm, "courierimapuiddb"),
          "1 987654321 31\n20 1160000000.c1.oldhost\n"
          "30 1160000001.c2.oldhost\n")
    site.ctl("mail", "import", COUR, cm)
    start(site, imap, pop3)
    uidv, uidnext, uids, _ = imap_state(imap, COUR, "INBOX")
    check((uidv, uidnext, uids) == (987654321, 31, [20, 30]),
          "courierimapuiddb: UIDVALIDITY, UIDs and next UID kept",
          (uidv, uidnext, uids))
    got = pop3_uidl(pop3, COUR)
    check(got == ["UID20-987654321", "UID30-987654321"],
          "POP3 UIDLs are Courier's UID%u-%v", got)

    # A folder with mail already cannot keep UIDs: it says so.
    site.add_mail(FULL, msg(50))
    rc, out, err = ctl(site, "mail", "import", FULL, cm)
    check(rc == 0 and "folder INBOX already holds 1 message: the UIDs of "
          "%s/courierimapuiddb are not kept" % cm in err,
          "importing into a folder with mail says its UIDs are not kept",
          (rc, out, err))
    uidv, _, uids, _ = imap_state(imap, FULL, "INBOX")
    check(uids == [1, 2, 3] and uidv != 987654321, "and appends as "
          "before", (uidv, uids))
    uidl = pop3_uidl(pop3, FULL)
    check(uidl == ["%d.%d" % (uidv, u) for u in (1, 2, 3)],
          "its POP3 UIDLs keep our own form", uidl)
    out = site.ctl("store", "check")
    check(out.startswith("store check: ok"), "store check after the "
          "imports", out)


MBOX_TEXT = (b"From alice@example.org Thu Sep  5 23:42:38 2002\n"
             b"Status: RO\nX-Status: AF\nSubject: answered and flagged\n"
             b"\nbody one\n\n"
             b"From bob@example.org Fri Sep  6 01:00:00 2002\n"
             b"Subject: unread\nStatus: O\n\nbody two\n\n"
             b"From carol@example.org Fri Sep  6 02:00:00 2002\n"
             b"X-Status: DT\nReturn-Path: <other@example.org>\n"
             b"Subject: draft\n\nbody three\n")


def mbox_export(site, user, imap, pop3):
    """Imports MBOX_TEXT for user; its mbox export."""
    write(site.path("in.mbox"), MBOX_TEXT)
    site.ctl("mail", "import", user, site.path("in.mbox"))
    start(site, imap, pop3)
    out = site.path("out-%s.mbox" % user)
    site.ctl("mail", "export", user, out, "--format", "mbox")
    with open(out, "rb") as f:
        return f.read()


def part_mbox(site, imap, pop3):
    """From_ senders: import, then export writes them back."""
    text = mbox_export(site, MBOX, imap, pop3)
    froms = re.findall(rb"(?m)^From (\S+) ", text)
    check(froms == [b"alice@example.org", b"bob@example.org",
                    b"other@example.org"],
          "mbox export writes the From_ senders back (a Return-Path the "
          "message had wins), not MAILER-DAEMON", froms)
    check(b"Return-Path: <alice@example.org>\nSubject: answered" in text,
          "the sender is kept as a Return-Path header", text)


def part_status(site, imap, pop3):
    """Status:/X-Status: become flags and leave the message."""
    text = mbox_export(site, STATUS, imap, pop3)
    _, _, uids, flags = imap_state(imap, STATUS, "INBOX")
    check(uids == [1, 2, 3], "three mbox messages", uids)
    check(set(flags[1].split()) == {"\\Seen", "\\Answered", "\\Flagged"}
          and flags[2] == "" and
          set(flags[3].split()) == {"\\Deleted", "\\Draft"},
          "Status: R -> \\Seen (O is not \\Recent), X-Status: A F D T -> "
          "\\Answered \\Flagged \\Deleted \\Draft", flags)
    check(b"Status:" not in text, "Status:/X-Status: lines are not kept "
          "in the stored messages", text)


def part_newflags(site, imap, pop3):
    """Flags in the name of a file in new/ count, as in cur/: the layout
    is the one Dovecot 2.3.19 left after 'doveadm save' of four messages
    and 'doveadm flags add' on two of them (they stay in new/)."""
    md = site.path("dovecot-newflags")
    names = ["1796187642.M%dP%d.vm,S=%d,W=%d" % (626517 + i, 26968 + i,
                                                  len(msg(i)),
                                                  len(msg(i)) + 6)
             for i in range(4)]
    write(os.path.join(md, "new", names[0] + ":2,S"), msg(0))
    write(os.path.join(md, "new", names[1] + ":2,Rab"), msg(1))
    write(os.path.join(md, "new", names[2]), msg(2))
    write(os.path.join(md, "cur", names[3] + ":2,S"), msg(3))
    write(os.path.join(md, "dovecot-keywords"), "0 work\n1 $Forwarded\n")
    write(os.path.join(md, "dovecot-uidlist"),
          "3 V1796187642 N7 Gd3f22422faa50f6b5269000083ecc375\n"
          "2 :%s\n4 :%s\n5 PUID77-1111 :%s\n6 :%s\n" % tuple(names))
    rc, out, err = ctl(site, "mail", "import", NEWF, md)
    check(rc == 0 and "4 messages imported" in out, "the import runs",
          (rc, out, err))
    # UID 5 carries a POP3 UIDL of its own (P, as courier-dovecot-migrate
    # writes; Dovecot's POP3 shows it): not kept yet, and said so.
    check("dovecot-uidlist: 1 message of folder INBOX has a POP3 UIDL of "
          "its own (a P field, from an earlier migration), which is not "
          "kept" in err, "the import warns about the P field", err)
    start(site, imap, pop3)
    uidv, uidnext, uids, flags = imap_state(imap, NEWF, "INBOX")
    check((uidv, uidnext, uids) == (1796187642, 7, [2, 4, 5, 6]),
          "Dovecot's UIDs are kept", (uidv, uidnext, uids))
    check(flags[2].split() == ["\\Seen"], "new/NAME:2,S is \\Seen, as "
          "it was in Dovecot", flags)
    check(set(flags[4].split()) == {"\\Answered", "work", "$Forwarded"},
          "new/NAME:2,Rab keeps \\Answered and its keywords", flags)
    check(flags[5] == "" and flags[6].split() == ["\\Seen"],
          "new/NAME without flags is unseen; cur/ as before", flags)


def part_again(site, imap, pop3):
    """A second import of the same Dovecot Maildir adds only new mail."""
    md = site.path("dovecot-again")
    uidv = 1500000000
    names = ["15000000%02d.M%dP1.oldhost,S=%d" % (i, i, len(msg(40 + i)))
             for i in range(6)]

    def maildir(n):
        for i in range(n):
            write(os.path.join(md, "cur", names[i] + ":2,S"), msg(40 + i))
        write(os.path.join(md, "dovecot-uidlist"),
              "3 V%d N%d\n" % (uidv, n + 1) +
              "".join("%d :%s\n" % (i + 1, names[i]) for i in range(n)))

    maildir(3)
    rc, out, err = ctl(site, "mail", "import", AGAIN, md)
    check(rc == 0 and "3 messages imported" in out, "the first pass",
          (rc, out, err))
    start(site, imap, pop3)
    before = pop3_uidl(pop3, AGAIN)
    # The user deletes UID 2 on the new server before the last pass.
    m = imaplib.IMAP4("127.0.0.1", imap, timeout=10)
    m.login(AGAIN, PASS)
    m.select("INBOX")
    m.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    maildir(6)  # three more arrived at the old server meanwhile
    # ... and one here (MX switched), at UID 4, the size of Dovecot's 4.
    here = site.path("delivered-here")
    write(here, msg(49))
    rc, out, err = ctl(site, "mail", "import", AGAIN, here)
    check(rc == 0, "a message delivered here after the first pass",
          (rc, out, err))
    rc, out, err = ctl(site, "mail", "import", AGAIN, md)
    check(rc == 0 and "4 messages imported" in out and
          "2 already there" in out, "the second pass imports the three "
          "new messages and the one deleted here", (rc, out, err))
    check("already holds" not in err, "no 'UIDs are not kept' warning "
          "for a folder the same list filled", err)
    got, uidnext, uids, _ = imap_state(imap, AGAIN, "INBOX")
    check((got, uidnext, uids) == (uidv, 9, [1, 3, 4, 5, 6, 7, 8]),
          "UIDVALIDITY stays, the new mail gets its Dovecot UIDs 5 and 6, "
          "Dovecot's 2 (deleted here, never given twice) and 4 (taken "
          "here) the next ones, 7 and 8; nothing twice",
          (got, uidnext, uids))
    bodies = imap_bodies(imap, AGAIN)
    check(bodies[4] == msg(49) and bodies[7] == msg(41) and
          bodies[8] == msg(43) and bodies[5] == msg(44) and
          bodies[6] == msg(45), "UID 4 is still the message delivered "
          "here; Dovecot's 2 and 4 are not lost", bodies)
    after = pop3_uidl(pop3, AGAIN)
    check(after[:2] == [before[0], before[2]] and after[3:5] ==
          ["%08X%08X" % (u, uidv) for u in (5, 6)],
          "POP3 UIDLs of the mail already there do not change",
          (before, after))


def folders(site, user):
    """{folder: (uidvalidity, uidnext)} from vellumctl --json."""
    rc, out, err = ctl(site, "--json", "mailbox", "list", user)
    check(rc == 0, "mailbox list %s" % user, (rc, out, err))
    return {f["folder"]: (f["uidvalidity"], f["uidnext"])
            for f in json.loads(out)}


def part_huge(site, imap, pop3):
    """UID lists at the edge of 32 bits are not kept."""
    md = site.path("dovecot-huge")
    write(os.path.join(md, "cur", "1.M1.h:2,S"), msg(51))
    write(os.path.join(md, "cur", "2.M2.h:2,S"), msg(52))
    write(os.path.join(md, "dovecot-uidlist"), "3 V4294967295 N2\n1 :1.M1.h\n")
    big = os.path.join(md, ".Big")
    write(os.path.join(big, "cur", "3.M3.h:2,S"), msg(53))
    write(os.path.join(big, "cur", "4.M4.h:2,S"), msg(54))
    write(os.path.join(big, "dovecot-uidlist"),
          "3 V1500000000 N4294967295\n4294967294 :3.M3.h\n")
    rc, out, err = ctl(site, "mail", "import", HUGE, md)
    check(rc == 0 and "4 messages imported" in out and "0 failed" in out,
          "every message imports", (rc, out, err))
    check("UIDVALIDITY 4294967295 is too close to 2^32" in err and
          "the next UID 4294967295 is too close to 2^32" in err,
          "a warning names each list and why it is not kept", err)
    f = folders(site, HUGE)
    check(f["INBOX"][0] != 4294967295 and f["Big"][1] < 10,
          "neither list was kept", f)
    site.add_user(LATER, PASS)
    f = folders(site, LATER)
    check(all(0 < v < 4294967295 for v, _ in f.values()),
          "mailboxes created after the import have a UIDVALIDITY", f)


PARTS = {"dovecot": part_dovecot, "utf7": part_utf7,
         "courier": part_courier, "mbox": part_mbox, "status": part_status,
         "newflags": part_newflags, "again": part_again,
         "huge": part_huge}


def run(site, args):
    """args: the parts to run (all when none)."""
    for prog in ("imapd", "pop3d"):
        if not site.have(prog):
            raise Failure("vellum-%s was not built" % prog)
    imap, pop3 = site.port(), site.port()
    site.write_conf({"imap": {"listen": "127.0.0.1:%d" % imap},
                     "pop3": {"listen": "127.0.0.1:%d" % pop3}})
    for u in (DOVE, COUR, FULL, MBOX, UTF, STATUS, NEWF, AGAIN, HUGE):
        site.add_user(u, PASS)
    for name in args or sorted(PARTS):
        PARTS[name](site, imap, pop3)


if __name__ == "__main__":
    main(run, "BUILD_DIR [PART ...]")
