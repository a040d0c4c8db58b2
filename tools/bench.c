/* factedit bench [--json] [--quick]: figures for this machine, measured in one run.
   Random-weight models are made in memory (nothing is downloaded or committed).
   First the machine: FMA peak (1 thread, all threads) and read bandwidth; then the forward's
   matmuls at GPT-2 124M shapes, full forwards, KV-cached decoding, the causal-trace grid and one
   ROME edit. Benchmarks print figures; they never assert. */
#define _POSIX_C_SOURCE 200809L   /* fork, waitpid, getrusage under -std=c99 */
#include "factedit.h"
#include "bench.h"
#include "progress.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#define BENCH_HAVE_FORK 1
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* FMA peak: 16 independent accumulator chains per thread, enough to cover FMA latency x ports.
   Every chain starts from a different value: chains that start equal compute equal values, and
   the compiler merges them into one (session 1's bench did exactly that and reported 3x the real
   peak). */
#if defined(__AVX512F__)
typedef __m512 bench_vf;
#define BENCH_VW 16
#define BENCH_SET1(x) _mm512_set1_ps(x)
#define BENCH_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define BENCH_ADD(a, b) _mm512_add_ps(a, b)
#define BENCH_STORE(p, v) _mm512_storeu_ps(p, v)
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 bench_vf;
#define BENCH_VW 8
#define BENCH_SET1(x) _mm256_set1_ps(x)
#define BENCH_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define BENCH_ADD(a, b) _mm256_add_ps(a, b)
#define BENCH_STORE(p, v) _mm256_storeu_ps(p, v)
#endif
static double fma_loop(long iters) {
#ifdef BENCH_VW
    bench_vf m = BENCH_SET1(0.999999f), c = BENCH_SET1(1e-7f);
    bench_vf a0 = BENCH_SET1(1.000f), a1 = BENCH_SET1(1.001f), a2 = BENCH_SET1(1.002f), a3 = BENCH_SET1(1.003f);
    bench_vf a4 = BENCH_SET1(1.004f), a5 = BENCH_SET1(1.005f), a6 = BENCH_SET1(1.006f), a7 = BENCH_SET1(1.007f);
    bench_vf a8 = BENCH_SET1(1.008f), a9 = BENCH_SET1(1.009f), a10 = BENCH_SET1(1.010f), a11 = BENCH_SET1(1.011f);
    bench_vf a12 = BENCH_SET1(1.012f), a13 = BENCH_SET1(1.013f), a14 = BENCH_SET1(1.014f), a15 = BENCH_SET1(1.015f);
    float out[BENCH_VW];
    long i;
    for (i = 0; i < iters; i++) {
        a0 = BENCH_FMA(a0, m, c); a1 = BENCH_FMA(a1, m, c); a2 = BENCH_FMA(a2, m, c); a3 = BENCH_FMA(a3, m, c);
        a4 = BENCH_FMA(a4, m, c); a5 = BENCH_FMA(a5, m, c); a6 = BENCH_FMA(a6, m, c); a7 = BENCH_FMA(a7, m, c);
        a8 = BENCH_FMA(a8, m, c); a9 = BENCH_FMA(a9, m, c); a10 = BENCH_FMA(a10, m, c); a11 = BENCH_FMA(a11, m, c);
        a12 = BENCH_FMA(a12, m, c); a13 = BENCH_FMA(a13, m, c); a14 = BENCH_FMA(a14, m, c); a15 = BENCH_FMA(a15, m, c);
    }
    a0 = BENCH_ADD(BENCH_ADD(BENCH_ADD(a0, a1), BENCH_ADD(a2, a3)), BENCH_ADD(BENCH_ADD(a4, a5), BENCH_ADD(a6, a7)));
    a8 = BENCH_ADD(BENCH_ADD(BENCH_ADD(a8, a9), BENCH_ADD(a10, a11)), BENCH_ADD(BENCH_ADD(a12, a13), BENCH_ADD(a14, a15)));
    BENCH_STORE(out, BENCH_ADD(a0, a8));
    return out[0] + (double)iters * 16 * BENCH_VW * 2;
#else
    float a[16];
    long i;
    int j;
    for (j = 0; j < 16; j++) a[j] = 1.0f + 1e-3f * (float)j;
    for (i = 0; i < iters; i++) for (j = 0; j < 16; j++) a[j] = a[j] * 0.999999f + 1e-7f;
    return a[0] + (double)iters * 16 * 2;
#endif
}

