/* Shared part of the fuzz targets (tests/fuzz/fuzz_*.c). Include it FIRST, before factedit.h:
   it routes the library's allocator through a counting allocator with failure injection.

   Each target defines
       static void fz_target(const uint8_t *data, size_t size);
   and this header defines LLVMFuzzerTestOneInput around it: the input runs once normally, then
   once more with the k-th library allocation failing (k picked from a hash of the input among the
   allocations the first run made). The second run must fail cleanly: no crash, no leak (LeakSanitizer),
   and no fe_ok from a call whose allocation failed (fz_oom_hit tells a target that a NULL was given
   out, so it relaxes its "must succeed" checks).

   Build modes
     clang -fsanitize=fuzzer,address,undefined ...   libFuzzer provides main (make fuzz)
     cc -DFUZZ_REPLAY ...                            main() below: runs every file of the directories
                                                     and files named on the command line through the
                                                     target once and prints "N passed, 0 failed"; a crash
                                                     or a failed invariant (abort) exits non-zero.
   Invariant violations call abort() via FZ_CHECK, so libFuzzer saves the input as a crash. */
#ifndef FACTEDIT_FUZZ_H
#define FACTEDIT_FUZZ_H
#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define FZ_FN static __attribute__((unused))
#else
#define FZ_FN static
#endif

/* ------------------------------------------------------------ failure-injecting allocator -- */

static long fz_calls;          /* library allocations (malloc + realloc) in this run */
static long fz_fail_at = -1;   /* the fz_fail_at-th allocation (0-based) returns NULL; < 0: never */
static int fz_oom_hit;         /* 1 once an allocation was refused in this run */

static void *fz_malloc(size_t n, void *u) {
    (void)u;
    if (fz_calls++ == fz_fail_at) { fz_oom_hit = 1; return NULL; }
    return malloc(n);
}
static void *fz_realloc(void *p, size_t n, void *u) {
    (void)u;
    if (fz_calls++ == fz_fail_at) { fz_oom_hit = 1; return NULL; }
    return realloc(p, n);
}
static void fz_free(void *p, void *u) { (void)u; free(p); }
#define FACTEDIT_MALLOC(sz, u) fz_malloc((sz), (u))
#define FACTEDIT_REALLOC(p, sz, u) fz_realloc((p), (sz), (u))
#define FACTEDIT_FREE(p, u) fz_free((p), (u))
#include "factedit.h"   /* the declarations (fe_fnv1a64); the target includes it again for the implementation */

/* ---------------------------------------------------------------------------- checks -- */

#define FZ_CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); abort(); } } while (0)

/* Copy of n bytes in a buffer of exactly n bytes (plus a NUL when nul is set), so that AddressSanitizer
   sees any read past the end of a part of the input. */
FZ_FN char *fz_dup(const uint8_t *p, size_t n, int nul) {
    size_t sz = n + (nul ? 1 : 0);
    char *b = (char *)malloc(sz ? sz : 1);
    if (!b) abort();
    if (n) memcpy(b, p, n);
    else b[0] = 0;
    if (nul) b[n] = 0;
    return b;
}

/* Splits data at its first max-1 NUL bytes into parts; returns the number of parts (>= 1). */
FZ_FN int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max) {
    int k = 0;
    size_t start = 0, i;
    for (i = 0; i < size && k + 1 < max; i++)
        if (data[i] == 0) { part[k] = data + start; len[k] = i - start; k++; start = i + 1; }
    part[k] = data + start; len[k] = size - start;
    return k + 1;
}

/* Which allocation fails on an input's second run: the library's FNV-1a (fe_fnv1a64) of the input,
   its high bits folded in. Started from 1469598103934665603, not FNV's offset basis, as it always
   was: every committed input keeps the failure point it was found and checked with. */
#define FZ_FAIL_SEED 1469598103934665603ull
static uint64_t fz_hash(const uint8_t *p, size_t n) {
    uint64_t h = fe_fnv1a64(FZ_FAIL_SEED, p, n);
    return h ^ (h >> 29);
}

