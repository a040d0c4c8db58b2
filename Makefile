# factedit: make (build everything), make test, make test-asan, make bench, make demo.
# Only a C compiler, make and libc are needed. OPENMP=0 builds without OpenMP.
CC      ?= cc
CXX     ?= c++
OPENMP  ?= 1
ARCH    ?= -march=native
OPT     ?= -O2
WARN    := -Wall -Wextra -Wpedantic -Werror
CSTD    := -std=c99
ifeq ($(OPENMP),1)
OMPFLAG := -fopenmp
endif
CFLAGS_ALL = $(CSTD) $(OPT) $(ARCH) $(OMPFLAG) $(WARN) $(EXTRA_CFLAGS)
LDLIBS  := -lm
B       := build

TOOLS   := $(B)/factedit $(B)/oracle_check
TESTS   := $(B)/test_json $(B)/test_safetensors $(B)/test_tokenizer $(B)/test_model $(B)/test_bf16 $(B)/test_rome $(B)/test_trace
# Each entry: the command tests/run.sh runs (run from the repository root).
TEST_CMDS := \
  "$(B)/test_json" \
  "$(B)/test_safetensors" \
  "$(B)/test_tokenizer tools/gpt2 tests/data/tiny_a/tokenizer_cases.json tests/data/tokenizer_cases_extra.json tests/data/subject_spans.json" \
  "$(B)/test_model" \
  "$(B)/test_bf16" \
  "$(B)/test_rome" \
  "$(B)/test_trace tests/data/tiny_a" \
  "sh tests/compile_check.sh $(B)" \
  "$(B)/oracle_check tests/data/tiny_a --vocab tools/gpt2"

.PHONY: all test test-asan bench clean
.DELETE_ON_ERROR:
all: $(TOOLS) $(TESTS)

$(B):
	@mkdir -p $(B)

# The bundled GPT-2 vocabulary is compiled into the CLI (vocab.bpe alone: the encoder is derived).
$(B)/embed: tools/embed.c | $(B)
	$(CC) $(CSTD) -O2 $(WARN) $< -o $@
$(B)/gpt2_vocab.c: tools/gpt2/vocab.bpe $(B)/embed
	$(B)/embed fe_gpt2_vocab_bpe $< > $@

FACTEDIT_SRCS := tools/factedit.c tools/cli.c tools/progress.c tools/buf.c tools/cmd_train.c tools/train.c tools/fe_convert.c tools/cmd_trace.c tools/trace_dataset.c tools/trace_merge.c tools/svg.c tools/bench.c
$(B)/factedit: $(FACTEDIT_SRCS) $(B)/demo_model.o tools/cli.h tools/progress.h tools/buf.h tools/train.h tools/fe_convert.h tools/cmd_trace.h tools/trace_shared.h tools/svg.h tools/bench.h $(B)/gpt2_vocab.c factedit.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. $(FACTEDIT_SRCS) $(B)/gpt2_vocab.c $(B)/demo_model.o -o $@ $(LDLIBS)
$(B)/oracle_check: tools/oracle_check.c tools/fe_convert.c tools/fe_convert.h factedit.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. tools/oracle_check.c tools/fe_convert.c -o $@ $(LDLIBS)

# tools/experiments/: programs behind README figures (not part of the CLI); built by `make all` so they
# keep compiling warning-free.
$(B)/solver_path: tools/experiments/solver_path.c factedit.h | $(B)
	$(CC) $(CFLAGS_ALL) -I. $< -o $@ $(LDLIBS)
all: $(B)/solver_path
$(B)/key_spectrum: tools/experiments/key_spectrum.c factedit.h | $(B)
	$(CC) $(CFLAGS_ALL) -I. $< -o $@ $(LDLIBS)
all: $(B)/key_spectrum

$(B)/test_%: tests/test_%.c factedit.h tests/test.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. $< $(wildcard tools/fe_convert.c) -o $@ $(LDLIBS)

