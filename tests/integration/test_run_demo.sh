#!/bin/sh
# `make run` demo: admin/run-demo makes ./var with example.test and
# demo@example.test, and a second run changes nothing and says so.
# VELLUM_RUN_DEMO_NO_DAEMON=1 keeps it from starting vellumd; a last run
# without it, on a build dir whose vellumd is a stand-in script, proves
# that it execs vellumd on the embedded default (no -c) after the store,
# and says where the file view is (./var/mail/...) or why it is off: as
# /dev/fuse is here, and with /dev/null bind-mounted over it in a private
# mount namespace (when `unshare -m` may do that).
# Usage: test_run_demo.sh RUN_DEMO VELLUMCTL
demo=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ctl=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
build=$(dirname "$(dirname "$ctl")")
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

export VELLUM_RUN_DEMO_NO_DAEMON=1
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

unset VELLUM_RUN_DEMO_NO_DAEMON
mkdir -p fake/admin || exit 1
ln -s "$ctl" fake/admin/vellumctl || exit 1
cat > fake/admin/vellumd <<'EOT'
#!/bin/sh
echo "stand-in vellumd: $# args, cwd $(pwd)"
EOT
chmod +x fake/admin/vellumd
out=$("$demo" fake 2>&1) || fail "run with vellumd exited $?: $out"
echo "$out" | grep -q "stand-in vellumd: 0 args, cwd $tmp" ||
	fail "run-demo did not exec vellumd without arguments: $out"
echo "$out" | grep -q "127.0.0.1:1110" ||
	fail "run-demo does not say where to connect (POP3 1110): $out"
echo "$out" | grep -q "127.0.0.1:1995" ||
	fail "run-demo does not say where to connect (POP3S 1995): $out"
echo "$out" | grep -q "127.0.0.1:1143" ||
	fail "run-demo does not say where to connect (IMAP 1143): $out"
echo "$out" | grep -q "127.0.0.1:1993" ||
	fail "run-demo does not say where to connect (IMAPS 1993): $out"
echo "$out" | grep -q "later issue" &&
	fail "run-demo still says the FUSE view comes later: $out"

# The file view: found here without run-demo's own check.
maildir=./var/mail/example.test/demo/Mail
files="  FILES  $maildir (a Maildir: mutt -f $maildir)"
usable=no
if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ] &&
    [ "$(stat -L -c '%t:%T' /dev/fuse)" = a:e5 ] &&
    python3 -c 'import os; os.close(os.open("/dev/fuse", os.O_RDWR))' \
    2>/dev/null; then
	usable=yes
fi
if [ $usable = yes ]; then
	echo "$out" | grep -qxF "$files" ||
		fail "run-demo does not say where the file view is" \
		    "('$files'): $out"
else
	echo "$out" | grep -q "^  FILES  off: ." ||
		fail "/dev/fuse is not usable here, yet run-demo does not" \
		    "say the file view is off and why: $out"
	echo "$out" | grep -qF "$maildir" &&
		fail "run-demo names $maildir though the file view is off: $out"
fi
if unshare -m --propagation private sh -c \
    'mount --bind /dev/null /dev/fuse' 2>/dev/null; then
	out=$(unshare -m --propagation private sh -c \
	    'mount --bind /dev/null /dev/fuse && exec "$0" "$@"' \
	    "$demo" fake 2>&1) || fail "run without /dev/fuse exited $?: $out"
	off="  FILES  off: /dev/fuse is not the FUSE device (char 1:3)"
	echo "$out" | grep -qxF "$off" ||
		fail "with /dev/null over /dev/fuse run-demo does not say" \
		    "the file view is off and why: $out"
	echo "$out" | grep -q "stand-in vellumd" ||
		fail "without /dev/fuse run-demo did not start vellumd: $out"
	echo "ok: without /dev/fuse: $(echo "$out" | grep FILES)"
else
	echo "(not tested: run-demo without /dev/fuse; unshare -m cannot" \
	    "bind-mount over it here)"
fi
echo "ok: run-demo is idempotent and starts vellumd (file view" \
    "usable: $usable)"
