/* The trainer behind `factedit train` (tools/train.c). */
#ifndef FACTEDIT_TRAIN_H
#define FACTEDIT_TRAIN_H
#include "factedit.h"
#include <stdio.h>

#define FACTEDIT_TRAIN_MAX_SHARDS 16

typedef struct fe_train_opts {
    const char *corpus;      /* one document per line */
    const char *vocab_dir;   /* encoder.json + vocab.bpe (or vocab.bpe alone) */
    const char *init;        /* NULL: random init with the shape below; else continue this checkpoint */
    int layers, heads, width, context;
    int batch, seq, steps, warmup;
    float lr, min_lr_frac, weight_decay;
    uint64_t seed;
    int version;             /* 3 = fp32, 5 = bf16 (for saving) */
    int shards;              /* the batch is split in this many equal parts, one per thread (0: 2 for
                                an even batch, else 1) */
    float bare_starts;       /* fraction of rows that start at a line's first token instead of the
                                <|endoftext|> before it (default 0) */
    double *first_losses;    /* optional: loss of each step (the last slot keeps the rest) */
    int n_first_losses;
} fe_train_opts;

void fe_train_defaults(fe_train_opts *o);
/* Trains a fresh model; progress (bar, loss, tokens/s) goes to `progress` when not NULL. */
fe_result fe_train(const fe_train_opts *o, fe_model **out, FILE *progress, fe_error *e);
/* Top-1 accuracy of the first token of " " + attribute after each "prompt" of a JSON list. */
fe_result fe_fact_accuracy(const fe_model *m, const fe_vocab *v, const char *json_path, int limit, int *correct, int *total, fe_error *e);
#endif
