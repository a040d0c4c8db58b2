/* Fuzz target: llm.c checkpoints (fe_model_load_mem), then the forward pass on what loaded.
   Input: checkpoint bytes. Byte 32 (the first of the header's reserved zero ints, which the loader
   ignores) holds harness flags: bit 0 allow_nonfinite, bit 1 all_logits, bit 2 two batch rows,
   bit 3 sample with temperature (top-k / top-p from bits 4-5), bit 6 bf16_weights (bf16-resident).
   Size guard (harness only, not the library): a header asking for more than FZ_MAX_PARAMS
   parameters is skipped before anything is loaded, so every execution stays fast.
   Steps
     1. fe_model_load_mem on the bytes as given (length mismatches are rejected by the loader).
     2. If the header is valid but the length is not, the same header with the data section cut or
        zero-padded to the exact length (so mutated headers reach the weights and the forward pass).
     On a loaded model: the checksum matches load_checksum; the save -> load round trip (fp32) gives
     the same checksum; a bf16 save loads again; fe_state_new + fe_forward on up to 2 tokens (ids
     from the input) with a hook that checks its arguments; the logits exist; fe_generate 1 token. */
#include "fuzz.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"

#define FZ_MAX_PARAMS ((size_t)1 << 20)

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void check_error(fe_result r, const fe_error *e) {
    FZ_CHECK(r != fe_ok && e->code == r);
    FZ_CHECK(memchr(e->msg, 0, sizeof e->msg) != NULL && e->msg[0] != 0);
    if (r == fe_err_nomem) FZ_CHECK(fz_oom_hit);
}

typedef struct hook_ctx { const fe_model *m; int B, T, calls; } hook_ctx;
static void hook(void *user, fe_site site, int layer, int b, int pos0, int npos, float *rows, int width) {
    hook_ctx *h = (hook_ctx *)user;
    const fe_config *c = &h->m->config;
    FZ_CHECK(site >= fe_site_embed && site < fe_site_count);
    FZ_CHECK(layer >= 0 && layer < c->num_layers);
    FZ_CHECK(b >= 0 && b < h->B && pos0 == 0 && npos == h->T && rows != NULL);
    FZ_CHECK(width == (site == fe_site_key ? 4 * c->channels : c->channels));
    rows[(size_t)(npos - 1) * (size_t)width + (size_t)(width - 1)] += 0.0f;   /* touch the last element */
    h->calls++;
}

static void exercise(const fe_model *m, const uint8_t *data, size_t size, int flags, const fe_load_opts *lo) {
    const fe_config *c = &m->config;
    fe_state *s = NULL;
    fe_error e;
    fe_result r;
    fe_forward_opts fo;
    hook_ctx hc;
    int tokens[4], T = c->max_seq_len < 2 ? 1 : 2, B = (flags & 4) ? 2 : 1, i, b, first;
    unsigned char *bytes = NULL;
    size_t len = 0;
    fe_model *m2 = NULL;

    FZ_CHECK(fe_model_checksum(m) == m->load_checksum);
    /* save -> load round trips */
    if (fe_model_save_mem(m, 3, &bytes, &len, &e) == fe_ok) {
        /* a bf16-resident load rounds fp32 to bf16, which quiets a signaling NaN (as every bf16
           conversion does): with NaNs in a bf16 model only the version is compared */
        int nan = 0;
        size_t k;
        for (k = 1024; lo->bf16_weights && k + 4 <= len; k += 4) { uint32_t u = rd32(bytes + k); nan |= (u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu); }
        r = fe_model_load_mem(&m2, bytes, len, lo, &e);
        FZ_CHECK(r == fe_ok || fz_oom_hit);
        if (r == fe_ok) FZ_CHECK((nan || fe_model_checksum(m2) == m->load_checksum) && m2->file_version == 3);
        fe_model_free(m2); m2 = NULL;
        fe_free(bytes, NULL); bytes = NULL;
    } else FZ_CHECK(fz_oom_hit);
    if (fe_model_save_mem(m, 5, &bytes, &len, &e) == fe_ok) {
        fe_load_opts lo2 = *lo;
        lo2.allow_nonfinite = 1;   /* bf16 rounding may overflow a large weight to inf */
        r = fe_model_load_mem(&m2, bytes, len, &lo2, &e);
        FZ_CHECK(r == fe_ok || fz_oom_hit);
        if (r == fe_ok) FZ_CHECK(m2->file_version == 5);
        fe_model_free(m2); m2 = NULL;
        fe_free(bytes, NULL); bytes = NULL;
    } else FZ_CHECK(fz_oom_hit);

    /* forward */
    r = fe_state_new(&s, m, B, T, 0, &e);
    if (r != fe_ok) { check_error(r, &e); FZ_CHECK(fz_oom_hit); return; }
    for (b = 0; b < B; b++)
        for (i = 0; i < T; i++) {
            size_t k = (size_t)(b * T + i);
            uint32_t x = size > 40 + k ? data[size - 1 - k] : (uint32_t)k;
            tokens[b * T + i] = (int)(x % (uint32_t)c->vocab_size);
        }
    memset(&fo, 0, sizeof fo);
    fo.all_logits = (flags & 2) ? 1 : 0;
    hc.m = m; hc.B = B; hc.T = T; hc.calls = 0;
    fo.hook = hook; fo.hook_user = &hc;
    r = fe_forward(m, s, tokens, T, &fo, &e);
    FZ_CHECK(r == fe_ok);
    FZ_CHECK(hc.calls == B * (1 + 4 * c->num_layers));
    for (b = 0; b < B; b++) {
        FZ_CHECK(fe_state_logits(s, b, -1) != NULL);
        FZ_CHECK(fe_state_logits(s, b, T - 1) != NULL);
        FZ_CHECK((fe_state_logits(s, b, 0) != NULL) == (T == 1 || fo.all_logits));
        FZ_CHECK(fe_state_act(s, fe_site_key, c->num_layers - 1, b, T - 1) != NULL);
    }
    FZ_CHECK(fe_state_logits(s, B, -1) == NULL);
    FZ_CHECK(fe_state_act(s, fe_site_resid, c->num_layers, 0, 0) == NULL);
    FZ_CHECK(fe_state_act(s, fe_site_resid, 0, 0, T) == NULL);
    /* token id out of range is an error, not a read */
    first = tokens[0];
    tokens[0] = c->vocab_size;
    fo.hook = NULL;
    FZ_CHECK(fe_forward(m, s, tokens, 1, &fo, &e) == fe_err_range);
    fe_state_free(s);

    /* generation: one or two new tokens */
    {
        fe_sample_opts so;
        fe_rng rng;
        int prompt = first, out[2] = {-1, -1}, n_new = c->max_seq_len >= 2 ? 2 : 1;
        memset(&so, 0, sizeof so);
        if (flags & 8) { so.temperature = 0.7f; so.top_k = (flags & 16) ? 3 : 0; so.top_p = (flags & 32) ? 0.9f : 0.0f; }
        fe_rng_seed(&rng, 7);
        r = fe_generate(m, &prompt, 1, n_new, &so, &rng, out, &e);
        if (r != fe_ok) { check_error(r, &e); FZ_CHECK(fz_oom_hit); }
        else for (i = 0; i < n_new; i++) FZ_CHECK(out[i] >= 0 && out[i] < c->vocab_size);
    }
}

