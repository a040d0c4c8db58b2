/* bf16-resident models (fe_load_opts.bf16_weights): the private bf16 layout, the bf16 GEMM
   kernels against the fp32 ones and the scalar reference, and a whole model against its fp32
   widening: the same checksum, files, logits, generation, gradients, traces and ROME edits, bit
   for bit (the kernels do the same fp32 FMAs in the same order; only the bytes read differ). */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

static double maxdiff(const float *a, const float *b, size_t n) {
    double w = 0.0;
    size_t i;
    for (i = 0; i < n; i++) { double d = fabs((double)a[i] - (double)b[i]); if (!(d <= w)) w = d; }
    return w;
}

static void test_layout(void) {
    static const size_t shapes[][2] = {{101, 530}, {32, 7}, {7, 3}, {64, 64}, {116, 5}, {40, 9}, {384, 16}};
    size_t s;
    TEST("bf16 layout: a bijection onto the matrix, panel rows as fe_weight_index, plain under 2 VW columns") {
        for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            size_t out = shapes[s][0], in = shapes[s][1], n = out * in, o, i, bad = 0, moved = 0;
            unsigned char *seen = (unsigned char *)calloc(n, 1);
            for (o = 0; o < out; o++)
                for (i = 0; i < in; i++) {
                    size_t x = fe__h_index(out, in, o, i), f = fe_weight_index(out, in, o, i);
                    size_t p0 = o - o % FACTEDIT_WEIGHT_PANEL, w = FACTEDIT__PANEL_W(out, p0);
                    if (x >= n || seen[x]++) bad++;
                    /* the same panel row (p0, i) as the fp32 layout: only the order within it differs */
                    if (x / w != f / w || x < p0 * in || x >= p0 * in + w * in) bad++;
                    moved += x != f;
                }
            CHECKF(bad == 0, "shape %zux%zu: %zu bad positions", out, in, bad);
#ifdef FACTEDIT__VW
            CHECKF(moved > 0 || out < FACTEDIT__H_GROUP, "shape %zux%zu: no pairs interleaved", out, in);
#else
            CHECKF(moved == 0, "scalar build: layout %zux%zu differs from the panel layout", out, in);
#endif
            free(seen);
        }
    }
}

/* A (out, in) matrix of bf16 values: h in the bf16 layout, f the same values widened in the
   fp32 panel layout. */
static void make_pair(size_t out, size_t in, uint64_t seed, uint16_t **h, float **f) {
    fe_rng r;
    size_t o, i;
    fe_rng_seed(&r, seed);
    *h = (uint16_t *)malloc(sizeof(uint16_t) * out * in);
    *f = (float *)malloc(sizeof(float) * out * in);
    for (o = 0; o < out; o++)
        for (i = 0; i < in; i++) {
            uint16_t v = fe_f32_to_bf16((float)fe_rng_normal(&r));
            (*h)[fe__h_index(out, in, o, i)] = v;
            (*f)[fe_weight_index(out, in, o, i)] = fe_bf16_to_f32(v);
        }
}

