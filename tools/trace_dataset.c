/* factedit trace --dataset (tools/cmd_trace.c parses the options): every fact of a dataset traced,
   and the averages over the kept facts: ROME's six token buckets, running means and 95% intervals
   of the indirect effects (trace_agg), the severed traces, and the files: facts.jsonl,
   summary.json and the SVG figures (also written by --merge, tools/trace_merge.c). */
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

/* ================================================================== token buckets ======= */

unsigned trace_token_buckets(int T, int sb, int se, int t) {
    unsigned m = 0;
    if (t < sb || t >= T || sb >= se) return 0;
    if (t == sb) m |= 1u;
    if (t > sb && t < se - 1) m |= 2u;
    if (t == se - 1) m |= 4u;
    if (t == se) m |= 8u;
    if (t > se && t < T - 1) m |= 16u;
    if (t == T - 1) m |= 32u;
    return m;
}

/* ================================================================== aggregate =========== */

int trace_agg_init(trace_agg *a, int L) {
    size_t n = 3 * TRACE_BUCKETS * (size_t)L, ns = 3 * (size_t)L;
    memset(a, 0, sizeof *a);
    a->L = L;
    a->cell = (fe_running *)calloc(n + ns + 1, sizeof *a->cell);
    if (!a->cell) return 1;
    a->sever = a->cell + n;
    return 0;
}

void trace_agg_free(trace_agg *a) { free(a->cell); memset(a, 0, sizeof *a); }

void trace_agg_add(trace_agg *a, const trace_fact *f) {
    int k, t, l, b, L = a->L;
    a->kept++;
    a->sum_low += f->low;
    a->sum_high += f->high;
    for (k = 0; k < 3; k++) {
        if (!f->scores[k]) continue;
        for (t = 0; t < f->T; t++) {
            unsigned mask = trace_token_buckets(f->T, f->sb, f->se, t);
            for (b = 0; b < TRACE_BUCKETS; b++) {
                fe_running *cell = a->cell + ((size_t)k * TRACE_BUCKETS + (size_t)b) * (size_t)L;
                if (!(mask & (1u << b))) continue;
                for (l = 0; l < L; l++) fe_running_add(&cell[l], (double)f->scores[k][(size_t)t * L + l] - f->low);
            }
        }
    }
    for (k = 0; k < 3; k++) {
        fe_running *sever = a->sever + (size_t)k * (size_t)L;
        if (!f->sever[k]) continue;
        for (l = 0; l < L; l++) fe_running_add(&sever[l], (double)f->sever[k][l] - f->low);
    }
}

static trace_stat stat_of(const fe_running *r) {
    trace_stat s;
    s.n = (long)r->n;
    s.mean = r->n > 0 ? r->mean : NAN;
    s.sd = fe_sample_sd(r->n, r->m2);
    s.ci_lo = s.ci_hi = NAN;
    if (r->n >= 2) {
        double h = fe_ci95(r->n, s.sd);
        s.ci_lo = r->mean - h;
        s.ci_hi = r->mean + h;
    }
    return s;
}

trace_stat trace_agg_cell(const trace_agg *a, int kind, int bucket, int layer) {
    return stat_of(&a->cell[((size_t)kind * TRACE_BUCKETS + (size_t)bucket) * (size_t)a->L + (size_t)layer]);
}

trace_stat trace_agg_sever(const trace_agg *a, int sever, int layer) {
    return stat_of(&a->sever[(size_t)sever * (size_t)a->L + (size_t)layer]);
}

/* ================================================================== dataset ============= */


static void meta_json(sbuf *b, const trace_meta *mt) {
    int k, first = 1;
    sb_printf(b, "\"model_checksum\": \"%s\", \"layers\": %d, \"samples\": %d, \"window\": %d, \"kinds\": [", mt->model, mt->layers, mt->samples, mt->window);
    for (k = 0; k < 3; k++) if (mt->kinds & (1u << k)) { sb_printf(b, "%s\"%s\"", first ? "" : ", ", trace_kind_names[k]); first = 0; }
    sb_puts(b, "], \"noise\": ");
    sb_json_num(b, mt->noise, 9);
    sb_puts(b, ", \"noise_spec\": ");
    sb_json_str(b, mt->noise_spec, strlen(mt->noise_spec), SB_FFFD_RAW);
    sb_puts(b, ", \"embedding_std\": ");
    sb_json_num(b, mt->emb_std, 17);
    sb_printf(b, ", \"seed\": \"%s\", \"dataset_hash\": \"%s\", \"dataset_facts\": %ld, \"limit\": ", mt->seed, mt->dataset, mt->dataset_facts);
    if (mt->limit < 0) sb_puts(b, "null"); else sb_printf(b, "%ld", mt->limit);
    sb_printf(b, ", \"facts\": %ld", mt->considered);
}

static void header_line(sbuf *b, const trace_meta *mt, int si, int sn, long records, int complete) {
    sb_printf(b, "{\"format\": \"factedit-trace-facts %d\", ", mt->format);
    meta_json(b, mt);
    sb_printf(b, ", \"shard\": [%d, %d], \"records\": %ld, \"complete\": %s}\n", si, sn, records, complete ? "true" : "false");
}

