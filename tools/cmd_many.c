/* factedit edit --requests / eval --sequential: many edits from the command line (the
   >>api-many-edits section of factedit.h: MEMIT, AlphaEdit, sequential ROME / r-ROME, health).

   factedit edit --requests FILE [--method rome|r-rome|memit|alphaedit] [--layers A-B]
                 [--sequential [--batch N]] --stats PATTERN [--out MODEL] [--json]
       edits every request (CounterFact's format, or a JSON list of {prompt, subject, target}):
       MEMIT / AlphaEdit in one batch, or with --sequential in batches of N (default 1) applied one
       after another; ROME / r-ROME one request at a time (needs --sequential). Prints the model's
       health after each batch. --out writes the edited model.
   factedit eval --dataset cf.json --method M --sequential N [--batch B] --stats PATTERN
       edits the first N cases in order, then scores every one of them (ES/PS/NS ... as ROME's
       eval) on the model after all edits, with the scores before any edit and GE beside them.
   PATTERN: a statistics file per edited layer, "{}" standing for the layer number
   (stats_l{}.bin); without "{}" one file (one layer). Entered from tools/cmd_rome.c when
   --requests, --method or --sequential is given. */
#if !defined(_POSIX_C_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L
#endif
#include "factedit.h"
#include "buf.h"
#include "cli.h"
#include "cmd_rome.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int fe_many_wanted(int argc, char **argv) {
    int i;
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--requests") || !strcmp(argv[i], "--method") || !strcmp(argv[i], "--sequential")) return 1;
    return 0;
}

enum { M_ROME, M_RROME, M_MEMIT, M_ALPHA };
static const char *const method_names[] = {"rome", "r-rome", "memit", "alphaedit"};

static void sb_num(sbuf *b, double x) { if (isfinite(x)) sb_printf(b, "%.6g", x); else sb_printf(b, "null"); }

/* the requests: CounterFact cases, or a list of {prompt, subject, target} */
typedef struct reqset {
    fe_cf_set *cf;
    int n;
    fe_text_request *t;
    fe_json *doc; unsigned char *bytes;
} reqset;

static int load_requests(const char *cmd, const char *path, reqset *rs) {
    size_t len, i;
    fe_error e;
    const fe_json_value *root, *x;
    memset(rs, 0, sizeof *rs);
    if (fe_read_file(path, &rs->bytes, &len, NULL, &e) != fe_ok) return fail(cmd, e.msg);
    if (fe_json_parse(&rs->doc, (const char *)rs->bytes, len, NULL, &e) != fe_ok) return fail(cmd, e.msg);
    root = fe_json_root(rs->doc);
    if (!root || root->type != fe_json_array) {
        fprintf(stderr, "factedit %s: %s: not a JSON list of requests\n", cmd, path);
        return EXIT_FAIL;
    }
    if (root->count == 0) { fprintf(stderr, "factedit %s: %s: the request list is empty: nothing to edit\n", cmd, path); return EXIT_FAIL; }
    if (fe_json_get(fe_json_at(root, 0), "requested_rewrite")) {
        if (fe_cf_load_mem(&rs->cf, (const char *)rs->bytes, len, NULL, &e) != fe_ok) return fail(cmd, e.msg);
        rs->n = (int)fe_cf_count(rs->cf);
        rs->t = (fe_text_request *)calloc((size_t)rs->n, sizeof *rs->t);
        if (!rs->t) return fail(cmd, "out of memory");
        for (i = 0; i < (size_t)rs->n; i++) {
            const fe_cf_case *c = fe_cf_at(rs->cf, i);
            rs->t[i].prompt = c->prompt; rs->t[i].subject = c->subject; rs->t[i].target = c->target_new;
        }
        return 0;
    }
    if (root->count > (size_t)INT_MAX) return fail(cmd, "too many requests");
    rs->n = (int)root->count;
    rs->t = (fe_text_request *)calloc((size_t)rs->n, sizeof *rs->t);
    if (!rs->t) return fail(cmd, "out of memory");
    for (i = 0; i < root->count; i++) {
        const char *k[3] = {"prompt", "subject", "target"};
        const char **d[3];
        int j;
        d[0] = &rs->t[i].prompt; d[1] = &rs->t[i].subject; d[2] = &rs->t[i].target;
        x = fe_json_at(root, i);
        for (j = 0; j < 3; j++) {
            const fe_json_value *f = x && x->type == fe_json_object ? fe_json_get(x, k[j]) : NULL;
            if (!f || f->type != fe_json_string) {
                fprintf(stderr, "factedit %s: %s: request %lu has no string \"%s\" (want {prompt, subject, target} or CounterFact's format)\n",
                        cmd, path, (unsigned long)i, k[j]);
                return EXIT_FAIL;
            }
            *d[j] = f->str;
        }
    }
    return 0;
}
static void free_requests(reqset *rs) { fe_cf_free(rs->cf); free(rs->t); fe_json_free(rs->doc); free(rs->bytes); }

/* "{}" in the pattern -> the layer */
static void stats_path_for(char *buf, size_t cap, const char *pat, int layer) {
    const char *at = strstr(pat, "{}");
    if (!at) snprintf(buf, cap, "%s", pat);
    else snprintf(buf, cap, "%.*s%d%s", (int)(at - pat), pat, layer, at + 2);
}

