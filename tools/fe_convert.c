/* fe_convert: Hugging Face GPT-2 safetensors -> fe_model / llm.c checkpoint. See fe_convert.h.
   Only the public factedit API is used: this file compiles as its own translation unit against
   factedit.h without FACTEDIT_IMPLEMENTATION, and allocates nothing itself (the model, the
   checkpoint bytes and the file buffers all come from the library, with the caller's alloc_user). */
#include "fe_convert.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static size_t fe__cv_strnlen(const char *s, size_t cap) { size_t n = 0; while (n < cap && s[n]) n++; return n; }

/* Puts `pre` in front of an error message the library wrote. */
static fe_result fe__cv_prefix(fe_error *err, fe_result code, const char *pre) {
    if (err) {   /* shift the message right (truncating its end) and copy pre in front */
        size_t cap = sizeof err->msg, pl = strlen(pre), ml = fe__cv_strnlen(err->msg, cap);
        if (pl > cap - 1) pl = cap - 1;
        if (ml > cap - 1 - pl) ml = cap - 1 - pl;
        memmove(err->msg + pl, err->msg, ml);
        memcpy(err->msg, pre, pl);
        err->msg[pl + ml] = 0;
        err->code = code;
    }
    return code;
}

/* One Hugging Face tensor per row, in llm.c's parameter order (= the order of fe_params): name
   after "h.N." (or after the prefix for globals), its shape as multiples of C (0 = no such
   dimension; -1 = V rows for wte, maxT rows for wpe), and whether it is a Conv1D weight [in, out]
   that llm.c stores transposed as [out, in]. */
typedef struct fe__cv_spec { const char *name; int per_layer; int d0, d1; int transpose; } fe__cv_spec;
static const fe__cv_spec fe__cv_specs[FACTEDIT_NUM_PARAM_TENSORS] = {
    {"wte.weight", 0, -1, 1, 0}, {"wpe.weight", 0, -1, 1, 0},
    {"ln_1.weight", 1, 1, 0, 0}, {"ln_1.bias", 1, 1, 0, 0},
    {"attn.c_attn.weight", 1, 1, 3, 1}, {"attn.c_attn.bias", 1, 3, 0, 0},
    {"attn.c_proj.weight", 1, 1, 1, 1}, {"attn.c_proj.bias", 1, 1, 0, 0},
    {"ln_2.weight", 1, 1, 0, 0}, {"ln_2.bias", 1, 1, 0, 0},
    {"mlp.c_fc.weight", 1, 1, 4, 1}, {"mlp.c_fc.bias", 1, 4, 0, 0},
    {"mlp.c_proj.weight", 1, 4, 1, 1}, {"mlp.c_proj.bias", 1, 1, 0, 0},
    {"ln_f.weight", 0, 1, 0, 0}, {"ln_f.bias", 0, 1, 0, 0}
};

#define FE__CV_CHUNK 1024   /* floats per read: values are converted in small stack buffers */

typedef struct fe__cv {
    const fe_safetensors *st;      /* the input */
    const fe_safetensors *ref;     /* missing_from, or NULL */
    const char *prefix;            /* the input's: "transformer." or "" */
    fe_error *err;
    const fe_convert_opts *opts;   /* may be NULL */
    size_t V, C, maxT, L, NH, Vp;
} fe__cv;

/* A tensor in no file: tells opts->on_missing, then fails (fe_err_format) with "missing tensor". */
static fe_result fe__cv_missing(const fe__cv *c, const char *name, const char *why) {
    if (c->opts && c->opts->on_missing) c->opts->on_missing(c->opts->on_fill_user, name);
    return fe_error_set(c->err, fe_err_format, "convert: missing tensor '%s'%s", name, why);
}

