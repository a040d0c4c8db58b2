/* Writes the generated seed inputs of the fuzz targets (tests/fuzz/corpus/<target>/gen_*).
   Usage (from the repository root):  make_seeds OUT_DIR [GPT2_VOCAB_BPE]
   e.g.  cc -std=c99 -I. tests/fuzz/make_seeds.c -o build/make_seeds -lm &&
         build/make_seeds tests/fuzz/corpus tools/gpt2/vocab.bpe
   Deterministic: the same bytes every run. The hand-written seeds (JSON samples, tokenizer
   strings, the demo-data world) live next to these in the corpus directories and are committed
   as they are; this program only makes the binary ones.
     checkpoint/   tiny llm.c checkpoints (fp32 and bf16) of random tiny models
     safetensors/  tiny Hugging Face GPT-2 exports: F32 with "transformer." prefix, lm_head and
                   attn.bias buffers; mixed F16/BF16 without prefix; __metadata__ carrying a
                   config.json and n_head for the harness
     vocab/        encoder.json NUL vocab.bpe of a GPT-2 prefix (first 40 merges) and the merges alone
*/
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_out;

static void write_file(const char *sub, const char *name, const void *p, size_t n) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s/%s", g_out, sub, name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
}

/* ------------------------------------------------------------------------ checkpoints -- */

static fe_model *tiny_model(int maxT, int V, int Vp, int L, int NH, int C, uint64_t seed) {
    fe_config c;
    fe_model *m;
    fe_error e;
    c.max_seq_len = maxT; c.vocab_size = V; c.padded_vocab_size = Vp; c.num_layers = L; c.num_heads = NH; c.channels = C;
    if (fe_model_new(&m, &c, NULL, &e) != fe_ok) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    fe_model_randomize(m, seed);
    return m;
}

static void checkpoint(const char *name, int version, int maxT, int V, int Vp, int L, int NH, int C, unsigned flags) {
    fe_model *m = tiny_model(maxT, V, Vp, L, NH, C, 1);
    unsigned char *b;
    size_t n;
    fe_error e;
    if (fe_model_save_mem(m, version, &b, &n, &e) != fe_ok) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    b[32] = (unsigned char)flags;   /* the harness's flag byte (the loader ignores it) */
    write_file("checkpoint", name, b, n);
    fe_free(b, NULL);
    fe_model_free(m);
}

/* ------------------------------------------------------------------------ safetensors -- */

typedef struct st_w { char hdr[65536]; size_t hn; unsigned char data[1 << 20]; size_t dn; int first; } st_w;

static void st_begin(st_w *w, const char *metadata) {
    w->hn = 0; w->dn = 0; w->first = 1;
    w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, "{");
    if (metadata) { w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, "\"__metadata__\":%s", metadata); w->first = 0; }
}

/* dtype 0 F32, 1 F16, 2 BF16. x may be NULL (zeros). */
static void st_tensor(st_w *w, const char *name, int dtype, int ndim, size_t d0, size_t d1, const float *x, int transpose) {
    static const char *const dn[3] = {"F32", "F16", "BF16"};
    size_t n = ndim == 2 ? d0 * d1 : d0, es = dtype == 0 ? 4 : 2, i, begin = w->dn;
    for (i = 0; i < n; i++) {
        /* element i of the stored [d0, d1] tensor; transposed: it is W[i%d1][i/d1] of x, a panel-layout (d1, d0) matrix */
        float v = x ? (transpose ? x[fe_weight_index(d1, d0, i % d1, i / d1)] : x[i]) : 0.0f;
        uint32_t u;
        memcpy(&u, &v, 4);
        if (dtype == 0) { w->data[w->dn++] = (unsigned char)u; w->data[w->dn++] = (unsigned char)(u >> 8); w->data[w->dn++] = (unsigned char)(u >> 16); w->data[w->dn++] = (unsigned char)(u >> 24); }
        else {
            uint16_t h;
            if (dtype == 2) h = fe_f32_to_bf16(v);
            else {   /* f32 -> f16, round to nearest (values here are small and normal or zero) */
                uint32_t s = (u >> 16) & 0x8000u, ex = (u >> 23) & 0xff, man = u & 0x7fffffu;
                if (ex < 103) h = (uint16_t)s;
                else if (ex < 113) h = (uint16_t)(s | ((man | 0x800000u) >> (126 - ex)));
                else h = (uint16_t)(s | ((ex - 112) << 10) | ((man + 0x1000u) >> 13));
            }
            w->data[w->dn++] = (unsigned char)h; w->data[w->dn++] = (unsigned char)(h >> 8);
        }
    }
    (void)es;
    w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":", w->first ? "" : ",", name, dn[dtype]);
    if (ndim == 2) w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, "[%zu,%zu]", d0, d1);
    else if (ndim == 1) w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, "[%zu]", d0);
    else w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, "[]");
    w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, ",\"data_offsets\":[%zu,%zu]}", begin, w->dn);
    w->first = 0;
}

