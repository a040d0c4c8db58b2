/* factedit trace: causal tracing (ROME, Meng et al. 2022, section 2) from the command line.

   One prompt:
       factedit trace --model M --prompt TEXT --subject TEXT [--kind K] [--samples N] [--window W]
                      [--noise 3s|VALUE] [--seed S] [--answer TEXT] [--svg FILE] [--json|--csv] [--plain]
     prints the [tokens x layers] grid of each kind as a heatmap (ANSI 256-colour backgrounds on a
     terminal, text shades otherwise), or JSON / CSV; --svg writes the paper's Figure 1.
   A dataset of facts (ROME's known_1000.json format):
       factedit trace --model M --dataset known.json --out DIR [--limit N] [--shard i/n] ...
     traces every fact the model predicts correctly and writes DIR/facts.jsonl (one record per fact),
     DIR/summary.json (average indirect effects in ROME's six token buckets x layers with 95%
     intervals, and the severed traces of Figure 3) and SVG plots. --shard i/n takes facts i, i+n, ...
     and writes DIR/facts-i-of-n.jsonl + DIR/summary-i-of-n.json;
       factedit trace --merge DIR... --out DIR
     combines shard files into exactly what one unsharded run writes.
   This file: the command, its options and one prompt; tools/trace_dataset.c the dataset run and
   its averages, tools/trace_merge.c the merge.
   File formats and every choice are documented in tools/README-cli.md. */
#define _POSIX_C_SOURCE 200809L
#include "factedit.h"
#include "cli.h"
#include "svg.h"
#include "cmd_trace.h"
#include "trace_shared.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const trace_kind_names[3] = {"hidden", "mlp", "attn"};
const char *const trace_sever_names[3] = {"none", "mlp", "attn"};
const char *const trace_bucket_names[TRACE_BUCKETS] = {
    "first subject token", "middle subject tokens", "last subject token",
    "first subsequent token", "further tokens", "last token"};

uint64_t trace_dataset_id(const void *bytes, size_t n) { return fe_fnv1a64(FACTEDIT_FNV1A64_INIT, bytes, n); }

/* ================================================================== option values ======= */

int trace_parse_noise(const char *s, int *relative, double *value) {
    char buf[64];
    size_t n = strlen(s);
    double v;
    int rel = 0;
    if (n == 0 || n >= sizeof buf) return 1;
    memcpy(buf, s, n + 1);
    if (buf[n - 1] == 's') {
        if (n == 1) return 1;
        buf[n - 1] = 0;
        rel = 1;
    }
    if (parse_double(buf, &v) != 0 || !(v > 0)) return 1;
    *relative = rel;
    *value = v;
    return 0;
}


int trace_parse_kinds(const char *s, unsigned *mask) {
    unsigned m = 0;
    const char *p = s;
    if (!*s) return 1;
    for (;;) {
        size_t len = strcspn(p, ",");
        int k, found = 0;
        if (len == 3 && !strncmp(p, "all", 3)) { m |= FACTEDIT_TRACE_ALL; found = 1; }
        for (k = 0; k < 3 && !found; k++)
            if (len == strlen(trace_kind_names[k]) && !strncmp(p, trace_kind_names[k], len)) { m |= 1u << k; found = 1; }
        if (!found) return 1;
        p += len;
        if (!*p) break;
        p++;
    }
    *mask = m;
    return 0;
}

/* ================================================================== token text ========== */

/* A token for the terminal: printable, escapes for control bytes and broken UTF-8, at most
   max_chars characters ("..." marks a cut). *chars = its width in characters. */
static void token_display(const fe_vocab *v, int id, char *out, size_t cap, size_t max_chars, size_t *chars) {
    size_t n = 0, i = 0, len = 0, w = 0;
    const char *s = fe_token_bytes(v, id, &len);
    char tmp[16];
    if (!s) { snprintf(out, cap, "<%d>", id); *chars = strlen(out); return; }
    out[0] = 0;
    while (i < len) {
        int l = utf8_seq_len((const unsigned char *)s + i, len - i);
        unsigned char c = (unsigned char)s[i];
        size_t add, addw = 1;
        const char *src = s + i;
        if (l > 1) add = (size_t)l;
        else if (l == 1 && c >= 0x20 && c != 0x7F) add = 1;
        else {
            if (c == '\n') snprintf(tmp, sizeof tmp, "\\n");
            else if (c == '\t') snprintf(tmp, sizeof tmp, "\\t");
            else snprintf(tmp, sizeof tmp, "\\x%02x", c);
            src = tmp; add = strlen(tmp); addw = add; l = 1;
        }
        if (w + addw > max_chars || n + add + 4 > cap) {
            if (n + 4 <= cap) { memcpy(out + n, "...", 3); n += 3; w += 3; }
            break;
        }
        memcpy(out + n, src, add);
        n += add; w += addw;
        i += (size_t)l;
    }
    out[n] = 0;
    *chars = w;
}

