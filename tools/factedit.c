/* factedit: the command-line tool (git-style subcommands) over factedit.h.

       factedit COMMAND [ARGS] [OPTIONS]        factedit COMMAND --help

   Every command reports errors on stderr as "factedit COMMAND: message" and exits non-zero:
   1 when the work failed (bad file, model/vocabulary mismatch, ...), 2 for a usage error (unknown
   option, bad number, missing argument). Results go to stdout.

   Adding a command: write `static int cmd_NAME(int argc, char **argv)` (argv[0] is the command
   name) that declares its options in a cli_opt table and calls cli_parse, then add a row to
   `commands` at the end of this file. */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "cmd_rome.h"
#include "fe_convert.h"
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ================================================================== convert ============= */

/* on_fill_user: the convert_fills: --missing-from's path, and whether a tensor was in no file. */
typedef struct convert_fills { const char *ref; int missing; } convert_fills;

static void on_fill(void *user, const char *name) {
    fprintf(stderr, "factedit convert: tensor '%s' missing from the input: filled from %s\n", name, ((const convert_fills *)user)->ref);
}

static void on_missing(void *user, const char *name) {
    (void)name;
    ((convert_fills *)user)->missing = 1;
}

static int cmd_convert(int argc, char **argv) {
    const char *config = NULL, *ref = NULL, *pos[2];
    int n_head = 0, bf16 = 0, no_config = 0, rc;
    char auto_config[4200], dir[4096];
    fe_convert_opts o;
    convert_fills fills;
    fe_model *m = NULL;
    fe_error e;
    cli_paths ps;
    static const char *const pos_names[] = {"IN.safetensors", "OUT.bin"};
    cli_opt opts[] = {
        {"--config", NULL, ARG_STR, &config, 0, 0, "FILE", "Hugging Face config.json (default: config.json beside IN, if any)", 0},
        {"--no-config", NULL, ARG_FLAG, &no_config, 0, 0, "", "do not look for config.json beside IN", 0},
        {"--n-head", NULL, ARG_INT, &n_head, 1, INT_MAX, "N", "number of attention heads (needed without config.json)", 0},
        {"--bf16", NULL, ARG_FLAG, &bf16, 0, 0, "", "write bfloat16 weights (llm.c version 5) instead of float32", 0},
        {"--missing-from", NULL, ARG_STR, &ref, 0, 0, "REF", "take tensors absent from IN from REF.safetensors (the same model)", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "convert", "IN.safetensors OUT.bin [options]",
                  "Converts a Hugging Face GPT-2 checkpoint (model.safetensors, F32/F16/BF16, with or without\n"
                  "the 'transformer.' prefix) to an llm.c checkpoint. config.json is cross-checked against the\n"
                  "weights (sizes, layer_norm_epsilon = 1e-5, tanh GELU). OUT is written atomically: on any\n"
                  "error an existing OUT is left as it was.");
    s.pos_names = pos_names; s.npos_min = 2; s.npos_max = 2; s.pos = pos;
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if (config && no_config) return cli_usage_error(&s, "--config and --no-config contradict each other");
    if (!config && !no_config && dir_of(pos[0], dir, sizeof dir) && dir_file(auto_config, sizeof auto_config, dir, "config.json") &&
        file_exists(auto_config)) {
        config = auto_config;
        fprintf(stderr, "factedit convert: using %s\n", config);
    }
    cli_paths_init(&ps, "convert");
    cli_in(&ps, "IN.safetensors", pos[0]);
    cli_in(&ps, config == auto_config ? "config.json beside IN" : "--config", config);
    cli_in(&ps, "--missing-from", ref);
    cli_out(&ps, "OUT.bin", pos[1]);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    memset(&o, 0, sizeof o);
    o.n_head = n_head;
    fills.ref = ref; fills.missing = 0;
    o.on_fill = on_fill; o.on_missing = on_missing; o.on_fill_user = &fills;
    if (fe_convert_hf_model_files(&m, pos[0], config, ref, &o, &e) != fe_ok) {
        rc = fail("convert", e.msg);
        if (!ref && fills.missing)
            fprintf(stderr, "factedit convert: (if another file of the same model has it: --missing-from REF.safetensors)\n");
        return rc;
    }
    if (fe_model_save_file(m, pos[1], bf16 ? 5 : 3, &e) != fe_ok) { fe_model_free(m); return fail("convert", e.msg); }
    printf("wrote %s: %s, %d layers, %d heads, width %d, vocabulary %d, context %d, checksum %016llx\n", pos[1],
           bf16 ? "bf16" : "fp32", m->config.num_layers, m->config.num_heads, m->config.channels, m->config.vocab_size,
           m->config.max_seq_len, (unsigned long long)fe_model_checksum(m));
    fe_model_free(m);
    return finish_stdout("convert");
}

/* ================================================================== random ============== */

static int cmd_random(int argc, char **argv) {
    int layers = 12, heads = 12, width = 768, vocab = 50257, context = 1024, bf16 = 0, rc;
    uint64_t seed = 0;
    const char *pos[1];
    fe_config c;
    fe_model *m = NULL;
    fe_error e;
    cli_paths ps;
    static const char *const pos_names[] = {"OUT.bin"};
    cli_opt opts[] = {
        {"--layers", NULL, ARG_INT, &layers, 1, INT_MAX, "L", "number of layers (default 12)", 0},
        {"--heads", NULL, ARG_INT, &heads, 1, INT_MAX, "H", "attention heads per layer (default 12)", 0},
        {"--width", NULL, ARG_INT, &width, 1, INT_MAX, "C", "channels, a multiple of H (default 768)", 0},
        {"--vocab", NULL, ARG_INT, &vocab, 1, INT_MAX, "V", "vocabulary size (default 50257); padded to a multiple of 128", 0},
        {"--context", NULL, ARG_INT, &context, 1, INT_MAX, "T", "positions (default 1024)", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "random seed (default 0)", 0},
        {"--bf16", NULL, ARG_FLAG, &bf16, 0, 0, "", "write bfloat16 weights (llm.c version 5)", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "random", "OUT.bin [options]",
                  "Writes a checkpoint of any GPT-2 shape with random GPT-2-like weights (N(0, 0.02),\n"
                  "residual projections scaled by 1/sqrt(2L)), for tests and benchmarks. The defaults are\n"
                  "GPT-2 small's shape (124M parameters).");
    s.pos_names = pos_names; s.npos_min = 1; s.npos_max = 1; s.pos = pos;
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    cli_paths_init(&ps, "random");
    cli_out(&ps, "OUT.bin", pos[0]);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    c.num_layers = layers; c.num_heads = heads; c.channels = width; c.vocab_size = vocab;
    c.padded_vocab_size = padded_vocab(vocab); c.max_seq_len = context;
    if (fe_model_new(&m, &c, NULL, &e) != fe_ok) return fail("random", e.msg);
    fe_model_randomize(m, seed);
    if (fe_model_save_file(m, pos[0], bf16 ? 5 : 3, &e) != fe_ok) { fe_model_free(m); return fail("random", e.msg); }
    printf("wrote %s: %s, %d layers, %d heads, width %d, vocabulary %d, context %d, seed %llu, checksum %016llx\n", pos[0],
           bf16 ? "bf16" : "fp32", layers, heads, width, vocab, context, (unsigned long long)seed, (unsigned long long)fe_model_checksum(m));
    fe_model_free(m);
    return finish_stdout("random");
}

/* ================================================================== generate ============ */

static int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *prompt = NULL;
    int n_new = 32, top_k = 0, ids_mode = 0, bf16 = 0, rc = 0, *ids = NULL, *all = NULL;
    double temperature = 0.0, top_p = 0.0;
    uint64_t seed = 0;
    size_t n_prompt = 0, i;
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_sample_opts so;
    fe_rng rng;
    fe_error e;
    cli_paths ps;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary (vocab.bpe or merges.txt, optional encoder.json or vocab.json),\n"
         "                           or 'gpt2' for GPT-2's (built in); default: the demo model's without --model, else\n"
         "                           the model's directory if it has one, else GPT-2's", 0},
        {"--prompt", NULL, ARG_STR, &prompt, 0, 0, "TEXT", "the text to continue (required)", 0},
        {"-n", NULL, ARG_INT, &n_new, 0, INT_MAX, "N", "tokens to generate (default 32)", 0},
        {"--temperature", NULL, ARG_FLOAT, &temperature, 0, 0, "T", "0 = greedy (default; 1 if --top-k or --top-p is given)", 0},
        {"--top-k", NULL, ARG_INT, &top_k, 0, INT_MAX, "K", "sample from the K most likely tokens (0 = all)", 0},
        {"--top-p", NULL, ARG_FLOAT, &top_p, 0, 0, "P", "sample from the smallest set holding probability P (0 or 1 = off)", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "random seed for sampling (default 0)", 0},
        {"--ids", NULL, ARG_FLAG, &ids_mode, 0, 0, "", "token ids in and out: --prompt is '1,2,3', the output the ids (no vocabulary)", 0},
        {"--bf16", NULL, ARG_FLAG, &bf16, 0, 0, "", "keep wte, qkvw, attprojw and fcw in bf16 and compute with them (0.62x the memory,\n"
         "                           1.3-1.4x faster decoding; a bf16 file gives the same text as without)", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "generate", "[--model FILE] --prompt TEXT [options]",
                  "Prints the prompt followed by its continuation. Greedy by default; with a temperature,\n"
                  "top-k or top-p it samples, and the same --seed gives the same text.");
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if (!prompt) return cli_usage_error(&s, "no --prompt given");
    if (temperature < 0) return cli_usage_error(&s, "--temperature must be >= 0");
    if (top_p < 0 || top_p > 1) return cli_usage_error(&s, "--top-p must be between 0 and 1");
    if (!cli_seen(&s, "--temperature") && (cli_seen(&s, "--top-k") || cli_seen(&s, "--top-p"))) temperature = 1.0;
    cli_paths_init(&ps, "generate");
    cli_in(&ps, "--model", model_path);
    if (!ids_mode) cli_in_vocab(&ps, vocab_dir, model_path);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    if ((rc = load_model("generate", model_path, bf16, &m)) != 0) return rc;

    if (ids_mode) {
        if ((rc = parse_id_list("generate", "--prompt", prompt, &ids, &n_prompt)) != 0) goto done;
    } else {
        if ((rc = load_vocab("generate", vocab_dir, model_path, &v)) != 0) goto done;
        if (fe_encode(v, prompt, strlen(prompt), &ids, &n_prompt, &e) != fe_ok) { rc = fail("generate", e.msg); goto done; }
    }
    if (n_prompt == 0) { rc = fail("generate", "empty prompt: --prompt must hold at least one token"); goto done; }
    for (i = 0; i < n_prompt; i++)
        if (ids[i] >= m->config.vocab_size) {
            fprintf(stderr, "factedit generate: prompt token %zu (id %d) is outside the model's vocabulary of %d tokens%s\n", i, ids[i],
                    m->config.vocab_size, ids_mode ? "" : " (the vocabulary does not belong to this model? see --vocab)");
            rc = EXIT_FAIL;
            goto done;
        }
    if (n_prompt > (size_t)m->config.max_seq_len) {
        fprintf(stderr, "factedit generate: the prompt is %zu tokens, longer than the model's context of %d tokens\n", n_prompt, m->config.max_seq_len);
        rc = EXIT_FAIL;
        goto done;
    }
    if ((long long)n_prompt + n_new > (long long)m->config.max_seq_len + 1) {
        fprintf(stderr, "factedit generate: the prompt (%zu tokens) + -n %d exceed the model's context of %d tokens: use -n %lld or less\n",
                n_prompt, n_new, m->config.max_seq_len, (long long)m->config.max_seq_len + 1 - (long long)n_prompt);
        rc = EXIT_FAIL;
        goto done;
    }
    if (!(all = (int *)malloc((n_prompt + (size_t)n_new + 1) * sizeof(int)))) { rc = fail("generate", "out of memory"); goto done; }
    memcpy(all, ids, n_prompt * sizeof(int));
    so.temperature = (float)temperature; so.top_k = top_k; so.top_p = (float)top_p;
    fe_rng_seed(&rng, seed);
    if (fe_generate(m, ids, (int)n_prompt, n_new, &so, &rng, all + n_prompt, &e) != fe_ok) { rc = fail("generate", e.msg); goto done; }
    if (ids_mode) {
        print_ids(all, n_prompt + (size_t)n_new);
        putchar('\n');
    } else {
        char *text = NULL;
        size_t len = 0;
        for (i = n_prompt; i < n_prompt + (size_t)n_new; i++)
            if ((size_t)all[i] >= fe_vocab_size(v)) {
                fprintf(stderr, "factedit generate: generated token id %d has no text: the vocabulary has %zu tokens, the model %d (use --ids, or the model's own --vocab)\n",
                        all[i], fe_vocab_size(v), m->config.vocab_size);
                rc = EXIT_FAIL;
                goto done;
            }
        if (fe_decode(v, all + n_prompt, (size_t)n_new, &text, &len, &e) != fe_ok) { rc = fail("generate", e.msg); goto done; }
        fwrite(prompt, 1, strlen(prompt), stdout);
        fwrite(text, 1, len, stdout);
        putchar('\n');
        fe_text_free(v, text);
    }
    rc = finish_stdout("generate");
done:
    free(all);
    if (ids_mode) free(ids); else if (ids) fe_ids_free(v, ids);
    fe_vocab_free(v);
    fe_model_free(m);
    return rc;
}

