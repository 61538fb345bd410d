#!/usr/bin/env python3
"""vellumctl user import of a Dovecot passwd-file, and user passwd --hash:
every password scheme Dovecot's passdb and crypt(3) check imports, and
each user logs in over IMAP (LOGIN) and POP3 (USER/PASS and AUTH PLAIN)
with its password and not with a wrong one; {PLAIN} is not stored as it
is; the schemes no login could check are refused line by line as
FILE:LINE: ... naming the scheme; no hash shows in any output.

usage: test_user_import.py BUILD_DIR

The hashes are made here as `doveadm pw -s SCHEME` prints them: with
doveadm itself when it is installed, else with python3 (hashlib, crypt)
and `openssl passwd`.
"""
import base64
import hashlib
import imaplib
import os
import poplib
import shutil
import subprocess
import warnings

from daemon import Failure, check, main

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt        # deprecated in 3.11, what makes $2b$ and DES here
DOVEADM = shutil.which("doveadm")


def doveadm(scheme, password):
    p = subprocess.run([DOVEADM, "pw", "-s", scheme, "-p", password],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise Failure("doveadm pw -s %s: %s" % (scheme, p.stderr))
    return p.stdout.decode().strip()


def openssl_passwd(opt, password):
    p = subprocess.run(["openssl", "passwd", opt, password],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise Failure("openssl passwd %s: %s" % (opt, p.stderr))
    return p.stdout.decode().strip()


def digest(scheme, md, password, salted, hexed=False):
    salt = os.urandom(8) if salted else b""
    d = hashlib.new(md, password.encode() + salt).digest() + salt
    return "{%s}%s" % (scheme, d.hex() if hexed else
                       base64.b64encode(d).decode())


def make(scheme, password):
    """{SCHEME}hash as doveadm pw -s SCHEME prints it."""
    if DOVEADM and scheme not in ("CRYPT-YESCRYPT", "CRYPT-DES", "BARE-6"):
        return doveadm(scheme, password)
    if scheme == "SHA512-CRYPT":
        return "{SHA512-CRYPT}" + openssl_passwd("-6", password)
    if scheme == "SHA256-CRYPT":
        return "{SHA256-CRYPT}" + openssl_passwd("-5", password)
    if scheme in ("MD5-CRYPT", "MD5"):
        return "{%s}%s" % (scheme, openssl_passwd("-1", password))
    if scheme == "BLF-CRYPT":
        return "{BLF-CRYPT}" + crypt.crypt(password,
                                           crypt.mksalt(crypt.METHOD_BLOWFISH,
                                                        rounds=16))
    if scheme == "CRYPT":
        return "{CRYPT}" + crypt.crypt(password,
                                       crypt.mksalt(crypt.METHOD_SHA256))
    if scheme == "CRYPT-YESCRYPT":
        # python's crypt does not make $y$; mkpasswd does when installed.
        if shutil.which("mkpasswd"):
            p = subprocess.run(["mkpasswd", "-m", "yescrypt", password],
                               capture_output=True, timeout=60)
            if p.returncode == 0:
                return "{CRYPT}" + p.stdout.decode().strip()
        return "{CRYPT}" + crypt.crypt(password,
                                       crypt.mksalt(crypt.METHOD_SHA512))
    if scheme == "CRYPT-DES":
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_CRYPT))
    if scheme == "BARE-6":
        return openssl_passwd("-6", password)
    if scheme == "PLAIN":
        return "{PLAIN}" + password
    if scheme == "CLEARTEXT":
        return "{CLEARTEXT}" + password
    table = {"SSHA512": ("sha512", 1), "SSHA256": ("sha256", 1),
             "SSHA": ("sha1", 1), "SHA512": ("sha512", 0),
             "SHA256": ("sha256", 0), "SHA": ("sha1", 0),
             "SHA1": ("sha1", 0), "SMD5": ("md5", 1),
             "LDAP-MD5": ("md5", 0)}
    if scheme in table:
        return digest(scheme, table[scheme][0], password, table[scheme][1])
    if scheme == "PLAIN-MD5":
        return digest(scheme, "md5", password, 0, hexed=True)
    if scheme == "SHA256.HEX":
        return digest(scheme, "sha256", password, 0, hexed=True)
    raise Failure("no generator for %s" % scheme)


