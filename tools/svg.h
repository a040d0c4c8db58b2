/* A tiny SVG writer into a text buffer (tools/buf.h): rectangles, text, lines, polygons, colour
   maps, axes ticks and a colour bar, and the panels `factedit trace` builds its figures from
   (heatmaps and line plots over layers). */
#ifndef FACTEDIT_SVG_H
#define FACTEDIT_SVG_H
#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================== SVG ================== */

typedef struct svg_rgb { unsigned char r, g, b; } svg_rgb;
/* The sequential colour maps of the ROME paper's figures (ColorBrewer's 9-class ramps, as in
   matplotlib): hidden states Purples, MLP Greens, attention Reds. t in [0, 1], clamped. */
typedef enum svg_cmap { SVG_PURPLES = 0, SVG_GREENS = 1, SVG_REDS = 2 } svg_cmap;
svg_rgb svg_cmap_at(svg_cmap m, double t);
svg_rgb svg_hex(unsigned x);               /* 0xRRGGBB */

void svg_begin(sbuf *b, double w, double h);      /* <svg ...> with a white background */
void svg_end(sbuf *b);
void svg_rect(sbuf *b, double x, double y, double w, double h, svg_rgb fill);
void svg_frame(sbuf *b, double x, double y, double w, double h);   /* black outline, no fill */
void svg_line(sbuf *b, double x1, double y1, double x2, double y2, svg_rgb c, double width);
/* anchor: "start", "middle" or "end"; rotate in degrees about (x, y); bold 0/1. */
void svg_text(sbuf *b, double x, double y, double size, const char *anchor, double rotate, int bold, const char *s, size_t n);
void svg_textf(sbuf *b, double x, double y, double size, const char *anchor, double rotate, int bold, const char *fmt, ...) SB_PRINTF(8, 9);
/* n points; opacity in (0, 1]. A polyline is stroked, a polygon filled. */
void svg_polyline(sbuf *b, const double *xs, const double *ys, int n, svg_rgb c, double width);
void svg_polygon(sbuf *b, const double *xs, const double *ys, int n, svg_rgb c, double opacity);
/* Estimated width of a text in the default font (for layout). */
double svg_text_width(const char *s, size_t n, double size);

/* "Nice" ticks covering [lo, hi]: steps of 1, 2 or 5 x 10^k, about `target` of them. Returns the
   count (<= cap) and widens *lo / *hi to the outer ticks. */
int svg_ticks(double *lo, double *hi, int target, double *ticks, int cap);
/* A tick label for v on an axis with ticks `step` apart whose largest magnitude is span_max: as
   many decimals as the step needs, or scientific notation for steps below 1e-4. */
void svg_fmt_tick(char *buf, size_t cap, double v, double step, double span_max);
/* A vertical colour bar at (x, y), w x h, from lo (bottom) to hi (top) with a few ticks on the right
   and `label` below it, starting at x. */
void svg_colorbar(sbuf *b, double x, double y, double w, double h, svg_cmap m, double lo, double hi, const char *label);

/* ------------------------------------------------------------------ figure panels
   Panels over a model's layers 0..L-1 (x axis), as `factedit trace` draws them. */
/* Width of a heatmap panel: row labels (lw wide), L cells of cw, the colour bar with its ticks and
   label; at least the title's and the x label's. */
double svg_heat_panel_width(const char *title, const char *xlabel, const char *cbar_label, double lw, int L, double cw);
/* A heatmap panel: rows x L values (NaN: grey) from vmin to vmax, row labels at the left
   (lw wide), layer ticks below, a colour bar at the right. Returns the panel's width. */
double svg_heat_panel(sbuf *b, double x0, double y0, const char *title, const char *xlabel, const char *const *labels,
                      const size_t *label_lens, int rows, int L, const double *vals, double vmin, double vmax, svg_cmap cm,
                      const char *cbar_label, double lw, double cw, double ch);
/* One line of a line panel: y[L], and its 95% band lo[L]..hi[L] (drawn when all finite). */
typedef struct svg_series { const char *label; svg_rgb c; double *y, *lo, *hi; } svg_series;
/* A line plot panel in a w x h box: each series a line and (when finite) its band; y from ymin
   to ymax, with the nyt ticks yt. */
void svg_line_panel(sbuf *b, double x0, double y0, double w, double h, const char *title, const char *xlabel, const char *ylabel,
                    const svg_series *s, int ns, int L, double ymin, double ymax, const double *yt, int nyt);
/* A legend: each series' colour and label, left to right from (x, y). */
void svg_legend(sbuf *b, double x, double y, const svg_series *s, int ns);
/* The y range over the series' finite values (and 0), widened to nice ticks (returned, <= cap). */
int svg_y_range(const svg_series *s, int ns, int L, double *ymin, double *ymax, double *ticks, int cap);

#ifdef __cplusplus
}
#endif
#endif