/* ================================================================== tokenize ============ */

static int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *text = NULL, *idstr = NULL;
    int rc, *ids = NULL;
    size_t n = 0;
    fe_vocab *v = NULL;
    fe_error e;
    cli_paths ps;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "use this checkpoint's vocabulary, as generate does (default: the built-in demo model's)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary directory, or 'gpt2' for GPT-2's (built in)", 0},
        {"--text", NULL, ARG_STR, &text, 0, 0, "TEXT", "print the token ids of TEXT, comma-separated", 0},
        {"--ids", NULL, ARG_STR, &idstr, 0, 0, "1,2,3", "print the text of these token ids", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "tokenize", "[--model FILE | --vocab DIR|gpt2] (--text TEXT | --ids 1,2,3)",
                  "GPT-2 byte-level BPE: text to token ids, or token ids back to text (byte for byte). The vocabulary\n"
                  "is the one every model command uses: without --model or --vocab the built-in demo model's, with\n"
                  "--model the model's (its directory's vocab.bpe / merges.txt, else GPT-2's); --vocab gpt2 for GPT-2's.");
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if ((text != NULL) == (idstr != NULL)) return cli_usage_error(&s, "give exactly one of --text and --ids");
    if (idstr && (rc = parse_id_list("tokenize", "--ids", idstr, &ids, &n)) != 0) return rc;
    cli_paths_init(&ps, "tokenize");
    cli_in(&ps, "--model", model_path);
    cli_in_vocab(&ps, vocab_dir, model_path);
    if ((rc = cli_paths_check(&ps)) != 0 || (rc = load_vocab("tokenize", vocab_dir, model_path, &v)) != 0) { free(ids); return rc; }
    if (text) {
        int *t = NULL;
        if (fe_encode(v, text, strlen(text), &t, &n, &e) != fe_ok) rc = fail("tokenize", e.msg);
        else { print_ids(t, n); putchar('\n'); fe_ids_free(v, t); }
    } else {
        char *out = NULL;
        size_t len = 0;
        if (fe_decode(v, ids, n, &out, &len, &e) != fe_ok) rc = fail("tokenize", e.msg);
        else { fwrite(out, 1, len, stdout); putchar('\n'); fe_text_free(v, out); }
    }
    free(ids);
    fe_vocab_free(v);
    return rc ? rc : finish_stdout("tokenize");
}

