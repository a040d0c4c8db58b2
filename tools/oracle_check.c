/* oracle_check DIR [--vocab VOCABDIR]
   Checks factedit against reference values computed by Hugging Face transformers, for any
   directory with the layout of tests/data/tiny_a (cases.json, expected.safetensors, hf/,
   model_*.safetensors; optionally cases_extra.json + expected_extra.safetensors and
   tokenizer_cases.json). Every checkpoint variant is converted with the project's own converter,
   then every forward tensor of every case is compared, plus the greedy generation; with --vocab,
   every tokenizer case. Prints one line per failure (tensor name, worst error) and ends with
   "N passed, M failed"; exits non-zero when M > 0.

   Tolerances. fp32 checkpoints: |ours - ref| <= 1e-4 * max(1, |ref|) element by element.
   f16 / bf16 checkpoints: every weight carries a relative rounding error of up to u (f16:
   u = 2^-11, bf16: u = 2^-8). A dot product of n terms then errs by at most u * sum|x_i w_i|, and
   with layer norms renormalising every block the relative error of each tensor stays a small
   multiple of u; we allow 32u (f16: 1.6e-2, bf16: 1.25e-1) * max(1, |ref|), and report the worst
   error seen so the margin is visible. Greedy generation is checked exactly on fp32 checkpoints
   only: with rounded weights two near-tied logits may legitimately swap. */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "fe_convert.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <math.h>

typedef struct oc {
    int passed, failed;
    const char *dir;
    fe_safetensors *expected;
    unsigned char *expected_bytes;
    double worst[16];          /* worst relative error per tensor kind, over fp32 variants */
    const char *worst_name[16];
} oc;

static char *path_join(char *buf, size_t cap, const char *dir, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

static int read_json(const char *path, unsigned char **bytes, fe_json **doc, int required, oc *c) {
    size_t len;
    fe_error e;
    *doc = NULL; *bytes = NULL;
    if (fe_read_file(path, bytes, &len, NULL, &e) != fe_ok) {
        if (required) { c->failed++; printf("FAIL %s\n", e.msg); }
        return 0;
    }
    if (fe_json_parse(doc, (const char *)*bytes, len, NULL, &e) != fe_ok) {
        c->failed++;
        printf("FAIL %s: %s\n", path, e.msg);
        return 0;
    }
    return 1;
}

/* A JSON list of token ids: every element an integer in [0, INT_MAX]; 0 = malformed. */
static int read_ids(const fe_json_value *arr, int **ids, int *n) {
    size_t i;
    *ids = NULL;
    if (!arr || arr->type != fe_json_array || arr->count > (size_t)INT_MAX) return 0;
    for (i = 0; i < arr->count; i++) {
        const fe_json_value *x = fe_json_at(arr, i);
        if (x->type != fe_json_number || !(x->number >= 0 && x->number <= INT_MAX) || x->number != floor(x->number)) return 0;
    }
    *ids = (int *)malloc(sizeof(int) * (arr->count + 1));
    if (!*ids) return 0;
    for (i = 0; i < arr->count; i++) (*ids)[i] = (int)fe_json_at(arr, i)->number;
    *n = (int)arr->count;
    return 1;
}

/* Compares n floats with a reference tensor; tol scales max(1,|ref|). Returns worst scaled error. */
static double compare(oc *c, const char *variant, const char *name, const float *ours, size_t n, double tol, int kind) {
    const fe_st_tensor *t = fe_safetensors_find(c->expected, name);
    float *ref;
    size_t i, worst_i = 0;
    double worst = 0.0;
    char msg[512];
    if (!t) { snprintf(msg, sizeof msg, "%s: expected tensor '%s' missing", variant, name); c->failed++; printf("FAIL %s\n", msg); return 1e30; }
    if (t->numel != n) {
        snprintf(msg, sizeof msg, "%s: tensor '%s' has %zu elements, ours %zu", variant, name, t->numel, n);
        c->failed++; printf("FAIL %s\n", msg); return 1e30;
    }
    ref = (float *)malloc(sizeof(float) * (n ? n : 1));
    fe_st_tensor_to_f32(t, ref, NULL);
    for (i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - (double)ref[i]) / (fabs(ref[i]) > 1.0 ? fabs(ref[i]) : 1.0);
        if (!(d <= worst)) { worst = d; worst_i = i; }   /* NaN-safe: NaN becomes the worst */
    }
    if (!(worst <= tol)) {
        c->failed++;
        printf("FAIL %s %s: worst scaled error %.3g at element %zu (ours %.7g, ref %.7g), tolerance %.3g\n",
               variant, name, worst, worst_i, ours[worst_i], ref[worst_i], tol);
    } else c->passed++;
    if (kind >= 0 && worst > c->worst[kind]) { c->worst[kind] = worst; c->worst_name[kind] = name; }
    free(ref);
    return worst;
}

enum { K_EMBED, K_LN1, K_ATTN, K_KEY, K_LN2, K_MLP, K_BLOCK, K_LNF, K_LOGITS, K_COUNT };
static const char *kind_names[K_COUNT] = {"embed", "ln1", "attn", "key", "ln2", "mlp", "block", "lnf", "logits"};

/* Copies rows [0,T) of a (B=1) state buffer with `width` floats per position. */
static float *rows(const float *base, int T, int width) {
    float *o = (float *)malloc(sizeof(float) * (size_t)T * width);
    memcpy(o, base, sizeof(float) * (size_t)T * width);
    return o;
}

static void check_forward(oc *c, const char *variant, const fe_model *m, const fe_json_value *cases, double tol, int record) {
    size_t k;
    int C = m->config.channels, L = m->config.num_layers, V = m->config.vocab_size;
    for (k = 0; cases && k < cases->count; k++) {
        const fe_json_value *cs = fe_json_at(cases, k);
        const fe_json_value *nm = fe_json_get(cs, "name");
        int *ids = NULL, T = 0, l;
        fe_state *s;
        fe_error e;
        fe_forward_opts o;
        char name[128];
        if (!nm || nm->type != fe_json_string || !read_ids(fe_json_get(cs, "ids"), &ids, &T)) { c->failed++; printf("FAIL cases.json forward[%zu] malformed\n", k); continue; }
        if (fe_state_new(&s, m, 1, T, 0, &e) != fe_ok) { c->failed++; printf("FAIL %s %s: %s\n", variant, nm->str, e.msg); free(ids); continue; }
        memset(&o, 0, sizeof o);
        o.all_logits = 1;
        if (fe_forward(m, s, ids, T, &o, &e) != fe_ok) { c->failed++; printf("FAIL %s %s: %s\n", variant, nm->str, e.msg); fe_state_free(s); free(ids); continue; }
#define CMP(kind, nameexpr, ptr, width) do { float *r_ = rows((ptr), T, (width)); nameexpr; \
        compare(c, variant, name, r_, (size_t)T * (width), tol, record ? (kind) : -1); free(r_); } while (0)
        CMP(K_EMBED, snprintf(name, sizeof name, "%s.embed", nm->str), s->encoded, C);
        for (l = 0; l < L; l++) {
            fe__layer_acts *a = &s->layers[l];
            CMP(K_LN1, snprintf(name, sizeof name, "%s.ln1_%d", nm->str, l), a->ln1, C);
            CMP(K_ATTN, snprintf(name, sizeof name, "%s.attn%d", nm->str, l), a->attn, C);
            CMP(K_KEY, snprintf(name, sizeof name, "%s.key%d", nm->str, l), a->key, 4 * C);
            CMP(K_LN2, snprintf(name, sizeof name, "%s.ln2_%d", nm->str, l), a->ln2, C);
            CMP(K_MLP, snprintf(name, sizeof name, "%s.mlp%d", nm->str, l), a->mlp, C);
            CMP(K_BLOCK, snprintf(name, sizeof name, "%s.block%d", nm->str, l), a->resid, C);
        }
        CMP(K_LNF, snprintf(name, sizeof name, "%s.lnf", nm->str), s->lnf, C);
        {
            float *lg = (float *)malloc(sizeof(float) * (size_t)T * V);
            int t;
            for (t = 0; t < T; t++) memcpy(lg + (size_t)t * V, fe_state_logits(s, 0, t), sizeof(float) * V);
            snprintf(name, sizeof name, "%s.logits", nm->str);
            compare(c, variant, name, lg, (size_t)T * V, tol, record ? K_LOGITS : -1);
            free(lg);
        }
#undef CMP
        fe_state_free(s);
        free(ids);
    }
}

