/* Fuzz target: fe_json_parse (the JSON reader behind safetensors headers, config.json,
   encoder.json and the tools' data files).
   Input: any bytes, parsed as one JSON document.
   Checks: on success the tree is well formed (counts, contiguous children, ->next chains, keys on
   object members only, NUL-terminated strings, finite numbers, depth <= FACTEDIT_MAX_JSON_DEPTH,
   fe_json_get finds the first member of each key); the tree printed back as JSON parses again to an
   identical tree (strings byte for byte, numbers bit for bit). On failure the fe_error holds the
   returned code and a non-empty message. */
#include "fuzz.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include <math.h>

/* ---- growable output for the printer ---- */
typedef struct jb { char *p; size_t n, cap; } jb;
static void jb_put(jb *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (b->n + n + 1 > c) c *= 2;
        b->p = (char *)realloc(b->p, c);
        if (!b->p) abort();
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void jb_str(jb *b, const char *s, size_t n) {
    size_t i;
    jb_put(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { char e[2]; e[0] = '\\'; e[1] = (char)c; jb_put(b, e, 2); }
        else if (c < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", c); jb_put(b, e, 6); }
        else jb_put(b, (const char *)&s[i], 1);
    }
    jb_put(b, "\"", 1);
}
static void jb_value(jb *b, const fe_json_value *v) {
    size_t i;
    char num[40];
    switch (v->type) {
    case fe_json_null: jb_put(b, "null", 4); break;
    case fe_json_bool: if (v->boolean) jb_put(b, "true", 4); else jb_put(b, "false", 5); break;
    case fe_json_number: snprintf(num, sizeof num, "%.17g", v->number); jb_put(b, num, strlen(num)); break;
    case fe_json_string: jb_str(b, v->str, v->len); break;
    case fe_json_array: case fe_json_object:
        jb_put(b, v->type == fe_json_array ? "[" : "{", 1);
        for (i = 0; i < v->count; i++) {
            if (i) jb_put(b, ",", 1);
            if (v->type == fe_json_object) { jb_str(b, v->child[i].key, v->child[i].key_len); jb_put(b, ":", 1); }
            jb_value(b, &v->child[i]);
        }
        jb_put(b, v->type == fe_json_array ? "]" : "}", 1);
        break;
    }
}

/* Structural invariants of one value (is_member: it sits in an object). */
static void walk(const fe_json_value *v, int depth, int is_member) {
    size_t i;
    FZ_CHECK(depth <= FACTEDIT_MAX_JSON_DEPTH);
    if (is_member) FZ_CHECK(v->key != NULL && v->key[v->key_len] == 0);
    else FZ_CHECK(v->key == NULL);
    switch (v->type) {
    case fe_json_null: break;
    case fe_json_bool: FZ_CHECK(v->boolean == 0 || v->boolean == 1); break;
    case fe_json_number: FZ_CHECK(isfinite(v->number)); break;
    case fe_json_string: FZ_CHECK(v->str != NULL && v->str[v->len] == 0); break;
    case fe_json_array: case fe_json_object:
        FZ_CHECK(v->count == 0 || v->child != NULL);
        FZ_CHECK(fe_json_at(v, v->count) == NULL);
        for (i = 0; i < v->count; i++) {
            const fe_json_value *c = &v->child[i];
            FZ_CHECK(fe_json_at(v, i) == c);
            FZ_CHECK(c->next == (i + 1 < v->count ? &v->child[i + 1] : NULL));
            if (v->type == fe_json_object && strlen(c->key) == c->key_len) {
                const fe_json_value *g = fe_json_get(v, c->key);
                FZ_CHECK(g != NULL && g <= c && g->key_len == c->key_len && !memcmp(g->key, c->key, c->key_len));
            }
            walk(c, depth + 1, v->type == fe_json_object);
        }
        if (v->type == fe_json_array) FZ_CHECK(fe_json_get(v, "") == NULL);
        break;
    default: FZ_CHECK(0);
    }
}

static int same(const fe_json_value *a, const fe_json_value *b) {
    size_t i;
    if (a->type != b->type || (a->key == NULL) != (b->key == NULL)) return 0;
    if (a->key && (a->key_len != b->key_len || memcmp(a->key, b->key, a->key_len))) return 0;
    switch (a->type) {
    case fe_json_null: return 1;
    case fe_json_bool: return a->boolean == b->boolean;
    case fe_json_number: return a->number == b->number && !signbit(a->number) == !signbit(b->number);
    case fe_json_string: return a->len == b->len && !memcmp(a->str, b->str, a->len);
    case fe_json_array: case fe_json_object:
        if (a->count != b->count) return 0;
        for (i = 0; i < a->count; i++) if (!same(&a->child[i], &b->child[i])) return 0;
        return 1;
    }
    return 0;
}

static void fz_check_error(fe_result r, const fe_error *e) {
    FZ_CHECK(r != fe_ok);
    FZ_CHECK(e->code == r);
    FZ_CHECK(memchr(e->msg, 0, sizeof e->msg) != NULL && e->msg[0] != 0);
}

static void fz_target(const uint8_t *data, size_t size) {
    fe_json *doc = NULL, *doc2 = NULL;
    fe_error e;
    fe_result r;
    char *text = fz_dup(data, size, 0);
    memset(&e, 0, sizeof e);
    e.code = (fe_result)12345;
    r = fe_json_parse(&doc, text, size, NULL, &e);
    if (r != fe_ok) {
        FZ_CHECK(doc == NULL);
        fz_check_error(r, &e);
        FZ_CHECK(r == fe_err_format || r == fe_err_limit || r == fe_err_range || r == fe_err_nomem);
        if (r == fe_err_nomem) FZ_CHECK(fz_oom_hit);
    } else {
        const fe_json_value *root = fe_json_root(doc);
        jb out = {NULL, 0, 0};
        FZ_CHECK(root != NULL);
        walk(root, 0, 0);
        jb_value(&out, root);
        r = fe_json_parse(&doc2, out.p, out.n, NULL, &e);
        FZ_CHECK(r == fe_ok || (r == fe_err_nomem && fz_oom_hit));
        if (r == fe_ok) FZ_CHECK(same(root, fe_json_root(doc2)));
        fe_json_free(doc2);
        free(out.p);
    }
    fe_json_free(doc);
    free(text);
}
