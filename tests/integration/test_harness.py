"""The process hygiene of daemon.py (vellum issue 7): Site.stop() fails
when the process it stopped left something it had started running (and
stops that too); a fake clock is preloaded into the program itself, so
the pid started and stopped is the program's own.

usage: test_harness.py BUILD_DIR
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import (Failure, check, children_of, main,  # noqa: E402
                    pid_alive)


def run(site, args):
    # A parent that leaves its child behind when it gets SIGTERM.
    script = site.path("parent.sh")
    with open(script, "w") as f:
        f.write("sleep 300 &\necho $! > %s\nwait\n" % site.path("kid"))
    proc = site.start("/bin/sh", script, conf=False)
    t0 = time.monotonic()
    while not children_of(proc.pid) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    check(children_of(proc.pid), "the parent started its child", proc.pid)
    with open(site.path("kid")) as f:
        kid = int(f.read())
    try:
        site.stop(proc)
        raise Failure("Site.stop() did not notice the child left running")
    except Failure as e:
        check("left pid %d: sleep 300" % kid in str(e) and
              "stopped now" in str(e), "Site.stop() names the leftover",
              str(e))
    check(not pid_alive(kid), "Site.stop() stopped the leftover", kid)

    # faketime: the program itself runs six days ahead, no wrapper.
    proc = site.start("/bin/sh", "-c", "date +%s > " + site.path("t") +
                      "; exec sleep 300", conf=False, faketime="+6d")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and not (
            os.path.exists(site.path("t")) and
            os.path.getsize(site.path("t")) > 0):
        time.sleep(0.05)
    with open(site.path("t")) as f:
        ahead = int(f.read()) - time.time()
    check(5 * 86400 < ahead < 7 * 86400, "the clock is six days ahead",
          ahead)
    check(children_of(proc.pid) == [], "no wrapper process in between",
          children_of(proc.pid))
    site.stop(proc)
    check(not pid_alive(proc.pid), "the faked program itself stopped",
          proc.pid)
    return 0


if __name__ == "__main__":
    main(run)
