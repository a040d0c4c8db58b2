/* SVG writer: see svg.h. */
#include "svg.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================== SVG ================== */

static const unsigned ramps[3][9] = {
    {0xfcfbfd, 0xefedf5, 0xdadaeb, 0xbcbddc, 0x9e9ac8, 0x807dba, 0x6a51a3, 0x54278f, 0x3f007d},   /* Purples */
    {0xf7fcf5, 0xe5f5e0, 0xc7e9c0, 0xa1d99b, 0x74c476, 0x41ab5d, 0x238b45, 0x006d2c, 0x00441b},   /* Greens */
    {0xfff5f0, 0xfee0d2, 0xfcbba1, 0xfc9272, 0xfb6a4a, 0xef3b2c, 0xcb181d, 0xa50f15, 0x67000d},   /* Reds */
};

svg_rgb svg_hex(unsigned x) {
    svg_rgb c;
    c.r = (unsigned char)(x >> 16); c.g = (unsigned char)(x >> 8); c.b = (unsigned char)x;
    return c;
}

svg_rgb svg_cmap_at(svg_cmap m, double t) {
    const unsigned *r = ramps[(int)m < 0 || (int)m > 2 ? 0 : (int)m];
    double u;
    int i;
    svg_rgb a, b, c;
    if (!(t > 0)) t = 0;   /* NaN too */
    if (t > 1) t = 1;
    u = t * 8.0;
    i = (int)u;
    if (i >= 8) return svg_hex(r[8]);
    u -= i;
    a = svg_hex(r[i]); b = svg_hex(r[i + 1]);
    c.r = (unsigned char)floor(a.r + (b.r - a.r) * u + 0.5);
    c.g = (unsigned char)floor(a.g + (b.g - a.g) * u + 0.5);
    c.b = (unsigned char)floor(a.b + (b.b - a.b) * u + 0.5);
    return c;
}

static const char *font = "font-family=\"Times New Roman, Times, DejaVu Serif, serif\"";

void svg_begin(sbuf *b, double w, double h) {
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n"
                 "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w, h, w, h, w, h);
}
void svg_end(sbuf *b) { sb_puts(b, "</svg>\n"); }

void svg_rect(sbuf *b, double x, double y, double w, double h, svg_rgb f) {
    sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#%02x%02x%02x\"/>\n", x, y, w, h, f.r, f.g, f.b);
}
void svg_frame(sbuf *b, double x, double y, double w, double h) {
    sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#000000\" stroke-width=\"0.8\"/>\n", x, y, w, h);
}
void svg_line(sbuf *b, double x1, double y1, double x2, double y2, svg_rgb c, double width) {
    sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#%02x%02x%02x\" stroke-width=\"%.2f\"/>\n",
              x1, y1, x2, y2, c.r, c.g, c.b, width);
}

void svg_text(sbuf *b, double x, double y, double size, const char *anchor, double rotate, int bold, const char *s, size_t n) {
    sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" %s text-anchor=\"%s\"%s xml:space=\"preserve\"", x, y, size, font, anchor,
              bold ? " font-weight=\"bold\"" : "");
    if (rotate != 0) sb_printf(b, " transform=\"rotate(%.1f %.2f %.2f)\"", rotate, x, y);
    sb_puts(b, ">");
    sb_xml(b, s, n);
    sb_puts(b, "</text>\n");
}

