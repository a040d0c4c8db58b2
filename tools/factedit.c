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
#include "fe_convert.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FACTEDIT_CLI_VERSION "0.1.0"

/* tools/gpt2/vocab.bpe, compiled in by tools/embed.c (build/gpt2_vocab.c) */
#ifdef __cplusplus
extern "C" {
#endif
extern const unsigned char fe_gpt2_vocab_bpe[];
extern const size_t fe_gpt2_vocab_bpe_len;
#ifdef __cplusplus
}
#endif

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* ================================================================== argument parsing ==== */

typedef enum { ARG_FLAG, ARG_STR, ARG_INT, ARG_U64, ARG_FLOAT } arg_kind;

typedef struct cli_opt {
    const char *name;    /* "--layers" */
    const char *alias;   /* "-n", or NULL */
    arg_kind kind;
    void *dst;           /* int* (FLAG, INT), const char** (STR), uint64_t* (U64), double* (FLOAT) */
    long lo, hi;         /* allowed range of an ARG_INT */
    const char *meta;    /* placeholder in the help: "N" */
    const char *help;    /* one line; "(default ...)" belongs here */
    int seen;            /* set by cli_parse */
} cli_opt;

typedef struct cli_spec {
    const char *cmd;         /* "random" */
    const char *usage;       /* what follows "factedit random" in the usage line */
    const char *about;       /* a few lines of description */
    cli_opt *opts; int nopts;
    const char *const *pos_names; int npos_min, npos_max;  /* positional arguments */
    const char **pos;        /* out: the positional arguments (npos_max slots) */
    int npos;                /* out */
} cli_spec;

enum { CLI_OK = 0, CLI_HELP = 1, CLI_ERROR = EXIT_USAGE };

