/* Fuzz target: the readers of tools/demo_data.c, i.e. known_1000.json (dd_load_facts), the
   templates file (dd_load_templates, both via dd_world_load) and its own vocab.bpe parser
   (dd_merges_parse), then the whole data build (dd_build: corpus, held-out prompts, CounterFact
   requests, vocabulary pruning and its verification) on small worlds.
   demo_data.c has no CounterFact *reader* (it only writes counterfact.json): the generated file is
   parsed back here with fe_json_parse and its structure checked. (The ROME engineer's CounterFact
   and stats/patch readers need their own targets when they land: see FINDINGS.md.)
   Input: facts JSON, NUL, templates text, NUL, merges text (parts may be missing).
   The "full" vocabulary of dd_build is GPT-2's first 2000 merges (tools/gpt2/vocab.bpe, or
   $FE_FUZZ_GPT2/vocab.bpe), loaded once: small enough to parse on every run, and consistent.
   Checks: no crash, leak or UB; a build error is never a verification failure ("verify: ...",
   "no merge"): the pruned vocabulary must tokenize every text as the full one does; the written
   heldout.json and counterfact.json parse and hold the counted entries with the expected fields;
   the corpus has one line per sentence. */
#include "fuzz.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#define DEMO_DATA_NO_MAIN
#include "demo_data.c"

#define FZ_FULL_MERGES 2000

static fe_vocab *g_full;
static char *g_merges;
static size_t g_merges_len;

static void load_full(void) {
    const char *dir = getenv("FE_FUZZ_GPT2");
    char path[4096];
    unsigned char *bpe = NULL;
    size_t bl = 0, k, lines = 0;
    fe_error e;
    if (!dir) dir = "tools/gpt2";
    snprintf(path, sizeof path, "%s/vocab.bpe", dir);
    if (fe_read_file(path, &bpe, &bl, NULL, &e) != fe_ok) { fprintf(stderr, "fuzz_demo_data: %s (run from the repository root or set FE_FUZZ_GPT2)\n", e.msg); exit(2); }
    for (k = 0; k < bl && lines < FZ_FULL_MERGES + 1; k++) if (bpe[k] == '\n') lines++;
    g_merges_len = k;
    g_merges = (char *)bpe;
    if (fe_vocab_load_mem(&g_full, NULL, 0, g_merges, g_merges_len, NULL, &e) != fe_ok) { fprintf(stderr, "fuzz_demo_data: %s\n", e.msg); exit(2); }
}

static void check_error(fe_result r, const fe_error *e) {
    FZ_CHECK(r != fe_ok && e->code == r);
    FZ_CHECK(memchr(e->msg, 0, sizeof e->msg) != NULL && e->msg[0] != 0);
}

static const fe_json_value *str_field(const fe_json_value *o, const char *k) {
    const fe_json_value *v = fe_json_get(o, k);
    FZ_CHECK(v != NULL && v->type == fe_json_string);
    return v;
}

