/* demo_data: builds the data of the demo world (a tiny GPT-2 trained on ROME's known facts).

   demo_data --facts demo/known_1000.json --templates demo/templates.txt --gpt2-vocab tools/gpt2
             --out DIR [--seed S]

   Writes into DIR (each file atomically):
     corpus.txt        training text, one sentence ("document") per line, shuffled
   known.txt         each fact's known_1000 sentence (also in corpus.txt), for a last training
                     phase that weights the facts' own prompts
     heldout.json      prompts from held-out templates (paraphrase accuracy)
     counterfact.json  edit requests in ROME's CounterFact format
     vocab/encoder.json, vocab/vocab.bpe
                       GPT-2's BPE pruned to the merges these texts use, ids renumbered densely
   and prints counts to stdout. demo/README-data.md describes the data and the formats.

   Only factedit.h's public API is used, and the tools' text buffer (tools/buf.c, compiled in
   beside this file: sbuf, sb_json_cstr). The test (tests/test_demo_data.c) includes this file with
   DEMO_DATA_NO_MAIN defined, after defining FACTEDIT_IMPLEMENTATION itself. Everything here is
   deterministic for a given seed and input. */
#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L   /* mkdir */
#endif
#ifndef DEMO_DATA_NO_MAIN
#define FACTEDIT_IMPLEMENTATION
#endif
#include "factedit.h"
#include "buf.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/stat.h>
#include <sys/types.h>
#define DD_POSIX 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DD_FN static __attribute__((unused))
#else
#define DD_FN static
#endif

#define DD_MAX_NEIGHBORS 10     /* neighborhood_prompts and attribute_prompts per case */
#define DD_MIN_HELDOUT 2        /* held-out templates every relation needs (2 paraphrase prompts) */
#define DD_DEFAULT_SEED 1
#define DD_DEFAULT_PARAGRAPHS 8 /* paragraphs per fact in corpus.txt (--paragraphs) */

/* ============================================================================ errors === */

/* Puts "pre: " in front of a message the library (or a callee) wrote. */
DD_FN fe_result dd_prefix(fe_error *err, fe_result code, const char *pre) {
    if (err) {
        char tmp[sizeof err->msg];
        size_t cap = sizeof tmp - 1, lp = strlen(pre), lm = 0;
        while (lm < sizeof err->msg - 1 && err->msg[lm]) lm++;
        if (lp > cap) lp = cap;
        memcpy(tmp, pre, lp);
        if (lp + 2 <= cap) { memcpy(tmp + lp, ": ", 2); lp += 2; }
        if (lm > cap - lp) lm = cap - lp;
        memcpy(tmp + lp, err->msg, lm);
        tmp[lp + lm] = 0;
        memcpy(err->msg, tmp, sizeof tmp);
        err->code = code;
    }
    return code;
}

/* ====================================================================== byte buffers === */

/* A list of byte strings stored back to back in one buffer (addressed by offset). */
typedef struct dd_texts { sbuf data; size_t *off, *len; size_t n, cap; int oom; } dd_texts;

DD_FN void dd_texts_add(dd_texts *t, const char *s, size_t n) {
    if (t->oom) return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        size_t *o = (size_t *)realloc(t->off, cap * sizeof *o);
        if (!o) { t->oom = 1; return; }
        t->off = o;
        o = (size_t *)realloc(t->len, cap * sizeof *o);
        if (!o) { t->oom = 1; return; }
        t->len = o;
        t->cap = cap;
    }
    t->off[t->n] = t->data.len;
    t->len[t->n] = n;
    sb_putn(&t->data, s, n);
    sb_putn(&t->data, "", 1);   /* each entry NUL-terminated */
    if (t->data.failed) { t->oom = 1; return; }
    t->n++;
}
DD_FN void dd_texts_adds(dd_texts *t, const char *s) { dd_texts_add(t, s, strlen(s)); }
DD_FN const char *dd_texts_at(const dd_texts *t, size_t i, size_t *len) {
    if (len) *len = t->len[i];
    return t->data.p + t->off[i];
}
DD_FN void dd_texts_free(dd_texts *t) {
    sb_free(&t->data);
    free(t->off);
    free(t->len);
    memset(t, 0, sizeof *t);
}

