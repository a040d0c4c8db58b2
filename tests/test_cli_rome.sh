#!/bin/sh
# Tests of `factedit stats`, `factedit edit` and `factedit eval` (tools/cmd_rome.c): success cases,
# file outputs (atomic, byte-identical where they must be), shards + merge, and error exits.
#   sh tests/test_cli_rome.sh build/factedit        (run from the repository root)
# (Without --model the tools use the built-in demo model, so that is not an error here.)
# Same conventions as tests/test_cli.sh: exit status 0 / 1 (failure) / 2 (usage error), a phrase
# on stdout (success) or stderr (failure); a crash or a sanitizer report fails the check.
# Ends with "N passed, M failed"; exits non-zero if anything failed.
FE=${1:-build/factedit}
if [ ! -x "$FE" ]; then echo "FAIL: $FE is not an executable (build it first)"; echo "0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fe_cli_rome.XXXXXX") || { echo "FAIL: mktemp"; echo "0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$T"' EXIT INT TERM
. tests/cli_lib.sh
# one thread: these models are tiny, and the numbers do not depend on the thread count anyway
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}; export OMP_NUM_THREADS


has() { if grep -q -F -e "$2" "$3"; then ok; else bad "$1: '$2' not in $(basename "$3"): $(head -c 300 "$3")"; fi; }
hasnt() { if grep -q -F -e "$2" "$3"; then bad "$1: '$2' in $(basename "$3")"; else ok; fi; }
same_file() { if cmp -s "$2" "$3"; then ok; else bad "$1: $2 and $3 differ"; fi; }
exists() { if [ -s "$2" ]; then ok; else bad "$1: $2 missing or empty"; fi; }
absent() { if [ -e "$2" ]; then bad "$1: $2 exists"; else ok; fi; }
no_temps() { if ls "$1" | grep -q '\.tmp'; then bad "$2: temporary file left in $1: $(ls "$1")"; else ok; fi; }
json_ok() {   # valid JSON, when python3 is there to say so
  if command -v python3 >/dev/null 2>&1; then
    if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$2" 2>/dev/null; then ok; else bad "$1: $2 is not valid JSON: $(head -c 300 "$2")"; fi
  fi
}

# ------------------------------------------------------------------ fixtures
# random models with GPT-2's vocabulary (built into the tool): 3 layers (ROME's default layer: 1)
R="$T/r.bin"; R2="$T/r2.bin"
"$FE" random "$R" --layers 3 --heads 2 --width 32 --context 64 --seed 7 >/dev/null || bad "random model"
"$FE" random "$R2" --layers 3 --heads 2 --width 32 --context 64 --seed 8 >/dev/null || bad "second random model"
"$FE" random "$T/small.bin" --layers 2 --heads 2 --width 16 --context 12 --seed 9 >/dev/null || bad "small-context model"
cat > "$T/text.txt" <<'EOF'
The Space Needle is an observation tower in Seattle, Washington, United States.
Considered to be an icon of the city, it has been designated a Seattle landmark.
Located in the Lower Queen Anne neighborhood, it was built in the Seattle Center for the 1962 World's Fair.
The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.
It is named after the engineer Gustave Eiffel, whose company designed and built the tower.
EOF
printf '{}\nYesterday it rained. {}\nI read about it. {}\n' > "$T/tpl.txt"
printf '{}\nno fill here\n' > "$T/badtpl.txt"
: > "$T/empty.txt"
P="{} is located in the city of"

# ------------------------------------------------------------------ help
for c in stats edit eval; do
  run "$c --help" 0 "usage: factedit $c" "$FE" "$c" --help
  run "$c --help: --model is optional" 0 "usage: factedit $c [--model FILE]" "$FE" "$c" --help
  has "$c --help: --model's default" "llm.c checkpoint (default: the built-in demo model)" "$T/out"
done
run "help lists edit" 0 "edit" "$FE" --help
run "edit help mentions --paraphrase" 0 "--paraphrase TEXT" "$FE" edit --help