long trace_shard_count(long considered, int i, int n) { return considered > i ? (considered - i + n - 1) / n : 0; }

static void stat_arrays(sbuf *b, const trace_stat *st, int L) {
    static const char *const names[4] = {"mean", "sd", "ci95_low", "ci95_high"};
    int f, l;
    for (f = 0; f < 4; f++) {
        sb_printf(b, "%s\"%s\": [", f ? ", " : "", names[f]);
        for (l = 0; l < L; l++) {
            double x = f == 0 ? st[l].mean : f == 1 ? st[l].sd : f == 2 ? st[l].ci_lo : st[l].ci_hi;
            if (l) sb_puts(b, ", ");
            sb_json_num(b, x, 9);
        }
        sb_puts(b, "]");
    }
}

static int summary_json(sbuf *b, const trace_meta *mt, const trace_counts *c, const trace_agg *a) {
    int k, bk, l, L = mt->layers, first = 1;
    trace_stat *st = (trace_stat *)malloc(sizeof(trace_stat) * (size_t)(L > 0 ? L : 1));
    if (!st) return 1;
    sb_printf(b, "{\"format\": \"factedit-trace-summary %d\",\n ", mt->format);
    meta_json(b, mt);
    sb_printf(b, ",\n \"processed\": %ld, \"kept\": %ld, \"wrong_prediction\": %ld, \"errors\": %ld,\n \"high\": ", c->processed, c->kept, c->wrong, c->errors);
    sb_json_num(b, a->kept ? a->sum_high / a->kept : NAN, 9);
    sb_puts(b, ", \"low\": ");
    sb_json_num(b, a->kept ? a->sum_low / a->kept : NAN, 9);
    sb_puts(b, ", \"total_effect\": ");
    sb_json_num(b, a->kept ? (a->sum_high - a->sum_low) / a->kept : NAN, 9);
    sb_puts(b, ",\n \"effect\": \"indirect effect = score - low of the same fact; mean, sample sd, 95% interval mean +- 1.96 sd / sqrt(n)\",\n \"buckets\": [");
    for (bk = 0; bk < TRACE_BUCKETS; bk++) sb_printf(b, "%s\"%s\"", bk ? ", " : "", trace_bucket_names[bk]);
    sb_puts(b, "],\n \"aie\": {");
    for (k = 0; k < 3; k++) {
        if (!(mt->kinds & (1u << k))) continue;
        sb_printf(b, "%s\n  \"%s\": [", first ? "" : ",", trace_kind_names[k]);
        first = 0;
        for (bk = 0; bk < TRACE_BUCKETS; bk++) {
            for (l = 0; l < L; l++) st[l] = trace_agg_cell(a, k, bk, l);
            sb_printf(b, "%s\n   {\"bucket\": \"%s\", \"n\": %ld, ", bk ? "," : "", trace_bucket_names[bk], L ? st[0].n : 0L);
            stat_arrays(b, st, L);
            sb_puts(b, "}");
        }
        sb_puts(b, "]");
    }
    sb_printf(b, "},\n \"sever\": {\"token\": \"last subject token\", \"n\": %ld", a->kept);
    for (k = 0; k < 3; k++) {
        for (l = 0; l < L; l++) st[l] = trace_agg_sever(a, k, l);
        sb_printf(b, ",\n  \"%s\": {", trace_sever_names[k]);
        stat_arrays(b, st, L);
        sb_puts(b, "}");
    }
    sb_puts(b, "}}\n");
    free(st);
    return 0;
}

/* Figure 2 as line plots (mean AIE per bucket vs layer with 95% bands), the bucket x layer heatmaps
   and Figure 3 (severed traces). */
static svg_rgb bucket_colour(int b) {
    /* matplotlib's tab10 in the order of ROME's notebook (color_order = [0, 1, 2, 4, 5, 3]) */
    static const unsigned c[TRACE_BUCKETS] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0x9467bd, 0x8c564b, 0xd62728};
    return svg_hex(c[b]);
}

static int fill_series(svg_series *s, double *store, int L, const trace_agg *a, int kind, int bucket, int sever) {
    int l;
    s->y = store; s->lo = store + L; s->hi = store + 2 * L;
    for (l = 0; l < L; l++) {
        trace_stat st = sever >= 0 ? trace_agg_sever(a, sever, l) : trace_agg_cell(a, kind, bucket, l);
        s->y[l] = st.mean; s->lo[l] = st.ci_lo; s->hi[l] = st.ci_hi;
    }
    return 0;
}