SCHEMES = ["SHA512-CRYPT", "SHA256-CRYPT", "MD5-CRYPT", "MD5", "BLF-CRYPT",
           "CRYPT", "CRYPT-YESCRYPT", "CRYPT-DES", "BARE-6", "PLAIN",
           "CLEARTEXT", "SSHA512", "SSHA256", "SSHA", "SHA512", "SHA256",
           "SHA", "SHA1", "SMD5", "LDAP-MD5", "PLAIN-MD5", "SHA256.HEX"]

# (scheme named in the error, the field) that no login could check.
REFUSED = [
    ("ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"
     "c2FsdHNhbHRzYWx0$UNSEENaaaabbbbccccddddeeeeffffgggg"),
    ("$argon2id$", "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$"
     "UNSEENhhhhiiiijjjjkkkkllllmmmmnnnn"),
    ("PBKDF2", "{PBKDF2}$1$c2FsdHNhbHQ$5000$UNSEENoooopppqqqrrrsss"),
    ("SCRYPT", "{SCRYPT}$7$CU..../....UNSEENssssttttuuuuvvvvwwww"),
    ("SHA512-CRYPT", "{SHA512-CRYPT}$6$UNSEENsalt$short"),
    ("CRAM-MD5", "{CRAM-MD5}UNSEEN0123456789abcdef0123456789abcdef01234567"
     "89abcdef0123456789ab"),
]


def imap_login(port, user, password):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        typ, data = m.login(user, password)
        return typ
    except imaplib.IMAP4.error:
        return "NO"
    finally:
        try:
            m.logout()
        except Exception:
            pass


def pop_login(port, user, password, sasl=False):
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    try:
        if sasl:
            r = p._shortcmd("AUTH PLAIN " + base64.b64encode(
                b"\0" + user.encode() + b"\0" + password.encode()).decode())
        else:
            p.user(user)
            r = p.pass_(password)
        return r.decode()
    except poplib.error_proto as e:
        return str(e)
    finally:
        try:
            p.quit()
        except Exception:
            pass


def run_ctl(site, *args, input=None):
    argv = [site.binary("vellumctl"), "-d", site.data] + list(args)
    p = subprocess.run(argv, input=input, capture_output=True, timeout=300)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def no_hash_in(text, fields, what):
    """None of the hashes (their last 12 characters) shows in text."""
    for f in fields:
        body = f.split("}", 1)[-1]
        if len(body) >= 12:
            check(body[-12:] not in text, "%s shows no hash" % what,
                  text)


