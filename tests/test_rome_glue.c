/* Tests of the ROME glue (the >>api-rome-glue section of factedit.h): context templates, text requests, layer defaults,
   key statistics files, edit patch files and the CounterFact metrics. Run from the repository root:
       build/test_rome_glue [tests/data/tiny_a] [tools/gpt2]
   Models: tiny_a (the oracle's, for the token-level equivalence with fe_rome_compute) and small
   random models with GPT-2's vocabulary. */
#include "t_alloc.h"   /* counting allocator with failure injection (test_nomem) */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "fe_convert.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

static const char *dir = "tests/data/tiny_a";
static const char *vocab_dir = "tools/gpt2";
static fe_vocab *gv;   /* GPT-2's vocabulary */

/* ------------------------------------------------------------------ helpers --------- */

static unsigned char *read_all(const char *path, size_t *len) {
    unsigned char *b = NULL;
    fe_error e;
    if (fe_read_file(path, &b, len, NULL, &e) != fe_ok) { printf("FAIL read %s: %s\n", path, e.msg); t_failed++; return NULL; }
    return b;
}

/* A random model; "trained-like" scaling (as test_rome.c) so predictions are peaked and MLP-driven. */
static void rescale(float *p, size_t n, double target) {
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++) s += (double)p[i] * p[i];
    s = sqrt(s / n);
    for (i = 0; i < n; i++) p[i] = (float)(p[i] * target / s);
}
static fe_model *random_model(int L, int C, int NH, int V, int T, uint64_t seed) {
    fe_config c;
    fe_model *m = NULL;
    fe_error e;
    size_t Cs = (size_t)C, Ls = (size_t)L;
    c.num_layers = L; c.channels = C; c.num_heads = NH; c.vocab_size = V; c.padded_vocab_size = (V + 127) / 128 * 128; c.max_seq_len = T;
    if (fe_model_new(&m, &c, NULL, &e) != fe_ok) { printf("FAIL model: %s\n", e.msg); t_failed++; return NULL; }
    fe_model_randomize(m, seed);
    rescale(m->params.wte, m->param_sizes[0], 0.3);
    rescale(m->params.wpe, m->param_sizes[1], 0.1);
    rescale(m->params.qkvw, Ls * 3 * Cs * Cs, 1.0 / sqrt((double)C));
    rescale(m->params.attprojw, Ls * Cs * Cs, 1.0 / sqrt((double)C));
    rescale(m->params.fcw, Ls * 4 * Cs * Cs, 1.0 / sqrt((double)C));
    rescale(m->params.fcprojw, Ls * 4 * Cs * Cs, 1.0 / sqrt(4.0 * C));
    return m;
}

static fe_model *copy_model(const fe_model *m) {
    unsigned char *b = NULL;
    size_t len = 0;
    fe_model *o = NULL;
    if (fe_model_save_mem(m, 3, &b, &len, NULL) == fe_ok) fe_model_load_mem(&o, b, len, NULL, NULL);
    fe_free(b, NULL);
    return o;
}

static int msg_has(const fe_error *e, const char *s) { return strstr(e->msg, s) != NULL; }

static char *decode1(int id) {
    static char buf[256];
    size_t n = 0;
    const char *p = fe_token_bytes(gv, id, &n);
    snprintf(buf, sizeof buf, "%.*s", (int)n, p ? p : "");
    return buf;
}

static int *enc(const char *s, int *n) {
    int *ids = NULL, *o;
    size_t k = 0;
    fe_encode(gv, s, strlen(s), &ids, &k, NULL);
    o = (int *)malloc(sizeof(int) * (k + 1));
    if (k) memcpy(o, ids, sizeof(int) * k);
    fe_ids_free(gv, ids);
    *n = (int)k;
    return o;
}

/* ------------------------------------------------------------------ templates ------- */

static void test_templates(void) {
    fe_templates *t = NULL, *t2 = NULL;
    fe_model *m = random_model(2, 32, 2, 50257, 64, 1);
    fe_rng rng;
    fe_error e;
    int i, same = 1;
    TEST("templates: ROME's clean-up of a sample") {
        char s[128];
        strcpy(s, "<|endoftext|>A {b}\n\nc<|endoftext|>d\n");
        fe__template_clean(s);
        CHECKF(!strcmp(s, "A b cd\n. {}"), "got '%s'", s);
        strcpy(s, "<|endoftext|>");
        fe__template_clean(s);
        CHECKF(!strcmp(s, ". {}"), "got '%s'", s);
    }
    TEST("templates: user list validated") {
        const char *ok[2] = {"{}", "Yesterday. {}"}, *bad1[1] = {"no fill"}, *bad2[2] = {"{}", "{} and {}"};
        CHECK_CODE(fe_templates_from_list(&t, ok, 2, NULL, &e), fe_ok);
        CHECK(t && t->n == 2 && !strcmp(t->text[1], "Yesterday. {}"));
        fe_templates_free(t); t = NULL;
        CHECK_CODE(fe_templates_from_list(&t, bad1, 1, NULL, &e), fe_err_arg);
        CHECK(msg_has(&e, "template 0") && msg_has(&e, "exactly one"));
        CHECK_CODE(fe_templates_from_list(&t, bad2, 2, NULL, &e), fe_err_arg);
        CHECK(msg_has(&e, "template 1") && msg_has(&e, "has 2"));
        CHECK_CODE(fe_templates_from_list(&t, ok, 0, NULL, &e), fe_err_arg);
        CHECK(t == NULL);
    }
    TEST("templates: ROME's 21 generated templates") {
        if (!m) break;
        fe_rng_seed(&rng, 5);
        CHECK_CODE(fe_templates_rome(&t, m, gv, &rng, &e), fe_ok);
        CHECK(t && t->n == 21);
        for (i = 0; t && i < t->n; i++) {
            size_t n = strlen(t->text[i]);
            size_t nb = 0, j;
            for (j = 0; j < n; j++) nb += t->text[i][j] == '{' || t->text[i][j] == '}';
            CHECKF(fe__count_slots(t->text[i], NULL) == 1 && nb == 2, "template %d '%s'", i, t->text[i]);
            CHECKF(i == 0 ? !strcmp(t->text[0], "{}") : (n >= 4 && !strcmp(t->text[i] + n - 4, ". {}")), "template %d '%s'", i, t->text[i]);
            CHECKF(strstr(t->text[i], "<|endoftext|>") == NULL, "template %d keeps <|endoftext|>", i);
        }
        /* lengths: samples of 5 and 10 tokens, the first being <|endoftext|> (decoded to nothing) */
        for (i = 1; t && i < t->n; i++) {
            int n;
            int *ids = enc(t->text[i], &n);
            CHECKF(n <= (i <= 10 ? 4 : 9) + 3 + 6, "template %d has %d tokens", i, n);
            free(ids);
        }
        {   /* same seed, same templates; another seed, others */
            int len = 10, cnt = 3;
            fe_templates *t3 = NULL;
            fe_rng_seed(&rng, 5);
            CHECK_CODE(fe_templates_generate(&t2, m, gv, &len, &cnt, 1, &rng, &e), fe_ok);
            for (i = 0; t && t2 && i < t2->n; i++) same &= !strcmp(t->text[i], t2->text[i]);
            CHECK(same == 0 || t2->n == 4);   /* the first sample of 10 differs from ROME's first (5 tokens) */
            fe_rng_seed(&rng, 5);
            CHECK_CODE(fe_templates_generate(&t3, m, gv, &len, &cnt, 1, &rng, &e), fe_ok);
            for (same = 1, i = 0; t2 && t3 && i < t2->n; i++) same &= !strcmp(t2->text[i], t3->text[i]);
            CHECK(same && t3 && t3->n == 4);
            fe_templates_free(t3); t3 = NULL;
            fe_rng_seed(&rng, 6);
            CHECK_CODE(fe_templates_generate(&t3, m, gv, &len, &cnt, 1, &rng, &e), fe_ok);
            for (same = 1, i = 1; t2 && t3 && i < t2->n; i++) same &= !strcmp(t2->text[i], t3->text[i]);
            CHECK(!same);
            fe_templates_free(t3);
            fe_templates_free(t2); t2 = NULL;
        }
    }
    TEST("templates: generation errors") {
        int len = 3, cnt = -1;
        fe_rng_seed(&rng, 1);
        CHECK_CODE(fe_templates_generate(&t2, m, gv, &len, &cnt, 1, &rng, &e), fe_err_arg);
        CHECK_CODE(fe_templates_generate(&t2, m, NULL, &len, &cnt, 1, &rng, &e), fe_err_arg);
        CHECK(t2 == NULL);
    }
    fe_templates_free(t); fe_templates_free(t2);
    fe_model_free(m);
}