static int svg_lines(sbuf *b, const trace_meta *mt, const trace_agg *a) {
    int L = mt->layers, k, bk, np = 0, nt;
    svg_series s[3][TRACE_BUCKETS];
    double *store = (double *)malloc(sizeof(double) * 3 * TRACE_BUCKETS * 3 * (size_t)L + 1), ymin, ymax, ticks[32], x = 0;
    char title[128], labels[TRACE_BUCKETS][40];
    svg_series all[3 * TRACE_BUCKETS];
    int nall = 0;
    if (!store) return 1;
    for (k = 0; k < 3; k++) {
        if (!(mt->kinds & (1u << k))) continue;
        np++;
        for (bk = 0; bk < TRACE_BUCKETS; bk++) {
            fill_series(&s[k][bk], store + ((size_t)k * TRACE_BUCKETS + bk) * 3 * L, L, a, k, bk, -1);
            s[k][bk].label = trace_bucket_names[bk];
            s[k][bk].c = bucket_colour(bk);
            all[nall++] = s[k][bk];
        }
    }
    nt = svg_y_range(all, nall, L, &ymin, &ymax, ticks, 32);
    svg_begin(b, np * 420 + 20, 320);
    for (k = 0; k < 3; k++) {
        if (!(mt->kinds & (1u << k))) continue;
        if (k == fe_trace_hidden) snprintf(title, sizeof title, "Average indirect effect of a single hidden vector");
        else snprintf(title, sizeof title, "Average indirect effect of a run of %d %s", mt->window, k == fe_trace_mlp ? "MLP lookups" : "Attn modules");
        svg_line_panel(b, 10 + x, 4, 410, 270, title, "Layer number", "Average indirect effect on p(o)", s[k], TRACE_BUCKETS, L, ymin, ymax, ticks, nt);
        x += 420;
    }
    for (bk = 0; bk < TRACE_BUCKETS; bk++) {
        snprintf(labels[bk], sizeof labels[bk], "%s", trace_bucket_names[bk]);
        labels[bk][0] = (char)(labels[bk][0] - 'a' + 'A');
        all[bk].label = labels[bk]; all[bk].c = bucket_colour(bk);
    }
    svg_legend(b, 72, 306, all, TRACE_BUCKETS);
    svg_end(b);
    free(store);
    return 0;
}

static void heatmap_labels(int k, int window, long kept, char *title, size_t tcap, char *xlabel, size_t xcap) {
    static const char *const what[3] = {"h", "MLP", "Attn"};
    snprintf(title, tcap, "Avg Indirect Effect of %s over %ld prompts", what[k], kept);
    if (k == fe_trace_hidden) snprintf(xlabel, xcap, "single patched layer");
    else snprintf(xlabel, xcap, "center of interval of %d patched %s layers", window, k == fe_trace_mlp ? "mlp" : "attn");
}

static int svg_heatmaps(sbuf *b, const trace_meta *mt, const trace_agg *a) {
    int L = mt->layers, k, bk, l;
    double *vals = (double *)malloc(sizeof(double) * TRACE_BUCKETS * (size_t)L + 1), vmax = 0, lw, cw, x = 10, width;
    char labels[TRACE_BUCKETS][40], title[128], xlabel[128];
    const char *lp[TRACE_BUCKETS];
    size_t lens[TRACE_BUCKETS];
    if (!vals) return 1;
    for (bk = 0; bk < TRACE_BUCKETS; bk++) {
        snprintf(labels[bk], sizeof labels[bk], "%s", trace_bucket_names[bk]);
        labels[bk][0] = (char)(labels[bk][0] - 'a' + 'A');
        lp[bk] = labels[bk];
        lens[bk] = strlen(labels[bk]);
    }
    lw = svg_text_width("First subsequent token", 22, 10) + 10;
    cw = L > 0 ? 320.0 / L : 10;
    if (cw > 24) cw = 24;
    if (cw < 6) cw = 6;
    /* one scale for all panels: the hidden states' maximum (as ROME's rollups), else the largest */
    for (k = 0; k < 3; k++) {
        if (!(mt->kinds & (1u << k))) continue;
        for (bk = 0; bk < TRACE_BUCKETS; bk++)
            for (l = 0; l < L; l++) {
                double v = trace_agg_cell(a, k, bk, l).mean;
                if (isfinite(v) && v > vmax && (k == fe_trace_hidden || !(mt->kinds & FACTEDIT_TRACE_HIDDEN))) vmax = v;
            }
    }
    if (!(vmax > 0)) vmax = 1e-9;
    for (k = 0, width = 20; k < 3; k++) {
        if (!(mt->kinds & (1u << k))) continue;
        heatmap_labels(k, mt->window, a->kept, title, sizeof title, xlabel, sizeof xlabel);
        width += svg_heat_panel_width(title, xlabel, "AIE", lw, L, cw) + 20;
    }
    svg_begin(b, width, 26 + TRACE_BUCKETS * 16 + 50 + 14);
    for (k = 0; k < 3; k++) {
        if (!(mt->kinds & (1u << k))) continue;
        for (bk = 0; bk < TRACE_BUCKETS; bk++)
            for (l = 0; l < L; l++) {
                double v = trace_agg_cell(a, k, bk, l).mean;
                vals[(size_t)bk * L + l] = isfinite(v) ? (v > 0 ? v : 0.0) : NAN;
            }
        heatmap_labels(k, mt->window, a->kept, title, sizeof title, xlabel, sizeof xlabel);
        x += svg_heat_panel(b, x, 6, title, xlabel, lp, lens, TRACE_BUCKETS, L, vals, 0.0, vmax, (svg_cmap)k, "AIE", lw, cw, 16) + 20;
    }
    svg_end(b);
    free(vals);
    return 0;
}