static void fz_target(const uint8_t *data, size_t size) {
    fe_model *m = NULL;
    fe_error e;
    fe_result r;
    fe_load_opts lo;
    fe_config c;
    size_t sizes[FACTEDIT_NUM_PARAM_TENSORS], np = 0, expect = 0;
    int flags = size > 32 ? data[32] : 0, header_ok = 0, version = 0;
    uint8_t *copy;

    memset(&lo, 0, sizeof lo);
    lo.allow_nonfinite = flags & 1;
    lo.bf16_weights = (flags >> 6) & 1;
    /* the harness's size guard: parse the header fields itself */
    if (size >= 32 && rd32(data) == 20240326u) {
        version = (int)rd32(data + 4);
        c.max_seq_len = (int)rd32(data + 8); c.vocab_size = (int)rd32(data + 12); c.num_layers = (int)rd32(data + 16);
        c.num_heads = (int)rd32(data + 20); c.channels = (int)rd32(data + 24); c.padded_vocab_size = (int)rd32(data + 28);
        if (fe_param_sizes(&c, sizes, &np, NULL) == fe_ok) {
            if (np > FZ_MAX_PARAMS) return;
            header_ok = version == 3 || version == 5;
            expect = 1024 + np * (version == 3 ? 4 : 2);
        }
    }

    copy = (uint8_t *)fz_dup(data, size, 0);
    memset(&e, 0, sizeof e);
    r = fe_model_load_mem(&m, copy, size, &lo, &e);
    if (r == fe_ok) {
        FZ_CHECK(header_ok && size == expect && m->num_params == np && m->file_version == version);
        exercise(m, data, size, flags, &lo);
        fe_model_free(m);
    } else {
        FZ_CHECK(m == NULL);
        check_error(r, &e);
        if (header_ok && size == expect) FZ_CHECK(r == fe_err_numeric || r == fe_err_nomem);
    }
    free(copy);

    if (header_ok && size >= 1024 && size != expect) {   /* the header with an exact-length data section */
        copy = (uint8_t *)malloc(expect);
        if (!copy) abort();
        memcpy(copy, data, size < expect ? size : expect);
        if (size < expect) memset(copy + size, 0, expect - size);
        r = fe_model_load_mem(&m, copy, expect, &lo, &e);
        if (r == fe_ok) {
            exercise(m, data, size, flags, &lo);
            fe_model_free(m);
        } else {
            check_error(r, &e);
            FZ_CHECK(r == fe_err_numeric || r == fe_err_nomem);
        }
        free(copy);
    }
}