typedef struct run {
    const char *cmd;
    int method, l0, l1, batch, sequential, quiet, json;
    fe_model *m;
    fe_vocab *v;
    fe_templates *tpl;
    fe_cov *covs[FACTEDIT_MAX_LAYERS];
    fe_many *s;
    fe_memit_hparams hp;
    fe_rome_hparams rhp;
    fe_health_probes pr;
    int *pbuf[64], pn[64];
    fe_health h0;
    sbuf log;   /* JSON: health per batch */
    int nfailed_rome;
    int nlog;   /* health entries written to log */
    uint64_t *cs_before;   /* ROME / r-ROME with --patches: the model's checksum before each edit */
    int null_dim[FACTEDIT_MAX_LAYERS];   /* AlphaEdit: each edited layer's null-space dimension */
} run;

/* probes: the first (up to) 20 requests' prompts filled with their subject */
static int make_probes(run *r, const fe_text_request *t, int n) {
    int i, k = 0;
    fe_error e;
    for (i = 0; i < n && k < 20; i++) {
        fe_rome_rows *rows = NULL;
        if (fe_rome_rows_new(&rows, r->m, r->v, &t[i], NULL, &e) != fe_ok) continue;
        r->pbuf[k] = (int *)malloc(sizeof(int) * (size_t)rows->bare.n);
        if (!r->pbuf[k]) { fe_rome_rows_free(rows); return fail(r->cmd, "out of memory"); }
        memcpy(r->pbuf[k], rows->bare.ids, sizeof(int) * (size_t)rows->bare.n);
        r->pn[k++] = rows->bare.n;
        fe_rome_rows_free(rows);
    }
    r->pr.ids = (const int *const *)r->pbuf; r->pr.n = r->pn; r->pr.count = k;
    r->pr.gen_ids = (const int *const *)r->pbuf; r->pr.gen_n = r->pn; r->pr.gen_count = k;
    r->pr.gen_len = r->m->config.max_seq_len < 64 ? r->m->config.max_seq_len / 2 : 32;
    return 0;
}

static void print_health(run *r, int batch, int done, const fe_health *h) {
    int w = fe_health_warn(h, &r->h0);
    if (!r->quiet || w)
        fprintf(stderr, "factedit %s: after batch %d (%d edits): |dW|/|W0| %.4f (layer %d), sigma/sigma0 %.3f, probe NLL %.3f (was %.3f), GE %.3f (was %.3f)%s\n",
                r->cmd, batch, done, h->rel_fro_max, h->worst_layer, h->sigma_ratio_max, h->nll, r->h0.nll, h->ge, r->h0.ge,
                w ? "  WARNING: the model is collapsing" : "");
    sb_printf(&r->log, "%s{\"batch\": %d, \"edits\": %d, \"rel_fro_max\": ", r->nlog++ ? ", " : "", batch, done);
    sb_num(&r->log, h->rel_fro_max);
    sb_printf(&r->log, ", \"worst_layer\": %d, \"sigma_ratio_max\": ", h->worst_layer);
    sb_num(&r->log, h->sigma_ratio_max);
    sb_printf(&r->log, ", \"nll\": "); sb_num(&r->log, h->nll);
    sb_printf(&r->log, ", \"ge\": "); sb_num(&r->log, h->ge);
    sb_printf(&r->log, ", \"warn\": %d}", w);
}

/* The editing state from r->hp (again after a change of hyperparameters); AlphaEdit: says each
   layer's null-space dimension, the most new keys the projection can keep apart. */
static int remake_state(run *r) {
    int l;
    fe_error e;
    fe_many_free(r->s);
    r->s = NULL;
    if (fe_many_new(&r->s, r->m, &r->hp, (const fe_cov *const *)r->covs, &e) != fe_ok) return fail(r->cmd, e.msg);
    for (l = r->hp.layer_first; r->hp.alphaedit && l <= r->hp.layer_last; l++) {
        if (fe_many_projector(r->s, l, NULL, &r->null_dim[l - r->hp.layer_first], &e) != fe_ok) return fail(r->cmd, e.msg);
        if (!r->quiet)
            fprintf(stderr, "factedit %s: AlphaEdit: layer %d's null space: %d of %d key directions (eigenvalues of C below %g)\n", r->cmd, l,
                    r->null_dim[l - r->hp.layer_first], 4 * r->m->config.channels, r->hp.null_threshold);
    }
    return 0;
}