# ------------------------------------------------------------------ stats
S="$T/s1.bin"
run "stats" 0 "wrote $S: layer 1," "$FE" stats --model "$R" --layer 1 --text "$T/text.txt" --out "$S"
exists "stats file" "$S"
# 64-byte header + upper triangle of a 128 x 128 matrix (4 x width 32) in float64
same "stats file size" "$(wc -c < "$S" | tr -d ' ')" $((64 + 8 * 128 * 129 / 2))
has "stats progress on stderr" "factedit stats:" "$T/err"
has "stats: few tokens note" "singular" "$T/err"
no_temps "$T" "stats"
run "stats default layer" 0 "layer 1," "$FE" stats --model "$R" --text "$T/text.txt" --out "$T/s_default.bin" -q
same_file "stats: same inputs, same bytes" "$S" "$T/s_default.bin"
run "stats --tokens" 0 ", 50 tokens," "$FE" stats --model "$R" --text "$T/text.txt" --tokens 50 --out "$T/s50.bin" -q
run "stats --lines" 0 "wrote" "$FE" stats --model "$R" --text "$T/text.txt" --lines --out "$T/slines.bin" -q
run "stats --seq-len" 0 "wrote" "$FE" stats --model "$R" --text "$T/text.txt" --seq-len 16 --out "$T/s16.bin" -q
run "stats layer 0" 0 "layer 0," "$FE" stats --model "$R" --layer 0 --text "$T/text.txt" --out "$T/s_l0.bin" -q
run "stats other model" 0 "wrote" "$FE" stats --model "$R2" --layer 1 --text "$T/text.txt" --out "$T/s_r2.bin" -q
run "stats no --text" 2 "no --text given" "$FE" stats --model "$R" --out "$T/x.bin"
run "stats no --out" 2 "no --out given" "$FE" stats --model "$R" --text "$T/text.txt"
run "stats missing text" 1 "cannot open" "$FE" stats --model "$R" --text "$T/nope.txt" --out "$T/x.bin"
run "stats empty text" 1 "has no tokens" "$FE" stats --model "$R" --text "$T/empty.txt" --out "$T/x.bin"
run "stats layer out of range" 1 "outside the model's layers 0..2" "$FE" stats --model "$R" --layer 3 --text "$T/text.txt" --out "$T/x.bin"
run "stats at the last layer" 1 "layer 2 is the model's last layer (layers 0..2): its MLP output at the subject cannot reach the prediction" "$FE" stats --model "$R" --layer 2 --text "$T/text.txt" --out "$T/x.bin"
run "stats bad layer" 2 "is not an integer" "$FE" stats --model "$R" --layer x --text "$T/text.txt" --out "$T/x.bin"
run "stats --seq-len beyond context" 1 "exceeds the model's context of 64" "$FE" stats --model "$R" --seq-len 65 --text "$T/text.txt" --out "$T/x.bin"
run "stats --tokens 0" 2 "--tokens must be >= 1" "$FE" stats --model "$R" --tokens 0 --text "$T/text.txt" --out "$T/x.bin"
run "stats into a missing directory" 2 "--out '$T/nodir/x.bin': cannot write in directory '$T/nodir': No such file or directory" "$FE" stats --model "$R" --text "$T/text.txt" --out "$T/nodir/x.bin"
same "stats into a missing directory: refused before any work (no progress)" "$(grep -c 'tokens' "$T/err")" 0
absent "failed stats write nothing" "$T/x.bin"

# ------------------------------------------------------------------ edit
# Edits that change the model run on the built-in demo model: on these random models the v*
# solver ends at |delta| = 0 (their MLPs barely reach the output), an edit that changes nothing,
# which is an error (tested below). DS: statistics of the demo model.
run "stats of the demo model" 0 "wrote $T/ds.bin: layer 1," "$FE" stats --layer 1 --text "$T/text.txt" --out "$T/ds.bin" -q
run "edit without stats" 0 "after the edit:" "$FE" edit --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" -n 5
has "edit: loud warning without stats" "WARNING: no --stats" "$T/err"
has "edit: C = I" "C = I" "$T/err"
has "edit: before" "before the edit:" "$T/out"
has "edit: solver trace" "solving for v*" "$T/out"
has "edit: target probability" "p(target)" "$T/out"
has "edit: target gets its space" '-> " Paris"' "$T/out"
has "edit: lookup token" 'its last token "le"' "$T/out"
has "edit: contexts" "contexts: 3 templates" "$T/out"
run "edit with stats" 0 "covariance $T/ds.bin" "$FE" edit --prompt "$P" --subject "The Space Needle" --target " Rome" \
  --stats "$T/ds.bin" --ridge 0.01 --templates "$T/tpl.txt" --paraphrase "The Space Needle is in" --paraphrase="Where is the Space Needle? In" \
  --neighbor "The Eiffel Tower is located in the city of" -n 3 --patch "$T/p.fep" --out "$T/e.bin"
