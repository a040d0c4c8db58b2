# Shared by the CLI test scripts (sourced after T, the scratch directory, is set):
#   run NAME WANT_RC PHRASE CMD...  runs CMD (stdout -> $T/out, stderr -> $T/err); WANT_RC is 0,
#       1 (failure) or 2 (usage); PHRASE (may be empty) must appear on stderr for a failure, on
#       stdout for a success. A crash (signal) or a sanitizer report fails the check.
#   ok / bad MSG / same NAME ACTUAL EXPECTED / differ NAME A B
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
run() {
  name=$1; want=$2; phrase=$3; shift 3
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
  if [ $rc -ge 128 ]; then bad "$name: crashed (exit status $rc): $(head -c 300 "$T/err")"; return; fi
  if grep -q -e 'Sanitizer' -e 'runtime error:' "$T/err"; then bad "$name: sanitizer report: $(head -c 300 "$T/err")"; return; fi
  if [ "$rc" != "$want" ]; then bad "$name: exit status $rc, want $want; stderr: $(head -c 400 "$T/err")"; return; fi
  if [ -n "$phrase" ]; then
    if [ "$want" = 0 ]; then where="$T/out"; else where="$T/err"; fi
    if ! grep -q -F -e "$phrase" "$where"; then
      bad "$name: '$phrase' not in $(basename "$where"): $(head -c 400 "$where")"; return
    fi
  fi
  if [ "$want" != 0 ] && ! grep -q 'factedit' "$T/err"; then bad "$name: no 'factedit ...' message on stderr"; return; fi
  ok
}
same() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
differ() { if [ "$2" != "$3" ]; then ok; else bad "$1: both are '$2'"; fi; }
# AS_USER: a command prefix that runs a command without root's privileges, so that tests of
# "Permission denied" also work when the suite runs as root (root ignores file permissions): an
# unprivileged uid via setpriv when we are root, nothing otherwise. NO_PERM_TESTS says why such
# tests are skipped when that is impossible. open_tmp DIR makes the scratch directory reachable
# for that user.
AS_USER=""; NO_PERM_TESTS=""
if [ "$(id -u)" = 0 ]; then
  if command -v setpriv >/dev/null 2>&1 && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
    AS_USER="setpriv --reuid=65534 --regid=65534 --clear-groups"
  else NO_PERM_TESTS="running as root without setpriv: root ignores file permissions"; fi
fi
open_tmp() { chmod 755 "$1"; }
# a pid that is certainly not running: a child that has exited
dead_pid() { sh -c 'exit 0' & p=$!; wait $p; echo $p; }