static int setup(run *r, const char *stats_pat, const char *layers_s, double lambda, double ridge, double thr, double l2, uint64_t seed) {
    int i, L = r->m->config.num_layers;
    fe_error e;
    fe_rng rng;
    char path[4096];
    fe_memit_hparams_default(&r->hp, r->m);
    if (layers_s) {
        int a, b, n = 0;
        if (sscanf(layers_s, "%d-%d%n", &a, &b, &n) == 2 && layers_s[n] == 0) { r->hp.layer_first = a; r->hp.layer_last = b; }
        else if (sscanf(layers_s, "%d%n", &a, &n) == 1 && layers_s[n] == 0) r->hp.layer_first = r->hp.layer_last = a;
        else { fprintf(stderr, "factedit %s: --layers: '%s' is not A-B or A\n", r->cmd, layers_s); return EXIT_USAGE; }
    } else if (r->method == M_ROME || r->method == M_RROME) r->hp.layer_first = r->hp.layer_last;
    if (r->hp.layer_first < 0 || r->hp.layer_last >= L || r->hp.layer_first > r->hp.layer_last) {
        fprintf(stderr, "factedit %s: --layers %d-%d is outside the model's layers 0-%d\n", r->cmd, r->hp.layer_first, r->hp.layer_last, L - 1);
        return EXIT_FAIL;
    }
    if (r->hp.layer_last == L - 1) {
        fprintf(stderr, "factedit %s: layer %d is the model's last: the targets there cannot reach the prediction; end the range before it\n", r->cmd, L - 1);
        return EXIT_FAIL;
    }
    if ((r->method == M_ROME || r->method == M_RROME) && r->hp.layer_first != r->hp.layer_last) {
        fprintf(stderr, "factedit %s: %s edits one layer: give --layers A\n", r->cmd, method_names[r->method]);
        return EXIT_USAGE;
    }
    if (!stats_pat) { fprintf(stderr, "factedit %s: --stats is required for %s (key statistics of every edited layer; 'factedit stats')\n", r->cmd, method_names[r->method]); return EXIT_USAGE; }
    if (!strstr(stats_pat, "{}") && r->hp.layer_first != r->hp.layer_last) {
        fprintf(stderr, "factedit %s: --stats %s names one file but layers %d-%d are edited: use a pattern with {} for the layer\n", r->cmd, stats_pat, r->hp.layer_first, r->hp.layer_last);
        return EXIT_USAGE;
    }
    for (i = r->hp.layer_first; i <= r->hp.layer_last; i++) {
        fe_stats_info info;
        stats_path_for(path, sizeof path, stats_pat, i);
        if (fe_stats_load_file(&r->covs[i - r->hp.layer_first], &info, path, r->m, NULL, &e) != fe_ok) return fail(r->cmd, e.msg);
        if (info.layer != i) { fprintf(stderr, "factedit %s: %s holds statistics of layer %d, not %d\n", r->cmd, path, info.layer, i); return EXIT_FAIL; }
    }
    if (lambda >= 0) r->hp.lambda = lambda;
    r->hp.cov_ridge = ridge;
    if (thr > 0) r->hp.null_threshold = thr;
    if (l2 > 0) r->hp.l2 = l2;
    r->hp.alphaedit = r->method == M_ALPHA;
    fe_rome_hparams_default(&r->rhp, r->m);
    r->rhp.layer = r->hp.layer_first;
    r->rhp.cov_ridge = ridge;
    r->rhp.rrome = r->method == M_RROME;
    if (r->method == M_ROME || r->method == M_RROME) {
        if (fe_cov_factor(r->covs[0], ridge, &e) != fe_ok && !r->quiet) fprintf(stderr, "factedit %s: note: %s\n", r->cmd, e.msg);
    }
    if ((i = remake_state(r)) != 0) return i;
    fe_rng_seed(&rng, seed);
    if (!r->quiet) fprintf(stderr, "factedit %s: generating the context templates (seed %llu)...\n", r->cmd, (unsigned long long)seed);
    if (fe_templates_rome(&r->tpl, r->m, r->v, &rng, &e) != fe_ok) return fail(r->cmd, e.msg);
    return 0;
}

static void teardown(run *r) {
    int i;
    fe_many_free(r->s);
    for (i = 0; i < FACTEDIT_MAX_LAYERS; i++) fe_cov_free(r->covs[i]);
    for (i = 0; i < 64; i++) free(r->pbuf[i]);
    fe_templates_free(r->tpl);
    free(r->log.p);
    free(r->cs_before);
}

/* Edits requests t[0..n) in batches; ROME / r-ROME edits stay applied (their fe_edit objects are
   kept until the end so the weights are theirs). 0 or an exit status. */
