/* factedit train: trains a small GPT-2 on a one-document-per-line corpus (tools/train.c) and
   writes the checkpoint plus its vocabulary; then reports fact accuracy if asked. */
#if !defined(_POSIX_C_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L   /* mkdir */
#endif
#include "cli.h"
#include "train.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int fe_cmd_train(int argc, char **argv);

/* Copies src to dst atomically (the vocabulary files next to the checkpoint). */
static int copy_file(const char *src, const char *dst) {
    unsigned char *b;
    size_t n;
    fe_error e;
    if (fe_read_file(src, &b, &n, NULL, &e) != fe_ok) return fail("train", e.msg);
    if (fe_write_file_atomic(dst, b, n, &e) != fe_ok) { free(b); return fail("train", e.msg); }
    free(b);
    return 0;
}

int fe_cmd_train(int argc, char **argv) {
    fe_train_opts o;
    const char *out_dir = NULL, *facts = NULL, *heldout = NULL, *pos[1];
    int bf16 = 0, rc, shards, layers, heads, width, context, batch, seq, steps, warmup;
    double lr, wd, bare = 0.0;
    uint64_t seed;
    fe_model *m = NULL;
    fe_error e;
    char path[4200];
    cli_opt opts[] = {
        {"--vocab", NULL, ARG_STR, &o.vocab_dir, 0, 0, "DIR", "vocabulary of the corpus (encoder.json + vocab.bpe); required", 0},
        {"--out", NULL, ARG_STR, &out_dir, 0, 0, "DIR", "writes DIR/model.bin, DIR/encoder.json, DIR/vocab.bpe (DIR made if missing); required", 0},
        {"--init", NULL, ARG_STR, &o.init, 0, 0, "CKPT", "continue training this checkpoint instead of a random start", 0},
        {"--layers", NULL, ARG_INT, &layers, 1, 64, "L", "layers (default 4)", 0},
        {"--heads", NULL, ARG_INT, &heads, 1, 64, "H", "heads (default 4)", 0},
        {"--width", NULL, ARG_INT, &width, 1, 4096, "C", "channels (default 128)", 0},
        {"--context", NULL, ARG_INT, &context, 2, 4096, "T", "positions of the model (default 64)", 0},
        {"--batch", NULL, ARG_INT, &batch, 1, 4096, "B", "sequences per step (default 16)", 0},
        {"--seq", NULL, ARG_INT, &seq, 2, 4096, "N", "tokens per sequence (default 64)", 0},
        {"--steps", NULL, ARG_INT, &steps, 1, INT_MAX, "S", "optimizer steps (default 2000)", 0},
        {"--warmup", NULL, ARG_INT, &warmup, 0, INT_MAX, "W", "linear warmup steps (default 100)", 0},
        {"--lr", NULL, ARG_FLOAT, &lr, 0, 0, "LR", "peak learning rate (default 3e-3), cosine to 10%", 0},
        {"--weight-decay", NULL, ARG_FLOAT, &wd, 0, 0, "WD", "AdamW weight decay (default 0)", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "seed of the initialisation and the batches (default 1)", 0},
        {"--bf16", NULL, ARG_FLAG, &bf16, 0, 0, "", "save bfloat16 weights", 0},
        {"--facts", NULL, ARG_STR, &facts, 0, 0, "JSON", "after training, top-1 accuracy on these {prompt, attribute}", 0},
        {"--heldout", NULL, ARG_STR, &heldout, 0, 0, "JSON", "likewise, for held-out paraphrase prompts", 0},
        {"--bare-starts", NULL, ARG_FLOAT, &bare, 0, 0, "P", "fraction of rows that start at a line's first token, not at the <|endoftext|> before it (default 0): a model that always saw <|endoftext|> at position 0 uses it as an attention sink and misreads prompts given without it", 0},
        {"--shards", NULL, ARG_INT, &shards, 1, FACTEDIT_TRAIN_MAX_SHARDS, "S", "split each batch in S equal parts run in parallel (default 2, or 1 for an odd --batch; the result depends on S, not on the thread count)", 0},
    };
    static const char *const pos_names[] = {"CORPUS"};
    cli_spec s;
    fe_train_defaults(&o);
    layers = o.layers; heads = o.heads; width = o.width; context = o.context; batch = o.batch; seq = o.seq;
    steps = o.steps; warmup = o.warmup; lr = o.lr; wd = o.weight_decay; seed = o.seed; shards = o.shards;
    cli_spec_init(&s, CLI_OPTS(opts), "train", "CORPUS --vocab DIR --out DIR [options]",
                  "Trains a GPT-2 on CORPUS (one document per line, joined with <|endoftext|>) with AdamW,\n"
                  "linear warmup and a cosine schedule, on factedit.h's own forward and backward passes.\n"
                  "Seeded and deterministic: the same bytes on any thread count for the same --shards.\n"
                  "`make demo-model` uses it.");
    s.pos_names = pos_names; s.npos_min = 1; s.npos_max = 1; s.pos = pos;
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    if (!o.vocab_dir) return fail("train", "--vocab DIR is required (the corpus's tokenizer)");
    if (!out_dir) return fail("train", "--out DIR is required");
    o.corpus = pos[0];
    o.layers = layers; o.heads = heads; o.width = width; o.context = context; o.batch = batch; o.seq = seq;
    o.steps = steps; o.warmup = warmup; o.lr = (float)lr; o.weight_decay = (float)wd; o.seed = seed; o.shards = shards; o.bare_starts = (float)bare;
    if (bare < 0 || bare > 1) return fail("train", "--bare-starts must be in [0, 1]");
    if (width % heads) return fail("train", "--width must be a multiple of --heads");
    {   /* every input and output before training: a missing --out directory is made now, not after hours */
        static const char *const outs[3] = {"model.bin", "encoder.json", "vocab.bpe"};
        char enc[4200], bpe[4200];
        cli_paths ps;
        struct stat st;
        if (!dir_file(enc, sizeof enc, o.vocab_dir, "encoder.json") || !dir_file(bpe, sizeof bpe, o.vocab_dir, "vocab.bpe")) return fail("train", "--vocab: path too long");
        cli_paths_init(&ps, "train");
        cli_in(&ps, "CORPUS", o.corpus);
        cli_in(&ps, "--vocab", enc);
        cli_in(&ps, "--vocab", bpe);
        cli_in(&ps, "--init", o.init);
        cli_in(&ps, "--facts", facts);
        cli_in(&ps, "--heldout", heldout);
        cli_out_dir(&ps, "--out", out_dir, outs, 3);
        if ((rc = cli_paths_check(&ps)) != 0) return rc;
        if (stat(out_dir, &st) != 0 && mkdir(out_dir, 0777) != 0) {
            fprintf(stderr, "factedit train: --out '%s': cannot create the directory: %s\n", out_dir, strerror(errno));
            return EXIT_USAGE;
        }
    }
    if (fe_train(&o, &m, stderr, &e) != fe_ok) return fail("train", e.msg);
    snprintf(path, sizeof path, "%s/model.bin", out_dir);
    if (fe_model_save_file(m, path, bf16 ? 5 : 3, &e) != fe_ok) { fe_model_free(m); return fail("train", e.msg); }
    printf("wrote %s (%zu parameters, checksum %016llx)\n", path, m->num_params, (unsigned long long)fe_model_checksum(m));
    {
        char src[4200];
        snprintf(src, sizeof src, "%s/encoder.json", o.vocab_dir);
        snprintf(path, sizeof path, "%s/encoder.json", out_dir);
        if ((rc = copy_file(src, path)) != 0) { fe_model_free(m); return rc; }
        snprintf(src, sizeof src, "%s/vocab.bpe", o.vocab_dir);
        snprintf(path, sizeof path, "%s/vocab.bpe", out_dir);
        if ((rc = copy_file(src, path)) != 0) { fe_model_free(m); return rc; }
    }
    if (facts || heldout) {
        fe_vocab *v;
        int c, t, k;
        if (fe_vocab_load_dir(&v, o.vocab_dir, NULL, &e) != fe_ok) { fe_model_free(m); return fail("train", e.msg); }
        for (k = 0; k < 2; k++) {
            const char *f = k ? heldout : facts;
            if (!f) continue;
            if (fe_fact_accuracy(m, v, f, 0, &c, &t, &e) != fe_ok) { fe_vocab_free(v); fe_model_free(m); return fail("train", e.msg); }
            printf("%s accuracy (first token of the attribute): %d/%d = %.1f%%\n", k ? "held-out" : "facts", c, t, t ? 100.0 * c / t : 0.0);
        }
        fe_vocab_free(v);
    }
    fe_model_free(m);
    return finish_stdout("train");
}
