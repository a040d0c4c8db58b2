/* fe_convert: Hugging Face GPT-2 safetensors -> llm.c checkpoint. See convert.h for the format.
   Becomes tools/fe_convert.c. Only the public factedit API is used, so this file compiles as its
   own translation unit against factedit.h without FACTEDIT_IMPLEMENTATION. */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* fsync, fileno, getpid under -std=c99 */
#endif
#include "convert.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

static fe_result fe__cv_fail(fe_error *err, fe_result code, const char *fmt, ...) {
    if (err) { va_list ap; va_start(ap, fmt); err->code = code; vsnprintf(err->msg, sizeof err->msg, fmt, ap); va_end(ap); }
    return code;
}

/* One Hugging Face tensor per row: name after "h.N." (or after the prefix for globals), its shape
   as multiples of C (0 = not a dimension), and whether it is a Conv1D weight [in, out] that llm.c
   stores transposed as [out, in]. Rows are in llm.c's parameter order. */
typedef struct fe__cv_spec { const char *name; int per_layer; int d0, d1; int transpose; } fe__cv_spec;
static const fe__cv_spec fe__cv_specs[] = {
    /* wte and wpe have V / maxT rows; their row count is checked separately (d0 = -1) */
    {"wte.weight", 0, -1, 1, 0}, {"wpe.weight", 0, -1, 1, 0},
    {"ln_1.weight", 1, 1, 0, 0}, {"ln_1.bias", 1, 1, 0, 0},
    {"attn.c_attn.weight", 1, 1, 3, 1}, {"attn.c_attn.bias", 1, 3, 0, 0},
    {"attn.c_proj.weight", 1, 1, 1, 1}, {"attn.c_proj.bias", 1, 1, 0, 0},
    {"ln_2.weight", 1, 1, 0, 0}, {"ln_2.bias", 1, 1, 0, 0},
    {"mlp.c_fc.weight", 1, 1, 4, 1}, {"mlp.c_fc.bias", 1, 4, 0, 0},
    {"mlp.c_proj.weight", 1, 4, 1, 1}, {"mlp.c_proj.bias", 1, 1, 0, 0},
    {"ln_f.weight", 0, 1, 0, 0}, {"ln_f.bias", 0, 1, 0, 0}
};
#define FACTEDIT__CV_NSPECS (sizeof fe__cv_specs / sizeof fe__cv_specs[0])

typedef struct fe__cv {
    const fe_safetensors *st; fe_error *err; void *user;
    const char *prefix;            /* "transformer." or "" */
    size_t V, C, maxT, L, NH, Vp;
    unsigned char *used;           /* per tensor (fe_safetensors_at order): consumed or skipped */
    float *tmp;                    /* one tensor as float32, as stored ([in, out] for Conv1D) */
    unsigned char *out; size_t pos;/* checkpoint bytes; next parameter index after the header */
    int bf16;
} fe__cv;

/* "h.12.mlp.c_fc.bias" -> layer 12, rest "mlp.c_fc.bias". 0 if s is not a layer name. */
static int fe__cv_layer_name(const char *s, size_t *layer, const char **rest) {
    size_t l = 0, nd = 0;
    if (strncmp(s, "h.", 2)) return 0;
    for (s += 2; *s >= '0' && *s <= '9'; s++, nd++) l = l * 10 + (size_t)(*s - '0');
    if (nd == 0 || nd > 6 || *s != '.') return 0;   /* at most 999999 layers */
    *layer = l; *rest = s + 1;
    return 1;
}

static void fe__cv_name(const fe__cv *c, const fe__cv_spec *sp, size_t layer, char *buf, size_t cap) {
    if (sp->per_layer) snprintf(buf, cap, "%sh.%lu.%s", c->prefix, (unsigned long)layer, sp->name);
    else snprintf(buf, cap, "%s%s", c->prefix, sp->name);
}