static int edit_all(run *r, const fe_text_request *t, int n, fe_edit ***rome_edits) {
    int b0, nb = 0, i, rc = 0, bs = r->sequential ? r->batch : n;
    fe_error e;
    fe_health h;
    double t0 = cli_wall();
    if (fe_many_health(r->s, r->m, &r->pr, &r->h0, &e) != fe_ok) return fail(r->cmd, e.msg);
    if (r->method == M_ROME || r->method == M_RROME) {
        bs = 1;
        if (!(*rome_edits = (fe_edit **)calloc((size_t)n, sizeof **rome_edits))) return fail(r->cmd, "out of memory");
    }
    for (b0 = 0; b0 < n; b0 += bs, nb++) {
        int bn = n - b0 < bs ? n - b0 : bs;
        fe_rome_rows **rows = (fe_rome_rows **)calloc((size_t)bn, sizeof *rows);
        fe_memit_request *q = (fe_memit_request *)calloc((size_t)bn, sizeof *q);
        float **w = (float **)calloc((size_t)bn, sizeof *w);
        if (!rows || !q || !w) { free(rows); free(q); free(w); return fail(r->cmd, "out of memory"); }
        for (i = 0; i < bn && !rc; i++) {
            if (fe_rome_rows_new(&rows[i], r->m, r->v, &t[b0 + i], r->tpl, &e) != fe_ok) {
                fprintf(stderr, "factedit %s: request %d: %s\n", r->cmd, b0 + i, e.msg);
                rc = EXIT_FAIL;
                break;
            }
            if (!(w[i] = (float *)malloc(sizeof(float) * (size_t)rows[i]->n_ctx))) { rc = fail(r->cmd, "out of memory"); break; }
            fe_memit_request_from_rows(&q[i], rows[i], w[i]);
        }
        if (!rc) {
            if (r->method == M_ROME || r->method == M_RROME) {
                fe_edit *ed = NULL;
                if (r->cs_before) r->cs_before[b0] = fe_model_checksum(r->m);
                if (fe_rome_compute_rows(r->m, rows[0], &r->rhp, r->covs[0], &ed, &e) != fe_ok || fe_edit_apply(r->m, ed, &e) != fe_ok) {
                    fprintf(stderr, "factedit %s: request %d: %s\n", r->cmd, b0, e.msg);
                    fe_edit_free(ed);
                    rc = EXIT_FAIL;
                } else (*rome_edits)[b0] = ed;
            } else if (fe_many_edit(r->s, r->m, q, bn, NULL, NULL, &e) != fe_ok) {
                fprintf(stderr, "factedit %s: batch %d (requests %d-%d): %s%s\n", r->cmd, nb, b0, b0 + bn - 1, e.msg,
                        strstr(e.msg, "same subject") && !strcmp(r->cmd, "eval") ? " (--distinct-subjects skips such cases)" : "");
                rc = EXIT_FAIL;
            }
        }
        for (i = 0; i < bn; i++) { fe_rome_rows_free(rows[i]); free(w[i]); }
        free(rows); free(q); free(w);
        if (rc) return rc;
        /* health after each batch (ROME: every 10 edits and at the end: GE costs generations) */
        if ((r->method != M_ROME && r->method != M_RROME) || (b0 + bn) % 10 == 0 || b0 + bn == n) {
            if (fe_many_health(r->s, r->m, &r->pr, &h, &e) != fe_ok) return fail(r->cmd, e.msg);
            print_health(r, nb, b0 + bn, &h);
        }
    }
    if (!r->quiet) fprintf(stderr, "factedit %s: %d edits with %s in %d batch%s, layers %d-%d: %.1f s\n", r->cmd, n, method_names[r->method], nb,
                           nb == 1 ? "" : "es", r->hp.layer_first, r->hp.layer_last, cli_wall() - t0);
    return 0;
}

static int parse_method(const char *s) {
    int i;
    for (i = 0; i < 4; i++) if (!strcmp(s, method_names[i])) return i;
    return -1;
}

static int common_opts(run *r, const char *method_s, int seq_n, int batch) {
    r->method = method_s ? parse_method(method_s) : M_MEMIT;
    if (r->method < 0) { fprintf(stderr, "factedit %s: --method: '%s' (want rome, r-rome, memit or alphaedit)\n", r->cmd, method_s); return EXIT_USAGE; }
    r->batch = batch > 0 ? batch : 1;
    (void)seq_n;
    return 0;
}

/* --patches DIR: missing (made when the patches are written, after the edits) or empty, so no file
   in it is an input and none is overwritten. 0 or an exit status. */
static int new_empty_dir(const char *cmd, const char *dir) {
    DIR *d;
    struct dirent *de;
    struct stat st;
    if (stat(dir, &st) != 0) return 0;   /* cli_paths_check saw its parent there and writable */
    if (!(d = opendir(dir))) { fprintf(stderr, "factedit %s: --patches '%s': %s\n", cmd, dir, strerror(errno)); return EXIT_USAGE; }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            fprintf(stderr, "factedit %s: --patches '%s' is not empty (it holds '%s'): give a new or empty directory\n", cmd, dir, de->d_name);
            closedir(d);
            return EXIT_USAGE;
        }
    closedir(d);
    return 0;
}

/* --patches DIR: the edits as numbered patch files (000000.fep, ...) in the order they were applied,
   each with the checksum of the model just before it, so `edit --apply` of each in turn rebuilds
   the edited model: ROME / r-ROME one per request; MEMIT / AlphaEdit one per request and edited
   layer (fe_many_patches: batch by batch, layer by layer). */
static int write_patches(run *r, const char *dir, const fe_text_request *t, int n, fe_edit **redits) {
    char path[4200];
    int b, k, file = 0, b0 = 0;
    fe_error e;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) { fprintf(stderr, "factedit %s: --patches '%s': cannot create the directory: %s\n", r->cmd, dir, strerror(errno)); return EXIT_FAIL; }
    for (b = 0; b < (redits ? n : fe_many_count(r->s)); b++) {
        fe_patch **arr = NULL;
        int cnt = 1, nb = 1;   /* patches of batch b, requests in it */
        if (!redits) {
            if (fe_many_patches(r->s, r->m, b, &arr, &cnt, &e) != fe_ok) return fail(r->cmd, e.msg);
            nb = cnt / (r->hp.layer_last - r->hp.layer_first + 1);
        }
        for (k = 0; k < cnt; k++) {
            fe_patch pw;
            const fe_text_request *q = &t[b0 + k % nb];
            if (redits) {
                memset(&pw, 0, sizeof pw);
                pw.edit = redits[b]; pw.model_checksum = r->cs_before[b]; pw.num_layers = r->m->config.num_layers;
            } else pw = *arr[k];
            pw.prompt = (char *)q->prompt; pw.subject = (char *)q->subject; pw.target = (char *)q->target;
            snprintf(path, sizeof path, "%s/%06d.fep", dir, file++);
            if (fe_patch_save_file(path, &pw, &e) != fe_ok) { b = -1; break; }
        }
        for (k = 0; arr && k < cnt; k++) fe_patch_free(arr[k]);
        fe_free(arr, r->m->alloc_user);
        if (b < 0) {   /* no half-written set: remove what was written */
            fprintf(stderr, "factedit %s: %s; removing the %d patch files written\n", r->cmd, e.msg, file - 1);
            while (--file >= 0) { snprintf(path, sizeof path, "%s/%06d.fep", dir, file); remove(path); }
            return EXIT_FAIL;
        }
        b0 += nb;
    }
    return 0;
}