static void put_spaces(int n) { while (n-- > 0) putchar(' '); }

/* ================================================================== one prompt ========== */

typedef struct prompt_run {
    const fe_model *m;
    const fe_vocab *v;
    const char *prompt, *subject;
    int *ids, T;
    size_t sb, se;
    unsigned kinds;
    int samples, window;
    uint64_t seed;
    const char *noise_text;
    int relative;
    double noise_arg, emb_std;
    float noise;
    fe_trace_result res;
} prompt_run;

static double grid_max(const prompt_run *r, int k) {
    size_t i, n = (size_t)r->res.T * (size_t)r->res.L;
    double mx = (float)r->res.low;   /* scores are floats: cells equal to low shade as low */
    for (i = 0; i < n; i++) if (r->res.scores[k][i] > mx) mx = r->res.scores[k][i];
    return mx;
}

static const int ansi_ramp[3][10] = {
    {231, 189, 183, 147, 141, 135, 98, 92, 55, 54},     /* purples */
    {231, 194, 157, 120, 84, 77, 71, 34, 28, 22},       /* greens */
    {231, 224, 217, 210, 203, 196, 160, 124, 88, 52},   /* reds */
};
static const char shades[] = " .:-=+*#%@";

static int shade_of(double v, double lo, double hi) {
    int i;
    if (!(hi > lo)) return 0;
    i = (int)floor((v - lo) / (hi - lo) * 10.0);
    return i < 0 ? 0 : i > 9 ? 9 : i;
}

static const char *const kind_titles[3] = {
    "hidden: restoring one layer's output (hidden state) at one token",
    "mlp: restoring the MLP outputs of a window of layers centred at each layer",
    "attn: restoring the attention outputs of a window of layers centred at each layer"};

static void print_grid(const prompt_run *r, int k, int colour, char **labels, const size_t *widths, size_t lw) {
    int T = r->res.T, L = r->res.L, t, l, pt = 0, pl = 0;
    double lo = (float)r->res.low, hi = grid_max(r, k), best = -1;
    size_t prefix = 4 + lw + 1;
    char answer[96];
    size_t aw;
    printf("\n%s", kind_titles[k]);
    if (k != fe_trace_hidden) printf(" (window %d)", r->window);
    printf("\n");
    put_spaces((int)prefix);
    for (l = 0; l < L; l++) {
        if (l % 5 == 0) {
            int n = printf("%d", l);
            put_spaces(2 * (l + 5 <= L ? 5 : L - l) - n);
            l += 4;
        }
    }
    printf("   layer\n");
    for (t = 0; t < T; t++) {
        int in = (size_t)t >= r->sb && (size_t)t < r->se;
        printf("  %s ", in ? "*" : " ");
        put_spaces((int)(lw - widths[t]));
        printf("%s ", labels[t]);
        for (l = 0; l < L; l++) {
            double v = r->res.scores[k][(size_t)t * L + l];
            int s = shade_of(v, lo, hi);
            if (v > best) { best = v; pt = t; pl = l; }
            if (colour) printf("\x1b[48;5;%dm  ", ansi_ramp[k][s]);
            else printf("%c%c", shades[s], shades[s]);
        }
        if (colour) printf("\x1b[0m");
        printf("\n");
    }
    token_display(r->v, r->res.answer, answer, sizeof answer, 40, &aw);
    printf("  p('%s'): low %.4g ", answer, lo);
    if (colour) {
        int s;
        for (s = 0; s < 10; s++) printf("\x1b[48;5;%dm ", ansi_ramp[k][s]);
        printf("\x1b[0m");
    } else printf("\"%s\"", shades);
    printf(" %.4g max, at token %d '%s'%s, layer %d\n", hi, pt, labels[pt], (size_t)pt >= r->sb && (size_t)pt < r->se ? " (subject)" : "", pl);
}