/* ------------------------------------------------------------------ requests -------- */

static void test_requests(void) {
    fe_model *m = random_model(2, 32, 2, 50257, 64, 2), *small = random_model(1, 16, 2, 50257, 12, 3);
    fe_rome_rows *r = NULL, *r2 = NULL;
    fe_text_request q;
    fe_error e;
    int i;
    if (!m || !small) { fe_model_free(m); fe_model_free(small); return; }
    TEST("request: template and plain prompt give the same rows; lookup is the subject's last token") {
        int n, *ids;
        q.prompt = "{} is located in the city of"; q.subject = "The Space Needle"; q.target = "Paris";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_ok);
        q.prompt = "The Space Needle is located in the city of";
        CHECK_CODE(fe_rome_rows_new(&r2, m, gv, &q, NULL, &e), fe_ok);
        if (r && r2) {
            CHECK(!strcmp(r->text, "The Space Needle is located in the city of") && !strcmp(r2->text, r->text));
            CHECK(!strcmp(r->target_text, " Paris"));   /* ROME adds the space */
            CHECK(!strcmp(r2->template_text, "{} is located in the city of"));
            CHECK(r->n_ctx == 1 && r->n_dropped == 0 && r->bare.n == r2->bare.n && !memcmp(r->bare.ids, r2->bare.ids, sizeof(int) * (size_t)r->bare.n));
            ids = enc("The Space Needle is located in the city of", &n);
            CHECK(n == r->bare.n && !memcmp(ids, r->bare.ids, sizeof(int) * (size_t)n));
            free(ids);
            /* GPT-2: The | Space | Need | le | is ...: the subject's last token is "le" */
            CHECKF(!strcmp(decode1(r->bare.ids[r->bare.lookup]), "le") && !strcmp(decode1(r->bare.ids[r->bare.lookup - 1]), " Need"), "lookup token '%s'", decode1(r->bare.ids[r->bare.lookup]));
            CHECK(r->bare.lookup == 3 && r->keys[0].lookup == 3 && r->rows[0].n == r->bare.n + r->n_target - 1);
            CHECK(r->n_target == 1 && !strcmp(decode1(r->target[0]), " Paris"));
            CHECK(r->kl.n == 6 && r->kl.lookup == 3 && !strcmp(decode1(r->kl.ids[5]), " a"));
        }
        fe_rome_rows_free(r); fe_rome_rows_free(r2); r = r2 = NULL;
    }
    TEST("request: contexts are encoded with the prompt as one text; a subject inside the prefix is not picked") {
        const char *ts[3] = {"{}", "The Space Needle. {}", "I said {} yesterday"};
        fe_templates *t = NULL;
        int n, *ids;
        CHECK_CODE(fe_templates_from_list(&t, ts, 3, NULL, &e), fe_ok);
        q.prompt = "{} is located in the city of"; q.subject = "The Space Needle"; q.target = " Rome Italy";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, t, &e), fe_ok);
        if (r) {
            CHECK(r->n_ctx == 3 && r->n_target == 2);
            ids = enc("The Space Needle. The Space Needle is located in the city of", &n);
            CHECK(r->keys[1].n == n && !memcmp(ids, r->keys[1].ids, sizeof(int) * (size_t)n));
            CHECKF(r->keys[1].lookup == 8 && !strcmp(decode1(ids[8]), "le") && !strcmp(decode1(ids[9]), " is"), "prefixed lookup %d", r->keys[1].lookup);
            CHECKF(!strcmp(decode1(ids[5]), " The"), "'%s'", decode1(ids[5]));   /* " The" in context, "The" bare */
            CHECK(!strcmp(decode1(r->bare.ids[0]), "The"));
            free(ids);
            /* the row = context text + target[:-1] */
            CHECK(r->rows[2].n == r->keys[2].n + 1 && r->rows[2].ids[r->keys[2].n] == r->target[0]);
            CHECK(!strcmp(decode1(r->keys[2].ids[r->keys[2].lookup]), "le"));
            CHECK(!strcmp(decode1(r->keys[2].ids[r->keys[2].lookup + 1]), " is"));
        }
        fe_rome_rows_free(r); r = NULL;
        fe_templates_free(t);
    }
    TEST("request: a subject that ends inside a token looks up that token") {
        q.prompt = "{}s are big"; q.subject = "Elephant"; q.target = " no";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_ok);
        if (r) CHECKF(!strncmp(decode1(r->bare.ids[r->bare.lookup]), "Ele", 3) || strstr(decode1(r->bare.ids[r->bare.lookup]), "ant") != NULL,
                      "lookup '%s'", decode1(r->bare.ids[r->bare.lookup]));
        fe_rome_rows_free(r); r = NULL;
    }
    TEST("request: errors") {
        q.prompt = "{} is in"; q.subject = ""; q.target = " Paris";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_err_arg); CHECK(msg_has(&e, "subject is empty"));
        q.subject = "X"; q.target = "";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_err_arg); CHECK(msg_has(&e, "target is empty"));
        q.target = "  ";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_err_arg); CHECK(msg_has(&e, "target is empty"));
        q.prompt = "The tower is in"; q.subject = "Space Needle"; q.target = " Paris";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_err_arg);
        CHECK(msg_has(&e, "not in the prompt") && msg_has(&e, "no \"{}\""));
        q.prompt = "{} is {}";
        CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_err_arg); CHECK(msg_has(&e, "has 2 \"{}\""));
        q.prompt = ""; CHECK_CODE(fe_rome_rows_new(&r, m, gv, &q, NULL, &e), fe_err_arg); CHECK(msg_has(&e, "prompt is empty"));
        q.prompt = "{} is in"; q.subject = "X";
        q.target = " one two three four five six seven eight nine ten eleven twelve thirteen";
        CHECK_CODE(fe_rome_rows_new(&r, small, gv, &q, NULL, &e), fe_err_arg);
        CHECKF(msg_has(&e, "longer than the model's context of 12"), "%s", e.msg);
        q.target = " one two three four five six seven eight nine ten eleven";
        CHECK_CODE(fe_rome_rows_new(&r, small, gv, &q, NULL, &e), fe_err_arg);
        CHECKF(msg_has(&e, "do not fit the model's context of 12"), "%s", e.msg);
        CHECK(r == NULL);
    }
    TEST("request: contexts that do not fit are dropped and counted") {
        const char *ts[3] = {"{}", "One two three four five six seven eight nine ten. {}", "Hi. {}"};
        fe_templates *t = NULL;
        fe_templates_from_list(&t, ts, 3, NULL, NULL);
        q.prompt = "{} is in"; q.subject = "Paris"; q.target = " France";
        CHECK_CODE(fe_rome_rows_new(&r, small, gv, &q, t, &e), fe_ok);
        if (r) CHECK(r->n_ctx == 2 && r->n_dropped == 1 && r->keys[1].n == 5);
        fe_rome_rows_free(r); r = NULL;
        fe_templates_free(t);
    }
    TEST("request: token ids beyond a small model's vocabulary") {
        fe_model *mv = random_model(1, 16, 2, 300, 16, 4);
        q.prompt = "{} is in"; q.subject = "Paris"; q.target = " France";
        CHECK_CODE(fe_rome_rows_new(&r, mv, gv, &q, NULL, &e), fe_err_mismatch);
        CHECK(msg_has(&e, "outside the model's vocabulary of 300"));
        fe_model_free(mv);
    }
    (void)i;
    fe_model_free(m); fe_model_free(small);
}