/* GFLOP/s of fma_loop on `threads` threads (best of 3). */
static double peak_gflops(int threads) {
    long iters = 20000000;
    double best = 0.0;
    int rep;
    for (rep = 0; rep < 3; rep++) {
        double t0 = cli_wall(), flops = 0.0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : flops)
#endif
        {
            double f = fma_loop(iters);
            flops += f - fmod(f, 2.0 * 16); /* the float result keeps the loop alive; flops dominate */
        }
        (void)threads;
        {
            double dt = cli_wall() - t0, g = flops / dt / 1e9;
            if (g > best) best = g;
        }
    }
    return best;
}

/* Read bandwidth in GB/s over a buffer much larger than the caches (all threads, best of 3). */
static double read_bandwidth(void) {
    size_t n = (size_t)256 << 20 >> 2, i;  /* 256 MB of floats */
    float *buf = (float *)malloc(n * sizeof(float));
    double best = 0.0, sink = 0.0;
    int rep;
    if (!buf) return 0.0;
    for (i = 0; i < n; i++) buf[i] = (float)(i & 7);
    for (rep = 0; rep < 3; rep++) {
        double t0 = cli_wall(), s = 0.0, dt;
        long k;
#ifdef _OPENMP
#pragma omp parallel for reduction(+ : s) schedule(static)
#endif
        for (k = 0; k < (long)(n / 4096); k++) {
            const float *p = buf + (size_t)k * 4096;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int j;
            for (j = 0; j < 4096; j += 4) { a0 += p[j]; a1 += p[j + 1]; a2 += p[j + 2]; a3 += p[j + 3]; }
            s += a0 + a1 + a2 + a3;
        }
        dt = cli_wall() - t0;
        sink += s;
        if (n * 4.0 / dt / 1e9 > best) best = n * 4.0 / dt / 1e9;
    }
    free(buf);
    return best + 0.0 * sink;
}

/* ---------------------------------------------------------------- tracing and ROME */

/* 1 when bench_trace_edit's plain figure is an extrapolation rather than a measured grid. */
static int trace_plain_estimated;

/* The full plain grid is run when the extrapolation says it takes at most this long. */
#define BENCH_PLAIN_MAX_S 120.0

/* Figures of the last edit: solver evaluations, and the two untimed preparations. */
static int edit_evals = -1, edit_grads = -1;
static double edit_stats_s = -1.0, edit_factor_s = -1.0;

/* One ROME edit as ROME runs it, with key statistics already computed: layer 4 (the default
   rule), u from the covariance of 4096 tokens of random text (its Cholesky factor made first,
   once per statistics file: timed apart), ROME's 21 context prefixes ("{}" plus 10 of 5 tokens
   and 10 of 10, random tokens here: a random model's samples are noise anyway), the KL prompt,
   a one-token target, CG. The edit time is fe_rome_compute: k*, u, v*, right. */
static void bench_edit(const fe_model *m, const int *ids, int T, double *edit_s) {
    static const int target[1] = {6342}, kl[5] = {464, 4687, 44090, 318, 257};
    int *pre[21], npre[21], *tok, i, j, ok = 1, layer;
    fe_rome_request q;
    fe_rome_hparams hp;
    fe_edit *ed = NULL;
    fe_cov *cov = NULL;
    fe_rng rng;
    fe_error e;
    double t0;
    if (target[0] >= m->config.vocab_size) return;
    fe_rome_hparams_default(&hp, m);
    layer = hp.layer;
    hp.cov_ridge = 1e-3;   /* 4096 random-text keys leave the 3072-dim covariance badly conditioned */
    fe_rng_seed(&rng, 5);
    tok = (int *)malloc(sizeof(int) * 4096);
    for (i = 0; i < 21; i++) {
        npre[i] = i == 0 ? 0 : i <= 10 ? 5 : 10;
        pre[i] = (int *)malloc(sizeof(int) * 10);
        if (!pre[i]) ok = 0;
        for (j = 0; pre[i] && j < npre[i]; j++) pre[i][j] = j == 0 ? 50256 : (int)(fe_rng_u64(&rng) % 50000);
    }
    if (!tok || !ok) goto done;
    for (i = 0; i < 4096; i++) tok[i] = (int)(fe_rng_u64(&rng) % 50000);
    t0 = cli_wall();
    if (fe_cov_new(&cov, 4 * m->config.channels, NULL, &e) != fe_ok || fe_cov_add_tokens(cov, m, layer, tok, 16, 256, &e) != fe_ok) goto fail;
    edit_stats_s = cli_wall() - t0;
    t0 = cli_wall();
    if (fe_cov_factor(cov, hp.cov_ridge, &e) != fe_ok) goto fail;
    edit_factor_s = cli_wall() - t0;
    memset(&q, 0, sizeof q);
    q.prompt = ids; q.n_prompt = T; q.subject_last = 3; q.target = target; q.n_target = 1;
    q.prefixes = (const int *const *)pre; q.n_prefixes = npre; q.num_prefixes = 21;
    q.kl_prompt = kl; q.n_kl = 5; q.kl_lookup = 3;
    t0 = cli_wall();
    if (fe_rome_compute(m, &q, &hp, cov, &ed, &e) != fe_ok) goto fail;
    *edit_s = cli_wall() - t0;
    edit_evals = ed->report.evals; edit_grads = ed->report.grads;
    fe_edit_free(ed);
    goto done;
fail:
    fprintf(stderr, "factedit bench: ROME: %s\n", e.msg);
done:
    fe_cov_free(cov);
    free(tok);
    for (i = 0; i < 21; i++) free(pre[i]);
}

