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

static int read_ids(const fe_json_value *arr, int **ids, int *n) {
    size_t i;
    if (!arr || arr->type != fe_json_array) return 0;
    *ids = (int *)malloc(sizeof(int) * (arr->count + 1));
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
