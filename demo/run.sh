#!/bin/sh
# make demo: the paper's experiments on the bundled tiny model (demo/model.bin).
#   1. the model completes facts
#   2. causal trace of one fact, all three kinds (terminal heatmaps + SVG)
#   3. average indirect effect over the known facts (paper Figure 2) + severed MLP/attention (Figure 3)
#   4. key statistics from the corpus (cached) and one ROME edit, before/after
#   5. ROME on a CounterFact-style set built from the facts: ES / PS / NS / Score
# Every figure also goes to build/demo/ as SVG. Usage: sh demo/run.sh [BUILD_DIR]
set -eu
B=${1:-build}
F="$B/factedit"
OUT="$B/demo"
W="$B/demo_world"
mkdir -p "$OUT"
[ -x "$F" ] || { echo "demo: $F is missing (run make)"; exit 1; }
[ -f "$W/counterfact.json" ] || { echo "demo: $W is missing (run make demo-data)"; exit 1; }
TRACE_LIMIT=${TRACE_LIMIT:-200}
EVAL_LIMIT=${EVAL_LIMIT:-20}

# The fact the demo traces and edits (the paper uses the Space Needle; our corpus's facts are
# ROME's known_1000, so we use one of those that the tiny model knows).
PROMPT_T="The headquarter of {} is in downtown"
SUBJECT="Zillow"
PROMPT=$(printf '%s' "$PROMPT_T" | sed "s/{}/$SUBJECT/")

section() { printf '\n\033[1m== %s\033[0m\n' "$1"; }

section "1. The tiny model completes facts it was trained on"
for p in "The headquarter of Zillow is in downtown" "Vinson Massif is located in the continent of" \
         "The official language of Italy is" "Egypt's capital," "Danielle Darrieux's mother tongue is"; do
    printf '  '
    "$F" generate --prompt "$p" -n 3
done

section "2. Causal trace: \"$PROMPT\" (subject \"$SUBJECT\")"
# ROME uses a window of 10 layers on GPT-2 XL's 48; our model has 4 layers, so the window is 2.
"$F" trace --prompt "$PROMPT" --subject "$SUBJECT" --kind all --window 2 --svg "$OUT/trace.svg"

section "3. Average indirect effect over the known facts (first $TRACE_LIMIT; paper Figure 2 and 3)"
"$F" trace --dataset demo/known_1000.json --limit "$TRACE_LIMIT" --window 2 --out "$OUT/aie" --quiet

section "4. Key statistics (cached) and one ROME edit: $SUBJECT -> Paris"
LAYER=${LAYER:-}
STATS="$OUT/stats.bin"
if [ ! -f "$STATS" ]; then
    "$F" stats ${LAYER:+--layer $LAYER} --text "$W/corpus.txt" --out "$STATS"
fi
"$F" edit --prompt "$PROMPT_T" --subject "$SUBJECT" --target " Paris" --stats "$STATS" ${LAYER:+--layer $LAYER} \
    --paraphrase "Zillow's headquarters are in" --paraphrase "Zillow is based in" \
    --neighbor "The headquarter of Amazon is in downtown" --neighbor "The headquarter of Starbucks is in"

section "5. ROME on a CounterFact-style set built from the facts (first $EVAL_LIMIT cases)"
"$F" eval --dataset "$W/counterfact.json" --stats "$STATS" ${LAYER:+--layer $LAYER} --limit "$EVAL_LIMIT"

printf '\nFigures: %s/*.svg, %s/aie/*.svg\n' "$OUT" "$OUT"