static void json_grid(sbuf *b, const float *g, int T, int L) {
    int t, l;
    sb_puts(b, "[");
    for (t = 0; t < T; t++) {
        sb_puts(b, t ? ",\n  [" : "\n  [");
        for (l = 0; l < L; l++) { if (l) sb_puts(b, ","); sb_json_num(b, g[(size_t)t * L + l], 9); }
        sb_puts(b, "]");
    }
    sb_puts(b, "]");
}

static void prompt_json(sbuf *b, const prompt_run *r) {
    int t, k;
    size_t len;
    const char *s;
    sb_puts(b, "{\"prompt\": ");
    sb_json_str(b, r->prompt, strlen(r->prompt), SB_FFFD_RAW);
    sb_puts(b, ", \"subject\": ");
    sb_json_str(b, r->subject, strlen(r->subject), SB_FFFD_RAW);
    sb_puts(b, ",\n \"tokens\": [");
    for (t = 0; t < r->T; t++) sb_printf(b, "%s%d", t ? ", " : "", r->ids[t]);
    sb_puts(b, "],\n \"token_strings\": [");
    for (t = 0; t < r->T; t++) {
        s = fe_token_bytes(r->v, r->ids[t], &len);
        if (t) sb_puts(b, ", ");
        sb_json_str(b, s ? s : "", s ? len : 0, SB_FFFD_RAW);
    }
    sb_printf(b, "],\n \"subject_range\": [%zu, %zu], \"answer\": %d, \"answer_string\": ", r->sb, r->se, r->res.answer);
    s = fe_token_bytes(r->v, r->res.answer, &len);
    sb_json_str(b, s ? s : "", s ? len : 0, SB_FFFD_RAW);
    sb_puts(b, ",\n \"high\": ");
    sb_json_num(b, r->res.high, 17);
    sb_puts(b, ", \"low\": ");
    sb_json_num(b, r->res.low, 17);
    sb_puts(b, ", \"noise\": ");
    sb_json_num(b, r->noise, 9);
    sb_puts(b, ", \"noise_spec\": ");
    sb_json_str(b, r->noise_text, strlen(r->noise_text), SB_FFFD_RAW);
    sb_puts(b, ", \"embedding_std\": ");
    sb_json_num(b, r->relative ? r->emb_std : NAN, 17);
    sb_printf(b, ",\n \"samples\": %d, \"window\": %d, \"seed\": \"%llu\", \"layers\": %d,\n \"scores\": {", r->samples, r->window,
              (unsigned long long)r->seed, r->res.L);
    for (k = 0, t = 0; k < 3; k++) {
        if (!r->res.scores[k]) continue;
        sb_printf(b, "%s\n \"%s\": ", t++ ? "," : "", trace_kind_names[k]);
        json_grid(b, r->res.scores[k], r->res.T, r->res.L);
    }
    sb_puts(b, "}}\n");
}

static void prompt_csv(sbuf *b, const prompt_run *r) {
    int k, t, l, L = r->res.L;
    sb_puts(b, "kind,position,token_id,token,subject,layer,score,effect,low,high\n");
    for (k = 0; k < 3; k++) {
        if (!r->res.scores[k]) continue;
        for (t = 0; t < r->T; t++) {
            size_t len;
            const char *s = fe_token_bytes(r->v, r->ids[t], &len);
            for (l = 0; l < L; l++) {
                double v = r->res.scores[k][(size_t)t * L + l];
                sb_printf(b, "%s,%d,%d,", trace_kind_names[k], t, r->ids[t]);
                sb_csv_str(b, s ? s : "", s ? len : 0);
                sb_printf(b, ",%d,%d,%.9g,%.9g,%.9g,%.9g\n", (size_t)t >= r->sb && (size_t)t < r->se, l, v, v - r->res.low, r->res.low, r->res.high);
            }
        }
    }
}

static void prompt_svg_labels(int k, int window, char *xlabel, size_t cap) {
    if (k == fe_trace_hidden) snprintf(xlabel, cap, "single restored layer within GPT");
    else snprintf(xlabel, cap, "center of interval of %d restored %s layers", window, k == fe_trace_mlp ? "MLP" : "Attn");
}