static void check_generate(oc *c, const char *variant, const fe_model *m, const fe_json_value *gens) {
    size_t k;
    for (k = 0; gens && k < gens->count; k++) {
        const fe_json_value *g = fe_json_at(gens, k);
        int *prompt = NULL, *want = NULL, np = 0, nw = 0, *got, i, bad = -1;
        fe_error e;
        if (!read_ids(fe_json_get(g, "prompt"), &prompt, &np) || !read_ids(fe_json_get(g, "greedy"), &want, &nw)) {
            c->failed++; printf("FAIL cases.json generate[%zu] malformed\n", k); free(prompt); free(want); continue;
        }
        got = (int *)malloc(sizeof(int) * (size_t)(nw + 1));
        if (fe_generate(m, prompt, np, nw, NULL, NULL, got, &e) != fe_ok) { c->failed++; printf("FAIL %s generate[%zu]: %s\n", variant, k, e.msg); }
        else {
            for (i = 0; i < nw && bad < 0; i++) if (got[i] != want[i]) bad = i;
            if (bad >= 0) { c->failed++; printf("FAIL %s generate[%zu]: step %d gives token %d, reference %d\n", variant, k, bad, got[bad], want[bad]); }
            else c->passed++;
        }
        free(got); free(prompt); free(want);
    }
}

static void check_tokenizer(oc *c, const char *vocab_dir) {
    char path[4096];
    unsigned char *bytes;
    fe_json *doc;
    fe_vocab *v;
    fe_error e;
    size_t i;
    if (!read_json(path_join(path, sizeof path, c->dir, "tokenizer_cases.json"), &bytes, &doc, 0, c)) return;
    if (fe_vocab_load_dir(&v, vocab_dir, NULL, &e) != fe_ok) { c->failed++; printf("FAIL vocabulary: %s\n", e.msg); fe_json_free(doc); free(bytes); return; }
    for (i = 0; i < fe_json_root(doc)->count; i++) {
        const fe_json_value *cs = fe_json_at(fe_json_root(doc), i), *text = fe_json_get(cs, "text");
        int *want = NULL, nw = 0, *got = NULL, ok;
        size_t n = 0, j;
        if (!text || text->type != fe_json_string || !read_ids(fe_json_get(cs, "ids"), &want, &nw)) { c->failed++; printf("FAIL tokenizer case %zu malformed\n", i); free(want); continue; }
        ok = fe_encode(v, text->str, text->len, &got, &n, &e) == fe_ok && n == (size_t)nw;
        for (j = 0; ok && j < n; j++) ok = got[j] == want[j];
        if (ok) c->passed++;
        else { c->failed++; printf("FAIL tokenizer case %zu (%.40s...): ids differ\n", i, text->str); }
        if (got) fe_ids_free(v, got);
        free(want);
    }
    fe_vocab_free(v);
    fe_json_free(doc);
    free(bytes);
}

/* Converts a safetensors file (n_head etc. from cfg_path) to an llm.c checkpoint in memory.
   Tensors the file lacks are taken from ref_path: three of the reference files lack the
   c_attn biases (a defect of the reference data), so they are filled from the hf/ original. */
static fe_result convert_file(const char *st_path, const char *cfg_path, const char *ref_path, int version, unsigned char **out, size_t *out_len, fe_error *e) {
    fe_model *m;
    fe_result r;
    if ((r = fe_convert_hf_model_files(&m, st_path, cfg_path, ref_path, NULL, e)) != fe_ok) return r;
    r = fe_model_save_mem(m, version, out, out_len, e);
    fe_model_free(m);
    return r;
}

/* ---------------------------------------------------------------- causal tracing
   cases.json "trace": every (kind, window) grid with fe_trace; cases_extra.json "sever" (if the
   directory has it): the severed rows with fe_trace_sever. Both through the fast path (the
   default), on the fp32 hf/ checkpoint, with the noise given explicitly: the tensor <case>.noise
   [samples, subject tokens, C] of expected.safetensors. Scores, low and high must agree within
   1e-4 absolute; the clean argmax must be the case's answer. T, L and the number of samples come
   from the files. */
#define ORACLE_TRACE_TOL 1e-4

typedef struct trace_case { const char *name; int *ids, T, samples, answer; size_t s0, s1; float *noise; } trace_case;

static void trace_fail(oc *c, const char *fmt, const char *a, const char *b) { c->failed++; printf("FAIL "); printf(fmt, a, b); printf("\n"); }

/* Reads a trace case (ids, subject, samples, answer) and its noise tensor; 0 if malformed. */
static int trace_case_read(oc *c, const fe_json_value *cs, int C, trace_case *tc) {
    const fe_json_value *nm = fe_json_get(cs, "name"), *sub = fe_json_get(cs, "subject"), *ns = fe_json_get(cs, "samples"), *an = fe_json_get(cs, "answer");
    const fe_st_tensor *t;
    char name[160];
    memset(tc, 0, sizeof *tc);
    if (!nm || nm->type != fe_json_string || !sub || sub->type != fe_json_array || sub->count != 2 || !ns || ns->type != fe_json_number ||
        !an || an->type != fe_json_number || !read_ids(fe_json_get(cs, "ids"), &tc->ids, &tc->T))
        return 0;
    tc->name = nm->str;
    tc->s0 = (size_t)fe_json_at(sub, 0)->number; tc->s1 = (size_t)fe_json_at(sub, 1)->number;
    tc->samples = (int)ns->number; tc->answer = (int)an->number;
    if (tc->samples < 1 || tc->s0 >= tc->s1 || tc->s1 > (size_t)tc->T) return 0;
    snprintf(name, sizeof name, "%s.noise", tc->name);
    t = fe_safetensors_find(c->expected, name);
    if (!t || t->numel != (size_t)tc->samples * (tc->s1 - tc->s0) * (size_t)C) { trace_fail(c, "trace: noise tensor '%s' missing or not [samples, span, C]%s", name, ""); return 0; }
    tc->noise = (float *)malloc(sizeof(float) * t->numel);
    if (!tc->noise || fe_st_tensor_to_f32(t, tc->noise, NULL) != fe_ok) return 0;
    return 1;
}

static void trace_case_free(trace_case *tc) { free(tc->ids); free(tc->noise); memset(tc, 0, sizeof *tc); }

/* Compares n scores with tensor `name` of st, absolutely. */
static void trace_cmp(oc *c, const fe_safetensors *st, const char *name, const float *ours, size_t n) {
    const fe_st_tensor *t = fe_safetensors_find(st, name);
    float *ref;
    size_t i, wi = 0;
    double worst = 0;
    if (!t || t->numel != n) { trace_fail(c, "trace: expected tensor '%s' missing or of another size%s", name, ""); return; }
    if (!(ref = (float *)malloc(sizeof(float) * n)) || fe_st_tensor_to_f32(t, ref, NULL) != fe_ok) { free(ref); trace_fail(c, "trace: cannot read '%s'%s", name, ""); return; }
    for (i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - (double)ref[i]);
        if (!(d <= worst)) { worst = d; wi = i; }
    }
    if (worst <= ORACLE_TRACE_TOL) c->passed++;
    else { c->failed++; printf("FAIL trace %s: worst error %.3g at element %zu (ours %.7g, ref %.7g)\n", name, worst, wi, ours[wi], ref[wi]); }
    free(ref);
}

static void trace_cmp_num(oc *c, const char *what, const char *name, double ours, const fe_json_value *ref) {
    if (!ref || ref->type != fe_json_number) return;
    if (fabs(ours - ref->number) <= ORACLE_TRACE_TOL) c->passed++;
    else { c->failed++; printf("FAIL trace %s %s: ours %.9g, ref %.9g\n", name, what, ours, ref->number); }
}

/* The directory's model (hf/model.safetensors, converted to an llm.c checkpoint in memory: *ck,
   freed by the caller) loaded into *m; and its expected_extra.safetensors. 1, or 0 after counting
   a failure of check `what` and saying why. */
