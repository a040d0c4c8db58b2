#!/bin/sh
# Tests of the factedit command-line tool: every command's success cases and error cases.
#   sh tests/test_cli.sh build/factedit        (run from the repository root)
# Each check runs the tool, compares the exit status (0, 1 = failure, 2 = usage error) and looks
# for a phrase naming the problem on stderr (or the expected result on stdout). A crash (signal)
# or a sanitizer report fails any check. Prints a FAIL line per failed check and ends with
# "N passed, M failed"; exits non-zero if anything failed.
FE=${1:-build/factedit}
DATA=tests/data/tiny_a
if [ ! -x "$FE" ]; then echo "FAIL: $FE is not an executable (build it first)"; echo "0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fe_cli.XXXXXX") || { echo "FAIL: mktemp"; echo "0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$T"' EXIT INT TERM
. tests/cli_lib.sh



# no temporary files left beside outputs
no_temps() { if ls "$1" | grep -q '\.tmp'; then bad "$2: temporary file left in $1: $(ls "$1")"; else ok; fi; }

# ------------------------------------------------------------------ top level, help
run "help" 0 "commands:" "$FE" --help
run "help lists convert" 0 "convert" "$FE" --help
run "help command" 0 "usage: factedit generate" "$FE" help generate
run "version" 0 "factedit 0." "$FE" --version
run "no command" 2 "usage: factedit COMMAND" "$FE"
run "unknown command" 2 "unknown command 'frobnicate'" "$FE" frobnicate
for c in convert random generate tokenize info; do
  run "$c --help" 0 "usage: factedit $c" "$FE" "$c" --help
  run "$c -h" 0 "-h, --help" "$FE" "$c" -h
done

# ------------------------------------------------------------------ random
R="$T/r.bin"
run "random small" 0 "wrote $R" "$FE" random "$R" --layers 2 --heads 2 --width 32 --context 16 --seed 7
run "random same seed" 0 "" "$FE" random "$T/r2.bin" --layers 2 --heads 2 --width 32 --context 16 --seed 7
if cmp -s "$R" "$T/r2.bin"; then ok; else bad "random: the same seed gave different files"; fi
run "random other seed" 0 "" "$FE" random "$T/r3.bin" --layers 2 --heads 2 --width 32 --context 16 --seed 8
if cmp -s "$R" "$T/r3.bin"; then bad "random: seeds 7 and 8 gave the same file"; else ok; fi
run "random --x=v form" 0 "" "$FE" random "$T/r4.bin" --layers=1 --heads=1 --width=8 --vocab=300 --context=8
run "info random" 0 "vocabulary:  300 (padded to 384)" "$FE" info --model "$T/r4.bin"
# 1024-byte header + (Vp*C + T*C + L*(12C^2 + 13C) + 2C) floats = 384*8 + 64 + 872 + 16 = 4024
same "random file size" "$(wc -c < "$T/r4.bin" | tr -d ' ')" $((1024 + 4 * 4024))
run "random bf16" 0 "bf16" "$FE" random "$T/r5.bin" --layers=1 --heads=1 --width=8 --vocab=300 --context=8 --bf16
run "info bf16" 0 "version 5 (bf16)" "$FE" info --model "$T/r5.bin"
same "random bf16 file size" "$(wc -c < "$T/r5.bin" | tr -d ' ')" $((1024 + 2 * 4024))
run "info parameters" 0 "parameters:  3352 (4024 stored" "$FE" info --model "$T/r4.bin"
run "random width not a multiple of heads" 1 "not a multiple" "$FE" random "$T/x.bin" --heads 2 --width 33 --layers 1 --vocab 10 --context 4
run "random too many layers" 1 "layers, allowed" "$FE" random "$T/x.bin" --layers 100000 --width 8 --heads 1
if [ -e "$T/x.bin" ]; then bad "random: a failed run wrote x.bin"; else ok; fi
run "random bad int" 2 "--layers: '12abc' is not an integer" "$FE" random "$T/x.bin" --layers 12abc
run "random int overflow" 2 "--width: 99999999999999999999 is out of range" "$FE" random "$T/x.bin" --width 99999999999999999999
run "random zero" 2 "--heads: 0 is out of range" "$FE" random "$T/x.bin" --heads 0
run "random plus sign" 2 "is not an integer" "$FE" random "$T/x.bin" --layers +3
run "random empty int" 2 "is not an integer" "$FE" random "$T/x.bin" --layers ""
run "random negative seed" 2 "--seed: '-1' is not a non-negative integer" "$FE" random "$T/x.bin" --seed -1
run "random seed overflow" 2 "does not fit in 64 bits" "$FE" random "$T/x.bin" --seed 18446744073709551616
run "random missing value" 2 "--layers needs a value" "$FE" random "$T/x.bin" --layers
run "random missing output" 2 "missing argument OUT.bin" "$FE" random
run "random extra argument" 2 "unexpected argument 'extra'" "$FE" random "$T/x.bin" extra
run "random unknown option" 2 "unknown option '--foo'" "$FE" random "$T/x.bin" --foo 3
run "random option twice" 2 "--seed given twice" "$FE" random "$T/x.bin" --seed 1 --seed 2
run "random flag with value" 2 "--bf16 takes no value" "$FE" random "$T/x.bin" --bf16=1
run "random into a missing directory" 2 "cannot write in directory '$T/nodir': No such file or directory" "$FE" random "$T/nodir/x.bin" --layers 1 --width 8 --heads 1 --vocab 10 --context 4

# ------------------------------------------------------------------ generate (random model, GPT-2 vocabulary)
P="The Space Needle is located in the city of"
run "generate greedy" 0 "$P" "$FE" generate --model "$R" --prompt "$P" -n 5
g1=$(cat "$T/out")
run "generate greedy again" 0 "" "$FE" generate --model "$R" --prompt "$P" -n 5
same "generate greedy is deterministic" "$(cat "$T/out")" "$g1"
case "$g1" in "$P"?*) ok ;; *) bad "generate: output does not start with the prompt plus text: '$g1'" ;; esac
run "generate sampled" 0 "$P" "$FE" generate --model "$R" --prompt "$P" -n 6 --temperature 1 --seed 1
s1=$(cat "$T/out")
run "generate sampled again" 0 "" "$FE" generate --model "$R" --prompt "$P" -n 6 --temperature 1 --seed 1
same "generate: same seed, same text" "$(cat "$T/out")" "$s1"
run "generate other seed" 0 "" "$FE" generate --model "$R" --prompt "$P" -n 6 --temperature 1 --seed 2
differ "generate: seeds 1 and 2" "$(cat "$T/out")" "$s1"
run "generate top-k" 0 "$P" "$FE" generate --model "$R" --prompt "$P" -n 4 --top-k 5 --seed 3
# (top-p alone on a 300-token vocabulary: fe_sample sorts the whole vocabulary, O(V^2) for now)
run "generate top-p" 0 "1,2," "$FE" generate --model "$T/r4.bin" --ids --prompt 1,2 -n 4 --top-p 0.9 --seed 3
run "generate top-k + top-p" 0 "$P" "$FE" generate --model "$R" --prompt "$P" -n 4 --top-k 40 --top-p 0.9 --seed 3
run "generate -n 0" 0 "$P" "$FE" generate --model "$R" --prompt "$P" -n 0
run "generate ids" 0 "" "$FE" generate --model "$R" --ids --prompt "464, 4687" -n 3
case "$(cat "$T/out")" in 464,4687,*,*,*) ok ;; *) bad "generate --ids: '$(cat "$T/out")'" ;; esac
run "generate bf16 model" 0 "1,2," "$FE" generate --model "$T/r5.bin" --ids --prompt 1,2 -n 2
run "generate bf16 file, widened" 0 "1,2," "$FE" generate --model "$T/r5.bin" --ids --prompt 1,2 -n 6
w1=$(cat "$T/out")
run "generate bf16 file, --bf16" 0 "1,2," "$FE" generate --model "$T/r5.bin" --ids --prompt 1,2 -n 6 --bf16
same "generate --bf16: the same tokens as the widened weights" "$(cat "$T/out")" "$w1"
run "generate --bf16, demo model (text)" 0 "The Eiffel Tower" "$FE" generate --bf16 --prompt "The Eiffel Tower is located in" -n 3
run "generate empty prompt" 1 "empty prompt" "$FE" generate --model "$R" --prompt ""
run "generate empty id prompt" 1 "empty prompt" "$FE" generate --model "$R" --ids --prompt ""
LONG="one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen"
run "generate prompt longer than context" 1 "longer than the model's context of 16 tokens" "$FE" generate --model "$R" --prompt "$LONG"
run "generate prompt + n beyond context" 1 "use -n 7 or less" "$FE" generate --model "$R" --prompt "$P" -n 8
run "generate with the built-in demo model" 0 "Seattle" "$FE" generate --prompt "The headquarter of Zillow is in downtown" -n 2
run "generate no prompt" 2 "no --prompt given" "$FE" generate --model "$R"
run "generate missing model file" 1 "cannot open '$T/nope.bin'" "$FE" generate --model "$T/nope.bin" --prompt "$P"
run "generate bad -n" 2 "-n: '5x' is not an integer" "$FE" generate --model "$R" --prompt "$P" -n 5x
run "generate negative -n" 2 "-n: -1 is out of range" "$FE" generate --model "$R" --prompt "$P" -n -1
run "generate bad temperature" 2 "--temperature: 'warm' is not a number" "$FE" generate --model "$R" --prompt "$P" --temperature warm
run "generate negative temperature" 2 "--temperature must be >= 0" "$FE" generate --model "$R" --prompt "$P" --temperature -1
run "generate infinite temperature" 2 "not a finite number" "$FE" generate --model "$R" --prompt "$P" --temperature 1e999
run "generate bad top-p" 2 "--top-p must be between 0 and 1" "$FE" generate --model "$R" --prompt "$P" --top-p 1.5
run "generate bad id list" 2 "'x' is not a token id" "$FE" generate --model "$R" --ids --prompt "1,x"
run "generate missing vocabulary dir" 1 "cannot open vocab.bpe or merges.txt" "$FE" generate --model "$R" --vocab "$T/novocab" --prompt "$P"
# the model's directory is searched for a vocabulary first
mkdir -p "$T/withvocab" && cp "$R" "$T/withvocab/m.bin" && printf '#version: 0.2\nnot a merge line at all\n' > "$T/withvocab/vocab.bpe"
run "generate uses the model's directory" 1 "vocabulary in $T/withvocab" "$FE" generate --model "$T/withvocab/m.bin" --prompt "$P" -n 1
run "generate --vocab overrides it" 0 "$P" "$FE" generate --model "$T/withvocab/m.bin" --vocab tools/gpt2 --prompt "$P" -n 1

