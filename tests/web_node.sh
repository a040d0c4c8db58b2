#!/bin/sh
# make test's part of the page (issue 17): builds the WebAssembly module and the same API natively,
# then tests/web_node.js compares them on the demo model. Skips, saying why, when node or the
# wasm toolchain is missing (the total then counts nothing for it). Usage: sh tests/web_node.sh BUILD_DIR
B=${1:-build}
MAKE=${MAKE:-make}
if ! command -v node >/dev/null 2>&1; then
    echo "web: SKIPPED: node is not installed (Debian package nodejs): the WebAssembly module is not tested"
    exit 0
fi
if ! $MAKE -s --no-print-directory B="$B" wasm-toolchain >/dev/null 2>&1; then
    echo "web: SKIPPED: no clang for wasm32-wasi (Debian packages clang lld wasi-libc libclang-rt-dev-wasm32): the WebAssembly module is not tested"
    exit 0
fi
if ! $MAKE -s --no-print-directory B="$B" "$B/web/factedit.wasm" "$B/web_native" "$B/test_wasm_kernels.wasm" \
    "$B/web_scalar.wasm" "$B/web_native_scalar" >"$B/web_build.log" 2>&1; then
    cat "$B/web_build.log"
    echo "web: building the module or web_native failed"
    exit 1
fi
STATS=demo/model/stats.bin
if [ ! -f "$STATS" ]; then
    echo "web: note: demo/model/stats.bin is missing: the edits run without key statistics (u = k*/|k*|)"
    STATS=-
fi
# the SIMD128 module against the native build (within 1e-5), then the scalar module against the
# scalar native build without contraction (bit for bit); one total line
out=$(node --no-warnings tests/web_node.js "$B/web/factedit.wasm" "$B/web_native" demo/model "$STATS" "$B/web_test.patch" "$B/test_wasm_kernels.wasm"; echo "rc $?")
out2=$(node --no-warnings tests/web_node.js --bit-exact "$B/web_scalar.wasm" "$B/web_native_scalar" demo/model "$STATS" "$B/web_test_scalar.patch"; echo "rc $?")
printf '%s\n%s\n' "$out" "$out2" | grep -v -E '^([0-9]+ passed, [0-9]+ failed|rc [0-9]+)$'
p=0; f=0
for line in $(printf '%s\n%s\n' "$out" "$out2" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1:\2/p'); do
    p=$((p + ${line%%:*})); f=$((f + ${line##*:}))
done
for rc in $(printf '%s\n%s\n' "$out" "$out2" | sed -n 's/^rc //p'); do
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "web: tests/web_node.js exited with status $rc"; fi
done
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
