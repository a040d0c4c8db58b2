/* Reference tokenizer for the vocab and tokenizer fuzz targets: an independent, slow, literal
   implementation of what fe_encode promises, to compare against it (differential fuzzing).
   Include after factedit.h with FACTEDIT_IMPLEMENTATION (it uses the implementation's character
   classes fe__char_at and its merge table fe__merge_find, which have their own tests; what is
   checked here is the pre-tokenizer's regex logic and the heap-based BPE).

   fzr_pretoken_end: GPT-2's regex
       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
   matched at p by trying the alternatives in order, with backtracking written out.
   fzr_bpe: the reference BPE of openai/gpt-2 encoder.py: repeatedly take the adjacent pair of
   lowest rank and merge all its occurrences left to right, until no pair has a rank. */
#ifndef FACTEDIT_FUZZ_BPE_H
#define FACTEDIT_FUZZ_BPE_H

/* Class of the character at q (q < n), its length in *l. */
static int fzr_class(const unsigned char *s, size_t n, size_t q, size_t *l) {
    int c;
    *l = fe__char_at(s, n, q, &c);
    return c;
}

/* End of the run of characters of class cls starting at q (q itself if none). */
static size_t fzr_run(const unsigned char *s, size_t n, size_t q, int cls) {
    size_t l;
    while (q < n && fzr_class(s, n, q, &l) == cls) q += l;
    return q;
}

static size_t fzr_pretoken_end(const unsigned char *s, size_t n, size_t p) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    static const int classes[3] = {FACTEDIT__CL_LETTER, FACTEDIT__CL_NUMBER, FACTEDIT__CL_OTHER};
    size_t k, l, q, e;
    int a;
    for (k = 0; k < 7; k++) {
        size_t cl = strlen(contractions[k]);
        if (n - p >= cl && !memcmp(s + p, contractions[k], cl)) return p + cl;
    }
    for (a = 0; a < 3; a++) {   /* " ?X+": with the optional space first, then without */
        if (s[p] == ' ' && p + 1 < n) {
            e = fzr_run(s, n, p + 1, classes[a]);
            if (e > p + 1) return e;
        }
        e = fzr_run(s, n, p, classes[a]);
        if (e > p) return e;
    }
    /* \s+(?!\S): the longest run of white space not followed by a non-space */
    e = fzr_run(s, n, p, FACTEDIT__CL_SPACE);
    if (e > p) {
        size_t *ends = (size_t *)malloc((e - p) * sizeof *ends), ne = 0;
        if (!ends) abort();
        for (q = p; q < e; q += l) { fzr_class(s, n, q, &l); ends[ne++] = q + l; }   /* ends of the run's prefixes */
        while (ne > 0) {   /* longest first */
            size_t end = ends[--ne];
            if (end == n || fzr_class(s, n, end, &l) == FACTEDIT__CL_SPACE) { free(ends); return end; }
        }
        free(ends);
        return e;   /* \s+ */
    }
    FZ_CHECK(0);   /* every character is in one of the classes */
    return p + 1;
}

/* The reference BPE of s[0..m) with v's merge table; ids appended to out (room for m). */
static size_t fzr_bpe(const fe_vocab *v, const unsigned char *s, size_t m, int *out) {
    int *w = (int *)malloc((m ? m : 1) * sizeof *w), *nw = (int *)malloc((m ? m : 1) * sizeof *nw);
    size_t n = m, i, k;
    if (!w || !nw) abort();
    for (i = 0; i < m; i++) w[i] = v->byte_id[s[i]];
    while (n > 1) {
        int best = -1, ba = 0, bb = 0, to = 0;
        for (i = 0; i + 1 < n; i++) {
            const fe__merge *mg = fe__merge_find(v, w[i], w[i + 1]);
            if (mg && (best < 0 || mg->rank < best)) { best = mg->rank; ba = w[i]; bb = w[i + 1]; to = mg->id; }
        }
        if (best < 0) break;
        for (i = 0, k = 0; i < n;) {
            if (i + 1 < n && w[i] == ba && w[i + 1] == bb) { nw[k++] = to; i += 2; }
            else nw[k++] = w[i++];
        }
        memcpy(w, nw, k * sizeof *w);
        n = k;
    }
    memcpy(out, w, n * sizeof *w);
    free(w); free(nw);
    return n;
}

/* Checks fe_encode's ids for text[0..len) against the reference: pre-token boundaries always; the
   BPE of every pre-token of at most max_word bytes (the reference is quadratic). Needs every byte
   of the text to have a token. */
static void fzr_check_encoding(const fe_vocab *v, const unsigned char *text, size_t len, const int *ids, size_t nids, size_t max_word) {
    size_t p = 0, k = 0, i;
    int *ref = (int *)malloc((len ? len : 1) * sizeof *ref);
    if (!ref) abort();
    while (p < len) {
        size_t e = fzr_pretoken_end(text, len, p), e2 = fe__pretoken_end(text, len, p), pos = 0, nr;
        if (e != e2) {
            fprintf(stderr, "pre-token at byte %zu: reference ends at %zu, fe__pretoken_end at %zu\n", p, e, e2);
            FZ_CHECK(e == e2);
        }
        /* the library's tokens of this pre-token: the ids whose bytes tile [p, e) */
        if (e - p <= max_word) {
            nr = fzr_bpe(v, text + p, e - p, ref);
            for (i = 0; i < nr; i++) {
                if (k + i >= nids || ids[k + i] != ref[i]) {
                    fprintf(stderr, "BPE of the pre-token at bytes [%zu, %zu): token %zu differs from the reference\n", p, e, i);
                    FZ_CHECK(0);
                }
            }
            k += nr;
        } else {
            while (pos < e - p) {   /* skip the library's tokens of a long pre-token */
                FZ_CHECK(k < nids);
                pos += v->off[ids[k] + 1] - v->off[ids[k]];
                k++;
            }
            FZ_CHECK(pos == e - p);   /* tokens never cross a pre-token boundary */
        }
        p = e;
    }
    FZ_CHECK(k == nids);
    free(ref);
}

#endif