static const char *fe__cv_detect_prefix(const fe_safetensors *st) {
    size_t i, n = fe_safetensors_count(st);
    if (fe_safetensors_find(st, "transformer.wte.weight")) return "transformer.";
    if (fe_safetensors_find(st, "wte.weight")) return "";
    for (i = 0; i < n; i++)
        if (!strncmp(fe_safetensors_at(st, i)->name, "transformer.", 12)) return "transformer.";
    return "";
}

/* "h.12.mlp.c_fc.bias" -> layer 12, rest "mlp.c_fc.bias". 0 if s is not a layer name (leading
   zeros are not: "h.01.x" would otherwise alias "h.1.x"). */
static int fe__cv_layer_name(const char *s, size_t *layer, const char **rest) {
    size_t l = 0, nd = 0;
    if (strncmp(s, "h.", 2)) return 0;
    s += 2;
    if (s[0] == '0' && s[1] >= '0' && s[1] <= '9') return 0;
    for (; *s >= '0' && *s <= '9'; s++, nd++) l = l * 10 + (size_t)(*s - '0');
    if (nd == 0 || nd > 6 || *s != '.') return 0;   /* at most 999999 layers */
    *layer = l; *rest = s + 1;
    return 1;
}

static int fe__cv_is_mask(const char *rest) { return !strcmp(rest, "attn.bias") || !strcmp(rest, "attn.masked_bias"); }
static int fe__cv_is_layer_spec(const char *rest) {
    int i;
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) if (fe__cv_specs[i].per_layer && !strcmp(rest, fe__cv_specs[i].name)) return 1;
    return 0;
}
static int fe__cv_is_global_spec(const char *rest) {
    int i;
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) if (!fe__cv_specs[i].per_layer && !strcmp(rest, fe__cv_specs[i].name)) return 1;
    return 0;
}

/* Number of layers = 1 + the highest N of a known "h.N.<tensor>" name (0 if none). */
static size_t fe__cv_count_layers(const fe_safetensors *st, const char *prefix) {
    size_t i, l, L = 0, pl = strlen(prefix), n = fe_safetensors_count(st);
    for (i = 0; i < n; i++) {
        const char *nm = fe_safetensors_at(st, i)->name, *rest;
        if (!strncmp(nm, prefix, pl) && fe__cv_layer_name(nm + pl, &l, &rest) &&
            (fe__cv_is_layer_spec(rest) || fe__cv_is_mask(rest)) && l + 1 > L) L = l + 1;
    }
    return L;
}

static void fe__cv_name(const char *prefix, const fe__cv_spec *sp, size_t layer, char *buf, size_t cap) {
    if (sp->per_layer) snprintf(buf, cap, "%sh.%zu.%s", prefix, layer, sp->name);
    else snprintf(buf, cap, "%s%s", prefix, sp->name);
}

/* A tensor of the reference, under either spelling. */
static const fe_st_tensor *fe__cv_ref_find(const fe_safetensors *ref, const fe__cv_spec *sp, size_t layer) {
    char name[128];
    const fe_st_tensor *t;
    fe__cv_name("transformer.", sp, layer, name, sizeof name);
    if ((t = fe_safetensors_find(ref, name)) != NULL) return t;
    fe__cv_name("", sp, layer, name, sizeof name);
    return fe_safetensors_find(ref, name);
}