static void st_end(st_w *w, const char *name) {
    unsigned char *b;
    size_t i, total;
    w->hn += (size_t)snprintf(w->hdr + w->hn, sizeof w->hdr - w->hn, "}");
    while (w->hn % 8) w->hdr[w->hn++] = ' ';   /* safetensors pads the header with spaces */
    total = 8 + w->hn + w->dn;
    b = (unsigned char *)malloc(total);
    for (i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)w->hn >> (8 * i));
    memcpy(b + 8, w->hdr, w->hn);
    memcpy(b + 8 + w->hn, w->data, w->dn);
    write_file("safetensors", name, b, total);
    free(b);
}

/* A Hugging Face GPT-2 state dict of m. dtype_of(i) picks each tensor's dtype. */
static void hf_export(const char *file, const fe_model *m, const char *prefix, int mixed, int extras, const char *metadata) {
    static st_w w;
    const fe_config *c = &m->config;
    size_t C = (size_t)c->channels, L = (size_t)c->num_layers, l;
    char name[128];
    int k = 0;
    float *wte = (float *)malloc(sizeof(float) * m->param_sizes[0]);   /* plain rows out of the panel layout */
    if (!wte) { fprintf(stderr, "make_seeds: out of memory\n"); exit(1); }
    fe_weight_unpack(wte, m->params.wte, (size_t)c->padded_vocab_size, C);
#define DT (mixed ? (k++ % 3) : 0)
    st_begin(&w, metadata);
    snprintf(name, sizeof name, "%swte.weight", prefix); st_tensor(&w, name, DT, 2, (size_t)c->vocab_size, C, wte, 0);
    snprintf(name, sizeof name, "%swpe.weight", prefix); st_tensor(&w, name, DT, 2, (size_t)c->max_seq_len, C, m->params.wpe, 0);
    for (l = 0; l < L; l++) {
        snprintf(name, sizeof name, "%sh.%zu.ln_1.weight", prefix, l); st_tensor(&w, name, DT, 1, C, 0, m->params.ln1w + l * C, 0);
        snprintf(name, sizeof name, "%sh.%zu.ln_1.bias", prefix, l); st_tensor(&w, name, DT, 1, C, 0, m->params.ln1b + l * C, 0);
        snprintf(name, sizeof name, "%sh.%zu.attn.c_attn.weight", prefix, l); st_tensor(&w, name, DT, 2, C, 3 * C, m->params.qkvw + l * 3 * C * C, 1);
        snprintf(name, sizeof name, "%sh.%zu.attn.c_attn.bias", prefix, l); st_tensor(&w, name, DT, 1, 3 * C, 0, m->params.qkvb + l * 3 * C, 0);
        snprintf(name, sizeof name, "%sh.%zu.attn.c_proj.weight", prefix, l); st_tensor(&w, name, DT, 2, C, C, m->params.attprojw + l * C * C, 1);
        snprintf(name, sizeof name, "%sh.%zu.attn.c_proj.bias", prefix, l); st_tensor(&w, name, DT, 1, C, 0, m->params.attprojb + l * C, 0);
        snprintf(name, sizeof name, "%sh.%zu.ln_2.weight", prefix, l); st_tensor(&w, name, DT, 1, C, 0, m->params.ln2w + l * C, 0);
        snprintf(name, sizeof name, "%sh.%zu.ln_2.bias", prefix, l); st_tensor(&w, name, DT, 1, C, 0, m->params.ln2b + l * C, 0);
        snprintf(name, sizeof name, "%sh.%zu.mlp.c_fc.weight", prefix, l); st_tensor(&w, name, DT, 2, C, 4 * C, m->params.fcw + l * 4 * C * C, 1);
        snprintf(name, sizeof name, "%sh.%zu.mlp.c_fc.bias", prefix, l); st_tensor(&w, name, DT, 1, 4 * C, 0, m->params.fcb + l * 4 * C, 0);
        snprintf(name, sizeof name, "%sh.%zu.mlp.c_proj.weight", prefix, l); st_tensor(&w, name, DT, 2, 4 * C, C, m->params.fcprojw + l * 4 * C * C, 1);
        snprintf(name, sizeof name, "%sh.%zu.mlp.c_proj.bias", prefix, l); st_tensor(&w, name, DT, 1, C, 0, m->params.fcprojb + l * C, 0);
        if (extras) {
            snprintf(name, sizeof name, "%sh.%zu.attn.bias", prefix, l); st_tensor(&w, name, 0, 2, 1, 1, NULL, 0);
        }
    }
    snprintf(name, sizeof name, "%sln_f.weight", prefix); st_tensor(&w, name, DT, 1, C, 0, m->params.lnfw, 0);
    snprintf(name, sizeof name, "%sln_f.bias", prefix); st_tensor(&w, name, DT, 1, C, 0, m->params.lnfb, 0);
    if (extras) st_tensor(&w, "lm_head.weight", 0, 2, (size_t)c->vocab_size, C, wte, 0);
#undef DT
    st_end(&w, file);
    free(wte);
}

