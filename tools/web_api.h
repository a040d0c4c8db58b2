/* The page's C API (tools/web_api.c): factedit.h behind a few calls that take plain strings and
   return JSON, for the WebAssembly module of the browser page (tools/web/) and, compiled natively,
   for tools/web_native.c, which the tests compare the module with.

   One model, vocabulary and (optional) key statistics per process (fw_init), and at most one ROME
   edit at a time. Every call that returns const char * returns NUL-terminated JSON that stays valid
   until the next call, or NULL on failure with the reason in fw_error(). Numbers are printed with
   %.9g (floats round-trip) or %.17g (doubles). No printing, no exit: errors are returned. */
#ifndef FACTEDIT_WEB_API_H
#define FACTEDIT_WEB_API_H
#include <stddef.h>

#if defined(__wasm__)
#define FW_EXPORT(name) __attribute__((export_name(#name)))
#else
#define FW_EXPORT(name)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The solver's progress, once per accepted iterate: natively a function pointer (fw_set_progress),
   in WebAssembly the imported function env.fw_progress (the worker posts it to the page). */
typedef void (*fw_progress_fn)(int iter, int evals, double loss, double nll, double kl, double wd, double delta_norm);
void fw_set_progress(fw_progress_fn fn);

/* Buffers for the JavaScript side: fw_alloc(n) (NULL on failure), fw_free(p). */
void *fw_alloc(size_t n);
void fw_free(void *p);
/* The last failure's message ("" if none). */
const char *fw_error(void);

/* Loads the model (llm.c checkpoint), its vocabulary (encoder.json may be NULL: GPT-2's layout
   derived from the merges) and the key statistics (NULL / 0: none, u = k* / |k*|; else the layer to
   edit is the statistics' layer). Buffers are copied. Replaces anything loaded before. 0 = ok. */
int fw_init(const void *model, size_t model_len, const char *encoder, size_t encoder_len, const char *bpe,
            size_t bpe_len, const void *stats, size_t stats_len);
/* {"layers", "width", "heads", "context", "vocab", "checksum" (hex), "edit_layer", "stats_tokens" (0 = no
   statistics), "simd", "trace_window" (ROME's 10 layers scaled to the model: (L + 2) / 4, >= 1)} */
const char *fw_info(void);
/* [{"id", "text"}...] */
const char *fw_tokenize(const char *text);
/* Greedy continuation: {"text", "ids": [...]} (n tokens, fewer when the context runs out). */
const char *fw_generate(const char *text, int n);
/* The k most likely next tokens: {"text", "top": [{"id", "token", "p", "logit"}...]}. */
const char *fw_topk(const char *text, int k);
/* Every logit of the last position: {"text", "logits": [...]} (for the tests). */
const char *fw_logits(const char *text);
/* Causal trace of one prompt, as `factedit trace --prompt`: kinds a mask (1 hidden, 2 mlp, 4 attn),
   noise = noise_sigmas x the std of the subject's token embeddings, seed of the noise (< 2^53).
   {"tokens": [...], "subject": [begin, end], "answer": {"id", "token"}, "high", "low", "noise",
   "samples", "window", "scores": {"hidden": [[L]...T], "mlp": ..., "attn": ...} (absent kinds: null)} */
const char *fw_trace(const char *prompt, const char *subject, int kinds, int samples, int window, double noise_sigmas,
                     double seed);
/* Computes one ROME edit (not applied) as `factedit edit`: ROME's generated context templates
   (seed), the statistics given to fw_init, CG solver. Refused while an edit is applied.
   {"layer", "prompt" (the filled prompt), "target", "subject_last": {"pos", "token"}, "contexts",
   "report": {"iters", "evals", "grads", "status", "first": {loss, nll, kl, wd}, "last": ..., "delta_norm",
   "clamp", "cg_iters"}, "p_target"} (p_target: the target's probability after the prompt, before). */
const char *fw_edit_compute(const char *prompt, const char *subject, const char *target, double seed);
/* Applies the computed edit / undoes it (bit-exact): {"applied", "checksum", "p_target"}. */
const char *fw_edit_apply(void);
const char *fw_edit_undo(void);
/* The computed edit as a patch file (factedit.h's FEPATCH format, `factedit edit --apply` reads it):
   *len bytes, valid until the next fw_edit_save or fw_init; NULL on failure. */
const unsigned char *fw_edit_save(size_t *len);
/* Applies a patch (made for this model's current weights) as the edit; fw_edit_undo undoes it. */
const char *fw_patch_apply(const void *bytes, size_t len);

#ifdef __cplusplus
}
#endif
#endif