/* Finds one tensor (in the input, else in the reference) and checks its dtype and shape. */
static fe_result fe__cv_find(fe__cv *c, const fe__cv_spec *sp, size_t layer, const fe_st_tensor **out) {
    char name[128];
    const fe_st_tensor *t;
    const char *where = "";
    size_t d0 = sp->d0 < 0 ? (sp == &fe__cv_specs[0] ? c->V : c->maxT) : (size_t)sp->d0 * c->C;
    size_t d1 = (size_t)sp->d1 * c->C;
    int ndim = sp->d1 ? 2 : 1;
    fe__cv_name(c->prefix, sp, layer, name, sizeof name);
    t = fe_safetensors_find(c->st, name);
    if (!t && c->ref) { t = fe__cv_ref_find(c->ref, sp, layer); where = " of the missing-from file"; }
    if (!t)
        return fe__cv_missing(c, name, c->ref ? " (not in the missing-from file either)" : "");
    if (t->dtype == fe_dtype_other)
        return fe_error_set(c->err, fe_err_unsupported, "convert: tensor '%s'%s has dtype %s (need F32, F16 or BF16)", t->name, where, t->dtype_name);
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96] = "";
        size_t gl = 0;
        int i;
        for (i = 0; i < t->ndim && gl < sizeof got - 24; i++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, i ? ", %zu" : "%zu", t->shape[i]);
        if (ndim == 2)
            return fe_error_set(c->err, fe_err_mismatch, "convert: tensor '%s'%s has shape [%s], expected [%zu, %zu] (C=%zu from wte)",
                               t->name, where, got, d0, d1, c->C);
        return fe_error_set(c->err, fe_err_mismatch, "convert: tensor '%s'%s has shape [%s], expected [%zu] (C=%zu from wte)",
                           t->name, where, got, d0, c->C);
    }
    *out = t;
    return fe_ok;
}

/* Elements [begin, begin+n) of t as float32 (through the library's one conversion routine, on a
   view of the range), rejecting NaN/Inf with the element's index in the file's layout. */
static fe_result fe__cv_read(const fe_st_tensor *t, size_t begin, size_t n, float *out, fe_error *err) {
    fe_st_tensor view = *t;
    size_t es = t->dtype == fe_dtype_f32 ? 4 : 2, k;
    fe_result r;
    view.data = t->data + begin * es;
    view.numel = n; view.nbytes = n * es; view.ndim = 1; view.shape[0] = n;
    if ((r = fe_st_tensor_to_f32(&view, out, err)) != fe_ok) return r;
    for (k = 0; k < n; k++)
        if (!isfinite(out[k]))
            return fe_error_set(err, fe_err_numeric, "convert: tensor '%s' element %zu is %s", t->name, begin + k, isnan(out[k]) ? "NaN" : "Inf");
    return fe_ok;
}

/* Writes one tensor into dst. Conv1D weights: stored (in, out) -> the model's panel-layout
   (out, in) matrix (fe_weight_index), in 32x32 tiles so both sides stay in cache for GPT-2 XL's
   6400x1600 matrices. */
static fe_result fe__cv_emit(fe__cv *c, const fe__cv_spec *sp, size_t layer, float *dst) {
    const fe_st_tensor *t;
    fe_result r;
    if ((r = fe__cv_find(c, sp, layer, &t)) != fe_ok) return r;
    if (!sp->transpose) return fe__cv_read(t, 0, t->numel, dst, c->err);
    {
        float tile[32 * 32];
        size_t rows = t->shape[0], cols = t->shape[1], ib, ob, i, o;   /* rows = in, cols = out */
        for (ib = 0; ib < rows; ib += 32)
            for (ob = 0; ob < cols; ob += 32) {
                size_t ni = rows - ib < 32 ? rows - ib : 32, no = cols - ob < 32 ? cols - ob : 32;
                for (i = 0; i < ni; i++)
                    if ((r = fe__cv_read(t, (ib + i) * cols + ob, no, tile + 32 * i, c->err)) != fe_ok) return r;
                for (o = 0; o < no; o++)
                    for (i = 0; i < ni; i++) dst[fe_weight_index(cols, rows, ob + o, ib + i)] = tile[32 * i + o];
            }
    }
    return fe_ok;
}