/* Small non-model safetensors: every dtype, 0-d and empty tensors, a gap, trailing bytes. */
static void st_misc(void) {
    static const char hdr[] =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[2,1],\"data_offsets\":[8,12]},"
        "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[12,14]},"
        "\"d\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]},"
        "\"e\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[24,24]},"
        "\"f\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[24,26]},"
        "\"g\":{\"dtype\":\"BOOL\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[26,27]}}";
    unsigned char b[8 + sizeof hdr + 40];
    size_t hn = sizeof hdr - 1, i;
    for (i = 0; i < 8; i++) b[i] = (unsigned char)(hn >> (8 * i));
    memcpy(b + 8, hdr, hn);
    for (i = 0; i < 32; i++) b[8 + hn + i] = (unsigned char)(i * 37 + 11);
    b[8 + hn + 2] = 0x80; b[8 + hn + 3] = 0x7f;   /* a NaN in "a" */
    write_file("safetensors", "gen_every_dtype", b, 8 + hn + 32);
}

/* ------------------------------------------------------------------------------ vocab -- */

/* GPT-2's bytes_to_unicode: the code point standing for byte b. */
static unsigned alphabet_cp(unsigned b) {
    unsigned k;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256 + b;
    k = b <= 160 ? b - 127 : 34;
    return 256 + 33 + k;
}
static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2;
}

/* encoder.json of a vocabulary (ids in order), as GPT-2 writes it. */
static char *encoder_json(const fe_vocab *v, size_t *len) {
    size_t cap = 1 << 20, n = 0, id, i, tl;
    char *o = (char *)malloc(cap);
    o[n++] = '{';
    for (id = 0; id < fe_vocab_size(v); id++) {
        const char *t = fe_token_bytes(v, (int)id, &tl);
        if (id) o[n++] = ',';
        o[n++] = '"';
        if (id == (size_t)fe_vocab_eot(v)) { memcpy(o + n, t, tl); n += tl; }
        else for (i = 0; i < tl; i++) {
            unsigned cp = alphabet_cp((unsigned char)t[i]);
            if (cp == '"' || cp == '\\') { o[n++] = '\\'; o[n++] = (char)cp; }
            else n += put_utf8(o + n, cp);
        }
        n += (size_t)snprintf(o + n, cap - n, "\":%zu", id);
    }
    o[n++] = '}';
    *len = n;
    return o;
}

