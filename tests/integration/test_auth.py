#!/usr/bin/env python3
"""Failed logins: shared by vellum-pop3d and vellum-smtpd through the
store, counted per client address and per (address, user).

usage: test_auth.py BUILD_DIR [SCENARIO...]   (default: every scenario)

Each scenario connects from its own loopback address (127.0.0.x bound as
the source), so they do not share counts.  Nothing here measures time:
the delays are configured to a few milliseconds.
"""
import base64
import json
import smtplib
import socket
import sys

from daemon import Failure, SKIP, check, main

PASSWORDS = {"alice@example.test": "alice-pw", "bob@example.test": "bob-pw",
             "mallory@example.test": "mallory-pw"}
FAIL_MAX = 10
FAIL_MAX_ADDRESS = 30


class Pop:
    """A raw POP3 client bound to a source address."""

    def __init__(self, port, src):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30,
                                          source_address=(src, 0))
        self.f = self.s.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.f.readline().decode("utf-8", "replace").rstrip("\r\n")

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.line()

    def close(self):
        try:
            self.s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.f.close()
        self.s.close()


def pop_login(port, src, user, password, sasl=False):
    """The server's answer to the login (PASS, or the AUTH PLAIN reply;
    the USER reply when that already refused)."""
    p = Pop(port, src)
    try:
        if sasl:
            resp = base64.b64encode(b"\0" + user.encode() + b"\0" +
                                    password.encode()).decode()
            return p.cmd("AUTH PLAIN " + resp)
        r = p.cmd("USER " + user)
        if not r.startswith("+OK"):
            return r
        return p.cmd("PASS " + password)
    finally:
        p.close()


def smtp_login(port, src, user, password):
    """(code, text) of AUTH PLAIN over the submission port."""
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=30,
                         source_address=(src, 0))
    except smtplib.SMTPServerDisconnected as e:
        return 421, str(e)
    try:
        s.ehlo("client.example.test")
        resp = base64.b64encode(b"\0" + user.encode() + b"\0" +
                                password.encode()).decode()
        code, text = s.docmd("AUTH", "PLAIN " + resp)
        return code, text.decode("utf-8", "replace")
    except smtplib.SMTPServerDisconnected as e:
        return 421, str(e)
    finally:
        try:
            s.close()
        except Exception:
            pass


def fail_pop(env, src, user, n, sasl=False):
    for i in range(n):
        r = pop_login(env["pop3"], src, user, "wrong-%d" % i, sasl=sasl)
        check(r.startswith("-ERR"), "a wrong password is refused", r)


def scenario_bypass(env):
    """4 wrong passwords for alice and 1 good login as mallory, repeated,
    must still lock alice out: a success clears only its own count."""
    src = "127.0.0.1"
    for rnd in range(3):
        fail_pop(env, src, "alice@example.test", 4)
        r = pop_login(env["pop3"], src, "mallory@example.test",
                      PASSWORDS["mallory@example.test"])
        check(r.startswith("+OK"), "mallory's good login works (round %d)"
              % rnd, r)
    r = pop_login(env["pop3"], src, "alice@example.test",
                  PASSWORDS["alice@example.test"])
    check(r.startswith("-ERR") and "too many failed logins" in r,
          "alice is locked out after %d failures interleaved with "
          "mallory's good logins" % 12, r)


def scenario_fair(env):
    """alice locked from an address does not lock bob out from it."""
    src = "127.0.0.3"
    fail_pop(env, src, "alice@example.test", FAIL_MAX + 1)
    r = pop_login(env["pop3"], src, "alice@example.test",
                  PASSWORDS["alice@example.test"])
    check("too many failed logins" in r, "alice is locked out", r)
    r = pop_login(env["pop3"], src, "bob@example.test",
                  PASSWORDS["bob@example.test"])
    check(r.startswith("+OK"), "bob logs in from the same address while "
          "alice is locked out", r)
    code, text = smtp_login(env["submission"], src, "bob@example.test",
                            PASSWORDS["bob@example.test"])
    check(code == 235, "bob's SMTP AUTH works from that address too",
          (code, text))


