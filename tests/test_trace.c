/* Causal tracing: the oracle's trace0 / sever0 on tiny_a (fast and plain paths), fast == plain on
   random models of several shapes, determinism, errors, allocation failures.
   Usage: test_trace [tests/data/tiny_a]   (run from the repository root) */
#include "t_alloc.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
/* (trace section merged into factedit.h) */
#include "test.h"
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *t_dir = "tests/data/tiny_a";

/* ---- a small Hugging Face (Conv1D layout) -> fe_model loader, for tiny_a's hf/model.safetensors */

typedef struct t_file { unsigned char *bytes; size_t len; fe_safetensors *st; } t_file;

static int t_open(t_file *f, const char *name) {
    char path[512];
    fe_error e;
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/%s", t_dir, name);
    if (fe_read_file(path, &f->bytes, &f->len, NULL, &e) != fe_ok) { printf("cannot read %s: %s\n", path, e.msg); return 0; }
    if (fe_safetensors_parse(&f->st, f->bytes, f->len, NULL, &e) != fe_ok) { printf("%s: %s\n", path, e.msg); return 0; }
    return 1;
}
static void t_close(t_file *f) { fe_safetensors_free(f->st); fe_free(f->bytes, NULL); }

/* Tensor `name` as floats (malloc'd), checking its element count. */
static float *t_tensor(const t_file *f, const char *name, size_t numel) {
    const fe_st_tensor *t = fe_safetensors_find(f->st, name);
    float *x;
    if (!t || t->numel != numel) { printf("tensor %s missing or not %lu elements\n", name, (unsigned long)numel); return NULL; }
    x = (float *)malloc(sizeof(float) * numel);
    if (x && fe_st_tensor_to_f32(t, x, NULL) != fe_ok) { free(x); return NULL; }
    return x;
}

/* HF weight [in, out] -> ours [out, in], in the panel layout of the block matrices. */
static int t_put_T(const t_file *f, const char *name, float *dst, int in, int out) {
    float *x = t_tensor(f, name, (size_t)in * out);
    int i, o;
    if (!x) return 0;
    for (i = 0; i < in; i++) for (o = 0; o < out; o++) dst[fe_weight_index((size_t)out, (size_t)in, (size_t)o, (size_t)i)] = x[(size_t)i * out + o];
    free(x);
    return 1;
}
static int t_put(const t_file *f, const char *name, float *dst, size_t n) {
    float *x = t_tensor(f, name, n);
    if (!x) return 0;
    memcpy(dst, x, sizeof(float) * n);
    free(x);
    return 1;
}

