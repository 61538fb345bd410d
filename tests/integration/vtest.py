"""Helpers for the vellumctl integration tests: run the real binary in a
fresh temporary data dir and check exit status and output."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


class Failure(Exception):
    pass


class Ctl:
    def __init__(self, binary):
        self.binary = os.path.abspath(binary)
        self.tmp = tempfile.mkdtemp(prefix="vellumctl-test-")
        self.data = os.path.join(self.tmp, "data")
        self.checks = 0

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def run(self, *args, expect=0, input=None, data=True, binary_out=False):
        argv = [self.binary] + (["-d", self.data] if data else []) + \
            [str(a) for a in args]
        p = subprocess.run(argv, input=input.encode() if isinstance(
            input, str) else input, capture_output=True, timeout=600)
        out = p.stdout if binary_out else p.stdout.decode("utf-8",
                                                          "replace")
        err = p.stderr.decode("utf-8", "replace")
        self.checks += 1
        if expect is not None and p.returncode != expect:
            raise Failure("%s: exit %d, expected %d\nstdout: %s\nstderr: %s"
                          % (" ".join(argv[1:]), p.returncode, expect,
                             out[:2000], err[:2000]))
        return out, err

    def json(self, *args):
        out, _ = self.run(*args, "--json")
        try:
            return json.loads(out)
        except ValueError as e:
            raise Failure("%s --json: not JSON (%s): %r" % (
                " ".join(map(str, args)), e, out[:2000]))

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def check(cond, what, saw):
    if not cond:
        raise Failure("%s; saw: %r" % (what, saw))


def main(fn):
    if len(sys.argv) < 2:
        print("usage: %s VELLUMCTL [args]" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    ctl = Ctl(sys.argv[1])
    try:
        rc = fn(ctl, sys.argv[2:])
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        print("(data left in %s)" % ctl.tmp, file=sys.stderr)
        sys.exit(1)
    if rc == SKIP:
        ctl.cleanup()
        sys.exit(SKIP)
    print("ok: %d vellumctl runs checked" % ctl.checks)
    ctl.cleanup()
    sys.exit(0)
