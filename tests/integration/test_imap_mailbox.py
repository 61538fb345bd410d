#!/usr/bin/env python3
"""IMAP mailbox commands against vellum-imapd: LIST (RFC 3501, LIST-
EXTENDED, LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, CREATE (with
CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, STATUS
(STATUS=SIZE, DELETED), NAMESPACE and QUOTA, through imaplib and a raw
line client.  The imaptest "list", "listext" and "subscribe" scripts are
replayed.  Bad names (.., empty levels, invalid modified UTF-7) get NO;
10,000 mailboxes are made (store-helper) and listed, also by a
client that stops reading; a pathological pattern completes.

    test_imap_mailbox.py BUILD_DIR STORE_HELPER
"""
import imaplib
import re
import socket
import subprocess
import sys
import time

from imaptest import Failure, check, run

USER, PW = "a@example.test", "secret"
DEFAULTS = {"INBOX": "", "Sent": "\\Sent", "Drafts": "\\Drafts",
            "Trash": "\\Trash", "Spam": "\\Junk", "Archive": "\\Archive"}
LIST_RE = re.compile(rb'^\* (LIST|LSUB) \(([^)]*)\) "/" ("(?:[^"\\]|\\.)*"|'
                     rb'\S+)(?: (.*))?$')


def unq(name):
    if name.startswith(b'"'):
        return re.sub(rb'\\(.)', rb'\1', name[1:-1]).decode()
    return name.decode()


def lists(untagged):
    """{name: (set of attributes lower-cased, extended data or "")}."""
    out = {}
    for line in untagged:
        m = LIST_RE.match(line)
        if m is None:
            continue
        attrs = set(a.lower() for a in m.group(2).decode().split())
        name = unq(m.group(3))
        if name in out:
            raise Failure("%s listed twice: %r" % (name, untagged))
        out[name] = (attrs, (m.group(4) or b"").decode())
    return out


def ok(r, cmd):
    tagged, untagged = r.cmd(cmd)
    check(tagged.split()[1] == b"OK", "%s: OK" % cmd, (tagged, untagged))
    return untagged


def no(r, cmd, code=None):
    tagged, untagged = r.cmd(cmd)
    check(tagged.split()[1] == b"NO", "%s: NO" % cmd, (tagged, untagged))
    if code is not None:
        check(tagged.split()[2] == b"[" + code.encode() + b"]",
              "%s: NO [%s]" % (cmd, code), tagged)
    return tagged


def bad(r, cmd):
    tagged, untagged = r.cmd(cmd)
    check(tagged.split()[1] == b"BAD", "%s: BAD" % cmd, (tagged, untagged))


def names(r, cmd):
    return lists(ok(r, cmd))


def login(site):
    r = site.raw()
    ok(r, "L LOGIN %s %s" % (USER, PW))
    return r


def test_defaults_and_root(site):
    r = login(site)
    got = names(r, 'a LIST "" ""')
    check(got == {"": ({"\\noselect"}, "")}, 'LIST "" "": the separator',
          got)
    got = names(r, 'b LIST "foo/bar" ""')
    check(list(got) == ["foo/"] and got["foo/"][0] == {"\\noselect"},
          'LIST "foo/bar" "": the root of the reference', got)
    got = names(r, 'c LIST "" "*"')
    check(set(got) == set(DEFAULTS), "the default folders", got)
    for n, su in DEFAULTS.items():
        want = {"\\hasnochildren"} | ({su.lower()} if su else set())
        check(got[n][0] == want, "%s has %s" % (n, want), got[n])
    # INBOX in any case, and LSUB shows the defaults subscribed
    got = names(r, 'd LIST "" "inBox"')
    check(list(got) == ["INBOX"], "inBox lists INBOX", got)
    got = lists(ok(r, 'e LSUB "" "*"'))
    check(set(got) == set(DEFAULTS), "defaults are subscribed", got)
    check(got["Sent"][0] == {"\\sent"}, "LSUB keeps special-use", got)
    untagged = ok(r, "f NAMESPACE")
    check(untagged == [b'* NAMESPACE (("" "/")) NIL NIL'], "NAMESPACE",
          untagged)
    r.close()


