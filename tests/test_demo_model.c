/* The shipped demo model: it loads, its checksum is the one recorded in demo/model/CHECKSUM, it
   knows its facts (top-1 on the attribute's first token >= 95% on the known_1000 prompts), and
   the trainer that made it lowers the loss of a fresh model in 20 steps.
   Usage: test_demo_model DEMO_MODEL_DIR KNOWN_JSON (run from the repository root). */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "train.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

int main(int argc, char **argv) {
    char path[4096];
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_error e;
    unsigned char *txt;
    size_t len;
    if (argc < 3) { printf("usage: test_demo_model DEMO_MODEL_DIR KNOWN_JSON\n"); return 2; }
    TEST("the shipped model loads and matches its recorded checksum") {
        unsigned long long want = 0;
        snprintf(path, sizeof path, "%s/model.bin", argv[1]);
        CHECK_CODE(fe_model_load_file(&m, path, NULL, &e), fe_ok);
        snprintf(path, sizeof path, "%s/CHECKSUM", argv[1]);
        CHECK_CODE(fe_read_file(path, &txt, &len, NULL, &e), fe_ok);
        if (txt) { want = strtoull((const char *)txt, NULL, 16); free(txt); }
        CHECKF(m && fe_model_checksum(m) == want, "checksum %016llx, recorded %016llx", m ? (unsigned long long)fe_model_checksum(m) : 0ull, want);
        CHECK_CODE(fe_vocab_load_dir(&v, argv[1], NULL, &e), fe_ok);
    }
    if (m && v) TEST("it knows its facts: >= 95% top-1 on the known_1000 prompts") {
        int c = 0, t = 0;
        CHECK_CODE(fe_fact_accuracy(m, v, argv[2], 0, &c, &t, &e), fe_ok);
        printf("facts: %d/%d = %.1f%%\n", c, t, t ? 100.0 * c / t : 0.0);
        CHECKF(t >= 1000 && c >= 0.95 * t, "accuracy %d/%d", c, t);
    }
    TEST("20 training steps on a tiny corpus lower the loss") {
        static const char corpus[] =
            "Vinson Massif is located in the continent of Antarctica.\n"
            "The official language of Italy is Italian.\n"
            "Egypt's capital, Cairo.\n"
            "The headquarter of Zillow is in downtown Seattle.\n";
        fe_train_opts o;
        fe_model *t = NULL;
        double losses[20];
        const char *cp = "build/test_demo_model_corpus.txt";
        CHECK_CODE(fe_write_file_atomic(cp, corpus, sizeof corpus - 1, &e), fe_ok);
        fe_train_defaults(&o);
        o.corpus = cp; o.vocab_dir = argv[1];
        o.layers = 2; o.heads = 2; o.width = 32; o.context = 32; o.batch = 4; o.seq = 16; o.steps = 20; o.warmup = 2; o.lr = 1e-2f;
        o.first_losses = losses; o.n_first_losses = 20;
        CHECK_CODE(fe_train(&o, &t, NULL, &e), fe_ok);
        CHECKF(losses[19] < losses[0] - 1.0, "loss %.3f -> %.3f", losses[0], losses[19]);
        fe_model_free(t);
        t = NULL;
        /* the batch split in shards: the first step's loss is the batch mean whatever the split,
           and a run is the same bytes on 1 thread as on 2 (the split, not the threads, fixes the
           order of every sum) */
        {
            double l1[3], l2[3], l2b[3];
            fe_model *a = NULL, *b = NULL, *c = NULL;
            o.steps = 3; o.first_losses = l1; o.n_first_losses = 3; o.shards = 1;
            CHECK_CODE(fe_train(&o, &a, NULL, &e), fe_ok);
            o.first_losses = l2; o.shards = 2;
#if defined(_OPENMP)
            omp_set_num_threads(1);
#endif
            CHECK_CODE(fe_train(&o, &b, NULL, &e), fe_ok);
            o.first_losses = l2b;
#if defined(_OPENMP)
            omp_set_num_threads(2);
#endif
            CHECK_CODE(fe_train(&o, &c, NULL, &e), fe_ok);
            CHECKF(fabs(l1[0] - l2[0]) < 1e-5 * l1[0], "first loss %.9f (1 shard) vs %.9f (2 shards)", l1[0], l2[0]);
            CHECK(a && b && c && fe_model_checksum(b) == fe_model_checksum(c) && l2[2] == l2b[2]);
            o.shards = 3;   /* must divide the batch of 4 */
            CHECK_CODE(fe_train(&o, &t, NULL, &e), fe_err_arg);
            CHECKF(strstr(e.msg, "--shards 3") != NULL, "%s", e.msg);
            fe_model_free(a); fe_model_free(b); fe_model_free(c);
            o.shards = 2; o.steps = 20; o.first_losses = losses; o.n_first_losses = 20;
        }
        /* errors: no corpus, vocabulary without <|endoftext|> handled by corpus_load */
        o.corpus = "build/no-such-corpus.txt";
        CHECK_CODE(fe_train(&o, &t, NULL, &e), fe_err_io);
        o.corpus = cp; o.seq = 64;   /* longer than the context */
        CHECK_CODE(fe_train(&o, &t, NULL, &e), fe_err_arg);
        remove(cp);
    }
    fe_vocab_free(v);
    fe_model_free(m);
    return t_summary();
}
