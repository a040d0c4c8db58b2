/* The tools' clock and progress display (tools/progress.c): one timer, one progress bar. Needs
   only libc, so the trainer (tools/train.c) links it without the rest of the CLI. */
#ifndef FACTEDIT_PROGRESS_H
#define FACTEDIT_PROGRESS_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

double cli_wall(void);   /* seconds, monotonic */

/* "1:05" (m:ss) or "2:03:04" (h:mm:ss), rounded to the second; negative as 0. */
void cli_duration(char *buf, size_t cap, double seconds);

/* bar[0..width) = '#' for the done fraction, '.' for the rest; bar[width] = 0. */
void cli_bar(char *bar, int width, double done, double total);

/* Progress on stderr: on a terminal, a bar redrawn in place (at most every 0.2 s); otherwise a
   line each time another tenth is done ("factedit CMD: 30/100 cases (30%), 0:12 elapsed, ETA 0:28").
   extra (may be NULL) follows the count: ", 12 kept". quiet: nothing at all. */
typedef struct cli_progress { int on, tty, last_tenth; double t0, last; const char *cmd, *unit; } cli_progress;
void cli_progress_init(cli_progress *p, const char *cmd, const char *unit, int quiet);
void cli_progress_show(cli_progress *p, double done, double total, const char *extra, int final);

#ifdef __cplusplus
}
#endif
#endif