def test_create_delete_rename(site):
    r = login(site)
    ok(r, "a CREATE top/mid/leaf")
    got = names(r, 'b LIST "" "top*"')
    check(set(got) == {"top", "top/mid", "top/mid/leaf"},
          "CREATE makes the parents", got)
    check("\\haschildren" in got["top"][0] and
          "\\haschildren" in got["top/mid"][0] and
          "\\hasnochildren" in got["top/mid/leaf"][0], "children", got)
    no(r, "c CREATE top/mid/leaf", "ALREADYEXISTS")
    no(r, "c2 CREATE inbox", "ALREADYEXISTS")
    ok(r, "d CREATE trail/")
    got = names(r, 'e LIST "" trail')
    check(set(got) == {"trail"}, "a trailing separator is dropped", got)
    # created mailboxes are not subscribed (as Dovecot)
    got = lists(ok(r, 'e2 LSUB "" "top*"'))
    check(got == {}, "CREATE does not subscribe", got)
    # bad names: NO [CANNOT], nothing made
    for n in ['"x/../y"', '"x//y"', '"/x"', '"x/./y"', "&Jjo", '"&AGE-"',
              '"a&"', '""']:
        no(r, "f CREATE %s" % n, "CANNOT")
    got = names(r, 'g LIST "" "x*"')
    check(got == {}, "no mailbox from a bad name", got)

    # DELETE keeps the children: the level lists as \Noselect
    ok(r, "h DELETE top")
    got = names(r, 'i LIST "" "top*"')
    check(got["top"][0] == {"\\noselect", "\\haschildren"},
          "a deleted parent is \\Noselect \\HasChildren", got)
    got = names(r, 'i2 LIST () "" "top" RETURN (CHILDREN)')
    check(got["top"][0] == {"\\nonexistent", "\\haschildren"},
          "... and \\NonExistent in LIST-EXTENDED", got)
    no(r, "j DELETE top", "NONEXISTENT")
    no(r, "k DELETE INBOX")
    no(r, "l DELETE nosuch", "NONEXISTENT")
    no(r, "l2 STATUS top (MESSAGES)", "NONEXISTENT")

    # RENAME moves the children and makes the new parents
    ok(r, "m RENAME top/mid other/place")
    got = names(r, 'n LIST "" "*"')
    check("top" not in got and "top/mid" not in got and
          "other" in got and "other/place" in got and
          "other/place/leaf" in got, "RENAME moved the subtree", got)
    no(r, "o RENAME nosuch foo", "NONEXISTENT")
    no(r, "p RENAME other/place Sent", "ALREADYEXISTS")
    no(r, "q RENAME other other/inside")
    no(r, 'q2 RENAME other "bad//name"', "CANNOT")

    # RENAME INBOX moves its messages; INBOX stays, empty
    got = ok(r, "s STATUS INBOX (MESSAGES)")
    check(b"MESSAGES 3" in got[0], "3 messages in INBOX", got)
    ok(r, "t RENAME INBOX Old")
    got = ok(r, "u STATUS INBOX (MESSAGES)")
    check(b"MESSAGES 0" in got[0], "INBOX is empty after RENAME", got)
    got = ok(r, "v STATUS Old (MESSAGES)")
    check(b"MESSAGES 3" in got[0], "Old holds INBOX's messages", got)
    # RFC 3501 lets INBOX be renamed to one of its own children (Dovecot
    # does): the messages move there, INBOX stays with its new child
    site.add_mail(USER, b"Subject: keep\r\n\r\nkeep\r\n")
    ok(r, "t2 RENAME INBOX INBOX/old")
    got = ok(r, "t3 STATUS INBOX/old (MESSAGES)")
    check(b"MESSAGES 1" in got[0], "INBOX/old holds INBOX's message", got)
    got = names(r, 't4 LIST "" "INBOX*"')
    check(set(got) == {"INBOX", "INBOX/old"} and
          "\\haschildren" in got["INBOX"][0], "INBOX has the child", got)
    no(r, "t5 RENAME Old Old/inner")

    # DELETE of the selected mailbox leaves the Selected state
    ok(r, "w SELECT trail")
    ok(r, "x DELETE trail")
    tagged, _ = r.cmd("y FETCH 1 FLAGS")
    check(tagged.split()[1] in (b"BAD", b"NO"), "no mailbox selected "
          "after it was deleted", tagged)
    # RENAME of the selected mailbox: it stays selected
    ok(r, "z SELECT Old")
    ok(r, "z1 RENAME Old Older")
    got = ok(r, "z2 NOOP")
    ok(r, "z3 CLOSE")
    # renamed by another session, then deleted by its new name here: the
    # session leaves it (the mailbox is found by id, not by name)
    ok(r, "z4 CREATE Sel")
    ok(r, "z5 SELECT Sel")
    r2 = login(site)
    ok(r2, "z6 RENAME Sel Sel2")
    r2.close()
    ok(r, "z7 DELETE Sel2")
    tagged, untagged = r.cmd("z8 FETCH 1 FLAGS")
    check(tagged.split()[1] in (b"BAD", b"NO") and
          not any(u.startswith(b"* BYE") for u in untagged),
          "the deleted mailbox is no longer selected", (tagged, untagged))
    ok(r, "z9 NOOP")
    r.close()

    # imaplib sees the same
    m = site.login(USER, PW)
    typ, data = m.create("Lib/One")
    check(typ == "OK", "imaplib create", data)
    typ, data = m.list(pattern="Lib*")
    check(typ == "OK" and len(data) == 2, "imaplib list", data)
    typ, data = m.rename("Lib", "Lib2")
    check(typ == "OK", "imaplib rename", data)
    typ, data = m.delete("Lib2/One")
    check(typ == "OK", "imaplib delete", data)
    typ, data = m.list(pattern="Lib2*")
    check(typ == "OK" and len(data) == 1 and b"HasNoChildren" in data[0],
          "Lib2 has no children left", data)
    m.logout()


