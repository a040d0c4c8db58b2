#!/bin/sh
# Tests of `factedit trace` (one prompt, a dataset, shards and --merge) and `factedit bench --help`.
#   sh tests/test_cli_trace.sh build/factedit        (run from the repository root)
# Same conventions as tests/test_cli.sh: each check compares the exit status (0, 1 = failure,
# 2 = usage error) and looks for a phrase on stdout (success) or stderr (failure); a crash or a
# sanitizer report fails the check. Ends with "N passed, M failed".
FE=${1:-build/factedit}
if [ ! -x "$FE" ]; then echo "FAIL: $FE is not an executable (build it first)"; echo "0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fe_trace.XXXXXX") || { echo "FAIL: mktemp"; echo "0 passed, 1 failed"; exit 1; }
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT INT TERM
. tests/cli_lib.sh


has() { if grep -q -F -e "$3" "$2"; then ok; else bad "$1: '$3' not in $2: $(head -c 200 "$2")"; fi; }
hasnt() { if grep -q -F -e "$3" "$2"; then bad "$1: '$3' in $2"; else ok; fi; }
exists() { if [ -s "$2" ]; then ok; else bad "$1: $2 missing or empty"; fi; }
missing() { if [ -e "$2" ]; then bad "$1: $2 exists"; else ok; fi; }
samefile() { if cmp -s "$2" "$3"; then ok; else bad "$1: $2 and $3 differ"; fi; }
no_temps() { if ls -a "$1" | grep -q -e '\.tmp' -e 'write-test'; then bad "$2: temporary file left in $1: $(ls -a "$1")"; else ok; fi; }
count() { grep -c -F -e "$2" "$1"; }

# ------------------------------------------------------------------ help
run "trace --help" 0 "usage: factedit trace" "$FE" trace --help
run "trace --help lists --merge" 0 "--merge" "$FE" trace --help
run "help trace" 0 "--shard i/n" "$FE" help trace
run "--help lists trace" 0 "trace" "$FE" --help
run "bench --help" 0 "usage: factedit bench" "$FE" bench --help
run "bench bad option" 2 "unknown option '--frob'" "$FE" bench --frob

