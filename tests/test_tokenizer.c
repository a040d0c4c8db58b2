/* Tests for the tokenizer part: reference cases, derived == encoder.json vocabulary, byte-exact
   round trips on arbitrary bytes, subject spans, every loader error, speed (printed only).
   Usage: test_tokenizer TOKENIZER_DIR CASES_JSON [EXTRA_CASES_JSON [SPANS_JSON]]
   TOKENIZER_DIR holds encoder.json + vocab.bpe (GPT-2); CASES_JSON is tokenizer_cases.json;
   EXTRA_CASES_JSON has the same form (tests/data/tokenizer_cases_extra.json); SPANS_JSON is
   [{prompt, subject, begin, end}] from ROME's find_token_range (tests/data/subject_spans.json).
   Both extra files come from gen_tokenizer_cases.js. */
#define FACTEDIT_MAX_VOCAB 60000   /* small enough to test the limit, big enough for GPT-2 */
#define FACTEDIT_IMPLEMENTATION
#include "../factedit.h"
#include "test.h"
#include <time.h>

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        b = (char *)malloc((size_t)n + 1);
        if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
        if (b) { b[n] = 0; *len = (size_t)n; }
    }
    fclose(f);
    return b;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng(void) {   /* xorshift64*: deterministic, local to the test */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717u) >> 32);
}

/* encode then compare with want; also checks the round trip */
static int encode_equals(const fe_vocab *v, const char *text, size_t len, const int *want, size_t nwant) {
    int *ids = NULL, ok;
    size_t n = 0, dl = 0;
    char *back = NULL;
    if (fe_encode(v, text, len, &ids, &n, NULL) != fe_ok) return 0;
    ok = n == nwant && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
    if (ok && fe_decode(v, ids, n, &back, &dl, NULL) == fe_ok) ok = dl == len && !memcmp(back, text, len);
    else ok = 0;
    fe_text_free(v, back);
    fe_ids_free(v, ids);
    return ok;
}

static void print_escaped(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n && i < 80; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 32 && c < 127) putchar(c); else printf("\\x%02x", c);
    }
}

static void run_cases(const char *path, const fe_vocab *a, const fe_vocab *b) {
    size_t len = 0, i, k, ncases = 0;
    char *text = read_file(path, &len);
    fe_json *doc = NULL;
    const fe_json_value *root, *c;
    fe_error e;
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    CHECK_CODE(fe_json_parse(&doc, text, len, NULL, &e), fe_ok);
    root = fe_json_root(doc);
    CHECK(root && root->type == fe_json_array && root->count > 0);
    for (i = 0; root && i < root->count; i++) {
        const fe_json_value *t, *idsv;
        int *want;
        c = fe_json_at(root, i);
        t = fe_json_get(c, "text"); idsv = fe_json_get(c, "ids");
        if (!t || !idsv || t->type != fe_json_string || idsv->type != fe_json_array) { CHECKF(0, "%s: case %zu malformed", path, i); continue; }
        want = (int *)malloc((idsv->count + 1) * sizeof *want);
        for (k = 0; k < idsv->count; k++) want[k] = (int)fe_json_at(idsv, k)->number;
        CHECKF(encode_equals(a, t->str, t->len, want, idsv->count), "%s case %zu (encoder.json vocab) differs", path, i);
        if (b) CHECKF(encode_equals(b, t->str, t->len, want, idsv->count), "%s case %zu (derived vocab) differs", path, i);
        if (!encode_equals(a, t->str, t->len, want, idsv->count)) {
            int *ids = NULL; size_t n = 0;
            printf("  text: \""); print_escaped(t->str, t->len); printf("\"\n  want:");
            for (k = 0; k < idsv->count; k++) printf(" %d", want[k]);
            printf("\n  got: ");
            if (fe_encode(a, t->str, t->len, &ids, &n, NULL) == fe_ok) for (k = 0; k < n; k++) printf(" %d", ids[k]);
            printf("\n");
            fe_ids_free(a, ids);
        }
        free(want);
        ncases++;
    }
    printf("%s: %zu cases\n", path, ncases);
    fe_json_free(doc);
    free(text);
}

