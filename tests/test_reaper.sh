#!/bin/sh
# tests/reaper.c: a test that leaves a process running fails (exit 1) and
# the process is named and stopped, even when it was orphaned (double
# fork) or its parent ignored SIGTERM; a test that stops what it starts
# keeps its own exit status (0, 1, 77).
# Usage: test_reaper.sh REAPER
reaper=$1
export VELLUM_REAPER_GRACE_MS=500
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$reaper" sh -c 'exit 0' 2>"$tmp/err" || fail "a clean test failed: $(cat "$tmp/err")"
"$reaper" sh -c 'exit 77'; rc=$?
[ "$rc" -eq 77 ] || fail "a skipped test gave $rc, not 77"
"$reaper" sh -c 'exit 3'; rc=$?
[ "$rc" -eq 3 ] || fail "a failed test gave $rc, not 3"
# An orphan that ends soon by itself is not a leak.
"$reaper" sh -c '(sleep 0.1 &) ; sleep 1; exit 0' 2>"$tmp/err" ||
	fail "a child ending on its own counted as a leak: $(cat "$tmp/err")"

# A double-forked leftover (its parent gone: reparented to the reaper).
marker="reaper-test-leftover-$$"
"$reaper" sh -c "(bash -c 'exec -a $marker sleep 300' &) ; exit 0" \
	2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "a test that leaked a process exited $rc, not 1"
grep -q "left 1 process running" "$tmp/err" ||
	fail "the reaper did not say how many: $(cat "$tmp/err")"
grep -q "pid [0-9]*: $marker 300" "$tmp/err" ||
	fail "the reaper did not name the leftover: $(cat "$tmp/err")"
pgrep -f "^$marker" >/dev/null && fail "the leftover still runs"

# A leftover that ignores SIGTERM, and its own child: both killed.
printf "trap '' TERM\nsleep 300 &\nwait\n" > "$tmp/stubborn.sh"
"$reaper" sh -c "(bash -c 'exec -a $marker-a bash $tmp/stubborn.sh' &) ; exit 0" \
	2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "a test that leaked a SIGTERM-proof tree exited $rc"
grep -q "left 2 processes running" "$tmp/err" ||
	fail "both processes of the tree are not counted: $(cat "$tmp/err")"
pgrep -f "^$marker-a" >/dev/null && fail "the SIGTERM-proof leftover runs"

# A failing test that also leaks keeps its own status.
"$reaper" sh -c "(bash -c 'exec -a $marker-b sleep 300' &) ; exit 5" \
	2>"$tmp/err"
rc=$?
[ "$rc" -eq 5 ] || fail "a failing, leaking test gave $rc, not 5"
pgrep -f "^$marker-b" >/dev/null && fail "the leftover of a failed test runs"
echo "ok: the reaper fails tests that leave processes behind"