/* ------------------------------------------- fe_rome_compute_rows == fe_rome_compute ---- */

static int *ids_of(const fe_json_value *arr, int *n) {
    size_t i;
    int *ids = (int *)malloc(sizeof(int) * (arr ? arr->count + 1 : 1));
    for (i = 0; arr && i < arr->count; i++) ids[i] = (int)fe_json_at(arr, i)->number;
    *n = arr ? (int)arr->count : 0;
    return ids;
}

static void test_rows_equivalence(void) {
    char p1[512], p2[512];
    size_t sl = 0, cl = 0, kl = 0, jl = 0;
    unsigned char *st, *cfg, *ck = NULL, *js;
    fe_model *m = NULL;
    fe_json *doc = NULL;
    snprintf(p1, sizeof p1, "%s/hf/model.safetensors", dir); snprintf(p2, sizeof p2, "%s/hf/config.json", dir);
    st = read_all(p1, &sl); cfg = read_all(p2, &cl);
    snprintf(p1, sizeof p1, "%s/cases.json", dir);
    js = read_all(p1, &jl);
    if (st && cfg && fe_convert_hf(st, sl, (const char *)cfg, cl, 0, 3, &ck, &kl, NULL, NULL) == fe_ok) fe_model_load_mem(&m, ck, kl, NULL, NULL);
    if (ck) fe_convert_free(ck, NULL);
    if (js) fe_json_parse(&doc, (const char *)js, jl, NULL, NULL);
    TEST("fe_rome_compute_rows on prefix + prompt rows == fe_rome_compute, bit for bit") {
        const fe_json_value *r = doc ? fe_json_get(fe_json_root(doc), "rome") : NULL, *pf, *cs;
        int ns, nr, nt, nk, np, i, *subj, *rest, *tgt, *klp, *pre[8], npre[8], *prompt;
        fe_rome_prompt kp[8], vp[8];
        const int *prefs[8];
        int *rowbuf[8];
        fe_rome_rows rows;
        fe_rome_request q;
        fe_rome_hparams hp;
        fe_cov *cov = NULL;
        fe_edit *e1 = NULL, *e2 = NULL;
        size_t k;
        CHECK(m != NULL && r != NULL);
        if (!m || !r) break;
        pf = fe_json_get(r, "prefixes"); cs = fe_json_get(r, "cov_seqs");
        subj = ids_of(fe_json_get(r, "subject"), &ns);
        rest = ids_of(fe_json_get(r, "prompt_rest"), &nr);
        tgt = ids_of(fe_json_get(r, "target"), &nt);
        klp = ids_of(fe_json_get(r, "kl_prompt"), &nk);
        np = (int)pf->count;
        prompt = (int *)malloc(sizeof(int) * (size_t)(ns + nr));
        memcpy(prompt, subj, sizeof(int) * (size_t)ns); memcpy(prompt + ns, rest, sizeof(int) * (size_t)nr);
        for (i = 0; i < np; i++) {
            pre[i] = ids_of(fe_json_at(pf, (size_t)i), &npre[i]);
            prefs[i] = pre[i];
            rowbuf[i] = (int *)malloc(sizeof(int) * (size_t)(npre[i] + ns + nr + nt));
            memcpy(rowbuf[i], pre[i], sizeof(int) * (size_t)npre[i]);
            memcpy(rowbuf[i] + npre[i], prompt, sizeof(int) * (size_t)(ns + nr));
            memcpy(rowbuf[i] + npre[i] + ns + nr, tgt, sizeof(int) * (size_t)(nt - 1));
            kp[i].ids = rowbuf[i]; kp[i].n = npre[i] + ns + nr; kp[i].lookup = npre[i] + ns - 1;
            vp[i] = kp[i]; vp[i].n += nt - 1;
        }
        memset(&rows, 0, sizeof rows);
        rows.n_ctx = np; rows.keys = kp; rows.rows = vp;
        rows.bare.ids = prompt; rows.bare.n = ns + nr; rows.bare.lookup = ns - 1;
        rows.kl.ids = klp; rows.kl.n = nk; rows.kl.lookup = (int)fe_json_get(r, "kl_lookup")->number;
        rows.target = tgt; rows.n_target = nt;
        memset(&q, 0, sizeof q);
        q.prompt = prompt; q.n_prompt = ns + nr; q.subject_last = ns - 1; q.target = tgt; q.n_target = nt;
        q.prefixes = prefs; q.n_prefixes = npre; q.num_prefixes = np;
        q.kl_prompt = klp; q.n_kl = nk; q.kl_lookup = rows.kl.lookup;
        fe_cov_new(&cov, 4 * m->config.channels, NULL, NULL);
        for (k = 0; k < cs->count; k++) { int n, *sq = ids_of(fe_json_at(cs, k), &n); fe_cov_add_tokens(cov, m, 2, sq, 1, n, NULL); free(sq); }
        fe_rome_hparams_default(&hp, m);
        hp.layer = (int)fe_json_get(r, "layer")->number; hp.cov_ridge = fe_json_get(r, "cov_ridge")->number;
        CHECK_CODE(fe_rome_compute(m, &q, &hp, cov, &e1, NULL), fe_ok);
        CHECK_CODE(fe_rome_compute_rows(m, &rows, &hp, cov, &e2, NULL), fe_ok);
        if (e1 && e2) {
            int C = m->config.channels;
            CHECK(!memcmp(e1->u, e2->u, sizeof(float) * 4 * (size_t)C));
            CHECK(!memcmp(e1->right, e2->right, sizeof(float) * (size_t)C));
            CHECK(!memcmp(e1->vstar, e2->vstar, sizeof(float) * (size_t)C));
            CHECK(e1->report.evals == e2->report.evals && e1->report.cg_iters == e2->report.cg_iters && e1->report.last.loss == e2->report.last.loss);
        }
        fe_edit_free(e1); fe_edit_free(e2);
        /* without covariance too */
        e1 = e2 = NULL;
        CHECK_CODE(fe_rome_compute(m, &q, &hp, NULL, &e1, NULL), fe_ok);
        CHECK_CODE(fe_rome_compute_rows(m, &rows, &hp, NULL, &e2, NULL), fe_ok);
        if (e1 && e2) CHECK(!memcmp(e1->u, e2->u, sizeof(float) * 4 * (size_t)m->config.channels) && !memcmp(e1->right, e2->right, sizeof(float) * (size_t)m->config.channels));
        fe_edit_free(e1); fe_edit_free(e2);
        e2 = NULL;
        {
            fe_cov *bad = NULL;
            fe_error e;
            fe_cov_new(&bad, 8, NULL, NULL);
            CHECK_CODE(fe_rome_compute_rows(m, &rows, &hp, bad, &e2, &e), fe_err_mismatch);
            fe_cov_free(bad);
        }
        fe_cov_free(cov);
        for (i = 0; i < np; i++) { free(pre[i]); free(rowbuf[i]); }
        free(subj); free(rest); free(tgt); free(klp); free(prompt);
    }
    fe_json_free(doc);
    free(st); free(cfg); free(js);
    fe_model_free(m);
}

