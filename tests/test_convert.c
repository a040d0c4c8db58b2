/* Tests for the HF -> llm.c converter (tools/fe_convert.c) on the oracle's tiny_a model (4 layers,
   3 heads, C 36, V 101, maxT 40), from tests/data/tiny_a (run from the repository root).
   Note: the oracle's model_noprefix_f32 / model_f16 / model_bf16 files lack every h.N.attn.c_attn.bias,
   so the test checks that they are rejected, converts "repaired" copies (the c_attn biases added
   from hf/model.safetensors as F32) for the cross-format comparisons, and converts them as they are
   with missing_from = hf/model.safetensors. */
#define _POSIX_C_SOURCE 200809L   /* getpid */
#include "t_alloc.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "fe_convert.h"
#include "test.h"
#include <unistd.h>

#define ORACLE "tests/data/tiny_a/"
enum { V = 101, VP = 128, C = 36, L = 4, NH = 3, T = 40 };

static unsigned char *read_all(const char *path, size_t *len) {
    unsigned char *b = NULL;
    fe_error e;
    if (fe_read_file(path, &b, len, NULL, &e) != fe_ok) printf("cannot read %s: %s\n", path, e.msg);
    return b;
}

/* ---- a small safetensors writer for building variants ---- */
typedef struct ent { char name[128]; char dtype[8]; int ndim; size_t shape[8]; const unsigned char *data; size_t nbytes; } ent;
typedef struct ents { ent e[128]; int n; } ents;

