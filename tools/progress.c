/* The tools' clock and progress display: see progress.h. */
#if !defined(_POSIX_C_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L   /* clock_gettime, fileno, isatty */
#endif
#include "progress.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define PROGRESS_ISATTY(f) isatty(fileno(f))
#else
#define PROGRESS_ISATTY(f) 0
#endif

double cli_wall(void) {
#if defined(CLOCK_MONOTONIC) && defined(_POSIX_C_SOURCE)
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

void cli_duration(char *buf, size_t cap, double s) {
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void cli_bar(char *bar, int width, double done, double total) {
    int i, fill = total > 0 ? (int)(width * done / total) : width;
    for (i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
}

void cli_progress_init(cli_progress *p, const char *cmd, const char *unit, int quiet) {
    memset(p, 0, sizeof *p);
    p->on = !quiet;
    p->tty = PROGRESS_ISATTY(stderr);
    p->t0 = p->last = cli_wall();
    p->cmd = cmd;
    p->unit = unit;
    p->last_tenth = -1;
}

void cli_progress_show(cli_progress *p, double done, double total, const char *extra, int final) {
    double t = cli_wall(), el = t - p->t0;
    int tenth = total > 0 ? (int)(10 * done / total) : 10;
    char e1[32], e2[32];
    if (!p->on) return;
    if (p->tty && !final && t - p->last < 0.2) return;
    if (!p->tty && tenth == p->last_tenth) return;
    p->last = t;
    p->last_tenth = tenth;
    cli_duration(e1, sizeof e1, el);
    if (done > 0 && done < total) cli_duration(e2, sizeof e2, el / done * (total - done));
    else snprintf(e2, sizeof e2, done >= total ? "0:00" : "?");
    if (p->tty) {
        char bar[31];
        cli_bar(bar, 30, done, total);
        fprintf(stderr, "\r[%s] %.0f/%.0f %s%s, %s elapsed, ETA %s  %s", bar, done, total, p->unit, extra ? extra : "", e1, e2,
                final ? "\n" : "");
    } else {
        fprintf(stderr, "factedit %s: %.0f/%.0f %s%s (%d%%), %s elapsed, ETA %s\n", p->cmd, done, total, p->unit, extra ? extra : "",
                total > 0 ? (int)(100 * done / total) : 100, e1, e2);
    }
    fflush(stderr);
}