static int load_hf_model(oc *c, const char *cfgpath, const char *refpath, const char *what, unsigned char **ck, fe_model **m) {
    char path[4096];
    size_t cklen;
    fe_error e;
    path_join(path, sizeof path, c->dir, "hf/model.safetensors");
    if (convert_file(path, cfgpath, refpath, 3, ck, &cklen, &e) == fe_ok && fe_model_load_mem(m, *ck, cklen, NULL, &e) == fe_ok) return 1;
    c->failed++; printf("FAIL %s: model: %s\n", what, e.msg);
    return 0;
}
static int load_expected_extra(oc *c, const char *what, unsigned char **bytes, fe_safetensors **ex) {
    char path[4096];
    size_t len;
    fe_error e;
    path_join(path, sizeof path, c->dir, "expected_extra.safetensors");
    if (fe_read_file(path, bytes, &len, NULL, &e) == fe_ok && fe_safetensors_parse(ex, *bytes, len, NULL, &e) == fe_ok) return 1;
    c->failed++; printf("FAIL %s: %s\n", what, e.msg);
    return 0;
}

static void check_trace_oracle(oc *c, const char *cfgpath, const char *refpath, const fe_json_value *root) {
    const fe_json_value *traces = fe_json_get(root, "trace"), *sevs;
    char path[4096];
    unsigned char *ck = NULL, *xbytes = NULL, *ebytes = NULL;
    size_t k, j;
    fe_model *m = NULL;
    fe_json *extra = NULL;
    fe_safetensors *ex = NULL;
    fe_error e;
    int C;
    if (!traces || traces->type != fe_json_array || !traces->count) return;
    if (!load_hf_model(c, cfgpath, refpath, "trace", &ck, &m)) { free(ck); return; }
    C = m->config.channels;
    for (k = 0; k < traces->count; k++) {
        const fe_json_value *cs = fe_json_at(traces, k), *res = fe_json_get(cs, "results");
        trace_case tc;
        if (!trace_case_read(c, cs, C, &tc) || !res || res->type != fe_json_array) { c->failed++; printf("FAIL cases.json trace[%zu] malformed\n", k); trace_case_free(&tc); continue; }
        for (j = 0; j < res->count; j++) {
            const fe_json_value *r = fe_json_at(res, j), *kind = fe_json_get(r, "kind"), *win = fe_json_get(r, "window"), *tn = fe_json_get(r, "tensor");
            fe_trace_opts o = fe_trace_opts_default();
            fe_trace_result out;
            int ki;
            if (!kind || kind->type != fe_json_string || !win || win->type != fe_json_number || !tn || tn->type != fe_json_string) { c->failed++; printf("FAIL %s result %zu malformed\n", tc.name, j); continue; }
            ki = !strcmp(kind->str, "hidden") ? 0 : !strcmp(kind->str, "mlp") ? 1 : !strcmp(kind->str, "attn") ? 2 : -1;
            if (ki < 0) { c->failed++; printf("FAIL %s: unknown kind '%s'\n", tc.name, kind->str); continue; }
            o.samples = tc.samples; o.window = (int)win->number; o.explicit_noise = tc.noise;
            if (fe_trace(m, tc.ids, tc.T, tc.s0, tc.s1, 1u << ki, &o, &out, &e) != fe_ok) { c->failed++; printf("FAIL trace %s: %s\n", tn->str, e.msg); continue; }
            if (out.answer == tc.answer) c->passed++;
            else { c->failed++; printf("FAIL trace %s: clean argmax %d, ref %d\n", tn->str, out.answer, tc.answer); }
            trace_cmp_num(c, "low", tn->str, out.low, fe_json_get(r, "low"));
            trace_cmp_num(c, "high", tn->str, out.high, fe_json_get(r, "high"));
            trace_cmp(c, c->expected, tn->str, out.scores[ki], (size_t)out.T * (size_t)out.L);
            fe_trace_result_free(&out);
        }
        trace_case_free(&tc);
    }
    /* the severed traces, if the directory has them */
    path_join(path, sizeof path, c->dir, "cases_extra.json");
    if (!read_json(path, &xbytes, &extra, 0, c)) goto done;
    sevs = fe_json_get(fe_json_root(extra), "sever");
    if (!sevs || sevs->type != fe_json_array || !sevs->count) goto done;
    if (!load_expected_extra(c, "sever", &ebytes, &ex)) goto done;
    for (k = 0; k < sevs->count; k++) {
        const fe_json_value *sv = fe_json_at(sevs, k), *tr = fe_json_get(sv, "trace"), *tok = fe_json_get(sv, "token"), *res = fe_json_get(sv, "results"), *cs = NULL;
        static const char *const sever_names[3] = {"none", "mlp", "attn"};
        trace_case tc;
        fe_trace_opts o = fe_trace_opts_default();
        fe_trace_result out;
        unsigned mask = 0;
        for (j = 0; tr && tr->type == fe_json_string && j < traces->count; j++) {
            const fe_json_value *nm = fe_json_get(fe_json_at(traces, j), "name");
            if (nm && nm->type == fe_json_string && !strcmp(nm->str, tr->str)) cs = fe_json_at(traces, j);
        }
        if (!cs || !tok || tok->type != fe_json_number || !res || res->type != fe_json_array || !trace_case_read(c, cs, C, &tc)) {
            c->failed++; printf("FAIL cases_extra.json sever[%zu] malformed (or its trace case missing)\n", k); continue;
        }
        for (j = 0; j < res->count; j++) {
            const fe_json_value *sn = fe_json_get(fe_json_at(res, j), "sever");
            int si;
            for (si = 0; si < 3; si++) if (sn && sn->type == fe_json_string && !strcmp(sn->str, sever_names[si])) mask |= 1u << si;
        }
        o.samples = tc.samples; o.explicit_noise = tc.noise; o.answer = tc.answer;
        if (!mask || fe_trace_sever(m, tc.ids, tc.T, tc.s0, tc.s1, (int)tok->number, mask, &o, &out, &e) != fe_ok) {
            c->failed++; printf("FAIL sever[%zu]: %s\n", k, mask ? e.msg : "no known sever"); trace_case_free(&tc); continue;
        }
        for (j = 0; j < res->count; j++) {
            const fe_json_value *r = fe_json_at(res, j), *sn = fe_json_get(r, "sever"), *tn = fe_json_get(r, "tensor");
            int si;
            if (!sn || sn->type != fe_json_string || !tn || tn->type != fe_json_string) { c->failed++; printf("FAIL sever[%zu] result %zu malformed\n", k, j); continue; }
            for (si = 0; si < 3 && strcmp(sn->str, sever_names[si]); si++) {}
            if (si == 3) { c->failed++; printf("FAIL sever[%zu]: unknown sever '%s'\n", k, sn->str); continue; }
            trace_cmp(c, ex, tn->str, out.scores[si], (size_t)out.L);
        }
        fe_trace_result_free(&out);
        trace_case_free(&tc);
    }
done:
    fe_safetensors_free(ex);
    free(ebytes);
    fe_json_free(extra);
    free(xbytes);
    fe_model_free(m);
    free(ck);
}

/* ---------------------------------------------------------------- ROME
   cases.json "rome" (README: the value objective of compute_v, k*, the key covariance, u, the
   rank-one update), on the fp32 hf/ checkpoint through the header's API: target_init; loss, nll,
   kl, wd and the gradient at each listed delta; k* over the given prefixes; the covariance over
   cov_seqs; u with the given ridge; cur_input / cur_output; v* = target_init + the last delta;
   right; W_after (HF layout [4C, C] against our [C, 4C]); after applying the edit the MLP output
   at the lookup and the last-position logits of the unprefixed prompt; undo restores the model
   bit for bit. Every tensor within ORACLE_ROME_TOL relative (|ours - ref| <= tol max(1, |ref|)),
   the scalars likewise. */
#define ORACLE_ROME_TOL 1e-4

static void rome_fail(oc *c, const char *what) { c->failed++; printf("FAIL rome: %s\n", what); }

/* A float tensor of `expected` with n elements, or NULL (and a failure). */
static float *rome_tensor(oc *c, const char *name, size_t n) {
    const fe_st_tensor *t = fe_safetensors_find(c->expected, name);
    float *f;
    char msg[256];
    if (!t || t->numel != n) { snprintf(msg, sizeof msg, "tensor '%s' missing or not of %zu elements", name, n); rome_fail(c, msg); return NULL; }
    f = (float *)malloc(sizeof(float) * (n ? n : 1));
    if (!f || fe_st_tensor_to_f32(t, f, NULL) != fe_ok) { free(f); snprintf(msg, sizeof msg, "cannot read tensor '%s'", name); rome_fail(c, msg); return NULL; }
    return f;
}

