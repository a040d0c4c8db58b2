/* train: trains a small GPT-2 on a text corpus with factedit.h's forward and backward passes.
   AdamW with linear warmup and a cosine schedule, seeded, deterministic for a given thread count.
   Writes an llm.c checkpoint plus its vocabulary (encoder.json + vocab.bpe) into --out DIR.

   The corpus is one document per line (demo/README-data.md): every line is encoded on its own and
   lines are joined with <|endoftext|>. Training sequences start at line starts, so every fact is
   seen from its first token. */
#include "factedit.h"
#include "train.h"
#include "progress.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

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
    o->warmup = 100; o->weight_decay = 0.0f; o->seed = 1; o->version = 3; o->shards = 0;
}

/* One step's gradient, split over a fixed number of shards of the batch so that both cores
   work: shard i runs fe_lm_grad on rows [i B/S, (i+1) B/S) with its own state and gradient
   buffer, and the buffers are summed in shard order. The shard count is fixed by the options,
   not by the thread count, so a run is bit for bit the same on 1 thread or 2 (each shard's
   library calls run single-threaded inside the parallel region). */
typedef struct train_shard { fe_state *s; float *g; double loss; fe_result r; fe_error e; } train_shard;

static fe_result train_grads(const fe_model *m, train_shard *sh, int nsh, const int *inp, const int *tgt, int rows, int seq,
                             float *grads, double *loss, fe_error *e) {
    int i, per = rows / nsh;
    size_t n = m->num_params, j;
    float scale = 1.0f / (float)nsh;   /* shards hold equal rows: the batch mean is the mean of shard means */
#if defined(_OPENMP)
#pragma omp parallel for schedule(static, 1) if (nsh > 1)
#endif
    for (i = 0; i < nsh; i++) {
        memset(sh[i].g, 0, sizeof(float) * n);
        sh[i].r = fe_lm_grad(m, sh[i].s, inp + (size_t)i * per * seq, tgt + (size_t)i * per * seq, seq, sh[i].g, &sh[i].loss, &sh[i].e);
    }
    *loss = 0.0;
    for (i = 0; i < nsh; i++) {
        if (sh[i].r != fe_ok) { *e = sh[i].e; return sh[i].r; }
        *loss += sh[i].loss / nsh;
    }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (j = 0; j < n; j++) {   /* the same order of additions for every element, whatever the threads */
        float acc = sh[0].g[j];
        for (i = 1; i < nsh; i++) acc += sh[i].g[j];
        grads[j] = acc * scale;
    }
    return fe_ok;
}