/* ------------------------------------------------------------------ layers ---------- */

static void test_layers(void) {
    TEST("layer defaults: ROME's for GPT-2 medium / large / XL, round(L/3) otherwise") {
        fe_config c;
        memset(&c, 0, sizeof c);
        c.num_layers = 24; c.channels = 1024; CHECK(fe_rome_default_layer(&c) == 8);
        c.num_layers = 36; c.channels = 1280; CHECK(fe_rome_default_layer(&c) == 12);
        c.num_layers = 48; c.channels = 1600; CHECK(fe_rome_default_layer(&c) == 17);
        c.num_layers = 12; c.channels = 768; CHECK(fe_rome_default_layer(&c) == 4);
        c.num_layers = 48; c.channels = 64; CHECK(fe_rome_default_layer(&c) == 16);
        c.num_layers = 4; CHECK(fe_rome_default_layer(&c) == 1);
        c.num_layers = 5; CHECK(fe_rome_default_layer(&c) == 2);
        c.num_layers = 3; CHECK(fe_rome_default_layer(&c) == 1);
        c.num_layers = 2; CHECK(fe_rome_default_layer(&c) == 0);
        c.num_layers = 1; CHECK(fe_rome_default_layer(&c) == 0);
    }
}

/* ------------------------------------------------------------------ stats ----------- */

static void put32(unsigned char *p, uint32_t v) { fe__wr32le(p, v); }
static void rehash(unsigned char *b, size_t len, size_t hdr, size_t at) { fe__wr64le(b + at, fe_fnv1a64(FACTEDIT_FNV1A64_INIT, b + hdr, len - hdr)); }

static void test_stats(void) {
    fe_model *m = random_model(2, 16, 2, 50257, 32, 11), *other = random_model(2, 16, 2, 50257, 32, 12), *wide = random_model(2, 24, 2, 50257, 32, 11);
    fe_cov *c = NULL, *c2 = NULL, *ref = NULL;
    fe_stats_info info;
    unsigned char *b = NULL, *x;
    size_t len = 0, d, i;
    int *tok, n = 150, k;
    fe_error e;
    uint64_t cs;
    char path[256];
    if (!m || !other || !wide) goto out;
    tok = (int *)malloc(sizeof(int) * (size_t)n);
    for (k = 0; k < n; k++) tok[k] = (k * 7919 + 13) % 50257;
    cs = fe_model_checksum(m);
    TEST("stats: compute = fe_cov_add_tokens over the same sequences") {
        CHECK_CODE(fe_stats_compute(&c, m, 1, tok, (size_t)n, 32, NULL, NULL, &e), fe_ok);
        fe_cov_new(&ref, 64, NULL, NULL);
        fe_cov_add_tokens(ref, m, 1, tok, 4, 32, NULL);
        fe_cov_add_tokens(ref, m, 1, tok + 128, 1, 22, NULL);
        if (c) {
            double worst = 0;
            for (i = 0; i < 64 * 64; i++) { double dd = fabs(c->m2[i] - ref->m2[i]) / (fabs(ref->m2[i]) + 1e-9); if (dd > worst) worst = dd; }
            CHECKF(worst < 1e-12 && c->count == 150, "worst %g count %g", worst, c->count);
        }
        {   /* layers 0..1 from one pass: each bit-identical to its own fe_stats_compute */
            fe_cov *two[2] = {NULL, NULL}, *one = NULL;
            int l2;
            CHECK_CODE(fe_stats_compute_layers(two, m, 0, 2, tok, (size_t)n, 32, NULL, NULL, &e), fe_ok);
            for (l2 = 0; l2 < 2 && two[0] && two[1]; l2++) {
                CHECK_CODE(fe_stats_compute(&one, m, l2, tok, (size_t)n, 32, NULL, NULL, &e), fe_ok);
                if (one) CHECK(one->count == two[l2]->count && !memcmp(one->m2, two[l2]->m2, sizeof(double) * 64 * 64));
                fe_cov_free(one);
                one = NULL;
            }
            fe_cov_free(two[0]); fe_cov_free(two[1]);
            CHECK_CODE(fe_stats_compute_layers(two, m, 1, 2, tok, (size_t)n, 32, NULL, NULL, &e), fe_err_range);
            CHECK(two[0] == NULL && two[1] == NULL);
            CHECK_CODE(fe_stats_compute_layers(two, m, 0, 0, tok, (size_t)n, 32, NULL, NULL, &e), fe_err_arg);
        }
        CHECK_CODE(fe_stats_compute(&c2, m, 2, tok, (size_t)n, 0, NULL, NULL, &e), fe_err_range);
        CHECK_CODE(fe_stats_compute(&c2, m, 0, tok, 0, 0, NULL, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_stats_compute(&c2, m, 0, tok, 10, 33, NULL, NULL, &e), fe_err_range);
    }
    TEST("stats: save / load round trip") {
        if (!c) break;
        CHECK_CODE(fe_stats_save_mem(c, 1, m, cs, &b, &len, &e), fe_ok);
        d = 64;
        CHECK(len == 64 + 8 * d * (d + 1) / 2);
        CHECK_CODE(fe_stats_load_mem(&c2, &info, b, len, m, NULL, &e), fe_ok);
        if (c2) {
            CHECK(!memcmp(c2->m2, c->m2, sizeof(double) * 64 * 64) && c2->count == c->count);
            CHECK(info.layer == 1 && info.dim == 64 && info.count == 150 && info.model_checksum == cs && info.num_layers == 2 && info.channels == 16);
        }
        fe_cov_free(c2); c2 = NULL;
        CHECK_CODE(fe_stats_load_mem(&c2, NULL, b, len, NULL, NULL, &e), fe_ok);   /* without a model: no model check */
        fe_cov_free(c2); c2 = NULL;
    }
    TEST("stats: another model's statistics are refused, naming both checksums") {
        char a[32], bb[32];
        if (!b) break;
        CHECK_CODE(fe_stats_load_mem(&c2, NULL, b, len, other, NULL, &e), fe_err_mismatch);
        snprintf(a, sizeof a, "%016llx", (unsigned long long)cs);
        snprintf(bb, sizeof bb, "%016llx", (unsigned long long)fe_model_checksum(other));
        CHECKF(msg_has(&e, a) && msg_has(&e, bb), "%s", e.msg);
        CHECK_CODE(fe_stats_load_mem(&c2, NULL, b, len, wide, NULL, &e), fe_err_mismatch);
        CHECK(msg_has(&e, "width 16") && c2 == NULL);
    }
    TEST("stats: hostile files") {
        size_t cut[6];
        if (!b) break;
        x = (unsigned char *)malloc(len + 8);
        cut[0] = 0; cut[1] = 7; cut[2] = 63; cut[3] = 64; cut[4] = len / 2; cut[5] = len - 1;
        for (k = 0; k < 6; k++) { CHECKF(fe_stats_load_mem(&c2, NULL, b, cut[k], m, NULL, &e) == fe_err_format, "truncated to %lu: %s", (unsigned long)cut[k], e.msg); }
        CHECK(msg_has(&e, "truncated"));
        memcpy(x, b, len); x[len] = 0;
        CHECK_CODE(fe_stats_load_mem(&c2, NULL, x, len + 1, m, NULL, &e), fe_err_format); CHECK(msg_has(&e, "trailing"));
#define MUT(stmt, code, phrase) do { memcpy(x, b, len); stmt; CHECK_CODE(fe_stats_load_mem(&c2, NULL, x, len, m, NULL, &e), code); \
        CHECKF(msg_has(&e, phrase), "want '%s' in '%s'", phrase, e.msg); CHECK(c2 == NULL); } while (0)
        MUT(x[0] = 'X', fe_err_format, "bad magic");
        MUT(put32(x + 8, 2), fe_err_unsupported, "version 2");
        MUT(put32(x + 12, 65), fe_err_format, "header size");
        MUT(put32(x + 24, 2), fe_err_format, "layer 2 outside");
        MUT(put32(x + 24, 0xffffffffu), fe_err_format, "layer -1 outside");
        MUT(put32(x + 28, 60), fe_err_format, "not 4 x the width");
        MUT((put32(x + 28, 96), put32(x + 36, 24)), fe_err_format, "a 96 x 96 triangle");
        MUT(put32(x + 32, 0), fe_err_format, "model layers 0");
        MUT(put32(x + 32, 100000), fe_err_format, "model layers 100000");
        MUT(put32(x + 36, 0), fe_err_format, "model width 0");
        MUT(put32(x + 48, 2), fe_err_unsupported, "storage 2");
        MUT(put32(x + 52, 1), fe_err_format, "reserved");
        MUT(fe__wr64le(x + 40, 0), fe_err_format, "token count 0");
        MUT(fe__wr64le(x + 16, cs ^ 1), fe_err_mismatch, "checksum");
        MUT(x[100] ^= 1, fe_err_format, "payload checksum");
        MUT((fe__wrf64le(x + 64 + 8 * 3, NAN), rehash(x, len, 64, 56)), fe_err_format, "entry (0, 3) is not finite");
        MUT((fe__wrf64le(x + 64, -1.0), rehash(x, len, 64, 56)), fe_err_format, "diagonal entry 0 is negative");
#undef MUT
        free(x);
    }
    TEST("stats: file round trip, written atomically; load_file names the file") {
        const char *tmp = getenv("TMPDIR");
        FILE *f;
        snprintf(path, sizeof path, "%s/fe_stats_test_%ld.bin", tmp ? tmp : "/tmp", (long)(size_t)&path % 100000);
        if (!c) break;
        CHECK_CODE(fe_stats_save_file(path, c, 1, m, cs, &e), fe_ok);
        CHECK_CODE(fe_stats_load_file(&c2, &info, path, m, NULL, &e), fe_ok);
        if (c2) CHECK(!memcmp(c2->m2, c->m2, sizeof(double) * 64 * 64));
        fe_cov_free(c2); c2 = NULL;
        CHECK_CODE(fe_stats_load_file(&c2, &info, path, other, NULL, &e), fe_err_mismatch);
        CHECK(msg_has(&e, path));
        /* truncate the file on disk */
        f = fopen(path, "wb"); if (f) { fwrite(b, 1, 100, f); fclose(f); }
        CHECK_CODE(fe_stats_load_file(&c2, &info, path, m, NULL, &e), fe_err_format);
        CHECK(msg_has(&e, path) && msg_has(&e, "truncated"));
        remove(path);
        CHECK_CODE(fe_stats_load_file(&c2, &info, path, m, NULL, &e), fe_err_io);
        CHECK_CODE(fe_stats_save_file("/nonexistent_dir_fe/x.bin", c, 1, m, cs, &e), fe_err_io);
        CHECK_CODE(fe_stats_save_file(path, c, 2, m, cs, &e), fe_err_range);
    }
    free(tok);
out:
    fe_free(b, NULL);
    fe_cov_free(c); fe_cov_free(c2); fe_cov_free(ref);
    fe_model_free(m); fe_model_free(other); fe_model_free(wide);
}