/* Finds one tensor and checks its dtype and shape; marks it used. */
static fe_result fe__cv_find(fe__cv *c, const fe__cv_spec *sp, size_t layer, const fe_st_tensor **out) {
    char name[128];
    const fe_st_tensor *t;
    size_t d0 = sp->d0 < 0 ? (sp == &fe__cv_specs[0] ? c->V : c->maxT) : (size_t)sp->d0 * c->C;
    size_t d1 = (size_t)sp->d1 * c->C;
    int ndim = sp->d1 ? 2 : 1;
    fe__cv_name(c, sp, layer, name, sizeof name);
    t = fe_safetensors_find(c->st, name);
    if (!t) return fe__cv_fail(c->err, fe_err_format, "convert: missing tensor '%s'", name);
    if (t->dtype == fe_dtype_other)
        return fe__cv_fail(c->err, fe_err_unsupported, "convert: tensor '%s' has dtype %s (need F32, F16 or BF16)", name, t->dtype_name);
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96] = "", *p = got;
        int i;
        for (i = 0; i < t->ndim && p < got + sizeof got - 24; i++) p += sprintf(p, i ? ", %lu" : "%lu", (unsigned long)t->shape[i]);
        if (ndim == 2)
            return fe__cv_fail(c->err, fe_err_mismatch, "convert: tensor '%s' has shape [%s], expected [%lu, %lu] (C=%lu from wte)",
                               name, got, (unsigned long)d0, (unsigned long)d1, (unsigned long)c->C);
        return fe__cv_fail(c->err, fe_err_mismatch, "convert: tensor '%s' has shape [%s], expected [%lu] (C=%lu from wte)",
                           name, got, (unsigned long)d0, (unsigned long)c->C);
    }
    c->used[t - fe_safetensors_at(c->st, 0)] = 1;
    *out = t;
    return fe_ok;
}

static void fe__cv_put(fe__cv *c, size_t idx, float v) {  /* parameter idx, little-endian */
    unsigned char *o;
    if (c->bf16) {
        uint16_t h = fe_f32_to_bf16(v);
        o = c->out + FACTEDIT_CKPT_HEADER_INTS * 4 + 2 * idx;
        o[0] = (unsigned char)h; o[1] = (unsigned char)(h >> 8);
    } else {
        uint32_t u;
        memcpy(&u, &v, 4);
        o = c->out + FACTEDIT_CKPT_HEADER_INTS * 4 + 4 * idx;
        o[0] = (unsigned char)u; o[1] = (unsigned char)(u >> 8); o[2] = (unsigned char)(u >> 16); o[3] = (unsigned char)(u >> 24);
    }
}

/* Appends one tensor to the checkpoint. Conv1D weights: stored (in, out) -> written (out, in),
   in 32x32 tiles so both sides stay in cache for GPT-2 XL's 6400x1600 matrices. */
static fe_result fe__cv_emit(fe__cv *c, const fe__cv_spec *sp, size_t layer) {
    const fe_st_tensor *t;
    size_t i, ib, ob, o, rows, cols;
    fe_result r;
    if ((r = fe__cv_find(c, sp, layer, &t)) != fe_ok) return r;
    if ((r = fe_st_tensor_to_f32(t, c->tmp, c->err)) != fe_ok) return r;
    for (i = 0; i < t->numel; i++)
        if (!isfinite(c->tmp[i]))
            return fe__cv_fail(c->err, fe_err_numeric, "convert: tensor '%s' element %lu is %s", t->name, (unsigned long)i, isnan(c->tmp[i]) ? "NaN" : "Inf");
    if (!sp->transpose) for (i = 0; i < t->numel; i++) fe__cv_put(c, c->pos + i, c->tmp[i]);
    else {
        rows = t->shape[0]; cols = t->shape[1];   /* rows = in, cols = out */
        for (ob = 0; ob < cols; ob += 32)
            for (ib = 0; ib < rows; ib += 32)
                for (o = ob; o < cols && o < ob + 32; o++)
                    for (i = ib; i < rows && i < ib + 32; i++) fe__cv_put(c, c->pos + o * rows + i, c->tmp[i * cols + o]);
    }
    c->pos += t->numel;
    if (sp == &fe__cv_specs[0]) c->pos += (c->Vp - c->V) * c->C;  /* padded vocab rows stay zero */
    return fe_ok;
}

/* Reads an optional non-negative integer member. 0 = absent or null, 1 = *v set, -1 = error set. */
static int fe__cv_cfg_int(fe__cv *c, const fe_json_value *cfg, const char *key, size_t *v) {
    const fe_json_value *x = fe_json_get(cfg, key);
    if (!x || x->type == fe_json_null) return 0;
    if (x->type != fe_json_number || !(x->number >= 0) || x->number > 2147483647.0 || x->number != floor(x->number)) {
        fe__cv_fail(c->err, fe_err_format, "convert: config.json \"%s\" is not a non-negative integer", key);
        return -1;
    }
    *v = (size_t)x->number;
    return 1;
}