/* ================================================================== info ================ */

static int cmd_info(int argc, char **argv) {
    const char *model_path = NULL;
    int rc;
    fe_model *m = NULL;
    const fe_config *c;
    cli_paths ps;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "info", "[--model FILE]",
                  "Prints a checkpoint's configuration, parameter count, file version and checksum.");
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    cli_paths_init(&ps, "info");
    cli_in(&ps, "--model", model_path);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    if ((rc = load_model("info", model_path, 0, &m)) != 0) return rc;
    c = &m->config;
    printf("model:       %s\n", model_path ? model_path : "(the built-in demo model, demo/model/model.bin)");
    printf("format:      llm.c checkpoint version %d (%s)\n", m->file_version, m->file_version == 5 ? "bf16" : "fp32");
    printf("layers:      %d\n", c->num_layers);
    printf("heads:       %d\n", c->num_heads);
    printf("width:       %d\n", c->channels);
    printf("vocabulary:  %d (padded to %d)\n", c->vocab_size, c->padded_vocab_size);
    printf("context:     %d\n", c->max_seq_len);
    printf("parameters:  %zu (%zu stored, with the vocabulary padding)\n",
           m->num_params - (size_t)(c->padded_vocab_size - c->vocab_size) * (size_t)c->channels, m->num_params);
    printf("checksum:    %016llx\n", (unsigned long long)fe_model_checksum(m));
    fe_model_free(m);
    return finish_stdout("info");
}

