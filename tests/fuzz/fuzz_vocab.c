/* Fuzz target: the vocabulary loader (fe_vocab_load_mem: encoder.json + vocab.bpe, or vocab.bpe
   alone) and encoding with whatever vocabulary loaded.
   Input: encoder.json bytes, a NUL byte, vocab.bpe bytes. Without a NUL the whole input is vocab.bpe
   and only the derived-encoder load runs. Each part is passed in a buffer of exactly its size.
   Checks on a loaded vocabulary: size >= 1; every id has bytes; out-of-range ids give NULL;
   derived: <|endoftext|> is the last id and ids 0..255 are the byte tokens in GPT-2's order;
   fe_encode of fixed texts (and of the merges text itself) either succeeds with in-range ids whose
   decode is the text byte for byte, or fails with fe_err_unsupported (a byte without a token);
   the ids equal the reference pre-tokenizer + BPE of fuzz_bpe.h (any merge order, so the heap's
   put-off pairs are exercised); fe_subject_span covers the subject. When both loads succeed and
   give the same token table, both vocabularies encode identically. Errors carry code + message. */
#include "fuzz.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "fuzz_bpe.h"

static const char *const g_texts[] = {
    "The Space Needle is located in the city of Seattle. It's 184 m tall; they're 'here'!",
    "  hello  world\n\n\tfoo   bar\r\n",
    "\xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xff\xfe\x80 \xed\xa0\x80 abcabcabc aaaa ababab",
};

static void check_error(fe_result r, const fe_error *e) {
    FZ_CHECK(r != fe_ok && e->code == r);
    FZ_CHECK(memchr(e->msg, 0, sizeof e->msg) != NULL && e->msg[0] != 0);
    if (r == fe_err_nomem) FZ_CHECK(fz_oom_hit);
}

/* Encodes text; on success checks ids, the round trip and the reference. Returns the ids (or NULL). */
static int *encode_checked(const fe_vocab *v, const char *text, size_t len, size_t *n) {
    int *ids = NULL;
    char *back = NULL;
    size_t dl = 0, i;
    fe_error e;
    fe_result r = fe_encode(v, text, len, &ids, n, &e);
    if (r != fe_ok) {
        FZ_CHECK(ids == NULL && *n == 0);
        check_error(r, &e);
        FZ_CHECK(r == fe_err_unsupported || r == fe_err_nomem);
        if (r == fe_err_unsupported) {   /* some byte of the text has no token */
            int missing = 0;
            for (i = 0; i < len && !missing; i++) missing = v->byte_id[(unsigned char)text[i]] < 0;
            FZ_CHECK(missing);
        }
        return NULL;
    }
    for (i = 0; i < *n; i++) FZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < fe_vocab_size(v));
    r = fe_decode(v, ids, *n, &back, &dl, &e);
    if (r == fe_ok) {
        FZ_CHECK(dl == len && !memcmp(back, text, len) && back[dl] == 0);
        fe_text_free(v, back);
    } else FZ_CHECK(r == fe_err_nomem && fz_oom_hit);
    if (!fz_oom_hit) fzr_check_encoding(v, (const unsigned char *)text, len, ids, *n, 512);
    return ids;
}

static void exercise(const fe_vocab *v, int derived, const char *merges, size_t mlen) {
    size_t n = fe_vocab_size(v), i, l, nids;
    int eot = fe_vocab_eot(v), *ids;
    fe_error e;
    size_t b = 0, en = 0;
    FZ_CHECK(n >= 1);
    FZ_CHECK(fe_token_bytes(v, -1, &l) == NULL && l == 0);
    FZ_CHECK(fe_token_bytes(v, (int)n, &l) == NULL && l == 0);
    for (i = 0; i < n; i++) FZ_CHECK(fe_token_bytes(v, (int)i, &l) != NULL);
    if (derived) {
        FZ_CHECK(n >= 257 && eot == (int)n - 1);
        for (i = 0; i < 256; i++) { FZ_CHECK(fe_token_bytes(v, (int)i, &l) != NULL && l == 1); }
    }
    if (eot >= 0) { const char *t = fe_token_bytes(v, eot, &l); FZ_CHECK(l == 13 && !memcmp(t, "<|endoftext|>", 13)); }
    else FZ_CHECK(eot == -1);
    for (i = 0; i < sizeof g_texts / sizeof g_texts[0]; i++) {
        ids = encode_checked(v, g_texts[i], strlen(g_texts[i]), &nids);
        fe_ids_free(v, ids);
    }
    ids = encode_checked(v, merges, mlen < 1024 ? mlen : 1024, &nids);
    fe_ids_free(v, ids);
    if (fe_subject_span(v, g_texts[0], "Space Needle", &b, &en, &e) == fe_ok) FZ_CHECK(b < en);
}

static void fz_target(const uint8_t *data, size_t size) {
    const uint8_t *part[2];
    size_t len[2];
    int k = fz_split(data, size, part, len, 2);
    const uint8_t *mp = k == 2 ? part[1] : part[0];
    size_t ml = k == 2 ? len[1] : len[0];
    char *merges = fz_dup(mp, ml, 0), *enc = k == 2 ? fz_dup(part[0], len[0], 0) : NULL;
    fe_vocab *vd = NULL, *vj = NULL;
    fe_error e;
    fe_result r;

    memset(&e, 0, sizeof e);
    r = fe_vocab_load_mem(&vd, NULL, 0, merges, ml, NULL, &e);
    if (r == fe_ok) exercise(vd, 1, merges, ml);
    else { FZ_CHECK(vd == NULL); check_error(r, &e); }
    if (enc) {
        r = fe_vocab_load_mem(&vj, enc, len[0], merges, ml, NULL, &e);
        if (r == fe_ok) exercise(vj, 0, merges, ml);
        else { FZ_CHECK(vj == NULL); check_error(r, &e); }
    }
    if (vd && vj && fe_vocab_size(vd) == fe_vocab_size(vj)) {   /* same table -> same encoding */
        size_t i, la, lb, na = 0, nb = 0;
        int same = 1, *a = NULL, *b = NULL;
        for (i = 0; i < fe_vocab_size(vd) && same; i++) {
            const char *ta = fe_token_bytes(vd, (int)i, &la), *tb = fe_token_bytes(vj, (int)i, &lb);
            same = la == lb && !memcmp(ta, tb, la);
        }
        if (same && fe_encode(vd, g_texts[0], strlen(g_texts[0]), &a, &na, NULL) == fe_ok &&
            fe_encode(vj, g_texts[0], strlen(g_texts[0]), &b, &nb, NULL) == fe_ok)
            FZ_CHECK(na == nb && !memcmp(a, b, na * sizeof *a));
        fe_ids_free(vd, a);
        fe_ids_free(vj, b);
    }
    fe_vocab_free(vd);
    fe_vocab_free(vj);
    free(merges);
    free(enc);
}
