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
   File formats and every choice are documented in tools/README-cli.md. */
#define _POSIX_C_SOURCE 200809L
#include "factedit.h"
#include "cli.h"
#include "svg.h"
#include "cmd_trace.h"

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

static const char *const kind_names[3] = {"hidden", "mlp", "attn"};
static const char *const sever_names[3] = {"none", "mlp", "attn"};
const char *const trace_bucket_names[TRACE_BUCKETS] = {
    "first subject token", "middle subject tokens", "last subject token",
    "first subsequent token", "further tokens", "last token"};

uint64_t trace_dataset_id(const void *bytes, size_t n) { return fe_fnv1a64(FACTEDIT_FNV1A64_INIT, bytes, n); }

/* ================================================================== option values ======= */

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
            if (len == strlen(kind_names[k]) && !strncmp(p, kind_names[k], len)) { m |= 1u << k; found = 1; }
        if (!found) return 1;
        p += len;
        if (!*p) break;
        p++;
    }
    *mask = m;
    return 0;
}

/* ================================================================== aggregate =========== */

int trace_agg_init(trace_agg *a, int L) {
    size_t n = 3 * TRACE_BUCKETS * (size_t)L, ns = 3 * (size_t)L;
    memset(a, 0, sizeof *a);
    a->L = L;
    a->cnt = (double *)calloc(3 * n + 3 * ns + 1, sizeof(double));
    if (!a->cnt) return 1;
    a->mean = a->cnt + n; a->m2 = a->mean + n;
    a->scnt = a->m2 + n; a->smean = a->scnt + ns; a->sm2 = a->smean + ns;
    return 0;
}

void trace_agg_free(trace_agg *a) { free(a->cnt); memset(a, 0, sizeof *a); }

static void welford(double *cnt, double *mean, double *m2, double x) {
    double d;
    *cnt += 1.0;
    d = x - *mean;
    *mean += d / *cnt;
    *m2 += d * (x - *mean);
}

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
                size_t base = ((size_t)k * TRACE_BUCKETS + (size_t)b) * (size_t)L;
                if (!(mask & (1u << b))) continue;
                for (l = 0; l < L; l++)
                    welford(a->cnt + base + l, a->mean + base + l, a->m2 + base + l, (double)f->scores[k][(size_t)t * L + l] - f->low);
            }
        }
    }
    for (k = 0; k < 3; k++) {
        size_t base = (size_t)k * (size_t)L;
        if (!f->sever[k]) continue;
        for (l = 0; l < L; l++) welford(a->scnt + base + l, a->smean + base + l, a->sm2 + base + l, (double)f->sever[k][l] - f->low);
    }
}

static trace_stat stat_of(double cnt, double mean, double m2) {
    trace_stat s;
    s.n = (long)cnt;
    s.mean = cnt > 0 ? mean : NAN;
    s.sd = s.ci_lo = s.ci_hi = NAN;
    if (cnt >= 2) {
        double h;
        s.sd = sqrt((m2 > 0 ? m2 : 0.0) / (cnt - 1.0));
        h = 1.96 * s.sd / sqrt(cnt);
        s.ci_lo = mean - h;
        s.ci_hi = mean + h;
    }
    return s;
}

trace_stat trace_agg_cell(const trace_agg *a, int kind, int bucket, int layer) {
    size_t i = ((size_t)kind * TRACE_BUCKETS + (size_t)bucket) * (size_t)a->L + (size_t)layer;
    return stat_of(a->cnt[i], a->mean[i], a->m2[i]);
}