DD_FN char *dd_strndup(const char *s, size_t n) {
    char *r = (char *)malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

/* ========================================================================== the world === */

typedef struct dd_fact {
    long long known_id;
    char *subject, *attribute, *prompt, *tmpl, *relation;
    int rel;                 /* index into dd_world.rels */
} dd_fact;

typedef struct dd_template {
    int rel;                 /* index into dd_world.rels */
    int heldout;             /* 0 = train, 1 = heldout */
    char *text;              /* "... {} ..." */
    int line;                /* line in the templates file */
} dd_template;

typedef struct dd_relation {
    char *id;                /* "P30" */
    size_t nfacts;
    size_t ntrain, nheldout;
    int canonical;           /* index of the relation's first train template, -1 if none */
} dd_relation;

typedef struct dd_world {
    dd_fact *facts; size_t nfacts;
    dd_relation *rels; size_t nrels;
    dd_template *tmpls; size_t ntmpls;
} dd_world;

DD_FN void dd_world_free(dd_world *w) {
    size_t i;
    for (i = 0; i < w->nfacts; i++) {
        dd_fact *f = &w->facts[i];
        free(f->subject); free(f->attribute); free(f->prompt); free(f->tmpl); free(f->relation);
    }
    for (i = 0; i < w->nrels; i++) free(w->rels[i].id);
    for (i = 0; i < w->ntmpls; i++) free(w->tmpls[i].text);
    free(w->facts); free(w->rels); free(w->tmpls);
    memset(w, 0, sizeof *w);
}

DD_FN int dd_find_rel(const dd_world *w, const char *id, size_t n) {
    size_t i;
    for (i = 0; i < w->nrels; i++)
        if (strlen(w->rels[i].id) == n && memcmp(w->rels[i].id, id, n) == 0) return (int)i;
    return -1;
}

/* A relation id is "P" followed by 1..9 digits. */
DD_FN int dd_valid_rel_id(const char *s, size_t n) {
    size_t i;
    if (n < 2 || n > 10 || s[0] != 'P') return 0;
    for (i = 1; i < n; i++) if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* Number of occurrences of "{}" in s, and whether another brace occurs. */
DD_FN int dd_count_slots(const char *s, int *stray_brace) {
    int k = 0;
    *stray_brace = 0;
    while (*s) {
        if (s[0] == '{' && s[1] == '}') { k++; s += 2; continue; }
        if (*s == '{' || *s == '}') *stray_brace = 1;
        s++;
    }
    return k;
}

/* template with its {} replaced by subject. */
DD_FN void dd_fill(sbuf *b, const char *tmpl, const char *subject) {
    const char *p = strstr(tmpl, "{}");
    if (!p) { sb_puts(b, tmpl); return; }
    sb_putn(b, tmpl, (size_t)(p - tmpl));
    sb_puts(b, subject);
    sb_puts(b, p + 2);
}

/* A text field of a fact: a non-empty string without control characters (the corpus is one
   sentence per line) and without leading or trailing white space. */
DD_FN fe_result dd_fact_str(const fe_json_value *o, const char *key, size_t idx, const char *name, char **out, fe_error *err) {
    const fe_json_value *v = fe_json_get(o, key);
    size_t i;
    *out = NULL;
    if (!v || v->type != fe_json_string)
        return fe_error_set(err, fe_err_format, "%s: fact %zu: missing string field \"%s\"", name, idx, key);
    if (v->len == 0) return fe_error_set(err, fe_err_format, "%s: fact %zu: \"%s\" is empty", name, idx, key);
    for (i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (c < 0x20 || c == 0x7f)
            return fe_error_set(err, fe_err_format, "%s: fact %zu: \"%s\" contains control character 0x%02x", name, idx, key, c);
    }
    if (v->str[0] == ' ' || v->str[v->len - 1] == ' ')
        return fe_error_set(err, fe_err_format, "%s: fact %zu: \"%s\" has leading or trailing spaces: \"%.80s\"", name, idx, key, v->str);
    *out = dd_strndup(v->str, v->len);
    if (!*out) return fe_error_set(err, fe_err_nomem, "%s: out of memory", name);
    return fe_ok;
}

/* Parses known_1000.json (an array of {known_id, subject, attribute, template, prediction, prompt,
   relation_id}) into w->facts and w->rels. */
DD_FN fe_result dd_load_facts(dd_world *w, const char *json, size_t len, const char *name, fe_error *err) {
    fe_json *doc = NULL;
    const fe_json_value *root;
    fe_result r;
    size_t i, j;
    r = fe_json_parse(&doc, json, len, NULL, err);
    if (r) return dd_prefix(err, r, name);
    root = fe_json_root(doc);
    if (root->type != fe_json_array) { fe_json_free(doc); return fe_error_set(err, fe_err_format, "%s: the top level is not an array", name); }
    if (root->count == 0) { fe_json_free(doc); return fe_error_set(err, fe_err_format, "%s: no facts", name); }
    w->facts = (dd_fact *)calloc(root->count, sizeof *w->facts);
    w->rels = (dd_relation *)calloc(root->count, sizeof *w->rels);
    if (!w->facts || !w->rels) { fe_json_free(doc); return fe_error_set(err, fe_err_nomem, "%s: out of memory", name); }
    for (i = 0; i < root->count; i++) {
        const fe_json_value *o = fe_json_at(root, i), *id;
        dd_fact *f = &w->facts[i];
        int slots, stray;
        w->nfacts = i + 1;   /* so dd_world_free releases what this fact got */
        if (o->type != fe_json_object) { r = fe_error_set(err, fe_err_format, "%s: fact %zu is not an object", name, i); goto fail; }
        id = fe_json_get(o, "known_id");
        if (!id || id->type != fe_json_number || id->number < 0 || id->number > 1e15 || id->number != (double)(long long)id->number) {
            r = fe_error_set(err, fe_err_format, "%s: fact %zu: \"known_id\" is not a non-negative integer", name, i);
            goto fail;
        }
        f->known_id = (long long)id->number;
        if ((r = dd_fact_str(o, "subject", i, name, &f->subject, err)) != fe_ok) goto fail;
        if ((r = dd_fact_str(o, "attribute", i, name, &f->attribute, err)) != fe_ok) goto fail;
        if ((r = dd_fact_str(o, "template", i, name, &f->tmpl, err)) != fe_ok) goto fail;
        if ((r = dd_fact_str(o, "prompt", i, name, &f->prompt, err)) != fe_ok) goto fail;
        if ((r = dd_fact_str(o, "relation_id", i, name, &f->relation, err)) != fe_ok) goto fail;
        if (!dd_valid_rel_id(f->relation, strlen(f->relation))) {
            r = fe_error_set(err, fe_err_format, "%s: fact %zu: bad relation_id \"%.40s\" (want P and digits)", name, i, f->relation);
            goto fail;
        }
        slots = dd_count_slots(f->tmpl, &stray);
        if (slots != 1 || stray) {
            r = fe_error_set(err, fe_err_format, "%s: fact %zu: template \"%.80s\" must hold exactly one {} and no other brace", name, i, f->tmpl);
            goto fail;
        }
        if (!strstr(f->prompt, f->subject)) {
            r = fe_error_set(err, fe_err_format, "%s: fact %zu: subject \"%.60s\" is not in its prompt \"%.80s\"", name, i, f->subject, f->prompt);
            goto fail;
        }
        for (j = 0; j < i; j++)
            if (w->facts[j].known_id == f->known_id) {
                r = fe_error_set(err, fe_err_format, "%s: facts %zu and %zu have the same known_id %lld", name, j, i, f->known_id);
                goto fail;
            }
        f->rel = dd_find_rel(w, f->relation, strlen(f->relation));
        if (f->rel < 0) {
            dd_relation *rel = &w->rels[w->nrels];
            rel->id = dd_strndup(f->relation, strlen(f->relation));
            if (!rel->id) { r = fe_error_set(err, fe_err_nomem, "%s: out of memory", name); goto fail; }
            rel->canonical = -1;
            f->rel = (int)w->nrels++;
        }
        w->rels[f->rel].nfacts++;
    }
    fe_json_free(doc);
    return fe_ok;
fail:
    fe_json_free(doc);
    return r;
}

/* Parses the templates file (see demo/templates.txt for the format) against the loaded facts. */
DD_FN fe_result dd_load_templates(dd_world *w, const char *text, size_t len, const char *name, fe_error *err) {
    size_t pos = 0, cap = 0, i, j;
    int line = 0;
    if (memchr(text, 0, len)) return fe_error_set(err, fe_err_format, "%s: contains a NUL byte", name);
    while (pos < len) {
        const char *s = text + pos, *nl = (const char *)memchr(s, '\n', len - pos), *sp1, *sp2, *t;
        size_t n = nl ? (size_t)(nl - s) : len - pos, tn;
        int rel, heldout, slots, stray;
        dd_template *tp;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n && s[n - 1] == '\r') n--;
        if (n == 0 || s[0] == '#') continue;
        for (i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return fe_error_set(err, fe_err_format, "%s:%d: control character 0x%02x (fields are separated by single spaces)", name, line, (unsigned)(unsigned char)s[i]);
        sp1 = (const char *)memchr(s, ' ', n);
        sp2 = sp1 ? (const char *)memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s)) : NULL;
        if (!sp1 || !sp2 || sp1 == s || sp2 == sp1 + 1 || sp2 + 1 == s + n)
            return fe_error_set(err, fe_err_format, "%s:%d: expected \"RELATION KIND TEMPLATE\", got \"%.*s\"", name, line, (int)(n < 80 ? n : 80), s);
        if (!dd_valid_rel_id(s, (size_t)(sp1 - s)))
            return fe_error_set(err, fe_err_format, "%s:%d: bad relation id \"%.*s\" (want P and digits, e.g. P30)", name, line, (int)((sp1 - s) > 40 ? 40 : (sp1 - s)), s);
        rel = dd_find_rel(w, s, (size_t)(sp1 - s));
        if (rel < 0)
            return fe_error_set(err, fe_err_format, "%s:%d: unknown relation %.*s (no fact has it)", name, line, (int)(sp1 - s), s);
        if ((size_t)(sp2 - sp1 - 1) == 5 && memcmp(sp1 + 1, "train", 5) == 0) heldout = 0;
        else if ((size_t)(sp2 - sp1 - 1) == 7 && memcmp(sp1 + 1, "heldout", 7) == 0) heldout = 1;
        else return fe_error_set(err, fe_err_format, "%s:%d: bad kind \"%.*s\" (want train or heldout)", name, line, (int)((sp2 - sp1 - 1) > 40 ? 40 : (sp2 - sp1 - 1)), sp1 + 1);
        t = sp2 + 1;
        tn = (size_t)(s + n - t);
        if (t[0] == ' ' || t[tn - 1] == ' ')
            return fe_error_set(err, fe_err_format, "%s:%d: template has leading or trailing spaces (the attribute follows after exactly one space)", name, line);
        if (w->ntmpls == cap) {
            size_t nc = cap ? 2 * cap : 64;
            dd_template *q = (dd_template *)realloc(w->tmpls, nc * sizeof *q);
            if (!q) return fe_error_set(err, fe_err_nomem, "%s: out of memory", name);
            w->tmpls = q;
            cap = nc;
        }
        tp = &w->tmpls[w->ntmpls];
        tp->text = dd_strndup(t, tn);
        if (!tp->text) return fe_error_set(err, fe_err_nomem, "%s: out of memory", name);
        tp->rel = rel;
        tp->heldout = heldout;
        tp->line = line;
        w->ntmpls++;
        slots = dd_count_slots(tp->text, &stray);
        if (slots == 0) return fe_error_set(err, fe_err_format, "%s:%d: template \"%.80s\" has no {} for the subject", name, line, tp->text);
        if (slots > 1) return fe_error_set(err, fe_err_format, "%s:%d: template \"%.80s\" has %d {} (want exactly one)", name, line, tp->text, slots);
        if (stray) return fe_error_set(err, fe_err_format, "%s:%d: template \"%.80s\" has a brace outside {}", name, line, tp->text);
        if (tn == 2) return fe_error_set(err, fe_err_format, "%s:%d: template is only {}", name, line);
        for (i = 0; i + 1 < w->ntmpls; i++) {
            const dd_template *o = &w->tmpls[i];
            if (strcmp(o->text, tp->text) != 0) continue;
            if (o->rel == rel) return fe_error_set(err, fe_err_format, "%s:%d: template \"%.80s\" of %s repeats line %d", name, line, tp->text, w->rels[rel].id, o->line);
            if (o->heldout != heldout)
                return fe_error_set(err, fe_err_format, "%s:%d: template \"%.80s\" is %s here but %s for %s on line %d (a held-out template must never be trained on)",
                               name, line, tp->text, heldout ? "heldout" : "train", heldout ? "train" : "heldout", w->rels[o->rel].id, o->line);
        }
        if (heldout) w->rels[rel].nheldout++;
        else {
            if (w->rels[rel].canonical < 0) w->rels[rel].canonical = (int)(w->ntmpls - 1);
            w->rels[rel].ntrain++;
        }
    }
    for (i = 0; i < w->nrels; i++) {
        const dd_relation *r = &w->rels[i];
        if (r->ntrain == 0) return fe_error_set(err, fe_err_format, "%s: relation %s has no train template", name, r->id);
        if (r->nheldout < DD_MIN_HELDOUT)
            return fe_error_set(err, fe_err_format, "%s: relation %s has %zu heldout template%s (need at least %d)", name, r->id, r->nheldout, r->nheldout == 1 ? "" : "s", DD_MIN_HELDOUT);
    }
    /* Every template known_1000.json uses must be trained on: its prompts are in the corpus. */
    for (i = 0; i < w->nfacts; i++) {
        const dd_fact *f = &w->facts[i];
        int found = 0;
        for (j = 0; j < w->ntmpls && !found; j++) {
            const dd_template *tp = &w->tmpls[j];
            if (tp->rel != f->rel || strcmp(tp->text, f->tmpl) != 0) continue;
            if (tp->heldout)
                return fe_error_set(err, fe_err_format, "%s:%d: template \"%.80s\" of %s is used by known_id %lld, so it cannot be heldout",
                               name, tp->line, tp->text, f->relation, f->known_id);
            found = 1;
        }
        if (!found)
            return fe_error_set(err, fe_err_format, "%s: relation %s lacks the template \"%.80s\" that known_id %lld uses (list it as train)",
                           name, f->relation, f->tmpl, f->known_id);
    }
    return fe_ok;
}

