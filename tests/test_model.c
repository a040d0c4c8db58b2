/* Model loading (every hostile header), save/load round trips, mmap copy-on-write, SIMD matmul
   versus the scalar reference, KV cache versus a full forward, batches, hooks, sampling and
   thread-count independence. Runs from the repository root. */
#define _POSIX_C_SOURCE 200809L   /* mkfifo, fork, alarm: the file-helper tests */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

static fe_model *random_model(int L, int NH, int C, int V, int T, uint64_t seed) {
    fe_config c;
    fe_model *m;
    fe_error e;
    c.num_layers = L; c.num_heads = NH; c.channels = C; c.vocab_size = V; c.padded_vocab_size = (V + 127) / 128 * 128; c.max_seq_len = T;
    if (fe_model_new(&m, &c, NULL, &e) != fe_ok) { printf("model: %s\n", e.msg); return NULL; }
    fe_model_randomize(m, seed);
    return m;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double w = 0.0;
    size_t i;
    for (i = 0; i < n; i++) { double d = fabs((double)a[i] - (double)b[i]); if (!(d <= w)) w = d; }
    return w;
}

static void put32(unsigned char *p, int32_t v) { fe__wr32le(p, (uint32_t)v); }

/* Loading a corrupted copy must fail with `code` and a message containing `part`. */
static void bad_ckpt(const char *what, const unsigned char *bytes, size_t len, fe_result code, const char *part) {
    fe_model *m = (fe_model *)1;
    fe_error e;
    fe_result r;
    memset(&e, 0, sizeof e);
    r = fe_model_load_mem(&m, bytes, len, NULL, &e);
    CHECKF(r == code && m == NULL, "%s: got %d (%s), want %d", what, (int)r, e.msg, (int)code);
    CHECKF(strstr(e.msg, part) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, part);
}

