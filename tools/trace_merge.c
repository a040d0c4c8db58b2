/* factedit trace --merge (tools/cmd_trace.c parses the options): the shard files of a dataset
   run, read back and combined into exactly what one unsharded run writes. */
#define _POSIX_C_SOURCE 200809L
#include "factedit.h"
#include "cli.h"
#include "svg.h"
#include "cmd_trace.h"
#include "trace_shared.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ================================================================== merge =============== */

typedef struct mrec { long index; const char *line; size_t len; int file; } mrec;
typedef struct mfile { char *path; unsigned char *bytes; size_t len; int si, sn; } mfile;

static int mrec_cmp(const void *a, const void *b) {
    long x = ((const mrec *)a)->index, y = ((const mrec *)b)->index;
    return x < y ? -1 : x > y;
}
static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "facts.jsonl" or "facts-I-of-N.jsonl" */
static int is_facts_name(const char *s) {
    int i, n;
    char tail[16];
    if (!strcmp(s, "facts.jsonl")) return 1;
    return sscanf(s, "facts-%d-of-%d.%15s", &i, &n, tail) == 3 && !strcmp(tail, "jsonl");
}

static int add_path(char ***list, int *n, int *cap, const char *p) {
    char *s;
    if (*n == *cap) {
        char **q;
        *cap = *cap ? 2 * *cap : 16;
        if (!(q = (char **)realloc(*list, sizeof(char *) * (size_t)*cap))) return 1;
        *list = q;
    }
    if (!(s = (char *)malloc(strlen(p) + 1))) return 1;
    strcpy(s, p);
    (*list)[(*n)++] = s;
    return 0;
}


/* Reads a facts file's header into mt (and shard, records, complete). */
static int parse_header(const fe_json_value *h, trace_meta *mt, int *si, int *sn, long *records, int *complete, const char **why) {
    const fe_json_value *f, *sh;
    const char *s;
    double x;
    size_t i;
    memset(mt, 0, sizeof *mt);
    *why = "not a factedit trace facts file";
    if (h->type != fe_json_object || !(s = cli_json_str(h, "format"))) return 1;
    if (!strcmp(s, "factedit-trace-facts 1")) mt->format = 1;   /* dataset_hash: the legacy id (cmd_trace.h) */
    else if (!strcmp(s, "factedit-trace-facts 2")) mt->format = 2;
    else return 1;
    *why = "malformed header";
    if (!(s = cli_json_str(h, "model_checksum")) || strlen(s) >= sizeof mt->model) return 1;
    strcpy(mt->model, s);
    if (cli_json_num(h, "layers", &x) || x < 1 || x > FACTEDIT_MAX_LAYERS) return 1;
    mt->layers = (int)x;
    if (cli_json_num(h, "samples", &x) || x < 1 || x > INT_MAX) return 1;
    mt->samples = (int)x;
    if (cli_json_num(h, "window", &x) || x < 1 || x > INT_MAX) return 1;
    mt->window = (int)x;
    if (!(f = fe_json_get(h, "kinds")) || f->type != fe_json_array) return 1;
    for (i = 0; i < f->count; i++) {
        unsigned k;
        const fe_json_value *e = fe_json_at(f, i);
        if (e->type != fe_json_string || trace_parse_kinds(e->str, &k)) return 1;
        mt->kinds |= k;
    }
    if (!mt->kinds) return 1;
    if (cli_json_num(h, "noise", &x)) return 1;
    mt->noise = (double)(float)x;
    if (!(s = cli_json_str(h, "noise_spec")) || strlen(s) >= sizeof mt->noise_spec) return 1;
    strcpy(mt->noise_spec, s);
    f = fe_json_get(h, "embedding_std");
    if (!f) return 1;
    mt->emb_std = f->type == fe_json_number ? f->number : NAN;
    if (!(s = cli_json_str(h, "seed")) || strlen(s) >= sizeof mt->seed) return 1;
    strcpy(mt->seed, s);
    if (!(s = cli_json_str(h, "dataset_hash")) || strlen(s) >= sizeof mt->dataset) return 1;
    strcpy(mt->dataset, s);
    if (cli_json_num(h, "dataset_facts", &x) || x < 0) return 1;
    mt->dataset_facts = (long)x;
    f = fe_json_get(h, "limit");
    if (!f) return 1;
    mt->limit = f->type == fe_json_number ? (long)f->number : -1;
    if (cli_json_num(h, "facts", &x) || x < 0) return 1;
    mt->considered = (long)x;
    if (!(sh = fe_json_get(h, "shard")) || sh->type != fe_json_array || sh->count != 2 || fe_json_at(sh, 0)->type != fe_json_number ||
        fe_json_at(sh, 1)->type != fe_json_number)
        return 1;
    *si = (int)fe_json_at(sh, 0)->number;
    *sn = (int)fe_json_at(sh, 1)->number;
    if (*sn < 1 || *si < 0 || *si >= *sn) return 1;
    if (cli_json_num(h, "records", &x) || x < 0) return 1;
    *records = (long)x;
    f = fe_json_get(h, "complete");
    if (!f || f->type != fe_json_bool) return 1;
    *complete = f->boolean;
    return 0;
}