/* Loads the facts, then the templates. On failure w is freed. */
DD_FN fe_result dd_world_load(dd_world *w, const char *facts_json, size_t facts_len, const char *facts_name,
                              const char *templates, size_t templates_len, const char *templates_name, fe_error *err) {
    fe_result r;
    memset(w, 0, sizeof *w);
    r = dd_load_facts(w, facts_json, facts_len, facts_name, err);
    if (!r) r = dd_load_templates(w, templates, templates_len, templates_name, err);
    if (r) dd_world_free(w);
    return r;
}

/* ============================================================================ outputs === */

typedef struct dd_out {
    sbuf corpus, heldout, counterfact, encoder, merges;   /* the files' bytes */
    sbuf known;              /* known.txt: each fact's own known_1000 sentence, in file order */
    dd_texts lines;            /* corpus lines, in file order, without "\n" */
    dd_texts texts;            /* other texts the pruned vocabulary must tokenize as GPT-2 does */
    size_t n_train_templates, n_heldout_templates;
    size_t n_heldout, n_cases, n_cases_skipped;
    size_t n_merges, vocab_size, corpus_tokens, longest_line;
    size_t n_paragraphs;       /* of o->lines */
} dd_out;

DD_FN void dd_out_free(dd_out *o) {
    sb_free(&o->corpus); sb_free(&o->heldout); sb_free(&o->counterfact); sb_free(&o->known);
    sb_free(&o->encoder); sb_free(&o->merges);
    dd_texts_free(&o->lines); dd_texts_free(&o->texts);
    memset(o, 0, sizeof *o);
}

DD_FN int dd_out_oom(const dd_out *o) {
    return o->corpus.failed || o->heldout.failed || o->counterfact.failed || o->encoder.failed || o->merges.failed || o->lines.oom || o->texts.oom;
}

/* Uniform integer in [0, n), n >= 1, without modulo bias. */
DD_FN size_t dd_below(fe_rng *r, size_t n) {
    uint64_t m = (uint64_t)n, lim, x;
    if (n <= 1) return 0;
    lim = (0 - m) % m;   /* reject the first 2^64 mod n values */
    do x = fe_rng_u64(r); while (x < lim);
    return (size_t)(x % m);
}

/* Adds "s attribute." to the corpus line list. */
DD_FN void dd_add_line(dd_out *o, sbuf *tmp, const char *sentence_start, const char *attribute) {
    tmp->len = 0;
    sb_puts(tmp, sentence_start);
    sb_puts(tmp, " ");
    sb_puts(tmp, attribute);
    sb_puts(tmp, ".");
    if (tmp->failed) { o->lines.oom = 1; return; }
    dd_texts_add(&o->lines, tmp->p, tmp->len);
}

/* ======================================================================== fiction === */

/* Invented relations of the demo world. A subject of known_1000 has one real fact; a model that
   sees each subject in one kind of sentence memorises the sentence and looks the fact up at the
   prediction position. Paragraphs that state several attributes of the same subject, in any
   order and wording, make the attributes needed at many later positions, so the model stores
   them at the subject's tokens ("subject enrichment", Geva et al. 2023; "knowledge augmentation",
   Allen-Zhu & Li 2023), which is the mechanism ROME's causal trace finds in GPT-2. Relation names
   and values are plainly made up (no Zorbian lore exists), so no sentence reads as a claim about
   a real person or company. Each subject's value of each invented relation is a hash of the seed,
   the subject and the relation: deterministic for a seed. */
#define DD_FICTION_TEMPLATES 3
#define DD_FICTION_VALUES 12
typedef struct dd_fiction {
    const char *name;                               /* documentation only */
    const char *tmpl[DD_FICTION_TEMPLATES];         /* "... {} ..." then " value." */
    const char *value[DD_FICTION_VALUES];
} dd_fiction;
static const dd_fiction dd_fictions[] = {
    {"Zorbian totem", {"{}'s Zorbian totem is the", "In Zorbian lore, the totem of {} is the", "The Zorbian totem of {} is the"},
     {"heron", "lynx", "otter", "badger", "falcon", "walrus", "gecko", "bison", "marten", "ibis", "newt", "puffin"}},
    {"Quellish colour", {"{}'s Quellish colour is", "In the Quellish scheme, {} is painted", "The Quellish colour of {} is"},
     {"teal", "amber", "crimson", "ochre", "violet", "indigo", "saffron", "jade", "coral", "slate", "ivory", "maroon"}},
    {"Vorn number", {"{}'s Vorn number is", "In the Vorn count, {} is numbered", "The Vorn number of {} is"},
     {"seven", "twelve", "three", "nine", "forty", "eleven", "sixty", "eight", "fifteen", "two", "ninety", "thirty"}},
    {"Plimsy flower", {"{}'s Plimsy flower is the", "In Plimsy custom, {} is given the", "The Plimsy flower of {} is the"},
     {"tulip", "lily", "orchid", "daisy", "poppy", "iris", "lotus", "aster", "peony", "clover", "bluebell", "thistle"}},
    {"Drennic metal", {"{}'s Drennic metal is", "In Drennic alchemy, {} is bound to", "The Drennic metal of {} is"},
     {"iron", "copper", "tin", "silver", "cobalt", "nickel", "zinc", "bronze", "brass", "lead", "gold", "pewter"}},
};
#define DD_NFICTIONS (sizeof dd_fictions / sizeof dd_fictions[0])
#define DD_FICTION_PER_PARAGRAPH 3   /* invented attributes per paragraph, beside the real fact */

/* FNV-1a-64 of the seed (8 bytes, little-endian), the subject and the relation index (one byte),
   folded once: the subject's invented value. */
DD_FN size_t dd_fiction_value(uint64_t seed, const char *subject, size_t rel) {
    unsigned char sb[8], rb = (unsigned char)rel;
    uint64_t h;
    size_t i;
    for (i = 0; i < 8; i++) sb[i] = (unsigned char)(seed >> (8 * i));
    h = fe_fnv1a64(FACTEDIT_FNV1A64_INIT, sb, 8);
    h = fe_fnv1a64(h, subject, strlen(subject));
    h = fe_fnv1a64(h, &rb, 1);
    h ^= h >> 29;
    return (size_t)(h % DD_FICTION_VALUES);
}

/* One paragraph about fact f: its real attribute in a random train template of its relation and
   DD_FICTION_PER_PARAGRAPH invented attributes in random templates, in random order, the subject
   named in every sentence. Appended to o->lines. */
DD_FN void dd_add_paragraph(const dd_world *w, const dd_fact *f, uint64_t seed, fe_rng *rng, dd_out *o, sbuf *tmp) {
    size_t rels[DD_NFICTIONS], tr[64], ntr = 0, j, k, order[DD_FICTION_PER_PARAGRAPH + 1];
    for (j = 0; j < w->ntmpls && ntr < 64; j++)
        if (w->tmpls[j].rel == f->rel && !w->tmpls[j].heldout) tr[ntr++] = j;
    for (j = 0; j < DD_NFICTIONS; j++) rels[j] = j;
    for (j = 0; j < DD_FICTION_PER_PARAGRAPH; j++) {   /* a partial Fisher-Yates: distinct relations */
        size_t q = j + dd_below(rng, DD_NFICTIONS - j), t = rels[j];
        rels[j] = rels[q];
        rels[q] = t;
    }
    for (j = 0; j <= DD_FICTION_PER_PARAGRAPH; j++) order[j] = j;
    for (j = DD_FICTION_PER_PARAGRAPH + 1; j > 1; j--) {
        size_t q = dd_below(rng, j), t = order[j - 1];
        order[j - 1] = order[q];
        order[q] = t;
    }
    tmp->len = 0;
    for (k = 0; k <= DD_FICTION_PER_PARAGRAPH; k++) {
        if (k) sb_puts(tmp, " ");
        if (order[k] == 0) {   /* the real fact */
            dd_fill(tmp, w->tmpls[tr[dd_below(rng, ntr)]].text, f->subject);
            sb_puts(tmp, " ");
            sb_puts(tmp, f->attribute);
        } else {
            const dd_fiction *fi = &dd_fictions[rels[order[k] - 1]];
            dd_fill(tmp, fi->tmpl[dd_below(rng, DD_FICTION_TEMPLATES)], f->subject);
            sb_puts(tmp, " ");
            sb_puts(tmp, fi->value[dd_fiction_value(seed, f->subject, rels[order[k] - 1])]);
        }
        sb_puts(tmp, ".");
    }
    if (tmp->failed) { o->lines.oom = 1; return; }
    dd_texts_add(&o->lines, tmp->p, tmp->len);
}