static void rome_scalar(oc *c, const char *name, double ours, const fe_json_value *ref) {
    if (!ref || ref->type != fe_json_number) { c->failed++; printf("FAIL rome %s: reference value missing\n", name); return; }
    if (fabs(ours - ref->number) <= ORACLE_ROME_TOL * (fabs(ref->number) > 1 ? fabs(ref->number) : 1)) c->passed++;
    else { c->failed++; printf("FAIL rome %s: ours %.9g, ref %.9g\n", name, ours, ref->number); }
}

/* ids of a JSON array of integers in [0, V); 0 if malformed. */
static int rome_ids(const fe_json_value *a, int V, int **ids, int *n) {
    size_t i;
    *ids = NULL; *n = 0;
    if (!a || a->type != fe_json_array || a->count > 100000) return 0;
    if (!(*ids = (int *)malloc(sizeof(int) * (a->count + 1)))) return 0;
    for (i = 0; i < a->count; i++) {
        const fe_json_value *x = fe_json_at(a, i);
        if (!x || x->type != fe_json_number || x->number != floor(x->number) || x->number < 0 || x->number >= V) { free(*ids); *ids = NULL; return 0; }
        (*ids)[i] = (int)x->number;
    }
    *n = (int)a->count;
    return 1;
}

static int rome_int(const fe_json_value *v, int lo, int hi, int *out) {
    if (!v || v->type != fe_json_number || v->number != floor(v->number) || v->number < lo || v->number > hi) return 0;
    *out = (int)v->number;
    return 1;
}

/* cases_extra.json "train" (if present): loss and the gradient of every parameter of a batch
   (inputs seq[:-1], targets seq[1:]) against expected_extra.safetensors train.grad.<HF name>
   (HF layout: Conv1D [in, out], so ours is transposed to compare; wte includes the tied head);
   max |ours - ref| <= 1e-4 * max(1, max |ref|) per tensor. */
static void check_train_oracle(oc *c, const char *cfgpath, const char *refpath) {
    static const char *const per[16] = {NULL, NULL, "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                                        "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                                        "mlp.c_proj.bias", NULL, NULL};
    char path[4096], name[160];
    unsigned char *ck = NULL, *xbytes = NULL, *ebytes = NULL;
    fe_model *m = NULL;
    fe_json *extra = NULL;
    fe_safetensors *ex = NULL;
    fe_state *s = NULL;
    fe_error e;
    const fe_json_value *tr, *batch, *lossv;
    int *in = NULL, *tg = NULL, B, n = 0, b, t, i, l, L, C, ok = 1;
    float *grads = NULL, *mine[16];
    double loss = 0.0, worst = 0.0;
    fe_params G;
    path_join(path, sizeof path, c->dir, "cases_extra.json");
    if (!read_json(path, &xbytes, &extra, 0, c)) return;
    tr = fe_json_get(fe_json_root(extra), "train");
    batch = tr ? fe_json_get(tr, "batch") : NULL;
    lossv = tr ? fe_json_get(tr, "loss") : NULL;
    if (!tr) goto done;
    if (!batch || batch->type != fe_json_array || !batch->count || !lossv || lossv->type != fe_json_number) { c->failed++; printf("FAIL cases_extra.json train malformed\n"); goto done; }
    if (!load_expected_extra(c, "train", &ebytes, &ex) || !load_hf_model(c, cfgpath, refpath, "train", &ck, &m)) goto done;
    L = m->config.num_layers; C = m->config.channels; B = (int)batch->count;
    for (b = 0; b < B; b++) {
        int *row = NULL, rn = 0;
        if (!read_ids(fe_json_at(batch, (size_t)b), &row, &rn) || rn < 2 || (b && rn - 1 != n)) { free(row); ok = 0; break; }
        if (!b) { n = rn - 1; in = (int *)malloc(sizeof(int) * (size_t)B * n); tg = (int *)malloc(sizeof(int) * (size_t)B * n); }
        for (t = 0; t < n; t++) { in[b * n + t] = row[t]; tg[b * n + t] = row[t + 1]; }
        free(row);
    }
    if (!ok || !in || !tg) { c->failed++; printf("FAIL cases_extra.json train batch malformed\n"); goto done; }
    grads = (float *)calloc(m->num_params, sizeof(float));
    if (!grads || fe_state_new(&s, m, B, n, 0, &e) != fe_ok || fe_lm_grad(m, s, in, tg, n, grads, &loss, &e) != fe_ok) { c->failed++; printf("FAIL train: %s\n", e.msg); goto done; }
    if (fabs(loss - lossv->number) <= 1e-4 * fabs(lossv->number)) c->passed++;
    else { c->failed++; printf("FAIL train loss %.9g, reference %.9g\n", loss, lossv->number); }
    G = fe_params_view(m, grads);
    mine[0] = G.wte; mine[1] = G.wpe; mine[2] = G.ln1w; mine[3] = G.ln1b; mine[4] = G.qkvw; mine[5] = G.qkvb; mine[6] = G.attprojw; mine[7] = G.attprojb;
    mine[8] = G.ln2w; mine[9] = G.ln2b; mine[10] = G.fcw; mine[11] = G.fcb; mine[12] = G.fcprojw; mine[13] = G.fcprojb; mine[14] = G.lnfw; mine[15] = G.lnfb;
    for (i = 0; i < 16; i++)
        for (l = 0; l < ((i >= 2 && i < 14) ? L : 1); l++) {
            const fe_st_tensor *rt;
            size_t cnt, j, rows = 1, cols, stride = m->param_sizes[i] / ((i >= 2 && i < 14) ? (size_t)L : 1);
            float *ref, *cmp;
            const float *ours = mine[i] + (size_t)l * stride;
            double mx = 1.0, w = 0.0;
            int transpose = i == 4 || i == 6 || i == 10 || i == 12;
            if (i == 0) snprintf(name, sizeof name, "train.grad.wte.weight");
            else if (i == 1) snprintf(name, sizeof name, "train.grad.wpe.weight");
            else if (i == 14) snprintf(name, sizeof name, "train.grad.ln_f.weight");
            else if (i == 15) snprintf(name, sizeof name, "train.grad.ln_f.bias");
            else snprintf(name, sizeof name, "train.grad.h.%d.%s", l, per[i]);
            rt = fe_safetensors_find(ex, name);
            cnt = i == 0 ? (size_t)m->config.vocab_size * C : stride;   /* wte's padding rows are not in the reference */
            if (!rt || rt->numel != cnt) { c->failed++; printf("FAIL train gradient %s: %s\n", name, rt ? "element count differs" : "missing in expected_extra"); continue; }
            ref = (float *)malloc(sizeof(float) * cnt); cmp = (float *)malloc(sizeof(float) * cnt);
            fe_st_tensor_to_f32(rt, ref, NULL);
            if (transpose) {   /* ours [out, in] in panels -> HF [in, out] */
                rows = i == 4 ? 3 * (size_t)C : i == 10 ? 4 * (size_t)C : (size_t)C;
                cols = cnt / rows;
                for (j = 0; j < rows * cols; j++) cmp[(j % cols) * rows + j / cols] = ours[fe_weight_index(rows, cols, j / cols, j % cols)];
            } else if (i == 0) {   /* wte: the first V rows of the panel-layout (Vp, C) matrix */
                for (j = 0; j < cnt; j++) cmp[j] = ours[fe_weight_index((size_t)m->config.padded_vocab_size, (size_t)C, j / (size_t)C, j % (size_t)C)];
            } else memcpy(cmp, ours, sizeof(float) * cnt);
            for (j = 0; j < cnt; j++) if (fabs(ref[j]) > mx) mx = fabs(ref[j]);
            for (j = 0; j < cnt; j++) { double d = fabs((double)cmp[j] - ref[j]) / mx; if (!(d <= w)) w = d; }
            if (w <= 1e-4) c->passed++;
            else { c->failed++; printf("FAIL train gradient %s: worst relative error %.3g (tolerance 1e-4)\n", name, w); }
            if (w > worst) worst = w;
            free(ref); free(cmp);
        }
    printf("train: loss %.9f (reference %.9f), worst gradient relative error %.2g\n", loss, lossv->number, worst);
done:
    fe_state_free(s); fe_model_free(m); free(grads); free(in); free(tg); free(ck);
    fe_safetensors_free(ex); free(ebytes); fe_json_free(extra); free(xbytes);
}