/* The paper's Figure 1: one heatmap per kind, tokens x layers, subject tokens marked '*'. */
static void prompt_svg(sbuf *b, const prompt_run *r) {
    static const char *const titles[3] = {"Impact of restoring state after corrupted input", "Impact of restoring MLP after corrupted input",
                                          "Impact of restoring Attn after corrupted input"};
    int T = r->res.T, L = r->res.L, k, t;
    char **labels = (char **)calloc((size_t)T, sizeof(char *));
    size_t *lens = (size_t *)calloc((size_t)T, sizeof(size_t));
    double *vals = (double *)malloc(sizeof(double) * (size_t)T * (size_t)L), lw = 40, cw, ch = 16, x = 10, width, height;
    char xlabel[128], cbar[160];
    size_t alen;
    const char *ans = fe_token_bytes(r->v, r->res.answer, &alen);
    if (!labels || !lens || !vals) { b->failed = 1; goto done; }
    for (t = 0; t < T; t++) {
        size_t len;
        const char *s = fe_token_bytes(r->v, r->ids[t], &len);
        int in = (size_t)t >= r->sb && (size_t)t < r->se;
        if (!s) { s = "?"; len = 1; }
        if (len > 60) len = 60;
        if (!(labels[t] = (char *)malloc(len + 2))) { b->failed = 1; goto done; }
        memcpy(labels[t], s, len);
        if (in) labels[t][len++] = '*';
        labels[t][len] = 0;
        lens[t] = len;
        if (svg_text_width(labels[t], len, 10) + 10 > lw) lw = svg_text_width(labels[t], len, 10) + 10;
    }
    cw = L > 0 ? 320.0 / L : 10;
    if (cw > 24) cw = 24;
    if (cw < 6) cw = 6;
    /* the colour bar's label p(answer), the answer stripped of leading spaces like ROME's */
    while (ans && alen && (ans[0] == ' ')) { ans++; alen--; }
    snprintf(cbar, sizeof cbar, "p(%.*s)", (int)(alen > 60 ? 60 : alen), ans ? ans : "?");
    width = 20;
    for (k = 0; k < 3; k++) {
        if (!r->res.scores[k]) continue;
        prompt_svg_labels(k, r->window, xlabel, sizeof xlabel);
        width += svg_heat_panel_width(titles[k], xlabel, cbar, lw, L, cw) + 20;
    }
    height = 26 + T * ch + 50 + 10;
    svg_begin(b, width, height);
    for (k = 0; k < 3; k++) {
        size_t n = (size_t)T * (size_t)L, i;
        double hi;
        if (!r->res.scores[k]) continue;
        for (i = 0; i < n; i++) vals[i] = r->res.scores[k][i];
        hi = grid_max(r, k);
        prompt_svg_labels(k, r->window, xlabel, sizeof xlabel);
        x += svg_heat_panel(b, x, 6, titles[k], xlabel, (const char *const *)labels, lens, T, L, vals, (float)r->res.low, hi,
                            (svg_cmap)k, cbar, lw, cw, ch) + 20;
    }
    svg_end(b);
done:
    for (t = 0; labels && t < T; t++) free(labels[t]);
    free(labels);
    free(lens);
    free(vals);
}

