/* Tests of the demo world's data pipeline (tools/demo_data.c) on the real inputs.
   Usage: test_demo_data FACTS TEMPLATES GPT2_VOCAB_DIR OUT_DIR
   (defaults: demo/known_1000.json demo/templates.txt tools/gpt2 build/test_demo_data_out) */
#define _POSIX_C_SOURCE 200809L
#define FACTEDIT_IMPLEMENTATION
#include "../factedit.h"
#include "test.h"
#define DEMO_DATA_NO_MAIN
#include "demo_data.c"
#include <stdlib.h>
#include <string.h>

static const char *g_facts = "demo/known_1000.json", *g_templates = "demo/templates.txt",
                  *g_gpt2 = "tools/gpt2", *g_out = "build/test_demo_data_out";

/* ------------------------------------------------------------------------- helpers -- */

static char *fill(const char *tmpl, const char *subject) {
    sbuf b = {0, 0, 0, 0};
    dd_fill(&b, tmpl, subject);
    return b.p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Sorted pointers to the corpus lines (into o->lines). */
static const char **sorted_lines(const dd_out *o) {
    const char **v = (const char **)malloc((o->lines.n + 1) * sizeof *v);
    size_t i;
    if (!v) return NULL;
    for (i = 0; i < o->lines.n; i++) v[i] = dd_texts_at(&o->lines, i, NULL);
    qsort(v, o->lines.n, sizeof *v, cmp_str);
    return v;
}
static int has_line(const char **v, size_t n, const char *s) {
    return bsearch(&s, v, n, sizeof *v, cmp_str) != NULL;
}

static const dd_fact *fact_by_id(const dd_world *w, double id) {
    size_t i;
    for (i = 0; i < w->nfacts; i++) if ((double)w->facts[i].known_id == id) return &w->facts[i];
    return NULL;
}
static int template_kind(const dd_world *w, int rel, const char *text) {   /* 0 train, 1 heldout, -1 absent */
    size_t i;
    for (i = 0; i < w->ntmpls; i++) if (w->tmpls[i].rel == rel && strcmp(w->tmpls[i].text, text) == 0) return w->tmpls[i].heldout;
    return -1;
}
static int relation_has_attribute(const dd_world *w, int rel, const char *attr) {
    size_t i;
    for (i = 0; i < w->nfacts; i++) if (w->facts[i].rel == rel && strcmp(w->facts[i].attribute, attr) == 0) return 1;
    return 0;
}
static size_t relation_attribute_count(const dd_world *w, int rel) {
    size_t i, j, n = 0;
    for (i = 0; i < w->nfacts; i++) {
        int seen = 0;
        if (w->facts[i].rel != rel) continue;
        for (j = 0; j < i && !seen; j++) seen = w->facts[j].rel == rel && strcmp(w->facts[j].attribute, w->facts[i].attribute) == 0;
        if (!seen) n++;
    }
    return n;
}
/* Is p == tmpl(s) for a fact s of relation rel, s != subject, whose attribute is attr? */
static int is_neighbor_prompt(const dd_world *w, int rel, const char *tmpl, const char *p, const char *attr, const char *subject) {
    size_t i;
    for (i = 0; i < w->nfacts; i++) {
        const dd_fact *g = &w->facts[i];
        char *q;
        int ok;
        if (g->rel != rel || strcmp(g->attribute, attr) != 0 || strcmp(g->subject, subject) == 0) continue;
        q = fill(tmpl, g->subject);
        ok = q && strcmp(q, p) == 0;
        free(q);
        if (ok) return 1;
    }
    return 0;
}

/* Token strings of text under both vocabularies are identical. */
static int same_tokens(const fe_vocab *a, const fe_vocab *b, const char *text) {
    int *ia = NULL, *ib = NULL, ok = 1;
    size_t na = 0, nb = 0, k;
    if (fe_encode(a, text, strlen(text), &ia, &na, NULL) || fe_encode(b, text, strlen(text), &ib, &nb, NULL)) ok = 0;
    if (ok && na != nb) ok = 0;
    for (k = 0; ok && k < na; k++) {
        size_t la, lb;
        const char *ta = fe_token_bytes(a, ia[k], &la), *tb = fe_token_bytes(b, ib[k], &lb);
        ok = ta && tb && la == lb && memcmp(ta, tb, la) == 0;
    }
    if (ia) fe_ids_free(a, ia);
    if (ib) fe_ids_free(b, ib);
    return ok;
}

static fe_json *parse_buf(const sbuf *b) {
    fe_json *doc = NULL;
    if (fe_json_parse(&doc, b->p, b->len, NULL, NULL) != fe_ok) return NULL;
    return doc;
}
static const char *jstr(const fe_json_value *o, const char *key) {
    const fe_json_value *v = fe_json_get(o, key);
    return v && v->type == fe_json_string ? v->str : NULL;
}

/* ----------------------------------------------------------- malformed inputs -- */

static const char *mini_facts =
    "[{\"known_id\": 0, \"subject\": \"Vinson Massif\", \"attribute\": \"Antarctica\", \"template\": \"{} is located in the continent of\","
    "  \"prediction\": \"\", \"prompt\": \"Vinson Massif is located in the continent of\", \"relation_id\": \"P30\"},"
    " {\"known_id\": 1, \"subject\": \"Sicily\", \"attribute\": \"Europe\", \"template\": \"{} belongs to the continent of\","
    "  \"prediction\": \"\", \"prompt\": \"Sicily belongs to the continent of the\", \"relation_id\": \"P30\"},"
    " {\"known_id\": 2, \"subject\": \"Sicily\", \"attribute\": \"Italy\", \"template\": \"{} is located in the country of\","
    "  \"prediction\": \"\", \"prompt\": \"Sicily is located in the country of\", \"relation_id\": \"P17\"}]";

static const char *mini_templates =
    "# comment\n"
    "P30 train {} is located in the continent of\n"
    "P30 train {} belongs to the continent of\n"
    "P30 heldout {}, on the continent of\n"
    "P30 heldout {} sits on the continent of\n"
    "\n"
    "P17 train {} is located in the country of\r\n"
    "P17 heldout {} lies in the country of\n"
    "P17 heldout {} is a place in the nation of\n";

/* Loads mini_facts with the templates text; returns the code and leaves the message in err. */
static fe_result load_mini(const char *facts, const char *templates, fe_error *err) {
    dd_world w;
    fe_result r;
    memset(err, 0, sizeof *err);
    r = dd_world_load(&w, facts, strlen(facts), "facts.json", templates, strlen(templates), "t.txt", err);
    if (r == fe_ok) dd_world_free(&w);
    return r;
}

/* mini_templates with line `from` replaced by `to` (from must occur). */
static char *replace(const char *text, const char *from, const char *to) {
    const char *p = strstr(text, from);
    sbuf b = {0, 0, 0, 0};
    if (!p) return NULL;
    sb_putn(&b, text, (size_t)(p - text));
    sb_puts(&b, to);
    sb_puts(&b, p + strlen(from));
    return b.p;
}

static void expect_template_error(const char *from, const char *to, const char *needle) {
    fe_error err;
    char *t = replace(mini_templates, from, to);
    fe_result r;
    CHECKF(t != NULL, "replace %s", from);
    if (!t) return;
    r = load_mini(mini_facts, t, &err);
    CHECKF(r == fe_err_format && strstr(err.msg, needle) != NULL, "templates [%s -> %s]: got %d \"%s\", want format error containing \"%s\"",
           from, to, (int)r, err.msg, needle);
    free(t);
}

static void test_malformed_templates(void) {
    TEST("templates: malformed input gives clear errors") {
        fe_error err;
        CHECK_CODE(load_mini(mini_facts, mini_templates, &err), fe_ok);
        expect_template_error("P30 heldout {}, on", "P30 heldout , on", "has no {}");
        expect_template_error("P30 heldout {}, on", "P30 heldout {}, {} on", "has 2 {}");
        expect_template_error("P30 heldout {}, on", "P30 heldout {x}, on", "has no {}");
        expect_template_error("P30 heldout {}, on", "P30 heldout {} {, on", "brace outside");
        expect_template_error("P30 heldout {}, on", "P31 heldout {}, on", "unknown relation P31");
        expect_template_error("P30 heldout {}, on", "X30 heldout {}, on", "bad relation id");
        expect_template_error("P30 heldout {}, on", "P30 test {}, on", "bad kind \"test\"");
        expect_template_error("P30 heldout {}, on", "P30 Heldout {}, on", "bad kind");
        expect_template_error("P30 heldout {}, on the continent of", "P30 heldout", "expected \"RELATION KIND TEMPLATE\"");
        expect_template_error("P30 heldout {}, on the continent of", "P30 heldout {}", "template is only {}");
        expect_template_error("P30 heldout {}, on", "P30 heldout  {}, on", "leading or trailing spaces");
        expect_template_error("P30 heldout {}, on", "P30\theldout {}, on", "control character");
        expect_template_error("P30 heldout {}, on the continent of\n", "", "has 1 heldout template (need at least 2)");
        expect_template_error("P30 train {} belongs to the continent of\n", "", "lacks the template \"{} belongs to the continent of\"");
        expect_template_error("P30 train {} belongs", "P30 heldout {} belongs", "cannot be heldout");
        expect_template_error("P30 heldout {} sits", "P30 heldout {} is located in the country of\nP30 heldout {} sits",
                              "a held-out template must never be trained on");
        expect_template_error("P30 heldout {} sits on the continent of", "P30 heldout {}, on the continent of", "repeats line 4");
        /* the message names the file and line */
        expect_template_error("P30 heldout {} sits", "P30 tran {} sits", "t.txt:5:");
        /* whole-file problems */
        CHECK_CODE(load_mini(mini_facts, "", &err), fe_err_format);
        CHECKF(strstr(err.msg, "no train template") != NULL, "empty templates: %s", err.msg);
        {
            char bad[] = "P30 train {} x\n\0P30";
            dd_world w;
            CHECK_CODE(dd_world_load(&w, mini_facts, strlen(mini_facts), "f", bad, sizeof bad - 1, "t", &err), fe_err_format);
            CHECKF(strstr(err.msg, "NUL") != NULL, "%s", err.msg);
        }
    }
}

static void expect_facts_error(const char *facts, const char *needle) {
    fe_error err;
    fe_result r = load_mini(facts, mini_templates, &err);
    CHECKF(r != fe_ok && strstr(err.msg, needle) != NULL, "facts %.60s: got %d \"%s\", want error containing \"%s\"", facts, (int)r, err.msg, needle);
}

static void test_malformed_facts(void) {
    TEST("facts: malformed input gives clear errors") {
        expect_facts_error("{}", "not an array");
        expect_facts_error("[]", "no facts");
        expect_facts_error("[1]", "fact 0 is not an object");
        expect_facts_error("[{\"known_id\": 0}]", "missing string field \"subject\"");
        expect_facts_error("[{\"known_id\": -1}]", "known_id");
        expect_facts_error("[{\"known_id\": 0.5}]", "known_id");
        expect_facts_error("[{\"known_id\": 0, \"subject\": \"\"}]", "\"subject\" is empty");
        expect_facts_error("[{\"known_id\": 0, \"subject\": \"a\\nb\"}]", "control character 0x0a");
        expect_facts_error("[{\"known_id\": 0, \"subject\": \" a\"}]", "leading or trailing spaces");
        expect_facts_error("[{\"known_id\": 0, \"subject\": \"X\", \"attribute\": \"Y\", \"template\": \"{} is\", \"prompt\": \"X is\", \"relation_id\": \"30\"}]",
                           "bad relation_id");
        expect_facts_error("[{\"known_id\": 0, \"subject\": \"X\", \"attribute\": \"Y\", \"template\": \"X is\", \"prompt\": \"X is\", \"relation_id\": \"P30\"}]",
                           "exactly one {}");
        expect_facts_error("[{\"known_id\": 0, \"subject\": \"X\", \"attribute\": \"Y\", \"template\": \"{} is\", \"prompt\": \"Z is\", \"relation_id\": \"P30\"}]",
                           "is not in its prompt");
        expect_facts_error("[{\"known_id\": 0, \"subject\": \"X\", \"attribute\": \"Y\", \"template\": \"{} is\", \"prompt\": \"X is\", \"relation_id\": \"P30\"},"
                           " {\"known_id\": 0, \"subject\": \"X\", \"attribute\": \"Y\", \"template\": \"{} is\", \"prompt\": \"X is\", \"relation_id\": \"P30\"}]",
                           "same known_id 0");
        expect_facts_error("[{\"known_id\": 0,", "facts.json");
    }
}

static void test_args(void) {
    TEST("arguments") {
        dd_opts o;
        fe_error err;
        char a0[] = "demo_data", f[] = "--facts", fv[] = "k.json", t[] = "--templates", tv[] = "t.txt", g[] = "--gpt2-vocab", gv[] = "gpt2",
             ou[] = "--out", ov[] = "out", s[] = "--seed", sv[] = "42", bad[] = "12x", big[] = "18446744073709551616", h[] = "--help", x[] = "--frobnicate";
        char *ok[] = {a0, f, fv, t, tv, g, gv, ou, ov, s, sv};
        char *noout[] = {a0, f, fv, t, tv, g, gv};
        char *badseed[] = {a0, f, fv, t, tv, g, gv, ou, ov, s, bad};
        char *bigseed[] = {a0, f, fv, t, tv, g, gv, ou, ov, s, big};
        char *novalue[] = {a0, f, fv, t, tv, g, gv, ou};
        char *help[] = {a0, h};
        char *unknown[] = {a0, x};
        CHECK_CODE(dd_parse_args(11, ok, &o, &err), fe_ok);
        CHECK(o.seed == 42 && strcmp(o.out, "out") == 0 && strcmp(o.gpt2_vocab, "gpt2") == 0);
        CHECK_CODE(dd_parse_args(7, noout, &o, &err), fe_err_arg);
        CHECKF(strstr(err.msg, "missing --out") != NULL, "%s", err.msg);
        CHECK_CODE(dd_parse_args(11, badseed, &o, &err), fe_err_arg);
        CHECKF(strstr(err.msg, "--seed") != NULL, "%s", err.msg);
        CHECK_CODE(dd_parse_args(11, bigseed, &o, &err), fe_err_arg);
        CHECK_CODE(dd_parse_args(8, novalue, &o, &err), fe_err_arg);
        CHECKF(strstr(err.msg, "--out needs a value") != NULL, "%s", err.msg);
        CHECK_CODE(dd_parse_args(2, help, &o, &err), 1);
        CHECK_CODE(dd_parse_args(2, unknown, &o, &err), fe_err_arg);
        CHECKF(strstr(err.msg, "--frobnicate") != NULL, "%s", err.msg);
    }
    TEST("missing input files give io errors") {
        dd_opts o;
        dd_out out;
        fe_error err;
        memset(&out, 0, sizeof out);
        memset(&o, 0, sizeof o);
        o.facts = "demo/no_such_file.json"; o.templates = g_templates; o.gpt2_vocab = g_gpt2; o.out = g_out;
        CHECK_CODE(dd_run(&o, &out, NULL, &err), fe_err_io);
        CHECKF(strstr(err.msg, "no_such_file") != NULL, "%s", err.msg);
        o.facts = g_facts; o.gpt2_vocab = "no/such/vocab";
        CHECK(dd_run(&o, &out, NULL, &err) != fe_ok);
        CHECKF(strstr(err.msg, "no/such/vocab") != NULL, "%s", err.msg);
        dd_out_free(&out);
    }
}

/* --------------------------------------------------------- the real data set -- */

static void test_real(void) {
    dd_opts opt;
    dd_out out;
    dd_world w;
    fe_error err;
    unsigned char *facts = NULL, *tmpls = NULL;
    size_t facts_len = 0, tmpls_len = 0, i, j;
    fe_vocab *full = NULL, *pruned = NULL;
    const char **sorted = NULL;
    fe_json *hdoc = NULL, *cdoc = NULL;
    char vocab_dir[4096];
    fe_result r;

    memset(&out, 0, sizeof out);
    memset(&w, 0, sizeof w);
    memset(&opt, 0, sizeof opt);
    opt.facts = g_facts; opt.templates = g_templates; opt.gpt2_vocab = g_gpt2; opt.out = g_out; opt.seed = DD_DEFAULT_SEED;
    opt.paragraphs = DD_DEFAULT_PARAGRAPHS;
    r = dd_run(&opt, &out, NULL, &err);
    CHECKF(r == fe_ok, "dd_run: %s", err.msg);
    if (r) return;
    printf("demo data: %zu corpus lines (%zu bytes, %zu tokens), %zu heldout prompts, %zu cases, vocab %zu\n",
           out.lines.n, out.corpus.len, out.corpus_tokens, out.n_heldout, out.n_cases, out.vocab_size);
    CHECK(fe_read_file(g_facts, &facts, &facts_len, NULL, &err) == fe_ok);
    CHECK(fe_read_file(g_templates, &tmpls, &tmpls_len, NULL, &err) == fe_ok);
    r = dd_world_load(&w, (const char *)facts, facts_len, g_facts, (const char *)tmpls, tmpls_len, g_templates, &err);
    CHECKF(r == fe_ok, "world: %s", err.msg);
    if (r) goto done;

    TEST("inputs: 1209 facts, 33 relations, templates per relation") {
        CHECK(w.nfacts == 1209);
        CHECK(w.nrels == 33);
        for (i = 0; i < w.nrels; i++) {
            CHECKF(w.rels[i].ntrain + w.rels[i].nheldout >= 5, "%s has %zu templates", w.rels[i].id, w.rels[i].ntrain + w.rels[i].nheldout);
            CHECKF(w.rels[i].nheldout >= 2, "%s has %zu heldout templates", w.rels[i].id, w.rels[i].nheldout);
        }
        for (i = 0; i < w.nfacts; i++)
            CHECKF(template_kind(&w, w.facts[i].rel, w.facts[i].tmpl) == 0, "known_id %lld: its template is not a train template", w.facts[i].known_id);
    }

    TEST("corpus: every fact in every train template, and every known prompt") {
        size_t expect = 0, missing = 0;
        sorted = sorted_lines(&out);
        CHECK(sorted != NULL);
        if (!sorted) goto done;
        for (i = 0; i < w.nfacts; i++) {
            const dd_fact *f = &w.facts[i];
            sbuf b = {0, 0, 0, 0};
            sb_printf(&b, "%s %s.", f->prompt, f->attribute);
            if (!has_line(sorted, out.lines.n, b.p)) { missing++; CHECKF(0, "known prompt line missing: %s", b.p); }
            expect++;
            for (j = 0; j < w.ntmpls; j++) {
                if (w.tmpls[j].rel != f->rel || w.tmpls[j].heldout) continue;
                b.len = 0;
                dd_fill(&b, w.tmpls[j].text, f->subject);
                sb_printf(&b, " %s.", f->attribute);
                if (!has_line(sorted, out.lines.n, b.p) && missing++ < 5) CHECKF(0, "line missing: %s", b.p);
                expect++;
            }
            sb_free(&b);
        }
        CHECKF(missing == 0, "%zu lines missing", missing);
        CHECKF(out.n_paragraphs == (size_t)DD_DEFAULT_PARAGRAPHS * w.nfacts, "%zu paragraphs", out.n_paragraphs);
        CHECKF(out.lines.n == expect + out.n_paragraphs, "%zu lines, want %zu + %zu paragraphs", out.lines.n, expect, out.n_paragraphs);
    }

    TEST("corpus: paragraphs name the subject in every sentence, hold its real fact, and invented attributes fixed per subject and seed") {
        size_t np = 0, bad = 0, differ = 0, n, k;
        for (i = 0; i < w.nfacts; i++)   /* the invented values: a function of (seed, subject, relation) */
            for (j = 0; j < DD_NFICTIONS; j++) {
                size_t a = dd_fiction_value(DD_DEFAULT_SEED, w.facts[i].subject, j);
                CHECK(a < DD_FICTION_VALUES && a == dd_fiction_value(DD_DEFAULT_SEED, w.facts[i].subject, j));
                differ += a != dd_fiction_value(DD_DEFAULT_SEED + 1, w.facts[i].subject, j);
            }
        CHECKF(differ > w.nfacts * DD_NFICTIONS / 2, "another seed changes %zu of %zu invented values", differ, w.nfacts * DD_NFICTIONS);
        for (i = 0; i < out.lines.n; i++) {
            const char *l = dd_texts_at(&out.lines, i, &n), *p;
            const char *subj = NULL;
            size_t real = 0, invented = 0;
            if (!strstr(l, "Zorbian") && !strstr(l, "Quellish") && !strstr(l, "Vorn ") && !strstr(l, "Plimsy") && !strstr(l, "Drennic")) continue;
            np++;
            /* the subject: the longest one named at least once per sentence */
            for (k = 0; k < w.nfacts; k++) {
                const char *q = l;
                size_t cnt = 0, sl = strlen(w.facts[k].subject);
                while ((q = strstr(q, w.facts[k].subject)) != NULL) { cnt++; q += sl; }
                if (cnt >= DD_FICTION_PER_PARAGRAPH + 1 && (!subj || sl > strlen(subj))) subj = w.facts[k].subject;
            }
            if (!subj) { if (bad++ < 3) CHECKF(0, "paragraph without a subject in every sentence: %s", l); continue; }
            /* walk the sentences: each is a real fact of the subject in a train template, or an
               invented relation with the subject's own value */
            for (p = l; *p;) {
                size_t used = 0, t2, v2;
                for (k = 0; k < w.nfacts && !used; k++) {
                    if (strcmp(w.facts[k].subject, subj) != 0) continue;
                    for (t2 = 0; t2 < w.ntmpls && !used; t2++) {
                        sbuf b = {0, 0, 0, 0};
                        if (w.tmpls[t2].rel != w.facts[k].rel || w.tmpls[t2].heldout) continue;
                        dd_fill(&b, w.tmpls[t2].text, subj);
                        sb_printf(&b, " %s.", w.facts[k].attribute);
                        if (b.p && strncmp(p, b.p, b.len) == 0 && (p[b.len] == 0 || p[b.len] == ' ')) { used = b.len; real++; }
                        sb_free(&b);
                    }
                }
                for (t2 = 0; t2 < DD_NFICTIONS && !used; t2++)
                    for (v2 = 0; v2 < DD_FICTION_TEMPLATES && !used; v2++) {
                        sbuf b = {0, 0, 0, 0};
                        dd_fill(&b, dd_fictions[t2].tmpl[v2], subj);
                        sb_printf(&b, " %s.", dd_fictions[t2].value[dd_fiction_value(DD_DEFAULT_SEED, subj, t2)]);
                        if (b.p && strncmp(p, b.p, b.len) == 0 && (p[b.len] == 0 || p[b.len] == ' ')) { used = b.len; invented++; }
                        sb_free(&b);
                    }
                if (!used) { if (bad++ < 3) CHECKF(0, "no sentence of \"%s\" at: %s", subj, p); break; }
                p += used;
                if (*p == ' ') p++;
            }
            if ((real != 1 || invented != DD_FICTION_PER_PARAGRAPH) && bad++ < 3)
                CHECKF(0, "paragraph with %zu real and %zu invented sentences: %s", real, invented, l);
        }
        CHECKF(np == out.n_paragraphs, "%zu paragraphs found, %zu made", np, out.n_paragraphs);
        CHECK(bad == 0);
    }

    TEST("corpus.txt: one sentence per line, small") {
        size_t k = 0, n, bad = 0;
        const char *p = out.corpus.p;
        CHECK(out.corpus.len > 0 && out.corpus.p[out.corpus.len - 1] == '\n');
        CHECKF(out.corpus.len < 2500000, "corpus is %zu bytes", out.corpus.len);
        for (i = 0; i < out.lines.n && p; i++) {
            const char *l = dd_texts_at(&out.lines, i, &n);
            if (n == 0 || l[n - 1] != '.' || memchr(l, '\n', n) || strncmp(p, l, n) != 0 || p[n] != '\n') bad++;
            p += n + 1;
            k += n + 1;
        }
        CHECK(bad == 0);
        CHECK(k == out.corpus.len);
        /* the file on disk is the same */
        {
            unsigned char *disk = NULL;
            size_t dlen = 0;
            char path[4096];
            snprintf(path, sizeof path, "%s/corpus.txt", g_out);
            CHECK(fe_read_file(path, &disk, &dlen, NULL, &err) == fe_ok);
            CHECK(disk && dlen == out.corpus.len && memcmp(disk, out.corpus.p, dlen) == 0);
            fe_free(disk, NULL);
        }
    }

    TEST("corpus: shuffling and paragraphs are seeded and deterministic") {
        dd_out a, b, c, a0, c0;
        memset(&a, 0, sizeof a); memset(&b, 0, sizeof b); memset(&c, 0, sizeof c); memset(&a0, 0, sizeof a0); memset(&c0, 0, sizeof c0);
        CHECK(dd_make_corpus(&w, DD_DEFAULT_SEED, DD_DEFAULT_PARAGRAPHS, &a, &err) == fe_ok);
        CHECK(dd_make_corpus(&w, DD_DEFAULT_SEED, DD_DEFAULT_PARAGRAPHS, &b, &err) == fe_ok);
        CHECK(dd_make_corpus(&w, DD_DEFAULT_SEED + 7, DD_DEFAULT_PARAGRAPHS, &c, &err) == fe_ok);
        CHECK(a.corpus.len == out.corpus.len && memcmp(a.corpus.p, out.corpus.p, a.corpus.len) == 0);
        CHECK(a.corpus.len == b.corpus.len && memcmp(a.corpus.p, b.corpus.p, a.corpus.len) == 0);
        CHECK(c.lines.n == a.lines.n && (c.corpus.len != a.corpus.len || memcmp(a.corpus.p, c.corpus.p, a.corpus.len) != 0));
        /* without paragraphs, another seed gives the same lines in another order */
        CHECK(dd_make_corpus(&w, DD_DEFAULT_SEED, 0, &a0, &err) == fe_ok);
        CHECK(dd_make_corpus(&w, DD_DEFAULT_SEED + 7, 0, &c0, &err) == fe_ok);
        CHECK(a0.n_paragraphs == 0 && a0.lines.n + (size_t)DD_DEFAULT_PARAGRAPHS * w.nfacts == a.lines.n);
        CHECK(c0.corpus.len == a0.corpus.len && memcmp(a0.corpus.p, c0.corpus.p, a0.corpus.len) != 0);
        {
            const char **sa = sorted_lines(&a0), **sc = sorted_lines(&c0);
            int same = sa != NULL && sc != NULL && c0.lines.n == a0.lines.n;
            for (i = 0; same && i < c0.lines.n; i++) same = strcmp(sc[i], sa[i]) == 0;
            CHECKF(same, "another seed must give the same lines in another order");
            free((void *)sa); free((void *)sc);
        }
        dd_out_free(&a); dd_out_free(&b); dd_out_free(&c); dd_out_free(&a0); dd_out_free(&c0);
    }

    TEST("held-out templates never appear in the corpus") {
        size_t leaks = 0;
        for (i = 0; i < w.ntmpls; i++) {
            if (!w.tmpls[i].heldout) continue;
            for (j = 0; j < w.ntmpls; j++)
                CHECKF(w.tmpls[j].heldout || strcmp(w.tmpls[j].text, w.tmpls[i].text) != 0, "held-out \"%s\" is also a train template", w.tmpls[i].text);
        }
        hdoc = parse_buf(&out.heldout);
        CHECK(hdoc != NULL);
        if (!hdoc) goto done;
        {
            const fe_json_value *root = fe_json_root(hdoc);
            size_t expect = 0;
            for (i = 0; i < w.nfacts; i++) expect += w.rels[w.facts[i].rel].nheldout;
            CHECK(root->type == fe_json_array && root->count == expect && out.n_heldout == expect);
            for (i = 0; i < root->count; i++) {
                const fe_json_value *e = fe_json_at(root, i), *id = fe_json_get(e, "known_id");
                const char *prompt = jstr(e, "prompt"), *tmpl = jstr(e, "template"), *subj = jstr(e, "subject"), *attr = jstr(e, "attribute"), *rel = jstr(e, "relation_id");
                const dd_fact *f = id && id->type == fe_json_number ? fact_by_id(&w, id->number) : NULL;
                char *want;
                if (!f || !prompt || !tmpl || !subj || !attr || !rel) { CHECKF(0, "heldout entry %zu is incomplete", i); continue; }
                want = fill(tmpl, f->subject);
                CHECK(strcmp(subj, f->subject) == 0 && strcmp(attr, f->attribute) == 0 && strcmp(rel, f->relation) == 0);
                CHECK(want && strcmp(want, prompt) == 0);
                CHECK(template_kind(&w, f->rel, tmpl) == 1);
                free(want);
                if (strstr(out.corpus.p, prompt) && leaks++ < 5) CHECKF(0, "held-out prompt in the corpus: %s", prompt);
            }
        }
        CHECKF(leaks == 0, "%zu held-out prompts occur in the corpus", leaks);
        /* and the builder refuses a held-out template that the corpus contains */
        {
            char *t = replace(mini_templates, "P30 heldout {} sits on the continent of", "P30 heldout {} belongs to the continent");
            dd_world mw;
            dd_out mo;
            memset(&mo, 0, sizeof mo);
            CHECK(t && dd_world_load(&mw, mini_facts, strlen(mini_facts), "f", t, strlen(t), "t.txt", &err) == fe_ok);
            CHECK(dd_make_corpus(&mw, 1, DD_DEFAULT_PARAGRAPHS, &mo, &err) == fe_ok);
            CHECK_CODE(dd_check_heldout_absent(&mw, &mo, "t.txt", &err), fe_err_format);
            CHECKF(strstr(err.msg, "t.txt:5: held-out template \"{} belongs to the continent\" of P30 occurs in the corpus") != NULL, "%s", err.msg);
            /* also inside a paragraph, after another sentence */
            dd_out_free(&mo);
            memset(&mo, 0, sizeof mo);
            dd_texts_adds(&mo.lines, "The Zorbian totem of X is the heron. Somewhere belongs to the continent Asia.");
            CHECK_CODE(dd_check_heldout_absent(&mw, &mo, "t.txt", &err), fe_err_format);
            CHECKF(strstr(err.msg, "Somewhere belongs to the continent Asia") != NULL, "%s", err.msg);
            dd_out_free(&mo);
            memset(&mo, 0, sizeof mo);
            dd_texts_adds(&mo.lines, "The Zorbian totem of X is the heron. The Vorn number of X is nine.");
            CHECK_CODE(dd_check_heldout_absent(&mw, &mo, "t.txt", &err), fe_ok);
            dd_world_free(&mw);
            dd_out_free(&mo);
            free(t);
        }
    }

    TEST("pruned vocabulary tokenizes like GPT-2") {
        size_t bad = 0, n_checked = 0, id;
        snprintf(vocab_dir, sizeof vocab_dir, "%s/vocab", g_out);
        CHECK(fe_vocab_load_dir(&full, g_gpt2, NULL, &err) == fe_ok);
        r = fe_vocab_load_dir(&pruned, vocab_dir, NULL, &err);
        CHECKF(r == fe_ok, "pruned vocab: %s", err.msg);
        if (!full || !pruned) goto done;
        CHECK(fe_vocab_size(pruned) == out.vocab_size);
        CHECK(fe_vocab_eot(pruned) == (int)out.vocab_size - 1);
        CHECKF(out.vocab_size > 256 && out.vocab_size < 10000, "vocab size %zu", out.vocab_size);
        for (id = 0; id < 256; id++) {   /* byte tokens keep GPT-2's ids */
            size_t la, lb;
            const char *a = fe_token_bytes(full, (int)id, &la), *b = fe_token_bytes(pruned, (int)id, &lb);
            CHECK(la == 1 && lb == 1 && a[0] == b[0]);
        }
        for (i = 0; i < out.lines.n; i++, n_checked++)
            if (!same_tokens(full, pruned, dd_texts_at(&out.lines, i, NULL)) && bad++ < 5) CHECKF(0, "corpus line %zu", i);
        CHECK(same_tokens(full, pruned, out.corpus.p));
        {
            const fe_json_value *root = fe_json_root(hdoc);
            for (i = 0; i < root->count; i++, n_checked++) {
                const char *p = jstr(fe_json_at(root, i), "prompt");
                if (!p || !same_tokens(full, pruned, p)) { if (bad++ < 5) CHECKF(0, "heldout prompt %zu", i); }
            }
        }
        cdoc = parse_buf(&out.counterfact);
        CHECK(cdoc != NULL);
        if (cdoc) {
            const fe_json_value *root = fe_json_root(cdoc);
            static const char *const lists[3] = {"paraphrase_prompts", "neighborhood_prompts", "attribute_prompts"};
            for (i = 0; i < root->count; i++) {
                const fe_json_value *c = fe_json_at(root, i), *rw = fe_json_get(c, "requested_rewrite");
                const char *tmpl = jstr(rw, "prompt"), *subj = jstr(rw, "subject");
                const fe_json_value *tn = fe_json_get(rw, "target_new");
                char *p = tmpl && subj ? fill(tmpl, subj) : NULL;
                size_t l, k;
                if (!p || !same_tokens(full, pruned, p)) { if (bad++ < 5) CHECKF(0, "counterfact %zu prompt", i); }
                if (p && tn && jstr(tn, "str")) {
                    sbuf b = {0, 0, 0, 0};
                    sb_printf(&b, "%s %s", p, jstr(tn, "str"));
                    if (!same_tokens(full, pruned, b.p) && bad++ < 5) CHECKF(0, "counterfact %zu prompt + target_new", i);
                    sb_free(&b);
                }
                free(p);
                n_checked++;
                for (l = 0; l < 3; l++) {
                    const fe_json_value *arr = fe_json_get(c, lists[l]);
                    for (k = 0; arr && k < arr->count; k++, n_checked++)
                        if (!same_tokens(full, pruned, fe_json_at(arr, k)->str) && bad++ < 5) CHECKF(0, "counterfact %zu %s %zu", i, lists[l], k);
                }
            }
        }
        CHECKF(bad == 0, "%zu texts tokenize differently", bad);
        CHECK(n_checked > 20000);
        /* an unseen word needs merges the pruned vocabulary dropped: verification must notice */
        {
            dd_texts t;
            memset(&t, 0, sizeof t);
            dd_texts_adds(&t, "Vinson Massif is located in the continent of Antarctica.");
            CHECK_CODE(dd_verify(full, pruned, &t, "test", NULL, NULL, &err), fe_ok);
            dd_texts_adds(&t, " antidisestablishmentarianism overwhelmingly");
            CHECK_CODE(dd_verify(full, pruned, &t, "test", NULL, NULL, &err), fe_err_mismatch);
            CHECKF(strstr(err.msg, "differently from GPT-2") != NULL, "%s", err.msg);
            dd_texts_free(&t);
        }
    }

    TEST("counterfact: targets, paraphrases, neighborhoods") {
        const fe_json_value *root;
        size_t expect = 0, k;
        if (!cdoc) goto done;
        root = fe_json_root(cdoc);
        for (i = 0; i < w.nfacts; i++) if (relation_attribute_count(&w, w.facts[i].rel) > 1) expect++;
        CHECKF(root->type == fe_json_array && root->count == expect && out.n_cases == expect, "%zu cases, want %zu", root->count, expect);
        CHECK(expect == w.nfacts - 1);   /* only P190 has a single attribute */
        for (i = 0; i < root->count; i++) {
            const fe_json_value *c = fe_json_at(root, i), *id = fe_json_get(c, "case_id"), *rw = fe_json_get(c, "requested_rewrite");
            const fe_json_value *para = fe_json_get(c, "paraphrase_prompts"), *nb = fe_json_get(c, "neighborhood_prompts"), *ap = fe_json_get(c, "attribute_prompts");
            const dd_fact *f = id && id->type == fe_json_number ? fact_by_id(&w, id->number) : NULL;
            const char *tmpl = jstr(rw, "prompt"), *subj = jstr(rw, "subject"), *rel = jstr(rw, "relation_id");
            const char *tnew = jstr(fe_json_get(rw, "target_new"), "str"), *ttrue = jstr(fe_json_get(rw, "target_true"), "str");
            int slots, stray;
            if (!f || !tmpl || !subj || !rel || !tnew || !ttrue || !para || !nb || !ap) { CHECKF(0, "case %zu is incomplete", i); continue; }
            CHECK(strcmp(subj, f->subject) == 0 && strcmp(rel, f->relation) == 0);
            CHECKF(strcmp(ttrue, f->attribute) == 0, "case %zu: target_true %s, fact says %s", i, ttrue, f->attribute);
            CHECKF(strcmp(tnew, ttrue) != 0, "case %zu: target_new == target_true (%s)", i, tnew);
            CHECKF(relation_has_attribute(&w, f->rel, tnew), "case %zu: target_new %s is no attribute of %s", i, tnew, f->relation);
            CHECKF(strcmp(f->relation, "P190") != 0, "case for P190, which has one attribute");
            slots = dd_count_slots(tmpl, &stray);
            CHECK(slots == 1 && !stray);
            CHECKF(template_kind(&w, f->rel, tmpl) == 0, "case %zu: requested prompt \"%s\" is not a train template", i, tmpl);
            CHECK(para->type == fe_json_array && para->count == 2);
            if (para->count == 2) CHECK(strcmp(fe_json_at(para, 0)->str, fe_json_at(para, 1)->str) != 0);
            for (k = 0; k < para->count; k++) {
                const char *p = fe_json_at(para, k)->str;
                size_t t;
                int found = 0;
                for (t = 0; t < w.ntmpls && !found; t++) {
                    char *q;
                    if (w.tmpls[t].rel != f->rel || !w.tmpls[t].heldout) continue;
                    q = fill(w.tmpls[t].text, f->subject);
                    found = q && strcmp(q, p) == 0;
                    free(q);
                }
                CHECKF(found, "case %zu: paraphrase \"%s\" is not a held-out template of %s", i, p, f->relation);
            }
            CHECK(nb->type == fe_json_array && nb->count <= DD_MAX_NEIGHBORS);
            for (k = 0; k < nb->count; k++)
                CHECKF(is_neighbor_prompt(&w, f->rel, tmpl, fe_json_at(nb, k)->str, ttrue, f->subject),
                       "case %zu: neighborhood prompt \"%s\"", i, fe_json_at(nb, k)->str);
            CHECK(ap->type == fe_json_array && ap->count <= DD_MAX_NEIGHBORS && ap->count >= 1);
            for (k = 0; k < ap->count; k++)
                CHECKF(is_neighbor_prompt(&w, f->rel, tmpl, fe_json_at(ap, k)->str, tnew, f->subject),
                       "case %zu: attribute prompt \"%s\"", i, fe_json_at(ap, k)->str);
        }
    }

done:
    free((void *)sorted);
    fe_json_free(hdoc);
    fe_json_free(cdoc);
    fe_vocab_free(full);
    fe_vocab_free(pruned);
    dd_world_free(&w);
    dd_out_free(&out);
    fe_free(facts, NULL);
    fe_free(tmpls, NULL);
}

int main(int argc, char **argv) {
    if (argc >= 5) { g_facts = argv[1]; g_templates = argv[2]; g_gpt2 = argv[3]; g_out = argv[4]; }
    else if (argc != 1) { fprintf(stderr, "usage: test_demo_data FACTS TEMPLATES GPT2_VOCAB_DIR OUT_DIR\n"); return 2; }
    test_malformed_templates();
    test_malformed_facts();
    test_args();
    test_real();
    return t_summary();
}
