/* factedit.h - locate and edit factual associations in GPT-2, in one C header.
   version 0.1.0 - public domain (Unlicense) or MIT, your choice; see the end of the file.

   QUICK START
       #define FACTEDIT_IMPLEMENTATION
       #include "factedit.h"

       fe_error err;
       fe_model *m; fe_vocab *v;
       if (fe_model_load_file(&m, "gpt2.bin", NULL, &err) != fe_ok) { puts(err.msg); return 1; }
       fe_vocab_load_dir(&v, "vocab/", NULL, &err);
       int *ids; size_t n;
       fe_encode(v, "The Space Needle is located in the city of", 43, &ids, &n, &err);
       fe_state *s; fe_state_new(&s, m, 1, 64, 0, &err);       // 1 row, room for 64 tokens
       fe_forward(m, s, ids, (int)n, NULL, &err);                // runs, keeps every activation
       const float *logits = fe_state_logits(s, 0, -1);          // last position, V floats
       ...
       fe_state_free(s); fe_ids_free(v, ids); fe_vocab_free(v); fe_model_free(m);

   WHAT IT DOES
       - Loads GPT-2 checkpoints in karpathy/llm.c's format (fp32 or bf16) from a file (mmap,
         MAP_PRIVATE: an edit never writes the user's file) or from memory.
       - GPT-2's byte-level BPE tokenizer (encoder.json + vocab.bpe, or vocab.bpe alone).
       - The exact GPT-2 forward pass (pre-LN, eps 1e-5, GELU tanh, causal attention, tied head)
         with SIMD matmuls, a KV cache, batches of rows, and hooks that read or overwrite the
         residual stream at any (site, layer, row, position).
       - Sampling (greedy, temperature, top-k, top-p) with the RNG in the caller's state.
       - Small utilities the tools need: a JSON reader and a safetensors reader.

   CONCEPTS
       site    where in the residual stream a hook sees a state:
               fe_site_embed  token embedding (wte row) before wpe is added      (C wide)
               fe_site_attn   attention output after c_proj, before the residual (C)
               fe_site_key    MLP key: input of mlp.c_proj, after GELU          (4C)
               fe_site_mlp    MLP output after c_proj, before the residual       (C)
               fe_site_resid  block output (the "hidden state" of layer l)        (C)
       state   per-run memory: every activation of every layer for B rows x Tcap positions,
               the KV cache and the logits. One model serves many states and threads.

   FILE FORMATS
       Checkpoint (llm.c): 256 little-endian int32: magic 20240326, version (3 = fp32,
       5 = bf16), maxT, V, L, NH, C, Vp, zeros. Then the parameters, row-major, matrices
       [out,in]: wte (Vp,C) wpe (maxT,C) ln1w ln1b (L,C) qkvw (L,3C,C) qkvb (L,3C)
       attprojw (L,C,C) attprojb (L,C) ln2w ln2b (L,C) fcw (L,4C,C) fcb (L,4C)
       fcprojw (L,C,4C) fcprojb (L,C) lnfw lnfb (C). lm_head is tied to wte; rows V..Vp-1 are
       padding and never read. The file length must be exactly header + parameters.
       bf16 checkpoints are widened to fp32 at load (one implementation of every kernel; the
       price is 2x the memory of the file).

   BUILD OPTIONS (define before including)
       FACTEDIT_IMPLEMENTATION   emit the implementation (in exactly one file)
       FACTEDIT_STATIC           make every function static
       FACTEDIT_MALLOC(sz,u) FACTEDIT_REALLOC(p,sz,u) FACTEDIT_FREE(p,u)
                                 all three or none; u is the alloc_user pointer the caller gave
       FACTEDIT_ASSERT(x)        API-misuse checks (default: assert)
       FACTEDIT_NO_STDIO         no file I/O; everything loads from memory
       FACTEDIT_NO_SIMD          scalar kernels only
       FACTEDIT_MAX_LAYERS/WIDTH/VOCAB/CONTEXT/HEADS  hostile-size limits checked at load

   THREADS, MEMORY, ERRORS
       OpenMP (if compiled with -fopenmp) splits matmuls by output rows and attention by
       (row, head): every number is computed by one thread in a fixed order, so results do
       not depend on the thread count. The library has no global mutable state and never
       prints, exits or aborts. Fallible calls return an fe_result (0 = ok) and fill an
       optional fe_error with a message naming the problem.
*/
#ifndef FACTEDIT_H
#define FACTEDIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef FACTEDIT_STATIC
#define FACTEDIT_API static
#else
#define FACTEDIT_API extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================= >>api-errors == */

typedef enum fe_result {
    fe_ok = 0,
    fe_err_nomem = -1,      /* allocation failed */
    fe_err_io = -2,         /* open/read/write/rename failed */
    fe_err_format = -3,     /* malformed file or text */
    fe_err_range = -4,      /* an index, position or id is out of range */
    fe_err_arg = -5,        /* bad argument (empty prompt, subject not in prompt, ...) */
    fe_err_limit = -6,      /* a FACTEDIT_MAX_* limit, or a size that overflows */
    fe_err_mismatch = -7,   /* file made for another model; shapes disagree */
    fe_err_numeric = -8,    /* NaN/Inf, or a solver that failed */
    fe_err_unsupported = -9 /* valid but not supported (dtype, version) */
} fe_result;

/* Optional out-parameter of every fallible call: the code and a message naming the problem. */
typedef struct fe_error { fe_result code; char msg[256]; } fe_error;

FACTEDIT_API const char *fe_result_string(fe_result r);

/* ======================================================================= >>api-model === */

typedef struct fe_config {
    int max_seq_len;        /* maxT: positions in wpe */
    int vocab_size;         /* V */
    int padded_vocab_size;  /* Vp >= V; rows V..Vp-1 of wte are padding */
    int num_layers;         /* L */
    int num_heads;          /* NH */
    int channels;           /* C, a multiple of NH */
} fe_config;

#define FACTEDIT_NUM_PARAM_TENSORS 16
/* Pointers into one blob of float32 weights, in checkpoint order. Matrices are [out,in]. */
typedef struct fe_params {
    float *wte;      /* (Vp, C) */
    float *wpe;      /* (maxT, C) */
    float *ln1w;     /* (L, C) */
    float *ln1b;     /* (L, C) */
    float *qkvw;     /* (L, 3C, C) */
    float *qkvb;     /* (L, 3C) */
    float *attprojw; /* (L, C, C) */
    float *attprojb; /* (L, C) */
    float *ln2w;     /* (L, C) */
    float *ln2b;     /* (L, C) */
    float *fcw;      /* (L, 4C, C) */
    float *fcb;      /* (L, 4C) */
    float *fcprojw;  /* (L, C, 4C)  ROME edits this: W_proj of layer l */
    float *fcprojb;  /* (L, C) */
    float *lnfw;     /* (C) */
    float *lnfb;     /* (C) */
} fe_params;

typedef struct fe_model {
    fe_config config;
    fe_params params;
    float *blob;               /* all parameters, num_params floats */
    size_t num_params;
    size_t param_sizes[FACTEDIT_NUM_PARAM_TENSORS];
    int file_version;          /* 3 = fp32, 5 = bf16 (what was loaded) */
    uint64_t load_checksum;    /* fe_model_checksum() of the weights as loaded */
    void *alloc_user;
    /* private: how blob is owned */
    void *fe__map; size_t fe__map_len; int fe__owns_blob;
} fe_model;

typedef struct fe_load_opts {
    void *alloc_user;          /* passed to FACTEDIT_MALLOC & co. */
    int no_mmap;               /* 1: read the file into memory instead of mapping it */
    int allow_nonfinite;       /* 1: skip the NaN/Inf scan of the weights */
} fe_load_opts;