static int svg_sever(sbuf *b, const trace_meta *mt, const trace_agg *a) {
    static const char *const labels[3] = {"Effect of single state on p(o)", "Effect with MLP severed", "Effect with Attn severed"};
    static const unsigned colours[3] = {0x7261ab, 0x20b020, 0xf3201b};
    int L = mt->layers, k, nt;
    svg_series s[3];
    double *store = (double *)malloc(sizeof(double) * 9 * (size_t)L + 1), ymin, ymax, ticks[32];
    char title[160];
    if (!store) return 1;
    for (k = 0; k < 3; k++) {
        fill_series(&s[k], store + (size_t)k * 3 * L, L, a, 0, 0, k);
        s[k].label = labels[k];
        s[k].c = svg_hex(colours[k]);
    }
    nt = svg_y_range(s, 3, L, &ymin, &ymax, ticks, 32);
    snprintf(title, sizeof title, "Hidden state at the last subject token, MLP or Attn severed (%ld prompts)", a->kept);
    svg_begin(b, 640, 350);
    svg_line_panel(b, 10, 4, 620, 300, title, "Layer at which the single hidden state is restored", "Average indirect effect on p(o)", s, 3, L, ymin, ymax,
                   ticks, nt);
    svg_legend(b, 72, 336, s, 3);
    svg_end(b);
    free(store);
    return 0;
}

/* ------------------------------------------------------------------ outputs */

static void out_name(char *buf, size_t cap, const char *name, int si, int sn, const char *ext) {
    if (sn > 1) snprintf(buf, cap, "%s-%d-of-%d.%s", name, si, sn, ext);
    else snprintf(buf, cap, "%s.%s", name, ext);
}

static int out_path(char *buf, size_t cap, const char *dir, const char *name, int si, int sn, const char *ext) {
    char nm[128];
    out_name(nm, sizeof nm, name, si, sn, ext);
    return dir_file(buf, cap, dir, nm);
}

/* Creates dir if missing and checks that files can be written in it. */
int trace_prepare_out_dir(const char *dir) {
    struct stat st;
    char probe[4200];
    fe_error e;
    if (stat(dir, &st) != 0) {
        if (mkdir(dir, 0777) != 0) {
            fprintf(stderr, "factedit trace: cannot create the output directory '%s': %s\n", dir, strerror(errno));
            return EXIT_FAIL;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "factedit trace: --out '%s' exists and is not a directory\n", dir);
        return EXIT_FAIL;
    }
    if (!dir_file(probe, sizeof probe, dir, ".factedit-write-test")) return fail("trace", "--out: path too long");
    if (fe_write_file_atomic(probe, "", 0, &e) != fe_ok) {
        fprintf(stderr, "factedit trace: the output directory '%s' is not writable: %s\n", dir, e.msg);
        return EXIT_FAIL;
    }
    remove(probe);
    return 0;
}

int trace_write_facts(const char *dir, const trace_meta *mt, int si, int sn, const sbuf *lines, long records, int complete) {
    sbuf b;
    char path[4200];
    fe_error e;
    if (!out_path(path, sizeof path, dir, "facts", si, sn, "jsonl")) return fail("trace", "--out: path too long");
    sb_init(&b);
    header_line(&b, mt, si, sn, records, complete);
    sb_putn(&b, lines->p ? lines->p : "", lines->len);
    if (lines->failed) b.failed = 1;
    if (sb_write_file(&b, path, &e) != fe_ok) { sb_free(&b); return fail("trace", e.msg); }
    sb_free(&b);
    return 0;
}

/* Writes the summary (and, for a whole run, the SVG figures); prints what was written. */
int trace_write_results(const char *dir, const trace_meta *mt, int si, int sn, const trace_counts *c, const trace_agg *a) {
    static const char *const svgs[3] = {"aie_lines", "aie_heatmap", "sever"};
    char path[4200];
    fe_error e;
    int i;
    sbuf b;
    if (!out_path(path, sizeof path, dir, "summary", si, sn, "json")) return fail("trace", "--out: path too long");
    sb_init(&b);
    if (summary_json(&b, mt, c, a) != 0 || sb_write_file(&b, path, &e) != fe_ok) {
        sb_free(&b);
        return fail("trace", b.failed ? "out of memory" : e.msg);
    }
    sb_free(&b);
    if (!out_path(path, sizeof path, dir, "facts", si, sn, "jsonl")) return fail("trace", "--out: path too long");
    printf("wrote %s\n", path);
    out_path(path, sizeof path, dir, "summary", si, sn, "json");
    printf("wrote %s\n", path);
    if (sn > 1) return 0;
    for (i = 0; i < 3; i++) {
        int r;
        sb_init(&b);
        r = i == 0 ? svg_lines(&b, mt, a) : i == 1 ? svg_heatmaps(&b, mt, a) : svg_sever(&b, mt, a);
        if (!out_path(path, sizeof path, dir, svgs[i], 0, 1, "svg")) { sb_free(&b); return fail("trace", "--out: path too long"); }
        if (r != 0 || sb_write_file(&b, path, &e) != fe_ok) { sb_free(&b); return fail("trace", r ? "out of memory" : e.msg); }
        sb_free(&b);
        printf("wrote %s\n", path);
    }
    return 0;
}