hasnt "edit with stats: no warning" "WARNING" "$T/err"
has "edit: paraphrase 1 shown" '"The Space Needle is in"' "$T/out"
has "edit: paraphrase 2 shown (--x=v form)" '"Where is the Space Needle? In"' "$T/out"
has "edit: neighbour shown" '"The Eiffel Tower is located in the city of"' "$T/out"
has "edit: wrote patch" "wrote patch $T/p.fep" "$T/out"
has "edit: wrote model" "wrote edited model $T/e.bin" "$T/out"
exists "patch file" "$T/p.fep"
exists "edited model" "$T/e.bin"
no_temps "$T" "edit"
run "edit the demo model" 0 "wrote edited model $T/de.bin" "$FE" edit --prompt "$P" --subject "The Space Needle" --target " Paris" --patch "$T/dp.fep" --out "$T/de.bin" -q
c0=$("$FE" info | sed -n 's/^checksum: *//p'); c1=$("$FE" info --model "$T/de.bin" | sed -n 's/^checksum: *//p')
if [ -n "$c0" ] && [ "$c0" != "$c1" ]; then ok; else bad "edit: the edited model has the same checksum ($c0 / $c1)"; fi
# the patch re-applied to the original model gives the same edited model, byte for byte
run "edit --apply" 0 "edit:     patch $T/p.fep (layer 1)" "$FE" edit --apply "$T/p.fep" --out "$T/e2.bin" --paraphrase "The Space Needle is in" -n 2
same_file "patch applied = edit" "$T/e.bin" "$T/e2.bin"
has "apply shows the recorded request" '"The Space Needle is located in the city of" -> " Rome"' "$T/out"
run "edit adam on a random model, a patch" 0 "wrote patch $T/pa.fep" "$FE" edit --model "$R" --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" --solver adam -n 1 -q --patch "$T/pa.fep"
run "edit --apply to another model" 1 "made for the model with checksum" "$FE" edit --model "$R2" --apply "$T/pa.fep"
run "edit --apply to a model of another shape" 1 "made for a model of 8 layers x width 128" "$FE" edit --model "$R2" --apply "$T/p.fep"
run "edit --apply to the edited model" 1 "already edited" "$FE" edit --model "$T/de.bin" --apply "$T/dp.fep"
printf 'FEPATCH' > "$T/trunc.fep"
run "edit --apply truncated patch" 1 "not a factedit patch file" "$FE" edit --model "$R" --apply "$T/trunc.fep"
head -c 500 "$T/p.fep" > "$T/trunc2.fep"
run "edit --apply cut patch" 1 "truncated" "$FE" edit --model "$R" --apply "$T/trunc2.fep"
run "edit --apply missing" 1 "cannot open" "$FE" edit --model "$R" --apply "$T/nope.fep"
run "edit --json" 0 '"p_target_after"' "$FE" edit --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" --json -n 2 --neighbor "Paris is in"
cp "$T/out" "$T/edit.json"
json_ok "edit --json" "$T/edit.json"
has "edit --json trace" '"trace": [' "$T/edit.json"
has "edit --json request" '"target": " Paris"' "$T/edit.json"
run "edit adam" 0 "solving for v* (adam" "$FE" edit --model "$R" --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" --solver adam -n 1 -q
run "edit plain prompt (no {})" 0 "after the edit:" "$FE" edit --prompt "The Space Needle is located in the city of" --subject "Space Needle" --target Rome --templates "$T/tpl.txt" -n 1 -q
run "edit ROME's generated templates" 0 "contexts: 21 templates (ROME's, generated)" "$FE" edit --prompt "$P" --subject "The Space Needle" --target Paris -n 1 --seed 3
# errors
run "edit no --prompt" 2 "no --prompt given" "$FE" edit --model "$R" --subject S --target T
run "edit no --subject" 2 "no --subject given" "$FE" edit --model "$R" --prompt "$P" --target T
run "edit no --target" 2 "no --target given" "$FE" edit --model "$R" --prompt "$P" --subject S
run "edit subject not in prompt" 1 "is not in the prompt" "$FE" edit --model "$R" --prompt "The tower is in" --subject "Space Needle" --target X --templates "$T/tpl.txt"
run "edit two {}" 1 'has 2 "{}"' "$FE" edit --model "$R" --prompt "{} and {}" --subject S --target X --templates "$T/tpl.txt"
run "edit empty target" 1 "target is empty" "$FE" edit --model "$R" --prompt "$P" --subject S --target "" --templates "$T/tpl.txt"
run "edit empty subject" 1 "subject is empty" "$FE" edit --model "$R" --prompt "$P" --subject "" --target X --templates "$T/tpl.txt"
run "edit target beyond the context" 1 "context of 12 tokens" "$FE" edit --model "$T/small.bin" --prompt "{} is in" --subject X --target " one two three four five six seven eight nine ten eleven twelve" --templates "$T/tpl.txt"
run "edit bad solver" 2 "--solver: 'lbfgs'" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --solver lbfgs
run "edit layer out of range" 1 "outside the model's layers 0..2" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --layer 3 --templates "$T/tpl.txt"
run "edit at the last layer" 1 "layer 2 is the model's last layer (layers 0..2): its MLP output at the subject cannot reach the prediction" "$FE" edit --model "$R" --prompt "$P" --subject "The Space Needle" --target X --layer 2 --templates "$T/tpl.txt" --out "$T/x.bin"
run "edit at the demo model's last layer" 1 "layer 7 is the model's last layer (layers 0..7)" "$FE" edit --prompt "$P" --subject "The Space Needle" --target " Rome" --layer 7 --templates "$T/tpl.txt" --out "$T/x.bin" --patch "$T/x.fep"
absent "edit at the last layer writes nothing" "$T/x.bin"
absent "edit at the last layer writes no patch" "$T/x.fep"
"$FE" random "$T/one.bin" --layers 1 --heads 2 --width 16 --context 16 >/dev/null || bad "1-layer model"
run "edit a 1-layer model" 1 "no layer of a 1-layer model can be edited" "$FE" edit --model "$T/one.bin" --prompt "$P" --subject "The Space Needle" --target X --templates "$T/tpl.txt"
# an edit that changes nothing (|delta| = 0) is an error, and writes nothing
run "edit that changes nothing" 1 "the edit changes nothing: the v* solver ended at |delta| = 0" "$FE" edit --model "$R" --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" -n 2 --out "$T/x.bin" --patch "$T/x.fep"
absent "edit that changes nothing writes no model" "$T/x.bin"
absent "edit that changes nothing writes no patch" "$T/x.fep"
run "edit that changes nothing, --json" 1 "the edit changes nothing" "$FE" edit --model "$R" --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" --json
run "edit layer differs from stats" 1 "but the statistics" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --layer 0 --stats "$S"
run "edit another model's stats" 1 "computed for the model with checksum" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --stats "$T/s_r2.bin"
printf 'FESTATS\0garbage' > "$T/badstats.bin"
run "edit corrupt stats" 1 "not a factedit statistics file" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --stats "$T/badstats.bin"
head -c 1000 "$S" > "$T/cutstats.bin"
run "edit truncated stats" 1 "truncated" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --stats "$T/cutstats.bin"
run "edit singular stats" 1 "--ridge" "$FE" edit --model "$R" --prompt "$P" --subject "The Space Needle" --target X --stats "$S" --templates "$T/tpl.txt"
run "edit --apply with --prompt" 2 "--apply takes the edit from the patch" "$FE" edit --model "$R" --apply "$T/p.fep" --prompt "$P"
run "edit --out = --model" 2 "--out '$R' is the same file as --model '$R'" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --out "$R"
run "edit --paraphrase without value" 2 "--paraphrase needs a value" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --paraphrase
run "edit unknown option" 2 "unknown option '--frob'" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --frob 1
run "edit --prompt twice" 2 "--prompt given twice" "$FE" edit --model "$R" --prompt "$P" --prompt "$P" --subject S --target X
run "edit bad templates file" 1 "exactly one" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --templates "$T/badtpl.txt"
run "edit empty templates file" 1 "no templates" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --templates "$T/empty.txt"
run "edit missing templates file" 1 "cannot open" "$FE" edit --model "$R" --prompt "$P" --subject S --target X --templates "$T/nope.txt"
run "edit --patch into a missing directory" 2 "--patch '$T/nodir/p.fep': cannot write in directory '$T/nodir': No such file or directory" "$FE" edit --prompt "$P" --subject "The Space Needle" --target X --templates "$T/tpl.txt" --patch "$T/nodir/p.fep" -q
same "edit --patch into a missing directory: refused before any work" "$(wc -c < "$T/out" | tr -d ' ')" 0
# a value that looks like a repeatable option stays a value
run "edit option value '--neighbor'" 1 "is not in the prompt" "$FE" edit --model "$R" --prompt "--neighbor" --subject "Space" --target X --templates "$T/tpl.txt"