static fe_model *t_load_tiny_a(void) {
    fe_config c;
    fe_model *m;
    t_file f;
    int l, ok = 1;
    size_t C = 36;
    char nm[128];
    if (!t_open(&f, "hf/model.safetensors")) return NULL;
    c.max_seq_len = 40; c.vocab_size = 101; c.padded_vocab_size = 128; c.num_layers = 4; c.num_heads = 3; c.channels = 36;
    if (fe_model_new(&m, &c, NULL, NULL) != fe_ok) { t_close(&f); return NULL; }
    {   /* wte: the model's panel-layout (Vp = 128, C) matrix */
        float *x = t_tensor(&f, "transformer.wte.weight", 101 * C), *plain = (float *)calloc(128 * C, sizeof(float));
        ok &= x && plain;
        if (x && plain) { memcpy(plain, x, sizeof(float) * 101 * C); fe_weight_pack(m->params.wte, plain, 128, C); }
        free(x); free(plain);
    }
    ok &= t_put(&f, "transformer.wpe.weight", m->params.wpe, 40 * C);
    for (l = 0; l < 4; l++) {
#define T_NM(s) (snprintf(nm, sizeof nm, "transformer.h.%d.%s", l, s), nm)
        ok &= t_put(&f, T_NM("ln_1.weight"), m->params.ln1w + l * C, C);
        ok &= t_put(&f, T_NM("ln_1.bias"), m->params.ln1b + l * C, C);
        ok &= t_put_T(&f, T_NM("attn.c_attn.weight"), m->params.qkvw + l * 3 * C * C, (int)C, 3 * (int)C);   /* q,k,v packed along out */
        ok &= t_put(&f, T_NM("attn.c_attn.bias"), m->params.qkvb + l * 3 * C, 3 * C);
        ok &= t_put_T(&f, T_NM("attn.c_proj.weight"), m->params.attprojw + l * C * C, (int)C, (int)C);
        ok &= t_put(&f, T_NM("attn.c_proj.bias"), m->params.attprojb + l * C, C);
        ok &= t_put(&f, T_NM("ln_2.weight"), m->params.ln2w + l * C, C);
        ok &= t_put(&f, T_NM("ln_2.bias"), m->params.ln2b + l * C, C);
        ok &= t_put_T(&f, T_NM("mlp.c_fc.weight"), m->params.fcw + l * 4 * C * C, (int)C, 4 * (int)C);
        ok &= t_put(&f, T_NM("mlp.c_fc.bias"), m->params.fcb + l * 4 * C, 4 * C);
        ok &= t_put_T(&f, T_NM("mlp.c_proj.weight"), m->params.fcprojw + l * 4 * C * C, 4 * (int)C, (int)C);
        ok &= t_put(&f, T_NM("mlp.c_proj.bias"), m->params.fcprojb + l * C, C);
#undef T_NM
    }
    ok &= t_put(&f, "transformer.ln_f.weight", m->params.lnfw, C);
    ok &= t_put(&f, "transformer.ln_f.bias", m->params.lnfb, C);
    t_close(&f);
    if (!ok) { fe_model_free(m); return NULL; }
    return m;
}

static fe_json *t_json(const char *name) {
    char path[512];
    unsigned char *b;
    size_t n;
    fe_json *j = NULL;
    snprintf(path, sizeof path, "%s/%s", t_dir, name);
    if (fe_read_file(path, &b, &n, NULL, NULL) != fe_ok) { printf("cannot read %s\n", path); return NULL; }
    if (fe_json_parse(&j, (const char *)b, n, NULL, NULL) != fe_ok) j = NULL;
    fe_free(b, NULL);
    return j;
}
static int t_ids(const fe_json_value *a, int *ids, int cap) {
    int n = 0;
    size_t i;
    for (i = 0; a && i < a->count && n < cap; i++) ids[n++] = (int)fe_json_at(a, i)->number;
    return n;
}
static double t_maxdiff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    size_t i;
    for (i = 0; i < n; i++) { double x = fabs((double)a[i] - (double)b[i]); if (!(x <= d)) d = x; }
    return d;
}

/* ---- the oracle: trace0 and sever0 ---- */

