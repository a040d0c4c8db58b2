/* fe_convert: Hugging Face GPT-2 (model.safetensors + optional config.json) -> factedit model /
   llm.c checkpoint. Used by `factedit convert` and oracle_check. Only the public API of
   factedit.h is used (safetensors reader, JSON parser, fe_model_new, fe_model_save_mem /
   fe_model_save_file, fe_read_file), so this compiles as its own translation unit; the program
   that links it defines FACTEDIT_IMPLEMENTATION once elsewhere. Every allocation goes through the
   library (and so through FACTEDIT_MALLOC with the caller's alloc_user); the converter itself
   allocates nothing.

   What it builds: an fe_model (fe_model_new) whose fe_params are filled from the tensors, [out, in]
   matrices, wte rows V..Vp-1 zero (Vp = V rounded up to a multiple of 128, as llm.c does). The
   checkpoint bytes are whatever fe_model_save_mem writes (see FILE FORMATS in factedit.h).

   Input: keys with or without "transformer."; Conv1D weights are [in, out] and get transposed;
   h.N.attn.bias / h.N.attn.masked_bias buffers are skipped; lm_head.weight must equal wte (tied).
   F32, F16 and BF16 tensors (mixed is fine). V, C, maxT, L come from the shapes. n_head comes from
   config.json "n_head" or the n_head option (> 0); both given and different is an error.
   config.json, when given, is cross-checked: n_embd, n_layer, n_positions, vocab_size, n_inner
   must match the shapes, layer_norm_epsilon must be 1e-5 (the llm.c format has no eps field), and
   activation_function / scale_attn_* / tie_word_embeddings must be what llm.c computes. Any tensor
   the converter does not understand is an error (fe_err_unsupported), as are NaN/Inf weights
   (fe_err_numeric, naming the tensor and the element in the file's layout).

   missing_from (optional): a second safetensors file of the SAME model (e.g. the F32 original of
   an F16 export that dropped some tensors). A tensor absent from the input is taken from it (with
   or without its "transformer." prefix), shape-checked like any other; on success on_fill is
   called once per tensor taken, with the input-style name. Checked: the reference has the same
   number of layers, and every tensor present in both agrees to within half-precision rounding
   (|a - b| <= max(|a|, |b|) / 128 + 1e-6), else fe_err_mismatch: it is not the same model. Its
   other tensors are ignored. */
#ifndef FACTEDIT_CONVERT_H
#define FACTEDIT_CONVERT_H
#include "factedit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per tensor filled from missing_from (name as the input would spell it). */
typedef void (*fe_convert_fill_fn)(void *user, const char *tensor_name);

typedef struct fe_convert_opts {
    int n_head;                  /* 0: take it from config.json */
    fe_convert_fill_fn on_fill;  /* may be NULL */
    void *on_fill_user;
    /* Called (with on_fill_user) with the name of a tensor found in no file, just before the
       conversion fails for it (fe_err_format): a caller can suggest missing_from. May be NULL. */
    fe_convert_fill_fn on_missing;
    void *alloc_user;            /* passed to the library's allocator (FACTEDIT_MALLOC & co.) */
} fe_convert_opts;

/* The core: converts to an fe_model (free with fe_model_free). opts may be NULL (defaults: n_head
   from config.json). config_json may be NULL (config_len ignored then); missing_from may be NULL.
   The input buffers are not kept. (*out)->load_checksum is the checksum of the converted weights. */
fe_result fe_convert_hf_model(fe_model **out, const void *st_bytes, size_t st_len,
                              const char *config_json, size_t config_len,
                              const void *missing_from, size_t missing_from_len,
                              const fe_convert_opts *opts, fe_error *err);

/* Converts in memory to checkpoint bytes. n_head_override: 0 = take it from config.json.
   out_version: 3 (fp32) or 5 (bf16). On success *out_bytes (free with fe_convert_free using the
   same alloc_user) holds the whole checkpoint file of *out_len bytes; on failure it is NULL. */
fe_result fe_convert_hf(const void *st_bytes, size_t st_len, const char *config_json, size_t config_len,
                        int n_head_override, int out_version, unsigned char **out_bytes, size_t *out_len,
                        void *alloc_user, fe_error *err);
void fe_convert_free(unsigned char *bytes, void *alloc_user);

#ifndef FACTEDIT_NO_STDIO
/* fe_convert_hf_model on files (config_path and missing_from_path may be NULL). The inputs are
   released before returning, so saving the model afterwards needs no more memory than the
   conversion did. */
fe_result fe_convert_hf_model_files(fe_model **out, const char *st_path, const char *config_path,
                                    const char *missing_from_path, const fe_convert_opts *opts, fe_error *err);
/* Reads the files, converts, and writes out_path atomically with fe_model_save_file (temporary
   file beside it, then rename): on any failure an existing out_path is left untouched. */
fe_result fe_convert_hf_file(const char *st_path, const char *config_path /* NULL ok */, int n_head,
                             int version, const char *out_path, fe_error *err);
#endif

#ifdef __cplusplus
}
#endif
#endif
