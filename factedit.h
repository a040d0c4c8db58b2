/* factedit.h - locate and edit factual associations in GPT-2, in one C header.
   version 0.1.0 - public domain (Unlicense) or MIT, your choice; see the end of the file.

   QUICK START (tests/compile_check.sh compiles this block as written)
       #define FACTEDIT_IMPLEMENTATION
       #include "factedit.h"
       #include <stdio.h>
       #include <string.h>
       #define TRY(call) if ((call) != fe_ok) { puts(err.msg); return 1; }

       int main(void) {
           const char *prompt = "The Space Needle is located in the city of";
           fe_text_request req = {"{} is located in the city of", "The Space Needle", " Paris"};
           fe_error err;
           fe_model *m;
           fe_vocab *v;
           int *ids, out[10];
           size_t n, s0, s1;
           double sd;
           fe_trace_opts to = fe_trace_opts_default();   // ROME's: 10 samples, window 10
           fe_trace_result tr;
           fe_rome_hparams hp;
           fe_rome_rows *rows;
           fe_edit *e;

           TRY(fe_model_load_file(&m, "gpt2.bin", NULL, &err));          // llm.c's checkpoint format
           TRY(fe_vocab_load_dir(&v, "tools/gpt2", NULL, &err));         // vocab.bpe (+ encoder.json)
           TRY(fe_encode(v, prompt, strlen(prompt), &ids, &n, &err));
           TRY(fe_subject_span(v, prompt, req.subject, &s0, &s1, &err)); // the subject's tokens

           // locate: causal trace of every state, noise 3 sigma (ROME takes sigma over many subjects)
           TRY(fe_embedding_std(m, ids + s0, s1 - s0, &sd, &err));
           to.noise = (float)(3 * sd);
           TRY(fe_trace(m, ids, (int)n, s0, s1, FACTEDIT_TRACE_ALL, &to, &tr, &err));
           printf("p(answer): clean %.3f, corrupted %.3f\n", tr.high, tr.low);  // tr.scores[kind][t * L + l]

           // edit: ROME from text ("{}" as the only context; no key statistics: u = k* / |k*|)
           fe_rome_hparams_default(&hp, m);
           TRY(fe_rome_rows_new(&rows, m, v, &req, NULL, &err));
           TRY(fe_rome_compute_rows(m, rows, &hp, NULL, &e, &err));
           TRY(fe_edit_apply(m, e, &err));                                // W_proj += right (x) u
           TRY(fe_generate(m, ids, (int)n, 10, NULL, NULL, out, &err));  // greedy, 10 tokens
           TRY(fe_edit_undo(m, e, &err));                                 // bit-exact

           fe_edit_free(e);
           fe_rome_rows_free(rows);
           fe_trace_result_free(&tr);
           fe_ids_free(v, ids);
           fe_vocab_free(v);
           fe_model_free(m);
           return 0;
       }

   HOW THIS FILE IS ORGANISED
       1. This comment: quick start, what it does, concepts, file formats, build options, index.
       2. The API: declarations with their documentation, one section per subject, each opened by
          a banner with a tag: >>api-errors, -json, -safetensors, -model, -tokenizer, -rng,
          -forward, -generate, -backward, -rome, -trace, -rome-glue, -many-edits.
       3. The implementation (#if FACTEDIT_IMPLEMENTATION), in the same order: >>impl-util
          (allocation, errors, little-endian fields, hashing), -json, -safetensors, -rng,
          -kernels (SIMD, GEMM, layer norm, GELU), -load (checkpoints, weight layouts),
          -tokenizer, -forward, -generate, -backward (and training), -ncg (the CG solver),
          -rome (value objective, keys, covariance, edits, the ROME core), -trace, -rome-glue
          (templates, text requests, statistics and patch files, CounterFact), -many-edits (MEMIT,
          AlphaEdit, the symmetric eigensolver, sequential editing and its log, health).
       4. PERFORMANCE NOTES, then the licence.
       Every tag opens exactly one banner: search ">>impl-trace" to land on tracing's code.
       Private names start fe__ / FACTEDIT__; private functions are FACTEDIT__PRIV (static).

   INDEX: task -> functions -> section
       load a checkpoint              fe_model_load_file, fe_model_load_mem, fe_load_opts  >>api-model
       tokenize, find a subject       fe_vocab_load_dir, fe_encode, fe_subject_span        >>api-tokenizer
       run the model, read states     fe_state_new, fe_forward, fe_state_act, fe_hook_fn   >>api-forward
       generate text                  fe_generate, fe_sample                               >>api-generate
       causal trace (locate a fact)   fe_trace, fe_trace_sever, fe_embedding_std           >>api-trace
       ROME edit from text            fe_rome_rows_new, fe_rome_compute_rows               >>api-rome-glue
       ROME edit from tokens          fe_rome_compute (fe_rome_request)                    >>api-rome
       apply, undo an edit            fe_edit_apply, fe_edit_undo                          >>api-rome
       value objective, its solvers   fe_vobj_new, fe_vobj_eval, fe_vobj_solve             >>api-rome
       key statistics (covariance)    fe_stats_compute, fe_stats_save_file, _load_file     >>api-rome-glue
       save, load, apply a patch      fe_patch_save_file, fe_patch_load_file, _apply       >>api-rome-glue
       context templates              fe_templates_rome, fe_templates_from_list            >>api-rome-glue
       CounterFact metrics            fe_cf_load_file, fe_cf_eval_case, fe_cf_summarize    >>api-rome-glue
       dataset means, 95% intervals   fe_running_add, fe_sample_sd, fe_ci95                >>api-rome-glue
       many edits: MEMIT, AlphaEdit   fe_many_new, fe_many_edit, fe_memit_request_from_rows >>api-many-edits
       undo a suffix of edits, patches fe_many_undo, fe_many_patches                       >>api-many-edits
       model health (collapse)        fe_many_health, fe_health_warn, fe_gen_entropy       >>api-many-edits
       symmetric eigendecomposition   fe_eigh                                              >>api-many-edits
       gradients, training            fe_backward, fe_lm_grad, fe_adamw_update             >>api-backward
       JSON, safetensors              fe_json_parse, fe_safetensors_parse                  >>api-json, -safetensors
       errors                         fe_result, fe_error, fe_result_string, fe_error_set  >>api-errors

   WHAT IT DOES
       - Loads GPT-2 checkpoints in karpathy/llm.c's format (fp32 or bf16) from a file (mmap,
         MAP_PRIVATE: an edit never writes the user's file) or from memory; optionally keeps
         the big matrices in bf16 and computes with them directly (fe_load_opts.bf16_weights).
       - GPT-2's byte-level BPE tokenizer (encoder.json + vocab.bpe, or vocab.bpe alone).
       - The exact GPT-2 forward pass (pre-LN, eps 1e-5, GELU tanh, causal attention, tied head)
         with SIMD matmuls, a KV cache, batches of rows, and hooks that read or overwrite the
         residual stream at any (site, layer, row, position).
       - Sampling (greedy, temperature, top-k, top-p) with the RNG in the caller's state.
       - Causal tracing (hidden / MLP / attention restorations, windows, severed paths) with a
         fast path that recomputes only what a restoration can change.
       - A backward pass (activation and weight gradients), a training loss and AdamW.
       - ROME: keys, covariance statistics, the value vector by nonlinear conjugate gradient
         (or ROME's Adam), the rank-one update, edits that undo bit-exactly; r-ROME's keys.
       - Many edits: MEMIT batches over a range of layers, AlphaEdit's null-space projection,
         sequential editing with a log that undoes any suffix bit-exactly, model health.
       - Small utilities the tools need: a JSON reader and a safetensors reader.

   WHAT IT DOES NOT DO
       - No GPU, no other architectures than GPT-2, no quantized weights below bf16. Tokenizer: GPT-2's byte-level BPE only.

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
       bf16 checkpoints are widened to fp32 at load by default. With fe_load_opts.bf16_weights
       wte, qkvw, attprojw and fcw stay bf16 in memory (an fp32 file's are rounded to nearest
       even) and the GEMM widens them in registers: half the bytes per token for those four
       (PERFORMANCE NOTES, at the end of the file), and results equal to the fp32 widening's
       bit for bit (the same FMAs in the same order). fcprojw, the matrix ROME rewrites, stays
       fp32 so edits are exact.
       In memory wte and the four block matrices (qkvw attprojw fcw fcprojw) are held in the
       panel layout the GEMM reads (see fe_weight_index; wte as a (Vp, C) matrix, so token t's
       embedding is W[t][0..C), 32 floats apart): load packs them, save unpacks them, so files
       are always plain llm.c.

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
       OpenMP (if compiled with -fopenmp) splits matmuls by panels of output columns and
       attention by (row, head): every number is computed by one thread in a fixed order, so
       results do not depend on the thread count. Kernel scratch (the GEMM's packed input,
       attention's transposed keys) comes from FACTEDIT_MALLOC with u = NULL; when it cannot be
       had the kernels pack tile by tile or take dot products instead, same numbers for the
       GEMM, and no call fails for it. The library has no global mutable state and never
       prints, exits or aborts. Fallible calls return an fe_result (0 = ok) and fill an
       optional fe_error with a message naming the problem.
*/
#ifndef FACTEDIT_H
#define FACTEDIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef FACTEDIT_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define FACTEDIT_API static __attribute__((unused))
#else
#define FACTEDIT_API static
#endif
#else
#define FACTEDIT_API extern
#endif

/* Hostile-size limits, checked while parsing (override before including). */
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

#ifndef FACTEDIT_MAX_JSON_DEPTH
#define FACTEDIT_MAX_JSON_DEPTH 64
#endif
#ifndef FACTEDIT_MAX_JSON_BYTES
#define FACTEDIT_MAX_JSON_BYTES ((size_t)1 << 30)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================== >>api-errors ======================== */

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

#if defined(__GNUC__) || defined(__clang__)
#define FACTEDIT__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FACTEDIT__PRINTF(a, b)
#endif
/* Fills err (when not NULL) with code and a printf-style message, and returns code: how the
   library fails, for code built on it that reports through fe_error too (tools/fe_convert.c,
   tools/demo_data.c). */
FACTEDIT_API fe_result fe_error_set(fe_error *err, fe_result code, const char *fmt, ...) FACTEDIT__PRINTF(3, 4);

/* ======================================================== >>api-json ========================== */
/* JSON DOM parser (RFC 8259), used for safetensors headers, config.json and the
   tokenizer's encoder.json.

   - Whole document parsed into a DOM owned by one fe_json (an arena: a few big blocks, freed at once).
   - Strings are decoded to UTF-8 (\uXXXX escapes, surrogate pairs joined) and NUL-terminated;
     they may contain NULs from \u0000, so use len. Raw bytes >= 0x80 inside strings are copied
     through unchecked: invalid UTF-8 in the input stays invalid UTF-8 in the value.
   - Numbers are doubles (out-of-range numbers such as 1e999 are rejected, not turned into inf).
   - Rejected: trailing garbage, unterminated strings, unescaped control characters (< 0x20),
     bad escapes, unpaired surrogates, leading zeros, '+', NaN/Infinity, comments, trailing commas.
   - Duplicate object keys are kept (in order); fe_json_get returns the first.
   - The children of an array or object are stored contiguously: v->child[i] is the i-th child for
     i < v->count (fe_json_at does this with a range check), and ->next walks the same list.
   - fe_json_get is a linear scan: for big objects (encoder.json) walk the children instead.
   - Limits: nesting depth FACTEDIT_MAX_JSON_DEPTH (checked before recursing), input size
     FACTEDIT_MAX_JSON_BYTES. Errors are fe_err_format (syntax, message names the byte offset),
     fe_err_limit, fe_err_range (number overflows a double), fe_err_nomem, fe_err_arg. */


typedef enum fe_json_type {
    fe_json_null,
    fe_json_bool,
    fe_json_number,
    fe_json_string,
    fe_json_array,
    fe_json_object
} fe_json_type;
typedef struct fe_json_value {
    fe_json_type type;
    int boolean; double number;
    const char *str; size_t len;          /* string value: decoded UTF-8, NUL-terminated
                                             (may contain NULs from \u0000; use len) */
    const char *key; size_t key_len;      /* member key when this value sits in an object, else NULL */
    struct fe_json_value *child, *next;   /* first element/member; next sibling */
    size_t count;                         /* number of children */
} fe_json_value;
typedef struct fe_json fe_json;           /* owns all nodes and strings (arena); root below */

FACTEDIT_API fe_result fe_json_parse(fe_json **out, const char *text, size_t len, void *alloc_user, fe_error *err);
FACTEDIT_API const fe_json_value *fe_json_root(const fe_json *doc);
FACTEDIT_API void fe_json_free(fe_json *doc);
/* NULL if absent or obj not an object */
FACTEDIT_API const fe_json_value *fe_json_get(const fe_json_value *obj, const char *key);
/* NULL if out of range (arrays and objects) */
FACTEDIT_API const fe_json_value *fe_json_at(const fe_json_value *arr, size_t i);

/* ======================================================== >>api-safetensors =================== */
/* safetensors reader (from memory) and float16 / bfloat16 conversions.

   File layout: u64 little-endian N | N bytes of JSON header | data section. The header maps
   tensor names to {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} with offsets
   relative to the data section; an optional "__metadata__" object of strings is skipped.
   fe_safetensors_parse validates everything and keeps pointers into `bytes` (no copy): the caller
   keeps the buffer alive (and unchanged) until fe_safetensors_free.
   Checked: N fits in the file; header is valid JSON and an object; every dtype is known (F32,
   F16, BF16 convert to float32; F64, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3,
   F8_E5M2 are known but not convertible); shape = at most 8 non-negative integers, element count
   overflow-checked; data_offsets = [begin, end] integers with begin <= end <= data section size;
   end - begin == numel * dtype size; no two tensors overlap; no duplicate names; no NUL in names.
   Gaps in the data section and bytes after the last tensor are allowed.
   Result codes: fe_err_format (malformed header or inconsistent entry), fe_err_range (header or a
   tensor reaches past the end of the file), fe_err_unsupported (unknown dtype; converting a
   non-float dtype), fe_err_limit (> 8 dims, size overflow, header > FACTEDIT_MAX_JSON_BYTES),
   fe_err_nomem, fe_err_arg. Tensors keep header (JSON) order in one array, so
   fe_safetensors_at(st, i) == fe_safetensors_at(st, 0) + i; find is a binary search. */

typedef enum fe_dtype { fe_dtype_f32, fe_dtype_f16, fe_dtype_bf16, fe_dtype_other } fe_dtype;
typedef struct fe_st_tensor {
    const char *name;                  /* NUL-terminated, owned by the fe_safetensors */
    fe_dtype dtype; char dtype_name[8];/* dtype_name as in the file: "F32", "I64", ... */
    int ndim; size_t shape[8]; size_t numel;
    const unsigned char *data;         /* points into the caller's bytes; may be unaligned */
    size_t nbytes;                     /* numel * element size */
} fe_st_tensor;
typedef struct fe_safetensors fe_safetensors;

/* keeps pointers into bytes: caller keeps bytes alive */
FACTEDIT_API fe_result fe_safetensors_parse(fe_safetensors **out, const void *bytes, size_t len, void *alloc_user,
                                            fe_error *err);
FACTEDIT_API size_t fe_safetensors_count(const fe_safetensors *st);
/* NULL if out of range */
FACTEDIT_API const fe_st_tensor *fe_safetensors_at(const fe_safetensors *st, size_t i);
FACTEDIT_API const fe_st_tensor *fe_safetensors_find(const fe_safetensors *st, const char *name); /* NULL if absent */
/* F32/F16/BF16 -> numel floats */
FACTEDIT_API fe_result fe_st_tensor_to_f32(const fe_st_tensor *t, float *out, fe_error *err);
FACTEDIT_API void fe_safetensors_free(fe_safetensors *st);

FACTEDIT_API float fe_f16_to_f32(uint16_t h);     /* exact, incl. subnormals, inf, nan */
FACTEDIT_API float fe_bf16_to_f32(uint16_t h);    /* exact */
FACTEDIT_API uint16_t fe_f32_to_bf16(float f);    /* round to nearest even; NaN stays (quiet) NaN */

/* ======================================================== >>api-model ========================= */

typedef struct fe_config {
    int max_seq_len;        /* maxT: positions in wpe */
    int vocab_size;         /* V */
    int padded_vocab_size;  /* Vp >= V; rows V..Vp-1 of wte are padding */
    int num_layers;         /* L */
    int num_heads;          /* NH */
    int channels;           /* C, a multiple of NH */
} fe_config;

#define FACTEDIT_NUM_PARAM_TENSORS 16
/* The 16 parameter tensors, in checkpoint order, by llm.c's names: index param_sizes, fe__h and
   fe_param_name / fe_param_matrix with these, never with numbers. */
typedef enum fe_tensor {
    fe_tensor_wte = 0,    /* token embeddings, also the tied head */
    fe_tensor_wpe,        /* position embeddings */
    fe_tensor_ln1w,       /* ln_1 gain and bias */
    fe_tensor_ln1b,
    fe_tensor_qkvw,       /* attn.c_attn weight and bias */
    fe_tensor_qkvb,
    fe_tensor_attprojw,   /* attn.c_proj */
    fe_tensor_attprojb,
    fe_tensor_ln2w,       /* ln_2 */
    fe_tensor_ln2b,
    fe_tensor_fcw,        /* mlp.c_fc */
    fe_tensor_fcb,
    fe_tensor_fcprojw,    /* mlp.c_proj: the matrix ROME edits */
    fe_tensor_fcprojb,
    fe_tensor_lnfw,       /* ln_f */
    fe_tensor_lnfb,
    fe_tensor_count       /* = FACTEDIT_NUM_PARAM_TENSORS */
} fe_tensor;
/* Pointers into one blob of float32 weights, in checkpoint order. wte (one (Vp, C) matrix) and
   the block matrices qkvw, attprojw, fcw and fcprojw are in the panel layout (fe_weight_index),
   one (out, in) matrix per layer, layer l at l * out * in; every other tensor is plain row-major. */
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
    int weights_bf16;          /* 1: bf16-resident (fe_load_opts.bf16_weights): wte, qkvw, attprojw
                                  and fcw are bf16 in a private layout, their params pointers NULL,
                                  and blob holds the other tensors only */
    uint64_t load_checksum;    /* fe_model_checksum() of the weights as loaded */
    void *alloc_user;
    /* private: how blob is owned; the bf16 tensors */
    void *fe__map; size_t fe__map_len; int fe__owns_blob;
    uint16_t *fe__h[FACTEDIT_NUM_PARAM_TENSORS]; uint16_t *fe__hblob;
} fe_model;

typedef struct fe_load_opts {
    void *alloc_user;          /* passed to FACTEDIT_MALLOC & co. */
    int no_mmap;               /* 1: read the file into memory instead of mapping it */
    int allow_nonfinite;       /* 1: skip the NaN/Inf scan of the weights */
    int bf16_weights;          /* 1: keep wte, qkvw, attprojw and fcw in bf16 (from a bf16 file: as
                                  stored; from fp32: rounded to nearest even) and compute with them
                                  without widening: half the bytes streamed per token for those
                                  (PERFORMANCE NOTES), the same results as the widened weights.
                                  fcprojw, the matrix ROME writes, stays fp32 so edits are exact.
                                  Training (weight gradients) needs an fp32 model. */
} fe_load_opts;

/* Sizes of the 16 parameter tensors for a config, overflow-checked; total may be NULL. */
FACTEDIT_API fe_result fe_param_sizes(const fe_config *c, size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], size_t *total,
                                      fe_error *err);
FACTEDIT_API const char *fe_param_name(int i);   /* i an fe_tensor: "wte", "wpe", "ln1w", ... */
FACTEDIT_API fe_result fe_config_check(const fe_config *c, fe_error *err);
/* Loads a checkpoint from memory (copied: the buffer may be freed afterwards). */
FACTEDIT_API fe_result fe_model_load_mem(fe_model **out, const void *bytes, size_t len, const fe_load_opts *opts,
                                         fe_error *err);
/* A model with every parameter zero (fill blob yourself, block matrices through fe_weight_pack):
   for tests and random models. */
FACTEDIT_API fe_result fe_model_new(fe_model **out, const fe_config *c, const fe_load_opts *opts, fe_error *err);
FACTEDIT_API void fe_model_free(fe_model *m);
/* Bytes the weights occupy in memory: 4 per parameter, 2 per bf16-resident one. */
FACTEDIT_API size_t fe_model_weight_bytes(const fe_model *m);
/* 64-bit hash of the configuration and every weight as it is now (edits change it). A
   bf16-resident model hashes as its fp32 widening. */
FACTEDIT_API uint64_t fe_model_checksum(const fe_model *m);
/* Serializes to llm.c format in memory: version 3 (fp32) or 5 (bf16). */
FACTEDIT_API fe_result fe_model_save_mem(const fe_model *m, int version, unsigned char **bytes, size_t *len,
                                         fe_error *err);
#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_model_load_file(fe_model **out, const char *path, const fe_load_opts *opts, fe_error *err);
/* Writes atomically: a temp file beside path, then rename. path must differ from the loaded file. */
FACTEDIT_API fe_result fe_model_save_file(const fe_model *m, const char *path, int version, fe_error *err);
/* Reads a whole file (allocated with alloc_user's allocator; free with fe_free). */
FACTEDIT_API fe_result fe_read_file(const char *path, unsigned char **bytes, size_t *len, void *alloc_user,
                                    fe_error *err);
/* Writes bytes to path atomically (temp file + fsync + rename); the old file survives a failure. */
FACTEDIT_API fe_result fe_write_file_atomic(const char *path, const void *bytes, size_t len, fe_error *err);
#endif
FACTEDIT_API void *fe_malloc(size_t n, void *alloc_user);   /* through FACTEDIT_MALLOC */
FACTEDIT_API void fe_free(void *p, void *alloc_user);
/* FNV-1a, 64-bit, of n bytes, continuing from h: start with FACTEDIT_FNV1A64_INIT (FNV's offset
   basis); hashing a, then b from a's result, equals hashing a + b. The statistics and patch
   files' payload checksum. Not cryptographic. */
#define FACTEDIT_FNV1A64_INIT 14695981039346656037ull
FACTEDIT_API uint64_t fe_fnv1a64(uint64_t h, const void *bytes, size_t n);
/* Fills a model's weights with GPT-2-like random values (N(0, 0.02), projections scaled by
   1/sqrt(2L), layer norms 1/0): for tests, benchmarks and untrained starts. */
FACTEDIT_API void fe_model_randomize(fe_model *m, uint64_t seed);

/* Panel layout of the block matrices. A (out, in) matrix W[o][i] is cut into panels of
   FACTEDIT_WEIGHT_PANEL output rows; each panel is stored transposed, [in][panel width], panels
   one after another (the last one narrower when out is not a multiple of the panel). The GEMM
   then streams each panel front to back with no transposes, and the layout is the same for
   every SIMD path (32 = 1, 2 or 4 register widths) and the scalar build. Same total size. */
#define FACTEDIT_WEIGHT_PANEL 32
/* Offset of W[o][i] in a panel-layout (out, in) matrix. */
FACTEDIT_API size_t fe_weight_index(size_t out, size_t in, size_t o, size_t i);
/* Plain row-major [out][in] src -> panel-layout dst, and back. dst and src must not overlap. */
FACTEDIT_API void fe_weight_pack(float *dst, const float *src, size_t out, size_t in);
FACTEDIT_API void fe_weight_unpack(float *dst, const float *src, size_t out, size_t in);
/* Whether tensor (an fe_tensor) is a panel-layout matrix (wte, qkvw, attprojw, fcw, fcprojw): 1 and
   one layer's (out, in), else 0. */
FACTEDIT_API int fe_param_matrix(const fe_config *c, int tensor, size_t *out, size_t *in);

/* ======================================================== >>api-tokenizer ===================== */
/* GPT-2 byte-level BPE tokenizer.

   Vocabulary
   - fe_vocab_load_mem(encoder_json, merges): encoder.json (= HF vocab.json, {"token": id}) plus
     vocab.bpe (= HF merges.txt, one merge "A B" per line, rank = line order). Ids are taken from
     encoder.json, so pruned vocabularies with densely renumbered ids work. Checked: ids are
     integers in 0..N-1 for N entries, each used once (else fe_err_range / fe_err_format); every
     token string uses only GPT-2's 256-character byte alphabet; both parts and the result of every
     merge are in the encoder; no merge appears twice (fe_err_format naming the line).
   - encoder_json == NULL: the encoder is derived from the merges in GPT-2's layout: ids 0..255
     are the byte tokens in bytes_to_unicode order (printable bytes 33..126, 161..172, 174..255,
     then the other 68 bytes), id 256+i is merge i's concatenation, and the last id is
     <|endoftext|>. For GPT-2's vocab.bpe this reproduces encoder.json exactly (50257 tokens).
   - A first line starting with "#version" is skipped (its absence is tolerated); blank lines are
     allowed only at the end; "\r\n" line ends are accepted.
   Encoding
   - Pre-tokenization is GPT-2's regex
       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
     as a hand-written scanner over UTF-8. \p{L}, \p{N} and \s are JavaScript's (the reference
     is the npm package gpt-3-encoder): Unicode FACTEDIT_UNICODE_VERSION tables from node 20
     (generator: gen_unicode.js). Contractions are case-sensitive, as in GPT-2.
   - Invalid UTF-8 (stray continuation bytes, overlong forms, surrogates, > U+10FFFF, truncated
     sequences): every byte that does not start a valid character is a one-byte character of the
     "other" class ([^\s\p{L}\p{N}]). With all 256 byte tokens encoding never fails on content, and
     decode(encode(x)) == x byte for byte for every input, NULs included (lengths are explicit).
     (The JS reference would first replace such bytes by U+FFFD; valid UTF-8 encodes identically.)
   - "<|endoftext|>" in the text is plain text, not the special token.
   - BPE: the reference algorithm (repeatedly merge every occurrence of the lowest-ranked adjacent
     pair, left to right) implemented with a heap, so it is O(n log n) per pre-token even for
     megabyte-long runs of letters. No cache: fe_vocab stays read-only and shareable by threads.
   - A vocabulary without some byte token (a pruned one) cannot encode text holding that byte:
     fe_encode returns fe_err_unsupported naming the byte.
   Subject span (ROME's find_token_range): the subject's FIRST occurrence in the prompt (Python's
   str.index, as ROME does), measured in bytes of the decoded tokens; [*begin, *end) are the prompt
   tokens that overlap it. ROME measures in characters of per-token decodes, which differs only when
   a token splits a multi-byte character; bytes are exact there.
   All functions are thread-safe on a shared const fe_vocab. */

#define FACTEDIT_UNICODE_VERSION "17.0"   /* of the letter/number/space tables (see gen_unicode.js) */

typedef struct fe_vocab fe_vocab;

/* encoder_json may be NULL (derive GPT-2's encoder from the merges). Buffers are not kept. */
FACTEDIT_API fe_result fe_vocab_load_mem(fe_vocab **out, const char *encoder_json, size_t encoder_len,
                                         const char *merges, size_t merges_len, void *alloc_user, fe_error *err);
#ifndef FACTEDIT_NO_STDIO
/* Reads dir/vocab.bpe (or dir/merges.txt) and, if present, dir/encoder.json (or dir/vocab.json). */
FACTEDIT_API fe_result fe_vocab_load_dir(fe_vocab **out, const char *dir, void *alloc_user, fe_error *err);
#endif
FACTEDIT_API void fe_vocab_free(fe_vocab *v);
FACTEDIT_API size_t fe_vocab_size(const fe_vocab *v);
FACTEDIT_API int fe_vocab_eot(const fe_vocab *v);   /* id of <|endoftext|>, or -1 if the vocabulary has none */
/* *ids is allocated with the vocabulary's allocator (never NULL on success, even for 0 tokens);
   release it with fe_ids_free. */
FACTEDIT_API fe_result fe_encode(const fe_vocab *v, const char *text, size_t len, int **ids, size_t *n, fe_error *err);
FACTEDIT_API void fe_ids_free(const fe_vocab *v, int *ids);
/* *text (allocated with the vocabulary's allocator) is NUL-terminated, the NUL not counted in
   *len (len may be NULL); free it with fe_text_free.
   An id outside 0..size-1 gives fe_err_range. */
FACTEDIT_API fe_result fe_decode(const fe_vocab *v, const int *ids, size_t n, char **text, size_t *len, fe_error *err);
FACTEDIT_API void fe_text_free(const fe_vocab *v, char *text);
/* Raw bytes of one token (not NUL-terminated), or NULL with *len = 0 for an invalid id. */
FACTEDIT_API const char *fe_token_bytes(const fe_vocab *v, int id, size_t *len);
/* Token range [*begin, *end) of the prompt's tokens overlapping the subject's first occurrence.
   Errors: empty or NULL subject / prompt NULL (fe_err_arg), subject not in prompt (fe_err_arg,
   the message quotes both), and fe_encode's errors. */
FACTEDIT_API fe_result fe_subject_span(const fe_vocab *v, const char *prompt, const char *subject,
                                       size_t *begin, size_t *end, fe_error *err);

/* ======================================================== >>api-rng =========================== */

/* The caller owns the RNG state: no global RNG anywhere. */
typedef struct fe_rng { uint64_t s[4]; } fe_rng;
FACTEDIT_API void fe_rng_seed(fe_rng *r, uint64_t seed);
FACTEDIT_API uint64_t fe_rng_u64(fe_rng *r);
FACTEDIT_API double fe_rng_uniform(fe_rng *r);   /* [0,1) */
FACTEDIT_API double fe_rng_normal(fe_rng *r);    /* N(0,1) */

/* ======================================================== >>api-forward ======================= */

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

/* State for `batch` rows of up to `max_tokens` positions (<= the model's maxT). flags: reserved,
   must be 0 (anything else is fe_err_arg). */
FACTEDIT_API fe_result fe_state_new(fe_state **out, const fe_model *m, int batch, int max_tokens, unsigned flags,
                                    fe_error *err);
FACTEDIT_API void fe_state_free(fe_state *s);
FACTEDIT_API int fe_state_batch(const fe_state *s);
FACTEDIT_API int fe_state_capacity(const fe_state *s);
/* Runs positions [pos0, pos0+n) of every row. tokens: (B, n), row-major. */
FACTEDIT_API fe_result fe_forward(const fe_model *m, fe_state *s, const int *tokens, int n, const fe_forward_opts *opts,
                                  fe_error *err);
/* Logits (V floats) of row b at position pos (pos = -1: the last computed position). With
   all_logits = 0 only the last computed position has logits. */
FACTEDIT_API const float *fe_state_logits(const fe_state *s, int b, int pos);
/* The stored activation of a site (layer ignored for embed) at row b, position pos:
   width floats (C or 4C for the key). Writable: tracing copies states in and out. */
FACTEDIT_API float *fe_state_act(fe_state *s, fe_site site, int layer, int b, int pos);
FACTEDIT_API int fe_site_width(const fe_model *m, fe_site site);
/* out (T,OC) = inp (T,C) . w (OC,C)^T + bias (OC, or NULL); out rows are ldo floats apart.
   fe_matmul: w plain row-major (the tied head, wte); fe_matmul_panel: w in the panel layout
   (fe_weight_index: the block matrices); fe_matmul_ref: the scalar reference of both (plain w). */
FACTEDIT_API void fe_matmul(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T, int C,
                            int OC);
/* w_rows: rows of the panel-layout w (>= OC; only its first OC rows are used: wte has Vp). */
FACTEDIT_API void fe_matmul_panel(float *out, size_t ldo, const float *inp, const float *w, int w_rows,
                                  const float *bias, int T, int C, int OC);
FACTEDIT_API void fe_matmul_ref(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T,
                                int C, int OC);
FACTEDIT_API const char *fe_simd_name(void);   /* "avx512", "avx2", "neon", "wasm-simd128" or "scalar" */
/* Softmax of one row of logits into probs (V floats), numerically stable. */
FACTEDIT_API void fe_softmax(const float *logits, float *probs, int V);

/* ======================================================== >>api-generate ====================== */

typedef struct fe_sample_opts {
    float temperature;  /* 0: greedy (argmax) */
    int top_k;          /* 0: off */
    float top_p;        /* 0 or 1: off */
} fe_sample_opts;

/* Picks the next token from logits (V floats). scratch: room for 2*V floats (8-byte aligned),
   or NULL, which means greedy. Temperature 0 is greedy; top-k and top-p sort the vocabulary. */
FACTEDIT_API int fe_sample(const float *logits, int V, const fe_sample_opts *o, fe_rng *rng, float *scratch);
/* Greedy/sampled continuation of a prompt with the KV cache: writes n_new ids to out. */
FACTEDIT_API fe_result fe_generate(const fe_model *m, const int *prompt, int n_prompt, int n_new,
                                   const fe_sample_opts *o, fe_rng *rng, int *out, fe_error *err);

/* ======================================================== >>api-backward ====================== */
/* The backward pass, the training loss and AdamW.

   fe_backward runs the GPT-2 stack backwards from the activations an fe_state holds (every
   position [0, n) of every row, n = fe_state_positions(s) = last computed position + 1):
       dlogits -> tied head (wte) -> ln_f -> blocks L-1 .. 0 -> embeddings (wte rows, wpe)
   It serves two uses with one implementation:
   - activation gradients: stop at (stop_site, stop_layer) and get d loss / d (that site) for
     every row and position in dsite (B, n, width). Sites: fe_site_resid / fe_site_mlp of layer l
     (equal: resid_l = resid_mid_l + mlp_l), fe_site_key (4C, input of mlp.c_proj), fe_site_attn
     (= d resid_mid_l), fe_site_embed (d of the token embedding = d of embed + wpe).
     ROME's v* gradient is dsite at (fe_site_mlp, layer) at the lookup positions.
   - weight gradients: grads (num_params floats, the fe_model blob layout: fe_params_view gives
     the 16 pointers) is ACCUMULATED (+=) for every parameter downstream of the stop point; a
     full backward (stop_site = fe_site_embed) needs the token ids for wte's rows.
   Hooks: the stored activations are what the forward computed after every hook, and the
   backward treats a hook as the identity. That is exact for additive hooks (ROME's delta, noise)
   and wrong upstream of a hook that overwrites a state (restoration): those get gradient as if
   nothing was overwritten.
   first_pos > 0 treats positions < first_pos as constants (no gradient flows into them): exact
   for dsite at positions >= first_pos, and a speed-up when only later positions matter. Not
   allowed with grads. (ROME's value objective uses the same code with a first position per row:
   each prompt's lookup.)

   Training: fe_lm_loss (mean over rows of the mean cross-entropy over the row's positions whose
   target is >= 0) and fe_lm_grad (forward + loss + full backward). fe_adamw_update is llm.c's
   AdamW (bias-corrected moments; decoupled weight decay applied to every parameter). */


typedef struct fe_backward_opts {
    fe_site stop_site;   /* fe_site_embed: full backward; resid/mlp/key/attn: stop inside block stop_layer */
    int stop_layer;      /* ignored for fe_site_embed */
    float *dsite;        /* out (B, n, width) or NULL: d loss / d (stop site); positions < first_pos are 0 */
    float *grads;        /* in/out or NULL: num_params floats (fe_model blob layout), accumulated (+=) */
    const int *tokens;   /* (B, n) ids: needed with grads and stop_site == fe_site_embed (wte rows) */
    int first_pos;       /* positions < first_pos get no gradient (must be 0 with grads) */
} fe_backward_opts;

/* Positions [0, n) that fe_backward covers: the last position the forward computed, plus one. */
FACTEDIT_API int fe_state_positions(const fe_state *s);
/* Pointers into a gradient (or any) blob of num_params floats laid out like fe_model's params. */
FACTEDIT_API fe_params fe_params_view(const fe_model *m, float *blob);
/* dlogits: (B, n, V), n = fe_state_positions(s). Rows of positions whose logits the forward did
   not keep (all_logits = 0: every position but the last) must be zero (else fe_err_arg). */
FACTEDIT_API fe_result fe_backward(const fe_model *m, const fe_state *s, const float *dlogits,
                                   const fe_backward_opts *o, fe_error *err);

/* Mean over rows (with >= 1 target) of the mean cross-entropy over positions with target >= 0.
   Reads logits of positions [0, n) (forward with all_logits = 1 over [0, n)); targets (B, n).
   dlogits (B, n, V) may be NULL; it is overwritten with d loss / d logits. */
FACTEDIT_API fe_result fe_lm_loss(const fe_model *m, const fe_state *s, const int *targets, int n, double *loss,
                                  float *dlogits, fe_error *err);
/* Forward of inputs (B, n) + fe_lm_loss + full backward: grads (num_params) += d loss / d params. */
FACTEDIT_API fe_result fe_lm_grad(const fe_model *m, fe_state *s, const int *inputs, const int *targets, int n,
                                  float *grads, double *loss, fe_error *err);
/* AdamW step t (1-based) over n parameters: m, v are the moment buffers (start at 0). */
FACTEDIT_API void fe_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr,
                                  float beta1, float beta2, float eps, float weight_decay, int t);

/* ======================================================== >>api-rome ========================== */
/* ROME (Meng et al. 2022): the value objective, its solvers (nonlinear CG, ROME's Adam), keys, key
   covariance, the rank-one update and edits as objects.

   Value objective (ROME's compute_v) for a delta added to layer `layer`'s MLP output at each
   prompt's lookup position (and at the lookup of every KL prompt):
       nll  = mean over prompts of  -sum_j log p(target[j]) / len(target), logits of the last layer,
              prompt i's last len(target) positions predicting target[0..]
       kl   = mean over KL prompts of KL(p_delta || p_0) of the next-token distribution at its lookup
       wd   = v_weight_decay * |delta| / |target_init|^2  (ROME's formula: |delta|, not squared)
       loss = nll + kl_factor * kl + wd
   target_init = the clean MLP output at prompt 0's lookup. All prompts run as rows of one state,
   right-padded (causal attention: padding never changes earlier positions). An evaluation adds
   delta to block `layer`'s output at each lookup, recomputes blocks > layer at each row's own
   positions from its lookup on (ragged spans, all rows in one matmul), computes logits only at
   the n_prompts * len(target) + n_kl scored positions, and runs the backward from those logits down to
   block `layer`'s output over the same spans.
   Solvers: nonlinear conjugate gradient (Polak-Ribiere+, strong-Wolfe line search of at most 10
   evaluations, restarts; projected onto the ball |delta| <= clamp_norm_factor * |target_init|), or ROME's Adam (lr 0.5,
   20 evaluations, clamp after every step). Both stop when loss < loss_stop (ROME: 5e-2), CG at the
   first line-search trial below it, or, with nll_stop > 0, when the NLL part alone is below nll_stop.
   Keys: k* = mean over the prefixed prompts of the key (mlp.c_proj input) at the lookup.
   Covariance: C = E[k k^T] (uncentered; float products within batches of 256 keys, accumulated
   across batches in double); u = normalize((C + ridge I)^-1 k*) by preconditioned linear CG in
   double: with fe_cov_factor's Cholesky factor of C + ridge I as the preconditioner (ROME's cached
   inverse; one or two iterations) or else Jacobi (no covariance: u = k* / |k*|, ROME without
   mom2_adjustment). right = (v* - cur_output) / (cur_input . u) at the unprefixed prompt, and the
   edit W_proj[o][i] += right[o] * u[i] (fcprojw is [C, 4C] = [out, in], in the panel layout).
   r-ROME (hp.rrome = 1; Gupta et al. 2024, "Rebuilding ROME"): cur_input = k* and cur_output = the
   mean MLP output at the prefixed prompts' lookups (= W k* + b), so the update maps exactly the
   key it was derived from (W' k* = v*) instead of the bare prompt's key; ROME's original maps the
   bare prompt's key with a u made from k*, which is what makes sequential ROME edits unstable.
   With a single "{}" context the two coincide.
   Edits: fe_edit_apply keeps a copy of the layer's whole c_proj matrix and fe_edit_undo restores
   it, so apply + undo is bit-exact. Undo nested edits in reverse order: undo checks that the
   layer's matrix is exactly what this edit left (hash) and refuses (fe_err_arg) otherwise. */

typedef struct fe_rome_prompt {
    const int *ids;
    int n;
    int lookup;
} fe_rome_prompt;

typedef struct fe_vobj_spec {
    int layer;                          /* the edited layer */
    const fe_rome_prompt *prompts;      /* rewriting prompts: context + prompt +
                                           target[:-1]; lookup = subject's last token */
    int n_prompts;
    const int *target; int n_target;    /* the new object's tokens */
    const fe_rome_prompt *kl_prompts;   /* ROME: "{subject} is a", lookup = subject's last token; may be NULL */
    int n_kl;
    float kl_factor;                    /* ROME: 0.0625 */
    float v_weight_decay;               /* ROME: 0.5 */
    int target_resid;                   /* 0: target_init = block `layer`'s MLP output (ROME's v); 1: its
                                           block output, the residual stream (MEMIT's z) */
} fe_vobj_spec;

typedef struct fe_vparts { double loss, nll, kl, wd; } fe_vparts;
typedef struct fe_vobj fe_vobj;

/* Runs the clean forward (target_init, the KL reference distributions). */
FACTEDIT_API fe_result fe_vobj_new(fe_vobj **out, const fe_model *m, const fe_vobj_spec *spec, fe_error *err);
FACTEDIT_API void fe_vobj_free(fe_vobj *o);
FACTEDIT_API const float *fe_vobj_target_init(const fe_vobj *o);   /* C floats */
/* Loss parts at delta (C floats; NULL = 0) and, if grad != NULL, d loss / d delta (C floats). */
FACTEDIT_API fe_result fe_vobj_eval(fe_vobj *o, const float *delta, fe_vparts *parts, float *grad, fe_error *err);

typedef enum fe_solver { fe_solver_cg = 0, fe_solver_adam = 1 } fe_solver;

/* progress: once per accepted iterate (CG) or per evaluation (Adam). */
typedef void (*fe_rome_progress_fn)(void *user, int iter, int evals, const fe_vparts *parts, double delta_norm);

typedef struct fe_rome_hparams {
    int layer;                   /* ROME on GPT-2 XL: 17 */
    float kl_factor;             /* 0.0625 */
    float v_weight_decay;        /* 0.5 */
    float clamp_norm_factor;     /* 4: |delta| <= 4 |target_init|; <= 0: no clamp */
    fe_solver solver;            /* fe_solver_cg (default) or fe_solver_adam (ROME's) */
    int max_iters;               /* CG iterations (30); Adam: evaluations (ROME's v_num_grad_steps, 20) */
    int max_evals;               /* CG: cap on gradient evaluations (0: 4 * max_iters) */
    double loss_stop;            /* 5e-2 */
    double nll_stop;             /* 0: off (ROME). > 0: also stop at the first point whose NLL part alone is
                                    below it, however large the KL and weight-decay parts still are
                                    (README, "Why the clamp binds") */
    float v_lr;                  /* Adam: 0.5 */
    double cov_ridge;            /* added to the covariance's diagonal before solving (0 = none) */
    int rrome;                   /* 0: ROME's update (cur_input, cur_output at the bare prompt); 1: r-ROME
                                    ("Rebuilding ROME", Gupta et al. 2024): the averaged k* and the mean
                                    MLP output at the prefixed prompts' lookups in right and its
                                    denominator as well as in u */
    fe_rome_progress_fn progress; void *progress_user;
} fe_rome_hparams;

typedef struct fe_rome_report {
    int iters, evals, grads;     /* solver iterations, objective evaluations (forward passes) and gradient
                                    evaluations (backward passes; CG computes a trial's gradient only
                                    when the line search needs it, Adam at every step) */
    int status;                  /* 0 loss < loss_stop (or NLL < nll_stop), 1 converged (tiny gradient
                                    / no progress), 2 iteration or evaluation cap */
    fe_vparts first, last;       /* at delta = 0 and at the returned delta */
    double delta_norm, clamp;    /* |delta| and the clamp radius */
    int cg_iters;                /* linear CG iterations for u (0 without covariance) */
} fe_rome_report;

/* The defaults above; layer = fe_rome_default_layer(&m->config): ROME's published layers for
   GPT-2 medium, large and XL (8, 12, 17), round(L / 3) for other shapes (see >>api-rome-glue). */
FACTEDIT_API void fe_rome_hparams_default(fe_rome_hparams *hp, const fe_model *m);
/* Minimizes the value objective from delta = 0; delta (C floats) receives the result. */
FACTEDIT_API fe_result fe_vobj_solve(fe_vobj *o, const fe_rome_hparams *hp, float *delta, fe_rome_report *rep,
                                     fe_error *err);

/* Keys (4C) and MLP outputs (C) of layer `layer` at each prompt's lookup; either may be NULL. */
FACTEDIT_API fe_result fe_rome_keys(const fe_model *m, int layer, const fe_rome_prompt *p, int n, float *keys,
                                    float *mlp_out, fe_error *err);

/* Uncentered second moment of keys (batches of 256 in float, summed in double). m2 is dim x dim, symmetric. */
typedef struct fe_cov {
    int dim;
    double count;
    double *m2;
    void *alloc_user;
    double *chol; double chol_ridge;   /* fe_cov_factor's Cholesky factor of m2/count + chol_ridge I, or NULL */
} fe_cov;
FACTEDIT_API fe_result fe_cov_new(fe_cov **out, int dim, void *alloc_user, fe_error *err);
FACTEDIT_API void fe_cov_free(fe_cov *c);
FACTEDIT_API fe_result fe_cov_add(fe_cov *c, const float *keys, size_t n, fe_error *err);   /* n keys of dim floats */
/* Every position of B sequences of n tokens (B, n): keys of layer `layer`. */
FACTEDIT_API fe_result fe_cov_add_tokens(fe_cov *c, const fe_model *m, int layer, const int *tokens, int B, int n,
                                         fe_error *err);
FACTEDIT_API void fe_cov_moment(const fe_cov *c, float *out);     /* dim x dim: m2 / count */
/* Factors m2 / count + ridge I = L L^T (Cholesky, double, dim^3 / 3 flops; PERFORMANCE NOTES)
   and keeps L (dim x dim doubles) for fe_cov_solve with this ridge: ROME's
   cached inverse covariance, done once per statistics file rather than once per edit.
   fe_err_numeric if the matrix is not positive definite (add a ridge). fe_cov_add drops it. */
FACTEDIT_API fe_result fe_cov_factor(fe_cov *c, double ridge, fe_error *err);
/* x = (m2 / count + ridge I)^-1 rhs by preconditioned CG in double, relative residual <= tol
   (<= 0: 1e-10), at most max_iter (<= 0: 10 dim) iterations; *iters may be NULL. The
   preconditioner is the Cholesky factor from fe_cov_factor when it was made for this ridge (CG
   then stops after one or two iterations), else the diagonal (Jacobi; ill-conditioned statistics
   take thousands of iterations). */
FACTEDIT_API fe_result fe_cov_solve(const fe_cov *c, double ridge, const float *rhs, double *x, double tol,
                                    int max_iter, int *iters, fe_error *err);

/* A rank-one edit of layer `layer`'s mlp.c_proj: W[o][i] += right[o] * u[i]. */
typedef struct fe_edit {
    int layer, C;
    float *u;                    /* 4C: the key direction (unit norm) */
    float *right;                /* C */
    float *vstar;                /* C: target_init + delta */
    float *saved;                /* C x 4C: the layer's c_proj weight before apply (NULL when not applied) */
    uint64_t hash_after;         /* hash of that matrix right after apply */
    int applied;
    fe_rome_report report;
    void *alloc_user;
} fe_edit;

/* The request in tokens. Context templates are prefixes put before the prompt (ROME: "{}" and
   ten generated texts); prefixes == NULL means the empty prefix only. */
typedef struct fe_rome_request {
    const int *prompt; int n_prompt;          /* unprefixed prompt, without the target */
    int subject_last;                         /* index in prompt of the subject's last token */
    const int *target; int n_target;          /* new object, e.g. " Paris" */
    const int *const *prefixes; const int *n_prefixes; int num_prefixes;
    const int *kl_prompt; int n_kl; int kl_lookup;   /* n_kl = 0: no KL term */
} fe_rome_request;

FACTEDIT_API fe_result fe_edit_new(fe_edit **out, const fe_model *m, int layer, fe_error *err);
FACTEDIT_API void fe_edit_free(fe_edit *e);
/* right = (vstar - cur_output) / (cur_input . u); copies u and vstar into the edit. */
FACTEDIT_API fe_result fe_edit_set(fe_edit *e, const float *u, const float *vstar, const float *cur_input,
                                   const float *cur_output, fe_error *err);
FACTEDIT_API fe_result fe_edit_apply(fe_model *m, fe_edit *e, fe_error *err);
FACTEDIT_API fe_result fe_edit_undo(fe_model *m, fe_edit *e, fe_error *err);
/* ROME end to end: k*, u (cov may be NULL), v* by the chosen solver, right. Not applied. */
FACTEDIT_API fe_result fe_rome_compute(const fe_model *m, const fe_rome_request *req, const fe_rome_hparams *hp,
                                       const fe_cov *cov, fe_edit **out, fe_error *err);

/* ======================================================== >>api-trace ========================= */
/* Causal tracing (ROME, Meng et al. 2022, section 2; ROME's experiments/causal_trace.py).

   Causal tracing measures how much of a fact a hidden state carries. Three kinds of run, each on the
   prompt `tokens` (T ids) whose subject occupies the tokens [subject_begin, subject_end):
   - clean run: the answer token is the argmax at the last position (or opts.answer);
     high = its probability.
   - corrupted runs: `samples` rows, row s adds noise[s] (Gaussian, std opts.noise, or given
     explicitly) to the token embeddings of the subject (site fe_site_embed: the wte rows, before wpe
     is added). low = the answer's probability averaged over the rows.
   - corrupted-with-restoration runs: a corrupted run in which some states at one token t are put
     back to their clean values; score = answer probability averaged over the rows, and
     score - low is the state's indirect effect.
     kind hidden  (t, l): block l's output (fe_site_resid) at t.
     kind mlp     (t, l): the MLP output (fe_site_mlp) at t in every layer j of the window
     kind attn    (t, l): the attention output (fe_site_attn) likewise,
                  window = max(0, l - w/2) <= j < min(L, l + ceil(w/2))   (ROME: w = 10).
   fe_trace computes the grid of scores [T, L] for each requested kind. fe_trace_sever computes the
   paper's Figure 3 at one token t: per layer l, block l's output at t is restored while the MLP (or
   attention) outputs at t in ALL layers stay frozen at their corrupted values (same noise row);
   sever none is the plain hidden restoration at t.

   Noise. Drawn from an fe_rng: row s, subject token i, channel c (in that order, s slowest) gets
   opts.noise * fe_rng_normal(). ROME uses 3 sigma, sigma = fe_embedding_std over the token ids of
   many subjects (ROME's collect_embedding_std). opts.explicit_noise [samples][span][C] replaces the
   draws (absolute values, opts.noise is then ignored), which makes results reproducible across
   implementations.

   Speed. A restoration at (t, l) cannot change anything at positions < t nor in layers below the
   lowest restored one. The fast path (default) runs the corrupted rows once, then for each
   restoration recomputes only positions >= t from that layer up (fe_forward's pos0 = t,
   layer0 > 0 semantics, with every matmul batched over the rows), with the corrupted K/V cache of
   positions < t; nested windows resume where the previous one stopped; restorations at
   t < subject_begin change nothing and score exactly low. The logits of the last position are
   computed for many restorations at once (one pass over wte for up to 64 rows). opts.plain = 1
   runs one full fe_forward per restoration instead: the reference the tests compare the fast
   path with (they agree to ~1e-10).
   Results do not depend on the thread count.

   Memory: three states of `samples` rows x T positions (clean, corrupted, work) plus a 64 x V
   buffer of logits; the plain path a fourth state.

   Errors: fe_err_arg (NULL model/tokens/result, empty subject span, samples or window < 1, noise
   <= 0 or non-finite without explicit noise, kinds mask empty or unknown), fe_err_range (T < 1 or
   T beyond the model's context, subject span or sever token outside the prompt, token id or answer
   outside the vocabulary), fe_err_nomem, fe_err_limit (size overflow). The result is left zeroed
   on failure, so fe_trace_result_free is always safe. */
typedef enum fe_trace_kind {
    fe_trace_hidden = 0,   /* block output: the residual stream (fe_site_resid)       */
    fe_trace_mlp = 1,      /* MLP output after c_proj, windowed                        */
    fe_trace_attn = 2,     /* attention output after c_proj, windowed                  */
    fe_trace_kind_count
} fe_trace_kind;
#define FACTEDIT_TRACE_HIDDEN (1u << fe_trace_hidden)
#define FACTEDIT_TRACE_MLP (1u << fe_trace_mlp)
#define FACTEDIT_TRACE_ATTN (1u << fe_trace_attn)
#define FACTEDIT_TRACE_ALL (FACTEDIT_TRACE_HIDDEN | FACTEDIT_TRACE_MLP | FACTEDIT_TRACE_ATTN)

/* The module whose outputs a severed trace freezes at their corrupted values. */
typedef enum fe_sever {
    fe_sever_none = 0,     /* nothing frozen: plain hidden restoration   */
    fe_sever_mlp = 1,      /* MLP outputs at t in every layer            */
    fe_sever_attn = 2,     /* attention outputs at t in every layer      */
    fe_sever_count
} fe_sever;
#define FACTEDIT_SEVER_NONE (1u << fe_sever_none)
#define FACTEDIT_SEVER_MLP (1u << fe_sever_mlp)
#define FACTEDIT_SEVER_ATTN (1u << fe_sever_attn)
#define FACTEDIT_SEVER_ALL (FACTEDIT_SEVER_NONE | FACTEDIT_SEVER_MLP | FACTEDIT_SEVER_ATTN)

typedef struct fe_trace_opts {
    int samples;                  /* corrupted rows (>= 1; ROME: 10) */
    int window;                   /* layers restored together for mlp/attn (>= 1; ROME: 10) */
    float noise;                  /* absolute std of the noise (> 0 unless explicit_noise) */
    uint64_t seed;                /* seeds the noise when rng is NULL */
    fe_rng *rng;                  /* NULL: a generator seeded with `seed`; else draws advance it */
    int answer;                   /* token to score; < 0: the clean run's argmax. NB: 0 is a token */
    const float *explicit_noise;  /* [samples][subject_end - subject_begin][C] or NULL */
    int plain;                    /* 1: full forward per restoration (reference path) */
} fe_trace_opts;

/* samples 10, window 10, answer -1 (argmax), noise 0 (set it: e.g. 3 * fe_embedding_std). */
FACTEDIT_API fe_trace_opts fe_trace_opts_default(void);

typedef struct fe_trace_result {
    int T, L;                     /* prompt length, layers */
    size_t subject_begin, subject_end;
    int token;                    /* fe_trace_sever: the restored token; fe_trace: -1 */
    int answer;                   /* the scored token */
    int samples, window;
    double high;                  /* answer probability in the clean run */
    double low;                   /* mean answer probability of the corrupted rows, nothing restored */
    /* fe_trace: scores[kind] = [T, L] row-major (scores[kind][t * L + l]), NULL if not requested.
       fe_trace_sever: scores[sever] = [L], NULL if not requested. Mean answer probabilities. */
    float *scores[3];
    void *alloc_user;             /* allocator of scores (the model's) */
} fe_trace_result;

/* The grid: kinds is a mask of FACTEDIT_TRACE_*. On success *out owns its scores (fe_trace_result_free). */
FACTEDIT_API fe_result fe_trace(const fe_model *m, const int *tokens, int T, size_t subject_begin, size_t subject_end,
                                unsigned kinds, const fe_trace_opts *opts, fe_trace_result *out, fe_error *err);
/* Severed restoration at `token` (< 0: the subject's last token, subject_end - 1; the paper's
   choice). severs is a mask of FACTEDIT_SEVER_*; opts.window is not used. */
FACTEDIT_API fe_result fe_trace_sever(const fe_model *m, const int *tokens, int T, size_t subject_begin,
                                      size_t subject_end, int token, unsigned severs, const fe_trace_opts *opts,
                                      fe_trace_result *out, fe_error *err);
FACTEDIT_API void fe_trace_result_free(fe_trace_result *r);   /* frees the scores, zeroes *r; NULL ok */

/* Standard deviation over every element of the wte rows of `tokens` (n ids: concatenate the token
   ids of many subjects), with Bessel's correction like torch.std: ROME's collect_embedding_std.
   ROME corrupts with noise = 3 * this. Needs n * C >= 2. */
FACTEDIT_API fe_result fe_embedding_std(const fe_model *m, const int *tokens, size_t n, double *std, fe_error *err);

/* ======================================================== >>api-rome-glue ===================== */
/* ROME glue: everything around the ROME math that users need: context templates, text-level
   requests, layer defaults, key-covariance statistics files, edit patch files and ROME's
   CounterFact metrics.

   Context templates (ROME's get_context_templates, rome/rome_main.py)
   - "{}" plus generated prefixes: for each (length, count) group, `count` samples of `length`
     tokens in all, the first being <|endoftext|> (ROME's generate_fast: max_out_len counts the
     prompt), drawn with top-k 5 at temperature 1 from the caller's fe_rng. The decoded text
     (the <|endoftext|> prompt included) gets ROME's clean-up: "\n\n" -> " ", every
     "<|endoftext|>" removed; then ROME's x.replace("{", "").replace("}", "") + ". {}".
     fe_templates_rome uses ROME's length_params [[5, 10], [10, 10]]: 21 templates.
     Not done: ROME's unicodedata NFKD normalisation (it changes only non-ASCII text).
   - User templates: any strings with exactly one "{}" (other braces are literal text).

   Text requests (ROME's compute_u / compute_v on one request)
   - prompt: a template with exactly one "{}" that the subject fills ("{} is located in"), or a
     plain text that contains the subject (its first occurrence, as ROME's str.index, becomes
     the "{}"). A prompt with two or more "{}" is refused.
   - target: the new object; a leading space is added when it has none (ROME's execute_rome).
   - For every context template t: text_t = t with "{}" replaced by prompt(subject), encoded as ONE
     string (as ROME's tokenizer call: a prefixed prompt's first token is " The", the bare one's
     "The", so the rows are not prefix tokens + shared prompt tokens); lookup = the token holding
     the subject's last byte (ROME's subject_last), found from the template's "{}" position, not
     by searching (so a subject that also occurs in the prefix is not confused).
     keys[i] = text_t (k* = mean key at the lookups); rows[i] = text_t + target[:-1] (the value
     objective's rewriting prompts); bare = prompt(subject) (cur_input / cur_output);
     kl = subject + " is a" (ROME's KL prompt), lookup = the subject's last token.
   - A context whose row does not fit the model's context is dropped (n_dropped counts them);
     the bare prompt + target must fit (else fe_err_arg).
   - fe_rome_compute_rows is fe_rome_compute on these rows (same steps, same numbers: on rows
     built as prefix tokens + shared prompt tokens it returns bit-identical u, v*, right).

   Layer (fe_rome_default_layer)
   - ROME's published hparams for GPT-2 shapes: medium (L=24, C=1024) 8, large (L=36, C=1280) 12,
     XL (L=48, C=1600) 17. Any other shape: round(L / 3) = (L + 1) / 3 (ROME's medium and large are
     exactly L/3), at most L - 2 (the edit acts at the subject's last token; only the attention of a
     later block carries it to the last token, so editing the last block does nothing unless the
     subject ends the prompt), and 0 for one layer. The paper's rule is the layer where the MLP's indirect effect at
     the subject's last token peaks (a causal trace); pass that layer explicitly when you have it.
     fe_rome_hparams_for = fe_rome_hparams_default with this layer.

   Key statistics file (little-endian; written atomically; every field checked on load)
       0  "FESTATS\0"          8  u32 version = 1       12 u32 header bytes = 64
       16 u64 model checksum (fe_model_checksum of the weights the keys came from)
       24 i32 layer            28 i32 dim = 4C          32 i32 model layers   36 i32 model width C
       40 u64 token count      48 u32 storage = 1 (upper triangle, row-major)  52 u32 zero
       56 u64 FNV-1a 64 of the payload (fe_fnv1a64 from FACTEDIT_FNV1A64_INIT)
       64 payload: dim (dim + 1) / 2 float64: the upper triangle of sum k k^T (not divided)
   The file length must be exactly 64 + 8 dim (dim + 1) / 2. Loading for a model refuses another
   model's statistics (fe_err_mismatch naming both checksums), another shape, a layer outside it.
   Corrupt files: fe_err_format (bad magic, truncated or too long, payload hash, NaN/Inf, a
   negative diagonal, zero tokens, dim != 4C); fe_err_unsupported (version, storage).

   Edit patch file (little-endian; written atomically; every field checked on load)
       0  "FEPATCH\0"          8  u32 version = 1       12 u32 header bytes = 152
       16 u64 model checksum (the weights the edit was computed for and applies to)
       24 i32 layer            28 i32 C                 32 i32 model layers
       36 u32 prompt bytes     40 u32 subject bytes     44 u32 target bytes
       48 i32 iters, evals, status, cg_iters (the solver's report)
       64 f64 first.loss, nll, kl, wd    96 f64 last.loss, nll, kl, wd   128 f64 delta_norm, clamp
       144 u64 FNV-1a 64 of the payload (fe_fnv1a64 from FACTEDIT_FNV1A64_INIT)
       152 payload: f32 u[4C], f32 right[C], f32 vstar[C], then the prompt, subject and target
           bytes (UTF-8, no NUL)
   fe_patch_apply (and fe_patch_load_mem / _file with a model) refuses a model whose current
   weights are not the ones the patch was made for (fe_err_mismatch naming both checksums): a
   patch applies to the freshly loaded model, once.

   CounterFact evaluation (ROME's experiments/py/eval_utils_counterfact.py + summarize.py)
   - Dataset: a JSON array of cases {case_id, requested_rewrite {prompt (one "{}"), subject,
     target_new {str}, target_true {str}}, paraphrase_prompts [...], neighborhood_prompts [...]}
     (other members ignored). Every field is checked; errors name the case and the field.
   - For each prompt p and target x in {target_new, target_true}: the mean per-token NLL of
     " " + x after p (tokens of p, then of " " + x, as ROME's test_batch_prediction).
   - Per case: ES = fraction of rewrite prompts with NLL(new) < NLL(true); PS the same over the
     paraphrases; NS = fraction of neighbourhood prompts with NLL(true) < NLL(new);
     EM, PM = mean of exp(-NLL(new)) - exp(-NLL(true)); NM = mean of exp(-NLL(true)) -
     exp(-NLL(new)). A case without paraphrases (neighbours) has PS, PM (NS, NM) = NaN and is left
     out of those means.
   - fe_cf_eval_case: scores before, ROME edit (target_new, leading space added as in the edit),
     scores after, undo (bit-exact: the layer's saved matrix is copied back).
   - fe_cf_summarize: the mean over cases of each metric, 95% CI = fe_ci95 = 1.96 sd / sqrt(n)
     (sample sd, normal approximation; NaN when n < 2); Score = harmonic mean of the ES, PS, NS means, its CI
     by the delta method over the cases that have all three.

   All functions: no global state, no printing; thread-safe on distinct objects. */

/* ---- context templates ---- */
typedef struct fe_templates {
    int n;              /* number of templates */
    char **text;        /* n NUL-terminated strings, each with exactly one "{}" */
    void *alloc_user;
} fe_templates;

/* Copies n user templates (each must hold exactly one "{}"; fe_err_arg names the bad one). */
FACTEDIT_API fe_result fe_templates_from_list(fe_templates **out, const char *const *texts, int n, void *alloc_user,
                                              fe_error *err);
/* "{}" + for each group g: counts[g] samples of lengths[g] tokens (<|endoftext|> + lengths[g]-1
   sampled, top-k 5; capped by the model's context) turned into "PREFIX. {}". */
FACTEDIT_API fe_result fe_templates_generate(fe_templates **out, const fe_model *m, const fe_vocab *v,
                                             const int *lengths, const int *counts, int groups, fe_rng *rng,
                                             fe_error *err);
/* ROME's: "{}" + 10 of 5 tokens + 10 of 10 tokens. */
FACTEDIT_API fe_result fe_templates_rome(fe_templates **out, const fe_model *m, const fe_vocab *v, fe_rng *rng,
                                         fe_error *err);
FACTEDIT_API void fe_templates_free(fe_templates *t);

/* ---- text-level requests ---- */
typedef struct fe_text_request {
    const char *prompt;     /* "{} is located in the city of", or a text containing the subject */
    const char *subject;    /* "The Space Needle" */
    const char *target;     /* " Paris" (a leading space is added when missing) */
} fe_text_request;

typedef struct fe_rome_rows {
    int n_ctx;              /* contexts used */
    int n_dropped;          /* contexts dropped: their row exceeded the model's context */
    fe_rome_prompt *keys;   /* n_ctx: context(prompt(subject)), lookup = the subject's last token */
    fe_rome_prompt *rows;   /* n_ctx: keys[i] + target[:-1]: the value objective's prompts */
    fe_rome_prompt bare;    /* prompt(subject) and its lookup: cur_input / cur_output */
    fe_rome_prompt kl;      /* subject + " is a", lookup = the subject's last token */
    int *target; int n_target;
    char *text;             /* prompt(subject), NUL-terminated */
    char *target_text;      /* the target with its leading space */
    char *template_text;    /* the prompt as a template (one "{}") */
    void *alloc_user;
    int **fe__bufs; int fe__nbufs;   /* private: owned token buffers */
} fe_rome_rows;

/* Tokenizes a request for a model (ctx NULL: the "{}" template alone). Errors (fe_err_arg, the
   message names the problem): NULL/empty subject, prompt or target; a prompt with two or more
   "{}"; a prompt without "{}" that does not contain the subject; the bare prompt + target longer
   than the model's context. fe_err_mismatch: a token id outside the model's vocabulary. */
FACTEDIT_API fe_result fe_rome_rows_new(fe_rome_rows **out, const fe_model *m, const fe_vocab *v,
                                        const fe_text_request *q, const fe_templates *ctx, fe_error *err);
FACTEDIT_API void fe_rome_rows_free(fe_rome_rows *r);
/* ROME end to end on the rows: k*, u (cov may be NULL: u = k* / |k*|), v*, right. Not applied. */
FACTEDIT_API fe_result fe_rome_compute_rows(const fe_model *m, const fe_rome_rows *r, const fe_rome_hparams *hp,
                                            const fe_cov *cov, fe_edit **out, fe_error *err);

/* ---- layer defaults ---- */
FACTEDIT_API int fe_rome_default_layer(const fe_config *c);
FACTEDIT_API void fe_rome_hparams_for(fe_rome_hparams *hp, const fe_model *m);

/* ---- key statistics ---- */
typedef void (*fe_stats_progress_fn)(void *user, size_t done, size_t total);
typedef struct fe_stats_info {
    int version, layer, dim, num_layers, channels;
    uint64_t model_checksum;
    uint64_t count;         /* tokens */
} fe_stats_info;

/* C = sum k k^T over every position of the token stream cut into sequences of seq_len tokens
   (<= 0: min(context, 256)); the last sequence may be shorter. Only layers <= layer run. */
FACTEDIT_API fe_result fe_stats_compute(fe_cov **out, const fe_model *m, int layer, const int *tokens, size_t n,
                                        int seq_len, fe_stats_progress_fn progress, void *progress_user, fe_error *err);
/* The same for `count` consecutive layers from one pass over the tokens (a layer sweep):
   out[i] (count pointers) receives layer first + i's statistics, bit-identical to
   fe_stats_compute of that layer. Only layers <= first + count - 1 run. */
FACTEDIT_API fe_result fe_stats_compute_layers(fe_cov **out, const fe_model *m, int first, int count,
                                               const int *tokens, size_t n, int seq_len,
                                               fe_stats_progress_fn progress, void *progress_user, fe_error *err);
/* model_checksum: fe_model_checksum of the weights the keys came from. */
FACTEDIT_API fe_result fe_stats_save_mem(const fe_cov *c, int layer, const fe_model *m, uint64_t model_checksum,
                                         unsigned char **bytes, size_t *len, fe_error *err);
/* Checks every field; with m != NULL also the model (shape, layer, checksum == fe_model_checksum(m)).
   info may be NULL. *out uses m's allocator (or alloc_user's when m is NULL). */
FACTEDIT_API fe_result fe_stats_load_mem(fe_cov **out, fe_stats_info *info, const void *bytes, size_t len,
                                         const fe_model *m, void *alloc_user, fe_error *err);
#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_stats_save_file(const char *path, const fe_cov *c, int layer, const fe_model *m,
                                          uint64_t model_checksum, fe_error *err);
FACTEDIT_API fe_result fe_stats_load_file(fe_cov **out, fe_stats_info *info, const char *path, const fe_model *m,
                                          void *alloc_user, fe_error *err);
#endif

/* ---- edit patches ---- */
typedef struct fe_patch {
    fe_edit *edit;             /* u, right, vstar, layer, report; not applied */
    uint64_t model_checksum;   /* of the weights the edit applies to */
    int num_layers;            /* of that model */
    char *prompt, *subject, *target;   /* the request (NUL-terminated; may be "") */
    void *alloc_user;
} fe_patch;

/* Serializes p (p->edit, model_checksum, num_layers and the three texts; NULL texts = ""). */
FACTEDIT_API fe_result fe_patch_save_mem(const fe_patch *p, unsigned char **bytes, size_t *len, void *alloc_user,
                                         fe_error *err);
/* Checks every field; with m != NULL also that the patch is for m's current weights. */
FACTEDIT_API fe_result fe_patch_load_mem(fe_patch **out, const void *bytes, size_t len, const fe_model *m,
                                         void *alloc_user, fe_error *err);
/* Checks shape and checksum against m's current weights, then fe_edit_apply (undo: fe_edit_undo(m, p->edit)). */
FACTEDIT_API fe_result fe_patch_apply(fe_model *m, fe_patch *p, fe_error *err);
FACTEDIT_API void fe_patch_free(fe_patch *p);
#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_patch_save_file(const char *path, const fe_patch *p, fe_error *err);
FACTEDIT_API fe_result fe_patch_load_file(fe_patch **out, const char *path, const fe_model *m, void *alloc_user,
                                          fe_error *err);
#endif

/* ---- CounterFact ---- */
typedef struct fe_cf_case {
    int case_id;
    const char *prompt, *subject, *target_new, *target_true;   /* prompt holds one "{}" */
    const char *const *paraphrases; int n_paraphrases;
    const char *const *neighbors; int n_neighbors;
} fe_cf_case;
typedef struct fe_cf_set fe_cf_set;

FACTEDIT_API fe_result fe_cf_load_mem(fe_cf_set **out, const char *json, size_t len, void *alloc_user, fe_error *err);
#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_cf_load_file(fe_cf_set **out, const char *path, void *alloc_user, fe_error *err);
#endif
FACTEDIT_API size_t fe_cf_count(const fe_cf_set *s);
FACTEDIT_API const fe_cf_case *fe_cf_at(const fe_cf_set *s, size_t i);   /* NULL if out of range */
FACTEDIT_API void fe_cf_free(fe_cf_set *s);

enum {
    fe_cf_metric_es,
    fe_cf_metric_em,
    fe_cf_metric_ps,
    fe_cf_metric_pm,
    fe_cf_metric_ns,
    fe_cf_metric_nm,
    fe_cf_metric_score,
    fe_cf_metric_count
};
typedef struct fe_cf_scores { double es, em, ps, pm, ns, nm; } fe_cf_scores;   /* NaN: no such prompts */
typedef struct fe_cf_result {
    int case_id;
    fe_cf_scores pre, post;
    fe_rome_report report;   /* the edit's solver report */
    int n_ctx;               /* context templates used */
} fe_cf_result;
typedef struct fe_cf_summary {
    double mean[fe_cf_metric_count], ci95[fe_cf_metric_count];
    int n[fe_cf_metric_count];
} fe_cf_summary;

/* Mean per-token NLL of target after prompt: nll[i] for n pairs (prompts[i], targets[i]); the
   target text is used as given (ROME's metrics pass " " + str). */
FACTEDIT_API fe_result fe_target_nll(const fe_model *m, const fe_vocab *v, const char *const *prompts,
                                     const char *const *targets, int n, double *nll, fe_error *err);
/* The metrics of one case on the model as it is now. */
FACTEDIT_API fe_result fe_cf_score(const fe_model *m, const fe_vocab *v, const fe_cf_case *c, fe_cf_scores *out,
                                   fe_error *err);
/* pre scores, ROME edit of (prompt, subject, target_new), post scores, undo. The model is
   unchanged afterwards (also on failure). */
FACTEDIT_API fe_result fe_cf_eval_case(fe_model *m, const fe_vocab *v, const fe_cf_case *c, const fe_templates *ctx,
                                       const fe_rome_hparams *hp, const fe_cov *cov, fe_cf_result *out, fe_error *err);
FACTEDIT_API void fe_cf_summarize(const fe_cf_scores *s, size_t n, fe_cf_summary *out);
FACTEDIT_API const char *fe_cf_metric_name(int k);   /* "ES", "EM", ..., "Score" */

/* ---- means and 95% intervals over a dataset ----
   The one interval the library and the tools report: mean +- fe_ci95(n, sd) = 1.96 sd / sqrt(n),
   sd the sample standard deviation (n - 1 in the denominator), normal approximation; NaN when
   n < 2. fe_cf_summarize has every case at hand and takes two passes (mean, then squared
   deviations); fe_running takes values one at a time (Welford's update), for averages over data
   computed as it goes: `factedit trace --dataset`'s effects per token bucket and layer, fact by
   fact (tools/trace_dataset.c). */
typedef struct fe_running {
    double n, mean, m2;   /* count, mean, sum of squared deviations from the mean; all 0 to start */
} fe_running;
FACTEDIT_API void fe_running_add(fe_running *r, double x);
FACTEDIT_API double fe_sample_sd(double n, double ss);   /* sqrt(ss / (n - 1)), ss < 0 as 0; NaN when n < 2 */
FACTEDIT_API double fe_ci95(double n, double sd);        /* 1.96 sd / sqrt(n), the half-width; NaN when n < 2 */

/* ======================================================== >>api-many-edits ==================== */
/* Many edits: MEMIT batches (Meng et al., ICLR 2023), AlphaEdit's null-space guard (Fang et al.,
   ICLR 2025), sequential editing with an edit log that undoes any suffix bit for bit, and the
   model's health. Built on the ROME machinery: the value objective and its solvers (>>api-rome),
   fe_cov statistics, the rank-one update of fcprojw.

   Layouts: keys K are N rows of 4C floats (one per request; the paper's K is 4C x N), residuals
   R and targets Z are N rows of C; an update is dW = sum_n R[n] (x) X[n], X N rows of 4C, added
   to fcprojw ([out, in] = [C, 4C]) as N rank-one updates in float, in order (fe_edit_apply's
   arithmetic), so that replaying a log reproduces the weights exactly.

   MEMIT (kmeng01/memit's execute_memit), layers first..last (z_layer = last):
   - z per request: the value objective of >>api-rome at layer `last` with delta added to the
     block output (the residual stream) at the lookups, target_init = that block output at row
     0's lookup (MEMIT's compute_z; clamp and weight decay relative to it): Z = target_init + delta.
   - then for l = first..last on the model as edited so far: K = per request the weighted mean
     of the key (mlp.c_proj input) at the lookups of its key prompts (compute_ks; weights give
     MEMIT's mean over context types of the mean over each type's prefixes); R = (Z - block
     `last`'s output at the bare prompts' lookups) / (last - l + 1); X = solve(lambda C + K^T K,
     K^T)^T (Cholesky of the 4C x 4C matrix in double; no inverse), C = m2 / count + cov_ridge I;
     dW applied before the next layer. The Gram K^T K, the Cholesky factorisation (right-looking,
     blocked) and the triangular solves for the n keys are a packed double GEMM plus small
     triangles, over the OpenMP threads; results do not depend on the thread count.
   AlphaEdit (hp.alphaedit = 1): P = U U^T, U = the eigenvectors of C (fe_eigh: Householder
   tridiagonalisation + implicit QL, double) with eigenvalue < null_threshold, computed once from
   the unedited model's statistics. Per batch the same z and per-layer K, R; the update is
   dW^T = solve(P (K^T K + cache_l) + l2 I, P K^T R). Its solution lies in P's range, so it is
   computed as U (U^T (K^T K + cache_l) U + l2 I)^-1 U^T K^T R: a symmetric positive definite
   system of the null space's dimension, by Cholesky (the same solution, a smaller and
   symmetric matrix). After the batch, cache_l += K^T K with K recomputed on the edited model.
   dW vanishes on C's large-eigenvalue directions (preserved keys) by construction.

   Sequential editing (fe_many): a state made from the unedited model holds the statistics, P,
   AlphaEdit's caches, a copy of every edited layer's fcprojw (W0) and the log of applied batches
   (per batch and layer: K, R, X, and AlphaEdit's post-batch keys). fe_many_undo(k) checks that
   the edited layers are exactly what the log left (hash), copies W0 back and replays the first
   count - k batches (the same float operations in the same order: bit-exact), and rebuilds the
   caches the same way. A batch that fails leaves the model and the log as they were.

   Hostile input (fe_err_arg, fe_err_range, fe_err_numeric; nothing applied): no requests; a
   request without rows, keys or target, or whose lookups fall outside its prompts; two requests
   with the same subject key (identical bare-prompt tokens up to the lookup: the same key asked
   for two values); layers outside the model or first > last; statistics of the wrong dimension;
   a singular lambda C + K^T K (a zero covariance without ridge: add cov_ridge).

   Health (fe_health_*): per edited layer |W - W0|_F / |W0|_F and the largest singular values of
   W and W0 (power iteration on W^T W from a fixed seed, 100 steps); the mean per-token NLL of
   probe texts; generation entropy GE (ROME's n_gram_entropy: for each probe prompt, its greedy
   continuation of gen_len tokens with the prompt, the entropies in bits H2, H3 of its bigram and
   trigram frequencies, (2/3 H2 + 4/3 H3) / 2, averaged over prompts; ROME counts nltk words, we
   count model tokens). fe_health_warn flags collapse against the unedited model's values. */

typedef struct fe_memit_request {
    const fe_rome_prompt *rows; int n_rows;   /* z objective: context + prompt + target[:-1], lookup = subject's last token */
    const int *target; int n_target;          /* the new object's tokens */
    const fe_rome_prompt *kl;                 /* subject + " is a" (MEMIT's KL prompt), or NULL */
    const fe_rome_prompt *keys; int n_keys;   /* key prompts: context + prompt, lookup = subject's last token */
    const float *key_weights;                 /* n_keys weights summing to 1, or NULL: 1 / n_keys each */
    fe_rome_prompt bare;                      /* the prompt alone: where R is measured */
} fe_memit_request;

/* A request from ROME's text rows (>>api-rome-glue). weights: NULL (the plain mean over the
   contexts) or r->n_ctx floats that receive MEMIT's two context types: context 0 (the "{}" of
   fe_templates_rome) weighs 1/2, the generated ones share the other 1/2. */
FACTEDIT_API void fe_memit_request_from_rows(fe_memit_request *q, const fe_rome_rows *r, float *weights);

typedef struct fe_memit_hparams {
    int layer_first, layer_last;   /* edited layers; z at layer_last */
    double lambda;                 /* mom2_update_weight (MEMIT on GPT-2 XL: 20000) */
    double cov_ridge;              /* C = m2 / count + cov_ridge I */
    int alphaedit;                 /* 0: MEMIT's update; 1: AlphaEdit's projected update */
    double null_threshold;         /* AlphaEdit: eigenvalues of C below it span P (AlphaEdit: 2e-2) */
    double l2;                     /* AlphaEdit: the ridge of its system (AlphaEdit: 10) */
    fe_rome_hparams v;             /* z objective: solver, kl_factor, v_weight_decay, clamp_norm_factor
                                      (MEMIT: 0.75), max_iters; v.layer is ignored */
} fe_memit_hparams;

/* layers: fe_rome_default_layer - 2 .. fe_rome_default_layer (clipped to the model), lambda
   20000, cov_ridge 0, null_threshold 2e-2, l2 10, v = fe_rome_hparams_default with
   clamp_norm_factor 0.75. */
FACTEDIT_API void fe_memit_hparams_default(fe_memit_hparams *hp, const fe_model *m);

/* Checks n requests for a model (the hostile-input rules above). */
FACTEDIT_API fe_result fe_memit_check(const fe_model *m, const fe_memit_request *q, int n, fe_error *err);
/* K (n x 4C): each request's weighted mean key at layer `layer`. */
FACTEDIT_API fe_result fe_memit_keys(const fe_model *m, int layer, const fe_memit_request *q, int n, float *K,
                                     fe_error *err);
/* z (n x C): block `layer`'s output at each bare prompt's lookup. */
FACTEDIT_API fe_result fe_memit_zs(const fe_model *m, int layer, const fe_memit_request *q, int n, float *z,
                                   fe_error *err);
/* Z (n x C) = target_init + delta per request by the z objective at hp->layer_last; reps (n, may be
   NULL) receive the solver reports. */
FACTEDIT_API fe_result fe_memit_targets(const fe_model *m, const fe_memit_request *q, int n,
                                        const fe_memit_hparams *hp, float *Z, fe_rome_report *reps, fe_error *err);
/* MEMIT's closed form on given keys: X (n x 4C) = solve(lambda (m2/count + ridge I) + K^T K, K^T)^T
   (d = 4C; multiply-adds: d^2 n / 2 for the Gram, d^3 / 6 for the Cholesky, d^2 n for the two
   triangular solves; PERFORMANCE NOTES). Memory: (d + n) d doubles and 2.3 MB per thread. */
FACTEDIT_API fe_result fe_memit_solve(const fe_cov *cov, double ridge, double lambda, const float *K, int n, float *X,
                                      fe_error *err);
/* Adds the update dW = sum_i R[i] (x) X[i] (R n x C, X n x 4C: fe_memit_solve's X) to layer `layer`'s
   fcprojw as n rank-one updates in float, in order: the same bits as n fe_edit_apply calls with
   right = R[i], u = X[i] (fe_many_edit applies its batches so), done tile by tile over the threads. */
FACTEDIT_API fe_result fe_memit_apply(fe_model *m, int layer, const float *R, const float *X, int n, fe_error *err);
/* Eigen decomposition of a symmetric d x d matrix (row-major; only its lower triangle is read):
   evals ascending, row i of evecs (d x d, may alias nothing) the unit eigenvector of evals[i]. */
FACTEDIT_API fe_result fe_eigh(const double *A, int d, double *evals, double *evecs, void *alloc_user, fe_error *err);

typedef struct fe_many fe_many;
/* A sequential-editing state for model m as it is now (unedited): covs[i] the statistics of layer
   hp->layer_first + i (dim 4C; not copied: keep them alive). AlphaEdit: computes P per layer. */
FACTEDIT_API fe_result fe_many_new(fe_many **out, const fe_model *m, const fe_memit_hparams *hp,
                                   const fe_cov *const *covs, fe_error *err);
FACTEDIT_API void fe_many_free(fe_many *s);
/* One batch of n requests onto the model as it is: Z (n x C) given, or NULL (fe_memit_targets);
   reps (n, may be NULL): the z solver's reports. Applied and logged; on failure nothing changes. */
FACTEDIT_API fe_result fe_many_edit(fe_many *s, fe_model *m, const fe_memit_request *q, int n, const float *Z,
                                    fe_rome_report *reps, fe_error *err);
FACTEDIT_API int fe_many_count(const fe_many *s);   /* batches in the log */
/* Undoes the last k batches bit for bit (fe_err_arg if the model's edited layers changed since). */
FACTEDIT_API fe_result fe_many_undo(fe_many *s, fe_model *m, int k, fe_error *err);
/* Batch b's record at layer `layer`: n requests, K (n x 4C), R (n x C), X (n x 4C); NULL if absent. */
FACTEDIT_API const float *fe_many_record(const fe_many *s, int b, int layer, int *n, const float **R, const float **X);
/* dW (C x 4C, plain row-major [out][in]) of batch b at `layer`, summed in double. */
FACTEDIT_API fe_result fe_many_delta(const fe_many *s, int b, int layer, float *dW, fe_error *err);
/* AlphaEdit's projector P = U U^T of `layer` (4C x 4C; P may be NULL for the rank alone) and its
   rank, the null space's dimension: at most that many new keys can be kept apart; fe_err_arg
   without AlphaEdit. */
FACTEDIT_API fe_result fe_many_projector(const fe_many *s, int layer, float *P, int *rank, fe_error *err);
/* The log as patch files' objects: batch b's rank-one components in order (n of them per edited
   layer, layer by layer), each an fe_patch whose checksum is the model's just before it. Needs the
   model in the state the log left (it replays the log on m from W0 to compute the checksums and
   leaves m as it found it). *out: an array of *count patches (free each, then the array with
   fe_free(arr, alloc_user of m)). */
FACTEDIT_API fe_result fe_many_patches(const fe_many *s, fe_model *m, int b, fe_patch ***out, int *count,
                                       fe_error *err);

/* Health */
typedef struct fe_health_probes {
    const int *const *ids; const int *n; int count;   /* probe texts for the NLL (tokens) */
    const int *const *gen_ids; const int *gen_n; int gen_count;   /* prompts for GE */
    int gen_len;                                      /* tokens generated per prompt (ROME: up to 100) */
} fe_health_probes;
typedef struct fe_health {
    double nll, ge;                  /* probe NLL (nats per token), GE (bits); NaN without probes */
    double rel_fro_max;              /* max over edited layers of |W - W0|_F / |W0|_F */
    double sigma_ratio_max;          /* max over edited layers of sigma_max(W) / sigma_max(W0) */
    int worst_layer;                 /* the layer of rel_fro_max */
} fe_health;
FACTEDIT_API fe_result fe_probe_nll(const fe_model *m, const fe_health_probes *p, double *nll, fe_error *err);
FACTEDIT_API fe_result fe_gen_entropy(const fe_model *m, const fe_health_probes *p, double *ge, fe_error *err);
/* One layer: |W - W0|_F / |W0|_F, sigma_max(W), sigma_max(W0) (W0 = the state's copy). */
FACTEDIT_API fe_result fe_many_layer_health(const fe_many *s, const fe_model *m, int layer, double *rel_fro,
                                            double *sigma, double *sigma0, fe_error *err);
/* Everything above for the model now (p may be NULL: nll, ge NaN). */
FACTEDIT_API fe_result fe_many_health(const fe_many *s, const fe_model *m, const fe_health_probes *p, fe_health *h,
                                      fe_error *err);
/* Collapse warning against the unedited model's h0: a bit set per sign, 0 = healthy.
   1: GE below 0.9 GE0; 2: probe NLL above NLL0 + 0.5 nats; 4: a sigma ratio above 2;
   8: a relative Frobenius change above 0.5. */
FACTEDIT_API int fe_health_warn(const fe_health *h, const fe_health *h0);

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
#include <locale.h>
#include <errno.h>

#if !defined(FACTEDIT_NO_STDIO) && (defined(__unix__) || defined(__APPLE__))
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#if defined(__GLIBC__) && !defined(__USE_POSIX) && !defined(__cplusplus)
extern int kill(pid_t pid, int sig);   /* POSIX; glibc hides it in a strict C build (-std=c99) */
#endif
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

/* Every private function is FACTEDIT__PRIV (static, in every build); private names start fe__
   and FACTEDIT__. */
#define FACTEDIT__PRIV static
/* The tensors a bf16-resident model keeps in bf16: wte, qkvw, attprojw, fcw (not fcprojw: ROME's). */
#define FACTEDIT__H_TENSOR(t) \
    ((t) == fe_tensor_wte || (t) == fe_tensor_qkvw || (t) == fe_tensor_attprojw || (t) == fe_tensor_fcw)
/* Width of the weight panel starting at output row p0 of a panel-layout matrix of `rows` rows. */
#define FACTEDIT__PANEL_W(rows, p0) ((rows) - (p0) < FACTEDIT_WEIGHT_PANEL ? (rows) - (p0) : FACTEDIT_WEIGHT_PANEL)

/* ======================================================== >>impl-util ========================= */

FACTEDIT__PRIV void *fe__malloc(void *u, size_t n) { return FACTEDIT_MALLOC(n ? n : 1, u); }
FACTEDIT__PRIV void *fe__calloc(void *u, size_t n) {
    void *p = fe__malloc(u, n);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}
FACTEDIT__PRIV void *fe__realloc(void *u, void *p, size_t n) { return FACTEDIT_REALLOC(p, n ? n : 1, u); }
FACTEDIT__PRIV void fe__free(void *u, void *p) { if (p) FACTEDIT_FREE(p, u); }
FACTEDIT_API void fe_free(void *p, void *alloc_user) { fe__free(alloc_user, p); }
FACTEDIT_API void *fe_malloc(size_t n, void *alloc_user) { return fe__malloc(alloc_user, n); }

/* a*b and a+b with overflow check: 0 on overflow. */
FACTEDIT__PRIV int fe__mul(size_t a, size_t b, size_t *out) {
    if (a && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}
FACTEDIT__PRIV int fe__add(size_t a, size_t b, size_t *out) {
    if (b > (size_t)-1 - a) return 0;
    *out = a + b;
    return 1;
}
FACTEDIT__PRIV int fe__mul3(size_t a, size_t b, size_t c, size_t *out) {
    size_t t;
    return fe__mul(a, b, &t) && fe__mul(t, c, out);
}

/* Every error path: fe__fail is the library's own name for fe_error_set. */
#define fe__fail fe_error_set
FACTEDIT_API fe_result fe_error_set(fe_error *err, fe_result code, const char *fmt, ...) {
    va_list ap;
    if (!err) return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
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

/* ---- little-endian fields, byte by byte (any alignment, any host): every file format's ---- */
FACTEDIT__PRIV uint16_t fe__rd16le(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
FACTEDIT__PRIV uint32_t fe__rd32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
FACTEDIT__PRIV uint64_t fe__rd64le(const unsigned char *p) {
    return (uint64_t)fe__rd32le(p) | (uint64_t)fe__rd32le(p + 4) << 32;
}
FACTEDIT__PRIV int32_t fe__rdi32le(const unsigned char *p) {
    uint32_t u = fe__rd32le(p);
    int32_t i;
    memcpy(&i, &u, 4);
    return i;
}
FACTEDIT__PRIV float fe__rdf32le(const unsigned char *p) {
    uint32_t u = fe__rd32le(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
FACTEDIT__PRIV double fe__rdf64le(const unsigned char *p) {
    uint64_t u = fe__rd64le(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}
FACTEDIT__PRIV void fe__wr16le(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
FACTEDIT__PRIV void fe__wr32le(unsigned char *p, uint32_t v) {
    fe__wr16le(p, (uint16_t)v);
    fe__wr16le(p + 2, (uint16_t)(v >> 16));
}
FACTEDIT__PRIV void fe__wr64le(unsigned char *p, uint64_t v) {
    fe__wr32le(p, (uint32_t)v);
    fe__wr32le(p + 4, (uint32_t)(v >> 32));
}
FACTEDIT__PRIV void fe__wrf32le(unsigned char *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    fe__wr32le(p, u);
}
FACTEDIT__PRIV void fe__wrf64le(unsigned char *p, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    fe__wr64le(p, u);
}

/* ---- hashing ---- */
FACTEDIT_API uint64_t fe_fnv1a64(uint64_t h, const void *bytes, size_t n) {
    const unsigned char *p = (const unsigned char *)bytes;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;   /* the 64-bit FNV prime, 0x100000001b3 */
    return h;
}
/* splitmix64's finalizer: spreads every input bit over the output (seeds, hash-table keys). */
FACTEDIT__PRIV uint64_t fe__mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* A fast hash of floats as 32-bit words (a multiply-xorshift per word, not FNV): the model
   checksum's weights, and an applied edit's matrix. Bit patterns, so -0 != 0 and NaNs count. */
FACTEDIT__PRIV uint64_t fe__hash_words(uint64_t h, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        h = (h ^ u) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return h;
}

FACTEDIT__PRIV char *fe__strndup(void *u, const char *s, size_t n) {
    char *p = (char *)fe__malloc(u, n + 1);
    if (p) {
        if (n) memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}
FACTEDIT__PRIV int fe__little_endian(void) {
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* ======================================================== >>impl-json ========================= */

/* Arena block: header, then cap bytes of data. The header is padded to 16 bytes so data
   inherits malloc's alignment (nodes hold doubles and pointers). */
typedef struct fe__jblock { struct fe__jblock *next; size_t cap, used; } fe__jblock;
#define FACTEDIT__JHDR ((sizeof(fe__jblock) + 15) & ~(size_t)15)

struct fe_json {
    void *user;
    fe__jblock *blocks;   /* blocks->... : the head is the one currently being filled */
    size_t next_cap;      /* size of the next ordinary block (doubles, capped at 64 MB) */
    fe_json_value *root;
};

FACTEDIT__PRIV void *fe__json_alloc(fe_json *d, size_t n, size_t align) {
    fe__jblock *b = d->blocks;
    size_t cap;
    if (b) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (off <= b->cap && n <= b->cap - off) { b->used = off + n; return (unsigned char *)b + FACTEDIT__JHDR + off; }
    }
    if (n > d->next_cap / 2) {  /* big request (a long string, a 50k-member object): own block */
        if (!fe__add(n, FACTEDIT__JHDR, &cap)) return NULL;
        b = (fe__jblock *)fe__malloc(d->user, cap);
        if (!b) return NULL;
        b->cap = n; b->used = n;
        /* link behind the head so the head keeps filling its free space */
        if (d->blocks) {
            b->next = d->blocks->next;
            d->blocks->next = b;
        } else {
            b->next = NULL;
            d->blocks = b;
        }
        return (unsigned char *)b + FACTEDIT__JHDR;
    }
    b = (fe__jblock *)fe__malloc(d->user, FACTEDIT__JHDR + d->next_cap);
    if (!b) return NULL;
    b->cap = d->next_cap;
    b->used = n;
    b->next = d->blocks;
    d->blocks = b;
    if (d->next_cap < ((size_t)1 << 26)) d->next_cap *= 2;
    return (unsigned char *)b + FACTEDIT__JHDR;
}

typedef struct fe__jp {
    const unsigned char *s; size_t n, i;   /* input and cursor */
    fe_json *doc; fe_error *err;
    fe_json_value *stk; size_t top, cap;   /* values of the open containers, moved to the arena on close */
} fe__jp;

FACTEDIT__PRIV fe_result fe__jp_fail(fe__jp *p, fe_result code, const char *what) {
    if (p->i >= p->n)
        return fe__fail(p->err, code, "json: %s at byte offset %lu (end of input)", what, (unsigned long)p->i);
    if (p->s[p->i] >= 0x20 && p->s[p->i] < 0x7f)
        return fe__fail(p->err, code, "json: %s at byte offset %lu ('%c')", what, (unsigned long)p->i, p->s[p->i]);
    return fe__fail(p->err, code, "json: %s at byte offset %lu (byte 0x%02x)", what, (unsigned long)p->i, p->s[p->i]);
}

FACTEDIT__PRIV void fe__jp_ws(fe__jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

FACTEDIT__PRIV int fe__jp_hex4(const unsigned char *s) {
    int v = 0, k;
    for (k = 0; k < 4; k++) {
        int c = s[k], d = (c >= '0' && c <= '9')   ? c - '0'
                          : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                          : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                   : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* String at p->i (the opening quote) -> decoded, NUL-terminated copy in the arena. */
FACTEDIT__PRIV fe_result fe__jp_string(fe__jp *p, const char **out, size_t *out_len) {
    size_t start = p->i + 1, j = start, len = 0;
    int escaped = 0;
    char *o;
    /* pass 1: find the closing quote; the decoded string is never longer than the raw one */
    while (j < p->n && p->s[j] != '"') {
        if (p->s[j] == '\\') { escaped = 1; j += 2;
        } else if (p->s[j] < 0x20) {
            p->i = j;
            return fe__jp_fail(p, fe_err_format, "unescaped control character in string");
        } else j++;
    }
    if (j >= p->n) return fe__jp_fail(p, fe_err_format, "unterminated string starting");
    o = (char *)fe__json_alloc(p->doc, j - start + 1, 1);
    if (!o)
        return fe__fail(p->err, fe_err_nomem, "json: out of memory for a %lu-byte string", (unsigned long)(j - start));
    if (!escaped) { memcpy(o, p->s + start, j - start); len = j - start; }
    else {
        size_t k = start;
        while (k < j) {
            unsigned c = p->s[k];
            if (c != '\\') { o[len++] = (char)c; k++; continue; }
            p->i = k;  /* error offsets point at the backslash */
            c = p->s[k + 1];
            k += 2;
            switch (c) {
            case '"': o[len++] = '"'; break;
            case '\\': o[len++] = '\\'; break;
            case '/': o[len++] = '/'; break;
            case 'b': o[len++] = '\b'; break;
            case 'f': o[len++] = '\f'; break;
            case 'n': o[len++] = '\n'; break;
            case 'r': o[len++] = '\r'; break;
            case 't': o[len++] = '\t'; break;
            case 'u': {
                long cp;
                int h = (k + 4 <= j) ? fe__jp_hex4(p->s + k) : -1;
                if (h < 0) return fe__jp_fail(p, fe_err_format, "bad \\u escape (need 4 hex digits)");
                k += 4; cp = h;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fe__jp_fail(p, fe_err_format, "unpaired low surrogate in \\u escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {  /* UTF-16 pair: \uD83D\uDE00 -> U+1F600 */
                    int lo = (k + 6 <= j && p->s[k] == '\\' && p->s[k + 1] == 'u') ? fe__jp_hex4(p->s + k + 2) : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fe__jp_fail(p, fe_err_format, "unpaired high surrogate in \\u escape");
                    k += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp < 0x80) o[len++] = (char)cp;
                else if (cp < 0x800) { o[len++] = (char)(0xC0 | (cp >> 6)); o[len++] = (char)(0x80 | (cp & 0x3F)); }
                else if (cp < 0x10000) {
                    o[len++] = (char)(0xE0 | (cp >> 12));
                    o[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    o[len++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    o[len++] = (char)(0xF0 | (cp >> 18)); o[len++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    o[len++] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[len++] = (char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default: return fe__jp_fail(p, fe_err_format, "bad escape in string");
            }
        }
    }
    o[len] = 0;
    p->i = j + 1;
    *out = o; *out_len = len;
    return fe_ok;
}

/* Number at p->i, grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? checked here, value by strtod. */
FACTEDIT__PRIV fe_result fe__jp_number(fe__jp *p, double *out) {
    const unsigned char *s = p->s;
    size_t start = p->i, j = p->i, n = p->n, dlen, need;
    char buf[96], *tmp = buf, *endp;
    const char *dp;
    if (j < n && s[j] == '-') j++;
    if (j < n && s[j] == '0') j++;
    else if (j < n && s[j] >= '1' && s[j] <= '9') while (j < n && s[j] >= '0' && s[j] <= '9') j++;
    else { p->i = j; return fe__jp_fail(p, fe_err_format, "bad number (expected a digit)"); }
    if (j < n && s[j] == '.') {
        j++;
        if (j >= n || s[j] < '0' || s[j] > '9') {
            p->i = j;
            return fe__jp_fail(p, fe_err_format, "bad number (expected a digit after '.')");
        }
        while (j < n && s[j] >= '0' && s[j] <= '9') j++;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        j++;
        if (j < n && (s[j] == '+' || s[j] == '-')) j++;
        if (j >= n || s[j] < '0' || s[j] > '9') {
            p->i = j;
            return fe__jp_fail(p, fe_err_format, "bad number (expected a digit in the exponent)");
        }
        while (j < n && s[j] >= '0' && s[j] <= '9') j++;
    }
    /* strtod wants the locale's decimal point and a NUL-terminated copy */
    dp = localeconv()->decimal_point;
    dlen = (dp && *dp) ? strlen(dp) : 1;
    need = (j - start) + dlen + 1;
    if (need > sizeof buf) {
        tmp = (char *)fe__malloc(p->doc->user, need);
        if (!tmp)
            return fe__fail(p->err, fe_err_nomem, "json: out of memory for a %lu-character number",
                            (unsigned long)(j - start));
    }
    {
        size_t k, w = 0;
        for (k = start; k < j; k++) {
            if (s[k] == '.') { memcpy(tmp + w, (dp && *dp) ? dp : ".", dlen); w += dlen; }
            else tmp[w++] = (char)s[k];
        }
        tmp[w] = 0;
    }
    *out = strtod(tmp, &endp);
    if (tmp != buf) fe__free(p->doc->user, tmp);
    if (*out == HUGE_VAL || *out == -HUGE_VAL) {
        p->i = start;
        return fe__jp_fail(p, fe_err_range, "number too large for a double");
    }
    p->i = j;
    return fe_ok;
}

FACTEDIT__PRIV fe_result fe__jp_push(fe__jp *p) {
    if (p->top == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256, bytes;
        fe_json_value *s;
        if (!fe__mul(cap, sizeof(fe_json_value), &bytes))
            return fe__fail(p->err, fe_err_limit, "json: too many values");
        s = (fe_json_value *)fe__realloc(p->doc->user, p->stk, bytes);
        if (!s) return fe__fail(p->err, fe_err_nomem, "json: out of memory (%lu open values)", (unsigned long)p->top);
        p->stk = s; p->cap = cap;
    }
    memset(&p->stk[p->top], 0, sizeof(fe_json_value));
    p->top++;
    return fe_ok;
}

/* Parses one value and pushes it on p->stk. Containers push their children above themselves
   while open, then move them into one contiguous arena array when they close. */
FACTEDIT__PRIV fe_result fe__jp_value(fe__jp *p, int depth) {
    fe_result r;
    size_t k;
    unsigned char c;
    fe__jp_ws(p);
    if (p->i >= p->n) return fe__jp_fail(p, fe_err_format, "unexpected end of input, expected a value");
    if ((r = fe__jp_push(p)) != fe_ok) return r;
    k = p->top - 1;
    c = p->s[p->i];
    if (c == '{' || c == '[') {
        int obj = c == '{';
        unsigned char close = obj ? '}' : ']';
        size_t count, bytes, m;
        fe_json_value *kids = NULL;
        if (depth >= FACTEDIT_MAX_JSON_DEPTH)
            return fe__fail(p->err, fe_err_limit,
                            "json: nesting deeper than FACTEDIT_MAX_JSON_DEPTH (%d) at byte offset %lu",
                            FACTEDIT_MAX_JSON_DEPTH, (unsigned long)p->i);
        p->i++;
        fe__jp_ws(p);
        if (p->i < p->n && p->s[p->i] == close) p->i++;
        else for (;;) {
            const char *key = NULL;
            size_t key_len = 0;
            if (obj) {
                fe__jp_ws(p);
                if (p->i >= p->n || p->s[p->i] != '"') return fe__jp_fail(p, fe_err_format, "expected a string key");
                if ((r = fe__jp_string(p, &key, &key_len)) != fe_ok) return r;
                fe__jp_ws(p);
                if (p->i >= p->n || p->s[p->i] != ':') return fe__jp_fail(p, fe_err_format, "expected ':' after key");
                p->i++;
            }
            if ((r = fe__jp_value(p, depth + 1)) != fe_ok) return r;
            p->stk[p->top - 1].key = key; p->stk[p->top - 1].key_len = key_len;
            fe__jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == close) { p->i++; break; }
            return fe__jp_fail(p, fe_err_format, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        count = p->top - (k + 1);
        if (count) {
            if (!fe__mul(count, sizeof(fe_json_value), &bytes))
                return fe__fail(p->err, fe_err_limit, "json: container too large");
            kids = (fe_json_value *)fe__json_alloc(p->doc, bytes, 16);
            if (!kids)
                return fe__fail(p->err, fe_err_nomem, "json: out of memory for a container of %lu values",
                                (unsigned long)count);
            memcpy(kids, p->stk + k + 1, bytes);
            for (m = 0; m + 1 < count; m++) kids[m].next = &kids[m + 1];
        }
        p->top = k + 1;
        p->stk[k].type = obj ? fe_json_object : fe_json_array;
        p->stk[k].child = kids; p->stk[k].count = count;
        return fe_ok;
    }
    if (c == '"') {
        p->stk[k].type = fe_json_string;
        return fe__jp_string(p, &p->stk[k].str, &p->stk[k].len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        p->stk[k].type = fe_json_number;
        return fe__jp_number(p, &p->stk[k].number);
    }
    if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "true", 4)) {
        p->stk[k].type = fe_json_bool;
        p->stk[k].boolean = 1;
        p->i += 4;
        return fe_ok;
    }
    if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "false", 5)) {
        p->stk[k].type = fe_json_bool;
        p->i += 5;
        return fe_ok;
    }
    if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "null", 4)) { p->stk[k].type = fe_json_null; p->i += 4; return fe_ok; }
    return fe__jp_fail(p, fe_err_format, "unexpected character, expected a value");
}

FACTEDIT_API fe_result fe_json_parse(fe_json **out, const char *text, size_t len, void *alloc_user, fe_error *err) {
    fe__jp p;
    fe_json *d;
    fe_result r;
    if (!out) return fe__fail(err, fe_err_arg, "json: out is NULL");
    *out = NULL;
    if (!text && len) return fe__fail(err, fe_err_arg, "json: text is NULL");
    if (len > FACTEDIT_MAX_JSON_BYTES)
        return fe__fail(err, fe_err_limit, "json: input of %lu bytes exceeds FACTEDIT_MAX_JSON_BYTES (%lu)",
                        (unsigned long)len, (unsigned long)FACTEDIT_MAX_JSON_BYTES);
    d = (fe_json *)fe__calloc(alloc_user, sizeof(fe_json));
    if (!d) return fe__fail(err, fe_err_nomem, "json: out of memory");
    d->user = alloc_user;
    /* first block ~ twice the input (a node is ~88 bytes per value of >= 2 input bytes, so big
       documents grow by doubling from there) */
    d->next_cap = len < 2048 ? 4096 : len < ((size_t)1 << 25) ? len * 2 : ((size_t)1 << 26);
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)text;
    p.n = len;
    p.doc = d;
    p.err = err;
    r = fe__jp_value(&p, 0);
    if (r == fe_ok) {
        fe__jp_ws(&p);
        if (p.i != p.n) r = fe__jp_fail(&p, fe_err_format, "trailing characters after the JSON value");
    }
    if (r == fe_ok) {
        d->root = (fe_json_value *)fe__json_alloc(d, sizeof(fe_json_value), 16);
        if (!d->root) r = fe__fail(err, fe_err_nomem, "json: out of memory");
        else *d->root = p.stk[0];
    }
    fe__free(alloc_user, p.stk);
    if (r != fe_ok) { fe_json_free(d); return r; }
    *out = d;
    return fe_ok;
}

FACTEDIT_API const fe_json_value *fe_json_root(const fe_json *doc) { return doc ? doc->root : NULL; }

FACTEDIT_API void fe_json_free(fe_json *doc) {
    fe__jblock *b, *nb;
    if (!doc) return;
    for (b = doc->blocks; b; b = nb) { nb = b->next; fe__free(doc->user, b); }
    fe__free(doc->user, doc);
}

FACTEDIT_API const fe_json_value *fe_json_get(const fe_json_value *obj, const char *key) {
    size_t i, n;
    if (!obj || !key || obj->type != fe_json_object) return NULL;
    n = strlen(key);
    for (i = 0; i < obj->count; i++)
        if (obj->child[i].key_len == n && !memcmp(obj->child[i].key, key, n)) return &obj->child[i];
    return NULL;
}

FACTEDIT_API const fe_json_value *fe_json_at(const fe_json_value *arr, size_t i) {
    if (!arr || (arr->type != fe_json_array && arr->type != fe_json_object) || i >= arr->count) return NULL;
    return &arr->child[i];
}

/* ======================================================== >>impl-safetensors ================== */

FACTEDIT_API float fe_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    float f;
    if (exp == 0) {  /* zero or subnormal: man * 2^-24, exact in float32 */
        f = (float)man * 5.9604644775390625e-8f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);          /* inf / nan (payload kept) */
    else bits = sign | ((exp + (127 - 15)) << 23) | (man << 13);             /* rebias exponent */
    memcpy(&f, &bits, 4);
    return f;
}

FACTEDIT_API float fe_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

FACTEDIT_API uint16_t fe_f32_to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40);  /* NaN: keep sign, force quiet */
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1)) >> 16);                   /* ties to even; overflow -> inf */
}

struct fe_safetensors {
    void *user;
    fe_json *doc;            /* owns the tensor names (the header's keys) */
    fe_st_tensor *t; size_t n;
    fe_st_tensor **by_name;  /* sorted by name, for find */
};

static const struct { const char *name; fe_dtype dtype; size_t size; } fe__st_dtypes[] = {
    {"F32", fe_dtype_f32, 4}, {"F16", fe_dtype_f16, 2}, {"BF16", fe_dtype_bf16, 2},
    {"F64", fe_dtype_other, 8}, {"I64", fe_dtype_other, 8}, {"I32", fe_dtype_other, 4},
    {"I16", fe_dtype_other, 2}, {"I8", fe_dtype_other, 1}, {"U64", fe_dtype_other, 8},
    {"U32", fe_dtype_other, 4}, {"U16", fe_dtype_other, 2}, {"U8", fe_dtype_other, 1},
    {"BOOL", fe_dtype_other, 1}, {"F8_E4M3", fe_dtype_other, 1}, {"F8_E5M2", fe_dtype_other, 1}
};

/* JSON number -> size_t if it is a non-negative integer that a double holds exactly (< 2^53). */
FACTEDIT__PRIV int fe__st_uint(const fe_json_value *v, size_t *out) {
    if (!v || v->type != fe_json_number || !(v->number >= 0) || v->number >= 9007199254740992.0 ||
        v->number != floor(v->number) || v->number > (double)(size_t)-1) return 0;
    *out = (size_t)v->number;
    return 1;
}

FACTEDIT__PRIV int fe__st_cmp_offset(const void *a, const void *b) {
    const fe_st_tensor *x = *(const fe_st_tensor *const *)a, *y = *(const fe_st_tensor *const *)b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}
FACTEDIT__PRIV int fe__st_cmp_name(const void *a, const void *b) {
    return strcmp((*(const fe_st_tensor *const *)a)->name, (*(const fe_st_tensor *const *)b)->name);
}

/* Fills t from one header entry; data = start of the data section (dlen bytes). */
FACTEDIT__PRIV fe_result fe__st_entry(fe_st_tensor *t, const fe_json_value *e, const unsigned char *data, size_t dlen,
                                      fe_error *err) {
    const char *nm = e->key;
    const fe_json_value *dt = fe_json_get(e, "dtype"), *sh = fe_json_get(e, "shape"),
                        *off = fe_json_get(e, "data_offsets");
    size_t i, k, esize = 0, begin, end, want;
    if (e->type != fe_json_object)
        return fe__fail(err, fe_err_format, "safetensors: entry of tensor '%.96s' is not an object", nm);
    if (!dt || dt->type != fe_json_string)
        return fe__fail(err, fe_err_format, "safetensors: tensor '%.96s' has no \"dtype\" string", nm);
    if (!sh || sh->type != fe_json_array)
        return fe__fail(err, fe_err_format, "safetensors: tensor '%.96s' has no \"shape\" array", nm);
    if (!off || off->type != fe_json_array)
        return fe__fail(err, fe_err_format, "safetensors: tensor '%.96s' has no \"data_offsets\" array", nm);
    t->name = nm;
    for (k = 0; k < sizeof fe__st_dtypes / sizeof fe__st_dtypes[0]; k++)
        if (!strcmp(dt->str, fe__st_dtypes[k].name) && dt->len == strlen(fe__st_dtypes[k].name)) {
            t->dtype = fe__st_dtypes[k].dtype; esize = fe__st_dtypes[k].size;
            memcpy(t->dtype_name, fe__st_dtypes[k].name, strlen(fe__st_dtypes[k].name) + 1);
        }
    if (!esize)
        return fe__fail(err, fe_err_unsupported, "safetensors: tensor '%.96s' has unknown dtype '%.16s'", nm, dt->str);
    if (sh->count > 8)
        return fe__fail(err, fe_err_limit, "safetensors: tensor '%.96s' has %lu dimensions, at most 8 supported", nm,
                        (unsigned long)sh->count);
    t->ndim = (int)sh->count;
    t->numel = 1;
    for (i = 0; i < sh->count; i++) {
        if (!fe__st_uint(&sh->child[i], &t->shape[i]))
            return fe__fail(err, fe_err_format, "safetensors: tensor '%.96s' shape[%lu] is not a non-negative integer",
                            nm, (unsigned long)i);
        if (!fe__mul(t->numel, t->shape[i], &t->numel))
            return fe__fail(err, fe_err_limit, "safetensors: tensor '%.96s' element count overflows size_t", nm);
    }
    if (off->count != 2 || !fe__st_uint(&off->child[0], &begin) || !fe__st_uint(&off->child[1], &end))
        return fe__fail(err, fe_err_format,
                        "safetensors: tensor '%.96s' data_offsets must be [begin, end] non-negative integers", nm);
    if (begin > end)
        return fe__fail(err, fe_err_format, "safetensors: tensor '%.96s' data_offsets [%lu, %lu) has begin > end", nm,
                        (unsigned long)begin, (unsigned long)end);
    if (end > dlen)
        return fe__fail(err, fe_err_range,
                        "safetensors: tensor '%.96s' data range [%lu, %lu) exceeds data section of %lu bytes", nm,
                        (unsigned long)begin, (unsigned long)end, (unsigned long)dlen);
    if (!fe__mul(t->numel, esize, &want))
        return fe__fail(err, fe_err_limit, "safetensors: tensor '%.96s' byte size overflows size_t", nm);
    if (end - begin != want)
        return fe__fail(err, fe_err_format,
                        "safetensors: tensor '%.96s' has %lu data bytes but %s x %lu elements need %lu", nm,
                        (unsigned long)(end - begin), t->dtype_name, (unsigned long)t->numel, (unsigned long)want);
    t->data = data + begin;
    t->nbytes = want;
    return fe_ok;
}

FACTEDIT_API fe_result fe_safetensors_parse(fe_safetensors **out, const void *bytes, size_t len, void *alloc_user,
                                            fe_error *err) {
    const unsigned char *b = (const unsigned char *)bytes, *data;
    uint64_t hlen = 0;
    size_t i, k, n, dlen, bytes_t;
    const fe_json_value *root;
    fe_safetensors *st;
    fe_error jerr;
    fe_result r;
    if (!out) return fe__fail(err, fe_err_arg, "safetensors: out is NULL");
    *out = NULL;
    if (!b && len) return fe__fail(err, fe_err_arg, "safetensors: bytes is NULL");
    if (len < 8)
        return fe__fail(err, fe_err_format, "safetensors: file of %lu bytes is too short for the 8-byte header length",
                        (unsigned long)len);
    hlen = fe__rd64le(b);
    if (hlen > (uint64_t)(len - 8))
        return fe__fail(err, fe_err_range,
                        "safetensors: header length %llu exceeds the %lu bytes after the length prefix "
                        "(truncated file?)",
                        (unsigned long long)hlen, (unsigned long)(len - 8));
    if (hlen > FACTEDIT_MAX_JSON_BYTES)
        return fe__fail(err, fe_err_limit, "safetensors: header of %llu bytes exceeds FACTEDIT_MAX_JSON_BYTES",
                        (unsigned long long)hlen);
    data = b + 8 + (size_t)hlen;
    dlen = len - 8 - (size_t)hlen;
    st = (fe_safetensors *)fe__calloc(alloc_user, sizeof(fe_safetensors));
    if (!st) return fe__fail(err, fe_err_nomem, "safetensors: out of memory");
    st->user = alloc_user;
    memset(&jerr, 0, sizeof jerr);
    if ((r = fe_json_parse(&st->doc, (const char *)b + 8, (size_t)hlen, alloc_user, &jerr)) != fe_ok) {
        fe__fail(err, r, "safetensors: header: %s", jerr.msg);
        goto fail;
    }
    root = fe_json_root(st->doc);
    if (root->type != fe_json_object) {
        r = fe__fail(err, fe_err_format, "safetensors: header is not a JSON object");
        goto fail;
    }
    /* the tensor array and the by-name index in one allocation */
    if (!fe__mul(root->count, sizeof(fe_st_tensor) + sizeof(fe_st_tensor *), &bytes_t)) {
        r = fe__fail(err, fe_err_limit, "safetensors: too many tensors");
        goto fail;
    }
    st->t = (fe_st_tensor *)fe__calloc(alloc_user, bytes_t);
    if (!st->t) {
        r = fe__fail(err, fe_err_nomem, "safetensors: out of memory for %lu tensors", (unsigned long)root->count);
        goto fail;
    }
    st->by_name = (fe_st_tensor **)(void *)(st->t + root->count);
    for (i = 0, n = 0; i < root->count; i++) {
        const fe_json_value *e = &root->child[i];
        if (strlen(e->key) != e->key_len) {
            r = fe__fail(err, fe_err_format, "safetensors: tensor name '%.96s...' contains a NUL byte", e->key);
            goto fail;
        }
        if (!strcmp(e->key, "__metadata__")) {
            if (e->type != fe_json_object) {
                r = fe__fail(err, fe_err_format, "safetensors: __metadata__ is not an object");
                goto fail;
            }
            for (k = 0; k < e->count; k++)
                if (e->child[k].type != fe_json_string) {
                    r = fe__fail(err, fe_err_format, "safetensors: __metadata__ value '%.96s' is not a string",
                                 e->child[k].key);
                    goto fail;
                }
            continue;
        }
        if ((r = fe__st_entry(&st->t[n], e, data, dlen, err)) != fe_ok) goto fail;
        st->by_name[n] = &st->t[n];
        n++;
    }
    st->n = n;
    /* overlaps: sort by start; every non-empty tensor must start at or after the furthest end so far */
    qsort(st->by_name, n, sizeof(fe_st_tensor *), fe__st_cmp_offset);
    for (i = 0, k = n; i < n; i++) {   /* k = index of the tensor with the furthest end so far */
        const fe_st_tensor *t = st->by_name[i];
        if (!t->nbytes) continue;
        if (k < n && t->data < st->by_name[k]->data + st->by_name[k]->nbytes) {
            const fe_st_tensor *u = st->by_name[k];
            r = fe__fail(err, fe_err_format, "safetensors: tensors '%.80s' [%lu, %lu) and '%.80s' [%lu, %lu) overlap",
                         u->name, (unsigned long)(u->data - data), (unsigned long)(u->data - data + u->nbytes),
                         t->name, (unsigned long)(t->data - data), (unsigned long)(t->data - data + t->nbytes));
            goto fail;
        }
        k = i;
    }
    qsort(st->by_name, n, sizeof(fe_st_tensor *), fe__st_cmp_name);
    for (i = 1; i < n; i++)
        if (!strcmp(st->by_name[i - 1]->name, st->by_name[i]->name)) {
            r = fe__fail(err, fe_err_format, "safetensors: tensor '%.96s' appears twice in the header",
                         st->by_name[i]->name);
            goto fail;
        }
    *out = st;
    return fe_ok;
fail:
    fe_safetensors_free(st);
    return r;
}

FACTEDIT_API size_t fe_safetensors_count(const fe_safetensors *st) { return st ? st->n : 0; }
FACTEDIT_API const fe_st_tensor *fe_safetensors_at(const fe_safetensors *st, size_t i) {
    return st && i < st->n ? &st->t[i] : NULL;
}

FACTEDIT_API const fe_st_tensor *fe_safetensors_find(const fe_safetensors *st, const char *name) {
    size_t lo = 0, hi;
    if (!st || !name) return NULL;
    hi = st->n;
    while (lo < hi) {   /* binary search in by_name */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (!c) return st->by_name[mid];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

FACTEDIT_API fe_result fe_st_tensor_to_f32(const fe_st_tensor *t, float *out, fe_error *err) {
    size_t i;
    const unsigned char *p;
    if (!t || (!out && t->numel)) return fe__fail(err, fe_err_arg, "safetensors: tensor or output is NULL");
    p = t->data;
    /* bytes are assembled little-endian by hand: works for unaligned data and big-endian hosts */
    switch (t->dtype) {
    case fe_dtype_f32:
        for (i = 0; i < t->numel; i++, p += 4) out[i] = fe__rdf32le(p);
        return fe_ok;
    case fe_dtype_f16:
        for (i = 0; i < t->numel; i++, p += 2) out[i] = fe_f16_to_f32(fe__rd16le(p));
        return fe_ok;
    case fe_dtype_bf16:
        for (i = 0; i < t->numel; i++, p += 2) out[i] = fe_bf16_to_f32(fe__rd16le(p));
        return fe_ok;
    default:
        return fe__fail(err, fe_err_unsupported,
                        "safetensors: tensor '%.96s' has dtype %s, which does not convert to float32", t->name,
                        t->dtype_name);
    }
}

FACTEDIT_API void fe_safetensors_free(fe_safetensors *st) {
    if (!st) return;
    fe_json_free(st->doc);
    fe__free(st->user, st->t);
    fe__free(st->user, st);
}

/* ======================================================== >>impl-rng ========================== */

/* xoshiro256** seeded through splitmix64 */
FACTEDIT_API void fe_rng_seed(fe_rng *r, uint64_t seed) {
    int i;
    for (i = 0; i < 4; i++) r->s[i] = fe__mix64(seed += 0x9e3779b97f4a7c15ull);
}
FACTEDIT__PRIV uint64_t fe__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
FACTEDIT_API uint64_t fe_rng_u64(fe_rng *r) {
    uint64_t *s = r->s, res = fe__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = fe__rotl(s[3], 45);
    return res;
}
FACTEDIT_API double fe_rng_uniform(fe_rng *r) { return (double)(fe_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }
FACTEDIT_API double fe_rng_normal(fe_rng *r) {
    /* Box-Muller; one draw per call keeps the stream simple to reproduce */
    double u1 = fe_rng_uniform(r), u2 = fe_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ======================================================== >>impl-kernels ====================== */

/* Kernels work on float32 rows. Matrices are [out,in], so every output is the dot product of
   two contiguous rows. The library's products go through fe__gemm_go, a packed GEMM (MR x NR
   register tiles, panel-layout weights read in place); fe_matmul on a caller's plain matrix
   uses 4 x 4 dot-product tiles for fewer than FACTEDIT__GEMM_MIN_T rows. The scalar references
   (fe__gemm_ref_g, fe_matmul_ref) stay and the tests compare the SIMD paths with them. */

#if !defined(FACTEDIT_NO_SIMD) && defined(__AVX512F__)
#include <immintrin.h>
#define FACTEDIT_SIMD_NAME "avx512"
#define FACTEDIT__VW 16
typedef __m512 fe__vf;
#define fe__vzero() _mm512_setzero_ps()
#define fe__vload(p) _mm512_loadu_ps(p)
#define fe__vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define fe__vstore(p, v) _mm512_storeu_ps(p, v)
#define fe__vbcast(x) _mm512_set1_ps(x)
#define fe__vadd(a, b) _mm512_add_ps(a, b)
#define fe__vsub(a, b) _mm512_sub_ps(a, b)
#define fe__vmul(a, b) _mm512_mul_ps(a, b)
#define fe__vdiv(a, b) _mm512_div_ps(a, b)
#define fe__vmin(a, b) _mm512_mask_min_ps(a, (__mmask16)0xFFFF, a, b)   /* mask forms: g++ 12 warns on the plain ones */
#define fe__vmax(a, b) _mm512_mask_max_ps(a, (__mmask16)0xFFFF, a, b)
#define fe__vround(x) _mm512_mask_roundscale_ps(x, (__mmask16)0xFFFF, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define fe__vpow2i(n) \
    _mm512_castsi512_ps(_mm512_mask_slli_epi32( \
        _mm512_setzero_si512(), (__mmask16)0xFFFF, \
        _mm512_add_epi32(_mm512_mask_cvtps_epi32(_mm512_setzero_si512(), (__mmask16)0xFFFF, n), \
                         _mm512_set1_epi32(127)), \
        23))
/* 2 VW bf16 weights stored as pairs (column j, column VW + j): the two vectors by a shift and a mask */
#define fe__vload_h(p, lo, hi) { \
        __m512i x_ = _mm512_loadu_si512((const void *)(p)); \
        lo = _mm512_castsi512_ps(_mm512_maskz_slli_epi32((__mmask16)0xFFFF, x_, 16)); \
        hi = _mm512_castsi512_ps(_mm512_and_si512(x_, _mm512_set1_epi32(-65536))); \
    }
#define FACTEDIT__MR 8   /* 8 x 2 vectors: M = 64 and 256 split into whole blocks (PERFORMANCE NOTES) */
FACTEDIT__PRIV float fe__vhsum(__m512 v) {
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
#define fe__vstore(p, v) _mm256_storeu_ps(p, v)
#define fe__vbcast(x) _mm256_set1_ps(x)
#define fe__vadd(a, b) _mm256_add_ps(a, b)
#define fe__vsub(a, b) _mm256_sub_ps(a, b)
#define fe__vmul(a, b) _mm256_mul_ps(a, b)
#define fe__vdiv(a, b) _mm256_div_ps(a, b)
#define fe__vmin(a, b) _mm256_min_ps(a, b)
#define fe__vmax(a, b) _mm256_max_ps(a, b)
#define fe__vround(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define fe__vpow2i(n) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
#define fe__vload_h(p, lo, hi) { \
        __m256i x_ = _mm256_loadu_si256((const __m256i *)(const void *)(p)); \
        lo = _mm256_castsi256_ps(_mm256_slli_epi32(x_, 16)); \
        hi = _mm256_castsi256_ps(_mm256_and_si256(x_, _mm256_set1_epi32(-65536))); \
    }
#define FACTEDIT__MR 6
FACTEDIT__PRIV float fe__vhsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi); lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo)); lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}
#elif !defined(FACTEDIT_NO_SIMD) && (defined(__ARM_NEON) || defined(__ARM_NEON__)) && defined(__aarch64__) && \
    !defined(__ARM_BIG_ENDIAN)
#include <arm_neon.h>
#define FACTEDIT_SIMD_NAME "neon"
#define FACTEDIT__VW 4
typedef float32x4_t fe__vf;
#define fe__vzero() vdupq_n_f32(0.0f)
#define fe__vload(p) vld1q_f32(p)
#define fe__vfma(a, b, c) vfmaq_f32(c, a, b)
#define fe__vstore(p, v) vst1q_f32(p, v)
#define fe__vbcast(x) vdupq_n_f32(x)
#define fe__vadd(a, b) vaddq_f32(a, b)
#define fe__vsub(a, b) vsubq_f32(a, b)
#define fe__vmul(a, b) vmulq_f32(a, b)
#define fe__vdiv(a, b) vdivq_f32(a, b)
#define fe__vmin(a, b) vminq_f32(a, b)
#define fe__vmax(a, b) vmaxq_f32(a, b)
#define fe__vround(x) vrndnq_f32(x)
#define fe__vpow2i(n) vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))
#define fe__vload_h(p, lo, hi) { \
        uint32x4_t x_ = vreinterpretq_u32_u16(vld1q_u16(p)); \
        lo = vreinterpretq_f32_u32(vshlq_n_u32(x_, 16)); \
        hi = vreinterpretq_f32_u32(vandq_u32(x_, vdupq_n_u32(0xFFFF0000u))); \
    }
#define FACTEDIT__MR 12
#define fe__vhsum(v) vaddvq_f32(v)
#elif !defined(FACTEDIT_NO_SIMD) && defined(__wasm_simd128__)
/* WebAssembly SIMD128 (clang -msimd128). It has no fused multiply-add: fe__vfma is a rounded
   product, then a rounded sum, so the GEMM's outputs equal the scalar reference's bit for bit
   in the same module (the same terms, k ascending, no contraction in WebAssembly). */
#include <wasm_simd128.h>
#define FACTEDIT_SIMD_NAME "wasm-simd128"
#define FACTEDIT__VW 4
typedef v128_t fe__vf;
#define fe__vzero() wasm_f32x4_splat(0.0f)
#define fe__vload(p) wasm_v128_load(p)
#define fe__vfma(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#define fe__vstore(p, v) wasm_v128_store(p, v)
#define fe__vbcast(x) wasm_f32x4_splat(x)
#define fe__vadd(a, b) wasm_f32x4_add(a, b)
#define fe__vsub(a, b) wasm_f32x4_sub(a, b)
#define fe__vmul(a, b) wasm_f32x4_mul(a, b)
#define fe__vdiv(a, b) wasm_f32x4_div(a, b)
#define fe__vmin(a, b) wasm_f32x4_pmin(a, b)   /* b < a ? b : a, as x86's minps */
#define fe__vmax(a, b) wasm_f32x4_pmax(a, b)
#define fe__vround(x) wasm_f32x4_nearest(x)
#define fe__vpow2i(n) wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23)
#define fe__vload_h(p, lo, hi) { \
        v128_t x_ = wasm_v128_load(p); \
        lo = wasm_i32x4_shl(x_, 16); \
        hi = wasm_v128_and(x_, wasm_i32x4_splat(-65536)); \
    }
#define FACTEDIT__MR 6   /* 6 x 2 accumulators + 2 panel vectors + 1 broadcast: 15 of x86's 16 registers */
FACTEDIT__PRIV float fe__vhsum(v128_t v) {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
#else
#define FACTEDIT_SIMD_NAME "scalar"
#endif

FACTEDIT_API const char *fe_simd_name(void) { return FACTEDIT_SIMD_NAME; }

/* The bf16 layout of a bf16-resident model's matrices (fe_load_opts.bf16_weights): the panel
   layout (fe_weight_index), except that each full group of 2 VW columns of a panel row is stored
   as pairs (column j, column VW + j). One load then gives the kernel both vectors of the group by
   a shift and a mask (bf16 is the top half of fp32), cheaper than widening 2 x VW contiguous
   values (PERFORMANCE NOTES). Private and SIMD-dependent: files and checksums see plain order.
   Under the scalar build a group is 2 columns and the pairs are the plain order. */
#ifdef FACTEDIT__VW
#define FACTEDIT__H_GROUP (2 * FACTEDIT__VW)
#else
#define FACTEDIT__H_GROUP 2
#endif
FACTEDIT__PRIV size_t fe__h_index(size_t out, size_t in, size_t o, size_t i) {
    size_t p0 = o - o % FACTEDIT_WEIGHT_PANEL, w = FACTEDIT__PANEL_W(out, p0), j = o - p0,
           g0 = j - j % FACTEDIT__H_GROUP, h = FACTEDIT__H_GROUP / 2;
    if (g0 + FACTEDIT__H_GROUP <= w) j = g0 + (j - g0 < h ? 2 * (j - g0) : 2 * (j - g0 - h) + 1);
    return p0 * in + i * w + j;
}
#ifdef FACTEDIT__VW
/* dst[0..VW) = W[o + r][i] of a bf16-layout (out, in) W, widened; o a multiple of VW, o + VW <= out */
FACTEDIT__PRIV void fe__h_run(float *dst, const uint16_t *W, size_t out, size_t in, size_t o, size_t i) {
    size_t p0 = o - o % FACTEDIT_WEIGHT_PANEL, w = FACTEDIT__PANEL_W(out, p0), j = o - p0,
           g0 = j - j % FACTEDIT__H_GROUP;
    if (g0 + FACTEDIT__H_GROUP <= w) {
        fe__vf lo, hi;
        fe__vload_h(W + p0 * in + i * w + g0, lo, hi)
        fe__vstore(dst, j == g0 ? lo : hi);
    } else {
        int r;
        for (r = 0; r < FACTEDIT__VW; r++) dst[r] = fe_bf16_to_f32(W[fe__h_index(out, in, o + (size_t)r, i)]);
    }
}
#endif

#ifdef FACTEDIT__VW
/* One tile: rows t0..t0+nt of inp (nt <= 4) times weight rows o0..o0+no (no <= 4). */
FACTEDIT__PRIV void fe__tile(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int C, int t0,
                             int nt, int o0, int no) {
    fe__vf a00 = fe__vzero(), a01 = fe__vzero(), a02 = fe__vzero(), a03 = fe__vzero();
    fe__vf a10 = fe__vzero(), a11 = fe__vzero(), a12 = fe__vzero(), a13 = fe__vzero();
    fe__vf a20 = fe__vzero(), a21 = fe__vzero(), a22 = fe__vzero(), a23 = fe__vzero();
    fe__vf a30 = fe__vzero(), a31 = fe__vzero(), a32 = fe__vzero(), a33 = fe__vzero();
    /* Out-of-tile rows alias row 0: computed and thrown away, which keeps the loop branch-free. */
    const float *x0 = inp + (size_t)t0 * C, *x1 = nt > 1 ? x0 + C : x0;
    const float *x2 = nt > 2 ? x0 + 2 * (size_t)C : x0, *x3 = nt > 3 ? x0 + 3 * (size_t)C : x0;
    const float *w0 = w + (size_t)o0 * C, *w1 = no > 1 ? w0 + C : w0;
    const float *w2 = no > 2 ? w0 + 2 * (size_t)C : w0, *w3 = no > 3 ? w0 + 3 * (size_t)C : w0;
    float r[4][4];
    int i, a, b, Cv = C - C % FACTEDIT__VW;
    for (i = 0; i < Cv; i += FACTEDIT__VW) {   /* the 4 x 4 tile, one input row per line */
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

/* One weight matrix as the kernels take it: fp32 (f) or bf16 (h), panel layout
   (fe__h_index for bf16). */
typedef struct fe__wref { const float *f; const uint16_t *h; } fe__wref;

/* One GEMM's operands. b and c are either strided or a panel-layout weight matrix
   (fe_weight_index), which is how the block matrices live: the forward reads W as b(k,n) =
   W[n][k], the backward's dout . W as b(k,n) = W[k][n], and dW^T = x^T . dout writes c(m,n) =
   dW[n][m] straight into the panel-layout gradient. */
typedef struct fe__gemm_args {
    float *c; size_t ldc;              /* c (M,N), rows ldc apart (c_pw == 0) */
    const float *a; size_t a_rs, a_cs; /* a(m,k) = a[m*a_rs + k*a_cs] */
    const float *b; size_t b_ks, b_ns; /* b(k,n) = b[k*b_ks + n*b_ns] (b_pw == 0) */
    const uint16_t *b16;               /* b_pw != 0 and W is bf16 (a bf16-resident model): W itself, b unused */
    const float *bias;                 /* (N) or NULL */
    int M, N, K, accumulate;           /* accumulate: c += a.b (bias ignored) */
    int b_pw;                          /* 1: b(k,n) = W[n][k] of a panel-layout (N,K) W; 2: W[k][n] of a (K,N) W */
    int c_pw;                          /* 1: c(m,n) = W[n][m] of a panel-layout (N,M) W */
    int pw_rows;                       /* rows (out) of that W when more than N
                                          (b_pw 1, c_pw) or K (b_pw 2): wte's Vp > V */
    float *ap;                         /* packed a: ceil(M/MR) blocks of K*MR floats, or NULL (pack per tile) */
} fe__gemm_args;

/* Rows of the panel-layout matrix whose o runs along `natural` (N or K). */
#define FACTEDIT__PW_ROWS(g, natural) ((size_t)((g)->pw_rows > (natural) ? (g)->pw_rows : (natural)))
FACTEDIT__PRIV size_t fe__gemm_bi(const fe__gemm_args *g, int k, int n) {   /* offset of b(k,n) */
    size_t (*ix)(size_t, size_t, size_t, size_t) = g->b16 ? fe__h_index : fe_weight_index;
    if (g->b_pw == 1) return ix(FACTEDIT__PW_ROWS(g, g->N), (size_t)g->K, (size_t)n, (size_t)k);
    if (g->b_pw == 2) return ix(FACTEDIT__PW_ROWS(g, g->K), (size_t)g->N, (size_t)k, (size_t)n);
    return (size_t)k * g->b_ks + (size_t)n * g->b_ns;
}
FACTEDIT__PRIV float fe__gemm_b(const fe__gemm_args *g, int k, int n) {
    return g->b16 ? fe_bf16_to_f32(g->b16[fe__gemm_bi(g, k, n)]) : g->b[fe__gemm_bi(g, k, n)];
}
FACTEDIT__PRIV float *fe__gemm_c(const fe__gemm_args *g, int m, int n) {
    if (g->c_pw) return g->c + fe_weight_index(FACTEDIT__PW_ROWS(g, g->N), (size_t)g->M, (size_t)n, (size_t)m);
    return g->c + (size_t)m * g->ldc + n;
}
/* The scalar reference of every GEMM (and the whole implementation under FACTEDIT_NO_SIMD):
   each c(m,n) sums a(m,k) b(k,n) for k ascending, as the SIMD kernels do. */
FACTEDIT__PRIV void fe__gemm_ref_g(const fe__gemm_args *g) {
    int m, n, k;
    for (m = 0; m < g->M; m++)
        for (n = 0; n < g->N; n++) {
            float *cp = fe__gemm_c(g, m, n), acc = g->accumulate ? *cp : g->bias ? g->bias[n] : 0.0f;
            for (k = 0; k < g->K; k++) acc += g->a[(size_t)m * g->a_rs + (size_t)k * g->a_cs] * fe__gemm_b(g, k, n);
            *cp = acc;
        }
}

#ifdef FACTEDIT__VW
/* Packed GEMM:  c (M,N) = [c +] a (M,K) . b (K,N) [+ bias (N)], with any strides for a and b, so
   the forward (x . W^T) and both backward products (dout . W and dout^T . x) share one kernel.
   - a is packed once per call into blocks of MR rows, k-major: ap[blk][k][MR] (zero rows pad the
     last block), so the micro-kernel broadcasts MR values from one stream at fixed offsets;
   - NR = 2 vectors of output columns and KC values of k form a panel [KC][NR]: read in place
     from a panel-layout W (the forward, every T: no copy, one front-to-back stream per panel,
     which is what the hardware prefetcher wants; PERFORMANCE NOTES), else
     packed on the stack (L1-resident), rows of a plain or panel-layout W transposed VW x VW in
     registers (dout . W);
   - the micro-kernel keeps an MR x NR tile of c in registers: per k, 2 panel loads and MR
     broadcasts feed 2 MR FMAs.
   Tiles are read back between KC blocks, so every output sums its terms in one fixed order (k
   ascending), whatever the tiling, the thread count or whether a was packed up front. */
#define FACTEDIT__NR (2 * FACTEDIT__VW)
#define FACTEDIT__KC 256
#define FACTEDIT__GEMM_MIN_T 16   /* fewer rows: the dot-product tiles stream W faster */

/* In-register transpose of a VW x VW block: src rows ss apart -> dst rows ds apart. */
#if defined(__AVX512F__) && FACTEDIT__VW == 16
#define FACTEDIT__HAVE_TRANSPOSE 1
#define fe__unpacklo_pd(a, b) \
    _mm512_castpd_ps(_mm512_mask_unpacklo_pd(_mm512_castps_pd(a), (__mmask8)0xFF, _mm512_castps_pd(a), \
                                             _mm512_castps_pd(b)))
#define fe__unpackhi_pd(a, b) \
    _mm512_castpd_ps(_mm512_mask_unpackhi_pd(_mm512_castps_pd(a), (__mmask8)0xFF, _mm512_castps_pd(a), \
                                             _mm512_castps_pd(b)))
FACTEDIT__PRIV void fe__transpose_vw(float *dst, size_t ds, const float *src, size_t ss) {
    __m512 r[16], t[16], u[16];
    int i;
    for (i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * ss);
    for (i = 0; i < 16; i += 2) {
        t[i] = _mm512_mask_unpacklo_ps(r[i], (__mmask16)0xFFFF, r[i], r[i + 1]);
        t[i + 1] = _mm512_mask_unpackhi_ps(r[i], (__mmask16)0xFFFF, r[i], r[i + 1]);
    }
    for (i = 0; i < 16; i += 4) {   /* u[i + j]: rows i..i+3 of column j (mod 4) in each 128-bit lane */
        u[i] = fe__unpacklo_pd(t[i], t[i + 2]);
        u[i + 1] = fe__unpackhi_pd(t[i], t[i + 2]);
        u[i + 2] = fe__unpacklo_pd(t[i + 1], t[i + 3]);
        u[i + 3] = fe__unpackhi_pd(t[i + 1], t[i + 3]);
    }
    for (i = 0; i < 4; i++) {   /* lanes: column i, i+4, i+8, i+12 */
        __m512 v0 = _mm512_mask_shuffle_f32x4(u[i], (__mmask16)0xFFFF, u[i], u[i + 4], 0x88),
               v1 = _mm512_mask_shuffle_f32x4(u[i], (__mmask16)0xFFFF, u[i], u[i + 4], 0xdd);
        __m512 v2 = _mm512_mask_shuffle_f32x4(u[i + 8], (__mmask16)0xFFFF, u[i + 8], u[i + 12], 0x88),
               v3 = _mm512_mask_shuffle_f32x4(u[i + 8], (__mmask16)0xFFFF, u[i + 8], u[i + 12], 0xdd);
        _mm512_storeu_ps(dst + (size_t)i * ds, _mm512_mask_shuffle_f32x4(v0, (__mmask16)0xFFFF, v0, v2, 0x88));
        _mm512_storeu_ps(dst + (size_t)(i + 8) * ds, _mm512_mask_shuffle_f32x4(v0, (__mmask16)0xFFFF, v0, v2, 0xdd));
        _mm512_storeu_ps(dst + (size_t)(i + 4) * ds, _mm512_mask_shuffle_f32x4(v1, (__mmask16)0xFFFF, v1, v3, 0x88));
        _mm512_storeu_ps(dst + (size_t)(i + 12) * ds, _mm512_mask_shuffle_f32x4(v1, (__mmask16)0xFFFF, v1, v3, 0xdd));
    }
}
#elif defined(__AVX2__) && FACTEDIT__VW == 8
#define FACTEDIT__HAVE_TRANSPOSE 1
FACTEDIT__PRIV void fe__transpose_vw(float *dst, size_t ds, const float *src, size_t ss) {
    __m256 r[8], t[8], u[8];
    int i;
    for (i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (size_t)i * ss);
    for (i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44); u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44); u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + (size_t)i * ds, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (size_t)(i + 4) * ds, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}
#elif FACTEDIT__VW == 4 && defined(__aarch64__)
#define FACTEDIT__HAVE_TRANSPOSE 1
FACTEDIT__PRIV void fe__transpose_vw(float *dst, size_t ds, const float *src, size_t ss) {
    float32x4x2_t p = vtrnq_f32(vld1q_f32(src), vld1q_f32(src + ss)),
                  q = vtrnq_f32(vld1q_f32(src + 2 * ss), vld1q_f32(src + 3 * ss));
    vst1q_f32(dst, vcombine_f32(vget_low_f32(p.val[0]), vget_low_f32(q.val[0])));
    vst1q_f32(dst + ds, vcombine_f32(vget_low_f32(p.val[1]), vget_low_f32(q.val[1])));
    vst1q_f32(dst + 2 * ds, vcombine_f32(vget_high_f32(p.val[0]), vget_high_f32(q.val[0])));
    vst1q_f32(dst + 3 * ds, vcombine_f32(vget_high_f32(p.val[1]), vget_high_f32(q.val[1])));
}
#elif FACTEDIT__VW == 4 && defined(__wasm_simd128__)
#define FACTEDIT__HAVE_TRANSPOSE 1
FACTEDIT__PRIV void fe__transpose_vw(float *dst, size_t ds, const float *src, size_t ss) {
    v128_t r0 = wasm_v128_load(src), r1 = wasm_v128_load(src + ss), r2 = wasm_v128_load(src + 2 * ss),
           r3 = wasm_v128_load(src + 3 * ss);
    v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7),
           t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
    wasm_v128_store(dst, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
    wasm_v128_store(dst + ds, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
    wasm_v128_store(dst + 2 * ds, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
    wasm_v128_store(dst + 3 * ds, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
}
#endif

/* Packs b(k0 .. k0+kc, n0 .. n0+nr) into bp[kc][NR], zero-filling columns nr..NR. */
FACTEDIT__PRIV void fe__pack_panel(float *bp, const fe__gemm_args *g, int n0, int nr, int k0, int kc) {
    int j, k, kv = 0;
    if (g->b_pw) {
#ifdef FACTEDIT__HAVE_TRANSPOSE
        if (g->b_pw == 2 && nr == FACTEDIT__NR) {
            /* b(k,n) = W[k][n]: each VW run of k sits in one panel (KC and k0 are multiples of
               VW, which divides the panel), contiguous, with n rows `width` apart */
            kv = kc - kc % FACTEDIT__VW;
            for (k = 0; k < kv; k += FACTEDIT__VW) {
                size_t p0 = (size_t)(k0 + k) - (size_t)(k0 + k) % FACTEDIT_WEIGHT_PANEL,
                       rows = FACTEDIT__PW_ROWS(g, g->K);
                size_t w = FACTEDIT__PANEL_W(rows, p0);
                for (j = 0; j < FACTEDIT__NR; j += FACTEDIT__VW) {
                    if (g->b16) {   /* bf16: widen the VW x VW block first */
                        float wide[FACTEDIT__VW * FACTEDIT__VW];
                        int r;
                        for (r = 0; r < FACTEDIT__VW; r++)
                            fe__h_run(wide + r * FACTEDIT__VW, g->b16, rows, (size_t)g->N, (size_t)(k0 + k),
                                      (size_t)(n0 + j + r));
                        fe__transpose_vw(bp + (size_t)k * FACTEDIT__NR + j, FACTEDIT__NR, wide, FACTEDIT__VW);
                    } else
                        fe__transpose_vw(bp + (size_t)k * FACTEDIT__NR + j, FACTEDIT__NR,
                                         g->b + fe__gemm_bi(g, k0 + k, n0 + j), w);
                }
            }
        }
#endif
        for (k = kv; k < kc; k++)
            for (j = 0; j < FACTEDIT__NR; j++)
                bp[(size_t)k * FACTEDIT__NR + j] = j < nr ? fe__gemm_b(g, k0 + k, n0 + j) : 0.0f;
        return;
    }
    if (g->b_ns == 1) {   /* rows of b are contiguous: a copy per k */
        for (k = 0; k < kc; k++) {
            const float *src = g->b + (size_t)(k0 + k) * g->b_ks + n0;
            float *dst = bp + (size_t)k * FACTEDIT__NR;
            memcpy(dst, src, sizeof(float) * (size_t)nr);
            for (j = nr; j < FACTEDIT__NR; j++) dst[j] = 0.0f;
        }
        return;
    }
#ifdef FACTEDIT__HAVE_TRANSPOSE
    if (g->b_ks == 1 && nr == FACTEDIT__NR) {   /* columns of b are contiguous (W's rows): VW x VW transposes */
        kv = kc - kc % FACTEDIT__VW;
        for (j = 0; j < FACTEDIT__NR; j += FACTEDIT__VW)
            for (k = 0; k < kv; k += FACTEDIT__VW)
                fe__transpose_vw(bp + (size_t)k * FACTEDIT__NR + j, FACTEDIT__NR,
                                 g->b + (size_t)(n0 + j) * g->b_ns + (size_t)(k0 + k), g->b_ns);
    }
#endif
    for (j = 0; j < FACTEDIT__NR; j++) {
        const float *src = g->b + (size_t)(n0 + j) * g->b_ns + (size_t)k0 * g->b_ks;
        if (j < nr) for (k = kv; k < kc; k++) bp[(size_t)k * FACTEDIT__NR + j] = src[(size_t)k * g->b_ks];
        else for (k = kv; k < kc; k++) bp[(size_t)k * FACTEDIT__NR + j] = 0.0f;
    }
}

/* Packs rows m0 .. m0+MR of a (zero rows past M), columns k0 .. k0+kc, into ap[kc][MR]. */
FACTEDIT__PRIV void fe__pack_a(float *ap, const fe__gemm_args *g, int m0, int k0, int kc) {
    int r, k, mr = g->M - m0 < FACTEDIT__MR ? g->M - m0 : FACTEDIT__MR;
    for (r = 0; r < mr; r++) {
        const float *src = g->a + (size_t)(m0 + r) * g->a_rs + (size_t)k0 * g->a_cs;
        if (g->a_cs == 1) for (k = 0; k < kc; k++) ap[(size_t)k * FACTEDIT__MR + r] = src[k];
        else for (k = 0; k < kc; k++) ap[(size_t)k * FACTEDIT__MR + r] = src[(size_t)k * g->a_cs];
    }
    for (; r < FACTEDIT__MR; r++) for (k = 0; k < kc; k++) ap[(size_t)k * FACTEDIT__MR + r] = 0.0f;
}

/* One row r of the micro-kernel, spelled out by the FACTEDIT__ROWS_n macros below. */
#define FACTEDIT__DECL(r) fe__vf c##r##a, c##r##b;
#define FACTEDIT__LOAD(r) \
    if (init) { \
        c##r##a = i0; \
        c##r##b = i1; \
    } else { \
        c##r##a = fe__vload(ct + (r) * ldc); \
        c##r##b = fe__vload(ct + (r) * ldc + FACTEDIT__VW); \
    }
#define FACTEDIT__FMA(r) { \
        fe__vf av = fe__vbcast(ap[r]); \
        c##r##a = fe__vfma(av, b0, c##r##a); \
        c##r##b = fe__vfma(av, b1, c##r##b); \
    }
#define FACTEDIT__STORE(r) fe__vstore(ct + (r) * ldc, c##r##a); fe__vstore(ct + (r) * ldc + FACTEDIT__VW, c##r##b);
#define FACTEDIT__ROWS_1(X) X(0)
#define FACTEDIT__ROWS_2(X) X(0) X(1)
#define FACTEDIT__ROWS_4(X) X(0) X(1) X(2) X(3)
#define FACTEDIT__ROWS_6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define FACTEDIT__ROWS_8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define FACTEDIT__ROWS_12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
/* ct: the (rows,NR) tile of c, rows ldc apart: starts from init0 (NR floats: bias or zeros) when
   init, else from the partial sums in ct. ap: packed a, MR floats per k (rows past `rows` unused).
   bp: the panel, NR values per k (BT: fp32, or bf16 widened in registers), rows bs apart. */
#define FACTEDIT__BLOAD_F(p, b0, b1) b0 = fe__vload(p); b1 = fe__vload((p) + FACTEDIT__VW);
#define FACTEDIT__KERNEL(name, ROWS, BT, BLOAD) \
    FACTEDIT__PRIV void name(float *ct, size_t ldc, int init, const float *init0, const float *ap, const BT *bp, \
                             size_t bs, int kc) { \
        int k; \
        fe__vf i0 = fe__vload(init0), i1 = fe__vload(init0 + FACTEDIT__VW); \
        ROWS(FACTEDIT__DECL) \
        ROWS(FACTEDIT__LOAD) \
        for (k = 0; k < kc; k++, ap += FACTEDIT__MR) { \
            fe__vf b0, b1; \
            BLOAD(bp + (size_t)k * bs, b0, b1) \
            ROWS(FACTEDIT__FMA) \
        } \
        ROWS(FACTEDIT__STORE) \
    }
#if FACTEDIT__MR == 12
#define FACTEDIT__ROWS_MR FACTEDIT__ROWS_12
#elif FACTEDIT__MR == 8
#define FACTEDIT__ROWS_MR FACTEDIT__ROWS_8
#else
#define FACTEDIT__ROWS_MR FACTEDIT__ROWS_6
#endif
FACTEDIT__KERNEL(fe__kernel_1, FACTEDIT__ROWS_1, float, FACTEDIT__BLOAD_F)
FACTEDIT__KERNEL(fe__kernel_2, FACTEDIT__ROWS_2, float, FACTEDIT__BLOAD_F)
FACTEDIT__KERNEL(fe__kernel_4, FACTEDIT__ROWS_4, float, FACTEDIT__BLOAD_F)
#if FACTEDIT__MR == 12   /* 8-row kernels only serve a short last block of 12 */
FACTEDIT__KERNEL(fe__kernel_8, FACTEDIT__ROWS_8, float, FACTEDIT__BLOAD_F)
FACTEDIT__KERNEL(fe__kernel16_8, FACTEDIT__ROWS_8, uint16_t, fe__vload_h)
#define FACTEDIT__K8(k8, k4) k8
#else
#define FACTEDIT__K8(k8, k4) k4   /* never called: q is 8 only when MR > 8 */
#endif
FACTEDIT__KERNEL(fe__kernel_mr, FACTEDIT__ROWS_MR, float, FACTEDIT__BLOAD_F)
/* the same over a bf16 panel: 2 bytes per weight streamed, the same fp32 FMAs, so a bf16-resident
   model computes exactly what its fp32 widening computes */
FACTEDIT__KERNEL(fe__kernel16_1, FACTEDIT__ROWS_1, uint16_t, fe__vload_h)
FACTEDIT__KERNEL(fe__kernel16_2, FACTEDIT__ROWS_2, uint16_t, fe__vload_h)
FACTEDIT__KERNEL(fe__kernel16_4, FACTEDIT__ROWS_4, uint16_t, fe__vload_h)
FACTEDIT__KERNEL(fe__kernel16_mr, FACTEDIT__ROWS_MR, uint16_t, fe__vload_h)
/* MR rows of the packed a, or a short last block as kernels of 8, 4, 2, 1 rows */
#define FACTEDIT__RUN_KERNELS(K1, K2, K4, K8, KMR, bpp) \
    if (mr == FACTEDIT__MR) KMR(ct, ldc, init, bz, ap, bpp, bs, kc); \
    else while (done < mr) { \
        int q = mr - done >= 8 && FACTEDIT__MR > 8 ? 8 : mr - done >= 4 ? 4 : mr - done >= 2 ? 2 : 1; \
        float *cq = ct + (size_t)done * ldc; \
        if (q == 8) K8(cq, ldc, init, bz, ap + done, bpp, bs, kc); \
        else if (q == 4) K4(cq, ldc, init, bz, ap + done, bpp, bs, kc); \
        else if (q == 2) K2(cq, ldc, init, bz, ap + done, bpp, bs, kc); \
        else K1(cq, ldc, init, bz, ap + done, bpp, bs, kc); \
        done += q; \
    }

/* All M rows against the panel of NR columns starting at n0 (nr of them valid). Full panels are
   computed in place in c (strided or panel-layout) from b in place (panel-layout W) or packed; a
   partial panel (the last one) goes through a tile. */
FACTEDIT__PRIV void fe__gemm_panel(const fe__gemm_args *g, int n0, int nr) {
    float bp[FACTEDIT__KC * FACTEDIT__NR], tile[FACTEDIT__MR * FACTEDIT__NR], bz[FACTEDIT__NR],
            apt[FACTEDIT__KC * FACTEDIT__MR];
    int k0, t, r, j, full = nr == FACTEDIT__NR;
    /* a full panel of a panel-layout operand: NR columns of one weight panel of width w, at
       offset off into it; rows w floats apart (NR divides the panel, so it never straddles two) */
    size_t p0 = (size_t)n0 - (size_t)n0 % FACTEDIT_WEIGHT_PANEL, off = (size_t)n0 - p0;
    size_t rows = FACTEDIT__PW_ROWS(g, g->N), wpn = FACTEDIT__PANEL_W(rows, p0);
    size_t wb = g->b_pw == 1 ? wpn : 0, wc = g->c_pw ? wpn : 0;
    for (j = 0; j < FACTEDIT__NR; j++) bz[j] = (g->bias && !g->accumulate && j < nr) ? g->bias[n0 + j] : 0.0f;
    for (k0 = 0; k0 < g->K; k0 += FACTEDIT__KC) {
        int kc = g->K - k0 < FACTEDIT__KC ? g->K - k0 : FACTEDIT__KC, init = k0 == 0 && !g->accumulate;
        const float *bpp = bp;
        const uint16_t *bpp16 = NULL;
        size_t bs = FACTEDIT__NR;
        if (g->b_pw == 1 && full) {
            size_t at = p0 * (size_t)g->K + (size_t)k0 * wb + off;
            if (g->b16) bpp16 = g->b16 + at; else bpp = g->b + at;
            bs = wb;
        } else fe__pack_panel(bp, g, n0, nr, k0, kc);
        for (t = 0; t < g->M; t += FACTEDIT__MR) {
            int left = g->M - t, mr = left >= FACTEDIT__MR ? FACTEDIT__MR : left, done = 0;
            float *ct;
            size_t ldc;
            const float *ap;
            if (g->ap) ap = g->ap + ((size_t)(t / FACTEDIT__MR) * g->K + (size_t)k0) * FACTEDIT__MR;
            else { fe__pack_a(apt, g, t, k0, kc); ap = apt; }
            if (!full) {
                ct = tile; ldc = FACTEDIT__NR;
                if (!init)
                    for (r = 0; r < mr; r++)
                        for (j = 0; j < nr; j++) tile[r * FACTEDIT__NR + j] = *fe__gemm_c(g, t + r, n0 + j);
            } else if (g->c_pw) { ct = g->c + p0 * (size_t)g->M + (size_t)t * wc + off; ldc = wc; }
            else { ct = g->c + (size_t)t * g->ldc + n0; ldc = g->ldc; }
            if (bpp16) {
                FACTEDIT__RUN_KERNELS(fe__kernel16_1, fe__kernel16_2, fe__kernel16_4,
                                      FACTEDIT__K8(fe__kernel16_8, fe__kernel16_4), fe__kernel16_mr, bpp16)
            } else {
                FACTEDIT__RUN_KERNELS(fe__kernel_1, fe__kernel_2, fe__kernel_4,
                                      FACTEDIT__K8(fe__kernel_8, fe__kernel_4), fe__kernel_mr, bpp)
            }
            if (!full)
                for (r = 0; r < mr; r++)
                    for (j = 0; j < nr; j++) *fe__gemm_c(g, t + r, n0 + j) = tile[r * FACTEDIT__NR + j];
        }
    }
}

/* Runs a GEMM with threads over panels of output columns; a is packed first (in parallel) when
   the buffer can be had and a is read by enough panels to pay for it. */
FACTEDIT__PRIV void fe__gemm_run(fe__gemm_args *g) {
    int p, np = (g->N + FACTEDIT__NR - 1) / FACTEDIT__NR, nb = (g->M + FACTEDIT__MR - 1) / FACTEDIT__MR;
    size_t apn = (size_t)nb * (size_t)g->K * FACTEDIT__MR;
    float *ap = np > 1 && apn <= ((size_t)-1) / sizeof(float) ? (float *)fe__malloc(NULL, apn * sizeof(float)) : NULL;
    g->ap = ap;
#if defined(_OPENMP)
#pragma omp parallel if ((size_t)g->M * g->N * g->K > 100000)
#endif
    {
        int q;
        if (ap) {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
            for (q = 0; q < nb; q++) {
                int k0;
                for (k0 = 0; k0 < g->K; k0 += FACTEDIT__KC)
                    fe__pack_a(ap + ((size_t)q * g->K + (size_t)k0) * FACTEDIT__MR, g, q * FACTEDIT__MR, k0,
                               g->K - k0 < FACTEDIT__KC ? g->K - k0 : FACTEDIT__KC);
            }
        }
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
        for (p = 0; p < np; p++) {
            int n0 = p * FACTEDIT__NR;
            fe__gemm_panel(g, n0, g->N - n0 < FACTEDIT__NR ? g->N - n0 : FACTEDIT__NR);
        }
    }
    fe__free(NULL, ap);
}
#endif

/* The arguments of a strided GEMM, c (M,N) [+]= a (M,K) . b (K,N) [+ bias]: for fe__gemm and
   its scalar reference fe__gemm_ref. */
FACTEDIT__PRIV fe__gemm_args fe__gemm_strided(float *c, size_t ldc, const float *a, size_t a_rs, size_t a_cs,
                                              const float *b, size_t b_ks, size_t b_ns, const float *bias, int M, int N,
                                              int K, int accumulate) {
    fe__gemm_args g;
    memset(&g, 0, sizeof g);
    g.c = c;
    g.ldc = ldc;
    g.a = a;
    g.a_rs = a_rs;
    g.a_cs = a_cs;
    g.b = b;
    g.b_ks = b_ks;
    g.b_ns = b_ns;
    g.bias = bias;
    g.M = M;
    g.N = N;
    g.K = K;
    g.accumulate = accumulate;
    return g;
}
/* b as a panel-layout weight matrix (fp32 or bf16) instead of strided: b_pw 1 reads b(k,n) =
   W[n][k] (the forward), 2 reads W[k][n] (the backward's dout . W); w_rows as in fe__gemm_args. */
FACTEDIT__PRIV void fe__gemm_b_panel(fe__gemm_args *g, fe__wref w, int b_pw, int w_rows) {
    g->b = w.f;
    g->b16 = w.h;
    g->b_pw = b_pw;
    g->pw_rows = w_rows;
}
FACTEDIT__PRIV void fe__gemm_ref(float *c, size_t ldc, const float *a, size_t a_rs, size_t a_cs, const float *b,
                                 size_t b_ks, size_t b_ns, const float *bias, int M, int N, int K, int accumulate) {
    fe__gemm_args g = fe__gemm_strided(c, ldc, a, a_rs, a_cs, b, b_ks, b_ns, bias, M, N, K, accumulate);
    fe__gemm_ref_g(&g);
}

/* Scalar reference. inp (T,C) w (OC,C) bias (OC) or NULL -> out (T,OC); out rows are
   `ldo` floats apart (ldo >= OC). */
FACTEDIT_API void fe_matmul_ref(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T,
                                int C, int OC) {
    fe__gemm_ref(out, ldo, inp, (size_t)C, 1, w, 1, (size_t)C, bias, T, OC, C, 0);
}

/* The one entry point every matrix product goes through. */
FACTEDIT__PRIV void fe__gemm_go(fe__gemm_args *g) {
    g->ap = NULL;
#ifdef FACTEDIT__VW
    fe__gemm_run(g);
#else
    fe__gemm_ref_g(g);
#endif
}
FACTEDIT__PRIV void fe__gemm(float *c, size_t ldc, const float *a, size_t a_rs, size_t a_cs, const float *b,
                             size_t b_ks, size_t b_ns, const float *bias, int M, int N, int K, int accumulate) {
    fe__gemm_args g = fe__gemm_strided(c, ldc, a, a_rs, a_cs, b, b_ks, b_ns, bias, M, N, K, accumulate);
    fe__gemm_go(&g);
}

/* out (T,OC) = inp (T,C) . W^T + bias for a panel-layout W (OC,C): the block matrices. Every T
   goes through the GEMM: a panel streams front to back, which also suits decoding (T = 1). */
FACTEDIT__PRIV void fe__matmul_w(float *out, size_t ldo, const float *inp, fe__wref w, int w_rows, const float *bias,
                                 int T, int C, int OC) {
    fe__gemm_args g = fe__gemm_strided(out, ldo, inp, (size_t)C, 1, NULL, 0, 0, bias, T, OC, C, 0);
    fe__gemm_b_panel(&g, w, 1, w_rows);
    fe__gemm_go(&g);
}
FACTEDIT_API void fe_matmul_panel(float *out, size_t ldo, const float *inp, const float *w, int w_rows,
                                  const float *bias, int T, int C, int OC) {
    fe__wref W;
    W.f = w; W.h = NULL;
    fe__matmul_w(out, ldo, inp, W, w_rows, bias, T, C, OC);
}

/* out (T,OC) = inp (T,C) . w (OC,C)^T + bias for a plain w (the library's own weights are all
   panel-layout and go through fe_matmul_panel; this serves callers' matrices). Threads split the
   output columns (panels of NR, or blocks of 4 for few rows); each output is computed by one
   thread in a fixed order, so the result does not depend on the thread count. Few rows: dot-
   product tiles that stream each weight row once, which is what a bandwidth-bound GEMV wants. */
FACTEDIT_API void fe_matmul(float *out, size_t ldo, const float *inp, const float *w, const float *bias, int T, int C,
                            int OC) {
#ifdef FACTEDIT__VW
    int ob;
    if (T >= FACTEDIT__GEMM_MIN_T) {
        fe__gemm(out, ldo, inp, (size_t)C, 1, w, 1, (size_t)C, bias, T, OC, C, 0);
    } else {
        int nob = (OC + 3) / 4;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)T * OC * C > 100000)
#endif
        for (ob = 0; ob < nob; ob++) {
            int t, o0 = ob * 4, no = OC - o0 < 4 ? OC - o0 : 4;
            for (t = 0; t < T; t += 4) fe__tile(out, ldo, inp, w, bias, C, t, T - t < 4 ? T - t : 4, o0, no);
        }
    }
#else
    fe_matmul_ref(out, ldo, inp, w, bias, T, C, OC);
#endif
}

/* One row of layer norm, the scalar reference: y = (x - mean) / sqrt(var + 1e-5) * w + b, sums
   in index order. */
FACTEDIT__PRIV void fe__layernorm_row_ref(float *y, float *mean, float *rstd, const float *x, const float *w,
                                          const float *b, int C) {
    float m = 0.0f, v = 0.0f, s;
    int i;
    for (i = 0; i < C; i++) m += x[i];
    m /= (float)C;
    for (i = 0; i < C; i++) { float d = x[i] - m; v += d * d; }
    v /= (float)C;
    s = 1.0f / sqrtf(v + 1e-5f);
    for (i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
    if (mean) *mean = m;
    if (rstd) *rstd = s;
}

/* The same row with SIMD: the two sums run in 2 x VW lanes (then across lanes and the tail), the
   normalisation VW at a time. Same formula, float rounding apart (tested against the reference). */
FACTEDIT__PRIV void fe__layernorm_row(float *y, float *mean, float *rstd, const float *x, const float *w,
                                      const float *b, int C) {
#ifdef FACTEDIT__VW
    fe__vf s0 = fe__vzero(), s1 = fe__vzero(), vm, vs;
    float m, v, s;
    int i = 0;
    /* not one vector: nothing to gain */
    if (C < FACTEDIT__VW) { fe__layernorm_row_ref(y, mean, rstd, x, w, b, C); return; }
    for (; i + 2 * FACTEDIT__VW <= C; i += 2 * FACTEDIT__VW) {
        s0 = fe__vadd(s0, fe__vload(x + i));
        s1 = fe__vadd(s1, fe__vload(x + i + FACTEDIT__VW));
    }
    for (; i + FACTEDIT__VW <= C; i += FACTEDIT__VW) s0 = fe__vadd(s0, fe__vload(x + i));
    m = fe__vhsum(fe__vadd(s0, s1));
    for (; i < C; i++) m += x[i];
    m /= (float)C;
    vm = fe__vbcast(m); s0 = fe__vzero(); s1 = fe__vzero();
    for (i = 0; i + 2 * FACTEDIT__VW <= C; i += 2 * FACTEDIT__VW) {
        fe__vf d0 = fe__vsub(fe__vload(x + i), vm), d1 = fe__vsub(fe__vload(x + i + FACTEDIT__VW), vm);
        s0 = fe__vfma(d0, d0, s0); s1 = fe__vfma(d1, d1, s1);
    }
    for (; i + FACTEDIT__VW <= C; i += FACTEDIT__VW) {
        fe__vf d0 = fe__vsub(fe__vload(x + i), vm);
        s0 = fe__vfma(d0, d0, s0);
    }
    v = fe__vhsum(fe__vadd(s0, s1));
    for (; i < C; i++) { float d = x[i] - m; v += d * d; }
    v /= (float)C;
    s = 1.0f / sqrtf(v + 1e-5f);
    vs = fe__vbcast(s);
    for (i = 0; i + FACTEDIT__VW <= C; i += FACTEDIT__VW)
        fe__vstore(y + i, fe__vfma(fe__vmul(fe__vsub(fe__vload(x + i), vm), vs), fe__vload(w + i), fe__vload(b + i)));
    for (; i < C; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
    if (mean) *mean = m;
    if (rstd) *rstd = s;
#else
    fe__layernorm_row_ref(y, mean, rstd, x, w, b, C);
#endif
}

/* inp (N,C) -> out (N,C); mean/rstd (N) kept for the backward pass. */
FACTEDIT__PRIV void fe__layernorm(float *out, float *mean, float *rstd, const float *inp, const float *w,
                                  const float *b, int N, int C) {
    int n;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)N * C >= 65536)
#endif
    for (n = 0; n < N; n++)
        fe__layernorm_row(out + (size_t)n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL, inp + (size_t)n * C, w,
                          b, C);
}

#define FACTEDIT__GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
/* tanh through one expf: 1 - 2/(e^2u + 1). Absolute error ~1e-7 (what GELU's 0.5x(1 + tanh)
   needs), and faster than libm's tanhf (PERFORMANCE NOTES). */
FACTEDIT__PRIV float fe__tanh(float u) {
    float e;
    if (u > 15.0f) return 1.0f;
    if (u < -15.0f) return -1.0f;
    e = expf(2.0f * u);
    return 1.0f - 2.0f / (e + 1.0f);
}
#ifdef FACTEDIT__VW
/* e^x for |x| <= 88: x = n ln2 + r (n = round(x / ln2), ln2 split in two so r is exact to float
   precision), e^r by its Taylor series to r^6 (|r| <= 0.347: truncation 1.2e-7 relative), times
   2^n built in the exponent bits. */
FACTEDIT__PRIV fe__vf fe__vexp(fe__vf x) {
    fe__vf n, r, p;
    x = fe__vmin(fe__vmax(x, fe__vbcast(-87.0f)), fe__vbcast(88.0f));
    n = fe__vround(fe__vmul(x, fe__vbcast(1.44269504088896341f)));
    r = fe__vfma(n, fe__vbcast(-0.693359375f), x);
    r = fe__vfma(n, fe__vbcast(2.12194440e-4f), r);
    p = fe__vfma(fe__vbcast(1.0f / 720.0f), r, fe__vbcast(1.0f / 120.0f));
    p = fe__vfma(p, r, fe__vbcast(1.0f / 24.0f));
    p = fe__vfma(p, r, fe__vbcast(1.0f / 6.0f));
    p = fe__vfma(p, r, fe__vbcast(0.5f));
    p = fe__vfma(p, r, fe__vbcast(1.0f));
    p = fe__vfma(p, r, fe__vbcast(1.0f));
    return fe__vmul(p, fe__vpow2i(n));
}
/* tanh(u) = 1 - 2 / (e^2u + 1), as fe__tanh (u clamped to +-15 there, to +-44 here: same floats) */
FACTEDIT__PRIV fe__vf fe__vtanh(fe__vf u) {
    fe__vf e = fe__vexp(fe__vmul(u, fe__vbcast(2.0f)));
    return fe__vsub(fe__vbcast(1.0f), fe__vdiv(fe__vbcast(2.0f), fe__vadd(e, fe__vbcast(1.0f))));
}
#endif

/* The scalar GELU (reference, and the tail of the SIMD loop). */
FACTEDIT__PRIV void fe__gelu_ref(float *out, const float *inp, size_t N) {
    size_t i;
    for (i = 0; i < N; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + fe__tanh(FACTEDIT__GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}
FACTEDIT__PRIV void fe__gelu_block(float *out, const float *inp, size_t N);
/* Blocks of 16K values on the threads when there are many (each value is computed alone). */
FACTEDIT__PRIV void fe__gelu(float *out, const float *inp, size_t N) {
    long q, nq = (long)((N + 16383) / 16384);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (nq >= 4)
#endif
    for (q = 0; q < nq; q++) {
        size_t i0 = (size_t)q * 16384, len = N - i0 < 16384 ? N - i0 : 16384;
        fe__gelu_block(out + i0, inp + i0, len);
    }
}
FACTEDIT__PRIV void fe__gelu_block(float *out, const float *inp, size_t N) {
    size_t i = 0;
#ifdef FACTEDIT__VW
    const fe__vf s = fe__vbcast(FACTEDIT__GELU_SCALE), c = fe__vbcast(0.044715f), h = fe__vbcast(0.5f),
                 one = fe__vbcast(1.0f);
    for (; i + FACTEDIT__VW <= N; i += FACTEDIT__VW) {
        fe__vf x = fe__vload(inp + i), x3 = fe__vmul(fe__vmul(x, x), x);
        fe__vf th = fe__vtanh(fe__vmul(s, fe__vfma(c, x3, x)));
        fe__vstore(out + i, fe__vmul(fe__vmul(h, x), fe__vadd(one, th)));
    }
#endif
    fe__gelu_ref(out + i, inp + i, N - i);
}
FACTEDIT_API void fe_softmax(const float *logits, float *probs, int V) {
    int i;
    float mx = -INFINITY;
    double sum = 0.0;
    for (i = 0; i < V; i++) if (logits[i] > mx) mx = logits[i];
    for (i = 0; i < V; i++) { probs[i] = expf(logits[i] - mx); sum += probs[i]; }
    for (i = 0; i < V; i++) probs[i] = (float)(probs[i] / sum);
}

/* ======================================================== >>impl-load ========================= */

#define FACTEDIT__MAGIC 20240326
#define FACTEDIT__HEADER_BYTES 1024

static const char *const fe__param_names[FACTEDIT_NUM_PARAM_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};
FACTEDIT_API const char *fe_param_name(int i) {
    return i >= 0 && i < FACTEDIT_NUM_PARAM_TENSORS ? fe__param_names[i] : "?";
}

FACTEDIT_API fe_result fe_config_check(const fe_config *c, fe_error *err) {
    if (c->num_layers < 1 || c->num_layers > FACTEDIT_MAX_LAYERS)
        return fe__fail(err, fe_err_limit, "config: %d layers, allowed 1..%d", c->num_layers, FACTEDIT_MAX_LAYERS);
    if (c->channels < 1 || c->channels > FACTEDIT_MAX_WIDTH)
        return fe__fail(err, fe_err_limit, "config: width C = %d, allowed 1..%d", c->channels, FACTEDIT_MAX_WIDTH);
    if (c->num_heads < 1 || c->num_heads > FACTEDIT_MAX_HEADS)
        return fe__fail(err, fe_err_limit, "config: %d heads, allowed 1..%d", c->num_heads, FACTEDIT_MAX_HEADS);
    if (c->channels % c->num_heads)
        return fe__fail(err, fe_err_format, "config: width %d is not a multiple of %d heads", c->channels,
                        c->num_heads);
    if (c->vocab_size < 1 || c->vocab_size > FACTEDIT_MAX_VOCAB)
        return fe__fail(err, fe_err_limit, "config: vocabulary %d, allowed 1..%d", c->vocab_size, FACTEDIT_MAX_VOCAB);
    if (c->padded_vocab_size < c->vocab_size || c->padded_vocab_size > FACTEDIT_MAX_VOCAB + 4096)
        return fe__fail(err, fe_err_format, "config: padded vocabulary %d is below the vocabulary %d or too large",
                        c->padded_vocab_size, c->vocab_size);
    if (c->max_seq_len < 1 || c->max_seq_len > FACTEDIT_MAX_CONTEXT)
        return fe__fail(err, fe_err_limit, "config: context %d, allowed 1..%d", c->max_seq_len, FACTEDIT_MAX_CONTEXT);
    return fe_ok;
}

FACTEDIT_API fe_result fe_param_sizes(const fe_config *c, size_t s[FACTEDIT_NUM_PARAM_TENSORS], size_t *total,
                                      fe_error *err) {
    size_t C = (size_t)c->channels, L = (size_t)c->num_layers, sum = 0;
    int i, ok = 1;
    fe_result r = fe_config_check(c, err);
    if (r) return r;
    ok &= fe__mul(c->padded_vocab_size, C, &s[fe_tensor_wte]);
    ok &= fe__mul(c->max_seq_len, C, &s[fe_tensor_wpe]);
    ok &= fe__mul(L, C, &s[fe_tensor_ln1w]);
    ok &= fe__mul3(L, 3 * C, C, &s[fe_tensor_qkvw]);
    ok &= fe__mul(L, 3 * C, &s[fe_tensor_qkvb]);
    ok &= fe__mul3(L, C, C, &s[fe_tensor_attprojw]);
    ok &= fe__mul3(L, 4 * C, C, &s[fe_tensor_fcw]);
    ok &= fe__mul(L, 4 * C, &s[fe_tensor_fcb]);
    s[fe_tensor_ln1b] = s[fe_tensor_ln1w];       /* every (L, C) tensor */
    s[fe_tensor_attprojb] = s[fe_tensor_ln1w];
    s[fe_tensor_ln2w] = s[fe_tensor_ln1w];
    s[fe_tensor_ln2b] = s[fe_tensor_ln1w];
    s[fe_tensor_fcprojb] = s[fe_tensor_ln1w];
    s[fe_tensor_fcprojw] = s[fe_tensor_fcw];     /* (L, C, 4C) */
    s[fe_tensor_lnfw] = C;
    s[fe_tensor_lnfb] = C;
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) ok &= fe__add(sum, s[i], &sum);
    if (!ok || sum > ((size_t)-1) / 8) return fe__fail(err, fe_err_limit, "config: parameter count overflows size_t");
    if (total) *total = sum;
    return fe_ok;
}

/* The 16 pointers of a fe_params, in checkpoint order. */
FACTEDIT__PRIV void fe__param_slots(fe_params *p, float **q[FACTEDIT_NUM_PARAM_TENSORS]) {
    q[fe_tensor_wte] = &p->wte;
    q[fe_tensor_wpe] = &p->wpe;
    q[fe_tensor_ln1w] = &p->ln1w;
    q[fe_tensor_ln1b] = &p->ln1b;
    q[fe_tensor_qkvw] = &p->qkvw;
    q[fe_tensor_qkvb] = &p->qkvb;
    q[fe_tensor_attprojw] = &p->attprojw;
    q[fe_tensor_attprojb] = &p->attprojb;
    q[fe_tensor_ln2w] = &p->ln2w;
    q[fe_tensor_ln2b] = &p->ln2b;
    q[fe_tensor_fcw] = &p->fcw;
    q[fe_tensor_fcb] = &p->fcb;
    q[fe_tensor_fcprojw] = &p->fcprojw;
    q[fe_tensor_fcprojb] = &p->fcprojb;
    q[fe_tensor_lnfw] = &p->lnfw;
    q[fe_tensor_lnfb] = &p->lnfb;
}
FACTEDIT__PRIV void fe__point_params(fe_model *m) {
    float **p[FACTEDIT_NUM_PARAM_TENSORS];
    float *at = m->blob;
    uint16_t *ah = m->fe__hblob;
    int i;
    fe__param_slots(&m->params, p);
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) {
        if (m->weights_bf16 && FACTEDIT__H_TENSOR(i)) { *p[i] = NULL; m->fe__h[i] = ah; ah += m->param_sizes[i]; }
        else { *p[i] = at; at += m->param_sizes[i]; m->fe__h[i] = NULL; }
    }
}
/* Parameters a model keeps in bf16 (0 unless weights_bf16). */
FACTEDIT__PRIV size_t fe__h_params(const fe_model *m) {
    size_t h = 0;
    int t;
    for (t = 0; m->weights_bf16 && t < FACTEDIT_NUM_PARAM_TENSORS; t++)
        if (FACTEDIT__H_TENSOR(t)) h += m->param_sizes[t];
    return h;
}
/* Tensor t's fp32 storage (NULL for a bf16 tensor: see m->fe__h[t]). */
FACTEDIT__PRIV float *fe__tensor(const fe_model *m, int t) {
    fe_params p = m->params;
    float **q[FACTEDIT_NUM_PARAM_TENSORS];
    fe__param_slots(&p, q);
    return *q[t];
}
/* Layer l's matrix of tensor t (a fe_param_matrix one; l = 0 for wte). */
FACTEDIT__PRIV fe__wref fe__W(const fe_model *m, fe_tensor t, int l) {
    fe__wref w;
    size_t out = 0, in = 0;
    fe_param_matrix(&m->config, t, &out, &in);
    w.f = m->fe__h[t] ? NULL : fe__tensor(m, t) + (size_t)l * out * in;
    w.h = m->fe__h[t] ? m->fe__h[t] + (size_t)l * out * in : NULL;
    return w;
}

/* ---- panel layout of the block matrices (see fe_weight_index) ---- */
FACTEDIT_API size_t fe_weight_index(size_t out, size_t in, size_t o, size_t i) {
    size_t p0 = o - o % FACTEDIT_WEIGHT_PANEL, w = FACTEDIT__PANEL_W(out, p0);
    return p0 * in + i * w + (o - p0);
}
FACTEDIT_API void fe_weight_pack(float *dst, const float *src, size_t out, size_t in) {
    size_t p0, o, i;
    for (p0 = 0; p0 < out; p0 += FACTEDIT_WEIGHT_PANEL) {   /* rows read in order, the panel
                                                               (L2-sized) written across */
        size_t w = FACTEDIT__PANEL_W(out, p0);
        float *d = dst + p0 * in;
        for (o = 0; o < w; o++) for (i = 0; i < in; i++) d[i * w + o] = src[(p0 + o) * in + i];
    }
}
FACTEDIT_API void fe_weight_unpack(float *dst, const float *src, size_t out, size_t in) {
    size_t p0, o, i;
    for (p0 = 0; p0 < out; p0 += FACTEDIT_WEIGHT_PANEL) {
        size_t w = FACTEDIT__PANEL_W(out, p0);
        const float *s = src + p0 * in;
        for (o = 0; o < w; o++) for (i = 0; i < in; i++) dst[(p0 + o) * in + i] = s[i * w + o];
    }
}
FACTEDIT_API int fe_param_matrix(const fe_config *c, int t, size_t *out, size_t *in) {
    size_t C = (size_t)c->channels, o = 0, i = 0;
    switch (t) {
    case fe_tensor_wte: o = (size_t)c->padded_vocab_size; i = C; break;   /* embeddings and the tied head */
    case fe_tensor_qkvw: o = 3 * C; i = C; break;
    case fe_tensor_attprojw: o = C; i = C; break;
    case fe_tensor_fcw: o = 4 * C; i = C; break;
    case fe_tensor_fcprojw: o = C; i = 4 * C; break;
    default: return 0;
    }
    if (out) *out = o;
    if (in) *in = i;
    return 1;
}

/* n parameters in file (plain) order from flat index j0 into dst, as fp32: plain tensors as
   runs, a panel-layout matrix row by row (a row's columns sit one panel width apart), bf16
   tensors widened. */
FACTEDIT__PRIV void fe__plain_read(const fe_model *m, size_t j0, size_t n, float *dst) {
    size_t start = 0, k = 0, x;
    int t = 0;
    while (k < n) {
        size_t j = j0 + k, out, in, q, o, i, w, take;
        const float *f;
        const uint16_t *h;
        while (j >= start + m->param_sizes[t]) start += m->param_sizes[t++];
        f = fe__tensor(m, t); h = m->fe__h[t];
        if (!fe_param_matrix(&m->config, t, &out, &in)) {   /* a run to the tensor's end */
            take = start + m->param_sizes[t] - j < n - k ? start + m->param_sizes[t] - j : n - k;
            memcpy(dst + k, f + (j - start), sizeof(float) * take);
            k += take;
            continue;
        }
        q = (j - start) % (out * in);   /* position in its layer's matrix */
        o = q / in; i = q % in; w = FACTEDIT__PANEL_W(out, o - o % FACTEDIT_WEIGHT_PANEL);
        take = in - i < n - k ? in - i : n - k;
        if (h) {
            const uint16_t *row = h + (j - start - q) + fe__h_index(out, in, o, 0);
            for (x = 0; x < take; x++) dst[k + x] = fe_bf16_to_f32(row[(i + x) * w]);
        } else {
            const float *row = f + (j - start - q) + fe_weight_index(out, in, o, 0);
            for (x = 0; x < take; x++) dst[k + x] = row[(i + x) * w];
        }
        k += take;
    }
}
/* Floats of the largest panel-layout matrix: wte's Vp C or a block's 4 C^2. */
FACTEDIT__PRIV size_t fe__max_matrix(const fe_model *m) {
    size_t C = (size_t)m->config.channels, v = (size_t)m->config.padded_vocab_size * C;
    return v > 4 * C * C ? v : 4 * C * C;
}
/* Every block matrix of blob between the plain and the panel layout (in place, through one
   matrix-sized buffer). */
FACTEDIT__PRIV fe_result fe__relayout(const fe_model *m, int to_panels, fe_error *err) {
    size_t out, in, per, l;
    float *tmp = NULL;
    int t;
    for (t = 0; t < FACTEDIT_NUM_PARAM_TENSORS; t++) {
        if (!fe_param_matrix(&m->config, t, &out, &in) || m->fe__h[t]) continue;   /* bf16: decoded into its layout */
        per = out * in;
        if (!tmp && !(tmp = (float *)fe__malloc(m->alloc_user, sizeof(float) * fe__max_matrix(m))))
            return fe__fail(err, fe_err_nomem, "model: cannot allocate a %zu-float buffer to lay out the weights",
                            fe__max_matrix(m));
        for (l = 0; l < m->param_sizes[t] / per; l++) {   /* L matrices, or wte's one */
            float *w = fe__tensor(m, t) + l * per;
            memcpy(tmp, w, sizeof(float) * per);
            if (to_panels) fe_weight_pack(w, tmp, out, in); else fe_weight_unpack(w, tmp, out, in);
        }
    }
    fe__free(m->alloc_user, tmp);
    return fe_ok;
}

FACTEDIT_API size_t fe_model_weight_bytes(const fe_model *m) {
    size_t h = fe__h_params(m);
    return 2 * h + 4 * (m->num_params - h);   /* fits: fe__model_alloc allocated it */
}

FACTEDIT_API uint64_t fe_model_checksum(const fe_model *m) {
    /* FNV-1a's step over the six config values (as whole 32-bit words), then fe__hash_words over
       the weights in file order, so the hash does not depend on the in-memory layout. Files
       store it: it never changes. */
    uint64_t h = FACTEDIT_FNV1A64_INIT;
    const int cf[6] = {m->config.max_seq_len, m->config.vocab_size, m->config.padded_vocab_size,
                       m->config.num_layers, m->config.num_heads, m->config.channels};
    float chunk[4096];
    size_t i, n;
    for (i = 0; i < 6; i++) {
        h ^= (uint64_t)(uint32_t)cf[i];
        h *= 1099511628211ull;
    }
    for (i = 0; i < m->num_params; i += n) {
        n = m->num_params - i < 4096 ? m->num_params - i : 4096;
        fe__plain_read(m, i, n, chunk);
        h = fe__hash_words(h, chunk, n);
    }
    return h;
}

FACTEDIT_API void fe_model_free(fe_model *m) {
    if (!m) return;
#ifdef FACTEDIT__POSIX
    if (m->fe__map) munmap(m->fe__map, m->fe__map_len);
#endif
    if (m->fe__owns_blob) fe__free(m->alloc_user, m->blob);
    fe__free(m->alloc_user, m->fe__hblob);
    fe__free(m->alloc_user, m);
}

/* Reads and validates the 256-int header; *expect = exact file length it implies. */
FACTEDIT__PRIV fe_result fe__parse_header(const unsigned char *bytes, size_t len, fe_config *c, int *version,
                                          size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], size_t *nparams, size_t *expect,
                                          fe_error *err) {
    int32_t h[8];
    int i;
    size_t data;
    fe_result r;
    if (len < FACTEDIT__HEADER_BYTES)
        return fe__fail(err, fe_err_format, "checkpoint: file has %zu bytes, the header alone needs %d", len,
                        FACTEDIT__HEADER_BYTES);
    for (i = 0; i < 8; i++) h[i] = (int32_t)fe__rd32le(bytes + 4 * i);
    if (h[0] != FACTEDIT__MAGIC)
        return fe__fail(err, fe_err_format, "checkpoint: bad magic %d (want %d: an llm.c GPT-2 checkpoint)", (int)h[0],
                        FACTEDIT__MAGIC);
    if (h[1] != 3 && h[1] != 5)
        return fe__fail(err, fe_err_unsupported, "checkpoint: version %d not supported (3 = fp32, 5 = bf16)",
                        (int)h[1]);
    c->max_seq_len = h[2];
    c->vocab_size = h[3];
    c->num_layers = h[4];
    c->num_heads = h[5];
    c->channels = h[6];
    c->padded_vocab_size = h[7];
    r = fe_param_sizes(c, sizes, nparams, err);
    if (r) return r;
    if (!fe__mul(*nparams, h[1] == 3 ? 4 : 2, &data) || !fe__add(data, FACTEDIT__HEADER_BYTES, expect))
        return fe__fail(err, fe_err_limit, "checkpoint: parameter bytes overflow");
    if (len != *expect)
        return fe__fail(err, fe_err_format,
                        "checkpoint: file has %zu bytes, header (L=%d C=%d V=%d Vp=%d maxT=%d, %s) needs %zu", len,
                        c->num_layers, c->channels, c->vocab_size, c->padded_vocab_size, c->max_seq_len,
                        h[1] == 3 ? "fp32" : "bf16", *expect);
    *version = h[1];
    return fe_ok;
}

/* Every weight finite, in file order (the index named is the file's): blob flat as decoded (an
   fp32 model before fe__relayout), or read through fe__plain_read (laid out: a bf16 model). */
FACTEDIT__PRIV fe_result fe__check_finite(const fe_model *m, int laid_out, fe_error *err) {
    size_t i, j, n, t = 0, start = 0;
    float chunk[4096];
    for (i = 0; i < m->num_params; i += n) {
        const float *v = m->blob + i;
        n = m->num_params - i < 4096 ? m->num_params - i : 4096;
        if (laid_out) { fe__plain_read(m, i, n, chunk); v = chunk; }
        for (j = 0; j < n; j++) {
            while (i + j >= start + m->param_sizes[t]) start += m->param_sizes[t++];
            if (!isfinite(v[j]))
                return fe__fail(err, fe_err_numeric, "checkpoint: %s of %s at element %zu of tensor '%s'",
                                isnan(v[j]) ? "NaN" : "Inf", "weights", i + j - start, fe__param_names[t]);
        }
    }
    return fe_ok;
}

FACTEDIT__PRIV fe_result fe__model_alloc(fe_model **out, const fe_config *c, const fe_load_opts *opts, int with_blob,
                                         fe_error *err) {
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
    m->weights_bf16 = opts && opts->bf16_weights;
    if (with_blob || m->weights_bf16) {
        size_t nh = fe__h_params(m), hbytes = 0;
        if (!fe__mul(m->num_params - nh, sizeof(float), &bytes) || !fe__mul(nh, sizeof(uint16_t), &hbytes)) {
            fe__free(u, m);
            return fe__fail(err, fe_err_limit, "model: size overflow");
        }
        m->blob = (float *)fe__calloc(u, bytes);
        m->fe__hblob = nh ? (uint16_t *)fe__calloc(u, hbytes) : NULL;
        if (!m->blob || (nh && !m->fe__hblob)) {
            fe__free(u, m->blob); fe__free(u, m->fe__hblob); fe__free(u, m);
            return fe__fail(err, fe_err_nomem, "model: cannot allocate %zu bytes of weights", bytes + hbytes);
        }
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

/* n values of the data section from element j: fp32 copy or bf16 widening. */
FACTEDIT__PRIV void fe__decode_run(float *dst, const unsigned char *src, size_t j, size_t n, int version) {
    size_t i;
    if (version == 3 && fe__little_endian()) { memcpy(dst, src + 4 * j, n * 4); return; }
    for (i = j; i < j + n; i++) {
        if (version == 3) dst[i - j] = fe__rdf32le(src + 4 * i);
        else dst[i - j] = fe_bf16_to_f32(fe__rd16le(src + 2 * i));
    }
}
/* Fills the model from the data section, in file order: fp32 tensors into their storage (the
   matrices plain, for fe__relayout), a bf16 model's bf16 tensors straight into their layout (a
   bf16 file's values as stored, an fp32 file's rounded to nearest even). */
FACTEDIT__PRIV void fe__decode_params(fe_model *m, const unsigned char *src, int version) {
    size_t start = 0, out = 0, in = 0, q;
    int t;
    if (!m->weights_bf16) { fe__decode_run(m->blob, src, 0, m->num_params, version); return; }
    for (t = 0; t < FACTEDIT_NUM_PARAM_TENSORS; start += m->param_sizes[t], t++) {
        uint16_t *h = m->fe__h[t];
        if (!h) { fe__decode_run(fe__tensor(m, t), src, start, m->param_sizes[t], version); continue; }
        fe_param_matrix(&m->config, t, &out, &in);
        for (q = 0; q < m->param_sizes[t]; q += out * in) {   /* each layer's matrix, row by row */
            size_t o, i, e = start + q;
            for (o = 0; o < out; o++) {
                uint16_t *row = h + q + fe__h_index(out, in, o, 0);
                size_t w = FACTEDIT__PANEL_W(out, o - o % FACTEDIT_WEIGHT_PANEL);
                for (i = 0; i < in; i++, e++) {
                    if (version == 5) row[i * w] = fe__rd16le(src + 2 * e);
                    else row[i * w] = fe_f32_to_bf16(fe__rdf32le(src + 4 * e));
                }
            }
        }
    }
}

FACTEDIT__PRIV fe_result fe__model_finish(fe_model *m, const fe_load_opts *opts, fe_error *err) {
    fe_result r;
    int check = !(opts && opts->allow_nonfinite);
    if (check && !m->weights_bf16 && (r = fe__check_finite(m, 0, err)) != fe_ok) return r;
    if ((r = fe__relayout(m, 1, err)) != fe_ok) return r;
    if (check && m->weights_bf16 && (r = fe__check_finite(m, 1, err)) != fe_ok) return r;
    m->load_checksum = fe_model_checksum(m);
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_model_load_mem(fe_model **out, const void *bytes, size_t len, const fe_load_opts *opts,
                                         fe_error *err) {
    fe_config c;
    size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], np = 0, expect = 0;
    int version = 0;
    fe_model *m;
    fe_result r;
    if (!out || !bytes) return fe__fail(err, fe_err_arg, "checkpoint: NULL argument");
    *out = NULL;
    r = fe__parse_header((const unsigned char *)bytes, len, &c, &version, sizes, &np, &expect, err);
    if (r) return r;
    r = fe__model_alloc(&m, &c, opts, 1, err);
    if (r) return r;
    m->file_version = version;
    fe__decode_params(m, (const unsigned char *)bytes + FACTEDIT__HEADER_BYTES, version);
    if ((r = fe__model_finish(m, opts, err)) != fe_ok) { fe_model_free(m); return r; }
    *out = m;
    return fe_ok;
}

/* The 1024-byte llm.c header of m. */
FACTEDIT__PRIV void fe__ckpt_header(const fe_model *m, int version, unsigned char *b) {
    const fe_config *c = &m->config;
    memset(b, 0, FACTEDIT__HEADER_BYTES);
    fe__wr32le(b, FACTEDIT__MAGIC); fe__wr32le(b + 4, (uint32_t)version);
    fe__wr32le(b + 8, (uint32_t)c->max_seq_len); fe__wr32le(b + 12, (uint32_t)c->vocab_size);
    fe__wr32le(b + 16, (uint32_t)c->num_layers); fe__wr32le(b + 20, (uint32_t)c->num_heads);
    fe__wr32le(b + 24, (uint32_t)c->channels); fe__wr32le(b + 28, (uint32_t)c->padded_vocab_size);
}
/* n parameters as little-endian fp32 (version 3) or bf16 rounded to nearest even (5). */
FACTEDIT__PRIV void fe__ckpt_encode(const float *x, size_t n, int version, unsigned char *p) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (version == 3) fe__wrf32le(p + 4 * i, x[i]);
        else fe__wr16le(p + 2 * i, fe_f32_to_bf16(x[i]));
    }
}

FACTEDIT_API fe_result fe_model_save_mem(const fe_model *m, int version, unsigned char **bytes, size_t *len,
                                         fe_error *err) {
    size_t total;
    unsigned char *b;
    if (version != 3 && version != 5)
        return fe__fail(err, fe_err_arg, "save: version %d (want 3 = fp32 or 5 = bf16)", version);
    if (!fe__mul(m->num_params, version == 3 ? 4 : 2, &total) || !fe__add(total, FACTEDIT__HEADER_BYTES, &total))
        return fe__fail(err, fe_err_limit, "save: size overflow");
    b = (unsigned char *)fe__malloc(m->alloc_user, total);
    if (!b) return fe__fail(err, fe_err_nomem, "save: cannot allocate %zu bytes", total);
    fe__ckpt_header(m, version, b);
    {   /* file order, through a chunk */
        float chunk[4096];
        size_t i, n;
        for (i = 0; i < m->num_params; i += n) {
            n = m->num_params - i < 4096 ? m->num_params - i : 4096;
            fe__plain_read(m, i, n, chunk);
            fe__ckpt_encode(chunk, n, version, b + FACTEDIT__HEADER_BYTES + i * (size_t)(version == 3 ? 4 : 2));
        }
    }
    *bytes = b;
    *len = total;
    fe__ok(err);
    return fe_ok;
}

/* Token t's embedding (C floats) out of the panel-layout (or bf16) wte: a panel row holds 32 tokens. */
FACTEDIT__PRIV void fe__wte_row(float *dst, const fe_model *m, int t) {
    size_t C = (size_t)m->config.channels, Vp = (size_t)m->config.padded_vocab_size, i,
           w = FACTEDIT__PANEL_W(Vp, (size_t)t - (size_t)t % FACTEDIT_WEIGHT_PANEL);
    if (m->fe__h[fe_tensor_wte]) {
        const uint16_t *src = m->fe__h[fe_tensor_wte] + fe__h_index(Vp, C, (size_t)t, 0);
        for (i = 0; i < C; i++) dst[i] = fe_bf16_to_f32(src[i * w]);
    } else {
        const float *src = m->params.wte + fe_weight_index(Vp, C, (size_t)t, 0);
        for (i = 0; i < C; i++) dst[i] = src[i * w];
    }
}
/* wte[t][c] (fp32 or bf16 model). */
FACTEDIT__PRIV float fe__wte_at(const fe_model *m, int t, int c) {
    size_t Vp = (size_t)m->config.padded_vocab_size, C = (size_t)m->config.channels;
    if (m->fe__h[fe_tensor_wte])
        return fe_bf16_to_f32(m->fe__h[fe_tensor_wte][fe__h_index(Vp, C, (size_t)t, (size_t)c)]);
    return m->params.wte[fe_weight_index(Vp, C, (size_t)t, (size_t)c)];
}

/* Rows V..Vp-1 of wte to zero. */
FACTEDIT__PRIV void fe__wte_zero_padding(fe_model *m) {
    size_t o, i, Vp = (size_t)m->config.padded_vocab_size, C = (size_t)m->config.channels;
    for (o = (size_t)m->config.vocab_size; o < Vp; o++)
        for (i = 0; i < C; i++) {
            if (m->fe__h[fe_tensor_wte]) m->fe__h[fe_tensor_wte][fe__h_index(Vp, C, o, i)] = 0;
            else m->params.wte[fe_weight_index(Vp, C, o, i)] = 0.0f;
        }
}

FACTEDIT_API void fe_model_randomize(fe_model *m, uint64_t seed) {
    fe_rng r;
    size_t i, t, out = 0, in = 0;
    float proj = 0.02f / sqrtf(2.0f * (float)m->config.num_layers);
    fe_rng_seed(&r, seed);
    for (t = 0; t < FACTEDIT_NUM_PARAM_TENSORS; t++) {
        /* drawn in file order, written where the layout keeps it: the same model either way */
        int mat = fe_param_matrix(&m->config, (int)t, &out, &in);
        for (i = 0; i < m->param_sizes[t]; i++) {
            float v;
            switch (t) {
            case fe_tensor_ln1w:
            case fe_tensor_ln2w:
            case fe_tensor_lnfw:
                v = 1.0f;   /* layer-norm gains */
                break;
            case fe_tensor_ln1b:
            case fe_tensor_qkvb:
            case fe_tensor_attprojb:
            case fe_tensor_ln2b:
            case fe_tensor_fcb:
            case fe_tensor_fcprojb:
            case fe_tensor_lnfb:
                v = 0.0f;   /* biases */
                break;
            case fe_tensor_attprojw:
            case fe_tensor_fcprojw:
                v = proj * (float)fe_rng_normal(&r);   /* residual projections */
                break;
            default:
                v = 0.02f * (float)fe_rng_normal(&r);
            }
            if (mat) {
                size_t per = out * in, q = i % per;
                if (m->fe__h[t]) m->fe__h[t][i - q + fe__h_index(out, in, q / in, q % in)] = fe_f32_to_bf16(v);
                else fe__tensor(m, (int)t)[i - q + fe_weight_index(out, in, q / in, q % in)] = v;
            } else fe__tensor(m, (int)t)[i] = v;
        }
    }
    fe__wte_zero_padding(m);   /* as in llm.c */
    m->load_checksum = fe_model_checksum(m);
}

#ifndef FACTEDIT_NO_STDIO
#ifdef FACTEDIT__POSIX
FACTEDIT__PRIV const char *fe__file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    return "not a plain file";
}

/* Opens path to read it, without blocking (a FIFO would block open() until a writer came), and
   checks that it is a regular file before anything is read. what prefixes the message
   ("checkpoint: "); *missing (may be NULL) = 1 when path does not exist. */
FACTEDIT__PRIV fe_result fe__open_regular(const char *what, const char *path, int *fd, struct stat *st, int *missing, fe_error *err) {
    int e;
    *fd = open(path, O_RDONLY | O_NONBLOCK);
    e = errno;
    if (missing) *missing = *fd < 0 && e == ENOENT;
    if (*fd < 0) return fe__fail(err, fe_err_io, "%scannot open '%s': %s", what, path, strerror(e));
    if (fstat(*fd, st) != 0) { e = errno; close(*fd); *fd = -1; return fe__fail(err, fe_err_io, "%scannot open '%s': %s", what, path, strerror(e)); }
    if (!S_ISREG(st->st_mode)) {
        close(*fd);
        *fd = -1;
        return fe__fail(err, fe_err_io, "%s'%s' is not a regular file (it is %s)", what, path, fe__file_kind(st->st_mode));
    }
    return fe_ok;
}

/* The st_size bytes of an open regular file, plus a NUL; closes fd. */
FACTEDIT__PRIV fe_result fe__read_fd(int fd, const char *path, const struct stat *st, void *u, unsigned char **bytes, size_t *len, fe_error *err) {
    size_t n = (size_t)st->st_size, got = 0;
    unsigned char *b;
    if (st->st_size < 0 || (unsigned long long)st->st_size >= (unsigned long long)((size_t)-1)) { close(fd); return fe__fail(err, fe_err_limit, "'%s' is too large to read", path); }
    if (!(b = (unsigned char *)fe__malloc(u, n + 1))) { close(fd); return fe__fail(err, fe_err_nomem, "cannot allocate %zu bytes for '%s'", n, path); }
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got > ((size_t)1 << 30) ? ((size_t)1 << 30) : n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            close(fd);
            fe__free(u, b);
            if (r < 0) return fe__fail(err, fe_err_io, "cannot read '%s': %s", path, strerror(e));
            return fe__fail(err, fe_err_io, "short read of '%s' (it shrank while being read)", path);
        }
        got += (size_t)r;
    }
    close(fd);
    b[n] = 0; /* convenient for text */
    *bytes = b; *len = n;
    return fe_ok;
}
#endif

FACTEDIT_API fe_result fe_read_file(const char *path, unsigned char **bytes, size_t *len, void *u, fe_error *err) {
#ifdef FACTEDIT__POSIX
    int fd;
    struct stat st;
    fe_result r;
    *bytes = NULL; *len = 0;
    if ((r = fe__open_regular("", path, &fd, &st, NULL, err)) != fe_ok) return r;
    return fe__read_fd(fd, path, &st, u, bytes, len, err);
#else
    FILE *f;
    long sz;
    unsigned char *b;
    *bytes = NULL; *len = 0;
    f = fopen(path, "rb");
    if (!f) return fe__fail(err, fe_err_io, "cannot open '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return fe__fail(err, fe_err_io, "cannot size '%s' (not a regular file?)", path); }
    b = (unsigned char *)fe__malloc(u, (size_t)sz + 1);
    if (!b) { fclose(f); return fe__fail(err, fe_err_nomem, "cannot allocate %ld bytes for '%s'", sz, path); }
    if (sz > 0 && fread(b, 1, (size_t)sz, f) != (size_t)sz) { fclose(f); fe__free(u, b); return fe__fail(err, fe_err_io, "short read of '%s'", path); }
    fclose(f);
    b[sz] = 0; /* convenient for text */
    *bytes = b; *len = (size_t)sz;
    return fe_ok;
#endif
}

/* Atomic writes: a temp file beside the target, written, flushed to disk, then renamed over it.
   After a failure (or a crash) the old file is still there, whole. */
typedef struct fe__atomic { char tmp[4096]; const char *path; int ok, errnum; int fd; FILE *f; } fe__atomic;

#ifdef FACTEDIT__POSIX
/* Removes the temp files PATH.tmp.PID that saves to path left behind when they were killed before
   their rename: PID all digits, not this process, and no such process any more (kill(PID, 0)
   fails with ESRCH; a live process, or one we may not signal, keeps its file). Best effort. */
FACTEDIT__PRIV void fe__remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char dir[4096], full[8200];
    size_t bl = strlen(base), dl = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    DIR *d;
    struct dirent *de;
    if (!bl || dl >= sizeof dir) return;
    memcpy(dir, slash ? path : ".", dl);
    dir[dl] = 0;
    if (!(d = opendir(dir))) return;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name, *q;
        long pid = 0;
        int digits = 0;
        struct stat st;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp.", 5) != 0) continue;
        for (q = n + bl + 5; *q >= '0' && *q <= '9' && digits < 10; q++, digits++) pid = pid * 10 + (*q - '0');
        if (*q || digits == 0 || digits > 9 || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        if (snprintf(full, sizeof full, "%s/%s", dir, n) >= (int)sizeof full) continue;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) remove(full);
    }
    closedir(d);
}
#endif

FACTEDIT__PRIV fe_result fe__atomic_open(fe__atomic *a, const char *path, fe_error *err) {
    if (strlen(path) + 32 > sizeof a->tmp) return fe__fail(err, fe_err_arg, "path too long: '%.64s...'", path);
    a->path = path;
    a->ok = 1;
    a->errnum = 0;
    a->f = NULL;
#ifdef FACTEDIT__POSIX
    fe__remove_stale_temps(path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (a->fd < 0) return fe__fail(err, fe_err_io, "cannot create '%s': %s", a->tmp, strerror(errno));
#else
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp", path);
    a->f = fopen(a->tmp, "wb");
    if (!a->f) return fe__fail(err, fe_err_io, "cannot create '%s': %s", a->tmp, strerror(errno));
#endif
    return fe_ok;
}
FACTEDIT__PRIV void fe__atomic_write(fe__atomic *a, const void *bytes, size_t n) {
#ifdef FACTEDIT__POSIX
    const unsigned char *p = (const unsigned char *)bytes;
    while (a->ok && n > 0) {
        ssize_t w = write(a->fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { a->ok = 0; a->errnum = w < 0 ? errno : ENOSPC; } else { p += w; n -= (size_t)w; }
    }
#else
    if (a->ok && n && fwrite(bytes, 1, n, a->f) != n) { a->ok = 0; a->errnum = errno; }
#endif
}
FACTEDIT__PRIV fe_result fe__atomic_commit(fe__atomic *a, fe_error *err) {
    int ok = a->ok;
#ifdef FACTEDIT__POSIX
    if (ok && fsync(a->fd) != 0) { ok = 0; a->errnum = errno; }
    if (close(a->fd) != 0 && ok) { ok = 0; a->errnum = errno; }
#else
    if (ok && fflush(a->f) != 0) { ok = 0; a->errnum = errno; }
    if (fclose(a->f) != 0 && ok) { ok = 0; a->errnum = errno; }
#endif
    if (!ok) { remove(a->tmp); return fe__fail(err, fe_err_io, "cannot write '%s': %s; '%s' left unchanged", a->tmp, strerror(a->errnum), a->path); }
    if (rename(a->tmp, a->path) != 0) {
        int e = errno;
        remove(a->tmp);
        return fe__fail(err, fe_err_io, "cannot rename '%s' to '%s': %s", a->tmp, a->path, strerror(e));
    }
    return fe_ok;
}

FACTEDIT_API fe_result fe_write_file_atomic(const char *path, const void *bytes, size_t len, fe_error *err) {
    fe__atomic a;
    fe_result r = fe__atomic_open(&a, path, err);
    if (r) return r;
    fe__atomic_write(&a, bytes, len);
    return fe__atomic_commit(&a, err);
}

FACTEDIT_API fe_result fe_model_save_file(const fe_model *m, const char *path, int version, fe_error *err) {
    /* streamed in chunks: no second model-sized buffer */
    unsigned char chunk[1 << 16];
    float plain[(1 << 16) / 4];
    fe__atomic a;
    fe_result r;
    size_t i = 0, per = version == 3 ? 4 : 2;
    if (version != 3 && version != 5) return fe__fail(err, fe_err_arg, "save: version %d (want 3 = fp32 or 5 = bf16)", version);
    if ((r = fe__atomic_open(&a, path, err)) != fe_ok) return r;
    fe__ckpt_header(m, version, chunk);
    fe__atomic_write(&a, chunk, FACTEDIT__HEADER_BYTES);
    while (i < m->num_params) {
        size_t n = m->num_params - i < sizeof plain / sizeof plain[0] ? m->num_params - i : sizeof plain / sizeof plain[0];   /* fits chunk for fp32 and bf16 */
        fe__plain_read(m, i, n, plain);   /* file order */
        fe__ckpt_encode(plain, n, version, chunk);
        fe__atomic_write(&a, chunk, n * per);
        i += n;
    }
    r = fe__atomic_commit(&a, err);
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
        int fd;
        struct stat st;
        void *map;
        fe_config c;
        size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], np, expect;
        int version;
        fe_model *m;
        if ((r = fe__open_regular("checkpoint: ", path, &fd, &st, NULL, err)) != fe_ok) return r;
        if ((size_t)st.st_size < FACTEDIT__HEADER_BYTES) { close(fd); return fe__fail(err, fe_err_format, "checkpoint: '%s' has %lld bytes, the header alone needs %d", path, (long long)st.st_size, FACTEDIT__HEADER_BYTES); }
        map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        close(fd);
        if (map == MAP_FAILED) return fe__fail(err, fe_err_io, "checkpoint: cannot map '%s': %s", path, strerror(errno));
        r = fe__parse_header((const unsigned char *)map, (size_t)st.st_size, &c, &version, sizes, &np, &expect, err);
        if (r) { munmap(map, (size_t)st.st_size); return r; }
        r = fe__model_alloc(&m, &c, opts, !(version == 3 && fe__little_endian()), err);
        if (r) { munmap(map, (size_t)st.st_size); return r; }
        m->file_version = version;
        if (m->blob) {
            fe__decode_params(m, (const unsigned char *)map + FACTEDIT__HEADER_BYTES, version);
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

/* ======================================================== >>impl-tokenizer ==================== */

/* Code point classes of the pre-tokenizer regex. */
enum { FACTEDIT__CL_OTHER = 0, FACTEDIT__CL_LETTER = 1, FACTEDIT__CL_NUMBER = 2, FACTEDIT__CL_SPACE = 3 };

/* Generated by gen_unicode.js with node v20.20.2, Unicode 17.0 (ICU 78.2): 1627 entries.
   Entry = (first code point << 2) | class, the class holding up to the next entry's code point. */
static const uint32_t fe__uclass_table[1627] = {
    0x0,0x27,0x38,0x83,0x84,0xc2,0xe8,0x105,0x16c,0x185,
    0x1ec,0x283,0x284,0x2a9,0x2ac,0x2ca,0x2d0,0x2d5,0x2d8,0x2e6,
    0x2e9,0x2ec,0x2f2,0x2fc,0x301,0x35c,0x361,0x3dc,0x3e1,0xb08,
    0xb19,0xb48,0xb81,0xb94,0xbb1,0xbb4,0xbb9,0xbbc,0xdc1,0xdd4,
    0xdd9,0xde0,0xde9,0xdf8,0xdfd,0xe00,0xe19,0xe1c,0xe21,0xe2c,
    0xe31,0xe34,0xe39,0xe88,0xe8d,0xfd8,0xfdd,0x1208,0x1229,0x14c0,
    0x14c5,0x155c,0x1565,0x1568,0x1581,0x1624,0x1741,0x17ac,0x17bd,0x17cc,
    0x1881,0x192c,0x1982,0x19a8,0x19b9,0x19c0,0x19c5,0x1b50,0x1b55,0x1b58,
    0x1b95,0x1b9c,0x1bb9,0x1bc2,0x1be9,0x1bf4,0x1bfd,0x1c00,0x1c41,0x1c44,
    0x1c49,0x1cc0,0x1d35,0x1e98,0x1ec5,0x1ec8,0x1f02,0x1f29,0x1fac,0x1fd1,
    0x1fd8,0x1fe9,0x1fec,0x2001,0x2058,0x2069,0x206c,0x2091,0x2094,0x20a1,
    0x20a4,0x2101,0x2164,0x2181,0x21ac,0x21c1,0x2220,0x2225,0x2240,0x2281,
    0x2328,0x2411,0x24e8,0x24f5,0x24f8,0x2541,0x2544,0x2561,0x2588,0x259a,
    0x25c0,0x25c5,0x2604,0x2615,0x2634,0x263d,0x2644,0x264d,0x26a4,0x26a9,
    0x26c4,0x26c9,0x26cc,0x26d9,0x26e8,0x26f5,0x26f8,0x2739,0x273c,0x2771,
    0x2778,0x277d,0x2788,0x279a,0x27c1,0x27c8,0x27d2,0x27e8,0x27f1,0x27f4,
    0x2815,0x282c,0x283d,0x2844,0x284d,0x28a4,0x28a9,0x28c4,0x28c9,0x28d0,
    0x28d5,0x28dc,0x28e1,0x28e8,0x2965,0x2974,0x2979,0x297c,0x299a,0x29c0,
    0x29c9,0x29d4,0x2a15,0x2a38,0x2a3d,0x2a48,0x2a4d,0x2aa4,0x2aa9,0x2ac4,
    0x2ac9,0x2ad0,0x2ad5,0x2ae8,0x2af5,0x2af8,0x2b41,0x2b44,0x2b81,0x2b88,
    0x2b9a,0x2bc0,0x2be5,0x2be8,0x2c15,0x2c34,0x2c3d,0x2c44,0x2c4d,0x2ca4,
    0x2ca9,0x2cc4,0x2cc9,0x2cd0,0x2cd5,0x2ce8,0x2cf5,0x2cf8,0x2d71,0x2d78,
    0x2d7d,0x2d88,0x2d9a,0x2dc0,0x2dc5,0x2dca,0x2de0,0x2e0d,0x2e10,0x2e15,
    0x2e2c,0x2e39,0x2e44,0x2e49,0x2e58,0x2e65,0x2e6c,0x2e71,0x2e74,0x2e79,
    0x2e80,0x2e8d,0x2e94,0x2ea1,0x2eac,0x2eb9,0x2ee8,0x2f41,0x2f44,0x2f9a,
    0x2fcc,0x3015,0x3034,0x3039,0x3044,0x3049,0x30a4,0x30a9,0x30e8,0x30f5,
    0x30f8,0x3161,0x316c,0x3171,0x3178,0x3181,0x3188,0x319a,0x31c0,0x31e2,
    0x31fc,0x3201,0x3204,0x3215,0x3234,0x3239,0x3244,0x3249,0x32a4,0x32a9,
    0x32d0,0x32d5,0x32e8,0x32f5,0x32f8,0x3371,0x337c,0x3381,0x3388,0x339a,
    0x33c0,0x33c5,0x33cc,0x3411,0x3434,0x3439,0x3444,0x3449,0x34ec,0x34f5,
    0x34f8,0x3539,0x353c,0x3551,0x355c,0x3562,0x357d,0x3588,0x359a,0x35e4,
    0x35e9,0x3600,0x3615,0x365c,0x3669,0x36c8,0x36cd,0x36f0,0x36f5,0x36f8,
    0x3701,0x371c,0x379a,0x37c0,0x3805,0x38c4,0x38c9,0x38d0,0x3901,0x391c,
    0x3942,0x3968,0x3a05,0x3a0c,0x3a11,0x3a14,0x3a19,0x3a2c,0x3a31,0x3a90,
    0x3a95,0x3a98,0x3a9d,0x3ac4,0x3ac9,0x3ad0,0x3af5,0x3af8,0x3b01,0x3b14,
    0x3b19,0x3b1c,0x3b42,0x3b68,0x3b71,0x3b80,0x3c01,0x3c04,0x3c82,0x3cd0,
    0x3d01,0x3d20,0x3d25,0x3db4,0x3e21,0x3e34,0x4001,0x40ac,0x40fd,0x4102,
    0x4128,0x4141,0x4158,0x4169,0x4178,0x4185,0x4188,0x4195,0x419c,0x41b9,
    0x41c4,0x41d5,0x4208,0x4239,0x423c,0x4242,0x4268,0x4281,0x4318,0x431d,
    0x4320,0x4335,0x4338,0x4341,0x43ec,0x43f1,0x4924,0x4929,0x4938,0x4941,
    0x495c,0x4961,0x4964,0x4969,0x4978,0x4981,0x4a24,0x4a29,0x4a38,0x4a41,
    0x4ac4,0x4ac9,0x4ad8,0x4ae1,0x4afc,0x4b01,0x4b04,0x4b09,0x4b18,0x4b21,
    0x4b5c,0x4b61,0x4c44,0x4c49,0x4c58,0x4c61,0x4d6c,0x4da6,0x4df4,0x4e01,
    0x4e40,0x4e81,0x4fd8,0x4fe1,0x4ff8,0x5005,0x59b4,0x59bd,0x5a03,0x5a05,
    0x5a6c,0x5a81,0x5bac,0x5bba,0x5bc5,0x5be4,0x5c01,0x5c48,0x5c7d,0x5cc8,
    0x5d01,0x5d48,0x5d81,0x5db4,0x5db9,0x5dc4,0x5e01,0x5ed0,0x5f5d,0x5f60,
    0x5f71,0x5f74,0x5f82,0x5fa8,0x5fc2,0x5fe8,0x6042,0x6068,0x6081,0x61e4,
    0x6201,0x6214,0x621d,0x62a4,0x62a9,0x62ac,0x62c1,0x63d8,0x6401,0x647c,
    0x651a,0x6541,0x65b8,0x65c1,0x65d4,0x6601,0x66b0,0x66c1,0x6728,0x6742,
    0x676c,0x6801,0x685c,0x6881,0x6954,0x6a02,0x6a28,0x6a42,0x6a68,0x6a9d,
    0x6aa0,0x6c15,0x6cd0,0x6d15,0x6d34,0x6d42,0x6d68,0x6e0d,0x6e84,0x6eb9,
    0x6ec2,0x6ee9,0x6f98,0x7001,0x7090,0x7102,0x7128,0x7135,0x7142,0x7169,
    0x71f8,0x7201,0x722c,0x7241,0x72ec,0x72f5,0x7300,0x73a5,0x73b4,0x73b9,
    0x73d0,0x73d5,0x73dc,0x73e9,0x73ec,0x7401,0x7700,0x7801,0x7c58,0x7c61,
    0x7c78,0x7c81,0x7d18,0x7d21,0x7d38,0x7d41,0x7d60,0x7d65,0x7d68,0x7d6d,
    0x7d70,0x7d75,0x7d78,0x7d7d,0x7df8,0x7e01,0x7ed4,0x7ed9,0x7ef4,0x7ef9,
    0x7efc,0x7f09,0x7f14,0x7f19,0x7f34,0x7f41,0x7f50,0x7f59,0x7f70,0x7f81,
    0x7fb4,0x7fc9,0x7fd4,0x7fd9,0x7ff4,0x8003,0x802c,0x80a3,0x80a8,0x80bf,
    0x80c0,0x817f,0x8180,0x81c2,0x81c5,0x81c8,0x81d2,0x81e8,0x81fd,0x8202,
    0x8228,0x8241,0x8274,0x8409,0x840c,0x841d,0x8420,0x8429,0x8450,0x8455,
    0x8458,0x8465,0x8478,0x8491,0x8494,0x8499,0x849c,0x84a1,0x84a4,0x84a9,
    0x84b8,0x84bd,0x84e8,0x84f1,0x8500,0x8515,0x8528,0x8539,0x853c,0x8542,
    0x860d,0x8616,0x8628,0x9182,0x9270,0x93aa,0x9400,0x9dda,0x9e50,0xb001,
    0xb394,0xb3ad,0xb3bc,0xb3c9,0xb3d0,0xb3f6,0xb3f8,0xb401,0xb498,0xb49d,
    0xb4a0,0xb4b5,0xb4b8,0xb4c1,0xb5a0,0xb5bd,0xb5c0,0xb601,0xb65c,0xb681,
    0xb69c,0xb6a1,0xb6bc,0xb6c1,0xb6dc,0xb6e1,0xb6fc,0xb701,0xb71c,0xb721,
    0xb73c,0xb741,0xb75c,0xb761,0xb77c,0xb8bd,0xb8c0,0xc003,0xc004,0xc015,
    0xc01e,0xc020,0xc086,0xc0a8,0xc0c5,0xc0d8,0xc0e2,0xc0ed,0xc0f4,0xc105,
    0xc25c,0xc275,0xc280,0xc285,0xc3ec,0xc3f1,0xc400,0xc415,0xc4c0,0xc4c5,
    0xc63c,0xc64a,0xc658,0xc681,0xc700,0xc7c1,0xc800,0xc882,0xc8a8,0xc922,
    0xc940,0xc946,0xc980,0xca02,0xca28,0xcac6,0xcb00,0xd001,0x13700,0x13801,
    0x29234,0x29341,0x293f8,0x29401,0x29834,0x29841,0x29882,0x298a9,0x298b0,0x29901,
    0x299bc,0x299fd,0x29a78,0x29a81,0x29b9a,0x29bc0,0x29c5d,0x29c80,0x29c89,0x29e24,
    0x29e2d,0x29f74,0x29fc5,0x2a008,0x2a00d,0x2a018,0x2a01d,0x2a02c,0x2a031,0x2a08c,
    0x2a0c2,0x2a0d8,0x2a101,0x2a1d0,0x2a209,0x2a2d0,0x2a342,0x2a368,0x2a3c9,0x2a3e0,
    0x2a3ed,0x2a3f0,0x2a3f5,0x2a3fc,0x2a402,0x2a429,0x2a498,0x2a4c1,0x2a51c,0x2a581,
    0x2a5f4,0x2a611,0x2a6cc,0x2a73d,0x2a742,0x2a768,0x2a781,0x2a794,0x2a799,0x2a7c2,
    0x2a7e9,0x2a7fc,0x2a801,0x2a8a4,0x2a901,0x2a90c,0x2a911,0x2a930,0x2a942,0x2a968,
    0x2a981,0x2a9dc,0x2a9e9,0x2a9ec,0x2a9f9,0x2aac0,0x2aac5,0x2aac8,0x2aad5,0x2aadc,
    0x2aae5,0x2aaf8,0x2ab01,0x2ab04,0x2ab09,0x2ab0c,0x2ab6d,0x2ab78,0x2ab81,0x2abac,
    0x2abc9,0x2abd4,0x2ac05,0x2ac1c,0x2ac25,0x2ac3c,0x2ac45,0x2ac5c,0x2ac81,0x2ac9c,
    0x2aca1,0x2acbc,0x2acc1,0x2ad6c,0x2ad71,0x2ada8,0x2adc1,0x2af8c,0x2afc2,0x2afe8,
    0x2b001,0x35e90,0x35ec1,0x35f1c,0x35f2d,0x35ff0,0x3e401,0x3e9b8,0x3e9c1,0x3eb68,
    0x3ec01,0x3ec1c,0x3ec4d,0x3ec60,0x3ec75,0x3ec78,0x3ec7d,0x3eca4,0x3eca9,0x3ecdc,
    0x3ece1,0x3ecf4,0x3ecf9,0x3ecfc,0x3ed01,0x3ed08,0x3ed0d,0x3ed14,0x3ed19,0x3eec8,
    0x3ef4d,0x3f4f8,0x3f541,0x3f640,0x3f649,0x3f720,0x3f7c1,0x3f7f0,0x3f9c1,0x3f9d4,
    0x3f9d9,0x3fbf4,0x3fbff,0x3fc00,0x3fc42,0x3fc68,0x3fc85,0x3fcec,0x3fd05,0x3fd6c,
    0x3fd99,0x3fefc,0x3ff09,0x3ff20,0x3ff29,0x3ff40,0x3ff49,0x3ff60,0x3ff69,0x3ff74,
    0x40001,0x40030,0x40035,0x4009c,0x400a1,0x400ec,0x400f1,0x400f8,0x400fd,0x40138,
    0x40141,0x40178,0x40201,0x403ec,0x4041e,0x404d0,0x40502,0x405e4,0x4062a,0x40630,
    0x40a01,0x40a74,0x40a81,0x40b44,0x40b86,0x40bf0,0x40c01,0x40c82,0x40c90,0x40cb5,
    0x40d06,0x40d09,0x40d2a,0x40d2c,0x40d41,0x40dd8,0x40e01,0x40e78,0x40e81,0x40f10,
    0x40f21,0x40f40,0x40f46,0x40f58,0x41001,0x41278,0x41282,0x412a8,0x412c1,0x41350,
    0x41361,0x413f0,0x41401,0x414a0,0x414c1,0x41590,0x415c1,0x415ec,0x415f1,0x4162c,
    0x41631,0x4164c,0x41651,0x41658,0x4165d,0x41688,0x4168d,0x416c8,0x416cd,0x416e8,
    0x416ed,0x416f4,0x41701,0x417d0,0x41801,0x41cdc,0x41d01,0x41d58,0x41d81,0x41da0,
    0x41e01,0x41e18,0x41e1d,0x41ec4,0x41ec9,0x41eec,0x42001,0x42018,0x42021,0x42024,
    0x42029,0x420d8,0x420dd,0x420e4,0x420f1,0x420f4,0x420fd,0x42158,0x42162,0x42181,
    0x421dc,0x421e6,0x42201,0x4227c,0x4229e,0x422c0,0x42381,0x423cc,0x423d1,0x423d8,
    0x423ee,0x42401,0x4245a,0x42470,0x42481,0x424e8,0x42501,0x42568,0x42601,0x426e0,
    0x426f2,0x426f9,0x42702,0x42740,0x4274a,0x42801,0x42804,0x42841,0x42850,0x42855,
    0x42860,0x42865,0x428d8,0x42902,0x42924,0x42981,0x429f6,0x429fc,0x42a01,0x42a76,
    0x42a80,0x42b01,0x42b20,0x42b25,0x42b94,0x42bae,0x42bc0,0x42c01,0x42cd8,0x42d01,
    0x42d58,0x42d62,0x42d81,0x42dcc,0x42de2,0x42e01,0x42e48,0x42ea6,0x42ec0,0x43001,
    0x43124,0x43201,0x432cc,0x43301,0x433cc,0x433ea,0x43401,0x43490,0x434c2,0x434e8,
    0x43502,0x43529,0x43598,0x435bd,0x43618,0x43982,0x439fc,0x43a01,0x43aa8,0x43ac1,
    0x43ac8,0x43b09,0x43b20,0x43c01,0x43c76,0x43c9d,0x43ca0,0x43cc1,0x43d18,0x43d46,
    0x43d54,0x43dc1,0x43e08,0x43ec1,0x43f16,0x43f30,0x43f81,0x43fdc,0x4400d,0x440e0,
    0x4414a,0x441c0,0x441c5,0x441cc,0x441d5,0x441d8,0x4420d,0x442c0,0x44341,0x443a4,
    0x443c2,0x443e8,0x4440d,0x4449c,0x444da,0x44500,0x44511,0x44514,0x4451d,0x44520,
    0x44541,0x445cc,0x445d9,0x445dc,0x4460d,0x446cc,0x44705,0x44714,0x44742,0x44769,
    0x4476c,0x44771,0x44774,0x44786,0x447d4,0x44801,0x44848,0x4484d,0x448b0,0x448fd,
    0x44904,0x44a01,0x44a1c,0x44a21,0x44a24,0x44a29,0x44a38,0x44a3d,0x44a78,0x44a7d,
    0x44aa4,0x44ac1,0x44b7c,0x44bc2,0x44be8,0x44c15,0x44c34,0x44c3d,0x44c44,0x44c4d,
    0x44ca4,0x44ca9,0x44cc4,0x44cc9,0x44cd0,0x44cd5,0x44ce8,0x44cf5,0x44cf8,0x44d41,
    0x44d44,0x44d75,0x44d88,0x44e01,0x44e28,0x44e2d,0x44e30,0x44e39,0x44e3c,0x44e41,
    0x44ed8,0x44edd,0x44ee0,0x44f45,0x44f48,0x44f4d,0x44f50,0x45001,0x450d4,0x4511d,
    0x4512c,0x45142,0x45168,0x4517d,0x45188,0x45201,0x452c0,0x45311,0x45318,0x4531d,
    0x45320,0x45342,0x45368,0x45601,0x456bc,0x45761,0x45770,0x45801,0x458c0,0x45911,
    0x45914,0x45942,0x45968,0x45a01,0x45aac,0x45ae1,0x45ae4,0x45b02,0x45b28,0x45b42,
    0x45b90,0x45c01,0x45c6c,0x45cc2,0x45cf0,0x45d01,0x45d1c,0x46001,0x460b0,0x46281,
    0x46382,0x463cc,0x463fd,0x4641c,0x46425,0x46428,0x46431,0x46450,0x46455,0x4645c,
    0x46461,0x464c0,0x464fd,0x46500,0x46505,0x46508,0x46542,0x46568,0x46681,0x466a0,
    0x466a9,0x46744,0x46785,0x46788,0x4678d,0x46790,0x46801,0x46804,0x4682d,0x468cc,
    0x468e9,0x468ec,0x46941,0x46944,0x46971,0x46a28,0x46a75,0x46a78,0x46ac1,0x46be4,
    0x46f01,0x46f84,0x46fc2,0x46fe8,0x47001,0x47024,0x47029,0x470bc,0x47101,0x47104,
    0x47142,0x471b4,0x471c9,0x47240,0x47401,0x4741c,0x47421,0x47428,0x4742d,0x474c4,
    0x47519,0x4751c,0x47542,0x47568,0x47581,0x47598,0x4759d,0x475a4,0x475a9,0x47628,
    0x47661,0x47664,0x47682,0x476a8,0x476c1,0x47770,0x47782,0x477a8,0x47b81,0x47bcc,
    0x47c09,0x47c0c,0x47c11,0x47c44,0x47c49,0x47cd0,0x47d42,0x47d68,0x47ec1,0x47ec4,
    0x47f02,0x47f54,0x48001,0x48e68,0x49002,0x491bc,0x49201,0x49510,0x4be41,0x4bfc4,
    0x4c001,0x4d0c0,0x4d105,0x4d11c,0x4d181,0x50fec,0x51001,0x5191c,0x58401,0x58478,
    0x584c2,0x584e8,0x5a001,0x5a8e4,0x5a901,0x5a97c,0x5a982,0x5a9a8,0x5a9c1,0x5aafc,
    0x5ab02,0x5ab28,0x5ab41,0x5abb8,0x5ac01,0x5acc0,0x5ad01,0x5ad10,0x5ad42,0x5ad68,
    0x5ad6e,0x5ad88,0x5ad8d,0x5ade0,0x5adf5,0x5ae40,0x5b501,0x5b5b4,0x5b5c2,0x5b5e8,
    0x5b901,0x5ba02,0x5ba5c,0x5ba81,0x5bae4,0x5baed,0x5bb50,0x5bc01,0x5bd2c,0x5bd41,
    0x5bd44,0x5be4d,0x5be80,0x5bf81,0x5bf88,0x5bf8d,0x5bf90,0x5bfc9,0x5bfd2,0x5bfdc,
    0x5c001,0x63358,0x633fd,0x6347c,0x63601,0x637cc,0x6bfc1,0x6bfd0,0x6bfd5,0x6bff0,
    0x6bff5,0x6bffc,0x6c001,0x6c48c,0x6c4c9,0x6c4cc,0x6c541,0x6c54c,0x6c555,0x6c558,
    0x6c591,0x6c5a0,0x6c5c1,0x6cbf0,0x6f001,0x6f1ac,0x6f1c1,0x6f1f4,0x6f201,0x6f224,
    0x6f241,0x6f268,0x733c2,0x733e8,0x74b02,0x74b50,0x74b82,0x74bd0,0x74d82,0x74de4,
    0x75001,0x75154,0x75159,0x75274,0x75279,0x75280,0x75289,0x7528c,0x75295,0x7529c,
    0x752a5,0x752b4,0x752b9,0x752e8,0x752ed,0x752f0,0x752f5,0x75310,0x75315,0x75418,
    0x7541d,0x7542c,0x75435,0x75454,0x75459,0x75474,0x75479,0x754e8,0x754ed,0x754fc,
    0x75501,0x75514,0x75519,0x7551c,0x75529,0x75544,0x75549,0x75a98,0x75aa1,0x75b04,
    0x75b09,0x75b6c,0x75b71,0x75bec,0x75bf1,0x75c54,0x75c59,0x75cd4,0x75cd9,0x75d3c,
    0x75d41,0x75dbc,0x75dc1,0x75e24,0x75e29,0x75ea4,0x75ea9,0x75f0c,0x75f11,0x75f30,
    0x75f3a,0x76000,0x77c01,0x77c7c,0x77c95,0x77cac,0x780c1,0x781b8,0x78401,0x784b4,
    0x784dd,0x784f8,0x78502,0x78528,0x78539,0x7853c,0x78a41,0x78ab8,0x78b01,0x78bb0,
    0x78bc2,0x78be8,0x79341,0x793b0,0x793c2,0x793e8,0x79741,0x797b8,0x797c1,0x797c6,
    0x797ec,0x79b01,0x79b7c,0x79b81,0x79b8c,0x79b91,0x79b98,0x79b9d,0x79bb8,0x79bc1,
    0x79bd4,0x79bf9,0x79c00,0x79f81,0x79f9c,0x79fa1,0x79fb0,0x79fb5,0x79fbc,0x79fc1,
    0x79ffc,0x7a001,0x7a314,0x7a31e,0x7a340,0x7a401,0x7a510,0x7a52d,0x7a530,0x7a542,
    0x7a568,0x7b1c6,0x7b2b0,0x7b2b6,0x7b2c0,0x7b2c6,0x7b2d4,0x7b406,0x7b4b8,0x7b4be,
    0x7b4f8,0x7b801,0x7b810,0x7b815,0x7b880,0x7b885,0x7b88c,0x7b891,0x7b894,0x7b89d,
    0x7b8a0,0x7b8a5,0x7b8cc,0x7b8d1,0x7b8e0,0x7b8e5,0x7b8e8,0x7b8ed,0x7b8f0,0x7b909,
    0x7b90c,0x7b91d,0x7b920,0x7b925,0x7b928,0x7b92d,0x7b930,0x7b935,0x7b940,0x7b945,
    0x7b94c,0x7b951,0x7b954,0x7b95d,0x7b960,0x7b965,0x7b968,0x7b96d,0x7b970,0x7b975,
    0x7b978,0x7b97d,0x7b980,0x7b985,0x7b98c,0x7b991,0x7b994,0x7b99d,0x7b9ac,0x7b9b1,
    0x7b9cc,0x7b9d1,0x7b9e0,0x7b9e5,0x7b9f4,0x7b9f9,0x7b9fc,0x7ba01,0x7ba28,0x7ba2d,
    0x7ba70,0x7ba85,0x7ba90,0x7ba95,0x7baa8,0x7baad,0x7baf0,0x7c402,0x7c434,0x7efc2,
    0x7efe8,0x80001,0xa9b80,0xa9c01,0xae078,0xae081,0xb3ab8,0xb3ac1,0xbaf84,0xbafc1,
    0xbb978,0xbe001,0xbe878,0xc0001,0xc4d2c,0xc4d41,0xcd1e8,
};

/* Class of a code point: binary search for the last run starting at or before cp. */
FACTEDIT__PRIV int fe__uclass_search(uint32_t cp) {
    size_t lo = 0, hi = sizeof fe__uclass_table / sizeof fe__uclass_table[0];
    uint32_t key = (cp << 2) | 3u;
    while (hi - lo > 1) {   /* invariant: table[lo] <= key < table[hi] (table[0] is code point 0) */
        size_t mid = lo + (hi - lo) / 2;
        if (fe__uclass_table[mid] <= key) lo = mid; else hi = mid;
    }
    return (int)(fe__uclass_table[lo] & 3u);
}
FACTEDIT__PRIV int fe__uclass(uint32_t cp) {
    if (cp < 128) {   /* fast path for ASCII, which is most text (the test checks it against the table) */
        if ((cp | 32u) - 'a' < 26u) return FACTEDIT__CL_LETTER;
        if (cp - '0' < 10u) return FACTEDIT__CL_NUMBER;
        if (cp == ' ' || cp - 9u < 5u) return FACTEDIT__CL_SPACE;
        return FACTEDIT__CL_OTHER;
    }
    return fe__uclass_search(cp);
}

/* Length (1..4) of the valid UTF-8 character at s[0..n) and its code point, or 0 when the bytes
   are not the shortest encoding of a non-surrogate code point <= U+10FFFF. */
FACTEDIT__PRIV size_t fe__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    uint32_t c = s[0], min;
    size_t len, i;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; c &= 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; c &= 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; c &= 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* Byte length and class of the character at s[p]; a byte that does not start a valid character is
   a one-byte "other" character, which keeps encoding total and byte-exact on any input. */
FACTEDIT__PRIV size_t fe__char_at(const unsigned char *s, size_t n, size_t p, int *cls) {
    uint32_t cp = 0;
    size_t l = fe__utf8_decode(s + p, n - p, &cp);
    if (!l) { *cls = FACTEDIT__CL_OTHER; return 1; }
    *cls = fe__uclass(cp);
    return l;
}

/* End of the pre-token starting at s[p] (p < n): the match of GPT-2's regex
   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ at p. The regex takes
   the first alternative that matches, which is the order of the checks below. */
FACTEDIT__PRIV size_t fe__pretoken_end(const unsigned char *s, size_t n, size_t p) {
    int c, c2;
    size_t q, l, last;
    if (s[p] == '\'' && p + 1 < n) {
        unsigned char a = s[p + 1], b = p + 2 < n ? s[p + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return p + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return p + 3;
    }
    q = p + fe__char_at(s, n, p, &c);
    if (s[p] == ' ' && q < n) {   /* " ?X+": one plain space joins a following non-space run */
        l = fe__char_at(s, n, q, &c2);
        if (c2 != FACTEDIT__CL_SPACE) { c = c2; q += l; }
    }
    if (c != FACTEDIT__CL_SPACE) {   /* a run of one class (letters, numbers or others) */
        while (q < n) { l = fe__char_at(s, n, q, &c2); if (c2 != c) break; q += l; }
        return q;
    }
    /* Whitespace: \s+(?!\S) backtracks one character when the run is followed by a non-space, so
       the run's last character can start the next token (" word"); a single one stays (\s+). */
    last = p;
    while (q < n) {
        l = fe__char_at(s, n, q, &c2);
        if (c2 != FACTEDIT__CL_SPACE) break;
        last = q;
        q += l;
    }
    return (q < n && last > p) ? last : q;
}

/* GPT-2's byte alphabet: printable bytes stand for themselves, the 68 others (0..32, 127..160,
   173) become U+0100..U+0143 in byte order, so every token is a printable string. */
FACTEDIT__PRIV int fe__byte_printable(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
}
/* Byte of an alphabet code point, or -1 if cp is not in the alphabet. */
FACTEDIT__PRIV int fe__alphabet_byte(uint32_t cp) {
    if (cp < 256) return fe__byte_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)cp - 256;                 /* bytes 0..32 */
    if (cp < 256 + 67) return (int)cp - (256 + 33) + 127;    /* bytes 127..160 */
    return cp == 256 + 67 ? 173 : -1;
}
/* Converts an alphabet string (UTF-8) to the raw bytes it stands for; out needs len bytes.
   Returns 0 if a character is not valid UTF-8 or not in the alphabet. */
FACTEDIT__PRIV int fe__alphabet_decode(const char *s, size_t len, unsigned char *out, size_t *out_len) {
    size_t i = 0, k = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t l = fe__utf8_decode((const unsigned char *)s + i, len - i, &cp);
        int b = l ? fe__alphabet_byte(cp) : -1;
        if (b < 0) return 0;
        out[k++] = (unsigned char)b;
        i += l;
    }
    *out_len = k;
    return 1;
}

/* Merge table entry: the adjacent pair (a, b) merges at rank into token id. */
typedef struct fe__merge { uint64_t key; int rank, id; } fe__merge;

struct fe_vocab {
    void *user;              /* allocator context */
    size_t n;                /* number of tokens */
    unsigned char *bytes;    /* raw bytes of all tokens, back to back */
    size_t *off;             /* token i is bytes[off[i] .. off[i+1]) */
    int *strs; size_t strs_cap;           /* open addressing: token bytes -> id (-1 empty) */
    fe__merge *merges; size_t merges_cap; /* open addressing: pair -> merge (rank -1 empty) */
    size_t n_merges;
    int byte_id[256];        /* token of each single byte, -1 if the vocabulary lacks it */
    int eot;
};

/* FNV-1a over a then b: a + b hashes without a copy. */
FACTEDIT__PRIV uint64_t fe__tok_hash_bytes(const unsigned char *a, size_t la, const unsigned char *b, size_t lb) {
    return fe_fnv1a64(fe_fnv1a64(FACTEDIT_FNV1A64_INIT, a, la), b, lb);
}
FACTEDIT__PRIV uint64_t fe__tok_hash_pair(uint64_t k) { return fe__mix64(k); }   /* spreads the id bits */
FACTEDIT__PRIV uint64_t fe__tok_pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

/* Id of the token whose bytes are a followed by b, or -1. */
FACTEDIT__PRIV int fe__str_find(const fe_vocab *v, const unsigned char *a, size_t la, const unsigned char *b,
                                size_t lb) {
    size_t mask = v->strs_cap - 1, i = (size_t)fe__tok_hash_bytes(a, la, b, lb) & mask;
    for (;; i = (i + 1) & mask) {
        int id = v->strs[i];
        const unsigned char *t;
        if (id < 0) return -1;
        t = v->bytes + v->off[id];
        if (v->off[id + 1] - v->off[id] == la + lb && !memcmp(t, a, la) && (!lb || !memcmp(t + la, b, lb))) return id;
    }
}
/* Adds token id to the string table; returns the id already holding the same bytes, or -1. */
FACTEDIT__PRIV int fe__str_add(fe_vocab *v, int id) {
    const unsigned char *s = v->bytes + v->off[id];
    size_t len = v->off[id + 1] - v->off[id], mask = v->strs_cap - 1;
    size_t i = (size_t)fe__tok_hash_bytes(s, len, NULL, 0) & mask;
    for (;; i = (i + 1) & mask) {
        int o = v->strs[i];
        if (o < 0) { v->strs[i] = id; return -1; }
        if (v->off[o + 1] - v->off[o] == len && !memcmp(v->bytes + v->off[o], s, len)) return o;
    }
}
FACTEDIT__PRIV const fe__merge *fe__merge_find(const fe_vocab *v, int a, int b) {
    uint64_t key = fe__tok_pair_key(a, b);
    size_t mask = v->merges_cap - 1, i = (size_t)fe__tok_hash_pair(key) & mask;
    for (;; i = (i + 1) & mask) {
        const fe__merge *m = &v->merges[i];
        if (m->rank < 0) return NULL;
        if (m->key == key) return m;
    }
}

/* Smallest power of two >= 2n (load factor <= 1/2 keeps probes short), at least 16. */
FACTEDIT__PRIV int fe__tok_table_cap(size_t n, size_t *cap) {
    size_t c = 16;
    while (c / 2 < n) { if (c > (size_t)-1 / 4) return 0; c *= 2; }
    *cap = c;
    return 1;
}

FACTEDIT_API void fe_vocab_free(fe_vocab *v) {
    if (!v) return;
    fe__free(v->user, v->bytes); fe__free(v->user, v->off);
    fe__free(v->user, v->strs); fe__free(v->user, v->merges);
    fe__free(v->user, v);
}
FACTEDIT_API size_t fe_vocab_size(const fe_vocab *v) { return v ? v->n : 0; }
FACTEDIT_API int fe_vocab_eot(const fe_vocab *v) { return v ? v->eot : -1; }
FACTEDIT_API const char *fe_token_bytes(const fe_vocab *v, int id, size_t *len) {
    if (!v || id < 0 || (size_t)id >= v->n) { if (len) *len = 0; return NULL; }
    if (len) *len = v->off[id + 1] - v->off[id];
    return (const char *)v->bytes + v->off[id];
}

/* ---- loading ---- */

/* One merge line: parts A and B as raw bytes in a scratch buffer, and where the line is. */
typedef struct fe__merge_line {
    size_t a, la, b, lb, line;
    const char *src;
    size_t src_len;
} fe__merge_line;

/* Splits the merges text into lines "A B"; parts are converted to raw bytes into raw (which needs
   len bytes: a part never has more raw bytes than UTF-8 bytes). */
FACTEDIT__PRIV fe_result fe__parse_merges(const char *text, size_t len, fe__merge_line *ml, size_t *count,
                                          unsigned char *raw, fe_error *err) {
    size_t pos = 0, line = 0, nm = 0, k = 0, blank = 0;
    while (pos < len) {
        const char *s = text + pos, *nl = (const char *)memchr(s, '\n', len - pos), *sp;
        size_t l = nl ? (size_t)(nl - s) : len - pos, l2;
        pos += l + (nl != NULL);
        line++;
        if (l && s[l - 1] == '\r') l--;
        if (line == 1 && l >= 8 && !memcmp(s, "#version", 8)) continue;
        if (!l) { if (!blank) blank = line; continue; }
        if (blank)   /* a blank line would shift the ranks (and derived ids) of all later merges */
            return fe__fail(err, fe_err_format, "merges line %zu: blank line before the last merge", blank);
        sp = (const char *)memchr(s, ' ', l);
        if (!sp || sp == s || sp == s + l - 1 || memchr(sp + 1, ' ', l - (size_t)(sp + 1 - s)))
            return fe__fail(err, fe_err_format, "merges line %zu: expected two tokens separated by one space: \"%.*s\"",
                            line, (int)(l < 80 ? l : 80), s);
        ml[nm].line = line; ml[nm].src = s; ml[nm].src_len = l;
        ml[nm].a = k;
        if (!fe__alphabet_decode(s, (size_t)(sp - s), raw + k, &ml[nm].la)) goto bad_char;
        k += ml[nm].la;
        ml[nm].b = k;
        if (!fe__alphabet_decode(sp + 1, l - (size_t)(sp + 1 - s), raw + k, &l2)) goto bad_char;
        ml[nm].lb = l2;
        k += l2;
        if (++nm > FACTEDIT_MAX_VOCAB)
            return fe__fail(err, fe_err_limit, "merges: more than FACTEDIT_MAX_VOCAB (%d) merges", FACTEDIT_MAX_VOCAB);
        continue;
    bad_char:
        return fe__fail(err, fe_err_format, "merges line %zu: \"%.*s\" has a character outside GPT-2's byte alphabet",
                        line, (int)(l < 80 ? l : 80), s);
    }
    *count = nm;
    return fe_ok;
}

/* Token table of GPT-2's layout: 256 byte tokens, one token per merge, then <|endoftext|>. */
FACTEDIT__PRIV fe_result fe__vocab_derive(fe_vocab *v, const fe__merge_line *ml, size_t nm, const unsigned char *raw,
                                          fe_error *err) {
    static const char eot[] = "<|endoftext|>";
    size_t total = 256 + sizeof eot - 1, i, k = 0, id = 0, sz;
    unsigned b, pass;
    v->n = 256 + nm + 1;
    if (v->n > FACTEDIT_MAX_VOCAB)
        return fe__fail(err, fe_err_limit, "merges: %zu tokens exceed FACTEDIT_MAX_VOCAB (%d)", v->n,
                        FACTEDIT_MAX_VOCAB);
    for (i = 0; i < nm; i++)
        if (!fe__add(total, ml[i].la + ml[i].lb, &total)) return fe__fail(err, fe_err_limit, "merges: size overflow");
    v->bytes = (unsigned char *)fe__malloc(v->user, total);
    if (!fe__mul(v->n + 1, sizeof *v->off, &sz) || !v->bytes ||
        !(v->off = (size_t *)fe__malloc(v->user, sz)))
        return fe__fail(err, fe_err_nomem, "merges: out of memory for %zu tokens", v->n);
    for (pass = 0; pass < 2; pass++)   /* printable bytes first, then the rest: bytes_to_unicode order */
        for (b = 0; b < 256; b++)
            if (fe__byte_printable(b) == !pass) { v->off[id++] = k; v->bytes[k++] = (unsigned char)b; }
    for (i = 0; i < nm; i++) {
        v->off[id++] = k;
        memcpy(v->bytes + k, raw + ml[i].a, ml[i].la); k += ml[i].la;
        memcpy(v->bytes + k, raw + ml[i].b, ml[i].lb); k += ml[i].lb;
    }
    v->off[id] = k;
    memcpy(v->bytes + k, eot, sizeof eot - 1);
    v->off[id + 1] = k + sizeof eot - 1;
    v->eot = (int)id;
    return fe_ok;
}

/* Token table from encoder.json: {"token": id, ...} with ids 0..N-1 each used once. */
FACTEDIT__PRIV fe_result fe__vocab_from_json(fe_vocab *v, const char *text, size_t len, fe_error *err) {
    fe_json *doc = NULL;
    const fe_json_value *root, *m, **by_id = NULL;
    size_t n, total = 0, k = 0, i, sz;
    fe_result rc = fe_json_parse(&doc, text, len, v->user, err);
    if (rc != fe_ok) {
        if (err) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            fe__fail(err, rc, "encoder.json: %s", msg);
        }
        return rc;
    }
    root = fe_json_root(doc);
    if (!root || root->type != fe_json_object || root->count == 0) {
        rc = fe__fail(err, fe_err_format, "encoder.json: expected a non-empty object {\"token\": id, ...}");
        goto done;
    }
    n = root->count;
    if (n > FACTEDIT_MAX_VOCAB) {
        rc = fe__fail(err, fe_err_limit, "encoder.json: %zu tokens exceed FACTEDIT_MAX_VOCAB (%d)", n,
                      FACTEDIT_MAX_VOCAB);
        goto done;
    }
    by_id = (const fe_json_value **)fe__calloc(v->user, n * sizeof *by_id);
    if (!by_id) { rc = fe__fail(err, fe_err_nomem, "encoder.json: out of memory"); goto done; }
    for (m = root->child; m; m = m->next) {
        double d = m->number;
        int ok = m->type == fe_json_number && d >= 0 && d <= 2147483647.0 && d == (double)(long)d;
        const char *key = m->key ? m->key : "";
        int kl = (int)(m->key_len < 80 ? m->key_len : 80);
        if (!ok) {
            rc = fe__fail(err, fe_err_range, "encoder.json: token \"%.*s\" has no valid id (want an integer >= 0)", kl,
                          key);
            goto done;
        }
        if ((size_t)d >= n) {
            rc = fe__fail(err, fe_err_format,
                          "encoder.json: ids are not contiguous: token \"%.*s\" has id %ld, but there are %zu tokens",
                          kl, key, (long)d, n);
            goto done;
        }
        if (by_id[(size_t)d]) {
            rc = fe__fail(err, fe_err_format, "encoder.json: id %ld is used twice (\"%.*s\")", (long)d, kl, key);
            goto done;
        }
        by_id[(size_t)d] = m;
        total += m->key_len;   /* cannot overflow: the keys are inside the parsed document */
    }
    v->n = n;
    v->bytes = (unsigned char *)fe__malloc(v->user, total);
    if (!fe__mul(n + 1, sizeof *v->off, &sz) || !v->bytes || !(v->off = (size_t *)fe__malloc(v->user, sz))) {
        rc = fe__fail(err, fe_err_nomem, "encoder.json: out of memory for %zu tokens", n);
        goto done;
    }
    for (i = 0; i < n; i++) {
        size_t l = 0;
        m = by_id[i];
        v->off[i] = k;
        if (!m->key || !fe__alphabet_decode(m->key, m->key_len, v->bytes + k, &l)) {
            rc = fe__fail(err, fe_err_format,
                          "encoder.json: token \"%.*s\" (id %zu) has a character outside GPT-2's byte alphabet",
                          (int)(m->key_len < 80 ? m->key_len : 80), m->key ? m->key : "", i);
            goto done;
        }
        k += l;
    }
    v->off[n] = k;
done:
    fe__free(v->user, (void *)by_id);
    fe_json_free(doc);
    return rc;
}

/* Builds the string table (rejecting repeated tokens), the byte tokens and <|endoftext|>. */
FACTEDIT__PRIV fe_result fe__vocab_index(fe_vocab *v, const fe__merge_line *ml, int derived, fe_error *err) {
    size_t i, sz;
    if (!fe__tok_table_cap(v->n, &v->strs_cap) || !fe__mul(v->strs_cap, sizeof *v->strs, &sz) ||
        !(v->strs = (int *)fe__malloc(v->user, sz)))
        return fe__fail(err, fe_err_nomem, "vocabulary: out of memory");
    for (i = 0; i < v->strs_cap; i++) v->strs[i] = -1;
    for (i = 0; i < v->n; i++) {
        int o = fe__str_add(v, (int)i);
        if (o < 0) continue;
        if (derived) {   /* i is a merge or <|endoftext|>; o is a merge (byte tokens are 1 byte, merges longer) */
            const fe__merge_line *L = &ml[(i + 1 < v->n ? i : (size_t)o) - 256];
            int ql = (int)(L->src_len < 80 ? L->src_len : 80);
            if (i + 1 < v->n)
                return fe__fail(err, fe_err_format, "merges line %zu: \"%.*s\" makes the same token as line %zu",
                                L->line, ql, L->src, ml[o - 256].line);
            return fe__fail(err, fe_err_format, "merges line %zu: \"%.*s\" makes <|endoftext|>", L->line, ql, L->src);
        }
        return fe__fail(err, fe_err_format, "encoder.json: ids %d and %zu are the same token", o, i);
    }
    for (i = 0; i < 256; i++) { unsigned char b = (unsigned char)i; v->byte_id[i] = fe__str_find(v, &b, 1, NULL, 0); }
    if (!derived) v->eot = fe__str_find(v, (const unsigned char *)"<|endoftext|>", 13, NULL, 0);
    return fe_ok;
}

/* Merge table: (id of A, id of B) -> (rank = line order, id of A+B). */
FACTEDIT__PRIV fe_result fe__vocab_merges(fe_vocab *v, const fe__merge_line *ml, size_t nm, const unsigned char *raw,
                                          fe_error *err) {
    size_t i, sz, mask;
    if (!fe__tok_table_cap(nm, &v->merges_cap) || !fe__mul(v->merges_cap, sizeof *v->merges, &sz) ||
        !(v->merges = (fe__merge *)fe__malloc(v->user, sz)))
        return fe__fail(err, fe_err_nomem, "merges: out of memory");
    for (i = 0; i < v->merges_cap; i++) { v->merges[i].key = 0; v->merges[i].rank = -1; v->merges[i].id = -1; }
    mask = v->merges_cap - 1;
    for (i = 0; i < nm; i++) {
        const fe__merge_line *L = &ml[i];
        int a = fe__str_find(v, raw + L->a, L->la, NULL, 0), b = fe__str_find(v, raw + L->b, L->lb, NULL, 0);
        int r = fe__str_find(v, raw + L->a, L->la, raw + L->b, L->lb);
        uint64_t key = fe__tok_pair_key(a, b);
        size_t h;
        int ql = (int)(L->src_len < 80 ? L->src_len : 80);
        if (a < 0 || b < 0)
            return fe__fail(err, fe_err_format, "merges line %zu: a part of \"%.*s\" is not in the vocabulary", L->line,
                            ql, L->src);
        if (r < 0)
            return fe__fail(err, fe_err_format, "merges line %zu: the result of \"%.*s\" is not in the vocabulary",
                            L->line, ql, L->src);
        for (h = (size_t)fe__tok_hash_pair(key) & mask; v->merges[h].rank >= 0; h = (h + 1) & mask)
            if (v->merges[h].key == key)
                return fe__fail(err, fe_err_format, "merges line %zu: \"%.*s\" repeats line %zu",
                                L->line, ql, L->src, ml[v->merges[h].rank].line);
        v->merges[h].key = key; v->merges[h].rank = (int)i; v->merges[h].id = r;
    }
    v->n_merges = nm;
    return fe_ok;
}

FACTEDIT_API fe_result fe_vocab_load_mem(fe_vocab **out, const char *encoder_json, size_t encoder_len,
                                         const char *merges, size_t merges_len, void *alloc_user, fe_error *err) {
    fe_vocab *v;
    fe__merge_line *ml = NULL;
    unsigned char *raw = NULL;
    size_t nm = 0, lines = 1, sz, i;
    fe_result rc;
    if (!out) return fe__fail(err, fe_err_arg, "fe_vocab_load_mem: out is NULL");
    *out = NULL;
    if (!merges && merges_len) return fe__fail(err, fe_err_arg, "fe_vocab_load_mem: merges is NULL");
    for (i = 0; i < merges_len; i++) lines += merges[i] == '\n';
    v = (fe_vocab *)fe__calloc(alloc_user, sizeof *v);
    if (!v) return fe__fail(err, fe_err_nomem, "fe_vocab_load_mem: out of memory");
    v->user = alloc_user;
    v->eot = -1;
    if (!fe__mul(lines, sizeof *ml, &sz) || !(ml = (fe__merge_line *)fe__malloc(alloc_user, sz)) ||
        !(raw = (unsigned char *)fe__malloc(alloc_user, merges_len))) {
        rc = fe__fail(err, fe_err_nomem, "merges: out of memory");
        goto done;
    }
    rc = fe__parse_merges(merges, merges_len, ml, &nm, raw, err);
    if (rc == fe_ok)
        rc = encoder_json ? fe__vocab_from_json(v, encoder_json, encoder_len, err)
                          : fe__vocab_derive(v, ml, nm, raw, err);
    if (rc == fe_ok) rc = fe__vocab_index(v, ml, encoder_json == NULL, err);
    if (rc == fe_ok) rc = fe__vocab_merges(v, ml, nm, raw, err);
done:
    fe__free(alloc_user, ml);
    fe__free(alloc_user, raw);
    if (rc != fe_ok) { fe_vocab_free(v); return rc; }
    *out = v;
    return fe_ok;
}

#ifndef FACTEDIT_NO_STDIO
/* Reads dir/name whole. *found = 0 (and fe_ok) when the file does not exist, so the caller can
   try another name; a file that cannot be read, or is not a regular file (a FIFO, a directory),
   is an error. */
FACTEDIT__PRIV fe_result fe__tok_read_file(void *user, const char *dir, const char *name, char **buf, size_t *len,
                                   int *found, fe_error *err) {
    size_t dl = strlen(dir), nl = strlen(name);
    int sep = dl && dir[dl - 1] != '/' && dir[dl - 1] != '\\';
    char *path = (char *)fe__malloc(user, dl + nl + 2);
    fe_result rc = fe_ok;
    *buf = NULL; *len = 0; *found = 0;
    if (!path) return fe__fail(err, fe_err_nomem, "out of memory");
    memcpy(path, dir, dl);
    if (sep) path[dl] = '/';
    memcpy(path + dl + sep, name, nl + 1);
#ifdef FACTEDIT__POSIX
    {
        int fd, missing;
        struct stat st;
        if ((rc = fe__open_regular("", path, &fd, &st, &missing, err)) == fe_ok) {
            *found = 1;
            rc = fe__read_fd(fd, path, &st, user, (unsigned char **)buf, len, err);
        } else if (missing) {
            rc = fe_ok;
            fe__ok(err);
        }
    }
#else
    {
        size_t cap = 1 << 16, n = 0;
        char *b = NULL;
        FILE *f = fopen(path, "rb");
        if (!f) { fe__free(user, path); return fe_ok; }
        *found = 1;
        for (;;) {
            char *nb = (char *)fe__realloc(user, b, cap);
            if (!nb) { rc = fe__fail(err, fe_err_nomem, "%s: out of memory", path); break; }
            b = nb;
            n += fread(b + n, 1, cap - n, f);
            if (n < cap) {
                if (ferror(f)) rc = fe__fail(err, fe_err_io, "%s: read error: %s", path, strerror(errno));
                break;
            }
            if (cap > (size_t)-1 / 2) { rc = fe__fail(err, fe_err_limit, "%s: file too large", path); break; }
            cap *= 2;
        }
        fclose(f);
        if (rc != fe_ok) fe__free(user, b);
        else { *buf = b; *len = n; }
    }
#endif
    fe__free(user, path);
    return rc;
}

FACTEDIT_API fe_result fe_vocab_load_dir(fe_vocab **out, const char *dir, void *alloc_user, fe_error *err) {
    char *enc = NULL, *mer = NULL;
    size_t enc_len = 0, mer_len = 0;
    int found = 0;
    fe_result rc;
    if (!out || !dir) return fe__fail(err, fe_err_arg, "fe_vocab_load_dir: NULL argument");
    *out = NULL;
    rc = fe__tok_read_file(alloc_user, dir, "vocab.bpe", &mer, &mer_len, &found, err);
    if (rc == fe_ok && !found) rc = fe__tok_read_file(alloc_user, dir, "merges.txt", &mer, &mer_len, &found, err);
    if (rc == fe_ok && !found)
        rc = fe__fail(err, fe_err_io, "%s: cannot open vocab.bpe or merges.txt: %s", dir, strerror(ENOENT));
    if (rc == fe_ok) rc = fe__tok_read_file(alloc_user, dir, "encoder.json", &enc, &enc_len, &found, err);
    if (rc == fe_ok && !found) rc = fe__tok_read_file(alloc_user, dir, "vocab.json", &enc, &enc_len, &found, err);
    if (rc == fe_ok) rc = fe_vocab_load_mem(out, enc, enc_len, mer, mer_len, alloc_user, err);
    fe__free(alloc_user, enc);
    fe__free(alloc_user, mer);
    return rc;
}
#endif

/* ---- encoding ---- */

/* Candidate merge of the symbol at pos with its right neighbour: tokens a, b -> to at rank. */
typedef struct fe__bpe_item { int rank, a, b, to; size_t pos; } fe__bpe_item;

/* Scratch of one fe_encode call: the current word as a linked list of symbols (indexed by their
   first byte), a heap of candidate merges ordered by (rank, pos), and pairs put off until the
   current rank's pass ends. */
typedef struct fe__bpe {
    void *user;
    int *id; size_t *prev, *next; size_t cap;
    fe__bpe_item *heap; size_t nheap, heap_cap;
    fe__bpe_item *pend; size_t npend, pend_cap;
    int *out; size_t nout, out_cap;
} fe__bpe;
#define FACTEDIT__NONE ((size_t)-1)

/* Makes room for need elements of size elem in *p (capacity *cap, doubled). */
FACTEDIT__PRIV int fe__tok_grow(void *user, void **p, size_t *cap, size_t need, size_t elem) {
    size_t c = *cap ? *cap : 16, sz;
    void *np;
    if (need <= *cap) return 1;
    while (c < need) { if (c > (size_t)-1 / 2) return 0; c *= 2; }
    if (!fe__mul(c, elem, &sz) || !(np = fe__realloc(user, *p, sz))) return 0;
    *p = np; *cap = c;
    return 1;
}

FACTEDIT__PRIV int fe__bpe_less(const fe__bpe_item *x, const fe__bpe_item *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}
FACTEDIT__PRIV void fe__bpe_push(fe__bpe *w, fe__bpe_item it) {   /* capacity ensured by the caller */
    size_t i = w->nheap++;
    while (i > 0 && fe__bpe_less(&it, &w->heap[(i - 1) / 2])) { w->heap[i] = w->heap[(i - 1) / 2]; i = (i - 1) / 2; }
    w->heap[i] = it;
}
FACTEDIT__PRIV fe__bpe_item fe__bpe_pop(fe__bpe *w) {
    fe__bpe_item top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && fe__bpe_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!fe__bpe_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c]; i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* Queues the pair (symbol at pos, its right neighbour) if the vocabulary merges it. The reference
   merges every occurrence of the chosen pair before choosing again, so a new pair ranked below the
   pass in progress waits in pend (only possible with merge lists that are not in training order). */
FACTEDIT__PRIV int fe__bpe_add(const fe_vocab *v, fe__bpe *w, size_t pos, int cur_rank) {
    fe__bpe_item it;
    const fe__merge *m = fe__merge_find(v, w->id[pos], w->id[w->next[pos]]);
    if (!m) return 1;
    it.rank = m->rank;
    it.a = w->id[pos];
    it.b = w->id[w->next[pos]];
    it.to = m->id;
    it.pos = pos;
    if (it.rank < cur_rank) {
        if (!fe__tok_grow(w->user, (void **)&w->pend, &w->pend_cap, w->npend + 1, sizeof *w->pend)) return 0;
        w->pend[w->npend++] = it;
        return 1;
    }
    if (!fe__tok_grow(w->user, (void **)&w->heap, &w->heap_cap, w->nheap + 1, sizeof *w->heap)) return 0;
    fe__bpe_push(w, it);
    return 1;
}

/* BPE of one pre-token s[0..m), appending its ids to w->out. */
FACTEDIT__PRIV fe_result fe__bpe_word(const fe_vocab *v, fe__bpe *w, const unsigned char *s, size_t m, fe_error *err) {
    size_t i;
    int cur = -1;
    for (i = 0; i < m; i++)
        if (v->byte_id[s[i]] < 0)
            return fe__fail(err, fe_err_unsupported, "encode: byte 0x%02x has no token in this vocabulary",
                            (unsigned)s[i]);
    if (!fe__tok_grow(w->user, (void **)&w->out, &w->out_cap, w->nout + m, sizeof *w->out)) goto nomem;
    if (m == 1) { w->out[w->nout++] = v->byte_id[s[0]]; return fe_ok; }
    if (m > w->cap) {   /* id, prev and next grow together */
        size_t c = w->cap;
        if (!fe__tok_grow(w->user, (void **)&w->id, &c, m, sizeof *w->id)) goto nomem;
        c = w->cap;
        if (!fe__tok_grow(w->user, (void **)&w->prev, &c, m, sizeof *w->prev)) goto nomem;
        c = w->cap;
        if (!fe__tok_grow(w->user, (void **)&w->next, &c, m, sizeof *w->next)) goto nomem;
        w->cap = c;
    }
    for (i = 0; i < m; i++) {
        w->id[i] = v->byte_id[s[i]];
        w->prev[i] = i ? i - 1 : FACTEDIT__NONE;
        w->next[i] = i + 1 < m ? i + 1 : FACTEDIT__NONE;
    }
    w->nheap = w->npend = 0;
    for (i = 0; i + 1 < m; i++)
        if (!fe__bpe_add(v, w, i, cur)) goto nomem;
    for (;;) {
        fe__bpe_item it;
        size_t r;
        if (w->npend && (!w->nheap || w->heap[0].rank != cur)) {   /* pass over: release the put-off pairs */
            if (!fe__tok_grow(w->user, (void **)&w->heap, &w->heap_cap, w->nheap + w->npend, sizeof *w->heap))
                goto nomem;
            for (i = 0; i < w->npend; i++) fe__bpe_push(w, w->pend[i]);
            w->npend = 0;
        }
        if (!w->nheap) break;
        it = fe__bpe_pop(w);
        /* Stale if either symbol was merged since: a merged symbol gets a longer token (a new id),
           and a symbol's right neighbour changes only when the symbol itself merges. */
        if (w->id[it.pos] != it.a || (r = w->next[it.pos]) == FACTEDIT__NONE || w->id[r] != it.b) continue;
        cur = it.rank;
        w->id[it.pos] = it.to;
        w->id[r] = -1;
        w->next[it.pos] = w->next[r];
        if (w->next[r] != FACTEDIT__NONE) w->prev[w->next[r]] = it.pos;
        if (w->prev[it.pos] != FACTEDIT__NONE && !fe__bpe_add(v, w, w->prev[it.pos], cur)) goto nomem;
        if (w->next[it.pos] != FACTEDIT__NONE && !fe__bpe_add(v, w, it.pos, cur)) goto nomem;
    }
    for (i = 0; i != FACTEDIT__NONE; i = w->next[i]) w->out[w->nout++] = w->id[i];
    return fe_ok;
nomem:
    return fe__fail(err, fe_err_nomem, "encode: out of memory");
}

FACTEDIT_API fe_result fe_encode(const fe_vocab *v, const char *text, size_t len, int **ids, size_t *n, fe_error *err) {
    const unsigned char *s = (const unsigned char *)text;
    size_t p = 0;
    fe__bpe w;
    fe_result rc = fe_ok;
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!v || !ids || !n || (!text && len)) return fe__fail(err, fe_err_arg, "fe_encode: NULL argument");
    memset(&w, 0, sizeof w);
    w.user = v->user;
    /* ~4 bytes per token in English */
    if (!fe__tok_grow(w.user, (void **)&w.out, &w.out_cap, len / 4 + 1, sizeof *w.out))
        rc = fe__fail(err, fe_err_nomem, "encode: out of memory");
    while (rc == fe_ok && p < len) {
        size_t e = fe__pretoken_end(s, len, p);
        rc = fe__bpe_word(v, &w, s + p, e - p, err);
        p = e;
    }
    fe__free(w.user, w.id); fe__free(w.user, w.prev); fe__free(w.user, w.next);
    fe__free(w.user, w.heap); fe__free(w.user, w.pend);
    if (rc != fe_ok) { fe__free(w.user, w.out); return rc; }
    *ids = w.out;
    *n = w.nout;
    return fe_ok;
}

FACTEDIT_API void fe_ids_free(const fe_vocab *v, int *ids) { if (v) fe__free(v->user, ids); }
FACTEDIT_API void fe_text_free(const fe_vocab *v, char *text) { if (v) fe__free(v->user, text); }

FACTEDIT_API fe_result fe_decode(const fe_vocab *v, const int *ids, size_t n, char **text, size_t *len, fe_error *err) {
    size_t i, total = 0, k = 0;
    char *t;
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!v || !text || (!ids && n)) return fe__fail(err, fe_err_arg, "fe_decode: NULL argument");
    for (i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= v->n)
            return fe__fail(err, fe_err_range, "decode: ids[%zu] = %d is not a token id (vocabulary has %zu)", i,
                            ids[i], v->n);
        total += v->off[ids[i] + 1] - v->off[ids[i]];
        if (total > (size_t)-1 / 2) return fe__fail(err, fe_err_limit, "decode: text too long");
    }
    t = (char *)fe__malloc(v->user, total + 1);
    if (!t) return fe__fail(err, fe_err_nomem, "decode: out of memory for %zu bytes", total);
    for (i = 0; i < n; i++) {
        size_t l = v->off[ids[i] + 1] - v->off[ids[i]];
        memcpy(t + k, v->bytes + v->off[ids[i]], l);
        k += l;
    }
    t[total] = '\0';
    *text = t;
    if (len) *len = total;
    return fe_ok;
}

FACTEDIT_API fe_result fe_subject_span(const fe_vocab *v, const char *prompt, const char *subject,
                                       size_t *begin, size_t *end, fe_error *err) {
    const char *hit;
    size_t s, e, pos = 0, i, n = 0;
    int *ids = NULL;
    fe_result rc;
    if (!v || !prompt || !subject || !begin || !end) return fe__fail(err, fe_err_arg, "fe_subject_span: NULL argument");
    if (!*subject) return fe__fail(err, fe_err_arg, "subject is empty");
    hit = strstr(prompt, subject);   /* first occurrence, as ROME's find_token_range (str.index) */
    if (!hit) return fe__fail(err, fe_err_arg, "subject \"%.80s\" not found in prompt \"%.120s\"", subject, prompt);
    s = (size_t)(hit - prompt);
    e = s + strlen(subject);
    rc = fe_encode(v, prompt, strlen(prompt), &ids, &n, err);
    if (rc != fe_ok) return rc;
    *begin = *end = 0;
    for (i = 0; i < n; i++) {   /* tokens tile the prompt byte for byte, so both ends are found */
        pos += v->off[ids[i] + 1] - v->off[ids[i]];
        if (pos <= s) *begin = i + 1;
        if (pos >= e) { *end = i + 1; break; }
    }
    fe_ids_free(v, ids);
    return fe_ok;
}

/* ======================================================== >>impl-forward ====================== */

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
    float *scratch;          /* (2, B*T, 4C): the forward's gathered rows */
    int *span0, *spann;      /* (B) (B): the positions the running forward computes, per row */
    float *blob;
    size_t blob_floats;
    void *alloc_user;
    int lean;                /* fe__state_alloc's lean state: one set of layer buffers, no ln_f or logits */
    int B0, T0;              /* the shape allocated; a lean state computes any (B, T) within it */
};

FACTEDIT_API int fe_state_batch(const fe_state *s) { return s->B; }
FACTEDIT_API int fe_state_capacity(const fe_state *s) { return s->T; }
FACTEDIT_API int fe_site_width(const fe_model *m, fe_site site) {
    return site == fe_site_key ? 4 * m->config.channels : m->config.channels;
}

FACTEDIT_API void fe_state_free(fe_state *s) {
    if (!s) return;
    fe__free(s->alloc_user, s->layers);
    fe__free(s->alloc_user, s->span0);
    fe__free(s->alloc_user, s->blob);
    fe__free(s->alloc_user, s);
}

/* A state of `batch` rows of max_tokens positions. lean = 0: fe_state_new's, every layer's
   activations, ln_f and the logits, zeroed. lean = 1 (private: fe__lookup_acts): one set of layer
   buffers that every layer aliases (layer l overwrites layer l - 1's: fe__forward_rows reads a
   layer's input before it writes its output), no ln_f or logits (fe_forward refuses to compute
   them), not zeroed (a forward writes every value it reads), and reshaped by fe__state_lean_shape.
   A forward then touches about 18C floats per position, not 18C per layer plus the logits: fresh
   pages cost a fault each, which can take longer than the forward (PERFORMANCE NOTES). */
FACTEDIT__PRIV fe_result fe__state_alloc(fe_state **out, const fe_model *m, int batch, int max_tokens, int lean,
                                         fe_error *err) {
    const fe_config *c = &m->config;
    size_t C = (size_t)c->channels, NH = (size_t)c->num_heads, BT, per_layer, total, bytes, tt;
    size_t sets = lean ? 1 : (size_t)c->num_layers;
    fe_state *s;
    float *p;
    int l;
    *out = NULL;
    if (batch < 1 || max_tokens < 1)
        return fe__fail(err, fe_err_arg, "state: batch %d and max_tokens %d must be >= 1", batch, max_tokens);
    if (max_tokens > c->max_seq_len)
        return fe__fail(err, fe_err_range, "state: %d tokens exceed the model's context of %d", max_tokens,
                        c->max_seq_len);
    BT = (size_t)batch * (size_t)max_tokens;
    /* per layer: ln1 C, 2 stats, qkv 3C, att NH*T, atty C, attn C, resid_mid C, ln2 C, 2 stats,
       fch 4C, key 4C, mlp C, resid C  => 18C + 4 + NH*T floats per (row, position); then embed and
       encoded 2C, ln_f C + 2 stats and the logits V (not lean), the scratch 8C */
    if (!fe__mul3(NH, (size_t)max_tokens, 1, &tt) || !fe__add(18 * C + 4, tt, &per_layer) ||
        !fe__mul(per_layer, BT, &per_layer) || !fe__mul(per_layer, sets, &total) ||
        !fe__add(total, BT * (lean ? 2 * C : 3 * C + 2), &total) ||
        !fe__add(total, lean ? 0 : (size_t)batch * (size_t)max_tokens * (size_t)c->vocab_size, &total) ||
        !fe__add(total, BT * 8 * C, &total) || !fe__mul(total, sizeof(float), &bytes))
        return fe__fail(err, fe_err_limit, "state: size overflow");
    s = (fe_state *)fe__calloc(m->alloc_user, sizeof *s);
    if (!s) return fe__fail(err, fe_err_nomem, "state: out of memory");
    s->alloc_user = m->alloc_user;
    s->model = m;
    s->B = s->B0 = batch;
    s->T = s->T0 = max_tokens;
    s->lean = lean;
    s->last_pos = -1;
    s->layers = (fe__layer_acts *)fe__calloc(m->alloc_user, sizeof(fe__layer_acts) * (size_t)c->num_layers);
    s->blob = (float *)fe__malloc(m->alloc_user, bytes);
    s->span0 = (int *)fe__malloc(m->alloc_user, sizeof(int) * 2 * (size_t)batch);
    if (s->span0) s->spann = s->span0 + batch;
    if (!s->layers || !s->blob || !s->span0) {
        fe_state_free(s);
        return fe__fail(err, fe_err_nomem, "state: cannot allocate %zu bytes of activations", bytes);
    }
    if (!lean) memset(s->blob, 0, bytes);
    s->blob_floats = total;
    p = s->blob;
#define FACTEDIT__TAKE(dst, n) do { (dst) = p; p += (n); } while (0)
    FACTEDIT__TAKE(s->embed, BT * C);
    FACTEDIT__TAKE(s->encoded, BT * C);
    for (l = 0; l < (int)sets; l++) {
        fe__layer_acts *a = &s->layers[l];
        FACTEDIT__TAKE(a->ln1, BT * C); FACTEDIT__TAKE(a->ln1_mean, BT); FACTEDIT__TAKE(a->ln1_rstd, BT);
        FACTEDIT__TAKE(a->qkv, BT * 3 * C); FACTEDIT__TAKE(a->att, BT * NH * (size_t)max_tokens);
        FACTEDIT__TAKE(a->atty, BT * C); FACTEDIT__TAKE(a->attn, BT * C); FACTEDIT__TAKE(a->resid_mid, BT * C);
        FACTEDIT__TAKE(a->ln2, BT * C); FACTEDIT__TAKE(a->ln2_mean, BT); FACTEDIT__TAKE(a->ln2_rstd, BT);
        FACTEDIT__TAKE(a->fch, BT * 4 * C); FACTEDIT__TAKE(a->key, BT * 4 * C);
        FACTEDIT__TAKE(a->mlp, BT * C); FACTEDIT__TAKE(a->resid, BT * C);
    }
    for (; l < c->num_layers; l++) s->layers[l] = s->layers[0];
    if (!lean) {
        FACTEDIT__TAKE(s->lnf, BT * C); FACTEDIT__TAKE(s->lnf_mean, BT); FACTEDIT__TAKE(s->lnf_rstd, BT);
        FACTEDIT__TAKE(s->logits, BT * (size_t)c->vocab_size);
    }
    FACTEDIT__TAKE(s->scratch, BT * 8 * C);
#undef FACTEDIT__TAKE
    *out = s;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_state_new(fe_state **out, const fe_model *m, int batch, int max_tokens, unsigned flags,
                                    fe_error *err) {
    *out = NULL;
    if (flags != 0) return fe__fail(err, fe_err_arg, "state: flags 0x%x: reserved, pass 0", flags);
    return fe__state_alloc(out, m, batch, max_tokens, 0, err);
}

/* A lean state's next forwards run B rows of T positions (within the shape it was made for): the
   same buffers with (B, T) strides, so every row's positions [0, T) are contiguous. */
FACTEDIT__PRIV void fe__state_lean_shape(fe_state *s, int B, int T) {
    FACTEDIT_ASSERT(s->lean && B >= 1 && B <= s->B0 && T >= 1 && T <= s->T0);
    s->B = B;
    s->T = T;
    s->last_pos = -1;
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

/* Dot product of two float rows: SIMD partial sums, then the tail (attention's q.k and dy.v;
   head sizes are multiples of 16 in every GPT-2). */
FACTEDIT__PRIV float fe__sdot(const float *a, const float *b, int n) {
    int i = 0;
    float s = 0.0f;
#ifdef FACTEDIT__VW
    if (n >= FACTEDIT__VW) {
        fe__vf acc = fe__vmul(fe__vload(a), fe__vload(b));
        for (i = FACTEDIT__VW; i + FACTEDIT__VW <= n; i += FACTEDIT__VW)
            acc = fe__vfma(fe__vload(a + i), fe__vload(b + i), acc);
        s = fe__vhsum(acc);
    }
#endif
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y += a x over n floats (the attention backward's updates), SIMD with a scalar tail: each y[i]
   gets one fused multiply-add, whatever n. */
FACTEDIT__PRIV void fe__saxpy(float *y, float a, const float *x, int n) {
    int i = 0;
#ifdef FACTEDIT__VW
    fe__vf av = fe__vbcast(a);
    for (; i + FACTEDIT__VW <= n; i += FACTEDIT__VW)
        fe__vstore(y + i, fe__vfma(av, fe__vload(x + i), fe__vload(y + i)));
#endif
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* Causal self-attention for row b, positions [p0, p0+n), one head per task.
   qkv (T,3C) of this row -> att (NH,T,T) probabilities, atty (T,C).
   With SIMD and n >= 8 queries, a head's keys are first transposed (hs, Tk) so the scores of VW
   keys come from hs FMAs (no horizontal sums), and the softmax's exponentials are vectorized;
   without the buffer (or for a few queries, as in decoding) one dot product per score. */
FACTEDIT__PRIV void fe__attention(float *atty, float *att, const float *qkv, int T, int C, int NH, int p0, int n) {
    int hs = C / NH, h, Tk = p0 + n;
    float scale = 1.0f / sqrtf((float)hs);
    (void)Tk;   /* the key transpose's row length (SIMD builds only) */
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)n * (p0 + n) * C > 50000)
#endif
    for (h = 0; h < NH; h++) {
        int t, t2, i;
        float *kt = NULL;
#ifdef FACTEDIT__VW
        if (n >= 8 && (kt = (float *)fe__malloc(NULL, sizeof(float) * (size_t)hs * (size_t)Tk)) != NULL)
            for (t2 = 0; t2 < Tk; t2++) {
                const float *k = qkv + (size_t)t2 * 3 * C + C + h * hs;
                for (i = 0; i < hs; i++) kt[(size_t)i * Tk + t2] = k[i];
            }
#endif
        for (t = p0; t < p0 + n; t++) {
            const float *q = qkv + (size_t)t * 3 * C + h * hs;
            float *a = att + ((size_t)h * T + t) * T, mx = -INFINITY, sum = 0.0f, *y = atty + (size_t)t * C + h * hs;
            t2 = 0;
#ifdef FACTEDIT__VW
            if (kt) {
                fe__vf vs = fe__vbcast(scale), vm = fe__vbcast(-INFINITY), vsum;
                float tmp[FACTEDIT__VW];
                for (; t2 + FACTEDIT__VW <= t + 1; t2 += FACTEDIT__VW) {
                    fe__vf acc = fe__vzero();
                    for (i = 0; i < hs; i++) acc = fe__vfma(fe__vbcast(q[i]), fe__vload(kt + (size_t)i * Tk + t2), acc);
                    acc = fe__vmul(acc, vs);
                    fe__vstore(a + t2, acc);
                    vm = fe__vmax(vm, acc);
                }
                fe__vstore(tmp, vm);
                for (i = 0; i < FACTEDIT__VW; i++) if (tmp[i] > mx) mx = tmp[i];
                for (; t2 <= t; t2++) {
                    float d = 0.0f;
                    for (i = 0; i < hs; i++) d += q[i] * kt[(size_t)i * Tk + t2];
                    a[t2] = d * scale;
                    if (a[t2] > mx) mx = a[t2];
                }
                /* exponentials: VW at a time, the tail by expf */
                vm = fe__vbcast(mx); vsum = fe__vzero();
                for (t2 = 0; t2 + FACTEDIT__VW <= t + 1; t2 += FACTEDIT__VW) {
                    fe__vf e = fe__vexp(fe__vsub(fe__vload(a + t2), vm));
                    fe__vstore(a + t2, e);
                    vsum = fe__vadd(vsum, e);
                }
                sum = fe__vhsum(vsum);
                for (; t2 <= t; t2++) { a[t2] = expf(a[t2] - mx); sum += a[t2]; }
                t2 = t + 1;
            }
#endif
            if (t2 == 0) {
                for (t2 = 0; t2 <= t; t2++) {
                    float d = fe__sdot(q, qkv + (size_t)t2 * 3 * C + C + h * hs, hs) * scale;
                    a[t2] = d;
                    if (d > mx) mx = d;
                }
                for (t2 = 0; t2 <= t; t2++) { a[t2] = expf(a[t2] - mx); sum += a[t2]; }
            }
            for (t2 = 0; t2 <= t; t2++) a[t2] /= sum;
            for (i = 0; i < hs; i++) y[i] = 0.0f;
            for (t2 = 0; t2 <= t; t2++) {
                const float *v = qkv + (size_t)t2 * 3 * C + 2 * C + h * hs;
                float w = a[t2];
                i = 0;
#ifdef FACTEDIT__VW
                for (; i + FACTEDIT__VW <= hs; i += FACTEDIT__VW)
                    fe__vstore(y + i, fe__vfma(fe__vbcast(w), fe__vload(v + i), fe__vload(y + i)));
#endif
                for (; i < hs; i++) y[i] += w * v[i];
            }
        }
        fe__free(NULL, kt);
    }
}

FACTEDIT__PRIV void fe__residual(float *out, const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* Rows of a (B, T, w) buffer, row b's positions [p0[b], p0[b] + n[b]), to and from a compact
   (sum of n, w) block. */
FACTEDIT__PRIV size_t fe__rows_gather(float *dst, const float *src, int B, int T, const int *p0, const int *n,
                                      size_t w) {
    int b;
    size_t k = 0;
    for (b = 0; b < B; b++) {
        memcpy(dst + k * w, src + ((size_t)b * T + (size_t)p0[b]) * w, sizeof(float) * (size_t)n[b] * w);
        k += (size_t)n[b];
    }
    return k;
}
FACTEDIT__PRIV void fe__rows_scatter(float *dst, const float *src, int B, int T, const int *p0, const int *n,
                                     size_t w) {
    int b;
    size_t k = 0;
    for (b = 0; b < B; b++) {
        memcpy(dst + ((size_t)b * T + (size_t)p0[b]) * w, src + k * w, sizeof(float) * (size_t)n[b] * w);
        k += (size_t)n[b];
    }
}
/* out rows (stride wo) = in rows (stride wi) . W^T + bias over the spans: gathered into G, multiplied
   into H and scattered back; in place when the spans' rows are contiguous in the state (one row,
   or whole rows), which saves the two copies. */
FACTEDIT__PRIV int fe__spans_contiguous(const int *p0, const int *n, int B, int T) {
    int b;
    if (B == 1) return 1;
    for (b = 0; b < B; b++) if (p0[b] != 0 || n[b] != T) return 0;
    return 1;
}
#define FACTEDIT__MATMUL_ROWS(in, wi, out, wo, W, bias, IC, OC) do { \
        if (fe__spans_contiguous(p0, pn, B, T)) \
            fe__matmul_w((out) + (size_t)p0[0] * (wo), (wo), (in) + (size_t)p0[0] * (wi), W, OC, bias, BN, IC, OC); \
        else { \
            fe__rows_gather(G, in, B, T, p0, pn, wi); \
            fe__matmul_w(H, (wo), G, W, OC, bias, BN, IC, OC); \
            fe__rows_scatter(out, H, B, T, p0, pn, wo); \
        } \
    } while (0)
/* The forward of a span of positions of every row, one layer at a time: each matmul runs once over
   all the rows' positions (gathered into scratch: (sum of spans, 4C) twice), so a batch of rows
   reads every weight matrix once. Row b computes positions [rp0[b], rp0[b] + rn[b]); rp0/rn NULL:
   [o->pos0, o->pos0 + n) for every row. Ragged spans serve ROME's value objective, whose prompts
   have their subjects at different positions. tokens: (B, n) ids for the encoder when layer0 == 0
   (uniform spans only; NULL keeps the embeddings the state holds). final_tail: in the last layer,
   only the last position of each span (what tracing scores): K/V for every position, the
   attention output and the MLP for the last one. */
FACTEDIT__PRIV void fe__forward_rows(const fe_model *m, fe_state *s, const int *tokens, int n, const fe_forward_opts *o,
                                     int final_tail, const int *rp0, const int *rn, float *scratch) {
    const fe_config *c = &m->config;
    const fe_params *P = &m->params;
    int C = c->channels, NH = c->num_heads, L = c->num_layers, T = s->T, B = s->B, BN = 0;
    int l0 = o->layer0, lend = (o->last_layer > 0 && o->last_layer < L) ? o->last_layer : L, b, l, i;
    int *p0 = s->span0, *pn = s->spann;   /* this call's spans, per row */
    size_t C3 = 3 * (size_t)C, C4 = 4 * (size_t)C;
    float *G = scratch, *H;
    fe_hook_fn hook = o->hook;
    void *hu = o->hook_user;
    for (b = 0; b < B; b++) { p0[b] = rp0 ? rp0[b] : o->pos0; pn[b] = rn ? rn[b] : n; BN += pn[b]; }
    H = scratch + (size_t)BN * C4;   /* gathered inputs G, matmul outputs H: (BN, <= 4C) */
    if (l0 == 0 && tokens)   /* (without tokens: the state's embeddings stand) */
        for (b = 0; b < B; b++) {   /* encoder, as fe_forward: wte row (site embed, hookable) + wpe */
            size_t row0 = (size_t)b * T + (size_t)p0[b];
            for (i = 0; i < pn[b]; i++) fe__wte_row(s->embed + (row0 + i) * C, m, tokens[(size_t)b * n + i]);
            if (hook) hook(hu, fe_site_embed, 0, b, p0[b], pn[b], s->embed + row0 * C, C);
            for (i = 0; i < pn[b]; i++)
                fe__residual(s->encoded + (row0 + i) * C, s->embed + (row0 + i) * C, P->wpe + (size_t)(p0[b] + i) * C,
                             (size_t)C);
        }
    for (l = l0; l < lend; l++) {
        fe__layer_acts *a = &s->layers[l];
        /* (B, T, C); read only before a->resid is written (a lean state's layers share buffers) */
        const float *x = l == 0 ? s->encoded : s->layers[l - 1].resid;
        for (b = 0; b < B; b++) {
            size_t row0 = (size_t)b * T + (size_t)p0[b];
            fe__layernorm(a->ln1 + row0 * C, a->ln1_mean + row0, a->ln1_rstd + row0, x + row0 * C,
                          P->ln1w + (size_t)l * C, P->ln1b + (size_t)l * C, pn[b], C);
        }
        FACTEDIT__MATMUL_ROWS(a->ln1, (size_t)C, a->qkv, C3, fe__W(m, fe_tensor_qkvw, l), P->qkvb + (size_t)l * C3, C,
                              3 * C);
        if (final_tail && l == L - 1)   /* only the last position of each span from here */
            for (BN = 0, b = 0; b < B; b++) { p0[b] += pn[b] - 1; pn[b] = 1; BN++; }
        for (b = 0; b < B; b++)
            fe__attention(a->atty + (size_t)b * T * C, a->att + (size_t)b * NH * T * T, a->qkv + (size_t)b * T * C3, T,
                          C, NH, p0[b], pn[b]);
        FACTEDIT__MATMUL_ROWS(a->atty, (size_t)C, a->attn, (size_t)C, fe__W(m, fe_tensor_attprojw, l),
                              P->attprojb + (size_t)l * C, C, C);
        for (b = 0; b < B; b++) {
            size_t row0 = (size_t)b * T + (size_t)p0[b];
            if (hook) hook(hu, fe_site_attn, l, b, p0[b], pn[b], a->attn + row0 * C, C);
            fe__residual(a->resid_mid + row0 * C, x + row0 * C, a->attn + row0 * C, (size_t)pn[b] * C);
            fe__layernorm(a->ln2 + row0 * C, a->ln2_mean + row0, a->ln2_rstd + row0, a->resid_mid + row0 * C,
                          P->ln2w + (size_t)l * C, P->ln2b + (size_t)l * C, pn[b], C);
        }
        FACTEDIT__MATMUL_ROWS(a->ln2, (size_t)C, a->fch, C4, fe__W(m, fe_tensor_fcw, l), P->fcb + (size_t)l * C4, C,
                              4 * C);
        for (b = 0; b < B; b++) {
            size_t row0 = (size_t)b * T + (size_t)p0[b];
            fe__gelu(a->key + row0 * C4, a->fch + row0 * C4, (size_t)pn[b] * C4);
            if (hook) hook(hu, fe_site_key, l, b, p0[b], pn[b], a->key + row0 * C4, 4 * C);
        }
        FACTEDIT__MATMUL_ROWS(a->key, C4, a->mlp, (size_t)C, fe__W(m, fe_tensor_fcprojw, l), P->fcprojb + (size_t)l * C,
                              4 * C, C);
        for (b = 0; b < B; b++) {
            size_t row0 = (size_t)b * T + (size_t)p0[b];
            if (hook) hook(hu, fe_site_mlp, l, b, p0[b], pn[b], a->mlp + row0 * C, C);
            fe__residual(a->resid + row0 * C, a->resid_mid + row0 * C, a->mlp + row0 * C, (size_t)pn[b] * C);
            if (hook) hook(hu, fe_site_resid, l, b, p0[b], pn[b], a->resid + row0 * C, C);
        }
    }
}
#undef FACTEDIT__MATMUL_ROWS

FACTEDIT_API fe_result fe_forward(const fe_model *m, fe_state *s, const int *tokens, int n, const fe_forward_opts *o,
                                  fe_error *err) {
    const fe_config *c = &m->config;
    const fe_params *P = &m->params;
    int C = c->channels, L = c->num_layers, V = c->vocab_size, T = s->T;
    int p0 = o ? o->pos0 : 0, l0 = o ? o->layer0 : 0,
        lend = (o && o->last_layer > 0 && o->last_layer < L) ? o->last_layer : L;
    int b, i;
    fe_forward_opts d;
    if (s->model != m) return fe__fail(err, fe_err_arg, "forward: state was made for another model");
    if (n < 1) return fe__fail(err, fe_err_arg, "forward: no tokens to run (empty prompt?)");
    if (p0 < 0 || p0 + n > T)
        return fe__fail(err, fe_err_range, "forward: positions [%d, %d) exceed the state's %d (model context %d)", p0,
                        p0 + n, T, c->max_seq_len);
    if (l0 < 0 || l0 >= L) return fe__fail(err, fe_err_range, "forward: layer0 %d outside [0, %d)", l0, L);
    if (l0 == 0) {
        if (!tokens) return fe__fail(err, fe_err_arg, "forward: NULL tokens");
        for (b = 0; b < s->B; b++)
            for (i = 0; i < n; i++)
                if (tokens[(size_t)b * n + i] < 0 || tokens[(size_t)b * n + i] >= V)
                    return fe__fail(err, fe_err_range,
                                    "forward: token id %d at row %d position %d outside the vocabulary [0, %d)",
                                    tokens[(size_t)b * n + i], b, p0 + i, V);
    }
    if (!o) { memset(&d, 0, sizeof d); o = &d; }
    if (s->lean && lend == L && !o->no_logits) return fe__fail(err, fe_err_arg, "forward: a lean state has no logits");
    fe__forward_rows(m, s, tokens, n, o, 0, NULL, NULL, s->scratch);
    if (lend < L || o->no_logits) { fe__ok(err); return fe_ok; }
    s->last_pos = p0 + n - 1;
    s->all_logits = o->all_logits;
    s->logits_pos0 = p0; s->logits_n = n;
    if (s->all_logits) {
        for (b = 0; b < s->B; b++) {
            size_t row0 = (size_t)b * T + (size_t)p0;
            fe__layernorm(s->lnf + row0 * C, s->lnf_mean + row0, s->lnf_rstd + row0, s->layers[L - 1].resid + row0 * C,
                          P->lnfw, P->lnfb, n, C);
            fe__matmul_w(s->logits + row0 * V, (size_t)V, s->lnf + row0 * C, fe__W(m, fe_tensor_wte, 0),
                         c->padded_vocab_size, NULL, n, C, V);
        }
    } else {
        /* the last position of every row: ln_f, gathered, then one pass over wte for all rows */
        float *G = s->scratch;
        for (b = 0; b < s->B; b++) {
            size_t last = (size_t)b * T + (size_t)p0 + (size_t)n - 1;
            fe__layernorm(s->lnf + last * C, s->lnf_mean + last, s->lnf_rstd + last, s->layers[L - 1].resid + last * C,
                          P->lnfw, P->lnfb, 1, C);
            memcpy(G + (size_t)b * C, s->lnf + last * C, sizeof(float) * C);
        }
        fe__matmul_w(s->logits, (size_t)V, G, fe__W(m, fe_tensor_wte, 0), c->padded_vocab_size, NULL, s->B, C, V);
    }
    fe__ok(err);
    return fe_ok;
}

/* ======================================================== >>impl-generate ===================== */

FACTEDIT__PRIV int fe__argmax(const float *x, int n) {
    int i, best = 0;
    for (i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* (probability, id) pairs sorted by probability, ties by id: deterministic across libcs. */
typedef struct fe__prob_id { float p; int id; } fe__prob_id;
FACTEDIT__PRIV int fe__prob_desc(const void *a, const void *b) {
    const fe__prob_id *x = (const fe__prob_id *)a, *y = (const fe__prob_id *)b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

FACTEDIT_API int fe_sample(const float *logits, int V, const fe_sample_opts *o, fe_rng *rng, float *scratch) {
    int i, n = V;
    float mx;
    double sum = 0.0, r, acc;
    fe__prob_id *pi = (fe__prob_id *)(void *)scratch;
    if (!o || o->temperature <= 0.0f || !rng || !scratch) return fe__argmax(logits, V);
    mx = logits[fe__argmax(logits, V)];
    for (i = 0; i < V; i++) { pi[i].p = expf((logits[i] - mx) / o->temperature); pi[i].id = i; }
    if ((o->top_k > 0 && o->top_k < V) || (o->top_p > 0.0f && o->top_p < 1.0f)) {
        qsort(pi, (size_t)V, sizeof *pi, fe__prob_desc);   /* O(V log V) */
        if (o->top_k > 0 && o->top_k < V) n = o->top_k;
        if (o->top_p > 0.0f && o->top_p < 1.0f) {
            /* the smallest prefix whose mass reaches top_p of the (top-k) mass */
            double tot = 0.0, run = 0.0;
            for (i = 0; i < n; i++) tot += pi[i].p;
            for (i = 0; i < n; i++) { run += pi[i].p; if (run >= o->top_p * tot) { n = i + 1; break; } }
        }
    }
    for (i = 0; i < n; i++) sum += pi[i].p;
    r = fe_rng_uniform(rng) * sum;
    for (acc = 0.0, i = 0; i < n; i++) { acc += pi[i].p; if (r < acc) return pi[i].id; }
    return pi[n - 1].id;
}

FACTEDIT_API fe_result fe_generate(const fe_model *m, const int *prompt, int n_prompt, int n_new,
                                   const fe_sample_opts *o, fe_rng *rng, int *out, fe_error *err) {
    fe_state *s;
    fe_forward_opts fo;
    fe_result r;
    int i, V = m->config.vocab_size, tok;
    float *scratch = NULL;
    if (n_prompt < 1) return fe__fail(err, fe_err_arg, "generate: empty prompt");
    if (n_new < 0) return fe__fail(err, fe_err_arg, "generate: negative token count");
    if (n_prompt + n_new > m->config.max_seq_len + 1 || n_prompt > m->config.max_seq_len)
        return fe__fail(err, fe_err_range, "generate: %d prompt + %d new tokens exceed the model's context of %d",
                        n_prompt, n_new, m->config.max_seq_len);
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

/* ======================================================== >>impl-backward ===================== */
/* Each backward kernel sits under the forward it undoes (llm.c style). Gradients of inputs are
   accumulated (+=), so residual branches simply add; callers zero buffers first. Work is split
   by output element (columns of dinp, rows of dw, heads of attention): every number is summed
   by one thread in a fixed order, so results do not depend on the thread count. */

/* y (n) += a x (n): SIMD with the header's vector macros when it has them. */
FACTEDIT__PRIV void fe__axpy(float *y, float a, const float *x, int n) {
    int i = 0;
#if defined(FACTEDIT__VW) && defined(fe__vstore) && defined(fe__vbcast)
    fe__vf va = fe__vbcast(a);
    for (; i + FACTEDIT__VW <= n; i += FACTEDIT__VW)
        fe__vstore(y + i, fe__vfma(va, fe__vload(x + i), fe__vload(y + i)));
#endif
    for (; i < n; i++) y[i] += a * x[i];
}

/* matmul: out (N,OC) = inp (N,C) . w (OC,C)^T + b (OC), w plain (pw = 0: the tied head) or
   panel-layout (pw = 1: the block matrices, whose gradients dw are panel-layout too).
   dinp (N,C) += dout . w;  dw (OC,C) += dout^T . inp;  db (OC) += sum_t dout. Any out may be NULL.
   Both products run on the forward's packed GEMM, so every element sums its terms in a fixed
   order (t or o ascending): thread-count and layout independent. */
FACTEDIT__PRIV void fe__matmul_backward_w(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                          fe__wref w, int N, int C, int OC, int w_rows) {
    int pw = w_rows > 0;
    fe__gemm_args g;
    if (dinp) {   /* dout . W */
        if (!pw) fe__gemm(dinp, (size_t)C, dout, (size_t)OC, 1, w.f, (size_t)C, 1, NULL, N, C, OC, 1);
        else {
            g = fe__gemm_strided(dinp, (size_t)C, dout, (size_t)OC, 1, NULL, 0, 0, NULL, N, C, OC, 1);
            fe__gemm_b_panel(&g, w, 2, w_rows);
            fe__gemm_go(&g);
        }
    }
    if (dw) {
        /* dout^T . inp */
        if (!pw) fe__gemm(dw, (size_t)C, dout, 1, (size_t)OC, inp, (size_t)C, 1, NULL, OC, C, N, 1);
        else {   /* dW^T (C,OC) = inp^T . dout, written into the panel layout */
            g = fe__gemm_strided(dw, 0, inp, 1, (size_t)C, dout, (size_t)OC, 1, NULL, C, OC, N, 1);
            g.c_pw = 1;
            g.pw_rows = w_rows;
            fe__gemm_go(&g);
        }
    }
    if (db) {
        int o, t;
        for (t = 0; t < N; t++) for (o = 0; o < OC; o++) db[o] += dout[(size_t)t * OC + o];
    }
}
FACTEDIT__PRIV void fe__matmul_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                        const float *w, int N, int C, int OC, int w_rows) {
    fe__wref W;
    W.f = w; W.h = NULL;
    fe__matmul_backward_w(dinp, dw, db, dout, inp, W, N, C, OC, w_rows);
}

/* layernorm: out = (inp - mean) * rstd * w + b over rows of C (mean, rstd saved by the forward).
   dinp (N,C) += ...;  dw, db (C) += ... (may be NULL). */
FACTEDIT__PRIV void fe__layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                           const float *mean, const float *rstd, const float *w, int N, int C) {
    int n, i;
    for (n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C, m = mean[n], s = rstd[n], dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = w[i] * dy[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = w[i] * dy[i];
            if (dw) dw[i] += norm * dy[i];
            if (db) db[i] += dy[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

/* gelu (tanh): key = 0.5 x (1 + tanh(s (x + 0.044715 x^3))), x = fch.  d (N) *= gelu'(fch), in place. */
FACTEDIT__PRIV void fe__gelu_backward_ref(float *d, const float *fch, size_t N) {
    size_t i;
    for (i = 0; i < N; i++) {
        float x = fch[i], arg = FACTEDIT__GELU_SCALE * (x + 0.044715f * x * x * x), th = fe__tanh(arg),
              sech2 = 1.0f - th * th;
        float local = 0.5f * (1.0f + th) + 0.5f * x * sech2 * FACTEDIT__GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        d[i] *= local;
    }
}
FACTEDIT__PRIV void fe__gelu_backward(float *d, const float *fch, size_t N) {
    size_t i = 0;
#ifdef FACTEDIT__VW
    const fe__vf s = fe__vbcast(FACTEDIT__GELU_SCALE), c = fe__vbcast(0.044715f), c3 = fe__vbcast(3.0f * 0.044715f),
                 h = fe__vbcast(0.5f), one = fe__vbcast(1.0f);
    for (; i + FACTEDIT__VW <= N; i += FACTEDIT__VW) {
        fe__vf x = fe__vload(fch + i), x2 = fe__vmul(x, x),
               th = fe__vtanh(fe__vmul(s, fe__vfma(fe__vmul(c, x2), x, x)));
        fe__vf sech2 = fe__vsub(one, fe__vmul(th, th));
        /* 0.5 (1 + th) + 0.5 x sech2 s (1 + 3 c x^2) */
        fe__vf local = fe__vfma(fe__vmul(fe__vmul(h, x), fe__vmul(sech2, s)), fe__vfma(c3, x2, one),
                                fe__vmul(h, fe__vadd(one, th)));
        fe__vstore(d + i, fe__vmul(fe__vload(d + i), local));
    }
#endif
    fe__gelu_backward_ref(d + i, fch + i, N - i);
}

/* attention (one row of the batch): for head h, position t,
       a[t][t2] = softmax_{t2 <= t}(q_t . k_t2 / sqrt(hs)),  y_t = sum_t2 a[t][t2] v_t2.
   qkv (T,3C) and att (NH,T,T) are the state's (capacity T); datty (Tn - first, C) in: the rows of
   positions [first, Tn), which send gradient; dqkv (Tn,3C) +=: dk, dv land at every t2 <= t.
   scratch: NH * Tn floats. */
FACTEDIT__PRIV void fe__attention_backward(float *dqkv, float *scratch, const float *datty, const float *att,
                                           const float *qkv, int T, int Tn, int C, int NH, int first) {
    int hs = C / NH, h;
    float scale = 1.0f / sqrtf((float)hs);
    size_t C3 = 3 * (size_t)C;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)Tn * Tn * C > 50000)
#endif
    for (h = 0; h < NH; h++) {
        float *da = scratch + (size_t)h * Tn;
        int t, t2;
        for (t = first; t < Tn; t++) {
            const float *a = att + ((size_t)h * T + t) * T, *dy = datty + (size_t)(t - first) * C + h * hs,
                        *q = qkv + (size_t)t * C3 + h * hs;
            float *dq = dqkv + (size_t)t * C3 + h * hs, sum = 0.0f;
            /* y = a . v:  da = dy . v,  dv += a dy */
            for (t2 = 0; t2 <= t; t2++) {
                const float *v = qkv + (size_t)t2 * C3 + 2 * C + h * hs;
                float *dv = dqkv + (size_t)t2 * C3 + 2 * C + h * hs, d = fe__sdot(dy, v, hs);
                fe__saxpy(dv, a[t2], dy, hs);
                da[t2] = d;
                sum += a[t2] * d;
            }
            /* softmax: dpre = a (da - sum a da); pre = scale q . k */
            for (t2 = 0; t2 <= t; t2++) {
                const float *k = qkv + (size_t)t2 * C3 + C + h * hs;
                float *dk = dqkv + (size_t)t2 * C3 + C + h * hs, dpre = a[t2] * (da[t2] - sum) * scale;
                fe__saxpy(dq, dpre, k, hs);
                fe__saxpy(dk, dpre, q, hs);
            }
        }
    }
}

FACTEDIT_API int fe_state_positions(const fe_state *s) { return s->last_pos + 1; }

FACTEDIT_API fe_params fe_params_view(const fe_model *m, float *blob) {
    fe_params p;
    float **q[FACTEDIT_NUM_PARAM_TENSORS];
    int i;
    fe__param_slots(&p, q);
    for (i = 0; i < FACTEDIT_NUM_PARAM_TENSORS; i++) { *q[i] = blob; if (blob) blob += m->param_sizes[i]; }
    return p;
}

FACTEDIT__PRIV int fe__row_nonzero(const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (x[i] != 0.0f) return 1;
    return 0;
}

/* The backward's rows: row b carries gradient at positions [first[b], end[b]); earlier positions
   are constants. Work buffers hold only those rows, b-major ("compact": row b starts at off[b],
   the sum of the earlier spans; M rows in all). The head's gradient comes as n_scored rows of
   dlogits (n_scored, V), row i at (scored_row[i], scored_pos[i]); dsite receives d loss / d (stop
   site) in the compact layout (M, width). ws: work floats, fe__backward_floats of them. */
typedef struct fe__bspans {
    const int *first, *end;   /* B: each row's positions [first, end) */
    int B, M, Tmax;           /* rows, their positions in all, the largest end */
} fe__bspans;

/* The backward of one of a block's linear layers, out (M,OC) = in (M,IC) . W (OC,IC)^T + b, over
   the compact rows of B spans (row b's positions [first[b], first[b] + n[b]) of a (B,T) state):
   din (M,IC) = dout . W, overwritten; with gradients (dw and db not NULL) in's rows are gathered
   into tmp (M,IC), then dw (OC,IC) += dout^T . in and db (OC) += the sum of dout's rows. */
FACTEDIT__PRIV void fe__linear_backward(float *din, float *dw, float *db, const float *dout, fe__wref w,
                                        const float *in, float *tmp, int B, int T, const int *first, const int *n,
                                        int M, int IC, int OC) {
    memset(din, 0, sizeof(float) * (size_t)M * IC);
    fe__matmul_backward_w(din, NULL, NULL, dout, NULL, w, M, IC, OC, OC);
    if (dw) {
        fe__rows_gather(tmp, in, B, T, first, n, (size_t)IC);
        fe__matmul_backward(NULL, dw, db, dout, tmp, NULL, M, IC, OC, OC);
    }
}

FACTEDIT__PRIV int fe__backward_floats(const fe_model *m, const fe__bspans *sp, int n_scored, size_t *out) {
    size_t C = (size_t)m->config.channels, M = (size_t)sp->M, T = (size_t)sp->Tmax, per, head;
    /* dres, dC (M,C); d3 (M,3C); d4, tmp (M,4C); datt (NH,T); d3row (T,3C); zx (n_scored,C); then two
       ints per batch row (compact offset, span length) stored in float slots */
    if (!fe__mul(M, 13 * C, &per) ||
        !fe__add(per, (size_t)m->config.num_heads * T + T * 3 * C + 2 * (size_t)sp->B, &per))
        return 0;
    if (!fe__mul((size_t)n_scored, C, &head) || !fe__add(per, head, &per)) return 0;
    *out = per;
    return 1;
}

FACTEDIT__PRIV void fe__backward_core(const fe_model *m, const fe_state *s, const fe__bspans *sp, int n_scored,
                                      const float *dlogits, const int *scored_row, const int *scored_pos,
                                      const fe_backward_opts *o, float *dsite, float *ws) {
    const fe_config *c = &m->config;
    const fe_params *P = &m->params;
    fe_params G;
    int C = c->channels, NH = c->num_heads, L = c->num_layers, V = c->vocab_size, T = s->T, B = s->B, M = sp->M, b, l,
        t, lo, stop_in_block;
    const int *first = sp->first, *end = sp->end;
    const int grads = o->grads != NULL;
    size_t C3 = 3 * (size_t)C, C4 = 4 * (size_t)C, width;
    float *dres, *dC, *d3, *d4, *tmp, *datt, *d3row, *lnf_rows;
    int *off, *n, k = 0;
    fe_site site = o->stop_site;
    stop_in_block = site == fe_site_key || site == fe_site_attn;
    lo = site == fe_site_embed ? 0 : o->stop_layer + 1;
    width = site == fe_site_key ? C4 : (size_t)C;
    dres = ws;
    dC = dres + (size_t)M * C;
    d3 = dC + (size_t)M * C;
    d4 = d3 + (size_t)M * C3;
    tmp = d4 + (size_t)M * C4;
    datt = tmp + (size_t)M * C4; d3row = datt + (size_t)NH * sp->Tmax; lnf_rows = d3row + (size_t)sp->Tmax * C3;
    /* int fits a float slot (checked in fe_backward) */
    off = (int *)(void *)(lnf_rows + (size_t)n_scored * C); n = off + B;
    G = fe_params_view(m, o->grads);
    memset(dres, 0, sizeof(float) * (size_t)M * C);
    /* compact row of (b, t): off[b] + t - first[b]; n[b] = the span's length */
    for (b = 0; b < B; b++) { off[b] = k; n[b] = end[b] - first[b]; k += n[b]; }
    /* head: logits = lnf . wte^T (tied), over the rows that carry gradient: one pass over wte */
    for (t = 0; t < n_scored; t++)
        memcpy(lnf_rows + (size_t)t * C, s->lnf + ((size_t)scored_row[t] * T + (size_t)scored_pos[t]) * C,
               sizeof(float) * C);
    memset(dC, 0, sizeof(float) * (size_t)n_scored * C);
    fe__matmul_backward_w(dC, G.wte, NULL, dlogits, lnf_rows, fe__W(m, fe_tensor_wte, 0), n_scored, C, V,
                          m->config.padded_vocab_size);
    /* ln_f: lnf = LN(resid_{L-1}) */
    for (t = 0; t < n_scored; t++) {
        size_t sr = (size_t)scored_row[t] * T + (size_t)scored_pos[t];
        fe__layernorm_backward(dres + (size_t)(off[scored_row[t]] + scored_pos[t] - first[scored_row[t]]) * C, G.lnfw,
                               G.lnfb, dC + (size_t)t * C, s->layers[L - 1].resid + sr * C, s->lnf_mean + sr,
                               s->lnf_rstd + sr, P->lnfw, 1, C);
    }

    for (l = L - 1; l >= lo - stop_in_block && l >= 0; l--) {
        const fe__layer_acts *a = &s->layers[l];
        const float *x = l == 0 ? s->encoded : s->layers[l - 1].resid;
        int partial = l < lo;   /* the stop site is inside this block */
/* FACTEDIT__SR: the state rows of batch row b from first[b]; FACTEDIT__WR: its compact rows */
#define FACTEDIT__SR(buf, w) ((buf) + ((size_t)b * T + (size_t)first[b]) * (w))
#define FACTEDIT__WR(buf, w) ((buf) + (size_t)off[b] * (w))
        /* resid = resid_mid + mlp: d mlp = d resid, and d resid_mid accumulates in the same buffer */
        /* mlp.c_proj: mlp (M,C) = key (M,4C) . Wproj (C,4C)^T + b */
        fe__linear_backward(d4, grads ? G.fcprojw + (size_t)l * C * C4 : NULL, grads ? G.fcprojb + (size_t)l * C : NULL,
                            dres, fe__W(m, fe_tensor_fcprojw, l), a->key, tmp, B, T, first, n, M, 4 * C, C);
        if (partial && site == fe_site_key) break;
        /* GELU: key = gelu(fch) */
        for (b = 0; b < B; b++) fe__gelu_backward(FACTEDIT__WR(d4, C4), FACTEDIT__SR(a->fch, C4), (size_t)n[b] * C4);
        /* mlp.c_fc: fch (M,4C) = ln2 (M,C) . Wfc (4C,C)^T + b */
        fe__linear_backward(dC, grads ? G.fcw + (size_t)l * C4 * C : NULL, grads ? G.fcb + (size_t)l * C4 : NULL, d4,
                            fe__W(m, fe_tensor_fcw, l), a->ln2, tmp, B, T, first, n, M, C, 4 * C);
        /* ln_2: ln2 = LN(resid_mid) */
        for (b = 0; b < B; b++)
            fe__layernorm_backward(FACTEDIT__WR(dres, C), grads ? G.ln2w + (size_t)l * C : NULL,
                                   grads ? G.ln2b + (size_t)l * C : NULL, FACTEDIT__WR(dC, C),
                                   FACTEDIT__SR(a->resid_mid, C), FACTEDIT__SR(a->ln2_mean, 1),
                                   FACTEDIT__SR(a->ln2_rstd, 1), P->ln2w + (size_t)l * C, n[b], C);
        if (partial) break;  /* site attn: d attn = d resid_mid */
        /* resid_mid = x + attn: d attn = d resid_mid, and d x accumulates in the same buffer */
        /* attn.c_proj: attn (M,C) = atty (M,C) . Wap (C,C)^T + b */
        fe__linear_backward(dC, grads ? G.attprojw + (size_t)l * C * C : NULL,
                            grads ? G.attprojb + (size_t)l * C : NULL, dres, fe__W(m, fe_tensor_attprojw, l), a->atty,
                            tmp, B, T, first, n, M, C, C);
        /* causal self-attention: atty = attention(qkv); row b's positions < first[b] are constants, so
           their dk, dv (d3row's first first[b] rows) are dropped */
        for (b = 0; b < B; b++) {
            memset(d3row, 0, sizeof(float) * (size_t)end[b] * C3);
            fe__attention_backward(d3row, datt, FACTEDIT__WR(dC, C), a->att + (size_t)b * NH * T * T,
                                   a->qkv + (size_t)b * T * C3, T, end[b], C, NH, first[b]);
            memcpy(FACTEDIT__WR(d3, C3), d3row + (size_t)first[b] * C3, sizeof(float) * (size_t)n[b] * C3);
        }
        /* attn.c_attn: qkv (M,3C) = ln1 (M,C) . Wqkv (3C,C)^T + b */
        fe__linear_backward(dC, grads ? G.qkvw + (size_t)l * C3 * C : NULL, grads ? G.qkvb + (size_t)l * C3 : NULL, d3,
                            fe__W(m, fe_tensor_qkvw, l), a->ln1, tmp, B, T, first, n, M, C, 3 * C);
        /* ln_1: ln1 = LN(x) */
        for (b = 0; b < B; b++)
            fe__layernorm_backward(FACTEDIT__WR(dres, C), grads ? G.ln1w + (size_t)l * C : NULL,
                                   grads ? G.ln1b + (size_t)l * C : NULL, FACTEDIT__WR(dC, C), FACTEDIT__SR(x, C),
                                   FACTEDIT__SR(a->ln1_mean, 1), FACTEDIT__SR(a->ln1_rstd, 1), P->ln1w + (size_t)l * C,
                                   n[b], C);
#undef FACTEDIT__SR
#undef FACTEDIT__WR
    }
    if (dsite) memcpy(dsite, site == fe_site_key ? d4 : dres, sizeof(float) * (size_t)M * width);
    /* encoder: encoded = wte[token] (site embed) + wpe[t]; grads imply first = 0 and uniform end */
    if (site == fe_site_embed && grads)
        for (b = 0; b < B; b++)
            for (t = 0; t < end[b]; t++) {
                const float *d = dres + ((size_t)off[b] + (size_t)t) * C;
                {   /* the token's row of the panel-layout gradient */
                    size_t Vp = (size_t)m->config.padded_vocab_size,
                           tok = (size_t)o->tokens[(size_t)off[b] + (size_t)t], j;
                    float *g0 = G.wte + fe_weight_index(Vp, (size_t)C, tok, 0);
                    size_t w = FACTEDIT__PANEL_W(Vp, tok - tok % FACTEDIT_WEIGHT_PANEL);
                    for (j = 0; j < (size_t)C; j++) g0[j * w] += d[j];
                }
                fe__axpy(G.wpe + (size_t)t * C, 1.0f, d, C);
            }
}

FACTEDIT_API fe_result fe_backward(const fe_model *m, const fe_state *s, const float *dlogits,
                                   const fe_backward_opts *o, fe_error *err) {
    const fe_config *c = &m->config;
    int L = c->num_layers, V = c->vocab_size, Tn, B, first, b, t, n_scored = 0, n_counted, *ints;
    size_t width, floats, bytes, dl_floats;
    float *work, *dl_rows, *dsite = NULL;
    fe__bspans sp;
    const int grads = o && o->grads != NULL;
    fe_site site;
    if (!o || !dlogits) return fe__fail(err, fe_err_arg, "backward: NULL options or dlogits");
    if (s->model != m) return fe__fail(err, fe_err_arg, "backward: state was made for another model");
    B = s->B;
    Tn = s->last_pos + 1;
    first = o->first_pos;
    site = o->stop_site;
    if (Tn < 1) return fe__fail(err, fe_err_arg, "backward: the state holds no forward with logits");
    if ((int)site < 0 || site >= fe_site_count)
        return fe__fail(err, fe_err_arg, "backward: bad stop site %d", (int)site);
    if (site != fe_site_embed && (o->stop_layer < 0 || o->stop_layer >= L))
        return fe__fail(err, fe_err_range, "backward: stop layer %d outside [0, %d)", o->stop_layer, L);
    if (first < 0 || first >= Tn)
        return fe__fail(err, fe_err_range, "backward: first_pos %d outside [0, %d)", first, Tn);
    if (grads && first) return fe__fail(err, fe_err_arg, "backward: weight gradients need first_pos = 0");
    if (grads && m->weights_bf16)
        return fe__fail(err, fe_err_unsupported,
                        "backward: weight gradients need an fp32 model "
                        "(this one keeps its matrices in bf16: load it without bf16_weights)");
    if (grads && site == fe_site_embed) {
        if (!o->tokens) return fe__fail(err, fe_err_arg, "backward: weight gradients of wte need the token ids");
        for (b = 0; b < B * Tn; b++)
            if (o->tokens[b] < 0 || o->tokens[b] >= V)
                return fe__fail(err, fe_err_range, "backward: token id %d outside the vocabulary", o->tokens[b]);
    }
    /* logits (and ln_f's activations) exist only where the forward kept them; count the rows
       that carry gradient (positions >= first_pos) */
    for (b = 0; b < B; b++)
        for (t = 0; t < Tn; t++) {
            int kept = s->all_logits ? (t >= s->logits_pos0 && t < s->logits_pos0 + s->logits_n) : t == s->last_pos;
            if (!fe__row_nonzero(dlogits + ((size_t)b * Tn + t) * V, (size_t)V)) continue;
            if (!kept)
                return fe__fail(err, fe_err_arg,
                                "backward: gradient at row %d position %d, whose logits the forward did not keep "
                                "(all_logits)",
                                b, t);
            n_scored += t >= first;
        }
    width = site == fe_site_key ? 4 * (size_t)c->channels : (size_t)c->channels;
    if (sizeof(int) > sizeof(float)) return fe__fail(err, fe_err_unsupported, "backward: int wider than float");
    sp.B = B; sp.M = B * (Tn - first); sp.Tmax = Tn;
    /* work: the core's, compact dlogits (n_scored,V), the compact dsite (M,width), then ints: first,
       end (B), scored_row, scored_pos (n_scored) */
    if (!fe__backward_floats(m, &sp, n_scored, &floats) || !fe__mul((size_t)n_scored, (size_t)V, &dl_floats) ||
        !fe__add(floats, dl_floats, &floats) || !fe__add(floats, (size_t)sp.M * width, &floats) ||
        !fe__add(floats, 2 * (size_t)B + 2 * (size_t)n_scored, &floats) || !fe__mul(floats, sizeof(float), &bytes))
        return fe__fail(err, fe_err_limit, "backward: size overflow");
    work = (float *)fe__malloc(m->alloc_user, bytes);
    if (!work) return fe__fail(err, fe_err_nomem, "backward: cannot allocate %lu bytes", (unsigned long)bytes);
    fe__backward_floats(m, &sp, n_scored, &floats);
    dl_rows = work + floats; dsite = dl_rows + dl_floats;
    ints = (int *)(dsite + (size_t)sp.M * width);
    for (b = 0; b < B; b++) { ints[b] = first; ints[B + b] = Tn; }
    sp.first = ints; sp.end = ints + B;
    n_counted = n_scored; n_scored = 0;
    for (b = 0; b < B; b++)
        for (t = first; t < Tn; t++) {
            const float *dl = dlogits + ((size_t)b * Tn + t) * V;
            if (!fe__row_nonzero(dl, (size_t)V)) continue;
            memcpy(dl_rows + (size_t)n_scored * V, dl, sizeof(float) * V);
            ints[2 * B + n_scored] = b; ints[2 * B + n_counted + n_scored] = t;   /* scored_row, scored_pos */
            n_scored++;
        }
    fe__backward_core(m, s, &sp, n_scored, dl_rows, ints + 2 * B, ints + 2 * B + n_counted, o, o->dsite ? dsite : NULL,
                      work);
    if (o->dsite)   /* compact (B, Tn - first) rows -> (B, Tn) with zeros before first */
        for (b = 0; b < B; b++) {
            memset(o->dsite + (size_t)b * Tn * width, 0, sizeof(float) * (size_t)first * width);
            memcpy(o->dsite + ((size_t)b * Tn + first) * width, dsite + (size_t)b * (Tn - first) * width,
                   sizeof(float) * (size_t)(Tn - first) * width);
        }
    fe__free(m->alloc_user, work);
    fe__ok(err);
    return fe_ok;
}

/* ------------------------------------------------------------------------ training ---- */

/* e[i] = exp(z[i] - max z) over one row of V logits; returns max z and *sum = the sum of e in
   double. Vector exponentials (fe__vexp, 1.2e-7 relative) where there is SIMD, expf elsewhere. */
FACTEDIT__PRIV double fe__exp_row(float *e, const float *z, int V, double *sum) {
    int i;
    float mx = -INFINITY;
    double s = 0.0;
    for (i = 0; i < V; i++) if (z[i] > mx) mx = z[i];
    i = 0;
#ifdef FACTEDIT__VW
    {
        fe__vf vm = fe__vbcast(mx);
        for (; i + FACTEDIT__VW <= V; i += FACTEDIT__VW) {
            fe__vf x = fe__vexp(fe__vsub(fe__vload(z + i), vm));
            fe__vstore(e + i, x);
            s += fe__vhsum(x);
        }
    }
#endif
    for (; i < V; i++) { e[i] = expf(z[i] - mx); s += e[i]; }
    *sum = s;
    return mx;
}

/* log-sum-exp of one row of logits, in double */
FACTEDIT__PRIV double fe__logsumexp(const float *z, int V) {
    int i;
    double mx = -INFINITY, s = 0.0;
    for (i = 0; i < V; i++) if (z[i] > mx) mx = z[i];
    for (i = 0; i < V; i++) s += expf((float)((double)z[i] - mx));   /* float exp, double sum */
    return mx + log(s);
}

FACTEDIT_API fe_result fe_lm_loss(const fe_model *m, const fe_state *s, const int *targets, int n, double *loss,
                                  float *dlogits, fe_error *err) {
    int B = s->B, V = m->config.vocab_size, b, t, i, rows = 0;
    double total = 0.0;
    if (s->model != m) return fe__fail(err, fe_err_arg, "loss: state was made for another model");
    if (n < 1 || n > s->T || !targets) return fe__fail(err, fe_err_arg, "loss: bad length %d or NULL targets", n);
    if (!s->all_logits || s->logits_pos0 > 0 || s->logits_pos0 + s->logits_n < n)
        return fe__fail(err, fe_err_arg, "loss: the state lacks logits for positions [0, %d) (forward with all_logits)",
                        n);
    for (b = 0; b < B; b++) {
        int cnt = 0;
        for (t = 0; t < n; t++) {
            int y = targets[(size_t)b * n + t];
            if (y >= V) return fe__fail(err, fe_err_range, "loss: target %d outside the vocabulary", y);
            cnt += y >= 0;
        }
        rows += cnt > 0;
    }
    for (b = 0; b < B; b++) {
        int cnt = 0;
        double rl = 0.0;
        for (t = 0; t < n; t++) cnt += targets[(size_t)b * n + t] >= 0;
        for (t = 0; t < n; t++) {
            int y = targets[(size_t)b * n + t];
            const float *z = s->logits + ((size_t)b * s->T + t) * V;
            float *d = dlogits ? dlogits + ((size_t)b * n + t) * V : NULL;
            double lse, sum, scale = cnt ? 1.0 / ((double)cnt * rows) : 0.0;
            float k;
            if (y < 0) { if (d) memset(d, 0, sizeof(float) * (size_t)V); continue; }
            if (!d) { rl += fe__logsumexp(z, V) - z[y]; continue; }
            /* d = softmax(z) scale - onehot(y) scale, the exponentials computed once */
            lse = fe__exp_row(d, z, V, &sum);
            lse += log(sum);
            rl += lse - z[y];
            k = (float)(scale / sum);
            for (i = 0; i < V; i++) d[i] *= k;
            d[y] -= (float)scale;
        }
        if (cnt) total += rl / cnt;
    }
    if (loss) *loss = rows ? total / rows : 0.0;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_lm_grad(const fe_model *m, fe_state *s, const int *inputs, const int *targets, int n,
                                  float *grads, double *loss, fe_error *err) {
    fe_forward_opts fo;
    fe_backward_opts bo;
    float *dl;
    size_t cnt;
    fe_result r;
    memset(&fo, 0, sizeof fo);
    fo.all_logits = 1;
    if ((r = fe_forward(m, s, inputs, n, &fo, err)) != fe_ok) return r;
    if (!fe__mul3((size_t)s->B, (size_t)n, (size_t)m->config.vocab_size, &cnt) || !fe__mul(cnt, sizeof(float), &cnt))
        return fe__fail(err, fe_err_limit, "lm_grad: size overflow");
    dl = (float *)fe__malloc(m->alloc_user, cnt);
    if (!dl) return fe__fail(err, fe_err_nomem, "lm_grad: out of memory");
    r = fe_lm_loss(m, s, targets, n, loss, dl, err);
    if (r == fe_ok && grads) {
        memset(&bo, 0, sizeof bo);
        bo.stop_site = fe_site_embed; bo.grads = grads; bo.tokens = inputs;
        r = fe_backward(m, s, dl, &bo, err);
    }
    fe__free(m->alloc_user, dl);
    return r;
}

FACTEDIT_API void fe_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr,
                                  float beta1, float beta2, float eps, float weight_decay, int t) {
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    size_t i;
    for (i = 0; i < n; i++) {
        float g = grads[i], mi = beta1 * m[i] + (1.0f - beta1) * g, vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        float mhat = mi / bc1, vhat = vi / bc2;
        m[i] = mi; v[i] = vi;
        params[i] -= lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * params[i]);
    }
}

/* ======================================================== >>impl-ncg ========================== */
/* Nonlinear conjugate gradient, Polak-Ribiere+ with strong-Wolfe line search (Nocedal & Wright,
   algorithms 3.5/3.6 with cubic interpolation), optionally projected onto the ball |x| <= radius:
   the line search walks the projected path P(x + a d) (P(y) = y, or radius y / |y| outside), and
   at the boundary the gradient used for directions and convergence is its tangent part when the
   descent direction points outward. Restarts (steepest descent) every restart_every iterations,
   when the direction is not a descent direction, and when the boundary becomes (in)active. */

typedef fe_result (*fe__fg_fn)(void *user, const double *x, double *f, double *g, fe_error *err);   /* g NULL: f only */
typedef fe_result (*fe__glast_fn)(void *user, double *g, fe_error *err);   /* g at the point of the last fg call */
typedef struct fe__ncg_opts {
    int max_iters, max_evals;   /* defaults 100, 4 max_iters */
    double f_stop;              /* stop when f < f_stop (-inf: off) */
    int (*stop)(void *user);    /* or NULL: nonzero when the point of the last fg call meets the caller's
                                   own stopping rule (checked wherever f < f_stop is) */
    double gtol;                /* stop when |projected g| <= gtol (0: 1e-10) */
    double radius;              /* <= 0: unconstrained */
    double init_step;           /* length of the first trial step (<= 0: 1, or radius / 4) */
    int restart_every;          /* <= 0: n */
    double ftol;                /* stop when f_prev - f <= ftol * max(1, |f|) (0: off) */
    double c2;                  /* strong-Wolfe curvature constant (0: 0.1) */
    int max_ls;                 /* evaluations per line search (0: 20) */
    fe__glast_fn grad_last;     /* set: line-search trials compute f first and the gradient only when
                                   they pass Armijo (a rejected trial costs a forward, no backward) */
    void (*progress)(void *user, int iter, int evals, double f, const double *x);
    void *progress_user;
} fe__ncg_opts;
/* evals: of f; grads: of g; status as fe_rome_report */
typedef struct fe__ncg_info { int iters, evals, grads, restarts, status; double f; } fe__ncg_info;

FACTEDIT__PRIV double fe__dot(const double *a, const double *b, int n) {
    double s = 0.0;
    int i;
    for (i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef struct fe__ls {
    int n;
    double R;
    const double *x, *d;
    double *y, *g;   /* trial point and gradient */
    fe__fg_fn fg;
    fe__glast_fn gl;
    void *user;
    int *evals, *grads;
    double ny;     /* |x + a d| before projection */
    int have_g;    /* g holds the trial's gradient */
    double f_stop; /* a trial with f < f_stop (or meeting stop) ends the search and the solve (fe__ls_stop) */
    int (*stop)(void *user);
} fe__ls;

/* phi(a) = f(P(x + a d)); the trial point in ls->y. Without lazy gradients (ls->gl NULL) its
   gradient comes along (ls->have_g). */
FACTEDIT__PRIV fe_result fe__ls_f(fe__ls *ls, double a, double *phi, fe_error *err) {
    int i, n = ls->n;
    fe_result r;
    for (i = 0; i < n; i++) ls->y[i] = ls->x[i] + a * ls->d[i];
    ls->ny = sqrt(fe__dot(ls->y, ls->y, n));
    if (ls->R > 0 && ls->ny > ls->R) {
        double k = ls->R / ls->ny;
        for (i = 0; i < n; i++) ls->y[i] *= k;
    }
    (*ls->evals)++;
    ls->have_g = !ls->gl;
    if (ls->have_g) (*ls->grads)++;
    if ((r = ls->fg(ls->user, ls->y, phi, ls->gl ? NULL : ls->g, err)) != fe_ok) return r;
    if (!(*phi == *phi)) return fe__fail(err, fe_err_numeric, "ncg: objective is NaN");
    return fe_ok;
}
/* phi'(a) at the last trial, computing its gradient first if it was not. */
FACTEDIT__PRIV fe_result fe__ls_g(fe__ls *ls, double *dphi, fe_error *err) {
    int n = ls->n;
    double gd, yd, yg;
    fe_result r;
    if (!ls->have_g) {
        (*ls->grads)++;
        if ((r = ls->gl(ls->user, ls->g, err)) != fe_ok) return r;
        ls->have_g = 1;
    }
    gd = fe__dot(ls->g, ls->d, n);
    if (ls->R > 0 && ls->ny > ls->R) {   /* dP/da = (R/|y|)(d - (yhat . d) yhat) */
        yd = fe__dot(ls->y, ls->d, n) / ls->R;
        yg = fe__dot(ls->y, ls->g, n) / ls->R;
        *dphi = (ls->R / ls->ny) * (gd - yd * yg);
    } else *dphi = gd;
    if (!(*dphi == *dphi)) return fe__fail(err, fe_err_numeric, "ncg: gradient is NaN");
    return fe_ok;
}

/* Minimizer of the quadratic through (a, fa) with slope ga and (b, fb), kept in the middle 80%:
   the zoom step when b's slope was not computed. */
FACTEDIT__PRIV double fe__quad_min(double a, double fa, double ga, double b, double fb) {
    double w = b - a, den = 2.0 * (fb - fa - ga * w), z, lo = a < b ? a : b, hi = a < b ? b : a, aw = fabs(w);
    if (!(den > 0)) return 0.5 * (a + b);
    z = a - ga * w * w / den;
    if (!(z == z)) return 0.5 * (a + b);
    if (z < lo + 0.1 * aw) z = lo + 0.1 * aw;
    if (z > hi - 0.1 * aw) z = hi - 0.1 * aw;
    return z;
}

/* Safeguarded cubic minimizer between (a, fa, ga) and (b, fb, gb), kept in the middle 80%. */
FACTEDIT__PRIV double fe__cubic_min(double a, double fa, double ga, double b, double fb, double gb) {
    double d1 = ga + gb - 3.0 * (fa - fb) / (a - b), disc = d1 * d1 - ga * gb, d2, z, lo = a < b ? a : b,
           hi = a < b ? b : a, w = hi - lo;
    if (disc >= 0.0) {
        d2 = (b > a ? 1.0 : -1.0) * sqrt(disc);
        z = b - (b - a) * (gb + d2 - d1) / (gb - ga + 2.0 * d2);
        if (z == z && z > lo + 0.1 * w && z < hi - 0.1 * w) return z;
        if (z == z && z >= lo && z <= hi) return z < lo + 0.1 * w ? lo + 0.1 * w : hi - 0.1 * w;
    }
    return 0.5 * (a + b);
}

/* The trial point (ls->y, ls->g, f at step a) becomes the line search's answer so far. */
FACTEDIT__PRIV void fe__ls_take(const fe__ls *ls, double f, double a, double *xbest, double *gbest, double *fbest,
                                double *abest) {
    memcpy(xbest, ls->y, sizeof(double) * (size_t)ls->n);
    memcpy(gbest, ls->g, sizeof(double) * (size_t)ls->n);
    *fbest = f;
    *abest = a;
}

/* The point of the last evaluation, with value f, ends the solve. */
FACTEDIT__PRIV int fe__ls_done(const fe__ls *ls, double f) {
    return f < ls->f_stop || (ls->stop && ls->stop(ls->user));
}

/* A trial at step a (in ls->y) came out below f_stop (or met the stop rule): the solve ends there, as ROME's loop ends at
   the first iterate with loss < 5e-2 (the line search would otherwise walk on to a Wolfe point and
   overshoot far below the threshold). If the trial was projected onto the clamp's sphere, the path
   may have crossed f_stop before reaching the sphere: bisect [lo, a] (lo: a step whose f is not
   below f_stop) with up to 5 more evaluations, keeping the smallest step below f_stop, so that v*
   sits on the clamp only when the clamp is what limits it. The caller stops there and never needs
   the gradient (*ok = 3; gbest is left as it was), so with lazy gradients only f is computed. */
FACTEDIT__PRIV fe_result fe__ls_stop(fe__ls *ls, double lo, double a, double f, double *xbest, double *fbest,
                                     double *abest, int *ok, fe_error *err) {
    int i;
    fe_result r;
    memcpy(xbest, ls->y, sizeof(double) * (size_t)ls->n);
    *fbest = f;
    *abest = a;
    *ok = 3;
    if (!(ls->R > 0 && ls->ny > ls->R)) return fe_ok;
    for (i = 0; i < 5; i++) {
        double mid = 0.5 * (lo + a), fm;
        if ((r = fe__ls_f(ls, mid, &fm, err)) != fe_ok) return r;
        if (fe__ls_done(ls, fm)) {
            a = mid;
            memcpy(xbest, ls->y, sizeof(double) * (size_t)ls->n);
            *fbest = fm;
            *abest = mid;
        } else lo = mid;
    }
    return fe_ok;
}

/* Strong-Wolfe search from phi(0) = f0, phi'(0) = g0 < 0. On success (*ok = 1) xbest/gbest/fbest
   hold the accepted point; otherwise the best Armijo point, if any (*ok = 2), or nothing (*ok = 0);
   a trial below ls->f_stop ends it at once (*ok = 3, fe__ls_stop). */
FACTEDIT__PRIV fe_result fe__line_search(fe__ls *ls, double f0, double g0, double a1, int max_evals, double c2,
                                         double *xbest, double *gbest, double *fbest, double *abest, int *ok,
                                         fe_error *err) {
    const double c1 = 1e-4;
    double a_prev = 0.0, f_prev = f0, g_prev = g0, a = a1, f, g, best = f0;
    int i, used = 0;
    fe_result r;
    double lo = 0, flo = 0, glo = 0, hi = 0, fhi = 0, ghi = 0;
    int zoom = 0, hi_g = 0;   /* hi_g: the slope at hi is known */
    *ok = 0;
    g = 0.0;
    /* an Armijo point below the best so far (its gradient is known by then) */
#define FACTEDIT__LS_KEEP() do { \
        if (f < best && f <= f0 + c1 * a * g0) { \
            best = f; \
            fe__ls_take(ls, f, a, xbest, gbest, fbest, abest); \
            *ok = 2; \
        } \
    } while (0)
    /* bracketing phase */
    for (i = 0; i < max_evals && !zoom; i++) {
        if ((r = fe__ls_f(ls, a, &f, err)) != fe_ok) return r;
        used++;
        if (fe__ls_done(ls, f)) return fe__ls_stop(ls, a_prev, a, f, xbest, fbest, abest, ok, err);
        if (f > f0 + c1 * a * g0 || (i > 0 && f >= f_prev)) {
            if (ls->have_g && (r = fe__ls_g(ls, &g, err)) != fe_ok) return r;
            lo = a_prev;
            flo = f_prev;
            glo = g_prev;
            hi = a;
            fhi = f;
            ghi = g;
            hi_g = ls->have_g;
            zoom = 1;
            break;
        }
        if ((r = fe__ls_g(ls, &g, err)) != fe_ok) return r;
        FACTEDIT__LS_KEEP();
        if (fabs(g) <= -c2 * g0) {
            *ok = 1;
            fe__ls_take(ls, f, a, xbest, gbest, fbest, abest);
            return fe_ok;
        }
        if (g >= 0) {
            lo = a;
            flo = f;
            glo = g;
            hi = a_prev;
            fhi = f_prev;
            ghi = g_prev;
            hi_g = 1;
            zoom = 1;
            break;
        }
        a_prev = a; f_prev = f; g_prev = g;
        a *= 3.0;
    }
    /* zoom phase: lo satisfies Armijo with the lowest value so far, [lo, hi] holds a Wolfe point */
    while (zoom && used < max_evals) {
        a = hi_g ? fe__cubic_min(lo, flo, glo, hi, fhi, ghi) : fe__quad_min(lo, flo, glo, hi, fhi);
        if (fabs(hi - lo) <= 1e-14 * (fabs(lo) + fabs(hi))) break;
        if ((r = fe__ls_f(ls, a, &f, err)) != fe_ok) return r;
        used++;
        if (fe__ls_done(ls, f)) return fe__ls_stop(ls, lo < hi ? lo : hi, a, f, xbest, fbest, abest, ok, err);
        if (f > f0 + c1 * a * g0 || f >= flo) {
            if (ls->have_g && (r = fe__ls_g(ls, &g, err)) != fe_ok) return r;
            hi = a;
            fhi = f;
            ghi = g;
            hi_g = ls->have_g;
        } else {
            if ((r = fe__ls_g(ls, &g, err)) != fe_ok) return r;
            FACTEDIT__LS_KEEP();
            if (fabs(g) <= -c2 * g0) {
                *ok = 1;
                fe__ls_take(ls, f, a, xbest, gbest, fbest, abest);
                return fe_ok;
            }
            if (g * (hi - lo) >= 0) {
                hi = lo;
                fhi = flo;
                ghi = glo;
                hi_g = 1;
            }
            lo = a; flo = f; glo = g;
        }
    }
#undef FACTEDIT__LS_KEEP
    return fe_ok;
}

/* Tangent part of g at x when x sits on the sphere |x| = R and -g points outward. */
FACTEDIT__PRIV int fe__ncg_proj_grad(const double *x, const double *g, double *ge, int n, double R) {
    int i;
    double nx = sqrt(fe__dot(x, x, n)), gx;
    memcpy(ge, g, sizeof(double) * n);
    if (R <= 0 || nx < R * (1.0 - 1e-9)) return 0;
    gx = fe__dot(g, x, n);
    if (gx >= 0) return 0;   /* descent points inward: interior behaviour */
    for (i = 0; i < n; i++) ge[i] -= gx / (nx * nx) * x[i];
    return 1;
}

FACTEDIT__PRIV fe_result fe__ncg(int n, double *x, fe__fg_fn fg, void *user, const fe__ncg_opts *o, fe__ncg_info *info,
                                 void *alloc_user, fe_error *err) {
    int max_iters = o->max_iters > 0 ? o->max_iters : 100, max_evals = o->max_evals > 0 ? o->max_evals : 4 * max_iters;
    int restart_every = o->restart_every > 0 ? o->restart_every : n, evals = 0, grads = 0, k, i, since = 0,
        on_bound = 0, ok, max_ls = o->max_ls > 0 ? o->max_ls : 20;
    double c2 = o->c2 > 0 ? o->c2 : 0.1;
    double gtol = o->gtol > 0 ? o->gtol : 1e-10, R = o->radius, f, f_prev = 0, fnew, a, a_prev = 0, g0, g0_prev = 0, nx;
    double *buf, *g, *ge, *ge_old, *d, *y, *gy, *xn, *gn;
    fe__ls ls;
    fe_result r = fe_ok;
    memset(info, 0, sizeof *info);
    buf = (double *)fe__malloc(alloc_user, sizeof(double) * 8 * (size_t)n);
    if (!buf) return fe__fail(err, fe_err_nomem, "ncg: out of memory");
    g = buf;
    ge = g + n;
    ge_old = ge + n;
    d = ge_old + n;
    y = d + n;
    gy = y + n;
    xn = gy + n;
    gn = xn + n;
    nx = sqrt(fe__dot(x, x, n));
    if (R > 0 && nx > R) for (i = 0; i < n; i++) x[i] *= R / nx;
    if ((r = fg(user, x, &f, g, err)) != fe_ok) goto done;
    evals = grads = 1;
    ls.n = n;
    ls.R = R;
    ls.x = x;
    ls.d = d;
    ls.y = y;
    ls.g = gy;
    ls.fg = fg;
    ls.gl = o->grad_last;
    ls.user = user;
    ls.evals = &evals;
    ls.grads = &grads;
    ls.f_stop = o->f_stop;
    ls.stop = o->stop;
    info->status = 2;
    for (k = 0; k < max_iters; k++) {
        int bound = fe__ncg_proj_grad(x, g, ge, n, R), restart;
        double gnorm = sqrt(fe__dot(ge, ge, n));
        if (f < o->f_stop || (k == 0 && o->stop && o->stop(user))) { info->status = 0; break; }
        if (gnorm <= gtol) { info->status = 1; break; }
        if (evals >= max_evals) break;
        restart = k == 0 || since >= restart_every || bound != on_bound;
        if (!restart) {
            double beta = fe__dot(ge, ge, n) - fe__dot(ge, ge_old, n);
            beta /= fe__dot(ge_old, ge_old, n);
            if (!(beta > 0)) beta = 0;   /* PR+ (and NaN-safe) */
            for (i = 0; i < n; i++) d[i] = -ge[i] + beta * d[i];
            if (fe__dot(d, ge, n) >= 0) restart = 1;   /* not a descent direction */
        }
        if (restart) { for (i = 0; i < n; i++) d[i] = -ge[i]; since = 0; if (k) info->restarts++; }
        on_bound = bound;
        g0 = fe__dot(g, d, n);
        if (bound) g0 = fe__dot(ge, d, n);
        /* first trial step: N&W's 2 (f_k - f_k-1) / phi'(0), or the initial step length */
        if (k == 0 || restart) {
            double dn = sqrt(fe__dot(d, d, n)), s0 = o->init_step > 0 ? o->init_step : (R > 0 ? R / 4 : 1.0);
            a = k == 0 ? s0 / dn : a_prev * g0_prev / g0;
            if (!(a > 0) || a != a) a = s0 / dn;
        } else {
            a = 2.0 * (f - f_prev) / g0;
            if (!(a > 0) || a != a) a = a_prev * g0_prev / g0;
            if (!(a > 0) || a != a) a = a_prev;
        }
        if ((r = fe__line_search(&ls, f, g0, a, max_evals - evals < max_ls ? max_evals - evals : max_ls, c2, xn, gn,
                                 &fnew, &a, &ok, err)) != fe_ok)
            goto done;
        if (!ok) {
            if (restart) { info->status = 1; break; }   /* steepest descent found no decrease: converged to precision */
            since = restart_every;  /* retry with steepest descent */
            continue;
        }
        if (ok == 3) {   /* a trial fell below f_stop: done there (its gradient was not computed) */
            memcpy(x, xn, sizeof(double) * n);
            f = fnew;
            info->iters = k + 1;
            info->status = 0;
            if (o->progress) o->progress(o->progress_user, k + 1, evals, f, x);
            break;
        }
        memcpy(ge_old, ge, sizeof(double) * n);
        memcpy(x, xn, sizeof(double) * n);
        memcpy(g, gn, sizeof(double) * n);
        f_prev = f;
        f = fnew;
        a_prev = a;
        g0_prev = g0;
        since++;
        info->iters = k + 1;
        if (o->progress) o->progress(o->progress_user, k + 1, evals, f, x);
        if (o->ftol > 0 && f_prev - f <= o->ftol * (fabs(f) > 1 ? fabs(f) : 1)) { info->status = 1; break; }
    }
done:
    info->evals = evals; info->grads = grads;
    info->f = f;
    fe__free(alloc_user, buf);
    return r;
}

/* ======================================================== >>impl-rome ========================= */

struct fe_vobj {
    const fe_model *m;
    int layer, B, T, C, V;
    int n_prompts, n_kl, n_target;         /* rows 0..n_prompts-1 rewrite, then n_kl KL prompts: B rows */
    int *tokens, *len, *lookup, *target;   /* (B,T) right-padded with 0; B; B; n_target */
    int *span;                             /* B: len - lookup, the positions each evaluation recomputes */
    int n_scored;                          /* rows whose logits count: n_prompts * n_target, then n_kl */
    int *scored_row, *scored_pos;          /* n_scored: batch row and position of each */
    float kl_factor, v_weight_decay;
    fe_state *s;
    fe__bspans spans;
    float *logits, *dlogits, *lnf;         /* (n_scored,V) (n_scored,V) d loss/d logits, (n_scored,C) after ln_f */
    float *dsite, *target_init, *work;     /* (M,C) compact backward output, C, backward work */
    float *resid0;                         /* (B,C): the clean block output of `layer` at each lookup */
    float *delta; double delta_norm;       /* C: the last evaluated delta and its norm */
    double *logp0, target_init_norm2;      /* (n_kl,V): the clean KL rows' log-probabilities */
    void *alloc_user;
};

FACTEDIT_API void fe_vobj_free(fe_vobj *o) {
    if (!o) return;
    fe_state_free(o->s);
    fe__free(o->alloc_user, o->tokens);
    fe__free(o->alloc_user, o->logits);
    fe__free(o->alloc_user, o->work);
    fe__free(o->alloc_user, o->logp0);
    fe__free(o->alloc_user, o);
}

FACTEDIT_API const float *fe_vobj_target_init(const fe_vobj *o) { return o->target_init; }

/* k* = the mean over the rewriting prompts of block `layer`'s MLP key at the lookup, read from the
   clean run (evaluations never recompute block `layer`). A prompt row is its key prompt +
   target[:-1], and the key at the lookup sees only positions up to it: the keys are the ones
   fe_rome_keys computes from the key prompts, without a second forward. */
FACTEDIT__PRIV void fe__vobj_kstar(fe_vobj *o, float *kstar) {
    int C4 = 4 * o->C, b, j;
    for (j = 0; j < C4; j++) {
        double s = 0.0;
        for (b = 0; b < o->n_prompts; b++) s += fe_state_act(o->s, fe_site_key, o->layer, b, o->lookup[b])[j];
        kstar[j] = (float)(s / o->n_prompts);
    }
}

/* The mean over the rewriting prompts of block `layer`'s MLP output at the lookup (clean run):
   r-ROME's cur_output, W k* + b up to rounding. */
FACTEDIT__PRIV void fe__vobj_mean_mlp(fe_vobj *o, float *out) {
    int b, j;
    for (j = 0; j < o->C; j++) {
        double s = 0.0;
        for (b = 0; b < o->n_prompts; b++) s += fe_state_act(o->s, fe_site_mlp, o->layer, b, o->lookup[b])[j];
        out[j] = (float)(s / o->n_prompts);
    }
}

/* Logits of the scored rows only: ln_f at (scored_row, scored_pos) (kept in the state for the
   backward), gathered, one pass over wte. The value objective reads n_scored rows, not B * T. */
FACTEDIT__PRIV void fe__vobj_head(fe_vobj *o) {
    const fe_model *m = o->m;
    const fe_params *P = &m->params;
    fe_state *s = o->s;
    int C = o->C, L = m->config.num_layers, i;
    for (i = 0; i < o->n_scored; i++) {
        size_t r = (size_t)o->scored_row[i] * o->T + (size_t)o->scored_pos[i];
        fe__layernorm(s->lnf + r * C, s->lnf_mean + r, s->lnf_rstd + r, s->layers[L - 1].resid + r * C, P->lnfw,
                      P->lnfb, 1, C);
        memcpy(o->lnf + (size_t)i * C, s->lnf + r * C, sizeof(float) * C);
    }
    fe__matmul_w(o->logits, (size_t)o->V, o->lnf, fe__W(m, fe_tensor_wte, 0), m->config.padded_vocab_size, NULL,
                 o->n_scored, C, o->V);
}

FACTEDIT_API fe_result fe_vobj_new(fe_vobj **out, const fe_model *m, const fe_vobj_spec *sp, fe_error *err) {
    fe_vobj *o;
    int i, j, B, T = 0, C = m->config.channels, V = m->config.vocab_size, M = 0;
    size_t ints, floats, wf;
    fe_forward_opts fo;
    fe_result r;
    *out = NULL;
    if (!sp || sp->layer < 0 || sp->layer >= m->config.num_layers)
        return fe__fail(err, fe_err_range, "rome: layer outside the model");
    if (sp->n_prompts < 1 || !sp->prompts || sp->n_target < 1 || !sp->target || sp->n_kl < 0 ||
        (sp->n_kl && !sp->kl_prompts))
        return fe__fail(err, fe_err_arg, "rome: need >= 1 prompt and >= 1 target token");
    for (i = 0; i < sp->n_target; i++)
        if (sp->target[i] < 0 || sp->target[i] >= V)
            return fe__fail(err, fe_err_range, "rome: target id %d outside the vocabulary", sp->target[i]);
    B = sp->n_prompts + sp->n_kl;
    for (i = 0; i < B; i++) {
        const fe_rome_prompt *p = i < sp->n_prompts ? &sp->prompts[i] : &sp->kl_prompts[i - sp->n_prompts];
        if (!p->ids || p->n < 1 || p->lookup < 0 || p->lookup >= p->n)
            return fe__fail(err, fe_err_arg, "rome: prompt %d is empty or its lookup %d is outside it", i, p->lookup);
        if (i < sp->n_prompts && (p->n < sp->n_target || p->lookup > p->n - sp->n_target))
            return fe__fail(err, fe_err_arg, "rome: prompt %d (%d tokens) must end with target[:-1] after its lookup",
                            i, p->n);
        if (p->n > T) T = p->n;
        M += p->n - p->lookup;
    }
    if (T > m->config.max_seq_len)
        return fe__fail(err, fe_err_range, "rome: a prompt of %d tokens exceeds the context %d", T,
                        m->config.max_seq_len);
    o = (fe_vobj *)fe__calloc(m->alloc_user, sizeof *o);
    if (!o) return fe__fail(err, fe_err_nomem, "rome: out of memory");
    o->m = m;
    o->alloc_user = m->alloc_user;
    o->layer = sp->layer;
    o->n_prompts = sp->n_prompts;
    o->n_kl = sp->n_kl;
    o->n_target = sp->n_target;
    o->B = B;
    o->T = T;
    o->C = C;
    o->V = V;
    o->kl_factor = sp->kl_factor;
    o->v_weight_decay = sp->v_weight_decay;
    o->n_scored = o->n_prompts * o->n_target + o->n_kl;
    ints = (size_t)B * T + 3 * (size_t)B + (size_t)o->n_target + 2 * (size_t)o->n_scored;
    floats = 2 * (size_t)o->n_scored * V + (size_t)o->n_scored * C + (size_t)M * C + 2 * (size_t)C + (size_t)B * C;
    o->tokens = (int *)fe__calloc(o->alloc_user, sizeof(int) * ints);
    o->logits = (float *)fe__malloc(o->alloc_user, sizeof(float) * floats);
    o->logp0 = (double *)fe__malloc(o->alloc_user, sizeof(double) * ((size_t)o->n_kl * V + 1));
    if (!o->tokens || !o->logits || !o->logp0) {
        fe_vobj_free(o);
        return fe__fail(err, fe_err_nomem, "rome: out of memory");
    }
    o->len = o->tokens + (size_t)B * T; o->lookup = o->len + B; o->span = o->lookup + B;
    o->spans.first = o->lookup;
    o->spans.end = o->len;
    o->spans.B = B;
    o->spans.M = M;
    o->spans.Tmax = T;
    o->target = o->span + B; o->scored_row = o->target + o->n_target; o->scored_pos = o->scored_row + o->n_scored;
    o->dlogits = o->logits + (size_t)o->n_scored * V;
    o->lnf = o->dlogits + (size_t)o->n_scored * V;
    o->dsite = o->lnf + (size_t)o->n_scored * C;
    o->target_init = o->dsite + (size_t)M * C;
    o->resid0 = o->target_init + C;
    o->delta = o->resid0 + (size_t)B * C;
    if (!fe__backward_floats(m, &o->spans, o->n_scored, &wf) ||
        !(o->work = (float *)fe__malloc(o->alloc_user, sizeof(float) * wf))) {
        fe_vobj_free(o);
        return fe__fail(err, fe_err_nomem, "rome: out of memory");
    }
    memcpy(o->target, sp->target, sizeof(int) * (size_t)o->n_target);
    for (i = 0; i < B; i++) {
        const fe_rome_prompt *p = i < sp->n_prompts ? &sp->prompts[i] : &sp->kl_prompts[i - sp->n_prompts];
        memcpy(o->tokens + (size_t)i * T, p->ids, sizeof(int) * (size_t)p->n);
        o->len[i] = p->n; o->lookup[i] = p->lookup; o->span[i] = p->n - p->lookup;
    }
    /* scored rows: prompt b's positions len-nt .. len-1 predict target[0 .. nt-1]; KL prompts at their lookup */
    for (i = 0; i < o->n_prompts; i++)
        for (j = 0; j < o->n_target; j++) {
            o->scored_row[i * o->n_target + j] = i;
            o->scored_pos[i * o->n_target + j] = o->len[i] - o->n_target + j;
        }
    for (i = 0; i < o->n_kl; i++) {
        o->scored_row[o->n_prompts * o->n_target + i] = o->n_prompts + i;
        o->scored_pos[o->n_prompts * o->n_target + i] = o->lookup[o->n_prompts + i];
    }
    if ((r = fe_state_new(&o->s, m, B, T, 0, err)) != fe_ok) { fe_vobj_free(o); return r; }
    /* clean run: target_init and the KL reference distributions */
    memset(&fo, 0, sizeof fo);
    fo.no_logits = 1;
    if ((r = fe_forward(m, o->s, o->tokens, T, &fo, err)) != fe_ok) { fe_vobj_free(o); return r; }
    fe__vobj_head(o);
    memcpy(o->target_init, fe_state_act(o->s, sp->target_resid ? fe_site_resid : fe_site_mlp, o->layer, 0, o->lookup[0]),
           sizeof(float) * C);
    for (i = 0; i < B; i++)
        memcpy(o->resid0 + (size_t)i * C, fe_state_act(o->s, fe_site_resid, o->layer, i, o->lookup[i]),
               sizeof(float) * C);
    o->target_init_norm2 = 0.0;
    for (i = 0; i < C; i++) o->target_init_norm2 += (double)o->target_init[i] * o->target_init[i];
    if (!(o->target_init_norm2 > 0)) {
        fe_vobj_free(o);
        return fe__fail(err, fe_err_numeric, "rome: target_init is zero");
    }
    for (i = 0; i < o->n_kl; i++) {
        const float *z = o->logits + (size_t)(o->n_prompts * o->n_target + i) * V;
        double lse = fe__logsumexp(z, V);
        for (j = 0; j < V; j++) o->logp0[(size_t)i * V + j] = (double)z[j] - lse;
    }
    *out = o;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT__PRIV void fe__vobj_grad(fe_vobj *o, float *grad);
FACTEDIT_API fe_result fe_vobj_eval(fe_vobj *o, const float *delta, fe_vparts *parts, float *grad, fe_error *err) {
    const fe_model *m = o->m;
    int B = o->B, V = o->V, C = o->C, b, j, i, row;
    double nll = 0.0, kl = 0.0, norm = 0.0, wd;
    fe_forward_opts fo;
    for (i = 0; delta && i < C; i++) norm += (double)delta[i] * delta[i];
    norm = sqrt(norm);
    /* delta enters block `layer`'s output at each lookup (resid = resid_mid + mlp + delta); nothing
       before it depends on delta, so blocks > layer are recomputed at each row's positions from its
       lookup on (the clean run left the KV cache and the lower blocks in the state) */
    for (b = 0; b < B; b++) {
        float *r = fe_state_act(o->s, fe_site_resid, o->layer, b, o->lookup[b]);
        const float *r0 = o->resid0 + (size_t)b * C;
        for (i = 0; i < C; i++) r[i] = delta ? r0[i] + delta[i] : r0[i];
    }
    if (o->layer + 1 < m->config.num_layers) {
        memset(&fo, 0, sizeof fo);
        fo.layer0 = o->layer + 1;
        fe__forward_rows(m, o->s, NULL, 0, &fo, 0, o->lookup, o->span, o->s->scratch);
    }
    fe__vobj_head(o);
    /* nll: the mean over prompts and target tokens of -log p(target[j]) */
    for (b = 0; b < o->n_prompts; b++)
        for (j = 0; j < o->n_target; j++) {
            int y = o->target[j];
            const float *z = o->logits + (size_t)(b * o->n_target + j) * V;
            float *d = o->dlogits + (size_t)(b * o->n_target + j) * V;
            double lse = fe__logsumexp(z, V), sc = 1.0 / ((double)o->n_target * o->n_prompts);
            nll += (lse - z[y]) * sc;
            /* d loss / d z, kept for fe__vobj_grad */
            for (i = 0; i < V; i++) d[i] = (float)(exp((double)z[i] - lse) * sc);
            d[y] -= (float)sc;
        }
    /* kl: KL(p_delta || p_0) = sum p (log p - log p0);  d/dz_i = p_i (log p_i - log p0_i - KL) */
    for (j = 0; j < o->n_kl; j++) {
        const float *z;
        const double *lp0 = o->logp0 + (size_t)j * V;
        double lse, k = 0.0, sc = (double)o->kl_factor / o->n_kl;
        float *d;
        row = o->n_prompts * o->n_target + j;
        z = o->logits + (size_t)row * V; d = o->dlogits + (size_t)row * V;
        lse = fe__logsumexp(z, V);
        for (i = 0; i < V; i++) { double lp = (double)z[i] - lse; k += exp(lp) * (lp - lp0[i]); }
        kl += k / o->n_kl;
        for (i = 0; i < V; i++) { double lp = (double)z[i] - lse; d[i] = (float)(sc * exp(lp) * (lp - lp0[i] - k)); }
    }
    wd = (double)o->v_weight_decay * norm / o->target_init_norm2;
    if (parts) {
        parts->nll = nll;
        parts->kl = kl;
        parts->wd = wd;
        parts->loss = nll + o->kl_factor * kl + wd;
    }
    for (i = 0; i < C; i++) o->delta[i] = delta ? delta[i] : 0.0f;
    o->delta_norm = norm;
    if (grad) fe__vobj_grad(o, grad);
    fe__ok(err);
    return fe_ok;
}

/* The gradient at the point of the last fe_vobj_eval, from the state and dz it left: the
   backward from the scored rows down to block `layer`'s output, row b's positions >= its lookup,
   plus the weight decay's. Lets a line search pay for a backward only where it needs one. */
FACTEDIT__PRIV void fe__vobj_grad(fe_vobj *o, float *grad) {
    fe_backward_opts bo;
    int B = o->B, C = o->C, b, i;
    memset(&bo, 0, sizeof bo);
    bo.stop_site = fe_site_mlp; bo.stop_layer = o->layer;
    fe__backward_core(o->m, o->s, &o->spans, o->n_scored, o->dlogits, o->scored_row, o->scored_pos, &bo, o->dsite,
                      o->work);
    for (i = 0; i < C; i++) {
        /* d|delta| at 0: 0, as torch */
        double g = o->delta_norm > 0 ? (double)o->v_weight_decay * o->delta[i] / (o->delta_norm * o->target_init_norm2)
                                     : 0.0;
        size_t k = 0;
        /* compact row of (b, lookup[b]) */
        for (b = 0; b < B; b++) { g += o->dsite[k * C + i]; k += (size_t)o->span[b]; }
        grad[i] = (float)g;
    }
}

FACTEDIT_API void fe_rome_hparams_default(fe_rome_hparams *hp, const fe_model *m) {
    memset(hp, 0, sizeof *hp);
    hp->layer = fe_rome_default_layer(&m->config);   /* ROME's layers for GPT-2 medium/large/XL */
    hp->kl_factor = 0.0625f; hp->v_weight_decay = 0.5f; hp->clamp_norm_factor = 4.0f;
    hp->solver = fe_solver_cg;
    hp->max_iters = 30;
    hp->max_evals = 0;
    hp->loss_stop = 5e-2;
    hp->v_lr = 0.5f;
    hp->cov_ridge = 0.0;
}

/* Solver glue: the objective in double for fe__ncg. */
typedef struct fe__vsolve {
    fe_vobj *o; float *df, *gf; fe_vparts parts;
    const fe_rome_hparams *hp; fe_vparts *hist; int nhist, cap;  /* parts of every evaluation */
} fe__vsolve;

FACTEDIT__PRIV fe_result fe__vsolve_fg(void *user, const double *x, double *f, double *g, fe_error *err) {
    fe__vsolve *v = (fe__vsolve *)user;
    int i, C = v->o->C;
    fe_result r;
    for (i = 0; i < C; i++) v->df[i] = (float)x[i];
    if ((r = fe_vobj_eval(v->o, v->df, &v->parts, g ? v->gf : NULL, err)) != fe_ok) return r;
    for (i = 0; g && i < C; i++) g[i] = v->gf[i];
    *f = v->parts.loss;
    if (v->nhist < v->cap) v->hist[v->nhist] = v->parts;
    v->nhist++;
    return fe_ok;
}

FACTEDIT__PRIV fe_result fe__vsolve_glast(void *user, double *g, fe_error *err) {
    fe__vsolve *v = (fe__vsolve *)user;
    int i;
    (void)err;
    fe__vobj_grad(v->o, v->gf);
    for (i = 0; i < v->o->C; i++) g[i] = v->gf[i];
    return fe_ok;
}

/* nll_stop's rule, on the last evaluation */
FACTEDIT__PRIV int fe__vsolve_stop(void *user) {
    const fe__vsolve *v = (const fe__vsolve *)user;
    return v->hp->nll_stop > 0 && v->parts.nll < v->hp->nll_stop;
}

FACTEDIT__PRIV void fe__vsolve_progress(void *user, int iter, int evals, double f, const double *x) {
    fe__vsolve *v = (fe__vsolve *)user;
    double n2 = fe__dot(x, x, v->o->C);
    fe_vparts p;
    int k;
    (void)f;
    /* the accepted iterate is the evaluation with that loss, searched from the latest */
    p = v->parts;
    for (k = (v->nhist < v->cap ? v->nhist : v->cap) - 1; k >= 0; k--)
        if (v->hist[k].loss == f) {
            p = v->hist[k];
            break;
        }
    if (v->hp->progress) v->hp->progress(v->hp->progress_user, iter, evals, &p, sqrt(n2));
}

FACTEDIT_API fe_result fe_vobj_solve(fe_vobj *o, const fe_rome_hparams *hp, float *delta, fe_rome_report *rep,
                                     fe_error *err) {
    int C = o->C, i, it;
    double R = hp->clamp_norm_factor > 0 ? hp->clamp_norm_factor * sqrt(o->target_init_norm2) : 0.0, *x;
    fe__vsolve v;
    fe_result r = fe_ok;
    fe_rome_report rp;
    memset(&rp, 0, sizeof rp);
    memset(&v, 0, sizeof v);
    rp.clamp = R;
    v.o = o; v.hp = hp;
    v.cap = (hp->max_evals > 0 ? hp->max_evals : 4 * (hp->max_iters > 0 ? hp->max_iters : 30)) + 8;
    x = (double *)fe__calloc(o->alloc_user, sizeof(double) * 3 * (size_t)C + sizeof(float) * 2 * (size_t)C +
                                                    sizeof(fe_vparts) * (size_t)v.cap);
    if (!x) return fe__fail(err, fe_err_nomem, "rome: out of memory");
    v.df = (float *)(x + 3 * (size_t)C); v.gf = v.df + C; v.hist = (fe_vparts *)(v.gf + C);
    if (hp->solver == fe_solver_cg) {
        fe__ncg_opts no;
        fe__ncg_info ni;
        memset(&no, 0, sizeof no);
        no.max_iters = hp->max_iters > 0 ? hp->max_iters : 30;
        no.max_evals = hp->max_evals > 0 ? hp->max_evals : 4 * no.max_iters;
        no.f_stop = hp->loss_stop;
        no.stop = fe__vsolve_stop;
        no.radius = R;
        no.gtol = 1e-8;
        no.ftol = 1e-5;
        no.init_step = sqrt(o->target_init_norm2);   /* first step: |delta| = |target_init| */
        no.max_ls = 10;   /* a line search that has halved its bracket ~8 times
                             gains nothing more; evaluations are the cost */
        no.progress = fe__vsolve_progress; no.progress_user = &v;
        no.grad_last = fe__vsolve_glast;   /* rejected line-search trials skip the backward */
        r = fe__ncg(C, x, fe__vsolve_fg, &v, &no, &ni, o->alloc_user, err);
        if (r == fe_ok) {
            rp.iters = ni.iters;
            rp.evals = ni.evals;
            rp.grads = ni.grads;
            rp.status = ni.status;
            if (v.nhist) rp.first = v.hist[0];
            for (i = 0; i < C; i++) delta[i] = (float)x[i];
            r = fe_vobj_eval(o, delta, &rp.last, NULL, err);
        }
    } else {
        /* ROME's loop: evaluate; stop if loss < loss_stop or at the last step; Adam; clamp */
        double *am = x + C, *av = am + C, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        int steps = hp->max_iters > 0 ? hp->max_iters : 20;
        rp.status = 2;
        for (i = 0; i < C; i++) delta[i] = 0.0f;
        for (it = 0; it < steps; it++) {
            double n2 = 0.0;
            if ((r = fe_vobj_eval(o, delta, &v.parts, v.gf, err)) != fe_ok) break;
            rp.evals++; rp.grads++;
            if (it == 0) rp.first = v.parts;
            rp.last = v.parts;
            for (i = 0; i < C; i++) n2 += (double)delta[i] * delta[i];
            if (hp->progress) hp->progress(hp->progress_user, it, rp.evals, &v.parts, sqrt(n2));
            if (v.parts.loss < hp->loss_stop || fe__vsolve_stop(&v)) { rp.status = 0; break; }
            if (it == steps - 1) break;
            rp.iters++;
            n2 = 0.0;
            for (i = 0; i < C; i++) {
                double g = v.gf[i], bc1 = 1.0 - pow(b1, it + 1), bc2 = 1.0 - pow(b2, it + 1);
                am[i] = b1 * am[i] + (1.0 - b1) * g;
                av[i] = b2 * av[i] + (1.0 - b2) * g * g;
                x[i] = delta[i] - hp->v_lr * (am[i] / bc1) / (sqrt(av[i] / bc2) + eps);
                n2 += x[i] * x[i];
            }
            for (i = 0; i < C; i++) delta[i] = (float)(R > 0 && sqrt(n2) > R ? x[i] * R / sqrt(n2) : x[i]);
        }
    }
    if (r == fe_ok) {
        double n2 = 0.0;
        for (i = 0; i < C; i++) n2 += (double)delta[i] * delta[i];
        rp.delta_norm = sqrt(n2);
        if (rep) *rep = rp;
    }
    fe__free(o->alloc_user, x);
    return r;
}

/* ------------------------------------------------------------------ keys, covariance --- */

FACTEDIT_API fe_result fe_rome_keys(const fe_model *m, int layer, const fe_rome_prompt *p, int n, float *keys,
                                    float *mlp_out, fe_error *err) {
    int i, T = 0, C = m->config.channels;
    int *tok;
    fe_state *s;
    fe_forward_opts fo;
    fe_result r;
    if (layer < 0 || layer >= m->config.num_layers)
        return fe__fail(err, fe_err_range, "rome: layer %d outside the model", layer);
    if (n < 1 || !p) return fe__fail(err, fe_err_arg, "rome: no prompts");
    for (i = 0; i < n; i++) {
        if (!p[i].ids || p[i].n < 1 || p[i].lookup < 0 || p[i].lookup >= p[i].n)
            return fe__fail(err, fe_err_arg, "rome: prompt %d is empty or its lookup is outside it", i);
        if (p[i].n > T) T = p[i].n;
    }
    if (T > m->config.max_seq_len)
        return fe__fail(err, fe_err_range, "rome: a prompt of %d tokens exceeds the context %d", T,
                        m->config.max_seq_len);
    tok = (int *)fe__calloc(m->alloc_user, sizeof(int) * (size_t)n * T);
    if (!tok) return fe__fail(err, fe_err_nomem, "rome: out of memory");
    for (i = 0; i < n; i++) memcpy(tok + (size_t)i * T, p[i].ids, sizeof(int) * (size_t)p[i].n);
    if ((r = fe_state_new(&s, m, n, T, 0, err)) != fe_ok) { fe__free(m->alloc_user, tok); return r; }
    memset(&fo, 0, sizeof fo);
    fo.last_layer = layer + 1; fo.no_logits = 1;
    r = fe_forward(m, s, tok, T, &fo, err);
    for (i = 0; r == fe_ok && i < n; i++) {
        if (keys)
            memcpy(keys + (size_t)i * 4 * C, fe_state_act(s, fe_site_key, layer, i, p[i].lookup),
                   sizeof(float) * 4 * (size_t)C);
        if (mlp_out)
            memcpy(mlp_out + (size_t)i * C, fe_state_act(s, fe_site_mlp, layer, i, p[i].lookup),
                   sizeof(float) * (size_t)C);
    }
    fe_state_free(s);
    fe__free(m->alloc_user, tok);
    if (r == fe_ok) fe__ok(err);
    return r;
}

FACTEDIT_API fe_result fe_cov_new(fe_cov **out, int dim, void *alloc_user, fe_error *err) {
    fe_cov *c;
    size_t bytes;
    *out = NULL;
    if (dim < 1 || !fe__mul3((size_t)dim, (size_t)dim, sizeof(double), &bytes))
        return fe__fail(err, fe_err_arg, "cov: bad dimension %d", dim);
    c = (fe_cov *)fe__calloc(alloc_user, sizeof *c);
    if (!c) return fe__fail(err, fe_err_nomem, "cov: out of memory");
    c->m2 = (double *)fe__calloc(alloc_user, bytes);
    if (!c->m2) {
        fe__free(alloc_user, c);
        return fe__fail(err, fe_err_nomem, "cov: cannot allocate %lu bytes", (unsigned long)bytes);
    }
    c->dim = dim; c->alloc_user = alloc_user;
    *out = c;
    return fe_ok;
}

FACTEDIT_API void fe_cov_free(fe_cov *c) {
    if (c) {
        fe__free(c->alloc_user, c->m2);
        fe__free(c->alloc_user, c->chol);
        fe__free(c->alloc_user, c);
    }
}

/* m2 += K^T K for n keys. Batches of up to 256 keys: their products K_b^T K_b by the float GEMM
   (each entry a float sum of at most 256 products: relative error ~1e-6), added into the double
   m2, so the error does not grow with the token count. Rows in blocks of 256, upper triangle
   (columns >= the block's first row), then mirrored (PERFORMANCE NOTES). */
FACTEDIT_API fe_result fe_cov_add(fe_cov *c, const float *keys, size_t n, fe_error *err) {
    int d = c->dim, i;
    size_t t0;
    float *tmp = (float *)fe__malloc(c->alloc_user, sizeof(float) * 256 * (size_t)d);
    if (!tmp) return fe__fail(err, fe_err_nomem, "cov: out of memory");
    fe__free(c->alloc_user, c->chol);   /* the factor no longer matches */
    c->chol = NULL;
    for (t0 = 0; t0 < n; t0 += 256) {
        int nb = (int)(n - t0 < 256 ? n - t0 : 256), i0;
        const float *kb = keys + t0 * (size_t)d;   /* (nb, d) */
        for (i0 = 0; i0 < d; i0 += 256) {
            int mb = d - i0 < 256 ? d - i0 : 256, nc = d - i0, r;
            /* tmp (mb, nc) = K_b[:, i0 .. i0+mb)^T K_b[:, i0 .. d) */
            fe__gemm(tmp, (size_t)nc, kb + i0, 1, (size_t)d, kb + i0, (size_t)d, 1, NULL, mb, nc, nb, 0);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)mb * nc > 100000)
#endif
            for (r = 0; r < mb; r++) {
                int j;
                double *row = c->m2 + (size_t)(i0 + r) * d;
                const float *tr = tmp + (size_t)r * nc;
                for (j = r; j < nc; j++) row[i0 + j] += tr[j];
            }
        }
    }
    for (i = 0; i < d; i++) { int j; for (j = 0; j < i; j++) c->m2[(size_t)i * d + j] = c->m2[(size_t)j * d + i]; }
    c->count += (double)n;
    fe__free(c->alloc_user, tmp);
    return fe_ok;
}

/* Keys of layers first .. first + count - 1 into c[0 .. count - 1] from one forward per sequence. */
FACTEDIT__PRIV fe_result fe__cov_add_tokens(fe_cov *const *c, const fe_model *m, int first, int count,
                                            const int *tokens, int B, int n, fe_error *err) {
    fe_state *s;
    fe_forward_opts fo;
    fe_result r;
    const float *keys;
    int b, l, C4 = 4 * m->config.channels;
    for (l = 0; l < count; l++)
        if (c[l]->dim != C4)
            return fe__fail(err, fe_err_mismatch, "cov: dimension %d, the model's keys have %d", c[l]->dim, C4);
    if (count == 1 && (first < 0 || first >= m->config.num_layers))
        return fe__fail(err, fe_err_range, "cov: layer %d outside the model", first);
    if (first < 0 || count < 1 || first > m->config.num_layers - count)
        return fe__fail(err, fe_err_range, "cov: layers %d..%d outside the model", first, first + count - 1);
    /* one sequence at a time through one state: a state holds every layer's activations, and B of
       them at once would be B times that memory to zero for keys of a few layers */
    if ((r = fe_state_new(&s, m, 1, n, 0, err)) != fe_ok) return r;
    memset(&fo, 0, sizeof fo);
    fo.last_layer = first + count; fo.no_logits = 1;
    for (b = 0; b < B && r == fe_ok; b++) {
        if ((r = fe_forward(m, s, tokens + (size_t)b * n, n, &fo, err)) != fe_ok) break;
        for (l = 0; l < count && r == fe_ok; l++) {
            keys = fe_state_act(s, fe_site_key, first + l, 0, 0);   /* (n, 4C), contiguous */
            r = fe_cov_add(c[l], keys, (size_t)n, err);
        }
    }
    fe_state_free(s);
    return r;
}

FACTEDIT_API fe_result fe_cov_add_tokens(fe_cov *c, const fe_model *m, int layer, const int *tokens, int B, int n,
                                         fe_error *err) {
    return fe__cov_add_tokens(&c, m, layer, 1, tokens, B, n, err);
}

FACTEDIT_API void fe_cov_moment(const fe_cov *c, float *out) {
    size_t i, n = (size_t)c->dim * c->dim;
    for (i = 0; i < n; i++) out[i] = (float)(c->count > 0 ? c->m2[i] / c->count : 0.0);
}

/* Dot product with 8 independent sums (the compiler vectorizes them; one chain would be
   latency-bound): the Cholesky's inner loop. */
FACTEDIT__PRIV double fe__dot8(const double *a, const double *b, int n) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0, j;
    for (; i + 8 <= n; i += 8) for (j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    for (; i < n; i++) s[0] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* L L^T = A in place (A's lower triangle in, L out; row-major d x d; the upper triangle is not
   read or written), left-looking in column blocks of 64: the diagonal block row by row, then
   every row below it in parallel (each L[i][j] is one thread's fixed-order dot product:
   thread-count independent). Returns -1, or the first row whose pivot is not positive. */
FACTEDIT__PRIV int fe__chol(double *L, int d) {
    int j0, bad = -1;
    for (j0 = 0; j0 < d && bad < 0; j0 += 64) {
        int j1 = j0 + 64 < d ? j0 + 64 : d, i;
        for (i = j0; i < j1 && bad < 0; i++) {
            int j;
            double *li = L + (size_t)i * d;
            for (j = j0; j <= i; j++) {
                double v = li[j] - fe__dot8(li, L + (size_t)j * d, j);
                if (j < i) li[j] = v / L[(size_t)j * d + j];
                else if (v > 0) li[j] = sqrt(v);
                else { bad = i; break; }
            }
        }
        if (bad >= 0) break;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 16) if ((size_t)(d - j1) * (size_t)j1 * 64 > 200000)
#endif
        for (i = j1; i < d; i++) {
            int j;
            double *li = L + (size_t)i * d;
            for (j = j0; j < j1; j++) li[j] = (li[j] - fe__dot8(li, L + (size_t)j * d, j)) / L[(size_t)j * d + j];
        }
    }
    return bad;
}

FACTEDIT_API fe_result fe_cov_factor(fe_cov *c, double ridge, fe_error *err) {
    int d = c->dim, bad, i, j;
    double inv = c->count > 0 ? 1.0 / c->count : 0.0, *L;
    size_t bytes;
    if (!(ridge >= 0)) return fe__fail(err, fe_err_arg, "cov: ridge %g must be >= 0", ridge);
    if (!fe__mul3((size_t)d, (size_t)d, sizeof(double), &bytes))
        return fe__fail(err, fe_err_limit, "cov: size overflow");
    fe__free(c->alloc_user, c->chol);
    c->chol = NULL;
    L = (double *)fe__malloc(c->alloc_user, bytes);
    if (!L)
        return fe__fail(err, fe_err_nomem, "cov: cannot allocate %lu bytes for the Cholesky factor",
                        (unsigned long)bytes);
    for (i = 0; i < d; i++)
        for (j = 0; j <= i; j++) L[(size_t)i * d + j] = c->m2[(size_t)i * d + j] * inv + (i == j ? ridge : 0.0);
    bad = fe__chol(L, d);
    if (bad >= 0) {
        fe__free(c->alloc_user, L);
        return fe__fail(err, fe_err_numeric, "cov: not positive definite at dimension %d with ridge %g (add a ridge)",
                        bad, ridge);
    }
    c->chol = L; c->chol_ridge = ridge;
    fe__ok(err);
    return fe_ok;
}

/* z = M^-1 r: M = L L^T (forward then backward substitution) when L is given, else diag(dg). */
FACTEDIT__PRIV void fe__cov_precond(double *z, const double *r, const double *dg, const double *L, int d) {
    int i, j;
    if (!L) { for (i = 0; i < d; i++) z[i] = r[i] / dg[i]; return; }
    for (i = 0; i < d; i++) z[i] = (r[i] - fe__dot8(L + (size_t)i * d, z, i)) / L[(size_t)i * d + i];   /* L y = r */
    for (i = d - 1; i >= 0; i--) {   /* L^T z = y, by rows of L: z[i] done, its terms leave z[j < i] */
        const double *li = L + (size_t)i * d;
        z[i] /= li[i];
        for (j = 0; j < i; j++) z[j] -= li[j] * z[i];
    }
}

/* A = m2 / count + ridge I, solved by CG preconditioned with A's Cholesky factor (fe_cov_factor,
   same ridge) or else with its diagonal. */
FACTEDIT_API fe_result fe_cov_solve(const fe_cov *c, double ridge, const float *rhs, double *x, double tol,
                                    int max_iter, int *iters, fe_error *err) {
    int d = c->dim, i, k;
    double inv = c->count > 0 ? 1.0 / c->count : 0.0, *w, *r, *z, *p, *ap, *dg, rz, bn = 0.0, rn;
    const double *L = c->chol && c->chol_ridge == ridge ? c->chol : NULL;
    if (tol <= 0) tol = 1e-10;
    if (max_iter <= 0) max_iter = 10 * d;
    w = (double *)fe__calloc(c->alloc_user, sizeof(double) * 5 * (size_t)d);
    if (!w) return fe__fail(err, fe_err_nomem, "cov: out of memory");
    r = w;
    z = r + d;
    p = z + d;
    ap = p + d;
    dg = ap + d;
    for (i = 0; i < d; i++) {
        dg[i] = c->m2[(size_t)i * d + i] * inv + ridge;
        if (!(dg[i] > 0)) {
            fe__free(c->alloc_user, w);
            return fe__fail(err, fe_err_numeric, "cov: diagonal entry %d is %g: not positive definite (add a ridge)", i,
                            dg[i]);
        }
        x[i] = 0.0; r[i] = rhs[i]; bn += r[i] * r[i];
    }
    bn = sqrt(bn);
    fe__cov_precond(z, r, dg, L, d);
    for (i = 0; i < d; i++) p[i] = z[i];
    rz = fe__dot(r, z, d);
    rn = bn;
    for (k = 0; k < max_iter && rn > tol * bn; k++) {
        double pap, a, rz2, b;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)d * d > 100000)
#endif
        for (i = 0; i < d; i++) ap[i] = fe__dot(c->m2 + (size_t)i * d, p, d) * inv + ridge * p[i];
        pap = fe__dot(p, ap, d);
        if (!(pap > 0)) {
            fe__free(c->alloc_user, w);
            return fe__fail(err, fe_err_numeric, "cov: matrix not positive definite (p.Ap = %g)", pap);
        }
        a = rz / pap;
        for (i = 0; i < d; i++) { x[i] += a * p[i]; r[i] -= a * ap[i]; }
        fe__cov_precond(z, r, dg, L, d);
        rz2 = fe__dot(r, z, d);
        b = rz2 / rz;
        rz = rz2;
        for (i = 0; i < d; i++) p[i] = z[i] + b * p[i];
        rn = sqrt(fe__dot(r, r, d));
    }
    if (iters) *iters = k;
    fe__free(c->alloc_user, w);
    if (rn > tol * bn)
        return fe__fail(err, fe_err_numeric, "cov: CG did not converge in %d iterations (residual %g)", k,
                        bn > 0 ? rn / bn : rn);
    fe__ok(err);
    return fe_ok;
}

/* ------------------------------------------------------------------------- edits ------ */

FACTEDIT_API void fe_edit_free(fe_edit *e) {
    if (!e) return;
    fe__free(e->alloc_user, e->saved);
    fe__free(e->alloc_user, e->u);
    fe__free(e->alloc_user, e);
}

FACTEDIT_API fe_result fe_edit_new(fe_edit **out, const fe_model *m, int layer, fe_error *err) {
    fe_edit *e;
    int C = m->config.channels;
    *out = NULL;
    if (layer < 0 || layer >= m->config.num_layers)
        return fe__fail(err, fe_err_range, "edit: layer %d outside the model", layer);
    e = (fe_edit *)fe__calloc(m->alloc_user, sizeof *e);
    if (!e) return fe__fail(err, fe_err_nomem, "edit: out of memory");
    e->u = (float *)fe__calloc(m->alloc_user, sizeof(float) * 6 * (size_t)C);
    if (!e->u) { fe__free(m->alloc_user, e); return fe__fail(err, fe_err_nomem, "edit: out of memory"); }
    e->right = e->u + 4 * (size_t)C; e->vstar = e->right + C;
    e->layer = layer; e->C = C; e->alloc_user = m->alloc_user;
    *out = e;
    return fe_ok;
}

FACTEDIT_API fe_result fe_edit_set(fe_edit *e, const float *u, const float *vstar, const float *cur_input,
                                   const float *cur_output, fe_error *err) {
    int i, C = e->C;
    double den = 0.0;
    if (e->applied) return fe__fail(err, fe_err_arg, "edit: cannot change an applied edit (undo it first)");
    for (i = 0; i < 4 * C; i++) den += (double)cur_input[i] * u[i];
    if (!(fabs(den) > 1e-30))
        return fe__fail(err, fe_err_numeric, "edit: the key is orthogonal to u (cur_input . u = %g)", den);
    memcpy(e->u, u, sizeof(float) * 4 * (size_t)C);
    memcpy(e->vstar, vstar, sizeof(float) * (size_t)C);
    for (i = 0; i < C; i++) e->right[i] = (float)(((double)vstar[i] - cur_output[i]) / den);
    fe__ok(err);
    return fe_ok;
}

/* W (C, 4C) [out, in]: W[o][i] += right[o] u[i]  (HF Conv1D [in, out]: W += u right^T), in
   float, walked in the panel layout (panel rows are [i][o], o innermost). Every rank-one update
   of fcprojw goes through here, so replaying the same (right, u) gives the same bits. */
FACTEDIT__PRIV void fe__rank1_add(float *W, int C, const float *right, const float *u) {
    size_t p0, w, C4 = 4 * (size_t)C, i, o;
    for (p0 = 0; p0 < (size_t)C; p0 += FACTEDIT_WEIGHT_PANEL) {
        float *P = W + p0 * C4;
        w = FACTEDIT__PANEL_W((size_t)C, p0);
        for (i = 0; i < C4; i++)
            for (o = 0; o < w; o++) P[i * w + o] += right[p0 + o] * u[i];
    }
}

FACTEDIT_API fe_result fe_edit_apply(fe_model *m, fe_edit *e, fe_error *err) {
    int C = e->C;
    size_t n = (size_t)C * 4 * C;
    float *W;
    if (m->config.channels != C || e->layer >= m->config.num_layers)
        return fe__fail(err, fe_err_mismatch, "edit: made for another model");
    if (e->applied) return fe__fail(err, fe_err_arg, "edit: already applied");
    if (!e->saved) e->saved = (float *)fe__malloc(e->alloc_user, sizeof(float) * n);
    if (!e->saved) return fe__fail(err, fe_err_nomem, "edit: cannot save the %lu-float layer matrix", (unsigned long)n);
    W = m->params.fcprojw + (size_t)e->layer * n;
    memcpy(e->saved, W, sizeof(float) * n);
    fe__rank1_add(W, C, e->right, e->u);
    e->hash_after = fe__hash_words(FACTEDIT_FNV1A64_INIT, W, n);
    e->applied = 1;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_edit_undo(fe_model *m, fe_edit *e, fe_error *err) {
    size_t n = (size_t)e->C * 4 * e->C;
    float *W;
    if (!e->applied) return fe__fail(err, fe_err_arg, "edit: not applied");
    if (m->config.channels != e->C || e->layer >= m->config.num_layers)
        return fe__fail(err, fe_err_mismatch, "edit: made for another model");
    W = m->params.fcprojw + (size_t)e->layer * n;
    if (fe__hash_words(FACTEDIT_FNV1A64_INIT, W, n) != e->hash_after)
        return fe__fail(err, fe_err_arg,
                        "edit: layer %d changed since this edit was applied: undo later edits first (reverse order)",
                        e->layer);
    memcpy(W, e->saved, sizeof(float) * n);
    fe__free(e->alloc_user, e->saved);
    e->saved = NULL;
    e->applied = 0;
    fe__ok(err);
    return fe_ok;
}

/* ---- ROME end to end: one core, two entry points ---- */

/* What a ROME edit is computed from, however the caller built it (fe_rome_compute: token prefixes
   before a token prompt; fe_rome_compute_rows: text contexts, each encoded whole). */
typedef struct fe__rome_input {
    const fe_rome_prompt *rows;   /* context + prompt + target[:-1], lookup = the subject's last token */
    int n_rows;                   /* >= 1: k* is the mean key at their lookups, v* fits them */
    const int *target;            /* the new object's tokens */
    int n_target;
    const fe_rome_prompt *kl;     /* ROME's KL prompt, or NULL for no KL term */
    const fe_rome_prompt *bare;   /* the prompt without a context: cur_input, cur_output */
} fe__rome_input;

/* u = normalize((C + ridge I)^-1 k*), or k* / |k*| without a covariance; *cg_iters: fe_cov_solve's. */
FACTEDIT__PRIV fe_result fe__rome_key_direction(const fe_cov *cov, double ridge, const float *kstar, int dim,
                                                double *work, float *u, int *cg_iters, fe_error *err) {
    double norm = 0.0;
    int j;
    fe_result r;
    *cg_iters = 0;
    if (cov) {
        if ((r = fe_cov_solve(cov, ridge, kstar, work, 0, 0, cg_iters, err)) != fe_ok) return r;
    } else {
        for (j = 0; j < dim; j++) work[j] = kstar[j];
    }
    for (j = 0; j < dim; j++) norm += work[j] * work[j];
    norm = sqrt(norm);
    if (!(norm > 0) || !isfinite(norm))
        return fe__fail(err, fe_err_numeric, "rome: the key direction is zero or not finite");
    for (j = 0; j < dim; j++) u[j] = (float)(work[j] / norm);
    return fe_ok;
}

/* The one ROME pipeline: k* (from the value objective's clean run), u, v* = target_init + delta by
   the chosen solver, cur_input / cur_output at the bare prompt, then right. Not applied. */
FACTEDIT__PRIV fe_result fe__rome_edit(const fe_model *m, const fe__rome_input *in, const fe_rome_hparams *hp,
                                       const fe_cov *cov, fe_edit **out, fe_error *err) {
    int C = m->config.channels, C4 = 4 * C, i, cg_iters = 0;
    float *buf = NULL, *kstar, *u, *cur_in, *cur_out, *delta, *vstar;
    double *work = NULL;
    const float *target_init;
    fe_vobj_spec spec;
    fe_vobj *o = NULL;
    fe_edit *e = NULL;
    fe_rome_report rep;
    fe_result r;
    if (cov && cov->dim != C4)
        return fe__fail(err, fe_err_mismatch, "rome: covariance of dimension %d, keys have %d", cov->dim, C4);
    memset(&rep, 0, sizeof rep);
    buf = (float *)fe__malloc(m->alloc_user, sizeof(float) * (3 * (size_t)C4 + 3 * (size_t)C));
    work = (double *)fe__malloc(m->alloc_user, sizeof(double) * (size_t)C4);
    if (!buf || !work) {
        r = fe__fail(err, fe_err_nomem, "rome: out of memory");
        goto done;
    }
    kstar = buf;
    u = kstar + C4;
    cur_in = u + C4;
    cur_out = cur_in + C4;
    delta = cur_out + C;
    vstar = delta + C;
    /* the value objective's clean run also holds the keys: k* = their mean at the lookups */
    memset(&spec, 0, sizeof spec);
    spec.layer = hp->layer;
    spec.prompts = in->rows;
    spec.n_prompts = in->n_rows;
    spec.target = in->target;
    spec.n_target = in->n_target;
    spec.kl_prompts = in->kl;
    spec.n_kl = in->kl ? 1 : 0;
    spec.kl_factor = hp->kl_factor;
    spec.v_weight_decay = hp->v_weight_decay;
    if ((r = fe_vobj_new(&o, m, &spec, err)) != fe_ok) goto done;
    fe__vobj_kstar(o, kstar);
    if (hp->rrome) {   /* r-ROME: right from k* and the mean MLP output, read before the solver runs */
        memcpy(cur_in, kstar, sizeof(float) * (size_t)C4);
        fe__vobj_mean_mlp(o, cur_out);
    }
    if ((r = fe__rome_key_direction(cov, hp->cov_ridge, kstar, C4, work, u, &cg_iters, err)) != fe_ok) goto done;
    /* v* = target_init + delta */
    if ((r = fe_vobj_solve(o, hp, delta, &rep, err)) != fe_ok) goto done;
    rep.cg_iters = cg_iters;
    target_init = fe_vobj_target_init(o);
    for (i = 0; i < C; i++) vstar[i] = target_init[i] + delta[i];
    /* cur_input, cur_output at the bare prompt (ROME) or k* and W k* + b (r-ROME);
       right = (v* - cur_output) / (cur_input . u) */
    if (!hp->rrome && (r = fe_rome_keys(m, hp->layer, in->bare, 1, cur_in, cur_out, err)) != fe_ok) goto done;
    if ((r = fe_edit_new(&e, m, hp->layer, err)) != fe_ok) goto done;
    if ((r = fe_edit_set(e, u, vstar, cur_in, cur_out, err)) != fe_ok) goto done;
    e->report = rep;
    *out = e;
    e = NULL;
    fe__ok(err);
done:
    fe_edit_free(e);
    fe_vobj_free(o);
    fe__free(m->alloc_user, buf);
    fe__free(m->alloc_user, work);
    return r;
}

FACTEDIT_API fe_result fe_rome_compute(const fe_model *m, const fe_rome_request *q, const fe_rome_hparams *hp,
                                       const fe_cov *cov, fe_edit **out, fe_error *err) {
    int V = m->config.vocab_size, np, i, off;
    fe_rome_prompt *rows = NULL, bare, kl;
    fe__rome_input in;
    int *ids = NULL;
    fe_result r;
    size_t total = 0;
    *out = NULL;
    if (!q || !hp || !q->prompt || q->n_prompt < 1 || q->subject_last < 0 || q->subject_last >= q->n_prompt ||
        !q->target || q->n_target < 1)
        return fe__fail(err, fe_err_arg, "rome: bad request (empty prompt or target, or subject outside the prompt)");
    if (q->n_kl && (!q->kl_prompt || q->kl_lookup < 0 || q->kl_lookup >= q->n_kl))
        return fe__fail(err, fe_err_arg, "rome: bad KL prompt");
    for (i = 0; i < q->n_target; i++)
        if (q->target[i] < 0 || q->target[i] >= V)
            return fe__fail(err, fe_err_range, "rome: target id %d outside the vocabulary", q->target[i]);
    np = q->prefixes ? q->num_prefixes : 1;
    if (np < 1) return fe__fail(err, fe_err_arg, "rome: no context prefixes");
    for (i = 0; i < np; i++) {
        int pl = q->prefixes ? q->n_prefixes[i] : 0;
        if (pl < 0 || (pl && !q->prefixes[i])) return fe__fail(err, fe_err_arg, "rome: bad prefix %d", i);
        total += (size_t)(pl + q->n_prompt + q->n_target);
    }
    ids = (int *)fe__malloc(m->alloc_user, sizeof(int) * total);
    rows = (fe_rome_prompt *)fe__malloc(m->alloc_user, sizeof(fe_rome_prompt) * (size_t)np);
    if (!ids || !rows) {
        r = fe__fail(err, fe_err_nomem, "rome: out of memory");
        goto done;
    }
    /* rows: prefix_i + prompt + target[:-1], the lookup at the subject's last token */
    for (i = 0, off = 0; i < np; i++) {
        int pl = q->prefixes ? q->n_prefixes[i] : 0;
        if (pl) memcpy(ids + off, q->prefixes[i], sizeof(int) * (size_t)pl);
        memcpy(ids + off + pl, q->prompt, sizeof(int) * (size_t)q->n_prompt);
        memcpy(ids + off + pl + q->n_prompt, q->target, sizeof(int) * (size_t)(q->n_target - 1));
        rows[i].ids = ids + off;
        rows[i].n = pl + q->n_prompt + q->n_target - 1;
        rows[i].lookup = pl + q->subject_last;
        off += pl + q->n_prompt + q->n_target;
    }
    bare.ids = q->prompt;
    bare.n = q->n_prompt;
    bare.lookup = q->subject_last;
    kl.ids = q->kl_prompt;
    kl.n = q->n_kl;
    kl.lookup = q->kl_lookup;
    in.rows = rows;
    in.n_rows = np;
    in.target = q->target;
    in.n_target = q->n_target;
    in.kl = q->n_kl ? &kl : NULL;
    in.bare = &bare;
    r = fe__rome_edit(m, &in, hp, cov, out, err);
done:
    fe__free(m->alloc_user, ids);
    fe__free(m->alloc_user, rows);
    return r;
}

/* ======================================================== >>impl-trace ======================== */

FACTEDIT_API fe_trace_opts fe_trace_opts_default(void) {
    fe_trace_opts o;
    memset(&o, 0, sizeof o);
    o.samples = 10; o.window = 10; o.answer = -1;
    return o;
}

FACTEDIT_API void fe_trace_result_free(fe_trace_result *r) {
    int k;
    if (!r) return;
    for (k = 0; k < 3; k++) fe__free(r->alloc_user, r->scores[k]);
    memset(r, 0, sizeof *r);
}

FACTEDIT_API fe_result fe_embedding_std(const fe_model *m, const int *tokens, size_t n, double *std, fe_error *err) {
    size_t C, i, c, N;
    double mean = 0.0, ss = 0.0;
    if (!m || !tokens || !std) return fe__fail(err, fe_err_arg, "embedding_std: NULL argument");
    C = (size_t)m->config.channels;
    if (!fe__mul(n, C, &N) || N < 2)
        return fe__fail(err, fe_err_arg, "embedding_std: need at least 2 numbers, got %lu tokens of width %lu",
                        (unsigned long)n, (unsigned long)C);
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->config.vocab_size)
            return fe__fail(err, fe_err_range, "embedding_std: token id %d (index %lu) outside the vocabulary [0, %d)",
                            tokens[i], (unsigned long)i, m->config.vocab_size);
    /* two passes in double: the mean first, then the squared deviations (no cancellation) */
    for (i = 0; i < n; i++) for (c = 0; c < C; c++) mean += fe__wte_at(m, tokens[i], (int)c);
    mean /= (double)N;
    for (i = 0; i < n; i++) for (c = 0; c < C; c++) { double d = fe__wte_at(m, tokens[i], (int)c) - mean; ss += d * d; }
    *std = sqrt(ss / (double)(N - 1));
    fe__ok(err);
    return fe_ok;
}

/* What a hook does during a traced run. All writes target position t of the computed rows. */
typedef struct fe__trace_hook {
    const float *noise;       /* [B][s1 - s0][C], added to site embed at the subject's tokens */
    int s0, s1, C;
    fe_state *clean;          /* clean run, B = 1: source of restored values */
    fe_state *cor;            /* corrupted run, B = samples: source of frozen values (same row) */
    int t;                    /* the restored token */
    fe_site restore;          /* site set to its clean value at (layer in [lo, hi), t); fe_site_count: none */
    int lo, hi;
    fe_site freeze;           /* site set to its corrupted value at (every layer, t); fe_site_count: none */
} fe__trace_hook;

FACTEDIT__PRIV void fe__trace_hook_fn(void *user, fe_site site, int layer, int b, int pos0, int npos, float *rows,
                                      int width) {
    fe__trace_hook *h = (fe__trace_hook *)user;
    int p;
    if (site == fe_site_embed) {
        /* corruption: noise on the wte rows of the subject, positions [max(pos0,s0), min(pos0+npos,s1)) */
        if (!h->noise) return;
        for (p = pos0 > h->s0 ? pos0 : h->s0; p < pos0 + npos && p < h->s1; p++) {
            const float *z = h->noise + ((size_t)b * (size_t)(h->s1 - h->s0) + (size_t)(p - h->s0)) * (size_t)h->C;
            float *x = rows + (size_t)(p - pos0) * (size_t)width;
            int c;
            for (c = 0; c < width; c++) x[c] += z[c];
        }
        return;
    }
    if (h->t < pos0 || h->t >= pos0 + npos) return;
    if (site == h->restore && layer >= h->lo && layer < h->hi)
        memcpy(rows + (size_t)(h->t - pos0) * (size_t)width, fe_state_act(h->clean, site, layer, 0, h->t),
               sizeof(float) * (size_t)width);
    if (site == h->freeze)
        memcpy(rows + (size_t)(h->t - pos0) * (size_t)width, fe_state_act(h->cor, site, layer, b, h->t),
               sizeof(float) * (size_t)width);
}

/* Probability of token a under softmax(z), z = V logits (max-shifted, summed in double). */
FACTEDIT__PRIV double fe__trace_prob(const float *z, int V, int a) {
    int v;
    float mx = z[0];
    double sum = 0.0;
    for (v = 1; v < V; v++) if (z[v] > mx) mx = z[v];
    for (v = 0; v < V; v++) sum += (double)expf(z[v] - mx);
    return (double)expf(z[a] - mx) / sum;
}

/* Copies every row's site values at positions [p0, p1) of one layer from src to dst (same shapes). */
FACTEDIT__PRIV void fe__trace_copy(fe_state *dst, fe_state *src, fe_site site, int layer, int p0, int p1) {
    int b, w = fe_site_width(src->model, site);
    if (p1 <= p0) return;
    for (b = 0; b < src->B; b++)
        memcpy(fe_state_act(dst, site, layer, b, p0), fe_state_act(src, site, layer, b, p0),
               sizeof(float) * (size_t)w * (size_t)(p1 - p0));
}

/* dst becomes a copy of src (same model, batch and capacity): every activation and the KV cache. */
FACTEDIT__PRIV void fe__state_copy(fe_state *dst, const fe_state *src) {
    memcpy(dst->blob, src->blob, sizeof(float) * src->blob_floats);
    dst->last_pos = src->last_pos; dst->all_logits = src->all_logits;
    dst->logits_pos0 = src->logits_pos0; dst->logits_n = src->logits_n;
}

/* Everything a trace needs, shared by the grid and the severed trace. */
typedef struct fe__trace {
    const fe_model *m;
    const int *tokens;
    int T, L, C, V, S, s0, s1, answer;
    fe_state *clean, *cor, *work;   /* B = 1, S, S */
    float *noise;                   /* [S][s1 - s0][C] */
    int *rowtok;                    /* [S][T]: the prompt once per row, fe_forward's (B, n) layout */
    int *coltok;                    /* [S]: token t once per row, for a one-position run */
    double high, low;
    /* batched logits of the last position: rows are queued, then ln_f + one matmul over wte */
    int cap, nq;                    /* rows queued / capacity (a multiple of S) */
    float *hq, *lnq, *zq;           /* [cap][C] final-layer block outputs, [cap][C] after ln_f, [cap][V] */
    float **dst;                    /* [cap / S]: where each queued restoration's score goes */
    double *pr;                     /* [cap]: answer probability of each queued row */
    fe_error *err;
} fe__trace;

FACTEDIT__PRIV void fe__trace_free(fe__trace *x) {
    void *u = x->m->alloc_user;
    fe_state_free(x->clean); fe_state_free(x->cor); fe_state_free(x->work);
    fe__free(u, x->noise); fe__free(u, x->rowtok);
    fe__free(u, x->hq);
    fe__free(u, x->lnq);
    fe__free(u, x->zq);
    fe__free(u, (void *)x->dst);
    fe__free(u, x->pr);
    fe__free(u, x->coltok);
}

/* The hook of one run: the corruption, and what it restores (clean values of `restore` in layers
   [lo, hi) at token t) and freezes (corrupted values of `freeze` in every layer at t). */
FACTEDIT__PRIV void fe__trace_hook_init(fe__trace_hook *h, const fe__trace *x, int t, fe_site restore, int lo, int hi,
                                        fe_site freeze) {
    memset(h, 0, sizeof *h);
    h->noise = x->noise;
    h->s0 = x->s0;
    h->s1 = x->s1;
    h->C = x->C;
    h->clean = x->clean;
    h->cor = x->cor;
    h->t = t;
    h->restore = restore;
    h->lo = lo;
    h->hi = hi;
    h->freeze = freeze;
}

/* Scores the queued restorations: ln_f and the head for all queued rows at once (one pass over wte
   instead of one per row; fe_forward's numbers up to float rounding), then the mean answer
   probability over each restoration's S rows. */
FACTEDIT__PRIV void fe__trace_flush(fe__trace *x) {
    const fe_params *P = &x->m->params;
    int n = x->nq, i, r;
    double *pr = x->pr;
    if (!n) return;
    fe__layernorm(x->lnq, NULL, NULL, x->hq, P->lnfw, P->lnfb, n, x->C);
    fe__matmul_w(x->zq, (size_t)x->V, x->lnq, fe__W(x->m, fe_tensor_wte, 0), x->m->config.padded_vocab_size, NULL, n,
                 x->C, x->V);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)n * (size_t)x->V > 200000)
#endif
    for (i = 0; i < n; i++) pr[i] = fe__trace_prob(x->zq + (size_t)i * (size_t)x->V, x->V, x->answer);
    for (r = 0; r < n / x->S; r++) {
        double s = 0.0;
        for (i = 0; i < x->S; i++) s += pr[r * x->S + i];
        *x->dst[r] = (float)(s / x->S);
    }
    x->nq = 0;
}

/* Queues the final-layer output at the last position of every work row; the score goes to *dst. */
FACTEDIT__PRIV void fe__trace_queue(fe__trace *x, float *dst) {
    int b;
    if (x->nq + x->S > x->cap) fe__trace_flush(x);
    for (b = 0; b < x->S; b++)
        memcpy(x->hq + (size_t)(x->nq + b) * x->C, fe_state_act(x->work, fe_site_resid, x->L - 1, b, x->T - 1),
               sizeof(float) * (size_t)x->C);
    x->dst[x->nq / x->S] = dst;
    x->nq += x->S;
}

/* Validation, the clean and corrupted runs, and the buffers. */
FACTEDIT__PRIV fe_result fe__trace_setup(fe__trace *x, const fe_model *m, const int *tokens, int T, size_t sb,
                                         size_t se, const fe_trace_opts *o, int need_window, fe_error *err) {
    void *u;
    size_t span, nn, bytes;
    fe_forward_opts fo;
    fe__trace_hook h;
    fe_result r;
    int i, b;
    memset(x, 0, sizeof *x);
    if (!m || !tokens || !o) return fe__fail(err, fe_err_arg, "trace: NULL model, tokens or options");
    x->m = m; x->tokens = tokens; x->err = err;
    u = m->alloc_user;
    x->T = T;
    x->L = m->config.num_layers;
    x->C = m->config.channels;
    x->V = m->config.vocab_size;
    x->S = o->samples;
    if (T < 1) return fe__fail(err, fe_err_range, "trace: empty prompt (%d tokens)", T);
    if (T > m->config.max_seq_len)
        return fe__fail(err, fe_err_range, "trace: the prompt's %d tokens exceed the model's context of %d", T,
                        m->config.max_seq_len);
    for (i = 0; i < T; i++)
        if (tokens[i] < 0 || tokens[i] >= x->V)
            return fe__fail(err, fe_err_range, "trace: token id %d at position %d outside the vocabulary [0, %d)",
                            tokens[i], i, x->V);
    if (sb >= se)
        return fe__fail(err, fe_err_arg, "trace: empty subject span [%lu, %lu)", (unsigned long)sb, (unsigned long)se);
    if (se > (size_t)T)
        return fe__fail(err, fe_err_range, "trace: subject span [%lu, %lu) outside the prompt's %d tokens",
                        (unsigned long)sb, (unsigned long)se, T);
    if (o->samples < 1)
        return fe__fail(err, fe_err_arg, "trace: samples = %d, need >= 1 corrupted runs (ROME uses 10)", o->samples);
    if (need_window && o->window < 1)
        return fe__fail(err, fe_err_arg, "trace: window = %d, need >= 1 layers (ROME uses 10)", o->window);
    if (!o->explicit_noise && !(o->noise > 0.0f && o->noise < INFINITY))
        return fe__fail(err, fe_err_arg,
                        "trace: noise std %g must be positive and finite (ROME: 3 * fe_embedding_std), "
                        "or give explicit_noise",
                        (double)o->noise);
    if (o->answer >= x->V)
        return fe__fail(err, fe_err_range, "trace: answer token %d outside the vocabulary [0, %d)", o->answer, x->V);
    x->s0 = (int)sb; x->s1 = (int)se;
    span = se - sb;
    if (!fe__mul3((size_t)x->S, span, (size_t)x->C, &nn) || !fe__mul(nn, sizeof(float), &bytes))
        return fe__fail(err, fe_err_limit, "trace: noise size overflow");
    x->noise = (float *)fe__malloc(u, bytes);
    x->rowtok = (int *)fe__malloc(u, sizeof(int) * (size_t)x->S * (size_t)T);
    x->coltok = (int *)fe__malloc(u, sizeof(int) * (size_t)x->S);
    if (!x->noise || !x->rowtok || !x->coltok) {
        fe__trace_free(x);
        return fe__fail(err, fe_err_nomem, "trace: out of memory for the noise");
    }
    if (o->explicit_noise) memcpy(x->noise, o->explicit_noise, bytes);
    else {
        fe_rng local, *g = o->rng;
        size_t k;
        if (!g) { fe_rng_seed(&local, o->seed); g = &local; }
        for (k = 0; k < nn; k++) x->noise[k] = o->noise * (float)fe_rng_normal(g);
    }
    for (b = 0; b < x->S; b++) memcpy(x->rowtok + (size_t)b * T, tokens, sizeof(int) * (size_t)T);
    if ((r = fe_state_new(&x->clean, m, 1, T, 0, err)) != fe_ok ||
        (r = fe_state_new(&x->cor, m, x->S, T, 0, err)) != fe_ok ||
        (r = fe_state_new(&x->work, m, x->S, T, 0, err)) != fe_ok) {
        fe__trace_free(x);
        return r;
    }
    /* clean run: answer and high */
    memset(&fo, 0, sizeof fo);
    if ((r = fe_forward(m, x->clean, tokens, T, &fo, err)) != fe_ok) { fe__trace_free(x); return r; }
    x->answer = o->answer >= 0 ? o->answer : fe__argmax(fe_state_logits(x->clean, 0, -1), x->V);
    x->high = fe__trace_prob(fe_state_logits(x->clean, 0, -1), x->V, x->answer);
    /* corrupted rows, nothing restored: low */
    fe__trace_hook_init(&h, x, -1, fe_site_count, 0, 0, fe_site_count);
    fo.hook = fe__trace_hook_fn; fo.hook_user = &h;
    if ((r = fe_forward(m, x->cor, x->rowtok, T, &fo, err)) != fe_ok) { fe__trace_free(x); return r; }
    x->low = 0.0;
    for (b = 0; b < x->S; b++) x->low += fe__trace_prob(fe_state_logits(x->cor, b, -1), x->V, x->answer);
    x->low /= x->S;
    fe__state_copy(x->work, x->cor);
    /* logits queue: whole restorations, about 64 rows (one pass over wte serves them all) */
    x->cap = (64 / x->S > 1 ? 64 / x->S : 1) * x->S;
    x->hq = (float *)fe__malloc(u, sizeof(float) * (size_t)x->cap * (size_t)x->C);
    x->lnq = (float *)fe__malloc(u, sizeof(float) * (size_t)x->cap * (size_t)x->C);
    x->zq = (float *)fe__malloc(u, sizeof(float) * (size_t)x->cap * (size_t)x->V);
    x->dst = (float **)fe__malloc(u, sizeof(float *) * (size_t)(x->cap / x->S));
    x->pr = (double *)fe__malloc(u, sizeof(double) * (size_t)x->cap);
    if (!x->hq || !x->lnq || !x->zq || !x->dst || !x->pr) {
        fe__trace_free(x);
        return fe__fail(err, fe_err_nomem, "trace: out of memory for the logits");
    }
    return fe_ok;
}

/* One restoration, fast path. The work state holds the corrupted rows except at positions >= t in
   layers that earlier restorations at tokens >= t recomputed; callers visit t in decreasing order,
   so the K/V cache of positions < t is always the corrupted one. What a restoration needs below the
   first layer it recomputes is copied from the corrupted state here.
   restore/lo/hi: site and layers put back at t (fe_site_resid: lo = the layer, hi = lo + 1);
   freeze: the site held at its corrupted value at t in every layer (fe_site_count: none).
   resume > 0: the work state holds, at positions >= t, the previous restoration's values, which
   restored the same site at t in layers [lo, resume) (same lo, a smaller window): identical to this
   one's below layer `resume`, so only layers >= resume are recomputed (nothing if resume = L).
   Cannot fail (everything is allocated); returns fe_result to share the call site with plain. */
FACTEDIT__PRIV fe_result fe__trace_fast(fe__trace *x, int t, fe_site restore, int lo, int hi, fe_site freeze,
                                        int resume, float *dst) {
    fe_forward_opts fo;
    fe__trace_hook h;
    int from, b, C = x->C;
    fe__trace_hook_init(&h, x, t, restore, lo, hi, freeze);
    memset(&fo, 0, sizeof fo);
    fo.no_logits = 1; fo.hook = fe__trace_hook_fn; fo.hook_user = &h;
    if (resume > 0) from = resume;
    else if (restore == fe_site_resid) {
        /* block lo's output at [t, T) is the corrupted one except at t: start above it */
        fe__trace_copy(x->work, x->cor, fe_site_resid, lo, t, x->T);
        for (b = 0; b < x->S; b++)
            memcpy(fe_state_act(x->work, fe_site_resid, lo, b, t), fe_state_act(x->clean, fe_site_resid, lo, 0, t),
                   sizeof(float) * (size_t)C);
        from = lo + 1;
    } else if (restore == fe_site_mlp) {
        /* in layer lo only position t changes: block output = corrupted resid_mid + clean MLP output,
           the sum fe_forward forms there; start at lo + 1 */
        fe__trace_copy(x->work, x->cor, fe_site_resid, lo, t, x->T);
        for (b = 0; b < x->S; b++) {
            size_t row = (size_t)b * (size_t)x->T + (size_t)t;
            fe__residual(fe_state_act(x->work, fe_site_resid, lo, b, t), x->cor->layers[lo].resid_mid + row * C,
                         fe_state_act(x->clean, fe_site_mlp, lo, 0, t), (size_t)C);
        }
        from = lo + 1;
    } else {
        /* attention: in layer lo only position t changes; compute that one position (n = 1), the
           other positions of layer lo keep their corrupted outputs */
        if (lo > 0) fe__trace_copy(x->work, x->cor, fe_site_resid, lo - 1, t, t + 1);
        for (b = 0; b < x->S; b++) x->coltok[b] = x->tokens[t];   /* read only when lo == 0 */
        fo.pos0 = t; fo.layer0 = lo; fo.last_layer = lo + 1;
        fe__forward_rows(x->m, x->work, x->coltok, 1, &fo, 0, NULL, NULL, x->work->scratch);
        fe__trace_copy(x->work, x->cor, fe_site_resid, lo, t + 1, x->T);
        from = lo + 1;
    }
    if (from < x->L) {
        fo.pos0 = t; fo.layer0 = from; fo.last_layer = 0;
        fe__forward_rows(x->m, x->work, NULL, x->T - t, &fo, 1, NULL, NULL, x->work->scratch);
    }
    fe__trace_queue(x, dst);
    return fe_ok;
}

/* One restoration, plain path: a full forward of the corrupted rows with the restoring hook. */
FACTEDIT__PRIV fe_result fe__trace_plain(fe__trace *x, int t, fe_site restore, int lo, int hi, fe_site freeze,
                                         float *dst) {
    fe_forward_opts fo;
    fe__trace_hook h;
    fe_result r;
    double s = 0.0;
    int b;
    fe__trace_hook_init(&h, x, t, restore, lo, hi, freeze);
    memset(&fo, 0, sizeof fo);
    fo.hook = fe__trace_hook_fn; fo.hook_user = &h;
    if ((r = fe_forward(x->m, x->work, x->rowtok, x->T, &fo, x->err)) != fe_ok) return r;
    for (b = 0; b < x->S; b++) s += fe__trace_prob(fe_state_logits(x->work, b, -1), x->V, x->answer);
    *dst = (float)(s / x->S);
    return fe_ok;
}

FACTEDIT__PRIV fe_result fe__trace_alloc_scores(fe_trace_result *out, const fe__trace *x, unsigned mask, size_t n,
                                                fe_error *err) {
    int k;
    for (k = 0; k < 3; k++)
        if (mask & (1u << k)) {
            out->scores[k] = (float *)fe__malloc(x->m->alloc_user, sizeof(float) * n);
            if (!out->scores[k]) return fe__fail(err, fe_err_nomem, "trace: out of memory for the scores");
        }
    return fe_ok;
}

FACTEDIT__PRIV void fe__trace_fill_result(fe_trace_result *out, const fe__trace *x, const fe_trace_opts *o) {
    out->T = x->T;
    out->L = x->L;
    out->subject_begin = (size_t)x->s0;
    out->subject_end = (size_t)x->s1;
    out->answer = x->answer; out->samples = x->S; out->window = o->window;
    out->high = x->high; out->low = x->low; out->alloc_user = x->m->alloc_user;
}

/* How fe_trace and fe_trace_sever end: on success the queued restorations are scored; the runs are
   freed either way, and on failure the result too (left zeroed). */
FACTEDIT__PRIV fe_result fe__trace_end(fe__trace *x, fe_trace_result *out, fe_result r, fe_error *err) {
    if (r == fe_ok) fe__trace_flush(x);
    fe__trace_free(x);
    if (r != fe_ok) fe_trace_result_free(out);
    else fe__ok(err);
    return r;
}

FACTEDIT_API fe_result fe_trace(const fe_model *m, const int *tokens, int T, size_t subject_begin, size_t subject_end,
                                unsigned kinds, const fe_trace_opts *opts, fe_trace_result *out, fe_error *err) {
    static const fe_site site_of[3] = { fe_site_resid, fe_site_mlp, fe_site_attn };
    fe__trace x;
    fe_result r;
    int t, l, k;
    if (!out) return fe__fail(err, fe_err_arg, "trace: NULL result");
    memset(out, 0, sizeof *out);
    if (kinds == 0 || (kinds & ~(unsigned)FACTEDIT_TRACE_ALL))
        return fe__fail(err, fe_err_arg, "trace: kinds mask 0x%x: give FACTEDIT_TRACE_HIDDEN, _MLP and/or _ATTN",
                        kinds);
    if ((r = fe__trace_setup(&x, m, tokens, T, subject_begin, subject_end, opts, 1, err)) != fe_ok) return r;
    fe__trace_fill_result(out, &x, opts);
    out->token = -1;
    if ((r = fe__trace_alloc_scores(out, &x, kinds, (size_t)T * (size_t)x.L, err)) != fe_ok) goto done;
    /* tokens in decreasing order: a fast restoration at t leaves positions < t untouched */
    for (t = T - 1; t >= 0; t--)
        for (k = 0; k < 3; k++) {
            int prev_lo = -1, prev_hi = -1;
            if (!(kinds & (1u << k))) continue;
            for (l = 0; l < x.L; l++) {
                int w = opts->window, lo = k == fe_trace_hidden ? l : (l - w / 2 > 0 ? l - w / 2 : 0);
                int hi = k == fe_trace_hidden ? l + 1 : (l + (w + 1) / 2 < x.L ? l + (w + 1) / 2 : x.L);
                float *dst = out->scores[k] + (size_t)t * x.L + l;
                /* windows [lo, hi) of consecutive l that start at the same layer (l <= w/2) nest:
                   the previous run's layers below prev_hi are this one's too */
                int resume = k != fe_trace_hidden && lo == prev_lo && hi >= prev_hi ? prev_hi : 0;
                if (opts->plain) r = fe__trace_plain(&x, t, site_of[k], lo, hi, fe_site_count, dst);
                else if (t < x.s0) { *dst = (float)x.low; r = fe_ok; }   /* clean == corrupted before the subject */
                else r = fe__trace_fast(&x, t, site_of[k], lo, hi, fe_site_count, resume, dst);
                if (r) goto done;
                prev_lo = lo; prev_hi = hi;
            }
        }
done:
    return fe__trace_end(&x, out, r, err);
}

FACTEDIT_API fe_result fe_trace_sever(const fe_model *m, const int *tokens, int T, size_t subject_begin,
                                      size_t subject_end, int token, unsigned severs, const fe_trace_opts *opts,
                                      fe_trace_result *out, fe_error *err) {
    static const fe_site freeze_of[3] = { fe_site_count, fe_site_mlp, fe_site_attn };
    fe__trace x;
    fe_result r;
    int l, k, t;
    if (!out) return fe__fail(err, fe_err_arg, "trace_sever: NULL result");
    memset(out, 0, sizeof *out);
    if (severs == 0 || (severs & ~(unsigned)FACTEDIT_SEVER_ALL))
        return fe__fail(err, fe_err_arg, "trace_sever: severs mask 0x%x: give FACTEDIT_SEVER_NONE, _MLP and/or _ATTN",
                        severs);
    if ((r = fe__trace_setup(&x, m, tokens, T, subject_begin, subject_end, opts, 0, err)) != fe_ok) return r;
    t = token < 0 ? x.s1 - 1 : token;
    if (t >= T) {
        fe__trace_free(&x);
        return fe__fail(err, fe_err_range, "trace_sever: token %d outside the prompt's %d tokens", token, T);
    }
    fe__trace_fill_result(out, &x, opts);
    out->token = t; out->window = 0;
    if ((r = fe__trace_alloc_scores(out, &x, severs, (size_t)x.L, err)) != fe_ok) goto done;
    for (k = 0; k < 3; k++) {
        if (!(severs & (1u << k))) continue;
        for (l = 0; l < x.L; l++) {
            float *dst = out->scores[k] + l;
            r = opts->plain ? fe__trace_plain(&x, t, fe_site_resid, l, l + 1, freeze_of[k], dst)
                            : fe__trace_fast(&x, t, fe_site_resid, l, l + 1, freeze_of[k], 0, dst);
            if (r) goto done;
        }
    }
done:
    return fe__trace_end(&x, out, r, err);
}

/* ======================================================== >>impl-rome-glue ==================== */

/* ---- small helpers ---- */

/* Number of "{}" in s; *first = offset of the first one. */
FACTEDIT__PRIV int fe__count_slots(const char *s, size_t *first) {
    int k = 0;
    const char *p = s;
    while ((p = strstr(p, "{}")) != NULL) { if (!k && first) *first = (size_t)(p - s); k++; p += 2; }
    return k;
}

/* tmpl (one "{}" at fill) with fill replaced by x. */
FACTEDIT__PRIV char *fe__fill_slot(void *u, const char *tmpl, size_t fill, const char *x) {
    size_t lt = strlen(tmpl), lx = strlen(x), n;
    char *p;
    if (!fe__add(lt - 2, lx, &n)) return NULL;
    p = (char *)fe__malloc(u, n + 1);
    if (!p) return NULL;
    memcpy(p, tmpl, fill);
    memcpy(p + fill, x, lx);
    memcpy(p + fill + lx, tmpl + fill + 2, lt - fill - 2);
    p[n] = 0;
    return p;
}

/* log-sum-exp with every exponential in double (fe__logsumexp takes them in float): the
   CounterFact NLLs, whose reference values were computed this way. */
FACTEDIT__PRIV double fe__logsumexp_f64(const float *z, int V) {
    double mx = -HUGE_VAL, s = 0.0;
    int i;
    for (i = 0; i < V; i++) if (z[i] > mx) mx = z[i];
    for (i = 0; i < V; i++) s += exp((double)z[i] - mx);
    return mx + log(s);
}

/* ---- context templates ---- */

FACTEDIT_API void fe_templates_free(fe_templates *t) {
    int i;
    if (!t) return;
    for (i = 0; t->text && i < t->n; i++) fe__free(t->alloc_user, t->text[i]);
    fe__free(t->alloc_user, t->text);
    fe__free(t->alloc_user, t);
}

FACTEDIT__PRIV fe_result fe__templates_alloc(fe_templates **out, int n, void *u, fe_error *err) {
    fe_templates *t = (fe_templates *)fe__calloc(u, sizeof *t);
    if (!t || !(t->text = (char **)fe__calloc(u, sizeof(char *) * (size_t)(n > 0 ? n : 1)))) {
        fe__free(u, t);
        return fe__fail(err, fe_err_nomem, "templates: out of memory");
    }
    t->alloc_user = u;
    *out = t;
    return fe_ok;
}

FACTEDIT_API fe_result fe_templates_from_list(fe_templates **out, const char *const *texts, int n, void *alloc_user,
                                              fe_error *err) {
    fe_templates *t = NULL;
    fe_result r;
    int i;
    if (!out) return fe__fail(err, fe_err_arg, "templates: NULL argument");
    *out = NULL;
    if (n < 1 || !texts) return fe__fail(err, fe_err_arg, "templates: need at least one template");
    for (i = 0; i < n; i++) {
        int k;
        if (!texts[i]) return fe__fail(err, fe_err_arg, "templates: template %d is NULL", i);
        if ((k = fe__count_slots(texts[i], NULL)) != 1)
            return fe__fail(err, fe_err_arg, "templates: template %d (\"%.60s\") has %d \"{}\"; each needs exactly one",
                            i, texts[i], k);
    }
    if ((r = fe__templates_alloc(&t, n, alloc_user, err)) != fe_ok) return r;
    for (i = 0; i < n; i++) {
        if (!(t->text[i] = fe__strndup(alloc_user, texts[i], strlen(texts[i])))) {
            fe_templates_free(t);
            return fe__fail(err, fe_err_nomem, "templates: out of memory");
        }
        t->n = i + 1;
    }
    *out = t;
    fe__ok(err);
    return fe_ok;
}

/* ROME's clean-up of a decoded sample: "\n\n" -> " ", "<|endoftext|>" removed, braces removed,
   then ". {}" appended. In place on a buffer with room for 4 more bytes. */
FACTEDIT__PRIV void fe__template_clean(char *s) {
    static const char eot[] = "<|endoftext|>";
    size_t i, j, n = strlen(s), le = sizeof eot - 1;
    for (i = j = 0; i < n; ) {
        if (s[i] == '\n' && i + 1 < n && s[i + 1] == '\n') { s[j++] = ' '; i += 2; }
        else s[j++] = s[i++];
    }
    n = j;
    for (i = j = 0; i < n; ) {
        if (n - i >= le && !memcmp(s + i, eot, le)) i += le;
        else s[j++] = s[i++];
    }
    n = j;
    for (i = j = 0; i < n; i++) if (s[i] != '{' && s[i] != '}') s[j++] = s[i];
    memcpy(s + j, ". {}", 5);
}

FACTEDIT_API fe_result fe_templates_generate(fe_templates **out, const fe_model *m, const fe_vocab *v,
                                             const int *lengths, const int *counts, int groups, fe_rng *rng,
                                             fe_error *err) {
    fe_templates *t = NULL;
    fe_sample_opts so;
    fe_result r;
    int g, i, total = 1, eot, maxT, *ids = NULL;
    if (!out) return fe__fail(err, fe_err_arg, "templates: NULL argument");
    *out = NULL;
    if (!m || !v || !rng || groups < 0 || (groups > 0 && (!lengths || !counts)))
        return fe__fail(err, fe_err_arg, "templates: NULL argument");
    eot = fe_vocab_eot(v);
    if (eot < 0)
        return fe__fail(err, fe_err_arg,
                        "templates: the vocabulary has no <|endoftext|> token to start the samples from");
    if (eot >= m->config.vocab_size)
        return fe__fail(err, fe_err_mismatch, "templates: <|endoftext|> is id %d, outside the model's vocabulary of %d",
                        eot, m->config.vocab_size);
    for (g = 0; g < groups; g++) {
        if (lengths[g] < 1 || counts[g] < 0 || counts[g] > 100000)
            return fe__fail(err, fe_err_arg,
                            "templates: group %d: length %d and count %d (want length >= 1, count 0..100000)", g,
                            lengths[g], counts[g]);
        total += counts[g];
    }
    maxT = m->config.max_seq_len;
    if ((r = fe__templates_alloc(&t, total, m->alloc_user, err)) != fe_ok) return r;
    if (!(t->text[0] = fe__strndup(m->alloc_user, "{}", 2))) {
        r = fe__fail(err, fe_err_nomem, "templates: out of memory");
        goto fail;
    }
    t->n = 1;
    memset(&so, 0, sizeof so);
    so.temperature = 1.0f; so.top_k = 5;
    for (g = 0; g < groups; g++) {
        int n_new = lengths[g] - 1;
        if (n_new > maxT - 1) n_new = maxT - 1;
        fe__free(m->alloc_user, ids);
        if (!(ids = (int *)fe__malloc(m->alloc_user, sizeof(int) * (size_t)(n_new + 1)))) {
            r = fe__fail(err, fe_err_nomem, "templates: out of memory");
            goto fail;
        }
        for (i = 0; i < counts[g]; i++) {
            char *text = NULL, *s;
            size_t len = 0;
            ids[0] = eot;
            if (n_new > 0 && (r = fe_generate(m, ids, 1, n_new, &so, rng, ids + 1, err)) != fe_ok) goto fail;
            if ((r = fe_decode(v, ids, (size_t)n_new + 1, &text, &len, err)) != fe_ok) goto fail;
            s = (char *)fe__malloc(m->alloc_user, len + 5);
            if (s) { memcpy(s, text, len + 1); fe__template_clean(s); }
            fe_text_free(v, text);
            if (!s) { r = fe__fail(err, fe_err_nomem, "templates: out of memory"); goto fail; }
            t->text[t->n++] = s;
        }
    }
    fe__free(m->alloc_user, ids);
    *out = t;
    fe__ok(err);
    return fe_ok;
fail:
    fe__free(m->alloc_user, ids);
    fe_templates_free(t);
    return r;
}

FACTEDIT_API fe_result fe_templates_rome(fe_templates **out, const fe_model *m, const fe_vocab *v, fe_rng *rng,
                                         fe_error *err) {
    static const int lengths[2] = {5, 10}, counts[2] = {10, 10};
    return fe_templates_generate(out, m, v, lengths, counts, 2, rng, err);
}

/* ---- text requests ---- */

FACTEDIT_API void fe_rome_rows_free(fe_rome_rows *r) {
    int i;
    if (!r) return;
    for (i = 0; i < r->fe__nbufs; i++) fe__free(r->alloc_user, r->fe__bufs[i]);
    fe__free(r->alloc_user, r->fe__bufs);
    fe__free(r->alloc_user, r->keys);
    fe__free(r->alloc_user, r->target);
    fe__free(r->alloc_user, r->text);
    fe__free(r->alloc_user, r->target_text);
    fe__free(r->alloc_user, r->template_text);
    fe__free(r->alloc_user, r);
}

/* Encodes text; *lookup = the token holding byte `byte` (a byte of the text). The ids are copied
   into a buffer with `extra` more slots, owned by r. */
FACTEDIT__PRIV fe_result fe__rows_encode(fe_rome_rows *r, const fe_model *m, const fe_vocab *v, const char *text,
                                         size_t byte, int extra, int **ids_out, int *n_out, int *lookup,
                                         fe_error *err) {
    int *ids = NULL, *buf;
    size_t n = 0, i, at = 0;
    fe_result res = fe_encode(v, text, strlen(text), &ids, &n, err);
    if (res) return res;
    if (n > (size_t)FACTEDIT_MAX_CONTEXT) {
        fe_ids_free(v, ids);
        return fe__fail(err, fe_err_arg, "request: text of %lu tokens is far longer than the model's context of %d",
                        (unsigned long)n, m->config.max_seq_len);
    }
    for (i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->config.vocab_size) {
            int bad = ids[i];
            fe_ids_free(v, ids);
            return fe__fail(err, fe_err_mismatch,
                            "request: token id %d is outside the model's vocabulary of %d "
                            "(the vocabulary does not belong to this model?)",
                            bad, m->config.vocab_size);
        }
    *lookup = -1;
    for (i = 0; i < n; i++) {
        size_t tl = 0;
        fe_token_bytes(v, ids[i], &tl);
        if (byte >= at && byte < at + tl) { *lookup = (int)i; break; }
        at += tl;
    }
    buf = (int *)fe__malloc(r->alloc_user, sizeof(int) * (n + (size_t)extra + 1));
    if (!buf) { fe_ids_free(v, ids); return fe__fail(err, fe_err_nomem, "request: out of memory"); }
    if (n) memcpy(buf, ids, sizeof(int) * n);
    fe_ids_free(v, ids);
    r->fe__bufs[r->fe__nbufs++] = buf;
    *ids_out = buf; *n_out = (int)n;
    if (*lookup < 0)
        return fe__fail(err, fe_err_arg, "request: the subject's last byte is not in the tokens of \"%.60s\"", text);
    return fe_ok;
}

/* The request's texts: template_text (the prompt with "{}" where the subject was, or as given),
   text (the template filled with the subject; *fill = the "{}"'s byte offset) and target_text (a
   leading space added when missing). 0 when out of memory. */
FACTEDIT__PRIV int fe__rows_texts(fe_rome_rows *r, const fe_text_request *q, int nfill, size_t *fill) {
    void *u = r->alloc_user;
    size_t ls = strlen(q->subject), lt = strlen(q->target);
    if (nfill == 0) {
        const char *at = strstr(q->prompt, q->subject);
        size_t lp = strlen(q->prompt), pos = (size_t)(at - q->prompt);
        r->template_text = (char *)fe__malloc(u, lp - ls + 3);
        if (r->template_text) {
            memcpy(r->template_text, q->prompt, pos);
            memcpy(r->template_text + pos, "{}", 2);
            memcpy(r->template_text + pos + 2, q->prompt + pos + ls, lp - pos - ls + 1);
        }
        *fill = pos;
    } else r->template_text = fe__strndup(u, q->prompt, strlen(q->prompt));
    r->text = r->template_text ? fe__fill_slot(u, r->template_text, *fill, q->subject) : NULL;
    if (q->target[0] == ' ') r->target_text = fe__strndup(u, q->target, lt);
    else if ((r->target_text = (char *)fe__malloc(u, lt + 2)) != NULL) {
        r->target_text[0] = ' ';
        memcpy(r->target_text + 1, q->target, lt + 1);
    }
    return r->template_text && r->text && r->target_text;
}

/* r->target, r->n_target: the tokens of r->target_text (target: the request's, for messages). */
FACTEDIT__PRIV fe_result fe__rows_target(fe_rome_rows *r, const fe_model *m, const fe_vocab *v, const char *target,
                                         fe_error *err) {
    int *ids = NULL, maxT = m->config.max_seq_len;
    size_t n = 0, k;
    fe_result res = fe_encode(v, r->target_text, strlen(r->target_text), &ids, &n, err);
    if (res != fe_ok) return res;
    if (n < 1) res = fe__fail(err, fe_err_arg, "request: the target \"%.60s\" has no tokens", target);
    else if (n > (size_t)maxT)
        res = fe__fail(err, fe_err_arg,
                       "request: the target \"%.60s\" (%lu tokens) is longer than the model's context of %d tokens",
                       target, (unsigned long)n, maxT);
    else if (!(r->target = (int *)fe__malloc(r->alloc_user, sizeof(int) * n)))
        res = fe__fail(err, fe_err_nomem, "request: out of memory");
    for (k = 0; res == fe_ok && k < n; k++) {
        if (ids[k] < 0 || ids[k] >= m->config.vocab_size)
            res = fe__fail(err, fe_err_mismatch, "request: target token id %d is outside the model's vocabulary of %d",
                           ids[k], m->config.vocab_size);
        else r->target[k] = ids[k];
    }
    if (res == fe_ok) r->n_target = (int)n;
    fe_ids_free(v, ids);
    return res;
}

FACTEDIT_API fe_result fe_rome_rows_new(fe_rome_rows **out, const fe_model *m, const fe_vocab *v,
                                        const fe_text_request *q, const fe_templates *ctx, fe_error *err) {
    fe_rome_rows *r = NULL;
    fe_result res;
    void *u;
    size_t fill = 0, ls;
    int nfill, nt = 0, maxT, nctx, i, n = 0, lookup = 0, *ids = NULL;
    char *kl_text = NULL, *full = NULL;
    const char *one = "{}";
    if (!out) return fe__fail(err, fe_err_arg, "request: NULL argument");
    *out = NULL;
    if (!m || !v || !q) return fe__fail(err, fe_err_arg, "request: NULL argument");
    if (!q->subject || !q->subject[0]) return fe__fail(err, fe_err_arg, "request: the subject is empty");
    if (!q->prompt || !q->prompt[0]) return fe__fail(err, fe_err_arg, "request: the prompt is empty");
    if (!q->target || !q->target[0] || strspn(q->target, " \t\r\n") == strlen(q->target))
        return fe__fail(err, fe_err_arg, "request: the target is empty");
    nfill = fe__count_slots(q->prompt, &fill);
    if (nfill > 1)
        return fe__fail(err, fe_err_arg,
                        "request: the prompt \"%.80s\" has %d \"{}\"; a template needs exactly one (for the subject)",
                        q->prompt, nfill);
    if (nfill == 0 && !strstr(q->prompt, q->subject))
        return fe__fail(err, fe_err_arg,
                        "request: the subject \"%.60s\" is not in the prompt \"%.80s\", "
                        "and the prompt has no \"{}\" to put it in",
                        q->subject, q->prompt);
    if (ctx && ctx->n < 1) return fe__fail(err, fe_err_arg, "request: no context templates");
    u = m->alloc_user;
    maxT = m->config.max_seq_len;
    nctx = ctx ? ctx->n : 1;
    ls = strlen(q->subject);
    r = (fe_rome_rows *)fe__calloc(u, sizeof *r);
    if (!r) return fe__fail(err, fe_err_nomem, "request: out of memory");
    r->alloc_user = u;
    r->fe__bufs = (int **)fe__calloc(u, sizeof(int *) * ((size_t)nctx + 4));
    r->keys = (fe_rome_prompt *)fe__calloc(u, sizeof(fe_rome_prompt) * 2 * (size_t)nctx);
    if (!r->fe__bufs || !r->keys) { res = fe__fail(err, fe_err_nomem, "request: out of memory"); goto fail; }
    r->rows = r->keys + nctx;
    if (!fe__rows_texts(r, q, nfill, &fill)) {
        res = fe__fail(err, fe_err_nomem, "request: out of memory");
        goto fail;
    }
    kl_text = (char *)fe__malloc(u, ls + 6);
    if (!kl_text) {
        res = fe__fail(err, fe_err_nomem, "request: out of memory");
        goto fail;
    }
    memcpy(kl_text, q->subject, ls);
    memcpy(kl_text + ls, " is a", 6);
    if ((res = fe__rows_target(r, m, v, q->target, err)) != fe_ok) goto fail;
    nt = r->n_target;
    /* the bare prompt */
    if ((res = fe__rows_encode(r, m, v, r->text, fill + ls - 1, 0, &ids, &r->bare.n, &r->bare.lookup, err)) != fe_ok)
        goto fail;
    r->bare.ids = ids;
    if (r->bare.n + nt - 1 > maxT) {
        res = fe__fail(err, fe_err_arg,
                       "request: the prompt (%d tokens) and the target (%d tokens) "
                       "do not fit the model's context of %d tokens",
                       r->bare.n, nt, maxT);
        goto fail;
    }
    if ((res = fe__rows_encode(r, m, v, kl_text, ls - 1, 0, &ids, &r->kl.n, &r->kl.lookup, err)) != fe_ok) goto fail;
    r->kl.ids = ids;
    if (r->kl.n > maxT) {
        res = fe__fail(err, fe_err_arg,
                       "request: the KL prompt \"%.60s\" (%d tokens) exceeds the model's context of %d", kl_text,
                       r->kl.n, maxT);
        goto fail;
    }
    /* one row per context */
    for (i = 0; i < nctx; i++) {
        const char *t = ctx ? ctx->text[i] : one;
        size_t cf = 0;
        if (!t || fe__count_slots(t, &cf) != 1) {
            res = fe__fail(err, fe_err_arg, "request: context template %d does not hold exactly one \"{}\"", i);
            goto fail;
        }
        if (!(full = fe__fill_slot(u, t, cf, r->text))) {
            res = fe__fail(err, fe_err_nomem, "request: out of memory");
            goto fail;
        }
        if ((res = fe__rows_encode(r, m, v, full, cf + fill + ls - 1, nt - 1, &ids, &n, &lookup, err)) != fe_ok)
            goto fail;
        fe__free(u, full); full = NULL;
        if (n + nt - 1 > maxT) { r->n_dropped++; continue; }
        if (nt > 1) memcpy(ids + n, r->target, sizeof(int) * (size_t)(nt - 1));
        r->keys[r->n_ctx].ids = ids; r->keys[r->n_ctx].n = n; r->keys[r->n_ctx].lookup = lookup;
        r->rows[r->n_ctx].ids = ids; r->rows[r->n_ctx].n = n + nt - 1; r->rows[r->n_ctx].lookup = lookup;
        r->n_ctx++;
    }
    if (r->n_ctx < 1) {
        res = fe__fail(err, fe_err_arg, "request: no context template fits the model's context of %d tokens", maxT);
        goto fail;
    }
    fe__free(u, kl_text);
    *out = r;
    fe__ok(err);
    return fe_ok;
fail:
    fe__free(u, full);
    fe__free(u, kl_text);
    fe_rome_rows_free(r);
    return res;
}

FACTEDIT_API fe_result fe_rome_compute_rows(const fe_model *m, const fe_rome_rows *q, const fe_rome_hparams *hp,
                                            const fe_cov *cov, fe_edit **out, fe_error *err) {
    fe__rome_input in;
    if (!out) return fe__fail(err, fe_err_arg, "rome: NULL argument");
    *out = NULL;
    if (!m || !q || !hp) return fe__fail(err, fe_err_arg, "rome: NULL argument");
    if (q->n_ctx < 1 || !q->keys || !q->target || q->n_target < 1)
        return fe__fail(err, fe_err_arg, "rome: empty request");
    in.rows = q->rows;
    in.n_rows = q->n_ctx;
    in.target = q->target;
    in.n_target = q->n_target;
    in.kl = q->kl.n > 0 ? &q->kl : NULL;
    in.bare = &q->bare;
    return fe__rome_edit(m, &in, hp, cov, out, err);
}

/* ---- layer defaults ---- */

FACTEDIT_API int fe_rome_default_layer(const fe_config *c) {
    int L = c->num_layers, l;
    if (L == 24 && c->channels == 1024) return 8;    /* gpt2-medium */
    if (L == 36 && c->channels == 1280) return 12;   /* gpt2-large */
    if (L == 48 && c->channels == 1600) return 17;   /* gpt2-xl */
    l = (L + 1) / 3;                                 /* round(L / 3) */
    if (l > L - 2) l = L - 2;                        /* a later block must carry v* to the last token */
    return l < 0 ? 0 : l;
}

FACTEDIT_API void fe_rome_hparams_for(fe_rome_hparams *hp, const fe_model *m) { fe_rome_hparams_default(hp, m); }

/* ---- binary files ---- */

/* The statistics and patch files start alike: an 8-byte magic ("FESTATS\0", "FEPATCH\0"), u32
   version = 1, u32 header bytes; each carries the FNV-1a of its payload (the bytes after the
   header) at hash_at and names the model it was made for. what: "stats" or "patch", the prefix
   of every message; kind: the file's name in "not a factedit ... file". */
FACTEDIT__PRIV void fe__binfile_start(unsigned char *b, const char *magic, uint32_t header) {
    memset(b, 0, header);
    memcpy(b, magic, 8);
    fe__wr32le(b + 8, 1);
    fe__wr32le(b + 12, header);
}
FACTEDIT__PRIV fe_result fe__binfile_check_start(const unsigned char *b, size_t len, const char *magic, uint32_t header,
                                                 const char *what, const char *kind, fe_error *err) {
    if (len < header)
        return fe__fail(err, fe_err_format, "%s: not a factedit %s file (shorter than its %lu-byte header)", what, kind,
                        (unsigned long)header);
    if (memcmp(b, magic, 8) != 0)
        return fe__fail(err, fe_err_format, "%s: not a factedit %s file (bad magic)", what, kind);
    if (fe__rd32le(b + 8) != 1)
        return fe__fail(err, fe_err_unsupported, "%s: file version %lu (this library reads version 1)", what,
                        (unsigned long)fe__rd32le(b + 8));
    if (fe__rd32le(b + 12) != header)
        return fe__fail(err, fe_err_format, "%s: header size %lu, expected %lu", what,
                        (unsigned long)fe__rd32le(b + 12), (unsigned long)header);
    return fe_ok;
}
FACTEDIT__PRIV fe_result fe__binfile_check_payload(const unsigned char *b, size_t len, uint32_t header, size_t hash_at,
                                                   const char *what, fe_error *err) {
    if (fe_fnv1a64(FACTEDIT_FNV1A64_INIT, b + header, len - header) != fe__rd64le(b + hash_at))
        return fe__fail(err, fe_err_format, "%s: payload checksum mismatch (the file is corrupted)", what);
    return fe_ok;
}
/* A file made for a model of num_layers x width whose weights hashed to cs, checked against m. made
   and hint word the checksum message ("computed" / "recompute them for this model"). */
FACTEDIT__PRIV fe_result fe__binfile_check_model(const fe_model *m, int num_layers, int width, uint64_t cs,
                                                 const char *what, const char *made, const char *hint, fe_error *err) {
    uint64_t now;
    if (num_layers != m->config.num_layers || width != m->config.channels)
        return fe__fail(err, fe_err_mismatch, "%s: made for a model of %d layers x width %d, this one has %d x %d",
                        what, num_layers, width, m->config.num_layers, m->config.channels);
    now = fe_model_checksum(m);
    if (now != cs)
        return fe__fail(err, fe_err_mismatch,
                        "%s: %s for the model with checksum %016llx, this model's is %016llx (%s)", what, made,
                        (unsigned long long)cs, (unsigned long long)now, hint);
    return fe_ok;
}
#ifndef FACTEDIT_NO_STDIO
/* Puts "path: " before the message of a failed load (the loaders from memory do not know it). */
FACTEDIT__PRIV fe_result fe__prefix_path(fe_error *err, fe_result r, const char *path) {
    if (r && err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        fe__fail(err, r, "%.80s: %s", path, msg);
    }
    return r;
}
#endif

/* ---- key statistics ---- */

#define FACTEDIT__STATS_HEADER 64

FACTEDIT_API fe_result fe_stats_compute_layers(fe_cov **out, const fe_model *m, int first, int count,
                                               const int *tokens, size_t n, int seq_len,
                                               fe_stats_progress_fn progress, void *progress_user, fe_error *err) {
    fe_result r = fe_ok;
    size_t done = 0;
    int T, B, l;
    if (!out || count < 1) return fe__fail(err, fe_err_arg, "stats: NULL argument or no layers");
    for (l = 0; l < count; l++) out[l] = NULL;
    if (!m || (!tokens && n)) return fe__fail(err, fe_err_arg, "stats: NULL argument");
    if (first < 0 || first > m->config.num_layers - count)
        return fe__fail(err, fe_err_range, "stats: layers %d..%d outside the model's layers 0..%d", first,
                        first + count - 1, m->config.num_layers - 1);
    if (n < 1) return fe__fail(err, fe_err_arg, "stats: no tokens");
    T = seq_len > 0 ? seq_len : (m->config.max_seq_len < 256 ? m->config.max_seq_len : 256);
    if (T > m->config.max_seq_len)
        return fe__fail(err, fe_err_range, "stats: sequences of %d tokens exceed the model's context of %d", T,
                        m->config.max_seq_len);
    B = 256 / T > 0 ? 256 / T : 1;   /* rows per forward: about 256 positions */
    for (l = 0; l < count && r == fe_ok; l++) r = fe_cov_new(&out[l], 4 * m->config.channels, m->alloc_user, err);
    while (r == fe_ok && done < n) {
        size_t left = n - done, full = left / (size_t)T;
        int rows = full >= (size_t)B ? B : (int)full, len = T;
        if (rows == 0) { rows = 1; len = (int)left; }
        if ((r = fe__cov_add_tokens(out, m, first, count, tokens + done, rows, len, err)) != fe_ok) break;
        done += (size_t)rows * (size_t)len;
        if (progress) progress(progress_user, done, n);
    }
    if (r != fe_ok) {
        for (l = 0; l < count; l++) { fe_cov_free(out[l]); out[l] = NULL; }
        return r;
    }
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_stats_compute(fe_cov **out, const fe_model *m, int layer, const int *tokens, size_t n,
                                        int seq_len, fe_stats_progress_fn progress, void *progress_user,
                                        fe_error *err) {
    if (!out) return fe__fail(err, fe_err_arg, "stats: NULL argument");
    *out = NULL;
    if (m && (layer < 0 || layer >= m->config.num_layers))
        return fe__fail(err, fe_err_range, "stats: layer %d outside the model's layers 0..%d", layer,
                        m->config.num_layers - 1);
    return fe_stats_compute_layers(out, m, layer, 1, tokens, n, seq_len, progress, progress_user, err);
}

FACTEDIT__PRIV void fe__stats_header(unsigned char *h, const fe_cov *c, int layer, const fe_model *m, uint64_t cs,
                                     uint64_t hash) {
    fe__binfile_start(h, "FESTATS", FACTEDIT__STATS_HEADER);
    fe__wr64le(h + 16, cs);
    fe__wr32le(h + 24, (uint32_t)layer);
    fe__wr32le(h + 28, (uint32_t)c->dim);
    fe__wr32le(h + 32, (uint32_t)m->config.num_layers);
    fe__wr32le(h + 36, (uint32_t)m->config.channels);
    fe__wr64le(h + 40, (uint64_t)c->count);
    fe__wr32le(h + 48, 1);
    fe__wr64le(h + 56, hash);
}

FACTEDIT__PRIV fe_result fe__stats_check_save(const fe_cov *c, int layer, const fe_model *m, size_t *payload,
                                              fe_error *err) {
    size_t d;
    if (!c || !m) return fe__fail(err, fe_err_arg, "stats: NULL argument");
    d = (size_t)c->dim;
    if (c->dim != 4 * m->config.channels)
        return fe__fail(err, fe_err_mismatch, "stats: dimension %d, the model's keys have %d", c->dim,
                        4 * m->config.channels);
    if (layer < 0 || layer >= m->config.num_layers)
        return fe__fail(err, fe_err_range, "stats: layer %d outside the model", layer);
    if (!(c->count >= 1) || c->count > 9007199254740992.0 || c->count != floor(c->count))
        return fe__fail(err, fe_err_arg, "stats: %g tokens: need a positive whole count", c->count);
    /* 8 d (d+1) / 2 */
    if (!fe__mul3(d, d + 1, 4, payload)) return fe__fail(err, fe_err_limit, "stats: size overflow");
    return fe_ok;
}

/* Upper triangle row by row, in chunks, through a callback (hash pass and write pass). */
FACTEDIT__PRIV void fe__stats_payload(const fe_cov *c, void (*sink)(void *, const unsigned char *, size_t),
                                      void *user) {
    unsigned char buf[8 * 512];
    size_t d = (size_t)c->dim, i, j, k = 0;
    for (i = 0; i < d; i++)
        for (j = i; j < d; j++) {
            fe__wrf64le(buf + 8 * k, c->m2[i * d + j]);
            if (++k == 512) { sink(user, buf, sizeof buf); k = 0; }
        }
    if (k) sink(user, buf, 8 * k);
}
FACTEDIT__PRIV void fe__sink_hash(void *user, const unsigned char *p, size_t n) {
    uint64_t *h = (uint64_t *)user;
    *h = fe_fnv1a64(*h, p, n);
}
typedef struct fe__memsink { unsigned char *p; size_t at; } fe__memsink;
FACTEDIT__PRIV void fe__sink_mem(void *user, const unsigned char *p, size_t n) {
    fe__memsink *s = (fe__memsink *)user;
    memcpy(s->p + s->at, p, n);
    s->at += n;
}

FACTEDIT_API fe_result fe_stats_save_mem(const fe_cov *c, int layer, const fe_model *m, uint64_t model_checksum,
                                         unsigned char **bytes, size_t *len, fe_error *err) {
    size_t payload = 0, total = 0;
    uint64_t h = FACTEDIT_FNV1A64_INIT;
    fe__memsink ms;
    fe_result r;
    if (!bytes || !len) return fe__fail(err, fe_err_arg, "stats: NULL argument");
    *bytes = NULL; *len = 0;
    if ((r = fe__stats_check_save(c, layer, m, &payload, err)) != fe_ok) return r;
    if (!fe__add(payload, FACTEDIT__STATS_HEADER, &total)) return fe__fail(err, fe_err_limit, "stats: size overflow");
    ms.p = (unsigned char *)fe__malloc(m->alloc_user, total);
    if (!ms.p) return fe__fail(err, fe_err_nomem, "stats: cannot allocate %lu bytes", (unsigned long)total);
    fe__stats_payload(c, fe__sink_hash, &h);
    fe__stats_header(ms.p, c, layer, m, model_checksum, h);
    ms.at = FACTEDIT__STATS_HEADER;
    fe__stats_payload(c, fe__sink_mem, &ms);
    *bytes = ms.p; *len = total;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_stats_load_mem(fe_cov **out, fe_stats_info *info, const void *bytes, size_t len,
                                         const fe_model *m, void *alloc_user, fe_error *err) {
    const unsigned char *b = (const unsigned char *)bytes, *p;
    fe_stats_info in;
    size_t d, payload = 0, i, j;
    fe_cov *c = NULL;
    fe_result r;
    if (!out) return fe__fail(err, fe_err_arg, "stats: NULL argument");
    *out = NULL;
    if (!b && len) return fe__fail(err, fe_err_arg, "stats: NULL argument");
    if ((r = fe__binfile_check_start(b, len, "FESTATS", FACTEDIT__STATS_HEADER, "stats", "statistics", err)) != fe_ok)
        return r;
    memset(&in, 0, sizeof in);
    in.version = (int)fe__rd32le(b + 8);
    in.model_checksum = fe__rd64le(b + 16);
    in.layer = fe__rdi32le(b + 24);
    in.dim = fe__rdi32le(b + 28);
    in.num_layers = fe__rdi32le(b + 32);
    in.channels = fe__rdi32le(b + 36);
    in.count = fe__rd64le(b + 40);
    if (in.num_layers < 1 || in.num_layers > FACTEDIT_MAX_LAYERS)
        return fe__fail(err, fe_err_format, "stats: model layers %d outside 1..%d", in.num_layers, FACTEDIT_MAX_LAYERS);
    if (in.channels < 1 || in.channels > FACTEDIT_MAX_WIDTH)
        return fe__fail(err, fe_err_format, "stats: model width %d outside 1..%d", in.channels, FACTEDIT_MAX_WIDTH);
    if (in.layer < 0 || in.layer >= in.num_layers)
        return fe__fail(err, fe_err_format, "stats: layer %d outside the model's 0..%d", in.layer, in.num_layers - 1);
    if (in.dim != 4 * in.channels)
        return fe__fail(err, fe_err_format, "stats: dimension %d is not 4 x the width %d", in.dim, in.channels);
    if (fe__rd32le(b + 48) != 1)
        return fe__fail(err, fe_err_unsupported, "stats: storage %lu (this library reads 1 = upper triangle)",
                        (unsigned long)fe__rd32le(b + 48));
    if (fe__rd32le(b + 52) != 0) return fe__fail(err, fe_err_format, "stats: reserved header field is not zero");
    if (in.count < 1 || in.count > ((uint64_t)1 << 53))
        return fe__fail(err, fe_err_format, "stats: token count %llu (need 1..2^53)", (unsigned long long)in.count);
    d = (size_t)in.dim;
    if (!fe__mul3(d, d + 1, 4, &payload) || payload > (size_t)-1 - FACTEDIT__STATS_HEADER)
        return fe__fail(err, fe_err_limit, "stats: size overflow");
    if (len != FACTEDIT__STATS_HEADER + payload)
        return fe__fail(err, fe_err_format, "stats: file has %lu bytes, a %d x %d triangle needs %lu (%s)",
                        (unsigned long)len, in.dim, in.dim, (unsigned long)(FACTEDIT__STATS_HEADER + payload),
                        len < FACTEDIT__STATS_HEADER + payload ? "truncated" : "trailing bytes");
    if ((r = fe__binfile_check_payload(b, len, FACTEDIT__STATS_HEADER, 56, "stats", err)) != fe_ok) return r;
    if (m) {
        r = fe__binfile_check_model(m, in.num_layers, in.channels, in.model_checksum, "stats", "computed",
                                    "recompute them for this model", err);
        if (r) return r;
        alloc_user = m->alloc_user;
    }
    if ((r = fe_cov_new(&c, in.dim, alloc_user, err)) != fe_ok) return r;
    p = b + FACTEDIT__STATS_HEADER;
    for (i = 0; i < d; i++)
        for (j = i; j < d; j++, p += 8) {
            double x = fe__rdf64le(p);
            if (!isfinite(x)) {
                fe_cov_free(c);
                return fe__fail(err, fe_err_format, "stats: entry (%lu, %lu) is not finite", (unsigned long)i,
                                (unsigned long)j);
            }
            if (i == j && x < 0) {
                fe_cov_free(c);
                return fe__fail(err, fe_err_format, "stats: diagonal entry %lu is negative", (unsigned long)i);
            }
            c->m2[i * d + j] = x;
            c->m2[j * d + i] = x;
        }
    c->count = (double)in.count;
    if (info) *info = in;
    *out = c;
    fe__ok(err);
    return fe_ok;
}

#ifndef FACTEDIT_NO_STDIO
typedef struct fe__filesink { fe__atomic *a; } fe__filesink;
FACTEDIT__PRIV void fe__sink_file(void *user, const unsigned char *p, size_t n) {
    fe__atomic_write(((fe__filesink *)user)->a, p, n);
}

FACTEDIT_API fe_result fe_stats_save_file(const char *path, const fe_cov *c, int layer, const fe_model *m,
                                          uint64_t model_checksum, fe_error *err) {
    unsigned char h[FACTEDIT__STATS_HEADER];
    uint64_t hash = FACTEDIT_FNV1A64_INIT;
    size_t payload = 0;
    fe__atomic a;
    fe__filesink fs;
    fe_result r;
    if (!path) return fe__fail(err, fe_err_arg, "stats: NULL path");
    if ((r = fe__stats_check_save(c, layer, m, &payload, err)) != fe_ok) return r;
    fe__stats_payload(c, fe__sink_hash, &hash);
    fe__stats_header(h, c, layer, m, model_checksum, hash);
    if ((r = fe__atomic_open(&a, path, err)) != fe_ok) return r;
    fe__atomic_write(&a, h, sizeof h);
    fs.a = &a;
    fe__stats_payload(c, fe__sink_file, &fs);
    if ((r = fe__atomic_commit(&a, err)) != fe_ok) return r;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_stats_load_file(fe_cov **out, fe_stats_info *info, const char *path, const fe_model *m,
                                          void *alloc_user, fe_error *err) {
    unsigned char *b = NULL;
    size_t len = 0;
    void *u = m ? m->alloc_user : alloc_user;
    fe_result r;
    if (!out) return fe__fail(err, fe_err_arg, "stats: NULL argument");
    *out = NULL;
    if (!path) return fe__fail(err, fe_err_arg, "stats: NULL path");
    if ((r = fe_read_file(path, &b, &len, u, err)) != fe_ok) return r;
    r = fe_stats_load_mem(out, info, b, len, m, alloc_user, err);
    fe__free(u, b);
    return fe__prefix_path(err, r, path);
}
#endif

/* ---- edit patches ---- */

#define FACTEDIT__PATCH_HEADER 152
#define FACTEDIT__PATCH_MAX_TEXT (1u << 20)

FACTEDIT_API void fe_patch_free(fe_patch *p) {
    if (!p) return;
    fe_edit_free(p->edit);
    fe__free(p->alloc_user, p->prompt);
    fe__free(p->alloc_user, p->subject);
    fe__free(p->alloc_user, p->target);
    fe__free(p->alloc_user, p);
}

FACTEDIT_API fe_result fe_patch_save_mem(const fe_patch *p, unsigned char **bytes, size_t *len, void *alloc_user,
                                         fe_error *err) {
    const fe_edit *e;
    const char *tx[3];
    size_t lt[3], total, C, i, k;
    unsigned char *b, *q;
    if (!bytes || !len) return fe__fail(err, fe_err_arg, "patch: NULL argument");
    *bytes = NULL; *len = 0;
    if (!p || !p->edit) return fe__fail(err, fe_err_arg, "patch: NULL edit");
    e = p->edit;
    if (e->C < 1 || e->C > FACTEDIT_MAX_WIDTH || e->layer < 0 || p->num_layers < 1 ||
        p->num_layers > FACTEDIT_MAX_LAYERS || e->layer >= p->num_layers)
        return fe__fail(err, fe_err_arg, "patch: layer %d / width %d / model layers %d out of range", e->layer, e->C,
                        p->num_layers);
    tx[0] = p->prompt ? p->prompt : ""; tx[1] = p->subject ? p->subject : ""; tx[2] = p->target ? p->target : "";
    for (k = 0; k < 3; k++) {
        lt[k] = strlen(tx[k]);
        if (lt[k] > FACTEDIT__PATCH_MAX_TEXT)
            return fe__fail(err, fe_err_limit, "patch: a text of %lu bytes (limit %u)", (unsigned long)lt[k],
                            FACTEDIT__PATCH_MAX_TEXT);
    }
    C = (size_t)e->C;
    for (i = 0; i < 6 * C; i++)
        if (!isfinite(e->u[i])) return fe__fail(err, fe_err_numeric, "patch: the edit holds NaN/Inf");
    total = FACTEDIT__PATCH_HEADER + 24 * C + lt[0] + lt[1] + lt[2];
    b = (unsigned char *)fe__malloc(alloc_user, total);
    if (!b) return fe__fail(err, fe_err_nomem, "patch: out of memory");
    fe__binfile_start(b, "FEPATCH", FACTEDIT__PATCH_HEADER);
    fe__wr64le(b + 16, p->model_checksum);
    fe__wr32le(b + 24, (uint32_t)e->layer);
    fe__wr32le(b + 28, (uint32_t)e->C);
    fe__wr32le(b + 32, (uint32_t)p->num_layers);
    for (k = 0; k < 3; k++) fe__wr32le(b + 36 + 4 * k, (uint32_t)lt[k]);
    fe__wr32le(b + 48, (uint32_t)e->report.iters);
    fe__wr32le(b + 52, (uint32_t)e->report.evals);
    fe__wr32le(b + 56, (uint32_t)e->report.status);
    fe__wr32le(b + 60, (uint32_t)e->report.cg_iters);
    fe__wrf64le(b + 64, e->report.first.loss); fe__wrf64le(b + 72, e->report.first.nll);
    fe__wrf64le(b + 80, e->report.first.kl); fe__wrf64le(b + 88, e->report.first.wd);
    fe__wrf64le(b + 96, e->report.last.loss); fe__wrf64le(b + 104, e->report.last.nll);
    fe__wrf64le(b + 112, e->report.last.kl); fe__wrf64le(b + 120, e->report.last.wd);
    fe__wrf64le(b + 128, e->report.delta_norm); fe__wrf64le(b + 136, e->report.clamp);
    q = b + FACTEDIT__PATCH_HEADER;
    for (i = 0; i < 4 * C; i++, q += 4) fe__wrf32le(q, e->u[i]);
    for (i = 0; i < C; i++, q += 4) fe__wrf32le(q, e->right[i]);
    for (i = 0; i < C; i++, q += 4) fe__wrf32le(q, e->vstar[i]);
    for (k = 0; k < 3; k++) { if (lt[k]) memcpy(q, tx[k], lt[k]); q += lt[k]; }
    fe__wr64le(b + 144, fe_fnv1a64(FACTEDIT_FNV1A64_INIT, b + FACTEDIT__PATCH_HEADER, total - FACTEDIT__PATCH_HEADER));
    *bytes = b; *len = total;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT__PRIV fe_result fe__patch_check_model(const fe_patch *p, const fe_model *m, fe_error *err) {
    return fe__binfile_check_model(m, p->num_layers, p->edit->C, p->model_checksum, "patch", "made",
                                   "another model, or already edited", err);
}

FACTEDIT_API fe_result fe_patch_load_mem(fe_patch **out, const void *bytes, size_t len, const fe_model *m,
                                         void *alloc_user, fe_error *err) {
    const unsigned char *b = (const unsigned char *)bytes, *q;
    fe_patch *p = NULL;
    fe_edit *e = NULL;
    int C, layer, nl, k;
    size_t lt[3], need, i;
    double nu = 0.0;
    fe_result r;
    if (!out) return fe__fail(err, fe_err_arg, "patch: NULL argument");
    *out = NULL;
    if (!b && len) return fe__fail(err, fe_err_arg, "patch: NULL argument");
    if (m) alloc_user = m->alloc_user;
    if ((r = fe__binfile_check_start(b, len, "FEPATCH", FACTEDIT__PATCH_HEADER, "patch", "patch", err)) != fe_ok)
        return r;
    layer = fe__rdi32le(b + 24); C = fe__rdi32le(b + 28); nl = fe__rdi32le(b + 32);
    if (nl < 1 || nl > FACTEDIT_MAX_LAYERS)
        return fe__fail(err, fe_err_format, "patch: model layers %d outside 1..%d", nl, FACTEDIT_MAX_LAYERS);
    if (layer < 0 || layer >= nl)
        return fe__fail(err, fe_err_format, "patch: layer %d outside the model's 0..%d", layer, nl - 1);
    if (C < 1 || C > FACTEDIT_MAX_WIDTH)
        return fe__fail(err, fe_err_format, "patch: width %d outside 1..%d", C, FACTEDIT_MAX_WIDTH);
    need = FACTEDIT__PATCH_HEADER + 24 * (size_t)C;
    for (k = 0; k < 3; k++) {
        lt[k] = fe__rd32le(b + 36 + 4 * k);
        if (lt[k] > FACTEDIT__PATCH_MAX_TEXT)
            return fe__fail(err, fe_err_format, "patch: text %d of %lu bytes (limit %u)", k, (unsigned long)lt[k],
                            FACTEDIT__PATCH_MAX_TEXT);
        need += lt[k];
    }
    if (len != need)
        return fe__fail(err, fe_err_format, "patch: file has %lu bytes, its header says %lu (%s)", (unsigned long)len,
                        (unsigned long)need, len < need ? "truncated" : "trailing bytes");
    if ((r = fe__binfile_check_payload(b, len, FACTEDIT__PATCH_HEADER, 144, "patch", err)) != fe_ok) return r;
    {
        int32_t it = fe__rdi32le(b + 48), ev = fe__rdi32le(b + 52), st = fe__rdi32le(b + 56), cg = fe__rdi32le(b + 60);
        if (it < 0 || ev < 0 || st < 0 || st > 2 || cg < 0)
            return fe__fail(err, fe_err_format, "patch: bad solver report (iters %d, evals %d, status %d, cg %d)",
                            (int)it, (int)ev, (int)st, (int)cg);
        for (k = 0; k < 10; k++)
            if (!isfinite(fe__rdf64le(b + 64 + 8 * k)))
                return fe__fail(err, fe_err_format, "patch: solver report value %d is not finite", k);
    }
    q = b + FACTEDIT__PATCH_HEADER;
    for (i = 0; i < 6 * (size_t)C; i++) {
        float f = fe__rdf32le(q + 4 * i);
        if (!isfinite(f))
            return fe__fail(err, fe_err_format, "patch: %s[%lu] is not finite",
                            i < 4 * (size_t)C   ? "u"
                            : i < 5 * (size_t)C ? "right"
                                                : "vstar",
                            (unsigned long)(i < 4 * (size_t)C   ? i
                                            : i < 5 * (size_t)C ? i - 4 * (size_t)C
                                                                : i - 5 * (size_t)C));
        if (i < 4 * (size_t)C) nu += (double)f * f;
    }
    if (!(nu > 0)) return fe__fail(err, fe_err_format, "patch: u is zero");
    for (k = 0, i = 24 * (size_t)C; k < 3; i += lt[k], k++)
        if (lt[k] && memchr(q + i, 0, lt[k])) return fe__fail(err, fe_err_format, "patch: text %d holds a NUL byte", k);
    p = (fe_patch *)fe__calloc(alloc_user, sizeof *p);
    e = p ? (fe_edit *)fe__calloc(alloc_user, sizeof *e) : NULL;
    if (p) { p->alloc_user = alloc_user; p->edit = e; }
    if (e) e->alloc_user = alloc_user;   /* before anything can fail: fe_edit_free uses it */
    if (!e || !(e->u = (float *)fe__malloc(alloc_user, sizeof(float) * 6 * (size_t)C))) {
        r = fe__fail(err, fe_err_nomem, "patch: out of memory");
        goto fail;
    }
    e->right = e->u + 4 * (size_t)C; e->vstar = e->right + C;
    e->layer = layer; e->C = C; e->alloc_user = alloc_user;
    for (i = 0; i < 6 * (size_t)C; i++) e->u[i] = fe__rdf32le(q + 4 * i);
    e->report.iters = fe__rdi32le(b + 48); e->report.evals = fe__rdi32le(b + 52);
    e->report.status = fe__rdi32le(b + 56); e->report.cg_iters = fe__rdi32le(b + 60);
    e->report.first.loss = fe__rdf64le(b + 64); e->report.first.nll = fe__rdf64le(b + 72);
    e->report.first.kl = fe__rdf64le(b + 80); e->report.first.wd = fe__rdf64le(b + 88);
    e->report.last.loss = fe__rdf64le(b + 96); e->report.last.nll = fe__rdf64le(b + 104);
    e->report.last.kl = fe__rdf64le(b + 112); e->report.last.wd = fe__rdf64le(b + 120);
    e->report.delta_norm = fe__rdf64le(b + 128); e->report.clamp = fe__rdf64le(b + 136);
    p->model_checksum = fe__rd64le(b + 16);
    p->num_layers = nl;
    q += 24 * (size_t)C;
    p->prompt = fe__strndup(alloc_user, (const char *)q, lt[0]); q += lt[0];
    p->subject = fe__strndup(alloc_user, (const char *)q, lt[1]); q += lt[1];
    p->target = fe__strndup(alloc_user, (const char *)q, lt[2]);
    if (!p->prompt || !p->subject || !p->target) { r = fe__fail(err, fe_err_nomem, "patch: out of memory"); goto fail; }
    if (m && (r = fe__patch_check_model(p, m, err)) != fe_ok) goto fail;
    *out = p;
    fe__ok(err);
    return fe_ok;
fail:
    fe_patch_free(p);
    return r;
}

FACTEDIT_API fe_result fe_patch_apply(fe_model *m, fe_patch *p, fe_error *err) {
    fe_result r;
    if (!m || !p || !p->edit) return fe__fail(err, fe_err_arg, "patch: NULL argument");
    if (p->edit->applied) return fe__fail(err, fe_err_arg, "patch: already applied");
    if ((r = fe__patch_check_model(p, m, err)) != fe_ok) return r;
    return fe_edit_apply(m, p->edit, err);
}

#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_patch_save_file(const char *path, const fe_patch *p, fe_error *err) {
    unsigned char *b = NULL;
    size_t len = 0;
    void *u = p && p->edit ? p->edit->alloc_user : NULL;
    fe_result r;
    if (!path) return fe__fail(err, fe_err_arg, "patch: NULL path");
    if ((r = fe_patch_save_mem(p, &b, &len, u, err)) != fe_ok) return r;
    r = fe_write_file_atomic(path, b, len, err);
    fe__free(u, b);
    if (!r) fe__ok(err);
    return r;
}

FACTEDIT_API fe_result fe_patch_load_file(fe_patch **out, const char *path, const fe_model *m, void *alloc_user,
                                          fe_error *err) {
    unsigned char *b = NULL;
    size_t len = 0;
    void *u = m ? m->alloc_user : alloc_user;
    fe_result r;
    if (!out) return fe__fail(err, fe_err_arg, "patch: NULL argument");
    *out = NULL;
    if (!path) return fe__fail(err, fe_err_arg, "patch: NULL path");
    if ((r = fe_read_file(path, &b, &len, u, err)) != fe_ok) return r;
    r = fe_patch_load_mem(out, b, len, m, alloc_user, err);
    fe__free(u, b);
    return fe__prefix_path(err, r, path);
}
#endif

/* ---- CounterFact ---- */

struct fe_cf_set {
    fe_json *doc;
    fe_cf_case *cases;
    size_t n;
    const char **strs;     /* the paraphrase and neighbour pointers of every case */
    void *alloc_user;
};

FACTEDIT_API void fe_cf_free(fe_cf_set *s) {
    if (!s) return;
    fe_json_free(s->doc);
    fe__free(s->alloc_user, s->cases);
    fe__free(s->alloc_user, (void *)s->strs);
    fe__free(s->alloc_user, s);
}
FACTEDIT_API size_t fe_cf_count(const fe_cf_set *s) { return s ? s->n : 0; }
FACTEDIT_API const fe_cf_case *fe_cf_at(const fe_cf_set *s, size_t i) { return s && i < s->n ? &s->cases[i] : NULL; }

/* A non-empty string without NUL bytes, or NULL. */
FACTEDIT__PRIV const char *fe__json_text(const fe_json_value *v) {
    if (!v || v->type != fe_json_string || v->len == 0 || strlen(v->str) != v->len) return NULL;
    return v->str;
}

FACTEDIT_API fe_result fe_cf_load_mem(fe_cf_set **out, const char *json, size_t len, void *alloc_user, fe_error *err) {
    fe_cf_set *s = NULL;
    const fe_json_value *root;
    fe_result r;
    fe_error je;
    size_t i, k, nstr = 0, at = 0;
    if (!out) return fe__fail(err, fe_err_arg, "counterfact: NULL argument");
    *out = NULL;
    s = (fe_cf_set *)fe__calloc(alloc_user, sizeof *s);
    if (!s) return fe__fail(err, fe_err_nomem, "counterfact: out of memory");
    s->alloc_user = alloc_user;
    if ((r = fe_json_parse(&s->doc, json, len, alloc_user, &je)) != fe_ok) {
        fe_cf_free(s);
        return fe__fail(err, r, "counterfact: %s", je.msg);
    }
    root = fe_json_root(s->doc);
    if (root->type != fe_json_array) {
        fe_cf_free(s);
        return fe__fail(err, fe_err_format, "counterfact: the file is not a JSON array of cases");
    }
    if (root->count < 1) { fe_cf_free(s); return fe__fail(err, fe_err_format, "counterfact: no cases"); }
    if (root->count > (size_t)INT_MAX) {
        fe_cf_free(s);
        return fe__fail(err, fe_err_limit, "counterfact: too many cases");
    }
    for (i = 0; i < root->count; i++) {
        const fe_json_value *c = fe_json_at(root, i), *pp = fe_json_get(c, "paraphrase_prompts"),
                            *np = fe_json_get(c, "neighborhood_prompts");
        if (pp && pp->type == fe_json_array) nstr += pp->count;
        if (np && np->type == fe_json_array) nstr += np->count;
    }
    s->cases = (fe_cf_case *)fe__calloc(alloc_user, sizeof(fe_cf_case) * root->count);
    s->strs = (const char **)fe__calloc(alloc_user, sizeof(char *) * (nstr + 1));
    if (!s->cases || !s->strs) { fe_cf_free(s); return fe__fail(err, fe_err_nomem, "counterfact: out of memory"); }
    for (i = 0; i < root->count; i++) {
        const fe_json_value *c = fe_json_at(root, i), *id = fe_json_get(c, "case_id"),
                            *rr = fe_json_get(c, "requested_rewrite");
        const fe_json_value *arrs[2];
        fe_cf_case *cc = &s->cases[i];
        const char *what = NULL;
        int j;
        if (c->type != fe_json_object) what = "is not an object";
        else if (!id || id->type != fe_json_number || id->number != floor(id->number) || id->number < 0 ||
                 id->number > INT_MAX)
            what = "has no case_id (a non-negative integer)";
        else if (!rr || rr->type != fe_json_object) what = "has no requested_rewrite object";
        else if (!(cc->prompt = fe__json_text(fe_json_get(rr, "prompt"))))
            what = "has no requested_rewrite.prompt (a non-empty string)";
        else if (fe__count_slots(cc->prompt, NULL) != 1)
            what = "has a requested_rewrite.prompt without exactly one \"{}\"";
        else if (!(cc->subject = fe__json_text(fe_json_get(rr, "subject"))))
            what = "has no requested_rewrite.subject (a non-empty string)";
        else if (!(cc->target_new = fe__json_text(fe_json_get(fe_json_get(rr, "target_new"), "str"))))
            what = "has no requested_rewrite.target_new.str (a non-empty string)";
        else if (!(cc->target_true = fe__json_text(fe_json_get(fe_json_get(rr, "target_true"), "str"))))
            what = "has no requested_rewrite.target_true.str (a non-empty string)";
        if (what) {
            if (id && id->type == fe_json_number)
                r = fe__fail(err, fe_err_format, "counterfact: case %lu (case_id %.0f) %s", (unsigned long)i,
                             id->number, what);
            else r = fe__fail(err, fe_err_format, "counterfact: case %lu %s", (unsigned long)i, what);
            fe_cf_free(s);
            return r;
        }
        cc->case_id = (int)id->number;
        arrs[0] = fe_json_get(c, "paraphrase_prompts");
        arrs[1] = fe_json_get(c, "neighborhood_prompts");
        for (j = 0; j < 2; j++) {
            const char *name = j ? "neighborhood_prompts" : "paraphrase_prompts";
            if (!arrs[j] || arrs[j]->type != fe_json_array) {
                r = fe__fail(err, fe_err_format, "counterfact: case %lu (case_id %d) has no %s array", (unsigned long)i,
                             cc->case_id, name);
                fe_cf_free(s);
                return r;
            }
            if (j) { cc->neighbors = s->strs + at; cc->n_neighbors = (int)arrs[j]->count; }
            else { cc->paraphrases = s->strs + at; cc->n_paraphrases = (int)arrs[j]->count; }
            for (k = 0; k < arrs[j]->count; k++) {
                const char *t = fe__json_text(fe_json_at(arrs[j], k));
                if (!t) {
                    r = fe__fail(err, fe_err_format,
                                 "counterfact: case %lu (case_id %d): %s[%lu] is not a non-empty string",
                                 (unsigned long)i, cc->case_id, name, (unsigned long)k);
                    fe_cf_free(s);
                    return r;
                }
                s->strs[at++] = t;
            }
        }
    }
    s->n = root->count;
    *out = s;
    fe__ok(err);
    return fe_ok;
}

#ifndef FACTEDIT_NO_STDIO
FACTEDIT_API fe_result fe_cf_load_file(fe_cf_set **out, const char *path, void *alloc_user, fe_error *err) {
    unsigned char *b = NULL;
    size_t len = 0;
    fe_result r;
    if (!out) return fe__fail(err, fe_err_arg, "counterfact: NULL argument");
    *out = NULL;
    if ((r = fe_read_file(path, &b, &len, alloc_user, err)) != fe_ok) return r;
    r = fe_cf_load_mem(out, (const char *)b, len, alloc_user, err);
    fe__free(alloc_user, b);
    return fe__prefix_path(err, r, path);
}
#endif

/* Rows of (prompt tokens, target tokens) scored in chunks of up to 16 rows per forward. */
FACTEDIT_API fe_result fe_target_nll(const fe_model *m, const fe_vocab *v, const char *const *prompts,
                                     const char *const *targets, int n, double *nll, fe_error *err) {
    enum { CHUNK = 16 };
    int *ids[CHUNK], np[CHUNK], nt[CHUNK], i0, i, j, V, T;
    fe_state *s = NULL;
    fe_forward_opts fo;
    fe_result r = fe_ok;
    int *tok = NULL;
    if (!m || !v || (n > 0 && (!prompts || !targets || !nll))) return fe__fail(err, fe_err_arg, "nll: NULL argument");
    V = m->config.vocab_size;
    memset(&fo, 0, sizeof fo);
    fo.all_logits = 1;
    for (i0 = 0; i0 < n && r == fe_ok; i0 += CHUNK) {
        int B = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (i = 0; i < B; i++) ids[i] = NULL;
        T = 0;
        for (i = 0; i < B && r == fe_ok; i++) {
            int *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            if (!prompts[i0 + i] || !targets[i0 + i]) { r = fe__fail(err, fe_err_arg, "nll: NULL text"); break; }
            if ((r = fe_encode(v, prompts[i0 + i], strlen(prompts[i0 + i]), &a, &na, err)) != fe_ok) break;
            if ((r = fe_encode(v, targets[i0 + i], strlen(targets[i0 + i]), &b, &nb, err)) != fe_ok) {
                fe_ids_free(v, a);
                break;
            }
            if (na < 1 || nb < 1)
                r = fe__fail(err, fe_err_arg, "nll: empty %s \"%.60s\"", na < 1 ? "prompt" : "target",
                             na < 1 ? prompts[i0 + i] : targets[i0 + i]);
            else if (na + nb - 1 > (size_t)m->config.max_seq_len)
                r = fe__fail(err, fe_err_arg,
                             "nll: \"%.60s\" + \"%.30s\" (%lu tokens) do not fit the model's context of %d",
                             prompts[i0 + i], targets[i0 + i], (unsigned long)(na + nb - 1), m->config.max_seq_len);
            else if (!(ids[i] = (int *)fe__malloc(m->alloc_user, sizeof(int) * (na + nb))))
                r = fe__fail(err, fe_err_nomem, "nll: out of memory");
            else {
                memcpy(ids[i], a, sizeof(int) * na);
                memcpy(ids[i] + na, b, sizeof(int) * nb);
                np[i] = (int)na; nt[i] = (int)nb;
                if ((int)(na + nb - 1) > T) T = (int)(na + nb - 1);
                for (j = 0; j < (int)(na + nb); j++)
                    if (ids[i][j] < 0 || ids[i][j] >= V) {
                        r = fe__fail(err, fe_err_mismatch, "nll: token id %d is outside the model's vocabulary of %d",
                                     ids[i][j], V);
                        break;
                    }
            }
            fe_ids_free(v, a); fe_ids_free(v, b);
        }
        if (r == fe_ok) {
            /* input: prompt + target[:-1], right-padded with token 0 (causal: padding changes nothing before it) */
            tok = (int *)fe__calloc(m->alloc_user, sizeof(int) * (size_t)B * (size_t)T);
            if (!tok) r = fe__fail(err, fe_err_nomem, "nll: out of memory");
            for (i = 0; r == fe_ok && i < B; i++)
                memcpy(tok + (size_t)i * T, ids[i], sizeof(int) * (size_t)(np[i] + nt[i] - 1));
            if (r == fe_ok) r = fe_state_new(&s, m, B, T, 0, err);
            if (r == fe_ok) r = fe_forward(m, s, tok, T, &fo, err);
            for (i = 0; r == fe_ok && i < B; i++) {
                double sum = 0.0;
                for (j = 0; j < nt[i]; j++) {
                    const float *z = fe_state_logits(s, i, np[i] + j - 1);
                    sum += fe__logsumexp_f64(z, V) - z[ids[i][np[i] + j]];
                }
                nll[i0 + i] = sum / nt[i];
            }
            fe_state_free(s); s = NULL;
            fe__free(m->alloc_user, tok); tok = NULL;
        }
        for (i = 0; i < B; i++) fe__free(m->alloc_user, ids[i]);
    }
    if (r == fe_ok) fe__ok(err);
    return r;
}

FACTEDIT_API fe_result fe_cf_score(const fe_model *m, const fe_vocab *v, const fe_cf_case *c, fe_cf_scores *out,
                                   fe_error *err) {
    const char **pr = NULL, **tg = NULL;
    char *rewrite = NULL, *tn = NULL, *tt = NULL;
    double *nll = NULL, s[6];
    int n, i, k, cnt[3];
    size_t fill = 0;
    fe_result r;
    void *u;
    if (!m || !v || !c || !out) return fe__fail(err, fe_err_arg, "counterfact: NULL argument");
    if (!c->prompt || !c->subject || !c->target_new || !c->target_true || fe__count_slots(c->prompt, &fill) != 1 ||
        c->n_paraphrases < 0 || c->n_neighbors < 0 || (c->n_paraphrases && !c->paraphrases) ||
        (c->n_neighbors && !c->neighbors))
        return fe__fail(err, fe_err_arg, "counterfact: malformed case %d", c->case_id);
    u = m->alloc_user;
    n = 1 + c->n_paraphrases + c->n_neighbors;
    pr = (const char **)fe__malloc(u, sizeof(char *) * 2 * (size_t)n);
    tg = (const char **)fe__malloc(u, sizeof(char *) * 2 * (size_t)n);
    nll = (double *)fe__malloc(u, sizeof(double) * 2 * (size_t)n);
    rewrite = fe__fill_slot(u, c->prompt, fill, c->subject);
    tn = (char *)fe__malloc(u, strlen(c->target_new) + 2);
    tt = (char *)fe__malloc(u, strlen(c->target_true) + 2);
    if (!pr || !tg || !nll || !rewrite || !tn || !tt) {
        r = fe__fail(err, fe_err_nomem, "counterfact: out of memory");
        goto done;
    }
    tn[0] = ' '; memcpy(tn + 1, c->target_new, strlen(c->target_new) + 1);
    tt[0] = ' '; memcpy(tt + 1, c->target_true, strlen(c->target_true) + 1);
    for (i = 0; i < n; i++) {
        const char *p = i == 0                  ? rewrite
                        : i <= c->n_paraphrases ? c->paraphrases[i - 1]
                                                : c->neighbors[i - 1 - c->n_paraphrases];
        pr[2 * i] = p; tg[2 * i] = tn;
        pr[2 * i + 1] = p; tg[2 * i + 1] = tt;
    }
    if ((r = fe_target_nll(m, v, pr, tg, 2 * n, nll, err)) != fe_ok) goto done;
    for (k = 0; k < 6; k++) s[k] = 0.0;
    cnt[0] = cnt[1] = cnt[2] = 0;
    for (i = 0; i < n; i++) {
        double a = nll[2 * i], b = nll[2 * i + 1];   /* NLL(new), NLL(true) */
        int g = i == 0 ? 0 : i <= c->n_paraphrases ? 1 : 2;
        if (g < 2) { s[2 * g] += a < b; s[2 * g + 1] += exp(-a) - exp(-b); }
        else { s[4] += b < a; s[5] += exp(-b) - exp(-a); }
        cnt[g]++;
    }
    out->es = s[0] / cnt[0]; out->em = s[1] / cnt[0];
    out->ps = cnt[1] ? s[2] / cnt[1] : NAN; out->pm = cnt[1] ? s[3] / cnt[1] : NAN;
    out->ns = cnt[2] ? s[4] / cnt[2] : NAN; out->nm = cnt[2] ? s[5] / cnt[2] : NAN;
    fe__ok(err);
done:
    fe__free(u, (void *)pr); fe__free(u, (void *)tg); fe__free(u, nll);
    fe__free(u, rewrite); fe__free(u, tn); fe__free(u, tt);
    return r;
}

FACTEDIT_API fe_result fe_cf_eval_case(fe_model *m, const fe_vocab *v, const fe_cf_case *c, const fe_templates *ctx,
                                       const fe_rome_hparams *hp, const fe_cov *cov, fe_cf_result *out, fe_error *err) {
    fe_text_request q;
    fe_rome_rows *rows = NULL;
    fe_edit *e = NULL;
    fe_result r;
    if (!m || !v || !c || !hp || !out) return fe__fail(err, fe_err_arg, "counterfact: NULL argument");
    memset(out, 0, sizeof *out);
    out->case_id = c->case_id;
    if ((r = fe_cf_score(m, v, c, &out->pre, err)) != fe_ok) return r;
    q.prompt = c->prompt; q.subject = c->subject; q.target = c->target_new;
    if ((r = fe_rome_rows_new(&rows, m, v, &q, ctx, err)) != fe_ok) return r;
    out->n_ctx = rows->n_ctx;
    r = fe_rome_compute_rows(m, rows, hp, cov, &e, err);
    fe_rome_rows_free(rows);
    if (r) return r;
    out->report = e->report;
    if ((r = fe_edit_apply(m, e, err)) != fe_ok) { fe_edit_free(e); return r; }
    r = fe_cf_score(m, v, c, &out->post, err);
    {
        fe_error ue;
        fe_result r2 = fe_edit_undo(m, e, &ue);
        if (r2 && !r) { r = r2; if (err) *err = ue; }
    }
    fe_edit_free(e);
    if (!r) fe__ok(err);
    return r;
}

FACTEDIT_API const char *fe_cf_metric_name(int k) {
    static const char *const names[fe_cf_metric_count] = {"ES", "EM", "PS", "PM", "NS", "NM", "Score"};
    return k >= 0 && k < fe_cf_metric_count ? names[k] : "?";
}

FACTEDIT__PRIV double fe__cf_metric(const fe_cf_scores *s, int k) {
    switch (k) {
    case fe_cf_metric_es: return s->es;
    case fe_cf_metric_em: return s->em;
    case fe_cf_metric_ps: return s->ps;
    case fe_cf_metric_pm: return s->pm;
    case fe_cf_metric_ns: return s->ns;
    case fe_cf_metric_nm: return s->nm;
    default: return NAN;
    }
}

/* z of a two-sided 95% normal interval. */
#define FACTEDIT__Z95 1.96
FACTEDIT_API void fe_running_add(fe_running *r, double x) {
    double d;
    r->n += 1.0;
    d = x - r->mean;
    r->mean += d / r->n;
    r->m2 += d * (x - r->mean);
}
FACTEDIT_API double fe_sample_sd(double n, double ss) { return n >= 2 ? sqrt((ss > 0 ? ss : 0.0) / (n - 1.0)) : NAN; }
FACTEDIT_API double fe_ci95(double n, double sd) { return n >= 2 ? FACTEDIT__Z95 * sd / sqrt(n) : NAN; }

FACTEDIT_API void fe_cf_summarize(const fe_cf_scores *s, size_t n, fe_cf_summary *out) {
    int k, a, b;
    size_t i;
    if (!out) return;
    for (k = 0; k < fe_cf_metric_count; k++) { out->mean[k] = NAN; out->ci95[k] = NAN; out->n[k] = 0; }
    if (!s) n = 0;
    for (k = 0; k < fe_cf_metric_score; k++) {
        double sum = 0.0, ss = 0.0, mu;
        int cnt = 0;
        for (i = 0; i < n; i++) { double x = fe__cf_metric(&s[i], k); if (!isnan(x)) { sum += x; cnt++; } }
        out->n[k] = cnt;
        if (!cnt) continue;
        mu = sum / cnt;
        out->mean[k] = mu;
        for (i = 0; i < n; i++) { double x = fe__cf_metric(&s[i], k); if (!isnan(x)) ss += (x - mu) * (x - mu); }
        out->ci95[k] = fe_ci95(cnt, fe_sample_sd(cnt, ss));
    }
    /* Score: harmonic mean of the ES, PS, NS means; CI by the delta method (gradient
       dS/dm_i = S^2 / (3 m_i^2)) with the covariance of the three over the cases that have all */
    {
        static const int idx[3] = {fe_cf_metric_es, fe_cf_metric_ps, fe_cf_metric_ns};
        double mu[3], S, cov[3][3], g[3], var = 0.0, m3[3] = {0, 0, 0};
        int cnt = 0;
        for (a = 0; a < 3; a++) mu[a] = out->mean[idx[a]];
        if (isnan(mu[0]) || isnan(mu[1]) || isnan(mu[2])) return;
        S = (mu[0] > 0 && mu[1] > 0 && mu[2] > 0) ? 3.0 / (1.0 / mu[0] + 1.0 / mu[1] + 1.0 / mu[2]) : 0.0;
        out->mean[fe_cf_metric_score] = S;
        for (i = 0; i < n; i++) {
            double x0 = fe__cf_metric(&s[i], idx[0]), x1 = fe__cf_metric(&s[i], idx[1]),
                   x2 = fe__cf_metric(&s[i], idx[2]);
            if (isnan(x0) || isnan(x1) || isnan(x2)) continue;
            m3[0] += x0;
            m3[1] += x1;
            m3[2] += x2;
            cnt++;
        }
        out->n[fe_cf_metric_score] = cnt;
        if (cnt < 2 || !(S > 0)) return;
        for (a = 0; a < 3; a++) m3[a] /= cnt;
        for (a = 0; a < 3; a++) for (b = 0; b < 3; b++) cov[a][b] = 0.0;
        for (i = 0; i < n; i++) {
            double x[3];
            x[0] = fe__cf_metric(&s[i], idx[0]);
            x[1] = fe__cf_metric(&s[i], idx[1]);
            x[2] = fe__cf_metric(&s[i], idx[2]);
            if (isnan(x[0]) || isnan(x[1]) || isnan(x[2])) continue;
            for (a = 0; a < 3; a++) for (b = 0; b < 3; b++) cov[a][b] += (x[a] - m3[a]) * (x[b] - m3[b]);
        }
        for (a = 0; a < 3; a++) g[a] = S * S / (3.0 * mu[a] * mu[a]);
        for (a = 0; a < 3; a++) for (b = 0; b < 3; b++) var += g[a] * g[b] * cov[a][b] / ((double)(cnt - 1) * cnt);
        out->ci95[fe_cf_metric_score] = FACTEDIT__Z95 * sqrt(var > 0 ? var : 0.0);
    }
}

/* ======================================================== >>impl-many-edits =================== */

FACTEDIT_API void fe_memit_request_from_rows(fe_memit_request *q, const fe_rome_rows *r, float *weights) {
    int i;
    memset(q, 0, sizeof *q);
    q->rows = r->rows; q->n_rows = r->n_ctx;
    q->target = r->target; q->n_target = r->n_target;
    q->kl = r->kl.n > 0 ? &r->kl : NULL;
    q->keys = r->keys; q->n_keys = r->n_ctx;
    q->bare = r->bare;
    if (weights) {
        for (i = 0; i < r->n_ctx; i++)
            weights[i] = r->n_ctx == 1 ? 1.0f : i == 0 ? 0.5f : (float)(0.5 / (r->n_ctx - 1));
        q->key_weights = weights;
    }
}

FACTEDIT_API void fe_memit_hparams_default(fe_memit_hparams *hp, const fe_model *m) {
    int top = fe_rome_default_layer(&m->config);
    memset(hp, 0, sizeof *hp);
    hp->layer_last = top;
    hp->layer_first = top - 2 < 0 ? 0 : top - 2;
    hp->lambda = 20000.0;
    hp->cov_ridge = 0.0;
    hp->null_threshold = 2e-2;
    hp->l2 = 10.0;
    fe_rome_hparams_default(&hp->v, m);
    hp->v.clamp_norm_factor = 0.75f;
}

FACTEDIT__PRIV int fe__prompt_ok(const fe_rome_prompt *p, int maxT) {
    return p && p->ids && p->n >= 1 && p->n <= maxT && p->lookup >= 0 && p->lookup < p->n;
}

FACTEDIT_API fe_result fe_memit_check(const fe_model *m, const fe_memit_request *q, int n, fe_error *err) {
    int i, j, k, maxT = m->config.max_seq_len, V = m->config.vocab_size;
    if (n < 1 || !q) return fe__fail(err, fe_err_arg, "memit: no requests");
    for (i = 0; i < n; i++) {
        const fe_memit_request *r = &q[i];
        double ws = 0.0;
        if (!r->rows || r->n_rows < 1 || !r->keys || r->n_keys < 1 || !r->target || r->n_target < 1)
            return fe__fail(err, fe_err_arg, "memit: request %d has no rows, key prompts or target", i);
        if (!fe__prompt_ok(&r->bare, maxT))
            return fe__fail(err, fe_err_arg, "memit: request %d: its prompt is empty, too long, or the subject's lookup "
                            "is outside it (is the subject in the prompt?)", i);
        if (r->kl && !fe__prompt_ok(r->kl, maxT)) return fe__fail(err, fe_err_arg, "memit: request %d: bad KL prompt", i);
        for (k = 0; k < r->n_target; k++)
            if (r->target[k] < 0 || r->target[k] >= V)
                return fe__fail(err, fe_err_range, "memit: request %d: target id %d outside the vocabulary", i, r->target[k]);
        for (k = 0; k < r->n_keys; k++) {
            if (!fe__prompt_ok(&r->keys[k], maxT))
                return fe__fail(err, fe_err_arg, "memit: request %d: key prompt %d is empty, too long, or its lookup is "
                                "outside it", i, k);
            if (r->key_weights) {
                if (!(r->key_weights[k] >= 0) || !isfinite(r->key_weights[k]))
                    return fe__fail(err, fe_err_arg, "memit: request %d: key weight %d is negative or not finite", i, k);
                ws += r->key_weights[k];
            }
        }
        if (r->key_weights && !(fabs(ws - 1.0) < 1e-4))
            return fe__fail(err, fe_err_arg, "memit: request %d: key weights sum to %g, not 1", i, ws);
        for (k = 0; k < r->n_rows; k++)
            if (!fe__prompt_ok(&r->rows[k], maxT) || r->rows[k].lookup > r->rows[k].n - r->n_target)
                return fe__fail(err, fe_err_arg, "memit: request %d: row %d is empty, too long, or does not end with "
                                "target[:-1] after its lookup", i, k);
        for (j = 0; j < i; j++) {
            const fe_rome_prompt *a = &q[j].bare, *b = &r->bare;
            if (a->lookup == b->lookup && !memcmp(a->ids, b->ids, sizeof(int) * (size_t)(a->lookup + 1)))
                return fe__fail(err, fe_err_arg,
                                "memit: requests %d and %d have the same subject (identical tokens up to the subject's "
                                "last token: one key asked for two values); edit them in separate batches", j, i);
        }
    }
    fe__ok(err);
    return fe_ok;
}

/* Activations at the lookups of n prompts (forwards that stop after `layer`): keys (n x 4C) / mlp
   (n x C) / resid (n x C), any may be NULL. The prompts go in chunks of ROWS, each run as long as
   its longest prompt (shorter ones padded with token 0, which their lookups do not see), FWD rows
   per forward, through one lean state (fe__state_alloc) reshaped for each forward: one set of
   layer buffers, no logits, nothing zeroed; ~24 MB (size formula) at 32 x 12 tokens on the 124M
   shape. A full state (~0.7 GB at 64 x 12) cost more in page faults than its forwards did
   (PERFORMANCE NOTES). The values are the full state's bit for bit (tested): a row's GEMM output
   does not depend on the other rows, and every prompt still runs at its chunk of 64's length,
   which decides the rounding of its attention (fe__attention's path for >= 8 queries differs
   from the one for fewer). */
FACTEDIT__PRIV fe_result fe__lookup_acts(const fe_model *m, int layer, const fe_rome_prompt *p, int n, float *keys,
                                         float *mlp, float *resid, fe_error *err) {
    enum { ROWS = 64, FWD = 32 };
    int C = m->config.channels, i0, j0, i, T, nb, fb, Tmax = 0;
    int *tok = NULL;
    fe_state *s = NULL;
    fe_forward_opts fo;
    fe_result r;
    for (i = 0; i < n; i++) if (p[i].n > Tmax) Tmax = p[i].n;
    fb = n < FWD ? n : FWD;
    if (!(tok = (int *)fe__malloc(m->alloc_user, sizeof(int) * (size_t)fb * Tmax)))
        return fe__fail(err, fe_err_nomem, "memit: out of memory");
    if ((r = fe__state_alloc(&s, m, fb, Tmax, 1, err)) != fe_ok) { fe__free(m->alloc_user, tok); return r; }
    memset(&fo, 0, sizeof fo);
    fo.last_layer = layer + 1; fo.no_logits = 1;
    for (i0 = 0; i0 < n && r == fe_ok; i0 += ROWS) {
        nb = n - i0 < ROWS ? n - i0 : ROWS;
        for (T = 0, i = 0; i < nb; i++) if (p[i0 + i].n > T) T = p[i0 + i].n;
        for (j0 = i0; j0 < i0 + nb && r == fe_ok; j0 += fb) {
            int k = i0 + nb - j0 < fb ? i0 + nb - j0 : fb;
            fe__state_lean_shape(s, k, T);
            memset(tok, 0, sizeof(int) * (size_t)k * T);
            for (i = 0; i < k; i++) memcpy(tok + (size_t)i * T, p[j0 + i].ids, sizeof(int) * (size_t)p[j0 + i].n);
            if ((r = fe_forward(m, s, tok, T, &fo, err)) != fe_ok) break;
            for (i = 0; i < k; i++) {
                int lk = p[j0 + i].lookup;
                size_t o = (size_t)(j0 + i);
                if (keys) memcpy(keys + o * 4 * C, fe_state_act(s, fe_site_key, layer, i, lk), sizeof(float) * 4 * (size_t)C);
                if (mlp) memcpy(mlp + o * C, fe_state_act(s, fe_site_mlp, layer, i, lk), sizeof(float) * (size_t)C);
                if (resid) memcpy(resid + o * C, fe_state_act(s, fe_site_resid, layer, i, lk), sizeof(float) * (size_t)C);
            }
        }
    }
    fe_state_free(s);
    fe__free(m->alloc_user, tok);
    return r;
}

FACTEDIT_API fe_result fe_memit_keys(const fe_model *m, int layer, const fe_memit_request *q, int n, float *K,
                                     fe_error *err) {
    int C4 = 4 * m->config.channels, i, k, j, tot = 0, at;
    fe_rome_prompt *all = NULL;
    float *keys = NULL;
    fe_result r;
    if (layer < 0 || layer >= m->config.num_layers)
        return fe__fail(err, fe_err_range, "memit: layer %d outside the model (0..%d)", layer, m->config.num_layers - 1);
    if ((r = fe_memit_check(m, q, n, err)) != fe_ok) return r;
    for (i = 0; i < n; i++) {
        if (q[i].n_keys > INT_MAX - tot) return fe__fail(err, fe_err_limit, "memit: too many key prompts");
        tot += q[i].n_keys;
    }
    all = (fe_rome_prompt *)fe__calloc(m->alloc_user, sizeof *all * (size_t)tot);
    keys = (float *)fe__malloc(m->alloc_user, sizeof(float) * (size_t)tot * C4);
    if (!all || !keys) { r = fe__fail(err, fe_err_nomem, "memit: out of memory"); goto done; }
    for (i = 0, at = 0; i < n; i++) for (k = 0; k < q[i].n_keys; k++) all[at++] = q[i].keys[k];
    if ((r = fe__lookup_acts(m, layer, all, tot, keys, NULL, NULL, err)) != fe_ok) goto done;
    for (i = 0, at = 0; i < n; i++) {
        for (j = 0; j < C4; j++) {
            double s = 0.0;
            for (k = 0; k < q[i].n_keys; k++)
                s += (q[i].key_weights ? (double)q[i].key_weights[k] : 1.0 / q[i].n_keys) *
                     keys[(size_t)(at + k) * C4 + j];
            K[(size_t)i * C4 + j] = (float)s;
        }
        at += q[i].n_keys;
    }
    fe__ok(err);
done:
    fe__free(m->alloc_user, all);
    fe__free(m->alloc_user, keys);
    return r;
}

FACTEDIT_API fe_result fe_memit_zs(const fe_model *m, int layer, const fe_memit_request *q, int n, float *z,
                                   fe_error *err) {
    fe_rome_prompt *b;
    fe_result r;
    int i;
    if (layer < 0 || layer >= m->config.num_layers)
        return fe__fail(err, fe_err_range, "memit: layer %d outside the model (0..%d)", layer, m->config.num_layers - 1);
    if ((r = fe_memit_check(m, q, n, err)) != fe_ok) return r;
    if (!(b = (fe_rome_prompt *)fe__malloc(m->alloc_user, sizeof *b * (size_t)n)))
        return fe__fail(err, fe_err_nomem, "memit: out of memory");
    for (i = 0; i < n; i++) b[i] = q[i].bare;
    r = fe__lookup_acts(m, layer, b, n, NULL, NULL, z, err);
    fe__free(m->alloc_user, b);
    if (r == fe_ok) fe__ok(err);
    return r;
}

FACTEDIT__PRIV fe_result fe__memit_layers_ok(const fe_model *m, const fe_memit_hparams *hp, fe_error *err) {
    if (hp->layer_first < 0 || hp->layer_last >= m->config.num_layers || hp->layer_first > hp->layer_last)
        return fe__fail(err, fe_err_range, "memit: layers %d-%d outside the model's 0-%d (or first > last)",
                        hp->layer_first, hp->layer_last, m->config.num_layers - 1);
    return fe_ok;
}

FACTEDIT_API fe_result fe_memit_targets(const fe_model *m, const fe_memit_request *q, int n,
                                        const fe_memit_hparams *hp, float *Z, fe_rome_report *reps, fe_error *err) {
    int C = m->config.channels, i, j;
    float *delta;
    fe_result r;
    if ((r = fe__memit_layers_ok(m, hp, err)) != fe_ok || (r = fe_memit_check(m, q, n, err)) != fe_ok) return r;
    if (!(delta = (float *)fe__malloc(m->alloc_user, sizeof(float) * (size_t)C)))
        return fe__fail(err, fe_err_nomem, "memit: out of memory");
    for (i = 0; i < n && r == fe_ok; i++) {
        fe_vobj_spec spec;
        fe_vobj *o = NULL;
        fe_rome_report rep;
        memset(&spec, 0, sizeof spec);
        spec.layer = hp->layer_last;
        spec.prompts = q[i].rows; spec.n_prompts = q[i].n_rows;
        spec.target = q[i].target; spec.n_target = q[i].n_target;
        spec.kl_prompts = q[i].kl; spec.n_kl = q[i].kl ? 1 : 0;
        spec.kl_factor = hp->v.kl_factor; spec.v_weight_decay = hp->v.v_weight_decay;
        spec.target_resid = 1;
        if ((r = fe_vobj_new(&o, m, &spec, err)) == fe_ok && (r = fe_vobj_solve(o, &hp->v, delta, &rep, err)) == fe_ok) {
            const float *t0 = fe_vobj_target_init(o);
            for (j = 0; j < C; j++) Z[(size_t)i * C + j] = t0[j] + delta[j];
            if (reps) reps[i] = rep;
        }
        if (r != fe_ok) {
            fe_error e2;
            fe__fail(&e2, r, "memit: request %d: %s", i, err ? err->msg : "z objective failed");
            if (err) *err = e2;
        }
        fe_vobj_free(o);
    }
    fe__free(m->alloc_user, delta);
    if (r == fe_ok) fe__ok(err);
    return r;
}

/* ---- the closed forms' double-precision kernels ----
   MEMIT's and AlphaEdit's closed forms are O(d^3) and O(d^2 n) in double (d = 4C = 3072 for
   GPT-2 small, n keys up to thousands): a Gram matrix K^T K, a Cholesky factorisation and
   triangular solves with n right-hand sides. All three are one packed GEMM (fe__dgemm: MR x NR
   register tiles over KC-deep packed panels, BLIS's loop order) plus small triangular pieces
   next to the diagonal, so that nearly every flop runs in the register-tiled kernel. Threads
   split output rows or blocks, never a sum: each result's arithmetic does not depend on the
   thread count. The scalar references are in tests/test_many.c (and oracle_check). */
#define FACTEDIT__DMR 6      /* register tile: 6 rows x 8 doubles = 12 AVX2 accumulators */
#define FACTEDIT__DNR 8
#define FACTEDIT__DKC 256    /* depth of a packed panel: an MR x KC A panel and a KC x NR B panel fit L1 */
#define FACTEDIT__DMC 96     /* rows of a packed A block (MC x KC doubles: 192 KiB, L2) */
#define FACTEDIT__DNC 1024   /* columns of a packed B block (KC x NC doubles: 2 MiB, L3) */
#define FACTEDIT__DWS (FACTEDIT__DMC * FACTEDIT__DKC + FACTEDIT__DKC * FACTEDIT__DNC)   /* doubles per thread */
#define FACTEDIT__DNB 128    /* Cholesky's and the solves' diagonal blocks */
#define FACTEDIT__DRB 192    /* row blocks of a symmetric (lower-triangle) product */

FACTEDIT__PRIV int fe__omp_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
FACTEDIT__PRIV int fe__omp_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* c (mr x nr of an MR x NR tile, row stride ldc) += alpha a b: a one packed A micro-panel (kc x MR,
   p-major), b one packed B micro-panel (kc x NR). Rows/columns past mr/nr are padding (zeros). */
FACTEDIT__PRIV void fe__dkern(int kc, const double *a, const double *b, double *c, size_t ldc, int mr, int nr,
                              double alpha) {
    double t[FACTEDIT__DMR * FACTEDIT__DNR];
    int p, r, j;
#if !defined(FACTEDIT_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
            c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (p = 0; p < kc; p++, a += FACTEDIT__DMR, b += FACTEDIT__DNR) {
        __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4), x;
#define FACTEDIT__DROW(i) x = _mm256_broadcast_sd(a + i); c##i##0 = _mm256_fmadd_pd(x, b0, c##i##0); \
        c##i##1 = _mm256_fmadd_pd(x, b1, c##i##1);
        FACTEDIT__DROW(0) FACTEDIT__DROW(1) FACTEDIT__DROW(2) FACTEDIT__DROW(3) FACTEDIT__DROW(4) FACTEDIT__DROW(5)
#undef FACTEDIT__DROW
    }
    if (mr == FACTEDIT__DMR && nr == FACTEDIT__DNR) {   /* a whole tile: straight to C */
        __m256d al = _mm256_set1_pd(alpha);
#define FACTEDIT__DOUT(i) _mm256_storeu_pd(c + (size_t)i * ldc, _mm256_fmadd_pd(al, c##i##0, _mm256_loadu_pd(c + (size_t)i * ldc))); \
        _mm256_storeu_pd(c + (size_t)i * ldc + 4, _mm256_fmadd_pd(al, c##i##1, _mm256_loadu_pd(c + (size_t)i * ldc + 4)));
        FACTEDIT__DOUT(0) FACTEDIT__DOUT(1) FACTEDIT__DOUT(2) FACTEDIT__DOUT(3) FACTEDIT__DOUT(4) FACTEDIT__DOUT(5)
#undef FACTEDIT__DOUT
        return;
    }
    _mm256_storeu_pd(t, c00); _mm256_storeu_pd(t + 4, c01); _mm256_storeu_pd(t + 8, c10); _mm256_storeu_pd(t + 12, c11);
    _mm256_storeu_pd(t + 16, c20); _mm256_storeu_pd(t + 20, c21); _mm256_storeu_pd(t + 24, c30); _mm256_storeu_pd(t + 28, c31);
    _mm256_storeu_pd(t + 32, c40); _mm256_storeu_pd(t + 36, c41); _mm256_storeu_pd(t + 40, c50); _mm256_storeu_pd(t + 44, c51);
#else
    for (r = 0; r < FACTEDIT__DMR * FACTEDIT__DNR; r++) t[r] = 0.0;
    for (p = 0; p < kc; p++, a += FACTEDIT__DMR, b += FACTEDIT__DNR)
        for (r = 0; r < FACTEDIT__DMR; r++)
            for (j = 0; j < FACTEDIT__DNR; j++) t[r * FACTEDIT__DNR + j] += a[r] * b[j];
#endif
    for (r = 0; r < mr; r++)
        for (j = 0; j < nr; j++) c[(size_t)r * ldc + j] += alpha * t[r * FACTEDIT__DNR + j];
}

/* Packs rows x cols of M (element (i, p) at M[i rs + p cs]) into `w`-wide micro-panels: panel by
   panel, p-major, w values per p, rows past `rows` zero. A blocks (w = MR) and, transposed, B
   blocks (w = NR, rows = B's columns) share it. */
FACTEDIT__PRIV void fe__dpack(double *dst, const double *M, size_t rs, size_t cs, int rows, int cols, int w) {
    int i0, p, r;
    for (i0 = 0; i0 < rows; i0 += w) {
        int h = rows - i0 < w ? rows - i0 : w;
        const double *m0 = M + (size_t)i0 * rs;
        for (p = 0; p < cols; p++, dst += w) {
            for (r = 0; r < h; r++) dst[r] = m0[(size_t)r * rs + (size_t)p * cs];
            for (; r < w; r++) dst[r] = 0.0;
        }
    }
}

/* C (m x n, row stride ldc) += alpha A B on one thread: A (m x k) has element (i, p) at
   A[i ars + p acs], B (k x n) has (p, j) at B[p brs + j bcs] (strides make transposes free).
   ws: FACTEDIT__DWS doubles. Each C element sums its k products in KC-deep blocks in order. */
FACTEDIT__PRIV void fe__dgemm(int m, int n, int k, double alpha, const double *A, size_t ars, size_t acs,
                              const double *B, size_t brs, size_t bcs, double *C, size_t ldc, double *ws) {
    double *pa = ws, *pb = ws + FACTEDIT__DMC * FACTEDIT__DKC;
    int jc, pc, ic, jr, ir;
    for (jc = 0; jc < n; jc += FACTEDIT__DNC) {
        int nc = n - jc < FACTEDIT__DNC ? n - jc : FACTEDIT__DNC;
        for (pc = 0; pc < k; pc += FACTEDIT__DKC) {
            int kc = k - pc < FACTEDIT__DKC ? k - pc : FACTEDIT__DKC;
            fe__dpack(pb, B + (size_t)pc * brs + (size_t)jc * bcs, bcs, brs, nc, kc, FACTEDIT__DNR);
            for (ic = 0; ic < m; ic += FACTEDIT__DMC) {
                int mc = m - ic < FACTEDIT__DMC ? m - ic : FACTEDIT__DMC;
                fe__dpack(pa, A + (size_t)ic * ars + (size_t)pc * acs, ars, acs, mc, kc, FACTEDIT__DMR);
                for (jr = 0; jr < nc; jr += FACTEDIT__DNR)
                    for (ir = 0; ir < mc; ir += FACTEDIT__DMR)
                        fe__dkern(kc, pa + (size_t)ir * kc, pb + (size_t)jr * kc, C + (size_t)(ic + ir) * ldc + jc + jr,
                                  ldc, mc - ir < FACTEDIT__DMR ? mc - ir : FACTEDIT__DMR,
                                  nc - jr < FACTEDIT__DNR ? nc - jr : FACTEDIT__DNR, alpha);
            }
        }
    }
}

/* fe__dgemm over threads (ws: one FACTEDIT__DWS workspace per thread), rows split in blocks of rb.
   lower: C is the lower triangle of a symmetric m x m result (n = m): row block [i0, i1) computes
   only columns < i1, so the upper part of the diagonal blocks is written too (scratch). */
FACTEDIT__PRIV void fe__dgemm_rows(int lower, int rb, int m, int n, int k, double alpha, const double *A, size_t ars,
                                   size_t acs, const double *B, size_t brs, size_t bcs, double *C, size_t ldc,
                                   double *ws) {
    int nb = (m + rb - 1) / rb, b;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (nb > 1 && (double)m * n * k > 4e6)
#endif
    for (b = nb - 1; b >= 0; b--) {   /* the biggest lower-triangle blocks first */
        int i0 = b * rb, i1 = i0 + rb < m ? i0 + rb : m;
        fe__dgemm(i1 - i0, lower ? i1 : n, k, alpha, A + (size_t)i0 * ars, ars, acs, B, brs, bcs, C + (size_t)i0 * ldc,
                  ldc, ws + (size_t)fe__omp_id() * FACTEDIT__DWS);
    }
}

/* Triangular solves with many right-hand sides, one per row of X (nrows x nb, row stride ldx), against
   L (nb x nb lower, row stride ldl), recursively: halve the columns, solve one half, remove its part
   from the other by a GEMM, solve that. All but the FACTEDIT__DLEAF-wide diagonal leaves runs in the
   GEMM (a block-by-block loop would leave O(nrows nb NB) flops in short dot products). One thread;
   callers split rows. */
#define FACTEDIT__DLEAF 32
FACTEDIT__PRIV int fe__dsplit(int nb) {   /* a multiple of the leaf width near the middle */
    int h = (nb / 2 + FACTEDIT__DLEAF - 1) / FACTEDIT__DLEAF * FACTEDIT__DLEAF;
    return h < nb ? h : nb - FACTEDIT__DLEAF;
}
/* Y L^T = X, X <- Y: y_j = (x_j - sum_{m<j} y_m L[j][m]) / L[j][j]. */
FACTEDIT__PRIV void fe__dtrsm_fwd(const double *L, size_t ldl, int nb, double *X, size_t ldx, int nrows, double *ws) {
    int r, j, h;
    if (nb <= FACTEDIT__DLEAF) {
        for (r = 0; r < nrows; r++) {
            double *x = X + (size_t)r * ldx;
            for (j = 0; j < nb; j++) x[j] = (x[j] - fe__dot8(x, L + (size_t)j * ldl, j)) / L[(size_t)j * ldl + j];
        }
        return;
    }
    h = fe__dsplit(nb);
    fe__dtrsm_fwd(L, ldl, h, X, ldx, nrows, ws);
    fe__dgemm(nrows, nb - h, h, -1.0, X, ldx, 1, L + (size_t)h * ldl, 1, ldl, X + h, ldx, ws);
    fe__dtrsm_fwd(L + (size_t)h * ldl + h, ldl, nb - h, X + h, ldx, nrows, ws);
}
/* X L = Y, Y <- X: x_j = (y_j - sum_{m>j} x_m L[m][j]) / L[j][j]. */
FACTEDIT__PRIV void fe__dtrsm_bwd(const double *L, size_t ldl, int nb, double *X, size_t ldx, int nrows, double *ws) {
    int r, j, m, h;
    if (nb <= FACTEDIT__DLEAF) {
        for (r = 0; r < nrows; r++) {
            double *x = X + (size_t)r * ldx;
            for (j = nb - 1; j >= 0; j--) {   /* x_j final: its terms leave x_m, m < j, by row j of L */
                const double *lj = L + (size_t)j * ldl;
                double xj = x[j] /= lj[j];
                for (m = 0; m < j; m++) x[m] -= xj * lj[m];
            }
        }
        return;
    }
    h = fe__dsplit(nb);
    fe__dtrsm_bwd(L + (size_t)h * ldl + h, ldl, nb - h, X + h, ldx, nrows, ws);
    fe__dgemm(nrows, h, nb - h, -1.0, X + h, ldx, 1, L + (size_t)h * ldl, ldl, 1, X, ldx, ws);
    fe__dtrsm_bwd(L, ldl, h, X, ldx, nrows, ws);
}

/* Rows per thread for an n-row job: ceil(n / threads) rounded up to MR (equal shares). */
FACTEDIT__PRIV int fe__rows_per_thread(int n) {
    int nt = fe__omp_threads(), r = (n + nt - 1) / nt;
    return (r + FACTEDIT__DMR - 1) / FACTEDIT__DMR * FACTEDIT__DMR;
}

/* fe__dtrsm_fwd (bwd = 0) or fe__dtrsm_bwd (bwd = 1) with the rows split over threads (one share each). */
FACTEDIT__PRIV void fe__dtrsm_rows(int bwd, const double *L, size_t ldl, int nb, double *X, size_t ldx, int nrows,
                                   double *ws) {
    int rb = fe__rows_per_thread(nrows), nblk = (nrows + rb - 1) / rb, b;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static, 1) if (nblk > 1 && (double)nb * nb * nrows > 4e6)
#endif
    for (b = 0; b < nblk; b++) {
        int r0 = b * rb, nr = r0 + rb < nrows ? rb : nrows - r0;
        double *w = ws + (size_t)fe__omp_id() * FACTEDIT__DWS;
        if (bwd) fe__dtrsm_bwd(L, ldl, nb, X + (size_t)r0 * ldx, ldx, nr, w);
        else fe__dtrsm_fwd(L, ldl, nb, X + (size_t)r0 * ldx, ldx, nr, w);
    }
}

/* A (lower, d x d) += Kd^T Kd for Kd n x d (rows = keys): the Gram of the keys. (Kd is only read;
   not const: gcc 12 -O2 without OpenMP warns that freshly filled malloc'd memory passed as const
   "may be used uninitialized".) */
FACTEDIT__PRIV void fe__dgram(double *A, int d, double *Kd, int n, double *ws) {
    fe__dgemm_rows(1, FACTEDIT__DRB, d, d, n, 1.0, Kd, 1, (size_t)d, Kd, (size_t)d, 1, A, (size_t)d, ws);
}

/* L L^T = A in place (A's lower triangle in, L out; row-major d x d; the upper triangle is scratch),
   right-looking in blocks of NB: the diagonal block row by row, the rows below it against it (a
   triangular solve, rows over threads), then the trailing lower triangle -= the block column times
   its transpose (a GEMM over row blocks). Returns -1, or the first row whose pivot is not positive. */
FACTEDIT__PRIV int fe__dchol(double *A, int d, double *ws) {
    int j0, i;
    for (j0 = 0; j0 < d; j0 += FACTEDIT__DNB) {
        int j1 = j0 + FACTEDIT__DNB < d ? j0 + FACTEDIT__DNB : d, nb = j1 - j0;
        for (i = j0; i < j1; i++) {
            double *ai = A + (size_t)i * d;
            int j;
            for (j = j0; j <= i; j++) {
                double v = ai[j] - fe__dot8(ai + j0, A + (size_t)j * d + j0, j - j0);
                if (j < i) ai[j] = v / A[(size_t)j * d + j];
                else if (v > 0) ai[j] = sqrt(v);
                else return i;
            }
        }
        if (j1 < d) {
            fe__dtrsm_rows(0, A + (size_t)j0 * d + j0, (size_t)d, nb, A + (size_t)j1 * d + j0, (size_t)d, d - j1, ws);
            fe__dgemm_rows(1, FACTEDIT__DRB, d - j1, d - j1, nb, -1.0, A + (size_t)j1 * d + j0, (size_t)d, 1,
                           A + (size_t)j1 * d + j0, 1, (size_t)d, A + (size_t)j1 * d + j1, (size_t)d, ws);
        }
    }
    return -1;
}

/* X (n x d, row-major: one right-hand side per row) <- X (L L^T)^-1, L from fe__dchol: Y L^T = X,
   then X L = Y. */
FACTEDIT__PRIV void fe__dchol_solve_rows(const double *L, int d, double *X, int n, double *ws) {
    fe__dtrsm_rows(0, L, (size_t)d, d, X, (size_t)d, n, ws);
    fe__dtrsm_rows(1, L, (size_t)d, d, X, (size_t)d, n, ws);
}

/* Workspace of fe__dgemm for every thread (NULL on overflow or out of memory). */
FACTEDIT__PRIV double *fe__dws_new(void *u) {
    size_t bytes;
    if (!fe__mul3((size_t)fe__omp_threads(), FACTEDIT__DWS, sizeof(double), &bytes)) return NULL;
    return (double *)fe__malloc(u, bytes);
}

/* Kd (n x d doubles) <- K (n x d floats); or the other way. */
FACTEDIT__PRIV void fe__f2d(double *dst, const float *src, size_t count) {
    size_t i;
    for (i = 0; i < count; i++) dst[i] = src[i];
}
FACTEDIT__PRIV void fe__d2f(float *dst, const double *src, size_t count) {
    size_t i;
    for (i = 0; i < count; i++) dst[i] = (float)src[i];
}

FACTEDIT_API fe_result fe_memit_solve(const fe_cov *cov, double ridge, double lambda, const float *K, int n, float *X,
                                      fe_error *err) {
    int d, i, j, bad;
    double *A, *Kd, *ws, inv;
    size_t bytes;
    if (!cov || !K || !X || n < 1) return fe__fail(err, fe_err_arg, "memit: no statistics or no keys");
    if (!(lambda >= 0) || !(ridge >= 0)) return fe__fail(err, fe_err_arg, "memit: lambda and the ridge must be >= 0");
    d = cov->dim;
    inv = cov->count > 0 ? 1.0 / cov->count : 0.0;
    if (!fe__mul3((size_t)d, (size_t)d + (size_t)n, sizeof(double), &bytes))
        return fe__fail(err, fe_err_limit, "memit: size overflow");
    A = (double *)fe__malloc(cov->alloc_user, bytes);
    ws = fe__dws_new(cov->alloc_user);
    if (!A || !ws) {
        fe__free(cov->alloc_user, A); fe__free(cov->alloc_user, ws);
        return fe__fail(err, fe_err_nomem, "memit: cannot allocate %lu bytes", (unsigned long)bytes);
    }
    Kd = A + (size_t)d * d;   /* n x d: the keys, then (solved in place) X */
    for (i = 0; i < d; i++)   /* lambda C, both triangles (the upper one is the kernels' scratch) */
        for (j = 0; j <= i; j++)
            A[(size_t)i * d + j] = A[(size_t)j * d + i] = lambda * (cov->m2[(size_t)i * d + j] * inv + (i == j ? ridge : 0.0));
    fe__f2d(Kd, K, (size_t)n * d);
    fe__dgram(A, d, Kd, n, ws);
    if ((bad = fe__dchol(A, d, ws)) >= 0) {
        fe__free(cov->alloc_user, A); fe__free(cov->alloc_user, ws);
        return fe__fail(err, fe_err_numeric,
                        "memit: lambda C + K K^T is singular at dimension %d (statistics without enough tokens: set a "
                        "covariance ridge)", bad);
    }
    fe__dchol_solve_rows(A, d, Kd, n, ws);
    fe__d2f(X, Kd, (size_t)n * d);
    fe__free(cov->alloc_user, A); fe__free(cov->alloc_user, ws);
    fe__ok(err);
    return fe_ok;
}

/* ---- symmetric eigen decomposition: Householder tridiagonalisation + implicit QL (the EISPACK
   tred2 / tql2 pair as in JAMA), on W = V^T so that every inner loop walks a row ---- */
#define FACTEDIT__EV(a, b) W[(size_t)(b) * n + (a)]
FACTEDIT__PRIV void fe__tred2(double *W, double *dg, double *e, int n) {
    int i, j, k;
    for (j = 0; j < n; j++) dg[j] = FACTEDIT__EV(n - 1, j);
    for (i = n - 1; i > 0; i--) {
        double scale = 0.0, h = 0.0;
        for (k = 0; k < i; k++) scale += fabs(dg[k]);
        if (scale == 0.0) {
            e[i] = dg[i - 1];
            for (j = 0; j < i; j++) {
                dg[j] = FACTEDIT__EV(i - 1, j);
                FACTEDIT__EV(i, j) = 0.0;
                FACTEDIT__EV(j, i) = 0.0;
            }
        } else {
            double f, g, hh;
            for (k = 0; k < i; k++) { dg[k] /= scale; h += dg[k] * dg[k]; }
            f = dg[i - 1];
            g = sqrt(h);
            if (f > 0) g = -g;
            e[i] = scale * g;
            h = h - f * g;
            dg[i - 1] = f - g;
            for (j = 0; j < i; j++) e[j] = 0.0;
            for (j = 0; j < i; j++) {
                const double *wj = W + (size_t)j * n;   /* V[k][j] = wj[k] */
                f = dg[j];
                FACTEDIT__EV(j, i) = f;
                g = e[j] + wj[j] * f;
                for (k = j + 1; k <= i - 1; k++) { g += wj[k] * dg[k]; e[k] += wj[k] * f; }
                e[j] = g;
            }
            f = 0.0;
            for (j = 0; j < i; j++) { e[j] /= h; f += e[j] * dg[j]; }
            hh = f / (h + h);
            for (j = 0; j < i; j++) e[j] -= hh * dg[j];
            for (j = 0; j < i; j++) {
                double *wj = W + (size_t)j * n;
                f = dg[j];
                g = e[j];
                for (k = j; k <= i - 1; k++) wj[k] -= (f * e[k] + g * dg[k]);
                dg[j] = FACTEDIT__EV(i - 1, j);
                FACTEDIT__EV(i, j) = 0.0;
            }
        }
        dg[i] = h;
    }
    for (i = 0; i < n - 1; i++) {
        double h;
        FACTEDIT__EV(n - 1, i) = FACTEDIT__EV(i, i);
        FACTEDIT__EV(i, i) = 1.0;
        h = dg[i + 1];
        if (h != 0.0) {
            const double *wi1 = W + (size_t)(i + 1) * n;
            for (k = 0; k <= i; k++) dg[k] = wi1[k] / h;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if ((size_t)i * i > 40000)
#endif
            for (j = 0; j <= i; j++) {
                double g = 0.0, *wj = W + (size_t)j * n;
                int kk;
                for (kk = 0; kk <= i; kk++) g += wi1[kk] * wj[kk];
                for (kk = 0; kk <= i; kk++) wj[kk] -= g * dg[kk];
            }
        }
        for (k = 0; k <= i; k++) FACTEDIT__EV(k, i + 1) = 0.0;
    }
    for (j = 0; j < n; j++) { dg[j] = FACTEDIT__EV(n - 1, j); FACTEDIT__EV(n - 1, j) = 0.0; }
    FACTEDIT__EV(n - 1, n - 1) = 1.0;
    e[0] = 0.0;
}

FACTEDIT__PRIV int fe__tql2(double *W, double *dg, double *e, int n) {
    int i, l, mm, k;
    double f = 0.0, tst1 = 0.0, eps = DBL_EPSILON;
    for (i = 1; i < n; i++) e[i - 1] = e[i];
    e[n - 1] = 0.0;
    for (l = 0; l < n; l++) {
        int iter = 0;
        if (fabs(dg[l]) + fabs(e[l]) > tst1) tst1 = fabs(dg[l]) + fabs(e[l]);
        mm = l;
        while (mm < n) { if (fabs(e[mm]) <= eps * tst1) break; mm++; }
        if (mm == n) mm = n - 1;
        if (mm > l) {
            do {
                double g, p, r, dl1, h, c, c2, c3, el1, s, s2;
                if (++iter > 60) return 0;
                g = dg[l];
                p = (dg[l + 1] - g) / (2.0 * e[l]);
                r = hypot(p, 1.0);
                if (p < 0) r = -r;
                dg[l] = e[l] / (p + r);
                dg[l + 1] = e[l] * (p + r);
                dl1 = dg[l + 1];
                h = g - dg[l];
                for (i = l + 2; i < n; i++) dg[i] -= h;
                f += h;
                p = dg[mm];
                c = 1.0; c2 = c; c3 = c; el1 = e[l + 1]; s = 0.0; s2 = 0.0;
                for (i = mm - 1; i >= l; i--) {
                    double *wi = W + (size_t)i * n, *wi1 = W + (size_t)(i + 1) * n;
                    c3 = c2; c2 = c; s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = hypot(p, e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * dg[i] - s * g;
                    dg[i + 1] = h + s * (c * g + s * dg[i]);
                    for (k = 0; k < n; k++) {   /* columns i, i+1 of V = rows of W */
                        double hv = wi1[k];
                        wi1[k] = s * wi[k] + c * hv;
                        wi[k] = c * wi[k] - s * hv;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                dg[l] = c * p;
            } while (fabs(e[l]) > eps * tst1);
        }
        dg[l] = dg[l] + f;
        e[l] = 0.0;
    }
    return 1;
}
#undef FACTEDIT__EV

FACTEDIT_API fe_result fe_eigh(const double *A, int d, double *evals, double *evecs, void *alloc_user, fe_error *err) {
    double *e, *tmp;
    int i, j, *ord;
    size_t bytes;
    if (d < 1 || !A || !evals || !evecs) return fe__fail(err, fe_err_arg, "eigh: empty matrix");
    if (!fe__mul3((size_t)d, (size_t)d, sizeof(double), &bytes)) return fe__fail(err, fe_err_limit, "eigh: size overflow");
    for (i = 0; i < d; i++)
        for (j = 0; j <= i; j++)
            if (!isfinite(A[(size_t)i * d + j])) return fe__fail(err, fe_err_numeric, "eigh: matrix not finite");
    /* W = V^T; V starts as A (symmetric: its lower triangle mirrored) */
    for (i = 0; i < d; i++)
        for (j = 0; j <= i; j++) evecs[(size_t)i * d + j] = evecs[(size_t)j * d + i] = A[(size_t)i * d + j];
    e = (double *)fe__malloc(alloc_user, sizeof(double) * (size_t)d);
    tmp = (double *)fe__malloc(alloc_user, bytes);
    ord = (int *)fe__malloc(alloc_user, sizeof(int) * (size_t)d);
    if (!e || !tmp || !ord) {
        fe__free(alloc_user, e); fe__free(alloc_user, tmp); fe__free(alloc_user, ord);
        return fe__fail(err, fe_err_nomem, "eigh: out of memory");
    }
    fe__tred2(evecs, evals, e, d);
    if (!fe__tql2(evecs, evals, e, d)) {
        fe__free(alloc_user, e); fe__free(alloc_user, tmp); fe__free(alloc_user, ord);
        return fe__fail(err, fe_err_numeric, "eigh: QL iteration did not converge");
    }
    /* sort ascending (insertion sort of an index; eigenvalues come out nearly sorted) */
    for (i = 0; i < d; i++) {
        int k = i;
        ord[i] = i;
        while (k > 0 && evals[ord[k - 1]] > evals[i]) { ord[k] = ord[k - 1]; k--; }
        ord[k] = i;
    }
    memcpy(tmp, evecs, bytes);
    for (i = 0; i < d; i++) { memcpy(evecs + (size_t)i * d, tmp + (size_t)ord[i] * d, sizeof(double) * (size_t)d); e[i] = evals[ord[i]]; }
    memcpy(evals, e, sizeof(double) * (size_t)d);
    fe__free(alloc_user, e); fe__free(alloc_user, tmp); fe__free(alloc_user, ord);
    fe__ok(err);
    return fe_ok;
}

/* ---- the sequential state ---- */

typedef struct fe__many_rec {   /* one batch at one layer */
    int n;
    float *K, *R, *X;           /* n x 4C, n x C, n x 4C */
    float *Kpost;               /* AlphaEdit: n x 4C keys after the batch (cache), else NULL */
} fe__many_rec;

struct fe_many {
    fe_memit_hparams hp;
    int C, nl, count, cap;
    const fe_cov *const *covs;  /* nl, not owned */
    float *W0;                  /* nl x C x 4C: the edited layers' fcprojw (panel layout) at the start */
    double sigma0[FACTEDIT_MAX_LAYERS];
    double *Ut; int *rank;      /* AlphaEdit: per layer rank[l] rows of 4C doubles (the null basis) */
    double *cache;              /* AlphaEdit: nl x 4C x 4C, the lower triangles used */
    fe__many_rec *rec;          /* count x nl */
    uint64_t hash;              /* of the edited layers as the log left them */
    void *alloc_user;
};

FACTEDIT__PRIV float *fe__fcproj(const fe_model *m, int layer) {
    return m->params.fcprojw + (size_t)layer * m->config.channels * 4 * (size_t)m->config.channels;
}

FACTEDIT__PRIV uint64_t fe__many_hash(const fe_many *s, const fe_model *m) {
    uint64_t h = FACTEDIT_FNV1A64_INIT;
    int i;
    for (i = 0; i < s->nl; i++) h = fe__hash_words(h, fe__fcproj(m, s->hp.layer_first + i), (size_t)s->C * 4 * s->C);
    return h;
}

FACTEDIT__PRIV void fe__many_rec_free(fe_many *s, fe__many_rec *r) {
    fe__free(s->alloc_user, r->K);
    memset(r, 0, sizeof *r);
}

FACTEDIT_API void fe_many_free(fe_many *s) {
    int i;
    if (!s) return;
    for (i = 0; i < s->count * s->nl; i++) fe__many_rec_free(s, &s->rec[i]);
    fe__free(s->alloc_user, s->rec);
    fe__free(s->alloc_user, s->W0);
    fe__free(s->alloc_user, s->Ut);
    fe__free(s->alloc_user, s->rank);
    fe__free(s->alloc_user, s->cache);
    fe__free(s->alloc_user, s);
}

/* sigma_max of a panel-layout C x 4C matrix by power iteration on W^T W (100 steps, fixed seed). */
FACTEDIT__PRIV double fe__sigma_max(const float *Wp, int C, void *u) {
    int C4 = 4 * C, it, o, i;
    float *W = (float *)fe__malloc(u, sizeof(float) * (size_t)C * C4);
    double *v = (double *)fe__malloc(u, sizeof(double) * ((size_t)C4 + C)), *y, nv = 0.0, sig = 0.0;
    fe_rng rng;
    if (!W || !v) { fe__free(u, W); fe__free(u, v); return NAN; }
    y = v + C4;
    fe_weight_unpack(W, Wp, (size_t)C, (size_t)C4);
    fe_rng_seed(&rng, 1);
    for (i = 0; i < C4; i++) { v[i] = fe_rng_normal(&rng); nv += v[i] * v[i]; }
    for (it = 0; it < 100; it++) {
        double ny = 0.0;
        nv = sqrt(nv);
        for (i = 0; i < C4; i++) v[i] /= nv;
        for (o = 0; o < C; o++) {
            double sum = 0.0;
            const float *wo = W + (size_t)o * C4;
            for (i = 0; i < C4; i++) sum += wo[i] * v[i];
            y[o] = sum; ny += sum * sum;
        }
        sig = sqrt(ny);
        nv = 0.0;
        for (i = 0; i < C4; i++) v[i] = 0.0;
        for (o = 0; o < C; o++) {
            const float *wo = W + (size_t)o * C4;
            for (i = 0; i < C4; i++) v[i] += wo[i] * y[o];
        }
        for (i = 0; i < C4; i++) nv += v[i] * v[i];
        if (!(nv > 0)) break;
    }
    fe__free(u, W); fe__free(u, v);
    return sig;
}

FACTEDIT_API fe_result fe_many_new(fe_many **out, const fe_model *m, const fe_memit_hparams *hp,
                                   const fe_cov *const *covs, fe_error *err) {
    fe_many *s;
    int C = m->config.channels, C4 = 4 * C, i, j, k;
    size_t mat = (size_t)C * C4;
    fe_result r;
    *out = NULL;
    if (!hp || !covs) return fe__fail(err, fe_err_arg, "memit: NULL argument");
    if ((r = fe__memit_layers_ok(m, hp, err)) != fe_ok) return r;
    for (i = 0; i <= hp->layer_last - hp->layer_first; i++)
        if (!covs[i] || covs[i]->dim != C4 || !(covs[i]->count > 0))
            return fe__fail(err, fe_err_mismatch, "memit: statistics for layer %d missing, empty or of dimension %d (keys "
                            "have %d)", hp->layer_first + i, covs[i] ? covs[i]->dim : 0, C4);
    if (!(hp->lambda >= 0) || !(hp->cov_ridge >= 0) || (hp->alphaedit && (!(hp->l2 > 0) || !(hp->null_threshold > 0))))
        return fe__fail(err, fe_err_arg, "memit: lambda and cov_ridge must be >= 0; AlphaEdit's l2 and threshold > 0");
    if (!(s = (fe_many *)fe__calloc(m->alloc_user, sizeof *s))) return fe__fail(err, fe_err_nomem, "memit: out of memory");
    s->hp = *hp; s->C = C; s->nl = hp->layer_last - hp->layer_first + 1; s->covs = covs; s->alloc_user = m->alloc_user;
    if (!(s->W0 = (float *)fe__malloc(s->alloc_user, sizeof(float) * mat * s->nl))) {
        fe_many_free(s);
        return fe__fail(err, fe_err_nomem, "memit: out of memory");
    }
    for (i = 0; i < s->nl; i++) {
        memcpy(s->W0 + mat * i, fe__fcproj(m, hp->layer_first + i), sizeof(float) * mat);
        s->sigma0[i] = fe__sigma_max(s->W0 + mat * i, C, s->alloc_user);
    }
    if (hp->alphaedit) {
        double *A = (double *)fe__malloc(s->alloc_user, sizeof(double) * (size_t)C4 * C4 * 2), *ev, *V;
        s->Ut = (double *)fe__malloc(s->alloc_user, sizeof(double) * (size_t)C4 * C4 * s->nl);
        s->rank = (int *)fe__calloc(s->alloc_user, sizeof(int) * (size_t)s->nl);
        s->cache = (double *)fe__calloc(s->alloc_user, sizeof(double) * (size_t)C4 * C4 * s->nl);
        ev = (double *)fe__malloc(s->alloc_user, sizeof(double) * (size_t)C4);
        if (!A || !s->Ut || !s->rank || !s->cache || !ev) {
            fe__free(s->alloc_user, A); fe__free(s->alloc_user, ev); fe_many_free(s);
            return fe__fail(err, fe_err_nomem, "memit: out of memory for AlphaEdit's projections");
        }
        V = A + (size_t)C4 * C4;
        for (i = 0; i < s->nl && r == fe_ok; i++) {
            const fe_cov *c = covs[i];
            double inv = 1.0 / c->count;
            for (j = 0; j < C4; j++)
                for (k = 0; k <= j; k++) A[(size_t)j * C4 + k] = c->m2[(size_t)j * C4 + k] * inv + (j == k ? hp->cov_ridge : 0.0);
            if ((r = fe_eigh(A, C4, ev, V, s->alloc_user, err)) != fe_ok) break;
            for (j = 0; j < C4 && ev[j] < hp->null_threshold; j++) {}
            s->rank[i] = j;   /* ascending: the first j eigenvectors */
            memcpy(s->Ut + (size_t)i * C4 * C4, V, sizeof(double) * (size_t)j * C4);
            if (j == 0) r = fe__fail(err, fe_err_numeric, "alphaedit: no eigenvalue of layer %d's statistics is below the "
                                     "threshold %g (smallest %g): the null space is empty", hp->layer_first + i,
                                     hp->null_threshold, ev[0]);
        }
        fe__free(s->alloc_user, A); fe__free(s->alloc_user, ev);
        if (r != fe_ok) { fe_many_free(s); return r; }
    }
    s->hash = fe__many_hash(s, m);
    *out = s;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API int fe_many_count(const fe_many *s) { return s ? s->count : 0; }

/* AlphaEdit's X (n x 4C) = U (U^T M U + l2 I)^-1 U^T K^T with M = K^T K + cache (layer index li),
   in row layout: G = K U (n x rk), S = U^T M U + l2 I (rk x rk), X = (G S^-1) U^T. */
FACTEDIT__PRIV fe_result fe__alphaedit_solve(const fe_many *s, int li, const float *K, int n, float *X, fe_error *err) {
    int d = 4 * s->C, rk = s->rank[li], i, j, bad;
    const double *Ut = s->Ut + (size_t)li * d * d, *cache = s->cache + (size_t)li * d * d;
    double *M = NULL, *Kd = NULL, *MU = NULL, *S = NULL, *G = NULL, *ws = NULL;
    void *u = s->alloc_user;
    size_t bytes;
    fe_result r = fe_ok;
    if (!fe__mul3((size_t)n, (size_t)d, sizeof(double), &bytes)) return fe__fail(err, fe_err_limit, "alphaedit: size overflow");
    M = (double *)fe__malloc(u, sizeof(double) * (size_t)d * d);
    Kd = (double *)fe__malloc(u, bytes);
    MU = (double *)fe__malloc(u, sizeof(double) * (size_t)d * rk);
    S = (double *)fe__malloc(u, sizeof(double) * (size_t)rk * rk);
    G = (double *)fe__calloc(u, sizeof(double) * (size_t)n * rk);
    ws = fe__dws_new(u);
    if (!M || !Kd || !MU || !S || !G || !ws) { r = fe__fail(err, fe_err_nomem, "alphaedit: out of memory"); goto done; }
    for (i = 0; i < d; i++) for (j = 0; j <= i; j++) M[(size_t)i * d + j] = cache[(size_t)i * d + j];
    fe__f2d(Kd, K, (size_t)n * d);
    fe__dgram(M, d, Kd, n, ws);
    for (i = 0; i < d; i++) for (j = 0; j < i; j++) M[(size_t)j * d + i] = M[(size_t)i * d + j];   /* full */
    memset(MU, 0, sizeof(double) * (size_t)d * rk);   /* MU = M U (d x rk; U^T's rows are Ut's) */
    fe__dgemm_rows(0, fe__rows_per_thread(d), d, rk, d, 1.0, M, (size_t)d, 1, Ut, 1, (size_t)d, MU, (size_t)rk, ws);
    for (i = 0; i < rk; i++) for (j = 0; j < rk; j++) S[(size_t)i * rk + j] = i == j ? s->hp.l2 : 0.0;
    fe__dgemm_rows(1, FACTEDIT__DRB, rk, rk, d, 1.0, Ut, (size_t)d, 1, MU, (size_t)rk, 1, S, (size_t)rk, ws);
    fe__dgemm_rows(0, fe__rows_per_thread(n), n, rk, d, 1.0, Kd, (size_t)d, 1, Ut, 1, (size_t)d, G, (size_t)rk, ws);
    if ((bad = fe__dchol(S, rk, ws)) >= 0) {
        r = fe__fail(err, fe_err_numeric, "alphaedit: the projected system is not positive definite at %d", bad);
        goto done;
    }
    fe__dchol_solve_rows(S, rk, G, n, ws);
    memset(Kd, 0, sizeof(double) * (size_t)n * d);   /* X = G U^T */
    fe__dgemm_rows(0, fe__rows_per_thread(n), n, d, rk, 1.0, G, (size_t)rk, 1, Ut, (size_t)d, 1, Kd, (size_t)d, ws);
    fe__d2f(X, Kd, (size_t)n * d);
done:
    fe__free(u, M); fe__free(u, Kd); fe__free(u, MU); fe__free(u, S); fe__free(u, G); fe__free(u, ws);
    return r;
}

/* cache_li += Kpost^T Kpost (lower triangle; the upper part of its diagonal blocks is scratch) */
FACTEDIT__PRIV fe_result fe__many_cache_add(fe_many *s, int li, const float *Kp, int n, fe_error *err) {
    int d = 4 * s->C;
    double *Kd = (double *)fe__malloc(s->alloc_user, sizeof(double) * (size_t)d * n), *ws = fe__dws_new(s->alloc_user);
    if (!Kd || !ws) {
        fe__free(s->alloc_user, Kd); fe__free(s->alloc_user, ws);
        return fe__fail(err, fe_err_nomem, "alphaedit: out of memory");
    }
    fe__f2d(Kd, Kp, (size_t)n * d);
    fe__dgram(s->cache + (size_t)li * d * d, d, Kd, n, ws);
    fe__free(s->alloc_user, Kd); fe__free(s->alloc_user, ws);
    return fe_ok;
}

/* W (a panel-layout C x 4C fcprojw) += R[i] (x) X[i] for i = 0..n-1 (R n x C, X n x 4C): every element
   takes its n updates by fe__rank1_add's float expression in the same order, so the bits equal n
   fe__rank1_add calls; but tile by tile (a panel's 128 input columns, 16 KiB: L1), not sweeping the
   whole matrix n times. Tiles are split over threads (each element one thread's). */
FACTEDIT__PRIV void fe__rank1_add_many(float *W, int C, const float *R, const float *X, int n) {
    enum { KB = 128 };
    int C4 = 4 * C, nkb = (C4 + KB - 1) / KB, np = (C + FACTEDIT_WEIGHT_PANEL - 1) / FACTEDIT_WEIGHT_PANEL, t;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if ((double)n * C * C4 > 4e6)
#endif
    for (t = 0; t < np * nkb; t++) {
        size_t p0 = (size_t)(t / nkb) * FACTEDIT_WEIGHT_PANEL, k0 = (size_t)(t % nkb) * KB, w = FACTEDIT__PANEL_W((size_t)C, p0);
        size_t k1 = k0 + KB < (size_t)C4 ? k0 + KB : (size_t)C4, k, o;
        float *P = W + p0 * C4;
        int i;
        for (i = 0; i < n; i++) {
            const float *right = R + (size_t)i * C, *u = X + (size_t)i * C4;
            if (w == FACTEDIT_WEIGHT_PANEL) {
                /* a local copy and a constant trip count: no aliasing to rule out, so -O2 vectorizes it
                   (the same expression per element: the compiler contracts it or not as in fe__rank1_add) */
                float r[FACTEDIT_WEIGHT_PANEL];
                memcpy(r, right + p0, sizeof r);
                for (k = k0; k < k1; k++) {
                    float uk = u[k], *pk = P + k * FACTEDIT_WEIGHT_PANEL;
                    for (o = 0; o < FACTEDIT_WEIGHT_PANEL; o++) pk[o] += r[o] * uk;
                }
            } else
                for (k = k0; k < k1; k++)
                    for (o = 0; o < w; o++) P[k * w + o] += right[p0 + o] * u[k];
        }
    }
}

FACTEDIT_API fe_result fe_memit_apply(fe_model *m, int layer, const float *R, const float *X, int n, fe_error *err) {
    if (!m || !R || !X || n < 1) return fe__fail(err, fe_err_arg, "memit: nothing to apply");
    if (layer < 0 || layer >= m->config.num_layers)
        return fe__fail(err, fe_err_range, "memit: layer %d outside the model (0..%d)", layer, m->config.num_layers - 1);
    fe__rank1_add_many(fe__fcproj(m, layer), m->config.channels, R, X, n);
    fe__ok(err);
    return fe_ok;
}

FACTEDIT__PRIV void fe__many_apply_rec(const fe_many *s, fe_model *m, int li, const fe__many_rec *r) {
    fe__rank1_add_many(fe__fcproj(m, s->hp.layer_first + li), s->C, r->R, r->X, r->n);
}

FACTEDIT_API fe_result fe_many_edit(fe_many *s, fe_model *m, const fe_memit_request *q, int n, const float *Zin,
                                    fe_rome_report *reps, fe_error *err) {
    int C = s->C, C4 = 4 * C, nl = s->nl, li, i, j, last = s->hp.layer_last;
    size_t mat = (size_t)C * C4;
    float *Z = NULL, *cur = NULL, *saved = NULL;
    fe__many_rec *rec = NULL;
    fe_result r;
    void *u = s->alloc_user;
    if (!m || m->config.channels != C) return fe__fail(err, fe_err_mismatch, "memit: the state was made for another model");
    if ((r = fe_memit_check(m, q, n, err)) != fe_ok) return r;
    if (fe__many_hash(s, m) != s->hash)
        return fe__fail(err, fe_err_arg, "memit: the edited layers changed outside this edit log");
    Z = (float *)fe__malloc(u, sizeof(float) * (size_t)n * C * 2);
    saved = (float *)fe__malloc(u, sizeof(float) * mat * nl);
    rec = (fe__many_rec *)fe__calloc(u, sizeof *rec * (size_t)nl);
    if (!Z || !saved || !rec) { r = fe__fail(err, fe_err_nomem, "memit: out of memory"); goto fail; }
    cur = Z + (size_t)n * C;
    for (li = 0; li < nl; li++) memcpy(saved + mat * li, fe__fcproj(m, s->hp.layer_first + li), sizeof(float) * mat);
    if (Zin) memcpy(Z, Zin, sizeof(float) * (size_t)n * C);
    else if ((r = fe_memit_targets(m, q, n, &s->hp, Z, reps, err)) != fe_ok) goto fail;
    for (li = 0; li < nl; li++) {
        int l = s->hp.layer_first + li;
        fe__many_rec *rc = &rec[li];
        size_t fl = (size_t)n * (3 * (size_t)C4 + C + (s->hp.alphaedit ? (size_t)C4 : 0));
        rc->n = n;
        if (!(rc->K = (float *)fe__malloc(u, sizeof(float) * fl))) { r = fe__fail(err, fe_err_nomem, "memit: out of memory"); goto fail; }
        rc->R = rc->K + (size_t)n * C4; rc->X = rc->R + (size_t)n * C;
        rc->Kpost = s->hp.alphaedit ? rc->X + (size_t)n * C4 : NULL;
        if ((r = fe_memit_keys(m, l, q, n, rc->K, err)) != fe_ok || (r = fe_memit_zs(m, last, q, n, cur, err)) != fe_ok)
            goto fail;
        for (i = 0; i < n; i++)
            for (j = 0; j < C; j++)
                rc->R[(size_t)i * C + j] = (float)(((double)Z[(size_t)i * C + j] - cur[(size_t)i * C + j]) / (last - l + 1));
        if (s->hp.alphaedit) r = fe__alphaedit_solve(s, li, rc->K, n, rc->X, err);
        else r = fe_memit_solve(s->covs[li], s->hp.cov_ridge, s->hp.lambda, rc->K, n, rc->X, err);
        if (r != fe_ok) goto fail;
        for (i = 0; i < n * C4; i++)
            if (!isfinite(rc->X[i])) { r = fe__fail(err, fe_err_numeric, "memit: layer %d's update is not finite", l); goto fail; }
        fe__many_apply_rec(s, m, li, rc);
    }
    if (s->hp.alphaedit)
        for (li = 0; li < nl; li++)
            if ((r = fe_memit_keys(m, s->hp.layer_first + li, q, n, rec[li].Kpost, err)) != fe_ok) goto fail;
    if (s->count == s->cap) {
        int nc = s->cap ? 2 * s->cap : 16;
        fe__many_rec *nr = (fe__many_rec *)fe__malloc(u, sizeof *nr * (size_t)nc * nl);
        if (!nr) { r = fe__fail(err, fe_err_nomem, "memit: out of memory"); goto fail; }
        if (s->count) memcpy(nr, s->rec, sizeof *nr * (size_t)s->count * nl);
        fe__free(u, s->rec);
        s->rec = nr; s->cap = nc;
    }
    if (s->hp.alphaedit)
        for (li = 0; li < nl; li++)
            if ((r = fe__many_cache_add(s, li, rec[li].Kpost, n, err)) != fe_ok) goto fail;   /* only on OOM */
    memcpy(s->rec + (size_t)s->count * nl, rec, sizeof *rec * (size_t)nl);
    s->count++;
    s->hash = fe__many_hash(s, m);
    fe__free(u, rec); fe__free(u, Z); fe__free(u, saved);
    fe__ok(err);
    return fe_ok;
fail:
    if (saved) for (li = 0; li < nl; li++) memcpy(fe__fcproj(m, s->hp.layer_first + li), saved + mat * li, sizeof(float) * mat);
    for (li = 0; rec && li < nl; li++) fe__many_rec_free(s, &rec[li]);
    fe__free(u, rec); fe__free(u, Z); fe__free(u, saved);
    return r;
}

FACTEDIT_API fe_result fe_many_undo(fe_many *s, fe_model *m, int k, fe_error *err) {
    int C = s->C, nl = s->nl, li, b, keep;
    size_t mat = (size_t)C * 4 * C;
    fe_result r;
    if (k < 0 || k > s->count) return fe__fail(err, fe_err_arg, "memit: cannot undo %d of %d batches", k, s->count);
    if (fe__many_hash(s, m) != s->hash)
        return fe__fail(err, fe_err_arg, "memit: the edited layers changed since the last logged batch: cannot undo");
    keep = s->count - k;
    for (li = 0; li < nl; li++) {
        memcpy(fe__fcproj(m, s->hp.layer_first + li), s->W0 + mat * li, sizeof(float) * mat);
        for (b = 0; b < keep; b++) fe__many_apply_rec(s, m, li, &s->rec[(size_t)b * nl + li]);
    }
    if (s->hp.alphaedit) {
        size_t d = 4 * (size_t)C;
        memset(s->cache, 0, sizeof(double) * d * d * nl);
        for (b = 0; b < keep; b++)
            for (li = 0; li < nl; li++)
                if ((r = fe__many_cache_add(s, li, s->rec[(size_t)b * nl + li].Kpost, s->rec[(size_t)b * nl + li].n, err)) != fe_ok)
                    return r;
    }
    for (b = keep; b < s->count; b++) for (li = 0; li < nl; li++) fe__many_rec_free(s, &s->rec[(size_t)b * nl + li]);
    s->count = keep;
    s->hash = fe__many_hash(s, m);
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API const float *fe_many_record(const fe_many *s, int b, int layer, int *n, const float **R, const float **X) {
    const fe__many_rec *r;
    if (!s || b < 0 || b >= s->count || layer < s->hp.layer_first || layer > s->hp.layer_last) return NULL;
    r = &s->rec[(size_t)b * s->nl + (layer - s->hp.layer_first)];
    if (n) *n = r->n;
    if (R) *R = r->R;
    if (X) *X = r->X;
    return r->K;
}

FACTEDIT_API fe_result fe_many_delta(const fe_many *s, int b, int layer, float *dW, fe_error *err) {
    int n, C = s->C, C4 = 4 * C, o, i, k;
    const float *R, *X;
    if (!fe_many_record(s, b, layer, &n, &R, &X)) return fe__fail(err, fe_err_range, "memit: no batch %d at layer %d", b, layer);
    for (o = 0; o < C; o++)
        for (i = 0; i < C4; i++) {
            double x = 0.0;
            for (k = 0; k < n; k++) x += (double)R[(size_t)k * C + o] * X[(size_t)k * C4 + i];
            dW[(size_t)o * C4 + i] = (float)x;
        }
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_many_projector(const fe_many *s, int layer, float *P, int *rank, fe_error *err) {
    int d = 4 * s->C, li, i, j, a, rk;
    const double *Ut;
    if (!s->hp.alphaedit) return fe__fail(err, fe_err_arg, "memit: no projector without AlphaEdit");
    if (layer < s->hp.layer_first || layer > s->hp.layer_last) return fe__fail(err, fe_err_range, "memit: layer %d not edited", layer);
    li = layer - s->hp.layer_first;
    rk = s->rank[li];
    Ut = s->Ut + (size_t)li * d * d;
    for (i = 0; P && i < d; i++)
        for (j = 0; j < d; j++) {
            double x = 0.0;
            for (a = 0; a < rk; a++) x += Ut[(size_t)a * d + i] * Ut[(size_t)a * d + j];
            P[(size_t)i * d + j] = (float)x;
        }
    if (rank) *rank = rk;
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_many_patches(const fe_many *s, fe_model *m, int b, fe_patch ***out, int *count,
                                       fe_error *err) {
    int nl = s->nl, C = s->C, li, k, at = 0, tot = 0, bb;
    size_t mat = (size_t)C * 4 * C;
    fe_patch **arr;
    float *now;
    fe_result r = fe_ok;
    void *u = m->alloc_user;
    *out = NULL; *count = 0;
    if (b < 0 || b >= s->count) return fe__fail(err, fe_err_range, "memit: no batch %d (the log has %d)", b, s->count);
    if (fe__many_hash(s, m) != s->hash) return fe__fail(err, fe_err_arg, "memit: the model is not as the log left it");
    for (li = 0; li < nl; li++) tot += s->rec[(size_t)b * nl + li].n;
    arr = (fe_patch **)fe__calloc(u, sizeof *arr * (size_t)tot);
    now = (float *)fe__malloc(u, sizeof(float) * mat * nl);
    if (!arr || !now) { fe__free(u, arr); fe__free(u, now); return fe__fail(err, fe_err_nomem, "memit: out of memory"); }
    for (li = 0; li < nl; li++) {   /* the state before batch b: W0 + batches 0..b-1 */
        memcpy(now + mat * li, fe__fcproj(m, s->hp.layer_first + li), sizeof(float) * mat);
        memcpy(fe__fcproj(m, s->hp.layer_first + li), s->W0 + mat * li, sizeof(float) * mat);
        for (bb = 0; bb < b; bb++) fe__many_apply_rec(s, m, li, &s->rec[(size_t)bb * nl + li]);
    }
    for (li = 0; li < nl && r == fe_ok; li++) {
        const fe__many_rec *rc = &s->rec[(size_t)b * nl + li];
        for (k = 0; k < rc->n && r == fe_ok; k++) {
            fe_patch *p = (fe_patch *)fe__calloc(u, sizeof *p);
            if (!p) { r = fe__fail(err, fe_err_nomem, "memit: out of memory"); break; }
            arr[at++] = p;
            p->alloc_user = u;
            p->num_layers = m->config.num_layers;
            p->model_checksum = fe_model_checksum(m);
            if ((r = fe_edit_new(&p->edit, m, s->hp.layer_first + li, err)) != fe_ok) break;
            memcpy(p->edit->u, rc->X + (size_t)k * 4 * C, sizeof(float) * 4 * (size_t)C);
            memcpy(p->edit->right, rc->R + (size_t)k * C, sizeof(float) * (size_t)C);
            fe__rank1_add(fe__fcproj(m, s->hp.layer_first + li), C, p->edit->right, p->edit->u);
        }
    }
    for (li = 0; li < nl; li++) memcpy(fe__fcproj(m, s->hp.layer_first + li), now + mat * li, sizeof(float) * mat);
    fe__free(u, now);
    if (r != fe_ok) {
        for (k = 0; k < at; k++) fe_patch_free(arr[k]);
        fe__free(u, arr);
        return r;
    }
    *out = arr; *count = tot;
    fe__ok(err);
    return fe_ok;
}

/* ---- health ---- */

FACTEDIT_API fe_result fe_probe_nll(const fe_model *m, const fe_health_probes *p, double *nll, fe_error *err) {
    int i, t, V = m->config.vocab_size;
    double sum = 0.0;
    long cnt = 0;
    fe_state *s = NULL;
    fe_forward_opts fo;
    fe_result r = fe_ok;
    *nll = NAN;
    if (!p || p->count < 1) { fe__ok(err); return fe_ok; }
    for (i = 0; i < p->count && r == fe_ok; i++) {
        int n = p->n[i];
        if (n < 2) continue;
        if (n > m->config.max_seq_len) n = m->config.max_seq_len;
        for (t = 0; t < n; t++)
            if (p->ids[i][t] < 0 || p->ids[i][t] >= V) return fe__fail(err, fe_err_range, "health: probe %d has a token outside the vocabulary", i);
        if ((r = fe_state_new(&s, m, 1, n, 0, err)) != fe_ok) break;
        memset(&fo, 0, sizeof fo);
        fo.all_logits = 1;
        if ((r = fe_forward(m, s, p->ids[i], n, &fo, err)) == fe_ok)
            for (t = 0; t + 1 < n; t++) {
                const float *z = fe_state_logits(s, 0, t);
                sum += fe__logsumexp(z, V) - z[p->ids[i][t + 1]];
                cnt++;
            }
        fe_state_free(s);
        s = NULL;
    }
    if (r == fe_ok) { *nll = cnt ? sum / cnt : NAN; fe__ok(err); }
    return r;
}

FACTEDIT__PRIV int fe__cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Entropy in bits of the n-gram frequencies of ids (n-grams as hashed keys, sorted). */
FACTEDIT__PRIV double fe__ngram_entropy(const int *ids, int len, int ng, uint64_t *keys) {
    int i, j, cnt = len - ng + 1, run;
    double h = 0.0;
    if (cnt < 1) return 0.0;
    for (i = 0; i < cnt; i++) keys[i] = fe_fnv1a64(FACTEDIT_FNV1A64_INIT, ids + i, sizeof(int) * (size_t)ng);
    qsort(keys, (size_t)cnt, sizeof *keys, fe__cmp_u64);
    for (i = 0; i < cnt; i = j) {
        double f;
        for (j = i; j < cnt && keys[j] == keys[i]; j++) {}
        run = j - i;
        f = (double)run / cnt;
        h -= f * log(f) / log(2.0);
    }
    return h;
}

FACTEDIT_API fe_result fe_gen_entropy(const fe_model *m, const fe_health_probes *p, double *ge, fe_error *err) {
    int i, len, maxlen = 0;
    int *buf = NULL;
    uint64_t *keys = NULL;
    double sum = 0.0;
    fe_result r = fe_ok;
    *ge = NAN;
    if (!p || p->gen_count < 1 || p->gen_len < 1) { fe__ok(err); return fe_ok; }
    for (i = 0; i < p->gen_count; i++) if (p->gen_n[i] > maxlen) maxlen = p->gen_n[i];
    buf = (int *)fe__malloc(m->alloc_user, sizeof(int) * ((size_t)maxlen + p->gen_len));
    keys = (uint64_t *)fe__malloc(m->alloc_user, sizeof(uint64_t) * ((size_t)maxlen + p->gen_len));
    if (!buf || !keys) r = fe__fail(err, fe_err_nomem, "health: out of memory");
    for (i = 0; i < p->gen_count && r == fe_ok; i++) {
        int np = p->gen_n[i], nn = p->gen_len;
        if (np < 1) { r = fe__fail(err, fe_err_arg, "health: GE prompt %d is empty", i); break; }
        if (np + nn > m->config.max_seq_len) nn = m->config.max_seq_len - np;
        if (nn < 1) { r = fe__fail(err, fe_err_arg, "health: GE prompt %d fills the context", i); break; }
        memcpy(buf, p->gen_ids[i], sizeof(int) * (size_t)np);
        if ((r = fe_generate(m, p->gen_ids[i], np, nn, NULL, NULL, buf + np, err)) != fe_ok) break;
        len = np + nn;
        sum += (2.0 / 3.0 * fe__ngram_entropy(buf, len, 2, keys) + 4.0 / 3.0 * fe__ngram_entropy(buf, len, 3, keys)) / 2.0;
    }
    fe__free(m->alloc_user, buf);
    fe__free(m->alloc_user, keys);
    if (r == fe_ok) { *ge = sum / p->gen_count; fe__ok(err); }
    return r;
}

FACTEDIT_API fe_result fe_many_layer_health(const fe_many *s, const fe_model *m, int layer, double *rel_fro,
                                            double *sigma, double *sigma0, fe_error *err) {
    int li;
    size_t mat = (size_t)s->C * 4 * s->C, i;
    const float *W, *W0;
    double dn = 0.0, n0 = 0.0;
    if (layer < s->hp.layer_first || layer > s->hp.layer_last) return fe__fail(err, fe_err_range, "health: layer %d not edited", layer);
    li = layer - s->hp.layer_first;
    W = fe__fcproj(m, layer);
    W0 = s->W0 + mat * li;
    for (i = 0; i < mat; i++) { double d = (double)W[i] - W0[i]; dn += d * d; n0 += (double)W0[i] * W0[i]; }
    if (rel_fro) *rel_fro = n0 > 0 ? sqrt(dn / n0) : NAN;
    if (sigma) *sigma = fe__sigma_max(W, s->C, s->alloc_user);
    if (sigma0) *sigma0 = s->sigma0[li];
    fe__ok(err);
    return fe_ok;
}

FACTEDIT_API fe_result fe_many_health(const fe_many *s, const fe_model *m, const fe_health_probes *p, fe_health *h,
                                      fe_error *err) {
    int l;
    fe_result r;
    h->rel_fro_max = 0.0; h->sigma_ratio_max = 0.0; h->worst_layer = s->hp.layer_first;
    for (l = s->hp.layer_first; l <= s->hp.layer_last; l++) {
        double rf, sg, s0;
        if ((r = fe_many_layer_health(s, m, l, &rf, &sg, &s0, err)) != fe_ok) return r;
        if (rf > h->rel_fro_max) { h->rel_fro_max = rf; h->worst_layer = l; }
        if (s0 > 0 && sg / s0 > h->sigma_ratio_max) h->sigma_ratio_max = sg / s0;
    }
    if ((r = fe_probe_nll(m, p, &h->nll, err)) != fe_ok) return r;
    return fe_gen_entropy(m, p, &h->ge, err);
}

FACTEDIT_API int fe_health_warn(const fe_health *h, const fe_health *h0) {
    int w = 0;
    if (!isnan(h->ge) && !isnan(h0->ge) && h->ge < 0.9 * h0->ge) w |= 1;
    if (!isnan(h->nll) && !isnan(h0->nll) && h->nll > h0->nll + 0.5) w |= 2;
    if (h->sigma_ratio_max > 2.0) w |= 4;
    if (h->rel_fro_max > 0.5) w |= 8;
    return w;
}

#endif /* FACTEDIT_IMPLEMENTATION */

/*
   PERFORMANCE NOTES
   Measurements behind choices in the code, kept here (as stb keeps its revision history) rather
   than in the comments they would date. x86-64, OpenMP on two cores unless said.
   - Packed GEMM (fe__gemm_go): reading a panel-layout W in place, front to back, instead of
     packing its panels: +33% at T = 64.
   - AVX-512 micro-kernel rows (FACTEDIT__MR): 8 rows x 2 vectors, ~10% faster than 12 at T = 64.
   - bf16-resident weights, pair layout (FACTEDIT__H_GROUP): widening 2 x VW contiguous bf16 values
     instead (vpmovzxwd + shift) cost 7% at T = 64.
   - bf16-resident weights (fe_load_opts.bf16_weights), 124M shape: 0.62x the memory, decoding
     1.3-1.4x faster.
   - fe__tanh: several times faster than libm's tanhf, which dominated small-model training.
   - fe_cov_add: float GEMM over batches of 256 keys, about 100x the double loop it replaced.
   - MEMIT's closed form (fe_memit_solve) at d = 3072, n = 1000, two threads, load ~1: 0.79-0.94 s
     per layer (before, left-looking dot-product Cholesky and row-by-row solves: 12.8 s, at load 4-6). One
     thread, CPU time: Gram ~0.24 s, Cholesky ~0.30 s, solves ~0.48 s (Cholesky blocks of 128: 192, 256
     and 384 measured no faster; recursive solves with 32-wide leaves took ~10% off left-looking blocks of 128).
     The 6 x 8 kernel alone (operands in L1): ~50 GFLOP/s per core.
   - fe_memit_apply, 1,000 rank-one updates of a 768 x 3072 matrix: 0.05 s (tiles of 32 x 128 in
     L1; bench's former loop of 1,000 passes over the matrix: 2.0 s, at load 4-6).
   - fe_state_new for 64 rows of 12 tokens on the 124M shape: ~0.7 GB (its size formula) zeroed,
     2-3 s at load ~1 (3.4 s at load 5), nearly all page faults (touching 700 MB of fresh memory:
     2.5 s here, ~14 us per 4 KB page): as long as those rows' forward to layer 8. MEMIT's keys
     (fe__lookup_acts) ran in one such state (44-61% of fe_forward's tokens/s on the same prompts,
     bench --memit); in a lean state (~24 MB at 32 x 12 tokens) 102% in each of 3 runs at
     load 0.9-1.6, 1,798-2,014 tokens/s. 64 rows per forward instead of 32: no faster.
   - fe_cov_factor at dim 3072: about 0.5 s. fe_cov_solve without the factor (Jacobi) on
     ill-conditioned statistics: thousands of iterations, about 5 s at dim 3072.
*/

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