static void ents_add_st(ents *s, const fe_safetensors *st, const char *strip) {
    size_t i, k = strlen(strip);
    for (i = 0; i < fe_safetensors_count(st); i++) {
        const fe_st_tensor *t = fe_safetensors_at(st, i);
        ent *e = &s->e[s->n++];
        snprintf(e->name, sizeof e->name, "%s", strncmp(t->name, strip, k) ? t->name : t->name + k);
        snprintf(e->dtype, sizeof e->dtype, "%s", t->dtype_name);
        e->ndim = t->ndim; memcpy(e->shape, t->shape, sizeof e->shape); e->data = t->data; e->nbytes = t->nbytes;
    }
}
static ent *ents_find(ents *s, const char *name) {
    int i;
    for (i = 0; i < s->n; i++) if (!strcmp(s->e[i].name, name)) return &s->e[i];
    return NULL;
}
static void ents_drop(ents *s, const char *name) {
    ent *e = ents_find(s, name);
    if (e) { *e = s->e[s->n - 1]; s->n--; }
}
static unsigned char *ents_build(const ents *s, size_t *len) {
    size_t hcap = 64 + 256 * (size_t)s->n, hl = 0, dl = 0, i;
    char *h = (char *)malloc(hcap);
    unsigned char *b;
    int k, d;
    hl += (size_t)sprintf(h + hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (k = 0; k < s->n; k++) {
        hl += (size_t)sprintf(h + hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", s->e[k].name, s->e[k].dtype);
        for (d = 0; d < s->e[k].ndim; d++) hl += (size_t)sprintf(h + hl, d ? ",%lu" : "%lu", (unsigned long)s->e[k].shape[d]);
        hl += (size_t)sprintf(h + hl, "],\"data_offsets\":[%lu,%lu]}", (unsigned long)dl, (unsigned long)(dl + s->e[k].nbytes));
        dl += s->e[k].nbytes;
    }
    h[hl++] = '}';
    *len = 8 + hl + dl;
    b = (unsigned char *)malloc(*len);
    for (i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, h, hl);
    for (k = 0, dl = 8 + hl; k < s->n; k++) { memcpy(b + dl, s->e[k].data, s->e[k].nbytes); dl += s->e[k].nbytes; }
    free(h);
    return b;
}

/* ---- checkpoint accessors (the lead's reader will replace these) ---- */
static int32_t hdr_int(const unsigned char *ck, int i) {
    return (int32_t)((uint32_t)ck[4 * i] | (uint32_t)ck[4 * i + 1] << 8 | (uint32_t)ck[4 * i + 2] << 16 | (uint32_t)ck[4 * i + 3] << 24);
}
static float ck_f32(const unsigned char *ck, size_t idx) {
    const unsigned char *p = ck + 1024 + 4 * idx;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static float ck_bf16(const unsigned char *ck, size_t idx) { return fe_bf16_to_f32((uint16_t)(ck[1024 + 2 * idx] | ck[1024 + 2 * idx + 1] << 8)); }

/* Offsets (in parameters) of llm.c's tensors, computed independently of the converter. */
enum { P_WTE, P_WPE, P_LN1W, P_LN1B, P_QKVW, P_QKVB, P_ATTPROJW, P_ATTPROJB, P_LN2W, P_LN2B, P_FCW, P_FCB, P_FCPROJW, P_FCPROJB, P_LNFW, P_LNFB, P_END };
static size_t off_of(int which) {
    const size_t sizes[P_END] = {(size_t)VP * C, (size_t)T * C, (size_t)L * C, (size_t)L * C, (size_t)L * 3 * C * C, (size_t)L * 3 * C,
        (size_t)L * C * C, (size_t)L * C, (size_t)L * C, (size_t)L * C, (size_t)L * 4 * C * C, (size_t)L * 4 * C,
        (size_t)L * 4 * C * C, (size_t)L * C, C, C};
    size_t o = 0;
    int i;
    for (i = 0; i < which; i++) o += sizes[i];
    return o;
}

static float *hf_f32(const fe_safetensors *st, const char *name) {
    const fe_st_tensor *t = fe_safetensors_find(st, name);
    float *f;
    if (!t) { printf("missing %s\n", name); return NULL; }
    f = (float *)malloc(t->numel * 4);
    fe_st_tensor_to_f32(t, f, NULL);
    return f;
}

static char *replace(const char *s, const char *from, const char *to) {
    const char *p = strstr(s, from);
    char *r = (char *)malloc(strlen(s) + strlen(to) + 1);
    if (!p) { printf("replace: '%s' not found\n", from); strcpy(r, s); return r; }
    memcpy(r, s, (size_t)(p - s));
    strcpy(r + (p - s), to);
    strcat(r, p + strlen(from));
    return r;
}

/* conversion that must fail with `code` and a message containing `part` */
static void conv_bad(const unsigned char *st, size_t len, const char *cfg, int nh, int ver, fe_result code, const char *part) {
    unsigned char *out = (unsigned char *)&out;
    size_t out_len = 1;
    fe_error e;
    fe_result r;
    memset(&e, 0, sizeof e);
    r = fe_convert_hf(st, len, cfg, cfg ? strlen(cfg) : 0, nh, ver, &out, &out_len, NULL, &e);
    CHECKF(r == code && out == NULL && out_len == 0, "got %d (%s), want %d [%s]", (int)r, e.msg, (int)code, part);
    CHECKF(strstr(e.msg, part) != NULL, "message '%s' lacks '%s'", e.msg, part);
}

static int same_file(const char *path, const unsigned char *b, size_t n) {
    size_t len = 0;
    unsigned char *f = read_all(path, &len);
    int ok = f && len == n && !memcmp(f, b, n);
    free(f);
    return ok;
}

static size_t max_rel(const unsigned char *a, const unsigned char *b, int b_bf16, size_t n, double *worst) {
    size_t i, bad = 0;
    *worst = 0;
    for (i = 0; i < n; i++) {
        double x = ck_f32(a, i), y = b_bf16 ? ck_bf16(b, i) : ck_f32(b, i), d = fabs(x - y);
        if (x != 0 && d / fabs(x) > *worst) *worst = d / fabs(x);
        if (d > 1e-2 * fabs(x) + 1e-7) bad++;
    }
    return bad;
}

/* on_fill callback: collects the names of the tensors taken from missing_from */
typedef struct fills { int n; char names[16][64]; } fills;
static void on_fill(void *user, const char *name) {
    fills *f = (fills *)user;
    if (f->n < 16) snprintf(f->names[f->n], sizeof f->names[0], "%s", name);
    f->n++;
}

/* fe_convert_hf_model with missing_from; on success the checkpoint bytes (fp32) in *ck */
static fe_result conv_ref(const unsigned char *st, size_t len, const unsigned char *ref, size_t ref_len, fills *f,
                          unsigned char **ck, size_t *ck_len, fe_error *e) {
    fe_convert_opts o;
    fe_model *m = NULL;
    fe_result r;
    memset(&o, 0, sizeof o);
    o.n_head = 3; o.on_fill = on_fill; o.on_fill_user = f;
    f->n = 0;
    *ck = NULL; *ck_len = 0;
    r = fe_convert_hf_model(&m, st, len, NULL, 0, ref, ref_len, &o, e);
    if (r == fe_ok) {
        CHECK(m != NULL && m->load_checksum == fe_model_checksum(m));
        CHECK_CODE(fe_model_save_mem(m, 3, ck, ck_len, e), fe_ok);
    } else CHECK(m == NULL);
    fe_model_free(m);
    return r;
}

int main(void) {
    size_t hf_len, cfg_len, np_len, f16_len, bf16_len, ref_len = 0, len, nparams, i;
    unsigned char *hf = read_all(ORACLE "hf/model.safetensors", &hf_len);
    unsigned char *np = read_all(ORACLE "model_noprefix_f32.safetensors", &np_len);
    unsigned char *f16 = read_all(ORACLE "model_f16.safetensors", &f16_len);
    unsigned char *bf16 = read_all(ORACLE "model_bf16.safetensors", &bf16_len);
    char *cfg = (char *)read_all(ORACLE "hf/config.json", &cfg_len);
    unsigned char *ref = NULL, *out = NULL, *b;
    fe_safetensors *st_hf = NULL, *st_np = NULL, *st_f16 = NULL, *st_bf16 = NULL;
    fe_error e;
    static ents s;
    char tmpdir[64], path[128], path2[128];
    if (!hf || !np || !f16 || !bf16 || !cfg) { printf("oracle files missing\n"); return 1; }
    CHECK_CODE(fe_safetensors_parse(&st_hf, hf, hf_len, NULL, &e), fe_ok);
    CHECK_CODE(fe_safetensors_parse(&st_np, np, np_len, NULL, &e), fe_ok);
    CHECK_CODE(fe_safetensors_parse(&st_f16, f16, f16_len, NULL, &e), fe_ok);
    CHECK_CODE(fe_safetensors_parse(&st_bf16, bf16, bf16_len, NULL, &e), fe_ok);
    nparams = off_of(P_END);

    TEST("hf + config.json -> fp32 header and size") {
        CHECK_CODE(fe_convert_hf(hf, hf_len, cfg, cfg_len, 0, 3, &ref, &ref_len, NULL, &e), fe_ok);
        CHECK(ref_len == 1024 + 4 * nparams);
        CHECK(hdr_int(ref, 0) == 20240326 && hdr_int(ref, 1) == 3 && hdr_int(ref, 2) == T && hdr_int(ref, 3) == V);
        CHECK(hdr_int(ref, 4) == L && hdr_int(ref, 5) == NH && hdr_int(ref, 6) == C && hdr_int(ref, 7) == VP);
        for (i = 8; i < 256; i++) CHECKF(hdr_int(ref, (int)i) == 0, "header[%lu] = %d", (unsigned long)i, hdr_int(ref, (int)i));
    }
    if (!ref) return t_summary();
    TEST("element placement") {
        float *wte = hf_f32(st_hf, "transformer.wte.weight"), *wpe = hf_f32(st_hf, "transformer.wpe.weight");
        float *qkv1 = hf_f32(st_hf, "transformer.h.1.attn.c_attn.weight"), *qkvb3 = hf_f32(st_hf, "transformer.h.3.attn.c_attn.bias");
        float *proj2 = hf_f32(st_hf, "transformer.h.2.attn.c_proj.weight"), *fc0 = hf_f32(st_hf, "transformer.h.0.mlp.c_fc.weight");
        float *fcp3 = hf_f32(st_hf, "transformer.h.3.mlp.c_proj.weight"), *ln2b1 = hf_f32(st_hf, "transformer.h.1.ln_2.bias");
        float *lnfb = hf_f32(st_hf, "transformer.ln_f.bias"), *fcb2 = hf_f32(st_hf, "transformer.h.2.mlp.c_fc.bias");
        size_t r, c;
        int ok = 1;
        for (r = 0; r < V; r++) for (c = 0; c < C; c++) ok &= ck_f32(ref, off_of(P_WTE) + r * C + c) == wte[r * C + c];
        for (r = V; r < VP; r++) for (c = 0; c < C; c++) ok &= ck_f32(ref, off_of(P_WTE) + r * C + c) == 0.0f;
        CHECKF(ok, "wte rows / zero padding");
        ok = 1;
        for (r = 0; r < T; r++) for (c = 0; c < C; c++) ok &= ck_f32(ref, off_of(P_WPE) + r * C + c) == wpe[r * C + c];
        CHECKF(ok, "wpe");
        ok = 1;  /* qkvw[1][r][c] == c_attn.weight[c][r]: Conv1D [in=C, out=3C] -> [3C, C] */
        for (r = 0; r < 3 * C; r++) for (c = 0; c < C; c++) ok &= ck_f32(ref, off_of(P_QKVW) + 1 * 3 * C * C + r * C + c) == qkv1[c * 3 * C + r];
        CHECKF(ok, "qkvw layer 1 transposed");
        CHECK(ck_f32(ref, off_of(P_QKVW) + 3 * C * C + 77 * C + 5) == qkv1[5 * 3 * C + 77]);
        ok = 1;
        for (r = 0; r < 3 * C; r++) ok &= ck_f32(ref, off_of(P_QKVB) + 3 * 3 * C + r) == qkvb3[r];
        for (r = 0; r < C; r++) for (c = 0; c < C; c++) ok &= ck_f32(ref, off_of(P_ATTPROJW) + 2 * C * C + r * C + c) == proj2[c * C + r];
        for (r = 0; r < 4 * C; r++) for (c = 0; c < C; c++) ok &= ck_f32(ref, off_of(P_FCW) + r * C + c) == fc0[c * 4 * C + r];
        for (r = 0; r < C; r++) for (c = 0; c < 4 * C; c++) ok &= ck_f32(ref, off_of(P_FCPROJW) + 3 * 4 * C * C + r * 4 * C + c) == fcp3[c * C + r];
        for (r = 0; r < C; r++) ok &= ck_f32(ref, off_of(P_LN2B) + 1 * C + r) == ln2b1[r];
        for (r = 0; r < 4 * C; r++) ok &= ck_f32(ref, off_of(P_FCB) + 2 * 4 * C + r) == fcb2[r];
        for (r = 0; r < C; r++) ok &= ck_f32(ref, off_of(P_LNFB) + r) == lnfb[r];
        CHECKF(ok, "qkvb, attprojw, fcw, fcprojw, ln2b, fcb, lnfb");
        CHECK(ck_f32(ref, nparams - 1) == lnfb[C - 1]);
        free(wte); free(wpe); free(qkv1); free(qkvb3); free(proj2); free(fc0); free(fcp3); free(ln2b1); free(lnfb); free(fcb2);
    }
    TEST("n_head argument instead of config; same result") {
        CHECK_CODE(fe_convert_hf(hf, hf_len, NULL, 0, 3, 3, &out, &len, NULL, &e), fe_ok);
        CHECK(out && len == ref_len && !memcmp(out, ref, len));
        fe_convert_free(out, NULL); out = NULL;
        CHECK_CODE(fe_convert_hf(hf, hf_len, cfg, cfg_len, 3, 3, &out, &len, NULL, &e), fe_ok);  /* agreeing */
        fe_convert_free(out, NULL); out = NULL;
    }
    TEST("oracle files without c_attn.bias are rejected") {
        conv_bad(np, np_len, NULL, 3, 3, fe_err_format, "convert: missing tensor 'h.0.attn.c_attn.bias'");
        conv_bad(f16, f16_len, NULL, 3, 3, fe_err_format, "missing tensor 'h.0.attn.c_attn.bias'");
        conv_bad(bf16, bf16_len, NULL, 3, 3, fe_err_format, "missing tensor 'h.0.attn.c_attn.bias'");
    }
    {
        /* repaired variants: add the c_attn biases from hf (as F32, so files are mixed-dtype) */
        const fe_safetensors *srcs[3];
        const char *names[3] = {"noprefix_f32", "f16", "bf16"};
        int k, l;
        srcs[0] = st_np; srcs[1] = st_f16; srcs[2] = st_bf16;
        for (k = 0; k < 3; k++) {
            TEST(names[k]) {
                s.n = 0;
                ents_add_st(&s, srcs[k], "");
                for (l = 0; l < L; l++) {
                    char nm[64];
                    const fe_st_tensor *t;
                    snprintf(nm, sizeof nm, "transformer.h.%d.attn.c_attn.bias", l);
                    t = fe_safetensors_find(st_hf, nm);
                    s.e[s.n].ndim = 1; s.e[s.n].shape[0] = 3 * C; s.e[s.n].data = t->data; s.e[s.n].nbytes = t->nbytes;
                    strcpy(s.e[s.n].dtype, "F32");
                    snprintf(s.e[s.n].name, sizeof s.e[s.n].name, "h.%d.attn.c_attn.bias", l);
                    s.n++;
                }
                b = ents_build(&s, &len);
                CHECK_CODE(fe_convert_hf(b, len, NULL, 0, 3, 3, &out, &len, NULL, &e), fe_ok);
                if (out) {
                    double worst;
                    CHECK(len == ref_len && !memcmp(out, ref, 1024));
                    if (k == 0) CHECKF(!memcmp(out, ref, len), "noprefix f32 conversion is not byte-identical to hf/");
                    else {
                        CHECK(max_rel(ref, out, 0, nparams, &worst) == 0);
                        printf("%s: worst relative difference to f32 %.2e\n", names[k], worst);
                    }
                }
                fe_convert_free(out, NULL); out = NULL;
                free(b);
            }
        }
    }
    TEST("bf16 output (version 5)") {
        double worst;
        int exact = 1;
        CHECK_CODE(fe_convert_hf(hf, hf_len, cfg, cfg_len, 0, 5, &out, &len, NULL, &e), fe_ok);
        if (out) {
            CHECK(len == 1024 + 2 * nparams && hdr_int(out, 1) == 5 && !memcmp(out + 8, ref + 8, 1024 - 8));
            CHECK(max_rel(ref, out, 1, nparams, &worst) == 0 && worst <= 1.0 / 256);
            for (i = 0; i < nparams; i++) exact &= fe_f32_to_bf16(ck_f32(ref, i)) == (uint16_t)(out[1024 + 2 * i] | out[1025 + 2 * i] << 8);
            CHECK(exact);
        }
        fe_convert_free(out, NULL); out = NULL;
    }
    TEST("missing tensor, shapes, dtypes, values") {
        s.n = 0; ents_add_st(&s, st_hf, ""); ents_drop(&s, "transformer.h.2.mlp.c_fc.bias");
        b = ents_build(&s, &len);
        conv_bad(b, len, cfg, 0, 3, fe_err_format, "convert: missing tensor 'transformer.h.2.mlp.c_fc.bias'");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, ""); ents_drop(&s, "transformer.wpe.weight");
        b = ents_build(&s, &len);
        conv_bad(b, len, cfg, 0, 3, fe_err_format, "missing tensor 'transformer.wpe.weight'");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer."); ents_drop(&s, "wte.weight");
        b = ents_build(&s, &len);
        conv_bad(b, len, cfg, 0, 3, fe_err_format, "missing tensor 'wte.weight'");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer."); ents_drop(&s, "h.3.ln_1.weight");  /* highest layer partly missing */
        b = ents_build(&s, &len);
        conv_bad(b, len, cfg, 0, 3, fe_err_format, "missing tensor 'h.3.ln_1.weight'");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");
        ents_find(&s, "h.1.ln_2.weight")->ndim = 2; ents_find(&s, "h.1.ln_2.weight")->shape[0] = 6; ents_find(&s, "h.1.ln_2.weight")->shape[1] = 6;
        b = ents_build(&s, &len);
        conv_bad(b, len, NULL, 3, 3, fe_err_mismatch, "tensor 'h.1.ln_2.weight' has shape [6, 6], expected [36] (C=36 from wte)");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");   /* c_attn weight stored [3C, C] (already transposed) */
        ents_find(&s, "h.0.attn.c_attn.weight")->shape[0] = 3 * C; ents_find(&s, "h.0.attn.c_attn.weight")->shape[1] = C;
        b = ents_build(&s, &len);
        conv_bad(b, len, NULL, 3, 3, fe_err_mismatch, "'h.0.attn.c_attn.weight' has shape [108, 36], expected [36, 108]");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");   /* wpe with a different C */
        ents_find(&s, "wpe.weight")->shape[0] = 30; ents_find(&s, "wpe.weight")->shape[1] = 48;
        b = ents_build(&s, &len);
        conv_bad(b, len, NULL, 3, 3, fe_err_mismatch, "'wpe.weight' has shape [30, 48], expected [30, 36] (C=36 from wte)");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");
        strcpy(ents_find(&s, "ln_f.bias")->dtype, "I32");
        b = ents_build(&s, &len);
        conv_bad(b, len, NULL, 3, 3, fe_err_unsupported, "tensor 'ln_f.bias' has dtype I32");
        free(b);
        {
            static unsigned char nanbuf[C * 4];
            float nanv = (float)NAN;
            s.n = 0; ents_add_st(&s, st_hf, "transformer.");
            memcpy(nanbuf, ents_find(&s, "h.2.ln_1.bias")->data, sizeof nanbuf);
            memcpy(nanbuf + 4 * 7, &nanv, 4);
            ents_find(&s, "h.2.ln_1.bias")->data = nanbuf;
            b = ents_build(&s, &len);
            conv_bad(b, len, NULL, 3, 3, fe_err_numeric, "tensor 'h.2.ln_1.bias' element 7 is NaN");
            free(b);
        }
        s.n = 0; ents_add_st(&s, st_hf, "");
        s.e[s.n] = *ents_find(&s, "transformer.ln_f.bias"); strcpy(s.e[s.n].name, "transformer.score.weight"); s.n++;
        b = ents_build(&s, &len);
        conv_bad(b, len, cfg, 0, 3, fe_err_unsupported, "unexpected tensor 'transformer.score.weight'");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");   /* "h.01" is not layer 1 */
        s.e[s.n] = *ents_find(&s, "h.1.ln_1.weight"); strcpy(s.e[s.n].name, "h.01.ln_1.weight"); s.n++;
        b = ents_build(&s, &len);
        conv_bad(b, len, NULL, 3, 3, fe_err_unsupported, "unexpected tensor 'h.01.ln_1.weight'");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");   /* junk in a layer beyond the last does not add a layer */
        s.e[s.n] = *ents_find(&s, "h.1.ln_1.weight"); strcpy(s.e[s.n].name, "h.9.foo"); s.n++;
        b = ents_build(&s, &len);
        conv_bad(b, len, NULL, 3, 3, fe_err_unsupported, "unexpected tensor 'h.9.foo'");
        free(b);
        s.n = 0; ents_add_st(&s, st_hf, "");   /* a key outside the prefix */
        s.e[s.n] = *ents_find(&s, "transformer.ln_f.bias"); strcpy(s.e[s.n].name, "ln_f.bias"); s.n++;
        b = ents_build(&s, &len);
        conv_bad(b, len, NULL, 3, 3, fe_err_unsupported, "unexpected tensor 'ln_f.bias'");
        free(b);
        conv_bad(hf, 100, cfg, 0, 3, fe_err_range, "safetensors: header length");
        conv_bad(hf, 4, cfg, 0, 3, fe_err_format, "too short");
    }
    TEST("mask buffers and tied lm_head") {
        static unsigned char other[V * C * 4];
        s.n = 0; ents_add_st(&s, st_hf, "");
        s.e[s.n] = *ents_find(&s, "transformer.wte.weight"); strcpy(s.e[s.n].name, "lm_head.weight"); s.n++;
        s.e[s.n] = *ents_find(&s, "transformer.wte.weight"); strcpy(s.e[s.n].name, "transformer.h.0.attn.masked_bias"); s.n++;
        s.e[s.n] = *ents_find(&s, "transformer.wte.weight"); strcpy(s.e[s.n].name, "transformer.h.3.attn.bias"); s.n++;
        b = ents_build(&s, &len);
        CHECK_CODE(fe_convert_hf(b, len, cfg, cfg_len, 0, 3, &out, &len, NULL, &e), fe_ok);
        CHECK(out && len == ref_len && !memcmp(out, ref, len));
        fe_convert_free(out, NULL); out = NULL;
        free(b);
        memcpy(other, ents_find(&s, "lm_head.weight")->data, sizeof other);
        other[4 * 50 * C + 2] ^= 1;
        ents_find(&s, "lm_head.weight")->data = other;
        b = ents_build(&s, &len);
        conv_bad(b, len, cfg, 0, 3, fe_err_unsupported, "lm_head.weight differs from wte.weight: untied output heads are not supported");
        free(b);
    }
    TEST("lm_head tied across dtypes") {
        static unsigned char h16[V * C * 2];
        const fe_st_tensor *w = fe_safetensors_find(st_bf16, "wte.weight");
        float *wf = hf_f32(st_bf16, "wte.weight");
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");
        memcpy(h16, w->data, sizeof h16);
        ents_find(&s, "wte.weight")->data = (const unsigned char *)wf;  /* wte = bf16 values as F32, lm_head = BF16 */
        s.e[s.n] = *ents_find(&s, "wte.weight"); strcpy(s.e[s.n].name, "lm_head.weight"); strcpy(s.e[s.n].dtype, "BF16");
        s.e[s.n].data = h16; s.e[s.n].nbytes = sizeof h16; s.n++;
        b = ents_build(&s, &len);
        CHECK_CODE(fe_convert_hf(b, len, NULL, 0, 3, 3, &out, &len, NULL, &e), fe_ok);
        fe_convert_free(out, NULL); out = NULL;
        free(b); free(wf);
    }
    TEST("n_head and config.json") {
        char *c2;
        conv_bad(hf, hf_len, NULL, 0, 3, fe_err_arg, "n_head unknown");
        c2 = replace(cfg, "\"n_head\": 3,", "");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_arg, "n_head unknown");
        free(c2);
        conv_bad(hf, hf_len, cfg, 4, 3, fe_err_mismatch, "n_head argument 4 disagrees with config.json n_head 3");
        conv_bad(hf, hf_len, NULL, 5, 3, fe_err_mismatch, "n_embd 36 is not divisible by n_head 5");
        conv_bad(hf, hf_len, NULL, -1, 3, fe_err_arg, "negative");
        conv_bad(hf, hf_len, NULL, 3, 4, fe_err_arg, "version 4");
        c2 = replace(cfg, "\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": 1e-06");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_unsupported, "layer_norm_epsilon = 1e-06, but llm.c checkpoints have no eps field");
        free(c2);
        c2 = replace(cfg, "\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": \"small\"");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_format, "layer_norm_epsilon is not a number");
        free(c2);
        c2 = replace(cfg, "\"n_layer\": 4", "\"n_layer\": 12");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_mismatch, "config.json n_layer = 12 but the weights give 4");
        free(c2);
        c2 = replace(cfg, "\"n_positions\": 40", "\"n_positions\": 1024");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_mismatch, "n_positions = 1024 but the weights give 40");
        free(c2);
        c2 = replace(cfg, "\"n_head\": 3", "\"n_head\": 2.5");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_format, "\"n_head\" is not a non-negative integer");
        free(c2);
        c2 = replace(cfg, "\"gelu_new\"", "\"relu\"");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_unsupported, "activation_function 'relu'");
        free(c2);
        c2 = replace(cfg, "\"scale_attn_by_inverse_layer_idx\": false", "\"scale_attn_by_inverse_layer_idx\": true");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_unsupported, "scale_attn_by_inverse_layer_idx = true");
        free(c2);
        c2 = replace(cfg, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_unsupported, "tie_word_embeddings = false");
        free(c2);
        c2 = replace(cfg, "\"n_inner\": null", "\"n_inner\": 100");
        conv_bad(hf, hf_len, c2, 0, 3, fe_err_mismatch, "config.json n_inner = 100 but the weights give 144");
        free(c2);
        conv_bad(hf, hf_len, "{\"n_head\": 3,}", 0, 3, fe_err_format, "convert: config.json: json: expected a string key at byte offset 13");
        conv_bad(hf, hf_len, "[3]", 0, 3, fe_err_format, "config.json is not a JSON object");
        CHECK_CODE(fe_convert_hf(hf, hf_len, "{\"n_head\": 3}", 13, 0, 3, &out, &len, NULL, &e), fe_ok);  /* minimal config */
        CHECK(out && len == ref_len && !memcmp(out, ref, len));
        fe_convert_free(out, NULL); out = NULL;
    }
    TEST("missing_from: the oracle files as they are") {
        const unsigned char *srcs[3];
        size_t lens[3];
        const char *names[3] = {"noprefix_f32", "f16", "bf16"};
        int k;
        fills f;
        srcs[0] = np; srcs[1] = f16; srcs[2] = bf16;
        lens[0] = np_len; lens[1] = f16_len; lens[2] = bf16_len;
        for (k = 0; k < 3; k++) {
            double worst;
            CHECKF(conv_ref(srcs[k], lens[k], hf, hf_len, &f, &out, &len, &e) == fe_ok, "%s: %s", names[k], e.msg);
            CHECKF(f.n == 4 && !strcmp(f.names[0], "h.0.attn.c_attn.bias") && !strcmp(f.names[3], "h.3.attn.c_attn.bias"),
                   "%s: %d tensors filled, first '%s'", names[k], f.n, f.n ? f.names[0] : "");
            if (out) {
                CHECK(len == ref_len && !memcmp(out, ref, 1024));
                if (k == 0) CHECKF(!memcmp(out, ref, len), "noprefix f32 + missing_from is not byte-identical to hf/");
                else CHECK(max_rel(ref, out, 0, nparams, &worst) == 0);
                /* the filled c_attn biases are exactly the F32 values */
                CHECK(!memcmp(out + 1024 + 4 * off_of(P_QKVB), ref + 1024 + 4 * off_of(P_QKVB), 4 * (size_t)L * 3 * C));
            }
            fe_free(out, NULL); out = NULL;
        }
        /* the other way round: a complete file never takes anything from missing_from */
        CHECK(conv_ref(hf, hf_len, np, np_len, &f, &out, &len, &e) == fe_ok && f.n == 0 && out && !memcmp(out, ref, len));
        fe_free(out, NULL); out = NULL;
        /* the f16 file filled from the bf16 one: still missing */
        CHECK_CODE(conv_ref(f16, f16_len, bf16, bf16_len, &f, &out, &len, &e), fe_err_format);
        CHECKF(strstr(e.msg, "missing tensor 'h.0.attn.c_attn.bias' (not in the missing-from file either)") != NULL, "%s", e.msg);
        CHECK(f.n == 0);
    }
    TEST("missing_from: not the same model") {
        static unsigned char other[C * 4];
        unsigned char *rb;
        size_t rl;
        fills f;
        float x;
        /* one value changed well beyond half-precision rounding */
        s.n = 0; ents_add_st(&s, st_hf, "");
        memcpy(other, ents_find(&s, "transformer.ln_f.bias")->data, sizeof other);
        memcpy(&x, other + 4 * 5, 4); x += 0.05f; memcpy(other + 4 * 5, &x, 4);
        ents_find(&s, "transformer.ln_f.bias")->data = other;
        rb = ents_build(&s, &rl);
        CHECK_CODE(conv_ref(f16, f16_len, rb, rl, &f, &out, &len, &e), fe_err_mismatch);
        CHECKF(strstr(e.msg, "tensor 'ln_f.bias' differs between the input and the missing-from file (element 5): not the same model") != NULL, "%s", e.msg);
        free(rb);
        /* fewer layers */
        s.n = 0; ents_add_st(&s, st_hf, "transformer.");
        {
            static const char *const drop[] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"};
            size_t d;
            char nm[64];
            for (d = 0; d < sizeof drop / sizeof drop[0]; d++) { snprintf(nm, sizeof nm, "h.3.%s", drop[d]); ents_drop(&s, nm); }
        }
        rb = ents_build(&s, &rl);
        CHECK_CODE(conv_ref(np, np_len, rb, rl, &f, &out, &len, &e), fe_err_mismatch);
        CHECKF(strstr(e.msg, "the input has 4 layers, the missing-from file 3") != NULL, "%s", e.msg);
        free(rb);
        /* the reference's copy of a missing tensor has the wrong shape */
        s.n = 0; ents_add_st(&s, st_hf, "");
        ents_find(&s, "transformer.h.2.attn.c_attn.bias")->shape[0] = 3 * C - 1;
        ents_find(&s, "transformer.h.2.attn.c_attn.bias")->nbytes -= 4;
        rb = ents_build(&s, &rl);
        CHECK_CODE(conv_ref(np, np_len, rb, rl, &f, &out, &len, &e), fe_err_mismatch);
        CHECKF(strstr(e.msg, "tensor 'transformer.h.2.attn.c_attn.bias' of the missing-from file has shape [107], expected [108]") != NULL, "%s", e.msg);
        free(rb);
        /* a present tensor with another shape in the reference */
        s.n = 0; ents_add_st(&s, st_hf, "");
        ents_find(&s, "transformer.ln_f.bias")->shape[0] = C - 1;
        ents_find(&s, "transformer.ln_f.bias")->nbytes -= 4;
        rb = ents_build(&s, &rl);
        CHECK_CODE(conv_ref(np, np_len, rb, rl, &f, &out, &len, &e), fe_err_mismatch);
        CHECKF(strstr(e.msg, "'transformer.ln_f.bias' of the missing-from file has another dtype or shape") != NULL, "%s", e.msg);
        free(rb);
        /* a broken reference file */
        CHECK_CODE(conv_ref(np, np_len, hf, 100, &f, &out, &len, &e), fe_err_range);
        CHECKF(strstr(e.msg, "convert: missing-from file: safetensors: header length") != NULL, "%s", e.msg);
        /* NaN in a filled tensor is reported under the reference's name */
        {
            static unsigned char nanbuf[3 * C * 4];
            float nanv = (float)NAN;
            s.n = 0; ents_add_st(&s, st_hf, "");
            memcpy(nanbuf, ents_find(&s, "transformer.h.1.attn.c_attn.bias")->data, sizeof nanbuf);
            memcpy(nanbuf + 4 * 9, &nanv, 4);
            ents_find(&s, "transformer.h.1.attn.c_attn.bias")->data = nanbuf;
            rb = ents_build(&s, &rl);
            CHECK_CODE(conv_ref(np, np_len, rb, rl, &f, &out, &len, &e), fe_err_numeric);
            CHECKF(strstr(e.msg, "tensor 'transformer.h.1.attn.c_attn.bias' element 9 is NaN") != NULL, "%s", e.msg);
            CHECK(f.n == 0);
            free(rb);
        }
    }
    TEST("fe_convert_hf_model_files") {
        fe_convert_opts o;
        fe_model *m = NULL;
        fills f;
        unsigned char *ck = NULL;
        size_t ck_len = 0;
        memset(&o, 0, sizeof o);
        o.on_fill = on_fill; o.on_fill_user = &f; f.n = 0;
        o.n_head = 3;
        CHECK_CODE(fe_convert_hf_model_files(&m, ORACLE "model_bf16.safetensors", NULL, ORACLE "hf/model.safetensors", &o, &e), fe_ok);
        CHECK(m && f.n == 4 && m->config.num_layers == L && m->config.num_heads == NH && m->config.padded_vocab_size == VP);
        if (m) {
            CHECK_CODE(fe_model_save_mem(m, 3, &ck, &ck_len, &e), fe_ok);
            CHECK(ck && ck_len == ref_len);
            fe_free(ck, NULL);
        }
        fe_model_free(m); m = NULL;
        o.n_head = 0;
        CHECK_CODE(fe_convert_hf_model_files(&m, ORACLE "hf/model.safetensors", ORACLE "hf/config.json", NULL, &o, &e), fe_ok);
        CHECK(m && m->load_checksum == fe_model_checksum(m));
        if (m) {
            fe_model *m2 = NULL;
            CHECK_CODE(fe_model_load_mem(&m2, ref, ref_len, NULL, &e), fe_ok);
            CHECK(m2 && fe_model_checksum(m2) == fe_model_checksum(m));
            fe_model_free(m2);
        }
        fe_model_free(m); m = NULL;
        CHECK_CODE(fe_convert_hf_model_files(&m, ORACLE "model_f16.safetensors", NULL, ORACLE "nope.safetensors", &o, &e), fe_err_io);
        CHECKF(strstr(e.msg, "convert: missing-from: cannot open 'tests/data/tiny_a/nope.safetensors'") != NULL, "%s", e.msg);
        CHECK_CODE(fe_convert_hf_model_files(&m, ORACLE "model_f16.safetensors", ORACLE "nope.json", NULL, &o, &e), fe_err_io);
        CHECKF(strstr(e.msg, "convert: config: cannot open") != NULL, "%s", e.msg);
        CHECK_CODE(fe_convert_hf_model_files(&m, ORACLE "cases.json", NULL, NULL, &o, &e), fe_err_range);
        CHECKF(strstr(e.msg, "convert: 'tests/data/tiny_a/cases.json': safetensors:") != NULL, "%s", e.msg);
        CHECK(m == NULL);
        CHECK_CODE(fe_convert_hf_model_files(&m, NULL, NULL, NULL, &o, &e), fe_err_arg);
        CHECK_CODE(fe_convert_hf_model_files(NULL, ORACLE "hf/model.safetensors", NULL, NULL, &o, &e), fe_err_arg);
        CHECK_CODE(fe_convert_hf_model(NULL, hf, hf_len, NULL, 0, NULL, 0, &o, &e), fe_err_arg);
        CHECK_CODE(fe_convert_hf_model(&m, hf, hf_len, NULL, 0, NULL, 0, NULL, &e), fe_err_arg);   /* opts NULL: n_head unknown */
        CHECK(strstr(e.msg, "n_head unknown") != NULL);
        CHECK_CODE(fe_convert_hf_model(&m, hf, hf_len, cfg, cfg_len, NULL, 0, NULL, &e), fe_ok);   /* opts NULL, config */
        CHECK(m && e.code == fe_ok && e.msg[0] == 0);
        fe_model_free(m); m = NULL;
    }
    TEST("file wrapper: atomic write") {
        FILE *f;
        sprintf(tmpdir, "/tmp/fe_convert_test.%ld", (long)getpid());
        sprintf(path, "mkdir -p %s", tmpdir);
        CHECK(system(path) == 0);
        sprintf(path, "%s/out.bin", tmpdir);
        CHECK_CODE(fe_convert_hf_file(ORACLE "hf/model.safetensors", ORACLE "hf/config.json", 0, 3, path, &e), fe_ok);
        CHECK(same_file(path, ref, ref_len));
        /* a failing conversion leaves the existing output as it was and no temporary file */
        f = fopen(path, "wb"); fputs("keep me", f); fclose(f);
        CHECK_CODE(fe_convert_hf_file(ORACLE "hf/model.safetensors", NULL, 0, 3, path, &e), fe_err_arg);
        CHECK(same_file(path, (const unsigned char *)"keep me", 7));
        CHECK_CODE(fe_convert_hf_file(ORACLE "model_f16.safetensors", NULL, 3, 5, path, &e), fe_err_format);
        CHECK(same_file(path, (const unsigned char *)"keep me", 7));
        CHECK_CODE(fe_convert_hf_file(ORACLE "nope.safetensors", NULL, 3, 3, path, &e), fe_err_io);
        CHECK(strstr(e.msg, "cannot open '" ORACLE "nope.safetensors'") != NULL);
        CHECK_CODE(fe_convert_hf_file(ORACLE "hf/model.safetensors", ORACLE "nope.json", 3, 3, path, &e), fe_err_io);
        CHECK(same_file(path, (const unsigned char *)"keep me", 7));
        /* rename onto a directory fails: the temp file must be removed */
        sprintf(path2, "%s/adir", tmpdir);
        sprintf(path, "mkdir -p %s/adir/x", tmpdir);
        CHECK(system(path) == 0);
        CHECK_CODE(fe_convert_hf_file(ORACLE "hf/model.safetensors", NULL, 3, 3, path2, &e), fe_err_io);
        CHECK(strstr(e.msg, "cannot rename") != NULL);
        sprintf(path, "test $(ls %s | wc -l) -eq 2", tmpdir);   /* out.bin and adir only */
        CHECK(system(path) == 0);
        sprintf(path2, "%s/missing/out.bin", tmpdir);
        CHECK_CODE(fe_convert_hf_file(ORACLE "hf/model.safetensors", NULL, 3, 3, path2, &e), fe_err_io);
        CHECK(strstr(e.msg, "cannot create") != NULL);
        sprintf(path, "%s/out5.bin", tmpdir);
        CHECK_CODE(fe_convert_hf_file(ORACLE "hf/model.safetensors", ORACLE "hf/config.json", 0, 5, path, &e), fe_ok);
        {
            unsigned char *o5 = read_all(path, &len);
            CHECK(o5 && len == 1024 + 2 * nparams && hdr_int(o5, 1) == 5);
            free(o5);
        }
        CHECK_CODE(fe_convert_hf_file(NULL, NULL, 3, 3, path, &e), fe_err_arg);
        sprintf(path, "rm -rf %s", tmpdir);
        CHECK(system(path) == 0);
    }
    TEST("custom allocator and every allocation failure") {
        t_alloc a;
        long k, clean = 0;
        for (k = 0;; k++) {
            fe_result r;
            a.live = 0; a.calls = 0; a.fail_after = k;
            r = fe_convert_hf(hf, hf_len, cfg, cfg_len, 0, 5, &out, &len, &a, &e);
            if (r == fe_ok) break;
            clean += r == fe_err_nomem && out == NULL && a.live == 0;
        }
        CHECKF(k > 3 && clean == k, "%ld failure points, %ld clean", k, clean);
        CHECK(a.live == 1 && len == 1024 + 2 * nparams);
        fe_convert_free(out, &a); out = NULL;
        CHECK(a.live == 0);
        /* with missing_from and the model API */
        for (k = 0;; k++) {
            fe_result r;
            fe_convert_opts o;
            fe_model *m = NULL;
            memset(&o, 0, sizeof o);
            o.n_head = 3; o.alloc_user = &a;
            a.live = 0; a.calls = 0; a.fail_after = k;
            r = fe_convert_hf_model(&m, f16, f16_len, NULL, 0, hf, hf_len, &o, &e);
            if (r == fe_ok) { CHECK(a.live > 0); fe_model_free(m); CHECK(a.live == 0); break; }
            CHECKF(r == fe_err_nomem && m == NULL && a.live == 0, "model: failure %ld: %d, %ld live", k, (int)r, a.live);
        }
        CHECK(k > 3);
    }
    TEST("arguments") {
        CHECK_CODE(fe_convert_hf(hf, hf_len, NULL, 0, 3, 3, NULL, &len, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_convert_hf(NULL, 0, NULL, 0, 3, 3, &out, &len, NULL, &e), fe_err_format);
        CHECK_CODE(fe_convert_hf(hf, hf_len, NULL, 0, 3, 3, &out, &len, NULL, NULL), fe_ok);  /* err may be NULL */
        fe_convert_free(out, NULL);
        fe_convert_free(NULL, NULL);
    }
    fe_convert_free(ref, NULL);
    fe_safetensors_free(st_hf); fe_safetensors_free(st_np); fe_safetensors_free(st_f16); fe_safetensors_free(st_bf16);
    free(hf); free(np); free(f16); free(bf16); free(cfg);
    return t_summary();
}
