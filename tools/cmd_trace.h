/* `factedit trace` (tools/cmd_trace.c, trace_dataset.c, trace_merge.c): causal tracing of one
   prompt or of a dataset of facts, shards and their merge. The functions below the command are exposed for tests/test_cmd_trace.c. */
#ifndef FACTEDIT_CMD_TRACE_H
#define FACTEDIT_CMD_TRACE_H
#include "factedit.h"

#ifdef __cplusplus
extern "C" {
#endif

int fe_cmd_trace(int argc, char **argv);

/* ROME's six token buckets (notebooks/average_causal_effects.ipynb). */
enum { TRACE_BUCKETS = 6 };
extern const char *const trace_bucket_names[TRACE_BUCKETS];
/* Mask (bit b = bucket b) of the buckets token t of a T-token prompt with the subject at [sb, se)
   belongs to: first subject token (t == sb), middle subject tokens (sb < t < se-1), last subject
   token (t == se-1), first subsequent token (t == se), further tokens (se < t < T-1), last token
   (t == T-1). A token may be in two buckets (a one-token subject is first and last; with the subject
   ending at T-2 the first subsequent token is the last token); tokens before the subject in none. */
unsigned trace_token_buckets(int T, int sb, int se, int t);

/* The facts and summary files' format number ("factedit-trace-facts 2"). The header's
   dataset_hash is trace_dataset_id of the dataset file: FNV-1a 64 (fe_fnv1a64 from its offset
   basis). Format 1, written by older versions, held the same loop started from 1469598103934665603
   instead (not FNV's basis; tests/test_cmd_trace.c keeps it as legacy_dataset_id): --merge still
   combines format-1 shards with each other (into format-1 files), never with format-2 ones. */
enum { TRACE_FORMAT = 2 };
uint64_t trace_dataset_id(const void *bytes, size_t n);

/* Option values. Each returns 0 when s is valid. */
int trace_parse_noise(const char *s, int *relative, double *value);   /* "3s" = 3 sigma; "0.1" absolute; > 0 */
int trace_parse_kinds(const char *s, unsigned *mask);                 /* hidden|mlp|attn|all, comma-separated */

/* One traced fact, as the aggregate sees it. scores[k] is [T, L] (NULL if kind k was not traced),
   sever[k] is [L] (NULL if not traced). */
typedef struct trace_fact {
    int T, L, sb, se;
    double low, high;
    const float *scores[3];
    const float *sever[3];
} trace_fact;

/* Running mean and spread (Welford, in the order facts are added) of the indirect effect
   score - low per (kind, bucket, layer), of the severed traces per (sever, layer), and of low/high. */
typedef struct trace_agg {
    int L;
    long kept;
    fe_running *cell;                 /* [3][TRACE_BUCKETS][L]: effect per kind, bucket, layer */
    fe_running *sever;                /* [3][L]: the severed traces' effects */
    double sum_low, sum_high;
} trace_agg;

typedef struct trace_stat { long n; double mean, sd, ci_lo, ci_hi; } trace_stat;   /* sd, CI: NaN when n < 2; mean NaN when n = 0 */

int trace_agg_init(trace_agg *a, int L);   /* 0 = ok (else out of memory) */
void trace_agg_free(trace_agg *a);
void trace_agg_add(trace_agg *a, const trace_fact *f);
/* mean, sample standard deviation (n - 1) and the 95% interval mean +- 1.96 sd / sqrt(n): the
   library's fe_sample_sd and fe_ci95, as fe_cf_summarize's. */
trace_stat trace_agg_cell(const trace_agg *a, int kind, int bucket, int layer);
trace_stat trace_agg_sever(const trace_agg *a, int sever, int layer);

#ifdef __cplusplus
}
#endif
#endif