fe_result fe_train(const fe_train_opts *o, fe_model **out, FILE *progress, fe_error *e) {
    fe_vocab *v = NULL;
    corpus cp;
    fe_model *m = NULL;
    train_shard sh[FACTEDIT_TRAIN_MAX_SHARDS];
    int nsh = o->shards > 0 ? o->shards : o->batch % 2 == 0 ? 2 : 1;   /* 0: two shards for an even batch */
    fe_config cfg;
    fe_rng rng;
    float *grads = NULL, *mom = NULL, *var = NULL;
    int *inp = NULL, *tgt = NULL, step, b, t, i;
    fe_result r;
    double t0 = cli_wall(), loss_avg = 0.0;
    size_t tokens_done = 0;
    *out = NULL;
    memset(&cp, 0, sizeof cp);
    memset(sh, 0, sizeof sh);
    /* with --init the context is the model's, checked once it is loaded */
    if (o->seq < 2 || (!o->init && o->seq > o->context)) { snprintf(e->msg, sizeof e->msg, "train: --seq %d must be in [2, context %d]", o->seq, o->context); return fe_err_arg; }
    if (nsh > FACTEDIT_TRAIN_MAX_SHARDS || o->batch % nsh) {
        snprintf(e->msg, sizeof e->msg, "train: --shards %d must be in [1, %d] and divide --batch %d", nsh, FACTEDIT_TRAIN_MAX_SHARDS, o->batch);
        return fe_err_arg;
    }
#if defined(__GLIBC__)
    /* Every step allocates and frees the same large buffers (logits' gradient, backward scratch);
       served by mmap they cost a page fault per 4 KiB each time (a third of the step, by perf).
       Keep them in the heap instead. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
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
    for (i = 0; i < nsh; i++) {
        if ((r = fe_state_new(&sh[i].s, m, o->batch / nsh, o->seq, 0, e)) != fe_ok) goto done;
        sh[i].g = (float *)malloc(m->num_params * sizeof(float));
        if (!sh[i].g) { r = fe_err_nomem; snprintf(e->msg, sizeof e->msg, "train: out of memory"); goto done; }
    }
    grads = (float *)calloc(m->num_params, sizeof(float));
    mom = (float *)calloc(m->num_params, sizeof(float));
    var = (float *)calloc(m->num_params, sizeof(float));
    inp = (int *)malloc(sizeof(int) * (size_t)o->batch * o->seq);
    tgt = (int *)malloc(sizeof(int) * (size_t)o->batch * o->seq);
    if (!grads || !mom || !var || !inp || !tgt) { r = fe_err_nomem; snprintf(e->msg, sizeof e->msg, "train: out of memory"); goto done; }
    fe_rng_seed(&rng, o->seed ^ 0x7261696eull);
    if (progress) fprintf(progress, "train: %zu lines, %zu tokens, vocabulary %d; model L=%d C=%d NH=%d (%zu parameters); %d steps of %d x %d tokens in %d shard%s\n",
                          cp.nlines, cp.n, cfg.vocab_size, cfg.num_layers, cfg.channels, cfg.num_heads, m->num_params, o->steps, o->batch, o->seq,
                          nsh, nsh == 1 ? "" : "s");
    for (step = 1; step <= o->steps; step++) {
        double loss, lr;
        /* each row: seq+1 tokens from a random line start (wrapping at the end of the stream) */
        for (b = 0; b < o->batch; b++) {
            size_t st = cp.starts[fe_rng_u64(&rng) % cp.nlines];
            /* a bare start: the row begins at the line's first token, not at the <|endoftext|>
               before it, as prompts are given to the model (ROME feeds them without one) */
            if (o->bare_starts > 0 && fe_rng_uniform(&rng) < o->bare_starts) st++;
            for (t = 0; t < o->seq; t++) {
                inp[b * o->seq + t] = cp.tok[(st + (size_t)t) % cp.n];
                tgt[b * o->seq + t] = cp.tok[(st + (size_t)t + 1) % cp.n];
            }
        }
        if ((r = train_grads(m, sh, nsh, inp, tgt, o->batch, o->seq, grads, &loss, e)) != fe_ok) goto done;
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
            double el = cli_wall() - t0, eta = el / step * (o->steps - step);
            char bar[31];
            cli_bar(bar, 30, step, o->steps);
            fprintf(progress, "\r[%s] step %d/%d loss %.3f lr %.2e %.0f tok/s ETA %.0fs   ", bar, step, o->steps, loss_avg, lr, tokens_done / el, eta);
            fflush(progress);
        }
        if (o->first_losses) o->first_losses[step - 1 < o->n_first_losses ? step - 1 : o->n_first_losses - 1] = loss;
    }
    if (progress) {
        /* flops per token of a training step: 6 per weight of the matmuls (forward 2, backward 4;
           the head is tied to wte) and 6 T C per layer for causal attention (Q.K^T and A.V over T/2
           keys on average, forward and backward) */
        double L = cfg.num_layers, C = cfg.channels, el = cli_wall() - t0;
        double fpt = 6.0 * (12.0 * L * C * C + (double)cfg.vocab_size * C) + 6.0 * L * o->seq * C;
        fprintf(progress, "\ntrain: %d steps in %.1f s: %.0f tokens/s, %.1f GFLOP/s (%.1f MFLOP per token)\n", o->steps, el, tokens_done / el,
                tokens_done / el * fpt * 1e-9, fpt * 1e-6);
    }
    m->load_checksum = fe_model_checksum(m);
    *out = m;
    m = NULL;
    r = fe_ok;
done:
    free(grads); free(mom); free(var); free(inp); free(tgt);
    free(cp.tok); free(cp.starts);
    for (i = 0; i < nsh && i < FACTEDIT_TRAIN_MAX_SHARDS; i++) { fe_state_free(sh[i].s); free(sh[i].g); }
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