# ------------------------------------------------------------------ broken checkpoints
head -c 5000 "$R" > "$T/trunc.bin"
run "truncated checkpoint" 1 "file has 5000 bytes" "$FE" info --model "$T/trunc.bin"
run "truncated checkpoint (generate)" 1 "file has 5000 bytes" "$FE" generate --model "$T/trunc.bin" --prompt "$P"
head -c 100 "$R" > "$T/tiny.bin"
run "checkpoint shorter than its header" 1 "the header alone needs" "$FE" info --model "$T/tiny.bin"
{ printf 'GPT2'; tail -c +5 "$R"; } > "$T/magic.bin"
run "bad magic" 1 "bad magic" "$FE" info --model "$T/magic.bin"
{ head -c 4 "$R"; printf '\004\000\000\000'; tail -c +9 "$R"; } > "$T/version.bin"
run "bad version" 1 "version 4 not supported" "$FE" info --model "$T/version.bin"
: > "$T/empty.bin"
run "empty checkpoint" 1 "checkpoint" "$FE" info --model "$T/empty.bin"
run "checkpoint is a directory" 2 "--model '$T' is not a regular file (it is a directory)" "$FE" info --model "$T"
run "info of the built-in demo model" 0 "$(cat demo/model/CHECKSUM)" "$FE" info
run "info missing file" 1 "cannot open '$T/nope.bin': No such file or directory" "$FE" info --model "$T/nope.bin"