/* Sizes of the 16 parameter tensors for a config, overflow-checked; total may be NULL. */
FACTEDIT_API fe_result fe_param_sizes(const fe_config *c, size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], size_t *total, fe_error *err);
FACTEDIT_API const char *fe_param_name(int i);   /* "wte", "wpe", "ln1w", ... */
FACTEDIT_API fe_result fe_config_check(const fe_config *c, fe_error *err);
/* Loads a checkpoint from memory (copied: the buffer may be freed afterwards). */
FACTEDIT_API fe_result fe_model_load_mem(fe_model **out, const void *bytes, size_t len, const fe_load_opts *opts, fe_error *err);
/* A model with every parameter zero (fill blob yourself): for tests and random models. */
FACTEDIT_API fe_result fe_model_new(fe_model **out, const fe_config *c, const fe_load_opts *opts, fe_error *err);
FACTEDIT_API void fe_model_free(fe_model *m);
/* 64-bit hash of the configuration and every weight as it is now (edits change it). */
FACTEDIT_API uint64_t fe_model_checksum(const fe_model *m);
/* Serializes to llm.c format in memory: version 3 (fp32) or 5 (bf16). */
FACTEDIT_API fe_result fe_model_save_mem(const fe_model *m, int version, unsigned char **bytes, size_t *len, fe_error *err);
#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_model_load_file(fe_model **out, const char *path, const fe_load_opts *opts, fe_error *err);
/* Writes atomically: a temp file beside path, then rename. path must differ from the loaded file. */
FACTEDIT_API fe_result fe_model_save_file(const fe_model *m, const char *path, int version, fe_error *err);
/* Reads a whole file (allocated with alloc_user's allocator; free with fe_free). */
FACTEDIT_API fe_result fe_read_file(const char *path, unsigned char **bytes, size_t *len, void *alloc_user, fe_error *err);
/* Writes bytes to path atomically (temp file + fsync + rename); the old file survives a failure. */
FACTEDIT_API fe_result fe_write_file_atomic(const char *path, const void *bytes, size_t len, fe_error *err);
#endif
FACTEDIT_API void fe_free(void *p, void *alloc_user);
/* Fills a model's weights with GPT-2-like random values (N(0, 0.02), projections scaled by
   1/sqrt(2L), layer norms 1/0): for tests, benchmarks and untrained starts. */
FACTEDIT_API void fe_model_randomize(fe_model *m, uint64_t seed);

/* ======================================================================= >>api-rng ===== */

/* The caller owns the RNG state: no global RNG anywhere. */
typedef struct fe_rng { uint64_t s[4]; } fe_rng;
FACTEDIT_API void fe_rng_seed(fe_rng *r, uint64_t seed);
FACTEDIT_API uint64_t fe_rng_u64(fe_rng *r);
FACTEDIT_API double fe_rng_uniform(fe_rng *r);   /* [0,1) */
FACTEDIT_API double fe_rng_normal(fe_rng *r);    /* N(0,1) */

/* ======================================================================= >>api-forward = */

typedef enum fe_site {
    fe_site_embed = 0,  /* wte row before wpe; layer is ignored (pass 0)          (C)  */
    fe_site_attn,       /* attention output after c_proj, before the residual add  (C)  */
    fe_site_key,        /* MLP key = GELU(c_fc(ln_2(x))), input of mlp.c_proj      (4C) */
    fe_site_mlp,        /* MLP output after c_proj, before the residual add        (C)  */
    fe_site_resid,      /* block output = hidden state of layer l                  (C)  */
    fe_site_count
} fe_site;

/* A hook sees the freshly computed rows of one site, for one batch row b and the positions
   [pos0, pos0+npos) just computed, before anything downstream reads them. rows points at
   position pos0; rows are `width` floats apart. Change them in place to restore a cached
   state, add noise or add a vector. Called from one thread, in layer order. */
typedef void (*fe_hook_fn)(void *user, fe_site site, int layer, int b, int pos0, int npos, float *rows, int width);

typedef struct fe_forward_opts {
    int pos0;           /* first position to compute; positions < pos0 must be valid in the state (KV cache) */
    int layer0;         /* first layer to compute; layers < layer0 must be valid at [pos0, pos0+n) */
    int all_logits;     /* 1: logits for every computed position; 0: the last one only */
    int no_logits;      /* 1: skip ln_f and the head entirely */
    int last_layer;     /* compute layers < last_layer only (0 = all); implies no_logits when < L */
    fe_hook_fn hook;
    void *hook_user;
} fe_forward_opts;

typedef struct fe_state fe_state;

/* State for `batch` rows of up to `max_tokens` positions (<= the model's maxT). */
FACTEDIT_API fe_result fe_state_new(fe_state **out, const fe_model *m, int batch, int max_tokens, unsigned flags, fe_error *err);
FACTEDIT_API void fe_state_free(fe_state *s);
FACTEDIT_API int fe_state_batch(const fe_state *s);
FACTEDIT_API int fe_state_capacity(const fe_state *s);
/* Runs positions [pos0, pos0+n) of every row. tokens: (B, n), row-major. */
FACTEDIT_API fe_result fe_forward(const fe_model *m, fe_state *s, const int *tokens, int n, const fe_forward_opts *opts, fe_error *err);
/* Logits (V floats) of row b at position pos (pos = -1: the last computed position). With
   all_logits = 0 only the last computed position has logits. */
FACTEDIT_API const float *fe_state_logits(const fe_state *s, int b, int pos);
/* The stored activation of a site (layer ignored for embed) at row b, position pos:
   width floats (C or 4C for the key). Writable: tracing copies states in and out. */
FACTEDIT_API float *fe_state_act(fe_state *s, fe_site site, int layer, int b, int pos);
FACTEDIT_API int fe_site_width(const fe_model *m, fe_site site);
/* Softmax of one row of logits into probs (V floats), numerically stable. */
FACTEDIT_API void fe_softmax(const float *logits, float *probs, int V);

/* ======================================================================= >>api-generate */

typedef struct fe_sample_opts {
    float temperature;  /* 0: greedy (argmax) */
    int top_k;          /* 0: off */
    float top_p;        /* 0 or 1: off */
} fe_sample_opts;

/* Picks the next token from logits (V floats). scratch: 2*V floats or NULL (then it
   allocates nothing and falls back to greedy when top-k/top-p need room). */
FACTEDIT_API int fe_sample(const float *logits, int V, const fe_sample_opts *o, fe_rng *rng, float *scratch);
/* Greedy/sampled continuation of a prompt with the KV cache: writes n_new ids to out. */
FACTEDIT_API fe_result fe_generate(const fe_model *m, const int *prompt, int n_prompt, int n_new, const fe_sample_opts *o, fe_rng *rng, int *out, fe_error *err);

#ifdef __cplusplus
}
#endif
#endif /* FACTEDIT_H */

/* ########################################################################################
   ##  IMPLEMENTATION
   ######################################################################################## */
#if defined(FACTEDIT_IMPLEMENTATION) && !defined(FACTEDIT_IMPLEMENTATION_DONE)
#define FACTEDIT_IMPLEMENTATION_DONE

#include <string.h>
#include <stdarg.h>
#include <stdio.h>    /* vsnprintf; FILE only outside FACTEDIT_NO_STDIO */
#include <stdlib.h>
#include <math.h>
#include <float.h>
#include <limits.h>

#if !defined(FACTEDIT_NO_STDIO) && (defined(__unix__) || defined(__APPLE__))
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#define FACTEDIT__POSIX 1
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(FACTEDIT_MALLOC) && defined(FACTEDIT_REALLOC) && defined(FACTEDIT_FREE)
#elif !defined(FACTEDIT_MALLOC) && !defined(FACTEDIT_REALLOC) && !defined(FACTEDIT_FREE)
#define FACTEDIT_MALLOC(sz, u) ((void)(u), malloc(sz))
#define FACTEDIT_REALLOC(p, sz, u) ((void)(u), realloc((p), (sz)))
#define FACTEDIT_FREE(p, u) ((void)(u), free(p))
#else
#error "factedit.h: define all of FACTEDIT_MALLOC, FACTEDIT_REALLOC and FACTEDIT_FREE, or none"
#endif

#ifndef FACTEDIT_ASSERT
#include <assert.h>
#define FACTEDIT_ASSERT(x) assert(x)
#endif

#ifndef FACTEDIT_MAX_LAYERS
#define FACTEDIT_MAX_LAYERS 256
#endif
#ifndef FACTEDIT_MAX_WIDTH
#define FACTEDIT_MAX_WIDTH 16384
#endif
#ifndef FACTEDIT_MAX_HEADS
#define FACTEDIT_MAX_HEADS 1024
#endif
#ifndef FACTEDIT_MAX_VOCAB
#define FACTEDIT_MAX_VOCAB (1 << 20)
#endif
#ifndef FACTEDIT_MAX_CONTEXT
#define FACTEDIT_MAX_CONTEXT (1 << 16)
#endif

#define FACTEDIT__PRIV static

/* ======================================================================= >>impl-util === */

FACTEDIT__PRIV void *fe__malloc(void *u, size_t n) { return FACTEDIT_MALLOC(n ? n : 1, u); }
FACTEDIT__PRIV void *fe__calloc(void *u, size_t n) { void *p = fe__malloc(u, n); if (p) memset(p, 0, n ? n : 1); return p; }
FACTEDIT__PRIV void fe__free(void *u, void *p) { if (p) FACTEDIT_FREE(p, u); }
FACTEDIT_API void fe_free(void *p, void *alloc_user) { fe__free(alloc_user, p); }