def test_utf7(site):
    r = login(site)
    # 日本語 in modified UTF-7, and the & itself
    ok(r, 'a CREATE "&ZeVnLIqe-/&-x"')
    got = names(r, 'b LIST "" "&ZeVnLIqe-*"')
    check(set(got) == {"&ZeVnLIqe-", "&ZeVnLIqe-/&-x"},
          "modified UTF-7 round trip", got)
    got = names(r, 'c LIST "" "*&-x"')
    check(set(got) == {"&ZeVnLIqe-/&-x"}, "& in a pattern", got)
    ok(r, "d ENABLE UTF8=ACCEPT")
    got = names(r, 'e LIST "" "\u65e5*"')
    check(set(got) == {"\u65e5\u672c\u8a9e", "\u65e5\u672c\u8a9e/&x"},
          "UTF-8 names after ENABLE UTF8=ACCEPT", got)
    r.close()


def test_subscribe(site):
    """imaptest's "subscribe" script, then our own rules."""
    r = login(site)
    mb = "sbox"
    ok(r, "a CREATE %s/" % mb)
    for n in ("test", "test2/", "test3/", "test2/test", "test3/test3"):
        ok(r, "b CREATE %s/%s" % (mb, n))
    for n in ("test", "test2/test", "test3/test3"):
        ok(r, "c SUBSCRIBE %s/%s" % (mb, n))
    got = lists(ok(r, 'd LSUB "" %s/%%' % mb))
    check(set(got) == {mb + "/test", mb + "/test2", mb + "/test3"},
          "LSUB %", got)
    check(got[mb + "/test"][0] == set() and
          got[mb + "/test2"][0] == {"\\noselect"} and
          got[mb + "/test3"][0] == {"\\noselect"},
          "unsubscribed levels with subscribed children are \\Noselect",
          got)
    got = lists(ok(r, 'e LSUB "" *test'))
    check(set(got) == {mb + "/test", mb + "/test2/test"}, "LSUB *test",
          got)
    ok(r, "f UNSUBSCRIBE %s/test" % mb)
    got = lists(ok(r, 'g LSUB "" %s/%%' % mb))
    check(mb + "/test" not in got, "unsubscribed", got)
    ok(r, "h UNSUBSCRIBE %s/test2/test" % mb)
    got = lists(ok(r, 'i LSUB "" %s/*' % mb))
    check(set(got) == {mb + "/test3/test3"}, "LSUB *", got)
    # subscriptions live on the mailbox: an unknown name cannot be
    # subscribed, unsubscribing it is fine, and DELETE drops it
    no(r, "j SUBSCRIBE nosuch", "NONEXISTENT")
    ok(r, "k UNSUBSCRIBE nosuch")
    ok(r, "l DELETE %s/test3/test3" % mb)
    got = lists(ok(r, 'm LSUB "" %s/*' % mb))
    check(got == {}, "a deleted mailbox is not subscribed", got)
    # RENAME keeps the subscription
    ok(r, "n SUBSCRIBE %s/test" % mb)
    ok(r, "o RENAME %s/test %s/renamed" % (mb, mb))
    got = lists(ok(r, 'p LSUB "" %s/*' % mb))
    check(set(got) == {mb + "/renamed"}, "RENAME keeps it subscribed",
          got)
    r.close()