static void test_hostile_checkpoints(void) {
    fe_model *m = random_model(2, 2, 8, 50, 16, 1), *m2;
    unsigned char *b, *c;
    size_t n;
    fe_error e;
    float nan = NAN;
    TEST("hostile checkpoints") {
        CHECK_CODE(fe_model_save_mem(m, 3, &b, &n, &e), fe_ok);
        c = (unsigned char *)malloc(n);
        CHECK_CODE(fe_model_load_mem(&m2, b, n, NULL, &e), fe_ok);
        CHECK(m2 && fe_model_checksum(m2) == fe_model_checksum(m));
        fe_model_free(m2);
        bad_ckpt("empty", b, 0, fe_err_format, "header alone needs 1024");
        bad_ckpt("truncated header", b, 1000, fe_err_format, "header alone needs 1024");
        bad_ckpt("truncated data", b, n - 4, fe_err_format, "needs");
        memcpy(c, b, n); put32(c, 12345);
        bad_ckpt("wrong magic", c, n, fe_err_format, "bad magic 12345");
        memcpy(c, b, n); put32(c + 4, 4);
        bad_ckpt("wrong version", c, n, fe_err_unsupported, "version 4");
        memcpy(c, b, n); put32(c + 16, 0);
        bad_ckpt("zero layers", c, n, fe_err_limit, "0 layers");
        memcpy(c, b, n); put32(c + 16, 1 << 30);
        bad_ckpt("huge layers", c, n, fe_err_limit, "layers");
        memcpy(c, b, n); put32(c + 24, -8);
        bad_ckpt("negative width", c, n, fe_err_limit, "width");
        memcpy(c, b, n); put32(c + 24, 9);
        bad_ckpt("width not multiple of heads", c, n, fe_err_format, "not a multiple");
        memcpy(c, b, n); put32(c + 28, 10);
        bad_ckpt("padded vocab below vocab", c, n, fe_err_format, "padded vocabulary");
        memcpy(c, b, n); put32(c + 12, 1 << 30);
        bad_ckpt("huge vocab", c, n, fe_err_limit, "vocabulary");
        memcpy(c, b, n); put32(c + 8, 17);
        bad_ckpt("header disagrees with length", c, n, fe_err_format, "needs");
        memcpy(c, b, n); put32(c + 24, 16000); put32(c + 16, 256); put32(c + 20, 1000);
        bad_ckpt("dims huge but within limits", c, n, fe_err_format, "needs");
        memcpy(c, b, n); memcpy(c + 1024 + 4 * 100, &nan, 4);
        bad_ckpt("NaN weight", c, n, fe_err_numeric, "NaN");
        {
            fe_load_opts o;
            memset(&o, 0, sizeof o);
            o.allow_nonfinite = 1;
            CHECK_CODE(fe_model_load_mem(&m2, c, n, &o, &e), fe_ok);
            fe_model_free(m2);
        }
        CHECK_CODE(fe_model_load_mem(NULL, b, n, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_model_load_file(&m2, "tests/data/does-not-exist.bin", NULL, &e), fe_err_io);
        CHECK(strstr(e.msg, "does-not-exist.bin") != NULL);
        CHECK_CODE(fe_model_load_file(&m2, "tests/data", NULL, &e), fe_err_io);
        free(c);
        free(b);
    }
    fe_model_free(m);
}

#if defined(__unix__) || defined(__APPLE__)
static int exists(const char *path) { struct stat st; return stat(path, &st) == 0; }

/* The file helpers (issue 14): a FIFO is refused without blocking (alarm: a regression fails
   instead of hanging), OS errors carry their reason, and a save removes the temp files of killed
   saves to the same destination (PATH.tmp.PID of a process that is gone), and only those. */
static void test_file_helpers(void) {
    const char *fifo = "build/test_model_fifo.bin", *dest = "build/test_model_stale.bin", *vdir = "build/test_model_vocab_fifo";
    char dead[256], alive[256], other[256], notpid[256], vfifo[256];
    fe_model *m = random_model(1, 1, 8, 20, 8, 3), *m2 = NULL;
    fe_vocab *v = NULL;
    unsigned char *b = NULL;
    size_t n = 0;
    fe_error e;
    pid_t child;
    FILE *f;
    TEST("file helpers: FIFOs, reasons, stale temporary files") {
        remove(fifo);
        CHECK(mkfifo(fifo, 0600) == 0);
        alarm(20);
        CHECK_CODE(fe_model_load_file(&m2, fifo, NULL, &e), fe_err_io);
        CHECKF(strstr(e.msg, "checkpoint: 'build/test_model_fifo.bin' is not a regular file (it is a FIFO)") != NULL, "%s", e.msg);
        CHECK_CODE(fe_read_file(fifo, &b, &n, NULL, &e), fe_err_io);
        CHECKF(strstr(e.msg, "is not a regular file (it is a FIFO)") != NULL, "%s", e.msg);
        mkdir(vdir, 0755);
        snprintf(vfifo, sizeof vfifo, "%s/vocab.bpe", vdir);
        remove(vfifo);
        CHECK(mkfifo(vfifo, 0600) == 0);
        CHECK_CODE(fe_vocab_load_dir(&v, vdir, NULL, &e), fe_err_io);
        CHECKF(strstr(e.msg, "vocab.bpe' is not a regular file (it is a FIFO)") != NULL, "%s", e.msg);
        alarm(0);
        remove(vfifo);
        CHECK(mkdir(vfifo, 0755) == 0);   /* a directory where vocab.bpe should be */
        CHECK_CODE(fe_vocab_load_dir(&v, vdir, NULL, &e), fe_err_io);
        CHECKF(strstr(e.msg, "vocab.bpe' is not a regular file (it is a directory)") != NULL, "%s", e.msg);
        rmdir(vfifo);
        rmdir(vdir);
        remove(fifo);
        CHECK_CODE(fe_model_load_file(&m2, "tests/data", NULL, &e), fe_err_io);
        CHECKF(strstr(e.msg, "checkpoint: 'tests/data' is not a regular file (it is a directory)") != NULL, "%s", e.msg);
        CHECK_CODE(fe_read_file("tests/data/does-not-exist.bin", &b, &n, NULL, &e), fe_err_io);
        CHECKF(strstr(e.msg, "cannot open 'tests/data/does-not-exist.bin': No such file or directory") != NULL, "%s", e.msg);
        CHECK_CODE(fe_model_load_file(&m2, "tests/data/does-not-exist.bin", NULL, &e), fe_err_io);
        CHECKF(strstr(e.msg, "No such file or directory") != NULL, "%s", e.msg);
        CHECK_CODE(fe_write_file_atomic("build/no-such-dir/x.bin", "x", 1, &e), fe_err_io);
        CHECKF(strstr(e.msg, "cannot create 'build/no-such-dir/x.bin.tmp.") != NULL && strstr(e.msg, "No such file or directory") != NULL, "%s", e.msg);
        CHECK_CODE(fe_write_file_atomic("tests/data", "x", 1, &e), fe_err_io);
        CHECKF(strstr(e.msg, "cannot rename") != NULL && strstr(e.msg, "Is a directory") != NULL, "%s", e.msg);
        /* stale temps: a process that has exited, this one (alive), another destination, not a pid */
        child = fork();
        if (child == 0) _exit(0);
        CHECK(child > 0 && waitpid(child, NULL, 0) == child);
        snprintf(dead, sizeof dead, "%s.tmp.%ld", dest, (long)child);
        snprintf(alive, sizeof alive, "%s.tmp.%ld", dest, (long)getppid());
        snprintf(other, sizeof other, "build/test_model_other.bin.tmp.%ld", (long)child);
        snprintf(notpid, sizeof notpid, "%s.tmp.12ab", dest);
        if ((f = fopen(dead, "wb"))) fclose(f);
        if ((f = fopen(alive, "wb"))) fclose(f);
        if ((f = fopen(other, "wb"))) fclose(f);
        if ((f = fopen(notpid, "wb"))) fclose(f);
        CHECK(exists(dead) && exists(alive) && exists(other) && exists(notpid));
        CHECK_CODE(fe_model_save_file(m, dest, 3, &e), fe_ok);
        CHECKF(!exists(dead), "%s (its process is gone) was not removed", dead);
        CHECKF(exists(alive), "%s (its process is alive) was removed", alive);
        CHECKF(exists(other), "%s (another destination) was removed", other);
        CHECKF(exists(notpid), "%s (not a pid) was removed", notpid);
        CHECK(exists(dest));
        remove(dead); remove(alive); remove(other); remove(notpid); remove(dest);
    }
    fe_model_free(m);
}
#endif

static void test_save_load(void) {
    fe_model *m = random_model(2, 2, 16, 70, 16, 2), *m2;
    fe_error e;
    const char *path = "build/test_model_tmp.bin";
    TEST("save/load fp32 and bf16, mmap is copy-on-write") {
        uint64_t sum = fe_model_checksum(m), sum_after;
        unsigned char *bytes;
        size_t len, i;
        CHECK_CODE(fe_model_save_file(m, path, 3, &e), fe_ok);
        CHECK_CODE(fe_model_load_file(&m2, path, NULL, &e), fe_ok);
        CHECK(fe_model_checksum(m2) == sum && m2->load_checksum == sum);
        CHECK(m2->fe__map != NULL);  /* fp32 on POSIX: mapped, not copied */
        m2->params.fcprojw[5] += 1.0f;   /* an "edit" of the mapping */
        fe_model_free(m2);
        CHECK_CODE(fe_model_load_file(&m2, path, NULL, &e), fe_ok);
        CHECK(fe_model_checksum(m2) == sum);  /* the file was never written */
        fe_model_free(m2);
        /* bf16: every weight rounded to nearest even bf16 */
        CHECK_CODE(fe_model_save_file(m, path, 5, &e), fe_ok);
        CHECK_CODE(fe_model_load_file(&m2, path, NULL, &e), fe_ok);
        CHECK(m2->file_version == 5);
        for (i = 0; i < m->num_params; i++)
            if (m2->blob[i] != fe_bf16_to_f32(fe_f32_to_bf16(m->blob[i]))) break;
        CHECK(i == m->num_params);
        fe_model_free(m2);
        /* no mmap path gives the same */
        CHECK_CODE(fe_model_save_file(m, path, 3, &e), fe_ok);
        {
            fe_load_opts o;
            memset(&o, 0, sizeof o);
            o.no_mmap = 1;
            CHECK_CODE(fe_model_load_file(&m2, path, &o, &e), fe_ok);
            CHECK(fe_model_checksum(m2) == sum && m2->fe__map == NULL);
            fe_model_free(m2);
        }
        CHECK_CODE(fe_read_file(path, &bytes, &len, NULL, &e), fe_ok);
        sum_after = 0;
        for (i = 0; i < 8; i++) sum_after += bytes[i];
        CHECK(sum_after > 0);
        {   /* the file is plain llm.c: qkvw [L][3C][C] row-major, whatever the memory layout; save_mem writes the same bytes */
            size_t off = 1024 + 4 * (m->param_sizes[0] + m->param_sizes[1] + m->param_sizes[2] + m->param_sizes[3]), C = 16, o, k;
            unsigned char *mb;
            size_t mlen;
            int plain = 1;
            for (o = 0; o < 3 * C; o++) for (k = 0; k < C; k++) {
                float f;
                memcpy(&f, bytes + off + 4 * (o * C + k), 4);
                if (f != m->params.qkvw[fe_weight_index(3 * C, C, o, k)]) plain = 0;
            }
            CHECK(plain);
            CHECK_CODE(fe_model_save_mem(m, 3, &mb, &mlen, &e), fe_ok);
            CHECK(mlen == len && memcmp(mb, bytes, len) == 0);
            fe_free(mb, NULL);
        }
        free(bytes);
        CHECK_CODE(fe_model_save_file(m, "build/no-such-dir/x.bin", 3, &e), fe_err_io);
        CHECK(strstr(e.msg, "no-such-dir") != NULL);
        CHECK_CODE(fe_model_save_mem(m, 4, &bytes, &len, &e), fe_err_arg);
        remove(path);
    }
    fe_model_free(m);
}

static void test_layernorm_simd(void) {
    /* SIMD layer norm == the scalar reference (float rounding apart), every tail */
    static const int Cs[6] = {1, 7, 16, 37, 768, 3072};
    fe_rng r;
    int ci, i;
    fe_rng_seed(&r, 21);
    TEST("layer norm: SIMD rows == scalar reference (every width tail)") {
        for (ci = 0; ci < 6; ci++) {
            int C = Cs[ci];
            float *x = (float *)malloc(sizeof(float) * C), *w = (float *)malloc(sizeof(float) * C), *b = (float *)malloc(sizeof(float) * C);
            float *y1 = (float *)malloc(sizeof(float) * C), *y2 = (float *)malloc(sizeof(float) * C), m1, m2, s1, s2;
            for (i = 0; i < C; i++) { x[i] = 3.0f + (float)fe_rng_normal(&r); w[i] = (float)fe_rng_normal(&r); b[i] = (float)fe_rng_normal(&r); }
            fe__layernorm_row(y1, &m1, &s1, x, w, b, C);
            fe__layernorm_row_ref(y2, &m2, &s2, x, w, b, C);
            CHECKF(max_abs_diff(y1, y2, (size_t)C) <= 2e-5 && fabsf(m1 - m2) <= 1e-5f && fabsf(s1 - s2) <= 1e-5f * s2,
                   "C=%d: y worst %.3g, mean %.3g vs %.3g, rstd %.6g vs %.6g", C, max_abs_diff(y1, y2, (size_t)C), m1, m2, s1, s2);
            free(x); free(w); free(b); free(y1); free(y2);
        }
    }
}

static void test_gelu_simd(void) {
    /* the SIMD GELU (own exp: Taylor to r^6 after range reduction) against the scalar reference
       (libm expf), forward and backward, on a dense grid plus the saturated ends and a tail */
    size_t n = 40003, i;
    float *x = (float *)malloc(sizeof(float) * n), *a = (float *)malloc(sizeof(float) * n), *b = (float *)malloc(sizeof(float) * n);
    double worst = 0, worstd = 0;
    for (i = 0; i < n; i++) x[i] = -20.0f + 40.0f * (float)i / (float)(n - 1);
    x[0] = -300.0f; x[1] = 300.0f; x[2] = 0.0f; x[3] = -1e-30f; x[4] = 1e-7f;
    TEST("SIMD GELU and its derivative == scalar reference") {
        fe__gelu(a, x, n);
        fe__gelu_ref(b, x, n);
        for (i = 0; i < n; i++) { double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i])); if (d > worst) worst = d; }
        CHECKF(worst <= 4e-7, "gelu worst %.3g (%s)", worst, fe_simd_name());
        for (i = 0; i < n; i++) a[i] = b[i] = 1.0f + 0.001f * (float)(i % 7);
        fe__gelu_backward(a, x, n);
        fe__gelu_backward_ref(b, x, n);
        for (i = 0; i < n; i++) { double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i])); if (d > worstd) worstd = d; }
        CHECKF(worstd <= 3e-6, "gelu backward worst %.3g", worstd);   /* sech^2 = 1 - th^2 doubles th's rounding */
        CHECK(a[0] == 0.0f && b[1] > 0.99f);
    }
    free(x); free(a); free(b);
}