/* a*b and a+b with overflow check: 0 on overflow. */
FACTEDIT__PRIV int fe__mul(size_t a, size_t b, size_t *out) { if (a && b > (size_t)-1 / a) return 0; *out = a * b; return 1; }
FACTEDIT__PRIV int fe__add(size_t a, size_t b, size_t *out) { if (b > (size_t)-1 - a) return 0; *out = a + b; return 1; }
FACTEDIT__PRIV int fe__mul3(size_t a, size_t b, size_t c, size_t *out) { size_t t; return fe__mul(a, b, &t) && fe__mul(t, c, out); }

#if defined(__GNUC__) || defined(__clang__)
#define FACTEDIT__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FACTEDIT__PRINTF(a, b)
#endif
FACTEDIT__PRIV fe_result fe__fail(fe_error *err, fe_result code, const char *fmt, ...) FACTEDIT__PRINTF(3, 4);
FACTEDIT__PRIV fe_result fe__fail(fe_error *err, fe_result code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
FACTEDIT__PRIV void fe__ok(fe_error *err) { if (err) { err->code = fe_ok; err->msg[0] = 0; } }

FACTEDIT_API const char *fe_result_string(fe_result r) {
    switch (r) {
    case fe_ok: return "ok";
    case fe_err_nomem: return "out of memory";
    case fe_err_io: return "I/O error";
    case fe_err_format: return "malformed input";
    case fe_err_range: return "out of range";
    case fe_err_arg: return "bad argument";
    case fe_err_limit: return "size limit exceeded";
    case fe_err_mismatch: return "made for another model";
    case fe_err_numeric: return "numerical failure";
    case fe_err_unsupported: return "unsupported";
    }
    return "unknown error";
}

FACTEDIT__PRIV uint32_t fe__rd32le(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
FACTEDIT__PRIV void fe__wr32le(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24); }
FACTEDIT__PRIV int fe__little_endian(void) { const uint16_t one = 1; unsigned char c; memcpy(&c, &one, 1); return c == 1; }

FACTEDIT__PRIV float fe__bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
FACTEDIT__PRIV uint16_t fe__f32_to_bf16(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                        /* round to nearest even */
    return (uint16_t)(u >> 16);
}

/* ======================================================================= >>impl-rng ==== */

/* xoshiro256** seeded through splitmix64 */
FACTEDIT_API void fe_rng_seed(fe_rng *r, uint64_t seed) {
    int i;
    for (i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        r->s[i] = z ^ (z >> 31);
    }
}
FACTEDIT__PRIV uint64_t fe__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
FACTEDIT_API uint64_t fe_rng_u64(fe_rng *r) {
    uint64_t *s = r->s, res = fe__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = fe__rotl(s[3], 45);
    return res;
}
FACTEDIT_API double fe_rng_uniform(fe_rng *r) { return (double)(fe_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }
FACTEDIT_API double fe_rng_normal(fe_rng *r) {
    /* Box-Muller; one draw per call keeps the stream simple to reproduce */
    double u1 = fe_rng_uniform(r), u2 = fe_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ======================================================================= >>impl-kernels */

/* Kernels work on float32 rows. Matrices are [out,in], so every output is the dot product of
   two contiguous rows; SIMD tiles compute 4 input rows x 4 weight rows at once. The scalar
   reference (fe__matmul_ref) stays and tests compare the SIMD path with it. */

#if !defined(FACTEDIT_NO_SIMD) && defined(__AVX512F__)
#include <immintrin.h>
#define FACTEDIT_SIMD_NAME "avx512"
#define FACTEDIT__VW 16
typedef __m512 fe__vf;
#define fe__vzero() _mm512_setzero_ps()
#define fe__vload(p) _mm512_loadu_ps(p)
#define fe__vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
static float fe__vhsum(__m512 v) {
    /* via memory: gcc's _mm512_reduce_add_ps trips -Wuninitialized in C++ */
    float t[16];
    int i;
    _mm512_storeu_ps(t, v);
    for (i = 0; i < 8; i++) t[i] += t[i + 8];
    for (i = 0; i < 4; i++) t[i] += t[i + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}
#elif !defined(FACTEDIT_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FACTEDIT_SIMD_NAME "avx2"
#define FACTEDIT__VW 8
typedef __m256 fe__vf;
#define fe__vzero() _mm256_setzero_ps()
#define fe__vload(p) _mm256_loadu_ps(p)
#define fe__vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
static float fe__vhsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi); lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo)); lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}
#elif !defined(FACTEDIT_NO_SIMD) && (defined(__ARM_NEON) || defined(__ARM_NEON__)) && defined(__aarch64__)
#include <arm_neon.h>
#define FACTEDIT_SIMD_NAME "neon"
#define FACTEDIT__VW 4
typedef float32x4_t fe__vf;
#define fe__vzero() vdupq_n_f32(0.0f)
#define fe__vload(p) vld1q_f32(p)
#define fe__vfma(a, b, c) vfmaq_f32(c, a, b)
#define fe__vhsum(v) vaddvq_f32(v)
#else
#define FACTEDIT_SIMD_NAME "scalar"
#endif

FACTEDIT_API const char *fe_simd_name(void);
FACTEDIT_API const char *fe_simd_name(void) { return FACTEDIT_SIMD_NAME; }

/* Scalar reference. inp (T,C) w (OC,C) bias (OC) or NULL -> out (T,OC); out rows are
   `ldo` floats apart (ldo >= OC). */
FACTEDIT_API void fe_matmul_ref(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T, int C, int OC);
FACTEDIT_API void fe_matmul_ref(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T, int C, int OC) {
    int t, o, i;
    for (t = 0; t < T; t++)
        for (o = 0; o < OC; o++) {
            const float *x = inp + (size_t)t * C, *wr = w + (size_t)o * C;
            float acc = bias ? bias[o] : 0.0f;
            for (i = 0; i < C; i++) acc += x[i] * wr[i];
            out[(size_t)t * ldo + o] = acc;
        }
}

#ifdef FACTEDIT__VW
/* One tile: rows t0..t0+nt of inp (nt <= 4) times weight rows o0..o0+no (no <= 4). */
FACTEDIT__PRIV void fe__tile(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int C, int t0, int nt, int o0, int no) {
    fe__vf a00 = fe__vzero(), a01 = fe__vzero(), a02 = fe__vzero(), a03 = fe__vzero();
    fe__vf a10 = fe__vzero(), a11 = fe__vzero(), a12 = fe__vzero(), a13 = fe__vzero();
    fe__vf a20 = fe__vzero(), a21 = fe__vzero(), a22 = fe__vzero(), a23 = fe__vzero();
    fe__vf a30 = fe__vzero(), a31 = fe__vzero(), a32 = fe__vzero(), a33 = fe__vzero();
    /* Out-of-tile rows alias row 0: computed and thrown away, which keeps the loop branch-free. */
    const float *x0 = inp + (size_t)t0 * C, *x1 = nt > 1 ? x0 + C : x0, *x2 = nt > 2 ? x0 + 2 * (size_t)C : x0, *x3 = nt > 3 ? x0 + 3 * (size_t)C : x0;
    const float *w0 = w + (size_t)o0 * C, *w1 = no > 1 ? w0 + C : w0, *w2 = no > 2 ? w0 + 2 * (size_t)C : w0, *w3 = no > 3 ? w0 + 3 * (size_t)C : w0;
    float r[4][4];
    int i, a, b, Cv = C - C % FACTEDIT__VW;
    for (i = 0; i < Cv; i += FACTEDIT__VW) {
        fe__vf v0 = fe__vload(w0 + i), v1 = fe__vload(w1 + i), v2 = fe__vload(w2 + i), v3 = fe__vload(w3 + i), x;
        x = fe__vload(x0 + i); a00 = fe__vfma(x, v0, a00); a01 = fe__vfma(x, v1, a01); a02 = fe__vfma(x, v2, a02); a03 = fe__vfma(x, v3, a03);
        x = fe__vload(x1 + i); a10 = fe__vfma(x, v0, a10); a11 = fe__vfma(x, v1, a11); a12 = fe__vfma(x, v2, a12); a13 = fe__vfma(x, v3, a13);
        x = fe__vload(x2 + i); a20 = fe__vfma(x, v0, a20); a21 = fe__vfma(x, v1, a21); a22 = fe__vfma(x, v2, a22); a23 = fe__vfma(x, v3, a23);
        x = fe__vload(x3 + i); a30 = fe__vfma(x, v0, a30); a31 = fe__vfma(x, v1, a31); a32 = fe__vfma(x, v2, a32); a33 = fe__vfma(x, v3, a33);
    }
    r[0][0] = fe__vhsum(a00); r[0][1] = fe__vhsum(a01); r[0][2] = fe__vhsum(a02); r[0][3] = fe__vhsum(a03);
    r[1][0] = fe__vhsum(a10); r[1][1] = fe__vhsum(a11); r[1][2] = fe__vhsum(a12); r[1][3] = fe__vhsum(a13);
    r[2][0] = fe__vhsum(a20); r[2][1] = fe__vhsum(a21); r[2][2] = fe__vhsum(a22); r[2][3] = fe__vhsum(a23);
    r[3][0] = fe__vhsum(a30); r[3][1] = fe__vhsum(a31); r[3][2] = fe__vhsum(a32); r[3][3] = fe__vhsum(a33);
    for (a = 0; a < nt; a++) {
        const float *x = inp + (size_t)(t0 + a) * C;
        for (b = 0; b < no; b++) {
            const float *wr = w + (size_t)(o0 + b) * C;
            float acc = r[a][b];
            for (i = Cv; i < C; i++) acc += x[i] * wr[i];
            out[(size_t)(t0 + a) * ldo + o0 + b] = acc + (bias ? bias[o0 + b] : 0.0f);
        }
    }
}
#endif

