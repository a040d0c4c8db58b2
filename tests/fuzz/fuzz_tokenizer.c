/* Fuzz target: GPT-2's tokenizer (fe_encode, fe_decode, fe_subject_span) on arbitrary bytes.
   The vocabulary is GPT-2's, loaded once: tools/gpt2/vocab.bpe alone (encoder derived) and, for a
   differential check, with tools/gpt2/encoder.json (set FE_FUZZ_GPT2 to another directory to move
   it; the tests run from the repository root).
   Input: any bytes (NULs, invalid UTF-8 included).
   Checks
     - fe_encode succeeds (all 256 byte tokens exist) and every id is in range;
     - fe_decode(fe_encode(x)) == x byte for byte (abort otherwise);
     - both vocabularies give the same ids;
     - the pre-token boundaries and the BPE of each pre-token (up to 256 bytes) equal the
       reference in fuzz_bpe.h;
     - fe_subject_span with the input split in two at its first NUL (prompt, subject) and with a
       subject cut out of the prompt: on success [begin, end) are the tokens overlapping the first
       occurrence; "not found" only when strstr finds nothing. */
#include "fuzz.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "fuzz_bpe.h"

static fe_vocab *g_derived, *g_json;

static void load_vocab(void) {
    const char *dir = getenv("FE_FUZZ_GPT2");
    char path[4096];
    unsigned char *bpe = NULL, *enc = NULL;
    size_t bl = 0, el = 0;
    fe_error e;
    if (!dir) dir = "tools/gpt2";
    snprintf(path, sizeof path, "%s/vocab.bpe", dir);
    if (fe_read_file(path, &bpe, &bl, NULL, &e) != fe_ok) { fprintf(stderr, "fuzz_tokenizer: %s (run from the repository root or set FE_FUZZ_GPT2)\n", e.msg); exit(2); }
    snprintf(path, sizeof path, "%s/encoder.json", dir);
    if (fe_read_file(path, &enc, &el, NULL, &e) != fe_ok) { fprintf(stderr, "fuzz_tokenizer: %s\n", e.msg); exit(2); }
    if (fe_vocab_load_mem(&g_derived, NULL, 0, (const char *)bpe, bl, NULL, &e) != fe_ok ||
        fe_vocab_load_mem(&g_json, (const char *)enc, el, (const char *)bpe, bl, NULL, &e) != fe_ok) {
        fprintf(stderr, "fuzz_tokenizer: GPT-2 vocabulary: %s\n", e.msg);
        exit(2);
    }
    fe_free(bpe, NULL);
    fe_free(enc, NULL);
    FZ_CHECK(fe_vocab_size(g_derived) == 50257 && fe_vocab_eot(g_derived) == 50256);
}

/* Span checks for one (prompt, subject) pair of C strings. */
static void check_span(const char *prompt, const char *subject) {
    size_t b = 99, e = 99, n = 0, i, pos = 0, s0, s1;
    int *ids = NULL;
    fe_error err;
    fe_result r = fe_subject_span(g_derived, prompt, subject, &b, &e, &err);
    const char *hit = *subject ? strstr(prompt, subject) : NULL;
    if (!hit) {
        FZ_CHECK(r == fe_err_arg && err.code == fe_err_arg);
        return;
    }
    if (r != fe_ok) { FZ_CHECK(r == fe_err_nomem && fz_oom_hit); return; }
    s0 = (size_t)(hit - prompt);
    s1 = s0 + strlen(subject);
    r = fe_encode(g_derived, prompt, strlen(prompt), &ids, &n, &err);
    if (r != fe_ok) { FZ_CHECK(fz_oom_hit); return; }
    FZ_CHECK(b < e && e <= n);
    for (i = 0; i < n; i++) {
        size_t l = 0, start = pos;
        fe_token_bytes(g_derived, ids[i], &l);
        pos += l;
        /* token i overlaps [s0, s1) iff start < s1 && pos > s0 */
        FZ_CHECK((i >= b && i < e) == (start < s1 && pos > s0));
    }
    fe_ids_free(g_derived, ids);
}

static void fz_target(const uint8_t *data, size_t size) {
    int *ids = NULL, *ids2 = NULL;
    size_t n = 0, n2 = 0, dl = 0, i;
    char *text, *back = NULL;
    fe_error e;
    fe_result r;
    if (!g_derived) { load_vocab(); fz_calls = 0; }
    text = fz_dup(data, size, 0);
    r = fe_encode(g_derived, text, size, &ids, &n, &e);
    if (r != fe_ok) {
        FZ_CHECK(r == fe_err_nomem && fz_oom_hit && ids == NULL && n == 0);
    } else {
        FZ_CHECK(ids != NULL && n <= size);
        for (i = 0; i < n; i++) FZ_CHECK(ids[i] >= 0 && ids[i] < 50257);
        r = fe_decode(g_derived, ids, n, &back, &dl, &e);
        if (r == fe_ok) {
            if (dl != size || memcmp(back, text, size) != 0) {
                fprintf(stderr, "round trip: %zu bytes in, %zu bytes back\n", size, dl);
                abort();
            }
            FZ_CHECK(back[dl] == 0);
            fe_text_free(g_derived, back);
        } else FZ_CHECK(r == fe_err_nomem && fz_oom_hit);
        r = fe_encode(g_json, text, size, &ids2, &n2, &e);
        if (r == fe_ok) {
            FZ_CHECK(n2 == n && (n == 0 || !memcmp(ids, ids2, n * sizeof *ids)));
            fe_ids_free(g_json, ids2);
        } else FZ_CHECK(r == fe_err_nomem && fz_oom_hit);
        if (!fz_oom_hit && size <= 8192) fzr_check_encoding(g_derived, (const unsigned char *)text, size, ids, n, 256);
        fe_ids_free(g_derived, ids);
    }
    free(text);

    /* subject spans: prompt and subject are C strings */
    {
        const uint8_t *part[2];
        size_t len[2];
        char *prompt, *subject;
        int k = fz_split(data, size, part, len, 2);
        prompt = fz_dup(part[0], len[0], 1);
        if (k == 2) {
            subject = fz_dup(part[1], len[1], 1);
            check_span(prompt, subject);
            free(subject);
        }
        if (len[0] >= 3) {   /* a subject cut out of the prompt: offset and length from the first bytes */
            size_t off = (size_t)part[0][0] % len[0], sl = 1 + (size_t)part[0][1] % (len[0] - off);
            subject = fz_dup(part[0] + off, sl, 1);
            check_span(prompt, subject);
            free(subject);
        }
        free(prompt);
    }
}
