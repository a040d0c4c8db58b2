/* What tools/cmd_trace.c (the command, one prompt), tools/trace_dataset.c (--dataset: the run,
   its averages and files) and tools/trace_merge.c (--merge) share. Not an API: tests use
   cmd_trace.h. */
#ifndef FACTEDIT_TRACE_SHARED_H
#define FACTEDIT_TRACE_SHARED_H
#include "factedit.h"
#include "buf.h"
#include "cmd_trace.h"

extern const char *const trace_kind_names[3];    /* hidden, mlp, attn */
extern const char *const trace_sever_names[3];   /* none, mlp, attn */

/* What every shard of one experiment shares; the header of each facts file and the summary. */
typedef struct trace_meta {
    char model[24];               /* checksum, hex */
    int layers, samples, window;
    unsigned kinds;
    double noise;                 /* the float used */
    char noise_spec[40];
    double emb_std;               /* NaN: absolute noise */
    char seed[24];
    int format;                   /* TRACE_FORMAT, or 1: a file of an older factedit (its own merges stay 1) */
    char dataset[24];             /* trace_dataset_id of the dataset file, hex (format 1: the legacy id, cmd_trace.h) */
    long dataset_facts, limit, considered;   /* limit -1: none */
} trace_meta;

typedef struct trace_counts { long processed, kept, wrong, errors; } trace_counts;

/* --dataset's options (parsed and checked by fe_cmd_trace). */
typedef struct trace_dataset_args {
    const char *model_path, *vocab_dir, *dataset, *out;
    unsigned kinds;
    int samples, window, limit, shard_i, shard_n, relative, quiet;
    double noise_arg;
    const char *noise_text;
    uint64_t seed;
} trace_dataset_args;

/* 0, or the exit status after printing why. */
int trace_run_dataset(const trace_dataset_args *A);
int trace_run_merge(const char *const *inputs, int n_in, const char *out);

/* ---------------------------------------------- in tools/trace_dataset.c, also used by the merge */
long trace_shard_count(long considered, int i, int n);   /* facts i, i+n, ... below considered */
int trace_prepare_out_dir(const char *dir);   /* creates dir if missing; 0 or the exit status */
/* DIR/facts[-i-of-n].jsonl: the header line, then lines (one record per line), atomically. */
int trace_write_facts(const char *dir, const trace_meta *mt, int si, int sn, const sbuf *lines, long records, int complete);
/* The summary (and, for a whole run, the SVG figures); prints what was written. */
int trace_write_results(const char *dir, const trace_meta *mt, int si, int sn, const trace_counts *c, const trace_agg *a);
void trace_print_peaks(const trace_meta *mt, const trace_agg *a);   /* where the effects peak, on stdout */
#endif
