#!/bin/sh
# Runs every test program named on the command line (as "binary args..." strings), prints each
# program's own output, then one total line "N passed, M failed". A program that crashes or exits
# non-zero without reporting a failure counts as one failure: the total never hides a crash.
passed=0; failed=0
for cmd in "$@"; do
  name=${cmd%% *}; case "$name" in sh) name=${cmd#sh }; name=${name%% *};; esac
  out=$(sh -c "$cmd" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$' | sed "s#^#  #"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -n "$line" ]; then
    p=$(echo "$line" | cut -d' ' -f1); f=$(echo "$line" | cut -d' ' -f3)
  else
    p=0; f=0
  fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  $name exited with status $rc"; fi
  printf '%-34s %s passed, %s failed\n' "$(basename "$name")" "$p" "$f"
  passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