# ------------------------------------------------------------------ tokenize
run "tokenize text, GPT-2's vocabulary" 0 "15496,995" "$FE" tokenize --vocab gpt2 --text "Hello world"
same "tokenize ids" "$(cat "$T/out")" "15496,995"
run "tokenize ids back" 0 "" "$FE" tokenize --vocab gpt2 --ids "15496,995"
same "tokenize round trip" "$(cat "$T/out")" "Hello world"
U="naïve café, 日本語 and emoji 🙂 — 'quotes' it's 2024!"
run "tokenize unicode" 0 "" "$FE" tokenize --vocab gpt2 --text "$U"
ids=$(cat "$T/out")
run "tokenize unicode back" 0 "" "$FE" tokenize --vocab gpt2 --ids "$ids"
same "tokenize unicode round trip" "$(cat "$T/out")" "$U"
run "tokenize with a vocabulary directory" 0 "15496,995" "$FE" tokenize --vocab tools/gpt2 --text "Hello world"
run "tokenize ids with spaces" 0 "Hello world" "$FE" tokenize --vocab gpt2 --ids " 15496 , 995 "
# the default vocabulary is the model commands' default: the built-in demo model's (issue 14)
Z="The headquarter of Zillow is in downtown"
run "tokenize: the demo model's vocabulary by default" 0 "" "$FE" tokenize --text "$Z"
zids=$(cat "$T/out")
run "tokenize --vocab demo/model = the default" 0 "$zids" "$FE" tokenize --vocab demo/model --text "$Z"
differ "tokenize: the demo's ids are not GPT-2's" "$zids" "$("$FE" tokenize --vocab gpt2 --text "$Z")"
run "generate --ids on tokenize's ids" 0 "" "$FE" generate --ids --prompt "$zids" -n 2
gids=$(cat "$T/out")
run "tokenize the generated ids back" 0 "" "$FE" tokenize --ids "$gids"
same "tokenize + generate --ids = generate" "$(cat "$T/out")" "$("$FE" generate --prompt "$Z" -n 2)"
run "tokenize --model: its vocabulary (none beside it: GPT-2's)" 0 "15496,995" "$FE" tokenize --model "$R" --text "Hello world"
run "tokenize --model of the demo model's directory" 0 "$zids" "$FE" tokenize --model demo/model/model.bin --text "$Z"
run "tokenize --help: the default vocabulary" 0 "without --model or --vocab the built-in demo model's" "$FE" tokenize --help
run "generate --help: --model is optional" 0 "usage: factedit generate [--model FILE]" "$FE" generate --help
run "tokenize --model missing" 1 "cannot open '$T/nope.bin': No such file or directory" "$FE" tokenize --model "$T/nope.bin" --text a
run "tokenize both" 2 "exactly one of --text and --ids" "$FE" tokenize --text a --ids 1
run "tokenize neither" 2 "exactly one of --text and --ids" "$FE" tokenize
run "tokenize bad id" 2 "'12a' is not a token id" "$FE" tokenize --ids 1,12a
run "tokenize empty item" 2 "is not a token id" "$FE" tokenize --ids 1,,2
run "tokenize missing comma" 2 "expected ','" "$FE" tokenize --ids "1 2"
run "tokenize negative id" 2 "is not a token id" "$FE" tokenize --ids=-5
run "tokenize unknown id" 1 "99999 is not a token id" "$FE" tokenize --vocab gpt2 --ids 99999
run "tokenize huge id" 2 "is not a token id" "$FE" tokenize --ids 99999999999999
if [ -w /dev/full ]; then
  run "tokenize to a full disk" 1 "cannot write to standard output" sh -c "\"$FE\" tokenize --text hi > /dev/full"
