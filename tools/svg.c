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