static void test_matmul(void) {
    /* shapes chosen to hit every tail: T and OC not multiples of 4, C not a multiple of 16 */
    static const int shapes[][3] = {{1, 36, 108}, {7, 36, 144}, {5, 768, 2304}, {3, 17, 5}, {64, 100, 33}, {2, 1, 1}};
    size_t k;
    fe_rng r;
    fe_rng_seed(&r, 3);
    TEST("SIMD matmul == scalar reference") {
        for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            int T = shapes[k][0], C = shapes[k][1], OC = shapes[k][2];
            size_t i;
            float *x = (float *)malloc(sizeof(float) * T * C), *w = (float *)malloc(sizeof(float) * OC * C), *bias = (float *)malloc(sizeof(float) * OC);
            float *a = (float *)malloc(sizeof(float) * T * (OC + 3)), *b = (float *)malloc(sizeof(float) * T * (OC + 3));
            double worst, scale = sqrt((double)C);
            for (i = 0; i < (size_t)T * C; i++) x[i] = (float)fe_rng_normal(&r);
            for (i = 0; i < (size_t)OC * C; i++) w[i] = (float)fe_rng_normal(&r);
            for (i = 0; i < (size_t)OC; i++) bias[i] = (float)fe_rng_normal(&r);
            for (i = 0; i < (size_t)T * (OC + 3); i++) a[i] = b[i] = 42.0f;
            fe_matmul(a, OC + 3, x, w, bias, T, C, OC);     /* ldo > OC: the gap must stay untouched */
            fe_matmul_ref(b, OC + 3, x, w, bias, T, C, OC);
            worst = max_abs_diff(a, b, (size_t)T * (OC + 3));
            CHECKF(worst <= 1e-5 * scale, "matmul T=%d C=%d OC=%d (%s): worst %.3g", T, C, OC, fe_simd_name(), worst);
            CHECK(a[OC] == 42.0f && a[OC + 2] == 42.0f);
            free(x); free(w); free(bias); free(a); free(b);
        }
    }
}

