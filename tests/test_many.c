/* Tests of the many-edits section (>>api-many-edits): r-ROME, MEMIT's and AlphaEdit's closed
   forms against scalar double references, the sequential log (bit-exact undo of any suffix,
   patches), health, and hostile input. Run from the repository root: build/test_many
   (the oracle values of both closed forms are checked by oracle_check). */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

enum { L = 3, C = 16, C4 = 64, V = 50, NR = 6 };

static fe_model *rand_model(uint64_t seed) {
    fe_config c;
    fe_model *m = NULL;
    fe_error e;
    c.num_layers = L; c.num_heads = 2; c.channels = C; c.vocab_size = V; c.padded_vocab_size = 64; c.max_seq_len = 32;
    if (fe_model_new(&m, &c, NULL, &e) != fe_ok) { printf("model: %s\n", e.msg); exit(1); }
    fe_model_randomize(m, seed);
    return m;
}

/* statistics of layer l over `seqs` random sequences of 16 tokens */
static fe_cov *make_cov(const fe_model *m, int l, int seqs, uint64_t seed) {
    fe_cov *c = NULL;
    fe_rng r;
    int tok[16 * 64], i;
    fe_rng_seed(&r, seed);
    for (i = 0; i < 16 * seqs; i++) tok[i] = (int)(fe_rng_u64(&r) % V);
    if (fe_cov_new(&c, C4, NULL, NULL) != fe_ok || fe_cov_add_tokens(c, m, l, tok, seqs, 16, NULL) != fe_ok) exit(1);
    return c;
}

/* The end of a test: its state (may be NULL), statistics and model. */
static void teardown(fe_many *s, fe_model *m, fe_cov **covs, int n) {
    int i;
    fe_many_free(s);
    for (i = 0; i < n; i++) fe_cov_free(covs[i]);
    fe_model_free(m);
}

/* NR requests: prompt = [subject (2 ids)] + 3 ids, lookup 1; two key prompts (bare, prefix + bare) */
typedef struct reqs {
    int ids[NR][8], pre[NR][12], tgt[NR][2];
    fe_rome_prompt keys[NR][2], rows[NR][1];
    fe_memit_request q[NR];
} reqs;
static void make_reqs(reqs *r, uint64_t seed) {
    fe_rng g;
    int i, j;
    fe_rng_seed(&g, seed);
    memset(r, 0, sizeof *r);
    for (i = 0; i < NR; i++) {
        for (j = 0; j < 5; j++) r->ids[i][j] = (int)(fe_rng_u64(&g) % V);
        r->ids[i][0] = i + 1;   /* distinct subjects */
        r->tgt[i][0] = (int)(fe_rng_u64(&g) % V);
        r->ids[i][5] = r->tgt[i][0];
        for (j = 0; j < 3; j++) r->pre[i][j] = (int)(fe_rng_u64(&g) % V);
        memcpy(r->pre[i] + 3, r->ids[i], sizeof(int) * 5);
        r->keys[i][0].ids = r->ids[i]; r->keys[i][0].n = 5; r->keys[i][0].lookup = 1;
        r->keys[i][1].ids = r->pre[i]; r->keys[i][1].n = 8; r->keys[i][1].lookup = 4;
        r->rows[i][0].ids = r->ids[i]; r->rows[i][0].n = 5; r->rows[i][0].lookup = 1;   /* + target[:-1] = nothing */
        r->q[i].rows = r->rows[i]; r->q[i].n_rows = 1;
        r->q[i].target = r->tgt[i]; r->q[i].n_target = 1;
        r->q[i].keys = r->keys[i]; r->q[i].n_keys = 2;
        r->q[i].bare = r->keys[i][0];
    }
}

/* x = A^-1 b by Gauss-Jordan with partial pivoting, double, A n x n (destroyed); b n x k */
static void gauss(double *A, double *b, int n, int k) {
    int i, j, c, p;
    for (i = 0; i < n; i++) {
        double piv, t;
        for (p = i, j = i + 1; j < n; j++) if (fabs(A[(size_t)j * n + i]) > fabs(A[(size_t)p * n + i])) p = j;
        for (j = 0; j < n; j++) { t = A[(size_t)i * n + j]; A[(size_t)i * n + j] = A[(size_t)p * n + j]; A[(size_t)p * n + j] = t; }
        for (c = 0; c < k; c++) { t = b[(size_t)i * k + c]; b[(size_t)i * k + c] = b[(size_t)p * k + c]; b[(size_t)p * k + c] = t; }
        piv = A[(size_t)i * n + i];
        for (j = 0; j < n; j++) A[(size_t)i * n + j] /= piv;
        for (c = 0; c < k; c++) b[(size_t)i * k + c] /= piv;
        for (p = 0; p < n; p++) {
            double f = A[(size_t)p * n + i];
            if (p == i || f == 0) continue;
            for (j = 0; j < n; j++) A[(size_t)p * n + j] -= f * A[(size_t)i * n + j];
            for (c = 0; c < k; c++) b[(size_t)p * k + c] -= f * b[(size_t)i * k + c];
        }
    }
}

static double rel(const float *a, const double *b, size_t n) {
    double mx = 0, w = 0;
    size_t i;
    for (i = 0; i < n; i++) if (fabs(b[i]) > mx) mx = fabs(b[i]);
    for (i = 0; i < n; i++) if (fabs(a[i] - b[i]) > w) w = fabs(a[i] - b[i]);
    return w / (mx > 1e-30 ? mx : 1e-30);
}

static float *fcproj(fe_model *m, int l) { return m->params.fcprojw + (size_t)l * C * C4; }