fi

# ------------------------------------------------------------------ convert (tiny_a: 4 layers, 3 heads, C 36, V 101, T 40)
C1="$T/tiny.hf.bin"
run "convert hf + config" 0 "wrote $C1: fp32, 4 layers, 3 heads, width 36, vocabulary 101, context 40" \
    "$FE" convert "$DATA/hf/model.safetensors" "$C1" --config "$DATA/hf/config.json"
sum=$(sed -n 's/.*checksum \([0-9a-f]*\)$/\1/p' "$T/out")
run "info converted" 0 "layers:      4" "$FE" info --model "$C1"
run "info converted heads" 0 "heads:       3" "$FE" info --model "$C1"
run "info converted vocabulary" 0 "vocabulary:  101 (padded to 128)" "$FE" info --model "$C1"
run "info converted context" 0 "context:     40" "$FE" info --model "$C1"
run "info converted checksum" 0 "checksum:    $sum" "$FE" info --model "$C1"
same "converted size" "$(wc -c < "$C1" | tr -d ' ')" $((1024 + 4 * 70200))
# greedy continuation from tests/data/tiny_a/cases.json ("generate"), computed by Hugging Face
GREEDY="86,56,73,90,70,24,24,46,46,46,46,46,46,46,46,46,46,46,46,46,46,46,46,46,46"
run "generate on converted tiny_a" 0 "" "$FE" generate --model "$C1" --ids --prompt 86,56,73,90,70 -n 20
same "tiny_a greedy = Hugging Face" "$(cat "$T/out")" "$GREEDY"
run "generate text on tiny_a" 1 "outside the model's vocabulary of 101 tokens" "$FE" generate --model "$C1" --prompt "Hello"
run "generate id beyond tiny_a" 1 "(id 101) is outside the model's vocabulary" "$FE" generate --model "$C1" --ids --prompt 5,101
run "convert finds config.json beside the input" 0 "" "$FE" convert "$DATA/hf/model.safetensors" "$T/auto.bin"
if grep -q -F "using $DATA/hf/config.json" "$T/err" && cmp -s "$C1" "$T/auto.bin"; then ok; else bad "convert: config.json beside the input not used: $(cat "$T/err")"; fi
run "convert --n-head" 0 "" "$FE" convert "$DATA/hf/model.safetensors" "$T/nh.bin" --no-config --n-head 3
if cmp -s "$C1" "$T/nh.bin"; then ok; else bad "convert --n-head 3 differs from the config.json conversion"; fi
run "convert --n-head disagrees" 1 "n_head argument 4 disagrees with config.json n_head 3" "$FE" convert "$DATA/hf/model.safetensors" "$T/x.bin" --n-head 4
run "convert no n_head" 1 "n_head unknown" "$FE" convert "$DATA/hf/model.safetensors" "$T/x.bin" --no-config
run "convert --config and --no-config" 2 "contradict" "$FE" convert "$DATA/hf/model.safetensors" "$T/x.bin" --no-config --config "$DATA/hf/config.json"
run "convert bf16" 0 "bf16" "$FE" convert "$DATA/hf/model.safetensors" "$T/b.bin" --bf16
run "info converted bf16" 0 "version 5 (bf16)" "$FE" info --model "$T/b.bin"
run "generate converted bf16" 0 "86,56,73,90,70," "$FE" generate --model "$T/b.bin" --ids --prompt 86,56,73,90,70 -n 3
# the oracle's noprefix / f16 / bf16 files lack h.N.attn.c_attn.bias: rejected, or filled from the F32 original
for v in noprefix_f32 f16 bf16; do
  run "convert $v alone" 1 "missing tensor 'h.0.attn.c_attn.bias'" "$FE" convert "$DATA/model_$v.safetensors" "$T/x.bin" --n-head 3
  if grep -q -F -- "--missing-from" "$T/err"; then ok; else bad "convert $v: no hint at --missing-from"; fi
  run "convert $v --missing-from" 0 "wrote $T/$v.bin" "$FE" convert "$DATA/model_$v.safetensors" "$T/$v.bin" --n-head 3 --missing-from "$DATA/hf/model.safetensors"
  same "convert $v: tensors filled" "$(grep -c "filled from $DATA/hf/model.safetensors" "$T/err")" 4
  if grep -q -F "tensor 'h.3.attn.c_attn.bias' missing from the input" "$T/err"; then ok; else bad "convert $v: filled tensors not named: $(cat "$T/err")"; fi
  run "generate $v" 0 "" "$FE" generate --model "$T/$v.bin" --ids --prompt 86,56,73,90,70 -n 20
  same "generate $v = Hugging Face" "$(cat "$T/out")" "$GREEDY"