def scenario_shared(env):
    """Failures in POP3 (USER/PASS and AUTH) and SMTP AUTH add up."""
    src = "127.0.0.4"
    half = FAIL_MAX // 2
    fail_pop(env, src, "alice@example.test", half - 2)
    fail_pop(env, src, "alice@example.test", 2, sasl=True)
    for i in range(FAIL_MAX - half):
        code, text = smtp_login(env["submission"], src,
                                "alice@example.test", "wrong-%d" % i)
        check(code == 535, "a wrong SMTP AUTH password gets 535",
              (code, text))
    r = pop_login(env["pop3"], src, "alice@example.test",
                  PASSWORDS["alice@example.test"])
    check(r.startswith("-ERR") and "too many failed logins" in r,
          "POP3 refuses alice after %d POP3 and %d SMTP failures"
          % (half, FAIL_MAX - half), r)
    code, text = smtp_login(env["submission"], src, "alice@example.test",
                            PASSWORDS["alice@example.test"])
    check(code == 535 and "Too many failed logins" in text,
          "SMTP AUTH refuses alice as well", (code, text))


def scenario_address(env):
    """Many users failing from one address: the whole address is
    refused (POP3 -ERR [AUTH], SMTP 421)."""
    src = "127.0.0.5"
    for i in range(FAIL_MAX_ADDRESS):
        r = pop_login(env["pop3"], src, "user%d@example.test" % i, "x")
        check(r.startswith("-ERR"), "an unknown user is refused", r)
    r = pop_login(env["pop3"], src, "bob@example.test",
                  PASSWORDS["bob@example.test"])
    check(r.startswith("-ERR [AUTH]") and "from your address" in r,
          "the address is refused after %d failures of many users"
          % FAIL_MAX_ADDRESS, r)
    code, text = smtp_login(env["submission"], src, "bob@example.test",
                            PASSWORDS["bob@example.test"])
    check(code == 421, "SMTP AUTH from a refused address gets 421",
          (code, text))


def scenario_unban(env):
    """vellumctl auth list shows the lock; auth unban lifts it."""
    site = env["site"]
    src = "127.0.0.6"
    fail_pop(env, src, "alice@example.test", FAIL_MAX)
    r = pop_login(env["pop3"], src, "alice@example.test",
                  PASSWORDS["alice@example.test"])
    check("too many failed logins" in r, "alice is locked out", r)
    out = site.ctl("--json", "auth", "list")
    try:
        rows = json.loads(out)
    except ValueError as e:
        raise Failure("auth list --json is not JSON (%s): %r" % (e, out))
    mine = [x for x in rows if x["address"] == src and
            x["user"] == "alice@example.test"]
    check(len(mine) == 1 and mine[0]["failures"] == FAIL_MAX and
          mine[0]["locked_until"] is not None,
          "auth list shows alice locked from %s with %d failures"
          % (src, FAIL_MAX), rows)
    out = site.ctl("auth", "list")
    check(src in out and "locked until" in out, "the text listing shows "
          "the lock", out)
    out = site.ctl("auth", "unban", src)
    check("removed" in out, "auth unban says what it removed", out)
    r = pop_login(env["pop3"], src, "alice@example.test",
                  PASSWORDS["alice@example.test"])
    check(r.startswith("+OK"), "alice logs in after auth unban", r)
    site.ctl("auth", "unban", expect=2)
    site.ctl("auth", "unban", "--all")
    out = site.ctl("--json", "auth", "list")
    check(json.loads(out) == [], "auth unban --all empties the table", out)


