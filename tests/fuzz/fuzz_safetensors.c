/* Fuzz target: the safetensors reader (fe_safetensors_parse, fe_st_tensor_to_f32) and the Hugging
   Face converter (fe_convert_hf_model, tools/fe_convert.c) on the same bytes.
   Input: a .safetensors file. The harness reads three optional strings from the header's
   "__metadata__" (which the library skips): "config" = config.json text passed to the converter,
   "n_head" = decimal n_head option, "missing_from" = "self" to pass the input as its own
   missing-from file. Without config and n_head the converter gets n_head = 1.
   Checks on a parsed file: tensors are in one array (at(i) == at(0) + i), find(name) returns them,
   names are NUL-free, ndim <= 8, numel = product of the shape, nbytes = numel x dtype size, every
   data range is inside the input and no two non-empty ranges overlap; to_f32 of F32/F16/BF16
   (<= 64k elements) equals an independent conversion (ldexp-based for F16, bit shift for BF16,
   bf16 -> f32 -> bf16 is the identity); other dtypes give fe_err_unsupported.
   Converter: on success the model's dims are the input's wte/wpe shapes, its checksum is the
   weights', and fe_model_save_mem (fp32) of it loads back with the same checksum. Errors carry
   their code and a message. */
#include "fuzz.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "fe_convert.h"
#include <math.h>

static void check_error(fe_result r, const fe_error *e) {
    FZ_CHECK(r != fe_ok && e->code == r);
    FZ_CHECK(memchr(e->msg, 0, sizeof e->msg) != NULL && e->msg[0] != 0);
    if (r == fe_err_nomem) FZ_CHECK(fz_oom_hit);
}

static float ref_f16(uint16_t h) {
    int s = h >> 15, ex = (h >> 10) & 31, man = h & 1023;
    double v;
    if (ex == 31) return man ? NAN : (s ? -INFINITY : INFINITY);
    v = ex == 0 ? ldexp((double)man, -24) : ldexp((double)(man + 1024), ex - 25);
    return (float)(s ? -v : v);
}