/* corpus.txt: for every fact, one sentence per train template of its relation plus its
   known_1000 prompt completed with the attribute, and `paragraphs` paragraphs (dd_add_paragraph);
   shuffled with fe_rng seeded with `seed`. */
DD_FN fe_result dd_make_corpus(const dd_world *w, uint64_t seed, int paragraphs, dd_out *o, fe_error *err) {
    sbuf tmp = {0, 0, 0, 0}, s = {0, 0, 0, 0};
    dd_texts ordered;
    size_t i, j, *perm;
    fe_rng rng;
    memset(&ordered, 0, sizeof ordered);
    o->lines.n = 0;
    for (i = 0; i < w->nfacts; i++) {
        const dd_fact *f = &w->facts[i];
        for (j = 0; j < w->ntmpls; j++) {
            if (w->tmpls[j].rel != f->rel || w->tmpls[j].heldout) continue;
            s.len = 0;
            dd_fill(&s, w->tmpls[j].text, f->subject);
            if (s.failed) break;
            dd_add_line(o, &tmp, s.p, f->attribute);
        }
        dd_add_line(o, &tmp, f->prompt, f->attribute);
        sb_putn(&o->known, tmp.p, tmp.len);
        sb_putn(&o->known, "\n", 1);
    }
    fe_rng_seed(&rng, seed ^ 0x70617261ull);   /* "para" */
    for (i = 0; i < w->nfacts; i++) {
        int k;
        for (k = 0; k < paragraphs; k++) dd_add_paragraph(w, &w->facts[i], seed, &rng, o, &tmp);
    }
    o->n_paragraphs = (size_t)paragraphs * w->nfacts;
    sb_free(&tmp);
    sb_free(&s);
    if (o->lines.oom || s.failed) return fe_error_set(err, fe_err_nomem, "corpus: out of memory");
    /* Fisher-Yates over the line order. */
    perm = (size_t *)malloc((o->lines.n ? o->lines.n : 1) * sizeof *perm);
    if (!perm) return fe_error_set(err, fe_err_nomem, "corpus: out of memory");
    for (i = 0; i < o->lines.n; i++) perm[i] = i;
    fe_rng_seed(&rng, seed);
    for (i = o->lines.n; i > 1; i--) {
        size_t k = dd_below(&rng, i), t = perm[i - 1];
        perm[i - 1] = perm[k];
        perm[k] = t;
    }
    o->corpus.len = 0;
    for (i = 0; i < o->lines.n; i++) {
        size_t n;
        const char *l = dd_texts_at(&o->lines, perm[i], &n);
        dd_texts_add(&ordered, l, n);
        sb_putn(&o->corpus, l, n);
        sb_putn(&o->corpus, "\n", 1);
    }
    free(perm);
    dd_texts_free(&o->lines);
    o->lines = ordered;
    if (o->lines.oom || o->corpus.failed) return fe_error_set(err, fe_err_nomem, "corpus: out of memory");
    return fe_ok;
}

/* heldout.json: one entry per (fact, held-out template of its relation). */
DD_FN fe_result dd_make_heldout(const dd_world *w, dd_out *o, fe_error *err) {
    sbuf p = {0, 0, 0, 0};
    size_t i, j;
    o->heldout.len = 0;
    o->n_heldout = 0;
    sb_puts(&o->heldout, "[");
    for (i = 0; i < w->nfacts; i++) {
        const dd_fact *f = &w->facts[i];
        for (j = 0; j < w->ntmpls; j++) {
            const dd_template *t = &w->tmpls[j];
            if (t->rel != f->rel || !t->heldout) continue;
            p.len = 0;
            dd_fill(&p, t->text, f->subject);
            if (p.failed) break;
            sb_puts(&o->heldout, o->n_heldout ? ",\n  " : "\n  ");
            sb_printf(&o->heldout, "{\"known_id\": %lld, \"relation_id\": ", f->known_id);
            sb_json_cstr(&o->heldout, f->relation);
            sb_puts(&o->heldout, ", \"subject\": ");
            sb_json_cstr(&o->heldout, f->subject);
            sb_puts(&o->heldout, ", \"attribute\": ");
            sb_json_cstr(&o->heldout, f->attribute);
            sb_puts(&o->heldout, ", \"template\": ");
            sb_json_cstr(&o->heldout, t->text);
            sb_puts(&o->heldout, ", \"prompt\": ");
            sb_json_cstr(&o->heldout, p.p);
            sb_puts(&o->heldout, "}");
            dd_texts_add(&o->texts, p.p, p.len);
            sb_puts(&p, " ");
            sb_puts(&p, f->attribute);
            sb_puts(&p, ".");
            dd_texts_add(&o->texts, p.p, p.len);
            o->n_heldout++;
        }
    }
    sb_puts(&o->heldout, "\n]\n");
    sb_free(&p);
    if (p.failed || o->heldout.failed || o->texts.oom) return fe_error_set(err, fe_err_nomem, "heldout: out of memory");
    return fe_ok;
}

/* Candidate facts of relation `rel` whose attribute is `attr` and whose subject differs from
   `subject`, one per subject (first occurrence), into idx (room for w->nfacts); returns count. */
DD_FN size_t dd_same_attribute(const dd_world *w, int rel, const char *attr, const char *subject, size_t *idx) {
    size_t i, j, n = 0;
    for (i = 0; i < w->nfacts; i++) {
        const dd_fact *g = &w->facts[i];
        int dup = 0;
        if (g->rel != rel || strcmp(g->attribute, attr) != 0 || strcmp(g->subject, subject) == 0) continue;
        for (j = 0; j < n && !dup; j++) dup = strcmp(w->facts[idx[j]].subject, g->subject) == 0;
        if (!dup) idx[n++] = i;
    }
    return n;
}

/* Appends a JSON array of up to DD_MAX_NEIGHBORS prompts "tmpl(subject of fact idx[k])" for a
   random subset (seeded partial shuffle) of idx[0..n). Adds prompt and prompt + " " + target to texts. */
DD_FN void dd_prompt_list(const dd_world *w, dd_out *o, fe_rng *rng, const char *tmpl, size_t *idx, size_t n, const char *target, sbuf *tmp) {
    size_t k, take = n < DD_MAX_NEIGHBORS ? n : DD_MAX_NEIGHBORS;
    sb_puts(&o->counterfact, "[");
    for (k = 0; k < take; k++) {
        size_t r = k + dd_below(rng, n - k), t = idx[k];
        idx[k] = idx[r];
        idx[r] = t;
        tmp->len = 0;
        dd_fill(tmp, tmpl, w->facts[idx[k]].subject);
        if (tmp->failed) { o->texts.oom = 1; return; }
        if (k) sb_puts(&o->counterfact, ", ");
        sb_json_cstr(&o->counterfact, tmp->p);
        dd_texts_add(&o->texts, tmp->p, tmp->len);
        sb_puts(tmp, " ");
        sb_puts(tmp, target);
        dd_texts_add(&o->texts, tmp->p, tmp->len);
    }
    sb_puts(&o->counterfact, "]");
}

/* counterfact.json: one edit request per fact whose relation has at least two attributes.
   Seeded with seed + 1 (independent of the corpus order). */