/* out (T,OC) = inp (T,C) . w (OC,C)^T + bias. Threads split the output columns in blocks of
   4; each output is computed by one thread in a fixed order (thread-count independent). */
FACTEDIT_API void fe_matmul(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T, int C, int OC);
FACTEDIT_API void fe_matmul(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T, int C, int OC) {
#ifdef FACTEDIT__VW
    int ob, nob = (OC + 3) / 4;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)T * OC * C > 100000)
#endif
    for (ob = 0; ob < nob; ob++) {
        int t, o0 = ob * 4, no = OC - o0 < 4 ? OC - o0 : 4;
        for (t = 0; t < T; t += 4) fe__tile(out, ldo, inp, w, bias, C, t, T - t < 4 ? T - t : 4, o0, no);
    }
#else
    fe_matmul_ref(out, ldo, inp, w, bias, T, C, OC);
#endif
}

/* inp (N,C) -> out (N,C); mean/rstd (N) kept for the backward pass. */
FACTEDIT__PRIV void fe__layernorm(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N, int C) {
    int n, i;
    for (n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C, m = 0.0f, v = 0.0f, s;
        for (i = 0; i < C; i++) m += x[i];
        m /= (float)C;
        for (i = 0; i < C; i++) { float d = x[i] - m; v += d * d; }
        v /= (float)C;
        s = 1.0f / sqrtf(v + 1e-5f);
        for (i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

#define FACTEDIT__GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
FACTEDIT__PRIV void fe__gelu(float *out, const float *inp, size_t N) {
    size_t i;
    for (i = 0; i < N; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(FACTEDIT__GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

FACTEDIT_API void fe_softmax(const float *logits, float *probs, int V) {
    int i;
    float mx = -INFINITY;
    double sum = 0.0;
    for (i = 0; i < V; i++) if (logits[i] > mx) mx = logits[i];
    for (i = 0; i < V; i++) { probs[i] = expf(logits[i] - mx); sum += probs[i]; }
    for (i = 0; i < V; i++) probs[i] = (float)(probs[i] / sum);
}

/* ======================================================================= >>impl-load === */

#define FACTEDIT__MAGIC 20240326
#define FACTEDIT__HEADER_BYTES 1024

static const char *const fe__param_names[FACTEDIT_NUM_PARAM_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};
FACTEDIT_API const char *fe_param_name(int i) { return i >= 0 && i < FACTEDIT_NUM_PARAM_TENSORS ? fe__param_names[i] : "?"; }

FACTEDIT_API fe_result fe_config_check(const fe_config *c, fe_error *err) {
    if (c->num_layers < 1 || c->num_layers > FACTEDIT_MAX_LAYERS) return fe__fail(err, fe_err_limit, "config: %d layers, allowed 1..%d", c->num_layers, FACTEDIT_MAX_LAYERS);
    if (c->channels < 1 || c->channels > FACTEDIT_MAX_WIDTH) return fe__fail(err, fe_err_limit, "config: width C = %d, allowed 1..%d", c->channels, FACTEDIT_MAX_WIDTH);
    if (c->num_heads < 1 || c->num_heads > FACTEDIT_MAX_HEADS) return fe__fail(err, fe_err_limit, "config: %d heads, allowed 1..%d", c->num_heads, FACTEDIT_MAX_HEADS);
    if (c->channels % c->num_heads) return fe__fail(err, fe_err_format, "config: width %d is not a multiple of %d heads", c->channels, c->num_heads);
    if (c->vocab_size < 1 || c->vocab_size > FACTEDIT_MAX_VOCAB) return fe__fail(err, fe_err_limit, "config: vocabulary %d, allowed 1..%d", c->vocab_size, FACTEDIT_MAX_VOCAB);
    if (c->padded_vocab_size < c->vocab_size || c->padded_vocab_size > FACTEDIT_MAX_VOCAB + 4096)
        return fe__fail(err, fe_err_format, "config: padded vocabulary %d is below the vocabulary %d or too large", c->padded_vocab_size, c->vocab_size);
    if (c->max_seq_len < 1 || c->max_seq_len > FACTEDIT_MAX_CONTEXT) return fe__fail(err, fe_err_limit, "config: context %d, allowed 1..%d", c->max_seq_len, FACTEDIT_MAX_CONTEXT);
    return fe_ok;
}

FACTEDIT_API fe_result fe_param_sizes(const fe_config *c, size_t s[FACTEDIT_NUM_PARAM_TENSORS], size_t *total, fe_error *err) {
    size_t C = (size_t)c->channels, L = (size_t)c->num_layers, sum = 0;
    int i, ok = 1;
    fe_result r = fe_config_check(c, err);
    if (r) return r;
    ok &= fe__mul(c->padded_vocab_size, C, &s[0]);
    ok &= fe__mul(c->max_seq_len, C, &s[1]);
    ok &= fe__mul(L, C, &s[2]); s[3] = s[2];
    ok &= fe__mul3(L, 3 * C, C, &s[4]);
    ok &= fe__mul(L, 3 * C, &s[5]);
    ok &= fe__mul3(L, C, C, &s[6]);
    s[7] = s[2]; s[8] = s[2]; s[9] = s[2];
    ok &= fe__mul3(L, 4 * C, C, &s[10]);
    ok &= fe__mul(L, 4 * C, &s[11]);
    s[12] = s[10];
    s[13] = s[2];
    s[14] = C; s[15] = C;
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) ok &= fe__add(sum, s[i], &sum);
    if (!ok || sum > ((size_t)-1) / 8) return fe__fail(err, fe_err_limit, "config: parameter count overflows size_t");
    if (total) *total = sum;
    return fe_ok;
}

FACTEDIT__PRIV void fe__point_params(fe_model *m) {
    float **p[FACTEDIT_NUM_PARAM_TENSORS];
    float *at = m->blob;
    int i;
    p[0] = &m->params.wte; p[1] = &m->params.wpe; p[2] = &m->params.ln1w; p[3] = &m->params.ln1b;
    p[4] = &m->params.qkvw; p[5] = &m->params.qkvb; p[6] = &m->params.attprojw; p[7] = &m->params.attprojb;
    p[8] = &m->params.ln2w; p[9] = &m->params.ln2b; p[10] = &m->params.fcw; p[11] = &m->params.fcb;
    p[12] = &m->params.fcprojw; p[13] = &m->params.fcprojb; p[14] = &m->params.lnfw; p[15] = &m->params.lnfb;
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) { *p[i] = at; at += m->param_sizes[i]; }
}

FACTEDIT_API uint64_t fe_model_checksum(const fe_model *m) {
    /* FNV-1a over the config, then a multiply-xorshift over 32-bit words of the weights. */
    uint64_t h = 0xcbf29ce484222325ull;
    const int cf[6] = {m->config.max_seq_len, m->config.vocab_size, m->config.padded_vocab_size, m->config.num_layers, m->config.num_heads, m->config.channels};
    size_t i;
    for (i = 0; i < 6; i++) { h ^= (uint64_t)(uint32_t)cf[i]; h *= 0x100000001b3ull; }
    for (i = 0; i < m->num_params; i++) {
        uint32_t u;
        memcpy(&u, m->blob + i, 4);
        h = (h ^ u) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return h;
}

FACTEDIT_API void fe_model_free(fe_model *m) {
    if (!m) return;
#ifdef FACTEDIT__POSIX
    if (m->fe__map) munmap(m->fe__map, m->fe__map_len);
#endif
    if (m->fe__owns_blob) fe__free(m->alloc_user, m->blob);
    fe__free(m->alloc_user, m);
}

/* Reads and validates the 256-int header; *expect = exact file length it implies. */
FACTEDIT__PRIV fe_result fe__parse_header(const unsigned char *bytes, size_t len, fe_config *c, int *version, size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], size_t *nparams, size_t *expect, fe_error *err) {
    int32_t h[8];
    int i;
    size_t data;
    fe_result r;
    if (len < FACTEDIT__HEADER_BYTES) return fe__fail(err, fe_err_format, "checkpoint: file has %zu bytes, the header alone needs %d", len, FACTEDIT__HEADER_BYTES);
    for (i = 0; i < 8; i++) h[i] = (int32_t)fe__rd32le(bytes + 4 * i);
    if (h[0] != FACTEDIT__MAGIC) return fe__fail(err, fe_err_format, "checkpoint: bad magic %d (want %d: an llm.c GPT-2 checkpoint)", (int)h[0], FACTEDIT__MAGIC);
    if (h[1] != 3 && h[1] != 5) return fe__fail(err, fe_err_unsupported, "checkpoint: version %d not supported (3 = fp32, 5 = bf16)", (int)h[1]);
    c->max_seq_len = h[2]; c->vocab_size = h[3]; c->num_layers = h[4]; c->num_heads = h[5]; c->channels = h[6]; c->padded_vocab_size = h[7];
    r = fe_param_sizes(c, sizes, nparams, err);
    if (r) return r;
    if (!fe__mul(*nparams, h[1] == 3 ? 4 : 2, &data) || !fe__add(data, FACTEDIT__HEADER_BYTES, expect))
        return fe__fail(err, fe_err_limit, "checkpoint: parameter bytes overflow");
    if (len != *expect)
        return fe__fail(err, fe_err_format, "checkpoint: file has %zu bytes, header (L=%d C=%d V=%d Vp=%d maxT=%d, %s) needs %zu", len, c->num_layers, c->channels, c->vocab_size, c->padded_vocab_size, c->max_seq_len, h[1] == 3 ? "fp32" : "bf16", *expect);
    *version = h[1];
    return fe_ok;
}

FACTEDIT__PRIV fe_result fe__check_finite(const fe_model *m, fe_error *err) {
    size_t i, t = 0, start = 0;
    for (i = 0; i < m->num_params; i++) {
        while (i >= start + m->param_sizes[t]) start += m->param_sizes[t++];
        if (!isfinite(m->blob[i]))
            return fe__fail(err, fe_err_numeric, "checkpoint: %s of %s at element %zu of tensor '%s'", isnan(m->blob[i]) ? "NaN" : "Inf", "weights", i - start, fe__param_names[t]);
    }
    return fe_ok;
}

FACTEDIT__PRIV fe_result fe__model_alloc(fe_model **out, const fe_config *c, const fe_load_opts *opts, int with_blob, fe_error *err) {
    void *u = opts ? opts->alloc_user : NULL;
    fe_model *m;
    size_t bytes;
    fe_result r;
    *out = NULL;
    m = (fe_model *)fe__calloc(u, sizeof *m);
    if (!m) return fe__fail(err, fe_err_nomem, "model: out of memory");
    m->alloc_user = u;
    m->config = *c;
    r = fe_param_sizes(c, m->param_sizes, &m->num_params, err);
    if (r) { fe__free(u, m); return r; }
    if (with_blob) {
        if (!fe__mul(m->num_params, sizeof(float), &bytes)) { fe__free(u, m); return fe__fail(err, fe_err_limit, "model: size overflow"); }
        m->blob = (float *)fe__calloc(u, bytes);
        if (!m->blob) { fe__free(u, m); return fe__fail(err, fe_err_nomem, "model: cannot allocate %zu bytes of weights", bytes); }
        m->fe__owns_blob = 1;
        fe__point_params(m);
    }
    *out = m;
    return fe_ok;
}

FACTEDIT_API fe_result fe_model_new(fe_model **out, const fe_config *c, const fe_load_opts *opts, fe_error *err) {
    fe_result r = fe__model_alloc(out, c, opts, 1, err);
    if (r) return r;
    (*out)->file_version = 3;
    fe__ok(err);
    return fe_ok;
}

/* Fills blob from the data section (fp32 copy or bf16 widening). */
FACTEDIT__PRIV void fe__decode_params(float *dst, const unsigned char *src, size_t n, int version) {
    size_t i;
    if (version == 3 && fe__little_endian()) { memcpy(dst, src, n * 4); return; }
    for (i = 0; i < n; i++) {
        if (version == 3) { uint32_t u = fe__rd32le(src + 4 * i); memcpy(dst + i, &u, 4); }
        else dst[i] = fe__bf16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    }
}

FACTEDIT__PRIV fe_result fe__model_finish(fe_model *m, const fe_load_opts *opts, fe_error *err) {
    fe_result r;
    if (!(opts && opts->allow_nonfinite) && (r = fe__check_finite(m, err)) != fe_ok) return r;
    m->load_checksum = fe_model_checksum(m);
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_model_load_mem(fe_model **out, const void *bytes, size_t len, const fe_load_opts *opts, fe_error *err) {
    fe_config c;
    size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], np, expect;
    int version;
    fe_model *m;
    fe_result r;
    if (!out || !bytes) return fe__fail(err, fe_err_arg, "checkpoint: NULL argument");
    *out = NULL;
    r = fe__parse_header((const unsigned char *)bytes, len, &c, &version, sizes, &np, &expect, err);
    if (r) return r;
    r = fe__model_alloc(&m, &c, opts, 1, err);
    if (r) return r;
    m->file_version = version;
    fe__decode_params(m->blob, (const unsigned char *)bytes + FACTEDIT__HEADER_BYTES, np, version);
    if ((r = fe__model_finish(m, opts, err)) != fe_ok) { fe_model_free(m); return r; }
    *out = m;
    return fe_ok;
}

FACTEDIT_API fe_result fe_model_save_mem(const fe_model *m, int version, unsigned char **bytes, size_t *len, fe_error *err) {
    size_t total, i;
    unsigned char *b;
    const fe_config *c = &m->config;
    if (version != 3 && version != 5) return fe__fail(err, fe_err_arg, "save: version %d (want 3 = fp32 or 5 = bf16)", version);
    if (!fe__mul(m->num_params, version == 3 ? 4 : 2, &total) || !fe__add(total, FACTEDIT__HEADER_BYTES, &total)) return fe__fail(err, fe_err_limit, "save: size overflow");
    b = (unsigned char *)fe__calloc(m->alloc_user, total);
    if (!b) return fe__fail(err, fe_err_nomem, "save: cannot allocate %zu bytes", total);
    fe__wr32le(b, FACTEDIT__MAGIC); fe__wr32le(b + 4, (uint32_t)version);
    fe__wr32le(b + 8, (uint32_t)c->max_seq_len); fe__wr32le(b + 12, (uint32_t)c->vocab_size);
    fe__wr32le(b + 16, (uint32_t)c->num_layers); fe__wr32le(b + 20, (uint32_t)c->num_heads);
    fe__wr32le(b + 24, (uint32_t)c->channels); fe__wr32le(b + 28, (uint32_t)c->padded_vocab_size);
    for (i = 0; i < m->num_params; i++) {
        unsigned char *p = b + FACTEDIT__HEADER_BYTES + i * (version == 3 ? 4 : 2);
        if (version == 3) { uint32_t u; memcpy(&u, m->blob + i, 4); fe__wr32le(p, u); }
        else { uint16_t h = fe__f32_to_bf16(m->blob[i]); p[0] = (unsigned char)h; p[1] = (unsigned char)(h >> 8); }
    }
    *bytes = b;
    *len = total;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API void fe_model_randomize(fe_model *m, uint64_t seed) {
    fe_rng r;
    size_t i, t, start = 0;
    float proj = 0.02f / sqrtf(2.0f * (float)m->config.num_layers);
    fe_rng_seed(&r, seed);
    for (t = 0; t < FACTEDIT_NUM_PARAM_TENSORS; t++) {
        for (i = 0; i < m->param_sizes[t]; i++) {
            float v;
            switch (t) {
            case 2: case 8: case 14: v = 1.0f; break;                  /* layer-norm gains */
            case 3: case 5: case 7: case 9: case 11: case 13: case 15: v = 0.0f; break; /* biases */
            case 6: case 12: v = proj * (float)fe_rng_normal(&r); break; /* residual projections */
            default: v = 0.02f * (float)fe_rng_normal(&r);
            }
            m->blob[start + i] = v;
        }
        start += m->param_sizes[t];
    }
    /* padding rows of wte stay zero, as in llm.c */
    memset(m->params.wte + (size_t)m->config.vocab_size * m->config.channels, 0,
           sizeof(float) * (size_t)(m->config.padded_vocab_size - m->config.vocab_size) * m->config.channels);
    m->load_checksum = fe_model_checksum(m);
}

#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_read_file(const char *path, unsigned char **bytes, size_t *len, void *u, fe_error *err) {
    FILE *f;
    long sz;
    unsigned char *b;
    *bytes = NULL; *len = 0;
    f = fopen(path, "rb");
    if (!f) return fe__fail(err, fe_err_io, "cannot open '%s'", path);
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return fe__fail(err, fe_err_io, "cannot size '%s' (not a regular file?)", path); }
    b = (unsigned char *)fe__malloc(u, (size_t)sz + 1);
    if (!b) { fclose(f); return fe__fail(err, fe_err_nomem, "cannot allocate %ld bytes for '%s'", sz, path); }
    if (sz > 0 && fread(b, 1, (size_t)sz, f) != (size_t)sz) { fclose(f); fe__free(u, b); return fe__fail(err, fe_err_io, "short read of '%s'", path); }
    fclose(f);
    b[sz] = 0; /* convenient for text */
    *bytes = b; *len = (size_t)sz;
    return fe_ok;
}

FACTEDIT_API fe_result fe_write_file_atomic(const char *path, const void *bytes, size_t len, fe_error *err) {
    char tmp[4096];
    int ok = 1;
    size_t n = strlen(path);
    if (n + 32 > sizeof tmp) return fe__fail(err, fe_err_arg, "path too long: '%.64s...'", path);
#ifdef FACTEDIT__POSIX
    {
        /* write, fsync, close, rename: after a crash there is either the old or the new file */
        const unsigned char *p = (const unsigned char *)bytes;
        size_t left = len;
        int fd;
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return fe__fail(err, fe_err_io, "cannot create '%s' (directory missing or read-only?)", tmp);
        while (ok && left > 0) {
            ssize_t w = write(fd, p, left > ((size_t)1 << 30) ? ((size_t)1 << 30) : left);
            if (w <= 0) ok = 0; else { p += w; left -= (size_t)w; }
        }
        ok = ok && fsync(fd) == 0;
        ok = (close(fd) == 0) && ok;
    }
#else
    {
        FILE *f;
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "wb");
        if (!f) return fe__fail(err, fe_err_io, "cannot create '%s' (directory missing or read-only?)", tmp);
        ok = fwrite(bytes, 1, len, f) == len;
        ok = (fflush(f) == 0) && ok;
        ok = (fclose(f) == 0) && ok;
    }
#endif
    if (!ok) { remove(tmp); return fe__fail(err, fe_err_io, "cannot write %zu bytes to '%s' (disk full?); '%s' left unchanged", len, tmp, path); }
    if (rename(tmp, path) != 0) { remove(tmp); return fe__fail(err, fe_err_io, "cannot rename '%s' to '%s'", tmp, path); }
    return fe_ok;
}

FACTEDIT_API fe_result fe_model_save_file(const fe_model *m, const char *path, int version, fe_error *err) {
    unsigned char *b;
    size_t n;
    fe_result r = fe_model_save_mem(m, version, &b, &n, err);
    if (r) return r;
    r = fe_write_file_atomic(path, b, n, err);
    fe__free(m->alloc_user, b);
    if (!r) fe__ok(err);
    return r;
}

FACTEDIT_API fe_result fe_model_load_file(fe_model **out, const char *path, const fe_load_opts *opts, fe_error *err) {
    fe_result r;
    unsigned char *bytes;
    size_t len;
    if (!out || !path) return fe__fail(err, fe_err_arg, "checkpoint: NULL argument");
    *out = NULL;
#ifdef FACTEDIT__POSIX
    if (!(opts && opts->no_mmap)) {
        /* fp32: map the file privately and point the weights into it: no copy, and an edit
           touches only copy-on-write pages, never the file. bf16: map, widen, unmap. */
        int fd = open(path, O_RDONLY);
        struct stat st;
        void *map;
        fe_config c;
        size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], np, expect;
        int version;
        fe_model *m;
        if (fd < 0) return fe__fail(err, fe_err_io, "checkpoint: cannot open '%s'", path);
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return fe__fail(err, fe_err_io, "checkpoint: '%s' is not a regular file", path); }
        if ((size_t)st.st_size < FACTEDIT__HEADER_BYTES) { close(fd); return fe__fail(err, fe_err_format, "checkpoint: '%s' has %lld bytes, the header alone needs %d", path, (long long)st.st_size, FACTEDIT__HEADER_BYTES); }
        map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        close(fd);
        if (map == MAP_FAILED) return fe__fail(err, fe_err_io, "checkpoint: cannot map '%s'", path);
        r = fe__parse_header((const unsigned char *)map, (size_t)st.st_size, &c, &version, sizes, &np, &expect, err);
        if (r) { munmap(map, (size_t)st.st_size); return r; }
        r = fe__model_alloc(&m, &c, opts, !(version == 3 && fe__little_endian()), err);
        if (r) { munmap(map, (size_t)st.st_size); return r; }
        m->file_version = version;
        if (m->blob) {
            fe__decode_params(m->blob, (const unsigned char *)map + FACTEDIT__HEADER_BYTES, np, version);
            munmap(map, (size_t)st.st_size);
        } else {
            m->fe__map = map; m->fe__map_len = (size_t)st.st_size;
            m->blob = (float *)(void *)((unsigned char *)map + FACTEDIT__HEADER_BYTES);
            fe__point_params(m);
        }
        if ((r = fe__model_finish(m, opts, err)) != fe_ok) { fe_model_free(m); return r; }
        *out = m;
        return fe_ok;
    }
#endif
    r = fe_read_file(path, &bytes, &len, opts ? opts->alloc_user : NULL, err);
    if (r) return r;
    r = fe_model_load_mem(out, bytes, len, opts, err);
    fe__free(opts ? opts->alloc_user : NULL, bytes);
    return r;
}
#endif /* FACTEDIT_NO_STDIO */

