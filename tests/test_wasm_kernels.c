/* The WebAssembly SIMD128 kernels (factedit.h's wasm_simd128 path) against the scalar references,
   as tests/test_model.c does for AVX2 / AVX-512 / NEON: built with clang --target=wasm32-wasi
   -msimd128 and run under node's WASI by tests/web_node.js (make test's web part). SIMD128 has no
   fused multiply-add, so the packed GEMM sums the same rounded terms in the same order as the
   scalar reference: there its outputs must be bit-equal. Ends with "N passed, M failed". */
#define FACTEDIT_IMPLEMENTATION
#define FACTEDIT_NO_STDIO
#include "factedit.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double w = 0;
    size_t i;
    for (i = 0; i < n; i++) { double d = fabs((double)a[i] - b[i]); if (d > w || d != d) w = d; }
    return w;
}
static void fill(float *x, size_t n, fe_rng *r) { size_t i; for (i = 0; i < n; i++) x[i] = (float)fe_rng_normal(r); }

int main(void) {
    static const int shapes[][3] = {{1, 36, 108}, {7, 36, 144}, {5, 768, 2304}, {3, 17, 5}, {64, 100, 33}, {2, 1, 1}, {40, 128, 512}};
    fe_rng r;
    size_t k, i;
    fe_rng_seed(&r, 3);
    TEST("the wasm build uses its SIMD128 kernels") CHECKF(!strcmp(fe_simd_name(), "wasm-simd128"), "%s", fe_simd_name());
    TEST("SIMD128 matmul == scalar reference") {
        for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            int T = shapes[k][0], C = shapes[k][1], OC = shapes[k][2];
            float *x = (float *)malloc(sizeof(float) * T * C), *w = (float *)malloc(sizeof(float) * OC * C), *bias = (float *)malloc(sizeof(float) * OC);
            float *a = (float *)malloc(sizeof(float) * T * (OC + 3)), *b = (float *)malloc(sizeof(float) * T * (OC + 3));
            fill(x, (size_t)T * C, &r); fill(w, (size_t)OC * C, &r); fill(bias, (size_t)OC, &r);
            for (i = 0; i < (size_t)T * (OC + 3); i++) a[i] = b[i] = 42.0f;
            fe_matmul(a, OC + 3, x, w, bias, T, C, OC);
            fe_matmul_ref(b, OC + 3, x, w, bias, T, C, OC);
            CHECKF(max_abs_diff(a, b, (size_t)T * (OC + 3)) <= 1e-5 * sqrt((double)C), "matmul T=%d C=%d OC=%d: worst %.3g", T, C, OC,
                   max_abs_diff(a, b, (size_t)T * (OC + 3)));
            CHECK(a[OC] == 42.0f && a[OC + 2] == 42.0f);
            free(x); free(w); free(bias); free(a); free(b);
        }
    }
    TEST("SIMD128 packed GEMM, every stride layout and tail == scalar reference, bit for bit") {
        int M = 50, N = 101, K = 530, rep;
        float *a = (float *)malloc(sizeof(float) * M * K), *b = (float *)malloc(sizeof(float) * K * N), *bias = (float *)malloc(sizeof(float) * N);
        float *c1 = (float *)malloc(sizeof(float) * M * N), *c2 = (float *)malloc(sizeof(float) * M * N);
        fill(a, (size_t)M * K, &r); fill(b, (size_t)K * N, &r); fill(bias, (size_t)N, &r);
        for (rep = 0; rep < 4; rep++) {
            /* rep 0: b as [N][K] (the forward); 1: b as [K][N]; 2: a transposed; 3: accumulate */
            size_t a_rs = rep == 2 ? 1 : (size_t)K, a_cs = rep == 2 ? (size_t)M : 1;
            size_t b_ks = rep == 0 ? 1 : (size_t)N, b_ns = rep == 0 ? (size_t)K : 1;
            for (i = 0; i < (size_t)M * N; i++) c1[i] = c2[i] = 0.5f;
            fe__gemm(c1, (size_t)N, a, a_rs, a_cs, b, b_ks, b_ns, rep == 3 ? NULL : bias, M, N, K, rep == 3);
            fe__gemm_ref(c2, (size_t)N, a, a_rs, a_cs, b, b_ks, b_ns, rep == 3 ? NULL : bias, M, N, K, rep == 3);
            CHECKF(memcmp(c1, c2, sizeof(float) * (size_t)M * N) == 0, "layout %d: worst %.3g", rep, max_abs_diff(c1, c2, (size_t)M * N));
        }
        free(a); free(b); free(bias); free(c1); free(c2);
    }
    TEST("SIMD128 GELU == scalar reference") {
        size_t n = 40003;
        float *x = (float *)malloc(sizeof(float) * n), *a = (float *)malloc(sizeof(float) * n), *b = (float *)malloc(sizeof(float) * n);
        double worst = 0;
        for (i = 0; i < n; i++) x[i] = -20.0f + 40.0f * (float)i / (float)(n - 1);
        x[0] = -300.0f; x[1] = 300.0f;
        fe__gelu(a, x, n);
        fe__gelu_ref(b, x, n);
        for (i = 0; i < n; i++) { double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i])); if (d > worst) worst = d; }
        CHECKF(worst <= 4e-7, "gelu worst %.3g", worst);
        free(x); free(a); free(b);
    }
    return t_summary();
}