/* Cross-checks config.json against the shapes and llm.c's fixed choices; sets *nh if present. */
static fe_result fe__cv_config(fe__cv *c, const char *text, size_t len, size_t *nh) {
    static const char *dims[] = {"n_embd", "n_layer", "n_positions", "vocab_size", "n_inner"};
    const size_t want[] = {c->C, c->L, c->maxT, c->V, 4 * c->C};
    const fe_json_value *cfg, *x;
    fe_json *doc;
    fe_error jerr;
    fe_result r = fe_ok;
    size_t i, v;
    memset(&jerr, 0, sizeof jerr);
    if (fe_json_parse(&doc, text, len, c->user, &jerr) != fe_ok) return fe__cv_fail(c->err, jerr.code, "convert: config.json: %s", jerr.msg);
    cfg = fe_json_root(doc);
    if (cfg->type != fe_json_object) { r = fe__cv_fail(c->err, fe_err_format, "convert: config.json is not a JSON object"); goto done; }
    for (i = 0; i < 5; i++) {
        int k = fe__cv_cfg_int(c, cfg, dims[i], &v);
        if (k < 0) { r = fe_err_format; goto done; }
        if (k && v != want[i]) {
            r = fe__cv_fail(c->err, fe_err_mismatch, "convert: config.json %s = %lu but the weights give %lu", dims[i], (unsigned long)v, (unsigned long)want[i]);
            goto done;
        }
    }
    if (fe__cv_cfg_int(c, cfg, "n_head", nh) < 0) { r = fe_err_format; goto done; }
    if ((x = fe_json_get(cfg, "layer_norm_epsilon")) != NULL && x->type != fe_json_null) {
        if (x->type != fe_json_number) { r = fe__cv_fail(c->err, fe_err_format, "convert: config.json layer_norm_epsilon is not a number"); goto done; }
        if (fabs(x->number - 1e-5) > 1e-12) {
            r = fe__cv_fail(c->err, fe_err_unsupported, "convert: config.json layer_norm_epsilon = %g, but llm.c checkpoints have no eps field and always use 1e-5", x->number);
            goto done;
        }
    }
    if ((x = fe_json_get(cfg, "activation_function")) != NULL && x->type != fe_json_null &&
        (x->type != fe_json_string || (strcmp(x->str, "gelu_new") && strcmp(x->str, "gelu_pytorch_tanh") && strcmp(x->str, "gelu_fast")))) {
        r = fe__cv_fail(c->err, fe_err_unsupported, "convert: config.json activation_function '%.40s' is not the tanh GELU llm.c uses", x->type == fe_json_string ? x->str : "?");
        goto done;
    }
    if (((x = fe_json_get(cfg, "scale_attn_weights")) != NULL && x->type == fe_json_bool && !x->boolean) ||
        ((x = fe_json_get(cfg, "scale_attn_by_inverse_layer_idx")) != NULL && x->type == fe_json_bool && x->boolean)) {
        r = fe__cv_fail(c->err, fe_err_unsupported, "convert: config.json %s = %s changes attention scaling, which llm.c does not support", x->key, x->boolean ? "true" : "false");
        goto done;
    }
done:
    fe_json_free(doc);
    return r;
}

static int fe__cv_madd(size_t *acc, size_t a, size_t b) {  /* *acc += a * b, 0 on overflow */
    size_t p;
    if (a && b > (size_t)-1 / a) return 0;
    p = a * b;
    if (p > (size_t)-1 - *acc) return 0;
    *acc += p;
    return 1;
}