def scenario_trusted(env):
    """[auth] trusted_networks: no lockout."""
    src = "127.0.0.2"
    fail_pop(env, src, "alice@example.test", FAIL_MAX + 5)
    for i in range(FAIL_MAX):
        code, text = smtp_login(env["submission"], src,
                                "alice@example.test", "bad")
        check(code == 535, "a wrong password gets 535", (code, text))
    r = pop_login(env["pop3"], src, "alice@example.test",
                  PASSWORDS["alice@example.test"])
    check(r.startswith("+OK"), "a trusted address is never locked out", r)
    code, text = smtp_login(env["submission"], src, "alice@example.test",
                            PASSWORDS["alice@example.test"])
    check(code == 235, "SMTP AUTH from a trusted address works",
          (code, text))


def scenario_hangup(env):
    """Clients that hang up while their password is being checked: the
    verdict must not touch the closed session; both daemons go on."""
    src = "127.0.0.7"
    for i in range(20):
        p = Pop(env["pop3"], src)
        p.s.sendall(b"USER alice@example.test\r\nPASS x%d\r\n" % i)
        p.s.close()
        s = socket.create_connection(("127.0.0.1", env["submission"]),
                                     timeout=30, source_address=(src, 0))
        resp = base64.b64encode(b"\0bob@example.test\0y%d" % i)
        s.sendall(b"EHLO x\r\nAUTH PLAIN " + resp + b"\r\n")
        s.close()
    for p in env["procs"]:
        check(p.running(), "%s survives clients hanging up during the "
              "check" % p.name, p.output()[-2000:])
    r = pop_login(env["pop3"], src, "bob@example.test",
                  PASSWORDS["bob@example.test"])
    check(r.startswith("+OK"), "POP3 still answers", r)
    code, text = smtp_login(env["submission"], src, "alice@example.test",
                            PASSWORDS["alice@example.test"])
    check(code == 235, "SMTP AUTH still answers", (code, text))


SCENARIOS = [("bypass", scenario_bypass), ("fair", scenario_fair),
             ("shared", scenario_shared), ("address", scenario_address),
             ("unban", scenario_unban), ("hangup", scenario_hangup)]


def start(site, env, trusted):
    env["procs"] = []
    auth = {"plaintext": "yes", "fail_delay": "1", "fail_max": str(FAIL_MAX),
            "fail_window": "600", "lockout": "900"}
    if trusted:
        # Keys the original code did not have: only in this phase.
        auth.update({"fail_delay_max": "4",
                     "fail_max_address": str(FAIL_MAX_ADDRESS),
                     "trusted_networks": "127.0.0.2/32"})
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % env["pop3"]},
                     "submission": {"listen": "127.0.0.1:%d" %
                                    env["submission"]},
                     # Hung-up clients are counted until their close
                     # is processed: no per-address connection limit.
                     "limits": {"connections_per_ip": "1000"},
                     "auth": auth})
    for name, port in (("pop3d", env["pop3"]),
                       ("smtpd", env["submission"])):
        p = site.start(name)
        site.wait_port(port, p)
        env["procs"].append(p)


def test(site, args):
    for b in ("pop3d", "smtpd"):
        if not __import__("os").path.exists(site.binary(b)):
            print("vellum-%s is not built" % b, file=sys.stderr)
            return SKIP
    for u, pw in PASSWORDS.items():
        site.add_user(u, pw)
    env = {"site": site, "pop3": site.port(), "submission": site.port()}
    want = set(args) or {n for n, _ in SCENARIOS} | {"trusted"}
    # Phase 1 runs with keys every version knows (the original code can
    # run it: the evidence that these tests fail there).
    if want - {"trusted", "address"}:
        start(site, env, trusted=False)
        for name, fn in SCENARIOS:
            if name in want and name != "address":
                fn(env)
        for p in env["procs"]:
            site.stop(p)
    if want & {"trusted", "address"}:
        start(site, env, trusted=True)
        if "address" in want:
            scenario_address(env)
        if "trusted" in want:
            scenario_trusted(env)
        for p in env["procs"]:
            site.stop(p)
    return 0


if __name__ == "__main__":
    main(test)
