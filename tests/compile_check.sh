#!/bin/sh
# Compiles factedit.h in every configuration the README promises and runs each build.
# Usage: sh tests/compile_check.sh BUILD_DIR. Prints FAIL lines and "N passed, M failed".
B=${1:-build}/compile
mkdir -p "$B"
W="-Wall -Wextra -Wpedantic -Werror"
passed=0; failed=0
try() { # name, compiler+flags (main and other compiled alike)
  name=$1; shift
  other=tests/compile_other.c
  case "$*" in *FACTEDIT_STATIC*) other="-DTEST_SINGLE_TU";; esac
  if "$@" -I. tests/compile_main.c $other -o "$B/$name" -lm > "$B/$name.log" 2>&1 && "$B/$name" >> "$B/$name.log" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL compile/run: $name ($*)"; sed 's/^/    /' "$B/$name.log" | head -20
  fi
}
for cc in gcc clang; do
  command -v $cc >/dev/null 2>&1 || { echo "note: $cc not installed, skipped"; continue; }
  try "$cc-c99" $cc -std=c99 -O1 $W
  try "$cc-c99-native" $cc -std=c99 -O1 -march=native $W
  try "$cc-static" $cc -std=c99 -O1 $W -DFACTEDIT_STATIC
  try "$cc-alloc" $cc -std=c99 -O1 $W -DTEST_CUSTOM_ALLOC
  try "$cc-nosimd" $cc -std=c99 -O1 -march=native $W -DFACTEDIT_NO_SIMD
  try "$cc-nostdio" $cc -std=c99 -O1 $W -DFACTEDIT_NO_STDIO
  try "$cc-avx2" $cc -std=c99 -O1 -mavx2 -mfma $W
done
for cxx in g++ clang++; do
  command -v $cxx >/dev/null 2>&1 || { echo "note: $cxx not installed, skipped"; continue; }
  try "$cxx-cxx" $cxx -x c++ -std=c++11 -O1 -march=native $W
  try "$cxx-cxx-alloc" $cxx -x c++ -std=c++11 -O1 $W -DTEST_CUSTOM_ALLOC
done
# NEON: where an aarch64 cross compiler and qemu-user are installed (Debian: gcc-aarch64-linux-gnu,
# qemu-user), build the NEON path and run it; the SIMD-vs-scalar tests run the same way by hand:
#   aarch64-linux-gnu-gcc -static -O2 -I. -Itools tests/test_model.c -o t -lm && qemu-aarch64 t
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
  if aarch64-linux-gnu-gcc -std=c99 -O1 -static $W -I. tests/compile_main.c tests/compile_other.c -o "$B/neon" -lm > "$B/neon.log" 2>&1 &&
     qemu-aarch64 "$B/neon" > "$B/neon.out" 2>&1 && grep -q "ok neon" "$B/neon.out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL compile/run: aarch64 NEON under qemu"; sed 's/^/    /' "$B/neon.log" "$B/neon.out" | head -20
  fi
else
  echo "note: aarch64-linux-gnu-gcc or qemu-aarch64 not installed, NEON build skipped"
fi
# The QUICK START at the top of factedit.h, cut out of the comment and compiled as written.
awk '/^   QUICK START/ {on = 1; next} /^   HOW THIS FILE IS ORGANISED/ {on = 0} on' factedit.h | sed 's/^       //' > "$B/quick_start.c"
for cc in gcc clang; do
  command -v $cc >/dev/null 2>&1 || continue
  if grep -q 'fe_rome_compute_rows' "$B/quick_start.c" &&
     $cc -std=c99 -O0 $W -I. "$B/quick_start.c" -o "$B/quick_start-$cc" -lm > "$B/quick_start-$cc.log" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL compile: the QUICK START of factedit.h with $cc"; sed 's/^/    /' "$B/quick_start-$cc.log" | head -20
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