# ------------------------------------------------------------------ eval
CF="$T/cf.json"
cat > "$CF" <<'EOF'
[{"case_id": 3, "requested_rewrite": {"prompt": "{} is located in the city of", "subject": "The Space Needle",
   "target_new": {"str": "Paris"}, "target_true": {"str": "Seattle"}},
  "paraphrase_prompts": ["The Space Needle can be found in the city of", "Where is the Space Needle? In the city of"],
  "neighborhood_prompts": ["Pike Place Market is located in the city of", "The Seattle Center is located in the city of"]},
 {"case_id": 8, "requested_rewrite": {"prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux",
   "target_new": {"str": "English"}, "target_true": {"str": "French"}},
  "paraphrase_prompts": ["Danielle Darrieux spoke the language"], "neighborhood_prompts": []},
 {"case_id": 12, "requested_rewrite": {"prompt": "The best known work of {}", "subject": "Leonardo",
   "target_new": {"str": "Hamlet"}, "target_true": {"str": "Mona"}},
  "paraphrase_prompts": ["The masterpiece of Leonardo"], "neighborhood_prompts": ["The best known work of Raphael"]}]
EOF
run "eval" 0 "Score" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --out "$T/all.json"
has "eval: case count" "3 cases of $CF" "$T/out"
for k in ES EM PS PM NS NM; do has "eval: metric $k" "$k " "$T/out"; done
has "eval: interval" "+-" "$T/out"
has "eval: progress on stderr" "factedit eval: 3/3 cases" "$T/err"
has "eval: no-stats warning" "WARNING: no --stats" "$T/err"
has "eval: the edits that changed nothing are counted" "3 of 3 edits changed nothing (|delta| = 0" "$T/err"
exists "eval report" "$T/all.json"
json_ok "eval report" "$T/all.json"
has "eval report format" '"format": "factedit-eval"' "$T/all.json"
has "eval report NS null for a case without neighbours" '"ns": null' "$T/all.json"
run "eval --json" 0 '"summary": {"pre": {"ES"' "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --json -q
same_file "eval --json = --out, deterministic" "$T/out" "$T/all.json"
run "eval shard 0/2" 0 "(shard 0/2)" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --shard 0/2 --out "$T/s0.json" -q
run "eval shard 1/2" 0 "1 cases" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --shard 1/2 --out "$T/s1.json" -q
run "eval merge" 0 "merged 2 reports: 3 cases" "$FE" eval --merge "$T/s1.json" "$T/s0.json" --out "$T/merged.json"
same_file "merged shards = the unsharded run" "$T/merged.json" "$T/all.json"
run "eval merge --json" 0 '"format": "factedit-eval"' "$FE" eval --merge "$T/s0.json" "$T/s1.json" --json
run "eval --limit" 0 "2 cases of" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --limit 2 -q
run "eval with stats" 0 "covariance $S" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --stats "$S" --ridge 0.01 --limit 1 -q
run "eval empty shard" 0 "0 cases" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --limit 1 --shard 1/2 -q
# merge errors
run "eval merge: missing shard" 1 "shard 1/2 is missing" "$FE" eval --merge "$T/s0.json"
run "eval merge: shard twice" 1 "given twice" "$FE" eval --merge "$T/s0.json" "$T/s0.json" "$T/s1.json"
run "eval merge: not a report" 1 "not a 'factedit eval' report" "$FE" eval --merge "$CF"
run "eval merge: missing file" 1 "cannot open" "$FE" eval --merge "$T/nope.json"
"$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --limit 2 --shard 1/2 --out "$T/s1_limit.json" -q >/dev/null 2>&1
run "eval merge: other configuration" 1 "another configuration" "$FE" eval --merge "$T/s0.json" "$T/s1_limit.json"
run "eval merge with --model" 2 "does not go with it" "$FE" eval --merge --model "$R" "$T/s0.json"
run "eval merge without files" 2 "--merge needs" "$FE" eval --merge
# eval errors
run "eval no --dataset" 2 "no --dataset given" "$FE" eval --model "$R"
run "eval stray argument" 2 "unexpected argument" "$FE" eval --model "$R" --dataset "$CF" extra.json
for sh in 2/2 a/b 1/0 3 -1/2; do
  run "eval bad shard $sh" 2 "--shard: '$sh'" "$FE" eval --model "$R" --dataset "$CF" --shard "$sh"
