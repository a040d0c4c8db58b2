/* train: trains a small GPT-2 on a text corpus with factedit.h's forward and backward passes.
   AdamW with linear warmup and a cosine schedule, seeded, deterministic for a given thread count.
   Writes an llm.c checkpoint plus its vocabulary (encoder.json + vocab.bpe) into --out DIR.

   The corpus is one document per line (demo/README-data.md): every line is encoded on its own and
   lines are joined with <|endoftext|>. Training sequences start at line starts, so every fact is
   seen from its first token. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime under -std=c99 */
#include "factedit.h"
#include "train.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The token stream of a one-document-per-line corpus: EOT line EOT line ... EOT.
   starts[i] = index of the EOT before line i. */
typedef struct corpus { int *tok; size_t n, cap; size_t *starts; size_t nlines, lcap; } corpus;

static int push_tok(corpus *c, int t) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 4096;
        int *p = (int *)realloc(c->tok, nc * sizeof *p);
        if (!p) return 0;
        c->tok = p; c->cap = nc;
    }
    c->tok[c->n++] = t;
    return 1;
}

static fe_result corpus_load(corpus *c, const fe_vocab *v, const char *path, fe_error *e) {
    unsigned char *text;
    size_t len, i = 0, j, k;
    fe_result r;
    int eot = fe_vocab_eot(v);
    memset(c, 0, sizeof *c);
    if (eot < 0) { snprintf(e->msg, sizeof e->msg, "train: the vocabulary has no <|endoftext|> token"); return fe_err_arg; }
    if ((r = fe_read_file(path, &text, &len, NULL, e)) != fe_ok) return r;
    while (i < len) {
        int *ids;
        size_t n;
        for (j = i; j < len && text[j] != '\n'; j++) {}
        if (j > i) {
            if ((r = fe_encode(v, (const char *)text + i, j - i, &ids, &n, e)) != fe_ok) { free(text); return r; }
            if (c->nlines == c->lcap) {
                c->lcap = c->lcap ? 2 * c->lcap : 1024;
                c->starts = (size_t *)realloc(c->starts, c->lcap * sizeof *c->starts);
                if (!c->starts) { fe_ids_free(v, ids); free(text); return fe_err_nomem; }
            }
            c->starts[c->nlines++] = c->n;
            if (!push_tok(c, eot)) { fe_ids_free(v, ids); free(text); return fe_err_nomem; }
            for (k = 0; k < n; k++) if (!push_tok(c, ids[k])) { fe_ids_free(v, ids); free(text); return fe_err_nomem; }
            fe_ids_free(v, ids);
        }
        i = j + 1;
    }
    free(text);
    if (!push_tok(c, eot)) return fe_err_nomem;
    if (c->nlines == 0) { snprintf(e->msg, sizeof e->msg, "train: corpus '%s' has no text", path); return fe_err_arg; }
    return fe_ok;
}

void fe_train_defaults(fe_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->layers = 4; o->heads = 4; o->width = 128; o->context = 64;
    o->batch = 16; o->seq = 64; o->steps = 2000; o->lr = 3e-3f; o->min_lr_frac = 0.1f;
    o->warmup = 100; o->weight_decay = 0.0f; o->seed = 1; o->version = 3;
}