/* The first field where two headers disagree, or NULL. */
static const char *meta_diff(const trace_meta *a, const trace_meta *b) {
    if (a->format != b->format)   /* their dataset_hash values come from different functions: not comparable */
        return "format (facts format 1, from an older factedit, hashes its dataset differently: re-run those shards, or merge them only with each other)";
    if (strcmp(a->model, b->model)) return "model_checksum (another model)";
    if (a->layers != b->layers) return "layers";
    if (a->samples != b->samples) return "samples";
    if (a->window != b->window) return "window";
    if (a->kinds != b->kinds) return "kinds";
    if (a->noise != b->noise) return "noise";
    if (strcmp(a->noise_spec, b->noise_spec)) return "noise_spec";
    if (!(a->emb_std == b->emb_std || (isnan(a->emb_std) && isnan(b->emb_std)))) return "embedding_std";
    if (strcmp(a->seed, b->seed)) return "seed";
    if (strcmp(a->dataset, b->dataset)) return "dataset_hash (another dataset)";
    if (a->dataset_facts != b->dataset_facts) return "dataset_facts";
    if (a->limit != b->limit) return "limit";
    if (a->considered != b->considered) return "facts";
    return NULL;
}

/* Reads `n` numbers of a JSON array into floats. */
static int read_floats(const fe_json_value *a, float *out, int n) {
    int i;
    if (!a || a->type != fe_json_array || a->count != (size_t)n) return 1;
    for (i = 0; i < n; i++) {
        const fe_json_value *x = fe_json_at(a, (size_t)i);
        if (x->type != fe_json_number) return 1;
        out[i] = (float)x->number;
    }
    return 0;
}

/* A kept record back into a trace_fact (arrays into *store, malloc'd). */
static int parse_kept(const fe_json_value *r, const trace_meta *mt, trace_fact *tf, float **store) {
    const fe_json_value *tok = fe_json_get(r, "tokens"), *span = fe_json_get(r, "subject_range"), *sc = fe_json_get(r, "scores"), *sv = fe_json_get(r, "sever");
    int T, L = mt->layers, k, t;
    double lo, hi;
    float *p;
    *store = NULL;
    if (!tok || tok->type != fe_json_array || tok->count < 1 || tok->count > FACTEDIT_MAX_CONTEXT) return 1;
    T = (int)tok->count;
    if (!span || span->type != fe_json_array || span->count != 2 || fe_json_at(span, 0)->type != fe_json_number || fe_json_at(span, 1)->type != fe_json_number) return 1;
    lo = fe_json_at(span, 0)->number; hi = fe_json_at(span, 1)->number;
    if (!(lo >= 0 && lo < hi && hi <= T)) return 1;
    if (cli_json_num(r, "low", &tf->low) || cli_json_num(r, "high", &tf->high) || !sc || sc->type != fe_json_object || !sv || sv->type != fe_json_object) return 1;
    if (!(p = (float *)malloc(sizeof(float) * (3 * (size_t)T * L + 3 * (size_t)L)))) return 2;
    *store = p;
    tf->T = T; tf->L = L; tf->sb = (int)lo; tf->se = (int)hi;
    for (k = 0; k < 3; k++) {
        const fe_json_value *g = fe_json_get(sc, trace_kind_names[k]);
        tf->scores[k] = NULL;
        if (!(mt->kinds & (1u << k))) { if (g) return 1; continue; }
        if (!g || g->type != fe_json_array || g->count != (size_t)T) return 1;
        for (t = 0; t < T; t++) if (read_floats(fe_json_at(g, (size_t)t), p + ((size_t)k * T + t) * L, L)) return 1;
        tf->scores[k] = p + (size_t)k * T * L;
    }
    for (k = 0; k < 3; k++) {
        float *q = p + 3 * (size_t)T * L + (size_t)k * L;
        if (read_floats(fe_json_get(sv, trace_sever_names[k]), q, L)) return 1;
        tf->sever[k] = q;
    }
    return 0;
}