/* The causal-trace grid on a 12-token prompt, subject = tokens 1..3 (span [1, 4)), 10 samples,
   window 10, noise 3 sigma of the subject's embeddings, all three kinds: the fast path, and unless
   quick the plain path (one full forward per restoration). The plain path's cost per restoration
   comes from two severed traces of L and 2L restorations (their difference cancels the setup);
   when the grid's 3 T L restorations would take longer than BENCH_PLAIN_MAX_S the figure is
   that extrapolation (trace_plain_estimated = 1), else the plain grid is timed in full.
   Then one ROME edit of the same prompt (bench_edit). */
void bench_trace_edit(const fe_model *m, int quick, double *trace_s, double *trace_plain_s, double *edit_s) {
    static const int ids[12] = {464, 4687, 44090, 318, 5140, 287, 262, 1748, 286, 11, 290, 262};
    const int T = 12, L = m->config.num_layers;
    fe_trace_opts o = fe_trace_opts_default();
    fe_trace_result fast, plain;
    fe_error e;
    double sd, t0;
    int i;
    *trace_s = *trace_plain_s = *edit_s = -1.0;
    trace_plain_estimated = 0;
    for (i = 0; i < T; i++) if (ids[i] >= m->config.vocab_size) return;
    if (fe_embedding_std(m, ids + 1, 3, &sd, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return; }
    o.noise = (float)(3.0 * sd);
    o.seed = 1;
    t0 = cli_wall();
    if (fe_trace(m, ids, T, 1, 4, FACTEDIT_TRACE_ALL, &o, &fast, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return; }
    *trace_s = cli_wall() - t0;
    if (!quick) {
        double t1, t2, per, setup, est;
        o.plain = 1;
        t0 = cli_wall();
        if (fe_trace_sever(m, ids, T, 1, 4, -1, FACTEDIT_SEVER_NONE, &o, &plain, &e) != fe_ok) goto plain_done;
        t1 = cli_wall() - t0;
        fe_trace_result_free(&plain);
        t0 = cli_wall();
        if (fe_trace_sever(m, ids, T, 1, 4, -1, FACTEDIT_SEVER_NONE | FACTEDIT_SEVER_MLP, &o, &plain, &e) != fe_ok) goto plain_done;
        t2 = cli_wall() - t0;
        fe_trace_result_free(&plain);
        per = (t2 - t1) / L;
        if (per <= 0) per = t2 / (2.0 * L);
        setup = t1 - per * L;
        if (setup < 0) setup = 0;
        est = setup + per * 3.0 * T * L;
        if (est <= BENCH_PLAIN_MAX_S) {
            t0 = cli_wall();
            if (fe_trace(m, ids, T, 1, 4, FACTEDIT_TRACE_ALL, &o, &plain, &e) != fe_ok) goto plain_done;
            *trace_plain_s = cli_wall() - t0;
            fe_trace_result_free(&plain);
        } else {
            *trace_plain_s = est;
            trace_plain_estimated = 1;
        }
    plain_done:
        if (*trace_plain_s < 0) fprintf(stderr, "factedit bench: plain trace: %s\n", e.msg);
    }
    fe_trace_result_free(&fast);
    bench_edit(m, ids, T, edit_s);
}

/* The 124M shape with random weights; bf16: bf16-resident (fe_load_opts.bf16_weights). */
static fe_model *model_124m(fe_error *e, int bf16) {
    fe_config c = {1024, 50257, 50304, 12, 12, 768};
    fe_model *m;
    fe_load_opts o;
    memset(&o, 0, sizeof o);
    o.bf16_weights = bf16;
    if (fe_model_new(&m, &c, &o, e) != fe_ok) return NULL;
    fe_model_randomize(m, 1234);
    return m;
}

/* MEMIT on the 124M shape (random weights): 1,000 requests over layers 4-8 (GPT-2 XL's MEMIT edits
   5 layers), split into its parts. Targets: 2 requests' z objectives (21 context rows, CG) timed, per
   request. Keys: 100 requests x 6 key prompts of 12 tokens, forwards that stop at layer 8, as
   tokens/s, next to fe_forward on the same prompts (batches of 64, stopping after layer 8): the
   keys' efficiency against the forward's. Closed form, keys given: per layer fe_memit_solve
   (Gram K^T K, Cholesky of lambda C + K^T K at 3072 x 3072, the solve for 1,000 keys; double) and
   fe_memit_apply (the 1,000 rank-one updates of the layer's matrix), 1,000 keys = the 100 timed
   requests' keys, each 10 times with 1% noise. */
static int bench_memit(int json) {
    enum { N = 1000, NK = 6, TK = 12, NL = 5, FB = 64 };
    fe_error e;
    fe_model *m = model_124m(&e, 0);
    fe_memit_request *q = NULL;
    fe_rome_prompt *kp = NULL, rows[21];
    int *tok = NULL, i, j, l, C4, C, row_ids[21][16], target[1] = {6342};
    float *K = NULL, *X = NULL, *R = NULL, *Z = NULL;
    fe_cov *cov = NULL;
    fe_memit_hparams hp;
    fe_rng g;
    fe_state *st = NULL;
    fe_forward_opts fo;
    double t0, t_keys = 0, t_fwd = 0, t_tgt = 0, t_solve[NL], t_apply[NL], solve_sum = 0, apply_sum = 0, key_tok, fwd_tok;
    if (!m) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
    C = m->config.channels; C4 = 4 * C;
    fe_rng_seed(&g, 5);
    q = (fe_memit_request *)calloc(N, sizeof *q);
    kp = (fe_rome_prompt *)calloc((size_t)N * NK, sizeof *kp);
    tok = (int *)malloc(sizeof(int) * (size_t)N * NK * TK);
    K = (float *)malloc(sizeof(float) * (size_t)N * C4);
    X = (float *)malloc(sizeof(float) * (size_t)N * C4);
    R = (float *)malloc(sizeof(float) * (size_t)N * C);
    Z = (float *)malloc(sizeof(float) * 2 * (size_t)C);
    if (!q || !kp || !tok || !K || !X || !R || !Z) { fprintf(stderr, "factedit bench: out of memory\n"); return 1; }
    for (i = 0; i < N; i++) {
        for (j = 0; j < NK; j++) {
            int *t = tok + ((size_t)i * NK + j) * TK, k;
            for (k = 0; k < TK; k++) t[k] = (int)(fe_rng_u64(&g) % 50000);
            t[j] = 1000 + i;   /* distinct subjects */
            kp[i * NK + j].ids = t; kp[i * NK + j].n = TK; kp[i * NK + j].lookup = j;
        }
        q[i].keys = kp + (size_t)i * NK; q[i].n_keys = NK; q[i].bare = kp[(size_t)i * NK];
        q[i].rows = &q[i].bare; q[i].n_rows = 1; q[i].target = target; q[i].n_target = 1;
    }
    if (!json) fprintf(stderr, "MEMIT: keys...\n");
    t0 = cli_wall();
    if (fe_memit_keys(m, 8, q, N / 10, K, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
    t_keys = cli_wall() - t0;
    key_tok = (double)(N / 10) * NK * TK / t_keys;
    /* the same 600 prompts through fe_forward, FB rows a batch, stopping after layer 8 */
    if (fe_state_new(&st, m, FB, TK, 0, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
    memset(&fo, 0, sizeof fo);
    fo.last_layer = 9; fo.no_logits = 1;
    t0 = cli_wall();
    for (i = 0; i + FB <= N / 10 * NK; i += FB)
        if (fe_forward(m, st, tok + (size_t)i * TK, TK, &fo, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
    t_fwd = cli_wall() - t0;
    fwd_tok = (double)(N / 10 * NK / FB * FB) * TK / t_fwd;
    fe_state_free(st);
    for (i = N / 10; i < N; i++) for (j = 0; j < C4; j++) K[(size_t)i * C4 + j] = K[(size_t)(i % (N / 10)) * C4 + j] * (float)(1.0 + 0.01 * fe_rng_normal(&g));
    /* targets: two requests with 21 context rows each */
    for (i = 0; i < 21; i++) {
        for (j = 0; j < 16; j++) row_ids[i][j] = (int)(fe_rng_u64(&g) % 50000);
        rows[i].ids = row_ids[i]; rows[i].n = 16; rows[i].lookup = 10;
    }
    fe_memit_hparams_default(&hp, m);
    hp.layer_first = 4; hp.layer_last = 8;
    {
        fe_memit_request tq[2];
        for (i = 0; i < 2; i++) { tq[i] = q[i]; tq[i].rows = rows; tq[i].n_rows = 21; tq[i].bare = rows[0]; }
        tq[1].rows = rows + 1; tq[1].n_rows = 20; tq[1].bare = rows[1];
        if (!json) fprintf(stderr, "MEMIT: targets...\n");
        t0 = cli_wall();
        if (fe_memit_targets(m, tq, 2, &hp, Z, NULL, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
        t_tgt = (cli_wall() - t0) / 2;
    }
    /* statistics: an SPD matrix as from many tokens (E[k k^T] of the keys + a diagonal) */
    if (fe_cov_new(&cov, C4, NULL, &e) != fe_ok || fe_cov_add(cov, K, N, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
    for (i = 0; i < C4; i++) cov->m2[(size_t)i * C4 + i] += cov->count;
    for (i = 0; i < N * C; i++) R[i] = (float)(0.01 * fe_rng_normal(&g));
    if (!json) fprintf(stderr, "MEMIT: closed form, %d layers...\n", NL);
    for (l = 0; l < NL; l++) {
        t0 = cli_wall();
        if (fe_memit_solve(cov, 0.0, 1e4, K, N, X, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
        t_solve[l] = cli_wall() - t0;
        t0 = cli_wall();
        if (fe_memit_apply(m, 4 + l, R, X, N, &e) != fe_ok) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
        t_apply[l] = cli_wall() - t0;
        solve_sum += t_solve[l]; apply_sum += t_apply[l];
    }
    if (json)
        printf("{\"memit_requests\": %d, \"memit_layers\": %d, \"memit_target_s_per_request\": %.3f, \"memit_keys_tok_s\": %.0f, "
               "\"memit_forward_tok_s\": %.0f, \"memit_solve_s\": %.2f, \"memit_apply_s\": %.2f, \"memit_closed_form_s\": %.2f, "
               "\"threads\": %d}\n",
               N, NL, t_tgt, key_tok, fwd_tok, solve_sum, apply_sum, solve_sum + apply_sum, max_threads());
    else {
        printf("MEMIT, 124M shape (random weights), %d requests over layers 4-8, %d threads:\n", N, max_threads());
        printf("  targets: %.2f s per request (2 timed, 21 context rows, CG at layer 8): %.0f s for %d (extrapolated)\n", t_tgt, t_tgt * N, N);
        printf("  keys: %.0f tokens/s (%d prompts x %d tokens, up to layer 8); fe_forward on the same prompts, stopping there: "
               "%.0f tokens/s (keys at %.0f%% of it); %d requests' %d prompts: %.1f s per layer (extrapolated)\n",
               key_tok, N / 10 * NK, TK, fwd_tok, 100.0 * key_tok / fwd_tok, N, N * NK, (double)N * NK * TK / key_tok);
        printf("  closed form, keys given, per layer: fe_memit_solve (Gram, Cholesky of 3072 x 3072, solve for %d keys; double) + "
               "fe_memit_apply (%d rank-one updates):", N, N);
        for (l = 0; l < NL; l++) printf(" %.2f + %.2f s", t_solve[l], t_apply[l]);
        printf("\n  closed form, %d layers: %.2f s (solve) + %.2f s (updates) = %.2f s (issue 16's target: <= 5 s)\n",
               NL, solve_sum, apply_sum, solve_sum + apply_sum);
    }
    fe_cov_free(cov);
    free(q); free(kp); free(tok); free(K); free(X); free(R); free(Z);
    fe_model_free(m);
    return 0;
}


/* Bytes of weights a forward streams. */
static double weight_bytes(const fe_model *m) { return (double)fe_model_weight_bytes(m); }

/* Tokens/s of KV-cached greedy decoding: a 64-token prompt, then 32 tokens. */
static double decode_tok_s(const fe_model *m, fe_error *e) {
    int prompt[64], i, tok;
    double t0, t1;
    fe_state *s;
    fe_forward_opts fo;
    for (i = 0; i < 64; i++) prompt[i] = (i * 31) % 50257;
    if (fe_state_new(&s, m, 1, 96, 0, e) != fe_ok) return -1.0;
    memset(&fo, 0, sizeof fo);
    fe_forward(m, s, prompt, 64, &fo, e);
    t0 = cli_wall();
    for (i = 0; i < 32; i++) {
        tok = fe_sample(fe_state_logits(s, 0, -1), 50257, NULL, NULL, NULL);
        fo.pos0 = 64 + i;
        fe_forward(m, s, &tok, 1, &fo, e);
    }
    t1 = cli_wall();
    fe_state_free(s);
    return 32.0 / (t1 - t0);
}

static double forward_ms(const fe_model *m, int T, int all_logits, fe_error *e) {
    fe_state *s;
    fe_forward_opts o;
    int *toks = (int *)malloc(sizeof(int) * (size_t)T), i, rep;
    double best = 1e30;
    for (i = 0; i < T; i++) toks[i] = (i * 7919) % m->config.vocab_size;
    if (fe_state_new(&s, m, 1, T, 0, e) != fe_ok) { free(toks); return -1.0; }
    memset(&o, 0, sizeof o);
    o.all_logits = all_logits;
    for (rep = 0; rep < (T <= 64 ? 10 : 4); rep++) {   /* best of n: the host is shared */
        double t0 = cli_wall(), dt;
        fe_forward(m, s, toks, T, &o, e);
        dt = cli_wall() - t0;
        if (dt < best) best = dt;
    }
    fe_state_free(s);
    free(toks);
    return best * 1e3;
}

/* Peak RSS (KB) of a child process that makes the 124M-shape model and runs one T=64 forward
   (last-position logits); -1 where fork is not available. act_mb: the activations fe_state_new
   allocates for (B=1, T=64), by its layout. */
static long forward_rss_kb(double *weight_mb, double *act_mb, int bf16) {
    const double C = 768, NH = 12, T = 64, L = 12, V = 50257;
    *weight_mb = 0.0;   /* set by the caller from the model it makes */
    *act_mb = (L * (18 * C + 4 + NH * T) + 3 * C + 2 + V + 8 * C) * T * 4 / 1048576.0;
#ifdef BENCH_HAVE_FORK
    {
        struct rusage ru;
        int st;
        pid_t pid;
        fflush(stdout); fflush(stderr);
        pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            fe_error e;
            fe_model *m = model_124m(&e, bf16);
            int ok = m && forward_ms(m, 64, 0, &e) > 0;
            _exit(ok ? 0 : 1);
        }
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
        if (getrusage(RUSAGE_CHILDREN, &ru) != 0) return -1;
        return ru.ru_maxrss;
    }
#else
    return -1;
#endif
}

int fe_cmd_bench(int argc, char **argv) {
    int json = 0, quick = 0, i, ti, si, threads = max_threads();
    static const int Ts[4] = {1, 16, 64, 256};
    static const int shapes[5][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}, {768, 50257}};
    double mm[4][5], peak1, peak, bw, f64, f256, f64all, f256all, tok_s = 0.0, bound_tok_s;
    double trace_s = -1.0, trace_plain_s = -1.0, edit_s = -1.0, f256_1t = -1.0, weight_mb = 0.0, act_mb = 0.0;
    double h64 = -1.0, h256 = -1.0, h_tok_s = -1.0, h_bound = 1.0, h_edit_s = -1.0, h_weight_mb = 0.0;
    long rss_kb, rss_h_kb;
    fe_model *m;
    fe_error e;
    float *x, *w, *o;
    size_t mm_calls = 0;
    for (i = 1; i < argc; i++) {   /* argv[0] is the command name */
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--memit")) return bench_memit(json);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: factedit bench [--json] [--quick]\n"
                   "  Measures FMA peak, read bandwidth, matmul GFLOP/s at GPT-2 124M shapes, forward time,\n"
                   "  decoding tokens/s, the causal-trace grid and one ROME edit on random-weight models.\n"
                   "  --quick skips the trace grid's plain path (the slowest figure).\n"
                   "  --memit only the MEMIT figures (1,000 requests, 124M shape: targets, keys, closed form).\n");
            return 0;
        } else { fprintf(stderr, "factedit bench: unknown option '%s' (try --help)\n", argv[i]); return 2; }
    }
    if (!json) fprintf(stderr, "measuring the machine...\n");
    /* first: children forked from a small process. getrusage reports the largest child so far,
       so the smaller (bf16) one goes first */
    rss_h_kb = forward_rss_kb(&weight_mb, &act_mb, 1);
    rss_kb = forward_rss_kb(&weight_mb, &act_mb, 0);
    peak1 = peak_gflops(1);
    peak = peak_gflops(threads);
    bw = read_bandwidth();
    /* matmuls */
    x = (float *)malloc(sizeof(float) * 256 * 3072);
    w = (float *)malloc(sizeof(float) * (size_t)3072 * 50257);
    o = (float *)malloc(sizeof(float) * (size_t)256 * 50257);
    if (!x || !w || !o) { fprintf(stderr, "factedit bench: out of memory\n"); return 1; }
    for (i = 0; i < 256 * 3072; i++) x[i] = 0.01f * (float)(i % 17);
    for (i = 0; i < 3072 * 50257; i++) w[i] = 0.001f * (float)(i % 13);
    for (ti = 0; ti < 4; ti++)
        for (si = 0; si < 5; si++) {
            int T = Ts[ti], C = shapes[si][0], OC = shapes[si][1], rep;
            double best = 1e30;
            for (rep = 0; rep < 5; rep++) {
                /* weights cold, as in a forward (475 MB of them pass through the caches): each
                   call reads a slice of the 617 MB buffer 64 MB past the last one */
                const float *wc = w + (mm_calls++ * ((size_t)16 << 20)) % ((size_t)3072 * 50257 - (size_t)C * OC + 1);
                double t0 = cli_wall(), dt;
                /* what the forward runs: every weight matrix in the panel layout (any floats
                   are a valid panel-layout matrix) */
                fe_matmul_panel(o, (size_t)OC, x, wc, OC, NULL, T, C, OC);
                dt = cli_wall() - t0;
                if (dt < best) best = dt;
            }
            mm[ti][si] = 2.0 * T * C * OC / best / 1e9;
        }
    free(x); free(w); free(o);
    if (!json) fprintf(stderr, "forward passes...\n");
    m = model_124m(&e, 0);
    if (!m) { fprintf(stderr, "factedit bench: %s\n", e.msg); return 1; }
    weight_mb = weight_bytes(m) / 1048576.0;
    f64 = forward_ms(m, 64, 0, &e);
    f256 = forward_ms(m, 256, 0, &e);
    f64all = forward_ms(m, 64, 1, &e);
    f256all = forward_ms(m, 256, 1, &e);
#ifdef _OPENMP
    if (threads > 1) {   /* thread scaling: the same forward on one thread */
        omp_set_num_threads(1);
        f256_1t = forward_ms(m, 256, 0, &e);
        omp_set_num_threads(threads);
    }
#endif
    tok_s = decode_tok_s(m, &e);
    /* every weight is read once per decoded token: the bound is bandwidth / weight bytes */
    bound_tok_s = bw * 1e9 / weight_bytes(m);
    bench_trace_edit(m, quick, &trace_s, &trace_plain_s, &edit_s);
    fe_model_free(m);
    /* the same with bf16-resident weights (text output only: the JSON keys are fixed) */
    if (!json) fprintf(stderr, "bf16-resident weights...\n");
    m = model_124m(&e, 1);
    if (m) {
        int ev = edit_evals, gr = edit_grads;
        double st = edit_stats_s, fa = edit_factor_s;
        static const int ids[12] = {464, 4687, 44090, 318, 5140, 287, 262, 1748, 286, 11, 290, 262};   /* as bench_trace_edit's */
        h_weight_mb = weight_bytes(m) / 1048576.0;
        h64 = forward_ms(m, 64, 0, &e);
        h256 = forward_ms(m, 256, 0, &e);
        h_tok_s = decode_tok_s(m, &e);
        h_bound = bw * 1e9 / weight_bytes(m);
        bench_edit(m, ids, 12, &h_edit_s);
        edit_evals = ev; edit_grads = gr; edit_stats_s = st; edit_factor_s = fa;
        fe_model_free(m);
    } else fprintf(stderr, "factedit bench: bf16 model: %s\n", e.msg);
    if (json) {
        printf("{\"peak_gflops_1t\": %.1f, \"peak_gflops\": %.1f, \"bandwidth_gbs\": %.1f, \"threads\": %d, \"simd\": \"%s\", \"matmul\": [",
               peak1, peak, bw, threads, fe_simd_name());
        for (ti = 0; ti < 4; ti++)
            for (si = 0; si < 5; si++)
                printf("%s{\"T\": %d, \"in\": %d, \"out\": %d, \"gflops\": %.1f}", ti + si ? ", " : "", Ts[ti], shapes[si][0], shapes[si][1], mm[ti][si]);
        printf("], \"forward_ms_T64\": %.1f, \"forward_ms_T256\": %.1f, \"generate_tok_s\": %.1f, ", f64, f256, tok_s);
        if (trace_s >= 0) printf("\"trace_grid_s\": %.2f, ", trace_s); else printf("\"trace_grid_s\": null, ");
        if (trace_plain_s >= 0) printf("\"trace_grid_plain_s\": %.2f, ", trace_plain_s);   /* text output says when it is extrapolated */
        else printf("\"trace_grid_plain_s\": null, ");
        if (edit_s >= 0) printf("\"edit_s\": %.2f}\n", edit_s); else printf("\"edit_s\": null}\n");
        return 0;
    }
    printf("machine: %d thread%s, SIMD %s\n", threads, threads == 1 ? "" : "s", fe_simd_name());
    printf("  FMA peak      %7.1f GFLOP/s (1 thread)   %7.1f GFLOP/s (%d threads)\n", peak1, peak, threads);
    printf("  read bandwidth %6.1f GB/s\n", bw);
    printf("matmul GFLOP/s (%% of the %d-thread peak; T = 1: %% of the bandwidth bound, 2 flops per 4-byte weight = %.1f GFLOP/s)\n  %-6s", threads, bw / 2.0, "T");
    for (si = 0; si < 5; si++) printf(" %5d->%-6d", shapes[si][0], shapes[si][1]);
    printf("\n");
    for (ti = 0; ti < 4; ti++) {
        printf("  %-6d", Ts[ti]);
        for (si = 0; si < 5; si++) printf(" %6.1f (%3.0f%%)", mm[ti][si], 100.0 * mm[ti][si] / (Ts[ti] == 1 ? bw / 2.0 : peak));
        printf("\n");
    }
    {
        double fl64 = 2.0 * 64 * 85.0e6 + 2.0 * 768 * 50257, fl256 = 2.0 * 256 * 85.0e6 + 2.0 * 768 * 50257;
        printf("forward, 124M shape (last-position logits / all logits)\n");
        printf("  T=64   %8.1f ms (%5.1f GFLOP/s, %3.0f%% of peak) / %8.1f ms\n", f64, fl64 / f64 / 1e6, 100.0 * fl64 / f64 / 1e6 / peak, f64all);
        printf("  T=256  %8.1f ms (%5.1f GFLOP/s, %3.0f%% of peak) / %8.1f ms\n", f256, fl256 / f256 / 1e6, 100.0 * fl256 / f256 / 1e6 / peak, f256all);
    }
    if (f256_1t > 0) printf("  T=256 on 1 thread: %.1f ms: %d threads are %.2fx faster\n", f256_1t, threads, f256_1t / f256);
    if (rss_kb > 0)
        printf("peak RSS of a process that builds the 124M model and runs the T=64 forward: %.0f MB = %.2f x (weights %.0f MB + activations %.0f MB)\n",
               rss_kb / 1024.0, rss_kb / 1024.0 / (weight_mb + act_mb), weight_mb, act_mb);
    printf("decoding after a 64-token prompt: %.1f tokens/s (bandwidth bound %.1f, %.0f%%)\n", tok_s, bound_tok_s, 100.0 * tok_s / bound_tok_s);
    if (trace_s >= 0) printf("trace grid, 3 kinds, 12 tokens, 10 samples: %.2f s fast", trace_s);
    else printf("trace grid: not available");
    if (trace_plain_s >= 0)
        printf(", %.2f s plain%s (%.1fx)\n", trace_plain_s, trace_plain_estimated ? " (extrapolated from 3L plain restorations)" : "", trace_plain_s / trace_s);
    else printf("\n");
    if (edit_s >= 0)
        printf("ROME edit (random 124M shape, layer 4, 21 context prefixes, CG): %.2f s, %d objective evaluations, %d with a gradient\n"
               "  beforehand, once per statistics file: covariance of 4096 tokens %.2f s, its Cholesky factor %.2f s\n",
               edit_s, edit_evals, edit_grads, edit_stats_s, edit_factor_s);
    else printf("ROME edit: not available\n");
    if (h64 > 0) {
        double fl64 = 2.0 * 64 * 85.0e6 + 2.0 * 768 * 50257, fl256 = 2.0 * 256 * 85.0e6 + 2.0 * 768 * 50257;
        printf("bf16-resident weights (--bf16: wte, qkvw, attprojw, fcw in bf16, fcprojw fp32; results equal the fp32 widening's)\n");
        printf("  weights %.0f MB (fp32 %.0f MB)\n", h_weight_mb, weight_mb);
        printf("  forward T=64   %8.1f ms (%3.0f%% of peak, %.2fx fp32)\n", h64, 100.0 * fl64 / h64 / 1e6 / peak, f64 / h64);
        printf("  forward T=256  %8.1f ms (%3.0f%% of peak, %.2fx fp32)\n", h256, 100.0 * fl256 / h256 / 1e6 / peak, f256 / h256);
        printf("  decoding %.1f tokens/s (bandwidth bound %.1f, %.0f%%; %.2fx fp32)\n", h_tok_s, h_bound, 100.0 * h_tok_s / h_bound, h_tok_s / tok_s);
        if (rss_h_kb > 0) printf("  peak RSS of the T=64 forward: %.0f MB = %.2f x (weights %.0f MB + activations %.0f MB)\n",
                                 rss_h_kb / 1024.0, rss_h_kb / 1024.0 / (h_weight_mb + act_mb), h_weight_mb, act_mb);
        if (h_edit_s >= 0) printf("  ROME edit: %.2f s (%.2fx fp32)\n", h_edit_s, edit_s > 0 ? edit_s / h_edit_s : 0.0);
    }
    return 0;
}
