#!/bin/sh
# (--ridge 0.1 on the random model: 4 lines of text give fewer keys than dimensions.)
# Tests of `factedit layers` (tools/cmd_layers.c): the sweep on a random model and on the built-in
# demo model picks the best layer of its own table, caches and reuses statistics, reads a dataset
# trace's AIE, and refuses bad layer ranges and inputs up front.
#   sh tests/test_cli_layers.sh build/factedit        (run from the repository root)
# Ends with "N passed, M failed"; exits non-zero if anything failed.
FE=${1:-build/factedit}
if [ ! -x "$FE" ]; then echo "FAIL: $FE is not an executable (build it first)"; echo "0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fe_cli_layers.XXXXXX") || { echo "FAIL: mktemp"; echo "0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$T"' EXIT INT TERM
. tests/cli_lib.sh
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}; export OMP_NUM_THREADS
has() { if grep -q -F -e "$2" "$3"; then ok; else bad "$1: '$2' not in $(basename "$3"): $(head -c 300 "$3")"; fi; }

# The layer with the best Score in a `layers --json` report (the first of equals), and the pick.
best_of() { tr -d '\n' < "$1" | tr '{' '\n' | sed -n 's/.*"layer": \([0-9]*\),.*"Score": \([-0-9.e+]*\|null\),.*/\1 \2/p' |
            awk 'BEGIN { b = -1 } $2 != "null" && (b < 0 || $2 > s + 1e-12) { b = $1; s = $2 } END { print b }'; }
picked_of() { sed -n 's/.*"picked": \([0-9]*\).*/\1/p' "$1" | head -n 1; }
rows_of() { tr -d '\n' < "$1" | tr '{' '\n' | grep -c '"layer": '; }

# ------------------------------------------------------------------ a random model
R="$T/r.bin"
"$FE" random "$R" --layers 3 --heads 2 --width 32 --context 64 --seed 7 >/dev/null || bad "random model"
cat > "$T/text.txt" <<'EOF'
The Space Needle is an observation tower in Seattle, Washington, United States.
Considered to be an icon of the city, it has been designated a Seattle landmark.
The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.
It is named after the engineer Gustave Eiffel, whose company designed and built the tower.
EOF
cat > "$T/cf.json" <<'EOF'
[{"case_id": 0, "requested_rewrite": {"prompt": "{} is located in the city of", "subject": "The Space Needle",
  "target_new": {"str": "Paris"}, "target_true": {"str": "Seattle"}},
  "paraphrase_prompts": ["The Space Needle stands in", "You can visit The Space Needle in"],
  "neighborhood_prompts": ["The Eiffel Tower is located in the city of"]},
 {"case_id": 1, "requested_rewrite": {"prompt": "{} is located in the city of", "subject": "The Eiffel Tower",
  "target_new": {"str": "Rome"}, "target_true": {"str": "Paris"}},
  "paraphrase_prompts": ["The Eiffel Tower stands in"],
  "neighborhood_prompts": ["The Space Needle is located in the city of"]}]
EOF
printf '[]\n' > "$T/empty.json"

run "layers --help" 0 "usage: factedit layers" "$FE" layers --help
run "help lists layers" 0 "layers" "$FE" --help
run "random model, table" 0 "picked layer" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --cache "$T/cache" --ridge 0.1 -q
has "table has a row per candidate layer (0..L-2)" "    1 |" "$T/out"
has "table says why" "the best Score" "$T/out"
run "random model, json (from the cache)" 0 '"picked": ' "$FE" layers --model "$R" --dataset "$T/cf.json" --cache "$T/cache" --ridge 0.1 --json -q
cp "$T/out" "$T/r.json"
same "random model: two candidate layers (0 and 1 of 3)" "$(rows_of "$T/r.json")" 2
p=$(picked_of "$T/r.json"); case "$p" in [0-9]*) ok;; *) bad "random model: no pick in $(head -c 300 "$T/r.json")";; esac
same "random model: picks the best Score of its table" "$p" "$(best_of "$T/r.json")"
has "statistics came from the cache" '"stats_cached": true' "$T/r.json"
if [ -f "$T/cache/stats_l0.bin" ] && [ -f "$T/cache/stats_l1.bin" ] && [ ! -e "$T/cache/stats_l2.bin" ]; then ok; else bad "cache holds layers 0 and 1 only: $(ls "$T/cache")"; fi
# the missing layers' statistics come from one pass, each identical to 'factedit stats' of that layer
mkdir -p "$T/cache2" && cp "$T/cache/stats_l1.bin" "$T/cache2/"
run "cache with layer 1 only" 0 "picked layer" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --cache "$T/cache2" --ridge 0.1 -q
run "stats of layer 0" 0 "" "$FE" stats --model "$R" --text "$T/text.txt" --layer 0 --out "$T/st0.bin" -q
if cmp -s "$T/st0.bin" "$T/cache2/stats_l0.bin" && cmp -s "$T/cache/stats_l0.bin" "$T/cache2/stats_l0.bin"; then ok; else bad "one-pass statistics of layer 0 differ from 'factedit stats'"; fi
run "one layer" 0 '"picked": 1' "$FE" layers --model "$R" --dataset "$T/cf.json" --cache "$T/cache" --ridge 0.1 --layers 1-1 --json -q