static void test_eigh(void) {
    TEST("fe_eigh: A V^T = V^T diag(w), V orthonormal, ascending (60 x 60 random + 3 repeated eigenvalues)") {
        int n = 60, i, j, k;
        double *A = (double *)malloc(sizeof(double) * n * n), *Vv = (double *)malloc(sizeof(double) * n * n), w[60], res = 0, orth = 0;
        fe_rng r;
        fe_rng_seed(&r, 3);
        for (i = 0; i < n; i++) for (j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = fe_rng_normal(&r);
        for (i = 0; i < 10; i++) for (j = 0; j < n; j++) { A[i * n + j] = A[j * n + i] = 0; }
        for (i = 0; i < 10; i++) A[i * n + i] = 2.0;   /* a 10-fold eigenvalue 2 */
        CHECK(fe_eigh(A, n, w, Vv, NULL, NULL) == fe_ok);
        for (i = 0; i < n; i++) {
            for (j = 0; j < n; j++) {
                double av = 0, d = 0;
                for (k = 0; k < n; k++) { av += A[j * n + k] * Vv[i * n + k]; d += Vv[i * n + k] * Vv[j * n + k]; }
                if (fabs(av - w[i] * Vv[i * n + j]) > res) res = fabs(av - w[i] * Vv[i * n + j]);
                if (fabs(d - (i == j)) > orth) orth = fabs(d - (i == j));
            }
            if (i) CHECK(w[i] >= w[i - 1]);
        }
        CHECKF(res < 1e-10 && orth < 1e-12, "residual %g, orthogonality %g", res, orth);
        free(A); free(Vv);
    }
}

/* MEMIT's closed form by the scalar double reference: X (n x d) = K (lambda (m2/count + ridge I) + K^T K)^-1 */
static void memit_ref(const fe_cov *c, double ridge, double lambda, const float *K, int n, double *X) {
    int d = c->dim, i, j, k;
    double *A = (double *)malloc(sizeof(double) * d * d), *B = (double *)malloc(sizeof(double) * d * n);
    for (i = 0; i < d; i++) for (j = 0; j < d; j++) {
        double a = lambda * (c->m2[(size_t)i * d + j] / c->count + (i == j ? ridge : 0));
        for (k = 0; k < n; k++) a += (double)K[(size_t)k * d + i] * K[(size_t)k * d + j];
        A[(size_t)i * d + j] = a;
    }
    for (i = 0; i < d; i++) for (k = 0; k < n; k++) B[(size_t)i * n + k] = K[(size_t)k * d + i];
    gauss(A, B, d, n);
    for (k = 0; k < n; k++) for (i = 0; i < d; i++) X[(size_t)k * d + i] = B[(size_t)i * n + k];
    free(A); free(B);
}

/* The blocked double kernels of the closed forms (fe__dgemm, fe__dchol, fe__dchol_solve_rows through
   fe_memit_solve) against scalar references on sizes that are not multiples of their blocks (MR 6,
   NR 8, KC 256, NB 128, row blocks 192, NC 1024), including sizes below one block. */
static void test_dkernels(void) {
    fe_rng g;
    fe_rng_seed(&g, 101);
    TEST("fe__dgemm: C += alpha op(A) op(B) by strides (plain and transposed operands) = the triple loop, odd sizes") {
        static const int mnk[][3] = {{1, 1, 1}, {5, 7, 3}, {13, 1030, 300}, {100, 17, 513}, {6, 8, 256}};
        int t, tr;
        double *ws = (double *)malloc(sizeof(double) * FACTEDIT__DWS);
        for (t = 0; t < 5; t++) for (tr = 0; tr < 4; tr++) {
            int m = mnk[t][0], n = mnk[t][1], k = mnk[t][2], i, j, p;
            double *A = (double *)malloc(sizeof(double) * m * k), *B = (double *)malloc(sizeof(double) * k * n);
            double *Cm = (double *)malloc(sizeof(double) * m * (n + 3)), *R = (double *)malloc(sizeof(double) * m * n), worst = 0;
            size_t ars = tr & 1 ? 1 : (size_t)k, acs = tr & 1 ? (size_t)m : 1, brs = tr & 2 ? 1 : (size_t)n, bcs = tr & 2 ? (size_t)k : 1;
            double alpha = tr == 1 ? -1.0 : 0.5;
            for (i = 0; i < m * k; i++) A[i] = fe_rng_normal(&g);
            for (i = 0; i < k * n; i++) B[i] = fe_rng_normal(&g);
            for (i = 0; i < m * (n + 3); i++) Cm[i] = fe_rng_normal(&g);
            for (i = 0; i < m; i++) for (j = 0; j < n; j++) {
                double x = 0;
                for (p = 0; p < k; p++) x += A[i * ars + p * acs] * B[p * brs + j * bcs];
                R[i * n + j] = Cm[i * (n + 3) + j] + alpha * x;
            }
            fe__dgemm(m, n, k, alpha, A, ars, acs, B, brs, bcs, Cm, (size_t)(n + 3), ws);
            for (i = 0; i < m; i++) for (j = 0; j < n; j++) if (fabs(Cm[i * (n + 3) + j] - R[i * n + j]) > worst) worst = fabs(Cm[i * (n + 3) + j] - R[i * n + j]);
            CHECKF(worst < 1e-10 * (k + 1), "%d x %d x %d, transposes %d: error %g", m, n, k, tr, worst);
            free(A); free(B); free(Cm); free(R);
        }
        free(ws);
    }
    TEST("fe__rank1_add_many (tiled, threads) = n fe__rank1_add calls bit for bit (C 40: panels 32 + 8; 4C 160: tiles 128 + 32; n 37); fe_memit_apply") {
        int c = 40, n = 37, i;
        size_t sz = (size_t)c * 4 * c;
        float *W1 = (float *)malloc(sizeof(float) * sz), *W2 = (float *)malloc(sizeof(float) * sz);
        float *R = (float *)malloc(sizeof(float) * n * c), *X = (float *)malloc(sizeof(float) * n * 4 * c);
        fe_model *m = rand_model(3);
        fe_error e;
        for (i = 0; i < (int)sz; i++) W1[i] = W2[i] = (float)fe_rng_normal(&g);
        for (i = 0; i < n * c; i++) R[i] = (float)fe_rng_normal(&g);
        for (i = 0; i < n * 4 * c; i++) X[i] = (float)fe_rng_normal(&g);
        for (i = 0; i < n; i++) fe__rank1_add(W1, c, R + (size_t)i * c, X + (size_t)i * 4 * c);
        fe__rank1_add_many(W2, c, R, X, n);
        CHECK(!memcmp(W1, W2, sizeof(float) * sz));
        memcpy(W1, fcproj(m, 1), sizeof(float) * C * C4);
        for (i = 0; i < 5; i++) fe__rank1_add(W1, C, R + (size_t)i * C, X + (size_t)i * C4);
        CHECK(fe_memit_apply(m, 1, R, X, 5, &e) == fe_ok && !memcmp(W1, fcproj(m, 1), sizeof(float) * C * C4));
        CHECK_CODE(fe_memit_apply(m, L, R, X, 5, &e), fe_err_range);
        CHECK_CODE(fe_memit_apply(m, 1, R, X, 0, &e), fe_err_arg);
        fe_model_free(m);
        free(W1); free(W2); free(R); free(X);
    }
    TEST("fe_memit_solve (Gram, blocked Cholesky, blocked solves) = the scalar double reference, d and n odd, below and above the blocks") {
        static const int dn[][2] = {{5, 1}, {5, 9}, {131, 7}, {203, 263}, {301, 40}};
        int t;
        for (t = 0; t < 5; t++) {
            int d = dn[t][0], n = dn[t][1], i;
            fe_cov *c = NULL;
            float *keys = (float *)malloc(sizeof(float) * d * (d + 8)), *K = (float *)malloc(sizeof(float) * n * d), *X = (float *)malloc(sizeof(float) * n * d);
            double *ref = (double *)malloc(sizeof(double) * n * d), w = 0, mx = 0;
            fe_error e;
            for (i = 0; i < d * (d + 8); i++) keys[i] = (float)fe_rng_normal(&g);
            for (i = 0; i < n * d; i++) K[i] = (float)(fe_rng_normal(&g) * 3);
            CHECK(fe_cov_new(&c, d, NULL, &e) == fe_ok && fe_cov_add(c, keys, (size_t)d + 8, &e) == fe_ok);
            CHECK(fe_memit_solve(c, 1e-2, 3.0, K, n, X, &e) == fe_ok);
            memit_ref(c, 1e-2, 3.0, K, n, ref);
            for (i = 0; i < n * d; i++) { if (fabs(ref[i]) > mx) mx = fabs(ref[i]); if (fabs(X[i] - ref[i]) > w) w = fabs(X[i] - ref[i]); }
            CHECKF(w / mx < 1e-5, "d %d, n %d: relative error %g", d, n, w / mx);
#ifdef _OPENMP
            {   /* threads split rows and blocks, never a sum: the same bits on one thread */
                float *X1 = (float *)malloc(sizeof(float) * n * d);
                int nt = omp_get_max_threads();
                omp_set_num_threads(1);
                CHECK(fe_memit_solve(c, 1e-2, 3.0, K, n, X1, &e) == fe_ok);
                omp_set_num_threads(nt);
                CHECKF(!memcmp(X, X1, sizeof(float) * n * d), "d %d, n %d: X differs on one thread", d, n);
                free(X1);
            }
#endif
            fe_cov_free(c);
            free(keys); free(K); free(X); free(ref);
        }
    }
}

/* fe_memit_keys over more than one chunk of 64 prompts (each chunk only as long as its longest
   prompt) = each prompt's key alone (fe_rome_keys). */
static void test_keys_chunks(void) {
    enum { NQ = 70 };
    fe_model *m = rand_model(51);
    static int ids[NQ][12];
    fe_rome_prompt kp[NQ];
    fe_memit_request q[NQ];
    float *K = (float *)malloc(sizeof(float) * NQ * C4), one[C4];
    fe_rng g;
    fe_error e;
    int i, j;
    double worst = 0, mx = 0;
    fe_rng_seed(&g, 61);
    memset(q, 0, sizeof q);
    for (i = 0; i < NQ; i++) {
        int n = i < 64 ? 4 + i % 3 : 9 + i % 3;   /* the first chunk short, the last long */
        for (j = 0; j < n; j++) ids[i][j] = (int)(fe_rng_u64(&g) % V);
        ids[i][0] = i % V; ids[i][1] = i / V;   /* distinct subjects */
        kp[i].ids = ids[i]; kp[i].n = n; kp[i].lookup = 1 + i % (n - 1);
        q[i].rows = &kp[i]; q[i].n_rows = 1; q[i].target = ids[i]; q[i].n_target = 1;
        q[i].keys = &kp[i]; q[i].n_keys = 1; q[i].bare = kp[i];
    }
    TEST("fe_memit_keys, 70 prompts of 4-6 then 9-11 tokens (two chunks) = fe_rome_keys per prompt") {
        CHECK(fe_memit_keys(m, 1, q, NQ, K, &e) == fe_ok);
        for (i = 0; i < NQ; i++) {
            CHECK(fe_rome_keys(m, 1, &kp[i], 1, one, NULL, &e) == fe_ok);
            for (j = 0; j < C4; j++) {
                if (fabs(one[j]) > mx) mx = fabs(one[j]);
                if (fabs(one[j] - K[i * C4 + j]) > worst) worst = fabs(one[j] - K[i * C4 + j]);
            }
        }
        CHECKF(worst <= 1e-5 * mx, "max difference %g (max |k| %g)", worst, mx);
    }
    free(K);
    teardown(NULL, m, NULL, 0);
}

/* The lookups' activations (fe__lookup_acts: a lean state, 32 rows per forward) = the plain way,
   bit for bit: fe_forward with a full fe_state_new state per chunk of 64 prompts, padded with
   token 0 to the chunk's longest prompt, read by fe_state_act; and a prompt of >= 8 tokens alone
   (attention takes the same path for it as in its chunk). Layers 0, 1 and L - 1 (no layer after
   it to stop before). The first chunk: 32 prompts of 1-20 tokens, then 32 of 2-7 (a forward's
   worth that is run at the chunk's length, 20); the second chunk 36 prompts of 2-7. One head of
   16: attention's dot products over a head then differ in rounding between its two paths (a
   head's keys transposed for >= 8 queries, else one dot product per score), so a forward run
   at the wrong length shows. */
static void test_lookup_bits(void) {
    enum { NP = 100, TMAX = 20 };
    fe_config c;
    fe_model *m = NULL;
    static int ids[NP][TMAX], pad[64 * TMAX];
    static float K[NP][C4], M[NP][C], Rs[NP][C], K2[NP][C4];
    fe_rome_prompt kp[NP];
    fe_memit_request q[NP];
    fe_rng g;
    fe_error e;
    int i, j, l, layers[3] = {0, 1, L - 1};
    c.num_layers = L; c.num_heads = 1; c.channels = C; c.vocab_size = V; c.padded_vocab_size = 64; c.max_seq_len = 32;
    if (fe_model_new(&m, &c, NULL, &e) != fe_ok) { printf("model: %s\n", e.msg); exit(1); }
    fe_model_randomize(m, 71);
    fe_rng_seed(&g, 73);
    memset(q, 0, sizeof q);
    for (i = 0; i < NP; i++) {
        int n = i < 32 ? (i == 5 ? 1 : i == 9 ? TMAX : 2 + (int)(fe_rng_u64(&g) % (TMAX - 1))) : 2 + i % 6;
        for (j = 0; j < n; j++) ids[i][j] = (int)(fe_rng_u64(&g) % V);
        ids[i][0] = i % V;
        if (n > 1) ids[i][1] = i / V;   /* distinct subjects */
        kp[i].ids = ids[i]; kp[i].n = n; kp[i].lookup = n == 1 ? 0 : 1 + (int)(fe_rng_u64(&g) % (n - 1));
        q[i].rows = &kp[i]; q[i].n_rows = 1; q[i].target = ids[i]; q[i].n_target = 1;
        q[i].keys = &kp[i]; q[i].n_keys = 1; q[i].bare = kp[i];
    }
    for (l = 0; l < 3; l++) {
        int lay = layers[l], bad = 0, bad_one = 0, alone = 0, i0;
        TEST("fe__lookup_acts (lean state) = fe_forward with a full state per chunk of 64, bitwise") {
            CHECK(fe__lookup_acts(m, lay, kp, NP, &K[0][0], &M[0][0], &Rs[0][0], &e) == fe_ok);
            for (i0 = 0; i0 < NP; i0 += 64) {
                int nb = NP - i0 < 64 ? NP - i0 : 64, T = 0;
                fe_state *s = NULL;
                fe_forward_opts fo;
                for (i = 0; i < nb; i++) if (kp[i0 + i].n > T) T = kp[i0 + i].n;
                memset(pad, 0, sizeof pad);
                for (i = 0; i < nb; i++) memcpy(pad + i * T, ids[i0 + i], sizeof(int) * kp[i0 + i].n);
                memset(&fo, 0, sizeof fo);
                fo.last_layer = lay + 1; fo.no_logits = 1;
                CHECK(fe_state_new(&s, m, nb, T, 0, &e) == fe_ok && fe_forward(m, s, pad, T, &fo, &e) == fe_ok);
                for (i = 0; s && i < nb; i++) {
                    int lk = kp[i0 + i].lookup;
                    bad += memcmp(K[i0 + i], fe_state_act(s, fe_site_key, lay, i, lk), sizeof(float) * C4) != 0;
                    bad += memcmp(M[i0 + i], fe_state_act(s, fe_site_mlp, lay, i, lk), sizeof(float) * C) != 0;
                    bad += memcmp(Rs[i0 + i], fe_state_act(s, fe_site_resid, lay, i, lk), sizeof(float) * C) != 0;
                }
                fe_state_free(s);
                for (i = 0; T >= 8 && i < nb; i++) {   /* alone */
                    if (kp[i0 + i].n < 8) continue;
                    CHECK(fe_state_new(&s, m, 1, kp[i0 + i].n, 0, &e) == fe_ok &&
                          fe_forward(m, s, ids[i0 + i], kp[i0 + i].n, &fo, &e) == fe_ok);
                    if (s) bad_one += memcmp(K[i0 + i], fe_state_act(s, fe_site_key, lay, 0, kp[i0 + i].lookup),
                                             sizeof(float) * C4) != 0;
                    alone++;
                    fe_state_free(s);
                }
            }
            CHECKF(bad == 0, "layer %d: %d of %d activations differ", lay, bad, 3 * NP);
            CHECKF(bad_one == 0 && alone >= 10, "layer %d: %d of %d keys differ from the prompt's own forward", lay,
                   bad_one, alone);
        }
        TEST("fe_memit_keys (one key prompt per request) and fe_memit_zs = those activations, bitwise") {
            CHECK(fe_memit_keys(m, lay, q + 64, NP - 64, &K2[64][0], &e) == fe_ok);   /* the short ones only */
            CHECK(fe_memit_keys(m, lay, q, NP, &K2[0][0], &e) == fe_ok);
            CHECK(memcmp(K2, K, sizeof K) == 0);
            CHECK(fe_memit_zs(m, lay, q, NP, &K2[0][0], &e) == fe_ok);
            CHECK(memcmp(K2, Rs, sizeof Rs) == 0);
        }
    }
    teardown(NULL, m, NULL, 0);
}

static void test_rrome(void) {
    fe_model *m = rand_model(11);
    fe_cov *cov = make_cov(m, 1, 8, 5);
    int prompt[5] = {3, 7, 9, 11, 13}, target[2] = {21, 22}, pre1[3] = {4, 5, 6}, pre2[2] = {30, 31};
    const int *pres[2] = {pre1, pre2};
    int npres[2] = {3, 2};
    fe_rome_request q;
    fe_rome_hparams hp;
    fe_edit *a = NULL, *b = NULL;
    fe_error e;
    memset(&q, 0, sizeof q);
    q.prompt = prompt; q.n_prompt = 5; q.subject_last = 1; q.target = target; q.n_target = 2;
    fe_rome_hparams_default(&hp, m);
    hp.layer = 1; hp.cov_ridge = 1e-3;
    TEST("r-ROME == ROME with one request whose prompt key is k* (no context prefixes)") {
        double d = 0, s = 0;
        int i;
        CHECK(fe_rome_compute(m, &q, &hp, cov, &a, &e) == fe_ok);
        hp.rrome = 1;
        CHECK(fe_rome_compute(m, &q, &hp, cov, &b, &e) == fe_ok);
        for (i = 0; a && b && i < C; i++) { d += fabs(a->right[i] - b->right[i]); s += fabs(a->right[i]); }
        CHECKF(a && b && d <= 1e-5 * s, "|right_rome - right_rrome| %g of %g", d, s);
        fe_edit_free(a); fe_edit_free(b); a = b = NULL;
    }
    TEST("r-ROME with prefixes: W' k* + b = v* (the key the update was derived from); ROME's differs") {
        fe_rome_prompt kp[2];
        int ids1[8], ids2[7], i;
        float ks[2 * C4], kstar[C4], out[C];
        fe_state *s = NULL;
        double err_r = 0, err_o = 0, nv = 0;
        q.prefixes = pres; q.n_prefixes = npres; q.num_prefixes = 2;
        hp.rrome = 1;
        CHECK(fe_rome_compute(m, &q, &hp, cov, &b, &e) == fe_ok);
        hp.rrome = 0;
        CHECK(fe_rome_compute(m, &q, &hp, cov, &a, &e) == fe_ok);
        memcpy(ids1, pre1, sizeof pre1); memcpy(ids1 + 3, prompt, sizeof prompt);
        memcpy(ids2, pre2, sizeof pre2); memcpy(ids2 + 2, prompt, sizeof prompt);
        kp[0].ids = ids1; kp[0].n = 8; kp[0].lookup = 4; kp[1].ids = ids2; kp[1].n = 7; kp[1].lookup = 3;
        CHECK(fe_rome_keys(m, 1, kp, 2, ks, NULL, &e) == fe_ok);
        for (i = 0; i < C4; i++) kstar[i] = (float)(((double)ks[i] + ks[C4 + i]) / 2);
        (void)s;
        /* MLP output at a key k: c_proj(k) = W k + b, from the weights */
        if (a && b) {
            int o, j, pass;
            for (pass = 0; pass < 2; pass++) {
                fe_edit *ed = pass ? a : b;
                CHECK(fe_edit_apply(m, ed, &e) == fe_ok);
                for (o = 0; o < C; o++) {
                    double y = m->params.fcprojb[(size_t)1 * C + o];
                    for (j = 0; j < C4; j++) y += (double)fcproj(m, 1)[fe_weight_index(C, C4, (size_t)o, (size_t)j)] * kstar[j];
                    out[o] = (float)y;
                }
                for (o = 0; o < C; o++) {
                    double d = fabs(out[o] - ed->vstar[o]);
                    if (pass) err_o += d; else { err_r += d; nv += fabs(ed->vstar[o]); }
                }
                CHECK(fe_edit_undo(m, ed, &e) == fe_ok);
            }
        }
        CHECKF(err_r <= 1e-4 * nv && err_o > 10 * err_r, "r-ROME |W'k* + b - v*| %g (|v*| %g), ROME %g", err_r, nv, err_o);
        fe_edit_free(a); fe_edit_free(b);
    }
    teardown(NULL, m, &cov, 1);
}

static void test_memit(void) {
    fe_model *m = rand_model(21);
    fe_cov *covs[3];
    reqs r;
    fe_memit_hparams hp;
    fe_many *s = NULL;
    fe_error e;
    float Z[NR * C], z1[NR * C], dW[C * C4];
    int l, i, j, k;
    uint64_t h0 = fe_model_checksum(m);
    for (l = 0; l < 3; l++) covs[l] = make_cov(m, l, 16, 40 + l);
    make_reqs(&r, 7);
    memset(&hp, 0, sizeof hp);
    hp.layer_first = 0; hp.layer_last = 2; hp.lambda = 2.0; hp.cov_ridge = 1e-2;
    fe_rome_hparams_default(&hp.v, m);
    TEST("MEMIT over 3 layers: every layer's dW = R K^T (lambda C + K K^T)^-1 (scalar double reference, Gauss-Jordan)") {
        fe_rng g;
        fe_rng_seed(&g, 9);
        CHECK(fe_memit_zs(m, 2, r.q, NR, Z, &e) == fe_ok);
        for (i = 0; i < NR * C; i++) Z[i] += (float)(0.5 * fe_rng_normal(&g));
        CHECK(fe_many_new(&s, m, &hp, (const fe_cov *const *)covs, &e) == fe_ok);
        CHECK(fe_many_edit(s, m, r.q, NR, Z, NULL, &e) == fe_ok);
        for (l = 0; l < 3; l++) {
            int n;
            const float *R, *X, *K = fe_many_record(s, 0, l, &n, &R, &X);
            double *A = (double *)malloc(sizeof(double) * C4 * C4), *B = (double *)malloc(sizeof(double) * C4 * NR), *ref = (double *)malloc(sizeof(double) * C * C4);
            double inv = 1.0 / covs[l]->count;
            CHECK(K && n == NR);
            for (i = 0; i < C4; i++) for (j = 0; j < C4; j++) {
                double a = hp.lambda * (covs[l]->m2[i * C4 + j] * inv + (i == j ? hp.cov_ridge : 0));
                for (k = 0; k < NR; k++) a += (double)K[k * C4 + i] * K[k * C4 + j];
                A[i * C4 + j] = a;
            }
            for (i = 0; i < C4; i++) for (k = 0; k < NR; k++) B[i * NR + k] = K[k * C4 + i];
            gauss(A, B, C4, NR);   /* B = A^-1 K^T */
            for (i = 0; i < C; i++) for (j = 0; j < C4; j++) { double x = 0; for (k = 0; k < NR; k++) x += (double)R[k * C + i] * B[j * NR + k]; ref[i * C4 + j] = x; }
            CHECK(fe_many_delta(s, 0, l, dW, &e) == fe_ok);
            CHECKF(rel(dW, ref, C * C4) < 1e-5, "layer %d: relative error %g", l, rel(dW, ref, C * C4));
            free(A); free(B); free(ref);
        }
    }
    TEST("MEMIT: undo restores the weights bit for bit") {
        CHECK(fe_many_undo(s, m, 1, &e) == fe_ok);
        CHECK(fe_model_checksum(m) == h0);
        CHECK(fe_many_count(s) == 0);
    }
    fe_many_free(s); s = NULL;
    TEST("MEMIT, one layer, lambda -> 0: W' K = V (every target reached, to rounding)") {
        fe_memit_hparams h1 = hp;
        fe_rng g;
        double w = 0, nz = 0;
        int kk;
        fe_memit_request q1[NR];
        h1.layer_first = h1.layer_last = 1; h1.lambda = 1e-9;
        for (kk = 0; kk < NR; kk++) { q1[kk] = r.q[kk]; q1[kk].n_keys = 1; }   /* the key = the bare prompt's */
        fe_rng_seed(&g, 10);
        CHECK(fe_memit_zs(m, 1, q1, NR, Z, &e) == fe_ok);
        for (i = 0; i < NR * C; i++) Z[i] += (float)(0.3 * fe_rng_normal(&g));
        CHECK(fe_many_new(&s, m, &h1, (const fe_cov *const *)&covs[1], &e) == fe_ok);
        CHECK(fe_many_edit(s, m, q1, NR, Z, NULL, &e) == fe_ok);
        CHECK(fe_memit_zs(m, 1, q1, NR, z1, &e) == fe_ok);
        for (i = 0; i < NR * C; i++) { if (fabs(z1[i] - Z[i]) > w) w = fabs(z1[i] - Z[i]); if (fabs(Z[i]) > nz) nz = fabs(Z[i]); }
        CHECKF(w < 1e-4 * nz, "max |z - Z| %g (|Z| %g)", w, nz);
        CHECK(fe_many_undo(s, m, 1, &e) == fe_ok && fe_model_checksum(m) == h0);
        fe_many_free(s); s = NULL;
    }
    TEST("MEMIT, batch of one on one layer = ROME's update (same target, u from lambda C) times s / (1 + s), s = k^T (lambda C)^-1 k") {
        fe_memit_hparams h1 = hp;
        fe_memit_request q1 = r.q[0];
        float k[C4], cur[C], mo[C], vs[C], u[C4];
        double x[C4], sc = 0, nu = 0, ref[C * C4];
        fe_edit *ed = NULL;
        h1.layer_first = h1.layer_last = 1;
        q1.n_keys = 1;
        CHECK(fe_memit_zs(m, 1, &q1, 1, Z, &e) == fe_ok);
        for (i = 0; i < C; i++) Z[i] += 0.25f * (float)((i % 5) - 2);
        CHECK(fe_many_new(&s, m, &h1, (const fe_cov *const *)&covs[1], &e) == fe_ok);
        CHECK(fe_many_edit(s, m, &q1, 1, Z, NULL, &e) == fe_ok);
        CHECK(fe_many_delta(s, 0, 1, dW, &e) == fe_ok);
        CHECK(fe_many_undo(s, m, 1, &e) == fe_ok);
        /* ROME: k, cur_output at the bare prompt, v* = cur_output + (Z - z_now), u from (lambda C)^-1 k */
        CHECK(fe_rome_keys(m, 1, &q1.bare, 1, k, mo, &e) == fe_ok);
        CHECK(fe_memit_zs(m, 1, &q1, 1, cur, &e) == fe_ok);
        for (i = 0; i < C; i++) vs[i] = mo[i] + (Z[i] - cur[i]);
        CHECK(fe_cov_solve(covs[1], h1.cov_ridge, k, x, 1e-13, 0, NULL, &e) == fe_ok);
        for (i = 0; i < C4; i++) { sc += k[i] * x[i] / h1.lambda; nu += x[i] * x[i]; }
        for (i = 0; i < C4; i++) u[i] = (float)(x[i] / sqrt(nu));
        CHECK(fe_edit_new(&ed, m, 1, &e) == fe_ok && fe_edit_set(ed, u, vs, k, mo, &e) == fe_ok);
        for (i = 0; ed && i < C; i++) for (j = 0; j < C4; j++) ref[i * C4 + j] = (double)ed->right[i] * u[j] * sc / (1 + sc);
        CHECKF(rel(dW, ref, C * C4) < 1e-4, "relative error %g (s = %g)", rel(dW, ref, C * C4), sc);
        fe_edit_free(ed);
        fe_many_free(s); s = NULL;
    }
    TEST("sequential MEMIT: 5 batches, undo every suffix: weights equal bytewise a copy saved at that point; patches replay the log exactly") {
        float *snap = (float *)malloc(sizeof(float) * (size_t)6 * 3 * C * C4);
        int b, ok = 1, kk;
        fe_patch **pp = NULL;
        int np = 0;
        CHECK(fe_many_new(&s, m, &hp, (const fe_cov *const *)covs, &e) == fe_ok);
        for (b = 0; b <= 5; b++) {
            for (l = 0; l < 3; l++) memcpy(snap + ((size_t)b * 3 + l) * C * C4, fcproj(m, l), sizeof(float) * C * C4);
            if (b == 5) break;
            CHECK(fe_memit_zs(m, 2, &r.q[b], 1, Z, &e) == fe_ok);
            for (i = 0; i < C; i++) Z[i] += 0.4f;
            CHECK(fe_many_edit(s, m, &r.q[b], 1, Z, NULL, &e) == fe_ok);
        }
        /* patches of batch 2 applied to a model in the state before batch 2 give the state after it */
        CHECK(fe_many_patches(s, m, 2, &pp, &np, &e) == fe_ok && np == 3);
        {
            fe_model *m2 = rand_model(21);
            for (l = 0; l < 3; l++) memcpy(fcproj(m2, l), snap + ((size_t)2 * 3 + l) * C * C4, sizeof(float) * C * C4);
            for (kk = 0; kk < np; kk++) {
                unsigned char *by = NULL; size_t len = 0; fe_patch *lp = NULL;
                CHECK(fe_patch_save_mem(pp[kk], &by, &len, NULL, &e) == fe_ok);
                CHECK(fe_patch_load_mem(&lp, by, len, m2, NULL, &e) == fe_ok);
                CHECK(lp && fe_patch_apply(m2, lp, &e) == fe_ok);
                if (lp) { fe_free(lp->edit->saved, lp->alloc_user); lp->edit->saved = NULL; lp->edit->applied = 0; }
                fe_patch_free(lp); fe_free(by, NULL);
            }
            for (l = 0; l < 3; l++) ok &= !memcmp(fcproj(m2, l), snap + ((size_t)3 * 3 + l) * C * C4, sizeof(float) * C * C4);
            CHECKF(ok, "patched weights differ from the log's");
            fe_model_free(m2);
            for (kk = 0; kk < np; kk++) fe_patch_free(pp[kk]);
            fe_free(pp, NULL);
        }
        for (b = 4; b >= 0; b -= 2) {   /* undo 1, then 2, then 2 */
            int k2 = fe_many_count(s) - b;
            CHECK(fe_many_undo(s, m, k2, &e) == fe_ok);
            ok = 1;
            for (l = 0; l < 3; l++) ok &= !memcmp(fcproj(m, l), snap + ((size_t)b * 3 + l) * C * C4, sizeof(float) * C * C4);
            CHECKF(ok && fe_many_count(s) == b, "after undo to %d batches the weights differ", b);
        }
        CHECK(fe_model_checksum(m) == h0);
        fe_many_free(s); s = NULL;
        free(snap);
    }
    TEST("hostile input: each a clear error, nothing applied") {
        fe_memit_request bad[2];
        fe_memit_hparams hb = hp;
        CHECK(fe_many_new(&s, m, &hp, (const fe_cov *const *)covs, &e) == fe_ok);
        CHECK_CODE(fe_many_edit(s, m, r.q, 0, Z, NULL, &e), fe_err_arg);
        CHECK(strstr(e.msg, "no requests") != NULL);
        bad[0] = r.q[0]; bad[1] = r.q[1]; bad[1].bare = r.q[0].bare;
        CHECK_CODE(fe_many_edit(s, m, bad, 2, Z, NULL, &e), fe_err_arg);
        CHECK(strstr(e.msg, "same subject") != NULL);
        bad[1] = r.q[1]; bad[1].bare.lookup = 9;   /* the subject is not in the prompt */
        CHECK_CODE(fe_many_edit(s, m, bad, 2, Z, NULL, &e), fe_err_arg);
        CHECK(strstr(e.msg, "subject") != NULL);
        CHECK(fe_model_checksum(m) == h0 && fe_many_count(s) == 0);
        fe_many_free(s); s = NULL;
        hb.layer_last = 3;
        CHECK_CODE(fe_many_new(&s, m, &hb, (const fe_cov *const *)covs, &e), fe_err_range);
        CHECK(strstr(e.msg, "outside the model") != NULL);
        hb = hp; hb.layer_first = 2; hb.layer_last = 1;
        CHECK_CODE(fe_many_new(&s, m, &hb, (const fe_cov *const *)covs, &e), fe_err_range);
    }
    TEST("hostile input: a singular lambda C + K K^T (statistics of 4 tokens, no ridge) is fe_err_numeric naming the ridge; nothing applied") {
        fe_cov *tiny = NULL;
        fe_memit_hparams hb = hp;
        int tok[4] = {1, 2, 3, 4};
        CHECK(fe_cov_new(&tiny, C4, NULL, &e) == fe_ok && fe_cov_add_tokens(tiny, m, 1, tok, 1, 4, &e) == fe_ok);
        hb.layer_first = hb.layer_last = 1; hb.cov_ridge = 0;
        CHECK(fe_many_new(&s, m, &hb, (const fe_cov *const *)&tiny, &e) == fe_ok);
        CHECK_CODE(fe_many_edit(s, m, r.q, 2, Z, NULL, &e), fe_err_numeric);
        CHECK(strstr(e.msg, "ridge") != NULL);
        CHECK(fe_model_checksum(m) == h0 && fe_many_count(s) == 0);
        fe_many_free(s); s = NULL;
        fe_cov_free(tiny);
    }
    teardown(NULL, m, covs, 3);
}

static void test_alphaedit(void) {
    fe_model *m = rand_model(31);
    fe_cov *covs[2];
    reqs r;
    fe_memit_hparams hp;
    fe_many *s = NULL, *s2 = NULL;
    fe_error e;
    float Z[NR * C], dW[C * C4], P[C4 * C4];
    int l, i, j, k, tok[2 * 16];
    fe_rng g;
    uint64_t h0 = fe_model_checksum(m);
    /* statistics from 2 sequences of 16 tokens: rank <= 32 of 64, the rest is the ridge */
    fe_rng_seed(&g, 77);
    for (i = 0; i < 32; i++) tok[i] = (int)(fe_rng_u64(&g) % V);
    for (l = 0; l < 2; l++) {
        covs[l] = NULL;
        if (fe_cov_new(&covs[l], C4, NULL, &e) != fe_ok || fe_cov_add_tokens(covs[l], m, 1 + l, tok, 2, 16, &e) != fe_ok) exit(1);
    }
    make_reqs(&r, 8);
    memset(&hp, 0, sizeof hp);
    hp.layer_first = 1; hp.layer_last = 2; hp.lambda = 1; hp.cov_ridge = 1e-9; hp.alphaedit = 1; hp.l2 = 1e-3;
    hp.null_threshold = 1e-7;   /* the data's 32 eigenvalues are >= 1.6e-6 here, the rest ~1e-9 */
    fe_rome_hparams_default(&hp.v, m);
    TEST("AlphaEdit: P is a projector onto C's small-eigenvalue space; dW k = 0 for every key of the statistics") {
        int rk = 0, b;
        double worst = 0;
        float keys[32 * C4];
        CHECK(fe_many_new(&s, m, &hp, (const fe_cov *const *)covs, &e) == fe_ok);
        CHECK(fe_many_projector(s, 1, P, &rk, &e) == fe_ok);
        CHECKF(rk == 32, "rank %d", rk);
        for (b = 0; b < 2; b++) {
            CHECK(fe_memit_zs(m, 2, &r.q[3 * b], 3, Z, &e) == fe_ok);
            for (i = 0; i < 3 * C; i++) Z[i] += 0.5f;
            CHECK(fe_many_edit(s, m, &r.q[3 * b], 3, Z, NULL, &e) == fe_ok);
        }
        for (l = 1; l <= 2; l++) {
            fe_rome_prompt p[32];
            for (i = 0; i < 32; i++) { p[i].ids = tok + (i / 16) * 16; p[i].n = 16; p[i].lookup = i % 16; }
            /* keys of the unedited model (the statistics' keys): undo, read, redo is not needed: keys at
               layer l depend only on layers < l, unchanged for l = 1; for l = 2 read them from a fresh model */
            {
                fe_model *m0 = rand_model(31);
                CHECK(fe_rome_keys(m0, l, p, 32, keys, NULL, &e) == fe_ok);
                fe_model_free(m0);
            }
            for (b = 0; b < 2; b++) {
                double nd = 0;
                CHECK(fe_many_delta(s, b, l, dW, &e) == fe_ok);
                for (i = 0; i < C * C4; i++) nd += (double)dW[i] * dW[i];
                nd = sqrt(nd);
                for (k = 0; k < 32; k++) {
                    double nk = 0;
                    for (j = 0; j < C4; j++) nk += (double)keys[k * C4 + j] * keys[k * C4 + j];
                    for (i = 0; i < C; i++) {
                        double y = 0;
                        for (j = 0; j < C4; j++) y += (double)dW[i * C4 + j] * keys[k * C4 + j];
                        if (fabs(y) / (nd * sqrt(nk)) > worst) worst = fabs(y) / (nd * sqrt(nk));
                    }
                }
            }
        }
        CHECKF(worst < 1e-4, "max |dW k| / (|dW| |k|) = %g", worst);
    }
    TEST("AlphaEdit: batch 2's dW at layer 1 = solve(P (K K^T + K1 K1^T) + l2 I, P K R^T)^T (scalar double reference, full 64 x 64)") {
        int n = 0, n1 = 0, d = C4;
        const float *R, *X, *K = fe_many_record(s, 1, 1, &n, &R, &X), *K1 = fe_many_record(s, 0, 1, &n1, NULL, NULL);
        double *A = (double *)malloc(sizeof(double) * d * d), *M = (double *)malloc(sizeof(double) * d * d), *B = (double *)malloc(sizeof(double) * d * C), ref[C * C4];
        int a, b2;
        CHECK(fe_many_projector(s, 1, P, NULL, &e) == fe_ok);
        for (i = 0; i < d; i++) for (j = 0; j < d; j++) {
            double x = 0;
            for (k = 0; k < n; k++) x += (double)K[k * d + i] * K[k * d + j];
            for (k = 0; k < n1; k++) x += (double)K1[k * d + i] * K1[k * d + j];   /* layer 1's keys do not see layers >= 1: K1 post = K1 */
            M[i * d + j] = x;
        }
        for (i = 0; i < d; i++) for (j = 0; j < d; j++) { double x = 0; for (a = 0; a < d; a++) x += (double)P[i * d + a] * M[a * d + j]; A[i * d + j] = x + (i == j ? hp.l2 : 0); }
        for (i = 0; i < d; i++) for (b2 = 0; b2 < C; b2++) {
            double x = 0;
            for (a = 0; a < d; a++) for (k = 0; k < n; k++) x += (double)P[i * d + a] * K[k * d + a] * R[k * C + b2];
            B[i * C + b2] = x;
        }
        gauss(A, B, d, C);
        for (i = 0; i < C; i++) for (j = 0; j < d; j++) ref[i * d + j] = B[j * C + i];
        CHECK(fe_many_delta(s, 1, 1, dW, &e) == fe_ok);
        CHECKF(rel(dW, ref, C * C4) < 1e-3, "relative error %g", rel(dW, ref, C * C4));
        free(A); free(M); free(B);
    }
    TEST("AlphaEdit: the second batch moves the first batch's keys' outputs far less than without the cache") {
        /* |dW_2 K_1| / |dW_2| with the cache (s) against a state without it (s2: batch 2 alone) */
        float K1[3 * C4], Kb[3 * C4];
        double with = 0, without = 0;
        int n;
        const float *Kr = fe_many_record(s, 0, 1, &n, NULL, NULL);
        memcpy(K1, Kr, sizeof K1);
        (void)Kb;
        for (k = 0; k < 3; k++) for (i = 0; i < C; i++) {
            double y = 0;
            CHECK(fe_many_delta(s, 1, 1, dW, &e) == fe_ok);
            for (j = 0; j < C4; j++) y += (double)dW[i * C4 + j] * K1[k * C4 + j];
            with += y * y;
        }
        CHECK(fe_many_undo(s, m, 2, &e) == fe_ok && fe_model_checksum(m) == h0);
        CHECK(fe_many_new(&s2, m, &hp, (const fe_cov *const *)covs, &e) == fe_ok);
        CHECK(fe_memit_zs(m, 2, &r.q[3], 3, Z, &e) == fe_ok);
        for (i = 0; i < 3 * C; i++) Z[i] += 0.5f;
        CHECK(fe_many_edit(s2, m, &r.q[3], 3, Z, NULL, &e) == fe_ok);
        CHECK(fe_many_delta(s2, 0, 1, dW, &e) == fe_ok);
        for (k = 0; k < 3; k++) for (i = 0; i < C; i++) {
            double y = 0;
            for (j = 0; j < C4; j++) y += (double)dW[i * C4 + j] * K1[k * C4 + j];
            without += y * y;
        }
        CHECKF(sqrt(with) < sqrt(without), "with the cache %g, without %g", sqrt(with), sqrt(without));
        CHECK(fe_many_undo(s2, m, 1, &e) == fe_ok && fe_model_checksum(m) == h0);
    }
    fe_many_free(s2);
    teardown(s, m, covs, 2);
}

static void test_targets_health(void) {
    fe_model *m = rand_model(41);
    fe_cov *covs[2];
    reqs r;
    fe_memit_hparams hp;
    fe_many *s = NULL;
    fe_error e;
    fe_health h0, h1;
    int probe[3][12], *pp[3], pn[3] = {12, 12, 12}, i, j;
    fe_rome_report rep[2];
    float Z[2 * C], z[2 * C];
    for (i = 0; i < 3; i++) { for (j = 0; j < 12; j++) probe[i][j] = (i * 7 + j * 3) % V; pp[i] = probe[i]; }
    {
        fe_health_probes pr;
        memset(&pr, 0, sizeof pr);
        pr.ids = (const int *const *)pp; pr.n = pn; pr.count = 3;
        pr.gen_ids = (const int *const *)pp; pr.gen_n = pn; pr.gen_count = 3; pr.gen_len = 12;
        for (i = 0; i < 2; i++) covs[i] = make_cov(m, i, 16, 50 + i);
        make_reqs(&r, 9);
        fe_memit_hparams_default(&hp, m);
        hp.layer_first = 0; hp.layer_last = 1;   /* z at layer 1: block 2 carries it to the last token */ hp.lambda = 1.0; hp.cov_ridge = 1e-3;
        hp.v.clamp_norm_factor = 0;   /* no clamp: reach the targets */
        hp.v.v_weight_decay = 0;      /* |delta|'s kink at 0 outweighs this random model's small gradients */
        TEST("health of the unedited model: rel_fro 0, sigma = sigma0, NLL and GE finite, warn 0") {
            CHECK(fe_many_new(&s, m, &hp, (const fe_cov *const *)covs, &e) == fe_ok);
            CHECK(fe_many_health(s, m, &pr, &h0, &e) == fe_ok);
            CHECK(h0.rel_fro_max == 0 && fabs(h0.sigma_ratio_max - 1) < 1e-6 && isfinite(h0.nll) && isfinite(h0.ge) && h0.ge > 0);
            CHECK(fe_health_warn(&h0, &h0) == 0);
        }
        TEST("MEMIT end to end (z objective at layer 1's residual, layers 0-1): targets reached, health moves") {
            double nll_before = 0, nll_after = 0;
            int k;
            CHECK(fe_many_edit(s, m, r.q, 2, NULL, rep, &e) == fe_ok);
            CHECK(fe_memit_zs(m, 1, r.q, 2, z, &e) == fe_ok);
            (void)Z;
            /* the target token's NLL at the bare prompt's last position drops */
            for (k = 0; k < 2; k++) {
                nll_before += rep[k].first.nll;
                nll_after += rep[k].last.nll;
            }
            CHECKF(nll_after < nll_before, "z objective nll %g -> %g (status %d, iters %d, evals %d, delta %g)", nll_before, nll_after, rep[0].status, rep[0].iters, rep[0].evals, rep[0].delta_norm);
            CHECK(fe_many_health(s, m, &pr, &h1, &e) == fe_ok);
            CHECK(h1.rel_fro_max > 0 && isfinite(h1.ge));
            CHECK(fe_many_undo(s, m, 1, &e) == fe_ok);
        }
    }
    teardown(s, m, covs, 2);
}

int main(void) {
    test_eigh();
    test_dkernels();
    test_keys_chunks();
    test_lookup_bits();
    test_rrome();
    test_memit();
    test_alphaedit();
    test_targets_health();
    return t_summary();
}