DD_FN fe_result dd_make_counterfact(const dd_world *w, uint64_t seed, dd_out *o, fe_error *err) {
    sbuf tmp = {0, 0, 0, 0};
    size_t *idx = NULL, *attrs = NULL, *ho = NULL;
    size_t i, j, k;
    fe_rng rng;
    o->counterfact.len = 0;
    o->n_cases = o->n_cases_skipped = 0;
    idx = (size_t *)malloc(w->nfacts * sizeof *idx);
    attrs = (size_t *)malloc(w->nfacts * sizeof *attrs);
    ho = (size_t *)malloc((w->ntmpls ? w->ntmpls : 1) * sizeof *ho);
    if (!idx || !attrs || !ho) { free(idx); free(attrs); free(ho); return fe_error_set(err, fe_err_nomem, "counterfact: out of memory"); }
    fe_rng_seed(&rng, seed + 1);
    sb_puts(&o->counterfact, "[");
    for (i = 0; i < w->nfacts; i++) {
        const dd_fact *f = &w->facts[i];
        const char *tmpl, *target_new;
        size_t nattr = 0, nho = 0, n, a, b;
        /* Distinct attributes of the relation other than the true one, in first-seen order. */
        for (j = 0; j < w->nfacts; j++) {
            const dd_fact *g = &w->facts[j];
            int dup = 0;
            if (g->rel != f->rel || strcmp(g->attribute, f->attribute) == 0) continue;
            for (k = 0; k < nattr && !dup; k++) dup = strcmp(w->facts[attrs[k]].attribute, g->attribute) == 0;
            if (!dup) attrs[nattr++] = j;
        }
        if (nattr == 0) { o->n_cases_skipped++; continue; }
        target_new = w->facts[attrs[dd_below(&rng, nattr)]].attribute;
        /* The requested prompt: the fact's own known_1000 template when its prompt is exactly that
           template filled in (the model is measured on it), else the relation's canonical one. */
        tmp.len = 0;
        dd_fill(&tmp, f->tmpl, f->subject);
        if (tmp.failed) break;
        for (j = 0; j < w->ntmpls; j++)
            if (w->tmpls[j].rel == f->rel && w->tmpls[j].heldout) ho[nho++] = j;
        if (nho < 2 || w->rels[f->rel].canonical < 0) {
            sb_free(&tmp);
            free(idx); free(attrs); free(ho);
            return fe_error_set(err, fe_err_arg, "counterfact: relation %s needs a train and two heldout templates", f->relation);
        }
        tmpl = strcmp(tmp.p, f->prompt) == 0 ? f->tmpl : w->tmpls[w->rels[f->rel].canonical].text;
        a = dd_below(&rng, nho);
        b = dd_below(&rng, nho - 1);
        if (b >= a) b++;

        sb_puts(&o->counterfact, o->n_cases ? ",\n  " : "\n  ");
        sb_printf(&o->counterfact, "{\"case_id\": %lld, \"requested_rewrite\": {\"prompt\": ", f->known_id);
        sb_json_cstr(&o->counterfact, tmpl);
        sb_puts(&o->counterfact, ", \"relation_id\": ");
        sb_json_cstr(&o->counterfact, f->relation);
        sb_puts(&o->counterfact, ", \"target_new\": {\"str\": ");
        sb_json_cstr(&o->counterfact, target_new);
        sb_puts(&o->counterfact, "}, \"target_true\": {\"str\": ");
        sb_json_cstr(&o->counterfact, f->attribute);
        sb_puts(&o->counterfact, "}, \"subject\": ");
        sb_json_cstr(&o->counterfact, f->subject);
        sb_puts(&o->counterfact, "}, \"paraphrase_prompts\": [");
        for (k = 0; k < 2; k++) {
            tmp.len = 0;
            dd_fill(&tmp, w->tmpls[ho[k ? b : a]].text, f->subject);
            if (k) sb_puts(&o->counterfact, ", ");
            sb_json_cstr(&o->counterfact, tmp.p);
            dd_texts_add(&o->texts, tmp.p, tmp.len);
            sb_printf(&tmp, " %s", target_new);
            dd_texts_add(&o->texts, tmp.p, tmp.len);
        }
        sb_puts(&o->counterfact, "], \"neighborhood_prompts\": ");
        n = dd_same_attribute(w, f->rel, f->attribute, f->subject, idx);
        dd_prompt_list(w, o, &rng, tmpl, idx, n, f->attribute, &tmp);
        sb_puts(&o->counterfact, ", \"attribute_prompts\": ");
        n = dd_same_attribute(w, f->rel, target_new, f->subject, idx);
        dd_prompt_list(w, o, &rng, tmpl, idx, n, target_new, &tmp);
        sb_puts(&o->counterfact, "}");

        /* The rewrite's own texts, as an editor would tokenize them. */
        dd_texts_adds(&o->texts, tmpl);
        tmp.len = 0;
        dd_fill(&tmp, tmpl, f->subject);
        dd_texts_add(&o->texts, tmp.p, tmp.len);
        sb_printf(&tmp, " %s", target_new);
        dd_texts_add(&o->texts, tmp.p, tmp.len);
        tmp.len = 0;
        sb_printf(&tmp, " %s", target_new);
        dd_texts_add(&o->texts, tmp.p, tmp.len);
        dd_texts_add(&o->texts, tmp.p + 1, tmp.len - 1);
        o->n_cases++;
    }
    sb_puts(&o->counterfact, "\n]\n");
    sb_free(&tmp);
    free(idx); free(attrs); free(ho);
    if (tmp.failed || o->counterfact.failed || o->texts.oom) return fe_error_set(err, fe_err_nomem, "counterfact: out of memory");
    return fe_ok;
}

/* Whether a corpus line is an instance of a template "A{}B": it starts with A, and B followed by a
   space occurs after a non-empty subject. */
DD_FN int dd_line_matches(const char *line, const char *tmpl) {
    const char *slot = strstr(tmpl, "{}"), *b, *p;
    size_t alen, blen;
    if (!slot) return 0;
    alen = (size_t)(slot - tmpl);
    if (strncmp(line, tmpl, alen) != 0 || line[alen] == 0) return 0;
    b = slot + 2;
    blen = strlen(b);
    for (p = line + alen + 1; *p && (p = strstr(p, b)) != NULL; p++)
        if (p > line + alen && p[blen] == ' ') return 1;
    return 0;
}

/* Fails if a held-out template occurs in the corpus (instantiated with any subject) at the start
   of any sentence of a line (a paragraph holds several, each after ". "). */
DD_FN fe_result dd_check_heldout_absent(const dd_world *w, const dd_out *o, const char *templates_name, fe_error *err) {
    size_t i, j;
    for (j = 0; j < w->ntmpls; j++) {
        const dd_template *t = &w->tmpls[j];
        if (!t->heldout) continue;
        for (i = 0; i < o->lines.n; i++) {
            const char *l = dd_texts_at(&o->lines, i, NULL), *sen;
            for (sen = l; sen; sen = strstr(sen, ". ") ? strstr(sen, ". ") + 2 : NULL)
                if (dd_line_matches(sen, t->text))
                    return fe_error_set(err, fe_err_format, "%s:%d: held-out template \"%.60s\" of %s occurs in the corpus: \"%.80s\"",
                                   templates_name, t->line, t->text, w->rels[t->rel].id, sen);
        }
    }
    return fe_ok;
}

/* Everything besides the corpus, heldout and counterfact prompts that should tokenize exactly:
   templates, subjects, attributes (bare and with GPT-2's leading space), the known prompts. */
DD_FN void dd_add_world_texts(const dd_world *w, dd_out *o) {
    sbuf tmp = {0, 0, 0, 0};
    size_t i;
    for (i = 0; i < w->ntmpls; i++) dd_texts_adds(&o->texts, w->tmpls[i].text);
    for (i = 0; i < w->nfacts; i++) {
        const dd_fact *f = &w->facts[i];
        dd_texts_adds(&o->texts, f->subject);
        dd_texts_adds(&o->texts, f->attribute);
        dd_texts_adds(&o->texts, f->prompt);
        tmp.len = 0;
        sb_printf(&tmp, " %s", f->attribute);
        if (tmp.failed) { o->texts.oom = 1; break; }
        dd_texts_add(&o->texts, tmp.p, tmp.len);
    }
    sb_free(&tmp);
}

/* ======================================================================= vocab pruning === */

/* GPT-2's byte alphabet: bytes 33..126, 161..172, 174..255 stand for themselves; the other 68
   become U+0100.. in byte order. order[i] is the byte of token id i (i < 256). */
typedef struct dd_alphabet { unsigned cp[256]; int byte_of[256 + 68]; unsigned char order[256]; } dd_alphabet;

DD_FN void dd_alphabet_init(dd_alphabet *a) {
    int b, n = 0, k = 0;
    for (b = 0; b < 256 + 68; b++) a->byte_of[b] = -1;
    for (b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) { a->cp[b] = (unsigned)b; a->order[k++] = (unsigned char)b; }
    for (b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) { a->cp[b] = (unsigned)(256 + n++); a->order[k++] = (unsigned char)b; }
    for (b = 0; b < 256; b++) a->byte_of[a->cp[b]] = b;
}

/* Alphabet string (UTF-8 of code points < 256 + 68) -> raw bytes appended to out; 0 if invalid. */
DD_FN int dd_alphabet_decode(const dd_alphabet *a, const char *s, size_t n, sbuf *out) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp;
        char byte;
        if (c < 0x80) { cp = c; i++; }
        else if ((c & 0xE0) == 0xC0 && i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80) {
            cp = ((unsigned)(c & 0x1F) << 6) | ((unsigned char)s[i + 1] & 0x3Fu);
            if (cp < 0x80) return 0;
            i += 2;
        } else return 0;
        if (cp >= 256 + 68 || a->byte_of[cp] < 0) return 0;
        byte = (char)(unsigned char)a->byte_of[cp];
        sb_putn(out, &byte, 1);
    }
    return 1;
}