int fe_cmd_many_edit(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *req_path = NULL, *method_s = NULL, *layers_s = NULL, *stats_pat = NULL, *out_path = NULL;
    const char *patch_dir = NULL;
    int batch = 0, seq = 0, json = 0, quiet = 0, rc, i, n;
    double lambda = -1, ridge = 0, thr = 0, l2 = 0;
    uint64_t seed = 0;
    run r;
    reqset rs;
    fe_edit **redits = NULL;
    fe_error e;
    cli_paths ps;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary (default: the model's)", 0},
        {"--requests", NULL, ARG_STR, &req_path, 0, 0, "FILE", "JSON: CounterFact cases or a list of {prompt, subject, target} (required)", 0},
        {"--method", NULL, ARG_STR, &method_s, 0, 0, "M", "rome, r-rome, memit (default) or alphaedit", 0},
        {"--layers", NULL, ARG_STR, &layers_s, 0, 0, "A-B", "edited layers (default: ROME's layer - 2 .. ROME's layer; rome: ROME's)", 0},
        {"--stats", NULL, ARG_STR, &stats_pat, 0, 0, "PATTERN", "statistics per layer, {} = the layer (stats_l{}.bin) (required)", 0},
        {"--sequential", NULL, ARG_FLAG, &seq, 0, 0, "", "edit in batches applied one after another (else one batch)", 0},
        {"--batch", NULL, ARG_INT, &batch, 1, INT_MAX, "N", "requests per batch with --sequential (default 1)", 0},
        {"--lambda", NULL, ARG_FLOAT, &lambda, 0, 0, "X", "MEMIT's mom2_update_weight (default 20000)", 0},
        {"--ridge", NULL, ARG_FLOAT, &ridge, 0, 0, "X", "added to the covariance's diagonal (default 0)", 0},
        {"--threshold", NULL, ARG_FLOAT, &thr, 0, 0, "X", "AlphaEdit: eigenvalues of C below X span the null space (default 2e-2)", 0},
        {"--l2", NULL, ARG_FLOAT, &l2, 0, 0, "X", "AlphaEdit's L2 (default 10)", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "seed of the generated context templates (default 0)", 0},
        {"--out", NULL, ARG_STR, &out_path, 0, 0, "FILE", "write the edited model", 0},
        {"--patches", NULL, ARG_STR, &patch_dir, 0, 0, "DIR", "write the edits as patch files DIR/000000.fep ... (apply in order with edit --apply)", 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0, "", "print the health per batch as JSON", 0},
        {"--quiet", "-q", ARG_FLAG, &quiet, 0, 0, "", "no progress on stderr", 0},
    };
    cli_spec s;
    memset(&s, 0, sizeof s);
    memset(&r, 0, sizeof r);
    memset(&rs, 0, sizeof rs);
    s.cmd = "edit"; s.usage = "--requests FILE --stats PATTERN [--method M] [--layers A-B] [--sequential [--batch N]] [options]";
    s.about = "Many edits: MEMIT or AlphaEdit in one batch, or batches applied one after another (--sequential);\n"
              "ROME / r-ROME one request at a time. Prints the model's health after each batch.";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    r.cmd = "edit"; r.quiet = quiet; r.json = json; r.sequential = seq;
    if (!req_path) return cli_usage_error(&s, "no --requests given");
    if ((rc = common_opts(&r, method_s, 0, batch))) return rc;
    if (cli_seen(&s, "--batch") && !seq) return cli_usage_error(&s, "--batch goes with --sequential");
    if (ridge < 0 || (cli_seen(&s, "--lambda") && lambda < 0)) return cli_usage_error(&s, "--ridge and --lambda must be >= 0");
    cli_paths_init(&ps, "edit");
    cli_in(&ps, "--model", model_path);
    cli_in_vocab(&ps, vocab_dir, model_path);
    cli_in(&ps, "--requests", req_path);
    cli_out(&ps, "--out", out_path);
    cli_out_dir(&ps, "--patches", patch_dir, NULL, 0);
    if ((rc = cli_paths_check(&ps)) != 0) goto done;
    if (patch_dir && (rc = new_empty_dir("edit", patch_dir)) != 0) goto done;
    if ((rc = load_requests("edit", req_path, &rs)) != 0) goto done;
    n = rs.n;
    if (patch_dir && (r.method == M_ROME || r.method == M_RROME) && !(r.cs_before = (uint64_t *)calloc((size_t)n, sizeof *r.cs_before))) { rc = fail("edit", "out of memory"); goto done; }
    if ((r.method == M_ROME || r.method == M_RROME) && n > 1 && !seq) {
        fprintf(stderr, "factedit edit: %s edits one request at a time: give --sequential for %d requests\n", method_names[r.method], n);
        rc = EXIT_USAGE; goto done;
    }
    if ((rc = load_model("edit", model_path, 0, &r.m)) != 0) goto done;
    if ((rc = load_vocab("edit", vocab_dir, model_path, &r.v)) != 0) goto done;
    if ((rc = setup(&r, stats_pat, layers_s, lambda, ridge, thr, l2, seed)) != 0) goto done;
    if ((rc = make_probes(&r, rs.t, n)) != 0) goto done;
    sb_printf(&r.log, "{\"method\": \"%s\", \"layers\": [%d, %d], \"requests\": %d, \"health\": [", method_names[r.method], r.hp.layer_first, r.hp.layer_last, n);
    if ((rc = edit_all(&r, rs.t, n, &redits)) != 0) goto done;
    sb_printf(&r.log, "], \"patches\": ");
    if (patch_dir) sb_json_cstr(&r.log, patch_dir); else sb_puts(&r.log, "null");
    sb_printf(&r.log, ", \"health_before\": {\"nll\": ");
    sb_num(&r.log, r.h0.nll); sb_printf(&r.log, ", \"ge\": "); sb_num(&r.log, r.h0.ge); sb_printf(&r.log, "}}\n");
    if (r.log.failed) { rc = fail("edit", "out of memory"); goto done; }
    if (patch_dir && (rc = write_patches(&r, patch_dir, rs.t, n, redits)) != 0) goto done;
    if (out_path && fe_model_save_file(r.m, out_path, 3, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
    if (json) fwrite(r.log.p, 1, r.log.len, stdout);
    else {
        printf("%d requests edited with %s, layers %d-%d\n", n, method_names[r.method], r.hp.layer_first, r.hp.layer_last);
        if (patch_dir) printf("wrote the edits as patch files in %s (apply them in order with edit --apply)\n", patch_dir);
        if (out_path) printf("wrote %s\n", out_path);
    }
    rc = finish_stdout("edit");
done:
    for (i = 0; redits && i < rs.n; i++) fe_edit_free(redits[i]);
    free(redits);
    teardown(&r);
    fe_vocab_free(r.v);
    fe_model_free(r.m);
    free_requests(&rs);
    return rc;
}

int fe_cmd_many_eval(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *dataset = NULL, *method_s = NULL, *layers_s = NULL, *stats_pat = NULL, *out_path = NULL;
    int batch = 0, seqn = 0, json = 0, quiet = 0, rc, i, n = 0, k, distinct = 0, skipped = 0;
    uint64_t cs0 = 0;   /* the unedited model's checksum */
    int *idx = NULL;            /* the edited cases' indices in the dataset */
    fe_text_request *tt = NULL;   /* their requests */
    double lambda = -1, ridge = 0, thr = 0, l2 = 0, clamp = 0;
    uint64_t seed = 0;
    run r;
    reqset rs;
    fe_edit **redits = NULL;
    fe_cf_scores *pre = NULL, *post = NULL;
    fe_cf_summary sp, sq;
    fe_health h1;
    sbuf out;
    fe_error e;
    cli_paths ps;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary (default: the model's)", 0},
        {"--dataset", NULL, ARG_STR, &dataset, 0, 0, "FILE", "CounterFact cases (required)", 0},
        {"--method", NULL, ARG_STR, &method_s, 0, 0, "M", "rome, r-rome, memit (default) or alphaedit", 0},
        {"--layers", NULL, ARG_STR, &layers_s, 0, 0, "A-B", "edited layers (default: ROME's layer - 2 .. ROME's layer; rome: ROME's)", 0},
        {"--stats", NULL, ARG_STR, &stats_pat, 0, 0, "PATTERN", "statistics per layer, {} = the layer (required)", 0},
        {"--sequential", NULL, ARG_INT, &seqn, 1, INT_MAX, "N", "edit the first N cases in order (required)", 0},
        {"--batch", NULL, ARG_INT, &batch, 1, INT_MAX, "B", "cases per batch (default 1; MEMIT in one batch: --batch N)", 0},
        {"--lambda", NULL, ARG_FLOAT, &lambda, 0, 0, "X", "MEMIT's mom2_update_weight (default 20000)", 0},
        {"--ridge", NULL, ARG_FLOAT, &ridge, 0, 0, "X", "added to the covariance's diagonal (default 0)", 0},
        {"--threshold", NULL, ARG_FLOAT, &thr, 0, 0, "X", "AlphaEdit's null-space threshold (default 2e-2)", 0},
        {"--l2", NULL, ARG_FLOAT, &l2, 0, 0, "X", "AlphaEdit's L2 (default 10)", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "seed of the generated context templates (default 0)", 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0, "", "print the report as JSON", 0},
        {"--out", NULL, ARG_STR, &out_path, 0, 0, "FILE", "write the JSON report to FILE (atomically)", 0},
        {"--quiet", "-q", ARG_FLAG, &quiet, 0, 0, "", "no progress on stderr", 0},
        {"--clamp", NULL, ARG_FLOAT, &clamp, 0, 0, "X", "z objective: |delta| <= X |z_init| (default MEMIT's 0.75; <= 0: none)", 0},
        {"--distinct-subjects", NULL, ARG_FLAG, &distinct, 0, 0, "", "skip a case whose subject an earlier case has (one batch cannot ask one key for two values); N counts the cases kept", 0},
    };
    cli_spec s;
    memset(&s, 0, sizeof s);
    memset(&r, 0, sizeof r);
    memset(&rs, 0, sizeof rs);
    memset(&out, 0, sizeof out);
    s.cmd = "eval"; s.usage = "--dataset FILE --stats PATTERN --sequential N [--batch B] [--method M] [--layers A-B] [options]";
    s.about = "Sequential editing evaluation: the first N CounterFact cases edited in order (batches of B),\n"
              "then every case scored on the model after all edits (did the early edits survive?), beside\n"
              "the scores before any edit; GE and health before and after.";
    s.opts = opts; s.nopts = (int)(sizeof opts / sizeof opts[0]);
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    r.cmd = "eval"; r.quiet = quiet; r.json = json; r.sequential = 1;
    if (!dataset) return cli_usage_error(&s, "no --dataset given");
    if (!seqn) return cli_usage_error(&s, "--method needs --sequential N (how many cases to edit, in order)");
    if ((rc = common_opts(&r, method_s, seqn, batch))) return rc;
    if (ridge < 0 || (cli_seen(&s, "--lambda") && lambda < 0)) return cli_usage_error(&s, "--ridge and --lambda must be >= 0");
    cli_paths_init(&ps, "eval");
    cli_in(&ps, "--model", model_path);
    cli_in_vocab(&ps, vocab_dir, model_path);
    cli_in(&ps, "--dataset", dataset);
    cli_out(&ps, "--out", out_path);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    if ((rc = load_requests("eval", dataset, &rs)) != 0) goto done;
    if (!rs.cf) { fprintf(stderr, "factedit eval: %s is not in CounterFact's format (eval needs paraphrases and neighbours)\n", dataset); rc = EXIT_FAIL; goto done; }
    idx = (int *)malloc(sizeof(int) * (size_t)rs.n);
    tt = (fe_text_request *)malloc(sizeof *tt * (size_t)rs.n);
    if (!idx || !tt) { rc = fail("eval", "out of memory"); goto done; }
    for (i = 0, n = 0; i < rs.n && n < seqn; i++) {
        int j, dup = 0;
        for (j = 0; distinct && j < n && !dup; j++) dup = !strcmp(rs.t[idx[j]].subject, rs.t[i].subject);
        if (dup) { skipped++; continue; }
        idx[n] = i; tt[n++] = rs.t[i];
    }
    if (distinct && !quiet) fprintf(stderr, "factedit eval: --distinct-subjects: %d case%s skipped (a subject already edited), %d kept\n", skipped, skipped == 1 ? "" : "s", n);
    if ((rc = load_model("eval", model_path, 0, &r.m)) != 0) goto done;
    if ((rc = load_vocab("eval", vocab_dir, model_path, &r.v)) != 0) goto done;
    cs0 = fe_model_checksum(r.m);
    if ((rc = setup(&r, stats_pat, layers_s, lambda, ridge, thr, l2, seed)) != 0) goto done;
    if (cli_seen(&s, "--clamp")) r.hp.v.clamp_norm_factor = (float)clamp;
    if (cli_seen(&s, "--clamp") && (rc = remake_state(&r)) != 0) goto done;   /* the state keeps a copy of the hyperparameters */
    if ((rc = make_probes(&r, tt, n)) != 0) goto done;
    pre = (fe_cf_scores *)calloc((size_t)n, sizeof *pre);
    post = (fe_cf_scores *)calloc((size_t)n, sizeof *post);
    if (!pre || !post) { rc = fail("eval", "out of memory"); goto done; }
    for (i = 0; i < n; i++)
        if (fe_cf_score(r.m, r.v, fe_cf_at(rs.cf, (size_t)idx[i]), &pre[i], &e) != fe_ok) { rc = fail("eval", e.msg); goto done; }
    sb_printf(&r.log, "[");
    if ((rc = edit_all(&r, tt, n, &redits)) != 0) goto done;
    sb_printf(&r.log, "]");
    for (i = 0; i < n; i++)
        if (fe_cf_score(r.m, r.v, fe_cf_at(rs.cf, (size_t)idx[i]), &post[i], &e) != fe_ok) { rc = fail("eval", e.msg); goto done; }
    if (fe_many_health(r.s, r.m, &r.pr, &h1, &e) != fe_ok) { rc = fail("eval", e.msg); goto done; }
    fe_cf_summarize(pre, (size_t)n, &sp);
    fe_cf_summarize(post, (size_t)n, &sq);
    sb_printf(&out, "{\"config\": {\"method\": \"%s\", \"layers\": [%d, %d], \"cases\": %d, \"batch\": %d, \"lambda\": ", method_names[r.method],
              r.hp.layer_first, r.hp.layer_last, n, r.method <= M_RROME ? 1 : r.batch);
    sb_num(&out, r.hp.lambda); sb_printf(&out, ", \"ridge\": "); sb_num(&out, ridge);
    sb_printf(&out, ", \"threshold\": "); sb_num(&out, r.method == M_ALPHA ? r.hp.null_threshold : NAN);
    sb_printf(&out, ", \"l2\": "); sb_num(&out, r.method == M_ALPHA ? r.hp.l2 : NAN);
    sb_puts(&out, ", \"dataset\": ");
    sb_json_cstr(&out, dataset);
    sb_printf(&out, ", \"distinct_subjects\": %s, \"skipped\": %d, \"null_dims\": ", distinct ? "true" : "false", skipped);
    if (r.method != M_ALPHA) sb_puts(&out, "null");
    else for (k = r.hp.layer_first; k <= r.hp.layer_last; k++) sb_printf(&out, "%s%d%s", k == r.hp.layer_first ? "[" : ", ", r.null_dim[k - r.hp.layer_first], k == r.hp.layer_last ? "]" : "");
    sb_printf(&out, ", \"model_checksum\": \"%016llx\"}, \"summary_before\": {", (unsigned long long)cs0);
    for (k = 0; k < fe_cf_metric_count; k++) { sb_printf(&out, "%s\"%s\": ", k ? ", " : "", fe_cf_metric_name(k)); sb_num(&out, sp.mean[k]); }
    sb_printf(&out, "}, \"summary_after\": {");
    for (k = 0; k < fe_cf_metric_count; k++) { sb_printf(&out, "%s\"%s\": ", k ? ", " : "", fe_cf_metric_name(k)); sb_num(&out, sq.mean[k]); }
    sb_printf(&out, "}, \"ci95_after\": {");
    for (k = 0; k < fe_cf_metric_count; k++) { sb_printf(&out, "%s\"%s\": ", k ? ", " : "", fe_cf_metric_name(k)); sb_num(&out, sq.ci95[k]); }
    sb_printf(&out, "}, \"ge_before\": "); sb_num(&out, r.h0.ge);
    sb_printf(&out, ", \"ge_after\": "); sb_num(&out, h1.ge);
    sb_printf(&out, ", \"nll_before\": "); sb_num(&out, r.h0.nll);
    sb_printf(&out, ", \"nll_after\": "); sb_num(&out, h1.nll);
    sb_printf(&out, ", \"health\": %s, \"cases\": [", r.log.p ? r.log.p : "[]");
    for (i = 0; i < n; i++) {
        sb_printf(&out, "%s{\"case_id\": %d, \"es\": ", i ? ", " : "", fe_cf_at(rs.cf, (size_t)idx[i])->case_id);
        sb_num(&out, post[i].es); sb_printf(&out, ", \"ps\": "); sb_num(&out, post[i].ps);
        sb_printf(&out, ", \"ns\": "); sb_num(&out, post[i].ns);
        sb_printf(&out, ", \"es_before\": "); sb_num(&out, pre[i].es); sb_printf(&out, ", \"ps_before\": "); sb_num(&out, pre[i].ps);
        sb_printf(&out, ", \"ns_before\": "); sb_num(&out, pre[i].ns); sb_printf(&out, "}");
    }
    sb_printf(&out, "]}\n");
    if (out.failed || r.log.failed) { rc = fail("eval", "out of memory"); goto done; }
    if (out_path && fe_write_file_atomic(out_path, out.p, out.len, &e) != fe_ok) { rc = fail("eval", e.msg); goto done; }
    if (json) fwrite(out.p, 1, out.len, stdout);
    else {
        printf("%d cases of %s edited with %s (layers %d-%d, batches of %d), scored after all edits\n", n, dataset, method_names[r.method],
               r.hp.layer_first, r.hp.layer_last, r.method <= M_RROME ? 1 : r.batch);
        printf("%-6s %10s %10s %10s\n", "metric", "before", "after", "95% CI");
        for (k = 0; k < fe_cf_metric_count; k++) {
            int pct = k != fe_cf_metric_em && k != fe_cf_metric_pm && k != fe_cf_metric_nm;
            double f = pct ? 100.0 : 1.0;
            printf("%-6s %10.2f %10.2f %10.2f\n", fe_cf_metric_name(k), f * sp.mean[k], f * sq.mean[k], f * sq.ci95[k]);
        }
        printf("GE     %10.3f %10.3f   (%+.1f%%)\n", r.h0.ge, h1.ge, 100.0 * (h1.ge - r.h0.ge) / r.h0.ge);
        printf("NLL    %10.3f %10.3f   (probe texts, nats/token)\n", r.h0.nll, h1.nll);
        printf("health: |dW|/|W0| %.4f (layer %d), sigma/sigma0 %.3f%s\n", h1.rel_fro_max, h1.worst_layer, h1.sigma_ratio_max,
               fe_health_warn(&h1, &r.h0) ? "  WARNING: collapse signs" : "");
        if (out_path) printf("wrote %s\n", out_path);
    }
    rc = finish_stdout("eval");
done:
    for (i = 0; redits && i < n; i++) fe_edit_free(redits[i]);
    free(redits);
    free(pre); free(post); free(out.p); free(idx); free(tt);
    teardown(&r);
    fe_vocab_free(r.v);
    fe_model_free(r.m);
    free_requests(&rs);
    return rc;
}
