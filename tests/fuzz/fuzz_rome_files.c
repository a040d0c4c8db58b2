/* Fuzz target: ROME's file readers -- key statistics (fe_stats_load_mem), edit patches
   (fe_patch_load_mem) and CounterFact requests (fe_cf_load_mem).
   STATUS: these live in the ROME glue (parts/rome_glue.h), not yet merged into factedit.h, so
   this target is NOT in the Makefile's FUZZ_TARGETS. Until the merge, build it with the glue:
       clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Itools \
             tests/fuzz/fuzz_rome_files.c -o build/fuzz/fuzz_rome_files -lm
   Seeds: FZ_ROME_SEEDS=dir build/fuzz/fuzz_rome_files -runs=0 writes a stats file, a patch and a
   CounterFact file for the harness's model into dir (they must match its model's checksum).
   Input: one selector byte (0 stats, 1 patch, 2 CounterFact, mod 3), then the file.
   Model: a fixed tiny random model (L=2, C=8, NH=2, V=16, T=8), made once.
   Checks: stats -- loads without and with the model; on success info is consistent, the moment
   matrix is symmetric and finite, and a save -> load round trip gives the same file. Patch --
   loads without and with the model; texts are NUL-terminated; with the model, apply then undo
   restores the weights' checksum. CounterFact -- every case has its strings, one "{}" in the
   prompt, counts >= 0 with non-NULL strings. Errors carry code + message. */
#include "fuzz.h"
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"

static fe_model *g_m;

static void check_error(fe_result r, const fe_error *e) {
    FZ_CHECK(r != fe_ok && e->code == r);
    FZ_CHECK(memchr(e->msg, 0, sizeof e->msg) != NULL && e->msg[0] != 0);
    if (r == fe_err_nomem) FZ_CHECK(fz_oom_hit);
}

static void write_seed(const char *dir, const char *name, int sel, const void *p, size_t n) {
    char path[4096];
    FILE *f;
    unsigned char s = (unsigned char)sel;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "wb")) || fwrite(&s, 1, 1, f) != 1 || (n && fwrite(p, 1, n, f) != n) || fclose(f)) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
}

static void make_seeds(const char *dir) {
    fe_cov *c;
    fe_edit *ed;
    fe_patch p;
    unsigned char *b;
    size_t len, i, d = 4 * (size_t)g_m->config.channels;
    float *keys = (float *)malloc(3 * d * sizeof *keys);
    static const char cf[] = "[{\"case_id\":7,\"requested_rewrite\":{\"prompt\":\"{} is located in the continent of\",\"relation_id\":\"P30\","
        "\"target_new\":{\"str\":\"Europe\"},\"target_true\":{\"str\":\"Antarctica\"},\"subject\":\"Vinson Massif\"},"
        "\"paraphrase_prompts\":[\"Vinson Massif sits on the continent of\",\"Vinson Massif, on the continent of\"],"
        "\"neighborhood_prompts\":[\"Mount Erebus is located in the continent of\"],\"attribute_prompts\":[\"Paris is in\"]}]";
    fe_rng r;
    fe_rng_seed(&r, 3);
    for (i = 0; i < 3 * d; i++) keys[i] = (float)fe_rng_normal(&r);
    if (fe_cov_new(&c, (int)d, NULL, NULL) || fe_cov_add(c, keys, 3, NULL) ||
        fe_stats_save_mem(c, 1, g_m, fe_model_checksum(g_m), &b, &len, NULL)) { fprintf(stderr, "stats seed failed\n"); exit(2); }
    write_seed(dir, "gen_stats_L2_C8_layer1", 0, b, len);
    fe_free(b, NULL);
    fe_cov_free(c);
    if (fe_edit_new(&ed, g_m, 0, NULL)) { fprintf(stderr, "edit seed failed\n"); exit(2); }
    for (i = 0; i < d; i++) ed->u[i] = (float)(i == 0);
    for (i = 0; i < d / 4; i++) { ed->right[i] = 0.01f * (float)i; ed->vstar[i] = 0.5f; }
    memset(&p, 0, sizeof p);
    p.edit = ed; p.model_checksum = fe_model_checksum(g_m); p.num_layers = g_m->config.num_layers;
    p.prompt = (char *)"{} is located in"; p.subject = (char *)"Vinson Massif"; p.target = (char *)" Europe";
    if (fe_patch_save_mem(&p, &b, &len, NULL, NULL)) { fprintf(stderr, "patch seed failed\n"); exit(2); }
    write_seed(dir, "gen_patch_layer0", 1, b, len);
    fe_free(b, NULL);
    fe_edit_free(ed);
    write_seed(dir, "gen_counterfact_one_case", 2, cf, sizeof cf - 1);
    free(keys);
}

static void init(void) {
    fe_config c;
    const char *seeds = getenv("FZ_ROME_SEEDS");
    c.max_seq_len = 8; c.vocab_size = 16; c.padded_vocab_size = 16; c.num_layers = 2; c.num_heads = 2; c.channels = 8;
    if (fe_model_new(&g_m, &c, NULL, NULL) != fe_ok) abort();
    fe_model_randomize(g_m, 1);
    if (seeds) make_seeds(seeds);
}