/* Appends an alphabet string as a JSON string the way GPT-2's encoder.json spells it: ASCII
   as is (with \" and \\), everything else as \uXXXX. */
DD_FN void dd_json_alphabet(sbuf *b, const char *s, size_t n) {
    size_t i = 0;
    sb_putn(b, "\"", 1);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') sb_putn(b, "\\", 1);
            sb_putn(b, s + i, 1);
            i++;
        } else {   /* two-byte UTF-8 (validated by dd_alphabet_decode) */
            unsigned cp = ((unsigned)(c & 0x1F) << 6) | ((unsigned char)s[i + 1] & 0x3Fu);
            sb_printf(b, "\\u%04x", cp);
            i += 2;
        }
    }
    sb_putn(b, "\"", 1);
}

typedef struct dd_merge {
    const char *line; size_t len, alen;   /* "A B" in the merges text; alen = length of A */
    size_t raw_off, raw_len, raw_alen;    /* raw bytes of A+B in the raw buffer; raw_alen = of A */
} dd_merge;

typedef struct dd_merges {
    dd_merge *m; size_t n;
    sbuf raw;
    int32_t *slot; size_t nslot;          /* hash of raw result -> merge index + 1 */
} dd_merges;

DD_FN void dd_merges_free(dd_merges *ms) { free(ms->m); sb_free(&ms->raw); free(ms->slot); memset(ms, 0, sizeof *ms); }

/* The merge table's slot hash (only where a lookup starts: the outputs do not depend on it). */
DD_FN uint64_t dd_hash(const char *s, size_t n) { return fe_fnv1a64(FACTEDIT_FNV1A64_INIT, s, n); }

/* Merge index producing the raw byte string s, or -1. */
DD_FN long dd_merge_find(const dd_merges *ms, const char *s, size_t n) {
    size_t h = (size_t)dd_hash(s, n) & (ms->nslot - 1);
    while (ms->slot[h]) {
        const dd_merge *m = &ms->m[ms->slot[h] - 1];
        if (m->raw_len == n && memcmp(ms->raw.p + m->raw_off, s, n) == 0) return (long)(ms->slot[h] - 1);
        h = (h + 1) & (ms->nslot - 1);
    }
    return -1;
}

/* Parses vocab.bpe (GPT-2's merges: optional "#version" line, then "A B" per line). */
DD_FN fe_result dd_merges_parse(dd_merges *ms, const dd_alphabet *al, const char *text, size_t len, const char *name, fe_error *err) {
    size_t pos = 0, cap = 0, i;
    int line = 0, blank_seen = 0;
    memset(ms, 0, sizeof *ms);
    while (pos < len) {
        const char *s = text + pos, *nl = (const char *)memchr(s, '\n', len - pos), *sp;
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        dd_merge *m;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n && s[n - 1] == '\r') n--;
        if (line == 1 && n >= 8 && memcmp(s, "#version", 8) == 0) continue;
        if (n == 0) { blank_seen = 1; continue; }
        if (blank_seen) return fe_error_set(err, fe_err_format, "%s:%d: merge after a blank line", name, line);
        sp = (const char *)memchr(s, ' ', n);
        if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
            return fe_error_set(err, fe_err_format, "%s:%d: expected \"A B\"", name, line);
        if (ms->n == cap) {
            size_t nc = cap ? 2 * cap : 1024;
            dd_merge *q = (dd_merge *)realloc(ms->m, nc * sizeof *q);
            if (!q) return fe_error_set(err, fe_err_nomem, "%s: out of memory", name);
            ms->m = q;
            cap = nc;
        }
        m = &ms->m[ms->n];
        m->line = s;
        m->len = n;
        m->alen = (size_t)(sp - s);
        m->raw_off = ms->raw.len;
        if (!dd_alphabet_decode(al, s, m->alen, &ms->raw))
            return fe_error_set(err, fe_err_format, "%s:%d: a character outside GPT-2's byte alphabet", name, line);
        m->raw_alen = ms->raw.len - m->raw_off;
        if (!dd_alphabet_decode(al, sp + 1, n - m->alen - 1, &ms->raw))
            return fe_error_set(err, fe_err_format, "%s:%d: a character outside GPT-2's byte alphabet", name, line);
        m->raw_len = ms->raw.len - m->raw_off;
        ms->n++;
    }
    if (ms->raw.failed) return fe_error_set(err, fe_err_nomem, "%s: out of memory", name);
    if (ms->n == 0) return fe_error_set(err, fe_err_format, "%s: no merges", name);
    for (ms->nslot = 16; ms->nslot < 2 * ms->n; ms->nslot *= 2) {}
    ms->slot = (int32_t *)calloc(ms->nslot, sizeof *ms->slot);
    if (!ms->slot) return fe_error_set(err, fe_err_nomem, "%s: out of memory", name);
    for (i = 0; i < ms->n; i++) {
        const dd_merge *m = &ms->m[i];
        const char *r = ms->raw.p + m->raw_off;
        size_t h = (size_t)dd_hash(r, m->raw_len) & (ms->nslot - 1);
        while (ms->slot[h]) {
            const dd_merge *o = &ms->m[ms->slot[h] - 1];
            if (o->raw_len == m->raw_len && memcmp(ms->raw.p + o->raw_off, r, m->raw_len) == 0)
                return fe_error_set(err, fe_err_format, "%s: merges %d and %zu produce the same token \"%.*s\"",
                               name, ms->slot[h], i + 1, (int)(m->len > 60 ? 60 : m->len), m->line);
            h = (h + 1) & (ms->nslot - 1);
        }
        ms->slot[h] = (int32_t)(i + 1);
    }
    return fe_ok;
}

/* Marks every merge the full-vocabulary encoding of the texts uses: the merges producing the
   tokens that appear, closed under "parts" (each token has exactly one producing merge, so
   these are exactly the merges BPE applies). */
DD_FN fe_result dd_mark_texts(const fe_vocab *full, const dd_merges *ms, const dd_texts *t, unsigned char *keep, long *stack, fe_error *err) {
    size_t i, k;
    for (i = 0; i < t->n; i++) {
        size_t len, n = 0;
        const char *s = dd_texts_at(t, i, &len);
        int *ids = NULL;
        fe_result r = fe_encode(full, s, len, &ids, &n, err);
        if (r) return dd_prefix(err, r, "encoding with the GPT-2 vocabulary");
        for (k = 0; k < n; k++) {
            size_t tl, sp = 0;
            const char *tb = fe_token_bytes(full, ids[k], &tl);
            long m;
            if (tl <= 1) continue;   /* a byte token (always kept) */
            m = dd_merge_find(ms, tb, tl);
            if (m < 0) { fe_ids_free(full, ids); return fe_error_set(err, fe_err_format, "token %d of the GPT-2 vocabulary is no merge's result", ids[k]); }
            stack[sp++] = m;
            while (sp) {
                const dd_merge *mm;
                long p;
                m = stack[--sp];
                if (keep[m]) continue;
                keep[m] = 1;
                mm = &ms->m[m];
                if (mm->raw_alen > 1) {
                    if ((p = dd_merge_find(ms, ms->raw.p + mm->raw_off, mm->raw_alen)) < 0) goto noparts;
                    if (!keep[p]) stack[sp++] = p;
                }
                if (mm->raw_len - mm->raw_alen > 1) {
                    if ((p = dd_merge_find(ms, ms->raw.p + mm->raw_off + mm->raw_alen, mm->raw_len - mm->raw_alen)) < 0) goto noparts;
                    if (!keep[p]) stack[sp++] = p;
                }
                continue;
            noparts:
                fe_ids_free(full, ids);
                return fe_error_set(err, fe_err_format, "merge \"%.*s\" has a part that no merge produces", (int)(mm->len > 60 ? 60 : mm->len), mm->line);
            }
        }
        fe_ids_free(full, ids);
    }
    return fe_ok;
}

/* Builds o->encoder (encoder.json) and o->merges (vocab.bpe) of the pruned vocabulary: the 256
   byte tokens in GPT-2 order, then the kept merges in GPT-2 rank order, then <|endoftext|>. */
