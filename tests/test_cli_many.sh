#!/bin/sh
# Tests of `factedit edit --requests` and `factedit eval --sequential` (tools/cmd_many.c): a small
# MEMIT / AlphaEdit / ROME run on a random model, and bad input: a clear error, a non-zero exit,
# nothing written.   sh tests/test_cli_many.sh build/factedit   (from the repository root)
FE=${1:-build/factedit}
if [ ! -x "$FE" ]; then echo "FAIL: $FE is not an executable (build it first)"; echo "0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fe_cli_many.XXXXXX") || { echo "FAIL: mktemp"; echo "0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$T"' EXIT INT TERM
. tests/cli_lib.sh
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}; export OMP_NUM_THREADS
absent() { if [ -e "$2" ]; then bad "$1: $2 exists"; else ok; fi; }

R="$T/r.bin"
"$FE" random "$R" --layers 4 --heads 2 --width 32 --context 64 --seed 7 >/dev/null || bad "random model"
cat > "$T/text.txt" <<'TXT'
The Space Needle is an observation tower in Seattle, Washington, United States.
The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.
Danielle Darrieux was a French actress, singer and dancer. Her mother tongue was French.
Toko Yasuda is a musician who plays the guitar. Autonomous University of Madrid is in Spain.
TXT
for l in 0 1 2; do "$FE" stats --model "$R" --text "$T/text.txt" --layer $l --out "$T/s_l$l.bin" -q >/dev/null 2>&1 || bad "stats layer $l"; done
cat > "$T/req.json" <<'TXT'
[{"prompt": "{} is located in the city of", "subject": "The Space Needle", "target": "Paris"},
 {"prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux", "target": "English"}]
TXT
cat > "$T/cf.json" <<'TXT'
[{"case_id": 0, "requested_rewrite": {"prompt": "{} is located in the city of", "subject": "The Space Needle",
  "target_new": {"str": "Paris"}, "target_true": {"str": "Seattle"}},
  "paraphrase_prompts": ["The Space Needle is in"], "neighborhood_prompts": ["The Eiffel Tower is in"]},
 {"case_id": 1, "requested_rewrite": {"prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux",
  "target_new": {"str": "English"}, "target_true": {"str": "French"}},
  "paraphrase_prompts": ["Danielle Darrieux speaks"], "neighborhood_prompts": ["The mother tongue of Jean Gabin is"]}]
TXT
S="$T/s_l{}.bin"
run "memit batch" 0 "2 requests edited with memit, layers 0-2" "$FE" edit --model "$R" --requests "$T/req.json" --layers 0-2 --stats "$S" --lambda 10 --ridge 0.01 --out "$T/m.bin" -q
if [ -s "$T/m.bin" ]; then ok; else bad "memit --out not written"; fi
run "alphaedit sequential" 0 "edited with alphaedit" "$FE" edit --model "$R" --requests "$T/req.json" --method alphaedit --layers 1-2 --stats "$S" --sequential --batch 1 --threshold 1e9 --l2 1 -q
run "r-rome sequential" 0 "edited with r-rome" "$FE" edit --model "$R" --requests "$T/req.json" --method r-rome --layers 1 --stats "$S" --ridge 0.01 --sequential -q
run "eval sequential json" 0 '"summary_after"' "$FE" eval --model "$R" --dataset "$T/cf.json" --method memit --sequential 2 --batch 1 --layers 1-2 --stats "$S" --lambda 10 --ridge 0.01 --json -q
run "eval rome json" 0 '"summary_after"' "$FE" eval --model "$R" --dataset "$T/cf.json" --method rome --sequential 2 --layers 1 --stats "$S" --ridge 0.01 --json -q
if command -v python3 >/dev/null 2>&1; then
  if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" 2>/dev/null; then ok; else bad "eval rome --json is not valid JSON: $(head -c 300 "$T/out")"; fi