/* 1 if a and b hold the same values (exactly, or within half-precision rounding if tol). */
static fe_result fe__cv_compare(const fe_st_tensor *a, const fe_st_tensor *b, int tol, int *same, size_t *where, fe_error *err) {
    float x[FE__CV_CHUNK], y[FE__CV_CHUNK];
    size_t i, k, n;
    fe_result r;
    *same = 1;
    if (a->dtype == b->dtype && a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes)) return fe_ok;
    for (i = 0; i < a->numel; i += n) {
        n = a->numel - i < FE__CV_CHUNK ? a->numel - i : FE__CV_CHUNK;
        if ((r = fe__cv_read(a, i, n, x, err)) != fe_ok || (r = fe__cv_read(b, i, n, y, err)) != fe_ok) return r;
        for (k = 0; k < n; k++) {
            double d = fabs((double)x[k] - (double)y[k]), m = fabs((double)x[k]) > fabs((double)y[k]) ? fabs((double)x[k]) : fabs((double)y[k]);
            if (tol ? d > m / 128 + 1e-6 : x[k] != y[k]) { *same = 0; *where = i + k; return fe_ok; }
        }
    }
    return fe_ok;
}

/* Reads an optional non-negative integer member. 0 = absent or null, 1 = *v set, -1 = error set. */
static int fe__cv_cfg_int(fe__cv *c, const fe_json_value *cfg, const char *key, size_t *v) {
    const fe_json_value *x = fe_json_get(cfg, key);
    if (!x || x->type == fe_json_null) return 0;
    if (x->type != fe_json_number || !(x->number >= 0) || x->number > 2147483647.0 || x->number != floor(x->number)) {
        fe_error_set(c->err, fe_err_format, "convert: config.json \"%s\" is not a non-negative integer", key);
        return -1;
    }
    *v = (size_t)x->number;
    return 1;
}

/* Cross-checks config.json against the shapes and llm.c's fixed choices; sets *nh if present. */
static fe_result fe__cv_config(fe__cv *c, const char *text, size_t len, void *user, size_t *nh) {
    static const char *const dims[] = {"n_embd", "n_layer", "n_positions", "vocab_size", "n_inner"};
    size_t want[5];
    const fe_json_value *cfg, *x;
    fe_json *doc;
    fe_error jerr;
    fe_result r = fe_ok;
    size_t i, v;
    want[0] = c->C; want[1] = c->L; want[2] = c->maxT; want[3] = c->V; want[4] = 4 * c->C;
    memset(&jerr, 0, sizeof jerr);
    if ((r = fe_json_parse(&doc, text, len, user, &jerr)) != fe_ok) return fe_error_set(c->err, r, "convert: config.json: %s", jerr.msg);
    cfg = fe_json_root(doc);
    if (cfg->type != fe_json_object) { r = fe_error_set(c->err, fe_err_format, "convert: config.json is not a JSON object"); goto done; }
    for (i = 0; i < 5; i++) {
        int k = fe__cv_cfg_int(c, cfg, dims[i], &v);
        if (k < 0) { r = fe_err_format; goto done; }
        if (k && v != want[i]) {
            r = fe_error_set(c->err, fe_err_mismatch, "convert: config.json %s = %zu but the weights give %zu", dims[i], v, want[i]);
            goto done;
        }
    }
    if (fe__cv_cfg_int(c, cfg, "n_head", nh) < 0) { r = fe_err_format; goto done; }
    if ((x = fe_json_get(cfg, "layer_norm_epsilon")) != NULL && x->type != fe_json_null) {
        if (x->type != fe_json_number) { r = fe_error_set(c->err, fe_err_format, "convert: config.json layer_norm_epsilon is not a number"); goto done; }
        if (fabs(x->number - 1e-5) > 1e-12) {
            r = fe_error_set(c->err, fe_err_unsupported, "convert: config.json layer_norm_epsilon = %g, but llm.c checkpoints have no eps field and always use 1e-5", x->number);
            goto done;
        }
    }
    if ((x = fe_json_get(cfg, "activation_function")) != NULL && x->type != fe_json_null &&
        (x->type != fe_json_string || strlen(x->str) != x->len ||   /* no "gelu_new\u0000relu" */
         (strcmp(x->str, "gelu_new") && strcmp(x->str, "gelu_pytorch_tanh") && strcmp(x->str, "gelu_fast")))) {
        r = fe_error_set(c->err, fe_err_unsupported, "convert: config.json activation_function '%.40s' is not the tanh GELU llm.c uses", x->type == fe_json_string ? x->str : "?");
        goto done;
    }
    if (((x = fe_json_get(cfg, "scale_attn_weights")) != NULL && x->type == fe_json_bool && !x->boolean) ||
        ((x = fe_json_get(cfg, "scale_attn_by_inverse_layer_idx")) != NULL && x->type == fe_json_bool && x->boolean)) {
        r = fe_error_set(c->err, fe_err_unsupported, "convert: config.json %s = %s changes attention scaling, which llm.c does not support", x->key, x->boolean ? "true" : "false");
        goto done;
    }
    if ((x = fe_json_get(cfg, "tie_word_embeddings")) != NULL && x->type == fe_json_bool && !x->boolean) {
        r = fe_error_set(c->err, fe_err_unsupported, "convert: config.json tie_word_embeddings = false: untied output heads are not supported");
        goto done;
    }
done:
    fe_json_free(doc);
    return r;
}