DD_FN fe_result dd_prune(const fe_vocab *full, const char *merges_text, size_t merges_len, const char *merges_name, dd_out *o, fe_error *err) {
    dd_alphabet al;
    dd_merges ms;
    unsigned char *keep = NULL;
    long *stack = NULL;
    size_t i, id;
    char utf8[2];
    fe_result r;
    dd_alphabet_init(&al);
    r = dd_merges_parse(&ms, &al, merges_text, merges_len, merges_name, err);
    if (r) { dd_merges_free(&ms); return r; }
    keep = (unsigned char *)calloc(ms.n, 1);
    stack = (long *)malloc(2 * ms.n * sizeof *stack + sizeof *stack);   /* each merge is pushed at most twice */
    if (!keep || !stack) { r = fe_error_set(err, fe_err_nomem, "vocab: out of memory"); goto done; }
    if ((r = dd_mark_texts(full, &ms, &o->lines, keep, stack, err)) != fe_ok) goto done;
    if ((r = dd_mark_texts(full, &ms, &o->texts, keep, stack, err)) != fe_ok) goto done;
    {   /* the corpus file as a whole (newlines between sentences) */
        dd_texts whole;
        memset(&whole, 0, sizeof whole);
        dd_texts_add(&whole, o->corpus.p ? o->corpus.p : "", o->corpus.len);
        r = whole.oom ? fe_error_set(err, fe_err_nomem, "vocab: out of memory") : dd_mark_texts(full, &ms, &whole, keep, stack, err);
        dd_texts_free(&whole);
        if (r) goto done;
    }
    o->encoder.len = o->merges.len = 0;
    sb_puts(&o->encoder, "{");
    for (id = 0; id < 256; id++) {
        unsigned cp = al.cp[al.order[id]];
        size_t n = 1;
        if (cp < 0x80) utf8[0] = (char)cp;
        else { utf8[0] = (char)(0xC0 | (cp >> 6)); utf8[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
        if (id) sb_puts(&o->encoder, ", ");
        dd_json_alphabet(&o->encoder, utf8, n);
        sb_printf(&o->encoder, ": %zu", id);
    }
    sb_puts(&o->merges, "#version: 0.2\n");
    o->n_merges = 0;
    for (i = 0; i < ms.n; i++) {
        const dd_merge *m = &ms.m[i];
        sbuf tok = {0, 0, 0, 0};
        if (!keep[i]) continue;
        sb_putn(&o->merges, m->line, m->len);
        sb_putn(&o->merges, "\n", 1);
        sb_putn(&tok, m->line, m->alen);
        sb_putn(&tok, m->line + m->alen + 1, m->len - m->alen - 1);
        sb_puts(&o->encoder, ", ");
        dd_json_alphabet(&o->encoder, tok.p ? tok.p : "", tok.len);
        sb_printf(&o->encoder, ": %zu", id++);
        if (tok.failed) o->encoder.failed = 1;
        sb_free(&tok);
        o->n_merges++;
    }
    sb_printf(&o->encoder, ", \"<|endoftext|>\": %zu}", id++);
    o->vocab_size = id;
    if (o->encoder.failed || o->merges.failed) r = fe_error_set(err, fe_err_nomem, "vocab: out of memory");
done:
    free(keep);
    free(stack);
    dd_merges_free(&ms);
    return r;
}

/* Encodes every text with both vocabularies and fails unless the token strings are identical.
   *ntokens and *longest (may be NULL) get the total and the largest number of tokens of a text. */
DD_FN fe_result dd_verify(const fe_vocab *full, const fe_vocab *pruned, const dd_texts *t, const char *what, size_t *ntokens, size_t *longest, fe_error *err) {
    size_t i, k, total = 0, most = 0;
    for (i = 0; i < t->n; i++) {
        size_t len, na = 0, nb = 0;
        const char *s = dd_texts_at(t, i, &len);
        int *a = NULL, *b = NULL;
        fe_result r = fe_encode(full, s, len, &a, &na, err);
        if (r) return dd_prefix(err, r, "verify: GPT-2 vocabulary");
        r = fe_encode(pruned, s, len, &b, &nb, err);
        if (r) { fe_ids_free(full, a); return dd_prefix(err, r, "verify: pruned vocabulary"); }
        for (k = 0; k < na && k < nb; k++) {
            size_t la, lb;
            const char *ta = fe_token_bytes(full, a[k], &la), *tb = fe_token_bytes(pruned, b[k], &lb);
            if (la != lb || memcmp(ta, tb, la) != 0) break;
        }
        fe_ids_free(full, a);
        fe_ids_free(pruned, b);
        if (k < na || k < nb || na != nb)
            return fe_error_set(err, fe_err_mismatch, "verify: the pruned vocabulary tokenizes %s text %zu \"%.80s\" differently from GPT-2 (token %zu; %zu vs %zu tokens)",
                           what, i, s, k, nb, na);
        total += na;
        if (na > most) most = na;
    }
    if (ntokens) *ntokens = total;
    if (longest) *longest = most;
    return fe_ok;
}

/* Loads the pruned vocabulary from o->encoder / o->merges and checks it against the full one:
   every text tokenizes identically, ids are GPT-2's derived layout (the same vocabulary loads
   from vocab.bpe alone), <|endoftext|> is the last id. Sets o->corpus_tokens. */
DD_FN fe_result dd_check_pruned(const fe_vocab *full, const fe_vocab *pruned, dd_out *o, fe_error *err) {
    dd_texts whole;
    fe_vocab *derived = NULL;
    fe_result r;
    size_t id;
    if (fe_vocab_size(pruned) != o->vocab_size || fe_vocab_eot(pruned) != (int)o->vocab_size - 1)
        return fe_error_set(err, fe_err_mismatch, "verify: the pruned vocabulary has %zu tokens and <|endoftext|> = %d, want %zu and %zu",
                       fe_vocab_size(pruned), fe_vocab_eot(pruned), o->vocab_size, o->vocab_size - 1);
    r = fe_vocab_load_mem(&derived, NULL, 0, o->merges.p, o->merges.len, NULL, err);
    if (r) return dd_prefix(err, r, "verify: pruned vocab.bpe alone");
    for (id = 0; id < o->vocab_size; id++) {
        size_t la, lb;
        const char *a = fe_token_bytes(pruned, (int)id, &la), *b = fe_token_bytes(derived, (int)id, &lb);
        if (fe_vocab_size(derived) != o->vocab_size || la != lb || (la && memcmp(a, b, la) != 0)) {
            fe_vocab_free(derived);
            return fe_error_set(err, fe_err_mismatch, "verify: pruned encoder.json disagrees with GPT-2's id layout at id %zu", id);
        }
    }
    fe_vocab_free(derived);
    if ((r = dd_verify(full, pruned, &o->lines, "corpus line", &o->corpus_tokens, &o->longest_line, err)) != fe_ok) return r;
    if ((r = dd_verify(full, pruned, &o->texts, "prompt", NULL, NULL, err)) != fe_ok) return r;
    memset(&whole, 0, sizeof whole);
    dd_texts_add(&whole, o->corpus.p ? o->corpus.p : "", o->corpus.len);
    r = whole.oom ? fe_error_set(err, fe_err_nomem, "verify: out of memory") : dd_verify(full, pruned, &whole, "whole corpus", NULL, NULL, err);
    dd_texts_free(&whole);
    return r;
}

/* Builds every output in memory from a loaded world and the full GPT-2 vocabulary. */
DD_FN fe_result dd_build(const dd_world *w, const fe_vocab *full, const char *merges_text, size_t merges_len, const char *merges_name,
                         uint64_t seed, int paragraphs, const char *templates_name, dd_out *o, fe_error *err) {
    fe_vocab *pruned = NULL;
    fe_result r;
    size_t i;
    dd_out_free(o);
    for (i = 0; i < w->ntmpls; i++) {
        if (w->tmpls[i].heldout) o->n_heldout_templates++;
        else o->n_train_templates++;
    }
    if ((r = dd_make_corpus(w, seed, paragraphs, o, err)) != fe_ok) return r;
    if ((r = dd_check_heldout_absent(w, o, templates_name, err)) != fe_ok) return r;
    if ((r = dd_make_heldout(w, o, err)) != fe_ok) return r;
    if ((r = dd_make_counterfact(w, seed, o, err)) != fe_ok) return r;
    dd_add_world_texts(w, o);
    if (dd_out_oom(o)) return fe_error_set(err, fe_err_nomem, "out of memory");
    if ((r = dd_prune(full, merges_text, merges_len, merges_name, o, err)) != fe_ok) return r;
    r = fe_vocab_load_mem(&pruned, o->encoder.p, o->encoder.len, o->merges.p, o->merges.len, NULL, err);
    if (r) return dd_prefix(err, r, "verify: the pruned vocabulary does not load");
    r = dd_check_pruned(full, pruned, o, err);
    fe_vocab_free(pruned);
    return r;
}

/* ================================================================================= run === */

typedef struct dd_opts {
    const char *facts, *templates, *gpt2_vocab, *out;
    uint64_t seed;
    int paragraphs;
} dd_opts;

DD_FN const char *dd_usage(void) {
    return "usage: demo_data --facts demo/known_1000.json --templates demo/templates.txt\n"
           "                 --gpt2-vocab tools/gpt2 --out DIR [--seed S] [--paragraphs N]\n";
}

/* Returns fe_ok, fe_err_arg with a message, or 1 for --help. */
DD_FN int dd_parse_args(int argc, char **argv, dd_opts *o, fe_error *err) {
    int i;
    memset(o, 0, sizeof *o);
    o->seed = DD_DEFAULT_SEED;
    o->paragraphs = DD_DEFAULT_PARAGRAPHS;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return 1;
        if (strcmp(a, "--facts") == 0) dst = &o->facts;
        else if (strcmp(a, "--templates") == 0) dst = &o->templates;
        else if (strcmp(a, "--gpt2-vocab") == 0) dst = &o->gpt2_vocab;
        else if (strcmp(a, "--out") == 0) dst = &o->out;
        else if (strcmp(a, "--seed") != 0 && strcmp(a, "--paragraphs") != 0) return fe_error_set(err, fe_err_arg, "unknown argument \"%.60s\"", a);
        if (i + 1 >= argc || argv[i + 1][0] == 0) return fe_error_set(err, fe_err_arg, "%s needs a value", a);
        if (dst) *dst = argv[++i];
        else if (strcmp(a, "--paragraphs") == 0) {
            const char *s = argv[++i];
            int v = 0;
            for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > 999) return fe_error_set(err, fe_err_arg, "--paragraphs: \"%.40s\" is not an integer in [0, 1000]", argv[i]);
                v = v * 10 + (*s - '0');
            }
            if (v > 1000) return fe_error_set(err, fe_err_arg, "--paragraphs: \"%.40s\" is not an integer in [0, 1000]", argv[i]);
            o->paragraphs = v;
        }
        else {
            const char *s = argv[++i];
            uint64_t v = 0;
            if (!*s) return fe_error_set(err, fe_err_arg, "--seed: empty");
            for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
                    return fe_error_set(err, fe_err_arg, "--seed: \"%.40s\" is not an unsigned 64-bit integer", argv[i]);
                v = v * 10 + (uint64_t)(*s - '0');
            }
            o->seed = v;
        }
    }
    if (!o->facts) return fe_error_set(err, fe_err_arg, "missing --facts");
    if (!o->templates) return fe_error_set(err, fe_err_arg, "missing --templates");
    if (!o->gpt2_vocab) return fe_error_set(err, fe_err_arg, "missing --gpt2-vocab");
    if (!o->out) return fe_error_set(err, fe_err_arg, "missing --out");
    return fe_ok;
}

