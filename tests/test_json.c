/* Tests for the JSON part: values, escapes, contiguity, every error path, limits, encoder.json speed. */
#define FACTEDIT_IMPLEMENTATION
#include "../factedit.h"
#include "test.h"
#include <time.h>

static fe_result parse(const char *s, fe_json **doc, fe_error *e) { return fe_json_parse(doc, s, strlen(s), NULL, e); }

/* Expects a parse failure with the given code and a message containing `part`. */
static void bad(const char *text, fe_result code, const char *part) {
    fe_json *d = NULL;
    fe_error e;
    fe_result r;
    memset(&e, 0, sizeof e);
    r = parse(text, &d, &e);
    CHECKF(r == code && d == NULL && e.code == code, "'%s': got %d (%s), want %d", text, (int)r, e.msg, (int)code);
    CHECKF(strstr(e.msg, part) != NULL, "'%s': message '%s' lacks '%s'", text, e.msg, part);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *b;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (char *)malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(void) {
    fe_json *d;
    fe_error e;
    const fe_json_value *r, *v;
    (void)fe__add;
    TEST("scalars and containers") {
        CHECK_CODE(parse(" {\"a\": [1, -2.5e2, 0, -0, 1E+2, 3.25], \"b\": true, \"c\": false, \"d\": null, \"e\": {}, \"f\": [], \"a\": 7} \n", &d, &e), fe_ok);
        r = fe_json_root(d);
        CHECK(r && r->type == fe_json_object && r->count == 7 && r->key == NULL);
        v = fe_json_get(r, "a");
        CHECK(v && v->type == fe_json_array && v->count == 6 && v->key_len == 1);
        CHECK(fe_json_at(v, 0)->number == 1 && fe_json_at(v, 1)->number == -250 && fe_json_at(v, 4)->number == 100);
        CHECK(fe_json_at(v, 5)->number == 3.25 && fe_json_at(v, 6) == NULL);
        CHECK(v->child[2].next == &v->child[3] && v->child[5].next == NULL);  /* contiguous children */
        CHECK(fe_json_get(r, "b")->type == fe_json_bool && fe_json_get(r, "b")->boolean == 1);
        CHECK(fe_json_get(r, "c")->boolean == 0 && fe_json_get(r, "d")->type == fe_json_null);
        CHECK(fe_json_get(r, "e")->type == fe_json_object && fe_json_get(r, "e")->count == 0 && fe_json_get(r, "e")->child == NULL);
        CHECK(fe_json_get(r, "f")->type == fe_json_array && fe_json_get(r, "f")->count == 0);
        CHECK(fe_json_get(r, "zz") == NULL && fe_json_get(v, "a") == NULL && fe_json_at(NULL, 0) == NULL);
        CHECK(fe_json_at(r, 6)->number == 7);   /* duplicate keys kept, get returns the first */
        CHECK(fe_json_at(fe_json_get(r, "b"), 0) == NULL);
        fe_json_free(d);
        CHECK_CODE(parse("42", &d, &e), fe_ok);
        CHECK(fe_json_root(d)->type == fe_json_number && fe_json_root(d)->number == 42);
        fe_json_free(d);
        CHECK_CODE(parse("1e-5", &d, &e), fe_ok);
        CHECK(fe_json_root(d)->number == 1e-5);
        fe_json_free(d);
        CHECK_CODE(parse("\"\"", &d, &e), fe_ok);
        CHECK(fe_json_root(d)->type == fe_json_string && fe_json_root(d)->len == 0 && fe_json_root(d)->str[0] == 0);
        fe_json_free(d);
        fe_json_free(NULL);
        CHECK(fe_json_root(NULL) == NULL);
    }
    TEST("string escapes and UTF-8") {
        CHECK_CODE(parse("[\"a\\\"\\\\\\/\\b\\f\\n\\r\\tz\", \"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\", \"x\\u0000y\", \"h\xc3\xa9\xff\"]", &d, &e), fe_ok);
        r = fe_json_root(d);
        CHECK(r->count == 4);
        CHECK(r->child[0].len == 10 && !memcmp(r->child[0].str, "a\"\\/\b\f\n\r\tz", 11));
        CHECK(r->child[1].len == 1 + 2 + 3 + 4 && !strcmp(r->child[1].str, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
        CHECK(r->child[2].len == 3 && !memcmp(r->child[2].str, "x\0y", 4));
        CHECK(r->child[3].len == 4 && !strcmp(r->child[3].str, "h\xc3\xa9\xff"));  /* invalid UTF-8 passes through */
        fe_json_free(d);
        CHECK_CODE(parse("{\"k\\u00e9y\": 1}", &d, &e), fe_ok);
        CHECK(fe_json_get(fe_json_root(d), "k\xc3\xa9y") != NULL);
        fe_json_free(d);
    }
    TEST("malformed") {
        bad("", fe_err_format, "unexpected end of input");
        bad("   ", fe_err_format, "byte offset 3");
        bad("[1, 2] x", fe_err_format, "trailing characters after the JSON value at byte offset 7");
        bad("{} {}", fe_err_format, "trailing");
        bad("\"abc", fe_err_format, "unterminated string");
        bad("\"abc\\", fe_err_format, "unterminated string");
        bad("\"a\\qb\"", fe_err_format, "bad escape in string at byte offset 2");
        bad("\"\\u12G4\"", fe_err_format, "bad \\u escape");
        bad("\"\\u12\"", fe_err_format, "bad \\u escape");
        bad("\"\\ud83d\"", fe_err_format, "unpaired high surrogate");
        bad("\"\\ud83d\\u0041\"", fe_err_format, "unpaired high surrogate");
        bad("\"\\ude00\"", fe_err_format, "unpaired low surrogate");
        bad("\"a\nb\"", fe_err_format, "unescaped control character in string at byte offset 2");
        bad("[1,]", fe_err_format, "expected a value");
        bad("[1 2]", fe_err_format, "expected ',' or ']' at byte offset 3");
        bad("{\"a\" 1}", fe_err_format, "expected ':' after key");
        bad("{\"a\":1,}", fe_err_format, "expected a string key");
        bad("{a:1}", fe_err_format, "expected a string key at byte offset 1");
        bad("{\"a\":1 \"b\":2}", fe_err_format, "expected ',' or '}'");
        bad("[1", fe_err_format, "end of input");
        bad("{\"a\":", fe_err_format, "expected a value");
        bad("01", fe_err_format, "trailing");
        bad("+1", fe_err_format, "unexpected character");
        bad("-", fe_err_format, "bad number (expected a digit)");
        bad("1.", fe_err_format, "after '.'");
        bad(".5", fe_err_format, "unexpected character");
        bad("1e", fe_err_format, "exponent");
        bad("1e+", fe_err_format, "exponent");
        bad("1e999", fe_err_range, "number too large");
        bad("-1e999", fe_err_range, "number too large");
        bad("tru", fe_err_format, "unexpected character");
        bad("nul", fe_err_format, "expected a value");
        bad("NaN", fe_err_format, "('N')");
        bad("[\x01]", fe_err_format, "(byte 0x01)");
        bad("// c\n1", fe_err_format, "unexpected character");
    }
    TEST("embedded NUL in input is an error") {
        memset(&e, 0, sizeof e);
        CHECK_CODE(fe_json_parse(&d, "[1]\0", 4, NULL, &e), fe_err_format);
        CHECK_CODE(fe_json_parse(&d, "[1]\0", 3, NULL, &e), fe_ok);
        fe_json_free(d);
    }
    TEST("arguments and limits") {
        CHECK_CODE(fe_json_parse(NULL, "1", 1, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_json_parse(&d, NULL, 1, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_json_parse(&d, "1", FACTEDIT_MAX_JSON_BYTES + 1, NULL, &e), fe_err_limit);
        CHECK(strstr(e.msg, "FACTEDIT_MAX_JSON_BYTES") != NULL);
        CHECK_CODE(fe_json_parse(&d, "1", 1, NULL, NULL), fe_ok);  /* err may be NULL */
        fe_json_free(d);
        CHECK_CODE(fe_json_parse(&d, "[", 1, NULL, NULL), fe_err_format);
    }
    TEST("depth") {
        static char buf[2 * 100000 + 8];
        int depth;
        for (depth = FACTEDIT_MAX_JSON_DEPTH; depth <= FACTEDIT_MAX_JSON_DEPTH + 1; depth++) {
            int k;
            for (k = 0; k < depth; k++) { buf[k] = '['; buf[2 * depth - 1 - k] = ']'; }
            buf[2 * depth] = 0;
            if (depth == FACTEDIT_MAX_JSON_DEPTH) {
                CHECK_CODE(parse(buf, &d, &e), fe_ok);
                fe_json_free(d);
            } else bad(buf, fe_err_limit, "nesting deeper than FACTEDIT_MAX_JSON_DEPTH (64) at byte offset 64");
        }
        memset(buf, '[', 100000); buf[100000] = 0;   /* depth bomb: stops at 64, no deep recursion */
        bad(buf, fe_err_limit, "nesting deeper");
        memset(buf, '{', 1); buf[1] = 0;
        for (depth = 0; depth < 50000; depth++) memcpy(buf + 1 + 4 * depth, "\"\":{", 4);
        buf[1 + 4 * 50000] = 0;
        bad(buf, fe_err_limit, "nesting deeper");
    }
    TEST("long numbers and strings") {
        static char buf[5000];
        memset(buf, '1', 400); buf[0] = '['; buf[200] = '.'; buf[400] = ']'; buf[401] = 0;
        CHECK_CODE(parse(buf, &d, &e), fe_ok);
        CHECK(fe_json_root(d)->child[0].number > 1.1e198 && fe_json_root(d)->child[0].number < 1.12e198);
        fe_json_free(d);
        memset(buf, 'x', 4998); buf[0] = '"'; buf[4997] = '"'; buf[4998] = 0;
        CHECK_CODE(parse(buf, &d, &e), fe_ok);
        CHECK(fe_json_root(d)->len == 4996);
        fe_json_free(d);
    }
    TEST("many values") {
        size_t n = 200000, k, len;
        char *buf = (char *)malloc(n * 2 + 2);
        buf[0] = '[';
        for (k = 0; k < n; k++) { buf[1 + 2 * k] = '7'; buf[2 + 2 * k] = ','; }
        buf[2 * n] = ']'; len = 2 * n + 1;
        CHECK_CODE(fe_json_parse(&d, buf, len, NULL, &e), fe_ok);
        CHECK(fe_json_root(d)->count == n && fe_json_at(fe_json_root(d), n - 1)->number == 7);
        fe_json_free(d);
        free(buf);
    }
    TEST("encoder.json") {
        size_t len = 0, k;
        char *buf = read_file("tools/gpt2/encoder.json", &len);
        CHECK(buf != NULL);
        if (buf) {
            clock_t t0 = clock();
            double ms;
            int ok = 1;
            CHECK_CODE(fe_json_parse(&d, buf, len, NULL, &e), fe_ok);
            ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
            printf("encoder.json: %lu bytes parsed in %.1f ms\n", (unsigned long)len, ms);
            r = fe_json_root(d);
            CHECK(r->count == 50257);
            CHECK(fe_json_get(r, "!")->number == 0 && fe_json_get(r, "<|endoftext|>")->number == 50256);
            CHECK(fe_json_get(r, "\xc4\xa0the") && fe_json_get(r, "\xc4\xa0the")->number == 262);  /* "Ġthe" */
            for (k = 0; k < r->count; k++) ok &= r->child[k].type == fe_json_number && r->child[k].key != NULL;
            CHECK(ok);
            fe_json_free(d);
            free(buf);
        }
    }
    return t_summary();
}