static void run_spans(const char *path, const fe_vocab *v) {
    size_t len = 0, i, nspans = 0;
    char *text = read_file(path, &len);
    fe_json *doc = NULL;
    const fe_json_value *root;
    fe_error e;
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    CHECK_CODE(fe_json_parse(&doc, text, len, NULL, &e), fe_ok);
    root = fe_json_root(doc);
    CHECK(root && root->type == fe_json_array && root->count > 0);
    for (i = 0; root && i < root->count; i++) {
        const fe_json_value *c = fe_json_at(root, i), *p = fe_json_get(c, "prompt"), *s = fe_json_get(c, "subject");
        const fe_json_value *b = fe_json_get(c, "begin"), *en = fe_json_get(c, "end");
        size_t gb = 0, ge = 0;
        fe_result r;
        if (!p || !s || !b || !en || b->type != fe_json_number || en->type != fe_json_number) { CHECKF(0, "%s: span %zu malformed", path, i); continue; }
        r = fe_subject_span(v, p->str, s->str, &gb, &ge, &e);
        CHECKF(r == fe_ok && gb == (size_t)b->number && ge == (size_t)en->number, "%s span %zu: \"%s\" in \"%s\": [%zu,%zu), want [%g,%g)",
               path, i, s->str, p->str, gb, ge, b->number, en->number);
        nspans++;
    }
    printf("%s: %zu subject spans\n", path, nspans);
    fe_json_free(doc);
    free(text);
}

/* Loads an in-memory vocabulary and expects code, with a message containing part. */
static void bad_vocab(const char *enc, const char *merges, fe_result code, const char *part) {
    fe_vocab *v = (fe_vocab *)1;
    fe_error e;
    fe_result r;
    memset(&e, 0, sizeof e);
    r = fe_vocab_load_mem(&v, enc, enc ? strlen(enc) : 0, merges, strlen(merges), NULL, &e);
    CHECKF(r == code && v == NULL && e.code == code, "vocab [%s] [%.40s]: got %d (%s), want %d", enc ? enc : "-", merges, (int)r, e.msg, (int)code);
    CHECKF(strstr(e.msg, part) != NULL, "vocab [%s] [%.40s]: message '%s' lacks '%s'", enc ? enc : "-", merges, e.msg, part);
}

static fe_vocab *small_vocab(const char *enc, const char *merges) {
    fe_vocab *v = NULL;
    fe_error e;
    if (fe_vocab_load_mem(&v, enc, enc ? strlen(enc) : 0, merges, strlen(merges), NULL, &e) != fe_ok) {
        printf("small vocab failed: %s\n", e.msg);
        return NULL;
    }
    return v;
}