static void cli_help(const cli_spec *s) {
    int i;
    printf("usage: factedit %s %s\n\n%s\n", s->cmd, s->usage, s->about);
    printf("\noptions:\n");
    for (i = 0; i < s->nopts; i++) {
        char left[64];
        const cli_opt *o = &s->opts[i];
        if (o->kind == ARG_FLAG) snprintf(left, sizeof left, "%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name);
        else snprintf(left, sizeof left, "%s%s%s %s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name, o->meta);
        printf("  %-24s %s\n", left, o->help);
    }
    printf("  %-24s %s\n", "-h, --help", "show this help");
}

#if defined(__GNUC__) || defined(__clang__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif
/* A usage error: the message, a pointer to --help; returns CLI_ERROR (= EXIT_USAGE). */
static int cli_usage_error(const cli_spec *s, const char *fmt, ...) CLI_PRINTF(2, 3);
static int cli_usage_error(const cli_spec *s, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "factedit %s: ", s->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'factedit %s --help'.\n", s->cmd);
    return CLI_ERROR;
}

/* Strict integers: optional '-', then digits only ("12abc", "", " 1", "+1", "1e3" are not). */
static int parse_digits(const char *s, int allow_minus) {
    if (allow_minus && *s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++) if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* 0 = ok; 1 = not an integer; 2 = out of [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    if (!parse_digits(s, 1)) return 1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno == ERANGE || v < lo || v > hi) return 2;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    unsigned long long v;
    if (!parse_digits(s, 0)) return 1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || v > (unsigned long long)UINT64_MAX) return 2;
    *out = (uint64_t)v;
    return 0;
}

static int parse_double(const char *s, double *out) {
    char *end;
    double v;
    if (!*s || *s == ' ' || *s == '\t') return 1;
    errno = 0;
    v = strtod(s, &end);
    if (*end || end == s) return 1;
    if (errno == ERANGE || !isfinite(v)) return 2;
    *out = v;
    return 0;
}

static int cli_set(const cli_spec *s, cli_opt *o, const char *v) {
    int k;
    switch (o->kind) {
    case ARG_STR: *(const char **)o->dst = v; return CLI_OK;
    case ARG_INT: {
        long x = 0;
        if ((k = parse_long(v, o->lo, o->hi, &x)) == 1) return cli_usage_error(s, "%s: '%s' is not an integer", o->name, v);
        if (k == 2) {
            return cli_usage_error(s, "%s: %s is out of range (allowed %ld..%ld)", o->name, v, o->lo, o->hi);
        }
        *(int *)o->dst = (int)x;
        return CLI_OK;
    }
    case ARG_U64:
        if ((k = parse_u64(v, (uint64_t *)o->dst)) == 1) return cli_usage_error(s, "%s: '%s' is not a non-negative integer", o->name, v);
        if (k == 2) return cli_usage_error(s, "%s: %s does not fit in 64 bits", o->name, v);
        return CLI_OK;
    case ARG_FLOAT:
        if ((k = parse_double(v, (double *)o->dst)) == 1) return cli_usage_error(s, "%s: '%s' is not a number", o->name, v);
        if (k == 2) return cli_usage_error(s, "%s: %s is not a finite number", o->name, v);
        return CLI_OK;
    case ARG_FLAG: break;
    }
    return CLI_ERROR;
}

/* Parses argv[1..argc) (argv[0] = the command name) against s. "--name value", "--name=value",
   aliases, "--" ends the options, "-" alone is a positional argument. Prints the help on
   -h/--help (CLI_HELP) and usage errors on stderr (CLI_ERROR). */
static int cli_parse(cli_spec *s, int argc, char **argv) {
    int i, j, only_pos = 0;
    s->npos = 0;
    for (j = 0; j < s->nopts; j++) s->opts[j].seen = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        char name[64];
        cli_opt *o = NULL;
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (s->npos >= s->npos_max) return cli_usage_error(s, "unexpected argument '%s'", a);
            s->pos[s->npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { cli_help(s); return CLI_HELP; }
        eq = a[1] == '-' ? strchr(a, '=') : NULL;
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        for (j = 0; j < s->nopts && !o; j++)
            if (!strcmp(name, s->opts[j].name) || (s->opts[j].alias && !strcmp(name, s->opts[j].alias))) o = &s->opts[j];
        if (!o) return cli_usage_error(s, "unknown option '%s'", name);
        if (o->seen) return cli_usage_error(s, "%s given twice", o->name);
        o->seen = 1;
        if (o->kind == ARG_FLAG) {
            if (eq) return cli_usage_error(s, "%s takes no value", o->name);
            *(int *)o->dst = 1;
            continue;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else return cli_usage_error(s, "%s needs a value (%s)", o->name, o->meta);
        if (cli_set(s, o, val) != CLI_OK) return CLI_ERROR;
    }
    if (s->npos < s->npos_min) return cli_usage_error(s, "missing argument %s", s->pos_names[s->npos]);
    return CLI_OK;
}

/* cli_parse's result as an exit status: -1 = go on. */
static int cli_exit(int r) { return r == CLI_OK ? -1 : r == CLI_HELP ? 0 : EXIT_USAGE; }

/* A failure: "factedit CMD: msg" (a library message that already starts with "CMD: " keeps one). */
static int fail(const char *cmd, const char *msg) {
    size_t n = strlen(cmd);
    if (!strncmp(msg, cmd, n) && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    fprintf(stderr, "factedit %s: %s\n", cmd, msg);
    return EXIT_FAIL;
}

/* stdout must have been written completely (a full disk or closed pipe is an error). */
static int finish_stdout(const char *cmd) {
    if (fflush(stdout) != 0 || ferror(stdout)) return fail(cmd, "cannot write to standard output");
    return 0;
}

/* ================================================================== shared helpers ====== */

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* The directory part of path ("." if none), into buf. 0 if it does not fit. */
static int dir_of(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    size_t n;
    if (!slash) { snprintf(buf, cap, "."); return 1; }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n + 1 > cap) return 0;
    memcpy(buf, path, n);
    buf[n] = 0;
    return 1;
}

static int dir_file(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap;
}

static int load_model(const char *cmd, const char *path, fe_model **m) {
    fe_error e;
    if (!path) return fail(cmd, "no --model given");
    if (fe_model_load_file(m, path, NULL, &e) != fe_ok) {
        fprintf(stderr, "factedit %s: %s\n", cmd, e.msg);
        return EXIT_FAIL;
    }
    return 0;
}

/* --vocab DIR; else the model's directory if it holds vocab.bpe / merges.txt (with or without
   encoder.json / vocab.json); else the GPT-2 vocabulary compiled into this program. */
static int load_vocab(const char *cmd, const char *dir, const char *model_path, fe_vocab **v) {
    fe_error e;
    char mdir[4096], probe[4200];
    fe_result r;
    if (!dir && model_path && dir_of(model_path, mdir, sizeof mdir) &&
        ((dir_file(probe, sizeof probe, mdir, "vocab.bpe") && file_exists(probe)) ||
         (dir_file(probe, sizeof probe, mdir, "merges.txt") && file_exists(probe))))
        dir = mdir;
    if (dir) r = fe_vocab_load_dir(v, dir, NULL, &e);
    else r = fe_vocab_load_mem(v, NULL, 0, (const char *)fe_gpt2_vocab_bpe, fe_gpt2_vocab_bpe_len, NULL, &e);
    if (r != fe_ok) {
        fprintf(stderr, "factedit %s: vocabulary%s%s: %s\n", cmd, dir ? " in " : "", dir ? dir : "", e.msg);
        return EXIT_FAIL;
    }
    return 0;
}

/* "1,2, 3" -> ids (malloc'd; *n may be 0 for ""). Each id must be in 0..INT_MAX. */
static int parse_id_list(const char *cmd, const char *opt, const char *s, int **ids, size_t *n) {
    size_t cap = 1, k = 0;
    const char *p;
    int *out;
    for (p = s; *p; p++) cap += *p == ',';
    *ids = NULL; *n = 0;
    out = (int *)malloc(cap * sizeof(int));
    if (!out) return fail(cmd, "out of memory");
    p = s;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) { *ids = out; return 0; }
    for (;;) {
        char item[32];
        size_t len = 0;
        long v;
        while (*p == ' ' || *p == '\t') p++;
        while (p[len] && p[len] != ',' && p[len] != ' ' && p[len] != '\t') len++;
        snprintf(item, sizeof item, "%.*s", (int)(len < 31 ? len : 31), p);
        if (len == 0 || len > 30 || parse_long(item, 0, INT_MAX, &v) != 0) {
            fprintf(stderr, "factedit %s: %s: '%s' is not a token id (a non-negative integer) in '%s'\n", cmd, opt, item, s);
            free(out);
            return EXIT_USAGE;
        }
        out[k++] = (int)v;
        p += len;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (*p != ',') {
            fprintf(stderr, "factedit %s: %s: expected ',' after '%s' in '%s'\n", cmd, opt, item, s);
            free(out);
            return EXIT_USAGE;
        }
        p++;
    }
    *ids = out; *n = k;
    return 0;
}

static void print_ids(const int *ids, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
}

/* llm.c pads the vocabulary to a multiple of 128 (a V this large fails the config check anyway) */
static int padded_vocab(int V) { return V > INT_MAX - 127 ? V : (V + 127) / 128 * 128; }

/* ================================================================== convert ============= */

static void on_fill(void *user, const char *name) {
    fprintf(stderr, "factedit convert: tensor '%s' missing from the input: filled from %s\n", name, (const char *)user);
}

static int cmd_convert(int argc, char **argv) {
    const char *config = NULL, *ref = NULL, *pos[2];
    int n_head = 0, bf16 = 0, no_config = 0, rc;
    char auto_config[4200], dir[4096];
    fe_convert_opts o;
    fe_model *m = NULL;
    fe_error e;
    static const char *const pos_names[] = {"IN.safetensors", "OUT.bin"};
    cli_opt opts[] = {
        {"--config", NULL, ARG_STR, NULL, 0, 0, "FILE", "Hugging Face config.json (default: config.json beside IN, if any)", 0},
        {"--no-config", NULL, ARG_FLAG, NULL, 0, 0, "", "do not look for config.json beside IN", 0},
        {"--n-head", NULL, ARG_INT, NULL, 1, INT_MAX, "N", "number of attention heads (needed without config.json)", 0},
        {"--bf16", NULL, ARG_FLAG, NULL, 0, 0, "", "write bfloat16 weights (llm.c version 5) instead of float32", 0},
        {"--missing-from", NULL, ARG_STR, NULL, 0, 0, "REF", "take tensors absent from IN from REF.safetensors (the same model)", 0},
    };
    cli_spec s;
    opts[0].dst = (void *)&config; opts[1].dst = &no_config; opts[2].dst = &n_head; opts[3].dst = &bf16; opts[4].dst = (void *)&ref;
    memset(&s, 0, sizeof s);
    s.cmd = "convert"; s.usage = "IN.safetensors OUT.bin [options]";
    s.about = "Converts a Hugging Face GPT-2 checkpoint (model.safetensors, F32/F16/BF16, with or without\n"
              "the 'transformer.' prefix) to an llm.c checkpoint. config.json is cross-checked against the\n"
              "weights (sizes, layer_norm_epsilon = 1e-5, tanh GELU). OUT is written atomically: on any\n"
              "error an existing OUT is left as it was.";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
    s.pos_names = pos_names; s.npos_min = 2; s.npos_max = 2; s.pos = pos;
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if (config && no_config) return cli_usage_error(&s, "--config and --no-config contradict each other");
    if (!config && !no_config && dir_of(pos[0], dir, sizeof dir) && dir_file(auto_config, sizeof auto_config, dir, "config.json") &&
        file_exists(auto_config)) {
        config = auto_config;
        fprintf(stderr, "factedit convert: using %s\n", config);
    }
    memset(&o, 0, sizeof o);
    o.n_head = n_head;
    o.on_fill = on_fill; o.on_fill_user = (void *)ref;
    if (fe_convert_hf_model_files(&m, pos[0], config, ref, &o, &e) != fe_ok) {
        rc = fail("convert", e.msg);
        if (!ref && strstr(e.msg, "missing tensor"))
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
    static const char *const pos_names[] = {"OUT.bin"};
    cli_opt opts[] = {
        {"--layers", NULL, ARG_INT, NULL, 1, INT_MAX, "L", "number of layers (default 12)", 0},
        {"--heads", NULL, ARG_INT, NULL, 1, INT_MAX, "H", "attention heads per layer (default 12)", 0},
        {"--width", NULL, ARG_INT, NULL, 1, INT_MAX, "C", "channels, a multiple of H (default 768)", 0},
        {"--vocab", NULL, ARG_INT, NULL, 1, INT_MAX, "V", "vocabulary size (default 50257); padded to a multiple of 128", 0},
        {"--context", NULL, ARG_INT, NULL, 1, INT_MAX, "T", "positions (default 1024)", 0},
        {"--seed", NULL, ARG_U64, NULL, 0, 0, "S", "random seed (default 0)", 0},
        {"--bf16", NULL, ARG_FLAG, NULL, 0, 0, "", "write bfloat16 weights (llm.c version 5)", 0},
    };
    cli_spec s;
    opts[0].dst = &layers; opts[1].dst = &heads; opts[2].dst = &width; opts[3].dst = &vocab;
    opts[4].dst = &context; opts[5].dst = &seed; opts[6].dst = &bf16;
    memset(&s, 0, sizeof s);
    s.cmd = "random"; s.usage = "OUT.bin [options]";
    s.about = "Writes a checkpoint of any GPT-2 shape with random GPT-2-like weights (N(0, 0.02),\n"
              "residual projections scaled by 1/sqrt(2L)), for tests and benchmarks. The defaults are\n"
              "GPT-2 small's shape (124M parameters).";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
    s.pos_names = pos_names; s.npos_min = 1; s.npos_max = 1; s.pos = pos;
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
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
    int n_new = 32, top_k = 0, ids_mode = 0, rc = 0, *ids = NULL, *all = NULL;
    double temperature = 0.0, top_p = 0.0;
    uint64_t seed = 0;
    size_t n_prompt = 0, i;
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_sample_opts so;
    fe_rng rng;
    fe_error e;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, NULL, 0, 0, "FILE", "llm.c checkpoint", 0},
        {"--vocab", NULL, ARG_STR, NULL, 0, 0, "DIR", "vocabulary (vocab.bpe or merges.txt, optional encoder.json or vocab.json);\n"
         "                           default: the model's directory if it has one, else GPT-2's (built in)", 0},
        {"--prompt", NULL, ARG_STR, NULL, 0, 0, "TEXT", "the text to continue (required)", 0},
        {"-n", NULL, ARG_INT, NULL, 0, INT_MAX, "N", "tokens to generate (default 32)", 0},
        {"--temperature", NULL, ARG_FLOAT, NULL, 0, 0, "T", "0 = greedy (default; 1 if --top-k or --top-p is given)", 0},
        {"--top-k", NULL, ARG_INT, NULL, 0, INT_MAX, "K", "sample from the K most likely tokens (0 = all)", 0},
        {"--top-p", NULL, ARG_FLOAT, NULL, 0, 0, "P", "sample from the smallest set holding probability P (0 or 1 = off)", 0},
        {"--seed", NULL, ARG_U64, NULL, 0, 0, "S", "random seed for sampling (default 0)", 0},
        {"--ids", NULL, ARG_FLAG, NULL, 0, 0, "", "token ids in and out: --prompt is '1,2,3', the output the ids (no vocabulary)", 0},
    };
    cli_spec s;
    opts[0].dst = (void *)&model_path; opts[1].dst = (void *)&vocab_dir; opts[2].dst = (void *)&prompt; opts[3].dst = &n_new;
    opts[4].dst = &temperature; opts[5].dst = &top_k; opts[6].dst = &top_p; opts[7].dst = &seed; opts[8].dst = &ids_mode;
    memset(&s, 0, sizeof s);
    s.cmd = "generate"; s.usage = "--model FILE --prompt TEXT [options]";
    s.about = "Prints the prompt followed by its continuation. Greedy by default; with a temperature,\n"
              "top-k or top-p it samples, and the same --seed gives the same text.";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if (!prompt) return cli_usage_error(&s, "no --prompt given");
    if (temperature < 0) return cli_usage_error(&s, "--temperature must be >= 0");
    if (top_p < 0 || top_p > 1) return cli_usage_error(&s, "--top-p must be between 0 and 1");
    if (!opts[4].seen && (opts[5].seen || opts[6].seen)) temperature = 1.0;
    if ((rc = load_model("generate", model_path, &m)) != 0) return rc;

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
    const char *vocab_dir = NULL, *text = NULL, *idstr = NULL;
    int rc, *ids = NULL;
    size_t n = 0;
    fe_vocab *v = NULL;
    fe_error e;
    cli_opt opts[] = {
        {"--vocab", NULL, ARG_STR, NULL, 0, 0, "DIR", "vocabulary directory (default: GPT-2's, built in)", 0},
        {"--text", NULL, ARG_STR, NULL, 0, 0, "TEXT", "print the token ids of TEXT, comma-separated", 0},
        {"--ids", NULL, ARG_STR, NULL, 0, 0, "1,2,3", "print the text of these token ids", 0},
    };
    cli_spec s;
    opts[0].dst = (void *)&vocab_dir; opts[1].dst = (void *)&text; opts[2].dst = (void *)&idstr;
    memset(&s, 0, sizeof s);
    s.cmd = "tokenize"; s.usage = "[--vocab DIR] (--text TEXT | --ids 1,2,3)";
    s.about = "GPT-2 byte-level BPE: text to token ids, or token ids back to text (byte for byte).";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if ((text != NULL) == (idstr != NULL)) return cli_usage_error(&s, "give exactly one of --text and --ids");
    if (idstr && (rc = parse_id_list("tokenize", "--ids", idstr, &ids, &n)) != 0) return rc;
    if ((rc = load_vocab("tokenize", vocab_dir, NULL, &v)) != 0) { free(ids); return rc; }
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
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, NULL, 0, 0, "FILE", "llm.c checkpoint", 0},
    };
    cli_spec s;
    opts[0].dst = (void *)&model_path;
    memset(&s, 0, sizeof s);
    s.cmd = "info"; s.usage = "--model FILE";
    s.about = "Prints a checkpoint's configuration, parameter count, file version and checksum.";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if ((rc = load_model("info", model_path, &m)) != 0) return rc;
    c = &m->config;
    printf("model:       %s\n", model_path);
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

/* Planned: trace, edit, eval, stats, bench (add them here). */
static const cli_cmd commands[] = {
    {"generate", cmd_generate, "continue a prompt (greedy or sampled)"},
    {"tokenize", cmd_tokenize, "text to GPT-2 token ids and back"},
    {"info", cmd_info, "show a checkpoint's configuration and checksum"},
    {"convert", cmd_convert, "Hugging Face model.safetensors to an llm.c checkpoint"},
    {"random", cmd_random, "write a checkpoint with random weights, of any shape"},
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