done
if cmp -s "$C1" "$T/noprefix_f32.bin"; then ok; else bad "convert: noprefix_f32 + missing-from differs from hf"; fi
run "convert --missing-from, still missing" 1 "not in the missing-from file either" "$FE" convert "$DATA/model_f16.safetensors" "$T/x.bin" --n-head 3 --missing-from "$DATA/model_bf16.safetensors"
run "convert --missing-from another model" 1 "missing-from file" "$FE" convert "$DATA/model_f16.safetensors" "$T/x.bin" --n-head 3 --missing-from "$DATA/expected.safetensors"
run "convert --missing-from not found" 1 "cannot open '$T/nope.safetensors'" "$FE" convert "$DATA/model_f16.safetensors" "$T/x.bin" --n-head 3 --missing-from "$T/nope.safetensors"
run "convert missing input" 1 "cannot open '$T/nope.safetensors'" "$FE" convert "$T/nope.safetensors" "$T/x.bin"
run "convert not safetensors" 1 "safetensors" "$FE" convert "$DATA/cases.json" "$T/x.bin" --n-head 3
run "convert config not found" 1 "cannot open '$T/nope.json'" "$FE" convert "$DATA/hf/model.safetensors" "$T/x.bin" --config "$T/nope.json"
run "convert bad config" 1 "config.json" "$FE" convert "$DATA/hf/model.safetensors" "$T/x.bin" --config "$DATA/cases.json"
run "convert bad --n-head" 2 "--n-head: 'three' is not an integer" "$FE" convert "$DATA/hf/model.safetensors" "$T/x.bin" --n-head three
run "convert missing output" 2 "missing argument OUT.bin" "$FE" convert "$DATA/hf/model.safetensors"
if [ -e "$T/x.bin" ]; then bad "convert: a failed conversion wrote x.bin"; else ok; fi
# a failing conversion onto an existing file leaves it as it was
printf 'keep me' > "$T/keep.bin"
run "convert failure onto an existing file" 1 "missing tensor" "$FE" convert "$DATA/model_f16.safetensors" "$T/keep.bin" --n-head 3
same "existing output intact" "$(cat "$T/keep.bin")" "keep me"
run "convert bad config onto an existing file" 1 "n_layer" sh -c "sed 's/\"n_layer\": 4/\"n_layer\": 5/' $DATA/hf/config.json > $T/c5.json && \"$FE\" convert $DATA/hf/model.safetensors $T/keep.bin --config $T/c5.json"
same "existing output intact (2)" "$(cat "$T/keep.bin")" "keep me"
mkdir -p "$T/adir/sub"
run "convert onto a directory" 2 "OUT.bin '$T/adir' exists and is not a regular file (it is a directory)" "$FE" convert "$DATA/hf/model.safetensors" "$T/adir"
run "convert into a missing directory" 2 "OUT.bin '$T/nodir/x.bin': cannot write in directory '$T/nodir': No such file or directory" "$FE" convert "$DATA/hf/model.safetensors" "$T/nodir/x.bin"
no_temps "$T" "convert"
run "convert success onto an existing file" 0 "" "$FE" convert "$DATA/hf/model.safetensors" "$T/keep.bin"
if cmp -s "$C1" "$T/keep.bin"; then ok; else bad "convert: replacing an existing file"; fi
no_temps "$T" "convert (2)"