static void check_rome_oracle(oc *c, const char *cfgpath, const char *refpath, const fe_json_value *root) {
    enum { MAXP = 64 };
    const fe_json_value *r = fe_json_get(root, "rome"), *pf, *pr, *lk, *ev, *cs, *x;
    char name[192];
    unsigned char *ck = NULL;
    size_t k;
    fe_model *m = NULL;
    fe_error e;
    int C, C4, L, V, layer = 0, np = 0, ns = 0, nr = 0, nt = 0, nkl = 0, kl_lookup = 0, i, j, ok = 1;
    int *subject = NULL, *rest = NULL, *target = NULL, *klp = NULL, *prompts[MAXP], plen[MAXP], lookups[MAXP], *pre[MAXP], npre[MAXP], *keyp[MAXP], *bare = NULL;
    fe_rome_prompt rp[MAXP], kp[MAXP], klpr, up;
    fe_vobj_spec spec;
    fe_vobj *o = NULL;
    fe_cov *cov = NULL;
    fe_edit *ed = NULL;
    fe_state *s = NULL;
    float *keys = NULL, *kstar = NULL, *u = NULL, *cin = NULL, *cout = NULL, *vstar = NULL, *mom = NULL, *wa = NULL, *ref = NULL, *delta = NULL, *grad = NULL;
    double *ud = NULL, ridge = 0, nu = 0, kl_factor = 0, vwd = 0;
    uint64_t h0;
    if (!r) return;   /* a directory without a rome section */
    memset(prompts, 0, sizeof prompts); memset(pre, 0, sizeof pre); memset(keyp, 0, sizeof keyp);
    if (!load_hf_model(c, cfgpath, refpath, "rome", &ck, &m)) { free(ck); return; }
    C = m->config.channels; C4 = 4 * C; L = m->config.num_layers; V = m->config.vocab_size;
    h0 = fe_model_checksum(m);
    /* the case, checked field by field */
    pf = fe_json_get(r, "prefixes"); pr = fe_json_get(r, "prompts"); lk = fe_json_get(r, "lookups"); ev = fe_json_get(r, "evals"); cs = fe_json_get(r, "cov_seqs");
    ok = r->type == fe_json_object && rome_int(fe_json_get(r, "layer"), 0, L - 1, &layer) &&
         rome_ids(fe_json_get(r, "subject"), V, &subject, &ns) && ns > 0 && rome_ids(fe_json_get(r, "prompt_rest"), V, &rest, &nr) &&
         rome_ids(fe_json_get(r, "target"), V, &target, &nt) && nt > 0 && rome_ids(fe_json_get(r, "kl_prompt"), V, &klp, &nkl) && nkl > 0 &&
         rome_int(fe_json_get(r, "kl_lookup"), 0, nkl - 1, &kl_lookup) && pf && pf->type == fe_json_array && pr && pr->type == fe_json_array &&
         lk && lk->type == fe_json_array && pf->count == pr->count && lk->count == pr->count && pr->count >= 1 && pr->count <= MAXP &&
         (x = fe_json_get(r, "kl_factor")) && x->type == fe_json_number && (kl_factor = x->number, 1) &&
         (x = fe_json_get(r, "v_weight_decay")) && x->type == fe_json_number && (vwd = x->number, 1) &&
         ev && ev->type == fe_json_array && ev->count >= 1 && cs && cs->type == fe_json_array && cs->count >= 1 &&
         (x = fe_json_get(r, "cov_ridge")) && x->type == fe_json_number && x->number >= 0 && (ridge = x->number, 1);
    for (i = 0; ok && i < (int)pr->count; i++) {
        np = i + 1;
        ok = rome_ids(fe_json_at(pr, (size_t)i), V, &prompts[i], &plen[i]) && rome_ids(fe_json_at(pf, (size_t)i), V, &pre[i], &npre[i]) &&
             rome_int(fe_json_at(lk, (size_t)i), 0, plen[i] - 1, &lookups[i]) && plen[i] <= m->config.max_seq_len;
        if (ok) {
            /* the key prompt: prefix + subject + prompt_rest, lookup at the subject's last token */
            int n = npre[i] + ns + nr;
            ok = n <= m->config.max_seq_len && (keyp[i] = (int *)malloc(sizeof(int) * (size_t)n)) != NULL;
            if (ok) {
                memcpy(keyp[i], pre[i], sizeof(int) * (size_t)npre[i]);
                memcpy(keyp[i] + npre[i], subject, sizeof(int) * (size_t)ns);
                memcpy(keyp[i] + npre[i] + ns, rest, sizeof(int) * (size_t)nr);
                kp[i].ids = keyp[i]; kp[i].n = n; kp[i].lookup = npre[i] + ns - 1;
                rp[i].ids = prompts[i]; rp[i].n = plen[i]; rp[i].lookup = lookups[i];
            }
        }
    }
    if (!ok || ns + nr > m->config.max_seq_len || nkl > m->config.max_seq_len) { rome_fail(c, "cases.json rome section malformed (layer, ids, prompts, lookups, evals, cov_seqs or scalars)"); goto done; }
    keys = (float *)malloc(sizeof(float) * ((size_t)np * C4 + 3 * (size_t)C4 + 3 * (size_t)C));
    ud = (double *)malloc(sizeof(double) * (size_t)C4);
    bare = (int *)malloc(sizeof(int) * (size_t)(ns + nr + 1));
    mom = (float *)malloc(sizeof(float) * (size_t)C4 * C4);
    wa = (float *)malloc(sizeof(float) * (size_t)C4 * C);
    if (!keys || !ud || !bare || !mom || !wa) { rome_fail(c, "out of memory"); goto done; }
    kstar = keys + (size_t)np * C4; u = kstar + C4; cin = u + C4; cout = cin + C4; vstar = cout + C;
    /* the value objective */
    memset(&spec, 0, sizeof spec);
    klpr.ids = klp; klpr.n = nkl; klpr.lookup = kl_lookup;
    spec.layer = layer; spec.prompts = rp; spec.n_prompts = np; spec.target = target; spec.n_target = nt;
    spec.kl_prompts = &klpr; spec.n_kl = 1; spec.kl_factor = (float)kl_factor; spec.v_weight_decay = (float)vwd;
    if (fe_vobj_new(&o, m, &spec, &e) != fe_ok) { c->failed++; printf("FAIL rome: value objective: %s\n", e.msg); goto done; }
    if ((ref = rome_tensor(c, "rome.target_init", (size_t)C))) compare(c, "[rome]", "rome.target_init", fe_vobj_target_init(o), (size_t)C, ORACLE_ROME_TOL, -1);
    free(ref); ref = NULL;
    for (k = 0; k < ev->count; k++) {
        const fe_json_value *evk = fe_json_at(ev, k), *dn = fe_json_get(evk, "delta"), *gn = fe_json_get(evk, "grad");
        fe_vparts parts;
        if (!dn || dn->type != fe_json_string || !gn || gn->type != fe_json_string) { rome_fail(c, "cases.json rome.evals malformed"); continue; }
        free(delta); free(grad);
        delta = rome_tensor(c, dn->str, (size_t)C);
        grad = (float *)malloc(sizeof(float) * (size_t)C);
        if (!delta || !grad) continue;
        if (fe_vobj_eval(o, delta, &parts, grad, &e) != fe_ok) { c->failed++; printf("FAIL rome eval %s: %s\n", dn->str, e.msg); continue; }
        snprintf(name, sizeof name, "%s loss", dn->str); rome_scalar(c, name, parts.loss, fe_json_get(evk, "loss"));
        snprintf(name, sizeof name, "%s nll", dn->str); rome_scalar(c, name, parts.nll, fe_json_get(evk, "nll"));
        snprintf(name, sizeof name, "%s kl", dn->str); rome_scalar(c, name, parts.kl, fe_json_get(evk, "kl"));
        snprintf(name, sizeof name, "%s wd", dn->str); rome_scalar(c, name, parts.wd, fe_json_get(evk, "wd"));
        compare(c, "[rome]", gn->str, grad, (size_t)C, ORACLE_ROME_TOL, -1);
    }
    /* k*: the mean key over the prefixed prompts */
    if (fe_rome_keys(m, layer, kp, np, keys, NULL, &e) != fe_ok) { c->failed++; printf("FAIL rome keys: %s\n", e.msg); goto done; }
    for (j = 0; j < C4; j++) { double sum = 0; for (i = 0; i < np; i++) sum += keys[(size_t)i * C4 + j]; kstar[j] = (float)(sum / np); }
    compare(c, "[rome]", "rome.kstar", kstar, (size_t)C4, ORACLE_ROME_TOL, -1);
    /* the covariance over cov_seqs, u with the ridge */
    if (fe_cov_new(&cov, C4, NULL, &e) != fe_ok) { rome_fail(c, e.msg); goto done; }
    for (k = 0; k < cs->count; k++) {
        int *sq = NULL, n = 0;
        if (!rome_ids(fe_json_at(cs, k), V, &sq, &n) || n < 1 || n > m->config.max_seq_len) { free(sq); rome_fail(c, "cases.json rome.cov_seqs malformed"); goto done; }
        if (fe_cov_add_tokens(cov, m, layer, sq, 1, n, &e) != fe_ok) { free(sq); c->failed++; printf("FAIL rome cov: %s\n", e.msg); goto done; }
        free(sq);
    }
    fe_cov_moment(cov, mom);
    compare(c, "[rome]", "rome.cov", mom, (size_t)C4 * C4, ORACLE_ROME_TOL, -1);
    if (fe_cov_solve(cov, ridge, kstar, ud, 1e-12, 0, NULL, &e) != fe_ok) { c->failed++; printf("FAIL rome u: %s\n", e.msg); goto done; }
    for (j = 0; j < C4; j++) nu += ud[j] * ud[j];
    for (j = 0; j < C4; j++) u[j] = (float)(ud[j] / sqrt(nu));
    compare(c, "[rome]", "rome.u", u, (size_t)C4, ORACLE_ROME_TOL, -1);
    /* cur_input / cur_output at the unprefixed prompt subject + prompt_rest */
    memcpy(bare, subject, sizeof(int) * (size_t)ns);
    memcpy(bare + ns, rest, sizeof(int) * (size_t)nr);
    up.ids = bare; up.n = ns + nr; up.lookup = ns - 1;
    if (fe_rome_keys(m, layer, &up, 1, cin, cout, &e) != fe_ok) { c->failed++; printf("FAIL rome cur_input: %s\n", e.msg); goto done; }
    compare(c, "[rome]", "rome.cur_input", cin, (size_t)C4, ORACLE_ROME_TOL, -1);
    compare(c, "[rome]", "rome.cur_output", cout, (size_t)C, ORACLE_ROME_TOL, -1);
    /* v* = target_init + the last listed delta; right; the update */
    if (!delta) goto done;
    for (i = 0; i < C; i++) vstar[i] = fe_vobj_target_init(o)[i] + delta[i];
    compare(c, "[rome]", "rome.vstar", vstar, (size_t)C, ORACLE_ROME_TOL, -1);
    if (fe_edit_new(&ed, m, layer, &e) != fe_ok || fe_edit_set(ed, u, vstar, cin, cout, &e) != fe_ok) { c->failed++; printf("FAIL rome edit: %s\n", e.msg); goto done; }
    compare(c, "[rome]", "rome.right", ed->right, (size_t)C, ORACLE_ROME_TOL, -1);
    {
        const float *W = m->params.fcprojw + (size_t)layer * C * C4;
        int oo;
        for (oo = 0; oo < C; oo++) for (j = 0; j < C4; j++) wa[(size_t)j * C + oo] = W[fe_weight_index((size_t)C, (size_t)C4, (size_t)oo, (size_t)j)];   /* ours [C, 4C] in panels -> HF [4C, C] */
        compare(c, "[rome]", "rome.W_before", wa, (size_t)C4 * C, ORACLE_ROME_TOL, -1);
        if (fe_edit_apply(m, ed, &e) != fe_ok) { c->failed++; printf("FAIL rome apply: %s\n", e.msg); goto done; }
        for (oo = 0; oo < C; oo++) for (j = 0; j < C4; j++) wa[(size_t)j * C + oo] = W[fe_weight_index((size_t)C, (size_t)C4, (size_t)oo, (size_t)j)];
        compare(c, "[rome]", "rome.W_after", wa, (size_t)C4 * C, ORACLE_ROME_TOL, -1);
    }
    {
        fe_forward_opts fo;
        float *lg;
        memset(&fo, 0, sizeof fo);
        if (fe_state_new(&s, m, 1, up.n, 0, &e) != fe_ok || fe_forward(m, s, up.ids, up.n, &fo, &e) != fe_ok) { c->failed++; printf("FAIL rome forward: %s\n", e.msg); goto done; }
        compare(c, "[rome]", "rome.mlp_after", fe_state_act(s, fe_site_mlp, layer, 0, up.lookup), (size_t)C, ORACLE_ROME_TOL, -1);
        lg = (float *)malloc(sizeof(float) * (size_t)V);
        if (lg) { memcpy(lg, fe_state_logits(s, 0, -1), sizeof(float) * (size_t)V); compare(c, "[rome]", "rome.logits_after", lg, (size_t)V, ORACLE_ROME_TOL, -1); free(lg); }
    }
    if (fe_edit_undo(m, ed, &e) != fe_ok) { c->failed++; printf("FAIL rome undo: %s\n", e.msg); goto done; }
    if (fe_model_checksum(m) == h0) c->passed++;
    else rome_fail(c, "undo did not restore the model bit for bit");
done:
    fe_state_free(s);
    fe_edit_free(ed);
    fe_cov_free(cov);
    fe_vobj_free(o);
    for (i = 0; i < MAXP; i++) { free(prompts[i]); free(pre[i]); free(keyp[i]); }
    free(subject); free(rest); free(target); free(klp); free(bare);
    free(keys); free(ud); free(mom); free(wa); free(delta); free(grad);
    fe_model_free(m);
    free(ck);
}