static void t_oracle(fe_model *m) {
    fe_json *cj = t_json("cases.json"), *xj = t_json("cases_extra.json");
    t_file ex, ee;
    const fe_json_value *tr, *res, *sv;
    int ids[64], T, s0, s1, S, answer, plain;
    size_t i;
    float *noise;
    if (!cj || !xj || !t_open(&ex, "expected.safetensors") || !t_open(&ee, "expected_extra.safetensors")) { TEST("oracle files") CHECK(0); return; }
    tr = fe_json_at(fe_json_get(fe_json_root(cj), "trace"), 0);
    T = t_ids(fe_json_get(tr, "ids"), ids, 64);
    s0 = (int)fe_json_at(fe_json_get(tr, "subject"), 0)->number;
    s1 = (int)fe_json_at(fe_json_get(tr, "subject"), 1)->number;
    S = (int)fe_json_get(tr, "samples")->number;
    answer = (int)fe_json_get(tr, "answer")->number;
    noise = t_tensor(&ex, "trace0.noise", (size_t)S * (size_t)(s1 - s0) * 36);
    res = fe_json_get(tr, "results");
    for (plain = 0; plain < 2; plain++)
        for (i = 0; res && noise && i < res->count; i++) {
            const fe_json_value *r = fe_json_at(res, i);
            const char *kind = fe_json_get(r, "kind")->str;
            int w = (int)fe_json_get(r, "window")->number, k = !strcmp(kind, "hidden") ? fe_trace_hidden : !strcmp(kind, "mlp") ? fe_trace_mlp : fe_trace_attn;
            float *want = t_tensor(&ex, fe_json_get(r, "tensor")->str, (size_t)T * 4);
            fe_trace_opts o = fe_trace_opts_default();
            fe_trace_result out;
            fe_error e;
            char name[96];
            snprintf(name, sizeof name, "oracle %s (%s)", fe_json_get(r, "tensor")->str, plain ? "plain" : "fast");
            o.samples = S; o.window = w; o.explicit_noise = noise; o.plain = plain;
            TEST(name) {
                CHECK_CODE(fe_trace(m, ids, T, (size_t)s0, (size_t)s1, 1u << k, &o, &out, &e), fe_ok);
                CHECKF(out.answer == answer, "answer %d, want %d", out.answer, answer);
                CHECKF(fabs(out.high - fe_json_get(r, "high")->number) < 1e-5, "high %.8f want %.8f", out.high, fe_json_get(r, "high")->number);
                CHECKF(fabs(out.low - fe_json_get(r, "low")->number) < 1e-5, "low %.8f want %.8f", out.low, fe_json_get(r, "low")->number);
                CHECK(out.T == T && out.L == 4 && out.subject_begin == (size_t)s0 && out.subject_end == (size_t)s1 && out.token == -1);
                CHECK(want && out.scores[k] && t_maxdiff(out.scores[k], want, (size_t)T * 4) <= 1e-4);
                if (want && out.scores[k]) { double d = t_maxdiff(out.scores[k], want, (size_t)T * 4); if (d > 2e-6) printf("  note: %s max diff %.2e\n", name, d); }
                CHECK(out.scores[(k + 1) % 3] == NULL && out.scores[(k + 2) % 3] == NULL);
                fe_trace_result_free(&out);
                CHECK(out.scores[k] == NULL);
            }
            free(want);
        }
    /* sever0: same prompt, subject, noise and answer; token = the subject's last */
    sv = fe_json_at(fe_json_get(fe_json_root(xj), "sever"), 0);
    for (plain = 0; plain < 2 && sv && noise; plain++) {
        fe_trace_opts o = fe_trace_opts_default();
        fe_trace_result out;
        int token = (int)fe_json_get(sv, "token")->number;
        char name[64];
        snprintf(name, sizeof name, "oracle sever0 (%s)", plain ? "plain" : "fast");
        o.samples = S; o.explicit_noise = noise; o.plain = plain;
        TEST(name) {
            const fe_json_value *rs = fe_json_get(sv, "results");
            CHECK(token == s1 - 1);
            CHECK_CODE(fe_trace_sever(m, ids, T, (size_t)s0, (size_t)s1, -1, FACTEDIT_SEVER_ALL, &o, &out, NULL), fe_ok);
            CHECK(out.token == token && out.answer == answer);
            for (i = 0; rs && i < rs->count; i++) {
                const char *sname = fe_json_get(fe_json_at(rs, i), "sever")->str;
                int k = !strcmp(sname, "none") ? fe_sever_none : !strcmp(sname, "mlp") ? fe_sever_mlp : fe_sever_attn;
                float *want = t_tensor(&ee, fe_json_get(fe_json_at(rs, i), "tensor")->str, 4);
                CHECKF(want && out.scores[k] && t_maxdiff(out.scores[k], want, 4) <= 1e-4, "sever %s differs by %.2e", sname,
                       want && out.scores[k] ? t_maxdiff(out.scores[k], want, 4) : -1.0);
                free(want);
            }
            fe_trace_result_free(&out);
        }
    }
    /* sever none is the hidden restoration at that token */
    TEST("sever none == hidden row") {
        fe_trace_opts o = fe_trace_opts_default();
        fe_trace_result a, b;
        o.samples = S; o.explicit_noise = noise; o.window = 1;
        CHECK_CODE(fe_trace(m, ids, T, (size_t)s0, (size_t)s1, FACTEDIT_TRACE_HIDDEN, &o, &a, NULL), fe_ok);
        CHECK_CODE(fe_trace_sever(m, ids, T, (size_t)s0, (size_t)s1, 2, FACTEDIT_SEVER_NONE, &o, &b, NULL), fe_ok);
        CHECK(a.scores[0] && b.scores[0] && t_maxdiff(a.scores[0] + 2 * 4, b.scores[0], 4) == 0.0);
        CHECK(b.scores[1] == NULL && b.scores[2] == NULL && b.token == 2);
        fe_trace_result_free(&a); fe_trace_result_free(&b);
    }
    free(noise);
    t_close(&ex); t_close(&ee);
    fe_json_free(cj); fe_json_free(xj);
}