/* The facts files to merge, into *paths (each malloc'd): each input is a facts file, or a
   directory whose facts*.jsonl files are taken (sorted by name). 0, or the exit status. */
static int collect_paths(const char *const *inputs, int n_in, char ***paths, int *npaths) {
    int i, cap = 0;
    for (i = 0; i < n_in; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0) {
            fprintf(stderr, "factedit trace: --merge: cannot open '%s': %s\n", inputs[i], strerror(errno));
            return EXIT_FAIL;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *dir = opendir(inputs[i]);
            struct dirent *de;
            int before = *npaths, has_whole = 0;
            if (!dir) { fprintf(stderr, "factedit trace: --merge: cannot read '%s': %s\n", inputs[i], strerror(errno)); return EXIT_FAIL; }
            while ((de = readdir(dir)) != NULL) {
                char p[4200];
                if (!is_facts_name(de->d_name)) continue;
                has_whole |= !strcmp(de->d_name, "facts.jsonl");
                if (!dir_file(p, sizeof p, inputs[i], de->d_name) || add_path(paths, npaths, &cap, p)) { closedir(dir); return fail("trace", "out of memory"); }
            }
            closedir(dir);
            if (*npaths == before) { fprintf(stderr, "factedit trace: --merge: no facts*.jsonl file in '%s'\n", inputs[i]); return EXIT_FAIL; }
            if (has_whole && *npaths - before > 1) {
                fprintf(stderr, "factedit trace: --merge: '%s' holds both facts.jsonl (a whole run or a merge) and shard files: name the files to merge\n", inputs[i]);
                return EXIT_FAIL;
            }
            qsort(*paths + before, (size_t)(*npaths - before), sizeof(char *), str_cmp);
        } else if (add_path(paths, npaths, &cap, inputs[i])) return fail("trace", "out of memory");
    }
    return 0;
}

/* Reads facts file i (f->path) and checks it against the first one (first_path, whose header is
   *first once file 0 is read): its header, that it is complete, one shard of the run, and its
   records, appended to *recs (pointing into f->bytes). 0, or the exit status. */