fe_result fe_train(const fe_train_opts *o, fe_model **out, FILE *progress, fe_error *e) {
    fe_vocab *v = NULL;
    corpus cp;
    fe_model *m = NULL;
    fe_state *s = NULL;
    fe_config cfg;
    fe_rng rng;
    float *grads = NULL, *mom = NULL, *var = NULL;
    int *inp = NULL, *tgt = NULL, step, b, t;
    fe_result r;
    double t0 = now_s(), loss_avg = 0.0;
    size_t tokens_done = 0;
    *out = NULL;
    memset(&cp, 0, sizeof cp);
    if (o->seq > o->context || o->seq < 2) { snprintf(e->msg, sizeof e->msg, "train: --seq %d must be in [2, context %d]", o->seq, o->context); return fe_err_arg; }
    if ((r = fe_vocab_load_dir(&v, o->vocab_dir, NULL, e)) != fe_ok) return r;
    if ((r = corpus_load(&cp, v, o->corpus, e)) != fe_ok) goto done;
    cfg.max_seq_len = o->context; cfg.vocab_size = (int)fe_vocab_size(v); cfg.padded_vocab_size = (cfg.vocab_size + 127) / 128 * 128;
    cfg.num_layers = o->layers; cfg.num_heads = o->heads; cfg.channels = o->width;
    if (o->init) {
        fe_load_opts lo;
        memset(&lo, 0, sizeof lo);
        lo.no_mmap = 1;   /* training writes every weight */
        if ((r = fe_model_load_file(&m, o->init, &lo, e)) != fe_ok) goto done;
        if (m->config.vocab_size != cfg.vocab_size || o->seq > m->config.max_seq_len) {
            r = fe_err_mismatch;
            snprintf(e->msg, sizeof e->msg, "train: --init model has vocabulary %d and context %d; the corpus vocabulary has %d tokens, --seq is %d",
                     m->config.vocab_size, m->config.max_seq_len, cfg.vocab_size, o->seq);
            goto done;
        }
        cfg = m->config;
    } else {
        if ((r = fe_model_new(&m, &cfg, NULL, e)) != fe_ok) goto done;
        fe_model_randomize(m, o->seed);
    }
    if ((r = fe_state_new(&s, m, o->batch, o->seq, 0, e)) != fe_ok) goto done;
    grads = (float *)calloc(m->num_params, sizeof(float));
    mom = (float *)calloc(m->num_params, sizeof(float));
    var = (float *)calloc(m->num_params, sizeof(float));
    inp = (int *)malloc(sizeof(int) * (size_t)o->batch * o->seq);
    tgt = (int *)malloc(sizeof(int) * (size_t)o->batch * o->seq);
    if (!grads || !mom || !var || !inp || !tgt) { r = fe_err_nomem; snprintf(e->msg, sizeof e->msg, "train: out of memory"); goto done; }
    fe_rng_seed(&rng, o->seed ^ 0x7261696eull);
    if (progress) fprintf(progress, "train: %zu lines, %zu tokens, vocabulary %d; model L=%d C=%d NH=%d (%zu parameters); %d steps of %d x %d tokens\n",
                          cp.nlines, cp.n, cfg.vocab_size, cfg.num_layers, cfg.channels, cfg.num_heads, m->num_params, o->steps, o->batch, o->seq);
    for (step = 1; step <= o->steps; step++) {
        double loss, lr;
        /* each row: seq+1 tokens from a random line start (wrapping at the end of the stream) */
        for (b = 0; b < o->batch; b++) {
            size_t st = cp.starts[fe_rng_u64(&rng) % cp.nlines];
            for (t = 0; t < o->seq; t++) {
                inp[b * o->seq + t] = cp.tok[(st + (size_t)t) % cp.n];
                tgt[b * o->seq + t] = cp.tok[(st + (size_t)t + 1) % cp.n];
            }
        }
        memset(grads, 0, sizeof(float) * m->num_params);
        if ((r = fe_lm_grad(m, s, inp, tgt, o->seq, grads, &loss, e)) != fe_ok) goto done;
        if (step <= o->warmup) lr = o->lr * step / o->warmup;
        else {
            double p = (double)(step - o->warmup) / (double)(o->steps - o->warmup > 0 ? o->steps - o->warmup : 1);
            lr = o->lr * (o->min_lr_frac + (1.0 - o->min_lr_frac) * 0.5 * (1.0 + cos(3.141592653589793 * p)));
        }
        fe_adamw_update(m->blob, grads, mom, var, m->num_params, (float)lr, 0.9f, 0.95f, 1e-8f, o->weight_decay, step);
        /* keep the padding rows of wte at zero, as in llm.c */
        {   /* wte is a panel-layout (Vp, C) matrix: row o, column i at fe_weight_index */
            size_t o2, i2, Vp = (size_t)cfg.padded_vocab_size, C2 = (size_t)cfg.channels;
            for (o2 = (size_t)cfg.vocab_size; o2 < Vp; o2++) for (i2 = 0; i2 < C2; i2++) m->params.wte[fe_weight_index(Vp, C2, o2, i2)] = 0.0f;
        }
        tokens_done += (size_t)o->batch * o->seq;
        loss_avg = step == 1 ? loss : 0.98 * loss_avg + 0.02 * loss;
        if (progress && (step % 10 == 0 || step == o->steps)) {
            double el = now_s() - t0, eta = el / step * (o->steps - step);
            int bar = (int)(30.0 * step / o->steps), i;
            fprintf(progress, "\r[");
            for (i = 0; i < 30; i++) fputc(i < bar ? '#' : '.', progress);
            fprintf(progress, "] step %d/%d loss %.3f lr %.2e %.0f tok/s ETA %.0fs   ", step, o->steps, loss_avg, lr, tokens_done / el, eta);
            fflush(progress);
        }
        if (o->first_losses) o->first_losses[step - 1 < o->n_first_losses ? step - 1 : o->n_first_losses - 1] = loss;
    }
    if (progress) fprintf(progress, "\ntrain: %d steps in %.1f s\n", o->steps, now_s() - t0);
    m->load_checksum = fe_model_checksum(m);
    *out = m;
    m = NULL;
    r = fe_ok;
done:
    free(grads); free(mom); free(var); free(inp); free(tgt);
    free(cp.tok); free(cp.starts);
    fe_state_free(s);
    fe_model_free(m);
    fe_vocab_free(v);
    return r;
}