/* Every input tensor that is not a GPT-2 parameter must be a mask buffer or a tied lm_head. */
static fe_result fe__cv_leftovers(fe__cv *c, const fe_st_tensor *wte) {
    size_t i, l, n = fe_safetensors_count(c->st), pl = strlen(c->prefix);
    for (i = 0; i < n; i++) {
        const fe_st_tensor *t = fe_safetensors_at(c->st, i);
        const char *nm = t->name, *rest;
        if (!strcmp(nm, "lm_head.weight")) {
            int same = t->ndim == 2 && t->shape[0] == c->V && t->shape[1] == c->C && t->dtype != fe_dtype_other;
            size_t where = 0;
            fe_result r;
            if (same && (r = fe__cv_compare(wte, t, 0, &same, &where, c->err)) != fe_ok) return r;
            if (!same) return fe_error_set(c->err, fe_err_unsupported, "convert: lm_head.weight differs from wte.weight: untied output heads are not supported");
            continue;
        }
        if (!strncmp(nm, c->prefix, pl) &&
            (fe__cv_is_global_spec(nm + pl) || (fe__cv_layer_name(nm + pl, &l, &rest) && (fe__cv_is_layer_spec(rest) || fe__cv_is_mask(rest)))))
            continue;
        return fe_error_set(c->err, fe_err_unsupported, "convert: unexpected tensor '%.96s' (not part of a GPT-2 LM)", t->name);
    }
    return fe_ok;
}

/* Every parameter present in both files must agree: the reference is the same model. */
static fe_result fe__cv_check_ref(fe__cv *c) {
    int i;
    size_t l;
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++)
        for (l = 0; l < (fe__cv_specs[i].per_layer ? c->L : 1); l++) {
            char name[128];
            const fe_st_tensor *a, *b;
            int same = 1;
            size_t where = 0;
            fe_result r;
            fe__cv_name(c->prefix, &fe__cv_specs[i], l, name, sizeof name);
            if (!(a = fe_safetensors_find(c->st, name)) || !(b = fe__cv_ref_find(c->ref, &fe__cv_specs[i], l))) continue;
            if (b->dtype == fe_dtype_other || b->ndim != a->ndim || memcmp(b->shape, a->shape, sizeof a->shape))
                return fe_error_set(c->err, fe_err_mismatch, "convert: tensor '%s' of the missing-from file has another dtype or shape than the input's: not the same model", b->name);
            if ((r = fe__cv_compare(a, b, 1, &same, &where, c->err)) != fe_ok) return r;
            if (!same) return fe_error_set(c->err, fe_err_mismatch, "convert: tensor '%s' differs between the input and the missing-from file (element %zu): not the same model", name, where);
        }
    return fe_ok;
}