def test_list_patterns(site):
    """imaptest's "list" script."""
    r = login(site)
    mb = "lbox"
    ok(r, "a CREATE %s/" % mb)
    ok(r, "b CREATE %s/test" % mb)
    ok(r, "c CREATE %s/test2" % mb)
    ok(r, "d CREATE %s/test3/" % mb)
    ok(r, "e CREATE %s/test3/test4/" % mb)
    ok(r, "f CREATE %s/test3/test4/test5" % mb)
    t, t2, t3 = mb + "/test", mb + "/test2", mb + "/test3"
    t4, t5 = t3 + "/test4", t3 + "/test4/test5"
    cases = [
        ("%s/%%" % mb, {t, t2, t3}),
        ("%s/%%/%%" % mb, {t4}),
        ("%s/*" % mb, {t, t2, t3, t4, t5}),
        ("%s/*test4" % mb, {t4}),
        ("%s/*test*" % mb, {t, t2, t3, t4, t5}),
        ("%s/%%3/%%" % mb, {t4}),
        ("%s/%%3/%%4" % mb, {t4}),
        ("%s/%%t*4" % mb, {t4}),
    ]
    for pat, want in cases:
        got = names(r, 'g LIST "" "%s"' % pat)
        check(set(got) == want, "LIST %s" % pat, got)
    got = names(r, 'h LIST "%s/" "*"' % mb)
    check(set(got) == {t, t2, t3, t4, t5}, "the reference is a prefix",
          got)
    got = names(r, 'h2 LIST "%s/" "/test"' % mb)
    check(set(got) == {t}, "one separator where both have one", got)
    ok(r, "i DELETE %s" % t2)
    got = names(r, 'j LIST "" "%s/*"' % mb)
    check(t2 not in got, "deleted", got)
    got = names(r, 'k LIST "" INBOX')
    check(list(got) == ["INBOX"], "INBOX", got)
    r.close()