/* ======================================================================= >>impl-forward */

/* Activations of one layer for all rows: each buffer is (B, Tcap, width). */
typedef struct fe__layer_acts {
    float *ln1, *ln1_mean, *ln1_rstd;  /* (B,T,C) (B,T) (B,T) */
    float *qkv;                        /* (B,T,3C): the KV cache lives here */
    float *att;                        /* (B,NH,T,T) softmax probabilities */
    float *atty;                       /* (B,T,C) attention values before c_proj */
    float *attn;                       /* (B,T,C) site attn */
    float *resid_mid;                  /* (B,T,C) residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch;                        /* (B,T,4C) pre-GELU */
    float *key;                        /* (B,T,4C) site key */
    float *mlp;                        /* (B,T,C) site mlp */
    float *resid;                      /* (B,T,C) site resid (block output) */
} fe__layer_acts;

struct fe_state {
    const fe_model *model;
    int B, T;                /* rows, capacity in positions */
    int last_pos, all_logits, logits_pos0, logits_n;
    float *embed;            /* (B,T,C) wte rows (site embed) */
    float *encoded;          /* (B,T,C) embed + wpe: the input of layer 0 */
    fe__layer_acts *layers;  /* L */
    float *lnf, *lnf_mean, *lnf_rstd;  /* (B,T,C) (B,T) (B,T) */
    float *logits;           /* (B,T,V) when all_logits, else (B,V) */
    float *blob;
    size_t blob_floats;
    void *alloc_user;
};