# ------------------------------------------------------------------ hostile paths (issue 14; README "Hostile inputs")
# Every command resolves its inputs and outputs before any work: an output that is an input
# (however spelled), an output whose directory is missing or not writable, an input that is not
# a regular file (a FIFO must not hang: each such check runs under `timeout 10`).
mkdir -p "$T/cv" && cp "$DATA/hf/model.safetensors" "$DATA/hf/config.json" "$T/cv/"
cp "$T/cv/model.safetensors" "$T/cv.orig" && cp "$T/cv/config.json" "$T/cv.config.orig"
run "convert IN onto itself" 2 "OUT.bin '$T/cv/model.safetensors' is the same file as IN.safetensors '$T/cv/model.safetensors'" \
    "$FE" convert "$T/cv/model.safetensors" "$T/cv/model.safetensors"
run "convert onto the config.json it reads" 2 "OUT.bin '$T/cv/config.json' is the same file as config.json beside IN '$T/cv/config.json'" \
    "$FE" convert "$T/cv/model.safetensors" "$T/cv/config.json"
FEA=$(cd "$(dirname "$FE")" && pwd)/$(basename "$FE")
run "convert onto --config, spelled ./" 2 "is the same file as --config" sh -c "cd '$T' && '$FEA' convert cv/model.safetensors ./cv/config.json --config cv/config.json"
run "convert onto --missing-from" 2 "is the same file as --missing-from" "$FE" convert "$DATA/model_f16.safetensors" "$T/cv/../cv/model.safetensors" --n-head 3 --missing-from "$T/cv/model.safetensors"
if cmp -s "$T/cv/model.safetensors" "$T/cv.orig" && cmp -s "$T/cv/config.json" "$T/cv.config.orig"; then ok; else bad "convert: an input was changed"; fi
ln -s model.safetensors "$T/cv/link.safetensors" && ln "$T/cv/model.safetensors" "$T/cv/hard.safetensors"
run "convert onto a symlink to IN" 2 "is the same file as IN.safetensors" "$FE" convert "$T/cv/model.safetensors" "$T/cv/link.safetensors"
run "convert onto a hard link of IN" 2 "is the same file as IN.safetensors" "$FE" convert "$T/cv/model.safetensors" "$T/cv/hard.safetensors"
if cmp -s "$T/cv/model.safetensors" "$T/cv.orig"; then ok; else bad "convert: IN was changed through a link"; fi
run "convert into a file's 'directory'" 2 "cannot write in '$T/cv.orig': Not a directory" "$FE" convert "$DATA/hf/model.safetensors" "$T/cv.orig/x.bin"
mkfifo "$T/fifo.bin" "$T/fifo.json"
run "info --model FIFO" 2 "--model '$T/fifo.bin' is not a regular file (it is a FIFO)" timeout 10 "$FE" info --model "$T/fifo.bin"
run "generate --model FIFO" 2 "is not a regular file (it is a FIFO)" timeout 10 "$FE" generate --model "$T/fifo.bin" --prompt hi
run "convert FIFO input" 2 "IN.safetensors '$T/fifo.bin' is not a regular file (it is a FIFO)" timeout 10 "$FE" convert "$T/fifo.bin" "$T/x.bin" --n-head 1
run "convert --config FIFO" 2 "--config '$T/fifo.json' is not a regular file (it is a FIFO)" timeout 10 "$FE" convert "$DATA/hf/model.safetensors" "$T/x.bin" --config "$T/fifo.json"
mkdir -p "$T/fifocfg" && cp "$DATA/hf/model.safetensors" "$T/fifocfg/" && mkfifo "$T/fifocfg/config.json"
run "convert, a FIFO config.json beside IN" 2 "config.json beside IN '$T/fifocfg/config.json' is not a regular file (it is a FIFO)" timeout 10 "$FE" convert "$T/fifocfg/model.safetensors" "$T/x.bin"
run "random onto a FIFO" 2 "OUT.bin '$T/fifo.bin' exists and is not a regular file (it is a FIFO)" timeout 10 "$FE" random "$T/fifo.bin" --layers 1 --width 8 --heads 1 --vocab 10 --context 4
mkdir -p "$T/vfifo" && mkfifo "$T/vfifo/vocab.bpe"
run "--vocab DIR with a FIFO vocab.bpe" 2 "--vocab '$T/vfifo/vocab.bpe' is not a regular file (it is a FIFO)" timeout 10 "$FE" generate --model "$R" --vocab "$T/vfifo" --prompt hi -n 1
run "tokenize --vocab DIR with a FIFO vocab.bpe" 2 "is not a regular file (it is a FIFO)" timeout 10 "$FE" tokenize --vocab "$T/vfifo" --text hi
cp "$R" "$T/vfifo/m.bin"
run "a FIFO vocab.bpe beside --model" 2 "the vocabulary beside --model '$T/vfifo/vocab.bpe' is not a regular file (it is a FIFO)" timeout 10 "$FE" generate --model "$T/vfifo/m.bin" --prompt hi -n 1
mkdir -p "$T/vdir/vocab.bpe"
run "--vocab DIR with a directory vocab.bpe" 2 "--vocab '$T/vdir/vocab.bpe' is not a regular file (it is a directory)" "$FE" generate --model "$R" --vocab "$T/vdir" --prompt hi -n 1
run "--vocab that is a file" 2 "--vocab DIR '$R': Not a directory" "$FE" generate --model "$R" --vocab "$R" --prompt hi -n 1
run "--vocab gpt2 is GPT-2's" 0 "15496,995" "$FE" tokenize --vocab gpt2 --text "Hello world"
run "generate --vocab missing dir: the reason" 1 "cannot open vocab.bpe or merges.txt: No such file or directory" "$FE" generate --model "$R" --vocab "$T/novocab" --prompt "$P"
# "Permission denied" (root ignores permissions: AS_USER runs the tool as an unprivileged user)
if [ -n "$NO_PERM_TESTS" ]; then echo "note: permission tests skipped: $NO_PERM_TESTS"; else
  open_tmp "$T"; mkdir -p "$T/perm/ro" && cp "$R" "$T/perm/locked.bin" && chmod 000 "$T/perm/locked.bin" && chmod 555 "$T/perm/ro" && chmod 755 "$T/perm"
  run "unreadable model: Permission denied" 1 "--model: cannot open '$T/perm/locked.bin': Permission denied" $AS_USER "$FE" info --model "$T/perm/locked.bin"
  run "read-only output directory: Permission denied" 2 "OUT.bin '$T/perm/ro/x.bin': cannot write in directory '$T/perm/ro': Permission denied" \
      $AS_USER "$FE" random "$T/perm/ro/x.bin" --layers 1 --width 8 --heads 1 --vocab 10 --context 4
  chmod 755 "$T/perm/ro"; chmod 644 "$T/perm/locked.bin"