/* ------------------------------------------------------------------ patches --------- */

static void test_patches(void) {
    fe_model *m = random_model(2, 32, 2, 50257, 64, 21), *fresh = NULL, *other = random_model(2, 32, 2, 50257, 64, 22);
    fe_rome_rows *rows = NULL;
    fe_text_request q;
    fe_rome_hparams hp;
    fe_edit *e = NULL;
    fe_patch p, *lp = NULL, *lp2 = NULL;
    unsigned char *b = NULL, *x = NULL;
    size_t len = 0;
    fe_error err;
    uint64_t cs0, cs_edit;
    char path[256];
    if (!m || !other) goto out;
    fresh = copy_model(m);
    cs0 = fe_model_checksum(m);
    TEST("patch: compute an edit from text") {
        q.prompt = "{} is located in the city of"; q.subject = "The Space Needle"; q.target = " Paris";
        CHECK_CODE(fe_rome_rows_new(&rows, m, gv, &q, NULL, &err), fe_ok);
        fe_rome_hparams_for(&hp, m);
        CHECK(hp.layer == 0);
        if (rows) CHECK_CODE(fe_rome_compute_rows(m, rows, &hp, NULL, &e, &err), fe_ok);
    }
    if (!e) goto out;
    memset(&p, 0, sizeof p);
    p.edit = e; p.model_checksum = cs0; p.num_layers = m->config.num_layers;
    p.prompt = (char *)"{} is located in the city of"; p.subject = (char *)"The Space Needle"; p.target = (char *)" Paris";
    TEST("patch: save / load round trip; applies to a freshly loaded model exactly like the edit") {
        CHECK_CODE(fe_patch_save_mem(&p, &b, &len, NULL, &err), fe_ok);
        CHECK(len == 152 + 24 * 32 + strlen(p.prompt) + strlen(p.subject) + strlen(p.target));
        CHECK_CODE(fe_patch_load_mem(&lp, b, len, fresh, NULL, &err), fe_ok);
        if (!lp) break;
        CHECK(!memcmp(lp->edit->u, e->u, sizeof(float) * 6 * 32) && lp->edit->layer == e->layer && lp->edit->C == 32);
        CHECK(!strcmp(lp->prompt, p.prompt) && !strcmp(lp->subject, p.subject) && !strcmp(lp->target, p.target));
        CHECK(lp->model_checksum == cs0 && lp->num_layers == 2);
        CHECK(lp->edit->report.evals == e->report.evals && lp->edit->report.last.loss == e->report.last.loss && lp->edit->report.clamp == e->report.clamp);
        CHECK_CODE(fe_edit_apply(m, e, &err), fe_ok);
        cs_edit = fe_model_checksum(m);
        CHECK_CODE(fe_patch_apply(fresh, lp, &err), fe_ok);
        CHECK(fe_model_checksum(fresh) == cs_edit);
        CHECK_CODE(fe_patch_apply(fresh, lp, &err), fe_err_arg);   /* twice */
        CHECK_CODE(fe_edit_undo(fresh, lp->edit, &err), fe_ok);
        CHECK(fe_model_checksum(fresh) == cs0);
        CHECK_CODE(fe_edit_undo(m, e, &err), fe_ok);
        CHECK(fe_model_checksum(m) == cs0);
    }
    TEST("patch: refused for another model and for an already edited one, naming both checksums") {
        char a[32], c2[32];
        if (!b) break;
        CHECK_CODE(fe_patch_load_mem(&lp2, b, len, other, NULL, &err), fe_err_mismatch);
        snprintf(a, sizeof a, "%016llx", (unsigned long long)cs0); snprintf(c2, sizeof c2, "%016llx", (unsigned long long)fe_model_checksum(other));
        CHECKF(msg_has(&err, a) && msg_has(&err, c2), "%s", err.msg);
        CHECK_CODE(fe_patch_load_mem(&lp2, b, len, NULL, NULL, &err), fe_ok);   /* no model: inspect only */
        if (lp2) {
            CHECK_CODE(fe_patch_apply(other, lp2, &err), fe_err_mismatch);
            CHECK_CODE(fe_patch_apply(fresh, lp2, &err), fe_ok);
            fe_patch_free(lp); lp = NULL;
            CHECK_CODE(fe_patch_load_mem(&lp, b, len, fresh, NULL, &err), fe_err_mismatch);   /* fresh is edited now */
            CHECK(msg_has(&err, "already edited"));
            CHECK_CODE(fe_edit_undo(fresh, lp2->edit, &err), fe_ok);
        }
        fe_patch_free(lp2); lp2 = NULL;
    }
    TEST("patch: hostile files") {
        int k;
        size_t cut[5];
        if (!b) break;
        x = (unsigned char *)malloc(len + 1);
        cut[0] = 0; cut[1] = 8; cut[2] = 151; cut[3] = 152; cut[4] = len - 1;
        for (k = 0; k < 5; k++) CHECKF(fe_patch_load_mem(&lp2, b, cut[k], NULL, NULL, &err) == fe_err_format, "cut %lu", (unsigned long)cut[k]);
#define MUT(stmt, code, phrase) do { fe_patch *t_ = NULL; memcpy(x, b, len); stmt; CHECK_CODE(fe_patch_load_mem(&t_, x, len, NULL, NULL, &err), code); \
        CHECKF(msg_has(&err, phrase), "want '%s' in '%s'", phrase, err.msg); CHECK(t_ == NULL); fe_patch_free(t_); } while (0)
        MUT(x[3] = 'x', fe_err_format, "bad magic");
        MUT(put32(x + 8, 7), fe_err_unsupported, "version 7");
        MUT(put32(x + 12, 100), fe_err_format, "header size");
        MUT(put32(x + 24, 2), fe_err_format, "layer 2 outside");
        MUT(put32(x + 28, 0), fe_err_format, "width 0");
        MUT(put32(x + 28, 31), fe_err_format, "header says");
        MUT(put32(x + 32, 0), fe_err_format, "model layers 0");
        MUT(put32(x + 36, 0xffffffffu), fe_err_format, "text 0");
        MUT(put32(x + 40, 3), fe_err_format, "header says");
        MUT(put32(x + 56, 9), fe_err_format, "solver report");
        MUT(fe__wrf64le(x + 96, NAN), fe_err_format, "not finite");
        MUT(x[200] ^= 4, fe_err_format, "payload checksum");
        MUT((fe__wrf32le(x + 152 + 4 * 5, NAN), rehash(x, len, 152, 144)), fe_err_format, "u[5] is not finite");
        MUT((fe__wrf32le(x + 152 + 4 * 128 + 4 * 3, INFINITY), rehash(x, len, 152, 144)), fe_err_format, "right[3] is not finite");
        MUT((memset(x + 152, 0, 4 * 128), rehash(x, len, 152, 144)), fe_err_format, "u is zero");
        MUT((x[152 + 24 * 32 + 2] = 0, rehash(x, len, 152, 144)), fe_err_format, "NUL");
#undef MUT
        free(x);
    }
    TEST("patch: file round trip (atomic write), errors name the file") {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/fe_patch_test_%ld.fep", tmp ? tmp : "/tmp", (long)(size_t)&path % 100000);
        CHECK_CODE(fe_patch_save_file(path, &p, &err), fe_ok);
        fe_patch_free(lp2); lp2 = NULL;
        CHECK_CODE(fe_patch_load_file(&lp2, path, fresh, NULL, &err), fe_ok);
        if (lp2) CHECK(!memcmp(lp2->edit->u, e->u, sizeof(float) * 6 * 32));
        fe_patch_free(lp2); lp2 = NULL;
        CHECK_CODE(fe_patch_load_file(&lp2, path, other, NULL, &err), fe_err_mismatch);
        CHECK(msg_has(&err, path));
        remove(path);
        CHECK_CODE(fe_patch_load_file(&lp2, path, fresh, NULL, &err), fe_err_io);
        CHECK_CODE(fe_patch_save_file("/nonexistent_dir_fe/p.fep", &p, &err), fe_err_io);
    }