static void stats(const unsigned char *b, size_t n) {
    fe_cov *c = NULL;
    fe_stats_info info;
    fe_error e;
    fe_result r;
    int pass;
    for (pass = 0; pass < 2; pass++) {
        const fe_model *m = pass ? g_m : NULL;
        memset(&e, 0, sizeof e);
        r = fe_stats_load_mem(&c, &info, b, n, m, NULL, &e);
        if (r != fe_ok) { FZ_CHECK(c == NULL); check_error(r, &e); continue; }
        FZ_CHECK(info.version == 1 && info.dim == 4 * info.channels && info.layer >= 0 && info.layer < info.num_layers && info.count >= 1);
        if (info.dim <= 256) {
            size_t d = (size_t)info.dim, i, j;
            float *mo = (float *)malloc(d * d * sizeof *mo);
            if (!mo) abort();
            fe_cov_moment(c, mo);
            for (i = 0; i < d; i++)
                for (j = 0; j < d; j++) FZ_CHECK(mo[i * d + j] == mo[j * d + i]);
            free(mo);
        }
        if (m) {   /* save -> same bytes */
            unsigned char *b2 = NULL;
            size_t n2 = 0;
            if (fe_stats_save_mem(c, info.layer, m, info.model_checksum, &b2, &n2, &e) == fe_ok) {
                FZ_CHECK(n2 == n);
                fe_free(b2, NULL);
            } else FZ_CHECK(fz_oom_hit);
        }
        fe_cov_free(c);
        c = NULL;
    }
}

static void patch(const unsigned char *b, size_t n) {
    fe_patch *p = NULL;
    fe_error e;
    fe_result r;
    int pass;
    for (pass = 0; pass < 2; pass++) {
        const fe_model *m = pass ? g_m : NULL;
        memset(&e, 0, sizeof e);
        r = fe_patch_load_mem(&p, b, n, m, NULL, &e);
        if (r != fe_ok) { FZ_CHECK(p == NULL); check_error(r, &e); continue; }
        FZ_CHECK(p->edit != NULL && p->prompt && p->subject && p->target);
        (void)strlen(p->prompt); (void)strlen(p->subject); (void)strlen(p->target);
        if (m) {   /* apply to a copy of the model, undo, same weights */
            fe_model *mc = NULL;
            if (fe_model_new(&mc, &g_m->config, NULL, NULL) == fe_ok) {
                uint64_t before;
                memcpy(mc->blob, g_m->blob, g_m->num_params * sizeof(float));
                mc->load_checksum = g_m->load_checksum;
                before = fe_model_checksum(mc);
                r = fe_patch_apply(mc, p, &e);
                if (r == fe_ok) {
                    r = fe_edit_undo(mc, p->edit, &e);
                    FZ_CHECK(r == fe_ok);
                    FZ_CHECK(fe_model_checksum(mc) == before);
                } else check_error(r, &e);
                fe_model_free(mc);
            } else FZ_CHECK(fz_oom_hit);
        }
        fe_patch_free(p);
        p = NULL;
    }
}

static int count_slots(const char *s) {
    int k = 0;
    for (; (s = strstr(s, "{}")) != NULL; s += 2) k++;
    return k;
}

static void counterfact(const char *b, size_t n) {
    fe_cf_set *s = NULL;
    fe_error e;
    fe_result r;
    size_t i;
    int k;
    memset(&e, 0, sizeof e);
    r = fe_cf_load_mem(&s, b, n, NULL, &e);
    if (r != fe_ok) { FZ_CHECK(s == NULL); check_error(r, &e); return; }
    FZ_CHECK(fe_cf_count(s) >= 1 && fe_cf_at(s, fe_cf_count(s)) == NULL);
    for (i = 0; i < fe_cf_count(s); i++) {
        const fe_cf_case *c = fe_cf_at(s, i);
        FZ_CHECK(c && c->prompt && c->subject && c->target_new && c->target_true);
        FZ_CHECK(count_slots(c->prompt) == 1);
        FZ_CHECK(c->n_paraphrases >= 0 && c->n_neighbors >= 0);
        for (k = 0; k < c->n_paraphrases; k++) (void)strlen(c->paraphrases[k]);
        for (k = 0; k < c->n_neighbors; k++) (void)strlen(c->neighbors[k]);
    }
    fe_cf_free(s);
}

/* Both binary formats carry an FNV-1a checksum of the payload (stats: bytes 56..63 over [64, len);
   patch: bytes 144..151 over [152, len)), so a mutated file almost never gets past it. The
   harness also runs every input with the checksum recomputed, to reach the field checks behind. */
static int fix_checksum(unsigned char *b, size_t n, size_t header, size_t at) {
    uint64_t h;
    int i, changed = 0;
    if (n < header) return 0;
    h = fe_fnv1a64(FACTEDIT_FNV1A64_INIT, b + header, n - header);
    for (i = 0; i < 8; i++) { unsigned char x = (unsigned char)(h >> (8 * i)); changed |= b[at + (size_t)i] != x; b[at + (size_t)i] = x; }
    return changed;
}

static void fz_target(const uint8_t *data, size_t size) {
    char *body;
    size_t n;
    if (!g_m) { init(); fz_calls = 0; }
    if (size < 1) return;
    n = size - 1;
    body = fz_dup(data + 1, n, 0);
    switch (data[0] % 3) {
    case 0:
        stats((const unsigned char *)body, n);
        if (fix_checksum((unsigned char *)body, n, 64, 56)) stats((const unsigned char *)body, n);
        break;
    case 1:
        patch((const unsigned char *)body, n);
        if (fix_checksum((unsigned char *)body, n, 152, 144)) patch((const unsigned char *)body, n);
        break;
    default: counterfact(body, n); break;
    }
    free(body);
}