static void vocab_seeds(const char *bpe_path) {
    unsigned char *bpe;
    size_t bl, k, lines = 0, cut = 0, el;
    fe_vocab *v;
    fe_error e;
    char *enc, *both;
    if (fe_read_file(bpe_path, &bpe, &bl, NULL, &e) != fe_ok) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    for (k = 0; k < bl && lines < 41; k++) if (bpe[k] == '\n') { lines++; cut = k + 1; }   /* "#version" + 40 merges */
    if (fe_vocab_load_mem(&v, NULL, 0, (const char *)bpe, cut, NULL, &e) != fe_ok) { fprintf(stderr, "%s\n", e.msg); exit(1); }
    enc = encoder_json(v, &el);
    both = (char *)malloc(el + 1 + cut);
    memcpy(both, enc, el); both[el] = 0; memcpy(both + el + 1, bpe, cut);
    write_file("vocab", "gen_gpt2_first40_encoder_and_merges", both, el + 1 + cut);
    write_file("vocab", "gen_gpt2_first40_merges_only", bpe, cut);
    free(both); free(enc);
    fe_vocab_free(v);
    fe_free(bpe, NULL);
}

int main(int argc, char **argv) {
    fe_model *m;
    if (argc < 2) { fprintf(stderr, "usage: make_seeds OUT_DIR [GPT2_VOCAB_BPE]\n"); return 2; }
    g_out = argv[1];
    checkpoint("gen_fp32_T4_V5_L1_H1_C4", 3, 4, 5, 8, 1, 1, 4, 0);
    checkpoint("gen_bf16_T4_V5_L1_H2_C4", 5, 4, 5, 8, 1, 2, 4, 2);
    checkpoint("gen_fp32_T2_V3_L2_H2_C2_flags", 3, 2, 3, 3, 2, 2, 2, 1 | 4 | 8 | 16);
    checkpoint("gen_fp32_T1_V1_L1_H1_C1", 3, 1, 1, 1, 1, 1, 1, 2 | 8 | 32);
    checkpoint("gen_bf16_T3_V7_L1_H3_C6", 5, 3, 7, 16, 1, 3, 6, 8 | 16 | 32);
    /* bf16-resident (flag 64): wide enough for whole SIMD column groups, and a partial one */
    checkpoint("gen_fp32_T4_V40_L1_H2_C16_bf16w", 3, 4, 40, 64, 1, 2, 16, 64);
    checkpoint("gen_bf16_T4_V40_L2_H4_C40_bf16w", 5, 4, 40, 64, 2, 4, 40, 64 | 2);

    m = tiny_model(3, 5, 8, 1, 1, 4, 2);
    hf_export("gen_hf_f32_prefix_extras", m, "transformer.", 0, 1, NULL);
    hf_export("gen_hf_mixed_noprefix_config", m, "", 1, 0,
              "{\"format\":\"pt\",\"config\":\"{\\\"n_embd\\\":4,\\\"n_layer\\\":1,\\\"n_head\\\":2,\\\"n_positions\\\":3,\\\"vocab_size\\\":5,"
              "\\\"layer_norm_epsilon\\\":1e-05,\\\"activation_function\\\":\\\"gelu_new\\\",\\\"n_inner\\\":null,\\\"tie_word_embeddings\\\":true}\"}");
    hf_export("gen_hf_f32_nhead_missing_from_self", m, "", 0, 0, "{\"n_head\":\"4\",\"missing_from\":\"self\"}");
    fe_model_free(m);
    m = tiny_model(2, 3, 128, 2, 1, 2, 3);
    hf_export("gen_hf_f32_L2_C2", m, "transformer.", 0, 0, NULL);
    fe_model_free(m);
    st_misc();

    if (argc > 2) vocab_seeds(argv[2]);
    return 0;
}