static void test_gemm_layouts(void) {
    /* the three products the forward and backward use, SIMD vs the scalar reference */
    fe_rng r;
    int M = 13, N = 45, K = 300, rep;
    float *a = (float *)malloc(sizeof(float) * M * K), *b = (float *)malloc(sizeof(float) * K * N);
    float *c1 = (float *)malloc(sizeof(float) * M * N), *c2 = (float *)malloc(sizeof(float) * M * N), *bias = (float *)malloc(sizeof(float) * N);
    size_t i;
    fe_rng_seed(&r, 11);
    for (i = 0; i < (size_t)M * K; i++) a[i] = (float)fe_rng_normal(&r);
    for (i = 0; i < (size_t)K * N; i++) b[i] = (float)fe_rng_normal(&r);
    for (i = 0; i < (size_t)N; i++) bias[i] = (float)fe_rng_normal(&r);
    TEST("GEMM with every stride layout == scalar reference") {
        for (rep = 0; rep < 4; rep++) {
            /* rep 0: a row-major, b as [N][K]; 1: b as [K][N]; 2: a transposed; 3: accumulate */
            size_t a_rs = rep == 2 ? 1 : (size_t)K, a_cs = rep == 2 ? (size_t)M : 1;
            size_t b_ks = rep == 0 ? 1 : (size_t)N, b_ns = rep == 0 ? (size_t)K : 1;
            for (i = 0; i < (size_t)M * N; i++) c1[i] = c2[i] = 0.5f;
            fe__gemm(c1, (size_t)N, a, a_rs, a_cs, b, b_ks, b_ns, rep == 3 ? NULL : bias, M, N, K, rep == 3);
            fe__gemm_ref(c2, (size_t)N, a, a_rs, a_cs, b, b_ks, b_ns, rep == 3 ? NULL : bias, M, N, K, rep == 3);
            CHECKF(max_abs_diff(c1, c2, (size_t)M * N) <= 1e-4, "layout %d: worst %.3g", rep, max_abs_diff(c1, c2, (size_t)M * N));
        }
    }
    free(a); free(b); free(c1); free(c2); free(bias);
}

