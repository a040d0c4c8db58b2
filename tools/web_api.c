/* The page's C API (see web_api.h): factedit.h for the WebAssembly module (make wasm) and, natively,
   for tools/web_native.c (the tests compare both). Everything here drives the header's public API
   the way the CLI does (tools/cmd_trace.c's one-prompt trace, tools/cmd_rome.c's edit). */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "web_api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================== output ============== */

typedef struct fw_buf { char *p; size_t len, cap; int failed; } fw_buf;
static fw_buf out_buf;
static fe_error last_err;

static void ob_putn(const char *s, size_t n) {
    fw_buf *b = &out_buf;
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + n + 1) cap *= 2;
        if (!(p = (char *)realloc(b->p, cap))) { b->failed = 1; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void ob_puts(const char *s) { ob_putn(s, strlen(s)); }
#if defined(__GNUC__) || defined(__clang__)
static void ob_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
static void ob_printf(const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= 0) ob_putn(tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
/* JSON string; bytes that are not valid UTF-8 become U+FFFD (tokens can split characters). */
static void ob_str(const char *s, size_t n) {
    size_t i = 0;
    ob_puts("\"");
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = 0, k;
        if (c == '"' || c == '\\') { ob_printf("\\%c", c); i++; continue; }
        if (c < 0x20 || c == 0x7F) { ob_printf("\\u%04x", c); i++; continue; }
        if (c < 0x80) { ob_putn(s + i, 1); i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) len = 3;
        else if (c >= 0xF0 && c <= 0xF4) len = 4;
        for (k = 1; len && k < len; k++)
            if (i + k >= n || ((unsigned char)s[i + k] & 0xC0) != 0x80) len = 0;
        if (len == 3 && ((c == 0xE0 && (unsigned char)s[i + 1] < 0xA0) || (c == 0xED && (unsigned char)s[i + 1] > 0x9F))) len = 0;
        if (len == 4 && ((c == 0xF0 && (unsigned char)s[i + 1] < 0x90) || (c == 0xF4 && (unsigned char)s[i + 1] > 0x8F))) len = 0;
        if (!len) { ob_puts("\\ufffd"); i++; continue; }
        ob_putn(s + i, len);
        i += len;
    }
    ob_puts("\"");
}
static void ob_num(double x, int digits) {
    if (!isfinite(x)) ob_puts("null");
    else ob_printf("%.*g", digits, x == 0 ? 0.0 : x);
}
static void ob_reset(void) { out_buf.len = 0; out_buf.failed = 0; if (out_buf.p) out_buf.p[0] = 0; }
static const char *ob_done(void) {
    if (out_buf.failed || !out_buf.p) {
        last_err.code = fe_err_nomem;
        snprintf(last_err.msg, sizeof last_err.msg, "out of memory while writing the result");
        return NULL;
    }
    return out_buf.p;
}
static const char *failf(fe_result code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    last_err.code = code;
    vsnprintf(last_err.msg, sizeof last_err.msg, fmt, ap);
    va_end(ap);
    return NULL;
}
static const char *fail_err(const fe_error *e) { last_err = *e; return NULL; }

/* ================================================================== state =============== */

static fe_model *W_m;
static fe_vocab *W_v;
static fe_cov *W_cov;
static int W_stats_layer = -1;
static uint64_t W_stats_tokens;
static fe_edit *W_edit;
static fe_rome_rows *W_rows;
static fw_progress_fn W_progress;
static unsigned char *W_patch;   /* fw_edit_save's bytes */
static uint64_t W_checksum0;     /* the weights the edit was computed for */

#if defined(__wasm__)
__attribute__((import_module("env"), import_name("fw_progress"))) void fw_js_progress(int iter, int evals, double loss, double nll,
                                                                                       double kl, double wd, double delta_norm);
#endif

void fw_set_progress(fw_progress_fn fn) { W_progress = fn; }
FW_EXPORT(fw_alloc) void *fw_alloc(size_t n) { return malloc(n ? n : 1); }
FW_EXPORT(fw_free) void fw_free(void *p) { free(p); }
FW_EXPORT(fw_error) const char *fw_error(void) { return last_err.msg; }

static void drop_edit(void) {
    fe_edit_free(W_edit); W_edit = NULL;
    fe_rome_rows_free(W_rows); W_rows = NULL;
}

FW_EXPORT(fw_init) int fw_init(const void *model, size_t model_len, const char *encoder, size_t encoder_len, const char *bpe,
                               size_t bpe_len, const void *stats, size_t stats_len) {
    fe_load_opts lo;
    fe_stats_info info;
    fe_error e;
    drop_edit();
    fe_free(W_patch, NULL); W_patch = NULL;
    fe_cov_free(W_cov); W_cov = NULL; W_stats_layer = -1; W_stats_tokens = 0;
    fe_vocab_free(W_v); W_v = NULL;
    fe_model_free(W_m); W_m = NULL;
    memset(&lo, 0, sizeof lo);
    memset(&last_err, 0, sizeof last_err);
    if (fe_model_load_mem(&W_m, model, model_len, &lo, &e) != fe_ok) { fail_err(&e); return 1; }
    if (fe_vocab_load_mem(&W_v, encoder, encoder ? encoder_len : 0, bpe, bpe_len, NULL, &e) != fe_ok) { fail_err(&e); goto bad; }
    if (fe_vocab_size(W_v) > (size_t)W_m->config.vocab_size) {
        failf(fe_err_mismatch, "the vocabulary has %lu tokens, more than the model's %d: it belongs to another model",
              (unsigned long)fe_vocab_size(W_v), W_m->config.vocab_size);
        goto bad;
    }
    if (stats && stats_len) {
        if (fe_stats_load_mem(&W_cov, &info, stats, stats_len, W_m, NULL, &e) != fe_ok) { fail_err(&e); goto bad; }
        if (info.layer == W_m->config.num_layers - 1) {
            failf(fe_err_arg, "the statistics are for layer %d, the model's last: an edit there changes nothing", info.layer);
            goto bad;
        }
        W_stats_layer = info.layer;
        W_stats_tokens = info.count;
        /* the Cholesky factor once (as the CLI does); without it the solves fall back to Jacobi CG */
        (void)fe_cov_factor(W_cov, 0.0, &e);
    }
    return 0;
bad:
    fe_cov_free(W_cov); W_cov = NULL;
    fe_vocab_free(W_v); W_v = NULL;
    fe_model_free(W_m); W_m = NULL;
    return 1;
}

static int need_model(void) {
    if (W_m && W_v) return 0;
    failf(fe_err_arg, "no model loaded (fw_init)");
    return 1;
}
static int edit_layer(void) {
    fe_rome_hparams hp;
    if (W_stats_layer >= 0) return W_stats_layer;
    fe_rome_hparams_for(&hp, W_m);
    return hp.layer;
}
static int trace_window(void) { int w = (W_m->config.num_layers + 2) / 4; return w < 1 ? 1 : w; }

FW_EXPORT(fw_info) const char *fw_info(void) {
    const fe_config *c;
    if (need_model()) return NULL;
    c = &W_m->config;
    ob_reset();
    ob_printf("{\"layers\": %d, \"width\": %d, \"heads\": %d, \"context\": %d, \"vocab\": %d, \"checksum\": \"%016llx\", ",
              c->num_layers, c->channels, c->num_heads, c->max_seq_len, c->vocab_size, (unsigned long long)fe_model_checksum(W_m));
    ob_printf("\"edit_layer\": %d, \"stats_tokens\": %llu, \"simd\": \"%s\", \"trace_window\": %d}", edit_layer(),
              (unsigned long long)W_stats_tokens, fe_simd_name(), trace_window());
    return ob_done();
}

/* text -> ids that fit the model (1 .. context tokens); *ids freed with fe_ids_free */
static int encode(const char *what, const char *text, int **ids, size_t *n) {
    fe_error e;
    size_t i;
    if (!text) { failf(fe_err_arg, "no %s given", what); return 1; }
    if (fe_encode(W_v, text, strlen(text), ids, n, &e) != fe_ok) { fail_err(&e); return 1; }
    if (*n == 0) { fe_ids_free(W_v, *ids); failf(fe_err_arg, "the %s is empty", what); return 1; }
    if (*n > (size_t)W_m->config.max_seq_len) {
        fe_ids_free(W_v, *ids);
        failf(fe_err_range, "the %s is %lu tokens, longer than the model's context of %d", what, (unsigned long)*n, W_m->config.max_seq_len);
        return 1;
    }
    for (i = 0; i < *n; i++)
        if ((*ids)[i] >= W_m->config.vocab_size) {
            fe_ids_free(W_v, *ids);
            failf(fe_err_mismatch, "token id %d of the %s is outside the model's vocabulary", (*ids)[i], what);
            return 1;
        }
    return 0;
}
static void ob_token(int id) {
    size_t n;
    const char *s = fe_token_bytes(W_v, id, &n);
    if (!s) { s = "?"; n = 1; }
    ob_str(s, n);
}

FW_EXPORT(fw_tokenize) const char *fw_tokenize(const char *text) {
    int *ids;
    size_t n, i;
    fe_error e;
    if (need_model()) return NULL;
    if (!text) return failf(fe_err_arg, "no text given");
    if (fe_encode(W_v, text, strlen(text), &ids, &n, &e) != fe_ok) return fail_err(&e);
    ob_reset();
    ob_puts("[");
    for (i = 0; i < n; i++) { ob_printf("%s{\"id\": %d, \"text\": ", i ? ", " : "", ids[i]); ob_token(ids[i]); ob_puts("}"); }
    ob_puts("]");
    fe_ids_free(W_v, ids);
    return ob_done();
}

FW_EXPORT(fw_generate) const char *fw_generate(const char *text, int n) {
    int *ids, *out = NULL, i;
    size_t np;
    char *t = NULL;
    size_t tl = 0;
    fe_error e;
    if (need_model() || encode("prompt", text, &ids, &np)) return NULL;
    if (n > W_m->config.max_seq_len - (int)np) n = W_m->config.max_seq_len - (int)np;
    if (n < 0) n = 0;
    if (!(out = (int *)calloc((size_t)(n ? n : 1), sizeof(int)))) { fe_ids_free(W_v, ids); return failf(fe_err_nomem, "out of memory"); }
    if ((n && fe_generate(W_m, ids, (int)np, n, NULL, NULL, out, &e) != fe_ok) || fe_decode(W_v, out, (size_t)n, &t, &tl, &e) != fe_ok) {
        free(out); fe_ids_free(W_v, ids);
        return fail_err(&e);
    }
    ob_reset();
    ob_puts("{\"text\": ");
    ob_str(t, tl);
    ob_puts(", \"ids\": [");
    for (i = 0; i < n; i++) ob_printf("%s%d", i ? ", " : "", out[i]);
    ob_puts("]}");
    fe_text_free(W_v, t);
    free(out);
    fe_ids_free(W_v, ids);
    return ob_done();
}

/* The last position's logits of text into a malloc'd V floats. */
static float *last_logits(const char *text) {
    int *ids;
    size_t n;
    fe_state *s = NULL;
    fe_forward_opts fo;
    fe_error e;
    float *lg = NULL;
    int V = W_m->config.vocab_size;
    if (encode("prompt", text, &ids, &n)) return NULL;
    memset(&fo, 0, sizeof fo);
    if (fe_state_new(&s, W_m, 1, (int)n, 0, &e) != fe_ok || fe_forward(W_m, s, ids, (int)n, &fo, &e) != fe_ok) fail_err(&e);
    else if (!(lg = (float *)malloc(sizeof(float) * (size_t)V))) failf(fe_err_nomem, "out of memory");
    else memcpy(lg, fe_state_logits(s, 0, -1), sizeof(float) * (size_t)V);
    fe_state_free(s);
    fe_ids_free(W_v, ids);
    return lg;
}

FW_EXPORT(fw_topk) const char *fw_topk(const char *text, int k) {
    int V, i, j, *best;
    float *lg, *p;
    if (need_model()) return NULL;
    V = W_m->config.vocab_size;
    if (k < 1) k = 1;
    if (k > V) k = V;
    if (!(lg = last_logits(text))) return NULL;
    p = (float *)malloc(sizeof(float) * (size_t)V);
    best = (int *)malloc(sizeof(int) * (size_t)k);
    if (!p || !best) { free(lg); free(p); free(best); return failf(fe_err_nomem, "out of memory"); }
    fe_softmax(lg, p, V);
    for (j = 0; j < k; j++) {   /* the k largest, ties to the lower id (as the CLI's top 5) */
        int b = -1, t;
        for (i = 0; i < V; i++) {
            int taken = 0;
            for (t = 0; t < j; t++) taken |= best[t] == i;
            if (!taken && (b < 0 || p[i] > p[b])) b = i;
        }
        best[j] = b;
    }
    ob_reset();
    ob_puts("{\"text\": ");
    ob_str(text, strlen(text));
    ob_puts(", \"top\": [");
    for (j = 0; j < k; j++) {
        ob_printf("%s{\"id\": %d, \"token\": ", j ? ", " : "", best[j]);
        ob_token(best[j]);
        ob_puts(", \"p\": "); ob_num(p[best[j]], 9);
        ob_puts(", \"logit\": "); ob_num(lg[best[j]], 9);
        ob_puts("}");
    }
    ob_puts("]}");
    free(lg); free(p); free(best);
    return ob_done();
}

FW_EXPORT(fw_logits) const char *fw_logits(const char *text) {
    int V, i;
    float *lg;
    if (need_model()) return NULL;
    V = W_m->config.vocab_size;
    if (!(lg = last_logits(text))) return NULL;
    ob_reset();
    ob_puts("{\"text\": ");
    ob_str(text, strlen(text));
    ob_puts(", \"logits\": [");
    for (i = 0; i < V; i++) { if (i) ob_puts(", "); ob_num(lg[i], 9); }
    ob_puts("]}");
    free(lg);
    return ob_done();
}

FW_EXPORT(fw_trace) const char *fw_trace(const char *prompt, const char *subject, int kinds, int samples, int window,
                                         double noise_sigmas, double seed) {
    static const char *const names[3] = {"hidden", "mlp", "attn"};
    int *ids;
    size_t n, sb, se;
    double emb_std;
    fe_trace_opts o;
    fe_trace_result r;
    fe_error e;
    int t, l, k;
    if (need_model()) return NULL;
    if (!subject || !*subject) return failf(fe_err_arg, "no subject given");
    if (kinds < 1 || kinds > 7) return failf(fe_err_arg, "kinds must be a mask of 1 (hidden), 2 (mlp) and 4 (attn)");
    if (samples < 1 || samples > 1000) return failf(fe_err_arg, "samples must be 1 .. 1000");
    if (window < 1) window = trace_window();
    if (!(noise_sigmas > 0) || !isfinite(noise_sigmas)) return failf(fe_err_arg, "the noise must be a positive multiple of the embeddings' std");
    if (!(seed >= 0) || seed > 9007199254740992.0) return failf(fe_err_arg, "the seed must be an integer 0 .. 2^53");
    if (encode("prompt", prompt, &ids, &n)) return NULL;
    memset(&r, 0, sizeof r);
    if (fe_subject_span(W_v, prompt, subject, &sb, &se, &e) != fe_ok) goto bad;
    if (fe_embedding_std(W_m, ids + sb, se - sb, &emb_std, &e) != fe_ok) goto bad;
    o = fe_trace_opts_default();
    o.samples = samples; o.window = window; o.seed = (uint64_t)seed;
    o.noise = (float)(noise_sigmas * emb_std);
    if (!(o.noise > 0) || !isfinite(o.noise)) {
        fe_ids_free(W_v, ids);
        return failf(fe_err_arg, "the noise level is 0 (the subject's embeddings are all equal?)");
    }
    if (fe_trace(W_m, ids, (int)n, sb, se, (unsigned)kinds, &o, &r, &e) != fe_ok) goto bad;
    ob_reset();
    ob_puts("{\"tokens\": [");
    for (t = 0; t < (int)n; t++) { if (t) ob_puts(", "); ob_token(ids[t]); }
    ob_printf("], \"ids\": [");
    for (t = 0; t < (int)n; t++) ob_printf("%s%d", t ? ", " : "", ids[t]);
    ob_printf("], \"subject\": [%lu, %lu], \"answer\": {\"id\": %d, \"token\": ", (unsigned long)sb, (unsigned long)se, r.answer);
    ob_token(r.answer);
    ob_puts("}, \"high\": "); ob_num(r.high, 17);
    ob_puts(", \"low\": "); ob_num(r.low, 17);
    ob_puts(", \"noise\": "); ob_num(o.noise, 9);
    ob_puts(", \"embedding_std\": "); ob_num(emb_std, 17);
    ob_printf(", \"samples\": %d, \"window\": %d, \"layers\": %d, \"scores\": {", samples, window, r.L);
    for (k = 0; k < 3; k++) {
        ob_printf("%s\"%s\": ", k ? ", " : "", names[k]);
        if (!r.scores[k]) { ob_puts("null"); continue; }
        ob_puts("[");
        for (t = 0; t < r.T; t++) {
            ob_puts(t ? ", [" : "[");
            for (l = 0; l < r.L; l++) { if (l) ob_puts(", "); ob_num(r.scores[k][(size_t)t * r.L + l], 9); }
            ob_puts("]");
        }
        ob_puts("]");
    }
    ob_puts("}}");
    fe_trace_result_free(&r);
    fe_ids_free(W_v, ids);
    return ob_done();
bad:
    fe_trace_result_free(&r);
    fe_ids_free(W_v, ids);
    return fail_err(&e);
}

/* ================================================================== edit ================ */

static void on_progress(void *user, int iter, int evals, const fe_vparts *p, double dn) {
    (void)user;
#if defined(__wasm__)
    fw_js_progress(iter, evals, p->loss, p->nll, p->kl, p->wd, dn);
#endif
    if (W_progress) W_progress(iter, evals, p->loss, p->nll, p->kl, p->wd, dn);
}
static void ob_parts(const char *name, const fe_vparts *p) {
    ob_printf("\"%s\": {\"loss\": ", name); ob_num(p->loss, 17);
    ob_puts(", \"nll\": "); ob_num(p->nll, 17);
    ob_puts(", \"kl\": "); ob_num(p->kl, 17);
    ob_puts(", \"wd\": "); ob_num(p->wd, 17);
    ob_puts("}");
}
/* p(target | the edit's filled prompt) on the model as it is now; NaN on failure */
static double p_target(void) {
    double nll;
    fe_error e;
    const char *pp = W_rows->text, *tt = W_rows->target_text;
    if (fe_target_nll(W_m, W_v, &pp, &tt, 1, &nll, &e) != fe_ok) return NAN;
    return exp(-nll);
}

FW_EXPORT(fw_edit_compute) const char *fw_edit_compute(const char *prompt, const char *subject, const char *target, double seed) {
    fe_templates *tpl = NULL;
    fe_text_request q;
    fe_rome_hparams hp;
    fe_rng rng;
    fe_error e;
    const fe_rome_report *rp;
    const char *ls;
    size_t ln;
    if (need_model()) return NULL;
    if (W_edit && W_edit->applied) return failf(fe_err_arg, "an edit is applied: undo it first");
    if (!(seed >= 0) || seed > 9007199254740992.0) return failf(fe_err_arg, "the seed must be an integer 0 .. 2^53");
    drop_edit();
    fe_rome_hparams_for(&hp, W_m);
    hp.layer = edit_layer();
    if (hp.layer >= W_m->config.num_layers - 1) return failf(fe_err_arg, "a model of %d layers has no layer an edit can change", W_m->config.num_layers);
    hp.progress = on_progress; hp.progress_user = NULL;
    q.prompt = prompt; q.subject = subject; q.target = target;
    /* the request alone first: a bad one fails before the templates are generated */
    if (fe_rome_rows_new(&W_rows, W_m, W_v, &q, NULL, &e) != fe_ok) return fail_err(&e);
    fe_rome_rows_free(W_rows); W_rows = NULL;
    fe_rng_seed(&rng, (uint64_t)seed);
    if (fe_templates_rome(&tpl, W_m, W_v, &rng, &e) != fe_ok) return fail_err(&e);
    if (fe_rome_rows_new(&W_rows, W_m, W_v, &q, tpl, &e) != fe_ok) { fe_templates_free(tpl); return fail_err(&e); }
    fe_templates_free(tpl);
    if (fe_rome_compute_rows(W_m, W_rows, &hp, W_cov, &W_edit, &e) != fe_ok) { drop_edit(); return fail_err(&e); }
    rp = &W_edit->report;
    W_checksum0 = fe_model_checksum(W_m);
    if (rp->delta_norm == 0) {
        drop_edit();
        return failf(fe_err_numeric, "the edit changes nothing: the solver ended at |delta| = 0 (no change of layer %d's MLP output "
                                     "at the subject lowers the loss)", hp.layer);
    }
    ob_reset();
    ob_printf("{\"layer\": %d, \"prompt\": ", hp.layer);
    ob_str(W_rows->text, strlen(W_rows->text));
    ob_puts(", \"target\": ");
    ob_str(W_rows->target_text, strlen(W_rows->target_text));
    ls = fe_token_bytes(W_v, W_rows->bare.ids[W_rows->bare.lookup], &ln);
    ob_printf(", \"subject_last\": {\"pos\": %d, \"token\": ", W_rows->bare.lookup);
    ob_str(ls ? ls : "?", ls ? ln : 1);
    ob_printf("}, \"contexts\": %d, \"covariance\": %s, \"report\": {\"iters\": %d, \"evals\": %d, \"grads\": %d, \"status\": %d, ",
              W_rows->n_ctx, W_cov ? "true" : "false", rp->iters, rp->evals, rp->grads, rp->status);
    ob_parts("first", &rp->first);
    ob_puts(", ");
    ob_parts("last", &rp->last);
    ob_puts(", \"delta_norm\": "); ob_num(rp->delta_norm, 17);
    ob_puts(", \"clamp\": "); ob_num(rp->clamp, 17);
    ob_printf(", \"cg_iters\": %d}, \"p_target\": ", rp->cg_iters);
    ob_num(p_target(), 17);
    ob_puts("}");
    return ob_done();
}

static const char *edit_state(void) {
    ob_reset();
    ob_printf("{\"applied\": %d, \"checksum\": \"%016llx\", \"p_target\": ", W_edit && W_edit->applied,
              (unsigned long long)fe_model_checksum(W_m));
    ob_num(W_rows ? p_target() : NAN, 17);
    ob_puts("}");
    return ob_done();
}
FW_EXPORT(fw_edit_apply) const char *fw_edit_apply(void) {
    fe_error e;
    if (need_model()) return NULL;
    if (!W_edit) return failf(fe_err_arg, "no edit computed (fw_edit_compute)");
    if (W_edit->applied) return failf(fe_err_arg, "the edit is already applied");
    if (fe_edit_apply(W_m, W_edit, &e) != fe_ok) return fail_err(&e);
    return edit_state();
}
FW_EXPORT(fw_edit_undo) const char *fw_edit_undo(void) {
    fe_error e;
    if (need_model()) return NULL;
    if (!W_edit || !W_edit->applied) return failf(fe_err_arg, "no edit is applied");
    if (fe_edit_undo(W_m, W_edit, &e) != fe_ok) return fail_err(&e);
    return edit_state();
}

FW_EXPORT(fw_edit_save) const unsigned char *fw_edit_save(size_t *len) {
    fe_patch p;
    fe_error e;
    if (need_model()) return NULL;
    if (!W_edit || !W_rows) { failf(fe_err_arg, "no edit computed (fw_edit_compute)"); return NULL; }
    memset(&p, 0, sizeof p);
    p.edit = W_edit; p.model_checksum = W_checksum0; p.num_layers = W_m->config.num_layers;
    p.prompt = W_rows->template_text; p.subject = (char *)""; p.target = W_rows->target_text;
    fe_free(W_patch, NULL); W_patch = NULL;
    if (fe_patch_save_mem(&p, &W_patch, len, NULL, &e) != fe_ok) { fail_err(&e); return NULL; }
    return W_patch;
}

FW_EXPORT(fw_patch_apply) const char *fw_patch_apply(const void *bytes, size_t len) {
    fe_patch *p = NULL;
    fe_error e;
    if (need_model()) return NULL;
    if (W_edit && W_edit->applied) return failf(fe_err_arg, "an edit is applied: undo it first");
    if (fe_patch_load_mem(&p, bytes, len, W_m, NULL, &e) != fe_ok) return fail_err(&e);
    drop_edit();
    W_edit = p->edit; p->edit = NULL;
    fe_patch_free(p);
    if (fe_edit_apply(W_m, W_edit, &e) != fe_ok) { drop_edit(); return fail_err(&e); }
    return edit_state();
}