def test_listext(site):
    """imaptest's "listext" script (LIST-EXTENDED, RFC 5258)."""
    r = login(site)
    mb = "xbox"
    for n in ("test1", "test2/", "test2/test1", "test3", "test4/test5",
              "test4/test52", "test6", "test7/test7", "test8/test8",
              "test8/test9"):
        ok(r, "a CREATE %s/%s" % (mb, n))
    for n in ("test1", "test2/test1", "test6", "test7/test7",
              "test8/test8", "test8/test9"):
        ok(r, "b SUBSCRIBE %s/%s" % (mb, n))
    ok(r, "c DELETE %s/test6" % mb)
    p = mb + "/"

    got = names(r, 'd LIST "" (%s*2 %stest3)' % (p, p))
    check(set(got) == {p + "test2", p + "test3", p + "test4/test52"},
          "several patterns", got)
    bad(r, 'e LIST (imaptest) "" ""')
    bad(r, 'e LIST (recursivematch) "" ""')
    bad(r, 'e LIST (recursivematch remote) "" ""')
    bad(r, 'e LIST "" "" return (imaptest)')
    ok(r, 'f LIST (remote) "" %')

    got = names(r, 'g LIST (subscribed) "" %s*' % p)
    check(set(got) == {p + "test1", p + "test2/test1", p + "test7/test7",
                       p + "test8/test8", p + "test8/test9"},
          "SUBSCRIBED selection (test6 was deleted: not subscribed)", got)
    check(all("\\subscribed" in a for a, _ in got.values()),
          "\\Subscribed is implied", got)

    got = names(r, 'h LIST (subscribed recursivematch) "" %stest2%% '
                'return (children)' % p)
    check(set(got) == {p + "test2"} and
          got[p + "test2"][0] == {"\\haschildren"} and
          got[p + "test2"][1].upper() == '(CHILDINFO ("SUBSCRIBED"))',
          "CHILDINFO for an unsubscribed parent", got)

    got = names(r, 'i LIST "" %s%% return (children subscribed)' % p)
    check(got[p + "test1"][0] == {"\\subscribed", "\\hasnochildren"} and
          got[p + "test2"][0] == {"\\haschildren"} and
          got[p + "test3"][0] == {"\\hasnochildren"} and
          got[p + "test4"][0] == {"\\haschildren"},
          "RETURN (CHILDREN SUBSCRIBED)", got)

    got = names(r, 'j LIST (subscribed recursivematch) "" *test7')
    check(set(got) == {p + "test7/test7"}, "*test7: no CHILDINFO parent",
          got)
    got = names(r, 'k LIST (subscribed recursivematch) "" *test8')
    check(set(got) == {p + "test8", p + "test8/test8"} and
          "CHILDINFO" in got[p + "test8"][1].upper() and
          got[p + "test8/test8"][1] == "", "*test8", got)
    got = names(r, 'l LIST (subscribed recursivematch) "" (%stest2)' % p)
    check(set(got) == {p + "test2"} and "CHILDINFO" in
          got[p + "test2"][1].upper(), "(test2)", got)
    got = names(r, 'm LIST (subscribed recursivematch) "" '
                '(%stest2 %stest2/test1)' % (p, p))
    check(set(got) == {p + "test2/test1"}, "(test2 test2/test1)", got)
    got = names(r, 'n LIST "" (%stest7 %stest7/test7)' % (p, p))
    check("\\nonexistent" not in got[p + "test7"][0],
          "CREATE made test7 a real mailbox", got)

    # SPECIAL-USE (RFC 6154) and CREATE-SPECIAL-USE
    got = names(r, 'o LIST (SPECIAL-USE) "" *')
    check(set(got) == set(DEFAULTS) - {"INBOX"}, "SPECIAL-USE selection",
          got)
    check(got["Spam"][0] == {"\\junk"}, "Spam is \\Junk", got)
    got = names(r, 'p LIST "" "Sent" RETURN ()')
    check(got["Sent"][0] == set(), "RETURN () returns no attributes", got)
    got = names(r, 'q LIST "" "Sent" RETURN (SPECIAL-USE)')
    check(got["Sent"][0] == {"\\sent"}, "RETURN (SPECIAL-USE)", got)
    ok(r, r"r CREATE Sent2 (USE (\Sent \Archive))")
    got = names(r, 's LIST "" Sent2')
    check(got["Sent2"][0] == {"\\hasnochildren", "\\sent", "\\archive"},
          "CREATE-SPECIAL-USE", got)
    no(r, r"t CREATE Bogus (USE (\Bogus))", "USEATTR")
    no(r, r"t2 CREATE Everything (USE (\All))", "USEATTR")
    got = names(r, 'u LIST "" "Bogus"')
    check(got == {}, "nothing created on USEATTR", got)
    bad(r, r"v CREATE Foo (USE \Sent)")
    bad(r, r"v2 CREATE Foo (COLOR (red))")
    r.close()