static void test_gemm_blocks(void) {
    /* every tail of the packed GEMM: M = 50 (whole blocks of MR, then a tail), N = 3 panels + 5 columns, K = two
       KC blocks + 18 (transposed in VW x VW blocks and a scalar tail); and a packed up front
       (N > one panel) against a packed tile by tile (one panel): bit-identical columns */
    fe_rng r;
    int M = 50, N = 101, K = 530, rep;
    float *a = (float *)malloc(sizeof(float) * M * K), *b = (float *)malloc(sizeof(float) * K * N);
    float *c1 = (float *)malloc(sizeof(float) * M * N), *c2 = (float *)malloc(sizeof(float) * M * N), *c3 = (float *)malloc(sizeof(float) * M * N);
    size_t i;
    int m, n, same = 1;
    fe_rng_seed(&r, 12);
    for (i = 0; i < (size_t)M * K; i++) a[i] = (float)fe_rng_normal(&r);
    for (i = 0; i < (size_t)K * N; i++) b[i] = (float)fe_rng_normal(&r);
    TEST("GEMM blocks and tails == scalar reference; packing a up front changes no bit") {
        for (rep = 0; rep < 2; rep++) {
            size_t b_ks = rep == 0 ? 1 : (size_t)N, b_ns = rep == 0 ? (size_t)K : 1;
            fe__gemm(c1, (size_t)N, a, (size_t)K, 1, b, b_ks, b_ns, NULL, M, N, K, 0);
            fe__gemm_ref(c2, (size_t)N, a, (size_t)K, 1, b, b_ks, b_ns, NULL, M, N, K, 0);
            CHECKF(max_abs_diff(c1, c2, (size_t)M * N) <= 2e-4, "layout %d: worst %.3g", rep, max_abs_diff(c1, c2, (size_t)M * N));
            /* the first 16 columns alone: one panel, so a is packed per tile */
            fe__gemm(c3, (size_t)N, a, (size_t)K, 1, b, b_ks, b_ns, NULL, M, 16, K, 0);
            for (m = 0; m < M; m++) for (n = 0; n < 16; n++) if (memcmp(&c3[m * N + n], &c1[m * N + n], sizeof(float)) != 0) same = 0;
            CHECKF(same, "layout %d: columns differ between the two packings", rep);
        }
    }
    free(a); free(b); free(c1); free(c2); free(c3);
}