# ------------------------------------------------------------------ one prompt (random model, GPT-2 vocabulary)
R="$T/r.bin"
run "random model" 0 "wrote $R" "$FE" random "$R" --layers 2 --heads 2 --width 32 --context 64 --seed 7
P="The Space Needle is located in the city of"
S="The Space Needle"
run "trace plain" 0 'subject: "The Space Needle" = tokens 0..3 (marked *)' "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2
has "trace: hidden panel" "$T/out" "hidden: restoring one layer's output"
has "trace: mlp panel" "$T/out" "mlp: restoring the MLP outputs"
has "trace: attn panel" "$T/out" "attn: restoring the attention outputs"
has "trace: answer line" "$T/out" "(high)"
has "trace: subject rows marked" "$T/out" "  *    Space "
same "trace: 3 x 4 subject rows" "$(grep -c '^  \* ' "$T/out")" 12
same "trace: 3 x 6 other rows" "$(grep -c -E '^ +(is|located|in|the|city|of) [ .:=+*#%@-]+$' "$T/out")" 18
same "trace: 3 scale lines" "$(grep -c "^  p('" "$T/out")" 3
esc=$(printf '\033')
if grep -q "$esc" "$T/out"; then bad "trace: colour escapes when stdout is not a terminal"; else ok; fi
cp "$T/out" "$T/plain1"
run "trace again" 0 "" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2
samefile "trace: same seed, same output" "$T/out" "$T/plain1"
run "trace --plain" 0 "hidden:" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --plain
samefile "trace --plain off a terminal = default" "$T/out" "$T/plain1"
run "trace --kind mlp" 0 "mlp: restoring" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --kind mlp
hasnt "trace --kind mlp: no hidden panel" "$T/out" "hidden: restoring"
run "trace --kind hidden,attn" 0 "attn: restoring" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --kind hidden,attn --window 1
hasnt "trace --kind hidden,attn: no mlp panel" "$T/out" "mlp: restoring"
has "trace --window 1 shown" "$T/out" "(window 1)"

run "trace --json" 0 '"subject_range": [0, 4]' "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --json
cp "$T/out" "$T/j1"
has "json: tokens" "$T/j1" '"tokens": [464, 4687, 10664, 293, 318, 5140, 287, 262, 1748, 286]'
has "json: token strings" "$T/j1" '"token_strings": ["The", " Space", " Need", "le", " is",'
has "json: noise spec" "$T/j1" '"noise_spec": "3s"'
has "json: layers" "$T/j1" '"layers": 2'
has "json: scores" "$T/j1" '"scores": {'
has "json: attn grid" "$T/j1" '"attn": ['
same "json: 3 grids x 10 rows" "$(grep -c '^  \[' "$T/j1")" 30
run "trace --json --seed 1" 0 "" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --json --seed 1
differ "json: seeds 0 and 1 draw other noise" "$(cat "$T/out")" "$(cat "$T/j1")"
run "trace --json --seed 0" 0 "" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --json --seed 0
samefile "json: --seed 0 is the default" "$T/out" "$T/j1"
run "trace absolute noise" 0 '"noise": 0.100000001' "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --json --noise 0.1 --kind hidden
has "absolute noise: no embedding std" "$T/out" '"embedding_std": null'
run "trace 2.5 sigma" 0 '"noise_spec": "2.5s"' "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --json --noise 2.5s --kind hidden
run "trace --answer" 0 '"answer": 262, "answer_string": " the"' "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --json --answer " the" --kind hidden
run "trace --answer without a space" 0 '"answer": 1169' "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --json --answer "the" --kind hidden
has "trace --answer without a space: note" "$T/err" "has no leading space"
run "trace subject in the middle" 0 '"subject_range": [2, 4]' "$FE" trace --model "$R" --prompt "$P" --subject "Needle" --samples 2 --json --kind hidden

run "trace --csv" 0 "kind,position,token_id,token,subject,layer,score,effect,low,high" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --csv
same "csv: 1 + 3 kinds x 10 tokens x 2 layers rows" "$(wc -l < "$T/out" | tr -d ' ')" 61
has "csv: a subject row" "$T/out" 'mlp,1,4687," Space",1,0,'
has "csv: a row after the subject" "$T/out" 'attn,9,286," of",0,1,'

run "trace --svg" 0 "hidden:" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --svg "$T/fig.svg"
exists "svg written" "$T/fig.svg"
has "svg: header" "$T/fig.svg" '<svg xmlns="http://www.w3.org/2000/svg"'
has "svg: closed" "$T/fig.svg" '</svg>'
has "svg: hidden title" "$T/fig.svg" 'Impact of restoring state after corrupted input'
has "svg: mlp title" "$T/fig.svg" 'Impact of restoring MLP after corrupted input'
has "svg: attn title" "$T/fig.svg" 'Impact of restoring Attn after corrupted input'
has "svg: subject label marked" "$T/fig.svg" '> Space*</text>'
has "svg: window in the axis label" "$T/fig.svg" 'center of interval of 10 restored MLP layers'
has "svg: colour bar label" "$T/fig.svg" '>p('
no_temps "$T" "trace --svg"
run "trace --svg --json" 0 '"scores"' "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --svg "$T/fig2.svg" --json --kind attn
hasnt "svg --kind attn: no hidden panel" "$T/fig2.svg" 'Impact of restoring state'
has "svg --kind attn: attn panel" "$T/fig2.svg" 'Impact of restoring Attn'

# errors
run "subject not in prompt" 1 'subject "Eiffel Tower" not found in prompt' "$FE" trace --model "$R" --prompt "$P" --subject "Eiffel Tower"
run "empty subject" 2 "--subject is empty" "$FE" trace --model "$R" --prompt "$P" --subject ""
run "no subject" 2 "no --subject given" "$FE" trace --model "$R" --prompt "$P"
run "no prompt" 2 "no --prompt given" "$FE" trace --model "$R" --subject "$S"
# without --model: load_model's default (the built-in demo model where the build has one)
"$FE" trace --prompt "$P" --subject "$S" --samples 1 --kind hidden --json > "$T/out" 2> "$T/err"; rc=$?
if { [ $rc = 1 ] && grep -q "no --model given" "$T/err"; } || { [ $rc = 0 ] && grep -q '"scores"' "$T/out"; }; then ok
else bad "trace without --model: exit status $rc: $(head -c 300 "$T/err")"; fi
run "missing model" 1 "cannot open '$T/nope.bin'" "$FE" trace --model "$T/nope.bin" --prompt "$P" --subject "$S"
run "window 0" 2 "--window: 0 is out of range" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --window 0
run "samples 0" 2 "--samples: 0 is out of range" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 0
run "samples not a number" 2 "--samples: 'ten' is not an integer" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples ten
for n in abc 0 -1 s 0s -3s 1e999 nan 3x ""; do
  run "bad --noise '$n'" 2 "--noise: '$n'" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --noise "$n"
done
run "bad --kind" 2 "--kind: 'neurons'" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --kind neurons
run "bad --kind list" 2 "--kind: 'mlp,'" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --kind mlp,
run "--json and --csv" 2 "--json and --csv exclude each other" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --json --csv
run "--plain and --json" 2 "--plain is for the heatmap" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --json --plain
run "--out with --prompt" 2 "--out does not go with --prompt" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --out "$T/o"
run "--shard with --prompt" 2 "--shard does not go with --prompt" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --shard 0/2
run "--prompt and --dataset" 2 "give one of --prompt, --dataset and --merge" "$FE" trace --model "$R" --prompt "$P" --dataset x.json --out "$T/o"
run "stray argument" 2 "unexpected argument 'extra'" "$FE" trace --model "$R" --prompt "$P" --subject "$S" extra
run "empty --answer" 1 "--answer is empty" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --answer ""
run "svg into a missing directory" 2 "--svg '$T/nodir/x.svg': cannot write in directory '$T/nodir': No such file or directory" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --samples 2 --kind hidden --svg "$T/nodir/x.svg"
run "small-context model" 0 "wrote" "$FE" random "$T/short.bin" --layers 1 --heads 1 --width 8 --context 8
run "prompt longer than the context" 1 "longer than the model's context of 8 tokens" "$FE" trace --model "$T/short.bin" --prompt "$P" --subject "$S"
run "small-vocabulary model" 0 "wrote" "$FE" random "$T/v300.bin" --layers 1 --heads 1 --width 8 --vocab 300 --context 16
run "prompt outside the vocabulary" 1 "outside the model's vocabulary of 300 tokens" "$FE" trace --model "$T/v300.bin" --prompt "$P" --subject "$S"
if [ -w /dev/full ]; then
  run "trace to a full disk" 1 "cannot write to standard output" sh -c "\"$FE\" trace --model \"$R\" --prompt \"$P\" --subject \"$S\" --samples 1 --kind hidden > /dev/full"
fi

# ------------------------------------------------------------------ a dataset
# Facts whose attribute is the random model's own greedy continuation (kept when it starts with a
# space), one with a wrong attribute and one whose subject is not in its prompt.
D="$T/ds.json"
printf '[\n' > "$D"
i=0
for p in "Vinson Massif is located in the continent of" "Beats Music is owned by" "Audible.com is owned by" \
         "The Space Needle is located in the city of" "Apple A5 was created by" "Steve Jobs worked for"; do
  subj=$(echo "$p" | sed 's/ is .*//; s/ was .*//; s/ worked .*//')
  "$FE" generate --model "$R" --prompt "$p" -n 1 > "$T/gen" 2>&1 || bad "dataset: generate '$p'"
  cont=$(tail -c +$((${#p} + 1)) "$T/gen" | tr -d '\n' | sed 's/^ //; s/\\/\\\\/g; s/"/\\"/g')
  printf ' {"known_id": %d, "subject": "%s", "attribute": "%s", "template": "", "prediction": "", "prompt": "%s", "relation_id": "P0"},\n' \
    $i "$subj" "$cont" "$p" >> "$D"
  i=$((i + 1))
done
printf ' {"known_id": 6, "subject": "Steve Jobs", "attribute": "Zzyzx Quux", "prompt": "Steve Jobs worked for"},\n' >> "$D"
printf ' {"known_id": 7, "subject": "Elvis", "attribute": "Apple", "prompt": "Steve Jobs worked for"}\n]\n' >> "$D"

run "dataset" 0 "kept " "$FE" trace --model "$R" --dataset "$D" --out "$T/full" --samples 2 --quiet
has "dataset: counts" "$T/out" "of 8 facts ("
kept=$(sed -n 's/^kept \([0-9]*\) of 8 facts.*/\1/p' "$T/out")
if [ -n "$kept" ] && [ "$kept" -ge 1 ]; then ok; else bad "dataset: no fact kept: $(cat "$T/out")"; fi
has "dataset: the wrong attribute and the missing subject" "$T/out" "could not be traced"
for f in facts.jsonl summary.json aie_lines.svg aie_heatmap.svg sever.svg; do exists "dataset: $f" "$T/full/$f"; done
no_temps "$T/full" "dataset"
same "dataset: header + 8 records" "$(wc -l < "$T/full/facts.jsonl" | tr -d ' ')" 9
has "dataset: complete header" "$T/full/facts.jsonl" '"shard": [0, 1], "records": 8, "complete": true}'
same "dataset: kept records" "$(count "$T/full/facts.jsonl" '"status": "kept"')" "$kept"
has "dataset: wrong prediction recorded" "$T/full/facts.jsonl" '"attribute": "Zzyzx Quux", "prompt": "Steve Jobs worked for", "status": "wrong_prediction"'
has "dataset: error recorded" "$T/full/facts.jsonl" '"status": "error", "error": "subject \"Elvis\" not found'
has "dataset: severed traces" "$T/full/facts.jsonl" '"sever_token": '
has "summary: kept" "$T/full/summary.json" "\"kept\": $kept,"
has "summary: buckets" "$T/full/summary.json" '"buckets": ["first subject token", "middle subject tokens", "last subject token", "first subsequent token", "further tokens", "last token"]'
has "summary: hidden" "$T/full/summary.json" '"hidden": ['
has "summary: intervals" "$T/full/summary.json" '"ci95_low": ['
has "summary: sever" "$T/full/summary.json" '"sever": {"token": "last subject token"'
has "summary: noise = 3 sigma" "$T/full/summary.json" '"noise_spec": "3s", "embedding_std": 0.0'
has "lines svg: a bucket" "$T/full/aie_lines.svg" 'Last subject token'
has "lines svg: a run of MLP lookups" "$T/full/aie_lines.svg" 'a run of 10 MLP lookups'
has "heatmap svg" "$T/full/aie_heatmap.svg" "Avg Indirect Effect of MLP over $kept prompts"
has "sever svg" "$T/full/sever.svg" 'Effect with MLP severed'
run "dataset again" 0 "" "$FE" trace --model "$R" --dataset "$D" --out "$T/again" --samples 2 --quiet
samefile "dataset: deterministic" "$T/full/facts.jsonl" "$T/again/facts.jsonl"
run "dataset with progress" 0 "" "$FE" trace --model "$R" --dataset "$D" --out "$T/again" --samples 2 --kind hidden
has "dataset: progress on stderr" "$T/err" "8/8 facts"
has "dataset: noise on stderr" "$T/err" "std of the embeddings of the dataset's subjects"
hasnt "dataset --kind hidden: no mlp grid" "$T/again/facts.jsonl" '"mlp": [['

# shards: into one directory, into two; merged = the whole run, byte for byte
run "shard 0/2" 0 "shard 0/2: kept" "$FE" trace --model "$R" --dataset "$D" --out "$T/sh" --samples 2 --shard 0/2 --quiet
run "shard 1/2" 0 "shard 1/2: kept" "$FE" trace --model "$R" --dataset "$D" --out "$T/sh" --samples 2 --shard 1/2 --quiet
for f in facts-0-of-2.jsonl facts-1-of-2.jsonl summary-0-of-2.json summary-1-of-2.json; do exists "shards: $f" "$T/sh/$f"; done
missing "shards: no figures for a part" "$T/sh/aie_lines.svg"
same "shard 0/2 holds facts 0, 2, 4, 6" "$(grep -c '"index": [0246],' "$T/sh/facts-0-of-2.jsonl")" 4
run "merge" 0 "merged 2 shards: kept $kept of 8 facts" "$FE" trace --merge "$T/sh" --out "$T/merged"
for f in facts.jsonl summary.json aie_lines.svg aie_heatmap.svg sever.svg; do samefile "merge(0/2, 1/2) = whole run: $f" "$T/full/$f" "$T/merged/$f"; done
mkdir -p "$T/s0" "$T/s1"
cp "$T/sh/facts-0-of-2.jsonl" "$T/s0/" && cp "$T/sh/facts-1-of-2.jsonl" "$T/s1/"
run "merge two directories" 0 "merged 2 shards" "$FE" trace --merge "$T/s1" "$T/s0" --out "$T/merged2"
samefile "merge of two directories: summary" "$T/full/summary.json" "$T/merged2/summary.json"
run "merge files" 0 "merged 2 shards" "$FE" trace --merge "$T/sh/facts-1-of-2.jsonl" "$T/sh/facts-0-of-2.jsonl" --out "$T/merged3"
samefile "merge of files: facts" "$T/full/facts.jsonl" "$T/merged3/facts.jsonl"
# format 1 (facts files of an older factedit, whose dataset_hash used another FNV basis): such
# shards merge with each other (into format 1), never with format-2 shards
mkdir -p "$T/v1"
for i in 0 1; do sed '1s/"factedit-trace-facts 2"/"factedit-trace-facts 1"/' "$T/sh/facts-$i-of-2.jsonl" > "$T/v1/facts-$i-of-2.jsonl"; done
has "shards are format 2" "$T/sh/facts-0-of-2.jsonl" '"format": "factedit-trace-facts 2"'
run "merge format-1 shards" 0 "merged 2 shards: kept $kept of 8 facts" "$FE" trace --merge "$T/v1" --out "$T/merged_v1"
has "merge of format-1 shards: format 1" "$T/merged_v1/facts.jsonl" '"format": "factedit-trace-facts 1"'
has "merge of format-1 shards: summary format 1" "$T/merged_v1/summary.json" '"format": "factedit-trace-summary 1"'
run "merge format 1 with format 2" 1 "they differ in format (facts format 1" "$FE" trace --merge "$T/v1/facts-0-of-2.jsonl" "$T/sh/facts-1-of-2.jsonl" --out "$T/merged_mix"
run "merge a whole run" 0 "merged 1 shard" "$FE" trace --merge "$T/full" --out "$T/merged4"
samefile "merge of a whole run: summary" "$T/full/summary.json" "$T/merged4/summary.json"
run "three shards" 0 "" sh -c "for i in 0 1 2; do \"$FE\" trace --model \"$R\" --dataset \"$D\" --out \"$T/sh3\" --samples 2 --shard \$i/3 --quiet || exit 1; done"
run "merge three shards" 0 "merged 3 shards" "$FE" trace --merge "$T/sh3" --out "$T/merged5"
samefile "merge of 3 shards: summary" "$T/full/summary.json" "$T/merged5/summary.json"
run "shard beyond the facts" 0 "shard 8/9: kept 0 of 0 facts" "$FE" trace --model "$R" --dataset "$D" --out "$T/sh9" --samples 2 --shard 8/9 --quiet

# --limit, absolute noise
run "dataset --limit" 0 "--limit of 3 facts" "$FE" trace --model "$R" --dataset "$D" --out "$T/lim" --samples 2 --limit 3 --quiet
same "dataset --limit: header + 3 records" "$(wc -l < "$T/lim/facts.jsonl" | tr -d ' ')" 4
has "dataset --limit: header" "$T/lim/facts.jsonl" '"dataset_facts": 8, "limit": 3, "facts": 3,'
run "dataset absolute noise" 0 "" "$FE" trace --model "$R" --dataset "$D" --out "$T/abs" --samples 2 --limit 2 --noise 0.05 --quiet
has "dataset absolute noise: header" "$T/abs/facts.jsonl" '"noise": 0.0500000007, "noise_spec": "0.05", "embedding_std": null'

# merge errors
run "merge: a shard missing" 1 "shard 1/2 is missing" "$FE" trace --merge "$T/s0" --out "$T/m_err"
run "merge: a shard twice" 1 "given twice" "$FE" trace --merge "$T/s0" "$T/sh/facts-0-of-2.jsonl" "$T/s1" --out "$T/m_err"
run "shard with other samples" 0 "" "$FE" trace --model "$R" --dataset "$D" --out "$T/s3" --samples 3 --shard 1/2 --quiet
run "merge: other parameters" 1 "they differ in samples" "$FE" trace --merge "$T/s0" "$T/s3" --out "$T/m_err"
run "merge: a whole run and a shard" 1 "is shard 0/1 but" "$FE" trace --merge "$T/full" "$T/s1" --out "$T/m_err"
mkdir -p "$T/inc" && sed '1s/"complete": true/"complete": false/' "$T/sh/facts-1-of-2.jsonl" > "$T/inc/facts-1-of-2.jsonl"
run "merge: an incomplete shard" 1 "is incomplete" "$FE" trace --merge "$T/s0" "$T/inc" --out "$T/m_err"
mkdir -p "$T/cut" && head -n 2 "$T/sh/facts-1-of-2.jsonl" > "$T/cut/facts-1-of-2.jsonl"
run "merge: a cut shard" 1 "holds 1 records, its header says 4" "$FE" trace --merge "$T/s0" "$T/cut" --out "$T/m_err"
mkdir -p "$T/mal" && sed '2,$s/"sever": {"none"/"sever": {"nothing"/' "$T/sh/facts-1-of-2.jsonl" > "$T/mal/facts-1-of-2.jsonl"
if grep -q '"status": "kept"' "$T/mal/facts-1-of-2.jsonl"; then
  run "merge: a malformed record" 1 "is malformed" "$FE" trace --merge "$T/s0" "$T/mal" --out "$T/m_err"
fi
sed '2s/"index": 1,/"index": 2,/' "$T/sh/facts-1-of-2.jsonl" > "$T/mal/facts-1-of-2.jsonl"
run "merge: a record of another shard" 1 "no fact index of shard 1/2" "$FE" trace --merge "$T/s0" "$T/mal" --out "$T/m_err"
mkdir -p "$T/junk" && printf 'not json\n' > "$T/junk/facts-1-of-2.jsonl"
run "merge: not a facts file" 1 "line 1" "$FE" trace --merge "$T/s0" "$T/junk" --out "$T/m_err"
printf '{"format": "something else"}\n' > "$T/junk/facts-1-of-2.jsonl"
run "merge: another format" 1 "not a factedit trace facts file" "$FE" trace --merge "$T/s0" "$T/junk" --out "$T/m_err"
mkdir -p "$T/both" && cp "$T/full/facts.jsonl" "$T/sh/facts-0-of-2.jsonl" "$T/both/"
run "merge: whole and shard files in one directory" 1 "holds both facts.jsonl" "$FE" trace --merge "$T/both" --out "$T/m_err"
mkdir -p "$T/empty"
run "merge: no facts files" 1 "no facts*.jsonl file in" "$FE" trace --merge "$T/empty" --out "$T/m_err"
run "merge: missing directory" 1 "cannot open '$T/nodir'" "$FE" trace --merge "$T/nodir" --out "$T/m_err"
run "merge: no --out" 2 "--merge needs --out DIR" "$FE" trace --merge "$T/sh"
run "merge: no inputs" 2 "--merge needs the shard directories" "$FE" trace --merge --out "$T/m_err"
run "merge: --model does not go" 2 "--model does not go with --merge" "$FE" trace --merge "$T/sh" --out "$T/m_err" --model "$R"
missing "merge errors wrote nothing" "$T/m_err"

# dataset errors
run "--shard 2/2" 2 "--shard: '2/2' is not i/n" "$FE" trace --model "$R" --dataset "$D" --out "$T/x" --shard 2/2
for s in 1 a/b 0/0 -1/2 1/-2 /2 "0/2/3" "0/ 2" ""; do
  run "bad --shard '$s'" 2 "--shard: '$s'" "$FE" trace --model "$R" --dataset "$D" --out "$T/x" --shard "$s"
done
run "--limit 0" 2 "--limit: 0 is out of range" "$FE" trace --model "$R" --dataset "$D" --out "$T/x" --limit 0
run "dataset without --out" 2 "--dataset needs --out DIR" "$FE" trace --model "$R" --dataset "$D"
run "dataset with --svg" 2 "--svg does not go with --dataset" "$FE" trace --model "$R" --dataset "$D" --out "$T/x" --svg "$T/x.svg"
run "dataset with --subject" 2 "--subject does not go with --dataset" "$FE" trace --model "$R" --dataset "$D" --out "$T/x" --subject "$S"
run "dataset: missing file" 1 "cannot open '$T/nope.json'" "$FE" trace --model "$R" --dataset "$T/nope.json" --out "$T/x"
run "dataset: a directory" 2 "--dataset '$T' is not a regular file (it is a directory)" "$FE" trace --model "$R" --dataset "$T" --out "$T/x"
printf '[{"subject": "a",' > "$T/bad.json"
run "dataset: not JSON" 1 "--dataset '$T/bad.json'" "$FE" trace --model "$R" --dataset "$T/bad.json" --out "$T/x"
printf '{"subject": "a"}' > "$T/obj.json"
run "dataset: not an array" 1 "expected a JSON array of facts" "$FE" trace --model "$R" --dataset "$T/obj.json" --out "$T/x"
printf '[{"subject": "a", "attribute": "b", "prompt": "a c"}, {"attribute": "b", "prompt": "c"}]' > "$T/nosub.json"
run "dataset: a fact without a subject" 1 'fact 1 has no string "subject"' "$FE" trace --model "$R" --dataset "$T/nosub.json" --out "$T/x"
printf '[1]' > "$T/num.json"
run "dataset: a fact that is not an object" 1 "fact 0 is not an object" "$FE" trace --model "$R" --dataset "$T/num.json" --out "$T/x"
missing "dataset errors wrote nothing" "$T/x"
printf 'x' > "$T/afile"
run "dataset: --out under a file" 2 "--out '$T/afile/out': cannot create the directory: Not a directory" "$FE" trace --model "$R" --dataset "$D" --out "$T/afile/out"
run "dataset: --out is a file" 2 "--out '$T/afile' exists and is not a directory" "$FE" trace --model "$R" --dataset "$D" --out "$T/afile"
run "dataset: --out in a missing directory" 2 "--out '$T/no/such/dir': cannot write in directory '$T/no/such': No such file or directory" "$FE" trace --model "$R" --dataset "$D" --out "$T/no/such/dir"
if [ -n "$NO_PERM_TESTS" ]; then echo "note: permission tests skipped: $NO_PERM_TESTS"; else   # AS_USER: root may write anywhere
  open_tmp "$T"; mkdir -p "$T/ro" && chmod 555 "$T/ro"
  run "dataset: read-only --out" 2 "--out '$T/ro': cannot write in it: Permission denied" $AS_USER "$FE" trace --model "$R" --dataset "$D" --out "$T/ro"
  chmod 755 "$T/ro"
fi
run "dataset: missing model" 1 "cannot open '$T/nope.bin'" "$FE" trace --model "$T/nope.bin" --dataset "$D" --out "$T/x2"
run "dataset: missing vocabulary" 1 "vocabulary in $T/novocab" "$FE" trace --model "$R" --vocab "$T/novocab" --dataset "$D" --out "$T/x2"
missing "dataset: no --out directory made when the model or vocabulary fails" "$T/x2"

# ------------------------------------------------------------------ hostile inputs (issue 14; README "Hostile inputs")
# empty or fully skipped datasets are errors; a run that traced nothing never exits 0
printf '[]\n' > "$T/empty.json"
run "dataset []" 1 "--dataset '$T/empty.json' holds no facts (an empty array): nothing to trace" "$FE" trace --model "$R" --dataset "$T/empty.json" --out "$T/e1"
run "dataset [] with --noise" 1 "holds no facts" "$FE" trace --model "$R" --dataset "$T/empty.json" --out "$T/e2" --noise 0.1
missing "dataset []: no --out directory" "$T/e2"
printf '[{"subject": "Steve Jobs", "attribute": "Zzyzx Quux", "prompt": "Steve Jobs worked for"},\n {"subject": "Elvis", "attribute": "Apple", "prompt": "Steve Jobs worked for"}]\n' > "$T/skipped.json"
run "dataset with no fact traced" 1 "no fact was traced: of 2 facts, 1 predicted another first token than their attribute's and 1 could not be traced (each one's reason is in $T/sk/facts.jsonl)" \
    "$FE" trace --model "$R" --dataset "$T/skipped.json" --out "$T/sk" --samples 2 --quiet
exists "dataset with no fact traced: the records say why" "$T/sk/facts.jsonl"
missing "dataset with no fact traced: no summary" "$T/sk/summary.json"
run "dataset with no fact traced, --noise" 1 "no fact was traced" "$FE" trace --model "$R" --dataset "$T/skipped.json" --out "$T/sk2" --samples 2 --quiet --noise 0.1
run "a shard with no fact traced" 0 "shard 1/2: kept 0 of 1 facts" "$FE" trace --model "$R" --dataset "$T/skipped.json" --out "$T/sks" --samples 2 --shard 1/2
has "a shard with no fact traced: a note" "$T/err" "shard 1/2 traced no fact"
run "its other shard" 0 "shard 0/2: kept 0 of 1 facts" "$FE" trace --model "$R" --dataset "$T/skipped.json" --out "$T/sks" --samples 2 --shard 0/2 --quiet
run "merge of shards that traced nothing" 1 "the shards traced no fact (2 facts: 1 predicted another first token, 1 could not be traced)" "$FE" trace --merge "$T/sks" --out "$T/skm"
missing "merge of shards that traced nothing: no output" "$T/skm"
# outputs that are inputs; inputs that are not regular files (timeout: a FIFO must not hang)
run "--svg = --model" 2 "--svg '$T/./r.bin' is the same file as --model '$R'" "$FE" trace --model "$R" --prompt "$P" --subject "$S" --svg "$T/./r.bin"
mkdir -p "$T/dsin" && cp "$D" "$T/dsin/facts.jsonl"
run "--out DIR holding the --dataset as facts.jsonl" 2 "--out '$T/dsin/facts.jsonl' is the same file as --dataset" "$FE" trace --model "$R" --dataset "$T/dsin/facts.jsonl" --out "$T/dsin" --samples 2
samefile "the dataset survived" "$T/dsin/facts.jsonl" "$D"
run "--merge into the directory it reads" 2 "--out '$T/full/facts.jsonl' is the same file as --merge '$T/full/facts.jsonl'" "$FE" trace --merge "$T/full" --out "$T/full"
mkfifo "$T/fifo.json"
run "dataset FIFO" 2 "--dataset '$T/fifo.json' is not a regular file (it is a FIFO)" timeout 10 "$FE" trace --model "$R" --dataset "$T/fifo.json" --out "$T/f1"
run "trace --model FIFO" 2 "--model '$T/fifo.json' is not a regular file (it is a FIFO)" timeout 10 "$FE" trace --model "$T/fifo.json" --prompt "$P" --subject "$S"
mkdir -p "$T/fm" && mkfifo "$T/fm/facts.jsonl"
run "merge of a FIFO facts.jsonl" 2 "--merge '$T/fm/facts.jsonl' is not a regular file (it is a FIFO)" timeout 10 "$FE" trace --merge "$T/fm" --out "$T/f2"
run "merge of a FIFO file" 2 "is not a regular file (it is a FIFO)" timeout 10 "$FE" trace --merge "$T/fifo.json" --out "$T/f2"
missing "refusals wrote nothing" "$T/f1"
rm -f "$T/fifo.json" "$T/fm/facts.jsonl"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
