/* A growable text buffer (for files written at once with fe_write_file_atomic) and a tiny SVG
   writer: rectangles, text, lines, polygons, colour maps, axes ticks and a colour bar. Used by
   `factedit trace` (tools/cmd_trace.c) for its heatmaps and line plots. */
#ifndef FACTEDIT_SVG_H
#define FACTEDIT_SVG_H
#include "factedit.h"
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define SB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SB_PRINTF(a, b)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Text buffer. An allocation failure sets `failed` and drops later output; sb_write_file then fails. */
typedef struct sbuf { char *p; size_t len, cap; int failed; } sbuf;
void sb_init(sbuf *b);
void sb_free(sbuf *b);
void sb_putn(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) SB_PRINTF(2, 3);
/* A JSON string literal ("..."): escapes, control characters as \u00XX, invalid UTF-8 as U+FFFD. */
void sb_json_str(sbuf *b, const char *s, size_t n);
/* A number for JSON: %.*g, or null when not finite. */
void sb_json_num(sbuf *b, double x, int digits);
/* XML text: & < > " escaped, control characters dropped, invalid UTF-8 as U+FFFD. */
void sb_xml(sbuf *b, const char *s, size_t n);
/* A CSV field: always quoted, quotes doubled, invalid UTF-8 as U+FFFD. */
void sb_csv_str(sbuf *b, const char *s, size_t n);
/* Writes the buffer to path atomically (fe_write_file_atomic). */
fe_result sb_write_file(const sbuf *b, const char *path, fe_error *e);

/* Length of the UTF-8 sequence starting at s[0] (1..4), or 0 if it is not a valid one. */
int utf8_seq_len(const unsigned char *s, size_t n);
/* Number of characters (valid sequences; each invalid byte counts one). */
size_t utf8_chars(const char *s, size_t n);

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

#ifdef __cplusplus
}
#endif
#endif