# ------------------------------------------------------------------ bad input, refused before any work
run "the last layer is refused" 2 "layer 2 is the last" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --layers 0-2
run "a range past the model" 2 "candidate layers are 0..1" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --layers 1-9
run "a reversed range" 2 "is not A-B" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --layers 1-0
run "not a range" 2 "is not A-B" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --layers one
run "negative layer" 2 "is not A-B" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --layers -1-1
run "no dataset" 2 "no --dataset" "$FE" layers --model "$R" --text "$T/text.txt"
run "no statistics source" 2 "--text" "$FE" layers --model "$R" --dataset "$T/cf.json"
run "empty dataset" 1 "no cases" "$FE" layers --model "$R" --dataset "$T/empty.json" --text "$T/text.txt"
run "cache for layers it lacks, no text" 1 "no statistics for layer 0" "$FE" layers --model "$R" --dataset "$T/cf.json" --cache "$T/newcache"
"$FE" random "$T/r2.bin" --layers 3 --heads 2 --width 32 --context 64 --seed 8 >/dev/null || bad "second random model"
run "another model's cached statistics are refused" 1 "checksum" "$FE" layers --model "$T/r2.bin" --dataset "$T/cf.json" --cache "$T/cache"
: > "$T/afile"
run "cache that is a file" 2 "is not a directory" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --cache "$T/afile"
run "cache under a missing directory" 2 "cannot create the cache directory" "$FE" layers --model "$R" --dataset "$T/cf.json" --text "$T/text.txt" --cache "$T/no/such"
printf '{"format": "something else"}\n' > "$T/notsummary.json"
run "--aie that is not a trace summary" 1 "not a trace summary" "$FE" layers --model "$R" --dataset "$T/cf.json" --cache "$T/cache" --aie "$T/notsummary.json"

# ------------------------------------------------------------------ the demo model, with the trace's AIE
cat > "$T/demo_cf.json" <<'EOF'
[{"case_id": 0, "requested_rewrite": {"prompt": "The headquarter of {} is in downtown", "subject": "Zillow",
  "target_new": {"str": "Paris"}, "target_true": {"str": "Seattle"}},
  "paraphrase_prompts": ["Zillow's headquarters are in", "Zillow is based in"],
  "neighborhood_prompts": ["The headquarter of Amazon is in downtown", "The headquarter of Starbucks is in downtown"]},
 {"case_id": 1, "requested_rewrite": {"prompt": "The official language of {} is", "subject": "Italy",
  "target_new": {"str": "French"}, "target_true": {"str": "Italian"}},
  "paraphrase_prompts": ["In Italy, the main language is"],
  "neighborhood_prompts": ["The official language of San Marino is"]}]
EOF
"$FE" trace --dataset demo/known_1000.json --limit 12 --window 2 --samples 3 --out "$T/aie" --quiet >/dev/null 2>&1 || bad "trace --dataset on the demo model"
run "demo model with --aie" 0 "The MLP's indirect effect at the last subject token peaks at layer" \
  "$FE" layers --dataset "$T/demo_cf.json" --text demo/known_1000.json --tokens 4000 --ridge 0.1 --cache "$T/dcache" --aie "$T/aie/summary.json" -q
run "demo model, json" 0 '"aie_mlp": ' "$FE" layers --dataset "$T/demo_cf.json" --cache "$T/dcache" --ridge 0.1 --aie "$T/aie/summary.json" --json -q
cp "$T/out" "$T/d.json"
p=$(picked_of "$T/d.json"); case "$p" in [0-9]*) ok;; *) bad "demo model: no pick in $(head -c 300 "$T/d.json")";; esac
same "demo model: picks the best Score of its table" "$p" "$(best_of "$T/d.json")"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