test: all
	@sh tests/run.sh $(TEST_CMDS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	$(MAKE) B=build/asan OPT="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" OPENMP=0 test

bench: $(B)/factedit
	$(B)/factedit bench
	$(B)/factedit bench --memit

clean:
	rm -rf $(B)

# The demo world's data (demo/README-data.md): corpus, held-out prompts, CounterFact requests and
# a pruned GPT-2 vocabulary, built from demo/known_1000.json + demo/templates.txt.
$(B)/demo_data: tools/demo_data.c tools/buf.c tools/buf.h factedit.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. $< tools/buf.c -o $@ $(LDLIBS)
$(B)/test_demo_data: tests/test_demo_data.c tools/demo_data.c tools/buf.c tools/buf.h factedit.h tests/test.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. $< tools/fe_convert.c tools/buf.c -o $@ $(LDLIBS)
all: $(B)/demo_data $(B)/test_demo_data
TEST_CMDS += "$(B)/test_demo_data demo/known_1000.json demo/templates.txt tools/gpt2 $(B)/test_demo_data_out"

# The converter's tests and the command-line tool's tests (tests/test_cli.sh runs $(B)/factedit).
$(B)/test_convert: tools/fe_convert.c tools/fe_convert.h tests/t_alloc.h
TESTS += $(B)/test_convert
all: $(B)/test_convert
TEST_CMDS += "$(B)/test_convert" "sh tests/test_cli.sh $(B)/factedit"

# `factedit trace` (tools/cmd_trace.c, trace_dataset.c, trace_merge.c, svg.c): unit tests, then the command (one prompt, a
# dataset, shards and --merge) on small random models.
TRACE_TEST_SRCS := tools/cmd_trace.c tools/trace_dataset.c tools/trace_merge.c tools/svg.c tools/buf.c tools/cli.c tools/progress.c
$(B)/test_cmd_trace: tests/test_cmd_trace.c $(TRACE_TEST_SRCS) tools/cmd_trace.h tools/trace_shared.h tools/svg.h tools/buf.h tools/cli.h tools/progress.h factedit.h tests/test.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. tests/test_cmd_trace.c $(TRACE_TEST_SRCS) -o $@ $(LDLIBS)
TESTS += $(B)/test_cmd_trace
all: $(B)/test_cmd_trace
TEST_CMDS += "$(B)/test_cmd_trace" "sh tests/test_cli_trace.sh $(B)/factedit"

# `make demo-data`: the demo world's data in $(B)/demo_world (see demo/README-data.md).
DEMO_SEED ?= 1
.PHONY: demo-data
demo-data: $(B)/demo_world/corpus.txt
$(B)/demo_world/corpus.txt: $(B)/demo_data demo/known_1000.json demo/templates.txt tools/gpt2/vocab.bpe tools/gpt2/encoder.json
	$(B)/demo_data --facts demo/known_1000.json --templates demo/templates.txt --gpt2-vocab tools/gpt2 --out $(B)/demo_world --seed $(DEMO_SEED)

# Fuzzing (tests/fuzz/README.md; findings in tests/fuzz/FINDINGS.md).
# `make fuzz [FUZZ_SECONDS=60]`: builds every target with clang's libFuzzer + ASan + UBSan and runs each
# for FUZZ_SECONDS on a copy of its corpus in $(B)/fuzz/corpus/<target> (the committed corpus is only
# read), printing execs and time per target; crashes go to $(B)/fuzz/crashes/<target>/. `make -j2 fuzz`
# runs two targets at once; `make fuzz-run-json` runs one. `make fuzz-replay` (and `make test`, and
# `make test-asan` under the sanitizers) replays the committed corpora and regression inputs through a
# build without libFuzzer.
FUZZ_TARGETS := json checkpoint safetensors vocab tokenizer demo_data rome_files
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_NICE    ?= nice -n 10
FUZZ_ARGS    ?=
FUZZ_CFLAGS  ?=
FUZZ_FLAGS    = -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer $(WARN) $(FUZZ_CFLAGS) -Itools -I.
FUZZ_DEPS    := tests/fuzz/fuzz.h tests/fuzz/fuzz_bpe.h factedit.h tools/fe_convert.c tools/fe_convert.h tools/demo_data.c tools/buf.c tools/buf.h
.PHONY: fuzz fuzz-build fuzz-replay $(FUZZ_TARGETS:%=fuzz-run-%)
fuzz-build: $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS)
	@mkdir -p $(B)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $< tools/fe_convert.c tools/buf.c -o $@ -lm
fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)
$(FUZZ_TARGETS:%=fuzz-run-%): fuzz-run-%: $(B)/fuzz/fuzz_%
	@rm -rf $(B)/fuzz/corpus/$* && mkdir -p $(B)/fuzz/corpus/$* $(B)/fuzz/crashes/$* && cp tests/fuzz/corpus/$*/* $(B)/fuzz/corpus/$*/
	@echo "fuzz $*: running $(FUZZ_SECONDS) s (log: $(B)/fuzz/$*.log)"
	@$(FUZZ_NICE) $(B)/fuzz/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	  -artifact_prefix=$(B)/fuzz/crashes/$*/ $(FUZZ_ARGS) $(B)/fuzz/corpus/$* tests/fuzz/regress/$* > $(B)/fuzz/$*.log 2>&1; rc=$$?; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/fuzz/$*.log | tail -n 1); \
	  secs=$$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' $(B)/fuzz/$*.log | tail -n 1); \
	  printf 'fuzz %-12s %s execs in %s s, corpus %s files, exit %s\n' $* "$${execs:-?}" "$${secs:-?}" "$$(ls $(B)/fuzz/corpus/$* | wc -l)" $$rc; \
	  if [ $$rc -ne 0 ]; then grep -E 'ERROR|invariant|SUMMARY|Test unit written|artifact' $(B)/fuzz/$*.log | head -n 20; exit 1; fi

FUZZ_REPLAY := $(FUZZ_TARGETS:%=$(B)/fuzz_replay_%)
$(B)/fuzz_replay_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) | $(B)
	$(CC) $(CFLAGS_ALL) -DFUZZ_REPLAY -Itools -I. $< tools/fe_convert.c tools/buf.c -o $@ $(LDLIBS)
all: $(FUZZ_REPLAY)
FUZZ_REPLAY_CMDS := $(foreach t,$(FUZZ_TARGETS),"$(B)/fuzz_replay_$(t) tests/fuzz/corpus/$(t) tests/fuzz/regress/$(t)")
TEST_CMDS += $(FUZZ_REPLAY_CMDS)
fuzz-replay: $(FUZZ_REPLAY)
	@sh tests/run.sh $(FUZZ_REPLAY_CMDS)

# ROME glue (the >>api-rome-glue section): its tests, and the CLI's edit, eval and stats commands
# (tools/cmd_rome.c; tests/test_cli_rome.sh runs $(B)/factedit).
FACTEDIT_SRCS += tools/cmd_rome.c tools/cmd_layers.c tools/cmd_many.c
$(B)/factedit: tools/cmd_rome.c tools/cmd_rome.h tools/cmd_layers.c tools/cmd_many.c
$(B)/test_rome_glue: tools/fe_convert.c tools/fe_convert.h
TESTS += $(B)/test_rome_glue
all: $(B)/test_rome_glue
TEST_CMDS += "$(B)/test_rome_glue tests/data/tiny_a tools/gpt2" "sh tests/test_cli_rome.sh $(B)/factedit" "sh tests/test_cli_layers.sh $(B)/factedit"

# The demo model (demo/model/: checkpoint + pruned vocabulary) is compiled into build/factedit:
# every command without --model uses it. -O0: it is only data.
DEMO_MODEL_FILES := demo/model/model.bin demo/model/encoder.json demo/model/vocab.bpe
$(B)/demo_model.c: $(DEMO_MODEL_FILES) $(B)/embed
	{ $(B)/embed fe_demo_model demo/model/model.bin && $(B)/embed fe_demo_encoder demo/model/encoder.json && \
	  $(B)/embed fe_demo_bpe demo/model/vocab.bpe; } > $@
$(B)/demo_model.o: $(B)/demo_model.c
	$(CC) -c -O0 $< -o $@