FACTEDIT_API int fe_state_batch(const fe_state *s) { return s->B; }
FACTEDIT_API int fe_state_capacity(const fe_state *s) { return s->T; }
FACTEDIT_API int fe_site_width(const fe_model *m, fe_site site) { return site == fe_site_key ? 4 * m->config.channels : m->config.channels; }

FACTEDIT_API void fe_state_free(fe_state *s) {
    if (!s) return;
    fe__free(s->alloc_user, s->layers);
    fe__free(s->alloc_user, s->blob);
    fe__free(s->alloc_user, s);
}

FACTEDIT_API fe_result fe_state_new(fe_state **out, const fe_model *m, int batch, int max_tokens, unsigned flags, fe_error *err) {
    const fe_config *c = &m->config;
    size_t C = (size_t)c->channels, NH = (size_t)c->num_heads, BT, per_layer, total, bytes, tt;
    fe_state *s;
    float *p;
    int l;
    (void)flags;
    *out = NULL;
    if (batch < 1 || max_tokens < 1) return fe__fail(err, fe_err_arg, "state: batch %d and max_tokens %d must be >= 1", batch, max_tokens);
    if (max_tokens > c->max_seq_len) return fe__fail(err, fe_err_range, "state: %d tokens exceed the model's context of %d", max_tokens, c->max_seq_len);
    BT = (size_t)batch * (size_t)max_tokens;
    /* per layer: ln1 C, 2 stats, qkv 3C, att NH*T, atty C, attn C, resid_mid C, ln2 C, 2 stats,
       fch 4C, key 4C, mlp C, resid C  => 18C + 4 + NH*T floats per (row, position) */
    if (!fe__mul3(NH, (size_t)max_tokens, 1, &tt) || !fe__add(18 * C + 4, tt, &per_layer) || !fe__mul(per_layer, BT, &per_layer) ||
        !fe__mul(per_layer, (size_t)c->num_layers, &total) || !fe__add(total, BT * (3 * C + 2), &total) ||
        !fe__add(total, (size_t)batch * (size_t)max_tokens * (size_t)c->vocab_size, &total) || !fe__mul(total, sizeof(float), &bytes))
        return fe__fail(err, fe_err_limit, "state: size overflow");
    s = (fe_state *)fe__calloc(m->alloc_user, sizeof *s);
    if (!s) return fe__fail(err, fe_err_nomem, "state: out of memory");
    s->alloc_user = m->alloc_user;
    s->model = m; s->B = batch; s->T = max_tokens; s->last_pos = -1;
    s->layers = (fe__layer_acts *)fe__calloc(m->alloc_user, sizeof(fe__layer_acts) * (size_t)c->num_layers);
    s->blob = (float *)fe__malloc(m->alloc_user, bytes);
    if (!s->layers || !s->blob) { fe_state_free(s); return fe__fail(err, fe_err_nomem, "state: cannot allocate %zu bytes of activations", bytes); }
    memset(s->blob, 0, bytes);
    s->blob_floats = total;
    p = s->blob;
#define FACTEDIT__TAKE(dst, n) do { (dst) = p; p += (n); } while (0)
    FACTEDIT__TAKE(s->embed, BT * C);
    FACTEDIT__TAKE(s->encoded, BT * C);
    for (l = 0; l < c->num_layers; l++) {
        fe__layer_acts *a = &s->layers[l];
        FACTEDIT__TAKE(a->ln1, BT * C); FACTEDIT__TAKE(a->ln1_mean, BT); FACTEDIT__TAKE(a->ln1_rstd, BT);
        FACTEDIT__TAKE(a->qkv, BT * 3 * C); FACTEDIT__TAKE(a->att, BT * NH * (size_t)max_tokens);
        FACTEDIT__TAKE(a->atty, BT * C); FACTEDIT__TAKE(a->attn, BT * C); FACTEDIT__TAKE(a->resid_mid, BT * C);
        FACTEDIT__TAKE(a->ln2, BT * C); FACTEDIT__TAKE(a->ln2_mean, BT); FACTEDIT__TAKE(a->ln2_rstd, BT);
        FACTEDIT__TAKE(a->fch, BT * 4 * C); FACTEDIT__TAKE(a->key, BT * 4 * C);
        FACTEDIT__TAKE(a->mlp, BT * C); FACTEDIT__TAKE(a->resid, BT * C);
    }
    FACTEDIT__TAKE(s->lnf, BT * C); FACTEDIT__TAKE(s->lnf_mean, BT); FACTEDIT__TAKE(s->lnf_rstd, BT);
    FACTEDIT__TAKE(s->logits, BT * (size_t)c->vocab_size);
#undef FACTEDIT__TAKE
    *out = s;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API float *fe_state_act(fe_state *s, fe_site site, int layer, int b, int pos) {
    size_t C = (size_t)s->model->config.channels, row = (size_t)b * s->T + (size_t)pos;
    if (b < 0 || b >= s->B || pos < 0 || pos >= s->T) return NULL;
    if (site == fe_site_embed) return s->embed + row * C;
    if (layer < 0 || layer >= s->model->config.num_layers) return NULL;
    switch (site) {
    case fe_site_attn: return s->layers[layer].attn + row * C;
    case fe_site_key: return s->layers[layer].key + row * 4 * C;
    case fe_site_mlp: return s->layers[layer].mlp + row * C;
    case fe_site_resid: return s->layers[layer].resid + row * C;
    default: return NULL;
    }
}

FACTEDIT_API const float *fe_state_logits(const fe_state *s, int b, int pos) {
    size_t V = (size_t)s->model->config.vocab_size;
    if (b < 0 || b >= s->B || s->last_pos < 0) return NULL;
    if (pos < 0) pos = s->last_pos;
    if (!s->all_logits) return pos == s->last_pos ? s->logits + (size_t)b * V : NULL;
    if (pos < s->logits_pos0 || pos >= s->logits_pos0 + s->logits_n) return NULL;
    return s->logits + ((size_t)b * s->T + (size_t)pos) * V;
}

/* Causal self-attention for row b, positions [p0, p0+n), one head per task.
   qkv (T,3C) of this row -> att (NH,T,T) probabilities, atty (T,C). */
FACTEDIT__PRIV void fe__attention(float *atty, float *att, const float *qkv, int T, int C, int NH, int p0, int n) {
    int hs = C / NH, h;
    float scale = 1.0f / sqrtf((float)hs);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)n * (p0 + n) * C > 50000)