static void test_weight_panels(void) {
    /* the panel layout of the block matrices, and the three GEMM modes that read or write it */
    static const size_t shapes[][2] = {{1, 1}, {31, 5}, {32, 7}, {33, 3}, {70, 9}, {96, 64}, {101, 530}};
    fe_rng r;
    size_t si, i, o;
    int ok = 1;
    fe_rng_seed(&r, 13);
    TEST("panel layout: fe_weight_index is a bijection, pack/unpack invert each other") {
        for (si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            size_t out = shapes[si][0], in = shapes[si][1], n = out * in;
            float *x = (float *)malloc(sizeof(float) * n), *p = (float *)malloc(sizeof(float) * n), *y = (float *)malloc(sizeof(float) * n);
            unsigned char *seen = (unsigned char *)calloc(n, 1);
            for (i = 0; i < n; i++) x[i] = (float)i;
            fe_weight_pack(p, x, out, in);
            for (o = 0; o < out; o++) for (i = 0; i < in; i++) {
                size_t at = fe_weight_index(out, in, o, i);
                if (at >= n || seen[at] || p[at] != x[o * in + i]) ok = 0; else seen[at] = 1;
                /* a panel row holds consecutive outputs: W[o+1][i] follows W[o][i] inside a panel */
                if ((o + 1) % FACTEDIT_WEIGHT_PANEL && o + 1 < out && fe_weight_index(out, in, o + 1, i) != at + 1) ok = 0;
            }
            fe_weight_unpack(y, p, out, in);
            if (memcmp(x, y, sizeof(float) * n) != 0) ok = 0;
            CHECKF(ok, "shape %zu x %zu", out, in);
            free(x); free(p); free(y); free(seen);
        }
    }
    TEST("GEMM on panel-layout W (x.W^T, dout.W, dW^T into panels) == scalar reference == strided GEMM bit for bit") {
        int M = 50, OC = 101, C = 530, Ts[4] = {1, 3, 17, 50}, ti;
        float *x = (float *)malloc(sizeof(float) * M * C), *w = (float *)malloc(sizeof(float) * OC * C), *wp = (float *)malloc(sizeof(float) * OC * C);
        float *d = (float *)malloc(sizeof(float) * M * OC), *c1 = (float *)malloc(sizeof(float) * M * C), *c2 = (float *)malloc(sizeof(float) * M * C);
        float *c3 = (float *)malloc(sizeof(float) * M * C), *bias = (float *)malloc(sizeof(float) * OC);
        float *g1 = (float *)malloc(sizeof(float) * OC * C), *g2 = (float *)malloc(sizeof(float) * OC * C), *g3 = (float *)malloc(sizeof(float) * OC * C);
        fe__gemm_args g;
        for (i = 0; i < (size_t)M * C; i++) x[i] = (float)fe_rng_normal(&r);
        for (i = 0; i < (size_t)OC * C; i++) w[i] = (float)fe_rng_normal(&r);
        for (i = 0; i < (size_t)M * OC; i++) d[i] = (float)fe_rng_normal(&r);
        for (i = 0; i < (size_t)OC; i++) bias[i] = (float)fe_rng_normal(&r);
        fe_weight_pack(wp, w, (size_t)OC, (size_t)C);
        for (ti = 0; ti < 4; ti++) {   /* forward: every row count (decoding's 1 included) */
            int T = Ts[ti];
            fe_matmul_panel(c1, (size_t)OC, x, wp, OC, bias, T, C, OC);
            fe__gemm(c2, (size_t)OC, x, (size_t)C, 1, w, 1, (size_t)C, bias, T, OC, C, 0);
            fe_matmul_ref(c3, (size_t)OC, x, w, bias, T, C, OC);
            CHECKF(memcmp(c1, c2, sizeof(float) * (size_t)T * OC) == 0, "forward T=%d: panel-layout and strided GEMM differ", T);
            CHECKF(max_abs_diff(c1, c3, (size_t)T * OC) <= 2e-4, "forward T=%d: worst %.3g vs reference", T, max_abs_diff(c1, c3, (size_t)T * OC));
        }
        /* dinp += dout . W */
        for (i = 0; i < (size_t)M * C; i++) c1[i] = c2[i] = c3[i] = 0.25f;
        fe__matmul_backward(c1, NULL, NULL, d, NULL, wp, M, C, OC, 1);
        fe__matmul_backward(c2, NULL, NULL, d, NULL, w, M, C, OC, 0);
        fe__gemm_ref(c3, (size_t)C, d, (size_t)OC, 1, w, (size_t)C, 1, NULL, M, C, OC, 1);
        CHECKF(memcmp(c1, c2, sizeof(float) * (size_t)M * C) == 0, "dout.W: panel-layout and strided differ");
        CHECKF(max_abs_diff(c1, c3, (size_t)M * C) <= 2e-4, "dout.W: worst %.3g vs reference", max_abs_diff(c1, c3, (size_t)M * C));
        /* dW += dout^T . x, panel-layout gradient */
        for (i = 0; i < (size_t)OC * C; i++) g2[i] = g3[i] = 0.5f;
        fe_weight_pack(g1, g2, (size_t)OC, (size_t)C);
        fe__matmul_backward(NULL, g1, NULL, d, x, wp, M, C, OC, 1);
        fe__matmul_backward(NULL, g2, NULL, d, x, w, M, C, OC, 0);
        fe_weight_unpack(wp, g1, (size_t)OC, (size_t)C);   /* wp is free now: the unpacked dW */
        CHECKF(memcmp(wp, g2, sizeof(float) * (size_t)OC * C) == 0, "dW: panel-layout and strided differ");
        memset(&g, 0, sizeof g);
        g.c = g3; g.ldc = (size_t)C; g.a = d; g.a_rs = 1; g.a_cs = (size_t)OC; g.b = x; g.b_ks = (size_t)C; g.b_ns = 1; g.M = OC; g.N = C; g.K = M; g.accumulate = 1;
        fe__gemm_ref_g(&g);
        CHECKF(max_abs_diff(wp, g3, (size_t)OC * C) <= 2e-4, "dW: worst %.3g vs reference", max_abs_diff(wp, g3, (size_t)OC * C));
        /* the reference's own panel modes agree with its strided ones */
        fe_weight_pack(wp, w, (size_t)OC, (size_t)C);
        memset(&g, 0, sizeof g);
        g.c = c1; g.ldc = (size_t)OC; g.a = x; g.a_rs = (size_t)C; g.a_cs = 1; g.b = wp; g.b_pw = 1; g.bias = bias; g.M = M; g.N = OC; g.K = C;
        fe__gemm_ref_g(&g);
        fe_matmul_ref(c3, (size_t)OC, x, w, bias, M, C, OC);
        CHECKF(memcmp(c1, c3, sizeof(float) * (size_t)M * OC) == 0, "reference: panel mode differs from strided");
        free(x); free(w); free(wp); free(d); free(c1); free(c2); free(c3); free(bias); free(g1); free(g2); free(g3);
    }
}