static void test_errors(void) {
    TEST("malformed merges") {
        bad_vocab(NULL, "#version: 0.2\na b\nab\n", fe_err_format, "line 3");
        bad_vocab(NULL, "a b\nab c d\n", fe_err_format, "line 2");
        bad_vocab(NULL, "a b\n a\n", fe_err_format, "line 2");
        bad_vocab(NULL, "a b\nb \n", fe_err_format, "line 2");
        bad_vocab(NULL, "a b\n\nb c\n", fe_err_format, "line 2: blank");
        bad_vocab(NULL, "a b\n\xd0\x80 b\n", fe_err_format, "outside GPT-2's byte alphabet");
        bad_vocab(NULL, "a b\nq\xff b\n", fe_err_format, "line 2");
        bad_vocab(NULL, "a b\nc d\na b\n", fe_err_format, "line 3: \"a b\" makes the same token as line 1");
        bad_vocab(NULL, "a b\nb c\na bc\nab c\n", fe_err_format, "line 4: \"ab c\" makes the same token as line 3");
        bad_vocab(NULL, "a b\nab abc\n", fe_err_format, "line 2: a part");       /* "abc" unknown */
        bad_vocab(NULL, "<|endoftext| >\n", fe_err_format, "line 1: \"<|endoftext| >\" makes <|endoftext|>");
    }
    TEST("malformed encoder.json") {
        const char *m = "a b\n";
        bad_vocab("[1]", m, fe_err_format, "object");
        bad_vocab("{}", m, fe_err_format, "object");
        bad_vocab("{\"a\": 0, ", m, fe_err_format, "encoder.json");
        bad_vocab("{\"a\": 0, \"b\": -1}", m, fe_err_range, "\"b\"");
        bad_vocab("{\"a\": 0, \"b\": 1.5}", m, fe_err_range, "\"b\"");
        bad_vocab("{\"a\": 0, \"b\": \"1\"}", m, fe_err_range, "\"b\"");
        bad_vocab("{\"a\": 0, \"b\": 1e300}", m, fe_err_range, "\"b\"");
        bad_vocab("{\"a\": 0, \"b\": 1, \"ab\": 5}", m, fe_err_format, "not contiguous");
        bad_vocab("{\"a\": 0, \"b\": 1, \"ab\": 1}", m, fe_err_format, "id 1 is used twice");
        bad_vocab("{\"a\": 0, \"b\": 1, \"a\": 2}", m, fe_err_format, "same token");
        bad_vocab("{\"a\": 0, \"b\": 1, \"\\u0000\": 2}", m, fe_err_format, "outside");
        bad_vocab("{\"a\": 0, \"b\": 1, \"\\u0400\": 2}", m, fe_err_format, "id 2");
        bad_vocab("{\"a\": 0, \"ab\": 1}", m, fe_err_format, "line 1: a part");
        bad_vocab("{\"a\": 0, \"b\": 1}", "#version: 0.2\na b\n", fe_err_format, "line 2: the result");
        bad_vocab("{\"a\": 0, \"b\": 1, \"ab\": 2}", "a b\na b\n", fe_err_format, "line 2: \"a b\" repeats line 1");
    }
    TEST("limits and arguments") {
        /* FACTEDIT_MAX_VOCAB is 60000 in this test: 60001 merges are one too many */
        size_t n = 60001, i;
        char *big = (char *)malloc(n * 4 + 1);
        fe_vocab *v = NULL;
        fe_error e;
        for (i = 0; i < n; i++) memcpy(big + 4 * i, "a b\n", 4);
        big[4 * n] = 0;
        bad_vocab(NULL, big, fe_err_limit, "FACTEDIT_MAX_VOCAB");
        big[4 * 59744] = 0;   /* 59744 merges + 257 tokens > 60000 as well */
        bad_vocab(NULL, big, fe_err_limit, "FACTEDIT_MAX_VOCAB");
        free(big);
        CHECK_CODE(fe_vocab_load_mem(NULL, NULL, 0, "", 0, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_vocab_load_mem(&v, NULL, 0, NULL, 5, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_vocab_load_dir(&v, "/nonexistent/dir", NULL, &e), fe_err_io);
        CHECK(strstr(e.msg, "/nonexistent/dir") != NULL);
        CHECK(v == NULL);
        /* no merges at all: 256 bytes + <|endoftext|> */
        CHECK_CODE(fe_vocab_load_mem(&v, NULL, 0, NULL, 0, NULL, &e), fe_ok);
        CHECK(fe_vocab_size(v) == 257 && fe_vocab_eot(v) == 256);
        fe_vocab_free(v);
        fe_vocab_free(NULL);
        CHECK(fe_vocab_size(NULL) == 0 && fe_vocab_eot(NULL) == -1);
    }
}

static void test_small_vocabs(void) {
    TEST("pruned vocabulary with renumbered ids") {
        const char *enc = "{\"b\": 0, \"a\": 1, \"\\u0120\": 2, \"ab\": 3, \"\\u0120ab\": 4, \"<|endoftext|>\": 5}";
        fe_vocab *v;
        int *ids = NULL;
        size_t n = 0;
        fe_error e;
        /* "\u0120" is no escape in vocab.bpe: it is the six characters, not in this vocabulary */
        bad_vocab(enc, "#version: 0.2\r\na b\r\n\\u0120 ab\r\n", fe_err_format, "line 3: a part");
        v = small_vocab(enc, "#version: 0.2\r\na b\r\n\xc4\xa0 ab\r\n");
        CHECK(v != NULL);
        if (!v) break;
        CHECK(fe_vocab_size(v) == 6 && fe_vocab_eot(v) == 5);
        { int w[] = {4, 4}; CHECK(encode_equals(v, " ab ab", 6, w, 2)); }
        { int w[] = {0, 1}; CHECK(encode_equals(v, "ba", 2, w, 2)); }
        { int w[] = {2, 3, 2}; CHECK(encode_equals(v, "ab  ", 4, w + 1, 2) == 0); }
        CHECK_CODE(fe_encode(v, "abc", 3, &ids, &n, &e), fe_err_unsupported);
        CHECK(strstr(e.msg, "0x63") != NULL && ids == NULL && n == 0);
        fe_vocab_free(v);
    }
    TEST("BPE follows the reference pass order with out-of-order merges") {
        /* ranks: "x ab" 0, "xab a" 1, "a b" 2. On "xabab" the reference merges both "a b" first
           ([x, ab, ab]) and then "x ab" -> [xab, ab]; a plain heap would steal the second a. */
        const char *enc = "{\"x\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"xab\": 4, \"xaba\": 5}";
        fe_vocab *v = small_vocab(enc, "x ab\nxab a\na b\n");
        CHECK(v != NULL);
        if (!v) break;
        { int w[] = {4, 3}; CHECK(encode_equals(v, "xabab", 5, w, 2)); }
        { int w[] = {5}; CHECK(encode_equals(v, "xaba", 4, w, 1)); }   /* [x, ab, a] -> [xab, a] -> [xaba] */
        fe_vocab_free(v);
    }
    TEST("overlapping occurrences merge left to right") {
        const char *enc = "{\"a\": 0, \"aa\": 1}";
        fe_vocab *v = small_vocab(enc, "a a\n");
        CHECK(v != NULL);
        if (!v) break;
        { int w[] = {1, 0}; CHECK(encode_equals(v, "aaa", 3, w, 2)); }
        { int w[] = {1, 1}; CHECK(encode_equals(v, "aaaa", 4, w, 2)); }
        CHECK(fe_vocab_eot(v) == -1);
        fe_vocab_free(v);
    }
}

static void test_gpt2(const fe_vocab *full, const fe_vocab *derived) {
    TEST("derived vocabulary == encoder.json") {
        size_t i, same = 0;
        CHECK(fe_vocab_size(full) == 50257 && fe_vocab_size(derived) == 50257);
        CHECK(fe_vocab_eot(full) == 50256 && fe_vocab_eot(derived) == 50256);
        for (i = 0; i < fe_vocab_size(full); i++) {
            size_t la = 0, lb = 0;
            const char *a = fe_token_bytes(full, (int)i, &la), *b = fe_token_bytes(derived, (int)i, &lb);
            same += a && b && la == lb && !memcmp(a, b, la);
        }
        CHECKF(same == 50257, "%zu of 50257 tokens agree", same);
    }
    TEST("token bytes and decode errors") {
        size_t l = 99;
        int bad[] = {464, 50257};
        char *t = (char *)1;
        fe_error e;
        CHECK(fe_token_bytes(full, -1, &l) == NULL && l == 0);
        CHECK(fe_token_bytes(full, 50257, &l) == NULL);
        CHECK(fe_token_bytes(full, 220, &l) && l == 1 && fe_token_bytes(full, 220, &l)[0] == ' ');
        CHECK(fe_token_bytes(full, 50256, &l) && l == 13 && !memcmp(fe_token_bytes(full, 50256, &l), "<|endoftext|>", 13));
        CHECK_CODE(fe_decode(full, bad, 2, &t, &l, &e), fe_err_range);
        CHECK(t == NULL && strstr(e.msg, "ids[1] = 50257") != NULL);
        bad[0] = -3;
        CHECK_CODE(fe_decode(full, bad, 1, &t, &l, &e), fe_err_range);
        CHECK_CODE(fe_decode(full, bad, 0, &t, &l, &e), fe_ok);
        CHECK(t && t[0] == 0 && l == 0);
        fe_text_free(full, t);
        CHECK_CODE(fe_decode(full, NULL, 1, &t, &l, &e), fe_err_arg);
    }
    TEST("encode basics") {
        int *ids = (int *)1;
        size_t n = 7;
        fe_error e;
        CHECK_CODE(fe_encode(full, "", 0, &ids, &n, &e), fe_ok);
        CHECK(ids != NULL && n == 0);
        fe_ids_free(full, ids);
        CHECK_CODE(fe_encode(full, NULL, 0, &ids, &n, &e), fe_ok);
        fe_ids_free(full, ids);
        CHECK_CODE(fe_encode(full, NULL, 3, &ids, &n, &e), fe_err_arg);
        CHECK_CODE(fe_encode(NULL, "a", 1, &ids, &n, &e), fe_err_arg);
        CHECK_CODE(fe_encode(full, "a", 1, NULL, &n, &e), fe_err_arg);
        { int w[] = {27, 91, 437, 1659, 5239, 91, 29}; CHECK(encode_equals(full, "<|endoftext|>", 13, w, 7)); }   /* not special */
        { int w[] = {15496, 0, 995}; CHECK(encode_equals(full, "Hello\0world", 11, w, 3) == 0); }
    }
    TEST("unicode classes: ASCII fast path == table") {
        uint32_t c;
        int same = 1;
        for (c = 0; c < 128; c++) same &= fe__uclass(c) == fe__uclass_search(c);
        CHECK(same);
        CHECK(fe__uclass(0xA0) == FACTEDIT__CL_SPACE && fe__uclass(0x3000) == FACTEDIT__CL_SPACE && fe__uclass(0xFEFF) == FACTEDIT__CL_SPACE);
        CHECK(fe__uclass(0x85) == FACTEDIT__CL_OTHER && fe__uclass(0x1C) == FACTEDIT__CL_OTHER);   /* JS \s, not Python's */
        CHECK(fe__uclass(0xE9) == FACTEDIT__CL_LETTER && fe__uclass(0x65E5) == FACTEDIT__CL_LETTER && fe__uclass(0x10FFFF) == FACTEDIT__CL_OTHER);
        CHECK(fe__uclass(0xB2) == FACTEDIT__CL_NUMBER && fe__uclass(0x216B) == FACTEDIT__CL_NUMBER && fe__uclass(0x1D7D8) == FACTEDIT__CL_NUMBER);
        CHECK(fe__uclass(0x301) == FACTEDIT__CL_OTHER && fe__uclass(0x1F600) == FACTEDIT__CL_OTHER);
    }
    TEST("round trip of random bytes, invalid UTF-8 and NULs") {
        int i, ok = 0, total = 3000;
        char buf[300];
        for (i = 0; i < total; i++) {
            size_t n = rng() % sizeof buf, k = 0, dl = 0, ni = 0;
            int *ids = NULL, mode = (int)(rng() % 4);
            char *back = NULL;
            while (k < n) {
                uint32_t r = rng();
                if (mode == 0) buf[k++] = (char)(r & 0xFF);                                  /* any bytes */
                else if (mode == 1) buf[k++] = " 'aZs\n\t0\x80\xbf\xc3\xe2\xf0\xff\x00"[r % 15];   /* tricky ASCII + fragments */
                else {   /* valid UTF-8 of random code points, sometimes cut or corrupted */
                    unsigned char u[4];
                    uint32_t cp = (mode == 2 ? r % 0x800 : r % 0x110000), m;
                    size_t l = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4, j;
                    if (l == 1) u[0] = (unsigned char)cp;
                    else {
                        for (j = l - 1; j > 0; j--) { u[j] = (unsigned char)(0x80 | (cp & 0x3F)); cp >>= 6; }
                        m = l == 2 ? 0xC0 : l == 3 ? 0xE0 : 0xF0;
                        u[0] = (unsigned char)(m | cp);
                    }
                    if (rng() % 16 == 0) l = 1 + rng() % l;   /* truncated sequence */
                    for (j = 0; j < l && k < n; j++) buf[k++] = (char)u[j];
                }
            }
            if (fe_encode(full, buf, n, &ids, &ni, NULL) == fe_ok && fe_decode(full, ids, ni, &back, &dl, NULL) == fe_ok)
                ok += dl == n && !memcmp(back, buf, n) && back[n] == 0;
            fe_ids_free(full, ids);
            fe_text_free(full, back);
        }
        CHECKF(ok == total, "%d of %d round trips exact", ok, total);
    }
    TEST("invalid UTF-8 bytes are single 'other' characters") {
        /* "\xff" joins the other-run with "!"; " \xe2\x82" is a cut sequence after a space */
        int *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        CHECK_CODE(fe_encode(full, "a\xff!b", 4, &a, &na, NULL), fe_ok);
        CHECK_CODE(fe_encode(full, "a\xc3\xbf!b", 5, &b, &nb, NULL), fe_ok);   /* valid U+00FF is a letter: different split */
        CHECK(na == 3 || na == 4);
        CHECK(!(na == nb && !memcmp(a, b, na * sizeof *a)));
        fe_ids_free(full, a);
        fe_ids_free(full, b);
    }
}

static void span(const fe_vocab *v, const char *prompt, const char *subject, size_t wb, size_t we) {
    size_t b = 99, e = 99;
    fe_error err;
    fe_result r = fe_subject_span(v, prompt, subject, &b, &e, &err);
    CHECKF(r == fe_ok && b == wb && e == we, "span of \"%s\" in \"%s\": rc %d [%zu,%zu), want [%zu,%zu)", subject, prompt, (int)r, b, e, wb, we);
}

static void test_span(const fe_vocab *v) {
    TEST("subject span") {
        size_t b, e;
        fe_error err;
        /* The | Space | Need | le | is | in */
        span(v, "The Space Needle is in", " Space Needle", 1, 4);
        span(v, "The Space Needle is in", "Space Needle", 1, 4);
        span(v, "The Space Needle is in", "The", 0, 1);
        span(v, "The Space Needle is in", "The Space", 0, 2);
        span(v, "The Space Needle is in", "pace", 1, 2);
        span(v, "The Space Needle is in", "Needle", 2, 4);
        span(v, "The Space Needle is in", " in", 5, 6);
        span(v, "The Space Needle is in", "The Space Needle is in", 0, 6);
        span(v, "Paris and Paris", "Paris", 0, 1);   /* first occurrence, as ROME's str.index */
        span(v, "Danielle Darrieux's mother tongue is", "Danielle Darrieux", 0, 5);
        CHECK_CODE(fe_subject_span(v, "The Space Needle is in", "Eiffel", &b, &e, &err), fe_err_arg);
        CHECK(strstr(err.msg, "Eiffel") && strstr(err.msg, "The Space Needle is in"));
        CHECK_CODE(fe_subject_span(v, "The Space Needle is in", "", &b, &e, &err), fe_err_arg);
        CHECK(strstr(err.msg, "empty") != NULL);
        CHECK_CODE(fe_subject_span(v, "", "x", &b, &e, &err), fe_err_arg);
        CHECK_CODE(fe_subject_span(v, NULL, "x", &b, &e, &err), fe_err_arg);
    }
}

static void test_speed(const fe_vocab *v) {
    static const char *words[] = {"The", " Space", " Needle", " is", " located", " in", " the", " city", " of", " Seattle", ",",
                                  " Washington", ".", " It", " was", " built", " for", " 1962", " World's", " Fair", "\n"};
    size_t cap = 1 << 20, k = 0, n = 0;
    char *text = (char *)malloc(cap);
    int *ids = NULL, i;
    const char *what[3] = {"1 MB English-like text", "1 MB of one letter", "1 MB of random bytes"};
    for (i = 0; i < 3; i++) {
        clock_t t0;
        k = 0;
        while (k < cap) {
            const char *w = words[rng() % (sizeof words / sizeof *words)];
            size_t l = strlen(w);
            if (i == 0) { if (k + l > cap) l = cap - k; memcpy(text + k, w, l); k += l; }
            else text[k++] = (char)(i == 1 ? 'a' : rng() & 0xFF);
        }
        t0 = clock();
        CHECK_CODE(fe_encode(v, text, cap, &ids, &n, NULL), fe_ok);
        printf("speed: %s -> %zu tokens in %.3f s\n", what[i], n, (double)(clock() - t0) / CLOCKS_PER_SEC);
        fe_ids_free(v, ids);
    }
    free(text);
}

int main(int argc, char **argv) {
    fe_vocab *full = NULL, *derived = NULL;
    fe_error e;
    char path[4096];
    char *merges;
    size_t mlen = 0;
    clock_t t0;
    if (argc < 3) { printf("usage: %s TOKENIZER_DIR CASES_JSON [EXTRA_CASES_JSON [SPANS_JSON]]\n", argv[0]); return 2; }
    test_errors();
    test_small_vocabs();
    t0 = clock();
    CHECK_CODE(fe_vocab_load_dir(&full, argv[1], NULL, &e), fe_ok);
    printf("load encoder.json + vocab.bpe: %.3f s\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    snprintf(path, sizeof path, "%s/vocab.bpe", argv[1]);
    merges = read_file(path, &mlen);
    CHECKF(merges != NULL, "cannot read %s", path);
    t0 = clock();
    if (merges) CHECK_CODE(fe_vocab_load_mem(&derived, NULL, 0, merges, mlen, NULL, &e), fe_ok);
    printf("load vocab.bpe only: %.3f s\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    if (merges) {   /* without the #version line and with CRLF line ends: same vocabulary */
        const char *body = strchr(merges, '\n') + 1;
        size_t i, k = 0, n2 = 0;
        char *crlf = (char *)malloc(2 * mlen + 1);
        fe_vocab *v2 = NULL;
        for (i = 0; body[i]; i++) { if (body[i] == '\n') crlf[k++] = '\r'; crlf[k++] = body[i]; }
        TEST("vocab.bpe without #version, CRLF") {
            CHECK_CODE(fe_vocab_load_mem(&v2, NULL, 0, crlf, k, NULL, &e), fe_ok);
            if (v2 && derived) {
                for (i = 0; i < fe_vocab_size(derived); i++) {
                    size_t la, lb;
                    const char *a = fe_token_bytes(derived, (int)i, &la), *b = fe_token_bytes(v2, (int)i, &lb);
                    n2 += la == lb && !memcmp(a, b, la);
                }
                CHECK(n2 == 50257 && fe_vocab_size(v2) == 50257);
            }
        }
        fe_vocab_free(v2);
        free(crlf);
    }
    if (full && derived) {
        test_gpt2(full, derived);
        test_span(full);
        TEST("reference cases") run_cases(argv[2], full, derived);
        if (argc > 3) TEST("extra reference cases") run_cases(argv[3], full, derived);
        if (argc > 4) TEST("ROME subject spans") run_spans(argv[4], full);
        test_speed(full);
    }
    fe_vocab_free(full);
    fe_vocab_free(derived);
    free(merges);
    return t_summary();
}