#endif
    for (h = 0; h < NH; h++) {
        int t, t2, i;
        for (t = p0; t < p0 + n; t++) {
            const float *q = qkv + (size_t)t * 3 * C + h * hs;
            float *a = att + ((size_t)h * T + t) * T, mx = -INFINITY, sum = 0.0f, *y = atty + (size_t)t * C + h * hs;
            for (t2 = 0; t2 <= t; t2++) {
                const float *k = qkv + (size_t)t2 * 3 * C + C + h * hs;
                float d = 0.0f;
                for (i = 0; i < hs; i++) d += q[i] * k[i];
                d *= scale;
                a[t2] = d;
                if (d > mx) mx = d;
            }
            for (t2 = 0; t2 <= t; t2++) { a[t2] = expf(a[t2] - mx); sum += a[t2]; }
            for (t2 = 0; t2 <= t; t2++) a[t2] /= sum;
            for (i = 0; i < hs; i++) y[i] = 0.0f;
            for (t2 = 0; t2 <= t; t2++) {
                const float *v = qkv + (size_t)t2 * 3 * C + 2 * C + h * hs;
                float w = a[t2];
                for (i = 0; i < hs; i++) y[i] += w * v[i];
            }
        }
    }
}

FACTEDIT__PRIV void fe__residual(float *out, const float *a, const float *b, size_t n) { size_t i; for (i = 0; i < n; i++) out[i] = a[i] + b[i]; }