fe_result fe_convert_hf(const void *st_bytes, size_t st_len, const char *config_json, size_t config_len,
                        int n_head_override, int out_version, unsigned char **out_bytes, size_t *out_len,
                        void *alloc_user, fe_error *err) {
    fe__cv c;
    fe_safetensors *st = NULL;
    const fe_st_tensor *wte, *wpe, *t;
    size_t i, l, n, cfg_nh = 0, nparams = 0, total, tmp_n, tmp_bytes;
    fe_result r;
    if (!out_bytes || !out_len) return fe__cv_fail(err, fe_err_arg, "convert: out_bytes / out_len is NULL");
    *out_bytes = NULL; *out_len = 0;
    if (out_version != 3 && out_version != 5) return fe__cv_fail(err, fe_err_arg, "convert: version %d (need 3 = fp32 or 5 = bf16)", out_version);
    if (n_head_override < 0) return fe__cv_fail(err, fe_err_arg, "convert: n_head %d is negative", n_head_override);
    if ((r = fe_safetensors_parse(&st, st_bytes, st_len, alloc_user, err)) != fe_ok) return r;
    memset(&c, 0, sizeof c);
    c.st = st; c.err = err; c.user = alloc_user; c.bf16 = out_version == 5;
    n = fe_safetensors_count(st);
    c.used = (unsigned char *)FACTEDIT_MALLOC(n ? n : 1, alloc_user);
    if (!c.used) { r = fe__cv_fail(err, fe_err_nomem, "convert: out of memory"); goto done; }
    memset(c.used, 0, n);

    /* dimensions from wte (V, C), wpe (maxT) and the highest layer index (L) */
    c.prefix = fe_safetensors_find(st, "transformer.wte.weight") ? "transformer." : "";
    {
        char name[64];
        snprintf(name, sizeof name, "%swte.weight", c.prefix);
        wte = fe_safetensors_find(st, name);
        snprintf(name, sizeof name, "%swpe.weight", c.prefix);
        wpe = fe_safetensors_find(st, name);
    }
    if (!wte) { r = fe__cv_fail(err, fe_err_format, "convert: missing tensor 'wte.weight' (or 'transformer.wte.weight')"); goto done; }
    if (!wpe) { r = fe__cv_fail(err, fe_err_format, "convert: missing tensor '%swpe.weight'", c.prefix); goto done; }
    if (wte->ndim != 2 || wte->shape[0] == 0 || wte->shape[1] == 0) { r = fe__cv_fail(err, fe_err_mismatch, "convert: wte.weight must be a non-empty [V, C] matrix"); goto done; }
    if (wpe->ndim != 2 || wpe->shape[0] == 0) { r = fe__cv_fail(err, fe_err_mismatch, "convert: wpe.weight must be a non-empty [maxT, C] matrix"); goto done; }
    c.V = wte->shape[0]; c.C = wte->shape[1]; c.maxT = wpe->shape[0];
    for (i = 0; i < n; i++) {
        const char *nm = fe_safetensors_at(st, i)->name, *rest;
        size_t pl = strlen(c.prefix);
        if (!strncmp(nm, c.prefix, pl) && fe__cv_layer_name(nm + pl, &l, &rest) && l + 1 > c.L) c.L = l + 1;
    }
    if (c.L == 0) { r = fe__cv_fail(err, fe_err_format, "convert: missing tensor '%sh.0.ln_1.weight' (no layers found)", c.prefix); goto done; }
    if (c.V > 0x7fffff80u || c.C > 0x7fffffffu || c.maxT > 0x7fffffffu || c.L > 0x7fffffffu) {
        r = fe__cv_fail(err, fe_err_limit, "convert: dimensions do not fit the int32 checkpoint header"); goto done;
    }
    c.Vp = (c.V + 127) / 128 * 128;

    /* every tensor present with the right shape before anything big is allocated */
    for (i = 0; i < FACTEDIT__CV_NSPECS; i++)
        for (l = 0; l < (fe__cv_specs[i].per_layer ? c.L : 1); l++)
            if ((r = fe__cv_find(&c, &fe__cv_specs[i], l, &t)) != fe_ok) goto done;

    /* n_head: config.json and/or the argument */
    if (config_json && (r = fe__cv_config(&c, config_json, config_len, &cfg_nh)) != fe_ok) goto done;
    if (n_head_override && cfg_nh && (size_t)n_head_override != cfg_nh) {
        r = fe__cv_fail(err, fe_err_mismatch, "convert: n_head argument %d disagrees with config.json n_head %lu", n_head_override, (unsigned long)cfg_nh);
        goto done;
    }
    c.NH = n_head_override ? (size_t)n_head_override : cfg_nh;
    if (!c.NH) { r = fe__cv_fail(err, fe_err_arg, "convert: n_head unknown: pass config.json with \"n_head\" or give n_head explicitly"); goto done; }
    if (c.C % c.NH) { r = fe__cv_fail(err, fe_err_mismatch, "convert: n_embd %lu is not divisible by n_head %lu", (unsigned long)c.C, (unsigned long)c.NH); goto done; }

    /* the remaining tensors may only be attention-mask buffers or a tied lm_head */
    for (i = 0; i < n; i++) {
        const char *nm = fe_safetensors_at(st, i)->name, *rest;
        size_t pl = strlen(c.prefix);
        if (c.used[i]) continue;
        if (!strncmp(nm, c.prefix, pl) && fe__cv_layer_name(nm + pl, &l, &rest) && (!strcmp(rest, "attn.bias") || !strcmp(rest, "attn.masked_bias"))) continue;
        if (!strcmp(nm, "lm_head.weight")) {
            const fe_st_tensor *h = fe_safetensors_at(st, i);
            int same = h->ndim == 2 && h->shape[0] == c.V && h->shape[1] == c.C;
            if (same && !(h->dtype == wte->dtype && !memcmp(h->data, wte->data, h->nbytes))) {
                /* different dtypes: compare as float32 */
                float *a = wte->numel <= (size_t)-1 / 8 ? (float *)FACTEDIT_MALLOC(wte->numel * 8, alloc_user) : NULL;
                if (!a) { r = fe__cv_fail(err, fe_err_nomem, "convert: out of memory comparing lm_head.weight"); goto done; }
                same = fe_st_tensor_to_f32(h, a, NULL) == fe_ok && fe_st_tensor_to_f32(wte, a + wte->numel, NULL) == fe_ok &&
                       !memcmp(a, a + wte->numel, wte->numel * 4);
                FACTEDIT_FREE(a, alloc_user);
            }
            if (!same) { r = fe__cv_fail(err, fe_err_unsupported, "convert: lm_head.weight differs from wte.weight: untied output heads are not supported"); goto done; }
            continue;
        }
        r = fe__cv_fail(err, fe_err_unsupported, "convert: unexpected tensor '%.96s' (not part of a GPT-2 LM)", nm);
        goto done;
    }

    /* sizes: Vp*C + maxT*C + L*(12*C*C + 13*C) + 2*C parameters, all overflow-checked */
    if (!fe__cv_madd(&nparams, c.Vp, c.C) || !fe__cv_madd(&nparams, c.maxT, c.C) || !fe__cv_madd(&nparams, 2, c.C)) goto overflow;
    {
        size_t per = 0;   /* one layer: 12*C*C + 13*C */
        if (c.C > (size_t)-1 / 13 || !fe__cv_madd(&per, c.C, 12 * c.C) || !fe__cv_madd(&per, 13, c.C) || !fe__cv_madd(&nparams, c.L, per)) goto overflow;
    }
    total = FACTEDIT_CKPT_HEADER_INTS * 4;
    if (!fe__cv_madd(&total, nparams, c.bf16 ? 2 : 4)) goto overflow;
    /* scratch for the largest tensor: max(V, maxT, 4C) x C floats (each fits: all are in nparams) */
    tmp_n = c.V > c.maxT ? c.V : c.maxT;
    if (tmp_n < 4 * c.C) tmp_n = 4 * c.C;
    tmp_bytes = 0;
    if (!fe__cv_madd(&tmp_bytes, tmp_n * c.C, sizeof(float))) goto overflow;
    c.tmp = (float *)FACTEDIT_MALLOC(tmp_bytes, alloc_user);
    c.out = (unsigned char *)FACTEDIT_MALLOC(total, alloc_user);
    if (!c.tmp || !c.out) { r = fe__cv_fail(err, fe_err_nomem, "convert: out of memory for a %lu-byte checkpoint", (unsigned long)total); goto done; }
    memset(c.out, 0, total);
    {
        const size_t hdr[8] = {FACTEDIT_CKPT_MAGIC, (size_t)out_version, c.maxT, c.V, c.L, c.NH, c.C, c.Vp};
        for (i = 0; i < 8; i++) for (l = 0; l < 4; l++) c.out[4 * i + l] = (unsigned char)(hdr[i] >> (8 * l));
    }
    /* llm.c order: each kind of per-layer tensor for all layers before the next kind */
    for (i = 0; i < FACTEDIT__CV_NSPECS; i++)
        for (l = 0; l < (fe__cv_specs[i].per_layer ? c.L : 1); l++)
            if ((r = fe__cv_emit(&c, &fe__cv_specs[i], l)) != fe_ok) goto done;
    *out_bytes = c.out; *out_len = total;
    c.out = NULL;
    r = fe_ok;
    goto done;
overflow:
    r = fe__cv_fail(err, fe_err_limit, "convert: checkpoint size overflows size_t (V=%lu, C=%lu, L=%lu)", (unsigned long)c.V, (unsigned long)c.C, (unsigned long)c.L);
done:
    if (c.out) FACTEDIT_FREE(c.out, alloc_user);
    if (c.tmp) FACTEDIT_FREE(c.tmp, alloc_user);
    if (c.used) FACTEDIT_FREE(c.used, alloc_user);
    fe_safetensors_free(st);
    return r;
}