static void test_kv_cache_and_batch(void) {
    fe_model *m = random_model(3, 4, 32, 90, 24, 4);
    fe_state *full, *inc, *bat;
    fe_error e;
    fe_forward_opts o;
    int toks[10] = {5, 17, 3, 88, 41, 0, 89, 12, 12, 7}, two[20], i;
    TEST("KV cache and batch rows equal a full forward") {
        memset(&o, 0, sizeof o);
        o.all_logits = 1;
        CHECK_CODE(fe_state_new(&full, m, 1, 10, 0, &e), fe_ok);
        CHECK_CODE(fe_state_new(&inc, m, 1, 10, 0, &e), fe_ok);
        CHECK_CODE(fe_state_new(&bat, m, 2, 10, 0, &e), fe_ok);
        CHECK_CODE(fe_forward(m, full, toks, 10, &o, &e), fe_ok);
        /* 6 tokens, then 1, then 3, with the cache */
        o.all_logits = 0;
        CHECK_CODE(fe_forward(m, inc, toks, 6, &o, &e), fe_ok);
        o.pos0 = 6;
        CHECK_CODE(fe_forward(m, inc, toks + 6, 1, &o, &e), fe_ok);
        CHECK(max_abs_diff(fe_state_logits(inc, 0, -1), fe_state_logits(full, 0, 6), 90) <= 1e-5);
        o.pos0 = 7;
        CHECK_CODE(fe_forward(m, inc, toks + 7, 3, &o, &e), fe_ok);
        CHECK(max_abs_diff(fe_state_logits(inc, 0, -1), fe_state_logits(full, 0, 9), 90) <= 1e-5);
        CHECK(fe_state_logits(inc, 0, 8) == NULL);  /* only the last position has logits */
        CHECK(max_abs_diff(fe_state_act(inc, fe_site_key, 2, 0, 8), fe_state_act(full, fe_site_key, 2, 0, 8), 128) <= 1e-5);
        /* a batch of two rows: row 1 = the same tokens, row 0 = different ones */
        for (i = 0; i < 10; i++) { two[i] = (toks[i] + 1) % 90; two[10 + i] = toks[i]; }
        o.pos0 = 0;
        CHECK_CODE(fe_forward(m, bat, two, 10, &o, &e), fe_ok);
        CHECK(max_abs_diff(fe_state_logits(bat, 1, -1), fe_state_logits(full, 0, 9), 90) <= 1e-5);
        {   /* and equal to a one-row state run the same way (bits may differ: a batch of rows can
               take the packed GEMM where one row takes the dot-product tiles) */
            fe_state *one;
            CHECK_CODE(fe_state_new(&one, m, 1, 10, 0, &e), fe_ok);
            CHECK_CODE(fe_forward(m, one, toks, 10, &o, &e), fe_ok);
            CHECK(max_abs_diff(fe_state_logits(bat, 1, -1), fe_state_logits(one, 0, -1), 90) <= 1e-5);
            fe_state_free(one);
        }
        /* errors */
        o.pos0 = 8;
        CHECK_CODE(fe_forward(m, inc, toks, 3, &o, &e), fe_err_range);
        CHECK(strstr(e.msg, "exceed") != NULL);
        o.pos0 = 0;
        CHECK_CODE(fe_forward(m, inc, toks, 0, &o, &e), fe_err_arg);
        toks[3] = 90;
        CHECK_CODE(fe_forward(m, inc, toks, 5, &o, &e), fe_err_range);
        CHECK(strstr(e.msg, "token id 90") != NULL);
        toks[3] = -1;
        CHECK_CODE(fe_forward(m, inc, toks, 5, &o, &e), fe_err_range);
        toks[3] = 88;
        fe_state_free(bat);
        CHECK_CODE(fe_state_new(&bat, m, 1, 25, 0, &e), fe_err_range);   /* beyond maxT = 24 */
        CHECK_CODE(fe_state_new(&bat, m, 0, 5, 0, &e), fe_err_arg);
        fe_state_free(full); fe_state_free(inc);
    }
    fe_model_free(m);
}

typedef struct hook_ctx { int layer, pos; float add; int calls; } hook_ctx;
static void add_hook(void *u, fe_site site, int layer, int b, int pos0, int npos, float *rows, int width) {
    hook_ctx *h = (hook_ctx *)u;
    (void)b;
    h->calls++;
    if (site == fe_site_mlp && layer == h->layer && h->pos >= pos0 && h->pos < pos0 + npos) {
        int i;
        for (i = 0; i < width; i++) rows[(size_t)(h->pos - pos0) * width + i] += h->add;
    }
}

static void test_hooks(void) {
    fe_model *m = random_model(3, 2, 16, 40, 16, 5);
    fe_state *s, *s2;
    fe_error e;
    fe_forward_opts o;
    hook_ctx h;
    int toks[6] = {1, 2, 3, 4, 5, 6}, l;
    TEST("hooks see every site and their changes flow downstream only") {
        fe_state_new(&s, m, 1, 6, 0, &e);
        fe_state_new(&s2, m, 1, 6, 0, &e);
        memset(&o, 0, sizeof o);
        o.all_logits = 1;
        fe_forward(m, s, toks, 6, &o, &e);
        h.layer = 1; h.pos = 3; h.add = 0.5f; h.calls = 0;
        o.hook = add_hook; o.hook_user = &h;
        CHECK_CODE(fe_forward(m, s2, toks, 6, &o, &e), fe_ok);
        CHECK(h.calls == 1 + 3 * 4);   /* embed once, then attn/key/mlp/resid per layer */
        /* positions before 3 and layers below 1 are unchanged; position 3 onward changes */
        CHECK(max_abs_diff(fe_state_act(s, fe_site_resid, 2, 0, 2), fe_state_act(s2, fe_site_resid, 2, 0, 2), 16) == 0.0);
        CHECK(max_abs_diff(fe_state_act(s, fe_site_resid, 0, 0, 3), fe_state_act(s2, fe_site_resid, 0, 0, 3), 16) == 0.0);
        CHECK(fabs(fe_state_act(s2, fe_site_mlp, 1, 0, 3)[0] - fe_state_act(s, fe_site_mlp, 1, 0, 3)[0] - 0.5) < 1e-6);
        CHECK(max_abs_diff(fe_state_act(s, fe_site_resid, 2, 0, 3), fe_state_act(s2, fe_site_resid, 2, 0, 3), 16) > 0.1);
        CHECK(max_abs_diff(fe_state_act(s, fe_site_resid, 2, 0, 5), fe_state_act(s2, fe_site_resid, 2, 0, 5), 16) > 0.0);
        /* restarting at layer 2 from the stored residual reproduces the hooked run exactly */
        {
            float saved[6 * 40];
            for (l = 0; l < 6; l++) memcpy(saved + l * 40, fe_state_logits(s2, 0, l), sizeof(float) * 40);
            memset(fe_state_act(s2, fe_site_resid, 2, 0, 0), 0, sizeof(float) * 16 * 6);  /* layer 2 is recomputed */
            o.hook = NULL; o.layer0 = 2;
            CHECK_CODE(fe_forward(m, s2, NULL, 6, &o, &e), fe_ok);
            for (l = 0; l < 6; l++) CHECK(max_abs_diff(fe_state_logits(s2, 0, l), saved + l * 40, 40) == 0.0);
        }
        CHECK(fe_state_act(s, fe_site_key, 5, 0, 0) == NULL && fe_state_act(s, fe_site_mlp, 0, 0, 6) == NULL);
        fe_state_free(s); fe_state_free(s2);
    }
    fe_model_free(m);
}