static int read_facts_file(mfile *f, int i, const char *first_path, trace_meta *first, cli_shards *shards, mrec **recs, size_t *nrec,
                           size_t *rcap) {
    int rc;
    trace_meta mt;
    fe_error e;
    const char *p, *end, *why;
    fe_json *h = NULL;
    long records, k;
    int complete;
    if (fe_read_file(f->path, &f->bytes, &f->len, NULL, &e) != fe_ok) { fprintf(stderr, "factedit trace: --merge: %s\n", e.msg); return EXIT_FAIL; }
    p = (const char *)f->bytes;
    end = p + f->len;
    {
        const char *nl = (const char *)memchr(p, '\n', f->len);
        size_t hl = nl ? (size_t)(nl - p) : f->len;
        if (fe_json_parse(&h, p, hl, NULL, &e) != fe_ok) { fprintf(stderr, "factedit trace: --merge: '%s' line 1: %s\n", f->path, e.msg); return EXIT_FAIL; }
        if (parse_header(fe_json_root(h), &mt, &f->si, &f->sn, &records, &complete, &why)) {
            fe_json_free(h);
            fprintf(stderr, "factedit trace: --merge: '%s': %s\n", f->path, why);
            return EXIT_FAIL;
        }
        fe_json_free(h);
        p = nl ? nl + 1 : end;
    }
    if (!complete) {
        fprintf(stderr, "factedit trace: --merge: '%s' is incomplete (shard %d/%d stopped after %ld facts): run that shard again\n", f->path, f->si, f->sn, records);
        return EXIT_FAIL;
    }
    if (i == 0) *first = mt;
    else {
        const char *d = meta_diff(first, &mt);
        if (d) {
            fprintf(stderr, "factedit trace: --merge: '%s' and '%s' are not parts of one run: they differ in %s\n", first_path, f->path, d);
            return EXIT_FAIL;
        }
    }
    if ((rc = cli_shards_add(shards, f->path, f->si, f->sn)) != 0) return rc;
    if (records != trace_shard_count(first->considered, f->si, f->sn)) {
        fprintf(stderr, "factedit trace: --merge: '%s' holds %ld facts; shard %d/%d of %ld facts has %ld\n", f->path, records, f->si, f->sn, first->considered,
                trace_shard_count(first->considered, f->si, f->sn));
        return EXIT_FAIL;
    }
    for (k = 0; p < end; k++) {
        const char *nl = (const char *)memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        fe_json *doc;
        const fe_json_value *x;
        if (*nrec == *rcap) {
            mrec *q;
            *rcap = *rcap ? 2 * *rcap : 256;
            if (!(q = (mrec *)realloc(*recs, sizeof(mrec) * *rcap))) { return fail("trace", "out of memory"); }
            *recs = q;
        }
        if (fe_json_parse(&doc, p, nl ? ll - 1 : ll, NULL, &e) != fe_ok) {
            fprintf(stderr, "factedit trace: --merge: '%s' line %ld: %s\n", f->path, k + 2, e.msg);
            return EXIT_FAIL;
        }
        x = fe_json_get(fe_json_root(doc), "index");
        if (!x || x->type != fe_json_number || x->number < 0 || x->number >= (double)first->considered || x->number != floor(x->number) ||
            !cli_shard_owns((long)x->number, f->si, f->sn)) {
            fe_json_free(doc);
            fprintf(stderr, "factedit trace: --merge: '%s' line %ld: no fact index of shard %d/%d\n", f->path, k + 2, f->si, f->sn);
            return EXIT_FAIL;
        }
        (*recs)[*nrec].index = (long)x->number; (*recs)[*nrec].line = p; (*recs)[*nrec].len = ll; (*recs)[*nrec].file = i;
        (*nrec)++;
        fe_json_free(doc);
        p += ll;
    }
    if (k != records) {
        fprintf(stderr, "factedit trace: --merge: '%s' holds %ld records, its header says %ld\n", f->path, k, records);
        return EXIT_FAIL;
    }
    return 0;
}

