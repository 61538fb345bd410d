"""vellumctl lock list/clear against real locks held by other processes,
and store backup taken while another process keeps writing."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtest import check, main  # noqa: E402


def hold_lock(helper, data, name, mode):
    """store-helper holding lock name (mode "hold" or "share") until its
    stdin closes or it is killed; returns it once it says "locked"."""
    p = subprocess.Popen([helper, data, "lock", name, "600", mode],
                         stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    check(line.strip() == "locked", "helper took %s (%s)" % (name, mode),
          line)
    return p


def run(ctl, argv):
    helper = os.path.abspath(argv[0])
    ctl.run("domain", "add", "example.test")
    ctl.run("user", "add", "bob@example.test")

    # A lock held by a live process is listed and not stale.
    holder = hold_lock(helper, ctl.data, "pop3:bob@example.test", "hold")
    try:
        locks = ctl.json("lock", "list")
        check(len(locks) == 1, "one lock listed", locks)
        lk = locks[0]
        check(lk.get("name") == "pop3:bob@example.test" and
              lk.get("pid") == holder.pid and not lk.get("stale"),
              "live lock with its owner's pid, not stale", lk)
        out, _ = ctl.run("lock", "clear", "--stale")
        check("0 stale" in out, "a live lock is not stale", out)
        check(len(ctl.json("lock", "list")) == 1, "live lock kept", "")
        # An admin clears it by address.
        out, _ = ctl.run("lock", "clear", "bob@example.test")
        check(ctl.json("lock", "list") == [], "lock clear ADDRESS removes "
              "the lock", out)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    # A lock whose owner died is stale, and --stale reclaims it.
    p = subprocess.run([helper, ctl.data, "lock", "deliver:bob@example.test",
                        "600", "exit"], capture_output=True)
    check(p.returncode == 0 and b"locked" in p.stdout, "helper exited "
          "holding a lock", p.stderr)
    locks = ctl.json("lock", "list")
    check(len(locks) == 1 and locks[0].get("stale"),
          "dead owner's lock is stale", locks)
    out, _ = ctl.run("lock", "clear", "--stale")
    check("1 stale" in out, "one stale lock cleared", out)
    check(ctl.json("lock", "list") == [], "no lock left", "")

    # A delivery lock two processes share: one entry per holder, and
    # --stale drops only the dead one's hold.
    sharer = hold_lock(helper, ctl.data, "deliver:bob@example.test",
                       "share")
    try:
        p = subprocess.run([helper, ctl.data, "lock",
                            "deliver:bob@example.test", "600",
                            "share-exit"], capture_output=True)
        check(p.returncode == 0 and b"locked" in p.stdout, "a second "
              "process shares it (and exits)", p.stderr)
        locks = ctl.json("lock", "list")
        check(len(locks) == 2 and
              all(lk.get("name") == "deliver:bob@example.test" and
                  lk.get("shared") and not lk.get("exclusive") and
                  lk.get("holders") == 2 for lk in locks) and
              sorted(bool(lk.get("stale")) for lk in locks) ==
              [False, True] and
              [lk.get("pid") for lk in locks if not lk.get("stale")] ==
              [sharer.pid], "two holders listed, the dead one stale",
              locks)
        out, _ = ctl.run("lock", "list")
        check(out.count("deliver:bob@example.test") == 2 and
              "shared (2 holders)" in out, "lock list: a line per holder",
              out)
        out, _ = ctl.run("lock", "clear", "--stale")
        check("1 stale" in out, "the dead holder's share cleared", out)
        locks = ctl.json("lock", "list")
        check(len(locks) == 1 and locks[0].get("pid") == sharer.pid and
              locks[0].get("holders") == 1, "the live holder keeps it",
              locks)
        p = subprocess.run([helper, ctl.data, "lock",
                            "deliver:bob@example.test", "600", "exit"],
                           capture_output=True)
        check(p.returncode != 0, "a lock for one alone is refused while "
              "it is shared", p.stdout)
        p = subprocess.run([helper, ctl.data, "lock",
                            "deliver:bob@example.test", "600",
                            "share-exit"], capture_output=True)
        out, _ = ctl.run("lock", "clear", "bob@example.test")
        check(ctl.json("lock", "list") == [] and str(sharer.pid) in out and
              out.count("pid ") == 2, "lock clear ADDRESS drops every "
              "holder and names them", out)
    finally:
        sharer.send_signal(signal.SIGKILL)
        sharer.wait()

    # Backup while another process writes: the copy is consistent.
    writer = subprocess.Popen([helper, ctl.data, "append",
                               "bob@example.test", "400"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    n = 0
    while n < 20:		# let it get going
        if not writer.stdout.readline():
            break
        n += 1
    backups = []
    for i in range(3):
        dest = ctl.path("backup%d" % i)
        ctl.run("store", "backup", dest)
        backups.append(dest)
    rest = writer.stdout.read().decode().split()
    writer.wait()
    check(writer.returncode == 0, "writer finished",
          writer.stderr.read().decode())
    for dest in backups:
        out, _ = ctl.run("-d", dest, "store", "check", data=False)
        check("ok" in out, "backup %s passes store check" % dest, out)
        msgs = json.loads(ctl.run("-d", dest, "mail", "list",
                                  "bob@example.test", "--json",
                                  data=False)[0])
        check(20 <= len(msgs) <= 400, "backup holds a prefix of the "
              "writes (20..400 messages)", len(msgs))
    out, _ = ctl.run("store", "check")
    check("ok" in out, "live store passes store check", out)
    total = json.loads(ctl.run("mail", "list", "bob@example.test",
                               "--json")[0])
    check(len(total) == 400, "all 400 writes in the live store", len(total))
    return 0


main(run)