done
run "eval --limit 0" 2 "--limit: 0 is out of range" "$FE" eval --model "$R" --dataset "$CF" --limit 0
run "eval missing dataset" 1 "cannot open" "$FE" eval --model "$R" --dataset "$T/nope.json"
printf '[{"case_id": 1, "requested_rewrite": {"prompt": "no fill", "subject": "S"}}]' > "$T/badcf.json"
run "eval malformed dataset" 1 'case 0 (case_id 1) has a requested_rewrite.prompt without exactly one "{}"' "$FE" eval --model "$R" --dataset "$T/badcf.json"
run "eval another model's stats" 1 "computed for the model with checksum" "$FE" eval --model "$R" --dataset "$CF" --stats "$T/s_r2.bin"
run "eval bad solver" 2 "--solver: 'x'" "$FE" eval --model "$R" --dataset "$CF" --solver x
run "eval at the last layer" 1 "layer 2 is the model's last layer" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --layer 2
echo '[]' > "$T/emptycf.json"
run "eval of an empty dataset" 1 "no cases" "$FE" eval --model "$R" --dataset "$T/emptycf.json" --templates "$T/tpl.txt"
printf '{"format": "factedit-eval", "version": 1, "config": {"a": 1}, "shard": [0, 1], "cases": []}\n' > "$T/nocases.json"
run "eval merge of reports without cases" 1 "hold no case: nothing was evaluated" "$FE" eval --merge "$T/nocases.json"
run "eval --out into a missing directory" 2 "--out '$T/nodir/r.json': cannot write in directory '$T/nodir': No such file or directory" "$FE" eval --model "$R" --dataset "$CF" --templates "$T/tpl.txt" --limit 1 --out "$T/nodir/r.json" -q
same "eval --out into a missing directory: refused before any work" "$(wc -c < "$T/out" | tr -d ' ')" 0
no_temps "$T" "eval"