int trace_run_merge(const char *const *inputs, int n_in, const char *out) {
    char **paths = NULL;
    int npaths = 0, i, rc = 0, agg_ok = 0;
    mfile *files = NULL;
    mrec *recs = NULL;
    size_t nrec = 0, rcap = 0, r;
    trace_meta first;
    trace_agg agg;
    trace_counts c;
    sbuf lines;
    cli_shards shards;
    cli_shards_init(&shards, "trace: --merge");
    memset(&c, 0, sizeof c);
    memset(&first, 0, sizeof first);
    sb_init(&lines);
    if ((rc = collect_paths(inputs, n_in, &paths, &npaths)) != 0) goto done;
    {   /* the files read and written, before reading them */
        static const char *const names[5] = {"facts.jsonl", "summary.json", "aie_lines.svg", "aie_heatmap.svg", "sever.svg"};
        cli_paths ps;
        cli_paths_init(&ps, "trace");
        for (i = 0; i < npaths; i++) cli_in(&ps, "--merge", paths[i]);
        cli_out_dir(&ps, "--out", out, names, 5);
        if ((rc = cli_paths_check(&ps)) != 0) goto done;
    }
    if (!(files = (mfile *)calloc((size_t)npaths, sizeof(mfile)))) { rc = fail("trace", "out of memory"); goto done; }
    for (i = 0; i < npaths; i++) {
        files[i].path = paths[i];
        if ((rc = read_facts_file(&files[i], i, files[0].path, &first, &shards, &recs, &nrec, &rcap)) != 0) goto done;
    }
    if ((rc = cli_shards_complete(&shards)) != 0) goto done;   /* every shard exactly once */
    qsort(recs, nrec, sizeof(mrec), mrec_cmp);
    for (r = 1; r < nrec; r++)
        if (recs[r].index == recs[r - 1].index) {
            fprintf(stderr, "factedit trace: --merge: fact %ld appears twice\n", recs[r].index);
            rc = EXIT_FAIL;
            goto done;
        }
    if ((long)nrec != first.considered) {
        fprintf(stderr, "factedit trace: --merge: %zu facts, expected %ld\n", nrec, first.considered);
        rc = EXIT_FAIL;
        goto done;
    }
    if (trace_agg_init(&agg, first.layers) != 0) { rc = fail("trace", "out of memory"); goto done; }
    agg_ok = 1;
    for (r = 0; r < nrec; r++) {
        fe_json *doc;
        fe_error e;
        const char *st;
        sb_putn(&lines, recs[r].line, recs[r].len);
        if (recs[r].len && recs[r].line[recs[r].len - 1] != '\n') sb_puts(&lines, "\n");
        if (fe_json_parse(&doc, recs[r].line, recs[r].len, NULL, &e) != fe_ok) { rc = fail("trace", e.msg); goto done; }
        st = cli_json_str(fe_json_root(doc), "status");
        c.processed++;
        if (st && !strcmp(st, "kept")) {
            trace_fact tf;
            float *store = NULL;
            int pr;
            memset(&tf, 0, sizeof tf);
            if ((pr = parse_kept(fe_json_root(doc), &first, &tf, &store)) != 0) {
                free(store);
                fe_json_free(doc);
                if (pr == 2) { rc = fail("trace", "out of memory"); goto done; }
                fprintf(stderr, "factedit trace: --merge: '%s': the record of fact %ld is malformed\n", files[recs[r].file].path, recs[r].index);
                rc = EXIT_FAIL;
                goto done;
            }
            c.kept++;
            trace_agg_add(&agg, &tf);
            free(store);
        } else if (st && !strcmp(st, "wrong_prediction")) c.wrong++;
        else if (st && !strcmp(st, "error")) c.errors++;
        else {
            fe_json_free(doc);
            fprintf(stderr, "factedit trace: --merge: '%s': fact %ld has no known status\n", files[recs[r].file].path, recs[r].index);
            rc = EXIT_FAIL;
            goto done;
        }
        fe_json_free(doc);
    }
    if (c.kept == 0) {
        fprintf(stderr, "factedit trace: --merge: the shards traced no fact (%ld facts: %ld predicted another first token, %ld could not be traced): nothing to average\n",
                c.processed, c.wrong, c.errors);
        rc = EXIT_FAIL;
        goto done;
    }
    if ((rc = trace_prepare_out_dir(out)) != 0) goto done;   /* after every check: a failed merge writes nothing */
    if ((rc = trace_write_facts(out, &first, 0, 1, &lines, (long)nrec, 1)) != 0) goto done;
    printf("merged %d shard%s: kept %ld of %ld facts (%ld predicted another first token, %ld could not be traced)\n", shards.n, shards.n == 1 ? "" : "s", c.kept,
           c.processed, c.wrong, c.errors);
    if ((rc = trace_write_results(out, &first, 0, 1, &c, &agg)) != 0) goto done;
    trace_print_peaks(&first, &agg);
    rc = finish_stdout("trace");
done:
    if (agg_ok) trace_agg_free(&agg);
    sb_free(&lines);
    cli_shards_free(&shards);
    free(recs);
    for (i = 0; files && i < npaths; i++) fe_free(files[i].bytes, NULL);
    free(files);
    for (i = 0; i < npaths; i++) free(paths[i]);
    free(paths);
    return rc;
}