# `make demo-model`: retrains the shipped model from scratch (README: how long it takes). Three
# phases, each batch split in 2 shards (one per thread; the bytes do not depend on the thread
# count): 5000 steps at lr 3e-3 on the corpus (facts as sentences and paragraphs, see
# demo/README-data.md); then 2500 and 2000 steps at lr 1e-3 on the corpus plus three, then six,
# more copies of each fact's own known_1000 sentence (known.txt), with half the rows starting
# without the <|endoftext|> before their line (--bare-starts 0.5), as prompts are given.
# demo/model/stats.bin: the key statistics (whole corpus) of the layer `factedit layers` picks for
# the shipped model (README, "Which layer to edit"); the browser page's edits use them.
DEMO_EDIT_LAYER := 0
.PHONY: demo demo-model
DEMO_TRAIN := $(B)/factedit train --vocab $(B)/demo_world/vocab --batch 8 --seq 128
DEMO_KNOWN = $(B)/demo_world/known.txt $(B)/demo_world/known.txt $(B)/demo_world/known.txt
demo-model: $(B)/factedit demo-data
	$(DEMO_TRAIN) $(B)/demo_world/corpus.txt --out $(B)/demo_model_a \
	  --layers 8 --heads 4 --width 128 --context 128 --steps 5000 --lr 3e-3 --warmup 200 --seed 1
	cat $(B)/demo_world/corpus.txt $(DEMO_KNOWN) > $(B)/demo_world/corpus_known3.txt
	cat $(B)/demo_world/corpus.txt $(DEMO_KNOWN) $(DEMO_KNOWN) > $(B)/demo_world/corpus_known6.txt
	$(DEMO_TRAIN) $(B)/demo_world/corpus_known3.txt --out $(B)/demo_model_b --init $(B)/demo_model_a/model.bin \
	  --steps 2500 --lr 1e-3 --warmup 50 --seed 2 --bare-starts 0.5
	$(DEMO_TRAIN) $(B)/demo_world/corpus_known6.txt --out demo/model --init $(B)/demo_model_b/model.bin \
	  --steps 2000 --lr 1e-3 --warmup 50 --seed 3 --bare-starts 0.5 --facts demo/known_1000.json --heldout $(B)/demo_world/heldout.json
	$(B)/factedit info --model demo/model/model.bin | sed -n 's/^checksum: *//p' > demo/model/CHECKSUM
	$(B)/factedit stats --model demo/model/model.bin --vocab demo/model --text $(B)/demo_world/corpus.txt --lines \
	  --layer $(DEMO_EDIT_LAYER) --out demo/model/stats.bin --quiet

# `make demo`: the paper's experiments on the shipped model (demo/run.sh).
demo: $(B)/factedit demo-data
	sh demo/run.sh $(B)

# The shipped model: checksum, fact accuracy, and the trainer (tools/train.c).
$(B)/test_demo_model: tests/test_demo_model.c tools/train.c tools/train.h tools/progress.c tools/progress.h factedit.h tests/test.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. tests/test_demo_model.c tools/train.c tools/progress.c -o $@ $(LDLIBS)
all: $(B)/test_demo_model
TEST_CMDS += "$(B)/test_demo_model demo/model demo/known_1000.json"

# The page (issue 17; README "The paper in a browser tab"): factedit.h compiled to WebAssembly with
# clang for wasm32-wasi (FACTEDIT_NO_STDIO, SIMD128 kernels) behind tools/web_api.c, and the page in
# tools/web/. `make wasm` builds the module, `make web` the folder $(B)/web/ that any static file
# server can host, `make test-web` loads it in headless Chromium. Nothing is installed: without
# the toolchain these targets fail naming the Debian packages. The key statistics the page's edits
# use are demo/model/stats.bin (for the shipped model's edit layer); while that file is missing they
# are computed into $(B)/web_stats.bin (factedit stats, layer 0, 100,000 tokens of the demo corpus).
WASM_CC    ?= clang
WASM_SIMD  ?= 1
WASM_FLAGS  = --target=wasm32-wasi -mexec-model=reactor -std=c99 -O2 $(WARN) -DFACTEDIT_NO_STDIO $(if $(filter 1,$(WASM_SIMD)),-msimd128) -Itools -I.
WASM_PKGS  := clang lld wasi-libc libclang-rt-dev-wasm32
WEB_STATS  := $(if $(wildcard demo/model/stats.bin),demo/model/stats.bin,$(B)/web_stats.bin)
WEB_FILES  := tools/web/index.html tools/web/app.js tools/web/worker.js
.PHONY: wasm web test-web wasm-toolchain
wasm: $(B)/web/factedit.wasm
wasm-toolchain: | $(B)
	@printf 'int main(void) { return 0; }\n' > $(B)/wasm_probe.c; \
	if ! command -v $(WASM_CC) >/dev/null 2>&1 || ! $(WASM_CC) --target=wasm32-wasi -mexec-model=reactor $(B)/wasm_probe.c -o $(B)/wasm_probe.wasm >$(B)/wasm_probe.log 2>&1; then \
	  echo "make wasm: no working clang for wasm32-wasi ($(WASM_CC); see $(B)/wasm_probe.log)."; \
	  echo "make wasm: it needs the Debian packages: $(WASM_PKGS)  (apt-get install $(WASM_PKGS))"; exit 1; fi