/* Top-1 accuracy on the first token of " " + attribute after each prompt of a JSON list of
   {prompt|known prompt, attribute} objects (known_1000.json, heldout.json). */
fe_result fe_fact_accuracy(const fe_model *m, const fe_vocab *v, const char *json_path, int limit, int *correct, int *total, fe_error *e) {
    unsigned char *bytes;
    size_t len, i;
    fe_json *doc;
    fe_result r;
    const fe_json_value *root;
    fe_state *s = NULL;
    *correct = *total = 0;
    if ((r = fe_read_file(json_path, &bytes, &len, NULL, e)) != fe_ok) return r;
    if ((r = fe_json_parse(&doc, (const char *)bytes, len, NULL, e)) != fe_ok) { free(bytes); return r; }
    root = fe_json_root(doc);
    if (root->type != fe_json_array) { fe_json_free(doc); free(bytes); snprintf(e->msg, sizeof e->msg, "%s: not a JSON list", json_path); return fe_err_format; }
    if ((r = fe_state_new(&s, m, 1, m->config.max_seq_len, 0, e)) != fe_ok) { fe_json_free(doc); free(bytes); return r; }
    for (i = 0; i < root->count && (limit <= 0 || *total < limit); i++) {
        const fe_json_value *f = fe_json_at(root, i), *p = fe_json_get(f, "prompt"), *a = fe_json_get(f, "attribute");
        int *pid = NULL, *aid = NULL, pred;
        size_t np, na;
        char buf[1024];
        if (!p || !a || p->type != fe_json_string || a->type != fe_json_string) continue;
        snprintf(buf, sizeof buf, " %s", a->str);
        if (fe_encode(v, p->str, p->len, &pid, &np, e) != fe_ok || fe_encode(v, buf, strlen(buf), &aid, &na, e) != fe_ok || np == 0 || na == 0 ||
            (int)np > m->config.max_seq_len) {
            if (pid) fe_ids_free(v, pid);
            if (aid) fe_ids_free(v, aid);
            continue;
        }
        if (fe_forward(m, s, pid, (int)np, NULL, e) == fe_ok) {
            pred = fe_sample(fe_state_logits(s, 0, -1), m->config.vocab_size, NULL, NULL, NULL);
            *correct += pred == aid[0];
            (*total)++;
        }
        fe_ids_free(v, pid);
        fe_ids_free(v, aid);
    }
    fe_state_free(s);
    fe_json_free(doc);
    free(bytes);
    return fe_ok;
}