out:
    fe_free(b, NULL);
    fe_patch_free(lp); fe_patch_free(lp2);
    fe_edit_free(e);
    fe_rome_rows_free(rows);
    fe_model_free(m); fe_model_free(fresh); fe_model_free(other);
}

/* ------------------------------------------------------------------ CounterFact ----- */

static const char *cf_json =
    "[{\"case_id\": 3, \"requested_rewrite\": {\"prompt\": \"{} is located in the city of\", \"subject\": \"The Space Needle\","
    "  \"target_new\": {\"str\": \"Paris\"}, \"target_true\": {\"str\": \"Seattle\"}},"
    "  \"paraphrase_prompts\": [\"The Space Needle can be found in the city of\", \"Where is the Space Needle? In the city of\"],"
    "  \"neighborhood_prompts\": [\"Pike Place Market is located in the city of\", \"The Seattle Center is located in the city of\"],"
    "  \"attribute_prompts\": [\"The Eiffel Tower is located in the city of\"]},"
    " {\"case_id\": 8, \"requested_rewrite\": {\"prompt\": \"The mother tongue of {} is\", \"subject\": \"Danielle Darrieux\","
    "  \"target_new\": {\"str\": \"English\"}, \"target_true\": {\"str\": \"French\"}},"
    "  \"paraphrase_prompts\": [\"Danielle Darrieux spoke the language\"], \"neighborhood_prompts\": []},"
    " {\"case_id\": 9, \"requested_rewrite\": {\"prompt\": \"{} plays the sport of\", \"subject\": \"Michael Jordan\","
    "  \"target_new\": {\"str\": \"soccer\"}, \"target_true\": {\"str\": \"basketball\"}},"
    "  \"paraphrase_prompts\": [\"Michael Jordan is a professional\"], \"neighborhood_prompts\": [\"Kobe Bryant plays the sport of\"]},"
    " {\"case_id\": 12, \"requested_rewrite\": {\"prompt\": \"The best known work of {}\", \"subject\": \"Leonardo\","
    "  \"target_new\": {\"str\": \"Hamlet\"}, \"target_true\": {\"str\": \"Mona\"}},"
    "  \"paraphrase_prompts\": [\"The masterpiece of Leonardo\"], \"neighborhood_prompts\": [\"The best known work of Raphael\"]}]";