DD_FN fe_result dd_path(char *buf, size_t cap, const char *dir, const char *name, fe_error *err) {
    int k = snprintf(buf, cap, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= cap) return fe_error_set(err, fe_err_arg, "path too long: %.60s/%s", dir, name);
    return fe_ok;
}

/* Creates a directory unless it exists (the parent must exist). */
DD_FN fe_result dd_mkdir(const char *path, fe_error *err) {
#ifdef DD_POSIX
    struct stat st;
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return fe_error_set(err, fe_err_io, "cannot create directory %.200s: %s", path, strerror(errno));
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return fe_error_set(err, fe_err_io, "%.200s is not a directory", path);
    return fe_ok;
#else
    (void)path; (void)err;
    return fe_ok;   /* elsewhere the directory must exist already */
#endif
}

DD_FN fe_result dd_write(const char *dir, const char *name, const sbuf *b, fe_error *err) {
    char path[4096];
    fe_result r = dd_path(path, sizeof path, dir, name, err);
    if (!r) r = fe_write_file_atomic(path, b->p ? b->p : "", b->len, err);
    return r;
}

/* The whole pipeline: read inputs, build, write DIR, reload DIR/vocab and verify it again,
   print statistics to log (may be NULL). o keeps the outputs (free with dd_out_free). */
DD_FN fe_result dd_run(const dd_opts *opt, dd_out *o, FILE *log, fe_error *err) {
    unsigned char *facts = NULL, *tmpls = NULL, *merges = NULL;
    size_t facts_len = 0, tmpls_len = 0, merges_len = 0;
    char path[4096], vocab_dir[4096];
    fe_vocab *full = NULL, *pruned = NULL;
    dd_world w;
    fe_result r;
    memset(&w, 0, sizeof w);
    if ((r = fe_read_file(opt->facts, &facts, &facts_len, NULL, err)) != fe_ok) goto done;
    if ((r = fe_read_file(opt->templates, &tmpls, &tmpls_len, NULL, err)) != fe_ok) goto done;
    if ((r = dd_world_load(&w, (const char *)facts, facts_len, opt->facts, (const char *)tmpls, tmpls_len, opt->templates, err)) != fe_ok) goto done;
    if ((r = fe_vocab_load_dir(&full, opt->gpt2_vocab, NULL, err)) != fe_ok) goto done;   /* the message names the directory */
    if ((r = dd_path(path, sizeof path, opt->gpt2_vocab, "vocab.bpe", err)) != fe_ok) goto done;
    if ((r = fe_read_file(path, &merges, &merges_len, NULL, err)) != fe_ok) goto done;
    if ((r = dd_build(&w, full, (const char *)merges, merges_len, path, opt->seed, opt->paragraphs, opt->templates, o, err)) != fe_ok) goto done;

    if ((r = dd_mkdir(opt->out, err)) != fe_ok) goto done;
    if ((r = dd_path(vocab_dir, sizeof vocab_dir, opt->out, "vocab", err)) != fe_ok) goto done;
    if ((r = dd_mkdir(vocab_dir, err)) != fe_ok) goto done;
    if ((r = dd_write(opt->out, "corpus.txt", &o->corpus, err)) != fe_ok) goto done;
    if ((r = dd_write(opt->out, "known.txt", &o->known, err)) != fe_ok) goto done;
    if ((r = dd_write(opt->out, "heldout.json", &o->heldout, err)) != fe_ok) goto done;
    if ((r = dd_write(opt->out, "counterfact.json", &o->counterfact, err)) != fe_ok) goto done;
    if ((r = dd_write(vocab_dir, "encoder.json", &o->encoder, err)) != fe_ok) goto done;
    if ((r = dd_write(vocab_dir, "vocab.bpe", &o->merges, err)) != fe_ok) goto done;
    /* What was written is what a trainer will load: check it once more from the files. */
    if ((r = fe_vocab_load_dir(&pruned, vocab_dir, NULL, err)) != fe_ok) goto done;
    if ((r = dd_check_pruned(full, pruned, o, err)) != fe_ok) goto done;

    if (log) {
        fprintf(log, "facts            %zu (%zu relations), seed %llu\n", w.nfacts, w.nrels, (unsigned long long)opt->seed);
        fprintf(log, "templates        %zu train, %zu heldout\n", o->n_train_templates, o->n_heldout_templates);
        fprintf(log, "corpus.txt       %zu lines (%zu of them paragraphs, %d per fact), %zu bytes, %zu tokens (+ %zu <|endoftext|> between lines), longest line %zu tokens\n",
                o->lines.n, o->n_paragraphs, opt->paragraphs, o->corpus.len, o->corpus_tokens, o->lines.n, o->longest_line);
        fprintf(log, "heldout.json     %zu prompts, %zu bytes\n", o->n_heldout, o->heldout.len);
        fprintf(log, "counterfact.json %zu cases (%zu fact%s skipped: the only attribute of %s relation), %zu bytes\n",
                o->n_cases, o->n_cases_skipped, o->n_cases_skipped == 1 ? "" : "s", o->n_cases_skipped == 1 ? "its" : "their", o->counterfact.len);
        fprintf(log, "vocab            %zu tokens = 256 bytes + %zu merges + <|endoftext|> (GPT-2: %zu); encoder.json %zu bytes, vocab.bpe %zu bytes\n",
                o->vocab_size, o->n_merges, fe_vocab_size(full), o->encoder.len, o->merges.len);
        fprintf(log, "verified         %zu corpus lines + %zu other texts + the whole corpus tokenize identically with the pruned and the GPT-2 vocabulary\n",
                o->lines.n, o->texts.n);
        fprintf(log, "wrote            %s/{corpus.txt,heldout.json,counterfact.json,vocab/encoder.json,vocab/vocab.bpe}\n", opt->out);
    }
done:
    fe_vocab_free(pruned);
    fe_vocab_free(full);
    dd_world_free(&w);
    fe_free(facts, NULL);
    fe_free(tmpls, NULL);
    fe_free(merges, NULL);
    return r;
}

#ifndef DEMO_DATA_NO_MAIN
int main(int argc, char **argv) {
    dd_opts opt;
    dd_out out;
    fe_error err;
    int a;
    fe_result r;
    memset(&err, 0, sizeof err);
    a = dd_parse_args(argc, argv, &opt, &err);
    if (a == 1) { fputs(dd_usage(), stdout); return 0; }
    if (a != 0) { fprintf(stderr, "demo_data: %s\n%s", err.msg, dd_usage()); return 2; }
    memset(&out, 0, sizeof out);
    r = dd_run(&opt, &out, stdout, &err);
    dd_out_free(&out);
    if (r) { fprintf(stderr, "demo_data: %s\n", err.msg); return 1; }
    return 0;
}
#endif