fi
run "eval --clamp" 0 '"summary_after"' "$FE" eval --model "$R" --dataset "$T/cf.json" --method memit --sequential 2 --layers 1-2 --stats "$S" --ridge 0.01 --clamp 4 --json -q
# --patches: the edit log as patch files; applying them in order with edit --apply rebuilds --out
checksum() { "$FE" info --model "$1" 2>/dev/null | sed -n 's/^checksum: *//p'; }
chain() {   # chain NAME DIR WANT_FILES OUT: apply DIR's patches in order to $R, compare with OUT
  nf=$(ls "$2" 2>/dev/null | grep -c '\.fep$')
  same "$1: patch files" "$nf" "$3"
  cur="$R"; k=0
  for f in "$2"/*.fep; do
    [ -f "$f" ] || continue
    k=$((k + 1))
    if ! "$FE" edit --model "$cur" --apply "$f" --out "$T/chain$k.bin" >/dev/null 2>"$T/err"; then bad "$1: edit --apply $f: $(head -c 300 "$T/err")"; return; fi
    cur="$T/chain$k.bin"
  done
  c4=$(checksum "$4")
  if [ -z "$c4" ]; then bad "$1: no checksum for $4"; fi
  same "$1: the patches applied in order give --out's weights" "$(checksum "$cur")" "$c4"
  rm -f "$T"/chain*.bin
}
run "memit --patches" 0 "patch files in" "$FE" edit --model "$R" --requests "$T/req.json" --layers 0-2 --stats "$S" --lambda 10 --ridge 0.01 --patches "$T/pm" --out "$T/pm.bin" -q
chain "memit --patches" "$T/pm" 6 "$T/pm.bin"
run "alphaedit --patches, batches of 1" 0 "patch files in" "$FE" edit --model "$R" --requests "$T/req.json" --method alphaedit --layers 1-2 --stats "$S" --sequential --threshold 1e9 --l2 1 --patches "$T/pa" --out "$T/pa.bin" -q
chain "alphaedit --patches" "$T/pa" 4 "$T/pa.bin"
run "r-rome --patches" 0 "patch files in" "$FE" edit --model "$R" --requests "$T/req.json" --method r-rome --layers 1 --stats "$S" --ridge 0.01 --sequential --patches "$T/pr" --out "$T/pr.bin" -q
chain "r-rome --patches" "$T/pr" 2 "$T/pr.bin"
differ "the patches change the model" "$(checksum "$T/pr.bin")" "$(checksum "$R")"
mkdir "$T/full"; echo keep > "$T/full/note.txt"
run "--patches into a non-empty directory" 2 "not empty" "$FE" edit --model "$R" --requests "$T/req.json" --layers 0-2 --stats "$S" --patches "$T/full" --out "$T/x.bin" -q
same "non-empty --patches: its file kept" "$(cat "$T/full/note.txt")" "keep"
absent "non-empty --patches: no output" "$T/x.bin"
run "--patches under a missing directory" 2 "--patches" "$FE" edit --model "$R" --requests "$T/req.json" --layers 0-2 --stats "$S" --patches "$T/nodir/p" -q
absent "missing parent: nothing made" "$T/nodir"
# eval: fewer cases edited than the dataset holds (ROME keeps one edit per case edited)
run "eval rome, 1 of 2 cases" 0 '"cases": 1' "$FE" eval --model "$R" --dataset "$T/cf.json" --method rome --sequential 1 --layers 1 --stats "$S" --ridge 0.01 --json -q
same "eval: the report's model checksum is the unedited model's" "$(sed -n 's/.*"model_checksum": "\([0-9a-f]*\)".*/\1/p' "$T/out")" "$(checksum "$R")"
# eval --distinct-subjects: one batch with a repeated subject is refused; the flag skips the repeat
{ sed '$ s/}]$/},/' "$T/cf.json"; cat <<'TXT'; } > "$T/cf3.json"
 {"case_id": 2, "requested_rewrite": {"prompt": "{} is located in the city of", "subject": "The Space Needle",
  "target_new": {"str": "Rome"}, "target_true": {"str": "Seattle"}},
  "paraphrase_prompts": ["The Space Needle is in"], "neighborhood_prompts": ["The Eiffel Tower is in"]}]