fi
# train: inputs and --out checked before training (a --steps that would run for hours must end at once)
printf 'The Space Needle is in Seattle.\nThe Eiffel Tower is in Paris.\n' > "$T/corpus.txt"
TR="--layers 1 --heads 1 --width 8 --context 8 --batch 1 --seq 4"
run "train --out in a missing directory: refused up front" 2 "--out '$T/nodir/sub': cannot write in directory '$T/nodir': No such file or directory" \
    timeout 20 "$FE" train "$T/corpus.txt" --vocab demo/model --out "$T/nodir/sub" $TR --steps 100000000
run "train --out = --vocab: refused up front" 2 "is the same file as --vocab" timeout 20 "$FE" train "$T/corpus.txt" --vocab demo/model --out demo/model/ $TR --steps 100000000
mkdir -p "$T/bpeonly" && cp demo/model/vocab.bpe "$T/bpeonly/"
run "train without encoder.json: refused up front" 1 "--vocab: cannot open '$T/bpeonly/encoder.json': No such file or directory" \
    timeout 20 "$FE" train "$T/corpus.txt" --vocab "$T/bpeonly" --out "$T/tr0" $TR --steps 100000000
run "train FIFO corpus" 2 "CORPUS '$T/fifo.bin' is not a regular file (it is a FIFO)" timeout 20 "$FE" train "$T/fifo.bin" --vocab demo/model --out "$T/tr0" $TR --steps 100000000
run "train --out DIR is created" 0 "wrote $T/newdir/model.bin" "$FE" train "$T/corpus.txt" --vocab demo/model --out "$T/newdir" $TR --steps 2 --warmup 1
for f in model.bin encoder.json vocab.bpe; do if [ -s "$T/newdir/$f" ]; then ok; else bad "train --out newdir: $f missing"; fi; done
# a killed save leaves DEST.tmp.PID behind: the next save to DEST removes it (its process is gone), no other
dead=$(dead_pid)
: > "$T/st.bin.tmp.$dead"; : > "$T/st.bin.tmp.$$"; : > "$T/other.bin.tmp.$dead"
run "save after a killed save" 0 "wrote $T/st.bin" "$FE" random "$T/st.bin" --layers 1 --width 8 --heads 1 --vocab 10 --context 4
if [ -e "$T/st.bin.tmp.$dead" ]; then bad "stale st.bin.tmp.$dead (process gone) not removed"; else ok; fi
if [ -e "$T/st.bin.tmp.$$" ]; then ok; else bad "st.bin.tmp.$$ of a live process removed"; fi
if [ -e "$T/other.bin.tmp.$dead" ]; then ok; else bad "other.bin.tmp.$dead (another destination) removed"; fi
rm -f "$T/st.bin.tmp.$$" "$T/other.bin.tmp.$dead" "$T/fifo.bin" "$T/fifo.json"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