/* cases_extra.json "memit" and "alphaedit" (if present): the closed forms with given deltas
   (oracle README, sections MEMIT and AlphaEdit) through fe_many: cov.l, Z, K.l, R.l, dW.l and the
   logits after both layers; AlphaEdit's P.l (to 1e-3: P's sensitivity to rounding in cov is
   |dcov| / gap), both batches' dW.l and the logits; the rest 1e-4 scaled. */
static float *mm_tensor(oc *c, const fe_safetensors *st, const char *name, size_t n) {
    const fe_st_tensor *t = fe_safetensors_find(st, name);
    float *f;
    if (!t || t->numel != n) { c->failed++; printf("FAIL memit: tensor '%s' missing or not of %zu elements\n", name, n); return NULL; }
    f = (float *)malloc(sizeof(float) * (n ? n : 1));
    if (!f || fe_st_tensor_to_f32(t, f, NULL) != fe_ok) { free(f); c->failed++; printf("FAIL memit: cannot read '%s'\n", name); return NULL; }
    return f;
}
static void mm_cmp(oc *c, const fe_safetensors *st, const char *name, const float *ours, size_t n, double tol) {
    float *ref = mm_tensor(c, st, name, n);
    double mx = 0, worst = 0;
    size_t i;
    if (!ref) return;
    for (i = 0; i < n; i++) if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    for (i = 0; i < n; i++) if (fabs((double)ours[i] - ref[i]) > worst) worst = fabs((double)ours[i] - ref[i]);
    worst /= mx > 1 ? mx : 1;
    if (worst <= tol) c->passed++;
    else { c->failed++; printf("FAIL %s: worst scaled error %.3g (tolerance %g)\n", name, worst, tol); }
    free(ref);
}
static void check_many_oracle(oc *c, const char *cfgpath, const char *refpath) {
    enum { MAXR = 16, MAXK = 8 };
    char path[4096], name[160];
    unsigned char *ck = NULL, *xbytes = NULL, *ebytes = NULL;
    size_t xlen, k;
    fe_json *extra = NULL;
    fe_safetensors *ex = NULL;
    fe_model *m = NULL;
    fe_error e;
    const fe_json_value *mm, *ae, *rq, *ct, *cs, *ly;
    int C, C4, V, N = 0, i, j, t, pass, nl, l0 = 0, l1 = 0, zl = 0, ok = 1, nk = 0;
    int *subj[MAXR], *prm[MAXR], nprm[MAXR], lk[MAXR], *kp[MAXR][MAXK], *pre[MAXK], npre[MAXK], nkeys = 0;
    float w[MAXK], *Z = NULL, *deltas = NULL, *buf = NULL, *lg = NULL;
    fe_rome_prompt keys[MAXR][MAXK];
    fe_memit_request req[MAXR];
    fe_cov *covs[8];
    fe_memit_hparams hp;
    double ridge = 0, lambda = 0, thr = 0, l2 = 0;
    uint64_t h0;
    memset(subj, 0, sizeof subj); memset(prm, 0, sizeof prm); memset(kp, 0, sizeof kp); memset(pre, 0, sizeof pre); memset(covs, 0, sizeof covs);
    path_join(path, sizeof path, c->dir, "cases_extra.json");
    if (!read_json(path, &xbytes, &extra, 0, c)) return;
    mm = fe_json_get(fe_json_root(extra), "memit");
    ae = fe_json_get(fe_json_root(extra), "alphaedit");
    if (!mm) goto done;
    if (!load_expected_extra(c, "memit", &ebytes, &ex) || !load_hf_model(c, cfgpath, refpath, "memit", &ck, &m)) goto done;
    C = m->config.channels; C4 = 4 * C; V = m->config.vocab_size;
    h0 = fe_model_checksum(m);
    rq = fe_json_get(mm, "requests"); ct = fe_json_get(mm, "context_types"); cs = fe_json_get(mm, "cov_seqs"); ly = fe_json_get(mm, "layers");
    ok = rq && rq->type == fe_json_array && rq->count >= 1 && rq->count <= MAXR && ct && ct->type == fe_json_array && ct->count >= 1 &&
         cs && cs->type == fe_json_array && cs->count >= 1 && ly && ly->type == fe_json_array && ly->count >= 1 && ly->count <= 8 &&
         rome_int(fe_json_get(mm, "z_layer"), 0, m->config.num_layers - 1, &zl) &&
         fe_json_get(mm, "cov_ridge") && (ridge = fe_json_get(mm, "cov_ridge")->number, 1) &&
         fe_json_get(mm, "mom2_update_weight") && (lambda = fe_json_get(mm, "mom2_update_weight")->number, 1);
    nl = ok ? (int)ly->count : 0;
    for (i = 0; ok && i < nl; i++) { int l; ok = rome_int(fe_json_at(ly, (size_t)i), 0, m->config.num_layers - 1, &l) && (i == 0 || l == l1 + 1); if (!i) l0 = l; l1 = l; }
    ok = ok && l1 == zl;
    /* context types: weight 1 / (types * prefixes of the type) each */
    for (t = 0; ok && t < (int)ct->count; t++) {
        const fe_json_value *ty = fe_json_at(ct, (size_t)t);
        ok = ty && ty->type == fe_json_array && ty->count >= 1;
        for (k = 0; ok && k < ty->count; k++) {
            ok = nkeys < MAXK && rome_ids(fe_json_at(ty, k), V, &pre[nkeys], &npre[nkeys]);
            if (ok) w[nkeys++] = (float)(1.0 / ((double)ct->count * ty->count));
        }
    }
    N = ok ? (int)rq->count : 0;
    for (i = 0; ok && i < N; i++) {
        const fe_json_value *r = fe_json_at(rq, (size_t)i);
        int ns;
        ok = rome_ids(fe_json_get(r, "subject"), V, &subj[i], &ns) && rome_ids(fe_json_get(r, "prompt"), V, &prm[i], &nprm[i]) &&
             rome_int(fe_json_get(r, "lookup"), 0, nprm[i] - 1, &lk[i]);
        for (j = 0; ok && j < nkeys; j++) {
            ok = (kp[i][j] = (int *)malloc(sizeof(int) * (size_t)(npre[j] + nprm[i] + 1))) != NULL;
            if (!ok) break;
            memcpy(kp[i][j], pre[j], sizeof(int) * (size_t)npre[j]);
            memcpy(kp[i][j] + npre[j], prm[i], sizeof(int) * (size_t)nprm[i]);
            keys[i][j].ids = kp[i][j]; keys[i][j].n = npre[j] + nprm[i]; keys[i][j].lookup = npre[j] + lk[i];
        }
        if (!ok) break;
        memset(&req[i], 0, sizeof req[i]);
        req[i].keys = keys[i]; req[i].n_keys = nkeys; req[i].key_weights = w;
        req[i].bare.ids = prm[i]; req[i].bare.n = nprm[i]; req[i].bare.lookup = lk[i];
        req[i].rows = &req[i].bare; req[i].n_rows = 1;   /* unused: Z is given */
        req[i].target = prm[i] + nprm[i] - 1; req[i].n_target = 1;
    }
    if (!ok) { c->failed++; printf("FAIL cases_extra.json memit section malformed\n"); goto done; }
    (void)nk;
    /* statistics per layer; cov.l = moment + ridge I */
    buf = (float *)malloc(sizeof(float) * (size_t)C4 * C4);
    Z = (float *)malloc(sizeof(float) * (size_t)N * C);
    lg = (float *)malloc(sizeof(float) * (size_t)N * V);
    if (!buf || !Z || !lg || !(deltas = mm_tensor(c, ex, "memit.deltas", (size_t)N * C))) goto done;
    for (i = 0; i < nl; i++) {
        if (fe_cov_new(&covs[i], C4, NULL, &e) != fe_ok) { c->failed++; printf("FAIL memit cov: %s\n", e.msg); goto done; }
        for (k = 0; k < cs->count; k++) {
            int *sq = NULL, n = 0;
            if (!rome_ids(fe_json_at(cs, k), V, &sq, &n) || n < 1 || n > m->config.max_seq_len || fe_cov_add_tokens(covs[i], m, l0 + i, sq, 1, n, &e) != fe_ok) {
                free(sq); c->failed++; printf("FAIL memit cov_seqs\n"); goto done;
            }
            free(sq);
        }
        fe_cov_moment(covs[i], buf);
        for (j = 0; j < C4; j++) buf[(size_t)j * C4 + j] += (float)ridge;
        snprintf(name, sizeof name, "memit.cov.l%d", l0 + i);
        mm_cmp(c, ex, name, buf, (size_t)C4 * C4, ORACLE_ROME_TOL);
    }
    for (pass = 0; pass < 2; pass++) {   /* 0 MEMIT, 1 AlphaEdit */
        const fe_json_value *bt = NULL;
        fe_many *s = NULL;
        int nb = 1, b;
        const char *pfx = pass ? "alphaedit" : "memit";
        if (pass) {
            if (!ae) break;
            bt = fe_json_get(ae, "batches");
            if (!bt || bt->type != fe_json_array || bt->count < 1 || !fe_json_get(ae, "threshold") || !fe_json_get(ae, "l2")) { c->failed++; printf("FAIL cases_extra.json alphaedit malformed\n"); break; }
            nb = (int)bt->count; thr = fe_json_get(ae, "threshold")->number; l2 = fe_json_get(ae, "l2")->number;
        }
        memset(&hp, 0, sizeof hp);
        hp.layer_first = l0; hp.layer_last = l1; hp.lambda = lambda; hp.cov_ridge = ridge;
        hp.alphaedit = pass; hp.null_threshold = thr; hp.l2 = l2;
        if (fe_many_new(&s, m, &hp, (const fe_cov *const *)covs, &e) != fe_ok) { c->failed++; printf("FAIL %s: %s\n", pfx, e.msg); continue; }
        for (i = 0; pass && i < nl; i++) {
            int rk;
            if (fe_many_projector(s, l0 + i, buf, &rk, &e) != fe_ok) { c->failed++; printf("FAIL alphaedit P: %s\n", e.msg); continue; }
            snprintf(name, sizeof name, "alphaedit.P.l%d", l0 + i);
            mm_cmp(c, ex, name, buf, (size_t)C4 * C4, 1e-3);
        }
        for (b = 0; b < nb; b++) {
            fe_memit_request br[MAXR];
            float bz[MAXR * 64 * 4];
            int bn = 0, idx[MAXR];
            if (pass) {
                const fe_json_value *bl = fe_json_at(bt, (size_t)b);
                for (k = 0; bl && bl->type == fe_json_array && k < bl->count; k++) if (rome_int(fe_json_at(bl, k), 0, N - 1, &idx[bn])) bn++;
            } else for (bn = 0; bn < N; bn++) idx[bn] = bn;
            if (bn < 1 || C > 64 * 4) { c->failed++; printf("FAIL %s batch %d malformed\n", pfx, b); break; }
            for (i = 0; i < bn; i++) br[i] = req[idx[i]];
            /* Z = the z-layer outputs at the bare lookups now + the deltas */
            if (fe_memit_zs(m, zl, br, bn, bz, &e) != fe_ok) { c->failed++; printf("FAIL %s zs: %s\n", pfx, e.msg); break; }
            for (i = 0; i < bn; i++) for (j = 0; j < C; j++) bz[(size_t)i * C + j] += deltas[(size_t)idx[i] * C + j];
            if (!pass) {   /* Z is C x N in the reference */
                for (i = 0; i < bn; i++) for (j = 0; j < C; j++) buf[(size_t)j * N + i] = bz[(size_t)i * C + j];
                mm_cmp(c, ex, "memit.Z", buf, (size_t)C * N, ORACLE_ROME_TOL);
            }
            if (fe_many_edit(s, m, br, bn, bz, NULL, &e) != fe_ok) { c->failed++; printf("FAIL %s edit: %s\n", pfx, e.msg); break; }
            for (i = 0; i < nl; i++) {
                int rn;
                const float *R, *X, *K = fe_many_record(s, b, l0 + i, &rn, &R, &X);
                (void)X;
                if (!pass && K) {
                    for (t = 0; t < rn; t++) for (j = 0; j < C4; j++) buf[(size_t)j * rn + t] = K[(size_t)t * C4 + j];
                    snprintf(name, sizeof name, "memit.K.l%d", l0 + i); mm_cmp(c, ex, name, buf, (size_t)C4 * rn, ORACLE_ROME_TOL);
                    for (t = 0; t < rn; t++) for (j = 0; j < C; j++) buf[(size_t)j * rn + t] = R[(size_t)t * C + j];
                    snprintf(name, sizeof name, "memit.R.l%d", l0 + i); mm_cmp(c, ex, name, buf, (size_t)C * rn, ORACLE_ROME_TOL);
                }
                if (fe_many_delta(s, b, l0 + i, buf, &e) != fe_ok) { c->failed++; printf("FAIL %s dW: %s\n", pfx, e.msg); continue; }
                if (pass) snprintf(name, sizeof name, "alphaedit.b%d.dW.l%d", b, l0 + i);
                else snprintf(name, sizeof name, "memit.dW.l%d", l0 + i);
                mm_cmp(c, ex, name, buf, (size_t)C * C4, ORACLE_ROME_TOL);
            }
        }
        /* last-position logits of every bare prompt */
        for (i = 0; i < N; i++) {
            fe_state *st = NULL;
            if (fe_state_new(&st, m, 1, nprm[i], 0, &e) != fe_ok || fe_forward(m, st, prm[i], nprm[i], NULL, &e) != fe_ok) { fe_state_free(st); c->failed++; printf("FAIL %s forward: %s\n", pfx, e.msg); break; }
            memcpy(lg + (size_t)i * V, fe_state_logits(st, 0, -1), sizeof(float) * (size_t)V);
            fe_state_free(st);
        }
        snprintf(name, sizeof name, "%s.logits_after", pfx);
        mm_cmp(c, ex, name, lg, (size_t)N * V, ORACLE_ROME_TOL);
        if (fe_many_undo(s, m, fe_many_count(s), &e) != fe_ok) { c->failed++; printf("FAIL %s undo: %s\n", pfx, e.msg); }
        else if (fe_model_checksum(m) == h0) c->passed++;
        else { c->failed++; printf("FAIL %s: undo did not restore the model bit for bit\n", pfx); }
        fe_many_free(s);
    }
done:
    for (i = 0; i < MAXR; i++) { free(subj[i]); free(prm[i]); for (j = 0; j < MAXK; j++) free(kp[i][j]); }
    for (j = 0; j < MAXK; j++) free(pre[j]);
    for (i = 0; i < 8; i++) fe_cov_free(covs[i]);
    free(Z); free(deltas); free(buf); free(lg);
    fe_model_free(m);
    free(ck);
    fe_safetensors_free(ex);
    free(ebytes);
    fe_json_free(extra);
    free(xbytes);
    (void)xlen;
}

