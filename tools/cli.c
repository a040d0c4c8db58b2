/* The command-line tools' shared argument parser and helpers: see cli.h. */
#if !defined(_POSIX_C_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L   /* clock_gettime, and the path checks: open, fstat, access */
#endif
#include "cli.h"
#include "fe_convert.h"
#include "buf.h"   /* utf8_seq_len */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

void cli_spec_init(cli_spec *s, cli_opt *opts, int nopts, const char *cmd, const char *usage, const char *about) {
    memset(s, 0, sizeof *s);
    s->opts = opts;
    s->nopts = nopts;
    s->cmd = cmd;
    s->usage = usage;
    s->about = about;
}

void cli_help(const cli_spec *s) {
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

/* A usage error: the message, a pointer to --help; returns CLI_ERROR (= EXIT_USAGE). */
int cli_usage_error(const cli_spec *s, const char *fmt, ...) {
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
int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    if (!parse_digits(s, 1)) return 1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno == ERANGE || v < lo || v > hi) return 2;
    *out = v;
    return 0;
}

int parse_u64(const char *s, uint64_t *out) {
    char *end;
    unsigned long long v;
    if (!parse_digits(s, 0)) return 1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || v > (unsigned long long)UINT64_MAX) return 2;
    *out = (uint64_t)v;
    return 0;
}