fe_result fe_convert_hf_model(fe_model **out, const void *st_bytes, size_t st_len,
                              const char *config_json, size_t config_len,
                              const void *missing_from, size_t missing_from_len,
                              const fe_convert_opts *opts, fe_error *err) {
    fe__cv c;
    fe_safetensors *st = NULL, *ref = NULL;
    fe_model *m = NULL;
    const fe_st_tensor *wte, *wpe, *t;
    fe_config cfg;
    fe_load_opts lo;
    float *base[FACTEDIT_NUM_PARAM_TENSORS];
    void *user = opts ? opts->alloc_user : NULL;
    int n_head = opts ? opts->n_head : 0;
    size_t i, l, cfg_nh = 0;
    fe_result r;
    if (!out) return fe_error_set(err, fe_err_arg, "convert: out is NULL");
    *out = NULL;
    if (n_head < 0) return fe_error_set(err, fe_err_arg, "convert: n_head %d is negative", n_head);
    if ((r = fe_safetensors_parse(&st, st_bytes, st_len, user, err)) != fe_ok) return r;
    if (missing_from && (r = fe_safetensors_parse(&ref, missing_from, missing_from_len, user, err)) != fe_ok) {
        fe__cv_prefix(err, r, "convert: missing-from file: ");
        goto done;
    }
    memset(&c, 0, sizeof c);
    c.st = st; c.ref = ref; c.err = err; c.opts = opts;
    c.prefix = fe__cv_detect_prefix(st);

    /* dimensions from wte (V, C), wpe (maxT) and the highest layer index (L) */
    {
        char name[64];
        snprintf(name, sizeof name, "%swte.weight", c.prefix);
        if (!(wte = fe_safetensors_find(st, name)) && ref) wte = fe__cv_ref_find(ref, &fe__cv_specs[0], 0);
        if (!wte) { r = fe__cv_missing(&c, name, *c.prefix ? "" : " (or 'transformer.wte.weight')"); goto done; }
        snprintf(name, sizeof name, "%swpe.weight", c.prefix);
        if (!(wpe = fe_safetensors_find(st, name)) && ref) wpe = fe__cv_ref_find(ref, &fe__cv_specs[1], 0);
        if (!wpe) { r = fe__cv_missing(&c, name, ""); goto done; }
    }
    if (wte->ndim != 2 || wte->shape[0] == 0 || wte->shape[1] == 0) { r = fe_error_set(err, fe_err_mismatch, "convert: wte.weight must be a non-empty [V, C] matrix"); goto done; }
    if (wpe->ndim != 2 || wpe->shape[0] == 0) { r = fe_error_set(err, fe_err_mismatch, "convert: wpe.weight must be a non-empty [maxT, C] matrix"); goto done; }
    c.V = wte->shape[0]; c.C = wte->shape[1]; c.maxT = wpe->shape[0];
    c.L = fe__cv_count_layers(st, c.prefix);
    if (c.L == 0) {
        char name[64];
        snprintf(name, sizeof name, "%sh.0.ln_1.weight", c.prefix);
        r = fe__cv_missing(&c, name, " (no layers found)");
        goto done;
    }
    if (ref) {
        size_t refL = fe__cv_count_layers(ref, fe__cv_detect_prefix(ref));
        if (refL != c.L) { r = fe_error_set(err, fe_err_mismatch, "convert: the input has %zu layers, the missing-from file %zu: not the same model", c.L, refL); goto done; }
    }
    if (c.V > 0x7fffff00u || c.C > 0x7fffffffu / 4 || c.maxT > 0x7fffffffu || c.L > 0x7fffffffu) {
        r = fe_error_set(err, fe_err_limit, "convert: dimensions do not fit the int32 checkpoint header"); goto done;
    }
    c.Vp = (c.V + 127) / 128 * 128;

    /* every tensor present with the right shape before anything big is allocated */
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++)
        for (l = 0; l < (fe__cv_specs[i].per_layer ? c.L : 1); l++)
            if ((r = fe__cv_find(&c, &fe__cv_specs[i], l, &t)) != fe_ok) goto done;

    /* n_head: config.json and/or the option */
    if (config_json && (r = fe__cv_config(&c, config_json, config_len, user, &cfg_nh)) != fe_ok) goto done;
    if (n_head && cfg_nh && (size_t)n_head != cfg_nh) {
        r = fe_error_set(err, fe_err_mismatch, "convert: n_head argument %d disagrees with config.json n_head %zu", n_head, cfg_nh);
        goto done;
    }
    c.NH = n_head ? (size_t)n_head : cfg_nh;
    if (!c.NH) { r = fe_error_set(err, fe_err_arg, "convert: n_head unknown: pass config.json with \"n_head\" or give n_head explicitly"); goto done; }
    if (c.C % c.NH) { r = fe_error_set(err, fe_err_mismatch, "convert: n_embd %zu is not divisible by n_head %zu", c.C, c.NH); goto done; }

    if ((r = fe__cv_leftovers(&c, wte)) != fe_ok) goto done;
    if (ref && (r = fe__cv_check_ref(&c)) != fe_ok) goto done;

    /* the model: zero weights (so wte's padding rows stay zero), filled tensor by tensor */
    cfg.max_seq_len = (int)c.maxT; cfg.vocab_size = (int)c.V; cfg.padded_vocab_size = (int)c.Vp;
    cfg.num_layers = (int)c.L; cfg.num_heads = (int)c.NH; cfg.channels = (int)c.C;
    memset(&lo, 0, sizeof lo);
    lo.alloc_user = user;
    if ((r = fe_model_new(&m, &cfg, &lo, err)) != fe_ok) goto done;
    base[0] = m->params.wte; base[1] = m->params.wpe; base[2] = m->params.ln1w; base[3] = m->params.ln1b;
    base[4] = m->params.qkvw; base[5] = m->params.qkvb; base[6] = m->params.attprojw; base[7] = m->params.attprojb;
    base[8] = m->params.ln2w; base[9] = m->params.ln2b; base[10] = m->params.fcw; base[11] = m->params.fcb;
    base[12] = m->params.fcprojw; base[13] = m->params.fcprojb; base[14] = m->params.lnfw; base[15] = m->params.lnfb;
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) {
        /* per-layer tensors are stacked: layer l starts at l * (elements of one layer) */
        size_t per = fe__cv_specs[i].per_layer ? m->param_sizes[i] / c.L : 0;
        if (i == 0) {   /* wte [V, C] -> the model's panel-layout (Vp, C) matrix, through a plain copy */
            float *tmp = (float *)fe_malloc(sizeof(float) * m->param_sizes[0], user);
            if (!tmp) { r = fe_error_set(err, fe_err_nomem, "convert: cannot allocate %zu floats for wte", m->param_sizes[0]); goto done; }
            memset(tmp, 0, sizeof(float) * m->param_sizes[0]);   /* padding rows V..Vp stay zero */
            if ((r = fe__cv_emit(&c, &fe__cv_specs[0], 0, tmp)) != fe_ok) { fe_free(tmp, user); goto done; }
            fe_weight_pack(base[0], tmp, c.Vp, c.C);
            fe_free(tmp, user);
            continue;
        }
        for (l = 0; l < (fe__cv_specs[i].per_layer ? c.L : 1); l++)
            if ((r = fe__cv_emit(&c, &fe__cv_specs[i], l, base[i] + l * per)) != fe_ok) goto done;
    }
    m->load_checksum = fe_model_checksum(m);
    if (ref && opts && opts->on_fill) {
        for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++)
            for (l = 0; l < (fe__cv_specs[i].per_layer ? c.L : 1); l++) {
                char name[128];
                fe__cv_name(c.prefix, &fe__cv_specs[i], l, name, sizeof name);
                if (!fe_safetensors_find(st, name)) opts->on_fill(opts->on_fill_user, name);
            }
    }
    *out = m;
    m = NULL;
    r = fe_ok;
    if (err) { err->code = fe_ok; err->msg[0] = 0; }