/* ---- fast == plain on random models ---- */

static fe_model *t_random_model(int L, int NH, int C, int V, int maxT, uint64_t seed) {
    fe_config c;
    fe_model *m;
    size_t i;
    c.max_seq_len = maxT; c.vocab_size = V; c.padded_vocab_size = V + 3; c.num_layers = L; c.num_heads = NH; c.channels = C;
    if (fe_model_new(&m, &c, NULL, NULL) != fe_ok) return NULL;
    fe_model_randomize(m, seed);
    /* GPT-2's init gives near-uniform next-token distributions; sharper logits and stronger
       attention make the scores differ from low and from each other */
    for (i = 0; i < m->param_sizes[0]; i++) m->params.wte[i] *= 10.0f;   /* padding rows are zero */
    for (i = 0; i < m->param_sizes[4]; i++) m->params.qkvw[i] *= 8.0f;
    for (i = 0; i < m->param_sizes[10]; i++) m->params.fcw[i] *= 8.0f;
    for (i = 0; i < m->param_sizes[6]; i++) m->params.attprojw[i] *= 10.0f;
    for (i = 0; i < m->param_sizes[12]; i++) m->params.fcprojw[i] *= 10.0f;
    return m;
}

static void t_fast_plain(void) {
    static const struct { int L, NH, C, V, T, s0, s1, S; } shapes[] = {
        { 1, 2, 8, 37, 5, 1, 3, 3 },      /* one layer */
        { 3, 3, 24, 50, 11, 8, 11, 4 },   /* subject at the end: t = T-1 restorations */
        { 5, 4, 32, 61, 12, 0, 2, 4 },    /* subject at the start */
        { 2, 1, 12, 29, 1, 0, 1, 2 },     /* a one-token prompt */
    };
    static const int windows[] = { 1, 3, 10 };   /* 10 > L: the window covers every layer */
    size_t si, wi;
    for (si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        fe_model *m = t_random_model(shapes[si].L, shapes[si].NH, shapes[si].C, shapes[si].V, 20, 100 + si);
        int ids[32], i, T = shapes[si].T, L = shapes[si].L;
        fe_rng g;
        double std;
        char name[96];
        fe_rng_seed(&g, 7 + si);
        for (i = 0; i < T; i++) ids[i] = (int)(fe_rng_u64(&g) % (uint64_t)shapes[si].V);
        if (!m) { TEST("random model") CHECK(0); continue; }
        CHECK_CODE(fe_embedding_std(m, ids, (size_t)T, &std, NULL), fe_ok);
        for (wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
            fe_trace_opts o = fe_trace_opts_default();
            fe_trace_result f, p;
            int k;
            o.samples = shapes[si].S; o.window = windows[wi]; o.noise = (float)(3.0 * std); o.seed = 42 + wi;
            snprintf(name, sizeof name, "fast == plain L%d C%d T%d subject [%d,%d) window %d", L, shapes[si].C, T, shapes[si].s0, shapes[si].s1, windows[wi]);
            TEST(name) {
                double spread = 0.0;
                CHECK_CODE(fe_trace(m, ids, T, (size_t)shapes[si].s0, (size_t)shapes[si].s1, FACTEDIT_TRACE_ALL, &o, &f, NULL), fe_ok);
                o.plain = 1;
                CHECK_CODE(fe_trace(m, ids, T, (size_t)shapes[si].s0, (size_t)shapes[si].s1, FACTEDIT_TRACE_ALL, &o, &p, NULL), fe_ok);
                CHECK(f.answer == p.answer && f.high == p.high && f.low == p.low);
                for (k = 0; k < 3; k++) {
                    double d = f.scores[k] && p.scores[k] ? t_maxdiff(f.scores[k], p.scores[k], (size_t)T * L) : 1.0;
                    int j;
                    CHECKF(d <= 1e-5, "kind %d: fast and plain differ by %.2e", k, d);
                    for (j = 0; f.scores[k] && j < T * L; j++) if (fabs(f.scores[k][j] - f.low) > spread) spread = fabs(f.scores[k][j] - f.low);
                }
                /* the last token restored in the last layer is the clean state: score == high */
                CHECKF(fabs(f.scores[0][(size_t)(T - 1) * L + L - 1] - f.high) < 1e-6, "hidden (T-1, L-1) %.7f vs high %.7f", f.scores[0][(size_t)(T - 1) * L + L - 1], f.high);
                CHECKF(spread > 5e-3, "scores hardly move (%.2e): test model too flat", spread);
                fe_trace_result_free(&f); fe_trace_result_free(&p);
            }
            snprintf(name, sizeof name, "sever fast == plain L%d T%d seed %d", L, T, 42 + (int)wi);
            if (wi > 0) continue;   /* the severed trace does not use the window */
            TEST(name) {
                int tok;
                o.plain = 0;
                for (tok = 0; tok < T; tok += (T > 3 ? T / 3 : 1)) {
                    CHECK_CODE(fe_trace_sever(m, ids, T, (size_t)shapes[si].s0, (size_t)shapes[si].s1, tok, FACTEDIT_SEVER_ALL, &o, &f, NULL), fe_ok);
                    o.plain = 1;
                    CHECK_CODE(fe_trace_sever(m, ids, T, (size_t)shapes[si].s0, (size_t)shapes[si].s1, tok, FACTEDIT_SEVER_ALL, &o, &p, NULL), fe_ok);
                    o.plain = 0;
                    for (k = 0; k < 3; k++) CHECKF(f.scores[k] && p.scores[k] && t_maxdiff(f.scores[k], p.scores[k], (size_t)L) <= 1e-5, "token %d sever %d differs", tok, k);
                    fe_trace_result_free(&f); fe_trace_result_free(&p);
                }
            }
        }
        fe_model_free(m);
    }
}