TXT
run "eval: one batch with a repeated subject" 1 "same subject" "$FE" eval --model "$R" --dataset "$T/cf3.json" --method memit --sequential 3 --batch 3 --layers 1-2 --stats "$S" --lambda 10 --ridge 0.01 -q
run "eval --distinct-subjects" 0 '"skipped": 1' "$FE" eval --model "$R" --dataset "$T/cf3.json" --method memit --sequential 3 --batch 3 --layers 1-2 --stats "$S" --lambda 10 --ridge 0.01 --distinct-subjects --json -q
if grep -q '"case_id": 2' "$T/out"; then bad "--distinct-subjects: case 2 (a repeated subject) was edited"; else ok; fi
if grep -q '"case_id": 1' "$T/out"; then ok; else bad "--distinct-subjects: case 1 missing: $(head -c 300 "$T/out")"; fi
run "eval alphaedit: the null space's size" 0 '"null_dims": [' "$FE" eval --model "$R" --dataset "$T/cf.json" --method alphaedit --sequential 2 --layers 1-2 --stats "$S" --threshold 1e9 --l2 1 --json -q
# bad input: nothing written
echo '[]' > "$T/empty.json"
run "empty request list" 1 "empty" "$FE" edit --model "$R" --requests "$T/empty.json" --layers 0-2 --stats "$S" --out "$T/x.bin" -q
absent "empty: no output" "$T/x.bin"
run "failed edit: no --patches directory" 1 "empty" "$FE" edit --model "$R" --requests "$T/empty.json" --layers 0-2 --stats "$S" --patches "$T/pe" -q
absent "failed edit: no --patches directory made" "$T/pe"
cat > "$T/dup.json" <<'TXT'
[{"prompt": "{} is located in", "subject": "The Space Needle", "target": "Paris"},
 {"prompt": "{} is located in", "subject": "The Space Needle", "target": "Rome"}]
TXT
run "duplicate subjects" 1 "same subject" "$FE" edit --model "$R" --requests "$T/dup.json" --layers 0-2 --stats "$S" --out "$T/x.bin" -q
absent "duplicates: no output" "$T/x.bin"
echo '[{"prompt": "The tower is located in", "subject": "The Space Needle", "target": "Paris"}]' > "$T/nosub.json"
run "subject not in the prompt" 1 "not in the prompt" "$FE" edit --model "$R" --requests "$T/nosub.json" --layers 0-2 --stats "$S" --out "$T/x.bin" -q
absent "no subject: no output" "$T/x.bin"
run "layers outside the model" 1 "outside the model" "$FE" edit --model "$R" --requests "$T/req.json" --layers 2-7 --stats "$S" --out "$T/x.bin" -q
absent "layers: no output" "$T/x.bin"
run "last layer" 1 "last" "$FE" edit --model "$R" --requests "$T/req.json" --layers 1-3 --stats "$S" --out "$T/x.bin" -q
run "missing statistics" 1 "s_l1x.bin" "$FE" edit --model "$R" --requests "$T/req.json" --layers 1-2 --stats "$T/s_l{}x.bin" --out "$T/x.bin" -q
run "one file for two layers" 2 "pattern" "$FE" edit --model "$R" --requests "$T/req.json" --layers 1-2 --stats "$T/s_l1.bin" -q
run "unknown method" 2 "want rome" "$FE" edit --model "$R" --requests "$T/req.json" --method memet --stats "$S" -q
run "rome needs --sequential" 2 "--sequential" "$FE" edit --model "$R" --requests "$T/req.json" --method rome --layers 1 --stats "$T/s_l1.bin" -q
run "singular statistics (no ridge)" 1 "ridge" "$FE" edit --model "$R" --requests "$T/req.json" --layers 0-2 --stats "$S" --lambda 0 --out "$T/x.bin" -q
absent "singular: no output" "$T/x.bin"
echo '[{"prompt": "{} is", "subject": "X"}]' > "$T/bad.json"
run "request without target" 1 "target" "$FE" edit --model "$R" --requests "$T/bad.json" --layers 0-2 --stats "$S" -q
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
