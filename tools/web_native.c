/* The page's C API (tools/web_api.c) compiled natively, driven from the command line: the tests
   (tests/web_node.js) run the same commands here and in the WebAssembly module under node and
   compare the JSON.

   usage: web_native MODEL_DIR STATS|- COMMAND...
     MODEL_DIR holds model.bin, encoder.json and vocab.bpe; STATS a statistics file or - for none.
     Commands (each followed by its arguments):
       info | tokenize TEXT | generate TEXT N | topk TEXT K | logits TEXT
       trace PROMPT SUBJECT KINDS SAMPLES WINDOW SIGMAS SEED
       compute PROMPT SUBJECT TARGET SEED | apply | undo
       save FILE (the computed edit as a patch) | patch FILE (apply a patch)
   Prints one JSON object per command and line: {"cmd": NAME, "ms": wall time, "result": ...} or
   {"cmd": NAME, "ms": ..., "error": "..."}; exits 1 if a command failed. */
#if !defined(_POSIX_C_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L
#endif
#include "web_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
#else
    return (double)clock() * 1e3 / CLOCKS_PER_SEC;
#endif
}

static char *slurp(const char *dir, const char *name, size_t *len) {
    char path[4096];
    FILE *f;
    char *p = NULL;
    long n;
    if (name) snprintf(path, sizeof path, "%s/%s", dir, name);
    else snprintf(path, sizeof path, "%s", dir);
    if (!(f = fopen(path, "rb"))) { fprintf(stderr, "web_native: cannot open %s\n", path); return NULL; }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = (char *)malloc((size_t)n + 1)) &&
        fread(p, 1, (size_t)n, f) == (size_t)n) {
        p[n] = 0;
        *len = (size_t)n;
    } else {
        fprintf(stderr, "web_native: cannot read %s\n", path);
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static void progress(int iter, int evals, double loss, double nll, double kl, double wd, double dn) {
    (void)iter; (void)evals; (void)loss; (void)nll; (void)kl; (void)wd; (void)dn;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    size_t ml = 0, el = 0, bl = 0, sl = 0;
    char *model, *enc, *bpe, *stats = NULL;
    int i = 3, failed = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: web_native MODEL_DIR STATS|- COMMAND...\n");
        return 2;
    }
    model = slurp(argv[1], "model.bin", &ml);
    enc = slurp(argv[1], "encoder.json", &el);
    bpe = slurp(argv[1], "vocab.bpe", &bl);
    if (strcmp(argv[2], "-") && !(stats = slurp(argv[2], NULL, &sl))) return 1;
    if (!model || !enc || !bpe) return 1;
    fw_set_progress(progress);
    if (fw_init(model, ml, enc, el, bpe, bl, stats, sl)) { fprintf(stderr, "web_native: %s\n", fw_error()); return 1; }
    free(model); free(enc); free(bpe); free(stats);
    while (i < argc) {
        const char *cmd = argv[i++], *r = NULL;
        int need = !strcmp(cmd, "tokenize") || !strcmp(cmd, "logits") ? 1
                   : !strcmp(cmd, "generate") || !strcmp(cmd, "topk") ? 2
                   : !strcmp(cmd, "trace") ? 7
                   : !strcmp(cmd, "compute") ? 4
                   : !strcmp(cmd, "save") || !strcmp(cmd, "patch") ? 1
                   : !strcmp(cmd, "info") || !strcmp(cmd, "apply") || !strcmp(cmd, "undo") ? 0 : -1;
        double t0;
        char **a = argv + i;
        if (need < 0) { fprintf(stderr, "web_native: unknown command '%s'\n", cmd); return 2; }
        if (i + need > argc) { fprintf(stderr, "web_native: %s needs %d arguments\n", cmd, need); return 2; }
        i += need;
        t0 = now_ms();
        if (!strcmp(cmd, "info")) r = fw_info();
        else if (!strcmp(cmd, "tokenize")) r = fw_tokenize(a[0]);
        else if (!strcmp(cmd, "generate")) r = fw_generate(a[0], atoi(a[1]));
        else if (!strcmp(cmd, "topk")) r = fw_topk(a[0], atoi(a[1]));
        else if (!strcmp(cmd, "logits")) r = fw_logits(a[0]);
        else if (!strcmp(cmd, "trace")) r = fw_trace(a[0], a[1], atoi(a[2]), atoi(a[3]), atoi(a[4]), atof(a[5]), atof(a[6]));
        else if (!strcmp(cmd, "compute")) r = fw_edit_compute(a[0], a[1], a[2], atof(a[3]));
        else if (!strcmp(cmd, "apply")) r = fw_edit_apply();
        else if (!strcmp(cmd, "save")) {
            size_t n = 0;
            const unsigned char *b = fw_edit_save(&n);
            FILE *f = b ? fopen(a[0], "wb") : NULL;
            r = b && f && fwrite(b, 1, n, f) == n ? "{}" : NULL;
            if (f && fclose(f)) r = NULL;
            if (b && !r) { fprintf(stderr, "web_native: cannot write %s\n", a[0]); return 1; }
        } else if (!strcmp(cmd, "patch")) {
            size_t n = 0;
            char *b = slurp(a[0], NULL, &n);
            if (!b) return 1;
            r = fw_patch_apply(b, n);
            free(b);
        }
        else r = fw_edit_undo();
        printf("{\"cmd\": \"%s\", \"ms\": %.3f, ", cmd, now_ms() - t0);
        if (r) printf("\"result\": %s}\n", r);
        else { printf("\"error\": "); json_str(fw_error()); printf("}\n"); failed = 1; }
    }
    return failed;
}