void trace_print_peaks(const trace_meta *mt, const trace_agg *a) {
    int k, bk, l, L = mt->layers;
    if (!a->kept) return;
    printf("average high %.4g, low %.4g, total effect %.4g\n", a->sum_high / a->kept, a->sum_low / a->kept, (a->sum_high - a->sum_low) / a->kept);
    printf("peak average indirect effect (score - low):\n");
    for (k = 0; k < 3; k++) {
        double best = -1e300;
        int bb = -1, bl = -1;
        if (!(mt->kinds & (1u << k))) continue;
        for (bk = 0; bk < TRACE_BUCKETS; bk++)
            for (l = 0; l < L; l++) {
                trace_stat s = trace_agg_cell(a, k, bk, l);
                if (isfinite(s.mean) && s.mean > best) { best = s.mean; bb = bk; bl = l; }
            }
        if (bb >= 0) printf("  %-7s %10.4g at the %s, layer %d\n", trace_kind_names[k], best, trace_bucket_names[bb], bl);
    }
    printf("  severed at the last subject token, peaks:");
    for (k = 0; k < 3; k++) {
        double best = -1e300;
        int bl = 0;
        for (l = 0; l < L; l++) {
            trace_stat s = trace_agg_sever(a, k, l);
            if (isfinite(s.mean) && s.mean > best) { best = s.mean; bl = l; }
        }
        printf(" %s %.4g (layer %d)%s", trace_sever_names[k], best, bl, k < 2 ? "," : "\n");
    }
}

/* ------------------------------------------------------------------ one fact */

typedef struct ds_run {
    const fe_model *m;
    const fe_vocab *v;
    trace_meta meta;
    int shard_i, shard_n;
    uint64_t seed;
    float noise;
    fe_state *st;            /* clean run for the prediction check, B = 1, max_T positions */
    int max_T;
} ds_run;


static void json_floats(sbuf *b, const float *x, int n) {
    int i;
    sb_puts(b, "[");
    for (i = 0; i < n; i++) { if (i) sb_puts(b, ","); sb_json_num(b, x[i], 9); }
    sb_puts(b, "]");
}

static void token_json(sbuf *b, const fe_vocab *v, int id) {
    size_t len;
    const char *s = fe_token_bytes(v, id, &len);
    sb_json_str(b, s ? s : "", s ? len : 0, SB_FFFD_RAW);
}

/* Traces fact `index` (or finds why not) and appends its record to `lines`. For a kept fact,
   *grid and *sev receive the traces (the caller frees them) and *tf points into them. Returns 0
   kept, 1 wrong prediction, 2 error (recorded), -1 out of memory. */