static int run_prompt(prompt_run *r, const char *model_path, const char *vocab_dir, const char *answer_text, const char *svg_path,
                      int json, int csv, int plain) {
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_error e;
    fe_trace_opts o;
    int rc = 0, colour = 0, t, k;
    size_t n = 0;
    char **labels = NULL;
    size_t *widths = NULL, lw = 1;
    if ((rc = load_model("trace", model_path, 0, &m)) != 0) return rc;
    if ((rc = load_vocab("trace", vocab_dir, model_path, &v)) != 0) goto done;
    r->m = m; r->v = v;
    if (fe_encode(v, r->prompt, strlen(r->prompt), &r->ids, &n, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }
    if (n == 0) { rc = fail("trace", "empty prompt: --prompt must hold at least one token"); goto done; }
    if (n > (size_t)m->config.max_seq_len) {
        fprintf(stderr, "factedit trace: the prompt is %zu tokens, longer than the model's context of %d tokens\n", n, m->config.max_seq_len);
        rc = EXIT_FAIL;
        goto done;
    }
    r->T = (int)n;
    for (t = 0; t < r->T; t++)
        if (r->ids[t] >= m->config.vocab_size) {
            fprintf(stderr, "factedit trace: prompt token %d (id %d) is outside the model's vocabulary of %d tokens (the vocabulary does not belong to this model? see --vocab)\n",
                    t, r->ids[t], m->config.vocab_size);
            rc = EXIT_FAIL;
            goto done;
        }
    if (fe_subject_span(v, r->prompt, r->subject, &r->sb, &r->se, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }
    o = fe_trace_opts_default();
    o.samples = r->samples; o.window = r->window; o.seed = r->seed;
    if (answer_text) {
        int *aids = NULL;
        size_t na = 0;
        if (fe_encode(v, answer_text, strlen(answer_text), &aids, &na, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }
        if (na == 0) { fe_ids_free(v, aids); rc = fail("trace", "--answer is empty"); goto done; }
        o.answer = aids[0];
        fe_ids_free(v, aids);
        if (o.answer >= m->config.vocab_size) {
            fprintf(stderr, "factedit trace: --answer's first token (id %d) is outside the model's vocabulary of %d tokens\n", o.answer, m->config.vocab_size);
            rc = EXIT_FAIL;
            goto done;
        }
        if (answer_text[0] != ' ' && r->prompt[0] && r->prompt[strlen(r->prompt) - 1] != ' ')
            fprintf(stderr, "factedit trace: note: --answer '%s' has no leading space; after a word GPT-2 usually predicts ' %s'\n", answer_text, answer_text);
    }
    if (r->relative) {
        if (fe_embedding_std(m, r->ids + r->sb, r->se - r->sb, &r->emb_std, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }
        r->noise = (float)(r->noise_arg * r->emb_std);
    } else r->noise = (float)r->noise_arg;
    o.noise = r->noise;
    if (!(o.noise > 0) || !isfinite(o.noise)) { rc = fail("trace", "the noise level is 0 (the subject's embeddings are all equal?): give --noise VALUE"); goto done; }
    if (fe_trace(m, r->ids, r->T, r->sb, r->se, r->kinds, &o, &r->res, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }

    if (svg_path) {
        sbuf b;
        sb_init(&b);
        prompt_svg(&b, r);
        if (sb_write_file(&b, svg_path, &e) != fe_ok) { sb_free(&b); rc = fail("trace", e.msg); goto done; }
        sb_free(&b);
    }
    if (json || csv) {
        sbuf b;
        sb_init(&b);
        if (json) prompt_json(&b, r); else prompt_csv(&b, r);
        if (b.failed) { sb_free(&b); rc = fail("trace", "out of memory"); goto done; }
        fwrite(b.p, 1, b.len, stdout);
        sb_free(&b);
    } else {
        char answer[96];
        size_t aw;
        const char *term = getenv("TERM");
        colour = !plain && isatty(fileno(stdout)) && !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb"));
        labels = (char **)calloc((size_t)r->T, sizeof(char *));
        widths = (size_t *)calloc((size_t)r->T, sizeof(size_t));
        if (!labels || !widths) { rc = fail("trace", "out of memory"); goto done; }
        for (t = 0; t < r->T; t++) {
            if (!(labels[t] = (char *)malloc(96))) { rc = fail("trace", "out of memory"); goto done; }
            token_display(v, r->ids[t], labels[t], 96, 20, &widths[t]);
            if (widths[t] > lw) lw = widths[t];
        }
        token_display(v, r->res.answer, answer, sizeof answer, 40, &aw);
        printf("prompt:  \"%s\" (%d tokens)\n", r->prompt, r->T);
        printf("subject: \"%s\" = tokens %zu..%zu (marked *)\n", r->subject, r->sb, r->se - 1);
        printf("answer:  '%s' (id %d%s): p = %.4g clean (high), %.4g corrupted (low)\n", answer, r->res.answer,
               answer_text ? ", from --answer" : ", the clean prediction", r->res.high, r->res.low);
        if (r->relative)
            printf("noise:   %.4g = %g x %.4g (std of the subject's token embeddings); %d samples, seed %llu\n", (double)r->noise, r->noise_arg,
                   r->emb_std, r->samples, (unsigned long long)r->seed);
        else printf("noise:   %.4g (absolute); %d samples, seed %llu\n", (double)r->noise, r->samples, (unsigned long long)r->seed);
        for (k = 0; k < 3; k++) if (r->res.scores[k]) print_grid(r, k, colour, labels, widths, lw);
    }
    rc = finish_stdout("trace");
done:
    for (t = 0; labels && t < r->T; t++) free(labels[t]);
    free(labels);
    free(widths);
    fe_trace_result_free(&r->res);
    if (r->ids) fe_ids_free(v, r->ids);
    r->ids = NULL;
    fe_vocab_free(v);
    fe_model_free(m);
    return rc;
}

/* ================================================================== the command ========= */

int fe_cmd_trace(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *prompt = NULL, *subject = NULL, *kind = "all", *noise = "3s", *answer = NULL,
               *svg = NULL, *dataset = NULL, *out = NULL, *shard = NULL;
    int samples = 10, window = 10, json = 0, csv = 0, plain = 0, limit = 0, merge = 0, quiet = 0, rc, relative = 0, si = 0, sn = 1;
    uint64_t seed = 0;
    unsigned kinds = 0;
    double noise_arg = 0;
    const char **pos;
    cli_paths ps;
    static const char *const pos_names[] = {"DIR"};
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the model built into the tool, if any)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary directory (default: the model's directory if it has one, else GPT-2's)", 0},
        {"--prompt", NULL, ARG_STR, &prompt, 0, 0, "TEXT", "the prompt to trace", 0},
        {"--subject", NULL, ARG_STR, &subject, 0, 0, "TEXT", "the subject: its first occurrence in the prompt is corrupted", 0},
        {"--kind", NULL, ARG_STR, &kind, 0, 0, "K", "hidden, mlp, attn or all, or a comma list (default all)", 0},
        {"--samples", NULL, ARG_INT, &samples, 1, 100000, "N", "corrupted runs averaged per score (default 10)", 0},
        {"--window", NULL, ARG_INT, &window, 1, 100000, "W", "layers restored together for mlp / attn (default 10)", 0},
        {"--noise", NULL, ARG_STR, &noise, 0, 0, "3s|VALUE", "noise std: Ks = K x the std of the subject's token embeddings\n"
         "                           (all the subjects' with --dataset; default 3s), or an absolute value", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "seed of the noise (default 0)", 0},
        {"--answer", NULL, ARG_STR, &answer, 0, 0, "TEXT", "score TEXT's first token instead of the clean prediction (mind the leading space)", 0},
        {"--svg", NULL, ARG_STR, &svg, 0, 0, "FILE", "also write the heatmaps as an SVG figure", 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0, "", "print the result as JSON", 0},
        {"--csv", NULL, ARG_FLAG, &csv, 0, 0, "", "print the result as CSV (one row per kind, token and layer)", 0},
        {"--plain", NULL, ARG_FLAG, &plain, 0, 0, "", "text shades instead of colours, even on a terminal", 0},
        {"--dataset", NULL, ARG_STR, &dataset, 0, 0, "FILE", "trace every fact of FILE (ROME's known_1000.json format)", 0},
        {"--out", NULL, ARG_STR, &out, 0, 0, "DIR", "output directory of --dataset / --merge (created if missing)", 0},
        {"--limit", NULL, ARG_INT, &limit, 1, INT_MAX, "N", "only the first N facts of the dataset", 0},
        {"--shard", NULL, ARG_STR, &shard, 0, 0, "i/n", "only facts i, i+n, i+2n, ... (0 <= i < n); merge the parts with --merge", 0},
        {"--merge", NULL, ARG_FLAG, &merge, 0, 0, "", "combine the shard files of the DIRs (or files) given as arguments into --out", 0},
        {"--quiet", NULL, ARG_FLAG, &quiet, 0, 0, "", "no progress on stderr", 0},
    };
    /* which options each mode takes */
    static const char *const prompt_ok[] = {"--model", "--vocab", "--prompt", "--subject", "--kind", "--samples", "--window", "--noise", "--seed",
                                            "--answer", "--svg", "--json", "--csv", "--plain", NULL};
    static const char *const dataset_ok[] = {"--model", "--vocab", "--kind", "--samples", "--window", "--noise", "--seed", "--dataset", "--out",
                                             "--limit", "--shard", "--quiet", NULL};
    static const char *const merge_ok[] = {"--merge", "--out", "--quiet", NULL};
    const char *const *ok;
    const char *mode, *other;
    cli_spec s;
    if (!(pos = (const char **)malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1)))) return fail("trace", "out of memory");
    cli_spec_init(&s, CLI_OPTS(opts), "trace", "[--model FILE] --prompt TEXT --subject TEXT [options]\n"
                  "       factedit trace [--model FILE] --dataset FILE --out DIR [--limit N] [--shard i/n] [options]\n"
                  "       factedit trace --merge DIR... --out DIR",
                  "Causal tracing (Meng et al. 2022, \"Locating and Editing Factual Associations in GPT\"): corrupt the\n"
                  "subject's token embeddings with Gaussian noise, then restore one hidden state (kind hidden) or a\n"
                  "window of MLP / attention outputs (kinds mlp, attn) at each token and layer to their clean values\n"
                  "and measure how much of the answer's probability comes back. Scores are mean probabilities of\n"
                  "the answer over the corrupted samples; low = nothing restored, high = the clean run.\n"
                  "With --dataset, every fact the model predicts correctly is traced and the average indirect\n"
                  "effects (score - low) are summarised in ROME's six token buckets, with the severed traces of\n"
                  "the paper's Figure 3 (see tools/README-cli.md).");
    s.pos_names = pos_names; s.npos_min = 0; s.npos_max = argc; s.pos = pos;
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) { free(pos); return rc; }
    if (merge + (dataset != NULL) + (prompt != NULL) > 1) {
        free(pos);
        return cli_usage_error(&s, "give one of --prompt, --dataset and --merge");
    }
    if (merge) { ok = merge_ok; mode = "--merge"; }
    else if (dataset) { ok = dataset_ok; mode = "--dataset"; }
    else { ok = prompt_ok; mode = "--prompt"; }
    if ((other = cli_seen_outside(&s, ok)) != NULL) { free(pos); return cli_usage_error(&s, "%s does not go with %s", other, mode); }
    if (!merge && s.npos > 0) { rc = cli_usage_error(&s, "unexpected argument '%s'", s.pos[0]); free(pos); return rc; }
    if (trace_parse_kinds(kind, &kinds)) { free(pos); return cli_usage_error(&s, "--kind: '%s' is not hidden, mlp, attn, all or a comma list of them", kind); }
    if (trace_parse_noise(noise, &relative, &noise_arg)) {
        free(pos);
        return cli_usage_error(&s, "--noise: '%s' is neither a multiple of the embeddings' std like '3s' nor a positive number", noise);
    }
    if (shard && parse_shard(shard, &si, &sn)) { free(pos); return cli_usage_error(&s, "--shard: '%s' is not i/n with 0 <= i < n", shard); }
    if (merge) {
        if (s.npos == 0) { free(pos); return cli_usage_error(&s, "--merge needs the shard directories (or files) as arguments"); }
        if (!out) { free(pos); return cli_usage_error(&s, "--merge needs --out DIR"); }
        rc = trace_run_merge(s.pos, s.npos, out);
    } else if (dataset) {
        trace_dataset_args A;
        if (!out) { free(pos); return cli_usage_error(&s, "--dataset needs --out DIR"); }
        memset(&A, 0, sizeof A);
        A.model_path = model_path; A.vocab_dir = vocab_dir; A.dataset = dataset; A.out = out; A.kinds = kinds; A.samples = samples; A.window = window;
        A.limit = limit; A.shard_i = si; A.shard_n = sn; A.relative = relative; A.noise_arg = noise_arg; A.noise_text = noise; A.seed = seed;
        A.quiet = quiet;
        rc = trace_run_dataset(&A);
    } else {
        prompt_run r;
        if (!prompt) { free(pos); return cli_usage_error(&s, "no --prompt given (or --dataset, or --merge)"); }
        if (!subject) { free(pos); return cli_usage_error(&s, "no --subject given"); }
        if (!*subject) { free(pos); return cli_usage_error(&s, "--subject is empty"); }
        if (json && csv) { free(pos); return cli_usage_error(&s, "--json and --csv exclude each other"); }
        if (plain && (json || csv)) { free(pos); return cli_usage_error(&s, "--plain is for the heatmap, not --json / --csv"); }
        cli_paths_init(&ps, "trace");
        cli_in(&ps, "--model", model_path);
        cli_in_vocab(&ps, vocab_dir, model_path);
        cli_out(&ps, "--svg", svg);
        if ((rc = cli_paths_check(&ps)) != 0) { free(pos); return rc; }
        memset(&r, 0, sizeof r);
        r.prompt = prompt; r.subject = subject; r.kinds = kinds; r.samples = samples; r.window = window; r.seed = seed;
        r.noise_text = noise; r.relative = relative; r.noise_arg = noise_arg;
        rc = run_prompt(&r, model_path, vocab_dir, answer, svg, json, csv, plain);
    }
    free(pos);
    return rc;
}
