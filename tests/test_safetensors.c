/* Tests for the safetensors part: conversions, a hand-built valid file, every error path, oracle files. */
#include "t_alloc.h"
#define FACTEDIT_IMPLEMENTATION
#include "../factedit.h"
#include "test.h"

/* Builds [u64 len][hdr][dlen bytes 0,1,2,...] in a static buffer. */
static unsigned char fbuf[1 << 16];
static size_t mk(const char *hdr, size_t dlen) {
    size_t n = strlen(hdr), i;
    for (i = 0; i < 8; i++) fbuf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(fbuf + 8, hdr, n);
    for (i = 0; i < dlen; i++) fbuf[8 + n + i] = (unsigned char)i;
    return 8 + n + dlen;
}

static void bad(const char *hdr, size_t dlen, fe_result code, const char *part) {
    fe_safetensors *st = (fe_safetensors *)&st;  /* must be reset to NULL */
    fe_error e;
    fe_result r;
    memset(&e, 0, sizeof e);
    r = fe_safetensors_parse(&st, fbuf, mk(hdr, dlen), NULL, &e);
    CHECKF(r == code && st == NULL && e.code == code, "'%s': got %d (%s), want %d", hdr, (int)r, e.msg, (int)code);
    CHECKF(strstr(e.msg, part) != NULL, "'%s': message '%s' lacks '%s'", hdr, e.msg, part);
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float ffrom(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

int main(void) {
    fe_safetensors *st;
    fe_error e;
    const fe_st_tensor *t;
    float out[64];
    (void)fe__add;
    TEST("f16") {
        uint32_t h;
        int mono = 1;
        CHECK(fe_f16_to_f32(0x3c00) == 1.0f && fe_f16_to_f32(0xc000) == -2.0f && fe_f16_to_f32(0x7bff) == 65504.0f);
        CHECK(fe_f16_to_f32(0x3555) == 0.333251953125f);
        CHECK(fe_f16_to_f32(0x0001) == ldexpf(1, -24) && fe_f16_to_f32(0x03ff) == 1023 * ldexpf(1, -24));
        CHECK(fe_f16_to_f32(0x8001) == -ldexpf(1, -24) && fe_f16_to_f32(0x0400) == ldexpf(1, -14));
        CHECK(fbits(fe_f16_to_f32(0x8000)) == 0x80000000u && fbits(fe_f16_to_f32(0)) == 0);
        CHECK(isinf(fe_f16_to_f32(0x7c00)) && fe_f16_to_f32(0xfc00) < 0 && isinf(fe_f16_to_f32(0xfc00)));
        CHECK(isnan(fe_f16_to_f32(0x7e00)) && isnan(fe_f16_to_f32(0x7c01)) && isnan(fe_f16_to_f32(0xfe00)));
        for (h = 1; h <= 0x7c00; h++) mono &= fe_f16_to_f32((uint16_t)h) > fe_f16_to_f32((uint16_t)(h - 1)) &&
                                               fe_f16_to_f32((uint16_t)(h | 0x8000)) == -fe_f16_to_f32((uint16_t)h);
        CHECK(mono);  /* strictly increasing over all finite positives and inf, symmetric */
    }
    TEST("bf16") {
        CHECK(fe_f32_to_bf16(1.0f) == 0x3f80 && fe_bf16_to_f32(0x3f80) == 1.0f && fe_bf16_to_f32(0xc0a0) == -5.0f);
        CHECK(fe_f32_to_bf16(ffrom(0x3f808000u)) == 0x3f80);  /* tie, even below */
        CHECK(fe_f32_to_bf16(ffrom(0x3f818000u)) == 0x3f82);  /* tie, odd below: up */
        CHECK(fe_f32_to_bf16(ffrom(0x3f808001u)) == 0x3f81 && fe_f32_to_bf16(ffrom(0x3f807fffu)) == 0x3f80);
        CHECK(fe_f32_to_bf16(ffrom(0xbf818000u)) == 0xbf82);
        CHECK(fe_f32_to_bf16(ffrom(0x7f7fffffu)) == 0x7f80);  /* FLT_MAX rounds to inf */
        CHECK(fe_f32_to_bf16(ffrom(0x7f800000u)) == 0x7f80 && fe_f32_to_bf16(ffrom(0xff800000u)) == 0xff80);
        CHECK(fe_f32_to_bf16(-0.0f) == 0x8000);
        CHECK(isnan(fe_bf16_to_f32(fe_f32_to_bf16(ffrom(0x7f800001u)))));  /* signaling NaN with low payload */
        CHECK(isnan(fe_bf16_to_f32(fe_f32_to_bf16(ffrom(0xffffffffu)))) && (fe_f32_to_bf16(ffrom(0xffffffffu)) & 0x8000));
        CHECK(isnan(fe_bf16_to_f32(fe_f32_to_bf16(ffrom(0x7fc00000u)))));
    }
    TEST("valid file") {
        /* 1-byte-odd header length makes all data unaligned */
        const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
            "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"extra\":1},"
            "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[20,22]},"
            "\"d\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[24,32]},"
            "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[24,24]}}  ";
        size_t len = mk(hdr, 40);
        unsigned char *d0 = fbuf + 8 + strlen(hdr);
        float one = 1.5f, mtwo = -2.0f;
        memcpy(d0 + 0, &one, 4); memcpy(d0 + 12, &mtwo, 4);          /* a[0][0], a[1][1] (LE host) */
        d0[16] = 0x00; d0[17] = 0x3c; d0[18] = 0x01; d0[19] = 0x80;   /* b = [1, -2^-24] */
        d0[20] = 0xa0; d0[21] = 0xc0;                                 /* c = -5 */
        CHECK_CODE(fe_safetensors_parse(&st, fbuf, len, NULL, &e), fe_ok);
        CHECK(fe_safetensors_count(st) == 5);
        t = fe_safetensors_at(st, 0);
        CHECK(t && !strcmp(t->name, "b") && t->dtype == fe_dtype_f16 && t->ndim == 1 && t->numel == 2 && t->nbytes == 4);
        t = fe_safetensors_find(st, "a");
        CHECK(t && t == fe_safetensors_at(st, 1) && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 2 && !strcmp(t->dtype_name, "F32"));
        CHECK(t && t->data == d0);
        CHECK_CODE(fe_st_tensor_to_f32(t, out, &e), fe_ok);
        CHECK(out[0] == 1.5f && out[3] == -2.0f);
        CHECK_CODE(fe_st_tensor_to_f32(fe_safetensors_find(st, "b"), out, &e), fe_ok);
        CHECK(out[0] == 1.0f && out[1] == -ldexpf(1, -24));
        t = fe_safetensors_find(st, "c");
        CHECK(t && t->ndim == 0 && t->numel == 1 && t->dtype == fe_dtype_bf16);
        CHECK_CODE(fe_st_tensor_to_f32(t, out, &e), fe_ok);
        CHECK(out[0] == -5.0f);
        t = fe_safetensors_find(st, "d");
        CHECK(t && t->dtype == fe_dtype_other && !strcmp(t->dtype_name, "I64"));
        CHECK_CODE(fe_st_tensor_to_f32(t, out, &e), fe_err_unsupported);
        CHECK(strstr(e.msg, "tensor 'd' has dtype I64") != NULL);
        t = fe_safetensors_find(st, "e");
        CHECK(t && t->numel == 0 && t->nbytes == 0);
        CHECK_CODE(fe_st_tensor_to_f32(t, NULL, &e), fe_ok);
        CHECK(fe_safetensors_find(st, "__metadata__") == NULL && fe_safetensors_find(st, "zz") == NULL && fe_safetensors_find(st, "") == NULL);
        CHECK(fe_safetensors_at(st, 5) == NULL && fe_safetensors_count(NULL) == 0 && fe_safetensors_find(NULL, "a") == NULL);
        CHECK_CODE(fe_st_tensor_to_f32(NULL, out, &e), fe_err_arg);
        fe_safetensors_free(st);
        fe_safetensors_free(NULL);
        CHECK_CODE(fe_safetensors_parse(&st, fbuf, mk("{}", 0), NULL, &e), fe_ok);
        CHECK(fe_safetensors_count(st) == 0);
        fe_safetensors_free(st);
    }
    TEST("length prefix and header") {
        unsigned char b[16];
        memset(b, 0, sizeof b);
        CHECK_CODE(fe_safetensors_parse(&st, b, 7, NULL, &e), fe_err_format);
        CHECK(strstr(e.msg, "file of 7 bytes is too short") != NULL);
        CHECK_CODE(fe_safetensors_parse(&st, NULL, 0, NULL, &e), fe_err_format);
        CHECK_CODE(fe_safetensors_parse(&st, NULL, 8, NULL, &e), fe_err_arg);
        CHECK_CODE(fe_safetensors_parse(NULL, b, 8, NULL, &e), fe_err_arg);
        b[0] = 9;  /* header of 9 bytes, only 8 present */
        CHECK_CODE(fe_safetensors_parse(&st, b, 16, NULL, &e), fe_err_range);
        CHECK(strstr(e.msg, "header length 9 exceeds the 8 bytes") != NULL);
        memset(b, 0xff, 8);
        CHECK_CODE(fe_safetensors_parse(&st, b, 16, NULL, &e), fe_err_range);
        memset(b, 0, 8);
        CHECK_CODE(fe_safetensors_parse(&st, b, 16, NULL, &e), fe_err_format);  /* empty header */
        CHECK(strstr(e.msg, "safetensors: header: json: unexpected end of input") != NULL);
        bad("{\"a\":", 0, fe_err_format, "safetensors: header: json:");
        bad("{\"a\":{}} x", 0, fe_err_format, "trailing characters");
        bad("[1]", 0, fe_err_format, "header is not a JSON object");
        bad("{\"__metadata__\":[]}", 0, fe_err_format, "__metadata__ is not an object");
        bad("{\"__metadata__\":{\"k\":1}}", 0, fe_err_format, "__metadata__ value 'k' is not a string");
    }
    TEST("entries") {
        bad("{\"w\":1}", 0, fe_err_format, "entry of tensor 'w' is not an object");
        bad("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, fe_err_format, "tensor 'w' has no \"dtype\" string");
        bad("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, fe_err_format, "has no \"shape\" array");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, fe_err_format, "has no \"data_offsets\" array");
        bad("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, fe_err_unsupported, "tensor 'w' has unknown dtype 'Q4'");
        bad("{\"w\":{\"dtype\":\"F32\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, fe_err_unsupported, "unknown dtype");
        bad("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, fe_err_unsupported, "unknown dtype");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, fe_err_format, "shape[0] is not a non-negative integer");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", 4, fe_err_format, "shape[1] is not");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, fe_err_format, "shape[0] is not");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, fe_err_format, "shape[0] is not");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, fe_err_limit, "has 9 dimensions, at most 8");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496,4503599627370496],\"data_offsets\":[0,4]}}", 4,
            fe_err_limit, "element count overflows");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,2048],\"data_offsets\":[0,4]}}", 4, fe_err_limit, "byte size overflows");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, fe_err_format, "data_offsets must be [begin, end]");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, fe_err_format, "data_offsets must be");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, fe_err_format, "data_offsets must be");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, fe_err_format, "[8, 4) has begin > end");
        bad("{\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[1225],\"data_offsets\":[100,5000]}}", 4000, fe_err_range,
            "safetensors: tensor 'h.0.attn.c_attn.weight' data range [100, 5000) exceeds data section of 4000 bytes");
        bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, fe_err_format,
            "tensor 'w' has 20 data bytes but F32 x 6 elements need 24");
        bad("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, fe_err_format, "need 6");
        bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
            fe_err_format, "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
        bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[20,22]},\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[8,10]}}", 24,
            fe_err_format, "tensors 'a' [0, 16) and 'c' [8, 10) overlap");   /* contained, found past an empty tensor */
        bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
            fe_err_format, "tensor 'a' appears twice");
        bad("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, fe_err_format, "contains a NUL byte");
        /* touching tensors and gaps are fine */
        CHECK_CODE(fe_safetensors_parse(&st, fbuf, mk("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                                                      "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                                                      "\"c\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[10,11]}}", 16), NULL, &e), fe_ok);
        fe_safetensors_free(st);
    }
    TEST("custom allocator and every allocation failure") {
        size_t len;
        unsigned char *b = read_file("tests/data/tiny_a/model_f16.safetensors", &len);
        t_alloc a;
        long k, fails = 0;
        for (k = 0; b; k++) {
            fe_result r;
            a.live = 0; a.calls = 0; a.fail_after = k;
            st = NULL;
            r = fe_safetensors_parse(&st, b, len, &a, &e);
            if (r == fe_ok) break;
            fails += r == fe_err_nomem && st == NULL && a.live == 0 && strstr(e.msg, "out of memory") != NULL;
            CHECKF(r == fe_err_nomem && a.live == 0, "fail_after %ld: %d live %ld (%s)", k, (int)r, a.live, e.msg);
        }
        CHECKF(k > 2 && fails == k, "%ld failure points, %ld clean", k, fails);
        CHECK(st && fe_safetensors_count(st) == 48 && a.live > 0);
        fe_safetensors_free(st);
        CHECK(a.live == 0);
        free(b);
    }
    TEST("random mutations never crash") {
        size_t len, k, hl;
        unsigned char *orig = read_file("tests/data/tiny_a/hf/model.safetensors", &len), *b;
        uint32_t seed = 12345;
        int it, ok = 0, failed = 0;
        float *tmp = (float *)malloc(len);
        if (orig) {
            b = (unsigned char *)malloc(len);
            hl = 8 + (size_t)orig[0] + ((size_t)orig[1] << 8);
            for (it = 0; it < 3000; it++) {
                fe_result r;
                memcpy(b, orig, len);
                for (k = 0; k < 1 + (size_t)(it % 4); k++) {   /* 1-4 byte edits inside the header */
                    seed = seed * 1664525u + 1013904223u;
                    b[(seed >> 8) % hl] = (unsigned char)(seed % 3 == 0 ? (uint32_t)(unsigned char)"0123456789[]{}\",:-e\\u"[(seed >> 4) % 20] : seed >> 24);
                }
                r = fe_safetensors_parse(&st, b, len, NULL, &e);
                if (r == fe_ok) {
                    for (k = 0; k < fe_safetensors_count(st); k++) fe_st_tensor_to_f32(fe_safetensors_at(st, k), tmp, NULL);
                    fe_safetensors_free(st);
                    ok++;
                } else failed += r < 0 && e.msg[0] != 0;
            }
            CHECKF(ok + failed == 3000 && ok > 0 && failed > 0, "%d parsed, %d rejected with a message", ok, failed);
            free(b);
        }
        free(orig); free(tmp);
    }
    TEST("oracle files") {
        const char *names[] = {"hf/model.safetensors", "model_noprefix_f32.safetensors", "model_f16.safetensors", "model_bf16.safetensors", "expected.safetensors"};
        float *ref = NULL, *got = NULL;
        size_t k;
        for (k = 0; k < 5; k++) {
            char path[256];
            size_t len;
            unsigned char *b;
            snprintf(path, sizeof path, "tests/data/tiny_a/%s", names[k]);
            b = read_file(path, &len);
            CHECKF(b != NULL, "read %s", path);
            if (!b) continue;
            CHECK_CODE(fe_safetensors_parse(&st, b, len, NULL, &e), fe_ok);
            if (st && k < 4) {
                t = fe_safetensors_find(st, k == 0 ? "transformer.h.1.attn.c_attn.weight" : "h.1.attn.c_attn.weight");
                CHECK(t && t->ndim == 2 && t->shape[0] == 36 && t->shape[1] == 108);
                if (t) {
                    if (k == 0) { ref = (float *)malloc(t->numel * 4); CHECK_CODE(fe_st_tensor_to_f32(t, ref, &e), fe_ok); }
                    else {
                        size_t i;
                        double worst = 0;
                        got = (float *)malloc(t->numel * 4);
                        CHECK_CODE(fe_st_tensor_to_f32(t, got, &e), fe_ok);
                        for (i = 0; i < t->numel; i++) { double d = fabs(got[i] - ref[i]) / (fabs(ref[i]) + 1e-6); if (d > worst) worst = d; }
                        CHECKF(worst < (k == 3 ? 8e-3 : 1e-3), "%s: worst relative error %g", names[k], worst);
                        free(got);
                    }
                }
                CHECK(fe_safetensors_count(st) == (k < 2 ? 52u : 48u));
            }
            fe_safetensors_free(st);
            free(b);
        }
        free(ref);
    }
    return t_summary();
}