static void fz_target(const uint8_t *data, size_t size);

#ifdef __cplusplus
extern "C"
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    long n;
    fz_calls = 0; fz_fail_at = -1; fz_oom_hit = 0;
    fz_target(data, size);
    n = fz_calls;
    if (n > 0) {   /* again, with one allocation failing */
        fz_calls = 0; fz_oom_hit = 0;
        fz_fail_at = (long)(fz_hash(data, size) % (uint64_t)n);
        fz_target(data, size);
        fz_fail_at = -1; fz_oom_hit = 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------ replay driver -- */
#ifdef FUZZ_REPLAY
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *fz_current;   /* file being replayed, reported if the run dies */

static void fz_report(void) {
    if (fz_current) {
        static const char pre[] = "fuzz replay: died on input ";
        ssize_t w = write(2, pre, sizeof pre - 1);
        w = write(2, fz_current, strlen(fz_current));
        w = write(2, "\n", 1);
        (void)w;
    }
}
static void fz_on_signal(int sig) { fz_report(); signal(sig, SIG_DFL); raise(sig); }

#if defined(__GNUC__) || defined(__clang__)
/* Provided by the sanitizer runtimes only (weak: NULL in a plain build). */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
#define FZ_HAVE_DEATH_CALLBACK 1
#endif

static int fz_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int fz_run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long sz;
    if (!f) { fprintf(stderr, "fuzz replay: cannot open %s\n", path); return 0; }
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return 0; }
    buf = (uint8_t *)malloc(sz ? (size_t)sz : 1);   /* exactly the input's size: over-reads are caught */
    if (!buf || (sz && fread(buf, 1, (size_t)sz, f) != (size_t)sz)) { fclose(f); free(buf); return 0; }
    fclose(f);
    fz_current = path;
    LLVMFuzzerTestOneInput(buf, (size_t)sz);
    fz_current = NULL;
    free(buf);
    return 1;
}

/* Runs path (a file, or every file of a directory, sorted by name; names starting with '.' skipped). */
static int fz_run_path(const char *path, int *passed) {
    struct stat st;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int ok = 1;
    if (stat(path, &st) != 0) { fprintf(stderr, "fuzz replay: %s does not exist\n", path); return 0; }
    if (!S_ISDIR(st.st_mode)) { if (!fz_run_file(path)) return 0; (*passed)++; return 1; }
    if (!(d = opendir(path))) { fprintf(stderr, "fuzz replay: cannot open directory %s\n", path); return 0; }
    while ((e = readdir(d)) != NULL) {
        size_t l;
        if (e->d_name[0] == '.') continue;
        if (n == cap) { cap = cap ? 2 * cap : 64; names = (char **)realloc(names, cap * sizeof *names); if (!names) abort(); }
        l = strlen(path) + strlen(e->d_name) + 2;
        names[n] = (char *)malloc(l);
        if (!names[n]) abort();
        snprintf(names[n], l, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, fz_cmp_str);
    for (i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISDIR(st.st_mode)) { if (!fz_run_path(names[i], passed)) ok = 0; }
        else if (fz_run_file(names[i])) (*passed)++;
        else ok = 0;
        free(names[i]);
    }
    free(names);
    return ok;
}

int main(int argc, char **argv) {
    int i, passed = 0, ok = 1;
    signal(SIGABRT, fz_on_signal);
    signal(SIGSEGV, fz_on_signal);
    signal(SIGBUS, fz_on_signal);
    signal(SIGFPE, fz_on_signal);
#ifdef FZ_HAVE_DEATH_CALLBACK
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(fz_report);
#endif
    if (argc < 2) { fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]); return 2; }
    for (i = 1; i < argc; i++) if (!fz_run_path(argv[i], &passed)) ok = 0;
    printf("%d passed, %d failed\n", passed, ok ? 0 : 1);
    return ok ? 0 : 1;
}
#endif /* FUZZ_REPLAY */
#endif /* FACTEDIT_FUZZ_H */