$(B)/web/factedit.wasm: tools/web_api.c tools/web_api.h factedit.h | $(B)
	@$(MAKE) --no-print-directory B=$(B) wasm-toolchain
	@mkdir -p $(B)/web
	$(WASM_CC) $(WASM_FLAGS) tools/web_api.c -o $@ -lm
# The SIMD128 kernels against the scalar references, run under node's WASI by tests/web_node.js.
$(B)/test_wasm_kernels.wasm: tests/test_wasm_kernels.c tests/test.h factedit.h | $(B)
	@$(MAKE) --no-print-directory B=$(B) wasm-toolchain
	$(WASM_CC) --target=wasm32-wasi -std=c99 -O2 $(WARN) -msimd128 -Itools -I. $< -o $@ -lm
# The scalar module and a scalar native build without contraction: the same operations in the same
# order, so tests/web_node.js --bit-exact requires every number to be bit-equal.
$(B)/web_scalar.wasm: tools/web_api.c tools/web_api.h factedit.h | $(B)
	@$(MAKE) --no-print-directory B=$(B) wasm-toolchain
	$(WASM_CC) $(filter-out -msimd128,$(WASM_FLAGS)) tools/web_api.c -o $@ -lm
$(B)/web_native_scalar: tools/web_api.c tools/web_api.h tools/web_native.c factedit.h | $(B)
	$(CC) $(CSTD) $(OPT) $(WARN) $(EXTRA_CFLAGS) -ffp-contract=off -DFACTEDIT_NO_SIMD -Itools -I. tools/web_api.c tools/web_native.c -o $@ $(LDLIBS)
# The same API natively, for the tests (tests/web_node.js compares its JSON with the module's).
$(B)/web_native: tools/web_api.c tools/web_api.h tools/web_native.c factedit.h | $(B)
	$(CC) $(CFLAGS_ALL) -Itools -I. tools/web_api.c tools/web_native.c -o $@ $(LDLIBS)
$(B)/web_stats.bin: | $(B)/factedit
	$(MAKE) --no-print-directory B=$(B) demo-data
	$(B)/factedit stats --layer 0 --text $(B)/demo_world/corpus.txt --lines --tokens 100000 --out $@ --quiet
web: $(B)/web/factedit.wasm $(WEB_FILES) $(DEMO_MODEL_FILES) $(WEB_STATS)
	@mkdir -p $(B)/web/model
	cp $(WEB_FILES) $(B)/web/
	cp $(DEMO_MODEL_FILES) $(B)/web/model/
	cp $(WEB_STATS) $(B)/web/model/stats.bin
	@echo "make web: $(B)/web is the page; serve it with: python3 -m http.server -d $(B)/web 8000  (then open http://localhost:8000/)"
# `make test` runs the node comparison when node and the toolchain are there (and says so when not).
TEST_CMDS += "sh tests/web_node.sh $(B)"
# Headless Chromium loads the page from a local server, traces and edits (tests/web_chrome.js).
test-web: web $(B)/web_native
	node tests/web_chrome.js $(B)/web $(B)/web_native

# Many edits (the >>api-many-edits section): r-ROME, MEMIT and AlphaEdit closed forms against scalar
# references, the sequential log (undo, patches), health, hostile input.
TESTS += $(B)/test_many
all: $(B)/test_many
TEST_CMDS += "$(B)/test_many"
TEST_CMDS += "sh tests/test_cli_many.sh $(B)/factedit"