static int trace_fact_record(ds_run *d, long index, const fe_json_value *fact, sbuf *lines, fe_trace_result *grid, fe_trace_result *sev,
                             trace_fact *tf) {
    const char *subject = cli_json_str(fact, "subject"), *attribute = cli_json_str(fact, "attribute"), *prompt = cli_json_str(fact, "prompt");
    const fe_json_value *kid = fe_json_get(fact, "known_id");
    int *ids = NULL, *aids = NULL, T = 0, t, k, status = 2, expected = -1, predicted = -1;
    size_t n = 0, na = 0, sb = 0, se = 0;
    char msg[320], *attr_sp = NULL;
    fe_error e;
    fe_trace_opts o;
    const fe_model *m = d->m;
    msg[0] = 0;
    sb_printf(lines, "{\"index\": %ld, \"known_id\": ", index);
    if (kid && kid->type == fe_json_number && kid->number == floor(kid->number) && fabs(kid->number) < 9e15) sb_printf(lines, "%.0f", kid->number);
    else sb_puts(lines, "null");
    sb_puts(lines, ", \"subject\": ");
    sb_json_str(lines, subject, strlen(subject), SB_FFFD_RAW);
    sb_puts(lines, ", \"attribute\": ");
    sb_json_str(lines, attribute, strlen(attribute), SB_FFFD_RAW);
    sb_puts(lines, ", \"prompt\": ");
    sb_json_str(lines, prompt, strlen(prompt), SB_FFFD_RAW);

    if (fe_encode(d->v, prompt, strlen(prompt), &ids, &n, &e) != fe_ok) { snprintf(msg, sizeof msg, "prompt: %s", e.msg); goto record; }
    T = (int)n;
    if (n == 0) { snprintf(msg, sizeof msg, "empty prompt"); goto record; }
    if (n > (size_t)m->config.max_seq_len) { snprintf(msg, sizeof msg, "the prompt is %zu tokens, beyond the model's context of %d", n, m->config.max_seq_len); goto record; }
    for (t = 0; t < T; t++)
        if (ids[t] >= m->config.vocab_size) { snprintf(msg, sizeof msg, "prompt token id %d is outside the model's vocabulary of %d", ids[t], m->config.vocab_size); goto record; }
    if (fe_subject_span(d->v, prompt, subject, &sb, &se, &e) != fe_ok) { snprintf(msg, sizeof msg, "%s", e.msg); goto record; }
    if (!(attr_sp = (char *)malloc(strlen(attribute) + 2))) { fe_ids_free(d->v, ids); return -1; }
    attr_sp[0] = ' ';
    strcpy(attr_sp + 1, attribute);
    if (fe_encode(d->v, attr_sp, strlen(attr_sp), &aids, &na, &e) != fe_ok) { snprintf(msg, sizeof msg, "attribute: %s", e.msg); goto record; }
    if (na == 0 || aids[0] >= m->config.vocab_size) { snprintf(msg, sizeof msg, "the attribute's first token is outside the model's vocabulary"); goto record; }
    expected = aids[0];
    {   /* the clean greedy prediction */
        fe_forward_opts fo;
        const float *lg;
        int V = m->config.vocab_size, i;
        memset(&fo, 0, sizeof fo);
        if (fe_forward(m, d->st, ids, T, &fo, &e) != fe_ok) { snprintf(msg, sizeof msg, "%s", e.msg); goto record; }
        lg = fe_state_logits(d->st, 0, -1);
        predicted = 0;
        for (i = 1; i < V; i++) if (lg[i] > lg[predicted]) predicted = i;
    }
    if (predicted != expected) { status = 1; goto record; }
    o = fe_trace_opts_default();
    o.samples = d->meta.samples; o.window = d->meta.window; o.noise = d->noise; o.answer = expected;
    o.seed = d->seed + (uint64_t)index * 0x9E3779B97F4A7C15ull;   /* per fact: shards draw what one run draws */
    if (fe_trace(m, ids, T, sb, se, d->meta.kinds, &o, grid, &e) != fe_ok) { snprintf(msg, sizeof msg, "%s", e.msg); goto record; }
    if (fe_trace_sever(m, ids, T, sb, se, -1, FACTEDIT_SEVER_ALL, &o, sev, &e) != fe_ok) {
        fe_trace_result_free(grid);
        snprintf(msg, sizeof msg, "%s", e.msg);
        goto record;
    }
    status = 0;
record:
    if (status == 0) {
        sb_puts(lines, ", \"status\": \"kept\", \"tokens\": [");
        for (t = 0; t < T; t++) sb_printf(lines, "%s%d", t ? "," : "", ids[t]);
        sb_printf(lines, "], \"subject_range\": [%zu, %zu], \"answer\": %d, \"answer_token\": ", sb, se, expected);
        token_json(lines, d->v, expected);
        sb_puts(lines, ", \"high\": ");
        sb_json_num(lines, grid->high, 17);
        sb_puts(lines, ", \"low\": ");
        sb_json_num(lines, grid->low, 17);
        sb_puts(lines, ", \"scores\": {");
        for (k = 0, t = 0; k < 3; k++) {
            int r;
            if (!grid->scores[k]) continue;
            sb_printf(lines, "%s\"%s\": [", t++ ? ", " : "", trace_kind_names[k]);
            for (r = 0; r < T; r++) { if (r) sb_puts(lines, ","); json_floats(lines, grid->scores[k] + (size_t)r * grid->L, grid->L); }
            sb_puts(lines, "]");
        }
        sb_printf(lines, "}, \"sever_token\": %d, \"sever\": {", sev->token);
        for (k = 0; k < 3; k++) {
            sb_printf(lines, "%s\"%s\": ", k ? ", " : "", trace_sever_names[k]);
            json_floats(lines, sev->scores[k], sev->L);
        }
        sb_puts(lines, "}}\n");
        memset(tf, 0, sizeof *tf);
        tf->T = T; tf->L = grid->L; tf->sb = (int)sb; tf->se = (int)se; tf->low = grid->low; tf->high = grid->high;
        for (k = 0; k < 3; k++) { tf->scores[k] = grid->scores[k]; tf->sever[k] = sev->scores[k]; }
    } else if (status == 1) {
        sb_printf(lines, ", \"status\": \"wrong_prediction\", \"predicted\": %d, \"predicted_token\": ", predicted);
        token_json(lines, d->v, predicted);
        sb_printf(lines, ", \"expected\": %d, \"expected_token\": ", expected);
        token_json(lines, d->v, expected);
        sb_puts(lines, "}\n");
    } else {
        sb_puts(lines, ", \"status\": \"error\", \"error\": ");
        sb_json_str(lines, msg, strlen(msg), SB_FFFD_RAW);
        sb_puts(lines, "}\n");
    }
    free(attr_sp);
    if (aids) fe_ids_free(d->v, aids);
    if (ids) fe_ids_free(d->v, ids);
    return lines->failed ? -1 : status;
}

static int read_json_file(const char *what, const char *path, unsigned char **bytes, size_t *len, fe_json **doc) {
    fe_error e;
    *bytes = NULL; *doc = NULL;
    if (fe_read_file(path, bytes, len, NULL, &e) != fe_ok) {
        fprintf(stderr, "factedit trace: %s: %s\n", what, e.msg);
        return EXIT_FAIL;
    }
    if (fe_json_parse(doc, (const char *)*bytes, *len, NULL, &e) != fe_ok) {
        fprintf(stderr, "factedit trace: %s '%s': %s\n", what, path, e.msg);
        fe_free(*bytes, NULL);
        *bytes = NULL;
        return EXIT_FAIL;
    }
    return 0;
}