void svg_textf(sbuf *b, double x, double y, double size, const char *anchor, double rotate, int bold, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    svg_text(b, x, y, size, anchor, rotate, bold, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void points(sbuf *b, const double *xs, const double *ys, int n) {
    int i;
    sb_puts(b, " points=\"");
    for (i = 0; i < n; i++) sb_printf(b, "%s%.2f,%.2f", i ? " " : "", xs[i], ys[i]);
    sb_puts(b, "\"");
}

void svg_polyline(sbuf *b, const double *xs, const double *ys, int n, svg_rgb c, double width) {
    if (n < 1) return;
    sb_puts(b, "<polyline fill=\"none\"");
    sb_printf(b, " stroke=\"#%02x%02x%02x\" stroke-width=\"%.2f\" stroke-linejoin=\"round\"", c.r, c.g, c.b, width);
    points(b, xs, ys, n);
    sb_puts(b, "/>\n");
}

void svg_polygon(sbuf *b, const double *xs, const double *ys, int n, svg_rgb c, double opacity) {
    if (n < 3) return;
    sb_printf(b, "<polygon fill=\"#%02x%02x%02x\" fill-opacity=\"%.2f\" stroke=\"none\"", c.r, c.g, c.b, opacity);
    points(b, xs, ys, n);
    sb_puts(b, "/>\n");
}

double svg_text_width(const char *s, size_t n, double size) { return 0.54 * size * (double)utf8_chars(s, n); }

int svg_ticks(double *lo, double *hi, int target, double *ticks, int cap) {
    double span = *hi - *lo, raw, mag, norm, step, start, end;
    int n, i;
    if (!(span > 0)) { span = fabs(*hi) > 0 ? fabs(*hi) : 1.0; *lo -= span / 2; *hi += span / 2; span = *hi - *lo; }
    if (target < 1) target = 1;
    raw = span / target;
    mag = pow(10.0, floor(log10(raw)));
    norm = raw / mag;
    step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    start = floor(*lo / step + 1e-9) * step;
    end = ceil(*hi / step - 1e-9) * step;
    n = (int)floor((end - start) / step + 0.5) + 1;
    if (n > cap) n = cap;
    for (i = 0; i < n; i++) {
        double t = start + i * step;
        ticks[i] = fabs(t) < step * 1e-9 ? 0.0 : t;
    }
    *lo = start; *hi = start + (n - 1) * step;
    return n;
}

void svg_fmt_tick(char *buf, size_t cap, double v, double step, double span_max) {
    double a = fabs(span_max) > fabs(v) ? fabs(span_max) : fabs(v);
    if (v == 0) { snprintf(buf, cap, "0"); return; }
    if (step >= 1e-4 && a < 1e6) {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        snprintf(buf, cap, "%.*f", dec, v);
    } else {
        int sig = a > 0 && step > 0 ? (int)floor(log10(a) + 1e-9) - (int)floor(log10(step) + 1e-9) + 1 : 3;
        if (sig < 1) sig = 1;
        if (sig > 9) sig = 9;
        snprintf(buf, cap, "%.*e", sig - 1, v);
    }
}

void svg_colorbar(sbuf *b, double x, double y, double w, double h, svg_cmap m, double lo, double hi, const char *label) {
    int i, n, k;
    double ticks[16], tlo = lo, thi = hi;
    char num[48];
    const int steps = 64;
    for (i = 0; i < steps; i++) {
        double t = (i + 0.5) / steps;
        svg_rect(b, x, y + h - (i + 1) * h / steps, w, h / steps + 0.3, svg_cmap_at(m, t));
    }
    svg_frame(b, x, y, w, h);
    if (hi > lo) {
        double eps = (hi - lo) * 1e-9;
        n = svg_ticks(&tlo, &thi, 4, ticks, 16);
        for (k = 0; k < n; k++) {
            double yy;
            if (ticks[k] < lo - eps || ticks[k] > hi + eps) continue;
            yy = y + h - (ticks[k] - lo) / (hi - lo) * h;
            svg_line(b, x + w, yy, x + w + 3, yy, svg_hex(0), 0.8);
            svg_fmt_tick(num, sizeof num, ticks[k], n > 1 ? ticks[1] - ticks[0] : hi - lo, fabs(lo) > fabs(hi) ? lo : hi);
            svg_text(b, x + w + 5, yy + 3.5, 10, "start", 0, 0, num, strlen(num));
        }
    } else {
        svg_textf(b, x + w + 5, y + h + 3.5, 10, "start", 0, 0, "%.4g", lo);
    }
    if (label) svg_text(b, x, y + h + 14, 11, "start", 0, 0, label, strlen(label));
}

/* ================================================================== figure panels ======= */

static double tick_step(int L) { return L <= 6 ? 1 : 5; }

/* Width of a heatmap panel: labels, cells, colour bar with its ticks and label; at least the title. */
static double heat_content_width(const char *cbar_label, double lw, int L, double cw) {
    double lab = svg_text_width(cbar_label, strlen(cbar_label), 11);
    return lw + L * cw + 12 + 10 + (lab > 64 ? lab : 64);
}
double svg_heat_panel_width(const char *title, const char *xlabel, const char *cbar_label, double lw, int L, double cw) {
    double c = heat_content_width(cbar_label, lw, L, cw), t = svg_text_width(title, strlen(title), 12) + 16,
           x = svg_text_width(xlabel, strlen(xlabel), 11) + 16;
    if (t > c) c = t;
    return x > c ? x : c;
}

/* A heatmap panel: rows x L values (NaN: grey) from vmin to vmax, row labels at the left
   (lw wide), layer ticks below, a colour bar at the right. Returns the panel's width. */
double svg_heat_panel(sbuf *b, double x0, double y0, const char *title, const char *xlabel, const char *const *labels,
                             const size_t *label_lens, int rows, int L, const double *vals, double vmin, double vmax, svg_cmap cm,
                             const char *cbar_label, double lw, double cw, double ch) {
    double pw = svg_heat_panel_width(title, xlabel, cbar_label, lw, L, cw), hx = x0 + (pw - heat_content_width(cbar_label, lw, L, cw)) / 2 + lw,
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

static int all_finite(const double *x, int n) {
    int i;
    for (i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
    return 1;
}

/* A line plot panel over layers 0..L-1 in a w x h box: each svg_series a line and (when finite) a 95%
   band; y from ymin to ymax (ticks every ystep). */
void svg_line_panel(sbuf *b, double x0, double y0, double w, double h, const char *title, const char *xlabel, const char *ylabel,
                           const svg_series *s, int ns, int L, double ymin, double ymax, const double *yt, int nyt) {
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

void svg_legend(sbuf *b, double x, double y, const svg_series *s, int ns) {
    int i;
    for (i = 0; i < ns; i++) {
        svg_line(b, x, y - 4, x + 18, y - 4, s[i].c, 2.5);
        svg_text(b, x + 22, y, 11, "start", 0, 0, s[i].label, strlen(s[i].label));
        x += 36 + svg_text_width(s[i].label, strlen(s[i].label), 11);
    }
}

/* y range over the svg_series' finite values (and 0), widened to nice ticks. */
int svg_y_range(const svg_series *s, int ns, int L, double *ymin, double *ymax, double *ticks, int cap) {
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