/* ---- RNG, answer, threads ---- */

static void t_determinism(void) {
    fe_model *m = t_random_model(3, 2, 16, 40, 16, 5);
    int ids[8] = { 3, 9, 27, 1, 0, 39, 12, 5 };
    fe_trace_opts o = fe_trace_opts_default();
    fe_trace_result a, b;
    fe_rng g, g0;
    if (!m) { TEST("model") CHECK(0); return; }
    o.samples = 3; o.window = 2; o.noise = 0.5f; o.seed = 9;
    TEST("seed: same seed, same scores; rng: advances and matches a seeded generator") {
        CHECK_CODE(fe_trace(m, ids, 8, 2, 4, FACTEDIT_TRACE_ALL, &o, &a, NULL), fe_ok);
        fe_rng_seed(&g, 9); g0 = g; o.rng = &g; o.seed = 12345;   /* seed ignored when rng is given */
        CHECK_CODE(fe_trace(m, ids, 8, 2, 4, FACTEDIT_TRACE_ALL, &o, &b, NULL), fe_ok);
        CHECK(memcmp(&g, &g0, sizeof g) != 0);
        CHECK(a.scores[1] && b.scores[1] && a.low == b.low && t_maxdiff(a.scores[1], b.scores[1], 24) == 0.0);
        fe_trace_result_free(&b);
        CHECK_CODE(fe_trace(m, ids, 8, 2, 4, FACTEDIT_TRACE_ALL, &o, &b, NULL), fe_ok);   /* the advanced generator: new noise */
        CHECK(a.low != b.low);
        fe_trace_result_free(&a); fe_trace_result_free(&b);
        o.rng = NULL;
    }
    TEST("explicit answer") {
        o.answer = 17;
        CHECK_CODE(fe_trace(m, ids, 8, 2, 4, FACTEDIT_TRACE_HIDDEN, &o, &a, NULL), fe_ok);
        CHECK(a.answer == 17 && a.scores[0] && !a.scores[1] && !a.scores[2]);
        fe_trace_result_free(&a);
        o.answer = -1;
    }
#ifdef _OPENMP
    TEST("thread count does not change results") {
        int nt = omp_get_max_threads();
        fe_model *big = t_random_model(2, 4, 128, 1500, 16, 6);
        int bid[12] = { 1, 200, 1499, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
        if (big) {
            omp_set_num_threads(1);
            CHECK_CODE(fe_trace(big, bid, 12, 1, 4, FACTEDIT_TRACE_ALL, &o, &a, NULL), fe_ok);
            omp_set_num_threads(nt > 1 ? nt : 2);
            CHECK_CODE(fe_trace(big, bid, 12, 1, 4, FACTEDIT_TRACE_ALL, &o, &b, NULL), fe_ok);
            omp_set_num_threads(nt);
            CHECK(a.scores[0] && b.scores[0] && a.high == b.high && a.low == b.low && t_maxdiff(a.scores[0], b.scores[0], 24) == 0.0 &&
                  t_maxdiff(a.scores[1], b.scores[1], 24) == 0.0 && t_maxdiff(a.scores[2], b.scores[2], 24) == 0.0);
            fe_trace_result_free(&a); fe_trace_result_free(&b);
            fe_model_free(big);
        }
    }
#endif
    fe_model_free(m);
}

static void t_embedding_std(fe_model *m) {
    TEST("embedding_std") {
        int ids[3] = { 5, 17, 5 };
        double s, mean = 0.0, ss = 0.0;
        size_t i, C = 36;
#define T_WTE(t, c) m->params.wte[fe_weight_index((size_t)m->config.padded_vocab_size, (size_t)C, (size_t)(t), (size_t)(c))]
        for (i = 0; i < 3 * C; i++) mean += T_WTE(ids[i / C], i % C);
        mean /= 3.0 * C;
        for (i = 0; i < 3 * C; i++) { double d = T_WTE(ids[i / C], i % C) - mean; ss += d * d; }
#undef T_WTE
        CHECK_CODE(fe_embedding_std(m, ids, 3, &s, NULL), fe_ok);
        CHECK(fabs(s - sqrt(ss / (3.0 * C - 1.0))) < 1e-12);
        ids[1] = 101;
        CHECK_CODE(fe_embedding_std(m, ids, 3, &s, NULL), fe_err_range);
        CHECK_CODE(fe_embedding_std(m, ids, 0, &s, NULL), fe_err_arg);
        CHECK_CODE(fe_embedding_std(NULL, ids, 1, &s, NULL), fe_err_arg);
    }
}

static void t_errors(fe_model *m) {
    int ids[9] = { 15, 57, 25, 45, 29, 62, 86, 27, 11 }, big[41];
    fe_trace_opts o = fe_trace_opts_default();
    fe_trace_result r;
    fe_error e;
    int i;
    o.samples = 2; o.noise = 0.1f;
    for (i = 0; i < 41; i++) big[i] = i;
    TEST("errors") {
        memset(&r, 0x55, sizeof r);
        CHECK_CODE(fe_trace(m, ids, 9, 3, 3, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);           /* empty span */
        CHECK(e.code == fe_err_arg && strstr(e.msg, "empty subject") != NULL);
        CHECK(r.scores[0] == NULL && r.scores[1] == NULL && r.scores[2] == NULL);             /* zeroed on failure */
        fe_trace_result_free(&r);
        CHECK_CODE(fe_trace(m, ids, 9, 4, 3, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        CHECK_CODE(fe_trace(m, ids, 9, 7, 10, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_range);       /* outside the prompt */
        CHECK(strstr(e.msg, "outside the prompt") != NULL);
        CHECK_CODE(fe_trace(m, ids, 0, 0, 1, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_range);
        CHECK_CODE(fe_trace(m, big, 41, 1, 2, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_range);       /* T > maxT = 40 */
        CHECK(strstr(e.msg, "context") != NULL);
        ids[5] = 101;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_range);        /* token id */
        ids[5] = 62;
        o.window = 0;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        CHECK(strstr(e.msg, "window") != NULL);
        o.window = 10; o.samples = 0;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        CHECK(strstr(e.msg, "samples") != NULL);
        o.samples = 2; o.noise = 0.0f;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        CHECK(strstr(e.msg, "noise") != NULL);
        o.noise = -1.0f;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        o.noise = INFINITY;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        o.noise = 0.1f; o.answer = 101;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_range);
        o.answer = -1;
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, 0, &o, &r, &e), fe_err_arg);
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, 8, &o, &r, &e), fe_err_arg);
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, NULL, &r, &e), fe_err_arg);
        CHECK_CODE(fe_trace(m, NULL, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        CHECK_CODE(fe_trace(NULL, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, &r, &e), fe_err_arg);
        CHECK_CODE(fe_trace(m, ids, 9, 1, 4, FACTEDIT_TRACE_ALL, &o, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_trace_sever(m, ids, 9, 1, 4, 9, FACTEDIT_SEVER_ALL, &o, &r, &e), fe_err_range);
        CHECK(strstr(e.msg, "token 9") != NULL);
        CHECK_CODE(fe_trace_sever(m, ids, 9, 1, 4, -1, 0, &o, &r, &e), fe_err_arg);
        o.window = 0;   /* not used by the severed trace */
        CHECK_CODE(fe_trace_sever(m, ids, 9, 1, 4, -1, FACTEDIT_SEVER_MLP, &o, &r, &e), fe_ok);
        CHECK(r.token == 3 && r.scores[1] && !r.scores[0] && !r.scores[2]);
        fe_trace_result_free(&r);
        fe_trace_result_free(NULL);
    }
}

/* Every allocation failure reports fe_err_nomem and frees what was allocated. */
static void t_nomem(void) {
    t_alloc a = { 0, 0, -1 };
    fe_load_opts lo;
    fe_config c;
    fe_model *m;
    int ids[6] = { 1, 2, 3, 4, 5, 6 }, k, which, seen_ok;
    memset(&lo, 0, sizeof lo);
    lo.alloc_user = &a;
    c.max_seq_len = 8; c.vocab_size = 11; c.padded_vocab_size = 11; c.num_layers = 2; c.num_heads = 2; c.channels = 8;
    TEST("allocation failures") {
        if (fe_model_new(&m, &c, &lo, NULL) != fe_ok) { CHECK(0); break; }
        fe_model_randomize(m, 3);
        for (which = 0; which < 2; which++)
        for (seen_ok = 0, k = 0; k < 60 && !seen_ok; k++) {
            long live = a.live;
            fe_trace_opts o = fe_trace_opts_default();
            fe_trace_result r;
            fe_result rc;
            o.samples = 2; o.window = 2; o.noise = 0.3f;
            a.calls = 0; a.fail_after = k;
            rc = which ? fe_trace_sever(m, ids, 6, 1, 3, -1, FACTEDIT_SEVER_ALL, &o, &r, NULL) : fe_trace(m, ids, 6, 1, 3, FACTEDIT_TRACE_ALL, &o, &r, NULL);
            a.fail_after = -1;
            if (rc == fe_ok) { seen_ok = 1; fe_trace_result_free(&r); }
            else CHECKF(rc == fe_err_nomem, "fail_after %d: %d", k, (int)rc);
            CHECKF(a.live == live, "fail_after %d leaks %ld blocks", k, a.live - live);
            if (seen_ok) CHECKF(k > 5, "only %d allocations?", k);
        }
        fe_model_free(m);
        CHECK(a.live == 0);
    }
}

int main(int argc, char **argv) {
    fe_model *m;
    if (argc > 1) t_dir = argv[1];
    m = t_load_tiny_a();
    TEST("load tiny_a") CHECK(m != NULL);
    if (m) {
        t_oracle(m);
        t_embedding_std(m);
        t_errors(m);
        fe_model_free(m);
    }
    t_fast_plain();
    t_determinism();
    t_nomem();
    return t_summary();
}