void fe_convert_free(unsigned char *bytes, void *alloc_user) {
    if (bytes) FACTEDIT_FREE(bytes, alloc_user);
}

#ifndef FACTEDIT_NO_STDIO
/* Whole file into a FACTEDIT_MALLOC'd buffer (user NULL), NUL-terminated for convenience. */
static fe_result fe__cv_read(const char *path, unsigned char **buf, size_t *len, fe_error *err) {
    FILE *f = fopen(path, "rb");
    long n;
    *buf = NULL; *len = 0;
    if (!f) return fe__cv_fail(err, fe_err_io, "convert: cannot open '%.160s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return fe__cv_fail(err, fe_err_io, "convert: cannot get the size of '%.160s'", path);
    }
    if ((unsigned long)n >= (size_t)-1 || !(*buf = (unsigned char *)FACTEDIT_MALLOC((size_t)n + 1, NULL))) {
        fclose(f);
        return fe__cv_fail(err, fe_err_nomem, "convert: out of memory reading '%.160s' (%ld bytes)", path, n);
    }
    if (fread(*buf, 1, (size_t)n, f) != (size_t)n || fgetc(f) != EOF) {
        fclose(f); FACTEDIT_FREE(*buf, NULL); *buf = NULL;
        return fe__cv_fail(err, fe_err_io, "convert: short read or file changed while reading '%.160s'", path);
    }
    fclose(f);
    (*buf)[n] = 0;
    *len = (size_t)n;
    return fe_ok;
}