int trace_run_dataset(const trace_dataset_args *A) {
    unsigned char *bytes = NULL;
    size_t len = 0, i;
    fe_json *doc = NULL;
    const fe_json_value *root;
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_error e;
    ds_run d;
    trace_agg agg;
    trace_counts c;
    sbuf lines;
    cli_progress pg;
    char kept_s[48];
    long mine;   /* the facts of this shard */
    long idx, total, considered;
    double last_ckpt;
    int rc = 0, agg_ok = 0;
    memset(&d, 0, sizeof d);
    memset(&c, 0, sizeof c);
    sb_init(&lines);
    {   /* every input and output before any work */
        char names[5][64];
        const char *np[5];
        int k;
        cli_paths ps;
        out_name(names[0], sizeof names[0], "facts", A->shard_i, A->shard_n, "jsonl");
        out_name(names[1], sizeof names[1], "summary", A->shard_i, A->shard_n, "json");
        snprintf(names[2], sizeof names[2], "aie_lines.svg");
        snprintf(names[3], sizeof names[3], "aie_heatmap.svg");
        snprintf(names[4], sizeof names[4], "sever.svg");
        for (k = 0; k < 5; k++) np[k] = names[k];
        cli_paths_init(&ps, "trace");
        cli_in(&ps, "--model", A->model_path);
        cli_in_vocab(&ps, A->vocab_dir, A->model_path);
        cli_in(&ps, "--dataset", A->dataset);
        cli_out_dir(&ps, "--out", A->out, np, A->shard_n > 1 ? 2 : 5);
        if ((rc = cli_paths_check(&ps)) != 0) return rc;
    }
    if ((rc = read_json_file("--dataset", A->dataset, &bytes, &len, &doc)) != 0) return rc;
    root = fe_json_root(doc);
    if (root->type != fe_json_array) { rc = fail("trace", "--dataset: expected a JSON array of facts ({\"subject\", \"attribute\", \"prompt\", ...})"); goto done; }
    if (root->count == 0) { fprintf(stderr, "factedit trace: --dataset '%s' holds no facts (an empty array): nothing to trace\n", A->dataset); rc = EXIT_FAIL; goto done; }
    for (i = 0; i < root->count; i++) {
        const fe_json_value *f = fe_json_at(root, i);
        static const char *const keys[3] = {"subject", "attribute", "prompt"};
        int k;
        if (f->type != fe_json_object) {
            fprintf(stderr, "factedit trace: --dataset '%s': fact %zu is not an object\n", A->dataset, i);
            rc = EXIT_FAIL;
            goto done;
        }
        for (k = 0; k < 3; k++)
            if (!cli_json_str(f, keys[k])) {
                fprintf(stderr, "factedit trace: --dataset '%s': fact %zu has no string \"%s\"\n", A->dataset, i, keys[k]);
                rc = EXIT_FAIL;
                goto done;
            }
    }
    total = (long)root->count;
    considered = A->limit > 0 && A->limit < total ? A->limit : total;
    if ((rc = load_model("trace", A->model_path, 0, &m)) != 0) goto done;
    if ((rc = load_vocab("trace", A->vocab_dir, A->model_path, &v)) != 0) goto done;
    if ((rc = trace_prepare_out_dir(A->out)) != 0) goto done;
    d.m = m; d.v = v; d.shard_i = A->shard_i; d.shard_n = A->shard_n; d.seed = A->seed;

    /* noise: 3 sigma over the wte rows of every subject's tokens (ROME's collect_embedding_std) */
    d.meta.emb_std = NAN;
    if (A->relative) {
        int *all = NULL, *ids;
        size_t nall = 0, cap = 0, n;
        long skipped = 0;
        for (i = 0; i < root->count; i++) {
            const char *s = cli_json_str(fe_json_at(root, i), "subject");
            size_t j;
            if (fe_encode(v, s, strlen(s), &ids, &n, &e) != fe_ok) { skipped++; continue; }
            if (nall + n > cap) {
                int *p;
                cap = (nall + n) * 2 + 64;
                if (!(p = (int *)realloc(all, cap * sizeof(int)))) { fe_ids_free(v, ids); free(all); rc = fail("trace", "out of memory"); goto done; }
                all = p;
            }
            for (j = 0; j < n; j++) {
                if (ids[j] < m->config.vocab_size) all[nall++] = ids[j];
                else { skipped++; break; }
            }
            fe_ids_free(v, ids);
        }
        if (nall == 0 || fe_embedding_std(m, all, nall, &d.meta.emb_std, &e) != fe_ok) {
            free(all);
            rc = fail("trace", nall ? e.msg : "no subject of the dataset can be tokenized for the model: give --noise VALUE");
            goto done;
        }
        free(all);
        if (skipped) fprintf(stderr, "factedit trace: note: %ld subjects could not be tokenized for this model and do not count in the noise level\n", skipped);
        d.noise = (float)(A->noise_arg * d.meta.emb_std);
    } else d.noise = (float)A->noise_arg;
    if (!(d.noise > 0) || !isfinite(d.noise)) { rc = fail("trace", "the noise level is 0: give --noise VALUE"); goto done; }

    snprintf(d.meta.model, sizeof d.meta.model, "%016llx", (unsigned long long)fe_model_checksum(m));
    d.meta.layers = m->config.num_layers;
    d.meta.samples = A->samples; d.meta.window = A->window; d.meta.kinds = A->kinds;
    d.meta.noise = (double)d.noise;
    snprintf(d.meta.noise_spec, sizeof d.meta.noise_spec, "%s", A->noise_text);
    snprintf(d.meta.seed, sizeof d.meta.seed, "%llu", (unsigned long long)A->seed);
    d.meta.format = TRACE_FORMAT;
    snprintf(d.meta.dataset, sizeof d.meta.dataset, "%016llx", (unsigned long long)trace_dataset_id(bytes, len));
    d.meta.dataset_facts = total;
    d.meta.limit = A->limit > 0 ? A->limit : -1;
    d.meta.considered = considered;

    /* the clean run's state, sized for the longest prompt of this shard */
    d.max_T = 1;
    for (idx = A->shard_i; idx < considered; idx += A->shard_n) {
        const char *p = cli_json_str(fe_json_at(root, (size_t)idx), "prompt");
        int *ids;
        size_t n;
        if (fe_encode(v, p, strlen(p), &ids, &n, &e) == fe_ok) {
            if ((long)n > d.max_T) d.max_T = (int)n;
            fe_ids_free(v, ids);
        }
    }
    if (d.max_T > m->config.max_seq_len) d.max_T = m->config.max_seq_len;
    if (fe_state_new(&d.st, m, 1, d.max_T, 0, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }
    if (trace_agg_init(&agg, d.meta.layers) != 0) { rc = fail("trace", "out of memory"); goto done; }
    agg_ok = 1;

    if (!A->quiet) {
        if (A->relative)
            fprintf(stderr, "factedit trace: noise %.4g = %g x %.4g (std of the embeddings of the dataset's subjects); %d samples, window %d\n",
                    (double)d.noise, A->noise_arg, d.meta.emb_std, A->samples, A->window);
        else fprintf(stderr, "factedit trace: noise %.4g (absolute); %d samples, window %d\n", (double)d.noise, A->samples, A->window);
    }
    cli_progress_init(&pg, "trace", "facts", A->quiet);
    last_ckpt = pg.t0;
    mine = trace_shard_count(considered, A->shard_i, A->shard_n);
    cli_progress_show(&pg, 0, (double)mine, ", 0 kept", 0);
    for (idx = A->shard_i; idx < considered; idx += A->shard_n) {
        fe_trace_result grid, sev;
        trace_fact tf;
        int st;
        memset(&grid, 0, sizeof grid);
        memset(&sev, 0, sizeof sev);
        st = trace_fact_record(&d, idx, fe_json_at(root, (size_t)idx), &lines, &grid, &sev, &tf);
        if (st < 0) { fe_trace_result_free(&grid); fe_trace_result_free(&sev); rc = fail("trace", "out of memory"); goto done; }
        c.processed++;
        if (st == 0) { c.kept++; trace_agg_add(&agg, &tf); }
        else if (st == 1) c.wrong++;
        else c.errors++;
        fe_trace_result_free(&grid);
        fe_trace_result_free(&sev);
        snprintf(kept_s, sizeof kept_s, ", %ld kept", c.kept);
        cli_progress_show(&pg, (double)c.processed, (double)mine, kept_s, 0);
        if (cli_wall() - last_ckpt > 60.0 && c.processed < mine) {   /* a partial file now and then: a killed run leaves its work */
            if ((rc = trace_write_facts(A->out, &d.meta, A->shard_i, A->shard_n, &lines, c.processed, 0)) != 0) goto done;
            last_ckpt = cli_wall();
        }
    }
    snprintf(kept_s, sizeof kept_s, ", %ld kept", c.kept);
    cli_progress_show(&pg, (double)c.processed, (double)mine, kept_s, 1);
    if ((rc = trace_write_facts(A->out, &d.meta, A->shard_i, A->shard_n, &lines, c.processed, 1)) != 0) goto done;
    if (c.kept == 0 && A->shard_n == 1) {   /* nothing to average: an error, with the records that say why */
        char path[4200];
        out_path(path, sizeof path, A->out, "facts", 0, 1, "jsonl");
        fprintf(stderr, "factedit trace: no fact was traced: of %ld facts, %ld predicted another first token than their attribute's and %ld "
                        "could not be traced (each one's reason is in %s)\n", c.processed, c.wrong, c.errors, path);
        rc = EXIT_FAIL;
        goto done;
    }
    if (c.kept == 0 && !A->quiet) fprintf(stderr, "factedit trace: note: shard %d/%d traced no fact\n", A->shard_i, A->shard_n);
    if (A->shard_n > 1) printf("shard %d/%d: ", A->shard_i, A->shard_n);
    printf("kept %ld of %ld facts (%ld predicted another first token, %ld could not be traced); %s%ld facts in the dataset\n", c.kept, c.processed,
           c.wrong, c.errors, A->limit > 0 ? "--limit of " : "", A->limit > 0 ? considered : total);
    if ((rc = trace_write_results(A->out, &d.meta, A->shard_i, A->shard_n, &c, &agg)) != 0) goto done;
    trace_print_peaks(&d.meta, &agg);
    rc = finish_stdout("trace");
done:
    if (agg_ok) trace_agg_free(&agg);
    sb_free(&lines);
    fe_state_free(d.st);
    fe_vocab_free(v);
    fe_model_free(m);
    fe_json_free(doc);
    fe_free(bytes, NULL);
    return rc;
}
