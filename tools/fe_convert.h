/* fe_convert: Hugging Face GPT-2 (model.safetensors + optional config.json) -> llm.c checkpoint.
   Becomes tools/fe_convert.h; used by `factedit convert` and oracle_check. Uses only the public
   API of factedit.h (safetensors reader, JSON parser, fe_f32_to_bf16) and FACTEDIT_MALLOC/FREE.

   Output (llm.c gpt2_build_from_checkpoint): 256 little-endian int32 header
   [0] 20240326, [1] version (3 = fp32, 5 = bf16), [2] maxT, [3] V, [4] L, [5] NH, [6] C, [7] Vp
   (V rounded up to a multiple of 128), rest 0; then the parameters, row-major, matrices [out, in]:
   wte (Vp,C) rows V..Vp-1 zero | wpe (maxT,C) | ln1w (L,C) | ln1b (L,C) | qkvw (L,3C,C) | qkvb (L,3C)
   | attprojw (L,C,C) | attprojb (L,C) | ln2w (L,C) | ln2b (L,C) | fcw (L,4C,C) | fcb (L,4C)
   | fcprojw (L,C,4C) | fcprojb (L,C) | lnfw (C) | lnfb (C), as float32 or bfloat16 (nearest even).

   Input: keys with or without "transformer."; Conv1D weights are [in, out] and get transposed;
   h.N.attn.bias / h.N.attn.masked_bias buffers are skipped; lm_head.weight must equal wte (tied).
   F32, F16 and BF16 tensors (mixed is fine). V, C, maxT, L come from the shapes. n_head comes from
   config.json "n_head" or the n_head argument (> 0); both given and different is an error.
   config.json, when given, is cross-checked: n_embd, n_layer, n_positions, vocab_size must match
   the shapes, layer_norm_epsilon must be 1e-5 (the llm.c format has no eps field), and
   activation_function / scale_attn_* must be what llm.c computes. Any tensor the converter does
   not understand is an error (fe_err_unsupported), as are NaN/Inf weights (fe_err_numeric). */
#ifndef FACTEDIT_CONVERT_H
#define FACTEDIT_CONVERT_H
#ifdef FACTEDIT_PARTS_BUILD
#include "common.h"
#include "json.h"
#include "safetensors.h"
#else
#include "factedit.h"
#endif

#define FACTEDIT_CKPT_MAGIC 20240326
#define FACTEDIT_CKPT_HEADER_INTS 256

/* Converts in memory. config_json may be NULL (config_len ignored then). n_head_override: 0 = take
   it from config.json. out_version: 3 (fp32) or 5 (bf16). On success *out_bytes (free with
   fe_convert_free using the same alloc_user) holds the whole checkpoint file of *out_len bytes. */
fe_result fe_convert_hf(const void *st_bytes, size_t st_len, const char *config_json, size_t config_len,
                        int n_head_override, int out_version, unsigned char **out_bytes, size_t *out_len,
                        void *alloc_user, fe_error *err);
void fe_convert_free(unsigned char *bytes, void *alloc_user);

#ifndef FACTEDIT_NO_STDIO
/* Reads the files, converts, and writes out_path atomically (<out>.tmp.<pid>, fsync, rename):
   on any failure the temporary file is removed and an existing out_path is left untouched. */
fe_result fe_convert_hf_file(const char *st_path, const char *config_path /* NULL ok */, int n_head,
                             int version, const char *out_path, fe_error *err);
#endif
#endif
