/* The command-line tools' shared argument parser and helpers (tools/cli.c): every `factedit`
   subcommand declares its options in a cli_opt table and calls cli_parse. */
#ifndef FACTEDIT_CLI_H
#define FACTEDIT_CLI_H
#include "factedit.h"
#include "progress.h"   /* cli_wall, cli_progress */
#include <stdio.h>

#define FACTEDIT_CLI_VERSION "0.1.0"

/* tools/gpt2/vocab.bpe, compiled in by tools/embed.c (build/gpt2_vocab.c) */
#ifdef __cplusplus
extern "C" {
#endif
extern const unsigned char fe_gpt2_vocab_bpe[];
extern const size_t fe_gpt2_vocab_bpe_len;
/* demo/model/ (checkpoint, encoder.json, vocab.bpe), compiled in: the default model */
extern const unsigned char fe_demo_model[], fe_demo_encoder[], fe_demo_bpe[];
extern const size_t fe_demo_model_len, fe_demo_encoder_len, fe_demo_bpe_len;
#ifdef __cplusplus
}
#endif

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* ================================================================== argument parsing ==== */

typedef enum { ARG_FLAG, ARG_STR, ARG_INT, ARG_U64, ARG_FLOAT } arg_kind;

/* One option. A command's table binds each option to its variable by address, in the table itself
   (C99 allows the addresses of automatic variables in an automatic aggregate's initializer):
       {"--layer", NULL, ARG_INT, &layer, 0, INT_MAX, "L", "the edited layer", 0},
   and asks whether it was given by name: cli_seen(&s, "--layer"). */
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

#if defined(__GNUC__) || defined(__clang__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* A command's spec: its options table (CLI_OPTS(opts): the array and its length), name ("random"),
   usage (what follows "factedit random") and description; no positional arguments (set pos_names,
   npos_min, npos_max and pos after it for some). */
#define CLI_OPTS(opts) (opts), (int)(sizeof(opts) / sizeof((opts)[0]))
void cli_spec_init(cli_spec *s, cli_opt *opts, int nopts, const char *cmd, const char *usage, const char *about);
void cli_help(const cli_spec *s);
int cli_usage_error(const cli_spec *s, const char *fmt, ...) CLI_PRINTF(2, 3);
int parse_long(const char *s, long lo, long hi, long *out);
int parse_u64(const char *s, uint64_t *out);
int parse_double(const char *s, double *out);
int cli_set(const cli_spec *s, cli_opt *o, const char *v);
int cli_parse(cli_spec *s, int argc, char **argv);
/* Whether cli_parse saw the option called name (its long name); an unknown name is a bug in the
   command: it aborts, naming it. */
int cli_seen(const cli_spec *s, const char *name);
/* The first option cli_parse saw that is not in allowed (long names, NULL-terminated): its long
   name, or NULL if every option given is allowed. */
const char *cli_seen_outside(const cli_spec *s, const char *const *allowed);
int fail(const char *cmd, const char *msg);
int finish_stdout(const char *cmd);
int file_exists(const char *path);   /* anything at path (stat; never opens it: a FIFO would block) */
int dir_of(const char *path, char *buf, size_t cap);
int dir_file(char *buf, size_t cap, const char *dir, const char *name);
int load_model(const char *cmd, const char *path, int bf16, fe_model **m);  /* bf16: fe_load_opts.bf16_weights */
/* The vocabulary: --vocab DIR ("gpt2": GPT-2's, built in); without it the model's: the demo
   model's when model_path is NULL, else vocab.bpe / merges.txt beside the model, else GPT-2's. */
int load_vocab(const char *cmd, const char *dir, const char *model_path, fe_vocab **v);
int parse_id_list(const char *cmd, const char *opt, const char *s, int **ids, size_t *n);
void print_ids(const int *ids, size_t n);
int cli_exit(int r);   /* cli_parse's result as an exit status: -1 = go on */
int padded_vocab(int V);
int parse_shard(const char *s, int *i, int *n);   /* --shard "i/n", 0 <= i < n; 0 = ok */