static void test_sampling(void) {
    float logits[6] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f, 0.5f}, scratch[12];
    fe_sample_opts o;
    fe_rng r, r2;
    int i, counts[6] = {0}, same = 1;
    TEST("sampling: greedy, top-k, top-p, temperature, seeded") {
        memset(&o, 0, sizeof o);
        CHECK(fe_sample(logits, 6, &o, NULL, NULL) == 1);
        o.temperature = 1.0f; o.top_k = 1;
        fe_rng_seed(&r, 1);
        for (i = 0; i < 50; i++) CHECK(fe_sample(logits, 6, &o, &r, scratch) == 1);
        o.top_k = 2;
        for (i = 0; i < 2000; i++) counts[fe_sample(logits, 6, &o, &r, scratch)]++;
        CHECK(counts[0] == 0 && counts[2] == 0 && counts[4] == 0 && counts[5] == 0);
        CHECKF(counts[1] > 900 && counts[3] > 800, "top-2 counts %d %d", counts[1], counts[3]);
        o.top_k = 0; o.top_p = 0.3f;   /* the top token alone holds more than 30% */
        for (i = 0; i < 100; i++) CHECK(fe_sample(logits, 6, &o, &r, scratch) == 1);
        o.top_p = 0.0f; o.temperature = 0.7f;
        fe_rng_seed(&r, 9); fe_rng_seed(&r2, 9);
        for (i = 0; i < 100; i++) same &= fe_sample(logits, 6, &o, &r, scratch) == fe_sample(logits, 6, &o, &r2, scratch);
        CHECK(same);
    }
}

static void test_generate_and_threads(void) {
    fe_model *m = random_model(2, 2, 16, 60, 32, 6);
    fe_error e;
    int prompt[4] = {3, 1, 4, 1}, a[20], b[20], i, same = 1;
    fe_sample_opts o;
    fe_rng r;
    TEST("generation: KV cache equals recomputation, errors") {
        CHECK_CODE(fe_generate(m, prompt, 4, 20, NULL, NULL, a, &e), fe_ok);
        /* recompute each step with a fresh full forward */
        {
            int seq[24];
            fe_state *s;
            memcpy(seq, prompt, sizeof prompt);
            for (i = 0; i < 20; i++) {
                fe_state_new(&s, m, 1, 4 + i, 0, &e);
                fe_forward(m, s, seq, 4 + i, NULL, &e);
                seq[4 + i] = fe_sample(fe_state_logits(s, 0, -1), 60, NULL, NULL, NULL);
                fe_state_free(s);
                same &= seq[4 + i] == a[i];
            }
            CHECK(same);
        }
        memset(&o, 0, sizeof o);
        o.temperature = 0.9f; o.top_k = 10;
        fe_rng_seed(&r, 5);
        CHECK_CODE(fe_generate(m, prompt, 4, 20, &o, &r, a, &e), fe_ok);
        fe_rng_seed(&r, 5);
        CHECK_CODE(fe_generate(m, prompt, 4, 20, &o, &r, b, &e), fe_ok);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK_CODE(fe_generate(m, prompt, 0, 5, NULL, NULL, a, &e), fe_err_arg);
        CHECK_CODE(fe_generate(m, prompt, 4, 40, NULL, NULL, a, &e), fe_err_range);
        CHECK(strstr(e.msg, "context of 32") != NULL);
    }
    fe_model_free(m);
#ifdef _OPENMP
    TEST("results do not depend on the thread count") {
        fe_model *big = random_model(2, 4, 256, 1000, 64, 7);
        fe_state *s1, *s2;
        int toks[64];
        fe_forward_opts fo;
        for (i = 0; i < 64; i++) toks[i] = (i * 37) % 1000;
        memset(&fo, 0, sizeof fo);
        fo.all_logits = 1;
        fe_state_new(&s1, big, 1, 64, 0, &e);
        fe_state_new(&s2, big, 1, 64, 0, &e);
        omp_set_num_threads(1);
        fe_forward(big, s1, toks, 64, &fo, &e);
        omp_set_num_threads(2);
        fe_forward(big, s2, toks, 64, &fo, &e);
        CHECK(memcmp(fe_state_logits(s1, 0, 0), fe_state_logits(s2, 0, 0), sizeof(float) * 1000 * 64) == 0);
        fe_state_free(s1); fe_state_free(s2);
        fe_model_free(big);
    }
#endif
}

int main(void) {
    test_hostile_checkpoints();
    test_save_load();
#if defined(__unix__) || defined(__APPLE__)
    test_file_helpers();
#endif
    test_matmul();
    test_gemm_layouts();
    test_gelu_simd();
    test_layernorm_simd();
    test_gemm_blocks();
    test_weight_panels();
    test_kv_cache_and_batch();
    test_hooks();
    test_sampling();
    test_generate_and_threads();
    return t_summary();
}