# ------------------------------------------------------------------ hostile paths (issue 14; README "Hostile inputs")
# An output that is an input, in every spelling: the same string, "./", an absolute path, "..",
# a symlink, a hard link. Each is refused (exit 2) before any work, and the input is intact.
mkdir -p "$T/same" && cp "$R" "$T/same/m.bin" && cp "$T/text.txt" "$T/same/corpus.txt" && cp "$R" "$T/same.orig"
ln -s m.bin "$T/same/link.bin" && ln "$T/same/m.bin" "$T/same/hard.bin"
FEA=$(cd "$(dirname "$FE")" && pwd)/$(basename "$FE")
cd "$T" || exit 1
for spelling in same/m.bin ./same/m.bin "$T/same/m.bin" same/../same/m.bin same/link.bin same/hard.bin; do
  run "stats --out = --model, spelled '$spelling'" 2 "--out '$spelling' is the same file as --model 'same/m.bin': refusing to overwrite an input" \
      "$FEA" stats --model same/m.bin --text same/corpus.txt --out "$spelling"
  run "edit --out = --model, spelled '$spelling'" 2 "--out '$spelling' is the same file as --model 'same/m.bin'" \
      "$FEA" edit --model same/m.bin --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" --out "$spelling"
done
cd "$OLDPWD" || exit 1
same_file "the model survived every spelling" "$T/same/m.bin" "$T/same.orig"
run "stats --out = --text" 2 "--out '$T/same/./corpus.txt' is the same file as --text" "$FE" stats --model "$T/same/m.bin" --text "$T/same/corpus.txt" --out "$T/same/./corpus.txt"
same_file "the corpus survived" "$T/same/corpus.txt" "$T/text.txt"
run "edit --patch = --model" 2 "--patch '$T/same/hard.bin' is the same file as --model" "$FE" edit --model "$T/same/m.bin" --prompt "$P" --subject "The Space Needle" --target Paris --patch "$T/same/hard.bin"
cp "$S" "$T/same/s.bin"
run "edit --out = --stats" 2 "--out '$T/same/../same/s.bin' is the same file as --stats '$T/same/s.bin'" "$FE" edit --prompt "$P" --subject "The Space Needle" --target Paris --stats "$T/same/s.bin" --out "$T/same/../same/s.bin"
same_file "the statistics survived" "$T/same/s.bin" "$S"
run "edit --out = --patch" 2 "--out '$T/same/./e.bin' and --patch '$T/same/e.bin' are the same file" "$FE" edit --prompt "$P" --subject "The Space Needle" --target Paris --out "$T/same/./e.bin" --patch "$T/same/e.bin"
run "edit --out = --templates" 2 "is the same file as --templates" "$FE" edit --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" --out "$T/./tpl.txt"
run "edit --out = --apply" 2 "is the same file as --apply" "$FE" edit --apply "$T/p.fep" --out "$T/p.fep"
run "eval --out = --dataset" 2 "--out '$T/./cf.json' is the same file as --dataset" "$FE" eval --model "$R" --dataset "$CF" --out "$T/./cf.json"
run "eval --merge --out = a report" 2 "--out '$T/../$(basename "$T")/s0.json' is the same file as --merge" "$FE" eval --merge "$T/s0.json" "$T/s1.json" --out "$T/../$(basename "$T")/s0.json"
no_temps "$T/same" "the refusals"
# inputs that are not regular files: refused without blocking (timeout: a regression fails, not hangs)
mkfifo "$T/fifo"
run "stats --text FIFO" 2 "--text '$T/fifo' is not a regular file (it is a FIFO)" timeout 10 "$FE" stats --model "$R" --text "$T/fifo" --out "$T/x.bin"
run "stats --model FIFO" 2 "--model '$T/fifo' is not a regular file (it is a FIFO)" timeout 10 "$FE" stats --model "$T/fifo" --text "$T/text.txt" --out "$T/x.bin"
run "edit --stats FIFO" 2 "--stats '$T/fifo' is not a regular file (it is a FIFO)" timeout 10 "$FE" edit --prompt "$P" --subject S --target X --stats "$T/fifo"
run "edit --templates FIFO" 2 "--templates '$T/fifo' is not a regular file (it is a FIFO)" timeout 10 "$FE" edit --prompt "$P" --subject S --target X --templates "$T/fifo"
run "edit --apply FIFO" 2 "--apply '$T/fifo' is not a regular file (it is a FIFO)" timeout 10 "$FE" edit --apply "$T/fifo"
run "eval --dataset FIFO" 2 "--dataset '$T/fifo' is not a regular file (it is a FIFO)" timeout 10 "$FE" eval --model "$R" --dataset "$T/fifo"
run "eval --merge FIFO" 2 "--merge '$T/fifo' is not a regular file (it is a FIFO)" timeout 10 "$FE" eval --merge "$T/fifo"
run "eval --dataset directory" 2 "--dataset '$T' is not a regular file (it is a directory)" "$FE" eval --model "$R" --dataset "$T"
run "stats --out onto a FIFO" 2 "--out '$T/fifo' exists and is not a regular file (it is a FIFO)" timeout 10 "$FE" stats --model "$R" --text "$T/text.txt" --out "$T/fifo"
rm -f "$T/fifo"
run "stats missing --model: the reason" 1 "--model: cannot open '$T/nope.bin': No such file or directory" "$FE" stats --model "$T/nope.bin" --text "$T/text.txt" --out "$T/x.bin"
# an output directory that is not writable: refused before the statistics are computed
if [ -n "$NO_PERM_TESTS" ]; then echo "note: permission tests skipped: $NO_PERM_TESTS"; else
  open_tmp "$T"; mkdir -p "$T/ro" && chmod 555 "$T/ro"
  run "stats into a read-only directory" 2 "--out '$T/ro/s.bin': cannot write in directory '$T/ro': Permission denied" \
      $AS_USER "$FE" stats --model "$R" --text "$T/text.txt" --out "$T/ro/s.bin"
  same "stats into a read-only directory: refused before any work" "$(grep -c 'tokens' "$T/err")" 0
  run "edit --out into a read-only directory" 2 "cannot write in directory '$T/ro': Permission denied" \
      $AS_USER "$FE" edit --prompt "$P" --subject "The Space Needle" --target Paris --templates "$T/tpl.txt" --out "$T/ro/e.bin"
  chmod 755 "$T/ro"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