done:
    fe_model_free(m);
    fe_safetensors_free(ref);
    fe_safetensors_free(st);
    return r;
}

fe_result fe_convert_hf(const void *st_bytes, size_t st_len, const char *config_json, size_t config_len,
                        int n_head_override, int out_version, unsigned char **out_bytes, size_t *out_len,
                        void *alloc_user, fe_error *err) {
    fe_convert_opts o;
    fe_model *m;
    fe_result r;
    if (!out_bytes || !out_len) return fe_error_set(err, fe_err_arg, "convert: out_bytes / out_len is NULL");
    *out_bytes = NULL; *out_len = 0;
    if (out_version != 3 && out_version != 5) return fe_error_set(err, fe_err_arg, "convert: version %d (need 3 = fp32 or 5 = bf16)", out_version);
    memset(&o, 0, sizeof o);
    o.n_head = n_head_override; o.alloc_user = alloc_user;
    if ((r = fe_convert_hf_model(&m, st_bytes, st_len, config_json, config_len, NULL, 0, &o, err)) != fe_ok) return r;
    r = fe_model_save_mem(m, out_version, out_bytes, out_len, err);
    fe_model_free(m);
    return r;
}

void fe_convert_free(unsigned char *bytes, void *alloc_user) { fe_free(bytes, alloc_user); }