static void test_cf_load(void) {
    fe_cf_set *s = NULL;
    fe_error e;
    TEST("counterfact: load") {
        CHECK_CODE(fe_cf_load_mem(&s, cf_json, strlen(cf_json), NULL, &e), fe_ok);
        CHECK(fe_cf_count(s) == 4 && fe_cf_at(s, 4) == NULL);
        if (s) {
            const fe_cf_case *c = fe_cf_at(s, 0);
            CHECK(c->case_id == 3 && !strcmp(c->subject, "The Space Needle") && !strcmp(c->target_new, "Paris") && !strcmp(c->target_true, "Seattle"));
            CHECK(c->n_paraphrases == 2 && c->n_neighbors == 2 && !strcmp(c->neighbors[1], "The Seattle Center is located in the city of"));
            CHECK(fe_cf_at(s, 1)->n_neighbors == 0 && fe_cf_at(s, 2)->n_paraphrases == 1);
        }
        fe_cf_free(s); s = NULL;
    }
    TEST("counterfact: malformed files name the case and the field") {
        static const char *bad[][2] = {
            {"{}", "not a JSON array"},
            {"[]", "no cases"},
            {"[1]", "case 0 is not an object"},
            {"[{\"requested_rewrite\": {}}]", "case 0 has no case_id"},
            {"[{\"case_id\": -1}]", "has no case_id"},
            {"[{\"case_id\": 1.5}]", "has no case_id"},
            {"[{\"case_id\": 4}]", "case 0 (case_id 4) has no requested_rewrite"},
            {"[{\"case_id\": 4, \"requested_rewrite\": {\"prompt\": \"no fill\"}}]", "without exactly one \"{}\""},
            {"[{\"case_id\": 4, \"requested_rewrite\": {\"prompt\": \"{} x\", \"subject\": \"\"}}]", "requested_rewrite.subject"},
            {"[{\"case_id\": 4, \"requested_rewrite\": {\"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": \"P\"}}]", "target_new.str"},
            {"[{\"case_id\": 4, \"requested_rewrite\": {\"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": {\"str\": \"P\"}, \"target_true\": {\"str\": 3}}}]", "target_true.str"},
            {"[{\"case_id\": 4, \"requested_rewrite\": {\"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": {\"str\": \"P\"}, \"target_true\": {\"str\": \"Q\"}}}]", "no paraphrase_prompts array"},
            {"[{\"case_id\": 4, \"requested_rewrite\": {\"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": {\"str\": \"P\"}, \"target_true\": {\"str\": \"Q\"}}, \"paraphrase_prompts\": [], \"neighborhood_prompts\": [\"a\", 2]}]", "neighborhood_prompts[1]"},
            {"[{\"case_id\": 4, \"requested_rewrite\": {\"prompt\": \"{} x\", \"subject\": \"S\\u0000T\", \"target_new\": {\"str\": \"P\"}, \"target_true\": {\"str\": \"Q\"}}, \"paraphrase_prompts\": [], \"neighborhood_prompts\": []}]", "requested_rewrite.subject"},
            {"[{\"case_id\": 4,]", "json"},
        };
        size_t k;
        for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            CHECKF(fe_cf_load_mem(&s, bad[k][0], strlen(bad[k][0]), NULL, &e) != fe_ok && s == NULL, "case %lu loaded", (unsigned long)k);
            CHECKF(msg_has(&e, bad[k][1]), "case %lu: want '%s' in '%s'", (unsigned long)k, bad[k][1], e.msg);
        }
    }
}

static void test_cf_summary(void) {
    TEST("counterfact: summary means, CIs, NaN handling, Score") {
        fe_cf_scores s[4];
        fe_cf_summary sm;
        int i;
        double S;
        memset(s, 0, sizeof s);
        for (i = 0; i < 4; i++) { s[i].es = i == 1 ? 0 : 1; s[i].em = 0.1 * i; s[i].ps = 0.5; s[i].pm = 0.2; s[i].ns = i < 2 ? 1 : 0.5; s[i].nm = NAN; }
        s[3].ps = NAN;
        fe_cf_summarize(s, 4, &sm);
        CHECK(sm.n[fe_cf_metric_es] == 4 && fabs(sm.mean[fe_cf_metric_es] - 0.75) < 1e-15);
        CHECKF(fabs(sm.ci95[fe_cf_metric_es] - 1.96 * 0.5 / 2) < 1e-12, "ci %g", sm.ci95[fe_cf_metric_es]);
        CHECK(sm.n[fe_cf_metric_ps] == 3 && sm.mean[fe_cf_metric_ps] == 0.5 && sm.ci95[fe_cf_metric_ps] == 0);
        CHECK(sm.n[fe_cf_metric_nm] == 0 && isnan(sm.mean[fe_cf_metric_nm]) && isnan(sm.ci95[fe_cf_metric_nm]));
        S = 3.0 / (1 / 0.75 + 1 / 0.5 + 1 / 0.75);
        CHECKF(fabs(sm.mean[fe_cf_metric_score] - S) < 1e-15 && sm.n[fe_cf_metric_score] == 3 && sm.ci95[fe_cf_metric_score] > 0, "score %g n %d ci %g", sm.mean[fe_cf_metric_score], sm.n[fe_cf_metric_score], sm.ci95[fe_cf_metric_score]);
        CHECK(!strcmp(fe_cf_metric_name(fe_cf_metric_score), "Score") && !strcmp(fe_cf_metric_name(fe_cf_metric_nm), "NM") && !strcmp(fe_cf_metric_name(9), "?"));
        fe_cf_summarize(s, 1, &sm);
        CHECK(sm.n[fe_cf_metric_es] == 1 && isnan(sm.ci95[fe_cf_metric_es]) && isnan(sm.ci95[fe_cf_metric_score]));
        s[0].es = 0;
        fe_cf_summarize(s, 1, &sm);
        CHECK(sm.mean[fe_cf_metric_score] == 0);
    }
}

static void test_cf_eval(void) {
    fe_model *m = random_model(3, 32, 2, 50257, 64, 31);
    fe_cf_set *s = NULL;
    fe_cf_result res[4];
    fe_cf_scores post[4];
    fe_cf_summary sm;
    fe_rome_hparams hp;
    fe_templates *t = NULL;
    fe_error e;
    uint64_t cs;
    size_t i;
    int ok = 1;
    static const char *ctx[3] = {"{}", "The weather was nice. {}", "I read it twice. {}"};
    if (!m) return;
    fe_cf_load_mem(&s, cf_json, strlen(cf_json), NULL, NULL);
    cs = fe_model_checksum(m);
    TEST("fe_target_nll matches a direct forward") {
        const char *pr[2] = {"The Space Needle is in", "Hello"}, *tg[2] = {" Paris France", " world"};
        double nll[2], ref = 0;
        int n1, n2, *a = enc(pr[0], &n1), *b = enc(tg[0], &n2), *all = (int *)malloc(sizeof(int) * (size_t)(n1 + n2)), j;
        fe_state *st = NULL;
        fe_forward_opts fo;
        CHECK_CODE(fe_target_nll(m, gv, pr, tg, 2, nll, &e), fe_ok);
        memcpy(all, a, sizeof(int) * (size_t)n1); memcpy(all + n1, b, sizeof(int) * (size_t)n2);
        fe_state_new(&st, m, 1, n1 + n2 - 1, 0, NULL);
        memset(&fo, 0, sizeof fo); fo.all_logits = 1;
        fe_forward(m, st, all, n1 + n2 - 1, &fo, NULL);
        for (j = 0; j < n2; j++) {
            const float *z = fe_state_logits(st, 0, n1 + j - 1);
            float *p = (float *)malloc(sizeof(float) * 50257);
            fe_softmax(z, p, 50257);
            ref -= log(p[all[n1 + j]]);
            free(p);
        }
        ref /= n2;
        CHECKF(fabs(nll[0] - ref) < 1e-4 * (1 + ref), "nll %g ref %g", nll[0], ref);
        CHECK(nll[1] > 0);
        fe_state_free(st); free(a); free(b); free(all);
        pr[1] = "";
        CHECK_CODE(fe_target_nll(m, gv, pr, tg, 2, nll, &e), fe_err_arg);
        CHECK(msg_has(&e, "empty prompt"));
    }
    TEST("counterfact: eval on a random model; values sane; the model is restored bit for bit") {
        fe_rome_hparams_for(&hp, m);
        CHECK(hp.layer == 1);
        CHECK_CODE(fe_templates_from_list(&t, ctx, 3, NULL, &e), fe_ok);
        for (i = 0; s && t && i < fe_cf_count(s); i++) {
            if (fe_cf_eval_case(m, gv, fe_cf_at(s, i), t, &hp, NULL, &res[i], &e) != fe_ok) { ok = 0; printf("FAIL eval case %lu: %s\n", (unsigned long)i, e.msg); t_failed++; continue; }
            post[i] = res[i].post;
            CHECK(fe_model_checksum(m) == cs);
            CHECK(res[i].case_id == fe_cf_at(s, i)->case_id && res[i].n_ctx == 3);
#define IN01(x) ((x) >= 0 && (x) <= 1)
#define INPM(x) ((x) >= -1 && (x) <= 1)
            CHECK(IN01(res[i].pre.es) && IN01(res[i].post.es) && IN01(res[i].pre.ps) && IN01(res[i].post.ps));
            CHECK(INPM(res[i].pre.em) && INPM(res[i].post.em) && INPM(res[i].pre.pm) && INPM(res[i].post.pm));
            CHECK(i == 1 ? isnan(res[i].post.ns) && isnan(res[i].post.nm) : IN01(res[i].post.ns) && INPM(res[i].post.nm));
            CHECKF(res[i].report.last.loss < res[i].report.first.loss, "case %lu: loss %g -> %g", (unsigned long)i, res[i].report.first.loss, res[i].report.last.loss);
        }
        /* a random model's attention hardly carries v* from the subject to the last token; where the
           subject ends the prompt the edit acts directly: new beats true afterwards */
        if (ok && s) CHECKF(res[3].pre.es == 0 && res[3].post.es == 1 && res[3].post.em > res[3].pre.em, "ES %g -> %g, EM %g -> %g", res[3].pre.es, res[3].post.es, res[3].pre.em, res[3].post.em);
        if (ok && s) {
            fe_cf_summarize(post, 4, &sm);
            CHECK(sm.n[fe_cf_metric_es] == 4 && sm.n[fe_cf_metric_ns] == 3 && sm.n[fe_cf_metric_ps] == 4 && !isnan(sm.ci95[fe_cf_metric_ps]) && !isnan(sm.ci95[fe_cf_metric_em]));
            CHECK(!isnan(sm.mean[fe_cf_metric_score]) && sm.mean[fe_cf_metric_score] >= 0 && sm.mean[fe_cf_metric_score] <= 1);
        }
    }
    TEST("counterfact: scoring the unedited model twice gives identical numbers") {
        fe_cf_scores a, b;
        if (!s) break;
        CHECK_CODE(fe_cf_score(m, gv, fe_cf_at(s, 0), &a, &e), fe_ok);
        CHECK_CODE(fe_cf_score(m, gv, fe_cf_at(s, 0), &b, &e), fe_ok);
        CHECK(!memcmp(&a, &b, sizeof a) && !memcmp(&a, &res[0].pre, sizeof a));
    }
    fe_templates_free(t);
    fe_cf_free(s);
    fe_model_free(m);
}

/* ------------------------------------------------------------------ out of memory --- */

/* Every allocation of the glue's paths fails in turn: each call reports fe_err_nomem and frees
   everything it had taken (the counting allocator's live count returns to its base). */
static void test_nomem(void) {
    fe_config c;
    fe_model *m = NULL;
    t_alloc ta;
    fe_load_opts lo;
    long base;
    int k, saw_ok = 0, bad = 0;
    static const char *ctx[2] = {"{}", "Hi. {}"};
    memset(&c, 0, sizeof c);
    c.max_seq_len = 32; c.vocab_size = 50257; c.padded_vocab_size = 50304; c.num_layers = 2; c.num_heads = 2; c.channels = 8;
    memset(&ta, 0, sizeof ta); ta.fail_after = -1;
    memset(&lo, 0, sizeof lo); lo.alloc_user = &ta;
    if (fe_model_new(&m, &c, &lo, NULL) != fe_ok) { t_failed++; return; }
    fe_model_randomize(m, 5);
    base = ta.live;
    TEST("out of memory at every allocation: templates, requests, compute, stats, patches, CounterFact") {
        for (k = 0; k < 400 && !saw_ok; k++) {
            fe_templates *t = NULL;
            fe_rome_rows *rows = NULL;
            fe_text_request q;
            fe_rome_hparams hp;
            fe_edit *e = NULL;
            fe_cov *cov = NULL, *cov2 = NULL;
            fe_patch p, *lp = NULL;
            fe_cf_set *cf = NULL;
            fe_cf_result res;
            unsigned char *b1 = NULL, *b2 = NULL;
            size_t l1 = 0, l2 = 0;
            int tok[40], i, glen = 3, gcnt = 2;
            fe_rng rng;
            fe_result r;
            for (i = 0; i < 40; i++) tok[i] = (i * 977) % 50257;
            q.prompt = "{} is in"; q.subject = "Paris"; q.target = " France";
            fe_rome_hparams_for(&hp, m);
            hp.max_iters = 1;
            fe_rng_seed(&rng, 1);
            ta.calls = 0; ta.fail_after = k;
            r = fe_templates_from_list(&t, ctx, 2, &ta, NULL);
            if (r == fe_ok) { fe_templates_free(t); t = NULL; r = fe_templates_generate(&t, m, gv, &glen, &gcnt, 1, &rng, NULL); }
            if (r == fe_ok) r = fe_rome_rows_new(&rows, m, gv, &q, t, NULL);
            if (r == fe_ok) r = fe_stats_compute(&cov, m, 0, tok, 40, 16, NULL, NULL, NULL);
            if (r == fe_ok) { hp.cov_ridge = 0.1; r = fe_rome_compute_rows(m, rows, &hp, cov, &e, NULL); }
            if (r == fe_ok) r = fe_stats_save_mem(cov, 0, m, fe_model_checksum(m), &b1, &l1, NULL);
            if (r == fe_ok) r = fe_stats_load_mem(&cov2, NULL, b1, l1, m, NULL, NULL);
            if (r == fe_ok) {
                memset(&p, 0, sizeof p);
                p.edit = e; p.model_checksum = fe_model_checksum(m); p.num_layers = 2; p.prompt = (char *)"{} is in"; p.subject = (char *)"Paris"; p.target = (char *)" France";
                r = fe_patch_save_mem(&p, &b2, &l2, &ta, NULL);
            }
            if (r == fe_ok) r = fe_patch_load_mem(&lp, b2, l2, m, NULL, NULL);
            if (r == fe_ok) r = fe_patch_apply(m, lp, NULL);
            if (r == fe_ok) r = fe_edit_undo(m, lp->edit, NULL);
            if (r == fe_ok) r = fe_cf_load_mem(&cf, cf_json, strlen(cf_json), &ta, NULL);
            if (r == fe_ok) r = fe_cf_eval_case(m, gv, fe_cf_at(cf, 2), t, &hp, NULL, &res, NULL);
            if (r != fe_ok && r != fe_err_nomem) bad++;
            saw_ok = r == fe_ok;
            fe_cf_free(cf); fe_patch_free(lp);
            fe_free(b1, m->alloc_user); fe_free(b2, &ta);
            fe_cov_free(cov); fe_cov_free(cov2); fe_edit_free(e);
            fe_rome_rows_free(rows); fe_templates_free(t);
            if (ta.live != base) bad++;
        }
        CHECKF(saw_ok && !bad, "saw success %d after %d failure points, %d leaks or wrong codes", saw_ok, k, bad);
    }
    ta.fail_after = -1;
    fe_model_free(m);
    TEST("custom allocator: nothing left after freeing the model") CHECK(ta.live == 0);
}

int main(int argc, char **argv) {
    fe_error e;
    if (argc > 1) dir = argv[1];
    if (argc > 2) vocab_dir = argv[2];
    if (fe_vocab_load_dir(&gv, vocab_dir, NULL, &e) != fe_ok) { printf("FAIL vocabulary %s: %s\n", vocab_dir, e.msg); t_failed++; return t_summary(); }
    test_templates();
    test_requests();
    test_rows_equivalence();
    test_layers();
    test_stats();
    test_patches();
    test_cf_load();
    test_cf_summary();
    test_cf_eval();
    test_nomem();
    fe_vocab_free(gv);
    return t_summary();
}