int main(int argc, char **argv) {
    oc c;
    char path[4096], cfgpath[4096], refpath[4096];
    const char *vocab = NULL;
    unsigned char *cases_bytes;
    fe_json *cases;
    size_t len;
    fe_error e;
    int i, k, nvariants = 0;
    static const char *variants[] = {"hf/model.safetensors", "model_noprefix_f32.safetensors", "model_f16.safetensors", "model_bf16.safetensors"};
    memset(&c, 0, sizeof c);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { printf("usage: oracle_check DIR [--vocab VOCABDIR]\n"); return 0; }
        else if (!c.dir && argv[i][0] != '-') c.dir = argv[i];
        else { fprintf(stderr, "oracle_check: unknown argument '%s'\nusage: oracle_check DIR [--vocab VOCABDIR]\n", argv[i]); return 2; }
    }
    if (!c.dir) { fprintf(stderr, "usage: oracle_check DIR [--vocab VOCABDIR]\n"); return 2; }
    if (!read_json(path_join(path, sizeof path, c.dir, "cases.json"), &cases_bytes, &cases, 1, &c)) { printf("%d passed, %d failed\n", c.passed, c.failed); return 1; }
    if (fe_read_file(path_join(path, sizeof path, c.dir, "expected.safetensors"), &c.expected_bytes, &len, NULL, &e) != fe_ok ||
        fe_safetensors_parse(&c.expected, c.expected_bytes, len, NULL, &e) != fe_ok) {
        printf("FAIL %s\n%d passed, %d failed\n", e.msg, c.passed, c.failed + 1);
        return 1;
    }
    path_join(cfgpath, sizeof cfgpath, c.dir, "hf/config.json");
    path_join(refpath, sizeof refpath, c.dir, "hf/model.safetensors");
    for (k = 0; k < 4; k++) {
        /* every variant converts to fp32; the hf/ original also to bf16 */
        int out_version, pass, is_half = strstr(variants[k], "f16") != NULL;
        for (pass = 0; pass < (k == 0 ? 2 : 1); pass++) {
            unsigned char *ck = NULL;
            size_t cklen;
            fe_model *m;
            char vname[256];
            double tol;
            FILE *probe;
            out_version = pass ? 5 : 3;
            path_join(path, sizeof path, c.dir, variants[k]);
            if (!(probe = fopen(path, "rb"))) continue;   /* a directory may lack some variants */
            fclose(probe);
            nvariants++;
            snprintf(vname, sizeof vname, "[%s -> %s]", variants[k], pass ? "bf16" : "fp32");
            if (convert_file(path, cfgpath, refpath, out_version, &ck, &cklen, &e) != fe_ok) {
                c.failed++; printf("FAIL %s convert: %s\n", vname, e.msg); continue;
            }
            if (fe_model_load_mem(&m, ck, cklen, NULL, &e) != fe_ok) { c.failed++; printf("FAIL %s load: %s\n", vname, e.msg); free(ck); continue; }
            c.passed++; /* conversion + load */
            tol = pass ? 32.0 / 256.0 : strstr(variants[k], "bf16") ? 32.0 / 256.0 : is_half ? 32.0 / 2048.0 : 1e-4;
            check_forward(&c, vname, m, fe_json_get(fe_json_root(cases), "forward"), tol, tol == 1e-4);
            if (tol == 1e-4) check_generate(&c, vname, m, fe_json_get(fe_json_root(cases), "generate"));
            fe_model_free(m);
            free(ck);
        }
    }
    if (!nvariants) { c.failed++; printf("FAIL no checkpoint variant found in %s\n", c.dir); }
    check_trace_oracle(&c, cfgpath, refpath, fe_json_root(cases));
    check_rome_oracle(&c, cfgpath, refpath, fe_json_root(cases));
    check_train_oracle(&c, cfgpath, refpath);
    check_many_oracle(&c, cfgpath, refpath);
    if (vocab) check_tokenizer(&c, vocab);
    printf("worst scaled error per tensor kind (fp32 checkpoints):");
    for (k = 0; k < K_COUNT; k++) printf(" %s %.2g", kind_names[k], c.worst[k]);
    printf("\n%d passed, %d failed\n", c.passed, c.failed);
    fe_safetensors_free(c.expected);
    free(c.expected_bytes);
    fe_json_free(cases);
    free(cases_bytes);
    return c.failed ? 1 : 0;
}