static void test_kernels(void) {
    /* 101 outputs: a partial panel and a partial group; 530 inputs: 3 KC blocks */
    const int N = 101, K = 530, Ts[5] = {1, 3, 17, 50, 64};
    uint16_t *h;
    float *f, *x = (float *)malloc(sizeof(float) * 64 * 530), *bias = (float *)malloc(sizeof(float) * 530);
    float *c1 = (float *)malloc(sizeof(float) * 64 * 530), *c2 = (float *)malloc(sizeof(float) * 64 * 530), *c3 = (float *)malloc(sizeof(float) * 64 * 530);
    fe_rng r;
    int ti, i;
    fe_rng_seed(&r, 7);
    for (i = 0; i < 64 * 530; i++) x[i] = (float)fe_rng_normal(&r);
    for (i = 0; i < 530; i++) bias[i] = (float)fe_rng_normal(&r);
    make_pair((size_t)N, (size_t)K, 11, &h, &f);
    /* mode 0: x . W^T (the forward), out (T, N); mode 1: dout . W (the backward's input
       gradient: W (N=101 rows, K=530), dout (T, 101) -> (T, 530)) */
    TEST("bf16 GEMM, x . W^T and dout . W (T = 1, 3, 17, 50, 64): equal to the fp32 kernels on the widened W, bit for bit, and to the scalar reference") {
        int mode;
        for (mode = 0; mode < 2; mode++)
            for (ti = 0; ti < 5; ti++) {
                int T = Ts[ti];
                size_t n = (size_t)T * (size_t)(mode ? K : N);
                fe__wref wh, wf;
                fe__gemm_args g;
                wh.f = NULL; wh.h = h; wf.f = f; wf.h = NULL;
                memset(c1, 0, sizeof(float) * 64 * 530); memset(c2, 0, sizeof(float) * 64 * 530); memset(c3, 0, sizeof(float) * 64 * 530);
                memset(&g, 0, sizeof g);
                g.a = x; g.a_cs = 1; g.b16 = h; g.pw_rows = N; g.c = c3; g.M = T;
                if (mode == 0) {
                    fe__matmul_w(c1, (size_t)N, x, wh, N, bias, T, K, N);
                    fe__matmul_w(c2, (size_t)N, x, wf, N, bias, T, K, N);
                    g.ldc = (size_t)N; g.a_rs = (size_t)K; g.b_pw = 1; g.bias = bias; g.N = N; g.K = K;
                } else {
                    fe__matmul_backward_w(c1, NULL, NULL, x, NULL, wh, T, K, N, N);
                    fe__matmul_backward_w(c2, NULL, NULL, x, NULL, wf, T, K, N, N);
                    g.ldc = (size_t)K; g.a_rs = (size_t)N; g.b_pw = 2; g.N = K; g.K = N; g.accumulate = 1;
                }
                CHECKF(memcmp(c1, c2, sizeof(float) * n) == 0, "mode %d, T=%d: bf16 and fp32 kernels differ by %g", mode, T, maxdiff(c1, c2, n));
                fe__gemm_ref_g(&g);
                CHECKF(maxdiff(c1, c3, n) <= 2e-4, "mode %d, T=%d: vs the scalar reference %g", mode, T, maxdiff(c1, c3, n));
            }
    }
    free(h); free(f);
    /* a matrix wider than its use (wte: Vp rows, V used), whole groups only */
    make_pair(128, 64, 12, &h, &f);
    TEST("bf16 GEMM over the first 100 of 128 rows (wte's Vp > V): equal to fp32") {
        fe__wref wh, wf;
        wh.f = NULL; wh.h = h; wf.f = f; wf.h = NULL;
        fe__matmul_w(c1, 100, x, wh, 128, NULL, 20, 64, 100);
        fe__matmul_w(c2, 100, x, wf, 128, NULL, 20, 64, 100);
        CHECK(memcmp(c1, c2, sizeof(float) * 20 * 100) == 0);
    }
    free(h); free(f); free(x); free(bias); free(c1); free(c2); free(c3);
}

static fe_model *load(const unsigned char *b, size_t n, int bf16) {
    fe_model *m = NULL;
    fe_load_opts o;
    fe_error e;
    memset(&o, 0, sizeof o);
    o.bf16_weights = bf16;
    if (fe_model_load_mem(&m, b, n, &o, &e) != fe_ok) printf("load: %s\n", e.msg);
    return m;
}