static size_t dtype_size(const char *n) {
    static const struct { const char *n; size_t s; } t[] = {
        {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
        {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) if (!strcmp(n, t[i].n)) return t[i].s;
    return 0;
}

static int cmp_ptr(const void *a, const void *b) {
    const fe_st_tensor *x = *(const fe_st_tensor *const *)a, *y = *(const fe_st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static void check_tensors(const fe_safetensors *st, const unsigned char *bytes, size_t size) {
    size_t n = fe_safetensors_count(st), i, k, numel;
    const fe_st_tensor **by = (const fe_st_tensor **)malloc((n ? n : 1) * sizeof *by);
    if (!by) abort();
    FZ_CHECK(fe_safetensors_at(st, n) == NULL);
    for (i = 0; i < n; i++) {
        const fe_st_tensor *t = fe_safetensors_at(st, i);
        size_t es = dtype_size(t->dtype_name);
        FZ_CHECK(t == fe_safetensors_at(st, 0) + i);
        FZ_CHECK(t->name != NULL && strcmp(t->name, "__metadata__") != 0);
        FZ_CHECK(fe_safetensors_find(st, t->name) == t);
        FZ_CHECK(es != 0 && memchr(t->dtype_name, 0, sizeof t->dtype_name));
        FZ_CHECK((t->dtype == fe_dtype_f32) == !strcmp(t->dtype_name, "F32"));
        FZ_CHECK((t->dtype == fe_dtype_f16) == !strcmp(t->dtype_name, "F16"));
        FZ_CHECK((t->dtype == fe_dtype_bf16) == !strcmp(t->dtype_name, "BF16"));
        FZ_CHECK(t->ndim >= 0 && t->ndim <= 8);
        for (k = 0, numel = 1; k < (size_t)t->ndim; k++) numel *= t->shape[k];   /* no overflow: checked below */
        FZ_CHECK(numel == t->numel && t->nbytes == t->numel * es && t->nbytes / es == t->numel);
        FZ_CHECK(t->data >= bytes + 8 && t->nbytes <= size && t->data <= bytes + size - t->nbytes);
        by[i] = t;
        if (t->numel <= 65536) {
            float *out = (float *)malloc((t->numel ? t->numel : 1) * sizeof *out);
            fe_error e;
            fe_result r;
            if (!out) abort();
            r = fe_st_tensor_to_f32(t, out, &e);
            if (t->dtype == fe_dtype_other) FZ_CHECK(r == fe_err_unsupported && e.code == r);
            else {
                FZ_CHECK(r == fe_ok);
                for (k = 0; k < t->numel; k++) {
                    uint16_t h = (uint16_t)(t->data[2 * k] | t->data[2 * k + 1] << 8);
                    if (t->dtype == fe_dtype_f32) {
                        uint32_t u = (uint32_t)t->data[4 * k] | (uint32_t)t->data[4 * k + 1] << 8 | (uint32_t)t->data[4 * k + 2] << 16 | (uint32_t)t->data[4 * k + 3] << 24;
                        FZ_CHECK(!memcmp(&u, &out[k], 4));
                    } else if (t->dtype == fe_dtype_f16) {
                        float want = ref_f16(h);
                        FZ_CHECK(isnan(want) ? isnan(out[k]) != 0 : !memcmp(&want, &out[k], 4));
                    } else {
                        uint16_t back = fe_f32_to_bf16(out[k]);
                        FZ_CHECK(isnan(out[k]) ? (back & 0x8000) == (h & 0x8000) && (back & 0x7fff) > 0x7f80 : back == h);
                    }
                }
            }
            free(out);
        }
    }
    /* independent overlap check */
    if (n) qsort(by, n, sizeof *by, cmp_ptr);
    for (i = 0, k = (size_t)-1; i < n; i++) {
        if (!by[i]->nbytes) continue;
        if (k != (size_t)-1) FZ_CHECK(by[i]->data >= by[k]->data + by[k]->nbytes);
        k = i;
    }
    free(by);
}

/* The harness's own options from __metadata__ (parsed with the library's JSON reader). */
typedef struct meta { char *config; size_t config_len; int n_head; int self_ref; } meta;

static void read_meta(const unsigned char *b, size_t size, meta *m) {
    uint64_t hl = 0;
    size_t i;
    fe_json *doc = NULL;
    const fe_json_value *md, *x;
    memset(m, 0, sizeof *m);
    if (size < 8) return;
    for (i = 0; i < 8; i++) hl |= (uint64_t)b[i] << (8 * i);
    if (hl > size - 8 || fe_json_parse(&doc, (const char *)b + 8, (size_t)hl, NULL, NULL) != fe_ok) return;
    md = fe_json_get(fe_json_root(doc), "__metadata__");
    if ((x = fe_json_get(md, "config")) != NULL && x->type == fe_json_string) {
        m->config = fz_dup((const uint8_t *)x->str, x->len, 0);   /* exactly len bytes: over-reads show */
        m->config_len = x->len;
    }
    if ((x = fe_json_get(md, "n_head")) != NULL && x->type == fe_json_string) m->n_head = atoi(x->str) % 100000;
    if ((x = fe_json_get(md, "missing_from")) != NULL && x->type == fe_json_string && !strcmp(x->str, "self")) m->self_ref = 1;
    fe_json_free(doc);
}

static void fz_target(const uint8_t *data, size_t size) {
    unsigned char *copy = (unsigned char *)fz_dup(data, size, 0);
    fe_safetensors *st = NULL;
    fe_error e;
    fe_result r;
    meta md;
    fe_model *m = NULL;
    fe_convert_opts co;

    memset(&e, 0, sizeof e);
    r = fe_safetensors_parse(&st, copy, size, NULL, &e);
    if (r == fe_ok) {
        check_tensors(st, copy, size);
        fe_safetensors_free(st);
    } else {
        FZ_CHECK(st == NULL);
        check_error(r, &e);
    }

    /* the converter */
    read_meta(copy, size, &md);
    memset(&co, 0, sizeof co);
    co.n_head = md.n_head ? md.n_head : (md.config ? 0 : 1);
    r = fe_convert_hf_model(&m, copy, size, md.config, md.config_len, md.self_ref ? copy : NULL, md.self_ref ? size : 0, &co, &e);
    if (r == fe_ok) {
        fe_safetensors *s2 = NULL;
        unsigned char *ck = NULL;
        size_t cl = 0;
        FZ_CHECK(m != NULL && fe_model_checksum(m) == m->load_checksum);
        if (fe_safetensors_parse(&s2, copy, size, NULL, NULL) == fe_ok) {
            const fe_st_tensor *wte = fe_safetensors_find(s2, "transformer.wte.weight");
            if (!wte) wte = fe_safetensors_find(s2, "wte.weight");
            FZ_CHECK(wte && (size_t)m->config.vocab_size == wte->shape[0] && (size_t)m->config.channels == wte->shape[1]);
            fe_safetensors_free(s2);
        } else FZ_CHECK(fz_oom_hit);
        if (fe_model_save_mem(m, 3, &ck, &cl, &e) == fe_ok) {
            fe_model *m2 = NULL;
            r = fe_model_load_mem(&m2, ck, cl, NULL, &e);
            FZ_CHECK(r == fe_ok || fz_oom_hit);
            if (r == fe_ok) FZ_CHECK(m2->load_checksum == m->load_checksum);
            fe_model_free(m2);
            fe_free(ck, NULL);
        } else FZ_CHECK(fz_oom_hit);
        fe_model_free(m);
    } else {
        FZ_CHECK(m == NULL);
        check_error(r, &e);
    }
    free(md.config);
    free(copy);
}