#ifndef FACTEDIT_NO_STDIO
fe_result fe_convert_hf_model_files(fe_model **out, const char *st_path, const char *config_path,
                                    const char *missing_from_path, const fe_convert_opts *opts, fe_error *err) {
    unsigned char *st = NULL, *cfg = NULL, *ref = NULL;
    size_t st_len = 0, cfg_len = 0, ref_len = 0;
    void *user = opts ? opts->alloc_user : NULL;
    fe_result r;
    if (!out) return fe_error_set(err, fe_err_arg, "convert: out is NULL");
    *out = NULL;
    if (!st_path) return fe_error_set(err, fe_err_arg, "convert: model path is NULL");
    if ((r = fe_read_file(st_path, &st, &st_len, user, err)) != fe_ok) { fe__cv_prefix(err, r, "convert: "); goto done; }
    if (config_path && (r = fe_read_file(config_path, &cfg, &cfg_len, user, err)) != fe_ok) { fe__cv_prefix(err, r, "convert: config: "); goto done; }
    if (missing_from_path && (r = fe_read_file(missing_from_path, &ref, &ref_len, user, err)) != fe_ok) { fe__cv_prefix(err, r, "convert: missing-from: "); goto done; }
    r = fe_convert_hf_model(out, st, st_len, (const char *)cfg, cfg_len, ref, ref_len, opts, err);
    if (r != fe_ok && err && strncmp(err->msg, "convert: ", 9) != 0) {
        /* a parse error of the input: say which file */
        char pre[200];
        snprintf(pre, sizeof pre, "convert: '%.150s': ", st_path);
        fe__cv_prefix(err, r, pre);
    }
done:
    fe_free(st, user);
    fe_free(cfg, user);
    fe_free(ref, user);
    return r;
}

fe_result fe_convert_hf_file(const char *st_path, const char *config_path, int n_head, int version, const char *out_path, fe_error *err) {
    fe_convert_opts o;
    fe_model *m;
    fe_result r;
    if (!st_path || !out_path) return fe_error_set(err, fe_err_arg, "convert: model path / output path is NULL");
    if (version != 3 && version != 5) return fe_error_set(err, fe_err_arg, "convert: version %d (need 3 = fp32 or 5 = bf16)", version);
    memset(&o, 0, sizeof o);
    o.n_head = n_head;
    if ((r = fe_convert_hf_model_files(&m, st_path, config_path, NULL, &o, err)) != fe_ok) return r;
    r = fe_model_save_file(m, out_path, version, err);
    fe_model_free(m);
    return r;
}
#endif