trace_stat trace_agg_sever(const trace_agg *a, int sever, int layer) {
    size_t i = (size_t)sever * (size_t)a->L + (size_t)layer;
    return stat_of(a->scnt[i], a->smean[i], a->sm2[i]);
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

/* ================================================================== SVG figures ========= */

static double tick_step(int L) { return L <= 6 ? 1 : 5; }

/* Width of a heatmap panel: labels, cells, colour bar with its ticks and label; at least the title. */
static double heat_content_width(const char *cbar_label, double lw, int L, double cw) {
    double lab = svg_text_width(cbar_label, strlen(cbar_label), 11);
    return lw + L * cw + 12 + 10 + (lab > 64 ? lab : 64);
}
static double heat_panel_width(const char *title, const char *xlabel, const char *cbar_label, double lw, int L, double cw) {
    double c = heat_content_width(cbar_label, lw, L, cw), t = svg_text_width(title, strlen(title), 12) + 16,
           x = svg_text_width(xlabel, strlen(xlabel), 11) + 16;
    if (t > c) c = t;
    return x > c ? x : c;
}

/* A heatmap panel: rows x L values (NaN: grey) from vmin to vmax, row labels at the left
   (lw wide), layer ticks below, a colour bar at the right. Returns the panel's width. */
static double svg_heat_panel(sbuf *b, double x0, double y0, const char *title, const char *xlabel, const char *const *labels,
                             const size_t *label_lens, int rows, int L, const double *vals, double vmin, double vmax, svg_cmap cm,
                             const char *cbar_label, double lw, double cw, double ch) {
    double pw = heat_panel_width(title, xlabel, cbar_label, lw, L, cw), hx = x0 + (pw - heat_content_width(cbar_label, lw, L, cw)) / 2 + lw,
           hy = y0 + 26, step = tick_step(L);
    int r, l;
    svg_text(b, x0 + pw / 2, y0 + 14, 12, "middle", 0, 0, title, strlen(title));
    for (r = 0; r < rows; r++)
        for (l = 0; l < L; l++) {
            double v = vals[(size_t)r * L + l];
            svg_rgb c = isfinite(v) ? svg_cmap_at(cm, vmax > vmin ? (v - vmin) / (vmax - vmin) : 0.0) : svg_hex(0xdddddd);
            svg_rect(b, hx + l * cw, hy + r * ch, cw + 0.3, ch + 0.3, c);
        }
    svg_frame(b, hx, hy, L * cw, rows * ch);
    for (r = 0; r < rows; r++) svg_text(b, hx - 4, hy + r * ch + ch / 2 + 3.5, 10, "end", 0, 0, labels[r], label_lens[r]);
    for (l = 0; l < L; l += (int)step) {
        double xx = hx + (l + 0.5) * cw;
        svg_line(b, xx, hy + rows * ch, xx, hy + rows * ch + 3, svg_hex(0), 0.8);
        svg_textf(b, xx, hy + rows * ch + 14, 10, "middle", 0, 0, "%d", l);
    }
    svg_text(b, hx + L * cw / 2, hy + rows * ch + 30, 11, "middle", 0, 0, xlabel, strlen(xlabel));
    svg_colorbar(b, hx + L * cw + 12, hy, 10, rows * ch, cm, vmin, vmax, cbar_label);
    return pw;
}

typedef struct series { const char *label; svg_rgb c; double *y, *lo, *hi; } series;

static int all_finite(const double *x, int n) {
    int i;
    for (i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
    return 1;
}

/* A line plot panel over layers 0..L-1 in a w x h box: each series a line and (when finite) a 95%
   band; y from ymin to ymax (ticks every ystep). */
static void svg_line_panel(sbuf *b, double x0, double y0, double w, double h, const char *title, const char *xlabel, const char *ylabel,
                           const series *s, int ns, int L, double ymin, double ymax, const double *yt, int nyt) {
    double px = x0 + 62, py = y0 + 26, pw = w - 72, ph = h - 64, *xs, *ys;
    int i, l, k;
    xs = (double *)malloc(sizeof(double) * (2 * (size_t)L + 1));
    ys = (double *)malloc(sizeof(double) * (2 * (size_t)L + 1));
    if (!xs || !ys) { free(xs); free(ys); b->failed = 1; return; }
#define XMAP(l_) (px + (L > 1 ? (double)(l_) / (L - 1) : 0.5) * pw)
#define YMAP(v_) (py + ph - ((v_) - ymin) / (ymax - ymin) * ph)
    svg_text(b, px + pw / 2, y0 + 14, 12, "middle", 0, 0, title, strlen(title));
    for (k = 0; k < nyt; k++) {
        double yy = YMAP(yt[k]);
        char num[48];
        svg_line(b, px, yy, px + pw, yy, svg_hex(yt[k] == 0 ? 0x999999 : 0xeeeeee), 0.8);
        svg_line(b, px - 3, yy, px, yy, svg_hex(0), 0.8);
        svg_fmt_tick(num, sizeof num, yt[k], nyt > 1 ? yt[1] - yt[0] : 1.0, fabs(ymin) > fabs(ymax) ? ymin : ymax);
        svg_text(b, px - 5, yy + 3.5, 10, "end", 0, 0, num, strlen(num));
    }
    for (i = 0; i < ns; i++) {
        int n = 0;
        if (!all_finite(s[i].lo, L) || !all_finite(s[i].hi, L)) continue;
        for (l = 0; l < L; l++) { xs[n] = XMAP(l); ys[n++] = YMAP(s[i].hi[l]); }
        for (l = L - 1; l >= 0; l--) { xs[n] = XMAP(l); ys[n++] = YMAP(s[i].lo[l]); }
        svg_polygon(b, xs, ys, n, s[i].c, 0.25);
    }
    for (i = 0; i < ns; i++) {
        if (!all_finite(s[i].y, L)) continue;
        for (l = 0; l < L; l++) { xs[l] = XMAP(l); ys[l] = YMAP(s[i].y[l]); }
        svg_polyline(b, xs, ys, L, s[i].c, 1.6);
    }
    svg_frame(b, px, py, pw, ph);
    for (l = 0; l < L; l += (int)tick_step(L)) {
        double xx = XMAP(l);
        svg_line(b, xx, py + ph, xx, py + ph + 3, svg_hex(0), 0.8);
        svg_textf(b, xx, py + ph + 14, 10, "middle", 0, 0, "%d", l);
    }
    svg_text(b, px + pw / 2, py + ph + 30, 11, "middle", 0, 0, xlabel, strlen(xlabel));
    svg_text(b, x0 + 14, py + ph / 2, 11, "middle", -90, 0, ylabel, strlen(ylabel));
#undef XMAP
#undef YMAP
    free(xs);
    free(ys);
}

static void svg_legend(sbuf *b, double x, double y, const series *s, int ns) {
    int i;
    for (i = 0; i < ns; i++) {
        svg_line(b, x, y - 4, x + 18, y - 4, s[i].c, 2.5);
        svg_text(b, x + 22, y, 11, "start", 0, 0, s[i].label, strlen(s[i].label));
        x += 36 + svg_text_width(s[i].label, strlen(s[i].label), 11);
    }
}

/* y range over the series' finite values (and 0), widened to nice ticks. */
static int y_range(const series *s, int ns, int L, double *ymin, double *ymax, double *ticks, int cap) {
    int i, l;
    double lo = 0, hi = 0;
    for (i = 0; i < ns; i++)
        for (l = 0; l < L; l++) {
            const double v[3] = {s[i].y[l], s[i].lo[l], s[i].hi[l]};
            int j;
            for (j = 0; j < 3; j++) if (isfinite(v[j])) { if (v[j] < lo) lo = v[j]; if (v[j] > hi) hi = v[j]; }
        }
    if (!(hi > lo)) hi = lo + 0.01;
    *ymin = lo; *ymax = hi;
    return svg_ticks(ymin, ymax, 5, ticks, cap);
}

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
        sb_printf(b, "%s\n \"%s\": ", t++ ? "," : "", kind_names[k]);
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
                sb_printf(b, "%s,%d,%d,", kind_names[k], t, r->ids[t]);
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
        width += heat_panel_width(titles[k], xlabel, cbar, lw, L, cw) + 20;
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

/* ================================================================== dataset ============= */

/* What every shard of one experiment shares; the header of each facts file and the summary. */
typedef struct trace_meta {
    char model[24];               /* checksum, hex */
    int layers, samples, window;
    unsigned kinds;
    double noise;                 /* the float used */
    char noise_spec[40];
    double emb_std;               /* NaN: absolute noise */
    char seed[24];
    int format;                   /* TRACE_FORMAT, or 1: a file of an older factedit (its own merges stay 1) */
    char dataset[24];             /* trace_dataset_id of the dataset file, hex (format 1: trace_legacy_dataset_id) */
    long dataset_facts, limit, considered;   /* limit -1: none */
} trace_meta;

typedef struct counts { long processed, kept, wrong, errors; } counts;

static void meta_json(sbuf *b, const trace_meta *mt) {
    int k, first = 1;
    sb_printf(b, "\"model_checksum\": \"%s\", \"layers\": %d, \"samples\": %d, \"window\": %d, \"kinds\": [", mt->model, mt->layers, mt->samples, mt->window);
    for (k = 0; k < 3; k++) if (mt->kinds & (1u << k)) { sb_printf(b, "%s\"%s\"", first ? "" : ", ", kind_names[k]); first = 0; }
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

static long shard_count(long considered, int i, int n) { return considered > i ? (considered - i + n - 1) / n : 0; }

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

static int summary_json(sbuf *b, const trace_meta *mt, const counts *c, const trace_agg *a) {
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
        sb_printf(b, "%s\n  \"%s\": [", first ? "" : ",", kind_names[k]);
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
        sb_printf(b, ",\n  \"%s\": {", sever_names[k]);
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

static int fill_series(series *s, double *store, int L, const trace_agg *a, int kind, int bucket, int sever) {
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
    series s[3][TRACE_BUCKETS];
    double *store = (double *)malloc(sizeof(double) * 3 * TRACE_BUCKETS * 3 * (size_t)L + 1), ymin, ymax, ticks[32], x = 0;
    char title[128], labels[TRACE_BUCKETS][40];
    series all[3 * TRACE_BUCKETS];
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
    nt = y_range(all, nall, L, &ymin, &ymax, ticks, 32);
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
        width += heat_panel_width(title, xlabel, "AIE", lw, L, cw) + 20;
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
    series s[3];
    double *store = (double *)malloc(sizeof(double) * 9 * (size_t)L + 1), ymin, ymax, ticks[32];
    char title[160];
    if (!store) return 1;
    for (k = 0; k < 3; k++) {
        fill_series(&s[k], store + (size_t)k * 3 * L, L, a, 0, 0, k);
        s[k].label = labels[k];
        s[k].c = svg_hex(colours[k]);
    }
    nt = y_range(s, 3, L, &ymin, &ymax, ticks, 32);
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
static int prepare_out_dir(const char *dir) {
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

static int write_facts(const char *dir, const trace_meta *mt, int si, int sn, const sbuf *lines, long records, int complete) {
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
static int write_results(const char *dir, const trace_meta *mt, int si, int sn, const counts *c, const trace_agg *a) {
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

static void print_peaks(const trace_meta *mt, const trace_agg *a) {
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
        if (bb >= 0) printf("  %-7s %10.4g at the %s, layer %d\n", kind_names[k], best, trace_bucket_names[bb], bl);
    }
    printf("  severed at the last subject token, peaks:");
    for (k = 0; k < 3; k++) {
        double best = -1e300;
        int bl = 0;
        for (l = 0; l < L; l++) {
            trace_stat s = trace_agg_sever(a, k, l);
            if (isfinite(s.mean) && s.mean > best) { best = s.mean; bl = l; }
        }
        printf(" %s %.4g (layer %d)%s", sever_names[k], best, bl, k < 2 ? "," : "\n");
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

static const char *json_str(const fe_json_value *o, const char *key) {
    const fe_json_value *x = fe_json_get(o, key);
    return x && x->type == fe_json_string ? x->str : NULL;
}

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
    const char *subject = json_str(fact, "subject"), *attribute = json_str(fact, "attribute"), *prompt = json_str(fact, "prompt");
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
            sb_printf(lines, "%s\"%s\": [", t++ ? ", " : "", kind_names[k]);
            for (r = 0; r < T; r++) { if (r) sb_puts(lines, ","); json_floats(lines, grid->scores[k] + (size_t)r * grid->L, grid->L); }
            sb_puts(lines, "]");
        }
        sb_printf(lines, "}, \"sever_token\": %d, \"sever\": {", sev->token);
        for (k = 0; k < 3; k++) {
            sb_printf(lines, "%s\"%s\": ", k ? ", " : "", sever_names[k]);
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

typedef struct ds_args {
    const char *model_path, *vocab_dir, *dataset, *out;
    unsigned kinds;
    int samples, window, limit, shard_i, shard_n, relative, quiet;
    double noise_arg;
    const char *noise_text;
    uint64_t seed;
} ds_args;

static int run_dataset(const ds_args *A) {
    unsigned char *bytes = NULL;
    size_t len = 0, i;
    fe_json *doc = NULL;
    const fe_json_value *root;
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_error e;
    ds_run d;
    trace_agg agg;
    counts c;
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
            if (!json_str(f, keys[k])) {
                fprintf(stderr, "factedit trace: --dataset '%s': fact %zu has no string \"%s\"\n", A->dataset, i, keys[k]);
                rc = EXIT_FAIL;
                goto done;
            }
    }
    total = (long)root->count;
    considered = A->limit > 0 && A->limit < total ? A->limit : total;
    if ((rc = load_model("trace", A->model_path, 0, &m)) != 0) goto done;
    if ((rc = load_vocab("trace", A->vocab_dir, A->model_path, &v)) != 0) goto done;
    if ((rc = prepare_out_dir(A->out)) != 0) goto done;
    d.m = m; d.v = v; d.shard_i = A->shard_i; d.shard_n = A->shard_n; d.seed = A->seed;

    /* noise: 3 sigma over the wte rows of every subject's tokens (ROME's collect_embedding_std) */
    d.meta.emb_std = NAN;
    if (A->relative) {
        int *all = NULL, *ids;
        size_t nall = 0, cap = 0, n;
        long skipped = 0;
        for (i = 0; i < root->count; i++) {
            const char *s = json_str(fe_json_at(root, i), "subject");
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
        const char *p = json_str(fe_json_at(root, (size_t)idx), "prompt");
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
    mine = shard_count(considered, A->shard_i, A->shard_n);
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
            if ((rc = write_facts(A->out, &d.meta, A->shard_i, A->shard_n, &lines, c.processed, 0)) != 0) goto done;
            last_ckpt = cli_wall();
        }
    }
    snprintf(kept_s, sizeof kept_s, ", %ld kept", c.kept);
    cli_progress_show(&pg, (double)c.processed, (double)mine, kept_s, 1);
    if ((rc = write_facts(A->out, &d.meta, A->shard_i, A->shard_n, &lines, c.processed, 1)) != 0) goto done;
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
    if ((rc = write_results(A->out, &d.meta, A->shard_i, A->shard_n, &c, &agg)) != 0) goto done;
    print_peaks(&d.meta, &agg);
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

/* ================================================================== merge =============== */

typedef struct mrec { long index; const char *line; size_t len; int file; } mrec;
typedef struct mfile { char *path; unsigned char *bytes; size_t len; int si, sn; } mfile;

static int mrec_cmp(const void *a, const void *b) {
    long x = ((const mrec *)a)->index, y = ((const mrec *)b)->index;
    return x < y ? -1 : x > y;
}
static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "facts.jsonl" or "facts-I-of-N.jsonl" */
static int is_facts_name(const char *s) {
    int i, n;
    char tail[16];
    if (!strcmp(s, "facts.jsonl")) return 1;
    return sscanf(s, "facts-%d-of-%d.%15s", &i, &n, tail) == 3 && !strcmp(tail, "jsonl");
}

static int add_path(char ***list, int *n, int *cap, const char *p) {
    char *s;
    if (*n == *cap) {
        char **q;
        *cap = *cap ? 2 * *cap : 16;
        if (!(q = (char **)realloc(*list, sizeof(char *) * (size_t)*cap))) return 1;
        *list = q;
    }
    if (!(s = (char *)malloc(strlen(p) + 1))) return 1;
    strcpy(s, p);
    (*list)[(*n)++] = s;
    return 0;
}

static int num_field(const fe_json_value *o, const char *k, double *x) {
    const fe_json_value *f = fe_json_get(o, k);
    if (!f || f->type != fe_json_number) return 1;
    *x = f->number;
    return 0;
}

/* Reads a facts file's header into mt (and shard, records, complete). */
static int parse_header(const fe_json_value *h, trace_meta *mt, int *si, int *sn, long *records, int *complete, const char **why) {
    const fe_json_value *f, *sh;
    const char *s;
    double x;
    size_t i;
    memset(mt, 0, sizeof *mt);
    *why = "not a factedit trace facts file";
    if (h->type != fe_json_object || !(s = json_str(h, "format"))) return 1;
    if (!strcmp(s, "factedit-trace-facts 1")) mt->format = 1;   /* dataset_hash: trace_legacy_dataset_id */
    else if (!strcmp(s, "factedit-trace-facts 2")) mt->format = 2;
    else return 1;
    *why = "malformed header";
    if (!(s = json_str(h, "model_checksum")) || strlen(s) >= sizeof mt->model) return 1;
    strcpy(mt->model, s);
    if (num_field(h, "layers", &x) || x < 1 || x > FACTEDIT_MAX_LAYERS) return 1;
    mt->layers = (int)x;
    if (num_field(h, "samples", &x) || x < 1 || x > INT_MAX) return 1;
    mt->samples = (int)x;
    if (num_field(h, "window", &x) || x < 1 || x > INT_MAX) return 1;
    mt->window = (int)x;
    if (!(f = fe_json_get(h, "kinds")) || f->type != fe_json_array) return 1;
    for (i = 0; i < f->count; i++) {
        unsigned k;
        const fe_json_value *e = fe_json_at(f, i);
        if (e->type != fe_json_string || trace_parse_kinds(e->str, &k)) return 1;
        mt->kinds |= k;
    }
    if (!mt->kinds) return 1;
    if (num_field(h, "noise", &x)) return 1;
    mt->noise = (double)(float)x;
    if (!(s = json_str(h, "noise_spec")) || strlen(s) >= sizeof mt->noise_spec) return 1;
    strcpy(mt->noise_spec, s);
    f = fe_json_get(h, "embedding_std");
    if (!f) return 1;
    mt->emb_std = f->type == fe_json_number ? f->number : NAN;
    if (!(s = json_str(h, "seed")) || strlen(s) >= sizeof mt->seed) return 1;
    strcpy(mt->seed, s);
    if (!(s = json_str(h, "dataset_hash")) || strlen(s) >= sizeof mt->dataset) return 1;
    strcpy(mt->dataset, s);
    if (num_field(h, "dataset_facts", &x) || x < 0) return 1;
    mt->dataset_facts = (long)x;
    f = fe_json_get(h, "limit");
    if (!f) return 1;
    mt->limit = f->type == fe_json_number ? (long)f->number : -1;
    if (num_field(h, "facts", &x) || x < 0) return 1;
    mt->considered = (long)x;
    if (!(sh = fe_json_get(h, "shard")) || sh->type != fe_json_array || sh->count != 2 || fe_json_at(sh, 0)->type != fe_json_number ||
        fe_json_at(sh, 1)->type != fe_json_number)
        return 1;
    *si = (int)fe_json_at(sh, 0)->number;
    *sn = (int)fe_json_at(sh, 1)->number;
    if (*sn < 1 || *si < 0 || *si >= *sn) return 1;
    if (num_field(h, "records", &x) || x < 0) return 1;
    *records = (long)x;
    f = fe_json_get(h, "complete");
    if (!f || f->type != fe_json_bool) return 1;
    *complete = f->boolean;
    return 0;
}

/* The first field where two headers disagree, or NULL. */
static const char *meta_diff(const trace_meta *a, const trace_meta *b) {
    if (a->format != b->format)   /* their dataset_hash values come from different functions: not comparable */
        return "format (facts format 1, from an older factedit, hashes its dataset differently: re-run those shards, or merge them only with each other)";
    if (strcmp(a->model, b->model)) return "model_checksum (another model)";
    if (a->layers != b->layers) return "layers";
    if (a->samples != b->samples) return "samples";
    if (a->window != b->window) return "window";
    if (a->kinds != b->kinds) return "kinds";
    if (a->noise != b->noise) return "noise";
    if (strcmp(a->noise_spec, b->noise_spec)) return "noise_spec";
    if (!(a->emb_std == b->emb_std || (isnan(a->emb_std) && isnan(b->emb_std)))) return "embedding_std";
    if (strcmp(a->seed, b->seed)) return "seed";
    if (strcmp(a->dataset, b->dataset)) return "dataset_hash (another dataset)";
    if (a->dataset_facts != b->dataset_facts) return "dataset_facts";
    if (a->limit != b->limit) return "limit";
    if (a->considered != b->considered) return "facts";
    return NULL;
}

/* Reads `n` numbers of a JSON array into floats. */
static int read_floats(const fe_json_value *a, float *out, int n) {
    int i;
    if (!a || a->type != fe_json_array || a->count != (size_t)n) return 1;
    for (i = 0; i < n; i++) {
        const fe_json_value *x = fe_json_at(a, (size_t)i);
        if (x->type != fe_json_number) return 1;
        out[i] = (float)x->number;
    }
    return 0;
}

/* A kept record back into a trace_fact (arrays into *store, malloc'd). */
static int parse_kept(const fe_json_value *r, const trace_meta *mt, trace_fact *tf, float **store) {
    const fe_json_value *tok = fe_json_get(r, "tokens"), *span = fe_json_get(r, "subject_range"), *sc = fe_json_get(r, "scores"), *sv = fe_json_get(r, "sever");
    int T, L = mt->layers, k, t;
    double lo, hi;
    float *p;
    *store = NULL;
    if (!tok || tok->type != fe_json_array || tok->count < 1 || tok->count > FACTEDIT_MAX_CONTEXT) return 1;
    T = (int)tok->count;
    if (!span || span->type != fe_json_array || span->count != 2 || fe_json_at(span, 0)->type != fe_json_number || fe_json_at(span, 1)->type != fe_json_number) return 1;
    lo = fe_json_at(span, 0)->number; hi = fe_json_at(span, 1)->number;
    if (!(lo >= 0 && lo < hi && hi <= T)) return 1;
    if (num_field(r, "low", &tf->low) || num_field(r, "high", &tf->high) || !sc || sc->type != fe_json_object || !sv || sv->type != fe_json_object) return 1;
    if (!(p = (float *)malloc(sizeof(float) * (3 * (size_t)T * L + 3 * (size_t)L)))) return 2;
    *store = p;
    tf->T = T; tf->L = L; tf->sb = (int)lo; tf->se = (int)hi;
    for (k = 0; k < 3; k++) {
        const fe_json_value *g = fe_json_get(sc, kind_names[k]);
        tf->scores[k] = NULL;
        if (!(mt->kinds & (1u << k))) { if (g) return 1; continue; }
        if (!g || g->type != fe_json_array || g->count != (size_t)T) return 1;
        for (t = 0; t < T; t++) if (read_floats(fe_json_at(g, (size_t)t), p + ((size_t)k * T + t) * L, L)) return 1;
        tf->scores[k] = p + (size_t)k * T * L;
    }
    for (k = 0; k < 3; k++) {
        float *q = p + 3 * (size_t)T * L + (size_t)k * L;
        if (read_floats(fe_json_get(sv, sever_names[k]), q, L)) return 1;
        tf->sever[k] = q;
    }
    return 0;
}

static int run_merge(const char *const *inputs, int n_in, const char *out) {
    char **paths = NULL;
    int npaths = 0, cap = 0, i, rc = 0, sn = 0, agg_ok = 0;
    mfile *files = NULL;
    mrec *recs = NULL;
    size_t nrec = 0, rcap = 0, r;
    trace_meta mt, first;
    trace_agg agg;
    counts c;
    sbuf lines;
    unsigned char *have = NULL;
    memset(&c, 0, sizeof c);
    memset(&first, 0, sizeof first);
    sb_init(&lines);
    /* the files: each input is a facts file or a directory of them */
    for (i = 0; i < n_in; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0) {
            fprintf(stderr, "factedit trace: --merge: cannot open '%s': %s\n", inputs[i], strerror(errno));
            rc = EXIT_FAIL;
            goto done;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *dir = opendir(inputs[i]);
            struct dirent *de;
            int before = npaths, has_whole = 0;
            if (!dir) { fprintf(stderr, "factedit trace: --merge: cannot read '%s': %s\n", inputs[i], strerror(errno)); rc = EXIT_FAIL; goto done; }
            while ((de = readdir(dir)) != NULL) {
                char p[4200];
                if (!is_facts_name(de->d_name)) continue;
                has_whole |= !strcmp(de->d_name, "facts.jsonl");
                if (!dir_file(p, sizeof p, inputs[i], de->d_name) || add_path(&paths, &npaths, &cap, p)) { closedir(dir); rc = fail("trace", "out of memory"); goto done; }
            }
            closedir(dir);
            if (npaths == before) { fprintf(stderr, "factedit trace: --merge: no facts*.jsonl file in '%s'\n", inputs[i]); rc = EXIT_FAIL; goto done; }
            if (has_whole && npaths - before > 1) {
                fprintf(stderr, "factedit trace: --merge: '%s' holds both facts.jsonl (a whole run or a merge) and shard files: name the files to merge\n", inputs[i]);
                rc = EXIT_FAIL;
                goto done;
            }
            qsort(paths + before, (size_t)(npaths - before), sizeof(char *), str_cmp);
        } else if (add_path(&paths, &npaths, &cap, inputs[i])) { rc = fail("trace", "out of memory"); goto done; }
    }
    {   /* the files read and written, before reading them */
        static const char *const names[5] = {"facts.jsonl", "summary.json", "aie_lines.svg", "aie_heatmap.svg", "sever.svg"};
        cli_paths ps;
        cli_paths_init(&ps, "trace");
        for (i = 0; i < npaths; i++) cli_in(&ps, "--merge", paths[i]);
        cli_out_dir(&ps, "--out", out, names, 5);
        if ((rc = cli_paths_check(&ps)) != 0) goto done;
    }
    if (!(files = (mfile *)calloc((size_t)npaths, sizeof(mfile)))) { rc = fail("trace", "out of memory"); goto done; }
    for (i = 0; i < npaths; i++) {
        mfile *f = &files[i];
        fe_error e;
        const char *p, *end, *why;
        fe_json *h = NULL;
        long records, k;
        int complete;
        f->path = paths[i];
        if (fe_read_file(f->path, &f->bytes, &f->len, NULL, &e) != fe_ok) { fprintf(stderr, "factedit trace: --merge: %s\n", e.msg); rc = EXIT_FAIL; goto done; }
        p = (const char *)f->bytes;
        end = p + f->len;
        {
            const char *nl = (const char *)memchr(p, '\n', f->len);
            size_t hl = nl ? (size_t)(nl - p) : f->len;
            if (fe_json_parse(&h, p, hl, NULL, &e) != fe_ok) { fprintf(stderr, "factedit trace: --merge: '%s' line 1: %s\n", f->path, e.msg); rc = EXIT_FAIL; goto done; }
            if (parse_header(fe_json_root(h), &mt, &f->si, &f->sn, &records, &complete, &why)) {
                fe_json_free(h);
                fprintf(stderr, "factedit trace: --merge: '%s': %s\n", f->path, why);
                rc = EXIT_FAIL;
                goto done;
            }
            fe_json_free(h);
            p = nl ? nl + 1 : end;
        }
        if (!complete) {
            fprintf(stderr, "factedit trace: --merge: '%s' is incomplete (shard %d/%d stopped after %ld facts): run that shard again\n", f->path, f->si, f->sn, records);
            rc = EXIT_FAIL;
            goto done;
        }
        if (i == 0) { first = mt; sn = f->sn; }
        else {
            const char *d = meta_diff(&first, &mt);
            if (d) {
                fprintf(stderr, "factedit trace: --merge: '%s' and '%s' are not parts of one run: they differ in %s\n", files[0].path, f->path, d);
                rc = EXIT_FAIL;
                goto done;
            }
            if (f->sn != sn) {
                fprintf(stderr, "factedit trace: --merge: '%s' is shard %d/%d but '%s' is shard %d/%d\n", files[0].path, files[0].si, sn, f->path, f->si, f->sn);
                rc = EXIT_FAIL;
                goto done;
            }
        }
        if (records != shard_count(first.considered, f->si, f->sn)) {
            fprintf(stderr, "factedit trace: --merge: '%s' holds %ld facts; shard %d/%d of %ld facts has %ld\n", f->path, records, f->si, f->sn, first.considered,
                    shard_count(first.considered, f->si, f->sn));
            rc = EXIT_FAIL;
            goto done;
        }
        for (k = 0; p < end; k++) {
            const char *nl = (const char *)memchr(p, '\n', (size_t)(end - p));
            size_t ll = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
            fe_json *doc;
            const fe_json_value *x;
            if (nrec == rcap) {
                mrec *q;
                rcap = rcap ? 2 * rcap : 256;
                if (!(q = (mrec *)realloc(recs, sizeof(mrec) * rcap))) { rc = fail("trace", "out of memory"); goto done; }
                recs = q;
            }
            if (fe_json_parse(&doc, p, nl ? ll - 1 : ll, NULL, &e) != fe_ok) {
                fprintf(stderr, "factedit trace: --merge: '%s' line %ld: %s\n", f->path, k + 2, e.msg);
                rc = EXIT_FAIL;
                goto done;
            }
            x = fe_json_get(fe_json_root(doc), "index");
            if (!x || x->type != fe_json_number || x->number < 0 || x->number >= (double)first.considered || x->number != floor(x->number) ||
                (long)x->number % f->sn != f->si) {
                fe_json_free(doc);
                fprintf(stderr, "factedit trace: --merge: '%s' line %ld: no fact index of shard %d/%d\n", f->path, k + 2, f->si, f->sn);
                rc = EXIT_FAIL;
                goto done;
            }
            recs[nrec].index = (long)x->number; recs[nrec].line = p; recs[nrec].len = ll; recs[nrec].file = i;
            nrec++;
            fe_json_free(doc);
            p += ll;
        }
        if (k != records) {
            fprintf(stderr, "factedit trace: --merge: '%s' holds %ld records, its header says %ld\n", f->path, k, records);
            rc = EXIT_FAIL;
            goto done;
        }
    }
    /* every shard exactly once */
    if (!(have = (unsigned char *)calloc((size_t)sn, 1))) { rc = fail("trace", "out of memory"); goto done; }
    for (i = 0; i < npaths; i++) {
        if (have[files[i].si]) {
            fprintf(stderr, "factedit trace: --merge: shard %d/%d given twice ('%s')\n", files[i].si, sn, files[i].path);
            rc = EXIT_FAIL;
            goto done;
        }
        have[files[i].si] = 1;
    }
    for (i = 0; i < sn; i++)
        if (!have[i]) {
            fprintf(stderr, "factedit trace: --merge: shard %d/%d is missing\n", i, sn);
            rc = EXIT_FAIL;
            goto done;
        }
    qsort(recs, nrec, sizeof(mrec), mrec_cmp);
    for (r = 1; r < nrec; r++)
        if (recs[r].index == recs[r - 1].index) {
            fprintf(stderr, "factedit trace: --merge: fact %ld appears twice\n", recs[r].index);
            rc = EXIT_FAIL;
            goto done;
        }
    if ((long)nrec != first.considered) {
        fprintf(stderr, "factedit trace: --merge: %zu facts, expected %ld\n", nrec, first.considered);
        rc = EXIT_FAIL;
        goto done;
    }
    if (trace_agg_init(&agg, first.layers) != 0) { rc = fail("trace", "out of memory"); goto done; }
    agg_ok = 1;
    for (r = 0; r < nrec; r++) {
        fe_json *doc;
        fe_error e;
        const char *st;
        sb_putn(&lines, recs[r].line, recs[r].len);
        if (recs[r].len && recs[r].line[recs[r].len - 1] != '\n') sb_puts(&lines, "\n");
        if (fe_json_parse(&doc, recs[r].line, recs[r].len, NULL, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }
        st = json_str(fe_json_root(doc), "status");
        c.processed++;
        if (st && !strcmp(st, "kept")) {
            trace_fact tf;
            float *store = NULL;
            int pr;
            memset(&tf, 0, sizeof tf);
            if ((pr = parse_kept(fe_json_root(doc), &first, &tf, &store)) != 0) {
                free(store);
                fe_json_free(doc);
                if (pr == 2) { rc = fail("trace", "out of memory"); goto done; }
                fprintf(stderr, "factedit trace: --merge: '%s': the record of fact %ld is malformed\n", files[recs[r].file].path, recs[r].index);
                rc = EXIT_FAIL;
                goto done;
            }
            c.kept++;
            trace_agg_add(&agg, &tf);
            free(store);
        } else if (st && !strcmp(st, "wrong_prediction")) c.wrong++;
        else if (st && !strcmp(st, "error")) c.errors++;
        else {
            fe_json_free(doc);
            fprintf(stderr, "factedit trace: --merge: '%s': fact %ld has no known status\n", files[recs[r].file].path, recs[r].index);
            rc = EXIT_FAIL;
            goto done;
        }
        fe_json_free(doc);
    }
    if (c.kept == 0) {
        fprintf(stderr, "factedit trace: --merge: the shards traced no fact (%ld facts: %ld predicted another first token, %ld could not be traced): nothing to average\n",
                c.processed, c.wrong, c.errors);
        rc = EXIT_FAIL;
        goto done;
    }
    if ((rc = prepare_out_dir(out)) != 0) goto done;   /* after every check: a failed merge writes nothing */
    if ((rc = write_facts(out, &first, 0, 1, &lines, (long)nrec, 1)) != 0) goto done;
    printf("merged %d shard%s: kept %ld of %ld facts (%ld predicted another first token, %ld could not be traced)\n", sn, sn == 1 ? "" : "s", c.kept,
           c.processed, c.wrong, c.errors);
    if ((rc = write_results(out, &first, 0, 1, &c, &agg)) != 0) goto done;
    print_peaks(&first, &agg);
    rc = finish_stdout("trace");
done:
    if (agg_ok) trace_agg_free(&agg);
    sb_free(&lines);
    free(have);
    free(recs);
    for (i = 0; files && i < npaths; i++) fe_free(files[i].bytes, NULL);
    free(files);
    for (i = 0; i < npaths; i++) free(paths[i]);
    free(paths);
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
    memset(&s, 0, sizeof s);
    s.cmd = "trace";
    s.usage = "[--model FILE] --prompt TEXT --subject TEXT [options]\n"
              "       factedit trace [--model FILE] --dataset FILE --out DIR [--limit N] [--shard i/n] [options]\n"
              "       factedit trace --merge DIR... --out DIR";
    s.about = "Causal tracing (Meng et al. 2022, \"Locating and Editing Factual Associations in GPT\"): corrupt the\n"
              "subject's token embeddings with Gaussian noise, then restore one hidden state (kind hidden) or a\n"
              "window of MLP / attention outputs (kinds mlp, attn) at each token and layer to their clean values\n"
              "and measure how much of the answer's probability comes back. Scores are mean probabilities of\n"
              "the answer over the corrupted samples; low = nothing restored, high = the clean run.\n"
              "With --dataset, every fact the model predicts correctly is traced and the average indirect\n"
              "effects (score - low) are summarised in ROME's six token buckets, with the severed traces of\n"
              "the paper's Figure 3 (see tools/README-cli.md).";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
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
        rc = run_merge(s.pos, s.npos, out);
    } else if (dataset) {
        ds_args A;
        if (!out) { free(pos); return cli_usage_error(&s, "--dataset needs --out DIR"); }
        memset(&A, 0, sizeof A);
        A.model_path = model_path; A.vocab_dir = vocab_dir; A.dataset = dataset; A.out = out; A.kinds = kinds; A.samples = samples; A.window = window;
        A.limit = limit; A.shard_i = si; A.shard_n = sn; A.relative = relative; A.noise_arg = noise_arg; A.noise_text = noise; A.seed = seed;
        A.quiet = quiet;
        rc = run_dataset(&A);
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