FACTEDIT_API fe_result fe_forward(const fe_model *m, fe_state *s, const int *tokens, int n, const fe_forward_opts *o, fe_error *err) {
    const fe_config *c = &m->config;
    const fe_params *P = &m->params;
    int C = c->channels, NH = c->num_heads, L = c->num_layers, V = c->vocab_size, T = s->T;
    int p0 = o ? o->pos0 : 0, l0 = o ? o->layer0 : 0, lend = (o && o->last_layer > 0 && o->last_layer < L) ? o->last_layer : L;
    int b, l, i;
    fe_hook_fn hook = o ? o->hook : NULL;
    void *hu = o ? o->hook_user : NULL;
    if (s->model != m) return fe__fail(err, fe_err_arg, "forward: state was made for another model");
    if (n < 1) return fe__fail(err, fe_err_arg, "forward: no tokens to run (empty prompt?)");
    if (p0 < 0 || p0 + n > T) return fe__fail(err, fe_err_range, "forward: positions [%d, %d) exceed the state's %d (model context %d)", p0, p0 + n, T, c->max_seq_len);
    if (l0 < 0 || l0 >= L) return fe__fail(err, fe_err_range, "forward: layer0 %d outside [0, %d)", l0, L);
    if (l0 == 0) {
        if (!tokens) return fe__fail(err, fe_err_arg, "forward: NULL tokens");
        for (b = 0; b < s->B; b++)
            for (i = 0; i < n; i++)
                if (tokens[(size_t)b * n + i] < 0 || tokens[(size_t)b * n + i] >= V)
                    return fe__fail(err, fe_err_range, "forward: token id %d at row %d position %d outside the vocabulary [0, %d)", tokens[(size_t)b * n + i], b, p0 + i, V);
    }
    for (b = 0; b < s->B; b++) {
        size_t row0 = (size_t)b * T + (size_t)p0;
        if (l0 == 0) {
            /* encoder: token embedding (site embed, hookable) + position embedding */
            for (i = 0; i < n; i++) memcpy(s->embed + (row0 + i) * C, P->wte + (size_t)tokens[(size_t)b * n + i] * C, sizeof(float) * C);
            if (hook) hook(hu, fe_site_embed, 0, b, p0, n, s->embed + row0 * C, C);
            for (i = 0; i < n; i++) fe__residual(s->encoded + (row0 + i) * C, s->embed + (row0 + i) * C, P->wpe + (size_t)(p0 + i) * C, (size_t)C);
        }
        for (l = l0; l < lend; l++) {
            fe__layer_acts *a = &s->layers[l];
            const float *x = (l == 0 ? s->encoded : s->layers[l - 1].resid) + row0 * C;
            size_t C3 = 3 * (size_t)C, C4 = 4 * (size_t)C;
            fe__layernorm(a->ln1 + row0 * C, a->ln1_mean + row0, a->ln1_rstd + row0, x, P->ln1w + (size_t)l * C, P->ln1b + (size_t)l * C, n, C);
            fe_matmul(a->qkv + row0 * C3, C3, a->ln1 + row0 * C, P->qkvw + (size_t)l * C3 * C, P->qkvb + (size_t)l * C3, n, C, 3 * C);
            fe__attention(a->atty + (size_t)b * T * C, a->att + (size_t)b * NH * T * T, a->qkv + (size_t)b * T * C3, T, C, NH, p0, n);
            fe_matmul(a->attn + row0 * C, C, a->atty + row0 * C, P->attprojw + (size_t)l * C * C, P->attprojb + (size_t)l * C, n, C, C);
            if (hook) hook(hu, fe_site_attn, l, b, p0, n, a->attn + row0 * C, C);
            fe__residual(a->resid_mid + row0 * C, x, a->attn + row0 * C, (size_t)n * C);
            fe__layernorm(a->ln2 + row0 * C, a->ln2_mean + row0, a->ln2_rstd + row0, a->resid_mid + row0 * C, P->ln2w + (size_t)l * C, P->ln2b + (size_t)l * C, n, C);
            fe_matmul(a->fch + row0 * C4, C4, a->ln2 + row0 * C, P->fcw + (size_t)l * C4 * C, P->fcb + (size_t)l * C4, n, C, 4 * C);
            fe__gelu(a->key + row0 * C4, a->fch + row0 * C4, (size_t)n * C4);
            if (hook) hook(hu, fe_site_key, l, b, p0, n, a->key + row0 * C4, 4 * C);
            fe_matmul(a->mlp + row0 * C, C, a->key + row0 * C4, P->fcprojw + (size_t)l * C * C4, P->fcprojb + (size_t)l * C, n, 4 * C, C);
            if (hook) hook(hu, fe_site_mlp, l, b, p0, n, a->mlp + row0 * C, C);
            fe__residual(a->resid + row0 * C, a->resid_mid + row0 * C, a->mlp + row0 * C, (size_t)n * C);
            if (hook) hook(hu, fe_site_resid, l, b, p0, n, a->resid + row0 * C, C);
        }
    }
    if (lend < L || (o && o->no_logits)) { fe__ok(err); return fe_ok; }
    s->last_pos = p0 + n - 1;
    s->all_logits = o ? o->all_logits : 0;
    s->logits_pos0 = p0; s->logits_n = n;
    for (b = 0; b < s->B; b++) {
        size_t row0 = (size_t)b * T + (size_t)p0;
        const float *x = s->layers[L - 1].resid + row0 * C;
        if (s->all_logits) {
            fe__layernorm(s->lnf + row0 * C, s->lnf_mean + row0, s->lnf_rstd + row0, x, P->lnfw, P->lnfb, n, C);
            fe_matmul(s->logits + row0 * V, (size_t)V, s->lnf + row0 * C, P->wte, NULL, n, C, V);
        } else {
            size_t last = row0 + (size_t)n - 1;
            fe__layernorm(s->lnf + last * C, s->lnf_mean + last, s->lnf_rstd + last, x + (size_t)(n - 1) * C, P->lnfw, P->lnfb, 1, C);
            fe_matmul(s->logits + (size_t)b * V, (size_t)V, s->lnf + last * C, P->wte, NULL, 1, C, V);
        }
    }
    fe__ok(err);
    return fe_ok;
}

/* ======================================================================= >>impl-generate */

FACTEDIT__PRIV int fe__argmax(const float *x, int n) { int i, best = 0; for (i = 1; i < n; i++) if (x[i] > x[best]) best = i; return best; }

FACTEDIT_API int fe_sample(const float *logits, int V, const fe_sample_opts *o, fe_rng *rng, float *scratch) {
    int i, k, n;
    float mx, *p, *idx;
    double sum, r, acc;
    if (!o || o->temperature <= 0.0f || !rng) return fe__argmax(logits, V);
    if (!scratch) return fe__argmax(logits, V);
    p = scratch; idx = scratch + V;
    mx = logits[fe__argmax(logits, V)];
    for (i = 0; i < V; i++) { p[i] = expf((logits[i] - mx) / o->temperature); idx[i] = (float)i; }
    /* keep the top-k (or all): partial selection sort by probability, stable on ties by id */
    k = (o->top_k > 0 && o->top_k < V) ? o->top_k : V;
    n = V;
    if (k < V || (o->top_p > 0.0f && o->top_p < 1.0f)) {
        int lim = k;
        for (i = 0; i < lim; i++) {
            int j, best = i;
            for (j = i + 1; j < n; j++) if (p[j] > p[best]) best = j;
            if (best != i) { float t = p[i]; p[i] = p[best]; p[best] = t; t = idx[i]; idx[i] = idx[best]; idx[best] = t; }
        }
        n = lim;
        if (o->top_p > 0.0f && o->top_p < 1.0f) {
            double tot = 0.0, run = 0.0;
            for (i = 0; i < n; i++) tot += p[i];
            for (i = 0; i < n; i++) { run += p[i]; if (run >= o->top_p * tot) { n = i + 1; break; } }
        }
    }
    for (sum = 0.0, i = 0; i < n; i++) sum += p[i];
    r = fe_rng_uniform(rng) * sum;
    for (acc = 0.0, i = 0; i < n; i++) { acc += p[i]; if (r < acc) return (int)idx[i]; }
    return (int)idx[n - 1];
}

FACTEDIT_API fe_result fe_generate(const fe_model *m, const int *prompt, int n_prompt, int n_new, const fe_sample_opts *o, fe_rng *rng, int *out, fe_error *err) {
    fe_state *s;
    fe_forward_opts fo;
    fe_result r;
    int i, V = m->config.vocab_size, tok;
    float *scratch = NULL;
    if (n_prompt < 1) return fe__fail(err, fe_err_arg, "generate: empty prompt");
    if (n_new < 0) return fe__fail(err, fe_err_arg, "generate: negative token count");
    if (n_prompt + n_new > m->config.max_seq_len + 1 || n_prompt > m->config.max_seq_len)
        return fe__fail(err, fe_err_range, "generate: %d prompt + %d new tokens exceed the model's context of %d", n_prompt, n_new, m->config.max_seq_len);
    if (n_new == 0) return fe_ok;
    r = fe_state_new(&s, m, 1, n_prompt + n_new - 1 > n_prompt ? n_prompt + n_new - 1 : n_prompt, 0, err);
    if (r) return r;
    if (o && o->temperature > 0.0f) {
        scratch = (float *)fe__malloc(m->alloc_user, sizeof(float) * 2 * (size_t)V);
        if (!scratch) { fe_state_free(s); return fe__fail(err, fe_err_nomem, "generate: out of memory"); }
    }
    memset(&fo, 0, sizeof fo);
    r = fe_forward(m, s, prompt, n_prompt, &fo, err);
    for (i = 0; i < n_new && r == fe_ok; i++) {
        tok = fe_sample(fe_state_logits(s, 0, -1), V, o, rng, scratch);
        out[i] = tok;
        if (i + 1 < n_new) {
            fo.pos0 = n_prompt + i;
            r = fe_forward(m, s, &tok, 1, &fo, err);
        }
    }
    fe__free(m->alloc_user, scratch);
    fe_state_free(s);
    return r;
}

#endif /* FACTEDIT_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication for the benefit of the public at large and to
the detriment of our heirs and successors. We intend this dedication to be an
overt act of relinquishment in perpetuity of all present and future rights to
this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - MIT License
Copyright (c) 2026 the factedit authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