/* The shards a merge combines (trace --merge, eval --merge): the files of one run, shard i of n
   each, every shard exactly once. Messages: "factedit WHO: ...". */
typedef struct cli_shards {
    const char *who;          /* "trace: --merge", "eval" */
    int n;                    /* the run's shard count (the first file's); 0 before any */
    const char *first_path;
    int first_i;
    unsigned char *have;      /* [n] */
} cli_shards;
void cli_shards_init(cli_shards *s, const char *who);
/* File path is shard i of n: 0, or EXIT_FAIL after saying why (another n than the first file's,
   a shard given twice, out of memory). */
int cli_shards_add(cli_shards *s, const char *path, int i, int n);
int cli_shards_complete(const cli_shards *s);   /* 0, or EXIT_FAIL naming the first missing shard */
void cli_shards_free(cli_shards *s);
/* Record index belongs to shard i of n (records i, i+n, i+2n, ... of the run). */
int cli_shard_owns(long index, int i, int n);
int read_text_tokens(const char *cmd, const fe_model *m, const fe_vocab *v, const char *path, int lines, uint64_t max_tokens, int **tok, size_t *n);
/* A token or text for the terminal: "..." with C escapes for control bytes and invalid UTF-8. */
void print_quoted(FILE *f, const char *s, size_t n);

/* Reading JSON documents (reports, shard files). */
const char *cli_json_str(const fe_json_value *o, const char *key);   /* o's string member key, or NULL */
int cli_json_num(const fe_json_value *o, const char *key, double *x);   /* o's number member key: 0, else 1 */
int cli_json_int(const fe_json_value *v, int *out);          /* v an integer in int's range: 1, else 0 */
int cli_json_num_or_null(const fe_json_value *v, double *out);   /* a number, or null as NaN: 1, else 0 */
int cli_json_same(const fe_json_value *a, const fe_json_value *b);   /* equal values (member order included) */

/* ================================================================== paths, checked up front ==
   A command names every file it reads (cli_in, cli_in_vocab) and writes (cli_out, cli_out_dir),
   then calls cli_paths_check before it loads or computes anything:
   - an input must open (else exit 1 with the OS's reason: "No such file or directory") and be a
     regular file: it is opened with O_NONBLOCK, so a FIFO cannot hang the tool (exit 2);
   - an output's directory must exist and be writable, and an existing output must be a regular
     file (exit 2); cli_out_dir's directory may be missing if its parent is there (the command
     creates it);
   - no output may be the same file as an input or as another output, however it is spelled
     ("./x", an absolute path, "..", a symlink, a hard link): existing files are compared by
     device and inode, a file not written yet by its directory's device and inode and its name
     (exit 2).
   Each message names the option and the path. */
typedef struct cli_path {
    const char *what;              /* "--model", "OUT.bin", "--out DIR" */
    char *path;                    /* owned copy */
    int kind;                      /* 0 input, 1 output file, 2 output directory, 3 --vocab that is not a directory */
    int dir_index;                 /* an output file inside a cli_out_dir directory: its entry; else -1 */
    int exists;                    /* set by cli_paths_check */
    unsigned long long dev, ino;   /* the file's; for an output not written yet, its directory's */
} cli_path;
typedef struct cli_paths { const char *cmd; int n, cap, failed; cli_path *p; } cli_paths;
void cli_paths_init(cli_paths *ps, const char *cmd);
void cli_in(cli_paths *ps, const char *what, const char *path);    /* path NULL: nothing */
void cli_out(cli_paths *ps, const char *what, const char *path);   /* path NULL: nothing */
/* Output directory dir (created by the command if missing) and the n files written in it. */
void cli_out_dir(cli_paths *ps, const char *what, const char *dir, const char *const *names, int n);
/* The files load_vocab(dir, model_path) will read (none for a built-in vocabulary). */
void cli_in_vocab(cli_paths *ps, const char *dir, const char *model_path);
int cli_paths_check(cli_paths *ps);   /* 0, or the exit status after printing why; frees the copies */
#endif