def test_status_quota(site):
    r = login(site)
    ok(r, 'a CREATE Empty')
    # LIST-STATUS: one STATUS after each LIST line of a mailbox
    tagged, untagged = r.cmd('b LIST "" (INBOX Empty) RETURN (STATUS '
                             '(MESSAGES UNSEEN UIDNEXT SIZE))')
    check(tagged.startswith(b"b OK"), "LIST-STATUS", (tagged, untagged))
    text = [u.decode() for u in untagged]
    check(len(text) == 4 and text[0].startswith("* LIST") and
          text[1].startswith("* STATUS INBOX (MESSAGES 3 UIDNEXT 4 "
                             "UNSEEN 3 SIZE ") and
          text[2].startswith("* LIST") and
          text[3] == "* STATUS Empty (MESSAGES 0 UIDNEXT 1 UNSEEN 0 "
                     "SIZE 0)", "LIST-STATUS lines", text)

    want_size = sum(len(m) for m in MESSAGES)
    got = ok(r, "c STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY "
             "UNSEEN HIGHESTMODSEQ SIZE DELETED)")
    m = re.match(rb"\* STATUS INBOX \(MESSAGES 3 RECENT 3 UIDNEXT 4 "
                 rb"UIDVALIDITY \d+ UNSEEN 3 HIGHESTMODSEQ \d+ SIZE (\d+) "
                 rb"DELETED 0\)$", got[0])
    check(m is not None and int(m.group(1)) == want_size,
          "STATUS of every item (SIZE %d)" % want_size, got)
    no(r, "d STATUS nosuch (MESSAGES)", "NONEXISTENT")
    no(r, 'd2 STATUS "a//b" (MESSAGES)', "CANNOT")
    bad(r, "e STATUS INBOX (BOGUS)")

    # \Deleted counted: DELETED, DELETED-STORAGE (RFC 9208, KiB), and
    # APPENDLIMIT (RFC 7889) as the capability says
    ok(r, "f SELECT INBOX")
    ok(r, "g STORE 3 +FLAGS.SILENT (\\Deleted \\Seen)")
    got = ok(r, "h STATUS INBOX (DELETED UNSEEN DELETED-STORAGE "
             "APPENDLIMIT)")
    caps = b" ".join(ok(r, "h1 CAPABILITY"))
    limit = re.search(rb"APPENDLIMIT=(\d+)", caps).group(1)
    want = b"(UNSEEN 2 DELETED 1 DELETED-STORAGE %d APPENDLIMIT %s)" % (
        len(MESSAGES[2]) // 1024, limit)
    check(got[-1].endswith(want), "STATUS after STORE: %r" % want, got)
    ok(r, "h2 STORE 3 -FLAGS.SILENT (\\Deleted)")
    ok(r, "i CLOSE")
    # RECENT: this session selected INBOX read-write and took them
    r2 = login(site)
    got = ok(r2, "j STATUS INBOX (RECENT)")
    check(got[-1].endswith(b"(RECENT 0)"), "recent taken by the SELECT",
          got)
    r2.close()

    # QUOTA (RFC 9208): the one root "" with the user's limits
    got = ok(r, "k GETQUOTAROOT INBOX")
    used = sum(len(m) for m in MESSAGES)
    check(got[0] == b'* QUOTAROOT INBOX ""' and
          got[1] == ('* QUOTA "" (STORAGE %d 10240 MESSAGE 3 100)' %
                     (used // 1024)).encode(), "GETQUOTAROOT", got)
    got = ok(r, 'l GETQUOTA ""')
    check(got == [got[0]] and got[0].startswith(b'* QUOTA "" (STORAGE'),
          "GETQUOTA", got)
    no(r, "m GETQUOTA other", "NONEXISTENT")
    no(r, "n GETQUOTAROOT nosuch", "NONEXISTENT")
    no(r, 'o SETQUOTA "" (STORAGE 1)', "NOPERM")
    r.close()
    # an unlimited user has no quota root
    site.add_user("free@example.test", PW)
    r = site.raw()
    ok(r, "a LOGIN free@example.test %s" % PW)
    got = ok(r, "b GETQUOTAROOT INBOX")
    check(got == [b"* QUOTAROOT INBOX"], "no root without limits", got)
    no(r, 'c GETQUOTA ""', "NONEXISTENT")
    r.close()


def pipeline(r, cmds, batch=500):
    """Sends the commands in batches without waiting; all must be OK."""
    for i in range(0, len(cmds), batch):
        chunk = cmds[i:i + batch]
        r.send("".join("P%d %s\r\n" % (i + k, c)
                       for k, c in enumerate(chunk)))
        for k, c in enumerate(chunk):
            tagged, untagged = r.until_tagged("P%d" % (i + k))
            check(tagged.split()[1] == b"OK", "%s: OK" % c,
                  (tagged, untagged))


def test_many(site, helper):
    """10,000 mailboxes (100 top-level with 99 children each) made by the
    store-helper in one transaction, 500 more by pipelined CREATE."""
    site.add_user("many@example.test", PW)
    made = []
    for i in range(100):
        made.append("f%03d" % i)
        made += ["f%03d/s%02d" % (i, k) for k in range(1, 100)]
    p = subprocess.run([helper, site.data, "mailboxes", "many@example.test"],
                       input="\n".join(made).encode(), capture_output=True,
                       timeout=300)
    check(p.returncode == 0 and b"created 10000" in p.stdout,
          "store-helper made 10,000 mailboxes", (p.stdout, p.stderr))
    r = site.raw()
    ok(r, "a LOGIN many@example.test %s" % PW)
    cmds = ["CREATE g%03d" % i for i in range(500)]
    t0 = time.monotonic()
    pipeline(r, cmds)
    t_create = time.monotonic() - t0

    t0 = time.monotonic()
    got = names(r, 'b LIST "" "*"')
    t_list = time.monotonic() - t0
    check(len(got) == 10500 + len(DEFAULTS), "10,506 mailboxes listed",
          len(got))
    check(got["f042"][0] == {"\\haschildren"} and
          got["f042/s17"][0] == {"\\hasnochildren"}, "children", (
              got["f042"], got["f042/s17"]))
    got = names(r, 'c LIST "" "%"')
    check(len(got) == 600 + len(DEFAULTS), "% lists the top level",
          len(got))
    got = names(r, 'c2 LIST "" "f0%/s5%"')
    check(len(got) == 100 * 10, "f0%/s5%", len(got))

    # "*f*f*...*f*b" as long as a pattern that can still match (1,021
    # bytes) against every name, then longer ones: they must simply finish
    pat = "*f" * 510 + "*b"
    t0 = time.monotonic()
    got = names(r, 'd LIST "" "%s"' % pat)
    t_patho = time.monotonic() - t0
    check(got == {}, "no name matches", got)
    # the patterns of one LIST are limited to 8,192 bytes in all (after
    # collapsing wildcards): 8 of 1,000 bytes work, 9 are NO [LIMIT]
    pat = "*f" * 499 + "*b"
    got = names(r, 'd1 LIST "" (%s)' % " ".join([pat] * 8))
    check(got == {}, "no name matches", got)
    no(r, 'd1 LIST "" (%s)' % " ".join([pat] * 9), "LIMIT")
    for pat in ("*a" * 20000 + "*b*", "%f" * 300 + "%", "%" * 30000):
        got = names(r, 'd2 LIST "" "%s"' % pat)
        check(len(got) == (600 + len(DEFAULTS) if pat[1] == "%" else 0),
              "a long pattern", len(got))

    # a client that does not read, with a tiny receive buffer: the server
    # pauses the answer (imap_yield) and finishes it once it is read
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", site.imap_port))
    s.sendall(b'a LOGIN many@example.test %s\r\n'
              b'e LIST "" "*" RETURN (CHILDREN SUBSCRIBED)\r\n' %
              PW.encode())
    time.sleep(1.0)
    data = b""
    while b"\r\ne " not in data:
        d = s.recv(65536)
        check(d, "the LIST answer goes on", data[-200:])
        data += d
    while not data.endswith(b"\r\n"):
        data += s.recv(65536)
    s.close()
    lines = data.split(b"\r\n")
    check(lines[-2].startswith(b"e OK") and
          len(lists(lines)) == 10500 + len(DEFAULTS),
          "the whole LIST after a pause", lines[-2:])
    # LIST-STATUS over all of them
    tagged, untagged = r.cmd('f LIST "" "f00*" RETURN (STATUS '
                             '(MESSAGES))')
    check(tagged.startswith(b"f OK") and
          sum(1 for u in untagged if u.startswith(b"* STATUS")) == 1000,
          "STATUS for each", len(untagged))
    r.close()
    print("10,500 mailboxes: 500 CREATE pipelined %.2f s (%.0f/s), "
          'LIST "" * %.3f s, pathological pattern %.3f s' % (
              t_create, len(cmds) / t_create, t_list, t_patho))


MESSAGES = [b"Subject: one\r\n\r\nfirst\r\n",
            b"Subject: two\r\nFrom: x@example.test\r\n\r\nsecond body\r\n",
            b"Subject: three\r\n\r\n" + b"line\r\n" * 400]


def test(site, args):
    site.start_imapd()
    site.add_user(USER, PW, quota="10M")
    site.ctl("quota", "set", USER, "10M", "--messages", "100")
    site.add_mail(USER, *MESSAGES)
    test_defaults_and_root(site)
    test_status_quota(site)
    test_create_delete_rename(site)
    test_utf7(site)
    test_subscribe(site)
    test_list_patterns(site)
    test_listext(site)
    test_many(site, args[0])
    # nothing a command did broke the store
    out = site.ctl("store", "check")
    check("ok" in out.lower() or out.strip() == "", "store check", out)


if __name__ == "__main__":
    sys.exit(run(test))