fe_result fe_convert_hf_file(const char *st_path, const char *config_path, int n_head, int version, const char *out_path, fe_error *err) {
    unsigned char *st = NULL, *cfg = NULL, *out = NULL;
    size_t st_len = 0, cfg_len = 0, out_len = 0;
    char *tmp = NULL;
    FILE *f = NULL;
    long pid = 0;
    fe_result r;
    if (!st_path || !out_path) return fe__cv_fail(err, fe_err_arg, "convert: model path / output path is NULL");
    if ((r = fe__cv_read(st_path, &st, &st_len, err)) != fe_ok) goto done;
    if (config_path && (r = fe__cv_read(config_path, &cfg, &cfg_len, err)) != fe_ok) goto done;
    if ((r = fe_convert_hf(st, st_len, (const char *)cfg, cfg_len, n_head, version, &out, &out_len, NULL, err)) != fe_ok) goto done;
#if defined(__unix__) || defined(__APPLE__)
    pid = (long)getpid();
#endif
    if (!(tmp = (char *)FACTEDIT_MALLOC(strlen(out_path) + 32, NULL))) { r = fe__cv_fail(err, fe_err_nomem, "convert: out of memory"); goto done; }
    sprintf(tmp, "%s.tmp.%ld", out_path, pid);
    if (!(f = fopen(tmp, "wb"))) { r = fe__cv_fail(err, fe_err_io, "convert: cannot create '%.160s': %s", tmp, strerror(errno)); FACTEDIT_FREE(tmp, NULL); tmp = NULL; goto done; }
    if (fwrite(out, 1, out_len, f) != out_len || fflush(f) != 0) { r = fe__cv_fail(err, fe_err_io, "convert: cannot write '%.160s': %s", tmp, strerror(errno)); goto done; }
#if defined(__unix__) || defined(__APPLE__)
    if (fsync(fileno(f)) != 0) { r = fe__cv_fail(err, fe_err_io, "convert: fsync of '%.160s' failed: %s", tmp, strerror(errno)); goto done; }
#endif
    if (fclose(f) != 0) { f = NULL; r = fe__cv_fail(err, fe_err_io, "convert: cannot close '%.160s': %s", tmp, strerror(errno)); goto done; }
    f = NULL;
    if (rename(tmp, out_path) != 0) { r = fe__cv_fail(err, fe_err_io, "convert: cannot rename '%.160s' to '%.160s': %s", tmp, out_path, strerror(errno)); goto done; }
    FACTEDIT_FREE(tmp, NULL); tmp = NULL;
done:
    if (f) fclose(f);
    if (tmp) { remove(tmp); FACTEDIT_FREE(tmp, NULL); }
    fe_convert_free(out, NULL);
    if (st) FACTEDIT_FREE(st, NULL);
    if (cfg) FACTEDIT_FREE(cfg, NULL);
    return r;
}
#endif
