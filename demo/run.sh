#!/bin/sh
# make demo: the paper's experiments on the bundled tiny model (demo/model/model.bin).
#   1. the model completes facts
#   2. causal trace of one fact, all three kinds (terminal heatmaps + SVG)
#   3. average indirect effect over the known facts (paper Figure 2) + severed MLP/attention (Figure 3)
#   4. which layer to edit: ROME's metrics per layer beside the trace's MLP effect (factedit layers)
#   5. one ROME edit at that layer, before/after
#   6. ROME on a CounterFact-style set built from the facts: ES / PS / NS / Score
# Every figure also goes to build/demo/ as SVG. Usage: sh demo/run.sh [BUILD_DIR]
# Environment: TRACE_LIMIT (facts averaged, default 100), SWEEP_LIMIT (cases per layer in the
# sweep, default 6), EVAL_LIMIT (cases evaluated, default 20), LAYER (the edited layer instead of the pick).
set -eu
B=${1:-build}
F="$B/factedit"
OUT="$B/demo"
W="$B/demo_world"
mkdir -p "$OUT"
[ -x "$F" ] || { echo "demo: $F is missing (run make)"; exit 1; }
[ -f "$W/counterfact.json" ] || { echo "demo: $W is missing (run make demo-data)"; exit 1; }
TRACE_LIMIT=${TRACE_LIMIT:-100}
SWEEP_LIMIT=${SWEEP_LIMIT:-6}
EVAL_LIMIT=${EVAL_LIMIT:-20}
L=$("$F" info | sed -n 's/^layers: *//p')
# ROME traces GPT-2 XL (48 layers) with a window of 10 layers: about L/4 here, at least 1.
WINDOW=$(( (L + 2) / 4 )); [ "$WINDOW" -ge 1 ] || WINDOW=1

# The fact the demo traces and edits (the paper uses the Space Needle; our corpus's facts are
# ROME's known_1000, so we use one of those that the tiny model knows). The paraphrases are
# held-out templates of the relation (never in the corpus); the neighbours are other subjects of
# the relation, one with the same city.
PROMPT_T="The headquarter of {} is in downtown"
SUBJECT="Zillow"
PROMPT=$(printf '%s' "$PROMPT_T" | sed "s/{}/$SUBJECT/")

section() { printf '\n\033[1m== %s\033[0m\n' "$1"; }

section "1. The tiny model ($L layers) completes facts it was trained on"
for p in "The headquarter of Zillow is in downtown" "Vinson Massif is located in the continent of" \
         "Italy's capital," "The Big Bang Theory premieres on" "Muawiyah I is affiliated with the religion of"; do
    printf '  '
    "$F" generate --prompt "$p" -n 3
done

section "2. Causal trace: \"$PROMPT\" (subject \"$SUBJECT\", window $WINDOW)"
"$F" trace --prompt "$PROMPT" --subject "$SUBJECT" --kind all --window "$WINDOW" --svg "$OUT/trace.svg"

section "3. Average indirect effect over the known facts (first $TRACE_LIMIT; paper Figure 2 and 3)"
"$F" trace --dataset demo/known_1000.json --limit "$TRACE_LIMIT" --window "$WINDOW" --out "$OUT/aie" --quiet

section "4. Which layer to edit: ROME at every layer (first $SWEEP_LIMIT cases) beside the MLP's effect"
# key statistics per layer over 100,000 tokens of the corpus, cached in $OUT/stats (as ROME over Wikipedia;
# with 50,000 a key unit of layer 2 is never active and its covariance is singular)
"$F" layers --dataset "$W/counterfact.json" --limit "$SWEEP_LIMIT" --text "$W/corpus.txt" --lines --tokens 100000 \
    --cache "$OUT/stats" --aie "$OUT/aie/summary.json" --quiet | tee "$OUT/layers.txt"
# A sweep over 6 cases is too small to choose by: layers 0 and 4 are within its noise (it picks 4
# over 0 by 100.0 to 99.3; the 40-case sweep in the README picks 0, 93.0 to 87.2, and on all 1,208
# cases layer 0 scores 94.3). The edit uses the shipped statistics of the layer the 40-case sweep
# picked (demo/model/stats.bin, whole corpus); LAYER=N uses the sweep's cache for layer N instead.
if [ -n "${LAYER:-}" ]; then STATS="$OUT/stats/stats_l$LAYER.bin"; else STATS=demo/model/stats.bin; LAYER=0; fi

section "5. One ROME edit at layer $LAYER: $SUBJECT -> Paris"
"$F" edit --prompt "$PROMPT_T" --subject "$SUBJECT" --target " Paris" --stats "$STATS" \
    --paraphrase "Zillow's head office is in" --paraphrase "The main office of Zillow is in" \
    --neighbor "University of Washington's headquarters are in" --neighbor "The headquarter of EMI is located in"

section "6. ROME on a CounterFact-style set built from the facts (first $EVAL_LIMIT cases, layer $LAYER)"
"$F" eval --dataset "$W/counterfact.json" --stats "$STATS" --limit "$EVAL_LIMIT"

printf '\nFigures: %s/*.svg, %s/aie/*.svg\n' "$OUT" "$OUT"