static void test_model(void) {
    fe_config c;
    fe_model *r, *A, *B, *B3;
    fe_error e;
    unsigned char *f5, *f3, *g5, *g3;
    size_t n5, n3, m5, m3;
    int T = 24, toks[24], i;
    /* C = 64 (2 panels), 3C = 192, V = 300 of Vp = 384: partial panels of use */
    c.num_layers = 3; c.num_heads = 4; c.channels = 64; c.vocab_size = 300; c.padded_vocab_size = 384; c.max_seq_len = 32;
    if (fe_model_new(&r, &c, NULL, &e) != fe_ok) { CHECK(0); return; }
    fe_model_randomize(r, 99);
    fe_model_save_mem(r, 5, &f5, &n5, NULL);   /* the bf16 file */
    fe_model_save_mem(r, 3, &f3, &n3, NULL);   /* fp32 */
    A = load(f5, n5, 0);    /* widened at load */
    B = load(f5, n5, 1);    /* bf16-resident */
    B3 = load(f3, n3, 1);   /* from fp32, rounded */
    for (i = 0; i < T; i++) toks[i] = (i * 37 + 5) % 300;
    TEST("bf16-resident model: loads, same checksum and files as the widened model") {
        CHECK(A && B && B3);
        if (!A || !B || !B3) break;
        CHECK(B->weights_bf16 == 1 && A->weights_bf16 == 0);
        CHECK(B->params.wte == NULL && B->params.qkvw == NULL && B->params.attprojw == NULL && B->params.fcw == NULL);
        CHECK(B->params.fcprojw != NULL && B->params.wpe != NULL);
        CHECK(fe_model_checksum(B) == fe_model_checksum(A));
        {   /* from an fp32 file: the four matrices rounded as a bf16 save rounds them, the rest kept */
            size_t t, start = 0, j, bad = 0;
            float *pa = (float *)malloc(sizeof(float) * A->num_params), *pr = (float *)malloc(sizeof(float) * A->num_params), *pb = (float *)malloc(sizeof(float) * A->num_params);
            fe__plain_read(A, 0, A->num_params, pa); fe__plain_read(r, 0, A->num_params, pr); fe__plain_read(B3, 0, A->num_params, pb);
            for (t = 0; t < FACTEDIT_NUM_PARAM_TENSORS; start += A->param_sizes[t], t++)
                for (j = start; j < start + A->param_sizes[t]; j++) bad += pb[j] != (FACTEDIT__H_TENSOR(t) ? pa[j] : pr[j]);
            CHECKF(bad == 0, "%zu weights differ", bad);
            free(pa); free(pr); free(pb);
        }
        CHECK(B->load_checksum == fe_model_checksum(A));
        CHECK(fe_model_weight_bytes(A) == 4 * A->num_params);
        CHECK(fe_model_weight_bytes(B) == 4 * A->num_params - 2 * (A->param_sizes[0] + A->param_sizes[4] + A->param_sizes[6] + A->param_sizes[10]));
        fe_model_save_mem(B, 5, &g5, &m5, NULL);
        fe_model_save_mem(B, 3, &g3, &m3, NULL);
        free(f3); fe_model_save_mem(A, 3, &f3, &n3, NULL);
        CHECK(m5 == n5 && memcmp(g5, f5, n5) == 0);
        CHECK(m3 == n3 && memcmp(g3, f3, n3) == 0);
        free(g5); free(g3);
    }
    if (!A || !B || !B3) return;
    TEST("bf16-resident model: forward logits (all positions), equal to the widened model bit for bit") {
        fe_state *sa, *sb;
        fe_forward_opts fo;
        memset(&fo, 0, sizeof fo);
        fo.all_logits = 1;
        CHECK_CODE(fe_state_new(&sa, A, 1, T, 0, &e), fe_ok);
        CHECK_CODE(fe_state_new(&sb, B, 1, T, 0, &e), fe_ok);
        CHECK_CODE(fe_forward(A, sa, toks, T, &fo, &e), fe_ok);
        CHECK_CODE(fe_forward(B, sb, toks, T, &fo, &e), fe_ok);
        for (i = 0; i < T; i++) CHECKF(memcmp(fe_state_logits(sa, 0, i), fe_state_logits(sb, 0, i), sizeof(float) * 300) == 0, "position %d", i);
        fe_state_free(sa); fe_state_free(sb);
    }
    TEST("bf16-resident model: KV-cached greedy generation and fe_embedding_std equal the widened model's") {
        int oa[40], ob[40];
        double sa, sb;
        fe_sample_opts so;
        memset(&so, 0, sizeof so);
        CHECK_CODE(fe_generate(A, toks, 5, 20, &so, NULL, oa, &e), fe_ok);
        CHECK_CODE(fe_generate(B, toks, 5, 20, &so, NULL, ob, &e), fe_ok);
        CHECK(memcmp(oa, ob, sizeof(int) * 20) == 0);
        CHECK_CODE(fe_embedding_std(A, toks, 6, &sa, &e), fe_ok);
        CHECK_CODE(fe_embedding_std(B, toks, 6, &sb, &e), fe_ok);
        CHECK(sa == sb);
    }
    TEST("bf16-resident model: input gradients equal; weight gradients refused with a clear error") {
        fe_state *sa, *sb;
        fe_forward_opts fo;
        fe_backward_opts bo;
        float *dl = (float *)calloc((size_t)T * 300, sizeof(float)), *da = (float *)calloc((size_t)T * 64, sizeof(float)), *db = (float *)calloc((size_t)T * 64, sizeof(float));
        float *grads = (float *)calloc(B->num_params, sizeof(float));
        memset(&fo, 0, sizeof fo);
        fo.all_logits = 1;
        fe_state_new(&sa, A, 1, T, 0, NULL); fe_state_new(&sb, B, 1, T, 0, NULL);
        fe_forward(A, sa, toks, T, &fo, NULL); fe_forward(B, sb, toks, T, &fo, NULL);
        for (i = 0; i < T * 300; i++) dl[i] = (float)((i * 13) % 7) * 0.01f - 0.03f;
        memset(&bo, 0, sizeof bo);
        bo.stop_site = fe_site_embed; bo.dsite = da;
        CHECK_CODE(fe_backward(A, sa, dl, &bo, &e), fe_ok);
        bo.dsite = db;
        CHECK_CODE(fe_backward(B, sb, dl, &bo, &e), fe_ok);
        CHECKF(memcmp(da, db, sizeof(float) * (size_t)T * 64) == 0, "d embed differs by %g", maxdiff(da, db, (size_t)T * 64));
        bo.grads = grads; bo.tokens = toks;
        CHECK_CODE(fe_backward(B, sb, dl, &bo, &e), fe_err_unsupported);
        CHECK(strstr(e.msg, "fp32 model") != NULL);
        fe_state_free(sa); fe_state_free(sb);
        free(dl); free(da); free(db); free(grads);
    }
    TEST("bf16-resident model: causal trace scores equal the widened model's") {
        fe_trace_opts o = fe_trace_opts_default();
        fe_trace_result ta, tb;
        int k;
        o.samples = 3; o.window = 2; o.noise = 0.1f; o.seed = 5;
        CHECK_CODE(fe_trace(A, toks, 10, 2, 5, FACTEDIT_TRACE_ALL, &o, &ta, &e), fe_ok);
        CHECK_CODE(fe_trace(B, toks, 10, 2, 5, FACTEDIT_TRACE_ALL, &o, &tb, &e), fe_ok);
        CHECK(ta.high == tb.high && ta.low == tb.low && ta.answer == tb.answer);
        for (k = 0; k < 3; k++) CHECK(ta.scores[k] && tb.scores[k] && memcmp(ta.scores[k], tb.scores[k], sizeof(float) * 10 * 3) == 0);
        fe_trace_result_free(&ta); fe_trace_result_free(&tb);
    }
    TEST("bf16-resident model: a ROME edit (CG) is the widened model's edit; applied in fp32 c_proj, undone exactly") {
        fe_rome_request q;
        fe_rome_hparams hp;
        fe_edit *ea = NULL, *eb = NULL;
        int target = 17, kl[3];
        uint64_t h0 = fe_model_checksum(B);
        kl[0] = toks[1]; kl[1] = toks[2]; kl[2] = toks[3];
        memset(&q, 0, sizeof q);
        q.prompt = toks; q.n_prompt = 8; q.subject_last = 4;
        q.target = &target; q.n_target = 1;
        q.kl_prompt = kl; q.n_kl = 3; q.kl_lookup = 1;
        fe_rome_hparams_default(&hp, A);
        hp.layer = 1; hp.max_iters = 10; hp.v_weight_decay = 0.0f;   /* a random model's best v* is otherwise no edit */
        CHECK_CODE(fe_rome_compute(A, &q, &hp, NULL, &ea, &e), fe_ok);
        CHECK_CODE(fe_rome_compute(B, &q, &hp, NULL, &eb, &e), fe_ok);
        if (!ea || !eb) break;
        CHECK(memcmp(ea->u, eb->u, sizeof(float) * 256) == 0 && memcmp(ea->right, eb->right, sizeof(float) * 64) == 0);
        CHECK(ea->report.evals == eb->report.evals && ea->report.delta_norm > 0.0);
        CHECK_CODE(fe_edit_apply(A, ea, &e), fe_ok);
        CHECK_CODE(fe_edit_apply(B, eb, &e), fe_ok);
        CHECK(fe_model_checksum(A) == fe_model_checksum(B) && fe_model_checksum(B) != h0);
        CHECK_CODE(fe_edit_undo(B, eb, &e), fe_ok);
        CHECK(fe_model_checksum(B) == h0);
        fe_edit_free(ea); fe_edit_free(eb);
    }
    fe_model_free(A); fe_model_free(B);
    TEST("bf16-resident model: a NaN in a bf16 matrix is refused, naming the tensor and its file index") {
        fe_model *m = (fe_model *)1;
        fe_load_opts o;
        /* wte is tensor 0: element 77 of the data section */
        memset(&o, 0, sizeof o);
        o.bf16_weights = 1;
        f5[1024 + 2 * 77] = 0xc0; f5[1024 + 2 * 77 + 1] = 0x7f;
        CHECK_CODE(fe_model_load_mem(&m, f5, n5, &o, &e), fe_err_numeric);
        CHECK(m == NULL && strstr(e.msg, "NaN") && strstr(e.msg, "element 77 of tensor 'wte'"));
    }
#ifndef FACTEDIT_NO_STDIO
    TEST("bf16-resident model from a file (mmap path, fp32 file), equal to loading it from memory") {
        const char *path = "build/test_bf16_model.bin";
        fe_model *a = NULL;
        fe_load_opts o;
        memset(&o, 0, sizeof o);
        o.bf16_weights = 1;
        CHECK_CODE(fe_model_save_file(r, path, 3, &e), fe_ok);
        CHECK_CODE(fe_model_load_file(&a, path, &o, &e), fe_ok);
        CHECK(a && a->weights_bf16 && fe_model_checksum(a) == fe_model_checksum(B3));
        fe_model_free(a);
        remove(path);
    }
#endif
    free(f5); free(f3);
    fe_model_free(r); fe_model_free(B3);
}

int main(void) {
    test_layout();
    test_kernels();
    test_model();
    return t_summary();
}
