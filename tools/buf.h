/* A growable text buffer (for JSON, CSV, SVG and text files built in memory, then printed or
   written at once with fe_write_file_atomic), with the escaping every output of the tools uses,
   and UTF-8 checking. The one text buffer of the tools: `factedit trace` (its JSON, CSV, shard
   files and SVG figures, through tools/svg.c), edit and eval (their JSON reports). */
#ifndef FACTEDIT_BUF_H
#define FACTEDIT_BUF_H
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
/* A JSON string literal ("..."): escapes, control characters as \u00XX, invalid UTF-8 bytes as
   U+FFFD: the character itself (SB_FFFD_RAW: `factedit trace`'s files) or the escape "\ufffd"
   (SB_FFFD_ESCAPED: the reports of edit and eval). Two spellings of the same JSON, kept so that
   every output stays byte for byte what it was. */
typedef enum sb_fffd { SB_FFFD_RAW = 0, SB_FFFD_ESCAPED = 1 } sb_fffd;
void sb_json_str(sbuf *b, const char *s, size_t n, sb_fffd bad);
/* A C string as JSON (SB_FFFD_ESCAPED), or null when s is NULL. */
void sb_json_cstr(sbuf *b, const char *s);
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

#ifdef __cplusplus
}
#endif
#endif