int parse_double(const char *s, double *out) {
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

int cli_set(const cli_spec *s, cli_opt *o, const char *v) {
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
int cli_parse(cli_spec *s, int argc, char **argv) {
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

int cli_seen(const cli_spec *s, const char *name) {
    int i;
    for (i = 0; i < s->nopts; i++)
        if (!strcmp(s->opts[i].name, name)) return s->opts[i].seen;
    fprintf(stderr, "factedit %s: internal error: no option %s\n", s->cmd, name);
    abort();
}

const char *cli_seen_outside(const cli_spec *s, const char *const *allowed) {
    int i, j, ok;
    for (i = 0; i < s->nopts; i++) {
        if (!s->opts[i].seen) continue;
        for (ok = 0, j = 0; allowed[j] && !ok; j++) ok = !strcmp(s->opts[i].name, allowed[j]);
        if (!ok) return s->opts[i].name;
    }
    return NULL;
}

/* cli_parse's result as an exit status: -1 = go on. */
int cli_exit(int r) { return r == CLI_OK ? -1 : r == CLI_HELP ? 0 : EXIT_USAGE; }

/* A failure: "factedit CMD: msg" (a library message that already starts with "CMD: " keeps one). */
int fail(const char *cmd, const char *msg) {
    size_t n = strlen(cmd);
    if (!strncmp(msg, cmd, n) && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    fprintf(stderr, "factedit %s: %s\n", cmd, msg);
    return EXIT_FAIL;
}

/* stdout must have been written completely (a full disk or closed pipe is an error). */
int finish_stdout(const char *cmd) {
    if (fflush(stdout) != 0 || ferror(stdout)) return fail(cmd, "cannot write to standard output");
    return 0;
}

/* ================================================================== shared helpers ====== */

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The directory part of path ("." if none), into buf. 0 if it does not fit. */
int dir_of(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    size_t n;
    if (!slash) { snprintf(buf, cap, "."); return 1; }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n + 1 > cap) return 0;
    memcpy(buf, path, n);
    buf[n] = 0;
    return 1;
}

int dir_file(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap;
}

int load_model(const char *cmd, const char *path, int bf16, fe_model **m) {
    fe_error e;
    fe_result r;
    fe_load_opts o;
    memset(&o, 0, sizeof o);
    o.bf16_weights = bf16;
    if (!path) r = fe_model_load_mem(m, fe_demo_model, fe_demo_model_len, &o, &e);   /* the demo model */
    else r = fe_model_load_file(m, path, &o, &e);
    if (r != fe_ok) {
        fprintf(stderr, "factedit %s: %s\n", cmd, e.msg);
        return EXIT_FAIL;
    }
    return 0;
}

/* Where load_vocab takes the vocabulary from: 1 = directory *dir (mdir holds it when it is the
   model's), 2 = GPT-2's (built in), 3 = the demo model's (built in). */
static int vocab_source(const char **dir, const char *model_path, char *mdir, size_t cap) {
    char probe[4200];
    if (*dir) return strcmp(*dir, "gpt2") ? 1 : 2;
    if (!model_path) return 3;
    if (dir_of(model_path, mdir, cap) &&
        ((dir_file(probe, sizeof probe, mdir, "vocab.bpe") && file_exists(probe)) ||
         (dir_file(probe, sizeof probe, mdir, "merges.txt") && file_exists(probe)))) {
        *dir = mdir;
        return 1;
    }
    return 2;
}

int load_vocab(const char *cmd, const char *dir, const char *model_path, fe_vocab **v) {
    fe_error e;
    char mdir[4096];
    fe_result r;
    int src = vocab_source(&dir, model_path, mdir, sizeof mdir);
    if (src == 1) r = fe_vocab_load_dir(v, dir, NULL, &e);
    else if (src == 3) r = fe_vocab_load_mem(v, (const char *)fe_demo_encoder, fe_demo_encoder_len, (const char *)fe_demo_bpe, fe_demo_bpe_len, NULL, &e);
    else r = fe_vocab_load_mem(v, NULL, 0, (const char *)fe_gpt2_vocab_bpe, fe_gpt2_vocab_bpe_len, NULL, &e);
    if (r != fe_ok) {
        fprintf(stderr, "factedit %s: vocabulary%s%s: %s\n", cmd, src == 1 ? " in " : "", src == 1 ? dir : "", e.msg);
        return EXIT_FAIL;
    }
    return 0;
}

/* "1,2, 3" -> ids (malloc'd; *n may be 0 for ""). Each id must be in 0..INT_MAX. */
int parse_id_list(const char *cmd, const char *opt, const char *s, int **ids, size_t *n) {
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

void print_ids(const int *ids, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
}

/* llm.c pads the vocabulary to a multiple of 128 (a V this large fails the config check anyway) */
int padded_vocab(int V) { return V > INT_MAX - 127 ? V : (V + 127) / 128 * 128; }

/* --shard "i/n" with 0 <= i < n (trace and eval). 0 = ok. */
int parse_shard(const char *s, int *i, int *n) {
    const char *slash = strchr(s, '/');
    char a[32], b[32];
    long x, y;
    if (!slash || slash == s || (size_t)(slash - s) >= sizeof a || strlen(slash + 1) >= sizeof b) return 1;
    memcpy(a, s, (size_t)(slash - s));
    a[slash - s] = 0;
    strcpy(b, slash + 1);
    if (parse_long(a, 0, INT_MAX, &x) || parse_long(b, 1, INT_MAX, &y) || x >= y) return 1;
    *i = (int)x;
    *n = (int)y;
    return 0;
}

void cli_shards_init(cli_shards *s, const char *who) { memset(s, 0, sizeof *s); s->who = who; }

int cli_shards_add(cli_shards *s, const char *path, int i, int n) {
    if (!s->n) {
        if (!(s->have = (unsigned char *)calloc((size_t)n, 1))) { fprintf(stderr, "factedit %s: out of memory\n", s->who); return EXIT_FAIL; }
        s->n = n;
        s->first_path = path;
        s->first_i = i;
    } else if (n != s->n) {
        fprintf(stderr, "factedit %s: '%s' is shard %d/%d but '%s' is shard %d/%d\n", s->who, s->first_path, s->first_i, s->n, path, i, n);
        return EXIT_FAIL;
    }
    if (s->have[i]) { fprintf(stderr, "factedit %s: shard %d/%d given twice ('%s')\n", s->who, i, n, path); return EXIT_FAIL; }
    s->have[i] = 1;
    return 0;
}

int cli_shards_complete(const cli_shards *s) {
    int i;
    for (i = 0; i < s->n; i++)
        if (!s->have[i]) { fprintf(stderr, "factedit %s: shard %d/%d is missing\n", s->who, i, s->n); return EXIT_FAIL; }
    return 0;
}

void cli_shards_free(cli_shards *s) { free(s->have); memset(s, 0, sizeof *s); }

int cli_shard_owns(long index, int i, int n) { return index >= 0 && index % n == i; }

/* ============================================================ shared by several commands ==== */

/* A text file as token ids for key statistics: the whole text encoded at once, or (lines) each
   non-empty line encoded alone with <|endoftext|> before it; the first max_tokens (0: all). Fails
   (with the message printed) on an empty result or an id outside the model's vocabulary. */
int read_text_tokens(const char *cmd, const fe_model *m, const fe_vocab *v, const char *path, int lines, uint64_t max_tokens, int **out, size_t *nout) {
    unsigned char *text = NULL;
    size_t len = 0, i, start = 0, n = 0, cap = 0;
    int *tok = NULL;
    fe_error e;
    *out = NULL; *nout = 0;
    if (fe_read_file(path, &text, &len, NULL, &e) != fe_ok) return fail(cmd, e.msg);
    if (lines && fe_vocab_eot(v) < 0) { free(text); return fail(cmd, "--lines: the vocabulary has no <|endoftext|>"); }
    for (i = 0; i <= len && (!max_tokens || n < max_tokens); i++) {
        int *ids = NULL;
        size_t k = 0, j;
        if (!lines) { if (i < len) continue; start = 0; }
        else if (i < len && text[i] != '\n') continue;
        if (lines && i == start) { start = i + 1; continue; }   /* empty line */
        if (fe_encode(v, (const char *)text + start, i - start, &ids, &k, &e) != fe_ok) { free(tok); free(text); return fail(cmd, e.msg); }
        if (n + k + 1 > cap) {
            size_t nc = cap ? cap : 4096;
            int *nt;
            while (nc < n + k + 1) nc *= 2;
            if (!(nt = (int *)realloc(tok, sizeof(int) * nc))) { fe_ids_free(v, ids); free(tok); free(text); return fail(cmd, "out of memory"); }
            tok = nt; cap = nc;
        }
        if (lines) tok[n++] = fe_vocab_eot(v);
        for (j = 0; j < k; j++) tok[n++] = ids[j];
        fe_ids_free(v, ids);
        start = i + 1;
    }
    free(text);
    if (max_tokens && n > max_tokens) n = (size_t)max_tokens;
    if (n == 0) { fprintf(stderr, "factedit %s: %s has no tokens\n", cmd, path); free(tok); return EXIT_FAIL; }
    for (i = 0; i < n; i++)
        if (tok[i] >= m->config.vocab_size) {
            fprintf(stderr, "factedit %s: token id %d is outside the model's vocabulary of %d (the vocabulary does not belong to this model? see --vocab)\n",
                    cmd, tok[i], m->config.vocab_size);
            free(tok);
            return EXIT_FAIL;
        }
    *out = tok; *nout = n;
    return 0;
}

/* ================================================================== paths, checked up front == */

void cli_paths_init(cli_paths *ps, const char *cmd) { memset(ps, 0, sizeof *ps); ps->cmd = cmd; }

static void paths_free(cli_paths *ps) {
    int i;
    for (i = 0; i < ps->n; i++) free(ps->p[i].path);
    free(ps->p);
    ps->p = NULL;
    ps->n = ps->cap = 0;
}

static int paths_add(cli_paths *ps, const char *what, const char *path, int kind, int dir_index) {
    cli_path *p;
    size_t n;
    if (!path) return -1;
    if (ps->n == ps->cap) {
        int nc = ps->cap ? 2 * ps->cap : 8;
        cli_path *q = (cli_path *)realloc(ps->p, sizeof *q * (size_t)nc);
        if (!q) { ps->failed = 1; return -1; }
        ps->p = q; ps->cap = nc;
    }
    n = strlen(path) + 1;
    p = &ps->p[ps->n];
    if (!(p->path = (char *)malloc(n))) { ps->failed = 1; return -1; }
    memcpy(p->path, path, n);
    p->what = what; p->kind = kind; p->dir_index = dir_index; p->exists = 0; p->dev = p->ino = 0;
    return ps->n++;
}

void cli_in(cli_paths *ps, const char *what, const char *path) { paths_add(ps, what, path, 0, -1); }
void cli_out(cli_paths *ps, const char *what, const char *path) { paths_add(ps, what, path, 1, -1); }

void cli_out_dir(cli_paths *ps, const char *what, const char *dir, const char *const *names, int n) {
    int d = paths_add(ps, what, dir, 2, -1), i;
    char path[4200], *end;
    if (d < 0) return;
    for (end = ps->p[d].path + strlen(ps->p[d].path); end > ps->p[d].path + 1 && end[-1] == '/'; end--) end[-1] = 0;   /* "out/" = "out" */
    for (i = 0; i < n; i++) {
        if (!dir_file(path, sizeof path, ps->p[d].path, names[i])) { ps->failed = 1; return; }
        paths_add(ps, what, path, 1, d);
    }
}

void cli_in_vocab(cli_paths *ps, const char *dir, const char *model_path) {
    static const char *const names[2][2] = {{"vocab.bpe", "merges.txt"}, {"encoder.json", "vocab.json"}};
    char mdir[4096], path[4200];
    const char *what = dir ? "--vocab" : "the vocabulary beside --model";
    int k, j;
    struct stat st;
    if (vocab_source(&dir, model_path, mdir, sizeof mdir) != 1) return;
    if (stat(dir, &st) != 0) return;   /* the loader says "cannot open vocab.bpe or merges.txt" */
    if (!S_ISDIR(st.st_mode)) { paths_add(ps, "--vocab DIR", dir, 3, -1); return; }
    for (k = 0; k < 2; k++)
        for (j = 0; j < 2; j++)
            if (dir_file(path, sizeof path, dir, names[k][j]) && file_exists(path)) { paths_add(ps, what, path, 0, -1); break; }
}

static const char *kind_of(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a plain file";
}

/* Checks the directory that will hold an output: it exists, is a directory and is writable. */
static int check_out_dir(const cli_paths *ps, const cli_path *p, const char *dir, struct stat *st) {
    if (stat(dir, st) != 0) {
        fprintf(stderr, "factedit %s: %s '%s': cannot write in directory '%s': %s\n", ps->cmd, p->what, p->path, dir, strerror(errno));
        return EXIT_USAGE;
    }
    if (!S_ISDIR(st->st_mode)) {
        fprintf(stderr, "factedit %s: %s '%s': cannot write in '%s': %s\n", ps->cmd, p->what, p->path, dir, strerror(ENOTDIR));
        return EXIT_USAGE;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "factedit %s: %s '%s': cannot write in directory '%s': %s\n", ps->cmd, p->what, p->path, dir, strerror(errno));
        return EXIT_USAGE;
    }
    return 0;
}

static const char *last_part(const char *path) { const char *s = strrchr(path, '/'); return s ? s + 1 : path; }

static int same_entry(const cli_path *a, const cli_path *b) {
    if (a->exists != b->exists) return 0;
    if (a->dev != b->dev || a->ino != b->ino) return 0;
    return a->exists || !strcmp(last_part(a->path), last_part(b->path));
}

static int paths_check(cli_paths *ps);
int cli_paths_check(cli_paths *ps) {
    int rc = paths_check(ps);
    paths_free(ps);
    return rc;
}

static int paths_check(cli_paths *ps) {
    int i, j;
    const char *cmd = ps->cmd;
    if (ps->failed) { fprintf(stderr, "factedit %s: out of memory or a path too long\n", cmd); return EXIT_FAIL; }
    for (i = 0; i < ps->n; i++) {
        cli_path *p = &ps->p[i];
        struct stat st;
        if (p->kind == 3) {
            fprintf(stderr, "factedit %s: %s '%s': %s\n", cmd, p->what, p->path, strerror(ENOTDIR));
            return EXIT_USAGE;
        }
        if (p->kind == 0) {   /* an input: opened without blocking, then checked */
            int fd = open(p->path, O_RDONLY | O_NONBLOCK);
            if (fd < 0) { fprintf(stderr, "factedit %s: %s: cannot open '%s': %s\n", cmd, p->what, p->path, strerror(errno)); return EXIT_FAIL; }
            if (fstat(fd, &st) != 0) {
                fprintf(stderr, "factedit %s: %s: cannot open '%s': %s\n", cmd, p->what, p->path, strerror(errno));
                close(fd);
                return EXIT_FAIL;
            }
            close(fd);
            if (!S_ISREG(st.st_mode)) {
                fprintf(stderr, "factedit %s: %s '%s' is not a regular file (it is %s)\n", cmd, p->what, p->path, kind_of(st.st_mode));
                return EXIT_USAGE;
            }
            p->exists = 1; p->dev = (unsigned long long)st.st_dev; p->ino = (unsigned long long)st.st_ino;
            continue;
        }
        if (p->kind == 2) {   /* an output directory: there and writable, or its parent is */
            char parent[4096];
            int e = stat(p->path, &st) == 0 ? 0 : errno;
            if (!e) {
                if (!S_ISDIR(st.st_mode)) { fprintf(stderr, "factedit %s: %s '%s' exists and is not a directory\n", cmd, p->what, p->path); return EXIT_USAGE; }
                if (access(p->path, W_OK | X_OK) != 0) {
                    fprintf(stderr, "factedit %s: %s '%s': cannot write in it: %s\n", cmd, p->what, p->path, strerror(errno));
                    return EXIT_USAGE;
                }
                p->exists = 1;
            } else {
                int rc;
                if (!dir_of(p->path, parent, sizeof parent)) { fprintf(stderr, "factedit %s: %s: path too long\n", cmd, p->what); return EXIT_USAGE; }
                if (e != ENOENT) {
                    fprintf(stderr, "factedit %s: %s '%s': cannot create the directory: %s\n", cmd, p->what, p->path, strerror(e));
                    return EXIT_USAGE;
                }
                if ((rc = check_out_dir(ps, p, parent, &st)) != 0) return rc;
            }
            continue;
        }
        /* an output file */
        if (p->dir_index >= 0 && !ps->p[p->dir_index].exists) continue;   /* in a directory still to be made */
        if (!*last_part(p->path) || !strcmp(last_part(p->path), ".") || !strcmp(last_part(p->path), "..")) {
            fprintf(stderr, "factedit %s: %s '%s' names a directory, not a file\n", cmd, p->what, p->path);
            return EXIT_USAGE;
        }
        if (stat(p->path, &st) == 0) {
            if (!S_ISREG(st.st_mode)) {
                fprintf(stderr, "factedit %s: %s '%s' exists and is not a regular file (it is %s)\n", cmd, p->what, p->path, kind_of(st.st_mode));
                return EXIT_USAGE;
            }
            p->exists = 1; p->dev = (unsigned long long)st.st_dev; p->ino = (unsigned long long)st.st_ino;
        }
        {
            char dir[4096];
            struct stat ds;
            int rc;
            if (!dir_of(p->path, dir, sizeof dir)) { fprintf(stderr, "factedit %s: %s: path too long\n", cmd, p->what); return EXIT_USAGE; }
            if ((rc = check_out_dir(ps, p, dir, &ds)) != 0) return rc;
            if (!p->exists) { p->dev = (unsigned long long)ds.st_dev; p->ino = (unsigned long long)ds.st_ino; }
        }
    }
    /* no output is an input or another output */
    for (i = 0; i < ps->n; i++) {
        const cli_path *o = &ps->p[i];
        if (o->kind != 1 || (o->dir_index >= 0 && !ps->p[o->dir_index].exists)) continue;
        for (j = 0; j < ps->n; j++) {
            const cli_path *q = &ps->p[j];
            if (j == i || q->kind == 2 || (q->kind == 1 && (j > i || (q->dir_index >= 0 && !ps->p[q->dir_index].exists)))) continue;
            if (!same_entry(o, q)) continue;
            if (q->kind == 0)
                fprintf(stderr, "factedit %s: %s '%s' is the same file as %s '%s': refusing to overwrite an input\n", cmd, o->what, o->path, q->what, q->path);
            else fprintf(stderr, "factedit %s: %s '%s' and %s '%s' are the same file: one would overwrite the other\n", cmd, q->what, q->path, o->what, o->path);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* ================================================================== JSON, read and shown == */

const char *cli_json_str(const fe_json_value *o, const char *key) {
    const fe_json_value *x = fe_json_get(o, key);
    return x && x->type == fe_json_string ? x->str : NULL;
}

int cli_json_num(const fe_json_value *o, const char *key, double *x) {
    const fe_json_value *f = fe_json_get(o, key);
    if (!f || f->type != fe_json_number) return 1;
    *x = f->number;
    return 0;
}

/* Equal JSON scalars / objects / arrays (member order included). */
int cli_json_same(const fe_json_value *a, const fe_json_value *b) {
    size_t i;
    if (!a || !b) return a == b;
    if (a->type != b->type) return 0;
    switch (a->type) {
    case fe_json_null: return 1;
    case fe_json_bool: return a->boolean == b->boolean;
    case fe_json_number: return a->number == b->number;
    case fe_json_string: return a->len == b->len && !memcmp(a->str, b->str, a->len);
    case fe_json_array: case fe_json_object:
        if (a->count != b->count) return 0;
        for (i = 0; i < a->count; i++) {
            const fe_json_value *x = fe_json_at(a, i), *y = fe_json_at(b, i);
            if (a->type == fe_json_object && (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len))) return 0;
            if (!cli_json_same(x, y)) return 0;
        }
        return 1;
    }
    return 0;
}

int cli_json_int(const fe_json_value *v, int *out) {
    if (!v || v->type != fe_json_number || v->number != floor(v->number) || v->number < INT_MIN || v->number > INT_MAX) return 0;
    *out = (int)v->number;
    return 1;
}
int cli_json_num_or_null(const fe_json_value *v, double *out) {
    if (!v) return 0;
    if (v->type == fe_json_null) { *out = NAN; return 1; }
    if (v->type != fe_json_number) return 0;
    *out = v->number;
    return 1;
}

/* A token or text for the terminal: "..." with C escapes for control bytes and invalid UTF-8. */
void print_quoted(FILE *f, const char *s, size_t n) {
    size_t i = 0;
    fputc('"', f);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!l) { fprintf(f, "\\x%02x", c); i++; continue; }
        if (l > 1) { fwrite(s + i, 1, (size_t)l, f); i += (size_t)l; continue; }
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7F) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
        i++;
    }
    fputc('"', f);
}