/* ================================================================== dispatcher ========== */

typedef struct cli_cmd { const char *name; int (*run)(int argc, char **argv); const char *summary; } cli_cmd;

int fe_cmd_trace(int argc, char **argv);   /* tools/cmd_trace.c */
int fe_cmd_bench(int argc, char **argv);   /* tools/bench.c */
int fe_cmd_train(int argc, char **argv);   /* tools/cmd_train.c */
int fe_cmd_layers(int argc, char **argv);  /* tools/cmd_layers.c */

/* Every command, in the order of the help (a new command: a row here). */
static const cli_cmd commands[] = {
    {"generate", cmd_generate, "continue a prompt (greedy or sampled)"},
    {"tokenize", cmd_tokenize, "text to token ids and back (the demo model's vocabulary, a model's, or GPT-2's)"},
    {"info", cmd_info, "show a checkpoint's configuration and checksum"},
    {"convert", cmd_convert, "Hugging Face model.safetensors to an llm.c checkpoint"},
    {"random", cmd_random, "write a checkpoint with random weights, of any shape"},
    {"trace", fe_cmd_trace, "causal tracing of a prompt or of a dataset of facts (heatmaps, averages)"},
    {"bench", fe_cmd_bench, "measure this machine: matmuls, forward, decoding, tracing, ROME"},
    {"edit", fe_cmd_edit, "apply one ROME edit to a model (top-5 before/after; --out, --patch, --apply)"},
    {"eval", fe_cmd_eval, "ROME's CounterFact metrics (ES, PS, NS, ... with 95% intervals); shards and --merge"},
    {"train", fe_cmd_train, "train a small GPT-2 on a corpus (how the demo model is made)"},
    {"stats", fe_cmd_stats, "key covariance statistics of a layer over a text (for edit/eval --stats)"},
    {"layers", fe_cmd_layers, "which layer to edit: ROME's metrics (and the trace's MLP effect) per layer, and the pick"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void main_help(FILE *f) {
    int i;
    fprintf(f, "usage: factedit COMMAND [ARGS] [OPTIONS]\n\n"
               "Locate and edit factual associations in GPT-2 (factedit.h " FACTEDIT_CLI_VERSION ").\n\ncommands:\n");
    for (i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'factedit COMMAND --help' describes a command's arguments and options.\n");
}

int main(int argc, char **argv) {
    int i;
    const char *cmd;
    if (argc < 2) { main_help(stderr); return EXIT_USAGE; }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) { main_help(stdout); return finish_stdout("--help"); }
    if (!strcmp(cmd, "--version")) { printf("factedit " FACTEDIT_CLI_VERSION "\n"); return finish_stdout("--version"); }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) { main_help(stdout); return finish_stdout("help"); }
        for (i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[2], commands[i].name)) {
                char help[] = "--help";
                char *args[2];
                args[0] = argv[2]; args[1] = help;
                return commands[i].run(2, args);
            }
        cmd = argv[2];
    } else {
        for (i = 0; i < N_COMMANDS; i++)
            if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "factedit: unknown command '%s'\n", cmd);
    fprintf(stderr, "commands:");
    for (i = 0; i < N_COMMANDS; i++) fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, "\nTry 'factedit --help'.\n");
    return EXIT_USAGE;
}
