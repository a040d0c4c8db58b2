/* The tools' text buffer: see buf.h. */
#include "buf.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init(sbuf *b) { memset(b, 0, sizeof *b); }
void sb_free(sbuf *b) { free(b->p); memset(b, 0, sizeof *b); }

static int sb_reserve(sbuf *b, size_t extra) {
    size_t need, cap;
    char *p;
    if (b->failed) return 0;
    if (extra > (size_t)-1 / 2 - b->len) { b->failed = 1; return 0; }
    need = b->len + extra + 1;
    if (need <= b->cap) return 1;
    cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    if (!(p = (char *)realloc(b->p, cap))) { b->failed = 1; return 0; }
    b->p = p; b->cap = cap;
    return 1;
}

void sb_putn(sbuf *b, const char *s, size_t n) {
    if (!sb_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap) {
    va_list aq;
    int n;
    char small[256];
    va_copy(aq, ap);
    n = vsnprintf(small, sizeof small, fmt, aq);
    va_end(aq);
    if (n < 0) { b->failed = 1; return; }
    if ((size_t)n < sizeof small) { sb_putn(b, small, (size_t)n); return; }
    if (!sb_reserve(b, (size_t)n)) return;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

int utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0], cp;
    int len, i;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3;
    else if (c >= 0xF0 && c <= 0xF4) len = 4;
    else return 0;
    if ((size_t)len > n) return 0;
    cp = c & (len == 2 ? 0x1Fu : len == 3 ? 0x0Fu : 0x07u);
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    return len;
}

size_t utf8_chars(const char *s, size_t n) {
    size_t i = 0, k = 0;
    while (i < n) {
        int l = utf8_seq_len((const unsigned char *)s + i, n - i);
        i += l ? (size_t)l : 1;
        k++;
    }
    return k;
}

static const char fffd[] = "\xEF\xBF\xBD";

void sb_json_str(sbuf *b, const char *s, size_t n, sb_fffd bad) {
    size_t i = 0;
    sb_putn(b, "\"", 1);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!l) {
            if (bad == SB_FFFD_ESCAPED) sb_putn(b, "\\ufffd", 6);
            else sb_putn(b, fffd, 3);
            i++;
            continue;
        }
        if (l > 1) { sb_putn(b, s + i, (size_t)l); i += (size_t)l; continue; }
        if (c == '"') sb_putn(b, "\\\"", 2);
        else if (c == '\\') sb_putn(b, "\\\\", 2);
        else if (c == '\n') sb_putn(b, "\\n", 2);
        else if (c == '\t') sb_putn(b, "\\t", 2);
        else if (c == '\r') sb_putn(b, "\\r", 2);
        else if (c < 0x20 || c == 0x7F) sb_printf(b, "\\u%04x", c);
        else sb_putn(b, s + i, 1);
        i++;
    }
    sb_putn(b, "\"", 1);
}

void sb_json_cstr(sbuf *b, const char *s) {
    if (s) sb_json_str(b, s, strlen(s), SB_FFFD_ESCAPED);
    else sb_puts(b, "null");
}

void sb_json_num(sbuf *b, double x, int digits) {
    if (!isfinite(x)) sb_puts(b, "null");
    else sb_printf(b, "%.*g", digits, x == 0 ? 0.0 : x);   /* no "-0" */
}

void sb_xml(sbuf *b, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!l) { sb_putn(b, fffd, 3); i++; continue; }
        if (l > 1) { sb_putn(b, s + i, (size_t)l); i += (size_t)l; continue; }
        if (c == '&') sb_puts(b, "&amp;");
        else if (c == '<') sb_puts(b, "&lt;");
        else if (c == '>') sb_puts(b, "&gt;");
        else if (c == '"') sb_puts(b, "&quot;");
        else if (c >= 0x20 && c != 0x7F) sb_putn(b, s + i, 1);
        i++;
    }
}

void sb_csv_str(sbuf *b, const char *s, size_t n) {
    size_t i = 0;
    sb_putn(b, "\"", 1);
    while (i < n) {
        int l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!l) { sb_putn(b, fffd, 3); i++; continue; }
        if (s[i] == '"') sb_putn(b, "\"\"", 2);
        else sb_putn(b, s + i, (size_t)l);
        i += (size_t)l;
    }
    sb_putn(b, "\"", 1);
}

fe_result sb_write_file(const sbuf *b, const char *path, fe_error *e) {
    if (b->failed) {
        if (e) { e->code = fe_err_nomem; snprintf(e->msg, sizeof e->msg, "out of memory while preparing '%s'", path); }
        return fe_err_nomem;
    }
    return fe_write_file_atomic(path, b->p ? b->p : "", b->len, e);
}