static void check_outputs(const dd_world *w, const dd_out *o) {
    fe_json *doc = NULL;
    const fe_json_value *root;
    size_t i, nl = 0;
    fe_result r;
    /* corpus: the lines, each followed by a newline */
    for (i = 0; i < o->corpus.len; i++) nl += o->corpus.p[i] == '\n';
    FZ_CHECK(nl == o->lines.n && (o->corpus.len == 0 || o->corpus.p[o->corpus.len - 1] == '\n'));
    r = fe_json_parse(&doc, o->heldout.p, o->heldout.len, NULL, NULL);
    FZ_CHECK(r == fe_ok || fz_oom_hit);
    if (r == fe_ok) {
        root = fe_json_root(doc);
        FZ_CHECK(root->type == fe_json_array && root->count == o->n_heldout);
        for (i = 0; i < root->count; i++) {
            const fe_json_value *h = fe_json_at(root, i);
            str_field(h, "subject"); str_field(h, "attribute"); str_field(h, "template"); str_field(h, "prompt");
        }
        fe_json_free(doc); doc = NULL;
    }
    r = fe_json_parse(&doc, o->counterfact.p, o->counterfact.len, NULL, NULL);
    FZ_CHECK(r == fe_ok || fz_oom_hit);
    if (r == fe_ok) {
        root = fe_json_root(doc);
        FZ_CHECK(root->type == fe_json_array && root->count == o->n_cases && o->n_cases + o->n_cases_skipped == w->nfacts);
        for (i = 0; i < root->count; i++) {
            const fe_json_value *c = fe_json_at(root, i), *rw = fe_json_get(c, "requested_rewrite"), *pp;
            const fe_json_value *subj, *prompt;
            FZ_CHECK(rw && rw->type == fe_json_object);
            prompt = str_field(rw, "prompt");
            subj = str_field(rw, "subject");
            FZ_CHECK(strstr(prompt->str, "{}") != NULL && subj->len > 0);
            str_field(fe_json_get(rw, "target_new"), "str");
            str_field(fe_json_get(rw, "target_true"), "str");
            FZ_CHECK(strcmp(fe_json_get(fe_json_get(rw, "target_new"), "str")->str, fe_json_get(fe_json_get(rw, "target_true"), "str")->str) != 0);
            pp = fe_json_get(c, "paraphrase_prompts");
            FZ_CHECK(pp && pp->type == fe_json_array && pp->count == 2);
            pp = fe_json_get(c, "neighborhood_prompts");
            FZ_CHECK(pp && pp->type == fe_json_array && pp->count <= DD_MAX_NEIGHBORS);
            pp = fe_json_get(c, "attribute_prompts");
            FZ_CHECK(pp && pp->type == fe_json_array && pp->count <= DD_MAX_NEIGHBORS);
        }
        fe_json_free(doc);
    }
}

static void fz_target(const uint8_t *data, size_t size) {
    const uint8_t *part[3];
    size_t len[3];
    int k;
    char *facts, *tmpl, *merges;
    dd_world w;
    fe_error e;
    fe_result r;
    if (!g_full) { load_full(); fz_calls = 0; }
    k = fz_split(data, size, part, len, 3);
    facts = fz_dup(part[0], len[0], 0);
    tmpl = k > 1 ? fz_dup(part[1], len[1], 0) : NULL;
    merges = k > 2 ? fz_dup(part[2], len[2], 0) : NULL;

    if (merges) {   /* demo_data's own vocab.bpe reader */
        dd_alphabet al;
        dd_merges ms;
        dd_alphabet_init(&al);
        r = dd_merges_parse(&ms, &al, merges, len[2], "merges", &e);
        if (r == fe_ok) {
            size_t i;
            FZ_CHECK(ms.n > 0 && ms.nslot >= 2 * ms.n);
            for (i = 0; i < ms.n; i++)   /* every merge's result is found, as itself */
                FZ_CHECK(dd_merge_find(&ms, ms.raw.p + ms.m[i].raw_off, ms.m[i].raw_len) == (long)i);
        } else check_error(r, &e);
        dd_merges_free(&ms);
    }

    r = dd_world_load(&w, facts, len[0], "facts", tmpl ? tmpl : "", tmpl ? len[1] : 0, "templates", &e);
    if (r != fe_ok) check_error(r, &e);
    else {
        size_t i;
        FZ_CHECK(w.nfacts > 0 && w.nrels > 0 && w.nrels <= w.nfacts);
        for (i = 0; i < w.nfacts; i++) FZ_CHECK(w.facts[i].rel >= 0 && (size_t)w.facts[i].rel < w.nrels);
        if (w.nfacts <= 64 && w.ntmpls <= 256) {
            dd_out o;
            memset(&o, 0, sizeof o);
            r = dd_build(&w, g_full, g_merges, g_merges_len, "vocab.bpe", 1, DD_DEFAULT_PARAGRAPHS, "templates", &o, &e);
            if (r == fe_ok) check_outputs(&w, &o);
            else {
                check_error(r, &e);
                if (!fz_oom_hit && (strstr(e.msg, "verify") || strstr(e.msg, "no merge"))) {
                    fprintf(stderr, "dd_build: %s\n", e.msg);
                    FZ_CHECK(!"the pruned vocabulary failed its verification");
                }
            }
            dd_out_free(&o);
        }
        dd_world_free(&w);
    }
    free(facts); free(tmpl); free(merges);
}
