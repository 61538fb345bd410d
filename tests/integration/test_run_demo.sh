#!/bin/sh
# `make run` demo: admin/run-demo makes ./var with example.test and
# demo@example.test, and a second run changes nothing and says so.
# Usage: test_run_demo.sh RUN_DEMO VELLUMCTL
demo=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ctl=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
build=$(dirname "$(dirname "$ctl")")
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$demo" "$build" 2>&1) || fail "first run exited $?: $out"
echo "$out" | grep -q "domain example.test added" ||
	fail "first run does not say it added the domain: $out"
"$ctl" -d ./var user show demo@example.test | grep -q "password: *set" ||
	fail "demo user missing or without password: $("$ctl" -d ./var \
	    user show demo@example.test 2>&1)"
out=$("$demo" "$build" 2>&1) || fail "second run exited $?: $out"
echo "$out" | grep -q "domain example.test: already there" ||
	fail "second run does not say the domain exists: $out"
echo "$out" | grep -q "user demo@example.test: already there" ||
	fail "second run does not say the user exists: $out"
n=$("$ctl" -d ./var user list | wc -l)
[ "$n" -eq 1 ] || fail "expected 1 user after two runs, saw $n"
"$ctl" -d ./var store check | grep -q "^store check: ok" ||
	fail "store check after run-demo: $("$ctl" -d ./var store check 2>&1)"
echo "ok: run-demo is idempotent"