def run(site, args):
    for d in ("imapd", "pop3d"):
        if not site.have(d):
            raise Failure("vellum-%s was not built" % d)
    imap, pop3 = site.port(), site.port()
    site.write_conf({"imap": {"listen": "127.0.0.1:%d" % imap},
                     "pop3": {"listen": "127.0.0.1:%d" % pop3},
                     "auth": {"plaintext": "yes", "fail_delay": "10",
                              "fail_max": "1000",
                              "fail_max_address": "1000",
                              "fail_delay_max": "20"}})
    site.ctl("domain", "add", "example.test")

    users, fields, lines = {}, [], []
    for i, s in enumerate(SCHEMES):
        addr = "u%d-%s@example.test" % (i, s.lower().replace(".", "-"))
        pw = "pw %d-%s!" % (i, s)
        field = make(s, pw)
        fields.append(field)
        users[addr] = (s, pw)
        # uid:gid, gecos, home, shell, extra fields as Dovecot writes them.
        lines.append("%s:%s:%d:%d::/home/vmail/%s::"
                     "userdb_quota_rule=*:storage=%dM" % (
                         addr, field, 5000 + i, 5000 + i, addr, i + 1))
    refused_at = {}
    for s, field in REFUSED:
        lines.append("bad-%d@example.test:%s:::::" % (len(refused_at),
                                                      field))
        refused_at[len(lines)] = s
        fields.append(field)
    lines.insert(0, "# a Dovecot passwd-file")
    refused_at = {k + 1: v for k, v in refused_at.items()}
    pf = site.path("passwd")
    with open(pf, "w") as f:
        f.write("\n".join(lines) + "\n")

    rc, out, err = run_ctl(site, "user", "import", pf)
    check(rc == 1, "import exits 1 when lines were refused", (rc, err))
    check("%d created" % len(SCHEMES) in out and
          "%d failed" % len(REFUSED) in out,
          "every scheme is created, the refused ones counted", out + err)
    for n, s in refused_at.items():
        want = "%s:%d: bad-" % (pf, n)
        hit = [e for e in err.splitlines() if e.startswith(want)]
        check(len(hit) == 1 and s.lower() in hit[0].lower(),
              "line %d is refused as FILE:LINE naming %s" % (n, s), err)
    no_hash_in(out + err, fields, "user import")

    # The quota and the fs mapping of the passwd-file's fields.
    addr0 = list(users)[0]
    show = site.ctl("user", "show", addr0)
    check("quota:          1M" in show, "userdb_quota_rule storage=1M is "
          "the quota", show)
    check("uid 5000, gid 5000" in show, "uid:gid become the fs mapping",
          show)
    no_hash_in(show + site.ctl("user", "list"), fields, "user show/list")

    proc_i = site.start("imapd")
    proc_p = site.start("pop3d")
    site.wait_port(imap, proc_i)
    site.wait_port(pop3, proc_p)
    for addr, (s, pw) in users.items():
        check(imap_login(imap, addr, pw) == "OK",
              "%s: IMAP LOGIN with the password" % s, addr)
        check(imap_login(imap, addr, "x" + pw) != "OK",
              "%s: IMAP LOGIN with a wrong password is refused" % s, addr)
        r = pop_login(pop3, addr, pw)
        check(r.startswith("+OK"), "%s: POP3 USER/PASS" % s, r)
        r = pop_login(pop3, addr, pw, sasl=True)
        check(r.startswith("+OK"), "%s: POP3 AUTH PLAIN" % s, r)
        r = pop_login(pop3, addr, "x" + pw)
        check(not r.startswith("+OK"), "%s: POP3 wrong password refused"
              % s, r)

    # The whitespace format ("address password [quota]") reads the same
    # schemes: a {SCHEME} hash is not taken for a password.
    old = [("w1@example.test", "SHA512-CRYPT", "white pw 1"),
           ("w2@example.test", "PLAIN", "white-pw-2"),
           ("w3@example.test", "SSHA256", "white pw 3")]
    wf = site.path("users.txt")
    with open(wf, "w") as f:
        for a, s, pw in old:
            f.write("%s %s 10M\n" % (a, make(s, pw)))
        f.write("w4@example.test %s\n" % REFUSED[1][1])
    rc, out, err = run_ctl(site, "user", "import", wf)
    check(rc == 1 and "3 created" in out and
          "%s:4: w4@example.test: $argon2id$" % wf in err,
          "the whitespace format: 3 created, $argon2id$ refused on line "
          "4", (out, err))
    no_hash_in(out + err, [REFUSED[1][1]], "user import (whitespace)")
    for a, s, pw in old:
        check(imap_login(imap, a, pw) == "OK", "%s (whitespace format): "
              "IMAP LOGIN" % s, a)
        check(imap_login(imap, a, "x" + pw) != "OK", "%s (whitespace "
              "format): a wrong password is refused" % s, a)

    # user passwd --hash: a pre-computed hash replaces the password.
    addr = list(users)[1]
    new = make("SSHA512", "brand new pw")
    rc, out, err = run_ctl(site, "user", "passwd", addr, "--hash", new)
    check(rc == 0, "user passwd --hash {SSHA512}", (rc, out, err))
    no_hash_in(out + err, [new], "user passwd --hash")
    new2 = make("SHA512-CRYPT", "another pw")
    rc, out, err = run_ctl(site, "user", "passwd", users and
                           list(users)[2], "--hash", "-",
                           input=(new2 + "\n").encode())
    check(rc == 0, "user passwd --hash - reads the hash on stdin",
          (rc, out, err))
    check(imap_login(imap, addr, "brand new pw") == "OK",
          "the --hash password logs in", addr)
    check(imap_login(imap, addr, users[addr][1]) != "OK",
          "the old password no longer logs in", addr)
    check(pop_login(pop3, list(users)[2], "another pw").startswith("+OK"),
          "the --hash - password logs in", None)
    for s, field in REFUSED:
        rc, out, err = run_ctl(site, "user", "passwd", addr, "--hash",
                               field)
        check(rc == 1 and s.lower() in err.lower(), "user passwd --hash "
              "refuses %s naming it" % s, (rc, err))
        no_hash_in(out + err, [field], "user passwd --hash (refused)")
    check(imap_login(imap, addr, "brand new pw") == "OK",
          "a refused --hash leaves the password as it was", addr)
    rc, out, err = run_ctl(site, "user", "passwd", "nobody@example.test",
                           "--hash", new)
    check(rc == 1, "user passwd --hash of an unknown user fails",
          (rc, err))
    site.stop(proc_i)
    site.stop(proc_p)


if __name__ == "__main__":
    main(run)
